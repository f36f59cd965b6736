"""Round 40 fixes (c) against torch 2.13: special.ndtri / special.log_ndtr double backward (and
every special function torch differentiates twice), linalg.solve_triangular (forward, errors,
gradients, double backward; through scipy's LAPACK and without scipy), float16 reductions."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.linalg as dg_linalg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(4042)
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
        assert _np(d).shape == _np(t).shape
        np.testing.assert_allclose(_np(d), _np(t), rtol=tol, atol=tol, equal_nan=True)


def _orders(f: Callable, arrays: list[np.ndarray], n: int) -> list[list[Any]]:
    """Per library (torch, dg): the gradients of orders 1..n of f(lib, *xs): order j + 1 is
    d <w_j, order j> / dxs (create_graph=True throughout; w_j fixed random weights)."""
    res = []
    for lib in (torch, dg):
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = f(lib, *xs)
        orders = []
        for j in range(n):
            w = np.random.default_rng(10 + j).standard_normal(tuple(out.shape))
            grads = lib.autograd.grad(
                (out * lib.tensor(w, dtype=out.dtype)).sum(), xs, create_graph=True
            )
            orders.append([_np(g) for g in grads])
            out = sum(g.sum() * (i + 1) for i, g in enumerate(grads))
            out = out.reshape(1)
        res.append(orders)
    return res


# ---- 1. special: double backward ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 33])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["ndtri", "log_ndtr"])
def test_ndtri_log_ndtr_higher_derivatives_match_torch(name: str, dt: Any, n: int) -> None:
    # ndtri on (0, 1); log_ndtr where torch's formula does not cancel to noise (|x| < 6)
    lo, hi = (0.01, 0.99) if name == "ndtri" else (-6.0, 6.0)
    x = RNG.uniform(lo, hi, n).astype(dt)
    t_orders, d_orders = _orders(
        lambda lib, v: getattr(lib.special, name)(v), [x], 3 if dt == np.float64 else 2
    )
    tol = TOL if dt == np.float64 else 2e-4
    for t_o, d_o in zip(t_orders, d_orders):
        _close(d_o[0], t_o[0], tol)


@pytest.mark.parametrize("name", ["ndtri", "log_ndtr"])
def test_ndtri_log_ndtr_second_derivative_edges_match_torch(name: str) -> None:
    if name == "ndtri":  # the ends (inf), out of the domain (NaN), NaN
        x = np.array([0.0, 1e-300, 1e-10, 0.5, 1 - 1e-12, 1.0, 1.2, -0.1, np.nan])
    else:
        x = np.array([-30.0, -8.0, -1.0, 0.0, 3.0, 40.0, np.inf, -np.inf, np.nan])
    t_orders, d_orders = _orders(lambda lib, v: getattr(lib.special, name)(v), [x], 2)
    for t_o, d_o in zip(t_orders, d_orders):
        _close(d_o[0], t_o[0], 1e-10)


def test_ndtri_log_ndtr_gradgradcheck() -> None:
    for f, lo, hi in ((dg.special.ndtri, 0.05, 0.95), (dg.special.log_ndtr, -4.0, 4.0)):
        x = dg.tensor(RNG.uniform(lo, hi, 5), requires_grad=True)
        assert dg.gradcheck(f, (x,))
        assert dg.autograd.gradgradcheck(f, (x,))


# (name, inputs' domain, the arguments that require grad): every special function whose grad
# torch differentiates again
_SPECIAL_2ND = [
    ("gammaln", [(0.5, 4)], [0]),
    ("digamma", [(0.5, 4)], [0]),
    ("polygamma", [(0.5, 4)], [0]),
    ("multigammaln", [(2.5, 5)], [0]),
    ("erf", [(-2, 2)], [0]),
    ("erfc", [(-2, 2)], [0]),
    ("erfinv", [(-0.9, 0.9)], [0]),
    ("erfcx", [(-2, 3)], [0]),
    ("expit", [(-3, 3)], [0]),
    ("logit", [(0.1, 0.9)], [0]),
    ("exp2", [(-2, 2)], [0]),
    ("expm1", [(-2, 2)], [0]),
    ("log1p", [(-0.5, 2)], [0]),
    ("entr", [(0.1, 3)], [0]),
    ("sinc", [(-2, 2)], [0]),
    ("ndtr", [(-3, 3)], [0]),
    ("ndtri", [(0.05, 0.95)], [0]),
    ("log_ndtr", [(-4, 4)], [0]),
    ("i0", [(-3, 3)], [0]),
    ("i0e", [(-3, 3)], [0]),
    ("i1", [(-3, 3)], [0]),
    ("i1e", [(-3, 3)], [0]),
    ("xlogy", [(-2, 2), (0.5, 3)], [0, 1]),
    ("xlog1py", [(-2, 2), (0.5, 3)], [0, 1]),
    ("gammainc", [(0.5, 3), (0.5, 3)], [1]),
    ("gammaincc", [(0.5, 3), (0.5, 3)], [1]),
    ("zeta", [(2.5, 4), (0.5, 3)], [1]),
]


@pytest.mark.parametrize(("name", "domains", "wrt"), _SPECIAL_2ND, ids=[c[0] for c in _SPECIAL_2ND])
def test_special_second_derivatives_match_torch(name: str, domains: list, wrt: list) -> None:
    arrays = [RNG.uniform(lo, hi, 6) for lo, hi in domains]
    extra = {"polygamma": (1,), "multigammaln": (3,)}.get(name, ())

    def call(lib: Any, xs: list) -> Any:
        f = getattr(lib.special, name)
        if name == "polygamma":
            return f(1, *xs)
        return f(*xs, *extra)

    res = []
    for lib in (torch, dg):
        xs = [lib.tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
        out = call(lib, xs)
        req = [xs[i] for i in wrt]
        first = lib.autograd.grad(out.sum(), req, create_graph=True)
        loss = sum((g * g).sum() for g in first)
        res.append(lib.autograd.grad(loss, req))
    # torch's trigamma (the second derivative of lgamma) is its own series, good to ~1e-10
    tol = 1e-9 if name in ("gammaln", "digamma", "multigammaln") else TOL
    for t, d in zip(*res):
        _close(d, t, tol)


# ---- 2. linalg.solve_triangular ---------------------------------------------------------------


@pytest.fixture(params=["scipy", "numpy"])
def lapack(request: Any, monkeypatch: Any) -> str:
    """Both forwards: scipy's trtrs (when scipy imports), numpy's solver (as without scipy)."""
    if request.param == "scipy":
        pytest.importorskip("scipy")
    else:
        monkeypatch.setattr(dg_linalg, "_scipy_lapack", lambda: None)
    return request.param


def _tri_input(shape: tuple[int, ...], dt: Any = np.float64) -> np.ndarray:
    """A random batch of well-conditioned matrices (either triangle usable)."""
    n = shape[-1]
    a = RNG.standard_normal(shape)
    if n:
        sign = np.sign(RNG.standard_normal(shape[:-1]))
        a = a + (n + 1) * np.eye(n) * sign[..., None]
    return a.astype(dt)


def _b_shape(sb: tuple[int, ...], left: bool) -> tuple[int, ...]:
    return sb if left else (*sb[:-2], sb[-1], sb[-2])


_SHAPES = [
    ((3, 3), (3, 2)),
    ((1, 1), (1, 1)),
    ((5, 5), (5, 1)),
    ((17, 17), (17, 3)),
    ((2, 4, 4), (4, 3)),
    ((4, 4), (2, 3, 4, 6)),
    ((2, 1, 3, 3), (4, 3, 5)),
    ((1, 6, 6), (3, 6, 2)),
    ((0, 3, 3), (3, 2)),
    ((3, 3), (3, 0)),
    ((0, 0), (0, 4)),
]


@pytest.mark.parametrize(("sa", "sb"), _SHAPES)
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_solve_triangular_matches_torch(lapack: str, sa: Any, sb: Any, dt: Any) -> None:
    tol = 1e-10 if dt == np.float64 else 2e-4
    for upper, left, unit in itertools.product([True, False], repeat=3):
        a, b = _tri_input(sa, dt), RNG.standard_normal(_b_shape(sb, left)).astype(dt)
        res = []
        for lib in (torch, dg):
            ta, tb = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
            x = lib.linalg.solve_triangular(ta, tb, upper=upper, left=left, unitriangular=unit)
            w = lib.tensor(np.random.default_rng(7).standard_normal(tuple(x.shape)).astype(dt))
            (x * w).sum().backward()
            res.append((x, ta.grad, tb.grad))
        for t, d in zip(*res):
            _close(d, t, tol)


@pytest.mark.parametrize("unit", [False, True])
@pytest.mark.parametrize("upper", [False, True])
def test_solve_triangular_reads_only_the_triangle(lapack: str, upper: bool, unit: bool) -> None:
    a = _tri_input((2, 6, 6))
    b = RNG.standard_normal((2, 6, 3))
    clean = np.triu(a) if upper else np.tril(a)
    if unit:
        idx = np.arange(6)
        clean[..., idx, idx] = 1.0
    dirty = a.copy()
    other = np.tril(np.ones((6, 6)), -1) if upper else np.triu(np.ones((6, 6)), 1)
    if unit:
        other = other + np.eye(6)
    dirty[..., other.astype(bool)] = np.nan  # NaN where the solve must not read
    for left in (True, False):
        bb = b if left else b.swapaxes(-1, -2)
        want = torch.linalg.solve_triangular(
            torch.tensor(clean), torch.tensor(bb), upper=upper, left=left
        )
        got = dg.linalg.solve_triangular(
            dg.tensor(dirty), dg.tensor(bb), upper=upper, left=left, unitriangular=unit
        )
        _close(got, want, 1e-12)
        ta = torch.tensor(dirty, requires_grad=True)
        torch.linalg.solve_triangular(
            ta, torch.tensor(bb), upper=upper, left=left, unitriangular=unit
        ).sum().backward()
        da = dg.tensor(dirty, requires_grad=True)
        dg.linalg.solve_triangular(
            da, dg.tensor(bb), upper=upper, left=left, unitriangular=unit
        ).sum().backward()
        _close(da.grad, ta.grad, 1e-12)
        assert np.all(_np(da.grad)[..., other.astype(bool)] == 0)


def test_solve_triangular_singular_gives_inf_nan_as_torch(lapack: str) -> None:
    # a zero on the diagonal: no error, inf / NaN where torch's trsm has them
    s = np.array([[1.0, 0, 0], [2, 0, 0], [3, 4, 5]])
    for b in (np.ones((3, 2)), np.array([[1.0, 0], [2, 0], [3, 1]]), np.zeros((3, 1))):
        for upper in (False, True):
            a = s if not upper else s.T.copy()
            want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=upper)
            got = dg.linalg.solve_triangular(dg.tensor(a), dg.tensor(b), upper=upper)
            _close(got, want, 1e-12)
    # the other matrices of the batch are solved as usual
    a = np.stack([_tri_input((3, 3)), np.tril(s)])
    b = RNG.standard_normal((2, 3, 2))
    got = _np(dg.linalg.solve_triangular(dg.tensor(a), dg.tensor(b), upper=False))
    want = _np(torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=False))
    _close(got[0], want[0], 1e-12)
    assert not np.isfinite(got[1]).all()
    # in a batch of many small matrices (solved together)
    a = np.concatenate([_tri_input((40, 3, 3)), np.tril(s)[None]])
    b = RNG.standard_normal((41, 3, 2))
    got = dg.linalg.solve_triangular(dg.tensor(a), dg.tensor(b), upper=False)
    want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=False)
    _close(got, want, 1e-12)


def test_solve_triangular_non_finite_entries_as_torch(lapack: str) -> None:
    a = np.tril(_tri_input((4, 4)))
    a[2, 0] = np.inf
    b = RNG.standard_normal((4, 2))
    b[0, 1] = 0.0
    want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=False)
    got = dg.linalg.solve_triangular(dg.tensor(a), dg.tensor(b), upper=False)
    np.testing.assert_array_equal(np.isfinite(_np(got)), np.isfinite(_np(want)))
    np.testing.assert_array_equal(np.isnan(_np(got)), np.isnan(_np(want)))


@pytest.mark.parametrize(
    ("sa", "sb", "left"),
    [((4, 4), (4, 3), True), ((4, 4), (2, 3, 4), False), ((2, 1, 3, 3), (4, 3, 2), True)],
)
def test_solve_triangular_double_backward_matches_torch(
    lapack: str, sa: Any, sb: Any, left: bool
) -> None:
    for upper, unit in itertools.product([True, False], repeat=2):
        t_orders, d_orders = _orders(
            lambda lib, a, b, upper=upper, unit=unit: lib.linalg.solve_triangular(
                a, b, upper=upper, left=left, unitriangular=unit
            ),
            [_tri_input(sa), RNG.standard_normal(sb)],
            3,
        )
        for t_o, d_o in zip(t_orders, d_orders):
            for t, d in zip(t_o, d_o):
                _close(d, t, 1e-9)


def test_solve_triangular_gradgradcheck() -> None:
    a = dg.tensor(_tri_input((2, 3, 3)), requires_grad=True)
    b = dg.tensor(RNG.standard_normal((3, 2)), requires_grad=True)
    for upper, left, unit in itertools.product([True, False], repeat=3):
        bb = b if left else b.mT

        def f(x: Any, y: Any, upper: bool = upper, left: bool = left, unit: bool = unit) -> Any:
            return dg.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit)

        assert dg.gradcheck(f, (a, bb))
        assert dg.autograd.gradgradcheck(f, (a, bb))


def test_solve_triangular_one_side_requires_grad() -> None:
    a, b = _tri_input((3, 3)), RNG.standard_normal((3, 2))
    for wa, wb in ((True, False), (False, True)):
        res = []
        for lib in (torch, dg):
            ta, tb = lib.tensor(a, requires_grad=wa), lib.tensor(b, requires_grad=wb)
            x = lib.linalg.solve_triangular(ta, tb, upper=True)
            (g,) = lib.autograd.grad((x * x).sum(), [ta if wa else tb], create_graph=True)
            (h,) = lib.autograd.grad((g * g).sum(), [ta if wa else tb])
            res.append((x, g, h))
        for t, d in zip(*res):
            _close(d, t)


def test_solve_triangular_dtypes_as_torch() -> None:
    a, b = _tri_input((3, 3)), RNG.standard_normal((3, 2))
    # B is cast to A's dtype, as torch (whose result has A's dtype); B's grad keeps its own
    for da, db in [(np.float64, np.float32), (np.float32, np.float64), (np.float64, np.int64)]:
        res = []
        for lib in (torch, dg):
            ta = lib.tensor(a.astype(da), requires_grad=True)
            fb = np.dtype(db).kind == "f"
            tb = lib.tensor(b.astype(db), requires_grad=fb)
            x = lib.linalg.solve_triangular(ta, tb, upper=False)
            x.sum().backward()
            res.append((x, ta.grad, tb.grad if fb else None))
        tol = 1e-12 if np.float32 not in (da, db) else 1e-5
        for t, d in zip(*res):
            _close(d, t, tol)
    for bad in (np.int64, np.int32, np.bool_, np.float16):
        with pytest.raises(NotImplementedError, match="triangular_solve"):
            dg.linalg.solve_triangular(dg.tensor(a.astype(bad)), dg.tensor(b), upper=True)
        with pytest.raises(NotImplementedError):
            torch.linalg.solve_triangular(torch.tensor(a.astype(bad)), torch.tensor(b), upper=True)


@pytest.mark.parametrize(
    ("sa", "sb", "kw", "match"),
    [
        ((3,), (3, 2), {}, "A must have at least 2 dimensions"),
        ((3, 3), (3,), {}, "B must have at least 2 dimensions"),
        ((3, 2), (3, 2), {}, "A must be batches of square matrices"),
        ((3, 3), (4, 2), {}, r"equation AX = B \(3x3 and 4x2\)"),
        ((3, 3), (4, 2), {"left": False}, r"equation XA = B \(3x3 and 4x2\)"),
        ((3, 3), (3, 5), {"left": False}, r"equation XA = B \(3x3 and 3x5\)"),
        ((2, 3, 3), (3, 3, 5), {}, r"tensor a \(3\) must match the size of tensor b \(2\)"),
        ((2, 5, 3, 3), (7, 3, 5), {}, r"tensor a \(7\) .* tensor b \(5\) at non-singleton dim.* 1"),
        ((3, 3, 3), (2, 5, 3), {"left": False}, r"tensor a \(2\) .* b \(3\) at non-singleton"),
    ],
)
def test_solve_triangular_shape_errors_as_torch(sa: Any, sb: Any, kw: dict, match: str) -> None:
    for lib in (torch, dg):
        with pytest.raises(RuntimeError, match=match):
            lib.linalg.solve_triangular(
                lib.tensor(RNG.standard_normal(sa)),
                lib.tensor(RNG.standard_normal(sb)),
                upper=True,
                **kw,
            )


def test_solve_triangular_argument_errors_as_torch() -> None:
    a, b = _tri_input((3, 3)), RNG.standard_normal((3, 2))
    for lib in (torch, dg):
        ta, tb = lib.tensor(a), lib.tensor(b)
        with pytest.raises(TypeError):
            lib.linalg.solve_triangular(ta, tb)  # upper is required
        with pytest.raises(TypeError):
            lib.linalg.solve_triangular(ta, tb, True)  # keyword-only
        for kw in (
            {"upper": 1},
            {"upper": None},
            {"upper": True, "left": None},
            {"upper": True, "unitriangular": "no"},
        ):
            with pytest.raises(TypeError, match="must be bool"):
                lib.linalg.solve_triangular(ta, tb, **kw)
        with pytest.raises(TypeError):
            lib.linalg.solve_triangular(ta, b, upper=True)  # B an array, not a Tensor
        with pytest.raises(TypeError):
            lib.linalg.solve_triangular(a, tb, upper=True)


def test_solve_triangular_many_small_and_one_big(lapack: str) -> None:
    # a batch of A's (a loop of trtrs), one A for a batch of B's (one solve), a larger n
    # (and n > 64: the blocked substitution without scipy)
    for sa, sb in (
        ((50, 4, 4), (50, 4, 2)),
        ((1, 1, 40, 40), (3, 5, 40, 7)),
        ((150, 150), (150, 1)),
        ((2, 130, 130), (2, 130, 3)),
    ):
        for upper in (True, False):
            a, b = _tri_input(sa), RNG.standard_normal(sb)
            want = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=upper)
            got = dg.linalg.solve_triangular(dg.tensor(a), dg.tensor(b), upper=upper)
            _close(got, want, 1e-10)
            tri = np.triu(a) if upper else np.tril(a)
            np.testing.assert_allclose(tri @ _np(got), np.broadcast_to(b, got.shape), atol=1e-10)


# ---- 3. float16 reductions (accumulated in float32, as torch's CPU kernels) -------------------


@pytest.mark.parametrize("n", [0, 1, 5, 3001])
def test_float16_sum_mean_accumulate_in_float32(n: int) -> None:
    x = RNG.uniform(0, 1, (3, n)).astype(np.float16)
    for fn in (
        lambda lib, t: t.sum(),
        lambda lib, t: t.sum(1),
        lambda lib, t: t.sum(0, keepdim=True),
        lambda lib, t: t.float().sum(dtype=lib.float16),
        lambda lib, t: t.mean(1),
        lambda lib, t: t.mean(),
        lambda lib, t: t.nansum(1),
        lambda lib, t: lib.sum(t),
        lambda lib, t: lib.mean(t, 0),
    ):
        want, got = fn(torch, torch.tensor(x)), fn(dg, dg.tensor(x))
        assert _np(got).dtype == np.float16
        # torch sums in float32 and rounds once: one float16 ulp at most between the two
        np.testing.assert_allclose(
            _np(got).astype(np.float64), _np(want).astype(np.float64), rtol=2**-10, atol=0
        )
