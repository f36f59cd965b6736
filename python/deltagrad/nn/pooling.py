"""Pooling layers, as torch.nn: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, and their 1-D forms
(run through the 2-D kernels on a height-1 view). The arithmetic is deltagrad.functional's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, _ShapeError
from .module import Module

__all__ = [
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "MaxPool1d",
    "AvgPool1d",
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "LPPool1d",
    "LPPool2d",
]


class MaxPool2d(Module):
    """The maximum over each kernel_size window (NaN wins); return_indices: also the int64
    flat index of each maximum in its H*W plane (for MaxUnpool-style uses)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return F._max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
            type(self).__name__,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean over each kernel_size window; count_include_pad: the zero padding counts in
    the divisor; divisor_override: a fixed divisor."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F._avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            type(self).__name__,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """The mean over torch's adaptive windows, to output_size (an int, a pair; None keeps the
    input's size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F._adaptive_avg_pool2d(input, self.output_size, type(self).__name__)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---- 1-D: (N, C, L) or (C, L) as (N, C, 1, L) -------------------------------------------------


def _single(v: Any, owner: str, name: str, lo: int | None = None) -> int:
    """v as one int: from an int or a 1-tuple; with lo, checked >= lo here, so the error names
    the 1-D value and not the (1, v) pair the 2-D kernel receives."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{owner}: {name}: expected an int or a 1-tuple, got {v!r}")
        v = v[0]
    if lo is not None and isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v < lo:
        raise ValueError(f"{owner}: {name}: expected a value >= {lo}, got {v}")
    return v


def _half_kernel(k: Any, p: Any, owner: str) -> None:
    if isinstance(k, (int, np.integer)) and isinstance(p, (int, np.integer)) and p > k // 2:
        raise _ShapeError(
            f"{owner}: padding: expected at most half of the kernel size {k}, got {p}"
        )


def _as_2d(input: Any, owner: str) -> Tensor:
    x = F._tensor(input, owner)
    if x.ndim not in (2, 3):
        raise _ShapeError(
            f"{owner}: input: expected a 2-D (C, L) or 3-D (N, C, L) input, "
            f"got shape {tuple(x.shape)}"
        )
    return x.reshape(*x.shape[:-1], 1, x.shape[-1])


def _from_2d(y: Tensor) -> Tensor:
    return y.reshape(*y.shape[:-2], y.shape[-1])


class MaxPool1d(MaxPool2d):
    """MaxPool2d over the last axis of (N, C, L) / (C, L); indices are positions in L."""

    def forward(self, input: Tensor) -> Any:
        owner = type(self).__name__
        k = _single(self.kernel_size, owner, "kernel_size", 1)
        s = _single(self.stride, owner, "stride", 1)
        p = _single(self.padding, owner, "padding", 0)
        d = _single(self.dilation, owner, "dilation", 1)
        _half_kernel(k, p, owner)
        r = F._max_pool2d(
            _as_2d(input, owner),
            (1, k),
            (1, s),
            (0, p),
            (1, d),
            self.ceil_mode,
            self.return_indices,
            owner,
        )
        if self.return_indices:
            return _from_2d(r[0]), _from_2d(r[1])
        return _from_2d(r)


class AvgPool1d(AvgPool2d):
    """AvgPool2d over the last axis of (N, C, L) / (C, L)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        def one(v: Any) -> tuple[int, ...]:
            return tuple(v) if isinstance(v, (tuple, list)) else (v,)

        super().__init__(
            one(kernel_size),
            one(stride if stride is not None else kernel_size),
            one(padding),
            ceil_mode,
            count_include_pad,
        )

    def forward(self, input: Tensor) -> Tensor:
        owner = type(self).__name__
        k = _single(self.kernel_size, owner, "kernel_size", 1)
        s = _single(self.stride, owner, "stride", 1)
        p = _single(self.padding, owner, "padding", 0)
        _half_kernel(k, p, owner)
        y = F._avg_pool2d(
            _as_2d(input, owner),
            (1, k),
            (1, s),
            (0, p),
            self.ceil_mode,
            self.count_include_pad,
            None,
            owner,
        )
        return _from_2d(y)


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """AdaptiveAvgPool2d over the last axis of (N, C, L) / (C, L)."""

    def forward(self, input: Tensor) -> Tensor:
        owner = type(self).__name__
        o = _single(self.output_size, owner, "output_size", 0)
        return _from_2d(F._adaptive_avg_pool2d(_as_2d(input, owner), (1, o), owner))


# ---- adaptive max pooling and power-average pooling (deltagrad.functional's) -----------------


class _AdaptiveMaxPoolNd(Module):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """The maximum over torch's adaptive windows of (N, C, L) / (C, L), to output_size (an
    int); return_indices: also each maximum's int64 index in L."""

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """The maximum over torch's adaptive windows of (N, C, H, W) / (C, H, W), to output_size
    (an int, a pair; None keeps the input's size); return_indices: also each maximum's int64
    flat index in its H*W plane."""

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class _LPPoolNd(Module):
    def __init__(
        self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """(sum of x ** norm_type) ** (1 / norm_type) over each window of (N, C, L) / (C, L);
    norm_type inf: the max of |x|."""

    def forward(self, input: Tensor) -> Tensor:
        return F.lp_pool1d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class LPPool2d(_LPPoolNd):
    """(sum of x ** norm_type) ** (1 / norm_type) over each window of (N, C, H, W) /
    (C, H, W); norm_type inf: the max of |x|."""

    def forward(self, input: Tensor) -> Tensor:
        return F.lp_pool2d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )
