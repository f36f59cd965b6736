"""dg.ops.sum over leading axes (csrc/cpu/reduce.h, reduce_sum_t with inner > 1): the rows
stream through a block of double accumulators, each element summing its rows in order, so a
sum over axis 0 has the bits of the float64 running sum (np.add.accumulate of x in float64)
rounded to the dtype once, on 1 and 2 threads, for inner sizes around the block and vector
widths, and many rows (the shapes whose rows span more pages than the TLB maps). A float32
running total would stop growing at 2^24 (review, round 40)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops

SHAPES = [
    (3, 2),
    (5, 7),
    (257, 33),
    (64, 4095),
    (9, 4097),  # more than a 16 KiB float32 block: two blocks
    (2, 20001),
    (4096, 1000),
    (100000, 3),
    (0, 5),
    (1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_sum_over_rows_adds_them_in_order_in_double(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype) * rng.choice([1, 1e4], shape).astype(dtype)
    before = dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got = ops.sum(x, axis=0)
            total = np.add.accumulate(x.astype(np.float64), axis=0)[-1] if shape[0] else 0.0
            want = np.asarray(total + np.zeros(shape[1:]), dtype)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want)
            if shape[0]:  # the rounded sums divided by the row count, as torch's mean
                np.testing.assert_array_equal(ops.mean(x, axis=0), want / dtype(shape[0]))
    finally:
        dg.set_num_threads(before)


def test_middle_axis_many_slices():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 700, 333)).astype(np.float32)
    want = x.astype(np.float64).sum(1)
    got = ops.sum(x, axis=1)
    assert got.dtype == np.float32 and got.shape == (6, 333)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


PERMUTED = [
    ((4096, 64), (1, 0), -1),
    ((64, 300), (1, 0), 0),
    ((7, 5), (1, 0), None),
    ((3, 4, 5, 6), (2, 0, 3, 1), (1, 3)),
    ((3, 4, 5, 6), (2, 0, 3, 1), 2),
    ((3, 4, 5, 6), (3, 2, 1, 0), (0, 1, 2, 3)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,perm,axis", PERMUTED)
def test_permuted_input_reduces_in_memory_order(shape, perm, axis, keepdims):
    """A transposed / permuted array is reduced over its buffer with the axes mapped (no C
    copy first): numpy's shapes, the dtype kept, the float64 values to rounding."""
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(np.float32).transpose(perm)
    for fn, ref in ((ops.sum, np.sum), (ops.mean, np.mean)):
        got = fn(x, axis=axis, keepdims=keepdims)
        want = ref(x.astype(np.float64), axis=axis, keepdims=keepdims)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_float32_sum_over_rows_past_two_to_the_24():
    """A float32 running total stops at 2^24 (2^24 + 1 rounds back to 2^24): the sum over
    rows, the transposed sum (reduced in memory order) and the mean keep a double total."""
    x = np.ones((1000, 2), np.float32)
    x[0] = 2.0**24
    exact = np.float32(2.0**24 + 999)
    np.testing.assert_array_equal(ops.sum(x, axis=0), [exact, exact])
    np.testing.assert_array_equal(ops.sum(x.T, axis=1), [exact, exact])
    np.testing.assert_array_equal(dg.tensor(x).t().sum(1).numpy(), [exact, exact])
    np.testing.assert_allclose(ops.mean(x.T, axis=-1), [(2.0**24 + 999) / 1000] * 2, rtol=2e-7)
    y = np.ones(((1 << 24) + 4096, 2), np.float32)  # 2^24 + 4096 rows of ones: 128 MiB
    np.testing.assert_array_equal(ops.sum(y, axis=0), [float(y.shape[0])] * 2)
    np.testing.assert_allclose(ops.mean(y.T, axis=1), [1.0, 1.0], rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_long_sum_does_not_depend_on_threads(dtype):
    """outer == 1, inner == 1: the chunks' totals are added in order, not by an OpenMP
    reduction (whose order follows the team: 1 and 2 threads differed in the last bits)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(300_001) * rng.choice([1, 1e6], 300_001)).astype(dtype)
    before = dg.get_num_threads()
    try:
        got = []
        for threads in (1, 2, 3):
            dg.set_num_threads(threads)
            got.append(ops.sum(x))
        assert got[0] == got[1] == got[2]
        np.testing.assert_allclose(
            got[0], x.astype(np.float64).sum(), rtol=1e-6 if dtype == np.float32 else 1e-12
        )
    finally:
        dg.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_fallback_paths_refuse_out_of_range_indices(dtype):
    """The np.<ufunc>.at fallbacks (integer outs, a dtype mismatch, a strided out) raise the
    kernels' IndexError instead of wrapping a negative index (review, round 40)."""
    out = np.zeros((2, 3), dtype)
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter_reduce_(out, 1, np.array([[-1], [-3]]), np.array([[7], [9]], np.int64), "sum")
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter_reduce_(out, 1, np.array([[3], [0]]), np.array([[7], [9]], np.int64), "amax")
    strided = np.zeros((3, 2), np.float32).T
    with pytest.raises(IndexError, match="out of range"):
        ops.index_reduce_(strided, 1, np.array([-1]), np.full((2, 1), 5, np.float32), "amax")
    with pytest.raises(IndexError, match="out of range"):
        ops.index_add_(strided, 1, np.array([3]), np.full((2, 1), 5, np.float32))
    assert not strided.any() and not out.any()
    # in range, the fallbacks still agree with np.<ufunc>.at
    got = ops.scatter_reduce_(out, 1, np.array([[2], [0]]), np.array([[7], [9]], np.int64), "sum")
    np.testing.assert_array_equal(got, [[0, 0, 7], [9, 0, 0]])
