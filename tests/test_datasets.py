"""deltagrad.datasets: the synthetic sinusoid and the scikit-learn medical loaders."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import datasets
from deltagrad.testing import assert_close


def test_make_sinusoidal_grid_noise_and_seed():
    x, t = datasets.make_sinusoidal(10, seed=0)
    np.testing.assert_array_equal(x, np.linspace(0, 1, 10))
    assert x.dtype == t.dtype == np.float64 and t.shape == (10,)
    x2, t2 = datasets.make_sinusoidal(10, seed=0)
    np.testing.assert_array_equal(t, t2)
    assert not np.array_equal(t, datasets.make_sinusoidal(10, seed=1)[1])
    _, clean = datasets.make_sinusoidal(7, noise=0.0)
    assert_close(
        clean, np.sin(2 * np.pi * np.linspace(0, 1, 7)), rtol=1e-7, atol=1e-15, equal_nan=True
    )
    # the noise has the requested standard deviation
    x, t = datasets.make_sinusoidal(20000, noise=0.3, seed=3)
    assert np.std(t - np.sin(2 * np.pi * x)) == pytest.approx(0.3, rel=0.03)
    with pytest.raises(ValueError, match="make_sinusoidal: seed must be >= 0, got -1"):
        datasets.make_sinusoidal(3, seed=-1)


def test_make_sinusoidal_without_seed_follows_manual_seed():
    dg.manual_seed(5)
    a = datasets.make_sinusoidal(5)[1]
    dg.manual_seed(5)
    np.testing.assert_array_equal(a, datasets.make_sinusoidal(5)[1])


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 2.5}, TypeError, "n"),
        ({"n": 3, "noise": -1.0}, ValueError, "noise"),
        ({"n": 3, "noise": "a"}, TypeError, "noise"),
        ({"n": 3, "seed": 1.5}, TypeError, "seed"),
    ],
)
def test_make_sinusoidal_bad_input(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        datasets.make_sinusoidal(**kwargs)


def test_medical_loaders():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer

    X, y = datasets.load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float64 and y.dtype == np.int64
    assert int(y.sum()) == 212  # 212 malignant = positive = 1
    np.testing.assert_array_equal(y, 1 - load_breast_cancer().target)
    X, y = datasets.load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442,) and y.dtype == np.float64
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and set(np.unique(y)) == set(range(10))


def test_loader_names_the_extra_without_sklearn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("no sklearn")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="examples"):
        datasets.load_diabetes()
