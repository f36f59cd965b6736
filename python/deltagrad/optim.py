"""deltagrad.optim: SGD (momentum, Nesterov, weight decay), Adam and AdamW, each step one fused
in-place kernel per parameter (dg.ops.sgd_update / dg.ops.adam_update); torch.optim semantics."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from . import ops
from .tensor import Tensor, get_array_module

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _check_nonneg(name: str, value: float) -> float:
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


class Optimizer:
    """Holds the parameters (leaf Tensors) and their per-parameter state."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                "params: expected an iterable of Tensors (e.g. model.parameters()), "
                "got a single Tensor"
            )
        self.params = list(params)
        if not self.params:
            raise ValueError("params: the optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}] is a {type(p).__name__}, expected a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(
                    f"params[{i}] (shape {p.shape}) is not a leaf tensor with requires_grad=True"
                )
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(
                "params: a parameter appears more than once (it would be updated twice per step)"
            )
        self.lr = _check_nonneg("lr", lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (set to None, as torch does by default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and per-parameter buffers (copies)."""
        hyper = {k: v for k, v in vars(self).items() if k not in ("params", "state")}
        state = [
            {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()} for s in self.state
        ]
        return {"hyper": hyper, "state": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if len(state_dict["state"]) != len(self.params):
            raise ValueError(
                f"load_state_dict: the state has {len(state_dict['state'])} "
                f"parameters, this optimizer {len(self.params)}"
            )
        for k, v in state_dict["hyper"].items():
            setattr(self, k, v)
        self.state = [
            {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
            for s in state_dict["state"]
        ]

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in vars(self).items() if k not in ("params", "state"))
        return f"{type(self).__name__}({hyper}, n_params={len(self.params)})"


def _grad_of(p: Tensor) -> Any:
    """p's gradient as a contiguous array of p's dtype (ValueError on a wrong shape)."""
    g = p.grad
    if g.shape != p.data.shape:
        raise ValueError(
            f"grad: the gradient of a parameter of shape {p.data.shape} has shape {g.shape}"
        )
    if g.dtype != p.data.dtype or not g.flags.c_contiguous:
        g = get_array_module(g).ascontiguousarray(g, dtype=p.data.dtype)
    return g


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD:
    g = grad + weight_decay * w;  b = momentum * b + (1 - dampening) * g (b = g at the first
    step);  g = g + momentum * b if nesterov else b;  w -= lr * g."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_nonneg("momentum", momentum)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)
        self.dampening = float(dampening)
        if not 0.0 <= self.dampening <= 1.0:
            raise ValueError(f"dampening: expected a number in [0, 1], got {dampening}")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self) -> None:
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = _grad_of(p)
            buf = st.get("momentum_buffer")
            first = buf is None
            if first and self.momentum != 0.0:
                buf = st["momentum_buffer"] = get_array_module(p.data).zeros_like(p.data)
            ops.sgd_update(
                p.data,
                g,
                buf,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                nesterov=self.nesterov,
                dampening=self.dampening,
                first_step=first,
            )
            p._version[0] += 1  # changed in place: a graph that saved p refuses to backward


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam: weight_decay adds weight_decay * w to the
    gradient (L2); bias-corrected moments; w -= lr * m_hat / (sqrt(v_hat) + eps)."""

    decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.betas = (b1, b2)
        self.eps = _check_nonneg("eps", eps)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)

    def step(self) -> None:
        b1, b2 = self.betas
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            if not st:
                xp = get_array_module(p.data)
                st["step"] = 0
                st["exp_avg"] = xp.zeros_like(p.data)
                st["exp_avg_sq"] = xp.zeros_like(p.data)
            st["step"] += 1
            ops.adam_update(
                p.data,
                _grad_of(p),
                st["exp_avg"],
                st["exp_avg_sq"],
                step=st["step"],
                lr=self.lr,
                beta1=b1,
                beta2=b2,
                eps=self.eps,
                weight_decay=self.weight_decay,
                decoupled=self.decoupled,
            )
            p._version[0] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    w -= lr * weight_decay * w before the Adam step. Default weight_decay 0.01, as in torch."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
