"""torch.distributions.Categorical."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import deltagrad.distributions.constraints as constraints

from ..creation import arange, full, int64, rand
from ..tensor import Tensor, get_array_module, no_grad
from .distribution import Distribution, _size
from .utils import lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


class Categorical(Distribution):
    """A categorical distribution over {0, ..., K-1} given by probs (normalized over the last
    dimension) or logits (normalized with logsumexp); samples are int64 indices."""

    _expand_params = ("probs", "logits")
    _expand_event_dims = {"probs": 1, "logits": 1}
    _expand_attrs = ("_num_events",)

    arg_constraints = {
        "probs": constraints.simplex,
        "logits": constraints.independent(constraints.real, 1),
    }
    has_enumerate_support = True

    def __init__(
        self, probs: Any = None, logits: Any = None, validate_args: bool | None = None
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if not isinstance(probs, Tensor):
                raise TypeError(
                    f"Categorical: probs: expected a Tensor, got {type(probs).__name__}"
                )
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if not isinstance(logits, Tensor):
                raise TypeError(
                    f"Categorical: logits: expected a Tensor, got {type(logits).__name__}"
                )
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            # normalized so that logits.exp() sums to one
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = self._param.shape[:-1] if self._param.dim() > 1 else ()
        super().__init__(batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._param.shape

    @property
    def mean(self) -> Tensor:
        return full(
            self._extended_shape(),
            math.nan,
            dtype=self.probs.dtype,
            device=self.probs.device,
        )

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return full(
            self._extended_shape(),
            math.nan,
            dtype=self.probs.dtype,
            device=self.probs.device,
        )

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Inverse-CDF draws: the first index whose cumulative probability exceeds u."""
        sample_shape = _size(sample_shape)
        with no_grad():
            p = self.probs.detach().data
            xp = get_array_module(p)
            k = self._num_events
            cdf = xp.cumsum(p.reshape(-1, k), axis=-1)
            n = int(np.prod(sample_shape, dtype=np.int64))
            u = rand(n, cdf.shape[0], dtype=self.probs.dtype, device=self.probs.device).data
            u = u * cdf[:, -1]  # a row that sums to 1 - eps still draws inside it
            idx = (u[..., None] >= cdf).sum(-1)
            idx = xp.minimum(idx, k - 1).astype(np.int64)
            return Tensor(idx.reshape(self._extended_shape(sample_shape)))

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        shape = np.broadcast_shapes(value.shape, self.logits.shape)
        value = value.expand(*shape)[..., :1]
        log_pmf = self.logits.expand(*shape)
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self) -> Tensor:
        min_real = float(np.finfo(self.logits.dtype).min)
        logits = self.logits.clamp(min=min_real)
        p_log_p = logits * self.probs
        return -p_log_p.sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        num_events = self._num_events
        values = arange(num_events, dtype=int64, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand(-1, *self._batch_shape)
        return values
