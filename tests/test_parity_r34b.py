"""Round 34, second part: torch-parity of the activations on integer / bool tensors (torch's
NotImplementedError naming its kernel, hardtanh's and relu's RuntimeError on bools, dropout's
cast error), round / floor on integer and bool tensors, mixed-dtype matrix products
(matmul, mm, bmm, dot, addmm, addmv, baddbmm), the new addbmm, and bogus
__cuda_array_interface__ objects reported by the op that took them."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

INT_DTYPES = ["int64", "int32", "int16", "int8", "uint8", "bool"]
TORCH_NAMES = {
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def _pair(values, dtype):
    a = np.array(values).astype(dtype)
    return dg.tensor(a), torch.tensor(a)


def _close(d, t, rtol=1e-12, atol=1e-12):
    t = t.detach().numpy()
    d = d.detach().numpy() if isinstance(d, dg.Tensor) else np.asarray(d)
    assert d.dtype == t.dtype and d.shape == t.shape
    np.testing.assert_allclose(d, t, rtol=rtol, atol=atol, equal_nan=True)


def _torch_error(call):
    """torch's exception (type and message) for call()."""
    with pytest.raises(Exception) as e:
        call()
    return e.value


# ---- 1. activations of integer / bool tensors -----------------------------------------------

# (name, call on the F module, torch's kernel in its message)
KERNEL_CASES = [
    ("leaky_relu", lambda m, x: m.leaky_relu(x), "leaky_relu_cpu"),
    ("leaky_relu_", lambda m, x: m.leaky_relu_(x, 0.2), "leaky_relu_cpu"),
    ("elu", lambda m, x: m.elu(x), "elu_cpu"),
    ("elu_", lambda m, x: m.elu_(x), "elu_cpu"),
    ("celu", lambda m, x: m.celu(x, 2.0), "elu_cpu"),
    ("selu", lambda m, x: m.selu(x), "elu_cpu"),
    ("softplus", lambda m, x: m.softplus(x), "softplus_cpu"),
    ("hardshrink", lambda m, x: m.hardshrink(x), "hardshrink_cpu"),
    ("softshrink", lambda m, x: m.softshrink(x), "softshrink_check"),
    ("glu", lambda m, x: m.glu(x), "glu_cpu"),
    ("prelu", lambda m, x: m.prelu(x, x[0, :1]), "prelu_cpu"),
    ("rrelu", lambda m, x: m.rrelu(x), "leaky_relu_cpu"),
    ("rrelu train", lambda m, x: m.rrelu(x, training=True), "rrelu_with_noise_out_cpu"),
    ("rrelu_", lambda m, x: m.rrelu_(x), "leaky_relu_cpu"),
    ("hardsigmoid", lambda m, x: m.hardsigmoid(x), "hardsigmoid_cpu"),
    ("hardswish", lambda m, x: m.hardswish(x), "hardswish_cpu"),
    ("mish", lambda m, x: m.mish(x), "mish_cpu"),
    ("logsigmoid", lambda m, x: m.logsigmoid(x), "log_sigmoid_cpu"),
    ("silu", lambda m, x: m.silu(x), "silu_cpu"),
    ("gelu", lambda m, x: m.gelu(x), "GeluKernelImpl"),
    ("gelu tanh", lambda m, x: m.gelu(x, approximate="tanh"), "GeluKernelImpl"),
]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("name, call, kernel", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
def test_activation_without_int_kernel(name, call, kernel, dtype):
    """torch's NotImplementedError naming its kernel and the dtype; a TypeError too."""
    d, t = _pair([[1, 0], [2, 1]], dtype)
    te = _torch_error(lambda: call(TF, t))
    assert type(te) is NotImplementedError and f'"{kernel}"' in str(te)
    fn = name.split()[0].rstrip("_")
    msg = rf"{fn}: \"{kernel}\" not implemented for '{TORCH_NAMES[dtype]}'"
    with pytest.raises(NotImplementedError, match=msg):
        call(F, d)
    with pytest.raises(TypeError, match=msg):  # deltagrad's old type still catches it
        call(F, d)
    assert d.numpy().tolist() == t.numpy().tolist()  # the in-place forms left it alone


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_activation_int_empty_still_refused(dtype):
    """torch dispatches on the dtype before looking at the size."""
    d, t = _pair(np.zeros((0, 2)), dtype)
    for fn in ("leaky_relu", "elu", "softplus", "hardshrink", "glu"):
        with pytest.raises(NotImplementedError):
            getattr(TF, fn)(t)
        with pytest.raises(NotImplementedError, match=fn):
            getattr(F, fn)(d)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_modules_on_int_tensors(dtype):
    d, t = _pair([[1, 0], [2, 1]], dtype)
    for name in ("ELU", "LeakyReLU", "Softplus", "Hardshrink", "SiLU", "Mish"):
        with pytest.raises(NotImplementedError):
            getattr(torch.nn, name)()(t)
        with pytest.raises(NotImplementedError):
            getattr(nn, name)()(d)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_int_activations_torch_computes(dtype):
    """Those torch computes on ints: relu, relu6, hardtanh and threshold keep the dtype;
    sigmoid, tanh, softsign and tanhshrink give float32."""
    d, t = _pair([[3, 0], [7, 1], [100, 5]], dtype)
    for name, args in (
        ("relu", ()),
        ("relu6", ()),
        ("hardtanh", (0.0, 4.0)),
        ("threshold", (2.5, 9.0)),
        ("softsign", ()),
        ("tanhshrink", ()),
    ):
        _close(getattr(F, name)(d, *args), getattr(TF, name)(t, *args), rtol=1e-6, atol=1e-7)
    for name in ("sigmoid", "tanh"):
        _close(getattr(F, name)(d), getattr(torch, name)(t), rtol=1e-6, atol=1e-7)


# ---- 2. bool tensors: hardtanh / relu / relu6 / threshold / softsign / tanhshrink --------


BOOL_CASES = [
    (
        "hardtanh",
        lambda m, x: m.hardtanh(x),
        RuntimeError,
        "Bool inputs not supported for hardtanh",
    ),
    ("hardtanh_", lambda m, x: m.hardtanh_(x), RuntimeError, "Bool inputs not supported"),
    ("hardtanh 0 6", lambda m, x: m.hardtanh(x, 0.0, 6.0), RuntimeError, "Bool inputs"),
    ("relu6", lambda m, x: m.relu6(x), RuntimeError, "Bool inputs not supported for hardtanh"),
    ("relu", lambda m, x: m.relu(x), RuntimeError, "Boolean inputs not supported for relu"),
    ("relu_", lambda m, x: m.relu_(x), RuntimeError, "Boolean inputs not supported for relu"),
    ("relu method", lambda m, x: x.relu(), RuntimeError, "Boolean inputs not supported for relu"),
    ("relu_ method", lambda m, x: x.relu_(), RuntimeError, "Boolean inputs not supported"),
    ("threshold", lambda m, x: m.threshold(x, 0.5, 2.0), NotImplementedError, "threshold_cpu"),
    ("softsign", lambda m, x: m.softsign(x), NotImplementedError, '"abs_cpu"'),
    ("tanhshrink", lambda m, x: m.tanhshrink(x), RuntimeError, "Subtraction, the `-` operator"),
]


@pytest.mark.parametrize("shape", [(2, 3), (0,), ()])
@pytest.mark.parametrize("name, call, exc, match", BOOL_CASES, ids=[c[0] for c in BOOL_CASES])
def test_bool_inputs(name, call, exc, match, shape):
    a = np.ones(shape, dtype=bool)
    te = _torch_error(lambda: call(TF, torch.tensor(a)))
    assert type(te) is exc and match.strip('"') in str(te)
    d = dg.tensor(a)
    with pytest.raises(exc, match=name.split()[0].rstrip("_") + ": .*" + match):
        call(F, d)
    with pytest.raises(TypeError):  # deltagrad's old type still catches it
        call(F, d)
    with pytest.raises(exc):
        nn.Hardtanh()(d) if name.startswith("hardtanh") else call(F, d)


def test_hardtanh_bounds_checked_before_dtype():
    """torch checks min_val <= max_val first (a ValueError), and a uint8 input with a
    negative bound is its own RuntimeError."""
    for m, x in ((TF, torch.ones(2, dtype=torch.bool)), (F, dg.ones(2, dtype=dg.bool))):
        with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
            m.hardtanh(x, 2.0, 1.0)
    for m, x in ((TF, torch.ones(2, dtype=torch.uint8)), (F, dg.ones(2, dtype=dg.uint8))):
        with pytest.raises(RuntimeError, match="unsigned type with negative limits"):
            m.hardtanh(x)


def test_glu_shape_checked_before_dtype():
    """torch's glu refuses a 0-d or odd-sized int input by its shape (RuntimeError; deltagrad
    ValueError, as for floats) before its dtype."""
    for shape in ((), (3,)):
        t, d = torch.zeros(shape, dtype=torch.long), dg.zeros(shape, dtype=dg.int64)
        with pytest.raises(RuntimeError, match="glu|Halving"):
            TF.glu(t)
        with pytest.raises(ValueError, match="glu"):
            F.glu(d)


# ---- dropout of integer / bool tensors -----------------------------------------------------


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_dropout_int(dtype):
    d, t = _pair([[1, 0], [2, 1], [1, 1]], dtype)
    # not training, p == 0, or empty: the input itself
    for kw in ({"training": False}, {"p": 0.0}):
        assert TF.dropout(t, **kw) is t
        assert F.dropout(d, **kw) is d
    de, te = _pair(np.zeros((0, 3)), dtype)
    assert TF.dropout(te, 0.5) is te and F.dropout(de, 0.5) is de
    assert F.dropout(de, 0.5, inplace=True) is de
    # p == 1: zeros of the input's dtype (torch's x * 0 cast back); in place too
    _close(F.dropout(d, 1.0), TF.dropout(t, 1.0))
    dc, tc = dg.tensor(d.numpy().copy()), t.clone()
    assert F.dropout(dc, 1.0, inplace=True) is dc
    TF.dropout(tc, 1.0, inplace=True)
    _close(dc, tc)
    # 0 < p < 1: torch's RuntimeError (a float mask cannot be cast back)
    for p in (0.5, 0.01):
        for inplace in (False, True):
            te = _torch_error(lambda p=p, inplace=inplace: TF.dropout(t, p, inplace=inplace))
            assert type(te) is RuntimeError
            match = f"dropout: result type Float can't be cast to .* type {TORCH_NAMES[dtype]}"
            with pytest.raises(RuntimeError, match=match):
                F.dropout(d, p, inplace=inplace)
            with pytest.raises(TypeError):
                F.dropout(d, p, inplace=inplace)
    assert d.numpy().tolist() == t.numpy().tolist()
    with pytest.raises(RuntimeError):
        nn.Dropout(0.5)(d)
    m = nn.Dropout(0.5)
    m.eval()
    assert m(d) is d


def test_dropout_float_unchanged():
    x = dg.tensor(np.random.default_rng(0).standard_normal((50, 40)))
    dg.manual_seed(3)
    y = F.dropout(x, 0.3)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.7, rtol=1e-15)
    assert 0.5 < kept.mean() < 0.9


# ---- round / floor / ceil / trunc of integer and bool tensors ------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_round_int(dtype):
    d, t = _pair([3, 0, 7, 100], dtype)
    for name in ("round", "floor", "ceil", "trunc", "fix"):
        r = getattr(d, name)()
        _close(r, getattr(t, name)())
        assert r.data is not d.data  # a copy, as torch
    _close(dg.round(d), torch.round(t))
    dc = dg.tensor(d.numpy().copy())
    assert dc.round_() is dc
    _close(dc, t)
    for dec, kernel in ((0, "round_vml_cpu"), (1, "round_cpu"), (-2, "round_cpu")):
        te = _torch_error(lambda dec=dec: t.round(decimals=dec))
        assert type(te) is NotImplementedError and kernel in str(te)
        msg = rf"round: \"{kernel}\" not implemented for '{TORCH_NAMES[dtype]}'.*decimals"
        for call in (
            lambda dec=dec: d.round(decimals=dec),
            lambda dec=dec: dg.round(d, decimals=dec),
            lambda dec=dec: dg.tensor(d.numpy().copy()).round_(decimals=dec),
            lambda dec=dec: d[:0].round(decimals=dec),
        ):
            with pytest.raises(NotImplementedError, match=msg):
                call()
            with pytest.raises(TypeError, match="decimals"):
                call()


def test_round_bool_and_rounding_bool():
    d, t = _pair([True, False, True], bool)
    for name, kernel in (
        ("round", "round_vml_cpu"),
        ("floor", "floor_vml_cpu"),
        ("ceil", "ceil_vml_cpu"),
        ("trunc", "trunc_vml_cpu"),
        ("fix", "trunc_vml_cpu"),
    ):
        for suffix in ("", "_"):
            op = name + suffix
            te = _torch_error(lambda op=op: getattr(t.clone(), op)())
            assert type(te) is NotImplementedError and kernel in str(te)
            with pytest.raises(NotImplementedError, match=f"'{kernel}'|\"{kernel}\".*'Bool'"):
                getattr(dg.tensor(d.numpy().copy()), op)()
    with pytest.raises(NotImplementedError, match="round_cpu"):
        d.round(decimals=2)


def test_round_float_decimals_zero_and_default():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e20, -3.7, 0.49999999999999994])
    for dt in ("float32", "float64"):
        d, t = _pair(x, dt)
        _close(d.round(), t.round(), 0, 0)
        _close(d.round(decimals=0), t.round(decimals=0), 0, 0)
        _close(dg.round(d, decimals=0), torch.round(t, decimals=0), 0, 0)
    d = dg.tensor(x)
    for bad in (None, 1.0, True):
        with pytest.raises(TypeError, match="round: decimals: expected an int"):
            d.round(decimals=bad)


# ---- 3. mixed-dtype matrix products ----------------------------------------------------------

F32, F64, I64 = "float32", "float64", "int64"
MIXED = [(F32, F64, F64), (F64, F32, F32), (I64, F32, F32), (F32, I64, I64), (F32, F32, F64),
         (F64, F64, F32), (F64, F32, F64), ("bool", F32, F32)]  # fmt: skip


def _ones(shape, dtype):
    a = np.ones(shape, dtype=dtype)
    return dg.tensor(a), torch.tensor(a)


# (name, input shape, mat1 shape, mat2 shape, deltagrad's message for (input, m1, m2) dtypes)
ADD_PRODUCTS = [
    ("addmm", (2, 3), (2, 4), (4, 3)),
    ("addmm", (3,), (2, 4), (4, 3)),
    ("addmv", (2,), (2, 4), (4,)),
    ("baddbmm", (5, 2, 3), (5, 2, 4), (5, 4, 3)),
    ("addbmm", (2, 3), (5, 2, 4), (5, 4, 3)),
]


def _add_product_message(name, d0, d1, d2):
    n1, n2 = {"addmm": ("mat1", "mat2"), "addbmm": ("batch1", "batch2")}.get(name, (0, 0))
    if name == "addmv":
        return f"addmv: input tensors must have the same dtype, but got {d0}, {d1}, and {d2}"
    if name == "baddbmm":
        return f"baddbmm: Input dtypes must be the same, got: input {d0}, batch1: {d1}, batch2"
    if d0 != d2:
        return f"{name}: self and {n2} must have the same dtype, but got {d0} and {d2}"
    return f"{name}: {n1} and {n2} must have the same dtype, but got {d1} and {d2}"


@pytest.mark.parametrize("dtypes", MIXED, ids=["-".join(m) for m in MIXED])
@pytest.mark.parametrize("name, s0, s1, s2", ADD_PRODUCTS)
def test_add_products_refuse_mixed_dtypes(name, s0, s1, s2, dtypes):
    (d0, t0), (d1, t1), (d2, t2) = (_ones(s, dt) for s, dt in zip((s0, s1, s2), dtypes))
    msg = _add_product_message(name, *dtypes)
    for kw in ({}, {"beta": 0}, {"alpha": 2, "beta": 0.5}):
        if dtypes[0] in ("bool", I64) and kw.get("beta") == 0.5:
            continue
        te = _torch_error(lambda kw=kw: getattr(torch, name)(t0, t1, t2, **kw))
        assert type(te) is RuntimeError
        for call in (
            lambda kw=kw: getattr(dg, name)(d0, d1, d2, **kw),
            lambda kw=kw: getattr(d0, name)(d1, d2, **kw),
        ):
            with pytest.raises(RuntimeError, match=msg):
                call()
            with pytest.raises(TypeError, match=msg):
                call()


@pytest.mark.parametrize("name, s0, s1, s2", ADD_PRODUCTS)
def test_add_products_int(name, s0, s1, s2):
    rng = np.random.default_rng(1)
    a, b, c = (rng.integers(-5, 6, s) for s in (s0, s1, s2))
    for kw in ({}, {"beta": 2, "alpha": 3}, {"beta": 0}):
        got = getattr(dg, name)(dg.tensor(a), dg.tensor(b), dg.tensor(c), **kw)
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b), torch.tensor(c), **kw)
        _close(got, want, 0, 0)


# (name, shape a, shape b, deltagrad call, torch call)
PRODUCTS = [
    ("matmul 2d", (2, 3), (3, 4), lambda a, b: a @ b),
    ("matmul 3d", (2, 2, 3), (2, 3, 4), lambda a, b: a @ b),
    ("matmul 3d 2d", (2, 2, 3), (3, 4), lambda a, b: a.matmul(b)),
    ("matmul 1d 2d", (3,), (3, 2), lambda a, b: a @ b),
    ("matmul 2d 1d", (2, 3), (3,), lambda a, b: a @ b),
    ("matmul 1d", (3,), (3,), lambda a, b: a @ b),
    ("mm", (2, 3), (3, 4), lambda a, b: a.mm(b)),
    ("bmm", (2, 2, 3), (2, 3, 4), lambda a, b: a.bmm(b)),
    ("dot", (3,), (3,), lambda a, b: a.dot(b)),
]


@pytest.mark.parametrize("da, db", [(F32, F64), (F64, F32), (I64, F32), (F32, I64)])
@pytest.mark.parametrize("name, sa, sb, call", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products_refuse_mixed_dtypes(name, sa, sb, call, da, db):
    (a, ta), (b, tb) = _ones(sa, da), _ones(sb, db)
    te = _torch_error(lambda: call(ta, tb))
    assert type(te) is RuntimeError
    op = name.split()[0]
    match = (
        f"dot: expected both vectors to have same dtype, but found {da} and {db}"
        if op == "dot"
        else f"{op}: operands have different dtypes {da} and {db}: expected m1 and m2 to have "
        "the same dtype"
    )
    for exc in (RuntimeError, TypeError):
        with pytest.raises(exc, match=match):
            call(a, b)
    fn = {"matmul": dg.matmul, "mm": dg.mm, "bmm": dg.bmm, "dot": dg.dot}[op]
    with pytest.raises(RuntimeError, match="same dtype"):
        fn(a, b)


# ---- 4. addbmm ---------------------------------------------------------------------------------


def _randn(rng, shape, dtype="float64"):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "b, n, m, p, s0",
    [
        (5, 2, 4, 3, (2, 3)),
        (3, 7, 5, 1, (7, 1)),
        (1, 1, 1, 1, (1, 1)),
        (4, 3, 2, 5, (5,)),
        (4, 3, 2, 5, (1, 1)),
        (4, 3, 2, 5, (3, 1)),
        (4, 3, 2, 5, ()),
        (0, 3, 2, 5, (3, 5)),
        (4, 3, 0, 5, (3, 5)),
        (4, 0, 2, 5, (0, 5)),
    ],
)
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, -2.0), (0, 1.5), (2, 0)])
def test_addbmm_forward_and_gradients(b, n, m, p, s0, beta, alpha):
    rng = np.random.default_rng(b * 100 + n * 10 + m)
    arrays = (_randn(rng, s0), _randn(rng, (b, n, m)), _randn(rng, (b, m, p)))
    ds = [dg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = dg.addbmm(*ds, beta=beta, alpha=alpha)
    ty = torch.addbmm(*ts, beta=beta, alpha=alpha)
    _close(y, ty, 1e-12, 1e-12)
    g = _randn(rng, ty.shape)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    for d, t in zip(ds, ts):
        _close(d.grad, t.grad, 1e-12, 1e-12)
    y2 = ds[0].addbmm(ds[1], ds[2], beta=beta, alpha=alpha)  # the method
    _close(y2, ty, 1e-12, 1e-12)


def test_addbmm_gradcheck():
    rng = np.random.default_rng(5)
    inputs = tuple(
        dg.tensor(_randn(rng, s), requires_grad=True) for s in ((3, 4), (2, 3, 5), (2, 5, 4))
    )
    assert dg.gradcheck(lambda i, b1, b2: dg.addbmm(i, b1, b2, beta=0.7, alpha=1.3), inputs)


def test_addbmm_beta_zero_ignores_nan_input():
    rng = np.random.default_rng(6)
    i = np.full((2, 3), np.nan)
    b1, b2 = _randn(rng, (4, 2, 5)), _randn(rng, (4, 5, 3))
    _close(
        dg.addbmm(dg.tensor(i), dg.tensor(b1), dg.tensor(b2), beta=0),
        torch.addbmm(torch.tensor(i), torch.tensor(b1), torch.tensor(b2), beta=0),
    )


def test_addbmm_float32_and_extremes():
    rng = np.random.default_rng(7)
    arrays = (_randn(rng, (3, 4), "float32"), _randn(rng, (6, 3, 5), "float32"))
    arrays += (_randn(rng, (6, 5, 4), "float32"),)
    got = dg.addbmm(*(dg.tensor(a) for a in arrays), beta=0.25, alpha=3)
    _close(got, torch.addbmm(*(torch.tensor(a) for a in arrays), beta=0.25, alpha=3), 1e-5, 1e-5)
    big = [a.astype(np.float64) for a in arrays]
    big[1][0, 0, 0], big[2][1, 2, 3] = np.inf, -np.nan
    big[0][1, 1] = 1e300
    _close(
        dg.addbmm(*(dg.tensor(a) for a in big)),
        torch.addbmm(*(torch.tensor(a) for a in big)),
    )
    with pytest.raises(RuntimeError):  # beta beyond float32: torch's RuntimeError
        torch.addbmm(*(torch.tensor(a) for a in arrays), beta=1e300)
    with pytest.raises(RuntimeError, match="addbmm: beta"):
        dg.addbmm(*(dg.tensor(a) for a in arrays), beta=1e300)


def test_addbmm_inplace():
    rng = np.random.default_rng(8)
    i, b1, b2 = _randn(rng, (2, 3)), _randn(rng, (4, 2, 5)), _randn(rng, (4, 5, 3))
    d, t = dg.tensor(i.copy()), torch.tensor(i.copy())
    v = d._version[0]
    assert d.addbmm_(dg.tensor(b1), dg.tensor(b2), beta=0.5, alpha=2) is d
    t.addbmm_(torch.tensor(b1), torch.tensor(b2), beta=0.5, alpha=2)
    _close(d, t)
    assert d._version[0] == v + 1
    # a leaf that requires grad: torch's and deltagrad's in-place refusal
    leaf = dg.tensor(i.copy(), requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.addbmm_(dg.tensor(b1), dg.tensor(b2))
    # deltagrad keeps self's shape (torch resizes a (3,) self to (2, 3))
    with pytest.raises(ValueError, match="addbmm_: the result's shape"):
        dg.tensor(_randn(rng, (3,))).addbmm_(dg.tensor(b1), dg.tensor(b2))
    # an integer self cannot take float batches
    with pytest.raises(RuntimeError, match="addbmm: self and batch2 must have the same dtype"):
        dg.ones(2, 3, dtype=dg.int64).addbmm_(dg.tensor(b1), dg.tensor(b2))


def test_addbmm_shape_errors():
    rng = np.random.default_rng(9)

    def both(s0, s1, s2):
        arrays = (_randn(rng, s0), _randn(rng, s1), _randn(rng, s2))
        with pytest.raises((RuntimeError, IndexError)):
            torch.addbmm(*(torch.tensor(a) for a in arrays))
        return lambda: dg.addbmm(*(dg.tensor(a) for a in arrays))

    with pytest.raises(ValueError, match=r"addbmm: batch1: expected a 3-d tensor, got shape"):
        both((2, 3), (2, 4), (5, 4, 3))()
    with pytest.raises(ValueError, match=r"addbmm: batch2: expected a 3-d tensor, got shape"):
        both((2, 3), (5, 2, 4), (4, 3))()
    with pytest.raises(ValueError, match="addbmm: batch1 and batch2 must have same number of"):
        both((2, 3), (5, 2, 4), (6, 4, 3))()
    with pytest.raises(ValueError, match=r"addbmm: Incompatible matrix sizes for bmm \(2x4 and"):
        both((2, 3), (5, 2, 4), (5, 5, 3))()
    with pytest.raises(ValueError, match=r"addbmm: input: shape \(2, 4\) does not broadcast"):
        both((2, 4), (5, 2, 4), (5, 4, 3))()
    with pytest.raises(ValueError, match=r"addbmm: input: shape \(1, 2, 3\) does not broadcast"):
        both((1, 2, 3), (5, 2, 4), (5, 4, 3))()
    x = dg.ones(2, 3)
    with pytest.raises(TypeError):  # beta and alpha are keyword-only, as torch
        x.addbmm(dg.ones(1, 2, 2), dg.ones(1, 2, 3), 2)
    with pytest.raises(NotImplementedError, match="Bool"):  # as torch's addmm_impl_cpu_
        dg.addbmm(*(dg.ones(*s, dtype=dg.bool) for s in ((2, 3), (1, 2, 2), (1, 2, 3))))


def test_addbmm_exported():
    assert "addbmm" in dg.__all__ and dg.addbmm.__name__ == "addbmm"
    with pytest.raises(TypeError, match="addbmm: input: expected a Tensor or an array"):
        dg.addbmm([[1.0]], dg.ones(1, 1, 1), dg.ones(1, 1, 1))


# ---- 5. bogus __cuda_array_interface__ objects named by the op ------------------------------


class _FakeDeviceArray:
    """Says it is a device array, but its interface is not one (no data, no version)."""

    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4"}


def _fake():
    return _FakeDeviceArray()


FAKE_CASES = [
    ("where: condition", lambda t: dg.where(_fake(), t, t)),
    ("where: input", lambda t: dg.where(t > 0, _fake(), t)),
    ("where: other", lambda t: dg.where(t > 0, t, _fake())),
    ("where: input", lambda t: dg.where(t > 0, _fake(), _fake())),
    ("where: other", lambda t: t.where(t > 0, _fake())),
    (r"cat: tensors\[1\]", lambda t: dg.cat([t, _fake()])),
    (r"cat: tensors\[0\]", lambda t: dg.concat([_fake(), t])),
    (r"stack: tensors\[0\]", lambda t: dg.stack([_fake(), t])),
    ("sum: input", lambda t: dg.sum(_fake())),
    ("exp: input", lambda t: dg.exp(_fake())),
    ("addmm: input", lambda t: dg.addmm(_fake(), t, t)),
    ("addmm: mat1", lambda t: dg.addmm(t, _fake(), t)),
    ("addmv: vec", lambda t: dg.addmv(t, t, _fake())),
    ("baddbmm: batch2", lambda t: dg.baddbmm(t, t, _fake())),
    ("addbmm: batch1", lambda t: dg.addbmm(t, _fake(), t)),
    ("scatter_add: src", lambda t: t.scatter_add(0, dg.tensor([0, 1]), _fake())),
    ("scatter: src", lambda t: t.scatter(0, dg.tensor([0, 1]), _fake())),
    ("index_add: source", lambda t: t.index_add(0, dg.tensor([0, 1]), _fake())),
    ("index_copy: source", lambda t: t.index_copy(0, dg.tensor([0, 1]), _fake())),
    ("masked_scatter: source", lambda t: t.masked_scatter(t > 0, _fake())),
]


@pytest.mark.parametrize("where, call", FAKE_CASES, ids=[c[0] for c in FAKE_CASES])
def test_bogus_device_array_named_by_op(where, call):
    t = dg.tensor(np.array([1.5, -2.0], dtype=np.float32))
    with pytest.raises(TypeError, match=where + ": expected an array, got _FakeDeviceArray"):
        call(t)


# ---- round 34, the lead's: in-place products, gelu's argument name, prelu's dtype error ---------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inplace_products_match_torch(dtype):
    """addmm_ / addmv_ / baddbmm_ (with beta and alpha) write torch's result into self, keep
    self's shape and bump its version; a self that cannot hold the result is an error."""
    rng = np.random.default_rng(7)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    rtol = 1e-5 if dtype == np.float32 else 1e-12
    cases = [
        ("addmm_", r(3, 5), (r(3, 4), r(4, 5))),
        ("addmv_", r(3), (r(3, 4), r(4))),
        ("baddbmm_", r(2, 3, 5), (r(2, 3, 4), r(2, 4, 5))),
    ]
    for name, self_np, args in cases:
        ours = dg.tensor(self_np)
        v0 = ours._version[0]
        got = getattr(ours, name)(*(dg.tensor(a) for a in args), beta=0.5, alpha=-2.0)
        theirs = torch.tensor(self_np)
        getattr(theirs, name)(*(torch.tensor(a) for a in args), beta=0.5, alpha=-2.0)
        assert got is ours and ours._version[0] == v0 + 1, name
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=rtol, atol=rtol, err_msg=name)
    with pytest.raises(ValueError, match="addmm_: the result's shape"):  # self (5,) broadcast
        dg.tensor(r(5)).addmm_(dg.tensor(r(3, 4)), dg.tensor(r(4, 5)))


def test_gelu_takes_input_by_name_and_prelu_dtype_is_torchs_error():
    x = dg.tensor(np.array([-1.0, 0.5]))
    want = torch.nn.functional.gelu(input=torch.tensor([-1.0, 0.5], dtype=torch.float64))
    np.testing.assert_allclose(F.gelu(input=x).numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        torch.nn.functional.prelu(torch.ones(3), torch.ones(1, dtype=torch.float64))
    with pytest.raises(
        RuntimeError, match="prelu: weight: expected dtype float32 .* Type promoting not supported"
    ):
        F.prelu(dg.ones(3), dg.tensor(np.ones(1)))
    with pytest.raises(TypeError):  # as before
        F.prelu(dg.ones(3), dg.tensor(np.ones(1, np.int64)))
