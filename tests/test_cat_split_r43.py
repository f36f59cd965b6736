"""split / chunk / unbind / split_with_sizes, cat and stack against torch (round 43): values
and gradients for every dim, negative dims, odd sizes, empty and single pieces, mixed
requires_grad, a tensor given twice, pieces and wholes used elsewhere, hooks, retain_grad,
autograd.grad, double backward and in-place changes after the op, in float32 and float64.

The pieces of one tensor send their gradients into one array: the first piece to run in a
plain backward takes its siblings' waiting gradients (tensor._pieces), so these tests also
check that no gradient is lost or counted twice whichever order the pieces run in, and that
a sibling whose gradient must be seen whole (a hook, retain_grad, an input of grad()) keeps
it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deltagrad as dg

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _arr(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _both(f, arrays, dtype, needs=None, seed=1):
    """f(lib, *tensors) in deltagrad and torch, backward with one random gradient: (outputs,
    grads) per library, the outputs as a list, a grad None where the tensor got none."""
    res = {}
    G = None
    for lib in (dg, torch):
        ts = [
            lib.tensor(a.copy(), requires_grad=True if needs is None else needs[i])
            for i, a in enumerate(arrays)
        ]
        out = f(lib, *ts)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        root = lib.cat([o.reshape(-1) for o in outs]) if len(outs) > 1 else outs[0]
        if G is None:
            G = np.random.default_rng(seed).standard_normal(tuple(root.shape)).astype(dtype)
        if root.requires_grad:
            root.backward(torch.tensor(G) if lib is torch else G)
        res[lib] = (
            [_np(o) for o in outs],
            [None if t.grad is None else _np(t.grad) for t in ts],
        )
    return res[dg], res[torch]


def _check(f, arrays, dtype, needs=None):
    (od, gd), (ot, gt) = _both(f, arrays, dtype, needs)
    assert len(od) == len(ot)
    for a, b in zip(od, ot):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype])
    for i, (a, b) in enumerate(zip(gd, gt)):
        assert (a is None) == (b is None), f"grad {i}: {a is None} vs {b is None}"
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, f"grad {i}"
            np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype], err_msg=f"{i}")


def _weighted(lib, parts):
    """Each piece times its own weight: each gets a different gradient from its own node."""
    return [p * (i + 1.5) for i, p in enumerate(parts)]


SHAPE = (5, 7, 3)
DIMS = [0, 1, 2, -1, -2, -3]


# ---- split / chunk / unbind / split_with_sizes ---------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 9])
def test_split_then_cat_reversed_matches_torch(size, dim, dtype):
    x = _arr(np.random.default_rng(0), SHAPE, dtype)
    _check(lambda m, t: m.cat(list(reversed(m.split(t, size, dim))), dim), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
def test_split_pieces_each_weighted_match_torch(dim, dtype):
    x = _arr(np.random.default_rng(1), SHAPE, dtype)
    _check(lambda m, t: _weighted(m, m.split(t, 2, dim)), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sizes", [[0, 3, 0, 4], [7], [1, 6], [0, 7], [2, 2, 3], [7, 0], [1, 1, 1, 1, 1, 1, 1]]
)
def test_split_sizes_with_empty_and_single_pieces_match_torch(sizes, dtype):
    x = _arr(np.random.default_rng(2), SHAPE, dtype)
    _check(lambda m, t: m.cat(list(reversed(m.split(t, sizes, 1))), 1), [x], dtype)
    _check(lambda m, t: _weighted(m, t.split_with_sizes(sizes, -2)), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 8])
def test_chunk_matches_torch(chunks, dim, dtype):
    x = _arr(np.random.default_rng(3), SHAPE, dtype)
    _check(lambda m, t: m.cat(list(reversed(t.chunk(chunks, dim))), dim), [x], dtype)
    _check(lambda m, t: _weighted(m, t.chunk(chunks, dim)), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pieces_of_an_empty_dim_match_torch(dtype):
    x = np.zeros((3, 0, 2), dtype)
    _check(lambda m, t: m.cat(t.chunk(3, 1), 1), [x], dtype)
    _check(lambda m, t: m.cat(m.split(t, 2, 1), 1), [x], dtype)
    _check(lambda m, t: list(t.split([0, 0], 1)), [x], dtype)
    assert len(dg.tensor(x).unbind(1)) == 0 == len(torch.tensor(x).unbind(1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
def test_unbind_matches_torch(dim, dtype):
    x = _arr(np.random.default_rng(4), SHAPE, dtype)
    _check(lambda m, t: m.stack(list(reversed(t.unbind(dim))), dim), [x], dtype)
    _check(lambda m, t: _weighted(m, t.unbind(dim)), [x], dtype)
    _check(lambda m, t: _weighted(m, t[:, :1].unbind(1)), [x], dtype)  # a single piece


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_some_pieces_used_match_torch(dtype):
    x = _arr(np.random.default_rng(5), (6, 9), dtype)
    _check(lambda m, t: m.cat([m.split(t, 2, 1)[3], m.split(t, 2, 1)[0]], 1), [x], dtype)
    _check(lambda m, t: t.chunk(3, 0)[1] * 2.0, [x], dtype)
    _check(lambda m, t: t.unbind(1)[8] * 3.0 + t.unbind(1)[2], [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_piece_used_twice_and_the_whole_used_too_match_torch(dtype):
    x = _arr(np.random.default_rng(6), (4, 6), dtype)

    def pieces_twice(m, t):
        a, b, c = t.split(2, 1)
        return m.cat([a, b, a, c * 2.0, b], 1)

    def whole_between(m, t):
        a, b = t.chunk(2, 0)
        return m.cat([b, t * 3.0, a], 0)

    def piece_also_elsewhere(m, t):  # b gets a gradient from cat and one from the product
        a, b, c = t.unbind(1)[:3]
        return m.stack([c, b, a], 0) * (b * b).sum()

    for f in (pieces_twice, whole_between, piece_also_elsewhere):
        _check(f, [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pieces_of_an_interior_node_and_a_leaf_used_elsewhere_match_torch(dtype):
    rng = np.random.default_rng(7)
    x, w = _arr(rng, (6, 5), dtype), _arr(rng, (6, 5), dtype)

    def f(m, t, v):
        y = t * v  # pieces of an interior node
        parts = y.split([2, 1, 3], 0)
        z = m.cat([parts[2], parts[0], parts[1]], 0)
        return z * t + y.sum(0, keepdim=True)  # t and y also used whole

    _check(f, [x, w], dtype)
    _check(f, [x, w], dtype, needs=[True, False])


def test_second_backward_adds_into_the_grad_and_owns_it():
    rng = np.random.default_rng(8)
    x0, G = _arr(rng, (8, 12), np.float32), _arr(rng, (8, 12), np.float32)
    G1 = G.copy()
    ref = np.concatenate([G[:, 9:], G[:, 6:9], G[:, 3:6], G[:, :3]], 1)
    x = dg.tensor(x0, requires_grad=True)
    for k in (1, 2):
        dg.cat(list(reversed(x.split(3, 1))), 1).backward(G)
        np.testing.assert_array_equal(x.grad, k * ref)
        assert x.grad.flags.c_contiguous and x.grad.flags.writeable
        assert not np.shares_memory(x.grad, G)
    np.testing.assert_array_equal(G, G1)  # the caller's gradient is left alone


def test_retain_graph_backward_twice_matches_torch():
    rng = np.random.default_rng(9)
    x0, G = _arr(rng, (5, 6), np.float64), _arr(rng, (5, 6), np.float64)
    grads = []
    for m in (dg, torch):
        x = m.tensor(x0, requires_grad=True)
        y = m.cat(list(reversed(x.chunk(3, 1))), 1) * 2.0
        g = torch.tensor(G) if m is torch else G
        y.backward(g, retain_graph=True)
        y.backward(g)
        grads.append(_np(x.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


# ---- the siblings whose gradient must stay whole -------------------------------------------


def _pieces_case(m, x, hook_on, kind):
    """cat of the pieces reversed, the middle piece also squared and summed; the piece
    `hook_on` gets a tensor hook doubling its gradient, or retain_grad."""
    parts = list(x.split(2, 1))
    if kind == "hook":
        parts[hook_on].register_hook(lambda g: g * 2)
    else:
        parts[hook_on].retain_grad()
    return m.cat(parts[::-1], 1) + (parts[1] ** 2).sum(), parts[hook_on]


@pytest.mark.parametrize("kind", ["hook", "retain_grad"])
@pytest.mark.parametrize("hook_on", [0, 1, 2])
def test_a_hooked_or_retained_piece_sees_its_whole_gradient(hook_on, kind):
    rng = np.random.default_rng(10)
    x0, G = _arr(rng, (3, 6), np.float64), _arr(rng, (3, 6), np.float64)
    res = []
    for m in (dg, torch):
        x = m.tensor(x0, requires_grad=True)
        y, p = _pieces_case(m, x, hook_on, kind)
        y.backward(torch.tensor(G) if m is torch else G)
        res.append((_np(x.grad), None if kind == "hook" else _np(p.grad)))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    if kind == "retain_grad":
        np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)


def test_autograd_grad_of_a_piece_and_the_whole():
    rng = np.random.default_rng(11)
    x0, G = _arr(rng, (4, 6), np.float64), _arr(rng, (4, 6), np.float64)
    res = []
    for m in (dg, torch):
        x = m.tensor(x0, requires_grad=True)
        a, b, c = x.split(2, 1)
        y = m.cat([c, b, a], 1) * 3.0
        gx, gb = m.autograd.grad(y, [x, b], torch.tensor(G) if m is torch else G)
        res.append((_np(gx), _np(gb)))
        assert x.grad is None
    for u, v in zip(*res):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_backward_inputs_a_piece():
    rng = np.random.default_rng(12)
    x0, G = _arr(rng, (4, 6), np.float64), _arr(rng, (4, 6), np.float64)
    res = []
    for m in (dg, torch):
        x = m.tensor(x0, requires_grad=True)
        a, b, c = x.split(2, 1)
        y = m.cat([c, b, a], 1)
        y.backward(torch.tensor(G) if m is torch else G, inputs=[x])
        res.append(_np(x.grad))
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


def test_double_backward_through_split_and_cat_matches_torch():
    rng = np.random.default_rng(13)
    x0 = _arr(rng, (4, 6), np.float64)
    res = []
    for m in (dg, torch):
        x = m.tensor(x0, requires_grad=True)
        parts = (x * x).split(2, 1)
        y = m.stack([p.sum(1) for p in parts[::-1]], 0)
        (g,) = m.autograd.grad((y**2).sum(), x, create_graph=True)
        (g * g).sum().backward()
        res.append((_np(g), _np(x.grad)))
    for u, v in zip(*res):
        np.testing.assert_allclose(u, v, rtol=1e-10)


def test_pieces_with_no_grad_mode_or_no_requires_grad_have_no_graph():
    x = dg.tensor(np.ones((4, 2)), requires_grad=True)
    with dg.no_grad():
        parts = x.split(1, 0)
    assert all(not p.requires_grad and p.grad_fn is None for p in parts)
    parts = dg.tensor(np.ones((4, 2))).unbind(0)
    assert all(not p.requires_grad for p in parts)
    parts = x.chunk(2, 1)
    assert all(p.requires_grad and p.grad_fn.name() == "split" for p in parts)
    assert x.unbind(1)[0].grad_fn.name() == "unbind"


# ---- cat / stack ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
def test_cat_matches_torch(dim, dtype):
    rng = np.random.default_rng(14)
    shapes = []
    for n in (2, 1, 4, 0, 3):  # odd sizes along dim, one of them empty
        s = list(SHAPE)
        s[dim] = n
        shapes.append(tuple(s))
    arrays = [_arr(rng, s, dtype) for s in shapes]
    _check(lambda m, *ts: m.cat(ts, dim), arrays, dtype)
    _check(lambda m, *ts: m.cat(ts, dim), arrays, dtype, needs=[True, False, True, True, False])
    _check(lambda m, *ts: m.cat(ts[:1], dim) * 2.0, arrays, dtype)  # a single tensor


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -4])
def test_stack_matches_torch(dim, dtype):
    rng = np.random.default_rng(15)
    arrays = [_arr(rng, SHAPE, dtype) for _ in range(3)]
    _check(lambda m, *ts: m.stack(ts, dim), arrays, dtype)
    _check(lambda m, *ts: m.stack(ts, dim), arrays, dtype, needs=[False, True, False])
    _check(lambda m, *ts: m.stack(ts[1:2], dim), arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_same_tensor_twice_and_used_elsewhere_matches_torch(dtype):
    rng = np.random.default_rng(16)
    a, b = _arr(rng, (3, 4), dtype), _arr(rng, (3, 4), dtype)
    _check(lambda m, x, y: m.cat([x, x], 0), [a, b], dtype, needs=[True, False])
    _check(lambda m, x, y: m.cat([x, y, x], 1) * m.cat([y, x, y], 1), [a, b], dtype)
    _check(lambda m, x, y: m.stack([x, y, x], 1).sum(1) + x * y, [a, b], dtype)
    _check(lambda m, x, y: m.cat([x * 2.0, y], 0).sum(0) + x.sum(0), [a, b], dtype)


def test_cat_mixed_dtypes_and_the_empty_1d_tensor_match_torch():
    rng = np.random.default_rng(17)
    a32, a64 = _arr(rng, (2, 3), np.float32), _arr(rng, (2, 3), np.float64)
    for f in (
        lambda m, x, y: m.cat([x, y], 0),
        lambda m, x, y: m.stack([x, y], 2),
    ):
        res = []
        for m in (dg, torch):
            x, y = m.tensor(a32, requires_grad=True), m.tensor(a64, requires_grad=True)
            out = f(m, x, y)
            out.backward(m.ones_like(out))
            res.append((_np(out), _np(x.grad), _np(y.grad)))
        for u, v in zip(*res):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)
    res = []
    for m in (dg, torch):
        e = m.tensor(np.zeros(0, np.float32), requires_grad=True)
        x = m.tensor(a32, requires_grad=True)
        out = m.cat([e, x, e], 1)
        out.backward(m.ones_like(out))
        res.append((_np(out), _np(e.grad), _np(x.grad)))
    for u, v in zip(*res):
        assert u.shape == v.shape
        np.testing.assert_array_equal(u, v)


def test_cat_backward_of_a_writable_gradient_leaves_it_alone():
    """cat hands each input a view of its gradient: a leaf's .grad must not alias it, and a
    second backward adding in place must not change the first one's arrays."""
    rng = np.random.default_rng(18)
    a = dg.tensor(_arr(rng, (3, 4), np.float32), requires_grad=True)
    b = dg.tensor(_arr(rng, (3, 4), np.float32), requires_grad=True)
    y = dg.cat([a, b], 0) * 1.0  # the gradient reaching cat is a fresh, writable array
    y.backward(np.ones((6, 4), np.float32), retain_graph=True)
    ga = a.grad
    assert not np.shares_memory(a.grad, b.grad)
    y.backward(np.full((6, 4), 2.0, np.float32))
    assert a.grad is ga
    np.testing.assert_array_equal(a.grad, np.full((3, 4), 3.0))
    np.testing.assert_array_equal(b.grad, np.full((3, 4), 3.0))


# ---- in-place changes after the op (torch semantics) -----------------------------------------


@pytest.mark.parametrize("op", ["split", "chunk", "unbind"])
def test_in_place_on_a_piece_writes_the_base_as_torch(op):
    x0 = np.arange(12.0).reshape(3, 4)
    res = []
    for m in (dg, torch):
        x = m.tensor(x0.copy())
        parts = {"split": x.split(2, 1), "chunk": x.chunk(2, 1), "unbind": x.unbind(1)}[op]
        parts[1].mul_(10.0)
        parts[0].add_(1.0)
        res.append((_np(x).copy(), [_np(p).copy() for p in parts]))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    for u, v in zip(res[0][1], res[1][1]):
        np.testing.assert_array_equal(u, v)


def test_in_place_on_a_cat_or_stack_output_leaves_the_inputs_alone():
    for m in (dg, torch):
        a, b = m.tensor(np.ones((2, 2))), m.tensor(np.zeros((2, 2)))
        y, s = m.cat([a, b], 0), m.stack([a, b], 0)
        y.add_(5.0)
        s.mul_(3.0)
        np.testing.assert_array_equal(_np(a), np.ones((2, 2)))
        np.testing.assert_array_equal(_np(b), np.zeros((2, 2)))
        np.testing.assert_array_equal(_np(y)[:2], np.full((2, 2), 6.0))


@pytest.mark.parametrize("op", ["split", "unbind"])
def test_a_piece_changed_in_place_after_the_forward_fails_the_backward(op):
    """The pieces are views: changing one bumps the base's version, which a graph that saved
    the base notices (torch raises too)."""
    for m in (dg, torch):
        x = m.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        y = x * 1.0
        z = y * y  # saves y
        with m.no_grad():
            (y.split(1, 0) if op == "split" else y.unbind(0))[0].add_(1.0)
        with pytest.raises(RuntimeError):
            z.sum().backward()


def test_in_place_on_a_piece_or_a_cat_output_in_a_graph_raises():
    x = dg.tensor(np.ones((2, 4)), requires_grad=True)
    with pytest.raises(RuntimeError):
        x.split(2, 1)[0].mul_(2.0)  # torch: a view of a leaf that requires grad
    y = dg.cat([x, x], 0)
    with pytest.raises(RuntimeError):  # deltagrad records no graph through in-place ops
        y.add_(1.0)


# ---- bad input ------------------------------------------------------------------------------


def test_bad_input_raises_as_torch_kinds():
    x = dg.tensor(np.ones((3, 4)))
    xt = torch.ones(3, 4)
    for f, kind in (
        (lambda m, t: t.split([1, 2], 1), (ValueError, RuntimeError)),
        (lambda m, t: t.split(-1, 0), (ValueError, RuntimeError)),
        (lambda m, t: t.split(2, 2), IndexError),
        (lambda m, t: t.chunk(0, 0), (ValueError, RuntimeError)),
        (lambda m, t: t.unbind(-3), IndexError),
        (lambda m, t: t.split_with_sizes([4, -1], 1), RuntimeError),
        (lambda m, t: m.cat([t, t[:, :2]], 0), RuntimeError),
        (lambda m, t: m.cat([t, t[0]], 0), RuntimeError),
        (lambda m, t: m.cat([t], 2), IndexError),
        (lambda m, t: m.stack([t, t[:2]], 0), RuntimeError),
        (lambda m, t: m.stack([t, t], 3), IndexError),
    ):
        for m, t in ((dg, x), (torch, xt)):
            with pytest.raises(kind):
                f(m, t)


def test_pieces_are_full_graph_nodes_with_or_without_anomaly_mode():
    """The pieces are made without Tensor._make (a third of its time) unless anomaly mode
    records the forward's stack: every slot a node has is set either way."""
    x0 = np.arange(12.0).reshape(3, 4)
    slots = [s for s in dg.Tensor.__slots__ if s != "__weakref__"]
    for anomaly in (False, True):
        with dg.autograd.set_detect_anomaly(anomaly):
            x = dg.tensor(x0, requires_grad=True)
            parts = x.unbind(1)
            for p in parts:
                for s in slots:
                    assert hasattr(p, s), s
                assert p._version is x._version
                assert p.grad_fn.next_functions[0][0].variable is x
            dg.stack(parts[::-1], 1).backward(np.tile(np.arange(4.0), (3, 1)))
        np.testing.assert_array_equal(x.grad, np.tile(np.arange(4.0)[::-1], (3, 1)))
