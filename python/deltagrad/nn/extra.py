"""More of torch.nn's modules (torch 2.13): RMSNorm, BatchNorm3d, Bilinear,
LocalResponseNorm, ChannelShuffle, AlphaDropout, FeatureAlphaDropout, MultiLabelMarginLoss
and TripletMarginWithDistanceLoss. The arithmetic is deltagrad.functional's."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .distance import PairwiseDistance
from .dropout import _DropoutNd
from .init import ones_, uniform_
from .loss import _Loss
from .module import Module
from .normalization import BatchNorm1d
from .parameter import Parameter, _float_dtype

__all__ = [
    "RMSNorm",
    "BatchNorm3d",
    "Bilinear",
    "LocalResponseNorm",
    "ChannelShuffle",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "MultiLabelMarginLoss",
    "TripletMarginWithDistanceLoss",
]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


class RMSNorm(Module):
    """Root-mean-square normalization over the last len(normalized_shape) dims, then a learned
    weight (ones) when elementwise_affine, as torch.nn.RMSNorm; eps None: the input dtype's
    machine epsilon at each call (F.rms_norm)."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = "RMSNorm"
        if _is_int(normalized_shape):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not all(
            _is_int(s) for s in normalized_shape
        ):
            raise TypeError(
                f"{owner}: normalized_shape: expected an int or a tuple of ints, got "
                f"{normalized_shape!r}"
            )
        if any(s < 0 for s in normalized_shape):  # torch: "negative dimension" RuntimeError
            from ..tensor import _ShapeError

            raise _ShapeError(
                f"{owner}: Trying to create tensor with negative dimension: "
                f"{list(normalized_shape)}"
            )
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            dt = _float_dtype(dtype, owner)
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
        else:
            self.register_parameter("weight", None)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            ones_(self.weight)

    def forward(self, x: Any) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class BatchNorm3d(BatchNorm1d):
    """Batch normalization of (N, C, D, H, W) input over the channel dimension C, as
    torch.nn.BatchNorm3d: the statistics over N, D, H and W; otherwise as BatchNorm1d
    (running statistics, momentum None = cumulative average, affine, track_running_stats;
    the same state_dict keys)."""

    _NDIMS = (5,)
    _DIMS_TEXT = "5D (N, C, D, H, W)"


class Bilinear(Module):
    """y = x1^T A x2 + b (F.bilinear): weight (out_features, in1_features, in2_features) and
    bias (out_features) both U(-1/sqrt(in1_features), 1/sqrt(in1_features)), as torch,
    drawn from deltagrad's generator."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        sizes = (
            ("in1_features", in1_features),
            ("in2_features", in2_features),
            ("out_features", out_features),
        )
        for name, n in sizes:
            if not _is_int(n):
                raise TypeError(f"Bilinear: {name}: expected an int, got {n!r}")
            if n <= 0:
                raise ValueError(f"{name} must be > 0, but got ({name}={n})")
        self.in1_features = int(in1_features)
        self.in2_features = int(in2_features)
        self.out_features = int(out_features)
        dt = _float_dtype(dtype, "Bilinear")
        shape = (self.out_features, self.in1_features, self.in2_features)
        self.weight = Parameter(np.zeros(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.zeros(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """torch's init: weight and bias U(-1/sqrt(in1_features), 1/sqrt(in1_features))."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class LocalResponseNorm(Module):
    """Normalization across neighbouring channels (F.local_response_norm), as torch."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class ChannelShuffle(Module):
    """Reorder the channels of (N, C, *) input in `groups` groups (F.channel_shuffle)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Any) -> Tensor:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class AlphaDropout(_DropoutNd):
    """SELU-preserving dropout while training (F.alpha_dropout), the identity after
    module.eval(). As torch's, inplace is stored (and printed) but not passed on."""

    def forward(self, input: Any) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """alpha dropout of whole channels while training (F.feature_alpha_dropout), the
    identity after module.eval(); inplace stored but not passed on, as torch's."""

    def forward(self, input: Any) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)


class MultiLabelMarginLoss(_Loss):
    """The multi-class multi-label hinge loss (F.multilabel_margin_loss)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with a custom distance (F.triplet_margin_with_distance_loss); no
    distance_function: a PairwiseDistance() child module, as torch (so it prints and
    registers as one)."""

    def __init__(
        self,
        *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average=None, reduce=None, reduction=reduction)
        if isinstance(margin, (bool, np.bool_)) or not isinstance(
            margin, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"TripletMarginWithDistanceLoss: margin: expected a number, got {margin!r}"
            )
        if margin <= 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
                f"{margin} instead"
            )
        self.distance_function = (
            distance_function if distance_function is not None else PairwiseDistance()
        )
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return F.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )
