"""Dropout, and the channel-wise Dropout1d / Dropout2d / Dropout3d.

inplace=True, as F.dropout's: the input is changed in place and returned when no graph is
recorded through it (it does not require grad, or grad mode is off); while a graph is
recorded the result is computed out of place (deltagrad records no graph through in-place
ops, where torch rebases the input's history onto the in-place node)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, is_grad_enabled
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    """torch's _DropoutNd: p (kept as given, as torch) and inplace; dropout while training,
    the identity after module.eval()."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(p, (bool, np.bool_)) or not isinstance(
            p, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{owner}: p: expected a float in [0, 1], got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{owner}: dropout probability has to be between 0 and 1, but got {p}")
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(f"{owner}: inplace: expected a bool, got {inplace!r}")
        self.p = p
        self.inplace = bool(inplace)

    def _writes(self, x: Any) -> bool:
        """self.inplace, unless a graph is recorded through x: then out of place (see the
        module's docstring), as F.dropout decides."""
        return self.inplace and not (
            isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p while training (module.train()) and scale the
    rest by 1 / (1 - p) (F.dropout); the identity after module.eval()."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) input (F.dropout1d)."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout1d(x, self.p, self.training, self._writes(x))


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) input (F.dropout2d; 3-D input is taken as
    (N, C, L), with torch's warning)."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self._writes(x))


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input (F.dropout3d)."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout3d(x, self.p, self.training, self._writes(x))
