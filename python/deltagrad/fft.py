"""torch.fft: the discrete Fourier transforms whose inputs and results are real, with autograd.

deltagrad has no complex dtype: a Tensor can hold a complex numpy / cupy array, but it cannot
require grad and the Tensor ops are not defined on it. So this module is torch.fft's
real-valued subset, exactly:

- `irfft` / `irfft2` / `irfftn` and `hfft` / `hfft2` / `hfftn` of a real input (the input read
  as a complex spectrum with zero imaginary part: a cosine-type transform), with torch's
  signatures (n / s, dim, norm "backward" / "ortho" / "forward"), results and float64 gradients
  (the gradient of a real input is the real part of torch's complex one, which is the true
  gradient), double backward included. A complex Tensor input is accepted too (computed
  without a graph, as it cannot require grad).
- `fftfreq` / `rfftfreq` / `fftshift` / `ifftshift`.

The transforms whose result is complex (`fft`, `ifft`, `rfft`, `ihfft` and their 2-d / n-d
forms) raise a TypeError naming the missing complex dtype rather than return something that
is not torch's result. Integer and bool inputs give float32, as torch. Forwards and backwards
run on numpy.fft (cupy.fft for device arrays) in the data's own precision: float32 data take
numpy's single-precision loops, as torch computes them (see _c2r_data / _unscaled)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .tensor import Tensor, get_array_module

__all__ = [
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "rfftn",
    "irfftn",
    "hfft",
    "ihfft",
    "hfft2",
    "ihfft2",
    "hfftn",
    "ihfftn",
    "fftfreq",
    "rfftfreq",
    "fftshift",
    "ifftshift",
]

_NORMS = ("backward", "ortho", "forward")
# the adjoint of a transform normalized by `norm` is the opposite transform normalized by
# _SWAP[norm] (the 1/n of an unnormalized inverse moves to the forward); hfft(x, norm) is
# irfft(conj(x), norm=_SWAP[norm]) scaled that way too
_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


# ---- argument checks ----------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _input(x: Any, fn: str) -> Tensor:
    """x as a floating (or complex) Tensor: integer and bool data become float32 (torch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fft.{fn}: input: expected a Tensor, got {type(x).__name__}")
    kind = x.data.dtype.kind
    if kind in "biu":
        return Tensor(x.data.astype(np.float32))
    if x.data.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        raise RuntimeError(f"fft.{fn}: input: Unsupported dtype {x.data.dtype}")
    return x


def _norm(norm: Any, fn: str) -> str:
    if norm is None:
        return "backward"
    if not isinstance(norm, str):
        raise TypeError(f"fft.{fn}: norm: must be str, not {type(norm).__name__}")
    if norm not in _NORMS:
        raise RuntimeError(f'fft.{fn}: norm: Invalid normalization mode: "{norm}"')
    return norm


def _wrap(d: Any, ndim: int, fn: str) -> int:
    if not _is_int(d):
        raise TypeError(f"fft.{fn}: dim: must be int, not {type(d).__name__}")
    if ndim == 0:
        raise IndexError(f"fft.{fn}: Dimension specified as {d} but tensor has no dimensions")
    if not -ndim <= d < ndim:
        raise IndexError(
            f"fft.{fn}: Dimension out of range (expected to be in range of [{-ndim}, "
            f"{ndim - 1}], but got {d})"
        )
    return int(d) % ndim


def _int_seq(v: Any, fn: str, what: str) -> tuple[Any, ...]:
    """An int or a sequence of ints as a tuple (torch's IntArrayRef arguments)."""
    if _is_int(v):
        return (int(v),)
    if isinstance(v, (tuple, list)) and all(_is_int(i) for i in v):
        return tuple(int(i) for i in v)
    raise TypeError(f"fft.{fn}: {what}: must be a tuple of ints, not {v!r}")


def _points(n: int, fn: str) -> None:
    if n < 1:
        raise RuntimeError(f"fft.{fn}: Invalid number of data points ({n}) specified")


def _plan(
    shape: tuple[int, ...], s: Any, dim: Any, fn: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """torch's n-d rules (the last of dims is the halved one): the dims transformed and the
    output sizes along them."""
    ndim = len(shape)
    sizes = None if s is None else _int_seq(s, fn, "s")
    if dim is not None:
        dims = tuple(_wrap(d, ndim, fn) for d in _int_seq(dim, fn, "dim"))
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"fft.{fn}: dim: FFT dims must be unique")
        if sizes is not None and len(sizes) != len(dims):
            raise RuntimeError(
                f"fft.{fn}: When given, dim and shape arguments must have the same length"
            )
    elif sizes is not None:
        if len(sizes) > ndim:
            raise RuntimeError(
                f"fft.{fn}: s: Got shape with {len(sizes)} values but input tensor only has "
                f"{ndim} dimensions."
            )
        dims = tuple(range(ndim - len(sizes), ndim))
    else:
        dims = tuple(range(ndim))
    if not dims:
        raise RuntimeError(f"fft.{fn}: {fn} must transform at least one axis")
    if sizes is None:
        sizes = (-1,) * len(dims)
    out = [shape[d] if n == -1 else n for d, n in zip(dims, sizes)]
    if sizes[-1] == -1:
        out[-1] = 2 * (shape[dims[-1]] - 1)
    for n in out:
        _points(n, fn)
    return dims, tuple(out)


# ---- the transforms -----------------------------------------------------------------------


def _half(sizes: Sequence[int]) -> tuple[int, ...]:
    """The input sizes of a c2r transform with output sizes `sizes` (last one halved)."""
    return (*sizes[:-1], sizes[-1] // 2 + 1)


def _fit(
    a: Any,
    dims: Sequence[int],
    sizes: Sequence[int],
    dtype: Any,
    scale: float = 1.0,
    w: Any = None,
    conj: bool = False,
) -> Any:
    """A fresh array of `dtype`: a (conjugated if conj) truncated / zero-padded to sizes
    along dims and multiplied by scale, or by w (a vector along dims[-1], cut here to size),
    in one pass over the data where it can (the crop, pad, cast and scaling would otherwise
    each copy it)."""
    xp = get_array_module(a)
    shape = list(a.shape)
    src = [slice(None)] * a.ndim
    padded = False
    for d, n in zip(dims, sizes):
        if shape[d] > n:
            src[d] = slice(0, n)
        padded = padded or shape[d] < n
        shape[d] = n
    out = (xp.zeros if padded else xp.empty)(shape, dtype)
    a = a[tuple(src)]
    dst = out[tuple(slice(0, k) for k in a.shape)]
    if w is not None:
        w = w[(slice(0, a.shape[dims[-1]]),) + (None,) * (a.ndim - 1 - dims[-1])]
        xp.multiply(a, w, out=dst)
    elif conj:
        xp.conjugate(a, out=dst)
        if scale != 1.0:
            dst *= scale
    elif scale != 1.0:
        xp.multiply(a, scale, out=dst)
    else:
        dst[...] = a
    return out


def _real_dtype(dtype: Any) -> Any:
    return np.dtype(np.float32 if dtype in (np.float32, np.complex64) else np.float64)


def _unscaled(norm: str, inverse: bool) -> bool:
    """Whether numpy's transform in direction `inverse` under `norm` is the unnormalized one:
    numpy passes it the Python int 1 as its scale, which makes numpy >= 2 pick its
    complex128 loop for complex64 / float32 data (twice the time, and a cast back); the
    other two norms pass a scale of the data's own precision and run the single-precision
    loop."""
    return norm == ("forward" if inverse else "backward")


def _c2r_data(
    a: Any, dims: tuple[int, ...], sizes: tuple[int, ...], norm: str, conj: bool = False
) -> Any:
    """irfftn(conj(a) if conj else a, sizes, dims, norm) of an array (real or complex, a
    real one read as a spectrum with zero imaginary part), the result in a's real dtype.

    numpy's c2r takes a complex array, and a real one it casts to complex128 whatever its
    precision: a is cast here to the complex dtype of its own precision (with the crop / pad
    to the half sizes in the same pass). An unnormalized inverse ("forward") is run as the
    "backward" one, its output multiplied by N (see _unscaled)."""
    xp = get_array_module(a)
    real = _real_dtype(a.dtype)
    out_shape = list(a.shape)
    for d, n in zip(dims, sizes):
        out_shape[d] = n
    if a.size == 0:  # (empty along a transformed dim: a zero spectrum, a zero result)
        return xp.zeros(out_shape, real)
    half = _half(sizes)
    cdt = np.complex64 if real == np.float32 else np.complex128
    if a.dtype == cdt and not conj and tuple(a.shape[d] for d in dims) == half:
        c = a  # already the spectrum numpy wants: no copy
    else:
        c = _fit(a, dims, half, cdt, conj=conj and a.dtype.kind == "c")
    if not _unscaled(norm, True):
        return xp.fft.irfftn(c, s=sizes, axes=dims, norm=norm).astype(real, copy=False)
    # the unnormalized inverse as the normalized one times N, on the output: numpy scales
    # after its sums, so a result within float range stays finite (N on the input overflowed
    # where a sum of N terms would not)
    r = xp.fft.irfftn(c, s=sizes, axes=dims, norm="backward").astype(real, copy=False)
    r *= real.type(np.prod(sizes, dtype=np.float64))
    return r


def _r2c_adjoint_data(
    g: Any, dims: tuple[int, ...], sizes: tuple[int, ...], norm: str, shape: tuple[int, ...]
) -> Any:
    """The adjoint of x -> irfftn(x, sizes, dims, norm) on real x of `shape`, applied to g:
    rfftn with the opposite normalization, the entries that stand for two conjugate ones
    (all but the zero and Nyquist frequencies of the halved dim) doubled, the real part, and
    the input's sizes restored (a truncated input gets zeros, a padded one loses the pad).
    The doubling, the real part, the resize and an unnormalized rfftn's N (see _unscaled)
    are one pass over the spectrum."""
    xp = get_array_module(g)
    if g.size == 0:
        return xp.zeros(shape, g.dtype)
    nm, scale = _SWAP[norm], 1.0
    if _unscaled(nm, False):
        nm, scale = "forward", float(np.prod(sizes, dtype=np.float64))
    c = xp.fft.rfftn(g, axes=dims, norm=nm)
    n = sizes[-1]
    w = np.full(n // 2 + 1, 2.0 * scale)
    w[0] = scale
    w[n - n // 2 :] = scale
    w = xp.asarray(w.astype(g.dtype))
    return _fit(c.real, dims, tuple(shape[i] for i in dims), g.dtype, w=w)


def _c2r(x: Tensor, dims: tuple[int, ...], sizes: tuple[int, ...], norm: str, op: str) -> Tensor:
    """irfftn of a real Tensor as a graph node; its adjoint (_c2r_adjoint) is its backward."""
    shape = tuple(x.data.shape)
    out = _c2r_data(x.data, dims, sizes, norm)
    return Tensor._make(
        out,
        (x,),
        lambda g: x._accumulate(_r2c_adjoint_data(g, dims, sizes, norm, shape)),
        op,
        (),
        dbackward=lambda g: (_c2r_adjoint(g, dims, sizes, norm, shape, op),),
    )


def _c2r_adjoint(
    g: Tensor,
    dims: tuple[int, ...],
    sizes: tuple[int, ...],
    norm: str,
    shape: tuple[int, ...],
    op: str,
) -> Tensor:
    """_c2r's backward as a differentiable op (double backward): its own adjoint is _c2r
    again (a linear map's adjoint's adjoint), applied to an input-shaped gradient."""
    out = _r2c_adjoint_data(g.data, dims, sizes, norm, shape)
    name = f"{op}_backward"
    return Tensor._make(
        out,
        (g,),
        lambda h: g._accumulate(_c2r_data(h, dims, sizes, norm)),
        name,
        (),
        dbackward=lambda h: (_c2r(h, dims, sizes, norm, name),),
    )


def _transform(
    input: Any, s: Any, dim: Any, norm: Any, fn: str, hermitian: bool, one_d: bool = False
) -> Tensor:
    x = _input(input, fn)
    if one_d:  # s is n, dim an int
        if s is not None and not _is_int(s):
            raise TypeError(f"fft.{fn}: n: must be int, not {type(s).__name__}")
        if not _is_int(dim):
            raise TypeError(f"fft.{fn}: dim: must be int, not {type(dim).__name__}")
        d = _wrap(dim, x.data.ndim, fn)
        n = 2 * (x.data.shape[d] - 1) if s is None else int(s)
        _points(n, fn)
        dims, sizes = (d,), (n,)
    else:
        dims, sizes = _plan(tuple(x.data.shape), s, dim, fn)
    nm = _norm(norm, fn)
    if hermitian:  # hfft(x) = irfft(conj(x)) with the opposite normalization
        nm = _SWAP[nm]
    if x.data.dtype.kind == "c":  # no graph: a complex Tensor cannot require grad
        return Tensor(_c2r_data(x.data, dims, sizes, nm, conj=hermitian))
    return _c2r(x, dims, sizes, nm, f"fft_{fn}")


def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of rfft: n real points (default 2 * (input.size(dim) - 1)) from the
    one-sided spectrum `input` (real here: a cosine series; or a complex Tensor, no graph)."""
    return _transform(input, n, dim, norm, "irfft", False, one_d=True)


def irfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: Sequence[int] = (-2, -1),
    norm: str | None = None,
) -> Tensor:
    """irfftn over two dims (default the last two)."""
    return _transform(input, s, dim, norm, "irfft2", False)


def irfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: Sequence[int] | None = None,
    norm: str | None = None,
) -> Tensor:
    """The inverse of rfftn over dim (default: the last len(s) dims, or all), the last of
    them the one-sided one; s the output sizes (-1: the default)."""
    return _transform(input, s, dim, norm, "irfftn", False)


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The forward FFT of a Hermitian-symmetric signal given by its one-sided half: n real
    points (default 2 * (input.size(dim) - 1))."""
    return _transform(input, n, dim, norm, "hfft", True, one_d=True)


def hfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: Sequence[int] = (-2, -1),
    norm: str | None = None,
) -> Tensor:
    """hfftn over two dims (default the last two)."""
    return _transform(input, s, dim, norm, "hfft2", True)


def hfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: Sequence[int] | None = None,
    norm: str | None = None,
) -> Tensor:
    """The n-d forward FFT of a Hermitian-symmetric signal (the last of dim one-sided)."""
    return _transform(input, s, dim, norm, "hfftn", True)


# ---- the complex-valued transforms: refused -------------------------------------------------


def _complex_result(name: str, signature: str) -> Callable[..., Tensor]:
    def fn(*args: Any, **kwargs: Any) -> Tensor:
        raise TypeError(
            f"fft.{name}: deltagrad has no complex dtype, so torch.fft.{name}'s complex result "
            "cannot be returned (only the real-valued transforms irfft / irfft2 / irfftn / "
            "hfft / hfft2 / hfftn of real input, fftfreq / rfftfreq and fftshift / ifftshift "
            "are provided); compute it on x.numpy() with numpy.fft"
        )

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"torch.fft.{name}{signature}: not available -- its result is complex, and deltagrad "
        "has no complex dtype. Raises TypeError."
    )
    return fn


_SIG_1D = "(input, n=None, dim=-1, norm=None)"
_SIG_2D = "(input, s=None, dim=(-2, -1), norm=None)"
_SIG_ND = "(input, s=None, dim=None, norm=None)"
fft = _complex_result("fft", _SIG_1D)
ifft = _complex_result("ifft", _SIG_1D)
fft2 = _complex_result("fft2", _SIG_2D)
ifft2 = _complex_result("ifft2", _SIG_2D)
fftn = _complex_result("fftn", _SIG_ND)
ifftn = _complex_result("ifftn", _SIG_ND)
rfft = _complex_result("rfft", _SIG_1D)
rfft2 = _complex_result("rfft2", _SIG_2D)
rfftn = _complex_result("rfftn", _SIG_ND)
ihfft = _complex_result("ihfft", _SIG_1D)
ihfft2 = _complex_result("ihfft2", _SIG_2D)
ihfftn = _complex_result("ihfftn", _SIG_ND)


# ---- frequencies and shifts ---------------------------------------------------------------


def _freq(
    n: Any, d: Any, dtype: Any, device: Any, requires_grad: Any, fn: str, onesided: bool
) -> Tensor:
    from . import creation

    if not _is_int(n):
        raise TypeError(f"fft.{fn}: n: must be int, not {type(n).__name__}")
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, float, np.integer, np.floating)):
        raise TypeError(f"fft.{fn}: d: must be float, not {type(d).__name__}")
    n = int(n)
    # torch's length: n, or n / 2 + 1 in C's truncating division (rfftfreq(-1) is [-0.])
    length = (abs(n) // 2 * (1 if n >= 0 else -1) + 1) if onesided else n
    if length < 0:
        raise RuntimeError(
            f"fft.{fn}: Trying to create tensor with negative dimension {length}: [{length}]"
        )
    dt = creation._dtype(dtype, fn)
    if dt.kind != "f":
        raise RuntimeError(f"fft.{fn}: {fn} requires a floating point or complex dtype")
    k = np.arange(length, dtype=np.float64)
    if not onesided:
        k[(n + 1) // 2 :] -= n
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.float64(1.0) / (np.float64(n) * np.float64(d))
        # torch multiplies the dtype's values by the scale rounded to that dtype
        arr = k.astype(dt) * dt.type(scale)
    return creation._make(arr.astype(dt, copy=False), device, requires_grad, fn)


def fftfreq(
    n: int,
    d: float = 1.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The sample frequencies of an n-point FFT with sample spacing d: [0, 1, ...,
    ceil(n/2) - 1, -floor(n/2), ..., -1] / (d * n)."""
    return _freq(n, d, dtype, device, requires_grad, "fftfreq", False)


def rfftfreq(
    n: int,
    d: float = 1.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The sample frequencies of rfft's n // 2 + 1 outputs: [0, 1, ..., n // 2] / (d * n)."""
    return _freq(n, d, dtype, device, requires_grad, "rfftfreq", True)


def _roll(x: Tensor, shifts: tuple[int, ...], dims: tuple[int, ...], op: str) -> Tensor:
    """x rolled by shifts along dims (repeated dims add up), differentiable to any order."""
    xp = get_array_module(x.data)
    back = tuple(-k for k in shifts)
    return Tensor._make(
        xp.roll(x.data, shifts, dims),
        (x,),
        lambda g: x._accumulate(xp.roll(g, back, dims)),
        op,
        (),
        dbackward=lambda g: (_roll(g, back, dims, op),),
    )


def _shift(input: Any, dim: Any, fn: str, sign: int) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"fft.{fn}: input: expected a Tensor, got {type(input).__name__}")
    ndim = input.data.ndim
    if dim is None:
        dims = tuple(range(ndim))
    else:
        dims = tuple(_wrap(d, ndim, fn) for d in _int_seq(dim, fn, "dim"))
    if not dims:
        raise RuntimeError(f"fft.{fn}: dim: `shifts` required (no dimension to shift)")
    shape = input.data.shape
    return _roll(input, tuple(sign * (shape[d] // 2) for d in dims), dims, f"fft_{fn}")


def fftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """input with the zero frequency moved to the centre: rolled by size // 2 along dim
    (default: every dim)."""
    return _shift(input, dim, "fftshift", 1)


def ifftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """The inverse of fftshift: rolled by -(size // 2) along dim (default: every dim)."""
    return _shift(input, dim, "ifftshift", -1)
