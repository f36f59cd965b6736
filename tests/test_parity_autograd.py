"""Autograd side by side with torch, float64, rtol = atol = 1e-10: dg.autograd.grad, hooks,
retain_grad, post-accumulate hooks, accumulation and zero_grad semantics, backward(inputs=),
and the gradients of pow where torch masks 0 * inf."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import autograd
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-10, "atol": 1e-10}
SHAPES = [(1,), (7,), (3, 5), (0, 4)]


def pair(a):
    """The same data as a deltagrad leaf and a torch leaf."""
    return (
        dg.tensor(a.copy(), requires_grad=True),
        torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True),
    )


def arr(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def same(ours, theirs, what):
    if theirs is None:
        assert ours is None, what
        return
    assert_close(arr(ours), arr(theirs), name=what, **TOL)


def f(x, w, exp):
    """Leaf x used twice, an interior node y, an exp, a matmul-free composite."""
    y = x * w + x
    z = exp(y) * y
    return y, z


@pytest.mark.parametrize("shape", SHAPES)
def test_autograd_grad_matches_torch(shape):
    rng = np.random.default_rng(sum(shape) + 14)
    x, tx = pair(rng.standard_normal(shape))
    w, tw = pair(rng.standard_normal(shape))
    v = rng.standard_normal(shape)
    y, z = f(x, w, lambda t: t.exp())
    ty, tz = f(tx, tw, torch.exp)
    ours = autograd.grad(z, [x, w, y], grad_outputs=v)
    theirs = torch.autograd.grad(tz, [tx, tw, ty], grad_outputs=torch.tensor(v))
    for k, (o, t) in enumerate(zip(ours, theirs)):
        same(o, t, f"grad[{k}]")
    assert x.grad is None and w.grad is None and tx.grad is None


def test_autograd_grad_of_several_outputs_and_allow_unused():
    rng = np.random.default_rng(2)
    x, tx = pair(rng.standard_normal((4, 3)))
    u, tu = pair(rng.standard_normal(2))
    outs = [(x * x).sum(), (x.exp() * 3.0).sum()]
    touts = [(tx * tx).sum(), (tx.exp() * 3.0).sum()]
    ours = autograd.grad(outs, [x, u], allow_unused=True)
    theirs = torch.autograd.grad(touts, [tx, tu], allow_unused=True)
    same(ours[0], theirs[0], "grad x")
    assert ours[1] is None and theirs[1] is None


def test_leaf_hook_runs_once_on_the_summed_gradient_as_torch():
    rng = np.random.default_rng(3)
    x, tx = pair(rng.standard_normal(5))
    seen, tseen = [], []
    x.register_hook(lambda g: seen.append(arr(g).copy()))
    tx.register_hook(lambda g: tseen.append(arr(g).copy()))
    (x * 2.0 + x * x).sum().backward()
    (tx * 2.0 + tx * tx).sum().backward()
    assert len(seen) == len(tseen) == 1
    same(seen[0], tseen[0], "hook grad")
    same(x.grad, tx.grad, "x.grad")


def test_hook_replacement_and_retain_grad_order_as_torch():
    """A retained non-leaf's .grad is the hook's replacement (torch runs retain last)."""
    rng = np.random.default_rng(4)
    a, ta = pair(rng.standard_normal(6))
    b, tb = a * 1.5, ta * 1.5
    b.retain_grad()
    tb.retain_grad()
    b.register_hook(lambda g: g * 10.0)
    tb.register_hook(lambda g: g * 10.0)
    (b * b).sum().backward()
    (tb * tb).sum().backward()
    same(b.grad, tb.grad, "b.grad")
    same(a.grad, ta.grad, "a.grad")


def test_retain_grad_accumulates_across_backwards_as_torch():
    rng = np.random.default_rng(5)
    x, tx = pair(rng.standard_normal((2, 3)))
    y, ty = x.exp(), tx.exp()
    y.retain_grad()
    ty.retain_grad()
    z, tz = (y * y).sum(), (ty * ty).sum()
    z.backward(retain_graph=True)
    tz.backward(retain_graph=True)
    same(y.grad, ty.grad, "y.grad after one backward")
    z.backward()
    tz.backward()
    same(y.grad, ty.grad, "y.grad after two")
    same(x.grad, tx.grad, "x.grad after two")


def test_autograd_grad_fills_retained_grads_and_runs_hooks_as_torch():
    rng = np.random.default_rng(6)
    x, tx = pair(rng.standard_normal(4))
    y, ty = x * 2.0, tx * 2.0
    y.retain_grad()
    ty.retain_grad()
    calls, tcalls = [], []
    x.register_hook(lambda g: calls.append("x"))
    tx.register_hook(lambda g: tcalls.append("x"))
    x.register_post_accumulate_grad_hook(lambda t: calls.append("post"))
    tx.register_post_accumulate_grad_hook(lambda t: tcalls.append("post"))
    (gx,) = autograd.grad((y * x).sum(), x)
    (tgx,) = torch.autograd.grad((ty * tx).sum(), tx)
    same(gx, tgx, "grad")
    same(y.grad, ty.grad, "retained y.grad")
    assert calls == tcalls == ["x"]
    assert x.grad is None and tx.grad is None


def test_post_accumulate_hooks_as_torch():
    rng = np.random.default_rng(7)
    p, tp = pair(rng.standard_normal((3, 2)))
    got, tgot = [], []
    p.register_post_accumulate_grad_hook(lambda t: got.append(arr(t.grad).copy()))
    tp.register_post_accumulate_grad_hook(lambda t: tgot.append(arr(t.grad).copy()))
    for _ in range(2):
        (p * p * 3.0).sum().backward()
        (tp * tp * 3.0).sum().backward()
    assert len(got) == len(tgot) == 2
    for k in range(2):
        same(got[k], tgot[k], f"post hook {k}")


def test_zero_grad_set_to_none_false_then_accumulate_as_torch():
    rng = np.random.default_rng(8)
    lin = dg.nn.Linear(5, 3, dtype=np.float64)
    tlin = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(lin.weight.numpy()))
        tlin.bias.copy_(torch.tensor(lin.bias.numpy()))
    x = rng.standard_normal((9, 5))
    opt = dg.optim.SGD(lin.parameters(), lr=0.1)
    topt = torch.optim.SGD(tlin.parameters(), lr=0.1)
    for _ in range(2):
        (lin(dg.tensor(x)) ** 2).sum().backward()
        (tlin(torch.tensor(x)) ** 2).sum().backward()
    same(lin.weight.grad, tlin.weight.grad, "accumulated weight.grad")
    bufs = [p.grad for p in lin.parameters()]
    for p in lin.parameters():
        p.zero_grad(set_to_none=False)
    tlin.zero_grad(set_to_none=False)
    (lin(dg.tensor(x)) ** 2).sum().backward()
    (tlin(torch.tensor(x)) ** 2).sum().backward()
    assert all(p.grad is b for p, b in zip(lin.parameters(), bufs))
    same(lin.weight.grad, tlin.weight.grad, "weight.grad after zero_grad(False)")
    same(lin.bias.grad, tlin.bias.grad, "bias.grad after zero_grad(False)")
    opt.step()
    topt.step()
    same(lin.weight, tlin.weight, "weight after a step")


def test_backward_inputs_as_torch():
    rng = np.random.default_rng(9)
    a, ta = pair(rng.standard_normal(4))
    b, tb = pair(rng.standard_normal(4))
    (a * b * b).sum().backward(inputs=[b])
    (ta * tb * tb).sum().backward(inputs=[tb])
    same(b.grad, tb.grad, "b.grad")
    assert a.grad is None and ta.grad is None


@pytest.mark.parametrize("p", [0, 1, 2, 3, 0.5, -1])
def test_pow_scalar_exponent_gradient_as_torch(p):
    data = np.array([0.0, 0.7, 1.3, 2.0]) if p in (0.5, -1) else np.array([0.0, -0.7, 1.3, 0.0])
    if p == -1:
        data = data[1:]
    x, tx = pair(data)
    (x**p).sum().backward()
    (tx**p).sum().backward()
    same(x.grad, tx.grad, f"d x**{p}")


def test_pow_tensor_exponent_gradient_as_torch():
    base = np.array([0.0, 0.0, 3.0, 2.0, 0.0, 1.7])
    expo = np.array([0.0, 1.0, 2.0, 0.0, 2.5, -0.3])
    b, tb = pair(base)
    e, te = pair(expo)
    (b**e).sum().backward()
    (tb**te).sum().backward()
    same(b.grad, tb.grad, "d/dbase")
    same(e.grad, te.grad, "d/dexponent")
