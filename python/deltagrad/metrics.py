"""Evaluation metrics: E_RMS, R^2, accuracy, ROC AUC, the confusion matrix.

Every metric takes the model's output first and the target second, as Bishop writes
E(y, t): ``rms_error(y, t)``, ``accuracy(y, t)``, ``roc_auc(scores, t)``. (scikit-learn puts
the target first; only the order differs, the numbers are the same.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["rms_error", "mse", "r2", "accuracy", "roc_auc", "confusion_matrix"]


def _as_array(a: ArrayLike, name: str, numeric: bool = True) -> np.ndarray:
    if hasattr(a, "numpy") and callable(a.numpy):  # a deltagrad Tensor
        a = a.numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"{name}: expected an array-like, got {type(a).__name__}") from e
    if numeric and (arr.dtype == object or arr.dtype.kind not in "biuf"):
        raise TypeError(f"{name}: expected numbers or booleans, got dtype {arr.dtype}")
    return arr


def _pair(
    y: ArrayLike, t: ArrayLike, fn: str, y_name: str = "y", numeric: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays of one shape; (n,) and (n, 1) count as the same."""
    ya = _as_array(y, f"{fn}: {y_name}", numeric)
    ta = _as_array(t, f"{fn}: t", numeric)
    if ya.shape != ta.shape:
        if (
            ya.size == ta.size
            and max(ya.ndim, ta.ndim) <= 2
            and (ya.ndim < 2 or ya.shape[1] == 1)
            and (ta.ndim < 2 or ta.shape[1] == 1)
        ):
            ya, ta = ya.reshape(-1), ta.reshape(-1)
        else:
            raise ValueError(
                f"{fn}: {y_name} and t must have the same shape, got "
                f"{y_name} {ya.shape} and t {ta.shape}"
            )
    if ya.size == 0:
        raise ValueError(f"{fn}: {y_name} and t are empty")
    return ya, ta


def mse(y: ArrayLike, t: ArrayLike) -> float:
    """Mean squared error, (1/N) sum (y_n - t_n)^2."""
    ya, ta = _pair(y, t, "mse")
    d = ya.astype(np.float64) - ta.astype(np.float64)
    return float(np.mean(d * d))


def rms_error(y: ArrayLike, t: ArrayLike) -> float:
    """Root-mean-square error E_RMS = sqrt((1/N) sum (y_n - t_n)^2) (Bishop eq. 1.3).

    Dividing by N lets data sets of different sizes be compared; the square root puts the
    error on the scale of t.
    """
    ya, ta = _pair(y, t, "rms_error")
    d = ya.astype(np.float64) - ta.astype(np.float64)
    return float(np.sqrt(np.mean(d * d)))


def r2(y: ArrayLike, t: ArrayLike) -> float:
    """Coefficient of determination R^2 = 1 - sum (t - y)^2 / sum (t - mean t)^2.

    Same value as ``sklearn.metrics.r2_score(t, y)`` (note the order), including its
    convention for a constant target: 1.0 for a perfect fit, else 0.0. Multi-output targets
    are averaged uniformly over the outputs.
    """
    ya, ta = _pair(y, t, "r2")
    ya, ta = ya.astype(np.float64), ta.astype(np.float64)
    if ya.ndim == 1:
        ya, ta = ya[:, None], ta[:, None]
    ss_res = np.sum((ta - ya) ** 2, axis=0)
    ss_tot = np.sum((ta - ta.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(
            ss_tot > 0,
            1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
            np.where(ss_res == 0, 1.0, 0.0),
        )
    return float(np.mean(scores))


def _labels(y: np.ndarray, fn: str, threshold: float | None) -> np.ndarray:
    """Predicted labels from model outputs: the argmax of (N, K) scores with K > 1; with a
    ``threshold``, the 0/1 decision ``y > threshold`` of a single score per example ((N,) or
    (N, 1): 0 for logits, 0.5 for probabilities). Without one, y is taken as labels."""
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf":
        return np.argmax(y, axis=1)
    if threshold is None:
        if y.dtype.kind == "f" and y.size and not np.all(y == np.round(y)):
            raise ValueError(
                f"{fn}: y holds scores (non-integer values), not labels: pass threshold= "
                "(0 for logits, 0.5 for probabilities), or (N, K) class scores"
            )
        return y
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise TypeError(f"{fn}: threshold must be a number, got {type(threshold).__name__}")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: threshold needs numeric scores, got dtype {y.dtype}")
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ValueError(f"{fn}: threshold needs one score per example, got y of shape {y.shape}")
    return (y > threshold).astype(np.int64)


def _class_targets(t: ArrayLike, y: np.ndarray, fn: str) -> np.ndarray:
    """One-hot / probability targets (N, K), K > 1, of the same shape as the scores -> their
    argmax (the class labels they encode)."""
    ta = _as_array(t, f"{fn}: t", numeric=False)
    if ta.ndim == 2 and ta.shape[1] > 1 and ta.dtype.kind in "biuf" and ta.shape == y.shape:
        return np.argmax(ta, axis=1)
    return ta


def accuracy(y: ArrayLike, t: ArrayLike, threshold: float | None = None) -> float:
    """Fraction of predictions equal to the target.

    ``y`` holds predicted labels (numbers, booleans or strings); a 2-D numeric ``y`` of shape
    (N, K) with K > 1 is read as class scores or probabilities and its argmax is taken (and a
    ``t`` of that shape as one-hot / probability targets). A binary classifier's single score
    per example ((N,) or (N, 1)) needs ``threshold``: predicted 1 where y > threshold, 0 for
    logits (BCEWithLogitsLoss), 0.5 for probabilities (BCELoss).
    """
    ya = _as_array(y, "accuracy: y", numeric=False)
    ta = _class_targets(t, ya, "accuracy")
    ya = _labels(ya, "accuracy", threshold)
    ya, ta = _pair(ya, ta, "accuracy", numeric=False)
    return float(np.mean(ya == ta))


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a, tied values sharing the mean of their ranks."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # start of each run of equal values in the sorted array
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], a.size]  # one past the end
    run_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    run_of = np.repeat(np.arange(starts.size), ends - starts)
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = run_rank[run_of]
    return ranks


def roc_auc(scores: ArrayLike, t: ArrayLike) -> float:
    """Area under the ROC curve of a binary classifier, from ranks (Mann-Whitney U).

    AUC = (sum of the positives' ranks - P (P + 1) / 2) / (P * N), where tied scores share
    their average rank, so a tie between a positive and a negative counts one half — the
    same value as ``sklearn.metrics.roc_auc_score(t, scores)``.

    ``t`` holds two classes: {0, 1}, booleans, or any two numbers, the larger being the
    positive class (an (N, 1) column counts as (N,)). ``scores`` are any monotone scores
    (logits or probabilities), (N,) or (N, 1); an (N, 2) array is read as two classes' scores:
    its second column when the rows are probabilities (>= 0, summing to 1), else the logit
    difference z_1 - z_0. More than two columns: an error (the AUC here is binary).
    """
    s = _as_array(scores, "roc_auc: scores")
    if s.ndim == 2 and s.shape[1] == 2:
        s64 = s.astype(np.float64)
        is_proba = np.all(s64 >= 0) and np.allclose(s64.sum(axis=1), 1.0, rtol=0, atol=1e-6)
        # probabilities: column 1 (p_1). Two logits: z_1 - z_0, which orders the examples as
        # p_1 = sigmoid(z_1 - z_0) does (z_1 alone does not)
        s = s[:, 1] if is_proba else s64[:, 1] - s64[:, 0]
    elif s.ndim == 2 and s.shape[1] > 2:
        raise ValueError(
            f"roc_auc: scores of shape {s.shape} hold {s.shape[1]} classes; ROC AUC here is "
            "binary: pass one score per example, or (N, 2)"
        )
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    ta = _as_array(t, "roc_auc: t")
    if ta.ndim == 2 and ta.shape[1] == 1:
        ta = ta[:, 0]
    s, ta = _pair(s, ta, "roc_auc", y_name="scores")
    if not np.all(np.isfinite(s.astype(np.float64))):
        raise ValueError("roc_auc: scores contain NaN or infinity")
    classes = np.unique(ta)
    if classes.size != 2:
        raise ValueError(
            f"roc_auc: t must contain exactly two classes, got {classes.size} "
            f"({classes[:5].tolist()}{'...' if classes.size > 5 else ''})"
        )
    pos = ta == classes[1]
    n_pos = int(pos.sum())
    n_neg = ta.size - n_pos
    ranks = _average_ranks(s.astype(np.float64))
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def confusion_matrix(
    y: ArrayLike, t: ArrayLike, n_classes: int | None = None, threshold: float | None = None
) -> np.ndarray:
    """Counts C[i, j] of samples whose true class is i and predicted class is j.

    The layout is scikit-learn's (rows = truth, columns = prediction), so for binary labels
    C = [[TN, FP], [FN, TP]]. Labels must be non-negative integers; ``n_classes`` defaults to
    1 + the largest label seen. Scores instead of labels: (N, K) scores -> their argmax; one
    score per example with ``threshold`` -> y > threshold (as in accuracy()).
    """
    ya = _as_array(y, "confusion_matrix: y")
    ta = _class_targets(t, ya, "confusion_matrix")
    ya = _labels(ya, "confusion_matrix", threshold)
    ya, ta = _pair(ya, ta, "confusion_matrix")
    for arr, name in ((ya, "y"), (ta, "t")):
        if arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"confusion_matrix: {name} must hold integer class labels")
        if np.any(arr < 0):
            raise ValueError(f"confusion_matrix: {name} must hold non-negative class labels")
    ya, ta = ya.astype(np.int64).ravel(), ta.astype(np.int64).ravel()
    k = int(max(ya.max(), ta.max())) + 1
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(
                f"confusion_matrix: n_classes must be an int, got {type(n_classes).__name__}"
            )
        if n_classes < k:
            raise ValueError(f"confusion_matrix: n_classes={n_classes} but labels go up to {k - 1}")
        k = int(n_classes)
    return np.bincount(ta * k + ya, minlength=k * k).reshape(k, k)
