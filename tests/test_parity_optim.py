"""deltagrad.optim and deltagrad.optim.lr_scheduler against torch.optim in float64
(rtol = atol = 1e-10): optimizer trajectories over 20 steps with two param groups of different
hyper-parameters, every scheduler's lr (and OneCycleLR's momentum) over 30 steps, state_dict
round trips mid-run against torch's own uninterrupted run, and the bad-input errors."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-10, atol=1e-10)
# group A: odd shapes; group B: size 1, size 0, and a parameter that never gets a gradient
SHAPES_A = [(3, 5), (7,)]
SHAPES_B = [(1,), (0,), (2, 3)]
STEPS = 20

OPT_CASES = {
    "sgd": ("SGD", dict(lr=0.1), dict(lr=0.03)),
    "sgd_momentum_wd": (
        "SGD",
        dict(lr=0.05, momentum=0.9, weight_decay=0.01),
        dict(lr=0.02, momentum=0.5, weight_decay=0.1),
    ),
    "sgd_dampening": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3), dict(dampening=0.7)),
    "sgd_nesterov": (
        "SGD",
        dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        dict(momentum=0.6, weight_decay=0.0),
    ),
    "sgd_maximize": ("SGD", dict(lr=0.05, momentum=0.7, maximize=True), dict(maximize=False)),
    "adam": ("Adam", dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6)),
    "adam_wd": ("Adam", dict(lr=1e-2, weight_decay=0.05), dict(weight_decay=0.0)),
    "adam_amsgrad": (
        "Adam",
        dict(lr=2e-2, amsgrad=True, weight_decay=0.01),
        dict(amsgrad=False, betas=(0.3, 0.9)),
    ),
    "adam_maximize": ("Adam", dict(lr=1e-2, maximize=True), dict(lr=5e-3, amsgrad=True)),
    "adam_decoupled": ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), {}),
    "adamw": ("AdamW", dict(lr=1e-2, weight_decay=0.1), dict(weight_decay=0.5, lr=2e-2)),
    "adamw_amsgrad": (
        "AdamW",
        dict(lr=1e-2, amsgrad=True, maximize=True),
        dict(amsgrad=True, maximize=False, betas=(0.5, 0.6)),
    ),
    "rmsprop": ("RMSprop", dict(lr=1e-2), dict(lr=3e-3, alpha=0.9, eps=1e-6)),
    "rmsprop_momentum_wd": (
        "RMSprop",
        dict(lr=1e-2, momentum=0.9, weight_decay=0.05),
        dict(momentum=0.0, weight_decay=0.0),
    ),
    "rmsprop_centered": (
        "RMSprop",
        dict(lr=1e-3, centered=True, alpha=0.8),
        dict(centered=True, momentum=0.5, alpha=0.3),
    ),
    "rmsprop_maximize": ("RMSprop", dict(lr=1e-2, maximize=True), dict(centered=True)),
    "adagrad": ("Adagrad", dict(lr=0.1), dict(lr=0.05, eps=1e-6)),
    "adagrad_decay_wd": (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.05, weight_decay=0.01),
        dict(lr_decay=0.5, weight_decay=0.2),
    ),
    "adagrad_initial_acc": (
        "Adagrad",
        dict(lr=0.1, initial_accumulator_value=0.3),
        dict(initial_accumulator_value=2.0, maximize=True),
    ),
}


def _make_params(seed=0):
    """The same parameters for deltagrad and torch: two groups, plus one that does not
    require grad (skipped by both)."""
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s) for s in SHAPES_A + SHAPES_B]
    ours = [dg.tensor(a.copy(), requires_grad=True) for a in arrs]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrs]
    frozen = rng.standard_normal(4)
    ours.append(dg.tensor(frozen.copy()))  # requires_grad=False
    theirs.append(torch.tensor(frozen.copy()))
    return ours, theirs


def _groups(params, over):
    na = len(SHAPES_A)
    return [{"params": params[:na]}, {"params": params[na:], **over}]


def _make(case, ours, theirs):
    cls, kw, over = OPT_CASES[case]
    o = getattr(dg.optim, cls)(_groups(ours, over), **kw)
    t = getattr(torch.optim, cls)(_groups(theirs, over), **kw)
    return o, t


def _grads(step, seed=1):
    """The gradients of one step: the last parameter of group B (2, 3) gets none on even steps;
    the frozen parameter never has one."""
    rng = np.random.default_rng([seed, step])
    gs = [rng.standard_normal(s) for s in SHAPES_A + SHAPES_B]
    if step % 2 == 0:
        gs[-1] = None
    return gs + [None]


def _set_grads(ours, theirs, gs):
    for p, pt, g in zip(ours, theirs, gs):
        p.grad = None if g is None else g.copy()
        pt.grad = None if g is None else torch.tensor(g.copy())


def _compare(ours, theirs, what):
    for i, (p, pt) in enumerate(zip(ours, theirs)):
        assert_close(p.data, pt.detach().numpy(), **TOL, name=f"param {i} {what}")


def _plain_only(obj, where="state_dict"):
    """A state_dict holds only arrays, numbers, strings, lists and dicts."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (int, str)), f"{where}: key {k!r}"
            _plain_only(v, f"{where}[{k!r}]")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _plain_only(v, f"{where}[{i}]")
    else:
        # None: torch's foreach / fused defaults
        assert obj is None or isinstance(obj, (np.ndarray, bool, int, float, str)), (
            f"{where}: {type(obj)}"
        )


@pytest.mark.parametrize("case", sorted(OPT_CASES))
def test_optimizer_trajectory_matches_torch(case):
    ours, theirs = _make_params()
    o, t = _make(case, ours, theirs)
    frozen = ours[-1].data.copy()
    for step in range(STEPS):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
        _compare(ours, theirs, f"after step {step}")
    np.testing.assert_array_equal(ours[-1].data, frozen)


@pytest.mark.parametrize("case", sorted(OPT_CASES))
def test_state_dict_matches_torch_and_resumes_identically(case):
    ours, theirs = _make_params()
    o, t = _make(case, ours, theirs)
    for step in range(STEPS // 2):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
    sd, tsd = o.state_dict(), t.state_dict()
    _plain_only(sd)
    # torch's layout: the same groups (hyper-parameters and indices) and the same buffers
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        for k, v in g.items():
            assert k in tg, k
            want = list(tg[k]) if isinstance(tg[k], tuple) else tg[k]
            assert v == want, k
    for idx in set(sd["state"]) | set(tsd["state"]):
        mine = sd["state"].get(idx, {})
        theirs_st = {k: v for k, v in tsd["state"].get(idx, {}).items() if v is not None}
        assert set(mine) == set(theirs_st), idx
        for k, v in mine.items():
            assert_close(np.asarray(v, dtype=np.float64), theirs_st[k].numpy(), **TOL, name=k)
    # a fresh optimizer (other hyper-parameters) on copies of the parameters loads the state
    # and continues exactly as torch's uninterrupted run
    fresh = [dg.tensor(p.data.copy(), requires_grad=p.requires_grad) for p in ours]
    cls = OPT_CASES[case][0]
    o2 = getattr(dg.optim, cls)([{"params": fresh[:2]}, {"params": fresh[2:]}], lr=0.5)
    o2.load_state_dict(copy.deepcopy(sd))
    assert o2.state_dict()["param_groups"] == sd["param_groups"]
    for step in range(STEPS // 2, STEPS):
        gs = _grads(step)
        _set_grads(fresh, theirs, gs)
        o2.step()
        t.step()
        _compare(fresh, theirs, f"after resumed step {step}")


def test_load_state_dict_does_not_alias_the_saved_arrays():
    ours, theirs = _make_params()
    o, _ = _make("adam", ours, theirs)
    _set_grads(ours, theirs, _grads(1))
    o.step()
    sd = o.state_dict()
    saved = sd["state"][0]["exp_avg"]
    assert saved is not o.state[ours[0]]["exp_avg"]
    o.load_state_dict(sd)
    assert o.state[ours[0]]["exp_avg"] is not saved


# ---- schedulers ------------------------------------------------------------------------------


def _opt_pair(kind="SGD"):
    """A two-group optimizer for deltagrad and torch (one parameter each, never stepped with a
    gradient: only the groups matter)."""
    p, pt = dg.tensor(np.ones(2), requires_grad=True), torch.ones(2, dtype=torch.float64)
    q, qt = dg.tensor(np.ones(3), requires_grad=True), torch.ones(3, dtype=torch.float64)
    pt.requires_grad_(True)
    qt.requires_grad_(True)
    kw = {
        "SGD": (dict(lr=0.1, momentum=0.9), dict(lr=0.04, momentum=0.5)),
        "Adam": (dict(lr=1e-2, betas=(0.9, 0.99)), dict(lr=3e-3, betas=(0.8, 0.95))),
        "AdamW": (dict(lr=1e-2), dict(lr=3e-3)),
        "RMSprop": (dict(lr=1e-2, momentum=0.9), dict(lr=3e-3)),
        "Adagrad": (dict(lr=0.1), dict(lr=0.07)),
    }[kind]
    o = getattr(dg.optim, kind)([{"params": [p]}, {"params": [q], **kw[1]}], **kw[0])
    t = getattr(torch.optim, kind)([{"params": [pt]}, {"params": [qt], **kw[1]}], **kw[0])
    return o, t


def _lambda(e):
    return 0.93**e + 0.01 * (e % 3)


SCHEDULERS = {
    "step": ("SGD", "StepLR", dict(step_size=7, gamma=0.5)),
    "multistep": ("SGD", "MultiStepLR", dict(milestones=[3, 10, 10, 22], gamma=0.3)),
    "exponential": ("Adam", "ExponentialLR", dict(gamma=0.9)),
    "cosine": ("SGD", "CosineAnnealingLR", dict(T_max=10, eta_min=1e-3)),
    "cosine_long": ("Adam", "CosineAnnealingLR", dict(T_max=37)),
    "warm_restarts": ("SGD", "CosineAnnealingWarmRestarts", dict(T_0=4, eta_min=1e-3)),
    "warm_restarts_mult": ("Adam", "CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2)),
    "lambda": ("SGD", "LambdaLR", dict(lr_lambda=_lambda)),
    "lambda_per_group": ("SGD", "LambdaLR", dict(lr_lambda=[_lambda, lambda e: 1.0 / (1 + e)])),
    "linear": ("SGD", "LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=8)),
    "linear_default": ("Adagrad", "LinearLR", {}),
    "onecycle_sgd": ("SGD", "OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=30)),
    "onecycle_adam_linear": (
        "Adam",
        "OneCycleLR",
        dict(max_lr=0.1, total_steps=30, anneal_strategy="linear", pct_start=0.25),
    ),
    "onecycle_adamw_three_phase": (
        "AdamW",
        "OneCycleLR",
        dict(
            max_lr=0.1,
            epochs=5,
            steps_per_epoch=6,
            three_phase=True,
            div_factor=10.0,
            final_div_factor=100.0,
            base_momentum=[0.8, 0.7],
            max_momentum=0.9,
        ),
    ),
    "onecycle_rmsprop": ("RMSprop", "OneCycleLR", dict(max_lr=0.05, total_steps=31)),
    "onecycle_no_momentum": (
        "Adagrad",
        "OneCycleLR",
        dict(max_lr=0.3, total_steps=30, cycle_momentum=False),
    ),
}


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]


def _make_sched(case, o, t):
    _, cls, kw = SCHEDULERS[case]
    return getattr(dg.optim.lr_scheduler, cls)(o, **kw), getattr(torch.optim.lr_scheduler, cls)(
        t, **kw
    )


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_scheduler_lr_sequence_matches_torch(case):
    o, t = _opt_pair(SCHEDULERS[case][0])
    s, st = _make_sched(case, o, t)
    for step in range(31):
        assert s.last_epoch == st.last_epoch
        assert_close(np.array(s.get_last_lr()), np.array(st.get_last_lr()), **TOL, name="lr")
        lrs = [g["lr"] for g in o.param_groups]
        assert_close(np.array(lrs), np.array([g["lr"] for g in t.param_groups]), **TOL, name="lr")
        assert_close(np.array(_momenta(o)), np.array(_momenta(t)), **TOL, name="momentum")
        if step == 30:
            break
        o.step()
        t.step()
        s.step()
        st.step()


def _stepped_pair(case, steps):
    """Both libraries' optimizer and scheduler of `case`, stepped `steps` times."""
    o, t = _opt_pair(SCHEDULERS[case][0])
    s, st = _make_sched(case, o, t)
    for _ in range(steps):
        for x in (o, t, s, st):
            x.step()
    return o, t, s, st


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_scheduler_state_dict_resumes_like_torch(case):
    kind = SCHEDULERS[case][0]
    o, t, s, st = _stepped_pair(case, 12)
    osd, ssd = o.state_dict(), s.state_dict()
    _plain_only(osd)
    _plain_only(ssd)
    o2, _ = _opt_pair(kind)  # torch's recipe: the scheduler first, then both loads
    s2, _ = _make_sched(case, o2, _opt_pair(kind)[1])
    o2.load_state_dict(copy.deepcopy(osd))
    s2.load_state_dict(copy.deepcopy(ssd))
    for _ in range(12, 30):
        o2.step()
        t.step()
        s2.step()
        st.step()
        assert_close(np.array(s2.get_last_lr()), np.array(st.get_last_lr()), **TOL, name="lr")
        assert_close(np.array(_momenta(o2)), np.array(_momenta(t)), **TOL, name="momentum")


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_scheduler_state_dicts_load_across_with_torch(case):
    """A torch scheduler's state_dict loads into ours and ours into torch's (MultiStepLR's
    milestones in torch's {epoch: count} form; ReduceLROnPlateau's and OneCycleLR's keys that
    torch lacks rebuilt from the constructor), and both go on as the uninterrupted run."""
    kind = SCHEDULERS[case][0]
    o, t, s, st = _stepped_pair(case, 12)
    o2, t2 = _opt_pair(kind)
    s2, st2 = _make_sched(case, o2, t2)
    o2.load_state_dict(copy.deepcopy(o.state_dict()))
    t2.load_state_dict(copy.deepcopy(t.state_dict()))
    s2.load_state_dict(copy.deepcopy(st.state_dict()))  # torch's into ours
    st2.load_state_dict(copy.deepcopy(s.state_dict()))  # ours into torch's
    for _ in range(12, 30):
        for x in (o2, t2, s2, st2, t, st):
            x.step()
        for a in (s2.get_last_lr(), st2.get_last_lr()):
            assert_close(np.array(a), np.array(st.get_last_lr()), **TOL, name="lr")
        assert_close(np.array(_momenta(o2)), np.array(_momenta(t)), **TOL, name="momentum")
        assert_close(np.array(_momenta(t2)), np.array(_momenta(t)), **TOL, name="momentum")


def test_reduce_lr_on_plateau_state_dicts_load_across_with_torch():
    kw = dict(mode="max", threshold_mode="abs", patience=0, min_lr=[0.02, 0.001])
    o, t = _opt_pair()
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kw)
    metrics = np.random.default_rng(5).random(20)
    for m in metrics[:8]:
        s.step(float(m))
        st.step(float(m))
    s.load_state_dict(copy.deepcopy(st.state_dict()))
    for m in metrics[8:]:
        s.step(float(m))
        st.step(float(m))
        assert_close(np.array(s.get_last_lr()), np.array(st.get_last_lr()), **TOL, name="lr")


@pytest.mark.parametrize(
    "cls,kw",
    [
        ("StepLR", dict(step_size=4, gamma=0.5)),
        ("MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.5)),
        ("ExponentialLR", dict(gamma=0.8)),
        ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01)),
        ("LinearLR", dict(start_factor=0.5, total_iters=4)),
    ],
)
def test_step_with_an_epoch_uses_torchs_closed_form(cls, kw):
    o, t = _opt_pair()
    s = getattr(dg.optim.lr_scheduler, cls)(o, **kw)
    st = getattr(torch.optim.lr_scheduler, cls)(t, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (3, 9, 1, 5, 12):
            s.step(epoch)
            st.step(epoch)
            assert_close(np.array(s.get_last_lr()), np.array(st.get_last_lr()), **TOL, name="lr")


# ---- CosineAnnealingWarmRestarts ---------------------------------------------------------------

WR_TOL = dict(rtol=1e-12, atol=1e-12)
WR_LRS = (0.1, 0.04, 0.5)  # three groups, three base lrs
WR_CASES = [
    dict(T_0=1),
    dict(T_0=5, eta_min=0.01),
    dict(T_0=3, T_mult=2),
    dict(T_0=2, T_mult=3, eta_min=1e-3),
    dict(T_0=4, T_mult=2, eta_min=0),
]


def _wr_pair(kw, last_epoch=-1):
    """SGD with three groups of different lrs and a CosineAnnealingWarmRestarts, both sides."""
    out = []
    for lib in (dg, torch):
        ps = [lib.ones(n, requires_grad=True) for n in (2, 3, 1)]
        groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, WR_LRS)]
        opt = lib.optim.SGD(groups, lr=1.0)
        out += [opt, lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, **kw)]
    return out


def _wr_expected(kw, t):
    """Where step t falls, computed by walking the cycles: (T_cur, T_i)."""
    T_i, mult = kw["T_0"], kw.get("T_mult", 1)
    while t >= T_i:
        t -= T_i
        T_i *= mult
    return t, T_i


def _wr_same(s, st, o, ot):
    assert (s.T_cur, s.T_i, s.last_epoch) == (st.T_cur, st.T_i, st.last_epoch)
    assert_close(np.array(s.get_last_lr()), np.array(st.get_last_lr()), **WR_TOL, name="lr")
    lrs = [g["lr"] for g in o.param_groups]
    assert_close(np.array(lrs), np.array([g["lr"] for g in ot.param_groups]), **WR_TOL, name="lr")
    assert lrs == s.get_last_lr()


@pytest.mark.parametrize("kw", WR_CASES, ids=str)
def test_warm_restarts_lr_sequence_matches_torch(kw):
    o, s, ot, st = _wr_pair(kw)
    lo = kw.get("eta_min", 0.0)
    restarts = 0
    for t in range(41):
        _wr_same(s, st, o, ot)
        T_cur, T_i = _wr_expected(kw, t)
        assert (s.T_cur, s.T_i, s.last_epoch) == (T_cur, T_i, t)
        want = [lo + (b - lo) * (1 + np.cos(np.pi * T_cur / T_i)) / 2 for b in WR_LRS]
        assert_close(np.array(s.get_last_lr()), np.array(want), **WR_TOL, name="lr")
        if T_cur == 0:  # a restart (or the start): back to the base lrs
            restarts += 1
            assert s.get_last_lr() == pytest.approx(list(WR_LRS), rel=1e-15)
        else:
            assert all(lr < b for lr, b in zip(s.get_last_lr(), WR_LRS))
        if t == 40:
            break
        o.step()
        ot.step()
        s.step()
        st.step()
    assert restarts > 1


@pytest.mark.parametrize("kw", WR_CASES, ids=str)
def test_warm_restarts_fractional_epochs_match_torch(kw):
    """torch's per-batch pattern step(epoch + i / iters), then jumps back and forth, and
    step() after step(epoch) continuing from floor(epoch), without a warning."""
    o, s, ot, st = _wr_pair(kw)
    iters = 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch in range(12):
            for i in range(iters):
                s.step(epoch + i / iters)
                st.step(epoch + i / iters)
                _wr_same(s, st, o, ot)
                assert s.last_epoch == epoch
        seen_fraction = False
        for e in (26, 2.5, 0, 0.3, 45.25, 9, 3.999, 100, 1e-9):
            s.step(e)
            st.step(e)
            _wr_same(s, st, o, ot)
            seen_fraction |= s.T_cur != int(s.T_cur)
            s.step()
            st.step()
            _wr_same(s, st, o, ot)
        assert seen_fraction


@pytest.mark.parametrize("kw", [dict(T_0=3, T_mult=2, eta_min=0.01), dict(T_0=6)], ids=str)
@pytest.mark.parametrize("fractional", [False, True])
def test_warm_restarts_state_dict_resumes_mid_cycle(kw, fractional):
    o, s, ot, st = _wr_pair(kw)
    for t in range(13):
        e = t + 0.5 if fractional else None
        s.step(e)
        st.step(e)
    assert 0 < s.T_cur < s.T_i  # mid-cycle
    sd = s.state_dict()
    _plain_only(sd)
    tsd = st.state_dict()
    for k in ("T_0", "T_i", "T_mult", "T_cur", "last_epoch", "eta_min", "base_lrs", "_last_lr"):
        assert sd[k] == pytest.approx(tsd[k], rel=1e-15, abs=0), k
    o2, s2, _, _ = _wr_pair(dict(T_0=99, T_mult=5, eta_min=0.2))  # overwritten by the load
    o2.load_state_dict(copy.deepcopy(o.state_dict()))
    s2.load_state_dict(copy.deepcopy(sd))
    assert (s2.T_0, s2.T_mult, s2.eta_min) == (s.T_0, s.T_mult, s.eta_min)
    assert s2.state_dict() == sd
    for t in range(13, 40):
        e = t + 0.5 if fractional else None
        for sched in (s, s2, st):
            sched.step(e)
        _wr_same(s2, st, o2, ot)
        assert s2.get_last_lr() == s.get_last_lr()


def test_warm_restarts_resumed_with_last_epoch_matches_torch():
    kw = dict(T_0=4, T_mult=2, eta_min=0.001)
    o, s, ot, st = _wr_pair(kw)
    for _ in range(3):
        s.step()
        st.step()
    s = dg.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, last_epoch=3, **kw)
    st = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ot, last_epoch=3, **kw)
    for _ in range(20):
        _wr_same(s, st, o, ot)
        s.step()
        st.step()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(T_0=0), "T_0"),
        (dict(T_0=-3), "T_0"),
        (dict(T_0=2.0), "T_0"),
        (dict(T_0=4, T_mult=0), "T_mult"),
        (dict(T_0=4, T_mult=1.5), "T_mult"),
        (dict(T_0=4, T_mult=2.0), "T_mult"),
        (dict(T_0=4, eta_min="0.1"), "eta_min"),
        (dict(T_0=4, eta_min=None), "eta_min"),
    ],
    ids=str,
)
def test_warm_restarts_bad_arguments(kw, match):
    o, _, ot, _ = _wr_pair(dict(T_0=1))
    with pytest.raises(ValueError):  # torch refuses them too
        torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ot, **kw)
    before = [dict((k, v) for k, v in g.items() if k != "params") for g in o.param_groups]
    with pytest.raises(ValueError, match=rf"^CosineAnnealingWarmRestarts: {match}: expected"):
        dg.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, **kw)
    assert [dict((k, v) for k, v in g.items() if k != "params") for g in o.param_groups] == before


def test_warm_restarts_negative_epoch_is_refused():
    o, s, _, st = _wr_pair(dict(T_0=3))
    with pytest.raises(ValueError):
        st.step(-1)
    with pytest.raises(ValueError, match=r"CosineAnnealingWarmRestarts\.step: epoch: .* -0\.5"):
        s.step(-0.5)
    assert s.last_epoch == 0 and s.get_last_lr() == list(WR_LRS)


def test_warm_restarts_is_exported():
    from deltagrad.optim.lr_scheduler import CosineAnnealingWarmRestarts

    assert "CosineAnnealingWarmRestarts" in dg.optim.lr_scheduler.__all__
    assert issubclass(CosineAnnealingWarmRestarts, dg.optim.lr_scheduler.LRScheduler)


PLATEAU_CASES = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(mode="min", threshold_mode="abs", threshold=0.05, patience=1, cooldown=2),
    dict(mode="max", threshold_mode="abs", patience=0, min_lr=[0.02, 0.001]),
    dict(factor=0.3, patience=1, min_lr=0.01, eps=1e-3),
]


@pytest.mark.parametrize("kw", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(kw):
    o, t = _opt_pair()
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kw)
    rng = np.random.default_rng(3)
    # plateaus, improvements, worsenings
    metrics = np.concatenate([np.linspace(1, 0.5, 6), np.full(8, 0.5), rng.random(16)])
    for i, m in enumerate(metrics):
        if i == 15:  # a round trip mid-run
            s2 = dg.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)
            sd = s.state_dict()
            _plain_only({k: v for k, v in sd.items() if k not in ("best", "mode_worse")})
            s2.load_state_dict(copy.deepcopy(sd))
            s = s2
        s.step(float(m))
        st.step(float(m))
        assert s.num_bad_epochs == st.num_bad_epochs and s.cooldown_counter == st.cooldown_counter
        assert_close(np.array(s.get_last_lr()), np.array(st.get_last_lr()), **TOL, name="lr")
        assert_close(np.array([g["lr"] for g in o.param_groups]), np.array(s.get_last_lr()))


def test_scheduler_and_group_keys_follow_torch():
    o, t = _opt_pair("Adam")
    s, st = _make_sched("onecycle_adam_linear", o, t)
    for g, tg in zip(o.param_groups, t.param_groups):
        for k in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            assert_close(np.array(g[k]), np.array(tg[k]), **TOL, name=k)
    assert s.base_lrs == pytest.approx(st.base_lrs, rel=1e-12)
    assert set(s.state_dict()) >= {"base_lrs", "last_epoch", "_step_count", "_last_lr"}


# ---- bad input -------------------------------------------------------------------------------


def _snapshot(opt):
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    state = {id(p): {k: np.copy(v) for k, v in s.items()} for p, s in opt.state.items()}
    return copy.deepcopy(groups), state


def _assert_unchanged(opt, snap):
    groups, state = snap
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups
    assert {id(p) for p in opt.state} == set(state)
    for p, s in opt.state.items():
        assert set(s) == set(state[id(p)])
        for k, v in s.items():
            np.testing.assert_array_equal(v, state[id(p)][k])


def _stepped(case):
    ours, theirs = _make_params()
    o, _ = _make(case, ours, theirs)
    for step in range(3):
        _set_grads(ours, theirs, _grads(step))
        o.step()
    return o


@pytest.mark.parametrize(
    "src,dst,key",
    [
        ("sgd_momentum_wd", "adam", "betas"),
        ("adam", "sgd", "momentum"),
        ("adam", "rmsprop", "alpha"),
        ("rmsprop", "adagrad", "lr_decay"),
        ("adagrad", "adam", "betas"),
        ("sgd", "rmsprop", "alpha"),
    ],
)
def test_a_state_dict_of_another_optimizer_class_is_refused(src, dst, key):
    sd = _stepped(src).state_dict()
    o = _stepped(dst)
    snap = _snapshot(o)
    name = OPT_CASES[dst][0]
    with pytest.raises(ValueError, match=rf"{name}\.load_state_dict: param_groups\[0\].*'{key}'"):
        o.load_state_dict(sd)
    _assert_unchanged(o, snap)


def test_a_state_of_another_class_with_the_same_group_keys_is_refused():
    sd = _stepped("adam").state_dict()
    o = _stepped("adam")
    sd["state"][0]["momentum_buffer"] = sd["state"][0].pop("exp_avg")
    snap = _snapshot(o)
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: state\[0\].*'momentum_buffer'"):
        o.load_state_dict(sd)
    _assert_unchanged(o, snap)


def test_mismatched_groups_and_shapes_are_refused():
    o = _stepped("adam")
    snap = _snapshot(o)
    sd = o.state_dict()
    bad = copy.deepcopy(sd)
    bad["param_groups"] = bad["param_groups"][:1]
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: param_groups: .* 1 parameter"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][1]["params"] = bad["param_groups"][1]["params"][:-1]
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]: .* 3 parameters, .* 4"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][1]["exp_avg_sq"] = np.ones(8)
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg_sq'\]: .*shape \(7,\)"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"param_groups\[1\]: lr: expected a finite number"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    del bad["state"]
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: state_dict: no key 'state'"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][99] = bad["state"][0]
    with pytest.raises(ValueError, match=r"state\[99\]: no parameter has the index 99"):
        o.load_state_dict(bad)
    _assert_unchanged(o, snap)


def test_one_cycle_without_momentum_or_betas_is_refused_and_changes_nothing():
    o, _ = _opt_pair("Adagrad")
    before = copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in o.param_groups])
    with pytest.raises(ValueError, match=r"OneCycleLR: .*'momentum' or 'betas'.*Adagrad"):
        dg.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10)
    assert [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups] == before


def test_a_scheduler_on_groups_without_its_key_is_refused():
    o, _ = _opt_pair()
    with pytest.raises(KeyError, match=r"StepLR: param_groups\[0\] of SGD has no 'initial_lr'"):
        dg.optim.lr_scheduler.StepLR(o, step_size=2, last_epoch=4)
    dg.optim.lr_scheduler.ExponentialLR(o, gamma=0.5)  # sets initial_lr, not max_lr
    with pytest.raises(KeyError, match=r"OneCycleLR: param_groups\[0\] of SGD has no 'max_lr'"):
        dg.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, last_epoch=3)
    o, _ = _opt_pair()
    del o.param_groups[1]["lr"]
    with pytest.raises(KeyError, match=r"ExponentialLR: param_groups\[1\] of SGD has no 'lr'"):
        dg.optim.lr_scheduler.ExponentialLR(o, gamma=0.5)
    assert "initial_lr" not in o.param_groups[0]
    with pytest.raises(KeyError, match=r"ReduceLROnPlateau: param_groups\[1\] of SGD has no 'lr'"):
        dg.optim.lr_scheduler.ReduceLROnPlateau(o)


def test_a_scheduler_state_dict_of_another_class_is_refused():
    o, _ = _opt_pair()
    s = dg.optim.lr_scheduler.StepLR(o, step_size=3)
    c = dg.optim.lr_scheduler.CosineAnnealingLR(_opt_pair()[0], T_max=5)
    before = s.state_dict()
    with pytest.raises(
        ValueError, match=r"StepLR\.load_state_dict: state_dict: no key 'step_size'"
    ):
        s.load_state_dict(c.state_dict())
    assert s.state_dict() == before


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda o: dg.optim.lr_scheduler.StepLR(o, step_size=0), "StepLR: step_size"),
        (lambda o: dg.optim.lr_scheduler.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR: T_max"),
        (
            lambda o: dg.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0),
            "CosineAnnealingWarmRestarts: T_0",
        ),
        (lambda o: dg.optim.lr_scheduler.LinearLR(o, start_factor=0.0), "LinearLR: start_factor"),
        (lambda o: dg.optim.lr_scheduler.LinearLR(o, end_factor=1.5), "LinearLR: end_factor"),
        (lambda o: dg.optim.lr_scheduler.LambdaLR(o, [_lambda]), "LambdaLR: lr_lambda"),
        (lambda o: dg.optim.lr_scheduler.LambdaLR(o, 3.0), r"LambdaLR: lr_lambda\[0\]"),
        (lambda o: dg.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1), "OneCycleLR: give total"),
        (
            lambda o: dg.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=5),
            "OneCycleLR: max_lr: expected 2 values",
        ),
        (
            lambda o: dg.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=5, pct_start=1),
            "OneCycleLR: pct_start",
        ),
        (
            lambda o: dg.optim.lr_scheduler.OneCycleLR(o, 0.1, 5, anneal_strategy="exp"),
            "OneCycleLR: anneal_strategy",
        ),
        (lambda o: dg.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor"),
        (lambda o: dg.optim.lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode"),
        (
            lambda o: dg.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"),
            "threshold_mode",
        ),
        (
            lambda o: dg.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]),
            "ReduceLROnPlateau: min_lr: expected 2 values",
        ),
        (lambda o: dg.optim.lr_scheduler.StepLR(object(), 3), "StepLR: optimizer"),
    ],
)
def test_bad_scheduler_arguments(make, match):
    o, _ = _opt_pair()
    with pytest.raises((ValueError, TypeError), match=match):
        make(o)


def test_one_cycle_past_total_steps_raises():
    o, _ = _opt_pair()
    s = dg.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=3)
    o.step()  # no gradients: nothing moves (the scheduler warns when it steps first)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="OneCycleLR.step: tried to step 4 times"):
        s.step()


def test_a_state_dict_through_json_keys_loads():
    """dg.save writes nested keys as strings and plain values as JSON: "0" for 0, lists for
    tuples; load_state_dict takes them back."""
    import json

    ours, theirs = _make_params()
    o, t = _make("adam_amsgrad", ours, theirs)
    for step in range(4):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
    sd = o.state_dict()
    sd = {
        "state": {str(k): dict(v) for k, v in sd["state"].items()},
        "param_groups": json.loads(json.dumps(sd["param_groups"])),
    }
    fresh = [dg.tensor(p.data.copy(), requires_grad=p.requires_grad) for p in ours]
    o2 = dg.optim.Adam([{"params": fresh[:2]}, {"params": fresh[2:]}])
    o2.load_state_dict(sd)
    assert o2.param_groups[0]["betas"] == tuple(
        OPT_CASES["adam_amsgrad"][1].get("betas", (0.9, 0.999))
    )
    for step in range(4, 8):
        _set_grads(fresh, theirs, _grads(step))
        o2.step()
        t.step()
        _compare(fresh, theirs, f"after resumed step {step}")
