"""deltagrad.optim.SGD: torch.optim.SGD, one fused in-place kernel per parameter
(dg.ops.sgd_update)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import ops
from ..tensor import get_array_module
from .optimizer import Optimizer, _flag, _grad_of, _nonneg

__all__ = ["SGD"]


def _dampening(where: str, name: str, value: Any) -> float:
    v = _nonneg(where, name, value)
    if not v <= 1.0:
        raise ValueError(f"{where}: {name}: expected a number in [0, 1], got {v}")
    return v


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD: g = -grad if maximize else grad;
    g += weight_decay * w;  b = momentum * b + (1 - dampening) * g (b = g at the first
    step);  g = g + momentum * b if nesterov else b;  w -= lr * g."""

    _state_keys = frozenset({"momentum_buffer"})
    _checks = {
        "lr": _nonneg,
        "momentum": _nonneg,
        "dampening": _dampening,
        "weight_decay": _nonneg,
        "nesterov": _flag,
        "maximize": _flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_combination(self, group: dict[str, Any], where: str) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        state = self.state
        update = ops.sgd_update
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                g = _grad_of(p)
                if maximize:
                    g = -g
                buf, first = None, True
                if momentum != 0.0:
                    st = state[p]
                    buf = st.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = st["momentum_buffer"] = get_array_module(p.data).zeros_like(p.data)
                update(
                    p.data,
                    g,
                    buf,
                    lr=lr,
                    momentum=momentum,
                    weight_decay=wd,
                    nesterov=nesterov,
                    dampening=dampening,
                    first_step=first,
                )
                p._version[0] += 1  # changed in place: a graph that saved p refuses to backward
        return loss
