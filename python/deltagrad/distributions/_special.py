"""lgamma, digamma and reparameterized standard-gamma draws for Gamma / Beta.

Forwards and backwards are deltagrad.special's (numpy only; cupyx.scipy.special's on a GPU).
A standard-gamma draw's gradient with respect to its concentration is the implicit one,
dx/da = -(dF/da) / f(x) with F the gamma CDF (Figurnov et al. 2018, as torch's
_standard_gamma_grad), dF/da by a central difference of the regularized incomplete gamma
function."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import special as _special
from .._random import get_rng
from ..special import _call
from ..tensor import Tensor, get_array_module


def _float(x: Tensor, name: str) -> Any:
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    return x.data


def lgamma(x: Tensor) -> Tensor:
    """log |Gamma(x)|, with gradient digamma(x)."""
    _float(x, "lgamma")
    return _special.gammaln(x)


def digamma(x: Tensor) -> Tensor:
    """d/dx log Gamma(x), with gradient trigamma(x)."""
    _float(x, "digamma")
    return _special.digamma(x)


def _standard_gamma_grad(xp: Any, x: Any, a: Any) -> Any:
    """dx/da of a Gamma(a, 1) draw x at fixed CDF value."""
    h = 1e-5 * a
    dcdf = (_call("gammainc", a + h, x) - _call("gammainc", a - h, x)) / (2 * h)
    log_pdf = (a - 1) * xp.log(x) - x - _call("gammaln", a)
    return -dcdf * xp.exp(-log_pdf)


def standard_gamma(concentration: Tensor) -> Tensor:
    """One Gamma(concentration, 1) draw per element, from deltagrad's generator, with the
    implicit reparameterization gradient. Draws are clamped to the dtype's tiny (as torch)."""
    a = _float(concentration, "standard_gamma")
    xp = get_array_module(a)
    host = a if xp is np else a.get()
    x = get_rng().standard_gamma(host.astype(np.float64)).astype(a.dtype)
    x = np.maximum(x, np.finfo(a.dtype).tiny)
    x = x if xp is np else xp.asarray(x)

    def _backward(g: Any) -> None:
        a64 = a.astype(np.float64)
        grad = _standard_gamma_grad(xp, x.astype(np.float64), a64)
        concentration._accumulate((g * grad).astype(a.dtype))

    return Tensor._make(x, (concentration,), _backward, "standard_gamma", (concentration,))


def gammainc(a: Tensor, x: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function P(a, x). Its gradient with respect to
    x is the gamma density; with respect to a it is not implemented (as torch's igamma)."""
    _float(a, "gammainc")
    _float(x, "gammainc")
    return _special.gammainc(a, x)
