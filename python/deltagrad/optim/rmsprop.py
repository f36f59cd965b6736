"""deltagrad.optim.RMSprop: torch.optim.RMSprop in array code (numpy or cupy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..tensor import get_array_module
from .optimizer import _FLAG_CHECKS, Optimizer, _flag, _grad_of, _nonneg

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop: g = -grad if maximize else grad;
    g += weight_decay * w;  s = alpha * s + (1 - alpha) * g^2;  with centered,
    a = lerp(a, g, 1 - alpha) and avg = sqrt(s - a^2), else avg = sqrt(s);  avg += eps;
    with momentum, b = momentum * b + g / avg and w -= lr * b, else w -= lr * g / avg.

    As torch's, every argument may be positional (capturable, foreach, maximize and
    differentiable too). foreach and capturable are checked, kept in the param groups and
    change nothing; differentiable=True is a ValueError (the step is not recorded by
    autograd)."""

    _state_keys = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})
    _checks = {
        "lr": _nonneg,
        "momentum": _nonneg,
        "alpha": _nonneg,
        "eps": _nonneg,
        "centered": _flag,
        "weight_decay": _nonneg,
        "maximize": _flag,
        **_FLAG_CHECKS,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(  # torch's order of the param_groups keys
                lr=lr,
                momentum=momentum,
                alpha=alpha,
                eps=eps,
                centered=centered,
                weight_decay=weight_decay,
                capturable=capturable,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
            ),
        )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = _grad_of(p)
                if group["maximize"]:
                    g = -g
                w = p.data
                xp = get_array_module(w)
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["square_avg"] = xp.zeros_like(w)
                    if momentum > 0:
                        st["momentum_buffer"] = xp.zeros_like(w)
                    if centered:
                        st["grad_avg"] = xp.zeros_like(w)
                st["step"] += 1
                if wd != 0:
                    g = g + wd * w
                sq = st["square_avg"]
                sq *= alpha
                sq += (1.0 - alpha) * g * g
                if centered:
                    ga = st.get("grad_avg")
                    if ga is None:
                        ga = st["grad_avg"] = xp.zeros_like(w)
                    ga += (1.0 - alpha) * (g - ga)  # torch: grad_avg.lerp_(grad, 1 - alpha)
                    with np.errstate(over="ignore", invalid="ignore"):
                        avg = xp.sqrt(sq - ga * ga)
                    # torch's addcmul is one rounding: where g**2 overflowed, sq is inf and
                    # so is sq - ga**2 there, not inf - inf = NaN (which made the weights NaN)
                    nan = xp.isnan(avg)
                    if bool(nan.any()):
                        avg[nan & xp.isinf(sq)] = xp.inf
                else:
                    avg = xp.sqrt(sq)
                avg += eps
                if momentum > 0:
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = xp.zeros_like(w)
                    buf *= momentum
                    buf += g / avg
                    w -= lr * buf
                else:
                    w -= lr * (g / avg)
                p._version[0] += 1  # changed in place: a graph that saved p refuses to backward
        return loss
