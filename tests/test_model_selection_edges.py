"""Edge cases of deltagrad.metrics / model_selection found by a differential run against
scikit-learn: each test pins the scikit-learn behaviour (where it is installed) and a
NumPy-only expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltagrad import metrics
from deltagrad import model_selection as ms
from deltagrad.datasets import make_sinusoidal
from deltagrad.experiments.curve_fit import curve_fit_experiment
from deltagrad.models import PolynomialRegression


def _sk(module: str):
    return pytest.importorskip(module)


# 1. rms_error on multi-output targets: the mean of the per-column RMS, as sklearn


def test_rms_error_multi_output_averages_per_column_rms():
    rng = np.random.default_rng(0)
    t = np.zeros((2, 2))
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert metrics.rms_error(y, t) == pytest.approx(0.5)  # (1 + 0) / 2, not sqrt(1/2)
    T, Y = rng.standard_normal((9, 3)), rng.standard_normal((9, 3))
    per_col = np.sqrt(np.mean((Y - T) ** 2, axis=0))
    assert metrics.rms_error(Y, T) == pytest.approx(per_col.mean(), rel=1e-12)
    # 1-D unchanged: Bishop's E_RMS = sqrt(2 E / N)
    e = 0.5 * np.sum((Y[:, 0] - T[:, 0]) ** 2)
    assert metrics.rms_error(Y[:, 0], T[:, 0]) == pytest.approx(math.sqrt(2 * e / 9), rel=1e-12)
    assert metrics.rms_error(Y[:, :1], T[:, :1]) == pytest.approx(per_col[0], rel=1e-12)
    sk = _sk("sklearn.metrics")
    assert metrics.rms_error(Y, T) == pytest.approx(sk.root_mean_squared_error(T, Y), rel=1e-12)
    assert metrics.mse(Y, T) == pytest.approx(sk.mean_squared_error(T, Y), rel=1e-12)
    assert metrics.r2(Y, T) == pytest.approx(sk.r2_score(T, Y), rel=1e-12)


def test_cross_val_score_rms_multi_output_equals_sklearn():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 2))
    Y = np.c_[X @ [1.0, 2.0], 10 * X[:, 0]] + rng.standard_normal((20, 2)) * [0.1, 3]

    class Lstsq:  # a minimal multi-output linear model
        def get_params(self, deep=True):
            return {}

        def fit(self, X, y):
            self.w = np.linalg.lstsq(X, y, rcond=None)[0]
            return self

        def predict(self, X):
            return X @ self.w

    ours = ms.cross_val_score(Lstsq(), X, Y, cv=4)
    folds = ms.KFold(4).split(X)
    manual = [
        np.mean(np.sqrt(np.mean((Lstsq().fit(X[a], Y[a]).predict(X[b]) - Y[b]) ** 2, axis=0)))
        for a, b in folds
    ]
    np.testing.assert_allclose(ours, manual, rtol=1e-12)


# 2. roc_auc: ranks in the scores' own dtype, single class -> nan, string labels


def test_roc_auc_ranks_large_integers_exactly():
    s = np.array([2**60, 2**60 + 1])
    assert metrics.roc_auc(s, [0, 1]) == 1.0
    assert metrics.roc_auc(np.array([2**63 + 1, 2**63], np.uint64), [0, 1]) == 0.0
    sk = _sk("sklearn.metrics")
    assert metrics.roc_auc(s, [0, 1]) == sk.roc_auc_score([0, 1], s)


def test_roc_auc_single_class_is_nan_with_a_warning():
    with pytest.warns(UserWarning, match="roc_auc: .*one class"):
        assert math.isnan(metrics.roc_auc([0.1, 0.9], [1, 1]))
    with pytest.raises(ValueError, match="roc_auc: t .*NaN"):
        metrics.roc_auc([0.1, 0.9, 0.4], [0, 1, np.nan])
    with pytest.raises(ValueError, match="two classes"):
        metrics.roc_auc([0.1, 0.9, 0.4], [0, 1, 2])


def test_roc_auc_string_labels_greater_is_positive():
    s = [0.1, 0.9, 0.4, 0.3]
    t = ["neg", "pos", "pos", "neg"]
    assert metrics.roc_auc(s, t) == metrics.roc_auc(s, [0, 1, 1, 0]) == 1.0
    with pytest.raises(ValueError, match="roc_auc: t: Mix of label input types"):
        metrics.roc_auc(s, np.array(["a", 1, "a", 1], dtype=object))
    sk = _sk("sklearn.metrics")
    assert metrics.roc_auc(s, t) == sk.roc_auc_score(t, s)


# 3. GridSearchCV needs set_params


def test_grid_search_without_set_params_is_a_type_error():
    class NoParams:
        def fit(self, X, y):
            self.m = np.mean(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.m)

    with pytest.raises(TypeError, match="GridSearchCV: .*set_params"):
        ms.GridSearchCV(NoParams(), {"c": [1, 2]}, cv=3)


# 4. accuracy: label types and multi-label matrices


@pytest.mark.parametrize(
    "y, t, exc, word",
    [
        (None, [1], TypeError, "accuracy: y"),
        ({"a": 1}, {"a": 1}, TypeError, "accuracy: y"),
        (["1", "0"], [1, 0], ValueError, "Mix of label input types"),
        (np.array(["a", 1], object), ["a", "b"], ValueError, "Mix of label input types"),
        ([np.nan, 1.0], [0, 1], ValueError, "accuracy: y .*NaN"),
        ([0, 1], [np.nan, 1.0], ValueError, "accuracy: t .*NaN"),
        ([np.nan, 1.0], [0, 1], ValueError, "NaN"),
        (np.array([[1, 0, 1], [0, 1, 1]]), np.array([[1, 0, 0], [0, 1, 0]]), ValueError, "one-hot"),
        (np.array([[0, 2], [1, 1]]), np.array([[0, 2], [1, 0]]), ValueError, "one-hot"),
        (np.zeros((2, 1, 1), int), np.zeros((2, 1, 1), int), ValueError, "1-D"),
    ],
)
def test_accuracy_rejects_what_sklearn_rejects(y, t, exc, word):
    with pytest.raises(exc, match=word):
        metrics.accuracy(y, t)


def test_accuracy_nan_scores_with_threshold_are_an_error():
    with pytest.raises(ValueError, match="accuracy: y .*NaN"):
        metrics.accuracy([np.nan, 1.0], [0, 1], threshold=0.5)


def test_accuracy_keeps_scores_probabilities_and_one_hot():
    assert metrics.accuracy(np.eye(3, dtype=int)[[0, 2, 1]], [0, 2, 2]) == pytest.approx(2 / 3)
    onehot = np.eye(2, dtype=int)[[1, 0]]
    assert metrics.accuracy([[0.1, 0.9], [0.8, 0.2]], onehot) == 1.0
    assert metrics.accuracy([True, False], [1, 0]) == 1.0
    assert metrics.accuracy(np.array(["a", "b"], dtype=object), ["a", "a"]) == 0.5
    sk = _sk("sklearn.metrics")
    with pytest.raises(ValueError, match="Mix of label input types"):
        sk.accuracy_score([1, 0], ["1", "0"])


# 5. StratifiedKFold: target type, class counts, lengths


def _folds(cv, X, y):
    return [(a.tolist(), b.tolist()) for a, b in cv.split(X, y)]


def test_stratified_kfold_rejects_continuous_and_nan_targets():
    X = np.zeros((6, 1))
    with pytest.raises(ValueError, match="StratifiedKFold.*continuous"):
        _folds(ms.StratifiedKFold(2), X[:4], np.array([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="StratifiedKFold.*NaN"):
        _folds(ms.StratifiedKFold(2), X, np.array([0, 1, np.nan, 0, 1, np.nan]))
    # whole-number floats are class labels
    assert len(_folds(ms.StratifiedKFold(2), X[:4], np.array([0.0, 1.0, 0.0, 1.0]))) == 2
    sk = _sk("sklearn.model_selection")
    with pytest.raises(ValueError, match="continuous"):
        _folds(sk.StratifiedKFold(2), X[:4], np.array([0.1, 0.2, 0.3, 0.4]))


def test_stratified_kfold_class_counts_against_n_splits():
    X = np.zeros((6, 1))
    y = np.array([0, 0, 0, 0, 1, 1])
    msg = "n_splits=5 cannot be greater than the number of members in each class"
    with pytest.raises(ValueError, match=msg):
        _folds(ms.StratifiedKFold(5), X, y)
    y = np.array([0, 0, 0, 0, 0, 1])
    with pytest.warns(UserWarning, match="least populated class in y has only 1 members"):
        folds = _folds(ms.StratifiedKFold(3), X, y)
    assert sorted(sum((b for _, b in folds), [])) == list(range(6))
    sk = _sk("sklearn.model_selection")
    with pytest.raises(ValueError, match=msg):
        _folds(sk.StratifiedKFold(5), X, np.array([0, 0, 0, 0, 1, 1]))


def test_stratified_kfold_length_mismatch():
    y = np.array([0, 1] * 4)
    with pytest.raises(ValueError, match="StratifiedKFold.split: X has 4 samples but y has 8"):
        _folds(ms.StratifiedKFold(2), np.zeros((4, 1)), y)
    with pytest.raises(ValueError, match="StratifiedKFold.split: X has 8 samples but y has 4"):
        _folds(ms.StratifiedKFold(2), np.zeros((8, 1)), y[:4])
    with pytest.raises(ValueError, match="one label per sample"):
        _folds(ms.StratifiedKFold(2), np.zeros((4, 1)), np.zeros((4, 2)))


# 6. train_test_split(stratify=...), test_size=None, empty input, seeds


def test_stratified_split_needs_two_members_and_enough_test_samples():
    X = np.arange(10)
    y1 = np.array([0] * 9 + [1])
    with pytest.raises(ValueError, match="least populated class in y has only 1 member.*: \\[1\\]"):
        ms.train_test_split(X, y1, test_size=0.3, stratify=y1, seed=0)
    y3 = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    msg = "test_size = 2 should be greater or equal to the number of classes = 3"
    with pytest.raises(ValueError, match=msg):
        ms.train_test_split(X, y3, test_size=2, stratify=y3, seed=0)
    with pytest.raises(ValueError, match="train_size = 2 should be greater or equal"):
        ms.train_test_split(X, y3, test_size=8, stratify=y3, seed=0)
    with pytest.raises(ValueError, match="val_size = 1 should be greater or equal"):
        ms.train_val_test_split(X, y3, val_size=1, test_size=3, stratify=y3, seed=0)
    # every class in every part when the sizes allow it
    _, _, ytr, yte = ms.train_test_split(X, y3, test_size=3, stratify=y3, seed=0)
    assert sorted(yte.tolist()) == [0, 1, 2] and set(ytr.tolist()) == {0, 1, 2}
    sk = _sk("sklearn.model_selection")
    with pytest.raises(ValueError, match="least populated class.* only 1 member"):
        sk.train_test_split(X, y1, test_size=0.3, stratify=y1, random_state=0)
    with pytest.raises(ValueError, match=msg):
        sk.train_test_split(X, y3, test_size=2, stratify=y3, random_state=0)


def test_train_test_split_test_size_none_and_empty_input():
    X = np.arange(10)
    assert [len(p) for p in ms.train_test_split(X, X, test_size=None, seed=0)] == [7, 3, 7, 3]
    sk = _sk("sklearn.model_selection")
    assert [len(p) for p in sk.train_test_split(X, X, test_size=None, random_state=0)] == [
        7,
        3,
        7,
        3,
    ]
    with pytest.raises(ValueError, match="train_test_split: X and y are empty") as info:
        ms.train_test_split(np.arange(0), np.arange(0), seed=0)
    assert "val" not in str(info.value)
    with pytest.raises(ValueError, match="train_test_split: test_size") as info:
        ms.train_test_split(np.arange(1), np.arange(1), seed=0)
    assert "val" not in str(info.value)


def test_negative_seeds_are_a_value_error():
    X = np.arange(10)
    with pytest.raises(ValueError, match="train_test_split: seed must be >= 0, got -1"):
        ms.train_test_split(X, X, seed=-1)
    with pytest.raises(ValueError, match="train_val_test_split: seed must be >= 0"):
        ms.train_val_test_split(X, X, seed=-1)
    with pytest.raises(ValueError, match="KFold: seed must be >= 0"):
        ms.KFold(3, shuffle=True, seed=-1)
    with pytest.raises(ValueError, match="KFold: seed must be < 2\\*\\*32"):
        ms.KFold(3, shuffle=True, seed=2**32)


# 7. cross_val_score(cv=<iterable of splits>)


def test_cross_val_score_accepts_an_iterable_of_splits():
    x, t = make_sinusoidal(12, seed=2)
    splits = list(ms.KFold(3).split(x))
    est = PolynomialRegression(2)
    ref = ms.cross_val_score(est, x, t, cv=3)
    np.testing.assert_array_equal(ms.cross_val_score(est, x, t, cv=splits), ref)
    np.testing.assert_array_equal(ms.cross_val_score(est, x, t, cv=iter(splits)), ref)
    search = ms.GridSearchCV(est, {"degree": [1, 2]}, cv=(s for s in splits)).fit(x, t)
    assert [r["scores"][0] for r in search.cv_results_][1] == ref[0]
    with pytest.raises(TypeError, match="cv"):
        ms.cross_val_score(est, x, t, cv=[1, 2, 3])
    sk = _sk("sklearn.model_selection")
    theirs = sk.cross_val_score(
        est, x[:, None], t, cv=splits, scoring="neg_root_mean_squared_error"
    )
    np.testing.assert_allclose(ref, -theirs, rtol=1e-10)


# 8. confusion_matrix label validation


@pytest.mark.parametrize(
    "y, t, word",
    [
        ([np.inf, 1.0], [0.0, 1.0], "confusion_matrix: y .*finite"),
        (np.array([2**63 + 1], np.uint64), np.array([0], np.uint64), "would need a"),
        ([1e10], [0.0], "label 10000000000 .*would need a 10000000001 x 10000000001"),
        ([0, 100000], [0, 1], "label 100000 .*100001 x 100001"),
        (np.zeros((2, 1, 1), int), np.zeros((2, 1, 1), int), "confusion_matrix: .*1-D"),
    ],
)
def test_confusion_matrix_validates_labels(y, t, word):
    with pytest.raises(ValueError, match=word):
        metrics.confusion_matrix(y, t)


def test_confusion_matrix_size_bound_applies_to_n_classes():
    with pytest.raises(ValueError, match="n_classes=100000"):
        metrics.confusion_matrix([0, 1], [0, 1], n_classes=100000)
    assert metrics.confusion_matrix([0, 1000], [0, 1000]).shape == (1001, 1001)


# 9. grid_search_poly's ln lambda and curve_fit_experiment's n


def test_grid_search_poly_rejects_lambdas_that_overflow():
    x, t = make_sinusoidal(10, seed=0)
    with pytest.raises(ValueError, match="grid_search_poly: ln_lambdas .*800"):
        ms.grid_search_poly(x, t, [1], [800.0])
    with pytest.raises(ValueError, match="grid_search_poly: ln_lambdas"):
        ms.grid_search_poly(x, t, [1], [math.inf])
    with pytest.raises(ValueError, match="grid_search_poly: ln_lambdas"):
        ms.grid_search_poly(x, t, [1], [float("nan")])


def test_curve_fit_experiment_names_n():
    with pytest.raises(ValueError, match="curve_fit_experiment: n must be >= 2"):
        curve_fit_experiment(n=1)
    with pytest.raises(ValueError, match="curve_fit_experiment: folds must be >= 2"):
        curve_fit_experiment(n=10, folds=1)
