"""dg.fft's c2r transforms after round 42's single-precision path (float32 / complex64 data
run numpy's float32 loops: the input cast to complex64 in the crop / pad pass, the
unnormalized direction run as the normalized one with N folded into a pass we make anyway):
irfft / hfft and their n-d forms against torch 2.13 in float64 (1e-10) and float32 (1e-4 of
the max), values and gradients, every norm, odd and even n, crop and zero-pad, dim not last,
size 1, complex input (values; a complex Tensor cannot require grad), dtypes, and inputs
left untouched."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

NORMS = (None, "backward", "ortho", "forward")
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def _close(got, want, tol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    scale = max(float(np.abs(want).max()), 1.0) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


def _check(fn, a, **kw):
    """fn(a, **kw) and the gradient of sum(w * fn(a)) against torch's."""
    tol = TOL[a.dtype.type]
    x = dg.tensor(a.copy(), requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y = getattr(dg.fft, fn)(x, **kw)
    yt = getattr(torch.fft, fn)(t, **kw)
    _close(y.data, yt.detach().numpy(), tol)
    w = np.random.default_rng(7).standard_normal(tuple(yt.shape)).astype(a.dtype)
    (y * dg.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    _close(np.asarray(x.grad), t.grad.numpy(), tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["irfft", "hfft"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    "m,n",
    [(9, None), (8, None), (9, 16), (9, 17), (9, 7), (9, 6), (5, 12), (5, 13), (1, 1), (2, 1),
     (1, 4), (33, 64)],
)  # fmt: skip
def test_1d(dtype, fn, norm, m, n):
    a = np.random.default_rng(m * 31 + (n or 0)).standard_normal((3, m)).astype(dtype)
    _check(fn, a, n=n, norm=norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["irfft", "hfft"])
@pytest.mark.parametrize("dim,n", [(0, None), (0, 11), (1, 4), (-2, 10), (1, 3)])
@pytest.mark.parametrize("norm", NORMS)
def test_1d_dim_not_last(dtype, fn, dim, n, norm):
    a = np.random.default_rng(3).standard_normal((6, 5, 4)).astype(dtype)
    _check(fn, a, n=n, dim=dim, norm=norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["irfft2", "irfftn", "hfft2", "hfftn"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    "shape,s,dim",
    [((4, 6, 5), None, None), ((4, 6, 5), (3, 9), None), ((4, 6, 5), (8, 7), (0, 2)),
     ((5, 4, 3), (-1, 6), (2, 0)), ((3, 1, 2), None, (1, 2)), ((2, 3, 4), (1, 1), None)],
)  # fmt: skip
def test_nd(dtype, fn, norm, shape, s, dim):
    a = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    kw = {"s": s, "norm": norm}
    if dim is not None:
        kw["dim"] = dim
    elif fn.endswith("2"):
        kw["dim"] = (-2, -1)
    _check(fn, a, **kw)


def test_large_float32_matches_float64_reference():
    """The float32 path on a realistic size stays within 1e-4 of a float64 computation."""
    a = np.random.default_rng(0).standard_normal((8, 2049)).astype(np.float32)
    for fn in ("irfft", "hfft"):
        for norm in NORMS:
            y = getattr(dg.fft, fn)(dg.tensor(a), n=4096, norm=norm).data
            ref = getattr(torch.fft, fn)(torch.tensor(a.astype(np.float64)), n=4096, norm=norm)
            assert y.dtype == np.float32
            _close(y.astype(np.float64), ref.numpy(), 1e-4)


@pytest.mark.parametrize("cdtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("fn", ["irfft", "hfft"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n,dim", [(9, None, -1), (9, 7, -1), (6, 13, 0), (1, 1, -1)])
def test_complex_input(cdtype, fn, norm, m, n, dim):
    rng = np.random.default_rng(m)
    a = (rng.standard_normal((4, m)) + 1j * rng.standard_normal((4, m))).astype(cdtype)
    if dim == 0:
        a = np.ascontiguousarray(a.T)
    keep = a.copy()
    y = getattr(dg.fft, fn)(dg.tensor(a), n=n, dim=dim, norm=norm)
    yt = getattr(torch.fft, fn)(torch.tensor(a), n=n, dim=dim, norm=norm).numpy()
    _close(y.data, yt, TOL[np.float64 if cdtype == np.complex128 else np.float32])
    np.testing.assert_array_equal(a, keep)  # the conjugation / scaling are on a copy


@pytest.mark.parametrize("fn", ["irfft2", "hfftn"])
def test_complex_input_nd(fn):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((3, 5, 4)) + 1j * rng.standard_normal((3, 5, 4))).astype(np.complex64)
    for s in (None, (4, 5)):
        y = getattr(dg.fft, fn)(dg.tensor(a), s=s, norm="forward")
        yt = getattr(torch.fft, fn)(torch.tensor(a), s=s, norm="forward").numpy()
        _close(y.data, yt, 1e-4)


def test_input_not_modified_and_noncontiguous():
    base = np.random.default_rng(2).standard_normal((7, 6)).astype(np.float32)
    a = base.T  # a transposed view, dim 0 then 1
    keep = a.copy()
    x = dg.tensor(a, requires_grad=True)
    t = torch.tensor(np.ascontiguousarray(a), requires_grad=True)
    for dim in (0, 1):
        y = dg.fft.hfft(x, n=9, dim=dim, norm="backward")
        yt = torch.fft.hfft(t, n=9, dim=dim, norm="backward")
        _close(y.data, yt.detach().numpy(), 1e-4)
        y.sum().backward()
        yt.sum().backward()
    _close(np.asarray(x.grad), t.grad.numpy(), 1e-4)
    np.testing.assert_array_equal(a, keep)


@pytest.mark.parametrize("fn", ["irfft", "hfft"])
@pytest.mark.parametrize("norm", ["backward", "forward"])
def test_double_backward_float32(fn, norm):
    """The second derivative of sum(sin(fn(x))) through grad_x . v (both passes on the
    float32 path: the backward's rfft and the double backward's c2r)."""
    a = np.random.default_rng(4).standard_normal((3, 6)).astype(np.float32)
    v = np.random.default_rng(8).standard_normal((3, 6)).astype(np.float32)
    x = dg.tensor(a.copy(), requires_grad=True)
    (gx,) = dg.autograd.grad(
        getattr(dg.fft, fn)(x, n=9, norm=norm).sin().sum(), x, create_graph=True
    )
    (gx * dg.tensor(v)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    yt = getattr(torch.fft, fn)(t, n=9, norm=norm)
    (gt,) = torch.autograd.grad(yt.sin().sum(), t, create_graph=True)
    (gt * torch.tensor(v)).sum().backward()
    _close(gx.data, gt.detach().numpy(), 1e-4)
    _close(np.asarray(x.grad), t.grad.numpy(), 1e-4)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_integer_input_float32(dtype):
    a = (np.arange(10).reshape(2, 5) % 3).astype(dtype)
    y = dg.fft.irfft(dg.tensor(a), n=8, norm="forward")
    yt = torch.fft.irfft(torch.tensor(a), n=8, norm="forward").numpy()
    _close(y.data, yt, 1e-4)


@pytest.mark.parametrize("fn", ["irfft", "hfft"])
def test_empty_batch(fn):
    for dtype in (np.float32, np.float64):
        a = np.zeros((0, 5), dtype)
        x = dg.tensor(a, requires_grad=True)
        y = getattr(dg.fft, fn)(x, n=6)  # (torch's MKL refuses an empty batch)
        assert y.shape == (0, 6) and y.dtype == dtype
        y.sum().backward()
        assert np.asarray(x.grad).shape == (0, 5)


@pytest.mark.parametrize(("dtype", "big"), [(np.float32, 1e36), (np.float64, 1e306)])
def test_unnormalized_inverse_near_the_float_range_stays_finite(dtype, big):
    """The unnormalized c2r direction (hfft's default, irfft's norm="forward") runs numpy's
    normalized transform times N on the output: N on the input overflowed to inf where
    torch's result is finite (a DC-only spectrum of 1e36 in float32: every output 1e36)."""
    x = np.zeros(513, dtype)
    x[0] = big
    for got, want in (
        (dg.fft.hfft(dg.Tensor(x)), torch.fft.hfft(torch.tensor(x))),
        (
            dg.fft.irfft(dg.Tensor(x), norm="forward"),
            torch.fft.irfft(torch.tensor(x), norm="forward"),
        ),
    ):
        assert np.isfinite(got.data).all()
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-6)
