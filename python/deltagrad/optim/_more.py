"""deltagrad.optim's Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop: torch.optim's optimizers
of the same names in array code (numpy or cupy), step for step torch's single-tensor
implementation (the one torch runs on CPU).

Each keeps torch's constructor (argument names, defaults, which ones are keyword-only), its
argument checks, its param_groups keys (foreach, capturable and differentiable included) and
its per-parameter state keys, so that torch's state_dict numbers map one to one. The scalar
states torch keeps as 0-d float32 tensors (NAdam's mu_product, ASGD's eta and mu) are 0-d
numpy arrays here, float32 as torch's (its default dtype, deltagrad's fixed one) and of the
parameter's dtype after load_state_dict, as torch casts them: the float32 roundings are part
of torch's numbers. On the host, Adamax's lerp and ASGD's w -= eta * g run in the SGD kernel
(_cpu.sgd_update, one fused multiply-add as torch's vectorized lerp_ / add_): torch's float32
bits on the AVX2 / AVX-512 paths (the generic build may differ by an ulp), and ASGD's step in
two in-place passes without scratch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import _cpu
from ..backends import _override
from ..tensor import Tensor, get_array_module
from ._chunked import eff_grad, run_chunked
from .adam import _betas
from .optimizer import Optimizer, _differentiable, _flag, _foreach, _grad_of, _nonneg

__all__ = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]

# ---- argument checks (where, name, value) -> normalized value -------------------------------


def _real(where: str, name: str, value: Any) -> float:
    """Any real number (torch checks nothing of ASGD's lambd, alpha, t0)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name}: expected a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name}: expected a real number, got {value!r}") from None


def _rho(where: str, name: str, value: Any) -> float:
    """Adadelta's rho: a number in [0, 1]."""
    v = _nonneg(where, name, value)
    if v > 1.0:
        raise ValueError(f"{where}: {name}: expected a number in [0, 1], got {v}")
    return v


def _pair(where: str, name: str, value: Any) -> tuple[float, float]:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name}: expected a pair of numbers, got {value!r}") from None
    return (_real(where, f"{name}[0]", a), _real(where, f"{name}[1]", b))


def _etas(where: str, name: str, value: Any) -> tuple[float, float]:
    """Rprop's (etaminus, etaplus): 0 < etaminus < 1 < etaplus, as torch."""
    lo, hi = _pair(where, name, value)
    if not 0.0 < lo < 1.0 < hi:
        raise ValueError(f"{where}: {name}: expected 0 < etaminus < 1 < etaplus, got ({lo}, {hi})")
    return (lo, hi)


# every optimizer here: capturable is accepted and ignored (no CUDA graphs in deltagrad; torch's
# capturable branch is the same update with its scalars kept on the device)
_COMMON = {
    "lr": _nonneg,
    "maximize": _flag,
    "foreach": _foreach,
    "capturable": _flag,
    "differentiable": _differentiable,
}


def _lerp_into(xp: Any, start: Any, end: Any, weight: float, t: Any) -> None:
    """start.lerp_(end, weight) in place, with torch's two formulas (its CPU kernel):
    start += weight * (end - start) for |weight| < 0.5, else
    start = end + (weight - 1) * (end - start); t is scratch for the difference."""
    xp.subtract(end, start, out=t)
    if abs(weight) < 0.5:
        t *= weight
        start += t
    else:
        t *= weight - 1.0
        xp.add(end, t, out=start)


def _fma_ok(read: Any, *updated: Any) -> bool:
    """Whether the CPU kernel _cpu.sgd_update can run on these arrays: host numpy arrays (no
    backend override) of float32 / float64, C-contiguous, aligned, native byte order, of one
    dtype and shape; `updated` (changed in place) writeable too."""
    if _override.backend is not None:
        return False
    a0 = updated[0]
    if type(a0) is not np.ndarray or a0.dtype not in (np.float32, np.float64):
        return False
    for a in (read, *updated):
        if type(a) is not np.ndarray or a.dtype != a0.dtype or a.shape != a0.shape:
            return False
        f = a.flags
        if not (f.c_contiguous and f.aligned and a.dtype.isnative):
            return False
    return all(a.flags.writeable for a in updated)


def _disjoint(*arrays: Any) -> bool:
    """No two of the arrays share memory (the C++ updates refuse overlapping operands)."""
    return not any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def _sub_scaled(x: Any, d: Any, c: float) -> None:
    """x -= c * d in place, one rounding (a fused multiply-add, as torch's vectorized
    add_(d, alpha=-c) and lerp_): the SGD kernel's param -= lr * grad, c >= 0."""
    _cpu.sgd_update(x, d, None, lr=c)


class _ArrayOptimizer(Optimizer):
    """The step loop the optimizers of this file share: skip parameters without a gradient,
    create the state on the first step, count the step, update the
    parameter (_update, in place) and bump its version. torch's arithmetic never warns, so
    numpy's floating-point warnings are off during the update."""

    # the state keys that are scalars (0-d arrays on the host, as torch keeps them on the CPU)
    _scalar_keys: frozenset[str] = frozenset()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = self._closure(closure)
        with np.errstate(all="ignore"):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = _grad_of(p)  # _update negates it with maximize
                    st = self.state[p]
                    if not st:
                        st["step"] = 0
                        self._init_state(p.data, group, st)
                    st["step"] += 1
                    self._update(p.data, g, st, group)
                    p._version[0] += 1  # changed in place: a graph that saved p refuses backward
        return loss

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        """w's update from its gradient g (not yet negated with group["maximize"])."""
        raise NotImplementedError

    def _load_value(self, p: Tensor, key: str, v: Any, at: str) -> Any:
        """As the base class; a scalar state becomes a 0-d array of the parameter's dtype (torch
        casts every floating state but 'step' to the parameter's dtype on load)."""
        if key not in self._scalar_keys or v is None:
            return super()._load_value(p, key, v, at)
        shape = tuple(getattr(v, "shape", ()))
        try:
            if shape:
                raise TypeError
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"{at}['{key}']: expected a number (a 0-d array), got {type(v).__name__} of "
                f"shape {shape}"
            ) from None
        return np.array(f, dtype=p.data.dtype)


# ---- Adadelta ---------------------------------------------------------------------------------


class Adadelta(_ArrayOptimizer):
    """Adadelta (Zeiler), as torch.optim.Adadelta: g = -grad if maximize else grad;
    g += weight_decay * w;  s = rho * s + (1 - rho) * g^2;
    d = sqrt(u + eps) / sqrt(s + eps) * g;  u = rho * u + (1 - rho) * d^2;  w -= lr * d."""

    _state_keys = frozenset({"step", "square_avg", "acc_delta"})
    _checks = {**_COMMON, "rho": _rho, "eps": _nonneg, "weight_decay": _nonneg}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                rho=rho,
                eps=eps,
                weight_decay=weight_decay,
                maximize=maximize,
                capturable=capturable,
                foreach=foreach,
                differentiable=differentiable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        xp = get_array_module(w)
        st["square_avg"] = xp.zeros_like(w)
        st["acc_delta"] = xp.zeros_like(w)

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        args = (group["maximize"], group["weight_decay"], group["rho"], group["eps"], group["lr"])
        run_chunked(_adadelta, (w, g, st["square_avg"], st["acc_delta"]), 3, *args)


def _adadelta(xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, rho, eps, lr) -> None:
    """One chunk: sq = rho * sq + (1 - rho) * g * g;  d = sqrt(acc + eps) / sqrt(sq + eps) * g;
    acc = rho * acc + (1 - rho) * d * d;  w -= lr * d."""
    w, g, sq, acc = a
    t0, t1 = t[0], t[1]
    g = eff_grad(xp, w, g, t[2], neg, wd)
    sq *= rho
    xp.multiply(g, 1 - rho, out=t0)
    t0 *= g
    sq += t0
    xp.add(sq, eps, out=t0)
    xp.sqrt(t0, out=t0)  # std
    xp.add(acc, eps, out=t1)
    xp.sqrt(t1, out=t1)
    t1 /= t0
    t1 *= g  # delta
    acc *= rho
    xp.multiply(t1, 1 - rho, out=t0)
    t0 *= t1
    acc += t0
    t1 *= lr
    w -= t1


# ---- Adamax -----------------------------------------------------------------------------------


class Adamax(_ArrayOptimizer):
    """Adamax (Kingma & Ba, Adam's infinity-norm variant), as torch.optim.Adamax:
    g = -grad if maximize else grad;  g += weight_decay * w;  m = lerp(m, g, 1 - beta1);
    u = max(beta2 * u, |g| + eps);  w -= lr / (1 - beta1^t) * m / u."""

    _state_keys = frozenset({"step", "exp_avg", "exp_inf"})
    _checks = {**_COMMON, "betas": _betas, "eps": _nonneg, "weight_decay": _nonneg}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                capturable=capturable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        xp = get_array_module(w)
        st["exp_avg"] = xp.zeros_like(w)
        st["exp_inf"] = xp.zeros_like(w)

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        (b1, b2), eps = group["betas"], group["eps"]
        clr = group["lr"] / (1 - b1 ** st["step"])
        m, u = st["exp_avg"], st["exp_inf"]
        # the lerp as torch's vectorized one (one fused multiply-add) by the SGD kernel, on
        # the host; its small-weight formula only (torch's other one for 1 - b1 >= 0.5)
        if _fma_ok(g, w, m, u) and _disjoint(w, g, m, u):  # one C++ pass, the same roundings
            _cpu.adamax_update(
                w, g, m, u, clr=clr, beta1=b1, beta2=b2, eps=eps,
                weight_decay=group["weight_decay"], maximize=group["maximize"],
            )  # fmt: skip
            return
        fma = abs(1 - b1) < 0.5 and _fma_ok(g, w, m, u)
        args = (group["maximize"], group["weight_decay"], b1, b2, eps, clr, fma)
        run_chunked(_adamax, (w, g, m, u), 2, *args)


def _adamax(xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, b1, b2, eps, clr, fma) -> None:
    """One chunk: m = lerp(m, g, 1 - b1);  u = max(b2 * u, |g| + eps);  w += -clr * m / u
    (torch: param.addcdiv_(exp_avg, exp_inf, value=-clr), self + value * t1 / t2)."""
    w, g, m, u = a
    t0 = t[0]
    g = eff_grad(xp, w, g, t[1], neg, wd)
    if fma:  # m + (1 - b1) * (g - m) in one rounding, as m - (1 - b1) * (m - g)
        xp.subtract(m, g, out=t0)
        _sub_scaled(m, t0, 1 - b1)
    else:
        _lerp_into(xp, m, g, 1 - b1, t0)
    u *= b2
    xp.abs(g, out=t0)
    t0 += eps
    xp.maximum(u, t0, out=u)
    xp.multiply(m, -clr, out=t0)
    t0 /= u
    w += t0


# ---- NAdam ------------------------------------------------------------------------------------


class NAdam(_ArrayOptimizer):
    """NAdam (Dozat: Adam with Nesterov momentum), as torch.optim.NAdam:
    g = -grad if maximize else grad;  weight decay (w *= 1 - lr * weight_decay with
    decoupled_weight_decay, else g += weight_decay * w);
    mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  P = mu_1 * ... * mu_t (the state
    mu_product, a float32 scalar as torch's);  m = lerp(m, g, 1 - beta1);
    v = beta2 * v + (1 - beta2) * g^2;  d = sqrt(v / (1 - beta2^t)) + eps;
    w -= lr * (1 - mu_t) / (1 - P) * g / d;  w -= lr * mu_{t+1} / (1 - P * mu_{t+1}) * m / d."""

    _state_keys = frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"})
    _scalar_keys = frozenset({"mu_product"})
    _checks = {
        **_COMMON,
        "betas": _betas,
        "eps": _nonneg,
        "weight_decay": _nonneg,
        "momentum_decay": _nonneg,
        "decoupled_weight_decay": _flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                momentum_decay=momentum_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
                foreach=foreach,
                capturable=capturable,
                differentiable=differentiable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        xp = get_array_module(w)
        st["mu_product"] = np.array(1.0, dtype=np.float32)
        st["exp_avg"] = xp.zeros_like(w)
        st["exp_avg_sq"] = xp.zeros_like(w)

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        wd, psi = group["weight_decay"], group["momentum_decay"]
        step = st["step"]
        bc2 = 1 - b2**step
        decay = 1.0
        if wd != 0 and group["decoupled_weight_decay"]:
            decay, wd = 1 - lr * wd, 0
        mu = b1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
        mp = st["mu_product"]
        mp *= mu  # in the scalar's own dtype (float32 until a load), as torch
        mu_product = float(mp)
        c_g = -lr * (1.0 - mu) / (1.0 - mu_product)
        c_m = (-lr * mu_next) / (1.0 - mu_product * mu_next)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        if _fma_ok(g, w, m, v) and _disjoint(w, g, m, v):  # one C++ pass, the same roundings
            _cpu.nadam_update(
                w, g, m, v, decay=decay, beta1=b1, beta2=b2, bc2=bc2, eps=eps, c_g=c_g, c_m=c_m,
                weight_decay=wd, maximize=group["maximize"],
            )  # fmt: skip
            return
        args = (group["maximize"], wd, decay, b1, b2, bc2, eps, c_g, c_m)
        run_chunked(_nadam, (w, g, m, v), 3, *args)


def _adam_moments(xp: Any, a: list[Any], t: list[Any], neg, wd, decay, b1, b2) -> Any:
    """NAdam's and RAdam's first steps on a chunk a = (w, g, m, v): w *= decay (decoupled
    weight decay);  m = lerp(m, g, 1 - b1);  v = b2 * v + (1 - b2) * g * g. Returns the
    effective gradient (maximize / L2 weight decay applied); t[0] is left scratch."""
    w, g, m, v = a
    t0 = t[0]
    if decay != 1.0:
        w *= decay
    g = eff_grad(xp, w, g, t[2], neg, wd)
    _lerp_into(xp, m, g, 1 - b1, t0)
    v *= b2
    xp.multiply(g, 1 - b2, out=t0)
    t0 *= g
    v += t0
    return g


def _nadam(
    xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, decay, b1, b2, bc2, eps, c_g, c_m
) -> None:
    """One chunk: w *= decay (decoupled weight decay);  m = lerp(m, g, 1 - b1);
    v = b2 * v + (1 - b2) * g * g;  d = sqrt(v / bc2) + eps;  w += c_g * g / d;
    w += c_m * m / d."""
    w, m, v = a[0], a[2], a[3]
    t0, t1 = t[0], t[1]
    g = _adam_moments(xp, a, t, neg, wd, decay, b1, b2)
    xp.divide(v, bc2, out=t1)
    xp.sqrt(t1, out=t1)
    t1 += eps  # denom
    xp.multiply(g, c_g, out=t0)
    t0 /= t1
    w += t0
    xp.multiply(m, c_m, out=t0)
    t0 /= t1
    w += t0


# ---- RAdam ------------------------------------------------------------------------------------


class RAdam(_ArrayOptimizer):
    """RAdam (Liu et al., rectified Adam), as torch.optim.RAdam: g = -grad if maximize else
    grad; weight decay as NAdam's; m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) * g^2;
    rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t);  with
    m_hat = m / (1 - beta1^t): if rho_t > 5, w -= m_hat * lr * sqrt(1 - beta2^t) /
    (sqrt(v) + eps) * r_t (r_t the variance rectification), else w -= m_hat * lr."""

    _state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})
    _checks = {
        **_COMMON,
        "betas": _betas,
        "eps": _nonneg,
        "weight_decay": _nonneg,
        "decoupled_weight_decay": _flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                maximize=maximize,
                foreach=foreach,
                capturable=capturable,
                decoupled_weight_decay=decoupled_weight_decay,
                differentiable=differentiable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        xp = get_array_module(w)
        st["exp_avg"] = xp.zeros_like(w)
        st["exp_avg_sq"] = xp.zeros_like(w)

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        step = st["step"]
        decay = 1.0
        if wd != 0 and group["decoupled_weight_decay"]:
            decay, wd = 1 - lr * wd, 0
        bc1 = 1 - b1**step
        bc2 = 1 - b2**step
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2**step) / bc2
        rect = None
        if rho_t > 5.0:
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
        args = (group["maximize"], wd, decay, b1, b2, bc1, bc2, lr, eps, rect)
        run_chunked(_radam, (w, g, st["exp_avg"], st["exp_avg_sq"]), 3, *args)


def _radam(
    xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, decay, b1, b2, bc1, bc2, lr, eps, rect
) -> None:
    """One chunk: w *= decay (decoupled weight decay);  m = lerp(m, g, 1 - b1);
    v = b2 * v + (1 - b2) * g * g;  with m_hat = m / bc1: w -= m_hat * lr * (sqrt(bc2) /
    (sqrt(v) + eps)) * rect, or w -= m_hat * lr where the rectification is off (rect None)."""
    w, m, v = a[0], a[2], a[3]
    t0, t1 = t[0], t[1]
    _adam_moments(xp, a, t, neg, wd, decay, b1, b2)
    xp.divide(m, bc1, out=t0)
    t0 *= lr  # m_hat * lr
    if rect is not None:
        xp.sqrt(v, out=t1)
        t1 += eps
        xp.divide(bc2**0.5, t1, out=t1)  # adaptive_lr
        t0 *= t1
        t0 *= rect
    w -= t0


# ---- ASGD -------------------------------------------------------------------------------------


class ASGD(_ArrayOptimizer):
    """Averaged SGD (Polyak & Juditsky), as torch.optim.ASGD: g = -grad if maximize else grad;
    g += weight_decay * w;  w *= 1 - lambd * eta;  w -= eta * g;  the average ax = w while
    mu == 1, else ax += mu * (w - ax);  then eta = lr / (1 + lambd * lr * t)^alpha and
    mu = 1 / max(1, t - t0). eta (from the group's lr at the first step) and mu are float32
    scalars, as torch's."""

    _state_keys = frozenset({"step", "eta", "mu", "ax"})
    _scalar_keys = frozenset({"eta", "mu"})
    _checks = {
        **_COMMON,
        "lambd": _real,
        "alpha": _real,
        "t0": _real,
        "weight_decay": _nonneg,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                lambd=lambd,
                alpha=alpha,
                t0=t0,
                weight_decay=weight_decay,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                capturable=capturable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        st["eta"] = np.array(group["lr"], dtype=np.float32)
        st["mu"] = np.array(1.0, dtype=np.float32)
        st["ax"] = get_array_module(w).zeros_like(w)

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        eta, mu = float(st["eta"]), float(st["mu"])
        neg, wd, decay, ax = group["maximize"], group["weight_decay"], 1 - lambd * eta, st["ax"]
        # (the kernel refuses a NaN eta, and a gradient that shares the parameter's memory)
        fast = not neg and wd == 0 and eta >= 0 and _fma_ok(g, w, ax)
        if fast and not np.may_share_memory(w, g):
            # the common case on the host, whole arrays in place and no scratch: w *= decay,
            # then w -= eta * g by the SGD kernel (one rounding, as torch's vectorized
            # param.add_(grad, alpha=-eta)); ax as below
            if decay != 1.0:
                w *= decay
            _sub_scaled(w, g, eta)
            if mu != 1:
                run_chunked(_asgd_average, (ax, w), 1, mu)
            else:
                np.copyto(ax, w)
        else:
            run_chunked(_asgd, (w, g, ax), 2, neg, wd, decay, eta, mu)
        step = st["step"]
        # torch: eta.copy_(torch.as_tensor(...)), a float32 tensor first whatever eta's dtype
        st["eta"][...] = np.float32(lr / ((1 + lambd * lr * step) ** alpha))
        st["mu"][...] = np.float32(1 / max(1, step - t0))


# ---- Rprop ------------------------------------------------------------------------------------


class Rprop(_ArrayOptimizer):
    """Resilient backpropagation (Riedmiller & Braun), as torch.optim.Rprop: g = -grad if
    maximize else grad; where g * prev > 0 the per-element step size is multiplied by etaplus,
    where < 0 by etaminus (and g taken as 0), then clamped to step_sizes; w -= sign(g) * size;
    prev = g. The step sizes start at the group's lr of the first step. sign is torch's: 0 for
    a NaN, so a NaN gradient leaves its element and step size as they are."""

    _state_keys = frozenset({"step", "prev", "step_size"})
    _checks = {**_COMMON, "etas": _etas, "step_sizes": _pair}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                etas=etas,
                step_sizes=step_sizes,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                capturable=capturable,
            ),
        )

    def _init_state(self, w: Any, group: dict[str, Any], st: dict[str, Any]) -> None:
        xp = get_array_module(w)
        st["prev"] = xp.zeros_like(w)
        st["step_size"] = xp.full_like(w, group["lr"])

    def _update(self, w: Any, g: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
        (etaminus, etaplus), (lo, hi) = group["etas"], group["step_sizes"]
        # torch: sign[sign > 0] = etaplus; sign[sign < 0] = etaminus; sign[sign == 0] = 1, in
        # the parameter's dtype; then grad[sign == etaminus] = 0
        em, ep = w.dtype.type(etaminus), w.dtype.type(etaplus)
        args = (group["maximize"], em, ep, lo, hi)
        run_chunked(_rprop, (w, g, st["prev"], st["step_size"]), 3, *args, nbool=2)


def _asgd(xp: Any, a: list[Any], t: list[Any], _b: Any, neg, wd, decay, eta, mu) -> None:
    """One chunk: w *= decay;  w -= eta * g;  ax += (w - ax) * mu, or ax = w where mu == 1."""
    w, g, ax = a
    t0 = t[0]
    g = eff_grad(xp, w, g, t[1], neg, wd)
    if decay != 1.0:
        w *= decay
    xp.multiply(g, eta, out=t0)
    w -= t0
    if mu != 1:
        xp.subtract(w, ax, out=t0)
        t0 *= mu
        ax += t0
    else:
        xp.copyto(ax, w)


def _asgd_average(xp: Any, a: list[Any], t: list[Any], _b: Any, mu) -> None:
    """One chunk of ASGD's average: ax += (w - ax) * mu (torch: ax.add_(param.sub(ax).mul_(mu)))."""
    ax, w = a
    t0 = t[0]
    xp.subtract(w, ax, out=t0)
    t0 *= mu
    ax += t0


def _rprop(xp: Any, a: list[Any], t: list[Any], b: list[Any], neg, em, ep, lo, hi) -> None:
    """One chunk: factor = ep where g * prev > 0, em where < 0, else 1;  size *= factor,
    clipped to [lo, hi];  g = 0 where factor == em;  w -= sign(g) * size;  prev = g
    (sign as torch's: 0 for a NaN)."""
    w, g, prev, size = a
    t0, t1 = t[0], t[1]
    b0, b1 = b[0], b[1]
    g = eff_grad(xp, w, g, t[2], neg, 0)
    xp.multiply(g, prev, out=t0)
    t1.fill(1)
    xp.less(t0, 0, out=b0)
    xp.copyto(t1, em, where=b0)
    xp.greater(t0, 0, out=b0)
    xp.copyto(t1, ep, where=b0)  # the factor
    size *= t1
    xp.clip(size, lo, hi, out=size)
    xp.equal(t1, em, out=b0)
    xp.copyto(prev, g)
    xp.copyto(prev, 0, where=b0)  # the new g, kept as prev
    xp.greater(prev, 0, out=b0)
    xp.less(prev, 0, out=b1)
    xp.subtract(b0, b1, out=t0, dtype=t0.dtype)  # sign(g)
    t0 *= size
    w -= t0
