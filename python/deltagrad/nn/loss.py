"""Loss modules: each calls the deltagrad.functional function of the same name.

The signatures are torch's (size_average / reduce are its deprecated spellings of
reduction, mapped as torch maps them); a str given where torch has size_average (or weight)
first is taken as the reduction, as deltagrad's losses took it before."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._reduction import resolve_reduction
from ..tensor import Tensor
from .module import Module

__all__ = [
    "MSELoss",
    "SumOfSquaresLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
]


class _Loss(Module):
    """The losses' base: reduction from torch's (size_average, reduce, reduction) arguments
    (deltagrad._reduction). No extra_repr, as torch 2.13's losses: MSELoss(), whatever the
    arguments."""

    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        reduction = resolve_reduction(size_average, reduce, reduction, owner)
        F._check_reduction(reduction, owner)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with torch's `weight` buffer: one weight per class (_per_class, the class-index
    losses), or any shape that broadcasts to the input's (the BCE losses)."""

    _per_class = True

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        if isinstance(weight, str):  # CrossEntropyLoss("none"): deltagrad's older signature
            weight, reduction = None, weight
        super().__init__(size_average, reduce, reduction)
        if weight is not None and not isinstance(weight, Tensor):
            weight = Tensor(weight)
        if weight is not None and type(self)._per_class and weight.ndim != 1:
            raise ValueError(
                f"{type(self).__name__}: weight: expected a 1-D tensor (one weight per class), "
                f"got shape {weight.shape}"
            )
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class SumOfSquaresLoss(Module):
    """E(w) = 0.5 * sum((y - t)**2)."""

    def forward(self, y: Any, t: Any) -> Tensor:
        return F.sum_of_squares(y, t)


class BCELoss(_WeightedLoss):
    """torch.nn.BCELoss: weight (broadcast to the input's shape) scales each element's loss;
    a buffer, as torch's."""

    _per_class = False

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """torch.nn.BCEWithLogitsLoss: weight scales each element's loss, pos_weight (one per
    class, broadcast along the last dim) the positive term's (both buffers, as torch's)."""

    _per_class = False

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        pos_weight: Any = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if pos_weight is not None and not isinstance(pos_weight, Tensor):
            pos_weight = Tensor(pos_weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class L1Loss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(
        self,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = F._positive(beta, "SmoothL1Loss", "beta", allow_zero=True)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = F._positive(delta, "HuberLoss", "delta", allow_zero=False)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_WeightedLoss):
    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = F._ignore_index(ignore_index, "NLLLoss")

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy with torch's options (see deltagrad.functional.cross_entropy);
    the plain case runs one fused kernel."""

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = F._ignore_index(ignore_index, "CrossEntropyLoss")
        ls = label_smoothing
        if isinstance(ls, bool) or not isinstance(ls, (int, float)) or not 0.0 <= ls <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing: expected a float in [0, 1], got {ls!r}"
            )
        self.label_smoothing = float(ls)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


# ---- the losses on distributions, margins and embeddings (deltagrad._functional_losses) ------

from .._functional_losses import _real  # noqa: E402


class KLDivLoss(_Loss):
    """torch.nn.KLDivLoss (see deltagrad.functional.kl_div): input holds log-probabilities;
    reduction may also be 'batchmean' (the sum divided by the batch size); 'mean' warns, as
    torch's."""

    def __init__(
        self,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        if isinstance(size_average, str):  # KLDivLoss("sum"): deltagrad's positional reduction
            size_average, reduction = None, size_average
        batchmean = reduction == "batchmean" and size_average is None and reduce is None
        super().__init__(size_average, reduce, "mean" if batchmean else reduction)
        if batchmean:
            self.reduction = "batchmean"
        self.log_target = bool(log_target)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: Any = None,
        eps: float = 1e-8,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = bool(log_input)
        self.full = bool(full)
        self.eps = _real(eps, "PoissonNLLLoss", "eps")

    def forward(self, log_input: Any, target: Any) -> Tensor:
        return F.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """torch.nn.GaussianNLLLoss: forward(input, target, var) (see
    deltagrad.functional.gaussian_nll_loss)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = bool(full)
        self.eps = _real(eps, "GaussianNLLLoss", "eps")

    def forward(self, input: Any, target: Any, var: Any) -> Tensor:
        return F.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


class _MarginLoss(_Loss):
    """A loss with torch's margin hyper-parameter (stored as a float)."""

    def __init__(self, margin: float, size_average: Any, reduce: Any, reduction: str) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = _real(margin, type(self).__name__, "margin")


class CosineEmbeddingLoss(_MarginLoss):
    def __init__(
        self,
        margin: float = 0.0,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.cosine_embedding_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class MarginRankingLoss(_MarginLoss):
    def __init__(
        self,
        margin: float = 0.0,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.margin_ranking_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class HingeEmbeddingLoss(_MarginLoss):
    def __init__(
        self,
        margin: float = 1.0,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """torch.nn.MultiLabelSoftMarginLoss: weight (a buffer) broadcasts to the input's shape,
    usually one per class (C,)."""

    _per_class = False

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multilabel_soft_margin_loss(
            input, target, weight=self.weight, reduction=self.reduction
        )


class MultiMarginLoss(_WeightedLoss):
    """torch.nn.MultiMarginLoss: p is 1 or 2; weight (a buffer) is one per class."""

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError(f"MultiMarginLoss: p: only p == 1 and p == 2 supported, got {p!r}")
        self.p = p
        self.margin = _real(margin, "MultiMarginLoss", "margin")

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multi_margin_loss(
            input,
            target,
            p=self.p,
            margin=self.margin,
            weight=self.weight,
            reduction=self.reduction,
        )


class TripletMarginLoss(_Loss):
    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        owner = "TripletMarginLoss"
        self.margin = _real(margin, owner, "margin")
        if self.margin <= 0:
            raise ValueError(
                f"{owner}: expected margin to be greater than 0, got {self.margin} instead"
            )
        self.p = _real(p, owner, "p")
        self.eps = _real(eps, owner, "eps")
        self.swap = bool(swap)

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


__all__ += [
    "KLDivLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
]
