"""NumPy float64 references of every op in deltagrad.ops (same names, same signatures).

Each function computes in float64 whatever dtype it is given (the tests compare a kernel's
float32 output against the float64 truth), and returns float64 arrays. They are written for
clarity and numerical stability, not speed: they are the oracle the kernels are tested against.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "matmul",
    "activation",
    "activation_backward",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "logsumexp",
    "logsumexp_backward",
    "softmax_cross_entropy",
    "sum_of_squares",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "linear_forward",
    "linear_backward",
    "sum",
    "mean",
    "sum_to_shape",
    "cumsum",
    "flip",
    "cumprod",
    "index_add",
    "index_add_",
    "scatter_reduce_",
    "index_reduce_",
    "sgd_update",
    "adam_update",
    "saves_input",
    "conv2d_forward",
    "conv2d_backward",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715
_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])

_py_sum = sum  # the builtin, shadowed below by the reduction op


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# The reductions, named here once for the references (checked against the kernels' below).
REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def matmul(
    a: Any,
    b: Any,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    out: Any = None,
) -> np.ndarray:
    """alpha * op(a) @ op(b) + beta * out; op transposes the last two dimensions, and batch
    dimensions broadcast (numpy.matmul's rules for >= 2-D operands)."""
    a, b = _f64(a), _f64(b)
    a = a.swapaxes(-1, -2) if trans_a else a
    b = b.swapaxes(-1, -2) if trans_b else b
    c = alpha * np.matmul(a, b)
    if out is not None and beta != 0.0:
        c = c + beta * _f64(out)
    return c


# ----------------------------------------------------------------------------------------------
# activations


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    s = 1.0 / (1.0 + e)
    return np.where(x >= 0, s, e * s)


def _phi_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), the standard normal CDF, accurate in both tails (erfc, not 1 + erf)."""
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def _gelu_tanh_grad(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    two_u = 2.0 * _SQRT_2_OVER_PI * x * (1.0 + _GELU_C * x * x)
    sg, sc = _sigmoid(two_u), _sigmoid(-two_u)
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)
    t = x * (2.0 * sg * sc)
    return dy * (sg + np.where(t == 0, 0.0, t * du))  # 0 * inf for |x| huge


def _silu_grad(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    # s + x s (1 - s) with 1 - s = sigmoid(-x) (no cancellation); 0 * inf at x = +-inf
    sg, sc = _sigmoid(x), _sigmoid(-x)
    p = sg * sc
    return dy * (sg + np.where(p == 0, 0.0, x * p))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu(x: np.ndarray, scale: float, alpha: float, inv: float) -> np.ndarray:
    """scale * (x if x > 0 else alpha * expm1(x * inv)): elu, selu and celu."""
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0) * inv))


def _elu_grad(dy: np.ndarray, x: np.ndarray, scale: float, alpha: float, inv: float) -> np.ndarray:
    # torch's elu_backward: the x <= 0 branch is exp's, so a NaN x passes dy * scale
    e = np.exp(np.minimum(x, 0.0) * inv)
    return np.where(x <= 0, dy * (scale * alpha * inv) * e, dy * scale)


def _hardsigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), x, np.clip((x + 3.0) / 6.0, 0.0, 1.0))  # exact near -3


def _mish(x: np.ndarray) -> np.ndarray:
    """x tanh(softplus(x)); -0 where the tanh underflows (x = -inf: not -inf * 0)."""
    t = np.tanh(np.logaddexp(0.0, x))
    return np.where(t == 0, -0.0, x * t)


def _mish_grad(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    # t + x sigmoid(x) (1 - t^2), the second term 0 where its factor is (x = +-inf: inf * 0)
    t = np.tanh(np.logaddexp(0.0, x))
    p = _sigmoid(x) * ((1.0 - t) * (1.0 + t))
    return dy * (t + np.where(p == 0, 0.0, x * p))


def _softsign(x: np.ndarray) -> np.ndarray:
    """x / (1 + |x|), +-1 at +-inf (the limit)."""
    return np.where(np.isinf(x), np.sign(x), x / (1.0 + np.abs(x)))


class _Act(NamedTuple):
    forward: Callable[[np.ndarray, float], np.ndarray]  # (x, param) -> y
    # (dy, saved, param) -> dx, where saved is x when saves_input, else y
    backward: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    saves_input: bool


# Each activation, named once: its reference forward, backward and what its backward takes. The
# order is the kernels' (ops.ACTIVATIONS, from csrc/common/op_names.h); checked below.
_ACTS = {
    "identity": _Act(lambda x, p: x.copy(), lambda dy, y, p: dy.copy(), False),
    "relu": _Act(
        lambda x, p: np.where(x > 0, x, np.where(np.isnan(x), x, 0.0)),
        lambda dy, y, p: np.where(y <= 0, 0.0, dy),  # NaN y: dy, as torch
        False,
    ),
    "leaky_relu": _Act(
        lambda x, p: np.where(x > 0, x, p * x),
        lambda dy, x, p: np.where(x > 0, dy, p * dy),
        True,
    ),
    "sigmoid": _Act(lambda x, p: _sigmoid(x), lambda dy, y, p: dy * y * (1.0 - y), False),
    "tanh": _Act(lambda x, p: np.tanh(x), lambda dy, y, p: dy * ((1.0 - y) * (1.0 + y)), False),
    "gelu": _Act(
        lambda x, p: x * _phi_cdf(x),
        lambda dy, x, p: dy * (_phi_cdf(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)),
        True,
    ),
    # 0.5 x (1 + tanh u) = x sigmoid(2u): no cancellation in the negative tail
    "gelu_tanh": _Act(
        lambda x, p: x * _sigmoid(2.0 * _SQRT_2_OVER_PI * x * (1.0 + _GELU_C * x * x)),
        lambda dy, x, p: _gelu_tanh_grad(dy, x),
        True,
    ),
    # log(1 + e^x), stable for any x
    "softplus": _Act(
        lambda x, p: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))),
        lambda dy, x, p: dy * _sigmoid(x),
        True,
    ),
    # x sigmoid(x); -0 where sigmoid underflows (x = -inf would give -inf * 0 = NaN)
    "silu": _Act(
        lambda x, p: np.where(_sigmoid(x) == 0, -0.0, x * _sigmoid(x)),
        lambda dy, x, p: _silu_grad(dy, x),
        True,
    ),
    # x > 0 ? x : alpha expm1(x); param = alpha
    "elu": _Act(
        lambda x, p: _elu(x, 1.0, p, 1.0), lambda dy, x, p: _elu_grad(dy, x, 1.0, p, 1.0), True
    ),
    # scale elu(x, alpha) with torch's constants
    "selu": _Act(
        lambda x, p: _elu(x, _SELU_SCALE, _SELU_ALPHA, 1.0),
        lambda dy, x, p: _elu_grad(dy, x, _SELU_SCALE, _SELU_ALPHA, 1.0),
        True,
    ),
    # x > 0 ? x : alpha expm1(x / alpha); param = alpha
    "celu": _Act(
        lambda x, p: _elu(x, 1.0, p, 1.0 / p),
        lambda dy, x, p: _elu_grad(dy, x, 1.0, p, 1.0 / p),
        True,
    ),
    # min(max(x, 0), 6); the backward (from y) 0 where x <= 0 or x >= 6, as torch's hardtanh
    "relu6": _Act(
        lambda x, p: np.where(np.isnan(x), x, np.clip(x, 0.0, 6.0)),
        lambda dy, y, p: np.where((y <= 0) | (y >= 6), 0.0, dy),
        False,
    ),
    # clamp(x / 6 + 1/2, 0, 1); the backward dy / 6 on -3 < x < 3 (NaN x: 0, as torch)
    "hardsigmoid": _Act(
        lambda x, p: _hardsigmoid(x),
        lambda dy, x, p: np.where((x > -3) & (x < 3), dy / 6.0, 0.0),
        True,
    ),
    # x hardsigmoid(x); the backward as torch 2.13's (0 to -3, dy (x/3 + 1/2) on (-3, 3), dy),
    # x/3 + 1/2 written (x + 3/2) / 3: exact near its root
    "hardswish": _Act(
        lambda x, p: np.maximum(x, -3.0) * _hardsigmoid(x),  # -0, not -inf * 0, at -inf
        lambda dy, x, p: np.where(x <= -3, 0.0, np.where(x < 3, dy * ((x + 1.5) / 3.0), dy)),
        True,
    ),
    "mish": _Act(lambda x, p: _mish(x), lambda dy, x, p: _mish_grad(dy, x), True),
    # -softplus(-x) = min(x, 0) - log1p(exp(-|x|))
    "logsigmoid": _Act(
        lambda x, p: np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x))),
        lambda dy, x, p: dy * _sigmoid(-x),
        True,
    ),
    "softsign": _Act(
        lambda x, p: _softsign(x), lambda dy, x, p: dy / np.square(1.0 + np.abs(x)), True
    ),
}
ACTIVATIONS = tuple(_ACTS)


def saves_input(act: str) -> bool:
    """True when act's backward needs the input x (or z); False when it needs the output y."""
    return _act(act).saves_input


def _act(act: str, param: float | None = None) -> _Act:
    if act not in _ACTS:
        raise ValueError(f"act: expected one of {ACTIVATIONS}, got {act!r}")
    if act == "celu" and param is not None and param == 0:
        raise ValueError("param: celu's alpha cannot be 0")
    return _ACTS[act]


def activation(x: Any, act: str, *, param: float = 0.0, out: Any = None) -> np.ndarray:
    """act(x) elementwise. param: leaky_relu's negative slope, elu's and celu's alpha."""
    fn = _act(act, param).forward
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return fn(_f64(x), param)


def activation_backward(
    dy: Any, saved: Any, act: str, *, param: float = 0.0, out: Any = None
) -> np.ndarray:
    """dx = dy * act'(x). ``saved`` is x when saves_input(act), else y = act(x)."""
    fn = _act(act, param).backward
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return fn(_f64(dy), _f64(saved), param)


# ----------------------------------------------------------------------------------------------
# softmax family (last axis)


def softmax(x: Any, out: Any = None) -> np.ndarray:
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=-1, keepdims=True) if x.shape[-1] else x
        e = np.exp(x - m)
        return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x: Any, out: Any = None) -> np.ndarray:
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(x, axis=-1, keepdims=True) if x.shape[-1] else x
        return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def logsumexp(x: Any, dim: int = -1) -> np.ndarray:
    """log(sum(exp(x))) over axis dim (default the last) in float64 (the shift 0 where the max
    is not finite: +inf, -inf for an empty or all -inf slice, NaN)."""
    x = np.moveaxis(_f64(x), dim, -1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if x.shape[-1] == 0:
            return np.full(x.shape[:-1], -np.inf)
        m = np.max(x, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return (np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)) + m)[..., 0]


def logsumexp_backward(g: Any, x: Any, lse: Any = None, dim: int = -1) -> np.ndarray:
    """dx of lse = logsumexp(x) over axis dim: g * exp(x - lse), g and lse broadcast along dim
    (lse None: the float64 logsumexp of x)."""
    d = dim % np.ndim(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if lse is None:
            lse = logsumexp(x, d)
        return np.expand_dims(_f64(g), d) * np.exp(_f64(x) - np.expand_dims(_f64(lse), d))


def softmax_backward(dy: Any, y: Any) -> np.ndarray:
    """dx of y = softmax(x): y * (dy - sum(dy * y))."""
    dy, y = _f64(dy), _f64(y)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def log_softmax_backward(dy: Any, y: Any) -> np.ndarray:
    """dx of y = log_softmax(x): dy - exp(y) * sum(dy)."""
    dy, y = _f64(dy), _f64(y)
    return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)


def _reduce(loss: np.ndarray, reduction: str) -> tuple[np.ndarray, float]:
    """(reduced loss, gradient scale) for a per-element (or per-row) loss."""
    _check_reduction(reduction)
    if reduction == "none":
        return loss, 1.0
    if reduction == "sum":
        return np.asarray(np.sum(loss)), 1.0
    n = loss.size
    with np.errstate(invalid="ignore"):
        return np.asarray(np.sum(loss) / n if n else np.nan), (1.0 / n if n else np.nan)


def _check_labels(target: Any, n: int, classes: int) -> np.ndarray:
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected an integer array of class indices, got {t.dtype}")
    if t.shape != (n,):
        raise ValueError(f"target: expected shape ({n},), got {t.shape}")
    bad = (t < 0) | (t >= classes)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(
            f"target: class index {int(t[i])} at position {i} is out of range [0, {classes})"
        )
    return t.astype(np.int64)


def softmax_cross_entropy(
    logits: Any, target: Any, reduction: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """(loss, dlogits) of -log softmax(logits)[target] over rows; logits (N, C), target (N,)."""
    z = _f64(logits)
    if z.ndim != 2:
        raise ValueError(f"logits: expected a 2-D array, got shape {z.shape}")
    t = _check_labels(target, z.shape[0], z.shape[1])
    _check_reduction(reduction)
    ls = log_softmax(z)
    rows = np.arange(z.shape[0])
    loss_rows = -ls[rows, t]
    loss, scale = _reduce(loss_rows, reduction)
    d = np.exp(ls)
    d[rows, t] -= 1.0
    return loss, d * scale


def sum_of_squares(y: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bishop's E = 1/2 sum (y - t)^2 and its delta y - t."""
    y, t = _f64(y), _f64(t)
    r = y - t
    return np.asarray(0.5 * np.sum(r * r)), r


def mse_loss(y: Any, t: Any, reduction: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    y, t = _f64(y), _f64(t)
    r = y - t
    loss, scale = _reduce(r * r, reduction)
    return loss, r * (2.0 * scale)  # the 2 with the 1 / n: r near the float range stays finite


def binary_cross_entropy(p: Any, t: Any, reduction: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """On probabilities, as torch: each log clamped at -100, and
    dp = (p - t) / max(p (1 - p), 1e-12)."""
    p, t = _f64(p), _f64(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log1p(-p), -100.0)
        loss, scale = _reduce(-(t * lp + (1.0 - t) * lq), reduction)
        dp = (p - t) / np.maximum(p * (1.0 - p), 1e-12)
    return loss, dp * scale


def binary_cross_entropy_with_logits(
    z: Any, t: Any, reduction: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """On logits (any shape: K independent outputs per row is the multi-label case):
    max(z, 0) - z t + log1p(exp(-|z|)), and dz = sigmoid(z) - t. max(z, 0) - z t is taken as
    (1 - t) z for z >= 0 and -t z below, a zero factor giving 0: at z = +-inf it is the limit,
    not inf - inf."""
    z, t = _f64(z), _f64(t)
    c = np.where(z >= 0, 1.0 - t, -t)
    with np.errstate(invalid="ignore"):
        lin = np.where(c == 0, 0.0, c * z)
    loss, scale = _reduce(lin + np.log1p(np.exp(-np.abs(z))), reduction)
    # sigmoid(z) - t, written without cancellation for 0/1 targets
    return loss, ((1.0 - t) * _sigmoid(z) - t * _sigmoid(-z)) * scale


# ----------------------------------------------------------------------------------------------
# fused linear layer


def linear_forward(
    x: Any, w: Any, b: Any = None, act: str = "identity", param: float = 0.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, z): z = x @ w.T + b, y = act(z); z is returned only when saves_input(act)."""
    _act(act)
    x, w = _f64(x), _f64(w)
    z = x @ w.T
    if b is not None:
        z = z + _f64(b)
    y = activation(z, act, param=param)
    return y, (z if saves_input(act) else None)


def linear_backward(
    dy: Any,
    x: Any,
    w: Any,
    saved: Any,
    act: str,
    param: float = 0.0,
    need_dx: bool = True,
    has_bias: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(dx, dw, db) of y = act(x @ w.T + b); saved is z when saves_input(act), else y."""
    x, w = _f64(x), _f64(w)
    dz = activation_backward(dy, saved, act, param=param)
    dw = dz.T @ x
    db = dz.sum(axis=0) if has_bias else None
    dx = dz @ w if need_dx else None
    return dx, dw, db


# ----------------------------------------------------------------------------------------------
# reductions


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    return np.asarray(np.sum(_f64(x), axis=axis, keepdims=keepdims))


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        x = _f64(x)
        if x.size == 0 or (
            axis is not None and _py_sum(1 for a in np.atleast_1d(axis) if x.shape[a] == 0)
        ):
            s = np.sum(x, axis=axis, keepdims=keepdims)
            return np.asarray(s / 0.0 if np.ndim(s) == 0 else np.full(np.shape(s), np.nan))
        return np.asarray(np.mean(x, axis=axis, keepdims=keepdims))


def index_add(x: Any, dim: int, index: Any, source: Any) -> np.ndarray:
    """x (float64) with source's slices added along dim at index: np.add.at."""
    out = _f64(x).copy()
    d = dim % out.ndim
    np.add.at(out, (slice(None),) * d + (np.asarray(index).reshape(-1),), _f64(source))
    return out


def index_add_(out: Any, dim: int, index: Any, source: Any) -> Any:
    """In place: out[..., index[j], ...] += source[..., j, ...] (np.add.at, in out's dtype)."""
    np.add.at(out, (slice(None),) * (dim % out.ndim) + (np.asarray(index).reshape(-1),), source)
    return out


def index_reduce_(out: Any, dim: int, index: Any, source: Any, reduce: str) -> Any:
    """In place: out[..., index[j], ...] = reduce(that, source[..., j, ...]) along dim
    (np.<ufunc>.at in out's dtype)."""
    ufunc = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    with np.errstate(all="ignore"):
        ufunc.at(out, (slice(None),) * (dim % out.ndim) + (np.asarray(index).reshape(-1),), source)
    return out


def scatter_reduce_(out: Any, dim: int, index: Any, src: Any, reduce: str) -> Any:
    """In place: out[..., index[..., j, ...], ...] = reduce(that, src[..., j, ...]) along dim
    (np.<ufunc>.at in out's dtype, index's leading block of src)."""
    idx = np.asarray(index)
    d = dim % out.ndim
    grids = tuple(
        idx if k == d else np.arange(m).reshape([m if j == k else 1 for j in range(idx.ndim)])
        for k, m in enumerate(idx.shape)
    )
    ufunc = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    with np.errstate(all="ignore"):
        ufunc.at(out, grids, np.asarray(src)[tuple(slice(0, m) for m in idx.shape)])
    return out


def flip(x: Any, dims: Any) -> np.ndarray:
    """x reversed along dims, as a new C-contiguous array of x's dtype (numpy's flip, copied)."""
    x = np.asarray(x)
    return np.array(np.flip(x, tuple(dims)) if len(dims) else x, order="C")


def cumsum(x: Any, axis: int, *, reverse: bool = False) -> np.ndarray:
    """Running sums along axis in float64 (from the last element when reverse)."""
    x = _f64(x)
    return np.flip(np.cumsum(np.flip(x, axis), axis), axis) if reverse else np.cumsum(x, axis)


def cumprod(x: Any, axis: int, *, reverse: bool = False) -> np.ndarray:
    """Running products along axis in float64 (from the last element when reverse)."""
    x = _f64(x)
    return np.flip(np.cumprod(np.flip(x, axis), axis), axis) if reverse else np.cumprod(x, axis)


def sum_to_shape(g: Any, shape: Any) -> np.ndarray:
    """The gradient of broadcasting an array of `shape` to g.shape: g summed over the leading
    axes g has in excess and over the axes where shape has 1 (kept), reshaped to shape."""
    g = _f64(g)
    shape = tuple(int(s) for s in shape)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"shape: {shape} has more dimensions than the gradient {g.shape}")
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    for i, s in enumerate(shape):
        if s != 1 and g.shape[i] != s:
            raise ValueError(f"shape: {shape} does not broadcast to the gradient {g.shape}")
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# ----------------------------------------------------------------------------------------------
# optimizer updates (torch.optim semantics), in place on float64 copies -> returned


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    buf: np.ndarray | None,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    dampening: float = 0.0,
    first_step: bool = False,
) -> None:
    """One torch.optim.SGD step, in place on param (and buf when momentum != 0).
    first_step=True is torch's first step with momentum: buf = g (no dampening)."""
    g = grad + weight_decay * param if weight_decay else grad.copy()
    if momentum:
        if first_step:
            buf[...] = g
        else:
            buf *= momentum
            buf += (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf.copy()
    param -= lr * g


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> None:
    """One torch.optim.Adam (decoupled=False) or AdamW (decoupled=True) step, in place;
    step counts from 1."""
    g = grad
    if weight_decay:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            g = grad + weight_decay * param
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    bc1 = 1.0 - beta1**step
    bc2_sqrt = math.sqrt(1.0 - beta2**step)
    denom = np.sqrt(v) / bc2_sqrt + eps
    param -= (lr / bc1) * m / denom


# ---- convolution --------------------------------------------------------------------------------


def _conv_pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _conv_patches(x: np.ndarray, kh: int, kw: int, stride: Any, padding: Any, dilation: Any):
    """The zero-padded input and, per kernel tap (ky, kx), the (N, C, Ho, Wo) slice of it that
    tap multiplies."""
    (sh, sw), (ph, pw), (dh, dw) = _conv_pair(stride), _conv_pair(padding), _conv_pair(dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    taps = {}
    for ky in range(kh):
        for kx in range(kw):
            taps[ky, kx] = (
                slice(ky * dh, ky * dh + sh * (ho - 1) + 1, sh),
                slice(kx * dw, kx * dw + sw * (wo - 1) + 1, sw),
            )
    return xp, ho, wo, taps


def conv2d_forward(
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> np.ndarray:
    """y[n, o] = bias[o] + sum over c of o's group, ky, kx of weight[o, c, ky, kx] *
    x_padded[n, c, oy * sh + ky * dh, ox * sw + kx * dw], in float64."""
    x, w = np.asarray(input, np.float64), np.asarray(weight, np.float64)
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    g = int(groups)
    xp, ho, wo, taps = _conv_patches(x, kh, kw, stride, padding, dilation)
    wg = w.reshape(g, o // g, cg, kh, kw)
    y = np.zeros((n, g, o // g, ho, wo))
    for (ky, kx), (sy, sx) in taps.items():
        patch = xp[:, :, sy, sx].reshape(n, g, cg, ho, wo)
        y += np.einsum("ngchw,goc->ngohw", patch, wg[:, :, :, ky, kx])
    y = y.reshape(n, o, ho, wo)
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y


def conv2d_backward(
    grad_output: Any,
    input: Any,  # noqa: A002
    weight: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any, Any, Any]:
    """(dx, dw, db) of conv2d_forward, in float64 (None for those not asked for)."""
    x, w = np.asarray(input, np.float64), np.asarray(weight, np.float64)
    dy = np.asarray(grad_output, np.float64)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g = int(groups)
    ph, pw = _conv_pair(padding)
    xp, ho, wo, taps = _conv_patches(x, kh, kw, stride, padding, dilation)
    dyg = dy.reshape(n, g, o // g, ho, wo)
    wg = w.reshape(g, o // g, cg, kh, kw)
    dxp = np.zeros_like(xp)
    dw = np.zeros((g, o // g, cg, kh, kw))
    for (ky, kx), (sy, sx) in taps.items():
        patch = xp[:, :, sy, sx].reshape(n, g, cg, ho, wo)
        dw[:, :, :, ky, kx] = np.einsum("ngohw,ngchw->goc", dyg, patch)
        dxp[:, :, sy, sx] += np.einsum("ngohw,goc->ngchw", dyg, wg[:, :, :, ky, kx]).reshape(
            n, c, ho, wo
        )
    dx = dxp[:, :, ph : ph + h, pw : pw + wd]
    return (
        np.ascontiguousarray(dx) if need_dx else None,
        dw.reshape(w.shape) if need_dw else None,
        dy.sum(axis=(0, 2, 3)) if need_db else None,
    )


def _check_vocabulary() -> None:
    """The references cover exactly the kernels' activations, in their order, agree on which
    backward takes the input, and name the same reductions (the kernels' lists: ops.ACTIVATIONS
    and ops.REDUCTIONS, from op_names.h)."""
    from . import ops  # noqa: PLC0415

    want = {a for a in ops.ACTIVATIONS if ops.saves_input(a)}
    if ACTIVATIONS != ops.ACTIVATIONS or {a for a in _ACTS if saves_input(a)} != want:
        raise ImportError(
            f"deltagrad.reference: its activations {ACTIVATIONS} (saving the input: "
            f"{sorted(a for a in _ACTS if saves_input(a))}) differ from the kernels' "
            f"{ops.ACTIVATIONS} (saving the input: {sorted(want)}): add each new activation's "
            "reference to _ACTS"
        )
    if REDUCTIONS != ops.REDUCTIONS:
        raise ImportError(
            f"deltagrad.reference: its reductions {REDUCTIONS} differ from the kernels' "
            f"{ops.REDUCTIONS}"
        )


_check_vocabulary()


# ----------------------------------------------------------------------------------------------
# 2-D pooling (torch's semantics), over (N, C, H, W) or (C, H, W): one output position at a
# time, vectorized over N and C.


def _pool_pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool_geometry(
    shape: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> Any:
    k = _pool_pair(kernel_size)
    s = k if stride is None else _pool_pair(stride)
    p, d = _pool_pair(padding), _pool_pair(dilation)
    h, w = shape[-2:]
    return (
        k,
        s,
        p,
        d,
        (
            _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode),
            _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode),
        ),
    )


def _max_pool2d(
    x: np.ndarray, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> tuple[np.ndarray, np.ndarray]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = _pool_geometry(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode
    )
    h, w = x.shape[-2:]
    lead = x.shape[:-2]
    y = np.empty((*lead, oh, ow))
    idx = np.empty((*lead, oh, ow), dtype=np.int64)
    for i in range(oh):
        rows = [r for r in range(i * sh - ph, i * sh - ph + (kh - 1) * dh + 1, dh) if 0 <= r < h]
        for j in range(ow):
            cols = [
                c for c in range(j * sw - pw, j * sw - pw + (kw - 1) * dw + 1, dw) if 0 <= c < w
            ]
            m = np.full(lead, -np.inf)
            mi = np.full(lead, rows[0] * w + cols[0], dtype=np.int64)
            for r in rows:  # torch's walk: a greater element or a NaN takes over
                for c in cols:
                    v = x[..., r, c]
                    t = (v > m) | np.isnan(v)
                    m = np.where(t, v, m)
                    mi = np.where(t, r * w + c, mi)
            y[..., i, j] = m
            idx[..., i, j] = mi
    return y, idx


def max_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    out: Any = None,
    indices_out: Any = None,
) -> Any:
    y, idx = _max_pool2d(
        np.asarray(x, dtype=np.float64), kernel_size, stride, padding, dilation, ceil_mode
    )
    y = _into(out, y)
    return (y, _into(indices_out, idx)) if return_indices else y


def _into(out: Any, value: np.ndarray) -> Any:
    """value, or out filled with it (the ops' out= argument)."""
    if out is None:
        return value
    out[...] = value
    return out


def max_pool2d_backward(
    dy: Any,
    indices: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
) -> np.ndarray:
    dy = np.asarray(dy, dtype=np.float64)
    h, w = input_shape[-2:]
    lead = tuple(input_shape[:-2])
    dx = np.zeros((int(np.prod(lead, dtype=np.int64)), h * w))
    g = dy.reshape(dx.shape[0], dy.shape[-2] * dy.shape[-1])
    ix = np.asarray(indices).reshape(g.shape)
    for p in range(dx.shape[0]):
        np.add.at(dx[p], ix[p], g[p])
    return _into(out, dx.reshape(*lead, h, w))


def max_pool2d_train(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
    saved_out: Any = None,
) -> tuple[Any, Any]:
    """(y, int64 indices): the reference saves indices, a valid `saved` for every geometry."""
    y, idx = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, True)
    return _into(out, y), _into(saved_out, idx)


def max_pool2d_train_backward(
    dy: Any,
    saved: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
) -> np.ndarray:
    """max_pool2d_backward from int64 indices or the 2x2/2 layer's uint8 window codes (the
    maximum's position in its window, 0-3 row by row)."""
    saved = np.asarray(saved)
    if saved.dtype == np.uint8:
        oh, ow = saved.shape[-2:]
        c = saved.astype(np.int64)
        r, o = np.arange(oh)[:, None], np.arange(ow)[None, :]
        saved = (2 * r + c // 2) * int(input_shape[-1]) + 2 * o + c % 2
    return max_pool2d_backward(
        dy, saved, input_shape, kernel_size, stride, padding, dilation, ceil_mode, out=out
    )


def _avg_windows(
    shape: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
) -> Any:
    """(output row, output col, rows slice, cols slice, divisor) of each window (empty: None)."""
    (kh, kw), (sh, sw), (ph, pw), _, (oh, ow) = _pool_geometry(
        shape, kernel_size, stride, padding, 1, ceil_mode
    )
    h, w = shape[-2:]
    for i in range(oh):
        r0, r1 = i * sh - ph, min(i * sh - ph + kh, h + ph)
        for j in range(ow):
            c0, c1 = j * sw - pw, min(j * sw - pw + kw, w + pw)
            pool = (r1 - r0) * (c1 - c0)
            a0, a1, b0, b1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
            if a0 >= a1 or b0 >= b1:
                yield i, j, None, None, 1
                continue
            div = divisor_override or (pool if count_include_pad else (a1 - a0) * (b1 - b0))
            yield i, j, slice(a0, a1), slice(b0, b1), div


def avg_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
    *,
    out: Any = None,
) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    *_, (oh, ow) = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    y = np.zeros((*x.shape[:-2], oh, ow))
    for i, j, rs, cs, div in _avg_windows(
        x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    ):
        if rs is not None:
            y[..., i, j] = x[..., rs, cs].sum(axis=(-2, -1)) / div
    return _into(out, y)


def avg_pool2d_backward(
    dy: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
    *,
    out: Any = None,
) -> np.ndarray:
    dy = np.asarray(dy, dtype=np.float64)
    dx = np.zeros(tuple(input_shape))
    for i, j, rs, cs, div in _avg_windows(
        dx.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    ):
        if rs is not None:
            dx[..., rs, cs] += (dy[..., i, j] / div)[..., None, None]
    return _into(out, dx)


def _adaptive_windows(n: int, out: int) -> list[tuple[int, int]]:
    return [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]


def adaptive_avg_pool2d(x: Any, output_size: Any, *, out: Any = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    oh, ow = _pool_pair(output_size)
    h, w = x.shape[-2:]
    y = np.zeros((*x.shape[:-2], oh, ow))
    for i, (r0, r1) in enumerate(_adaptive_windows(h, oh)):
        for j, (c0, c1) in enumerate(_adaptive_windows(w, ow)):
            y[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return _into(out, y)


def adaptive_avg_pool2d_backward(dy: Any, input_shape: Any, *, out: Any = None) -> np.ndarray:
    dy = np.asarray(dy, dtype=np.float64)
    dx = np.zeros(tuple(input_shape))
    h, w = dx.shape[-2:]
    oh, ow = dy.shape[-2:]
    for i, (r0, r1) in enumerate(_adaptive_windows(h, oh)):
        for j, (c0, c1) in enumerate(_adaptive_windows(w, ow)):
            dx[..., r0:r1, c0:c1] += (dy[..., i, j] / ((r1 - r0) * (c1 - c0)))[..., None, None]
    return _into(out, dx)


def adaptive_max_pool2d(
    x: Any, output_size: Any, *, out: Any = None, indices_out: Any = None
) -> tuple[Any, Any]:
    """(y, int64 flat indices into H*W): each window's last NaN if it has one, else its first
    maximum, in row-major order (torch's scan)."""
    x = np.asarray(x, dtype=np.float64)
    oh, ow = _pool_pair(output_size)
    h, w = x.shape[-2:]
    lead = x.shape[:-2]
    y = np.zeros((*lead, oh, ow))
    idx = np.zeros((*lead, oh, ow), dtype=np.int64)
    flat_pos = np.arange(h * w).reshape(h, w)
    for i, (r0, r1) in enumerate(_adaptive_windows(h, oh)):
        for j, (c0, c1) in enumerate(_adaptive_windows(w, ow)):
            win = x[..., r0:r1, c0:c1].reshape(*lead, (r1 - r0) * (c1 - c0))
            pos = flat_pos[r0:r1, c0:c1].reshape(-1)
            nan = np.isnan(win)
            last_nan = win.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
            first_max = np.argmax(np.where(nan, -np.inf, win), axis=-1)
            k = np.where(nan.any(axis=-1), last_nan, first_max)
            idx[..., i, j] = pos[k]
            y[..., i, j] = np.take_along_axis(win, k[..., None], axis=-1)[..., 0]
    return _into(out, y), _into(indices_out, idx)


def adaptive_max_pool2d_backward(
    dy: Any, indices: Any, input_shape: Any, *, out: Any = None
) -> np.ndarray:
    dy = np.asarray(dy, dtype=np.float64)
    shape = tuple(input_shape)
    lead, hw = shape[:-2], shape[-2] * shape[-1]
    planes, ohw = int(np.prod(lead, dtype=np.int64)), dy.shape[-2] * dy.shape[-1]
    dx = np.zeros((planes, hw))
    ix, g = np.asarray(indices).reshape(planes, ohw), dy.reshape(planes, ohw)
    for p in range(planes):
        np.add.at(dx[p], ix[p], g[p])
    return _into(out, dx.reshape(shape))


__all__ += [
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_train",
    "max_pool2d_train_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
]
# ---- normalization (dg.ops.batch_norm_* / layer_norm_* / group_norm_*) -----------------------


def _bn_view(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """x (N, C, *) as float64 (N, C, S), the reduced axes and the per-channel shape (S
    explicit: -1 cannot be inferred for an empty batch)."""
    x = _f64(x)
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:]))), (0, 2), (1, -1, 1)


def batch_norm_forward(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    running_mean: Any = None,
    running_var: Any = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    out: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, invstd): two-pass mean and biased variance per channel; the running statistics
    (updated in place when training, the variance unbiased) or normalize with them."""
    shape = np.shape(x)
    x3, axes, bshape = _bn_view(x)
    count = x3.shape[0] * x3.shape[2]
    if training:
        if count == 1:
            raise ValueError("batch_norm_forward: x: expected more than 1 value per channel")
        if count:
            mean = x3.mean(axis=axes)
            with np.errstate(invalid="ignore", over="ignore"):  # inf / NaN in a channel
                var = ((x3 - mean.reshape(bshape)) ** 2).mean(axis=axes)
        else:
            mean = var = np.zeros(x3.shape[1])
        if running_mean is not None and count:
            m = float(momentum)
            running_mean[...] = (1 - m) * _f64(running_mean) + m * mean
            running_var[...] = (1 - m) * _f64(running_var) + m * var * count / (count - 1)
    else:
        mean, var = _f64(running_mean), _f64(running_var)
    invstd = 1.0 / np.sqrt(var + eps)
    with np.errstate(invalid="ignore"):
        y = (x3 - mean.reshape(bshape)) * invstd.reshape(bshape)
    if weight is not None:
        y = y * _f64(weight).reshape(bshape)
    if bias is not None:
        y = y + _f64(bias).reshape(bshape)
    if out is not None:
        out[...] = y.reshape(shape)
    return y.reshape(shape), mean, invstd


def batch_norm_backward(
    dy: Any,
    x: Any,
    weight: Any,
    mean: Any,
    invstd: Any,
    *,
    training: bool = True,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    shape = np.shape(x)
    x3, axes, bshape = _bn_view(x)
    g3 = _f64(dy).reshape(x3.shape)
    count = x3.shape[0] * x3.shape[2]
    m, s = _f64(mean).reshape(bshape), _f64(invstd).reshape(bshape)
    w = np.ones(x3.shape[1]) if weight is None else _f64(weight)
    xhat = (x3 - m) * s
    dbias = g3.sum(axis=axes)
    dweight = (g3 * xhat).sum(axis=axes)
    dx = None
    if need_dx:
        k = s * w.reshape(bshape)
        if training and count:
            dx = k * (g3 - dbias.reshape(bshape) / count - xhat * dweight.reshape(bshape) / count)
        else:
            dx = k * g3
        dx = dx.reshape(shape)
        if out is not None:
            out[...] = dx
    return dx, dweight if need_dweight else None, dbias if need_dbias else None


def _ln_view(x: Any, normalized_shape: Any) -> tuple[np.ndarray, int]:
    x = _f64(x)
    k = 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)
    d = int(np.prod(x.shape[x.ndim - k :]))
    return x.reshape(-1, d), d


def layer_norm_forward(
    x: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    *,
    out: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = np.shape(x)
    x2, d = _ln_view(x, normalized_shape)
    k = 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)
    lead = shape[: len(shape) - k]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x2.mean(axis=1, keepdims=True)
        var = ((x2 - mean) ** 2).mean(axis=1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + eps)
    with np.errstate(invalid="ignore"):
        y = (x2 - mean) * rstd
    if weight is not None:
        y = y * _f64(weight).reshape(1, d)
    if bias is not None:
        y = y + _f64(bias).reshape(1, d)
    if out is not None:
        out[...] = y.reshape(shape)
    return y.reshape(shape), mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(
    dy: Any,
    x: Any,
    normalized_shape: Any,
    weight: Any,
    mean: Any,
    rstd: Any,
    *,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    shape = np.shape(x)
    x2, d = _ln_view(x, normalized_shape)
    g2 = _f64(dy).reshape(x2.shape)
    m, r = _f64(mean).reshape(-1, 1), _f64(rstd).reshape(-1, 1)
    xhat = (x2 - m) * r
    wshape = shape[len(shape) - (1 if np.ndim(normalized_shape) == 0 else len(normalized_shape)) :]
    dweight = (g2 * xhat).sum(axis=0).reshape(wshape) if need_dweight else None
    dbias = g2.sum(axis=0).reshape(wshape) if need_dbias else None
    dx = None
    if need_dx:
        g = g2 if weight is None else g2 * _f64(weight).reshape(1, d)
        dx = r * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
        dx = dx.reshape(shape)
        if out is not None:
            out[...] = dx
    return dx, dweight, dbias


def _gn_view(x: Any, num_groups: int) -> tuple[np.ndarray, int, int]:
    """x (N, C, *) as float64 (N, G, C/G, S), with C and S (explicit, for an empty batch)."""
    x = _f64(x)
    n, c = x.shape[:2]
    s = int(np.prod(x.shape[2:]))
    return x.reshape(n, num_groups, c // num_groups, s), c, s


def _group_mean(a: np.ndarray) -> np.ndarray:
    """a (N, G, C/G, S) averaged per (sample, group), kept 4-d: NaN for an empty group (S = 0,
    as dg.ops), where np.mean would warn "Mean of empty slice"."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return a.sum(axis=(2, 3), keepdims=True) / (a.shape[2] * a.shape[3])


def group_norm_forward(
    x: Any,
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    *,
    out: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, rstd): two-pass mean and biased variance per (sample, group), then the
    per-channel affine; mean and rstd (N, num_groups)."""
    shape = np.shape(x)
    x4, c, _ = _gn_view(x, num_groups)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = _group_mean(x4)
        var = _group_mean((x4 - mean) ** 2)
        rstd = 1.0 / np.sqrt(var + eps)
        y = (x4 - mean) * rstd
    cshape = (1, num_groups, c // num_groups, 1)
    if weight is not None:
        y = y * _f64(weight).reshape(cshape)
    if bias is not None:
        y = y + _f64(bias).reshape(cshape)
    if out is not None:
        out[...] = y.reshape(shape)
    return y.reshape(shape), mean.reshape(shape[0], num_groups), rstd.reshape(shape[0], num_groups)


def group_norm_backward(
    dy: Any,
    x: Any,
    num_groups: int,
    weight: Any,
    mean: Any,
    rstd: Any,
    *,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    shape = np.shape(x)
    x4, c, _ = _gn_view(x, num_groups)
    g4 = _f64(dy).reshape(x4.shape)
    m = _f64(mean).reshape(shape[0], num_groups, 1, 1)
    r = _f64(rstd).reshape(shape[0], num_groups, 1, 1)
    xhat = (x4 - m) * r
    dweight = (g4 * xhat).sum(axis=(0, 3)).reshape(c) if need_dweight else None
    dbias = g4.sum(axis=(0, 3)).reshape(c) if need_dbias else None
    dx = None
    if need_dx:
        g = g4
        if weight is not None:
            g = g4 * _f64(weight).reshape(1, num_groups, c // num_groups, 1)
        gm, gxm = _group_mean(g), _group_mean(g * xhat)
        dx = (r * (g - gm - xhat * gxm)).reshape(shape)
        if out is not None:
            out[...] = dx
    return dx, dweight, dbias
