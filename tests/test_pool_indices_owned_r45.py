"""The indices a max pool returns are the caller's: changing them in place does not change the
gradient (the backward keeps its own; round 45's review: i.add_(1) moved max_pool3d's gradient).
torch raises at backward there instead; deltagrad's gradient stays the true one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deltagrad as dg
import deltagrad.nn.functional as F

RNG = np.random.default_rng(45)

CASES = {
    "max_pool2d": (
        (2, 3, 6, 6),
        lambda L, x: L.nn.functional.max_pool2d(x, 2, 2, return_indices=True),
    ),
    "max_pool3d": (
        (1, 2, 4, 4, 4),
        lambda L, x: L.nn.functional.max_pool3d(x, 2, 2, return_indices=True),
    ),
    "adaptive_max_pool2d": (
        (2, 3, 7, 7),
        lambda L, x: L.nn.functional.adaptive_max_pool2d(x, 3, return_indices=True),
    ),
    "adaptive_max_pool3d": (
        (1, 2, 5, 5, 5),
        lambda L, x: L.nn.functional.adaptive_max_pool3d(x, 2, return_indices=True),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_changing_returned_indices_leaves_the_gradient(name, dtype):
    shape, fn = CASES[name]
    x_np = RNG.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x_np, requires_grad=True)
    ty, _ = fn(torch, tx)
    ty.sum().backward()
    x = dg.tensor(x_np, requires_grad=True)
    y, i = fn(dg, x)
    i.add_(1)
    y.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), tx.grad.numpy())


def test_fractional_max_pool2d_indices_owned():
    x = dg.tensor(RNG.standard_normal((1, 2, 9, 9)), requires_grad=True)
    y, i = F.fractional_max_pool2d(x, 2, output_size=4, return_indices=True)
    before = np.array(i.numpy())
    i.add_(1)
    y.sum().backward()
    g = np.zeros(x.shape).reshape(1, 2, -1)
    np.put_along_axis(g, before.reshape(1, 2, -1), 1.0, axis=-1)
    np.testing.assert_array_equal(np.asarray(x.grad), g.reshape(x.shape))
