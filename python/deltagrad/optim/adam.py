"""deltagrad.optim.Adam and AdamW: torch.optim.Adam / AdamW, one fused in-place kernel per
parameter (dg.ops.adam_update); amsgrad in array code."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import ops
from ..tensor import get_array_module
from ._chunked import eff_grad, run_chunked
from .optimizer import _FLAG_CHECKS, Optimizer, _check_fused, _flag, _grad_of, _nonneg, _unit

__all__ = ["Adam", "AdamW"]


def _betas(where: str, name: str, value: Any) -> tuple[float, float]:
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name}: expected a pair (beta1, beta2), got {value!r}") from None
    try:
        return (_unit(where, "betas[0]", b1), _unit(where, "betas[1]", b2))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: betas must be in [0, 1), got {tuple(value)}") from None


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam: weight_decay adds weight_decay * w to the
    gradient (L2), or with decoupled_weight_decay (AdamW) w *= 1 - lr * weight_decay;
    bias-corrected moments; w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
    v replaced by its running maximum with amsgrad.

    foreach, capturable and fused are accepted, checked and kept in the param groups as
    torch's, and change nothing (one fused kernel per parameter whatever they say; torch's
    variants compute the same update); differentiable=True is a ValueError (the step is not
    recorded by autograd)."""

    _state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    _checks = {
        "lr": _nonneg,
        "betas": _betas,
        "eps": _nonneg,
        "weight_decay": _nonneg,
        "amsgrad": _flag,
        "maximize": _flag,
        "decoupled_weight_decay": _flag,
        **_FLAG_CHECKS,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
                foreach=foreach,
                capturable=capturable,
                differentiable=differentiable,
                fused=fused,
                decoupled_weight_decay=decoupled_weight_decay,
            ),
        )
        _check_fused(type(self).__name__, fused, foreach)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        state = self.state
        update = ops.adam_update
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = _grad_of(p)
                st = state[p]
                if not st:
                    xp = get_array_module(p.data)
                    st["step"] = 0
                    st["exp_avg"] = xp.zeros_like(p.data)
                    st["exp_avg_sq"] = xp.zeros_like(p.data)
                st["step"] += 1
                if amsgrad:
                    _amsgrad(p.data, g, st, lr, b1, b2, eps, wd, decoupled, maximize)
                else:
                    if maximize:
                        g = -g
                    update(
                        p.data,
                        g,
                        st["exp_avg"],
                        st["exp_avg_sq"],
                        step=st["step"],
                        lr=lr,
                        beta1=b1,
                        beta2=b2,
                        eps=eps,
                        weight_decay=wd,
                        decoupled=decoupled,
                    )
                p._version[0] += 1  # changed in place: a graph that saved p refuses to backward
        return loss


def _amsgrad(w: Any, g: Any, st: dict[str, Any], lr, b1, b2, eps, wd, decoupled, neg) -> None:
    """torch's single-tensor Adam step with amsgrad=True, in place on w and the state."""
    if "max_exp_avg_sq" not in st:
        st["max_exp_avg_sq"] = get_array_module(w).zeros_like(w)
    step = st["step"]
    step_size = lr / (1.0 - b1**step)
    bc2_sqrt = (1.0 - b2**step) ** 0.5
    # decoupled: w *= 1 - lr * wd (a no-op, skipped, where that is 1); else g += wd * w
    decay = 1.0 - lr * wd if decoupled else 1.0
    args = (neg, 0 if decoupled else wd, decay, b1, b2, step_size, bc2_sqrt, eps)
    arrays = (w, g, st["exp_avg"], st["exp_avg_sq"], st["max_exp_avg_sq"])
    with np.errstate(all="ignore"):
        run_chunked(_amsgrad_chunk, arrays, 2, *args)


def _amsgrad_chunk(
    xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, decay, b1, b2, step_size, bc2_sqrt, eps
) -> None:
    """One chunk: m = lerp(m, g, 1 - b1) (one formula); v = b2 * v + (1 - b2) * g * g;
    vmax = max(vmax, v);  w -= step_size * (m / (sqrt(vmax) / bc2_sqrt + eps))."""
    w, g, m, v, vmax = a
    if decay != 1.0:
        w *= decay
    g = eff_grad(xp, w, g, t[1], neg, wd)
    t0 = t[0]
    xp.subtract(g, m, out=t0)  # torch: exp_avg.lerp_(grad, 1 - beta1)
    t0 *= 1.0 - b1
    m += t0
    v *= b2
    xp.multiply(g, 1.0 - b2, out=t0)
    t0 *= g
    v += t0
    xp.maximum(vmax, v, out=vmax)
    xp.sqrt(vmax, out=t0)
    t0 /= bc2_sqrt
    t0 += eps
    xp.divide(m, t0, out=t0)
    t0 *= step_size
    w -= t0


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    w *= 1 - lr * weight_decay before the Adam step. Default weight_decay 0.01, as in torch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
