"""deltagrad.nn: Module bookkeeping, Linear init and forward, Sequential, MLP, loss modules,
state_dict and save / load."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close


def test_linear_init_is_torch_like_and_reproducible():
    dg.manual_seed(42)
    a = nn.Linear(300, 200)
    dg.manual_seed(42)
    b = nn.Linear(300, 200)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    bound = 1 / math.sqrt(300)
    w = a.weight.data
    assert w.shape == (200, 300) and w.dtype == np.float32 and a.bias.shape == (200,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.mean()) < 0.02 * bound and abs(w.var() - bound**2 / 3) < 0.05 * bound**2
    assert a.weight.requires_grad and a.bias.requires_grad
    c = nn.Linear(300, 200)  # the generator moved on
    assert not np.array_equal(c.weight.data, a.weight.data)


def test_linear_forward_matches_numpy_and_no_bias():
    dg.manual_seed(0)
    lin = nn.Linear(5, 3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert_close(
        lin(dg.tensor(x)).data,
        x @ lin.weight.data.T + lin.bias.data,
        rtol=1e-7,
        atol=0.0,
        equal_nan=True,
    )
    nb = nn.Linear(5, 3, bias=False)
    assert nb.bias is None and len(nb.parameters()) == 1
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="activation"):
        nn.Linear(2, 3, activation="squareplus")


def test_module_registration_named_parameters_and_modules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            self.scale = nn.Parameter(np.ones(2))
            self.constant = dg.tensor(np.ones(2))  # no grad: not a parameter

        def forward(self, x):
            return self.body(x) * self.scale

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    assert len(net.parameters()) == 5
    assert [type(m).__name__ for m in net.modules()] == [
        "Net",
        "Sequential",
        "Linear",
        "ReLU",
        "Linear",
    ]
    y = net(dg.tensor(np.ones((3, 4), dtype=np.float32)))
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_tied_parameter_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(seq.parameters()) == 2


def test_module_without_super_init_gets_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(RuntimeError, match="super"):
        Bad()


def test_sequential_indexing_iteration_len():
    layers = [nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


@pytest.mark.parametrize(
    "cls,ref",
    [
        (nn.ReLU, lambda x: np.maximum(x, 0)),
        (nn.Tanh, np.tanh),
        (nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
        (nn.Softplus, lambda x: np.log1p(np.exp(x))),
        (lambda: nn.LeakyReLU(0.3), lambda x: np.where(x > 0, x, 0.3 * x)),
        (nn.GELU, lambda x: F.gelu(dg.tensor(x)).data),
        (nn.Identity, lambda x: x),
        (nn.SiLU, lambda x: x / (1 + np.exp(-x))),
        (nn.Swish, lambda x: x / (1 + np.exp(-x))),
    ],
)
def test_activation_modules(cls, ref):
    x = np.random.default_rng(1).standard_normal((3, 4))
    out = cls()(dg.tensor(x))
    assert_close(np.asarray(out), ref(x), rtol=1e-12, atol=0.0, equal_nan=True)


def test_mlp_structure_and_fused_forward():
    dg.manual_seed(3)
    mlp = nn.MLP([4, 6, 5, 2], activation="tanh", dtype=np.float64)
    assert len(mlp) == 3 and [lin.activation for lin in mlp] == ["tanh", "tanh", None]
    x = np.random.default_rng(2).standard_normal((7, 4))
    h = x
    for i, lin in enumerate(mlp):
        h = h @ lin.weight.data.T + lin.bias.data
        if i < 2:
            h = np.tanh(h)
    assert_close(mlp(dg.tensor(x)).data, h, rtol=1e-12, atol=0.0, equal_nan=True)
    assert "Linear(in_features=4, out_features=6, bias=True, activation='tanh')" in repr(mlp)
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP([3])


def test_mlp_swish_alias_is_silu():
    assert nn.Swish is nn.SiLU
    dg.manual_seed(5)
    mlp = nn.MLP([4, 6, 2], activation="swish", dtype=np.float64)
    assert mlp.activation == "swish" and mlp[0].activation == "swish"
    x = np.random.default_rng(6).standard_normal((5, 4))
    h = x @ mlp[0].weight.data.T + mlp[0].bias.data
    h = (h / (1 + np.exp(-h))) @ mlp[1].weight.data.T + mlp[1].bias.data
    assert_close(mlp(dg.tensor(x)).data, h, rtol=1e-12, atol=0.0, equal_nan=True)
    xt = dg.tensor(x, requires_grad=True)
    assert dg.gradcheck(lambda t: mlp(t), xt)


def test_mlp_gradcheck():
    dg.manual_seed(4)
    mlp = nn.MLP([3, 4, 2], activation="sigmoid", dtype=np.float64)
    x = dg.tensor(np.random.default_rng(3).standard_normal((5, 3)), requires_grad=True)
    ps = mlp.parameters()

    # gradients with respect to the input through the fused layers
    assert dg.gradcheck(lambda x: mlp(x), x)
    assert dg.gradcheck(
        lambda w: F.linear(x.detach(), w, ps[1], "sigmoid"),
        dg.tensor(ps[0].data.copy(), requires_grad=True),
    )


def test_loss_modules():
    rng = np.random.default_rng(5)
    y, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    p, tb = rng.uniform(0.1, 0.9, (6, 3)), (rng.uniform(size=(6, 3)) > 0.5).astype(float)
    cls = rng.integers(0, 3, 6)
    Y = dg.tensor(y)
    assert nn.MSELoss()(Y, t).item() == pytest.approx(np.mean((y - t) ** 2), rel=1e-12)
    assert nn.MSELoss("sum")(Y, t).item() == pytest.approx(np.sum((y - t) ** 2), rel=1e-12)
    assert nn.SumOfSquaresLoss()(Y, t).item() == pytest.approx(0.5 * np.sum((y - t) ** 2))
    bce = -np.mean(tb * np.log(p) + (1 - tb) * np.log(1 - p))
    assert nn.BCELoss()(dg.tensor(p), tb).item() == pytest.approx(bce, rel=1e-12)
    bcel = np.mean(np.logaddexp(0, y) - y * tb)
    assert nn.BCEWithLogitsLoss()(Y, tb).item() == pytest.approx(bcel, rel=1e-12)
    ls = y - y.max(1, keepdims=True)
    ls = ls - np.log(np.exp(ls).sum(1, keepdims=True))
    ce = -ls[np.arange(6), cls]
    assert nn.CrossEntropyLoss()(Y, cls).item() == pytest.approx(ce.mean(), rel=1e-12)
    assert_close(nn.CrossEntropyLoss("none")(Y, cls).data, ce, rtol=1e-12, atol=0.0, equal_nan=True)
    assert repr(nn.MSELoss()) == repr(nn.MSELoss(reduction="sum")) == "MSELoss()"  # as torch
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("avg")


def test_state_dict_roundtrip():
    dg.manual_seed(5)
    a = nn.MLP([3, 5, 2])
    dg.manual_seed(6)
    b = nn.MLP([3, 5, 2])
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    sd["0.weight"][0, 0] = 123.0  # a copy: the model is untouched
    assert a[0].weight.data[0, 0] != 123.0
    b.load_state_dict(a.state_dict())
    x = dg.tensor(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(a(x).data, b(x).data)

    # torch's message lists the keys ("Missing key(s) in state_dict: ..."); still a KeyError
    with pytest.raises(KeyError, match="Missing key"):
        nn.MLP([3, 5, 2]).load_state_dict({"0.weight": sd["0.weight"]})
    with pytest.raises(ValueError, match=r"shape"):
        nn.MLP([3, 4, 2]).load_state_dict(a.state_dict())


def test_save_load_roundtrip(tmp_path):
    # needs deltagrad.serialization (dg.save / dg.load, branch `data`)
    pytest.importorskip("deltagrad.serialization")
    dg.manual_seed(5)
    a = nn.MLP([3, 5, 2])
    x = dg.tensor(np.ones((2, 3), dtype=np.float32))
    path = tmp_path / "model.npz"
    a.save(path)
    dg.manual_seed(7)
    c = nn.MLP([3, 5, 2]).load(path)
    np.testing.assert_array_equal(a(x).data, c(x).data)
    dg.manual_seed(8)
    d = nn.MLP([3, 5, 2])
    nn.load(d, path)
    np.testing.assert_array_equal(a(x).data, d(x).data)


def test_dropout_train_and_eval():
    dg.manual_seed(9)
    drop = nn.Dropout(0.3)
    x = dg.tensor(np.random.default_rng(9).uniform(1, 2, (200, 50)), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert 0.65 < kept.mean() < 0.75
    assert_close(y.data[kept], x.data[kept] / 0.7, rtol=1e-7, atol=0.0, equal_nan=True)
    g = np.random.default_rng(10).standard_normal(x.shape)
    y.backward(g)
    assert_close(x.grad, np.where(kept, g / 0.7, 0.0), rtol=1e-7, atol=0.0, equal_nan=True)
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 1.0).data.max() == 0.0
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)
    assert repr(drop) == "Dropout(p=0.3, inplace=False)"


def test_module_list_registers_its_modules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 2)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]
    assert len(net.layers) == 2 and isinstance(net.layers[1], nn.Linear)
    assert net(dg.tensor(np.ones((5, 3), dtype=np.float32))).shape == (5, 2)
    with pytest.raises(TypeError, match="Module"):
        nn.ModuleList([3])
