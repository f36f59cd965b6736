"""PolynomialRegression against numpy polyfit, scikit-learn Ridge, and its own gd solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

from deltagrad.datasets import make_sinusoidal
from deltagrad.metrics import rms_error
from deltagrad.models import PolynomialRegression, polynomial_features
from deltagrad.testing import assert_close


@pytest.mark.parametrize(
    "n, degree", [(10, 0), (10, 1), (10, 3), (10, 9), (15, 9), (7, 4), (100, 9), (2, 1)]
)
def test_lstsq_equals_numpy_polyfit(n, degree):
    x, t = make_sinusoidal(n, seed=n + degree)
    model = PolynomialRegression(degree).fit(x, t)
    assert model.coef_.shape == (degree + 1,)
    want = P.polyfit(x, t, degree)
    # normwise: max|error| <= 1e-6 max|w| (small coefficients need not match to 1e-6 each)
    assert_close(model.coef_, want, rtol=0.0, atol=1e-6 * np.max(np.abs(want)))


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
    assert_close(model.predict(x_new), expected, rtol=0.0, atol=1e-6 * np.max(np.abs(expected)))


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
    assert_close(gd.coef_, exact.coef_, rtol=1e-6, atol=1e-8)


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
    want = PolynomialRegression(2, l2=0.1).fit(x, t).coef_
    assert_close(gd.coef_, want, rtol=1e-6, atol=0.0)


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
    assert_close(proba.sum(axis=1), np.ones(len(X)), rtol=1e-7, atol=0.0)
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


def test_mlp_estimator_equals_the_hand_written_pipeline(rng):
    """fit(X, y, validation_data) is the loop `deltagrad train` used to write by hand:
    standardize on the training set, reseed, MLP, Adam, dg.train.fit with validation."""
    import deltagrad as dg
    from deltagrad import nn, optim
    from deltagrad.models import MLPClassifier
    from deltagrad.train import fit

    X, y = _blobs(rng, n=90)
    Xv, yv = _blobs(rng, n=30)
    X[:, 3] = 2.5  # a constant column keeps scale 1
    Xv[:, 3] = 2.5
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    dg.manual_seed(7)
    model = nn.MLP([4, 8, 1])
    opt = optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    want = fit(
        model,
        nn.BCEWithLogitsLoss(),
        opt,
        ((X - mean) / std).astype(np.float32),
        y.astype(np.float32)[:, None],
        epochs=4,
        batch_size=16,
        validation_data=(((Xv - mean) / std).astype(np.float32), yv.astype(np.float32)[:, None]),
        progress=False,
        seed=7,
    )
    clf = MLPClassifier(hidden=(8,), lr=1e-2, weight_decay=1e-3, epochs=4, batch_size=16, seed=7)
    clf.fit(X, y, validation_data=(Xv, yv))
    np.testing.assert_array_equal(clf.history_["loss"], want["loss"])
    np.testing.assert_array_equal(clf.history_["val_loss"], want["val_loss"])
    np.testing.assert_array_equal(clf.x_mean_, mean)
    np.testing.assert_array_equal(clf.x_scale_, std)
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(clf.model_.state_dict()[name], p)


def _bce_with_logits(z, t):
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


def test_mlp_validation_loss_matches_numpy(rng):
    from deltagrad.models import MLPClassifier, MLPRegressor

    X, y = _blobs(rng, n=80)
    Xv, yv = _blobs(rng, n=40)
    labels, val_labels = np.array([-1, 5])[y], np.array([-1, 5])[yv]
    clf = MLPClassifier(hidden=(8,), epochs=3, lr=1e-2, seed=0)
    clf.fit(X, labels, validation_data=(Xv, val_labels))
    assert len(clf.history_["val_loss"]) == 3
    z = clf.decision_function(Xv)  # the weights of the last epoch, as its validation saw them
    assert_close(clf.history_["val_loss"][-1], _bce_with_logits(z, yv), rtol=1e-5, atol=1e-7)

    X3, y3 = _blobs(rng, n=90, k=3)
    Xv3, yv3 = _blobs(rng, n=30, k=3)
    clf = MLPClassifier(hidden=(8,), epochs=2, lr=1e-2, seed=0)
    clf.fit(X3, y3, validation_data=(Xv3, yv3))
    z = clf.decision_function(Xv3)
    z = z - z.max(axis=1, keepdims=True)
    ce = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(30), yv3]))
    assert_close(clf.history_["val_loss"][-1], ce, rtol=1e-5, atol=1e-7)

    Xr = rng.uniform(-1, 1, (60, 2))
    yr = 50 + 10 * Xr[:, 0]
    Xrv = rng.uniform(-1, 1, (20, 2))
    yrv = 50 + 10 * Xrv[:, 0]
    reg = MLPRegressor(hidden=(8,), epochs=3, lr=1e-2, seed=0)
    reg.fit(Xr, yr, validation_data=(Xrv, yrv[:, None]))
    mse = float(np.mean(((reg.predict(Xrv) - yrv) / reg.y_scale_) ** 2))  # standardized units
    assert_close(reg.history_["val_loss"][-1], mse, rtol=1e-5, atol=1e-7)


def test_mlp_new_parameters_are_checked(rng):
    from deltagrad.models import MLPClassifier, MLPRegressor

    X, y = _blobs(rng, n=20)
    clf = MLPClassifier(hidden=(4,), epochs=1, device="cpu", progress=False)
    assert {"device", "progress"} <= set(clf.get_params())
    with pytest.raises(ValueError, match="device"):
        MLPClassifier(device="tpu").fit(X, y)
    for bad in (dict(lr=math.inf), dict(lr=0.0), dict(weight_decay=math.nan)):
        with pytest.raises(ValueError, match="lr|weight_decay"):
            MLPRegressor(epochs=1, **bad).fit(X, y)
    with pytest.raises(ValueError, match="not seen"):
        clf.fit(X, y, validation_data=(X, y + 7))
    with pytest.raises(ValueError, match="features"):
        clf.fit(X, y, validation_data=(X[:, :2], y))
    with pytest.raises(ValueError, match="validation_data: y must have shape"):
        MLPRegressor(epochs=1).fit(X, y, validation_data=(X, y[:3]))
