"""Distance modules, as torch.nn: PairwiseDistance and CosineSimilarity (each calls the
deltagrad.functional function of the same name)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._functional_losses import _real
from ..tensor import Tensor
from .module import Module

__all__ = ["PairwiseDistance", "CosineSimilarity"]


class PairwiseDistance(Module):
    """The p-norm of x1 - x2 + eps over the last dimension (F.pairwise_distance); p is kept
    as the attribute `norm`, as torch names it."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = _real(p, "PairwiseDistance", "p")
        self.eps = _real(eps, "PairwiseDistance", "eps")
        self.keepdim = bool(keepdim)

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """The cosine similarity of x1 and x2 along dim (F.cosine_similarity)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"CosineSimilarity: dim: expected an int, got {dim!r}")
        self.dim = int(dim)
        self.eps = _real(eps, "CosineSimilarity", "eps")

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
