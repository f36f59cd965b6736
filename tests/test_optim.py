"""deltagrad.optim: each update against a NumPy float64 re-derivation of torch.optim's rule
(the torch comparison itself is in test_vs_torch.py), state, errors."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close


def _param(shape=(3, 4), seed=0, dtype=np.float64):
    return dg.tensor(
        np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True
    )


def _grads(n, shape=(3, 4), seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(n)]


@pytest.mark.parametrize(
    "momentum,dampening,nesterov,wd",
    [
        (0.0, 0.0, False, 0.0),
        (0.9, 0.0, False, 0.0),
        (0.9, 0.0, True, 0.01),
        (0.5, 0.2, False, 0.1),
    ],
)
def test_sgd_against_numpy(momentum, dampening, nesterov, wd):
    p = _param()
    w = p.data.copy()
    opt = dg.optim.SGD(
        [p], lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=wd
    )
    buf = None
    for g in _grads(4):
        p.grad = g.copy()
        opt.step()
        d = g + wd * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - 0.1 * d
        assert_close(p.data, w, rtol=1e-12, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize(
    "cls,wd", [(dg.optim.Adam, 0.0), (dg.optim.Adam, 0.05), (dg.optim.AdamW, 0.05)]
)
def test_adam_against_numpy(cls, wd):
    p = _param((5,), dtype=np.float64)
    w = p.data.copy()
    b1, b2, eps, lr = 0.8, 0.95, 1e-6, 0.01
    opt = cls([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    m = v = np.zeros_like(w)
    for t, g in enumerate(_grads(5, (5,)), start=1):
        p.grad = g.copy()
        opt.step()
        if cls is dg.optim.AdamW:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        assert_close(p.data, w, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert opt.state[p]["step"] == 5  # state is keyed by parameter, as torch


def test_float32_parameters_update_in_place():
    p = _param(dtype=np.float32)
    data = p.data
    opt = dg.optim.SGD([p], lr=0.5, momentum=0.9)
    p.grad = np.ones_like(data)
    opt.step()
    assert p.data is data and p.data.dtype == np.float32


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = _param(seed=1), _param(seed=2)
    before = b.data.copy()
    opt = dg.optim.Adam([a, b])
    a.grad = np.ones(a.shape)
    opt.step()
    np.testing.assert_array_equal(b.data, before)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_training_reduces_the_loss():
    dg.manual_seed(0)
    model = dg.nn.MLP([2, 16, 1], activation="tanh")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:]).astype(np.float32)
    for opt in (
        dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        dg.optim.Adam(model.parameters(), lr=1e-2),
    ):
        first = None
        for _ in range(100):
            opt.zero_grad()
            loss = dg.functional.mse_loss(model(dg.tensor(X)), y)
            loss.backward()
            opt.step()
            first = first if first is not None else loss.item()
        assert loss.item() < 0.5 * first


def test_state_dict_roundtrip():
    p = _param()
    opt = dg.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    q = dg.tensor(p.data.copy(), requires_grad=True)
    opt2 = dg.optim.SGD([q], lr=0.5, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.lr == 0.1
    np.testing.assert_array_equal(opt2.state[q]["momentum_buffer"], opt.state[p]["momentum_buffer"])
    assert "SGD (" in repr(opt) and "lr: 0.1" in repr(opt)  # torch's repr


def test_bad_arguments():
    p = _param()
    with pytest.raises(ValueError, match="lr"):
        dg.optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        dg.optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        dg.optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        dg.optim.Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        dg.optim.Adam(p)
    with pytest.raises(ValueError, match="leaf"):
        dg.optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="Tensor"):
        dg.optim.SGD([np.ones(3)], lr=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": float("nan")}, "lr: expected a finite number >= 0, got nan"),
        ({"lr": float("inf")}, "lr: expected a finite number >= 0, got inf"),
        ({"lr": 0.1, "momentum": -0.5}, "momentum"),
        ({"lr": 0.1, "weight_decay": float("nan")}, "weight_decay"),
        ({"lr": 0.1, "dampening": 1.5}, "dampening: expected a number in \\[0, 1\\], got 1.5"),
    ],
)
def test_sgd_rejects_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dg.optim.SGD([_param()], **kwargs)


def test_adam_rejects_bad_eps_and_nan_betas():
    with pytest.raises(ValueError, match="eps"):
        dg.optim.Adam([_param()], eps=-1e-8)
    with pytest.raises(ValueError, match="betas"):
        dg.optim.Adam([_param()], betas=(float("nan"), 0.9))


def test_a_parameter_listed_twice_is_rejected():
    p = _param()
    with pytest.raises(ValueError, match="appears more than once"):
        dg.optim.SGD([p, p], lr=0.1)


def test_a_gradient_of_the_wrong_shape_is_rejected_before_the_update():
    p = _param()
    before = p.numpy().copy()
    p.grad = np.ones(p.shape[0] + 1, dtype=p.dtype)
    for opt in (dg.optim.SGD([p], lr=0.1), dg.optim.Adam([p])):
        with pytest.raises(ValueError, match="grad: the gradient of a parameter of shape"):
            opt.step()
    np.testing.assert_array_equal(p.numpy(), before)


def test_step_bumps_the_parameter_version():
    p = _param()
    p.grad = np.ones_like(p.numpy())
    v = p._version[0]
    dg.optim.SGD([p], lr=0.1).step()
    dg.optim.Adam([p]).step()
    assert p._version[0] == v + 2
