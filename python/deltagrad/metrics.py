"""Evaluation metrics: E_RMS, R^2, accuracy, ROC AUC, the confusion matrix.

Every metric takes the model's output first and the target second, as Bishop writes
E(y, t): ``rms_error(y, t)``, ``accuracy(y, t)``, ``roc_auc(scores, t)``. (scikit-learn puts
the target first; only the order differs, the numbers are the same.)

Classification metrics take 1-D labels (or the class scores / one-hot rows described in
``accuracy``); like scikit-learn they reject NaN labels, a mix of string and number labels,
and multi-label indicator matrices.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["rms_error", "mse", "r2", "accuracy", "roc_auc", "confusion_matrix"]

#: the most classes confusion_matrix builds a matrix for (16384^2 int64 counts: 2 GiB): a
#: stray label (1e10, a score taken for a label) is an error, not a huge allocation
MAX_CLASSES = 16384


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
    error on the scale of t. Multi-output targets (N, K): the mean over the K outputs of each
    output's E_RMS, as ``sklearn.metrics.root_mean_squared_error(t, y)`` (its default
    ``multioutput="uniform_average"``); (N, 1) is the same as (N,).
    """
    ya, ta = _pair(y, t, "rms_error")
    d = ya.astype(np.float64) - ta.astype(np.float64)
    if ya.ndim == 2:
        # per-output E_RMS, then averaged (the root of the overall mean would weight the
        # outputs with the largest errors more than scikit-learn does)
        return float(np.mean(np.sqrt(np.mean(d * d, axis=0))))
    return float(np.sqrt(np.mean(d * d)))


def r2(y: ArrayLike, t: ArrayLike) -> float:
    """Coefficient of determination R^2 = 1 - sum (t - y)^2 / sum (t - mean t)^2.

    Same value as ``sklearn.metrics.r2_score(t, y)`` (note the order), including its
    convention for a constant target: 1.0 for a perfect fit, else 0.0. Multi-output targets
    are averaged uniformly over the outputs. With a single sample (N = 1) R^2 is not
    defined: nan, with a UserWarning (as scikit-learn, whose UndefinedMetricWarning is one).
    """
    ya, ta = _pair(y, t, "r2")
    ya, ta = ya.astype(np.float64), ta.astype(np.float64)
    if ya.ndim <= 1:  # a 0-d value is one sample
        ya, ta = ya.reshape(-1, 1), ta.reshape(-1, 1)
    if ya.shape[0] < 2:
        warnings.warn(
            "r2: R^2 is not well-defined with fewer than two samples: returning nan "
            "(as scikit-learn)",
            UserWarning,
            stacklevel=2,
        )
        return float("nan")
    ss_res = np.sum((ta - ya) ** 2, axis=0)
    ss_tot = np.sum((ta - ta.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(
            ss_tot > 0,
            1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
            np.where(ss_res == 0, 1.0, 0.0),
        )
    return float(np.mean(scores))


def _label_input(a: ArrayLike, name: str) -> np.ndarray:
    """An array of class labels or scores: numbers, booleans or strings, no NaN.

    Object arrays are read as strings or numbers when their elements are all one or the
    other; a mix is scikit-learn's "Mix of label input types" error."""
    arr = _as_array(a, name, numeric=False)
    if arr.ndim == 0:  # None, a dict, a lone number: np.asarray wraps them in a 0-d array
        raise TypeError(f"{name}: expected an array of labels, got {type(arr.item()).__name__}")
    if arr.dtype == object:
        flat = arr.ravel().tolist()
        n_str = sum(isinstance(v, str) for v in flat)
        if n_str == len(flat):
            arr = arr.astype(str)
        elif n_str:
            raise ValueError(f"{name}: Mix of label input types (string and number)")
        elif all(isinstance(v, (bool, int, float, np.bool_, np.number)) for v in flat):
            arr = np.array(flat).reshape(arr.shape)
        else:
            bad = next(v for v in flat if not isinstance(v, (bool, int, float, np.number)))
            raise TypeError(
                f"{name}: expected numbers, booleans or strings, got {type(bad).__name__}"
            )
    if arr.dtype.kind not in "biufUS":
        raise TypeError(f"{name}: expected numbers, booleans or strings, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def _check_one_hot(a: np.ndarray, name: str) -> None:
    """A 2-D integer / boolean (N, K) array is read through argmax only when its rows are
    one-hot: any other 0/1 matrix is a multi-label target, whose argmax would be wrong."""
    if a.dtype.kind in "biu" and not (np.all((a == 0) | (a == 1)) and np.all(a.sum(axis=1) == 1)):
        raise ValueError(
            f"{name}: a 2-D integer array of shape {a.shape} whose rows are not one-hot: "
            "multi-label / multi-output targets are not supported; pass class labels (N,), "
            "one-hot rows or float class scores (N, K)"
        )


def _is_str(a: np.ndarray) -> bool:
    return a.dtype.kind in "US"


def _check_1d_labels(ya: np.ndarray, ta: np.ndarray, fn: str) -> None:
    """Labels are (N,) or (N, 1) (scikit-learn: 1-D), of one kind, and finite."""
    if ya.ndim > 2 or (ya.ndim == 2 and ya.shape[1] != 1):
        raise ValueError(f"{fn}: labels must be 1-D (N,) or (N, 1), got shape {ya.shape}")
    if _is_str(ya) != _is_str(ta):
        kinds = ("string" if _is_str(ya) else "number", "string" if _is_str(ta) else "number")
        raise ValueError(
            f"{fn}: Mix of label input types (string and number): y holds {kinds[0]}s, "
            f"t holds {kinds[1]}s"
        )
    for arr, name in ((ya, "y"), (ta, "t")):
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"{fn}: {name} must hold finite class labels, got infinity")


def _labels(y: np.ndarray, fn: str, threshold: float | None) -> np.ndarray:
    """Predicted labels from model outputs: the argmax of (N, K) scores with K > 1; with a
    ``threshold``, the 0/1 decision ``y > threshold`` of a single score per example ((N,) or
    (N, 1): 0 for logits, 0.5 for probabilities). Without one, y is taken as labels."""
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf":
        _check_one_hot(y, f"{fn}: y")
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
    ta = _label_input(t, f"{fn}: t")
    if ta.ndim == 2 and ta.shape[1] > 1 and ta.dtype.kind in "biuf" and ta.shape == y.shape:
        _check_one_hot(ta, f"{fn}: t")
        return np.argmax(ta, axis=1)
    return ta


def accuracy(y: ArrayLike, t: ArrayLike, threshold: float | None = None) -> float:
    """Fraction of predictions equal to the target.

    ``y`` holds predicted labels (numbers, booleans or strings); a 2-D numeric ``y`` of shape
    (N, K) with K > 1 is read as class scores or probabilities and its argmax is taken (and a
    ``t`` of that shape as one-hot / probability targets). A binary classifier's single score
    per example ((N,) or (N, 1)) needs ``threshold``: predicted 1 where y > threshold, 0 for
    logits (BCEWithLogitsLoss), 0.5 for probabilities (BCELoss).

    As ``sklearn.metrics.accuracy_score``: NaN, string labels against number labels, and
    multi-label 0/1 matrices (2-D integer arrays whose rows are not one-hot) raise ValueError.
    """
    ya = _label_input(y, "accuracy: y")
    ta = _class_targets(t, ya, "accuracy")
    ya = _labels(ya, "accuracy", threshold)
    ya, ta = _pair(ya, ta, "accuracy", numeric=False)
    _check_1d_labels(ya, ta, "accuracy")
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
    same value as ``sklearn.metrics.roc_auc_score(t, scores)``. Scores are ranked in their
    own dtype (int64 scores above 2**53 stay distinct).

    ``t`` holds two classes: {0, 1}, booleans, any two numbers or any two strings, the
    greater being the positive class, as in scikit-learn (an (N, 1) column counts as (N,)).
    A ``t`` of one class leaves the AUC undefined: nan, with a UserWarning (as scikit-learn);
    more than two classes is a ValueError. ``scores`` are any monotone scores
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
    ta = _label_input(t, "roc_auc: t")
    if ta.ndim == 2 and ta.shape[1] == 1:
        ta = ta[:, 0]
    s, ta = _pair(s, ta, "roc_auc", y_name="scores", numeric=False)
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError("roc_auc: scores contain NaN or infinity")
    classes = np.unique(ta)
    if classes.size == 1:
        warnings.warn(
            f"roc_auc: t holds only one class ({classes[0].item()!r}); ROC AUC is not "
            "defined: returning nan (as scikit-learn)",
            UserWarning,
            stacklevel=2,
        )
        return float("nan")
    if classes.size != 2:
        raise ValueError(
            f"roc_auc: t must contain exactly two classes, got {classes.size} "
            f"({classes[:5].tolist()}{'...' if classes.size > 5 else ''})"
        )
    pos = ta == classes[1]
    n_pos = int(pos.sum())
    n_neg = ta.size - n_pos
    ranks = _average_ranks(s)  # in s's dtype: float64 would merge int64 scores above 2**53
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def confusion_matrix(
    y: ArrayLike, t: ArrayLike, n_classes: int | None = None, threshold: float | None = None
) -> np.ndarray:
    """Counts C[i, j] of samples whose true class is i and predicted class is j.

    The layout is scikit-learn's (rows = truth, columns = prediction), so for binary labels
    C = [[TN, FP], [FN, TP]]. Labels must be 1-D, finite, non-negative integers (class
    indices; at most ``MAX_CLASSES`` classes, so that a stray label cannot allocate a huge
    matrix); ``n_classes`` defaults to 1 + the largest label seen. Scores instead of labels:
    (N, K) scores -> their argmax; one score per example with ``threshold`` -> y > threshold
    (as in accuracy()).
    """
    ya = _label_input(y, "confusion_matrix: y")
    ta = _class_targets(t, ya, "confusion_matrix")
    for arr, name in ((ya, "y"), (ta, "t")):
        if _is_str(arr):
            raise TypeError(
                f"confusion_matrix: {name}: expected class indices (numbers or booleans), got "
                f"dtype {arr.dtype}; map string labels to 0..K-1 first"
            )
    ya = _labels(ya, "confusion_matrix", threshold)
    ya, ta = _pair(ya, ta, "confusion_matrix")
    _check_1d_labels(ya, ta, "confusion_matrix")
    for arr, name in ((ya, "y"), (ta, "t")):
        if arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"confusion_matrix: {name} must hold integer class labels")
        if np.any(arr < 0):
            raise ValueError(f"confusion_matrix: {name} must hold non-negative class labels")
    # the largest label as a Python int (no int64 overflow for uint64 or 1e10), bounded
    # before anything is allocated
    top = {name: int(arr.max()) for arr, name in ((ya, "y"), (ta, "t"))}
    name = max(top, key=top.__getitem__)
    k = top[name] + 1
    if k > MAX_CLASSES:
        raise ValueError(
            f"confusion_matrix: label {top[name]} in {name} would need a {k} x {k} matrix; "
            f"labels must be class indices 0..K-1 with K <= {MAX_CLASSES} (map other labels "
            "to indices first, e.g. with np.unique(labels, return_inverse=True))"
        )
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(
                f"confusion_matrix: n_classes must be an int, got {type(n_classes).__name__}"
            )
        if n_classes < k:
            raise ValueError(f"confusion_matrix: n_classes={n_classes} but labels go up to {k - 1}")
        if n_classes > MAX_CLASSES:
            raise ValueError(
                f"confusion_matrix: n_classes={n_classes} would need a {n_classes} x "
                f"{n_classes} matrix; at most {MAX_CLASSES} classes"
            )
        k = int(n_classes)
    ya, ta = ya.astype(np.int64).ravel(), ta.astype(np.int64).ravel()
    return np.bincount(ta * k + ya, minlength=k * k).reshape(k, k)
