"""3-D convolution and pooling of deltagrad.functional, as torch 2.13's torch.nn.functional:
conv3d, conv_transpose3d, max_pool3d, avg_pool3d, lp_pool3d, adaptive_avg_pool3d and
adaptive_max_pool3d (with return_indices), over (N, C, D, H, W) or unbatched (C, D, H, W)
input, on the 2-D kernels.

conv3d is ONE conv2d: the kD depth slices each output depth reads (x[:, :, o*s + k*d] for
k < kD) are stacked as channels, group-major so that `groups` carries over, in a batch of
N * D_out images; the weight (O, C/g, kD, kH, kW) becomes (O, kD * C/g, kH, kW). The gather,
conv2d and reshapes are differentiable Tensor ops, so autograd gives every gradient.

conv_transpose3d is that construction's adjoint: ONE conv_transpose2d over the N * D_in depth
slices, with the weight (C_in, C_out / g, kD, kH, kW) as (C_in, kD * C_out / g, kH, kW) (output
channels group-major, then the depth tap), gives each input slice's contribution to every
depth tap; tap k of slice i lands at output depth i * s + k * d - padding, so each tap's
slices are spread s apart (zero-stuffed), shifted and cropped by F.pad and slicing, and
summed. Every step is a Tensor op: autograd gives the gradients.

max_pool3d and avg_pool3d on float32 / float64 NumPy input run the CPU kernels of
csrc/cpu/pool3d.h (_cpu.max_pool3d, _cpu.avg_pool3d and their backward passes, deterministic at
any thread count); their double backward is the linear map of the backward (the gradient
scattered at the saved indices; the average's adjoint). Other input (CuPy, other dtypes) takes
the composed path below.

The composed pools split each 3-D box into an (H, W) window and a depth window. avg_pool3d and
adaptive_avg_pool3d average with the 2-D kernels over (H, W) of every depth slice, then over
the depth window (the divisors factor over the axes, as torch computes them). The max pools
find each (H, W) winner with the 2-D kernels (with indices), then the depth slice that wins,
keeping torch's scan rule in window order (d, h, w): the last NaN if there is one, else the
first maximum. The values are then gathered from the input (Tensor.gather: its backward sums
the gradient onto each winner, as torch's).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from . import _cpu
from . import _functional_dgrad as _dg2
from . import functional as _F
from . import ops as _ops
from ._functional_convt import (
    _check_groups,
    _check_operands,
    _check_values,
    _conv_transpose_checks,
    _ntuple,
    _transpose_out_size,
    conv_transpose2d,
)
from ._functional_pool_more import _norm_type, _pick, _windows, _ZeroNorm
from ._functional_spatial import _BadArgument, _check_alloc, _is_int
from .tensor import Tensor, get_array_module, is_grad_enabled, stack, where

__all__ = [
    "conv3d",
    "conv_transpose3d",
    "max_pool3d",
    "max_pool3d_with_indices",
    "avg_pool3d",
    "lp_pool3d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
]

_Triple = tuple[int, int, int]


# ---- conv3d ----------------------------------------------------------------------------------


def _conv_pads(
    padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...], op: str
) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding per spatial axis from an int, a triple, 'valid' or 'same'
    ('same': d (k - 1) in all, the odd one after, as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * 3
        if padding == "same":
            tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in tot)
        raise _BadArgument(
            f"{op}: padding: invalid padding string {padding!r}, should be one of "
            "{'valid', 'same'}"
        )
    return tuple((p, p) for p in _ntuple(padding, 3, op, "padding"))


def conv3d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution over input (N, C, D, H, W) or (C, D, H, W) with weight
    (out_channels, C / groups, kD, kH, kW) and bias (out_channels,) or None, as
    torch.nn.functional.conv3d: stride, padding and dilation an int or a triple; padding also
    'valid' or 'same' (stride 1 only). Zero padding. One conv2d over the depth gather (CPU, as
    conv2d)."""
    op = "conv3d"
    x, w = _F._tensor(input, f"{op}: input"), _F._tensor(weight, f"{op}: weight")
    b = None if bias is None else _F._tensor(bias, f"{op}: bias")
    _check_operands(op, x, w, b, 3)
    s = _ntuple(stride, 3, op, "stride")
    d = _ntuple(dilation, 3, op, "dilation")
    if isinstance(padding, str) and padding == "same" and any(v != 1 for v in s):
        raise _BadArgument(f"{op}: padding='same' is not supported for strided convolutions")
    pads = _conv_pads(padding, tuple(w.shape[2:]), d, op)
    groups = _check_values(op, s, [p for pr in pads for p in pr], d, groups)
    if x.ndim == 4:  # unbatched (C, D, H, W), as torch
        y = conv3d(x.reshape(1, *x.shape), w, b, s, padding, d, groups)
        return y.reshape(*y.shape[1:])
    o, cg, kd, kh, kw = w.shape
    _check_groups(op, x.shape, w.shape, groups, o, cg * groups, b)
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    eff = [di * (k - 1) + 1 for di, k in zip(d, w.shape[2:])]
    if any(p < e for p, e in zip(padded, eff)):
        raise _BadArgument(
            f"{op}: the padded input size per channel {tuple(padded)} is smaller than the "
            f"(dilated) kernel size {tuple(eff)}"
        )
    out = [(p - e) // si + 1 for p, e, si in zip(padded, eff, s)]
    n, c = x.shape[:2]
    _check_alloc((n, o, *out), x.data.dtype, op)
    _check_alloc((n * out[0], kd * c, *padded[1:]), x.data.dtype, op)
    # the depth padding (and the extra 'same' pads after H and W) as a copy; the symmetric
    # H / W padding is conv2d's
    (d0, d1), (h0, h1), (w0, w1) = pads
    if d0 or d1 or h1 > h0 or w1 > w0:
        x = _F.pad(x, (0, w1 - w0, 0, h1 - h0, d0, d1))
    xt = x.permute(0, 2, 1, 3, 4)  # (N, D, C, H, W)
    span = s[0] * (out[0] - 1) + 1
    taps = [xt[:, k * d[0] : k * d[0] + span : s[0]] for k in range(kd)]  # (N, D_out, C, H, W)
    g = taps[0].unsqueeze(2) if kd == 1 else stack(taps, dim=2)  # (N, D_out, kD, C, H, W)
    hw = g.shape[-2:]
    if groups > 1:  # channels group-major: (G, kD, C / G)
        g = g.reshape(n, out[0], kd, groups, cg, *hw).permute(0, 1, 3, 2, 4, 5, 6)
    g = g.reshape(n * out[0], kd * c, *hw)
    w2 = w.permute(0, 2, 1, 3, 4).reshape(o, kd * cg, kh, kw)
    y = _F.conv2d(g, w2, b, s[1:], (h0, w0), d[1:], groups)  # (N * D_out, O, H_out, W_out)
    return y.reshape(n, out[0], o, *y.shape[2:]).permute(0, 2, 1, 3, 4)


# ---- conv_transpose3d ------------------------------------------------------------------------


def conv_transpose3d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """3-D transposed convolution ("deconvolution") over input (N, C_in, D, H, W) or
    (C_in, D, H, W) with weight (C_in, C_out / groups, kD, kH, kW) and bias (C_out,) or None,
    as torch.nn.functional.conv_transpose3d: output size per axis (n - 1) * stride -
    2 * padding + dilation * (k - 1) + output_padding + 1; output_padding < stride or <
    dilation. One conv_transpose2d over the depth slices (CPU, as it)."""
    op = "conv_transpose3d"
    x, w, b, s, p, opad, groups, d = _conv_transpose_checks(
        op, 3, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    if x.ndim == 4:  # unbatched (C_in, D, H, W), as torch
        y = conv_transpose3d(x.reshape(1, *x.shape), w, b, s, p, opad, groups, d)
        return y.reshape(*y.shape[1:])
    _check_groups(op, x.shape, w.shape, groups, w.shape[1] * groups, w.shape[0], b)
    n, ci, di, hi, wi = x.shape
    _, cog, kd, kh, kw = w.shape
    out = _transpose_out_size(op, x, w, s, p, d, opad)
    co = cog * groups
    _check_alloc((n, co, *out), x.data.dtype, op)
    _check_alloc((n * di, kd * co, *out[1:]), x.data.dtype, op)
    # every depth slice through every depth tap: (N * D_in, G * kD * C_out / G, H_out, W_out)
    x2 = x.permute(0, 2, 1, 3, 4).reshape(n * di, ci, hi, wi)
    w2 = w.permute(0, 2, 1, 3, 4).reshape(ci, kd * cog, kh, kw)
    r = conv_transpose2d(x2, w2, None, s[1:], p[1:], opad[1:], groups, d[1:])
    plane = co * out[1] * out[2]
    r = r.reshape(n, di, groups, kd, cog, out[1], out[2]).permute(0, 3, 1, 2, 4, 5, 6)
    r = r.reshape(n, kd, di, 1, plane)
    if s[0] > 1:  # the slices s[0] apart: (N, kD, span, plane)
        r = _F.pad(r, (0, 0, 0, s[0] - 1))
    span = s[0] * (di - 1) + 1
    r = r.reshape(n, kd, di * s[0], plane)[:, :, :span]
    total = None
    for k in range(kd):  # tap k's slice j lands at output depth lo + j
        lo = k * d[0] - p[0]
        first, last = max(0, -lo), min(span, out[0] - lo)
        if first >= last:  # all of it in the cropped padding
            continue
        part = r[:, k, first:last]
        front, back = lo + first, out[0] - (lo + last)
        if front or back:
            part = _F.pad(part, (0, 0, front, back))
        total = part if total is None else total + part
    if total is None:  # no tap reaches the output (it is all output_padding): zeros
        total = _F.pad(r[:, 0, :0], (0, 0, 0, out[0]))
    y = total.reshape(n, out[0], co, out[1], out[2]).permute(0, 2, 1, 3, 4)
    if b is not None:
        y = y + b.reshape(co, 1, 1, 1)
    return y


# ---- argument checks of the pools ------------------------------------------------------------


def _triple(v: Any, op: str, arg: str) -> _Triple:
    """An int or 1 or 3 ints, as torch's pool arguments: TypeError for a non-int, its
    RuntimeError (a ValueError too) for another length."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if any(not _is_int(e) for e in vals):
        raise TypeError(f"{op}: {arg}: expected an int or a tuple of three ints, got {v!r}")
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3:
        raise _BadArgument(f"{op}: {arg} must either be a single int, or a tuple of three ints")
    return int(vals[0]), int(vals[1]), int(vals[2])


def _pool_input(input: Any, op: str, kernel: str, adaptive: bool) -> tuple[Tensor, bool]:
    """input as a float 5-D Tensor (a batch of one for (C, D, H, W)), and whether it was
    unbatched; torch's errors for another rank and for empty dimensions (all but the batch
    one; the adaptive pools also let an unbatched input have no channels)."""
    x = _F._float(_F._tensor(input, op), op, kernel)
    if x.ndim not in (4, 5):
        raise _BadArgument(
            f"{op}: input: expected a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) input, got shape "
            f"{tuple(x.shape)}"
        )
    first = 1 if adaptive or x.ndim == 5 else 0
    if 0 in x.shape[first:]:
        raise _BadArgument(
            f"{op}: input: expected a non-zero size in every dimension but the batch one, got "
            f"shape {tuple(x.shape)}"
        )
    return (x.unsqueeze(0), True) if x.ndim == 4 else (x, False)


def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: with ceil_mode, the last window must start inside the
    input or its leading padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_geometry(
    x: Tensor,
    op: str,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
) -> tuple[_Triple, _Triple, _Triple, _Triple, _Triple]:
    """(kernel, stride, padding, dilation, output size), checked as torch."""
    k = _triple(kernel_size, op, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else _triple(stride, op, "stride")
    p = _triple(padding, op, "padding")
    d = _triple(dilation, op, "dilation")
    if min(s) <= 0:
        raise _BadArgument(f"{op}: stride should not be zero, got {s}")
    if min(k) <= 0:
        raise _BadArgument(f"{op}: kernel_size should be greater than zero, got {k}")
    if min(p) < 0:
        raise _BadArgument(f"{op}: padding: pad must be non-negative, got {p}")
    if min(d) <= 0:
        raise _BadArgument(f"{op}: dilation should be greater than zero, got {d}")
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise _BadArgument(
            f"{op}: padding: pad should be smaller than or equal to half of kernel size, got "
            f"padding {p} and kernel_size {k}"
        )
    out = tuple(_pool_out(n, *g, bool(ceil_mode)) for n, *g in zip(x.shape[2:], k, s, p, d))
    if min(out) < 1:
        raise _BadArgument(
            f"{op}: given input size {tuple(x.shape[1:])}, the calculated output size "
            f"{(x.shape[1], *out)} is too small"
        )
    return k, s, p, d, out  # type: ignore[return-value]


def _first_taps(out: int, k: int, s: int, p: int, d: int, n: int) -> tuple[Any, Any, Any]:
    """The window taps o * s - p + j * d, (out, k), of one axis of n; whether each lies in the
    input; and torch's starting position of each window (its first tap >= 0)."""
    start = np.arange(out, dtype=np.int64) * s - p
    taps = start[:, None] + np.arange(k, dtype=np.int64) * d
    first = np.where(start < 0, start + (-start + d - 1) // d * d, start)
    return taps, (taps >= 0) & (taps < n), first


# ---- max_pool3d ------------------------------------------------------------------------------


def _pick_valid(v: Any, valid: Any, axis: int, xp: Any) -> Any:
    """_pick (the last NaN, else the first maximum) along axis among the valid positions."""
    nan = xp.isnan(v) & valid
    k = v.shape[axis]
    last_nan = k - 1 - xp.argmax(xp.flip(nan, axis=axis), axis=axis)
    masked = xp.where(valid & ~nan, v, -xp.inf)
    best = masked.max(axis=axis, keepdims=True)
    first_max = xp.argmax(valid & (masked == best), axis=axis)
    return xp.where(nan.any(axis=axis), last_nan, first_max)


def _on_kernels(x: Tensor) -> bool:
    """Whether x takes the CPU kernels of csrc/cpu/pool3d.h (NumPy float32 / float64)."""
    return type(x.data) is np.ndarray and x.data.dtype in (np.float32, np.float64)


def _contiguous(a: Any) -> Any:
    """a as the kernels take it: C-contiguous and aligned (a copy only where it is not)."""
    return np.require(a, None, ["C", "A"])


def _max_pool3d_cpu(x: Tensor, geo: tuple[Any, ...], return_indices: bool) -> tuple[Any, Any]:
    """(y, indices Tensor or None) of the 5-D x by _cpu.max_pool3d; under autograd, a node whose
    backward scatters the gradient at the indices (_cpu.max_pool3d_backward)."""
    xd = _contiguous(x.data)
    if not return_indices and not (x.requires_grad and is_grad_enabled()):
        return Tensor(_cpu.max_pool3d(xd, *geo, False)), None  # inference: no indices
    y, idx = _cpu.max_pool3d(xd, *geo, True)
    shape = tuple(x.shape)

    def _backward(g: Any) -> None:
        x._accumulate(_cpu.max_pool3d_backward(_contiguous(g), idx, shape, *geo))

    db = _dg2.lazy_scatter_dbackward(idx, shape, 3, "max_pool3d_backward")
    out = Tensor._make(y, (x,), _backward, "max_pool3d", saves=(), dbackward=db)
    return out, (Tensor(idx.copy()) if return_indices else None)  # the backward keeps idx


def _max_pool3d(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    op: str,
) -> Any:
    x, unbatched = _pool_input(input, op, "max_pool3d_with_indices_cpu", False)
    k, s, p, dl, out = _pool_geometry(x, op, kernel_size, stride, padding, dilation, ceil_mode)
    n, c, dd, hh, ww = x.shape
    if _on_kernels(x):
        _check_alloc((n, c, *out), x.data.dtype, op)
        y, idx_t = _max_pool3d_cpu(x, (k, s, p, dl, bool(ceil_mode)), return_indices)
        if unbatched:
            y = y.squeeze(0)
            idx_t = None if idx_t is None else idx_t.squeeze(0)
        return (y, idx_t) if return_indices else y
    _check_alloc((n, c, out[0], k[0], *out[1:]), x.data.dtype, op)
    xp = get_array_module(x.data)
    # each (H, W) window's winner in every depth slice, then the winning slice
    v2, i2 = _F.max_pool2d(
        Tensor(x.data.reshape(n * c, dd, hh, ww)), k[1:], s[1:], p[1:], dl[1:], ceil_mode, True
    )
    geo = [_first_taps(out[i], k[i], s[i], p[i], dl[i], x.shape[2 + i]) for i in range(3)]
    (taps, _, _), valid, first = geo[0], [g[1] for g in geo], [g[2] for g in geo]
    tap_d = xp.asarray(np.clip(taps, 0, dd - 1))  # (D_out, kD)
    vd = xp.asarray(valid[0])[None, :, :, None, None]
    kpos = _pick_valid(v2.data[:, tap_d], vd, 2, xp)  # (N*C, D_out, H_out, W_out)
    depth = tap_d[xp.arange(out[0])[:, None, None], kpos]
    plane = xp.take_along_axis(i2.data, depth, axis=1)
    idx = depth * (hh * ww) + plane
    # a window with no tap inside the input along some axis: -inf (torch's), its index torch's
    # start position (the (H, W) kernel's when only H or W is empty)
    empty = [~v.any(axis=1) for v in valid]
    hole = None
    if any(e.any() for e in empty):
        hole = xp.asarray(empty[0][:, None, None] | empty[1][:, None] | empty[2])
        start = (first[0][:, None, None] * hh + first[1][:, None]) * ww + first[2]
        idx = xp.where(xp.asarray(empty[0])[:, None, None], xp.asarray(start), idx)
    take = idx if hole is None else xp.where(hole, 0, idx)
    flat = x.reshape(n, c, dd * hh * ww)
    y = flat.gather(-1, Tensor(take.reshape(n, c, out[0] * out[1] * out[2])))
    y = y.reshape(n, c, *out)
    if hole is not None:
        y = where(Tensor(hole), float("-inf"), y)
    idx_t = Tensor(idx.reshape(n, c, *out).copy())  # gather's backward keeps idx
    if unbatched:
        y, idx_t = y.squeeze(0), idx_t.squeeze(0)
    return (y, idx_t) if return_indices else y


def max_pool3d(
    input: Any,  # noqa: A002  (torch's name)
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """torch.nn.functional.max_pool3d over (N, C, D, H, W) or (C, D, H, W): each window's
    maximum (a NaN wins: the last one; ties: the first in (d, h, w) order); with
    return_indices, also the int64 flat index of each maximum in its D*H*W volume."""
    return _max_pool3d(
        input, kernel_size, stride, padding, dilation, ceil_mode, bool(return_indices),
        "max_pool3d",
    )  # fmt: skip


def max_pool3d_with_indices(
    input: Any,  # noqa: A002
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.max_pool3d_with_indices: (values, indices), always."""
    return _max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True, "max_pool3d")


# ---- avg_pool3d ------------------------------------------------------------------------------


def _depth_sum(a: Tensor, k: int, s: int, lead: int, out: int) -> Tensor:
    """sum over j < k of a[:, j - lead + o * s] for o < out along axis 1, zero outside a."""
    n = a.shape[1]
    tail = max(0, (out - 1) * s + k - n - lead)
    if lead or tail:
        a = _F.pad(a, (0, 0, 0, 0, lead, tail))
    span = s * (out - 1) + 1
    total = a[:, 0:span:s]
    for j in range(1, k):
        total = total + a[:, j : j + span : s]
    return total


def _avg_pool3d_fwd(geo: tuple[Any, ...], a: Any) -> Any:
    return _cpu.avg_pool3d(_contiguous(a), *geo)


def _avg_pool3d_adj(shape: tuple[int, ...], geo: tuple[Any, ...], g: Any) -> Any:
    return _cpu.avg_pool3d_backward(_contiguous(g), shape, *geo)


def _avg_pool3d_maps(shape: tuple[int, ...], geo: tuple[Any, ...]) -> tuple[Any, Any, str]:
    """avg_pool3d as a linear map and its adjoint (its double backward)."""
    return (
        partial(_avg_pool3d_fwd, geo),
        partial(_avg_pool3d_adj, shape, geo),
        "avg_pool3d_backward",
    )


def _avg_pool3d_cpu(x: Tensor, geo: tuple[Any, ...]) -> Tensor:
    """avg_pool3d of the 5-D x by _cpu.avg_pool3d, its backward _cpu.avg_pool3d_backward."""
    y = _avg_pool3d_fwd(geo, x.data)
    shape = tuple(x.shape)

    def _backward(g: Any) -> None:
        x._accumulate(_avg_pool3d_adj(shape, geo, g))

    db = _dg2.lazy_linear_dbackward(_avg_pool3d_maps, shape, geo)
    return Tensor._make(y, (x,), _backward, "avg_pool3d", saves=(), dbackward=db)


def _avg_pool3d(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
    op: str,
) -> Tensor:
    x, unbatched = _pool_input(input, op, "avg_pool3d_out_frame", False)
    k, s, p, _, out = _pool_geometry(x, op, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not _is_int(divisor_override):
            raise TypeError(
                f"{op}: divisor_override: expected an int, got {type(divisor_override).__name__}"
            )
        if divisor_override == 0:
            raise _BadArgument(f"{op}: divisor_override: divisor must be not zero")
    n, c, dd, hh, ww = x.shape
    if _on_kernels(x):
        _check_alloc((n, c, *out), x.data.dtype, op)
        geo = (k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override)
        y = _avg_pool3d_cpu(x, geo)
        return y.squeeze(0) if unbatched else y
    _check_alloc((n * c, dd, *out[1:]), x.data.dtype, op)
    # the (H, W) means (sums with divisor_override) of every depth slice
    a = _F._avg_pool2d(
        x.reshape(n * c, dd, hh, ww), k[1:], s[1:], p[1:], bool(ceil_mode),
        bool(count_include_pad), None if divisor_override is None else 1, op,
    )  # fmt: skip
    total = _depth_sum(a, k[0], s[0], p[0], out[0])
    start = np.arange(out[0]) * s[0] - p[0]
    end = np.minimum(start + k[0], dd + p[0])
    if divisor_override is not None:
        div = np.full(out[0], float(divisor_override))
    elif count_include_pad:
        div = (end - start).astype(np.float64)
    else:
        div = (np.minimum(end, dd) - np.maximum(start, 0)).astype(np.float64)
    div = np.where(div == 0, 1.0, div)  # an empty window: torch's 0 (its sum is 0)
    xp = get_array_module(x.data)
    y = total / Tensor(xp.asarray(div.astype(x.data.dtype).reshape(-1, 1, 1)))
    y = y.reshape(n, c, *out)
    return y.squeeze(0) if unbatched else y


def avg_pool3d(
    input: Any,  # noqa: A002  (torch's name)
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
) -> Tensor:
    """torch.nn.functional.avg_pool3d over (N, C, D, H, W) or (C, D, H, W): each window's
    mean; count_include_pad: the zero padding counts in the divisor; divisor_override: a fixed
    divisor."""
    return _avg_pool3d(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
        "avg_pool3d",
    )  # fmt: skip


# ---- lp_pool3d -------------------------------------------------------------------------------


def lp_pool3d(
    input: Any,  # noqa: A002  (torch's name)
    norm_type: Any,
    kernel_size: Any,
    stride: Any = None,
    ceil_mode: bool = False,
) -> Tensor:
    """torch.nn.functional.lp_pool3d over (N, C, D, H, W) or (C, D, H, W): each window's
    (sum of x ** norm_type) ** (1 / norm_type), computed as torch does: (sign(a) * relu(|a|)
    * kD * kH * kW) ** (1 / norm_type) for a = avg_pool3d(x ** norm_type) (a negative window
    sum gives a NaN for a non-odd power; a zero one a zero gradient); norm_type inf: the max
    of |x|, -inf: the min."""
    op = "lp_pool3d"
    p = _norm_type(norm_type, op)
    if isinstance(kernel_size, (tuple, list)) and len(kernel_size) != 3:
        raise ValueError(  # torch's, from unpacking its _triple
            f"{op}: kernel_size: expected an int or 3 ints, got {kernel_size!r}"
        )
    x = _F._float(_F._tensor(input, op), op, "avg_pool3d_out_frame")
    if math.isinf(p):
        a = x.abs() if p > 0 else -x.abs()
        y = _max_pool3d(a, kernel_size, stride, 0, 1, ceil_mode, False, op)
        return y if p > 0 else -y
    a = _avg_pool3d(x**p, kernel_size, stride, 0, ceil_mode, True, None, op)
    if p == 0:  # checked here, after the pooling's own checks, as torch
        raise _ZeroNorm(f"{op}: norm_type: expected a non-zero power (1 / norm_type), got 0")
    numel = math.prod(_triple(kernel_size, op, "kernel_size"))
    return (a.sign() * _F.relu(a.abs()) * numel) ** (1.0 / p)


# ---- adaptive pools --------------------------------------------------------------------------


def _adaptive_size(output_size: Any, x: Tensor, op: str) -> _Triple:
    """output_size as three ints: an int, or three ints or None (None: the input's size)."""
    if isinstance(output_size, (tuple, list)):
        vals = tuple(output_size)
        if len(vals) != 3:
            raise _BadArgument(f"{op}: output_size must be 3, got {output_size!r}")
    elif _is_int(output_size):
        vals = (output_size,) * 3
    else:
        raise TypeError(
            f"{op}: output_size: expected an int or a tuple of three ints or None, got "
            f"{output_size!r}"
        )
    out = []
    for v, n in zip(vals, x.shape[-3:]):
        v = n if v is None else v
        if not _is_int(v):
            raise TypeError(f"{op}: output_size: expected ints or None, got {output_size!r}")
        if v < 0:
            raise _BadArgument(
                f"{op}: elements of output_size must be greater than or equal to 0, got "
                f"{output_size!r}"
            )
        out.append(int(v))
    return out[0], out[1], out[2]


def _adaptive_input(input: Any, output_size: Any, op: str) -> tuple[Tensor, bool, _Triple]:
    x, unbatched = _pool_input(input, op, f"{op}_cpu", True)
    size = _adaptive_size(output_size, x, op)
    _check_alloc((*x.shape[:2], *size), x.data.dtype, op)
    return x, unbatched, size


def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool3d over (N, C, D, H, W) or (C, D, H, W): the mean
    of each of torch's adaptive windows ([floor(i n / out), ceil((i + 1) n / out)) per axis);
    output_size: an int or a triple (None entries keep the input's size)."""
    op = "adaptive_avg_pool3d"
    x, unbatched, (od, oh, ow) = _adaptive_input(input, output_size, op)
    n, c, dd, hh, ww = x.shape
    if od == 1 and oh == 1 and dd * hh > 0:  # one window over (D, H): the 2-D pass on (D*H, W)
        y = _F._adaptive_avg_pool2d(x.reshape(n, c, dd * hh, ww), (1, ow), op)
        y = y.reshape(n, c, 1, 1, ow)
        return y.squeeze(0) if unbatched else y
    a = _F._adaptive_avg_pool2d(x.reshape(n * c, dd, hh, ww), (oh, ow), op)
    xp = get_array_module(x.data)
    i = np.arange(od, dtype=np.int64)
    start, end = i * dd // od, -(-(i + 1) * dd // od)
    kmax = int((end - start).max()) if od else 1
    total = None
    for j in range(kmax):  # the j-th depth of every window, where the window has one
        has = start + j < end
        t = a[:, xp.asarray(np.minimum(start + j, dd - 1))]
        if not has.all():
            t = where(Tensor(xp.asarray(has.reshape(-1, 1, 1))), t, 0.0)
        total = t if total is None else total + t
    cnt = (end - start).astype(x.data.dtype).reshape(-1, 1, 1)
    y = (total / Tensor(xp.asarray(cnt))).reshape(n, c, od, oh, ow)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool3d(
    input: Any,  # noqa: A002  (torch's name)
    output_size: Any,
    return_indices: bool = False,
) -> Any:
    """torch.nn.functional.adaptive_max_pool3d over (N, C, D, H, W) or (C, D, H, W): the
    maximum of each of torch's adaptive windows (a NaN wins: the last one; ties: the first in
    (d, h, w) order); output_size: an int or a triple (None entries keep the input's size);
    with return_indices, also the int64 flat index of each maximum in its D*H*W volume."""
    op = "adaptive_max_pool3d"
    x, unbatched, (od, oh, ow) = _adaptive_input(input, output_size, op)
    n, c, dd, hh, ww = x.shape
    xp = get_array_module(x.data)
    if od * oh * ow == 0 or n * c == 0:
        idx = xp.zeros((n, c, od, oh, ow), dtype=np.int64)
    else:
        v2, i2 = _F.adaptive_max_pool2d(Tensor(x.data.reshape(n * c, dd, hh, ww)), (oh, ow), True)
        if type(v2.data) is np.ndarray:  # the depth windows: the 2-D kernel over (D, H_out * W_out)
            # planes, one column a window (each column's first maximum or last NaN in depth)
            hw_out = oh * ow
            _, di = _ops.adaptive_max_pool2d(v2.data.reshape(1, n * c, dd, hw_out), (od, hw_out))
            depth = (di // hw_out).reshape(n * c, od, oh, ow)
        else:
            tap = xp.asarray(_windows(dd, od))  # (D_out, kmax), the last depth repeated
            kpos = _pick(v2.data[:, tap], 2, xp)  # (N*C, D_out, H_out, W_out)
            depth = tap[xp.arange(od)[:, None, None], kpos]
        plane = xp.take_along_axis(i2.data, depth, axis=1)
        idx = (depth * (hh * ww) + plane).reshape(n, c, od, oh, ow)
    flat = x.reshape(n, c, dd * hh * ww)
    y = flat.gather(-1, Tensor(idx.reshape(n, c, od * oh * ow))).reshape(n, c, od, oh, ow)
    idx_t = Tensor(idx.copy())  # gather's backward keeps idx
    if unbatched:
        y, idx_t = y.squeeze(0), idx_t.squeeze(0)
    return (y, idx_t) if return_indices else y


def adaptive_max_pool3d_with_indices(
    input: Any,  # noqa: A002
    output_size: Any,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.adaptive_max_pool3d_with_indices: (values, indices), always."""
    return adaptive_max_pool3d(input, output_size, True)
