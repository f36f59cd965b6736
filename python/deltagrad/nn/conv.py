"""Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d, as torch's (channels first; the
arithmetic is deltagrad.functional's conv1d / conv2d / conv_transpose1d / conv_transpose2d)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, _ShapeError
from .init import _calculate_fan_in_and_fan_out, kaiming_uniform_, uniform_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive_int(v: Any, arg: str, owner: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{owner}: {arg} must be a positive int, got {v!r}")
    return int(v)


def _ints(v: Any, n: int, arg: str, low: int, owner: str) -> tuple[int, ...]:
    """torch's _single / _pair with a check: an int or n ints (one int repeated when one is
    given), each >= low; ValueError naming the module and the argument."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n or any(
        isinstance(e, bool) or not isinstance(e, (int, np.integer)) for e in vals
    ):
        raise ValueError(f"{owner}: {arg} must be an int or a tuple of {n} ints, got {v!r}")
    if any(e < low for e in vals):
        what = "positive" if low > 0 else "non-negative"
        raise ValueError(f"{owner}: {arg} must be {what}, got {v!r}")
    return tuple(int(e) for e in vals)


class _ConvNd(Module):
    """The parameters, init and repr shared by Conv1d, Conv2d and the transposed convolutions:
    weight (out_channels, in_channels / groups, *kernel_size), or (in_channels, out_channels /
    groups, *kernel_size) when transposed, and bias (out_channels,); torch's default init from the
    weight's fan-in (which the transposed layout makes out_channels / groups * prod(kernel))."""

    _nd = 1
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        dtype: Any,
    ) -> None:
        super().__init__()
        owner, nd = type(self).__name__, self._nd
        in_channels = _positive_int(in_channels, "in_channels", owner)
        out_channels = _positive_int(out_channels, "out_channels", owner)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{owner}: groups must be a positive integer, got {groups!r}")
        for arg, c in (("in_channels", in_channels), ("out_channels", out_channels)):
            if c % groups:
                raise ValueError(
                    f"{owner}: groups: {arg} ({c}) must be divisible by groups ({groups})"
                )
        self.kernel_size = _ints(kernel_size, nd, "kernel_size", 1, owner)
        self.stride = _ints(stride, nd, "stride", 1, owner)
        self.dilation = _ints(dilation, nd, "dilation", 1, owner)
        self.output_padding = _ints(output_padding, nd, "output_padding", 0, owner)
        if isinstance(padding, str) and not self._transposed:
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"{owner}: padding: invalid padding string {padding!r}, should be one of "
                    "{'valid', 'same'}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{owner}: padding='same' is not supported for strided convolutions"
                )
            self.padding: Any = padding
        else:
            self.padding = _ints(padding, nd, "padding", 0, owner)
        modes = ("zeros",) if self._transposed else _PADDING_MODES
        if padding_mode not in modes:
            raise ValueError(
                f'{owner}: padding_mode: only "zeros" padding mode is supported for {owner}, got '
                f"{padding_mode!r}"
                if self._transposed
                else f"{owner}: padding_mode: expected one of {modes}, got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, int(groups)
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        dtype = _float_dtype(dtype, owner)
        shape = (
            (in_channels, out_channels // groups)
            if self._transposed
            else (out_channels, in_channels // groups)
        )
        self.weight = Parameter(np.zeros(shape + self.kernel_size), dtype=dtype)
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

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        nd = self._nd
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """y = conv2d(x, weight) + bias over x (N, C_in, H, W) or (C_in, H, W), as torch.nn.Conv2d:
    weight (out_channels, in_channels / groups, kH, kW), bias (out_channels,); padding an int,
    a pair, 'valid' or 'same'; padding_mode 'zeros', 'reflect', 'replicate' or 'circular'.
    Initialized as torch: kaiming_uniform_(weight, a=sqrt(5)) and bias U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), fan_in = in_channels / groups * kH * kW, from deltagrad's generator."""

    _nd = 2

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
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
            padding_mode, dtype,
        )  # fmt: skip

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
            raise _ShapeError(
                f"Conv2d: input: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                f"{x.shape}"
            )
        if x.shape[1] != self.in_channels:
            raise _ShapeError(
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
            raise _ShapeError(
                f"Conv2d: kernel_size: the kernel ({eh} x {ew} dilated) is larger than the "
                f"padded input ({ph} x {pw})"
            )
        return (ph - eh) // sh + 1, (pw - ew) // sw + 1


class Conv1d(_ConvNd):
    """y = conv1d(x, weight) + bias over x (N, C_in, L) or (C_in, L), as torch.nn.Conv1d:
    weight (out_channels, in_channels / groups, K), bias (out_channels,); padding an int, a
    1-tuple, 'valid' or 'same'; padding_mode 'zeros', 'reflect', 'replicate' or 'circular'."""

    _nd = 1

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
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
            padding_mode, dtype,
        )  # fmt: skip

    def forward(self, input: Any) -> Tensor:  # noqa: A002  (torch's name)
        x = F._tensor(input, "Conv1d: input")
        if self.padding_mode != "zeros":
            if self.padding == "valid":
                left = right = 0
            elif self.padding == "same":
                _, _, left, right = F._same_padding((1, *self.kernel_size), (1, *self.dilation))
            else:
                left = right = self.padding[0]
            if left or right:
                x = F.pad(x, (left, right), self.padding_mode)
            return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        dtype: Any = None,
    ) -> None:
        if isinstance(padding, str):
            raise ValueError(
                f"{type(self).__name__}: padding: expected an int or a tuple of ints (a "
                f"transposed convolution takes no padding string), got {padding!r}"
            )
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding,
            groups, bias, padding_mode, dtype,
        )  # fmt: skip

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        """self.output_padding, or the one that gives output_size (torch's _output_padding:
        its spatial sizes, or those with the leading batch / channel sizes)."""
        if output_size is None:
            return self.output_padding
        nd, owner = self._nd, type(self).__name__
        lead = 2 if x.ndim == nd + 2 else 1
        if not isinstance(output_size, (tuple, list)) or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in output_size
        ):
            raise TypeError(
                f"{owner}: output_size: expected a sequence of ints, got {output_size!r}"
            )
        size = tuple(int(v) for v in output_size)
        if len(size) == lead + nd:
            size = size[lead:]
        if len(size) != nd:
            raise ValueError(
                f"{owner}: for {x.ndim}D input, output_size must have {nd} or {lead + nd} "
                f"elements (got {len(size)})"
            )
        spatial = x.shape[lead:]
        if len(spatial) != nd:  # the functional's error for a bad rank
            return self.output_padding
        lo = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, s, p, d, k in zip(spatial, self.stride, self.padding, self.dilation,
                                     self.kernel_size)
        ]  # fmt: skip
        hi = [m + s - 1 for m, s in zip(lo, self.stride)]
        if any(not a <= v <= b for v, a, b in zip(size, lo, hi)):
            raise ValueError(
                f"{owner}: output_size: requested an output size of {size}, but valid sizes "
                f"range from {lo} to {hi} (for an input of {tuple(spatial)})"
            )
        return tuple(v - m for v, m in zip(size, lo))

    def forward(self, input: Any, output_size: Any = None) -> Tensor:  # noqa: A002
        x = F._tensor(input, f"{type(self).__name__}: input")
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        return fn(
            x, self.weight, self.bias, self.stride, self.padding,
            self._output_padding(x, output_size), self.groups, self.dilation,
        )  # fmt: skip


class ConvTranspose1d(_ConvTransposeNd):
    """The transposed convolution over x (N, C_in, L) or (C_in, L), as torch.nn.ConvTranspose1d:
    weight (in_channels, out_channels / groups, K), bias (out_channels,); output length
    (L - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1, or the one
    forward's output_size asks for. Zero padding only (as torch)."""

    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """The transposed convolution over x (N, C_in, H, W) or (C_in, H, W), as
    torch.nn.ConvTranspose2d: weight (in_channels, out_channels / groups, kH, kW), bias
    (out_channels,); output size per axis (n - 1) * stride - 2 * padding + dilation * (k - 1)
    + output_padding + 1, or the one forward's output_size asks for. Zero padding only."""

    _nd = 2
