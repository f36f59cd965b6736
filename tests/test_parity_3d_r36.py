"""conv3d / Conv3d and the 3-D pools (max_pool3d, avg_pool3d, adaptive_avg_pool3d,
adaptive_max_pool3d and their modules) against torch 2.13 (round 36): forward, input / weight /
bias gradients and indices in float64 to 1e-10, float32 to 1e-5, NaN / -inf / tie rules of
the max pools, padding modes, repr, state_dict, and torch's errors."""

from __future__ import annotations

import warnings

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


def _close(a, b, dtype=np.float64, exact=False) -> None:
    a = a.numpy() if isinstance(a, dg.Tensor) else np.asarray(a)
    b = b.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        tol = TOL[dtype]
        finite = np.abs(b[np.isfinite(b)])
        scale = max(1.0, float(finite.max())) if finite.size and dtype == np.float32 else 1.0
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True)


def _torch(fn, *args, **kw):
    """torch's call, without its padding='same' performance warning (warnings are errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


def _pair(a: np.ndarray, grad: bool = True):
    return dg.Tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


# ---- conv3d ----------------------------------------------------------------------------------

CONV = [
    ((2, 3, 5, 6, 7), (4, 3, 2, 3, 2), {}),
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 2, 7, 5, 6), (3, 2, 1, 1, 1), {"stride": (2, 1, 2)}),
    ((2, 4, 7, 6, 5), (6, 2, 3, 2, 3), {"groups": 2, "stride": (2, 1, 2), "padding": (1, 0, 1)}),
    ((2, 4, 7, 6, 5), (4, 1, 3, 3, 3), {"groups": 4, "padding": 1}),  # depthwise
    ((2, 4, 7, 6, 5), (8, 1, 2, 3, 1), {"groups": 4, "dilation": 2}),
    ((1, 2, 9, 7, 8), (3, 2, 3, 2, 2), {"dilation": (2, 1, 2), "padding": "same"}),
    ((1, 2, 6, 5, 4), (3, 2, 2, 2, 3), {"padding": "same"}),  # asymmetric 'same'
    ((2, 2, 4, 5, 3), (3, 2, 3, 2, 2), {"padding": "valid", "stride": 1}),
    ((3, 5, 6, 7), (4, 3, 2, 3, 2), {"stride": 2}),  # unbatched
    ((1, 1, 1, 1, 1), (2, 1, 1, 1, 1), {}),  # size-1 everything
    ((2, 3, 1, 4, 1), (2, 3, 1, 3, 1), {"padding": (0, 1, 0)}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("xs", "ws", "kw"), CONV)
def test_conv3d_forward_and_gradients(xs, ws, kw, bias):
    r = _rng(1)
    x, tx = _pair(r.standard_normal(xs))
    w, tw = _pair(r.standard_normal(ws))
    b, tb = _pair(r.standard_normal(ws[0])) if bias else (None, None)
    y, ty = F.conv3d(x, w, b, **kw), _torch(TF.conv3d, tx, tw, tb, **kw)
    _close(y, ty)
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)
    if bias:
        _close(b.grad, tb.grad)


def test_conv3d_float32_and_extremes():
    r = _rng(2)
    a = r.standard_normal((2, 4, 5, 6, 7)).astype(np.float32) * 1e3
    wa = r.standard_normal((6, 2, 3, 2, 3)).astype(np.float32)
    x, tx = _pair(a)
    w, tw = _pair(wa)
    kw = {"groups": 2, "padding": 1, "stride": (1, 2, 1)}
    y, ty = F.conv3d(x, w, **kw), TF.conv3d(tx, tw, **kw)
    assert y.dtype == dg.float32
    _close(y, ty, np.float32)
    y.sum().backward()
    ty.sum().backward()
    _close(w.grad, tw.grad, np.float32)
    _close(x.grad, tx.grad, np.float32)
    # an inf propagates where it is read (and only there)
    a = r.standard_normal((1, 1, 4, 3, 3))
    a[0, 0, 1, 1, 1] = np.inf
    a[0, 0, 3, 0, 0] = np.nan
    wa = np.abs(r.standard_normal((1, 1, 2, 2, 2))) + 0.1
    _close(F.conv3d(dg.Tensor(a), dg.Tensor(wa)), TF.conv3d(torch.tensor(a), torch.tensor(wa)))


def test_conv3d_empty_batch_and_channels():
    r = _rng(3)
    x, tx = _pair(r.standard_normal((0, 3, 4, 5, 6)))
    w, tw = _pair(r.standard_normal((2, 3, 2, 2, 2)))
    b, tb = _pair(r.standard_normal(2))
    y, ty = F.conv3d(x, w, b), TF.conv3d(tx, tw, tb)
    _close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _close(w.grad, tw.grad)
    _close(b.grad, tb.grad)


def test_conv3d_gradcheck():
    r = _rng(4)
    x = dg.Tensor(r.standard_normal((1, 2, 3, 4, 3)), requires_grad=True)
    w = dg.Tensor(r.standard_normal((2, 1, 2, 2, 2)), requires_grad=True)
    b = dg.Tensor(r.standard_normal(2), requires_grad=True)
    assert dg.gradcheck(
        lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1, groups=2), (x, w, b)
    )


# ---- Conv3d ----------------------------------------------------------------------------------


def _conv_pair(**kw):
    m, tm = dnn.Conv3d(**kw), _torch(torch.nn.Conv3d, dtype=torch.float64, **kw)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.numpy().astype(np.float64)))
        if m.bias is not None:
            tm.bias.copy_(torch.tensor(m.bias.numpy().astype(np.float64)))
    return m.double(), tm


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 3, "padding": 1},
        {"kernel_size": (3, 2, 3), "padding": (1, 1, 0), "stride": (2, 1, 1), "groups": 2},
        {"kernel_size": (2, 3, 2), "padding": "same", "dilation": (1, 2, 1)},
        {"kernel_size": 2, "padding": "valid", "bias": False},
    ],
)
def test_conv3d_module_padding_modes(kw, mode):
    dg.manual_seed(0)
    m, tm = _conv_pair(in_channels=2, out_channels=4, padding_mode=mode, **kw)
    r = _rng(5)
    for shape in [(2, 2, 5, 6, 4), (2, 5, 6, 4)]:
        x, tx = _pair(r.standard_normal(shape))
        y, ty = m(x), _torch(tm, tx)
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


@pytest.mark.parametrize(
    "kw",
    [
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3},
        {
            "in_channels": 4,
            "out_channels": 8,
            "kernel_size": (1, 2, 3),
            "stride": 2,
            "padding": (0, 1, 1),
            "dilation": 2,
            "groups": 4,
            "bias": False,
            "padding_mode": "circular",
        },  # fmt: skip
        {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": "same"},
    ],
)
def test_conv3d_module_layout_repr_init(kw):
    m, tm = dnn.Conv3d(**kw), torch.nn.Conv3d(**kw)
    assert repr(m) == repr(tm)
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd)
    assert all(tuple(sd[k].shape) == tuple(tsd[k].shape) for k in sd)
    assert m.weight.dtype == dg.float32
    fan_in = m.weight.shape[1] * int(np.prod(m.weight.shape[2:]))
    bound = 1 / np.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias share this bound
    assert np.abs(m.weight.numpy()).max() <= bound and m.weight.numpy().std() > bound / 4
    if m.bias is not None:
        assert np.abs(m.bias.numpy()).max() <= bound
    for attr in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"):
        assert getattr(m, attr) == getattr(tm, attr), attr
    assert dnn.Conv3d(2, 2, 1, dtype=dg.float64).weight.dtype == dg.float64


def test_conv3d_module_errors():
    with pytest.raises(ValueError, match="groups"):
        dnn.Conv3d(3, 4, 2, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        dnn.Conv3d(2, 2, 2, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        dnn.Conv3d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel_size"):
        dnn.Conv3d(2, 2, (2, 2))
    m = dnn.Conv3d(2, 2, 2)
    with pytest.raises(RuntimeError, match="channels"):
        m(dg.Tensor(np.ones((1, 3, 4, 4, 4), np.float32)))
    with pytest.raises(RuntimeError, match="4-D"):
        m(dg.Tensor(np.ones((1, 2, 4, 4), np.float32)[0, 0]))


# ---- torch's errors --------------------------------------------------------------------------

_X = np.random.default_rng(6).standard_normal((2, 3, 5, 6, 7))
_W = np.random.default_rng(7).standard_normal((4, 3, 2, 2, 2))

ERRORS = [
    ("conv3d", lambda L, x, w: L.conv3d(x[0, 0], w)),
    ("conv3d", lambda L, x, w: L.conv3d(x[:, :2], w)),
    ("conv3d", lambda L, x, w: L.conv3d(x, w[0])),
    ("conv3d", lambda L, x, w: L.conv3d(x[:, :, :1], w)),  # kernel larger than the input
    ("conv3d", lambda L, x, w: L.conv3d(x, w, stride=0)),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, stride=(1, 2))),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, padding=-1)),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, padding="same", stride=2)),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, groups=2)),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, bias=x[0, 0, 0, 0, :3])),
    ("conv3d", lambda L, x, w: L.conv3d(x, w, stride=2.0)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 2, padding=2)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 7)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 2, stride=0)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 0)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x[0, 0], 2)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x[:, :, :0], 2)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x[0, :0], 2)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, (2, 2))),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 2, dilation=0)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 2, padding=-1)),
    ("max_pool3d", lambda L, x, w: L.max_pool3d(x, 2.0)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 2, padding=2)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 7)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 2, stride=0)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x[0, 0], 2)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x[:, :0], 2)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 2, divisor_override=0)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 2, divisor_override=1.5)),
    ("avg_pool3d", lambda L, x, w: L.avg_pool3d(x, 2, stride=(1, 2))),
    ("adaptive_avg_pool3d", lambda L, x, w: L.adaptive_avg_pool3d(x, (2, 3))),
    ("adaptive_avg_pool3d", lambda L, x, w: L.adaptive_avg_pool3d(x, -1)),
    ("adaptive_avg_pool3d", lambda L, x, w: L.adaptive_avg_pool3d(x[:, :, :0], 2)),
    ("adaptive_avg_pool3d", lambda L, x, w: L.adaptive_avg_pool3d(x[0, 0], 2)),
    ("adaptive_avg_pool3d", lambda L, x, w: L.adaptive_avg_pool3d(x, None)),
    ("adaptive_max_pool3d", lambda L, x, w: L.adaptive_max_pool3d(x, (2, 3, 4, 5))),
    ("adaptive_max_pool3d", lambda L, x, w: L.adaptive_max_pool3d(x[:, :0], 2)),
    ("adaptive_max_pool3d", lambda L, x, w: L.adaptive_max_pool3d(x[0, 0], 2)),
    ("adaptive_max_pool3d", lambda L, x, w: L.adaptive_max_pool3d(x, 2.5)),
]


@pytest.mark.parametrize(("name", "call"), ERRORS, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(ERRORS)])  # fmt: skip
def test_errors_as_torch(name, call):
    with pytest.raises(Exception) as te:  # noqa: PT011 - the kind torch raises is the check
        _torch(call, TF, torch.tensor(_X), torch.tensor(_W))
    with pytest.raises(te.type) as de:
        call(F, dg.Tensor(_X), dg.Tensor(_W))
    assert name in str(de.value)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.max_pool3d(x, 2),
        lambda x: F.avg_pool3d(x, 2),
        lambda x: F.adaptive_avg_pool3d(x, 2),
        lambda x: F.adaptive_max_pool3d(x, 2),
        lambda x: F.conv3d(x, x[:1]),
    ],
)
def test_integer_input_is_type_error(fn):
    with pytest.raises(TypeError):
        fn(dg.Tensor(np.ones((1, 1, 3, 3, 3), np.int64)))


def test_conv3d_dtype_mismatch():
    with pytest.raises(TypeError, match="dtype"):
        F.conv3d(dg.Tensor(_X), dg.Tensor(_W.astype(np.float32)))


# ---- max_pool3d ------------------------------------------------------------------------------

MAX = [
    ((2, 3, 5, 6, 7), {"kernel_size": 2}),
    ((2, 3, 5, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 5, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    (
        (1, 2, 7, 6, 7),
        {"kernel_size": (3, 2, 2), "stride": (2, 1, 2), "padding": (1, 0, 1), "dilation": 2},
    ),  # fmt: skip
    (
        (3, 7, 6, 7),
        {
            "kernel_size": (3, 1, 2),
            "stride": (2, 1, 2),
            "padding": (1, 0, 1),
            "dilation": (2, 1, 2),
            "ceil_mode": True,
        },
    ),  # fmt: skip
    ((2, 2, 4, 5, 6), {"kernel_size": 1, "stride": 1}),
    ((1, 1, 1, 1, 1), {"kernel_size": 1}),
    ((2, 1, 6, 1, 5), {"kernel_size": (2, 1, 3), "stride": (1, 1, 2), "ceil_mode": True}),
    ((0, 2, 4, 4, 4), {"kernel_size": 2}),
]


def _ties(shape, r):
    """Random values with many ties (a few levels), so the first-maximum rule is exercised."""
    return r.integers(-2, 3, shape).astype(np.float64)


@pytest.mark.parametrize("data", ["random", "ties"])
@pytest.mark.parametrize(("shape", "kw"), MAX)
def test_max_pool3d(shape, kw, data):
    r = _rng(8)
    a = r.standard_normal(shape) if data == "random" else _ties(shape, r)
    x, tx = _pair(a)
    (y, i), (ty, ti) = (
        F.max_pool3d(x, return_indices=True, **kw),
        TF.max_pool3d(tx, return_indices=True, **kw),
    )
    _close(y, ty)
    _close(i, ti, exact=True)
    assert i.dtype == dg.int64
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)
    _close(F.max_pool3d(dg.Tensor(a), **kw), TF.max_pool3d(torch.tensor(a), **kw))
    y2, i2 = F.max_pool3d_with_indices(dg.Tensor(a), **kw)
    _close(i2, ti, exact=True)


def test_max_pools_nan_and_inf_rules():
    r = _rng(9)
    a = _ties((2, 2, 6, 5, 6), r)
    a.reshape(-1)[r.choice(a.size, 25, replace=False)] = np.nan
    a.reshape(-1)[r.choice(a.size, 25, replace=False)] = -np.inf
    a[1, 1] = -np.inf  # a channel of -inf only: the first position wins
    for kw in [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 1, "padding": 1},
        {"kernel_size": (3, 2, 2), "stride": 2, "dilation": (2, 1, 2), "ceil_mode": True},
    ]:
        x, tx = _pair(a)
        (y, i), (ty, ti) = (
            F.max_pool3d(x, return_indices=True, **kw),
            TF.max_pool3d(tx, return_indices=True, **kw),
        )
        _close(y, ty)
        _close(i, ti, exact=True)
        y.sum().backward()
        ty.sum().backward()
        _close(x.grad, tx.grad)
    for size in [(3, 2, 4), 2, (1, 5, 6), (4, None, 3)]:
        x, tx = _pair(a)
        (y, i), (ty, ti) = (
            F.adaptive_max_pool3d(x, size, True),
            TF.adaptive_max_pool3d(tx, size, True),
        )
        _close(y, ty)
        _close(i, ti, exact=True)
        y.sum().backward()
        ty.sum().backward()
        _close(x.grad, tx.grad)


def test_max_pool3d_window_all_in_padding():
    # with dilation a depth window can hold no input position: torch's -inf at its start index
    a = np.array([-0.7, 2.6, -0.5]).reshape(1, 1, 3, 1, 1)
    for shape, kw in [
        ((1, 1, 1, 1, 1), {"kernel_size": (2, 1, 1), "padding": (1, 0, 0), "dilation": (2, 1, 1)}),
        ((1, 1, 3, 1, 1), {"kernel_size": (2, 1, 1), "padding": (1, 0, 0), "dilation": (2, 1, 1)}),
        ((1, 1, 3, 1, 1), {"kernel_size": (1, 2, 1), "padding": (0, 1, 0), "dilation": (1, 2, 1)}),
        ((1, 1, 3, 1, 1), {"kernel_size": (2, 1, 2), "padding": (1, 0, 1), "dilation": 2}),
    ]:
        x, tx = _pair(a[:, :, : shape[2]])
        (y, i), (ty, ti) = (
            F.max_pool3d(x, return_indices=True, **kw),
            TF.max_pool3d(tx, return_indices=True, **kw),
        )
        _close(y, ty)
        _close(i, ti, exact=True)
        y.sum().backward()
        assert np.isfinite(np.asarray(x.grad)).all()


def test_max_pool3d_float32():
    r = _rng(10)
    a = r.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    x, tx = _pair(a)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    (y, i), (ty, ti) = (
        F.max_pool3d(x, return_indices=True, **kw),
        TF.max_pool3d(tx, return_indices=True, **kw),
    )
    assert y.dtype == dg.float32
    _close(y, ty, np.float32)
    _close(i, ti, exact=True)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad, np.float32)


# ---- avg_pool3d ------------------------------------------------------------------------------

AVG = [
    ((2, 3, 5, 6, 7), {"kernel_size": 2}),
    ((2, 3, 5, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 7, 6, 5), {"kernel_size": (3, 2, 3), "stride": (2, 1, 2), "padding": (1, 0, 1)}),
    ((3, 5, 6, 7), {"kernel_size": (1, 3, 2), "stride": (1, 2, 1), "padding": (0, 1, 1)}),
    ((1, 1, 1, 1, 1), {"kernel_size": 1}),
    ((2, 2, 6, 1, 5), {"kernel_size": (3, 1, 2), "stride": 2, "padding": (1, 0, 1)}),
    ((0, 2, 4, 4, 4), {"kernel_size": 2}),
]


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("extra", [{}, {"count_include_pad": False}, {"divisor_override": 3}])
@pytest.mark.parametrize(("shape", "kw"), AVG)
def test_avg_pool3d(shape, kw, extra, ceil_mode):
    r = _rng(11)
    x, tx = _pair(r.standard_normal(shape))
    kw = {**kw, **extra, "ceil_mode": ceil_mode}
    y, ty = F.avg_pool3d(x, **kw), TF.avg_pool3d(tx, **kw)
    _close(y, ty)
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)


def test_avg_pool3d_float32_and_inf():
    r = _rng(12)
    a = r.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    a[0, 0, 2, 2, 2] = np.inf
    a[1, 2, 0, 0, 0] = np.nan
    x, tx = _pair(a)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    y, ty = F.avg_pool3d(x, **kw), TF.avg_pool3d(tx, **kw)
    assert y.dtype == dg.float32
    _close(y, ty, np.float32)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad, np.float32)


# ---- adaptive pools --------------------------------------------------------------------------

ADAPTIVE = [
    ((2, 3, 5, 6, 7), (3, 4, 2)),
    ((2, 3, 5, 6, 7), (7, None, 9)),  # larger than the input: overlapping windows
    ((3, 5, 6, 7), 1),
    ((2, 3, 5, 6, 7), (1, 1, 3)),  # one window over (D, H): the 2-D pass on (D*H, W)
    ((2, 2, 5, 6, 7), (5, 6, 7)),
    ((1, 1, 1, 1, 1), 2),
    ((2, 1, 4, 3, 5), (0, 2, 2)),
    ((0, 2, 4, 4, 4), 2),
]


@pytest.mark.parametrize(("shape", "size"), ADAPTIVE)
def test_adaptive_avg_pool3d(shape, size):
    r = _rng(13)
    x, tx = _pair(r.standard_normal(shape))
    y, ty = F.adaptive_avg_pool3d(x, size), TF.adaptive_avg_pool3d(tx, size)
    _close(y, ty)
    if ty.numel() == 0 and 0 not in shape:  # torch's backward refuses an empty output
        y.sum().backward()
        assert not np.asarray(x.grad).any()
        return
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)


@pytest.mark.parametrize("data", ["random", "ties"])
@pytest.mark.parametrize(("shape", "size"), ADAPTIVE)
def test_adaptive_max_pool3d(shape, size, data):
    r = _rng(14)
    a = r.standard_normal(shape) if data == "random" else _ties(shape, r)
    x, tx = _pair(a)
    (y, i), (ty, ti) = F.adaptive_max_pool3d(x, size, True), TF.adaptive_max_pool3d(tx, size, True)
    _close(y, ty)
    _close(i, ti, exact=True)
    _close(F.adaptive_max_pool3d(dg.Tensor(a), size), TF.adaptive_max_pool3d(tx, size))
    _close(F.adaptive_max_pool3d_with_indices(dg.Tensor(a), size)[1], ti, exact=True)
    if ty.numel() == 0 and 0 not in shape:  # torch's backward refuses an empty output
        y.sum().backward()
        assert not np.asarray(x.grad).any()
        return
    g = r.standard_normal(tuple(ty.shape))
    y.backward(dg.Tensor(g))
    ty.backward(torch.tensor(g))
    _close(x.grad, tx.grad)


def test_adaptive_pools_float32():
    r = _rng(15)
    a = r.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    for fn, tfn in [
        (F.adaptive_avg_pool3d, TF.adaptive_avg_pool3d),
        (F.adaptive_max_pool3d, TF.adaptive_max_pool3d),
    ]:
        x, tx = _pair(a)
        y, ty = fn(x, (3, 4, 2)), tfn(tx, (3, 4, 2))
        assert y.dtype == dg.float32
        _close(y, ty, np.float32)
        y.sum().backward()
        ty.sum().backward()
        _close(x.grad, tx.grad, np.float32)


# ---- pooling modules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "kw"),
    [
        ("MaxPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
        ("MaxPool3d", ((2, 1, 2),), {"dilation": 2, "return_indices": True}),
        ("AvgPool3d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}),
        ("AvgPool3d", ((2, 3, 2),), {"ceil_mode": True, "divisor_override": 2}),
        ("AdaptiveAvgPool3d", ((3, None, 2),), {}),
        ("AdaptiveMaxPool3d", (2,), {}),
        ("AdaptiveMaxPool3d", ((3, 4, 2),), {"return_indices": True}),
    ],
)
def test_pool_modules(name, args, kw):
    m, tm = getattr(dnn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(tm)
    r = _rng(16)
    for shape in [(2, 3, 5, 6, 7), (3, 5, 6, 7)]:
        a = r.standard_normal(shape)
        y, ty = m(dg.Tensor(a)), tm(torch.tensor(a))
        if kw.get("return_indices"):
            _close(y[0], ty[0])
            _close(y[1], ty[1], exact=True)
        else:
            _close(y, ty)


def test_pool_module_errors_name_the_module():
    x = dg.Tensor(np.ones((1, 1, 3, 3, 3)))
    with pytest.raises(RuntimeError, match="MaxPool3d"):
        dnn.MaxPool3d(2, padding=2)(x)
    with pytest.raises(RuntimeError, match="AvgPool3d"):
        dnn.AvgPool3d(4)(x)
