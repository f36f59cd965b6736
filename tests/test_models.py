"""PolynomialRegression against numpy polyfit, scikit-learn Ridge, and its own gd solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

from deltagrad.datasets import make_sinusoidal
from deltagrad.metrics import rms_error
from deltagrad.models import PolynomialRegression, polynomial_features


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(
    "n, degree", [(10, 0), (10, 1), (10, 3), (10, 9), (15, 9), (7, 4), (100, 9), (2, 1)]
)
def test_lstsq_equals_numpy_polyfit(n, degree):
    x, t = make_sinusoidal(n, seed=n + degree)
    model = PolynomialRegression(degree).fit(x, t)
    assert model.coef_.shape == (degree + 1,)
    assert rel_err(model.coef_, P.polyfit(x, t, degree)) < 1e-6


def test_m9_on_10_points_interpolates_with_large_coefficients():
    x, t = make_sinusoidal(10, seed=0)
    model = PolynomialRegression(9).fit(x, t)
    assert rms_error(model.predict(x), t) < 1e-6
    assert np.max(np.abs(model.coef_)) > 1e4  # Bishop's table: order 1e5
    # regularization tames them
    reg = PolynomialRegression(9, l2=math.exp(-18)).fit(x, t)
    assert np.max(np.abs(reg.coef_)) < np.max(np.abs(model.coef_)) / 10


def _ridge_predictions(x, t, x_new, degree, lam, penalize_bias):
    from sklearn.linear_model import Ridge

    phi, phi_new = polynomial_features(x, degree), polynomial_features(x_new, degree)
    if penalize_bias:
        r = Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(phi, t)
        return r.predict(phi_new)
    r = Ridge(alpha=lam, fit_intercept=True, solver="svd").fit(phi[:, 1:], t)
    return r.predict(phi_new[:, 1:])


@pytest.mark.parametrize("penalize_bias", [True, False])
@pytest.mark.parametrize("ln_lambda", [-18.0, -10.0, -3.0, 0.0, 2.0])
@pytest.mark.parametrize("degree", [1, 3, 9])
def test_regularized_equals_sklearn_ridge(degree, ln_lambda, penalize_bias):
    pytest.importorskip("sklearn")
    x, t = make_sinusoidal(10, seed=7)
    x_new = np.linspace(-0.1, 1.1, 23)
    lam = math.exp(ln_lambda)
    model = PolynomialRegression(degree, l2=lam, penalize_bias=penalize_bias).fit(x, t)
    expected = _ridge_predictions(x, t, x_new, degree, lam, penalize_bias)
    assert rel_err(model.predict(x_new), expected) < 1e-6


def test_penalize_bias_false_leaves_w0_free():
    # a large lambda shrinks every w_j to 0; without the bias in the penalty, w_0 -> mean(t)
    x, t = make_sinusoidal(12, seed=1)
    t = t + 5.0
    free = PolynomialRegression(3, l2=1e8, penalize_bias=False).fit(x, t)
    assert free.coef_[0] == pytest.approx(t.mean(), rel=1e-4)
    shrunk = PolynomialRegression(3, l2=1e8, penalize_bias=True).fit(x, t)
    assert abs(shrunk.coef_[0]) < 1e-3


@pytest.mark.parametrize(
    "degree, lam, penalize_bias", [(1, 0.0, True), (2, 0.1, True), (2, 0.5, False), (0, 0.0, True)]
)
def test_gd_reaches_the_lstsq_solution(degree, lam, penalize_bias):
    x, t = make_sinusoidal(20, seed=3)
    exact = PolynomialRegression(degree, l2=lam, penalize_bias=penalize_bias).fit(x, t)
    gd = PolynomialRegression(
        degree, l2=lam, penalize_bias=penalize_bias, solver="gd", max_iter=20000, tol=1e-12
    ).fit(x, t)
    assert gd.gd_backend_ in ("autograd", "numpy")
    np.testing.assert_allclose(gd.coef_, exact.coef_, rtol=1e-6, atol=1e-8)


def test_gd_numpy_fallback_matches(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_autograd(name, globals=None, locals=None, fromlist=(), level=0):
        if (
            level == 1
            and name in ("tensor", "")
            and fromlist
            and ("tensor" in fromlist or "functional" in fromlist or "optim" in fromlist)
        ):
            raise ImportError("autograd hidden by the test")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_autograd)
    x, t = make_sinusoidal(20, seed=3)
    gd = PolynomialRegression(2, l2=0.1, solver="gd", tol=1e-12).fit(x, t)
    assert gd.gd_backend_ == "numpy"
    np.testing.assert_allclose(gd.coef_, PolynomialRegression(2, l2=0.1).fit(x, t).coef_, rtol=1e-6)


def test_predict_shapes_and_score_is_r2():
    x, t = make_sinusoidal(30, seed=2)
    model = PolynomialRegression(3).fit(x[:, None], t)  # sklearn-style (N, 1)
    assert model.predict(x).shape == (30,)
    np.testing.assert_array_equal(model.predict(x[:, None]), model.predict(x))
    resid = np.sum((t - model.predict(x)) ** 2)
    assert model.score(x, t) == pytest.approx(1 - resid / np.sum((t - t.mean()) ** 2))


def test_params_clone_and_sklearn_cross_val_score():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_val_score

    model = PolynomialRegression(4, l2=0.01, penalize_bias=False)
    assert model.get_params()["degree"] == 4
    c = clone(model)
    assert c.get_params() == model.get_params() and c is not model
    assert model.set_params(degree=2) is model and model.degree == 2
    assert "degree=2" in repr(model)
    x, t = make_sinusoidal(25, seed=4)
    scores = cross_val_score(
        PolynomialRegression(3), x[:, None], t, cv=KFold(5, shuffle=True, random_state=0)
    )
    assert scores.shape == (5,) and np.all(scores < 1.0)
    assert sklearn.__version__


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"degree": -1}, ValueError, "degree"),
        ({"degree": 2.0}, TypeError, "degree"),
        ({"l2": -0.1}, ValueError, "l2"),
        ({"l2": float("nan")}, ValueError, "l2"),
        ({"l2": "x"}, TypeError, "l2"),
        ({"solver": "cholesky"}, ValueError, "solver"),
        ({"penalize_bias": 1}, TypeError, "penalize_bias"),
        ({"lr": -1.0}, ValueError, "lr"),
    ],
)
def test_bad_parameters_raise_in_fit(kwargs, exc, word):
    model = PolynomialRegression(**kwargs)  # stored verbatim, checked in fit
    with pytest.raises(exc, match=word):
        model.fit([0.0, 0.5, 1.0], [0.0, 1.0, 0.0])


def test_bad_data():
    m = PolynomialRegression(1)
    with pytest.raises(ValueError, match="t must have shape"):
        m.fit([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="x must have shape"):
        m.fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        m.fit([0.0, np.nan], [0.0, 1.0])
    with pytest.raises(RuntimeError, match="fit"):
        PolynomialRegression(1).predict([0.0])
    with pytest.raises(ValueError, match="unknown parameter"):
        m.set_params(alpha=1.0)


# ---- MLPClassifier / MLPRegressor ------------------------------------------------------------


def _blobs(rng, n=120, k=2, d=4):
    centers = 4.0 * np.eye(k, d)  # well separated: 4 standard deviations apart
    y = rng.integers(0, k, n)
    return centers[y] + rng.standard_normal((n, d)), y


def test_mlp_classifier_binary_with_any_labels(rng):
    from deltagrad.metrics import roc_auc
    from deltagrad.models import MLPClassifier

    X, y = _blobs(rng)
    labels = np.array(["benign", "malignant"])[y]
    clf = MLPClassifier(hidden=(16,), epochs=15, lr=1e-2, seed=0).fit(X, labels)
    assert list(clf.classes_) == ["benign", "malignant"]
    assert clf.score(X, labels) > 0.95
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    z = clf.decision_function(X)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(z > 0).astype(int)])
    assert roc_auc(z, y) > 0.98
    assert len(clf.history_["loss"]) == 15
    # the same seed gives the same model
    again = MLPClassifier(hidden=(16,), epochs=15, lr=1e-2, seed=0).fit(X, labels)
    np.testing.assert_array_equal(again.decision_function(X), z)


def test_mlp_classifier_multiclass_and_sklearn_cross_val(rng):
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    from deltagrad.models import MLPClassifier

    X, y = _blobs(rng, n=150, k=3)
    clf = MLPClassifier(hidden=(16,), epochs=10, lr=1e-2, seed=1)
    assert clone(clf).get_params() == clf.get_params()
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9
    fitted = clf.fit(X, y)
    assert fitted.predict_proba(X).shape == (150, 3)


def test_mlp_regressor_learns_a_smooth_function(rng):
    from deltagrad.models import MLPRegressor

    X = rng.uniform(-1, 1, (200, 2))
    y = 100 + 30 * np.sin(2 * X[:, 0]) + 10 * X[:, 1]  # far from zero mean: target is scaled
    reg = MLPRegressor(hidden=(32,), epochs=60, lr=3e-3, seed=0).fit(X, y)
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.9


def test_mlp_bad_input(rng):
    from deltagrad.models import MLPClassifier, MLPRegressor

    X, y = _blobs(rng, n=20)
    with pytest.raises(ValueError, match="two classes"):
        MLPClassifier(epochs=1).fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="optimizer"):
        MLPClassifier(optimizer="rmsprop").fit(X, y)
    with pytest.raises(ValueError, match="hidden"):
        MLPRegressor(hidden=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="y must have shape"):
        MLPRegressor(epochs=1).fit(X, y[:5])
    with pytest.raises(RuntimeError, match="fit"):
        MLPClassifier().predict(X)
    clf = MLPClassifier(hidden=(4,), epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :2])
