"""dg.ops.logsumexp / logsumexp_backward (csrc/cpu/softmax.h: logsumexp_row over the last
axis, logsumexp_block over another): log(sum(exp(x))) and its one-pass backward, against the
float64 reference on random data, odd and empty sizes, every axis, non-finite slices, both
dtypes, 1 and 2 threads, Tensor.logsumexp against torch, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops
from deltagrad import reference as ref

TOL = {np.float32: 2e-6, np.float64: 1e-13}
SHAPES = [(1, 1), (3, 7), (5, 33), (64, 1000), (2, 3, 4097), (17,), (0, 5), (4, 0), (1, 70000)]


def _data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([1.0, 10.0, 50.0], shape)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_logsumexp_matches_the_float64_reference(shape, dtype):
    x = _data(shape, dtype, sum(shape) + 1)
    before = dg.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got.append(ops.logsumexp(x))
        np.testing.assert_array_equal(got[0], got[1])
    finally:
        dg.set_num_threads(before)
    want = ref.logsumexp(x)
    assert got[0].shape == shape[:-1] and got[0].dtype == dtype
    np.testing.assert_allclose(got[0], want, rtol=TOL[dtype], atol=TOL[dtype])
    g = _data(shape[:-1], dtype, 7)
    dx = ops.logsumexp_backward(g, x, got[0])
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(
        dx, ref.logsumexp_backward(g, x, want), rtol=8 * TOL[dtype], atol=8 * TOL[dtype]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_rows_as_torch(dtype):
    torch = pytest.importorskip("torch")
    inf, nan = np.inf, np.nan
    rows = [
        [1.0, inf, 3.0],
        [-inf, -inf, -inf],
        [-inf, 2.0, -inf],
        [nan, 1.0, 2.0],
        [nan, inf, 2.0],
        [nan, -inf, -inf],
        [inf, inf, 0.0],
        [-inf, inf, 0.0],
        [1e30 if dtype == np.float64 else 3e38, 0.0, -1.0],
        [-3e38, -3e38, -3e38],
    ]
    x = np.array(rows, dtype)
    got = ops.logsumexp(x)
    want = torch.logsumexp(torch.from_numpy(x), -1).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    np.testing.assert_allclose(got[fin], want[fin], rtol=TOL[dtype])
    g = np.ones(len(rows), dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch.logsumexp(xt, -1).backward(torch.from_numpy(g))
    dx = ops.logsumexp_backward(g, x, got)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(xt.grad.numpy()))
    ok = ~np.isnan(dx)
    np.testing.assert_allclose(dx[ok], xt.grad.numpy()[ok], rtol=TOL[dtype], atol=TOL[dtype])


def test_large_rows_do_not_overflow():
    x = np.array([[88.0, 88.5, 87.0], [1000.0, 999.0, 998.0]], np.float32)
    np.testing.assert_allclose(ops.logsumexp(x), ref.logsumexp(x), rtol=2e-6)


def test_bad_input():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="logsumexp"):
        ops.logsumexp(np.ones((3, 4), np.int64))
    with pytest.raises(ValueError, match="0-d"):
        ops.logsumexp(np.float32(1.0))
    lse = ops.logsumexp(x)
    with pytest.raises(ValueError, match="g"):
        ops.logsumexp_backward(np.ones(4, np.float32), x, lse)
    with pytest.raises(TypeError, match="lse"):
        ops.logsumexp_backward(np.ones(3, np.float32), x, lse.astype(np.float64))
    # a transposed (non-contiguous) x is copied, not misread
    xt = _data((6, 5), np.float64, 3).T
    np.testing.assert_allclose(ops.logsumexp(xt), ref.logsumexp(xt), rtol=1e-13)


AXES = [
    ((3, 5, 7), 1),
    ((2, 17, 33), 1),
    ((4, 3, 100), 0),
    ((1, 1, 1), 1),
    ((5, 9, 1), 1),
    ((2, 3, 4, 5), 2),
    ((2, 3, 4, 5), -3),
    ((64, 1000, 8), 1),
    ((2, 21, 130, 17), 1),
    ((3, 1, 65), 1),
    ((2, 0, 5), 1),
    ((0, 4, 5), 1),
    ((3, 4, 0), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "dim"), AXES)
def test_logsumexp_over_any_axis(shape, dim, dtype):
    """A middle axis: blocks of neighbouring slices read at their stride; the bits are the
    same on 1 and 2 threads, the values the reference's."""
    x = _data(shape, dtype, sum(shape) + 3)
    before = dg.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got.append(ops.logsumexp(x, dim=dim))
        np.testing.assert_array_equal(got[0], got[1])
    finally:
        dg.set_num_threads(before)
    want = ref.logsumexp(x, dim)
    assert got[0].shape == want.shape and got[0].dtype == dtype
    np.testing.assert_allclose(got[0], want, rtol=TOL[dtype], atol=TOL[dtype])
    g = _data(want.shape, dtype, 9)
    dx = ops.logsumexp_backward(g, x, got[0], dim=dim)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(
        dx, ref.logsumexp_backward(g, x, want, dim), rtol=8 * TOL[dtype], atol=8 * TOL[dtype]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inner", [3, 16, 37])
def test_non_finite_slices_over_a_middle_axis_as_torch(dtype, inner):
    """Every non-finite case of test_non_finite_rows_as_torch as a column of (2, C, inner),
    among finite columns (the lanes of one vector take different branches)."""
    torch = pytest.importorskip("torch")
    inf, nan = np.inf, np.nan
    cols = [
        [1.0, inf, 3.0],
        [-inf, -inf, -inf],
        [-inf, 2.0, -inf],
        [nan, 1.0, 2.0],
        [nan, inf, 2.0],
        [inf, -inf, nan],
        [inf, inf, 0.0],
        [-inf, inf, 0.0],
    ]
    x = _data((2, 3, inner), dtype, inner)
    for i, col in enumerate(cols):
        x[i % 2, :, (5 * i) % inner] = col
    got = ops.logsumexp(x, dim=1)
    want = torch.logsumexp(torch.from_numpy(x), 1).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    inf_at = np.isinf(want)
    np.testing.assert_array_equal(got[inf_at], want[inf_at])
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=TOL[dtype], atol=TOL[dtype])
    g = _data(want.shape, dtype, 2)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch.logsumexp(xt, 1).backward(torch.from_numpy(g))
    dx = ops.logsumexp_backward(g, x, got, dim=1)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(xt.grad.numpy()))
    ok = ~np.isnan(dx)
    np.testing.assert_allclose(dx[ok], xt.grad.numpy()[ok], rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize(
    ("shape", "dim"),
    [((4, 6, 5), 1), ((4, 6, 5), 0), ((3, 4, 5, 6), (1, 2)), ((3, 4, 5, 6), (0, 1)), ((2, 3), 0)],
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_tensor_logsumexp_over_leading_and_middle_axes_as_torch(shape, dim, keepdim):
    """Tensor.logsumexp over a run of neighbouring axes that are not the last takes the
    kernel: forward and gradient equal torch's in float64."""
    torch = pytest.importorskip("torch")
    x = _data(shape, np.float64, 11)
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y1, y2 = xd.logsumexp(dim, keepdim), torch.logsumexp(xt, dim, keepdim)
    assert y1.shape == tuple(y2.shape)
    np.testing.assert_allclose(y1.data, y2.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = _data(y1.shape, np.float64, 12)
    y1.backward(dg.tensor(g))
    y2.backward(torch.tensor(g))
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_bad_dim():
    x = np.ones((3, 4, 5), np.float32)
    with pytest.raises(IndexError, match="dim"):
        ops.logsumexp(x, dim=3)
    with pytest.raises(IndexError, match="dim"):
        ops.logsumexp(x, dim=-4)
    lse = ops.logsumexp(x, dim=1)
    with pytest.raises(ValueError, match="lse"):
        ops.logsumexp_backward(lse, x, lse.T.copy(), dim=1)
    # a non-contiguous x over a middle axis is copied, not misread
    xt = _data((5, 6, 7), np.float64, 4).transpose(2, 1, 0)
    np.testing.assert_allclose(ops.logsumexp(xt, dim=1), ref.logsumexp(xt, 1), rtol=1e-13)


@pytest.mark.parametrize("dim", [0, 1])
def test_long_axis_sums_stay_accurate_in_float32(dim):
    """A float32 running sum over 2^18 rows would stop growing at 2^24 only much later, but its
    rounding error grows with the row count; the block kernels fold their sums every 256 rows.
    Ones: every partial sum is exact, so the result is log(rows) to float32 rounding; random
    values: within a few ulps of the float64 reference (a plain running sum: ~1e-5)."""
    rows = 1 << 18
    shape = (rows, 3) if dim == 0 else (2, rows, 5)
    got = ops.logsumexp(np.zeros(shape, np.float32), dim=dim)
    np.testing.assert_allclose(got, np.log(rows), rtol=2e-7)
    x = (np.random.default_rng(5).standard_normal(shape) * 0.01).astype(np.float32)
    np.testing.assert_allclose(ops.logsumexp(x, dim=dim), ref.logsumexp(x, dim), rtol=3e-7)
    g = np.ones(got.shape, np.float32)
    dx = ops.logsumexp_backward(g, x, ops.logsumexp(x, dim=dim), dim=dim)
    np.testing.assert_allclose(dx.sum(axis=dim, dtype=np.float64), 1.0, rtol=1e-5)
    sm = ops.softmax(x, dim=dim)
    np.testing.assert_allclose(sm.sum(axis=dim, dtype=np.float64), 1.0, rtol=1e-5)
    lsm = ops.log_softmax(x, dim=dim)
    dy = np.ones_like(x)
    # log_softmax's backward sums dy over the axis: with dy = 1 the gradient is 1 - rows * p
    np.testing.assert_allclose(
        ops.log_softmax_backward(dy, lsm, dim=dim), 1 - rows * np.exp(lsm), rtol=2e-5, atol=2e-5
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "dim"),
    [
        ((7, 5), 1),
        ((3, 5, 7), 1),
        ((2, 21, 130), 1),
        ((64, 10, 17), 1),
        ((5, 3), 0),
        ((2, 1, 9), 1),
    ],
)
def test_target_picks_and_subtracts_in_the_same_pass(shape, dim, dtype):
    """logsumexp(x, dim, target) = (lse, x at the targets); its backward with g_target
    subtracts g_target there: the cross-entropy terms, against numpy on every path (rows
    and blocks), bits equal on 1 and 2 threads."""
    x = _data(shape, dtype, 21)
    rng = np.random.default_rng(22)
    bshape = tuple(s for i, s in enumerate(shape) if i != dim)
    t = rng.integers(0, shape[dim], bshape)
    g, gt = _data(bshape, dtype, 23), _data(bshape, dtype, 24)
    before = dg.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            dg.set_num_threads(threads)
            lse, picked = ops.logsumexp(x, dim=dim, target=t)
            dx = ops.logsumexp_backward(g, x, lse, dim=dim, target=t, g_target=gt)
            got.append((lse, picked, dx))
        for a, b in zip(*got):
            np.testing.assert_array_equal(a, b)
    finally:
        dg.set_num_threads(before)
    lse, picked, dx = got[0]
    np.testing.assert_array_equal(lse, ops.logsumexp(x, dim=dim))
    tt = np.expand_dims(t, dim)
    np.testing.assert_array_equal(picked, np.take_along_axis(x, tt, dim).squeeze(dim))
    onehot = np.zeros(shape)
    np.put_along_axis(onehot, tt, 1.0, dim)
    want = ref.logsumexp_backward(g, x, lse, dim) - onehot * np.expand_dims(gt, dim)
    np.testing.assert_allclose(dx, want, rtol=8 * TOL[dtype], atol=8 * TOL[dtype])


def test_bad_targets():
    x = np.ones((2, 3, 4), np.float32)
    t = np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="out of range"):
        ops.logsumexp(x, dim=1, target=np.full((2, 4), 3))
    with pytest.raises(ValueError, match="out of range"):
        ops.logsumexp(x, dim=1, target=np.full((2, 4), -1))
    with pytest.raises(TypeError, match="int64"):
        ops.logsumexp(x, dim=1, target=t.astype(np.int32))
    with pytest.raises(ValueError, match="target"):
        ops.logsumexp(x, dim=1, target=t[:1])
    lse = ops.logsumexp(x, dim=1)
    with pytest.raises(ValueError, match="both or neither"):
        ops.logsumexp_backward(lse, x, lse, dim=1, target=t)
    with pytest.raises(ValueError, match="g_target"):
        ops.logsumexp_backward(lse, x, lse, dim=1, target=t, g_target=lse[:1])
