"""A second autograd.grad through nodes a first call freed raises torch's error instead of
returning None as if the input were unused (review, round 40)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deltagrad as dg


@pytest.mark.parametrize("lib", [dg, torch])
@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_through_a_freed_graph_raises(lib, create_graph):
    x = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
    b = x.reshape(1) * x.reshape(1)
    (g,) = lib.autograd.grad((b * 2).sum(), (x,), allow_unused=True)
    assert float(g) == pytest.approx(8.0)
    with pytest.raises(RuntimeError, match="(?i)backward through the graph a second time"):
        lib.autograd.grad((b * 3).sum(), (x,), allow_unused=True, create_graph=create_graph)


def test_grad_with_retain_graph_still_runs_twice():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = x * x
    (g1,) = dg.autograd.grad((b * 2).sum(), (x,), retain_graph=True)
    (g2,) = dg.autograd.grad((b * 3).sum(), (x,))
    np.testing.assert_allclose(g1.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(g2.numpy(), [6.0, 12.0])


def test_unrelated_input_of_a_fresh_graph_is_still_unused():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    z = dg.tensor(np.array([3.0]), requires_grad=True)
    (gz,) = dg.autograd.grad((x * x).sum(), (z,), allow_unused=True)
    assert gz is None
