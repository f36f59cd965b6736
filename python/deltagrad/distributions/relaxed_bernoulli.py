"""torch.distributions.LogitRelaxedBernoulli and RelaxedBernoulli (the binary Concrete /
Gumbel-softmax distribution; Maddison et al. 2017, Jang et al. 2017)."""

from __future__ import annotations

from numbers import Number
from typing import Any

import deltagrad.distributions.constraints as constraints

from ..creation import rand
from ..tensor import Tensor
from .distribution import Distribution, _size
from .transformed_distribution import TransformedDistribution
from .transforms import SigmoidTransform
from .utils import (
    _BinaryParams,
    broadcast_all,
    clamp_probs,
)

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]


def _check_temperature(temperature: Any, name: str) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (Tensor, Number)):
        raise TypeError(
            f"{name}: temperature: expected a Tensor or a number, got {type(temperature).__name__}"
        )


def _temperature_like(temperature: Any, like: Tensor) -> Tensor:
    """temperature as a Tensor (a number becomes one of like's dtype and device)."""
    if isinstance(temperature, Tensor):
        return temperature
    return like.new_full((), float(temperature))


class LogitRelaxedBernoulli(_BinaryParams, Distribution):
    """The logit of a RelaxedBernoulli: (logit(u) + logits) / temperature for u uniform;
    rsample is reparameterized (gradients reach probs / logits and temperature)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        temperature: Tensor,
        probs: Any = None,
        logits: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        _check_temperature(temperature, "LogitRelaxedBernoulli")
        self.temperature = temperature
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            is_scalar = isinstance(probs, Number)
            (self.probs,) = broadcast_all(probs)
        else:
            is_scalar = isinstance(logits, Number)
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        batch_shape = () if is_scalar else self._param.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LogitRelaxedBernoulli:
        new = self._get_checked_instance(LogitRelaxedBernoulli, _instance)
        batch_shape = _size(batch_shape, "batch_shape")
        new.temperature = self.temperature
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(*batch_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(*batch_shape)
            new._param = new.logits
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(*shape))
        uniforms = clamp_probs(rand(*shape, dtype=probs.dtype, device=probs.device))
        return (
            uniforms.log() - (-uniforms).log1p() + probs.log() - (-probs).log1p()
        ) / self.temperature

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        temperature = _temperature_like(self.temperature, logits)
        diff = logits - value * temperature
        return temperature.log() + diff - 2 * diff.exp().log1p()


class _RelaxedParams:
    """A relaxed distribution's temperature, logits and probs: its base distribution's
    (RelaxedBernoulli's LogitRelaxedBernoulli, RelaxedOneHotCategorical's
    ExpRelaxedCategorical)."""

    base_dist: Any

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs


class RelaxedBernoulli(_RelaxedParams, TransformedDistribution):
    """sigmoid of a LogitRelaxedBernoulli: values in (0, 1), reparameterized samples."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self,
        temperature: Tensor,
        probs: Any = None,
        logits: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        _check_temperature(temperature, "RelaxedBernoulli")
        base_dist = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base_dist, SigmoidTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> RelaxedBernoulli:
        new = self._get_checked_instance(RelaxedBernoulli, _instance)
        return super().expand(batch_shape, _instance=new)  # type: ignore[return-value]
