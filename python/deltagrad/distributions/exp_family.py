"""torch.distributions.ExponentialFamily: the base of the exponential-family distributions.

A family states its natural parameters (_natural_params), its log normalizer F
(_log_normalizer) and its expected carrier measure (_mean_carrier_measure); the generic
entropy here and the KL fallback in kl.py are Bregman divergences of F, computed with
autograd (Nielsen and Nock, Entropies and Cross-entropies of Exponential Families)."""

from __future__ import annotations

from typing import Any

from ..autograd import grad
from ..tensor import Tensor
from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """p(x; theta) = exp(<t(x), theta> - F(theta) + k(x)), as torch's ExponentialFamily."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> Any:
        raise NotImplementedError

    def _log_normalizer_grads(self) -> tuple[list[Tensor], Tensor, tuple[Tensor, ...]]:
        """The natural parameters as fresh detached leaves, F at them and dF/dtheta (as torch:
        nothing flows back to the distribution's own parameters). The gradients carry no
        graph: the only thing a graph through them could reach is those detached leaves."""
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = grad(lg_normal.sum(), nparams, retain_graph=True)
        return nparams, lg_normal, gradients

    def entropy(self) -> Tensor:
        """H = F(theta) - <theta, grad F(theta)> - E[k(x)]."""
        result: Any = -self._mean_carrier_measure
        nparams, lg_normal, gradients = self._log_normalizer_grads()
        result = result + lg_normal
        for np_, g in zip(nparams, gradients):
            result = result - (np_ * g).reshape(*self._batch_shape, -1).sum(-1)
        return result
