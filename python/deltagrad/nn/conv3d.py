"""Conv3d, ConvTranspose3d and the 3-D pools, as torch.nn: Conv3d, ConvTranspose3d, MaxPool3d,
AvgPool3d, LPPool3d, AdaptiveAvgPool3d and AdaptiveMaxPool3d over (N, C, D, H, W) or
(C, D, H, W). The arithmetic is deltagrad.functional's (conv3d, conv_transpose3d and the 3-D
pools, on the 2-D kernels)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._functional_3d import _avg_pool3d, _max_pool3d
from ..tensor import Tensor
from .conv import _ConvNd, _ConvTransposeNd
from .module import Module
from .pooling import _AdaptiveMaxPoolNd, _LPPoolNd

__all__ = [
    "Conv3d",
    "ConvTranspose3d",
    "MaxPool3d",
    "AvgPool3d",
    "LPPool3d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
]


class Conv3d(_ConvNd):
    """y = conv3d(x, weight) + bias over x (N, C_in, D, H, W) or (C_in, D, H, W), as
    torch.nn.Conv3d: weight (out_channels, in_channels / groups, kD, kH, kW), bias
    (out_channels,); padding an int, a triple, 'valid' or 'same'; padding_mode 'zeros',
    'reflect', 'replicate' or 'circular'. torch's default init (kaiming_uniform_(a=sqrt(5)),
    bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))) from deltagrad's generator."""

    _nd = 3

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

    def _pad_amounts(self) -> tuple[int, ...]:
        """F.pad's (w_left, w_right, h_top, h_bottom, d_front, d_back) of the padding."""
        if self.padding == "valid":
            return (0,) * 6
        if self.padding == "same":
            tot = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pairs = [(t // 2, t - t // 2) for t in tot]
        else:
            pairs = [(p, p) for p in self.padding]
        return tuple(v for pr in reversed(pairs) for v in pr)

    def forward(self, input: Any) -> Tensor:  # noqa: A002  (torch's name)
        x = F._tensor(input, "Conv3d: input")
        if self.padding_mode != "zeros":
            pads = self._pad_amounts()
            if any(pads):
                x = F.pad(x, pads, self.padding_mode)
            return F.conv3d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv3d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose3d(_ConvTransposeNd):
    """The transposed convolution over x (N, C_in, D, H, W) or (C_in, D, H, W), as
    torch.nn.ConvTranspose3d: weight (in_channels, out_channels / groups, kD, kH, kW), bias
    (out_channels,); output size per axis (n - 1) * stride - 2 * padding + dilation * (k - 1)
    + output_padding + 1, or the one forward's output_size asks for. Zero padding only."""

    _nd = 3


class MaxPool3d(Module):
    """The maximum over each kernel_size window of (N, C, D, H, W) / (C, D, H, W) (a NaN
    wins); return_indices: also the int64 flat index of each maximum in its D*H*W volume."""

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

    def forward(self, input: Any) -> Any:  # noqa: A002
        return _max_pool3d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
            bool(self.return_indices), type(self).__name__,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool3d(Module):
    """The mean over each kernel_size window of (N, C, D, H, W) / (C, D, H, W);
    count_include_pad: the zero padding counts in the divisor; divisor_override: a fixed
    divisor."""

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

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return _avg_pool3d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override, type(self).__name__,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class LPPool3d(_LPPoolNd):
    """(sum of x ** norm_type) ** (1 / norm_type) over each window of (N, C, D, H, W) /
    (C, D, H, W); norm_type inf: the max of |x|."""

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.lp_pool3d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class AdaptiveAvgPool3d(Module):
    """The mean over torch's adaptive windows, to output_size (an int, a triple; None entries
    keep the input's size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.adaptive_avg_pool3d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """The maximum over torch's adaptive windows of (N, C, D, H, W) / (C, D, H, W), to
    output_size (an int, a triple; None entries keep the input's size); return_indices: also
    each maximum's int64 flat index in its D*H*W volume."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)
