"""Model selection (Bishop §1.2.6): S-fold cross-validation, hold-out splits, grid search.

``KFold`` yields exactly scikit-learn's folds (also for ``shuffle=True`` with an int seed,
which goes through NumPy's legacy ``RandomState`` as scikit-learn's does). Scores follow one
rule: ``scoring="rms"`` (the default, Bishop's E_RMS) and ``"mse"`` are errors — lower is
better — while every other scoring is higher-is-better; ``GridSearchCV`` knows which.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import ArrayLike

from . import metrics
from ._random import get_rng

__all__ = [
    "KFold",
    "StratifiedKFold",
    "clone",
    "cross_val_score",
    "train_val_test_split",
    "train_test_split",
    "GridSearchCV",
    "grid_search_poly",
    "LOWER_IS_BETTER",
]

Scoring = Union[str, Callable[[Any, np.ndarray, np.ndarray], float], None]

#: scorings that are errors, minimized by GridSearchCV; all others are maximized
LOWER_IS_BETTER = frozenset({"rms", "mse"})


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_seed(seed: Any, name: str = "seed") -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"{name} must be an int or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:  # NumPy's own message would not name the function
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return None if seed is None else int(seed)


def _num_samples(X: ArrayLike, name: str = "X") -> int:
    if hasattr(X, "shape") and len(X.shape) > 0:
        return int(X.shape[0])
    try:
        return len(X)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name}: expected an array-like with a first axis, got {type(X).__name__}"
        ) from None


class KFold:
    """S-fold cross-validation: split N samples into ``n_splits`` groups; each group is the
    validation set once while the others train.

    Fold sizes are N // S, the first N % S folds getting one extra sample — scikit-learn's
    rule, so the folds are identical to ``sklearn.model_selection.KFold``'s. Without
    shuffling the folds are consecutive blocks in order. With ``shuffle=True`` the indices are
    permuted first: by ``np.random.RandomState(seed)`` for an int seed (the same permutation
    as scikit-learn's with ``random_state=seed``), by deltagrad's generator when seed is None.
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: int | None = None):
        self.n_splits = _check_int(n_splits, "KFold: n_splits", 2)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"KFold: shuffle must be a bool, got {type(shuffle).__name__}")
        self.shuffle = bool(shuffle)
        self.seed = _check_seed(seed, f"{type(self).__name__}: seed")
        if self.seed is not None and self.seed >= 2**32:  # RandomState's limit
            raise ValueError(f"{type(self).__name__}: seed must be < 2**32, got {self.seed}")
        if self.seed is not None and not self.shuffle:
            raise ValueError("KFold: seed has no effect unless shuffle=True")

    def __repr__(self) -> str:
        return f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds S."""
        return self.n_splits

    def _order(self, n: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(n)
        if self.seed is not None:
            return np.random.RandomState(self.seed).permutation(n)
        return get_rng().permutation(n)

    def _test_folds(self, X: ArrayLike, y: Any) -> Iterator[np.ndarray]:
        n = _num_samples(X)
        if self.n_splits > n:
            raise ValueError(
                f"KFold: n_splits={self.n_splits} is more than the number of samples ({n})"
            )
        order = self._order(n)
        sizes = np.full(self.n_splits, n // self.n_splits, dtype=np.int64)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            yield order[start : start + size]
            start += size

    def split(
        self, X: ArrayLike, y: ArrayLike | None = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, val_idx) index arrays (int64, each sorted), one pair per fold."""
        n = _num_samples(X)
        for val in self._test_folds(X, y):
            is_val = np.zeros(n, dtype=bool)
            is_val[val] = True
            yield np.flatnonzero(~is_val), np.flatnonzero(is_val)  # both sorted, as sklearn


class StratifiedKFold(KFold):
    """KFold whose validation folds keep each class's share of y: scikit-learn's algorithm, so
    the folds are identical to ``sklearn.model_selection.StratifiedKFold``'s (also for
    ``shuffle=True`` with an int seed; seed None shuffles with deltagrad's generator).

    As scikit-learn's: y must hold class labels (one per sample of X; numbers with whole
    values, booleans or strings — continuous or NaN values are a ValueError), n_splits may
    not exceed every class's count (ValueError), and a class smaller than n_splits is
    warned about (UserWarning): some folds will miss it."""

    def __repr__(self) -> str:
        return (
            f"StratifiedKFold(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"
        )

    def _test_folds(self, X: ArrayLike, y: Any) -> Iterator[np.ndarray]:
        fn = "StratifiedKFold.split"
        if y is None:
            raise ValueError(f"{fn}: y (the class labels) is required")
        n = _num_samples(X)
        labels = np.asarray(y)
        if labels.ndim == 0 or labels.shape[0] != n:
            got = "a scalar" if labels.ndim == 0 else f"{labels.shape[0]} labels"
            raise ValueError(f"{fn}: X has {n} samples but y has {got}")
        labels = labels.reshape(n, -1)
        if labels.shape[1] != 1:
            raise ValueError(f"{fn}: y must be one label per sample, got shape {np.shape(y)}")
        labels = labels[:, 0]
        if labels.dtype.kind == "f":  # sklearn: only binary / multiclass targets
            if not np.all(np.isfinite(labels)):
                raise ValueError(f"{fn}: y contains NaN or infinity")
            if not np.all(labels == np.round(labels)):
                raise ValueError(
                    f"{fn}: y holds continuous values; stratification needs class labels "
                    "(binary or multiclass targets)"
                )
        if self.n_splits > n:
            raise ValueError(
                f"StratifiedKFold: n_splits={self.n_splits} is more than the "
                f"number of samples ({n})"
            )
        counts = np.unique(labels, return_counts=True)[1]
        if np.all(counts < self.n_splits):
            raise ValueError(
                f"StratifiedKFold: n_splits={self.n_splits} cannot be greater than the number "
                "of members in each class."
            )
        if counts.min() < self.n_splits:
            warnings.warn(
                f"StratifiedKFold: The least populated class in y has only {counts.min()} "
                f"members, which is less than n_splits={self.n_splits}.",
                UserWarning,
                stacklevel=3,
            )
        # scikit-learn's _make_test_folds: classes numbered by first appearance; each fold's
        # count of class c from a round robin over the sorted labels; each class's samples
        # given to the folds in blocks, in data order (the block labels shuffled if asked)
        _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
        code = np.unique(first, return_inverse=True)[1][inv.reshape(-1)]
        n_classes = first.size
        ordered = np.sort(code)
        allocation = np.array(
            [
                np.bincount(ordered[k :: self.n_splits], minlength=n_classes)
                for k in range(self.n_splits)
            ]
        )
        rng = None
        if self.shuffle:
            rng = np.random.RandomState(self.seed) if self.seed is not None else get_rng()
        fold_of = np.empty(n, dtype=np.int64)
        for c in range(n_classes):
            folds_for_class = np.repeat(np.arange(self.n_splits), allocation[:, c])
            if rng is not None:
                rng.shuffle(folds_for_class)
            fold_of[code == c] = folds_for_class
        for k in range(self.n_splits):
            yield np.flatnonzero(fold_of == k)


def clone(estimator: Any) -> Any:
    """A new, unfitted estimator with the same parameters: ``type(est)(**est.get_params())``
    when the estimator has get_params, else a deep copy."""
    if hasattr(estimator, "get_params"):
        return type(estimator)(**estimator.get_params(deep=False))
    return copy.deepcopy(estimator)


def _index(a: Any, idx: np.ndarray) -> Any:
    return a[idx] if hasattr(a, "__getitem__") and hasattr(a, "shape") else np.asarray(a)[idx]


def _score(estimator: Any, X: Any, y: Any, scoring: Scoring) -> float:
    if scoring is None:
        return float(estimator.score(X, y))
    if callable(scoring):
        return float(scoring(estimator, X, y))
    if scoring in ("rms", "neg_rms"):
        value = metrics.rms_error(estimator.predict(X), y)
        return value if scoring == "rms" else -value
    if scoring in ("mse", "neg_mse"):
        value = metrics.mse(estimator.predict(X), y)
        return value if scoring == "mse" else -value
    if scoring == "r2":
        return metrics.r2(estimator.predict(X), y)
    if scoring == "accuracy":
        return metrics.accuracy(estimator.predict(X), y)
    if scoring == "roc_auc":
        if hasattr(estimator, "decision_function"):
            s = estimator.decision_function(X)
        elif hasattr(estimator, "predict_proba"):
            s = np.asarray(estimator.predict_proba(X))
        else:
            s = estimator.predict(X)
        return metrics.roc_auc(s, y)
    raise ValueError(
        f"scoring must be one of 'rms', 'neg_rms', 'mse', 'neg_mse', 'r2', "
        f"'accuracy', 'roc_auc', None or a callable, got {scoring!r}"
    )


def _check_scoring(scoring: Scoring) -> None:
    known = ("rms", "neg_rms", "mse", "neg_mse", "r2", "accuracy", "roc_auc")
    if scoring is not None and not callable(scoring) and scoring not in known:
        raise ValueError(
            f"scoring must be one of {', '.join(map(repr, known))}, None or a "
            f"callable(estimator, X, y), got {scoring!r}"
        )


class _FixedSplits:
    """A fixed list of (train, test) index pairs as a splitter (scikit-learn's
    _CVIterableWrapper): every call to split() yields the same folds."""

    def __init__(self, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.splits = splits

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return iter(self.splits)


def _is_classifier(estimator: Any) -> bool:
    """scikit-learn's is_classifier, without importing it: deltagrad's estimators (and
    scikit-learn's before 1.6) name their kind in ``_estimator_type``, scikit-learn's since
    1.6 in ``__sklearn_tags__().estimator_type``."""
    kind = getattr(estimator, "_estimator_type", None)
    if kind is None and callable(getattr(estimator, "__sklearn_tags__", None)):
        try:
            kind = estimator.__sklearn_tags__().estimator_type
        except Exception:  # noqa: BLE001 - an estimator whose tags fail is no classifier
            kind = None
    return kind == "classifier"


def _is_class_labels(y: Any) -> bool:
    """Whether y is one class label per sample (scikit-learn's "binary" or "multiclass"
    target): numbers with whole values, booleans or strings, shape (N,) or (N, 1)."""
    try:
        a = np.asarray(y)
    except Exception:  # noqa: BLE001 - not an array: not labels
        return False
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or a.size == 0:
        return False
    if a.dtype.kind in "biuUS":
        return True
    if a.dtype.kind == "f":
        return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))
    return a.dtype == object and all(isinstance(v, str) for v in a)


def _as_cv(cv: Any, y: Any = None, classifier: bool = False) -> Any:
    """scikit-learn's check_cv: an int (None: 5) is StratifiedKFold(cv) for a classifier
    whose y holds class labels, else KFold(cv)."""
    if cv is None:
        cv = 5
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if classifier and y is not None and _is_class_labels(y):
            return StratifiedKFold(int(cv))
        return KFold(int(cv))
    if hasattr(cv, "split") and not isinstance(cv, (str, bytes)):
        return cv
    if hasattr(cv, "__iter__") and not isinstance(cv, (str, bytes, dict)):
        # an iterable of (train, test) pairs, as scikit-learn accepts; read once, so a
        # generator gives the same folds to every use
        splits = []
        for pair in cv:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    "cv: an iterable of splits must hold (train, test) index pairs, got an "
                    f"element of type {type(pair).__name__}"
                )
            idx = tuple(np.asarray(p) for p in pair)
            if any(a.ndim != 1 or a.dtype.kind not in "iub" for a in idx):
                raise TypeError("cv: each (train, test) pair must be two 1-D integer index arrays")
            splits.append(idx)
        if not splits:
            raise ValueError("cv: the iterable of (train, test) splits is empty")
        return _FixedSplits(splits)
    raise TypeError(
        f"cv must be an int (number of folds) or None, a splitter with .split(X, y) or an iterable "
        f"of (train, test) index pairs, got {type(cv).__name__}"
    )


def cross_val_score(
    estimator: Any, X: ArrayLike, y: ArrayLike, cv: Any = 5, scoring: Scoring = "rms"
) -> np.ndarray:
    """Score of a fresh clone of ``estimator`` on each validation fold; shape (S,).

    ``cv``: the number of folds S (None: 5) — as in scikit-learn, ``StratifiedKFold(S)`` when
    the estimator is a classifier (``_estimator_type`` or scikit-learn's tags say so) and y
    holds class labels, else ``KFold(S)``, no shuffling —, any splitter with
    ``split(X, y)`` (ours or scikit-learn's), or an iterable of (train, test) index pairs.
    ``scoring``: ``"rms"`` (E_RMS, the default — an error, lower is better; for multi-output
    y the mean of the outputs' E_RMS, as scikit-learn's), ``"neg_rms"``, ``"mse"``,
    ``"neg_mse"``, ``"r2"``, ``"accuracy"``, ``"roc_auc"`` (a fold whose y holds one class
    scores nan, with a warning), None (``estimator.score``) or
    ``callable(fitted_estimator, X_val, y_val) -> float``.
    """
    _check_scoring(scoring)
    splitter = _as_cv(cv, y, _is_classifier(estimator))
    n = _num_samples(X)
    if _num_samples(y, "y") != n:
        raise ValueError(f"cross_val_score: X has {n} samples but y has {_num_samples(y, 'y')}")
    scores = []
    for train, val in splitter.split(X, y):
        est = clone(estimator)
        est.fit(_index(X, train), _index(y, train))
        scores.append(_score(est, _index(X, val), _index(y, val), scoring))
    return np.asarray(scores, dtype=np.float64)


def _resolve_size(size: Any, n: int, name: str) -> int:
    if isinstance(size, bool):
        raise TypeError(f"{name} must be a float in [0, 1) or an int count, got bool")
    if isinstance(size, (float, np.floating)):
        if not 0.0 <= size < 1.0:
            raise ValueError(f"{name} as a fraction must be in [0, 1), got {size}")
        return int(math.ceil(size * n))  # scikit-learn rounds the held-out part up
    if isinstance(size, (int, np.integer)):
        if not 0 <= size < n:
            raise ValueError(f"{name} as a count must be in [0, {n}), got {size}")
        return int(size)
    raise TypeError(f"{name} must be a float in [0, 1) or an int count, got {type(size).__name__}")


def _largest_remainder(weights: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
    """Integers proportional to weights, summing to total, each at most its cap."""
    ideal = weights / weights.sum() * total
    out = np.minimum(np.floor(ideal).astype(np.int64), caps)
    frac = ideal - np.floor(ideal)
    while out.sum() < total:
        room = out < caps
        if not room.any():
            break
        k = int(np.argmax(np.where(room, frac, -np.inf)))
        out[k] += 1
        frac[k] = -1.0 if frac[k] >= 0 else frac[k] - 1.0
    return out


def _split_indices(
    n: int, n_val: int, n_test: int, stratify: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if stratify is None:
        perm = rng.permutation(n)
        return perm[n_val + n_test :], perm[n_test : n_test + n_val], perm[:n_test]
    classes, inv = np.unique(stratify, return_inverse=True)
    counts = np.bincount(inv, minlength=classes.size)
    test_c = _largest_remainder(counts.astype(float), n_test, counts)
    val_c = _largest_remainder(counts.astype(float), n_val, counts - test_c)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in range(classes.size):
        members = rng.permutation(np.flatnonzero(inv == c))
        parts[2].append(members[: test_c[c]])
        parts[1].append(members[test_c[c] : test_c[c] + val_c[c]])
        parts[0].append(members[test_c[c] + val_c[c] :])
    train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val, test


def _holdout(
    X: ArrayLike,
    y: ArrayLike,
    val_size: float | int | None,
    test_size: float | int,
    stratify: ArrayLike | bool | None,
    seed: int | None,
    fn: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """train_val_test_split's work; ``val_size=None``: no validation part (train_test_split),
    and the messages name ``fn`` and only the arguments it has."""
    Xa, ya = np.asarray(X), np.asarray(y)
    n = _num_samples(Xa)
    if ya.shape[:1] != (n,):
        raise ValueError(f"{fn}: X has {n} samples but y has shape {ya.shape}")
    if n == 0:
        raise ValueError(f"{fn}: X and y are empty (0 samples)")
    n_test = _resolve_size(test_size, n, f"{fn}: test_size")
    n_val = 0 if val_size is None else _resolve_size(val_size, n, f"{fn}: val_size")
    if n_val + n_test >= n:
        if val_size is None:
            raise ValueError(
                f"{fn}: test_size={test_size!r} ({n_test} of {n} samples) leaves no "
                "training samples"
            )
        raise ValueError(
            f"{fn}: val ({n_val}) + test ({n_test}) leave no training samples out of {n}"
        )
    strat = None
    if stratify is True:
        strat = ya
    elif stratify is not None and stratify is not False:
        strat = np.asarray(stratify)
        if strat.shape[:1] != (n,):
            raise ValueError(f"{fn}: stratify must have {n} labels, got shape {strat.shape}")
    if strat is not None and strat.ndim > 1:
        strat = np.unique(strat.reshape(n, -1), axis=0, return_inverse=True)[1].reshape(-1)
    if strat is not None:
        # scikit-learn's checks: otherwise a part silently misses a class
        classes, counts = np.unique(strat, return_counts=True)
        if counts.min() < 2:
            raise ValueError(
                f"{fn}: The least populated class in y has only 1 member, which is too few. "
                "The minimum number of groups for any class cannot be less than 2. Classes "
                f"with one member: {classes[counts < 2][:10].tolist()}"
            )
        parts = [("train_size", n - n_val - n_test), ("test_size", n_test)]
        if val_size is not None:
            parts.append(("val_size", n_val))
        for what, size in parts:
            if 0 < size < counts.size:  # an empty part (size 0) is asked for, not a loss
                raise ValueError(
                    f"{fn}: The {what} = {size} should be greater or equal to the number of "
                    f"classes = {counts.size}"
                )
    seed = _check_seed(seed, f"{fn}: seed")
    rng = np.random.default_rng(seed) if seed is not None else get_rng()
    tr, va, te = _split_indices(n, n_val, n_test, strat, rng)
    return Xa[tr], Xa[va], Xa[te], ya[tr], ya[va], ya[te]


def train_val_test_split(
    X: ArrayLike,
    y: ArrayLike,
    *,
    val_size: float | int | None = 0.2,
    test_size: float | int | None = 0.2,
    stratify: ArrayLike | bool | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bishop's three-way hold-out split: training set (fit w), validation set (choose
    hyperparameters), test set (the final, untouched estimate).

    Returns ``X_train, X_val, X_test, y_train, y_val, y_test``. Sizes are fractions of N
    (rounded up) or counts; None means the default, 0.2. ``stratify``: class labels to keep
    in proportion in every part (or True for y); each class's count per part is its
    proportional share, rounded by largest remainder so the totals are exact. As in
    scikit-learn, every class needs 2 members and every non-empty part at least one sample
    per class (else ValueError). ``seed`` (an int >= 0) makes the split reproducible.
    """
    return _holdout(
        X,
        y,
        0.2 if val_size is None else val_size,
        0.2 if test_size is None else test_size,
        stratify,
        seed,
        "train_val_test_split",
    )


def train_test_split(
    X: ArrayLike,
    y: ArrayLike,
    *,
    test_size: float | int | None = 0.25,
    stratify: ArrayLike | bool | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-way hold-out split: ``X_train, X_test, y_train, y_test`` (see train_val_test_split).
    ``test_size=None`` is 0.25, scikit-learn's default; ``test_size=0`` (or 0.0), an empty
    test set, is a ValueError, as in scikit-learn."""
    ts = 0.25 if test_size is None else test_size
    if (
        not isinstance(ts, bool)
        and isinstance(ts, (int, float, np.integer, np.floating))
        and ts == 0
    ):
        # scikit-learn's InvalidParameterError (a ValueError): an empty test set would only
        # be noticed later, as a nan score
        raise ValueError(
            f"train_test_split: test_size must be a float in (0, 1) or an int >= 1, got {ts!r}"
        )
    Xtr, _, Xte, ytr, _, yte = _holdout(X, y, None, ts, stratify, seed, "train_test_split")
    return Xtr, Xte, ytr, yte


class GridSearchCV:
    """Exhaustive search over a parameter grid by cross-validation.

    For every combination in ``param_grid`` (a dict name -> list of values) the estimator
    is cross-validated; the combination with the best mean validation score wins — the
    lowest for error scorings (``"rms"``, ``"mse"``), the highest otherwise. Ties go to the
    combination listed first. With ``refit=True`` the winner is refitted on all the data.
    ``cv`` as in cross_val_score (an int: stratified folds for a classifier).

    After fit: ``best_params_``, ``best_score_`` (mean over folds), ``best_index_``,
    ``best_estimator_`` (if refit), and ``cv_results_``, a list of dicts with keys
    ``params``, ``mean_score``, ``std_score`` and ``scores``, one per combination in grid
    order. ``table()`` formats them.
    """

    def __init__(
        self,
        estimator: Any,
        param_grid: dict[str, Sequence[Any]],
        cv: Any = 5,
        scoring: Scoring = "rms",
        refit: bool = True,
    ) -> None:
        if not isinstance(param_grid, dict) or not param_grid:
            raise TypeError("GridSearchCV: param_grid must be a non-empty dict name -> values")
        for name, values in param_grid.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"GridSearchCV: param_grid[{name!r}] must be a list of values")
        _check_scoring(scoring)
        _check_settable(estimator)
        self.estimator = estimator
        self.param_grid = {k: list(v) for k, v in param_grid.items()}
        for name, values in self.param_grid.items():
            if not values:
                raise ValueError(f"GridSearchCV: param_grid[{name!r}] is empty")
        self.cv = cv
        self.scoring = scoring
        self.refit = refit

    @property
    def lower_is_better(self) -> bool:
        return isinstance(self.scoring, str) and self.scoring in LOWER_IS_BETTER

    def fit(self, X: ArrayLike, y: ArrayLike) -> GridSearchCV:
        _check_settable(self.estimator)
        names = list(self.param_grid)
        splitter = _as_cv(self.cv, y, _is_classifier(self.estimator))
        # one fixed list of folds, so every combination sees the same splits
        folds = _FixedSplits(list(splitter.split(X, y)))

        self.cv_results_: list[dict[str, Any]] = []
        for values in product(*(self.param_grid[k] for k in names)):
            params = dict(zip(names, values))
            est = clone(self.estimator)
            est.set_params(**params)
            scores = cross_val_score(est, X, y, cv=folds, scoring=self.scoring)
            self.cv_results_.append(
                {
                    "params": params,
                    "mean_score": float(np.mean(scores)),
                    "std_score": float(np.std(scores)),
                    "scores": scores,
                }
            )
        means = np.array([r["mean_score"] for r in self.cv_results_])
        means = np.where(np.isfinite(means), means, np.inf if self.lower_is_better else -np.inf)
        self.best_index_ = int(np.argmin(means) if self.lower_is_better else np.argmax(means))
        self.best_params_ = dict(self.cv_results_[self.best_index_]["params"])
        self.best_score_ = self.cv_results_[self.best_index_]["mean_score"]
        if self.refit:
            self.best_estimator_ = clone(self.estimator)
            self.best_estimator_.set_params(**self.best_params_)
            self.best_estimator_.fit(X, y)
        return self

    #: how table() shows a parameter: name -> (column header, formatter)
    param_format: dict[str, tuple[str, Callable[[Any], str]]] = {}

    def table(self) -> str:
        """The results as a plain-text table, best row marked with '*'."""
        if not hasattr(self, "cv_results_"):
            raise RuntimeError("GridSearchCV.table: call fit() first")
        formatters = {k: f for k, (_, f) in self.param_format.items()}
        names = list(self.param_grid)
        label = str(self.scoring) if self.scoring is not None else "score"
        head = [*(self.param_format.get(k, (k,))[0] for k in names), f"mean {label}", "std", ""]
        rows = []
        for i, r in enumerate(self.cv_results_):
            cells = [formatters.get(k, _fmt)(r["params"][k]) for k in names]
            cells += [
                f"{r['mean_score']:.4g}",
                f"{r['std_score']:.3g}",
                "*" if i == self.best_index_ else "",
            ]
            rows.append(cells)
        widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths)).rstrip()]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)


def _check_settable(estimator: Any) -> None:
    """Without set_params every grid point would score the same model (scikit-learn's
    GridSearchCV raises too)."""
    if not callable(getattr(estimator, "set_params", None)):
        raise TypeError(
            f"GridSearchCV: the estimator ({type(estimator).__name__}) has no "
            "set_params(**params), so the grid's parameters cannot be set on it; give it "
            "get_params / set_params (e.g. subclass deltagrad.models.BaseEstimator)"
        )


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _ln(lam: float) -> str:
    return "-inf" if lam == 0 else f"{math.log(lam):.4g}"


def _lambda_of(ln_lambda: Any) -> float:
    """lambda = exp(ln lambda); -inf -> 0 (no penalty). NaN, +inf and ln lambda above
    ln(float max) ~ 709.78, whose exp overflows, are a ValueError."""
    try:
        v = float(ln_lambda)
    except (TypeError, ValueError):
        raise TypeError(
            f"grid_search_poly: ln_lambdas must hold numbers, got {type(ln_lambda).__name__}"
        ) from None
    if v == -math.inf:
        return 0.0
    if math.isnan(v) or v == math.inf:
        raise ValueError(f"grid_search_poly: ln_lambdas must be finite or -inf, got {v}")
    try:
        return math.exp(v)
    except OverflowError:
        raise ValueError(
            f"grid_search_poly: ln_lambdas holds {v:g}: lambda = exp({v:g}) overflows a float "
            "(ln lambda must be at most about 709.78)"
        ) from None


def grid_search_poly(
    x: ArrayLike,
    t: ArrayLike,
    degrees: Sequence[int] = tuple(range(10)),
    ln_lambdas: Sequence[float] = (-math.inf, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0),
    *,
    cv: Any = 5,
    penalize_bias: bool = True,
    scoring: Scoring = "rms",
) -> GridSearchCV:
    """Choose the polynomial order M and ln lambda of a PolynomialRegression by S-fold
    cross-validation (Bishop §1.2.6); ``ln_lambdas`` may include ``-inf`` (no penalty).

    Returns the fitted GridSearchCV: ``best_params_`` holds ``degree`` and ``l2`` (lambda,
    not its log), ``table()`` prints every (M, ln lambda) with its mean validation error.
    """
    from .models import PolynomialRegression

    degrees = [_check_int(d, "grid_search_poly: degrees", 0) for d in degrees]
    lams = [_lambda_of(v) for v in ln_lambdas]
    search = GridSearchCV(
        PolynomialRegression(penalize_bias=penalize_bias),
        {"degree": degrees, "l2": lams},
        cv=cv,
        scoring=scoring,
    )
    search.param_format = {"degree": ("M", str), "l2": ("ln lambda", _ln)}
    search.fit(np.asarray(x), np.asarray(t))
    return search
