"""Tensor ops where NaN, inf, overflow or underflow decide the values and gradients.

Each case checks a NumPy (float64) reference of torch's formulas, and torch itself where it
is installed: max / min and their NaN-aware gradient spread, std / var without overflowing
squares, norm(p) on zero slices, division by subnormals, clamp / maximum / minimum with NaN,
and abs / sign at 0 and NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F

DTYPES = (np.float32, np.float64)
NAN = np.nan


def _grad(fn, *arrays, reduce=True):
    """(value, grads) of fn on leaf tensors made from arrays (sum() of a non-0-d result)."""
    ts = [dg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    val = out.data.copy()
    (out.sum() if reduce and out.data.ndim else out).backward()
    return val, [t.grad for t in ts]


def _torch_grad(fn, *arrays):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    val = out.detach().numpy().copy()
    (out.sum() if out.ndim else out).backward()
    return val, [t.grad.numpy() for t in ts]


def _same(got, want, dtype, rtol=None):
    """Equal values, NaN where NaN (and inf where inf, with its sign)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    rtol = rtol if rtol is not None else (2e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)


def _data(rng, shape, dtype, nans=1):
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, size=min(nans, flat.size), replace=False)] = NAN
    return x


# ---- F1: max / min without dim, norm(+-inf): the gradient goes to the NaN ------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5)])
def test_max_min_all_nan_gradient(dtype, op, shape):
    rng = np.random.default_rng(1)
    x = _data(rng, shape, dtype, nans=1 if shape == (1,) else 2)
    val, (gx,) = _grad(lambda t: getattr(t, op)(), x)
    assert np.isnan(val)
    want = np.isnan(x) / np.isnan(x).sum()  # torch's evenly_distribute_backward
    _same(gx, want, dtype)
    # no NaN: ties share the gradient evenly
    y = rng.standard_normal(shape).astype(dtype)
    y.reshape(-1)[-1] = getattr(y, op)()
    val, (gy,) = _grad(lambda t: getattr(t, op)(), y)
    mask = y == getattr(y, op)()
    _same(gy, mask / mask.sum(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim_nan_index(dtype, op, keepdim):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5)).astype(dtype)
    x[0, 1] = x[0, 3] = x[2, 4] = NAN
    res = getattr(dg.Tensor(x), op)(1, keepdim)
    idx = res[1].data.reshape(-1)
    arg = getattr(np, "arg" + op)  # numpy's argmax / argmin: the first NaN, as torch
    assert idx.tolist() == [1, int(arg(x[1])), 4, int(arg(x[3]))]
    _, (gx,) = _grad(lambda t: getattr(t, op)(1, keepdim)[0], x)
    want = np.zeros_like(x)
    want[np.arange(4), idx] = 1
    _same(gx, want, dtype)
    tv, (tg,) = _torch_grad(lambda t: getattr(t, op)(1, keepdim)[0], x)
    _same(gx, tg, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [math.inf, -math.inf])
def test_norm_inf_nan(dtype, p):
    rng = np.random.default_rng(3)
    x = _data(rng, (3, 5), dtype, nans=1)
    val, (gx,) = _grad(lambda t: t.norm(p), x)
    assert np.isnan(val)
    _same(gx, np.zeros_like(x), dtype)  # sgn(NaN) = 0 times the NaN's share
    # per row: rows without NaN get sgn(x) at the extreme
    _, (gx,) = _grad(lambda t: t.norm(p, 1), x)
    a = np.abs(x)
    ext = np.max(a, 1, keepdims=True) if p > 0 else np.min(a, 1, keepdims=True)
    mask = (a == ext) | (np.isnan(a) & np.isnan(ext))
    _same(gx, np.where(np.isnan(x), 0, np.sign(x)) * mask / mask.sum(1, keepdims=True), dtype)
    _, (tg,) = _torch_grad(lambda t: t.norm(p, 1), x)
    _same(gx, tg, dtype)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_extreme_matches_torch(op):
    x = _data(np.random.default_rng(4), (3, 4), np.float64, nans=1)
    x[1, 2] = x[1, 0]  # a tie
    _, (gx,) = _grad(lambda t: getattr(t, op)(), x)
    _, (tg,) = _torch_grad(lambda t: getattr(t, op)(), x)
    _same(gx, tg, np.float64)
    if op.startswith("a"):  # torch's amax / amin: the NaN slice's gradient is all NaN
        _, (gx,) = _grad(lambda t: getattr(t, op)(1), x)
        _, (tg,) = _torch_grad(lambda t: getattr(t, op)(1), x)
        _same(gx, tg, np.float64)


# ---- F2: std / var without overflowing (or underflowing) squares ---------------------------


def _std_ref(x, axis, c):
    """float64 (scaled, so it fits) std and its gradient (x - mean) / (std * (n - c))."""
    x = x.astype(np.float64)
    s = np.max(np.abs(x), axis=axis, keepdims=True)
    xs = x / s
    d = xs - xs.mean(axis=axis, keepdims=True)
    n = x.size if axis is None else x.shape[axis]
    std_s = np.sqrt((d * d).sum(axis=axis, keepdims=True) / (n - c))
    return std_s * s, d / (std_s * (n - c))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, "huge", "tiny"])
@pytest.mark.parametrize("correction", [0, 1])
def test_std_var_extreme_magnitudes(dtype, scale, correction):
    rng = np.random.default_rng(5)
    big = float(np.finfo(dtype).max) / 3
    tiny = float(np.finfo(dtype).tiny) * 64
    x = rng.standard_normal((3, 7))
    x *= {1.0: 1.0, "huge": big, "tiny": tiny}[scale]
    x = x.astype(dtype)
    for dim in (None, 1):
        std, (gx,) = _grad(lambda t, d=dim: t.std(d, correction=correction), x)
        ref, gref = _std_ref(x, dim, correction)
        _same(std, ref.reshape(std.shape), dtype, rtol=1e-5 if dtype == np.float32 else 1e-12)
        _same(gx, gref, dtype, rtol=1e-5 if dtype == np.float32 else 1e-11)
        var, _ = _grad(lambda t, d=dim: t.var(d, correction=correction), x)
        with np.errstate(over="ignore"):
            vref = (ref.astype(np.float64) ** 2).astype(dtype)
        _same(var, vref.reshape(var.shape), dtype, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_std_f32_overflow_case_matches_torch():
    x = np.array([3e38, 0.0, 1.0, 2.0], np.float32)
    std, (gx,) = _grad(lambda t: t.std(), x)
    assert np.isfinite(std) and abs(std / 1.5e38 - 1) < 1e-6
    assert np.all(np.isfinite(gx)) and abs(gx[0] - 0.5) < 1e-6
    tv, (tg,) = _torch_grad(lambda t: t.std(), x)
    _same(std, tv, np.float32)
    np.testing.assert_allclose(gx, tg, rtol=1e-6, atol=1e-7)  # torch goes through a subnormal


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((1,), None), ((9,), 0), ((4, 5), 1), ((3, 4, 2), (0, 2))])
def test_std_var_ordinary_data_unchanged(dtype, shape, dim):
    """The scaling is by powers of two: ordinary data give the unscaled formula's bits."""
    x = np.random.default_rng(6).standard_normal(shape).astype(dtype) * 3 + 1
    axis = tuple(range(x.ndim)) if dim is None else dim
    n = int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    c = 1 if n > 1 else 0
    d = x - x.mean(axis=axis, keepdims=True)
    var = (d * d).sum(axis=axis) / dtype(n - c)
    np.testing.assert_array_max_ulp(dg.Tensor(x).var(dim, correction=c).data, var, 0)
    np.testing.assert_array_max_ulp(dg.Tensor(x).std(dim, correction=c).data, np.sqrt(var), 0)


# ---- F4: norm(p) on an all-zero slice ------------------------------------------------------


def _norm_grad_ref(x, p, axis):
    x = x.astype(np.float64)
    a = np.abs(x)
    nrm = (a**p).sum(axis=axis, keepdims=True) ** (1 / p)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.sign(x) * a ** (p - 1) / nrm ** (p - 1)
    return np.where((nrm == 0) | (x == 0), 0, g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [3, 1.5, 0.5, 2, 2.5])
@pytest.mark.parametrize("keepdim", [False, True])
def test_norm_p_zero_slice(dtype, p, keepdim):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5)).astype(dtype)
    x[0] = 0
    x[2, 1] = 0
    val, (gx,) = _grad(lambda t: t.norm(p, 1, keepdim), x)
    ref = (np.abs(x.astype(np.float64)) ** p).sum(1, keepdims=keepdim) ** (1 / p)
    _same(val, ref, dtype, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert np.all(gx[0] == 0)
    _same(gx, _norm_grad_ref(x, p, 1), dtype, rtol=1e-5 if dtype == np.float32 else 1e-11)
    _, (tg,) = _torch_grad(lambda t: t.norm(p, 1, keepdim), x)
    _same(gx, tg, dtype, rtol=1e-5 if dtype == np.float32 else 1e-11)
    # all zeros, no dim, and size 1
    for z in (np.zeros(4, dtype), np.zeros(1, dtype)):
        _, (gz,) = _grad(lambda t: t.norm(p), z)
        assert np.all(gz == 0)


# ---- F5: division (and the other backwards) by subnormals ----------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_div_subnormal_divisor(dtype):
    sub = float(np.finfo(dtype).tiny) / 1e3
    a = np.array([0.0, 1.0, -2.5], dtype)
    b = np.array([sub, 2.0, 0.75], dtype)
    with np.errstate(over="ignore"):  # a's gradient 1 / b is inf (as torch's)
        _, (ga, gb) = _grad(lambda s, o: s / o, a, b)
    assert np.isinf(ga[0]) and np.all(np.isfinite(gb))
    want = -((a.astype(np.float64) / b) / b)
    _same(gb[1:], want[1:], dtype)
    assert gb[0] == 0
    with np.errstate(over="ignore"):
        _, (tga, tgb) = _torch_grad(lambda s, o: s / o, a, b)
    _same(ga, tga, dtype)
    _same(gb, tgb, dtype)
    # reflected: 0 / b
    _, (gb,) = _grad(lambda o: 0.0 / o, b)
    assert gb[0] == 0 and np.all(np.isfinite(gb))


# ---- F6: clamp with NaN in the input or the bounds ------------------------------------------


def _clamp_ref(x, lo, hi):
    out = x
    if lo is not None:
        out = np.maximum(out, lo)
    if hi is not None:
        out = np.minimum(out, hi)
    gx = np.ones(np.broadcast(x, *(b for b in (lo, hi) if b is not None)).shape, bool)
    if lo is not None:
        gx = gx & (x >= lo)
    if hi is not None:
        gx = gx & (x <= hi)
    glo = None if lo is None else (x < lo) & (True if hi is None else lo < hi)
    ghi = None if hi is None else (x > hi) | (False if lo is None else hi < lo)
    return out, gx, glo, ghi


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["min", "max", "both"])
@pytest.mark.parametrize("shape", [(1,), (2, 7)])
def test_clamp_tensor_bounds_nan(dtype, which, shape):
    rng = np.random.default_rng(8)
    x = _data(rng, shape, dtype, nans=1)
    lo = (_data(rng, shape, dtype, nans=1) - 0.5) if which != "max" else None
    hi = (_data(rng, shape[-1:], dtype, nans=1) + 0.5) if which != "min" else None  # broadcast
    arrays = [a for a in (x, lo, hi) if a is not None]

    def fn(*ts):
        it = iter(ts[1:])
        return ts[0].clamp(
            min=next(it) if lo is not None else None, max=next(it) if hi is not None else None
        )

    val, grads = _grad(fn, *arrays)
    out, gx, glo, ghi = _clamp_ref(x, lo, hi)
    _same(val, out, dtype)
    _same(grads[0], gx.astype(dtype).reshape(-1, *x.shape).sum(0), dtype)
    k = 1
    for b, gb in ((lo, glo), (hi, ghi)):
        if b is not None:
            want = np.broadcast_to(gb, out.shape).astype(dtype)
            want = want.reshape(-1, *b.shape).sum(0)
            _same(grads[k], want, dtype)
            k += 1
    tv, tgrads = _torch_grad(fn, *arrays)
    _same(val, tv, dtype)
    for got, want in zip(grads, tgrads):
        _same(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_repro_and_scalar_bounds(dtype):
    x = np.array([-4.0, NAN, 0.5], dtype)
    lo = np.array([NAN, 0.0, 0.0], dtype)
    val, (gx, glo) = _grad(lambda t, b: t.clamp(min=b), x, lo)
    _same(val, [NAN, NAN, 0.5], dtype)
    _same(gx, [0, 0, 1], dtype)
    _same(glo, [0, 0, 0], dtype)
    for kw in ({"min": 0.0}, {"max": 0.0}, {"min": -1.0, "max": 1.0}, {"min": NAN}):
        val, (gx,) = _grad(lambda t, kw=kw: t.clip(**kw), x)
        out, keep, _, _ = _clamp_ref(x, kw.get("min"), kw.get("max"))
        _same(val, out, dtype)
        _same(gx, keep.astype(dtype), dtype)
        tv, (tg,) = _torch_grad(lambda t, kw=kw: t.clamp(**kw), x)
        _same(val, tv, dtype)
        _same(gx, tg, dtype)


# ---- F10: maximum / minimum with NaN --------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
@pytest.mark.parametrize("shapes", [((1,), (1,)), ((3, 5), (5,)), ((7,), (7,))])
def test_maximum_minimum_nan(dtype, op, shapes):
    rng = np.random.default_rng(9)
    a = _data(rng, shapes[0], dtype, nans=1)
    b = _data(rng, shapes[1], dtype, nans=1 if shapes[1] != (1,) else 0)
    if a.size > 2:
        a.reshape(-1)[2] = b.reshape(-1)[2 % b.size]  # a tie
    val, (ga, gb) = _grad(lambda s, o: getattr(s, op)(o), a, b)
    _same(val, getattr(np, op)(a, b), dtype)  # NaN propagates
    full = np.where(a == b, 0.5, 1.0) * np.ones(np.broadcast(a, b).shape)
    wa = np.where((a < b) if op == "maximum" else (a > b), 0, full)
    wb = np.where((a > b) if op == "maximum" else (a < b), 0, full)
    _same(ga, wa.reshape(-1, *a.shape).sum(0), dtype)
    _same(gb, wb.reshape(-1, *b.shape).sum(0), dtype)
    tv, (ta, tb) = _torch_grad(lambda s, o: getattr(s, op)(o), a, b)
    _same(val, tv, dtype)
    _same(ga, ta, dtype)
    _same(gb, tb, dtype)


# ---- abs / sign at 0 and NaN ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_abs_sign_backward_at_zero_and_nan(dtype):
    x = np.array([NAN, 0.0, -0.0, -2.0, 3.0], dtype)
    _, (ga,) = _grad(lambda t: t.abs(), x)
    _same(ga, [0, 0, 0, -1, 1], dtype)  # torch: grad * sgn(x), sgn(NaN) = 0
    _, (gs,) = _grad(lambda t: t.sign(), x)
    _same(gs, [0, 0, 0, 0, 0], dtype)
    _, (tg,) = _torch_grad(lambda t: t.abs(), x)
    _same(ga, tg, dtype)
    # norm(1) goes through abs: the NaN's gradient is 0, as torch
    _, (g1,) = _grad(lambda t: t.norm(1), x)
    _same(g1, [0, 0, 0, -1, 1], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sign_and_l1_loss_at_nan_follow_torch(dtype):
    """torch.sign(NaN) is 0 (NumPy's is NaN), and l1_loss's gradient sgn(d) is 0 where the
    residual is NaN (the loss there is NaN)."""
    x = np.array([np.nan, -0.0, 2.5, -np.inf, -3.0], dtype)
    np.testing.assert_array_equal(dg.tensor(x).sign().data, [0, 0, 1, -1, -1])
    y = dg.tensor(np.array([1.0, 2.0, -1.0], dtype), requires_grad=True)
    t = np.array([np.nan, 1.0, 0.0], dtype)
    loss = F.l1_loss(y, dg.tensor(t), reduction="sum")
    assert np.isnan(loss.data)
    loss.backward()
    np.testing.assert_array_equal(y.grad, [0, 1, -1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [2, 3, 1.5, 0.5])
@pytest.mark.parametrize("scale", ["huge", "tiny", "plain"])
def test_norm_near_the_float_range(dtype, p, scale, rng):
    """The p-norm of values whose p-th powers overflow (or underflow) while the norm fits: redone
    scaled by a power of two per slice (float32 [3e20, 4e20] gave inf, [1e-30, 2e-30] 0), with
    the gradient g sgn(x) (|x| / norm)**(p - 1) never forming the powers."""
    fi = np.finfo(dtype)
    mag = {"huge": float(fi.max) ** 0.5 * 8, "tiny": float(fi.tiny) ** 0.5 / 8, "plain": 1.0}
    x = (rng.standard_normal((3, 7)) * mag[scale]).astype(dtype)
    x[1, 2] = 0.0
    t = dg.tensor(x, requires_grad=True)
    n = t.norm(p, dim=1)
    x64 = x.astype(np.float64) / mag[scale]  # the exact scaled problem in float64
    want = (np.abs(x64) ** p).sum(1) ** (1 / p)
    np.testing.assert_allclose(
        n.data / mag[scale], want, rtol=2e-6 if dtype == np.float32 else 1e-12
    )
    n.sum().backward()
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** (p - 1), p < 1: masked below
        gw = np.sign(x64) * (np.abs(x64) / want[:, None]) ** (p - 1)
    gw[x64 == 0] = 0
    np.testing.assert_allclose(t.grad, gw, rtol=2e-5 if dtype == np.float32 else 1e-10, atol=1e-30)


def test_norm_zero_counts_the_non_zeros():
    """torch's norm(0): the number of non-zero elements (a NaN counts), no gradient."""
    x = np.array([[0.0, 2.0, np.nan], [0.0, -0.0, -1.0]], np.float32)
    t = dg.tensor(x, requires_grad=True)
    n = t.norm(0, dim=1)
    np.testing.assert_array_equal(n.data, [2, 1])
    assert n.dtype == np.float32 and float(t.norm(0).data) == 3
    n.sum().backward()
    assert t.grad is None
    with pytest.raises(ValueError, match="expected p >= 0"):
        t.norm(-1)
