"""deltagrad.optim against torch 2.13 (round 36): the "lr_scheduler.step() before
optimizer.step()" and "optimizer.step() has been overridden" warnings (the same calls warn,
the same do not), ReduceLROnPlateau's state (default_min_lr None for a per-group min_lr,
torch's state_dict keys and values, param groups added later), and optim.swa_utils
(AveragedModel with SWA / EMA, with and without buffers, update_bn, SWALR) on float64 models
driven identically for 20+ steps, to 1e-12."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad.optim import swa_utils as dswa
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
tswa = torch.optim.swa_utils

RTOL, ATOL = 1e-12, 1e-14
ORDER = "Detected call of `lr_scheduler.step()` before `optimizer.step()`"
OVERRIDDEN = "Seems like `optimizer.step()` has been overridden"


# ---- the order warnings --------------------------------------------------------------------


def _sgd(lib, groups=1, seed=0):
    """SGD over float64 parameters (one per group), each with a gradient (so step() moves)."""
    rng = np.random.default_rng(seed)
    params = []
    for i in range(groups):
        arr = rng.standard_normal(3)
        p = (
            dg.tensor(arr, requires_grad=True)
            if lib is dg
            else torch.tensor(arr, dtype=torch.float64, requires_grad=True)
        )
        (p * p).sum().backward()
        params.append({"params": [p], "lr": 0.1 * (i + 1)})
    return lib.optim.SGD(params, lr=0.1, momentum=0.9)


def _record(fn):
    """The messages of the scheduler-order warnings fn(...) gives (in order), other warnings
    (step(epoch)'s deprecation) kept too."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message)[:60] for x in w]


def _sc_before(lib, L, o):
    s = L.StepLR(o, 2)
    s.step()
    o.step()
    s.step()


def _sc_after(lib, L, o):
    s = L.StepLR(o, 2)
    for _ in range(3):
        o.step()
        s.step()


def _sc_twice_before(lib, L, o):
    s = L.ExponentialLR(o, 0.9)
    s.step()
    s.step()
    o.step()
    s.step()


def _sc_overridden(lib, L, o):
    s = L.LinearLR(o)

    def my_step(*args, **kwargs):
        return None

    o.step = my_step
    o.step()
    s.step()


def _sc_stepped_before_scheduler(lib, L, o):
    o.step()  # before the scheduler wraps step: not counted, as torch
    s = L.CosineAnnealingLR(o, 5)
    s.step()


def _sc_second_scheduler(lib, L, o):
    a = L.StepLR(o, 3)
    o.step()
    a.step()
    b = L.ExponentialLR(o, 0.5)  # the optimizer has stepped through the wrapper already
    b.step()


def _sc_two_schedulers_before(lib, L, o):
    a = L.StepLR(o, 3)
    b = L.MultiStepLR(o, [2, 4])
    a.step()
    b.step()


def _sc_epoch(lib, L, o):
    s = L.StepLR(o, 2)
    s.step(3)
    s.step(4)


def _sc_plateau(lib, L, o):
    s = L.ReduceLROnPlateau(o, patience=0)
    for v in (1.0, 2.0, 3.0):
        s.step(v)


def _sc_warm_restarts(lib, L, o):
    s = L.CosineAnnealingWarmRestarts(o, 3)
    s.step()
    s.step(1.5)


def _sc_sequential(lib, L, o):
    s = L.SequentialLR(o, [L.ConstantLR(o, 0.5, 2), L.ExponentialLR(o, 0.9)], [2])
    for _ in range(4):
        s.step()


def _sc_sequential_chained(lib, L, o):
    chained = L.ChainedScheduler([L.ConstantLR(o, 0.3, 4), L.ExponentialLR(o, 0.9)])
    s = L.SequentialLR(o, [chained, L.CosineAnnealingLR(o, T_max=10)], [3])
    o.step()
    s.step()


def _sc_chained_before(lib, L, o):
    s = L.ChainedScheduler([L.ConstantLR(o, 0.3, 4), L.ExponentialLR(o, 0.9)])
    s.step()
    s.step()


def _sc_onecycle(lib, L, o):
    s = L.OneCycleLR(o, max_lr=1.0, total_steps=10)
    s.step()


def _sc_swalr(lib, L, o):
    swa = dswa if lib is dg else tswa
    s = swa.SWALR(o, swa_lr=0.05, anneal_epochs=3)
    s.step()
    o.step()
    s2 = swa.SWALR(o, swa_lr=0.01)
    s2.step()


def _sc_loaded_state(lib, L, o):
    """A scheduler loaded with a state saved right after construction (_step_count 1)."""
    s = L.StepLR(o, 2)
    s2 = L.StepLR(o, 2)
    s2.load_state_dict(s.state_dict())
    s2.step()


SCENARIOS = {
    f.__name__[4:]: f
    for f in (
        _sc_before,
        _sc_after,
        _sc_twice_before,
        _sc_overridden,
        _sc_stepped_before_scheduler,
        _sc_second_scheduler,
        _sc_two_schedulers_before,
        _sc_epoch,
        _sc_plateau,
        _sc_warm_restarts,
        _sc_sequential,
        _sc_sequential_chained,
        _sc_chained_before,
        _sc_onecycle,
        _sc_swalr,
        _sc_loaded_state,
    )
}


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_order_warnings_match_torch(case):
    fn = SCENARIOS[case]
    ours = _record(lambda: fn(dg, dg.optim.lr_scheduler, _sgd(dg)))
    theirs = _record(lambda: fn(torch, torch.optim.lr_scheduler, _sgd(torch)))
    assert ours == theirs


def test_order_warning_text_category_and_location():
    o = _sgd(dg)
    s = dg.optim.lr_scheduler.StepLR(o, 2)
    with pytest.warns(UserWarning) as w:
        s.step()
    t = _sgd(torch)
    ts = torch.optim.lr_scheduler.StepLR(t, 2)
    with pytest.warns(UserWarning) as tw:
        ts.step()
    assert [str(x.message) for x in w] == [str(x.message) for x in tw]
    assert str(w[0].message).startswith(ORDER)
    assert w[0].filename == __file__  # stacklevel 2: the caller of step(), as torch
    s2 = dg.optim.lr_scheduler.StepLR(_sgd(dg), 2)
    s2.optimizer.step = lambda: None
    with pytest.warns(UserWarning, match="has been overridden"):
        s2.step()


def test_wrapped_step_still_runs_hooks_and_updates():
    """The wrapper calls the class's step: the step hooks (the optimizer's and the global
    ones, registered before or after the scheduler) run, and the parameters move as
    without a scheduler."""
    o, ref = _sgd(dg), _sgd(dg)
    calls = []
    o.register_step_pre_hook(lambda opt, a, k: calls.append("pre"))
    s = dg.optim.lr_scheduler.StepLR(o, 10)
    o.register_step_post_hook(lambda opt, a, k: calls.append("post"))
    h = dg.optim.optimizer.register_optimizer_step_post_hook(
        lambda opt, a, k: calls.append("g") if opt is o else None
    )
    try:
        assert getattr(o.step, "_wrapped_by_lr_sched", False)
        assert o.step.__name__ == "step"
        o.step()
        ref.step()
        s.step()
    finally:
        h.remove()
    assert calls == ["pre", "post", "g"]
    assert o._opt_called is True
    for g, r in zip(o.param_groups, ref.param_groups):
        assert_close(g["params"][0].numpy(), r["params"][0].numpy(), rtol=0, atol=0)


def test_wrapped_step_passes_closure_and_result():
    p = dg.tensor(np.array([1.5, -2.0]), requires_grad=True)
    o = dg.optim.LBFGS([p], lr=0.5, max_iter=3)
    dg.optim.lr_scheduler.ExponentialLR(o, 0.5)

    def closure():
        o.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = o.step(closure)
    assert math.isclose(float(loss), 6.25)
    assert o._opt_called


def test_deepcopied_optimizer_tracks_its_own_steps():
    o = _sgd(dg)
    s = dg.optim.lr_scheduler.StepLR(o, 2)
    s2 = copy.deepcopy(s)
    o2 = s2.optimizer
    assert o2 is not o and getattr(o2.step, "_wrapped_by_lr_sched", False)
    before = o.param_groups[0]["params"][0].numpy().copy()
    o2.step()
    assert not getattr(o, "_opt_called", False) and o2._opt_called
    assert_close(o.param_groups[0]["params"][0].numpy(), before, rtol=0, atol=0)
    assert not np.allclose(o2.param_groups[0]["params"][0].numpy(), before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()  # its optimizer stepped: no warning
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        s.step()
    o3 = pickle.loads(pickle.dumps(o))  # a pickled one too
    assert o3.step._optimizer() is o3
    o3.step()
    assert o3._opt_called and not getattr(o, "_opt_called", False)


@pytest.mark.parametrize("lib", [dg, torch], ids=["dg", "torch"])
def test_step_replaced_before_scheduler_fails_as_torch(lib):
    o = _sgd(lib)
    o.step = lambda: None  # a plain function has no __func__ to wrap
    with pytest.raises(AttributeError):
        lib.optim.lr_scheduler.StepLR(o, 2)


# ---- ReduceLROnPlateau's state -------------------------------------------------------------

METRICS = [1.0, 0.9, 0.95, 0.97, 0.99, 0.96, 0.8, 0.85, 0.9, 0.91, 0.92, 0.7, 0.75, 0.8]
METRICS += [0.81, 0.82, 0.83, 0.6, 0.65, 0.7, 0.71, 0.72, 0.73]


def _same_state(ours, theirs, where):
    assert list(ours) == list(theirs), where  # the same keys, in torch's order
    for k, v in theirs.items():
        if isinstance(v, list):
            assert_close(np.array(ours[k], float), np.array(v, float), rtol=RTOL, atol=0)
        elif isinstance(v, float):
            assert ours[k] == pytest.approx(v, rel=RTOL, abs=0) or (
                math.isinf(v) and ours[k] == v
            ), (where, k)
        else:
            assert ours[k] == v and type(ours[k]) is type(v), (where, k)


PLATEAU = {
    "scalar": dict(patience=1, factor=0.5),
    "scalar_min_lr": dict(patience=0, factor=0.3, min_lr=0.02, cooldown=2),
    "list_min_lr": dict(patience=1, factor=0.5, min_lr=[0.01, 0.04, 0.0]),
    "tuple_min_lr_max_abs": dict(
        mode="max", threshold_mode="abs", threshold=0.01, patience=0, min_lr=(0.05, 0.0, 0.1)
    ),
    "eps": dict(patience=0, factor=0.9, eps=0.01),
}


@pytest.mark.parametrize("case", sorted(PLATEAU))
def test_plateau_state_dict_equals_torch(case):
    kw = PLATEAU[case]
    o, t = _sgd(dg, 3), _sgd(torch, 3)
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kw)
    _same_state(s.state_dict(), ts.state_dict(), "construction")
    assert s.default_min_lr == ts.default_min_lr
    for i, m in enumerate(METRICS):
        o.step()
        t.step()
        s.step(m)
        ts.step(m)
        _same_state(s.state_dict(), ts.state_dict(), f"step {i}")
        assert [g["lr"] for g in o.param_groups] == pytest.approx(
            [g["lr"] for g in t.param_groups], rel=RTOL
        )
    assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=RTOL)


def test_plateau_per_group_min_lr_keeps_default_none():
    o = _sgd(dg, 2)
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1, 0.2])
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(_sgd(torch, 2), min_lr=[0.1, 0.2])
    assert s.default_min_lr is None and ts.default_min_lr is None
    assert vars(s).keys() == vars(ts).keys()
    assert "_step_count" not in s.state_dict()


@pytest.mark.parametrize("min_lr", [0.001, [0.001]], ids=["scalar", "list"])
def test_plateau_group_added_later(min_lr):
    """A scalar min_lr covers a group added later (min_lrs grows at the first reduction); a
    per-group one cannot: the reduction raises RuntimeError, as torch."""
    results = []
    for lib in (dg, torch):
        o = _sgd(lib, 1)
        s = lib.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, min_lr=min_lr)
        extra = (
            dg.tensor(np.ones(2), requires_grad=True)
            if lib is dg
            else torch.ones(2, dtype=torch.float64, requires_grad=True)
        )
        o.add_param_group({"params": [extra], "lr": 0.5})
        s.step(1.0)
        if isinstance(min_lr, list):
            with pytest.raises(RuntimeError, match="param groups"):
                s.step(2.0)
            results.append(s.state_dict())
            continue
        for m in (2.0, 3.0, 4.0):
            s.step(m)
        results.append(s.state_dict())
        assert s.min_lrs == [0.001, 0.001]
    _same_state(results[0], results[1], "after the added group")


def test_plateau_state_dicts_load_across():
    """torch's state_dict loads into ours (and ours into torch's) mid-run; the runs go on
    alike; a deltagrad state_dict of before round 36 (_min_lr_per_group, _step_count)
    loads into torch's form."""
    kw = dict(patience=1, factor=0.5, min_lr=[0.01, 0.04])
    o, t = _sgd(dg, 2), _sgd(torch, 2)
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kw)
    for m in METRICS[:9]:
        s.step(m)
        ts.step(m)
    s2 = dg.optim.lr_scheduler.ReduceLROnPlateau(_sgd(dg, 2), mode="max")
    s2.load_state_dict(copy.deepcopy(ts.state_dict()))
    ts2 = torch.optim.lr_scheduler.ReduceLROnPlateau(_sgd(torch, 2), mode="max")
    ts2.load_state_dict(copy.deepcopy(s.state_dict()))
    for p in (s2, ts2):
        for g, lr in zip(p.optimizer.param_groups, s.get_last_lr()):
            g["lr"] = lr
    for m in METRICS[9:]:
        for sched, metric in ((s, m), (ts, m), (s2, m), (ts2, m)):
            sched.step(metric)
    _same_state(s2.state_dict(), ts.state_dict(), "torch's loaded into ours")
    _same_state(s.state_dict(), ts2.state_dict(), "ours loaded into torch's")
    old = dict(s.state_dict(), _min_lr_per_group=True, default_min_lr=0, _step_count=4)
    s3 = dg.optim.lr_scheduler.ReduceLROnPlateau(_sgd(dg, 2))
    s3.load_state_dict(old)
    _same_state(s3.state_dict(), ts.state_dict(), "an old state_dict")


def test_plateau_errors_as_torch():
    for lib in (dg, torch):
        o = _sgd(lib, 2)
        L = lib.optim.lr_scheduler
        with pytest.raises(ValueError):
            L.ReduceLROnPlateau(o, min_lr=[0.1])
        with pytest.raises(ValueError):
            L.ReduceLROnPlateau(o, factor=1.0)
        with pytest.raises(ValueError):
            L.ReduceLROnPlateau(o, mode="median")
        with pytest.raises(ValueError):
            L.ReduceLROnPlateau(o, threshold_mode="pct")
    with pytest.raises(TypeError, match="ReduceLROnPlateau: optimizer"):
        dg.optim.lr_scheduler.ReduceLROnPlateau(object())


# ---- AveragedModel and update_bn -----------------------------------------------------------


def _models():
    """The same float64 network in deltagrad and torch (BatchNorm included)."""
    d = dnn.Sequential(dnn.Linear(4, 7), dnn.BatchNorm1d(7), dnn.ReLU(), dnn.Linear(7, 3))
    t = torch.nn.Sequential(
        torch.nn.Linear(4, 7), torch.nn.BatchNorm1d(7), torch.nn.ReLU(), torch.nn.Linear(7, 3)
    )
    d.double()
    t.double()
    return d, t


def _set_weights(d, t, rng):
    """New random weights (the same in both models), as an optimizer step would leave."""
    tp = dict(t.named_parameters())
    for name, p in d.named_parameters():
        arr = rng.standard_normal(p.shape) * 0.7 + 0.1
        p.data[...] = arr
        with torch.no_grad():
            tp[name].copy_(torch.from_numpy(arr))


def _forward_train(d, t, rng, n=6):
    """A training-mode forward (BatchNorm's running statistics and counter move)."""
    x = rng.standard_normal((n, 4)) * 2.0 - 0.3
    d.train()
    t.train()
    d(dg.tensor(x))
    t(torch.from_numpy(x))


def _compare_modules(d, t, where):
    sd, tsd = d.state_dict(), t.state_dict()
    assert list(sd) == list(tsd), where
    for k, v in tsd.items():
        ours = sd[k].numpy() if isinstance(sd[k], dg.Tensor) else np.asarray(sd[k])
        assert ours.dtype == v.numpy().dtype, (where, k)
        assert_close(ours, v.numpy(), rtol=RTOL, atol=ATOL, name=f"{k} at {where}")


SWA_CASES = {
    "swa": (lambda m: {}, False),
    "swa_buffers": (lambda m: {}, True),
    "swa_avg_fn_buffers": (lambda m: {"avg_fn": m.get_swa_avg_fn()}, True),
    "swa_multi": (lambda m: {"multi_avg_fn": m.get_swa_multi_avg_fn()}, False),
    "ema_avg_fn": (lambda m: {"avg_fn": m.get_ema_avg_fn(0.9)}, False),
    "ema_avg_fn_buffers": (lambda m: {"avg_fn": m.get_ema_avg_fn(0.8)}, True),
    "ema_multi": (lambda m: {"multi_avg_fn": m.get_ema_multi_avg_fn(0.9)}, False),
    "ema_multi_buffers": (lambda m: {"multi_avg_fn": m.get_ema_multi_avg_fn(0.75)}, True),
    "custom_avg_fn": (
        lambda m: {"avg_fn": lambda a, c, n: a * 0.5 + c * 0.5 + 0.01 * n},
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(SWA_CASES))
def test_averaged_model_matches_torch(case):
    make_kw, use_buffers = SWA_CASES[case]
    d, t = _models()
    rng = np.random.default_rng(11)
    _set_weights(d, t, rng)
    a = dswa.AveragedModel(d, use_buffers=use_buffers, **make_kw(dswa))
    ta = tswa.AveragedModel(t, use_buffers=use_buffers, **make_kw(tswa))
    _compare_modules(a, ta, "construction")
    for step in range(22):
        _set_weights(d, t, rng)
        _forward_train(d, t, rng)
        a.update_parameters(d)
        ta.update_parameters(t)
        _compare_modules(a, ta, f"update {step}")
    assert a.n_averaged.dtype == np.int64 and int(a.n_averaged.item()) == 22
    x = rng.standard_normal((5, 4))
    a.eval()
    ta.eval()
    assert_close(a(dg.tensor(x)).numpy(), ta(torch.from_numpy(x)).detach().numpy(), rtol=1e-11)
    # state_dict round trip: torch's loads into a fresh AveragedModel of ours
    b = dswa.AveragedModel(_models()[0], use_buffers=use_buffers, **make_kw(dswa))
    b.load_state_dict({k: v.numpy() for k, v in ta.state_dict().items()})
    _compare_modules(b, ta, "loaded")


def test_swa_multi_avg_fn_refuses_integer_buffers_as_torch():
    for lib, swa in ((dg, dswa), (torch, tswa)):
        d, t = _models()
        m = d if lib is dg else t
        a = swa.AveragedModel(m, multi_avg_fn=swa.get_swa_multi_avg_fn(), use_buffers=True)
        a.update_parameters(m)  # the first update copies
        with pytest.raises(RuntimeError):
            a.update_parameters(m)


def test_averaged_model_structure_as_torch():
    d, t = _models()
    a, ta = dswa.AveragedModel(d), tswa.AveragedModel(t)
    assert list(a.state_dict()) == list(ta.state_dict())
    assert list(a.state_dict())[0] == "n_averaged"
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in ta.named_buffers()]
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in ta.named_parameters()]
    assert repr(a).splitlines()[:2] == repr(ta).splitlines()[:2]
    assert a.module is not d and a.module[0].weight is not d[0].weight
    assert a.avg_fn is None and a.multi_avg_fn is None and a.use_buffers is False
    # the average is a copy: training the source does not move it
    d[0].weight.data[...] += 1.0
    assert not np.allclose(a.module[0].weight.numpy(), d[0].weight.numpy())
    # gradients: an averaged model is a Module like any other (its forward builds a graph)
    out = a(dg.tensor(np.ones((3, 4)))).sum()
    out.backward()
    assert a.module[0].weight.grad is not None
    a.update_parameters(d)  # works with gradients present
    assert_close(a.module[0].weight.numpy(), d[0].weight.numpy(), rtol=0, atol=0)


def test_averaged_model_errors():
    d, _ = _models()
    with pytest.raises(AssertionError, match="only one of avg_fn and multi_avg_fn"):
        dswa.AveragedModel(
            d, avg_fn=dswa.get_swa_avg_fn(), multi_avg_fn=dswa.get_swa_multi_avg_fn()
        )
    with pytest.raises(AssertionError):
        tswa.AveragedModel(
            torch.nn.Linear(2, 2),
            avg_fn=tswa.get_swa_avg_fn(),
            multi_avg_fn=tswa.get_swa_multi_avg_fn(),
        )
    with pytest.raises(TypeError, match="AveragedModel: model"):
        dswa.AveragedModel(object())
    with pytest.raises(TypeError, match="avg_fn"):
        dswa.AveragedModel(d, avg_fn=3)
    a = dswa.AveragedModel(d)
    with pytest.raises(ValueError, match="buffers"):
        a.update_parameters(dnn.Sequential(dnn.Linear(4, 7), dnn.ReLU(), dnn.Linear(7, 3)))
    assert int(a.n_averaged.item()) == 0
    with pytest.raises(TypeError, match="update_parameters: model"):
        a.update_parameters("model")
    for fn in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match="decay"):
                getattr(dswa, fn)(bad)
            with pytest.raises(ValueError):
                getattr(tswa, fn)(bad)
        with pytest.raises(TypeError, match="decay"):
            getattr(dswa, fn)("0.9")
    for decay in (0.0, 1.0):
        dswa.get_ema_avg_fn(decay)
    with pytest.raises(ValueError, match="2 averaged tensors and 1"):
        dswa.get_swa_multi_avg_fn()([dg.zeros(2), dg.zeros(2)], [dg.zeros(2)], 1)


def test_avg_fns_on_tensors_match_torch():
    rng = np.random.default_rng(3)
    a, c = rng.standard_normal(5), rng.standard_normal(5)
    for name, args in (
        ("get_swa_avg_fn", ()),
        ("get_ema_avg_fn", (0.93,)),
    ):
        for n in (0, 1, 7):
            ours = getattr(dswa, name)(*args)(dg.tensor(a), dg.tensor(c), dg.tensor(n))
            theirs = getattr(tswa, name)(*args)(
                torch.from_numpy(a), torch.from_numpy(c), torch.tensor(n)
            )
            assert_close(ours.numpy(), theirs.numpy(), rtol=RTOL, atol=0)
    for name, args in (("get_swa_multi_avg_fn", ()), ("get_ema_multi_avg_fn", (0.93,))):
        for n in (0, 3, dg.tensor(3)):
            ours = [dg.tensor(a), dg.tensor(a[:2])]
            theirs = [torch.from_numpy(a.copy()), torch.from_numpy(a[:2].copy())]
            tn = torch.tensor(int(n.item())) if isinstance(n, dg.Tensor) else n
            getattr(dswa, name)(*args)(ours, [dg.tensor(c), dg.tensor(c[:2])], n)
            getattr(tswa, name)(*args)(
                theirs, [torch.from_numpy(c), torch.from_numpy(c[:2].copy())], tn
            )
            for o, t in zip(ours, theirs):
                assert_close(o.numpy(), t.numpy(), rtol=RTOL, atol=0)


@pytest.mark.parametrize("with_targets", [False, True])
@pytest.mark.parametrize("was_training", [False, True])
def test_update_bn_matches_torch(with_targets, was_training):
    d, t = _models()
    rng = np.random.default_rng(5)
    _set_weights(d, t, rng)
    a, ta = dswa.AveragedModel(d), tswa.AveragedModel(t)
    for _ in range(20):
        _set_weights(d, t, rng)
        _forward_train(d, t, rng)
        a.update_parameters(d)
        ta.update_parameters(t)
    xs = [rng.standard_normal((n, 4)) * 1.5 + 0.2 for n in (5, 3, 8, 2)]
    ys = [rng.standard_normal(len(x)) for x in xs]
    if with_targets:
        loader = [(dg.tensor(x), dg.tensor(y)) for x, y in zip(xs, ys)]
        tloader = [[torch.from_numpy(x), torch.from_numpy(y)] for x, y in zip(xs, ys)]
    else:
        loader = [dg.tensor(x) for x in xs]
        tloader = [torch.from_numpy(x) for x in xs]
    a.train(was_training)
    ta.train(was_training)
    dswa.update_bn(loader, a, device="cpu" if with_targets else None)
    tswa.update_bn(tloader, ta, device="cpu" if with_targets else None)
    _compare_modules(a, ta, "after update_bn")
    assert int(a.module[1].num_batches_tracked.item()) == len(xs)
    assert a.module[1].momentum == 0.1 and a.training is was_training
    assert a.module[1].training is was_training
    x = rng.standard_normal((4, 4))
    a.eval()
    ta.eval()
    assert_close(a(dg.tensor(x)).numpy(), ta(torch.from_numpy(x)).detach().numpy(), rtol=1e-11)


def test_update_bn_without_batchnorm_and_on_error():
    m = dnn.Sequential(dnn.Linear(3, 2))
    m.eval()
    before = m[0].weight.numpy().copy()
    dswa.update_bn([dg.ones(2, 3)], m)
    assert m.training is False
    assert_close(m[0].weight.numpy(), before, rtol=0, atol=0)
    d, _ = _models()
    d.eval()

    def bad_loader():
        yield dg.ones(3, 4, dtype=dg.float64)
        raise KeyError("loader failed")

    with pytest.raises(KeyError, match="loader failed"):
        dswa.update_bn(bad_loader(), d)
    assert d[1].momentum == 0.1 and d.training is False  # restored
    with pytest.raises(TypeError, match="update_bn: model"):
        dswa.update_bn([], "model")


# ---- SWALR ---------------------------------------------------------------------------------

SWALR_CASES = {
    "cos": dict(swa_lr=0.05, anneal_epochs=5),
    "linear": dict(swa_lr=0.05, anneal_epochs=7, anneal_strategy="linear"),
    "per_group": dict(swa_lr=[0.01, 0.2, 0.03], anneal_epochs=4),
    "no_anneal": dict(swa_lr=0.02, anneal_epochs=0),
    "one_epoch": dict(swa_lr=0.3, anneal_epochs=1, anneal_strategy="linear"),
    "default": dict(swa_lr=0.01),
}


def _lrs(opt):
    return np.array([g["lr"] for g in opt.param_groups], dtype=float)


@pytest.mark.parametrize("case", sorted(SWALR_CASES))
def test_swalr_matches_torch(case):
    kw = SWALR_CASES[case]
    o, t = _sgd(dg, 3), _sgd(torch, 3)
    s, ts = dswa.SWALR(o, **kw), tswa.SWALR(t, **kw)
    assert_close(_lrs(o), _lrs(t), rtol=RTOL, atol=0)
    assert [g["swa_lr"] for g in o.param_groups] == [g["swa_lr"] for g in t.param_groups]
    for i in range(24):
        o.step()
        t.step()
        s.step()
        ts.step()
        assert_close(_lrs(o), _lrs(t), rtol=RTOL, atol=0, name=f"lr at step {i}")
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=RTOL)
        if i == 2:  # a change to the lr in between is followed, as torch
            for g, tg in zip(o.param_groups, t.param_groups):
                g["lr"] = tg["lr"] = g["lr"] * 1.7
    ours, theirs = s.state_dict(), ts.state_dict()
    assert list(ours) == list(theirs)  # torch's keys, its private flags included, in its order
    for k, v in theirs.items():
        assert ours[k] == (v if isinstance(v, str) else pytest.approx(v, rel=RTOL)), k


def test_swalr_after_a_schedule_and_state_dict_resume():
    """torch's recipe: a CosineAnnealingLR first, SWALR from epoch 6 on; a SWALR resumed
    from torch's state_dict (and one from ours) goes on as torch's."""
    o, t = _sgd(dg, 2), _sgd(torch, 2)
    cos = dg.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30)
    tcos = torch.optim.lr_scheduler.CosineAnnealingLR(t, T_max=30)
    swa = dswa.SWALR(o, swa_lr=0.02, anneal_epochs=4, anneal_strategy="linear")
    tswa_s = tswa.SWALR(t, swa_lr=0.02, anneal_epochs=4, anneal_strategy="linear")
    for epoch in range(22):
        o.step()
        t.step()
        if epoch < 6:
            cos.step()
            tcos.step()
        else:
            swa.step()
            tswa_s.step()
        assert_close(_lrs(o), _lrs(t), rtol=RTOL, atol=0, name=f"epoch {epoch}")
        if epoch == 8:
            saved, tsaved = swa.state_dict(), tswa_s.state_dict()
            lrs = _lrs(o)
    for sd in (saved, tsaved):
        o2 = _sgd(dg, 2)
        s2 = dswa.SWALR(o2, swa_lr=0.5, anneal_strategy="cos")
        s2.load_state_dict(copy.deepcopy(sd))
        assert s2._anneal_strategy == "linear" and s2.anneal_func is s2._linear_anneal
        for g, lr in zip(o2.param_groups, lrs):
            g["lr"], g["swa_lr"] = lr, 0.02
        t3 = _sgd(torch, 2)
        ts3 = tswa.SWALR(t3, swa_lr=0.5)
        ts3.load_state_dict(copy.deepcopy(tsaved))
        for g, lr in zip(t3.param_groups, lrs):
            g["lr"], g["swa_lr"] = lr, 0.02
        for _ in range(6):
            o2.step()
            t3.step()
            s2.step()
            ts3.step()
            assert_close(_lrs(o2), _lrs(t3), rtol=RTOL, atol=0)
    assert "anneal_func" not in saved and "optimizer" not in saved


def test_swalr_errors():
    for lib, swa in ((dg, dswa), (torch, tswa)):
        o = _sgd(lib, 2)
        with pytest.raises(ValueError, match="anneal_strategy"):
            swa.SWALR(o, 0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match="anneal_epochs"):
            swa.SWALR(o, 0.1, anneal_epochs=-1)
        with pytest.raises(ValueError, match="anneal_epochs"):
            swa.SWALR(o, 0.1, anneal_epochs=2.5)
        with pytest.raises(ValueError, match="swa_lr"):
            swa.SWALR(o, [0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="SWALR: optimizer"):
        dswa.SWALR(object(), 0.1)


def test_swa_utils_exports():
    assert set(tswa.__all__) == set(dswa.__all__)
    assert dg.optim.swa_utils is dswa
    assert "swa_utils" in dg.optim.__all__
    from deltagrad.optim.swa_utils import SWALR, AveragedModel  # noqa: F401
