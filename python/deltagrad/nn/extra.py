"""More of torch.nn's modules (torch 2.13): RMSNorm, BatchNorm3d, Bilinear,
LocalResponseNorm, ChannelShuffle, AlphaDropout, FeatureAlphaDropout, MultiLabelMarginLoss
and TripletMarginWithDistanceLoss; (round 38, part 2) EmbeddingBag, CTCLoss, and the lazy
modules (LazyLinear, LazyConv*/LazyConvTranspose* 1-3d, LazyBatchNorm* / LazyInstanceNorm*
1-3d) with nn.parameter's Buffer / UninitializedParameter / UninitializedBuffer. The
arithmetic is deltagrad.functional's."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .conv3d import Conv3d, ConvTranspose3d
from .distance import PairwiseDistance
from .dropout import _DropoutNd
from .init import ones_, uniform_
from .linear import Linear
from .loss import _Loss
from .module import Module
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)
from .parameter import (
    Buffer,
    Parameter,
    UninitializedBuffer,
    UninitializedParameter,
    _float_dtype,
    _Uninitialized,
)

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
    "EmbeddingBag",
    "CTCLoss",
    "Buffer",
    "UninitializedParameter",
    "UninitializedBuffer",
    "LazyModuleMixin",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
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


# ---- EmbeddingBag, CTCLoss, Buffer ---------------------------------------------------------


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embedding rows (F.embedding_bag), as
    torch.nn.EmbeddingBag: weight (num_embeddings, embedding_dim) from N(0, 1), its
    padding_idx row zeroed; forward(input, offsets=None, per_sample_weights=None)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = "EmbeddingBag"
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not _is_int(n) or n < 0:
                raise ValueError(f"{owner}: {name}: expected an int >= 0, got {n!r}")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"{owner}: mode has to be one of sum, mean or max, got {mode!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not _is_int(padding_idx):
                raise TypeError(
                    f"{owner}: padding_idx: expected an int or None, got {padding_idx!r}"
                )
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise AssertionError("padding_idx must be within num_embeddings")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.zeros(shape, dtype=_float_dtype(dtype, owner)))
            self.reset_parameters()
        else:
            w = Parameter(_weight)
            if w.shape != shape:
                raise AssertionError(
                    "Shape of weight does not match num_embeddings and embedding_dim"
                )
            self.weight = w
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        from ..tensor import no_grad
        from .init import normal_

        normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Any = None) -> Tensor:
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag holding a copy of the 2-D embeddings (frozen unless freeze=False)."""
        data = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if data.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        bag = cls(
            data.shape[0],
            data.shape[1],
            max_norm,
            norm_type,
            scale_grad_by_freq,
            mode,
            sparse,
            data,
            include_last_offset,
            padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag


class CTCLoss(_Loss):
    """The Connectionist Temporal Classification loss (F.ctc_loss), as torch.nn.CTCLoss."""

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(
        self, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any
    ) -> Tensor:
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )


# ---- lazy modules ---------------------------------------------------------------------------


def _lazy_load_hook(module: Module, state_dict: Any, prefix: str, *rest: Any) -> None:
    """torch's LazyModuleMixin._lazy_load_hook: a state entry for a still uninitialized
    parameter or buffer materializes it with the entry's shape (then the load copies it)."""
    for name, t in list(module._parameters.items()) + list(module._buffers.items()):
        key = prefix + name
        if isinstance(t, _Uninitialized) and key in state_dict:
            value = state_dict[key]
            if not isinstance(value, _Uninitialized):
                t.materialize(tuple(getattr(value, "shape", np.shape(value))))


def _infer_parameters(module: Module, args: tuple[Any, ...]) -> None:
    """The first forward's pre-hook: infer the shapes from the input, initialize, drop the
    hooks and become cls_to_become (torch's LazyModuleMixin._infer_parameters)."""
    module.initialize_parameters(*args)  # type: ignore[attr-defined]
    if module.has_uninitialized_params():  # type: ignore[attr-defined]
        raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
    module._initialize_hook.remove()  # type: ignore[attr-defined]
    module._load_hook.remove()  # type: ignore[attr-defined]
    del module._initialize_hook
    del module._load_hook
    if module.cls_to_become is not None:  # type: ignore[attr-defined]
        module.__class__ = module.cls_to_become  # type: ignore[attr-defined]


class LazyModuleMixin:
    """torch.nn.modules.lazy.LazyModuleMixin: parameters and buffers that are
    UninitializedParameter / UninitializedBuffer until the first forward infers their shapes
    from its input (or a load_state_dict gives them); then the module is initialized as the
    plain module would be and its class becomes cls_to_become."""

    cls_to_become: type | None = None

    def _lazy_setup(self) -> None:
        self._load_hook = self.register_load_state_dict_pre_hook(_lazy_load_hook)  # type: ignore[attr-defined]
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)  # type: ignore[attr-defined]

    def has_uninitialized_params(self) -> bool:
        d = self.__dict__
        return any(
            isinstance(t, _Uninitialized)
            for t in list(d["_parameters"].values()) + list(d["_buffers"].values())
        )

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {type(self).__name__}"
        )


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose in_features is inferred from the first input's last dimension."""

    cls_to_become = Linear

    def __init__(
        self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        Linear.__init__(self, 1, out_features, bias, dtype=_float_dtype(dtype, "LazyLinear"))
        dt = self.weight.data.dtype
        self.in_features = 0
        self.weight = UninitializedParameter(dtype=dt)
        if bias:
            self.bias = UninitializedParameter(dtype=dt)
        self._lazy_setup()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Any, *args: Any) -> None:
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_conv(self, groups: int, bias: bool, device: Any) -> None:
        dt = self.weight.data.dtype
        self.in_channels = 0
        self.weight = UninitializedParameter(dtype=dt)
        if bias:
            self.bias = UninitializedParameter(dtype=dt)
        self._lazy_setup()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, input: Any, *args: Any) -> None:
        if not self.has_uninitialized_params():
            return
        nd, name = self._nd, type(self).__name__
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(
                f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but "
                f"got input of size: {list(input.shape)}"
            )
        self.in_channels = int(input.shape[0 if input.ndim == nd + 1 else 1])
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        lead = (
            (self.in_channels, self.out_channels // self.groups)
            if self._transposed
            else (self.out_channels, self.in_channels // self.groups)
        )
        self.weight.materialize(lead + tuple(self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


def _lazy_conv_class(base: type, transposed: bool) -> type:
    name = "Lazy" + base.__name__

    if transposed:

        def __init__(
            self,
            out_channels,
            kernel_size,
            stride=1,
            padding=0,
            output_padding=0,
            groups=1,
            bias=True,
            dilation=1,
            padding_mode="zeros",
            device=None,
            dtype=None,
        ) -> None:
            base.__init__(
                self,
                groups,
                out_channels,
                kernel_size,
                stride,
                padding,
                output_padding,
                groups,
                bias,
                dilation,
                padding_mode,
                dtype=dtype,
            )
            self._lazy_conv(groups, bias, device)

    else:

        def __init__(
            self,
            out_channels,
            kernel_size,
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=True,
            padding_mode="zeros",
            device=None,
            dtype=None,
        ) -> None:
            base.__init__(
                self,
                groups,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                bias,
                padding_mode,
                dtype=dtype,
            )
            self._lazy_conv(groups, bias, device)

    doc = f"A {base.__name__} whose in_channels is inferred from the first input (torch's {name})."
    return type(
        name,
        (_LazyConvMixin, base),
        {
            "__init__": __init__,
            "cls_to_become": base,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


LazyConv1d = _lazy_conv_class(Conv1d, False)
LazyConv2d = _lazy_conv_class(Conv2d, False)
LazyConv3d = _lazy_conv_class(Conv3d, False)
LazyConvTranspose1d = _lazy_conv_class(ConvTranspose1d, True)
LazyConvTranspose2d = _lazy_conv_class(ConvTranspose2d, True)
LazyConvTranspose3d = _lazy_conv_class(ConvTranspose3d, True)


class _LazyNormMixin(LazyModuleMixin):
    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        base = self.cls_to_become
        base.__init__(self, 1, eps, momentum, affine, track_running_stats, None, dtype)
        self.num_features = 0
        dt = _float_dtype(dtype, type(self).__name__)
        if self.affine:
            self.weight = UninitializedParameter(dtype=dt)
            self.bias = UninitializedParameter(dtype=dt)
        if self.track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dt)
            self.running_var = UninitializedBuffer(dtype=dt)
        self._lazy_setup()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, input: Any, *args: Any) -> None:
        if not self.has_uninitialized_params():
            return
        self.num_features = int(input.shape[1])  # torch's (dim 1, batched or not)
        c = (self.num_features,)
        if self.affine:
            self.weight.materialize(c)
            self.bias.materialize(c)
        if self.track_running_stats:
            self.running_mean.materialize(c)
            self.running_var.materialize(c)
        self.reset_parameters()


def _lazy_norm_class(base: type) -> type:
    name = "Lazy" + base.__name__
    doc = f"A {base.__name__} whose num_features is inferred from the first input (torch's {name})."
    return type(
        name,
        (_LazyNormMixin, base),
        {
            "cls_to_become": base,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


LazyBatchNorm1d = _lazy_norm_class(BatchNorm1d)
LazyBatchNorm2d = _lazy_norm_class(BatchNorm2d)
LazyBatchNorm3d = _lazy_norm_class(BatchNorm3d)
LazyInstanceNorm1d = _lazy_norm_class(InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm_class(InstanceNorm2d)
LazyInstanceNorm3d = _lazy_norm_class(InstanceNorm3d)
