"""Round 39 speed work on F.embedding_bag (max by index_reduce_, sum / mean without the keep
mask), F.ctc_loss (logaddexp recursions) and the det / slogdet / cholesky / qr backwards (LU
inverse where well conditioned, triangular inverses) against torch 2.13 in float64."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import _linalg_more

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ---- embedding_bag -------------------------------------------------------------------------


def _bag_pair(ids, w, mode, offsets=None, psw=None, g_seed=1, **kw):
    """embedding_bag of both libraries (float64), the incoming gradient random: outputs and
    the gradients of weight and per_sample_weights."""
    wt = torch.tensor(w, requires_grad=True)
    wd = dg.Tensor(w.copy(), requires_grad=True)
    pt = None if psw is None else torch.tensor(psw, requires_grad=True)
    pd = None if psw is None else dg.Tensor(psw.copy(), requires_grad=True)
    ot = None if offsets is None else torch.tensor(offsets)
    od = None if offsets is None else dg.Tensor(np.asarray(offsets))
    rt = TF.embedding_bag(torch.tensor(ids), wt, ot, mode=mode, per_sample_weights=pt, **kw)
    rd = F.embedding_bag(dg.Tensor(ids), wd, od, mode=mode, per_sample_weights=pd, **kw)
    g = np.random.default_rng(g_seed).standard_normal(tuple(rt.shape))
    rt.backward(torch.tensor(g))
    rd.backward(dg.Tensor(g))
    return (rt, wt, pt), (rd, wd, pd)


def _check_bag(t, d, tol=1e-10):
    (rt, wt, pt), (rd, wd, pd) = t, d
    _close(rd.numpy(), rt.detach().numpy(), tol)
    _close(np.asarray(wd.grad), wt.grad.numpy(), tol)
    _close(wd.numpy(), wt.detach().numpy(), tol)  # max_norm renormalizes in place
    if pt is not None:
        _close(np.asarray(pd.grad), pt.grad.numpy(), tol)


RNG = np.random.default_rng(0)
W = RNG.standard_normal((23, 5))
IDS = RNG.integers(0, 23, 40)
# bag sizes 0 (first, middle, last), 1 and several: empty bags of every position
OFFS = np.array([0, 0, 3, 4, 4, 12, 30, 40])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"padding_idx": int(IDS[5])},
        {"padding_idx": -2, "max_norm": 1.5},
        {"include_last_offset": True},
        {"include_last_offset": True, "padding_idx": int(IDS[0])},
    ],
    ids=["plain", "padding", "padding-max_norm", "last_offset", "last_offset-padding"],
)
def test_embedding_bag_offsets(mode, kw):
    offs = np.append(OFFS, 40) if kw.get("include_last_offset") else OFFS
    _check_bag(*_bag_pair(IDS, W, mode, offs, **kw))


@pytest.mark.parametrize("kw", [{}, {"padding_idx": int(IDS[3])}])
def test_embedding_bag_per_sample_weights(kw):
    psw = RNG.random(40) + 0.25
    _check_bag(*_bag_pair(IDS, W, "sum", OFFS, psw=psw, **kw))
    # 2-D input with its (bags, width) weights
    _check_bag(*_bag_pair(IDS.reshape(8, 5), W, "sum", psw=psw.reshape(8, 5), **kw))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_and_all_padding(mode):
    ids = IDS.reshape(4, 10).copy()
    ids[1] = 7  # a bag of padding only: zeros
    _check_bag(*_bag_pair(ids, W, mode, padding_idx=7))
    _check_bag(*_bag_pair(IDS[:1].reshape(1, 1), W, mode))  # one bag of one
    # every entry padding: zeros, no gradient
    _check_bag(*_bag_pair(np.full(6, 3), W, mode, np.array([0, 2]), padding_idx=3))
    _check_bag(*_bag_pair(IDS[:0], W, mode, np.array([0, 0, 0])))  # no entries
    # no bags (include_last_offset with one offset; torch 2.13's CPU kernel crashes there)
    wd = dg.Tensor(W.copy(), requires_grad=True)
    out = F.embedding_bag(
        dg.Tensor(IDS[:6]), wd, dg.Tensor(np.array([0])), mode=mode, include_last_offset=True
    )
    assert out.shape == (0, 5)
    out.sum().backward()
    assert not np.asarray(wd.grad).any()


def test_embedding_bag_max_ties_and_extremes():
    w = np.round(RNG.standard_normal((9, 6)))  # many equal values: the first maximum wins
    w[2, :3] = -np.inf
    w[4, 3:] = np.inf
    w[5] = 0.0
    w[6] = -0.0
    ids = np.array([2, 5, 6, 1, 1, 2, 4, 6, 5, 2, 2, 8, 0, 3])
    _check_bag(*_bag_pair(ids, w, "max", np.array([0, 1, 3, 7, 7, 11])))
    (rt, _, _), (rd, _, _) = _bag_pair(ids[1:3], w, "max", np.array([0]))
    assert np.array_equal(np.signbit(rd.numpy()), np.signbit(rt.detach().numpy()))


def test_embedding_bag_max_nan_is_atens_scan():
    # ATen keeps a bag's first value and replaces it only by a strictly greater one: a leading
    # NaN stays, a later NaN is passed over
    w = RNG.standard_normal((6, 3))
    w[1, 0] = np.nan
    w[3, 2] = np.nan
    ids = np.array([0, 1, 3, 1, 2, 0, 3, 4, 5])
    _check_bag(*_bag_pair(ids, w, "max", np.array([0, 2, 2, 5])))


def test_embedding_bag_float32_large():
    w = RNG.standard_normal((300, 16)).astype(np.float32)
    ids = RNG.integers(0, 300, 500)
    offs = np.sort(RNG.integers(0, 500, 40))
    offs[0] = 0
    for mode in ("sum", "mean", "max"):
        _check_bag(*_bag_pair(ids, w, mode, offs), tol=2e-5)


# ---- ctc_loss ------------------------------------------------------------------------------


def _ctc_case(t=12, n=5, c=6, s=4, seed=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(t, n, c, dtype=dtype, generator=g).log_softmax(-1)
    tg = torch.randint(1, c, (n, s), generator=g)
    tg[0, 1] = tg[0, 0]  # a repeat: no skip there, and it needs a blank between
    il = torch.tensor([t, t - 1, 5, 2, 0][:n])
    tl = torch.tensor([s, 3, 2, 2, 0][:n])  # sample 3 cannot be aligned (needs 3 steps)
    return lp, tg, il, tl


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("blank", [0, 5])
def test_ctc_loss(reduction, zero_infinity, blank):
    lp, tg, il, tl = _ctc_case()
    if blank == 5:
        tg = torch.where(tg == 5, 1, tg)
    lpt = lp.clone().requires_grad_()
    lt = TF.ctc_loss(lpt, tg, il, tl, blank, reduction, zero_infinity)
    lpd = dg.Tensor(lp.numpy().copy(), requires_grad=True)
    ld = F.ctc_loss(
        lpd, dg.Tensor(tg.numpy()), dg.Tensor(il.numpy()), dg.Tensor(tl.numpy()), blank,
        reduction, zero_infinity,
    )  # fmt: skip
    _close(ld.numpy(), lt.detach().numpy(), 1e-12)
    if zero_infinity or reduction == "none":
        gt = torch.rand(lt.shape, dtype=torch.float64) + 0.5
        lt.backward(gt)
        ld.backward(dg.Tensor(gt.numpy()))
        gd, gtt = np.asarray(lpd.grad), lpt.grad.numpy()
        fin = np.isfinite(gtt)
        _close(gd[fin], gtt[fin])
        assert np.array_equal(np.isnan(gd), np.isnan(gtt))


def test_ctc_loss_float32_and_unbatched():
    lp, tg, il, tl = _ctc_case(t=30, n=4, c=9, s=6, seed=5, dtype=torch.float32)
    il, tl = torch.tensor([30, 29, 20, 13]), torch.tensor([6, 5, 6, 1])
    lpt = lp.clone().requires_grad_()
    lt = TF.ctc_loss(lpt, tg, il, tl)
    lt.backward()
    lpd = dg.Tensor(lp.numpy().copy(), requires_grad=True)
    ld = F.ctc_loss(lpd, dg.Tensor(tg.numpy()), dg.Tensor(il.numpy()), dg.Tensor(tl.numpy()))
    ld.backward()
    _close(ld.numpy(), lt.detach().numpy(), 2e-5)
    _close(np.asarray(lpd.grad), lpt.grad.numpy(), 2e-5)
    # (T, C) without a batch, T = 1
    lp1 = lp[:1, 0].double()
    want = TF.ctc_loss(lp1, tg[0, :1], torch.tensor(1), torch.tensor(1), reduction="sum")
    got = F.ctc_loss(dg.Tensor(lp1.numpy()), dg.Tensor(tg[0, :1].numpy()), 1, 1, reduction="sum")
    _close(got.numpy(), want.numpy(), 1e-12)


# ---- det / slogdet -------------------------------------------------------------------------


def _near_singular_batch():
    rng = np.random.default_rng(7)
    n = 6
    a = rng.standard_normal((7, n, n))
    a[1] = np.eye(n) + 0.1 * a[1]  # well conditioned
    a[2, :, -1] = a[2, :, 0]  # rank n-1: adj(A) of rank 1
    a[3, :, -2:] = a[3, :, :2]  # rank n-2: adj(A) = 0
    u, _, vh = np.linalg.svd(a[4])
    a[4] = (u * np.array([3, 2, 1, 1, 0.5, 1e-9])) @ vh  # near-singular
    a[5] = (u * np.array([1e4, 1, 1, 1, 1, 1e-4])) @ vh  # badly conditioned, det 1
    a[6] = 0.0  # zero matrix
    return a


def _cofactors(m):
    n = m.shape[0]
    out = np.empty_like(m)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(m, i, 0), j, 1)
            out[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def test_det_gradients_singular_and_near_singular():
    a = _near_singular_batch()
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    yt, yd = torch.linalg.det(at), dg.linalg.det(ad)
    # entry 5 (condition 1e8): both LU's rounding is cond * eps (2.6e-10 apart on a Zen 4)
    _close(np.delete(yd.numpy(), 5), np.delete(yt.detach().numpy(), 5), 1e-10)
    _close(yd.numpy()[5], yt.detach().numpy()[5], 1e-6)
    g = np.linspace(0.5, 2.0, 7)
    yt.backward(torch.tensor(g))
    yd.backward(dg.Tensor(g))
    gt, gd = at.grad.numpy(), np.asarray(ad.grad)
    # torch 2.13 gives exact-rank n-1 matrices (det exactly 0) a zero gradient; the gradient
    # is adj(A)^T, nonzero there: entry 2 against the cofactors
    assert not gt[2].any()
    gt[2] = g[2] * _cofactors(a[2])
    scale = np.maximum(np.abs(gt).max(axis=(-2, -1), keepdims=True), 1.0)
    # entry 5 (condition 1e8): both sides' rounding is cond * eps
    _close(np.delete(gd / scale, 5, 0), np.delete(gt / scale, 5, 0), 1e-10)
    _close(gd[5] / scale[5], gt[5] / scale[5], 1e-6)
    # unbatched, 1x1 and 0x0
    for m in (a[3], a[1], np.array([[2.5]]), np.zeros((0, 0))):
        mt = torch.tensor(m, requires_grad=True)
        md = dg.Tensor(m.copy(), requires_grad=True)
        torch.linalg.det(mt).backward()
        dg.linalg.det(md).backward()
        _close(np.asarray(md.grad), mt.grad.numpy(), 1e-10)
    md = dg.Tensor(a[2].copy(), requires_grad=True)
    dg.linalg.det(md).backward()
    _close(np.asarray(md.grad), _cofactors(a[2]), 1e-10)


def test_det_float32_and_gradcheck():
    a = (np.eye(8) + 0.2 * np.random.default_rng(2).standard_normal((3, 8, 8))).astype(np.float32)
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    torch.linalg.det(at).sum().backward()
    dg.linalg.det(ad).sum().backward()
    _close(np.asarray(ad.grad), at.grad.numpy(), 1e-5)
    a64 = _near_singular_batch()[:4]
    assert dg.gradcheck(dg.linalg.det, (dg.Tensor(a64, requires_grad=True),))


def test_slogdet_gradients():
    a = _near_singular_batch()[[0, 1, 4, 5]]
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    st, lt = torch.linalg.slogdet(at)
    sd, ld = dg.linalg.slogdet(ad)
    _close(sd.numpy(), st.detach().numpy())
    _close(ld.numpy(), lt.detach().numpy(), 1e-8)  # the LU's rounding at condition 1e9
    lt.sum().backward()
    ld.sum().backward()
    gt, gd = at.grad.numpy(), np.asarray(ad.grad)
    for i, tol in enumerate([1e-10, 1e-10, 1e-6, 1e-6]):  # entries 2, 3: cond 1e9 / 1e8
        _close(gd[i] / np.abs(gt[i]).max(), gt[i] / np.abs(gt[i]).max(), tol)


# ---- cholesky / qr -------------------------------------------------------------------------


@pytest.fixture(params=["scipy", "numpy"])
def lapack_route(request, monkeypatch):
    """Both routes of _tri_inv: scipy's trtri, and the batched inverse scipy-less."""
    if request.param == "numpy":
        monkeypatch.setattr(_linalg_more, "_LAPACK", [None])
    return request.param


def _spd(b, n, seed):
    x = np.random.default_rng(seed).standard_normal((b, n, n))
    return x @ x.transpose(0, 2, 1) / n + np.eye(n)


@pytest.mark.parametrize("n", [3, 20])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_gradients(lapack_route, n, upper):
    a = _spd(3, n, n)
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    g = np.random.default_rng(1).standard_normal(a.shape)
    lt = torch.linalg.cholesky(at, upper=upper)
    ld = dg.linalg.cholesky(ad, upper=upper)
    _close(ld.numpy(), lt.detach().numpy())
    lt.backward(torch.tensor(g))
    ld.backward(dg.Tensor(g))
    _close(np.asarray(ad.grad), at.grad.numpy())


@pytest.mark.parametrize("shape", [(2, 20, 20), (24, 17), (17, 24), (3, 4, 4), (5, 3)])
def test_qr_gradients(lapack_route, shape):
    a = np.random.default_rng(4).standard_normal(shape)
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    qt, rt = torch.linalg.qr(at)
    qd, rd = dg.linalg.qr(ad)
    _close(qd.numpy(), qt.detach().numpy())
    _close(rd.numpy(), rt.detach().numpy())
    rng = np.random.default_rng(5)
    gq, gr = rng.standard_normal(qt.shape), rng.standard_normal(rt.shape)
    ((qt * torch.tensor(gq)).sum() + (rt * torch.tensor(gr)).sum()).backward()
    ((qd * dg.Tensor(gq)).sum() + (rd * dg.Tensor(gr)).sum()).backward()
    _close(np.asarray(ad.grad), at.grad.numpy())


def test_cholesky_qr_float32():
    a = _spd(2, 24, 9).astype(np.float32)
    at = torch.tensor(a, requires_grad=True)
    ad = dg.Tensor(a.copy(), requires_grad=True)
    torch.linalg.cholesky(at).sum().backward()
    dg.linalg.cholesky(ad).sum().backward()
    _close(np.asarray(ad.grad), at.grad.numpy(), 1e-4)
    b = np.random.default_rng(6).standard_normal((2, 24, 24)).astype(np.float32)
    bt = torch.tensor(b, requires_grad=True)
    bd = dg.Tensor(b.copy(), requires_grad=True)
    (lambda q, r: (q + r).sum())(*torch.linalg.qr(bt)).backward()
    (lambda q, r: (q + r).sum())(*dg.linalg.qr(bd)).backward()
    _close(np.asarray(bd.grad), bt.grad.numpy(), 1e-4)
