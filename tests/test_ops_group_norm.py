"""The fused group-norm kernels (dg.ops.group_norm_forward / backward, csrc/cpu/norm.h) against
deltagrad.reference in float64 and torch, on every ISA and dtype: channel runs shorter and
longer than a vector (s = 1, odd s), one group and one group per channel (instance norm), odd
sizes, size 0 and 1, the threaded and streamed paths, data with a large mean, extreme values,
bad input; F.group_norm / F.instance_norm / nn.GroupNorm through them, gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn, ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, assert_close, sample

TOL = {np.float32: 1e-4, np.float64: 1e-10}
# (shape, groups): s = 1 (N, C input), s < a vector, odd s, one group, a group per channel,
# N = 1, large rows
CASES = [
    ((4, 6), 3),
    ((3, 8, 3), 4),
    ((2, 6, 5, 7), 2),
    ((5, 4, 9), 1),
    ((3, 5, 11), 5),
    ((1, 12, 4, 4), 3),
    ((2, 32, 17, 19), 8),
    ((2, 3, 1001), 3),
]


def _data(rng, shape, dtype, affine=True):
    c = shape[1]
    x = sample(rng, shape, dtype) + dtype(3.0)  # nonzero mean
    w = rng.uniform(0.5, 2.0, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    return x, w, b


def _check(rng, shape, g, dtype, affine):
    x, w, b = _data(rng, shape, dtype, affine)
    y, mean, rstd = ops.group_norm_forward(x, g, w, b, 1e-5)
    ey, emean, erstd = ref.group_norm_forward(x, g, w, b, 1e-5)
    assert y.dtype == mean.dtype == rstd.dtype == dtype
    assert mean.shape == rstd.shape == (shape[0], g)
    tol = TOL[dtype]
    assert_close(y, ey, dtype, rtol=tol, scale=10.0, name="y")
    assert_close(mean, emean, dtype, rtol=tol, scale=4.0, name="mean")
    assert_close(rstd, erstd, dtype, rtol=tol, name="rstd")
    dy = sample(rng, shape, dtype, scale=1.0) + dtype(0.5)
    got = ops.group_norm_backward(dy, x, g, w, mean, rstd)
    want = ref.group_norm_backward(dy, x, g, w, mean, rstd)
    per_channel = x.size // shape[1]
    for name, a, e in zip(("dx", "dweight", "dbias"), got, want):
        assert a.dtype == dtype
        assert_close(a, e, dtype, rtol=tol, scale=10.0 * (per_channel if name != "dx" else 1))
    # only what is asked for
    dx, dw, db = ops.group_norm_backward(dy, x, g, w, mean, rstd, need_dx=False, need_dbias=False)
    assert dx is None and db is None
    np.testing.assert_array_equal(dw, got[1])
    dx, dw, db = ops.group_norm_backward(dy, x, g, w, mean, rstd, need_dweight=False)
    assert dw is None
    np.testing.assert_array_equal(dx, got[0])
    np.testing.assert_array_equal(db, got[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,g", CASES)
def test_group_norm(isa, shape, g, dtype, rng):
    for affine in (True, False):
        _check(rng, shape, g, dtype, affine)


@pytest.mark.parametrize("shape,g", [((4, 64, 64, 65), 8), ((1, 16, 600, 600), 16)])
def test_group_norm_threads_agree_and_streamed(isa, shape, g, rng):
    """The threaded chunks and the non-temporal stores (outputs of 16 MiB and more): the same
    bits on 1 and 2 threads, and the reference's values."""
    dtype = np.float32
    x, w, b = _data(rng, shape, dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            dg.set_num_threads(nt)
            y, mean, rstd = ops.group_norm_forward(x, g, w, b)
            outs.append((y, mean, rstd, *ops.group_norm_backward(dy, x, g, w, mean, rstd)))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(*outs):
        np.testing.assert_array_equal(a, e)
    ey, _, _ = ref.group_norm_forward(x, g, w, b)
    assert_close(outs[0][0], ey, dtype, rtol=1e-4, scale=10.0)
    want = ref.group_norm_backward(dy, x, g, w, outs[0][1], outs[0][2])
    assert_close(outs[0][3], want[0], dtype, rtol=1e-4, scale=10.0)
    assert_close(outs[0][4], want[1], dtype, rtol=1e-4, scale=10.0 * x.size / shape[1])


@pytest.mark.parametrize("dtype,offset", [(np.float32, 1e4), (np.float64, 1e8)])
def test_group_norm_large_mean(isa, dtype, offset, rng):
    """|mean| >> std: the shifted sums keep the variance (E[x^2] - E[x]^2 would lose it)."""
    x = (offset + rng.standard_normal((3, 6, 50))).astype(dtype)
    y, mean, rstd = ops.group_norm_forward(x, 2)
    ey, emean, erstd = ref.group_norm_forward(x, 2)
    assert_close(rstd, erstd, dtype, rtol={np.float32: 1e-3, np.float64: 1e-7})
    assert_close(mean, emean, dtype, rtol=TOL[dtype])
    assert np.abs(y.std(axis=(1, 2)) - 1).max() < 0.05  # still unit variance per sample


def test_group_norm_sizes_zero_and_one(rng):
    for dtype in DTYPES:
        # no samples: empty outputs, zero parameter gradients
        x = np.zeros((0, 4, 3), dtype)
        w = np.ones(4, dtype)
        y, mean, rstd = ops.group_norm_forward(x, 2, w, w)
        assert y.shape == (0, 4, 3) and mean.shape == (0, 2)
        dx, dw, db = ops.group_norm_backward(x, x, 2, w, mean, rstd)
        assert dx.shape == x.shape
        np.testing.assert_array_equal(dw, np.zeros(4, dtype))
        np.testing.assert_array_equal(db, np.zeros(4, dtype))
        # no positions: nan statistics (as torch), empty y, zero parameter gradients
        x = np.zeros((2, 4, 0), dtype)
        y, mean, rstd = ops.group_norm_forward(x, 2, w, w)
        assert y.shape == x.shape and np.isnan(mean).all() and np.isnan(rstd).all()
        _, dw, db = ops.group_norm_backward(x, x, 2, w, mean, rstd)
        np.testing.assert_array_equal(dw, np.zeros(4, dtype))
        # one element per group: y = bias, dx = 0
        x = sample(rng, (3, 4), dtype)
        b = rng.standard_normal(4).astype(dtype)
        y, mean, rstd = ops.group_norm_forward(x, 4, w, b)
        np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))
        dx, _, _ = ops.group_norm_backward(np.ones_like(x), x, 4, w, mean, rstd)
        np.testing.assert_array_equal(dx, np.zeros_like(x))


def test_group_norm_extremes(isa):
    """A NaN or inf poisons its own group only; huge finite values stay finite."""
    for dtype in DTYPES:
        big = {np.float32: 4e37, np.float64: 1e150}[dtype]  # squares overflow float32
        x = np.arange(16, dtype=dtype).reshape(2, 4, 2)  # groups of 2 channels
        x[0, 1, 1] = np.nan
        y, mean, _ = ops.group_norm_forward(x, 2)
        assert np.isnan(y[0, :2]).all() and np.isfinite(y[0, 2:]).all()
        assert np.isfinite(y[1]).all() and np.isnan(mean[0, 0]) and np.isfinite(mean[0, 1])
        # float32: the float blocks' sums of squares overflow (recomputed in double); the
        # sibling statistics of layer norm and batch norm (both of its paths) too
        x = np.array([[[-big, big, 0.5 * big, -0.25 * big]]], dtype)
        y, _, _ = ops.group_norm_forward(x, 1)
        ey, _, _ = ref.group_norm_forward(x.astype(np.float64), 1)
        np.testing.assert_allclose(y, ey, rtol=1e-5, atol=1e-5)
        y, _, _ = ops.layer_norm_forward(x, (4,))
        np.testing.assert_allclose(y, ey, rtol=1e-5, atol=1e-5)
        wide = np.tile(x.reshape(1, 1, 4), (1, 64, 1024)).reshape(4, 64, 1024)  # by channel
        for xb in (x.reshape(4, 1), wide):
            y, _, _ = ops.batch_norm_forward(xb)
            eb, _, _ = ref.batch_norm_forward(xb.astype(np.float64))
            np.testing.assert_allclose(y, eb, rtol=1e-5, atol=1e-5)


def _hard_backward_inputs(rng, shape, dtype, axis):
    """(what, x, dy) for a norm backward whose true results are all finite, but whose float
    sums overflow or whose dx coefficient is no normal number of the dtype (csrc/cpu/norm.h
    refine_sums and DxMap). float32: x of a standard deviation of 1e25 and dy ~ 1 (batch and
    group norm's coefficient of x - mean, ~ rstd^2 |dy|, was 0: dx off by ~0.1); x of 1e20 and
    dy of 1e19 (dy (x - mean) past FLT_MAX: dweight inf, dx NaN); dy of +-2e36, the first half
    along `axis` (the summed one) positive (a float block's sum of dy past FLT_MAX, the total
    0: dbias and dx inf / NaN). float64: x of 1e150 (rstd^3 underflowed: dx off by ~1), with dy
    of 1e-10 too (the coefficient, ~1e-310, subnormal)."""
    if dtype == np.float64:
        x = sample(rng, shape, dtype, scale=1e150)
        yield "x 1e150", x, sample(rng, shape, dtype, scale=1.0)
        yield "x 1e150, dy 1e-10", x, sample(rng, shape, dtype, scale=1e-10)
        return
    dy = sample(rng, shape, dtype, scale=1.0)
    yield "x 1e25", sample(rng, shape, dtype, scale=1e25), dy
    x = sample(rng, shape, dtype, scale=1e20)
    yield "x 1e20, dy 1e19", x, sample(rng, shape, dtype, scale=1e19)
    dy = np.full(shape, 2e36, dtype)
    dy[(slice(None),) * axis + (slice(shape[axis] // 2, None),)] = -2e36
    yield "dy +-2e36", sample(rng, shape, dtype, scale=1.0), dy


# (kernel, shape, the summed axis along which dy's halves lie, groups): batch norm's (N, C) path,
# its runs path (n c s past the parallel grain, few channels), its channel-at-a-time path; group
# norm; layer norm's rows, and its dweight / dbias partials (32-row chunks at 256 rows, dy of
# +-2e36 x 16: the chunk's float partial of dbias overflows)
HARD_CASES = [
    ("batch", (600, 3), 0, None),
    ("batch", (2, 3, 20000), 2, None),
    ("batch", (3, 4, 1000), 2, None),
    ("group", (3, 4, 1000), 2, 2),
    ("group", (2, 6, 9, 90), 3, 3),
    ("layer", (4, 1000), 1, None),
    ("layer", (256, 3), 0, None),
]


def _norm_fwd_bwd(kernel, x, dy, w, g):
    """(ours (dx, dweight, dbias), the float64 reference's from the same mean and rstd)."""
    if kernel == "batch":
        _, mean, rstd = ops.batch_norm_forward(x, w)
        args = (dy, x, w, mean, rstd)
        return ops.batch_norm_backward(*args), ref.batch_norm_backward(*args)
    if kernel == "group":
        _, mean, rstd = ops.group_norm_forward(x, g, w)
        args = (dy, x, g, w, mean, rstd)
        return ops.group_norm_backward(*args), ref.group_norm_backward(*args)
    norm = x.shape[-1:]
    _, mean, rstd = ops.layer_norm_forward(x, norm, w)
    args = (dy, x, norm, w, mean, rstd)
    return ops.layer_norm_backward(*args), ref.layer_norm_backward(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,shape,axis,g", HARD_CASES)
def test_norm_backward_float_overflow(isa, kernel, shape, axis, g, dtype, rng):
    """The backward of batch, layer and group norm on data whose float sums overflow or whose
    dx coefficient underflows (_hard_backward_inputs), every true result finite: the reference's
    values to the dtype's precision (relative to the largest of each result), never inf or NaN;
    the same bits on 1 and 2 threads."""
    rtol = {np.float32: 1e-5, np.float64: 1e-10}[dtype]
    feat = shape[-1] if kernel == "layer" else shape[1]
    w = rng.uniform(0.5, 2.0, feat).astype(dtype)
    for what, x, dy in _hard_backward_inputs(rng, shape, dtype, axis):
        if kernel == "layer" and shape[0] == 256:  # the rows' halves: 16 x 2e36 per row
            dy = dy * dtype(16)
        old = dg.get_num_threads()
        outs = []
        try:
            for nt in (1, 2):
                dg.set_num_threads(nt)
                outs.append(_norm_fwd_bwd(kernel, x, dy, w, g))
        finally:
            dg.set_num_threads(old)
        (got, want), (got2, _) = outs
        for name, a, e, a2 in zip(("dx", "dweight", "dbias"), got, want, got2):
            label = f"{kernel} {shape} {what}: {name}"
            assert np.isfinite(e).all(), label  # the inputs' premise
            np.testing.assert_array_equal(a, a2, err_msg=label)
            # a sum of terms of |dy| cancelling to 0 (dbias of the halves): to |dy|'s precision
            scale = np.abs(e).max() if name == "dx" else max(np.abs(e).max(), np.abs(dy).max())
            assert_close(a, e, dtype, rtol=rtol, scale=scale, what=label)


def test_group_norm_bad_input():
    x = np.ones((2, 6, 3), np.float32)
    with pytest.raises(ValueError, match="num_groups"):
        ops.group_norm_forward(x, 4)
    with pytest.raises(ValueError, match="num_groups"):
        ops.group_norm_forward(x, 0)
    with pytest.raises(ValueError, match="x"):
        ops.group_norm_forward(np.ones(6, np.float32), 2)
    with pytest.raises(TypeError, match="weight"):
        ops.group_norm_forward(x, 2, np.ones(6, np.float64))
    with pytest.raises(ValueError, match="bias"):
        ops.group_norm_forward(x, 2, None, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="eps"):
        ops.group_norm_forward(x, 2, eps=-1.0)
    y, mean, rstd = ops.group_norm_forward(x, 2)
    with pytest.raises(ValueError, match="mean"):
        ops.group_norm_backward(x, x, 2, None, mean[:1], rstd)
    with pytest.raises(ValueError, match="dy"):
        ops.group_norm_backward(x[:1], x, 2, None, mean, rstd)
    with pytest.raises(TypeError):
        ops.group_norm_forward(x.astype(np.int32), 2)


def test_group_norm_views_and_out(rng):
    """A strided view is read as its values; out= receives y."""
    x, w, b = _data(rng, (3, 8, 10), np.float64)
    view = x[:, :, ::2]
    y, _, _ = ops.group_norm_forward(view, 4, w, b)
    ey, _, _ = ref.group_norm_forward(np.ascontiguousarray(view), 4, w, b)
    assert_close(y, ey, np.float64, rtol=1e-12, scale=10.0)
    out = np.empty_like(x)
    y2, _, _ = ops.group_norm_forward(x, 4, w, b, out=out)
    assert y2 is out
    np.testing.assert_array_equal(out, ops.group_norm_forward(x, 4, w, b)[0])


@pytest.mark.parametrize("shape,g", [((2, 6, 3, 5), 3), ((3, 4, 7), 4), ((5, 6), 2)])
def test_functional_matches_torch(shape, g, rng):
    """F.group_norm and F.instance_norm (batch statistics) through the kernels against torch
    in float64 to 1e-10: forward, input, weight and bias gradients."""
    torch = pytest.importorskip("torch")
    x, w, b = _data(rng, shape, np.float64)
    dy = rng.standard_normal(shape)
    cases = [
        (
            lambda a, ww, bb: F.group_norm(a, g, ww, bb, 1e-5),
            lambda a, ww, bb: torch.nn.functional.group_norm(a, g, ww, bb, 1e-5),
        ),
    ]
    if len(shape) > 2:
        cases.append(
            (
                lambda a, ww, bb: F.instance_norm(a, weight=ww, bias=bb),
                lambda a, ww, bb: torch.nn.functional.instance_norm(a, weight=ww, bias=bb),
            )
        )
    for ours_fn, theirs_fn in cases:
        ours = [dg.tensor(v, requires_grad=True) for v in (x, w, b)]
        theirs = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
        yo, yt = ours_fn(*ours), theirs_fn(*theirs)
        np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        yo.backward(dg.tensor(dy))
        yt.backward(torch.tensor(dy))
        for a, e in zip(ours, theirs):
            np.testing.assert_allclose(a.grad, e.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_groupnorm_module_gradcheck(rng):
    m = nn.GroupNorm(2, 4).double()
    x = dg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    assert dg.gradcheck(lambda t: m(t), (x,))
    w = dg.tensor(rng.uniform(0.5, 2, 4), requires_grad=True)
    b = dg.tensor(rng.standard_normal(4), requires_grad=True)
    assert dg.gradcheck(lambda t, ww, bb: F.group_norm(t, 2, ww, bb), (x, w, b))
