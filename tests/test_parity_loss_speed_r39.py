"""torch 2.13 parity (round 39) of the faster loss paths: nll_loss's gather along the class
dimension (no moved copy, a scatter backward, K built only for a double backward),
smooth_l1_loss / huber_loss in a few in-place passes, binary_cross_entropy_with_logits with
pos_weight on the fused kernel plus a correction, and kl_div(log_target=True) /
cosine_embedding_loss as one node with a closed-form backward. Loss, input and target
gradients and double backward against torch in float64 to 1e-12; float32 to ~1e-6."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
TOL = {"rtol": 1e-12, "atol": 1e-12, "equal_nan": True}


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(abs(hash(repr(key))) % 2**32)


def _np(v: object) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().numpy(force=True)  # (force: torch's ZeroTensor gradients)
    return np.asarray(v.numpy() if isinstance(v, dg.Tensor) else v)


def _check(l1, l2, ins1, ins2, rng, tol=TOL, double=True):
    """Loss, gradients (random upstream gradient) and, where double, the double backward
    through the gradients (w.r.t. the inputs and the upstream gradient) against torch."""
    np.testing.assert_allclose(_np(l1), _np(l2), **tol)
    assert l1.shape == tuple(l2.shape) and l1.dtype == _np(l2).dtype
    gv = rng.standard_normal(l1.shape).astype(_np(l2).dtype)
    g1 = dg.tensor(gv, requires_grad=True)
    g2 = torch.tensor(gv, requires_grad=True)
    d1 = dg.autograd.grad(l1, ins1, g1, create_graph=double)
    d2 = torch.autograd.grad(l2, ins2, g2, create_graph=double)
    for a, b in zip(d1, d2):
        np.testing.assert_allclose(_np(a), _np(b), **tol)
    if not double or not all(np.isfinite(_np(a)).all() for a in d1):
        return
    vs = [rng.standard_normal(a.shape) for a in d1]
    s1 = sum((a * dg.tensor(v)).sum() for a, v in zip(d1, vs))
    s2 = sum((a * torch.tensor(v)).sum() for a, v in zip(d2, vs))
    h1 = dg.autograd.grad(s1, [*ins1, g1], allow_unused=True)
    h2 = torch.autograd.grad(s2, [*ins2, g2], allow_unused=True)
    for a, b in zip(h1, h2):
        a0 = np.zeros(()) if a is None else _np(a)
        b0 = np.zeros(()) if b is None else _np(b)
        np.testing.assert_allclose(a0 + np.zeros_like(b0), b0 + np.zeros_like(a0), **tol)


# ---- nll_loss ---------------------------------------------------------------------------------

NLL_SHAPES = [(5,), (7, 5), (3, 5, 4), (2, 5, 3, 2), (1, 1), (0, 5), (3, 5, 0)]


@pytest.mark.parametrize("shape", NLL_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(shape, reduction):
    c = shape[0] if len(shape) == 1 else shape[1]
    bs = () if len(shape) == 1 else (shape[0], *shape[2:])
    rng = _rng("nll", shape, reduction)
    for weighted in (False, True):
        for ignore in ("none", "some", "all"):
            x = rng.standard_normal(shape)
            t = rng.integers(0, c, size=bs)
            ii = -100
            if ignore == "some":
                ii = 1 % c
            elif ignore == "all":
                ii, t = 0, np.zeros(bs, dtype=np.int64)
            w = rng.random(c) + 0.2 if weighted else None
            xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            kw1 = dict(weight=None if w is None else dg.tensor(w), ignore_index=ii)
            kw2 = dict(weight=None if w is None else torch.tensor(w), ignore_index=ii)
            l1 = F.nll_loss(xd, dg.tensor(t), reduction=reduction, **kw1)
            l2 = TF.nll_loss(xt, torch.tensor(t), reduction=reduction, **kw2)
            # (a "mean" over no target: torch's d(grad)/d(upstream grad) is NaN, ours 0)
            nothing = reduction == "mean" and not np.any(t != ii)
            _check(l1, l2, [xd], [xt], rng, double=not nothing)


def test_nll_loss_all_ignored_mean_is_nan_gradient_zero():
    x = np.random.default_rng(0).standard_normal((3, 4, 2))
    t = np.full((3, 2), 2)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    l1, l2 = (
        F.nll_loss(xd, dg.tensor(t), ignore_index=2),
        TF.nll_loss(xt, torch.tensor(t), ignore_index=2),
    )
    assert np.isnan(l1.item()) and np.isnan(l2.item())
    (g1,) = dg.autograd.grad(l1, xd, create_graph=True)  # (0, not 0 * inf, either way)
    l1b = F.nll_loss(xd, dg.tensor(t), ignore_index=2)
    l1b.backward()
    l2.backward()
    assert not np.any(_np(g1)) and not np.any(_np(xd.grad)) and not xt.grad.any()


def test_nll_loss_zero_weight_nan_and_extremes():
    """A mean over targets whose weights are all 0: NaN loss and NaN gradients at the
    targets, as torch; +-inf log-probabilities at and off the targets."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    x[0, 2], x[1, 0], x[2, 1] = -np.inf, -np.inf, np.nan
    t = np.array([0, 1, 2, 0])
    for w in (np.array([0.0, 0.0, 1.0]), np.array([1.0, 2.0, 0.5])):
        for red in REDUCTIONS:
            xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            l1 = F.nll_loss(xd, dg.tensor(t), weight=dg.tensor(w), reduction=red)
            l2 = TF.nll_loss(xt, torch.tensor(t), weight=torch.tensor(w), reduction=red)
            _check(l1, l2, [xd], [xt], rng, double=False)


def test_nll_loss_strided_input_and_float32_and_module():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((5, 6, 7)).astype(np.float32)
    t = rng.integers(0, 6, size=(7, 5))
    xd = dg.tensor(base, requires_grad=True)
    xt = torch.tensor(base, requires_grad=True)
    l1 = F.nll_loss(xd.permute(2, 1, 0), dg.tensor(t), ignore_index=3)  # (7, 6, 5) view
    l2 = TF.nll_loss(xt.permute(2, 1, 0), torch.tensor(t), ignore_index=3)
    _check(l1, l2, [xd], [xt], rng, tol={"rtol": 2e-6, "atol": 2e-6}, double=False)
    w = np.linspace(0.5, 1.5, 6).astype(np.float32)
    x = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    t = rng.integers(0, 6, size=(4, 3, 3))
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    l1 = dnn.NLLLoss(weight=dg.tensor(w), reduction="sum")(xd, dg.tensor(t))
    l2 = torch.nn.NLLLoss(weight=torch.tensor(w), reduction="sum")(xt, torch.tensor(t))
    _check(l1, l2, [xd], [xt], rng, tol={"rtol": 2e-6, "atol": 2e-6})


def test_nll_loss_target_not_aliased():
    """The backward reads the targets as they were at the forward."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, size=6)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    td = dg.tensor(t.copy())
    l1 = F.nll_loss(xd, td, reduction="sum")
    l2 = TF.nll_loss(xt, torch.tensor(t), reduction="sum")
    td.data[:] = (td.data + 1) % 4
    _check(l1, l2, [xd], [xt], rng)


def test_nll_loss_errors():
    x = dg.tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(IndexError, match="out of range"):
        F.nll_loss(x, dg.tensor(np.array([0, 4, 1])))
    with pytest.raises(IndexError, match="out of range"):
        F.nll_loss(x, dg.tensor(np.array([0, -1, 1])))
    with pytest.raises(RuntimeError, match="weight"):
        F.nll_loss(x, dg.tensor(np.array([0, 1, 1])), weight=dg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="reduction"):
        F.nll_loss(x, dg.tensor(np.array([0, 1, 1])), reduction="avg")
    with pytest.raises((TypeError, RuntimeError), match="target"):
        F.nll_loss(x, dg.tensor(np.array([0.0, 1.0, 1.0])))
    with pytest.raises(ValueError, match="target"):
        F.nll_loss(x, dg.tensor(np.array([0, 1])))
    with pytest.raises(TypeError, match="ignore_index"):
        F.nll_loss(x, dg.tensor(np.array([0, 1, 1])), ignore_index=1.5)


# ---- smooth_l1_loss / huber_loss ----------------------------------------------------------------


def _regression_data(rng, shape, extremes):
    x = rng.standard_normal(shape) * 2
    t = rng.standard_normal(shape) * 2
    if extremes and x.size > 5:
        x.flat[:4] = [np.inf, np.nan, -np.inf, 1e300]
        t.flat[4] = -np.inf
    return x, t


@pytest.mark.parametrize(
    "kind,par", [("smooth", 1.0), ("smooth", 0.3), ("smooth", 0.0), ("huber", 1.0), ("huber", 2.5)]
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_and_huber(kind, par, reduction):
    rng = _rng("sl1", kind, par, reduction)
    for shape in [(7, 5), (3, 4, 2), (1,), (), (0, 3)]:
        for extremes in (False, True):
            x, t = _regression_data(rng, shape, extremes)
            xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
            if kind == "smooth":
                l1 = F.smooth_l1_loss(xd, td, reduction=reduction, beta=par)
                l2 = TF.smooth_l1_loss(xt, tt, reduction=reduction, beta=par)
            else:
                l1 = F.huber_loss(xd, td, reduction=reduction, delta=par)
                l2 = TF.huber_loss(xt, tt, reduction=reduction, delta=par)
            _check(l1, l2, [xd, td], [xt, tt], rng, double=not extremes)


def test_smooth_l1_kinks_and_float32():
    """|d| == beta exactly (the gradient is +-1, torch's branch) and float32 at size."""
    x = np.array([1.0, -1.0, 0.5, -0.5, 0.0, 2.0])
    t = np.zeros(6)
    for beta in (1.0, 0.5):
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        _check(
            F.smooth_l1_loss(xd, dg.tensor(t), beta=beta, reduction="sum"),
            TF.smooth_l1_loss(xt, torch.tensor(t), beta=beta, reduction="sum"),
            [xd],
            [xt],
            np.random.default_rng(0),
        )
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        _check(
            F.huber_loss(xd, dg.tensor(t), delta=beta, reduction="none"),
            TF.huber_loss(xt, torch.tensor(t), delta=beta, reduction="none"),
            [xd],
            [xt],
            np.random.default_rng(0),
        )
    rng = np.random.default_rng(7)
    x = rng.standard_normal((256, 300)).astype(np.float32)
    t = rng.standard_normal((256, 300)).astype(np.float32)
    tol32 = {"rtol": 2e-6, "atol": 1e-7}
    for mod1, mod2 in (
        (dnn.SmoothL1Loss(beta=0.7), torch.nn.SmoothL1Loss(beta=0.7)),
        (dnn.HuberLoss(delta=0.4), torch.nn.HuberLoss(delta=0.4)),
    ):
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
        _check(mod1(xd, td), mod2(xt, tt), [xd, td], [xt, tt], rng, tol=tol32, double=False)


def test_smooth_l1_broadcast_and_gradcheck():
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
    with pytest.warns(UserWarning):
        l1 = F.huber_loss(xd, td, delta=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        l2 = TF.huber_loss(xt, tt, delta=0.6)
    _check(l1, l2, [xd, td], [xt, tt], rng)
    a = dg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = dg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert dg.gradcheck(lambda a, b: F.smooth_l1_loss(a, b, beta=0.8), (a, b))


def test_smooth_l1_huber_errors():
    x, t = dg.tensor(np.zeros(3)), dg.tensor(np.ones(3))
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(x, t, delta=0.0)
    with pytest.raises(TypeError, match="beta"):
        F.smooth_l1_loss(x, t, beta="1")
    for fn in (F.smooth_l1_loss, F.huber_loss):
        with pytest.raises(ValueError, match="reduction"):
            fn(x, t, reduction="avg")


# ---- binary_cross_entropy_with_logits with weight / pos_weight ----------------------------------


@pytest.mark.parametrize("which", ["w", "pw", "both"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_weighted(which, reduction):
    rng = _rng("bce", which, reduction)
    for shape in [(7, 5), (3, 4, 5), (0, 5), (1,), (5,)]:
        for extremes in (False, True):
            z = rng.standard_normal(shape) * 3
            t = rng.random(shape)
            if extremes and z.size > 5:
                z.flat[:6] = [50, -50, 800, -800, 1e-30, -3]
                t.flat[:2] = [1, 0]
            w = rng.random(shape[-1:]) + 0.1 if which in ("w", "both") else None
            pw = rng.random(shape[-1:]) * 3 if which in ("pw", "both") else None
            zd, zt = dg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
            td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
            l1 = F.binary_cross_entropy_with_logits(
                zd,
                td,
                weight=None if w is None else dg.tensor(w),
                pos_weight=None if pw is None else dg.tensor(pw),
                reduction=reduction,
            )
            l2 = TF.binary_cross_entropy_with_logits(
                zt,
                tt,
                weight=None if w is None else torch.tensor(w),
                pos_weight=None if pw is None else torch.tensor(pw),
                reduction=reduction,
            )
            _check(l1, l2, [zd, td], [zt, tt], rng, double=not extremes)


def test_bce_with_logits_infinite_logits():
    """z = +-inf: the stable expression (torch's losses and gradients)."""
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 1.0])
    t = np.array([0, 0, 1, 1, 0.5, 0.25])
    for pw in (None, np.array([2.0])):
        zd, zt = dg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
        l1 = F.binary_cross_entropy_with_logits(
            zd,
            dg.tensor(t),
            weight=dg.tensor([0.5]),
            pos_weight=None if pw is None else dg.tensor(pw),
            reduction="none",
        )
        l2 = TF.binary_cross_entropy_with_logits(
            zt,
            torch.tensor(t),
            weight=torch.tensor([0.5]),
            pos_weight=None if pw is None else torch.tensor(pw),
            reduction="none",
        )
        _check(l1, l2, [zd], [zt], np.random.default_rng(0), double=False)


def test_bce_with_logits_pos_weight_float32_module():
    rng = np.random.default_rng(9)
    z = (rng.standard_normal((64, 30)) * 4).astype(np.float32)
    t = (rng.random((64, 30)) < 0.3).astype(np.float32)
    pw = (rng.random(30) * 3).astype(np.float32)
    zd, zt = dg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    l1 = dnn.BCEWithLogitsLoss(pos_weight=dg.tensor(pw))(zd, dg.tensor(t))
    l2 = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(zt, torch.tensor(t))
    _check(l1, l2, [zd], [zt], rng, tol={"rtol": 2e-6, "atol": 1e-7}, double=False)
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(zd, dg.tensor(t), pos_weight=dg.tensor(np.ones(4)))


# ---- kl_div(log_target=True) / cosine_embedding_loss -------------------------------------------


@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
def test_kl_div_log_target(reduction):
    rng = _rng("kl", reduction)
    for shape in [(7, 5), (3, 4, 5), (0, 5), (1,), ()]:
        for extremes in (False, True):
            x, t = rng.standard_normal(shape), rng.standard_normal(shape)
            if extremes and x.size > 3:
                x.flat[0], t.flat[1], t.flat[2] = np.inf, -np.inf, 30.0
            xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "mean"'s UserWarning, both sides
                l1 = F.kl_div(xd, td, reduction=reduction, log_target=True)
                l2 = TF.kl_div(xt, tt, reduction=reduction, log_target=True)
            _check(l1, l2, [xd, td], [xt, tt], rng)


def test_kl_div_log_target_broadcast_and_float32():
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((4, 5)), rng.standard_normal((5,))  # broadcast: the Tensor ops
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    td, tt = dg.tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
    _check(
        F.kl_div(xd, td, reduction="sum", log_target=True),
        TF.kl_div(xt, tt, reduction="sum", log_target=True),
        [xd, td],
        [xt, tt],
        rng,
    )
    x32 = rng.standard_normal((64, 50)).astype(np.float32)
    t32 = rng.standard_normal((64, 50)).astype(np.float32)
    xd, xt = dg.tensor(x32, requires_grad=True), torch.tensor(x32, requires_grad=True)
    td, tt = dg.tensor(t32, requires_grad=True), torch.tensor(t32, requires_grad=True)
    _check(
        dnn.KLDivLoss(reduction="batchmean", log_target=True)(xd, td),
        torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(xt, tt),
        [xd, td],
        [xt, tt],
        rng,
        tol={"rtol": 2e-6, "atol": 1e-7},
        double=False,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss(reduction):
    rng = _rng("cos", reduction)
    for n in (7, 1, 0):
        for margin in (0.0, 0.3, -0.5):
            a, b = rng.standard_normal((n, 5)), rng.standard_normal((n, 5))
            y = rng.choice([1, -1, 0], size=n)
            if n > 3:
                b[2], y[2], b[3] = a[2] * 2, -1, 0.0
            ad, at = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            bd, bt = dg.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
            l1 = F.cosine_embedding_loss(ad, bd, dg.tensor(y), margin=margin, reduction=reduction)
            l2 = TF.cosine_embedding_loss(
                at, bt, torch.tensor(y), margin=margin, reduction=reduction
            )
            _check(l1, l2, [ad, bd], [at, bt], rng)


def test_cosine_embedding_kink_float32_1d_and_errors():
    # cos - margin == 0 exactly (a, b parallel: cos 1, margin 1): torch passes the gradient
    a = np.array([[1.0, 2.0, 2.0], [0.5, -1.0, 3.0]])
    b = np.array([[2.0, 4.0, 4.0], [1.0, 1.0, 1.0]])
    y = np.array([-1, 1])
    ad, at = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    bd, bt = dg.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    c = float((a[0] @ b[0]) / np.sqrt((a[0] @ a[0] + 1e-12) * (b[0] @ b[0] + 1e-12)))
    _check(
        F.cosine_embedding_loss(ad, bd, dg.tensor(y), margin=c),
        TF.cosine_embedding_loss(at, bt, torch.tensor(y), margin=c),
        [ad, bd],
        [at, bt],
        np.random.default_rng(0),
        double=False,
    )
    rng = np.random.default_rng(11)
    a32 = rng.standard_normal((128, 40)).astype(np.float32)
    b32 = rng.standard_normal((128, 40)).astype(np.float32)
    y32 = rng.choice([1, -1], size=128)
    ad, at = dg.tensor(a32, requires_grad=True), torch.tensor(a32, requires_grad=True)
    bd, bt = dg.tensor(b32, requires_grad=True), torch.tensor(b32, requires_grad=True)
    _check(
        dnn.CosineEmbeddingLoss(margin=0.2)(ad, bd, dg.tensor(y32)),
        torch.nn.CosineEmbeddingLoss(margin=0.2)(at, bt, torch.tensor(y32)),
        [ad, bd],
        [at, bt],
        rng,
        tol={"rtol": 2e-6, "atol": 1e-7},
        double=False,
    )
    a1, b1 = rng.standard_normal(6), rng.standard_normal(6)  # (D,) inputs, a 0-d target
    ad, at = dg.tensor(a1, requires_grad=True), torch.tensor(a1, requires_grad=True)
    bd, bt = dg.tensor(b1, requires_grad=True), torch.tensor(b1, requires_grad=True)
    _check(
        F.cosine_embedding_loss(ad, bd, dg.tensor(np.array(-1)), margin=-0.9),
        TF.cosine_embedding_loss(at, bt, torch.tensor(-1), margin=-0.9),
        [ad, bd],
        [at, bt],
        rng,
    )
    with pytest.raises(RuntimeError):
        F.cosine_embedding_loss(dg.tensor(a), dg.tensor(b), dg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="reduction"):
        F.cosine_embedding_loss(dg.tensor(a), dg.tensor(b), dg.tensor(y), reduction="avg")
    assert dg.gradcheck(
        lambda u, v: F.cosine_embedding_loss(u, v, dg.tensor(y), margin=0.1),
        (dg.tensor(a + 0.1, requires_grad=True), dg.tensor(b - 0.2, requires_grad=True)),
    )


def test_device_branches_on_numpy(monkeypatch):
    """The branches a device array takes (no host synchronization to find ignored rows; the
    stable BCE expression), run on numpy through functional._on_host."""
    import deltagrad.functional as dgf

    monkeypatch.setattr(dgf, "_on_host", lambda xp: False)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 4, 5))
    t = rng.integers(0, 4, size=(3, 5))
    w = rng.random(4) + 0.5
    for red in REDUCTIONS:
        for ii in (-100, 2):
            xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            l1 = F.nll_loss(xd, dg.tensor(t), weight=dg.tensor(w), ignore_index=ii, reduction=red)
            l2 = TF.nll_loss(
                xt, torch.tensor(t), weight=torch.tensor(w), ignore_index=ii, reduction=red
            )
            _check(l1, l2, [xd], [xt], rng)
        z, p = rng.standard_normal((6, 4)) * 3, rng.random((6, 4))
        pw = rng.random(4) * 3
        zd, zt = dg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
        pd, pt = dg.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
        l1 = F.binary_cross_entropy_with_logits(zd, pd, pos_weight=dg.tensor(pw), reduction=red)
        l2 = TF.binary_cross_entropy_with_logits(zt, pt, pos_weight=torch.tensor(pw), reduction=red)
        _check(l1, l2, [zd, pd], [zt, pt], rng)
