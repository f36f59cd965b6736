"""Shared by the topk tests: the reference order they check the kernels' indices against."""

from __future__ import annotations

import numpy as np


def stable_topk(x, k, largest):
    """The first k of a stable sort in torch's order (NaN first when largest, last else)."""
    n = x.shape[-1]
    pos = np.broadcast_to(np.arange(n), x.shape)
    nan = np.isnan(x)
    v = np.where(nan, 0.0, x) + 0.0  # (+ 0.0: -0.0 sorts as 0.0)
    order = np.lexsort((pos, -v, ~nan) if largest else (pos, v, nan), axis=-1)
    return order[..., :k]
