"""dg.ops.index_add (csrc/cpu/reduce.h, index_add_t): the scattered sum of rows, compared with
its NumPy float64 reference (np.add.at) and bit for bit with np.add.at in the array's own
dtype (the kernel adds each destination's rows in increasing j, as np.add.at), on 1 and 2
threads."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import reference

DTYPES = [np.float32, np.float64]


def _case(rng, shape, dim, m, n_dest=None, dtype=np.float64, spread=None):
    shape = list(shape)
    n = shape[dim] if n_dest is None else n_dest
    shape[dim] = n
    x = rng.standard_normal(shape).astype(dtype)
    src_shape = list(shape)
    src_shape[dim] = m
    src = rng.standard_normal(src_shape).astype(dtype)
    hi = n if spread is None else min(n, spread)
    idx = rng.integers(0, hi, m) if n else np.zeros(0, np.int64)
    return x, idx, src


def _numpy_at(x, dim, idx, src):
    out = x.copy()
    np.add.at(out, (slice(None),) * dim + (idx,), src)
    return out


SHAPES = [
    ((7,), 0, 5),
    ((1,), 0, 1),
    ((5, 3), 0, 11),
    ((5, 3), 1, 4),
    ((3, 17, 9), 1, 40),
    ((2, 3, 33), 2, 50),
    ((4, 6, 1), 0, 3),
    ((1000, 64), 0, 3000),  # parallel: destination ranges (outer 1)
    ((1000, 1), 0, 70000),  # parallel, inner 1
    ((9, 300, 31), 1, 700),  # parallel: outer slices
    ((2, 500, 40), 1, 2000),  # parallel: outer 2 < 4 threads: (slice, range) tasks
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim,m", SHAPES)
def test_index_add_matches_add_at(shape, dim, m, dtype):
    rng = np.random.default_rng(hash((shape, dim, m)) % 2**32)
    x, idx, src = _case(rng, shape, dim, m, dtype=dtype)
    want = _numpy_at(x, dim, idx, src)
    ref = reference.index_add(x, dim, idx, src)
    for threads in (1, 2):
        dg.set_num_threads(threads)
        try:
            got = dg.ops.index_add(x, dim, idx, src)
        finally:
            dg.set_num_threads(2)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, want)  # np.add.at's own rounding, bit for bit
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add_many_rows_to_few(dtype):
    """Every row into 3 destinations (a padding index): one thread's range does it all."""
    rng = np.random.default_rng(5)
    x, idx, src = _case(rng, (200, 48), 0, 20000, dtype=dtype, spread=3)
    np.testing.assert_array_equal(dg.ops.index_add(x, 0, idx, src), _numpy_at(x, 0, idx, src))


def test_index_add_extremes_and_negative_dim():
    x = np.zeros((4, 3))
    src = np.array([[np.inf, -np.inf, np.nan], [1e308, 1e308, -0.0], [-np.inf, 1.0, 2.0]])
    idx = np.array([2, 2, 0])
    np.testing.assert_array_equal(dg.ops.index_add(x, -2, idx, src), _numpy_at(x, 0, idx, src))
    tiny = np.full((2, 2), 5e-324)
    np.testing.assert_array_equal(
        dg.ops.index_add(np.zeros((1, 2)), 0, np.array([0, 0]), tiny), np.full((1, 2), 1e-323)
    )


def test_index_add_empty():
    x = np.ones((3, 0, 2), np.float32)
    got = dg.ops.index_add(x, 1, np.zeros(0, np.int64), np.ones((3, 0, 2), np.float32))
    assert got.shape == (3, 0, 2)
    x = np.ones((4, 2), np.float32)
    got = dg.ops.index_add(x, 0, np.zeros(0, np.int64), np.ones((0, 2), np.float32))
    np.testing.assert_array_equal(got, x)
    assert got is not x


def test_index_add_out_in_place_and_views():
    rng = np.random.default_rng(1)
    x, idx, src = _case(rng, (6, 5), 0, 9)
    want = _numpy_at(x, 0, idx, src)
    y = x.copy()
    assert dg.ops.index_add(y, 0, idx, src, out=y) is y
    np.testing.assert_array_equal(y, want)
    out = np.empty_like(x)
    assert dg.ops.index_add(x, 0, idx, src, out=out) is out
    np.testing.assert_array_equal(out, want)
    # a transposed source and a list index are taken (copied explicitly)
    got = dg.ops.index_add(x, 0, list(idx), np.ascontiguousarray(src.T).T)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="index_add: out: in place"):
        xt = x.T
        dg.ops.index_add(xt, 1, idx, src.T, out=xt)


def test_index_add_bad_input():
    x = np.zeros((4, 3), np.float32)
    src = np.ones((2, 3), np.float32)
    with pytest.raises(IndexError, match="index_add: index: 4 is out of range"):
        dg.ops.index_add(x, 0, np.array([0, 4]), src)
    with pytest.raises(IndexError, match="index_add: index: -1"):
        dg.ops.index_add(x, 0, np.array([-1, 0]), src)
    with pytest.raises(TypeError, match="index_add: index: expected a 1-D integer"):
        dg.ops.index_add(x, 0, np.array([0.0, 1.0]), src)
    with pytest.raises(TypeError, match="index_add: index: expected a 1-D integer"):
        dg.ops.index_add(x, 0, np.zeros((1, 2), np.int64), src)
    with pytest.raises(TypeError, match="index_add"):
        dg.ops.index_add(x, 0, np.array([0, 1]), src.astype(np.float64))
    with pytest.raises(ValueError, match="index_add: source"):
        dg.ops.index_add(x, 0, np.array([0, 1, 2]), src)
    with pytest.raises(ValueError, match="index_add"):
        dg.ops.index_add(x, 2, np.array([0, 1]), src)
    with pytest.raises(ValueError, match="index_add: x: expected at least 1"):
        dg.ops.index_add(np.float32(1.0), 0, np.array([0]), np.ones(1, np.float32))
    with pytest.raises(TypeError, match="index_add: x"):
        dg.ops.index_add(np.zeros((4, 3), np.int64), 0, np.array([0]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="index_add: out"):
        dg.ops.index_add(x, 0, np.array([0, 1]), src, out=np.zeros((4, 4), np.float32))
    y = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="index_add: out: expected an array sharing no memory"):
        dg.ops.index_add(y, 0, np.array([0, 1]), y[:2], out=y)
    ro = np.zeros((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="index_add: out"):
        dg.ops.index_add(ro, 0, np.array([0, 1]), src, out=ro)
