"""deltagrad.optim's hooks and torch's flag arguments against torch 2.13 (round 35): step
pre/post hooks (per optimizer and global: call order, arguments, a pre-hook replacing the
arguments, handles), state_dict and load_state_dict hooks (order, prepend, in-place changes and
returned replacements), on every optimizer class and on subclasses defining their own step();
the foreach / capturable / fused / differentiable arguments of SGD, Adam, AdamW, RMSprop and
Adagrad (torch's signatures, param_groups keys, no effect on the update, errors), and state_dict
round trips with torch both ways, old state_dicts without the flags included."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.optim import optimizer as dg_optimizer
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
import torch.optim.optimizer as torch_optimizer  # noqa: E402

ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
MORE = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]
TOL = dict(rtol=1e-12, atol=1e-14)
SHAPES = [(3, 5), (1,), (), (2, 3)]
FLAGS = ("foreach", "capturable", "differentiable", "fused")


def _params(seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in SHAPES]
    ours = [dg.tensor(v.copy(), requires_grad=True) for v in values]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    return ours, theirs


def _grads(step):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s) for s in SHAPES]


def _set_grads(ours, theirs, step):
    for p, pt, g in zip(ours, theirs, _grads(step)):
        p.grad = g.copy()
        pt.grad = torch.tensor(g.copy())


def _pair(name, **kw):
    ours, theirs = _params()
    lr = dict(lr=0.05) if name != "Rprop" else {}
    o = getattr(dg.optim, name)(ours, **lr, **kw)
    t = getattr(torch.optim, name)(theirs, **lr, **kw)
    return o, t, ours, theirs


def _compare(ours, theirs, what):
    for i, (p, pt) in enumerate(zip(ours, theirs)):
        assert_close(p.data, pt.detach().numpy(), **TOL, name=f"param {i} {what}")


def _torch_sd(sd):
    """Our state_dict as torch's load_state_dict takes it (arrays become tensors)."""
    sd = copy.deepcopy(sd)
    for st in sd["state"].values():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                st[k] = torch.tensor(v)
    return sd


def _desc(opt, a, k, lib_opt):
    """What a step hook saw, comparable across the libraries."""
    return (a[0] is lib_opt, len(a), sorted(k), opt is lib_opt)


# ---- step hooks ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL + MORE)
def test_step_hooks_order_and_arguments_match_torch(name):
    o, t, ours, theirs = _pair(name)
    logs = {"ours": [], "theirs": []}
    for key, opt in (("ours", o), ("theirs", t)):
        log = logs[key]
        opt.register_step_pre_hook(
            lambda op, a, k, log=log, opt=opt: log.append(("pre1",) + _desc(op, a, k, opt))
        )
        opt.register_step_post_hook(
            lambda op, a, k, log=log, opt=opt: log.append(("post1",) + _desc(op, a, k, opt))
        )
        opt.register_step_pre_hook(lambda op, a, k, log=log: log.append(("pre2", len(a))))
        opt.register_step_post_hook(lambda op, a, k, log=log: log.append(("post2", len(a))))
    for step in range(3):
        _set_grads(ours, theirs, step)
        kwargs = {"closure": (lambda: 2.5)} if step == 1 else {}
        args = (lambda: 1.5,) if step == 2 else ()
        out_o, out_t = o.step(*args, **kwargs), t.step(*args, **kwargs)
        assert out_o == out_t
    assert logs["ours"] == logs["theirs"]
    assert len(logs["ours"]) == 12
    _compare(ours, theirs, "after hooked steps")


def test_step_pre_hook_replaces_the_arguments_as_torch():
    seen = {}
    for lib in (dg, torch):
        opt = lib.optim.SGD([lib.tensor(np.ones(2), requires_grad=True)], lr=0.1)
        log = seen[lib.__name__] = []

        def swap(op, args, kwargs):
            return (args[0],), {"closure": lambda: 7.0}

        opt.register_step_pre_hook(swap)
        opt.register_step_pre_hook(lambda op, a, k, log=log: log.append(("pre", len(a), list(k))))
        opt.register_step_post_hook(lambda op, a, k, log=log: log.append(("post", k["closure"]())))
        assert opt.step() == 7.0
        assert opt.step(lambda: 1.0) == 7.0
    assert seen["deltagrad"] == seen["torch"]


def test_step_pre_hook_bad_return_raises_runtime_error():
    for lib in (dg, torch):
        opt = lib.optim.Adam([lib.tensor(np.ones(2), requires_grad=True)])
        opt.register_step_pre_hook(lambda op, a, k: 5)
        with pytest.raises(RuntimeError, match="must return None or a tuple"):
            opt.step()
        opt2 = lib.optim.Adam([lib.tensor(np.ones(2), requires_grad=True)])
        opt2.register_step_pre_hook(lambda op, a, k: (a, k, None))
        with pytest.raises(RuntimeError, match="must return None or a tuple"):
            opt2.step()


def test_step_hook_handles_remove_and_work_as_context_managers():
    p = dg.tensor(np.ones(3), requires_grad=True)
    p.grad = np.ones(3)
    opt = dg.optim.SGD([p], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda *a: calls.append("pre"))
    with opt.register_step_post_hook(lambda *a: calls.append("post")):
        opt.step()
    assert calls == ["pre", "post"]
    opt.step()
    assert calls == ["pre", "post", "pre"]
    h1.remove()
    h1.remove()  # twice is fine, as torch
    opt.step()
    assert calls == ["pre", "post", "pre"]
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert "_step_hooked" not in vars(opt)  # back on the plain path
    assert_close(p.data, np.full(3, 0.7), **TOL)


def test_step_hooks_of_one_optimizer_do_not_run_for_another():
    a, b = dg.tensor(np.ones(2), requires_grad=True), dg.tensor(np.ones(2), requires_grad=True)
    a.grad, b.grad = np.ones(2), np.ones(2)
    oa, ob = dg.optim.SGD([a], lr=0.1), dg.optim.Adam([b])
    calls = []
    oa.register_step_pre_hook(lambda op, *_: calls.append(type(op).__name__))
    ob.step()
    oa.step()
    assert calls == ["SGD"]


def test_global_step_hooks_order_against_torch():
    logs = {}
    for lib, mod in ((dg, dg_optimizer), (torch, torch_optimizer)):
        log = logs[lib.__name__] = []
        params = [lib.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
        opts = [lib.optim.SGD([params[0]], lr=0.1), lib.optim.RMSprop([params[1]])]
        for p in params:
            p.grad = lib.tensor(np.ones(2))
        handles = [
            mod.register_optimizer_step_pre_hook(
                lambda op, a, k, log=log: log.append(("gpre", type(op).__name__, len(a)))
            ),
            mod.register_optimizer_step_post_hook(
                lambda op, a, k, log=log: log.append(("gpost", type(op).__name__))
            ),
            opts[0].register_step_pre_hook(lambda op, a, k, log=log: log.append("pre")),
            opts[0].register_step_post_hook(lambda op, a, k, log=log: log.append("post")),
        ]
        try:
            for o in opts:
                o.step()
            handles[0].remove()
            handles[1].remove()
            for o in opts:
                o.step()
        finally:
            for h in handles:
                h.remove()
    assert logs["deltagrad"] == logs["torch"]
    assert not dg_optimizer._global_optimizer_pre_hooks
    assert not dg_optimizer._global_optimizer_post_hooks


def test_global_step_hooks_are_exported_and_reset():
    assert "register_optimizer_step_pre_hook" in dg_optimizer.__all__
    p = dg.tensor(np.ones(2), requires_grad=True)
    p.grad = np.ones(2)
    opt = dg.optim.Adagrad([p])
    calls = []
    with dg_optimizer.register_optimizer_step_post_hook(lambda *a: calls.append(1)):
        opt.step()
    assert calls == [1]
    opt.step()  # the removed global hook: the flag goes back to the class default
    assert calls == [1]
    assert dg.optim.Optimizer._step_hooked is False


class _SubSGD(dg.optim.SGD):
    """A subclass whose step() calls SGD's."""

    def step(self, closure=None):
        self.calls = getattr(self, "calls", 0) + 1
        return super().step(closure)


class _Own(dg.optim.Optimizer):
    """A subclass with a step() of its own (w -= lr * grad)."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    p.data -= g["lr"] * p.grad
        return loss


@pytest.mark.parametrize("cls", [_SubSGD, _Own])
def test_step_hooks_run_once_for_subclasses_defining_step(cls):
    p = dg.tensor(np.ones(2), requires_grad=True)
    p.grad = np.ones(2)
    opt = cls([p], lr=0.5)
    calls = []
    opt.register_step_pre_hook(lambda *a: calls.append("pre"))
    opt.register_step_post_hook(lambda *a: calls.append("post"))
    assert opt.step(lambda: 3.0) == 3.0
    assert calls == ["pre", "post"]
    assert_close(p.data, np.full(2, 0.5), **TOL)
    assert cls.step.__name__ == "step" and cls.step.__doc__ == cls.step.__wrapped__.__doc__


def test_step_hook_exception_propagates_and_leaves_the_optimizer_usable():
    p = dg.tensor(np.ones(2), requires_grad=True)
    p.grad = np.ones(2)
    opt = dg.optim.SGD([p], lr=0.1)

    def boom():
        raise KeyError("closure")

    opt.register_step_post_hook(lambda *a: None)
    with pytest.raises(KeyError):
        opt.step(boom)
    assert opt._in_hooked_step is False
    opt.step()
    assert_close(p.data, np.full(2, 0.9), **TOL)


def test_non_callable_hooks_raise_type_error():
    opt = dg.optim.SGD([dg.tensor(np.ones(2), requires_grad=True)], lr=0.1)
    for method in (
        "register_step_pre_hook",
        "register_step_post_hook",
        "register_state_dict_pre_hook",
        "register_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_load_state_dict_post_hook",
    ):
        with pytest.raises(TypeError, match=f"SGD.{method}: hook: expected a callable"):
            getattr(opt, method)(3)
    with pytest.raises(TypeError, match="register_optimizer_step_pre_hook: hook"):
        dg_optimizer.register_optimizer_step_pre_hook(None)
    with pytest.raises(TypeError):  # torch: step hooks take no prepend
        opt.register_step_pre_hook(lambda *a: None, prepend=True)


# ---- state_dict / load_state_dict hooks -----------------------------------------------------


def _sd_hooks(opt, log):
    opt.register_state_dict_pre_hook(lambda op: log.append(("pre", op is opt)))
    opt.register_state_dict_pre_hook(lambda op: log.append("pre_first"), prepend=True)

    def mark(op, sd):
        log.append(("post", sorted(sd)))
        sd["param_groups"][0]["marked"] = True

    opt.register_state_dict_post_hook(mark)
    opt.register_state_dict_post_hook(lambda op, sd: log.append("post_first"), prepend=True)


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam"])
def test_state_dict_hooks_match_torch(name):
    o, t, ours, theirs = _pair(name)
    _set_grads(ours, theirs, 0)
    o.step()
    t.step()
    lo, lt = [], []
    _sd_hooks(o, lo)
    _sd_hooks(t, lt)
    sd, tsd = o.state_dict(), t.state_dict()
    assert (
        lo == lt == ["pre_first", ("pre", True), "post_first", ("post", ["param_groups", "state"])]
    )
    assert sd["param_groups"][0]["marked"] is tsd["param_groups"][0]["marked"] is True
    assert "marked" not in o.param_groups[0]


def test_state_dict_post_hook_return_replaces_the_dict():
    for lib in (dg, torch):
        opt = lib.optim.SGD([lib.tensor(np.ones(2), requires_grad=True)], lr=0.1)
        h = opt.register_state_dict_post_hook(lambda op, sd: {"replaced": sd["param_groups"]})
        opt.register_state_dict_post_hook(lambda op, sd: None)  # None keeps the previous one
        out = opt.state_dict()
        assert list(out) == ["replaced"] and out["replaced"][0]["lr"] == 0.1
        h.remove()
        assert set(opt.state_dict()) == {"state", "param_groups"}


def _load_hooks(opt, log):
    def pre(op, sd):
        log.append(("pre", sorted(sd)))
        sd["extra"] = 1  # on the shallow copy: the caller's dict keeps its keys

    opt.register_load_state_dict_pre_hook(pre)
    opt.register_load_state_dict_pre_hook(lambda op, sd: log.append("pre_first"), prepend=True)
    opt.register_load_state_dict_post_hook(
        lambda op: log.append(("post", op.param_groups[0]["lr"]))
    )
    opt.register_load_state_dict_post_hook(lambda op: log.append("post_first"), prepend=True)


def test_load_state_dict_hooks_match_torch():
    o, t, ours, theirs = _pair("Adam")
    _set_grads(ours, theirs, 0)
    o.step()
    t.step()
    sd, tsd = o.state_dict(), t.state_dict()
    sd["param_groups"][0]["lr"] = tsd["param_groups"][0]["lr"] = 0.25
    lo, lt = [], []
    _load_hooks(o, lo)
    _load_hooks(t, lt)
    o.load_state_dict(sd)
    t.load_state_dict(tsd)
    assert (
        lo == lt == ["pre_first", ("pre", ["param_groups", "state"]), "post_first", ("post", 0.25)]
    )
    assert "extra" not in sd and "extra" not in tsd


def test_load_state_dict_pre_hook_return_is_loaded():
    results = {}
    for lib in (dg, torch):
        p = lib.tensor(np.ones(2), requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        other = lib.optim.SGD([lib.tensor(np.ones(2), requires_grad=True)], lr=0.7, momentum=0.5)
        opt.register_load_state_dict_pre_hook(lambda op, sd, other=other: other.state_dict())
        opt.load_state_dict(opt.state_dict())
        results[lib.__name__] = (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])
    assert results["deltagrad"] == results["torch"] == (0.7, 0.5)


def test_load_state_dict_errors_and_hooks():
    opt = dg.optim.SGD([dg.tensor(np.ones(2), requires_grad=True)], lr=0.1)
    post = []
    opt.register_load_state_dict_post_hook(lambda op: post.append(1))
    with pytest.raises(ValueError, match="param_groups: the state_dict has 2"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": []}, {"params": []}]})
    assert post == []  # a load that failed runs no post-hook
    h = opt.register_load_state_dict_pre_hook(lambda op, sd: [sd])
    with pytest.raises(
        TypeError, match="SGD.load_state_dict: a load_state_dict pre-hook returned a list"
    ):
        opt.load_state_dict(opt.state_dict())
    h.remove()
    opt.load_state_dict(opt.state_dict())
    assert post == [1]


# ---- foreach / capturable / fused / differentiable -------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_constructor_signature_matches_torch(name):
    ours = inspect.signature(getattr(dg.optim, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    assert list(ours) == list(theirs)
    for k, pt in theirs.items():
        assert ours[k].kind == pt.kind, k
        assert ours[k].default == pt.default, k


@pytest.mark.parametrize("name", ALL + MORE)
def test_param_groups_keys_and_defaults_match_torch(name):
    o, t, _, _ = _pair(name)
    og, tg = o.param_groups[0], t.param_groups[0]
    assert set(og) == set(tg)
    for k in FLAGS:
        assert (k in og) == (k in tg), k
        if k in tg:
            assert og[k] == tg[k] and type(og[k]) is type(tg[k]), k
    assert o.defaults.keys() == t.defaults.keys()


@pytest.mark.parametrize("name", ALL)
def test_param_groups_key_order_matches_torch(name):
    o, t, _, _ = _pair(name)

    def keys(g):
        return [k for k in g if k != "params"]

    assert keys(o.param_groups[0]) == keys(t.param_groups[0])
    assert list(o.state_dict()["param_groups"][0]) == list(t.state_dict()["param_groups"][0])


# the flag values each optimizer takes in torch on the CPU (capturable=True needs a GPU there)
FLAG_CASES = {
    "SGD": [dict(foreach=True, momentum=0.9), dict(fused=True, momentum=0.9, nesterov=True)],
    "Adam": [dict(foreach=True), dict(fused=True, amsgrad=True), dict(foreach=False)],
    "AdamW": [dict(fused=True, weight_decay=0.1), dict(foreach=True, amsgrad=True)],
    "RMSprop": [dict(foreach=True, momentum=0.5, centered=True), dict(foreach=False)],
    "Adagrad": [dict(foreach=True, lr_decay=0.1), dict(fused=True)],
}


@pytest.mark.parametrize("name,kw", [(n, kw) for n, kws in FLAG_CASES.items() for kw in kws])
def test_flags_change_nothing_of_the_update(name, kw):
    o, t, ours, theirs = _pair(name, **kw)
    for k, v in kw.items():
        assert o.param_groups[0][k] == v
    for step in range(4):
        _set_grads(ours, theirs, step)
        o.step()
        t.step()
    _compare(ours, theirs, f"{name} {kw}")


@pytest.mark.parametrize("name", ALL)
def test_capturable_is_accepted_where_torch_has_it(name):
    ours, _ = _params()
    has = "capturable" in inspect.signature(getattr(torch.optim, name).__init__).parameters
    if has:
        o = getattr(dg.optim, name)(ours, lr=0.1, capturable=True)
        assert o.param_groups[0]["capturable"] is True
        o.param_groups[0]["params"][0].grad = np.ones(SHAPES[0])
        o.step()  # changes nothing: the same update as capturable=False
    else:
        with pytest.raises(TypeError):
            getattr(dg.optim, name)(ours, lr=0.1, capturable=True)


def test_rmsprop_takes_its_flags_positionally_as_torch():
    ours, theirs = _params()
    o = dg.optim.RMSprop(ours, 0.01, 0.9, 1e-8, 0.0, 0.0, False, False, False, True)
    t = torch.optim.RMSprop(theirs, 0.01, 0.9, 1e-8, 0.0, 0.0, False, False, False, True)
    assert o.param_groups[0]["maximize"] is t.param_groups[0]["maximize"] is True
    with pytest.raises(TypeError):
        dg.optim.Adam(ours, 1e-3, (0.9, 0.999), 1e-8, 0.0, False, None)  # keyword-only there
    with pytest.raises(TypeError):
        torch.optim.Adam(theirs, 1e-3, (0.9, 0.999), 1e-8, 0.0, False, None)
    o = dg.optim.Adagrad(ours, 0.1, 0.0, 0.0, 0.0, 1e-10, True)  # foreach is positional
    assert o.param_groups[0]["foreach"] is True


@pytest.mark.parametrize("name", ALL)
def test_differentiable_true_raises_value_error(name):
    ours, theirs = _params()
    with pytest.raises(ValueError, match=f"{name}: differentiable: differentiable=True is not"):
        getattr(dg.optim, name)(ours, lr=0.1, differentiable=True)
    opt = getattr(dg.optim, name)(ours[:1], lr=0.1)
    with pytest.raises(ValueError, match=r"add_param_group: differentiable"):
        opt.add_param_group({"params": ours[1:], "differentiable": True})
    sd = opt.state_dict()
    sd["param_groups"][0]["differentiable"] = True
    with pytest.raises(ValueError, match=r"load_state_dict: param_groups\[0\]: differentiable"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_with_foreach_raises_runtime_error_as_torch(name):
    ours, theirs = _params()
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        getattr(torch.optim, name)(theirs, lr=0.1, fused=True, foreach=True)
    with pytest.raises(RuntimeError, match=f"{name}: `fused` and `foreach` cannot be `True`"):
        getattr(dg.optim, name)(ours, lr=0.1, fused=True, foreach=True)
    getattr(dg.optim, name)(ours, lr=0.1, fused=True, foreach=False)  # as torch: fine


@pytest.mark.parametrize("name", ALL)
def test_bad_flag_values_raise_type_error(name):
    ours, _ = _params()
    for k in ("foreach", "differentiable"):
        with pytest.raises(TypeError, match=f"{name}: {k}: expected a bool"):
            getattr(dg.optim, name)(ours, lr=0.1, **{k: "yes"})
    opt = getattr(dg.optim, name)(ours[:1], lr=0.1)
    with pytest.raises(TypeError, match="foreach: expected a bool"):
        opt.add_param_group({"params": ours[1:], "foreach": [True]})


# ---- state_dict round trips with torch -------------------------------------------------------

RT_CASES = {
    "SGD": dict(momentum=0.9, foreach=False, fused=True),
    "Adam": dict(amsgrad=True, foreach=True),
    "AdamW": dict(weight_decay=0.1, fused=True),
    "RMSprop": dict(momentum=0.3, centered=True, foreach=True),
    "Adagrad": dict(lr_decay=0.01, foreach=False),
}


@pytest.mark.parametrize("name", ALL)
def test_torch_state_dict_into_ours_and_back(name):
    kw = RT_CASES[name]
    o, t, ours, theirs = _pair(name, **kw)
    for step in range(3):
        _set_grads(ours, theirs, step)
        t.step()
        o.step()
    # torch's state_dict into a fresh deltagrad optimizer (other hyper-parameters)
    fresh = [dg.tensor(p.data.copy(), requires_grad=True) for p in ours]
    o2 = getattr(dg.optim, name)(fresh, lr=0.9)
    o2.load_state_dict(t.state_dict())
    for k in FLAGS:
        if k in t.param_groups[0]:
            assert o2.param_groups[0][k] == t.param_groups[0][k], k
    # ours into a fresh torch optimizer
    tfresh = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    t2 = getattr(torch.optim, name)(tfresh, lr=0.9)
    t2.load_state_dict(_torch_sd(o.state_dict()))

    def hyper(g):  # tuples (betas) are lists in our state_dicts
        return {k: list(v) if isinstance(v, tuple) else v for k, v in g.items() if k != "params"}

    assert hyper(t2.param_groups[0]) == hyper(t.param_groups[0])
    for step in range(3, 6):
        _set_grads(fresh, tfresh, step)
        _set_grads(ours, theirs, step)
        for x in (o, o2, t, t2):
            x.step()
    _compare(fresh, theirs, "ours resumed from torch's state_dict")
    _compare(ours, tfresh, "torch resumed from ours")


@pytest.mark.parametrize("name", ALL + MORE)
def test_state_dict_without_the_flags_loads_with_torchs_defaults(name):
    """A state_dict of an older deltagrad or torch (no foreach, fused... keys) loads, the
    missing flags taking the values torch's __setstate__ gives them."""
    o, t, ours, theirs = _pair(name)
    sd, tsd = o.state_dict(), t.state_dict()
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        for k in (*FLAGS, "maximize"):
            g.pop(k, None)
            tg.pop(k, None)
    o.param_groups[0]["maximize"] = True  # overwritten by the load
    o.load_state_dict(sd)
    t.load_state_dict(tsd)
    for k in (*FLAGS, "maximize"):
        assert o.param_groups[0].get(k, "-") == t.param_groups[0].get(k, "-"), k
    sd["param_groups"][0].pop("lr")
    with pytest.raises(ValueError, match="no key 'lr'"):
        o.load_state_dict(sd)


def test_state_dict_of_ours_round_trips_with_flags_and_hooks():
    o, t, ours, theirs = _pair("Adam", foreach=False, fused=None)
    _set_grads(ours, theirs, 0)
    o.step()
    sd = o.state_dict()
    assert sd["param_groups"][0]["foreach"] is False and sd["param_groups"][0]["fused"] is None
    o2 = dg.optim.Adam([dg.tensor(p.data.copy(), requires_grad=True) for p in ours])
    o2.load_state_dict(copy.deepcopy(sd))
    assert o2.state_dict()["param_groups"] == sd["param_groups"]
