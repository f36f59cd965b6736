"""The half distributions |X| of a distribution symmetric about 0 (torch's HalfNormal and
HalfCauchy share everything but their moments)."""

from __future__ import annotations

import math
from typing import Any

import deltagrad.distributions.constraints as constraints

from ..creation import zeros_like
from ..tensor import Tensor, where
from .transformed_distribution import TransformedDistribution
from .transforms import AbsTransform

__all__: list[str] = []


class _Half(TransformedDistribution):
    """|X| for X ~ _base(0, scale): its density is twice the base's on [0, inf)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _expand_params: tuple[str, ...] = ()
    _base: Any = None  # the symmetric family (Normal, Cauchy), set by each subclass

    def __init__(self, scale: Any, validate_args: bool | None = None) -> None:
        base_dist = self._base(0, scale, validate_args=False)
        super().__init__(base_dist, AbsTransform(), validate_args=validate_args)

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.scale)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return where(value >= 0, log_prob, -math.inf)

    def cdf(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob: Any) -> Tensor:
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)
