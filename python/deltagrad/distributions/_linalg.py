"""Differentiable Cholesky and lower-triangular solve for the distributions (MultivariateNormal,
LowRankMultivariateNormal, their KL divergences, CholeskyTransform).

cholesky is dg.linalg.cholesky's node (torch's cholesky_backward, with a double backward) that
raises the distributions' ValueError. solve_lower is a node of its own: the array module's
solve forward (numpy, or cupy on a GPU; LU, exact enough at these sizes), torch's
linalg_solve_triangular backward on arrays, and for create_graph=True the same formula from
Tensor ops whose solves are nodes of this op again (the transposed system: an upper-triangular
one), so log_prob / entropy / KL have second derivatives in the covariance or scale_tril."""

from __future__ import annotations

from typing import Any

from .._linalg_more import LinAlgError, _cholesky
from ..tensor import Tensor, get_array_module


def _mT(a: Any) -> Any:  # noqa: N802 - torch's name
    return get_array_module(a).swapaxes(a, -1, -2)


def cholesky(a: Tensor) -> Tensor:
    """The lower Cholesky factor L of the symmetric positive-definite a (batched; only the lower
    triangle is read), differentiable twice.

    Raises ValueError (naming the function) when a is not positive definite."""
    try:
        low = _cholesky(a, False)
    except LinAlgError as e:
        raise ValueError(f"cholesky: the input is not positive-definite ({e})") from None
    xp = get_array_module(low.data)
    if not bool(xp.all(xp.isfinite(low.data))):  # an inf entry: no usable factor
        raise ValueError("cholesky: the input is not positive-definite")
    return low


def solve_lower(lower: Tensor, b: Tensor) -> Tensor:
    """X with lower @ X = b, lower lower-triangular (batched: the batch dims of lower and b
    equal), differentiable twice; lower's gradient is lower-triangular (torch's
    solve_triangular reads only that triangle)."""
    return _solve_triangular(lower, b, False)


def _solve_triangular(a: Tensor, b: Tensor, upper: bool, cached: Any = None) -> Tensor:
    """X with a @ X = b, a upper- or lower-triangular; cached: X already computed (the node
    re-made in a double backward, with no second solve)."""
    xp = get_array_module(a.data)
    x = xp.linalg.solve(a.data, b.data) if cached is None else cached

    def _triangle(m: Any) -> Any:
        return xp.triu(m) if upper else xp.tril(m)

    def _backward(g: Any) -> None:
        # gB = A^-T g, gA = -triangle(gB X^T) (torch's linalg_solve_triangular backward)
        gb = xp.linalg.solve(_mT(a.data), g)
        if b.requires_grad:
            b._accumulate(gb)
        if a.requires_grad:
            a._accumulate(-_triangle(gb @ _mT(x)))

    def _dbackward(g: Tensor) -> tuple[Any, Any]:
        # the same formula from Tensor ops: A^-T g is a solve node of the transposed system,
        # X a node of this solve (from the saved solution)
        gb = _solve_triangular(a.mT, g, not upper)
        ga = None
        if a.requires_grad:
            gx = gb @ _solve_triangular(a, b, upper, x).mT
            ga = -(gx.triu() if upper else gx.tril())
        return ga, gb if b.requires_grad else None

    return Tensor._make(x, (a, b), _backward, "solve_triangular", dbackward=_dbackward)
