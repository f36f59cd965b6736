"""Conv2d, as torch.nn.Conv2d (NCHW; the arithmetic is deltagrad.functional.conv2d)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .init import _calculate_fan_in_and_fan_out, kaiming_uniform_, uniform_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = ["Conv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive_int(v: Any, arg: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"Conv2d: {arg} must be a positive int, got {v!r}")
    return int(v)


def _pair(v: Any, arg: str, low: int) -> tuple[int, int]:
    """torch's _pair with a check: an int or two ints, each >= low (ValueError naming arg)."""
    vals = (v, v) if not isinstance(v, (tuple, list)) else tuple(v)
    if len(vals) == 1:
        vals = (vals[0], vals[0])
    if len(vals) != 2 or any(
        isinstance(e, bool) or not isinstance(e, (int, np.integer)) for e in vals
    ):
        raise ValueError(f"Conv2d: {arg} must be an int or a pair of ints, got {v!r}")
    if any(e < low for e in vals):
        what = "positive" if low > 0 else "non-negative"
        raise ValueError(f"Conv2d: {arg} must be {what}, got {v!r}")
    return int(vals[0]), int(vals[1])


class Conv2d(Module):
    """y = conv2d(x, weight) + bias over x (N, C_in, H, W) or (C_in, H, W), as torch.nn.Conv2d:
    weight (out_channels, in_channels / groups, kH, kW), bias (out_channels,); padding an int,
    a pair, 'valid' or 'same'; padding_mode 'zeros', 'reflect', 'replicate' or 'circular'.
    Initialized as torch: kaiming_uniform_(weight, a=sqrt(5)) and bias U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), fan_in = in_channels / groups * kH * kW, from deltagrad's generator."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = None,
    ) -> None:
        super().__init__()
        in_channels = _positive_int(in_channels, "in_channels")
        out_channels = _positive_int(out_channels, "out_channels")
        groups = _positive_int(groups, "groups")
        if in_channels % groups:
            raise ValueError(
                f"Conv2d: groups: in_channels ({in_channels}) must be divisible by groups "
                f"({groups})"
            )
        if out_channels % groups:
            raise ValueError(
                f"Conv2d: groups: out_channels ({out_channels}) must be divisible by groups "
                f"({groups})"
            )
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.dilation = _pair(dilation, "dilation", 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"Conv2d: padding: expected 'valid', 'same', an int or a pair, got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = _pair(padding, "padding", 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"Conv2d: padding_mode: expected one of {_PADDING_MODES}, got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        dtype = _float_dtype(dtype, "Conv2d")
        kh, kw = self.kernel_size
        self.weight = Parameter(
            np.zeros((out_channels, in_channels // groups, kh, kw)), dtype=dtype
        )
        self.bias = Parameter(np.zeros(out_channels), dtype=dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init, redrawn from deltagrad's generator."""
        kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = _calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                uniform_(self.bias, -bound, bound)

    def _pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of the padding."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            return F._same_padding(self.kernel_size, self.dilation)
        (ph, pw) = self.padding
        return ph, ph, pw, pw

    def forward(self, x: Any) -> Tensor:
        x = F._tensor(x, "Conv2d: input")
        if x.ndim == 3:  # unbatched (C, H, W), as torch
            return self.forward(x.reshape(1, *x.shape)).reshape(
                self.out_channels, *self._out_hw(x.shape[1:])
            )
        if x.ndim != 4:
            raise ValueError(
                f"Conv2d: input: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                f"{x.shape}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d: input: expected {self.in_channels} channels (in_channels), got "
                f"{x.shape[1]} in an input of shape {x.shape}"
            )
        self._out_hw(x.shape[2:])
        if self.padding_mode != "zeros":
            top, bottom, left, right = self._pads()
            xp = F._pad2d(x, (top, bottom, left, right), F._PAD_MODES[self.padding_mode])
            return F.conv2d(xp, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def _out_hw(self, hw: tuple[int, ...]) -> tuple[int, int]:
        """The output's spatial size; ValueError when the kernel is larger than the padded
        input."""
        top, bottom, left, right = self._pads()
        ph, pw = hw[0] + top + bottom, hw[1] + left + right
        (kh, kw), (dh, dw), (sh, sw) = self.kernel_size, self.dilation, self.stride
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if ph < eh or pw < ew:
            raise ValueError(
                f"Conv2d: kernel_size: the kernel ({eh} x {ew} dilated) is larger than the "
                f"padded input ({ph} x {pw})"
            )
        return (ph - eh) // sh + 1, (pw - ew) // sw + 1

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
