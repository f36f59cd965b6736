"""nn.Module against torch 2.13 (round 35): state_dict pre / post hooks, load_state_dict pre /
post hooks (order, prefixes, local_metadata, editing keys, return values, handles) and
Module.to's non_blocking and memory_format arguments."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
tnn = torch.nn

LIBS = pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
RNG = np.random.default_rng(3535)


def _np(t):
    if isinstance(t, np.ndarray):
        return t
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.numpy())


def _t(a, lib):
    return dg.tensor(np.array(a)) if lib is dnn else torch.tensor(np.array(a))


def _tree(lib):
    """Linear, then a Sequential holding a BatchNorm1d (torch's _version 2) and a ReLU."""
    return lib.Sequential(lib.Linear(3, 2), lib.Sequential(lib.BatchNorm1d(2), lib.ReLU()))


def _pair():
    d, t = _tree(dnn).double(), _tree(tnn).double()
    sd = {k: RNG.standard_normal(v.shape) for k, v in t.state_dict().items()}
    sd["1.0.num_batches_tracked"] = np.array(3)
    d.load_state_dict(sd)
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    return d, t


def _hook_everything(model, log):
    for name, m in model.named_modules():
        m.register_state_dict_pre_hook(
            lambda mod, prefix, keep_vars, name=name: log.append(("pre", name, prefix, keep_vars))
        )
        m.register_state_dict_post_hook(
            lambda mod, sd, prefix, md, name=name: log.append(
                ("post", name, prefix, dict(md), sorted(sd))
            )
        )


# ---- state_dict hooks ----------------------------------------------------------------------


@pytest.mark.parametrize("keep_vars", [False, True])
def test_state_dict_hooks_order_prefix_metadata(keep_vars):
    logs = []
    for model in _pair():
        log = []
        _hook_everything(model, log)
        model.state_dict(keep_vars=keep_vars)
        logs.append(log)
    ours, theirs = logs
    assert [e[:3] for e in ours] == [e[:3] for e in theirs]
    assert all(e[3] == keep_vars for e in ours if e[0] == "pre")
    # local_metadata: {"version": type(module)._version}, as torch's (BatchNorm: 2)
    for a, b in zip(ours, theirs):
        if a[0] == "post":
            assert a[4] == b[4]
            assert a[3] == b[3]


def test_state_dict_metadata_recorded():
    d, t = _pair()
    sd = d.state_dict()
    assert list(sd._metadata) == list(t.state_dict()._metadata) == ["", "0", "1", "1.0", "1.1"]
    assert dict(sd._metadata) == dict(t.state_dict()._metadata)
    dest = {}
    assert d.state_dict(destination=dest) is dest and not hasattr(dest, "_metadata")
    assert list(d.state_dict(prefix="m.")._metadata) == ["m", "m.0", "m.1", "m.1.0", "m.1.1"]


@LIBS
def test_state_dict_post_hook_edits_in_place_and_must_return_none(lib):
    m = _tree(lib).double()

    def rename(mod, sd, prefix, md):
        sd[prefix + "w"] = sd.pop(prefix + "weight")

    m[0].register_state_dict_post_hook(rename)
    assert list(m.state_dict())[:2] == ["0.bias", "0.w"]
    h = m.register_state_dict_post_hook(lambda *a: {})
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        m.state_dict()
    h.remove()
    assert "0.w" in m.state_dict()
    with m[1][0].register_state_dict_pre_hook(lambda mod, p, kv: mod.running_mean.fill_(4.0)):
        sd = m.state_dict()
    np.testing.assert_array_equal(_np(sd["1.0.running_mean"]), [4.0, 4.0])  # pre runs first
    with pytest.raises(TypeError):
        m.register_state_dict_pre_hook(5) if lib is dnn else (_ for _ in ()).throw(TypeError)


@LIBS
def test_state_dict_hook_handles(lib):
    m = lib.Linear(2, 2)
    log = []
    h1 = m.register_state_dict_pre_hook(lambda *a: log.append("pre1"))
    m.register_state_dict_pre_hook(lambda *a: log.append("pre2"))
    h3 = m.register_state_dict_post_hook(lambda *a: log.append("post"))
    m.state_dict()
    assert log == ["pre1", "pre2", "post"]
    h1.remove()
    h3.remove()
    h3.remove()  # twice: nothing
    log.clear()
    m.state_dict()
    assert log == ["pre2"]


# ---- load_state_dict hooks -------------------------------------------------------------


def _load_log(model, log):
    for name, m in model.named_modules():
        m.register_load_state_dict_pre_hook(
            lambda mod, sd, prefix, md, strict, mk, uk, em, name=name: log.append(
                ("pre", name, prefix, {k: v for k, v in md.items()}, strict, sorted(sd))
            )
        )
        m.register_load_state_dict_post_hook(
            lambda mod, keys, name=name: log.append(
                ("post", name, type(keys).__name__, list(keys.missing_keys), keys.unexpected_keys)
            )
        )


@pytest.mark.parametrize("with_metadata", [False, True])
def test_load_hooks_order_prefix_and_arguments(with_metadata):
    logs = []
    for model in _pair():
        sd = model.state_dict()
        if not with_metadata:
            sd = dict(sd)
        log = []
        _load_log(model, log)
        model.load_state_dict(sd)
        logs.append(log)
    # deltagrad runs every pre-hook before loading anything and the post-hooks after (torch
    # interleaves them with its copies): each kind in torch's order
    ours, theirs = (
        [e for e in log if e[0] == "pre"] + [e for e in log if e[0] == "post"] for log in logs
    )
    assert [e[:3] for e in ours] == [e[:3] for e in theirs]
    for a, b in zip(ours, theirs):
        if a[0] == "pre":
            assert a[4] is b[4] is True  # strict: always True, as torch
            assert a[5] == b[5]  # the keys under the prefix
            assert a[3] == b[3]
        else:
            assert a[2:] == b[2:] == ("_IncompatibleKeys", [], [])


@LIBS
def test_load_pre_hook_renames_keys(lib):
    src = lib.Linear(3, 2).double()
    old = {"W": src.weight.detach().clone() if lib is tnn else src.weight.numpy().copy()}
    old["b"] = src.bias.detach().clone() if lib is tnn else src.bias.numpy().copy()
    model = lib.Sequential(lib.ReLU(), lib.Linear(3, 2).double())

    def upgrade(mod, sd, prefix, md, strict, missing, unexpected, errors):
        for new, was in (("weight", "W"), ("bias", "b")):
            if prefix + was in sd:
                sd[prefix + new] = sd.pop(prefix + was)

    model[1].register_load_state_dict_pre_hook(upgrade)
    given = {"1.W": old["W"], "1.b": old["b"]}
    res = model.load_state_dict(given)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert list(given) == ["1.W", "1.b"]  # the caller's dict is not edited
    np.testing.assert_array_equal(_np(model[1].weight), _np(src.weight))
    np.testing.assert_array_equal(_np(model[1].bias), _np(src.bias))


@LIBS
def test_load_pre_hook_lists_and_errors(lib):
    m = lib.Linear(2, 2).double()
    sd = m.state_dict()
    h = m.register_load_state_dict_pre_hook(lambda mod, sd, p, md, s, mk, uk, em: mk.append("x"))
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["x"] and res.unexpected_keys == []
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "x"'):
        m.load_state_dict(sd)
    h.remove()
    m.register_load_state_dict_pre_hook(lambda mod, sd, p, md, s, mk, uk, em: em.append("bad!"))
    before = _np(m.weight).copy()
    new = {k: _t(np.full(tuple(v.shape), 7.0), lib) for k, v in sd.items()}
    for strict in (True, False):  # an error message fails either way
        with pytest.raises(RuntimeError, match="bad!"):
            m.load_state_dict(new, strict=strict)
    if lib is dnn:  # deltagrad's load is all or nothing (torch has copied the values)
        np.testing.assert_array_equal(_np(m.weight), before)


@LIBS
def test_load_post_hook_clears_keys_and_sees_loaded_values(lib):
    m = lib.Sequential(lib.Linear(2, 2).double())
    seen = []

    def post(mod, keys):
        seen.append(_np(mod[0].bias).copy())
        keys.unexpected_keys.clear()

    m.register_load_state_dict_post_hook(post)
    sd = {k: _t(np.full(tuple(v.shape), 2.0), lib) for k, v in m.state_dict().items()}
    sd["extra"] = _t(np.ones(1), lib)
    res = m.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])  # the values are loaded already


@LIBS
def test_load_post_hook_adds_a_key(lib):
    m = lib.Linear(2, 2).double()
    m.register_load_state_dict_post_hook(lambda mod, keys: keys.missing_keys.append("late"))
    before = _np(m.weight).copy()
    sd = {k: _t(np.full(tuple(v.shape), 5.0), lib) for k, v in m.state_dict().items()}
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["late"]
    np.testing.assert_array_equal(_np(m.weight), np.full((2, 2), 5.0))
    m.weight.data = _t(before, lib) if lib is tnn else before.copy()
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "late"'):
        m.load_state_dict(sd)
    if lib is dnn:  # deltagrad restores what the failed strict load changed
        np.testing.assert_array_equal(_np(m.weight), before)
    else:
        np.testing.assert_array_equal(_np(m.weight), np.full((2, 2), 5.0))


@LIBS
def test_load_post_hook_must_return_none(lib):
    m = lib.Linear(2, 2)
    h = m.register_load_state_dict_post_hook(lambda mod, keys: keys)
    with pytest.raises(AssertionError, match="not expected to return new values"):
        m.load_state_dict(m.state_dict())
    h.remove()
    assert repr(m.load_state_dict(m.state_dict())) == "<All keys matched successfully>"


def test_load_hooks_on_shared_module_run_at_each_place():
    logs = []
    for lib in (dnn, tnn):
        shared = lib.Linear(1, 1)
        m = lib.Sequential(shared, shared)
        log = []
        shared.register_load_state_dict_pre_hook(
            lambda mod, sd, p, *a, log=log: log.append(("pre", p))
        )
        shared.register_load_state_dict_post_hook(lambda mod, k, log=log: log.append(("post",)))
        m.load_state_dict(m.state_dict())
        logs.append(log)
    assert (
        sorted(logs[0]) == sorted(logs[1]) == [("post",), ("post",), ("pre", "0."), ("pre", "1.")]
    )
    assert logs[0] == [("pre", "0."), ("pre", "1."), ("post",), ("post",)]  # pre-hooks first


def test_load_with_assign_passes_the_flag():
    got = []
    for lib in (dnn, tnn):
        m = lib.Linear(2, 2)
        m.register_load_state_dict_pre_hook(lambda mod, sd, p, md, *a: got.append(dict(md)))
        m.load_state_dict(dict(m.state_dict()), assign=True)
    assert got[0] == got[1] == {"assign_to_params_buffers": True}


def test_module_load_runs_the_hooks(tmp_path):
    src = dnn.Linear(3, 2).double()
    path = tmp_path / "old.safetensors"
    dg.save({"W": src.weight.numpy(), "b": src.bias.numpy()}, path)
    dst = dnn.Linear(3, 2).double()

    def upgrade(mod, sd, prefix, md, strict, missing, unexpected, errors):
        sd["weight"], sd["bias"] = sd.pop("W"), sd.pop("b")

    with pytest.raises(RuntimeError, match="Missing key"):
        dst.load(path)
    dst.register_load_state_dict_pre_hook(upgrade)
    dst.load(path)
    np.testing.assert_array_equal(_np(dst.weight), _np(src.weight))
    dst.save(tmp_path / "new.safetensors")  # a state dict with _metadata saves as before
    assert set(dg.load(tmp_path / "new.safetensors")) == {"weight", "bias"}


def test_hooks_must_be_callable():
    m = dnn.Linear(1, 1)
    for reg in (
        m.register_state_dict_pre_hook,
        m.register_state_dict_post_hook,
        m.register_load_state_dict_pre_hook,
        m.register_load_state_dict_post_hook,
    ):
        with pytest.raises(TypeError, match="hook: expected a callable"):
            reg(5)


# ---- Module.to -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_args",
    [
        lambda lib, f64: ((), {"non_blocking": True}),
        lambda lib, f64: (("cpu", f64, True), {}),
        lambda lib, f64: ((f64, True), {}),
        lambda lib, f64: ((f64,), {"non_blocking": False}),
        lambda lib, f64: ((_t(np.ones(1), lib), True), {}),
        lambda lib, f64: (("cpu",), {"memory_format": None}),
        lambda lib, f64: ((), {"memory_format": torch.preserve_format}),
        lambda lib, f64: ((f64,), {"memory_format": torch.contiguous_format}),
    ],
)
def test_to_accepts_torchs_arguments(make_args):
    res = []
    for lib, f64 in ((dnn, np.float64), (tnn, torch.float64)):
        m = lib.Linear(2, 3)
        args, kwargs = make_args(lib, f64)
        assert m.to(*args, **kwargs) is m
        res.append(m.weight.dtype)
    assert str(res[0]) == str(res[1]).replace("torch.", "")


def test_to_memory_format_names_and_refusals():
    m = dnn.Linear(2, 2)
    for ok in ("preserve_format", "contiguous_format"):
        assert m.to(memory_format=ok) is m
    for bad in (torch.channels_last, torch.channels_last_3d, "channels_last"):
        with pytest.raises(NotImplementedError, match="channels_last"):
            m.to(memory_format=bad)
    with pytest.raises(ValueError, match="memory_format: expected None"):
        m.to(memory_format="strided")
    with pytest.raises(TypeError, match="memory_format"):
        m.to(memory_format=1)


@LIBS
def test_to_bad_non_blocking(lib):
    m = lib.Linear(2, 2)
    for bad in (1, None, "yes"):
        with pytest.raises(TypeError):
            m.to(non_blocking=bad)
    with pytest.raises(TypeError):
        m.to(memory_format="x" if lib is tnn else 1.5)


def test_to_does_not_change_values():
    m = dnn.Linear(3, 2).double()
    w = m.weight.numpy().copy()
    m.to("cpu", np.float64, True, memory_format="preserve_format")
    np.testing.assert_array_equal(m.weight.numpy(), w)
    assert m.to(np.float32, True).weight.dtype == np.float32


def test_norm_layers_report_torchs_state_version():
    """torch's BatchNorm / InstanceNorm state format is version 2 (num_batches_tracked)."""
    seen = {}
    for name in ("BatchNorm1d", "BatchNorm2d", "InstanceNorm2d", "LayerNorm", "Linear"):
        args = (4, 4) if name == "Linear" else (4,)
        m = getattr(dg.nn, name)(*args)
        m.register_state_dict_post_hook(
            lambda mod, sd, prefix, meta, name=name: seen.__setitem__(name, meta["version"])
        )
        m.state_dict()
        assert seen[name] == getattr(torch.nn, name)._version, name
