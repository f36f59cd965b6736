"""torch.distributions.HalfCauchy."""

from __future__ import annotations

import math

from ..creation import full
from ..tensor import Tensor
from ._half import _Half
from .cauchy import Cauchy

__all__ = ["HalfCauchy"]


class HalfCauchy(_Half):
    """|X| for X ~ Cauchy(0, scale)."""

    _base = Cauchy
    _expand_params: tuple[str, ...] = ()

    @property
    def mean(self) -> Tensor:
        return full(
            self._extended_shape(), math.inf, dtype=self.scale.dtype, device=self.scale.device
        )

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance
