"""PixelShuffle and PixelUnshuffle, as torch.nn (deltagrad.functional.pixel_shuffle /
pixel_unshuffle: a reshape and a permute)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["PixelShuffle", "PixelUnshuffle"]


def _factor(v: Any, owner: str, name: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{owner}: {name}: expected an int, got {v!r}")
    if v <= 0:
        raise ValueError(f"{owner}: {name}: expected a positive int, got {v}")
    return int(v)


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r) with r = upscale_factor (sub-pixel convolution's
    rearrangement)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = _factor(upscale_factor, "PixelShuffle", "upscale_factor")

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W) with r = downscale_factor (PixelShuffle's
    inverse)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = _factor(downscale_factor, "PixelUnshuffle", "downscale_factor")

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
