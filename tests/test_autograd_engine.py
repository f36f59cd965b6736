"""The backward engine (_engine.py): the gradient storage model, hooks, retain_grad,
dg.autograd.grad, set_grad_enabled, the saved-data check, and gradients that are not NaN where
the derivative is defined. torch side by side: tests/test_parity_autograd.py."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import autograd
from deltagrad.tensor import enable_grad, is_grad_enabled, set_grad_enabled
from deltagrad.testing import assert_close

RNG = np.random.default_rng(1406)


def leaf(*shape, dtype=np.float64):
    return dg.tensor(RNG.standard_normal(shape).astype(dtype), requires_grad=True)


# ---- the gradient storage model (docs/ARCHITECTURE.md, "Gradients") ------------------------


def test_grad_is_an_owned_array_of_the_leafs_shape_and_dtype():
    for dtype in (np.float32, np.float64):
        x = leaf(3, 5, dtype=dtype)
        (x * 2.0).sum().backward()
        assert isinstance(x.grad, np.ndarray)
        assert x.grad.shape == (3, 5) and x.grad.dtype == dtype
        assert x.grad.flags.c_contiguous and x.grad.flags.writeable
        assert_close(x.grad, np.full((3, 5), 2.0))


def test_backward_accumulates_in_place_into_an_existing_grad():
    x = leaf(4, 3)
    (x * x).sum().backward()
    buf = x.grad
    first = buf.copy()
    (x * 3.0).sum().backward()
    assert x.grad is buf  # the same buffer, written in place
    assert_close(buf, first + 3.0, rtol=1e-10, atol=1e-10)


def test_zero_grad_set_to_none_false_keeps_the_buffer():
    lin = dg.nn.Linear(5, 3, dtype=np.float64)
    x = dg.tensor(RNG.standard_normal((7, 5)))
    lin(x).sum().backward()
    bufs = [p.grad for p in lin.parameters()]
    for p in lin.parameters():
        p.zero_grad(set_to_none=False)
    assert all(p.grad is b for p, b in zip(lin.parameters(), bufs))
    assert all(not b.any() for b in bufs)
    lin(x).sum().backward()
    assert all(p.grad is b for p, b in zip(lin.parameters(), bufs))
    assert_close(lin.bias.grad, np.full(3, 7.0), rtol=1e-10, atol=1e-10)


def test_zero_grad_default_sets_none_as_torch():
    x = leaf(2)
    (x * 2.0).sum().backward()
    x.zero_grad()
    assert x.grad is None


def test_two_leaves_never_share_one_gradient_array():
    a, b = leaf(3), leaf(3)
    (a + b).sum().backward()  # add sends one array to both inputs
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    a.grad += 1.0
    assert_close(b.grad, np.ones(3), rtol=0, atol=0)


def test_grad_never_aliases_the_callers_gradient():
    x = leaf(4)
    g = RNG.standard_normal(4)
    y = x * 1.0
    y2 = y + 0.0  # add passes the root's gradient through unchanged
    y2.backward(g)
    assert not np.shares_memory(x.grad, g)
    g[:] = 0
    assert x.grad.any()


class _Const(dg.autograd.Function):
    """A backward that returns the same array of its own every time."""

    mine = np.ones(3)

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return _Const.mine


def test_a_function_backward_returning_its_own_array_is_copied_into_grad():
    x = leaf(3)
    _Const.apply(x).sum().backward()
    assert x.grad is not _Const.mine and not np.shares_memory(x.grad, _Const.mine)
    _Const.apply(x).sum().backward()  # in place into x.grad: _Const.mine unchanged
    assert_close(_Const.mine, np.ones(3), rtol=0, atol=0)
    assert_close(x.grad, np.full(3, 2.0), rtol=0, atol=0)


def test_a_gradient_a_hook_kept_is_not_the_grad_buffer():
    x = leaf(3)
    kept = []
    x.register_hook(lambda g: kept.append(g))
    (x + 0.0).sum().backward()
    (x + 0.0).sum().backward()  # accumulates in place into x.grad
    assert not np.shares_memory(kept[0].data, x.grad)
    assert_close(kept[0], np.ones(3), rtol=0, atol=0)


def test_a_leaf_used_twice_gets_one_summed_gradient():
    x = leaf(2, 3)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 2.0 + x * 3.0).sum().backward()
    assert len(seen) == 1
    assert_close(seen[0], np.full((2, 3), 5.0), rtol=1e-10, atol=1e-10)


def test_existing_grad_of_a_wrong_shape_raises_naming_backward():
    x = leaf(3)
    x.grad = np.zeros(4)
    with pytest.raises(RuntimeError, match=r"backward: the leaf's existing \.grad .* shape \(4,\)"):
        (x * 2.0).sum().backward()


def test_a_read_only_grad_is_replaced_not_written():
    x = leaf(3)
    ro = np.zeros(3)
    ro.flags.writeable = False
    x.grad = ro
    (x * 2.0).sum().backward()
    assert_close(x.grad, np.full(3, 2.0), rtol=0, atol=0)
    assert not ro.any()


# ---- hooks ----------------------------------------------------------------------------------


def test_register_hook_replaces_the_gradient_and_remove_unregisters():
    w = leaf(2)
    h = w.register_hook(lambda g: g * 3.0)
    (w * 1.0).sum().backward()
    assert_close(w.grad, np.full(2, 3.0), rtol=0, atol=0)
    h.remove()
    (w * 1.0).sum().backward()
    assert_close(w.grad, np.full(2, 4.0), rtol=0, atol=0)


def test_hook_on_a_non_leaf_changes_what_flows_upstream():
    a = leaf(3)
    b = a * 2.0
    b.register_hook(lambda g: g * 10.0)
    b.sum().backward()
    assert_close(a.grad, np.full(3, 20.0), rtol=0, atol=0)


def test_hook_returning_an_array_works_and_a_bad_one_raises():
    a = leaf(3)
    a.register_hook(lambda g: np.full(3, 7.0))
    (a * 1.0).sum().backward()
    assert_close(a.grad, np.full(3, 7.0), rtol=0, atol=0)
    b = leaf(3)
    b.register_hook(lambda g: np.ones(4))
    with pytest.raises(ValueError, match=r"register_hook: the hook returned a gradient of shape"):
        (b * 1.0).sum().backward()
    c = leaf(3)
    c.register_hook(lambda g: "no")
    with pytest.raises(TypeError, match=r"register_hook: the hook returned a str"):
        (c * 1.0).sum().backward()


def test_post_accumulate_grad_hook_sees_the_accumulated_grad():
    p = leaf(4)
    seen = []
    p.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (p * 2.0).sum().backward()
    (p * 2.0).sum().backward()
    assert len(seen) == 2
    assert_close(seen[0], np.full(4, 2.0), rtol=0, atol=0)
    assert_close(seen[1], np.full(4, 4.0), rtol=0, atol=0)


def test_post_accumulate_grad_hook_may_consume_the_grad():
    """What a gradient bucket does: read .grad, then free it (set_to_none)."""
    p = leaf(4)
    got = []

    def take(t):
        got.append(t.grad.copy())
        t.grad = None

    p.register_post_accumulate_grad_hook(take)
    (p * 2.0).sum().backward()
    assert p.grad is None and len(got) == 1


def test_post_accumulate_hook_must_return_none():
    p = leaf(2)
    p.register_post_accumulate_grad_hook(lambda t: 1)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: the hook returned"):
        (p * 1.0).sum().backward()


def test_hook_registration_errors():
    x = dg.tensor(RNG.standard_normal(2))
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor"):
        x.register_hook(lambda g: g)
    with pytest.raises(TypeError, match="register_hook: hook: expected a callable, got int"):
        leaf(2).register_hook(3)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: .* non-leaf"):
        (leaf(2) * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: cannot register"):
        x.register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="register_post_accumulate_grad_hook: hook: expected"):
        leaf(2).register_post_accumulate_grad_hook(None)
    with pytest.raises(RuntimeError, match="retain_grad: cannot retain the gradient"):
        x.retain_grad()


def test_handle_as_context_manager():
    w = leaf(2)
    with w.register_hook(lambda g: g * 0.0):
        (w * 1.0).sum().backward()
    (w * 1.0).sum().backward()
    assert_close(w.grad, np.ones(2), rtol=0, atol=0)


# ---- retain_grad, is_leaf -------------------------------------------------------------------


def test_retain_grad_keeps_a_non_leaf_gradient_and_accumulates():
    x = leaf(3)
    y = x * 2.0
    assert not y.retains_grad and not y.is_leaf and x.is_leaf
    y.retain_grad()
    assert y.retains_grad
    z = (y * y).sum()
    z.backward(retain_graph=True)
    assert_close(y.grad, 2 * y.data, rtol=1e-12, atol=0)
    buf = y.grad
    z.backward()
    assert y.grad is buf
    assert_close(y.grad, 4 * y.data, rtol=1e-12, atol=0)


def test_non_retained_non_leaf_has_no_grad():
    x = leaf(3)
    y = x * 2.0
    y.sum().backward()
    assert y.grad is None


def test_retain_grad_on_a_leaf_is_a_no_op():
    x = leaf(3)
    x.retain_grad()
    assert not x.retains_grad
    (x * 2.0).sum().backward()
    assert_close(x.grad, np.full(3, 2.0), rtol=0, atol=0)


def test_repr_of_a_node_is_unchanged():
    y = leaf(2) * 2.0
    assert "grad_fn=<mul>" in repr(y)
    assert "requires_grad=True" in repr(leaf(2))


# ---- dg.autograd.grad -----------------------------------------------------------------------


def test_autograd_grad_touches_no_grad():
    x, w = leaf(4), leaf(4)
    x.grad = np.zeros(4)
    buf = x.grad
    (gx, gw) = autograd.grad((x * w).sum(), [x, w])
    assert x.grad is buf and not buf.any() and w.grad is None
    assert isinstance(gx, dg.Tensor) and not gx.requires_grad
    assert_close(gx, w.data, rtol=0, atol=0)
    assert_close(gw, x.data, rtol=0, atol=0)


def test_autograd_grad_of_a_non_leaf_input_and_grad_outputs():
    x = leaf(3, 2)
    y = x * 2.0
    z = y * y
    v = RNG.standard_normal((3, 2))
    (gy,) = autograd.grad(z, y, grad_outputs=v)
    assert_close(gy, 2 * y.data * v, rtol=1e-12, atol=0)


def test_autograd_grad_frees_the_graph_unless_retained():
    x = leaf(3)
    y = (x * x).sum()
    autograd.grad(y, x, retain_graph=True)
    autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        autograd.grad(y, x)


def test_autograd_grad_unused_inputs():
    x, u = leaf(3), leaf(2)
    with pytest.raises(RuntimeError, match=r"autograd.grad: inputs\[1\] .* not used in the graph"):
        autograd.grad((x * 2.0).sum(), [x, u], retain_graph=True)
    gx, gu = autograd.grad((x * 2.0).sum(), [x, u], allow_unused=True)
    assert gu is None
    gx, gu = autograd.grad((x * 2.0).sum(), [x, u], materialize_grads=True)
    assert_close(gu, np.zeros(2), rtol=0, atol=0)


def test_autograd_grad_same_input_twice_gives_two_arrays():
    x = leaf(3)
    g1, g2 = autograd.grad((x * 2.0).sum(), [x, x])
    assert not np.shares_memory(g1.data, g2.data)
    assert_close(g1, g2, rtol=0, atol=0)


def test_autograd_grad_bad_input():
    x = leaf(3)
    with pytest.raises(NotImplementedError, match="no double backward for 'custom_op'"):
        y = dg.Tensor._make(x.data * 2, (x,), lambda g: x._accumulate(2 * g), "custom_op")
        autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"autograd.grad: outputs\[0\] does not require grad"):
        autograd.grad(dg.tensor(np.ones(2)).sum(), x)
    with pytest.raises(RuntimeError, match=r"autograd.grad: inputs\[0\] \(shape \(2,\)\) does not"):
        autograd.grad((x * 2.0).sum(), dg.tensor(np.ones(2)))
    with pytest.raises(
        RuntimeError, match=r"grad_outputs\[0\]: grad can be implied only for a one"
    ):
        autograd.grad(x * 2.0, x)
    with pytest.raises(ValueError, match=r"grad_outputs\[0\]: grad has shape \(2,\)"):
        autograd.grad(x * 2.0, x, grad_outputs=np.ones(2))
    with pytest.raises(ValueError, match="autograd.grad: grad_outputs has 2 entries, outputs 1"):
        autograd.grad(x * 2.0, x, grad_outputs=[np.ones(3), np.ones(3)])
    with pytest.raises(TypeError, match=r"autograd.grad: outputs\[0\] is a int"):
        autograd.grad([1], x)
    with pytest.raises(TypeError, match=r"autograd.grad: inputs\[0\] is a str"):
        autograd.grad((x * 2.0).sum(), ["x"])
    with pytest.raises(ValueError, match="autograd.grad: inputs: expected at least one Tensor"):
        autograd.grad((x * 2.0).sum(), [])
    with pytest.raises(ValueError, match="autograd.grad: outputs: expected at least one Tensor"):
        autograd.grad([], x)


def test_backward_inputs_accumulates_only_into_them():
    a, b = leaf(3), leaf(3)
    (a * b).sum().backward(inputs=[a])
    assert b.grad is None
    assert_close(a.grad, b.data, rtol=0, atol=0)
    (a * b).sum().backward(inputs=[b], create_graph=True)  # round 39: a Tensor .grad
    assert_close(b.grad.data, a.data, rtol=0, atol=0)


def test_backward_from_a_hook_is_independent():
    """A hook may run a backward of its own (a nested engine run) without disturbing the
    outer one's pending gradients."""
    a, b = leaf(3), leaf(3)

    def hook(g):
        (b * 5.0).sum().backward()
        return None

    (a * 2.0).register_hook(hook)
    y = a * 2.0
    y.register_hook(hook)
    (y + a).sum().backward()
    assert_close(a.grad, np.full(3, 3.0), rtol=0, atol=0)
    assert_close(b.grad, np.full(3, 5.0), rtol=0, atol=0)


# ---- grad mode: set_grad_enabled ------------------------------------------------------------


def test_set_grad_enabled_as_function_and_context_manager():
    x = leaf(2)
    assert is_grad_enabled()
    with set_grad_enabled(False):
        assert not is_grad_enabled()
        assert not (x * 2.0).requires_grad
        with set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        with enable_grad():
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    set_grad_enabled(False)
    try:
        assert not is_grad_enabled()
    finally:
        set_grad_enabled(True)
    assert is_grad_enabled()


def test_set_grad_enabled_as_decorator_applies_inside_only():
    @set_grad_enabled(False)
    def f(x):
        return x * 2.0

    assert is_grad_enabled()  # decorating does not switch it off (as torch)
    assert not f(leaf(2)).requires_grad
    assert is_grad_enabled()


def test_set_grad_enabled_rejects_non_bool():
    with pytest.raises(TypeError, match="set_grad_enabled: mode: expected a bool, got int"):
        set_grad_enabled(1)
    assert is_grad_enabled()


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError), dg.no_grad():
        raise ZeroDivisionError
    assert is_grad_enabled()


# ---- replaced data (issue 16) ----------------------------------------------------------------


def test_replacing_a_linear_weight_between_forward_and_backward_raises():
    lin = dg.nn.Linear(4, 3, dtype=np.float64)
    loss = lin(dg.tensor(RNG.standard_normal((5, 4)))).sum()
    lin.weight.data = RNG.standard_normal((3, 4))  # what load_state_dict / Module.to do
    with pytest.raises(RuntimeError, match=r"had its \.data replaced .* after the forward"):
        loss.backward()


def test_load_state_dict_between_forward_and_backward_raises():
    lin = dg.nn.Linear(4, 3, dtype=np.float64)
    state = {k: v + 1.0 for k, v in lin.state_dict().items()}
    loss = (lin(dg.tensor(RNG.standard_normal((5, 4)))) ** 2).sum()
    lin.load_state_dict(state)  # replaces .data, or copies in place and bumps the version
    with pytest.raises(RuntimeError, match=r"(\.data replaced|modified by an in-place)"):
        loss.backward()


def test_replacing_data_before_the_forward_is_fine():
    x = leaf(3)
    x.data = RNG.standard_normal(3)
    (x * x).sum().backward()
    assert_close(x.grad, 2 * x.data, rtol=1e-12, atol=0)


def test_replacing_the_data_of_an_output_that_backward_reads_raises():
    x = leaf(3)
    y = x.exp()  # exp's backward reads its output
    y.data = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"'exp' \(its output\) had its \.data replaced"):
        y.sum().backward()


# ---- NaN audit: gradients defined where torch's are ------------------------------------------


@pytest.mark.parametrize("p", [0, 1, 2, 3, 4])
def test_pow_integer_exponent_at_zero_is_finite(p):
    x = dg.tensor(np.array([0.0, 0.0, 1.5, -2.0]), requires_grad=True)
    (x**p).sum().backward()
    expect = np.zeros(4) if p == 0 else p * x.data ** (p - 1)
    assert np.isfinite(x.grad).all()
    assert_close(x.grad, expect, rtol=1e-12, atol=0)


def test_pow_tensor_exponent_masks_as_torch():
    base = dg.tensor(np.array([0.0, 0.0, 3.0, 2.0]), requires_grad=True)
    e = dg.tensor(np.array([0.0, 1.0, 2.0, 0.0]), requires_grad=True)
    (base**e).sum().backward()
    assert_close(base.grad, np.array([0.0, 1.0, 6.0, 0.0]), rtol=1e-12, atol=0)
    assert_close(e.grad, np.array([0.0, 0.0, 9 * np.log(3.0), np.log(2.0)]), rtol=1e-12, atol=0)


def test_size_zero_and_one():
    for shape in [(0,), (1,), (0, 3)]:
        x = dg.tensor(RNG.standard_normal(shape), requires_grad=True)
        (gx,) = autograd.grad((x * 2.0).sum(), x)
        assert gx.shape == shape
        (x * 2.0).sum().backward()
        assert x.grad.shape == shape
