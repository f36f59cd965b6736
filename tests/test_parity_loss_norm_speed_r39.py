"""torch 2.13 parity (round 39) of the fast paths: F.cross_entropy with class indices takes the
fused softmax-cross-entropy kernel for every option (weight, ignore_index, label_smoothing,
K-dim targets), and x.norm(p) has a one-pass backward for p = 2 and p = 1. Loss, gradient and
double backward against torch, float64 to 1e-12 and float32 to ~1e-6; the device branch of
the cross_entropy path (no synchronization) runs on numpy through functional._on_host."""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as dgf
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]


def _tol(dt: type) -> dict:
    if dt is np.float64:
        return {"rtol": 1e-12, "atol": 1e-12, "equal_nan": True}
    return {"rtol": 2e-6, "atol": 2e-6, "equal_nan": True}


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


def _arr(t: dg.Tensor) -> np.ndarray:
    return np.asarray(t.data)


def _ce_both(x, t, w=None, g=None, **kw):
    """cross_entropy on both sides (input gradients from sum(loss * g))."""
    tx = torch.tensor(x, requires_grad=True)
    dx = dg.tensor(x, requires_grad=True)
    tw = None if w is None else torch.tensor(w)
    dw = None if w is None else dg.tensor(w)
    ty = TF.cross_entropy(tx, torch.tensor(t), weight=tw, **kw)
    dy = F.cross_entropy(dx, dg.tensor(t), weight=dw, **kw)
    if g is None:
        g = np.linspace(-1.5, 2.0, ty.numel()).reshape(ty.shape).astype(x.dtype)
    (ty * torch.tensor(g)).sum().backward()
    (dy * dg.tensor(g)).sum().backward()
    return dy, ty, dx, tx


def _check_ce(x, t, w=None, **kw):
    dy, ty, dx, tx = _ce_both(x, t, w, **kw)
    tol = _tol(x.dtype.type)
    assert dy.shape == tuple(ty.shape) and dy.dtype == x.dtype
    np.testing.assert_allclose(_arr(dy), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(_arr(dx.grad), tx.grad.numpy(), **tol)


def _targets(rng, c, shape, ignore_index, frac):
    t = rng.integers(0, c, size=shape)
    if frac:
        t = np.where(rng.random(shape) < frac, ignore_index, t)
    return t


CE_SHAPES = [((7, 5), (7,)), ((5,), ()), ((4, 6, 3), (4, 3)), ((3, 4, 2, 2), (3, 2, 2))]


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("shape,tshape", CE_SHAPES)
def test_cross_entropy_options_match_torch(dt, shape, tshape):
    """Every combination of weight / ignore_index / label_smoothing / reduction, on
    (N, C), (C,) and K-dim inputs, with none or some targets ignored (all: below)."""
    rng = np.random.default_rng(_seed(shape, dt))
    c = shape[0] if len(shape) == 1 else shape[1]
    x = (rng.standard_normal(shape) * 3).astype(dt)
    w = (rng.random(c) + 0.1).astype(dt)
    for weighted, (ii, frac), eps, red in itertools.product(
        [False, True], [(-100, 0.0), (-100, 0.4), (1, 0.4)], [0.0, 0.1], REDUCTIONS
    ):
        t = _targets(rng, c, tshape, ii, frac)
        _check_ce(
            x, t, w if weighted else None, ignore_index=ii, label_smoothing=eps, reduction=red
        )


def test_cross_entropy_device_branch(monkeypatch):
    """The branch a GPU takes (every row possibly ignored, no synchronization), on numpy."""
    monkeypatch.setattr(dgf, "_on_host", lambda xp: False)
    rng = np.random.default_rng(5)
    for shape, tshape in CE_SHAPES[:3]:
        c = shape[0] if len(shape) == 1 else shape[1]
        x = rng.standard_normal(shape)
        w = rng.random(c) + 0.1
        for weighted, eps, red, frac in itertools.product(
            [False, True], [0.0, 0.2], REDUCTIONS, [0.0, 0.5, 1.0]
        ):
            t = _targets(rng, c, tshape, -100, frac)
            _check_ce(x, t, w if weighted else None, label_smoothing=eps, reduction=red)
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(dg.tensor(x), dg.tensor(np.full(tshape, c)), label_smoothing=0.1)


def test_cross_entropy_all_ignored_and_empty():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    t = np.full(4, -100)
    for eps, w in [(0.0, None), (0.3, None), (0.3, np.array([1.0, 2.0, 3.0]))]:
        dy, ty, dx, tx = _ce_both(x, t, w, label_smoothing=eps)
        assert math.isnan(float(_arr(dy))) and math.isnan(ty.item())
        np.testing.assert_array_equal(_arr(dx.grad), tx.grad.numpy())  # zeros
        for red in ["none", "sum"]:
            _check_ce(x, t, w, label_smoothing=eps, reduction=red)
    for red, w in itertools.product(REDUCTIONS, [None, np.array([1.0, 2.0, 3.0])]):
        _check_ce(x, np.array([0, 2, 1, 1]), w, label_smoothing=1.0, reduction=red)
    for red in REDUCTIONS:  # size 0
        _check_ce(np.zeros((0, 3)), np.zeros(0, np.int64), reduction=red, label_smoothing=0.2)
        _check_ce(np.ones((0, 3, 2)), np.zeros((0, 2), np.int64), reduction=red)


def test_cross_entropy_zero_weights_nonfinite_and_large_logits():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4))
    t = np.array([0, 1, 2, 3, 1])
    _check_ce(x, t, np.zeros(4), label_smoothing=0.2)  # sum of weights 0: NaN, as torch
    _check_ce(x, t, np.array([1.0, 0.0, 2.0, 0.0]), label_smoothing=0.2, reduction="none")
    x2 = x.copy()
    x2[0, 1] = -np.inf  # a masked logit: the smoothing term is inf, the gradient finite
    for red, eps in itertools.product(REDUCTIONS, [0.0, 0.1]):
        _check_ce(x2, t, label_smoothing=eps, reduction=red)
    x3 = x.copy()
    x3[0, 2] = np.nan  # in an ignored row: nothing of it reaches the loss
    _check_ce(x3, np.array([-100, 1, 2, 3, 1]), label_smoothing=0.1)
    _check_ce(x * 1e4 + 1e5, t, label_smoothing=0.2)  # cancellation stays at float64 eps
    _check_ce(x * 1e4 + 1e5, t, np.array([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.2)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_cross_entropy_probability_targets_with_smoothing(dt):
    rng = np.random.default_rng(3)
    for shape in [(5, 4), (3, 4, 2)]:
        x = rng.standard_normal(shape).astype(dt)
        p = rng.random(shape).astype(dt)
        p /= p.sum(1, keepdims=True)
        w = (rng.random(4) + 0.5).astype(dt)
        for red, eps, weighted in itertools.product(REDUCTIONS, [0.0, 0.25], [False, True]):
            _check_ce(x, p, w if weighted else None, label_smoothing=eps, reduction=red)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"label_smoothing": 0.1},
        {"ignore_index": 1},
        {"label_smoothing": 0.3, "ignore_index": 0, "weight": np.array([1.0, 2.0, 3.0])},
    ],
)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_cross_entropy_double_backward(kw, red):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3))
    t = np.array([0, 1, 2, 1])
    kw = dict(kw)
    w = kw.pop("weight", None)
    tx = torch.tensor(x, requires_grad=True)
    dx = dg.tensor(x, requires_grad=True)
    ty = TF.cross_entropy(
        tx, torch.tensor(t), weight=None if w is None else torch.tensor(w), reduction=red, **kw
    )
    dy = F.cross_entropy(
        dx, dg.tensor(t), weight=None if w is None else dg.tensor(w), reduction=red, **kw
    )
    (gt,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (gd,) = dg.autograd.grad(dy.sum(), dx, create_graph=True)
    np.testing.assert_allclose(_arr(gd), gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    (gt * gt).sum().backward()
    (gd * gd).sum().backward()
    np.testing.assert_allclose(_arr(dx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_retain_graph_and_leaf_grad_owned():
    """The fused path hands its gradient array to .grad: a second backward (retain_graph)
    must not see it changed."""
    rng = np.random.default_rng(6)
    x = dg.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    t = dg.tensor(np.array([0, -100, 2, 3, 4, 1]))
    loss = F.cross_entropy(x, t, label_smoothing=0.2)
    loss.backward(retain_graph=True)
    first = _arr(x.grad).copy()
    loss.backward()
    np.testing.assert_allclose(_arr(x.grad), 2 * first, rtol=1e-14)


def test_cross_entropy_errors():
    x = dg.tensor(np.random.default_rng(7).standard_normal((4, 3)))
    for t, kw in itertools.product(
        [np.array([0, 1, 3, 1]), np.array([0, 1, -5, 1])],
        [{}, {"label_smoothing": 0.1}, {"ignore_index": 1}, {"weight": dg.tensor(np.ones(3))}],
    ):
        with pytest.raises(IndexError, match="out of range"):
            F.cross_entropy(x, dg.tensor(t), **kw)
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, dg.tensor(np.array([0, 1, 2, 1])), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, dg.tensor(np.array([0, 1, 2, 1])), weight=dg.tensor(np.ones(4)))


# ---- norm -------------------------------------------------------------------------------------

NORM_PS = [2, 1, math.inf, -math.inf, 0, 3.5, 1.5, 0.5]
NORM_CASES = [
    ((5, 300), -1),  # a 128-block remainder in the fused sum of squares
    ((4, 256), None),
    ((4, 3, 130), (1, 2)),
    ((4, 3, 7), 0),  # not trailing: the plain reduction
    ((0, 3), -1),
    ((3, 0), 1),
    ((), None),
    ((6,), 0),
]


def _norm_input(rng, shape, dt):
    x = rng.standard_normal(shape).astype(dt)
    if x.size > 2:
        x.flat[1] = 0  # a zero inside a slice
    if x.ndim == 2 and x.shape[0] > 1 and x.shape[1]:
        x[1] = 0  # an all-zero slice
    return x


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("p", NORM_PS)
def test_norm_matches_torch(dt, p):
    rng = np.random.default_rng(_seed(p, dt))
    tol = _tol(dt)
    for (shape, dim), keep in itertools.product(NORM_CASES, [False, True]):
        if p in (math.inf, -math.inf) and 0 in shape:
            continue  # torch: no identity for an empty max / min
        x = _norm_input(rng, shape, dt)
        tx = torch.tensor(x, requires_grad=True)
        dx = dg.tensor(x, requires_grad=True)
        ty = tx.norm(p, dim=dim, keepdim=keep)
        dy = dx.norm(p, dim=dim, keepdim=keep)
        assert dy.shape == tuple(ty.shape) and dy.dtype == dt
        np.testing.assert_allclose(_arr(dy), ty.detach().numpy(), **tol)
        if p == 0:
            continue
        g = rng.standard_normal(tuple(ty.shape)).astype(dt)
        ty.backward(torch.tensor(g))
        dy.backward(dg.tensor(g))
        assert dx.grad.dtype == dt
        np.testing.assert_allclose(_arr(dx.grad), tx.grad.numpy(), **tol)


@pytest.mark.parametrize("p", [2, 1, 3.5, 1.5, 0.5])
def test_norm_nonfinite_as_torch(p):
    """NaN / inf in x and in the incoming gradient spread as torch's norm_backward."""
    nan, inf = math.nan, math.inf
    x = np.array([[nan, 1.0, 0.0, -2.0], [0, 0, 0, 0], [inf, 1, 0, -2], [3, 0, -1, 2]])
    for gval, row in itertools.product([1.0, inf, nan], [1, 3]):
        g = np.ones(4)
        g[row] = gval
        tx = torch.tensor(x, requires_grad=True)
        dx = dg.tensor(x, requires_grad=True)
        ty = tx.norm(p, dim=1)
        dy = dx.norm(p, dim=1)
        np.testing.assert_allclose(_arr(dy), ty.detach().numpy(), rtol=1e-12, equal_nan=True)
        ty.backward(torch.tensor(g))
        dy.backward(dg.tensor(g))
        np.testing.assert_allclose(_arr(dx.grad), tx.grad.numpy(), rtol=1e-12, equal_nan=True)


def test_norm_two_tiny_and_huge_float32():
    """A norm that underflows / overflows in plain float32 arithmetic: the scaled forward,
    and a backward that does not divide g by a tiny norm first."""
    for scale in [1e-30, 1e-36, 1e30]:
        x = (np.array([[3.0, -4.0, 0.0], [1.0, 2.0, 2.0]]) * scale).astype(np.float32)
        dx = dg.tensor(x, requires_grad=True)
        y = dx.norm(dim=1)
        y.sum().backward()
        ref = np.sqrt((x.astype(np.float64) ** 2).sum(1))
        np.testing.assert_allclose(_arr(y), ref, rtol=1e-6)
        np.testing.assert_allclose(_arr(dx.grad), x / ref[:, None], rtol=1e-5, atol=1e-7)


def test_norm_two_accuracy_float32_all():
    """The blocked sum of squares: float32 accuracy of a pairwise sum over 2**20 elements."""
    x = np.random.default_rng(8).standard_normal((1024, 1024)).astype(np.float32) + 3
    ref = np.sqrt((x.astype(np.float64) ** 2).sum())
    assert abs(float(_arr(dg.tensor(x).norm())) - ref) / ref < 1e-6
    refr = np.sqrt((x.astype(np.float64) ** 2).sum(1))
    np.testing.assert_allclose(_arr(dg.tensor(x).norm(dim=1)), refr, rtol=1e-6)


@pytest.mark.parametrize("p", [2, 1, 3.5])
def test_norm_double_backward(p):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 5))
    x[0, 1] = 0.0
    tx = torch.tensor(x, requires_grad=True)
    dx = dg.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(tx.norm(p, dim=1).sum(), tx, create_graph=True)
    (gd,) = dg.autograd.grad(dx.norm(p, dim=1).sum(), dx, create_graph=True)
    np.testing.assert_allclose(_arr(gd), gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    (gt * gt * tx).sum().backward()
    (gd * gd * dx).sum().backward()
    np.testing.assert_allclose(_arr(dx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_norm_second_derivative_at_a_zero_entry():
    """At a zero entry (not an all-zero slice) the 2-norm's Hessian is 1 / norm on the
    diagonal, as torch's: the first gradient's graph is not cut there."""
    a = np.array([[-1.5, 0.0, 2.0], [0.0, 3.0, 0.0]])
    x = dg.tensor(a, requires_grad=True)
    (g,) = dg.autograd.grad(x.norm(dim=1).sum(), [x], create_graph=True)
    (h,) = dg.autograd.grad((g * dg.tensor(a + 1)).sum(), [x])
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(tx.norm(dim=1).sum(), [tx], create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(a + 1)).sum(), [tx])
    np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-12, atol=1e-14)
