"""topk / kthvalue with k out of range raise what torch raises (RuntimeError), still a
ValueError as before (deltagrad's _ShapeError derives from both)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deltagrad as dg


@pytest.mark.parametrize(
    "op, k, dim",
    [("topk", 6, -1), ("topk", -1, -1), ("topk", 3, 0), ("kthvalue", 6, -1), ("kthvalue", 0, -1)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_k_out_of_range(op, k, dim, dtype):
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(dtype)
    with pytest.raises(RuntimeError):
        getattr(torch, op)(torch.from_numpy(x), k, dim)
    with pytest.raises(RuntimeError, match="out of range") as info:
        getattr(dg, op)(dg.tensor(x), k, dim)
    assert isinstance(info.value, ValueError)
