"""torch.distributions.HalfNormal."""

from __future__ import annotations

import math

from ..tensor import Tensor
from ._half import _Half
from .normal import Normal

__all__ = ["HalfNormal"]


class HalfNormal(_Half):
    """|X| for X ~ Normal(0, scale)."""

    _base = Normal
    _expand_params: tuple[str, ...] = ()

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (1 - 2 / math.pi)
