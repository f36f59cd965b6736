"""nn.Module and containers against torch 2.13 (round 35): ParameterDict, full backward hooks,
forward hooks' with_kwargs / always_call / prepend, hook handles, state_dict's destination /
prefix / keep_vars and extra state, load_state_dict's return value and error text, member
lookup errors, attribute assignment and deletion, train / requires_grad_ / zero_grad, and the
editing operators of Sequential, ModuleList, ModuleDict and ParameterList."""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import ItemsView, KeysView, ValuesView

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
tnn = torch.nn

LIBS = pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
RNG = np.random.default_rng(35)


def _arr(*shape):
    return RNG.standard_normal(shape)


def _t(a, lib, requires_grad=False):
    """The same float64 array as a deltagrad or a torch tensor."""
    if lib is dnn:
        return dg.tensor(np.array(a), requires_grad=requires_grad)
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def _p(a, lib):
    return dnn.Parameter(np.array(a)) if lib is dnn else tnn.Parameter(torch.tensor(np.array(a)))


def _np(t):
    if t is None or isinstance(t, np.ndarray):
        return t
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.numpy())


def _names(it):
    return [n for n, _ in it]


def _pair_linear(n_in=3, n_out=4):
    """A deltagrad and a torch Linear (float64) with the same weights."""
    w, b = _arr(n_out, n_in), _arr(n_out)
    d = dnn.Linear(n_in, n_out).double()
    d.load_state_dict({"weight": w, "bias": b})
    t = tnn.Linear(n_in, n_out).double()
    t.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
    return d, t


# ---- ParameterDict ---------------------------------------------------------------------


@LIBS
def test_parameter_dict_orders_and_registration(lib):
    a, b, c = _arr(2), _arr(3), _arr(2, 2)
    pd = lib.ParameterDict({"b": _t(b, lib), "a": _p(a, lib)})  # a plain dict: sorted keys
    assert list(pd.keys()) == ["a", "b"] and list(pd) == ["a", "b"]
    assert all(isinstance(v, lib.Parameter) for v in pd.values())
    assert pd["b"].requires_grad
    od = lib.ParameterDict(OrderedDict([("z", _t(c, lib)), ("y", _t(a, lib))]))
    assert list(od.keys()) == ["z", "y"]  # an OrderedDict keeps its order
    pairs = lib.ParameterDict([("q", _t(a, lib)), ("p", _t(b, lib))])
    assert list(pairs.keys()) == ["q", "p"] and list(reversed(pairs)) == ["p", "q"]

    class Holder(lib.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.Linear(2, 2)
            self.pd = od

    h = Holder()
    assert _names(h.named_parameters()) == ["lin.weight", "lin.bias", "pd.z", "pd.y"]
    assert list(h.state_dict()) == ["lin.weight", "lin.bias", "pd.z", "pd.y"]
    assert len(list(h.parameters())) == 4
    np.testing.assert_array_equal(_np(h.state_dict()["pd.z"]), c)


@LIBS
def test_parameter_dict_dict_methods(lib):
    a = _arr(2)
    pd = lib.ParameterDict(OrderedDict([("a", _p(a, lib)), ("b", _p(_arr(3), lib))]))
    first = pd["a"]
    assert pd.setdefault("a") is first
    assert pd.setdefault("c", _t(a, lib)) is pd["c"] and isinstance(pd["c"], lib.Parameter)
    assert pd.setdefault("n") is None and list(pd) == ["a", "b", "c", "n"]
    assert _names(pd.named_parameters()) == ["a", "b", "c"]  # None: an object entry
    assert pd.get("zz", 5) == 5 and pd.get("a") is first and "a" in pd and len(pd) == 4
    assert pd.popitem() == ("n", None) and list(pd) == ["a", "b", "c"]
    assert pd.pop("c") is not None and list(pd) == ["a", "b"]
    cp = pd.copy()
    assert type(cp) is type(pd) and list(cp) == ["a", "b"] and cp["a"] is first
    fk = pd.fromkeys(["m", "n"], _t(a, lib))
    assert type(fk) is type(pd) and list(fk) == ["m", "n"]
    assert all(isinstance(v, lib.Parameter) for v in fk.values())
    assert list(pd.fromkeys(["x"]).items()) == [("x", None)]
    merged = pd | {"z": _t(a, lib), "d": _t(a, lib)}
    assert type(merged) is type(pd) and list(merged) == ["a", "b", "d", "z"] and len(pd) == 2
    rmerged = {"z": 1} | pd
    assert type(rmerged) is dict and list(rmerged) == ["z", "a", "b"]
    same = pd
    pd |= OrderedDict([("y", _t(a, lib)), ("x", _t(a, lib))])
    assert pd is same and list(pd) == ["a", "b", "y", "x"]
    pd.update(lib.ParameterDict(OrderedDict([("k", _t(a, lib)), ("e", _t(a, lib))])))
    assert list(pd) == ["a", "b", "y", "x", "k", "e"]
    pd["a"] = _t(_arr(5), lib)  # replacing keeps the position
    assert list(pd) == ["a", "b", "y", "x", "k", "e"] and pd["a"].shape == (5,)
    assert _names(pd.named_parameters())[0] == "a"
    with pytest.raises(TypeError, match="parameter 'b'"):
        pd["b"] = "text"  # a parameter's slot takes no other object, as Module's
    pd["b"] = None
    assert "b" not in _names(pd.named_parameters()) and pd["b"] is None
    pd["o"] = "text"
    pd["o"] = _t(a, lib)  # an object entry may become a parameter
    assert _names(pd.named_parameters())[-1] == "o"
    del pd["o"]
    del pd["b"]
    assert "b" not in pd
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []


@LIBS
def test_parameter_dict_errors(lib):
    pd = lib.ParameterDict({"a": _t(_arr(2), lib)})
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = _t(_arr(1), lib)
    with pytest.raises(KeyError, match='contain "."'):
        pd["x.y"] = _t(_arr(1), lib)
    with pytest.raises(KeyError, match="empty string"):
        pd[""] = _t(_arr(1), lib)
    with pytest.raises(AttributeError):  # torch reads an attribute
        pd["nope"]
    with pytest.raises(AttributeError):
        pd.pop("nope")
    with pytest.raises(KeyError):
        del pd["nope"]
    with pytest.raises(TypeError, match="should be called with an iterable"):
        pd.update(5)
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        pd.update([("k",)])
    with pytest.raises(TypeError, match="should be Iterable"):
        pd.update([1])
    with pytest.raises(TypeError):
        pd | 5
    with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
        pd(1)
    if lib is dnn:  # torch lists the rejected keys 1, "x.y" and "" anyway (its _keys first)
        assert list(pd) == ["a"]


def test_parameter_dict_missing_key_is_also_a_key_error():
    pd = dnn.ParameterDict()
    with pytest.raises(KeyError, match="no key 'nope'"):
        pd["nope"]
    with pytest.raises(KeyError, match="dictionary is empty"):
        pd.popitem()
    with pytest.raises(KeyError, match="already exists"):  # would shadow a method
        pd["keys"] = dg.tensor(np.ones(1))


def test_parameter_dict_repr_as_torch():
    def make(lib):
        f64 = np.ones((2, 3))
        pd = lib.ParameterDict(
            OrderedDict([("w", _t(np.ones(2, np.float32), lib)), ("v", _t(f64, lib)), ("o", "s")])
        )
        pd["i"] = 5
        pd["n"] = None
        return pd

    assert repr(make(dnn)) == repr(make(tnn)).replace("torch.", "")
    assert repr(dnn.ParameterDict()) == repr(tnn.ParameterDict())

    class M(dnn.Module):
        def __init__(self):
            super().__init__()
            self.pd = dnn.ParameterDict({"w": dg.tensor(np.ones(2, np.float32))})

    class TM(tnn.Module):
        def __init__(self):
            super().__init__()
            self.pd = tnn.ParameterDict({"w": torch.ones(2)})

    assert repr(M()).replace("TM", "M") == repr(TM()).replace("torch.", "").replace("TM", "M")


def test_parameter_dict_trains_and_round_trips():
    pd = dnn.ParameterDict({"w": dg.tensor(_arr(3)), "b": dg.tensor(_arr(1))})
    x = dg.tensor(_arr(4, 3))
    (x @ pd["w"] + pd["b"]).sum().backward()
    np.testing.assert_allclose(_np(pd["w"].grad), x.numpy().sum(0), rtol=1e-12)
    np.testing.assert_allclose(_np(pd["b"].grad), [4.0])
    other = dnn.ParameterDict({"w": dg.tensor(np.zeros(3)), "b": dg.tensor(np.zeros(1))})
    assert repr(other.load_state_dict(pd.state_dict())) == "<All keys matched successfully>"
    np.testing.assert_array_equal(_np(other["w"]), _np(pd["w"]))
    opt = dg.optim.SGD(pd.parameters(), lr=0.1)
    before = _np(pd["w"]).copy()
    opt.step()
    np.testing.assert_allclose(_np(pd["w"]), before - 0.1 * x.numpy().sum(0), rtol=1e-12)


# ---- ParameterList -----------------------------------------------------------------------


@LIBS
def test_parameter_list_objects_and_errors(lib):
    pl = lib.ParameterList([_t(_arr(2), lib), _p(_arr(3), lib), 5, None])
    assert _names(pl.named_parameters()) == ["0", "1"] and list(pl.state_dict()) == ["0", "1"]
    assert pl[2] == 5 and pl[-1] is None and len(pl) == 4
    assert isinstance(pl[0], lib.Parameter)
    with pytest.raises(IndexError, match="index 10 is out of range"):
        pl[10]
    with pytest.raises(IndexError, match="index 10 is out of range"):
        pl[10] = _t(_arr(1), lib)
    pl[-1] = _t(_arr(1), lib)
    assert _names(pl.named_parameters()) == ["0", "1", "3"]
    with pytest.raises(TypeError, match="parameter '0'"):
        pl[0] = 7
    pl[2] = _t(_arr(1), lib)
    assert _names(pl.named_parameters()) == ["0", "1", "3", "2"]  # registration order
    pl[2] = None
    assert _names(pl.named_parameters()) == ["0", "1", "3"] and pl[2] is None
    tail = pl[1:]
    assert type(tail) is type(pl) and len(tail) == 3 and tail[0] is pl[1]
    with pytest.raises(TypeError, match="should be called with an iterable"):
        pl.extend(5)
    with pytest.raises(TypeError, match="should be called with an iterable"):
        pl.extend(_t(_arr(2), lib))
    with pytest.raises(TypeError):
        pl["0"]
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        pl(1)
    same = pl
    pl += [_t(_arr(1), lib)]
    assert pl is same and len(pl) == 5 and _names(pl.named_parameters())[-1] == "4"
    assert [type(v).__name__ for v in reversed(lib.ParameterList([1, "a"]))] == ["str", "int"]


def test_parameter_list_repr_with_objects_as_torch():
    def make(lib):
        return lib.ParameterList([_t(np.ones(2, np.float32), lib), 5, None])

    assert repr(make(dnn)) == repr(make(tnn)).replace("torch.", "")


# ---- full backward hooks -----------------------------------------------------------------


def _record(log, tag):
    def hook(mod, *grads):
        log.append((tag, [[None if g is None else _np(g) for g in gs] for gs in grads]))

    return hook


def _same_log(a, b):
    assert len(a) == len(b)
    for (ta, ga), (tb, gb) in zip(a, b):
        assert ta == tb and len(ga) == len(gb)
        for xa, xb in zip(ga, gb):
            assert len(xa) == len(xb)
            for u, v in zip(xa, xb):
                assert (u is None) == (v is None)
                if u is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_full_backward_hooks_see_torchs_gradients():
    d, t = _pair_linear(3, 4)
    x = _arr(5, 3)
    logs = []
    for mod, lib in ((d, dnn), (t, tnn)):
        log = []
        mod.register_full_backward_pre_hook(_record(log, "pre"))
        mod.register_full_backward_hook(_record(log, "full"))
        xi = _t(x, lib, requires_grad=True)
        (mod(xi) * _t(np.arange(4.0), lib)).sum().backward()
        logs.append((log, _np(xi.grad), _np(mod.weight.grad)))
    _same_log(logs[0][0], logs[1][0])
    np.testing.assert_allclose(logs[0][1], logs[1][1], rtol=1e-12)
    np.testing.assert_allclose(logs[0][2], logs[1][2], rtol=1e-12)


def test_full_backward_hooks_several_inputs_and_outputs():
    def make(lib):
        class Two(lib.Module):
            def forward(self, x, y, scale, k=None):
                return x * scale, y.exp(), "tag"

        return Two()

    x, y = _arr(3), _arr(2, 2)
    logs = []
    for lib in (dnn, tnn):
        m, log = make(lib), []
        m.register_full_backward_pre_hook(_record(log, "pre"))
        m.register_full_backward_hook(_record(log, "full"))
        xi = _t(x, lib, requires_grad=True)
        yi = _t(y, lib, requires_grad=True)
        a, b, c = m(xi, yi, 2.5, k=_t(x, lib, requires_grad=True))
        assert c == "tag"
        a.sum().backward()  # b unused: grad_output None, grad_input zeros for y
        # y not requiring grad: still a zero entry
        a2, _, _ = m(_t(x, lib, requires_grad=True), _t(y, lib), 2.5)
        (a2 * 3).sum().backward()
        logs.append((log, _np(xi.grad), _np(yi.grad)))
    _same_log(logs[0][0], logs[1][0])
    np.testing.assert_allclose(logs[0][1], logs[1][1], rtol=1e-12)
    np.testing.assert_array_equal(logs[0][2], logs[1][2])


@pytest.mark.parametrize("where", ["grad_input", "grad_output"])
def test_full_backward_hooks_replace_gradients_as_torch(where):
    d, t = _pair_linear(3, 2)
    x = _arr(4, 3)
    res = []
    for mod, lib in ((d, dnn), (t, tnn)):
        if where == "grad_input":
            mod.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
        else:
            mod.register_full_backward_pre_hook(lambda m, go: (go[0] * -2,))
        xi = _t(x, lib, requires_grad=True)
        mod(xi).pow(2).sum().backward()
        res.append((_np(xi.grad), _np(mod.weight.grad), _np(mod.bias.grad)))
    for u, v in zip(*res):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


@LIBS
def test_full_backward_hook_errors(lib):
    def run(register, hook, requires_grad=True):
        m = lib.Linear(2, 2).double()
        getattr(m, register)(hook)
        m(_t(_arr(1, 2), lib, requires_grad=requires_grad)).sum().backward()

    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        run("register_full_backward_hook", lambda m, gi, go: (gi[0], None))
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 2, but expected 1"):
        run("register_full_backward_pre_hook", lambda m, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="changed the size"):
        run("register_full_backward_hook", lambda m, gi, go: (_t(_arr(3), lib),))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        with pytest.raises(RuntimeError, match="should always return None"):
            run(
                "register_full_backward_hook",
                lambda m, gi, go: (_t(_arr(1, 2), lib),),
                requires_grad=False,
            )


@LIBS
def test_full_backward_hook_without_input_grads(lib):
    m = lib.Linear(2, 3).double()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        m(_t(_arr(4, 2), lib)).sum().backward()
    assert seen == [((None,), (4, 3))] and m.weight.grad is not None


@LIBS
def test_full_backward_hook_order_handles_and_scope(lib):
    m = lib.Linear(2, 2).double()
    order = []
    h1 = m.register_full_backward_hook(lambda *a: order.append("h1"))
    m.register_full_backward_hook(lambda *a: order.append("h2"), prepend=True)
    m.register_full_backward_pre_hook(lambda *a: order.append("p1"))
    m.register_full_backward_pre_hook(lambda *a: order.append("p2"), prepend=True)
    x = _t(_arr(1, 2), lib, requires_grad=True)
    m(x).sum().backward()
    assert order == ["p2", "p1", "h2", "h1"]
    order.clear()
    h1.remove()
    h1.remove()  # twice: nothing more
    m(m(x)).sum().backward()  # two calls: the hooks run once per call
    assert order == ["p2", "p1", "h2", "p2", "p1", "h2"]
    order.clear()
    with m.register_full_backward_hook(lambda *a: order.append("ctx")):
        m(x).sum().backward()
    m(x).sum().backward()
    assert order.count("ctx") == 1
    order.clear()
    grad_ctx = dg.no_grad() if lib is dnn else torch.no_grad()
    with grad_ctx:
        out = m(x)
    assert not out.requires_grad and order == []


@LIBS
def test_full_backward_hook_identity_and_dict_output(lib):
    class Ident(lib.Module):
        def forward(self, x):
            return x

    class AsDict(lib.Module):
        def forward(self, x):
            return {"a": x * 2}

    m, seen = Ident(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((_np(gi[0]), _np(go[0]))))
    x = _t(_arr(3), lib, requires_grad=True)
    (m(x) * 3).sum().backward()
    np.testing.assert_array_equal(seen[0][0], [3.0] * 3)
    np.testing.assert_array_equal(seen[0][1], [3.0] * 3)
    np.testing.assert_array_equal(_np(x.grad), [3.0] * 3)
    d = AsDict()
    d.register_full_backward_hook(lambda *a: seen.append("called"))
    with pytest.warns(UserWarning, match="should be a Tensor or a tuple of Tensors"):
        out = d(x)
    out["a"].sum().backward()
    assert seen[-1] != "called"


def test_full_backward_hook_with_autograd_grad_and_retain_graph():
    m = dnn.Linear(2, 2).double()
    calls = []
    m.register_full_backward_hook(lambda *a: calls.append(1))
    x = dg.tensor(_arr(3, 2), requires_grad=True)
    out = m(x).sum()
    (g,) = dg.autograd.grad(out, x, retain_graph=True)
    np.testing.assert_allclose(_np(g), np.tile(_np(m.weight).sum(0), (3, 1)), rtol=1e-12)
    out.backward()
    assert calls == [1, 1] and x.grad is not None


def test_legacy_backward_hook_is_not_implemented():
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        dnn.Linear(1, 1).register_backward_hook(lambda *a: None)


# ---- forward hooks -------------------------------------------------------------------------


def _kw_module(lib):
    class K(lib.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    return K()


@LIBS
def test_forward_hooks_with_kwargs_and_prepend(lib):
    m = _kw_module(lib)
    order = []
    m.register_forward_pre_hook(lambda mod, args, kw: (args, {"scale": 3.0}), with_kwargs=True)
    m.register_forward_pre_hook(lambda mod, args: order.append("pre-first"), prepend=True)
    m.register_forward_hook(lambda mod, args, kw, out: order.append(("kw", kw)), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, out: out + 1, prepend=True)
    out = m(_t(np.ones(2), lib), scale=2.0)
    np.testing.assert_array_equal(_np(out), [4.0, 4.0])
    assert order == ["pre-first", ("kw", {"scale": 3.0})]
    m2 = _kw_module(lib)
    m2.register_forward_pre_hook(lambda mod, args, kw: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="must return None or a tuple of"):
        m2(_t(np.ones(2), lib))


@LIBS
def test_forward_hook_always_call(lib):
    class Bad(lib.Module):
        def forward(self, x):
            raise ValueError("boom")

    m, seen = Bad(), []
    m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
    m.register_forward_hook(lambda mod, args, out: seen.append("plain"))
    m.register_forward_hook(
        lambda mod, a, kw, out: seen.append(kw), with_kwargs=True, always_call=True
    )
    with pytest.raises(ValueError, match="boom"):
        m(1)
    assert seen == [("always", None), {}]
    seen.clear()

    def bad_hook(mod, args, out):
        raise KeyError("hook")

    m2 = Bad()
    m2.register_forward_hook(bad_hook, always_call=True)
    with pytest.warns(UserWarning, match="silenced as another error"):
        with pytest.raises(ValueError, match="boom"):
            m2(1)
    # a hook that raises after forward: the always_call hooks not yet run still run (on
    # forward's output)
    ok = lib.Identity()
    ok.register_forward_hook(bad_hook)
    ok.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(KeyError):
        ok(7)
    assert seen == [7]
    # an always_call hook that already ran is not run twice
    seen.clear()
    ok2 = lib.Identity()
    ok2.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    ok2.register_forward_hook(bad_hook)
    with pytest.raises(KeyError):
        ok2(7)
    assert seen == [7]


@LIBS
def test_hook_handles_remove_every_mark(lib):
    m = _kw_module(lib)
    calls = []
    h = m.register_forward_hook(lambda *a: calls.append(len(a)), with_kwargs=True, always_call=True)
    m(_t(np.ones(1), lib))
    h.remove()
    m(_t(np.ones(1), lib))
    assert calls == [4]
    assert not m._forward_hooks and not m._forward_hooks_with_kwargs
    assert not m._forward_hooks_always_called
    with m.register_forward_pre_hook(lambda mod, a: calls.append("pre")) as handle:
        m(_t(np.ones(1), lib))
    m(_t(np.ones(1), lib))
    assert calls == [4, "pre"] and handle.id not in m._forward_pre_hooks


def test_hook_registration_checks_the_hook():
    m = dnn.Linear(1, 1)
    for register in (
        m.register_forward_hook,
        m.register_forward_pre_hook,
        m.register_full_backward_hook,
        m.register_full_backward_pre_hook,
    ):
        with pytest.raises(TypeError, match="hook: expected a callable"):
            register(5)


# ---- state_dict and load_state_dict ----------------------------------------------------------


@LIBS
def test_state_dict_destination_prefix_keep_vars(lib):
    m = lib.Linear(2, 3)
    dest = OrderedDict(existing=1)
    assert m.state_dict(destination=dest, prefix="p.") is dest
    assert list(dest) == ["existing", "p.weight", "p.bias"]
    kv = m.state_dict(keep_vars=True)
    assert kv["weight"] is m.weight
    assert list(m.state_dict(prefix="q.")) == ["q.weight", "q.bias"]
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        pos = m.state_dict(None, "r.", True)
    assert list(pos) == ["r.weight", "r.bias"] and pos["r.weight"] is m.weight
    with pytest.warns(FutureWarning):
        d2 = {}
        assert m.state_dict(d2) is d2 and list(d2) == ["weight", "bias"]


def _with_extra(lib, override_set=True):
    class Extra(lib.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.Linear(1, 1)
            self.register_buffer("b", _t(np.ones(1), lib))
            self.count = 0

        def get_extra_state(self):
            return {"count": self.count}

        if override_set:

            def set_extra_state(self, state):
                self.count = state["count"]

    return Extra()


@LIBS
def test_extra_state(lib):
    m = _with_extra(lib)
    m.count = 3
    sd = m.state_dict()
    assert list(sd) == ["b", "_extra_state", "lin.weight", "lin.bias"]
    assert sd["_extra_state"] == {"count": 3}
    other = _with_extra(lib)
    res = other.load_state_dict(sd)
    assert other.count == 3 and not res.missing_keys and not res.unexpected_keys
    del sd["_extra_state"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "_extra_state"'):
        other.load_state_dict(sd)
    res = other.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["_extra_state"] and res.unexpected_keys == []
    # a module without set_extra_state: the key is unexpected
    plain = _with_extra(lib, override_set=False)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
        plain.load_state_dict(plain.state_dict())
    with pytest.raises(RuntimeError):
        lib.Linear(1, 1).get_extra_state()
    with pytest.raises(RuntimeError):
        lib.Linear(1, 1).set_extra_state({})


def test_extra_state_through_save_and_load(tmp_path):
    class E(dnn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dnn.Linear(1, 1)
            self.state = {}

        def get_extra_state(self):
            return self.state

        def set_extra_state(self, state):
            self.state = state

    src = dnn.Sequential(E())
    src[0].state = {"step": 4, "table": np.arange(3.0)}
    path = tmp_path / "m.safetensors"
    src.save(path)
    dst = dnn.Sequential(E())
    dst.load(path)
    assert dst[0].state["step"] == 4
    np.testing.assert_array_equal(dst[0].state["table"], np.arange(3.0))
    np.testing.assert_array_equal(_np(dst[0].lin.weight), _np(src[0].lin.weight))


def _torch_lines(msg):
    """torch's load_state_dict message lines, in deltagrad's notation (shapes as tuples)."""
    msg = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", lambda m_: f"({m_.group(1)},)", msg)
    msg = msg.replace("(,)", "()").replace(",,)", ",)")
    return [line.strip() for line in msg.split("\n")[1:]]


def test_load_state_dict_error_text_as_torch():
    d, t = dnn.Linear(2, 2), tnn.Linear(2, 2)
    bad = {"bias": np.ones(3), "foo": np.ones(2)}
    with pytest.raises(RuntimeError) as want:
        t.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as got:
        d.load_state_dict(bad)
    assert str(got.value).startswith("Error(s) in loading state_dict for Linear")
    ours = [line.strip() for line in str(got.value).split("\n")[1:]]
    theirs = _torch_lines(str(want.value))
    assert ours == [s.rstrip() for s in theirs]
    for strict in (True, False):  # a size mismatch is an error either way
        with pytest.raises(RuntimeError, match="size mismatch for bias"):
            d.load_state_dict({"weight": np.ones((2, 2)), "bias": np.ones(3)}, strict=strict)


@LIBS
def test_load_state_dict_return_value(lib):
    m = lib.Linear(2, 2)
    res = m.load_state_dict({"bias": _t(np.ones(2), lib), "foo": _t(np.ones(2), lib)}, strict=False)
    assert type(res).__name__ == "_IncompatibleKeys" and isinstance(res, tuple)
    assert res.missing_keys == ["weight"] and res.unexpected_keys == ["foo"]
    missing, unexpected = res
    assert missing == ["weight"] and unexpected == ["foo"]
    np.testing.assert_array_equal(_np(m.bias), [1.0, 1.0])
    assert repr(m.load_state_dict(m.state_dict())) == "<All keys matched successfully>"
    with pytest.raises(TypeError):
        m.load_state_dict([1])


@LIBS
def test_non_persistent_buffers_and_none_slots(lib):
    m = lib.Linear(2, 2)
    m.register_buffer("tmp", _t(np.ones(2), lib), persistent=False)
    m.register_buffer("keep", _t(np.ones(1), lib))
    assert list(m.state_dict()) == ["weight", "bias", "keep"]
    assert _names(m.named_buffers()) == ["tmp", "keep"]
    sd = m.state_dict()
    sd["tmp"] = sd["keep"]
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "tmp"'):
        m.load_state_dict(sd)
    m.bias = None
    m.keep = None
    assert list(m.state_dict()) == ["weight"] and "bias" in m._parameters
    assert m.bias is None and "keep" in m._buffers
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "bias"'):
        m.load_state_dict({"weight": _t(np.ones((2, 2)), lib), "bias": _t(np.ones(2), lib)})


@LIBS
def test_shared_parameter_under_two_names(lib):
    class Tied(lib.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.Linear(2, 2, bias=False)
            self.b = lib.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

    m = Tied()
    assert list(m.state_dict()) == ["a.weight", "b.weight"]
    assert _names(m.named_parameters()) == ["a.weight"]
    assert _names(m.named_parameters(remove_duplicate=False)) == ["a.weight", "b.weight"]
    m.load_state_dict(
        {"a.weight": _t(np.ones((2, 2)), lib), "b.weight": _t(np.full((2, 2), 2.0), lib)}
    )
    assert m.a.weight is m.b.weight
    np.testing.assert_array_equal(_np(m.a.weight), np.full((2, 2), 2.0))  # the last wins
    res = m.load_state_dict({"a.weight": _t(np.zeros((2, 2)), lib)}, strict=False)
    assert res.missing_keys == ["b.weight"]
    np.testing.assert_array_equal(_np(m.b.weight), np.zeros((2, 2)))


# ---- traversal and lookup ------------------------------------------------------------------


def _tree(lib):
    shared = lib.ReLU()
    inner = lib.Sequential(lib.Linear(1, 2), shared)
    return lib.Sequential(inner, shared, lib.BatchNorm1d(2))


def test_named_modules_and_members_as_torch():
    d, t = _tree(dnn), _tree(tnn)
    assert _names(d.named_modules()) == _names(t.named_modules())
    kw = {"prefix": "root", "remove_duplicate": False}
    assert _names(d.named_modules(**kw)) == _names(t.named_modules(**kw))
    memo_d, memo_t = {id(d[0])}, {t[0]}  # torch's memo holds modules, deltagrad's their ids
    assert _names(d.named_modules(memo_d)) == _names(t.named_modules(memo_t))
    assert _names(d.named_parameters(prefix="p")) == _names(t.named_parameters(prefix="p"))
    assert _names(d.named_buffers()) == _names(t.named_buffers())
    assert _names(d[2].named_buffers(recurse=False)) == _names(t[2].named_buffers(recurse=False))
    assert len(list(d.parameters(recurse=False))) == len(list(t.parameters(recurse=False))) == 0
    assert len(list(d[2].parameters(recurse=False))) == 2
    assert _names(d.named_children()) == _names(t.named_children())


def _message(fn):
    with pytest.raises(AttributeError) as e:
        fn()
    return str(e.value)


@pytest.mark.parametrize(
    "call, target",
    [
        ("get_submodule", "0.x"),
        ("get_submodule", "5"),
        ("get_submodule", "0.0.weight"),
        ("get_submodule", "2.training"),
        ("get_parameter", "0.0.nope"),
        ("get_parameter", "2.running_mean"),
        ("get_parameter", "7.weight"),
        ("get_parameter", ""),
        ("get_buffer", "2.nope"),
        ("get_buffer", "0.0.weight"),
        ("get_buffer", "2.training"),
    ],
)
def test_lookup_errors_carry_torchs_text(call, target):
    d, t = _tree(dnn), _tree(tnn)
    theirs = _message(lambda: getattr(t, call)(target))
    ours = _message(lambda: getattr(d, call)(target))
    assert theirs in ours and call in ours


def test_lookup_successes():
    d = _tree(dnn)
    assert d.get_submodule("") is d and d.get_submodule("0.1") is d[1]
    assert d.get_parameter("0.0.bias") is d[0][0].bias
    assert d.get_buffer("2.num_batches_tracked") is d[2].num_batches_tracked
    with pytest.raises(TypeError, match="target: expected a str"):
        d.get_submodule(0)


# ---- attributes, modes, gradients ----------------------------------------------------------


@LIBS
def test_register_module_and_dir_and_delattr(lib):
    m = lib.Module()
    relu = lib.ReLU()
    m.register_module("act", relu)
    m.add_module("act2", relu)
    assert m.act is relu and _names(m.named_children()) == ["act"]
    with pytest.raises(TypeError):
        m.register_module("bad", 5)
    with pytest.raises(KeyError):
        m.register_module("a.b", relu)
    m.register_parameter("w", _p(np.ones(2), lib))
    m.register_buffer("buf", _t(np.ones(2), lib))
    listing = dir(m)
    assert {"act", "w", "buf", "zero_grad"} <= set(listing)
    del m.w
    del m.buf
    del m.act
    assert _names(m.named_parameters()) == [] and _names(m.named_buffers()) == []
    assert _names(m.named_children()) == ["act2"]
    assert not hasattr(m, "w") and "w" not in dir(m)
    with pytest.raises(AttributeError):
        del m.nope


@LIBS
def test_assignment_rules(lib):
    m = lib.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = _t(np.ones((2, 2)), lib)
    if lib is dnn:  # a plain array is no parameter either (torch has no arrays)
        with pytest.raises(TypeError, match="parameter 'weight'"):
            m.weight = np.ones((2, 2))
    m.weight = None
    assert m.weight is None and "weight" in m._parameters
    assert _names(m.named_parameters()) == ["bias"]
    m.weight = _p(np.ones((2, 2)), lib)
    assert _names(m.named_parameters()) == ["weight", "bias"]  # the slot kept its place


@LIBS
def test_train_requires_grad_zero_grad(lib):
    m = lib.Sequential(lib.Linear(2, 2), lib.Dropout())
    for bad in (1, "x", None):
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            m.train(bad)
    assert m.train(False) is m and not m[1].training
    assert m.train() is m and m[1].training
    assert m.requires_grad_(False) is m
    assert [p.requires_grad for p in m.parameters()] == [False, False]
    m.requires_grad_()
    x = _t(np.ones((3, 2), np.float32), lib)
    m.eval()
    m(x).sum().backward()
    m.zero_grad(set_to_none=False)
    for p in m.parameters():
        np.testing.assert_array_equal(_np(p.grad), np.zeros(p.shape))
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# ---- Sequential, ModuleList, ModuleDict ------------------------------------------------------


def _kinds(mod):
    """(name, type) of every child slot, a repeated module included."""
    return [(n, type(m).__name__) for n, m in mod._modules.items()]


@LIBS
def test_sequential_arithmetic(lib):
    s = lib.Sequential(lib.ReLU(), lib.Tanh())
    twice = s * 2
    assert type(twice) is type(s) and len(twice) == 4 and twice[2] is s[0] and len(s) == 2
    assert _kinds(twice) == [("0", "ReLU"), ("1", "Tanh"), ("2", "ReLU"), ("3", "Tanh")]
    assert _kinds(3 * s) == _kinds(s * 3) and len(s * 1) == 2
    for bad in (0, -1):
        with pytest.raises(ValueError, match="Non-positive multiplication factor"):
            s * bad
    with pytest.raises(TypeError):
        s * 1.5
    with pytest.raises(ValueError, match="Non-positive"):
        s *= 0
    same = s
    s *= 2
    assert s is same and _kinds(s) == _kinds(twice) and s[3] is s[1]
    with pytest.raises(ValueError):
        s + [lib.ReLU()]
    with pytest.raises(ValueError):
        s += [lib.ReLU()]


@LIBS
def test_sequential_indexing_and_editing(lib):
    s = lib.Sequential(OrderedDict([("a", lib.ReLU()), ("b", lib.Tanh()), ("c", lib.Sigmoid())]))
    assert type(s[1:]) is type(s) and _kinds(s[1:]) == [("b", "Tanh"), ("c", "Sigmoid")]
    assert type(s[-1]).__name__ == "Sigmoid"
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]
    with pytest.raises(TypeError):
        s["a"]
    s[-1] = lib.ELU()
    assert _kinds(s)[-1] == ("c", "ELU")
    with pytest.raises(IndexError):
        s[5] = lib.ELU()
    with pytest.raises(TypeError):
        s[0] = 5
    with pytest.raises(IndexError):
        del s[5]
    with pytest.raises(IndexError):
        s.pop(5)
    assert [type(m).__name__ for m in reversed(s)] == ["ELU", "Tanh", "ReLU"]
    del s[0]
    assert _kinds(s) == [("0", "Tanh"), ("1", "ELU")]
    s.append(lib.ReLU())
    assert type(s.pop(-1)).__name__ == "ReLU"
    popped = s.pop(slice(0, 1))
    assert type(popped) is type(s) and _kinds(s) == [("0", "ELU")]
    x = _t(_arr(3), lib)
    assert lib.Sequential()(x) is x
    with pytest.raises(TypeError):
        lib.Sequential(5)
    with pytest.raises(TypeError):
        lib.Sequential(OrderedDict([("a", 5)]))


@LIBS
def test_module_list_errors(lib):
    ml = lib.ModuleList([lib.ReLU(), lib.Tanh(), lib.ELU()])
    assert type(ml[-1]).__name__ == "ELU"
    for bad in (lambda: ml[5], lambda: ml.__setitem__(5, lib.ReLU()), lambda: ml.pop(10)):
        with pytest.raises(IndexError, match="index (5|10) is out of range"):
            bad()
    with pytest.raises(IndexError):
        del ml[5]
    with pytest.raises(TypeError):
        ml["0"]
    with pytest.raises(TypeError):
        ml[0] = 5
    with pytest.raises(TypeError):
        ml.append(5)
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ml.extend(5)
    with pytest.raises(TypeError):
        lib.ModuleList(5)
    with pytest.raises(TypeError):
        ml * 2
    ml.insert(10, lib.GELU())  # as list.insert: past the end appends
    if lib is dnn:  # torch names it "10" (its insert assumes index <= len)
        assert _kinds(ml)[-1] == ("3", "GELU")
    ml[1] = lib.SiLU()
    assert _kinds(ml)[1] == ("1", "SiLU") and len(ml) == 4
    with pytest.raises(NotImplementedError):
        ml(1)


@LIBS
def test_module_dict_views_and_update_errors(lib):
    md = lib.ModuleDict({"b": lib.ReLU(), "a": lib.Tanh()})
    assert list(md.keys()) == ["b", "a"]  # no sorting for ModuleDict
    keys = md.keys()
    md["c"] = lib.ELU()
    assert isinstance(keys, KeysView) and list(keys) == ["b", "a", "c"]  # a live view
    assert isinstance(md.values(), ValuesView) and isinstance(md.items(), ItemsView)
    with pytest.raises(KeyError):
        md["x"]
    with pytest.raises(KeyError):
        md["x.y"] = lib.ReLU()
    with pytest.raises(TypeError):
        md[1] = lib.ReLU()
    with pytest.raises(KeyError, match="already exists"):
        md["training"] = lib.ReLU()
    with pytest.raises(TypeError, match="ModuleDict.update should be called with an iterable"):
        md.update(5)
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        md.update([("k",)])
    with pytest.raises(TypeError):
        md.update([5])
    md.update(OrderedDict([("z", lib.ReLU()), ("y", lib.ReLU())]))
    md.update({"q": lib.ReLU(), "p": lib.ReLU()})
    assert list(md) == ["b", "a", "c", "z", "y", "q", "p"]
    with pytest.raises(KeyError):
        md.pop("nope")


def test_warnings_are_clean_without_backward_hooks():
    m = dnn.Linear(2, 2)
    m.register_forward_hook(lambda *a: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m(dg.tensor(np.ones((1, 2), np.float32))).sum().backward()
