"""A leaf's first .grad may be a view of its pieces' gradient (round 44, _engine._take): the
views stack's and cat's backward hand their inputs are kept, not copied, as torch's
AccumulateGrad keeps them, when nothing else holds the array they view and no other kept view
overlaps them. Whatever is kept by reference, no two .grads may share memory, and neither may
a .grad and the caller's gradient array."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _engine


def _leaves(k, shape=(5, 7), seed=0):
    rng = np.random.default_rng(seed)
    return [dg.tensor(rng.standard_normal(shape), requires_grad=True) for _ in range(k)]


def _grads_disjoint(ts):
    for i, a in enumerate(ts):
        for b in ts[i + 1 :]:
            assert not np.shares_memory(a.grad, b.grad)


@pytest.mark.parametrize("join", ["stack", "cat"])
def test_pieces_keep_views_of_one_fresh_gradient(join):
    ts = _leaves(4)
    y = dg.stack(ts) if join == "stack" else dg.cat(ts)
    (y * y).sum().backward()
    for t in ts:
        np.testing.assert_allclose(t.grad, 2 * t.data, rtol=1e-12)
        assert t.grad.base is not None and t.grad.flags.writeable  # kept, not copied
    _grads_disjoint(ts)
    ts[0].grad *= 0.0  # in place, as an optimizer or clipping would: the others unchanged
    for t in ts[1:]:
        np.testing.assert_allclose(t.grad, 2 * t.data, rtol=1e-12)
    y = dg.stack(ts) if join == "stack" else dg.cat(ts)
    (y * y).sum().backward()  # accumulates into the kept views
    np.testing.assert_allclose(ts[0].grad, 2 * ts[0].data, rtol=1e-12)
    for t in ts[1:]:
        np.testing.assert_allclose(t.grad, 4 * t.data, rtol=1e-12)


@pytest.mark.parametrize("order", ["leaf_first", "pieces_first"])
def test_a_gradient_sent_whole_and_in_pieces_is_not_shared(order):
    """add sends one array to a leaf (whole) and to stack (which slices it for a, b): the leaf
    and the pieces must not end up sharing it, whichever takes it first."""
    a, b = _leaves(2, seed=1)
    c = _leaves(1, shape=(2, 5, 7), seed=2)[0]
    y = dg.stack([a, b])
    z = c + y if order == "leaf_first" else y + c
    (z * z).sum().backward()
    zz = 2 * (c.data + np.stack([a.data, b.data]))
    np.testing.assert_allclose(c.grad, zz, rtol=1e-12)
    np.testing.assert_allclose(a.grad, zz[0], rtol=1e-12)
    np.testing.assert_allclose(b.grad, zz[1], rtol=1e-12)
    _grads_disjoint([a, b, c])
    c.grad[...] = 0.0
    np.testing.assert_allclose(a.grad, zz[0], rtol=1e-12)


def test_the_callers_gradient_is_never_kept():
    ts = _leaves(3)
    y = dg.stack(ts)
    G = np.random.default_rng(3).standard_normal(y.shape)
    G0 = G.copy()
    y.backward(G)
    for i, t in enumerate(ts):
        np.testing.assert_array_equal(t.grad, G0[i])
        assert not np.shares_memory(t.grad, G)
        t.grad += 1.0
    np.testing.assert_array_equal(G, G0)


def test_the_same_leaf_twice_sums():
    (a,) = _leaves(1)
    y = dg.stack([a, a, a])
    (y * y).sum().backward()
    np.testing.assert_allclose(a.grad, 6 * a.data, rtol=1e-12)


def test_hooked_leaf_and_retained_pieces():
    a, b = _leaves(2, seed=4)
    seen = []
    a.register_hook(lambda g: seen.append(g.data.copy() if hasattr(g, "data") else g))
    y = dg.stack([a, b])
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(a.grad, 2 * a.data, rtol=1e-12)
    np.testing.assert_allclose(b.grad, 2 * b.data, rtol=1e-12)
    assert len(seen) == 1
    assert not np.shares_memory(b.grad, y.grad)  # y's retained gradient is handed whole
    assert not np.shares_memory(a.grad, y.grad)


def test_overlapping_views_are_copied():
    base = np.arange(40.0).reshape(8, 5)
    handed, claims = set(), {}
    v1 = _engine._take(base[0:4], handed, claims)
    v2 = _engine._take(base[2:6], handed, claims)  # overlaps v1: a copy
    v3 = _engine._take(base[4:8], handed, claims)  # disjoint from v1: kept
    w = _engine._take(base, handed, claims)  # the array itself, now handed: a copy
    assert np.shares_memory(v1, base) and np.shares_memory(v3, base)
    assert not np.shares_memory(v2, base) and not np.shares_memory(w, base)
    np.testing.assert_array_equal(v2, base[2:6])
    strided = _engine._take(base[:, 1], set(), {})  # not contiguous: a copy
    assert not np.shares_memory(strided, base)
    ro = base[0:2]
    ro.flags.writeable = False
    assert not np.shares_memory(_engine._take(ro, set(), {}), base)
    ms = _engine._take(np.zeros(6)[1:4], set(), {})  # fresh base: kept
    assert ms.base is not None


def test_a_handed_array_lends_no_views():
    base = np.ones((4, 3))
    handed = {id(base)}  # a hook saw it, or a leaf took it whole
    v = _engine._take(base[0:2], handed, {})
    assert not np.shares_memory(v, base)
