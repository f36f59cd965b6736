"""torch 2.13 parity (round 38): the nn / nn.functional names that were missing -- RMSNorm /
rms_norm, the 1-D pooling functions and max_pool*_with_indices, BatchNorm3d, pdist,
Bilinear / bilinear, LocalResponseNorm, ChannelShuffle, the alpha dropouts,
MultiLabelMarginLoss and TripletMarginWithDistanceLoss: forward, input and parameter
gradients in float64 (1e-10) and float32 (1e-5), odd and empty sizes, reprs, state_dict keys,
init bounds and errors."""

# the lambdas built in loops below are called at once (by _check / _raises), in their own
# iteration, so the late binding B023 warns of cannot bite
# ruff: noqa: B023

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

TOL64 = {"rtol": 1e-10, "atol": 1e-10, "equal_nan": True}
TOL32 = {"rtol": 1e-5, "atol": 1e-5, "equal_nan": True}
RNG = np.random.default_rng(38)


def _arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _both(arrays, grad=True):
    """The arrays as deltagrad and torch tensors (float ones requiring grad)."""
    d, t = [], []
    for a in arrays:
        rg = grad and a.dtype.kind == "f"
        d.append(dg.Tensor(a.copy(), requires_grad=rg))
        t.append(torch.tensor(a.copy(), requires_grad=rg))
    return d, t


def _np(v):
    return v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v.data)


def _check(fd, ft, arrays, dtype=np.float64, grad=True):
    """fd(*dg tensors) against ft(*torch tensors): the output, and each float input's gradient
    under one random upstream gradient."""
    tol = TOL64 if dtype == np.float64 else TOL32
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    d, t = _both(arrays, grad)
    yd, yt = fd(*d), ft(*t)
    assert yd.shape == tuple(yt.shape)
    assert yd.dtype == _np(yt).dtype
    np.testing.assert_allclose(_np(yd), _np(yt), **tol)
    if not grad or not yt.requires_grad:
        return
    g = _arr(*yt.shape, dtype=dtype)
    yd.backward(dg.Tensor(g))
    yt.backward(torch.tensor(g))
    for a, b in zip(d, t):
        if b.requires_grad:
            assert (a.grad is None) == (b.grad is None)
            if b.grad is not None:
                np.testing.assert_allclose(_np(a.grad), _np(b.grad), **tol)


def _raises(exc, fd, ft, match=None):
    """Both libraries raise exc (deltagrad's class is also torch's)."""
    with pytest.raises(exc, match=match):
        fd()
    with pytest.raises(exc):
        ft()


# ---- rms_norm / RMSNorm -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape,ns,eps",
    [
        ((3, 5), (5,), None),
        ((2, 3, 4), (3, 4), 1e-3),
        ((5,), (5,), 0.5),
        ((0, 3), (3,), None),
        ((1, 1), (1,), None),
        ((2, 0), (0,), None),
    ],
)
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm(dtype, shape, ns, eps, weighted):
    arrays = [_arr(*shape)] + ([_arr(*ns)] if weighted else [])

    def fd(x, *w):
        return F.rms_norm(x, ns, w[0] if w else None, eps)

    def ft(x, *w):
        return TF.rms_norm(x, ns, w[0] if w else None, eps)

    _check(fd, ft, arrays, dtype)


def test_rms_norm_extreme_and_module():
    x = np.array([[1e200, 1e200, -1e200], [1e-300, 0.0, 2e-300], [np.inf, 1.0, 2.0]])
    _check(lambda x: F.rms_norm(x, [3]), lambda x: TF.rms_norm(x, [3]), [x], grad=False)
    for kw in ({}, {"eps": 1e-3}, {"elementwise_affine": False}, {"eps": 1}):
        md, mt = nn.RMSNorm([2, 3], **kw), tnn.RMSNorm([2, 3], **kw)
        assert repr(md) == repr(mt)
        assert list(md.state_dict()) == list(mt.state_dict())
        md.double(), mt.double()
        if mt.weight is not None:
            w = _arr(2, 3)
            md.weight.data[...] = w
            with torch.no_grad():
                mt.weight.copy_(torch.tensor(w))
        _check(md, mt, [_arr(4, 2, 3)])
        if mt.weight is not None:
            np.testing.assert_allclose(_np(md.weight.grad), _np(mt.weight.grad), **TOL64)
    assert (
        repr(nn.RMSNorm(4))
        == repr(tnn.RMSNorm(4))
        == "RMSNorm((4,), eps=None, elementwise_affine=True)"
    )
    assert nn.RMSNorm(4).weight.dtype == np.float32
    assert nn.RMSNorm(4, dtype=np.float64).weight.dtype == np.float64


def test_rms_norm_errors():
    x = _arr(2, 4)
    d, t = _both([x])
    _raises(RuntimeError, lambda: F.rms_norm(d[0], (3,)), lambda: TF.rms_norm(t[0], (3,)))
    _raises(
        RuntimeError,
        lambda: F.rms_norm(d[0], (4,), dg.Tensor(np.ones(3))),
        lambda: TF.rms_norm(t[0], (4,), torch.ones(3, dtype=torch.float64)),
    )
    _raises(RuntimeError, lambda: F.rms_norm(d[0], ()), lambda: TF.rms_norm(t[0], ()))
    _raises(TypeError, lambda: F.rms_norm(d[0], 4), lambda: TF.rms_norm(t[0], 4))
    xi = np.arange(8).reshape(2, 4)
    _raises(
        (NotImplementedError, RuntimeError, TypeError),
        lambda: F.rms_norm(dg.Tensor(xi), (4,)),
        lambda: TF.rms_norm(torch.tensor(xi), (4,)),
    )
    _raises(RuntimeError, lambda: nn.RMSNorm(-1), lambda: tnn.RMSNorm(-1))


# ---- 1-D pooling and max_pool*_with_indices ----------------------------------------------


POOL1D = [
    ((2, 3, 7), {"kernel_size": 3}),
    ((2, 3, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((3, 8), {"kernel_size": 2, "ceil_mode": True}),
    ((1, 1, 9), {"kernel_size": (4,), "stride": (3,), "padding": (2,), "ceil_mode": True}),
    ((0, 2, 5), {"kernel_size": 2}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,kw", POOL1D)
def test_max_pool1d(dtype, shape, kw):
    for extra in ({}, {"dilation": 2}):
        if extra and shape[-1] < 8:
            continue
        k = {**kw, **extra}
        _check(
            lambda x: F.max_pool1d(x, **k), lambda x: TF.max_pool1d(x, **k), [_arr(*shape)], dtype
        )
        x = _arr(*shape, dtype=dtype)
        yd, id_ = F.max_pool1d(dg.Tensor(x), **k, return_indices=True)
        yt, it = TF.max_pool1d(torch.tensor(x), **k, return_indices=True)
        np.testing.assert_array_equal(_np(yd), _np(yt))
        np.testing.assert_array_equal(_np(id_), _np(it))
        assert id_.dtype == np.int64
        yd, id_ = F.max_pool1d_with_indices(dg.Tensor(x), **k)
        np.testing.assert_array_equal(_np(id_), _np(it))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,kw", POOL1D)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool1d(dtype, shape, kw, cip):
    _check(
        lambda x: F.avg_pool1d(x, **kw, count_include_pad=cip),
        lambda x: TF.avg_pool1d(x, **kw, count_include_pad=cip),
        [_arr(*shape)],
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape,o",
    [
        ((2, 3, 7), 3),
        ((3, 10), 4),
        ((2, 3, 5), (7,)),
        ((0, 2, 4), 2),
        ((2, 1, 1), 1),
        ((2, 3, 5), 0),
    ],
)
def test_adaptive_avg_pool1d(dtype, shape, o):
    # output size 0: torch's backward refuses the empty gradient, so the forward only
    _check(
        lambda x: F.adaptive_avg_pool1d(x, o),
        lambda x: TF.adaptive_avg_pool1d(x, o),
        [_arr(*shape)],
        dtype,
        grad=o != 0,
    )


def test_max_pool2d_with_indices():
    x = _arr(2, 3, 5, 6)
    for kw in (
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    ):
        _check(
            lambda x: F.max_pool2d_with_indices(x, **kw)[0],
            lambda x: TF.max_pool2d_with_indices(x, **kw)[0],
            [x],
        )
        id_ = F.max_pool2d_with_indices(dg.Tensor(x), **kw)[1]
        it = TF.max_pool2d_with_indices(torch.tensor(x), **kw)[1]
        np.testing.assert_array_equal(_np(id_), _np(it))


def test_pool1d_errors():
    d, t = _both([_arr(2, 3, 7)])
    x, y = d[0], t[0]
    for kw in (
        {"kernel_size": 0},
        {"kernel_size": 3, "padding": 2},
        {"kernel_size": (3, 2)},
        {"kernel_size": 3, "stride": 0},
        {"kernel_size": 8},
    ):
        _raises(RuntimeError, lambda: F.max_pool1d(x, **kw), lambda: TF.max_pool1d(y, **kw))
    for kw in ({"kernel_size": 3, "padding": 2}, {"kernel_size": 8}, {"kernel_size": 0}):
        _raises(RuntimeError, lambda: F.avg_pool1d(x, **kw), lambda: TF.avg_pool1d(y, **kw))
    for bad in ((7,), (2, 2, 2, 7)):
        d1, t1 = _both([_arr(*bad)])
        _raises(RuntimeError, lambda: F.max_pool1d(d1[0], 3), lambda: TF.max_pool1d(t1[0], 3))
        _raises(RuntimeError, lambda: F.avg_pool1d(d1[0], 3), lambda: TF.avg_pool1d(t1[0], 3))
        _raises(
            RuntimeError,
            lambda: F.adaptive_avg_pool1d(d1[0], 3),
            lambda: TF.adaptive_avg_pool1d(t1[0], 3),
        )
    _raises(
        RuntimeError,
        lambda: F.adaptive_avg_pool1d(x, (3, 2)),
        lambda: TF.adaptive_avg_pool1d(y, (3, 2)),
    )
    _raises(
        RuntimeError, lambda: F.adaptive_avg_pool1d(x, -1), lambda: TF.adaptive_avg_pool1d(y, -1)
    )
    _raises(
        TypeError, lambda: F.adaptive_avg_pool1d(x, None), lambda: TF.adaptive_avg_pool1d(y, None)
    )


# ---- BatchNorm3d -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kw",
    [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}, {"bias": False}],
)
def test_batchnorm3d(dtype, kw):
    md, mt = nn.BatchNorm3d(3, **kw), tnn.BatchNorm3d(3, **kw)
    assert repr(md) == repr(mt)
    assert list(md.state_dict()) == list(mt.state_dict())
    if dtype == np.float64:
        md.double(), mt.double()
    tol = TOL64 if dtype == np.float64 else TOL32
    if mt.weight is not None:
        w = _arr(3, dtype=dtype)
        md.weight.data[...] = w
        with torch.no_grad():
            mt.weight.copy_(torch.tensor(w))
    for _ in range(2):  # two steps: the running statistics (and cumulative average) move
        _check(md, mt, [_arr(2, 3, 3, 4, 5)], dtype)
    for k, v in mt.state_dict().items():
        np.testing.assert_allclose(_np(md.state_dict()[k]), _np(v), **tol)
    if mt.weight is not None:
        np.testing.assert_allclose(_np(md.weight.grad), _np(mt.weight.grad), **tol)
    md.eval(), mt.eval()
    _check(md, mt, [_arr(1, 3, 1, 2, 1)], dtype)


def test_batchnorm3d_errors():
    md, mt = nn.BatchNorm3d(3).double(), tnn.BatchNorm3d(3).double()
    d, t = _both([_arr(2, 3, 4, 5)])
    _raises(ValueError, lambda: md(d[0]), lambda: mt(t[0]))
    d, t = _both([_arr(1, 3, 1, 1, 1)])
    _raises(ValueError, lambda: md(d[0]), lambda: mt(t[0]))


# ---- pdist ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [2, 1, 3.5, 0.5, 0, float("inf")])
@pytest.mark.parametrize("shape", [(5, 3), (2, 1), (1, 4), (0, 3), (4, 0)])
def test_pdist(dtype, p, shape):
    # torch 2.13's pdist backward crashes (a segfault) on a (0, M) input: its forward only
    grad = shape[0] > 0
    _check(lambda x: F.pdist(x, p), lambda x: TF.pdist(x, p), [_arr(*shape)], dtype, grad)
    if not grad:
        x = dg.Tensor(_arr(*shape, dtype=dtype), requires_grad=True)
        F.pdist(x, p).sum().backward()
        assert x.grad.shape == shape


def test_pdist_repeated_rows_and_errors():
    x = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, -1.0]])
    for p in (2, 1, 3.0):
        _check(lambda x: F.pdist(x, p), lambda x: TF.pdist(x, p), [x])
    d, t = _both([_arr(3)])
    _raises(RuntimeError, lambda: F.pdist(d[0]), lambda: TF.pdist(t[0]))
    d, t = _both([_arr(3, 2)])
    _raises(RuntimeError, lambda: F.pdist(d[0], -1), lambda: TF.pdist(t[0], -1))
    xi = np.arange(6).reshape(3, 2)
    _raises(RuntimeError, lambda: F.pdist(dg.Tensor(xi)), lambda: TF.pdist(torch.tensor(xi)))


# ---- bilinear / Bilinear --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lead", [(4,), (2, 3), (), (0,), (1,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bilinear(dtype, lead, with_bias):
    arrays = [_arr(*lead, 3), _arr(*lead, 5), _arr(2, 3, 5)] + ([_arr(2)] if with_bias else [])
    _check(F.bilinear, TF.bilinear, arrays, dtype)


def test_bilinear_module_init_and_errors():
    dg.manual_seed(0)
    md, mt = nn.Bilinear(20, 30, 40), tnn.Bilinear(20, 30, 40)
    assert repr(md) == repr(mt)
    assert list(md.state_dict()) == list(mt.state_dict())
    assert md.weight.shape == tuple(mt.weight.shape) and md.weight.dtype == np.float32
    bound = 1 / np.sqrt(20)
    w = _np(md.weight)
    assert np.abs(w).max() <= bound and np.abs(_np(md.bias)).max() <= bound
    assert abs(w.mean()) < 0.02 * bound and abs(w.var() - bound**2 / 3) < 0.05 * bound**2
    assert nn.Bilinear(2, 2, 3, bias=False).bias is None
    assert repr(nn.Bilinear(2, 2, 3, bias=False)) == repr(tnn.Bilinear(2, 2, 3, bias=False))
    md, mt = nn.Bilinear(3, 4, 2, dtype=np.float64), tnn.Bilinear(3, 4, 2).double()
    md.load_state_dict({k: v.detach().numpy() for k, v in mt.state_dict().items()})
    _check(md, mt, [_arr(5, 3), _arr(5, 4)])
    np.testing.assert_allclose(_np(md.weight.grad), _np(mt.weight.grad), **TOL64)
    np.testing.assert_allclose(_np(md.bias.grad), _np(mt.bias.grad), **TOL64)
    _raises(ValueError, lambda: nn.Bilinear(0, 2, 3), lambda: tnn.Bilinear(0, 2, 3))
    cases = [
        ((2, 3), (2, 4), (5, 3, 3), None),
        ((2, 3), (3, 4), (5, 3, 4), None),
        ((2, 3), (2, 4), (5, 3, 4), (4,)),
        ((2, 7, 3), (14, 4), (5, 3, 4), (5,)),
        ((2, 4), (2, 4), (5, 3, 4), None),
    ]
    for s1, s2, sw, sb in cases:
        arrays = [_arr(*s1), _arr(*s2), _arr(*sw)] + ([_arr(*sb)] if sb else [])
        d, t = _both(arrays)
        _raises(RuntimeError, lambda: F.bilinear(*d), lambda: TF.bilinear(*t))


# ---- local_response_norm / LocalResponseNorm ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 5, 4), (2, 6, 3, 3), (1, 3, 2, 2, 2), (2, 1, 3), (0, 4, 3)])
@pytest.mark.parametrize(
    "size,alpha,beta,k",
    [(2, 1e-4, 0.75, 1.0), (3, 0.5, 0.6, 2.0), (1, 1.0, 1.0, 0.5), (6, 0.3, 1.5, 1.0)],
)
def test_local_response_norm(dtype, shape, size, alpha, beta, k):
    _check(
        lambda x: F.local_response_norm(x, size, alpha, beta, k),
        lambda x: TF.local_response_norm(x, size, alpha, beta, k),
        [_arr(*shape) * 3],
        dtype,
    )


def test_local_response_norm_module_and_errors():
    md, mt = nn.LocalResponseNorm(3, 0.2), tnn.LocalResponseNorm(3, 0.2)
    assert repr(md) == repr(mt) and repr(nn.LocalResponseNorm(2)) == repr(tnn.LocalResponseNorm(2))
    _check(md, mt, [_arr(2, 4, 3, 2)])
    d, t = _both([_arr(2, 4)])
    _raises(
        ValueError, lambda: F.local_response_norm(d[0], 2), lambda: TF.local_response_norm(t[0], 2)
    )
    d, t = _both([_arr(2, 4, 3)])
    _raises(
        RuntimeError,
        lambda: F.local_response_norm(d[0], 0),
        lambda: TF.local_response_norm(t[0], 0),
    )


# ---- channel_shuffle / ChannelShuffle --------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape,g",
    [
        ((2, 6, 3), 2),
        ((2, 6, 3), 3),
        ((1, 4, 2, 3), 4),
        ((3, 5, 1), 1),
        ((0, 4, 2), 2),
        ((2, 6, 1, 2, 1), 3),
    ],
)
def test_channel_shuffle(dtype, shape, g):
    _check(
        lambda x: F.channel_shuffle(x, g), lambda x: TF.channel_shuffle(x, g), [_arr(*shape)], dtype
    )
    _check(nn.ChannelShuffle(g), tnn.ChannelShuffle(g), [_arr(*shape)], dtype)


def test_channel_shuffle_errors():
    assert repr(nn.ChannelShuffle(2)) == repr(tnn.ChannelShuffle(2))
    for shape, g in (((2, 5, 3), 2), ((2, 4, 3), 0), ((2, 4, 3), -2), ((4, 3), 2), ((4,), 2)):
        d, t = _both([_arr(*shape)])
        _raises(
            RuntimeError, lambda: F.channel_shuffle(d[0], g), lambda: TF.channel_shuffle(t[0], g)
        )


# ---- alpha dropout ---------------------------------------------------------------------------

_ALPHA = 1.7580993408473766


@pytest.mark.parametrize("feature", [False, True])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_alpha_dropout_values_and_statistics(feature, p):
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    dg.manual_seed(1)
    shape = (400, 50, 3) if feature else (200, 300)
    x = dg.Tensor(RNG.standard_normal(shape), requires_grad=True)
    y = fn(x, p, True)
    a = 1 / np.sqrt((_ALPHA**2 * p + 1) * (1 - p))
    yd, xd = _np(y), _np(x)
    kept = np.isclose(yd, a * xd + a * _ALPHA * p, rtol=1e-12, atol=1e-12)
    dropped = np.isclose(yd, a * _ALPHA * (p - 1), rtol=1e-12, atol=1e-12)
    assert np.all(kept | dropped)
    if feature:  # one draw per (sample, channel)
        assert np.all(kept.all(axis=2) | (~kept).all(axis=2))
    assert abs((~kept).mean() - p) < 0.02
    # zero mean and unit variance are kept (SELU's fixed point)
    assert abs(yd.mean()) < 0.03 and abs(yd.var() - 1) < 0.05
    g = RNG.standard_normal(shape)
    y.backward(dg.Tensor(g))
    np.testing.assert_allclose(_np(x.grad), np.where(kept, a * g, 0.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "fd,ft",
    [(F.alpha_dropout, TF.alpha_dropout), (F.feature_alpha_dropout, TF.feature_alpha_dropout)],
)
def test_alpha_dropout_identity_and_edges(fd, ft):
    x = dg.Tensor(_arr(3, 4))
    assert fd(x) is x  # training defaults to False, as torch's
    assert fd(x, 0.0, True) is x
    e = dg.Tensor(_arr(0, 4))
    assert fd(e, 0.5, True) is e
    xt = torch.tensor(_np(x))
    np.testing.assert_array_equal(_np(fd(x, 1.0, True)), _np(ft(xt, 1.0, True)))
    xr = dg.Tensor(_arr(3, 4), requires_grad=True)
    fd(xr, 1.0, True).sum().backward()
    np.testing.assert_array_equal(_np(xr.grad), np.zeros((3, 4)))
    _raises(ValueError, lambda: fd(x, 1.5, True), lambda: ft(xt, 1.5, True))
    xi = np.arange(12).reshape(3, 4)
    _raises(
        RuntimeError, lambda: fd(dg.Tensor(xi), 0.5, True), lambda: ft(torch.tensor(xi), 0.5, True)
    )
    # inplace: written into the input and returned when no graph records through it
    x = dg.Tensor(np.full((20, 30), 0.5))
    y = fd(x, 0.3, True, True)
    assert y is x and not np.all(_np(x) == 0.5)


def test_alpha_dropout_feature_needs_2_dims_and_modules():
    d, t = _both([_arr(4)])
    _raises(
        RuntimeError,
        lambda: F.feature_alpha_dropout(d[0], 0.5, True),
        lambda: TF.feature_alpha_dropout(t[0], 0.5, True),
    )
    for name in ("AlphaDropout", "FeatureAlphaDropout"):
        md, mt = getattr(nn, name)(0.2), getattr(tnn, name)(0.2)
        assert repr(md) == repr(mt)
        assert repr(getattr(nn, name)()) == repr(getattr(tnn, name)())
        _raises(ValueError, lambda: getattr(nn, name)(2), lambda: getattr(tnn, name)(2))
        x = dg.Tensor(_arr(4, 5, 6))
        md.eval()
        assert md(x) is x
        md.train()
        assert not np.allclose(_np(md(x)), _np(x))


# ---- multilabel_margin_loss / MultiLabelMarginLoss ------------------------------------------


def _ml_target(n, c):
    t = np.full((n, c), -1, dtype=np.int64)
    for i in range(n):
        k = RNG.integers(0, c + 1)
        t[i, :k] = RNG.permutation(c)[:k]
        if k < c - 1:
            t[i, k + 1 :] = RNG.integers(-1, c, c - k - 1)  # after the first -1: ignored
    return t


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,c", [(5, 4), (3, 7), (1, 1), (0, 3), (2, 1)])
def test_multilabel_margin_loss(dtype, reduction, n, c):
    tgt = _ml_target(n, c)
    if n and c > 1:
        tgt[0, :3] = [0, 0, -1]  # a class listed twice counts twice, as ATen's loop
    if n == 0 and reduction != "none":
        # torch 2.13 returns uninitialized memory for an empty batch's mean / sum; deltagrad
        # returns nan / 0, as the other losses
        y = F.multilabel_margin_loss(dg.Tensor(_arr(0, c)), dg.Tensor(tgt), reduction=reduction)
        assert y.shape == () and (np.isnan(_np(y)) if reduction == "mean" else _np(y) == 0)
        return
    _check(
        lambda x, t: F.multilabel_margin_loss(x, t, reduction=reduction),
        lambda x, t: TF.multilabel_margin_loss(x, t, reduction=reduction),
        [_arr(n, c), tgt],
        dtype,
    )
    if n:  # one sample, batch-less
        _check(
            lambda x, t: F.multilabel_margin_loss(x, t, reduction=reduction),
            lambda x, t: TF.multilabel_margin_loss(x, t, reduction=reduction),
            [_arr(c), tgt[0]],
            dtype,
        )
    md, mt = (
        nn.MultiLabelMarginLoss(reduction=reduction),
        tnn.MultiLabelMarginLoss(reduction=reduction),
    )
    assert repr(md) == repr(mt)
    _check(md, mt, [_arr(n, c), tgt], dtype)


def test_multilabel_margin_loss_scalar_and_errors():
    for tv in (0, -1):
        _check(
            lambda x, t: F.multilabel_margin_loss(x, t, reduction="none"),
            lambda x, t: TF.multilabel_margin_loss(x, t, reduction="none"),
            [_arr(), np.array(tv, dtype=np.int64)],
        )
    x = _arr(3, 4)
    bad_targets = [
        np.array([[0, 1, -1, 4], [3, -1, 0, 0], [0, 1, 2, 3]]),
        np.array([[0, 1, -1, 2], [3, -1, 0, 0], [0, 1, -2, 3]]),
        np.array([[0, 1, -1], [3, -1, 0], [0, 1, 2]]),
    ]
    for tg in bad_targets:
        d, t = _both([x, tg.astype(np.int64)])
        _raises(
            RuntimeError,
            lambda: F.multilabel_margin_loss(*d),
            lambda: TF.multilabel_margin_loss(*t),
        )
    tg = np.zeros((3, 4), dtype=np.int64)
    for cast in (np.int32, np.float64):
        d, t = _both([x, tg.astype(cast)], grad=False)
        _raises(
            RuntimeError,
            lambda: F.multilabel_margin_loss(*d),
            lambda: TF.multilabel_margin_loss(*t),
        )
    for shape in ((3, 0), (2, 3, 4)):
        d, t = _both([_arr(*shape), np.zeros(shape, dtype=np.int64)])
        _raises(
            RuntimeError,
            lambda: F.multilabel_margin_loss(*d),
            lambda: TF.multilabel_margin_loss(*t),
        )
    d, t = _both([x, tg])
    _raises(
        ValueError,
        lambda: F.multilabel_margin_loss(*d, reduction="bad"),
        lambda: TF.multilabel_margin_loss(*t, reduction="bad"),
    )


# ---- triplet_margin_with_distance_loss / TripletMarginWithDistanceLoss ---------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("shape", [(5, 4), (4,), (1, 3), (0, 3)])
def test_triplet_margin_with_distance_loss(dtype, reduction, swap, shape):
    arrays = [_arr(*shape), _arr(*shape), _arr(*shape)]
    kw = {"margin": 1.3, "swap": swap, "reduction": reduction}
    _check(
        lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, **kw),
        lambda a, p, n: TF.triplet_margin_with_distance_loss(a, p, n, **kw),
        arrays,
        dtype,
    )

    def cos_d(lib):
        return lambda a, b: 1.0 - lib.cosine_similarity(a, b, dim=-1)

    _check(
        lambda a, p, n: F.triplet_margin_with_distance_loss(
            a, p, n, distance_function=cos_d(F), **kw
        ),
        lambda a, p, n: TF.triplet_margin_with_distance_loss(
            a, p, n, distance_function=cos_d(TF), **kw
        ),
        arrays,
        dtype,
    )
    md = nn.TripletMarginWithDistanceLoss(**kw)
    mt = tnn.TripletMarginWithDistanceLoss(**kw)
    _check(md, mt, arrays, dtype)


def test_triplet_margin_with_distance_loss_module_and_errors():
    md, mt = nn.TripletMarginWithDistanceLoss(), tnn.TripletMarginWithDistanceLoss()
    assert repr(md) == repr(mt)
    assert md.margin == 1.0 and md.swap is False and md.reduction == "mean"
    md = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1))
    mt = tnn.TripletMarginWithDistanceLoss(distance_function=tnn.PairwiseDistance(p=1))
    assert repr(md) == repr(mt)
    _check(md, mt, [_arr(4, 3), _arr(4, 3), _arr(4, 3)])
    _raises(
        ValueError,
        lambda: nn.TripletMarginWithDistanceLoss(margin=-1),
        lambda: tnn.TripletMarginWithDistanceLoss(margin=-1),
    )
    d, t = _both([_arr(3, 4), _arr(3, 4), _arr(4)])
    _raises(
        RuntimeError,
        lambda: F.triplet_margin_with_distance_loss(*d),
        lambda: TF.triplet_margin_with_distance_loss(*t),
    )
    d, t = _both([_arr(3, 4), _arr(3, 4), _arr(3, 4)])
    _raises(
        ValueError,
        lambda: F.triplet_margin_with_distance_loss(*d, margin=0),
        lambda: TF.triplet_margin_with_distance_loss(*t, margin=0),
    )
    _raises(
        ValueError,
        lambda: F.triplet_margin_with_distance_loss(*d, reduction="bad"),
        lambda: TF.triplet_margin_with_distance_loss(*t, reduction="bad"),
    )


def test_gradcheck_rms_norm_bilinear_lrn():
    x = dg.Tensor(_arr(3, 4), requires_grad=True)
    w = dg.Tensor(_arr(4), requires_grad=True)
    assert dg.gradcheck(lambda x, w: F.rms_norm(x, (4,), w, 1e-3), (x, w))
    a, b = dg.Tensor(_arr(2, 3), requires_grad=True), dg.Tensor(_arr(2, 2), requires_grad=True)
    wb = dg.Tensor(_arr(4, 3, 2), requires_grad=True)
    assert dg.gradcheck(F.bilinear, (a, b, wb))
    xl = dg.Tensor(_arr(2, 5, 3), requires_grad=True)
    assert dg.gradcheck(lambda x: F.local_response_norm(x, 3, 0.5, 0.7, 1.5), (xl,))
