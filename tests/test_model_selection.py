"""deltagrad.model_selection: folds equal scikit-learn's, splits, cross_val_score, grid search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltagrad import model_selection as ms
from deltagrad.datasets import make_sinusoidal
from deltagrad.metrics import rms_error
from deltagrad.models import PolynomialRegression
from deltagrad.testing import assert_close


@pytest.mark.parametrize("n", [2, 5, 10, 11, 13, 100])
@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 0), (True, 7)])
def test_kfold_equals_sklearn(n, k, shuffle, seed):
    sk = pytest.importorskip("sklearn.model_selection")
    if k > n:
        with pytest.raises(ValueError, match="n_splits"):
            list(ms.KFold(k).split(np.zeros(n)))
        return
    ours = list(ms.KFold(k, shuffle=shuffle, seed=seed).split(np.zeros((n, 3))))
    theirs = list(sk.KFold(k, shuffle=shuffle, random_state=seed).split(np.zeros((n, 3))))
    assert len(ours) == len(theirs) == ms.KFold(k).get_n_splits()
    for (tr, va), (tr2, va2) in zip(ours, theirs):
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(va, va2)


def test_kfold_partitions_and_first_folds_are_bigger():
    folds = list(ms.KFold(4).split(np.arange(11)))
    assert [len(v) for _, v in folds] == [3, 3, 3, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate([v for _, v in folds])), np.arange(11))
    for tr, va in folds:
        assert np.intersect1d(tr, va).size == 0 and tr.size + va.size == 11


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"n_splits": 1}, ValueError, "n_splits"),
        ({"n_splits": 2.0}, TypeError, "n_splits"),
        ({"n_splits": 3, "shuffle": "yes"}, TypeError, "shuffle"),
        ({"n_splits": 3, "seed": 1}, ValueError, "shuffle"),
        ({"n_splits": 3, "shuffle": True, "seed": 0.5}, TypeError, "seed"),
    ],
)
def test_kfold_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        ms.KFold(**kwargs)


def test_stratified_kfold_keeps_class_shares():
    y = np.array([0] * 30 + [1] * 10)
    for _tr, va in ms.StratifiedKFold(5, shuffle=True, seed=1).split(np.zeros(40), y):
        assert np.sum(y[va] == 1) == 2 and va.size == 8
    with pytest.raises(ValueError, match="y"):
        list(ms.StratifiedKFold(2).split(np.zeros(4)))


def test_cross_val_score_by_hand_and_against_sklearn():
    x, t = make_sinusoidal(23, seed=5)
    cv = ms.KFold(5, shuffle=True, seed=3)
    scores = ms.cross_val_score(PolynomialRegression(3, l2=1e-3), x, t, cv=cv)
    manual = [
        rms_error(PolynomialRegression(3, l2=1e-3).fit(x[tr], t[tr]).predict(x[va]), t[va])
        for tr, va in cv.split(x)
    ]
    assert_close(scores, manual, rtol=1e-12, atol=0.0, equal_nan=True)
    sk = pytest.importorskip("sklearn.model_selection")
    theirs = sk.cross_val_score(
        PolynomialRegression(3, l2=1e-3),
        x[:, None],
        t,
        cv=sk.KFold(5, shuffle=True, random_state=3),
        scoring="neg_root_mean_squared_error",
    )
    assert_close(scores, -theirs, rtol=1e-10, atol=0.0, equal_nan=True)
    r2 = ms.cross_val_score(PolynomialRegression(3), x, t, cv=4, scoring="r2")
    assert_close(
        r2,
        ms.cross_val_score(PolynomialRegression(3), x, t, cv=4, scoring=None),
        rtol=1e-7,
        atol=0.0,
        equal_nan=True,
    )


def test_cross_val_score_does_not_fit_the_given_estimator_and_checks_arguments():
    x, t = make_sinusoidal(10, seed=0)
    est = PolynomialRegression(2)
    ms.cross_val_score(est, x, t, cv=5)
    assert not hasattr(est, "coef_")
    with pytest.raises(ValueError, match="scoring"):
        ms.cross_val_score(est, x, t, scoring="f1")
    with pytest.raises(TypeError, match="cv"):
        ms.cross_val_score(est, x, t, cv="5")
    with pytest.raises(ValueError, match="samples"):
        ms.cross_val_score(est, x, t[:-1])


@pytest.mark.parametrize("n", [50, 97, 569])
def test_train_val_test_split_sizes_disjoint_and_stratified(n):
    rng = np.random.default_rng(n)
    X = np.arange(n)[:, None] * np.ones((1, 2))
    y = (rng.random(n) < 0.37).astype(int)
    Xtr, Xva, Xte, ytr, yva, yte = ms.train_val_test_split(
        X, y, val_size=0.2, test_size=0.2, stratify=y, seed=1
    )
    assert len(Xte) == math.ceil(0.2 * n) and len(Xva) == math.ceil(0.2 * n)
    ids = np.concatenate([Xtr[:, 0], Xva[:, 0], Xte[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    np.testing.assert_array_equal(y[Xte[:, 0].astype(int)], yte)
    for part in (ytr, yva, yte):  # each part within one sample of the overall share
        assert abs(part.sum() - len(part) * y.mean()) <= 1.0
    again = ms.train_val_test_split(X, y, stratify=True, seed=1)
    np.testing.assert_array_equal(again[2], Xte)


def test_train_val_test_split_bad_sizes():
    X, y = np.zeros((10, 1)), np.zeros(10)
    with pytest.raises(ValueError, match="test_size"):
        ms.train_val_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="no training"):
        ms.train_val_test_split(X, y, val_size=5, test_size=5)
    with pytest.raises(ValueError, match="y"):
        ms.train_val_test_split(X, y[:3])
    Xtr, Xte, ytr, yte = ms.train_test_split(X, y, test_size=3, seed=0)
    assert len(Xte) == 3 and len(Xtr) == 7


def test_grid_search_poly_picks_the_minimum_of_the_table():
    x, t = make_sinusoidal(30, seed=11)
    search = ms.grid_search_poly(
        x,
        t,
        degrees=[1, 3, 9],
        ln_lambdas=[-math.inf, -10.0, 0.0],
        cv=ms.KFold(5, shuffle=True, seed=0),
    )
    means = [r["mean_score"] for r in search.cv_results_]
    assert len(means) == 9 and search.best_score_ == min(means)
    assert search.best_params_["degree"] >= 3  # a line cannot follow a sine
    table = search.table()
    assert "ln lambda" in table and "-inf" in table and "*" in table
    assert_close(
        search.best_estimator_.coef_,
        PolynomialRegression(**search.best_params_).fit(x, t).coef_,
        rtol=1e-7,
        atol=0.0,
        equal_nan=True,
    )


def test_grid_search_higher_is_better_for_r2():
    x, t = make_sinusoidal(30, seed=11)
    search = ms.GridSearchCV(PolynomialRegression(), {"degree": [0, 3]}, cv=3, scoring="r2")
    search.fit(x, t)
    assert search.best_params_ == {"degree": 3}
    with pytest.raises(TypeError, match="param_grid"):
        ms.GridSearchCV(PolynomialRegression(), {"degree": 3})
