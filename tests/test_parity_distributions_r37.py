"""dg.distributions against torch.distributions 2.13 (round 37): log_prob / cdf / icdf /
entropy / moments and their gradients in float64 on given values, reparameterized sample
gradients, sample moments (loose), expand, enumerate_support, validation errors and every
registered kl_divergence pair."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.distributions as D

torch = pytest.importorskip("torch")
T = torch.distributions

TOL = {"rtol": 1e-10, "atol": 1e-10}
try:  # Gamma and Beta need scipy (not a required dependency)
    import scipy  # noqa: F401

    _NO_SCIPY = False
except ImportError:
    _NO_SCIPY = True


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.numpy() if isinstance(x, dg.Tensor) else x)


def _close(a, b, **kw):
    np.testing.assert_allclose(_np(a), _np(b), **(kw or TOL))


def _pair(arr, grad=True):
    arr = np.asarray(arr, dtype=np.float64)
    return (
        dg.tensor(arr.copy(), dtype=dg.float64, requires_grad=grad),
        torch.tensor(arr.copy(), dtype=torch.float64, requires_grad=grad),
    )


def _grads(dg_ts, t_ts):
    for a, b in zip(dg_ts, t_ts):
        if b.grad is None:
            assert a.grad is None or not np.any(a.grad)
        else:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), **TOL)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- univariate families: values and gradients --------------------------------------------

r0 = _rng(1)
_SHAPE = (3, 5)
_LOC = r0.normal(size=_SHAPE) * 2
_SCALE = r0.uniform(0.3, 2.5, _SHAPE)
_RATE = r0.uniform(0.3, 2.5, _SHAPE)
_LOW = r0.normal(size=_SHAPE)
_HIGH = _LOW + r0.uniform(0.5, 3, _SHAPE)

# name -> (params, dg ctor, torch ctor, value inside the support, probability for icdf)
_UNIVARIATE = {
    "Normal": ((_LOC, _SCALE), D.Normal, T.Normal, r0.normal(size=(2, *_SHAPE)) * 3),
    "Laplace": ((_LOC, _SCALE), D.Laplace, T.Laplace, r0.normal(size=(2, *_SHAPE)) * 3),
    "Exponential": ((_RATE,), D.Exponential, T.Exponential, r0.uniform(0.01, 4, (2, *_SHAPE))),
    "Uniform": (
        (_LOW, _HIGH),
        D.Uniform,
        T.Uniform,
        _LOW + (_HIGH - _LOW) * r0.uniform(0.01, 0.99, (2, *_SHAPE)),
    ),
}


@pytest.mark.parametrize("name", list(_UNIVARIATE))
def test_univariate_values_and_gradients(name):
    params, dctor, tctor, value = _UNIVARIATE[name]
    pairs = [_pair(p) for p in params]
    dps, tps = [p[0] for p in pairs], [p[1] for p in pairs]
    dv, tv = _pair(value)
    d, t = dctor(*dps), tctor(*tps)
    assert d.batch_shape == tuple(t.batch_shape) and d.event_shape == tuple(t.event_shape)
    assert d.has_rsample == t.has_rsample
    q = np.clip(r0.uniform(0.02, 0.98, _SHAPE), 0, 1)
    dq, tq = _pair(q)
    outs = {
        "log_prob": (d.log_prob(dv), t.log_prob(tv)),
        "cdf": (d.cdf(dv), t.cdf(tv)),
        "icdf": (d.icdf(dq), t.icdf(tq)),
        "entropy": (d.entropy(), t.entropy()),
        "mean": (d.mean, t.mean),
        "stddev": (d.stddev, t.stddev),
        "variance": (d.variance, t.variance),
        "perplexity": (d.perplexity(), t.perplexity()),
    }
    dl, tl = 0, 0
    for i, (k, (a, b)) in enumerate(outs.items()):
        _close(a, b)
        assert a.shape == tuple(b.shape), k
        w = np.linspace(0.5, 1.5, b.numel()).reshape(b.shape) * (i + 1)
        dl = dl + (a * dg.tensor(w)).sum()
        tl = tl + (b * torch.tensor(w)).sum()
    dl.backward()
    tl.backward()
    _grads([*dps, dv, dq], [*tps, tv, tq])
    if name != "Uniform":
        _close(d.mode, t.mode)
    else:
        assert np.isnan(d.mode.numpy()).all() and d.mode.shape == _SHAPE


def test_normal_extremes_and_no_validation():
    d = D.Normal(dg.tensor([0.0, 1.0, -2.0], dtype=dg.float64), 1e-150, validate_args=False)
    t = T.Normal(torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64), 1e-150, validate_args=False)
    v = np.array([math.inf, -math.inf, math.nan])
    _close(d.log_prob(dg.tensor(v)), t.log_prob(torch.tensor(v)))
    _close(d.cdf(dg.tensor(v)), t.cdf(torch.tensor(v)))
    big = np.array([1e200, -1e200, 3.0])
    _close(d.log_prob(dg.tensor(big)), t.log_prob(torch.tensor(big)))
    p = np.array([0.0, 1.0, 0.5])
    _close(d.icdf(dg.tensor(p)), t.icdf(torch.tensor(p)))
    e = D.Exponential(dg.tensor([1e-300, 1e300], dtype=dg.float64), validate_args=False)
    te = T.Exponential(torch.tensor([1e-300, 1e300], dtype=torch.float64), validate_args=False)
    _close(e.entropy(), te.entropy())
    _close(e.mode, te.mode)


def test_python_number_parameters_and_float32():
    d, t = D.Normal(0.5, 2.0), T.Normal(0.5, 2.0)
    assert d.batch_shape == () and d.loc.dtype == dg.float32 and repr(d) == repr(t)
    v = np.array([0.3, -1.7], np.float32)
    np.testing.assert_allclose(
        d.log_prob(dg.tensor(v)).numpy(), t.log_prob(torch.tensor(v)).numpy(), rtol=1e-5
    )
    d = D.Laplace(dg.tensor(_LOC.astype(np.float32)), 1.5)
    t = T.Laplace(torch.tensor(_LOC.astype(np.float32)), 1.5)
    assert d.scale.dtype == dg.float32 and d.batch_shape == _SHAPE
    np.testing.assert_allclose(d.entropy().numpy(), t.entropy().numpy(), rtol=1e-5)
    assert d.rsample((2,)).dtype == dg.float32


def test_size0_and_size1_batches():
    for shape in [(0,), (1,), (2, 0, 3)]:
        loc, scale = np.ones(shape), np.full(shape, 2.0)
        d = D.Normal(dg.tensor(loc), dg.tensor(scale))
        t = T.Normal(torch.tensor(loc), torch.tensor(scale))
        assert d.batch_shape == tuple(t.batch_shape)
        assert d.sample((4,)).shape == tuple(t.sample((4,)).shape)
        _close(d.entropy(), t.entropy())
        c = D.Categorical(logits=dg.tensor(np.ones((*shape, 3))))
        # torch's own argument check fails to reshape a size-0 batch: compared unchecked
        tc = T.Categorical(logits=torch.tensor(np.ones((*shape, 3))), validate_args=False)
        assert c.batch_shape == tuple(tc.batch_shape)
        assert c.sample((2,)).shape == tuple(tc.sample((2,)).shape)


# ---- reparameterized samples: gradients, and moments --------------------------------------


def test_rsample_gradients_flow_to_parameters():
    dg.manual_seed(3)
    loc, scale = _pair(_LOC)[0], _pair(_SCALE)[0]
    s = D.Normal(loc, scale).rsample((4,))
    assert s.shape == (4, *_SHAPE) and s.requires_grad
    s.sum().backward()
    _close(loc.grad, np.full(_SHAPE, 4.0))
    _close(scale.grad, ((s.numpy() - _LOC) / _SCALE).sum(0))
    loc, scale = _pair(_LOC)[0], _pair(_SCALE)[0]
    s = D.Laplace(loc, scale).rsample()
    s.sum().backward()
    _close(scale.grad, (s.numpy() - _LOC) / _SCALE)
    rate = _pair(_RATE)[0]
    s = D.Exponential(rate).rsample()
    s.sum().backward()
    _close(rate.grad, -s.numpy() / _RATE)
    low, high = _pair(_LOW)[0], _pair(_HIGH)[0]
    s = D.Uniform(low, high).rsample()
    s.sum().backward()
    u = (s.numpy() - _LOW) / (_HIGH - _LOW)
    _close(low.grad, 1 - u)
    _close(high.grad, u)
    assert not D.Normal(loc, scale).sample().requires_grad


@pytest.mark.parametrize(
    "name,ctor,mean,var",
    [
        ("Normal", lambda: D.Normal(dg.tensor([1.5, -2.0]), dg.tensor([0.5, 2.0])), None, None),
        ("Laplace", lambda: D.Laplace(dg.tensor([1.5, -2.0]), dg.tensor([0.5, 2.0])), None, None),
        ("Exponential", lambda: D.Exponential(dg.tensor([0.5, 3.0])), None, None),
        ("Uniform", lambda: D.Uniform(dg.tensor([-1.0, 2.0]), dg.tensor([3.0, 2.5])), None, None),
        ("Bernoulli", lambda: D.Bernoulli(dg.tensor([0.2, 0.9])), None, None),
        pytest.param(
            "Gamma",
            lambda: D.Gamma(dg.tensor([0.3, 4.0]), dg.tensor([1.0, 2.5])),
            None,
            None,
            marks=pytest.mark.skipif(_NO_SCIPY, reason="needs scipy"),
        ),
        pytest.param(
            "Beta",
            lambda: D.Beta(dg.tensor([0.4, 5.0]), dg.tensor([2.0, 0.7])),
            None,
            None,
            marks=pytest.mark.skipif(_NO_SCIPY, reason="needs scipy"),
        ),
        (
            "MultivariateNormal",
            lambda: D.MultivariateNormal(
                dg.tensor([1.0, -1.0]), dg.tensor([[2.0, 0.6], [0.6, 0.5]])
            ),
            None,
            None,
        ),
    ],
)
def test_sample_moments(name, ctor, mean, var):
    dg.manual_seed(0)
    d = ctor()
    s = d.sample((40000,)).numpy().astype(np.float64)
    tol = 0.05 * (1 + d.stddev.numpy().max())
    np.testing.assert_allclose(s.mean(0), d.mean.numpy(), atol=tol)
    np.testing.assert_allclose(s.var(0), d.variance.numpy(), rtol=0.06, atol=1e-3)
    if name == "MultivariateNormal":
        np.testing.assert_allclose(np.cov(s.T), d.covariance_matrix.numpy(), atol=0.06)
    if name == "Uniform":
        assert (s >= d.low.numpy()).all() and (s < d.high.numpy()).all()
    if name == "Exponential":
        assert (s >= 0).all()


def test_categorical_sample_frequencies():
    dg.manual_seed(1)
    p = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]])
    c = D.Categorical(probs=dg.tensor(p))
    s = c.sample((30000,)).numpy()
    assert s.dtype == np.int64 and s.shape == (30000, 2)
    for b in range(2):
        np.testing.assert_allclose(np.bincount(s[:, b], minlength=4) / 30000, p[b], atol=0.015)
    oh = D.OneHotCategorical(probs=dg.tensor(p)).sample((5000,)).numpy()
    assert oh.shape == (5000, 2, 4) and (oh.sum(-1) == 1).all() and oh[:, 0, 1].sum() == 0


# ---- discrete families -------------------------------------------------------------------


@pytest.mark.parametrize("param", ["probs", "logits"])
def test_bernoulli(param):
    r = _rng(4)
    x = r.uniform(0.05, 0.95, (4, 3)) if param == "probs" else r.normal(size=(4, 3)) * 3
    dx, tx = _pair(x)
    d, t = D.Bernoulli(**{param: dx}), T.Bernoulli(**{param: tx})
    v = (r.uniform(size=(2, 4, 3)) < 0.5).astype(np.float64)
    dv, tv = _pair(v)
    outs = [
        (d.log_prob(dv), t.log_prob(tv)),
        (d.entropy(), t.entropy()),
        (d.mean, t.mean),
        (d.variance, t.variance),
        (d.probs, t.probs),
        (d.logits, t.logits),
    ]
    dl, tl = 0, 0
    for i, (a, b) in enumerate(outs):
        _close(a, b)
        dl, tl = dl + (a * (i + 1.5)).sum(), tl + (b * (i + 1.5)).sum()
    dl.backward()
    tl.backward()
    _grads([dx, dv], [tx, tv])
    assert d.param_shape == tuple(t.param_shape)
    _close(d.enumerate_support(), t.enumerate_support())
    _close(d.enumerate_support(False), t.enumerate_support(False))
    s = d.sample((3,))
    assert s.shape == (3, 4, 3) and s.dtype == dg.float64
    m = D.Bernoulli(dg.tensor([0.5, 0.2, 0.7, 0.0])).mode.numpy()
    _close(m, T.Bernoulli(torch.tensor([0.5, 0.2, 0.7, 0.0])).mode)


@pytest.mark.parametrize("param", ["probs", "logits"])
@pytest.mark.parametrize("onehot", [False, True])
def test_categorical_and_one_hot(param, onehot):
    r = _rng(5)
    k = 5
    x = r.uniform(0.05, 2, (2, 3, k)) if param == "probs" else r.normal(size=(2, 3, k)) * 3
    dx, tx = _pair(x)
    dc, tcls = (
        (D.OneHotCategorical, T.OneHotCategorical) if onehot else (D.Categorical, T.Categorical)
    )
    if param == "probs":  # OneHotCategorical's probs must lie on the simplex
        dx2, tx2 = dx / dx.sum(-1, keepdim=True), tx / tx.sum(-1, keepdim=True)
    else:
        dx2, tx2 = dx, tx
    d, t = dc(**{param: dx2}), tcls(**{param: tx2})
    assert d.batch_shape == tuple(t.batch_shape) and d.event_shape == tuple(t.event_shape)
    idx = r.integers(0, k, (4, 2, 3))
    if onehot:
        v = np.eye(k)[idx]
        dv, tv = dg.tensor(v), torch.tensor(v)
    else:
        dv, tv = dg.tensor(idx), torch.tensor(idx)
    outs = [
        (d.log_prob(dv), t.log_prob(tv)),
        (d.entropy(), t.entropy()),
        (d.probs, t.probs),
        (d.logits, t.logits),
    ]
    if onehot:
        outs += [(d.mean, t.mean), (d.variance, t.variance)]
    dl, tl = 0, 0
    for i, (a, b) in enumerate(outs):
        _close(a, b)
        assert a.shape == tuple(b.shape)
        dl, tl = dl + (a * (i + 0.5)).sum(), tl + (b * (i + 0.5)).sum()
    dl.backward()
    tl.backward()
    _grads([dx], [tx])
    _close(d.mode, t.mode)
    if not onehot:
        assert np.isnan(d.mean.numpy()).all() and d.mean.shape == tuple(t.mean.shape)
        assert d.variance.shape == tuple(t.variance.shape)
    _close(d.enumerate_support(), t.enumerate_support())
    _close(d.enumerate_support(False), t.enumerate_support(False))
    assert d.sample((7,)).shape == tuple(t.sample((7,)).shape)


def test_categorical_zero_probability_entropy():
    p = np.array([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    d, t = D.Categorical(dg.tensor(p)), T.Categorical(torch.tensor(p))
    _close(d.entropy(), t.entropy())
    _close(d.logits, t.logits)


# ---- MultivariateNormal ------------------------------------------------------------------


def _spd(r, batch, n):
    a = r.normal(size=(*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize("kind", ["covariance_matrix", "precision_matrix", "scale_tril"])
@pytest.mark.parametrize("batch", [(), (2,), (3, 1)])
def test_multivariate_normal(kind, batch):
    r = _rng(6)
    n = 3
    m = _spd(r, batch, n)
    if kind == "scale_tril":
        m = np.linalg.cholesky(m)
    loc = r.normal(size=(2, n))  # broadcasts against the matrix's batch
    dl_, tl_ = _pair(loc)
    dm, tm = _pair(m)
    d = D.MultivariateNormal(dl_, **{kind: dm})
    t = T.MultivariateNormal(tl_, **{kind: tm})
    assert d.batch_shape == tuple(t.batch_shape) and d.event_shape == tuple(t.event_shape)
    v = r.normal(size=(4, *t.batch_shape, n))
    dv, tv = _pair(v)
    outs = [
        (d.log_prob(dv), t.log_prob(tv)),
        (d.entropy(), t.entropy()),
        (d.mean, t.mean),
        (d.variance, t.variance),
        (d.covariance_matrix, t.covariance_matrix),
        (d.precision_matrix, t.precision_matrix),
        (d.scale_tril, t.scale_tril),
    ]
    dl, tl = 0, 0
    for i, (a, b) in enumerate(outs):
        _close(a, b, rtol=1e-9, atol=1e-10)
        assert a.shape == tuple(b.shape)
        dl, tl = dl + (a * (i + 0.5)).sum(), tl + (b * (i + 0.5)).sum()
    dl.backward()
    tl.backward()
    for a, b in [(dl_, tl_), (dv, tv)]:
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-10)
    if kind == "scale_tril":  # only the lower triangle is a parameter (see the module doc)
        np.testing.assert_allclose(
            np.tril(dm.grad), np.tril(tm.grad.numpy()), rtol=1e-9, atol=1e-10
        )
    else:  # only the symmetric part is defined: compare the gradients' symmetrizations
        sym = lambda g: (g + np.swapaxes(g, -1, -2)) / 2  # noqa: E731
        np.testing.assert_allclose(sym(dm.grad), sym(tm.grad.numpy()), rtol=1e-9, atol=1e-10)
    s = d.rsample((5,))
    assert s.shape == (5, *t.batch_shape, n)


def test_multivariate_normal_gradcheck():
    r = _rng(7)
    cov = dg.tensor(_spd(r, (), 3), requires_grad=True)
    loc = dg.tensor(r.normal(size=3), requires_grad=True)
    v = dg.tensor(r.normal(size=(2, 3)))

    def f(loc, cov):
        c = (cov + cov.mT) / 2  # gradcheck perturbs entries one at a time
        return D.MultivariateNormal(loc, c).log_prob(v)

    assert dg.gradcheck(f, (loc, cov))


def test_multivariate_normal_rsample_gradient():
    dg.manual_seed(2)
    loc = dg.tensor([1.0, 2.0], dtype=dg.float64, requires_grad=True)
    low = dg.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=dg.float64, requires_grad=True)
    s = D.MultivariateNormal(loc, scale_tril=low).rsample((3,))
    s.sum().backward()
    _close(loc.grad, [3.0, 3.0])
    eps = np.linalg.solve(low.numpy(), (s.numpy() - loc.numpy()).T).T
    _close(low.grad, np.ones((2, 1)) * eps.sum(0)[None, :])  # d(L @ eps)/dL: all of L


# ---- Independent, expand -----------------------------------------------------------------


def test_independent():
    dloc, tloc = _pair(_LOC)
    dsc, tsc = _pair(_SCALE)
    d = D.Independent(D.Normal(dloc, dsc), 1)
    t = T.Independent(T.Normal(tloc, tsc), 1)
    assert d.batch_shape == (3,) and d.event_shape == (5,) and d.has_rsample
    v = r0.normal(size=(2, 3, 5))
    _close(d.log_prob(dg.tensor(v)), t.log_prob(torch.tensor(v)))
    (d.log_prob(dg.tensor(v)).sum() + d.entropy().sum()).backward()
    (t.log_prob(torch.tensor(v)).sum() + t.entropy().sum()).backward()
    _grads([dloc, dsc], [tloc, tsc])
    assert repr(d) == repr(t).replace("torch.Size([3, 5])", "(3, 5)")
    assert repr(d.support) == repr(t.support)
    e = d.expand((4, 3))
    te = t.expand((4, 3))
    assert e.batch_shape == tuple(te.batch_shape) and e.event_shape == tuple(te.event_shape)
    _close(e.log_prob(dg.tensor(v[0])), te.log_prob(torch.tensor(v[0])))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims <= "):
        D.Independent(D.Normal(dloc, dsc), 3)
    with pytest.raises(NotImplementedError, match="cartesian"):
        D.Independent(D.Bernoulli(dg.tensor([[0.3]])), 1).enumerate_support()


def test_expand():
    cases = [
        (D.Normal(dg.tensor([0.0, 1.0]), 2.0), T.Normal(torch.tensor([0.0, 1.0]), 2.0)),
        (D.Uniform(0.0, dg.tensor([1.0])), T.Uniform(0.0, torch.tensor([1.0]))),
        (D.Exponential(dg.tensor([2.0])), T.Exponential(torch.tensor([2.0]))),
        (D.Laplace(dg.tensor([1.0]), 3.0), T.Laplace(torch.tensor([1.0]), 3.0)),
        (D.Bernoulli(logits=dg.tensor([0.3])), T.Bernoulli(logits=torch.tensor([0.3]))),
        (
            D.Categorical(dg.tensor([[0.2, 0.8]])),
            T.Categorical(torch.tensor([[0.2, 0.8]])),
        ),
        (
            D.OneHotCategorical(dg.tensor([[0.2, 0.8]])),
            T.OneHotCategorical(torch.tensor([[0.2, 0.8]])),
        ),
        (
            D.MultivariateNormal(dg.tensor([0.0, 1.0]), dg.eye(2)),
            T.MultivariateNormal(torch.tensor([0.0, 1.0]), torch.eye(2)),
        ),
    ]
    for d, t in cases:
        shape = (3, 2) if d.batch_shape == (2,) else (4, 1) if d.batch_shape == () else (5, 1)
        e, te = d.expand(shape), t.expand(shape)
        assert e.batch_shape == tuple(te.batch_shape), type(d)
        assert e.event_shape == tuple(te.event_shape)
        assert type(e) is type(d) and e._validate_args == d._validate_args
        np.testing.assert_allclose(e.entropy().numpy(), te.entropy().numpy(), rtol=1e-6)
        assert e.sample((2,)).shape == tuple(te.sample((2,)).shape)


# ---- validation --------------------------------------------------------------------------


def _msg(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def _normalize(msg):
    """torch.Size([2, 3]) -> (2, 3); a tensor's printed values -> tensor(...) (numpy's and
    torch's number formatting differ; the message around them must not)."""
    msg = re.sub(r"torch\.Size\(\[(\d+)\]\)", r"(\1,)", msg)
    msg = re.sub(r"torch\.Size\(\[([\d, ]*)\]\)", r"(\1)", msg)
    return re.sub(r"tensor\([^)]*\)", "tensor(...)", msg)


def _same_error(dfn, tfn):
    dt, dm = _msg(dfn)
    tt, tm = _msg(tfn)
    assert issubclass(dt, tt) and _normalize(dm) == _normalize(tm), (dm, tm)


def test_parameter_validation_messages():
    _same_error(
        lambda: D.Normal(dg.tensor([0.0, 1.0]), dg.tensor([1.0, -1.0])),
        lambda: T.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, -1.0])),
    )
    _same_error(lambda: D.Bernoulli(dg.tensor([1.5])), lambda: T.Bernoulli(torch.tensor([1.5])))
    _same_error(lambda: D.Exponential(0.0), lambda: T.Exponential(0.0))
    _same_error(lambda: D.Laplace(math.nan, 1.0), lambda: T.Laplace(math.nan, 1.0))
    _same_error(lambda: D.Uniform(1.0, 1.0), lambda: T.Uniform(1.0, 1.0))
    _same_error(
        lambda: D.Categorical(dg.tensor([0.5, -0.1])),
        lambda: T.Categorical(torch.tensor([0.5, -0.1])),
    )
    _same_error(lambda: D.Categorical(dg.tensor(1.0)), lambda: T.Categorical(torch.tensor(1.0)))
    _same_error(
        lambda: D.Categorical(logits=dg.tensor(1.0)),
        lambda: T.Categorical(logits=torch.tensor(1.0)),
    )
    for cls in ("Bernoulli", "Categorical", "OneHotCategorical"):
        _same_error(lambda c=cls: getattr(D, c)(), lambda c=cls: getattr(T, c)())
        _same_error(
            lambda c=cls: getattr(D, c)(dg.tensor([0.5]), dg.tensor([0.5])),
            lambda c=cls: getattr(T, c)(torch.tensor([0.5]), torch.tensor([0.5])),
        )
    _same_error(
        lambda: D.MultivariateNormal(dg.tensor(1.0), dg.eye(1)),
        lambda: T.MultivariateNormal(torch.tensor(1.0), torch.eye(1)),
    )
    _same_error(
        lambda: D.MultivariateNormal(dg.zeros(2)),
        lambda: T.MultivariateNormal(torch.zeros(2)),
    )
    _same_error(
        lambda: D.MultivariateNormal(dg.zeros(2), dg.eye(2), scale_tril=dg.eye(2)),
        lambda: T.MultivariateNormal(torch.zeros(2), torch.eye(2), scale_tril=torch.eye(2)),
    )
    for kw in ("covariance_matrix", "precision_matrix", "scale_tril"):
        _same_error(
            lambda k=kw: D.MultivariateNormal(dg.zeros(2), **{k: dg.ones(2)}),
            lambda k=kw: T.MultivariateNormal(torch.zeros(2), **{k: torch.ones(2)}),
        )
    _same_error(
        lambda: D.MultivariateNormal(dg.zeros(2), scale_tril=-dg.eye(2)),
        lambda: T.MultivariateNormal(torch.zeros(2), scale_tril=-torch.eye(2)),
    )
    not_pd = [[1.0, 2.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="covariance_matrix .*PositiveDefinite"):
        D.MultivariateNormal(dg.zeros(2), dg.tensor(not_pd))
    with pytest.raises(ValueError, match="square"):
        D.MultivariateNormal(dg.zeros(2), dg.eye(3))
    with pytest.raises(ValueError, match="not positive-definite"):
        D.MultivariateNormal(dg.zeros(2), dg.tensor(not_pd), validate_args=False)
    D.Normal(0.0, -1.0, validate_args=False)  # no check when validation is off
    with pytest.raises(ValueError, match="Input arguments must all be instances of Number"):
        D.Normal([0.0], 1.0)


def test_value_validation_messages():
    d, t = D.Normal(dg.zeros(3), 1.0), T.Normal(torch.zeros(3), 1.0)
    _same_error(lambda: d.log_prob(0.5), lambda: t.log_prob(0.5))
    _same_error(lambda: d.log_prob(dg.zeros(2)), lambda: t.log_prob(torch.zeros(2)))
    _same_error(
        lambda: d.log_prob(dg.tensor([math.nan, 0.0, 0.0])),
        lambda: t.log_prob(torch.tensor([math.nan, 0.0, 0.0])),
    )
    e, te = D.Exponential(dg.ones(2)), T.Exponential(torch.ones(2))
    _same_error(
        lambda: e.log_prob(dg.tensor([-1.0, 1.0])), lambda: te.log_prob(torch.tensor([-1.0, 1.0]))
    )
    c, tc = D.Categorical(dg.ones(3)), T.Categorical(torch.ones(3))
    _same_error(lambda: c.log_prob(dg.tensor([3])), lambda: tc.log_prob(torch.tensor([3])))
    m = D.MultivariateNormal(dg.zeros(2), dg.eye(2))
    tm = T.MultivariateNormal(torch.zeros(2), torch.eye(2))
    _same_error(lambda: m.log_prob(dg.zeros(3)), lambda: tm.log_prob(torch.zeros(3)))
    u, tu = D.Uniform(0.0, 1.0), T.Uniform(0.0, 1.0)
    _same_error(lambda: u.log_prob(dg.tensor(1.5)), lambda: tu.log_prob(torch.tensor(1.5)))
    # no validation: outside the support gives torch's values
    u = D.Uniform(0.0, 1.0, validate_args=False)
    tu = T.Uniform(0.0, 1.0, validate_args=False)
    v = np.array([-0.5, 0.5, 1.0], np.float32)
    _close(u.log_prob(dg.tensor(v)), tu.log_prob(torch.tensor(v)))
    _close(u.cdf(dg.tensor(v)), tu.cdf(torch.tensor(v)))


def test_sample_shape_errors():
    d = D.Normal(0.0, 1.0)
    with pytest.raises(TypeError, match="sample_shape"):
        d.sample(3)
    with pytest.raises(ValueError, match="sample_shape"):
        d.sample((-1,))


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(0.0, -1.0)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")


def test_constraints_reprs():
    names = [
        "real",
        "positive",
        "nonnegative",
        "unit_interval",
        "simplex",
        "boolean",
        "one_hot",
        "lower_cholesky",
        "positive_definite",
        "real_vector",
        "nonnegative_integer",
    ]
    for n in names:
        assert repr(getattr(D.constraints, n)) == repr(getattr(T.constraints, n)), n
    assert repr(D.constraints.integer_interval(0, 3)) == repr(T.constraints.integer_interval(0, 3))
    assert repr(D.Uniform(0.0, 1.0).support) == repr(T.Uniform(0.0, 1.0).support)


# ---- kl_divergence -----------------------------------------------------------------------


def _make(name, r, lib):
    mod = D if lib == "dg" else T
    ten = (
        (lambda a: dg.tensor(a, requires_grad=True))
        if lib == "dg"
        else (lambda a: torch.tensor(a, requires_grad=True))
    )
    shape = (2, 3)
    rr = np.random.default_rng(r)
    loc, scale = rr.normal(size=shape), rr.uniform(0.5, 2, shape)
    low = rr.normal(size=shape) - 0.5
    high = low + rr.uniform(1, 2, shape)
    if name == "Normal":
        args = [loc, scale]
    elif name == "Laplace":
        args = [loc, scale]
    elif name == "Exponential":
        args = [scale]
    elif name == "Uniform":
        args = [low, high]
    elif name == "Bernoulli":
        args = [rr.uniform(0.05, 0.95, shape)]
    elif name in ("Categorical", "OneHotCategorical"):
        p = rr.uniform(0.1, 1, (*shape, 4))
        args = [p / p.sum(-1, keepdims=True)]
    elif name == "Gamma":
        args = [rr.uniform(0.5, 3, shape), scale]
    elif name == "Beta":
        args = [rr.uniform(0.5, 3, shape), rr.uniform(0.5, 3, shape)]
    elif name == "MultivariateNormal":
        args = [loc, _spd(rr, (2,), 3)]
    ts = [ten(a) for a in args]
    return getattr(mod, name)(*ts), ts


_KL_PAIRS = [
    ("Bernoulli", "Bernoulli"),
    ("Categorical", "Categorical"),
    ("OneHotCategorical", "OneHotCategorical"),
    ("Exponential", "Exponential"),
    ("Laplace", "Laplace"),
    ("MultivariateNormal", "MultivariateNormal"),
    ("Normal", "Normal"),
    ("Uniform", "Uniform"),
    ("Exponential", "Uniform"),
    ("Exponential", "Normal"),
    ("Laplace", "Exponential"),
    ("Laplace", "Uniform"),
    ("Laplace", "Normal"),
    ("Normal", "Exponential"),
    ("Normal", "Uniform"),
    ("Normal", "Laplace"),
    ("Uniform", "Exponential"),
    ("Uniform", "Normal"),
    ("Beta", "Beta"),
    ("Gamma", "Gamma"),
    ("Beta", "Exponential"),
    ("Beta", "Gamma"),
    ("Beta", "Normal"),
    ("Beta", "Uniform"),
    ("Exponential", "Beta"),
    ("Exponential", "Gamma"),
    ("Gamma", "Beta"),
    ("Gamma", "Uniform"),
    ("Gamma", "Exponential"),
    ("Gamma", "Normal"),
    ("Laplace", "Beta"),
    ("Laplace", "Gamma"),
    ("Normal", "Beta"),
    ("Normal", "Gamma"),
    ("Uniform", "Beta"),
    ("Uniform", "Gamma"),
]


@pytest.mark.parametrize("pn,qn", _KL_PAIRS)
def test_kl_divergence(pn, qn):
    if {"Gamma", "Beta"} & {pn, qn}:
        pytest.importorskip("scipy")
    dp, dps = _make(pn, 1, "dg")
    dq, dqs = _make(qn, 2, "dg")
    tp, tps = _make(pn, 1, "torch")
    tq, tqs = _make(qn, 2, "torch")
    a, b = D.kl_divergence(dp, dq), T.kl_divergence(tp, tq)
    _close(a, b, rtol=1e-9, atol=1e-10)
    assert a.shape == tuple(b.shape)
    fin = np.isfinite(b.detach().numpy())
    if fin.any() and b.requires_grad:
        w = np.where(fin, np.arange(1, fin.size + 1).reshape(fin.shape), 0.0)
        (a.masked_fill(dg.tensor(~fin), 0.0) * dg.tensor(w)).sum().backward()
        (b.masked_fill(torch.tensor(~fin), 0.0) * torch.tensor(w)).sum().backward()
        for x, y in zip(dps + dqs, tps + tqs):
            if y.grad is None:
                continue
            gx, gy = np.asarray(x.grad), y.grad.numpy()
            if gy.ndim >= 2 and gy.shape[-1] == gy.shape[-2] == 3:  # MVN covariance
                gx, gy = gx + np.swapaxes(gx, -1, -2), gy + np.swapaxes(gy, -1, -2)
            # trigamma (digamma's derivative) in torch is off by up to ~4e-10 relative (scipy's
            # matches mpmath to 1e-16), and differences of such terms cancel: 1e-7 there
            gamma_fns = {"Gamma", "Beta"} & {pn, qn}
            tol = {"rtol": 1e-7, "atol": 1e-9} if gamma_fns else {"rtol": 1e-9, "atol": 1e-10}
            np.testing.assert_allclose(gx, gy, **tol)


def test_kl_support_mismatch_and_independent():
    p = np.array([0.0, 0.3, 1.0, 0.5])
    q = np.array([0.5, 0.0, 1.0, 1.0])
    _close(
        D.kl_divergence(D.Bernoulli(dg.tensor(p)), D.Bernoulli(dg.tensor(q))),
        T.kl_divergence(T.Bernoulli(torch.tensor(p)), T.Bernoulli(torch.tensor(q))),
    )
    pc = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    qc = np.array([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    _close(
        D.kl_divergence(D.Categorical(dg.tensor(pc)), D.Categorical(dg.tensor(qc))),
        T.kl_divergence(T.Categorical(torch.tensor(pc)), T.Categorical(torch.tensor(qc))),
    )
    u1, u2 = D.Uniform(0.0, 2.0), D.Uniform(dg.tensor([0.5, -1.0]), dg.tensor([3.0, 3.0]))
    tu1, tu2 = T.Uniform(0.0, 2.0), T.Uniform(torch.tensor([0.5, -1.0]), torch.tensor([3.0, 3.0]))
    _close(D.kl_divergence(u1, u2), T.kl_divergence(tu1, tu2))
    ue = D.Uniform(dg.tensor([-1.0, 1.0]), 3.0)
    tue = T.Uniform(torch.tensor([-1.0, 1.0]), 3.0)
    _close(D.kl_divergence(ue, D.Exponential(2.0)), T.kl_divergence(tue, T.Exponential(2.0)))
    i1 = D.Independent(D.Normal(dg.zeros(2, 3), 1.0), 1)
    i2 = D.Independent(D.Normal(dg.ones(2, 3), 2.0), 1)
    t1 = T.Independent(T.Normal(torch.zeros(2, 3), 1.0), 1)
    t2 = T.Independent(T.Normal(torch.ones(2, 3), 2.0), 1)
    _close(D.kl_divergence(i1, i2), T.kl_divergence(t1, t2), rtol=1e-6)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(i1, D.Independent(D.Normal(dg.ones(2, 3), 2.0), 2))


def test_kl_not_implemented_and_register_kl():
    _same_error(
        lambda: D.kl_divergence(D.Bernoulli(0.3), D.Laplace(0.0, 1.0)),
        lambda: T.kl_divergence(T.Bernoulli(0.3), T.Laplace(0.0, 1.0)),
    )

    class MyNormal(D.Normal):
        pass

    # a subclass dispatches to its base's pair until a more specific one is registered
    _close(
        D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)),
        D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)),
    )

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return dg.tensor(42.0)

    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)).item() == 42.0
    with pytest.raises(TypeError, match="type_p"):
        D.register_kl(int, D.Normal)
    from deltagrad.distributions import kl as _klmod

    del _klmod._KL_REGISTRY[MyNormal, D.Normal]
    _klmod._KL_MEMOIZE.clear()


def test_lazy_module_and_names():
    assert dg.distributions is D
    assert "distributions" in dg.__all__
    for n in D.__all__:
        assert hasattr(T, n), n


def test_kl_ambiguous_dispatch_warns():
    from deltagrad.distributions import kl as _klmod

    class A(D.Normal):
        pass

    class B(D.Normal):
        pass

    D.register_kl(A, D.Normal)(lambda p, q: 1)
    D.register_kl(D.Normal, B)(lambda p, q: 2)
    try:
        with pytest.warns(RuntimeWarning, match=r"Please register_kl\(A, B\)"):
            assert D.kl_divergence(A(0.0, 1.0), B(0.0, 1.0)) == 1
    finally:
        del _klmod._KL_REGISTRY[A, D.Normal], _klmod._KL_REGISTRY[D.Normal, B]
        _klmod._KL_MEMOIZE.clear()


@pytest.mark.parametrize(
    "ctor",
    [
        lambda m: m.Normal(0.0, 1.0),
        lambda m: m.Laplace(0.0, 1.0),
        lambda m: m.Exponential(1.0),
        lambda m: m.Uniform(0.0, 1.0),
        lambda m: m.Bernoulli(0.3),
        lambda m: m.Categorical(logits=(dg if m is D else torch).ones(3)),
        lambda m: m.OneHotCategorical(logits=(dg if m is D else torch).ones(3)),
        lambda m: m.MultivariateNormal(
            (dg if m is D else torch).zeros(2), (dg if m is D else torch).eye(2)
        ),
    ],
)
def test_unbatched_sample_shapes_and_dtypes(ctor):
    d, t = ctor(D), ctor(T)
    for shape in [(), (0,), (2, 1)]:
        s = d.sample(shape)
        if 0 in shape:  # torch's Categorical cannot draw 0 samples; its value check fails
            assert s.shape == shape + d.event_shape and d.log_prob(s).shape == shape
            continue
        ts = t.sample(shape)
        assert s.shape == tuple(ts.shape) and str(s.dtype) == str(ts.dtype).split(".")[1]
        assert d.log_prob(s).shape == tuple(t.log_prob(ts).shape)


# ---- Gamma and Beta ----------------------------------------------------------------------

_CONC = r0.uniform(0.2, 4.0, _SHAPE)
_CONC0 = r0.uniform(0.2, 4.0, _SHAPE)


@pytest.mark.parametrize("name", ["Gamma", "Beta"])
def test_gamma_beta_values_and_gradients(name):
    pytest.importorskip("scipy")
    second = _RATE if name == "Gamma" else _CONC0
    (da, ta), (db, tb) = _pair(_CONC), _pair(second)
    d, t = getattr(D, name)(da, db), getattr(T, name)(ta, tb)
    assert d.batch_shape == tuple(t.batch_shape) and d.has_rsample
    r = _rng(9)
    v = r.uniform(0.01, 3, (2, *_SHAPE)) if name == "Gamma" else r.uniform(0.01, 0.99, (2, *_SHAPE))
    dv, tv = _pair(v)
    outs = [
        (d.log_prob(dv), t.log_prob(tv)),
        (d.entropy(), t.entropy()),
        (d.mean, t.mean),
        (d.mode, t.mode),
        (d.variance, t.variance),
        (d.stddev, t.stddev),
    ]
    dl, tl = 0, 0
    for i, (a, b) in enumerate(outs):
        _close(a, b, rtol=1e-9, atol=1e-10)
        w = np.linspace(0.5, 1.5, b.numel()).reshape(b.shape) * (i + 1)
        dl, tl = dl + (a * dg.tensor(w)).sum(), tl + (b * torch.tensor(w)).sum()
    dl.backward()
    tl.backward()
    for x, y in [(da, ta), (db, tb), (dv, tv)]:  # torch's trigamma: ~4e-10 relative error
        np.testing.assert_allclose(x.grad, y.grad.numpy(), rtol=1e-7, atol=1e-9)
    if name == "Gamma":  # cdf: gradient for the value and the rate (torch has none for a)
        g1, g2 = D.Gamma(dg.tensor(_CONC), db), T.Gamma(torch.tensor(_CONC), tb)
        dv.grad, tv.grad, db.grad, tb.grad = None, None, None, None
        _close(g1.cdf(dv), g2.cdf(tv), rtol=1e-9, atol=1e-12)
        g1.cdf(dv).sum().backward()
        g2.cdf(tv).sum().backward()
        _grads([dv, db], [tv, tb])
        with pytest.raises(NotImplementedError, match="gammainc"):
            d.cdf(dv).sum().backward()


def test_beta_mode_edge_cases():
    pytest.importorskip("scipy")
    a = np.array([0.5, 0.5, 2.0, 1.0, 3.0])
    b = np.array([0.5, 2.0, 0.5, 1.0, 1.0])
    _close(D.Beta(dg.tensor(a), dg.tensor(b)).mode, T.Beta(torch.tensor(a), torch.tensor(b)).mode)


def test_gamma_rsample_implicit_gradient():
    pytest.importorskip("scipy")
    dg.manual_seed(5)
    c, r = _pair(_CONC)[0], _pair(_RATE)[0]
    s = D.Gamma(c, r).rsample()
    s.sum().backward()
    x = torch.tensor(s.numpy() * _RATE)
    ref = torch._standard_gamma_grad(torch.tensor(_CONC), x).numpy() / _RATE
    np.testing.assert_allclose(c.grad, ref, rtol=1e-3)  # torch's is itself an approximation
    _close(r.grad, -s.numpy() / _RATE)


@pytest.mark.parametrize("name", ["Gamma", "Beta"])
def test_reparameterized_gradient_is_unbiased(name):
    """The mean of d sample / d parameter over many draws is d mean / d parameter."""
    pytest.importorskip("scipy")
    dg.manual_seed(6)
    a = dg.tensor([0.4, 2.5], dtype=dg.float64, requires_grad=True)
    b = dg.tensor([1.5, 0.8], dtype=dg.float64, requires_grad=True)
    d = getattr(D, name)(a, b)
    d.rsample((40000,)).mean(0).sum().backward()
    ta = torch.tensor([0.4, 2.5], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([1.5, 0.8], dtype=torch.float64, requires_grad=True)
    getattr(T, name)(ta, tb).mean.sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=0.05, atol=0.01)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=0.05, atol=0.01)


def test_gamma_beta_validation_and_expand():
    pytest.importorskip("scipy")
    _same_error(lambda: D.Gamma(0.0, 1.0), lambda: T.Gamma(0.0, 1.0))
    # torch reports this through its internal Dirichlet ("concentration"); named here
    with pytest.raises(ValueError, match="Expected parameter concentration0 .* GreaterThan"):
        D.Beta(1.0, -1.0)
    with pytest.raises(ValueError):
        T.Beta(1.0, -1.0)
    _same_error(
        lambda: D.Beta(2.0, 2.0).log_prob(dg.tensor(1.5)),
        lambda: T.Beta(2.0, 2.0).log_prob(torch.tensor(1.5)),
    )
    for name in ("Gamma", "Beta"):
        d = getattr(D, name)(dg.tensor([1.0, 2.0]), 3.0).expand((4, 2))
        t = getattr(T, name)(torch.tensor([1.0, 2.0]), 3.0).expand((4, 2))
        assert d.batch_shape == tuple(t.batch_shape)
        np.testing.assert_allclose(d.entropy().numpy(), t.entropy().numpy(), rtol=1e-5)
        assert d.sample((3,)).shape == tuple(t.sample((3,)).shape)
