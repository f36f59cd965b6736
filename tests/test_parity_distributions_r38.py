"""dg.distributions against torch.distributions 2.13 (round 38): the generic expand mechanism,
Poisson, Binomial, Geometric, NegativeBinomial, Dirichlet, Cauchy, Gumbel, HalfNormal,
HalfCauchy, StudentT, Chi2, LogNormal, Weibull, Pareto, transforms and
TransformedDistribution, and the kl_divergence pairs torch registers among them. float64 to
1e-10: log_prob / cdf / icdf / entropy / moments and their gradients (parameters and value),
support boundaries, validation errors, broadcasting, expand, sample shapes and moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.distributions as D

torch = pytest.importorskip("torch")
T = torch.distributions
pytest.importorskip("scipy")  # lgamma / digamma / standard_gamma (until _special drops it)

TOL = {"rtol": 1e-10, "atol": 1e-10}


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


# torch's trigamma (polygamma(1, x), the gradient of digamma) is itself off by up to ~1e-9
# relative in float64 (scipy's agrees with mpmath to 1e-15): gradients through digamma get this
PSI_TOL = {"rtol": 1e-8, "atol": 1e-9}


def _grads(dg_ts, t_ts, tol=None):
    for a, b in zip(dg_ts, t_ts):
        if b.grad is None:
            assert a.grad is None or not np.any(_np(a.grad))
        else:
            np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), **(tol or TOL))


r0 = np.random.default_rng(38)
# batch broadcasting: the first parameter is (3, 1), the others (4,) -> batch (3, 4)
_A = r0.uniform(0.6, 2.5, (3, 1))
_B = r0.uniform(0.6, 2.5, (4,))
_C = r0.uniform(0.6, 2.5, (4,))
_LOC = r0.normal(size=(4,))
_P = r0.uniform(0.1, 0.9, (4,))
_N = np.array([[2.0], [5.0], [7.0]])
_INT = r0.integers(0, 6, (2, 3, 4)).astype(np.float64)
_POS = r0.uniform(0.05, 4.0, (2, 3, 4))
_REAL = r0.normal(size=(2, 3, 4)) * 2
_U = r0.uniform(0.02, 0.98, (2, 3, 4))

# name -> (params, value, has cdf/icdf, value differentiable in torch)
_FAMILIES = {
    "Poisson": ((_A,), _INT, False),
    "Binomial": ((_N, _P), np.minimum(_INT, 2.0), False),
    "Geometric": ((_P,), _INT, False),
    "NegativeBinomial": ((_A, _P), _INT, False),
    "Cauchy": ((_LOC, _A), _REAL, True),
    "Gumbel": ((_LOC[None].repeat(3, 0), _B), _REAL, True),
    "HalfNormal": ((_A * _B,), _POS, True),
    "HalfCauchy": ((_A * _B,), _POS, True),
    "StudentT": ((_A, _LOC, _B), _REAL, False),
    "Chi2": ((_A * _B,), _POS, True),
    "LogNormal": ((_LOC[None] + _A, _B), _POS, True),
    "Weibull": ((_A, _B), _POS, True),
    "Pareto": ((_A * 0.1, _B), _POS + 0.3, True),
}
_DISCRETE = {"Poisson", "Binomial", "Geometric", "NegativeBinomial"}


def _make(name, params, grad=True, value=None):
    pairs = [_pair(p, grad) for p in params]
    dg_p, t_p = [a for a, _ in pairs], [b for _, b in pairs]
    kw_d, kw_t = {}, {}
    if name in ("Binomial", "NegativeBinomial"):  # (total_count, probs): counts not learned
        dg_p[0], t_p[0] = _pair(params[0], False)
        kw_d, kw_t = {"probs": dg_p.pop()}, {"probs": t_p.pop()}
    d = getattr(D, name)(*dg_p, **kw_d)
    t = getattr(T, name)(*t_p, **kw_t)
    return d, t, dg_p + list(kw_d.values()), t_p + list(kw_t.values())


@pytest.mark.parametrize("name", list(_FAMILIES))
def test_log_prob_and_grads(name):
    params, value, _ = _FAMILIES[name]
    d, t, dp, tp = _make(name, params)
    value_grad = name not in _DISCRETE
    vd, vt = _pair(value, value_grad)
    ld, lt = d.log_prob(vd), t.log_prob(vt)
    assert tuple(ld.shape) == tuple(lt.shape) == (2, 3, 4)
    _close(ld, lt)
    ld.sum().backward()
    lt.sum().backward()
    _grads(dp + [vd], tp + [vt])
    assert d.batch_shape == tuple(t.batch_shape) and d.event_shape == tuple(t.event_shape)


@pytest.mark.parametrize("name", list(_FAMILIES))
@pytest.mark.parametrize("attr", ["mean", "mode", "variance", "stddev", "entropy"])
def test_moments_entropy_and_grads(name, attr):
    params, _, _ = _FAMILIES[name]
    d, t, dp, tp = _make(name, params)
    try:
        rt = t.entropy() if attr == "entropy" else getattr(t, attr)
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            d.entropy() if attr == "entropy" else getattr(d, attr)
        return
    rd = d.entropy() if attr == "entropy" else getattr(d, attr)
    assert tuple(rd.shape) == tuple(rt.shape)
    _close(rd, rt, rtol=1e-10, atol=1e-10, equal_nan=True)
    finite = np.isfinite(_np(rt))
    if rt.requires_grad and finite.all():
        rd.sum().backward()
        rt.sum().backward()
        _grads(dp, tp, PSI_TOL if attr == "entropy" else None)


@pytest.mark.parametrize("name", [n for n, v in _FAMILIES.items() if v[2]])
def test_cdf_icdf_and_grads(name):
    params, value, _ = _FAMILIES[name]
    # Chi2's cdf is gammainc(df / 2, x / 2): no derivative in df (torch's igamma neither)
    d, t, dp, tp = _make(name, params, grad=name != "Chi2")
    vd, vt = _pair(value)
    cd, ct = d.cdf(vd), t.cdf(vt)
    _close(cd, ct)
    cd.sum().backward()
    ct.sum().backward()
    _grads(dp + [vd], tp + [vt])
    d, t, dp, tp = _make(name, params)
    qd, qt = _pair(_U)
    if name == "Chi2":  # no icdf (as torch's Gamma)
        with pytest.raises(NotImplementedError):
            t.icdf(qt)
        with pytest.raises(NotImplementedError):
            d.icdf(qd)
        return
    xd, xt = d.icdf(qd), t.icdf(qt)
    _close(xd, xt)
    xd.sum().backward()
    xt.sum().backward()
    _grads(dp + [qd], tp + [qt])


def test_binomial_logits_entropy_enumerate():
    n = np.full((3, 4), 6.0)
    logits = r0.normal(size=(3, 4)) * 2
    ld, lt = _pair(logits)
    d = D.Binomial(dg.tensor(n), logits=ld)
    t = T.Binomial(torch.tensor(n), logits=lt)
    _close(d.enumerate_support(), t.enumerate_support())
    assert tuple(d.enumerate_support(False).shape) == (7, 1, 1)
    ed, et = d.entropy(), t.entropy()
    _close(ed, et)
    ed.sum().backward()
    et.sum().backward()
    _grads([ld], [lt])
    _close(d.probs, t.probs)
    with pytest.raises(NotImplementedError, match="Inhomogeneous"):
        D.Binomial(dg.tensor(_N), dg.tensor(_P)).enumerate_support()


def test_negative_binomial_and_geometric_logits():
    logits = r0.normal(size=(4,))
    ld, lt = _pair(logits)
    d = D.NegativeBinomial(dg.tensor(_A), logits=ld)
    t = T.NegativeBinomial(torch.tensor(_A), logits=lt)
    vd, vt = _pair(_INT, False)
    _close(d.log_prob(vd), t.log_prob(vt))
    _close(d.mean, t.mean)
    _close(d.variance, t.variance)
    d.log_prob(vd).sum().backward()
    t.log_prob(vt).sum().backward()
    _grads([ld], [lt])
    gd, gt = D.Geometric(logits=dg.tensor(logits)), T.Geometric(logits=torch.tensor(logits))
    _close(gd.log_prob(vd), gt.log_prob(vt))
    _close(gd.entropy(), gt.entropy())


def test_support_boundaries():
    z = dg.tensor(np.zeros(3))
    tz = torch.zeros(3, dtype=torch.float64)
    rate = np.array([0.0, 1.5, 3.0])
    _close(D.Poisson(dg.tensor(rate)).log_prob(z), T.Poisson(torch.tensor(rate)).log_prob(tz))
    p = np.array([1.0, 0.5, 0.2])
    v = np.array([0.0, 0.0, 3.0])
    _close(
        D.Geometric(dg.tensor(p)).log_prob(dg.tensor(v)),
        T.Geometric(torch.tensor(p)).log_prob(torch.tensor(v)),
    )
    n, k = np.array([4.0, 4.0, 0.0]), np.array([0.0, 4.0, 0.0])
    _close(
        D.Binomial(dg.tensor(n), dg.tensor(np.array([0.3, 0.6, 0.5]))).log_prob(dg.tensor(k)),
        T.Binomial(torch.tensor(n), torch.tensor(np.array([0.3, 0.6, 0.5]))).log_prob(
            torch.tensor(k)
        ),
    )
    nb_n = np.array([0.0, 2.5, 1.0])
    _close(
        D.NegativeBinomial(dg.tensor(nb_n), dg.tensor(p * 0.5)).log_prob(z),
        T.NegativeBinomial(torch.tensor(nb_n), torch.tensor(p * 0.5)).log_prob(tz),
    )
    s = np.array([0.5, 1.0, 2.0])
    for name in ("HalfNormal", "HalfCauchy"):
        d, t = getattr(D, name)(dg.tensor(s)), getattr(T, name)(torch.tensor(s))
        _close(d.log_prob(z), t.log_prob(tz))
        _close(d.cdf(z), t.cdf(tz))
        one = np.ones(3)
        _close(d.icdf(dg.tensor(one)), t.icdf(torch.tensor(one)))
    _close(
        D.Pareto(dg.tensor(s), dg.tensor(s)).log_prob(dg.tensor(s)),
        T.Pareto(torch.tensor(s), torch.tensor(s)).log_prob(torch.tensor(s)),
    )
    for x in (-math.inf, math.inf):
        xv = np.full(3, x)
        _close(
            D.Cauchy(dg.tensor(s), dg.tensor(s)).cdf(dg.tensor(xv)),
            T.Cauchy(torch.tensor(s), torch.tensor(s)).cdf(torch.tensor(xv)),
        )
    # StudentT's moments where df <= 1 / 1 < df <= 2
    df = np.array([0.5, 1.5, 4.0])
    d, t = D.StudentT(dg.tensor(df)), T.StudentT(torch.tensor(df))
    _close(d.mean, t.mean, equal_nan=True)
    _close(d.variance, t.variance, equal_nan=True)


def test_dirichlet():
    c = r0.uniform(0.3, 3.0, (2, 3, 4))
    c[0, 0] = [0.5, 0.7, 0.2, 0.9]  # all below one: the mode is a corner
    cd, ct = _pair(c)
    d, t = D.Dirichlet(cd), T.Dirichlet(ct)
    assert d.batch_shape == (2, 3) and d.event_shape == (4,)
    v = r0.dirichlet(np.ones(4), (2, 3))
    vd, vt = _pair(v)
    ld, lt = d.log_prob(vd), t.log_prob(vt)
    _close(ld, lt)
    (ld.sum() + d.entropy().sum()).backward()
    (lt.sum() + t.entropy().sum()).backward()
    _grads([cd, vd], [ct, vt], PSI_TOL)
    for attr in ("mean", "variance", "mode"):
        _close(getattr(d, attr), getattr(t, attr))
    e = d.expand((5, 2, 3))
    assert e.batch_shape == (5, 2, 3) and tuple(e.concentration.shape) == (5, 2, 3, 4)
    assert repr(d) == "Dirichlet(concentration: (2, 3, 4))"


def test_dirichlet_rsample_moments_and_gradient():
    """Sample mean / variance within 5 standard errors; the gradient of E[x_0] through
    rsample (implicit reparameterization) against d mean_0 / d c."""
    dg.manual_seed(0)
    c = np.array([0.8, 2.0, 3.5])
    cd = dg.tensor(c, requires_grad=True)
    d = D.Dirichlet(cd)
    n = 40000
    x = d.rsample((n,))
    assert tuple(x.shape) == (n, 3)
    xs = _np(x)
    assert np.allclose(xs.sum(-1), 1.0) and (xs >= 0).all()
    mean, var = c / c.sum(), _np(D.Dirichlet(dg.tensor(c)).variance)
    assert np.all(np.abs(xs.mean(0) - mean) < 5 * np.sqrt(var / n))
    x[:, 0].mean().backward()
    a0 = c.sum()
    expected = np.array([(a0 - c[0]) / a0**2, -c[0] / a0**2, -c[0] / a0**2])
    np.testing.assert_allclose(_np(cd.grad), expected, atol=0.03)


# ---- sampling: shapes, support, moments ----------------------------------------------------

_MOMENT_PARAMS = {
    "Poisson": (np.array([0.5, 4.0]),),
    "Binomial": (np.array([3.0, 10.0]), np.array([0.2, 0.7])),
    "Geometric": (np.array([0.3, 0.8]),),
    "NegativeBinomial": (np.array([2.0, 5.5]), np.array([0.3, 0.6])),
    "Gumbel": (np.array([0.5, -1.0]), np.array([1.0, 2.0])),
    "HalfNormal": (np.array([0.5, 2.0]),),
    "StudentT": (np.array([5.0, 9.0]), np.array([0.5, -1.0]), np.array([1.0, 2.0])),
    "Chi2": (np.array([1.5, 4.0]),),
    "LogNormal": (np.array([0.1, -0.5]), np.array([0.3, 0.5])),
    "Weibull": (np.array([1.0, 2.0]), np.array([1.5, 3.0])),
    "Pareto": (np.array([1.0, 2.0]), np.array([5.0, 6.0])),
    "Cauchy": (np.array([0.5, -1.0]), np.array([1.0, 2.0])),
    "HalfCauchy": (np.array([0.5, 2.0]),),
}


@pytest.mark.parametrize("name", list(_MOMENT_PARAMS))
def test_sample_shapes_support_moments(name):
    dg.manual_seed(1)
    params = _MOMENT_PARAMS[name]
    d, t, _, _ = _make(name, params, grad=False)
    assert tuple(d.sample((3, 1)).shape) == tuple(t.sample((3, 1)).shape) == (3, 1, 2)
    assert tuple(d.sample().shape) == (2,)
    assert d.has_rsample == t.has_rsample
    n = 100000
    x = d.sample((n,))
    assert x.dtype == dg.float64
    xs = _np(x)
    assert bool(d.support.check(x).all())
    if name in ("Cauchy", "HalfCauchy"):  # no moments: the median instead
        med = _np(d.icdf(dg.tensor(np.full(2, 0.5))))
        q = np.mean(xs <= med, axis=0)
        assert np.all(np.abs(q - 0.5) < 5 * 0.5 / np.sqrt(n))
        return
    mean, var = _np(t.mean), _np(t.variance)
    assert np.all(np.abs(xs.mean(0) - mean) < 5 * np.sqrt(var / n))
    # the variance estimate's standard error needs the fourth moment: a loose 5 %
    np.testing.assert_allclose(xs.var(0), var, rtol=0.05)
    if d.has_rsample:
        r = d.rsample((4,))
        assert tuple(r.shape) == (4, 2)


def test_rsample_gradients_flow():
    dg.manual_seed(2)
    for name, params in (
        ("StudentT", _MOMENT_PARAMS["StudentT"]),
        ("LogNormal", _MOMENT_PARAMS["LogNormal"]),
        ("Gumbel", _MOMENT_PARAMS["Gumbel"]),
        ("HalfNormal", _MOMENT_PARAMS["HalfNormal"]),
        ("Cauchy", _MOMENT_PARAMS["Cauchy"]),
        ("Chi2", _MOMENT_PARAMS["Chi2"]),
    ):
        d, _, dp, _ = _make(name, params)
        d.rsample((5,)).sum().backward()
        assert all(p.grad is not None and np.all(np.isfinite(_np(p.grad))) for p in dp), name
    # LogNormal: d/dloc of the sample mean of exp(loc + scale eps) is the sample mean itself
    loc, scale = _pair(np.array([0.2]))[0], dg.tensor(np.array([0.4]))
    x = D.LogNormal(loc, scale).rsample((1000,))
    x.mean().backward()
    _close(loc.grad, x.detach().mean().reshape(1))


# ---- expand: the generic mechanism ---------------------------------------------------------


@pytest.mark.parametrize("name", list(_FAMILIES))
def test_expand(name):
    params, value, _ = _FAMILIES[name]
    d, t, _, _ = _make(name, params, grad=False)
    de, te = d.expand((2, 3, 4)), t.expand((2, 3, 4))
    assert type(de) is type(d) and de.batch_shape == (2, 3, 4) == tuple(te.batch_shape)
    assert de._validate_args == d._validate_args
    _close(de.log_prob(dg.tensor(value)), te.log_prob(torch.tensor(value)))
    _close(de.mean, te.mean, equal_nan=True)
    assert tuple(de.sample().shape) == (2, 3, 4)
    with pytest.raises((ValueError, RuntimeError)):
        d.expand((5,))


def test_expand_lazy_params_and_existing_families():
    b = D.Bernoulli(logits=dg.tensor(np.array([0.3, -1.0])))
    e = b.expand((3, 2))
    assert "logits" in e.__dict__ and "probs" not in e.__dict__ and e._param is e.logits
    _ = b.probs  # computed now: expanded too
    e = b.expand((3, 2))
    assert "probs" in e.__dict__ and tuple(e.probs.shape) == (3, 2) and e._param is e.logits
    c = D.Categorical(probs=dg.tensor(np.array([0.2, 0.3, 0.5])))
    ce = c.expand((4,))
    assert tuple(ce.probs.shape) == (4, 3) and ce._num_events == 3
    o = D.OneHotCategorical(logits=dg.tensor(np.zeros(3)))
    assert o.expand((2,)).event_shape == (3,) and o.expand((2,)).batch_shape == (2,)
    g = D.Geometric(dg.tensor(np.array([0.2, 0.5])))
    assert "logits" not in g.expand((3, 2)).__dict__
    s = D.StudentT(dg.tensor(np.array([3.0, 4.0])))
    se = s.expand((5, 2))
    assert se._chi2.batch_shape == (5, 2)
    w = D.Weibull(dg.tensor(np.array([1.0, 2.0])), dg.tensor(np.array([1.5, 3.0])))
    we = w.expand((3, 2))
    assert tuple(we.transforms[0].exponent.shape) == (3, 2)

    class MyNormal(D.Normal):
        def __init__(self, loc):
            super().__init__(loc, 1.0)

    with pytest.raises(NotImplementedError, match="custom .expand"):
        MyNormal(dg.tensor(np.zeros(2))).expand((3, 2))

    class Bare(D.Distribution):
        arg_constraints = {}

    with pytest.raises(NotImplementedError):
        Bare().expand((2,))


# ---- validation ----------------------------------------------------------------------------


def _raises_like(fn_d, fn_t, exc=ValueError, match=None):
    with pytest.raises(exc) as e_t:
        fn_t()
    with pytest.raises(exc, match=match) as e_d:
        fn_d()
    assert type(e_d.value) is type(e_t.value)


@pytest.mark.parametrize(
    ("name", "args", "kw"),
    [
        ("Poisson", (np.array([-1.0, 1.0]),), {}),
        ("Binomial", (np.array([2.5]), np.array([0.5])), {}),
        ("Binomial", (np.array([2.0]), np.array([1.5])), {}),
        ("Geometric", (np.array([0.0, 0.5]),), {}),
        ("NegativeBinomial", (np.array([-1.0]), np.array([0.5])), {}),
        ("NegativeBinomial", (np.array([1.0]), np.array([1.0])), {}),
        ("Cauchy", (np.array([0.0]), np.array([-1.0])), {}),
        ("Gumbel", (np.array([0.0]), np.array([0.0])), {}),
        ("HalfNormal", (np.array([-1.0]),), {}),
        ("HalfCauchy", (np.array([0.0]),), {}),
        ("StudentT", (np.array([-1.0]),), {}),
        ("Chi2", (np.array([0.0]),), {}),
        ("LogNormal", (np.array([0.0]), np.array([-1.0])), {}),
        ("Weibull", (np.array([1.0]), np.array([-1.0])), {}),
        ("Pareto", (np.array([-1.0]), np.array([1.0])), {}),
        ("Dirichlet", (np.array([[1.0, -1.0]]),), {}),
    ],
)
def test_invalid_parameters(name, args, kw):
    _raises_like(
        lambda: getattr(D, name)(*[dg.tensor(a) for a in args], validate_args=True),
        lambda: getattr(T, name)(*[torch.tensor(a) for a in args], validate_args=True),
        match="Expected parameter",
    )
    if name != "StudentT":  # torch's StudentT checks df in its Chi2 all the same
        getattr(D, name)(*[dg.tensor(a) for a in args], validate_args=False)  # no check


@pytest.mark.parametrize(
    ("name", "args", "value"),
    [
        ("Poisson", (np.array([1.0]),), np.array([1.5])),
        ("Poisson", (np.array([1.0]),), np.array([-1.0])),
        ("Binomial", (np.array([3.0]), np.array([0.5])), np.array([4.0])),
        ("Geometric", (np.array([0.5]),), np.array([0.5])),
        ("NegativeBinomial", (np.array([2.0]), np.array([0.5])), np.array([-1.0])),
        ("HalfNormal", (np.array([1.0]),), np.array([-0.5])),
        ("HalfCauchy", (np.array([1.0]),), np.array([-0.5])),
        ("LogNormal", (np.array([0.0]), np.array([1.0])), np.array([0.0])),
        ("Weibull", (np.array([1.0]), np.array([1.0])), np.array([-1.0])),
        ("Pareto", (np.array([2.0]), np.array([1.0])), np.array([1.0])),
        ("Chi2", (np.array([2.0]),), np.array([-1.0])),
        ("Dirichlet", (np.array([1.0, 2.0]),), np.array([0.5, 0.6])),
    ],
)
def test_invalid_values(name, args, value):
    d = getattr(D, name)(*[dg.tensor(a) for a in args], validate_args=True)
    t = getattr(T, name)(*[torch.tensor(a) for a in args], validate_args=True)
    _raises_like(
        lambda: d.log_prob(dg.tensor(value)),
        lambda: t.log_prob(torch.tensor(value)),
        match="support",
    )


def test_constructor_errors():
    for name in ("Binomial", "NegativeBinomial"):
        _raises_like(
            lambda n=name: getattr(D, n)(dg.tensor([1.0])),
            lambda n=name: getattr(T, n)(torch.tensor([1.0])),
            match="Either `probs` or `logits`",
        )
    _raises_like(lambda: D.Geometric(), lambda: T.Geometric(), match="Either")
    _raises_like(
        lambda: D.Dirichlet(dg.tensor(1.0)),
        lambda: T.Dirichlet(torch.tensor(1.0)),
        match="at least one-dimensional",
    )
    d = D.Cauchy(dg.tensor(np.zeros(3)), dg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="broadcastable"):
        d.log_prob(dg.tensor(np.zeros(2)))
    with pytest.raises(ValueError, match="transforms must be"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")


def test_scalar_params_and_repr():
    assert D.Poisson(2.0).batch_shape == () and D.Cauchy(0.0, 1.0).batch_shape == ()
    assert D.Geometric(0.5).batch_shape == ()
    for name, args in (
        ("HalfNormal", (1.0,)),
        ("HalfCauchy", (1.0,)),
        ("LogNormal", (0.0, 1.0)),
        ("Chi2", (3.0,)),
        ("Gumbel", (0.0, 1.0)),
        ("Poisson", (2.0,)),
    ):
        d = getattr(D, name)(*[dg.tensor(a) for a in args])
        t = getattr(T, name)(*[torch.tensor(a) for a in args])
        assert repr(d) == repr(t).replace("tensor(", "").replace(", dtype=torch.float64)", "")


# ---- transforms ----------------------------------------------------------------------------


def _transform_pairs():
    s = r0.uniform(0.5, 2.0, (3, 4))
    return [
        (D.ExpTransform(), T.ExpTransform(), _REAL[0]),
        (
            D.AffineTransform(dg.tensor(_LOC), dg.tensor(-s)),
            T.AffineTransform(torch.tensor(_LOC), torch.tensor(-s)),
            _REAL[0],
        ),
        (D.AffineTransform(1.5, -2.0), T.AffineTransform(1.5, -2.0), _REAL[0]),
        (
            D.AffineTransform(0.5, dg.tensor(s), event_dim=1),
            T.AffineTransform(0.5, torch.tensor(s), event_dim=1),
            _REAL[0],
        ),
        (D.SigmoidTransform(), T.SigmoidTransform(), _REAL[0]),
        (D.TanhTransform(), T.TanhTransform(), _REAL[0]),
        (
            D.PowerTransform(dg.tensor(s)),
            T.PowerTransform(torch.tensor(s)),
            _POS[0],
        ),
        (D.AbsTransform(), T.AbsTransform(), _REAL[0]),
        (
            D.ComposeTransform([D.ExpTransform(), D.AffineTransform(1.0, 2.0)]),
            T.ComposeTransform([T.ExpTransform(), T.AffineTransform(1.0, 2.0)]),
            _REAL[0],
        ),
        (D.ExpTransform().inv, T.ExpTransform().inv, _POS[0]),
    ]


@pytest.mark.parametrize("i", range(10))
def test_transforms(i):
    td, tt, x = _transform_pairs()[i]
    xd, xt = _pair(x)
    yd, yt = td(xd), tt(xt)
    _close(yd, yt)
    assert td.bijective == tt.bijective
    assert td.domain.event_dim == tt.domain.event_dim
    assert td.codomain.event_dim == tt.codomain.event_dim
    assert repr(td).replace("deltagrad", "torch") == repr(tt) or i in (1, 3, 6)
    assert td.inv.inv is td
    if tt.bijective:
        _close(td.inv(yd), tt.inv(yt))
        ld, lt = td.log_abs_det_jacobian(xd, yd), tt.log_abs_det_jacobian(xt, yt)
        _close(ld, lt)
        (yd.sum() + ld.sum()).backward()
        (yt.sum() + lt.sum()).backward()
        _grads([xd], [xt])
        try:
            st = tt.sign
        except NotImplementedError:
            return
        _close(np.asarray(_np(td.sign) if isinstance(td.sign, dg.Tensor) else td.sign), st)
    assert td.forward_shape((5, 3, 4)) == tuple(tt.forward_shape(torch.Size((5, 3, 4))))


def test_transform_cache_equality_errors():
    e = D.ExpTransform(cache_size=1)
    x = dg.tensor(np.array([0.3, 1.2]))
    y = e(x)
    assert e(x) is y and e.inv(y) is x
    assert e.with_cache(1) is e and e.with_cache(0)._cache_size == 0
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        D.ExpTransform(cache_size=2)
    assert D.ExpTransform() == D.ExpTransform() and D.ExpTransform().inv == D.ExpTransform().inv
    assert D.AffineTransform(1.0, 2.0) == D.AffineTransform(1.0, 2.0)
    assert D.AffineTransform(1.0, 2.0) != D.AffineTransform(1.0, 3.0)
    assert D.AffineTransform(0.0, -2.0).sign == -1
    assert D.ExpTransform().event_dim == 0
    c = D.ComposeTransform([D.ExpTransform(), D.AffineTransform(0.0, -1.0)])
    assert c.inv.inv is c and c.sign == -1 and c.bijective
    assert D.transforms.identity_transform(x) is x


def test_transformed_distribution_logistic():
    """The docstring's logistic: Uniform -> SigmoidTransform().inv -> affine, log_prob / cdf /
    icdf / support / shapes and gradients against torch."""
    a, b = _pair(np.array([0.3, -1.0, 2.0])), _pair(np.array([1.5, 0.7, 2.0]))
    d = D.TransformedDistribution(
        D.Uniform(0.0, 1.0), [D.SigmoidTransform().inv, D.AffineTransform(a[0], b[0])]
    )
    t = T.TransformedDistribution(
        T.Uniform(0.0, 1.0).expand([]),
        [T.SigmoidTransform().inv, T.AffineTransform(a[1], b[1])],
    )
    assert d.batch_shape == tuple(t.batch_shape) == (3,) and d.base_dist.batch_shape == (3,)
    vd, vt = _pair(_REAL[0, 0, :3])
    _close(d.log_prob(vd), t.log_prob(vt))
    _close(d.cdf(vd), t.cdf(vt))
    (d.log_prob(vd).sum() + d.cdf(vd).sum()).backward()
    (t.log_prob(vt).sum() + t.cdf(vt).sum()).backward()
    _grads([a[0], b[0], vd], [a[1], b[1], vt])
    q = np.array([0.2, 0.5, 0.9])
    _close(d.icdf(dg.tensor(q)), t.icdf(torch.tensor(q)))
    assert repr(d.support) == repr(t.support)
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.base_dist.batch_shape == (2, 3)
    # an event-dim transform makes the base's batch dims event dims (Independent)
    m = D.TransformedDistribution(
        D.Normal(dg.tensor(np.zeros((2, 3))), 1.0),
        D.AffineTransform(0.0, dg.tensor(np.ones(3) * 2), event_dim=1),
    )
    mt = T.TransformedDistribution(
        T.Normal(torch.zeros((2, 3), dtype=torch.float64), 1.0),
        T.AffineTransform(0.0, torch.ones(3, dtype=torch.float64) * 2, event_dim=1),
    )
    assert m.event_shape == (3,) and isinstance(m.base_dist, D.Independent)
    v = _REAL[0, :2, :3]
    _close(m.log_prob(dg.tensor(v)), mt.log_prob(torch.tensor(v)))


# ---- kl_divergence -------------------------------------------------------------------------

_KL_PARAMS = {
    "Poisson": [(_A,), (_B,)],
    "Binomial": [(_N, _P), (_N + 0 * _P, _P[::-1])],
    "Geometric": [(_P,), (_P[::-1],)],
    "Cauchy": [(_LOC, _A), (_LOC[::-1], _B)],
    "Gumbel": [(_LOC, _A), (_LOC[::-1], _B)],
    "HalfNormal": [(_A,), (_B,)],
    "LogNormal": [(_LOC, _A), (_LOC[::-1], _B)],
    "Pareto": [(_A, _B + 2.5), (_A * 0 + 0.5, _C)],
    "Exponential": [(_A,), (_B,)],
    "Gamma": [(_A, _B), (_B, _C)],
    "Normal": [(_LOC, _A), (_LOC[::-1], _B)],
    "Uniform": [(_LOC - 1, _LOC + _A), (_LOC - 3, _LOC + _A + 2)],
    "Bernoulli": [(_P,), (_P[::-1],)],
    "Beta": [(_A, _B), (_B, _C)],
    "Laplace": [(_LOC, _A), (_LOC[::-1], _B)],
    "Weibull": [(_A, _B), (_B, _C)],
}
_KL_PAIRS = [
    ("Poisson", "Poisson"),
    ("Binomial", "Binomial"),
    ("Geometric", "Geometric"),
    ("Cauchy", "Cauchy"),
    ("Gumbel", "Gumbel"),
    ("HalfNormal", "HalfNormal"),
    ("LogNormal", "LogNormal"),
    ("Pareto", "Pareto"),
    ("Bernoulli", "Poisson"),
    ("Exponential", "Gumbel"),
    ("Gamma", "Gumbel"),
    ("Gumbel", "Normal"),
    ("Normal", "Gumbel"),
    ("Uniform", "Gumbel"),
    ("Uniform", "Pareto"),
    ("Pareto", "Exponential"),
    ("Pareto", "Gamma"),
    ("Pareto", "Normal"),
    ("Beta", "Pareto"),
    ("Exponential", "Pareto"),
    ("Gamma", "Pareto"),
    ("Gumbel", "Beta"),
    ("Gumbel", "Exponential"),
    ("Gumbel", "Gamma"),
    ("Gumbel", "Pareto"),
    ("Gumbel", "Uniform"),
    ("Laplace", "Pareto"),
    ("Normal", "Pareto"),
    ("Pareto", "Beta"),
    ("Pareto", "Uniform"),
    ("Poisson", "Bernoulli"),
    ("Poisson", "Binomial"),
]


def _kl_make(name, params):
    if name in ("Bernoulli", "Geometric"):
        pd, pt = _pair(params[0])
        return getattr(D, name)(pd), getattr(T, name)(pt), [pd], [pt]
    return _make(name, params)


@pytest.mark.parametrize(("pn", "qn"), _KL_PAIRS)
def test_kl(pn, qn):
    p_d, p_t, pp_d, pp_t = _kl_make(pn, _KL_PARAMS[pn][0])
    q_params = _KL_PARAMS[qn][1]
    if qn == "Binomial" and pn != "Binomial":
        q_params = (np.full(4, 3.0), _P)
    q_d, q_t, qp_d, qp_t = _kl_make(qn, q_params)
    kd, kt = D.kl_divergence(p_d, q_d), T.kl_divergence(p_t, q_t)
    assert tuple(kd.shape) == tuple(kt.shape)
    _close(kd, kt)
    if kt.requires_grad and np.isfinite(_np(kt)).all():
        kd.sum().backward()
        kt.sum().backward()
        _grads(pp_d + qp_d, pp_t + qp_t, PSI_TOL if "Gamma" in (pn, qn) else None)


def test_kl_special_cases():
    c1, c2 = r0.uniform(0.5, 3, (2, 4)), r0.uniform(0.5, 3, (2, 4))
    a, b = _pair(c1), _pair(c2)
    kd = D.kl_divergence(D.Dirichlet(a[0]), D.Dirichlet(b[0]))
    kt = T.kl_divergence(T.Dirichlet(a[1]), T.Dirichlet(b[1]))
    _close(kd, kt)
    kd.sum().backward()
    kt.sum().backward()
    _grads([a[0], b[0]], [a[1], b[1]], PSI_TOL)
    # Binomial: a larger p.total_count gives inf; a smaller one is not implemented
    n1, n2 = np.array([3.0, 4.0]), np.array([3.0, 3.0])
    p = np.array([0.3, 0.6])
    kd = D.kl_divergence(
        D.Binomial(dg.tensor(n1), dg.tensor(p)), D.Binomial(dg.tensor(n2), dg.tensor(p))
    )
    kt = T.kl_divergence(
        T.Binomial(torch.tensor(n1), torch.tensor(p)), T.Binomial(torch.tensor(n2), torch.tensor(p))
    )
    _close(kd, kt)
    with pytest.raises(NotImplementedError, match="total_count"):
        D.kl_divergence(
            D.Binomial(dg.tensor(n2), dg.tensor(p)), D.Binomial(dg.tensor(n1), dg.tensor(p))
        )
    # Pareto: support mismatch / alpha <= 1 give inf as torch
    s, al = np.array([0.5, 2.0]), np.array([0.8, 3.0])
    for qn, qa in (("Exponential", (np.array([1.0, 2.0]),)), ("Pareto", (s[::-1].copy(), al))):
        kd = D.kl_divergence(
            D.Pareto(dg.tensor(s), dg.tensor(al)), getattr(D, qn)(*map(dg.tensor, qa))
        )
        kt = T.kl_divergence(
            T.Pareto(torch.tensor(s), torch.tensor(al)), getattr(T, qn)(*map(torch.tensor, qa))
        )
        _close(kd, kt)
    # TransformedDistributions with different transforms: not implemented, as torch
    w1 = D.Weibull(dg.tensor(_A[:, 0]), dg.tensor(_A[:, 0]))
    w2 = D.Weibull(dg.tensor(_A[:, 0]), dg.tensor(_A[:, 0] + 1))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(w1, w2)
