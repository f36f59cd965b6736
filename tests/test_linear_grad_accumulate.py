"""Backward into kept gradient buffers (issue 18, deliverable 3): with
zero_grad(set_to_none=False), F.linear's backward accumulates dW into the existing weight .grad
by the GEMM with beta = 1 (and db into the bias .grad) instead of a temporary added afterwards.
The result must equal the two-pass one (fresh gradient, then .grad += it), on every ISA and
dtype, at odd shapes; hooks, retain_graph, dg.autograd.grad, backward(inputs=...) and a .grad
shared between parameters keep their semantics. The kernel-level op: ops.linear_backward(...,
dw=, db=)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import autograd, ops
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

# (m, k, n): batch, in_features, out_features. k = 300 and 530 exceed the GEMM's k block (KC,
# 256 for float64 / 384 for float32 on AVX-512), so beta = 1 meets more than one k block.
SHAPES = [(0, 3, 4), (1, 1, 1), (5, 7, 3), (33, 17, 9), (64, 100, 70), (37, 300, 29), (9, 530, 5)]


def _abs64(a):
    return np.abs(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flags", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("act", ["identity", "relu", "tanh"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_accumulating_backward_equals_the_two_pass_result(isa, shape, act, flags, dtype, rng):
    need_dx, has_bias = flags
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    b = sample(rng, (n,), dtype)
    y, z = ops.linear_forward(x, w, b, act, 0.1)
    saved = z if ops.saves_input(act) else y
    dy = sample(rng, (m, n), dtype, 1.0)
    dx, dw, db = ops.linear_backward(dy, x, w, saved, act, 0.1, need_dx, has_bias)
    gw0, gb0 = sample(rng, (n, k), dtype, 1.0), sample(rng, (n,), dtype, 1.0)
    gw, gb = gw0.copy(), gb0.copy()
    r = ops.linear_backward(
        dy, x, w, saved, act, 0.1, need_dx, has_bias, dw=gw, db=gb if has_bias else None
    )
    assert r[1] is gw
    assert (r[2] is gb) if has_bias else r[2] is None
    dz = _abs64(dy) * 1.2
    tol = RTOL[dtype] * 4
    assert_close(gw, gw0 + dw, dtype, atol=tol * (dz.T @ _abs64(x) + _abs64(gw0)), name="dw")
    if has_bias:
        assert_close(gb, gb0 + db, dtype, atol=tol * (dz.sum(0) + _abs64(gb0)), name="db")
    else:
        np.testing.assert_array_equal(gb, gb0)  # not given: untouched
    if need_dx:
        np.testing.assert_array_equal(r[0], dx)  # dx is not affected
    else:
        assert r[0] is None


def _operands(dtype=np.float64, m=6, k=5, n=4):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    dy = rng.standard_normal((m, n)).astype(dtype)
    y, _ = ops.linear_forward(x, w, None, "relu")
    return dy, x, w, y


def test_accumulator_errors_name_the_argument():
    dy, x, w, y = _operands()
    n, k = w.shape
    ok_w, ok_b = np.zeros((n, k)), np.zeros(n)
    with pytest.raises(ValueError, match="db"):  # a bias but no db
        ops.linear_backward(dy, x, w, y, "relu", dw=ok_w)
    with pytest.raises(ValueError, match="db"):  # db without dw
        ops.linear_backward(dy, x, w, y, "relu", db=ok_b)
    with pytest.raises(ValueError, match="db"):  # db without a bias
        ops.linear_backward(dy, x, w, y, "relu", has_bias=False, dw=ok_w, db=ok_b)
    with pytest.raises(ValueError, match="dw"):
        ops.linear_backward(dy, x, w, y, "relu", dw=np.zeros((n, k + 1)), db=ok_b)
    with pytest.raises(ValueError, match="db"):
        ops.linear_backward(dy, x, w, y, "relu", dw=ok_w, db=np.zeros(n + 1))
    with pytest.raises(TypeError, match="dw"):
        ops.linear_backward(dy, x, w, y, "relu", dw=ok_w.astype(np.float32), db=ok_b)
    with pytest.raises(TypeError, match="dw"):
        ops.linear_backward(dy, x, w, y, "relu", dw=ok_w.tolist(), db=ok_b)
    with pytest.raises(ValueError, match="dw.*C-contiguous"):
        ops.linear_backward(dy, x, w, y, "relu", dw=np.zeros((k, n)).T, db=ok_b)
    ro = np.zeros((n, k))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="dw.*writable"):
        ops.linear_backward(dy, x, w, y, "relu", dw=ro, db=ok_b)
    wc = w.copy()
    with pytest.raises(ValueError, match="dw.*share memory"):  # dw is the weight itself
        ops.linear_backward(dy, x, wc, y, "relu", dw=wc, db=ok_b)
    np.testing.assert_array_equal(ok_w, 0)  # nothing was written by a refused call
    np.testing.assert_array_equal(ok_b, 0)


# ---- through autograd ----------------------------------------------------------------------


def _layer(rng, k, n, dtype):
    w = dg.tensor(sample(rng, (n, k), dtype, 0.5), requires_grad=True)
    b = dg.tensor(sample(rng, (n,), dtype), requires_grad=True)
    return w, b


def _loss(x, params, act="relu"):
    h = x
    for i, (w, b) in enumerate(params):
        h = F.linear(h, w, b, act if i < len(params) - 1 else None)
    return (h * h).sum()


@pytest.fixture
def spy(monkeypatch):
    """Records, per ops.linear_backward call, whether it accumulated into a kept buffer."""
    calls: list[bool] = []
    real = ops.linear_backward

    def wrapper(*a, **kw):
        calls.append(kw.get("dw") is not None)
        return real(*a, **kw)

    monkeypatch.setattr(ops, "linear_backward", wrapper)
    return calls


def _fresh_grads(x, params, act="relu"):
    """The gradients of one backward, by dg.autograd.grad (no .grad is involved)."""
    flat = [t for p in params for t in p]
    return [g.data for g in autograd.grad(_loss(x, params, act), flat)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_kept_buffers_accumulate_in_place_over_steps(isa, dtype, rng, spy):
    x = dg.tensor(sample(rng, (13, 11), dtype, 1.0), requires_grad=True)
    params = [_layer(rng, 11, 9, dtype), _layer(rng, 9, 3, dtype)]
    flat = [t for p in params for t in p]
    _loss(x, params).backward()  # the first backward creates the buffers
    assert spy == [False, False]
    bufs = [t.grad for t in flat]
    want = [g.astype(np.float64) for g in bufs]
    for _step in range(3):
        fresh = _fresh_grads(x, params)
        spy.clear()
        _loss(x, params).backward()
        assert spy == [True, True]  # both layers wrote into the kept buffers
        for t, buf, f, acc in zip(flat, bufs, fresh, want):
            assert t.grad is buf  # the same array, written in place
            acc += f
            assert_close(t.grad, acc, dtype, atol=RTOL[dtype] * 8 * (np.abs(acc) + 1))
    # zero_grad(set_to_none=False) then one backward: the fresh gradient again
    dg.optim.SGD(flat, lr=0.1).zero_grad(set_to_none=False)
    fresh = _fresh_grads(x, params)
    _loss(x, params).backward()
    for t, buf, f in zip(flat, bufs, fresh):
        assert t.grad is buf
        assert_close(t.grad, f, dtype, atol=RTOL[dtype] * 4 * (np.abs(f) + 1))
    # x (not a parameter, no .grad buffer kept across zero_grad) received its dx as usual
    assert x.grad is not None


def test_a_hook_sees_the_gradient_alone_and_the_path_is_not_taken(rng, spy):
    w, b = _layer(rng, 6, 4, np.float64)
    x = dg.tensor(rng.standard_normal((5, 6)))
    _loss(x, [(w, b)]).backward()
    first = w.grad.copy()
    seen = []
    w.register_hook(lambda g: seen.append(g.data.copy()))
    spy.clear()
    _loss(x, [(w, b)]).backward()
    assert spy == [False]  # a hook on w: sent through the engine, summed there, hooked once
    assert len(seen) == 1
    assert_close(seen[0], first)  # the gradient of this backward, not .grad + it
    assert_close(w.grad, 2 * first)


def test_post_accumulate_hook_runs_once_on_the_complete_grad(rng, spy):
    w, b = _layer(rng, 6, 4, np.float64)
    x = dg.tensor(rng.standard_normal((5, 6)))
    _loss(x, [(w, b)]).backward()
    first = w.grad.copy()
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    spy.clear()
    _loss(x, [(w, b)]).backward()
    assert spy == [False]
    assert len(seen) == 1
    assert_close(seen[0], 2 * first)


def test_retain_graph_backward_twice_accumulates(rng, spy):
    w, b = _layer(rng, 6, 4, np.float64)
    x = dg.tensor(rng.standard_normal((5, 6)))
    loss = _loss(x, [(w, b)])
    loss.backward(retain_graph=True)
    first_w, first_b = w.grad.copy(), b.grad.copy()
    spy.clear()
    loss.backward(retain_graph=True)
    loss.backward()
    assert spy == [True, True]
    assert_close(w.grad, 3 * first_w)
    assert_close(b.grad, 3 * first_b)


def test_a_weight_used_by_two_layers_gets_both_contributions(rng, spy):
    w = dg.tensor(rng.standard_normal((6, 6)), requires_grad=True)
    b = dg.tensor(rng.standard_normal(6), requires_grad=True)
    x = dg.tensor(rng.standard_normal((5, 6)))

    def loss():
        return (F.linear(F.linear(x, w, b, "tanh"), w, b) ** 2).sum()

    fresh = [g.data for g in autograd.grad(loss(), [w, b])]
    loss().backward()
    spy.clear()
    loss().backward()
    assert spy == [True, True]
    assert_close(w.grad, 2 * fresh[0])
    assert_close(b.grad, 2 * fresh[1])


def test_a_grad_array_shared_between_parameters(rng, spy):
    """The user made two parameters' .grad one array: it ends as old + both gradients, as the
    two-pass accumulation leaves it."""
    (w1, b1), (w2, b2) = _layer(rng, 5, 5, np.float64), _layer(rng, 5, 5, np.float64)
    x = dg.tensor(rng.standard_normal((4, 5)))
    params = [(w1, b1), (w2, b2)]
    g1, _, g2, _ = _fresh_grads(x, params)
    shared = rng.standard_normal((5, 5))
    old = shared.copy()
    w1.grad = w2.grad = shared
    b1.grad, b2.grad = np.zeros(5), np.zeros(5)
    spy.clear()
    _loss(x, params).backward()
    assert spy == [True, True]
    assert w1.grad is shared and w2.grad is shared
    assert_close(shared, old + g1 + g2)


def test_autograd_grad_and_backward_inputs_leave_kept_buffers_alone(rng, spy):
    w, b = _layer(rng, 6, 4, np.float64)
    x = dg.tensor(rng.standard_normal((5, 6)), requires_grad=True)
    _loss(x, [(w, b)]).backward()
    kept_w, kept_b = w.grad.copy(), b.grad.copy()
    spy.clear()
    autograd.grad(_loss(x, [(w, b)]), [w, b])
    _loss(x, [(w, b)]).backward(inputs=[x])
    assert spy == [False, False]
    np.testing.assert_array_equal(w.grad, kept_w)
    np.testing.assert_array_equal(b.grad, kept_b)


def test_a_read_only_grad_is_still_replaced_not_written(rng, spy):
    w, b = _layer(rng, 6, 4, np.float64)
    x = dg.tensor(rng.standard_normal((5, 6)))
    fresh_w = autograd.grad(_loss(x, [(w, b)]), [w, b])[0].data
    ro = np.ones((4, 6))
    ro.flags.writeable = False
    w.grad, b.grad = ro, np.zeros(4)
    spy.clear()
    _loss(x, [(w, b)]).backward()
    assert spy == [False]
    np.testing.assert_array_equal(ro, 1.0)
    assert w.grad is not ro
    assert_close(w.grad, 1.0 + fresh_w)


def test_a_grad_aliasing_an_input_falls_back(rng, spy):
    """A .grad that shares memory with the layer's input cannot be the GEMM's output."""
    w, b = _layer(rng, 4, 4, np.float64)
    x = dg.tensor(rng.standard_normal((4, 4)))
    xd = x.data
    fresh_w = autograd.grad(_loss(x, [(w, b)]), [w, b])[0].data
    w.grad, b.grad = xd, np.zeros(4)  # the user's odd choice: .grad is x's data
    old = xd.copy()
    spy.clear()
    _loss(x, [(w, b)]).backward()
    assert spy == [False]
    assert_close(w.grad, old + fresh_w)
