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


# ---- param groups, state, zero_grad (torch.optim.Optimizer's contract) ----------------------

ALL = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")


@pytest.mark.parametrize("cls", ALL)
def test_zero_grad_set_to_none_false_zero_fills_the_same_arrays(cls):
    a, b = _param(seed=1), _param(seed=2)
    opt = getattr(dg.optim, cls)([a, b], lr=0.1)
    a.grad = np.random.default_rng(3).standard_normal(a.shape)
    buf = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is buf and not buf.any() and b.grad is None
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradless_parameters_are_skipped_and_frozen_ones_with_a_grad_are_not(cls, dtype):
    a, frozen, nograd = _param(seed=1, dtype=dtype), _param(seed=2, dtype=dtype), _param(seed=3)
    frozen.requires_grad_(False)
    frozen.grad = np.ones(frozen.shape, dtype)  # a kept gradient: torch steps on it
    before = frozen.data.copy(), nograd.data.copy()
    opt = getattr(dg.optim, cls)([a, frozen, nograd], lr=0.1)
    a.grad = np.ones(a.shape, dtype)
    data = a.data
    opt.step()
    # the first step of each optimizer moves every element of a unit gradient by -lr (RMSprop:
    # -lr / sqrt(1 - alpha), -1 with alpha 0.99; AdamW decays the weights by lr * 0.01 first)
    step = -1.0 if cls == "RMSprop" else -0.1
    decay = 1 - 0.1 * 0.01 if cls == "AdamW" else 1.0
    np.testing.assert_allclose(frozen.data, before[0] * decay + step, rtol=1e-5)
    np.testing.assert_array_equal(nograd.data, before[1])
    assert a.data is data and a.data.dtype == dtype
    assert not np.array_equal(a.data, _param(seed=1, dtype=dtype).data)
    assert all(arr.dtype == dtype for arr in opt.state[a].values() if hasattr(arr, "dtype"))
    assert nograd not in opt.state or cls == "Adagrad"


def test_param_groups_take_their_own_hyper_parameters_and_the_defaults():
    a, b, c = _param(seed=1), _param(seed=2), _param(seed=3)
    opt = dg.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.param_groups[1]["params"] == [b]
    assert opt.defaults["lr"] == 0.1 and opt.params == [a, b]
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    w = [p.data.copy() for p in (a, b, c)]
    for p in (a, b, c):
        p.grad = np.ones(p.shape)
    opt.step()
    assert_close(a.data, w[0] - 0.1, rtol=1e-15, atol=1e-15)
    assert_close(b.data, w[1] - 0.5, rtol=1e-15, atol=1e-15)
    assert_close(c.data, w[2] - 0.1 * (1 + 0.1 * w[2]), rtol=1e-15, atol=1e-15)
    opt.param_groups[1]["lr"] = 0.0  # a changed group value is used by the next step
    before = b.data.copy()
    opt.step()
    np.testing.assert_array_equal(b.data, before)
    opt.lr = 0.25
    assert all(g["lr"] == 0.25 for g in opt.param_groups) and opt.lr == 0.25


def test_step_returns_the_closure_loss():
    p = _param()
    opt = dg.optim.Adam([p])

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    w = p.data.copy()
    loss = opt.step(closure)
    assert_close(loss.data, (w**2).sum(), rtol=1e-12, atol=1e-12)
    assert opt.state[p]["step"] == 1


@pytest.mark.parametrize("cls", ALL)
def test_state_dict_holds_plain_values_in_torchs_layout(cls):
    a, b = _param(seed=1), _param((2,), seed=2)
    opt = getattr(dg.optim, cls)([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(a.shape), np.ones(b.shape)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    for g in sd["param_groups"]:
        # None: torch's foreach / fused defaults
        assert all(v is None or isinstance(v, (bool, int, float, str, list)) for v in g.values())
    for st in sd["state"].values():
        assert all(isinstance(v, (int, float, np.ndarray)) for v in st.values())
    if cls != "SGD":
        assert sd["state"][0]["step"] == 1
    a.grad = np.full(a.shape, 2.0)
    opt.step()  # the state_dict is a copy: stepping on does not change it
    if cls != "SGD":
        assert sd["state"][0]["step"] == 1


def test_bad_param_groups():
    a, b = _param(seed=1), _param(seed=2)
    with pytest.raises(TypeError, match="SGD: params: .*got a set"):
        dg.optim.SGD({a, b}, lr=0.1)
    opt = dg.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="SGD.add_param_group: params: some parameters appear"):
        opt.add_param_group({"params": [a, b]})
    with pytest.raises(ValueError, match="SGD.add_param_group: param_group: .*'params'"):
        opt.add_param_group({"lr": 0.1})
    with pytest.raises(TypeError, match="SGD.add_param_group: param_group: expected a dict"):
        opt.add_param_group([b])
    with pytest.raises(ValueError, match="SGD.add_param_group: momentum: expected a finite"):
        opt.add_param_group({"params": [b], "momentum": -1.0})
    with pytest.raises(ValueError, match="SGD.add_param_group: nesterov momentum needs"):
        opt.add_param_group({"params": [b], "nesterov": True})
    assert len(opt.param_groups) == 1 and opt.params == [a]
    with pytest.raises(ValueError, match=r"Adam: param_groups\[1\]: eps: expected a finite"):
        dg.optim.Adam([{"params": [a]}, {"params": [b], "eps": -1.0}])
    opt.add_param_group({"params": []})  # an empty group is allowed, as torch
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.1


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        ("RMSprop", {"alpha": -0.1}, "RMSprop: alpha: expected a finite number >= 0"),
        ("RMSprop", {"momentum": float("nan")}, "RMSprop: momentum"),
        ("RMSprop", {"eps": -1.0}, "RMSprop: eps"),
        ("RMSprop", {"centered": "yes"}, "RMSprop: centered: expected a bool"),
        ("Adagrad", {"lr_decay": -1.0}, "Adagrad: lr_decay"),
        ("Adagrad", {"initial_accumulator_value": -1.0}, "Adagrad: initial_accumulator_value"),
        ("Adagrad", {"weight_decay": float("inf")}, "Adagrad: weight_decay"),
        ("Adam", {"lr": -1.0}, "Adam: lr"),
        ("AdamW", {"betas": (0.9,)}, "AdamW: betas"),
        ("Adam", {"amsgrad": None}, "Adam: amsgrad: expected a bool"),
    ],
)
def test_new_optimizers_reject_bad_hyper_parameters(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        getattr(dg.optim, cls)([_param()], **kwargs)


@pytest.mark.parametrize("cls", ["RMSprop", "Adagrad"])
def test_new_optimizers_reject_a_gradient_of_the_wrong_shape(cls):
    p = _param()
    before = p.numpy().copy()
    p.grad = np.ones(p.shape[0] + 1)
    with pytest.raises(ValueError, match="grad: the gradient of a parameter of shape"):
        getattr(dg.optim, cls)([p]).step()
    np.testing.assert_array_equal(p.numpy(), before)


def test_named_parameters_are_accepted_with_their_names():
    model = dg.nn.MLP([3, 4, 2])
    opt = dg.optim.SGD(model.named_parameters(), lr=0.1)
    names = [n for n, _ in model.named_parameters()]
    assert opt.param_groups[0]["param_names"] == names
    assert opt.params == list(model.parameters())
    assert opt.state_dict()["param_groups"][0]["param_names"] == names
    with pytest.raises(ValueError, match="SGD: params: give every parameter with a name"):
        dg.optim.SGD([("w", _param()), _param(seed=3)], lr=0.1)


def test_a_user_optimizer_subclass_works_as_in_torch():
    from deltagrad.optim.optimizer import required

    class SignSGD(dg.optim.Optimizer):
        _state_keys = frozenset({"n"})

        def __init__(self, params, lr=required):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data -= group["lr"] * np.sign(p.grad)
                        self.state[p]["n"] = self.state[p].get("n", 0) + 1

    a, b = _param(seed=1), _param(seed=2)
    with pytest.raises(ValueError, match="SignSGD: param_group: no value of the required .*'lr'"):
        SignSGD([a])
    opt = SignSGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.2}])
    sched = dg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    w = a.data.copy()
    a.grad = np.random.default_rng(4).standard_normal(a.shape)
    opt.step()
    sched.step()
    assert_close(a.data, w - 0.1 * np.sign(a.grad), rtol=1e-15, atol=1e-15)
    assert sched.get_last_lr() == [0.05, 0.1]
    sd = opt.state_dict()
    assert sd["state"] == {0: {"n": 1}} and sd["param_groups"][1]["lr"] == 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_step_updates_a_group_in_one_kernel_call(monkeypatch, dtype, maximize, nesterov):
    """SGD.step sends a group's numpy parameters to one sgd_update_multi call (per value of
    first_step) and gets the bits of one sgd_update per parameter; a parameter whose momentum
    buffer is new joins the first-step call, the others the later one."""
    from deltagrad import _cpu
    from deltagrad.optim import sgd as sgd_module

    shapes = [(7, 5), (5,), (70001,), (1,)]
    params = [_param(s, seed=i, dtype=dtype) for i, s in enumerate(shapes)]
    twins = [dg.tensor(p.data.copy(), requires_grad=True) for p in params]
    kw = dict(lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.01, maximize=maximize)
    opt, ref_opt = dg.optim.SGD(params, **kw), dg.optim.SGD(twins, **kw)
    calls = []
    real = _cpu.sgd_update_multi

    def counting(*a, **k):
        calls.append(k["first_step"])
        return real(*a, **k)

    monkeypatch.setattr(sgd_module._cpu, "sgd_update_multi", counting)
    rng = np.random.default_rng(3)
    for step in range(3):
        for i, (p, t) in enumerate(zip(params, twins)):
            if step == 1 and i == 3:  # the last parameter gets its first gradient later
                p.grad = t.grad = None
                continue
            if step == 0 and i == 3:
                continue
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad, t.grad = g, g.copy()
        opt.step()
        with monkeypatch.context() as m:  # the reference: one sgd_update per parameter
            m.setattr(sgd_module.SGD, "_update_together", staticmethod(lambda todo, g: False))
            ref_opt.step()
        for p, t in zip(params, twins):
            np.testing.assert_array_equal(p.data, t.data)
    assert calls == [True, False, True, False]  # step 2: a new buffer, three old ones
    assert all(p._version[0] == 3 for p in params[:3])


def test_centered_rmsprop_with_a_gradient_whose_square_overflows():
    """float32 g = 3e37: g**2 and grad_avg**2 overflow; torch's addcmul (one rounding) gives
    sq - ga**2 = inf there, so the update is 0 (not inf - inf = NaN weights)."""
    for momentum in (0.0, 0.9):
        w = np.array([0.5, 0.25], np.float32)
        p = dg.nn.Parameter(w.copy())
        opt = dg.optim.RMSprop([p], lr=0.01, centered=True, momentum=momentum)
        with np.errstate(over="ignore"):  # sq's g**2 overflows, as torch's
            for _ in range(3):
                p.grad = np.array([3e37, 1.0], np.float32)
                opt.step()
        assert p.data[0] == 0.5 and np.isfinite(p.data).all()
        q = dg.nn.Parameter(w[1:].copy())
        ref = dg.optim.RMSprop([q], lr=0.01, centered=True, momentum=momentum)
        for _ in range(3):
            q.grad = np.array([1.0], np.float32)
            ref.step()
        assert p.data[1] == q.data[0]  # the other element as if alone
