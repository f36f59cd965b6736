"""unfold / fold, affine_grid / grid_sample and gumbel_softmax against torch 2.13 (round 37):
forward and gradients in float64 over strides, paddings, dilations, every grid_sample mode,
padding_mode and align_corners (grids outside [-1, 1] too), the modules, and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _run(fn_dg, fn_t, arrays, seed=1, grads=None):
    """fn on deltagrad and torch copies of arrays; the outputs and the gradients of a random
    weighted sum of the output (for the arrays whose index is in grads; default: all)."""
    grads = range(len(arrays)) if grads is None else grads
    ds = [dg.Tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    yd, yt = fn_dg(*ds), fn_t(*ts)
    w = _rng(seed).standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
    if yt.numel():
        (yd * dg.Tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
    return (
        np.asarray(yd.data),
        yt.detach().numpy(),
        [(ds[i].grad, ts[i].grad) for i in grads],
    )


def _check(fn_dg, fn_t, arrays, tol=TOL, grads=None):
    yd, yt, gs = _run(fn_dg, fn_t, arrays, grads=grads)
    assert yd.shape == yt.shape and yd.dtype == yt.dtype
    np.testing.assert_allclose(yd, yt, **tol)
    for gd, gt in gs:
        if gt is None:
            continue
        assert gd is not None
        np.testing.assert_allclose(np.asarray(gd), gt.numpy(), **tol)


# ---- unfold / fold --------------------------------------------------------------------------

_GEOMS = [
    {"kernel_size": 3},
    {"kernel_size": (2, 3), "dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)},
    {"kernel_size": 1, "stride": 2},
    {"kernel_size": (3, 1), "dilation": 3, "padding": 2, "stride": (1, 2)},
    {"kernel_size": [7, 8]},  # one block
]


@pytest.mark.parametrize("geom", _GEOMS)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 7, 8), (1, 1, 7, 8), (0, 2, 7, 8)])
def test_unfold_and_fold_match_torch(geom, shape):
    x = _rng().standard_normal(shape)
    _check(lambda a: F.unfold(a, **geom), lambda a: TF.unfold(a, **geom), [x])
    cols = TF.unfold(torch.tensor(x), **geom).numpy()
    c = _rng(2).standard_normal(cols.shape)
    _check(lambda a: F.fold(a, (7, 8), **geom), lambda a: TF.fold(a, (7, 8), **geom), [c])


def test_fold_is_unfolds_adjoint_and_gradcheck():
    rng = _rng(3)
    geom = {"kernel_size": (2, 3), "dilation": (1, 2), "padding": 1, "stride": (2, 1)}
    x = rng.standard_normal((2, 2, 5, 6))
    u = F.unfold(dg.Tensor(x), **geom)
    c = rng.standard_normal(u.shape)
    lhs = float((np.asarray(u.data) * c).sum())
    rhs = float((x * np.asarray(F.fold(dg.Tensor(c), (5, 6), **geom).data)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)
    xs = dg.Tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert dg.gradcheck(lambda a: F.unfold(a, 2, padding=1, stride=2), (xs,))
    cs = dg.Tensor(rng.standard_normal((1, 8, 6)), requires_grad=True)
    assert dg.gradcheck(lambda a: F.fold(a, (3, 4), 2), (cs,))


def test_unfold_float32_and_extremes():
    x = _rng(4).standard_normal((2, 3, 6, 5)).astype(np.float32) * 1e30
    x[0, 0, 1, 2] = np.inf
    x[1, 2, 3, 3] = -np.inf
    x[1, 0, 0, 0] = np.nan
    yd = F.unfold(dg.Tensor(x), 3, padding=1)
    yt = TF.unfold(torch.tensor(x), 3, padding=1)
    assert yd.data.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(yd.data), yt.numpy())
    c = np.asarray(yd.data)
    c = np.where(np.isfinite(c), c, 1.0) * 1e-30
    _check(
        lambda a: F.fold(a, (6, 5), 3, padding=1),
        lambda a: TF.fold(a, (6, 5), 3, padding=1),
        [c.astype(np.float32)],
        tol={"rtol": 1e-5, "atol": 1e-6},
    )


def test_unfold_fold_modules():
    assert repr(dnn.Unfold(2, padding=1)) == repr(torch.nn.Unfold(2, padding=1))
    f, ft = dnn.Fold((4, 5), (2, 3), stride=1), torch.nn.Fold((4, 5), (2, 3), stride=1)
    assert repr(f) == repr(ft)
    assert f.output_size == (4, 5) and f.kernel_size == (2, 3) and f.dilation == 1
    x = _rng(5).standard_normal((2, 12, 9))
    np.testing.assert_allclose(np.asarray(f(dg.Tensor(x)).data), ft(torch.tensor(x)).numpy(), **TOL)
    u = dnn.Unfold((2, 3), dilation=1, padding=(0, 1), stride=2)
    ut = torch.nn.Unfold((2, 3), dilation=1, padding=(0, 1), stride=2)
    y = _rng(6).standard_normal((3, 5, 6))
    np.testing.assert_allclose(np.asarray(u(dg.Tensor(y)).data), ut(torch.tensor(y)).numpy())


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda x: F.unfold(x, 7), RuntimeError, "at least one"),
        (lambda x: F.unfold(x, 0), RuntimeError, "kernel size should be greater than zero"),
        (lambda x: F.unfold(x, 2, stride=0), RuntimeError, "stride should be greater"),
        (lambda x: F.unfold(x, 2, padding=-1), ValueError, "padding should be non-negative"),
        (lambda x: F.unfold(x, 2, dilation=0), ValueError, "dilation should be greater"),
        (lambda x: F.unfold(x, (2, 2, 2)), RuntimeError, "kernel_size equals to 2"),
        (lambda x: F.unfold(x, 2.0), TypeError, "kernel_size"),
        (lambda x: F.unfold(x[0, 0], 2), IndexError, "unfold"),
        (lambda x: F.unfold(x.reshape(1, 2, 3, 5, 6), 2), RuntimeError, "3D or 4D"),
        (lambda x: F.unfold(x[:, :0], 2), RuntimeError, "non-zero dimensions"),
        (lambda x: F.unfold(dg.Tensor(np.ones((1, 1, 3, 3), np.int64)), 2), TypeError, "Long"),
        (lambda x: F.unfold([1.0], 2), TypeError, "unfold: input"),
        (lambda x: F.fold(x.reshape(3, 12, 5), (5, 6), 3), RuntimeError, "divisible"),
        (lambda x: F.fold(x.reshape(3, 12, 5), (5, 6), 2), ValueError, "sliding blocks"),
        (lambda x: F.fold(x.reshape(3, 12, 5), (5, 6, 7), 2), RuntimeError, "output_size"),
        (lambda x: F.fold(x, (5, 6), 2), RuntimeError, "2D or 3D"),
        (lambda x: F.fold(x.reshape(3, 12, 5), (5, 6), 2, stride=0), ValueError, "stride"),
    ],
)
def test_unfold_fold_errors(call, exc, match):
    x = dg.Tensor(_rng().standard_normal((2, 3, 5, 6)))
    with pytest.raises(exc, match=match):
        call(x)


# ---- affine_grid ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [[2, 3, 4, 5], [2, 1, 1, 7], [1, 2, 3, 1, 4], [2, 1, 2, 5, 3], [3, 2, 6, 1]]
)
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_matches_torch(size, align):
    nd = len(size) - 2
    theta = _rng(7).standard_normal((size[0], nd, nd + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # align_corners=True on a unit size warns, as torch
        _check(
            lambda t: F.affine_grid(t, size, align),
            lambda t: TF.affine_grid(t, size, align),
            [theta],
        )


def test_affine_grid_warnings_and_errors():
    theta = dg.Tensor(_rng().standard_normal((2, 2, 3)))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(theta, [2, 3, 4, 5])
    with pytest.warns(UserWarning, match="unit-size grids"):
        F.affine_grid(theta, [2, 3, 1, 5], align_corners=True)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(dg.Tensor(np.ones((2, 2, 3), np.int64)), [2, 3, 4, 5], False)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(dg.Tensor(np.ones((2, 3, 4))), [2, 3, 4, 5], False)
    with pytest.raises(ValueError, match="Nx3x4"):
        F.affine_grid(theta, [2, 3, 4, 5, 6], False)
    with pytest.raises(NotImplementedError, match="4D and 5D"):
        F.affine_grid(theta, [2, 3, 4], False)
    with pytest.raises(ValueError, match="positive output size"):
        F.affine_grid(theta, [2, 3, 0, 5], False)
    with pytest.raises(ValueError, match="batch of 2"):
        F.affine_grid(dg.Tensor(np.ones((3, 2, 3))), [2, 3, 4, 5], False)
    with pytest.raises(TypeError, match="size"):
        F.affine_grid(theta, [2, 3, 4.0, 5], False)


# ---- grid_sample ----------------------------------------------------------------------------

_MODES = ["bilinear", "nearest", "bicubic"]
_PADS = ["zeros", "border", "reflection"]


def _grid(shape, seed=8, lo=-1.7, hi=1.7):
    return _rng(seed).uniform(lo, hi, shape)


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("padding_mode", _PADS)
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_2d_matches_torch(mode, padding_mode, align):
    x = _rng(9).standard_normal((2, 3, 5, 7))
    g = _grid((2, 4, 6, 2))
    g[0, 0, 0] = (-1.0, 1.0)  # the corners and far outside
    g[0, 0, 1] = (1.0, -1.0)
    g[1, 3, 5] = (5.3, -7.9)

    def fd(a, b):
        return F.grid_sample(a, b, mode, padding_mode, align)

    def ft(a, b):
        return TF.grid_sample(a, b, mode, padding_mode, align)

    _check(fd, ft, [x, g])
    # a size-1 axis (reflection's empty span) and float32
    x1 = _rng(10).standard_normal((1, 2, 1, 4)).astype(np.float32)
    g1 = _grid((1, 3, 2, 2), seed=11).astype(np.float32)
    _check(fd, ft, [x1, g1], tol={"rtol": 1e-5, "atol": 1e-5})


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", _PADS)
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_3d_matches_torch(mode, padding_mode, align):
    x = _rng(12).standard_normal((2, 2, 4, 3, 5))
    g = _grid((2, 3, 2, 4, 3), seed=13)

    def fd(a, b):
        return F.grid_sample(a, b, mode, padding_mode, align)

    def ft(a, b):
        return TF.grid_sample(a, b, mode, padding_mode, align)

    _check(fd, ft, [x, g])


@pytest.mark.parametrize("padding_mode", ["border", "reflection"])
def test_grid_sample_large_and_infinite_grid(padding_mode):
    x = _rng(14).standard_normal((1, 2, 4, 5))
    g = _grid((1, 2, 3, 2), seed=15) * 1e6
    g[0, 0, 0] = (np.inf, -np.inf)
    g[0, 0, 1] = (-np.inf, np.inf)
    g[0, 1, 0] = (np.nan, 0.3)  # torch's clip takes a NaN to 0
    g[0, 1, 1] = (0.4, np.nan)
    for mode in ["bilinear", "nearest"]:
        yd = F.grid_sample(dg.Tensor(x), dg.Tensor(g), mode, padding_mode, False)
        yt = TF.grid_sample(torch.tensor(x), torch.tensor(g), mode, padding_mode, False)
        np.testing.assert_allclose(np.asarray(yd.data), yt.numpy(), **TOL)


def test_grid_sample_gradients_one_side_and_empty():
    x = _rng(16).standard_normal((2, 3, 4, 5))
    g = _grid((2, 3, 3, 2), seed=17)
    for grads in ([0], [1]):
        _check(
            lambda a, b: F.grid_sample(a, b, "bicubic", "zeros", True),
            lambda a, b: TF.grid_sample(a, b, "bicubic", "zeros", True),
            [x, g],
            grads=grads,
        )
    for xs, gs in [
        ((0, 3, 4, 5), (0, 2, 2, 2)),
        ((2, 0, 4, 5), (2, 2, 2, 2)),
        ((2, 3, 4, 5), (2, 0, 2, 2)),
    ]:
        yd = F.grid_sample(dg.Tensor(np.ones(xs)), dg.Tensor(np.ones(gs)), align_corners=False)
        yt = TF.grid_sample(
            torch.ones(xs, dtype=torch.float64),
            torch.ones(gs, dtype=torch.float64),
            align_corners=False,
        )
        assert yd.shape == tuple(yt.shape)
    xs = dg.Tensor(_rng(18).standard_normal((1, 1, 3, 3)), requires_grad=True)
    gs = dg.Tensor(_grid((1, 2, 2, 2), seed=19, lo=-0.9, hi=0.9), requires_grad=True)
    assert dg.gradcheck(lambda a, b: F.grid_sample(a, b, align_corners=False), (xs, gs))


def test_grid_sample_warnings_and_errors():
    x = dg.Tensor(_rng().standard_normal((2, 3, 5, 6)))
    g = dg.Tensor(_grid((2, 4, 3, 2)))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, g)
    cases = [
        (lambda: F.grid_sample(x, g, "linear", align_corners=False), ValueError, "mode"),
        (
            lambda: F.grid_sample(x, g, padding_mode="wrap", align_corners=False),
            ValueError,
            "padding_mode",
        ),
        (
            lambda: F.grid_sample(x, dg.Tensor(g.data.astype(np.float32)), align_corners=False),
            TypeError,
            "same dtype",
        ),
        (lambda: F.grid_sample(x, g[:1], align_corners=False), ValueError, "same batch size"),
        (
            lambda: F.grid_sample(x, dg.Tensor(np.ones((2, 4, 3, 3))), align_corners=False),
            RuntimeError,
            "size 2 in last dimension",
        ),
        (
            lambda: F.grid_sample(x, dg.Tensor(np.ones((2, 4, 3, 2, 2))), align_corners=False),
            RuntimeError,
            "same number of dimensions",
        ),
        (lambda: F.grid_sample(x[0], g[0], align_corners=False), ValueError, "4D or 5D"),
        (
            lambda: F.grid_sample(x[:, :, :0], g, align_corners=False),
            ValueError,
            "dimension 2 being empty",
        ),
        (
            lambda: F.grid_sample(
                dg.Tensor(np.ones((2, 3, 4, 5, 6))),
                dg.Tensor(np.ones((2, 1, 4, 3, 3))),
                "bicubic",
                align_corners=False,
            ),
            RuntimeError,
            "only supports 4D",
        ),
        (
            lambda: F.grid_sample(
                dg.Tensor(np.ones((2, 3, 5, 6), np.int64)),
                dg.Tensor(np.ones((2, 4, 3, 2), np.int64)),
                align_corners=False,
            ),
            NotImplementedError,
            "Long",
        ),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


# ---- gumbel_softmax -------------------------------------------------------------------------


def test_gumbel_softmax_distribution():
    dg.manual_seed(0)
    logits = np.array([0.5, -1.0, 2.0, 0.0])
    n = 20000
    y = F.gumbel_softmax(dg.Tensor(np.tile(logits, (n, 1))), tau=0.5)
    yd = np.asarray(y.data)
    np.testing.assert_allclose(yd.sum(-1), 1.0, rtol=1e-12)
    # the argmax of logits + Gumbel noise is a draw from softmax(logits), for any tau
    freq = np.bincount(yd.argmax(-1), minlength=4) / n
    p = torch.softmax(torch.tensor(logits), 0).numpy()
    np.testing.assert_allclose(freq, p, atol=0.015)
    # torch's noise has the same law: mean soft sample close to torch's
    torch.manual_seed(0)
    yt = TF.gumbel_softmax(torch.tensor(np.tile(logits, (n, 1))), tau=0.5)
    np.testing.assert_allclose(yd.mean(0), yt.numpy().mean(0), atol=0.02)


def test_gumbel_softmax_hard_straight_through():
    dg.manual_seed(1)
    x = _rng(20).standard_normal((3, 5, 4))
    w = _rng(21).standard_normal((3, 5, 4))
    for dim in (1, -1, 0):
        xd = dg.Tensor(x, requires_grad=True)
        dg.manual_seed(2)
        y = F.gumbel_softmax(xd, tau=0.7, hard=True, dim=dim)
        yd = np.asarray(y.data)
        assert set(np.unique(yd)) <= {0.0, 1.0}
        np.testing.assert_array_equal(yd.sum(dim), 1.0)
        (y * dg.Tensor(w)).sum().backward()
        # the gradient is the soft sample's (same noise: same seed)
        xs = dg.Tensor(x, requires_grad=True)
        dg.manual_seed(2)
        s = F.gumbel_softmax(xs, tau=0.7, dim=dim)
        assert np.array_equal(yd.argmax(dim), np.asarray(s.data).argmax(dim))
        (s * dg.Tensor(w)).sum().backward()
        np.testing.assert_allclose(np.asarray(xd.grad), np.asarray(xs.grad), **TOL)
        # and torch's structure: with its own soft sample, softmax' Jacobian / tau
        st = torch.tensor(np.asarray(s.data))
        gt = (st * (torch.tensor(w) - (torch.tensor(w) * st).sum(dim, keepdim=True))) / 0.7
        np.testing.assert_allclose(np.asarray(xs.grad), gt.numpy(), **TOL)


def test_gumbel_softmax_args():
    x = dg.Tensor(_rng().standard_normal((2, 3)).astype(np.float32))
    assert F.gumbel_softmax(x).data.dtype == np.float32
    with pytest.warns(UserWarning, match="deprecated"):
        F.gumbel_softmax(x, eps=1e-5)
    with pytest.raises(TypeError, match="floating point"):
        F.gumbel_softmax(dg.Tensor(np.ones(3, np.int64)))
    with pytest.raises(TypeError, match="tau"):
        F.gumbel_softmax(x, tau="1")
    with pytest.raises(IndexError):
        F.gumbel_softmax(x, dim=2)
    with pytest.raises(IndexError):
        torch.nn.functional.gumbel_softmax(torch.ones(2, 3), dim=2)
