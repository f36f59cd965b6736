"""BatchNorm1d, BatchNorm2d and LayerNorm (forward and backward: the fused kernels of
csrc/cpu/norm.h, through deltagrad.functional and dg.ops); GroupNorm and InstanceNorm1d /
2d / 3d (deltagrad.functional.group_norm / instance_norm, on layer_norm's kernels)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, _ShapeError, no_grad
from .init import ones_, zeros_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
]


def _positive_int(v: Any, owner: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{owner}: {name}: expected a positive int, got {v!r}")
    return int(v)


def _eps(v: Any, owner: str) -> Any:
    """eps checked, and kept as given (an int stays an int), so that repr() prints it as
    torch does (eps=1, not eps=1.0)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        raise TypeError(f"{owner}: eps: expected a number, got {v!r}")
    if not (float(v) >= 0.0 and math.isfinite(float(v))):
        raise ValueError(f"{owner}: eps: expected a finite number >= 0, got {v}")
    return v


def _flag(v: Any, owner: str, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name}: expected a bool, got {v!r}")
    return bool(v)


def _momentum(v: Any, owner: str) -> Any:
    """momentum checked, and kept as given (None, or a number printed as torch does)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        raise TypeError(f"{owner}: momentum: expected a number or None, got {v!r}")
    if not 0.0 <= float(v) <= 1.0:
        raise ValueError(f"{owner}: momentum: expected a number in [0, 1], got {v}")
    return v


class _NormBase(Module):
    """BatchNorm's and InstanceNorm's shared state, as torch's _NormBase: the checked
    hyper-parameters, weight (ones) and bias (zeros) when affine, and the running statistics
    (running_mean, running_var, num_batches_tracked) when track_running_stats."""

    # torch's state format version (2: num_batches_tracked exists), which the state_dict
    # hooks see as local_metadata["version"]
    _version = 2

    def __init__(
        self,
        num_features: int,
        eps: float,
        momentum: float | None,
        affine: bool,
        track_running_stats: bool,
        device: Any,
        dtype: Any,
        bias: bool,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.num_features = _positive_int(num_features, owner, "num_features")
        self.eps = _eps(eps, owner)
        self.momentum = _momentum(momentum, owner)
        self.affine = _flag(affine, owner, "affine")
        self.track_running_stats = _flag(track_running_stats, owner, "track_running_stats")
        has_bias = _flag(bias, owner, "bias")
        dt = _float_dtype(dtype, owner)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(c, dtype=dt))
            if has_bias:
                self.bias = Parameter(np.zeros(c, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(c, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        if device is not None:
            self.to(device)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            zeros_(self.running_mean)
            ones_(self.running_var)
            with no_grad():
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            ones_(self.weight)
        if self.bias is not None:
            zeros_(self.bias)


class BatchNorm1d(_NormBase):
    """Batch normalization of (N, C) or (N, C, L) input over the channel dimension C, as
    torch.nn.BatchNorm1d.

    Training: normalize with the batch's mean and biased variance; with track_running_stats,
    update running_mean / running_var (the variance unbiased) with
    running = (1 - momentum) * running + momentum * batch, or with the cumulative average
    (factor 1 / num_batches_tracked) when momentum is None, and count num_batches_tracked.
    Eval: normalize with the running statistics (the batch's when track_running_stats=False).
    affine: a learned weight (ones) and bias (zeros; bias=False, keyword-only as torch's: no
    bias parameter). Buffers: running_mean, running_var, num_batches_tracked (int64), all in
    state_dict."""

    _NDIMS: tuple[int, ...] = (2, 3)
    _DIMS_TEXT = "2D (N, C) or 3D (N, C, L)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias
        )

    def _check_input(self, x: Any) -> Tensor:
        owner = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{owner}: input: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in self._NDIMS:
            raise ValueError(
                f"{owner}: input: expected {self._DIMS_TEXT} input (got {x.ndim}D "
                f"input of shape {x.shape})"
            )
        if x.shape[1] != self.num_features:
            raise _ShapeError(
                f"{owner}: input: expected {self.num_features} channels in dimension 1, got "
                f"shape {x.shape}"
            )
        if self.training and x.data.size // self.num_features == 1:
            raise ValueError(
                f"{owner}: input: expected more than 1 value per channel when training, got "
                f"input of shape {x.shape}"
            )
        return x

    def forward(self, x: Any) -> Tensor:
        x = self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # the cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(BatchNorm1d):
    """Batch normalization of (N, C, H, W) input over the channel dimension C, as
    torch.nn.BatchNorm2d: the statistics over N, H and W; otherwise as BatchNorm1d (running
    statistics, momentum None = cumulative average, affine, track_running_stats; the same
    state_dict keys)."""

    _NDIMS = (4,)
    _DIMS_TEXT = "4D (N, C, H, W)"


class LayerNorm(Module):
    """Normalize each sample over its last len(normalized_shape) dimensions (mean and biased
    variance), then scale by weight (ones) and shift by bias (zeros) when
    elementwise_affine (bias=False: no bias), as torch.nn.LayerNorm."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        owner = "LayerNorm"
        if isinstance(normalized_shape, (int, np.integer)) and not isinstance(
            normalized_shape, bool
        ):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
            raise TypeError(
                f"{owner}: normalized_shape: expected an int or a non-empty tuple of ints, got "
                f"{normalized_shape!r}"
            )
        shape = []
        for s in normalized_shape:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
                raise ValueError(
                    f"{owner}: normalized_shape: expected ints >= 0, got {tuple(normalized_shape)}"
                )
            shape.append(int(s))
        self.normalized_shape = tuple(shape)
        self.eps = _eps(eps, owner)
        self.elementwise_affine = _flag(elementwise_affine, owner, "elementwise_affine")
        has_bias = _flag(bias, owner, "bias")
        dt = _float_dtype(dtype, owner)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if has_bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            ones_(self.weight)
        if self.bias is not None:
            zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"LayerNorm: input: expected a Tensor, got {type(x).__name__}")
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != self.normalized_shape:
            raise _ShapeError(
                f"LayerNorm: input: expected a shape ending in normalized_shape "
                f"{self.normalized_shape}, got {x.shape}"
            )
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalization, as torch.nn.GroupNorm: the num_channels channels of (N, C, *)
    input split into num_groups groups, each sample's group normalized by its mean and biased
    variance (in training and eval alike), then a per-channel weight (ones) and bias (zeros)
    when affine (bias=False: no bias)."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        owner = "GroupNorm"
        self.num_groups = _positive_int(num_groups, owner, "num_groups")
        if isinstance(num_channels, bool) or not isinstance(num_channels, (int, np.integer)):
            raise TypeError(f"{owner}: num_channels: expected an int, got {num_channels!r}")
        if num_channels < 0 or num_channels % self.num_groups:
            raise ValueError(
                f"{owner}: num_channels ({num_channels}) must be divisible by num_groups "
                f"({num_groups})"
            )
        self.num_channels = int(num_channels)
        self.eps = _eps(eps, owner)
        self.affine = _flag(affine, owner, "affine")
        has_bias = _flag(bias, owner, "bias")
        dt = _float_dtype(dtype, owner)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, dtype=dt))
            if has_bias:
                self.bias = Parameter(np.zeros(self.num_channels, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            ones_(self.weight)
        if self.bias is not None:
            zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class _InstanceNorm(_NormBase):
    """torch's _InstanceNorm: each (sample, channel) normalized over its spatial dims.
    affine (default False): a per-channel weight (ones) and bias (zeros). track_running_stats
    (default False): running_mean / running_var buffers (and num_batches_tracked, which, as in
    torch, instance norm never counts), updated while training and used in eval."""

    _NO_BATCH_DIM = 2  # the dims of an unbatched input

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias
        )

    def _apply_instance_norm(self, x: Tensor) -> Tensor:
        return F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )

    def forward(self, x: Any) -> Tensor:
        owner = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{owner}: input: expected a Tensor, got {type(x).__name__}")
        nb = self._NO_BATCH_DIM
        if x.ndim not in (nb, nb + 1):
            raise ValueError(f"{owner}: expected {nb}D or {nb + 1}D input (got {x.ndim}D input)")
        feature_dim = x.ndim - nb
        if x.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"{owner}: expected input's size at dim={feature_dim} to match "
                    f"num_features ({self.num_features}), but got: {x.shape[feature_dim]}."
                )
            warnings.warn(
                f"{owner}: input's size at dim={feature_dim} does not match num_features. You "
                "can silence this warning by not passing in num_features, which is not used "
                "because affine=False",
                stacklevel=2,
            )
        if x.ndim == nb:  # unbatched
            return self._apply_instance_norm(x.unsqueeze(0)).squeeze(0)
        return self._apply_instance_norm(x)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) or unbatched (C, L) input, as torch."""

    _NO_BATCH_DIM = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or unbatched (C, H, W) input, as torch."""

    _NO_BATCH_DIM = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of (N, C, D, H, W) or unbatched (C, D, H, W) input, as torch."""

    _NO_BATCH_DIM = 4
