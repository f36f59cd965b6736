"""More of torch.nn.functional (torch 2.13):
rms_norm; the 1-D pooling functions (max_pool1d, avg_pool1d, adaptive_avg_pool1d,
max_pool1d_with_indices) and max_pool2d_with_indices; pdist; bilinear; local_response_norm;
channel_shuffle; alpha_dropout / feature_alpha_dropout; multilabel_margin_loss and
triplet_margin_with_distance_loss.

Each is built from differentiable Tensor ops (or the 2-D pooling kernels on a height-1 view),
so its backward is theirs and it runs wherever they run. Random draws (the alpha dropouts)
come from deltagrad's generator (dg.manual_seed)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import functional as _F
from ._functional_losses import (
    _float_tensor,
    _LossError,
    _LossTypeError,
    _node,
    _norm,
    _real,
    _reduce,
    _reduction,
    _tensor,
)
from ._random import get_rng
from .creation import zeros
from .tensor import (
    _TORCH_TYPE_NAMES,
    Tensor,
    _CastError,
    _ShapeError,
    cat,
    get_array_module,
    is_grad_enabled,
)

__all__ = [
    "rms_norm",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "pdist",
    "bilinear",
    "local_response_norm",
    "channel_shuffle",
    "alpha_dropout",
    "feature_alpha_dropout",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _torch_dtype(x: Tensor) -> str:
    """x's dtype as torch names it in its messages (Long, Int, Bool, ...)."""
    name = x.data.dtype.name
    return _TORCH_TYPE_NAMES.get(name, name)


# ---- rms_norm -------------------------------------------------------------------------------


def rms_norm(
    input: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None
) -> Tensor:
    """x / sqrt(mean(x ** 2) + eps) over the last len(normalized_shape) dims, times weight
    (of shape normalized_shape) when given, as torch; eps None: the input dtype's machine
    epsilon (torch.finfo(dtype).eps)."""
    op = "rms_norm"
    x = _tensor(input, op, "input")
    if x.data.dtype.kind != "f":
        raise _LossTypeError(f"{op}: \"rms_norm\" not implemented for '{_torch_dtype(x)}'")
    if not isinstance(normalized_shape, (tuple, list)) or not all(
        _is_int(s) for s in normalized_shape
    ):  # torch's argument parser: an int is not a shape here (nn.RMSNorm converts one)
        raise TypeError(
            f"{op}: normalized_shape: expected a tuple of ints, got "
            f"{type(normalized_shape).__name__} {normalized_shape!r}"
        )
    shape = tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0:
        raise _ShapeError(
            f"{op}: Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
            f"least one element, but got normalized_shape = {list(shape)}"
        )
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{op}: weight: expected a Tensor or None, got {type(weight).__name__}")
        if weight.shape != shape:
            raise _ShapeError(
                f"{op}: Expected weight to be of same shape as normalized_shape, but got weight "
                f"of shape {list(weight.shape)} and normalized_shape = {list(shape)}"
            )
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise _ShapeError(
            f"{op}: Given normalized_shape={list(shape)}, expected input with shape "
            f"[*{', '.join(map(str, shape))}], but got input of size{list(x.shape)}"
        )
    e = float(np.finfo(x.data.dtype).eps) if eps is None else _real(eps, op, "eps")
    dims = tuple(range(x.ndim - k, x.ndim))
    y = x * (x * x).mean(dim=dims, keepdim=True).add(e).rsqrt()
    return y if weight is None else y * weight


# ---- 1-D pooling, max_pool2d_with_indices ---------------------------------------------------


def _one(v: Any, op: str, name: str, lo: int) -> int:
    """A 1-D pooling size: an int or a 1-sequence of one, >= lo (torch's messages)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise _ShapeError(
                f"{op}() {name} must be an int, list of ints or tuple of ints of size 1 but got "
                f"size {len(v)}"
            )
        v = v[0]
    if not _is_int(v):
        raise TypeError(f"{op}(): {name}: expected an int, got {type(v).__name__} {v!r}")
    if v < lo:
        which = "greater than zero" if lo == 1 else "non-negative"
        raise _ShapeError(f"{op}() {name} must be {which}, but got {v}")
    return int(v)


def _input_1d(input: Any, op: str) -> Tensor:
    """(C, L) or (N, C, L) input as (.., C, 1, L) for the 2-D kernels."""
    x = _F._tensor(input, op)
    if x.ndim not in (2, 3):
        raise _ShapeError(
            f"{op}: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
            f"input, but got:{list(x.shape)}"
        )
    return x.reshape(*x.shape[:-1], 1, x.shape[-1])


def _squeeze_h(y: Tensor) -> Tensor:
    return y.reshape(*y.shape[:-2], y.shape[-1])


def max_pool1d_with_indices(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.max_pool1d_with_indices: the window maxima of (N, C, L) / (C, L)
    input (a NaN wins) and the int64 position in L of each; return_indices is ignored (the
    indices are always returned), as torch."""
    op = "max_pool1d"
    k = _one(kernel_size, op, "kernel_size", 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else stride
    s = _one(s, op, "stride", 1)
    p = _one(padding, op, "padding", 0)
    d = _one(dilation, op, "dilation", 1)
    if p > k // 2:
        raise _ShapeError(
            f"{op}() padding should be at most half of kernel size, but got padding={p} and "
            f"kernel_size={k}"
        )
    x = _input_1d(input, op)
    y, idx = _F._max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, True, op)
    return _squeeze_h(y), _squeeze_h(idx)


def max_pool1d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """torch.nn.functional.max_pool1d: the window maxima of (N, C, L) / (C, L) input; with
    return_indices, also each maximum's int64 position in L."""
    y, idx = max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (y, idx) if return_indices else y


def max_pool2d_with_indices(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """torch.nn.functional.max_pool2d_with_indices: F.max_pool2d's maxima and their int64
    flat indices in each H*W plane; return_indices is ignored, as torch."""
    return _F._max_pool2d(
        input, kernel_size, stride, padding, dilation, ceil_mode, True, "max_pool2d"
    )


def avg_pool1d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """torch.nn.functional.avg_pool1d: the window means of (N, C, L) / (C, L) input
    (count_include_pad: the zero padding counts in the divisor)."""
    op = "avg_pool1d"
    k = _one(kernel_size, op, "kernel_size", 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else stride
    s = _one(s, op, "stride", 1)
    p = _one(padding, op, "padding", 0)
    if p > k // 2:
        raise _ShapeError(
            f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation=1"
        )
    x = _F._tensor(input, op)
    if x.ndim not in (2, 3):
        raise _ShapeError(
            f"{op}: Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for "
            f"argument #1 'self' (while checking arguments for avg_pool1d)"
        )
    x = x.reshape(*x.shape[:-1], 1, x.shape[-1])
    y = _F._avg_pool2d(x, (1, k), (1, s), (0, p), ceil_mode, count_include_pad, None, op)
    return _squeeze_h(y)


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool1d: the means over torch's adaptive windows of
    (N, C, L) / (C, L) input, to output_size (an int or a 1-tuple)."""
    op = "adaptive_avg_pool1d"
    o = output_size
    if isinstance(o, (tuple, list)):
        if len(o) != 1:
            raise _ShapeError(
                f"{op}() argument 'output_size' should contain one int (got {len(o)})"
            )
        o = o[0]
    if not _is_int(o):
        raise TypeError(
            f"{op}(): argument 'output_size' (position 2) must be tuple of ints, not "
            f"{type(o).__name__}"
        )
    if o < 0:
        raise _ShapeError(
            f"{op}: elements of output_size must be greater than or equal to 0 but received "
            f"{{1, {o}}}"
        )
    x = _F._tensor(input, op)
    if x.ndim not in (2, 3):
        raise _ShapeError(
            f"{op}: Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for "
            f"argument #1 'self' (while checking arguments for adaptive_avg_pool1d)"
        )
    x = x.reshape(*x.shape[:-1], 1, x.shape[-1])
    return _squeeze_h(_F._adaptive_avg_pool2d(x, (1, int(o)), op))


# ---- pdist, bilinear ----------------------------------------------------------------------


def pdist(input: Any, p: float = 2) -> Tensor:
    """The p-norm distances between the rows of an (N, M) input, pairs i < j in row-major
    order (the upper triangle of cdist(x, x)): N (N - 1) / 2 values, as torch. p >= 0
    (0 counts the non-zero differences; inf: the largest)."""
    op = "pdist"
    x = _tensor(input, op, "input")
    if x.ndim != 2:
        raise _ShapeError(f"{op}: pdist only supports 2D tensors, got: {x.ndim}D")
    if x.data.dtype.kind != "f":
        raise _LossTypeError(f"{op}: pdist only supports floating-point dtypes")
    p = _real(p, op, "p")
    if not p >= 0:
        raise _ShapeError(f"{op}: pdist only supports non-negative p values")
    i, j = np.triu_indices(x.shape[0], 1)
    xp = get_array_module(x.data)
    if p == 0 or x.shape[1] == 0:  # counts (or empty sums): torch's gradient is zero
        d = x.data[xp.asarray(i)] - x.data[xp.asarray(j)]
        out = (d != 0).sum(axis=1).astype(x.data.dtype)

        def _backward(g: Any) -> None:
            x._accumulate(xp.zeros_like(x.data))

        return Tensor._make(out, (x,), _backward, op, saves=())
    ii, jj = Tensor(xp.asarray(i)), Tensor(xp.asarray(j))
    return _node(op, lambda x: _norm(x[ii] - x[jj], p, 1, False), x)


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o], as
    torch: input1 (*, in1), input2 (*, in2) with the same leading dims, weight
    (out, in1, in2), bias (out,) or None."""
    op = "bilinear"
    x1, x2 = _float_tensor(input1, op, "input1"), _float_tensor(input2, op, "input2")
    w = _float_tensor(weight, op, "weight")
    if x1.ndim != x2.ndim:
        raise _ShapeError(f"{op}(): input dimensions do not match: got {x1.ndim} and {x2.ndim}")
    for d in range(x1.ndim - 1):
        if x1.shape[d] != x2.shape[d]:
            raise _ShapeError(
                f"{op}(): input batch dimensions do not match at dim {d}: got {x1.shape[d]} and "
                f"{x2.shape[d]}"
            )
    if w.ndim != 3:
        raise _ShapeError(f"{op}(): weight: expected a 3-D tensor, got shape {w.shape}")
    if x1.ndim == 0 or x1.shape[-1] != w.shape[1]:
        got = x1.shape[-1] if x1.ndim else 1
        raise _ShapeError(
            f"{op}(): input1 size does not match weight size: got {got} but expected {w.shape[1]}"
        )
    if x2.shape[-1] != w.shape[2]:
        raise _ShapeError(
            f"{op}(): input2 size does not match weight size: got {x2.shape[-1]} but expected "
            f"{w.shape[2]}"
        )
    if bias is not None:
        bias = _float_tensor(bias, op, "bias")
        if bias.ndim != 1 or bias.shape[0] != w.shape[0]:
            got = bias.shape[-1] if bias.ndim else 1
            raise _ShapeError(
                f"{op}(): bias size does not match weight size: got {got} but expected {w.shape[0]}"
            )
    for name, t in (("input2", x2), ("weight", w), ("bias", bias)):
        if t is not None and t.dtype != x1.dtype:
            raise _LossTypeError(
                f"{op}(): {name} has dtype {t.dtype}, input1 {x1.dtype}: expected one dtype"
            )
    o, a, b = w.shape
    lead = x1.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    # (rows, a) @ (a, o * b) -> (rows, o, b), times input2 (rows, 1, b), summed over b
    t = x1.reshape(rows, a) @ w.permute(1, 0, 2).reshape(a, o * b)
    y = (t.reshape(rows, o, b) * x2.reshape(rows, 1, b)).sum(dim=-1)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, o)


# ---- local_response_norm, channel_shuffle -------------------------------------------------


def local_response_norm(
    input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """x / (k + alpha * mean(x ** 2 over `size` neighbouring channels)) ** beta, as torch:
    the window over channel c spans c - size // 2 .. c + (size - 1) // 2, zero-padded, and
    always divides by size (torch's avg_pool with count_include_pad)."""
    op = "local_response_norm"
    x = _tensor(input, op, "input")
    if x.ndim < 3:
        raise ValueError(
            f"{op}: Expected 3D or higher dimensionality input (got {x.ndim} dimensions)"
        )
    if not _is_int(size):
        raise TypeError(f"{op}: size: expected an int, got {type(size).__name__} {size!r}")
    if size <= 0:
        raise _ShapeError(
            f"{op}: kernel size should be greater than zero, but got kH: {size} kW: 1"
        )
    alpha, beta, k = _real(alpha, op, "alpha"), _real(beta, op, "beta"), _real(k, op, "k")
    if x.data.size == 0:
        return x
    if x.data.dtype.kind != "f":
        raise _LossTypeError(f"{op}: input: expected a floating point tensor, got {x.dtype}")
    size = int(size)
    c = x.shape[1]
    sq = x * x
    lo, hi = size // 2, (size - 1) // 2
    parts = [sq]
    if lo:
        parts.insert(0, zeros(x.shape[0], lo, *x.shape[2:], dtype=x.dtype, device=x.device))
    if hi:
        parts.append(zeros(x.shape[0], hi, *x.shape[2:], dtype=x.dtype, device=x.device))
    padded = cat(parts, dim=1) if len(parts) > 1 else sq
    total = padded[:, 0:c]
    for t in range(1, size):
        total = total + padded[:, t : t + c]
    div = (total / size * alpha + k) ** beta
    return x / div


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """(N, C, *) with its C channels, in groups of C / groups, reordered group-minor, as
    torch: channel g * (C / groups) + i moves to i * groups + g."""
    op = "channel_shuffle"
    x = _F._tensor(input, op)
    if not _is_int(groups):
        raise TypeError(f"{op}(): groups: expected an int, got {type(groups).__name__}")
    if x.ndim <= 2:
        raise _ShapeError(
            f"{op}: channel_shuffle expects input with > 2 dims, but got input with sizes "
            f"{list(x.shape)}"
        )
    if groups <= 0:
        raise _ShapeError(
            f"{op}: Number of groups to divide channels in must be positive. Value of "
            f"groups:{groups}"
        )
    c = x.shape[1]
    if c % groups:
        raise _ShapeError(
            f"{op}: Number of channels must be divisible by groups. Got {c} channels and "
            f"{groups} groups."
        )
    n, rest = x.shape[0], x.shape[2:]
    y = x.reshape(n, int(groups), c // groups, *rest).transpose(1, 2)
    return y.reshape(n, c, *rest)


# ---- alpha dropout ----------------------------------------------------------------------

# SELU's alpha * scale (ATen's constant): a dropped unit becomes the SELU's negative saturation
_SELU_ALPHA = 1.7580993408473766


def _alpha_dropout(
    input: Any, p: Any, training: bool, inplace: bool, feature: bool, op: str
) -> Tensor:
    """ATen's _dropout_impl with alpha: keep each unit (feature: each (sample, channel)) with
    probability 1 - p; y = a * x + a * alpha * p where kept, a * alpha * (p - 1) where dropped,
    a = 1 / sqrt((alpha ** 2 p + 1)(1 - p)), so a SELU's zero mean and unit variance stay."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: p: expected a float in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    x = _F._tensor(input, op)
    if p == 0 or not training or x.data.size == 0:
        return x
    if feature and x.ndim < 2:
        raise _ShapeError(f"{op}: Feature dropout requires at least 2 dimensions in the input")
    if x.data.dtype.kind != "f":
        raise _CastError(
            f"{op}: result type Float can't be cast to the desired output type {_torch_dtype(x)}"
        )
    xp = get_array_module(x.data)
    write = bool(inplace) and not (x.requires_grad and is_grad_enabled())
    if p == 1:  # x * 0, as ATen
        scale, shift = xp.zeros((), dtype=x.data.dtype), None
    else:
        lead = x.shape[:2] if feature else x.shape
        keep = get_rng().random(lead) >= p
        keep = keep.reshape(lead + (1,) * (x.ndim - len(lead)))
        a = 1.0 / np.sqrt((_SELU_ALPHA**2 * p + 1) * (1 - p))
        scale = xp.asarray(keep * a, dtype=x.data.dtype)
        shift = xp.asarray((keep - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p, x.data.dtype)
    mask = Tensor(scale)
    y = x.mul_(mask) if write else x * mask
    if shift is not None:
        y = y.add_(Tensor(shift)) if write else y + Tensor(shift)
    return y


def alpha_dropout(
    input: Any, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """torch.nn.functional.alpha_dropout (SELU-preserving dropout; training defaults to False,
    as torch's): the input itself when not training, p == 0 or empty. inplace: as F.dropout's
    (in place unless a graph is recorded through the input)."""
    return _alpha_dropout(input, p, training, inplace, False, "alpha_dropout")


def feature_alpha_dropout(
    input: Any, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """torch.nn.functional.feature_alpha_dropout: alpha_dropout with one draw per (sample,
    channel), dims 0 and 1 of input of at least 2 dims."""
    return _alpha_dropout(input, p, training, inplace, True, "feature_alpha_dropout")


# ---- losses ---------------------------------------------------------------------------------


def multilabel_margin_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class multi-label hinge loss, as torch: per sample, the sum over target
    classes j and non-target classes i of max(0, 1 - (x[j] - x[i])) / C. target (int64, the
    input's shape): class indices, ending at the first -1; input (C), (N, C) or 0-d."""
    op = "multilabel_margin_loss"
    red = _reduction(size_average, reduce, reduction, op)
    x = _tensor(input, op, "input")
    t = _tensor(target, op, "target")
    if x.data.dtype.kind != "f":
        raise _LossTypeError(
            f'{op}: "multilabel_margin_loss_forward_out_frame" not implemented for '
            f"'{_torch_dtype(x)}'"
        )
    if t.data.dtype != np.int64:
        raise _LossTypeError(f"{op}: expected scalar type Long but found {_torch_dtype(t)}")
    if x.ndim <= 1:
        c = max(x.data.size, 1) if x.ndim == 0 else x.shape[0]
        ok = x.ndim == 0 or c > 0
        if ok and (t.ndim > 1 or t.data.size != c):
            raise _ShapeError(
                f"{op}: inconsistent target size: {list(t.shape)} for input of size: "
                f"{list(x.shape)}"
            )
    else:
        c = x.shape[1]
        ok = x.ndim == 2 and c > 0
        if ok and t.shape != x.shape:
            raise _ShapeError(
                f"{op}: inconsistent target size: {list(t.shape)} for input of size: "
                f"{list(x.shape)}"
            )
    if not ok:
        raise _ShapeError(
            f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but "
            f"got: {list(x.shape)}"
        )
    xp = get_array_module(t.data)
    td = t.data.reshape(-1, c)
    if td.size and (int(td.min()) < -1 or int(td.max()) >= c):
        raise _ShapeError(f"{op}: argument #2 'target' is out of range")
    # per row, the entries before its first -1: each one (repeats too, as ATen's loop) is a
    # j of the sum; the classes among them are not an i
    valid = xp.cumprod(td != -1, axis=1).astype(bool)
    hits = (td[:, :, None] == xp.arange(c)) & valid[:, :, None]
    count = hits.sum(axis=1).astype(x.data.dtype)  # (N, C): times class j is listed
    pair = count[:, :, None] * (count == 0)[:, None, :]
    w = Tensor(pair)  # w[n, j, i]: j listed (that many times), i not listed

    def fn(x: Tensor) -> Tensor:
        x2 = x.reshape(-1, c)
        hinge = (1 - x2.reshape(-1, c, 1) + x2.reshape(-1, 1, c)).clamp(min=0)
        per = (hinge * w).sum(dim=(1, 2)) / c
        if red == "none":
            return per.reshape(x.shape[:1]) if x.ndim == 2 else per.reshape(())
        return _reduce(per, red)

    return _node(op, fn, x)


def triplet_margin_with_distance_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the distance_function
    (default F.pairwise_distance); swap: d(anchor, negative) replaced by d(positive,
    negative) where smaller. Differentiable through whatever d is built from."""
    op = "triplet_margin_with_distance_loss"
    red = _reduction(None, None, reduction, op)
    margin = _real(margin, op, "margin")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    a = _tensor(anchor, op, "anchor")
    pos, neg = _tensor(positive, op, "positive"), _tensor(negative, op, "negative")
    if not a.ndim == pos.ndim == neg.ndim:
        raise _LossError(
            f"{op}: The anchor, positive, and negative tensors are expected to have the same "
            f"number of dimensions, but got: anchor {a.ndim}D, positive {pos.ndim}D, and "
            f"negative {neg.ndim}D inputs"
        )
    dist = _F.pairwise_distance if distance_function is None else distance_function
    d_pos = dist(a, pos)
    d_neg = dist(a, neg)
    if swap:
        d_neg = d_neg.minimum(dist(pos, neg))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), red)
