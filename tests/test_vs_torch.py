"""The same computations in deltagrad and PyTorch, float64: forward values, gradients and
5 training steps of an MLP with SGD (momentum, weight decay, Nesterov), Adam and AdamW agree
to 1e-9. Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional
TOL = dict(rtol=1e-9, atol=1e-9)


def pair(a, requires_grad=True):
    a = np.asarray(a, dtype=np.float64)
    return (
        dg.tensor(a.copy(), requires_grad=requires_grad),
        torch.tensor(a.copy(), requires_grad=requires_grad),
    )


ACTS = {
    "relu": (F.relu, TF.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "softplus": (F.softplus, TF.softplus),
    "silu": (F.silu, TF.silu),
    "elu": (lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7)),
    "selu": (lambda x: F.selu(x), TF.selu),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: TF.celu(x, 0.7)),
    "relu6": (lambda x: F.relu6(x), TF.relu6),
    "hardsigmoid": (lambda x: F.hardsigmoid(x), TF.hardsigmoid),
    "hardswish": (lambda x: F.hardswish(x), TF.hardswish),
    "mish": (lambda x: F.mish(x), TF.mish),
    "logsigmoid": (lambda x: F.logsigmoid(x), TF.logsigmoid),
    "softsign": (lambda x: F.softsign(x), TF.softsign),
    "softmax": (lambda x: F.softmax(x, axis=0), lambda x: torch.softmax(x, 0)),
    "log_softmax": (lambda x: F.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1)),
}


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activations_match_torch(name):
    ours, theirs = ACTS[name]
    x, xt = pair(np.random.default_rng(0).uniform(-5, 5, (6, 7)))
    g = np.random.default_rng(1).standard_normal((6, 7))
    y, yt = ours(x), theirs(xt)
    assert_close(y, yt.detach().numpy(), **TOL, equal_nan=True, name="forward")
    y.backward(g)
    yt.backward(torch.tensor(g))
    # torch's float64 backward of these two rounds a constant to float32 (hardsigmoid's
    # 1.0f / 6.0f, celu's 1 / alpha.toFloat()): ~1e-8 off; ours is checked at 1e-12 against the
    # float64 reference (test_ops_activation.py)
    tol = dict(rtol=1e-7, atol=1e-9) if name in ("hardsigmoid", "celu") else TOL
    assert_close(x.grad, xt.grad.detach().numpy(), **tol, equal_nan=True, name="grad")


def test_every_activation_has_a_torch_peer():
    assert set(F.ACTIVATIONS) - {"identity"} <= set(ACTS)


def test_silu_matches_torch_in_the_tails():
    x, xt = pair([-1e30, -800.0, -100.0, -30.0, -1.0, 0.0, 1e-300, 1.0, 30.0, 100.0, 800.0, 1e30])
    g = np.random.default_rng(3).standard_normal(12)
    y, yt = F.silu(x), TF.silu(xt)
    assert_close(y, yt.detach().numpy(), **TOL, equal_nan=True, name="forward")
    y.backward(g)
    yt.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad.detach().numpy(), **TOL, equal_nan=True, name="grad")


LOSSES = {
    "mse": (F.mse_loss, TF.mse_loss, "float"),
    "bce": (F.binary_cross_entropy, TF.binary_cross_entropy, "prob"),
    "bce_logits": (
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        "float",
    ),
    "ce": (F.cross_entropy, TF.cross_entropy, "class"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_torch(name, reduction):
    ours, theirs, kind = LOSSES[name]
    rng = np.random.default_rng(2)
    y, yt = pair(rng.uniform(0.05, 0.95, (9, 4)) if kind == "prob" else rng.normal(0, 3, (9, 4)))
    if kind == "class":
        t = rng.integers(0, 4, 9)
        tt = torch.tensor(t)
    else:
        t = rng.uniform(0, 1, (9, 4))
        tt = torch.tensor(t)
    loss, loss_t = ours(y, t, reduction=reduction), theirs(yt, tt, reduction=reduction)
    assert_close(loss, loss_t.detach().numpy(), **TOL, equal_nan=True, name="loss")
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    loss_t.backward(torch.tensor(g))
    assert_close(y.grad, yt.grad.detach().numpy(), **TOL, equal_nan=True, name="grad")


def test_sum_of_squares_matches_torch():
    y, yt = pair(np.random.default_rng(3).standard_normal((5, 2)))
    t = np.random.default_rng(4).standard_normal((5, 2))
    loss, loss_t = F.sum_of_squares(y, t), 0.5 * ((yt - torch.tensor(t)) ** 2).sum()
    assert_close(loss, loss_t.detach().numpy(), **TOL, equal_nan=True)
    loss.backward()
    loss_t.backward()
    assert_close(y.grad, yt.grad.detach().numpy(), **TOL, equal_nan=True)


def test_tensor_expression_matches_torch():
    rng = np.random.default_rng(5)
    a, at = pair(rng.uniform(0.5, 2, (4, 3)))
    b, bt = pair(rng.uniform(0.5, 2, (3,)))
    c, ct = pair(rng.uniform(-1, 1, (3, 5)))

    def expr(a, b, c, lib):
        h = (a * b - b / a + 4.0) ** 1.5 - (-a) ** 2 / 3
        z = (h @ c).T.reshape(2, 2, 5)[1:, :, ::2]
        return (z.sum(axis=0, keepdims=True) * a[0].sum() + z.mean()).sum()

    y, yt = expr(a, b, c, dg), expr(at, bt, ct, torch)
    assert_close(y, yt.detach().numpy(), **TOL, equal_nan=True)
    y.backward()
    yt.backward()
    for ours, theirs, n in ((a, at, "a"), (b, bt, "b"), (c, ct, "c")):
        assert_close(ours.grad, theirs.grad.detach().numpy(), **TOL, equal_nan=True, name=n)


# ---- an MLP, 5 training steps ---------------------------------------------------------------


def make_models(sizes, act="tanh", seed=0):
    dg.manual_seed(seed)
    ours = dg.nn.MLP(sizes, activation=act, dtype=np.float64)
    torch_act = {
        "tanh": torch.nn.Tanh,
        "relu": torch.nn.ReLU,
        "sigmoid": torch.nn.Sigmoid,
        "gelu": torch.nn.GELU,
    }[act]
    layers = []
    for i, lin in enumerate(ours):
        tl = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            tl.weight.copy_(torch.tensor(lin.weight.data))
            tl.bias.copy_(torch.tensor(lin.bias.data))
        layers.append(tl)
        if i < len(ours) - 1:
            layers.append(torch_act())
    return ours, torch.nn.Sequential(*layers)


def test_mlp_forward_and_gradients_match_torch():
    ours, theirs = make_models([7, 11, 9, 4], act="gelu")
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((13, 7)), rng.integers(0, 4, 13)
    out, out_t = ours(dg.tensor(X)), theirs(torch.tensor(X))
    assert_close(out, out_t.detach().numpy(), **TOL, equal_nan=True, name="logits")
    loss, loss_t = F.cross_entropy(out, y), TF.cross_entropy(out_t, torch.tensor(y))
    assert_close(loss, loss_t.detach().numpy(), **TOL, equal_nan=True, name="loss")
    loss.backward()
    loss_t.backward()
    for p, pt in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, pt.grad.detach().numpy(), **TOL, equal_nan=True, name="grad")


OPTIMIZERS = {
    "sgd": (lambda p: dg.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum_wd": (
        lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
    ),
    "sgd_dampening": (
        lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
    ),
    "nesterov": (
        lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ),
    "adam": (
        lambda p: dg.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
        lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
    ),
    "adam_betas": (
        lambda p: dg.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
    ),
    "adamw": (
        lambda p: dg.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_five_training_steps_match_torch(opt, loss):
    ours, theirs = make_models([6, 10, 8, 3], act="tanh", seed=1)
    make_ours, make_theirs = OPTIMIZERS[opt]
    o, ot = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 6))
    y = rng.integers(0, 3, 20) if loss == "ce" else rng.standard_normal((20, 3))
    dg_loss = F.cross_entropy if loss == "ce" else F.mse_loss
    torch_loss = TF.cross_entropy if loss == "ce" else TF.mse_loss
    for step in range(5):
        batch = slice(4 * step, 4 * step + 8)  # overlapping mini-batches
        o.zero_grad()
        ot.zero_grad()
        lo = dg_loss(ours(dg.tensor(X[batch])), y[batch])
        lt = torch_loss(theirs(torch.tensor(X[batch])), torch.tensor(y[batch]))
        assert_close(lo, lt.detach().numpy(), **TOL, equal_nan=True, name=f"loss at step {step}")
        lo.backward()
        lt.backward()
        o.step()
        ot.step()
        for (name, p), pt in zip(ours.named_parameters(), theirs.parameters()):
            assert_close(
                p, pt.detach().numpy(), **TOL, equal_nan=True, name=f"{name} after step {step}"
            )


def test_float32_training_tracks_torch():
    """The fast path: float32 kernels (fused linear + ReLU, fused softmax-CE, SGD with
    momentum) follow torch float32 to float32 round-off over 5 steps."""
    dg.manual_seed(2)
    ours = dg.nn.MLP([30, 64, 64, 10], activation="relu")
    layers = []
    for i, lin in enumerate(ours):
        tl = torch.nn.Linear(lin.in_features, lin.out_features)
        with torch.no_grad():
            tl.weight.copy_(torch.tensor(lin.weight.data))
            tl.bias.copy_(torch.tensor(lin.bias.data))
        layers += [tl] + ([torch.nn.ReLU()] if i < 2 else [])
    theirs = torch.nn.Sequential(*layers)
    o = dg.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    ot = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((64, 30)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    for _ in range(5):
        o.zero_grad()
        ot.zero_grad()
        lo = F.cross_entropy(ours(dg.tensor(X)), y)
        lt = TF.cross_entropy(theirs(torch.from_numpy(X)), torch.from_numpy(y))
        assert_close(lo.item(), lt.item(), rtol=1e-5, atol=0.0, equal_nan=True)
        lo.backward()
        lt.backward()
        o.step()
        ot.step()
    for p, pt in zip(ours.parameters(), theirs.parameters()):
        assert p.dtype == np.float32
        assert_close(p.data, pt.detach().numpy(), rtol=1e-4, atol=1e-5, equal_nan=True)
