"""deltagrad.optim.lr_scheduler against torch 2.13 (round 35): MultiplicativeLR, ConstantLR,
PolynomialLR, CyclicLR, SequentialLR and ChainedScheduler, and a sweep of the older schedulers
(last_epoch resumes, step(epoch) and its warning). deltagrad.optim.SGD / Adam drive float64
parameters with three param groups of different lr; every group's lr, momentum and betas must
equal torch's to 1e-12 relative at every one of 35+ steps; state_dict round trips (ours, and
torch's loaded into ours) go on as torch's uninterrupted run; bad arguments raise as torch."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-12, 1e-300
STEPS = 36
LRS = (0.1, 0.037, 0.5)
SIZES = (3, 1, 5)


# ---- harness ------------------------------------------------------------------------------


def _opt(lib, kind, initial_lr=False):
    """SGD (momentum, per-group momentum) or Adam (per-group betas) on float64 parameters,
    three groups of different lr; initial_lr: what a checkpoint leaves (for last_epoch=k)."""
    rng = np.random.default_rng(7)
    groups = []
    for i, (n, lr) in enumerate(zip(SIZES, LRS)):
        arr = rng.standard_normal(n) + 0.5
        p = (
            dg.tensor(arr, requires_grad=True)
            if lib is dg
            else torch.tensor(arr, dtype=torch.float64, requires_grad=True)
        )
        g = {"params": [p], "lr": lr}
        if kind == "SGD":
            g["momentum"] = (0.9, 0.5, 0.0)[i]
        elif kind == "Adam":
            g["betas"] = ((0.9, 0.999), (0.8, 0.99), (0.7, 0.9))[i]
        groups.append(g)
    opt = (
        lib.optim.SGD(groups, lr=1.0)
        if kind == "SGD"
        else lib.optim.Adam(groups, lr=1.0)
        if kind == "Adam"
        else lib.optim.Adagrad(groups, lr=1.0)
    )
    if initial_lr:
        for g in opt.param_groups:
            g["initial_lr"] = 2 * g["lr"]
    return opt


def _copy_params(dst, src):
    """src's parameter values into dst (a resumed run continues from the saved weights)."""
    for g, h in zip(dst.param_groups, src.param_groups):
        for p, q in zip(g["params"], h["params"]):
            if isinstance(p, dg.Tensor):
                p.data[...] = q.data
            else:
                with torch.no_grad():
                    p.copy_(q)


def _train_step(opt):
    """A real optimizer step (loss = sum(p**2 + p)) so momentum / betas are used."""
    opt.zero_grad()
    for g in opt.param_groups:
        for p in g["params"]:
            ((p * p).sum() + p.sum()).backward()
    opt.step()


def _lr_mod(lib):
    return lib.optim.lr_scheduler


def _state(opt, sched):
    """Everything a scheduler drives: each group's lr, momentum, betas, plus get_last_lr."""
    out = []
    for g in opt.param_groups:
        out.append(float(g["lr"]))
        if "momentum" in g:
            out.append(float(g["momentum"]))
        if "betas" in g:
            out += [float(b) for b in g["betas"]]
    return np.array(out), np.array([float(x) for x in sched.get_last_lr()])


def _check(o, s, t, st, where):
    a, la = _state(o, s)
    b, lb = _state(t, st)
    assert a.shape == b.shape, where
    assert_close(a, b, rtol=RTOL, atol=ATOL, name=f"groups at {where}")
    assert_close(la, lb, rtol=RTOL, atol=ATOL, name=f"get_last_lr at {where}")
    if hasattr(st, "last_epoch"):
        assert s.last_epoch == st.last_epoch, where
    for g, tg in zip(o.param_groups, t.param_groups):
        for p, tp in zip(g["params"], tg["params"]):
            assert_close(np.asarray(p.data), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def _run(o, s, t, st, steps, start=0, epochs=None):
    for i in range(start, start + steps):
        _train_step(o)
        _train_step(t)
        if epochs is None:
            s.step()
            st.step()
        else:
            s.step(epochs[i % len(epochs)])
            st.step(epochs[i % len(epochs)])
        _check(o, s, t, st, f"step {i + 1}")


class Halving:
    """A callable object: its attributes travel in state_dict (a function's do not)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, x):
        return self.rate**x


def _mult(e):
    return 0.97 if e % 4 else 1.02


def _mult2(e):
    return 1.0 - 0.01 * (e % 5)


# each case: (optimizer kind, builder(lib, opt) -> scheduler)
CASES = {
    "multiplicative": ("SGD", lambda L, o: L.MultiplicativeLR(o, lr_lambda=_mult)),
    "multiplicative_per_group": (
        "Adam",
        lambda L, o: L.MultiplicativeLR(o, [_mult, _mult2, lambda e: 0.95]),
    ),
    "multiplicative_object": ("SGD", lambda L, o: L.MultiplicativeLR(o, Halving(0.99))),
    "constant_default": ("SGD", lambda L, o: L.ConstantLR(o)),
    "constant": ("Adam", lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=9)),
    "constant_one": ("SGD", lambda L, o: L.ConstantLR(o, factor=1.0, total_iters=3)),
    "polynomial_default": ("SGD", lambda L, o: L.PolynomialLR(o)),
    "polynomial_square": ("Adam", lambda L, o: L.PolynomialLR(o, total_iters=20, power=2.0)),
    "polynomial_sqrt": ("SGD", lambda L, o: L.PolynomialLR(o, total_iters=31, power=0.5)),
    "polynomial_zero_power": ("SGD", lambda L, o: L.PolynomialLR(o, total_iters=7, power=0)),
    "cyclic_triangular_sgd": (
        "SGD",
        lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, step_size_down=6),
    ),
    "cyclic_triangular2_adam": (
        "Adam",
        lambda L, o: L.CyclicLR(
            o, [0.01, 0.002, 0.05], [0.1, 0.02, 0.3], step_size_up=3, mode="triangular2"
        ),
    ),
    "cyclic_exp_range": (
        "SGD",
        lambda L, o: L.CyclicLR(
            o,
            0.01,
            0.2,
            step_size_up=5,
            step_size_down=2,
            mode="exp_range",
            gamma=0.93,
            base_momentum=[0.7, 0.8, 0.6],
            max_momentum=[0.95, 0.9, 0.85],
        ),
    ),
    "cyclic_scale_fn_cycle": (
        "Adam",
        lambda L, o: L.CyclicLR(
            o, 0.001, 0.01, step_size_up=2.5, scale_fn=lambda x: 1.0 / x, scale_mode="cycle"
        ),
    ),
    "cyclic_scale_fn_iterations": (
        "SGD",
        lambda L, o: L.CyclicLR(
            o, 0.02, 0.08, 4, 4, scale_fn=Halving(0.97), scale_mode="iterations"
        ),
    ),
    "cyclic_no_momentum": (
        "SGD",
        lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=7, cycle_momentum=False),
    ),
    "cyclic_sawtooth": ("Adam", lambda L, o: L.CyclicLR(o, 0.01, 0.1, 5, step_size_down=0)),
    "sequential_constant_exp": (
        "SGD",
        lambda L, o: L.SequentialLR(
            o, [L.ConstantLR(o, factor=0.1, total_iters=20), L.ExponentialLR(o, 0.9)], [5]
        ),
    ),
    "sequential_three": (
        "Adam",
        lambda L, o: L.SequentialLR(
            o,
            [
                L.LinearLR(o, start_factor=0.2, total_iters=4),
                L.CosineAnnealingLR(o, T_max=9, eta_min=1e-3),
                L.StepLR(o, step_size=3, gamma=0.5),
            ],
            milestones=[4, 15],
        ),
    ),
    "sequential_restarts_poly": (
        "SGD",
        lambda L, o: L.SequentialLR(
            o,
            [L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), L.PolynomialLR(o, 12, 1.5)],
            [10],
        ),
    ),
    "sequential_multiplicative_cyclic": (
        "Adam",
        lambda L, o: L.SequentialLR(
            o,
            [L.MultiplicativeLR(o, _mult), L.CyclicLR(o, 0.01, 0.05, step_size_up=3)],
            [7],
        ),
    ),
    "sequential_onecycle_second": (
        "SGD",
        lambda L, o: L.SequentialLR(
            o, [L.ExponentialLR(o, 0.95), L.OneCycleLR(o, 0.3, total_steps=40)], [6]
        ),
    ),
    "sequential_repeated_milestone": (
        "SGD",
        lambda L, o: L.SequentialLR(
            o,
            [L.ConstantLR(o, 0.5, 2), L.ExponentialLR(o, 0.5), L.LambdaLR(o, _mult2)],
            [3, 3],
        ),
    ),
    "sequential_chained_first": (
        "SGD",
        lambda L, o: L.SequentialLR(
            o,
            [
                L.ChainedScheduler([L.ConstantLR(o, 0.3, 4), L.ExponentialLR(o, 0.9)]),
                L.CosineAnnealingLR(o, T_max=10),
            ],
            [8],
        ),
    ),
    "chained_constant_exp": (
        "SGD",
        lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.1, 4), L.ExponentialLR(o, 0.9)]),
    ),
    "chained_three_with_optimizer": (
        "Adam",
        lambda L, o: L.ChainedScheduler(
            [L.MultiplicativeLR(o, _mult2), L.StepLR(o, 5, 0.7), L.PolynomialLR(o, 25, 0.7)],
            optimizer=o,
        ),
    ),
    "chained_cosine_linear": (
        "SGD",
        lambda L, o: L.ChainedScheduler(
            (L.LinearLR(o, 0.5, 1.0, 6), L.CosineAnnealingLR(o, 7.5, 1e-3))
        ),
    ),
    "chained_cyclic_exp": (
        "Adam",
        lambda L, o: L.ChainedScheduler(
            [L.CyclicLR(o, 0.01, 0.1, 3, mode="triangular2"), L.ExponentialLR(o, 0.98)]
        ),
    ),
}


def _build(lib, build, o):
    """lib's scheduler; its 'lr_scheduler.step() before optimizer.step()' warning (torch's and,
    since round 36, deltagrad's) fires when a SequentialLR re-steps a ChainedScheduler's
    schedulers at construction."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        return build(_lr_mod(lib), o)


def _pair(case, initial_lr=False):
    kind, build = CASES[case]
    o, t = _opt(dg, kind, initial_lr), _opt(torch, kind, initial_lr)
    return o, _build(dg, build, o), t, _build(torch, build, t)


@pytest.mark.parametrize("case", sorted(CASES))
def test_new_scheduler_sequences_match_torch(case):
    o, s, t, st = _pair(case)
    _check(o, s, t, st, "construction")
    _run(o, s, t, st, STEPS)


def _resumed(lib, case, opt_src, sched_sd):
    """torch's recipe: a fresh optimizer and scheduler, then the optimizer's state (and its
    weights) and the scheduler's state loaded."""
    kind, build = CASES[case]
    o = _opt(lib, kind)
    s = _build(lib, build, o)
    _copy_params(o, opt_src)
    o.load_state_dict(copy.deepcopy(opt_src.state_dict()))
    s.load_state_dict(copy.deepcopy(sched_sd))
    return o, s


@pytest.mark.parametrize("case", sorted(CASES))
def test_new_scheduler_state_dict_round_trip(case):
    """Ours saved at step 13 and loaded into a fresh scheduler goes on as torch's resumed
    run; so does torch's state_dict loaded into ours."""
    o, s, t, st = _pair(case)
    _run(o, s, t, st, 13)
    sd, tsd = copy.deepcopy(s.state_dict()), copy.deepcopy(st.state_dict())
    for saved in (sd, tsd):
        o2, s2 = _resumed(dg, case, o, saved)
        t2, st2 = _resumed(torch, case, t, tsd)
        _check(o2, s2, t2, st2, "after load")
        _run(o2, s2, t2, st2, 20, start=13)
    _run(o, s, t, st, 20, start=13)  # and the uninterrupted runs agree with the resumed ones
    _check(o, s, t2, st2, "uninterrupted")


@pytest.mark.parametrize(
    "case", ["multiplicative", "constant", "polynomial_square", "cyclic_triangular_sgd"]
)
def test_our_state_dict_loads_into_torch(case):
    o, s, t, st = _pair(case)
    _run(o, s, t, st, 11)
    t2, st2 = _resumed(torch, case, t, s.state_dict())
    _run(o, s, t2, st2, 15, start=11)


def test_state_dict_keys_follow_torch():
    for case in sorted(CASES):
        _, s, _, st = _pair(case)
        ours, theirs = s.state_dict(), st.state_dict()
        public = {k for k in theirs if not k.startswith("_")}
        assert public <= set(ours), (case, public - set(ours))
        for k in public:
            if isinstance(theirs[k], (int, float, str)):
                assert ours[k] == theirs[k], (case, k)
        if "_schedulers" in theirs:
            assert len(ours["_schedulers"]) == len(theirs["_schedulers"])
        if "lr_lambdas" in theirs:  # a function is not saved; a callable object's attributes
            for a, b in zip(ours["lr_lambdas"], theirs["lr_lambdas"]):
                assert a == (b or {})


def test_callable_object_attributes_travel_in_state_dict():
    o = _opt(dg, "SGD")
    fn = Halving(0.9)
    s = dg.optim.lr_scheduler.MultiplicativeLR(o, fn)
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.9}] * 3
    fn2 = Halving(0.5)
    s2 = dg.optim.lr_scheduler.MultiplicativeLR(_opt(dg, "SGD"), fn2)
    s2.load_state_dict(sd)
    assert fn2.rate == 0.9
    c = dg.optim.lr_scheduler.CyclicLR(_opt(dg, "SGD"), 0.1, 1.0, scale_fn=Halving(0.7))
    assert c.state_dict()["_scale_fn_custom"] == {"rate": 0.7}
    assert dg.optim.lr_scheduler.CyclicLR(o, 0.1, 1.0).state_dict()["_scale_fn_custom"] is None


# ---- resumes (last_epoch = k) and step(epoch) ----------------------------------------------

RESUME = {
    "multiplicative": lambda L, o, e: L.MultiplicativeLR(o, _mult, last_epoch=e),
    "constant": lambda L, o, e: L.ConstantLR(o, 0.5, 6, last_epoch=e),
    "polynomial": lambda L, o, e: L.PolynomialLR(o, 20, 2.0, last_epoch=e),
    "cyclic": lambda L, o, e: L.CyclicLR(o, 0.01, 0.1, 4, last_epoch=e),
    "cyclic_adam": lambda L, o, e: L.CyclicLR(o, 0.01, 0.1, 4, mode="exp_range", last_epoch=e),
    "sequential": lambda L, o, e: L.SequentialLR(
        o, [L.ConstantLR(o, 0.1, 20), L.ExponentialLR(o, 0.9)], [5], last_epoch=e
    ),
    # the older schedulers
    "step": lambda L, o, e: L.StepLR(o, 3, 0.5, last_epoch=e),
    "multistep": lambda L, o, e: L.MultiStepLR(o, [2, 5, 5, 11], 0.4, last_epoch=e),
    "exponential": lambda L, o, e: L.ExponentialLR(o, 0.9, last_epoch=e),
    "cosine": lambda L, o, e: L.CosineAnnealingLR(o, 7, 1e-3, last_epoch=e),
    "cosine_float_t_max": lambda L, o, e: L.CosineAnnealingLR(o, 7.5, last_epoch=e),
    "warm_restarts": lambda L, o, e: L.CosineAnnealingWarmRestarts(o, 3, 2, 1e-3, e),
    "lambda": lambda L, o, e: L.LambdaLR(o, [_mult2, _mult, Halving(0.9)], last_epoch=e),
    "linear": lambda L, o, e: L.LinearLR(o, 0.2, 0.9, 6, last_epoch=e),
}


@pytest.mark.parametrize("last_epoch", [-1, 0, 4])
@pytest.mark.parametrize(
    "case,kind",
    [(c, k) for c in sorted(RESUME) for k in ("SGD", "Adam") if (c, k) != ("cyclic_adam", "SGD")],
)
def test_resume_with_last_epoch_matches_torch(case, kind, last_epoch):
    o = _opt(dg, kind, initial_lr=last_epoch != -1)
    t = _opt(torch, kind, initial_lr=last_epoch != -1)
    s = RESUME[case](_lr_mod(dg), o, last_epoch)
    st = RESUME[case](_lr_mod(torch), t, last_epoch)
    _check(o, s, t, st, "construction")
    _run(o, s, t, st, STEPS)


def test_onecycle_resume_and_past_the_end_match_torch():
    for kind in ("SGD", "Adam"):
        o, t = _opt(dg, kind), _opt(torch, kind)
        for opt in (o, t):
            for g in opt.param_groups:
                g.update(initial_lr=0.01, max_lr=0.3, min_lr=1e-5)
                g.update(max_momentum=0.95, base_momentum=0.85)
        s = dg.optim.lr_scheduler.OneCycleLR(o, 0.3, total_steps=40, last_epoch=4)
        st = torch.optim.lr_scheduler.OneCycleLR(t, 0.3, total_steps=40, last_epoch=4)
        _check(o, s, t, st, "construction")
        _run(o, s, t, st, 35)
        for sched in (s, st):
            with pytest.raises(ValueError, match="40"):
                sched.step()


def _record(fn, *args):
    """The classes of the warnings fn(*args) gives."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn(*args)
    return [x.category for x in w]


EPOCHS = [3, 9, 1, 5, 12, 0, 2, 20, 7]


@pytest.mark.parametrize(
    "case",
    [c for c in sorted(RESUME) if c != "sequential"] + ["onecycle"],
)
def test_step_with_an_epoch_matches_torch_and_its_warning(case):
    """The closed form where torch has one (else get_lr at that epoch), and torch's
    UserWarning (none for CosineAnnealingWarmRestarts, whose step takes an epoch)."""
    kind = "Adam" if case == "cyclic_adam" else "SGD"
    o, t = _opt(dg, kind), _opt(torch, kind)
    if case == "onecycle":
        s = dg.optim.lr_scheduler.OneCycleLR(o, 0.3, total_steps=40)
        st = torch.optim.lr_scheduler.OneCycleLR(t, 0.3, total_steps=40)
    else:
        s, st = RESUME[case](_lr_mod(dg), o, -1), RESUME[case](_lr_mod(torch), t, -1)
    for i in range(STEPS):
        e = EPOCHS[i % len(EPOCHS)]
        _train_step(o)
        _train_step(t)
        ours, theirs = _record(s.step, e), _record(st.step, e)
        assert ours == theirs, (case, ours, theirs)
        _check(o, s, t, st, f"step({e})")


def test_reduce_lr_on_plateau_epoch_warns_as_torch():
    o, t = _opt(dg, "SGD"), _opt(torch, "SGD")
    s = dg.optim.lr_scheduler.ReduceLROnPlateau(o, patience=1, min_lr=[0.0, 0.01, 0.0])
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(t, patience=1, min_lr=[0.0, 0.01, 0.0])
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9] * 4
    for i, m in enumerate(metrics):
        _train_step(o)
        _train_step(t)
        epoch = i + 1 if i % 3 == 0 else None
        assert _record(s.step, m, epoch) == _record(st.step, m, epoch)
        _check(o, s, t, st, f"step {i}")


def test_combinators_take_no_epoch():
    for case in ("sequential_constant_exp", "chained_constant_exp"):
        o, s, t, st = _pair(case)
        for sched in (s, st):
            with pytest.raises(TypeError):
                sched.step(3)


def test_constant_factor_zero_fails_at_total_iters_as_torch():
    o, t = _opt(dg, "SGD"), _opt(torch, "SGD")
    s = dg.optim.lr_scheduler.ConstantLR(o, factor=0.0, total_iters=3)
    st = torch.optim.lr_scheduler.ConstantLR(t, factor=0.0, total_iters=3)
    _run(o, s, t, st, 2)
    for opt, sched in ((o, s), (t, st)):
        _train_step(opt)
        with pytest.raises(ZeroDivisionError):
            sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # closed form: no division
        s.step(5)
        st.step(5)
    assert s.get_last_lr() == st.get_last_lr() == list(LRS)


def test_cyclic_first_step_uses_an_earlier_initial_lr_as_torch():
    """torch's CyclicLR takes its first step with base_lrs = the groups' initial_lr (set by
    an earlier scheduler), then uses base_lr."""
    o, t = _opt(dg, "SGD"), _opt(torch, "SGD")
    dg.optim.lr_scheduler.ExponentialLR(o, 0.5)
    torch.optim.lr_scheduler.ExponentialLR(t, 0.5)
    s = dg.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, 3)
    st = torch.optim.lr_scheduler.CyclicLR(t, 0.01, 0.1, 3)
    _check(o, s, t, st, "construction")
    assert s.get_last_lr() == list(LRS)
    _run(o, s, t, st, 10)


def test_cyclic_momentum_values():
    """At a cycle's start momentum is max_momentum, at its peak base_momentum (and Adam's
    beta2 is untouched)."""
    o = _opt(dg, "Adam")
    s = dg.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, 2, base_momentum=0.7, max_momentum=0.95)
    assert [g["betas"] for g in o.param_groups] == [(0.95, 0.999), (0.95, 0.99), (0.95, 0.9)]
    o.step()  # no gradients: nothing moves (the scheduler warns when it steps first)
    s.step()
    s.step()
    assert [g["betas"][0] for g in o.param_groups] == [0.7] * 3
    assert math.isclose(s.get_last_lr()[0], 0.1)
    assert [g["max_momentum"] for g in o.param_groups] == [0.95] * 3


def test_new_schedulers_are_exported():
    m = dg.optim.lr_scheduler
    for name in (
        "MultiplicativeLR",
        "ConstantLR",
        "PolynomialLR",
        "CyclicLR",
        "SequentialLR",
        "ChainedScheduler",
    ):
        assert name in m.__all__
        assert issubclass(getattr(m, name), m.LRScheduler)
    assert set(torch.optim.lr_scheduler.__all__) <= set(m.__all__)


# ---- bad arguments ---------------------------------------------------------------------------


def _same_error(build, match):
    """torch's exception type, ours with a message naming the argument."""
    with pytest.raises(Exception) as theirs:
        build(_lr_mod(torch), _opt(torch, "SGD"), _opt(torch, "Adagrad"))
    with pytest.raises(type(theirs.value), match=match):
        build(_lr_mod(dg), _opt(dg, "SGD"), _opt(dg, "Adagrad"))


BAD = {
    "mult_len": (lambda L, o, a: L.MultiplicativeLR(o, [_mult]), "lr_lambda"),
    "mult_callable": (lambda L, o, a: L.MultiplicativeLR(o, 0.9), r"lr_lambda\[0\]"),
    "mult_callable_list": (lambda L, o, a: L.MultiplicativeLR(o, [_mult, 2, _mult]), "lr_la"),
    "constant_high": (lambda L, o, a: L.ConstantLR(o, factor=1.5), "factor"),
    "constant_negative": (lambda L, o, a: L.ConstantLR(o, factor=-0.1), "factor"),
    "constant_optimizer": (lambda L, o, a: L.ConstantLR(object()), "optimizer"),
    "poly_optimizer": (lambda L, o, a: L.PolynomialLR([1.0]), "optimizer"),
    "cyclic_optimizer": (lambda L, o, a: L.CyclicLR(None, 0.1, 1.0), "optimizer"),
    "cyclic_base_len": (lambda L, o, a: L.CyclicLR(o, [0.1, 0.2], 1.0), "base_lr"),
    "cyclic_max_len": (lambda L, o, a: L.CyclicLR(o, 0.1, [1.0] * 4), "max_lr"),
    "cyclic_mode": (lambda L, o, a: L.CyclicLR(o, 0.1, 1.0, mode="cosine"), "mode"),
    "cyclic_no_momentum_key": (lambda L, o, a: L.CyclicLR(a, 0.1, 1.0), "cycle_momentum"),
    "cyclic_momentum_len": (
        lambda L, o, a: L.CyclicLR(o, 0.1, 1.0, base_momentum=[0.8]),
        "base_momentum",
    ),
    "cyclic_max_momentum_len": (
        lambda L, o, a: L.CyclicLR(o, 0.1, 1.0, max_momentum=(0.9, 0.9)),
        "max_momentum",
    ),
    "cyclic_scale_fn": (lambda L, o, a: L.CyclicLR(o, 0.1, 1.0, scale_fn=3.0), "scale_fn"),
    "seq_empty": (lambda L, o, a: L.SequentialLR(o, [], []), "schedulers"),
    "seq_milestones_len": (
        lambda L, o, a: L.SequentialLR(o, [L.ExponentialLR(o, 0.9)], [3]),
        "milestones",
    ),
    "seq_plateau": (
        lambda L, o, a: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), L.ReduceLROnPlateau(o)], [3]),
        "ReduceLROnPlateau",
    ),
    "seq_other_optimizer": (
        lambda L, o, a: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), L.StepLR(a, 2)], [3]),
        r"schedulers\[1\]",
    ),
    "seq_not_a_scheduler": (
        lambda L, o, a: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), object()], [3]),
        r"schedulers\[1\]",
    ),
    "chain_empty": (lambda L, o, a: L.ChainedScheduler([]), "schedulers"),
    "chain_plateau": (
        lambda L, o, a: L.ChainedScheduler([L.ExponentialLR(o, 0.9), L.ReduceLROnPlateau(o)]),
        "ReduceLROnPlateau",
    ),
    "chain_other_optimizer": (
        lambda L, o, a: L.ChainedScheduler([L.ExponentialLR(o, 0.9), L.StepLR(a, 2)]),
        r"schedulers\[1\]",
    ),
    "chain_optimizer_argument": (
        lambda L, o, a: L.ChainedScheduler([L.ExponentialLR(o, 0.9)], optimizer=a),
        r"schedulers\[0\]",
    ),
    "chain_not_a_scheduler": (
        lambda L, o, a: L.ChainedScheduler([L.ExponentialLR(o, 0.9), 3]),
        r"schedulers\[1\]",
    ),
    "resume_without_initial_lr": (
        lambda L, o, a: L.PolynomialLR(o, last_epoch=3),
        "initial_lr",
    ),
    "cyclic_resume_without_initial_lr": (
        lambda L, o, a: L.CyclicLR(o, 0.1, 1.0, last_epoch=3),
        "initial_lr",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_raise_as_torch(case):
    build, match = BAD[case]
    _same_error(build, match)


@pytest.mark.parametrize(
    "build,exc,match",
    [
        # torch accepts these and then divides by zero, or silently ignores them
        (lambda L, o: L.ConstantLR(o, total_iters=0), ValueError, "ConstantLR: total_iters"),
        (lambda L, o: L.PolynomialLR(o, total_iters=0), ValueError, "PolynomialLR: total_iters"),
        (lambda L, o: L.PolynomialLR(o, total_iters=2.5), ValueError, "total_iters"),
        (lambda L, o: L.PolynomialLR(o, power="2"), TypeError, "PolynomialLR: power"),
        (lambda L, o: L.CyclicLR(o, 0.1, 1.0, step_size_up=0), ValueError, "step_size_up"),
        (lambda L, o: L.CyclicLR(o, 0.1, 1.0, 4, step_size_down=-1), ValueError, "step_size_d"),
        (lambda L, o: L.CyclicLR(o, 0.1, 1.0, scale_mode="batch"), ValueError, "scale_mode"),
        (lambda L, o: L.ConstantLR(o, factor=float("nan")), ValueError, "factor"),
        (
            lambda L, o: L.SequentialLR(
                o, [L.ConstantLR(o), L.ExponentialLR(o, 0.9), L.StepLR(o, 2)], [8, 3]
            ),
            ValueError,
            "non-decreasing",
        ),
        (
            lambda L, o: L.SequentialLR(o, [L.ConstantLR(o), L.ExponentialLR(o, 0.9)], [2.5]),
            TypeError,
            r"milestones\[0\]",
        ),
        (lambda L, o: L.CosineAnnealingLR(o, T_max=0.0), ValueError, "T_max"),
        (lambda L, o: L.CosineAnnealingLR(o, T_max=math.inf), ValueError, "T_max"),
    ],
)
def test_arguments_torch_misuses_are_refused(build, exc, match):
    with pytest.raises(exc, match=match):
        build(_lr_mod(dg), _opt(dg, "SGD"))


def test_load_state_dict_of_the_wrong_shape_is_refused():
    o, s, _, _ = _pair("sequential_three")
    sd = s.state_dict()
    sd["_schedulers"] = sd["_schedulers"][:2]
    with pytest.raises(ValueError, match="_schedulers"):
        s.load_state_dict(sd)
    _, m, _, _ = _pair("multiplicative_per_group")
    bad = m.state_dict()
    bad["lr_lambdas"] = bad["lr_lambdas"][:1]
    with pytest.raises(ValueError, match="lr_lambdas"):
        m.load_state_dict(bad)
    _, c, _, _ = _pair("cyclic_triangular_sgd")
    bad = c.state_dict()
    del bad["max_lrs"]
    with pytest.raises(ValueError, match="max_lrs"):
        c.load_state_dict(bad)
