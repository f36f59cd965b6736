"""Higher-order gradients (create_graph=True) against torch 2.13, float64 to 1e-10."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402
from deltagrad.autograd import functional as AF  # noqa: E402

TF = torch.nn.functional
TOL = {"rtol": 1e-10, "atol": 1e-10}
rng = np.random.default_rng(38)


def _pair(a: np.ndarray) -> tuple:
    return dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _close(d, t) -> None:
    assert d is not None and t is not None
    np.testing.assert_allclose(np.asarray(d.data), t.detach().numpy(force=True), **TOL)


def _second(fd, ft, arrays, nograd=()) -> None:
    """Compare y, dy/dx (with a graph), and the grad of sum(dy/dx * w) with respect to x."""
    ds = [dg.tensor(a, requires_grad=i not in nograd) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i not in nograd) for i, a in enumerate(arrays)]
    dins = [x for i, x in enumerate(ds) if i not in nograd]
    tins = [x for i, x in enumerate(ts) if i not in nograd]
    yd, yt = fd(*ds), ft(*ts)
    _close(yd, yt)
    v = rng.standard_normal(tuple(yt.shape))
    gd = dg.autograd.grad(yd, dins, dg.tensor(v), create_graph=True, allow_unused=True)
    gt = torch.autograd.grad(yt, tins, torch.tensor(v), create_graph=True, allow_unused=True)
    sd, st = 0, 0
    for a, b in zip(gd, gt):
        assert (a is None) == (b is None)
        if a is None:
            continue
        _close(a, b)
        if b.requires_grad and not a.requires_grad:
            # a piecewise-linear op (relu's mask): torch's gradient keeps a graph whose
            # derivative is 0; deltagrad's has none (documented). Check that it is 0.
            (h,) = torch.autograd.grad(b.sum(), tins, allow_unused=True, materialize_grads=True)[:1]
            assert not h.any()
            continue
        assert a.requires_grad == b.requires_grad
        if b.requires_grad:
            w = rng.standard_normal(tuple(b.shape))
            sd = sd + (a * dg.tensor(w)).sum()
            st = st + (b * torch.tensor(w)).sum()
    if isinstance(st, int):
        return
    hd = dg.autograd.grad(sd, dins, allow_unused=True, materialize_grads=True)
    ht = torch.autograd.grad(st, tins, allow_unused=True, materialize_grads=True)
    for a, b in zip(hd, ht):
        _close(a, b)


def r(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


UNARY = [
    ("exp", lambda x: x.exp(), r(3, 4)),
    ("log", lambda x: x.log(), pos(3, 4)),
    ("sqrt", lambda x: x.sqrt(), pos(5)),
    ("rsqrt", lambda x: x.rsqrt(), pos(5)),
    ("sin", lambda x: x.sin(), r(2, 3)),
    ("cos", lambda x: x.cos(), r(2, 3)),
    ("tanh", lambda x: x.tanh(), r(4)),
    ("sigmoid", lambda x: x.sigmoid(), r(4)),
    ("relu", lambda x: x.relu(), r(6)),
    ("abs", lambda x: x.abs(), r(6)),
    ("clamp", lambda x: x.clamp(-0.5, 0.7) * x, r(7)),
    ("neg", lambda x: -x * x, r(3)),
    ("pow3", lambda x: x**3, r(3)),
    ("pow_half", lambda x: x**0.5, pos(3)),
    ("pow2", lambda x: x**2, r(3)),
    ("pow0", lambda x: x**0 * x, r(3)),
    ("rmul", lambda x: 2 * x * x, r(3)),
    ("rdiv", lambda x: 1 / x, pos(3)),
    ("rsub", lambda x: (2 - x) * x, r(3)),
    ("rpow", lambda x: 2**x, r(3)),
    ("sum_dim", lambda x: (x * x).sum(1), r(3, 4)),
    ("sum_keep", lambda x: (x**3).sum((0, 2), keepdim=True), r(2, 3, 4)),
    ("mean", lambda x: (x**3).mean(), r(3, 4)),
    ("mean_dim", lambda x: (x.exp()).mean(0, keepdim=True), r(3, 4)),
    ("reshape", lambda x: (x**2).reshape(4, 3).exp(), r(3, 4)),
    ("view", lambda x: (x**2).view(12).sin(), r(3, 4)),
    ("flatten", lambda x: (x**2).flatten().sin(), r(2, 3, 2)),
    ("transpose", lambda x: (x**2).transpose(0, 1).exp() @ x, r(3, 3)),
    ("permute", lambda x: (x**3).permute(2, 0, 1).sin(), r(2, 3, 4)),
    ("T", lambda x: (x**2).T.exp(), r(2, 3)),
    ("squeeze", lambda x: (x**2).unsqueeze(0).squeeze(0).exp(), r(2, 3)),
    ("expand", lambda x: (x**2).expand(4, 3).exp(), r(1, 3)),
    ("broadcast", lambda x: x * x.sum(0), r(3, 4)),
    ("index_basic", lambda x: (x**3)[1:, ::2].exp(), r(4, 5)),
    ("index_adv", lambda x: (x**3)[[0, 2, 2]].exp(), r(4, 5)),
    ("logsumexp", lambda x: x.logsumexp(1) * x.sum(1), r(3, 4)),
    ("norm", lambda x: x.norm(), r(3, 4)),
    ("norm_dim", lambda x: x.norm(2, 1) ** 3, r(3, 4)),
    ("F.relu", lambda x: (F.relu(x) if isinstance(x, dg.Tensor) else TF.relu(x)) * x, r(8)),
]


@pytest.mark.parametrize("name,f,a", UNARY, ids=[u[0] for u in UNARY])
def test_unary_second_derivative(name, f, a) -> None:
    _second(f, f, [a])


def _vnorm_d(x):
    return dg.linalg.vector_norm(x, 2, 1)


ACTS = ["tanh", "sigmoid", "softplus", "gelu", "silu", "leaky_relu", "elu", "relu"]


@pytest.mark.parametrize("act", ACTS)
def test_functional_activation(act) -> None:
    _second(lambda x: getattr(F, act)(x) * x, lambda x: getattr(TF, act)(x) * x, [r(3, 5) * 2])


def test_gelu_tanh_and_softplus_beta() -> None:
    _second(
        lambda x: F.gelu(x, approximate="tanh") ** 2,
        lambda x: TF.gelu(x, approximate="tanh") ** 2,
        [r(6)],
    )
    _second(
        lambda x: F.softplus(x, beta=2.0) ** 2,
        lambda x: TF.softplus(x, beta=2.0) ** 2,
        [r(6)],
    )


BINARY = [
    ("add", lambda x, y: (x + y) ** 2, r(3, 4), r(4)),
    ("sub", lambda x, y: (x - y) ** 3, r(3, 4), r(3, 1)),
    ("mul", lambda x, y: x * y * x, r(3, 4), r(4)),
    ("div", lambda x, y: x / y, r(3, 4), pos(3, 4)),
    ("pow_t", lambda x, y: x**y, pos(3, 4), r(3, 4)),
    ("maximum", lambda x, y: x.maximum(y) * x * y, r(5), r(5)),
    ("minimum", lambda x, y: x.minimum(y) * x * y, r(5), r(5)),
    ("mm", lambda x, y: (x @ y).tanh(), r(3, 4), r(4, 2)),
    ("mv", lambda x, y: (x @ y).tanh(), r(3, 4), r(4)),
    ("vm", lambda x, y: (x @ y).tanh(), r(4), r(4, 3)),
    ("dot", lambda x, y: (x @ y) ** 2, r(4), r(4)),
    ("bmm", lambda x, y: (x @ y).tanh(), r(2, 3, 4), r(2, 4, 5)),
    ("bcast_mm", lambda x, y: (x @ y).sin(), r(2, 3, 4), r(4, 5)),
    ("bcast_mm2", lambda x, y: (x @ y).sin(), r(3, 4), r(2, 1, 4, 5)),
]


@pytest.mark.parametrize("name,f,a,b", BINARY, ids=[u[0] for u in BINARY])
def test_binary_second_derivative(name, f, a, b) -> None:
    _second(f, f, [a, b])


def test_where_cat_stack_gather() -> None:
    c = rng.standard_normal((3, 4)) > 0
    _second(
        lambda x, y: dg.where(dg.tensor(c), x * y, x**3),
        lambda x, y: torch.where(torch.tensor(c), x * y, x**3),
        [r(3, 4), r(3, 4)],
    )
    _second(
        lambda x, y: dg.cat([x * y, y**3], 1).exp(),
        lambda x, y: torch.cat([x * y, y**3], 1).exp(),
        [r(2, 3), r(2, 3)],
    )
    _second(
        lambda x, y: dg.stack([x * y, y**3], 1).sin(),
        lambda x, y: torch.stack([x * y, y**3], 1).sin(),
        [r(2, 3), r(2, 3)],
    )
    idx = rng.integers(0, 4, (3, 5))
    _second(
        lambda x: (x**3).gather(1, dg.tensor(idx)).exp(),
        lambda x: (x**3).gather(1, torch.tensor(idx)).exp(),
        [r(3, 4)],
    )


def test_fused_layers_and_losses() -> None:
    x, w, b = r(5, 3), r(4, 3), r(4)
    for act, tf in ((None, lambda z: z), ("relu", TF.relu), ("tanh", torch.tanh)):
        _second(
            lambda x, w, b, a=act: F.linear(x, w, b, activation=a) ** 2,
            lambda x, w, b, f=tf: f(TF.linear(x, w, b)) ** 2,
            [x, w, b],
        )
    _second(lambda x: F.softmax(x, 1) ** 2, lambda x: TF.softmax(x, 1) ** 2, [r(3, 4)])
    _second(lambda x: F.softmax(x, 0) ** 2, lambda x: TF.softmax(x, 0) ** 2, [r(3, 4)])
    _second(lambda x: F.log_softmax(x, 1) ** 2, lambda x: TF.log_softmax(x, 1) ** 2, [r(3, 4)])
    _second(lambda x, t: F.mse_loss(x**2, t), lambda x, t: TF.mse_loss(x**2, t), [r(3, 4), r(3, 4)])
    for red in ("mean", "sum", "none"):
        _second(
            lambda x, t, red=red: F.mse_loss(x * t, t, reduction=red),
            lambda x, t, red=red: TF.mse_loss(x * t, t, reduction=red),
            [r(3, 4), r(3, 4)],
        )
    tgt = rng.integers(0, 4, 5)
    wt = pos(4)
    for kw in ({}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2}):
        _second(
            lambda x, kw=kw: F.cross_entropy(x * x, dg.tensor(tgt), **kw),
            lambda x, kw=kw: TF.cross_entropy(x * x, torch.tensor(tgt), **kw),
            [r(5, 4)],
        )
    t2 = tgt.copy()
    t2[1] = 2
    _second(
        lambda x: F.cross_entropy(x * x, dg.tensor(t2), weight=dg.tensor(wt), ignore_index=2),
        lambda x: TF.cross_entropy(
            x * x, torch.tensor(t2), weight=torch.tensor(wt), ignore_index=2
        ),
        [r(5, 4)],
    )
    _second(
        lambda x: F.nll_loss(F.log_softmax(x, 1), dg.tensor(tgt)),
        lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(tgt)),
        [r(5, 4)],
    )


def _mlp_d(x, w1, b1, w2, b2):
    return (F.linear(x, w1, b1).tanh() @ w2.T + b2).sum()


def _mlp_t(x, w1, b1, w2, b2):
    return (torch.tanh(x @ w1.T + b1) @ w2.T + b2).sum()


def _pairs(arrays):
    return tuple(dg.tensor(a) for a in arrays), tuple(torch.tensor(a) for a in arrays)


def _close_nested(d, t) -> None:
    if isinstance(t, tuple):
        assert isinstance(d, tuple) and len(d) == len(t)
        for a, b in zip(d, t):
            _close_nested(a, b)
    else:
        _close(d, t)


HESS = [
    ("poly", lambda x: (x**3).sum() + (x[0] * x[1]) ** 2, [r(4)]),
    ("poly2", lambda x, y: (x * y**2).sum() + (x**3).sum(), [r(3), r(3)]),
    ("mlp", None, [r(2, 3), r(4, 3), r(4), r(1, 4), r(1)]),
    ("lse", lambda x: x.logsumexp(0), [r(5)]),
]


@pytest.mark.parametrize("name,f,arrays", HESS, ids=[h[0] for h in HESS])
def test_hessian_hvp_vhp(name, f, arrays) -> None:
    fd, ft = (_mlp_d, _mlp_t) if f is None else (f, f)
    din, tin = _pairs(arrays)
    _close_nested(AF.hessian(fd, din), torch.autograd.functional.hessian(ft, tin))
    vs = [r(*a.shape) for a in arrays]
    vd, vt = tuple(dg.tensor(v) for v in vs), tuple(torch.tensor(v) for v in vs)
    for fn in ("hvp", "vhp"):
        od, pd = getattr(AF, fn)(fd, din, vd)
        ot, pt = getattr(torch.autograd.functional, fn)(ft, tin, vt)
        _close(od, ot)
        _close_nested(pd, pt)
        assert not any(p.requires_grad for p in pd)


def test_hessian_softmax_ce_bare_input() -> None:
    x = r(4, 3)
    tgt = rng.integers(0, 3, 4)

    def fd(w):
        return F.cross_entropy(dg.tensor(x) @ w, dg.tensor(tgt))

    def ft(w):
        return TF.cross_entropy(torch.tensor(x) @ w, torch.tensor(tgt))

    w = r(3, 3)
    _close(AF.hessian(fd, dg.tensor(w)), torch.autograd.functional.hessian(ft, torch.tensor(w)))
    hd = AF.hessian(fd, dg.tensor(w), vectorize=True)
    _close(hd, torch.autograd.functional.hessian(ft, torch.tensor(w), vectorize=True))


def test_functional_create_graph() -> None:
    a = r(3)
    xd, xt = _pair(a)
    od, gd = AF.vjp(lambda x: (x**3).sum(), xd, create_graph=True)
    ot, gt = torch.autograd.functional.vjp(lambda x: (x**3).sum(), xt, create_graph=True)
    _close(gd, gt)
    assert gd.requires_grad and od.requires_grad
    _close(dg.autograd.grad(gd.sum(), xd)[0], torch.autograd.grad(gt.sum(), xt)[0])
    jd = AF.jacobian(lambda x: x.sin() * x, xd, create_graph=True)
    jt = torch.autograd.functional.jacobian(lambda x: x.sin() * x, xt, create_graph=True)
    _close(jd, jt)
    _close(dg.autograd.grad(jd.sum(), xd)[0], torch.autograd.grad(jt.sum(), xt)[0])
    _, hd = AF.hvp(lambda x: (x**4).sum(), xd, dg.tensor(a), create_graph=True)
    _, ht = torch.autograd.functional.hvp(lambda x: (x**4).sum(), xt, torch.tensor(a), True)
    _close(hd, ht)
    _close(dg.autograd.grad(hd.sum(), xd)[0], torch.autograd.grad(ht.sum(), xt)[0])


def test_functional_errors_and_strict() -> None:
    x = dg.tensor(r(3))
    with pytest.raises(RuntimeError, match="single Tensor"):
        AF.hvp(lambda x: (x, x), x, x)
    with pytest.raises(RuntimeError, match="single element"):
        AF.vhp(lambda x: x * 2, x, x)
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda x: x * 2, x)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.hvp(lambda x: x.sum(), x)
    with pytest.raises(RuntimeError, match="independent of the input"):
        AF.hessian(lambda x: (2 * x).sum(), x, strict=True)
    with pytest.raises(AssertionError):
        AF.hessian(lambda x: x.sum(), x, outer_jacobian_strategy="bad")
    # linear function: zero Hessian (not strict)
    _close(AF.hessian(lambda x: (2 * x).sum(), x), torch.zeros(3, 3, dtype=torch.float64))
    _, p = AF.vhp(lambda x: (2 * x).sum(), x, x)
    _close(p, torch.zeros(3, dtype=torch.float64))


def test_wgan_gp_penalty_param_grads() -> None:
    arrays = [r(4, 3), r(5, 3), r(5), r(1, 5), r(1)]
    din = [dg.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
    tin = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
    xd, xt = din[0].detach().requires_grad_(), tin[0].detach().requires_grad_()

    def disc_d(x):
        return F.linear(F.leaky_relu(F.linear(x, din[1], din[2]), 0.2), din[3], din[4])

    def disc_t(x):
        return TF.linear(TF.leaky_relu(TF.linear(x, tin[1], tin[2]), 0.2), tin[3], tin[4])

    (gd,) = dg.autograd.grad(disc_d(xd).sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad(disc_t(xt).sum(), xt, create_graph=True)
    pen_d = ((gd.flatten(1).norm(dim=1) - 1) ** 2).mean()
    pen_t = ((gt.flatten(1).norm(dim=1) - 1) ** 2).mean()
    _close(pen_d, pen_t)
    pen_d.backward()
    pen_t.backward()
    for d, t in zip(din[1:], tin[1:]):
        if d.grad is None:  # torch's zeros through leaky_relu's mask (documented difference)
            assert t.grad is None or not t.grad.any()
        else:
            np.testing.assert_allclose(d.grad, t.grad.numpy(), **TOL)
    # tanh version: every layer's second derivative takes part
    (gd,) = dg.autograd.grad(F.linear(xd, din[1]).tanh().sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad(TF.linear(xt, tin[1]).tanh().sum(), xt, create_graph=True)
    _close(
        dg.autograd.grad((gd.norm(dim=1) - 1).pow(2).mean(), din[1])[0],
        torch.autograd.grad((gt.norm(dim=1) - 1).pow(2).mean(), tin[1])[0],
    )


def test_third_derivative() -> None:
    xd, xt = _pair(r(4))
    res = []
    for x, grad in ((xd, dg.autograd.grad), (xt, torch.autograd.grad)):
        y = (x.sin() * x**3).sum() + x.tanh().sum()
        (g1,) = grad(y, x, create_graph=True)
        (g2,) = grad(g1.sum(), x, create_graph=True)
        (g3,) = grad(g2.sum(), x)
        res.append((g1, g2, g3))
    for a, b in zip(*res):
        _close(a, b)


def test_no_grad_mix_and_requires_grad() -> None:
    xd, xt = _pair(r(3))
    (gd,) = dg.autograd.grad((xd**2).sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad((xt**2).sum(), xt, create_graph=True)
    with dg.no_grad():
        zd = gd * 3
    assert not zd.requires_grad and gd.requires_grad == gt.requires_grad
    # create_graph inside no_grad still records the gradient's graph (as torch)
    yd = (xd**3).sum()
    with dg.no_grad():
        (gd,) = dg.autograd.grad(yd, xd, create_graph=True)
    assert gd.requires_grad
    # a linear function: the gradient has no graph (requires_grad False, as torch)
    (gd,) = dg.autograd.grad((xd * 2).sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad((xt * 2).sum(), xt, create_graph=True)
    assert gd.requires_grad == gt.requires_grad is False
    assert dg.is_grad_enabled()


def test_retain_graph_semantics() -> None:
    x = dg.tensor(r(3), requires_grad=True)
    y = (x.exp() * x).sum()
    dg.autograd.grad(y, x, create_graph=True)  # retain_graph defaults to create_graph
    dg.autograd.grad(y, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        dg.autograd.grad(y, x, create_graph=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        dg.autograd.grad(y, x, create_graph=True)


def test_unused_inputs_and_hooks() -> None:
    x = dg.tensor(r(3), requires_grad=True)
    z = dg.tensor(r(3), requires_grad=True)
    y = (x**2).sum()
    with pytest.raises(RuntimeError, match="not used"):
        dg.autograd.grad(y, [x, z], create_graph=True)
    gx, gz = dg.autograd.grad(y, [x, z], create_graph=True, allow_unused=True)
    assert gz is None
    gx, gz = dg.autograd.grad(y, [x, z], create_graph=True, materialize_grads=True)
    np.testing.assert_array_equal(gz.data, 0)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.requires_grad) or g * 2)
    (gx2,) = dg.autograd.grad((x**2).sum(), x, create_graph=True)
    np.testing.assert_allclose(gx2.data, 4 * x.data, **TOL)
    assert seen == [True] and gx2.requires_grad
    h.remove()
    assert x.grad is None


def test_uncovered_op_and_inplace() -> None:
    x = dg.tensor(pos(4), requires_grad=True)
    # a node made without a double backward (every deltagrad op has one or names itself)
    y = dg.Tensor._make(x.data * 2, (x,), lambda g: x._accumulate(2 * g), "custom_op").sum()
    with pytest.raises(NotImplementedError, match="no double backward for 'custom_op'"):
        dg.autograd.grad(y, x, create_graph=True)
    w = dg.tensor(r(4), requires_grad=True)
    c = dg.tensor(r(4))
    y = (w * w * c).sum()
    c.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        dg.autograd.grad(y, w, create_graph=True)


def test_grad_outputs_with_graph() -> None:
    xd, xt = _pair(r(3))
    vd, vt = _pair(r(3))
    (gd,) = dg.autograd.grad(xd.sin(), xd, vd * 2, create_graph=True)
    (gt,) = torch.autograd.grad(xt.sin(), xt, vt * 2, create_graph=True)
    _close(gd, gt)
    _close(dg.autograd.grad(gd.sum(), vd)[0], torch.autograd.grad(gt.sum(), vt)[0])


def test_float32_and_gradcheck() -> None:
    a = r(3, 4).astype(np.float32)
    xd, xt = _pair(a)
    (gd,) = dg.autograd.grad((xd.tanh() ** 2).sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad((xt.tanh() ** 2).sum(), xt, create_graph=True)
    assert gd.dtype == np.float32
    hd = dg.autograd.grad((gd**2).sum(), xd)[0]
    ht = torch.autograd.grad((gt**2).sum(), xt)[0]
    np.testing.assert_allclose(hd.data, ht.numpy(), rtol=1e-5, atol=1e-5)


def test_size_zero_and_one() -> None:
    _second(lambda x: (x**3).sum(1), lambda x: (x**3).sum(1), [r(0, 3)])
    _second(lambda x: (x**3).exp(), lambda x: (x**3).exp(), [r(1)])
    _second(lambda x: (x**3).exp(), lambda x: (x**3).exp(), [np.array(0.7)])
