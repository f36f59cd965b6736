"""A leaf's .grad never shares memory with an array user code was shown during backward (a
tensor hook's gradient, a Function.backward's input or result), even where a stack / cat
backward hands the leaf a view of it (round 45's review of round 44's _engine._take, which
keeps such views by reference when nobody else holds them)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg

RNG = np.random.default_rng(45)


def _leaves(k: int, shape: tuple[int, ...] = (3, 4)) -> list[dg.Tensor]:
    return [dg.tensor(RNG.standard_normal(shape), requires_grad=True) for _ in range(k)]


def test_function_result_view_of_user_array():
    W = np.full((4, 3), 2.0)

    class Const(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return W[1:3]  # a view of an array the user keeps

    a, b = (dg.tensor(np.zeros(3), requires_grad=True) for _ in range(2))
    Const.apply(dg.stack([a, b])).sum().backward()
    assert not np.shares_memory(a.grad, W) and not np.shares_memory(b.grad, W)
    np.testing.assert_array_equal(a.grad, W[1])
    dg.optim.SGD([a, b], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(W, np.full((4, 3), 2.0))  # the user's array untouched


def test_function_keeps_its_incoming_view():
    store = []

    class LogGrad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            store.append(g)
            return g

    a, b = _leaves(2)
    c = dg.tensor(RNG.standard_normal((1, 3, 4)), requires_grad=True)
    (dg.cat([LogGrad.apply(dg.stack([a, b])), c]) * 2).sum().backward()
    kept = store[-1]
    before = np.array(kept)
    assert not np.shares_memory(a.grad, kept) and not np.shares_memory(b.grad, kept)
    a.grad *= 10
    np.testing.assert_array_equal(kept, before)
    np.testing.assert_allclose(a.grad, np.full((3, 4), 20.0))


@pytest.mark.parametrize("scaled", [True, False])
def test_tensor_hook_keeps_a_view(scaled):
    store = []
    a, b = _leaves(2)
    c = dg.tensor(RNG.standard_normal((1, 3, 4)), requires_grad=True)
    y = dg.stack([a, b]) * 1.0 if scaled else dg.stack([a, b])
    y.register_hook(store.append)
    (dg.cat([y, c]) * 2).sum().backward()
    kept = store[-1]
    assert not np.shares_memory(a.grad, kept) and not np.shares_memory(b.grad, kept)
    np.testing.assert_allclose(a.grad, np.full((3, 4), 2.0))


@pytest.mark.parametrize("stack_first", [False, True])
def test_leaf_hook_gradient_not_kept_by_another_leaf(stack_first):
    a, b = _leaves(2)
    w = dg.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    seen = []
    w.register_hook(seen.append)
    y = dg.stack([a, b]) + w if stack_first else w + dg.stack([a, b])
    (y * 3).sum().backward()
    assert not np.shares_memory(seen[0], a.grad) and not np.shares_memory(seen[0], b.grad)
    assert not np.shares_memory(w.grad, a.grad)
    np.testing.assert_allclose(a.grad, np.full((3, 4), 3.0))
    np.testing.assert_allclose(w.grad, np.full((2, 3, 4), 3.0))


def test_unhooked_stack_pieces_still_kept_by_reference():
    """The round-44 saving stays where nobody was shown the gradient: the pieces of one fresh
    gradient, disjoint views, become the leaves' .grad without a copy."""
    a, b = _leaves(2, (256, 256))
    (dg.stack([a, b]) * 2.0).sum().backward()
    assert a.grad.base is not None and a.grad.base is b.grad.base
    assert not np.shares_memory(a.grad, b.grad)
    np.testing.assert_allclose(a.grad, 2.0)
