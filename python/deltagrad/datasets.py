"""Data sets: Bishop's synthetic sinusoid, and the medical data sets shipped with scikit-learn.

The scikit-learn loaders need the ``examples`` extra (``pip install "deltagrad[examples]"``);
scikit-learn is imported only when one of them is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._random import get_rng

__all__ = ["make_sinusoidal", "load_breast_cancer", "load_diabetes", "load_digits"]


def make_sinusoidal(
    n: int, noise: float = 0.3, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Bishop's curve-fitting data: ``t = sin(2 pi x) + Gaussian noise`` (Deep Learning, §1.2).

    ``x`` is evenly spaced over [0, 1], both ends included (``np.linspace(0, 1, n)``), as in
    Bishop's figure 1.4; ``noise`` is the standard deviation of the noise. Both arrays are
    float64 of shape (n,). ``seed`` makes the noise reproducible; without it the draw comes
    from deltagrad's generator (see ``dg.manual_seed``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"make_sinusoidal: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"make_sinusoidal: n must be >= 1, got {n}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating, np.integer)):
        raise TypeError(f"make_sinusoidal: noise must be a number, got {type(noise).__name__}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"make_sinusoidal: noise must be finite and >= 0, got {noise}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"make_sinusoidal: seed must be an int or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:  # NumPy's message would not name the function
        raise ValueError(f"make_sinusoidal: seed must be >= 0, got {seed}")
    rng = np.random.default_rng(int(seed)) if seed is not None else get_rng()
    x = np.linspace(0.0, 1.0, int(n))
    t = np.sin(2.0 * np.pi * x) + float(noise) * rng.standard_normal(int(n))
    return x, t


def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError(
            "this loader needs scikit-learn, which ships the data set: install the examples "
            'extra, e.g. pip install "deltagrad[examples]" (or pip install scikit-learn)'
        ) from e
    return datasets


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Wisconsin diagnostic breast-cancer data: X (569, 30) float64, y (569,) int64.

    **y = 1 means malignant** (the positive class, 212 samples) and 0 benign (357). Note that
    scikit-learn's own coding is the reverse (0 = malignant); this loader flips it so that
    ROC AUC, sensitivity and the confusion matrix read the usual way.
    """
    data = _sklearn_datasets().load_breast_cancer()
    X = np.ascontiguousarray(data.data, dtype=np.float64)
    y = (np.asarray(data.target) == 0).astype(np.int64)  # sklearn: 0 = malignant
    return X, y


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """Diabetes progression (regression): X (442, 10) float64, y (442,) float64.

    The features are scikit-learn's (already mean-centred and scaled); y is a quantitative
    measure of disease progression one year after baseline (25..346).
    """
    data = _sklearn_datasets().load_diabetes()
    return (
        np.ascontiguousarray(data.data, dtype=np.float64),
        np.ascontiguousarray(data.target, dtype=np.float64),
    )


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """8x8 handwritten digits: X (1797, 64) float64 with pixel values 0..16, y (1797,) int64
    class labels 0..9."""
    data = _sklearn_datasets().load_digits()
    return (
        np.ascontiguousarray(data.data, dtype=np.float64),
        np.asarray(data.target, dtype=np.int64),
    )
