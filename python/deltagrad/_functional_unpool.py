"""Max unpooling of deltagrad.functional, as torch 2.13's torch.nn.functional: max_unpool1d,
max_unpool2d and max_unpool3d, the partial inverses of max_pool1d/2d/3d(return_indices=True).

Each value goes to the flat position its index names in its output plane (L, H*W or D*H*W),
the rest is zero: Tensor.scatter of the flattened input into zeros, whose backward is the gather
torch's is (every input element gets the output gradient at its index, also where two share
one; the forward keeps the last of those, as torch's CPU kernel). Any device Tensor.scatter
runs on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functional as _F
from ._functional_spatial import _BadArgument, _check_alloc, _is_int
from .tensor import Tensor, get_array_module

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


class _BadLength(_BadArgument, IndexError):
    """kernel_size, stride or padding of the wrong length: torch's IndexError (its size
    loop runs off a tuple) or RuntimeError (its kernel's count check), a ValueError too."""


class _IndexDtypeError(RuntimeError, TypeError):
    """Indices that are not int64: torch's RuntimeError; a TypeError too, as deltagrad's
    dtype errors are."""


def _ints(v: Any, n: int, op: str, arg: str) -> tuple[int, ...]:
    """An int (repeated) or n ints, as torch's _single / _pair / _triple arguments."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    if any(not _is_int(e) for e in vals):
        raise TypeError(f"{op}: {arg}: expected an int or a tuple of {n} ints, got {v!r}")
    if len(vals) != n:
        raise _BadLength(f"{op}: {arg}: expected an int or {n} ints, got {v!r}")
    return tuple(int(e) for e in vals)


def _output_size(
    spatial: tuple[int, ...],
    k: tuple[int, ...],
    s: tuple[int, ...],
    p: tuple[int, ...],
    output_size: Any,
    op: str,
) -> tuple[int, ...]:
    """torch's _unpool_output_size: (n - 1) * stride + kernel - 2 * padding per axis, or
    output_size (its spatial sizes, or with the batch and channel sizes first), each strictly
    within stride of that default; negative sizes refused."""
    nd = len(k)
    default = [(m - 1) * si + ki - 2 * pi for m, ki, si, pi in zip(spatial, k, s, p)]
    if output_size is None:
        size = default
    else:
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(
                f"{op}: output_size: expected a sequence of ints, got {type(output_size).__name__}"
            )
        vals = list(output_size)
        if len(vals) == nd + 2:
            vals = vals[2:]
        if len(vals) != nd:
            raise ValueError(
                f"{op}: output_size should be a sequence containing {nd} or {nd + 2} elements, "
                f"but it has a length of '{len(vals)}'"
            )
        if any(not _is_int(v) for v in vals):
            raise TypeError(f"{op}: output_size: expected ints, got {output_size!r}")
        for i, (v, dft, si) in enumerate(zip(vals, default, s)):
            if not dft - si < v < dft + si:
                raise ValueError(
                    f'{op}: invalid output_size "{output_size}" (dim {i} must be between '
                    f"{dft - si} and {dft + si})"
                )
        size = [int(v) for v in vals]
    for i, v in enumerate(size):
        if v < 0:
            raise ValueError(
                f"{op}: output_size must contain non-negative spatial dimensions, but got "
                f"output_size[{i}]={v}"
            )
    return tuple(size)


def _max_unpool(
    nd: int,
    input: Any,  # noqa: A002
    indices: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    output_size: Any,
) -> Tensor:
    op = f"max_unpool{nd}d"
    kernel = "max_unpool2d" if nd < 3 else "max_unpool3d"  # torch's 1-D form is its 2-D one
    k = _ints(kernel_size, nd, op, "kernel_size")
    s = k if stride is None else _ints(stride, nd, op, "stride")
    p = _ints(padding, nd, op, "padding")
    x = _F._tensor(input, f"{op}: input")
    idx = _F._tensor(indices, f"{op}: indices")
    if x.ndim not in (nd + 1, nd + 2):
        raise _BadArgument(
            f"{op}: input: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
            f"got shape {tuple(x.shape)}"
        )
    size = _output_size(tuple(x.shape[-nd:]), k, s, p, output_size, op)
    x = _F._float(x, op, kernel)
    if idx.data.dtype != np.int64:
        raise _IndexDtypeError(
            f"{op}: indices: elements in indices should be type int64 but got {idx.data.dtype}"
        )
    if tuple(idx.shape) != tuple(x.shape):
        raise _BadArgument(
            f"{op}: indices: expected the shape of the input {tuple(x.shape)}, got "
            f"{tuple(idx.shape)}"
        )
    if 0 in x.shape[1:]:
        raise _BadArgument(
            f"{op}: input: expected a non-zero size in every dimension but the first, got "
            f"shape {tuple(x.shape)}"
        )
    if nd == 3 and min(s) <= 0:
        raise _BadArgument(f"{op}: stride: strides should be greater than zero, got {s}")
    lead = tuple(x.shape[:-nd])
    vol = math.prod(size)
    _check_alloc((*lead, *size), x.data.dtype, op)
    xp = get_array_module(x.data)
    plane = math.prod(x.shape[-nd:])
    flat_idx = idx.data.reshape(*lead, plane)
    bad = (flat_idx < 0) | (flat_idx >= vol)
    if bool(bad.any()):
        first = int(flat_idx.reshape(-1)[int(xp.argmax(bad.reshape(-1)))])
        raise _BadArgument(
            f"{op}: indices: found an invalid max index {first} (the output planes are of size "
            f"{'x'.join(str(v) for v in size)})"
        )
    zeros = Tensor(xp.zeros((*lead, vol), dtype=x.data.dtype))
    y = zeros.scatter(-1, flat_idx, x.reshape(*lead, plane))
    return y.reshape(*lead, *size)


def max_unpool1d(
    input: Any,  # noqa: A002  (torch's name)
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """torch.nn.functional.max_unpool1d over (N, C, L) / (C, L): zeros of length
    (L - 1) * stride + kernel_size - 2 * padding (or output_size), each input value at its
    index (max_pool1d's return_indices)."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: Any,  # noqa: A002  (torch's name)
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """torch.nn.functional.max_unpool2d over (N, C, H, W) / (C, H, W): zeros of size
    (n - 1) * stride + kernel_size - 2 * padding per axis (or output_size), each input value at
    its flat index in the H*W plane (max_pool2d's return_indices)."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(
    input: Any,  # noqa: A002  (torch's name)
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """torch.nn.functional.max_unpool3d over (N, C, D, H, W) / (C, D, H, W): zeros of size
    (n - 1) * stride + kernel_size - 2 * padding per axis (or output_size), each input value at
    its flat index in the D*H*W volume (max_pool3d's return_indices)."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)
