"""torch.distributions.MultivariateNormal."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import deltagrad.distributions.constraints as constraints

from ..creation import eye
from ..tensor import Tensor
from ._linalg import cholesky, solve_lower
from .distribution import Distribution
from .utils import _standard_normal, lazy_property

__all__ = ["MultivariateNormal"]


def _batch_mv(bmat: Tensor, bvec: Tensor) -> Tensor:
    """bmat @ bvec over broadcast batch dims; an unbatched bmat (n, m) is one matrix product
    with every vector a row (bvec @ bmat^T), not one matrix-vector product per vector."""
    if bmat.dim() == 2 and bvec.dim() > 1:
        return bvec @ bmat.mT
    return (bmat @ bvec.unsqueeze(-1)).squeeze(-1)


def _batch_mahalanobis(bL: Tensor, bx: Tensor) -> Tensor:  # noqa: N803 - torch's names
    """x^T (L L^T)^-1 x = |L^-1 x|^2 over broadcast batch dims, as torch's: x's dims are
    reshaped and permuted so that L's batch is leading and every other (sample) dim is a
    column, then one triangular solve L^-1 (flat_L: (b, n, n), x: (b, n, samples)), not one
    solve per sample with L expanded to each."""
    n = bx.shape[-1]
    l_batch = tuple(bL.shape[:-2])
    shape = tuple(np.broadcast_shapes(l_batch, tuple(bx.shape[:-1])))
    if tuple(bx.shape[:-1]) != shape:
        bx = bx.expand(*shape, n)
    outer = len(shape) - len(l_batch)  # the sample dims before L's batch dims
    # x's batch dim i (of L's) split into (size // L's, L's): the L-size parts last
    split: list[int] = list(shape[:outer])
    for sl, sx in zip(l_batch, shape[outer:]):
        split += [sx // sl, sl]
    nb = len(l_batch)
    perm = (
        list(range(outer))
        + list(range(outer, outer + 2 * nb, 2))
        + list(range(outer + 1, outer + 2 * nb, 2))
        + [outer + 2 * nb]
    )
    xp_ = bx.reshape(*split, n).permute(*perm)
    permuted_shape = tuple(xp_.shape[:-1])
    flat_l = bL.reshape(-1, n, n)
    flat_x = xp_.reshape(-1, flat_l.shape[0], n).permute(1, 2, 0)  # (b, n, samples)
    m = solve_lower(flat_l, flat_x).pow(2).sum(-2).mT  # (samples, b)
    inv = list(range(outer))
    for i in range(nb):
        inv += [outer + i, outer + nb + i]
    return m.reshape(*permuted_shape).permute(*inv).reshape(*shape)


def _precision_to_scale_tril(p: Tensor) -> Tensor:
    """The lower Cholesky factor of p^-1, via the Cholesky of p flipped (torch's method)."""
    lf = cholesky(p.flip(-2, -1))
    l_inv = lf.flip(-2, -1).transpose(-2, -1)
    ident = eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return solve_lower(l_inv, ident.expand(*l_inv.shape))


def _check_tensor(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"MultivariateNormal: {name}: expected a Tensor, got {type(x).__name__}")
    return x


class MultivariateNormal(Distribution):
    """N(loc, Sigma) with Sigma given by exactly one of covariance_matrix, precision_matrix
    or scale_tril (a lower Cholesky factor); rsample is loc + L @ eps."""

    _expand_params = ("loc", "covariance_matrix", "scale_tril", "precision_matrix")
    _expand_event_dims = {"loc": 1, "covariance_matrix": 2, "scale_tril": 2, "precision_matrix": 2}
    _expand_attrs = ("_unbroadcasted_scale_tril",)

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc: Tensor,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        loc = _check_tensor(loc, "loc")
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (
            precision_matrix is not None
        ) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        for name, m in (
            ("scale_tril", scale_tril),
            ("covariance_matrix", covariance_matrix),
            ("precision_matrix", precision_matrix),
        ):
            if m is None:
                continue
            m = _check_tensor(m, name)
            if m.dim() < 2:
                what = "scale_tril matrix" if name == "scale_tril" else name  # torch's wording
                raise ValueError(
                    f"{what} must be at least two-dimensional, "
                    "with optional leading batch dimensions"
                )
            if m.shape[-1] != m.shape[-2] or m.shape[-1] != loc.shape[-1]:
                raise ValueError(
                    f"MultivariateNormal: {name}: expected a square (..., {loc.shape[-1]}, "
                    f"{loc.shape[-1]}) matrix to match loc's event size, got {m.shape}"
                )
            batch_shape = tuple(np.broadcast_shapes(m.shape[:-2], loc.shape[:-1]))
            setattr(self, name, m.expand(*batch_shape, -1, -1))
        self.loc = loc.expand(*batch_shape, -1)
        event_shape = self.loc.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    @lazy_property
    def scale_tril(self) -> Tensor:
        shape = self._batch_shape + self._event_shape + self._event_shape
        return self._unbroadcasted_scale_tril.expand(*shape)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        low = self._unbroadcasted_scale_tril
        shape = self._batch_shape + self._event_shape + self._event_shape
        return (low @ low.mT).expand(*shape)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        low = self._unbroadcasted_scale_tril
        ident = eye(low.shape[-1], dtype=low.dtype, device=low.device)
        l_inv = solve_lower(low, ident.expand(*low.shape))
        shape = self._batch_shape + self._event_shape + self._event_shape
        return (l_inv.mT @ l_inv).expand(*shape)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return (
            self._unbroadcasted_scale_tril.pow(2)
            .sum(-1)
            .expand(*(self._batch_shape + self._event_shape))
        )

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal(shape, self.loc)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        m = _batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        if len(self._batch_shape) == 0:
            return h
        return h.expand(*self._batch_shape)
