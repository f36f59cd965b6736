"""nn.Module API against torch 2.13 (round 30): attribute assignment keeps a registered
name's kind, load_state_dict's return value and 0-d values from shape (1,), parameters()
with next(), get_parameter / get_buffer, Sequential / ModuleList editing, and repr layout."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _p(shape, lib):
    return (
        dnn.Parameter(np.zeros(shape, np.float32))
        if lib is dnn
        else tnn.Parameter(torch.zeros(shape))
    )


def _t(shape, lib):
    return dg.Tensor(np.zeros(shape, np.float32)) if lib is dnn else torch.zeros(shape)


def _names(it):
    return [n for n, _ in it]


# ---- __setattr__: a registered name takes only its own kind or None --------------------


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_wrong_value_for_registered_name_is_type_error(lib):
    m = lib.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'bias'"):
        m.bias = _t(2, lib)  # a plain tensor, not a parameter
    assert _names(m.named_parameters()) == ["weight", "bias"]
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = lib.ReLU()
    s = lib.Sequential(lib.Linear(1, 1))
    with pytest.raises(TypeError, match="child module '0'"):
        setattr(s, "0", 5)
    assert len(s) == 1
    b = lib.Module()
    b.register_buffer("buf", _t(2, lib))
    with pytest.raises(TypeError, match="buffer 'buf'"):
        b.buf = 5
    assert _names(b.named_buffers()) == ["buf"]


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_none_keeps_a_module_slot(lib):
    s = lib.Sequential(lib.Linear(1, 1), lib.ReLU())
    setattr(s, "0", None)
    assert len(s) == 2 and "0" in s._modules and list(s)[0] is None
    assert _names(s.named_children()) == ["1"] and list(s.state_dict()) == []
    assert "(0): None" in repr(s)


def test_buffer_assignment_accepts_arrays_as_register_buffer():
    m = dnn.Module()
    m.register_buffer("buf", np.zeros(2, np.float32))
    m.buf = np.ones(3, np.float32)
    assert isinstance(m.buf, dg.Tensor) and m.state_dict()["buf"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_register_parameter_needs_a_parameter(lib):
    m = lib.Module()
    with pytest.raises(TypeError):
        m.register_parameter("w", _t(2, lib))
    m.register_parameter("w", None)
    assert m.w is None and _names(m.named_parameters()) == [] and list(m.state_dict()) == []


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_assignment_before_super_init(lib):
    class Bad(lib.Module):
        def __init__(self):
            self.fc = lib.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    if lib is dnn:  # deltagrad's error is also the RuntimeError it raised before
        with pytest.raises(RuntimeError, match="super"):
            Bad()


# ---- parameters(), get_parameter / get_buffer --------------------------------------------


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_next_of_parameters(lib):
    m = lib.Sequential(lib.Linear(3, 2), lib.Linear(2, 1))
    params = m.parameters()
    assert tuple(next(params).shape) == (2, 3)
    assert tuple(next(params).shape) == (2,)
    assert len(list(m.parameters())) == 4


def test_parameters_is_still_a_list():
    m = dnn.Linear(3, 2)
    params = m.parameters()
    assert isinstance(params, list) and len(params) == 2 and params[0] is m.weight
    next(params), next(params)
    with pytest.raises(StopIteration):
        next(params)
    assert len(list(params)) == 2  # iterating is independent of next()


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_get_parameter_and_buffer(lib):
    m = lib.Sequential(lib.Linear(3, 2), lib.BatchNorm1d(2))
    assert m.get_parameter("0.weight") is m[0].weight
    assert m.get_buffer("1.running_mean") is m[1].running_mean
    with pytest.raises(AttributeError):
        m.get_parameter("0.nope")
    with pytest.raises(AttributeError):
        m.get_buffer("0.weight")


# ---- load_state_dict ---------------------------------------------------------------------


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_load_state_dict_result(lib):
    m = lib.Linear(2, 2)
    r = m.load_state_dict({"weight": _t((2, 2), lib), "bias": _t(2, lib)})
    assert repr(r) == "<All keys matched successfully>"
    assert r.missing_keys == [] and r.unexpected_keys == [] and tuple(r) == ([], [])
    r = m.load_state_dict({"weight": _t((2, 2), lib), "x": _t(1, lib)}, strict=False)
    assert r == (["bias"], ["x"]) and r._fields == ("missing_keys", "unexpected_keys")
    assert repr(r) == "_IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['x'])"


def test_num_batches_tracked_from_torch_state_dict():
    ref = tnn.BatchNorm1d(3)
    ref.train()
    for _ in range(4):
        ref(torch.randn(5, 3))
    sd = {k: v.numpy() for k, v in ref.state_dict().items()}
    assert sd["num_batches_tracked"].shape == () and sd["num_batches_tracked"].dtype == np.int64
    ours = dnn.BatchNorm1d(3)
    ours.load_state_dict(sd)
    assert ours.num_batches_tracked.shape == () and int(ours.num_batches_tracked.item()) == 4
    assert ours.state_dict()["num_batches_tracked"].shape == ()
    # what some exporters write: shape (1,); torch loads it into the 0-d buffer, so do we
    for lib, value in ((tnn, torch.tensor([7])), (dnn, np.array([7], dtype=np.int64))):
        m = lib.BatchNorm1d(3)
        m.load_state_dict({**m.state_dict(), "num_batches_tracked": value})
        assert tuple(m.num_batches_tracked.shape) == () and int(m.num_batches_tracked.item()) == 7
    # more than one element stays a size mismatch (torch would take the first silently)
    m = dnn.BatchNorm1d(3)
    with pytest.raises(RuntimeError, match="size mismatch for num_batches_tracked"):
        m.load_state_dict({**m.state_dict(), "num_batches_tracked": np.array([7, 8])})


def test_zero_d_buffer_from_one_element_file(tmp_path):
    m = dnn.BatchNorm1d(2)
    state = {**m.state_dict(), "num_batches_tracked": np.array([5], dtype=np.int64)}
    dg.save(state, tmp_path / "bn.safetensors")
    m.load(tmp_path / "bn.safetensors")
    assert int(m.num_batches_tracked.item()) == 5 and m.num_batches_tracked.shape == ()


# ---- Sequential / ModuleList -------------------------------------------------------------


def _kinds(mod):
    return [(n, type(m).__name__) for n, m in mod.named_children()]


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_sequential_editing_as_torch(lib):
    s = lib.Sequential(lib.ReLU(), lib.Tanh(), lib.Sigmoid())
    assert _kinds(s[1:]) == [("1", "Tanh"), ("2", "Sigmoid")]  # slices keep the names
    od = lib.Sequential(OrderedDict(a=lib.ReLU(), b=lib.Tanh()))
    assert _names(od[1:].named_children()) == ["b"]
    s[-1] = lib.Identity()
    assert _kinds(s)[-1] == ("2", "Identity")
    del s[0]
    assert _kinds(s) == [("0", "Tanh"), ("1", "Identity")]
    s.insert(1, lib.ReLU())
    assert _kinds(s) == [("0", "Tanh"), ("1", "ReLU"), ("2", "Identity")]
    s.insert(-1, lib.Sigmoid())
    assert [k for _, k in _kinds(s)] == ["Tanh", "ReLU", "Sigmoid", "Identity"]
    assert s.extend([lib.Tanh()]) is s and len(s) == 5
    assert type(s.pop(0)).__name__ == "Tanh" and _kinds(s)[0] == ("0", "ReLU")
    del s[:3]
    assert _kinds(s) == [("0", "Tanh")]
    t = s + lib.Sequential(lib.ReLU())
    assert _kinds(t) == [("0", "Tanh"), ("1", "ReLU")] and len(s) == 1
    s += lib.Sequential(lib.Sigmoid())
    assert _kinds(s) == [("0", "Tanh"), ("1", "Sigmoid")]
    with pytest.raises(IndexError):
        s[2] = lib.ReLU()
    with pytest.raises(IndexError):
        s.insert(5, lib.ReLU())
    with pytest.raises(ValueError):
        s + lib.ReLU()


def test_sequential_slice_state_dict_keys_match_the_original():
    s = dnn.Sequential(dnn.Linear(2, 3), dnn.ReLU(), dnn.Linear(3, 1))
    tail = s[2:]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert all(k in s.state_dict() for k in tail.state_dict())


@pytest.mark.parametrize("lib", [dnn, tnn], ids=["dg", "torch"])
def test_module_list_pop_and_add(lib):
    ml = lib.ModuleList([lib.ReLU(), lib.Tanh(), lib.Sigmoid()])
    assert type(ml.pop(1)).__name__ == "Tanh"
    assert _kinds(ml) == [("0", "ReLU"), ("1", "Sigmoid")]
    both = ml + lib.ModuleList([lib.Identity()])
    assert type(both).__name__ == "ModuleList" and len(both) == 3 and len(ml) == 2
    ml += [lib.Tanh()]
    assert type(ml).__name__ == "ModuleList" and _kinds(ml)[-1] == ("2", "Tanh")


# ---- repr ----------------------------------------------------------------------------------


def _same_repr(make):
    assert repr(make(dnn)) == repr(make(tnn)).replace("torch.", "")


def test_repr_layout_as_torch():
    _same_repr(lambda nn: nn.Linear(3, 4))
    _same_repr(lambda nn: nn.Linear(3, 4, bias=False))
    _same_repr(lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Tanh())))
    _same_repr(lambda nn: nn.Sequential(OrderedDict(fc=nn.Linear(1, 1), act=nn.ReLU())))
    _same_repr(lambda nn: nn.Sequential())
    _same_repr(lambda nn: nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.Tanh()]))
    _same_repr(lambda nn: nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)]))
    _same_repr(lambda nn: nn.ModuleList())
    _same_repr(lambda nn: nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(1, 2)}))
    _same_repr(lambda nn: nn.ParameterList([_p(2, nn), _p((3, 4), nn)]))


def test_repr_multiline_extra_repr_as_torch():
    def make(nn, children):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                if children:
                    self.fc = nn.Linear(1, 1)

            def extra_repr(self):
                return "a=1\nb=2"

        class One(M):
            def extra_repr(self):
                return "a=1"

        return M(), One()

    for children in (False, True):
        ours, theirs = make(dnn, children), make(tnn, children)
        for a, b in zip(ours, theirs):
            assert repr(a) == repr(b)
