"""deltagrad.optim.Adagrad: torch.optim.Adagrad in array code (numpy or cupy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import _cpu
from ..tensor import get_array_module
from ._chunked import eff_grad, run_chunked
from ._chunked import kernel_ok as _kernel_ok
from .optimizer import _FLAG_CHECKS, Optimizer, _check_fused, _flag, _grad_of, _nonneg

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as torch.optim.Adagrad: g = -grad if maximize else grad;
    g += weight_decay * w;  clr = lr / (1 + (t - 1) * lr_decay);  s += g^2 (s starts at
    initial_accumulator_value of the constructor, as torch: a group's own value is not
    used);  w -= clr * g / (sqrt(s) + eps).

    foreach and fused are accepted, checked, kept in the param groups as torch's, and change
    nothing; differentiable=True is a ValueError (the step is not recorded by autograd)."""

    _state_keys = frozenset({"step", "sum"})
    _checks = {
        "lr": _nonneg,
        "lr_decay": _nonneg,
        "eps": _nonneg,
        "weight_decay": _nonneg,
        "initial_accumulator_value": _nonneg,
        "maximize": _flag,
        **_FLAG_CHECKS,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            dict(  # torch's order of the param_groups keys
                lr=lr,
                lr_decay=lr_decay,
                eps=eps,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                fused=fused,
            ),
        )
        _check_fused("Adagrad", fused, foreach)
        for group in self.param_groups:  # as torch: the state exists from the start
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        st = self.state[p]
        if not st:
            xp = get_array_module(p.data)
            st["step"] = 0
            # torch fills every group's sum with the constructor's value (defaults), never
            # a group's own initial_accumulator_value: so does deltagrad, for parity
            st["sum"] = xp.full_like(p.data, self.defaults["initial_accumulator_value"])
        return st

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, lr_decay, wd, eps = (
                group["lr"],
                group["lr_decay"],
                group["weight_decay"],
                group["eps"],
            )
            neg = group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = _grad_of(p)
                st = self._init_state(p, group)
                st["step"] += 1
                clr = lr / (1 + (st["step"] - 1) * lr_decay)
                if _kernel_ok(p.data, g, st["sum"]):  # one C++ pass (cpu/optim.h)
                    _cpu.adagrad_update(
                        p.data, g, st["sum"], clr=clr, eps=eps, weight_decay=wd, maximize=neg
                    )
                else:
                    with np.errstate(all="ignore"):
                        run_chunked(_adagrad, (p.data, g, st["sum"]), 2, neg, wd, clr, eps)
                p._version[0] += 1  # changed in place: a graph that saved p refuses to backward
        return loss


def _adagrad(xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, clr, eps) -> None:
    """One chunk: s += g * g;  w -= clr * (g / (sqrt(s) + eps)), g = eff_grad(...)."""
    w, g, s = a
    g = eff_grad(xp, w, g, t[1], neg, wd)
    t0 = t[0]
    xp.multiply(g, g, out=t0)
    s += t0
    xp.sqrt(s, out=t0)
    t0 += eps
    xp.divide(g, t0, out=t0)
    t0 *= clr
    w -= t0
