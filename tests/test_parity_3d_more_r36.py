"""conv_transpose3d / ConvTranspose3d, lp_pool3d / LPPool3d and max_unpool1d/2d/3d /
MaxUnpool1d/2d/3d against torch 2.13 (round 36): forward and input / weight / bias gradients in
float64 to 1e-10, float32 to 1e-5, unpool round trips with torch's indices, output_size, repr,
and torch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _close(a, b, dtype=np.float64) -> None:
    a = a.numpy() if isinstance(a, dg.Tensor) else np.asarray(a)
    b = b.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    tol = TOL[dtype]
    finite = np.abs(b[np.isfinite(b)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True)


def _pair(a: np.ndarray, grad: bool = True):
    return dg.Tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


# ---- conv_transpose3d ------------------------------------------------------------------------

CONVT = [
    ((2, 3, 4, 5, 3), (3, 2, 2, 3, 2), {}),
    ((2, 3, 4, 5, 3), (3, 4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 2, 3, 4, 5), (2, 3, 2, 2, 2), {"stride": (2, 1, 3), "output_padding": (1, 0, 2)}),
    (
        (2, 4, 3, 4, 5),
        (4, 3, 2, 3, 2),
        {
            "stride": (2, 1, 3),
            "padding": (1, 0, 1),
            "output_padding": (1, 0, 2),
            "groups": 2,
            "dilation": (1, 2, 1),
        },
    ),  # fmt: skip
    (
        (2, 6, 5, 4, 3),
        (6, 1, 3, 1, 2),
        {
            "stride": (1, 2, 2),
            "padding": (2, 0, 0),
            "dilation": (3, 1, 2),
            "groups": 3,
        },
    ),  # fmt: skip
    ((1, 2, 3, 3, 3), (2, 1, 3, 2, 2), {"stride": 2, "padding": 1, "dilation": (2, 1, 1)}),
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), {"dilation": 3, "output_padding": 2}),  # op < dilation
    ((2, 3, 1, 2, 2), (3, 2, 1, 1, 1), {"stride": 3, "padding": 1, "output_padding": 2}),
    ((3, 4, 5, 3), (3, 2, 2, 2, 3), {"stride": 2, "padding": (0, 1, 1)}),  # unbatched
    ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), {}),  # size-1 everything
]


def _convt_check(xs, ws, kw, bias, dtype=np.float64, seed=1):
    r = _rng(seed)
    x, tx = _pair(r.standard_normal(xs).astype(dtype))
    w, tw = _pair(r.standard_normal(ws).astype(dtype))
    cout = ws[1] * kw.get("groups", 1)
    b, tb = _pair(r.standard_normal(cout).astype(dtype)) if bias else (None, None)
    y, ty = F.conv_transpose3d(x, w, b, **kw), TF.conv_transpose3d(tx, tw, tb, **kw)
    _close(y, ty, dtype)
    g = r.standard_normal(tuple(ty.shape)).astype(dtype)
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad, dtype)
    _close(w.grad, tw.grad, dtype)
    if bias:
        _close(b.grad, tb.grad, dtype)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("xs", "ws", "kw"), CONVT)
def test_conv_transpose3d_forward_and_gradients(xs, ws, kw, bias):
    _convt_check(xs, ws, kw, bias)


def test_conv_transpose3d_float32():
    kw = {"stride": (2, 1, 2), "padding": 1, "output_padding": (1, 0, 0), "groups": 2}
    _convt_check((2, 4, 3, 4, 3), (4, 3, 3, 2, 3), kw, True, np.float32, seed=2)


def test_conv_transpose3d_extremes():
    r = _rng(3)
    a = r.standard_normal((1, 2, 3, 3, 3)) * 1e150
    a[0, 0, 1, 1, 1] = np.inf
    a[0, 1, 2, 0, 0] = np.nan
    wa = np.abs(r.standard_normal((2, 2, 2, 2, 2))) + 0.1
    kw = {"stride": 2, "padding": 1}
    y = F.conv_transpose3d(dg.Tensor(a), dg.Tensor(wa), **kw)
    _close(y, TF.conv_transpose3d(torch.tensor(a), torch.tensor(wa), **kw))


def test_conv_transpose3d_empty_batch():
    r = _rng(4)
    x, tx = _pair(r.standard_normal((0, 3, 2, 3, 2)))
    w, tw = _pair(r.standard_normal((3, 2, 2, 2, 2)))
    b, tb = _pair(r.standard_normal(2))
    y, ty = F.conv_transpose3d(x, w, b, stride=2), TF.conv_transpose3d(tx, tw, tb, stride=2)
    _close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _close(w.grad, tw.grad)
    _close(b.grad, tb.grad)
    # an empty batch may give an empty output (torch's too)
    kw = {"padding": 1}
    y, ty = (
        F.conv_transpose3d(x[:, :, :1, :1, :1], w, **kw),
        TF.conv_transpose3d(tx[:, :, :1, :1, :1], tw, **kw),
    )
    assert tuple(y.shape) == tuple(ty.shape) == (0, 2, 0, 0, 0)


def test_conv_transpose3d_is_conv3d_adjoint_and_gradcheck():
    r = _rng(5)
    x = dg.Tensor(r.standard_normal((1, 2, 2, 3, 2)), requires_grad=True)
    w = dg.Tensor(r.standard_normal((2, 2, 2, 2, 2)), requires_grad=True)
    b = dg.Tensor(r.standard_normal(4), requires_grad=True)
    kw = {"stride": (2, 1, 2), "padding": (1, 0, 0), "output_padding": (1, 0, 1), "groups": 2}
    assert dg.gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, **kw), (x, w, b))
    # <convT(x, w), z> = <x, conv3d(z, w)>
    y = F.conv_transpose3d(x, w, **kw)
    z = r.standard_normal(tuple(y.shape))
    c = F.conv3d(dg.Tensor(z), w.detach(), stride=kw["stride"], padding=kw["padding"], groups=2)
    lhs = float((y.detach().numpy() * z).sum())
    assert lhs == pytest.approx(float((x.detach().numpy() * c.numpy()).sum()), rel=1e-12)


# ---- ConvTranspose3d -------------------------------------------------------------------------

MODS = [
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3},
    {
        "in_channels": 4,
        "out_channels": 6,
        "kernel_size": (2, 3, 1),
        "stride": 2,
        "padding": (0, 1, 0),
        "output_padding": 1,
        "groups": 2,
        "dilation": (1, 1, 2),
        "bias": False,
    },  # fmt: skip
]


@pytest.mark.parametrize("kw", MODS)
def test_conv_transpose3d_module(kw):
    dg.manual_seed(0)
    m, tm = dnn.ConvTranspose3d(**kw), torch.nn.ConvTranspose3d(**kw)
    assert repr(m) == repr(tm)
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd)
    assert all(tuple(sd[k].shape) == tuple(tsd[k].shape) for k in sd)
    for attr in ("kernel_size", "stride", "padding", "output_padding", "dilation", "groups"):
        assert getattr(m, attr) == getattr(tm, attr), attr
    # torch's init: weight and bias within 1 / sqrt(fan_in), fan_in from weight dim 1
    bound = 1 / np.sqrt(m.weight.shape[1] * int(np.prod(m.weight.shape[2:])))
    assert np.abs(m.weight.numpy()).max() <= bound
    tm = tm.double()
    m = m.double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.numpy()))
        if m.bias is not None:
            tm.bias.copy_(torch.tensor(m.bias.numpy()))
    r = _rng(6)
    for shape in [(2, 4, 3, 4, 3), (4, 3, 4, 3)]:
        x, tx = _pair(r.standard_normal(shape))
        y, ty = m(x), tm(tx)
        _close(y, ty)
        g = r.standard_normal(tuple(ty.shape))
        y.backward(dg.Tensor(g))
        ty.backward(torch.tensor(g))
        _close(x.grad, tx.grad)
        _close(m.weight.grad, tm.weight.grad)
        if m.bias is not None:
            _close(m.bias.grad, tm.bias.grad)
        m.zero_grad()
        tm.zero_grad()


def test_conv_transpose3d_module_output_size():
    dg.manual_seed(1)
    m = dnn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1).double()
    tm = torch.nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.numpy()))
        tm.bias.copy_(torch.tensor(m.bias.numpy()))
    x, tx = _pair(_rng(7).standard_normal((1, 2, 3, 2, 4)))
    for size in [(5, 4, 7), (6, 6, 8), [1, 3, 6, 5, 8]]:
        _close(m(x, output_size=size), tm(tx, output_size=size))
    _close(m(x[0], output_size=(6, 5, 8)), tm(tx[0], output_size=(6, 5, 8)))
    with pytest.raises(ValueError, match="output_size"):
        m(x, output_size=(7, 4, 7))
    with pytest.raises(ValueError, match="output_size"):
        m(x, output_size=(5, 4))
    with pytest.raises(ValueError):
        tm(tx, output_size=(7, 4, 7))


def test_conv_transpose3d_module_errors():
    with pytest.raises(ValueError, match="groups"):
        dnn.ConvTranspose3d(3, 4, 2, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        dnn.ConvTranspose3d(2, 2, 2, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding"):
        dnn.ConvTranspose3d(2, 2, 2, padding="same")
    m = dnn.ConvTranspose3d(2, 2, 2)
    with pytest.raises(RuntimeError, match="channels"):
        m(dg.Tensor(np.ones((1, 3, 4, 4, 4), np.float32)))


# ---- lp_pool3d -------------------------------------------------------------------------------

LP = [
    ((2, 3, 5, 6, 7), 2, (2, 3, 2), None, False),
    ((2, 3, 5, 6, 7), 2, (2, 3, 2), (1, 2, 3), True),
    ((2, 3, 5, 6, 7), 3, 2, 1, False),
    ((1, 2, 4, 5, 3), 1.5, (3, 2, 3), 2, True),
    ((2, 4, 4, 4), 1, 2, None, False),  # unbatched
    ((1, 1, 1, 1, 1), 2, 1, None, False),
    ((2, 3, 5, 6, 7), float("inf"), (2, 3, 2), (1, 2, 3), True),
    ((2, 3, 5, 6, 7), -float("inf"), 2, None, False),
]


@pytest.mark.parametrize(("shape", "p", "k", "s", "ceil"), LP)
def test_lp_pool3d(shape, p, k, s, ceil):
    r = _rng(8)
    a = r.standard_normal(shape)
    if p == 1.5:
        a = np.abs(a)  # a fractional power of a negative: NaN (tested below)
    x, tx = _pair(a)
    y, ty = F.lp_pool3d(x, p, k, s, ceil), TF.lp_pool3d(tx, p, k, s, ceil)
    _close(y, ty)
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)


def test_lp_pool3d_float32_nan_and_zero_windows():
    r = _rng(9)
    a = r.standard_normal((2, 2, 4, 4, 4)).astype(np.float32)
    x, tx = _pair(a)
    y, ty = F.lp_pool3d(x, 2.0, 2), TF.lp_pool3d(tx, 2.0, 2)
    _close(y, ty, np.float32)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad, np.float32)
    a = r.standard_normal((1, 1, 4, 4, 4))
    a[0, 0, :2, :2, :2] = 0.0  # a zero-sum window: zero gradient
    a[0, 0, 2:, 2:, 2:] = -np.abs(a[0, 0, 2:, 2:, 2:])  # a negative sum: NaN for power 1.5
    x, tx = _pair(a)
    y, ty = F.lp_pool3d(x, 1.5, 2), TF.lp_pool3d(tx, 1.5, 2)
    _close(y, ty)
    assert np.isnan(y.numpy()[0, 0, 1, 1, 1]) and y.numpy()[0, 0, 0, 0, 0] == 0.0
    x2, tx2 = _pair(a)
    y2, ty2 = F.lp_pool3d(x2, 2, 2), TF.lp_pool3d(tx2, 2, 2)
    y2.sum().backward()
    ty2.sum().backward()
    _close(x2.grad, tx2.grad)
    assert not np.asarray(x2.grad)[0, 0, :2, :2, :2].any()


def test_lp_pool3d_module():
    m, tm = (
        dnn.LPPool3d(2, (2, 3, 2), stride=1, ceil_mode=True),
        torch.nn.LPPool3d(2, (2, 3, 2), stride=1, ceil_mode=True),
    )
    assert repr(m) == repr(tm)
    x, tx = _pair(_rng(10).standard_normal((2, 3, 4, 5, 3)))
    _close(m(x), tm(tx))
    assert repr(dnn.LPPool3d(1.5, 3)) == repr(torch.nn.LPPool3d(1.5, 3))


# ---- max_unpool ------------------------------------------------------------------------------

UNPOOL = [
    (1, (2, 3, 9), 3, 2, 1),
    (1, (3, 8), 2, None, 0),  # unbatched
    (2, (2, 3, 7, 6), (3, 2), (2, 1), (1, 0)),  # overlapping windows: shared indices
    (2, (3, 5, 5), 2, None, 0),
    (2, (1, 1, 1, 1), 1, None, 0),
    (3, (2, 2, 5, 6, 7), (2, 3, 2), (1, 2, 2), (1, 1, 0)),
    (3, (2, 4, 4, 4), 2, None, 0),
    (3, (1, 2, 5, 3, 4), (3, 1, 2), (2, 1, 2), 0),
]


@pytest.mark.parametrize("given_size", [True, False])
@pytest.mark.parametrize(("nd", "shape", "k", "s", "p"), UNPOOL)
def test_max_unpool_round_trip(nd, shape, k, s, p, given_size):
    r = _rng(11)
    pool = getattr(TF, f"max_pool{nd}d")
    v, i = pool(torch.tensor(r.standard_normal(shape)), k, s, p, return_indices=True)
    size = list(shape[-nd:]) if given_size else None
    tv = v.detach().requires_grad_(True)
    try:
        ty = getattr(TF, f"max_unpool{nd}d")(tv, i, k, s, p, output_size=size)
    except RuntimeError:  # torch's default size is too small for these indices
        with pytest.raises(RuntimeError, match="invalid max index"):
            getattr(F, f"max_unpool{nd}d")(dg.Tensor(v.numpy()), dg.Tensor(i.numpy()), k, s, p)
        return
    x = dg.Tensor(v.detach().numpy(), requires_grad=True)
    y = getattr(F, f"max_unpool{nd}d")(x, dg.Tensor(i.numpy()), k, s, p, output_size=size)
    _close(y, ty)
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tv.grad)


def test_max_unpool_float32_and_specials():
    r = _rng(12)
    a = r.standard_normal((2, 3, 4, 6)).astype(np.float32) * 1e30
    a[0, 0, 0, 0] = np.inf
    a[1, 2, 3, 5] = np.nan
    v, i = TF.max_pool2d(torch.tensor(a), 2, return_indices=True)
    tv = v.detach().requires_grad_(True)
    x = dg.Tensor(v.numpy(), requires_grad=True)
    y, ty = F.max_unpool2d(x, dg.Tensor(i.numpy()), 2), TF.max_unpool2d(tv, i, 2)
    _close(y, ty, np.float32)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tv.grad, np.float32)


def test_max_unpool_empty_batch_and_gradcheck():
    x = dg.Tensor(np.ones((0, 2, 2, 2, 2)))
    y = F.max_unpool3d(x, dg.Tensor(np.zeros((0, 2, 2, 2, 2), np.int64)), 2)
    assert tuple(y.shape) == (0, 2, 4, 4, 4)
    r = _rng(13)
    # (windows that do not overlap: where two share an index, the gradient is torch's gather,
    # not the derivative of the forward's overwrite)
    _, i = F.max_pool2d(dg.Tensor(r.standard_normal((1, 2, 4, 5))), 2, return_indices=True)
    v = dg.Tensor(r.standard_normal(tuple(i.shape)), requires_grad=True)
    assert dg.gradcheck(lambda v: F.max_unpool2d(v, i, 2, output_size=(4, 5)), (v,))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_modules(nd):
    kw = {"kernel_size": 2, "stride": 1, "padding": 0}
    m = getattr(dnn, f"MaxUnpool{nd}d")(**kw)
    tm = getattr(torch.nn, f"MaxUnpool{nd}d")(**kw)
    assert repr(m) == repr(tm)
    for attr in ("kernel_size", "stride", "padding"):
        assert getattr(m, attr) == getattr(tm, attr)
    assert repr(dnn.MaxUnpool2d((2, 3))) == repr(torch.nn.MaxUnpool2d((2, 3)))
    shape = (2, 3) + (5, 4, 3)[:nd]
    pool = getattr(torch.nn, f"MaxPool{nd}d")(2, 1, return_indices=True)
    v, i = pool(torch.tensor(_rng(14).standard_normal(shape)))
    y = m(dg.Tensor(v.numpy()), dg.Tensor(i.numpy()), output_size=list(shape))
    _close(y, tm(v, i, output_size=list(shape)))


# ---- torch's errors --------------------------------------------------------------------------

_X = np.random.default_rng(15).standard_normal((2, 4, 3, 4, 5))
_W = np.random.default_rng(16).standard_normal((4, 2, 2, 2, 2))
_V2, _I2 = TF.max_pool2d(torch.tensor(_X[:, :, 0]), 2, return_indices=True)
_V3, _I3 = TF.max_pool3d(torch.tensor(_X), (1, 2, 2), return_indices=True)
_V1, _I1 = TF.max_pool1d(torch.tensor(_X[:, :, 0, 0]), 2, return_indices=True)


def _as_torch(v, i):
    return v, i


def _as_dg(v, i):
    return dg.Tensor(v.numpy()), dg.Tensor(i.numpy())


ERRORS = [
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x[0, 0], w)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x[:, :2], w)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w[0])),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, stride=0)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, stride=(1, 2))),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, padding=-1)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, padding="same")),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, output_padding=1)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, output_padding=-1)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, groups=3)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, groups=0)),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, bias=w[0, 0, 0, 0, :1])),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x, w, stride=2.0)),
    (
        "conv_transpose3d",
        lambda L, x, w, u: L.conv_transpose3d(x[:1, :1, :1, :1, :1], w[:1], padding=1),
    ),  # fmt: skip
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x[:, :0], w[:0])),
    ("conv_transpose3d", lambda L, x, w, u: L.conv_transpose3d(x[:, :, :0], w)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, 2, (2, 2))),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, 0, 2)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x[0, 0], 2, 2)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, 2, 7)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, 2, 2, stride=0)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, 2, 2.5)),
    ("lp_pool3d", lambda L, x, w, u: L.lp_pool3d(x, "2", 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), 2)),  # index too big
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2 - 100), 2, output_size=(4, 5))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2.int()), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2.double()), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2[:, :1]), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2[0, 0], _I2[0, 0]), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2[:, :0], _I2[:, :0]), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2[:, :, :0], _I2[:, :, :0]), 2)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), 2, output_size=(3,))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), 2, output_size=(6, 5))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), 2, output_size=(4.0, 5))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), (2, 2, 2))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), (2,))),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2, _I2), 2, padding=5)),
    ("max_unpool2d", lambda L, x, w, u: L.max_unpool2d(*u(_V2.long(), _I2), 2)),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3, _I3), 1)),  # index too big
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3, _I3), (1, 2, 2), stride=0)),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3, _I3.int()), (1, 2, 2))),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3[0, 0], _I3[0, 0]), (1, 2, 2))),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3[:, :0], _I3[:, :0]), (1, 2, 2))),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3, _I3), (2, 2))),
    ("max_unpool3d", lambda L, x, w, u: L.max_unpool3d(*u(_V3, _I3), 2, padding=3)),
    ("max_unpool1d", lambda L, x, w, u: L.max_unpool1d(*u(_V1, _I1), 2, output_size=5)),
    ("max_unpool1d", lambda L, x, w, u: L.max_unpool1d(*u(_V1[0, 0], _I1[0, 0]), 2)),
    ("max_unpool1d", lambda L, x, w, u: L.max_unpool1d(*u(_V1, _I1 + 9), 2)),
    ("max_unpool1d", lambda L, x, w, u: L.max_unpool1d(*u(_V1, _I1), (2, 2))),
]


@pytest.mark.parametrize(("name", "call"), ERRORS, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(ERRORS)])  # fmt: skip
def test_errors_as_torch(name, call):
    with pytest.raises(Exception) as te:  # noqa: PT011 - the kind torch raises is the check
        call(TF, torch.tensor(_X), torch.tensor(_W), _as_torch)
    with pytest.raises(te.type) as de:
        call(F, dg.Tensor(_X), dg.Tensor(_W), _as_dg)
    assert name in str(de.value)


def test_integer_inputs_are_type_errors():
    ints = dg.Tensor(np.ones((1, 1, 2, 2, 2), np.int64))
    for call in (
        lambda: F.conv_transpose3d(ints, ints),
        lambda: F.lp_pool3d(ints, 2.0, 2),
        lambda: F.max_unpool3d(ints, ints, 2),
    ):
        with pytest.raises(TypeError):
            call()


def test_conv_transpose3d_dtype_mismatch():
    with pytest.raises(TypeError, match="dtype"):
        F.conv_transpose3d(dg.Tensor(_X), dg.Tensor(_W.astype(np.float32)))
