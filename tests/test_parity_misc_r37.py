"""Round 37 against torch 2.13: dg.linalg.householder_product (forward, input and tau
gradients, empty and non-finite inputs, errors); nn.utils.parametrizations.orthogonal with
the "householder" map (square, tall, wide, batched; with and without trivialization;
right_inverse, gradients over SGD steps, torch's default map); copy.deepcopy of a
parametrized module (the copy shares the class, as torch, but registering or removing a
parametrization on one leaves the other working); the LR schedulers' get_lr() warning outside
step() and torch's private flags in their state_dicts."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad.nn.utils import parametrizations as DPZ
from deltagrad.nn.utils import parametrize as DP

torch = pytest.importorskip("torch")
tnn = torch.nn
TPZ = torch.nn.utils.parametrizations
TP = torch.nn.utils.parametrize

TOL = {"rtol": 1e-10, "atol": 1e-12}
GET_LR = "To get the last learning rate computed by the scheduler, please use `get_last_lr\\(\\)`"


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, dg.Tensor):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _close(a, b, **tol):
    np.testing.assert_allclose(_np(a), _np(b), **(tol or TOL))


# ---- householder_product ----------------------------------------------------------------------


def _hh_pair(a, tau):
    """torch's and deltagrad's householder_product of the same arrays, with their gradients
    under a random cotangent: (out_t, out_d, (grad_a_t, grad_a_d), (grad_tau_t, grad_tau_d))."""
    ta = torch.tensor(a, requires_grad=True)
    tt = torch.tensor(tau, requires_grad=True)
    da, dt = dg.tensor(a, requires_grad=True), dg.tensor(tau, requires_grad=True)
    ot = torch.linalg.householder_product(ta, tt)
    od = dg.linalg.householder_product(da, dt)
    g = np.random.default_rng(7).standard_normal(ot.shape).astype(a.dtype)
    (ot * torch.tensor(g)).sum().backward()
    (od * dg.tensor(g)).sum().backward()
    return ot, od, (ta.grad, da.grad), (tt.grad, dt.grad)


@pytest.mark.parametrize(
    "shape,k",
    [((5, 3), 3), ((5, 3), 2), ((5, 3), 1), ((4, 4), 4), ((2, 6, 3), 3), ((2, 3, 5, 2), 2),
     ((3, 1), 1), ((1, 1), 1), ((7, 2), 2)],
)  # fmt: skip
def test_householder_product_matches_torch(shape, k):
    rng = np.random.default_rng(sum(shape) + k)
    a = rng.standard_normal(shape)
    tau = rng.uniform(0.2, 1.8, (*shape[:-2], k))
    ot, od, (gat, gad), (gtt, gtd) = _hh_pair(a, tau)
    assert od.shape == tuple(ot.shape) and od.dtype == np.float64
    _close(od, ot)
    _close(gad, gat)
    _close(gtd, gtt)


def test_householder_product_reflections_are_orthogonal_and_large_values():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 4)) * 1e3
    a_low = np.tril(a, -1)
    tau = 2.0 / (1.0 + (a_low * a_low).sum(0))  # exact reflections: Q has orthonormal columns
    ot, od, (gat, gad), (gtt, gtd) = _hh_pair(a, tau)
    _close(od, ot)
    np.testing.assert_allclose(_np(od).T @ _np(od), np.eye(4), atol=1e-12)
    _close(gad, gat, rtol=1e-9, atol=1e-12)
    _close(gtd, gtt, rtol=1e-9, atol=1e-9)


def test_householder_product_reads_only_below_the_diagonal():
    """The diagonal and the upper triangle are not read (LAPACK's orgqr): inf / NaN there
    change nothing, and their gradient is zero, as torch; a NaN below propagates."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((5, 3))
    tau = rng.uniform(0.5, 1.5, 3)
    bad = a.copy()
    bad[0, 1], bad[1, 1], bad[0, 2] = np.inf, np.nan, -np.inf
    ot, od, (gat, gad), (gtt, gtd) = _hh_pair(bad, tau)
    _close(od, ot)
    _close(od, dg.linalg.householder_product(dg.tensor(a), dg.tensor(tau)))
    _close(gad, gat)
    assert gad[0, 1] == 0 and gad[1, 1] == 0
    _close(gtd, gtt)
    bad[3, 0] = np.nan
    ot, od, _, _ = _hh_pair(bad, tau)
    np.testing.assert_array_equal(np.isnan(_np(od)), np.isnan(_np(ot)))


def test_householder_product_float32():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 5, 4)).astype(np.float32)
    tau = rng.uniform(0.2, 1.8, (2, 4)).astype(np.float32)
    ot, od, (gat, gad), (gtt, gtd) = _hh_pair(a, tau)
    assert od.dtype == np.float32
    _close(od, ot, rtol=1e-5, atol=1e-6)
    _close(gad, gat, rtol=1e-5, atol=1e-5)
    _close(gtd, gtt, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,k", [((5, 3), 0), ((0, 4, 3), 3), ((3, 0), 0), ((2, 0, 0), 0)])
def test_householder_product_empty(shape, k):
    """No reflection or an empty result: the identity (or nothing), in the graph but giving
    no gradient (.grad stays None), as torch."""
    a = np.random.default_rng(6).standard_normal(shape)
    tau = np.ones((*shape[:-2], k))
    ot, od, (gat, gad), (gtt, gtd) = _hh_pair(a, tau)
    assert od.shape == tuple(ot.shape) and od.requires_grad
    np.testing.assert_array_equal(_np(od), _np(ot))
    assert gat is None and gad is None and gtt is None and gtd is None


def test_householder_product_gradcheck():
    rng = np.random.default_rng(8)
    a = dg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    tau = dg.tensor(rng.uniform(0.3, 1.5, (2, 2)), requires_grad=True)
    assert dg.gradcheck(dg.linalg.householder_product, (a, tau), atol=1e-7, rtol=1e-6)


def test_householder_product_errors():
    hp = dg.linalg.householder_product
    a, t3 = dg.tensor(np.ones((5, 3))), dg.tensor(np.ones(3))
    cases = [
        (dg.tensor(np.ones(3)), dg.tensor(np.ones(1)), "at least 2 dimensions"),
        (dg.tensor(np.ones((3, 5))), t3, r"input.shape\[-2\] must be greater"),
        (a, dg.tensor(np.ones(4)), r"input.shape\[-1\] must be greater"),
        (dg.tensor(np.ones((2, 5, 3))), t3, "one dimension less"),
        (dg.tensor(np.ones((2, 5, 3))), dg.tensor(np.ones((3, 3))), "batch dimensions"),
    ]
    for x, tau, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            hp(x, tau)
        with pytest.raises(RuntimeError, match=msg):  # torch fails the same way
            torch.linalg.householder_product(torch.tensor(_np(x)), torch.tensor(_np(tau)))
    with pytest.raises(TypeError, match="tau dtype"):
        hp(a, dg.tensor(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match="float32 or float64"):
        hp(dg.tensor(np.ones((5, 3), np.int64)), dg.tensor(np.ones(3, np.int64)))
    with pytest.raises(TypeError, match="input: expected a Tensor"):
        hp(np.ones((5, 3)), t3)
    with pytest.raises(TypeError, match="tau: expected a Tensor"):
        hp(a, None)


# ---- orthogonal(orthogonal_map="householder") -------------------------------------------------


def _orth_pair(shape, omap, triv, seed=0):
    """torch's and deltagrad's modules with a parameter of `shape` under orthogonal(); ours
    loaded with torch's state (its base, its random completion), both originals then moved
    off their initial value by the same perturbation of the reflectors."""
    w = np.random.default_rng(seed).standard_normal(shape)
    t, d = tnn.Module(), dnn.Module()
    t.weight = tnn.Parameter(torch.tensor(w))
    d.weight = dnn.Parameter(dg.tensor(w))
    TPZ.orthogonal(t, orthogonal_map=omap, use_trivialization=triv)
    DPZ.orthogonal(d, orthogonal_map=omap, use_trivialization=triv)
    sd = {k: _np(v).copy() for k, v in t.state_dict().items()}
    assert list(sd) == list(d.state_dict())
    key = "parametrizations.weight.original"
    _close(d.state_dict()[key], sd[key])  # the right_inverse at registration agrees
    # below the diagonal only: the householder map reads int(diagonal) as the signs
    sd[key] += 0.3 * np.tril(np.random.default_rng(seed + 1).standard_normal(shape), -1)
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    d.load_state_dict(sd)
    return t, d


ORTH_SHAPES = [(4, 4), (5, 3), (3, 5), (2, 5, 3), (2, 3, 5), (3, 1), (1, 3), (1, 1)]


@pytest.mark.parametrize("triv", [True, False])
@pytest.mark.parametrize("shape", ORTH_SHAPES)
def test_orthogonal_householder_forward_and_gradients(shape, triv):
    t, d = _orth_pair(shape, "householder", triv)
    rng = np.random.default_rng(2)
    to, do = t.parametrizations.weight.original, d.parametrizations.weight.original
    for _ in range(3):  # SGD steps on the original: the same path in both
        tw, dw = t.weight, d.weight
        _close(dw, tw)
        n, k = shape[-2:]
        m = _np(dw) if n >= k else np.swapaxes(_np(dw), -1, -2)
        eye = np.eye(min(n, k))
        np.testing.assert_allclose(np.swapaxes(m, -1, -2) @ m, np.broadcast_to(eye, m.shape[:-2]
                                   + eye.shape), atol=1e-12)  # fmt: skip
        g = rng.standard_normal(shape)
        (tw * torch.tensor(g)).sum().backward()
        (dw * dg.tensor(g)).sum().backward()
        _close(do.grad, to.grad, rtol=1e-10, atol=1e-11)
        with torch.no_grad():
            to -= 0.1 * to.grad
        to.grad = None
        do.data = do.data - 0.1 * do.grad
        do.grad = None


@pytest.mark.parametrize("triv", [True, False])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 5, 3), (2, 3, 5)])
def test_orthogonal_householder_assignment(shape, triv):
    """Assigning an orthogonal matrix runs right_inverse: with trivialization the original
    becomes -Id and the weight the matrix; without it the original holds geqrf's reflectors
    with R's signs on the diagonal (tau == 0: flipped), as torch."""
    t, d = _orth_pair(shape, "householder", triv)
    n, k = shape[-2:]
    tall = (*shape[:-2], max(n, k), min(n, k))
    q = np.linalg.qr(np.random.default_rng(9).standard_normal(tall))[0]
    q = q if n >= k else np.swapaxes(q, -1, -2)
    for value in (q, -q, np.broadcast_to(np.eye(n, k), shape).copy()):
        with torch.no_grad():
            t.weight = torch.tensor(value)
        d.weight = dg.tensor(value)
        _close(d.parametrizations.weight.original, t.parametrizations.weight.original)
        _close(d.weight, t.weight)
        _close(d.weight, value, atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6)])
def test_orthogonal_default_map(shape):
    """torch's default: matrix_exp for a square matrix, householder otherwise."""
    t = TPZ.orthogonal(tnn.Linear(shape[1], shape[0]))
    d = DPZ.orthogonal(dnn.Linear(shape[1], shape[0]))
    ours = d.parametrizations.weight[0].orthogonal_map.name
    assert ours == t.parametrizations.weight[0].orthogonal_map.name
    assert ours == ("matrix_exp" if shape[0] == shape[1] else "householder")


def test_orthogonal_householder_linear_training():
    """A Linear with the default (householder) map trained for a few SGD steps on the
    module's loss: outputs, weights and gradients follow torch's."""
    torch.manual_seed(0)
    t = tnn.Linear(3, 5).double()
    d = dnn.Linear(3, 5).double()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    TPZ.orthogonal(t)
    DPZ.orthogonal(d)
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    ot, od = torch.optim.SGD(t.parameters(), lr=0.05), dg.optim.SGD(d.parameters(), lr=0.05)
    x = np.random.default_rng(1).standard_normal((4, 3))
    for _ in range(4):
        yt, yd = t(torch.tensor(x)), d(dg.tensor(x))
        _close(yd, yt)
        (yt * yt).sum().backward()
        (yd * yd).sum().backward()
        for pt, pd in zip(t.parameters(), d.parameters()):
            _close(pd.grad, pt.grad, rtol=1e-9, atol=1e-12)
        ot.step()
        od.step()
        ot.zero_grad()
        od.zero_grad()
    _close(d.weight, t.weight)


# ---- deepcopy of a parametrized module --------------------------------------------------------


class _Double(dnn.Module):
    def forward(self, x):
        return x * 2.0


class _TDouble(tnn.Module):
    def forward(self, x):
        return x * 2.0


def _linear():
    d = dnn.Linear(3, 4).double()
    DP.register_parametrization(d, "weight", _Double())
    return d


def test_deepcopy_shares_the_class_as_torch():
    t = tnn.Linear(3, 4)
    TP.register_parametrization(t, "weight", _TDouble())
    assert type(copy.deepcopy(t)) is type(t)  # torch's behaviour, kept
    d = _linear()
    c = copy.deepcopy(d)
    assert type(c) is type(d) and type(c).__name__ == "ParametrizedLinear"
    _close(c.weight, d.weight)
    assert c.parametrizations.weight.original is not d.parametrizations.weight.original
    assert list(c.state_dict()) == list(d.state_dict())


def test_register_on_the_copy_leaves_the_original():
    """torch: registering on the copy makes the original's bias a KeyError; here both work."""
    d = _linear()
    keys = list(d.state_dict())
    c = copy.deepcopy(d)
    DP.register_parametrization(c, "bias", _Double())
    assert isinstance(d.bias, dnn.Parameter) and d.bias is d._parameters["bias"]
    assert list(d.state_dict()) == keys
    _close(c.bias, 2.0 * _np(d.bias))
    x = dg.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    _close(d(x), _np(x) @ (2.0 * _np(d.parametrizations.weight.original)).T + _np(d.bias))
    # the original's plain bias still takes assignment and deletion as a Module's attribute
    new = dnn.Parameter(dg.tensor(np.arange(4.0)))
    d.bias = new
    assert d.bias is new and d.state_dict()["bias"] is not None
    _close(c.bias, 2.0 * _np(c.parametrizations.bias.original))
    del d.bias
    assert "bias" not in d._parameters
    with pytest.raises(AttributeError):
        d.bias  # noqa: B018
    # the parametrized name still refuses deletion, as torch's property
    with pytest.raises(AttributeError, match="deleter"):
        del c.bias


def test_remove_on_the_copy_leaves_the_original():
    """torch: removing from the copy deletes the original's property (AttributeError); here
    the original keeps its parametrization."""
    d = _linear()
    c = copy.deepcopy(d)
    DP.remove_parametrizations(c, "weight")
    assert type(c) is dnn.Linear and type(d).__name__ == "ParametrizedLinear"
    _close(d.weight, 2.0 * _np(d.parametrizations.weight.original))
    _close(c.weight, d.weight)
    DP.remove_parametrizations(d, "weight", leave_parametrized=False)
    assert type(d) is dnn.Linear
    assert list(d.state_dict()) == ["bias", "weight"]


def test_copies_register_and_remove_in_any_order():
    d = _linear()
    c1, c2 = copy.deepcopy(d), copy.deepcopy(d)
    DP.register_parametrization(c1, "bias", _Double())
    DP.remove_parametrizations(d, "weight")  # c1, c2 still use the class's weight property
    _close(c1.weight, c2.weight)
    DP.remove_parametrizations(c1, "weight")  # c1 still parametrized (bias): keeps the class
    assert type(c1) is type(c2)
    assert isinstance(c1.weight, dnn.Parameter)
    _close(c2.weight, 2.0 * _np(c2.parametrizations.weight.original))
    DP.register_parametrization(c1, "weight", _Double())  # again, after its removal
    _close(c1.weight, 2.0 * _np(c1.parametrizations.weight.original))
    DP.remove_parametrizations(c2, "weight")
    _close(c1.weight, 2.0 * _np(c1.parametrizations.weight.original))
    assert type(d) is dnn.Linear and type(c2) is dnn.Linear
    with DP.cached():  # the cache is per module
        _close(c1.weight, 2.0 * _np(c1.parametrizations.weight.original))
        assert c1.weight is c1.weight


def test_deepcopy_inside_a_container_and_a_class_deepcopy():
    seq = dnn.Sequential(_linear(), dnn.Tanh())
    c = copy.deepcopy(seq)
    DP.remove_parametrizations(c[0], "weight")
    _close(seq[0].weight, 2.0 * _np(seq[0].parametrizations.weight.original))

    calls = []

    class Own(dnn.Linear):
        def __deepcopy__(self, memo):  # the module class's own deepcopy is used, as torch
            calls.append(1)
            new = Own.__new__(type(self))
            memo[id(self)] = new
            object.__setattr__(new, "__dict__", copy.deepcopy(self.__dict__, memo))
            return new

    o = Own(2, 2).double()
    DP.register_parametrization(o, "weight", _Double())
    oc = copy.deepcopy(o)
    assert calls == [1] and type(oc) is type(o)
    DP.remove_parametrizations(oc, "weight")
    _close(o.weight, 2.0 * _np(o.parametrizations.weight.original))


def test_pickle_refused_as_torch():
    d = _linear()
    c = copy.deepcopy(d)
    for m in (d, c):
        with pytest.raises(RuntimeError, match="state_dict"):
            pickle.dumps(m)
    t = tnn.Linear(2, 2)
    TP.register_parametrization(t, "weight", _TDouble())
    with pytest.raises(RuntimeError, match="state_dict"):
        pickle.dumps(t)
    DP.remove_parametrizations(c, "weight")
    back = pickle.loads(pickle.dumps(c))
    _close(back.weight, c.weight)


# ---- LR schedulers: get_lr() outside step(), torch's private flags ----------------------------


def _opt(lib):
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(2):
        arr = rng.standard_normal(3)
        p = (
            dg.tensor(arr, requires_grad=True)
            if lib is dg
            else torch.tensor(arr, dtype=torch.float64, requires_grad=True)
        )
        (p * p).sum().backward()
        ps.append(p)
    return lib.optim.SGD(
        [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.3}], lr=0.1, momentum=0.9
    )


SCHEDULERS = {
    "LambdaLR": {"lr_lambda": lambda e: 0.9**e},
    "MultiplicativeLR": {"lr_lambda": lambda e: 0.95},
    "StepLR": {"step_size": 2},
    "MultiStepLR": {"milestones": [1, 3, 3]},
    "ConstantLR": {"total_iters": 3},
    "LinearLR": {"total_iters": 4},
    "ExponentialLR": {"gamma": 0.9},
    "PolynomialLR": {"total_iters": 4, "power": 2.0},
    "CosineAnnealingLR": {"T_max": 5},
    "CosineAnnealingWarmRestarts": {"T_0": 3, "T_mult": 2},
    "OneCycleLR": {"max_lr": 1.0, "total_steps": 12},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3},
}


def _sched(lib, name):
    o = _opt(lib)
    return o, getattr(lib.optim.lr_scheduler, name)(o, **SCHEDULERS[name])


def _steps(o, s, n):
    for _ in range(n):
        o.step()
        s.step()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_get_lr_outside_step_warns_as_torch(name):
    (o, s), (to, ts) = _sched(dg, name), _sched(torch, name)
    _steps(o, s, 3)  # step() itself does not warn (warnings are errors here)
    _steps(to, ts, 3)
    with pytest.warns(UserWarning, match=GET_LR) as ours:
        lrs = s.get_lr()
    with pytest.warns(UserWarning, match=GET_LR):
        tlrs = ts.get_lr()
    assert len(ours) == 1
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12)
    assert s._get_lr_called_within_step is False


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_has_torch_keys_and_loads_both_ways(name):
    (o, s), (to, ts) = _sched(dg, name), _sched(torch, name)
    _steps(o, s, 4)
    _steps(to, ts, 4)
    ours, theirs = s.state_dict(), ts.state_dict()
    assert list(ours) == list(theirs)
    assert ours["_is_initial"] is False and ours["_get_lr_called_within_step"] is False
    # torch's state_dict into ours, ours into torch: both go on as the uninterrupted torch run
    (o2, s2), (to2, ts2) = _sched(dg, name), _sched(torch, name)
    s2.load_state_dict(copy.deepcopy(theirs))
    ts2.load_state_dict(copy.deepcopy(ours))
    for a, b in ((o2, o), (to2, o)):
        for ga, gb in zip(a.param_groups, b.param_groups):
            ga["lr"] = gb["lr"]
    for _ in range(5):
        for opt, sch in ((o2, s2), (to2, ts2), (to, ts)):
            opt.step()
            sch.step()
        ref = ts.get_last_lr()
        np.testing.assert_allclose(s2.get_last_lr(), ref, rtol=1e-12)
        np.testing.assert_allclose(ts2.get_last_lr(), ref, rtol=1e-12)


def test_state_dict_without_the_flags_still_loads():
    """A state_dict saved before the flags (deltagrad before round 37) loads."""
    o, s = _sched(dg, "StepLR")
    sd = s.state_dict()
    del sd["_is_initial"], sd["_get_lr_called_within_step"]
    o2, s2 = _sched(dg, "StepLR")
    s2.load_state_dict(sd)
    assert s2.state_dict()["_is_initial"] is False


def test_combinators_and_plateau_keys_as_torch():
    def build(lib):
        o = _opt(lib)
        L = lib.optim.lr_scheduler
        a, b = L.ExponentialLR(o, 0.9), L.StepLR(o, 2)
        return (
            o,
            L.SequentialLR(o, [a, b], milestones=[2]),
            L.ChainedScheduler([L.ConstantLR(o, total_iters=2), L.ExponentialLR(o, 0.8)]),
            L.ReduceLROnPlateau(o),
        )

    (o, seq, ch, pl), (to, tseq, tch, tpl) = build(dg), build(torch)
    for _ in range(4):  # through SequentialLR's milestone: no warning
        for opt, sq in ((o, seq), (to, tseq)):
            opt.step()
            sq.step()
    for ours, theirs in ((seq, tseq), (ch, tch), (pl, tpl)):
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b)
        for sa, sb in zip(a.get("_schedulers", []), b.get("_schedulers", [])):
            assert list(sa) == list(sb)
    assert "_is_initial" not in pl.state_dict()  # torch's ReduceLROnPlateau has no flags


def test_flag_reset_when_get_lr_raises_and_warm_restarts_epoch():
    o = _opt(dg)
    s = dg.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=2)
    _steps(o, s, 2)
    with pytest.raises(ValueError, match="total_steps"):
        s.step()
    assert s._get_lr_called_within_step is False
    with pytest.warns(UserWarning, match=GET_LR):
        with pytest.raises(ValueError, match="total_steps"):
            s.get_lr()
    o, s = _sched(dg, "CosineAnnealingWarmRestarts")
    o.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step(2.5)  # the epoch form: no warning of any kind, as torch
    assert s.state_dict()["_get_lr_called_within_step"] is False
