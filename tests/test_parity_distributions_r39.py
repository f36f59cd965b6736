"""dg.distributions against torch.distributions 2.13 (round 39): ExponentialFamily (its
Bregman entropy and KL fallback), MixtureSameFamily, LogitRelaxedBernoulli /
RelaxedBernoulli, ExpRelaxedCategorical / RelaxedOneHotCategorical,
LowRankMultivariateNormal, VonMises, ContinuousBernoulli, the new transforms and
constraints, and the KL pairs torch registers for them. float64 to 1e-10: log_prob / cdf /
icdf / entropy / moments / KL and their gradients; samples by moments (20k draws)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.distributions as D
from deltagrad.distributions import constraints as C
from deltagrad.distributions import transforms as TR
from deltagrad.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
from deltagrad.distributions.relaxed_categorical import ExpRelaxedCategorical

torch = pytest.importorskip("torch")
T = torch.distributions
pytest.importorskip("scipy")  # lgamma / digamma

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


def _grads(dg_ts, t_ts, tol=None):
    for a, b in zip(dg_ts, t_ts):
        if b.grad is None:
            assert a.grad is None or not np.any(_np(a.grad))
        else:
            np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), **(tol or TOL))


def _backward_both(out_dg, out_t, seed=0):
    w = np.random.default_rng(seed).uniform(0.5, 1.5, _np(out_t).shape)
    (out_dg * dg.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()


r0 = np.random.default_rng(39)


# --- ContinuousBernoulli ------------------------------------------------------------------

# probs across the Taylor region (0.499, 0.501], both halves and near the ends
_CB_PROBS = np.array([0.02, 0.3, 0.4995, 0.5, 0.5007, 0.62, 0.97])


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_continuous_bernoulli_values_and_grads(by):
    p = _CB_PROBS if by == "probs" else np.log(_CB_PROBS / (1 - _CB_PROBS))
    x = r0.uniform(0.01, 0.99, (3, 7))
    (pd, pt), (xd, xt) = _pair(p), _pair(x)
    d = D.ContinuousBernoulli(**{by: pd})
    t = T.ContinuousBernoulli(**{by: pt})
    assert d.batch_shape == tuple(t.batch_shape) and d.has_rsample
    for name in ("mean", "variance", "stddev"):
        _close(getattr(d, name), getattr(t, name))
    _close(d.entropy(), t.entropy())
    _close(d.cdf(xd), t.cdf(xt))
    _close(d.icdf(xd), t.icdf(xt))
    lp_d, lp_t = d.log_prob(xd), t.log_prob(xt)
    _close(lp_d, lp_t)
    _backward_both(lp_d + d.entropy() + d.mean + d.cdf(xd), lp_t + t.entropy() + t.mean + t.cdf(xt))
    _grads([pd, xd], [pt, xt])


def test_continuous_bernoulli_edges_and_sampling():
    d = D.ContinuousBernoulli(probs=dg.tensor([0.2, 0.8], dtype=dg.float64))
    t = T.ContinuousBernoulli(probs=torch.tensor([0.2, 0.8], dtype=torch.float64))
    v = np.array([[-0.0, 1.0]])
    _close(d.cdf(dg.tensor(v)), t.cdf(torch.tensor(v)))
    assert D.ContinuousBernoulli(0.3).batch_shape == ()
    e = d.expand((3, 2))
    assert e.batch_shape == (3, 2) and e._lims == d._lims
    v2 = np.array([0.3, 0.6])
    _close(e.log_prob(dg.tensor(v2)), t.expand((3, 2)).log_prob(torch.tensor(v2)))
    dg.manual_seed(0)
    s = d.sample((20000,))
    assert s.shape == (20000, 2) and float(s.min()) >= 0 and float(s.max()) <= 1
    _close(s.mean(0), t.mean, atol=0.01, rtol=0)
    _close(s.var(0), t.variance, atol=0.005, rtol=0)
    # rsample is reparameterized: d sample / d probs flows
    p = dg.tensor([0.3], dtype=dg.float64, requires_grad=True)
    D.ContinuousBernoulli(probs=p).rsample((5,)).sum().backward()
    assert p.grad is not None and np.all(np.isfinite(p.grad))


def test_continuous_bernoulli_errors():
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.ContinuousBernoulli()
    with pytest.raises(ValueError, match="probs has invalid values"):
        D.ContinuousBernoulli(probs=dg.tensor([1.5]), validate_args=True)
    # as torch: by default out-of-range probs are clamped, not refused
    D.ContinuousBernoulli(probs=dg.tensor([1.5]))
    with pytest.raises(ValueError, match="support"):
        D.ContinuousBernoulli(probs=dg.tensor([0.3]), validate_args=True).log_prob(dg.tensor([1.5]))


# --- ExponentialFamily ---------------------------------------------------------------------


def _expfam_cases():
    a = r0.uniform(0.6, 2.5, (4,))
    b = r0.uniform(0.6, 2.5, (4,))
    c = r0.uniform(0.6, 2.5, (2, 3))
    return {
        "Normal": ((r0.normal(size=4), a), (r0.normal(size=4), b)),
        "Exponential": ((a,), (b,)),
        "Gamma": ((a, b), (b, a)),
        "Beta": ((a, b), (b, a)),
        "Bernoulli": ((r0.uniform(0.1, 0.9, 4),), (r0.uniform(0.1, 0.9, 4),)),
        "Poisson": ((a,), (b,)),
        "Dirichlet": ((c,), (c[::-1].copy(),)),
        "ContinuousBernoulli": ((r0.uniform(0.1, 0.9, 4),), (r0.uniform(0.1, 0.9, 4),)),
    }


@pytest.mark.parametrize("name", list(_expfam_cases()))
def test_exponential_family_bregman(name):
    """Every family torch makes an ExponentialFamily is one here; the generic Bregman entropy
    and KL (called directly) match torch's, values and gradients (q's only, as torch)."""
    pp, qp = _expfam_cases()[name]
    pd, pt = zip(*[_pair(v) for v in pp])
    qd, qt = zip(*[_pair(v) for v in qp])
    d_p, d_q = getattr(D, name)(*pd), getattr(D, name)(*qd)
    t_p, t_q = getattr(T, name)(*pt), getattr(T, name)(*qt)
    assert isinstance(d_p, D.ExponentialFamily)
    if name in ("Poisson", "Beta", "Dirichlet"):  # no _mean_carrier_measure, as torch
        with pytest.raises(NotImplementedError):
            D.ExponentialFamily.entropy(d_p)
    else:
        _close(D.ExponentialFamily.entropy(d_p), T.ExponentialFamily.entropy(t_p))
    from torch.distributions.kl import _kl_expfamily_expfamily as t_kl

    from deltagrad.distributions.kl import _kl_expfamily_expfamily

    kd, kt = _kl_expfamily_expfamily(d_p, d_q), t_kl(t_p, t_q)
    _close(kd, kt)
    _backward_both(kd, kt)
    _grads(list(pd) + list(qd), list(pt) + list(qt), tol={"rtol": 1e-8, "atol": 1e-9})


def test_exponential_family_dispatch():
    n = D.Normal(dg.tensor([0.0]), dg.tensor([1.0]))
    b = D.Bernoulli(dg.tensor([0.3]))
    with pytest.raises(NotImplementedError, match="Bregman"):
        D.kl_divergence(b, n)
    with pytest.raises(NotImplementedError):  # no _mean_carrier_measure, as torch
        D.Poisson(dg.tensor([1.0])).entropy()
    assert issubclass(D.Chi2, D.ExponentialFamily)


# --- relaxed distributions -----------------------------------------------------------------


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_relaxed_bernoulli(by):
    p = r0.uniform(0.1, 0.9, (2, 3))
    par = p if by == "probs" else np.log(p / (1 - p))
    (temp_d, temp_t), (pd, pt) = _pair([0.7]), _pair(par)
    x = r0.uniform(0.02, 0.98, (4, 2, 3))
    xd, xt = _pair(x)
    for dcls, tcls, val in (
        (LogitRelaxedBernoulli, T.relaxed_bernoulli.LogitRelaxedBernoulli, np.log(x / (1 - x))),
        (D.RelaxedBernoulli, T.RelaxedBernoulli, x),
    ):
        vd, vt = _pair(val)
        d = dcls(temp_d, **{by: pd})
        t = tcls(temp_t, **{by: pt})
        assert d.batch_shape == tuple(t.batch_shape) == (2, 3) and d.has_rsample
        lp_d, lp_t = d.log_prob(vd), t.log_prob(vt)
        _close(lp_d, lp_t)
        _backward_both(lp_d, lp_t)
        _grads([temp_d, pd, vd], [temp_t, pt, vt])
        for a in (temp_d, pd, vd, temp_t, pt, vt):
            a.grad = None
        _close(d.probs, t.probs)
        _close(d.logits, t.logits)
        e = d.expand((4, 2, 3))
        assert e.batch_shape == (4, 2, 3)
        _close(e.log_prob(vd), t.expand((4, 2, 3)).log_prob(vt))
    del xd, xt
    # moments: the mean of a RelaxedBernoulli at temperature 1 with p = 0.5 is 0.5
    dg.manual_seed(1)
    s = D.RelaxedBernoulli(dg.tensor(0.5), probs=dg.tensor([0.2, 0.5, 0.8])).sample((20000,))
    assert s.shape == (20000, 3) and float(s.min()) > 0 and float(s.max()) < 1
    assert abs(float(s[:, 1].mean()) - 0.5) < 0.01
    # the fraction above 1/2 is probs (the hard sample is a Bernoulli)
    _close((s > 0.5).float().mean(0), np.array([0.2, 0.5, 0.8]), atol=0.015, rtol=0)
    # reparameterized: gradients reach logits and temperature
    lg = dg.tensor([0.3, -0.2], requires_grad=True)
    tp = dg.tensor(0.6, requires_grad=True)
    D.RelaxedBernoulli(tp, logits=lg).rsample((7,)).sum().backward()
    assert lg.grad is not None and tp.grad is not None


def test_relaxed_categorical():
    logits = r0.normal(size=(2, 4))
    (temp_d, temp_t), (ld, lt) = _pair(0.6), _pair(logits)
    y = r0.dirichlet(np.ones(4), (3, 2))
    yd, yt = _pair(y)
    d = D.RelaxedOneHotCategorical(temp_d, logits=ld)
    t = T.RelaxedOneHotCategorical(temp_t, logits=lt)
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    lp_d, lp_t = d.log_prob(yd), t.log_prob(yt)
    _close(lp_d, lp_t)
    e_d = ExpRelaxedCategorical(temp_d, logits=ld)
    e_t = T.relaxed_categorical.ExpRelaxedCategorical(temp_t, logits=lt)
    ly = np.log(y)
    elp_d, elp_t = e_d.log_prob(dg.tensor(ly)), e_t.log_prob(torch.tensor(ly))
    _close(elp_d, elp_t)
    _backward_both(lp_d + elp_d, lp_t + elp_t)
    _grads([temp_d, ld, yd], [temp_t, lt, yt])
    pr = r0.dirichlet(np.ones(4), 2)
    _close(
        D.RelaxedOneHotCategorical(dg.tensor(0.5), probs=dg.tensor(pr)).log_prob(dg.tensor(y)),
        T.RelaxedOneHotCategorical(torch.tensor(0.5), probs=torch.tensor(pr)).log_prob(
            torch.tensor(y)
        ),
    )
    ex = d.expand((3, 2))
    assert ex.batch_shape == (3, 2) and ex.event_shape == (4,)
    _close(ex.log_prob(yd), t.expand((3, 2)).log_prob(yt))
    # samples on the simplex; at a low temperature the argmax frequencies are probs
    dg.manual_seed(2)
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    s = D.RelaxedOneHotCategorical(dg.tensor(0.05), probs=dg.tensor(probs)).sample((20000,))
    _close(s.sum(-1), np.ones(20000), atol=1e-12, rtol=0)
    freq = np.bincount(_np(s).argmax(-1), minlength=4) / 20000
    _close(freq, probs, atol=0.015, rtol=0)
    # a plain-number temperature works for sampling and log_prob
    d2 = D.RelaxedOneHotCategorical(0.5, logits=dg.tensor(logits))
    t2 = T.RelaxedOneHotCategorical(torch.tensor(0.5, dtype=torch.float64), logits=lt.detach())
    _close(d2.log_prob(dg.tensor(y)), t2.log_prob(torch.tensor(y)))
    assert d2.rsample((3,)).shape == (3, 2, 4)


def test_relaxed_errors():
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.RelaxedBernoulli(dg.tensor(1.0))
    with pytest.raises(TypeError, match="temperature"):
        D.RelaxedBernoulli("hot", probs=dg.tensor([0.5]))
    with pytest.raises(ValueError, match="probs"):
        D.RelaxedBernoulli(dg.tensor(1.0), probs=dg.tensor([1.5]), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        D.RelaxedOneHotCategorical(
            dg.tensor(1.0), probs=dg.tensor([0.5, 0.5]), validate_args=True
        ).log_prob(dg.tensor([0.7, 0.7]))


# --- MixtureSameFamily ---------------------------------------------------------------------


def test_mixture_same_family_normal():
    w = r0.uniform(0.2, 1.0, (3, 5))
    loc, scale = r0.normal(size=(3, 5)), r0.uniform(0.5, 2.0, (3, 5))
    x = r0.normal(size=(4, 3)) * 2
    (wd, wt), (ld, lt), (sd, st), (xd, xt) = _pair(w), _pair(loc), _pair(scale), _pair(x)
    d = D.MixtureSameFamily(D.Categorical(probs=wd), D.Normal(ld, sd))
    t = T.MixtureSameFamily(T.Categorical(probs=wt), T.Normal(lt, st))
    assert d.batch_shape == (3,) and d.event_shape == () and not d.has_rsample
    _close(d.mean, t.mean)
    _close(d.variance, t.variance)
    lp_d, lp_t = d.log_prob(xd), t.log_prob(xt)
    _close(lp_d, lp_t)
    cd_d, cd_t = d.cdf(xd), t.cdf(xt)
    _close(cd_d, cd_t)
    _backward_both(lp_d + cd_d + d.variance, lp_t + cd_t + t.variance)
    _grads([wd, ld, sd, xd], [wt, lt, st, xt])
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3)
    _close(e.log_prob(xd[:2]), t.expand((2, 3)).log_prob(xt[:2]))
    assert "MixtureSameFamily" in repr(d)
    dg.manual_seed(3)
    s = D.MixtureSameFamily(
        D.Categorical(probs=dg.tensor([0.3, 0.7])), D.Normal(dg.tensor([-2.0, 3.0]), 0.5)
    ).sample((20000,))
    assert s.shape == (20000,)
    assert abs(float(s.mean()) - 1.5) < 0.05 and abs(float(s.var()) - (0.25 + 5.25)) < 0.15


def test_mixture_same_family_multivariate():
    """A 2-D Gaussian mixture (Independent components), a mixture with a scalar batch
    Categorical, and MultivariateNormal components."""
    w = r0.uniform(0.2, 1.0, (4,))
    loc, scale = r0.normal(size=(2, 4, 3)), r0.uniform(0.5, 2.0, (2, 4, 3))
    x = r0.normal(size=(5, 2, 3))
    (wd, wt), (ld, lt), (sd, st), (xd, xt) = _pair(w), _pair(loc), _pair(scale), _pair(x)
    d = D.MixtureSameFamily(D.Categorical(logits=wd), D.Independent(D.Normal(ld, sd), 1))
    t = T.MixtureSameFamily(T.Categorical(logits=wt), T.Independent(T.Normal(lt, st), 1))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    _close(d.mean, t.mean)
    _close(d.variance, t.variance)
    lp_d, lp_t = d.log_prob(xd), t.log_prob(xt)
    _close(lp_d, lp_t)
    _backward_both(lp_d, lp_t)
    _grads([wd, ld, sd, xd], [wt, lt, st, xt])
    dg.manual_seed(4)
    s = d.sample((7,))  # torch's gather fails here (a () batch Categorical): ours broadcasts
    assert s.shape == (7, 2, 3)
    a = r0.normal(size=(4, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    dm = D.MixtureSameFamily(
        D.Categorical(logits=dg.tensor(w)), D.MultivariateNormal(dg.tensor(loc[0]), dg.tensor(cov))
    )
    tm = T.MixtureSameFamily(
        T.Categorical(logits=torch.tensor(w)),
        T.MultivariateNormal(torch.tensor(loc[0]), torch.tensor(cov)),
    )
    _close(dm.log_prob(dg.tensor(x[:, 0])), tm.log_prob(torch.tensor(x[:, 0])))
    assert dm.sample((6,)).shape == (6, 3)


def test_mixture_same_family_errors():
    comp = D.Normal(dg.zeros(3, 5), dg.ones(3, 5))
    with pytest.raises(ValueError, match="Categorical"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), comp)
    with pytest.raises(ValueError, match="Distribution"):
        D.MixtureSameFamily(D.Categorical(dg.ones(5)), "normal")
    with pytest.raises(ValueError, match="does not equal"):
        D.MixtureSameFamily(D.Categorical(dg.ones(4)), comp)
    with pytest.raises(ValueError, match="not compatible"):
        D.MixtureSameFamily(D.Categorical(dg.ones(2, 5)), comp)
    m = D.MixtureSameFamily(D.Categorical(dg.ones(5)), D.Gamma(dg.ones(5), dg.ones(5)))
    with pytest.raises(ValueError, match="support"):
        D.MixtureSameFamily(
            D.Categorical(dg.ones(5)), D.Gamma(dg.ones(5), dg.ones(5)), validate_args=True
        ).log_prob(dg.tensor([-1.0]))
    assert repr(m.support).startswith("MixtureSameFamilyConstraint(")


# --- LowRankMultivariateNormal -------------------------------------------------------------


def _lowrank_params(batch=(2,), n=4, m=2):
    return (
        r0.normal(size=batch + (n,)),
        r0.normal(size=(n, m)),  # broadcast over the batch
        r0.uniform(0.5, 2.0, batch + (n,)),
    )


def test_lowrank_mvn_values_and_grads():
    loc, w, diag = _lowrank_params()
    x = r0.normal(size=(3, 2, 4))
    (ld, lt), (wd, wt), (dd, dt), (xd, xt) = _pair(loc), _pair(w), _pair(diag), _pair(x)
    d = D.LowRankMultivariateNormal(ld, wd, dd)
    t = T.LowRankMultivariateNormal(lt, wt, dt)
    assert d.batch_shape == (2,) and d.event_shape == (4,) and d.has_rsample
    for name in ("mean", "mode", "variance", "covariance_matrix", "precision_matrix", "scale_tril"):
        _close(getattr(d, name), getattr(t, name))
    lp_d, lp_t = d.log_prob(xd), t.log_prob(xt)
    _close(lp_d, lp_t)
    _close(d.entropy(), t.entropy())
    out_d = (
        lp_d.sum(0) + d.entropy() + d.precision_matrix.sum((-1, -2)) + d.scale_tril.sum(-1).sum(-1)
    )
    out_t = (
        lp_t.sum(0) + t.entropy() + t.precision_matrix.sum((-1, -2)) + t.scale_tril.sum(-1).sum(-1)
    )
    _backward_both(out_d, out_t)
    _grads([ld, wd, dd, xd], [lt, wt, dt, xt])
    e = d.expand((3, 2))
    assert e.batch_shape == (3, 2)
    _close(e.log_prob(xd), t.expand((3, 2)).log_prob(xt))


def test_lowrank_mvn_sampling_and_errors():
    loc = np.array([1.0, -1.0, 0.5])
    w = np.array([[1.0], [0.5], [-1.0]])
    diag = np.array([0.5, 1.0, 0.2])
    d = D.LowRankMultivariateNormal(dg.tensor(loc), dg.tensor(w), dg.tensor(diag))
    dg.manual_seed(5)
    s = _np(d.sample((20000,)))
    assert s.shape == (20000, 3)
    _close(s.mean(0), loc, atol=0.04, rtol=0)
    _close(np.cov(s.T), w @ w.T + np.diag(diag), atol=0.06, rtol=0)
    wg = dg.tensor(w, requires_grad=True)
    D.LowRankMultivariateNormal(dg.tensor(loc), wg, dg.tensor(diag)).rsample((4,)).sum().backward()
    assert wg.grad is not None
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.LowRankMultivariateNormal(dg.tensor(1.0), dg.tensor(w), dg.tensor(diag))
    with pytest.raises(ValueError, match="cov_factor must be at least two"):
        D.LowRankMultivariateNormal(dg.tensor(loc), dg.tensor(diag), dg.tensor(diag))
    with pytest.raises(ValueError, match="3 x m"):
        D.LowRankMultivariateNormal(dg.tensor(loc), dg.tensor(w.T), dg.tensor(diag))
    with pytest.raises(ValueError, match="cov_diag must be"):
        D.LowRankMultivariateNormal(dg.tensor(loc), dg.tensor(w), dg.tensor(diag[:2]))
    with pytest.raises(ValueError, match="Incompatible batch shapes"):
        D.LowRankMultivariateNormal(dg.zeros(2, 3), dg.zeros(3, 3, 1), dg.ones(3))
    with pytest.raises(ValueError, match="cov_diag"):
        D.LowRankMultivariateNormal(
            dg.tensor(loc), dg.tensor(w), dg.tensor([0.5, 1.0, -0.2]) * 0.01, validate_args=True
        )
    with pytest.raises(TypeError, match="loc"):
        D.LowRankMultivariateNormal(loc, dg.tensor(w), dg.tensor(diag))


def test_lowrank_kl_pairs():
    loc, w, diag = _lowrank_params(batch=(3,), n=3, m=2)
    loc2, w2, diag2 = _lowrank_params(batch=(3,), n=3, m=1)
    a = r0.normal(size=(3, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    ps = [_pair(v) for v in (loc, w, diag, loc2, w2, diag2, cov)]
    dd, tt = zip(*ps)
    lr_d = D.LowRankMultivariateNormal(*dd[:3])
    lr2_d = D.LowRankMultivariateNormal(*dd[3:6])
    mvn_d = D.MultivariateNormal(dd[3], covariance_matrix=dd[6])
    lr_t = T.LowRankMultivariateNormal(*tt[:3])
    lr2_t = T.LowRankMultivariateNormal(*tt[3:6])
    mvn_t = T.MultivariateNormal(tt[3], covariance_matrix=tt[6])
    total_d = 0
    total_t = 0
    for (pd_, qd_), (pt_, qt_) in (
        ((lr_d, lr2_d), (lr_t, lr2_t)),
        ((mvn_d, lr_d), (mvn_t, lr_t)),
        ((lr_d, mvn_d), (lr_t, mvn_t)),
    ):
        kd, kt = D.kl_divergence(pd_, qd_), T.kl_divergence(pt_, qt_)
        _close(kd, kt)
        total_d = total_d + kd
        total_t = total_t + kt
    _backward_both(total_d, total_t)
    _grads(dd, tt, tol={"rtol": 1e-9, "atol": 1e-10})
    with pytest.raises(ValueError, match="different event shapes"):
        D.kl_divergence(lr_d, D.LowRankMultivariateNormal(dg.zeros(2), dg.ones(2, 1), dg.ones(2)))


# --- VonMises ------------------------------------------------------------------------------


def test_von_mises_values_and_grads():
    loc = r0.uniform(-3, 3, (5,))
    kappa = np.array([1e-3, 0.7, 3.74, 3.76, 25.0])  # both sides of torch's 3.75 switch
    x = r0.uniform(-6, 6, (2, 5))
    (ld, lt), (kd, kt), (xd, xt) = _pair(loc), _pair(kappa), _pair(x)
    d, t = D.VonMises(ld, kd), T.VonMises(lt, kt)
    assert d.batch_shape == (5,) and not d.has_rsample
    _close(d.mean, t.mean)
    _close(d.mode, t.mode)
    _close(d.variance, t.variance)
    lp_d, lp_t = d.log_prob(xd), t.log_prob(xt)
    _close(lp_d, lp_t)
    _backward_both(lp_d + d.variance, lp_t + t.variance)
    _grads([ld, kd, xd], [lt, kt, xt])
    e = d.expand((3, 5))
    assert e.batch_shape == (3, 5)
    _close(e.log_prob(xd[:1]), t.expand((3, 5)).log_prob(xt[:1]))


def test_von_mises_sampling_and_errors():
    dg.manual_seed(6)
    loc = np.array([0.5, -2.8, 1.0])
    kappa = np.array([4.0, 1.0, 1e-6])
    d = D.VonMises(dg.tensor(loc), dg.tensor(kappa))
    s = _np(d.sample((20000,)))
    assert s.shape == (20000, 3) and s.min() >= -math.pi and s.max() < math.pi
    # circular moments: E[cos(x - loc)] = I1 / I0 (scipy's exact ratio)
    from scipy.special import i0e, i1e

    r = i1e(kappa) / i0e(kappa)
    _close(np.cos(s - loc).mean(0), r, atol=0.015, rtol=0)
    _close(np.sin(s - loc).mean(0), np.zeros(3), atol=0.015, rtol=0)
    s32 = D.VonMises(dg.tensor([0.0], dtype=dg.float32), dg.tensor([2.0], dtype=dg.float32))
    assert s32.sample((3,)).dtype == dg.float32
    with pytest.raises(ValueError, match="concentration"):
        D.VonMises(dg.tensor([0.0]), dg.tensor([-1.0]), validate_args=True)
    with pytest.raises(NotImplementedError):
        d.rsample()
    with pytest.raises(NotImplementedError):
        d.entropy()


# --- KL pairs of ContinuousBernoulli -------------------------------------------------------


def test_continuous_bernoulli_kl_pairs():
    pr = r0.uniform(0.1, 0.9, (4,))
    pr2 = np.array([0.2, 0.4996, 0.7, 0.9])
    a, b = r0.uniform(0.6, 2.5, (4,)), r0.uniform(0.6, 2.5, (4,))
    loc = r0.normal(size=4)
    arrays = [pr, pr2, a, b, loc]
    pairs = [_pair(v) for v in arrays]
    dd, tt = zip(*pairs)

    def make(mod, v):
        p, p2, a_, b_, loc_ = v
        return {
            "cb": mod.ContinuousBernoulli(p),
            "cb2": mod.ContinuousBernoulli(probs=p2),
            "beta": mod.Beta(a_, b_),
            "exp": mod.Exponential(a_),
            "normal": mod.Normal(loc_, b_),
            "unif_in": mod.Uniform(p2 * 0.5, p2 * 0.5 + 0.3),
            "unif_out": mod.Uniform(-a_, b_ + 1),
            "gamma": mod.Gamma(a_, b_),
            "pareto": mod.Pareto(a_, b_),
            "laplace": mod.Laplace(loc_, b_),
            "gumbel": mod.Gumbel(loc_, b_),
        }

    md, mt = make(D, dd), make(T, tt)
    pairs_ = [
        ("cb", "cb2"),
        ("beta", "cb"),
        ("cb", "exp"),
        ("cb", "normal"),
        ("cb", "unif_out"),
        ("cb", "unif_in"),
        ("unif_in", "cb"),
        ("unif_out", "cb"),
        ("cb", "pareto"),
        ("exp", "cb"),
        ("gamma", "cb"),
        ("gumbel", "cb"),
        ("laplace", "cb"),
        ("normal", "cb"),
        ("pareto", "cb"),
    ]
    total_d, total_t = 0, 0
    for p_, q_ in pairs_:
        kd, kt = D.kl_divergence(md[p_], md[q_]), T.kl_divergence(mt[p_], mt[q_])
        _close(kd, kt)
        fin = np.isfinite(_np(kt))
        if fin.any():
            total_d = total_d + (kd * dg.tensor(fin.astype(np.float64))).masked_fill(
                dg.tensor(~fin), 0.0
            )
            total_t = total_t + torch.where(torch.tensor(fin), kt, torch.zeros_like(kt))
    _backward_both(total_d, total_t)
    _grads(dd, tt, tol={"rtol": 1e-8, "atol": 1e-9})


# --- transforms ----------------------------------------------------------------------------


def _check_transform(td, tt, x, event_dim=None, tol=None):
    xd, xt = _pair(x)
    yd, yt = td(xd), tt(xt)
    _close(yd, yt, **(tol or TOL))
    _close(td.inv(yd), tt.inv(yt), **(tol or TOL))
    out_d = yd.sum()
    out_t = yt.sum()
    if tt.bijective:
        ld, lt = td.log_abs_det_jacobian(xd, yd), tt.log_abs_det_jacobian(xt, yt)
        _close(ld, lt, **(tol or TOL))
        out_d = out_d + ld.sum()
        out_t = out_t + lt.sum()
    out_d.backward()
    out_t.backward()
    _close(xd.grad, xt.grad, **(tol or TOL))
    shape = tuple(x.shape)
    assert td.forward_shape(shape) == tuple(tt.forward_shape(torch.Size(shape)))
    yshape = tuple(yt.shape)
    assert td.inverse_shape(yshape) == tuple(tt.inverse_shape(torch.Size(yshape)))
    assert td.bijective == tt.bijective
    assert td.domain.event_dim == tt.domain.event_dim
    assert td.codomain.event_dim == tt.codomain.event_dim
    assert bool(td.codomain.check(yd).all())


def test_transforms_vector_and_matrix():
    x3 = r0.normal(size=(2, 3))
    _check_transform(TR.SoftmaxTransform(), T.transforms.SoftmaxTransform(), x3 * 3)
    _check_transform(TR.StickBreakingTransform(), T.transforms.StickBreakingTransform(), x3)
    _check_transform(TR.SoftplusTransform(), T.transforms.SoftplusTransform(), x3 * 10)
    _check_transform(TR.CorrCholeskyTransform(), T.transforms.CorrCholeskyTransform(), x3)
    x6 = r0.normal(size=(2, 6))
    _check_transform(TR.CorrCholeskyTransform(), T.transforms.CorrCholeskyTransform(), x6)
    m = r0.normal(size=(2, 3, 3))
    _check_transform(TR.LowerCholeskyTransform(), T.transforms.LowerCholeskyTransform(), m)
    _check_transform(
        TR.PositiveDefiniteTransform(),
        T.transforms.PositiveDefiniteTransform(),
        m,
        tol={"rtol": 1e-9, "atol": 1e-9},
    )
    _check_transform(
        TR.ReshapeTransform((2, 3), (3, 2)), T.transforms.ReshapeTransform((2, 3), (3, 2)), m[:, :2]
    )
    _check_transform(
        TR.IndependentTransform(TR.ExpTransform(), 1),
        T.transforms.IndependentTransform(T.transforms.ExpTransform(), 1),
        x3,
    )
    cdf_d = TR.CumulativeDistributionTransform(
        D.Normal(dg.tensor(0.5, dtype=dg.float64), dg.tensor(2.0, dtype=dg.float64))
    )
    cdf_t = T.transforms.CumulativeDistributionTransform(
        T.Normal(torch.tensor(0.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    )
    _check_transform(cdf_d, cdf_t, x3)
    assert repr(TR.IndependentTransform(TR.ExpTransform(), 1)) == repr(
        T.transforms.IndependentTransform(T.transforms.ExpTransform(), 1)
    )


def test_cat_and_stack_transforms():
    x = r0.normal(size=(4, 5))
    x[:, 2:] = np.abs(x[:, 2:]) + 0.1
    for dim in (1, -1):
        td = TR.CatTransform([TR.ExpTransform(), TR.PowerTransform(2.0)], dim=dim, lengths=[2, 3])
        tt = T.transforms.CatTransform(
            [T.transforms.ExpTransform(), T.transforms.PowerTransform(2.0)], dim=dim, lengths=[2, 3]
        )
        _check_transform(td, tt, x)
    # a vector transform in a cat: its log det sums over the event
    y = r0.normal(size=(4, 6))
    td = TR.CatTransform(
        [TR.IndependentTransform(TR.ExpTransform(), 1), TR.SigmoidTransform()], -1, [3, 3]
    )
    tt = T.transforms.CatTransform(
        [
            T.transforms.IndependentTransform(T.transforms.ExpTransform(), 1),
            T.transforms.SigmoidTransform(),
        ],
        -1,
        [3, 3],
    )
    yd, yt = _pair(y)
    _close(td.log_abs_det_jacobian(yd, td(yd)), tt.log_abs_det_jacobian(yt, tt(yt)))
    z = np.abs(r0.normal(size=(4, 3))) + 0.1
    sd = TR.StackTransform(
        [TR.ExpTransform(), TR.AffineTransform(1.0, 3.0), TR.SigmoidTransform()], 1
    )
    st = T.transforms.StackTransform(
        [
            T.transforms.ExpTransform(),
            T.transforms.AffineTransform(1.0, 3.0),
            T.transforms.SigmoidTransform(),
        ],
        1,
    )
    _check_transform(sd, st, z)
    with pytest.raises(AssertionError, match="must equal"):
        sd(dg.zeros(4, 2))
    with pytest.raises(AssertionError, match="lengths"):
        TR.CatTransform([TR.ExpTransform()], lengths=[1, 2])
    with pytest.raises(AssertionError):
        TR.StackTransform([TR.ExpTransform(), "exp"])


def test_transformed_distributions_with_new_transforms():
    """StickBreaking as a Dirichlet-like base map, CorrCholesky's shapes, and the cache."""
    loc, scale = r0.normal(size=(2, 3)), r0.uniform(0.5, 1.5, (2, 3))
    (ld, lt), (sd, st) = _pair(loc), _pair(scale)
    d = D.TransformedDistribution(D.Normal(ld, sd), [TR.StickBreakingTransform()])
    t = T.TransformedDistribution(T.Normal(lt, st), [T.transforms.StickBreakingTransform()])
    assert d.event_shape == (4,) and d.batch_shape == (2,)
    v = r0.dirichlet(np.ones(4), 2)
    lp_d, lp_t = d.log_prob(dg.tensor(v)), t.log_prob(torch.tensor(v))
    _close(lp_d, lp_t)
    _backward_both(lp_d, lp_t)
    _grads([ld, sd], [lt, st])
    c = D.TransformedDistribution(
        D.Normal(dg.zeros(2, 6), dg.ones(2, 6)), TR.CorrCholeskyTransform()
    )
    assert c.event_shape == (4, 4)
    s = c.sample()
    assert bool(C.corr_cholesky.check(s).all())
    tr = TR.SoftplusTransform(cache_size=1)
    x = dg.tensor([0.5, 2.0])
    assert tr.inv(tr(x)) is x
    with pytest.raises(ValueError, match="different numbers of elements"):
        TR.ReshapeTransform((2, 3), (4,))
    with pytest.raises(ValueError, match="flattened lower-diagonal"):
        TR.CorrCholeskyTransform().forward_shape((2, 4))


def test_new_constraints():
    v = np.array([[0.2, 0.8, 3.0], [0.6, 0.6, -1.0]])
    for dc, tc in (
        (
            C.cat([C.unit_interval, C.positive], 1, [2, 1]),
            T.constraints.cat([T.constraints.unit_interval, T.constraints.positive], 1, [2, 1]),
        ),
        (
            C.stack([C.unit_interval, C.real, C.positive], 1),
            T.constraints.stack(
                [T.constraints.unit_interval, T.constraints.real, T.constraints.positive], 1
            ),
        ),
        (C.multinomial(4), T.constraints.multinomial(4)),
    ):
        np.testing.assert_array_equal(
            _np(dc.check(dg.tensor(v))), tc.check(torch.tensor(v)).numpy()
        )
        assert dc.event_dim == tc.event_dim
    a = r0.normal(size=(3, 3))
    mats = np.stack([a @ a.T, a, a @ a.T - 10 * np.eye(3), np.eye(3)])
    for dc, tc in (
        (C.symmetric, T.constraints.symmetric),
        (C.positive_semidefinite, T.constraints.positive_semidefinite),
        (C.square, T.constraints.square),
        (C.corr_cholesky, T.constraints.corr_cholesky),
    ):
        np.testing.assert_array_equal(
            _np(dc.check(dg.tensor(mats))), tc.check(torch.tensor(mats)).numpy()
        )
    assert not bool(C.square.check(dg.zeros(2, 3)).any())


def test_float32_and_size0():
    x = r0.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
    p = r0.uniform(0.1, 0.9, (4,)).astype(np.float32)
    _close(
        D.ContinuousBernoulli(dg.tensor(p)).log_prob(dg.tensor(x)),
        T.ContinuousBernoulli(torch.tensor(p)).log_prob(torch.tensor(x)),
        rtol=1e-5,
        atol=1e-5,
    )
    loc, w, diag = (a.astype(np.float32) for a in _lowrank_params())
    v = r0.normal(size=(2, 4)).astype(np.float32)
    d = D.LowRankMultivariateNormal(dg.tensor(loc), dg.tensor(w), dg.tensor(diag))
    t = T.LowRankMultivariateNormal(torch.tensor(loc), torch.tensor(w), torch.tensor(diag))
    out = d.log_prob(dg.tensor(v))
    assert out.dtype == dg.float32
    _close(out, t.log_prob(torch.tensor(v)), rtol=1e-5, atol=1e-5)
    assert D.VonMises(dg.zeros(0), dg.ones(0)).sample((3,)).shape == (3, 0)
    assert D.ContinuousBernoulli(dg.ones(0) * 0.3).rsample((2,)).shape == (2, 0)
    m = D.MixtureSameFamily(D.Categorical(dg.ones(1)), D.Normal(dg.zeros(1), dg.ones(1)))
    _close(m.log_prob(dg.tensor([0.0])), np.array([-0.5 * math.log(2 * math.pi)]), rtol=1e-6)
