"""sum / mean over axes (keepdims) and sum_to_shape (the gradient of broadcasting) against
deltagrad.reference, on every ISA and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("shape,axis", CASES)
def test_reduce(isa, shape, axis, op, keepdims, dtype, rng):
    x = sample(rng, shape, dtype)
    got = getattr(ops, op)(x, axis=axis, keepdims=keepdims)
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
def test_sum_to_shape(isa, gshape, shape, dtype, rng):
    g = sample(rng, gshape, dtype)
    got = ops.sum_to_shape(g, shape)
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
