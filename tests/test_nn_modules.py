"""deltagrad.nn beyond the layers: Parameter ownership, buffers, traversal, apply, dtype moves,
hooks, containers, all-or-nothing load_state_dict, init and clipping behaviour, the new
layers against NumPy float64, and bad input (each error names the module and argument)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close

TOL = {"rtol": 1e-10, "atol": 1e-10}


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- Parameter (issue 14) ---------------------------------------------------------------------


def test_parameter_copies_the_callers_array():
    a = rand(3, 2)
    keep = a.copy()
    p = nn.Parameter(a)
    assert isinstance(p, nn.Parameter) and isinstance(p, dg.Tensor)
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    assert not np.shares_memory(p.data, a)
    p.grad = np.ones((3, 2))
    dg.optim.SGD([p], lr=0.5).step()  # an optimizer step never writes into the caller's array
    np.testing.assert_array_equal(a, keep)
    # two parameters built from one array are not tied
    q1, q2 = nn.Parameter(a), nn.Parameter(a)
    with dg.no_grad():
        q1.add_(1.0)
    np.testing.assert_array_equal(q2.data, keep)
    # from a Tensor: a copy too
    t = dg.tensor(rand(4))
    assert not np.shares_memory(nn.Parameter(t).data, t.data)
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert nn.Parameter(np.ones(2), dtype=np.float32).dtype == np.float32
    assert not nn.Parameter(np.ones(2), requires_grad=False).requires_grad
    assert repr(nn.Parameter(np.ones(1))).startswith("Parameter containing:")
    with pytest.raises(TypeError, match="Parameter: data"):
        nn.Parameter(np.arange(3))


def test_parameter_without_grad_is_still_a_parameter():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen = nn.Parameter(np.ones(2), requires_grad=False)
            self.plain = dg.tensor(np.ones(2))  # neither parameter nor buffer

    m = M()
    assert [n for n, _ in m.named_parameters()] == ["frozen"]
    assert list(m.state_dict()) == ["frozen"]


# ---- buffers, traversal, apply, modes ---------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, dtype=np.float64)
        self.bn = nn.BatchNorm1d(4, dtype=np.float64)
        self.register_buffer("scale", dg.tensor(np.full(4, 2.0)))
        self.register_buffer("cache", dg.tensor(np.zeros(4)), persistent=False)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, dtype=np.float64))

    def forward(self, x):
        return self.head(self.bn(self.fc(x)) * self.scale)


def test_buffers_in_state_dict_and_traversal():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == [
        "scale",
        "cache",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]
    assert len(list(net.buffers())) == 5
    assert [n for n, _ in net.named_buffers(recurse=False)] == ["scale", "cache"]
    assert list(net.state_dict()) == [
        "scale",
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "head.1.weight",
        "head.1.bias",
    ]
    assert [n for n, _ in net.named_children()] == ["fc", "bn", "head"]
    assert list(net.children()) == [net.fc, net.bn, net.head]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    # assigning a Tensor to a buffer's name updates the buffer
    net.scale = dg.tensor(np.full(4, 3.0))
    assert net.state_dict()["scale"][0] == 3.0
    # a buffer set to None drops out of state_dict
    net.scale = None
    assert "scale" not in net.state_dict()
    keep = net.state_dict(keep_vars=True)
    assert keep["fc.weight"] is net.fc.weight


def test_apply_requires_grad_zero_grad_and_modes():
    net = Net()
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Linear", "BatchNorm1d", "ReLU", "Linear", "Sequential", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    x = dg.tensor(rand(5, 3))
    net(x).sum().backward()
    grads = [p.grad for p in net.parameters()]
    net.zero_grad(set_to_none=False)  # the arrays are kept and zeroed
    assert all(p.grad is g and not g.any() for p, g in zip(net.parameters(), grads))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.eval() is net and not net.bn.training
    with pytest.raises(ValueError, match="Net.train: mode"):
        net.train("yes")


def test_to_dtype_casts_parameters_buffers_and_grads_in_place():
    net = Net().float()
    w = net.fc.weight
    assert w.dtype == np.float32 and net.bn.running_var.dtype == np.float32
    assert net.bn.num_batches_tracked.dtype == np.int64
    net(dg.tensor(rand(5, 3).astype(np.float32))).sum().backward()
    net.to(np.float64)
    assert net.fc.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert net.to(dtype="float32").fc.weight.dtype == np.float32
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="Net.to: dtype"):
        net.to(np.int32)
    with pytest.raises(TypeError, match="Net.to: dtype"):
        net.to("gpu")


def test_register_buffer_and_parameter_bad_input():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Linear.register_buffer: tensor"):
        m.register_buffer("b", [1, 2])
    with pytest.raises(KeyError, match="Linear.register_buffer: name"):
        m.register_buffer("a.b", None)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", None)
    with pytest.raises(TypeError, match="Linear.register_buffer: name"):
        m.register_buffer(3, None)
    with pytest.raises(TypeError, match="Linear.register_parameter: param"):
        m.register_parameter("p", np.ones(2))
    with pytest.raises(TypeError, match="Linear.add_module: module"):
        m.add_module("sub", 3)


# ---- hooks --------------------------------------------------------------------------------


def test_hooks_run_in_order_and_remove():
    lin = nn.Linear(2, 2, dtype=np.float64)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, a: calls.append("pre1"))
    h2 = lin.register_forward_pre_hook(lambda m, a: calls.append("pre0"), prepend=True)
    h3 = lin.register_forward_hook(lambda m, a, out: calls.append(("post", out.shape)))
    h4 = lin.register_forward_pre_hook(
        lambda m, a, kw: (a, {**kw}) and calls.append("kw"), with_kwargs=True
    )
    x = dg.tensor(rand(3, 2))
    lin(x)
    assert calls == ["pre0", "pre1", "kw", ("post", (3, 2))]
    for h in (h1, h2, h3, h4):
        h.remove()
    calls.clear()
    lin(x)
    assert calls == []
    with lin.register_forward_hook(lambda m, a, out: out * 0) as h:
        assert not lin(x).data.any()
    assert lin(x).data.any()
    h.remove()  # removing twice is harmless
    with pytest.raises(TypeError, match="Linear.register_forward_hook: hook"):
        lin.register_forward_hook(3)


# ---- load_state_dict: all or nothing ------------------------------------------------------------


def test_failed_load_state_dict_changes_nothing():
    dg.manual_seed(1)
    net = Net()
    net.train()
    net(dg.tensor(rand(6, 3)))  # running statistics move off their initial values
    before = {k: v.copy() for k, v in net.state_dict().items()}
    ids = {n: id(t.data) for n, t in net.state_dict(keep_vars=True).items()}
    good = {k: v + 1 for k, v in before.items()}
    cases = [
        {**good, "head.1.weight": np.ones((3, 4))},  # a bad shape, listed last
        {**good, "bn.num_batches_tracked": np.array(1.5)},  # a float into an int buffer
        {**good, "fc.bias": np.array(["a", "b", "c", "d"])},  # not numbers
        {k: v for k, v in good.items() if k != "head.1.bias"},  # a missing key
        {**good, "extra": np.ones(1)},  # an unexpected key
    ]
    for bad in cases:
        with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict for Net"):
            net.load_state_dict(bad)
        after = net.state_dict(keep_vars=True)
        for k, v in before.items():
            np.testing.assert_array_equal(after[k].data, v)
            assert id(after[k].data) == ids[k]
    # a float64 state into float32 parameters is cast, as torch
    res = net.load_state_dict(good)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, v in good.items():
        np.testing.assert_array_equal(net.state_dict()[k], v)


def test_load_state_dict_messages_and_non_strict():
    lin = nn.Linear(2, 3)
    with pytest.raises(KeyError) as e:
        lin.load_state_dict({"weight": np.zeros((3, 2)), "x": np.zeros(1)})
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "bias"' in msg
    assert 'Unexpected key(s) in state_dict: "x"' in msg
    assert msg.index("Missing") < msg.index("Unexpected")
    res = lin.load_state_dict({"weight": np.zeros((3, 2)), "x": np.zeros(1)}, strict=False)
    assert res == (["bias"], ["x"]) and res.missing_keys == ["bias"]
    assert not lin.weight.data.any()
    with pytest.raises(ValueError, match="size mismatch for weight"):
        lin.load_state_dict({"weight": np.zeros((2, 2))}, strict=False)
    with pytest.raises(TypeError, match="Linear.load_state_dict: state_dict"):
        lin.load_state_dict([1, 2])
    # Tensors are accepted and copied
    src = dg.tensor(np.ones((3, 2), dtype=np.float32))
    lin.load_state_dict({"weight": src, "bias": np.ones(3)})
    assert not np.shares_memory(lin.weight.data, src.data)


def test_tied_parameters_appear_under_every_name_in_state_dict():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(seq.parameters()) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    seq.load_state_dict(seq.state_dict())


# ---- containers -------------------------------------------------------------------------------


def test_module_dict_and_parameter_list():
    d = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.ReLU()})
    d["c"] = nn.Linear(3, 1)
    assert list(d) == ["a", "b", "c"] and len(d) == 3 and "b" in d
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert isinstance(d.pop("b"), nn.ReLU) and list(d.keys()) == ["a", "c"]
    d.update([("e", nn.Tanh())])
    assert [k for k, _ in d.items()] == ["a", "c", "e"]
    del d["e"]
    d.clear()
    assert len(d) == 0
    with pytest.raises(TypeError, match="ModuleDict: the value of key 'x'"):
        d["x"] = 3
    with pytest.raises(TypeError, match="ModuleDict.update: element 0"):
        d.update([3])

    src = np.ones(3)
    pl = nn.ParameterList([src, nn.Parameter(np.zeros(2))])
    pl.append(dg.tensor(np.ones((2, 2))))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert not np.shares_memory(pl[0].data, src)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pl[1] = np.full(4, 2.0)
    assert pl[1].shape == (4,)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([np.ones(2), np.ones(3)])

    assert list(Holder().state_dict()) == ["ps.0", "ps.1"]
    with pytest.raises(IndexError, match="ParameterList: index 5"):
        pl[5] = np.ones(1)

    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.insert(0, nn.Sigmoid())
    ml[2] = nn.GELU()
    del ml[1]
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "GELU"]
    assert isinstance(ml[:1], nn.ModuleList)


# ---- the new layers against NumPy float64 ----------------------------------------------------


def np_batchnorm_train(x, w, b, eps):
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    m, v = x.mean(axes), x.var(axes)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * w.reshape(shape) + b.reshape(
        shape
    )


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm_matches_numpy_and_gradcheck(shape):
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    bn.weight.data[...] = [0.5, 1.5, -2.0]
    bn.bias.data[...] = [0.1, -0.2, 0.3]
    x = rand(*shape, seed=3) * 2 + 1
    y = bn(dg.tensor(x))
    ref = np_batchnorm_train(x, bn.weight.data, bn.bias.data, 1e-5)
    assert_close(y.data, ref, **TOL)
    n = x.size // 3
    axes = (0,) if x.ndim == 2 else (0, 2)
    assert_close(bn.running_mean.data, 0.1 * x.mean(axes), **TOL)
    assert_close(bn.running_var.data, 0.9 + 0.1 * x.var(axes) * n / (n - 1), **TOL)
    xt = dg.tensor(x, requires_grad=True)
    assert dg.gradcheck(
        lambda t: F.batch_norm(t, None, None, bn.weight, bn.bias, training=True), xt
    )
    bn.eval()
    assert dg.gradcheck(lambda t: bn(t), xt)


def test_layer_norm_and_embedding_gradcheck():
    w = dg.tensor(rand(4, 5, seed=1), requires_grad=True)
    b = dg.tensor(rand(4, 5, seed=2), requires_grad=True)
    x = dg.tensor(rand(3, 4, 5, seed=3), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), (x, w, b))
    m = x.data.reshape(3, -1)
    ref = (m - m.mean(1, keepdims=True)) / np.sqrt(m.var(1, keepdims=True) + 1e-5)
    assert_close(F.layer_norm(x, (4, 5)).data, ref.reshape(3, 4, 5), **TOL)
    emb_w = dg.tensor(rand(5, 3, seed=4), requires_grad=True)
    idx = np.array([[1, 1, 4], [0, 2, 1]])
    assert_close(F.embedding(idx, emb_w).data, emb_w.data[idx], **TOL)
    assert dg.gradcheck(lambda w: F.embedding(idx, w), emb_w)
    F.embedding(idx, emb_w, padding_idx=1).sum().backward()
    assert not emb_w.grad[1].any() and emb_w.grad[0].all()


def test_embedding_module_and_bad_input():
    dg.manual_seed(2)
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert emb.weight.dtype == np.float32 and not emb.weight.data[0].any()
    assert emb(dg.tensor(np.array([3, 0]))).shape == (2, 4)
    assert emb(np.array(7)).shape == (4,)
    assert emb(np.zeros((2, 0), np.int64)).shape == (2, 0, 4)
    with pytest.raises(IndexError, match="embedding: input: index 10"):
        emb(np.array([1, 10]))
    with pytest.raises(IndexError, match="embedding: input: index -1"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="embedding: input: expected integer"):
        emb(np.array([1.0]))
    with pytest.raises(ValueError, match="Embedding: padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(TypeError, match="Embedding: max_norm"):
        nn.Embedding(3, 2, max_norm="1")
    with pytest.raises(ValueError, match="Embedding: num_embeddings"):
        nn.Embedding(-1, 2)
    pre = nn.Embedding.from_pretrained(np.arange(6.0).reshape(3, 2))
    assert not pre.weight.requires_grad and pre(np.array([2])).data.tolist() == [[4.0, 5.0]]
    assert "Embedding(10, 4, padding_idx=0)" == repr(emb)


def test_norm_layers_bad_input():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d: input: expected 2D .* \(got 4D"):
        bn(dg.tensor(np.ones((2, 3, 4, 5), np.float32)))
    with pytest.raises(ValueError, match="BatchNorm1d: input: expected 3 channels"):
        bn(dg.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(dg.tensor(np.ones((1, 3), np.float32)))
    assert bn.num_batches_tracked.item() == 0  # a refused batch changes nothing
    with pytest.raises(TypeError, match="batch_norm: weight: has dtype float32"):
        bn(dg.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="BatchNorm1d: num_features"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="BatchNorm1d: momentum"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(TypeError, match="BatchNorm1d: affine"):
        nn.BatchNorm1d(3, affine=1)
    with pytest.raises(ValueError, match="BatchNorm1d: eps"):
        nn.BatchNorm1d(3, eps=-1.0)
    ln = nn.LayerNorm((2, 3))
    with pytest.raises(
        ValueError, match=r"LayerNorm: input: expected a shape ending in .*\(2, 3\)"
    ):
        ln(dg.tensor(np.ones((4, 3, 2), np.float32)))
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm("3")
    with pytest.raises(ValueError, match="layer_norm: input"):
        F.layer_norm(dg.tensor(np.ones(3)), (4,))
    assert "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True" in repr(bn)


def test_flatten_unflatten_bad_input():
    x = dg.tensor(np.ones((2, 3, 4)))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, -1)(dg.tensor(np.ones((2, 0, 3)))).shape == (0,)
    with pytest.raises(IndexError, match="Flatten: start_dim"):
        nn.Flatten(5)(x)
    with pytest.raises(ValueError, match="Flatten: start_dim"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(TypeError, match="Flatten: input"):
        nn.Flatten()(np.ones((2, 2)))
    with pytest.raises(ValueError, match="Unflatten: unflattened_size"):
        nn.Unflatten(1, (2, 2))(x)
    with pytest.raises(ValueError, match="Unflatten: unflattened_size"):
        nn.Unflatten(1, (-1, -1))
    with pytest.raises(TypeError, match="Unflatten: unflattened_size"):
        nn.Unflatten(1, 3)


# ---- init -----------------------------------------------------------------------------------


def test_init_writes_in_place_reproducibly_and_bumps_the_version():
    w = nn.Parameter(np.zeros((30, 20)))
    data, version = w.data, w._version[0]
    dg.manual_seed(5)
    assert nn.init.xavier_uniform_(w) is w
    assert w.data is data and w._version[0] == version + 1
    first = w.data.copy()
    dg.manual_seed(5)
    nn.init.xavier_uniform_(w)
    np.testing.assert_array_equal(w.data, first)
    gen = np.random.default_rng(0)
    a = nn.init.normal_(dg.tensor(np.zeros(5)), generator=gen).data.copy()
    b = nn.init.normal_(dg.tensor(np.zeros(5)), generator=np.random.default_rng(0)).data
    np.testing.assert_array_equal(a, b)
    assert (nn.init.constant_(w, 0.25).data == 0.25).all()
    assert not nn.init.zeros_(w).data.any() and (nn.init.ones_(w).data == 1).all()
    assert w.grad is None and w.requires_grad  # no graph was recorded


def test_init_bad_input():
    t = dg.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(dg.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="kaiming_uniform_: mode"):
        nn.init.kaiming_uniform_(t, mode="fan_avg")
    with pytest.raises(ValueError, match="calculate_gain: nonlinearity"):
        nn.init.kaiming_normal_(t, nonlinearity="mish")
    with pytest.raises(ValueError, match="calculate_gain: param"):
        nn.init.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(TypeError, match="uniform_: tensor"):
        nn.init.uniform_(np.zeros(3))
    with pytest.raises(TypeError, match="normal_: tensor: expected a floating"):
        nn.init.normal_(dg.tensor(np.zeros(3, np.int64)))
    with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range"):
        nn.init.uniform_(t, 1.0, 0.0)
    with pytest.raises(RuntimeError, match="normal_: normal expects std >= 0.0"):
        nn.init.normal_(t, 0.0, -1.0)
    with pytest.raises(TypeError, match="normal_: generator"):
        nn.init.normal_(t, generator=3)
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(dg.tensor(np.zeros((0, 3))))


# ---- clipping -------------------------------------------------------------------------------


def test_clip_grad_norm_scales_in_place_and_bad_input():
    p = nn.Parameter(np.ones(4))
    g = np.array([3.0, 4.0, 0.0, 0.0])
    p.grad = g
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert p.grad is g  # scaled in place
    assert_close(total.item(), 5.0, **TOL)
    assert_close(g, np.array([3.0, 4.0, 0, 0]) / (5.0 + 1e-6), **TOL)
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0).item() == 0.0  # no grads
    q = nn.Parameter(np.ones(2))
    q.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(q, 1.0, error_if_nonfinite=True)
    assert q.grad[1] == 1.0  # nothing scaled
    with pytest.raises(TypeError, match="clip_grad_norm_: max_norm"):
        nn.utils.clip_grad_norm_(q, "1")
    with pytest.raises(TypeError, match="clip_grad_norm_: norm_type"):
        nn.utils.clip_grad_norm_(q, 1.0, norm_type="fro")
    with pytest.raises(TypeError, match=r"clip_grad_norm_: parameters\[1\]"):
        nn.utils.clip_grad_norm_([q, 3], 1.0)
    with pytest.raises(TypeError, match="clip_grad_value_: clip_value"):
        nn.utils.clip_grad_value_(q, None)
    v = nn.utils.parameters_to_vector([p, q])
    assert v.shape == (6,)
    nn.utils.vector_to_parameters(dg.tensor(np.arange(6.0)), [p, q])
    assert q.data.tolist() == [4.0, 5.0]


# ---- losses: bad input ----------------------------------------------------------------------


def test_loss_bad_input_names_function_and_argument():
    x = dg.tensor(rand(4, 3))
    t = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="cross_entropy: weight: expected shape \\(3,\\)"):
        F.cross_entropy(x, t, weight=np.ones(2))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="cross_entropy: ignore_index"):
        F.cross_entropy(x, t, ignore_index=1.0)
    with pytest.raises(ValueError, match="cross_entropy: target: class index 3 is out of range"):
        F.cross_entropy(x, np.array([0, 3, 1, 1]), weight=np.ones(3))
    with pytest.raises(TypeError, match="cross_entropy: target: has the input's shape"):
        F.cross_entropy(x, np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match="cross_entropy: reduction"):
        F.cross_entropy(x, t, weight=np.ones(3), reduction="avg")
    with pytest.raises(ValueError, match="nll_loss: target must have shape \\(2, 5\\)"):
        F.nll_loss(dg.tensor(rand(2, 3, 5)), np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match="smooth_l1_loss: beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.warns(UserWarning, match="target size"):  # torch warns, then raises
        with pytest.raises(ValueError, match="l1_loss: target has shape"):
            F.l1_loss(x, np.ones(5))
    with pytest.raises(ValueError, match="HuberLoss: delta"):
        nn.HuberLoss(delta=-1)
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2)
    with pytest.raises(ValueError, match="NLLLoss: weight"):
        nn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match="L1Loss: reduction"):
        nn.L1Loss(reduction="avg")


def test_loss_signatures_old_and_torch():
    x = dg.tensor(rand(5, 3))
    t = np.array([0, 2, 1, 1, 0])
    plain = F.cross_entropy(x, t, reduction="sum").item()
    assert F.cross_entropy(x, t, "sum").item() == plain  # deltagrad's positional reduction
    assert nn.CrossEntropyLoss("sum")(x, t).item() == plain
    assert nn.CrossEntropyLoss(reduction="sum")(x, t).item() == plain
    # the fused kernel and the composed path agree
    composed = F.cross_entropy(x, t, weight=np.ones(3), reduction="sum").item()
    assert_close(composed, plain, **TOL)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.L1Loss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.MSELoss(reduce=False).reduction == "none"
    assert nn.MSELoss("sum").reduction == "sum"
    w = nn.CrossEntropyLoss(weight=np.ones(3))
    assert "weight" in dict(w.named_buffers())


def test_regression_losses_match_numpy():
    rng = np.random.default_rng(9)
    y, t = rng.standard_normal((6, 4)) * 2, rng.standard_normal((6, 4))
    d = y - t
    z = np.abs(d)
    refs = {
        "l1": (F.l1_loss, {}, z),
        "smooth": (F.smooth_l1_loss, {"beta": 0.5}, np.where(z < 0.5, d * d, z - 0.25)),
        "huber": (F.huber_loss, {"delta": 0.5}, np.where(z < 0.5, 0.5 * d * d, 0.5 * (z - 0.25))),
    }
    for fn, kw, ref in refs.values():
        assert_close(fn(dg.tensor(y), t, "none", **kw).data, ref, **TOL)
        assert_close(fn(dg.tensor(y), t, "sum", **kw).item(), ref.sum(), **TOL)
        assert_close(fn(dg.tensor(y), t, **kw).item(), ref.mean(), **TOL)
        yt = dg.tensor(y, requires_grad=True)
        tt = dg.tensor(t, requires_grad=True)
        assert dg.gradcheck(lambda a, b, fn=fn, kw=kw: fn(a, b, "mean", **kw), (yt, tt))
    assert math.isnan(F.l1_loss(dg.tensor(np.zeros(0)), np.zeros(0)).item())


def test_bools_are_not_numbers():
    with pytest.raises(TypeError, match="Dropout: p"):
        nn.Dropout(True)
    with pytest.raises(TypeError, match="dropout: p"):
        F.dropout(dg.tensor(np.ones(2)), True)
    with pytest.raises(TypeError, match="LeakyReLU: negative_slope"):
        nn.LeakyReLU(True)
    with pytest.raises(TypeError, match="Flatten: start_dim"):
        nn.Flatten(True)
    with pytest.raises(ValueError, match="BatchNorm1d: num_features"):
        nn.BatchNorm1d(True)
    with pytest.raises(TypeError, match="clip_grad_norm_: max_norm"):
        nn.utils.clip_grad_norm_([], True)
    with pytest.raises(TypeError, match="SmoothL1Loss: beta"):
        nn.SmoothL1Loss(beta=True)


def test_module_save_load_call_dg_save_and_dg_load(monkeypatch, tmp_path):
    # Module.save / load against the contract of deltagrad.serialization (branch `data`),
    # with a stand-in module so that this runs without it: save(state_dict, exactly path),
    # load(path) -> the dict, possibly nested (it is flattened back to "." keys)
    import sys
    import types

    files = {}

    def fake_save(obj, path):
        files[path] = {k: np.array(v, copy=True) for k, v in obj.items()}

    def fake_load(path, check=None):
        nested = {}
        for k, v in files[path].items():
            *head, last = k.split(".")
            d = nested
            for h in head:
                d = d.setdefault(h, {})
            d[last] = v
        return nested

    fake = types.ModuleType("deltagrad.serialization")
    fake.save, fake.load = fake_save, fake_load
    monkeypatch.setitem(sys.modules, "deltagrad.serialization", fake)
    dg.manual_seed(3)
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    a(dg.tensor(rand(5, 3).astype(np.float32)))
    path = tmp_path / "model.bin"
    a.save(path)
    assert list(files) == [path] and list(files[path]) == list(a.state_dict())
    dg.manual_seed(4)
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert b.load(path) is b
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    nn.save(a, tmp_path / "other")
    nn.load(b, tmp_path / "other")
    c = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    before = c.state_dict()
    with pytest.raises(ValueError, match="size mismatch"):
        c.load(path)
    for k, v in before.items():
        np.testing.assert_array_equal(c.state_dict()[k], v)


@pytest.mark.parametrize("replace", ["load_state_dict", "to"])
def test_replacing_parameters_between_forward_and_backward_raises(replace):
    lin = nn.Linear(3, 2, dtype=np.float64)
    state = {k: v + 1 for k, v in lin.state_dict().items()}
    out = lin(dg.tensor(rand(4, 3), requires_grad=True)).sum()
    if replace == "load_state_dict":
        lin.load_state_dict(state)
    else:
        lin.to(np.float32)
    with pytest.raises(RuntimeError, match="linear"):
        out.backward()


def test_a_graph_output_assigned_to_a_module_is_not_a_parameter():
    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones(2))

        def forward(self, x):
            self.last = x * self.w  # an interior node: not something to optimize
            return self.last

    m = Cache()
    m(dg.tensor(np.ones(2)))
    assert [n for n, _ in m.named_parameters()] == ["w"]


@pytest.mark.parametrize(
    "make",
    [
        lambda dt: nn.Linear(3, 4, dtype=dt),
        lambda dt: nn.Conv2d(3, 4, 3, dtype=dt),
        lambda dt: nn.BatchNorm1d(3, dtype=dt),
        lambda dt: nn.BatchNorm2d(3, dtype=dt),
        lambda dt: nn.LayerNorm(3, dtype=dt),
        lambda dt: nn.Embedding(5, 3, dtype=dt),
    ],
    ids=["Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding"],
)
def test_module_dtype_argument(make):
    """dtype=None is the default dtype, float32, as in torch (it was float64 through
    np.dtype(None) everywhere but Conv2d); float64 is kept; anything else is a TypeError naming
    the module and the argument (Conv2d and Linear said 'only float32 / float64 tensors can
    require grad')."""
    name = type(make(None)).__name__
    for p in make(None).parameters():
        assert p.dtype == np.float32
    for p in make("float64").parameters():
        assert p.dtype == np.float64
    for bad in (np.float16, np.int32, "nonsense"):
        with pytest.raises(TypeError, match=rf"^{name}: dtype: expected float32 or float64"):
            make(bad)


def test_big_endian_arrays_become_native():
    """A big-endian float array (e.g. read from a file) becomes a tensor of the same values in
    native order, which can require grad and goes through every kernel (batch_norm and
    layer_norm refused '>f4' as 'not float32')."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(">f4")
    t = dg.tensor(x, requires_grad=True)
    assert t.dtype == np.float32 and t.dtype.isnative
    np.testing.assert_array_equal(t.numpy(), x)
    with pytest.raises(ValueError, match="^from_numpy: ndarray: has non-native byte order"):
        dg.from_numpy(x)  # it shares memory: a converted copy would not
    native = dg.tensor(x.astype(np.float32))
    for f in (
        lambda v: F.batch_norm(v, None, None, training=True),
        lambda v: F.layer_norm(v, (4, 4)),
        lambda v: F.max_pool2d(v, 2),
    ):
        np.testing.assert_array_equal(f(t).numpy(), f(native).numpy())


def test_parameters_and_loaded_state_are_c_contiguous():
    """Parameter(W.T) and load_state_dict of a ported (in, out) kernel given as kernel.T are
    Fortran arrays, which the fused optimizer updates refused; dg.tensor copies in C order too,
    as torch.tensor."""
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((4, 3))  # (in, out)
    assert dg.tensor(kernel.T).data.flags.c_contiguous
    assert nn.Parameter(kernel.T).data.flags.c_contiguous
    m = nn.Linear(4, 3, dtype=np.float64)
    m.load_state_dict({"weight": kernel.T, "bias": np.zeros(3)})
    assert m.weight.data.flags.c_contiguous
    np.testing.assert_array_equal(m.weight.data, kernel.T)
    for cls in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        m.zero_grad()
        m(dg.tensor(np.ones((5, 4)))).sum().backward()
        before = m.weight.data.copy()
        getattr(dg.optim, cls)(m.parameters(), lr=0.1).step()
        assert not np.array_equal(m.weight.data, before), cls


def test_load_state_dict_assign_takes_the_arrays():
    m = nn.Linear(4, 3)
    w, b = np.ones((3, 4)), np.zeros(3)
    assert m.load_state_dict({"weight": w, "bias": b}, assign=True) == ([], [])
    assert m.bias.data is b and m.weight.dtype == np.float64 and m.weight.requires_grad
    f = np.asfortranarray(np.full((3, 4), 2.0))
    m.load_state_dict({"weight": f, "bias": b}, assign=True)
    assert m.weight.data.flags.c_contiguous and (m.weight.data == 2).all()
    with pytest.raises(TypeError, match="assign: expected a bool"):
        m.load_state_dict({"weight": w, "bias": b}, assign="yes")


def test_batch_norm_state_without_num_batches_tracked_loads():
    """torch fills in a missing num_batches_tracked (state_dicts from before torch 0.4.1, or
    converted without their metadata): the module keeps its own count."""
    bn = nn.BatchNorm2d(3)
    bn(dg.tensor(np.random.default_rng(1).standard_normal((4, 3, 2, 2)).astype(np.float32)))
    sd = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    sd["running_mean"] = np.arange(3, dtype=np.float32)
    fresh = nn.BatchNorm2d(3)
    assert fresh.load_state_dict(sd) == ([], [])
    np.testing.assert_array_equal(fresh.running_mean.data, np.arange(3))
    assert int(fresh.num_batches_tracked.data) == 0
    seq = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    sd = {k: v for k, v in seq.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert seq.load_state_dict(sd) == ([], [])
    with pytest.raises(RuntimeError, match="Missing key.*running_var"):
        seq.load_state_dict({k: v for k, v in sd.items() if k != "1.running_var"})
