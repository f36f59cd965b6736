"""The losses on distributions, margins and embeddings, and the distance functions, as
torch.nn.functional (torch 2.13): kl_div, poisson_nll_loss, gaussian_nll_loss,
cosine_embedding_loss, margin_ranking_loss, hinge_embedding_loss, soft_margin_loss,
multilabel_soft_margin_loss, multi_margin_loss, triplet_margin_loss, one_hot, normalize,
cosine_similarity and pairwise_distance (exported by deltagrad.functional).

Each is torch's own formula written with differentiable Tensor ops, op for op, so that its
gradients (the target's too where torch differentiates it) and its inf / NaN results are
torch's. The pieces the Tensor API lacks are small nodes here with torch's derivative: xlogy,
log1p, logsigmoid, the clamp torch applies to a norm or a variance under no_grad (its gradient
passes as if unclamped) and p-norms for p < 0. Each function records one graph node (_node)
that runs its ops with numpy's floating-point warnings off, forward and backward, as torch
warns of none of its overflows or 0 / 0s.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any, Callable

import numpy as np

from . import ops
from ._cpu import IndexRangeError
from ._functional_dgrad import recompute_dbackward
from ._reduction import legacy_reduction
from .autograd import grad as _autograd_grad
from .backends._args import choice, is_device_array
from .tensor import (
    Tensor,
    _d_same,
    _dims,
    _sgn,
    _ShapeError,
    get_array_module,
    is_grad_enabled,
    no_grad,
    where,
)

__all__ = [
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "one_hot",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
]

# ATen's `constexpr float EPSILON = 1e-12` that cosine_embedding_loss adds to the squared
# magnitudes: a float32 constant, so 1e-12 rounded to float32
_EPSILON = float(np.float32(1e-12))


# A bad shape or value: torch raises RuntimeError, deltagrad ValueError; tensor._ShapeError
# is both
_LossError = _ShapeError


class _LossTypeError(TypeError, RuntimeError):
    """A bad dtype: torch raises RuntimeError, deltagrad TypeError; both catch it."""


# A class index out of range (multi_margin_loss): torch's RuntimeError; deltagrad's one class for
# an index out of range (_cpu.IndexRangeError) is an IndexError and a RuntimeError
_LossIndexError = IndexRangeError


# ---- arguments ----------------------------------------------------------------------------


def _tensor(x: Any, op: str, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or is_device_array(x):
        return Tensor(x)
    raise TypeError(f"{op}: {name}: expected a Tensor, got {type(x).__name__}")


def _float_tensor(x: Any, op: str, name: str) -> Tensor:
    x = _tensor(x, op, name)
    if x.data.dtype.kind != "f":
        raise _LossTypeError(f"{op}: {name}: expected a floating point tensor, got {x.dtype}")
    return x


def _real(v: Any, op: str, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name}: expected a number, got {type(v).__name__} {v!r}")
    return float(v)


def _broadcast(op: str, **shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the named arrays broadcast to; a _LossError naming them when they do not."""
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"{k} {tuple(s)}" for k, s in shapes.items())
        raise _LossError(f"{op}: the shapes do not broadcast: {listed}") from None


def _broadcast_mismatch(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    """torch's message when shapes a and b do not broadcast (the first clash from the right,
    as its infer_size), else None."""
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return (
                f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at "
                f"non-singleton dimension {i}"
            )
    return None


_TARGET_SIZE_WARNING = (
    "Using a target size ({}) that is different to the input size ({}). This will likely "
    "lead to incorrect results due to broadcasting. Please ensure they have the same size."
)


def broadcast_regression(
    y: Tensor, t: Tensor, op: str, stacklevel: int = 3
) -> tuple[Tensor, Tensor]:
    """torch 2.13's input / target handling in mse_loss, l1_loss, smooth_l1_loss and
    huber_loss: equal shapes pass unchanged (the fused kernels' path); other shapes warn
    (torch's UserWarning, its text unprefixed so that filters written for torch match it)
    and are broadcast with expand, so that each operand's gradient sums back to its own
    shape; shapes that do not broadcast raise _LossError with torch's message.
    stacklevel: the warning's, pointing at the loss function's caller."""
    if y.shape == t.shape:
        return y, t
    warnings.warn(_TARGET_SIZE_WARNING.format(t.shape, y.shape), UserWarning, stacklevel=stacklevel)
    clash = _broadcast_mismatch(y.shape, t.shape)
    if clash is not None:
        raise _LossError(
            f"{op}: target has shape {t.shape}, which does not broadcast with the input's shape "
            f"{y.shape}: {clash}"
        )
    shape = tuple(np.broadcast_shapes(y.shape, t.shape))
    # contiguous: the kernels read memory linearly (a broadcast view would be copied anyway)
    y = y if y.shape == shape else y.expand(shape).contiguous()
    t = t if t.shape == shape else t.expand(shape).contiguous()
    return y, t


def _reduction(size_average: Any, reduce: Any, reduction: Any, op: str) -> str:
    """reduction, or torch's mapping of the deprecated size_average / reduce when either is
    given (with torch's UserWarning: deltagrad._reduction.legacy_reduction)."""
    if size_average is None and reduce is None:
        return choice(reduction, ops.REDUCTIONS, op, "reduction")
    return legacy_reduction(size_average, reduce, op)


def _reduce_value(per: Any, red: str, div: float = 1) -> Any:
    """The value of an elementwise loss array under torch's reductions: per itself ("none"),
    its sum, divided by the element count ("mean"; NaN when empty) or by div ("sum", for
    kl_div's "batchmean"), as a 0-d array of per's dtype."""
    if red == "none":
        return per
    total = per.sum()
    if red == "mean":
        total = total / per.size if per.size else np.nan
    elif div != 1:
        total = total / div
    return get_array_module(per).asarray(total, dtype=per.dtype)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ---- one graph node per function ------------------------------------------------------------


def _node(op: str, fn: Callable[..., Tensor], *args: Tensor) -> Tensor:
    """fn(*args), built from Tensor ops, recorded as one node named op whose backward runs the
    ops' own backward (dg.autograd.grad over a private copy of the graph). numpy's
    floating-point warnings are off in both passes (torch's ops warn of no inf or NaN)."""
    if not (is_grad_enabled() and any(a.requires_grad for a in args)):
        with np.errstate(all="ignore"), no_grad():
            return fn(*args)
    inner = [Tensor(a.data, requires_grad=True) if a.requires_grad else a for a in args]
    with np.errstate(all="ignore"):
        out = fn(*inner)
    if not out.requires_grad:  # only non-differentiable paths (a target in a comparison)
        return Tensor(out.data)
    pairs = [(a, i) for a, i in zip(args, inner) if a.requires_grad]
    leaves = [i for _, i in pairs]

    def _backward(g: Any) -> None:
        with np.errstate(all="ignore"):
            grads = _autograd_grad(out, leaves, g, retain_graph=True, allow_unused=True)
        for (a, _), gi in zip(pairs, grads):
            if gi is not None:
                a._accumulate(gi.data)

    db = recompute_dbackward(fn, *args)  # create_graph=True: fn's own graph, with a graph
    return Tensor._make(out.data, tuple(args), _backward, op, saves=tuple(args), dbackward=db)


# ---- the pieces the Tensor API lacks --------------------------------------------------------


def _xlogy(x: Tensor, y: Tensor) -> Tensor:
    """torch.xlogy (Tensor.xlogy, torch's derivatives): x * log(y), 0 where x == 0; with
    torch's double backward (d/dx = xlogy(x != 0, y), d/dy = x / y, as Tensor ops)."""
    out = x.xlogy(y)
    if out._prev and getattr(out, "_dbackward", None) is None:
        out._dbackward = partial(_d_xlogy, x, y)
    return out


def _d_xlogy(x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    nz = Tensor((x.data != 0).astype(x.data.dtype))
    return g * _xlogy(nz, y), g * x / y


def _log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x; d/dx = 1 / (x + 1), as torch."""
    xd = x.data
    xp = get_array_module(xd)

    def _backward(g: Any) -> None:
        x._accumulate(g / (xd + 1))

    db = partial(_d_log1p, x)
    return Tensor._make(xp.log1p(xd), (x,), _backward, "log1p", saves=(x,), dbackward=db)


def _d_log1p(x: Tensor, g: Tensor) -> tuple[Any, ...]:
    return (g / (x + 1),)


def _logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)) without overflow, with torch's CPU
    kernel's gradient: (1 - b / (1 + b)) for x < 0, b / (1 + b) otherwise, b = exp(-|x|)."""
    xd = x.data
    xp = get_array_module(xd)
    b = xp.exp(-xp.abs(xd))
    out = xp.minimum(xd, 0) - xp.log1p(b)

    def _backward(g: Any) -> None:
        s = b / (1 + b)
        x._accumulate(xp.where(xd < 0, 1 - s, s) * g)

    out = out.astype(xd.dtype, copy=False)
    return Tensor._make(out, (x,), _backward, "logsigmoid", dbackward=partial(_d_logsigmoid, x))


def _d_logsigmoid(x: Tensor, g: Tensor) -> tuple[Any, ...]:
    return (g * (-x).sigmoid(),)


def _clamp_min_no_grad(x: Tensor, lo: float) -> Tensor:
    """max(x, lo) (NaN stays NaN) whose gradient passes everywhere, as if unclamped: torch's
    `v = v.clone(); with no_grad: v.clamp_min_(lo)` (gaussian_nll_loss's variance,
    cosine_similarity's norms)."""
    xd = x.data
    xp = get_array_module(xd)
    out = xp.maximum(xd, xd.dtype.type(lo))

    def _backward(g: Any) -> None:
        x._accumulate(g)

    return Tensor._make(out, (x,), _backward, "clamp_min", saves=(), dbackward=_d_same)


def _negative_p_norm(x: Tensor, p: float, dim: Any, keepdim: bool) -> Tensor:
    """sum(|x|**p)**(1/p) for a finite p < 0 (torch.norm allows it; Tensor.norm does not):
    0 where an element is 0. The gradient is torch's norm_backward for p < 1,
    sgn(x) |x|**(p-1) g norm**(1-p), 0 at x == 0."""
    xd = x.data
    xp = get_array_module(xd)
    axes = _dims(dim, xd.ndim, "norm")
    keep = [1 if i in axes else s for i, s in enumerate(xd.shape)]
    shape = keep if keepdim else [s for i, s in enumerate(xd.shape) if i not in axes]
    nrm = (xp.abs(xd) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
    nrm = nrm.astype(xd.dtype, copy=False)

    def _backward(g: Any) -> None:
        scaled = _sgn(xd) * xp.where(xd == 0, 0, xp.abs(xd) ** (p - 1))
        x._accumulate((scaled * g.reshape(keep) * nrm ** (1 - p)).astype(xd.dtype))

    return Tensor._make(nrm.reshape(shape), (x,), _backward, "norm", saves=(x,))


def _norm(x: Tensor, p: Any, dim: Any, keepdim: bool) -> Tensor:
    """torch's x.norm(p, dim, keepdim): Tensor.norm, or _negative_p_norm for finite p < 0."""
    if not isinstance(p, str) and -math.inf < p < 0:
        return _negative_p_norm(x, float(p), dim, keepdim)
    return x.norm(p, dim, keepdim)


# ---- losses -------------------------------------------------------------------------------

_KL_MEAN_WARNING = (
    "kl_div: reduction: 'mean' divides the total loss by both the batch size and the support "
    "size. 'batchmean' divides only by the batch size, and aligns with the KL div math "
    "definition. 'mean' will be changed to behave the same as 'batchmean' in the next major "
    "release (of torch, which deltagrad follows)."
)


def kl_div(
    input: Any,  # noqa: A002  (torch's name)
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """The Kullback-Leibler divergence loss on log-probabilities input: elementwise
    xlogy(target, target) - target * input (0 where target is 0), or, with log_target,
    exp(target) * (target - input); reduced as torch: "batchmean" is the sum divided by
    input.size(0), "mean" (which warns, as torch) the mean over all elements. input and
    target broadcast; differentiable in both."""
    op = "kl_div"
    x, t = _tensor(input, op, "input"), _tensor(target, op, "target")
    for v, nm in ((x, "input"), (t, "target")):
        if v.data.dtype.kind != "f":
            raise _LossTypeError(f"{op}: Integral inputs not supported ({nm} has dtype {v.dtype})")
    batchmean = False
    if size_average is not None or reduce is not None:
        red = _reduction(size_average, reduce, reduction, op)
    else:
        if reduction == "mean":
            warnings.warn(_KL_MEAN_WARNING, UserWarning, stacklevel=2)
        if reduction == "batchmean":
            red, batchmean = "sum", True
        else:
            red = choice(reduction, (*ops.REDUCTIONS, "batchmean"), op, "reduction")
    _broadcast(op, input=x.shape, target=t.shape)

    def fn(x: Tensor, t: Tensor) -> Tensor:
        out = t.exp() * (t - x) if log_target else _xlogy(t, t) - t * x
        r = _reduce(out, red)
        return r / x.shape[0] if batchmean and x.ndim else r

    if log_target and x.shape == t.shape and x.dtype == t.dtype:
        div = x.shape[0] if batchmean and x.ndim else 1
        return _kl_log_target(x, t, red, div, fn)
    return _node(op, fn, x, t)


def _kl_log_target(x: Tensor, t: Tensor, red: str, div: int, fn: Any) -> Tensor:
    """kl_div(log_target=True) of same-shape, same-dtype input and target as one node:
    l = exp(t) (t - x), d/dx = -exp(t), d/dt = exp(t) (t - x + 1) = l + exp(t); reduced
    ("sum" then divided by div for "batchmean"). fn: the Tensor-op loss (double backward)."""
    xp = get_array_module(x.data)
    with np.errstate(all="ignore"):
        e = xp.exp(t.data)
        loss = t.data - x.data
        loss *= e
        n = loss.size
        out = _reduce_value(loss, red, div)
    scale = 1.0 / n if red == "mean" and n else (1.0 / div if div else math.nan)

    def _backward(g: Any) -> None:
        with np.errstate(all="ignore"):
            if red != "none":
                g = g * scale
            if t.requires_grad:
                dt = loss + e
                dt *= g
                t._accumulate(dt)
            if x.requires_grad:
                x._accumulate(e * -g)

    db = recompute_dbackward(fn, x, t)  # (saves: the output, which "none" returns, too)
    return Tensor._make(out, (x, t), _backward, "kl_div", dbackward=db)


def poisson_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    log_input: bool = True,
    full: bool = False,
    size_average: Any = None,
    eps: float = 1e-8,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The Poisson negative log-likelihood: exp(input) - target * input (log_input), or
    input - target * log(input + eps); full adds Stirling's approximation of log(target!),
    target * log(target) - target + 0.5 * log(2 pi target), where target > 1. Differentiable
    in input and target, as torch."""
    op = "poisson_nll_loss"
    red = _reduction(size_average, reduce, reduction, op)
    eps = _real(eps, op, "eps")
    x, t = _tensor(input, op, "input"), _tensor(target, op, "target")
    _broadcast(op, input=x.shape, target=t.shape)

    def fn(x: Tensor, t: Tensor) -> Tensor:
        loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
        if full:
            stirling = t * t.log() - t + 0.5 * ((2 * math.pi) * t).log()
            loss = loss + stirling.masked_fill(t <= 1, 0)
        return _reduce(loss, red)

    return _node(op, fn, x, t)


def gaussian_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """The Gaussian negative log-likelihood 0.5 * (log(var) + (input - target)**2 / var)
    (+ 0.5 * log(2 pi) when full), var clamped to at least eps (its gradient passes as if
    unclamped, as torch's). var: a float, a tensor of input's shape, of input's shape
    without its last dim, or of input's shape with one dim of size 1. Differentiable in
    input, target and var."""
    op = "gaussian_nll_loss"
    x, t = _tensor(input, op, "input"), _tensor(target, op, "target")
    eps = _real(eps, op, "eps")
    xp = get_array_module(x.data)
    if isinstance(var, float):  # torch's test: a Python float (a numpy float64 is one too)
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries (var={var})")
        dt = x.dtype if x.data.dtype.kind == "f" else np.float32
        v = Tensor(xp.full(x.shape, var, dtype=dt))
    elif isinstance(var, (Tensor, np.ndarray)) or is_device_array(var):
        v = _tensor(var, op, "var")
        if v.data.dtype.kind != "f":
            raise _LossTypeError(f"{op}: var: expected a floating point tensor, got {v.dtype}")
        if bool((v.data < 0).any()):
            raise ValueError(f"{op}: var has negative entry/entries")
    else:
        raise TypeError(f"{op}: var: expected a Tensor or a float, got {type(var).__name__}")
    unsqueeze = False
    if v.shape != x.shape:
        if x.shape[:-1] == v.shape:  # one variance per sample (homoscedastic)
            unsqueeze = True
        elif not (
            x.ndim == v.ndim and sum(b for a, b in zip(x.shape, v.shape) if a != b) == 1
        ):  # (torch's test: the sizes of var that differ from input's sum to 1)
            raise ValueError(
                f"{op}: var is of incorrect size: {v.shape} for input of shape {x.shape}"
            )
    red = choice(reduction, ops.REDUCTIONS, op, "reduction")
    vshape = v.shape + (1,) if unsqueeze else v.shape
    _broadcast(op, input=x.shape, target=t.shape, var=vshape)

    def fn(x: Tensor, t: Tensor, v: Tensor) -> Tensor:
        if unsqueeze:
            v = v.unsqueeze(-1)
        v = _clamp_min_no_grad(v, eps)
        loss = 0.5 * (v.log() + (x - t) ** 2 / v)
        if full:
            loss = loss + 0.5 * math.log(2 * math.pi)
        return _reduce(loss, red)

    return _node(op, fn, x, t, v)


def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos(input1, input2) where target == 1, max(0, cos - margin) where target == -1
    (0 elsewhere), with torch's cos = sum(x1 x2) / sqrt((sum(x1**2) + eps)(sum(x2**2) + eps)),
    eps = 1e-12 in float32. input1, input2: (N, D) with target (N,), or (D,) with a 0-d
    target. Differentiable in input1 and input2 (not in target, as torch)."""
    op = "cosine_embedding_loss"
    red = _reduction(size_average, reduce, reduction, op)
    margin = _real(margin, op, "margin")
    a, b = _tensor(input1, op, "input1"), _tensor(input2, op, "input2")
    t = _tensor(target, op, "target")
    td = t.ndim
    if td not in (0, 1):
        raise _LossError(
            f"{op}: 0D or 1D target tensor expected, multi-target not supported (got a "
            f"target of shape {t.shape})"
        )
    want = 2 if td == 1 else 1
    if a.ndim != want or b.ndim != want:
        raise _LossError(
            f"{op}: {td}D target tensor expects {want}D input tensors, but found inputs with "
            f"sizes {a.shape} and {b.shape}."
        )
    rows = _broadcast(op, input1=a.shape, input2=b.shape)[:-1]
    _broadcast(op, cos=rows, target=t.shape)
    tt = t.data

    def fn(a: Tensor, b: Tensor) -> Tensor:
        prod_sum = (a * b).sum(td)
        mag1 = (a * a).sum(td) + _EPSILON
        mag2 = (b * b).sum(td) + _EPSILON
        cos = prod_sum / (mag1 * mag2).sqrt()
        pos = 1 - cos
        neg = (cos - margin).clamp(min=0)
        return _reduce(where(tt == 1, pos, 0.0) + where(tt == -1, neg, 0.0), red)

    if a.ndim == 2 and a.shape == b.shape and a.dtype == b.dtype and t.shape == rows:
        return _cosine_embedding_rows(a, b, tt, margin, red, fn)
    return _node(op, fn, a, b)


def _cosine_embedding_rows(
    a: Tensor, b: Tensor, tt: Any, margin: float, red: str, fn: Any
) -> Tensor:
    """cosine_embedding_loss of (N, D) inputs of one shape and dtype as one node: row dot
    products (einsum, no temporaries), cos = p / s with s = sqrt(m1 m2), m = |x|^2 + eps;
    d cos / da = b / s - cos a / m1 (b alike), times d loss / d cos = -1 (target 1), 1 where
    cos - margin >= 0 (target -1: torch's clamp_min passes the gradient at the kink), else
    0. fn: the Tensor-op loss (double backward)."""
    xp = get_array_module(a.data)
    ad, bd = a.data, b.data
    with np.errstate(all="ignore"):
        p = xp.einsum("ij,ij->i", ad, bd)
        m1 = xp.einsum("ij,ij->i", ad, ad)
        m1 += _EPSILON
        m2 = xp.einsum("ij,ij->i", bd, bd)
        m2 += _EPSILON
        s = xp.sqrt(m1 * m2)
        cos = p / s
        pos, neg = tt == 1, tt == -1
        zero = xp.zeros((), dtype=ad.dtype)
        cm = cos - margin
        per = xp.where(pos, 1 - cos, zero) + xp.where(neg, xp.maximum(cm, 0), zero)
        n = per.size
        out = _reduce_value(per, red)  # (per has ad's dtype: cos and zero do)
        dcos = xp.where(pos, -1.0, xp.where(neg & (cm >= 0), 1.0, 0.0)).astype(ad.dtype)
        if red == "mean" and n:
            dcos /= n

    def _backward(g: Any) -> None:
        with np.errstate(all="ignore"):
            gc = dcos * g  # per row
            if a.requires_grad:
                da = bd * (gc / s)[:, None]
                da -= ad * (gc * cos / m1)[:, None]
                a._accumulate(da)
            if b.requires_grad:
                db_ = ad * (gc / s)[:, None]
                db_ -= bd * (gc * cos / m2)[:, None]
                b._accumulate(db_)

    dbk = recompute_dbackward(fn, a, b)
    return Tensor._make(out, (a, b), _backward, "cosine_embedding_loss", dbackward=dbk)


def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -target * (input1 - input2) + margin), the three broadcast (they must have the
    same number of dimensions, as torch). Differentiable in input1, input2 and target."""
    op = "margin_ranking_loss"
    red = _reduction(size_average, reduce, reduction, op)
    margin = _real(margin, op, "margin")
    a, b = _tensor(input1, op, "input1"), _tensor(input2, op, "input2")
    t = _tensor(target, op, "target")
    if not a.ndim == b.ndim == t.ndim:
        raise _LossError(
            f"{op}: All input tensors should have same dimension but got sizes: input1: "
            f"{a.shape}, input2: {b.shape}, target: {t.shape}"
        )
    _broadcast(op, input1=a.shape, input2=b.shape, target=t.shape)

    def fn(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
        return _reduce(((-t) * (a - b) + margin).clamp(min=0), red)

    return _node(op, fn, a, b, t)


def hinge_embedding_loss(
    input: Any,  # noqa: A002
    target: Any,
    margin: float = 1.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """input where target == 1, max(0, margin - input) where target == -1 (as torch, both
    terms elsewhere); input and target broadcast. Differentiable in input."""
    op = "hinge_embedding_loss"
    red = _reduction(size_average, reduce, reduction, op)
    margin = _real(margin, op, "margin")
    x, t = _tensor(input, op, "input"), _tensor(target, op, "target")
    _broadcast(op, input=x.shape, target=t.shape)
    tt = t.data

    def fn(x: Tensor) -> Tensor:
        margin_clamp = (margin - x).clamp(min=0)
        out = where(tt != 1, margin_clamp, 0.0) + where(tt != -1, x, 0.0)
        return _reduce(out, red)

    return _node(op, fn, x)


def soft_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """log(1 + exp(-target * input)) (log1p, as torch; inf where exp overflows), target
    broadcast to input's shape. Differentiable in input; torch refuses a target that
    requires grad, and so does this."""
    op = "soft_margin_loss"
    red = _reduction(size_average, reduce, reduction, op)
    x = _float_tensor(input, op, "input")
    t = _tensor(target, op, "target")
    if t.requires_grad and is_grad_enabled():
        raise NotImplementedError(
            f"{op}: target: not differentiable (torch: the function 'soft_margin_loss' is not "
            "differentiable with respect to argument 'target'); pass target.detach()"
        )
    if _broadcast(op, input=x.shape, target=t.shape) != x.shape:
        raise _LossError(
            f"{op}: target of shape {t.shape} must broadcast to the input's shape {x.shape}"
        )
    td = t.data.astype(x.dtype, copy=False)

    def fn(x: Tensor) -> Tensor:
        return _reduce(_log1p(((-x) * td).exp()), red)

    return _node(op, fn, x)


def multilabel_soft_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-(target * logsigmoid(input) + (1 - target) * logsigmoid(-input)), times weight when
    given, averaged over the last (class) dimension of input: one loss per sample, then
    reduced. Differentiable in input, target and weight, as torch."""
    op = "multilabel_soft_margin_loss"
    red = _reduction(size_average, reduce, reduction, op)
    x = _float_tensor(input, op, "input")
    t = _tensor(target, op, "target")
    if x.ndim == 0:
        raise IndexError(
            f"{op}: input: a 0-d tensor has no class dimension (expected (C,) or (N, C))"
        )
    shapes = {"input": x.shape, "target": t.shape}
    args = [x, t]
    if weight is not None:
        w = _tensor(weight, op, "weight")
        shapes["weight"] = w.shape
        args.append(w)
    _broadcast(op, **shapes)
    class_dim = x.ndim - 1
    c = x.shape[class_dim]

    def fn(x: Tensor, t: Tensor, w: Tensor | None = None) -> Tensor:
        loss = -(t * _logsigmoid(x) + (1 - t) * _logsigmoid(-x))
        if w is not None:
            loss = loss * w
        return _reduce(loss.sum(class_dim) / c, red)

    return _node(op, fn, *args)


def multi_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class hinge loss: for each sample (rows of input (N, C), or input (C,)),
    sum over the classes i != y of max(0, margin - input[y] + input[i])**p (times weight[y])
    divided by C; p is 1 or 2. target: the N class indices. Differentiable in input (a
    weight that requires grad is refused, as torch). For an empty batch, "sum" is 0 and
    "mean" NaN (torch returns an uninitialized value)."""
    op = "multi_margin_loss"
    red = _reduction(size_average, reduce, reduction, op)
    if p != 1 and p != 2:
        raise ValueError(f"{op}: p: only p == 1 and p == 2 supported, got {p!r}")
    margin = _real(margin, op, "margin")
    x = _float_tensor(input, op, "input")
    xp = get_array_module(x.data)
    if x.ndim > 2 or (x.ndim and x.shape[-1] == 0):
        raise _LossError(
            f"{op}: input: Expected non-empty vector or matrix with optional 0-dim batch "
            f"size, but got: {x.shape}"
        )
    nframe = x.shape[0] if x.ndim == 2 else 1
    dim = x.shape[-1] if x.ndim else 1
    tt = target.data if isinstance(target, Tensor) else target
    if not (isinstance(tt, np.ndarray) or is_device_array(tt)):
        raise TypeError(f"{op}: target: expected a Tensor, got {type(target).__name__}")
    if tt.dtype.kind not in "iu":
        raise _LossTypeError(f"{op}: target: expected integer class indices, got {tt.dtype}")
    if tt.ndim > 1 or tt.size != nframe:
        raise _LossError(
            f"{op}: target tensor should be 1-D with size equal to the number of input "
            f"samples (batch size). Expected target size ({nframe},), but got {tt.shape}. "
            f"Input has shape {x.shape}."
        )
    wt = None
    if weight is not None:
        w = _tensor(weight, op, "weight")
        if w.requires_grad:
            raise NotImplementedError(
                f"{op}: weight: not differentiable (as torch); pass weight.detach()"
            )
        if w.ndim != 1:
            raise ValueError(f"{op}: weight must be one-dimensional, got shape {w.shape}")
        if w.shape[0] != dim:
            raise _LossError(f"{op}: inconsistent weight size, expected {dim} but got {w.shape}")
        wt = w.data.astype(x.dtype)
    t1 = xp.asarray(tt).reshape(nframe).astype(np.int64)
    if t1.size and (int(t1.min()) < 0 or int(t1.max()) >= dim):
        bad = t1[(t1 < 0) | (t1 >= dim)][0]
        raise _LossIndexError(f"{op}: target out of range: {int(bad)} not in [0, {dim})")
    if x.ndim and nframe and x.data.dtype.kind == "f":
        return _multi_margin_rows(x, t1, tt.shape, p, margin, wt, red)
    others = xp.arange(dim)[None, :] != t1[:, None]
    wy = None if wt is None else wt[t1][:, None]

    def fn(x: Tensor) -> Tensor:
        x2 = x.reshape(nframe, dim)
        z = (margin - x2.gather(1, t1[:, None])) + x2
        # torch's kernel: the terms with z > 0 only (a NaN z adds nothing, and no gradient)
        zm = where(others & (z.data > 0), z, 0.0)
        h = zm if p == 1 else zm * zm
        if wy is not None:
            h = h * wy
        per = h.sum(1) / dim
        return per.reshape(tt.shape) if red == "none" else _reduce(per, red)

    return _node(op, fn, x)


def _multi_margin_rows(
    x: Tensor, t1: Any, tshape: tuple[int, ...], p: int, margin: float, wt: Any, red: str
) -> Tensor:
    """multi_margin_loss of a non-empty (N, C) or (C,) float input as one node, in array ops:
    z = (margin - x[n, y]) + x[n, i], the terms z > 0 of the classes i != y (torch's kernel:
    a NaN z adds nothing, and no gradient), h = z or z^2, per = sum(h) * w[y] / C (the
    weight per row, after the sum); d per / d x[n, i] = (1 or 2 z) w[y] / C on those terms,
    and x[n, y] gets minus their sum. Double backward: the Tensor-op formula (_node's fn)."""
    xd = x.data
    xp = get_array_module(xd)
    nframe, dim = (xd.shape[0], xd.shape[1]) if xd.ndim == 2 else (1, xd.shape[0])
    x2 = xd.reshape(nframe, dim)
    rows = xp.arange(nframe)
    with np.errstate(all="ignore"):
        mx = margin - x2[rows, t1]  # (N,), x's dtype
        z = x2 + mx[:, None]
        pos = z > 0
        pos[rows, t1] = False
        h = xp.where(pos, z, xp.zeros((), z.dtype))
        if p == 2:
            hz = h
            h = h * h
        per = h.sum(1)
        if wt is not None:
            wy = wt[t1]
            per *= wy
        per /= dim
        per = per.reshape(tshape)
        out = _reduce_value(per, red)

    def _backward(g: Any) -> None:
        with np.errstate(all="ignore"):
            coef = g.reshape(nframe) if red == "none" else xp.full(nframe, g, dtype=xd.dtype)
            if wt is not None:
                coef = coef * wy
            coef = (coef / (dim * nframe if red == "mean" else dim)).astype(xd.dtype, copy=False)
            if p == 1:
                gx = xp.multiply(pos, coef[:, None], dtype=xd.dtype)
            else:
                gx = hz * (2 * coef)[:, None]
            gx[rows, t1] = -gx.sum(1)
            x._accumulate(gx.reshape(xd.shape))

    def fn(x: Tensor) -> Tensor:
        x2 = x.reshape(nframe, dim)
        others = xp.arange(dim)[None, :] != t1[:, None]
        zt = (margin - x2.gather(1, t1[:, None])) + x2
        zm = where(others & (zt.data > 0), zt, 0.0)
        hh = zm if p == 1 else zm * zm
        if wt is not None:
            hh = hh * wt[t1][:, None]
        pr = hh.sum(1) / dim
        return pr.reshape(tshape) if red == "none" else _reduce(pr, red)

    db = recompute_dbackward(fn, x)
    return Tensor._make(out, (x,), _backward, "multi_margin_loss", saves=(x,), dbackward=db)


def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the pairwise_distance
    (p-norm of a - b + eps over the last dim); swap: d(anchor, negative) is replaced by
    d(positive, negative) where that is smaller. Differentiable in all three."""
    op = "triplet_margin_loss"
    red = _reduction(size_average, reduce, reduction, op)
    margin = _real(margin, op, "margin")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    p, eps = _real(p, op, "p"), _real(eps, op, "eps")
    a = _tensor(anchor, op, "anchor")
    pos, neg = _tensor(positive, op, "positive"), _tensor(negative, op, "negative")
    if not a.ndim == pos.ndim == neg.ndim:
        raise _LossError(
            f"{op}: The anchor, positive, and negative tensors are expected to have the same "
            f"number of dimensions, but got: anchor {a.ndim}D, positive {pos.ndim}D, and "
            f"negative {neg.ndim}D inputs"
        )
    _broadcast(op, anchor=a.shape, positive=pos.shape, negative=neg.shape)

    def fn(a: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        d_pos = _pairwise(a, pos, p, eps, False)
        d_neg = _pairwise(a, neg, p, eps, False)
        if swap:
            d_neg = d_neg.minimum(_pairwise(pos, neg, p, eps, False))
        return _reduce((margin + d_pos - d_neg).clamp(min=0), red)

    return _node(op, fn, a, pos, neg)


# ---- one_hot and the distance functions -----------------------------------------------------


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """(*, num_classes) int64 indicators of the integer class values in tensor (*);
    num_classes -1 infers it as max + 1. As torch, a class value < 0 or >= num_classes is
    an error, and so is an empty tensor with no num_classes."""
    op = "one_hot"
    if not isinstance(tensor, Tensor) and not (
        isinstance(tensor, np.ndarray) or is_device_array(tensor)
    ):
        raise TypeError(f"{op}: tensor: expected a Tensor, got {type(tensor).__name__}")
    idx = tensor.data if isinstance(tensor, Tensor) else tensor
    if idx.dtype.kind not in "iu":
        raise _LossTypeError(
            f"{op}: tensor: one_hot is only applicable to integer index tensors (torch: "
            f"LongTensor), got dtype {idx.dtype}"
        )
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{op}: num_classes: expected an int, got {num_classes!r}")
    n = int(num_classes)
    xp = get_array_module(idx)
    if idx.size == 0:
        if n <= 0:
            raise _LossError(f"{op}: Can not infer total number of classes from empty tensor.")
        return Tensor(xp.zeros(idx.shape + (n,), dtype=np.int64))
    if int(idx.min()) < 0:
        raise _LossError(f"{op}: Class values must be non-negative, got {int(idx.min())}.")
    top = int(idx.max())
    if n == -1:
        n = top + 1
    elif top >= n:
        raise _LossError(f"{op}: Class values must be smaller than num_classes ({n}), got {top}.")
    out = xp.zeros(idx.shape + (n,), dtype=np.int64)
    at = xp.arange(0, idx.size * n, n) + idx.reshape(-1).astype(np.int64)
    out.reshape(-1)[at] = 1  # writes N ones: no (N, C) comparison
    return Tensor(out)


def _pairwise(a: Tensor, b: Tensor, p: float, eps: float, keepdim: bool) -> Tensor:
    """torch's pairwise_distance: the p-norm of a - b + eps over the last dim of their
    broadcast."""
    return _norm(a - b + eps, p, max(a.ndim, b.ndim) - 1, keepdim)


def pairwise_distance(
    x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dimension (x1 and x2 broadcast), as torch:
    p = 0 (the count of non-zeros, no gradient), p > 0, p < 0, +-inf. Differentiable in x1
    and x2."""
    op = "pairwise_distance"
    a, b = _tensor(x1, op, "x1"), _tensor(x2, op, "x2")
    p, eps = _real(p, op, "p"), _real(eps, op, "eps")
    _broadcast(op, x1=a.shape, x2=b.shape)
    return _node(op, lambda a, b: _pairwise(a, b, p, eps, bool(keepdim)), a, b)


def _check_dim(dim: Any, ndim: int, op: str) -> int:
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim: expected an int, got {type(dim).__name__} {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: dim: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
            f"but got {dim})"
        )
    return int(dim)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum((x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps))) along dim of x1 and x2's broadcast,
    torch 2.13's formula: each norm clamped separately, under no_grad (the gradient flows
    through the norms as if unclamped). Integer inputs are cast to the other's float dtype;
    two integer inputs are an error, as torch."""
    op = "cosine_similarity"
    a, b = _tensor(x1, op, "x1"), _tensor(x2, op, "x2")
    eps = _real(eps, op, "eps")
    if eps < 0:
        raise _LossError(f"{op}: eps must be non-negative, got: {eps}")
    ka, kb = a.data.dtype.kind, b.data.dtype.kind
    if ka != "f" and kb != "f":
        raise _LossTypeError(
            f"{op}: expected common dtype to be floating point, got {a.dtype} and {b.dtype}"
        )
    if ka != "f":
        a = a.to(b.dtype)
    if kb != "f":
        b = b.to(a.dtype)
    shape = _broadcast(op, x1=a.shape, x2=b.shape)
    dim = _check_dim(dim, len(shape), op)

    def fn(a: Tensor, b: Tensor) -> Tensor:
        a = a if a.shape == shape else a.expand(shape)
        b = b if b.shape == shape else b.expand(shape)
        n1 = _clamp_min_no_grad(a.norm(2, dim, keepdim=True), eps)
        n2 = _clamp_min_no_grad(b.norm(2, dim, keepdim=True), eps)
        return ((a / n1) * (b / n2)).sum(dim)

    return _node(op, fn, a, b)


def normalize(
    input: Any,  # noqa: A002
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: Any = None,
) -> Tensor:
    """input / max(||input||_p, eps) along dim (an int or a tuple of ints), as torch: the
    clamp is differentiable (no gradient through a norm below eps). out: a tensor of the
    result's shape to write into (not differentiable, as torch)."""
    op = "normalize"
    x = _float_tensor(input, op, "input")
    if not isinstance(p, str):
        p = _real(p, op, "p")
    eps = _real(eps, op, "eps")
    if not isinstance(dim, (tuple, list)):
        dim = _check_dim(dim, x.ndim, op)

    def fn(x: Tensor) -> Tensor:
        return x / _norm(x, p, dim, True).clamp(min=eps).expand(x.shape)

    if out is None:
        return _node(op, fn, x)
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}: out: expected a Tensor, got {type(out).__name__}")
    if is_grad_enabled() and (x.requires_grad or out.requires_grad):
        raise RuntimeError(
            f"{op}: functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    r = _node(op, fn, x)
    if out.shape != r.shape:
        raise _LossError(f"{op}: out: expected shape {r.shape}, got {out.shape}")
    return out.copy_(r)
