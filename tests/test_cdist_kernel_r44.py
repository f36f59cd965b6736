"""The cdist p = 1 kernels (_cpu.cdist_p1_forward / cdist_p1_backward, csrc/cpu/cdist.h)
against a NumPy float64 reference: every ISA, both dtypes, odd sizes (register-block and
vector tails), empty and single rows / columns / features, NaN / inf, ties, bad input, and
the same bits at 1 and 2 threads."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu

# (n, P, R, M): tails of the forward's 4-row x 2-vector blocks and of the backward's k vectors
# (16 float32 / 8 float64 lanes on AVX-512, 8 / 4 on AVX2)
SHAPES = [
    (1, 1, 1, 1),
    (2, 5, 3, 7),
    (3, 9, 33, 17),
    (1, 6, 70, 40),
    (2, 37, 19, 3),
    (1, 4, 32, 16),
    (1, 3, 17, 33),
    (2, 2, 41, 65),
]
EMPTY = [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0), (1, 1, 0, 0)]


def _sign(d):
    """torch's sign: 0 at 0, NaN at NaN (np.sign's)."""
    return np.sign(d)


def _reference(a, c, g):
    a64, c64, g64 = (v.astype(np.float64) for v in (a, c, g))
    with np.errstate(invalid="ignore"):
        diff = a64[:, :, None, :] - c64[:, None, :, :]  # (n, P, R, M)
        dist = np.abs(diff).sum(-1)
        w = g64[..., None] * _sign(diff)
    return dist, w.sum(2), -w.sum(1)


def _check(a, c, g, dtype):
    dist, g1, g2 = _reference(a, c, g)
    got = _cpu.cdist_p1_forward(a, c)
    assert got.dtype == dtype and got.shape == dist.shape
    b1, b2 = _cpu.cdist_p1_backward(g, a, c)
    assert b1.dtype == dtype and b1.shape == a.shape
    assert b2.dtype == dtype and b2.shape == c.shape
    eps = np.finfo(dtype).eps
    M, P, R = a.shape[2], a.shape[1], c.shape[1]
    # forward: a sum of M non-negative terms, each rounded once
    np.testing.assert_allclose(got, dist, rtol=4 * M * eps, atol=0, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(dist))
    # backward: sums of +-g (exact signs), rounded R (P) times
    gs = np.abs(g.astype(np.float64))
    tol1 = 2 * R * eps * gs.sum(2)[..., None] + 1e-300
    tol2 = 2 * P * eps * gs.sum(1)[..., None] + 1e-300
    for x, want, tol in ((b1, g1, tol1), (b2, g2, tol2)):
        assert np.array_equal(np.isnan(x), np.isnan(want))
        ok = np.isnan(want) | (np.abs(x - want) <= tol)
        assert ok.all(), np.argwhere(~ok)[:5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES + EMPTY)
def test_matches_float64_reference(isa, shape, dtype):
    n, P, R, M = shape
    rng = np.random.default_rng(P * 1000 + R * 10 + M)
    a = rng.standard_normal((n, P, M)).astype(dtype)
    c = rng.standard_normal((n, R, M)).astype(dtype)
    g = rng.standard_normal((n, P, R)).astype(dtype)
    _check(a, c, g, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_nan_inf(isa, dtype):
    """Ties (sign 0), NaN (distance and sign NaN), inf - inf (NaN), inf against a number
    (distance inf, sign +-1), -0.0 against 0.0 (a tie), denormal differences (sign +-1)."""
    rng = np.random.default_rng(7)
    n, P, R, M = 2, 11, 37, 19
    a = rng.integers(-2, 3, (n, P, M)).astype(dtype)
    c = rng.integers(-2, 3, (n, R, M)).astype(dtype)
    a[0, 1, 2] = np.nan
    c[1, 3, 0] = np.inf
    a[1, 4, 0] = np.inf  # inf - inf against c[1, 3, 0]
    a[1, 5, 5] = -np.inf
    a[0, 2, 3] = -0.0
    c[0, :, 3] = 0.0
    tiny = np.finfo(dtype).smallest_subnormal
    a[0, 6, 4] = tiny
    c[0, :, 4] = 0.0
    c[0, 7, 6] = -tiny
    a[0, :, 6] = 0.0
    g = rng.standard_normal((n, P, R)).astype(dtype)
    _check(a, c, g, dtype)
    _, b2 = _cpu.cdist_p1_backward(g, a, c)
    assert b2[0, 7, 6] == pytest.approx(-g[0, :, 7].astype(np.float64).sum(), rel=1e-5)
    b1, _ = _cpu.cdist_p1_backward(g, a, c)
    assert b1[0, 6, 4] == pytest.approx(g[0, 6].astype(np.float64).sum(), rel=1e-5)
    assert b1[0, 2, 3] == 0.0  # -0.0 - 0.0 is a tie against every row


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_or_inf_grad_times_a_tie_is_nan(dtype):
    """g * sign: a NaN / inf incoming gradient makes NaN even where the sign is 0 (as torch's
    grad * sign(diff))."""
    a = np.zeros((1, 2, 3), dtype)
    c = np.zeros((1, 2, 3), dtype)
    g = np.array([[[np.inf, 1.0], [np.nan, 2.0]]], dtype)
    b1, b2 = _cpu.cdist_p1_backward(g, a, c)
    assert np.isnan(b1).all() and np.isnan(b2[0, 0]).all() and (b2[0, 1] == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_at_1_and_2_threads(dtype):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 70, 40)).astype(dtype)
    c = rng.standard_normal((3, 90, 40)).astype(dtype)
    g = rng.standard_normal((3, 70, 90)).astype(dtype)
    before = dg.get_num_threads()
    got = []
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            got.append((_cpu.cdist_p1_forward(a, c), *_cpu.cdist_p1_backward(g, a, c)))
    finally:
        dg.set_num_threads(before)
    for x, y in zip(got[0], got[1], strict=True):
        assert x.tobytes() == y.tobytes()
    _check(a, c, g, dtype)


def test_one_gradient_only():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 5, 6))
    c = rng.standard_normal((2, 7, 6))
    g = rng.standard_normal((2, 5, 7))
    b1, b2 = _cpu.cdist_p1_backward(g, a, c)
    only1 = _cpu.cdist_p1_backward(g, a, c, x2_grad=False)
    only2 = _cpu.cdist_p1_backward(g, a, c, x1_grad=False)
    assert only1[1] is None and only2[0] is None
    np.testing.assert_array_equal(only1[0], b1)
    np.testing.assert_array_equal(only2[1], b2)
    assert _cpu.cdist_p1_backward(g, a, c, False, False) == (None, None)


def test_bad_input_raises():
    a = np.zeros((2, 3, 4), np.float32)
    c = np.zeros((2, 5, 4), np.float32)
    g = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(TypeError, match="cdist_p1_forward: x1: expected a numpy.ndarray"):
        _cpu.cdist_p1_forward([[[1.0]]], c)
    with pytest.raises(TypeError, match="x1: expected dtype float32 or float64"):
        _cpu.cdist_p1_forward(a.astype(np.int32), c)
    with pytest.raises(TypeError, match="x2: expected dtype float32 .the dtype of x1"):
        _cpu.cdist_p1_forward(a, c.astype(np.float64))
    with pytest.raises(ValueError, match="x1: expected a 3-D array"):
        _cpu.cdist_p1_forward(a[0], c)
    with pytest.raises(ValueError, match="x2: expected shape \\(2, R, 4\\)"):
        _cpu.cdist_p1_forward(a, c[:, :, :3].copy())
    with pytest.raises(ValueError, match="x2: expected shape \\(2, R, 4\\)"):
        _cpu.cdist_p1_forward(a, c[:1].copy())
    with pytest.raises(ValueError, match="C-contiguous"):
        _cpu.cdist_p1_forward(a, c[:, ::2])
    with pytest.raises(ValueError, match="grad: expected shape \\(2, 3, 5\\)"):
        _cpu.cdist_p1_backward(g[:, :, :4].copy(), a, c)
    with pytest.raises(TypeError, match="grad: expected dtype float32"):
        _cpu.cdist_p1_backward(g.astype(np.float64), a, c)
    with pytest.raises(ValueError, match="C-contiguous"):
        _cpu.cdist_p1_backward(np.zeros((2, 5, 3), np.float32).transpose(0, 2, 1), a, c)
