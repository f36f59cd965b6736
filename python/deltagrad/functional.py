"""deltagrad.functional: differentiable activations, linear layers and losses on Tensors.

Each function runs one compiled kernel forward (dg.ops) and attaches a `_backward` that runs
its backward kernel: F.linear fuses the matmul, bias and activation; the losses return their
gradient from the same pass that computes them, so backward is one multiply.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .backends._args import choice, is_device_array
from .tensor import Tensor, activate, get_array_module

__all__ = [
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softplus",
    "silu",
    "swish",
    "identity",
    "softmax",
    "log_softmax",
    "sum_of_squares",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "ACTIVATIONS",
    "ACTIVATION_ALIASES",
]

# the activation names F.linear accepts; ops.saves_input(name) says whether the backward kernel
# wants the input x (or z) or the output y
ACTIVATIONS = ops.ACTIVATIONS
# other names F.linear, nn.Linear and nn.MLP accept for an activation; the kernels (dg.ops) know
# only the name it maps to
ACTIVATION_ALIASES = {"swish": "silu"}


def _tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or is_device_array(x):
        return Tensor(x)
    raise TypeError(f"{name}: expected a Tensor or an array, got {type(x).__name__}")


def _float(x: Tensor, name: str) -> Tensor:
    """For the functions that run no kernel (dropout); the others get dg.ops's dtype check."""
    if x.data.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float32 or float64 tensor, got dtype {x.dtype}")
    return x


def _activation_name(activation: Any) -> str:
    name = "identity" if activation is None else activation
    if isinstance(name, str):
        name = ACTIVATION_ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected None or one of "
            f"{sorted([*ACTIVATIONS, *ACTIVATION_ALIASES])}, got {activation!r}"
        )
    return name


# ---- activations ----------------------------------------------------------------------------


def _activate(x: Any, act: str, param: float = 0.0) -> Tensor:
    return activate(_tensor(x, act), act, param)


def identity(x: Any) -> Tensor:
    return _tensor(x, "identity")


def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, as in torch."""
    return _activate(x, "relu")


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    return _activate(x, "leaky_relu", float(negative_slope))


def sigmoid(x: Any) -> Tensor:
    return _activate(x, "sigmoid")


def tanh(x: Any) -> Tensor:
    return _activate(x, "tanh")


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) (approximate="none", with erf) or its tanh approximation ("tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activate(x, "gelu" if approximate == "none" else "gelu_tanh")


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x)), computed without overflow."""
    return _activate(x, "softplus")


def silu(x: Any) -> Tensor:
    """x * sigmoid(x) (SiLU, also called swish); the backward saves x."""
    return _activate(x, "silu")


swish = silu


def _last_axis(fn: Any, x: Tensor, axis: int) -> tuple[Any, Any]:
    """Run a last-axis kernel over `axis`: (the result, how to move an array back)."""
    xp = get_array_module(x.data)
    if x.ndim == 0:
        raise ValueError("softmax / log_softmax need at least 1 dimension, got a 0-d tensor")
    axis = axis % x.ndim
    if axis == x.ndim - 1:
        return fn(x.data), None
    moved = xp.ascontiguousarray(xp.moveaxis(x.data, axis, -1))
    return fn(moved), axis


def _softmax_like(x: Any, axis: int, fwd: Any, bwd: Any, op: str) -> Tensor:
    x = _tensor(x, op)
    y, moved = _last_axis(fwd, x, axis)
    xp = get_array_module(x.data)

    def _backward(g: Any) -> None:
        if moved is None:
            x._accumulate(bwd(g, y))
        else:
            gm = xp.ascontiguousarray(xp.moveaxis(g, moved, -1))
            x._accumulate(xp.moveaxis(bwd(gm, y), -1, moved))

    return Tensor._make(y if moved is None else xp.moveaxis(y, -1, moved), (x,), _backward, op)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return _softmax_like(x, axis, ops.softmax, ops.softmax_backward, "softmax")


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return _softmax_like(x, axis, ops.log_softmax, ops.log_softmax_backward, "log_softmax")


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout), drawing from deltagrad's generator; the identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _float(_tensor(x, "dropout"), "dropout")
    if not training or p == 0.0:
        return x
    from ._random import get_rng

    xp = get_array_module(x.data)
    keep = get_rng().random(x.shape) >= p
    scale = xp.asarray(keep / (1.0 - p) if p < 1.0 else keep * 0.0, dtype=x.dtype)

    def _backward(g: Any) -> None:
        x._accumulate(g * scale)

    return Tensor._make(x.data * scale, (x,), _backward, "dropout")


# ---- linear ---------------------------------------------------------------------------------


def linear(
    x: Any, w: Any, b: Any = None, activation: str | None = None, *, negative_slope: float = 0.01
) -> Tensor:
    """activation(x @ w.T + b) in one fused kernel; w is (out_features, in_features).

    activation: None (identity), a name of ACTIVATIONS (leaky_relu takes negative_slope) or
    of ACTIVATION_ALIASES. x may have leading batch dimensions: (..., in_features).
    """
    x, w = _tensor(x, "linear: x"), _tensor(w, "linear: w")
    b = None if b is None else _tensor(b, "linear: b")
    act = _activation_name(activation)
    param = float(negative_slope) if act == "leaky_relu" else 0.0
    if w.ndim != 2:
        raise ValueError(f"linear: w must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"linear: x has shape {x.shape}, expected (..., {w.shape[1]}) to match "
            f"w of shape {w.shape}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: b has shape {b.shape}, expected ({w.shape[0]},)")
    if x.ndim != 2:
        lead = x.shape[:-1]
        y2 = linear(x.reshape(-1, w.shape[1]), w, b, activation, negative_slope=negative_slope)
        return y2.reshape(*lead, w.shape[0])
    y, z = ops.linear_forward(x.data, w.data, None if b is None else b.data, act, param)
    saved = z if ops.saves_input(act) else y

    def _backward(g: Any) -> None:
        dx, dw, db = ops.linear_backward(
            g, x.data, w.data, saved, act, param, need_dx=x.requires_grad, has_bias=b is not None
        )
        if x.requires_grad:
            x._accumulate(dx)
        if w.requires_grad:
            w._accumulate(dw)
        if b is not None and b.requires_grad:
            b._accumulate(db)

    parents = (x, w) if b is None else (x, w, b)
    return Tensor._make(y, parents, _backward, "linear" if act == "identity" else f"linear_{act}")


# ---- losses ---------------------------------------------------------------------------------


def _check_reduction(reduction: str, owner: str) -> None:
    """For nn's loss modules, which check their reduction when built (the functions below
    leave it to dg.ops)."""
    choice(reduction, ops.REDUCTIONS, owner, "reduction")


def _pair(y: Any, t: Any, name: str) -> tuple[Tensor, Tensor]:
    y, t = _tensor(y, f"{name}: input"), _tensor(t, f"{name}: target")
    if t.shape != y.shape:
        raise ValueError(
            f"{name}: target has shape {t.shape}, expected the input's shape {y.shape}"
        )
    if t.dtype != y.dtype:
        t = t.astype(y.dtype) if t.requires_grad else Tensor(t.data.astype(y.dtype))
    return y, t


def _loss(
    loss: Any, grad: Any, y: Tensor, t: Tensor | None, op: str, target_grad_sign: float = 0.0
) -> Tensor:
    """A loss node whose forward pass already produced d(loss)/dy ("none": per row).
    target_grad_sign: d(loss)/dt = sign * d(loss)/dy when the loss is differentiable in t."""

    def _backward(g: Any) -> None:
        if g.ndim == 0:  # the usual loss.backward(): g is 1, so skip a pass over grad
            gy = grad if isinstance(g, np.ndarray) and g == 1 else grad * g
        else:  # reduction "none": one loss per row (or element), scale each row's gradient
            gy = grad * g.reshape(g.shape + (1,) * (grad.ndim - g.ndim))
        if y.requires_grad:
            y._accumulate(gy)
        if t is not None and t.requires_grad:
            t._accumulate(target_grad_sign * gy)

    parents = (y,) if t is None or not target_grad_sign else (y, t)
    return Tensor._make(loss, parents, _backward, op)


def sum_of_squares(y: Any, t: Any) -> Tensor:
    """E = 0.5 * sum((y - t)**2), Bishop's sum-of-squares error. Differentiable in y and t."""
    y, t = _pair(y, t, "sum_of_squares")
    loss, dy = ops.sum_of_squares(y.data, t.data)
    return _loss(loss, dy, y, t, "sum_of_squares", -1.0)


def mse_loss(y: Any, t: Any, reduction: str = "mean") -> Tensor:
    """mean((y - t)**2) (or "sum", or "none"). Differentiable in y and t."""
    y, t = _pair(y, t, "mse_loss")
    loss, dy = ops.mse_loss(y.data, t.data, reduction)
    return _loss(loss, dy, y, t, "mse_loss", -1.0)


def binary_cross_entropy(p: Any, t: Any, reduction: str = "mean") -> Tensor:
    """-(t log p + (1-t) log(1-p)) on probabilities p; the target is a constant."""
    p, t = _pair(p, t, "binary_cross_entropy")
    loss, dp = ops.binary_cross_entropy(p.data, t.data, reduction)
    return _loss(loss, dp, p, None, "binary_cross_entropy")


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: str = "mean") -> Tensor:
    """binary_cross_entropy(sigmoid(z), t) computed stably from logits z; also multi-label
    (z of shape (N, K)). The target is a constant."""
    z, t = _pair(z, t, "binary_cross_entropy_with_logits")
    loss, dz = ops.binary_cross_entropy_with_logits(z.data, t.data, reduction)
    return _loss(loss, dz, z, None, "binary_cross_entropy_with_logits")


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of (N, C) logits against int class indices (N,), one fused pass."""
    logits = _tensor(logits, "cross_entropy: logits")
    tdata = target.data if isinstance(target, Tensor) else target
    tdata = get_array_module(logits.data).asarray(tdata)
    if logits.ndim == 2 and tdata.ndim != 1:  # dg.ops checks the rest (dtypes, rows, range)
        raise ValueError(
            f"cross_entropy: target must be 1-D ({logits.shape[0]},) class "
            f"indices, got shape {tdata.shape}"
        )
    loss, dlogits = ops.softmax_cross_entropy(logits.data, tdata, reduction)
    return _loss(loss, dlogits, logits, None, "cross_entropy")
