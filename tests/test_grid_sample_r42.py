"""grid_sample (round 42: the gather in the input's own layout, one scatter for the backward)
against torch 2.13: values and both gradients in float64 (1e-10) and float32 (1e-4), every
mode / padding_mode / align_corners, 4-D and 5-D, grids reaching outside the input, odd sizes,
N = 1, C = 1, non-finite grids and inputs, and affine_grid + grid_sample (a spatial
transformer) differentiated in theta."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deltagrad as dg
import deltagrad.functional as F

_MODES = ["bilinear", "nearest", "bicubic"]
_PADS = ["zeros", "border", "reflection"]
_TOL = {np.float64: 1e-10, np.float32: 1e-4}


def _rng(seed):
    return np.random.default_rng(seed)


def _run(xs, gs, mode, pad, align, dtype, seed, lo=-1.6, hi=1.6, grid=None, x=None):
    """(deltagrad, torch) pairs of the output and the gradients of <go, y> in input and grid."""
    r = _rng(seed)
    x = r.standard_normal(xs).astype(dtype) if x is None else x
    g = r.uniform(lo, hi, gs).astype(dtype) if grid is None else grid
    n_out = (xs[0], xs[1], *gs[1:-1])
    go = r.standard_normal(n_out).astype(dtype)
    a, b = dg.Tensor(x, requires_grad=True), dg.Tensor(g, requires_grad=True)
    y = F.grid_sample(a, b, mode, pad, align)
    (y * dg.Tensor(go)).sum().backward()
    at, bt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    yt = TF.grid_sample(at, bt, mode, pad, align)
    (yt * torch.tensor(go)).sum().backward()
    return [
        (np.asarray(y.data), yt.detach().numpy()),
        (np.asarray(a.grad), at.grad.numpy()),
        (np.asarray(b.grad), bt.grad.numpy()),
    ]


def _close(pairs, dtype):
    tol = _TOL[dtype]
    for d, t in pairs:
        assert d.dtype == t.dtype and d.shape == t.shape
        np.testing.assert_allclose(d, t, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("pad", _PADS)
@pytest.mark.parametrize("mode", _MODES)
def test_2d_matches_torch(mode, pad, align, dtype):
    # odd sizes, a grid reaching well outside the input; then N = 1 and C = 1
    _close(_run((3, 4, 5, 7), (3, 6, 9, 2), mode, pad, align, dtype, 1), dtype)
    _close(_run((1, 1, 6, 3), (1, 5, 4, 2), mode, pad, align, dtype, 2, -3.0, 3.0), dtype)
    # every point inside (no tap outside: the input is read without the appended zero)
    _close(_run((2, 3, 4, 4), (2, 3, 3, 2), mode, pad, align, dtype, 3, -0.5, 0.5), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("pad", _PADS)
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_3d_matches_torch(mode, pad, align, dtype):
    _close(_run((2, 3, 3, 5, 4), (2, 2, 3, 5, 3), mode, pad, align, dtype, 4), dtype)
    _close(_run((1, 1, 2, 1, 3), (1, 3, 1, 2, 3), mode, pad, align, dtype, 5, -2.5, 2.5), dtype)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("pad", _PADS)
@pytest.mark.parametrize("mode", _MODES)
def test_size_one_axes(mode, pad, align):
    # 1-pixel axes (reflection's empty span, every neighbour outside)
    _close(_run((2, 2, 1, 1), (2, 3, 2, 2), mode, pad, align, np.float64, 6), np.float64)
    _close(_run((1, 3, 1, 5), (1, 1, 1, 2), mode, pad, align, np.float64, 7), np.float64)


def _same_non_finite(d, t):
    np.testing.assert_array_equal(np.isnan(d), np.isnan(t))
    np.testing.assert_array_equal(np.isinf(d), np.isinf(t))
    fin = np.isfinite(t)
    np.testing.assert_allclose(d[fin], t[fin], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pad", _PADS)
@pytest.mark.parametrize("mode", _MODES)
def test_non_finite_grid_and_input(mode, pad):
    r = _rng(8)
    g = r.uniform(-1.5, 1.5, (2, 3, 4, 2))
    g[0, 0, 0] = (np.nan, 0.2)
    g[0, 1, 1] = (0.3, np.nan)
    g[1, 2, 3] = (np.inf, -np.inf)
    g[1, 0, 2] = (-np.inf, 0.1)
    g[1, 1, 1] = (1e30, -1e30)
    x = r.standard_normal((2, 3, 4, 5))
    x[0, 1, 0, 0] = np.inf  # on the border: read by the taps of points outside the input
    x[1, 2, 3, 4] = -np.inf
    go = r.standard_normal((2, 3, 3, 4))
    a, b = dg.Tensor(x, requires_grad=True), dg.Tensor(g, requires_grad=True)
    y = F.grid_sample(a, b, mode, pad, False)
    (y * dg.Tensor(go)).sum().backward()
    assert a.grad.shape == x.shape and b.grad.shape == g.shape
    at, bt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    yt = TF.grid_sample(at, bt, mode, pad, False)
    _same_non_finite(np.asarray(y.data), yt.detach().numpy())
    if mode == "bilinear" and pad != "zeros":
        return  # torch 2.13's CPU backward crashes (a segfault) on these NaN / inf grids
    (yt * torch.tensor(go)).sum().backward()
    _same_non_finite(np.asarray(a.grad), at.grad.numpy())
    _same_non_finite(np.asarray(b.grad), bt.grad.numpy())


def test_input_only_or_grid_only_gradient():
    r = _rng(10)
    x, g = r.standard_normal((2, 3, 5, 6)), r.uniform(-1.3, 1.3, (2, 4, 3, 2))
    for mode in _MODES:
        for need in ((True, False), (False, True)):
            a = dg.Tensor(x, requires_grad=need[0])
            b = dg.Tensor(g, requires_grad=need[1])
            at = torch.tensor(x, requires_grad=need[0])
            bt = torch.tensor(g, requires_grad=need[1])
            F.grid_sample(a, b, mode, "zeros", True).sum().backward()
            TF.grid_sample(at, bt, mode, "zeros", True).sum().backward()
            for d, t in ((a, at), (b, bt)):
                assert (d.grad is None) == (t.grad is None)
                if t.grad is not None:
                    np.testing.assert_allclose(
                        np.asarray(d.grad), t.grad.numpy(), rtol=1e-10, atol=1e-10
                    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
def test_spatial_transformer_matches_torch(align, dtype):
    r = _rng(11)
    x = r.standard_normal((3, 2, 7, 6)).astype(dtype)
    th = (np.eye(2, 3)[None] + 0.4 * r.standard_normal((3, 2, 3))).astype(dtype)
    go = r.standard_normal((3, 2, 9, 5)).astype(dtype)
    a, t = dg.Tensor(x, requires_grad=True), dg.Tensor(th, requires_grad=True)
    y = F.grid_sample(a, F.affine_grid(t, [3, 2, 9, 5], align), "bilinear", "zeros", align)
    (y * dg.Tensor(go)).sum().backward()
    at, tt = torch.tensor(x, requires_grad=True), torch.tensor(th, requires_grad=True)
    yt = TF.grid_sample(at, TF.affine_grid(tt, [3, 2, 9, 5], align), "bilinear", "zeros", align)
    (yt * torch.tensor(go)).sum().backward()
    _close(
        [
            (np.asarray(y.data), yt.detach().numpy()),
            (np.asarray(a.grad), at.grad.numpy()),
            (np.asarray(t.grad), tt.grad.numpy()),
        ],
        dtype,
    )


def test_affine_grid_3d_and_unit_size():
    r = _rng(12)
    th = r.standard_normal((2, 3, 4))
    go = r.standard_normal((2, 3, 1, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for align in (False, True):
            t = dg.Tensor(th, requires_grad=True)
            tt = torch.tensor(th, requires_grad=True)
            g = F.affine_grid(t, [2, 5, 3, 1, 4], align)
            gt = TF.affine_grid(tt, [2, 5, 3, 1, 4], align)
            (g * dg.Tensor(go)).sum().backward()
            (gt * torch.tensor(go)).sum().backward()
            np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.asarray(t.grad), tt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_empty_batch_and_output():
    for xs, gs in [((0, 2, 3, 4), (0, 2, 2, 2)), ((2, 3, 4, 5), (2, 0, 3, 2))]:
        a = dg.Tensor(np.ones(xs), requires_grad=True)
        b = dg.Tensor(np.zeros(gs), requires_grad=True)
        y = F.grid_sample(a, b, "bilinear", "zeros", False)
        assert y.shape == (xs[0], xs[1], *gs[1:3])
        y.sum().backward()
        assert a.grad.shape == xs and b.grad.shape == gs
        assert not np.asarray(a.grad).any() and not np.asarray(b.grad).any()
