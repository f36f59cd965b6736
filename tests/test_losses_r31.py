"""The losses on distributions, margins and embeddings and the distance functions against
torch 2.13 (round 31): kl_div, poisson_nll_loss, gaussian_nll_loss, cosine_embedding_loss,
margin_ranking_loss, hinge_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss,
multi_margin_loss, triplet_margin_loss, one_hot, normalize, cosine_similarity,
pairwise_distance and their nn modules: values, gradients (targets' too where torch
differentiates them), inf / NaN results, warnings and errors."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

TOL = {np.float64: 1e-10, np.float32: 1e-5}
REDUCTIONS = ["none", "mean", "sum"]
INF, NAN = math.inf, math.nan


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _np(x, lib):
    return x.detach().numpy() if lib is torch else np.asarray(x.data)


def _run(lib, fn, arrays, grads, warn):
    T = torch.tensor if lib is torch else dg.tensor
    ins = [T(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    with pytest.warns(UserWarning, match=warn) if warn else contextlib.nullcontext():
        out = fn(*ins)
    if out.requires_grad:
        g = _rng(1).standard_normal(tuple(out.shape)).astype(_np(out, lib).dtype)
        out.backward(T(g))
    return _np(out, lib), [None if ins[i].grad is None else _np(ins[i].grad, lib) for i in grads]


def _check(dfn, tfn, arrays, grads=(0,), dtype=np.float64, warn=None):
    """dfn and tfn on the same arrays: the same output (shape, dtype, values with their infs
    and NaNs) and the same gradients of the inputs listed in grads, for a random upstream
    gradient."""
    tol = TOL[dtype]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    (dout, dgr), (tout, tgr) = (
        _run(lib, f, arrays, grads, warn) for lib, f in ((dg, dfn), (torch, tfn))
    )
    assert dout.shape == tout.shape and dout.dtype == tout.dtype, (dout, tout)
    np.testing.assert_allclose(dout, tout, rtol=tol, atol=tol)
    for i, a, b in zip(grads, dgr, tgr):
        assert (a is None) == (b is None), f"gradient of input {i}: {a} vs {b}"
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"input {i}")


def _both(name, *args, **kw):
    """The deltagrad and the torch function called alike."""
    return (
        lambda *t: getattr(F, name)(*t, *args, **kw),
        lambda *t: getattr(TF, name)(*t, *args, **kw),
    )


def _raises(fn_name, args_np, exc, match=None, torch_exc=None, **kw):
    """Both libraries raise: torch torch_exc (default exc); deltagrad an error that is both
    exc (deltagrad's class) and torch_exc (torch's), its message matching match."""
    with pytest.raises(torch_exc or exc):
        getattr(TF, fn_name)(
            *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args_np], **kw
        )
    with pytest.raises(exc, match=match) as info:
        getattr(F, fn_name)(
            *[dg.tensor(a) if isinstance(a, np.ndarray) else a for a in args_np], **kw
        )
    assert isinstance(info.value, torch_exc or exc)


# ---- kl_div ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_as_torch(log_target, reduction, dtype):
    rng = _rng()
    x = np.log(rng.dirichlet(np.ones(5), 3))
    t = rng.dirichlet(np.ones(5), 3)
    if log_target:
        t = np.log(t)
    warn = "batchmean" if reduction == "mean" else None
    dfn, tfn = _both("kl_div", reduction=reduction, log_target=log_target)
    _check(dfn, tfn, [x, t], (0, 1), dtype, warn)


@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
def test_kl_div_zero_target_and_extremes_as_torch(reduction):
    # target 0 contributes 0 (xlogy), its gradient NaN as torch's (d/dt xlogy(t, t) = 0 / 0);
    # negative / NaN targets give NaN, infinite inputs +-inf or NaN
    x = np.array([[0.5, -1.0, 2.0, INF, NAN, 1.0], [-INF, 3.0, -0.5, 0.1, 0.2, 0.3]])
    t = np.array([[0.0, 0.0, 0.3, 0.2, 0.5, INF], [0.0, -1.0, NAN, 0.4, 1e-300, 7.0]])
    _check(*_both("kl_div", reduction=reduction), [x, t], (0, 1))
    _check(*_both("kl_div", reduction=reduction, log_target=True), [x, t], (0, 1))


def test_kl_div_broadcast_0d_and_empty_as_torch():
    rng = _rng(2)
    x, t = rng.standard_normal((3, 4)), rng.random(4)
    _check(*_both("kl_div", reduction="batchmean"), [x, t], (0, 1))
    _check(*_both("kl_div", reduction="batchmean"), [np.array(-0.3), np.array(0.6)], (0, 1))
    _check(*_both("kl_div", reduction="batchmean"), [np.zeros((0, 3)), np.zeros((0, 3))], (0, 1))
    _check(*_both("kl_div", reduction="sum"), [np.zeros((1, 0)), np.zeros((1, 0))], (0, 1))


def test_kl_div_warnings_and_errors_as_torch():
    x, t = dg.tensor(np.zeros((2, 3))), dg.tensor(np.full((2, 3), 0.5))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        out = F.kl_div(x, t, size_average=False)
    with pytest.warns(UserWarning):
        assert (
            TF.kl_div(torch.zeros(2, 3), torch.full((2, 3), 0.5), size_average=False) == out.item()
        )
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.kl_div(x, t, reduce=False).shape == (2, 3)
    _raises("kl_div", [np.zeros(3), np.zeros(3)], ValueError, "reduction", reduction="avg")
    _raises(
        "kl_div",
        [np.zeros(3, np.int64), np.ones(3)],
        TypeError,
        "Integral",
        RuntimeError,
        reduction="sum",
    )
    with pytest.raises(RuntimeError):  # torch's class too
        F.kl_div(dg.tensor(np.zeros(3, np.int64)), np.ones(3), reduction="sum")
    _raises(
        "kl_div",
        [np.zeros((2, 3)), np.zeros((2, 4))],
        ValueError,
        "broadcast",
        RuntimeError,
        reduction="sum",
    )
    with pytest.raises(TypeError):
        F.kl_div([0.0], [1.0], reduction="sum")


# ---- poisson_nll_loss -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_loss_as_torch(log_input, full, reduction, dtype):
    rng = _rng(3)
    x = rng.standard_normal((4, 5)) if log_input else rng.uniform(0.1, 3, (4, 5))
    t = rng.poisson(2.0, (4, 5)).astype(np.float64) + rng.random((4, 5)) * 0.5
    t[0, :4] = [0.0, 0.5, 1.0, 1.5]  # full: 0 < t <= 1 masked (t = 0: NaN target gradient)
    dfn, tfn = _both(
        "poisson_nll_loss", log_input=log_input, full=full, reduction=reduction, eps=1e-7
    )
    _check(dfn, tfn, [x, t], (0, 1), dtype)


def test_poisson_nll_loss_extremes_broadcast_and_errors_as_torch():
    x = np.array([0.0, 1e-9, -800.0, 800.0, NAN, 2.0])
    t = np.array([2.0, 5.0, 1.0, 3.0, 1.0, 0.0])
    for li in (True, False):
        _check(
            *_both("poisson_nll_loss", log_input=li, full=True, reduction="none"), [x, t], (0, 1)
        )
    _check(*_both("poisson_nll_loss"), [_rng().standard_normal(3), _rng(1).random((2, 3))], (0, 1))
    _raises(
        "poisson_nll_loss",
        [np.zeros(3), np.ones(3)],
        ValueError,
        "reduction",
        reduction="batchmean",
    )
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.poisson_nll_loss(
            dg.tensor(np.zeros(3)), dg.tensor(np.ones(3)), reduce=False
        ).shape == (3,)


# ---- gaussian_nll_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_nll_loss_as_torch(var_shape, full, reduction, dtype):
    rng = _rng(4)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    v = rng.uniform(0.1, 2.0, var_shape)
    v.flat[0] = 1e-9  # below eps: clamped, its gradient passes as if not (torch's no_grad clamp)
    dfn, tfn = _both("gaussian_nll_loss", full=full, reduction=reduction, eps=1e-6)
    _check(dfn, tfn, [x, t, v], (0, 1, 2), dtype)


def test_gaussian_nll_loss_float_var_broadcast_and_edges_as_torch():
    rng = _rng(5)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal(4)  # target broadcasts
    _check(
        lambda x, t: F.gaussian_nll_loss(x, t, 0.7),
        lambda x, t: TF.gaussian_nll_loss(x, t, 0.7),
        [x, t],
        (0, 1),
    )
    v = np.array([0.0, 1e-9, 0.5, NAN, INF])
    xv, tv = rng.standard_normal(5), rng.standard_normal(5)
    _check(*_both("gaussian_nll_loss", reduction="none"), [xv, tv, v], (0, 1, 2))
    _check(*_both("gaussian_nll_loss"), [xv, tv, np.array(2.0)], (0, 1, 2))  # 1-D input, 0-d var
    _check(*_both("gaussian_nll_loss"), [np.array(1.0), np.array(3.0), np.array(2.0)], (0, 1, 2))
    _check(
        *_both("gaussian_nll_loss"),
        [np.zeros((0, 2)), np.zeros((0, 2)), np.ones((0, 2))],
        (0, 1, 2),
    )
    _check(*_both("gaussian_nll_loss", eps=-1.0, reduction="sum"), [xv, tv, np.ones(5)], (0, 1, 2))


def test_gaussian_nll_loss_errors_as_torch():
    x, t = np.zeros((3, 4)), np.zeros((3, 4))
    for bad in (np.ones(4), np.ones((1, 1)), np.array(1.0), np.ones((3, 4, 1))):
        _raises("gaussian_nll_loss", [x, t, bad], ValueError, "incorrect size")
    _raises("gaussian_nll_loss", [x, t, -np.ones((3, 4))], ValueError, "negative")
    _raises("gaussian_nll_loss", [x, t, -1.0], ValueError, "negative")
    _raises("gaussian_nll_loss", [x, t, 1], TypeError, "var")  # a Python int: torch's TypeError
    _raises("gaussian_nll_loss", [x, t, [1.0]], TypeError, "var")
    _raises(
        "gaussian_nll_loss", [x, t, np.ones((3, 4), np.int64)], TypeError, "floating", RuntimeError
    )
    _raises("gaussian_nll_loss", [x, t, np.ones((3, 4))], ValueError, "reduction", reduction="avg")


# ---- cosine_embedding_loss ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.5])
def test_cosine_embedding_loss_as_torch(margin, reduction, dtype):
    rng = _rng(6)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    a[1] = 0.0  # a zero row: cos 0
    a[2] = 1e-7 * b[2]  # tiny norm: the 1e-12 (float32) epsilon shows in the result
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.5, -1.0])
    dfn, tfn = _both("cosine_embedding_loss", margin=margin, reduction=reduction)
    _check(lambda a, b, y: dfn(a, b, y), lambda a, b, y: tfn(a, b, y), [a, b, y], (0, 1, 2), dtype)


def test_cosine_embedding_loss_shapes_as_torch():
    rng = _rng(7)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    _check(
        *_both("cosine_embedding_loss", reduction="none"), [a, b, np.array([1, -1, -1, 1])], (0, 1)
    )
    _check(*_both("cosine_embedding_loss"), [a[0], b[0], np.array(-1.0)], (0, 1))
    _check(*_both("cosine_embedding_loss", reduction="none"), [a, a, np.ones(1)], (0, 1))
    _check(
        *_both("cosine_embedding_loss"), [np.zeros((0, 3)), np.zeros((0, 3)), np.ones(0)], (0, 1)
    )
    y = np.ones(4)
    _raises("cosine_embedding_loss", [a, a, np.ones((4, 1))], ValueError, "0D or 1D", RuntimeError)
    _raises("cosine_embedding_loss", [a, a, np.array(1.0)], ValueError, "1D input", RuntimeError)
    _raises("cosine_embedding_loss", [a, a[0], y], ValueError, "2D input", RuntimeError)
    _raises("cosine_embedding_loss", [a[0], a, y], ValueError, "2D input", RuntimeError)
    _raises("cosine_embedding_loss", [a, a[:, :2], y], ValueError, "broadcast", RuntimeError)
    _raises("cosine_embedding_loss", [a, a, np.ones(3)], ValueError, "broadcast", RuntimeError)
    _raises("cosine_embedding_loss", [a, a, y], ValueError, "reduction", reduction="avg")


# ---- margin_ranking_loss, hinge_embedding_loss, soft_margin_loss ----------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss_as_torch(margin, reduction, dtype):
    rng = _rng(8)
    a, b = rng.standard_normal(7), rng.standard_normal(7)
    b[0] = a[0] - margin  # on the hinge: max(0, 0), the gradient passes (clamp_min, as torch)
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.5, 1.0, -2.0])
    dfn, tfn = _both("margin_ranking_loss", margin=margin, reduction=reduction)
    _check(dfn, tfn, [a, b, y], (0, 1, 2), dtype)


def test_margin_ranking_loss_broadcast_and_errors_as_torch():
    rng = _rng(9)
    a, b, y = (
        rng.standard_normal((3, 4)),
        rng.standard_normal((1, 4)),
        np.sign(rng.standard_normal((3, 1))),
    )
    _check(*_both("margin_ranking_loss", margin=0.2, reduction="none"), [a, b, y], (0, 1, 2))
    _check(*_both("margin_ranking_loss"), [np.array(1.0), np.array(2.0), np.array(1.0)], (0, 1, 2))
    _raises("margin_ranking_loss", [a, b[0], y], ValueError, "same dimension", RuntimeError)
    _raises(
        "margin_ranking_loss",
        [a, rng.standard_normal((2, 4)), y],
        ValueError,
        "broadcast",
        RuntimeError,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.3, -0.2])
def test_hinge_embedding_loss_as_torch(margin, reduction, dtype):
    rng = _rng(10)
    x = rng.standard_normal(9) * 2
    x[:3] = [margin, NAN, INF]  # the hinge's corner, a NaN, an inf
    y = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 0.5, 1.0, -1.0, 0.0])
    _check(*_both("hinge_embedding_loss", margin=margin, reduction=reduction), [x, y], (0,), dtype)


def test_hinge_embedding_loss_broadcast_as_torch():
    rng = _rng(11)
    x, y = rng.standard_normal(5), np.sign(rng.standard_normal((3, 5)))
    _check(*_both("hinge_embedding_loss", reduction="none"), [x, y])
    _check(*_both("hinge_embedding_loss", reduction="none"), [x[:1], y])
    _check(*_both("hinge_embedding_loss"), [np.zeros(0), np.zeros(0)])
    # the target gets no gradient (torch uses it in comparisons only)
    _check(*_both("hinge_embedding_loss", reduction="sum"), [x, y[0]], (0, 1))
    _raises("hinge_embedding_loss", [x, np.ones(4)], ValueError, "broadcast", RuntimeError)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_as_torch(reduction, dtype):
    rng = _rng(12)
    x = rng.standard_normal((3, 5)) * 3
    x[0] = [800.0, -800.0, NAN, 0.0, 40.0]  # 0, inf (and a NaN gradient), NaN, log 2, tiny
    y = np.sign(rng.standard_normal((3, 5)))
    _check(*_both("soft_margin_loss", reduction=reduction), [x, y], (0,), dtype)
    _check(*_both("soft_margin_loss", reduction=reduction), [x, y[0]], (0,), dtype)  # broadcast


def test_soft_margin_loss_errors_as_torch():
    x = np.zeros(4)
    _raises("soft_margin_loss", [x, np.ones((2, 4))], ValueError, "broadcast", RuntimeError)
    _raises(
        "soft_margin_loss", [np.zeros(4, np.int64), np.ones(4)], TypeError, "floating", RuntimeError
    )
    with pytest.raises(RuntimeError):
        TF.soft_margin_loss(torch.zeros(4), torch.ones(4, requires_grad=True))
    with pytest.raises(RuntimeError, match="target"):  # NotImplementedError, a RuntimeError
        F.soft_margin_loss(dg.tensor(x), dg.tensor(np.ones(4), requires_grad=True))
    with dg.no_grad():  # no graph: no gradient asked of the target
        assert F.soft_margin_loss(
            dg.tensor(x), dg.tensor(np.ones(4), requires_grad=True)
        ).item() == pytest.approx(math.log(2))
    _check(*_both("soft_margin_loss"), [np.zeros(0), np.zeros(0)])


# ---- multilabel_soft_margin_loss, multi_margin_loss -----------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss_as_torch(weighted, reduction, dtype):
    rng = _rng(13)
    x = rng.standard_normal((4, 5)) * 3
    x[0] = [800.0, -800.0, 0.0, 1e-3, 40.0]
    t = (rng.random((4, 5)) > 0.5).astype(np.float64)
    t[1, 0] = 0.25
    arrays = [x, t] + ([rng.random(5)] if weighted else [])
    if weighted:
        dfn = lambda x, t, w: F.multilabel_soft_margin_loss(x, t, weight=w, reduction=reduction)  # noqa: E731
        tfn = lambda x, t, w: TF.multilabel_soft_margin_loss(x, t, weight=w, reduction=reduction)  # noqa: E731
    else:
        dfn, tfn = _both("multilabel_soft_margin_loss", reduction=reduction)
    _check(dfn, tfn, arrays, tuple(range(len(arrays))), dtype)


def test_multilabel_soft_margin_loss_shapes_as_torch():
    rng = _rng(14)
    _check(*_both("multilabel_soft_margin_loss"), [rng.standard_normal(4), rng.random(4)], (0, 1))
    x3 = rng.standard_normal((2, 3, 4))
    _check(
        *_both("multilabel_soft_margin_loss", reduction="none"), [x3, rng.random((2, 3, 4))], (0, 1)
    )
    _check(
        *_both("multilabel_soft_margin_loss", reduction="none"),
        [np.zeros((2, 0)), np.zeros((2, 0))],
        (0, 1),
    )
    _check(*_both("multilabel_soft_margin_loss"), [np.zeros((0, 3)), np.zeros((0, 3))], (0, 1))
    _raises("multilabel_soft_margin_loss", [np.array(1.0), np.array(1.0)], IndexError, "0-d")
    _raises(
        "multilabel_soft_margin_loss",
        [np.zeros((2, 3)), np.zeros((2, 3))],
        ValueError,
        "reduction",
        reduction="avg",
    )
    _raises(
        "multilabel_soft_margin_loss",
        [np.zeros((2, 3)), np.zeros((2, 4))],
        ValueError,
        "broadcast",
        RuntimeError,
    )


def _mm(target, weight=None, **kw):
    """multi_margin_loss of deltagrad and of torch on the class indices target (and weight)."""
    wd = None if weight is None else dg.tensor(weight)
    wt = None if weight is None else torch.tensor(weight)
    return (
        lambda x: F.multi_margin_loss(x, dg.tensor(target), weight=wd, **kw),
        lambda x: TF.multi_margin_loss(x, torch.tensor(target), weight=wt, **kw),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_as_torch(p, weighted, reduction, dtype):
    rng = _rng(15)
    x = rng.standard_normal((5, 4))
    x[0] = [0.0, 1.0, 0.3, 1.0]  # target 1, margin 0.7: z = -0.3, about 0, 0.7
    x[1] = [NAN, 1.0, 2.0, 3.0]  # a NaN target score: every z is NaN, nothing is added
    x[2, 3] = NAN
    t = np.array([1, 0, 1, 3, 2])
    w = rng.uniform(0.2, 2.0, 4) if weighted else None
    w = None if w is None else w.astype(dtype)
    _check(*_mm(t, w, p=p, margin=0.7, reduction=reduction), [x], (0,), dtype)


def test_multi_margin_loss_ties_shapes_and_empty_batch():
    # z == 0 exactly (margin 0, equal scores): no term and no gradient, as torch's kernel
    _check(*_mm(np.array([1]), margin=0.0, reduction="sum"), [np.array([[0.0, 1.0, 1.0, 0.5]])])
    v = _rng(16).standard_normal(4)
    for t in (np.array(2), np.array([2])):  # 1-D input: the output takes the target's shape
        for r in REDUCTIONS:
            _check(*_mm(t, reduction=r), [v])
    _check(*_mm(np.array(0), reduction="none"), [np.array(2.0)])
    _check(*_mm(np.array(1), reduction="none"), [v[None]])
    # an empty batch: "none" is empty as torch; "sum" 0 and "mean" NaN (torch: uninitialized)
    e, te = dg.tensor(np.zeros((0, 4))), np.zeros(0, np.int64)
    assert F.multi_margin_loss(e, te, reduction="none").shape == (0,)
    assert F.multi_margin_loss(e, te, reduction="sum").item() == 0.0
    assert math.isnan(F.multi_margin_loss(e, te).item())


def test_multi_margin_loss_errors_as_torch():
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    _raises("multi_margin_loss", [x, t], ValueError, "p == 1", p=3)
    with pytest.raises(ValueError, match="one-dimensional"):
        F.multi_margin_loss(dg.tensor(x), t, weight=np.ones((4, 1)))
    with pytest.raises(ValueError):
        TF.multi_margin_loss(
            torch.tensor(x), torch.tensor(t), weight=torch.ones(4, 1, dtype=torch.float64)
        )
    with pytest.raises(RuntimeError):
        TF.multi_margin_loss(
            torch.tensor(x), torch.tensor(t), weight=torch.ones(3, dtype=torch.float64)
        )
    with pytest.raises(ValueError, match="inconsistent weight size"):
        F.multi_margin_loss(dg.tensor(x), t, weight=np.ones(3))
    with pytest.raises(RuntimeError, match="weight"):
        F.multi_margin_loss(dg.tensor(x), t, weight=dg.tensor(np.ones(4), requires_grad=True))
    _raises("multi_margin_loss", [x, np.array([0, 4, 1])], IndexError, "out of range", RuntimeError)
    _raises(
        "multi_margin_loss", [x, np.array([0, -1, 1])], IndexError, "out of range", RuntimeError
    )
    _raises("multi_margin_loss", [x, np.array([0, 1])], ValueError, "target size", RuntimeError)
    _raises(
        "multi_margin_loss", [x, np.array([[0, 1, 2]])], ValueError, "target size", RuntimeError
    )
    _raises("multi_margin_loss", [x, t.astype(np.float64)], TypeError, "integer", RuntimeError)
    _raises(
        "multi_margin_loss",
        [np.zeros((2, 3, 4)), np.array([0, 1])],
        ValueError,
        "non-empty",
        RuntimeError,
    )
    _raises(
        "multi_margin_loss",
        [np.zeros((2, 0)), np.array([0, 1])],
        ValueError,
        "non-empty",
        RuntimeError,
    )
    _raises("multi_margin_loss", [x, t], ValueError, "reduction", reduction="avg")
    with pytest.raises(TypeError, match="margin"):
        F.multi_margin_loss(dg.tensor(x), t, margin="1")


# ---- triplet_margin_loss, pairwise_distance --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [2, 1, 3.5, INF])
def test_triplet_margin_loss_as_torch(p, swap, reduction, dtype):
    rng = _rng(17)
    a, pos, neg = (rng.standard_normal((6, 5)) for _ in range(3))
    dfn, tfn = _both("triplet_margin_loss", margin=1.3, p=p, swap=swap, reduction=reduction)
    _check(dfn, tfn, [a, pos, neg], (0, 1, 2), dtype)


def test_triplet_margin_loss_shapes_and_errors_as_torch():
    rng = _rng(18)
    a, pos, neg = (rng.standard_normal(5) for _ in range(3))
    _check(*_both("triplet_margin_loss", swap=True, reduction="none"), [a, pos, neg], (0, 1, 2))
    _check(*_both("triplet_margin_loss", eps=0.0), [a[None], pos[None], np.ones((3, 5))], (0, 1, 2))
    _raises("triplet_margin_loss", [a, pos, neg], ValueError, "margin", margin=0.0)
    _raises("triplet_margin_loss", [a, pos, neg], ValueError, "margin", margin=-1)
    _raises(
        "triplet_margin_loss", [a[None], pos[None], neg], ValueError, "same number", RuntimeError
    )
    _raises("triplet_margin_loss", [a, pos, neg], ValueError, "reduction", reduction="avg")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [2.0, 1, 3, 0.5, 0, INF, -INF, -1, -2.5])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_as_torch(keepdim, p, dtype):
    rng = _rng(19)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    _check(*_both("pairwise_distance", p=p, keepdim=keepdim), [a, b], (0, 1), dtype)
    _check(*_both("pairwise_distance", p=p, keepdim=keepdim), [a, b[:1]], (0, 1), dtype)
    # identical rows with eps 0: a zero norm, gradient 0 (not NaN), as torch's norm_backward
    b[1] = a[1]
    _check(*_both("pairwise_distance", p=p, eps=0.0, keepdim=keepdim), [a, b], (0, 1), dtype)


def test_pairwise_distance_shapes_as_torch():
    rng = _rng(20)
    _check(
        *_both("pairwise_distance"), [rng.standard_normal(5), rng.standard_normal((3, 5))], (0, 1)
    )
    _check(
        *_both("pairwise_distance"),
        [rng.standard_normal((2, 3, 4)), rng.standard_normal(4)],
        (0, 1),
    )
    for kd in (False, True):
        _check(*_both("pairwise_distance", keepdim=kd), [np.array(1.0), np.array(3.0)], (0, 1))
        _check(
            *_both("pairwise_distance", keepdim=kd), [np.zeros((0, 3)), np.zeros((0, 3))], (0, 1)
        )
        _check(
            *_both("pairwise_distance", keepdim=kd), [np.zeros((3, 0)), np.zeros((3, 0))], (0, 1)
        )
    _raises(
        "pairwise_distance",
        [np.zeros((2, 3)), np.zeros((2, 4))],
        ValueError,
        "broadcast",
        RuntimeError,
    )
    with pytest.raises(TypeError, match="p"):
        F.pairwise_distance(dg.tensor(np.zeros(3)), dg.tensor(np.zeros(3)), p="fro")


# ---- cosine_similarity, normalize, one_hot --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cosine_similarity_as_torch(dim, dtype):
    rng = _rng(21)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    a[0] = 0.0  # a zero vector: its norm clamped to eps, the gradient through the norm kept
    a[1] *= 1e-10
    b[2] *= 1e-9
    a[:, 3] = 0.0  # a zero column, for dim 0
    _check(*_both("cosine_similarity", dim=dim), [a, b], (0, 1), dtype)
    _check(*_both("cosine_similarity", dim=dim, eps=0.5), [a, b], (0, 1), dtype)


def test_cosine_similarity_shapes_dtypes_and_errors_as_torch():
    rng = _rng(22)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    _check(*_both("cosine_similarity"), [a, b], (0, 1))  # b broadcasts: dim 1 of (3, 4)
    _check(*_both("cosine_similarity", dim=0), [b, a], (0, 1))
    _check(*_both("cosine_similarity", dim=0), [b, b[::-1].copy()], (0, 1))
    for d in (0, -1):
        _check(*_both("cosine_similarity", dim=d), [np.array(1.5), np.array(-2.0)], (0, 1))
    _check(*_both("cosine_similarity"), [np.zeros((0, 3)), np.zeros((0, 3))], (0, 1))
    _check(*_both("cosine_similarity"), [np.zeros((2, 0)), np.zeros((2, 0))], (0, 1))
    _check(*_both("cosine_similarity"), [a.astype(np.float32), a], (0, 1))  # float64 result
    _check(*_both("cosine_similarity"), [np.arange(12).reshape(3, 4), a], (1,))  # int cast
    _raises("cosine_similarity", [a, a[:2]], ValueError, "broadcast", RuntimeError)
    _raises("cosine_similarity", [a, a], IndexError, "out of range", dim=2)
    _raises("cosine_similarity", [a, a], IndexError, "out of range", dim=-3)
    _raises("cosine_similarity", [a, a], TypeError, "dim", dim=1.0)
    _raises("cosine_similarity", [a, a], ValueError, "non-negative", RuntimeError, eps=-1.0)
    i = np.arange(12).reshape(3, 4)
    _raises("cosine_similarity", [i, i], TypeError, "floating point", RuntimeError)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [2.0, 1, 3, INF, -1.5, "fro"])
@pytest.mark.parametrize("dim", [1, 0, -1, (0, 1)])
def test_normalize_as_torch(dim, p, dtype):
    rng = _rng(23)
    x = rng.standard_normal((4, 5))
    x[0] = 0.0  # a zero row: the norm clamped to eps (no gradient through it)
    x[1] *= 1e-14
    _check(*_both("normalize", p=p, dim=dim), [x], (0,), dtype)


def test_normalize_shapes_out_and_errors_as_torch():
    rng = _rng(24)
    v = rng.standard_normal(5)
    _check(*_both("normalize", dim=0), [v])
    _check(*_both("normalize", dim=0), [np.array(-2.0)])
    _check(*_both("normalize", eps=0.5), [rng.standard_normal((2, 3, 4))])
    x = rng.standard_normal((3, 4))
    out = dg.tensor(np.zeros((3, 4)))
    r = F.normalize(dg.tensor(x), out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), TF.normalize(torch.tensor(x)).numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="out="):
        F.normalize(dg.tensor(x, requires_grad=True), out=dg.tensor(np.zeros((3, 4))))
    _raises("normalize", [v], IndexError, "out of range")  # dim 1 of a 1-D tensor
    _raises("normalize", [np.arange(4)], TypeError, "floating point", RuntimeError, dim=0)


def test_one_hot_as_torch():
    for t, n in [
        (np.array([0, 2, 1]), -1),
        (np.array([0, 2, 1]), 5),
        (np.array([[1, 0], [2, 2]]), -1),
        (np.array(2), -1),
        (np.zeros(0, np.int64), 3),
        (np.zeros((2, 0), np.int64), 4),
    ]:
        d, r = F.one_hot(dg.tensor(t), n), TF.one_hot(torch.tensor(t), n)
        assert d.dtype == np.int64 and d.shape == tuple(r.shape)
        np.testing.assert_array_equal(d.numpy(), r.numpy())
    assert F.one_hot(dg.tensor(np.array([1, 0], np.int32))).tolist() == [[0, 1], [1, 0]]
    t = np.array([0, 3])
    _raises("one_hot", [np.array([0, -1])], ValueError, "non-negative", RuntimeError)
    _raises("one_hot", [np.array([0, -1]), 3], ValueError, "non-negative", RuntimeError)
    _raises("one_hot", [t, 3], ValueError, "smaller than num_classes", RuntimeError)
    _raises("one_hot", [t, -2], ValueError, "smaller than num_classes", RuntimeError)
    _raises("one_hot", [np.zeros(0, np.int64)], ValueError, "empty", RuntimeError)
    _raises("one_hot", [np.zeros(0, np.int64), 0], ValueError, "empty", RuntimeError)
    _raises("one_hot", [np.array([0.0, 1.0])], TypeError, "integer", RuntimeError)
    _raises("one_hot", [np.array([True, False])], TypeError, "integer", RuntimeError)
    _raises("one_hot", [t, 2.0], TypeError, "num_classes")
    _raises("one_hot", [t, True], TypeError, "num_classes")
    _raises("one_hot", [[0, 1]], TypeError, "Tensor")


# ---- the graph: one node, warnings off, retain_graph, in-place checks, gradcheck -------------


def test_one_node_per_function_and_no_numpy_warnings():
    # the extreme values that overflow numpy (exp(800), log(0), 0 / 0): no RuntimeWarning in
    # the forward or the backward (pytest turns warnings into errors)
    x = dg.tensor(np.array([800.0, -800.0, 0.0, NAN]), requires_grad=True)
    t = dg.tensor(np.array([0.0, 0.0, 2.0, 1.0]), requires_grad=True)
    loss = F.poisson_nll_loss(x, t, full=True, reduction="sum")
    assert loss.grad_fn.name() == "poisson_nll_loss"
    loss.backward()
    assert np.isnan(t.grad[0]) and np.isnan(loss.item()) and np.isinf(x.grad[0])


def test_retain_graph_accumulates_and_inplace_change_is_caught():
    rng = _rng(25)
    x = dg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = dg.tensor(rng.random((3, 4)))
    loss = F.kl_div(x, t, reduction="batchmean")
    loss.backward(retain_graph=True)
    g1 = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * g1)
    w = dg.tensor(rng.random(4), requires_grad=True)
    loss = F.multilabel_soft_margin_loss(x, t, weight=w)
    with dg.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()


def test_no_grad_builds_no_graph():
    x = dg.tensor(np.ones((2, 3)), requires_grad=True)
    with dg.no_grad():
        assert not F.cosine_similarity(x, x).requires_grad
    assert not F.hinge_embedding_loss(
        dg.tensor(np.ones(3)), dg.tensor(np.ones(3), requires_grad=True)
    ).requires_grad


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, t: F.kl_div(x, t, reduction="batchmean"),
        lambda x, t: F.poisson_nll_loss(x, t, full=True),
        lambda x, t: F.gaussian_nll_loss(x, t, t * t + 0.5),
        lambda x, t: F.margin_ranking_loss(x, t, t - 0.1, margin=0.1),
        lambda x, t: F.multilabel_soft_margin_loss(x, t, weight=t[0]),
        lambda x, t: F.triplet_margin_loss(x, t, t * 0.5, p=3),
        lambda x, t: F.cosine_similarity(x, t),
        lambda x, t: F.pairwise_distance(x, t, p=-1.5),
        lambda x, t: F.normalize(x * t, p=1.5, dim=0),
    ],
)
def test_gradcheck(fn):
    rng = _rng(26)
    x = dg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = dg.tensor(rng.uniform(1.2, 3.0, (3, 4)), requires_grad=True)
    assert dg.gradcheck(fn, (x, t))


# ---- nn modules --------------------------------------------------------------------------------


def _module_pairs():
    w = np.array([0.5, 1.0, 2.0, 0.25])
    return [
        ("KLDivLoss", dict(reduction="batchmean", log_target=True), 2),
        ("KLDivLoss", dict(reduction="sum"), 2),
        ("PoissonNLLLoss", dict(log_input=False, full=True, eps=1e-6, reduction="sum"), 2),
        ("GaussianNLLLoss", dict(full=True, eps=1e-3, reduction="none"), 3),
        ("CosineEmbeddingLoss", dict(margin=0.2), 3),
        ("MarginRankingLoss", dict(margin=0.3, reduction="sum"), 3),
        ("HingeEmbeddingLoss", dict(margin=0.5, reduction="none"), 2),
        ("SoftMarginLoss", dict(reduction="sum"), 2),
        ("MultiLabelSoftMarginLoss", dict(weight=w), 2),
        ("MultiMarginLoss", dict(p=2, margin=0.8, weight=w, reduction="none"), 2),
        ("TripletMarginLoss", dict(margin=0.5, p=1.0, swap=True), 3),
        ("CosineSimilarity", dict(dim=0, eps=1e-6), 2),
        ("PairwiseDistance", dict(p=3.0, eps=1e-4, keepdim=True), 2),
    ]


@pytest.mark.parametrize(
    "name,kw,nargs", _module_pairs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_modules_as_torch(name, kw, nargs):
    rng = _rng(27)
    x = rng.standard_normal((4, 4))
    second = {
        "KLDivLoss": rng.standard_normal((4, 4)) if kw.get("log_target") else rng.random((4, 4)),
        "PoissonNLLLoss": rng.uniform(0.1, 3.0, (4, 4)),
        "MultiLabelSoftMarginLoss": rng.random((4, 4)),
        "MultiMarginLoss": np.array([0, 3, 1, 2]),
        "HingeEmbeddingLoss": np.sign(rng.standard_normal((4, 4))),
        "SoftMarginLoss": np.sign(rng.standard_normal((4, 4))),
    }.get(name, rng.standard_normal((4, 4)))
    third = {
        "GaussianNLLLoss": rng.uniform(0.1, 2.0, (4, 4)),
        "CosineEmbeddingLoss": np.array([1.0, -1.0, -1.0, 1.0]),
        "MarginRankingLoss": np.sign(rng.standard_normal((4, 4))),
    }.get(name, rng.standard_normal((4, 4)))
    if name == "PoissonNLLLoss":
        x = np.abs(x) + 0.1
    arrays = [x, second, third][:nargs]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    dmod, tmod = getattr(dnn, name)(**kw), getattr(tnn, name)(**tkw)
    assert repr(dmod) == repr(tmod)
    for attr in (
        "reduction",
        "margin",
        "p",
        "eps",
        "swap",
        "log_input",
        "full",
        "log_target",
        "dim",
        "norm",
        "keepdim",
    ):
        if hasattr(tmod, attr):
            assert getattr(dmod, attr) == getattr(tmod, attr), attr
    if "weight" in kw:
        np.testing.assert_array_equal(dmod.weight.numpy(), tmod.weight.numpy())
        assert "weight" in dmod.state_dict()
    grads = tuple(
        i
        for i, a in enumerate(arrays)
        if a.dtype.kind == "f" and not (name == "SoftMarginLoss" and i == 1)
    )
    _check(dmod, tmod, arrays, grads)


def test_module_defaults_and_errors_as_torch():
    for name in ("KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss",
                 "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
                 "MultiLabelSoftMarginLoss", "MultiMarginLoss", "TripletMarginLoss",
                 "CosineSimilarity", "PairwiseDistance"):  # fmt: skip
        d, t = getattr(dnn, name)(), getattr(tnn, name)()
        assert repr(d) == repr(t)
        for k, v in vars(t).items():
            if not k.startswith("_") and k != "training":
                assert getattr(d, k) == v, (name, k)
    x = dg.tensor(np.zeros((2, 3)))
    with pytest.warns(UserWarning, match="batchmean"):  # KLDivLoss's default 'mean' warns
        dnn.KLDivLoss()(x, x)
    with pytest.raises(ValueError, match="p == 1"):
        dnn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="1-D"):
        dnn.MultiMarginLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match="margin"):
        dnn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="reduction"):
        dnn.KLDivLoss(reduction="avg")
    with pytest.raises(TypeError):
        dnn.GaussianNLLLoss(True)  # keyword-only, as torch
    with pytest.raises(TypeError, match="dim"):
        dnn.CosineSimilarity(dim=1.5)
    assert (
        dnn.KLDivLoss("sum").reduction == "sum"
        and dnn.KLDivLoss("batchmean").reduction == "batchmean"
    )
