"""torch 2.13 parity (round 32, helper A): the softmax family's dim=None (torch's implicit
dim and warning) and 0-d inputs; numbers that do not fit a tensor's dtype (masked_fill,
fill_, full, full_like, clamp, __setitem__) raise as torch instead of giving inf or wrapping;
the norm modules print eps / momentum as given (eps=1, not eps=1.0)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

IMPLICIT = "Implicit dimension choice for {} has been deprecated"
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
FUNCS = {
    "softmax": (F.softmax, TF.softmax, dnn.Softmax, torch.nn.Softmax),
    "log_softmax": (F.log_softmax, TF.log_softmax, dnn.LogSoftmax, torch.nn.LogSoftmax),
    "softmin": (F.softmin, TF.softmin, dnn.Softmin, torch.nn.Softmin),
}


def _np(t):
    """A dg or torch tensor (or dg's .grad, an array) as a numpy array."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


def _run(fn, x, g, lib):
    """fn's output and the gradient of sum(fn(x) * g) in dg or torch."""
    if lib == "dg":
        t = dg.tensor(x, requires_grad=True)
        y = fn(t)
        y.backward(dg.tensor(g))
        return _np(y), _np(t.grad)
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(g))
    return _np(y), _np(t.grad)


def _close(a, b, dtype=np.float64):
    np.testing.assert_allclose(a, b, equal_nan=True, **TOL[dtype])


# ---- softmax / log_softmax / softmin: dim=None is torch's implicit dim -----------------------


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4), (2, 3, 1, 2), (1,), (2, 0, 3)])
def test_implicit_dim_matches_torch_with_its_warning(name, shape):
    ours, theirs, mod, tmod = FUNCS[name]
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 3
    g = rng.standard_normal(shape)
    msg = IMPLICIT.format(name)
    with pytest.warns(UserWarning, match=msg):
        yt, gt = _run(theirs, x, g, "torch")
    with pytest.warns(UserWarning, match=msg):
        yd, gd = _run(ours, x, g, "dg")
    _close(yd, yt)
    _close(gd, gt)
    for m in (mod(), mod(None), mod(dim=None)):
        with pytest.warns(UserWarning, match=msg):
            yd, gd = _run(m, x, g, "dg")
        _close(yd, yt)
        _close(gd, gt)
    with pytest.warns(UserWarning, match=msg):
        _close(_np(tmod()(torch.tensor(x))), yt)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_implicit_dim_warning_text_and_location(name):
    ours, theirs, mod, _ = FUNCS[name]
    x = np.random.default_rng(0).standard_normal((2, 3))
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        theirs(torch.tensor(x))
    with warnings.catch_warnings(record=True) as wd:
        warnings.simplefilter("always")
        ours(dg.tensor(x))
        mod()(dg.tensor(x))
    assert len(wt) == 1 and len(wd) == 2
    assert str(wd[0].message) == str(wt[0].message)
    assert wd[0].category is wt[0].category is UserWarning
    # the functional form's warning names the caller's line, as torch's; the module's too
    # (torch's names its own module.py there: one frame fewer between here and the warning)
    assert wd[0].filename == wt[0].filename == __file__
    assert wd[1].filename == __file__


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape, dim",
    [
        ((3, 5), 1),
        ((3, 5), 0),
        ((2, 3, 4), -1),
        ((2, 3, 4), 1),
        ((7,), 0),
        ((2, 1, 3), -2),
        ((4, 3), -1),
    ],
)
def test_explicit_dim_matches_torch_without_warning(name, dtype, shape, dim):
    ours, theirs, mod, _ = FUNCS[name]
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    yt, gt = _run(lambda t: theirs(t, dim), x, g, "torch")
    yd, gd = _run(lambda t: ours(t, dim), x, g, "dg")
    _close(yd, yt, dtype)
    _close(gd, gt, dtype)
    yd, gd = _run(lambda t: ours(t, dim=dim), x, g, "dg")
    _close(yd, yt, dtype)
    yd, gd = _run(mod(dim), x, g, "dg")
    _close(yd, yt, dtype)
    _close(gd, gt, dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_axis_alias_kept(name):
    ours, theirs, _, _ = FUNCS[name]
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    for d in (0, 1, -1):
        _close(_np(ours(dg.tensor(x), axis=d)), _np(theirs(torch.tensor(x), d)))
    # axis given with dim left out: no implicit-dim warning (warnings are errors here)
    ours(dg.tensor(x), axis=2)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_signature_is_torchs(name):
    ours, theirs, _, _ = FUNCS[name]
    tp = inspect.signature(theirs).parameters
    op = inspect.signature(ours).parameters
    assert list(op)[: len(tp)] == list(tp)
    for k in tp:
        assert op[k].default == tp[k].default, k
        assert op[k].kind == tp[k].kind, k


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_dtype_positional_and_keyword_as_torch(name):
    ours, theirs, _, _ = FUNCS[name]
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    yt = _np(theirs(torch.tensor(x), 1, 3, torch.float64))
    for yd in (ours(dg.tensor(x), 1, 3, np.float64), ours(dg.tensor(x), 1, dtype=dg.float64)):
        assert yd.dtype == np.float64
        _close(_np(yd), yt)


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("v", [2.5, -1e300, 0.0, np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("dim", [0, -1, None])
def test_zero_d_input_as_torch(name, v, dim):
    ours, theirs, _, _ = FUNCS[name]
    x, g = np.array(v), np.array(-1.75)

    def warns():
        if dim is None:
            return pytest.warns(UserWarning, match=IMPLICIT.format(name))
        return warnings.catch_warnings()

    with warns():
        yt, gt = _run(lambda t: theirs(t, dim), x, g, "torch")
    with warns():
        yd, gd = _run(lambda t: ours(t, dim), x, g, "dg")
    assert yd.shape == gd.shape == ()
    _close(yd, yt)
    _close(np.abs(gd), np.abs(gt))  # softmin's 0 gradient may carry the other sign


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_zero_d_bad_dim_is_torchs_index_error(name):
    ours, theirs, _, _ = FUNCS[name]
    for d in (1, -2):
        with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got"):
            theirs(torch.tensor(1.0), d)
        with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got"):
            ours(dg.tensor(1.0), d)


def test_zero_d_gradcheck():
    for f in (lambda t: F.softmax(t, 0), lambda t: F.log_softmax(t, -1), lambda t: F.softmin(t, 0)):
        assert dg.gradcheck(f, (dg.tensor(np.array(0.3), requires_grad=True),))
    x = dg.tensor(np.random.default_rng(3).standard_normal((2, 3, 2)), requires_grad=True)
    assert dg.gradcheck(lambda t: F.log_softmax(t, 1) * F.softmax(t, -1), (x,))


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_extreme_rows_as_torch(name):
    ours, theirs, _, _ = FUNCS[name]
    x = np.array(
        [
            [-np.inf, -np.inf, 1.0, 2.0],
            [-np.inf, -np.inf, -np.inf, -np.inf],
            [np.inf, 1.0, 2.0, 3.0],
            [np.nan, 1.0, 2.0, 3.0],
            [1e300, -1e300, 0.0, 1e300],
            [1e-300, -1e-300, 0.0, 5e-324],
        ]
    )
    g = np.random.default_rng(4).standard_normal(x.shape)
    yt, gt = _run(lambda t: theirs(t, 1), x, g, "torch")
    yd, gd = _run(lambda t: ours(t, 1), x, g, "dg")
    _close(yd, yt)
    _close(gd, gt)


def test_modules_as_torch():
    for mod, tmod in [
        (dnn.Softmax, torch.nn.Softmax),
        (dnn.LogSoftmax, torch.nn.LogSoftmax),
        (dnn.Softmin, torch.nn.Softmin),
    ]:
        for d in (None, 0, -1, 2):
            assert repr(mod(d)) == repr(tmod(d))
            assert mod(d).dim == tmod(d).dim
        for bad in ("1", 1.0, True):
            with pytest.raises(TypeError, match="dim: expected an int or None"):
                mod(bad)
    # separate classes, as torch's (LogSoftmax is no Softmax)
    assert not isinstance(dnn.LogSoftmax(1), dnn.Softmax)
    assert not issubclass(torch.nn.LogSoftmax, torch.nn.Softmax)
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5))
    _close(_np(dnn.Softmax2d()(dg.tensor(x))), _np(torch.nn.Softmax2d()(torch.tensor(x))))


def test_bad_dims_and_inputs():
    x = dg.tensor(np.ones((2, 3)))
    for f in (F.softmax, F.log_softmax, F.softmin):
        with pytest.raises(IndexError, match="Dimension out of range"):
            f(x, 2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            f(x, -3)
        with pytest.raises(TypeError, match="dim: expected an int"):
            f(x, 1.0)
    with pytest.raises(IndexError):
        TF.softmax(torch.ones(2, 3), 2)


# ---- numbers that do not fit the dtype -----------------------------------------------------

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]
VALUES = (
    [1e300, -1e300, 1e39, 3.5e38, 3.4028234663852886e38, 3.4028235677973366e38, 70000.0]
    + [65504.0, 65519.0, 2.5, -0.5, 255.5, 127.5, -128.5, 1e-50, -1e-300]
    + [np.inf, -np.inf, np.nan, True, False, 0, 300, 256, 255, 128, 127]
    + [-1, -128, -129, -255, -256, 2**31, 2**31 - 1, -(2**31) - 1]
    + [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]
    + [np.float32(3.0e38), np.int64(-5), np.float64(1e300)]
)


def _tensor_pair(dt):
    x = np.array([1, 0, 1, 1, 0]).astype(dt)
    return dg.tensor(x), torch.tensor(x)


def _same(fd, ft):
    """fd and ft (dg's and torch's versions of one call) both raise the same way, or agree."""
    try:
        want = ft()
    except Exception as e:  # noqa: BLE001 (any of torch's errors is compared)
        with pytest.raises(type(e)) as got:
            fd()
        if "without overflow" in str(e):
            assert str(e).split("type ")[1] in str(got.value)
        return
    got = fd()
    if want is None:
        return
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", ""))
    np.testing.assert_array_equal(_np(got), _np(want))


_MASK = np.array([True, False, True, False, True])


@pytest.mark.parametrize("dt", DTYPES)
def test_masked_fill_checks_the_value_as_torch(dt):
    for v in VALUES:
        xd, xt = _tensor_pair(dt)
        _same(
            lambda xd=xd, v=v: xd.masked_fill(dg.tensor(_MASK), v),
            lambda xt=xt, v=v: xt.masked_fill(torch.tensor(_MASK), v),
        )


@pytest.mark.parametrize("dt", DTYPES)
def test_fill_checks_the_value_as_torch(dt):
    for v in VALUES:
        xd, xt = _tensor_pair(dt)
        _same(lambda xd=xd, v=v: xd.fill_(v), lambda xt=xt, v=v: xt.fill_(v))


@pytest.mark.parametrize("dt", DTYPES)
def test_full_and_full_like_check_the_value_as_torch(dt):
    tdt = getattr(torch, dt)
    for v in VALUES:
        _same(
            lambda v=v: dg.full((2, 3), v, dtype=dt),
            lambda v=v: torch.full((2, 3), v, dtype=tdt),
        )
        xd, xt = _tensor_pair(dt)
        _same(lambda xd=xd, v=v: dg.full_like(xd, v), lambda xt=xt, v=v: torch.full_like(xt, v))


def test_full_default_dtype_checks_the_value():
    for v in (1e300, -1e39, 2**63, 2**63 - 1, -(2**63), 3.0, 7, True, np.nan):
        _same(lambda v=v: dg.full((2,), v), lambda v=v: torch.full((2,), v))


def test_full_takes_a_zero_d_tensor_as_torch():
    for v in (1.5, 3, True, 1e300):
        a = np.array(v)
        _same(
            lambda a=a: dg.full((2,), dg.tensor(a)), lambda a=a: torch.full((2,), torch.tensor(a))
        )
        _same(
            lambda a=a: dg.full((2,), dg.tensor(a), dtype=dg.float64),
            lambda a=a: torch.full((2,), torch.tensor(a), dtype=torch.float64),
        )
        _same(
            lambda a=a: dg.full_like(dg.ones((2, 1)), dg.tensor(a)),
            lambda a=a: torch.full_like(torch.ones(2, 1), torch.tensor(a)),
        )


@pytest.mark.parametrize("dt", DTYPES)
def test_clamp_checks_the_bounds_as_torch(dt):
    for v in VALUES:
        if isinstance(v, (bool, np.bool_)) and dt == "bool":
            continue  # torch: NotImplementedError; here a TypeError (below)
        if dt == "bool" and isinstance(v, int) and v >= 2**63:
            continue  # torch: "Promotion for uint64 is not supported"; here int64's overflow
        for kw in ({"min": v}, {"max": v}, {"min": -1, "max": v}):
            xd, xt = _tensor_pair(dt)
            _same(lambda xd=xd, kw=kw: xd.clamp(**kw), lambda xt=xt, kw=kw: xt.clamp(**kw))
    with pytest.raises(TypeError, match="clamp: min"):
        dg.tensor(np.array([True])).clamp(min=True)


def _set(x, idx, v):
    x[idx] = v
    return x


@pytest.mark.parametrize("dt", DTYPES)
def test_setitem_checks_the_value_as_torch(dt):
    for v in VALUES:
        if isinstance(v, np.generic):
            continue  # torch refuses numpy scalars here (deltagrad takes them, checked)
        for idx in (slice(None), slice(1, 3), [0, 2]):
            xd, xt = _tensor_pair(dt)
            _same(lambda x=xd, i=idx, v=v: _set(x, i, v), lambda x=xt, i=idx, v=v: _set(x, i, v))


def test_float16_setitem_writes_inf_as_torch():
    # torch's indexing skips its check for float16 alone (its masked_fill / fill_ check it)
    for v in (70000.0, 1e300, -(2**40)):
        x, t = dg.tensor(np.ones(3, np.float16)), torch.ones(3, dtype=torch.float16)
        x[0:2] = v
        t[0:2] = v
        np.testing.assert_array_equal(_np(x), _np(t))
    with pytest.raises(RuntimeError, match="c10::Half without overflow"):
        dg.tensor(np.ones(3, np.float16)).fill_(70000.0)


def test_overflow_error_types_and_messages():
    x = dg.tensor(np.ones(3, np.float32))
    m = dg.tensor(np.array([True, False, True]))
    with pytest.raises(
        RuntimeError,
        match="masked_fill: value: value cannot be converted to type float without overflow",
    ) as e:
        x.masked_fill(m, 1e300)
    assert isinstance(e.value, OverflowError)  # what numpy gave for ints before
    with pytest.raises(OverflowError, match="int too big to convert"):
        x.masked_fill(m, 2**64)
    with pytest.raises(OverflowError, match="int too big to convert"):
        torch.ones(3).masked_fill(torch.tensor([True, False, True]), 2**64)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        x[0] = 2**63
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        torch.ones(3)[0] = 2**63
    with pytest.raises(
        RuntimeError, match="full: fill_value: value cannot be converted to type int8_t"
    ):
        dg.full((2,), 300, dtype=dg.int8)
    with pytest.raises(RuntimeError, match="clamp: max: value cannot be converted to type int"):
        dg.tensor(np.ones(2, np.int32)).clamp(max=2**40)
    # int64 from 2.0**63: torch wraps it to -2**63; raising is the only exact answer
    with pytest.raises(RuntimeError, match="int64_t without overflow"):
        dg.full((2,), 2.0**63, dtype=dg.int64)
    for bad in ("a", None, [1.0], np.array([1.0])):
        with pytest.raises(TypeError):
            x.masked_fill(m, bad)
        with pytest.raises(TypeError):
            x.fill_(bad)


def test_masked_fill_tensor_value_checked_and_differentiable():
    m = np.array([True, False, True])
    with pytest.raises(RuntimeError, match="without overflow"):
        torch.ones(3).masked_fill(torch.tensor(m), torch.tensor(1e300, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="without overflow"):
        dg.ones(3).masked_fill(dg.tensor(m), dg.tensor(np.array(1e300)))
    x = np.random.default_rng(6).standard_normal(3)
    xd, vd = dg.tensor(x, requires_grad=True), dg.tensor(np.array(2.5), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    vt = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    g = np.array([0.5, -1.0, 3.0])
    xd.masked_fill(dg.tensor(m), vd).backward(dg.tensor(g))
    xt.masked_fill(torch.tensor(m), vt).backward(torch.tensor(g))
    _close(_np(xd.grad), _np(xt.grad))
    _close(_np(vd.grad), _np(vt.grad))
    # fill_ with a 0-d tensor casts as torch (no check: inf)
    assert np.isinf(_np(dg.ones(2).fill_(dg.tensor(np.array(1e300))))).all()
    assert torch.ones(2).fill_(torch.tensor(1e300, dtype=torch.float64)).isinf().all()


def test_clamp_result_dtype_and_gradient_as_torch():
    b = np.array([True, False, True])
    for kw in ({"min": 0}, {"max": 0}, {"min": 2}, {"min": 0.5}, {"max": 2.5}):
        _same(lambda kw=kw: dg.tensor(b).clamp(**kw), lambda kw=kw: torch.tensor(b).clamp(**kw))
    i = np.array([3, -7, 0], np.int32)
    for kw in ({"min": True}, {"max": False}, {"min": -1, "max": 2.5}, {"min": 2**31 - 1}):
        _same(lambda kw=kw: dg.tensor(i).clamp(**kw), lambda kw=kw: torch.tensor(i).clamp(**kw))
    x = np.random.default_rng(8).standard_normal(7) * 3
    x[0], x[1] = 1.0, -1.0  # ties with the bounds
    g = np.random.default_rng(9).standard_normal(7)
    for kw in ({"min": -1, "max": 1}, {"min": True}, {"max": np.float32(0.5)}, {"min": -1e300}):
        yt, gt = _run(lambda t, kw=kw: t.clamp(**kw), x, g, "torch")
        yd, gd = _run(lambda t, kw=kw: t.clamp(**kw), x, g, "dg")
        _close(yd, yt)
        _close(gd, gt)


# ---- norm modules: eps and momentum printed as given ---------------------------------------

NORM_CASES = [
    ("BatchNorm1d", (4,), {"eps": 1, "momentum": 1}),
    ("BatchNorm1d", (4,), {}),
    ("BatchNorm1d", (4,), {"eps": np.float32(1e-3), "momentum": np.float32(0.5)}),
    ("BatchNorm2d", (4,), {"eps": 1}),
    ("BatchNorm2d", (4,), {"eps": 0, "momentum": None, "affine": False}),
    ("BatchNorm2d", (3,), {"eps": 2.5e-7, "momentum": 0, "track_running_stats": False}),
    ("LayerNorm", (4,), {"eps": 1, "bias": False}),
    ("LayerNorm", ((2, 3),), {"eps": np.float64(0.25), "elementwise_affine": False}),
    ("LayerNorm", ([5],), {}),
    ("GroupNorm", (2, 4), {"eps": 1}),
    ("GroupNorm", (2, 4), {"eps": 2, "affine": False}),
    ("GroupNorm", (1, 3), {"eps": np.int64(3)}),
    ("InstanceNorm1d", (4,), {"eps": 1, "momentum": 0}),
    ("InstanceNorm2d", (4,), {"momentum": None, "affine": True, "track_running_stats": True}),
    ("InstanceNorm3d", (4,), {"eps": 3, "momentum": 1}),
    ("InstanceNorm3d", (4,), {"eps": 1e-12, "momentum": 0.25, "bias": False, "affine": True}),
]


@pytest.mark.parametrize("name, args, kw", NORM_CASES)
def test_norm_repr_and_attributes_as_torch(name, args, kw):
    ours, theirs = getattr(dnn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    assert type(ours.eps) is type(theirs.eps) and ours.eps == theirs.eps
    if hasattr(theirs, "momentum"):
        assert type(ours.momentum) is type(theirs.momentum)
        assert ours.momentum == theirs.momentum


@pytest.mark.parametrize(
    "name, args, kw, shape",
    [
        ("BatchNorm1d", (4,), {"eps": 1, "momentum": 1}, (3, 4, 5)),
        ("BatchNorm1d", (4,), {"eps": np.float32(0.5), "momentum": None}, (3, 4)),
        ("BatchNorm2d", (2,), {"eps": 2, "momentum": 0}, (3, 2, 2, 3)),
        ("InstanceNorm1d", (4,), {"eps": 1, "momentum": 1, "track_running_stats": True}, (3, 4, 5)),
        ("GroupNorm", (2, 4), {"eps": 1}, (3, 4, 5)),
        ("LayerNorm", (5,), {"eps": 1}, (3, 4, 5)),
    ],
)
def test_norm_int_eps_forward_as_torch(name, args, kw, shape):
    ours = getattr(dnn, name)(*args, **kw, dtype=np.float64)
    theirs = getattr(torch.nn, name)(*args, **kw).double()
    rng = np.random.default_rng(10)
    for _ in range(2):  # twice: the running statistics' update takes momentum too
        x = rng.standard_normal(shape) * 2 + 1
        g = rng.standard_normal(shape)
        yd, gd = _run(ours, x, g, "dg")
        yt, gt = _run(theirs, x, g, "torch")
        _close(yd, yt)
        _close(gd, gt)
    if getattr(theirs, "running_var", None) is not None:
        _close(_np(ours.running_mean), _np(theirs.running_mean))
        _close(_np(ours.running_var), _np(theirs.running_var))
        ours.eval()
        theirs.eval()
        x = rng.standard_normal(shape)
        _close(_np(ours(dg.tensor(x))), _np(theirs(torch.tensor(x))))


def test_norm_bad_eps_and_momentum_still_refused():
    for bad in ("1", None, True):
        with pytest.raises(TypeError, match="eps"):
            dnn.BatchNorm1d(3, eps=bad)
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="eps"):
            dnn.LayerNorm(3, eps=bad)
    with pytest.raises(TypeError, match="momentum"):
        dnn.InstanceNorm1d(3, momentum="0.1")
    with pytest.raises(ValueError, match="momentum"):
        dnn.BatchNorm2d(3, momentum=2)
