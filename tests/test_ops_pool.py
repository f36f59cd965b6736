"""2-D pooling kernels (dg.ops.max_pool2d / avg_pool2d / adaptive_avg_pool2d /
adaptive_max_pool2d and their backward passes) against deltagrad.reference, on every ISA and
dtype: odd sizes, strides 1 to 3, paddings, dilation 2, ceil_mode, count_include_pad both ways,
sizes 0 and 1, ties, -inf / inf / NaN; gradcheck of the functional forms; the bad-input errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn, ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, assert_close, check_op

# (shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 7, 9), 3, 1, 1, 1, False),
    ((2, 3, 7, 9), 2, 2, 0, 1, False),
    ((2, 3, 7, 9), 2, 2, 1, 1, True),
    ((1, 2, 11, 13), 3, 2, 1, 1, False),
    ((1, 2, 11, 13), 3, 2, 1, 1, True),
    ((2, 2, 9, 8), 3, 3, 0, 1, True),
    ((1, 2, 9, 11), 3, 1, 1, 2, False),
    ((1, 2, 9, 11), (3, 2), 2, 1, 2, True),
    ((1, 2, 6, 41), (2, 5), 1, (1, 2), 1, False),
    ((2, 1, 5, 40), (1, 3), (2, 1), (0, 1), (1, 2), True),
    ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((0, 3, 5, 5), 2, 2, 0, 1, False),
    ((2, 0, 5, 5), 2, 2, 0, 1, False),
    ((1, 3, 5, 5), 5, 1, 2, 1, False),
    ((2, 3, 67, 70), 2, 2, 0, 1, False),  # above the threading grain
    ((2, 3, 67, 70), 3, 2, 1, 1, True),
]
# (shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 7, 9), 3, 1, 1, False, True, None),
    ((2, 3, 7, 9), 3, 1, 1, False, False, None),
    ((2, 3, 7, 9), 2, 2, 0, False, True, None),
    ((2, 3, 7, 9), 2, 2, 1, True, False, None),
    ((2, 3, 7, 9), 2, 2, 1, True, True, None),
    ((1, 2, 11, 13), 3, 2, 1, True, True, None),
    ((1, 2, 11, 13), 3, 2, 1, False, False, 5),
    ((2, 2, 10, 8), (3, 2), 3, (1, 0), True, False, None),
    ((1, 2, 6, 41), (2, 5), 1, (1, 2), False, True, None),
    ((1, 2, 6, 41), (2, 5), 1, (1, 2), False, False, -3),
    ((1, 1, 1, 1), 1, 1, 0, False, True, None),
    ((0, 3, 5, 5), 2, 2, 0, False, True, None),
    ((2, 3, 67, 70), 2, 2, 0, False, True, None),
    ((2, 3, 67, 70), 3, 2, 1, True, False, None),
]
# (shape, output_size)
ADAPTIVE_CASES = [
    ((2, 3, 7, 9), (3, 4)),
    ((2, 3, 7, 9), (7, 9)),
    ((2, 3, 8, 9), (4, 3)),  # tiles exactly: the average-pooling path
    ((2, 3, 5, 5), (1, 1)),
    ((1, 2, 5, 13), (7, 20)),  # larger than the input: overlapping windows
    ((1, 1, 1, 1), (1, 1)),
    ((0, 3, 5, 5), (2, 2)),
    ((2, 3, 6, 5), (0, 2)),
    ((2, 3, 64, 66), (7, 7)),
    ((2, 3, 64, 66), (32, 33)),
]


def _data(shape, dtype, seed, kind="normal"):
    rng = np.random.default_rng(seed)
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(dtype)
    x = rng.normal(size=shape).astype(dtype)
    if kind == "extremes" and x.size:
        flat = x.reshape(-1)
        k = max(1, flat.size // 7)
        flat[rng.choice(flat.size, k, replace=False)] = -np.inf
        flat[rng.choice(flat.size, max(1, k // 2), replace=False)] = np.inf
        flat[rng.choice(flat.size, max(1, k // 2), replace=False)] = np.nan
        flat[rng.choice(flat.size, max(1, k // 3), replace=False)] = 1e30
        if x.shape[0] and x.shape[1]:
            x[0, 0] = -np.inf  # a whole plane of -inf: value -inf, the window's first index
    return x


@functools.cache
def _max_ref(case, dtype, kind):
    shape, k, s, p, d, c = case
    x = _data(shape, dtype, hash(case) % 2**32, kind)
    y, idx = ref.max_pool2d(x, k, s, p, d, c, return_indices=True)
    dy = _data(y.shape, dtype, 7)
    return x, y, idx, dy, ref.max_pool2d_backward(dy, idx, shape, k, s, p, d, c)


@pytest.mark.parametrize("kind", ["normal", "ties", "extremes"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool2d(isa, case, dtype, kind):
    shape, k, s, p, d, c = case
    x, y_ref, idx_ref, dy, dx_ref = _max_ref(case, dtype, kind)
    y, idx = ops.max_pool2d(x, k, s, p, d, c, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape
    assert_close(y, y_ref, dtype, rtol=0.0, name="max_pool2d")
    np.testing.assert_array_equal(idx, idx_ref)
    assert_close(ops.max_pool2d(x, k, s, p, d, c), y_ref, dtype, rtol=0.0, name="no indices")
    dx = ops.max_pool2d_backward(dy, idx, shape, k, s, p, d, c)
    assert_close(dx, dx_ref, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")


@functools.cache
def _avg_ref(case, dtype):
    shape, k, s, p, c, cip, div = case
    x = _data(shape, dtype, hash(case) % 2**32)
    y = ref.avg_pool2d(x, k, s, p, c, cip, div)
    dy = _data(y.shape, dtype, 7)
    return x, y, dy, ref.avg_pool2d_backward(dy, shape, k, s, p, c, cip, div)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool2d(isa, case, dtype):
    shape, k, s, p, c, cip, div = case
    x, y_ref, dy, dx_ref = _avg_ref(case, dtype)
    y = ops.avg_pool2d(x, k, s, p, c, cip, div)
    assert_close(y, y_ref, dtype, scale=float(np.abs(x).max(initial=0)), name="avg_pool2d")
    dx = ops.avg_pool2d_backward(dy, shape, k, s, p, c, cip, div)
    assert_close(dx, dx_ref, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")


@functools.cache
def _adaptive_ref(case, dtype):
    shape, o = case
    x = _data(shape, dtype, hash(case) % 2**32)
    y = ref.adaptive_avg_pool2d(x, o)
    dy = _data(y.shape, dtype, 7)
    return x, y, dy, ref.adaptive_avg_pool2d_backward(dy, shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=str)
def test_adaptive_avg_pool2d(isa, case, dtype):
    shape, o = case
    x, y_ref, dy, dx_ref = _adaptive_ref(case, dtype)
    y = ops.adaptive_avg_pool2d(x, o)
    assert_close(y, y_ref, dtype, scale=float(np.abs(x).max(initial=0)), name="adaptive")
    dx = ops.adaptive_avg_pool2d_backward(dy, shape)
    assert_close(dx, dx_ref, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")


# (shape, output_size): the adaptive windows of every kind, for adaptive max pooling
ADAPTIVE_MAX_CASES = [
    *ADAPTIVE_CASES,
    ((2, 3, 13, 11), (5, 3)),
    ((1, 2, 9, 1), (4, 1)),  # one column: the vector step's tail only
    ((2, 2, 30, 17), (30, 1)),
    ((1, 1, 3, 40), (3, 9)),  # rows wider than a vector, overlapping columns
    ((2, 3, 64, 66), (1, 1)),  # one output column: windows as contiguous ranges
    ((1, 2, 13, 11), (3, 1)),
]


@functools.cache
def _adaptive_max_ref(case, dtype, kind):
    shape, o = case
    x = _data(shape, dtype, hash(case) % 2**32, kind)
    y, idx = ref.adaptive_max_pool2d(x, o)
    dy = _data(y.shape, dtype, 7)
    return x, y, idx, dy, ref.adaptive_max_pool2d_backward(dy, idx, shape)


@pytest.mark.parametrize("kind", ["normal", "ties", "extremes"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_MAX_CASES, ids=str)
def test_adaptive_max_pool2d(isa, case, dtype, kind):
    shape, o = case
    x, y_ref, idx_ref, dy, dx_ref = _adaptive_max_ref(case, dtype, kind)
    y, idx = ops.adaptive_max_pool2d(x, o)
    assert y.dtype == dtype and idx.dtype == np.int64 and idx.shape == y.shape == y_ref.shape
    assert_close(y, y_ref, dtype, rtol=0.0, name="adaptive_max_pool2d")
    np.testing.assert_array_equal(idx, idx_ref)
    dx = ops.adaptive_max_pool2d_backward(dy, idx, shape)
    assert_close(dx, dx_ref, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")


def test_adaptive_max_pool2d_api():
    x = _data((3, 2, 9, 10), np.float64, 4, "ties")
    y, idx = ops.adaptive_max_pool2d(x[1], (4, 3))  # unbatched
    y4, idx4 = ops.adaptive_max_pool2d(x[1:2], (4, 3))
    np.testing.assert_array_equal(y, y4[0])
    np.testing.assert_array_equal(idx, idx4[0])
    dx = ops.adaptive_max_pool2d_backward(y, idx, x[1].shape)
    np.testing.assert_array_equal(dx, ops.adaptive_max_pool2d_backward(y4, idx4, (1, 2, 9, 10))[0])
    v = x[:, :, ::2, 1:]  # a strided view
    np.testing.assert_array_equal(
        ops.adaptive_max_pool2d(v, 3)[1], ref.adaptive_max_pool2d(v, 3)[1]
    )
    y, idx = ops.adaptive_max_pool2d(x, (4, 5))
    yo, io, dxo = np.full_like(y, np.nan), np.full_like(idx, -7), np.full_like(x, np.nan)
    ops.adaptive_max_pool2d(x, (4, 5), out=yo, indices_out=io)
    np.testing.assert_array_equal(yo, y)
    np.testing.assert_array_equal(io, idx)
    ops.adaptive_max_pool2d_backward(y, idx, x.shape, out=dxo)
    np.testing.assert_array_equal(dxo, ops.adaptive_max_pool2d_backward(y, idx, x.shape))
    with pytest.raises(ValueError, match="^adaptive_max_pool2d: out"):
        ops.adaptive_max_pool2d(x, (9, 10), out=x)  # the input itself
    with pytest.raises(ValueError, match="^adaptive_max_pool2d: indices_out"):
        ops.adaptive_max_pool2d(x, (4, 5), indices_out=np.empty((3, 2, 4, 4), np.int64))
    with pytest.raises(TypeError, match="^adaptive_max_pool2d: indices_out"):
        ops.adaptive_max_pool2d(x, (4, 5), indices_out=np.empty(idx.shape, np.int32))
    with pytest.raises(TypeError, match="^adaptive_max_pool2d_backward: indices"):
        ops.adaptive_max_pool2d_backward(y, idx.astype(np.int32), x.shape)
    with pytest.raises(ValueError, match="^adaptive_max_pool2d_backward: indices"):
        ops.adaptive_max_pool2d_backward(y, idx[..., :4], x.shape)
    with pytest.raises(ValueError, match="^adaptive_max_pool2d: x: expected non-zero"):
        ops.adaptive_max_pool2d(np.ones((1, 1, 0, 3)), 2)
    with pytest.raises(ValueError, match="^adaptive_max_pool2d: output_size"):
        ops.adaptive_max_pool2d(x, (-1, 2))
    # outside the plane; in the plane, outside the window (windows of 3 x 2 and 2 x 3, 1 x 2
    # tiling the plane: max pooling's kernels, 1 x 1)
    for size, at, bads in [
        ((4, 5), (1, 1, 2, 3), (-1, 90, 3, 10, 26, 80)),
        ((3, 5), (0, 1, 1, 4), (-1, 90, 0, 29, 37, 60)),
        ((9, 5), (2, 0, 4, 2), (-1, 90, 43, 46, 33, 55)),
        ((9, 10), (2, 1, 0, 9), (-1, 90, 8, 19)),
    ]:
        y, idx = ops.adaptive_max_pool2d(x, size)
        assert ops.adaptive_max_pool2d_backward(y, idx, x.shape).shape == x.shape
        for bad in bads:
            wrong = idx.copy()
            wrong[at] = bad
            with pytest.raises(ValueError, match="^adaptive_max_pool2d_backward: indices: 1 in"):
                ops.adaptive_max_pool2d_backward(y, wrong, x.shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_max_pool2d_signed_zeros(isa, dtype):
    """-0.0 and 0.0 tie: the output is the winning element, its sign included, on every road
    (the two steps, one-column ranges, the tiling max_pool2d route)."""
    rng = np.random.default_rng(21)
    x = rng.choice(np.array([-0.0, 0.0, -1.0], dtype), size=(3, 4, 12, 40))
    for o in [(1, 1), (3, 1), (5, 7), (4, 9), (6, 20), (12, 40), (2, 3)]:
        y, idx = ops.adaptive_max_pool2d(x, o)
        y_ref, idx_ref = ref.adaptive_max_pool2d(x, o)
        np.testing.assert_array_equal(idx, idx_ref)
        np.testing.assert_array_equal(np.signbit(y), np.signbit(y_ref))


def test_adaptive_max_pool2d_threads_agree():
    x = _data((4, 8, 61, 64), np.float32, 5, "ties")
    old = dg.get_num_threads()
    try:
        res = []
        for n in (1, 2):
            dg.set_num_threads(n)
            y, idx = ops.adaptive_max_pool2d(x, (7, 9))
            res.append((y, idx, ops.adaptive_max_pool2d_backward(y, idx, x.shape)))
    finally:
        dg.set_num_threads(old)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


def test_adaptive_max_pool2d_functional_matches_array_path():
    """F.adaptive_max_pool2d's kernel path against its array path (used for cupy arrays):
    values, indices and the input gradient, float64, ties and NaN included."""
    from deltagrad._functional_pool_more import _argmax_2d

    x = _data((2, 3, 11, 13), np.float64, 9, "extremes")
    for o in [(1, 1), (4, 5), (11, 13), (20, 6)]:
        t = dg.tensor(x, requires_grad=True)
        y, idx = F.adaptive_max_pool2d(t, o, return_indices=True)
        np.testing.assert_array_equal(idx.data, _argmax_2d(x, *o))
        dy = _data(y.shape, np.float64, 3)
        y.backward(dg.tensor(dy))
        flat = np.zeros((6, 11 * 13))
        for p in range(6):
            np.add.at(flat[p], idx.data.reshape(6, -1)[p], dy.reshape(6, -1)[p])
        np.testing.assert_array_equal(t.grad, flat.reshape(x.shape))


def test_avg_extremes_propagate():
    x = _data((1, 2, 6, 7), np.float64, 3, "extremes")
    for args in [(2, 2, 0), (3, 1, 1)]:
        with np.errstate(invalid="ignore"):  # inf - inf in the reference's sums
            assert_close(ops.avg_pool2d(x, *args), ref.avg_pool2d(x, *args), np.float64)


def test_unbatched_and_views():
    x = _data((3, 2, 9, 10), np.float64, 4)
    y, idx = ops.max_pool2d(x[0], 3, 2, 1, return_indices=True)
    y4, idx4 = ops.max_pool2d(x[:1], 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(y, y4[0])
    np.testing.assert_array_equal(idx, idx4[0])
    dx = ops.max_pool2d_backward(y, idx, x[0].shape, 3, 2, 1)
    assert dx.shape == x[0].shape
    v = x[:, :, ::2, 1:]  # a strided view: copied explicitly
    assert_close(ops.avg_pool2d(v, 2), ref.avg_pool2d(v, 2), np.float64)
    assert ops.adaptive_avg_pool2d(x[1], (2, 3)).shape == (2, 2, 3)
    assert ops.adaptive_avg_pool2d_backward(np.ones((2, 2, 3)), (2, 9, 10)).shape == (2, 9, 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out(dtype):
    x = _data((2, 3, 9, 12), dtype, 6)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    cases = [
        (ops.max_pool2d, (x, 3, 2, 1)),
        (ops.avg_pool2d, (x, 3, 2, 1)),
        (ops.adaptive_avg_pool2d, (x, (4, 5))),
        (ops.max_pool2d_backward, (y, idx, x.shape, 2)),
        (ops.avg_pool2d_backward, (y, x.shape, 2)),
        (ops.adaptive_avg_pool2d_backward, (y, x.shape)),
        (ops.avg_pool2d, (x[0], 2)),  # unbatched
    ]
    for fn, args in cases:
        want = fn(*args)
        out = np.full_like(want, np.nan)
        assert fn(*args, out=out) is not None
        np.testing.assert_array_equal(out, want)
        with pytest.raises(ValueError, match=f"^{fn.__name__}: out"):
            fn(*args, out=np.empty(want.shape[:-1] + (want.shape[-1] + 1,), dtype))
        with pytest.raises(TypeError, match=f"^{fn.__name__}: out"):
            fn(*args, out=np.empty(want.shape, np.float16))
    yo, io = np.empty_like(y), np.empty_like(idx)
    ops.max_pool2d(x, 2, return_indices=True, out=yo, indices_out=io)
    np.testing.assert_array_equal(yo, y)
    np.testing.assert_array_equal(io, idx)
    with pytest.raises(ValueError, match="^max_pool2d: out"):
        ops.max_pool2d(x, 1, out=x)  # the input itself
    with pytest.raises(TypeError, match="^max_pool2d: indices_out"):
        ops.max_pool2d(x, 2, return_indices=True, indices_out=np.empty(idx.shape, np.int32))


def test_threads_agree():
    x = _data((4, 8, 64, 64), np.float32, 5)
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(1)
        one = [ops.max_pool2d(x, 3, 2, 1, return_indices=True), ops.avg_pool2d(x, 2)]
        dg.set_num_threads(2)
        two = [ops.max_pool2d(x, 3, 2, 1, return_indices=True), ops.avg_pool2d(x, 2)]
    finally:
        dg.set_num_threads(old)
    for a, b in zip([*one[0], one[1]], [*two[0], two[1]]):
        np.testing.assert_array_equal(a, b)


# ---- autograd


def _t(shape, seed):
    return dg.tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


def test_gradcheck():
    x = _t((2, 2, 5, 6), 0)
    assert dg.gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), [x])
    assert dg.gradcheck(lambda t: F.max_pool2d(t, 2, 1, dilation=2), [x])
    assert dg.gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False), [x])
    assert dg.gradcheck(lambda t: F.avg_pool2d(t, 2, ceil_mode=True, divisor_override=3), [x])
    assert dg.gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 4)), [x])
    assert dg.gradcheck(lambda t: F.adaptive_avg_pool2d(t, (None, 2)), [x])
    assert dg.gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), [x])
    assert dg.gradcheck(lambda t: F.adaptive_max_pool2d(t, (7, 9)), [x])
    x1 = _t((2, 3, 9), 1)
    assert dg.gradcheck(lambda t: nn.MaxPool1d(3, 2, 1)(t), [x1])
    assert dg.gradcheck(lambda t: nn.AvgPool1d(2)(t), [x1])
    assert dg.gradcheck(lambda t: nn.AdaptiveAvgPool1d(4)(t), [x1])
    x3 = _t((2, 5, 6), 2)
    assert dg.gradcheck(lambda t: F.max_pool2d(t, 2), [x3])


def test_functional_matches_ops_and_returns_indices():
    x = _t((2, 3, 7, 8), 3)
    y, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x.data, 3, 2, 1, return_indices=True)
    assert_close(y.data, y_ref, np.float64)
    np.testing.assert_array_equal(idx.data, idx_ref)
    assert not idx.requires_grad
    y.sum().backward()
    assert_close(
        x.grad, ref.max_pool2d_backward(np.ones(y.shape), idx_ref, x.shape, 3, 2, 1), np.float64
    )


# ---- bad input: ValueError / TypeError naming the module (or the op) and the argument


@pytest.mark.parametrize(
    "module, shape, arg",
    [
        (nn.MaxPool2d(2), (2, 3, 4, 4, 4), "input"),
        (nn.MaxPool2d(2), (4, 4), "input"),
        (nn.MaxPool2d(7), (1, 1, 5, 5), "kernel_size"),
        (nn.MaxPool2d(3, stride=1), (1, 1, 2, 2), "kernel_size"),
        (nn.MaxPool2d(0), (1, 1, 5, 5), "kernel_size"),
        (nn.MaxPool2d(2, stride=0), (1, 1, 5, 5), "stride"),
        (nn.MaxPool2d(2, stride=-1), (1, 1, 5, 5), "stride"),
        (nn.MaxPool2d(3, padding=2), (1, 1, 5, 5), "padding"),
        (nn.MaxPool2d(2, padding=-1), (1, 1, 5, 5), "padding"),
        (nn.MaxPool2d(2, dilation=0), (1, 1, 5, 5), "dilation"),
        (nn.AvgPool2d(2), (2, 3, 4, 4, 4), "input"),
        (nn.AvgPool2d(6), (1, 1, 5, 5), "kernel_size"),
        (nn.AvgPool2d((2, -1)), (1, 1, 5, 5), "kernel_size"),
        (nn.AvgPool2d(2, stride=(1, 0)), (1, 1, 5, 5), "stride"),
        (nn.AvgPool2d(3, padding=2), (1, 1, 5, 5), "padding"),
        (nn.AvgPool2d(2, divisor_override=0), (1, 1, 5, 5), "divisor_override"),
        (nn.AdaptiveAvgPool2d(2), (5, 5), "input"),
        (nn.AdaptiveAvgPool2d(-1), (1, 1, 5, 5), "output_size"),
        (nn.MaxPool1d(2), (1, 1, 5, 5), "input"),
        (nn.AvgPool1d(9), (1, 1, 5), "kernel_size"),
        # 1-D arguments are checked as given, not as the (1, v) pairs of the 2-D kernels
        (nn.MaxPool1d(0), (1, 1, 5), r"kernel_size: expected a value >= 1, got 0$"),
        (nn.MaxPool1d(2, stride=(0,)), (1, 1, 5), r"stride: expected a value >= 1, got 0$"),
        (
            nn.MaxPool1d(2, padding=2),
            (1, 1, 5),
            r"padding: expected at most half of the kernel size 2, got 2$",
        ),
        (nn.AvgPool1d(2, padding=-1), (1, 1, 5), r"padding: expected a value >= 0, got -1$"),
        (nn.AdaptiveAvgPool1d(-1), (1, 1, 5), r"output_size: expected a value >= 0, got -1$"),
        # a zero height with padding: windows of padding alone (torch raises; the max was -inf
        # with indices outside the input, found only at backward)
        (nn.MaxPool2d(2, padding=1), (1, 1, 0, 3), "input"),
        (nn.AvgPool2d(2, padding=1), (1, 1, 3, 0), "input"),
    ],
    ids=str,
)
def test_bad_input(module, shape, arg):
    name = type(module).__name__
    with pytest.raises(ValueError, match=rf"^{name}: {arg}"):
        module(dg.tensor(np.ones(shape)))


def test_bad_input_ops():
    x = np.ones((1, 1, 5, 5))
    with pytest.raises(ValueError, match="^max_pool2d: x"):
        ops.max_pool2d(np.ones(5), 2)
    with pytest.raises(ValueError, match="^avg_pool2d: stride"):
        ops.avg_pool2d(x, 2, 0)
    with pytest.raises(TypeError, match="^max_pool2d: x: expected dtype"):
        ops.max_pool2d(np.ones((1, 1, 5, 5), dtype=np.int32), 2)
    with pytest.raises(TypeError, match="^max_pool2d: kernel_size"):
        ops.max_pool2d(x, "2")
    with pytest.raises(ValueError, match="^max_pool2d: kernel_size"):
        F.max_pool2d(dg.tensor(x), 6)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="^max_pool2d_backward: indices"):
        ops.max_pool2d_backward(y, np.full(idx.shape, 24), x.shape, 2)
    with pytest.raises(ValueError, match="^max_pool2d_backward: dy"):
        ops.max_pool2d_backward(np.ones((1, 1, 3, 3)), idx, x.shape, 2)

    class FakeDevice:  # a well-formed interface (a malformed one is a TypeError first)
        __cuda_array_interface__ = {
            "shape": (1, 1, 4, 4),
            "typestr": "<f4",
            "data": (0, False),
            "version": 3,
        }

    for fn, args in [
        (ops.max_pool2d, (2,)),
        (ops.max_pool2d_train, (2,)),
        (ops.avg_pool2d, (2,)),
        (ops.adaptive_avg_pool2d, (2,)),
    ]:
        with pytest.raises(NotImplementedError, match=fn.__name__):
            fn(FakeDevice(), *args)
    with pytest.raises(NotImplementedError, match="^max_pool2d_train_backward"):
        ops.max_pool2d_train_backward(y, FakeDevice(), x.shape, 2)
    # the training path names what the user called (F.max_pool2d / MaxPool2d), not the op
    for owner in ("max_pool2d", "MaxPool2d"):
        with pytest.raises(NotImplementedError, match=f"^{owner}: not implemented for CUDA"):
            F._pool_call(owner, "max_pool2d_train", ops.max_pool2d_train, FakeDevice(), 2)


def test_huge_geometry_is_an_error_or_exact():
    """Geometry arguments near int64's range: a ValueError naming the argument, or the right
    answer in bounded time, never wrapped arithmetic (a dilation of 2^62 made a 5-tap window
    span 1 and the pooling ran as if undilated; a padding of 2^39 was walked a tap at a time)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 8, 8))
    with pytest.raises(ValueError, match="^max_pool2d: dilation: too large"):
        ops.max_pool2d(x, 5, dilation=2**62)
    with pytest.raises(ValueError, match="^max_pool2d: kernel_size: too large"):
        ops.max_pool2d(x, 2**62, padding=2**61 - 3)
    with pytest.raises(ValueError, match="^avg_pool2d: kernel_size: too large"):
        ops.avg_pool2d(x, 2**32, padding=2**31 - 4)
    with pytest.raises(ValueError, match="^max_pool2d: stride: too large"):
        ops.max_pool2d(x, 3, stride=2**63 - 1, ceil_mode=True)
    with pytest.raises(ValueError, match=r"^adaptive_avg_pool2d: the result's shape .* too large"):
        ops.adaptive_avg_pool2d(x, 2**40)
    # one window per column, 2^40 rows tall and almost all padding: the column's maximum
    y, idx = ops.max_pool2d(x, (2**40, 1), padding=(2**39 - 3, 0), return_indices=True)
    np.testing.assert_array_equal(y[:, :, 0], x.max(axis=2))
    np.testing.assert_array_equal(idx[:, :, 0], x.argmax(axis=2) * 8 + np.arange(8))
    # the average over a 2^31 x 2^31 window counting the padding: the plane's sum / 2^62
    y = ops.avg_pool2d(x, 2**31, padding=2**30 - 4)
    np.testing.assert_allclose(y[:, :, 0, 0], x.sum(axis=(2, 3)) / 2.0**62, rtol=1e-12)


# ---- the fast paths (2x2 windows at stride 2, global average pooling) against the generic
# kernels they replace (bit for bit, but the global sum's order) and the float64 reference

FAST_SHAPES = [
    (2, 3, 7, 9),  # odd height and width: the uncovered last row and column
    (1, 2, 2, 2),  # one window
    (2, 2, 2, 71),  # 35 windows a row: full vectors and a tail on every ISA
    (3, 5, 8, 8),  # 4 windows a row: the whole row is a (masked) tail on every ISA
    (2, 3, 4, 4),
    (1, 2, 16, 16),  # 8 windows a row: a full AVX2 vector, an AVX-512 tail
    (1, 2, 4, 112),  # 56: three AVX-512 vectors and a tail of 8
    (1, 3, 67, 66),
    (0, 3, 6, 6),  # an empty batch
    (2, 0, 6, 6),
]


@pytest.fixture
def generic():
    """A function running its arguments with the pooling fast paths off."""
    from deltagrad import _cpu

    def run(fn, *args, **kw):
        old = _cpu._pool_generic_only(True)
        try:
            return fn(*args, **kw)
        finally:
            _cpu._pool_generic_only(old)

    return run


@pytest.mark.parametrize("kind", ["normal", "ties", "extremes"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FAST_SHAPES, ids=str)
def test_fast_max_2x2_matches_generic_and_reference(isa, generic, shape, dtype, kind):
    x = _data(shape, dtype, 11, kind)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    y_g, idx_g = generic(ops.max_pool2d, x, 2, return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y, y_g)  # NaN where NaN: torch's propagation
    np.testing.assert_array_equal(idx, idx_g)
    np.testing.assert_array_equal(idx, idx_ref)
    assert_close(y, y_ref, dtype, rtol=0.0, name="max_pool2d")
    np.testing.assert_array_equal(ops.max_pool2d(x, 2), y)
    dy = _data(y.shape, dtype, 12)
    dx = ops.max_pool2d_backward(dy, idx, shape, 2)
    np.testing.assert_array_equal(dx, generic(ops.max_pool2d_backward, dy, idx, shape, 2))
    assert_close(dx, ref.max_pool2d_backward(dy, idx, shape, 2), dtype, rtol=0.0, name="dx")
    out = np.full(shape, np.nan, dtype)  # every element written, the uncovered ones with 0
    ops.max_pool2d_backward(dy, idx, shape, 2, out=out)
    np.testing.assert_array_equal(out, dx)


@pytest.mark.parametrize("divisor", [None, 3, -4])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FAST_SHAPES, ids=str)
def test_fast_avg_2x2_matches_generic_and_reference(isa, generic, shape, dtype, divisor):
    x = _data(shape, dtype, 13)
    y = ops.avg_pool2d(x, 2, divisor_override=divisor)
    np.testing.assert_array_equal(y, generic(ops.avg_pool2d, x, 2, divisor_override=divisor))
    scale = float(np.abs(x).max(initial=0))
    want = ref.avg_pool2d(x, 2, divisor_override=divisor)
    assert_close(y, want, dtype, scale=scale, name="avg_pool2d")
    dy = _data(y.shape, dtype, 14)
    dx = ops.avg_pool2d_backward(dy, shape, 2, divisor_override=divisor)
    dx_g = generic(ops.avg_pool2d_backward, dy, shape, 2, divisor_override=divisor)
    np.testing.assert_array_equal(dx, dx_g)
    want = ref.avg_pool2d_backward(dy, shape, 2, divisor_override=divisor)
    assert_close(dx, want, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")
    out = np.full(shape, np.nan, dtype)
    ops.avg_pool2d_backward(dy, shape, 2, divisor_override=divisor, out=out)
    np.testing.assert_array_equal(out, dx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(2, 3, 7, 9), (2, 3, 1, 1), (1, 2, 1, 37), (3, 2, 41, 1), (2, 2, 67, 66), (0, 2, 3, 3)],
)
def test_fast_global_avg_matches_generic_and_reference(isa, generic, shape, dtype):
    x = _data(shape, dtype, 15)
    y = ops.adaptive_avg_pool2d(x, 1)
    scale = float(np.abs(x).max(initial=0))
    assert_close(y, generic(ops.adaptive_avg_pool2d, x, 1), dtype, scale=scale, name="generic")
    assert_close(y, ref.adaptive_avg_pool2d(x, 1), dtype, scale=scale, name="adaptive")
    dy = _data(y.shape, dtype, 16)
    dx = ops.adaptive_avg_pool2d_backward(dy, shape)
    np.testing.assert_array_equal(dx, generic(ops.adaptive_avg_pool2d_backward, dy, shape))
    want = ref.adaptive_avg_pool2d_backward(dy, shape)
    assert_close(dx, want, dtype, scale=float(np.abs(dy).max(initial=0)), name="dx")


@pytest.mark.parametrize("windows", [32, 44, 13, 8], ids=lambda n: f"{n}windows")
@pytest.mark.parametrize("stream", [False, True], ids=["cached", "streamed"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_max_2x2_nan_inf_ties_per_lane(isa, dtype, stream, windows):
    """Each lane of a vector sees its own window: NaN at every window position (the last NaN
    wins), -inf everywhere (the first index), ties (the first maximum); through the cached
    stores and the streamed ones (32 windows a row: whole vectors, the direct path; 44, 13 and
    8: the same cases in the last 8 windows, a row's masked tail on AVX-512, partly on AVX2)."""
    from deltagrad import _cpu

    x = np.full((1, 1, 2, 2 * windows), -np.inf, dtype)
    tail = windows - 8  # the 8 cases in the last 8 windows (32: in all four groups of 8)
    for o in range(0 if windows == 32 else tail, windows):
        k = o % 8 if windows == 32 else o - tail
        if k < 4:
            x[0, 0, k // 2, 2 * o + k % 2] = np.nan
        elif k == 4:
            x[0, 0, :, 2 * o : 2 * o + 2] = 1.0
        elif k == 5:
            x[0, 0, 1, 2 * o] = x[0, 0, 0, 2 * o + 1] = np.nan
        elif k == 6:
            x[0, 0, 1, 2 * o + 1] = 5.0
    old = _cpu._pool_stream_bytes(0 if stream else 1 << 62)
    try:
        y, idx = ops.max_pool2d(x, 2, return_indices=True)
    finally:
        _cpu._pool_stream_bytes(old)
    y_ref, idx_ref = ref.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    w2 = 2 * windows
    for o0 in sorted({0 if windows == 32 else tail, tail}):
        np.testing.assert_array_equal(idx[0, 0, 0, o0 + 4], 2 * (o0 + 4))  # ties: the first
        np.testing.assert_array_equal(idx[0, 0, 0, o0 + 5], w2 + 2 * (o0 + 5))  # the last NaN
        np.testing.assert_array_equal(idx[0, 0, 0, o0 + 7], 2 * (o0 + 7))  # all -inf: the first
        assert np.isnan(y[0, 0, 0, o0 : o0 + 4]).all() and y[0, 0, 0, o0 + 7] == -np.inf
    dy = np.arange(1, windows + 1, dtype=dtype).reshape(1, 1, 1, windows)
    dx = ops.max_pool2d_backward(dy, idx, x.shape, 2)
    np.testing.assert_array_equal(dx, ref.max_pool2d_backward(dy, idx, x.shape, 2))


def test_fast_max_2x2_bad_indices_counted(isa):
    x = _data((1, 2, 4, 70), np.float32, 17)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    for shift in (2, -2, 70 * 2, 1 << 40, -(1 << 40)):  # each leaves the window
        bad = idx.copy()
        bad[0, 1, 1, 20] += shift  # in the vector part
        with pytest.raises(ValueError, match="^max_pool2d_backward: indices: 1 indices"):
            ops.max_pool2d_backward(y, bad, x.shape, 2)
    bad = idx.copy()
    bad[0, 0, 0, 34] = 3  # in the tail
    with pytest.raises(ValueError, match="^max_pool2d_backward: indices: 1 indices"):
        ops.max_pool2d_backward(y, bad, x.shape, 2)
    # rows narrower than a vector (the scatter path), odd width: each value outside the window
    x = _data((2, 3, 8, 9), np.float32, 18)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    for value in (59, 62, 51, 79, -1, 1 << 40):  # the window of (3, 3) is {60, 61, 69, 70}
        bad = idx.copy()
        bad[1, 2, 3, 3] = value
        with pytest.raises(ValueError, match="^max_pool2d_backward: indices: 1 indices"):
            ops.max_pool2d_backward(y, bad, x.shape, 2)


def test_fast_paths_noncontiguous_input(isa):
    base = _data((2, 3, 10, 140), np.float64, 18)
    x = base[:, :, 1:, ::2]  # (2, 3, 9, 70): a strided view
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(np.ascontiguousarray(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx, idx_ref)
    assert_close(y, y_ref, np.float64, rtol=0.0)
    assert_close(ops.avg_pool2d(x, 2), ref.avg_pool2d(np.ascontiguousarray(x), 2), np.float64)
    xt = base.transpose(0, 1, 3, 2)  # a transposed view
    assert_close(ops.adaptive_avg_pool2d(xt, 1), ref.adaptive_avg_pool2d(xt, 1), np.float64)


def test_fast_paths_threads_agree():
    x = _data((4, 8, 64, 66), np.float32, 19)
    old = dg.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            dg.set_num_threads(n)
            y, idx = ops.max_pool2d(x, 2, return_indices=True)
            dy = _data(y.shape, np.float32, 20)
            res.append([y, idx, ops.max_pool2d_backward(dy, idx, x.shape, 2)])
            res[-1] += [ops.avg_pool2d(x, 2), ops.avg_pool2d_backward(dy, x.shape, 2)]
            res[-1] += [ops.adaptive_avg_pool2d(x, 1)]
    finally:
        dg.set_num_threads(old)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


# ---- check_op rows on cpu (forward, gradients, gradcheck; float64 and float32; odd sizes)


def test_check_op_max_pool2d():
    check_op(
        lambda x: F.max_pool2d(x, 2),
        lambda x: ref.max_pool2d(x, 2),
        [("n", 2, 5, 7)],
        devices=["cpu"],
        trials=2,
        name="max_pool2d_2x2",
    )
    check_op(
        lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
        lambda x: ref.max_pool2d(x, 3, 2, 1, ceil_mode=True),
        [("n", 1, 5, 6)],
        devices=["cpu"],
        trials=2,
        name="max_pool2d_3x3_s2_p1",
    )


def test_check_op_avg_pool2d():
    check_op(
        lambda x: F.avg_pool2d(x, 2),
        lambda x: ref.avg_pool2d(x, 2),
        [("n", 2, 5, 7)],
        devices=["cpu"],
        trials=2,
        name="avg_pool2d_2x2",
    )
    check_op(
        lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        lambda x: ref.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        [("n", 1, 5, 6)],
        devices=["cpu"],
        trials=2,
        name="avg_pool2d_3x3_s2_p1",
    )


def test_check_op_adaptive_max_pool2d():
    for size in [1, (2, 3), (7, 4)]:
        check_op(
            lambda x, size=size: F.adaptive_max_pool2d(x, size),
            lambda x, size=size: ref.adaptive_max_pool2d(x, size)[0],
            [("n", 2, "h", "w")],
            devices=["cpu"],
            trials=2,
            empty=False,
            name=f"adaptive_max_pool2d_{size}",
        )


def test_check_op_adaptive_avg_pool2d():
    for size in [1, (2, 3)]:
        check_op(
            lambda x, size=size: F.adaptive_avg_pool2d(x, size),
            lambda x, size=size: ref.adaptive_avg_pool2d(x, size),
            [("n", 2, "h", "w")],
            devices=["cpu"],
            trials=2,
            empty=False,
            name=f"adaptive_avg_pool2d_{size}",
        )


@pytest.mark.parametrize("shape", FAST_SHAPES[:4], ids=str)
def test_fast_paths_streaming_outputs_match_generic(isa, generic, shape):
    """Large outputs are written with non-temporal stores (aligned vectors; the others plain):
    with the threshold at 0 every output streams, still every element written and equal to the
    generic kernels'."""
    from deltagrad import _cpu

    x = _data(shape, np.float32, 21)
    y_g, idx_g = generic(ops.max_pool2d, x, 2, return_indices=True)
    dy = _data(y_g.shape, np.float32, 22)
    g1 = _data(shape[:2] + (1, 1), np.float32, 23)
    old = _cpu._pool_stream_bytes(0)
    try:
        y, idx = ops.max_pool2d(x, 2, return_indices=True)
        np.testing.assert_array_equal(y, y_g)
        np.testing.assert_array_equal(idx, idx_g)
        np.testing.assert_array_equal(ops.avg_pool2d(x, 2), generic(ops.avg_pool2d, x, 2))
        for fn, args in [
            (ops.max_pool2d_backward, (dy, idx, shape, 2)),
            (ops.avg_pool2d_backward, (dy, shape, 2)),
            (ops.adaptive_avg_pool2d_backward, (g1, shape)),
        ]:
            out = np.full(shape, np.nan, np.float32)
            fn(*args, out=out)
            np.testing.assert_array_equal(out, generic(fn, *args))
    finally:
        _cpu._pool_stream_bytes(old)


# Whole vectors a row on every ISA and dtype (64 windows): the streamed passes store straight
# from registers (no staging block), each thread's rows one stream, shifted onto vector
# boundaries; (4, 8, 64, 128) is 2048 output rows, two threads' worth.
# (1, 2, 4, 1040): 520 windows a row, more than the avg forward's 256-output runs.
DIRECT_SHAPES = [(1, 2, 2, 128), (2, 3, 6, 128), (4, 8, 64, 128), (1, 2, 4, 1040)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DIRECT_SHAPES, ids=str)
def test_fast_paths_streamed_direct_any_alignment(isa, generic, shape, dtype):
    """Streamed outputs at every element offset from a vector boundary (numpy's large arrays
    start 16 bytes past a page; AVX2 takes 0 and 16 bytes directly, the others through the
    staging block): every element equals the generic kernels', nothing outside written, on 1
    and 2 threads."""
    from deltagrad import _cpu

    x = _data(shape, dtype, 24, "extremes")
    y_g, idx_g = generic(ops.max_pool2d, x, 2, return_indices=True)
    dy = _data(y_g.shape, dtype, 25)
    dx_max = generic(ops.max_pool2d_backward, dy, idx_g, shape, 2)
    dx_avg = generic(ops.avg_pool2d_backward, dy, shape, 2)
    y_avg = generic(ops.avg_pool2d, x, 2)
    y_avg3 = generic(ops.avg_pool2d, x, 2, divisor_override=3)  # a division, not a multiply
    n, m = x.size, y_g.size

    def view(buf, off, size, shp):
        return buf[off : off + size].reshape(shp)

    old, nt = _cpu._pool_stream_bytes(0), dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            for off in (0, 1, 2, 3, 4, 7, 8, 13):
                fy, fi = np.full(m + 32, np.nan, dtype), np.full(m + 32, -7, np.int64)
                y = view(fy, off, m, y_g.shape)
                idx = view(fi, 31 - off, m, y_g.shape)
                ops.max_pool2d(x, 2, return_indices=True, out=y, indices_out=idx)
                np.testing.assert_array_equal(y, y_g)
                np.testing.assert_array_equal(idx, idx_g)
                assert np.isnan(fy[:off]).all() and np.isnan(fy[off + m :]).all()
                assert (fi[: 31 - off] == -7).all() and (fi[31 - off + m :] == -7).all()
                ops.avg_pool2d(x, 2, out=y)
                np.testing.assert_array_equal(y, y_avg)
                assert np.isnan(fy[:off]).all() and np.isnan(fy[off + m :]).all()
                ops.avg_pool2d(x, 2, divisor_override=3, out=y)
                np.testing.assert_array_equal(y, y_avg3)
                fd = np.full(n + 32, np.nan, dtype)
                dx = view(fd, off, n, shape)
                for fn, args, want in [
                    (ops.max_pool2d_backward, (dy, idx_g, shape, 2), dx_max),
                    (ops.avg_pool2d_backward, (dy, shape, 2), dx_avg),
                ]:
                    fd[:] = np.nan
                    fn(*args, out=dx)
                    np.testing.assert_array_equal(dx, want)
                    assert np.isnan(fd[:off]).all() and np.isnan(fd[off + n :]).all()
    finally:
        _cpu._pool_stream_bytes(old)
        dg.set_num_threads(nt)


def _line_offset_view(n, dtype, fill, off_bytes):
    """A 1-D view of n elements starting off_bytes past a 64-byte line, in a filled buffer."""
    item = np.dtype(dtype).itemsize
    buf = np.full(n + 64, fill, dtype)
    first = (-buf.ctypes.data % 64 + off_bytes) // item
    return buf, first


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 8, 64, 128), (2, 3, 6, 128)], ids=str)
def test_max_forward_streamed_index_line_offsets(isa, generic, shape, dtype):
    """The streamed 2x2 max forward walks each thread's rows as several pieces where the index
    stream's rows start on cache lines, as one piece where they do not (round 35): both ways,
    at every line offset of y and the indices, on 1 and 2 threads, equal the generic kernels
    and write nothing outside."""
    from deltagrad import _cpu

    x = _data(shape, dtype, 26, "extremes")
    y_g, idx_g = generic(ops.max_pool2d, x, 2, return_indices=True)
    m = y_g.size
    old, nt = _cpu._pool_stream_bytes(0), dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            for y_off, i_off in [(0, 0), (0, 32), (32, 0), (32, 32), (16, 48), (48, 16)]:
                fy, a = _line_offset_view(m, dtype, np.nan, y_off)
                fi, b = _line_offset_view(m, np.int64, -7, i_off)
                y, idx = fy[a : a + m].reshape(y_g.shape), fi[b : b + m].reshape(y_g.shape)
                assert (y.ctypes.data - y_off) % 64 == 0 and (idx.ctypes.data - i_off) % 64 == 0
                ops.max_pool2d(x, 2, return_indices=True, out=y, indices_out=idx)
                np.testing.assert_array_equal(y, y_g)
                np.testing.assert_array_equal(idx, idx_g)
                assert np.isnan(fy[:a]).all() and np.isnan(fy[a + m :]).all()
                assert (fi[:b] == -7).all() and (fi[b + m :] == -7).all()
                ops.max_pool2d(x, 2, out=y)  # without indices: always the pieces
                np.testing.assert_array_equal(y, y_g)
    finally:
        _cpu._pool_stream_bytes(old)
        dg.set_num_threads(nt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("planes", [1, 3, 4, 5, 8, 9, 17])
def test_global_avg_streamed_matches_unstreamed(isa, dtype, planes):
    """A large global average pooling input is read as several streams per thread (each
    thread's planes in pieces summed in lock step): every plane's mean has the bits of the
    one-plane loop, whatever the plane count (pieces, leftovers) and the thread count, and
    matches the float64 reference."""
    from deltagrad import _cpu

    hw = (13, 37)  # 481 elements: a body of whole 4-vector steps, then a tail
    x = _data((1, planes, *hw), dtype, 27, "extremes" if planes == 9 else "normal")
    old, nt = _cpu._pool_stream_bytes(1 << 62), dg.get_num_threads()
    try:
        want = ops.adaptive_avg_pool2d(x, 1)
        _cpu._pool_stream_bytes(0)
        for threads in (1, 2):
            dg.set_num_threads(threads)
            np.testing.assert_array_equal(ops.adaptive_avg_pool2d(x, 1), want)
    finally:
        _cpu._pool_stream_bytes(old)
        dg.set_num_threads(nt)
    with np.errstate(invalid="ignore", over="ignore"):
        ref_y = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(want, ref_y, rtol=tol, atol=tol)


def test_fast_max_2x2_bad_indices_counted_streamed(isa):
    from deltagrad import _cpu

    x = _data((1, 2, 4, 128), np.float32, 26)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    old = _cpu._pool_stream_bytes(0)
    try:
        for shift in (2, -2, 128 * 2, 1 << 40, -(1 << 40)):  # each leaves the window
            bad = idx.copy()
            bad[0, 1, 1, 20] += shift
            with pytest.raises(ValueError, match="^max_pool2d_backward: indices: 1 indices"):
                ops.max_pool2d_backward(y, bad, x.shape, 2)
    finally:
        _cpu._pool_stream_bytes(old)


# ---- the training path's window codes (max_pool2d_train): 1 byte an output for the 2x2/2
# layer where the fast path exists, torch's int64 indices elsewhere; checked against the
# generic kernels' indices (the oracle) and their backward, bit for bit


def _codes_as_indices(codes, w):
    """The flat H*W index each window code names: row 2r + code // 2, column 2o + code % 2."""
    oh, ow = codes.shape[-2:]
    r = np.arange(oh)[:, None]
    o = np.arange(ow)[None, :]
    c = codes.astype(np.int64)
    return (2 * r + c // 2) * w + 2 * o + c % 2


def _expect_codes(isa):
    from deltagrad import _cpu

    return (isa or _cpu.active_isa()) != "generic"


TRAIN_CASES = [(s, 2, None, 0, 1, False) for s in FAST_SHAPES] + [
    ((2, 3, 7, 9), 2, 2, 0, 1, True),  # ceil_mode: a partial window, indices
    ((2, 3, 8, 8), 3, 2, 1, 1, False),  # not 2x2: indices
    ((1, 2, 9, 11), 2, 1, 0, 1, False),  # stride 1: indices
]


@pytest.mark.parametrize("stream", [False, True], ids=["cached", "streamed"])
@pytest.mark.parametrize("kind", ["normal", "ties", "extremes"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TRAIN_CASES, ids=str)
def test_max_pool2d_train_matches_indices(isa, generic, case, dtype, kind, stream):
    from deltagrad import _cpu

    shape, k, s, p, d, c = case
    x = _data(shape, dtype, 31, kind)
    y_g, idx_g = generic(ops.max_pool2d, x, k, s, p, d, c, return_indices=True)
    dy = _data(y_g.shape, dtype, 32)
    dx_g = generic(ops.max_pool2d_backward, dy, idx_g, shape, k, s, p, d, c)
    old = _cpu._pool_stream_bytes(0 if stream else 1 << 62)
    try:
        y, saved = ops.max_pool2d_train(x, k, s, p, d, c)
        dx = ops.max_pool2d_train_backward(dy, saved, shape, k, s, p, d, c)
    finally:
        _cpu._pool_stream_bytes(old)
    np.testing.assert_array_equal(y, y_g)
    coded = k == 2 and s is None and _expect_codes(isa)
    assert saved.dtype == (np.uint8 if coded else np.int64)
    assert saved.shape == y.shape and saved.flags.c_contiguous
    idx = _codes_as_indices(saved, shape[3]) if coded else saved
    np.testing.assert_array_equal(idx, idx_g)
    if coded and saved.size:
        assert saved.max() <= 3 and saved.ctypes.data % 64 == 0
    np.testing.assert_array_equal(dx, dx_g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DIRECT_SHAPES, ids=str)
def test_max_pool2d_train_streamed_any_alignment(isa, generic, shape, dtype):
    """Preallocated y, codes and dx at element offsets from a vector and a line (the streamed
    direct paths, 1 and 2 threads): every element equal to the generic kernels', nothing
    outside written."""
    from deltagrad import _cpu

    if not _expect_codes(isa):
        pytest.skip("no window codes on the generic kernels")
    x = _data(shape, dtype, 33, "extremes")
    y_g, idx_g = generic(ops.max_pool2d, x, 2, return_indices=True)
    dy = _data(y_g.shape, dtype, 34)
    dx_g = generic(ops.max_pool2d_backward, dy, idx_g, shape, 2)
    n, m = x.size, y_g.size
    old, nt = _cpu._pool_stream_bytes(0), dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            for off in (0, 1, 3, 8, 13, 64):
                fy = np.full(m + 80, np.nan, dtype)
                fc = np.full(m + 80, 77, np.uint8)
                fd = np.full(n + 80, np.nan, dtype)
                y = fy[off : off + m].reshape(y_g.shape)
                codes = fc[off : off + m].reshape(y_g.shape)
                dx = fd[off : off + n].reshape(shape)
                r = ops.max_pool2d_train(x, 2, out=y, saved_out=codes)
                assert r[0] is y and r[1] is codes
                np.testing.assert_array_equal(y, y_g)
                np.testing.assert_array_equal(_codes_as_indices(codes, shape[3]), idx_g)
                assert (fc[:off] == 77).all() and (fc[off + m :] == 77).all()
                assert np.isnan(fy[:off]).all() and np.isnan(fy[off + m :]).all()
                ops.max_pool2d_train_backward(dy, codes, shape, 2, out=dx)
                np.testing.assert_array_equal(dx, dx_g)
                assert np.isnan(fd[:off]).all() and np.isnan(fd[off + n :]).all()
    finally:
        _cpu._pool_stream_bytes(old)
        dg.set_num_threads(nt)


def test_max_pool2d_train_codes_across_isa_change(generic):
    """Codes saved by the AVX2 forward, the backward run on the generic kernels (DG_CPU_ISA
    changed between them, or the fast paths off): converted to indices, the same dx."""
    from deltagrad import _cpu

    if _cpu.detected_isa() == "generic":
        pytest.skip("no window codes on this CPU")
    old = _cpu.active_isa()
    _cpu.set_active_isa(_cpu.detected_isa())  # the codes of a SIMD forward, whatever DG_CPU_ISA
    try:
        x = _data((2, 3, 9, 37), np.float32, 35, "extremes")
        y, codes = ops.max_pool2d_train(x, 2)
        assert codes.dtype == np.uint8
        dy = _data(y.shape, np.float32, 36)
        want = ops.max_pool2d_train_backward(dy, codes, x.shape, 2)
        np.testing.assert_array_equal(
            generic(ops.max_pool2d_train_backward, dy, codes, x.shape, 2), want
        )
        _cpu.set_active_isa("generic")
        np.testing.assert_array_equal(ops.max_pool2d_train_backward(dy, codes, x.shape, 2), want)
        assert ops.max_pool2d_train(x, 2)[1].dtype == np.int64
    finally:
        _cpu.set_active_isa(old)


def test_max_pool2d_train_bad_input():
    from deltagrad import _cpu

    x = _data((2, 3, 6, 18), np.float32, 37)
    y, saved = ops.max_pool2d_train(x, 2)
    if saved.dtype == np.uint8:
        for isa in ("generic", _cpu.active_isa()):  # the fast path and the conversion
            old = _cpu.active_isa()
            _cpu.set_active_isa(isa)
            try:
                for at in ((0, 0, 0, 0), (1, 2, 2, 8)):  # a vector's lane, a row's tail
                    bad = saved.copy()
                    bad[at] = 4
                    with pytest.raises(ValueError, match="^max_pool2d_train_backward: saved: 1 "):
                        ops.max_pool2d_train_backward(y, bad, x.shape, 2)
            finally:
                _cpu.set_active_isa(old)
        with pytest.raises(ValueError, match="only for 2x2 windows"):
            ops.max_pool2d_train_backward(y, saved, x.shape, 2, 2, 1)  # padding
        with pytest.raises(ValueError, match="only for 2x2 windows"):
            ops.max_pool2d_train_backward(y[..., :-1], saved[..., :-1], (2, 3, 6, 17), 3, 2, 1)
        with pytest.raises(ValueError, match="saved"):
            ops.max_pool2d_train_backward(y, saved[:, :, :, :-1], x.shape, 2)
        with pytest.raises(ValueError, match="only for 2x2 windows"):
            ops.max_pool2d_train(x, 3, 2, 1, saved_out=np.empty((2, 3, 3, 9), np.uint8))
    with pytest.raises(TypeError, match="saved: expected the uint8 window codes or int64"):
        ops.max_pool2d_train_backward(y, saved.astype(np.int32), x.shape, 2)
    with pytest.raises(TypeError, match="saved_out: expected dtype uint8"):
        ops.max_pool2d_train(x, 2, saved_out=np.empty(y.shape, np.float32))
    with pytest.raises(ValueError, match="saved_out"):
        ops.max_pool2d_train(x, 2, saved_out=np.empty((2, 3, 3, 8), np.uint8))
    with pytest.raises(ValueError, match="saved_out: expected memory disjoint"):
        ops.max_pool2d_train(
            x, 2, saved_out=x.view(np.uint8).reshape(-1)[: y.size].reshape(y.shape)
        )
    y2, idx = ops.max_pool2d_train(x, 2, saved_out=np.empty(y.shape, np.int64))  # indices asked
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(idx, ops.max_pool2d(x, 2, return_indices=True)[1])


def test_max_pool2d_training_saves_codes():
    """F.max_pool2d under autograd saves the codes (1 byte an output), return_indices the int64
    indices; both give torch's gradient (test_parity_pool: every geometry)."""
    x = dg.tensor(_data((2, 3, 8, 10), np.float64, 38, "ties"), requires_grad=True)
    y = F.max_pool2d(x, 2)
    (y * dg.tensor(_data(y.shape, np.float64, 39))).sum().backward()
    g1 = x.grad.copy()
    x.grad = None
    y2, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == np.int64
    (y2 * dg.tensor(_data(y.shape, np.float64, 39))).sum().backward()
    np.testing.assert_array_equal(x.grad, g1)
    dy = _data(y.shape, np.float64, 39)
    np.testing.assert_array_equal(g1, ops.max_pool2d_backward(dy, idx.data, x.shape, 2))
