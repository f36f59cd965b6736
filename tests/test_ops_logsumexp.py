"""dg.ops.logsumexp / logsumexp_backward (csrc/cpu/softmax.h, logsumexp_row): log(sum(exp(x)))
over the last axis and its one-pass backward, against the float64 reference on random data,
odd and empty sizes, non-finite rows, both dtypes, 1 and 2 threads, and bad input."""

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
