"""torch.distributions.Gumbel."""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

import numpy as np

import deltagrad.distributions.constraints as constraints

from ..creation import full_like, ones_like
from ..tensor import Tensor
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, ExpTransform, Transform
from .uniform import Uniform
from .utils import broadcast_all

__all__ = ["Gumbel"]

_EULER_GAMMA = 0.57721566490153286060


class Gumbel(TransformedDistribution):
    """The Gumbel distribution: loc - scale * log(-log U) for U uniform on [tiny, 1 - eps]
    (torch's transform chain)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    _expand_params = ("loc", "scale")

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        finfo = np.finfo(self.loc.dtype)
        tiny, top = float(finfo.tiny), 1 - float(finfo.eps)
        if isinstance(loc, Number) and isinstance(scale, Number):
            base_dist = Uniform(tiny, top, validate_args=validate_args)
        else:
            base_dist = Uniform(
                full_like(self.loc, tiny), full_like(self.loc, top), validate_args=validate_args
            )
        super().__init__(base_dist, self.transforms, validate_args=validate_args)

    @property
    def transforms(self) -> list[Transform]:
        """torch's chain, built from loc and scale on each use: -scale is then a new graph
        node per cdf / icdf / rsample, so each of them can be backpropagated once on its own.
        (deltagrad's engine frees a node after a backward even where it saves nothing, as
        torch's neg does not: a -scale made once here would allow one backward only.)"""
        return [
            ExpTransform().inv,
            AffineTransform(loc=0, scale=-ones_like(self.scale)),
            ExpTransform().inv,
            AffineTransform(loc=self.loc, scale=-self.scale),
        ]

    @transforms.setter
    def transforms(self, value: list[Transform]) -> None:
        """TransformedDistribution's __init__ / expand set the chain: it is rebuilt from loc
        and scale (expand's expanded ones included) instead."""

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        y = (self.loc - value) / self.scale
        return (y - y.exp()) - self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER_GAMMA

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev.pow(2)

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER_GAMMA)
