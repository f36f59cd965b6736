"""dg.ops.cumsum / cumprod (csrc/cpu/reduce.h, cumulative_t): running sums and products along
an axis, forward and reverse (the adjoint), accumulated in double as torch's CPU kernels. The
float64 reference does the same additions in the same order, so a float32 result is the
reference rounded to float32, bit for bit, and a float64 result is np.cumsum's; on 1 and 2
threads, rows (inner 1, four at a time and the rest) and blocks of columns."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops, reference

SHAPES = [
    ((7,), 0),
    ((1,), 0),
    ((0,), 0),
    ((5, 0), 1),
    ((6, 9), 1),  # rows: four at a time, then two
    ((6, 9), 0),
    ((3, 17, 9), 1),
    ((256, 4096), 1),  # parallel rows
    ((4096, 300), 0),  # parallel column blocks, outer 1
    ((2, 300, 1500), 1),  # outer 2, blocks of columns
    ((3, 1, 4), 1),
]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("prod", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", SHAPES)
def test_matches_the_double_reference_bit_for_bit(shape, axis, dtype, prod, reverse):
    rng = np.random.default_rng(sum(shape) + axis)
    # products near 1 (no overflow over 4096 terms), sums of both signs
    x = (rng.uniform(0.999, 1.001, shape) if prod else rng.standard_normal(shape)).astype(dtype)
    fn, ref = (ops.cumprod, reference.cumprod) if prod else (ops.cumsum, reference.cumsum)
    want = ref(x, axis, reverse=reverse).astype(dtype)
    before = dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got = fn(x, axis, reverse=reverse)
            assert got.dtype == dtype and got.shape == x.shape
            np.testing.assert_array_equal(got, want)
    finally:
        dg.set_num_threads(before)


def test_special_values_and_other_dtypes_and_layouts():
    x = np.array([[1.0, np.inf, -np.inf, 2.0], [np.nan, 1.0, 0.0, -0.0]], np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf, inf * 0: NaN, as numpy's
        np.testing.assert_array_equal(ops.cumsum(x, 1), np.cumsum(x.astype(np.float64), 1))
        np.testing.assert_array_equal(ops.cumprod(x, 1), np.cumprod(x.astype(np.float64), 1))
    big = np.full(3, 3e38, np.float32)  # the double accumulator: inf only when rounded
    np.testing.assert_array_equal(ops.cumsum(big, 0), np.float32([3e38, np.inf, np.inf]))
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(ops.cumsum(ints, 0), np.cumsum(ints, 0))
    np.testing.assert_array_equal(
        ops.cumprod(ints, 1, reverse=True), [[0, 6, 6, 3], [840, 210, 42, 7], [7920, 990, 110, 11]]
    )
    view = np.arange(24.0).reshape(4, 6)[:, ::2]  # strided: copied in
    np.testing.assert_array_equal(ops.cumsum(view, -1), np.cumsum(view, -1))
    with pytest.raises(ValueError, match="axis"):
        ops.cumsum(np.ones((2, 3)), 2)


def test_tensor_cumsum_cumprod_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (5, 40)).astype(np.float32)
    a[1, 7] = 0.0  # cumprod's gradient through a zero
    for name in ("cumsum", "cumprod"):
        for d in (0, 1, -1):
            x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            w = rng.standard_normal(a.shape).astype(np.float32)
            y, ty = getattr(x, name)(d), getattr(tx, name)(d)
            (y * dg.tensor(w)).sum().backward()
            (ty * torch.tensor(w)).sum().backward()
            np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6)
            np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
