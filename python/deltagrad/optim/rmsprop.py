"""deltagrad.optim.RMSprop: torch.optim.RMSprop in array code (numpy or cupy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import _cpu
from ..tensor import get_array_module
from ._chunked import eff_grad, run_chunked
from ._chunked import kernel_ok as _kernel_ok
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
                w = p.data
                st = self.state[p]
                if not st:
                    xp = get_array_module(w)
                    st["step"] = 0
                    st["square_avg"] = xp.zeros_like(w)
                    if momentum > 0:
                        st["momentum_buffer"] = xp.zeros_like(w)
                    if centered:
                        st["grad_avg"] = xp.zeros_like(w)
                st["step"] += 1
                arrays = [w, g, st["square_avg"]]
                for key, on in (("grad_avg", centered), ("momentum_buffer", momentum > 0)):
                    if on:
                        if st.get(key) is None:
                            st[key] = get_array_module(w).zeros_like(w)
                        arrays.append(st[key])
                if _kernel_ok(*arrays):  # one C++ pass (cpu/optim.h), within an ulp of _rmsprop
                    ga = st["grad_avg"] if centered else None
                    buf = st["momentum_buffer"] if momentum > 0 else None
                    _cpu.rmsprop_update(
                        w, g, st["square_avg"], ga, buf, lr=lr, alpha=alpha, eps=eps,
                        weight_decay=wd, momentum=momentum, maximize=group["maximize"],
                    )  # fmt: skip
                    p._version[0] += 1
                    continue
                with np.errstate(all="ignore"):
                    run_chunked(
                        _rmsprop,
                        arrays,
                        2,
                        group["maximize"],
                        wd,
                        alpha,
                        centered,
                        momentum,
                        lr,
                        eps,
                    )
                p._version[0] += 1  # changed in place: a graph that saved p refuses to backward
        return loss


def _rmsprop(
    xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, alpha, centered, momentum, lr, eps
) -> None:
    """One chunk of the step (the docstring's formulas, in torch's order of roundings)."""
    w, g, sq = a[0], a[1], a[2]
    g = eff_grad(xp, w, g, t[1], neg, wd)
    t0 = t[0]
    sq *= alpha
    xp.multiply(g, 1.0 - alpha, out=t0)  # (1 - alpha) * g * g
    t0 *= g
    sq += t0
    if centered:
        ga = a[3]
        xp.subtract(g, ga, out=t0)  # torch: grad_avg.lerp_(grad, 1 - alpha)
        t0 *= 1.0 - alpha
        ga += t0
        xp.multiply(ga, ga, out=t0)
        xp.subtract(sq, t0, out=t0)
        # torch's addcmul is one rounding: where g**2 overflowed, sq is inf and so is
        # sq - ga**2 there, not inf - inf = NaN (which made the weights NaN). A NaN shows in
        # the chunk's minimum (one cheap reduction instead of an isnan pass)
        if t0.size and xp.isnan(xp.min(t0)):
            t0[xp.isnan(t0) & xp.isinf(sq)] = xp.inf
        xp.sqrt(t0, out=t0)
    else:
        xp.sqrt(sq, out=t0)
    t0 += eps
    xp.divide(g, t0, out=t0)
    if momentum > 0:
        buf = a[-1]
        buf *= momentum
        buf += t0
        xp.multiply(buf, lr, out=t0)
    else:
        t0 *= lr
    w -= t0
