"""torch.distributions.Beta."""

from __future__ import annotations

from typing import Any

import deltagrad.distributions.constraints as constraints

from ..tensor import Tensor, where
from ._special import digamma, lgamma, standard_gamma
from .exp_family import ExponentialFamily
from .utils import broadcast_all

__all__ = ["Beta"]


class Beta(ExponentialFamily):
    """The beta distribution on [0, 1] with concentrations concentration1 (alpha) and
    concentration0 (beta). rsample is X / (X + Y) for reparameterized standard-gamma draws
    X ~ Gamma(alpha), Y ~ Gamma(beta) (torch draws a Dirichlet; the law is the same)."""

    _expand_params = ("_concentration1", "_concentration0")

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self, concentration1: Any, concentration0: Any, validate_args: bool | None = None
    ) -> None:
        # stored privately, as torch (whose Beta wraps a Dirichlet): its repr shows no params
        self._concentration1, self._concentration0 = broadcast_all(concentration1, concentration0)
        super().__init__(self._concentration1.shape, validate_args=validate_args)

    @property
    def concentration1(self) -> Tensor:
        return self._concentration1

    @property
    def concentration0(self) -> Tensor:
        return self._concentration0

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        """(a - 1) / (a + b - 2); 1 where both concentrations are below 1 (torch's Dirichlet
        picks the first of its two modes there)."""
        a = (self.concentration1 - 1).clamp(min=0.0)
        b = (self.concentration0 - 1).clamp(min=0.0)
        both_small = (self.concentration1 < 1) & (self.concentration0 < 1)
        return where(both_small, 1.0, a / (a + b))

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = standard_gamma(self.concentration1.expand(*shape))
        y = standard_gamma(self.concentration0.expand(*shape))
        return x / (x + y)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return (
            (a - 1).xlogy(value)
            + (b - 1).xlogy(1.0 - value)
            + lgamma(a + b)
            - lgamma(a)
            - lgamma(b)
        )

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        a0 = a + b
        return (
            lgamma(a)
            + lgamma(b)
            - lgamma(a0)
            - (2 - a0) * digamma(a0)
            - (a - 1) * digamma(a)
            - (b - 1) * digamma(b)
        )

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (self.concentration1, self.concentration0)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return lgamma(x) + lgamma(y) - lgamma(x + y)
