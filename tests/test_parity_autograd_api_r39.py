"""Round 39's autograd API against torch 2.13: gradgradcheck, backward(create_graph=True),
dg.autograd.backward, node post-hooks (grad_fn.register_hook), jvp(create_graph=True)."""

import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402
from deltagrad.autograd import functional as AF  # noqa: E402

TF = torch.nn.functional
TOL = {"rtol": 1e-10, "atol": 1e-10}
rng = np.random.default_rng(39)


def _arr(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


def _close(d, t) -> None:
    assert d is not None and t is not None
    np.testing.assert_allclose(_arr(d), _arr(t), **TOL)


# ---- gradgradcheck ---------------------------------------------------------------------------


def test_gradgradcheck_namespaces() -> None:
    mod = sys.modules["deltagrad.gradcheck"]
    assert dg.autograd.gradgradcheck is mod.gradgradcheck
    assert dg.autograd.gradcheck is mod.gradcheck is dg.gradcheck
    assert not hasattr(torch, "gradgradcheck") and not hasattr(dg, "gradgradcheck")


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: (x @ w).tanh(),
        lambda x, w: (x.exp() * x).sum(1, keepdim=True) @ w[:1],
        lambda x, w: (F.softplus(x) @ w, x.sigmoid().sum()),  # two outputs
    ],
)
def test_gradgradcheck_passes(fn) -> None:
    x = dg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = dg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    assert dg.autograd.gradgradcheck(fn, (x, w))
    assert dg.autograd.gradgradcheck(fn, (x, w), fast_mode=True)


def test_gradgradcheck_given_grad_outputs_and_constant_input() -> None:
    x = dg.tensor(rng.standard_normal(5), requires_grad=True)
    c = dg.tensor(rng.standard_normal(5))  # no grad: not checked, passed through
    go = dg.tensor(rng.standard_normal(5), requires_grad=True)
    assert dg.autograd.gradgradcheck(lambda x, c: x.sin() * c, (x, c), go)
    # a grad_output without requires_grad is used, not checked (as torch)
    assert dg.autograd.gradgradcheck(lambda x, c: x.sin() * c, (x, c), dg.tensor(go.data))


def _wrong_second(x):
    """x ** 2 whose double backward is wrong: d(dy/dx)/dx = 0, not 2 g."""
    from deltagrad.tensor import Tensor

    def bw(g):
        x._accumulate(2 * g * x.data)

    # the right first gradient, a wrong derivative of it (x taken as a constant)
    return Tensor._make(x.data**2, (x,), bw, "sq", dbackward=lambda g: (2 * g * x.detach(),))


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    x = dg.tensor(rng.standard_normal(3), requires_grad=True)
    assert dg.autograd.gradcheck(_wrong_second, (x,))  # the first derivative is right
    with pytest.raises(dg.GradcheckError):
        dg.autograd.gradgradcheck(_wrong_second, (x,))
    assert dg.autograd.gradgradcheck(_wrong_second, (x,), raise_exception=False) is False


def test_gradgradcheck_errors() -> None:
    x = dg.tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match="check_batched_grad"):
        dg.autograd.gradgradcheck(lambda x: x.exp(), (x,), check_batched_grad=True)
    with pytest.raises(NotImplementedError, match="check_fwd_over_rev"):
        dg.autograd.gradgradcheck(lambda x: x.exp(), (x,), check_fwd_over_rev=True)

    class Once(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g * a**2

    # torch's @once_differentiable: RuntimeError when differentiated twice
    with pytest.raises(RuntimeError, match="differentiate twice"):
        dg.autograd.gradgradcheck(Once.apply, (x,))


# ---- backward(create_graph=True) --------------------------------------------------------------


def _penalty(lib, X, W, twice: bool):
    """loss.backward(create_graph=True) (twice: accumulated), then the gradient penalty."""
    T = torch.tensor if lib is torch else dg.tensor
    x, w = T(X, requires_grad=True), T(W, requires_grad=True)
    lin = TF.linear if lib is torch else F.linear
    lin(x, w).tanh().pow(2).sum().backward(create_graph=True)
    if twice:
        (x.sin() * w.sum()).sum().backward(create_graph=True)
    grads = (x.grad, w.grad)
    gp = sum((p.grad**2).sum() for p in (x, w))
    x.grad = w.grad = None
    gp.backward()
    return grads, (x.grad, w.grad)


@pytest.mark.parametrize("twice", [False, True])
def test_backward_create_graph_gradient_penalty(twice: bool) -> None:
    X, W = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's reference-cycle warning
        tg, tgg = _penalty(torch, X, W, twice)
    dgs, dgg = _penalty(dg, X, W, twice)
    for d, t in zip(dgs, tg):
        assert isinstance(d, dg.Tensor) and d.requires_grad and d.grad_fn is not None
        _close(d, t)
    for d, t in zip(dgg, tgg):
        _close(d, t)


def test_backward_create_graph_accumulates_onto_array_grad_and_plain_backward_after() -> None:
    X = rng.standard_normal(4)
    x, tx = dg.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    x.grad = np.ones(4)  # deltagrad's array .grad
    tx.grad = torch.ones(4, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tx.exp() * tx).sum().backward(create_graph=True)
    (x.exp() * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, dg.Tensor) and x.grad.requires_grad
    _close(x.grad, tx.grad)
    # a plain backward then adds into it (the engine reads a Tensor .grad as its array)
    (tx * 3).sum().backward()
    (x * 3).sum().backward()
    _close(x.grad, tx.grad)
    # optimizers read it too
    opt = dg.optim.SGD([x], lr=0.1)
    opt.step()
    np.testing.assert_allclose(x.data, X - 0.1 * tx.grad.detach().numpy(), **TOL)


def test_backward_create_graph_linear_kept_grad() -> None:
    """A Tensor left in .grad by create_graph=True, then F.linear's direct accumulation."""
    X, W = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    w = dg.tensor(W, requires_grad=True)
    tw = torch.tensor(W, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TF.linear(torch.tensor(X), tw).pow(2).sum().backward(create_graph=True)
    F.linear(dg.tensor(X), w).pow(2).sum().backward(create_graph=True)
    TF.linear(torch.tensor(X), tw).sum().backward()
    F.linear(dg.tensor(X), w).sum().backward()
    _close(w.grad, tw.grad)


def test_backward_create_graph_inputs_hooks_and_retain() -> None:
    X = rng.standard_normal(3)
    calls = []
    x, y = dg.tensor(X, requires_grad=True), dg.tensor(X + 1, requires_grad=True)
    x.register_hook(lambda g: calls.append(("hook", g.requires_grad)) or g * 2)
    x.register_post_accumulate_grad_hook(lambda t: calls.append(("post", type(t.grad))))
    z = (x * y).exp()
    z.retain_grad()
    z.sum().backward(create_graph=True, inputs=[x])
    assert y.grad is None  # only the inputs accumulate
    assert calls == [("hook", True), ("post", dg.Tensor)]
    tx, ty = torch.tensor(X, requires_grad=True), torch.tensor(X + 1, requires_grad=True)
    tx.register_hook(lambda g: g * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tx * ty).exp().sum().backward(create_graph=True, inputs=[tx])
    _close(x.grad, tx.grad)
    # the graph was retained (retain_graph defaults to create_graph)
    z.sum().backward(inputs=[y])
    np.testing.assert_allclose(y.grad, X * np.exp(X * (X + 1)), **TOL)


def test_autograd_backward_function() -> None:
    X = rng.standard_normal(3)
    res = []
    for lib, T in ((dg, dg.tensor), (torch, torch.tensor)):
        x = T(X, requires_grad=True)
        a, b = x.sin(), (x * x).sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib.autograd.backward([a, b], [T(X * 0 + 2.0), None])
        g1 = x.grad.copy() if lib is dg else x.grad.clone()
        x.grad = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib.autograd.backward([x.exp().sum()], create_graph=True)
        (g2,) = lib.autograd.grad(x.grad.sum(), x)
        res.append((g1, g2))
    _close(res[0][0], res[1][0])
    _close(res[0][1], res[1][1])


def test_autograd_backward_errors() -> None:
    x = dg.tensor(rng.standard_normal(3), requires_grad=True)
    c = dg.tensor(rng.standard_normal(3))
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        dg.autograd.backward([c])
    with pytest.raises(RuntimeError, match="implied only for a one-element"):
        dg.autograd.backward(x * 2)
    with pytest.raises(RuntimeError, match="both passed"):
        dg.autograd.backward(x.sum(), dg.tensor(1.0), grad_variables=dg.tensor(1.0))
    with pytest.raises(TypeError, match="tensors\\[0\\]"):
        dg.autograd.backward([np.ones(3)])
    y = (x * 2).sum()
    y.backward(create_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        c.backward(create_graph=True)


# ---- node hooks ----------------------------------------------------------------------------


def _hooked_run(lib, X):
    T = torch.tensor if lib is torch else dg.tensor
    log = []
    x = T(X, requires_grad=True)
    c = T(X[::-1].copy())  # no grad: None in grad_inputs
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    acc.register_hook(lambda gi, go: log.append(("acc", gi, _arr(go[0]).tolist())))
    y2 = y * y.exp() * c

    def post(gi, go):
        log.append(("post", [None if g is None else _arr(g).tolist() for g in gi]))
        log.append(("go", _arr(go[0]).tolist()))
        return (gi[0] * 10, None)

    h = y2.grad_fn.register_hook(post)
    y2.grad_fn.register_prehook(lambda go: log.append("pre") or (go[0] * 3,))
    y2.sum().backward(retain_graph=True)
    g1 = _arr(x.grad).copy()
    h.remove()
    x.grad = None
    (y * y.exp() * c).sum().backward()  # the hook was on another node: nothing changes
    return log, g1, _arr(x.grad).copy()


def test_node_post_hooks_order_arguments_replacement() -> None:
    X = rng.standard_normal(3)
    ld, g1d, g2d = _hooked_run(dg, X)
    lt, g1t, g2t = _hooked_run(torch, X)
    assert [e if isinstance(e, str) else e[0] for e in ld] == ["pre", "post", "go", "acc", "acc"]
    assert [e if isinstance(e, str) else e[0] for e in lt] == [
        e if isinstance(e, str) else e[0] for e in ld
    ]
    for a, b in zip(ld, lt):
        if isinstance(a, str):
            continue
        if a[0] == "post":
            assert a[1][1] is None and b[1][1] is None
            np.testing.assert_allclose(a[1][0], b[1][0], **TOL)
        elif a[0] == "acc":
            assert a[1] == () and b[1] == ()
            np.testing.assert_allclose(a[2], b[2], **TOL)
        else:
            np.testing.assert_allclose(a[1], b[1], **TOL)
    np.testing.assert_allclose(g1d, g1t, **TOL)
    np.testing.assert_allclose(g2d, g2t, **TOL)


@pytest.mark.parametrize("mode", ["grad", "create_graph", "inputs"])
def test_node_post_hook_in_grad_and_create_graph(mode: str) -> None:
    X = rng.standard_normal((2, 3))
    W = rng.standard_normal(3)
    out = []
    for lib, T in ((dg, dg.tensor), (torch, torch.tensor)):
        x, w = T(X, requires_grad=True), T(W, requires_grad=True)
        z = x.sin() * w  # broadcast: w's grad_input is summed to its shape
        seen = []

        def hook(gi, go, seen=seen):
            seen.append([None if g is None else tuple(g.shape) for g in gi])
            return (None if gi[0] is None else gi[0] * go[0], gi[1] * 0.5)

        z.grad_fn.register_hook(hook)
        loss = (z * z).sum()
        if mode == "grad":
            res = lib.autograd.grad(loss, (x, w))
        elif mode == "inputs":
            loss.backward(inputs=[w])
            res = (w.grad,)
        else:
            gx, gw = lib.autograd.grad(loss, (x, w), create_graph=True)
            res = lib.autograd.grad((gx.sum() + gw.sum()), (x, w))
        out.append((seen, res))
    # in the create_graph case the second grad runs the node again (as torch's)
    want = {"grad": 1, "inputs": 1, "create_graph": 2}[mode]
    assert out[0][0] == out[1][0]
    assert out[0][0] == [[None if mode == "inputs" else (2, 3), (3,)]] * want
    for a, b in zip(out[0][1], out[1][1]):
        _close(a, b)


def test_node_hook_errors() -> None:
    x = dg.tensor(rng.standard_normal(3), requires_grad=True)
    for ret, err, msg in [
        (lambda gi, go: (gi[0], gi[0]), RuntimeError, "can't replace a None gradient"),
        (lambda gi, go: 5, TypeError, "expected tuple, but hook returned 'int'"),
        (lambda gi, go: (gi[0],), RuntimeError, "incorrect number of values .got 1, but exp"),
        (lambda gi, go: (dg.zeros(2), None), RuntimeError, "invalid gradient at index 0"),
    ]:
        w = x * 3
        w.grad_fn.register_hook(ret)
        with pytest.raises(err, match=msg):
            w.sum().backward()
    with pytest.raises(TypeError, match="callable"):
        (x * 3).grad_fn.register_hook(5)
    with pytest.raises(NotImplementedError, match="two of its inputs"):
        (x * x).grad_fn.register_hook(lambda gi, go: None)

    class Two(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return 2 * g1 + 3 * g2

    a, _ = Two.apply(x)
    with pytest.raises(NotImplementedError, match="multi-output"):
        a.grad_fn.register_hook(lambda gi, go: None)


def test_node_hook_handle_removal_and_context() -> None:
    x = dg.tensor(rng.standard_normal(3), requires_grad=True)
    y = x.exp()
    calls = []
    h1 = y.grad_fn.register_hook(lambda gi, go: calls.append(1))
    with y.grad_fn.register_hook(lambda gi, go: calls.append(2)):
        y.sum().backward(retain_graph=True)
    h1.remove()
    h1.remove()  # twice: a no-op, as torch
    y.sum().backward()
    assert calls == [1, 2]


# ---- jvp(create_graph=True) --------------------------------------------------------------------


def test_jvp_create_graph() -> None:
    X, V = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def f(x, w):
        return (x.tanh() * w).sum(1), (x * w).exp()

    res = []
    for lib, T, jvp in (
        (dg, dg.tensor, AF.jvp),
        (torch, torch.tensor, torch.autograd.functional.jvp),
    ):
        x, w = T(X, requires_grad=True), T(V + 1, requires_grad=True)
        outs, jv = jvp(f, (x, w), (T(V), T(-V)), create_graph=True)
        assert all(j.requires_grad for j in jv) and all(o.requires_grad for o in outs)
        gx, gw = lib.autograd.grad(jv[0].sum() + jv[1].sum(), (x, w))
        res.append((outs, jv, gx, gw))
    for a, b in zip(res[0][0] + res[0][1] + res[0][2:], res[1][0] + res[1][1] + res[1][2:]):
        _close(a, b)
    # strict: an output that does not depend on the inputs (torch's error)
    x = dg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not"):
        AF.jvp(lambda x: dg.tensor(X) * 2, x, dg.tensor(V), create_graph=True, strict=True)


# ---- multi-output autograd.Function under create_graph ------------------------------------------


def test_multi_output_function_create_graph_once_differentiable() -> None:
    from torch.autograd.function import once_differentiable

    class Two(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b, a + b

        @staticmethod
        def backward(ctx, g1, g2):
            a, b = ctx.saved_tensors
            return g1 * b + g2, g1 * a + g2

    class TTwo(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b, a + b

        @staticmethod
        @once_differentiable
        def backward(ctx, g1, g2):
            a, b = ctx.saved_tensors
            return g1 * b + g2, g1 * a + g2

    A, B = rng.standard_normal(4), rng.standard_normal(4)
    res = []
    for lib, T, fn in ((dg, dg.tensor, Two), (torch, torch.tensor, TTwo)):
        a, b = T(A, requires_grad=True), T(B, requires_grad=True)
        p, s = fn.apply(a.exp(), b)
        g1 = lib.autograd.grad((p * p).sum() + s.sum(), (a, b), create_graph=True)
        p, _ = fn.apply(a, b)  # one output used: the other's gradient is zeros
        g2 = lib.autograd.grad(p.sum(), (a, b), create_graph=True)
        assert g1[0].requires_grad and not g2[0].requires_grad
        res.append(g1 + g2)
    for d, t in zip(*res):
        _close(d, t)
    # differentiating through it again raises (deltagrad: always; torch: when the
    # once_differentiable node is on the path, as with backward())
    with pytest.raises(RuntimeError, match="differentiate twice the Function Two"):
        a = dg.tensor(A, requires_grad=True)
        p, s = Two.apply(a.exp(), a)
        (ga,) = dg.autograd.grad((p * p).sum(), a, create_graph=True)
        ga.sum().backward()
