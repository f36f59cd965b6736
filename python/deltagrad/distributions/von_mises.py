"""torch.distributions.VonMises: the circular normal distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import deltagrad.distributions.constraints as constraints

from .._random import get_rng
from ..tensor import Tensor, get_array_module, no_grad, where
from .distribution import Distribution
from .utils import broadcast_all, lazy_property

__all__ = ["VonMises"]


def _eval_poly(y: Tensor, coef: list[float]) -> Tensor:
    coef = list(coef)
    result: Any = coef.pop()
    while coef:
        result = coef.pop() + y * result
    return result


# torch's polynomial approximations of I0 and I1 (Abramowitz and Stegun 9.8.1-9.8.4):
# log_prob and variance match torch's numbers, not the exact Bessel functions (to ~1e-7)
_I0_COEF_SMALL = [1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.360768e-1, 0.45813e-2]
_I0_COEF_LARGE = [
    0.39894228,
    0.1328592e-1,
    0.225319e-2,
    -0.157565e-2,
    0.916281e-2,
    -0.2057706e-1,
    0.2635537e-1,
    -0.1647633e-1,
    0.392377e-2,
]
_I1_COEF_SMALL = [0.5, 0.87890594, 0.51498869, 0.15084934, 0.2658733e-1, 0.301532e-2, 0.32411e-3]
_I1_COEF_LARGE = [
    0.39894228,
    -0.3988024e-1,
    -0.362018e-2,
    0.163801e-2,
    -0.1031555e-1,
    0.2282967e-1,
    -0.2895312e-1,
    0.1787654e-1,
    -0.420059e-2,
]
_COEF_SMALL = [_I0_COEF_SMALL, _I1_COEF_SMALL]
_COEF_LARGE = [_I0_COEF_LARGE, _I1_COEF_LARGE]


def _log_modified_bessel_fn(x: Tensor, order: int = 0) -> Tensor:
    """log I_order(x) for x > 0 and order 0 or 1 (torch's approximation)."""
    if order not in (0, 1):
        raise ValueError(f"_log_modified_bessel_fn: order must be 0 or 1, got {order}")
    y = x / 3.75
    y = y * y
    small = _eval_poly(y, _COEF_SMALL[order])
    if order == 1:
        small = x.abs() * small
    small = small.log()
    y = 3.75 / x
    large = x - 0.5 * x.log() + _eval_poly(y, _COEF_LARGE[order]).log()
    return where(x < 3.75, small, large)


def _rejection_sample(loc: Any, concentration: Any, proposal_r: Any, shape: tuple) -> Any:
    """Best and Fisher's (1979) rejection sampler, as torch's, on float64 arrays (host or
    device) with deltagrad's generator; loc / concentration / proposal_r broadcast to shape."""
    xp = get_array_module(loc)
    loc = xp.broadcast_to(loc, shape)
    concentration = xp.broadcast_to(concentration, shape)
    proposal_r = xp.broadcast_to(proposal_r, shape)
    x = xp.zeros(shape, dtype=np.float64)
    done = xp.zeros(shape, dtype=bool)
    rng = get_rng()
    while not bool(done.all()):
        u = rng.random((3,) + tuple(shape))
        u = u if xp is np else xp.asarray(u)
        u1, u2, u3 = u[0], u[1], u[2]
        z = xp.cos(math.pi * u1)
        f = (1 + proposal_r * z) / (proposal_r + z)
        c = concentration * (proposal_r - f)
        with np.errstate(divide="ignore", invalid="ignore"):
            accept = ((c * (2 - c) - u2) > 0) | ((xp.log(c / u2) + 1 - c) >= 0)
        accept = accept & ~done
        x = xp.where(accept, xp.sign(u3 - 0.5) * xp.arccos(xp.clip(f, -1.0, 1.0)), x)
        done = done | accept
    return xp.mod(x + math.pi + loc, 2 * math.pi) - math.pi


class VonMises(Distribution):
    """The von Mises distribution on the circle, with mean direction loc and concentration
    kappa: p(x) = exp(kappa cos(x - loc)) / (2 pi I0(kappa)). log_prob is defined for any
    real x (periodic); samples lie in [-pi, pi). No rsample (as torch)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False
    _expand_params = ("loc", "concentration")

    def __init__(self, loc: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.concentration * (value - self.loc).cos()
        return (
            log_prob - math.log(2 * math.pi) - _log_modified_bessel_fn(self.concentration, order=0)
        )

    def _proposal_r(self, kappa: Any) -> Any:
        xp = get_array_module(kappa)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = 1 + xp.sqrt(1 + 4 * kappa**2)
            rho = (tau - xp.sqrt(2 * tau)) / (2 * kappa)
            proposal_r = (1 + rho**2) / (2 * rho)
            proposal_r_taylor = 1 / kappa + kappa
        return xp.where(kappa < 1e-5, proposal_r_taylor, proposal_r)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Rejection sampling in float64, returned in loc's dtype."""
        shape = self._extended_shape(sample_shape)
        with no_grad():
            loc = self.loc.detach().data.astype(np.float64)
            kappa = self.concentration.detach().data.astype(np.float64)
            out = _rejection_sample(loc, kappa, self._proposal_r(kappa), shape)
            return Tensor(out.astype(self.loc.dtype))

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:  # type: ignore[override]
        """The circular variance 1 - I1(kappa) / I0(kappa)."""
        return (
            1
            - (
                _log_modified_bessel_fn(self.concentration, order=1)
                - _log_modified_bessel_fn(self.concentration, order=0)
            ).exp()
        )
