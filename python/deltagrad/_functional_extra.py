"""More of torch.nn.functional (torch 2.13):
rms_norm; the 1-D pooling functions (max_pool1d, avg_pool1d, adaptive_avg_pool1d,
max_pool1d_with_indices) and max_pool2d_with_indices; pdist; bilinear; local_response_norm;
channel_shuffle; alpha_dropout / feature_alpha_dropout; multilabel_margin_loss and
triplet_margin_with_distance_loss; embedding_bag; ctc_loss (a custom backward: ATen's).

Each is built from differentiable Tensor ops (or the 2-D pooling kernels on a height-1 view),
so its backward is theirs and it runs wherever they run. Random draws (the alpha dropouts)
come from deltagrad's generator (dg.manual_seed)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _cpu, ops
from . import functional as _F
from ._cpu import IndexRangeError
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
from .backends._args import is_device_array
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
    "embedding_bag",
    "ctc_loss",
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
    if weight is None:
        return y
    y = y * weight
    return y if y.dtype == x.dtype else y.to(x.dtype)  # torch: the input's dtype


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


def _input_1d(input: Any, op: str, checked_args: bool = False) -> Tensor:
    """(C, L) or (N, C, L) input as (.., C, 1, L) for the 2-D kernels. checked_args: torch's
    message of the average pools (its argument checker's) instead of the max pools'."""
    x = _F._tensor(input, op)
    if x.ndim not in (2, 3):
        raise _ShapeError(
            f"{op}: Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for "
            f"argument #1 'self' (while checking arguments for {op})"
            if checked_args
            else f"{op}: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{list(x.shape)}"
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
    x = _input_1d(input, op, checked_args=True)
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
    x = _input_1d(input, op, checked_args=True)
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
    if p == float("inf"):  # torch's gradient: the whole of g to every coordinate at the max
        xi, xj = xp.asarray(i), xp.asarray(j)
        d = x.data[xi] - x.data[xj]
        a = xp.abs(d)
        out = a.max(axis=1) if a.size else xp.zeros(a.shape[0], dtype=a.dtype)

        def _backward_inf(g: Any) -> None:
            gd = (g[:, None] * xp.sign(d) * (a == out[:, None])).astype(x.data.dtype)
            gx = xp.zeros_like(x.data)
            ops.index_add_(gx, 0, xi, gd)
            ops.index_add_(gx, 0, xj, -gd)
            x._accumulate(gx)

        return Tensor._make(out, (x,), _backward_inf, op, saves=(x,))
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


# ---- embedding_bag --------------------------------------------------------------------------


def _index_array(v: Any, op: str, name: str, xp: Any) -> Any:
    """An int64 / int32 index Tensor or array as an int64 array of xp (torch: Long or Int)."""
    a = v.data if isinstance(v, Tensor) else v
    if not (isinstance(a, np.ndarray) or is_device_array(a)):
        raise TypeError(f"{op}: {name}: expected a Tensor, got {type(v).__name__}")
    if a.dtype not in (np.int64, np.int32):
        raise _LossTypeError(
            f"{op}: {name}: expected one of the scalar types Long, Int; got "
            f"{_TORCH_TYPE_NAMES.get(a.dtype.name, a.dtype.name)}"
        )
    return xp.asarray(a).astype(np.int64, copy=False)


def _bag_max_scan(vals: Any, starts: Any, counts: Any, xp: Any) -> Any:
    """_bag_max_first by ATen's scan itself, one step per position in the bags: a bag's first
    row, replaced by each later one strictly greater (so a leading NaN stays, a later one is
    passed over). For bags holding NaN, where a maximum's first hit does not say that."""
    m, d = vals.shape
    nbags = counts.shape[0]
    first = xp.full((nbags, d), m, dtype=np.int64)
    cur = xp.zeros((nbags, d), dtype=vals.dtype)
    for k in range(int(counts.max()) if nbags else 0):
        live = counts > k
        r = xp.where(live, starts + k, 0)
        v = vals[r]
        with np.errstate(invalid="ignore"):
            take = live[:, None] & (v > cur) if k else xp.broadcast_to(live[:, None], v.shape)
        cur = xp.where(take, v, cur)
        first = xp.where(take, r[:, None], first)
    return first


def _bag_max_first(vals: Any, bag: Any, starts: Any, counts: Any, xp: Any) -> Any:
    """Per bag and column, the position (into the m rows vals, all kept, bag b the contiguous
    run of counts[b] rows from starts[b]; bag the sorted bag of each row) of the bag's first
    maximum, as ATen's strict `>` scan; m where the bag is empty. The maxima by index_reduce_
    ("amax", np.maximum.at's bits), then the least position among the rows that hit one; NaNs
    take the scan itself (_bag_max_scan)."""
    m, d = vals.shape
    nbags = counts.shape[0]
    best = xp.full((nbags, d), -xp.inf, dtype=vals.dtype)
    if xp is np:
        ops.index_reduce_(best, 0, bag, vals, "amax")
        nan = bool(np.isnan(best).any())
    else:
        import cupyx

        nan = bool(xp.isnan(vals).any())
        cupyx.scatter_max(best, bag, vals)
    if nan:
        return _bag_max_scan(vals, starts, counts, xp)
    hits = xp.flatnonzero(vals == best.take(bag, axis=0))  # mostly one per bag and column
    row = hits // d
    key = bag[row] * d + (hits - row * d)
    first = xp.full(nbags * d, m, dtype=np.int64)
    if xp is np:
        np.minimum.at(first, key, row)
    else:
        cupyx.scatter_min(first, key, row)
    return first.reshape(nbags, d)


def embedding_bag(
    input: Any,
    weight: Any,
    offsets: Any = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Any = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxima of bags of embedding rows, as torch.nn.functional.embedding_bag:
    input 2-D (each row a bag; offsets None) or 1-D with offsets (bag b starts at offsets[b],
    offsets[0] == 0; include_last_offset: offsets ends with the input's length). Entries equal
    to padding_idx are left out of their bag (a bag of none is zeros); per_sample_weights
    (input's shape, mode 'sum' only) scale the rows. max_norm renormalizes the rows looked up
    in place (F.embedding's); scale_grad_by_freq divides a row's gradient by its count in
    input (torch 2.13's CPU kernel divides by a wrong count, pytorch#190063; this is the
    documented rule, F.embedding's). Built from F.embedding, index_add and gather: the
    gradient reaches weight and per_sample_weights as torch's."""
    op = "embedding_bag"
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight: expected a Tensor, got {type(weight).__name__}")
    xp = get_array_module(weight.data)
    idx = _index_array(input, op, "input", xp)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    include_last_offset = _F._flag(include_last_offset, op, "include_last_offset")
    scale_grad_by_freq = _F._flag(scale_grad_by_freq, op, "scale_grad_by_freq")
    sparse = _F._flag(sparse, op, "sparse")
    psw = None
    if per_sample_weights is not None:
        psw = _tensor(per_sample_weights, op, "per_sample_weights")
        if psw.shape != tuple(idx.shape):
            raise ValueError(
                f"{op}: If per_sample_weights ({list(psw.shape)}) is not None, then it must "
                f"have the same shape as the input ({list(idx.shape)})"
            )
    if weight.ndim != 2:
        raise ValueError(
            f"{op}: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}"
        )
    idx_ndim = idx.ndim
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(
                f"{op}: if input is 2D, then offsets has to be None, as input is treated is a "
                f"mini-batch of fixed length sequences. However, found offsets of type "
                f"{type(offsets)}"
            )
        nbags, width = idx.shape
        starts = xp.arange(nbags, dtype=np.int64) * width
        idx = idx.reshape(-1)
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor but got None")
        starts = _index_array(offsets, op, "offsets", xp)
        if starts.ndim != 1:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor")
        if include_last_offset:
            starts = starts[:-1]
        nbags = starts.shape[0]
        if nbags and int(starts[0]) != 0:
            raise _ShapeError(
                f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has "
                f"to start from position 0. However, got {int(starts[0])}"
            )
        ends = _index_array(offsets, op, "offsets", xp)
        if ends.size and int(ends[-1]) > idx.shape[0]:
            raise _ShapeError(
                f"{op}: offsets[-1] can not be greater than input's length {idx.shape[0]} but "
                f"got offsets[-1] of {int(ends[-1])}"
            )
        if nbags and bool((starts[1:] < starts[:-1]).any()):
            # torch reads such bags past their ends (undefined); deltagrad refuses them
            raise _ShapeError(f"{op}: offsets: expected a non-decreasing sequence")
    else:
        raise ValueError(
            f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}"
        )
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(f"{op}: max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError(f"{op}: max mode does not support sparse weights")
    if psw is not None and mode != "sum":
        raise NotImplementedError(
            f"{op}: per_sample_weights was not None. per_sample_weights is only supported for "
            f"mode='sum' (got mode='{mode}')."
        )
    num, dim = weight.shape
    if padding_idx is not None:
        if not _is_int(padding_idx):
            raise TypeError(f"{op}: padding_idx: expected an int or None, got {padding_idx!r}")
        if not -num <= padding_idx < num:
            raise _ShapeError(
                f"{op}: padding_idx must be within the number of embeddings, -{num} through "
                f"{num - 1}, but got {padding_idx}"
            )
        padding_idx = int(padding_idx) % num
    if idx.size and (bool((idx < 0).any()) or bool((idx >= num).any())):
        bad = int(idx[(idx < 0) | (idx >= num)][0])
        raise IndexRangeError(f"{op}: index {bad} is out of range [0, {num})")
    # the bag of each entry: the last start at or before it (the last bag runs to the end)
    n = idx.shape[0]
    bag = xp.searchsorted(starts, xp.arange(n), side="right") - 1
    keep = idx != padding_idx if padding_idx is not None else None
    if nbags == 0:  # no bags: every entry is left out
        keep = xp.zeros(n, dtype=bool)
    if idx_ndim == 1 and include_last_offset and nbags and int(ends[-1]) < n:
        # the documented semantics: the last bag ends at offsets[-1] (torch 2.13's CPU kernel
        # runs it to the input's end, pytorch#190062); entries past it are in no bag
        inside = xp.arange(n) < int(ends[-1])
        keep = inside if keep is None else keep & inside
    if keep is not None and bool(keep.all()):
        keep = None
    # entries left out (padding_idx, past the last bag) are dropped from the lookup; max_norm
    # and scale_grad_by_freq see all of input, as torch's, so those look up all and drop rows
    drop_rows = keep is not None and (max_norm is not None or scale_grad_by_freq)
    rows = _F.embedding(
        Tensor(idx if keep is None or drop_rows else idx[keep]),
        weight,
        padding_idx,
        max_norm,
        float(norm_type),
        scale_grad_by_freq,
        sparse,
    )
    if keep is not None:
        if drop_rows:
            rows = rows[Tensor(xp.nonzero(keep)[0])]
        if psw is not None:
            psw = psw.reshape(-1)[Tensor(xp.nonzero(keep)[0])]
        bag = bag[keep]
    m = bag.shape[0]
    out0 = zeros((nbags, dim), dtype=weight.data.dtype)
    if nbags == 0 or m == 0:  # no bags, or only empty ones: zeros (still on weight's graph)
        return out0 + rows[:0].sum()
    counts = xp.bincount(bag, minlength=nbags)
    if mode == "max":
        first = _bag_max_first(rows.data, bag, xp.cumsum(counts) - counts, counts, xp)
        empty = counts == 0
        if not bool(empty.any()):
            return rows.gather(0, Tensor(first))
        picked = rows.gather(0, Tensor(xp.where(empty[:, None], 0, first)))
        return picked.masked_fill(Tensor(empty[:, None]), 0.0)  # not a product: inf * 0
    src = rows if psw is None else rows * psw.reshape(-1, 1)
    out = out0.index_add(0, Tensor(bag), src)
    if mode == "mean":  # as ATen: the sums divided by the bag sizes (at least 1)
        out = out / Tensor(xp.maximum(counts, 1).astype(weight.data.dtype)[:, None])
    return out


# ---- ctc_loss -------------------------------------------------------------------------------


def _lengths(v: Any, op: str, name: str, xp: Any) -> Any:
    """input_lengths / target_lengths: an integer Tensor or array, an int, or a sequence of
    ints, as an int64 array of xp (at least 1-D)."""
    a = v.data if isinstance(v, Tensor) else v
    if not (isinstance(a, np.ndarray) or is_device_array(a)):
        if _is_int(a):
            a = np.asarray([a])
        elif isinstance(a, (tuple, list)) and all(_is_int(e) for e in a):
            a = np.asarray(a, dtype=np.int64).reshape(-1)
        else:
            raise TypeError(
                f"{op}: {name}: expected a Tensor, an int or a sequence of ints, got "
                f"{type(v).__name__}"
            )
    if a.dtype.kind not in "iu":
        raise _LossTypeError(f"{op}: {name} must be integral")
    return xp.asarray(a).astype(np.int64).reshape(-1)


def _ctc_recursions(lpe: Any, skip: Any, over: Any, first: Any) -> Any:
    """z[t] = log(exp(z[t-1, s]) + exp(z[t-1, s-1]) + [skip] exp(z[t-1, s-2])) + lpe[t] from
    z[0] = first, all rows at once (T, R, S'); where over is given (over_mask (T, R, 1),
    over_value (T, R, S')), z[t] is over_value[t] where over_mask[t] is False. Returns z
    (T, R, S' + 2), z[..., 2:] the result (two -inf columns ahead: the s-1 / s-2 neighbours
    are views). A few whole-batch ufunc calls a step (logaddexp into one buffer)."""
    xp = get_array_module(lpe)
    t_max, rows, s_max = lpe.shape
    ninf = xp.asarray(-xp.inf, dtype=lpe.dtype)
    z = xp.full((t_max, rows, s_max + 2), ninf, dtype=lpe.dtype)
    if t_max:
        z[0, :, 2:] = first
    buf = xp.empty((rows, s_max), dtype=lpe.dtype)
    for t in range(1, t_max):
        prev = z[t - 1]
        xp.logaddexp(prev[:, 2:], prev[:, 1:-1], out=buf)
        if xp is np:  # logaddexp(x, -inf) is x: leave buf where there is no skip
            np.logaddexp(buf, prev[:, :-2], out=buf, where=skip)
        else:
            xp.logaddexp(buf, xp.where(skip, prev[:, :-2], ninf), out=buf)
        if over is None:
            xp.add(buf, lpe[t], out=z[t, :, 2:])
        else:
            buf += lpe[t]
            z[t, :, 2:] = xp.where(over[0][t], buf, over[1][t])
    return z


def _ctc_labels(op: str, tg: Any, tg_len: Any, c: int, blank: int) -> Any:
    """The (N, L) labels of targets tg (checked: padded (N, S >= L) or concatenated), each
    row padded with blank past its target length; IndexError for a label outside [0, c)."""
    xp = get_array_module(tg)
    n = tg_len.shape[0]
    width = int(tg_len.max()) if n else 0
    if tg.ndim == 1:  # sample i's labels from the running sum of the lengths
        total = tg.shape[0]
        starts = xp.cumsum(tg_len) - tg_len
        pos = xp.minimum(starts[:, None] + xp.arange(width)[None, :], max(total - 1, 0))
        labels = tg[pos] if total else xp.zeros((n, width), dtype=np.int64)
    else:
        labels = tg[:, :width]
    used = xp.arange(labels.shape[1])[None, :] < tg_len[:, None]
    if labels.size and bool(((labels < 0) | (labels >= c))[used].any()):
        # torch reads out of range memory here; deltagrad refuses
        raise IndexRangeError(f"{op}: targets: a label is out of range [0, {c})")
    return xp.where(used, labels, blank)


def _ctc_nll_kernel(
    op: str, lp: Tensor, tg: Any, in_len: Any, tg_len: Any, blank: int, zero_inf: bool
) -> Tensor:
    """_ctc_nll on the CPU kernel (csrc/cpu/ctc.h), numpy float32 / float64 log_probs: one
    call gives the losses and, when a gradient will be wanted, ATen's gradient before the
    incoming gradient's scaling (the backward multiplies it in)."""
    x = lp.data
    want_grad = is_grad_enabled() and lp.requires_grad
    nll, grad = _cpu.ctc_loss(
        np.ascontiguousarray(x),
        np.ascontiguousarray(tg),
        np.ascontiguousarray(in_len),
        np.ascontiguousarray(tg_len),
        blank,
        zero_inf,
        want_grad,
    )
    out = np.where(np.isinf(nll), 0, nll).astype(x.dtype) if zero_inf else nll

    def _backward(g: Any) -> None:
        lp._accumulate(grad * np.asarray(g, dtype=x.dtype)[None, :, None])

    return Tensor._make(out, (lp,), _backward, op, saves=(lp,))


def _ctc_nll(
    op: str, lp: Tensor, labels: Any, in_len: Any, tg_len: Any, blank: int, zero_inf: bool
) -> Tensor:
    """The per-sample negative log-likelihood (N,) of (T, N, C) log_probs lp, labels (N, L)
    padded with anything past tg_len, by ATen's alpha recursion in log space; its backward is
    ATen's alpha-beta formula (see ctc_loss). When a gradient will be wanted, beta runs in the
    same loop as alpha (_ctc_recursions on the stacked rows: beta backwards in time and
    mirrored in s is alpha's recursion)."""
    xp = get_array_module(lp.data)
    x = lp.data
    t_max, n, c = x.shape
    width = labels.shape[1]
    s_max = 2 * width + 1
    ext = xp.full((n, s_max), blank, dtype=np.int64)  # l': blank, l1, blank, l2, ..., blank
    ext[:, 1::2] = labels
    s_idx = xp.arange(s_max)
    live = s_idx[None, :] < (2 * tg_len + 1)[:, None]  # (N, S'): inside the sample's l'
    # the skip s-2 -> s: l'(s) not blank and != l'(s-2)
    skip = xp.zeros((n, s_max), dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    ninf = xp.asarray(-xp.inf, dtype=x.dtype)
    rows = xp.arange(n)[:, None]
    lpe = x[:, rows, ext] if t_max else xp.zeros((0, n, s_max), x.dtype)  # (T, N, S')
    lpe = xp.where(live[None], lpe, ninf)
    end = 2 * tg_len
    first = xp.full((n, s_max), ninf, dtype=x.dtype)
    if t_max:
        first[:, :2] = lpe[0, :, :2]
    want_grad = is_grad_enabled() and lp.requires_grad and t_max > 0
    with np.errstate(all="ignore"):
        if want_grad:
            # beta[t, s] as alpha's recursion in u = T-1-t and r = S'-1-s: start at the two
            # ends at t = in_len - 1, -inf past it, the recursion before it
            ends = (s_idx[None, :] == end[:, None]) | (
                (s_idx[None, :] == end[:, None] - 1) & (tg_len > 0)[:, None]
            )
            skip_next = xp.zeros_like(skip)  # the skip s -> s+2 is allowed at s+2
            skip_next[:, :-2] = skip[:, 2:]
            t_col = xp.arange(t_max)[:, None]
            start = (t_col == (in_len - 1)[None, :])[:, :, None] & ends[None]
            before = (t_col < (in_len - 1)[None, :])[:, :, None]
            rev = (slice(None, None, -1), slice(None), slice(None, None, -1))
            over = (
                xp.concatenate([xp.ones((t_max, n, 1), dtype=bool), before[::-1]], axis=1),
                xp.concatenate([lpe, xp.where(start, lpe, ninf)[rev]], axis=1),
            )
            z = _ctc_recursions(
                xp.concatenate([lpe, lpe[rev]], axis=1),
                xp.concatenate([skip, skip_next[:, ::-1]], axis=0),
                over,
                xp.concatenate([first, over[1][0, n:]], axis=0),
            )
            alpha, beta = z[:, :n, 2:], z[:, n:, 2:][rev]
        else:
            alpha = _ctc_recursions(lpe, skip, None, first)[:, :, 2:]
        last = xp.clip(in_len - 1, 0, None)
        a_end = alpha[last, xp.arange(n)] if t_max else xp.full((n, s_max), ninf, x.dtype)
        fin = a_end[xp.arange(n), end]
        fin2 = xp.where(tg_len > 0, a_end[xp.arange(n), xp.clip(end - 1, 0, None)], ninf)
        nll = -xp.logaddexp(fin, fin2)
        # an input of length 0: log p is 0 for an empty target, -inf otherwise (as ATen)
        nll = xp.where(in_len == 0, xp.where(tg_len == 0, 0, xp.inf), nll).astype(x.dtype)
    bad = xp.isinf(nll) & zero_inf
    out = xp.where(bad, 0, nll).astype(x.dtype)

    def _backward(g: Any) -> None:
        if not want_grad:  # no time steps: no alignment contributes
            lp._accumulate(xp.zeros_like(x))
            return
        with np.errstate(all="ignore"):
            ab = alpha + beta  # (T, N, S')
            m = ab.max(axis=2, keepdims=True)
            m = xp.where(xp.isneginf(m), 0, m)
            onehot = (ext[:, :, None] == xp.arange(c)).astype(x.dtype)  # (N, S', C)
            # the sum over the s of each label: (N, T, S') @ (N, S', C), a batched matmul
            per_c = xp.matmul(xp.exp(ab - m).transpose(1, 0, 2), onehot).transpose(1, 0, 2)
            lcab = xp.log(per_c) + m
            grad = (xp.exp(x) - xp.exp(lcab + nll[None, :, None] - x)) * g[None, :, None]
            valid = (xp.arange(t_max)[:, None] < in_len[None, :])[:, :, None]
            grad = xp.where(valid & ~bad[None, :, None], grad, 0)
        lp._accumulate(grad.astype(x.dtype, copy=False))

    return Tensor._make(out, (lp,), _backward, op, saves=(lp,))


def ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The Connectionist Temporal Classification loss, as torch.nn.functional.ctc_loss:
    log_probs (T, N, C) or (T, C) (log-softmax outputs), targets (N, S) padded or 1-D (the
    targets concatenated; (S,) without a batch), input_lengths and target_lengths (N) (Tensors
    or int sequences). The per-sample loss is -log p(target | input) by the alpha recursion in
    log space; 'mean' divides each by its target length (at least 1) and averages;
    zero_infinity: infinite losses (impossible alignments) and their gradients become 0.
    The gradient w.r.t. log_probs is ATen's: exp(log_probs) minus the alignment posteriors
    (times the incoming gradient), the true gradient w.r.t. the logits of a log_softmax that
    produced log_probs (it differs from d loss / d log_probs by exp(log_probs), which the
    log_softmax backward cancels) -- so it matches torch's, and gradcheck on log_probs
    directly fails for both."""
    op = "ctc_loss"
    red = _reduction(None, None, reduction, op)
    zero_infinity = _F._flag(zero_infinity, op, "zero_infinity")
    lp = _float_tensor(log_probs, op, "log_probs")
    if lp.ndim not in (2, 3):
        raise _ShapeError(
            f"{op}: log_probs: expected a (T, N, C) or (T, C) tensor, got shape {lp.shape}"
        )
    batched = lp.ndim == 3
    if lp.data.size == 0 and (lp.shape[-1] == 0 or (batched and lp.shape[1] == 0)):
        raise _ShapeError(f"{op}: log_probs tensor must not be empty")
    x = lp if batched else lp.reshape(lp.shape[0], 1, lp.shape[1])
    t_max, n, c = x.shape
    if not _is_int(blank):
        raise TypeError(f"{op}: blank: expected an int, got {blank!r}")
    if not 0 <= blank < c:
        raise _ShapeError(f"{op}: blank must be in label range")
    xp = get_array_module(lp.data)
    tg = _tensor(targets, op, "targets").data
    if tg.dtype.kind == "f":  # torch accepts float targets and reads them as integers
        tg = tg.astype(np.int64)
    elif tg.dtype.kind not in "iu":
        raise _LossTypeError(f"{op}: targets: expected an integer tensor, got {tg.dtype}")
    tg = xp.asarray(tg).astype(np.int64, copy=False)
    in_len = _lengths(input_lengths, op, "input_lengths", xp)
    tg_len = _lengths(target_lengths, op, "target_lengths", xp)
    if in_len.shape[0] != n:
        raise _ShapeError(f"{op}: input_lengths must be of size batch_size")
    if tg_len.shape[0] != n:
        raise _ShapeError(f"{op}: target_lengths must be of size batch_size")
    for name, v in (("input_lengths", in_len), ("target_lengths", tg_len)):
        if n and int(v.min()) < 0:
            raise _ShapeError(
                f"{op}: Expected {name} to have value at least 0, but got value {int(v.min())}"
            )
    if n and int(in_len.max()) > t_max:
        raise _ShapeError(
            f"{op}: Expected input_lengths to have value at most {t_max}, but got value "
            f"{int(in_len.max())}"
        )
    if not batched:
        tg = tg.reshape(1, -1)
    if tg.ndim == 1:  # concatenated targets: sample i's from the running sum of the lengths
        total = int(tg_len.sum())
        if tg.shape[0] != total:
            raise _ShapeError(
                f"{op}: Expected tensor to have size {total} at dimension 0, but got size "
                f"{tg.shape[0]} for argument #2 'targets'"
            )
    elif tg.ndim == 2:
        if tg.shape[0] != n:
            raise _ShapeError(
                f"{op}: Expected tensor to have size {n} at dimension 0, but got size "
                f"{tg.shape[0]} for argument #2 'targets'"
            )
        need = int(tg_len.max()) if n else 0
        if tg.shape[1] < need:
            raise _ShapeError(
                f"{op}: Expected tensor to have size at least {need} at dimension 1, but got "
                f"size {tg.shape[1]} for argument #2 'targets'"
            )
    else:
        raise _ShapeError(f"{op}: targets: expected a 1-D or 2-D tensor, got shape {tg.shape}")
    if xp is np and x.data.dtype in (np.float32, np.float64):
        # the kernel (csrc/cpu/ctc.h) takes both target layouts and checks the labels
        nll = _ctc_nll_kernel(op, x, tg, in_len, tg_len, int(blank), zero_infinity)
    else:
        nll = _ctc_nll(op, x, _ctc_labels(op, tg, tg_len, c, int(blank)), in_len, tg_len,
                       int(blank), zero_infinity)  # fmt: skip
    if red == "none":
        return nll if batched else nll.reshape(())
    if red == "sum":
        return nll.sum()
    return (nll / Tensor(xp.maximum(tg_len, 1).astype(lp.data.dtype))).mean()
