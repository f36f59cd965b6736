"""deltagrad.optim.RMSprop: torch.optim.RMSprop in array code (numpy or cupy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..tensor import get_array_module
from .optimizer import Optimizer, _flag, _grad_of, _nonneg

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop: g = -grad if maximize else grad;
    g += weight_decay * w;  s = alpha * s + (1 - alpha) * g^2;  with centered,
    a = lerp(a, g, 1 - alpha) and avg = sqrt(s - a^2), else avg = sqrt(s);  avg += eps;
    with momentum, b = momentum * b + g / avg and w -= lr * b, else w -= lr * g / avg."""

    _state_keys = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})
    _checks = {
        "lr": _nonneg,
        "alpha": _nonneg,
        "eps": _nonneg,
        "weight_decay": _nonneg,
        "momentum": _nonneg,
        "centered": _flag,
        "maximize": _flag,
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
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
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
