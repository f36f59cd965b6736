"""Differential checks against scikit-learn 1.9 and torch 2.13 (round 30): cross_val_score's
int cv for classifiers, StratifiedKFold's folds, r2 with one sample, train_test_split's
test_size=0, default_collate's dtype for mixed Python numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad.data as dgdata
import deltagrad.metrics as metrics
import deltagrad.model_selection as ms
from deltagrad.models import MLPClassifier, PolynomialRegression


def _folds(cv, X, y):
    return [(a.tolist(), b.tolist()) for a, b in cv.split(X, y)]


class _Majority:
    """A minimal classifier (sklearn's protocol): predicts the training set's majority
    class."""

    _estimator_type = "classifier"

    def fit(self, X, y):
        values, counts = np.unique(y, return_counts=True)
        self.label_ = values[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)


def _sorted_labels():
    # sorted labels: KFold's blocks would each hold (nearly) one class only
    X = np.arange(40.0)[:, None]
    y = np.r_[np.zeros(24, dtype=int), np.ones(16, dtype=int)]
    return X, y


def test_cross_val_score_int_cv_stratifies_for_classifiers_as_sklearn():
    X, y = _sorted_labels()
    ours = ms.cross_val_score(_Majority(), X, y, cv=4, scoring="accuracy")
    expected = [
        metrics.accuracy(_Majority().fit(X[tr], y[tr]).predict(X[va]), y[va])
        for tr, va in ms.StratifiedKFold(4).split(X, y)
    ]
    np.testing.assert_array_equal(ours, expected)
    # with KFold the first fold (all class 0) would score 1.0, the last (all class 1) 0.0
    assert np.all(ours == 0.6)
    sk = pytest.importorskip("sklearn.model_selection")
    lin = pytest.importorskip("sklearn.linear_model")
    clf = lin.LogisticRegression()
    Xs = np.linspace(-2, 2, 40)[:, None] + 0.3 * np.sin(np.arange(40))[:, None]
    ys = (Xs[:, 0] > 0).astype(int)
    np.testing.assert_allclose(
        ms.cross_val_score(clf, Xs, ys, cv=4, scoring="accuracy"),
        sk.cross_val_score(clf, Xs, ys, cv=4, scoring="accuracy"),
        rtol=0,
        atol=0,
    )


def test_is_classifier_reads_deltagrad_and_sklearn_estimators():
    assert ms._is_classifier(MLPClassifier())
    assert not ms._is_classifier(PolynomialRegression(2))
    assert not ms._is_classifier(object())
    lin = pytest.importorskip("sklearn.linear_model")
    base = pytest.importorskip("sklearn.base")
    for est in (lin.LogisticRegression(), lin.Ridge()):
        assert ms._is_classifier(est) == base.is_classifier(est)


def test_int_cv_for_classifier_with_continuous_y_is_kfold_as_sklearn():
    # sklearn's check_cv: StratifiedKFold only for binary / multiclass targets
    sk = pytest.importorskip("sklearn.model_selection")
    y_cont = np.linspace(0.1, 3.3, 12)
    assert isinstance(ms._as_cv(3, y_cont, classifier=True), ms.KFold)
    assert not isinstance(ms._as_cv(3, y_cont, classifier=True), ms.StratifiedKFold)
    assert type(sk.check_cv(3, y_cont, classifier=True)).__name__ == "KFold"
    for y in (np.array([0, 1] * 6), np.array(["a", "b", "c"] * 4), np.array([0.0, 1.0] * 6)):
        assert isinstance(ms._as_cv(3, y, classifier=True), ms.StratifiedKFold)
        assert type(sk.check_cv(3, y, classifier=True)).__name__ == "StratifiedKFold"
    assert not isinstance(ms._as_cv(3, np.array([0, 1] * 6)), ms.StratifiedKFold)
    assert ms._as_cv(None).get_n_splits() == 5  # cv=None: 5 folds, as sklearn


def test_grid_search_int_cv_stratifies_for_classifiers():
    X, y = _sorted_labels()
    search = ms.GridSearchCV(_Settable(), {"k": [1]}, cv=4, scoring="accuracy", refit=False)
    search.fit(X, y)
    np.testing.assert_array_equal(search.cv_results_[0]["scores"], [0.6] * 4)


class _Settable(_Majority):
    def __init__(self, k=1):
        self.k = k

    def get_params(self, deep=True):
        return {"k": self.k}

    def set_params(self, **params):
        self.k = params.get("k", self.k)
        return self


@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 0), (True, 7)])
def test_stratified_kfold_folds_equal_sklearn(shuffle, seed):
    sk = pytest.importorskip("sklearn.model_selection")
    rng = np.random.default_rng(3)
    for n, k, n_classes in ((40, 4, 2), (23, 5, 3), (17, 3, 4)):
        y = rng.integers(0, n_classes, n)
        y[: n_classes * k] = np.repeat(np.arange(n_classes), k)  # every class >= k members
        rng.shuffle(y)
        X = np.zeros((n, 1))
        ours = _folds(ms.StratifiedKFold(k, shuffle=shuffle, seed=seed), X, y)
        theirs = _folds(sk.StratifiedKFold(k, shuffle=shuffle, random_state=seed), X, y)
        assert ours == theirs
    y = np.array(list("bbaacacbab"))
    assert _folds(ms.StratifiedKFold(2), np.zeros(10), y) == _folds(
        sk.StratifiedKFold(2), np.zeros(10), y
    )


def test_r2_of_one_sample_is_nan_with_warning_as_sklearn():
    for y, t in (([1.0], [2.0]), ([3.0], [3.0]), ([[1.0, 2.0]], [[2.0, 3.0]]), (2.0, 2.0)):
        with pytest.warns(UserWarning, match="fewer than two samples"):
            assert np.isnan(metrics.r2(y, t))
    skm = pytest.importorskip("sklearn.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.r2_score([2.0], [1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.r2([1.0, 2.0], [1.0, 3.0]) == skm.r2_score([1.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize("test_size", [0, 0.0, np.int64(0), np.float64(0.0)])
def test_train_test_split_empty_test_set_is_value_error_as_sklearn(test_size):
    X, y = np.arange(10.0), np.arange(10)
    with pytest.raises(ValueError, match="test_size must be a float in \\(0, 1\\)"):
        ms.train_test_split(X, y, test_size=test_size, seed=0)
    sk = pytest.importorskip("sklearn.model_selection")
    with pytest.raises(ValueError):
        sk.train_test_split(X, y, test_size=test_size, random_state=0)
    # the smallest non-empty test sets still work
    assert len(ms.train_test_split(X, y, test_size=1, seed=0)[1]) == 1
    assert len(ms.train_test_split(X, y, test_size=0.01, seed=0)[1]) == 1


MIXED = [
    [1, 2.5],
    [2.5, 1],
    [True, 2],
    [True, 2.5],
    [2.5, True],
    [True, False],
    [1, 2],
    [1.0, 2.0],
    [1, np.float32(2.5)],
    [np.int64(1), 2.5],
    [np.float32(1.5), 2],
    [np.float64(1.5), 2],
    [2.5, np.float32(1.5)],
    [np.uint8(3), np.int8(2)],
    [np.float16(1.0), 2],
    [np.float16(1.0), 2.5],
    [True, np.uint8(3)],
    [1, np.float64(2.5)],
]


@pytest.mark.parametrize("batch", MIXED, ids=[repr(b) for b in MIXED])
def test_default_collate_number_dtype_as_torch(batch):
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate

    ref = default_collate(batch)
    ours = dgdata.default_collate(batch)
    assert str(ours.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    assert torch is not None
