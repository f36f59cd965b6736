"""grid_sample's channel-wide kernels (round 44, csrc/cpu/sample.h): _cpu.sample_gather,
_cpu.sample_scatter_add and _cpu.sample_dot against a NumPy float64 reference on random taps
(odd sizes, n / c / m / taps of 0 and 1, taps outside the input, inf and NaN in the pixels,
weights and gradients), the SIMD gathers against scalar loads and 1 against 2 threads (the same
bits), the binding's argument checks, and F.grid_sample through them against torch 2.13 (every
mode and padding_mode, 2-D and 3-D)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import _cpu

_DTYPES = [np.float32, np.float64]
_TOL = {np.float64: 1e-12, np.float32: 2e-5}

# (n, c, npix, nt, m): empty batch / channels / outputs / taps, single pixels, vector tails (m
# not a multiple of 8 or 16), channel blocks of 4 and a remainder, bicubic's 16 taps
_SHAPES = [
    (0, 3, 5, 2, 4),
    (2, 0, 5, 2, 4),
    (2, 3, 5, 2, 0),
    (2, 3, 5, 0, 7),
    (1, 1, 1, 1, 1),
    (3, 5, 7, 4, 37),
    (2, 6, 300, 16, 70),
    (1, 9, 11, 8, 33),
    (2, 4, 64, 1, 129),
]


def _taps(r, n, npix, nt, m):
    """Random flat indices, about a quarter outside [0, npix) (npix itself, as grid_sample marks
    a tap outside, and a few other values past either end)."""
    idx = r.integers(-3, npix + 3, (n, nt, m)).astype(np.int64)
    idx[r.random(idx.shape) < 0.2] = npix
    return idx


def _reference(src, idx, wts, go):
    """(out, gx, sv) in float64: a zero pixel appended to each row for the taps outside."""
    n, c, npix = src.shape
    nt, m = idx.shape[1:]
    s = np.concatenate([src.astype(np.float64), np.zeros((n, c, 1))], axis=2)
    ii = np.where((idx >= 0) & (idx < npix), idx, npix)
    vals = np.zeros((n, c, nt, m))
    for b in range(n):
        vals[b] = s[b][:, ii[b]]
    w = np.ones((n, nt, m)) if wts is None else wts.astype(np.float64)
    g = go.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        out = (vals * w[:, None]).sum(axis=2)
        gx = np.zeros((n, c, npix + 1))
        for b in range(n):
            for t in range(nt):
                np.add.at(gx[b].T, ii[b, t], w[b, t][:, None] * g[b].T)
        sv = (g[:, :, None] * vals).sum(axis=1)
    return out, gx[..., :npix], sv


def _check(got, want, dtype):
    assert got.dtype == dtype and got.shape == want.shape
    tol = _TOL[dtype]
    scale = max(1.0, float(np.abs(want[np.isfinite(want)]).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def _kernels(src, idx, wts, go, vector=True):
    return (
        _cpu.sample_gather(src, idx, wts, vector),
        _cpu.sample_scatter_add(go, idx, wts, src.shape[2]),
        _cpu.sample_dot(go, src, idx, vector),
    )


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("shape", _SHAPES)
def test_kernels_match_reference(shape, dtype):
    n, c, npix, nt, m = shape
    r = np.random.default_rng(sum(shape))
    src = r.standard_normal((n, c, npix)).astype(dtype)
    idx = _taps(r, n, npix, nt, m)
    wts = r.standard_normal((n, nt, m)).astype(dtype)
    go = r.standard_normal((n, c, m)).astype(dtype)
    want = _reference(src, idx, wts, go)
    vec = _kernels(src, idx, wts, go)
    for got, ref in zip(vec, want):
        _check(got, ref, dtype)
    for a, b in zip(vec, _kernels(src, idx, wts, go, vector=False)):
        assert np.array_equal(a, b)  # the SIMD gathers and scalar loads: the same sums
    if nt == 1:  # no weights (nearest): a copy, and the gradient's plain scatter
        want = _reference(src, idx, None, go)
        got = _kernels(src, idx, None, go)
        assert np.array_equal(got[0], want[0].astype(dtype))
        for g, ref in zip(got, want):
            _check(g, ref, dtype)


@pytest.mark.parametrize("dtype", _DTYPES)
def test_non_finite_values(dtype):
    # inf / NaN pixels, weights and gradients: a tap outside reads 0, so an inf pixel elsewhere
    # gives no NaN, a NaN weight on a tap outside gives NaN (0 * NaN), as the reference
    r = np.random.default_rng(5)
    n, c, npix, nt, m = 2, 5, 23, 4, 41
    src = r.standard_normal((n, c, npix)).astype(dtype)
    src.reshape(-1)[r.choice(src.size, 12, replace=False)] = [np.inf, -np.inf, np.nan] * 4
    idx = _taps(r, n, npix, nt, m)
    wts = r.standard_normal((n, nt, m)).astype(dtype)
    wts.reshape(-1)[r.choice(wts.size, 6, replace=False)] = [np.nan, np.inf, 0.0] * 2
    go = r.standard_normal((n, c, m)).astype(dtype)
    go.reshape(-1)[r.choice(go.size, 4, replace=False)] = [np.inf, np.nan] * 2
    want = _reference(src, idx, wts, go)
    got = _kernels(src, idx, wts, go)
    for g, ref in zip(got, want):
        assert np.array_equal(np.isnan(g), np.isnan(ref))
        assert np.array_equal(np.isinf(g), np.isinf(ref))
        _check(g, ref, dtype)
    for a, b in zip(got, _kernels(src, idx, wts, go, vector=False)):
        assert np.array_equal(a, b, equal_nan=True)
    # an inf pixel that no tap reads leaves every output finite
    src = np.ones((1, 2, 4), dtype)
    src[:, :, 3] = np.inf
    idx = np.array([[[0, 1, 2, 4, 4, -1, 7]]], np.int64)
    out = _cpu.sample_gather(src, idx, np.ones((1, 1, 7), dtype))
    assert np.array_equal(out, np.tile(np.array([1, 1, 1, 0, 0, 0, 0], dtype), (1, 2, 1)))


def test_empty_image():
    # npix = 0: every tap outside; reads of a zero pixel, nothing to scatter
    src = np.zeros((2, 3, 0), np.float32)
    idx = np.zeros((2, 2, 5), np.int64)
    wts = np.full((2, 2, 5), np.nan, np.float32)
    go = np.ones((2, 3, 5), np.float32)
    assert np.isnan(_cpu.sample_gather(src, idx, wts)).all()
    assert np.array_equal(_cpu.sample_gather(src, idx[:, :1].copy(), None), np.zeros((2, 3, 5)))
    assert _cpu.sample_scatter_add(go, idx, wts, 0).shape == (2, 3, 0)
    assert np.array_equal(_cpu.sample_dot(go, src, idx), np.zeros((2, 2, 5)))


@pytest.mark.parametrize("dtype", _DTYPES)
def test_threads_same_bits(dtype):
    # big enough for both kernels to split their work between two threads
    r = np.random.default_rng(7)
    n, c, npix, nt, m = 3, 13, 900, 4, 1500
    src = r.standard_normal((n, c, npix)).astype(dtype)
    idx = r.integers(0, 40, (n, nt, m)).astype(np.int64)  # many taps on few pixels
    idx[r.random(idx.shape) < 0.1] = npix
    wts = r.standard_normal((n, nt, m)).astype(dtype)
    go = r.standard_normal((n, c, m)).astype(dtype)
    x = r.standard_normal((3, 13, 30, 30)).astype(dtype)
    grid = r.uniform(-1.2, 1.2, (3, 31, 37, 2)).astype(dtype)
    before = dg.get_num_threads()
    results = []
    try:
        for nthreads in (1, 2):
            dg.set_num_threads(nthreads)
            a, b = dg.Tensor(x, requires_grad=True), dg.Tensor(grid, requires_grad=True)
            y = F.grid_sample(a, b, align_corners=False)
            y.backward(dg.Tensor(np.ones(y.shape, dtype)))
            results.append(
                [
                    *_kernels(src, idx, wts, go),
                    np.asarray(y.data),
                    np.asarray(a.grad),
                    np.asarray(b.grad),
                ]
            )
    finally:
        dg.set_num_threads(before)
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_argument_checks():
    src = np.zeros((2, 3, 4), np.float32)
    idx = np.zeros((2, 2, 5), np.int64)
    wts = np.zeros((2, 2, 5), np.float32)
    go = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(TypeError, match="src: expected dtype float32 or float64"):
        _cpu.sample_gather(src.astype(np.int32), idx, wts)
    with pytest.raises(TypeError, match="idx: expected dtype int64"):
        _cpu.sample_gather(src, idx.astype(np.int32), wts)
    with pytest.raises(TypeError, match="wts: expected dtype float32"):
        _cpu.sample_gather(src, idx, wts.astype(np.float64))
    with pytest.raises(ValueError, match="wts: expected shape"):
        _cpu.sample_gather(src, idx, wts[:, :1].copy())
    with pytest.raises(ValueError, match="wts: None .* needs one tap"):
        _cpu.sample_gather(src, idx, None)
    with pytest.raises(ValueError, match="idx: expected 2 batch items"):
        _cpu.sample_gather(src, idx[:1], wts[:1])
    with pytest.raises(ValueError, match="src: expected a 3-D array"):
        _cpu.sample_gather(src[0], idx, wts)
    with pytest.raises(ValueError, match="src: expected a C-contiguous array"):
        _cpu.sample_gather(src[:, :, ::2], idx, wts)
    with pytest.raises(ValueError, match="idx: expected a C-contiguous array"):
        _cpu.sample_dot(go, src, idx[:, ::-1], True)
    with pytest.raises(ValueError, match="go: expected shape"):
        _cpu.sample_dot(go[:, :2].copy(), src, idx)
    with pytest.raises(TypeError, match="go: expected dtype float32"):
        _cpu.sample_dot(go.astype(np.float64), src, idx)
    with pytest.raises(ValueError, match="npix: expected >= 0"):
        _cpu.sample_scatter_add(go, idx, wts, -1)
    with pytest.raises(ValueError, match="idx: expected 4 output positions"):
        _cpu.sample_scatter_add(go[..., :4].copy(), idx, wts, 4)
    with pytest.raises(TypeError, match="idx: expected a numpy.ndarray"):
        _cpu.sample_scatter_add(go, [[[0]]], None, 4)


def _torch_pairs(x, grid, mode, pad, align, seed):
    """(deltagrad, torch) pairs of the output and the gradients of <go, y> in input and grid."""
    r = np.random.default_rng(seed)
    a, b = dg.Tensor(x, requires_grad=True), dg.Tensor(grid, requires_grad=True)
    y = F.grid_sample(a, b, mode, pad, align)
    go = r.standard_normal(y.shape).astype(x.dtype)
    (y * dg.Tensor(go)).sum().backward()
    at = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    bt = torch.tensor(grid, requires_grad=True)
    yt = TF.grid_sample(at, bt, mode, pad, align)
    (yt * torch.tensor(go)).sum().backward()
    return [
        (np.asarray(y.data), yt.detach().numpy()),
        (np.asarray(a.grad), at.grad.numpy()),
        (np.asarray(b.grad), bt.grad.numpy()),
    ]


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_matches_torch(mode, pad, dtype):
    tol = {np.float64: 1e-10, np.float32: 1e-4}[dtype]
    r = np.random.default_rng(11)
    # 2-D: 5 channels (a block of 4 and one), 91 outputs (a vector tail), a grid reaching
    # outside; a channel-last input (a view: the kernels read a contiguous copy)
    x = r.standard_normal((2, 9, 11, 5)).astype(dtype).transpose(0, 3, 1, 2)
    grid = r.uniform(-1.4, 1.4, (2, 7, 13, 2)).astype(dtype)
    cases = [(x, grid, False), (x, grid, True)]
    if mode != "bicubic":  # 3-D
        x3 = r.standard_normal((2, 5, 4, 5, 6)).astype(dtype)
        grid3 = r.uniform(-1.3, 1.3, (2, 3, 4, 7, 3)).astype(dtype)
        cases += [(x3, grid3, False), (x3, grid3, True)]
    for k, (xi, gi, align) in enumerate(cases):
        for d, t in _torch_pairs(xi, gi, mode, pad, align, k):
            assert d.dtype == t.dtype and d.shape == t.shape
            np.testing.assert_allclose(d, t, rtol=tol, atol=tol)


def test_grid_sample_inf_input_matches_torch():
    # an inf pixel: bilinear zeros-padded taps outside read 0 (no NaN from 0 * inf)
    r = np.random.default_rng(13)
    x = r.standard_normal((1, 3, 6, 7))
    x[0, 1, 0, 0] = np.inf
    x[0, 2, 5, 6] = -np.inf
    grid = r.uniform(-1.5, 1.5, (1, 9, 10, 2))
    grid[0, 0, 0] = [-1.05, -1.05]  # reads the inf corner and 3 taps outside
    for d, t in _torch_pairs(x, grid, "bilinear", "zeros", False, 0):
        assert np.array_equal(np.isnan(d), np.isnan(t))
        np.testing.assert_allclose(d, t, rtol=1e-10, atol=1e-10)
