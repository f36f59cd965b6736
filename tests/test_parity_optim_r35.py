"""deltagrad.optim's Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop against torch 2.13
(round 35): trajectories and every state tensor over 10 steps in float64 (1e-12 relative) and
float32 (1e-6), two param groups of different hyper-parameters, odd shapes (size 1, 0-d,
size 0, a parameter whose grad is None on some steps, one never stepped), torch's constructor
signatures and param_groups / state layout, state_dict round trips (ours, torch's into ours,
ours into torch) continuing as torch does, an lr scheduler driving them, extreme gradients,
and the bad arguments torch refuses."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")

NAMES = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]
TOL64 = dict(rtol=1e-12, atol=1e-14)
TOL32 = dict(rtol=1e-6, atol=1e-6)
# group A: odd shapes; group B: size 1, 0-d, a (2, 3) whose grad is None on even steps, size 0
SHAPES_A = [(3, 5), (7,)]
SHAPES_B = [(1,), (), (2, 3), (0,)]
NO_GRAD_ON_EVEN = 4  # index of the (2, 3) parameter
STEPS = 10

# case -> (class, constructor keywords, group B's own hyper-parameters)
CASES = {
    "adadelta": ("Adadelta", {}, dict(lr=0.5)),
    "adadelta_wd_rho": (
        "Adadelta",
        dict(lr=2.0, rho=0.5, eps=1e-3, weight_decay=0.1),
        dict(rho=0.95, weight_decay=0.0),
    ),
    "adadelta_maximize": ("Adadelta", dict(maximize=True, rho=1.0), dict(rho=0.0, lr=0.3)),
    "adamax": ("Adamax", dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-4)),
    "adamax_wd_small_beta": (
        "Adamax",
        dict(lr=2e-2, betas=(0.3, 0.7), weight_decay=0.05),
        dict(weight_decay=0.0, betas=(0.0, 0.0)),
    ),
    "adamax_maximize": ("Adamax", dict(lr=1e-2, maximize=True), dict(maximize=False)),
    "nadam": ("NAdam", dict(lr=1e-2), dict(lr=4e-3, betas=(0.8, 0.9))),
    "nadam_wd": ("NAdam", dict(lr=1e-2, weight_decay=0.1), dict(weight_decay=0.0)),
    "nadam_decoupled": (
        "NAdam",
        dict(lr=1e-2, weight_decay=0.2, decoupled_weight_decay=True),
        dict(decoupled_weight_decay=False, lr=2e-2),
    ),
    "nadam_momentum_decay": (
        "NAdam",
        dict(lr=1e-2, momentum_decay=0.5, betas=(0.3, 0.6)),
        dict(momentum_decay=0.0, maximize=True),
    ),
    "radam": ("RAdam", dict(lr=1e-2), dict(lr=3e-3, eps=1e-6)),
    "radam_low_beta2": ("RAdam", dict(lr=1e-2, betas=(0.9, 0.9)), dict(betas=(0.2, 0.6))),
    "radam_wd": (
        "RAdam",
        dict(lr=1e-2, weight_decay=0.1, betas=(0.4, 0.95)),
        dict(weight_decay=0.3, decoupled_weight_decay=True),
    ),
    "radam_maximize": ("RAdam", dict(lr=1e-2, maximize=True, betas=(0.5, 0.8)), {}),
    "asgd": ("ASGD", dict(lr=0.05), dict(lr=0.01)),
    "asgd_averaging": (
        "ASGD",
        dict(lr=0.05, t0=2, lambd=0.1, alpha=0.5),
        dict(t0=0.0, lambd=1e-3, alpha=1.0, lr=0.1),
    ),
    "asgd_wd_maximize": (
        "ASGD",
        dict(lr=0.03, weight_decay=0.1, maximize=True, t0=4),
        dict(weight_decay=0.0, maximize=False),
    ),
    "rprop": ("Rprop", dict(lr=0.05), dict(lr=0.2)),
    "rprop_etas_clamped": (
        "Rprop",
        dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(5e-3, 0.02)),
        dict(etas=(0.9, 3.0), step_sizes=(0.5, 0.1)),  # min > max: clamped to max, as torch
    ),
    "rprop_maximize": ("Rprop", dict(lr=0.05, maximize=True), dict(maximize=False)),
}


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES_A + SHAPES_B] + [rng.standard_normal(4)]


def _pair_params(dtype=np.float64, seed=0):
    """The same parameters in both libraries; the last one never gets a gradient."""
    arrs = [a.astype(dtype) for a in _arrays(seed)]
    ours = [dg.tensor(a.copy(), requires_grad=True) for a in arrs]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrs]
    return ours, theirs


def _groups(params, over):
    na = len(SHAPES_A)
    return [{"params": params[:na]}, {"params": params[na:], **over}]


def _make(case, ours, theirs):
    cls, kw, over = CASES[case]
    return (
        getattr(dg.optim, cls)(_groups(ours, over), **kw),
        getattr(torch.optim, cls)(_groups(theirs, over), **kw),
    )


def _grads(step, dtype=np.float64, seed=1, scale=1.0):
    """One step's gradients. Each has a sign pattern that repeats or flips (Rprop's cases);
    the (2, 3) parameter gets none on even steps, the last parameter never."""
    rng = np.random.default_rng([seed, step])
    gs = [(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES_A + SHAPES_B]
    if step % 2 == 0:
        gs[NO_GRAD_ON_EVEN] = None
    return gs + [None]


def _set_grads(ours, theirs, gs):
    for p, pt, g in zip(ours, theirs, gs):
        p.grad = None if g is None else g.copy()
        pt.grad = None if g is None else torch.tensor(g.copy())


def _num(v):
    """A state value as a float64 numpy array (ours: array or int; torch's: a tensor)."""
    if isinstance(v, torch.Tensor):
        v = v.detach().numpy()
    return np.asarray(v, dtype=np.float64)


def _compare_params(ours, theirs, tol, what):
    for i, (p, pt) in enumerate(zip(ours, theirs)):
        assert p.data.dtype == pt.detach().numpy().dtype
        assert_close(p.data, pt.detach().numpy(), **tol, name=f"param {i} {what}")


def _compare_state(sd, tsd, tol, what, equal_nan=False):
    """Every state key and value of ours against torch's state_dict."""
    assert set(sd["state"]) == set(tsd["state"]), what
    for idx, st in tsd["state"].items():
        mine = sd["state"][idx]
        assert set(mine) == set(st), f"{what}: state[{idx}] keys"
        for k, v in st.items():
            if k != "step":
                assert mine[k].dtype == v.numpy().dtype, f"{what}: state[{idx}][{k}] dtype"
                assert mine[k].shape == tuple(v.shape), f"{what}: state[{idx}][{k}] shape"
            assert_close(
                _num(mine[k]),
                _num(v),
                **tol,
                equal_nan=equal_nan,
                name=f"state[{idx}][{k!r}] {what}",
            )


def _run(o, t, ours, theirs, steps, tol, dtype=np.float64, scale=1.0, equal_nan=False):
    for step in steps:
        _set_grads(ours, theirs, _grads(step, dtype, scale=scale))
        o.step()
        t.step()
        _compare_params(ours, theirs, tol, f"after step {step}")
        _compare_state(o.state_dict(), t.state_dict(), tol, f"after step {step}", equal_nan)


# ---- trajectories ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_and_state_match_torch_float64(case):
    ours, theirs = _pair_params()
    o, t = _make(case, ours, theirs)
    never = ours[-1].data.copy()
    _run(o, t, ours, theirs, range(STEPS), TOL64)
    np.testing.assert_array_equal(ours[-1].data, never)
    assert ours[-1] not in o.state


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_and_state_match_torch_float32(case):
    ours, theirs = _pair_params(np.float32)
    o, t = _make(case, ours, theirs)
    _run(o, t, ours, theirs, range(STEPS), TOL32, dtype=np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    ours, theirs = _pair_params()
    o = getattr(dg.optim, name)(ours)
    t = getattr(torch.optim, name)(theirs)
    _run(o, t, ours, theirs, range(STEPS), TOL64)


@pytest.mark.parametrize("name", NAMES)
def test_foreach_and_capturable_are_accepted_and_change_nothing(name):
    """foreach=True (torch's multi-tensor code on CPU) gives the numbers of our one
    implementation; capturable=True is accepted and ignored."""
    ours, theirs = _pair_params()
    o = getattr(dg.optim, name)(ours, lr=0.01, foreach=True, capturable=True)
    t = getattr(torch.optim, name)(theirs, lr=0.01, foreach=True)
    assert o.param_groups[0]["foreach"] is True and o.param_groups[0]["capturable"] is True
    # torch's foreach ASGD computes its new eta from the float32 step tensor in float32
    # arithmetic (its single-tensor code in float64, then rounds): they agree to float32 only
    tol = dict(rtol=1e-6, atol=1e-9) if name == "ASGD" else TOL64
    for step in range(STEPS):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
        _compare_params(ours, theirs, tol, f"after step {step}")


@pytest.mark.parametrize("case", ["adadelta_wd_rho", "adamax", "nadam_wd", "radam", "asgd"])
def test_huge_and_infinite_gradients_match_torch_without_warnings(case):
    """Gradients of 1e200 (their squares overflow) and an inf: the same infs and NaNs as
    torch, and no numpy warning (pytest turns warnings into errors)."""
    ours, theirs = _pair_params()
    o, t = _make(case, ours, theirs)
    for step in range(3):
        gs = _grads(step, scale=1e200)
        gs[0][0, 0] = np.inf
        _set_grads(ours, theirs, gs)
        o.step()
        t.step()
        for p, pt in zip(ours, theirs):
            assert_close(p.data, pt.detach().numpy(), **TOL64, equal_nan=True)
        _compare_state(o.state_dict(), t.state_dict(), TOL64, f"step {step}", equal_nan=True)


def test_rprop_nan_gradient_matches_torch():
    ours, theirs = _pair_params()
    o, t = _make("rprop", ours, theirs)
    for step in range(4):
        gs = _grads(step)
        gs[1][2] = np.nan
        _set_grads(ours, theirs, gs)
        o.step()
        t.step()
        for p, pt in zip(ours, theirs):
            assert_close(p.data, pt.detach().numpy(), **TOL64, equal_nan=True)
        _compare_state(o.state_dict(), t.state_dict(), TOL64, f"step {step}", equal_nan=True)


def test_each_step_bumps_the_version_of_the_updated_parameters_only():
    ours, _ = _pair_params()
    o = dg.optim.NAdam(ours)
    before = [p._version[0] for p in ours]
    for p, g in zip(ours, _grads(0)):
        p.grad = g
    o.step()
    bumped = [p._version[0] - b for p, b in zip(ours, before)]
    assert bumped == [0 if g is None else 1 for g in _grads(0)]


def test_step_returns_the_closure_loss():
    ours, _ = _pair_params()
    o = dg.optim.Rprop(ours)
    assert o.step(lambda: 3.5) == 3.5
    assert o.step() is None


# ---- constructor, param_groups and state layout ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_torchs(name):
    mine = inspect.signature(getattr(dg.optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert list(mine) == list(theirs)
    for k, p in theirs.items():
        assert mine[k].kind == p.kind, k
        assert mine[k].default == p.default, k


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_layout_is_torchs(case):
    ours, theirs = _pair_params()
    o, t = _make(case, ours, theirs)
    for step in range(3):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
    sd, tsd = o.state_dict(), t.state_dict()
    assert len(sd["param_groups"]) == len(tsd["param_groups"])
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert set(g) == set(tg)
        for k, v in tg.items():
            assert g[k] == (list(v) if isinstance(v, tuple) else v), k
    assert set(o.defaults) == set(t.defaults)
    _compare_state(sd, tsd, TOL64, "layout")


# ---- state_dict round trips ------------------------------------------------------------------


def _torch_state(sd):
    """Our state_dict with tensors for arrays (torch's load_state_dict takes tensors)."""
    sd = copy.deepcopy(sd)
    for st in sd["state"].values():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                st[k] = torch.from_numpy(v)
    return sd


def _np(p):
    return p.detach().numpy() if isinstance(p, torch.Tensor) else p.data


def _fresh(case, params, lib):
    """A fresh optimizer of case's class (another lr) on copies of params, in lib."""
    if lib is dg:
        ps = [dg.tensor(_np(p).copy(), requires_grad=True) for p in params]
    else:
        ps = [torch.tensor(_np(p).copy(), requires_grad=True) for p in params]
    return ps, getattr(lib.optim, CASES[case][0])([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trips_continue_as_torch(case, dtype):
    """Half-way, both libraries save and load into fresh optimizers (torch casts its scalar
    states to the parameter's dtype on load: so do we); then ours-from-ours, ours-from-torch's
    and torch-from-ours continue exactly as torch-from-torch."""
    tol = TOL64 if dtype == np.float64 else TOL32
    ours, theirs = _pair_params(dtype)
    o, t = _make(case, ours, theirs)
    half = STEPS // 2
    for step in range(half):
        _set_grads(ours, theirs, _grads(step, dtype))
        o.step()
        t.step()
    sd, tsd = o.state_dict(), t.state_dict()
    ref_ps, ref = _fresh(case, theirs, torch)
    ref.load_state_dict(copy.deepcopy(tsd))
    runs = []
    for src, lib in ((sd, dg), (tsd, dg), (_torch_state(sd), torch)):
        ps, opt = _fresh(case, ours, lib)
        opt.load_state_dict(copy.deepcopy(src))
        runs.append((ps, opt))
    assert runs[0][1].state_dict()["param_groups"] == sd["param_groups"]
    for step in range(half, STEPS):
        gs = _grads(step, dtype)
        for ps, opt in [(ref_ps, ref), *runs]:
            for p, g in zip(ps, gs):
                if g is None:
                    p.grad = None
                else:
                    p.grad = torch.tensor(g.copy()) if isinstance(p, torch.Tensor) else g.copy()
            opt.step()
        for k, (ps, _) in enumerate(runs):
            for i, (p, pr) in enumerate(zip(ps, ref_ps)):
                assert_close(_np(p), _np(pr), **tol, name=f"run {k} param {i} step {step}")
    for _, opt in runs:
        _compare_state(_ours_sd(opt), ref.state_dict(), tol, "resumed")


def _ours_sd(opt):
    """A state_dict whose arrays are numpy arrays, from either library."""
    sd = opt.state_dict()
    if isinstance(opt, torch.optim.Optimizer):
        sd = copy.deepcopy(sd)
        for st in sd["state"].values():
            for k, v in st.items():
                st[k] = v.numpy() if k != "step" else float(v)
    return sd


def test_load_state_dict_checks_the_scalar_states():
    ours, theirs = _pair_params()
    o, t = _make("nadam", ours, theirs)
    _set_grads(ours, theirs, _grads(1))
    o.step()
    sd = o.state_dict()
    before = copy.deepcopy(sd)
    bad = copy.deepcopy(sd)
    bad["state"][0]["mu_product"] = np.ones(3)
    with pytest.raises(ValueError, match=r"NAdam\.load_state_dict: state\[0\]\['mu_product'\]"):
        o.load_state_dict(bad)
    bad["state"][0]["mu_product"] = "x"
    with pytest.raises(ValueError, match=r"state\[0\]\['mu_product'\]: expected a number"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][0]["exp_inf"] = bad["state"][0].pop("exp_avg")  # Adamax's key
    with pytest.raises(ValueError, match=r"NAdam\.load_state_dict: state\[0\].*'exp_inf'"):
        o.load_state_dict(bad)
    after = o.state_dict()
    _compare_state(after, _torch_state(before), dict(rtol=0, atol=0), "unchanged")


@pytest.mark.parametrize(
    "src,dst,key",
    [
        ("adamax", "nadam", "momentum_decay"),
        ("radam", "adadelta", "rho"),
        ("asgd", "rprop", "etas"),
        ("rprop", "asgd", "lambd"),
    ],
)
def test_a_state_dict_of_another_optimizer_class_is_refused(src, dst, key):
    ours, theirs = _pair_params()
    o_src, _ = _make(src, ours, theirs)
    o_dst, _ = _make(dst, ours, theirs)
    name = CASES[dst][0]
    with pytest.raises(ValueError, match=rf"{name}\.load_state_dict: param_groups\[0\].*'{key}'"):
        o_dst.load_state_dict(o_src.state_dict())


def test_radam_state_is_refused_by_adamax():
    """Adamax's group keys are a subset of RAdam's: its state keys tell them apart."""
    ours, theirs = _pair_params()
    o, _ = _make("radam", ours, theirs)
    _set_grads(ours, theirs, _grads(1))
    o.step()
    a = dg.optim.Adamax([{"params": ours[:2]}, {"params": ours[2:]}])
    with pytest.raises(ValueError, match=r"Adamax\.load_state_dict: state\[0\].*'exp_avg_sq'"):
        a.load_state_dict(o.state_dict())


# ---- an lr scheduler driving them ------------------------------------------------------------


@pytest.mark.parametrize("case", ["nadam", "asgd_averaging", "rprop", "adadelta"])
def test_step_lr_drives_the_optimizer_as_torch(case):
    ours, theirs = _pair_params()
    o, t = _make(case, ours, theirs)
    s = dg.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
    ts = torch.optim.lr_scheduler.StepLR(t, step_size=3, gamma=0.5)
    for step in range(STEPS):
        _set_grads(ours, theirs, _grads(step))
        o.step()
        t.step()
        s.step()
        ts.step()
        assert_close(np.array(s.get_last_lr()), np.array(ts.get_last_lr()), **TOL64, name="lr")
        _compare_params(ours, theirs, TOL64, f"after step {step}")
        _compare_state(o.state_dict(), t.state_dict(), TOL64, f"after step {step}")


# ---- bad arguments ---------------------------------------------------------------------------

BAD = [
    ("Adadelta", dict(lr=-1.0), ValueError, "lr"),
    ("Adadelta", dict(rho=1.5), ValueError, "rho"),
    ("Adadelta", dict(rho=-0.1), ValueError, "rho"),
    ("Adadelta", dict(eps=-1e-6), ValueError, "eps"),
    ("Adadelta", dict(weight_decay=-0.1), ValueError, "weight_decay"),
    ("Adadelta", dict(lr="fast"), TypeError, "lr"),
    ("Adamax", dict(lr=-1e-3), ValueError, "lr"),
    ("Adamax", dict(betas=(1.0, 0.9)), ValueError, "betas"),
    ("Adamax", dict(betas=(0.9, -0.5)), ValueError, "betas"),
    ("Adamax", dict(eps=-1.0), ValueError, "eps"),
    ("Adamax", dict(weight_decay=-1.0), ValueError, "weight_decay"),
    ("NAdam", dict(lr=float("nan")), ValueError, "lr"),
    ("NAdam", dict(betas=(-0.1, 0.9)), ValueError, "betas"),
    ("NAdam", dict(betas=(0.9, 1.0)), ValueError, "betas"),
    ("NAdam", dict(eps=-1e-8), ValueError, "eps"),
    ("NAdam", dict(weight_decay=-1e-2), ValueError, "weight_decay"),
    ("NAdam", dict(momentum_decay=-4e-3), ValueError, "momentum_decay"),
    ("RAdam", dict(lr=-1.0), ValueError, "lr"),
    ("RAdam", dict(betas=(0.9, 1.5)), ValueError, "betas"),
    ("RAdam", dict(eps=-1.0), ValueError, "eps"),
    ("RAdam", dict(weight_decay=-1.0), ValueError, "weight_decay"),
    ("ASGD", dict(lr=-0.01), ValueError, "lr"),
    ("ASGD", dict(weight_decay=-0.01), ValueError, "weight_decay"),
    ("Rprop", dict(lr=-0.01), ValueError, "lr"),
    ("Rprop", dict(etas=(0.0, 1.2)), ValueError, "etas"),
    ("Rprop", dict(etas=(0.5, 1.0)), ValueError, "etas"),
    ("Rprop", dict(etas=(1.2, 0.5)), ValueError, "etas"),
    ("Rprop", dict(etas=(-0.5, 1.2)), ValueError, "etas"),
]


@pytest.mark.parametrize(
    "name,kw,exc,arg", BAD, ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_arguments_raise_as_torch(name, kw, exc, arg):
    with pytest.raises(exc):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kw)
    with pytest.raises(exc, match=rf"^{name}: {arg}"):
        getattr(dg.optim, name)([dg.tensor(np.ones(2), requires_grad=True)], **kw)


@pytest.mark.parametrize("name", NAMES)
def test_bad_group_hyper_parameters_are_refused(name):
    p, q = (dg.tensor(np.ones(2), requires_grad=True) for _ in range(2))
    with pytest.raises(ValueError, match=rf"^{name}: param_groups\[1\]: lr: "):
        getattr(dg.optim, name)([{"params": [p]}, {"params": [q], "lr": -1.0}])
    o = getattr(dg.optim, name)([p])
    with pytest.raises(ValueError, match=rf"^{name}\.add_param_group: lr: "):
        o.add_param_group({"params": [q], "lr": -1.0})


@pytest.mark.parametrize("name", NAMES)
def test_flags_and_params_are_checked(name):
    p = dg.tensor(np.ones(2), requires_grad=True)
    cls = getattr(dg.optim, name)
    with pytest.raises(TypeError, match=rf"^{name}: maximize: expected a bool"):
        cls([p], maximize="yes")
    with pytest.raises(TypeError, match=rf"^{name}: foreach: expected a bool"):
        cls([p], foreach="yes")
    # torch would record a differentiable step in autograd; deltagrad's steps are not recorded
    with pytest.raises(ValueError, match=rf"^{name}: differentiable: differentiable=True"):
        cls([p], differentiable=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([])
    with pytest.raises(TypeError, match="single Tensor"):
        cls(p)


def test_pair_arguments_must_be_pairs_of_numbers():
    p = dg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"^Rprop: step_sizes: expected a pair"):
        dg.optim.Rprop([p], step_sizes=1e-6)
    with pytest.raises(TypeError, match=r"^Rprop: step_sizes\[1\]: expected a real number"):
        dg.optim.Rprop([p], step_sizes=(1e-6, "big"))
    with pytest.raises(TypeError, match=r"^Rprop: etas: expected a pair"):
        dg.optim.Rprop([p], etas=(0.5, 1.2, 2.0))
    with pytest.raises(TypeError, match=r"^ASGD: t0: expected a real number"):
        dg.optim.ASGD([p], t0=None)
    with pytest.raises(TypeError, match=r"^NAdam: betas: expected a pair"):
        dg.optim.NAdam([p], betas=0.9)


@pytest.mark.parametrize(
    "name, kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("Adam", dict(lr=0.01, amsgrad=True)),
        ("AdamW", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
        ("Adagrad", dict(lr=0.1)),
        ("NAdam", dict(lr=0.01)),
    ],
)
def test_torch_state_dict_loads_into_every_optimizer(name, kw):
    """A state_dict saved by torch (its state as torch tensors) loads without a warning (numpy
    2 warned on np.array(tensor, copy=True), an error under pytest) and the run continues as
    torch's, the fused optimizers (SGD, Adam, AdamW) included."""
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(6)]
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = getattr(torch.optim, name)([tp], **kw)
    for g in grads[:3]:
        tp.grad = torch.tensor(g)
        topt.step()
    p = dg.nn.Parameter(dg.tensor(tp.detach().numpy().copy()))
    opt = getattr(dg.optim, name)([p], **kw)
    opt.load_state_dict(topt.state_dict())
    # the reference reloads too: torch casts NAdam's float32 mu_product to the parameter's dtype
    # on load, so a reloaded torch run differs from the uninterrupted one in the last bits
    sd = topt.state_dict()
    tp = torch.nn.Parameter(tp.detach().clone())
    topt = getattr(torch.optim, name)([tp], **kw)
    topt.load_state_dict(sd)
    for g in grads[3:]:
        tp.grad = torch.tensor(g)
        topt.step()
        p.grad = dg.tensor(g)
        opt.step()
    assert_close(p.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
