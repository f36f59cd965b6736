"""torch 2.13's activation API (round 31): the functions of torch.nn.functional on the compiled
activation kernels (elu, selu, celu, relu6, hardsigmoid, hardswish, mish, logsigmoid,
softsign) and the composed ones (softplus's beta / threshold, hardtanh, threshold, glu,
prelu, rrelu, softmin, the shrinks), inplace= and the in-place aliases, and the modules.

Compared with torch in float64 (1e-10) and float32 (1e-5 relative): forward and input
gradient on random data, at and around the kinks, and at +-inf / NaN. Where deltagrad
deliberately differs, the test asserts deltagrad's value and says why (DIFFERENCES below)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

INF, NAN = np.inf, np.nan
TOL = {np.float64: (1e-10, 1e-10), np.float32: (1e-5, 1e-6)}
DTYPES = [np.float64, np.float32]
DT_IDS = ["f64", "f32"]

_KINKS = [0.0, -0.0, 3.0, -3.0, 6.0, -6.0, 1.0, -1.0, 0.5, -0.5, 20.0, 20.5, -20.0, 1e-8,
          -1e-8, 2.9999, -2.9999, 3.0001, -3.0001, 5.9999, 6.0001, 50.0, -50.0, 700.0, -700.0,
          0.1, -0.1, 2.0, -2.0, 10.0, 40.0, -40.0, 1.9, -1.9, 0.25, -0.25]  # fmt: skip
_SPECIAL = [INF, -INF, NAN]


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_normal(41) * 3, _KINKS, _SPECIAL]).astype(dtype)
    g = rng.uniform(0.5, 1.5, x.shape).astype(dtype) * rng.choice([-1, 1], x.shape)
    return x, g.astype(dtype)


def _np(t):
    return np.asarray(t.numpy() if isinstance(t, dg.Tensor) else t)


def _run_dg(fn, x, g):
    xd = dg.tensor(x.copy(), requires_grad=True)
    y = fn(xd)  # (pytest turns any floating-point RuntimeWarning into an error)
    y.backward(dg.tensor(g))
    return _np(y), _np(xd.grad)


def _run_torch(fn, x, g):
    xt = torch.tensor(x.copy(), requires_grad=True)
    y = fn(xt)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), xt.grad.numpy()


# ---- the cases ------------------------------------------------------------------------------
# name: (deltagrad fn, torch fn, options). Options:
#   nan_grad: deltagrad's gradient factor at x = NaN, where torch's own result depends on the
#       element's position (its vectorized and scalar CPU paths disagree: 1, 0 or NaN)
#   limits: {x: (y, dy/dx)} where deltagrad gives the limit and torch NaN (None: as torch)
#   kinks: {x: dy/dx} where the kernel's gradient at a kink differs from torch 2.13's
#   grad_rtol64: a looser float64 gradient tolerance where torch computes in float32

SELU_SCALE = 1.0507009873554804934193349852946

CASES = {
    "relu": (F.relu, TF.relu, {}),
    "leaky_relu": (F.leaky_relu, TF.leaky_relu, {}),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), {}),
    "elu": (F.elu, TF.elu, {"nan_grad": 1.0}),
    "elu_0.7": (lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7), {"nan_grad": 1.0}),
    "selu": (F.selu, TF.selu, {"nan_grad": SELU_SCALE}),
    "celu": (F.celu, TF.celu, {"nan_grad": 1.0}),
    # torch's celu backward takes 1 / alpha in float32 (derivatives.yaml): 2e-8 off in float64
    "celu_1.7": (
        lambda x: F.celu(x, 1.7),
        lambda x: TF.celu(x, 1.7),
        {"nan_grad": 1.0, "grad_rtol64": 1e-7},
    ),
    "relu6": (F.relu6, TF.relu6, {"nan_grad": 1.0}),
    # torch's float64 hardsigmoid gradient is float32(1/6) (3e-8 off); the kernel's is 1/6
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid, {"grad_rtol64": 1e-7}),
    "hardswish": (
        F.hardswish,
        TF.hardswish,
        {"nan_grad": 1.0, "limits": {-INF: (-0.0, None)}},
    ),
    "mish": (F.mish, TF.mish, {"limits": {INF: (None, 1.0), -INF: (-0.0, 0.0)}}),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid, {}),
    "softsign": (F.softsign, TF.softsign, {"limits": {INF: (1.0, 0.0), -INF: (-1.0, 0.0)}}),
    "softplus": (F.softplus, TF.softplus, {}),
    "softplus_beta2": (lambda x: F.softplus(x, 2.0), lambda x: TF.softplus(x, 2.0), {}),
    "softplus_beta0.5_th5": (
        lambda x: F.softplus(x, 0.5, 5.0),
        lambda x: TF.softplus(x, 0.5, 5.0),
        {},
    ),
    "softplus_beta-1": (lambda x: F.softplus(x, -1.0), lambda x: TF.softplus(x, -1.0), {}),
    "softplus_th-1": (
        lambda x: F.softplus(x, threshold=-1.0),
        lambda x: TF.softplus(x, threshold=-1.0),
        {},
    ),
    "hardtanh": (F.hardtanh, TF.hardtanh, {"nan_grad": 1.0}),
    "hardtanh_-2_3": (
        lambda x: F.hardtanh(x, -2.0, 3.0),
        lambda x: TF.hardtanh(x, -2.0, 3.0),
        {"nan_grad": 1.0},
    ),
    "hardtanh_0_6": (
        lambda x: F.hardtanh(x, 0.0, 6.0),
        lambda x: TF.hardtanh(x, 0.0, 6.0),
        {"nan_grad": 1.0},
    ),
    "hardtanh_2_2": (
        lambda x: F.hardtanh(x, 2.0, 2.0),
        lambda x: TF.hardtanh(x, 2.0, 2.0),
        {"nan_grad": 1.0},
    ),
    "threshold": (
        lambda x: F.threshold(x, 0.5, -2.0),
        lambda x: TF.threshold(x, 0.5, -2.0),
        {"nan_grad": 1.0},
    ),
    "threshold_-3_inf": (
        lambda x: F.threshold(x, -3.0, INF),
        lambda x: TF.threshold(x, -3.0, INF),
        {"nan_grad": 1.0},
    ),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink, {}),
    "softshrink": (F.softshrink, TF.softshrink, {"nan_grad": 0.0}),
    "softshrink_0": (lambda x: F.softshrink(x, 0.0), lambda x: TF.softshrink(x, 0.0), {}),
    "softshrink_3": (
        lambda x: F.softshrink(x, 3.0),
        lambda x: TF.softshrink(x, 3.0),
        {"nan_grad": 0.0},
    ),
    "hardshrink": (F.hardshrink, TF.hardshrink, {"nan_grad": 1.0}),
    "hardshrink_3": (
        lambda x: F.hardshrink(x, 3.0),
        lambda x: TF.hardshrink(x, 3.0),
        {"nan_grad": 1.0},
    ),
    "hardshrink_-0.5": (
        lambda x: F.hardshrink(x, -0.5),
        lambda x: TF.hardshrink(x, -0.5),
        {"nan_grad": 1.0},
    ),
    "rrelu_eval": (F.rrelu, TF.rrelu, {}),
    "rrelu_eval_0.1_0.9": (
        lambda x: F.rrelu(x, 0.1, 0.9),
        lambda x: TF.rrelu(x, 0.1, 0.9),
        {},
    ),
    "rrelu_train_equal_bounds": (
        lambda x: F.rrelu(x, 0.3, 0.3, training=True),
        lambda x: TF.rrelu(x, 0.3, 0.3, training=True),
        {},
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_gradient_match_torch(name, dtype):
    fd, ft, opt = CASES[name]
    x, g = _data(dtype)
    yd, gd = _run_dg(fd, x, g)
    yt, gt = _run_torch(ft, x, g)
    assert yd.dtype == yt.dtype == dtype and yd.shape == yt.shape
    rtol, atol = TOL[dtype]
    grtol = opt.get("grad_rtol64", rtol) if dtype == np.float64 else rtol
    # positions whose expected value is deltagrad's documented one, not torch's
    own_y, own_g = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    fwd_mask, grad_mask = np.zeros(x.shape, bool), np.zeros(x.shape, bool)
    if "nan_grad" in opt:
        m = np.isnan(x)
        grad_mask |= m
        own_g[m] = opt["nan_grad"] * g[m]
    for v, (yv, dv) in opt.get("limits", {}).items():
        m = x == v
        if yv is not None:
            assert np.all(np.isnan(yt[m]))  # torch: NaN there (so the limit is a difference)
            fwd_mask |= m
            own_y[m] = yv
        if dv is not None:
            assert np.all(np.isnan(gt[m]))
            grad_mask |= m
            own_g[m] = dv * g[m]
    for v, dv in opt.get("kinks", {}).items():
        m = x == v
        grad_mask |= m
        own_g[m] = dv * g[m]
    np.testing.assert_allclose(yd[~fwd_mask], yt[~fwd_mask], rtol=rtol, atol=atol)
    np.testing.assert_allclose(gd[~grad_mask], gt[~grad_mask], rtol=grtol, atol=atol)
    np.testing.assert_allclose(yd[fwd_mask], own_y[fwd_mask], rtol=rtol, atol=0)
    np.testing.assert_allclose(gd[grad_mask], own_g[grad_mask], rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", [(0,), (1,), (), (3, 0, 2), (2, 3, 5)])
@pytest.mark.parametrize(
    "name", ["elu", "selu", "mish", "softsign", "softplus_beta2", "hardtanh", "threshold",
             "softshrink", "hardshrink", "tanhshrink", "relu6", "hardswish"]
)  # fmt: skip
def test_odd_sizes(name, shape):
    fd, ft, _ = CASES[name]
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(np.float64)
    g = rng.standard_normal(shape)
    yd, gd = _run_dg(fd, x, g)
    yt, gt = _run_torch(ft, x, g)
    assert yd.shape == yt.shape == shape
    np.testing.assert_allclose(yd, yt, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gd, gt, rtol=1e-10, atol=1e-10)


def test_softplus_is_x_beyond_threshold_with_gradient_one():
    # the kernel alone gives x + exp(-x) (20.000000002 at 20): torch returns x itself there
    x = np.array([20.0, 20.5, 30.0, 1e5, 19.5], np.float64)
    yd, gd = _run_dg(F.softplus, x, np.ones_like(x))
    assert yd[1:4].tolist() == x[1:4].tolist() and gd[1:4].tolist() == [1.0, 1.0, 1.0]
    assert yd[0] != 20.0 and gd[0] < 1.0  # 20 is not beyond the threshold (x > 20 is)
    yd, gd = _run_dg(lambda t: F.softplus(t, 4.0, 10.0), x[:1] / 8, np.ones(1))
    assert yd[0] > 2.5 and gd[0] < 1.0  # beta * x = 10 is not > 10 ...
    yd, gd = _run_dg(lambda t: F.softplus(t, 4.0, 10.0), np.array([2.6]), np.ones(1))
    assert yd.tolist() == [2.6] and gd.tolist() == [1.0]  # ... 10.4 is


# ---- gradcheck on the composed ones ------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.softplus(x, 2.5, 3.0),
        lambda x: F.hardtanh(x, -0.7, 1.3),
        lambda x: F.threshold(x, 0.2, -1.0),
        lambda x: F.softshrink(x, 0.3),
        lambda x: F.hardshrink(x, 0.3),
        F.tanhshrink,
        lambda x: F.glu(x, 1),
        lambda x: F.glu(x, 0),
        lambda x: F.softmin(x, 1),
        lambda x: F.rrelu(x, 0.2, 0.2, training=True),
    ],
    ids=["softplus", "hardtanh", "threshold", "softshrink", "hardshrink", "tanhshrink",
         "glu1", "glu0", "softmin", "rrelu"],
)  # fmt: skip
def test_gradcheck_composed(fn):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.05, 2.0, (4, 6)) * rng.choice([-1, 1], (4, 6))  # away from the kinks
    x[np.abs(np.abs(x) - 0.3) < 0.02] += 0.1
    x[np.abs(x - 0.2) < 0.02] += 0.1
    assert dg.gradcheck(fn, (dg.tensor(x, requires_grad=True),))


def test_gradcheck_prelu():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 2.0, (3, 4, 5)) * rng.choice([-1, 1], (3, 4, 5))
    for w in (rng.uniform(0, 1, 4), rng.uniform(0, 1, 1)):
        assert dg.gradcheck(
            F.prelu, (dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True))
        )


# ---- prelu, glu, rrelu, softmin, Softmax2d ------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize(
    "xshape, wshape",
    [((5,), (1,)), ((), (1,)), ((), ()), ((4, 3), (3,)), ((4, 3), (1,)), ((2, 3, 4, 5), (3,)),
     ((2, 3, 4), ()), ((2, 1, 3), (1,)), ((2, 0), (0,)), ((0, 3), (3,))],
)  # fmt: skip
def test_prelu_matches_torch(xshape, wshape, dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(xshape) * 2).astype(dtype)
    if x.size > 3:
        x.flat[:3] = [0.0, INF, -INF]
    w = rng.uniform(-0.5, 0.9, wshape).astype(dtype)
    g = rng.standard_normal(xshape).astype(dtype)
    xd, wd = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    with np.errstate(all="raise"):
        yd = F.prelu(xd, wd)
        yd.backward(dg.tensor(g))
    yt = TF.prelu(xt, wt)
    yt.backward(torch.tensor(g))
    rtol, atol = TOL[dtype]
    assert yd.shape == tuple(yt.shape) and _np(wd.grad).shape == tuple(wt.grad.shape)
    np.testing.assert_allclose(_np(yd), yt.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(_np(xd.grad), xt.grad.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(_np(wd.grad), wt.grad.numpy(), rtol=rtol, atol=atol * 10)


def test_prelu_errors():
    x = dg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="parameter numbers = 2 and channel size = 3"):
        F.prelu(x, dg.tensor(np.zeros(2)))
    with pytest.raises(ValueError, match="parameter numbers = 3 and channel size = 1"):
        F.prelu(dg.tensor(np.zeros(3)), dg.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="scalar or 1-D"):
        F.prelu(x, dg.tensor(np.zeros((1, 3))))
    with pytest.raises(TypeError, match="prelu: weight: expected dtype float64"):
        F.prelu(x, dg.tensor(np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match="prelu"):
        F.prelu(dg.tensor(np.zeros((2, 3), np.int64)), dg.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match="prelu: weight"):
        F.prelu(x, 0.25)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((4, 6), 0), ((2, 4, 3), 1), ((2,), 0)])
def test_glu_matches_torch(shape, dim, dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(tuple(TF.glu(torch.tensor(x), dim).shape)).astype(dtype)
    yd, gd = _run_dg(lambda t: F.glu(t, dim), x, g)
    yt, gt = _run_torch(lambda t: TF.glu(t, dim), x, g)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(yd, yt, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gd, gt, rtol=rtol, atol=atol)


def test_glu_errors():
    with pytest.raises(ValueError, match="Halving dimension must be even, but dimension 1 is"):
        F.glu(dg.tensor(np.zeros((3, 3))), 1)
    with pytest.raises(ValueError, match="scalars"):
        F.glu(dg.tensor(np.array(1.0)))
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.glu(dg.tensor(np.zeros((3, 4))), 2)
    with pytest.raises(TypeError, match="dim"):
        F.glu(dg.tensor(np.zeros((3, 4))), 1.0)
    with pytest.raises(TypeError, match="glu"):
        F.glu(dg.tensor(np.zeros((3, 4), np.int64)))


def test_rrelu_training_draws_a_slope_per_element():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(4000)
    x[:2] = [0.0, NAN]
    dg.manual_seed(7)
    xd = dg.tensor(x, requires_grad=True)
    y = F.rrelu(xd, 0.1, 0.4, training=True)
    y.backward(dg.tensor(np.ones_like(x)))
    yv, gv = _np(y), _np(xd.grad)
    neg = x < 0
    slope = yv[neg] / x[neg]
    assert slope.min() >= 0.1 and slope.max() <= 0.4 and slope.std() > 0.05
    np.testing.assert_allclose(gv[neg], slope, rtol=1e-12)
    assert np.all(yv[x > 0] == x[x > 0]) and np.all(gv[x > 0] == 1.0)
    assert yv[0] == 0.0 and 0.1 <= gv[0] <= 0.4  # x = 0: a drawn slope, as torch (x <= 0)
    assert np.isnan(yv[1]) and gv[1] == 1.0
    dg.manual_seed(7)  # reproducible from deltagrad's generator
    assert np.array_equal(_np(F.rrelu(dg.tensor(x), 0.1, 0.4, training=True)), yv, equal_nan=True)
    m = dnn.RReLU(0.1, 0.4)
    assert m.training and not np.array_equal(_np(m(dg.tensor(x[2:]))), _np(m(dg.tensor(x[2:]))))
    m.eval()
    np.testing.assert_allclose(_np(m(dg.tensor(x))), _np(F.leaky_relu(dg.tensor(x), 0.25)))


def test_rrelu_errors():
    x = dg.tensor(np.zeros(3))
    with pytest.raises(ValueError, match="Lower bound should be less than or equal"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(ValueError, match="Lower bound should be less than or equal"):
        F.rrelu(x, 0.5, 0.1, training=True)
    with pytest.raises(ValueError, match="finite"):
        F.rrelu(x, NAN, 0.3)
    with pytest.raises(TypeError, match="rrelu: training"):
        F.rrelu(x, training="yes")
    with pytest.raises(TypeError, match="rrelu: lower"):
        F.rrelu(x, None)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape, dim", [((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((7,), 0)])
def test_softmin_matches_torch(shape, dim, dtype):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    yd, gd = _run_dg(lambda t: F.softmin(t, dim), x, g)
    yt, gt = _run_torch(lambda t: TF.softmin(t, dim), x, g)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(yd, yt, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gd, gt, rtol=rtol, atol=atol)
    m = dnn.Softmin(dim)
    np.testing.assert_allclose(_np(m(dg.tensor(x))), yt, rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 2)])
def test_softmin_implicit_dim_as_torch(shape):
    x = np.random.default_rng(9).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        yt = TF.softmin(torch.tensor(x)).numpy()
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        yd = _np(F.softmin(dg.tensor(x)))
    np.testing.assert_allclose(yd, yt, rtol=1e-12, atol=1e-14)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        yd = _np(dnn.Softmin()(dg.tensor(x)))
    np.testing.assert_allclose(yd, yt, rtol=1e-12, atol=1e-14)


def test_softmin_dtype_casts_first():
    x = np.random.default_rng(10).standard_normal((3, 4)).astype(np.float32)
    yd = F.softmin(dg.tensor(x), 1, dtype=np.float64)
    yt = TF.softmin(torch.tensor(x), 1, dtype=torch.float64)
    assert yd.dtype == np.float64
    np.testing.assert_allclose(_np(yd), yt.numpy(), rtol=1e-12)
    xi = np.array([[1, 2, 3]])
    np.testing.assert_allclose(
        _np(F.softmin(dg.tensor(xi), 1, dtype=np.float64)),
        TF.softmin(torch.tensor(xi), 1, dtype=torch.float64).numpy(),
        rtol=1e-12,
    )


def test_softmax2d():
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5))
    for a in (x, x[0]):
        np.testing.assert_allclose(
            _np(dnn.Softmax2d()(dg.tensor(a))),
            tnn.Softmax2d()(torch.tensor(a)).numpy(),
            rtol=1e-12,
        )
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D"):
        dnn.Softmax2d()(dg.tensor(x[0, 0]))


# ---- dtypes other than float ----------------------------------------------------------------


INT_CASES = [
    ("relu", ()),
    ("relu6", ()),
    ("hardtanh", (-1.5, 2.5)),
    ("hardtanh", (-0.5, 1.5)),
    ("threshold", (-0.5, 7.9)),
    ("threshold", (1.5, -4)),
]


@pytest.mark.parametrize("name, args", INT_CASES)
@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_int_inputs_keep_their_dtype_as_torch(name, args, inplace, dtype):
    x = np.array([-7, -2, -1, 0, 1, 2, 3, 5, 8], dtype)
    xd, xt = dg.tensor(x.copy()), torch.tensor(x.copy())
    yd = getattr(F, name)(xd, *args, inplace=inplace)
    yt = getattr(TF, name)(xt, *args, inplace=inplace)
    assert yd.dtype == dtype and str(yt.dtype) == f"torch.{np.dtype(dtype).name}"
    assert _np(yd).tolist() == yt.tolist()
    assert (yd is xd) == inplace
    assert _np(xd).tolist() == xt.tolist()


def test_int_inputs_promoting_or_refused():
    x = np.array([-2, 0, 3])
    for fd, ft in ((F.softsign, TF.softsign), (F.tanhshrink, TF.tanhshrink)):
        y = fd(dg.tensor(x))
        assert y.dtype == np.float32
        np.testing.assert_allclose(_np(y), ft(torch.tensor(x)).numpy(), rtol=1e-6)
    # torch: NotImplementedError ("elu_cpu" not implemented for 'Long'); deltagrad: TypeError
    x4 = np.array([-2, 0, 3, 1])
    for fn in (F.elu, F.selu, F.celu, F.leaky_relu, F.hardsigmoid, F.hardswish, F.mish,
               F.logsigmoid, F.softplus, F.softshrink, F.hardshrink, F.rrelu, F.glu):  # fmt: skip
        with pytest.raises(TypeError, match="expected a float32 or float64 tensor"):
            fn(dg.tensor(x4))
        with pytest.raises(NotImplementedError):
            getattr(TF, fn.__name__)(torch.tensor(x4))
    xi = dg.tensor(x.copy())
    with pytest.raises(TypeError, match="elu"):
        F.elu(xi, inplace=True)
    assert _np(xi).tolist() == [-2, 0, 3]
    b = dg.tensor(np.array([True, False]))
    for fn in (F.relu, F.relu6, F.hardtanh, F.softsign, F.tanhshrink, F.elu):
        with pytest.raises(TypeError):
            fn(b)
    with pytest.raises(TypeError):
        F.threshold(b, 0, 1)


# ---- inplace ---------------------------------------------------------------------------------

# name: (function, its arguments after the input, before inplace)
INPLACE = {
    "relu": ("relu", ()),
    "leaky_relu": ("leaky_relu", (0.1,)),
    "elu": ("elu", (0.8,)),
    "selu": ("selu", ()),
    "celu": ("celu", (1.5,)),
    "relu6": ("relu6", ()),
    "hardsigmoid": ("hardsigmoid", ()),
    "hardswish": ("hardswish", ()),
    "mish": ("mish", ()),
    "hardtanh": ("hardtanh", (-0.5, 2.0)),
    "hardtanh06": ("hardtanh", (0.0, 6.0)),
    "threshold": ("threshold", (0.3, -1.0)),
    "rrelu": ("rrelu", (0.1, 0.3, False)),
    "rrelu_train": ("rrelu", (0.2, 0.2, True)),
}


def _inplace_fns(name):
    fn, args = INPLACE[name]
    return (
        lambda x, ip: getattr(F, fn)(x, *args, inplace=ip),
        lambda x, ip: getattr(TF, fn)(x, *args, inplace=ip),
    )


ALIASES = {
    "relu_": (lambda x: F.relu_(x), lambda x: F.relu(x)),
    "leaky_relu_": (lambda x: F.leaky_relu_(x, 0.3), lambda x: F.leaky_relu(x, 0.3)),
    "elu_": (lambda x: F.elu_(x, 0.5), lambda x: F.elu(x, 0.5)),
    "selu_": (lambda x: F.selu_(x), lambda x: F.selu(x)),
    "celu_": (lambda x: F.celu_(x, 2.0), lambda x: F.celu(x, 2.0)),
    "hardtanh_": (lambda x: F.hardtanh_(x, -0.2, 0.4), lambda x: F.hardtanh(x, -0.2, 0.4)),
    "threshold_": (lambda x: F.threshold_(x, 0.1, 9.0), lambda x: F.threshold(x, 0.1, 9.0)),
    "rrelu_": (lambda x: F.rrelu_(x, 0.2, 0.6), lambda x: F.rrelu(x, 0.2, 0.6)),
}


def _x(dtype=np.float64, shape=(5, 7), seed=12):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_writes_the_input(name, dtype):
    fd, ft = _inplace_fns(name)
    x = _x(dtype)
    ref = _np(fd(dg.tensor(x.copy()), False))
    xd = dg.tensor(x.copy())
    v = xd._version[0]
    y = fd(xd, True)
    assert y is xd and xd._version[0] == v + 1
    np.testing.assert_array_equal(_np(xd), ref)
    xt = torch.tensor(x.copy())
    assert ft(xt, True) is xt
    np.testing.assert_allclose(_np(xd), xt.numpy(), *TOL[dtype])
    # a leaf that requires grad, under no_grad: changed in place too, as torch
    w = dg.tensor(x.copy(), requires_grad=True)
    with dg.no_grad():
        assert fd(w, True) is w
    np.testing.assert_array_equal(_np(w), ref)
    # a strided view: written through to its base
    base = dg.tensor(x.copy())
    view = base.T
    assert fd(view, True) is view
    np.testing.assert_array_equal(_np(base), ref)
    base = dg.tensor(x.copy())
    fd(base[:, ::2], True)
    expect = x.copy()
    expect[:, ::2] = ref[:, ::2]
    np.testing.assert_array_equal(_np(base), expect)


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_under_recording_returns_a_new_tensor(name):
    fd, ft = _inplace_fns(name)
    x = _x()
    g = np.random.default_rng(13).standard_normal(x.shape)
    xd = dg.tensor(x.copy(), requires_grad=True)
    y = fd(xd, True)
    assert y is not xd and y.requires_grad
    np.testing.assert_array_equal(_np(xd), x)  # the input is untouched
    y.backward(dg.tensor(g))
    # torch: inplace on a non-leaf rebases its history; the same gradient reaches the leaf
    xt = torch.tensor(x.copy(), requires_grad=True)
    yt = ft(xt * 1.0, True)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(y), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    grtol = 1e-7 if name in ("hardsigmoid", "celu") else 1e-10  # torch's float32 constants
    np.testing.assert_allclose(_np(xd.grad), xt.grad.numpy(), rtol=grtol, atol=1e-10)


@pytest.mark.parametrize("name", list(ALIASES))
def test_inplace_aliases(name):
    fa, fo = ALIASES[name]
    x = _x()
    xd = dg.tensor(x.copy())
    v = xd._version[0]
    assert fa(xd) is xd and xd._version[0] == v + 1
    np.testing.assert_array_equal(_np(xd), _np(fo(dg.tensor(x))))
    assert callable(getattr(TF, name))  # torch has the alias too
    w = dg.tensor(x.copy(), requires_grad=True)
    y = fa(w)
    assert y is not w and y.requires_grad
    np.testing.assert_array_equal(_np(w), x)


def test_inplace_change_is_caught_by_a_graph_that_saved_the_input():
    w = dg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    x = dg.tensor(np.array([-1.0, 0.5, 2.0]))
    loss = (w * x).sum()
    F.elu(x, inplace=True)  # x requires no grad: written in place; its version bumps
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_inplace_on_a_numpy_input_and_read_only_data():
    a = np.array([-1.0, 2.0])
    y = F.relu(a, inplace=True)
    assert a.tolist() == [0.0, 2.0] and _np(y).tolist() == [0.0, 2.0]
    b = dg.tensor(np.array([1.0, -2.0])).expand(3, 2)  # a broadcast (read-only) view
    v = b._version[0]
    with pytest.raises(ValueError):
        F.elu(b, inplace=True)
    assert b._version[0] == v


# ---- modules ---------------------------------------------------------------------------------

REPRS = [
    ("ReLU", (), {}), ("ReLU", (True,), {}), ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}), ("LeakyReLU", (1,), {}), ("ELU", (), {}),
    ("ELU", (0.5, True), {}), ("SELU", (), {}), ("SELU", (True,), {}), ("CELU", (2.0,), {}),
    ("CELU", (), {"inplace": True}), ("ReLU6", (), {}), ("ReLU6", (True,), {}),
    ("Hardsigmoid", (), {}), ("Hardsigmoid", (True,), {}), ("Hardswish", (True,), {}),
    ("Mish", (), {}), ("Mish", (True,), {}), ("LogSigmoid", (), {}), ("Softsign", (), {}),
    ("Softplus", (), {}), ("Softplus", (2, 10), {}), ("Hardtanh", (), {}),
    ("Hardtanh", (-2.0, 3, True), {}), ("Threshold", (0.1, 20.0), {}),
    ("Threshold", (1, -1, True), {}), ("GLU", (), {}), ("GLU", (1,), {}), ("PReLU", (), {}),
    ("PReLU", (4, 0.1), {}), ("RReLU", (), {}), ("RReLU", (0.1, 0.2, True), {}),
    ("Softmin", (), {}), ("Softmin", (1,), {}), ("Softmax2d", (), {}), ("Tanhshrink", (), {}),
    ("Softshrink", (), {}), ("Softshrink", (0.25,), {}), ("Hardshrink", (), {}),
    ("Hardshrink", (2,), {}),
]  # fmt: skip


@pytest.mark.parametrize("name, args, kwargs", REPRS)
def test_module_repr_and_attributes_as_torch(name, args, kwargs):
    md, mt = getattr(dnn, name)(*args, **kwargs), getattr(tnn, name)(*args, **kwargs)
    assert repr(md) == repr(mt)
    for attr in ("inplace", "negative_slope", "alpha", "beta", "threshold", "value",
                 "min_val", "max_val", "dim", "lower", "upper", "lambd", "num_parameters",
                 "init"):  # fmt: skip
        assert hasattr(md, attr) == hasattr(mt, attr), attr
        if hasattr(mt, attr):
            assert getattr(md, attr) == getattr(mt, attr), attr


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name, args, kwargs", [r for r in REPRS if r[0] not in ("Softmin",)])
def test_module_forward_as_torch(name, args, kwargs, dtype):
    md, mt = getattr(dnn, name)(*args, **kwargs), getattr(tnn, name)(*args, **kwargs)
    md.eval(), mt.eval()
    if name == "PReLU":
        mt = mt.to(torch.float64 if dtype == np.float64 else torch.float32)
        md = md.to(dtype=dtype)
    x = _x(dtype, (2, 4, 3, 2))
    xt = torch.tensor(x.copy())
    yd = md(dg.tensor(x.copy()))
    with torch.no_grad():
        yt = mt(xt)
    np.testing.assert_allclose(_np(yd), yt.numpy(), *TOL[dtype])


def test_module_classes_as_torch():
    assert isinstance(dnn.ReLU6(), dnn.Hardtanh) and dnn.ReLU6().min_val == 0.0
    assert not isinstance(dnn.CELU(), dnn.ELU) and not isinstance(dnn.Hardshrink(), dnn.Softshrink)
    with pytest.warns(FutureWarning, match="min_value"):
        m = dnn.Hardtanh(min_value=-3.0)
    assert m.min_val == -3.0
    with pytest.warns(FutureWarning, match="max_value"):
        assert dnn.Hardtanh(max_value=3.0).max_val == 3.0
    p = dnn.PReLU(4, 0.1, dtype=np.float64)
    tp = tnn.PReLU(4, 0.1)
    assert list(p.state_dict()) == list(tp.state_dict()) == ["weight"]
    assert [n for n, _ in p.named_parameters()] == ["weight"]
    assert p.weight.dtype == np.float64 and _np(p.weight).tolist() == [0.1] * 4
    assert dnn.PReLU().weight.dtype == np.float32
    p.weight.data[...] = 0.7
    p.reset_parameters()
    assert _np(p.weight).tolist() == [0.1] * 4


def test_module_argument_errors():
    for build in (
        lambda: dnn.LeakyReLU("a"),
        lambda: dnn.LeakyReLU(True),
        lambda: dnn.ELU(alpha="a"),
        lambda: dnn.CELU(None),
        lambda: dnn.Softplus(beta="2"),
        lambda: dnn.Softplus(threshold=False),
        lambda: dnn.Hardtanh("x"),
        lambda: dnn.Threshold(None, 1.0),
        lambda: dnn.Threshold(0.0, True),
        lambda: dnn.RReLU(lower="a"),
        lambda: dnn.Softshrink([0.5]),
        lambda: dnn.Hardshrink(True),
        lambda: dnn.PReLU(2.5),
        lambda: dnn.PReLU(True),
        lambda: dnn.PReLU(2, "a"),
        lambda: dnn.PReLU(2, dtype=np.int64),
        lambda: dnn.GLU(1.0),
        lambda: dnn.Softmin("1"),
        lambda: dnn.ReLU(inplace="yes"),
        lambda: dnn.Mish(1),
    ):
        with pytest.raises(TypeError):
            build()
    with pytest.raises(ValueError, match="max_val"):
        dnn.Hardtanh(1.0, 1.0)  # torch: an AssertionError
    with pytest.raises(ValueError, match="num_parameters"):
        dnn.PReLU(-1)
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        dnn.CELU(0.0)(dg.tensor(np.zeros(2)))


def test_function_argument_errors():
    x = dg.tensor(_x())
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        F.celu(x, 0.0)
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        F.celu_(x, 0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        TF.celu(torch.zeros(2), 0.0)  # torch's message: RuntimeError (ZeroDivisionError)
    for call, what in (
        (lambda: F.leaky_relu(x, True), "leaky_relu: negative_slope"),
        (lambda: F.leaky_relu(x, "a"), "leaky_relu: negative_slope"),
        (lambda: F.elu(x, None), "elu: alpha"),
        (lambda: F.softplus(x, "1"), "softplus: beta"),
        (lambda: F.softplus(x, 1.0, None), "softplus: threshold"),
        (lambda: F.hardtanh(x, "a"), "hardtanh: min_val"),
        (lambda: F.threshold(x, 0.5, "v"), "threshold: value"),
        (lambda: F.softshrink(x, "a"), "softshrink: lambd"),
        (lambda: F.hardshrink(x, None), "hardshrink: lambd"),
        (lambda: F.relu(x, inplace="no"), "relu: inplace"),
        (lambda: F.elu(x, 1.0, 1), "elu: inplace"),
        (lambda: F.relu("x"), "relu"),
    ):
        with pytest.raises(TypeError, match=what):
            call()
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(x, -0.5)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(x, NAN)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(dg.tensor(_x(np.float32)), 1e39)


# ---- signatures ------------------------------------------------------------------------------

# the functions torch defines in Python: the same parameters and defaults
PY_SIGNATURES = ["relu", "leaky_relu", "elu", "selu", "celu", "relu6", "hardsigmoid",
                 "hardswish", "mish", "hardtanh", "threshold", "glu", "rrelu", "softmin",
                 "tanhshrink", "softsign"]  # fmt: skip
# the builtins: parameters from their docstrings
BUILTIN_SIGNATURES = {
    "logsigmoid": [("input", None)],
    "softplus": [("input", None), ("beta", 1.0), ("threshold", 20.0)],
    "softshrink": [("input", None), ("lambd", 0.5)],
    "hardshrink": [("input", None), ("lambd", 0.5)],
    "prelu": [("input", None), ("weight", None)],
    "relu_": [("input", None)],
    "leaky_relu_": [("input", None), ("negative_slope", 0.01)],
    "elu_": [("input", None), ("alpha", 1.0)],
    "selu_": [("input", None)],
    "celu_": [("input", None), ("alpha", 1.0)],
    "hardtanh_": [("input", None), ("min_val", -1.0), ("max_val", 1.0)],
    "threshold_": [("input", None), ("threshold", None), ("value", None)],
    "rrelu_": [("input", None), ("lower", 1 / 8), ("upper", 1 / 3), ("training", False)],
}


def _params(fn):
    return [
        (p.name, None if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(fn).parameters.values()
    ]


@pytest.mark.parametrize("name", PY_SIGNATURES + list(BUILTIN_SIGNATURES))
def test_signatures_as_torch(name):
    expect = BUILTIN_SIGNATURES.get(name) or _params(getattr(TF, name))
    assert _params(getattr(F, name)) == expect
    assert name in F.__all__


@pytest.mark.parametrize(
    "name", ["ELU", "SELU", "CELU", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "Softplus",
             "Hardtanh", "Threshold", "GLU", "PReLU", "RReLU", "Softmin", "Softshrink",
             "Hardshrink", "ReLU", "LeakyReLU"]
)  # fmt: skip
def test_module_signatures_as_torch(name):
    assert _params(getattr(dnn, name).__init__) == _params(getattr(tnn, name).__init__)
    assert name in dnn.__all__


# ---- training a small network against torch ----------------------------------------------


def test_training_matches_torch():
    """4 SGD-with-momentum steps of Linear-ELU-Linear-Hardswish-Linear-Mish-Linear-PReLU-
    Linear-SELU-Linear-Softplus(2)-Linear-Hardtanh-Linear, float64, from the same weights."""
    rng = np.random.default_rng(14)
    widths = [5, 8, 8, 7, 6, 6, 5, 4, 3]
    acts = [
        (lambda: dnn.ELU(0.8), lambda: tnn.ELU(0.8)),
        (dnn.Hardswish, tnn.Hardswish),
        (dnn.Mish, tnn.Mish),
        (
            lambda: dnn.PReLU(6, 0.2, dtype=np.float64),
            lambda: tnn.PReLU(6, 0.2, dtype=torch.float64),
        ),
        (dnn.SELU, tnn.SELU),
        (lambda: dnn.Softplus(2.0), lambda: tnn.Softplus(2.0)),
        (lambda: dnn.Hardtanh(-1.5, 2.0), lambda: tnn.Hardtanh(-1.5, 2.0)),
    ]
    ld, lt = [], []
    for i in range(len(widths) - 1):
        a = dnn.Linear(widths[i], widths[i + 1], dtype=np.float64)
        b = tnn.Linear(widths[i], widths[i + 1]).double()
        w = rng.standard_normal((widths[i + 1], widths[i])) / np.sqrt(widths[i])
        bias = rng.standard_normal(widths[i + 1]) * 0.1
        with dg.no_grad():
            a.weight.data[...] = w
            a.bias.data[...] = bias
        with torch.no_grad():
            b.weight.copy_(torch.tensor(w))
            b.bias.copy_(torch.tensor(bias))
        ld.append(a)
        lt.append(b)
        if i < len(acts):
            ld.append(acts[i][0]())
            lt.append(acts[i][1]())
    md, mt = dnn.Sequential(*ld), tnn.Sequential(*lt)
    od = dg.optim.SGD(md.parameters(), lr=0.05, momentum=0.9)
    ot = torch.optim.SGD(mt.parameters(), lr=0.05, momentum=0.9)
    x = rng.standard_normal((16, widths[0])) * 2
    y = rng.standard_normal((16, widths[-1]))
    for _ in range(4):
        od.zero_grad()
        ot.zero_grad()
        lossd = F.mse_loss(md(dg.tensor(x)), dg.tensor(y))
        losst = TF.mse_loss(mt(torch.tensor(x)), torch.tensor(y))
        lossd.backward()
        losst.backward()
        od.step()
        ot.step()
        np.testing.assert_allclose(lossd.item(), losst.item(), rtol=1e-10)
    sd, st = md.state_dict(), mt.state_dict()
    assert list(sd) == list(st)
    for k in sd:
        np.testing.assert_allclose(_np(sd[k]), st[k].numpy(), rtol=1e-10, atol=1e-10, err_msg=k)


def test_no_warnings_from_special_values():
    x = dg.tensor(np.array([INF, -INF, NAN, 0.0, 1e308, -1e308]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (F.prelu, lambda t, w: F.softplus(t, 0.0)):
            y = fn(x, dg.tensor(np.array([0.0]), requires_grad=True))
            y.sum().backward()
        F.softshrink(x).sum().backward()
        # bounds past float32's range: float64 here (on float32 they are torch's RuntimeError,
        # tests/test_parity_r34.py)
        F.hardtanh(dg.tensor(np.array([INF, 1.0])), -1e39, 1e39)
        F.threshold(dg.tensor(np.array([INF, 1.0])), 1e39, -1e39)
