"""torch's deprecated size_average / reduce arguments of the losses (torch.nn._reduction):
their mapping onto reduction, with torch's UserWarning, shared by the loss functions
(deltagrad.functional) and the loss modules (deltagrad.nn.loss)."""

from __future__ import annotations

import sys
import warnings
from typing import Any


def legacy_reduction(size_average: Any, reduce: Any, owner: str) -> str:
    """torch's mapping of the deprecated size_average / reduce onto reduction (None counts as
    True; both true: "mean", reduce alone: "sum", else "none"), with torch's UserWarning
    naming the reduction they map to (torch.nn._reduction.legacy_get_string), prefixed by
    owner and pointing at the first caller outside deltagrad."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"{owner}: size_average and reduce args will be deprecated, please use "
        f"reduction='{ret}' instead.",
        UserWarning,
        stacklevel=_caller_stacklevel(),
    )
    return ret


def resolve_reduction(size_average: Any, reduce: Any, reduction: Any, owner: str) -> Any:
    """The reduction a loss with torch's (size_average, reduce, reduction) arguments uses: the
    legacy mapping when size_average or reduce is given, else reduction (left unchecked). A
    str where size_average stands is taken as the reduction: deltagrad's losses took their
    reduction in that position before they had torch's signature (loss(input, target, "sum"))."""
    if isinstance(size_average, str):
        size_average, reduction = None, size_average
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce, owner)
    return reduction


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside the deltagrad package (the user's call: a
    loss function's or a loss module constructor's), seen from legacy_reduction's warn;
    the chains of deltagrad frames above it differ in depth."""
    frame = sys._getframe(2)  # legacy_reduction's caller
    level = 2
    while frame is not None and _in_deltagrad(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def _in_deltagrad(module: str) -> bool:
    return module == "deltagrad" or module.startswith("deltagrad.")
