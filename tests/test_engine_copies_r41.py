"""The engine's copies (round 41): backward(gradient) does not copy the caller's gradient
(tensor._root_grad hands it on as a read-only view), yet never writes into it and no .grad,
retained .grad, hook or result aliases it; pieces (split, unbind, x[i]) of a leaf add into
one buffer (Tensor._accumulate_at); stack is one node; triu / tril by row blocks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import deltagrad as dg
import deltagrad.functional as F

rng = np.random.default_rng(41)


def _arr(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _layout(g, how):
    """g (C-contiguous) in another memory layout, same values."""
    if how == "c":
        return g.copy()
    if how == "fortran":
        return np.asfortranarray(g)
    if how == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in g.shape), g.dtype)
        sl = tuple(slice(1, None, 2) for _ in g.shape)
        big[sl] = g
        return big[sl]
    if how == "readonly":
        r = g.copy()
        r.flags.writeable = False
        return r
    if how == "tensor":
        return dg.tensor(g)
    raise AssertionError(how)


LAYOUTS = ["c", "fortran", "strided", "readonly", "tensor"]


def _np(g):
    return g.numpy() if isinstance(g, dg.Tensor) else np.asarray(g)


def _grad(t):
    g = t.grad
    return g.data if isinstance(g, dg.Tensor) else g


def _untouched(G, G0):
    """The caller's gradient still holds its values and is still writable where it was."""
    np.testing.assert_array_equal(_np(G), G0)


def _owned(t, G):
    """t.grad is an array of its own: no memory shared with the caller's gradient."""
    g = _grad(t)
    assert isinstance(g, np.ndarray)
    assert not np.shares_memory(g, _np(G))


# ---- 1. the root gradient ---------------------------------------------------------------


@pytest.mark.parametrize("how", LAYOUTS)
def test_root_is_leaf_grad_is_a_copy_and_second_backward_adds_into_it(how):
    G0 = _arr(3, 5)
    G = _layout(G0, how)
    x = dg.tensor(_arr(3, 5), requires_grad=True)
    x.backward(G)
    np.testing.assert_array_equal(x.grad, G0)
    _owned(x, G)
    x.backward(G)  # .grad exists: added into in place, the caller's array only read
    np.testing.assert_array_equal(x.grad, 2 * G0)
    _untouched(G, G0)
    _owned(x, G)
    if how in ("c", "fortran", "strided"):
        assert _np(G).flags.writeable  # the read-only flag is the engine's view's alone


@pytest.mark.parametrize("how", LAYOUTS)
def test_add_sends_the_root_to_both_leaves_each_gets_its_own_grad(how):
    G0 = _arr(4, 6)
    G = _layout(G0, how)
    a = dg.tensor(_arr(4, 6), requires_grad=True)
    b = dg.tensor(_arr(4, 6), requires_grad=True)
    y = a + b
    y.backward(G, retain_graph=True)
    y.backward(G)
    for t in (a, b):
        np.testing.assert_array_equal(t.grad, 2 * G0)
        _owned(t, G)
    assert not np.shares_memory(a.grad, b.grad)
    _untouched(G, G0)


@pytest.mark.parametrize("how", LAYOUTS)
def test_views_of_the_root_reach_leaves_as_copies(how):
    """reshape / transpose / index pass views of the root gradient on: each .grad a copy."""
    G0 = _arr(6, 4)
    G = _layout(G0, how)
    xt = torch.tensor(_arr(4, 6), requires_grad=True)
    x = dg.tensor(xt.detach().numpy(), requires_grad=True)
    for lib, t in ((dg, x), (torch, xt)):
        y = t.T.reshape(6, 4) if lib is dg else t.T.reshape(6, 4)
        y.backward(G if lib is dg else torch.tensor(G0))
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    _owned(x, G)
    _untouched(G, G0)


@pytest.mark.parametrize("how", LAYOUTS)
def test_retain_grad_on_the_root_is_a_copy(how):
    G0 = _arr(5, 3)
    G = _layout(G0, how)
    x = dg.tensor(_arr(5, 3), requires_grad=True)
    y = x * 2.0
    y.retain_grad()
    y.backward(G, retain_graph=True)
    np.testing.assert_array_equal(y.grad, G0)
    _owned(y, G)
    y.backward(G)
    np.testing.assert_array_equal(y.grad, 2 * G0)
    np.testing.assert_array_equal(x.grad, 4 * G0)
    _untouched(G, G0)
    _owned(y, G)


@pytest.mark.parametrize("leaf_root", [False, True])
@pytest.mark.parametrize("how", LAYOUTS)
def test_hook_changing_its_gradient_in_place_leaves_the_caller_alone(how, leaf_root):
    G0 = _arr(3, 4)
    G = _layout(G0, how)
    res = {}
    for lib in (dg, torch):
        x = lib.tensor(_arr(3, 4) if lib is dg else res["x0"], requires_grad=True)
        res.setdefault("x0", x.detach().numpy().copy())
        y = x if leaf_root else x * 1.5
        y.register_hook(lambda g: g.mul_(3.0))
        y.backward(G if lib is dg else torch.tensor(G0))
        res[lib] = _np(x.grad) if lib is dg else x.grad.numpy()
    np.testing.assert_allclose(res[dg], res[torch], rtol=1e-6)
    _untouched(G, G0)


@pytest.mark.parametrize("how", LAYOUTS)
def test_hook_returning_its_gradient_or_keeping_it_shares_nothing_with_the_caller(how):
    G0 = _arr(2, 7)
    G = _layout(G0, how)
    seen = []
    x = dg.tensor(_arr(2, 7), requires_grad=True)
    y = x + 0.0

    def keep(g):
        seen.append(g)
        return g  # the same Tensor: it becomes the gradient sent on

    y.register_hook(keep)
    x.register_hook(keep)
    y.backward(G)
    np.testing.assert_array_equal(x.grad, G0)
    assert len(seen) == 2
    for s in seen:
        assert not np.shares_memory(s.data, _np(G))
    _owned(x, G)
    seen[0].data[...] = 7.0  # the hook's array is its own: writing it changes nothing else
    _untouched(G, G0)
    np.testing.assert_array_equal(x.grad, G0)


def test_hook_returning_a_modified_array_is_used_and_the_caller_is_untouched():
    G0 = _arr(4)
    G = G0.copy()
    x = dg.tensor(_arr(4), requires_grad=True)
    y = x * 1.0
    y.register_hook(lambda g: g.numpy() * 2.0)
    y.backward(G)
    np.testing.assert_array_equal(x.grad, 2 * G0)
    _untouched(G, G0)


def test_node_post_hook_on_the_root_sees_it_and_cannot_change_it():
    G0 = _arr(3, 3)
    G = G0.copy()
    x = dg.tensor(_arr(3, 3), requires_grad=True)
    y = x * 2.0
    seen = {}

    def post(gi, go):
        seen["go"] = go[0].numpy().copy()
        return (gi[0] * 0.5, None)  # x * 2.0: two inputs, the constant's None

    y.grad_fn.register_hook(post)
    y.backward(G)
    np.testing.assert_array_equal(seen["go"], G0)
    np.testing.assert_allclose(x.grad, G0, rtol=1e-6)  # 2 G, halved by the hook
    _untouched(G, G0)


@pytest.mark.parametrize("how", LAYOUTS)
def test_create_graph_grads_do_not_alias_the_caller(how):
    G0 = _arr(3, 4)
    G = _layout(G0, how)
    x = dg.tensor(_arr(3, 4), requires_grad=True)
    x.backward(G, create_graph=True)  # root == leaf
    np.testing.assert_array_equal(_grad(x), G0)
    _owned(x, G)
    a = dg.tensor(_arr(3, 4), requires_grad=True)
    y = a.reshape(4, 3).reshape(3, 4)
    y.backward(G, create_graph=True)
    np.testing.assert_array_equal(_grad(a), G0)
    _owned(a, G)
    _untouched(G, G0)


def test_create_graph_double_backward_through_the_root_gradient_matches_torch():
    x0, G0 = _arr(5), _arr(5)
    out = {}
    for lib in (dg, torch):
        x = lib.tensor(x0, requires_grad=True)
        G = G0.copy() if lib is dg else torch.tensor(G0)
        y = x * x
        (gx,) = lib.autograd.grad(y, x, G, create_graph=True)
        (gx * gx).sum().backward()
        out[lib] = (_np(gx.detach()), _np(x.grad) if lib is dg else x.grad.numpy())
        if lib is dg:
            _untouched(G, G0)
    for a, b in zip(out[dg], out[torch]):
        np.testing.assert_allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize("how", LAYOUTS)
def test_autograd_grad_results_are_copies(how):
    G0 = _arr(4, 2)
    G = _layout(G0, how)
    x = dg.tensor(_arr(4, 2), requires_grad=True)
    y = x + 1.0
    gy, gx = dg.autograd.grad(y, [y, x], G)
    for r in (gy, gx):
        np.testing.assert_array_equal(r.numpy(), G0)
        assert not np.shares_memory(r.data, _np(G))
    assert not np.shares_memory(gx.data, gy.data)
    (gx2,) = dg.autograd.grad(x, x, G)  # root == input
    np.testing.assert_array_equal(gx2.numpy(), G0)
    assert not np.shares_memory(gx2.data, _np(G))
    gx2.data[...] = 0.0
    _untouched(G, G0)


@pytest.mark.parametrize("how", LAYOUTS)
def test_backward_inputs_and_several_roots_copy_the_caller_gradients(how):
    G0, H0 = _arr(3, 2), _arr(3, 2)
    G, H = _layout(G0, how), _layout(H0, how)
    x = dg.tensor(_arr(3, 2), requires_grad=True)
    w = dg.tensor(_arr(3, 2), requires_grad=True)
    y = x + w
    y.backward(G, inputs=[x], retain_graph=True)
    np.testing.assert_array_equal(x.grad, G0)
    assert w.grad is None
    _owned(x, G)
    dg.autograd.backward([x, y], [G, H])  # a leaf root and an interior one
    np.testing.assert_allclose(x.grad, G0 + (G0 + H0), rtol=1e-6)
    np.testing.assert_array_equal(w.grad, H0)
    _owned(x, G)
    _owned(w, H)
    _untouched(G, G0)
    _untouched(H, H0)


@pytest.mark.parametrize(
    "G0",
    [np.array(2.5, np.float32), np.float32(2.5), np.array(2.5, np.float64), 2.5],
    ids=["0d", "npscalar", "0d-f64", "float"],
)
def test_zero_d_root_gradients(G0):
    x = dg.tensor(_arr(4), requires_grad=True)
    s = x.sum()
    s.retain_grad()
    G = np.array(G0, copy=True) if isinstance(G0, np.ndarray) else G0
    s.backward(G)
    np.testing.assert_array_equal(x.grad, np.full(4, 2.5, np.float32))
    assert isinstance(s.grad, np.ndarray) and s.grad.shape == () and s.grad.dtype == np.float32
    assert float(s.grad) == 2.5
    if isinstance(G, np.ndarray):
        assert not np.shares_memory(s.grad, G)
        assert float(G) == 2.5
    x0 = dg.tensor(np.float32(1.0), requires_grad=True)  # a 0-d leaf root
    x0.backward(G)
    x0.backward(G)
    assert float(x0.grad) == 5.0 and x0.grad.shape == ()


def test_float64_gradient_for_a_float32_root_is_cast():
    G0 = _arr(3, 3, dtype=np.float64)
    G = G0.copy()
    x = dg.tensor(_arr(3, 3), requires_grad=True)
    x.backward(G)
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, G0.astype(np.float32))
    (x * 2.0).backward(G)
    np.testing.assert_array_equal(x.grad, 3 * G0.astype(np.float32))
    _untouched(G, G0)


def test_broadcast_gradient_array_is_read_not_written():
    """A stride-0 gradient (np.broadcast_to) is used as it is: the grads are full arrays."""
    G = np.broadcast_to(np.float32(1.5), (4, 5))
    x = dg.tensor(_arr(4, 5), requires_grad=True)
    w = dg.tensor(_arr(4, 5), requires_grad=True)
    (x * w + x).backward(G)
    # 1.5 w + 1.5 against 1.5 (w + 1): an ulp of 1.5 apart where w is near -1 (atol)
    np.testing.assert_allclose(x.grad, 1.5 * (w.data + 1), rtol=1e-6, atol=1e-6)
    x.backward(G)
    np.testing.assert_allclose(x.grad, 1.5 * (w.data + 2), rtol=1e-6, atol=1e-6)
    assert x.grad.flags.writeable and x.grad.strides != (0, 0)


def test_wrong_gradient_shape_or_device_still_raises():
    x = dg.tensor(_arr(3, 4), requires_grad=True)
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(_arr(4, 3))
    with pytest.raises(ValueError, match="shape"):
        x.backward(_arr(3, 4, dtype=np.float64)[:, :3])
    with pytest.raises(RuntimeError, match="grad can be implied only"):
        (x * 2.0).backward()


def test_kept_grad_accumulation_reads_the_root_gradient():
    """F.linear's dW accumulates straight into a kept .grad (beta = 1): the root only read."""
    G0 = _arr(8, 5)
    G = G0.copy()
    xs, ws = _arr(8, 6), _arr(5, 6)
    x, w = dg.tensor(xs, requires_grad=True), dg.tensor(ws, requires_grad=True)
    xt, wt = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    for _ in range(2):
        F.linear(x, w).backward(G)
        torch.nn.functional.linear(xt, wt).backward(torch.tensor(G0))
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    _untouched(G, G0)


OPS = {
    "relu": lambda m, x: m.relu(x),
    "softmax": lambda m, x: m.softmax(x, dim=1),
    "sum1": lambda m, x: x.sum(1),
    "split_cat": lambda m, x: m.cat(list(reversed(m.split(x, 2, dim=1))), 1),
    "stack": lambda m, x: m.stack([x, x * 2.0, m.flip(x, (0,))], 1),
    "triu": lambda m, x: m.triu(x, 1),
    "tril": lambda m, x: m.tril(x, -1),
    "repeat": lambda m, x: x.repeat(2, 1),
    "roll": lambda m, x: m.roll(x, 2, 1),
    "flip": lambda m, x: m.flip(x, (0,)),
    "index": lambda m, x: x[1:, ::2],
    "matmul": lambda m, x: x @ x.T,
    "clamp": lambda m, x: m.clamp(x, -0.5, 0.5),
    "unbind": lambda m, x: m.stack(m.unbind(x, 1)[::-1], 0),
}


@pytest.mark.parametrize("how", ["c", "fortran", "strided", "readonly"])
@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
def test_ops_at_the_root_match_torch_and_leave_the_gradient_alone(op, how):
    x0 = _arr(5, 7)
    xt = torch.tensor(x0, requires_grad=True)
    yt = op(torch, xt)
    G0 = _arr(*yt.shape)
    yt.backward(torch.tensor(G0))
    x = dg.tensor(x0, requires_grad=True)
    G = _layout(G0, how)
    y = op(dg, x)
    y.backward(G)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    _untouched(G, G0)
    _owned(x, G)


# ---- 2. pieces of a leaf add into one buffer ---------------------------------------------


def _torch_grad(f, x0, G0):
    xt = torch.tensor(x0, requires_grad=True)
    f(torch, xt).backward(torch.tensor(G0))
    return xt.grad.numpy()


PIECES = {
    "split_cat": lambda m, x: m.cat(list(reversed(m.split(x, 3, dim=1))), 1),
    "chunk_dim0": lambda m, x: m.cat([c * (i + 1.0) for i, c in enumerate(m.chunk(x, 3, 0))], 0),
    "unbind_stack": lambda m, x: m.stack([r * 2.0 for r in m.unbind(x, 0)], 1),
    "rows_loop": lambda m, x: m.stack([x[i] * (i + 1.0) for i in range(x.shape[0])], 0),
    "pieces_and_whole": lambda m, x: m.cat(m.split(x, 2, 1), 1) + x * 3.0,
    "whole_and_pieces": lambda m, x: x * 3.0 + m.cat(m.split(x, 2, 1), 1),
    "overlapping_slices": lambda m, x: m.cat([x[:, :4], x[:, 2:]], 1),
}


@pytest.mark.parametrize("f", list(PIECES.values()), ids=list(PIECES))
def test_pieces_of_a_leaf_match_torch(f):
    x0 = _arr(5, 8)
    G0 = _arr(*f(torch, torch.tensor(x0)).shape)
    ref = _torch_grad(f, x0, G0)
    x = dg.tensor(x0, requires_grad=True)
    f(dg, x).backward(G0)
    np.testing.assert_allclose(x.grad, ref, rtol=1e-6, atol=1e-6)
    assert x.grad.flags.c_contiguous and x.grad.flags.writeable
    old = x.grad
    f(dg, x).backward(G0)  # into the existing .grad, in place
    assert x.grad is old
    np.testing.assert_allclose(x.grad, 2 * ref, rtol=1e-6, atol=1e-6)


def test_pieces_of_a_leaf_with_a_hook_and_retained_graph():
    x0 = _arr(4, 6)
    G0 = _arr(4, 6)
    f = PIECES["split_cat"]
    ref = _torch_grad(f, x0, G0)
    calls = []
    x = dg.tensor(x0, requires_grad=True)
    x.register_hook(lambda g: calls.append(g.numpy().copy()))
    y = f(dg, x)
    y.backward(G0, retain_graph=True)
    y.backward(G0)
    assert len(calls) == 2  # once per backward, on the complete gradient
    for c in calls:
        np.testing.assert_allclose(c, ref, rtol=1e-6)
    np.testing.assert_allclose(x.grad, 2 * ref, rtol=1e-6)


@pytest.mark.parametrize("first", [False, True])
def test_pieces_gradient_shown_to_a_node_hook_is_not_written_afterwards(first):
    """A piece's node post-hook sees the leaf's gradient so far (the shared buffer); a later
    piece adds into a copy, not into the array the hook may keep."""
    x = dg.tensor(_arr(2, 6), requires_grad=True)
    a, b = x.split(3, 1)
    pa = a * 1.0
    pb = b * 1.0
    kept = {}

    def post(gi, go):
        kept["arr"] = gi[0].data
        kept["copy"] = gi[0].numpy().copy()

    pa.grad_fn.next_functions[0][0].register_hook(post)  # a's node: its gi is x's gradient
    G0 = _arr(2, 6)
    if first:  # either order of the two pieces' nodes in the walk
        dg.cat([pa, pb], 1).backward(G0)
        want = G0
    else:
        dg.cat([pb, pa], 1).backward(G0)
        want = np.concatenate([G0[:, 3:], G0[:, :3]], 1)
    np.testing.assert_array_equal(kept["arr"], kept["copy"])
    np.testing.assert_array_equal(x.grad, want)


def test_pieces_through_autograd_grad_and_inputs():
    x0, G0 = _arr(6, 4), _arr(6, 4)
    f = PIECES["chunk_dim0"]
    ref = _torch_grad(f, x0, G0)
    x = dg.tensor(x0, requires_grad=True)
    (g,) = dg.autograd.grad(f(dg, x), x, G0)
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-6)
    assert x.grad is None
    f(dg, x).backward(G0, inputs=[x])
    np.testing.assert_allclose(x.grad, ref, rtol=1e-6)
    assert not np.shares_memory(x.grad, g.data)


def test_pieces_of_a_leaf_shared_by_two_threads():
    x0 = _arr(64, 32)
    f = PIECES["split_cat"]
    G0 = _arr(64, 32)
    ref = _torch_grad(f, x0, G0)
    x = dg.tensor(x0, requires_grad=True)
    n, rounds = 2, 20
    errors = []

    def run():
        try:
            for _ in range(rounds):
                f(dg, x).backward(G0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(x.grad, n * rounds * ref, rtol=1e-5, atol=1e-5)


def test_piece_outside_a_backward_goes_to_grad():
    x = dg.tensor(_arr(3, 4), requires_grad=True)
    x._accumulate_at((slice(None), slice(1, 3)), np.ones((3, 2), np.float32))
    want = np.zeros((3, 4), np.float32)
    want[:, 1:3] = 1
    np.testing.assert_array_equal(x.grad, want)
    x._accumulate_at((0,), np.full(4, 2.0, np.float32))
    want[0] += 2
    np.testing.assert_array_equal(x.grad, want)


# ---- 3. stack: one node --------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (0, 2), (2, 1)])
def test_stack_matches_torch(shape, dim):
    arrs = [_arr(*shape) for _ in range(3)]
    G0 = None
    res = {}
    for lib in (dg, torch):
        ts = [lib.tensor(a, requires_grad=i != 1) for i, a in enumerate(arrs)]
        y = lib.stack(ts, dim)
        if G0 is None:
            G0 = _arr(*y.shape)
        y.backward(torch.tensor(G0) if lib is torch else G0)
        res[lib] = (_np(y.detach()), [_np(t.grad) if t.grad is not None else None for t in ts])
    np.testing.assert_array_equal(res[dg][0], res[torch][0])
    for a, b in zip(res[dg][1], res[torch][1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_stack_is_one_node_with_an_edge_per_input():
    a = dg.tensor(_arr(2, 3), requires_grad=True)
    b = dg.tensor(_arr(2, 3))
    c = a * 2.0
    y = dg.stack([a, b, c, a], 1)
    assert y.grad_fn.name() == "stack"
    nf = y.grad_fn.next_functions
    assert len(nf) == 4 and nf[1] == (None, 0)
    assert nf[0][0].variable is a and nf[3][0].variable is a
    G0 = _arr(2, 4, 3)
    y.backward(G0)
    np.testing.assert_allclose(a.grad, G0[:, 0] + G0[:, 3] + 2 * G0[:, 2], rtol=1e-6)
    assert b.grad is None


def test_stack_of_0d_tensors_and_mixed_dtypes_matches_torch():
    vals = [1.5, -2.0, 3.25]
    res = {}
    for lib in (dg, torch):
        ts = [lib.tensor(v, requires_grad=True) for v in vals]
        y = lib.stack(ts)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        res[lib] = (_np(y.detach()), [float(t.grad) for t in ts])
    np.testing.assert_array_equal(res[dg][0], res[torch][0])
    assert res[dg][1] == res[torch][1]
    a64 = dg.tensor(_arr(3, dtype=np.float64), requires_grad=True)
    a32 = dg.tensor(_arr(3), requires_grad=True)
    y = dg.stack([a32, a64])
    yt = torch.stack([torch.tensor(a32.numpy()), torch.tensor(a64.numpy())])
    assert y.dtype == np.float64 and str(yt.dtype) == "torch.float64"
    y.backward(np.ones((2, 3)))
    assert a32.grad.dtype == np.float32 and a64.grad.dtype == np.float64


def test_stack_double_backward_matches_torch():
    arrs = [_arr(4) for _ in range(3)]
    res = {}
    for lib in (dg, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in arrs]
        y = lib.stack([t * t for t in ts], 0)
        gs = lib.autograd.grad((y**3).sum(), ts, create_graph=True)
        sum(g.sum() for g in gs).backward()
        res[lib] = [_np(g.detach()) for g in gs] + [_np(t.grad) for t in ts]
    for a, b in zip(res[dg], res[torch]):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_stack_errors_match_torch_kinds():
    with pytest.raises(RuntimeError, match="equal size"):
        dg.stack([dg.tensor(_arr(2, 3)), dg.tensor(_arr(3, 2))])
    with pytest.raises(RuntimeError):
        dg.stack([])
    with pytest.raises(IndexError):
        dg.stack([dg.tensor(_arr(2, 3))], 3)


# ---- 4. triu / tril ---------------------------------------------------------------------


TRI_SHAPES = [(1, 1), (4, 7), (7, 4), (130, 70), (70, 130), (3, 33, 40), (2, 3, 65, 64),
              (5, 8, 8), (0, 5), (3, 0, 4), (200, 3)]  # fmt: skip


@pytest.mark.parametrize("shape", TRI_SHAPES)
@pytest.mark.parametrize("name", ["triu", "tril"])
def test_triangle_matches_torch_forward_and_backward(name, shape):
    x0 = _arr(*shape)
    m, n = shape[-2:]
    for k in sorted({0, 1, -1, 3, -3, n, -m, n + 2, -m - 2, 40, -40}):
        xt = torch.tensor(x0, requires_grad=True)
        yt = getattr(torch, name)(xt, k)
        G0 = _arr(*shape)
        yt.backward(torch.tensor(G0))
        x = dg.tensor(x0, requires_grad=True)
        y = getattr(dg, name)(x, k)
        G = _layout(G0, "strided")
        y.backward(G)
        np.testing.assert_array_equal(y.detach().numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(x.grad, xt.grad.numpy())
        assert y.data.flags.c_contiguous
        _untouched(G, G0)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.bool_, np.uint8])
@pytest.mark.parametrize("name", ["triu", "tril"])
def test_triangle_dtypes_and_non_contiguous_inputs(name, dtype):
    base = (rng.standard_normal((3, 150, 90)) * 5).astype(dtype)
    for x0 in (base, base.transpose(0, 2, 1), base[:, ::2, 1:]):
        for k in (0, 2, -5):
            got = getattr(dg, name)(dg.tensor(x0), k).numpy()
            want = getattr(torch, name)(torch.tensor(np.ascontiguousarray(x0)), k).numpy()
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_triangle_zeroes_inf_and_nan_outside_the_triangle():
    x0 = np.full((100, 100), np.inf, np.float32)
    x0[50:, :10] = np.nan
    for name in ("triu", "tril"):
        got = getattr(dg, name)(dg.tensor(x0), 3).numpy()
        want = getattr(torch, name)(torch.tensor(x0), 3).numpy()
        np.testing.assert_array_equal(got, want)


def test_triangle_in_place_and_double_backward():
    x0 = _arr(70, 70)
    for name in ("triu", "tril"):
        t = dg.tensor(x0.copy())
        getattr(t, name + "_")(2)
        np.testing.assert_array_equal(t.numpy(), getattr(np, name)(x0, 2))
        res = {}
        for lib in (dg, torch):
            x = lib.tensor(x0, requires_grad=True)
            loss = (getattr(lib, name)(x * x, -1) ** 2).sum()
            (g,) = lib.autograd.grad(loss, x, create_graph=True)
            (g * g).sum().backward()
            res[lib] = (_np(g.detach()), _np(x.grad))
        for a, b in zip(res[dg], res[torch]):
            np.testing.assert_allclose(a, b, rtol=1e-4)


def test_custom_function_backward_may_write_into_its_gradient():
    """A Function's backward may write into the gradient it gets (torch allows it): a read-only
    one (the caller's root gradient, a sum's broadcast) is copied first; the caller's array
    keeps its values."""
    from deltagrad.autograd import Function

    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            g *= 2
            return g

    x = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    root = np.arange(3, dtype=np.float32)
    Double.apply(x).backward(root)
    np.testing.assert_array_equal(x.grad, [0, 2, 4])
    np.testing.assert_array_equal(root, [0, 1, 2])
    y = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    Double.apply(y).sum().backward()
    np.testing.assert_array_equal(y.grad, [2, 2, 2])
