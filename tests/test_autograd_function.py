"""dg.autograd.Function: user-defined differentiable ops on arrays, torch's shape."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.autograd import Function
from deltagrad.testing import assert_close, check_op


class SmoothL1(Function):
    @staticmethod
    def forward(ctx, x, beta=1.0):
        ctx.save_for_backward(x)
        ctx.beta = beta
        a = np.abs(x)
        return np.where(a < beta, 0.5 * x * x / beta, a - 0.5 * beta)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.clip(x / ctx.beta, -1.0, 1.0), None


def smooth_l1_ref(x, beta=1.0):
    a = np.abs(x)
    return np.where(a < beta, 0.5 * x * x / beta, a - 0.5 * beta)


class MulAdd(Function):
    """Two outputs: x * y and x + y."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y, x + y

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        x, y = ctx.saved_tensors
        return g_prod * y + g_sum, g_prod * x + g_sum


def rng():
    return np.random.default_rng(0)


def test_forward_and_backward_match_the_reference():
    x = rng().normal(size=(5, 7)) * 2
    t = dg.tensor(x, requires_grad=True)
    y = SmoothL1.apply(t, 0.5)
    assert isinstance(y, dg.Tensor) and y.requires_grad
    assert_close(y.numpy(), smooth_l1_ref(x, 0.5), rtol=1e-15, atol=0.0, equal_nan=True)
    y.sum().backward()
    assert_close(t.grad, np.clip(x / 0.5, -1, 1), rtol=1e-15, atol=0.0, equal_nan=True)
    assert repr(y).endswith("grad_fn=<SmoothL1>)")


def test_check_op_and_gradcheck_pass_on_every_device(device):
    check_op(
        lambda t: SmoothL1.apply(t, 0.7),
        lambda x: smooth_l1_ref(x, 0.7),
        [("n", "m")],
        devices=[device],
        extremes=(-1e4, 1e4, 1e-30),
    )
    check_op(MulAdd.apply, lambda x, y: (x * y, x + y), [("n", "m"), ("n", "m")], devices=[device])


def test_multiple_outputs_when_only_one_reaches_the_loss():
    x = dg.tensor(rng().normal(size=4), requires_grad=True)
    y = dg.tensor(rng().normal(size=4) + 1, requires_grad=True)
    p, s = MulAdd.apply(x, y)
    (p * 3).sum().backward()  # s unused: its gradient is zero
    assert_close(x.grad, 3 * y.data, rtol=1e-7, atol=0.0, equal_nan=True)
    assert_close(y.grad, 3 * x.data, rtol=1e-7, atol=0.0, equal_nan=True)


def test_multiple_outputs_both_reach_the_loss_through_a_shared_path():
    x = dg.tensor(rng().normal(size=3), requires_grad=True)
    y = dg.tensor(rng().normal(size=3), requires_grad=True)
    p, s = MulAdd.apply(x, y)
    (p * s).sum().backward()
    xd, yd = x.data, y.data
    assert_close(x.grad, yd * (xd + yd) + xd * yd, rtol=1e-7, atol=0.0, equal_nan=True)
    assert_close(y.grad, xd * (xd + yd) + xd * yd, rtol=1e-7, atol=0.0, equal_nan=True)


def test_needs_input_grad_and_no_graph_without_requires_grad():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen["needs"] = ctx.needs_input_grad
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g

    a = dg.tensor(np.ones(2), requires_grad=True)
    b = dg.tensor(np.ones(2))
    out = Probe.apply(a, b)
    assert seen["needs"] == (True, False) and out.requires_grad
    out2 = Probe.apply(b, b)
    assert not out2.requires_grad and out2.is_leaf
    with dg.no_grad():
        assert not Probe.apply(a, b).requires_grad


def test_forward_runs_on_arrays_without_recording():
    class Inner(Function):
        @staticmethod
        def forward(ctx, x):
            assert isinstance(x, np.ndarray)
            assert not dg.tensor(x, requires_grad=True).__mul__(2.0).requires_grad  # no_grad
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    t = dg.tensor(np.arange(3.0), requires_grad=True)
    Inner.apply(t).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.0, 2.0, 2.0])


def test_function_used_to_train_a_model():
    """A model trained with a user-defined loss reaches a low loss."""
    r = rng()
    X = r.normal(size=(64, 3))
    w_true = np.array([[1.5], [-2.0], [0.5]])
    y = X @ w_true + 0.01 * r.normal(size=(64, 1))
    dg.manual_seed(0)
    model = dg.nn.Linear(3, 1, dtype=np.float64)
    opt = dg.optim.Adam(model.parameters(), lr=0.05)
    Xt = dg.tensor(X.astype(model.weight.dtype))
    yt = y.astype(model.weight.dtype)
    first = None
    for _ in range(300):
        loss = SmoothL1.apply(model(Xt) - dg.tensor(yt), 0.1).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01 * first
    assert_close(model.weight.numpy().ravel(), w_true.ravel(), rtol=1e-7, atol=0.05, equal_nan=True)


# ---- mistakes are exceptions naming the Function and the argument -----------------------------


def _apply_backward(fn_cls, *shapes):
    ts = [dg.tensor(np.ones(s), requires_grad=True) for s in shapes]
    fn_cls.apply(*ts).sum().backward()


def test_backward_returning_the_wrong_number_of_gradients():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(ValueError, match="Bad.backward returned 1 gradient.*expected 2"):
        _apply_backward(Bad, (2,), (2,))


def test_backward_returning_a_wrong_shape():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum(axis=0)

        @staticmethod
        def backward(ctx, g):
            return g  # should be broadcast back to a's shape

    with pytest.raises(
        ValueError,
        match=r"gradient of argument 0 has shape \(3,\); expected "
        r"the argument's shape \(2, 3\)",
    ):
        _apply_backward(Bad, (2, 3))


def test_backward_returning_a_non_array():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return "oops"

    with pytest.raises(TypeError, match="gradient of argument 0 is a str"):
        _apply_backward(Bad, (2,))


def test_forward_returning_a_non_array():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return [1.0, 2.0]

    with pytest.raises(TypeError, match="Bad.forward: output 0 is a list"):
        Bad.apply(dg.tensor(np.ones(2)))


def test_calling_the_class_instead_of_apply():
    with pytest.raises(TypeError, match=r"call SmoothL1.apply\(...\)"):
        SmoothL1(dg.tensor(np.ones(2)))


def test_missing_backward():
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

    with pytest.raises(NotImplementedError, match="backward"):
        _apply_backward(NoBackward, (2,))


def test_saved_input_changed_in_place_is_caught():
    t = dg.tensor(np.array([0.3, -2.0, 5.0]), requires_grad=True)
    y = SmoothL1.apply(t, 1.0)
    with dg.no_grad():
        t.mul_(2.0)  # SmoothL1 saved t for its backward
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_backward_through_a_freed_graph():
    t = dg.tensor(np.array([0.3, -2.0]), requires_grad=True)
    y = SmoothL1.apply(t).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    z = SmoothL1.apply(t).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert_close(t.grad, np.array([0.3, -1.0]) * 3, rtol=1e-7, atol=0.0, equal_nan=True)


class _KeepsGrad(Function):
    """A backward that keeps the incoming gradient and returns it unchanged."""

    kept: list = []

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        _KeepsGrad.kept.append(g)
        return g


def test_a_gradient_backward_kept_never_becomes_a_grad_by_reference():
    """The gradient storage model: what a Function's backward was shown or returned is the
    user's; a leaf's .grad copies it, so accumulating in place never changes it."""
    _KeepsGrad.kept.clear()
    x = dg.tensor(np.random.default_rng(0).standard_normal(4), requires_grad=True)
    (_KeepsGrad.apply(x) * 3.0).sum().backward()
    kept = _KeepsGrad.kept[0]
    assert not np.shares_memory(x.grad, kept)
    before = kept.copy()
    (_KeepsGrad.apply(x) * 3.0).sum().backward()  # in place into x.grad
    assert_close(kept, before, rtol=0, atol=0)
    assert_close(x.grad, np.full(4, 6.0), rtol=0, atol=0)
