"""More pooling functions of deltagrad.functional, as torch 2.13's torch.nn.functional:
adaptive_max_pool1d / adaptive_max_pool2d (with return_indices) and lp_pool1d / lp_pool2d.

Adaptive max pooling runs the CPU kernel (ops.adaptive_max_pool2d: values and indices in one
pass, a backward that scatters dy to the indices) on numpy float arrays; on other arrays (cupy)
it finds each window's maximum with array ops, without a graph, then takes the values with
Tensor.gather, whose backward scatters (sums) the gradient onto those positions. lp_pool is
torch's formula on Tensor ops and the avg_pool2d / max_pool2d kernels, so its backward (and its
NaN / zero-sum behaviour) is theirs. The 1-D forms run the 2-D code on a
height-1 view.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functional as _F
from . import ops
from ._functional_dgrad import lazy_scatter_dbackward
from ._functional_spatial import _BadArgument, _is_int, _is_number
from .tensor import Tensor, get_array_module

__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
]


class _ZeroNorm(ZeroDivisionError, ValueError):
    """norm_type 0: torch's ZeroDivisionError (from 1.0 / norm_type); a ValueError too, as
    deltagrad's bad argument values are."""


class _FewDims(_BadArgument, IndexError):
    """Too few dimensions for lp_pool2d: torch's IndexError (from its kernel_size product's
    dimension lookup); a ValueError too, as deltagrad's bad values are."""


def _input(input: Any, owner: str, dims: tuple[int, int], kernel: str) -> Tensor:
    """input as a float Tensor of dims[0] or dims[1] dims, else torch's kind of error."""
    x = _F._float(_F._tensor(input, owner), owner, kernel)
    if x.ndim not in dims:
        err = _FewDims if owner == "lp_pool2d" and x.ndim < dims[0] else _BadArgument
        raise err(
            f"{owner}: input: expected a {dims[0]}-D (unbatched) or {dims[1]}-D (batched) "
            f"input, got shape {tuple(x.shape)}"
        )
    return x


# ---- adaptive max pooling --------------------------------------------------------------------


def _out_sizes(output_size: Any, x: Tensor, n: int, owner: str) -> tuple[int, ...]:
    """output_size as n ints (None entries: the input's size there; only the 2-D form takes
    them, as torch's adaptive_max_pool1d takes only an int or a 1-tuple of one)."""
    seq = isinstance(output_size, (tuple, list))
    if seq and len(output_size) != n:
        raise _BadArgument(
            f"{owner}: output_size: expected {n} value(s), got {len(output_size)}: {output_size!r}"
        )
    vals = tuple(output_size) if seq else (output_size,) * n
    out = []
    for v, size in zip(vals, x.shape[x.ndim - n :]):
        if v is None and (n == 2 and seq):
            v = size
        if not _is_int(v):
            raise TypeError(
                f"{owner}: output_size: expected an int"
                + (", or a pair of ints or None" if n == 2 else "")
                + f", got {output_size!r}"
            )
        if v < 0:
            raise _BadArgument(f"{owner}: output_size: expected sizes >= 0, got {output_size!r}")
        out.append(int(v))
    return tuple(out)


def _windows(n: int, out: int) -> np.ndarray:
    """(out, kmax) input positions of torch's adaptive windows over n: [floor(i n / out),
    ceil((i + 1) n / out)); a shorter window repeats its last position, which, coming after the
    original, never changes which position wins."""
    i = np.arange(out, dtype=np.int64)
    start = i * n // out
    end = -(-(i + 1) * n // out)
    kmax = int((end - start).max()) if out else 1
    return np.minimum(start[:, None] + np.arange(kmax), end[:, None] - 1)


def _pick(v: Any, axis: int, xp: Any) -> Any:
    """The position along axis that torch's kernel keeps: the last NaN if there is one, else
    the first maximum (its scan replaces on val > max or isnan(val))."""
    nan = xp.isnan(v)
    k = v.shape[axis]
    last_nan = k - 1 - xp.argmax(xp.flip(nan, axis=axis), axis=axis)
    first_max = xp.argmax(xp.where(nan, -xp.inf, v), axis=axis)
    return xp.where(nan.any(axis=axis), last_nan, first_max)


def _argmax_2d(xd: Any, oh: int, ow: int) -> Any:
    """int64 flat index (in each H*W plane) of each adaptive window's maximum: over W in each
    row first, then over the rows, which keeps the row-major scan's order (first maximum,
    last NaN)."""
    xp = get_array_module(xd)
    h, w = xd.shape[-2:]
    wi = xp.asarray(_windows(w, ow))  # (ow, kw)
    hi = xp.asarray(_windows(h, oh))  # (oh, kh)
    v1 = xd[..., wi]  # (..., H, ow, kw)
    p1 = _pick(v1, -1, xp)  # (..., H, ow)
    col = wi[xp.arange(ow), p1]  # input column of each row's winner
    m1 = xp.take_along_axis(v1, p1[..., None], axis=-1)[..., 0]
    p2 = _pick(m1[..., hi, :], -2, xp)  # (..., oh, kh, ow) -> (..., oh, ow)
    row = hi[xp.arange(oh)[:, None], p2]
    return row * w + xp.take_along_axis(col, row, axis=-2)


def _adaptive_max(x: Tensor, size: tuple[int, int], return_indices: bool, owner: str) -> Any:
    """x (..., H, W) pooled to size; (values, indices) with return_indices."""
    lead = x.shape[:-2]
    if 0 in x.shape[1:]:  # torch's check: every dimension but the first (also unbatched)
        raise _BadArgument(
            f"{owner}: input: expected a non-zero size in every dimension but the first, got "
            f"shape {tuple(x.shape)}"
        )
    oh, ow = size
    _F._check_alloc(lead + size, x.data.dtype, owner)
    planes, h, w = math.prod(lead), x.shape[-2], x.shape[-1]
    if oh * ow == 0 or planes == 0:
        xp = get_array_module(x.data)
        idx = xp.zeros(lead + size, dtype=np.int64)
    elif type(x.data) is np.ndarray and x.data.dtype in (np.float32, np.float64):
        # the CPU kernel: values and indices in one pass; its backward scatters dy to them
        y4, i4 = ops.adaptive_max_pool2d(x.data.reshape(1, planes, h, w), size)

        def _backward(g: Any) -> None:
            g4 = np.asarray(g).reshape(1, planes, oh, ow)
            dx = ops.adaptive_max_pool2d_backward(g4, i4, (1, planes, h, w))
            x._accumulate(dx.reshape(x.shape))

        db = lazy_scatter_dbackward(
            i4.reshape(lead + size), x.shape, 2, "adaptive_max_pool2d_backward"
        )
        y = Tensor._make(
            y4.reshape(lead + size), (x,), _backward, "adaptive_max_pool2d", saves=(), dbackward=db
        )
        return (y, Tensor(i4.reshape(lead + size).copy())) if return_indices else y
    else:  # device arrays: array ops, then gather
        idx = _argmax_2d(x.data, oh, ow)
    flat = x.reshape(*lead, x.shape[-2] * x.shape[-1])
    y = flat.gather(-1, Tensor(idx.reshape(*lead, oh * ow))).reshape(*lead, oh, ow)
    return (y, Tensor(idx.copy())) if return_indices else y


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """torch.nn.functional.adaptive_max_pool2d over (N, C, H, W) or (C, H, W): the maximum
    of each of torch's adaptive windows (a NaN wins: the last one; ties: the first);
    output_size: an int or a pair (None entries keep the input's size); with return_indices,
    also the int64 flat index of each maximum in its H*W plane."""
    owner = "adaptive_max_pool2d"
    x = _input(input, owner, (3, 4), owner)
    if output_size is None:
        raise TypeError(f"{owner}: output_size: expected an int or a pair, got None")
    return _adaptive_max(x, _out_sizes(output_size, x, 2, owner), bool(return_indices), owner)


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """torch.nn.functional.adaptive_max_pool1d over (N, C, L) or (C, L); output_size: an int
    (or a 1-tuple); with return_indices, also the int64 index of each maximum in L."""
    owner = "adaptive_max_pool1d"
    x = _input(input, owner, (2, 3), "adaptive_max_pool2d")
    (o,) = _out_sizes(output_size, x, 1, owner)
    r = _adaptive_max(x.unsqueeze(-2), (1, o), bool(return_indices), owner)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def adaptive_max_pool2d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.adaptive_max_pool2d_with_indices: (values, indices), always."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool1d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.adaptive_max_pool1d_with_indices: (values, indices), always."""
    return adaptive_max_pool1d(input, output_size, True)


# ---- power-average pooling -------------------------------------------------------------------


def _norm_type(p: Any, owner: str) -> float:
    if isinstance(p, Tensor) and p.ndim == 0:
        p = p.item()
    if not _is_number(p):
        raise TypeError(f"{owner}: norm_type: expected a number, got {type(p).__name__}")
    return float(p)


def _ints(v: Any, n: int, owner: str, name: str) -> tuple[Any, ...]:
    """kernel_size / stride as n values (an int repeats); other lengths: torch's ValueError
    for lp_pool2d's kernel_size (its unpacking), else RuntimeError (its avg_pool's)."""
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            err = ValueError if n == 2 and name == "kernel_size" else _BadArgument
            raise err(f"{owner}: {name}: expected an int or {n} ints, got {v!r}")
        return tuple(v)
    return (v,) * n


def _lp_pool(
    x: Tensor, p: float, k: tuple[Any, Any], s: tuple[Any, Any], ceil_mode: bool, owner: str
) -> Tensor:
    """torch's lp_pool on (..., H, W): p = +-inf: (minus) max_pool2d of (minus) |x|; else
    (sign(a) * relu(|a|) * kh * kw) ** (1 / p) for a = avg_pool2d(x ** p) (no padding; the
    zero-sum windows get a zero gradient through relu)."""
    ceil_mode = bool(ceil_mode)
    try:
        if math.isinf(p):
            a = x.abs() if p > 0 else -x.abs()
            y = _F._max_pool2d(a, k, s, 0, 1, ceil_mode, False, owner)
            return y if p > 0 else -y
        a = _F._avg_pool2d(x**p, k, s, 0, ceil_mode, True, None, owner)
    except ValueError as e:
        if isinstance(e, _BadArgument):
            raise
        raise _BadArgument(str(e)) from None
    if p == 0:  # checked here, after the pooling's own checks, as torch
        raise _ZeroNorm(f"{owner}: norm_type: expected a non-zero power (1 / norm_type), got 0")
    numel = k[0] * k[1]
    return (a.sign() * _F.relu(a.abs()) * numel) ** (1.0 / p)


def lp_pool2d(
    input: Any, norm_type: Any, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """torch.nn.functional.lp_pool2d over (N, C, H, W) or (C, H, W): each window's
    (sum of x ** norm_type) ** (1 / norm_type), computed as torch does (a negative window sum
    gives a NaN for a non-odd power); norm_type inf: the max of |x|, -inf: the min."""
    owner = "lp_pool2d"
    p = _norm_type(norm_type, owner)
    k = _ints(kernel_size, 2, owner, "kernel_size")
    s = k if stride is None else _ints(stride, 2, owner, "stride")
    x = _input(input, owner, (3, 4), "avg_pool2d")
    return _lp_pool(x, p, k, s, ceil_mode, owner)


def lp_pool1d(
    input: Any, norm_type: Any, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """torch.nn.functional.lp_pool1d over (N, C, L) or (C, L); see lp_pool2d."""
    owner = "lp_pool1d"
    p = _norm_type(norm_type, owner)
    (k,) = _ints(kernel_size, 1, owner, "kernel_size")
    (s,) = (k,) if stride is None else _ints(stride, 1, owner, "stride")
    x = _input(input, owner, (2, 3), "avg_pool2d")
    y = _lp_pool(x.unsqueeze(-2), p, (1, k), (1, s), ceil_mode, owner)
    return y.squeeze(-2)
