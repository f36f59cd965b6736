"""Round 40 fixes (b) against torch 2.13: double backward of norm(p=0) and of the ops that
lacked one (frac, fmod, atan2, asin, acos, asinh, acosh, atanh, exp2; nextafter's gradient);
an integer or bool dtype= of cumsum / cumprod / sum / prod / nansum kept, as torch; and
cholesky_inverse / cholesky_solve reading only the factor's triangle, with torch's gradients
(to the whole input) and second derivatives."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(4041)
TOL = 1e-8


def _np(t: Any) -> Any:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _close(d: Any, t: Any, tol: float = TOL) -> None:
    """deltagrad's d against torch's t (None: no gradient on both sides)."""
    assert (d is None) == (t is None), (d, t)
    if t is not None:
        assert _np(d).dtype == _np(t).dtype
        np.testing.assert_allclose(_np(d), _np(t), rtol=tol, atol=tol, equal_nan=True)


def _lib_dtype(lib: Any, dt: Any) -> Any:
    return getattr(lib, np.dtype(dt).name)


def _second(f: Callable, arrays: list[np.ndarray], tol: float = TOL) -> None:
    """out = f(lib, *xs); first = d <v, out> / dxs (create_graph=True); second = d <w, first>
    / dxs: deltagrad's out, first and second against torch's (None where torch has none)."""
    res = []
    for lib in (torch, dg):
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = f(lib, *xs)
        v = lib.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)), dtype=out.dtype)
        first = lib.autograd.grad(out, xs, v, create_graph=True, allow_unused=True)
        loss = sum(
            (
                g * lib.tensor(np.random.default_rng(2 + i).standard_normal(g.shape), dtype=g.dtype)
            ).sum()
            for i, g in enumerate(first)
            if g is not None
        )
        second = (
            lib.autograd.grad(loss, xs, allow_unused=True)
            if isinstance(loss, lib.Tensor) and loss.requires_grad
            else [None] * len(xs)
        )
        res.append((out, first, second))
    (ot, ft, st), (od, fd, sd) = res
    _close(od, ot, tol)
    for d, t in zip(fd, ft):
        _close(d, t, tol)
    for d, t in zip(sd, st):
        _close(d, t, tol)


# ---- 1. double backward of the piecewise-constant / missing ones -----------------------------


def test_norm_p0_double_backward_repro() -> None:
    gx = dg.tensor([1.0, 0.0, -2.0], requires_grad=True)
    tx = torch.tensor([1.0, 0.0, -2.0], requires_grad=True)
    (gd,) = dg.autograd.grad(gx.norm(p=0) + (gx**2).sum(), gx, create_graph=True)
    (gt,) = torch.autograd.grad(tx.norm(p=0) + (tx**2).sum(), tx, create_graph=True)
    _close(gd, gt)
    _close(dg.autograd.grad(gd.sum(), gx)[0], torch.autograd.grad(gt.sum(), tx)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "f",
    [
        lambda m, x: x.norm(p=0) + (x**3).sum(),
        lambda m, x: x.norm(p=0, dim=1, keepdim=True) * 2 + (x**3).sum(1, keepdim=True),
        lambda m, x: m.linalg.vector_norm(x, ord=0, dim=0) + (x * x).sum(0),
        lambda m, x: m.linalg.vector_norm(x, ord=0.0) * x,
    ],
)
def test_norm_p0_second(f: Callable, dtype: Any) -> None:
    x = RNG.standard_normal((3, 4)).astype(dtype)
    x[0, 1] = x[2, 2] = 0.0
    _second(f, [x], 1e-5 if dtype == np.float32 else TOL)


def test_norm_p0_alone_has_no_gradient() -> None:
    """torch's norm_backward gives an undefined gradient for p = 0: the input is unused, with
    create_graph=True as without."""
    for lib in (torch, dg):
        x = lib.tensor(RNG.standard_normal(5), requires_grad=True)
        with pytest.raises(RuntimeError, match="used"):
            lib.autograd.grad(x.norm(p=0), x, create_graph=True)
        assert lib.autograd.grad(x.norm(p=0), x, create_graph=True, allow_unused=True) == (None,)


def _unit(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.uniform(-0.9, 0.9, shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "f", "make"),
    [
        ("frac", lambda m, x: (x * 3).frac() * x, _unit),
        ("frac_fn", lambda m, x: m.frac(x * 5), _unit),
        ("asin", lambda m, x: x.asin(), _unit),
        ("arcsin", lambda m, x: m.arcsin(x), _unit),
        ("acos", lambda m, x: x.acos(), _unit),
        ("asinh", lambda m, x: (x * 4).asinh(), _unit),
        ("acosh", lambda m, x: (x.abs() + 1.25).acosh(), _unit),
        ("atanh", lambda m, x: x.atanh(), _unit),
        ("exp2", lambda m, x: (x * 3).exp2(), _unit),
        ("fmod_scalar", lambda m, x: (x * 7).fmod(0.75) * x, _unit),
        ("fmod_tensor", lambda m, x: m.fmod(x * 7, x.flip(0) + 2), _unit),
        ("fmod_other", lambda m, x: m.fmod(x.flip(-1) * 9 + 0.5, x), _unit),
        ("atan2", lambda m, x: m.atan2(x, x.flip(0) + 2), _unit),
        ("atan2_other", lambda m, x: m.atan2(x.flip(-1) + 0.5, x), _unit),
        ("arctan2", lambda m, x: x.arctan2(x.flip(-1)), _unit),
    ],
)
def test_unary_binary_second(name: str, f: Callable, make: Callable, dtype: Any) -> None:
    for shape in [(3, 4), (1,), ()]:
        x = make(shape).astype(dtype)
        _second(f, [x], 2e-5 if dtype == np.float32 else TOL)


@pytest.mark.parametrize(
    ("f", "shapes"),
    [
        (lambda m, x, y: m.fmod(x * 5, y + 3), [(2, 3), (3,)]),
        (lambda m, x, y: m.fmod(x * 5, y + 3), [(3,), (2, 1)]),
        (lambda m, x, y: m.atan2(x, y + 0.5), [(2, 3), (1, 3)]),
        (lambda m, x, y: m.atan2(x + 0.5, y), [(4,), (2, 1)]),
        (lambda m, x, y: m.nextafter(x, y) * x, [(2, 3), (3,)]),
    ],
)
def test_binary_second_broadcast(f: Callable, shapes: list[tuple[int, ...]]) -> None:
    _second(f, [_unit(s) for s in shapes])


def test_nextafter_gradient() -> None:
    """torch's: the gradient passes to self, zeros to other (its dtype, promoted output)."""
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    y = RNG.standard_normal(3)
    w = RNG.standard_normal((2, 3))
    grads = []
    for lib in (torch, dg):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        out = lib.nextafter(xt, yt)
        assert out.requires_grad
        (out * lib.tensor(w)).sum().backward()
        grads.append((out, xt.grad, yt.grad))
    for d, t in zip(grads[1], grads[0]):
        _close(d, t, 0.0)
    with dg.no_grad():
        assert not dg.nextafter(dg.tensor(x, requires_grad=True), dg.tensor(1.0)).requires_grad


# ---- 2. dtype= of the sums and products: kept for integer / bool dtypes, as torch -------------

_INT_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.int64]
_ALL_IN = [np.bool_, *_INT_DTYPES, np.float32, np.float64]
_REDUCE = {
    "cumsum": lambda t, d: t.cumsum(-1, dtype=d),
    "cumsum_dim0": lambda t, d: t.cumsum(0, dtype=d),
    "cumprod": lambda t, d: t.cumprod(-1, dtype=d),
    "sum": lambda t, d: t.sum(dtype=d),
    "sum_dim": lambda t, d: t.sum(-1, keepdim=True, dtype=d),
    "prod": lambda t, d: t.prod(dtype=d),
    "prod_dim": lambda t, d: t.prod(0, dtype=d),
    "nansum": lambda t, d: t.nansum(-1, dtype=d),
}


def _compare_lib(f: Callable, x: np.ndarray, dt: Any) -> None:
    t = f(torch.tensor(x), _lib_dtype(torch, dt))
    d = f(dg.tensor(x), _lib_dtype(dg, dt))
    assert d.dtype == np.dtype(dt) and _np(t).dtype == np.dtype(dt)
    assert d.shape == tuple(t.shape)
    np.testing.assert_array_equal(_np(d), _np(t))


@pytest.mark.parametrize("name", sorted(_REDUCE))
@pytest.mark.parametrize("src", _ALL_IN)
@pytest.mark.parametrize("dt", [*_INT_DTYPES, np.float32, np.float64])
def test_reduce_dtype_kept(name: str, src: Any, dt: Any) -> None:
    """Values up to 120 (sums and products that wrap in 8 and 16 bits), exact in float."""
    f = _REDUCE[name]
    for shape in [(3, 5), (1, 7), (2, 1), (0, 3)]:
        x = RNG.integers(0, 121, shape)
        x[RNG.random(shape) < 0.2] = 0
        _compare_lib(f, x.astype(src), dt)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "sum", "prod", "nansum"])
@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32])
def test_reduce_dtype_negative(name: str, dt: Any) -> None:
    f = _REDUCE[name]
    for src in (np.int64, np.int32, np.float64):
        _compare_lib(f, RNG.integers(-120, 121, (4, 6)).astype(src), dt)


@pytest.mark.parametrize("name", ["sum", "sum_dim", "prod", "prod_dim", "nansum"])
@pytest.mark.parametrize("src", _ALL_IN)
def test_reduce_dtype_bool(name: str, src: Any) -> None:
    """dtype=bool: torch reduces in bool (sum: any, prod: all)."""
    x = RNG.integers(0, 3, (4, 5)).astype(src)
    x[0] = 1
    _compare_lib(_REDUCE[name], x, np.bool_)
    _compare_lib(_REDUCE[name], np.zeros((2, 3), src), np.bool_)


@pytest.mark.parametrize("dt", _INT_DTYPES)
def test_scan_dtype_zero_dim(dt: Any) -> None:
    for f in (lambda t, d: t.cumsum(0, dtype=d), lambda t, d: t.cumprod(-1, dtype=d)):
        for src in (np.int64, np.float32, np.bool_):
            _compare_lib(f, np.array(5 if src is not np.bool_ else True, src), dt)


def test_scan_function_forms() -> None:
    x = RNG.integers(0, 100, (3, 4)).astype(np.int32)
    _compare_lib(
        lambda t, d: (torch if isinstance(t, torch.Tensor) else dg).cumsum(t, 1, dtype=d),
        x,
        np.int32,
    )
    _compare_lib(
        lambda t, d: (torch if isinstance(t, torch.Tensor) else dg).cumprod(t, 0, dtype=d),
        x,
        np.int16,
    )


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scan_dtype_bool_raises(op: str) -> None:
    """torch has no bool kernel for cumsum / cumprod: NotImplementedError on both."""
    for lib in (torch, dg):
        for src in (np.int64, np.float32, np.bool_):
            with pytest.raises(NotImplementedError, match=f"{op}.*Bool"):
                getattr(lib.tensor(np.ones(3, src)), op)(0, dtype=lib.bool)


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "sum", "prod", "nansum"])
def test_int_dtype_of_float_needing_grad(op: str) -> None:
    """A float tensor that requires grad reduced with an integer dtype=: torch refuses
    ("Autograd not support dtype"); deltagrad gives the values with no graph (never an int
    tensor that requires grad)."""
    x = RNG.integers(-5, 6, (2, 3)).astype(np.float64)
    args = (0,) if op.startswith("cum") else ()
    with pytest.raises(RuntimeError, match="dtype"):
        getattr(torch.tensor(x, requires_grad=True), op)(*args, dtype=torch.int32)
    out = getattr(dg.tensor(x, requires_grad=True), op)(*args, dtype=dg.int32)
    assert out.dtype == np.int32 and not out.requires_grad
    np.testing.assert_array_equal(
        _np(out), _np(getattr(torch.tensor(x), op)(*args, dtype=torch.int32))
    )


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "sum", "prod", "nansum", "mean"])
@pytest.mark.parametrize(("src", "dt"), [(np.float32, np.float64), (np.float64, np.float32)])
def test_float_dtype_gradient(op: str, src: Any, dt: Any) -> None:
    """dtype= a float dtype: the values in it, the gradient back in the input's dtype."""
    x = RNG.uniform(0.5, 1.5, (3, 4)).astype(src)
    args = (1,) if op.startswith("cum") or op == "prod" else ()
    res = []
    for lib in (torch, dg):
        t = lib.tensor(x, requires_grad=True)
        out = getattr(t, op)(*args, dtype=_lib_dtype(lib, dt))
        (g,) = lib.autograd.grad(out, t, lib.ones_like(out))
        res.append((out, g))
    tol = 1e-6 if np.float32 in (src, dt) else TOL
    _close(res[1][0], res[0][0], tol)
    _close(res[1][1], res[0][1], tol)


@pytest.mark.parametrize("src", [np.bool_, np.int32, np.int64])
def test_nanmean_int_input_raises_with_dtype(src: Any) -> None:
    """torch.nanmean checks the input's dtype, not dtype=: an int input raises either way."""
    x = np.arange(4).astype(src)
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor(x).nanmean(dtype=torch.float32)
    with pytest.raises(TypeError, match="floating point"):
        dg.tensor(x).nanmean(dtype=dg.float32)
    np.testing.assert_allclose(
        _np(dg.tensor(x).mean(dtype=dg.float32)), _np(torch.tensor(x).mean(dtype=torch.float32))
    )


# ---- 3. cholesky_inverse / cholesky_solve read only the factor's triangle ---------------------


def _factor(shape: tuple[int, ...]) -> np.ndarray:
    """Well-conditioned matrices with both triangles filled (the unread one too)."""
    n = shape[-1]
    return RNG.standard_normal(shape) + 2 * np.sqrt(n) * np.eye(n)


def test_cholesky_inverse_repro() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    _close(dg.tensor(a).cholesky_inverse(), torch.tensor(a).cholesky_inverse(), 1e-12)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("shape", [(3, 3), (1, 1), (2, 4, 4), (2, 1, 17, 17)])
def test_cholesky_inverse_second(upper: bool, shape: tuple[int, ...]) -> None:
    """Forward, torch's gradient (to both triangles) and second derivatives; 17 x 17 goes
    through LAPACK's triangular inverse."""
    a = _factor(shape)
    _second(lambda m, x: m.cholesky_inverse(x, upper=upper), [a], 1e-7)
    _second(lambda m, x: x.cholesky_inverse(upper) * x.sum(), [a], 1e-7)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_float32_and_triangular(upper: bool) -> None:
    a = _factor((2, 5, 5)).astype(np.float32)
    _second(lambda m, x: m.cholesky_inverse(x, upper=upper), [a], 2e-5)
    tri = np.triu(a) if upper else np.tril(a)  # a proper factor: unchanged
    _second(lambda m, x: m.cholesky_inverse(x, upper=upper), [tri], 2e-5)
    out = dg.tensor(a).cholesky_inverse(upper)
    np.testing.assert_array_equal(_np(out), np.swapaxes(_np(out), -1, -2))  # exactly symmetric


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((3, 3), (3, 2)), ((1, 1), (1, 3)), ((2, 4, 4), (3, 1, 4, 2)), ((4, 4), (2, 4, 1))],
)
def test_cholesky_solve_second(
    upper: bool, a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    a, b = _factor(a_shape), RNG.standard_normal(b_shape)
    _second(lambda m, x, y: m.cholesky_solve(y, x, upper=upper), [a, b], 1e-7)
    _second(lambda m, x, y: y.cholesky_solve(x, upper) * x.sum(), [a, b], 1e-7)


def test_cholesky_solve_one_input_needs_grad() -> None:
    a, b = _factor((3, 3)), RNG.standard_normal((3, 2))
    for needs in ((True, False), (False, True)):
        res = []
        for lib in (torch, dg):
            x = lib.tensor(a, requires_grad=needs[0])
            y = lib.tensor(b, requires_grad=needs[1])
            out = lib.cholesky_solve(y, x)
            (out * out).sum().backward()
            res.append((out, x.grad, y.grad))
        for d, t in zip(res[1], res[0]):
            _close(d, t)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's deprecated triangular_solve
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_triangular_solve_full_input(upper: bool, transpose: bool, unitriangular: bool) -> None:
    """A sibling already right: only A's triangle is read, its gradient the triangle's."""
    a, b = _factor((2, 4, 4)), RNG.standard_normal((2, 4, 3))
    _second(
        lambda m, x, y: m.triangular_solve(y, x, upper, transpose, unitriangular).solution,
        [a, b],
        1e-7,
    )


def test_cholesky_empty() -> None:
    for shape in [(0, 0), (0, 3, 3), (2, 0, 0)]:
        for lib in (torch, dg):
            x = lib.tensor(np.zeros(shape), requires_grad=True)
            out = lib.cholesky_inverse(x)
            assert tuple(out.shape) == shape
            (g,) = lib.autograd.grad(out.sum(), x)
            assert tuple(g.shape) == shape
    _close(
        dg.cholesky_solve(dg.ones(0, 2), dg.ones(0, 0)),
        torch.cholesky_solve(torch.ones(0, 2), torch.ones(0, 0)),
    )


def _both_raise(f: Callable, match: str, dg_type: type = RuntimeError) -> None:
    with pytest.raises(RuntimeError, match=match):
        f(torch)
    with pytest.raises(dg_type, match=match):
        f(dg)


def test_cholesky_errors() -> None:
    _both_raise(lambda m: m.cholesky_inverse(m.ones(3)), "at least 2 dimensions")
    _both_raise(lambda m: m.cholesky_inverse(m.ones(2, 3)), "square matrices, but they are 2 by 3")
    _both_raise(
        lambda m: m.cholesky_inverse(m.tensor([[1.0, 0.0], [1.0, 0.0]])),
        "diagonal element 2 is zero",
    )
    _both_raise(
        lambda m: m.cholesky_inverse(
            m.tensor([[[1.0, 0.0], [1.0, 2.0]], [[0.0, 5.0], [1.0, 2.0]]])
        ),
        r"\(Batch element 1\): The diagonal element 1 is zero",
    )
    with pytest.raises(NotImplementedError, match="cholesky_inverse_out_cpu"):
        dg.cholesky_inverse(dg.tensor([[1, 0], [1, 2]]))
    _both_raise(lambda m: m.cholesky_solve(m.ones(2), m.eye(2)), "b should have at least 2")
    _both_raise(lambda m: m.cholesky_solve(m.ones(2, 1), m.ones(2)), "should have at least 2")
    _both_raise(lambda m: m.cholesky_solve(m.ones(2, 1), m.ones(2, 3)), "square matrices")
    _both_raise(lambda m: m.cholesky_solve(m.ones(3, 1), m.eye(2)), "Incompatible matrix sizes")
    _both_raise(lambda m: m.cholesky_solve(m.ones(2, 1), m.eye(2, dtype=m.float64)), "same dtype")
    with pytest.raises(RuntimeError):  # batch dims 2 and 3 (torch's message is broadcast's)
        torch.cholesky_solve(torch.ones(2, 2, 1), torch.ones(3, 2, 2))
    with pytest.raises(RuntimeError, match="do not broadcast"):
        dg.cholesky_solve(dg.ones(2, 2, 1), dg.ones(3, 2, 2))
    with pytest.raises(NotImplementedError, match="cholesky_solve_cpu"):
        dg.cholesky_solve(dg.tensor([[1], [2]]), dg.tensor([[1, 0], [1, 2]]))


def test_cholesky_solve_zero_diagonal() -> None:
    """torch's potrs returns inf / NaN for a factor with a zero on its diagonal; deltagrad
    raises (never a silent non-finite answer)."""
    low = np.array([[1.0, 0.0], [1.0, 0.0]])
    out = torch.cholesky_solve(torch.ones(2, 1, dtype=torch.float64), torch.tensor(low))
    assert not np.isfinite(_np(out)).all()
    with pytest.raises(dg.linalg.LinAlgError, match="diagonal element 2 is zero"):
        dg.cholesky_solve(dg.ones(2, 1, dtype=dg.float64), dg.tensor(low))
