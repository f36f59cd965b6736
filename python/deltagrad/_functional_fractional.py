"""Fractional max pooling of deltagrad.functional, as torch 2.13's torch.nn.functional:
fractional_max_pool2d and fractional_max_pool3d (and their _with_indices forms), over
(N, C, H, W) / (C, H, W) and (N, C, D, H, W) / (C, D, H, W) input (Graham's "Fractional
Max-Pooling", arXiv:1412.6071).

Each (batch, plane) pair has one sample u in [0, 1) per spatial axis (2-D: (W, H), 3-D:
(D, H, W), torch's order); along an axis of input size n, kernel k and output size m, the
windows start at torch's pseudo-random sequence (its generate_intervals, in the input's dtype):
int((i + u) * alpha) - int(u * alpha) for i < m - 1, with alpha = (n - k) / (m - 1), and the
last at n - k. Each output is the maximum of its k-window, with torch's scan rule (in window
order: the last NaN if there is one, else the first maximum).

The winners are found with array ops, one spatial axis at a time from the last (the per-row
winner of each window row, then the winner among those rows: this keeps the row-major scan's
rule), vectorized over the planes and the outputs; the values are then gathered from the input
(Tensor.gather, whose backward sums the gradient onto each winner, as torch's). Any device
Tensor.gather runs on (numpy or cupy arrays).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functional as _F
from ._functional_pool_more import _pick
from ._functional_spatial import _BadArgument, _check_alloc, _is_int, _is_number
from ._random import get_rng
from .tensor import Tensor, get_array_module

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]

# the sample column of each spatial axis (in input order): torch's kernels read (W, H) in 2-D
# and (D, H, W) in 3-D
_SAMPLE_COLUMN = {2: (1, 0), 3: (0, 1, 2)}
# torch's names of each spatial axis in its "pool ... too large" message
_AXIS_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


class _BadLength(_BadArgument, IndexError):
    """kernel_size, output_size or output_ratio of the wrong length: torch's RuntimeError
    (its kernel's count check), ValueError or IndexError (its Python part's ratio checks);
    all three here."""


class _SampleDtypeError(RuntimeError, TypeError):
    """_random_samples of another dtype than the input: torch's RuntimeError; a TypeError too,
    as deltagrad's dtype errors are."""


def _ints(v: Any, nd: int, op: str, arg: str) -> tuple[int, ...]:
    """An int (repeated) or nd ints, as torch's int-list arguments."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd
    if any(not _is_int(e) for e in vals):
        raise TypeError(f"{op}: {arg}: expected an int or a tuple of {nd} ints, got {v!r}")
    if len(vals) != nd:
        raise _BadLength(
            f"{op}: {arg} must either be a single Int or tuple of {nd} Ints, got {v!r}"
        )
    return tuple(int(e) for e in vals)


def _ratio_size(output_ratio: Any, spatial: tuple[int, ...], op: str) -> tuple[int, ...]:
    """torch's output size from output_ratio: int(input_size * ratio) per axis; a number or
    nd numbers (ratios outside (0, 1) are left to the size checks, as torch's function)."""
    nd = len(spatial)
    vals = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * nd
    if any(not _is_number(r) for r in vals):
        raise TypeError(
            f"{op}: output_ratio: expected a number or a tuple of {nd} numbers, "
            f"got {output_ratio!r}"
        )
    if len(vals) != nd:
        raise _BadLength(
            f"{op} requires output_ratio to either be a single number or a tuple of {nd} "
            f"numbers, got {output_ratio!r}"
        )
    if any(not math.isfinite(float(r)) for r in vals):
        raise ValueError(f"{op}: output_ratio: expected finite numbers, got {output_ratio!r}")
    return tuple(int(n * float(r)) for n, r in zip(spatial, vals))


def _starts(u: Any, n: int, k: int, m: int, xp: Any) -> Any:
    """(..., m) int64 window starts along an axis of input size n, kernel k and output size m
    from the samples u (...,): torch's generate_intervals, computed in u's dtype. Clamped into
    [0, n - k], which changes nothing for finite samples (torch's sequence stays there) and
    keeps any other sample's windows inside the input."""
    dt = u.dtype
    last = xp.full((*u.shape, 1), n - k, dtype=np.int64)
    if m <= 1:
        return last[..., :m]
    alpha = xp.asarray(n - k, dtype=dt) / xp.asarray(m - 1, dtype=dt)
    i = xp.arange(m - 1).astype(dt)
    with np.errstate(all="ignore"):  # non-finite or huge samples: made 0 / clamped below
        seq = xp.trunc((i + u[..., None]) * alpha) - xp.trunc(u[..., None] * alpha)
        seq = xp.clip(xp.where(xp.isfinite(seq), seq, 0), 0, n - k).astype(np.int64)
    return xp.concatenate([seq, last], axis=-1)


def _argmax(v: Any, starts: list[Any], kernel: tuple[int, ...], xp: Any) -> Any:
    """int64 flat index, in each plane of v (N, C, *spatial), of the maximum of every window
    (starts[a]: (N, C, out_a) per spatial axis a): one axis at a time from the last, carrying
    the flat offset of the winners along the axes already reduced."""
    nd = len(kernel)
    strides = [math.prod(v.shape[3 + a :]) for a in range(nd)]
    flat = None  # each winner's offset along the axes reduced so far, in v's (reduced) shape
    for a in reversed(range(nd)):
        n, c = v.shape[:2]
        m, k = starts[a].shape[-1], kernel[a]
        lead, trail = v.shape[2 : 2 + a], v.shape[3 + a :]
        ones_l, ones_t = (1,) * a, (1,) * len(trail)
        pos = (starts[a][..., None] + xp.arange(k)).reshape(n, c, *ones_l, m * k, *ones_t)
        idx = xp.broadcast_to(pos, (n, c, *lead, m * k, *trail))
        tap = 3 + a  # the window-tap axis, once axis a is split into (m, k)
        win = xp.take_along_axis(v, idx, axis=2 + a).reshape(n, c, *lead, m, k, *trail)
        p = xp.expand_dims(_pick(win, tap, xp), tap)
        v = xp.take_along_axis(win, p, axis=tap).squeeze(tap)
        # the winner's coordinate along axis a: its window start plus its tap
        off = (starts[a].reshape(n, c, *ones_l, m, *ones_t) + p.squeeze(tap)) * strides[a]
        if flat is not None:
            prev = xp.take_along_axis(flat, idx, axis=2 + a).reshape(n, c, *lead, m, k, *trail)
            off = off + xp.take_along_axis(prev, p, axis=tap).squeeze(tap)
        flat = off
    return flat


def _fractional_max_pool(
    nd: int,
    input: Any,  # noqa: A002
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    return_indices: bool,
    _random_samples: Any,
) -> Any:
    op = f"fractional_max_pool{nd}d"
    x = _F._tensor(input, f"{op}: input")
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    k = _ints(kernel_size, nd, op, "kernel_size")
    if x.ndim not in (nd + 1, nd + 2):
        raise _BadArgument(
            f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(x.shape)}"
        )
    if output_size is None:  # torch's function: output_size wins where both are given
        out = _ratio_size(output_ratio, tuple(x.shape[-nd:]), op)
    else:
        out = _ints(output_size, nd, op, "output_size")
    if any(v < 1 for v in k):
        raise _BadArgument(f"{op}: kernel_size must be greater than 0, but got {kernel_size}")
    if any(v < 0 for v in out):
        raise _BadArgument(f"{op}: output_size must be non-negative, but got {output_size}")
    unbatched = x.ndim == nd + 1
    for i in range(1, x.ndim):
        if x.shape[i] == 0:
            raise _BadArgument(
                f"{op}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"got {list(x.shape)} with dimension {i} being empty."
            )
    spatial = tuple(x.shape[-nd:])
    for name, n, kk, m in zip(_AXIS_NAMES[nd], spatial, k, out):
        # torch's 2-D kernel lets the last window end at the input's end, its 3-D one not
        if m + kk - 1 > n or (nd == 3 and m + kk - 1 == n):
            raise _BadArgument(
                f"{op}(): pool {name} {kk} too large relative to input {name} {n} (output size {m})"
            )
    if unbatched:
        x = x.unsqueeze(0)
    n, c = x.shape[:2]
    xp = get_array_module(x.data)
    if _random_samples is None:
        _F._float(x, op, "check_uniform_bounds")
        samples = _draw((n, c, nd), x.data.dtype, xp)
    else:
        samples = _samples(_random_samples, x, nd, op, xp)
        _F._float(x, op, f"{op}_out_frame")
    _check_alloc((n, c, *out), x.data.dtype, op)
    _check_alloc((n, c, *spatial[:-1], out[-1] * k[-1]), x.data.dtype, op)  # the windows
    cols = _SAMPLE_COLUMN[nd]
    if math.prod(out) == 0 or n == 0:
        idx = xp.zeros((n, c, *out), dtype=np.int64)
    else:
        starts = [_starts(samples[:, :, cols[a]], spatial[a], k[a], out[a], xp) for a in range(nd)]
        idx = _argmax(x.data, starts, k, xp)
    flat = x.reshape(n, c, math.prod(spatial))
    y = flat.gather(-1, Tensor(idx.reshape(n, c, math.prod(out)))).reshape(n, c, *out)
    idx_t = Tensor(idx.copy())  # gather's backward keeps idx
    if unbatched:
        y, idx_t = y.squeeze(0), idx_t.squeeze(0)
    return (y, idx_t) if return_indices else y


def _draw(shape: tuple[int, ...], dtype: Any, xp: Any) -> Any:
    """Uniform samples in [0, 1) of dtype from deltagrad's generator (torch.rand's
    distribution, not its numbers); a draw that rounds up to 1 in a narrow dtype is kept
    just below it."""
    u = get_rng().random(shape).astype(dtype)
    return xp.asarray(np.minimum(u, np.nextafter(dtype.type(1), dtype.type(0))))


def _samples(s: Any, x: Tensor, nd: int, op: str, xp: Any) -> Any:
    """_random_samples checked as torch's kernel does: x's dtype, shape (>= N, C, nd)."""
    t = _F._tensor(s, f"{op}: _random_samples")
    if t.data.dtype != x.data.dtype:
        raise _SampleDtypeError(
            f"{op}: Expect _random_samples to have the same dtype as input "
            f"({x.data.dtype}), got {t.data.dtype}"
        )
    if t.ndim != 3:
        raise _BadArgument(f"{op}: Expect _random_samples to have 3 dimensions, got {t.ndim}")
    n, c = x.shape[:2]
    if t.shape[0] < n:
        raise _BadArgument(
            f"{op}: Expect _random_samples.size(0) no less then input batch size ({n}), "
            f"got {t.shape[0]}."
        )
    if t.shape[1] != c:
        raise _BadArgument(
            f"{op}: Expect _random_samples.size(1) equals to input channel size ({c}), "
            f"got {t.shape[1]}."
        )
    if t.shape[2] != nd:
        raise _BadArgument(
            f"{op}: Expect _random_samples.size(2) equals to {nd}; got {t.shape[2]}."
        )
    return xp.asarray(t.data[:n])


def fractional_max_pool2d(
    input: Any,  # noqa: A002  (torch's name)
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Any = None,
) -> Any:
    """torch.nn.functional.fractional_max_pool2d over (N, C, H, W) or (C, H, W): the maximum
    of kernel_size windows at torch's pseudo-random starts, to output_size (an int or a
    pair) or int(input size * output_ratio) (a number or a pair; output_size wins where
    both are given, as torch's). _random_samples: (>= N, C, 2) samples in [0, 1) of the
    input's dtype (W's, then H's); None draws them from deltagrad's generator. With
    return_indices, also the int64 flat index of each maximum in its H*W plane."""
    return _fractional_max_pool(
        2, input, kernel_size, output_size, output_ratio, return_indices, _random_samples
    )


def fractional_max_pool2d_with_indices(
    input: Any,  # noqa: A002
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Any = None,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.fractional_max_pool2d_with_indices: (values, indices), always."""
    return _fractional_max_pool(
        2, input, kernel_size, output_size, output_ratio, True, _random_samples
    )


def fractional_max_pool3d(
    input: Any,  # noqa: A002  (torch's name)
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Any = None,
) -> Any:
    """torch.nn.functional.fractional_max_pool3d over (N, C, D, H, W) or (C, D, H, W): as
    fractional_max_pool2d with triples; _random_samples: (>= N, C, 3) (D's, H's, W's); the
    indices are flat in each D*H*W volume."""
    return _fractional_max_pool(
        3, input, kernel_size, output_size, output_ratio, return_indices, _random_samples
    )


def fractional_max_pool3d_with_indices(
    input: Any,  # noqa: A002
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Any = None,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.fractional_max_pool3d_with_indices: (values, indices), always."""
    return _fractional_max_pool(
        3, input, kernel_size, output_size, output_ratio, True, _random_samples
    )
