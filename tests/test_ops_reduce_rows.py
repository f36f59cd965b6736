"""dg.ops.sum over leading axes (csrc/cpu/reduce.h, reduce_sum_t with inner > 1): the rows
stream through a block of accumulators, each element summing its rows in order, so a float32
sum over axis 0 has the bits of np.add.accumulate's last row (the rows added in order) on
1 and 2 threads, for inner sizes around the block and vector widths, and many rows (the shapes whose
rows span more pages than the TLB maps)."""

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
def test_sum_over_rows_adds_them_in_order(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype) * rng.choice([1, 1e4], shape).astype(dtype)
    before = dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got = ops.sum(x, axis=0)
            want = np.add.accumulate(x, axis=0)[-1] if shape[0] else x.sum(0)
            np.testing.assert_array_equal(got, want)
            if shape[0]:  # the same sums times 1 / rows, rounded to the dtype
                np.testing.assert_array_equal(ops.mean(x, axis=0), want * dtype(1 / shape[0]))
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
