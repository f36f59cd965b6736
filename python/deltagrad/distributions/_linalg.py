"""Differentiable Cholesky and lower-triangular solve for MultivariateNormal.

Forwards use the array module's linalg (numpy, or cupy on a GPU); the backwards are torch's
formulas (cholesky_backward, linalg_solve_triangular's backward), written with Tensor._make."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, get_array_module


def _mT(a: Any) -> Any:  # noqa: N802 - torch's name
    return get_array_module(a).swapaxes(a, -1, -2)


def _solve_lower(xp: Any, lower: Any, b: Any) -> Any:
    """lower^-1 b (batched; numpy's solve: LU, exact enough at these sizes)."""
    return xp.linalg.solve(lower, b)


def cholesky(a: Tensor) -> Tensor:
    """The lower Cholesky factor L of the symmetric positive-definite a (batched).

    Raises ValueError (naming the function) when a is not positive definite."""
    xp = get_array_module(a.data)
    try:
        low = xp.linalg.cholesky(a.data)
    except Exception as e:  # numpy's LinAlgError
        raise ValueError(f"cholesky: the input is not positive-definite ({e})") from None
    if not bool(xp.all(xp.isfinite(low))):  # cupy: NaNs instead of an error
        raise ValueError("cholesky: the input is not positive-definite")

    def _backward(g: Any) -> None:
        # gA = L^-H Phi(L^H gL) L^-1, symmetrized (torch's cholesky_backward)
        ga = xp.tril(_mT(low) @ g)
        ga = 0.5 * (ga + _mT(xp.tril(ga, -1)))
        upper = _mT(low)
        z = xp.linalg.solve(upper, ga)  # L^-T S
        a._accumulate(_mT(xp.linalg.solve(upper, _mT(z))))  # (L^-T (L^-T S)^T)^T = L^-T S L^-1

    return Tensor._make(low, (a,), _backward, "cholesky", saves=(a,))


def solve_lower(lower: Tensor, b: Tensor) -> Tensor:
    """X with lower @ X = b, lower lower-triangular (batched, broadcasting batch dims)."""
    xp = get_array_module(lower.data)
    x = _solve_lower(xp, lower.data, b.data)

    def _backward(g: Any) -> None:
        gb = xp.linalg.solve(_mT(lower.data), g)  # L^-T g
        if b.requires_grad:
            b._accumulate(gb)
        if lower.requires_grad:
            lower._accumulate(-xp.tril(gb @ _mT(x)))

    return Tensor._make(x, (lower, b), _backward, "solve_triangular")
