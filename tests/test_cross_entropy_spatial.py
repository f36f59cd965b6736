"""torch 2.13 parity of cross_entropy / nll_loss on (N, C, d1, ...) inputs (round 41): the
class-index cross_entropy of such logits runs in their own layout (_ce_spatial: passes over the
(N, S) slabs along the class axis, the target logits gathered at their flat positions) where S
and the size are large enough, else through the fused kernel on the logits copied class-last
(_ce_fused). Both paths (thresholds forced) and the default choice, against torch: loss, input
gradient (random upstream gradient), retained-graph backwards and the double backward, for
every option (weight, ignore_index, label_smoothing, the reductions, probability targets),
3-D to 5-D inputs, odd sizes and empty batches; float64 to 1e-10, float32 to 1e-5."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as dgf

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
SHAPES = [(2, 5, 7), (3, 4, 37), (2, 3, 5, 7), (1, 6, 9, 11), (2, 3, 4, 5, 3)]
TOL = {
    np.float64: {"rtol": 1e-10, "atol": 1e-12, "equal_nan": True},
    np.float32: {"rtol": 1e-5, "atol": 1e-6, "equal_nan": True},
}


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _np(v: object) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().numpy(force=True)
    return np.asarray(v.numpy() if isinstance(v, dg.Tensor) else v)


@pytest.fixture(params=["spatial", "rows"])
def path(request, monkeypatch):
    """Force _ce_spatial (thresholds 1) or the class-last copy (_ce_spatial declines)."""
    big = 1 << 62
    lo = request.param == "spatial"
    monkeypatch.setattr(dgf, "_SPATIAL_MIN_S", 1 if lo else big)
    monkeypatch.setattr(dgf, "_SPATIAL_MIN_SIZE", 1 if lo else big)
    calls = []
    orig = dgf._ce_spatial

    def spy(*args):
        out = orig(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(dgf, "_ce_spatial", spy)
    return request.param, calls


def _pair(x, t, w, dtype):
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    wd = None if w is None else dg.tensor(w.astype(dtype))
    wt = None if w is None else torch.tensor(w.astype(dtype))
    return xd, xt, dg.tensor(t), torch.tensor(t), wd, wt


def _inputs(shape, dtype, ignore, rng, prob=False):
    x = rng.standard_normal(shape).astype(dtype) * 2
    if prob:
        t = rng.random(shape).astype(dtype)
        t /= np.maximum(t.sum(1, keepdims=True), 1e-12)
        return x, t
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    if ignore == "some":
        t[rng.random(t.shape) < 0.3] = 1
    elif ignore == "all":
        t[...] = 1
    return x, t


def _check(l1, l2, xd, xt, rng, tol, double=True):
    np.testing.assert_allclose(_np(l1), _np(l2), **tol)
    assert l1.shape == tuple(l2.shape)
    assert _np(l1).dtype == _np(l2).dtype
    gv = rng.standard_normal(l1.shape).astype(_np(l2).dtype)
    g1 = dg.tensor(gv, requires_grad=True)
    g2 = torch.tensor(gv, requires_grad=True)
    (d1,) = dg.autograd.grad(l1, [xd], g1, create_graph=double, retain_graph=True)
    (d2,) = torch.autograd.grad(l2, [xt], g2, create_graph=double, retain_graph=True)
    np.testing.assert_allclose(_np(d1), _np(d2), **tol)
    assert _np(d1).shape == xt.shape
    if not double or not np.isfinite(_np(d1)).all():
        return
    v = rng.standard_normal(d1.shape)
    h1 = dg.autograd.grad((d1 * dg.tensor(v)).sum(), [xd, g1], allow_unused=True)
    h2 = torch.autograd.grad((d2 * torch.tensor(v)).sum(), [xt, g2], allow_unused=True)
    for a, b in zip(h1, h2):
        a0 = np.zeros(()) if a is None else _np(a)
        b0 = np.zeros(()) if b is None else _np(b)
        np.testing.assert_allclose(a0 + np.zeros_like(b0), b0 + np.zeros_like(a0), **tol)


OPTIONS = list(itertools.product(REDUCTIONS, [0.0, 0.15], [False, True], ["none", "some", "all"]))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("reduction", "eps", "weighted", "ignore"), OPTIONS)
def test_cross_entropy_class_indices(path, shape, dtype, reduction, eps, weighted, ignore):
    rng = _rng("ci", shape, dtype, reduction, eps, weighted, ignore)
    x, t = _inputs(shape, dtype, ignore, rng)
    w = rng.random(shape[1]) + 0.2 if weighted else None
    xd, xt, td, tt, wd, wt = _pair(x, t, w, dtype)
    kw = {"reduction": reduction, "label_smoothing": eps}
    if ignore != "none":
        kw["ignore_index"] = 1
    l1 = dgf.cross_entropy(xd, td, weight=wd, **kw)
    l2 = TF.cross_entropy(xt, tt, weight=wt, **kw)
    # the double backward through float32 torch differs by its own rounding: check it in f64;
    # every target ignored with "mean": torch's d(grad)/d(upstream) is 0 / 0 = NaN, deltagrad's
    # 0 (the divisor is a constant, as in the 2-D path)
    double = dtype == np.float64 and not (ignore == "all" and reduction == "mean")
    _check(l1, l2, xd, xt, rng, TOL[dtype], double=double)
    assert path[1] and all(c == (path[0] == "spatial") for c in path[1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_backward_twice_and_scaled(path, reduction, eps):
    """loss.backward() twice (retain_graph: the gradient formed in place is handed again,
    not aliased), then a backward with a scaled upstream gradient, as torch."""
    rng = _rng("twice", reduction, eps)
    shape = (3, 4, 6, 5)
    x, t = _inputs(shape, np.float64, "some", rng)
    w = rng.random(4) + 0.5
    xd, xt, td, tt, wd, wt = _pair(x, t, w, np.float64)
    kw = {"reduction": reduction, "label_smoothing": eps, "ignore_index": 1}
    l1 = dgf.cross_entropy(xd, td, weight=wd, **kw)
    l2 = TF.cross_entropy(xt, tt, weight=wt, **kw)
    if reduction == "none":
        l1, l2 = l1.sum(), l2.sum()
    for scale in (1.0, 1.0, -2.5):
        (l1 if scale == 1.0 else l1 * scale).backward(retain_graph=True)
        (l2 if scale == 1.0 else l2 * scale).backward(retain_graph=True)
        np.testing.assert_allclose(_np(xd.grad), _np(xt.grad), **TOL[np.float64])
    total = _np(xd.grad).copy()  # (1 + 1 - 2.5) times the gradient
    xd.grad = None
    l1.backward()
    np.testing.assert_allclose(_np(xd.grad) * -0.5, total, **TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(0, 4, 5, 6), (2, 3, 0, 5), (0, 3, 7), (3, 1, 300)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_empty_and_one_class(path, dtype, shape, reduction):
    rng = _rng("empty", shape, dtype, reduction)
    x, t = _inputs(shape, dtype, "none", rng)
    xd, xt, td, tt, _, _ = _pair(x, t, None, dtype)
    l1 = dgf.cross_entropy(xd, td, reduction=reduction, label_smoothing=0.1)
    l2 = TF.cross_entropy(xt, tt, reduction=reduction, label_smoothing=0.1)
    _check(l1, l2, xd, xt, rng, TOL[dtype], double=False)


@pytest.mark.parametrize("shape", [(2, 3, 300), (2, 4, 5, 61)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_nonfinite_logits(path, shape, reduction):
    """+inf, -inf, all -inf and NaN slabs give torch's NaN / inf losses and gradients; a -inf
    target logit an infinite loss (with smoothing too)."""
    rng = _rng("inf", shape, reduction)
    x, t = _inputs(shape, np.float64, "none", rng)
    x3 = x.reshape(shape[0], shape[1], -1)
    t3 = t.reshape(shape[0], -1)
    x3[0, :, 0] = -np.inf
    x3[0, 0, 1] = np.inf
    x3[1, 1, 2] = np.nan
    x3[1, t3[1, 3], 3] = -np.inf
    x3[1, (t3[1, 4] + 1) % shape[1], 4] = -np.inf
    for eps in (0.0, 0.2):
        xd, xt, td, tt, _, _ = _pair(x, t, None, np.float64)
        l1 = dgf.cross_entropy(xd, td, reduction=reduction, label_smoothing=eps)
        l2 = TF.cross_entropy(xt, tt, reduction=reduction, label_smoothing=eps)
        _check(l1, l2, xd, xt, rng, TOL[np.float64], double=False)


def test_cross_entropy_noncontiguous_and_int32_target(path):
    rng = _rng("nc")
    x = rng.standard_normal((3, 7, 11, 5)).transpose(0, 3, 2, 1)  # (3, 5, 11, 7), a view
    t = rng.integers(0, 5, (3, 11, 7)).astype(np.int32)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    l1 = dgf.cross_entropy(xd, dg.tensor(t), label_smoothing=0.05)
    l2 = TF.cross_entropy(xt, torch.tensor(t.astype(np.int64)), label_smoothing=0.05)
    _check(l1, l2, xd, xt, rng, TOL[np.float64])


@pytest.mark.parametrize("bad", [-1, 5, 7])
def test_cross_entropy_target_out_of_range(path, bad):
    rng = _rng("oob", bad)
    x, t = _inputs((2, 5, 4, 80), np.float64, "none", rng)
    t[1, 2, 3] = bad
    with pytest.raises(IndexError, match=f"class index {bad} is out of range"):
        dgf.cross_entropy(dg.tensor(x), dg.tensor(t))
    with pytest.raises(IndexError):
        TF.cross_entropy(torch.tensor(x), torch.tensor(t))
    # an ignored target is never range-checked
    t[1, 2, 3] = -100
    dgf.cross_entropy(dg.tensor(x), dg.tensor(t))
    with pytest.raises(IndexError, match="out of range"):  # ignore_index in range, bad other
        t[0, 0, 0] = bad
        dgf.cross_entropy(dg.tensor(x), dg.tensor(t), ignore_index=2)


@pytest.mark.parametrize("shape", [(2, 4, 9), (2, 3, 5, 7), (1, 3, 2, 3, 4)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("eps", "weighted"), [(0.0, False), (0.2, True)])
def test_cross_entropy_probability_targets(shape, reduction, eps, weighted):
    rng = _rng("prob", shape, reduction, eps, weighted)
    x, p = _inputs(shape, np.float64, "none", rng, prob=True)
    w = rng.random(shape[1]) + 0.2 if weighted else None
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    wd = None if w is None else dg.tensor(w)
    wt = None if w is None else torch.tensor(w)
    kw = {"reduction": reduction, "label_smoothing": eps}
    l1 = dgf.cross_entropy(xd, dg.tensor(p), weight=wd, **kw)
    l2 = TF.cross_entropy(xt, torch.tensor(p), weight=wt, **kw)
    _check(l1, l2, xd, xt, rng, TOL[np.float64])


@pytest.mark.parametrize("shape", SHAPES + [(0, 3, 4), (2, 21, 16, 17)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("weighted", "ignore"), [(False, "none"), (True, "some"), (True, "all")])
def test_nll_loss_spatial(shape, dtype, reduction, weighted, ignore):
    rng = _rng("nll", shape, dtype, reduction, weighted, ignore)
    x, t = _inputs(shape, dtype, ignore, rng)
    x = x - np.log(np.exp(x).sum(1, keepdims=True))  # log-probabilities
    w = rng.random(shape[1]) + 0.2 if weighted else None
    xd, xt, td, tt, wd, wt = _pair(x, t, w, dtype)
    kw = {"reduction": reduction}
    if ignore != "none":
        kw["ignore_index"] = 1
    l1 = dgf.nll_loss(xd, td, weight=wd, **kw)
    l2 = TF.nll_loss(xt, tt, weight=wt, **kw)
    # "mean" over no target (all ignored, or an empty batch): torch's d(grad)/d(upstream) is
    # 0 / 0 = NaN, deltagrad's 0 (as cross_entropy's above)
    empty = ignore == "all" or shape[0] == 0
    double = dtype == np.float64 and not (empty and reduction == "mean")
    _check(l1, l2, xd, xt, rng, TOL[dtype], double=double)


@pytest.mark.parametrize("shape", [(2, 21, 32, 32), (4, 10, 1000), (2, 3, 8, 32, 16)], ids=str)
def test_default_thresholds_take_the_spatial_path(monkeypatch, shape):
    """The (N, C, S) shapes the benchmarks use run in their own layout by default; small S
    (the class axis nearly last) copies it last for the fused kernel."""
    calls = []
    orig = dgf._ce_spatial
    monkeypatch.setattr(dgf, "_ce_spatial", lambda *a: calls.append(orig(*a)) or calls[-1])
    rng = _rng("default", shape)
    x, t = _inputs(shape, np.float32, "none", rng)
    xd, xt, td, tt, _, _ = _pair(x, t, None, np.float32)
    l1, l2 = dgf.cross_entropy(xd, td), TF.cross_entropy(xt, tt)
    _check(l1, l2, xd, xt, rng, TOL[np.float32], double=False)
    assert calls and calls[0] is not None
    calls.clear()
    small = rng.standard_normal((64, 10, 4)).astype(np.float32)
    dgf.cross_entropy(dg.tensor(small), dg.tensor(rng.integers(0, 10, (64, 4))))
    assert calls == [None]


def test_logits_changed_in_place_before_backward_raise():
    """The spatial path's backward reads the logits (it keeps no buffer of their size): a
    change in place between forward and backward is the engine's version error, never a
    gradient of the new values (torch's log_softmax keeps its output and gives the old
    gradient; the fused path, which keeps its gradient, does too)."""
    rng = _rng("inplace")
    x = rng.standard_normal((2, 64, 16, 16)).astype(np.float32)
    t = rng.integers(0, 64, (2, 16, 16))
    xd = dg.tensor(x, requires_grad=True)
    loss = dgf.cross_entropy(xd, dg.tensor(t))
    with dg.no_grad():
        xd.mul_(3.0)
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()
