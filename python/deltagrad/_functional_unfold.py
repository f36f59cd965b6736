"""Sliding blocks and sampling grids of deltagrad.functional, as torch 2.13's
torch.nn.functional: unfold (im2col) and fold (col2im), affine_grid and grid_sample, and
gumbel_softmax.

unfold and fold are each other's adjoint: one graph node each, whose forward is a loop over
the kh * kw kernel taps of strided slices of a zero-padded array (never over the output
positions), and whose backward is the other's forward. grid_sample is one graph node too: its
forward reads, for each output point, the input at 1 (nearest), 2**nd (bilinear) or 16
(bicubic) taps with weights computed as torch's CPU kernels compute them, and its backward sums
the output gradient back onto those taps (input) and through the weights' derivatives (grid);
its double backward (create_graph=True) recomputes the output from Tensor ops at the same taps.
affine_grid and gumbel_softmax are built from Tensor ops, whose backward comes with them. All
run on numpy or cupy arrays.
"""

from __future__ import annotations

import itertools
import math
import warnings
from functools import partial
from typing import Any

import numpy as np

from . import _cpu
from . import functional as _F
from ._functional_dgrad import lazy_linear_dbackward, linear_map, on_array, recompute_dbackward
from ._functional_spatial import _BadArgument, _check_alloc, _index_add, _is_int, _is_number
from ._random import get_rng
from .tensor import Tensor, get_array_module, where

__all__ = ["unfold", "fold", "affine_grid", "grid_sample", "gumbel_softmax"]


class _DimError(_BadArgument, IndexError):
    """An input with too few dimensions for unfold: torch's IndexError (dimension out of
    range); a ValueError too, as deltagrad's shape errors are."""


class _DtypeMismatch(RuntimeError, TypeError):
    """grid_sample's input and grid of two dtypes: torch's RuntimeError; a TypeError too, as
    deltagrad's dtype errors are."""


def _pair(v: Any, op: str, arg: str) -> tuple[int, int]:
    """torch's _pair argument: an int (repeated) or two ints."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if any(not _is_int(e) for e in vals):
        raise TypeError(f"{op}: {arg}: expected an int or a tuple of 2 ints, got {v!r}")
    if len(vals) == 1 and not isinstance(v, (tuple, list)):
        vals = vals * 2
    if len(vals) != 2:
        raise _BadArgument(f"{op}: It is expected {arg} equals to 2, but got size {len(vals)}")
    return int(vals[0]), int(vals[1])


def _tdiv(a: int, b: int) -> int:
    """a / b rounded toward zero, as C++'s integer division (torch's size arithmetic)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _check_geometry(op: str, k: Any, d: Any, p: Any, s: Any) -> None:
    """torch's im2col / col2im argument checks, in its order."""
    if min(k) <= 0:
        raise _BadArgument(
            f"{op}: kernel size should be greater than zero, but got kernel_height: {k[0]} "
            f"kernel_width: {k[1]}"
        )
    if min(s) <= 0:
        raise _BadArgument(
            f"{op}: stride should be greater than zero, but got stride_height: {s[0]} "
            f"stride_width: {s[1]}"
        )
    if min(d) <= 0:
        raise _BadArgument(
            f"{op}: dilation should be greater than zero, but got dilation_height: {d[0]} "
            f"dilation_width: {d[1]}"
        )
    if min(p) < 0:
        raise _BadArgument(
            f"{op}: padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}"
        )


def _blocks(size: Any, k: Any, d: Any, p: Any, s: Any) -> tuple[int, int]:
    """The number of sliding blocks along each axis (torch's formula, C++ division)."""
    return tuple(  # type: ignore[return-value]
        _tdiv(n + 2 * pi - (di * (ki - 1) + 1), si) + 1
        for n, ki, di, pi, si in zip(size, k, d, p, s)
    )


def _tap_slices(i: int, j: int, blocks: Any, d: Any, s: Any) -> tuple[slice, ...]:
    """The strided slice of the padded image that kernel tap (i, j) reads for every block."""
    r0, c0 = i * d[0], j * d[1]
    return (
        slice(None),
        slice(None),
        slice(r0, r0 + s[0] * (blocks[0] - 1) + 1, s[0]),
        slice(c0, c0 + s[1] * (blocks[1] - 1) + 1, s[1]),
    )


def _im2col(a: Any, k: Any, d: Any, p: Any, s: Any, blocks: Any) -> Any:
    """(B, C, H, W) -> (B, C*kh*kw, L): each block's pixels, channel-major as torch's."""
    xp = get_array_module(a)
    b, c, h, w = a.shape
    padded = a
    if any(p):
        padded = xp.zeros((b, c, h + 2 * p[0], w + 2 * p[1]), dtype=a.dtype)
        padded[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = a
    cols = xp.empty((b, c, k[0], k[1], blocks[0], blocks[1]), dtype=a.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            cols[:, :, i, j] = padded[_tap_slices(i, j, blocks, d, s)]
    return cols.reshape(b, c * k[0] * k[1], blocks[0] * blocks[1])


def _taps_disjoint(blocks: int, k: int, d: int, s: int) -> bool:
    """Whether the positions o * s + i * d (o < blocks, i < k) along one axis are distinct."""
    pos = (np.arange(blocks)[:, None] * s + np.arange(k) * d).ravel()
    return np.unique(pos).size == pos.size


def _col2im(cols: Any, size: Any, k: Any, d: Any, p: Any, s: Any, blocks: Any) -> Any:
    """(B, C*kh*kw, L) -> (B, C, H, W): each column summed onto the pixels it came from (the
    adjoint of _im2col); overlaps add, in increasing tap order as torch's loop."""
    xp = get_array_module(cols)
    b = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    h, w = size
    cols = cols.reshape(b, c, k[0], k[1], blocks[0], blocks[1])
    shape = (b, c, h + 2 * p[0], w + 2 * p[1])
    # taps that never meet (o * s + i * d distinct along each axis: kernel == stride, or
    # dilated windows interleaving): every pixel receives one tap at most, written (plus 0.0,
    # so that -0.0 ends as torch's zero-started sum, +0.0) rather than added into zeros; when
    # they also tile the image (patchify: kernel == stride, no padding) nothing stays zero
    disjoint = all(_taps_disjoint(blocks[a], k[a], d[a], s[a]) for a in (0, 1))
    tiled = disjoint and not any(p) and all(blocks[a] * s[a] == shape[2 + a] for a in (0, 1))
    tiled = tiled and all(d[a] == 1 and k[a] == s[a] for a in (0, 1))
    padded = xp.empty(shape, dtype=cols.dtype) if tiled else xp.zeros(shape, dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            at = _tap_slices(i, j, blocks, d, s)
            if disjoint:
                xp.add(cols[:, :, i, j], 0.0, out=padded[at])
            else:
                padded[at] += cols[:, :, i, j]
    return xp.ascontiguousarray(padded[:, :, p[0] : p[0] + h, p[1] : p[1] + w])


def _im2col_maps(size: Any, k: Any, d: Any, p: Any, s: Any, blocks: Any, op: str) -> Any:
    """unfold (im2col) and its adjoint fold (col2im): the double backward's linear maps."""
    return on_array(_im2col, k, d, p, s, blocks), on_array(_col2im, size, k, d, p, s, blocks), op


def _col2im_maps(size: Any, k: Any, d: Any, p: Any, s: Any, blocks: Any, op: str) -> Any:
    fwd, adj, _ = _im2col_maps(size, k, d, p, s, blocks, op)
    return adj, fwd, op


def unfold(
    input: Any,  # noqa: A002  (torch's name)
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Sliding local blocks of a (N, C, H, W) or unbatched (C, H, W) input, as
    torch.nn.functional.unfold (im2col): (N, C * kh * kw, L), L the number of blocks."""
    op = "unfold"
    k = _pair(kernel_size, op, "kernel_size")
    d = _pair(dilation, op, "dilation")
    p = _pair(padding, op, "padding")
    s = _pair(stride, op, "stride")
    x = _F._tensor(input, f"{op}: input")
    _check_geometry(op, k, d, p, s)
    if x.ndim < 3:
        raise _DimError(
            f"{op}: input: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
            f"{tuple(x.shape)}"
        )
    if x.ndim > 4 or 0 in x.shape[-3:]:
        raise _BadArgument(
            f"{op}: Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {list(x.shape)}"
        )
    x = _F._float(x, op, "im2col_out_cpu")
    blocks = _blocks(x.shape[-2:], k, d, p, s)
    if min(blocks) < 1:
        raise _BadArgument(
            f"{op}: Given input with spatial size {tuple(x.shape[-2:])}, kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"{blocks}, but its components must be at least one."
        )
    unbatched = x.ndim == 3
    x4 = x.reshape(1, *x.shape) if unbatched else x
    _check_alloc((x4.shape[0], x4.shape[1] * k[0] * k[1], *blocks), x.data.dtype, op)
    size = tuple(x4.shape[-2:])

    def _backward(g: Any) -> None:
        x4._accumulate(_col2im(g, size, k, d, p, s, blocks))

    db = lazy_linear_dbackward(_im2col_maps, size, k, d, p, s, blocks, op)
    y = Tensor._make(
        _im2col(x4.data, k, d, p, s, blocks), (x4,), _backward, op, saves=(), dbackward=db
    )
    return y.reshape(*y.shape[1:]) if unbatched else y


def fold(
    input: Any,  # noqa: A002  (torch's name)
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Sliding local blocks (N, C * kh * kw, L) or unbatched (C * kh * kw, L) summed into an
    (N, C, *output_size) image, as torch.nn.functional.fold (col2im): overlaps add."""
    op = "fold"
    size = _pair(output_size, op, "output_size")
    k = _pair(kernel_size, op, "kernel_size")
    d = _pair(dilation, op, "dilation")
    p = _pair(padding, op, "padding")
    s = _pair(stride, op, "stride")
    x = _F._tensor(input, f"{op}: input")
    _check_geometry(op, k, d, p, s)
    if x.ndim not in (2, 3) or 0 in x.shape[-2:]:
        raise _BadArgument(
            f"{op}: Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size "
            f"and non-zero dimensions for input, but got: {list(x.shape)}"
        )
    x = _F._float(x, op, "col2im_out_cpu")
    ck, n_blocks = x.shape[-2], x.shape[-1]
    if ck % (k[0] * k[1]) != 0:
        raise _BadArgument(
            f"{op}: Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ck} and kernel_size={k}."
        )
    blocks = _blocks(size, k, d, p, s)
    if blocks[0] < 1 or blocks[1] < 1 or blocks[0] * blocks[1] != n_blocks:
        raise _BadArgument(
            f"{op}: Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's dimension 2 to match the calculated number "
            f"of sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
            f"input.size(2)={n_blocks}."
        )
    unbatched = x.ndim == 2
    x3 = x.reshape(1, *x.shape) if unbatched else x
    _check_alloc((x3.shape[0], ck // (k[0] * k[1]), *size), x.data.dtype, op)

    def _backward(g: Any) -> None:
        x3._accumulate(_im2col(g, k, d, p, s, blocks))

    db = lazy_linear_dbackward(_col2im_maps, size, k, d, p, s, blocks, op)
    y = Tensor._make(
        _col2im(x3.data, size, k, d, p, s, blocks), (x3,), _backward, op, saves=(), dbackward=db
    )
    return y.reshape(*y.shape[1:]) if unbatched else y


# ---- affine_grid ----------------------------------------------------------------------------

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def _align(align_corners: Any) -> bool:
    """align_corners, with torch's warning and its default (False) for None."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


def _linspace(n: int, align_corners: bool, dtype: Any) -> np.ndarray:
    """torch's linspace_from_neg_one: n points over [-1, 1] (the pixel centres when not
    align_corners); a single point is 0."""
    if n <= 1:
        return np.zeros(max(n, 0), dtype=dtype)
    r = np.linspace(-1.0, 1.0, n, dtype=np.float64)
    if not align_corners:
        r = r * (n - 1) / n
    return r.astype(dtype)


def affine_grid(theta: Any, size: Any, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps, as torch.nn.functional.affine_grid:
    theta (N, 2, 3) and size (N, C, H, W) give (N, H, W, 2); theta (N, 3, 4) and size
    (N, C, D, H, W) give (N, D, H, W, 3). Differentiable in theta."""
    op = "affine_grid"
    align = _align(align_corners)
    t = _F._tensor(theta, f"{op}: theta")
    if t.data.dtype.kind != "f":
        raise ValueError(
            f"{op}: Expected theta to have floating point type, but got {t.data.dtype}"
        )
    if not isinstance(size, (tuple, list)) or any(not _is_int(v) for v in size):
        raise TypeError(f"{op}: size: expected a sequence of ints, got {size!r}")
    size = [int(v) for v in size]
    if len(size) == 4:
        if t.ndim != 3 or tuple(t.shape[-2:]) != (2, 3):
            raise ValueError(
                f"{op}: Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                f"Got {tuple(t.shape)}."
            )
    elif len(size) == 5:
        if t.ndim != 3 or tuple(t.shape[-2:]) != (3, 4):
            raise ValueError(
                f"{op}: Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                f"Got {tuple(t.shape)}."
            )
    else:
        raise NotImplementedError(
            f"{op}: affine_grid only supports 4D and 5D sizes, for 2D and 3D affine "
            f"transforms, respectively. Got size {size}."
        )
    spatial = size[2:]
    if align and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            UserWarning,
            stacklevel=2,
        )
    if min(size) <= 0 and not (align and min(spatial) == 1 and min(size) == 0):
        raise ValueError(f"{op}: Expected non-zero, positive output size. Got {size}")
    if t.shape[0] != size[0]:
        raise _BadArgument(
            f"{op}: theta: expected a batch of {size[0]} matrices (size[0]), got {t.shape[0]}"
        )
    nd = len(spatial)
    dt = t.data.dtype
    _check_alloc((size[0], *spatial, nd), dt, op)
    # base (*spatial, nd + 1): x (along W), y (along H)[, z (along D)], then 1
    axes = [_linspace(n, align, dt) for n in reversed(spatial)]  # W, H[, D]
    mesh = np.meshgrid(*axes, indexing="ij")  # indexed (W, H[, D])
    base = np.stack([m.transpose() for m in mesh] + [np.ones(spatial, dtype=dt)], axis=-1)
    xp = get_array_module(t.data)
    b = Tensor(xp.asarray(base.reshape(1, -1, nd + 1)))
    # grid[n, p, i] = sum_j base[p, j] * theta[n, i, j]: one batched matmul, as torch's bmm
    grid = b @ t.transpose(1, 2)
    return grid.reshape(size[0], *spatial, nd)


# ---- grid_sample ----------------------------------------------------------------------------

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")
_CUBIC_A = -0.75


def _clip_grad(c: Any, n: int, xp: Any) -> tuple[Any, Any]:
    """c clipped to [0, n - 1] and its derivative: 0 outside and on the borders too, as
    torch's kernels (clip_coordinates_get_grad); a NaN goes to 0, as in torch's CPU kernel."""
    hi = n - 1
    out = xp.where(c > 0, xp.minimum(c, hi), 0).astype(c.dtype)
    return out, ((c > 0) & (c < hi)).astype(c.dtype)


def _reflect_grad(c: Any, n: int, align: bool, xp: Any) -> tuple[Any, Any]:
    """c reflected into [0, n - 1] (align_corners) or [-0.5, n - 0.5] and its derivative
    (+-1), as torch's vectorized CPU kernel (reflect_coordinates_get_grad)."""
    twice_span = 2 * (n - 1) if align else 2 * n
    if twice_span == 0:
        return xp.zeros_like(c), xp.zeros_like(c)
    v = c if align else c + 0.5
    neg = v < 0
    a = xp.abs(v)
    extra = a - xp.trunc(a / twice_span) * twice_span
    refl = twice_span - extra
    flip = extra > refl
    out = xp.where(flip, refl, extra)
    if not align:
        out = out - 0.5
    return out, xp.where(flip ^ neg, -1.0, 1.0).astype(c.dtype)


def _pad_coord(c: Any, n: int, padding_mode: str, align: bool, xp: Any) -> tuple[Any, Any]:
    """A pixel coordinate under padding_mode and its derivative: torch's compute_coordinates
    (the identity for "zeros")."""
    if padding_mode == "zeros":
        return c, xp.ones_like(c)
    g = 1.0
    if padding_mode == "reflection":
        c, g = _reflect_grad(c, n, align, xp)
    c, gc = _clip_grad(c, n, xp)
    return c, g * gc


def _cubic_coeffs(t: Any) -> tuple[list[Any], list[Any]]:
    """The four cubic convolution weights (A = -0.75) of the taps at offsets -1, 0, 1, 2 for
    fraction t, and their derivatives in t (torch's get_cubic_upsample_coefficients)."""
    a = _CUBIC_A

    def c1(x: Any) -> Any:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def c2(x: Any) -> Any:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    def d1(x: Any) -> Any:
        return (3 * (a + 2) * x - 2 * (a + 3)) * x

    def d2(x: Any) -> Any:
        return (3 * a * x - 10 * a) * x + 8 * a

    w = [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)]
    dw = [d2(t + 1), d1(t), -d1(1 - t), -d2(2 - t)]
    return w, dw


def _axis_taps(
    c: Any, n: int, mode: str, padding_mode: str, align: bool, xp: Any
) -> tuple[list[tuple[Any, Any, Any]], Any]:
    """The taps of one spatial axis for grid coordinates c: a list of (pixel position as a
    float array, weight or None, d weight / d pixel coordinate or None), and d pixel
    coordinate / d grid coordinate."""
    scale = (n - 1) / 2 if align else n / 2
    u = (c + 1) * scale if align else (c + 1) * scale - 0.5  # torch's unnormalize
    if mode == "bicubic":
        f = xp.floor(u)
        w, dw = _cubic_coeffs(u - f)
        taps = []
        for i in range(4):
            pos, _ = _pad_coord(f + (i - 1), n, padding_mode, align, xp)
            taps.append((pos, w[i], dw[i]))
        return taps, scale
    u, du = _pad_coord(u, n, padding_mode, align, xp)
    if mode == "nearest":
        return [(xp.rint(u), None, None)], None
    f = xp.floor(u)
    t = u - f
    return [(f, 1 - t, -1.0), (f + 1, t, 1.0)], du * scale


def _grid_sample(
    x: Tensor, grid: Tensor, mode: str, padding_mode: str, align: bool, op: str
) -> Tensor:
    """The taps (per batch item, tap and output point: a flat pixel index into the input's own
    (N, C, npix) layout, npix for a tap outside the input, and a weight) are computed once, with
    no channel axis; the channel-wide work runs over them. On the CPU (float32 / float64) that is
    the kernels of csrc/cpu/sample.h: the forward gathers and weighs the taps (_cpu.sample_gather:
    a tap outside reads a zero pixel, so an inf input or a NaN weight gives torch's values), the
    input gradient scatters the weighted output gradient back (_cpu.sample_scatter_add: np.add.at's
    order, deterministic at any thread count), and the grid gradient's per-tap sum over the
    channels of output gradient times corner value is one more gather pass (_cpu.sample_dot), so
    the forward keeps no corner values. Elsewhere (cupy) it is numpy / cupy code: one take per
    batch item for all the taps from the rows with a zero pixel appended (only when some tap is
    outside), the taps' weights applied in one einsum; the backward scatters onto channel-last
    rows (one index_add for every tap and batch item, the outside taps landing on the appended
    row, dropped) and takes the grid gradient from the forward's gathered corners."""
    xp = get_array_module(x.data)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    out_sp = tuple(grid.shape[1:-1])
    m, npix = math.prod(out_sp), math.prod(spatial)
    dt = x.data.dtype
    _check_alloc((n, c, *out_sp), dt, op)
    g = grid.data.reshape(n, m, nd)
    strides = [math.prod(spatial[a + 1 :]) for a in range(nd)]
    nearest = mode == "nearest"
    with np.errstate(invalid="ignore", over="ignore"):
        per_axis, mults = [], []
        for a in range(nd):  # spatial axes D, H, W read grid components z, y, x
            taps, mult = _axis_taps(g[..., nd - 1 - a], spatial[a], mode, padding_mode, align, xp)
            # per tap of this axis: in range, the flat offset (0 outside), weight, d weight
            axis = []
            for pos, w, dw in taps:
                ok = (pos > -1) & (pos < spatial[a])
                off = xp.where(ok, pos, 0).astype(np.intp)
                if strides[a] != 1:
                    off *= strides[a]
                axis.append((ok, off, w, dw))
            per_axis.append(axis)
            mults.append(mult)
        combos = list(itertools.product(*per_axis))
        nt = len(combos)
        idx = xp.empty((n, nt, m), dtype=np.intp)
        wts = None if nearest else xp.empty((n, nt, m), dtype=dt)
        outside = False
        for k, combo in enumerate(combos):
            mask, lin = combo[0][0], combo[0][1]
            for ok, off, _, _ in combo[1:]:
                mask = mask & ok
                lin = lin + off
            if not bool(mask.all()):
                outside = True
                lin = xp.where(mask, lin, npix)
            idx[:, k] = lin
            if wts is not None:
                w = combo[0][2]
                for tap in combo[1:]:
                    w = w * tap[2]
                wts[:, k] = w
        native = xp is np and dt in (np.float32, np.float64)
        keep = src = None
        if native:
            src = np.ascontiguousarray(x.data).reshape(n, c, npix)
            out = _cpu.sample_gather(src, idx, wts)
            width = npix
        else:
            src = x.data.reshape(n, c, npix)
            width = npix + 1 if outside else npix
            if outside:  # a zero pixel at index npix of each row
                src = xp.empty((n, c, width), dtype=dt)
                src[..., :npix] = x.data.reshape(n, c, npix)
                src[..., npix] = 0
            vals = xp.empty((n, c, nt, m), dtype=dt)
            # numpy's take clipping the (in-range) indices: 2x its default (checked) mode
            kw = {"mode": "clip"} if xp is np else {}
            for b in range(n):
                xp.take(src[b], idx[b].reshape(-1), axis=1, out=vals[b].reshape(c, nt * m), **kw)
            out = vals.reshape(n, c, m) if wts is None else xp.einsum("nctm,ntm->ncm", vals, wts)
            keep = vals if grid.requires_grad and not nearest else None
            del vals
    y = out.reshape(n, c, *out_sp)
    if not (native and grid.requires_grad and not nearest):
        src = None  # the corners' pixels: only the native grid gradient reads them again

    def _backward(gy: Any) -> None:
        go = gy.reshape(n, c, m)
        if native:
            go = np.ascontiguousarray(go, dtype=dt)
        with np.errstate(invalid="ignore", over="ignore"):
            if x.requires_grad:
                if native:
                    gx = _cpu.sample_scatter_add(go, idx, wts, npix)
                    x._accumulate(gx.reshape(x.shape))
                else:
                    got = xp.ascontiguousarray(go.transpose(0, 2, 1))  # (n, m, c)
                    if wts is None:
                        parts = got
                    else:
                        parts = xp.empty((n, nt, m, c), dtype=dt)
                        for k in range(nt):
                            xp.multiply(got, wts[:, k, :, None], out=parts[:, k])
                    rows = idx + (xp.arange(n, dtype=np.intp) * width).reshape(n, 1, 1)
                    gx = _index_add(parts.reshape(-1, c), 0, rows.reshape(-1), n * width, xp)
                    gx = gx.reshape(n, width, c)[:, :npix].transpose(0, 2, 1)
                    x._accumulate(xp.ascontiguousarray(gx).reshape(x.shape))
            if grid.requires_grad:
                gg = xp.zeros((n, m, nd), dtype=dt)
                if (src if native else keep) is not None:
                    if native:  # sum over c of go * corner, the corners gathered again
                        sv = _cpu.sample_dot(go, src, idx)
                    else:
                        sv = xp.einsum("ncm,nctm->ntm", go, keep)
                    for k, combo in enumerate(combos):
                        for a in range(nd):
                            term = combo[a][3] * sv[:, k]
                            for b in range(nd):
                                if b != a:
                                    term = term * combo[b][2]
                            gg[..., nd - 1 - a] += term
                    for a in range(nd):
                        gg[..., nd - 1 - a] *= mults[a]
                grid._accumulate(gg.reshape(grid.shape))

    # the double backward: the forward again as Tensor ops, on the same taps (their numbers
    # per axis and flat pixel indices, npix outside)
    numbers = list(itertools.product(*[range(len(t)) for t in per_axis]))
    fn = partial(_grid_sample_fn, numbers, idx, mode, padding_mode, align)
    db = partial(_d_grid_sample, recompute_dbackward(fn, x, grid), grid)
    return Tensor._make(y, (x, grid), _backward, op, saves=(x, grid), dbackward=db)


def _d_grid_sample(recompute: Any, grid: Tensor, g: Tensor) -> tuple[Any, ...]:
    gx, gg = recompute(g)
    if gg is None and grid.requires_grad:  # "nearest": a zero gradient (with a graph: torch's)
        gg = linear_map(
            g, partial(_zeros, tuple(grid.shape)), partial(_zeros, tuple(g.shape)), "zero"
        )
    return gx, gg


def _zeros(shape: tuple[int, ...], a: Any) -> Any:
    return get_array_module(a).zeros(shape, a.dtype)


def _axis_weights(
    c: Tensor, n: int, mode: str, padding_mode: str, align: bool
) -> list[Tensor] | None:
    """The tap weights of one spatial axis as Tensor ops of the grid coordinates c (the
    weights _axis_taps gives, with the same derivatives): None for "nearest"."""
    if mode == "nearest":
        return None
    xp = get_array_module(c.data)
    scale = (n - 1) / 2 if align else n / 2
    u = (c + 1) * scale if align else (c + 1) * scale - 0.5
    if mode == "bicubic":
        return _cubic_coeffs(u - Tensor(xp.floor(u.data)))[0]
    # the padded coordinate is piecewise linear in u: du * u + a constant (du 0 where clipped)
    pu, du = _pad_coord(u.data, n, padding_mode, align, xp)
    if padding_mode != "zeros":
        u = where(du != 0, u * Tensor(du) + Tensor(pu - du * u.data), Tensor(pu))
    t = u - Tensor(xp.floor(pu))
    return [1 - t, t]


def _grid_sample_fn(
    numbers: list[tuple[int, ...]],
    idx: Any,
    mode: str,
    padding_mode: str,
    align: bool,
    x: Tensor,
    grid: Tensor,
) -> Tensor:
    """grid_sample's output as Tensor ops of x and grid (its double backward's recompute):
    numbers, the forward's taps (tap number per axis), idx (n, taps, m) their flat pixel
    indices (npix for a tap outside the input)."""
    xp = get_array_module(idx)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    out_sp = tuple(grid.shape[1:-1])
    m, npix = math.prod(out_sp), math.prod(spatial)
    g = grid.reshape(n, m, nd)
    ws = [
        _axis_weights(g[..., nd - 1 - a], spatial[a], mode, padding_mode, align) for a in range(nd)
    ]
    flat = x.reshape(n, c, npix).permute(0, 2, 1).reshape(n * npix, c)
    base = (xp.arange(n) * npix).reshape(n, 1)
    out = None
    for k, ks in enumerate(numbers):
        mask = idx[:, k] < npix
        lin = base + xp.where(mask, idx[:, k], 0)
        val = where(mask[..., None], flat[lin.reshape(-1)].reshape(n, m, c), 0.0)
        if ws[0] is not None:
            weight = ws[0][ks[0]]
            for a in range(1, nd):
                weight = weight * ws[a][ks[a]]
            val = val * weight.unsqueeze(-1)
        out = val if out is None else out + val
    assert out is not None
    return out.permute(0, 2, 1).reshape(n, c, *out_sp)


def grid_sample(
    input: Any,  # noqa: A002  (torch's name)
    grid: Any,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """input (N, C, H, W) (or (N, C, D, H, W)) sampled at grid (N, Ho, Wo, 2) (or
    (N, Do, Ho, Wo, 3)) of normalized (x, y[, z]) coordinates in [-1, 1], as
    torch.nn.functional.grid_sample; differentiable in input and (but for "nearest") grid."""
    op = "grid_sample"
    if mode not in _MODES:
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    align = _align(align_corners)
    x = _F._tensor(input, f"{op}: input")
    g = _F._tensor(grid, f"{op}: grid")
    if x.ndim not in (4, 5) or x.ndim != g.ndim:
        raise _BadArgument(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
            f"but got input with sizes {list(x.shape)} and grid with sizes {list(g.shape)}"
        )
    kernel = "grid_sampler_2d_cpu_kernel_impl" if x.ndim == 4 else "grid_sampler_3d_cpu"
    x = _F._float(x, op, kernel)
    if g.data.dtype != x.data.dtype:
        raise _DtypeMismatch(
            f"grid_sampler(): expected input and grid to have same dtype, but input has "
            f"{x.data.dtype} and grid has {g.data.dtype}"
        )
    if x.shape[0] != g.shape[0]:
        raise _BadArgument(
            f"grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {list(x.shape)} and grid with sizes {list(g.shape)}"
        )
    if g.shape[-1] != x.ndim - 2:
        raise _BadArgument(
            f"grid_sampler(): expected grid to have size {x.ndim - 2} in last dimension, but got "
            f"grid with sizes {list(g.shape)}"
        )
    for i in range(2, x.ndim):
        if x.shape[i] == 0:
            raise _BadArgument(
                f"grid_sampler(): expected input to have non-empty spatial dimensions, but "
                f"input has sizes {list(x.shape)} with dimension {i} being empty"
            )
    if mode == "bicubic" and x.ndim != 4:
        raise _BadArgument("grid_sampler(): bicubic interpolation only supports 4D input")
    return _grid_sample(x, g, mode, padding_mode, align, op)


# ---- gumbel_softmax -------------------------------------------------------------------------


def gumbel_softmax(
    logits: Any, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """softmax((logits + g) / tau) along dim, g standard Gumbel noise drawn from deltagrad's
    generator, as torch.nn.functional.gumbel_softmax (its distribution, not its numbers).
    hard=True returns the one-hot of the argmax with the soft sample's gradient (straight
    through: y_hard - y_soft.detach() + y_soft). eps is deprecated and unused, as in torch."""
    op = "gumbel_softmax"
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, 2)
    if not _is_number(tau):
        raise TypeError(f"{op}: tau: expected a number, got {type(tau).__name__}")
    if not _is_int(dim):
        raise TypeError(f"{op}: dim: expected an int, got {type(dim).__name__}")
    x = _F._tensor(logits, f"{op}: logits")
    if x.data.dtype.kind != "f":
        raise _DtypeMismatch(
            f"{op}: logits: Exponential distribution is a continuous probability distribution. "
            f"dtype must be a floating point but you specified {x.data.dtype}"
        )
    xp = get_array_module(x.data)
    e = get_rng().standard_exponential(x.shape)
    e = np.maximum(e, np.finfo(np.float64).tiny)  # -log(0) would be inf
    gumbels = Tensor(xp.asarray((-np.log(e)).astype(x.data.dtype)))
    y_soft = _F.softmax((x + gumbels) / tau, dim=dim)
    if not hard:
        return y_soft
    if y_soft.ndim == 0:
        return Tensor(xp.ones_like(y_soft.data)) - y_soft.detach() + y_soft
    axis = int(dim) % y_soft.ndim
    index = xp.argmax(y_soft.data, axis=axis)
    one_hot = (
        xp.arange(y_soft.shape[axis]).reshape((-1,) + (1,) * (y_soft.ndim - axis - 1))
        == xp.expand_dims(index, axis)
    ).astype(y_soft.data.dtype)
    return Tensor(one_hot) - y_soft.detach() + y_soft
