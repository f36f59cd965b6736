"""sum / mean over axes (keepdims) and sum_to_shape (the gradient of broadcasting) against
deltagrad.reference, on every device (cpu on every ISA, the SIMT emulator on small shapes, cuda)
and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, GPU_RTOL, RTOL, assert_close, call_on, sample

CASES = [
    ((0,), None),
    ((1,), None),
    ((7,), 0),
    ((300001,), None),
    ((3, 4), 0),
    ((3, 4), 1),
    ((3, 4), (0, 1)),
    ((2, 3, 5), 1),
    ((2, 3, 5), (0, 2)),
    ((2, 3, 5), -1),
    ((4, 0, 3), 1),
    ((4, 0, 3), 0),
    ((5, 6, 7, 8), (1, 2)),
    ((5, 6, 7, 8), (0, 3)),
    ((1000, 300), 0),
    ((300, 1000), 1),
    ((2, 3), ()),
]
BIG = ((300001,), (1000, 300), (300, 1000))  # too slow for the emulator
CASES_BY_DEVICE = {"cpu": CASES, "simt": [c for c in CASES if c[0] not in BIG]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.per_device("shape,axis", CASES_BY_DEVICE)
def test_reduce(device, isa, shape, axis, op, keepdims, dtype, rng):
    x = sample(rng, shape, dtype)
    got = call_on(device, getattr(ops, op), x, axis=axis, keepdims=keepdims)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = getattr(ref, op)(x, axis=axis, keepdims=keepdims)
        mag = np.sum(np.abs(x.astype(np.float64)), axis=axis, keepdims=keepdims)
        if op == "mean":
            mag = mag / max(1, x.size // max(1, np.asarray(want).size))
    assert_close(got, want, dtype, atol=RTOL[dtype] * np.nan_to_num(mag) * 2, name=op)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "gshape,shape",
    [
        ((3, 4), (3, 4)),
        ((3, 4), (4,)),
        ((3, 4), (1, 4)),
        ((3, 4), (3, 1)),
        ((3, 4), ()),
        ((2, 3, 4), (3, 1)),
        ((2, 3, 4), (1, 1, 4)),
        ((5, 1, 6), (1, 6)),
        ((0, 4), (4,)),
    ],
)
def test_sum_to_shape(device, isa, gshape, shape, dtype, rng):
    g = sample(rng, gshape, dtype)
    got = call_on(device, ops.sum_to_shape, g, shape)
    assert got.shape == shape
    mag = np.abs(ref.sum_to_shape(np.abs(g.astype(np.float64)), shape))
    assert_close(got, ref.sum_to_shape(g, shape), dtype, atol=RTOL[dtype] * mag * 2)


def test_reduce_bad_inputs():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="axis: 2 is out of bounds"):
        ops.sum(x, axis=2)
    with pytest.raises(ValueError, match="repeated"):
        ops.sum(x, axis=(0, 0))
    with pytest.raises(ValueError, match="does not broadcast"):
        ops.sum_to_shape(x, (2,))
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64"):
        ops.sum(np.zeros(3, np.int64))


# ---- the GPU tolerance: row and column kernels, two-pass long rows ----------------------------


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_mean_3d(device, rng, axis, keepdims, dtype):
    x = _randn(rng, (5, 37, 3), dtype)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    got = call_on(device, ops.sum, x, axis=axis, keepdims=keepdims)
    assert_close(got, ref.sum(x, axis=axis, keepdims=keepdims), dtype, scale=100, name="sum", **kw)
    got = call_on(device, ops.mean, x, axis=axis, keepdims=keepdims)
    want = ref.mean(x, axis=axis, keepdims=keepdims)
    assert_close(got, want, dtype, scale=10, name="mean", **kw)


@pytest.mark.parametrize("shape", [(37, 70), (1000, 3), (3, 5, 65), (1, 33)])
def test_sum_columns(device, rng, shape):
    # The column kernel: several 32-column tiles, partial last tile, rows not a multiple of 8.
    x = _randn(rng, shape, np.float64)
    got = call_on(device, ops.sum, x, axis=-2)
    assert_close(got, ref.sum(x, axis=-2), np.float64, rtol=GPU_RTOL, scale=1000, equal_nan=False)


@pytest.mark.parametrize("shape,axis", [((20001,), None), ((3, 9000), 1), ((2, 50, 90), None)])
def test_sum_two_pass_long_rows(device, rng, shape, axis):
    x = _randn(rng, shape, np.float64)
    kw = dict(rtol=GPU_RTOL, scale=1e4, equal_nan=False)
    assert_close(call_on(device, ops.sum, x, axis=axis), ref.sum(x, axis=axis), np.float64, **kw)
    got = call_on(device, ops.mean, x, axis=axis)
    assert_close(got, ref.mean(x, axis=axis), np.float64, **kw)


def test_sum_large_row_and_empty(device, rng):
    x = _randn(rng, (3, 1000), np.float32)
    got = call_on(device, ops.sum, x, axis=1)
    want = x.astype(np.float64).sum(1)
    assert_close(got, want, np.float32, rtol=GPU_RTOL, scale=1000, equal_nan=False)
    assert call_on(device, ops.sum, np.zeros((0, 3), np.float32)) == 0.0
    np.testing.assert_array_equal(call_on(device, ops.sum, np.zeros((0, 3)), axis=0), [0.0] * 3)
    with pytest.raises(ValueError, match="out of bounds"):
        call_on(device, ops.sum, x, axis=2)


@pytest.mark.parametrize("shape", [(7,), (1, 7), (4, 1), (1, 1), (3, 4, 7), (4, 7)])
def test_sum_to_shape_3d(device, rng, shape):
    g = _randn(rng, (3, 4, 7), np.float64)
    got = call_on(device, ops.sum_to_shape, g, shape)
    want = ref.sum_to_shape(g, shape)
    assert_close(got, want, np.float64, rtol=GPU_RTOL, scale=100, equal_nan=False)
