"""Round-39 review fixes, each against torch 2.13: checkpoint's nested outputs, vmap's
out_dims=None / in_dims checks, randperm's float limits, sinc's gradient near 0, elu / celu /
selu / mish / softmin double backward, Gumbel's repeated backward, the RNG API."""

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.func as df
import deltagrad.nn.functional as F
from deltagrad.utils.checkpoint import checkpoint

torch = pytest.importorskip("torch")
import torch.func as tf  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
import torch.utils.checkpoint as tck  # noqa: E402

RNG = np.random.default_rng(39)


def _close(a, b, tol=1e-12):
    a = np.asarray(a.data if isinstance(a, dg.Tensor) else a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


# ---- 1. checkpoint(use_reentrant=False) with nested outputs ---------------------------------

X0 = RNG.standard_normal((2, 3))
W0 = RNG.standard_normal((3, 4))


def _structures(lib):
    return {
        "dict": lambda a, w: {"out": (a @ w).tanh()},
        "nested": lambda a, w: (((a @ w).sin(), a.cos()), a.exp()),
        "list_in_dict": lambda a, w: {"k": [a.sin(), (a @ w) * 2], "n": 3},
        "dict_in_tuple": lambda a, w: ({"s": a.sin()}, None, (a @ w).sum()),
    }


def _leaves(tree):
    if isinstance(tree, dict):
        return [v for k in sorted(tree) for v in _leaves(tree[k])]
    if isinstance(tree, (tuple, list)):
        return [v for t in tree for v in _leaves(t)]
    return [tree]


@pytest.mark.parametrize("kind", ["dict", "nested", "list_in_dict", "dict_in_tuple"])
def test_checkpoint_nested_output_gradients(kind):
    grads = []
    for lib, ck in ((dg, checkpoint), (torch, tck.checkpoint)):
        x = lib.tensor(X0, requires_grad=True)
        w = lib.tensor(W0, requires_grad=True)
        out = ck(_structures(lib)[kind], x, w, use_reentrant=False)
        ts = [t for t in _leaves(out) if isinstance(t, (dg.Tensor, torch.Tensor))]
        loss = sum(((t * (k + 1)) ** 2).sum() for k, t in enumerate(ts))
        loss.backward()
        grads.append((out, x.grad, w.grad))
    (o, gx, gw), (ot, gxt, gwt) = grads
    assert type(o) is type(ot)
    assert gx is not None and gw is not None
    _close(gx, gxt)
    _close(gw, gwt)


def test_checkpoint_nested_one_output_used_and_parameters():
    lin = dg.nn.Linear(3, 2).double()
    tl = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.data))
        tl.bias.copy_(torch.tensor(lin.bias.data))
    x = dg.tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    xt = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True, dtype=torch.float64)
    y = checkpoint(lambda a: {"out": lin(a), "aux": (a.sin(),)}, x, use_reentrant=False)
    yt = tck.checkpoint(lambda a: {"out": tl(a), "aux": (a.sin(),)}, xt, use_reentrant=False)
    y["out"].sum().backward()
    yt["out"].sum().backward()
    _close(x.grad, xt.grad)
    _close(lin.weight.grad, tl.weight.grad)


def test_checkpoint_reentrant_keeps_one_level():
    # the reentrant variant is an autograd.Function: a dict output carries no gradient (torch)
    x = dg.tensor(X0, requires_grad=True)
    y = checkpoint(lambda a: {"y": a.sin()}, x, use_reentrant=True)
    if y["y"].requires_grad:
        y["y"].sum().backward()
    assert x.grad is None


# ---- 2. vmap: out_dims=None with a batched output, in_dims as a list -----------------------

C = RNG.standard_normal((3, 2))


def _both(fn):
    res = []
    for lib, fx in ((dg, df), (torch, tf)):
        try:
            res.append(fn(lib, fx))
        except Exception as e:  # noqa: BLE001
            res.append(e)
    return res


@pytest.mark.parametrize(
    "f, od",
    [
        (lambda lib, t: t.sum(), None),
        (lambda lib, t: t.detach(), None),
        (lambda lib, t: (t.sum(), (t, t * 2)), (0, None)),
        (lambda lib, t: (t.sum(), t.sum()), (None, 0)),
    ],
)
def test_vmap_out_dims_none_batched_raises(f, od):
    d, t = _both(lambda lib, fx: fx.vmap(lambda a: f(lib, a), out_dims=od)(lib.tensor(C)))
    assert isinstance(t, ValueError)
    assert isinstance(d, ValueError)
    assert "can not return a BatchedTensor when out_dim is None" in str(d)


def test_vmap_out_dims_none_batch_of_one_and_graph():
    with pytest.raises(ValueError, match="BatchedTensor"):
        df.vmap(lambda a: a, out_dims=None)(dg.tensor(C[:1]))
    x = dg.tensor(C, requires_grad=True)  # same values, but a graph to the examples
    with pytest.raises(ValueError, match="BatchedTensor"):
        df.vmap(lambda a: a * 0, out_dims=None)(x)


def test_vmap_out_dims_none_unbatched_ok():
    outer = RNG.standard_normal(2)
    for lib, fx in ((dg, df), (torch, tf)):
        o = lib.tensor(outer)
        r = fx.vmap(
            lambda a, lib=lib, o=o: (a.sum(), lib.ones(2), 5, o), out_dims=(0, None, None, None)
        )(lib.tensor(C))
        assert r[2] == 5
        _close(r[3], outer)
        _close(r[1], np.ones(2))
        _close(r[0], C.sum(1))


@pytest.mark.parametrize("in_dims", [[0], [0, None]])
def test_vmap_in_dims_list_rejected(in_dims):
    args = (dg.tensor(C),) if len(in_dims) == 1 else (dg.tensor(C), dg.ones(2))
    targs = (torch.tensor(C),) if len(in_dims) == 1 else (torch.tensor(C), torch.ones(2))
    f = (lambda a: a) if len(in_dims) == 1 else (lambda a, b: a * b)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        tf.vmap(f, in_dims=in_dims)(*targs)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        df.vmap(f, in_dims=in_dims)(*args)


def test_vmap_list_vs_tuple_structure():
    lst = [dg.tensor(C), dg.ones(2)]
    r = df.vmap(lambda l: l[0] * l[1], in_dims=([0, None],))(lst)
    _close(r, C)
    with pytest.raises(ValueError, match="in_dims is not compatible"):
        df.vmap(lambda l: l[0] * l[1], in_dims=((0, None),))(lst)
    with pytest.raises(ValueError, match="in_dims is not compatible"):
        df.vmap(lambda l: l[0] * l[1], in_dims=([0, None],))(tuple(lst))
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        df.vmap(lambda a: (a, a), out_dims=[0, 1])(dg.tensor(C))
    r = df.vmap(lambda a: [a, a], out_dims=[0, 1])(dg.tensor(C))
    assert isinstance(r, list)
    _close(r[1], C.T)


# ---- 3. randperm's float limits --------------------------------------------------------------


@pytest.mark.parametrize(
    "dt, tdt, n, msg",
    [
        ("float16", torch.float16, 2050, "n cannot be greater than 2049 for Half type."),
        ("float32", torch.float32, 2**24 + 2, "n cannot be greater than 2^24+1 for Float type."),
    ],
)
def test_randperm_float_limits(dt, tdt, n, msg):
    with pytest.raises(RuntimeError, match=msg.replace("^", r"\^").replace("+", r"\+")):
        torch.randperm(n, dtype=tdt)
    with pytest.raises(RuntimeError, match=msg.replace("^", r"\^").replace("+", r"\+")):
        dg.randperm(n, dtype=getattr(dg, dt))


def test_randperm_float_limits_edges():
    r = dg.randperm(2049, dtype=dg.float16)  # the largest: 2048 is exact in half
    assert r.dtype == np.float16
    assert sorted(r.tolist()) == list(range(2049))
    with pytest.raises(RuntimeError, match=r"2\^53\+1 for Double type"):
        dg.randperm(2**53 + 2, dtype=dg.float64)
    assert sorted(dg.randperm(7, dtype=dg.float32).tolist()) == list(range(7))
    assert dg.randperm(0, dtype=dg.float16).shape == (0,)


# ---- 4. sinc's gradient near 0 ---------------------------------------------------------------

SMALL = np.array([1e-300, -1e-300, 1e-200, -1e-160, 1e-154, 1e-100, 1e-20, 1e-8, -1e-5])
REG = np.concatenate([RNG.uniform(-6, 6, 11), [0.15, -0.16, 0.5, 1.0, -2.0, 0.0]])


def _sinc_d_true(x):
    return -(math.pi**2) * x / 3 + math.pi**4 * x**3 / 30  # the series (|x| small)


def test_sinc_grad_small_is_finite_and_exact():
    x = dg.tensor(SMALL, requires_grad=True)
    dg.special.sinc(x).sum().backward()
    np.testing.assert_allclose(x.grad, _sinc_d_true(SMALL), rtol=1e-13, atol=0)
    xt = torch.tensor(SMALL, requires_grad=True)
    torch.special.sinc(xt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=0, atol=1e-7)  # torch: cancels


def test_sinc_grad_regular_matches_torch():
    x = dg.tensor(REG, requires_grad=True)
    xt = torch.tensor(REG, requires_grad=True)
    dg.special.sinc(x).sum().backward()
    torch.special.sinc(xt).sum().backward()
    _close(x.grad, xt.grad, 1e-12)


def test_sinc_double_backward():
    v = np.concatenate([SMALL, REG])
    x = dg.tensor(v, requires_grad=True)
    (g,) = dg.autograd.grad(dg.special.sinc(x).sum(), [x], create_graph=True)
    (g2,) = dg.autograd.grad(g.sum(), [x])
    np.testing.assert_array_equal(np.isfinite(g2.data), True)
    d2 = -(math.pi**2) / 3 + math.pi**4 * SMALL**2 / 10  # the series' derivative
    np.testing.assert_allclose(g2.data[: len(SMALL)], d2, rtol=1e-13)
    xt = torch.tensor(REG, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.special.sinc(xt).sum(), xt, create_graph=True)
    (g2t,) = torch.autograd.grad(gt.sum(), xt)
    nz = REG != 0  # torch: NaN at exactly 0 (its masked formula); ours -pi^2 / 3
    _close(g2.data[len(SMALL) :][nz], g2t.numpy()[nz], 1e-10)
    assert g2.data[-1] == pytest.approx(-(math.pi**2) / 3, rel=1e-14)
    assert dg.gradcheck(
        dg.special.sinc, (dg.tensor(np.array([1e-3, 0.2, 0.9, 3.1]), requires_grad=True),)
    )


# ---- 5. elu / celu / selu double backward at the kink; 6. mish / softmin ---------------------

ACT_X = np.concatenate([[0.0, -0.0, -np.inf, np.inf, -40.0, 30.0], RNG.standard_normal(9) * 2])


@pytest.mark.parametrize(
    "name, kw",
    [("elu", {"alpha": 1.5}), ("celu", {"alpha": 0.5}), ("selu", {}), ("mish", {})],
)
def test_activation_double_backward(name, kw):
    w = RNG.standard_normal(ACT_X.shape)
    x = dg.tensor(ACT_X, requires_grad=True)
    (g,) = dg.autograd.grad(
        (getattr(F, name)(x, **kw) * dg.tensor(w)).sum(), [x], create_graph=True
    )
    (g2,) = dg.autograd.grad((g * g).sum(), [x])
    xt = torch.tensor(ACT_X, requires_grad=True)
    (gt,) = torch.autograd.grad(
        (getattr(TF, name)(xt, **kw) * torch.tensor(w)).sum(), xt, create_graph=True
    )
    (g2t,) = torch.autograd.grad((gt * gt).sum(), xt)
    fin = np.isfinite(ACT_X) if name == "mish" else np.ones(ACT_X.shape, bool)
    _close(g.data[fin], gt.detach().numpy()[fin])
    _close(g2.data[fin], g2t.numpy()[fin])
    if name == "mish":  # the limits at +-inf (torch: NaN)
        np.testing.assert_array_equal(g.data[2:4], [0.0, w[3]])
        np.testing.assert_array_equal(g2.data[2:4], [0.0, 0.0])


@pytest.mark.parametrize("shape, dim", [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), -1), ((1,), 0)])
def test_softmin_double_backward(shape, dim):
    v = RNG.standard_normal(shape)
    w = RNG.standard_normal(shape)
    x = dg.tensor(v, requires_grad=True)
    (g,) = dg.autograd.grad((F.softmin(x, dim) * dg.tensor(w)).sum(), [x], create_graph=True)
    (g2,) = dg.autograd.grad((g**3).sum(), [x])
    xt = torch.tensor(v, requires_grad=True)
    (gt,) = torch.autograd.grad(
        (TF.softmin(xt, dim) * torch.tensor(w)).sum(), xt, create_graph=True
    )
    (g2t,) = torch.autograd.grad((gt**3).sum(), xt)
    _close(g, gt)
    _close(g2, g2t)


# ---- 7. Gumbel: several backwards through one distribution ------------------------------------


def _copy(g):
    return g.detach().numpy().copy() if isinstance(g, torch.Tensor) else np.array(g)


def test_gumbel_cdf_then_icdf_then_rsample():
    lv, sv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    val, q = RNG.standard_normal(3), RNG.uniform(0.1, 0.9, 3)
    out = []
    for lib, mod in ((dg, dg.distributions), (torch, torch.distributions)):
        loc = lib.tensor(lv, requires_grad=True)
        scale = lib.tensor(sv, requires_grad=True)
        d = mod.Gumbel(loc, scale)
        grads = []
        for f in (
            lambda d=d, lib=lib: d.cdf(lib.tensor(val)),
            lambda d=d, lib=lib: d.icdf(lib.tensor(q)),
        ) * 2:
            loc.grad = scale.grad = None
            f().sum().backward()
            grads.append((_copy(loc.grad), _copy(scale.grad)))
        d.rsample((2,)).sum().backward()
        d.log_prob(lib.tensor(val)).sum().backward()
        out.append(grads)
    for (a, b), (at, bt) in zip(*out):
        _close(a, at)
        _close(b, bt)


def test_gumbel_expand_and_number_params():
    d = dg.distributions.Gumbel(dg.tensor([0.0, 1.0]), dg.tensor([1.0, 2.0])).expand((3, 2))
    assert d.batch_shape == (3, 2)
    assert d.rsample((4,)).shape == (4, 3, 2)
    t = torch.distributions.Gumbel(0.5, 2.0)
    d = dg.distributions.Gumbel(0.5, 2.0)
    _close(d.cdf(dg.tensor(0.3)), t.cdf(torch.tensor(0.3)), 1e-6)
    _close(d.icdf(dg.tensor(0.3)), t.icdf(torch.tensor(0.3)), 1e-6)


# ---- 8. RNG API ---------------------------------------------------------------------------------


def test_manual_seed_returns_default_generator():
    g0 = dg.manual_seed(0)
    g1 = dg.manual_seed(1)
    assert g0 is g1 is dg.default_generator is dg.random.default_generator
    assert g1.initial_seed() == 1 == dg.initial_seed()
    assert torch.manual_seed(0) is torch.default_generator
    dg.manual_seed(5)
    a = dg.rand(4)
    dg.default_generator.manual_seed(5)
    np.testing.assert_array_equal(a.data, dg.rand(4).data)
    s = dg.seed()
    assert s == dg.initial_seed() == dg.default_generator.initial_seed()
    np.testing.assert_array_equal(
        dg.manual_seed(3).random(4), dg.Generator().manual_seed(3).random(4)
    )


def test_get_set_rng_state_top_level():
    dg.manual_seed(7)
    st = dg.get_rng_state()
    assert isinstance(st, dg.Tensor)
    assert st.dtype == np.uint8 and st.ndim == 1
    a = dg.randn(5)
    dg.manual_seed(9)
    dg.set_rng_state(st)
    assert dg.initial_seed() == 7  # the state carries it, as torch's
    np.testing.assert_array_equal(a.data, dg.randn(5).data)
    for bad, err in (
        ({}, TypeError),
        ([1, 2], TypeError),
        (dg.zeros(3, dtype=dg.uint8), RuntimeError),
    ):
        with pytest.raises(err):
            dg.set_rng_state(bad)
        with pytest.raises(err):
            torch.set_rng_state(torch.zeros(3, dtype=torch.uint8) if err is RuntimeError else bad)
    with pytest.raises(TypeError):
        dg.set_rng_state(dg.zeros(56))
    with pytest.raises(RuntimeError):  # torch's 5056-byte mt19937 state is not ours
        dg.set_rng_state(dg.tensor(torch.get_rng_state().numpy()))


def test_fork_rng():
    dg.manual_seed(3)
    with dg.random.fork_rng():
        dg.manual_seed(11)
        dg.rand(3)
    assert dg.initial_seed() == 3
    a = dg.rand(2)
    dg.manual_seed(3)
    np.testing.assert_array_equal(a.data, dg.rand(2).data)
    dg.manual_seed(3)
    with pytest.raises(KeyError), dg.random.fork_rng(devices=[]):
        dg.rand(1)
        raise KeyError
    np.testing.assert_array_equal(a.data, dg.rand(2).data)
    dg.manual_seed(3)
    with dg.random.fork_rng(enabled=False):
        dg.rand(2)
    assert not np.array_equal(a.data, dg.rand(2).data)


def test_private_state_dict_roundtrip_same_object():
    from deltagrad import _random

    g = _random.get_rng()
    st = _random.get_rng_state()
    a = g.random(3)
    _random.set_rng_state(st)
    assert _random.get_rng() is g is dg.default_generator
    np.testing.assert_array_equal(a, g.random(3))
    with pytest.raises(ValueError, match="PCG64"):
        _random.set_rng_state(np.random.MT19937(0).state)
