"""dg.fft against torch.fft 2.13 (round 38): the real-valued transforms irfft / irfft2 /
irfftn / hfft / hfft2 / hfftn of real input (forward, gradients, double backward, every norm,
n / s truncating and padding, odd and size-1 lengths, float32, integer and complex input),
fftfreq / rfftfreq, fftshift / ifftshift, the complex-result transforms' TypeError, and the
argument errors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

C2R = ("irfft", "hfft")
C2R_ND = ("irfft2", "irfftn", "hfft2", "hfftn")
NORMS = (None, "backward", "ortho", "forward")
COMPLEX = (
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "rfft2",
    "rfftn",
    "ihfft",
    "ihfft2",
    "ihfftn",
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _both(fn: str, a: np.ndarray, **kw):
    """(dg result, dg input grad, torch result, torch input grad) for sum(w * fn(x, **kw))."""
    x = dg.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y = getattr(dg.fft, fn)(x, **kw)
    yt = getattr(torch.fft, fn)(t, **kw)
    w = _rng(1).standard_normal(tuple(yt.shape)).astype(a.dtype)
    (y * dg.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    return y, x.grad, yt.detach().numpy(), t.grad.numpy()


def _close(y, g, yt, gt, tol=1e-12):
    assert y.shape == yt.shape and y.dtype == yt.dtype
    np.testing.assert_allclose(y.data, yt, rtol=tol, atol=tol)
    np.testing.assert_allclose(g, gt, rtol=tol, atol=tol)


# ---- the real-valued transforms ---------------------------------------------------------


@pytest.mark.parametrize("fn", C2R)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(5, None), (4, None), (2, None), (1, 1), (1, 2), (1, 3),
                                 (5, 3), (5, 4), (4, 9), (3, 11), (6, 1)])  # fmt: skip
def test_1d_float64(fn, norm, m, n):
    a = _rng(m).standard_normal((3, m))
    _close(*_both(fn, a, n=n, norm=norm))


@pytest.mark.parametrize("fn", C2R)
@pytest.mark.parametrize("dim", [0, 1, -2])
def test_1d_dim(fn, dim):
    a = _rng(2).standard_normal((4, 5, 3))
    _close(*_both(fn, a, n=7, dim=dim))
    _close(*_both(fn, a, dim=dim, norm="ortho"))


@pytest.mark.parametrize("fn", C2R_ND)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    "kw",
    [{}, {"s": (3, 4)}, {"s": (5, 7)}, {"s": (1, 1)}, {"s": (-1, 5)}, {"dim": (0, 2)},
     {"s": (2, 6), "dim": (2, 0)}, {"dim": (-1, -3)}],
)  # fmt: skip
def test_2d_nd_float64(fn, norm, kw):
    a = _rng(3).standard_normal((3, 4, 5))
    _close(*_both(fn, a, norm=norm, **kw))


@pytest.mark.parametrize("fn", ("irfftn", "hfftn"))
@pytest.mark.parametrize(
    "kw", [{"s": (4,)}, {"s": 6}, {"dim": 1}, {"s": (2, 3, 8)}, {"s": (4,), "dim": (0,)},
           {"s": (-1, -1, 3)}, {"dim": (2, 1, 0)}],
)  # fmt: skip
def test_nd_shapes(fn, kw):
    a = _rng(4).standard_normal((3, 4, 5))
    _close(*_both(fn, a, **kw))


@pytest.mark.parametrize("fn", C2R + C2R_ND)
def test_float32(fn):
    a = _rng(5).standard_normal((4, 6, 7)).astype(np.float32)
    y, g, yt, gt = _both(fn, a, norm="ortho")
    assert y.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(y.data, yt, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g, gt, rtol=1e-5, atol=1e-5)


def test_large_magnitudes():
    a = _rng(6).standard_normal((2, 5)) * 1e300
    y, g, yt, gt = _both("hfft", a, norm="forward")
    np.testing.assert_allclose(y.data, yt, rtol=1e-10, atol=0)
    np.testing.assert_allclose(g, gt, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", C2R)
@pytest.mark.parametrize("pos", [0, 1, 2, 4])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(fn, pos, value):
    # the exact NaN / inf pattern: 0 * inf terms of the cosine series vanish or not as torch's
    b = _rng(6).standard_normal((2, 5))
    b[0, pos] = value
    y = getattr(dg.fft, fn)(dg.tensor(b)).data
    yt = getattr(torch.fft, fn)(torch.tensor(b)).numpy()
    np.testing.assert_allclose(y, yt, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("fn", C2R + C2R_ND)
def test_integer_and_bool_input_give_float32(fn):
    a = np.arange(12).reshape(3, 4)
    for arr in (a, a % 3 == 0):
        y = getattr(dg.fft, fn)(dg.tensor(arr))
        yt = getattr(torch.fft, fn)(torch.tensor(arr))
        assert y.dtype == np.float32 and not y.requires_grad
        np.testing.assert_allclose(y.data, yt.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn", C2R + C2R_ND)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_input_forward(fn, dtype):
    r = _rng(7)
    a = (r.standard_normal((3, 4)) + 1j * r.standard_normal((3, 4))).astype(dtype)
    y = getattr(dg.fft, fn)(dg.tensor(a), norm="ortho")
    yt = getattr(torch.fft, fn)(torch.tensor(a), norm="ortho").numpy()
    assert y.dtype == yt.dtype and not y.requires_grad
    tol = 1e-12 if dtype == np.complex128 else 1e-5
    np.testing.assert_allclose(y.data, yt, rtol=tol, atol=tol)


def test_input_empty_along_the_transform_is_zero_padded():
    for n in (1, 4, 5):
        y, g, yt, gt = _both("irfft", np.zeros((2, 0)), n=n)
        _close(y, g, yt, gt)
        assert not np.isnan(y.data).any()


def test_empty_batch():
    # torch's MKL backend raises here ("Inconsistent configuration parameters"); the empty
    # result has the shape torch gives non-empty batches
    x = dg.tensor(np.zeros((0, 3)), requires_grad=True)
    y = dg.fft.irfft(x)
    assert y.shape == (0, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    assert dg.fft.hfftn(dg.tensor(np.zeros((0, 3))), dim=(1,)).shape == (0, 4)


@pytest.mark.parametrize(
    "fn,kw", [("irfft", {"n": 5}), ("hfft", {"n": 4, "norm": "ortho"}),
              ("irfftn", {"s": (3, 5)}), ("hfft2", {"s": (4, 3), "norm": "forward"})],
)  # fmt: skip
def test_gradcheck_and_double_backward(fn, kw):
    a = _rng(8).standard_normal((3, 4))
    f = getattr(dg.fft, fn)
    assert dg.gradcheck(lambda x: f(x, **kw) ** 2, (dg.tensor(a, requires_grad=True),))
    # second derivative of sum(sin(f(x))) against torch's, through grad_x . v
    v = _rng(9).standard_normal(a.shape)
    x = dg.tensor(a, requires_grad=True)
    (gx,) = dg.autograd.grad(f(x, **kw).sin().sum(), x, create_graph=True)
    (gx * dg.tensor(v)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad(getattr(torch.fft, fn)(t, **kw).sin().sum(), t, create_graph=True)
    (gt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(gx.data, gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-11, atol=1e-11)


def test_irfft_of_rfft_roundtrip_matches_numpy():
    # the usual real composition: a spectrum computed elsewhere, inverted here with grads
    a = _rng(10).standard_normal(9)
    spec = np.fft.rfft(a).real
    y = dg.fft.irfft(dg.tensor(spec), n=9)
    np.testing.assert_allclose(y.data, np.fft.irfft(spec, n=9), rtol=1e-12, atol=1e-12)


# ---- fftfreq / rfftfreq ---------------------------------------------------------------------


@pytest.mark.parametrize("fn", ("fftfreq", "rfftfreq"))
@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 33, -1, -2, -3])
@pytest.mark.parametrize("d", [1.0, 0.1, 3, -2.5])
def test_freq(fn, n, d):
    for dt, tdt in ((None, None), (dg.float64, torch.float64)):
        if n < 0 and fn == "fftfreq":  # torch: a negative dimension (rfftfreq: C's n / 2 + 1)
            with pytest.raises(RuntimeError):
                torch.fft.fftfreq(n, d, dtype=tdt)
            with pytest.raises(RuntimeError, match="negative dimension"):
                dg.fft.fftfreq(n, d, dtype=dt)
            continue
        y = getattr(dg.fft, fn)(n, d, dtype=dt)
        yt = getattr(torch.fft, fn)(n, d, dtype=tdt).numpy()
        assert y.dtype == yt.dtype and y.shape == yt.shape
        np.testing.assert_array_equal(y.data, yt)


@pytest.mark.parametrize("fn", ("fftfreq", "rfftfreq"))
def test_freq_zero_spacing_and_requires_grad(fn):
    np.testing.assert_array_equal(
        getattr(dg.fft, fn)(5, 0.0).data, getattr(torch.fft, fn)(5, 0.0).numpy()
    )
    y = getattr(dg.fft, fn)(4, requires_grad=True)
    assert y.requires_grad and y.dtype == np.float32


@pytest.mark.parametrize("fn", ("fftfreq", "rfftfreq"))
def test_freq_errors(fn):
    f, tf = getattr(dg.fft, fn), getattr(torch.fft, fn)
    for args, kw, exc in [
        ((-5,), {}, RuntimeError),
        ((2.5,), {}, TypeError),
        ((True,), {}, TypeError),
        ((4, "a"), {}, TypeError),
        ((4,), {"dtype": dg.int64}, RuntimeError),
    ]:
        tkw = {"dtype": torch.int64} if kw else {}
        with pytest.raises(exc):
            tf(*args, **tkw)
        with pytest.raises(exc, match=fn):
            f(*args, **kw)


# ---- fftshift / ifftshift -------------------------------------------------------------------


@pytest.mark.parametrize("fn", ("fftshift", "ifftshift"))
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (1, 1), (2, 0, 1), [0, -1]])
def test_shift(fn, dim):
    a = _rng(11).standard_normal((3, 4, 5))
    _close(*_both(fn, a, dim=dim), tol=0)
    i = np.arange(60).reshape(3, 4, 5)
    np.testing.assert_array_equal(
        getattr(dg.fft, fn)(dg.tensor(i), dim=dim).data,
        getattr(torch.fft, fn)(torch.tensor(i), dim=dim).numpy(),
    )


def test_shift_roundtrip_size1_and_double_backward():
    a = _rng(12).standard_normal((1, 7))
    x = dg.tensor(a, requires_grad=True)
    np.testing.assert_array_equal(dg.fft.ifftshift(dg.fft.fftshift(x)).data, a)
    (g,) = dg.autograd.grad((dg.fft.fftshift(x) ** 3).sum(), x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * a, rtol=1e-14)


@pytest.mark.parametrize("fn", ("fftshift", "ifftshift"))
def test_shift_errors(fn):
    f, tf = getattr(dg.fft, fn), getattr(torch.fft, fn)
    for a, dim, exc in [
        (np.float64(3.0), None, RuntimeError),
        (np.zeros(3), 1, IndexError),
        (np.zeros(3), -2, IndexError),
        (np.zeros(3), 0.5, TypeError),
    ]:
        with pytest.raises(exc):
            tf(torch.tensor(a), dim=dim)
        with pytest.raises(exc, match=fn):
            f(dg.tensor(a), dim=dim)
    with pytest.raises(TypeError, match="input"):
        f(np.zeros(3))


# ---- refused and erroneous calls ------------------------------------------------------------


@pytest.mark.parametrize("fn", COMPLEX)
def test_complex_result_functions_raise_type_error(fn):
    with pytest.raises(TypeError, match="no complex dtype"):
        getattr(dg.fft, fn)(dg.tensor(np.ones((2, 4))))


def test_namespace_matches_torch():
    public = {n for n in dir(torch.fft) if not n.startswith("_")}
    public -= {"Tensor", "torch", "common_args", "factory_common_args"}
    assert set(dg.fft.__all__) == public
    assert "fft" in dir(dg) and dg.fft is importlib.import_module("deltagrad.fft")


ERRORS = [
    ("irfft", (np.zeros(1),), {}, RuntimeError, "Invalid number of data points \\(0\\)"),
    ("irfft", (np.zeros(3),), {"n": 0}, RuntimeError, "Invalid number of data points"),
    ("irfft", (np.zeros(3),), {"n": -1}, RuntimeError, "Invalid number of data points"),
    ("hfft", (np.zeros(3),), {"n": 2.0}, TypeError, "n"),
    ("irfft", (np.zeros(3),), {"n": True}, TypeError, "n"),
    ("irfft", (np.zeros(3),), {"dim": 1}, IndexError, "Dimension out of range"),
    ("irfft", (np.zeros(3),), {"dim": 1.0}, TypeError, "dim"),
    ("irfft", (np.float64(1.0),), {}, IndexError, "no dimensions"),
    ("irfft", (np.zeros(3),), {"norm": "bad"}, RuntimeError, "Invalid normalization mode"),
    ("hfft", (np.zeros(3),), {"norm": 3}, TypeError, "norm"),
    ("irfft", (np.zeros(3, np.float16),), {}, RuntimeError, "Unsupported dtype"),
    ("irfftn", (np.zeros((3, 4)),), {"s": (2, 3, 4)}, RuntimeError, "Got shape with 3"),
    ("irfftn", (np.zeros((3, 4)),), {"dim": (0, 0)}, RuntimeError, "FFT dims must be unique"),
    ("hfftn", (np.zeros((3, 4)),), {"s": (2,), "dim": (0, 1)}, RuntimeError, "same length"),
    ("irfft2", (np.zeros((3, 4)),), {"s": (2,)}, RuntimeError, "same length"),
    ("irfftn", (np.zeros((3, 4)),), {"dim": ()}, RuntimeError, "at least one axis"),
    ("irfftn", (np.float64(2.0),), {}, RuntimeError, "at least one axis"),
    ("irfftn", (np.zeros((3, 4)),), {"s": (0, 4)}, RuntimeError, "Invalid number"),
    ("hfftn", (np.zeros((3, 5)),), {"s": (4, -2)}, RuntimeError, "Invalid number"),
    ("irfftn", (np.zeros((0, 4)),), {}, RuntimeError, "Invalid number"),
    ("irfft2", (np.zeros(4),), {}, IndexError, "Dimension out of range"),
    ("hfft2", (np.float64(2.0),), {}, IndexError, "no dimensions"),
]


@pytest.mark.parametrize("fn,args,kw,exc,msg", ERRORS)
def test_errors_as_torch(fn, args, kw, exc, msg):
    with pytest.raises(exc):
        getattr(torch.fft, fn)(*(torch.tensor(a) for a in args), **kw)
    with pytest.raises(exc, match=msg):
        getattr(dg.fft, fn)(*(dg.tensor(a) for a in args), **kw)


def test_non_tensor_input():
    with pytest.raises(TypeError, match="irfft: input"):
        dg.fft.irfft(np.zeros(3))
