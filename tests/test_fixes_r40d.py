"""Round 40 fixes against torch 2.13 (tensor.py / _tensor_methods.py / _tensor_math.py): the
bits of x ** 3 / -2 / -0.5 (torch's x*x*x, 1/(x*x), 1/sqrt(x)) forward and backward, the
gradients of nextafter / atan2 / atanh / acosh / fmod at their edge points (plain and double
backward), bool einsum with an empty operand, cumsum / cumprod(dtype=bool) of a 0-d tensor,
float16 logcumsumexp accumulated in float32 and the sorting ops that refuse bool tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(4004)
FLOATS = ("float32", "float64")


def _np(t: Any) -> Any:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _bits(d: Any, t: Any) -> None:
    """deltagrad's d bit-equal to torch's t (NaNs equal; the sign of zeros and infs too)."""
    a, b = _np(d), _np(t)
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan], b[~nan])
    np.testing.assert_array_equal(np.signbit(a[~nan]), np.signbit(b[~nan]))


def _close(d: Any, t: Any, tol: float) -> None:
    np.testing.assert_allclose(_np(d), _np(t), rtol=tol, atol=tol, equal_nan=True)
    a, b = _np(d), _np(t)
    inf = np.isinf(b)
    np.testing.assert_array_equal(a[inf], b[inf])  # infs with their signs


def _data(n: int, dtype: str, positive: bool = False) -> np.ndarray:
    x = RNG.standard_normal(n) * 3
    x[: min(n, 8)] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, 1e30, -1.5][: min(n, 8)]
    if positive:
        x = np.abs(x)
    return x.astype(dtype)


# ---- 1. x ** p: torch's special cases ------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [3, -2, -0.5, 3.0, -2.0, 2, -1, 0, 1, np.float64(3), np.float32(-2)])
@pytest.mark.parametrize("n", [0, 1, 7, 1001])
def test_pow_special_exponents_bits(dtype: str, p: Any, n: int) -> None:
    x = _data(n, dtype)
    _bits(dg.tensor(x) ** p, torch.tensor(x) ** p)
    _bits(dg.tensor(x).pow(p), torch.tensor(x).pow(p))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [3, -2, -0.5])
def test_pow_special_exponents_0d(dtype: str, p: Any) -> None:
    for v in (2.5, 0.0, -0.0, -3.0, 1e-30):
        x = np.asarray(v, dtype=dtype)
        _bits(dg.tensor(x) ** p, torch.tensor(x) ** p)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [3, 0.5, -1, 4, 2, 1, 0])
def test_pow_backward_bits(dtype: str, p: Any) -> None:
    """torch's gradient p * x.pow(p - 1): x.pow(2) / pow(-2) / pow(-0.5) / pow(3) are the
    special cases again (so the bits match for these p; others are within an ulp or two)."""
    x = _data(501, dtype)
    g = RNG.standard_normal(501).astype(dtype)
    a = dg.tensor(x, requires_grad=True)
    (a**p).backward(dg.tensor(g))
    b = torch.tensor(x, requires_grad=True)
    (b**p).backward(torch.tensor(g))
    _bits(a.grad, b.grad)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [3, -2, -0.5, 1.5])
def test_pow_double_backward(dtype: str, p: Any) -> None:
    x = np.abs(RNG.standard_normal(64)).astype(dtype) + 0.25
    res = []
    for lib in (dg, torch):
        a = lib.tensor(x, requires_grad=True)
        (ga,) = lib.autograd.grad((a**p).sum(), a, create_graph=True)
        (gga,) = lib.autograd.grad(ga.sum(), a)
        res.append((ga, gga))
    tol = 1e-5 if dtype == "float32" else 1e-12
    _close(res[0][0], res[1][0], tol)
    _close(res[0][1], res[1][1], tol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_other_exponents_close(dtype: str) -> None:
    """Other exponents: a correctly rounded power here (float32 through float64); torch's
    vectorized pow is within an ulp of it (for exponents a float32 holds exactly: torch's
    float32 kernel rounds the exponent to float32 first, 1/3 to 0.33333334)."""
    x = _data(1001, dtype, positive=True)
    for p in (1.5, 4, -3, 0.5, -1.25, 0.1 if dtype == "float64" else 0.375):
        _close(dg.tensor(x) ** p, torch.tensor(x) ** p, 3e-7 if dtype == "float32" else 1e-15)


def test_pow_int_tensor_float_exponent() -> None:
    x = RNG.integers(-5, 6, 50)
    for p in (3.0, -2.0, -0.5):
        _bits(dg.tensor(x) ** p, torch.tensor(x) ** p)


def test_rsqrt_backward_bits() -> None:
    for dtype in FLOATS:
        x = _data(301, dtype, positive=True)
        g = RNG.standard_normal(301).astype(dtype)
        a = dg.tensor(x, requires_grad=True)
        a.rsqrt().backward(dg.tensor(g))
        b = torch.tensor(x, requires_grad=True)
        b.rsqrt().backward(torch.tensor(g))
        _bits(a.grad, b.grad)


# ---- 2. nextafter: no step where self == other ---------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
def test_nextafter_grad_zero_where_equal(dtype: str) -> None:
    xs = np.array([1.0, 2.0, 0.0, np.nan, 3.0, -0.0, np.inf], dtype=dtype)
    ys = np.array([[1.0, 5.0, -0.0, np.nan, np.nan, 0.0, np.inf], [2.0] * 7], dtype=dtype)
    g = np.array([[np.nan, np.inf, np.inf, 1.0, 2.0, np.nan, 3.0], [1.0] * 7], dtype=dtype)
    res = []
    for lib in (dg, torch):
        a = lib.tensor(xs, requires_grad=True)
        b = lib.tensor(ys, requires_grad=True)
        lib.nextafter(a, b).backward(lib.tensor(g))
        res.append((a.grad, b.grad))
    _bits(res[0][0], res[1][0])
    _bits(res[0][1], res[1][1])


def test_nextafter_repro_and_double_backward() -> None:
    res = []
    for lib in (dg, torch):
        a = lib.tensor([1.0, 2.0, 0.0], requires_grad=True)
        lib.nextafter(a, lib.tensor([1.0, 5.0, -0.0])).sum().backward()
        a2 = lib.tensor([1.0, 2.0, 0.0], requires_grad=True)
        g = lib.ones(3, requires_grad=True)
        (ga,) = lib.autograd.grad(
            lib.nextafter(a2, lib.tensor([1.0, 5.0, -0.0])), a2, g, create_graph=True
        )
        (gg,) = lib.autograd.grad((ga * lib.tensor([1.0, 2.0, 3.0])).sum(), g)
        res.append((a.grad, ga, gg))
    for d, t in zip(*res):
        _bits(d, t)
    np.testing.assert_array_equal(_np(res[0][0]), [0.0, 1.0, 0.0])


def test_nextafter_mixed_dtypes_grad() -> None:
    res = []
    for lib in (dg, torch):
        a = lib.tensor([1.0, 2.0, 0.0], requires_grad=True)
        b = lib.tensor([1.0, 5.0, -0.0], dtype=lib.float64, requires_grad=True)
        lib.nextafter(a, b).sum().backward()
        res.append((a.grad, b.grad))
    _bits(res[0][0], res[1][0])
    _bits(res[0][1], res[1][1])


# ---- 3. atan2 at x^2 + y^2 == 0 ------------------------------------------------------------


def _atan2_all(lib: Any, yv: Any, xv: Any, dtype: str) -> list[Any]:
    dt = getattr(lib, dtype)
    y = lib.tensor(yv, dtype=dt, requires_grad=True)
    x = lib.tensor(xv, dtype=dt, requires_grad=True)
    g = lib.ones(len(yv), dtype=dt, requires_grad=True)
    gy, gx = lib.autograd.grad(lib.atan2(y, x), (y, x), g, create_graph=True)
    out = [gy, gx]
    out += list(lib.autograd.grad(gy.sum(), (y, x, g), retain_graph=True))
    out += list(lib.autograd.grad(gx.sum(), (y, x, g)))
    y2 = lib.tensor(yv, dtype=dt, requires_grad=True)
    x2 = lib.tensor(xv, dtype=dt, requires_grad=True)
    lib.atan2(y2, x2).sum().backward()
    return [*out, y2.grad, x2.grad]


@pytest.mark.parametrize("dtype", FLOATS)
def test_atan2_grad_at_origin(dtype: str) -> None:
    yv = [0.0, -0.0, 0.0, 1e-30, 1.0, 2.0, 0.0, -0.0]
    xv = [0.0, 0.0, -0.0, 0.0, 0.0, 3.0, 1e-25, -0.0]
    d, t = _atan2_all(dg, yv, xv, dtype), _atan2_all(torch, yv, xv, dtype)
    for i in (0, 1, 4, 7, 8, 9):  # first derivatives (and those in g): torch's bits
        _bits(d[i], t[i])
    for i in (2, 3, 5, 6):  # second derivatives: NaN where torch's are, close elsewhere
        _close(d[i], t[i], 1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
def test_atan2_grad_random_bits(dtype: str) -> None:
    yv, xv = RNG.standard_normal(500), RNG.standard_normal(500)
    d, t = _atan2_all(dg, yv, xv, dtype), _atan2_all(torch, yv, xv, dtype)
    for i in (0, 1, 4, 7, 8, 9):
        _bits(d[i], t[i])
    for i in (2, 3, 5, 6):
        _close(d[i], t[i], 1e-5 if dtype == "float32" else 1e-12)


def test_atan2_broadcast_grad() -> None:
    res = []
    for lib in (dg, torch):
        y = lib.tensor([[0.0, 1.0, -2.0]], requires_grad=True)
        x = lib.tensor([[0.0], [3.0]], requires_grad=True)
        lib.atan2(y, x).sum().backward()
        res.append((y.grad, x.grad))
    _bits(res[0][0], res[1][0])
    _bits(res[0][1], res[1][1])


# ---- 4. atanh / acosh at the domain's edges ------------------------------------------------


def _unary_all(lib: Any, name: str, xv: Any, gv: Any, dtype: str) -> list[Any]:
    dt = getattr(lib, dtype)
    x = lib.tensor(xv, dtype=dt, requires_grad=True)
    g = lib.tensor(gv, dtype=dt, requires_grad=True)
    (gx,) = lib.autograd.grad(getattr(lib, name)(x), (x,), g, create_graph=True)
    out = [gx, *lib.autograd.grad(gx.sum(), (x, g))]
    x2 = lib.tensor(xv, dtype=dt, requires_grad=True)
    getattr(lib, name)(x2).backward(lib.tensor(gv, dtype=dt))
    return [*out, x2.grad]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["atanh", "acosh"])
def test_atanh_acosh_edges_bits(dtype: str, name: str) -> None:
    edges = [1.0, -1.0, 0.0, -0.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 1.0]
    xv = np.concatenate([edges, RNG.standard_normal(300) * 2])
    gv = np.concatenate([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0],
                         RNG.standard_normal(300)])  # fmt: skip
    for d, t in zip(_unary_all(dg, name, xv, gv, dtype), _unary_all(torch, name, xv, gv, dtype)):
        _bits(d, t)


def test_atanh_acosh_repro() -> None:
    for lib in (dg, torch):
        x = lib.tensor([1.0, -1.0], requires_grad=True)
        (g,) = lib.autograd.grad(lib.atanh(x).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        np.testing.assert_array_equal(_np(gg), [np.inf, -np.inf])
        x = lib.tensor([1.0, -1.0], requires_grad=True)
        (g,) = lib.autograd.grad(lib.acosh(x).sum(), x, create_graph=True)
        np.testing.assert_array_equal(_np(g), [np.inf, np.inf])
        (gg,) = lib.autograd.grad(g.sum(), x)
        np.testing.assert_array_equal(_np(gg), [-np.inf, np.inf])


def test_atanh_acosh_int_input() -> None:
    for name in ("atanh", "acosh"):
        x = np.array([0, 1, 2, -1, 3])
        _bits(getattr(dg.tensor(x), name)(), getattr(torch.tensor(x), name)())


# ---- 5. fmod / remainder: a zero-gradient quotient -----------------------------------------


@pytest.mark.parametrize("op", ["fmod", "remainder"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_fmod_remainder_second_derivative(op: str, dtype: str) -> None:
    xv = np.concatenate([[1.0, 2.0, -3.0, 5.5, 0.0, -0.0], RNG.standard_normal(50) * 4])
    yv = np.concatenate([[0.0, -0.0, 2.0, -2.0, 0.0, 1.0], RNG.standard_normal(50)])
    res = []
    for lib in (dg, torch):
        dt = getattr(lib, dtype)
        x = lib.tensor(xv, dtype=dt, requires_grad=True)
        y = lib.tensor(yv, dtype=dt, requires_grad=True)
        g = lib.ones(len(xv), dtype=dt, requires_grad=True)
        gx, gy = lib.autograd.grad(getattr(lib, op)(x, y), (x, y), g, create_graph=True)
        second = lib.autograd.grad((gy * 1.5).sum(), (x, y, g))
        x2 = lib.tensor(xv, dtype=dt, requires_grad=True)
        y2 = lib.tensor(yv, dtype=dt, requires_grad=True)
        getattr(lib, op)(x2, y2).sum().backward()
        res.append([gx, gy, *second, x2.grad, y2.grad])
    for d, t in zip(*res):
        _bits(d, t)
    assert not np.isnan(_np(res[0][2])).any() and not np.isnan(_np(res[0][3])).any()


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_mode_zero_gradient(mode: str) -> None:
    xv, yv = [1.0, 2.0, -3.0, 7.5], [0.0, 0.5, 2.0, -2.0]
    res = []
    for lib in (dg, torch):
        x = lib.tensor(xv, requires_grad=True)
        y = lib.tensor(yv, requires_grad=True)
        q = x.div(y, rounding_mode=mode)
        assert q.requires_grad
        res.append((q, *lib.autograd.grad(q.sum(), (x, y))))
        # int tensors: the int result, outside any graph
        qi = lib.tensor([7, -7]).div(2, rounding_mode=mode)
        res[-1] += (qi,)
    for d, t in zip(*res):
        _bits(d, t) if _np(t).dtype.kind == "f" else np.testing.assert_array_equal(_np(d), _np(t))


# ---- 6. bool / int einsum with an empty operand --------------------------------------------

_EMPTY_EINSUM = [
    ("ij,jk->ik", (3, 0), (0, 2)),
    ("ij,jk->ik", (3, 4), (4, 0)),
    ("ij,jk->ik", (0, 4), (4, 5)),
    ("ij,jk", (3, 0), (0, 2)),
    ("bij,bjk->bik", (0, 2, 3), (0, 3, 4)),
    ("ij,j->i", (3, 0), (0,)),
    ("i,i->", (0,), (0,)),
    ("ij,kj->ik", (3, 0), (2, 0)),
    ("ij,jk->ki", (3, 0), (0, 2)),
    ("ij,jk->ik", (1, 0), (0, 2)),
    ("ijx,jk->ik", (3, 0, 2), (0, 5)),  # an int64 sum beside a bool: zeros, no dtype check
    ("ij,jkx->ik", (3, 0), (0, 5, 2)),
    ("ij,jk,kl->il", (3, 0), (0, 2), (2, 0)),
    ("ij,jk,kl->il", (3, 4), (4, 0), (0, 4)),
]


@pytest.mark.parametrize("eq_shapes", _EMPTY_EINSUM, ids=lambda c: f"{c[0]}{c[1:]}")
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "uint8"])
def test_einsum_empty_operand(eq_shapes: Any, dtype: str) -> None:
    eq, *shapes = eq_shapes
    d = dg.einsum(eq, *[dg.ones(s, dtype=getattr(dg, dtype)) for s in shapes])
    t = torch.einsum(eq, *[torch.ones(s, dtype=getattr(torch, dtype)) for s in shapes])
    assert tuple(d.shape) == tuple(t.shape)
    assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(_np(d), _np(t))


def test_einsum_bool_still_refused_when_not_empty() -> None:
    a, b = np.ones((3, 4), bool), np.ones((4, 5), bool)
    with pytest.raises(NotImplementedError):
        torch.einsum("ij,jk->ik", torch.tensor(a), torch.tensor(b))
    with pytest.raises(NotImplementedError, match="bmm"):
        dg.einsum("ij,jk->ik", dg.tensor(a), dg.tensor(b))
    # an empty first pair, then a bool bmm that is not empty: torch's error too
    ops = [np.ones((3, 0), bool), np.ones((0, 2), bool), np.ones((2, 4), bool)]
    with pytest.raises(NotImplementedError):
        torch.einsum("ij,jk,kl->il", *[torch.tensor(o) for o in ops])
    with pytest.raises(NotImplementedError):
        dg.einsum("ij,jk,kl->il", *[dg.tensor(o) for o in ops])


# ---- 7. cumsum / cumprod(dtype=bool) -------------------------------------------------------


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scan_bool_dtype(op: str) -> None:
    for v in (3, 0, 2.5, True, -0.0):
        d = getattr(dg.tensor(v), op)(0, dtype=dg.bool)
        t = getattr(torch.tensor(v), op)(0, dtype=torch.bool)
        assert d.dtype == dg.bool
        np.testing.assert_array_equal(_np(d), _np(t))
    for shape in ((0,), (0, 2), (2, 0)):
        d = getattr(dg.zeros(shape), op)(0, dtype=dg.bool)
        t = getattr(torch.zeros(shape), op)(0, dtype=torch.bool)
        assert tuple(d.shape) == tuple(t.shape) and d.dtype == dg.bool
    for x in ([3], [[1, 2]], [1.5, 0.0]):
        with pytest.raises(NotImplementedError):
            getattr(torch.tensor(x), op)(0, dtype=torch.bool)
        with pytest.raises(NotImplementedError, match=f"{op}_out_cpu"):
            getattr(dg.tensor(x), op)(0, dtype=dg.bool)


# ---- 8. float16 logcumsumexp ---------------------------------------------------------------


@pytest.mark.parametrize(
    "shape_dim", [((1000,), 0), ((37, 50), 1), ((50, 37), 0), ((3, 0), 1), ((), 0), ((1,), 0)]
)
def test_logcumsumexp_float16(shape_dim: Any) -> None:
    shape, dim = shape_dim
    x = (RNG.standard_normal(shape) * 3).astype(np.float16)
    if x.size > 8:
        x.flat[-4:] = [np.inf, -np.inf, 60000, -60000]
    d = dg.tensor(x).logcumsumexp(dim)
    assert d.dtype == dg.float16
    _bits(d, torch.tensor(x).logcumsumexp(dim))


# ---- 9. sorting ops on bool tensors --------------------------------------------------------


def _both_raise(fn: Any, x: np.ndarray) -> type:
    with pytest.raises(Exception) as te:
        fn(torch, torch.tensor(x))
    with pytest.raises(te.type) as de:
        fn(dg, dg.tensor(x))
    return de.type


_BOOL_REFUSED = {
    "topk": lambda m, x: x.topk(1),
    "topk0": lambda m, x: x.topk(0),
    "fn_topk": lambda m, x: m.topk(x, 1, largest=False),
    "median": lambda m, x: x.median(),
    "median_dim": lambda m, x: x.median(0),
    "fn_median": lambda m, x: m.median(x, 0, keepdim=True),
    "nanmedian": lambda m, x: x.nanmedian(),
    "nanmedian_dim": lambda m, x: x.nanmedian(-1),
    "kthvalue": lambda m, x: x.kthvalue(1),
    "fn_kthvalue": lambda m, x: m.kthvalue(x, 1, 0),
}


@pytest.mark.parametrize("name", sorted(_BOOL_REFUSED))
@pytest.mark.parametrize("shape", [(5,), (2, 3), (1,)])
def test_bool_refused_as_torch(name: str, shape: tuple[int, ...]) -> None:
    x = RNG.integers(0, 2, shape).astype(bool)
    err = _both_raise(_BOOL_REFUSED[name], x)
    assert err in (NotImplementedError, RuntimeError) or issubclass(
        err, (NotImplementedError, RuntimeError)
    )


def test_bool_refused_0d_and_empty() -> None:
    x0 = np.array(True)
    for name in ("topk", "median", "median_dim", "nanmedian", "nanmedian_dim"):
        _both_raise(_BOOL_REFUSED[name], x0)
    # torch copies a 0-d tensor's element for kthvalue (no kernel runs)
    d, t = dg.tensor(x0).kthvalue(1), torch.tensor(x0).kthvalue(1)
    assert d.values.dtype == dg.bool and bool(d.values) is bool(t.values)
    assert int(d.indices) == int(t.indices)
    # an empty tensor: topk(0) still refused; median(dim) of a non-empty dim refused
    _both_raise(lambda m, x: x.topk(0), np.zeros(0, bool))
    _both_raise(lambda m, x: x.median(0), np.zeros((2, 0), bool))
    _both_raise(lambda m, x: x.nanmedian(0), np.zeros((2, 0), bool))
    _both_raise(lambda m, x: x.kthvalue(1), np.zeros((0, 2), bool))


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: x.sort(),
        lambda m, x: x.sort(descending=True, stable=True),
        lambda m, x: x.argsort(),
        lambda m, x: x.msort(),
        lambda m, x: x.mode(),
        lambda m, x: x.cummax(0),
        lambda m, x: x.cummin(-1),
    ],
)
def test_bool_sorting_ops_still_work(fn: Any) -> None:
    x = RNG.integers(0, 2, (4, 7)).astype(bool)
    d, t = fn(dg, dg.tensor(x)), fn(torch, torch.tensor(x))
    ds, ts = (d, t) if isinstance(t, tuple) else ((d,), (t,))
    for a, b in zip(ds, ts):
        np.testing.assert_array_equal(_np(a), _np(b))
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


def test_median_int_still_works() -> None:
    x = RNG.integers(-9, 9, (5, 6))
    np.testing.assert_array_equal(_np(dg.tensor(x).median()), _np(torch.tensor(x).median()))
    d, t = dg.tensor(x).median(1), torch.tensor(x).median(1)
    np.testing.assert_array_equal(_np(d.values), _np(t.values))
    d, t = dg.tensor(x).kthvalue(2, 0), torch.tensor(x).kthvalue(2, 0)
    np.testing.assert_array_equal(_np(d.values), _np(t.values))
    d, t = dg.tensor(x).topk(3), torch.tensor(x).topk(3)
    np.testing.assert_array_equal(_np(d.values), _np(t.values))
    with pytest.raises(IndexError):  # torch returns NaN cast to int64 here
        dg.zeros(0, dtype=dg.int64).nanmedian()
