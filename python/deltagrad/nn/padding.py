"""Padding layers, as torch.nn: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and
CircularPad in 1-D, 2-D and 3-D forms; each runs deltagrad.functional.pad."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = [
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
]


def _padding(padding: Any, n: int, owner: str) -> tuple[int, ...]:
    """torch's _ntuple(n): an int repeated n times, or a sequence of n ints (checked here, when
    the layer is built; torch takes a sequence of any length and fails in forward)."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, (bool, np.bool_)):
        return (int(padding),) * n
    if isinstance(padding, (tuple, list)) and all(
        isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in padding
    ):
        if len(padding) != n:
            raise ValueError(
                f"{owner}: padding: expected an int or {n} ints, got {len(padding)}: "
                f"{tuple(padding)}"
            )
        return tuple(int(p) for p in padding)
    raise TypeError(f"{owner}: padding: expected an int or a tuple of {n} ints, got {padding!r}")


class _PadNd(Module):
    """A layer that runs F.pad(input, self.padding, mode) on the last _DIMS dims."""

    _DIMS = 1
    _MODE = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _padding(padding, 2 * self._DIMS, type(self).__name__)

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.pad(input, self.padding, self._MODE)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        owner = type(self).__name__
        if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
            raise TypeError(f"{owner}: value: expected a number, got {value!r}")
        super().__init__(padding)
        self.value = value

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant: padding an int or (left, right)."""

    _DIMS = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with a constant: padding an int or (left, right, top, bottom)."""

    _DIMS = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with a constant: padding an int or (left, right, top, bottom,
    front, back)."""

    _DIMS = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: padding an int or (left, right)."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last 2 dims with zeros: padding an int or (left, right, top, bottom)."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last 3 dims with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Pad the last dim of (C, W) or (N, C, W) input with its reflection (each pad < W)."""

    _DIMS, _MODE = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Pad the last 2 dims of (C, H, W) or (N, C, H, W) input with their reflection."""

    _DIMS, _MODE = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Pad the last 3 dims of (C, D, H, W) or (N, C, D, H, W) input with their reflection."""

    _DIMS, _MODE = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Pad the last dim of (C, W) or (N, C, W) input with copies of its edge values."""

    _DIMS, _MODE = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Pad the last 2 dims of (C, H, W) or (N, C, H, W) input with copies of the edges."""

    _DIMS, _MODE = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Pad the last 3 dims of (C, D, H, W) or (N, C, D, H, W) input with copies of the
    edges."""

    _DIMS, _MODE = 3, "replicate"


class _CircularPadNd(_PadNd):
    _MODE = "circular"

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        ndim = getattr(input, "ndim", None)
        if ndim is not None and ndim not in (self._DIMS + 1, self._DIMS + 2):
            raise ValueError(
                f"{type(self).__name__}: expected {self._DIMS + 1}D or {self._DIMS + 2}D input "
                f"(got {ndim}D input)"
            )
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Pad the last dim of (C, W) or (N, C, W) input by wrapping around (each pad <= W)."""

    _DIMS = 1


class CircularPad2d(_CircularPadNd):
    """Pad the last 2 dims of (C, H, W) or (N, C, H, W) input by wrapping around."""

    _DIMS = 2


class CircularPad3d(_CircularPadNd):
    """Pad the last 3 dims of (C, D, H, W) or (N, C, D, H, W) input by wrapping around."""

    _DIMS = 3
