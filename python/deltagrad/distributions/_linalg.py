"""Differentiable Cholesky and lower-triangular solve for the distributions (MultivariateNormal,
LowRankMultivariateNormal, their KL divergences, CholeskyTransform).

cholesky is dg.linalg.cholesky's node (torch's cholesky_backward, with a double backward) that
raises the distributions' ValueError. solve_lower is dg.linalg.solve_triangular's node (a
triangular solve with broadcast batch dims, torch's linalg_solve_triangular backward, and every
higher order), so log_prob / entropy / KL have second derivatives in the covariance or
scale_tril."""

from __future__ import annotations

from .._linalg_more import LinAlgError, _cholesky
from ..linalg import _solve_triangular
from ..tensor import Tensor, get_array_module


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
    """X with lower @ X = b, lower lower-triangular (only that triangle is read; the batch dims
    of lower and b broadcast), differentiable at every order; lower's gradient is
    lower-triangular. dg.linalg.solve_triangular's node: a triangular solve (not an LU), one
    for all of b's columns, as torch's."""
    if b.dtype != lower.dtype:
        b = b.to(lower.dtype)
    return _solve_triangular(lower, b, False, True, False)
