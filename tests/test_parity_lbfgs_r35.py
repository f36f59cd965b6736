"""deltagrad.optim.LBFGS against torch.optim.LBFGS 2.13 (round 35): on float64 problems (a
quadratic, Rosenbrock over two parameters, least squares and logistic regression with
nn.Linear) the parameters, every loss the closure computed, the number of closure calls and
the whole state (func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad,
prev_loss, al) equal torch's over several step() calls, with and without the strong-Wolfe line
search, with a history of 3 that wraps, and with max_iter, max_eval, tolerance_grad and
tolerance_change each ending a step; float32 to ~1e-5; state_dict round trips (ours, and
torch's loaded into ours) continuing identically; the bad arguments torch refuses."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")

# torch's LBFGS calls float() on the closure's loss, which requires grad: torch 2.13 warns
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")

RTOL, ATOL = 1e-10, 1e-13
STATE_KEYS = {
    "func_evals",
    "n_iter",
    "d",
    "t",
    "old_dirs",
    "old_stps",
    "ro",
    "H_diag",
    "prev_flat_grad",
    "prev_loss",
    "al",
}


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, dg.Tensor):
        return np.asarray(x.data)
    return np.asarray(x)


def _close(a, b, rtol=RTOL, atol=ATOL, what=""):
    """a == b to rtol, elementwise and relative to b's largest element (a direction's small
    components are differences of nearly equal numbers: rounding makes them relatively
    larger), plus atol."""
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol + rtol * scale, err_msg=what)


# ---- the problems: build(lib, dtype) -> (params, loss_fn), the same numbers in both ---------


def _tensor(lib, a, requires_grad=False):
    if lib is torch:
        return torch.tensor(a, requires_grad=requires_grad)
    return dg.tensor(a, requires_grad=requires_grad)


def _quadratic(lib, dtype, seed=0):
    """0.5 x'Ax - b'x, A symmetric positive definite (condition 50), x of 13 elements."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((13, 13)))
    a = (q * np.linspace(0.2, 10.0, 13)) @ q.T
    b = rng.standard_normal(13)
    x = _tensor(lib, rng.standard_normal(13).astype(dtype), True)
    a_t, b_t = _tensor(lib, a.astype(dtype)), _tensor(lib, b.astype(dtype))
    return [x], lambda: 0.5 * (x * (a_t @ x)).sum() - (b_t * x).sum()


def _rosenbrock(lib, dtype, seed=0):
    """The 5-d Rosenbrock function of two parameters (shapes (3,) and (1, 2)) from near
    (-1.2, 1, ...): a curved valley, where the step length and the history matter."""
    rng = np.random.default_rng(seed)
    start = np.array([-1.2, 1.0, -0.5, 0.8, 1.1]) + 0.05 * rng.standard_normal(5)
    a = _tensor(lib, start[:3].astype(dtype), True)
    b = _tensor(lib, start[3:].reshape(1, 2).astype(dtype), True)

    def loss():
        x = lib.cat([a, b.reshape(-1)])
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()

    return [a, b], loss


def _least_squares(lib, dtype, seed=0):
    """mean((X W' + c - Y)^2) with nn.Linear(5, 3) on 17 samples."""
    rng = np.random.default_rng(seed)
    x_np, y_np = rng.standard_normal((17, 5)), rng.standard_normal((17, 3))
    w, c = rng.standard_normal((3, 5)), rng.standard_normal(3)
    nn_mod = torch.nn if lib is torch else dg.nn
    lin = nn_mod.Linear(5, 3)
    if lib is torch:
        lin = lin.double() if dtype == np.float64 else lin
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(c))
        func = torch.nn.functional
    else:
        lin = nn_mod.Linear(5, 3, dtype=dtype)
        lin.weight.data[...] = w
        lin.bias.data[...] = c
        func = F
    x_t, y_t = _tensor(lib, x_np.astype(dtype)), _tensor(lib, y_np.astype(dtype))
    return list(lin.parameters()), lambda: func.mse_loss(lin(x_t), y_t)


def _logistic(lib, dtype, seed=0):
    """Logistic regression (nn.Linear(4, 1), 23 samples, BCE with logits) plus 0.01 |w|^2."""
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal((23, 4))
    y_np = (x_np @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.standard_normal(23) > 0).astype(float)
    w, c = 0.3 * rng.standard_normal((1, 4)), 0.3 * rng.standard_normal(1)
    if lib is torch:
        lin = torch.nn.Linear(4, 1)
        lin = lin.double() if dtype == np.float64 else lin
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(c))
        func = torch.nn.functional
    else:
        lin = dg.nn.Linear(4, 1, dtype=dtype)
        lin.weight.data[...] = w
        lin.bias.data[...] = c
        func = F
    x_t, y_t = _tensor(lib, x_np.astype(dtype)), _tensor(lib, y_np.reshape(23, 1).astype(dtype))

    def loss():
        bce = func.binary_cross_entropy_with_logits(lin(x_t), y_t)
        return bce + 0.01 * (lin.weight**2).sum()

    return list(lin.parameters()), loss


def _near_minimum(lib, dtype, offset):
    """0.5 sum(w (x - c)^2) from c + offset * (random of norm ~1): the gradient's size is
    ~offset, gtd ~ -offset^2 on the first iteration."""
    rng = np.random.default_rng(5)
    w, c = np.linspace(0.5, 2.0, 6), rng.standard_normal(6)
    x = _tensor(lib, (c + offset * rng.standard_normal(6)).astype(dtype), True)
    w_t, c_t = _tensor(lib, w.astype(dtype)), _tensor(lib, c.astype(dtype))
    return [x], lambda: 0.5 * (w_t * (x - c_t) ** 2).sum()


PROBLEMS = {
    "quadratic": _quadratic,
    "rosenbrock": _rosenbrock,
    "least_squares": _least_squares,
    "logistic": _logistic,
}


class _Run:
    """One library's optimizer on one problem, recording every loss its closure computed."""

    def __init__(self, lib, problem, dtype=np.float64, **kw):
        self.lib = lib
        build = PROBLEMS[problem] if isinstance(problem, str) else problem
        self.params, self.loss_fn = build(lib, dtype)
        optim = torch.optim if lib is torch else dg.optim
        self.opt = optim.LBFGS(self.params, **kw)
        self.losses = []

    def closure(self):
        self.opt.zero_grad()
        loss = self.loss_fn()
        loss.backward()
        self.losses.append(float(loss))
        return loss

    def step(self):
        return float(self.opt.step(self.closure))


def _check_state(ours, theirs, rtol=RTOL, atol=ATOL):
    s, t = ours.opt.state[ours.params[0]], theirs.opt.state[theirs.params[0]]
    assert set(s) == set(t)
    assert len(ours.opt.state) == len(theirs.opt.state) == 1
    for key in s:
        a, b = s[key], t[key]
        if key in ("func_evals", "n_iter"):
            assert a == b, key
        elif isinstance(b, list):
            assert len(a) == len(b), key
            assert [x is None for x in a] == [y is None for y in b], key
            pairs = [(x, y) for x, y in zip(a, b) if y is not None]
            if key in ("ro", "al"):  # the coefficients of one sum: relative to the largest
                _close([x for x, _ in pairs], [float(y) for _, y in pairs], rtol, atol, key)
            else:
                for i, (x, y) in enumerate(pairs):
                    _close(x, y, rtol, atol, f"{key}[{i}]")
        elif b is None:
            assert a is None, key
        else:
            _close(a, b, rtol, atol, key)


def _compare(problem, steps, dtype=np.float64, rtol=RTOL, atol=ATOL, **kw):
    ours = _Run(dg, problem, dtype, **kw)
    theirs = _Run(torch, problem, dtype, **kw)
    for k in range(steps):
        lo, lt = ours.step(), theirs.step()
        assert len(ours.losses) == len(theirs.losses), (k, ours.losses, theirs.losses)
        _close(lo, lt, rtol, atol, f"step {k}: returned loss")
        _close(ours.losses, theirs.losses, rtol, atol, f"step {k}: losses")
        for i, (p, q) in enumerate(zip(ours.params, theirs.params)):
            _close(p, q, rtol, atol, f"step {k}: params[{i}]")
        _check_state(ours, theirs, rtol, atol)
    return ours, theirs


# ---- trajectories ----------------------------------------------------------------------------

LINE_SEARCH = [None, "strong_wolfe"]


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_trajectory_matches_torch(problem, line_search_fn):
    """3 steps of 3 iterations: far enough from the minimum for 1e-10 (closer, the direction
    is made of differences of nearly equal gradients; see test_rosenbrock_converges)."""
    lr = 1.0 if line_search_fn else {"rosenbrock": 0.1}.get(problem, 0.5)
    ours, _ = _compare(problem, 3, lr=lr, max_iter=3, max_eval=20, line_search_fn=line_search_fn)
    assert ours.opt.state[ours.params[0]]["n_iter"] == 9


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
@pytest.mark.parametrize("problem", ["rosenbrock", "logistic"])
def test_small_history_wraps(problem, line_search_fn):
    lr = 1.0 if line_search_fn else 0.05
    ours, _ = _compare(
        problem, 3, lr=lr, max_iter=3, max_eval=20, history_size=3, line_search_fn=line_search_fn
    )
    st = ours.opt.state[ours.params[0]]
    assert len(st["old_dirs"]) == 3 and len(st["al"]) == 3 and st["n_iter"] == 9


@pytest.mark.parametrize(
    "problem, lr", [("rosenbrock", 100.0), ("rosenbrock", 1000.0), ("logistic", 1000.0)]
)
def test_line_search_zoom(problem, lr):
    """A first trial step far too long: the line search brackets, then zooms (the cubic's
    both orientations, a bracket's end moved, the insufficient-progress rule, a bracket too
    small to go on)."""
    _compare(problem, 2, lr=lr, max_iter=3, max_eval=20, line_search_fn="strong_wolfe")


@pytest.mark.parametrize("max_eval", [0, 1, 2, 3])
def test_line_search_out_of_evaluations(max_eval):
    """max_eval - evaluations so far bounds the line search (max_ls): 1 and 2 end it in the
    bracketing phase. max_eval=0 leaves torch's bracket unbound (an UnboundLocalError);
    deltagrad's line search then takes its one evaluation, as with max_eval=1."""
    if max_eval == 0:
        ours = _Run(dg, "rosenbrock", lr=100.0, max_eval=0, line_search_fn="strong_wolfe")
        ref = _Run(dg, "rosenbrock", lr=100.0, max_eval=1, line_search_fn="strong_wolfe")
        for _ in range(2):
            ours.step()
            ref.step()
        assert ours.losses == ref.losses
        for p, q in zip(ours.params, ref.params):
            np.testing.assert_array_equal(p.data, q.data)
        theirs = _Run(torch, "rosenbrock", lr=100.0, max_eval=0, line_search_fn="strong_wolfe")
        with pytest.raises(UnboundLocalError):
            theirs.step()
        return
    _compare("rosenbrock", 3, lr=100.0, max_eval=max_eval, line_search_fn="strong_wolfe")


def test_rosenbrock_converges_with_strong_wolfe():
    """Many iterations (max_eval ends the steps), to Rosenbrock's minimum at all ones. Near
    it the losses go to 0 and the line search interpolates between losses equal to 8 digits:
    the last bits of the losses (deltagrad's sums round differently) show at 1e-8."""
    ours, _ = _compare(
        "rosenbrock", 3, rtol=1e-7, atol=1e-12, max_iter=40, line_search_fn="strong_wolfe"
    )
    x = np.concatenate([_np(p).reshape(-1) for p in ours.params])
    np.testing.assert_allclose(x, np.ones(5), atol=1e-4)


def test_float32_matches_torch():
    for line_search_fn in LINE_SEARCH:
        _compare(
            "quadratic",
            2,
            np.float32,
            rtol=1e-5,
            atol=1e-6,
            lr=0.5,
            max_iter=3,
            line_search_fn=line_search_fn,
        )
    ours = _Run(dg, "quadratic", np.float32, max_iter=3)
    ours.step()
    st = ours.opt.state[ours.params[0]]
    assert st["d"].dtype == np.float32 and st["prev_flat_grad"].dtype == np.float32
    assert ours.params[0].data.dtype == np.float32


# ---- the stopping rules ------------------------------------------------------------------------


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_max_iter_ends_the_step(line_search_fn):
    ours, _ = _compare(
        "rosenbrock", 3, lr=0.1, max_iter=3, max_eval=100, line_search_fn=line_search_fn
    )
    assert ours.opt.state[ours.params[0]]["n_iter"] == 9
    if line_search_fn is None:  # max_iter iterations, max_iter closure calls (none after)
        assert len(ours.losses) == 9


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_max_eval_ends_the_step(line_search_fn):
    ours, _ = _compare(
        "rosenbrock", 3, lr=0.1, max_iter=50, max_eval=4, line_search_fn=line_search_fn
    )
    assert ours.opt.state[ours.params[0]]["n_iter"] < 3 * 50
    if line_search_fn is None:
        assert len(ours.losses) == 12


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_tolerance_grad_ends_the_step(line_search_fn):
    # at once: the first gradient is below the tolerance (state: the counters only)
    ours, _ = _compare("quadratic", 2, tolerance_grad=1e3, line_search_fn=line_search_fn)
    assert set(ours.opt.state[ours.params[0]]) == {"func_evals", "n_iter"}
    assert len(ours.losses) == 2
    # after some iterations: the quadratic's gradient gets small
    ours, _ = _compare(
        "quadratic", 2, max_iter=100, tolerance_grad=1e-4, line_search_fn=line_search_fn
    )
    assert ours.opt.state[ours.params[0]]["n_iter"] < 100


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_tolerance_change_ends_the_step(line_search_fn):
    # a large tolerance_change: the loss or parameter change or gtd test ends each step early
    ours, _ = _compare(
        "logistic", 3, max_iter=30, tolerance_change=1e-3, line_search_fn=line_search_fn
    )
    assert ours.opt.state[ours.params[0]]["n_iter"] < 3 * 30


def test_tolerance_change_on_the_parameters():
    # a tiny lr: |d t| <= tolerance_change after the first iteration (evaluated, then ends)
    ours, _ = _compare("quadratic", 2, lr=1e-9, max_iter=10, tolerance_change=1e-6)
    st = ours.opt.state[ours.params[0]]
    assert st["n_iter"] == 2 and st["func_evals"] == 4


def test_tolerance_change_on_the_loss():
    """gtd ~ -1e-4 passes the descent test, |d t| ~ 6e-4 the parameters' one, but the loss
    changes by ~1e-5 < 2e-5: the loss rule ends the step after one iteration."""

    def problem(lib, dtype):
        return _near_minimum(lib, dtype, 3e-3)

    ours, _ = _compare(problem, 1, lr=0.1, tolerance_change=2e-5)
    st = ours.opt.state[ours.params[0]]
    assert st["n_iter"] == 1 and st["func_evals"] == 2
    assert abs(ours.losses[1] - ours.losses[0]) < 2e-5
    assert np.abs(st["d"] * st["t"]).max() > 2e-5


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_descent_test_ends_the_step(line_search_fn):
    """|g| ~ 1e-6 > tolerance_grad but gtd ~ -1e-12 > -tolerance_change: the first iteration
    ends before any step, the parameters do not move, one evaluation per step."""

    def problem(lib, dtype):
        return _near_minimum(lib, dtype, 1e-6)

    ours, _ = _compare(problem, 2, line_search_fn=line_search_fn)
    st = ours.opt.state[ours.params[0]]
    assert st["n_iter"] == 2 and st["func_evals"] == 2 and ours.losses[0] == ours.losses[1]


def test_converged_gtd_ends_the_step():
    # at the quadratic's minimum after a first step: gtd > -tolerance_change breaks
    ours, _ = _compare(
        "quadratic", 2, rtol=1e-8, max_iter=60, tolerance_grad=0.0, tolerance_change=1e-8
    )
    assert ours.opt.state[ours.params[0]]["n_iter"] < 120


def test_max_iter_zero_and_one():
    ours, _ = _compare("quadratic", 2, max_iter=0)
    assert ours.opt.state[ours.params[0]]["d"] is None and len(ours.losses) == 2
    for line_search_fn in LINE_SEARCH:
        _compare("rosenbrock", 3, max_iter=1, lr=0.1, line_search_fn=line_search_fn)


def test_default_max_eval_and_defaults():
    ours = dg.optim.LBFGS([dg.tensor(np.ones(2), requires_grad=True)], max_iter=9)
    theirs = torch.optim.LBFGS([torch.ones(2, requires_grad=True)], max_iter=9)
    g_o = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    g_t = {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
    assert g_o == g_t and g_o["max_eval"] == 11
    sig_o = inspect.signature(dg.optim.LBFGS.__init__).parameters
    sig_t = inspect.signature(torch.optim.LBFGS.__init__).parameters
    assert list(sig_o) == list(sig_t)
    assert all(sig_o[k].default == sig_t[k].default for k in sig_o if k != "params")
    assert "LBFGS" in dg.optim.__all__


# ---- parameters without a gradient, size-0 and 0-d parameters --------------------------------


def test_unused_and_odd_shaped_parameters():
    """A parameter with no gradient (zeros in the flat gradient), a 0-d and a size-0 one."""
    rng = np.random.default_rng(3)
    arrs = [rng.standard_normal(4), np.array(0.7), np.zeros((0, 3)), rng.standard_normal(2)]
    runs = []
    for lib in (dg, torch):
        ps = [_tensor(lib, a.copy(), True) for a in arrs]
        opt = (torch.optim if lib is torch else dg.optim).LBFGS(
            ps, max_iter=5, line_search_fn="strong_wolfe"
        )

        def closure(ps=ps, opt=opt):
            opt.zero_grad()
            loss = ((ps[0] - 1.0) ** 4).sum() + (ps[1] * ps[0]).sum() ** 2 + ps[2].sum()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        runs.append((ps, opt))
    (ps_o, opt_o), (ps_t, opt_t) = runs
    for p, q in zip(ps_o, ps_t):
        _close(p, q)
    np.testing.assert_array_equal(_np(ps_o[3]), arrs[3])  # no gradient: never moved
    assert opt_o.state[ps_o[0]]["d"].shape == (4 + 1 + 0 + 2,)


# ---- state_dict ------------------------------------------------------------------------------


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_state_dict_round_trip_continues_identically(line_search_fn):
    kw = dict(lr=0.1 if line_search_fn is None else 1.0, max_iter=4, history_size=3)
    kw["line_search_fn"] = line_search_fn
    ref = _Run(dg, "rosenbrock", **kw)
    for _ in range(2):
        ref.step()
    sd = ref.opt.state_dict()
    assert set(sd["state"]) == {0} and set(sd["state"][0]) == STATE_KEYS
    saved = copy.deepcopy(sd)
    # a fresh optimizer on parameters at the same point, loaded from the state_dict
    other = _Run(dg, "rosenbrock", **kw)
    for p, q in zip(other.params, ref.params):
        p.data[...] = q.data
    other.opt.load_state_dict(sd)
    done = len(ref.losses)
    for _ in range(2):
        ref.step()
        other.step()
        for p, q in zip(other.params, ref.params):
            np.testing.assert_array_equal(p.data, q.data)
    assert other.losses == ref.losses[done:]
    s_ref, s_other = ref.opt.state_dict()["state"][0], other.opt.state_dict()["state"][0]
    assert set(s_ref) == set(s_other) == STATE_KEYS
    for k, v in s_ref.items():
        if isinstance(v, list):
            assert len(v) == len(s_other[k])
            for x, y in zip(v, s_other[k]):
                assert (x is None and y is None) or np.array_equal(x, y), k
        else:
            assert np.array_equal(v, s_other[k]), k
    # the state_dict is a copy: stepping did not change it
    for k in ("d", "prev_flat_grad"):
        np.testing.assert_array_equal(sd["state"][0][k], saved["state"][0][k])
    # the loaded state is a copy too
    assert other.opt.state[other.params[0]]["d"] is not sd["state"][0]["d"]


def test_torch_state_dict_loads_into_ours():
    kw = dict(max_iter=3, history_size=3, line_search_fn="strong_wolfe")
    theirs = _Run(torch, "logistic", **kw)
    ours = _Run(dg, "logistic", **kw)
    theirs.step()
    for p, q in zip(ours.params, theirs.params):
        p.data[...] = _np(q)
    ours.opt.load_state_dict(theirs.opt.state_dict())
    ours.losses, theirs.losses = [], []
    for _ in range(2):
        _close(ours.step(), theirs.step())
        _close(ours.losses, theirs.losses)
        for p, q in zip(ours.params, theirs.params):
            _close(p, q)
    _check_state(ours, theirs)


def test_state_dict_without_iterations():
    """max_iter=0: the state's d, t, ... are None; saved and loaded (None is no state)."""
    ref = _Run(dg, "quadratic", max_iter=0)
    ref.step()
    sd = ref.opt.state_dict()
    assert sd["state"][0]["d"] is None and sd["state"][0]["func_evals"] == 1
    other = _Run(dg, "quadratic", max_iter=0)
    other.opt.load_state_dict(sd)
    assert other.opt.state[other.params[0]] == {"func_evals": 1, "n_iter": 0}


def test_load_state_dict_refuses_bad_state():
    ref = _Run(dg, "quadratic", max_iter=3)
    ref.step()
    sd = ref.opt.state_dict()
    other = _Run(dg, "quadratic", max_iter=3)
    bad = copy.deepcopy(sd)
    bad["state"][0]["d"] = np.ones(3)
    with pytest.raises(ValueError, match="'d'"):
        other.opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][0]["old_dirs"] = np.ones(7)
    with pytest.raises(TypeError, match="old_dirs"):
        other.opt.load_state_dict(bad)
    for key, value, err in [
        ("t", np.ones(2), ValueError),
        ("H_diag", True, TypeError),
        ("n_iter", -1, ValueError),
        ("ro", [np.ones(3)], ValueError),
    ]:
        bad = copy.deepcopy(sd)
        bad["state"][0][key] = value
        with pytest.raises(err, match=key):
            other.opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][0]["momentum_buffer"] = np.ones(7)
    with pytest.raises(ValueError, match="momentum_buffer"):
        other.opt.load_state_dict(bad)
    assert not other.opt.state  # nothing loaded


# ---- arguments -------------------------------------------------------------------------------


def test_two_param_groups_refused():
    a, b = (dg.tensor(np.ones(2), requires_grad=True) for _ in range(2))
    ta, tb = (torch.ones(2, requires_grad=True) for _ in range(2))
    with pytest.raises(ValueError, match="parameter groups"):
        torch.optim.LBFGS([{"params": [ta]}, {"params": [tb]}])
    with pytest.raises(ValueError, match="parameter groups"):
        dg.optim.LBFGS([{"params": [a]}, {"params": [b], "lr": 0.1}])
    opt = dg.optim.LBFGS([{"params": [a], "lr": 0.3}])  # one group of its own: fine
    assert opt.param_groups[0]["lr"] == 0.3
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [b]})


def test_closure_required():
    p = dg.tensor(np.ones(2), requires_grad=True)
    opt = dg.optim.LBFGS([p])
    with pytest.raises(TypeError):
        torch.optim.LBFGS([torch.ones(2, requires_grad=True)]).step()
    with pytest.raises(TypeError):
        opt.step()
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)
    with pytest.raises(TypeError, match="closure"):
        opt.step(3.0)


def test_bad_line_search_fn():
    tp = torch.ones(2, requires_grad=True)
    topt = torch.optim.LBFGS([tp], line_search_fn="backtracking")  # torch: refused in step()

    def tclosure():
        topt.zero_grad()
        loss = (tp**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="strong_wolfe"):
        topt.step(tclosure)
    p = dg.tensor(np.ones(2), requires_grad=True)
    for fn in ("backtracking", "Strong_Wolfe", 1):
        opt = dg.optim.LBFGS([p], line_search_fn=fn)
        with pytest.raises(RuntimeError, match="strong_wolfe"):
            opt.step(lambda: (p**2).sum())
    np.testing.assert_array_equal(p.data, np.ones(2))  # nothing moved


@pytest.mark.parametrize(
    "kw, err",
    [
        (dict(lr=-0.1), ValueError),
        (dict(lr="a"), TypeError),
        (dict(max_iter=-1), ValueError),
        (dict(max_iter=2.5), TypeError),
        (dict(max_eval=-3), ValueError),
        (dict(history_size=0), ValueError),
        (dict(history_size=None), TypeError),
        (dict(tolerance_grad=-1.0), ValueError),
        (dict(tolerance_change=float("nan")), ValueError),
    ],
)
def test_bad_arguments(kw, err):
    with pytest.raises(err, match="LBFGS"):
        dg.optim.LBFGS([dg.tensor(np.ones(2), requires_grad=True)], **kw)


def test_negative_lr_as_torch():
    with pytest.raises(ValueError):
        torch.optim.LBFGS([torch.ones(2, requires_grad=True)], lr=-0.1)


def test_step_runs_the_closure_with_grad_enabled_and_hooks():
    p = dg.tensor(np.array([1.5, -0.5]), requires_grad=True)
    opt = dg.optim.LBFGS([p], max_iter=3)
    calls = []
    handle = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with dg.no_grad():
        loss = opt.step(closure)
    handle.remove()
    assert calls == ["pre"]
    assert isinstance(loss, dg.Tensor) and float(loss) == pytest.approx(2.5)
    assert np.all(np.abs(p.data) < np.array([1.5, 0.5]))
