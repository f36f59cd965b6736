"""The spatial and shape functions of deltagrad.functional, as torch 2.13's
torch.nn.functional: pad, pixel_shuffle / pixel_unshuffle, interpolate and the channel-wise
dropouts (dropout1d / dropout2d / dropout3d). (group_norm and instance_norm, built on
layer_norm / batch_norm, live in functional.py beside them.)

Padding (but for "constant") and interpolation are index maps along each spatial axis: the
forward takes (for the linear, cubic, antialiased and area modes: blends several of) the input
positions each output position reads, the backward sums the gradient back onto them; one graph
node per call, on numpy or cupy arrays. The rest is built from Tensor ops, whose backward comes
with them.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from functools import partial
from typing import Any

import numpy as np

from . import ops
from ._functional_dgrad import lazy_linear_dbackward
from ._random import get_rng
from .backends._args import check_device_array, is_device_array
from .tensor import Tensor, _fit_scalar, _ShapeError, get_array_module, is_grad_enabled

__all__ = [
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "interpolate",
    "dropout1d",
    "dropout2d",
    "dropout3d",
]


# A size, padding or argument value torch refuses with a RuntimeError; deltagrad raises
# ValueError for a bad value, so this is both: tensor.py's _ShapeError, the one such class.
_BadArgument = _ShapeError


class _SizeOverflow(_BadArgument, OverflowError):
    """An infinite output size: torch's upsampling kernels refuse it with a RuntimeError, its
    "area" mode (Python's int()) with an OverflowError; this is both."""


class _AllocError(RuntimeError, MemoryError):
    """A result larger than this machine's memory: torch's kind (its allocator's RuntimeError
    "can't allocate memory"); a MemoryError too, as numpy's was."""


@functools.lru_cache(maxsize=1)
def _host_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def _check_alloc(shape: Any, dtype: Any, op: str) -> None:
    """An _AllocError naming op, before anything is allocated, when a result of this shape and
    dtype would not fit in the machine's physical memory (a size beyond int64 is left to the
    callee's own error)."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    limit = _host_memory()
    if limit is not None and limit < nbytes < 2**63:
        raise _AllocError(
            f"{op}: the result of shape {tuple(int(n) for n in shape)} ({np.dtype(dtype)}) would "
            f"take {nbytes} bytes, more than this machine's memory ({limit} bytes)"
        )


def _tensor(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if is_device_array(x):
        return Tensor(check_device_array(x, op, "input"))
    raise TypeError(f"{op}: input: expected a Tensor or an array, got {type(x).__name__}")


def _float_tensor(x: Any, op: str) -> Tensor:
    x = _tensor(x, op)
    if x.data.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input: expected a float32 or float64 tensor, got dtype {x.dtype}")
    return x


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    """An int or float; bools too, as torch takes them for a float argument."""
    return isinstance(v, (int, float, np.integer, np.floating, np.bool_))


# ---- index maps along one axis, and their adjoint -------------------------------------------


def _index_add(g: Any, axis: int, idx: Any, n: int, xp: Any) -> Any:
    """The adjoint of xp.take(., idx, axis): g summed onto n positions along axis, position i
    getting every g[..., j, ...] with idx[j] == i, added in increasing j (as torch's loops):
    dg.ops.index_add's kernel (np.add.at's sums bit for bit, 7-20x faster than the rounds of
    fancy-indexed adds it replaced on linear interpolation's reads), cupyx's scatter-add on
    a GPU."""
    shape = g.shape[:axis] + (n,) + g.shape[axis + 1 :]
    out = xp.zeros(shape, dtype=g.dtype)
    if g.size == 0 or idx.size == 0:
        return out
    return ops.index_add_(out, axis, idx, g)


def _resample(x: Tensor, steps: list[tuple[Any, ...]], op: str) -> Tensor:
    """x resampled along some axes, one step per axis, in order: (axis, terms) or (axis, terms,
    divisors), the output along axis being sum_k weight_k * x.take(index_k) over terms
    (index_k, weight_k), divided by divisors where given. A None weight means a plain take; a
    negative index, no read (that term adds nothing there: torch's antialiased and area kernels
    read a number of taps that varies with the output position, and a tap read with weight 0
    would turn an inf into NaN). One graph node; its backward runs the adjoints in reverse."""
    xp = get_array_module(x.data)
    prepared = []
    for step in steps:
        axis, terms = step[0], step[1]
        div = step[2] if len(step) > 2 else None
        ts = []
        for i, w in terms:
            i = np.asarray(i)
            sel = keep = None
            if i.size and i.min() < 0:
                keep = xp.asarray(i >= 0)
                sel = xp.asarray(np.flatnonzero(i >= 0))  # the output positions it reads for
                i = np.maximum(i, 0)
            ts.append((xp.asarray(i), None if w is None else xp.asarray(w), sel, keep))
        prepared.append((axis, ts, None if div is None else xp.asarray(div)))
    sizes: list[int] = []
    d = _resample_apply(prepared, sizes, x.data)

    def _backward(g: Any) -> None:
        x._accumulate(_resample_adjoint(prepared, sizes, g))

    db = lazy_linear_dbackward(_resample_maps, prepared, sizes, op)
    return Tensor._make(d, (x,), _backward, op, saves=(), dbackward=db)


def _resample_maps(prepared: list[Any], sizes: list[int], op: str) -> tuple[Any, Any, str]:
    fwd = partial(_resample_apply, prepared, None)
    return fwd, partial(_resample_adjoint, prepared, sizes), op


def _resample_apply(prepared: list[Any], sizes: list[int] | None, d: Any) -> Any:
    """_resample's map on an array (the input sizes per step appended to sizes if given)."""
    xp = get_array_module(d)
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf is NaN, as in torch
        for axis, terms, div in prepared:
            if sizes is not None:
                sizes.append(d.shape[axis])
            wshape = (-1,) + (1,) * (d.ndim - axis - 1)
            out = None
            for idx, w, sel, keep in terms:
                t = xp.take(d, idx, axis=axis)
                if w is not None:
                    t = w.reshape(wshape) * t
                if sel is not None:
                    t = xp.where(keep.reshape(wshape), t, 0)
                out = t if out is None else out + t
            d = out if div is None else out / div.reshape(wshape)
    return d


def _resample_adjoint(prepared: list[Any], sizes: list[int], g: Any) -> Any:
    """_resample's backward: the adjoints of its steps, in reverse."""
    xp = get_array_module(g)
    with np.errstate(invalid="ignore", over="ignore"):
        for (axis, terms, div), n in zip(reversed(prepared), reversed(sizes)):
            wshape = (-1,) + (1,) * (g.ndim - axis - 1)
            if div is not None:
                g = g / div.reshape(wshape)
            parts, idxs = [], []
            for idx, w, sel, _ in terms:
                p = g if w is None else g * w.reshape(wshape)
                if sel is not None:
                    p, idx = xp.take(p, sel, axis=axis), idx[sel]
                parts.append(p)
                idxs.append(idx)
            if len(parts) == 1:
                g = _index_add(parts[0], axis, idxs[0], n, xp)
            else:
                cat = xp.concatenate(parts, axis=axis)
                g = _index_add(cat, axis, xp.concatenate(idxs), n, xp)
    return g


# ---- pad ------------------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_constant(x: Tensor, pairs: list[tuple[int, int]], value: Any) -> Tensor:
    """x with (before, after) pairs added to its last len(pairs) dims, filled with value; a
    negative pad crops (as torch: it may not crop more than the input has)."""
    xp = get_array_module(x.data)
    k = len(pairs)
    lead = x.shape[: x.ndim - k]
    out_shape, src, dst = list(lead), [slice(None)] * len(lead), [slice(None)] * len(lead)
    for n, (lo, hi) in zip(x.shape[x.ndim - k :], pairs):
        if n + min(lo, 0) + min(hi, 0) < 0:
            raise _BadArgument(
                f"pad: padding ({lo}, {hi}) crops {-min(lo, 0) - min(hi, 0)} elements from a "
                f"dimension of size {n} (torch: narrow(): length must be non-negative)"
            )
        m = n + lo + hi
        if m < 0:
            raise _BadArgument(
                f"pad: The input size {n}, plus negative padding {lo} and {hi} resulted in a "
                f"negative output size, which is invalid"
            )
        out_shape.append(m)
        j0, j1 = max(lo, 0), min(m, lo + n)  # the output positions that read the input
        src.append(slice(j0 - lo, max(j1, j0) - lo))
        dst.append(slice(j0, max(j1, j0)))
    src_t, dst_t = tuple(src), tuple(dst)
    _check_alloc(out_shape, x.data.dtype, "pad")
    try:  # torch takes value as a C double, then converts it checked: 1e300 fails for float32
        v = float(value)
    except OverflowError:
        raise OverflowError(f"pad: value: int too large to convert to float ({value})") from None
    out = xp.full(tuple(out_shape), _fit_scalar(v, x.data.dtype, "pad", "value"), x.data.dtype)
    out[dst_t] = x.data[src_t]

    def _backward(g: Any) -> None:
        x._accumulate(_crop(x.shape, src_t, dst_t, g))

    db = lazy_linear_dbackward(_pad_maps, tuple(out_shape), x.shape, src_t, dst_t)
    return Tensor._make(out, (x,), _backward, "constant_pad_nd", saves=(), dbackward=db)


def _pad_maps(out_shape: Any, shape: Any, src: Any, dst: Any) -> tuple[Any, Any, str]:
    """Constant (zero) padding as a linear map and its adjoint (the double backward)."""
    fwd, adj = partial(_crop, out_shape, dst, src), partial(_crop, shape, src, dst)
    return fwd, adj, "constant_pad_nd"


def _crop(shape: tuple[int, ...], src: tuple[slice, ...], dst: tuple[slice, ...], g: Any) -> Any:
    """Constant padding's backward: g's values at dst, in zeros of shape at src."""
    gx = get_array_module(g).zeros(shape, dtype=g.dtype)
    gx[src] = g[dst]
    return gx


def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The input position each output position of one padded dim reads."""
    m = n + lo + hi
    if mode == "circular":  # torch crops by the negative pads first, then wraps
        start = max(-lo, 0)
        kept = n - start - max(-hi, 0)
        if m == 0:
            return np.zeros(0, dtype=np.int64)
        return start + (np.arange(m) - max(lo, 0)) % kept
    u = np.arange(m) - lo
    if mode == "replicate":
        return np.clip(u, 0, n - 1)
    u = np.abs(u)  # reflect (each pad < n): mirror about 0 and about n - 1
    return np.where(u > n - 1, 2 * (n - 1) - u, u)


def _check_nonconstant(x: Tensor, k: int, pairs: list[tuple[int, int]], mode: str) -> None:
    """torch's checks for reflect / replicate / circular padding of the last k dims."""
    spatial = x.shape[x.ndim - k :]
    outs = [n + lo + hi for n, (lo, hi) in zip(spatial, pairs)]
    names = "DHW"[3 - k :]
    if mode == "circular":
        for n, (lo, hi), m in zip(spatial, pairs, outs):
            if lo > n or hi > n:
                raise _BadArgument(
                    f"pad: mode 'circular': padding ({lo}, {hi}) of a dimension of size {n}: "
                    "Padding value causes wrapping around more than once."
                )
            if m < 0:
                raise _BadArgument(
                    f"pad: mode 'circular': padding ({lo}, {hi}) of a dimension of size {n}: "
                    "Negative padding value is resulting in an empty dimension"
                )
            kept = n - max(-lo, 0) - max(-hi, 0)
            if max(lo, 0) > kept or max(hi, 0) > kept:  # torch reads past the input here
                raise _BadArgument(
                    f"pad: mode 'circular': padding ({lo}, {hi}) of a dimension of size {n} "
                    f"wraps more than once around the {kept} elements the negative padding "
                    "leaves"
                )
        return
    batched = x.ndim == k + 2
    if any(s == 0 for s in x.shape[1 if batched else 0 :]):
        raise _BadArgument(
            f"pad: mode {mode!r}: Expected {k + 1}D or {k + 2}D (batch mode) tensor with "
            f"possibly 0 batch size and other non-zero dimensions for input, but got: "
            f"{list(x.shape)}"
        )
    if mode == "reflect":
        for i, (n, (lo, hi)) in enumerate(zip(spatial, pairs)):
            if lo >= n or hi >= n:
                raise _BadArgument(
                    f"pad: mode 'reflect': Padding size should be less than the corresponding "
                    f"input dimension, but got: padding ({lo}, {hi}) at dimension "
                    f"{x.ndim - k + i} of input {list(x.shape)}"
                )
    if all(m < 1 for m in outs) or any(m < 0 for m in outs):
        sizes = " ".join(f"{c}: {n}" for c, n in zip(names, spatial))
        got = " ".join(f"{c}: {m}" for c, m in zip(names, outs))
        raise _BadArgument(
            f"pad: mode {mode!r}: input ({sizes}) is too small. Calculated output {got}"
        )


def pad(input: Any, pad: Any, mode: str = "constant", value: Any = None) -> Tensor:  # noqa: A002
    """torch.nn.functional.pad: pad = (left, right) for the last dim, then (top, bottom) for the
    one before, ... (a negative pad crops). mode "constant" (fill with value, default 0; any
    number of dims), or "reflect" / "replicate" / "circular" for the last 1, 2 or 3 dims of a
    2-3, 3-4 or 4-5 dim input (torch's combinations). Differentiable."""
    op = "pad"
    x = _tensor(input, op)
    if not isinstance(pad, (tuple, list)) or not all(_is_int(p) for p in pad):
        raise TypeError(f"{op}: pad: expected a tuple of ints, got {pad!r}")
    if not isinstance(mode, str):
        raise TypeError(f"{op}: mode: expected a str, got {type(mode).__name__}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(
            f"{op}: Unrecognised padding mode {mode} (expected one of {list(_PAD_MODES)})"
        )
    if value is not None and not _is_number(value):
        raise TypeError(f"{op}: value: expected a number or None, got {type(value).__name__}")
    pads = [int(p) for p in pad]
    if len(pads) % 2:
        raise _BadArgument(f"{op}: Padding length must be divisible by 2, got {len(pads)}")
    k = len(pads) // 2
    if k > x.ndim:
        raise _BadArgument(
            f"{op}: Padding length should be less than or equal to two times the input "
            f"dimension but got padding length {len(pads)} and input of dimension {x.ndim}"
        )
    pairs = [(pads[2 * i], pads[2 * i + 1]) for i in range(k)][::-1]  # first padded dim first
    if mode == "constant":
        return _pad_constant(x, pairs, 0 if value is None else value)
    if value is not None and value != 0:
        raise _BadArgument(f'{op}: Padding mode "{mode}" doesn\'t take in value argument')
    if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"{op}: Padding size {len(pads)} is not supported for {x.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    _check_nonconstant(x, k, pairs, mode)
    lead = x.shape[: x.ndim - k]
    out_shape = lead + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[-k:], pairs))
    _check_alloc(out_shape, x.dtype, op)
    steps, plans = [], []
    for i, (lo, hi) in enumerate(pairs):
        if lo or hi:
            axis = x.ndim - k + i
            steps.append((axis, [(_pad_index(x.shape[axis], lo, hi, mode), None)]))
            plans.append((axis, _pad_plan(x.shape[axis], lo, hi, mode)))
    if not steps:
        return x.clone()
    if all(plan is not None for _, plan in plans):
        return _pad_direct(x, plans, out_shape, f"{mode}_pad")
    return _resample(x, steps, f"{mode}_pad")


# A padded dim as slices: the centre (the output positions o0 .. o0 + n_c - 1 read the input's
# s0 .. s0 + n_c - 1) and the strips around it, (o0, o1, s, step): output o0 + j reads s + step j
# (step 0: every position reads s, replicate's edges; -1: reflect's mirror; 1: circular's wrap)
_PadPlan = tuple[tuple[int, int, int], tuple[tuple[int, int, int, int], ...]]


def _pad_plan(n: int, lo: int, hi: int, mode: str) -> _PadPlan | None:
    """_pad_index(n, lo, hi, mode) as a centre and strips, when every strip reads inside the
    centre (so the forward fills the strips from the output's own centre, the backward adds
    them onto the gradient's); None otherwise (the index map's path takes it: crops that the
    mirror reads back from)."""
    s0, s1 = max(-lo, 0), n - max(-hi, 0)  # the input positions the output keeps, in order
    nc = s1 - s0
    if nc <= 0:
        return None
    o0 = max(lo, 0)
    strips = []
    if lo > 0:
        if mode == "replicate":
            strips.append((0, lo, 0, 0))
        elif mode == "reflect":
            strips.append((0, lo, lo, -1))
        else:  # circular: the last lo kept positions
            strips.append((0, lo, s1 - lo, 1))
    if hi > 0:
        if mode == "replicate":
            strips.append((o0 + nc, o0 + nc + hi, n - 1, 0))
        elif mode == "reflect":
            strips.append((o0 + nc, o0 + nc + hi, n - 2, -1))
        else:
            strips.append((o0 + nc, o0 + nc + hi, s0, 1))
    for a, b, s, step in strips:
        last = s + step * (b - a - 1)
        if not (s0 <= min(s, last) and max(s, last) < s1):
            return None
    return (o0, s0, nc), tuple(strips)


def _run(start: int, count: int, step: int) -> slice:
    """The positions start, start + step, ... (count of them; step 0: start alone)."""
    if step == 0:
        return slice(start, start + 1)
    if step == 1:
        return slice(start, start + count)
    end = start - count
    return slice(start, end if end >= 0 else None, -1)


def _at(ndim: int, axis: int, s: Any) -> tuple[Any, ...]:
    return (slice(None),) * axis + (s,) + (slice(None),) * (ndim - axis - 1)


# a strip whose positions hold fewer elements than this (the dims after its own) is moved one
# position at a time: a few long strided loops, not numpy's loop per short row (3-7x faster
# for the last dim's edges)
_PER_POSITION = 32


def _copy_into(dst: Any, src: Any) -> None:
    """dst[...] = src; on numpy, with rows whose last dim is contiguous in both, as one loop of
    row-sized byte copies (about 20% faster than numpy's loop per row of elements)."""
    n = src.shape[-1] if src.ndim else 0
    if (
        isinstance(dst, np.ndarray)
        and n > 1
        and dst.shape == src.shape
        and dst.dtype == src.dtype
        and dst.strides[-1] == src.strides[-1] == src.itemsize
    ):
        row = np.dtype((np.void, n * src.itemsize))
        dst.view(row)[...] = src.view(row)
        return
    dst[...] = src


def _pad_direct_fwd(plans: list[tuple[int, _PadPlan]], out_shape: Any, d: Any) -> Any:
    """Reflect / replicate / circular padding by slices: the input's kept block copied into
    the output once, then each dim's strips filled from the output itself (the dims done
    before in full, those after over their centre alone)."""
    xp = get_array_module(d)
    out = xp.empty(out_shape, dtype=d.dtype)
    nd = d.ndim
    dst, src = [slice(None)] * nd, [slice(None)] * nd
    for axis, ((o0, s0, nc), _) in plans:
        dst[axis], src[axis] = slice(o0, o0 + nc), slice(s0, s0 + nc)
    _copy_into(out[tuple(dst)], d[tuple(src)])
    for axis, ((o0, s0, _), strips) in plans:
        single = math.prod(out_shape[axis + 1 :]) < _PER_POSITION
        for a, b, s, step in strips:
            rd = list(dst)
            if single:
                for j in range(b - a):
                    dst[axis], rd[axis] = a + j, s + step * j - s0 + o0
                    out[tuple(dst)] = out[tuple(rd)]
            else:
                dst[axis], rd[axis] = slice(a, b), _run(s - s0 + o0, b - a, step)
                out[tuple(dst)] = out[tuple(rd)]
        dst[axis] = slice(None)
    return out


def _pad_direct_adj(plans: list[tuple[int, _PadPlan]], in_shape: Any, g: Any) -> Any:
    """_pad_direct_fwd's adjoint: the gradient's centre block copied once, each strip (summed
    over its length for replicate's edges) added onto the input positions it read."""
    xp = get_array_module(g)
    covers = all(s0 == 0 and nc == in_shape[axis] for axis, ((_, s0, nc), _) in plans)
    gx = (xp.empty if covers else xp.zeros)(in_shape, dtype=g.dtype)
    _pad_adj_into(gx, g, plans, True)
    return gx


def _pad_adj_into(gx: Any, g: Any, plans: list[tuple[int, _PadPlan]], assign: bool) -> None:
    """gx (an input-shaped view) set to (assign) or increased by the adjoint of the padding of
    plans' dims applied to g: the padding is a product of one map per dim, so its adjoint is
    each dim's in turn; the centre first (the strips of every dim read inside the centres)."""
    if not plans:
        if assign:
            _copy_into(gx, g)
        else:
            gx += g
        return
    (axis, ((o0, s0, nc), strips)), rest = plans[0], plans[1:]
    nd = g.ndim
    _pad_adj_into(
        gx[_at(nd, axis, slice(s0, s0 + nc))], g[_at(nd, axis, slice(o0, o0 + nc))], rest, assign
    )
    single = math.prod(g.shape[axis + 1 :]) < _PER_POSITION
    for a, b, s, step in strips:
        if single:  # one position at a time (an int index, long loops, for the last dim)
            for j in range(b - a):
                pos_g, pos_x = (
                    (a + j, s + step * j)
                    if not rest
                    else (
                        slice(a + j, a + j + 1),
                        slice(s + step * j, s + step * j + 1),
                    )
                )
                _pad_adj_into(gx[_at(nd, axis, pos_x)], g[_at(nd, axis, pos_g)], rest, False)
            continue
        piece = g[_at(nd, axis, slice(a, b))]
        if step == 0:
            piece = piece.sum(axis=axis, keepdims=True)
        _pad_adj_into(gx[_at(nd, axis, _run(s, b - a, step))], piece, rest, False)


def _pad_direct(
    x: Tensor, plans: list[tuple[int, _PadPlan]], out_shape: tuple[int, ...], op: str
) -> Tensor:
    """x padded by _pad_direct_fwd, as one graph node (backward _pad_direct_adj)."""
    out = _pad_direct_fwd(plans, out_shape, x.data)
    in_shape = tuple(x.shape)

    def _backward(g: Any) -> None:
        x._accumulate(_pad_direct_adj(plans, in_shape, g))

    db = lazy_linear_dbackward(_pad_direct_maps, plans, out_shape, in_shape, op)
    return Tensor._make(out, (x,), _backward, op, saves=(), dbackward=db)


def _pad_direct_maps(
    plans: list[tuple[int, _PadPlan]], out_shape: Any, in_shape: Any, op: str
) -> tuple[Any, Any, str]:
    return partial(_pad_direct_fwd, plans, out_shape), partial(_pad_direct_adj, plans, in_shape), op


# ---- pixel_shuffle / pixel_unshuffle ----------------------------------------------------------


def _factor(v: Any, op: str, name: str) -> int:
    if not _is_int(v):
        raise TypeError(f"{op}: {name}: expected an int, got {v!r}")
    if v <= 0:
        raise _BadArgument(f"{op}: expects a positive {name}, but got {v}")
    return int(v)


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C r^2, H, W) -> (*, C, H r, W r), as torch: out[..., c, h r + i, w r + j] =
    in[..., c r^2 + i r + j, h, w]. Differentiable (a reshape and a permute)."""
    op = "pixel_shuffle"
    x = _tensor(input, op)
    r = _factor(upscale_factor, op, "upscale_factor")
    if x.ndim < 3:
        raise _BadArgument(
            f"{op}: expects input to have at least 3 dimensions, but got input with {x.ndim} "
            "dimension(s)"
        )
    *b, c, h, w = x.shape
    if c % (r * r):
        raise _BadArgument(
            f"{op}: expects its input's 'channel' dimension to be divisible by the square of "
            f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    nb = len(b)
    y = x.reshape(*b, c // (r * r), r, r, h, w)
    y = y.permute(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return y.reshape(*b, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle, as torch.
    Differentiable (a reshape and a permute)."""
    op = "pixel_unshuffle"
    x = _tensor(input, op)
    r = _factor(downscale_factor, op, "downscale_factor")
    if x.ndim < 3:
        raise _BadArgument(
            f"{op}: expects input to have at least 3 dimensions, but got input with {x.ndim} "
            "dimension(s)"
        )
    *b, c, h, w = x.shape
    for name, n, d in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise _BadArgument(
                f"{op}: expects {name} to be divisible by downscale_factor, but "
                f"input.size({d})={n} is not divisible by {r}"
            )
    nb = len(b)
    y = x.reshape(*b, c, h // r, r, w // r, r)
    y = y.permute(*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return y.reshape(*b, c * r * r, h // r, w // r)


# ---- interpolate ----------------------------------------------------------------------------

_INTERP_DIMS = {"linear": 3, "bilinear": 4, "trilinear": 5}
_INTERP_ALL = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


def _area_scale(n_in: int, n_out: int, align_corners: bool, scale: Any, dt: Any) -> Any:
    """torch's area_pixel_compute_scale in the op-math type dt: the input step per output
    step; a given scale_factor s enters as 1 / s (computed in double, then cast)."""
    if align_corners:
        return dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
    if scale is not None and scale > 0:
        return dt(1.0 / scale)
    return dt(n_in) / dt(n_out)


def _source_index(s: Any, n_out: int, align_corners: bool, dt: Any, cubic: bool = False) -> Any:
    """torch's area_pixel_compute_source_index for every output position, in dt (clamped at 0
    but for the cubic kernel's)."""
    i = np.arange(n_out).astype(dt)
    if align_corners:
        return s * i
    real = s * (i + dt(0.5)) - dt(0.5)
    return real if cubic else np.where(real < 0, dt(0), real).astype(dt)


def _floorf(v: Any) -> Any:
    """C's floorf on a float or double: the value rounded to float32 first (as torch's
    kernels call it), then floored."""
    return np.floor(np.asarray(v).astype(np.float32)).astype(np.int64)


def _nearest_index(n_in: int, n_out: int, scale: Any, exact: bool, dt: Any) -> np.ndarray:
    """The input position each output position reads, as torch's CPU nearest kernels:
    floor(i * s) ("nearest") or floor((i + 0.5) * s) ("nearest-exact"), capped at n_in - 1."""
    s = _area_scale(n_in, n_out, False, scale, dt)
    if exact:
        idx = _floorf(_source_index(s, n_out, False, dt).astype(np.float64) + 0.5)
    else:
        idx = _floorf(_source_index(s, n_out, True, dt))
    return np.minimum(idx, n_in - 1)


def _linear_terms(
    n_in: int, n_out: int, align_corners: bool, scale: Any, dt: Any
) -> list[tuple[Any, Any]]:
    """torch's two source positions and weights for linear interpolation along one axis:
    out[i] = l0[i] * x[i0[i]] + l1[i] * x[i1[i]] (the same size: i0 = i1 = i, l0 = 1, l1 = 0,
    which torch computes too: an inf becomes NaN there, as in torch)."""
    if n_in == n_out:
        i = np.arange(n_out)
        return [(i, np.ones(n_out, dt)), (i, np.zeros(n_out, dt))]
    s = _area_scale(n_in, n_out, align_corners, scale, dt)
    real = _source_index(s, n_out, align_corners, dt)
    i0 = np.minimum(_floorf(real), n_in - 1)
    l1 = np.clip(real - i0.astype(dt), dt(0), dt(1)).astype(dt)
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, (dt(1) - l1).astype(dt)), (i1, l1)]


def _cubic1(x: Any, a: Any) -> Any:
    """torch's cubic_convolution1: the cubic convolution kernel on |x| <= 1."""
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic2(x: Any, a: Any) -> Any:
    """torch's cubic_convolution2: the cubic convolution kernel on 1 < |x| < 2."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _cubic_terms(
    n_in: int, n_out: int, align_corners: bool, scale: Any, dt: Any
) -> list[tuple[Any, Any]]:
    """torch's four source positions and weights for bicubic interpolation along one axis
    (cubic convolution, A = -0.75): the taps i0 - 1 .. i0 + 2 around i0 = floor(source),
    clamped to the input, so a border tap is read more than once. No shortcut for equal sizes
    (torch has none: a weight-0 tap reading an inf gives NaN there too)."""
    a = dt(-0.75)
    s = _area_scale(n_in, n_out, align_corners, scale, dt)
    real = _source_index(s, n_out, align_corners, dt, cubic=True)
    i0 = np.minimum(_floorf(real), n_in - 1)
    t = np.clip(real - i0.astype(dt), dt(0), dt(1)).astype(dt)
    u = (1 - t).astype(dt)
    ws = [_cubic2(t + 1, a), _cubic1(t, a), _cubic1(u, a), _cubic2(u + 1, a)]
    return [(np.clip(i0 + j - 1, 0, n_in - 1), w.astype(dt)) for j, w in enumerate(ws)]


def _aa_linear(x: Any, dt: Any) -> Any:
    """torch's triangle filter for antialiased bilinear resampling."""
    x = np.abs(x)
    return np.where(x < 1, 1 - x, dt(0)).astype(dt)


def _aa_cubic(x: Any, dt: Any) -> Any:
    """torch's cubic filter for antialiased bicubic resampling (A = -0.5, as PIL)."""
    a = dt(-0.5)
    x = np.abs(x)
    return np.where(x < 1, _cubic1(x, a), np.where(x < 2, _cubic2(x, a), dt(0))).astype(dt)


def _aa_lanczos(x: Any, dt: Any) -> Any:
    """torch's Lanczos filter (a = 3): sinc(x) sinc(x / 3) on |x| < 3, computed in float64."""
    x = np.abs(np.asarray(x, np.float64))
    return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0.0).astype(dt)


# each antialiased mode's filter and its support at scale 1 (torch's interp_size)
_AA_FILTERS = {"bilinear": (_aa_linear, 2), "bicubic": (_aa_cubic, 4), "lanczos": (_aa_lanczos, 6)}


def _aa_terms(
    n_in: int, n_out: int, align_corners: bool, scale: Any, dt: Any, mode: str
) -> list[tuple[Any, Any]]:
    """torch's antialiased resampling along one axis (its _compute_indices_min_size_weights_aa,
    in dt as its CPU kernel): output i reads the taps xmin .. xmin + xsize - 1 about the
    center s (i + 0.5), with the filter's support stretched by the step s when downscaling
    (s > 1), the weights filter((tap - center + 0.5) / max(s, 1)) normalized to sum 1. Term j
    is the j-th tap of every output (index -1 where an output has fewer taps)."""
    filt, interp_size = _AA_FILTERS[mode]
    f64 = np.float64
    s = _area_scale(n_in, n_out, align_corners, scale, dt)
    half = interp_size * 0.5
    support = dt(half * f64(s)) if s >= 1 else dt(half)
    width = int(math.ceil(support)) * 2 + 1  # torch's max_interp_size: the most taps
    invscale = dt(1.0 / f64(s)) if s >= 1 else dt(1)
    center = ((np.arange(n_out) + 0.5) * f64(s)).astype(dt)
    xmin = np.maximum(((center - support).astype(f64) + 0.5).astype(np.int64), 0)
    xmax = np.minimum(((center + support).astype(f64) + 0.5).astype(np.int64), n_in)
    xsize = np.clip(xmax - xmin, 0, width)
    taps, ws = [], []
    total = np.zeros(n_out, dt)
    for j in range(width):
        u = ((xmin + j).astype(dt) - center).astype(f64) + 0.5
        w = np.where(j < xsize, filt((u * f64(invscale)).astype(dt), dt), dt(0))
        total = (total + w).astype(dt)
        taps.append(np.where(j < xsize, xmin + j, -1))
        ws.append(w)
    nz = total != 0
    safe = np.where(nz, total, dt(1))
    return [(i, np.where(nz, w / safe, w).astype(dt)) for i, w in zip(taps, ws)]


def _area_step(axis: int, n_in: int, n_out: int, dt: Any) -> tuple[Any, ...]:
    """torch's adaptive average pooling along one axis as a resample step: output i is the
    mean of the inputs floor(i n_in / n_out) .. ceil((i + 1) n_in / n_out) - 1."""
    i = np.arange(n_out)
    start = i * n_in // n_out
    count = ((i + 1) * n_in + n_out - 1) // n_out - start
    width = int(count.max()) if n_out else 1
    terms = [(np.where(j < count, start + j, -1), None) for j in range(width)]
    return (axis, terms, count.astype(dt))


def _output_size(
    x: Tensor, size: Any, scale_factor: Any, recompute: Any, dim: int, op: str
) -> tuple[list[int], list[float] | None]:
    """torch's interpolate arguments -> (output spatial sizes, the scale factors the kernels
    use, or None)."""
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ValueError(
                f"{op}: recompute_scale_factor is not meaningful with an explicit size."
            )
        sizes = list(size) if isinstance(size, (list, tuple)) else None
        if sizes is not None and len(sizes) != dim:
            raise ValueError(
                f"{op}: Input and output must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(x.shape[2:])} and output size of "
                f"{size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                "output size in (o1, o2, ...,oK) format."
            )
        sizes = [size] * dim if sizes is None else sizes
        if not all(_is_int(s) for s in sizes):
            raise TypeError(
                f"{op}: expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                f"Tuple[int, int, int], but got size {size!r}"
            )
        return [int(s) for s in sizes], None
    if scale_factor is None:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    scales = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else None
    if scales is not None and len(scales) != dim:
        raise ValueError(
            f"{op}: Input and scale_factor must have the same number of spatial dimensions, "
            f"but got input with spatial dimensions of {list(x.shape[2:])} and scale_factor of "
            f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
            "format and scale_factor in (s1, s2, ...,sK) format."
        )
    scales = [scale_factor] * dim if scales is None else scales
    if not all(_is_number(s) for s in scales):
        raise TypeError(f"{op}: scale_factor: expected a float or a tuple of floats, got {scales}")
    scales = [float(s) for s in scales]
    sizes = []
    for n, s in zip(x.shape[2:], scales):
        v = n * s
        if not math.isfinite(v) or abs(v) >= 2.0**63:
            raise (_SizeOverflow if math.isinf(v) else _BadArgument)(
                f"{op}: scale_factor {s}: the output size {v} cannot be converted to type "
                "int64_t without overflow"
            )
        sizes.append(int(v))  # torch truncates (toward zero)
    return sizes, (None if recompute else scales)


def _check_area(x: Tensor, sizes: list[int], op: str) -> None:
    """torch's adaptive_avg_pool{1,2,3}d checks, which interpolate's "area" mode goes through:
    output sizes >= 0 (0 gives an empty result), the pooled dims (for 5-D input, the channels
    too) non-empty."""
    pool = f"adaptive_avg_pool{3 if x.ndim == 5 else 2}d"
    if any(m < 0 for m in sizes):
        raise _BadArgument(
            f"{op}: mode 'area': {pool}: elements of output_size must be greater than or equal "
            f"to 0 but received {sizes}"
        )
    for d in range(1 if x.ndim == 5 else 2, x.ndim):
        if x.shape[d] == 0:
            raise _BadArgument(
                f"{op}: mode 'area': {pool}(): Expected input to have non-zero size for "
                f"non-batch dimensions, but input has sizes {list(x.shape)} with dimension {d} "
                "being empty"
            )


def interpolate(
    input: Any,  # noqa: A002
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """torch.nn.functional.interpolate for modes "nearest", "nearest-exact" and "area" (3-D,
    4-D or 5-D input), "linear" (3-D), "bilinear", "bicubic" and "lanczos" (4-D) and
    "trilinear" (5-D), align_corners True or False (for "lanczos" False), antialias for
    "bilinear" and "bicubic" ("lanczos" requires it), with torch's CPU index and weight
    formulas: a scale_factor, unless recompute_scale_factor, sets the output size floor(n * s)
    and the source step 1 / s ("area", adaptive average pooling, always recomputes).
    Differentiable."""
    op = "interpolate"
    x = _tensor(input, op)
    if not isinstance(mode, str):
        raise TypeError(f"{op}: mode: expected a str, got {type(mode).__name__}")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                f"{op}: align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    elif not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"{op}: align_corners: expected a bool or None, got {align_corners!r}")
    dim = x.ndim - 2
    sizes, scales = _output_size(x, size, scale_factor, recompute_scale_factor, dim, op)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and x.ndim == 4):
        raise ValueError(
            f"{op}: Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    if mode == "lanczos" and x.ndim == 4:
        if align_corners:
            raise ValueError(f"{op}: Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError(f"{op}: Lanczos mode requires antialias=True")
    want = _INTERP_DIMS.get(mode)
    if want is not None and x.ndim in (3, 4, 5) and x.ndim != want:
        raise NotImplementedError(f"{op}: Got {x.ndim}D input, but {mode} mode needs {want}D input")
    known = want is not None or mode in ("nearest", "nearest-exact", "area")
    if not (known or (mode in ("bicubic", "lanczos") and x.ndim == 4)) or x.ndim not in (3, 4, 5):
        raise NotImplementedError(
            f"{op}: Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) "
            f"for the modes: {_INTERP_ALL} (got {mode})"
        )
    x = _float_tensor(x, op)
    spatial = x.shape[2:]
    if mode == "area":
        _check_area(x, sizes, op)
    elif any(n <= 0 for n in spatial) or any(m <= 0 for m in sizes):
        names = "DHW"[3 - dim :]
        ins = ", ".join(f"{c}: {n}" for c, n in zip(names, spatial))
        outs = ", ".join(f"{c}: {m}" for c, m in zip(names, sizes))
        raise _BadArgument(
            f"{op}: Input and output sizes should be greater than 0, but got input ({ins}) and "
            f"output ({outs})"
        )
    elif x.shape[1] == 0:
        raise _BadArgument(
            f"{op}: Non-empty {x.ndim}D data tensor expected but got a tensor with sizes "
            f"{list(x.shape)}"
        )
    _check_alloc(x.shape[:2] + tuple(sizes), x.data.dtype, op)
    dt = x.data.dtype.type  # torch's op-math type: float for float32, double for float64
    corners = bool(align_corners)
    steps: list[tuple[Any, ...]] = []
    for i in reversed(range(dim)):  # the last axis first: torch's order of the blends
        axis, n_in, n_out = 2 + i, spatial[i], sizes[i]
        s = None if scales is None else scales[i]
        if mode in ("nearest", "nearest-exact"):
            idx = _nearest_index(n_in, n_out, s, mode == "nearest-exact", dt)
            if n_in != n_out or not np.array_equal(idx, np.arange(n_out)):
                steps.append((axis, [(idx, None)]))
        elif mode == "area" or antialias:
            # torch's separable kernels leave an axis of unchanged size as it is (for
            # antialias even with a scale_factor other than 1)
            if n_in != n_out:
                steps.append(
                    _area_step(axis, n_in, n_out, dt)
                    if mode == "area"
                    else (axis, _aa_terms(n_in, n_out, corners, s, dt, mode))
                )
        elif mode == "bicubic":
            steps.append((axis, _cubic_terms(n_in, n_out, corners, s, dt)))
        else:
            steps.append((axis, _linear_terms(n_in, n_out, corners, s, dt)))
    if not steps:
        return x.clone()
    return _resample(x, steps, f"upsample_{mode}")


# ---- channel-wise dropout ---------------------------------------------------------------------


def _dropout_p(p: Any, op: str) -> float:
    if not _is_number(p):
        raise TypeError(f"{op}: p: expected a float in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def _feature_dropout(
    x: Tensor, p: float, training: bool, inplace: bool, batched: bool, op: str
) -> Tensor:
    """Zero whole channels with probability p, scale the rest by 1 / (1 - p): one draw per
    (sample, channel), dims 0 and 1 (unbatched: per channel, dim 0)."""
    if x.ndim + (0 if batched else 1) < 2:
        raise _BadArgument(f"{op}: Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0.0 or x.data.size == 0:
        return x
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: input: expected a float32 or float64 tensor, got dtype {x.dtype}")
    lead = x.shape[:2] if batched else x.shape[:1]
    keep = get_rng().random(lead) >= p
    noise = keep / (1.0 - p) if p < 1.0 else np.zeros(lead)
    noise = noise.astype(x.data.dtype).reshape(lead + (1,) * (x.ndim - len(lead)))
    mask = Tensor(get_array_module(x.data).asarray(noise))
    # the activations' rule (functional._writes_input): in place unless a graph records
    # through x, where deltagrad cannot rebase x's history and returns a new tensor
    if inplace and not (x.requires_grad and is_grad_enabled()):
        return x.mul_(mask)
    return x * mask


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel-wise dropout of (N, C, L) or unbatched (C, L) input, as torch: each channel
    zeroed with probability p (deltagrad's generator), the rest scaled by 1 / (1 - p)."""
    op = "dropout1d"
    p = _dropout_p(p, op)
    x = _tensor(input, op)
    if x.ndim not in (2, 3):
        raise _BadArgument(
            f"{op}: Expected 2D or 3D input, but received a {x.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    return _feature_dropout(x, p, training, inplace, x.ndim == 3, op)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel-wise dropout of (N, C, H, W) input, as torch (a 3-D input, with torch's
    warning, is taken as (N, C, L); other dims warn too and drop along dims 0 and 1)."""
    op = "dropout2d"
    p = _dropout_p(p, op)
    x = _tensor(input, op)
    if x.ndim not in (3, 4):
        warnings.warn(
            f"{op}: Received a {x.ndim}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if x.ndim == 3:
        warnings.warn(
            f"{op}: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
            "behavior is desired - input is interpreted as shape (N, C, L), where C is the "
            "channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _feature_dropout(x, p, training, inplace, True, op)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel-wise dropout of (N, C, D, H, W) or unbatched (C, D, H, W) input, as torch
    (other dims warn, as torch's, and are taken as unbatched)."""
    op = "dropout3d"
    p = _dropout_p(p, op)
    x = _tensor(input, op)
    if x.ndim not in (4, 5):
        warnings.warn(
            f"{op}: Received a {x.ndim}-D input to dropout3d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    return _feature_dropout(x, p, training, inplace, x.ndim == 5, op)
