"""MultivariateNormal / LowRankMultivariateNormal: log_prob solves once for all samples
(torch's _batch_mahalanobis: L's batch leading, samples as columns of one triangular solve),
rsample's unbatched scale_tril is one matrix product; values, gradients and double backward
equal torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions.multivariate_normal import _batch_mahalanobis as t_mahalanobis

import deltagrad as dg
import deltagrad.distributions.multivariate_normal as mvn_mod
from deltagrad.distributions.multivariate_normal import _batch_mahalanobis, _batch_mv

TOL = 1e-10


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.data)


def _pair(v, grad=True):
    return dg.tensor(v, requires_grad=grad), torch.tensor(v, requires_grad=grad)


def _lower(rng, batch, n):
    a = np.tril(rng.standard_normal((*batch, n, n)), -1)
    return a + np.eye(n) * (1.0 + rng.uniform(size=(*batch, 1, n)))  # a positive diagonal


def _spd(rng, batch, n):
    a = rng.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) / max(n, 1) + np.eye(n)


def _close(a, b, tol=TOL):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


SHAPES = [
    ((), (), 3),
    ((), (7,), 5),
    ((4,), (4,), 2),
    ((4,), (6, 4), 3),
    ((1, 4), (3, 2, 4), 3),
    ((2, 1), (2, 3), 1),
    ((2, 3), (5, 2, 3), 4),
    ((1,), (6, 5, 1), 2),
    ((3,), (0, 3), 2),
    ((), (0,), 2),
    ((3,), (1, 3), 6),
]


@pytest.mark.parametrize("lb,xb,n", SHAPES)
def test_batch_mahalanobis_matches_torch_with_double_backward(lb, xb, n):
    rng = np.random.default_rng(abs(hash((lb, xb, n))) % 2**32)
    low, x = _lower(rng, lb, n), rng.standard_normal((*xb, n))
    dl, tl = _pair(low)
    dx, tx = _pair(x)
    want = t_mahalanobis(tl, tx)
    got = _batch_mahalanobis(dl, dx)
    assert tuple(got.shape) == tuple(want.shape)
    _close(got, want)
    w = rng.standard_normal(tuple(want.shape))
    gd = dg.autograd.grad((got * dg.tensor(w)).sum(), (dl, dx), create_graph=True)
    gt = torch.autograd.grad((want * torch.tensor(w)).sum(), (tl, tx), create_graph=True)
    for a, b in zip(gd, gt):
        _close(a, b)
    if want.numel() == 0:
        return
    hd = dg.autograd.grad((gd[0] ** 2).sum() + (gd[1] ** 3).sum(), (dl, dx))
    ht = torch.autograd.grad((gt[0] ** 2).sum() + (gt[1] ** 3).sum(), (tl, tx))
    for a, b in zip(hd, ht):
        _close(a, b)


def test_batch_mahalanobis_l_with_more_batch_than_x():
    # torch's own helper needs x's batch to end with L's; ours broadcasts (KL's use)
    rng = np.random.default_rng(3)
    low, x = _lower(rng, (4,), 3), rng.standard_normal(3)
    got = _batch_mahalanobis(dg.tensor(low), dg.tensor(x))
    want = t_mahalanobis(torch.tensor(low), torch.tensor(x).expand(4, 3))
    _close(got, want)


def test_one_solve_for_all_samples(monkeypatch):
    calls = []
    real = mvn_mod.solve_lower

    def spy(lower, b):
        calls.append((tuple(lower.shape), tuple(b.shape)))
        return real(lower, b)

    monkeypatch.setattr(mvn_mod, "solve_lower", spy)
    rng = np.random.default_rng(4)
    n = 5
    d = dg.distributions.MultivariateNormal(
        dg.tensor(rng.standard_normal((8, 4, n))), scale_tril=dg.tensor(_lower(rng, (8, 4), n))
    )
    d.log_prob(dg.tensor(rng.standard_normal((256, 8, 4, n))))
    # L is not expanded to the samples: its 32 matrices, the 256 samples as columns
    assert calls == [((32, n, n), (32, n, 256))]


@pytest.mark.parametrize("kind", ["covariance_matrix", "precision_matrix", "scale_tril"])
@pytest.mark.parametrize("batch", [(), (3,), (3, 2)])
@pytest.mark.parametrize("n", [1, 4, 9])
def test_mvn_log_prob_grads_match_torch(kind, batch, n):
    rng = np.random.default_rng(n * 100 + len(batch) * 10 + len(kind))
    mat = _lower(rng, batch, n) if kind == "scale_tril" else _spd(rng, batch, n)
    loc = rng.standard_normal((*batch, n))
    x = rng.standard_normal((7, *batch, n))
    (dm, tm), (dloc, tloc), (dx, tx) = _pair(mat), _pair(loc), _pair(x)
    pd = dg.distributions.MultivariateNormal(dloc, **{kind: dm})
    pt = torch.distributions.MultivariateNormal(tloc, **{kind: tm})
    lpd, lpt = pd.log_prob(dx), pt.log_prob(tx)
    _close(lpd, lpt)
    w = rng.standard_normal(tuple(lpt.shape))
    gd = dg.autograd.grad((lpd * dg.tensor(w)).sum(), (dloc, dm, dx), create_graph=True)
    gt = torch.autograd.grad((lpt * torch.tensor(w)).sum(), (tloc, tm, tx), create_graph=True)
    for a, b in zip(gd, gt):
        _close(a, b, 1e-9)
    hd = dg.autograd.grad(sum((g**2).sum() for g in gd), (dloc, dm, dx))
    ht = torch.autograd.grad(sum((g**2).sum() for g in gt), (tloc, tm, tx))
    for a, b in zip(hd, ht):
        _close(a, b, 1e-8)


def test_mvn_log_prob_float32_and_broadcast_value():
    rng = np.random.default_rng(7)
    cov = _spd(rng, (3,), 4).astype(np.float32)
    loc = rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((5, 1, 4)).astype(np.float32)
    pd = dg.distributions.MultivariateNormal(dg.tensor(loc), covariance_matrix=dg.tensor(cov))
    pt = torch.distributions.MultivariateNormal(
        torch.tensor(loc), covariance_matrix=torch.tensor(cov)
    )
    got, want = pd.log_prob(dg.tensor(x)), pt.log_prob(torch.tensor(x))
    assert got.dtype == dg.float32 and tuple(got.shape) == (5, 3)
    _close(got, want, 1e-4)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_lowrank_log_prob_grads_match_torch(batch):
    rng = np.random.default_rng(len(batch))
    n, m = 6, 2
    loc = rng.standard_normal((*batch, n))
    w = rng.standard_normal((*batch, n, m))
    diag = rng.uniform(0.5, 2.0, (*batch, n))
    x = rng.standard_normal((5, *batch, n))
    (dl, tl), (dw, tw), (dd, td), (dx, tx) = _pair(loc), _pair(w), _pair(diag), _pair(x)
    pd = dg.distributions.LowRankMultivariateNormal(dl, dw, dd)
    pt = torch.distributions.LowRankMultivariateNormal(tl, tw, td)
    lpd, lpt = pd.log_prob(dx), pt.log_prob(tx)
    _close(lpd, lpt)
    gd = dg.autograd.grad(lpd.sum(), (dl, dw, dd, dx), create_graph=True)
    gt = torch.autograd.grad(lpt.sum(), (tl, tw, td, tx), create_graph=True)
    for a, b in zip(gd, gt):
        _close(a, b, 1e-9)
    hd = dg.autograd.grad(sum((g**2).sum() for g in gd), (dl, dw, dd, dx))
    ht = torch.autograd.grad(sum((g**2).sum() for g in gt), (tl, tw, td, tx))
    for a, b in zip(hd, ht):
        _close(a, b, 1e-8)
    _close(pd.precision_matrix, pt.precision_matrix)


@pytest.mark.parametrize(
    "mshape,vshape", [((4, 3), (3,)), ((4, 3), (5, 3)), ((4, 3), (2, 5, 3)), ((2, 4, 3), (5, 2, 3))]
)
def test_batch_mv_matches_torch(mshape, vshape):
    rng = np.random.default_rng(len(vshape))
    (dm, tm), (dv, tv) = _pair(rng.standard_normal(mshape)), _pair(rng.standard_normal(vshape))
    got = _batch_mv(dm, dv)
    want = torch.matmul(tm, tv.unsqueeze(-1)).squeeze(-1)
    assert tuple(got.shape) == tuple(want.shape)
    _close(got, want)
    w = rng.standard_normal(tuple(want.shape))
    gd = dg.autograd.grad((got * dg.tensor(w)).sum(), (dm, dv))
    gt = torch.autograd.grad((want * torch.tensor(w)).sum(), (tm, tv))
    for a, b in zip(gd, gt):
        _close(a, b)


@pytest.mark.parametrize("batch", [(), (3,)])
def test_rsample_gradients(batch):
    # rsample = loc + L eps: the gradient of sum(rsample * w) in L is sum(w eps^T)
    rng = np.random.default_rng(11)
    n = 4
    dl, _ = _pair(rng.standard_normal((*batch, n)))
    ds, _ = _pair(_lower(rng, batch, n))
    d = dg.distributions.MultivariateNormal(dl, scale_tril=ds)
    dg.manual_seed(0)
    s = d.rsample((6,))
    assert tuple(s.shape) == (6, *batch, n)
    eps = _np(dg.linalg.solve_triangular(ds.detach(), (s - dl).detach().unsqueeze(-1), upper=False))
    w = rng.standard_normal(tuple(s.shape))
    gl, gs = dg.autograd.grad((s * dg.tensor(w)).sum(), (dl, ds))
    np.testing.assert_allclose(_np(gl), w.sum(0), rtol=TOL, atol=TOL)
    want = np.einsum("s...i,s...j->...ij", w, eps[..., 0])
    np.testing.assert_allclose(_np(gs), want, rtol=1e-9, atol=1e-9)
