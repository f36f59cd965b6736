"""deltagrad.distributions: torch.distributions' core, on deltagrad Tensors.

Distribution (batch / event shapes, sample / rsample, log_prob, entropy, mean, mode, stddev,
variance, cdf / icdf, expand, support, arg_constraints, validation), Normal, Uniform,
Exponential, Laplace, Gamma, Beta, Bernoulli, Categorical, OneHotCategorical, MultivariateNormal,
Independent, kl_divergence and register_kl. Samples come from deltagrad's generator
(dg.manual_seed), so they differ from torch's numbers but not in distribution."""

from __future__ import annotations

from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = [
    "Bernoulli",
    "Beta",
    "Categorical",
    "Distribution",
    "Exponential",
    "Gamma",
    "Independent",
    "Laplace",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
