"""deltagrad.optim.SGD: torch.optim.SGD, one fused in-place kernel per parameter
(dg.ops.sgd_update)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import _cpu, ops
from ..backends import _override
from ..tensor import get_array_module
from .optimizer import _FLAG_CHECKS, Optimizer, _check_fused, _flag, _grad_of, _nonneg

__all__ = ["SGD"]


def _dampening(where: str, name: str, value: Any) -> float:
    v = _nonneg(where, name, value)
    if not v <= 1.0:
        raise ValueError(f"{where}: {name}: expected a number in [0, 1], got {v}")
    return v


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD: g = -grad if maximize else grad;
    g += weight_decay * w;  b = momentum * b + (1 - dampening) * g (b = g at the first
    step);  g = g + momentum * b if nesterov else b;  w -= lr * g.

    foreach and fused are accepted, checked and kept in the param groups as torch's, and
    change nothing (one implementation: a group's numpy parameters are updated together
    anyway); differentiable=True is a ValueError (the step is not recorded by autograd)."""

    _state_keys = frozenset({"momentum_buffer"})
    _checks = {
        "lr": _nonneg,
        "momentum": _nonneg,
        "dampening": _dampening,
        "weight_decay": _nonneg,
        "nesterov": _flag,
        "maximize": _flag,
        **_FLAG_CHECKS,
    }
    _load_defaults = {**Optimizer._load_defaults, "fused": False}  # torch's SGD.__setstate__

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
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        _check_fused("SGD", fused, foreach)

    def _check_combination(self, group: dict[str, Any], where: str) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given.

        numpy parameters of a group are updated by one kernel call (torch's foreach: one
        parallel region for all of them, the same arithmetic as one call per parameter)."""
        loss = self._closure(closure)
        state = self.state
        host = _override.backend is None  # numpy arrays go to the CPU kernels
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            todo = []  # (p, grad, buf, first)
            numpy_only = host
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                d = p.data
                if not (
                    type(g) is np.ndarray
                    and type(d) is np.ndarray
                    and g.dtype == d.dtype
                    and g.shape == d.shape
                    and g.flags.c_contiguous
                ):
                    g = _grad_of(p)
                    numpy_only = numpy_only and type(g) is np.ndarray and type(d) is np.ndarray
                if maximize:
                    g = -g
                buf, first = None, True
                if momentum != 0.0:
                    st = state[p]
                    buf = st.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = st["momentum_buffer"] = get_array_module(d).zeros_like(d)
                todo.append((p, g, buf, first))
            if numpy_only and len(todo) > 1 and self._update_together(todo, group):
                continue
            for p, g, buf, first in todo:
                ops.sgd_update(
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

    @staticmethod
    def _update_together(todo: list[tuple[Any, Any, Any, bool]], group: dict[str, Any]) -> bool:
        """The group's numpy parameters in one call per value of first_step (usually one).
        False when a check fails: the call changed nothing, `todo` keeps the parameters not yet
        updated, and the caller updates those one by one as before (raising the error there)."""
        momentum = group["momentum"]
        for first in (True, False):
            part = [t for t in todo if t[3] is first]
            if not part:
                continue
            try:
                _cpu.sgd_update_multi(
                    [t[0].data for t in part],
                    [t[1] for t in part],
                    [t[2] for t in part] if momentum != 0.0 else None,
                    lr=group["lr"],
                    momentum=momentum,
                    weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"],
                    dampening=group["dampening"],
                    first_step=first,
                )
            except (TypeError, ValueError):
                return False  # nothing of this part was changed
            for t in part:
                t[0]._version[0] += 1  # changed in place: a graph that saved p refuses backward
            todo[:] = [t for t in todo if t[3] is not first]
        return True
