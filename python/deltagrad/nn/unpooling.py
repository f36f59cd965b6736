"""MaxUnpool1d, MaxUnpool2d and MaxUnpool3d, as torch.nn: the partial inverses of the max
pools (return_indices=True). The arithmetic is deltagrad.functional's max_unpool1d/2d/3d."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


def _tuple(v: Any, n: int) -> tuple[Any, ...]:
    """torch's _single / _pair / _triple: a sequence as a tuple, else v repeated n times."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _MaxUnpoolNd(Module):
    """kernel_size, stride (default: kernel_size) and padding, stored as torch's tuples."""

    _nd = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        nd = self._nd
        self.kernel_size = _tuple(kernel_size, nd)
        self.stride = _tuple(stride if stride is not None else kernel_size, nd)
        self.padding = _tuple(padding, nd)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Tensor:  # noqa: A002
        fn = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self._nd - 1]
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Zeros of length (L - 1) * stride + kernel_size - 2 * padding (or output_size) over
    (N, C, L) / (C, L), each input value at its index from MaxPool1d(return_indices=True)."""

    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Zeros of size (n - 1) * stride + kernel_size - 2 * padding per axis (or output_size)
    over (N, C, H, W) / (C, H, W), each input value at its flat H*W index from
    MaxPool2d(return_indices=True)."""

    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Zeros of size (n - 1) * stride + kernel_size - 2 * padding per axis (or output_size)
    over (N, C, D, H, W) / (C, D, H, W), each input value at its flat D*H*W index from
    MaxPool3d(return_indices=True)."""

    _nd = 3
