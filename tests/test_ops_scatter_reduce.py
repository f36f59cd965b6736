"""dg.ops.scatter_reduce_ (csrc/cpu/reduce.h, scatter_reduce_op): an index per element, reduced
in place with sum / prod / amax / amin, and dg.ops.index_reduce_ (index_reduce_op: a 1-d
index along dim, whole slices), compared bit for bit with np.<ufunc>.at in the array's
own dtype (each destination takes its elements in index order) and with the float64
reference, on 1 and 2 threads; and the Tensor ops built on it (scatter_reduce, index_reduce)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops, reference

REDUCES = ["sum", "prod", "amax", "amin"]
UFUNC = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}

# (out shape, dim, index shape): index no larger than out apart from dim
SHAPES = [
    ((7,), 0, (5,)),
    ((1,), 0, (1,)),
    ((5, 3), 0, (11, 3)),
    ((5, 3), 1, (5, 4)),
    ((5, 3), 1, (2, 7)),  # index smaller than out in the other axis: a block of out
    ((3, 17, 9), 1, (3, 40, 9)),
    ((2, 3, 33), 2, (2, 3, 50)),
    ((4, 6, 1), 0, (3, 6, 1)),
    ((0, 4), 1, (0, 3)),
    ((4, 5), 0, (0, 5)),
    ((1000, 64), 0, (3000, 64)),  # parallel: ranges of columns (outer 1)
    ((9, 300, 31), 1, (9, 700, 31)),  # parallel: outer slices
    ((2, 500, 40), 1, (2, 900, 40)),  # parallel, outer 2: (slice, column range) tasks
]


def _numpy_at(out, dim, idx, src, reduce):
    d = dim % out.ndim
    grids = tuple(
        idx if k == d else np.arange(m).reshape([m if j == k else 1 for j in range(idx.ndim)])
        for k, m in enumerate(idx.shape)
    )
    with np.errstate(all="ignore"):
        UFUNC[reduce].at(out, grids, src[tuple(slice(0, m) for m in idx.shape)])
    return out


def _case(rng, shape, dim, ishape, dtype):
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    src_shape = [max(a, b) for a, b in zip(shape, ishape)]
    src_shape[dim] = ishape[dim] + 1  # src may be larger than index: its leading block is used
    src = rng.uniform(0.5, 1.5, src_shape) * rng.choice([-1, 1], src_shape)
    n = shape[dim]
    idx = rng.integers(0, max(n, 1), ishape) if n else np.zeros(ishape, np.int64)
    return x.astype(dtype), idx, src.astype(dtype)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim,ishape", SHAPES)
def test_matches_ufunc_at_bit_for_bit(shape, dim, ishape, dtype, reduce):
    rng = np.random.default_rng(abs(hash((shape, dim, ishape, reduce))) % 2**32)
    x, idx, src = _case(rng, shape, dim, ishape, dtype)
    want = _numpy_at(x.copy(), dim, idx, src, reduce)
    ref = reference.scatter_reduce_(x.astype(np.float64), dim, idx, src.astype(np.float64), reduce)
    before = dg.get_num_threads()
    for threads in (1, 2):
        dg.set_num_threads(threads)
        try:
            got = x.copy()
            assert ops.scatter_reduce_(got, dim, idx, src, reduce) is got
        finally:
            dg.set_num_threads(before)
        np.testing.assert_array_equal(got, want)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 16)


def test_nan_wins_and_negative_dim_and_strided_out():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    src = np.array([[np.nan, 0.5, 9.0]])
    idx = np.array([[1, 0, 1]])
    for reduce in ("amax", "amin"):
        got = ops.scatter_reduce_(x.copy(), -2, idx, src, reduce)
        np.testing.assert_array_equal(got, _numpy_at(x.copy(), 0, idx, src, reduce))
        assert np.isnan(got[1, 0])
    big = np.arange(24.0).reshape(4, 6)
    view = big[:, ::2]  # not contiguous: through a contiguous copy, written back
    idx = np.array([[0, 1, 2], [3, 3, 3]])
    src = np.ones((2, 3))
    want = _numpy_at(view.copy(), 0, idx, src, "sum")
    ops.scatter_reduce_(view, 0, idx, src, "sum")
    np.testing.assert_array_equal(view, want)
    np.testing.assert_array_equal(big[:, 1::2], np.arange(24.0).reshape(4, 6)[:, 1::2])


def test_misaligned_out_goes_through_a_copy():
    out = np.ndarray((4, 6), np.float64, buffer=bytearray(4 * 6 * 8 + 1), offset=1)
    out[...] = np.arange(24.0).reshape(4, 6)
    assert not out.flags.aligned
    idx = np.array([[0, 1, 2, 3, 0, 1], [0, 0, 0, 0, 0, 0]])
    src = np.linspace(1, 2, 12).reshape(2, 6)
    want = _numpy_at(np.array(out), 0, idx, src, "prod")
    assert ops.scatter_reduce_(out, 0, idx, src, "prod") is out
    np.testing.assert_array_equal(out, want)


def test_other_dtypes_take_ufunc_at():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    idx = np.array([[1, 1, 0]])
    src = np.array([[7, 8, 9]], np.int32)
    got = ops.scatter_reduce_(x.copy(), 0, idx, src, "amax")
    np.testing.assert_array_equal(got, _numpy_at(x.copy(), 0, idx, src, "amax"))


def test_bad_input():
    x = np.zeros((3, 4))
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter_reduce_(x, 0, np.array([[3, 0, 0, 0]]), np.ones((1, 4)), "sum")
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter_reduce_(x, 0, np.array([[-1, 0, 0, 0]]), np.ones((1, 4)), "sum")
    with pytest.raises(ValueError, match="reduce"):
        ops.scatter_reduce_(x, 0, np.zeros((1, 4), np.int64), np.ones((1, 4)), "mean")
    with pytest.raises(TypeError, match="index"):
        ops.scatter_reduce_(x, 0, np.zeros(4, np.int64), np.ones(4), "sum")
    with pytest.raises(ValueError, match="src"):
        ops.scatter_reduce_(x, 0, np.zeros((2, 4), np.int64), np.ones((1, 4)), "sum")
    with pytest.raises(ValueError, match="index"):
        ops.scatter_reduce_(x, 0, np.zeros((1, 5), np.int64), np.ones((1, 5)), "sum")
    with pytest.raises(ValueError, match="sharing no memory"):
        from deltagrad import _cpu

        _cpu.scatter_reduce_(x, 0, np.zeros((1, 4), np.int64), x[:1], "sum")


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_tensor_scatter_reduce_large_matches_torch(reduce, include_self):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.5, (300, 33))
    src = rng.uniform(0.5, 1.5, (1100, 33))  # torch's backward needs src of index's shape
    idx = rng.integers(0, 300, (1100, 33))
    g = rng.standard_normal((300, 33))
    a, s = dg.tensor(x, requires_grad=True), dg.tensor(src, requires_grad=True)
    out = a.scatter_reduce(0, dg.tensor(idx), s, reduce, include_self=include_self)
    (out * dg.tensor(g)).sum().backward()
    ta = torch.tensor(x, requires_grad=True)
    ts = torch.tensor(src, requires_grad=True)
    tout = ta.scatter_reduce(0, torch.tensor(idx), ts, reduce, include_self=include_self)
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-10, atol=1e-12)


INDEX_SHAPES = [
    ((7,), 0, 5),
    ((1,), 0, 1),
    ((5, 3), 0, 11),
    ((5, 3), 1, 4),
    ((3, 17, 9), 1, 40),
    ((4, 6, 1), 0, 3),
    ((4, 5), 0, 0),
    ((1000, 64), 0, 3000),  # parallel: destination ranges (outer 1)
    ((1000, 1), 0, 70000),  # parallel, inner 1
    ((9, 300, 31), 1, 700),  # parallel: outer slices
]


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim,m", INDEX_SHAPES)
def test_index_reduce_matches_ufunc_at_bit_for_bit(shape, dim, m, dtype, reduce):
    rng = np.random.default_rng(abs(hash((shape, dim, m, reduce))) % 2**32)
    x = (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    src_shape = list(shape)
    src_shape[dim] = m
    src = (rng.uniform(0.5, 1.5, src_shape) * rng.choice([-1, 1], src_shape)).astype(dtype)
    idx = rng.integers(0, shape[dim], m)
    want = x.copy()
    with np.errstate(all="ignore"):
        UFUNC[reduce].at(want, (slice(None),) * dim + (idx,), src)
    before = dg.get_num_threads()
    for threads in (1, 2):
        dg.set_num_threads(threads)
        try:
            got = x.copy()
            assert ops.index_reduce_(got, dim, idx, src, reduce) is got
        finally:
            dg.set_num_threads(before)
        np.testing.assert_array_equal(got, want)
    ref = reference.index_reduce_(x.astype(np.float64), dim, idx, src.astype(np.float64), reduce)
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_index_reduce_other_layouts_and_errors():
    x = np.arange(12.0).reshape(3, 4)
    view = np.asfortranarray(x)  # not C-contiguous: np.<ufunc>.at, the same result
    idx, src = np.array([2, 0, 2]), np.full((3, 4), 5.0)
    want = x.copy()
    np.maximum.at(want, idx, src)
    np.testing.assert_array_equal(ops.index_reduce_(view, 0, idx, src, "amax"), want)
    with pytest.raises(IndexError, match="out of range"):
        ops.index_reduce_(x.copy(), 0, np.array([3]), np.ones((1, 4)), "prod")
    with pytest.raises(ValueError, match="reduce"):
        ops.index_reduce_(x.copy(), 0, np.array([0]), np.ones((1, 4)), "mean")
    with pytest.raises(TypeError, match="index"):
        ops.index_reduce_(x.copy(), 0, np.zeros((1, 1), np.int64), np.ones((1, 4)), "prod")


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_tensor_index_reduce_matches_torch(reduce, include_self):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 1.5, (40, 7, 3))
    src = rng.uniform(0.5, 1.5, (40, 90, 3))
    idx = rng.integers(0, 7, 90)
    g = rng.standard_normal((40, 7, 3))
    a, s = dg.tensor(x, requires_grad=True), dg.tensor(src, requires_grad=True)
    out = a.index_reduce(1, dg.tensor(idx), s, reduce, include_self=include_self)
    (out * dg.tensor(g)).sum().backward()
    ta = torch.tensor(x, requires_grad=True)
    ts = torch.tensor(src, requires_grad=True)
    tout = ta.index_reduce(1, torch.tensor(idx), ts, reduce, include_self=include_self)
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-10, atol=1e-12)
