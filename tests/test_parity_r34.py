"""Round 34 torch-parity leftovers: number arguments beyond the input dtype's range (the
activations' thresholds / slopes / bounds, F.pad's value), arange / linspace edge arguments,
integer matmul (mm, addmm and siblings), round(decimals=) beyond the float range, the
reference oracles' empty batches, objects with a bogus __cuda_array_interface__, and results
too large for the machine's memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
import deltagrad.nn.functional as F
from deltagrad import ops
from deltagrad import reference as ref

torch = pytest.importorskip("torch")
TF = torch.nn.functional

BIG = 1e300
INF, NAN = math.inf, math.nan
X = [-1.5, -0.19, 0.0, 0.19, 1.45, 2.5]


def _pair(values, dtype="float32"):
    """The same values as a deltagrad and a torch tensor."""
    a = np.array(values, dtype=dtype)
    return dg.tensor(a), torch.tensor(a)


def _same_error(tcall, dcall, exc, match):
    """torch raises exc; deltagrad raises exc too, its message matching `match`."""
    with pytest.raises(exc):
        tcall()
    with pytest.raises(exc, match=match):
        dcall()


def _close(d, t, rtol=0.0, atol=0.0, msg=""):
    t = t.detach().numpy()
    d = d.detach().numpy() if isinstance(d, dg.Tensor) else np.asarray(d)
    assert d.dtype == t.dtype and d.shape == t.shape, msg
    np.testing.assert_allclose(d, t, rtol=rtol, atol=atol, equal_nan=True, err_msg=msg)


# ---- 1. number arguments that do not fit the input's dtype ---------------------------------

# (name, deltagrad call, torch call, the argument named in deltagrad's message)
OVERFLOW_CASES = [
    ("threshold", lambda m, x, v: m.threshold(x, v, 0.0), "threshold: threshold"),
    ("threshold value", lambda m, x, v: m.threshold(x, 0.0, v), "threshold: value"),
    ("threshold_", lambda m, x, v: m.threshold_(x, v, 0.0), "threshold: threshold"),
    ("threshold inplace", lambda m, x, v: m.threshold(x, 0.0, v, True), "threshold: value"),
    ("hardtanh min", lambda m, x, v: m.hardtanh(x, -v, 1.0), "hardtanh: min_val"),
    ("hardtanh max", lambda m, x, v: m.hardtanh(x, -1.0, v), "hardtanh: max_val"),
    ("hardtanh_", lambda m, x, v: m.hardtanh_(x, -1.0, v), "hardtanh: max_val"),
    ("leaky_relu", lambda m, x, v: m.leaky_relu(x, v), "leaky_relu: negative_slope"),
    ("leaky_relu neg", lambda m, x, v: m.leaky_relu(x, -v), "leaky_relu: negative_slope"),
    ("leaky_relu_", lambda m, x, v: m.leaky_relu_(x, v), "leaky_relu: negative_slope"),
    ("elu", lambda m, x, v: m.elu(x, v), "elu: alpha"),
    ("elu_", lambda m, x, v: m.elu_(x, v), "elu: alpha"),
    ("celu", lambda m, x, v: m.celu(x, v), "celu: alpha"),
    ("celu tiny", lambda m, x, v: m.celu(x, 1 / v), "celu: 1 / alpha"),
    ("softplus beta", lambda m, x, v: m.softplus(x, beta=v), "softplus: beta"),
    ("softplus threshold", lambda m, x, v: m.softplus(x, threshold=v), "softplus: threshold"),
    ("rrelu eval", lambda m, x, v: m.rrelu(x, 0.1, v), r"rrelu: \(lower \+ upper\) / 2"),
    ("rrelu train", lambda m, x, v: m.rrelu(x, v, v, training=True), "rrelu: lower"),
    ("rrelu_ train", lambda m, x, v: m.rrelu_(x, 0.1, v, training=True), "rrelu: upper"),
    ("hardshrink", lambda m, x, v: m.hardshrink(x, v), "hardshrink: lambd"),
    ("pad", lambda m, x, v: m.pad(x, (1, 2), value=v), "pad: value"),
    ("pad neg", lambda m, x, v: m.pad(x, (1, 2), value=-v), "pad: value"),
]


@pytest.mark.parametrize("case", OVERFLOW_CASES, ids=[c[0] for c in OVERFLOW_CASES])
def test_number_argument_overflows_float32(case):
    _, call, match = case
    xd, xt = _pair(X)
    _same_error(
        lambda: call(TF, xt.clone(), BIG),
        lambda: call(F, xd.clone(), BIG),
        RuntimeError,
        match + ": value cannot be converted to type float without overflow",
    )


@pytest.mark.parametrize("case", OVERFLOW_CASES, ids=[c[0] for c in OVERFLOW_CASES])
def test_number_argument_fits_float64(case):
    """The same numbers with a float64 input: a result, torch's."""
    _, call, _ = case
    xd, xt = _pair(X, "float64")
    if case[0].startswith("rrelu") and "train" in case[0]:
        pytest.skip("random slopes: deltagrad's generator is not torch's")
    with np.errstate(all="ignore"):
        _close(call(F, xd.clone(), BIG), call(TF, xt.clone(), BIG), rtol=1e-12)


MODULES = [
    ("Threshold", lambda m, v: m.Threshold(v, 0.0), "threshold: threshold"),
    ("Threshold value", lambda m, v: m.Threshold(0.0, v), "threshold: value"),
    ("Hardtanh", lambda m, v: m.Hardtanh(-1.0, v), "hardtanh: max_val"),
    ("LeakyReLU", lambda m, v: m.LeakyReLU(v), "leaky_relu: negative_slope"),
    ("ELU", lambda m, v: m.ELU(v), "elu: alpha"),
    ("CELU", lambda m, v: m.CELU(v), "celu: alpha"),
    ("Softplus", lambda m, v: m.Softplus(beta=v), "softplus: beta"),
    ("RReLU", lambda m, v: m.RReLU(0.1, v).eval(), "rrelu"),
    ("Hardshrink", lambda m, v: m.Hardshrink(v), "hardshrink: lambd"),
]


@pytest.mark.parametrize("case", MODULES, ids=[c[0] for c in MODULES])
def test_modules_route_to_the_checked_functions(case):
    _, make, match = case
    xd, xt = _pair(X)
    _same_error(lambda: make(torch.nn, BIG)(xt), lambda: make(nn, BIG)(xd), RuntimeError, match)


def test_in_range_extremes_match_torch():
    """Bounds at the edge of float32's range, infinities and NaN convert (no error)."""
    xd, xt = _pair([-INF, -3e38, -1.5, 0.0, 0.19, 3e38, INF, NAN])
    top = float(np.finfo(np.float32).max)
    for name, call in [
        ("threshold", lambda m, x: m.threshold(x, top, -top)),
        ("threshold inf", lambda m, x: m.threshold(x, INF, NAN)),
        ("hardtanh", lambda m, x: m.hardtanh(x, -top, top)),
        ("hardtanh inf", lambda m, x: m.hardtanh(x, -INF, INF)),
        ("leaky inf", lambda m, x: m.leaky_relu(x, INF)),
        ("leaky tiny", lambda m, x: m.leaky_relu(x, 1e-300)),
        ("elu inf", lambda m, x: m.elu(x[x != 0], INF)),  # at 0: torch 0, deltagrad NaN
        ("celu 3e-39", lambda m, x: m.celu(x, 3e-39)),
        ("softplus", lambda m, x: m.softplus(x, beta=INF, threshold=top)),
        ("rrelu symmetric", lambda m, x: m.rrelu(x, -BIG, BIG)),
        ("hardshrink", lambda m, x: m.hardshrink(x, INF)),
        ("pad inf", lambda m, x: m.pad(x, (1, 1), value=-INF)),
        ("pad 2**70", lambda m, x: m.pad(x, (2, 0), value=2**70)),
    ]:
        with np.errstate(all="ignore"):
            _close(call(F, xd), call(TF, xt), rtol=1e-6, msg=name)


def test_python_int_beyond_64_bits():
    xd, xt = _pair(X)
    for v in (2**64, 2**70, -(2**70)):
        _same_error(
            lambda v=v: TF.threshold(xt, v, 0.0),
            lambda v=v: F.threshold(xd, v, 0.0),
            OverflowError,
            "threshold: threshold: int too big",
        )
    with pytest.raises(OverflowError, match="pad: value"):
        F.pad(xd, (1, 1), value=2**1100)
    with pytest.raises(OverflowError):
        TF.pad(xt, (1, 1), value=2**1100)


def test_float16_converts_some_arguments_as_float32():
    """torch converts threshold's threshold in float32 for a float16 input (its op-math type),
    its value in float16: 1e5 fits the first, not the second."""
    xd, xt = _pair(X, "float16")
    _close(F.threshold(xd, 1e5, 0.0), TF.threshold(xt, 1e5, 0.0))
    _same_error(
        lambda: TF.threshold(xt, 0.0, 1e5),
        lambda: F.threshold(xd, 0.0, 1e5),
        RuntimeError,
        "threshold: value: .*c10::Half",
    )
    for name, call in [
        ("hardtanh", lambda m, x: m.hardtanh(x, -1.0, 1e5)),
        ("hardshrink", lambda m, x: m.hardshrink(x, 1e5)),
        ("pad", lambda m, x: m.pad(x, (1, 1), value=1e5)),
    ]:
        _same_error(lambda c=call: c(TF, xt), lambda c=call: c(F, xd), RuntimeError, name)


@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8"])
def test_integer_inputs(dtype):
    """threshold / hardtanh of an int tensor: numbers converted to its dtype as torch (a float
    truncated, a negative int wrapped into an unsigned dtype; out of range an error)."""
    xd, xt = _pair([0, 1, 2, 3, 7, 100], dtype)
    for args in [(2.5, 7.9), (1, 0), (-1, 5) if dtype != "uint8" else (-1, 0)]:
        _close(F.threshold(xd, *args), TF.threshold(xt, *args))
    _close(F.hardtanh(xd, 0, 6), TF.hardtanh(xt, 0, 6))
    _close(F.hardtanh(xd, 1.5, 3.9), TF.hardtanh(xt, 1.5, 3.9))
    for bad in (1e30, NAN, -INF):
        _same_error(
            lambda b=bad: TF.threshold(xt, b, 0),
            lambda b=bad: F.threshold(xd, b, 0),
            RuntimeError,
            "threshold: threshold: value cannot be converted",
        )
    _same_error(
        lambda: TF.threshold(xt, 0, 300 if dtype != "int64" else 1e19),
        lambda: F.threshold(xd, 0, 300 if dtype != "int64" else 1e19),
        RuntimeError,
        "threshold: value",
    )
    if dtype == "uint8":  # torch's own check for unsigned dtypes
        _same_error(
            lambda: TF.hardtanh(xt),
            lambda: F.hardtanh(xd),
            RuntimeError,
            "hardtanh: cannot do hardtanh on an unsigned type with negative limits",
        )
        _same_error(
            lambda: TF.pad(xt, (1, 1), value=-1),
            lambda: F.pad(xd, (1, 1), value=-1),
            RuntimeError,
            "pad: value: .*uint8_t",
        )
    else:
        _same_error(
            lambda: TF.hardtanh(xt, -1e30, 1),
            lambda: F.hardtanh(xd, -1e30, 1),
            RuntimeError,
            "hardtanh: min_val",
        )
    _close(F.pad(xd, (1, 2), value=2.9), TF.pad(xt, (1, 2), value=2.9))


def test_siblings_runtime_errors():
    """softshrink's lambd range and rrelu's finite bounds are torch's RuntimeErrors (still
    ValueErrors, as deltagrad's were)."""
    xd, xt = _pair(X)
    for lam in (-1.0, NAN, INF, BIG):
        _same_error(
            lambda v=lam: TF.softshrink(xt, v),
            lambda v=lam: F.softshrink(xd, v),
            RuntimeError,
            "lambd",
        )
        with pytest.raises(ValueError):
            F.softshrink(xd, lam)
    for lo, hi in ((0.1, INF), (NAN, 0.3)):
        _same_error(
            lambda a=lo, b=hi: TF.rrelu(xt, a, b),
            lambda a=lo, b=hi: F.rrelu(xd, a, b),
            RuntimeError,
            "finite",
        )
    for call in (  # checked already before this round: still so
        lambda m, x: m.clamp(x, min=-BIG),
        lambda m, x: x.masked_fill(x > 0, BIG),
        lambda m, x: x.clone().fill_(BIG),
        lambda m, x: m.full((2,), BIG),
        lambda m, x: x.new_full((2,), BIG),
        lambda m, x: m.where(x > 0, x, BIG),
        lambda m, x: m.addcmul(x, x, x, value=BIG),
        lambda m, x: m.lerp(x, x, BIG),
    ):
        _same_error(lambda c=call: c(torch, xt), lambda c=call: c(dg, xd), RuntimeError, "overflow")


def test_gradients_unchanged_at_large_in_range_bounds():
    a = np.array([-2.0, -0.5, 0.25, 1.0, 3.0])
    for fn, args in [
        ("hardtanh", (-1e300, 0.5)),
        ("threshold", (0.3, 1e300)),
        ("leaky_relu", (1e300,)),
        ("elu", (1e300,)),
    ]:
        xd = dg.tensor(a, requires_grad=True)
        xt = torch.tensor(a, requires_grad=True)
        yd, yt = getattr(F, fn)(xd, *args), getattr(TF, fn)(xt, *args)
        _close(yd, yt, rtol=1e-12)
        yd.sum().backward()
        yt.sum().backward()
        _close(xd.grad, xt.grad, rtol=1e-12)


# ---- 2. arange / linspace -------------------------------------------------------------------

ARANGE = [
    ((0, 1e300, 1e299), {}),  # float32: inf past the range, no warning
    ((0, 1e300, 1e299), {"dtype": "float64"}),
    ((1e300, -1e300, -1e299), {"dtype": "float64"}),
    ((0, 1e5, 2e4), {"dtype": "float16"}),
    ((0, 1, INF), {}),
    ((0, -1, -INF), {}),
    ((0, 10, 1e300), {}),
    ((0, 0, 1e300), {}),
    ((-1.3, 2.9, 0.37), {}),
    ((0, 300, 100), {"dtype": "int8"}),  # int64 positions, wrapped into int8 as a C cast
    ((-3, 0), {"dtype": "uint8"}),
    ((0.5, 5.7, 1.5), {"dtype": "int64"}),  # the bounds truncated first
    ((0.5, 5.7, 1.5), {"dtype": "int32"}),
    ((0.5, 3, 0.5), {"dtype": "int32"}),
    ((0, 1e19, 1e18), {"dtype": "int32"}),
    ((0, 2**62, 2**61), {}),
    ((2**63 - 3, 2**63 - 1), {}),
]


@pytest.mark.parametrize("args, kw", ARANGE, ids=[str(a) + str(k) for a, k in ARANGE])
def test_arange_matches_torch(args, kw):
    dd = {k: getattr(dg, v) for k, v in kw.items()}
    td = {k: getattr(torch, v) for k, v in kw.items()}
    _close(dg.arange(*args, **dd), torch.arange(*args, **td), rtol=1e-6)


ARANGE_ERRORS = [
    ((0, INF), {}, RuntimeError, "arange: unsupported range: 0 -> inf"),
    ((0, NAN), {}, RuntimeError, "unsupported range"),
    ((-INF, 0), {}, RuntimeError, "unsupported range"),
    ((0, 1, NAN), {}, RuntimeError, "arange: step: must be nonzero"),
    ((0, 5, 0), {}, RuntimeError, "must be nonzero"),
    ((0.5, 3, 0.5), {"dtype": "int64"}, ValueError, "must be nonzero"),
    ((0, 5, -1), {}, RuntimeError, "inconsistent with step sign"),
    ((0, 1e300), {}, RuntimeError, "arange: invalid size, possible overflow"),
    ((0, 1, 1e-300), {}, RuntimeError, "invalid size"),
    ((-1.7e308, 1.7e308, 1e308), {"dtype": "float64"}, RuntimeError, "invalid size"),
    ((0, 2**62), {}, RuntimeError, "arange: Storage size calculation overflowed"),
    ((0, 2**63, 2**62), {}, RuntimeError, "arange: end: .*int64_t"),
    ((0, 1e30, 1e29), {"dtype": "int64"}, RuntimeError, "int64_t without overflow"),
    ((0, 1e300, 1e299), {"dtype": "float16"}, RuntimeError, "type float without overflow"),
    ((0, 10**20, 10**19), {}, OverflowError, "arange: end: int too big"),
    ((0, 2), {"dtype": "bool"}, NotImplementedError, "arange_cpu"),
]


@pytest.mark.parametrize(
    "args, kw, exc, match", ARANGE_ERRORS, ids=[str(c[:2]) for c in ARANGE_ERRORS]
)
def test_arange_errors(args, kw, exc, match):
    dd = {k: getattr(dg, v) for k, v in kw.items()}
    td = {k: getattr(torch, v) for k, v in kw.items()}
    _same_error(lambda: torch.arange(*args, **td), lambda: dg.arange(*args, **dd), exc, match)


LINSPACE = [
    ((0, INF, 3), {}),
    ((NAN, 1, 3), {}),
    ((-INF, INF, 3), {}),
    ((0, NAN, 2), {}),
    ((INF, 1, 1), {}),
    ((1e300, 0, 0), {}),
    ((0, 1e300, 1), {}),
    ((-3e38, 3e38, 5), {}),  # end - start overflows float32: torch's NaN / inf
    ((-1.7e308, 1.7e308, 5), {"dtype": "float64"}),
    ((0, 1e300, 3), {"dtype": "float64"}),
    ((0, 1, 7), {}),
    ((-1.3, 3.7, 8), {"dtype": "float16"}),
    ((0, 10, 5), {}),
    ((0, 2**62, 3), {"dtype": "int64"}),
    ((-3, 0, 4), {"dtype": "uint8"}),
    ((0.5, 2.7, 4), {"dtype": "int64"}),
    ((10, -1, 4), {"dtype": "int64"}),
    ((-7, 12, 9), {"dtype": "int32"}),
]


@pytest.mark.parametrize("args, kw", LINSPACE, ids=[str(a) + str(k) for a, k in LINSPACE])
def test_linspace_matches_torch(args, kw):
    dd = {k: getattr(dg, v) for k, v in kw.items()}
    td = {k: getattr(torch, v) for k, v in kw.items()}
    # float rounding: torch's kernel may fuse a multiply-add (an ulp or so)
    _close(dg.linspace(*args, **dd), torch.linspace(*args, **td), rtol=1e-6, atol=1e-6)


def test_linspace_float64_random():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(scale=100, size=2)
        n = int(rng.integers(2, 40))
        t = torch.linspace(a, b, n, dtype=torch.float64)
        _close(dg.linspace(a, b, n, dtype=dg.float64), t, rtol=1e-14, atol=1e-12)


LINSPACE_ERRORS = [
    ((0, 1e300, 3), {}, RuntimeError, "linspace: end: value cannot be converted to type float"),
    ((1e300, 0, 1), {}, RuntimeError, "linspace: start"),
    ((0, 1e30, 3), {"dtype": "int64"}, RuntimeError, "int64_t"),
    ((0, 300, 4), {"dtype": "int8"}, RuntimeError, "int8_t"),
    ((-3.0, 0, 4), {"dtype": "uint8"}, RuntimeError, "uint8_t"),
    ((0, 1e5, 3), {"dtype": "float16"}, RuntimeError, "c10::Half"),
    ((0, 2**70, 3), {}, OverflowError, "int too big"),
    ((0, 1, -1), {}, RuntimeError, "number of steps must be non-negative"),
    ((0, 1, 3), {"dtype": "bool"}, NotImplementedError, "linspace_cpu"),
]


@pytest.mark.parametrize(
    "args, kw, exc, match", LINSPACE_ERRORS, ids=[str(c[:2]) for c in LINSPACE_ERRORS]
)
def test_linspace_errors(args, kw, exc, match):
    dd = {k: getattr(dg, v) for k, v in kw.items()}
    td = {k: getattr(torch, v) for k, v in kw.items()}
    _same_error(lambda: torch.linspace(*args, **td), lambda: dg.linspace(*args, **dd), exc, match)


# ---- 3. integer matmul ------------------------------------------------------------------------


def _ints(rng, shape, dtype="int64", lo=-50, hi=50):
    a = rng.integers(lo, hi, size=shape).astype(dtype)
    return dg.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_integer_matmul_family(dtype):
    rng = np.random.default_rng(0)
    lo = 0 if dtype == "uint8" else -50
    ad, at = _ints(rng, (3, 5), dtype, lo)
    bd, bt = _ints(rng, (5, 4), dtype, lo)
    cd, ct = _ints(rng, (3, 4), dtype, lo)
    vd, vt = _ints(rng, (5,), dtype, lo)
    wd, wt = _ints(rng, (3,), dtype, lo)
    pd, pt = _ints(rng, (2, 3, 5), dtype, lo)
    qd, qt = _ints(rng, (2, 5, 4), dtype, lo)
    sd, st = _ints(rng, (2, 3, 4), dtype, lo)
    pairs = [
        (ad.mm(bd), at.mm(bt)),
        (ad @ bd, at @ bt),
        (dg.mm(ad, bd), torch.mm(at, bt)),
        (ad @ vd, at @ vt),
        (vd @ bd, vt @ bt),
        (vd.dot(vd), vt.dot(vt)),
        (pd.bmm(qd), pt.bmm(qt)),
        (pd @ bd, pt @ bt),  # a batch times one matrix
        (cd.addmm(ad, bd), ct.addmm(at, bt)),
        (dg.addmm(cd, ad, bd, beta=2, alpha=3), torch.addmm(ct, at, bt, beta=2, alpha=3)),
        (cd.addmm(ad, bd, beta=0), ct.addmm(at, bt, beta=0)),
        (cd.addmm(ad, bd, alpha=0.5, beta=1.5), ct.addmm(at, bt, alpha=0.5, beta=1.5)),
        (wd.addmv(ad, vd), wt.addmv(at, vt)),
        (wd.addmv(ad, vd, beta=-1, alpha=2), wt.addmv(at, vt, beta=-1, alpha=2)),
        (sd.baddbmm(pd, qd, beta=2, alpha=3), st.baddbmm(pt, qt, beta=2, alpha=3)),
        (ad[:0].mm(bd), at[:0].mm(bt)),
        (ad[:, :0].mm(bd[:0]), at[:, :0].mm(bt[:0])),
        (cd.addmm(ad[:, :0], bd[:0]), ct.addmm(at[:, :0], bt[:0])),
    ]
    for d, t in pairs:
        _close(d, t)


def test_integer_matmul_is_exact_and_wraps():
    rng = np.random.default_rng(1)
    ad, at = _ints(rng, (4, 7), lo=-(2**40), hi=2**40)
    bd, bt = _ints(rng, (7, 3), lo=-(2**20), hi=2**20)
    _close(ad @ bd, at @ bt)  # beyond float64's 53 bits: exact
    big = np.array([[2**62, 2**62]])
    two = np.array([[2], [2]])
    _close(dg.tensor(big).mm(dg.tensor(two)), torch.tensor(big).mm(torch.tensor(two)))


def test_matmul_bool_and_float_paths():
    b = np.array([[True, False], [True, True]])
    _same_error(
        lambda: torch.tensor(b).mm(torch.tensor(b)),
        lambda: dg.tensor(b).mm(dg.tensor(b)),
        NotImplementedError,
        "addmm_impl_cpu_",
    )
    rng = np.random.default_rng(2)
    a, m, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    ad, md, cd = (dg.tensor(v, requires_grad=True) for v in (a, m, c))
    at, mt, ct = (torch.tensor(v, requires_grad=True) for v in (a, m, c))
    yd, yt = cd.addmm(ad, md, beta=0.5, alpha=2.0), ct.addmm(at, mt, beta=0.5, alpha=2.0)
    _close(yd, yt, rtol=1e-12)
    yd.sum().backward()
    yt.sum().backward()
    for d, t in ((ad, at), (md, mt), (cd, ct)):
        _close(d.grad, t.grad, rtol=1e-12)


# ---- 4. round(decimals=) ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_round_decimals_beyond_the_float_range(dtype):
    vals = [0.0, -0.0, 1.2345, -5.5, 3000.0, -2.5e-3, INF, NAN]
    if dtype != "float16":
        vals += [3e30, -2.5e-30]
    xd, xt = _pair(vals, dtype)
    for d in (400, 309, 308, 39, 38, 37, 5, 1, -1, -5, -37, -38, -39, -308, -309, -400):
        _close(xd.round(decimals=d), xt.round(decimals=d))
    for d in (2**40, -(2**40), 2**63 - 1, -(2**63)):
        _close(dg.round(xd, decimals=d), torch.round(xt, decimals=d))


def test_round_decimals_beyond_int64():
    xd, xt = _pair([1.5])
    for d in (2**63, -(2**63) - 1, 2**70):
        _same_error(
            lambda v=d: xt.round(decimals=v),
            lambda v=d: xd.round(decimals=v),
            ValueError,
            "round: decimals: Overflow when unpacking long long",
        )


# ---- 5. the reference oracles on an empty batch ---------------------------------------------


@pytest.mark.parametrize("shape", [(0, 6, 4, 5), (0, 6), (0, 6, 0)])
def test_reference_norms_empty_batch(shape):
    rng = np.random.default_rng(4)
    x = np.zeros(shape, np.float64)
    w, b = rng.normal(size=6), rng.normal(size=6)
    for training in (True, False):
        rm, rv = rng.normal(size=6), rng.uniform(0.5, 2, size=6)
        rm_r, rv_r, rm_o, rv_o = rm.copy(), rv.copy(), rm.copy(), rv.copy()
        yr, mr, ir = ref.batch_norm_forward(x, w, b, rm_r, rv_r, training=training)
        yo, mo, io = ops.batch_norm_forward(x, w, b, rm_o, rv_o, training=training)
        assert yr.shape == yo.shape == shape
        np.testing.assert_allclose(mr, mo, rtol=1e-12)
        np.testing.assert_allclose(ir, io, rtol=1e-12)
        np.testing.assert_array_equal(rm_r, rm)  # nothing to update the statistics with
        np.testing.assert_array_equal(rv_r, rv)
        np.testing.assert_array_equal(rm_o, rm)
        gr = ref.batch_norm_backward(x, x, w, mo, io, training=training)
        go = ops.batch_norm_backward(x, x, w, mo, io, training=training)
        for r, o in zip(gr, go):
            assert r.shape == o.shape
            np.testing.assert_array_equal(r, o)
    yr, mr, rr = ref.group_norm_forward(x, 3, w, b)
    yo, mo, ro = ops.group_norm_forward(x, 3, w, b)
    assert yr.shape == yo.shape == shape and mr.shape == mo.shape == rr.shape == (0, 3)
    gr = ref.group_norm_backward(x, x, 3, w, mo, ro)
    go = ops.group_norm_backward(x, x, 3, w, mo, ro)
    for r, o in zip(gr, go):
        assert r.shape == o.shape
        np.testing.assert_array_equal(r, o)
    # torch: F.batch_norm and F.group_norm give an empty result (no error) for N = 0
    xt = torch.zeros(shape, dtype=torch.float64)
    wt, bt = torch.tensor(w), torch.tensor(b)
    assert TF.batch_norm(xt, None, None, wt, bt, training=True).shape == shape
    assert TF.group_norm(xt, 3, wt, bt).shape == shape


def test_reference_group_norm_empty_groups_no_warning():
    x = np.zeros((2, 6, 0))
    y, mean, rstd = ref.group_norm_forward(x, 3)
    assert y.shape == (2, 6, 0) and mean.shape == rstd.shape == (2, 3)
    dx, dw, db = ref.group_norm_backward(x, x, 3, np.ones(6), mean, rstd)
    assert dx.shape == (2, 6, 0)
    np.testing.assert_array_equal(db, np.zeros(6))


# ---- 6. a bogus __cuda_array_interface__ ----------------------------------------------------


class _NotADict:
    __cuda_array_interface__ = 5


class _BadDict:
    __cuda_array_interface__ = {"shape": "bogus", "typestr": "<f4"}


@pytest.mark.parametrize("fake", [_NotADict(), _BadDict()], ids=["not a dict", "bad dict"])
def test_bogus_cuda_array_interface_names_the_op(fake):
    ones = np.ones((2, 2), np.float32)
    cases = [
        (lambda: ops.matmul(fake, ones), "matmul: a"),
        (lambda: ops.matmul(ones, fake), "matmul: b"),
        (lambda: ops.activation(fake, "relu"), "activation: x"),
        (lambda: ops.softmax(fake), "softmax: x"),
        (lambda: ops.mse_loss(ones, fake), "mse_loss: t"),
        (lambda: dg.Tensor(fake), "Tensor: data"),
        (lambda: dg.tensor(fake), "tensor: data"),
        (lambda: dg.as_tensor(fake), "as_tensor: data"),
        (lambda: F.relu(fake), "relu: input"),
        (lambda: F.linear(fake, dg.ones(2, 2)), "linear: x"),
        (lambda: F.pad(fake, (1, 1)), "pad: input"),
        (lambda: dg.ones(2) + fake, "add: other"),
        # the CPU-only ops (norms, pooling): the TypeError before their NotImplementedError
        (lambda: ops.batch_norm_forward(fake, None), "batch_norm_forward: argument 0"),
        (lambda: ops.layer_norm_forward(fake, (2,)), "layer_norm_forward: argument 0"),
        (lambda: ops.max_pool2d(fake, 2), "max_pool2d: argument 0"),
    ]
    for call, match in cases:
        with pytest.raises(TypeError, match=match + ": expected an array, got _"):
            call()
    # torch: a TypeError as well
    with pytest.raises(TypeError):
        torch.as_tensor(fake)


# ---- 7. results larger than the machine's memory --------------------------------------------


def test_too_large_results_raise_before_allocating():
    x = dg.ones(1, 1, 4, 4)
    w = dg.ones(1, 1, 3, 3)
    n = 2**20  # 2**40 elements: 4 TiB of float32
    cases = [
        (lambda: F.adaptive_avg_pool2d(x, (n, n)), "adaptive_avg_pool2d"),
        (lambda: nn.AdaptiveAvgPool2d((n, n))(x), "AdaptiveAvgPool2d"),
        (lambda: F.conv2d(x, w, padding=n), "conv2d"),
        (lambda: F.interpolate(x, size=(n, n)), "interpolate"),
        (lambda: F.interpolate(x, scale_factor=float(n)), "interpolate"),
        (lambda: F.pad(x, (n, n, n, n)), "pad"),
        (lambda: F.pad(x, (n, n, n, n), mode="replicate"), "pad"),
        (lambda: dg.arange(2**40), "arange"),
        (lambda: dg.linspace(0, 1, 2**40), "linspace"),
    ]
    for call, op in cases:
        with pytest.raises(RuntimeError, match=op + r": the result of shape .* more than"):
            call()
        with pytest.raises(MemoryError):  # what numpy raised before
            call()


# ---- the elu family at +-0 and NaN ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_family_keeps_zeros_and_nan_as_torch(isa, dtype):
    """elu, selu and celu give x itself at +0, -0 and NaN, with its sign, for every alpha
    (torch's results): alpha expm1(0) was NaN for an infinite alpha and lost -0's sign."""
    x = np.array([0.0, -0.0, np.nan, -1.5, 2.0, -1e-30], dtype)
    tx = torch.from_numpy(x)
    cases = [("selu", F.selu, torch.nn.functional.selu, {})]
    for a in (-2.0, 0.5, 1.0, math.inf, -math.inf):
        cases.append(("elu", F.elu, torch.nn.functional.elu, {"alpha": a}))
        cases.append(("celu", F.celu, torch.nn.functional.celu, {"alpha": a}))
    for name, ours, theirs, kw in cases:
        got = ours(dg.tensor(x), **kw).numpy()
        want = theirs(tx, **kw).numpy()
        np.testing.assert_array_equal(got[:3], want[:3], err_msg=f"{name} {kw}")
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(want[:2]), err_msg=name)
        np.testing.assert_allclose(got[3:], want[3:], rtol=1e-6, err_msg=f"{name} {kw}")
