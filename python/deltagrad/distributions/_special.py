"""lgamma, digamma and reparameterized standard-gamma draws for Gamma / Beta.

Forwards are scipy.special's (cupyx.scipy.special's on a GPU); the backwards are the
derivatives (digamma, trigamma). A standard-gamma draw's gradient with respect to its
concentration is the implicit one, dx/da = -(dF/da) / f(x) with F the gamma CDF (Figurnov et
al. 2018, as torch's _standard_gamma_grad), dF/da by a central difference of the
regularized incomplete gamma function."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._random import get_rng
from ..tensor import Tensor, get_array_module


def _sp(xp: Any) -> Any:
    """scipy.special (cupyx.scipy.special for cupy arrays). scipy is not among deltagrad's
    required dependencies: Gamma and Beta say so when it is missing."""
    try:
        if xp is np:
            from scipy import special
        else:  # pragma: no cover - GPU only
            from cupyx.scipy import special
    except ImportError as e:
        raise ImportError(
            f"deltagrad.distributions: Gamma and Beta need scipy (pip install scipy): {e}"
        ) from None
    return special


def _float(x: Tensor, name: str) -> Any:
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    return x.data


def lgamma(x: Tensor) -> Tensor:
    """log |Gamma(x)|, with gradient digamma(x)."""
    d = _float(x, "lgamma")
    sp = _sp(get_array_module(d))
    out = sp.gammaln(d).astype(d.dtype)
    return Tensor._make(out, (x,), lambda g: x._accumulate(g * sp.digamma(d)), "lgamma", (x,))


def digamma(x: Tensor) -> Tensor:
    """d/dx log Gamma(x), with gradient trigamma(x)."""
    d = _float(x, "digamma")
    sp = _sp(get_array_module(d))
    out = sp.digamma(d).astype(d.dtype)
    return Tensor._make(out, (x,), lambda g: x._accumulate(g * sp.polygamma(1, d)), "digamma", (x,))


def _standard_gamma_grad(xp: Any, x: Any, a: Any) -> Any:
    """dx/da of a Gamma(a, 1) draw x at fixed CDF value."""
    sp = _sp(xp)
    h = 1e-5 * a
    dcdf = (sp.gammainc(a + h, x) - sp.gammainc(a - h, x)) / (2 * h)
    log_pdf = (a - 1) * xp.log(x) - x - sp.gammaln(a)
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
    da, dx = _float(a, "gammainc"), _float(x, "gammainc")
    xp = get_array_module(dx)
    sp = _sp(xp)
    out = sp.gammainc(da, dx).astype(dx.dtype)

    def _backward(g: Any) -> None:
        if a.requires_grad:
            raise NotImplementedError(
                "gammainc: the derivative with respect to the first argument (the "
                "concentration) is not implemented (as torch's igamma)"
            )
        pdf = xp.exp((da - 1) * xp.log(dx) - dx - sp.gammaln(da))
        x._accumulate(g * pdf)

    return Tensor._make(out, (a, x), _backward, "gammainc", (a, x))
