"""Gradients through basic indexing (slices, ints, split / chunk / unbind) into an interior node:
each piece adds its gradient into one array the node owns while it collects (round 35,
Tensor._accumulate_at), not a full-size array per piece. Checked against the same sums
written with one full-size gradient, over mixes of pieces and whole-tensor uses, overlapping
slices, hooks, retain_graph and autograd.grad, where an aliasing mistake (the owned array
written after it was handed on) would show."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close


def _x(seed=0, shape=(5, 4, 3)):
    return np.random.default_rng(seed).standard_normal(shape)


def _grad(fn, x0):
    x = dg.tensor(x0, requires_grad=True)
    fn(x).backward()
    return np.asarray(x.grad)


def test_pieces_and_whole_uses_mix():
    x0 = _x()
    w = np.random.default_rng(1).standard_normal(x0.shape)

    def f(x):
        y = x * 2.0  # an interior node
        a, b, c = y.split([1, 3, 1], 0)
        parts = y.unbind(1)
        s = (a * 3).sum() + (b**2).sum() + c.sum() * 0.5
        s = s + sum((p * (i + 1)).sum() for i, p in enumerate(parts))
        s = s + (y * dg.tensor(w)).sum()  # a whole-tensor use between the pieces
        return s + y[1:4, ::2].sum() + y[2, 1, 0] * 7 + y[1:3].sum()  # overlapping slices

    want = np.zeros_like(x0)
    y0 = 2 * x0
    want[0] += 3 * 2
    want[1:4] += 2 * y0[1:4] * 2
    want[4] += 0.5 * 2
    for i in range(x0.shape[1]):
        want[:, i] += (i + 1) * 2
    want += w * 2
    want[1:4, ::2] += 2
    want[2, 1, 0] += 14
    want[1:3] += 2
    assert_close(_grad(f, x0), want, rtol=1e-12, atol=1e-12)


def test_a_piece_gradient_handed_on_by_reference_is_not_written_later():
    """add's backward hands the same array to both parents: one parent collecting slices
    must not write into an array the other parent holds."""
    x0 = _x(2, (6, 3))

    def f(x):
        y = x * 1.0
        z = y + y[::1] * 0  # y twice: the same gradient array may reach y by two routes
        parts = z.unbind(0)
        s = sum((p * (k + 1)).sum() for k, p in enumerate(parts))
        return s + (y[0:2] * 5).sum() + y.unbind(1)[2].sum()

    want = np.zeros_like(x0)
    want += np.arange(1, 7)[:, None]
    want[0:2] += 5
    want[:, 2] += 1
    assert_close(_grad(f, x0), want, rtol=1e-12, atol=1e-12)


def test_hooks_retain_grad_and_retain_graph():
    x = dg.tensor(_x(3, (4, 5)), requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(np.array(g)))
    s = sum((p * (i + 2)).sum() for i, p in enumerate(y.chunk(5, 1)))
    s.backward(retain_graph=True)
    want_y = np.tile(np.arange(2, 7), (4, 1)).astype(float)
    assert_close(np.asarray(y.grad), want_y, rtol=0, atol=0)
    assert_close(seen[0], want_y, rtol=0, atol=0)
    g1 = np.array(x.grad)
    s.backward()  # a second pass over the kept graph starts from fresh arrays
    assert_close(np.asarray(x.grad), 2 * g1, rtol=0, atol=0)
    assert_close(seen[1], want_y, rtol=0, atol=0)
    assert seen[0] is not seen[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_autograd_grad_and_dtypes(dtype):
    x = dg.tensor(_x(4, (7, 2)).astype(dtype), requires_grad=True)
    y = x.exp()
    out = sum(p.sum() * (i + 1) for i, p in enumerate(y.split(2, 0)))
    (g,) = dg.autograd.grad(out, [x])
    scale = np.repeat([1, 2, 3, 4], 2)[:7][:, None]
    assert g.dtype == dtype
    assert_close(np.asarray(g), np.exp(x.numpy()) * scale, rtol=1e-6, atol=0)


def test_zero_d_pieces_and_size_zero():
    x = dg.tensor(np.arange(4.0), requires_grad=True)
    y = x * 1.0
    sum(p * (i + 1) for i, p in enumerate(y.unbind(0))).backward()
    assert_close(np.asarray(x.grad), np.arange(1.0, 5.0), rtol=0, atol=0)
    e = dg.tensor(np.zeros((0, 3)), requires_grad=True)
    pieces = (e * 1.0).split(1, 1)
    sum(p.sum() for p in pieces).backward()
    assert np.asarray(e.grad).shape == (0, 3)


@pytest.mark.parametrize("pieces_first", [True, False])
def test_a_gradient_shared_with_another_parent_is_not_written(pieces_first):
    """add's backward hands one array to both of its parents (y's pending gradient and the
    leaf w's): y's slices must add into a copy, never into that array, in either order."""
    x0, w0 = _x(5, (4, 3)), _x(6, (4, 3))
    c = np.random.default_rng(7).standard_normal((4, 3))
    x = dg.tensor(x0, requires_grad=True)
    w = dg.tensor(w0, requires_grad=True)
    y = x * 1.0
    z = (y + w) * dg.tensor(c)
    zz = z + 0.0  # the add node hands its gradient to both parents by reference
    pieces = sum((p * (i + 1)).sum() for i, p in enumerate(y.unbind(0)))
    loss = pieces + zz.sum() if pieces_first else zz.sum() + pieces
    loss.backward()
    assert_close(np.asarray(w.grad), c, rtol=0, atol=0)
    assert_close(np.asarray(x.grad), c + np.arange(1, 5)[:, None], rtol=1e-12, atol=1e-12)
