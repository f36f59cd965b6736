"""Loss modules: each calls the deltagrad.functional function of the same name.

The signatures are torch's (size_average / reduce are its deprecated spellings of
reduction, mapped as torch maps them); a str given where torch has size_average (or weight)
first is taken as the reduction, as deltagrad's losses took it before."""

from __future__ import annotations

import warnings
from typing import Any

from .. import functional as F
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


def _legacy_reduction(size_average: Any, reduce: Any, owner: str) -> str:
    """torch's mapping of the deprecated size_average / reduce onto reduction."""
    warnings.warn(
        f"{owner}: size_average and reduce are deprecated, use reduction='mean'|'sum'|'none'",
        DeprecationWarning,
        stacklevel=4,
    )
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(size_average, str):  # MSELoss("sum"): deltagrad's positional reduction
            size_average, reduction = None, size_average
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce, owner)
        F._check_reduction(reduction, owner)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


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
        return F.mse_loss(input, target, self.reduction)


class SumOfSquaresLoss(Module):
    """E(w) = 0.5 * sum((y - t)**2)."""

    def forward(self, y: Any, t: Any) -> Tensor:
        return F.sum_of_squares(y, t)


class BCELoss(_WeightedLoss):
    """torch.nn.BCELoss: weight (broadcast to the input's shape) scales each element's loss;
    a buffer, as torch's."""

    _per_class = False

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.reduction, weight=self.weight)


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
            input, target, self.reduction, weight=self.weight, pos_weight=self.pos_weight
        )


class L1Loss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


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
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = F._positive(delta, "HuberLoss", "delta", allow_zero=False)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


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
