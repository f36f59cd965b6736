"""linalg.solve (one LU per distinct A: a shared A's right-hand sides as the columns of one
solve), linalg.lstsq (normal equations with a Cholesky certificate of full rank when no graph
is recorded, the SVD otherwise) and linalg.eigh against torch: values, gradients, shapes,
errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import deltagrad as dg
from deltagrad import _linalg_more

RNG = np.random.default_rng(42)
DTYPES = [np.float64, np.float32]


def _tol(dtype: Any) -> dict[str, float]:
    return {"rtol": 1e-10, "atol": 1e-10} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-4}


def _close(ours: Any, theirs: Any, dtype: Any, scale: float = 1.0) -> None:
    o = np.asarray(ours.data if isinstance(ours, dg.Tensor) else ours)
    t = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert o.shape == t.shape
    assert o.dtype == t.dtype
    tol = _tol(dtype)
    np.testing.assert_allclose(o, t, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def _wc(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Well-conditioned square matrices (*, n, n)."""
    n = shape[-1]
    return (RNG.standard_normal(shape) + 2 * n**0.5 * np.eye(n)).astype(dtype)


# ---- solve -----------------------------------------------------------------------------------

SOLVE_SHAPES = [
    ((5, 5), (5, 3)),
    ((4, 7, 7), (4, 7, 2)),
    ((7, 7), (3, 2, 7, 4)),  # A shared by every batch entry
    ((2, 1, 6, 6), (3, 6, 4)),  # A shared along one axis
    ((1, 6, 6), (4, 6, 1)),
    ((3, 1, 5, 5), (1, 4, 5, 2)),  # both broadcast
    ((1, 1, 5, 5), (2, 3, 5, 2)),
    ((4, 5, 5), (5,)),  # a vector for every A
    ((4, 5, 5), (4, 5)),  # a batch of vectors
    ((5, 5), (5,)),
    ((1, 1), (1, 1)),
    ((1, 1), (6, 1, 3)),
    ((3, 4, 4), (3, 4, 0)),  # no columns
    ((0, 4, 4), (0, 4, 2)),  # empty batch
    ((4, 4), (0, 4, 2)),  # empty batch, A shared
    ((2, 5, 5), (0, 2, 5, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ashape", "bshape"), SOLVE_SHAPES)
def test_solve_values_and_gradients_match_torch(ashape: Any, bshape: Any, dtype: Any) -> None:
    a_np = _wc(ashape, dtype)
    b_np = RNG.standard_normal(bshape).astype(dtype)
    a, b = dg.tensor(a_np, requires_grad=True), dg.tensor(b_np, requires_grad=True)
    at, bt = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    x, xt = dg.linalg.solve(a, b), torch.linalg.solve(at, bt)
    _close(x, xt, dtype)
    c = RNG.standard_normal(tuple(xt.shape)).astype(dtype)
    (x * dg.tensor(c)).sum().backward()
    (xt * torch.tensor(c)).sum().backward()
    _close(a.grad, at.grad, dtype)
    _close(b.grad, bt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["A", "B"])
def test_solve_gradient_for_one_input_shared_a(which: str, dtype: Any) -> None:
    a_np = _wc((2, 1, 6, 6), dtype)
    b_np = RNG.standard_normal((2, 3, 6, 5)).astype(dtype)
    a, b = dg.tensor(a_np, requires_grad=which == "A"), dg.tensor(b_np, requires_grad=which == "B")
    at = torch.tensor(a_np, requires_grad=which == "A")
    bt = torch.tensor(b_np, requires_grad=which == "B")
    (dg.linalg.solve(a, b) ** 2).sum().backward()
    (torch.linalg.solve(at, bt) ** 2).sum().backward()
    if which == "A":
        _close(a.grad, at.grad, dtype, scale=10)
        assert b.grad is None
    else:
        _close(b.grad, bt.grad, dtype, scale=10)
        assert a.grad is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_solve_left_false_and_no_grad_shared_a(dtype: Any) -> None:
    a_np = _wc((5, 5), dtype)
    b_np = RNG.standard_normal((3, 4, 5)).astype(dtype)
    with dg.no_grad():
        x = dg.linalg.solve(dg.tensor(a_np, requires_grad=True), dg.tensor(b_np), left=False)
    assert not x.requires_grad
    _close(x, torch.linalg.solve(torch.tensor(a_np), torch.tensor(b_np), left=False), dtype)


def test_solve_shared_a_takes_one_factorization(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = _linalg_more._lu_factor

    def spy(a: Any, op: str, where: Any) -> Any:
        calls.append(a.shape)
        return real(a, op, where)

    monkeypatch.setattr(_linalg_more, "_lu_factor", spy)
    a_np, b_np = _wc((2, 1, 6, 6), np.float64), RNG.standard_normal((2, 5, 6, 3))
    a, b = dg.tensor(a_np, requires_grad=True), dg.tensor(b_np, requires_grad=True)
    dg.linalg.solve(a, b).sum().backward()
    assert calls == [(2, 6, 6)]  # 2 matrices, not 10; the backward reuses the forward's LU
    monkeypatch.setattr(_linalg_more, "_lu_factor", real)
    at, bt = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    torch.linalg.solve(at, bt).sum().backward()
    _close(a.grad, at.grad, np.float64)


@pytest.mark.parametrize("ashape", [(4, 4), (3, 4, 4), (1, 4, 4)])
def test_solve_singular_raises_as_torch(ashape: tuple[int, ...]) -> None:
    a_np = _wc(ashape, np.float64)
    a_np.reshape(-1, 4, 4)[-1, 2] = 0.0  # the last matrix singular (an exact zero pivot)
    b_np = RNG.standard_normal((2, 1, ashape[-1], 3))  # A shared along the first axis
    with pytest.raises(RuntimeError) as te:
        torch.linalg.solve(torch.tensor(a_np), torch.tensor(b_np))
    with pytest.raises(dg.linalg.LinAlgError, match="singular") as de:
        dg.linalg.solve(dg.tensor(a_np), dg.tensor(b_np))
    assert str(de.value) == str(te.value)


def test_solve_singular_in_backward_raises() -> None:
    # torch's backward solves with A^T too; a singular A fails the forward already
    a_np = np.zeros((3, 3))
    with pytest.raises(dg.linalg.LinAlgError):
        dg.linalg.solve(dg.tensor(a_np, requires_grad=True), dg.tensor(np.ones((4, 3, 2))))


# ---- lstsq -----------------------------------------------------------------------------------

LSTSQ_SHAPES = [
    ((9, 5), (9, 3)),
    ((4, 13, 6), (4, 13, 2)),  # tall
    ((3, 5, 11), (3, 5, 4)),  # wide: the minimum-norm solution
    ((2, 6, 6), (2, 6, 1)),  # square
    ((1, 8, 3), (4, 8, 2)),  # A broadcast
    ((2, 1, 7, 4), (2, 3, 7, 2)),
    ((4, 9, 5), (4, 9)),  # vectors (residuals (4, 1), as torch's)
    ((3, 7, 4), (3, 7)),
    ((1, 1), (1, 1)),
    ((3, 1, 1), (3, 1, 2)),
    ((0, 6, 4), (0, 6, 2)),  # empty batch
    ((2, 0, 3), (2, 0, 2)),  # empty matrices
    ((2, 3, 0), (2, 3, 2)),
    ((0, 3), (0, 2)),
]


def _torch_lstsq(a_np: Any, b_np: Any, driver: str, **kw: Any) -> Any:
    return torch.linalg.lstsq(torch.tensor(a_np), torch.tensor(b_np), driver=driver, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("driver", ["gelsy", "gels", "gelsd", "gelss"])
@pytest.mark.parametrize(("ashape", "bshape"), LSTSQ_SHAPES)
def test_lstsq_no_grad_matches_torch(ashape: Any, bshape: Any, driver: str, dtype: Any) -> None:
    a_np = RNG.standard_normal(ashape).astype(dtype)
    b_np = RNG.standard_normal(bshape).astype(dtype)
    m, n = ashape[-2:]
    if driver == "gels" and m < n:
        pytest.skip("torch's gels on a wide A is LAPACK's (not the minimum-norm solution)")
    if driver == "gels" and n == 0:
        pytest.skip("torch's gels gives zero residuals for n = 0 (|B|^2 for the others)")
    with dg.no_grad():
        r = dg.linalg.lstsq(dg.tensor(a_np, requires_grad=True), dg.tensor(b_np), driver=driver)
    t = _torch_lstsq(a_np, b_np, driver)
    assert not r.solution.requires_grad
    _close(r.solution, t.solution, dtype, scale=10)
    _close(r.residuals, t.residuals, dtype, scale=10)
    if driver != "gels":
        np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())
    else:
        assert r.rank.shape == (0,)
    _close(r.singular_values, t.singular_values, dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstsq_full_rank_no_grad_takes_no_svd(monkeypatch: pytest.MonkeyPatch, dtype: Any) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SVD ran")

    a_np = RNG.standard_normal((6, 20, 7)).astype(dtype)
    b_np = RNG.standard_normal((6, 20, 3)).astype(dtype)
    t = _torch_lstsq(a_np, b_np, "gelsy")
    monkeypatch.setattr(_linalg_more, "_lapack_svd", boom)
    r = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np))  # B records no graph either
    _close(r.solution, t.solution, dtype, scale=10)
    np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())
    with pytest.raises(AssertionError, match="the SVD ran"):  # a graph: pinv through the SVD
        dg.linalg.lstsq(dg.tensor(a_np, requires_grad=True), dg.tensor(b_np))


def _rank_deficient(batch: int, m: int, n: int, r: int, dtype: Any) -> np.ndarray:
    return (RNG.standard_normal((batch, m, r)) @ RNG.standard_normal((batch, r, n))).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n"), [(12, 6), (5, 9)])
def test_lstsq_rank_deficient_falls_back_to_the_svd(m: int, n: int, dtype: Any) -> None:
    # one rank-deficient matrix in the batch: the minimum-norm solution and the rank, as torch's
    a_np = RNG.standard_normal((3, m, n)).astype(dtype)
    a_np[1] = _rank_deficient(1, m, n, 3, dtype)[0]
    b_np = RNG.standard_normal((3, m, 2)).astype(dtype)
    r = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np), driver="gelsd")
    t = _torch_lstsq(a_np, b_np, "gelsd")
    _close(r.solution, t.solution, dtype, scale=100)
    np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())
    assert int(r.rank.data[1]) == 3
    ry = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np))  # gelsy: the same rank here
    np.testing.assert_array_equal(np.asarray(ry.rank.data), t.rank.numpy())
    _close(ry.solution, t.solution, dtype, scale=100)


@pytest.mark.parametrize(
    ("dtype", "decades", "svd"),
    [
        (np.float32, 3.5, False),  # cond ~ 3e3: the normal equations (in float64)
        (np.float32, 4.5, True),  # past the limit (cond 1e4): the SVD
        (np.float64, 1.5, False),  # cond ~ 30: the normal equations, refined once
        (np.float64, 7.0, True),
    ],
)
def test_lstsq_conditioning_picks_the_route(
    monkeypatch: pytest.MonkeyPatch, dtype: Any, decades: float, svd: bool
) -> None:
    # full rank, singular values from 1 down to 10^-decades: pinv(A) B to cond(A) * eps
    u, _ = np.linalg.qr(RNG.standard_normal((2, 15, 6)))
    v, _ = np.linalg.qr(RNG.standard_normal((2, 6, 6)))
    a_np = ((u * np.logspace(0, -decades, 6)) @ v.swapaxes(-1, -2)).astype(dtype)
    b_np = RNG.standard_normal((2, 15, 2)).astype(dtype)
    calls: list[int] = []
    real = _linalg_more._lapack_svd

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_linalg_more, "_lapack_svd", spy)
    r = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np))
    assert bool(calls) == svd
    p = np.linalg.pinv(a_np.astype(np.float64)) @ b_np.astype(np.float64)
    err = 10**decades * np.finfo(dtype).eps * 10 * np.abs(p).max()
    np.testing.assert_allclose(np.asarray(r.solution.data), p, atol=err)
    np.testing.assert_array_equal(np.asarray(r.rank.data), [6, 6])
    t = _torch_lstsq(a_np, b_np, "gelsd")
    np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())


@pytest.mark.parametrize("rcond", [None, 0.0, 0.5])
def test_lstsq_rcond_cuts_as_torch(rcond: Any) -> None:
    # rcond 0.5 drops singular values below half the largest: no longer full rank
    u, _ = np.linalg.qr(RNG.standard_normal((2, 10, 4)))
    a_np = (u * np.array([4.0, 3.0, 1.0, 0.5])) @ np.linalg.qr(RNG.standard_normal((4, 4)))[0]
    b_np = RNG.standard_normal((2, 10, 3))
    r = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np), rcond, driver="gelsd")
    t = _torch_lstsq(a_np, b_np, "gelsd", rcond=rcond)
    _close(r.solution, t.solution, np.float64)
    np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())
    _close(r.residuals, t.residuals, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ashape", "bshape"), [((3, 11, 5), (3, 11, 2)), ((2, 4, 7), (2, 4))])
def test_lstsq_gradients_match_torch(ashape: Any, bshape: Any, dtype: Any) -> None:
    a_np = RNG.standard_normal(ashape).astype(dtype)
    b_np = RNG.standard_normal(bshape).astype(dtype)
    a, b = dg.tensor(a_np, requires_grad=True), dg.tensor(b_np, requires_grad=True)
    at, bt = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    x = dg.linalg.lstsq(a, b).solution
    xt = torch.linalg.lstsq(at, bt).solution
    _close(x, xt, dtype, scale=10)
    c = RNG.standard_normal(tuple(xt.shape)).astype(dtype)
    (x * dg.tensor(c)).sum().backward()
    (xt * torch.tensor(c)).sum().backward()
    _close(a.grad, at.grad, dtype, scale=10)
    _close(b.grad, bt.grad, dtype, scale=10)


@pytest.mark.parametrize(
    ("ashape", "bshape"), [((1, 7, 4), (3, 7)), ((3, 7, 4), (7,)), ((7, 4), (2, 3, 7, 1))]
)
def test_lstsq_shapes_torch_refuses(ashape: Any, bshape: Any) -> None:
    # B of one dimension less is a batch of vectors only with A's shape without the last one
    a_np, b_np = RNG.standard_normal(ashape), RNG.standard_normal(bshape)
    with pytest.raises(RuntimeError):
        torch.linalg.lstsq(torch.tensor(a_np), torch.tensor(b_np))
    with pytest.raises(RuntimeError, match="linalg.lstsq"):
        dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np))


def test_lstsq_nan_raises() -> None:
    a_np = RNG.standard_normal((3, 8, 4))
    a_np[1, 2, 3] = np.nan
    with pytest.raises(dg.linalg.LinAlgError):
        dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(RNG.standard_normal((3, 8, 2))))


def test_lstsq_zero_matrix_is_rank_zero() -> None:
    a_np, b_np = np.zeros((2, 6, 3)), RNG.standard_normal((2, 6, 2))
    r = dg.linalg.lstsq(dg.tensor(a_np), dg.tensor(b_np), driver="gelsd")
    t = _torch_lstsq(a_np, b_np, "gelsd")
    _close(r.solution, t.solution, np.float64)
    np.testing.assert_array_equal(np.asarray(r.rank.data), t.rank.numpy())


# ---- eigh ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 6), (3, 9, 9), (2, 1, 1), (0, 4, 4), (4, 3, 3)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_values_and_gauge_invariant_gradient(shape: Any, uplo: str, dtype: Any) -> None:
    s = RNG.standard_normal(shape).astype(dtype)
    a, at = dg.tensor(s, requires_grad=True), torch.tensor(s, requires_grad=True)
    w, v = dg.linalg.eigh(a, UPLO=uplo)
    wt, vt = torch.linalg.eigh(at, UPLO=uplo)
    _close(w, wt, dtype)
    _close(v * v, vt * vt, dtype, scale=10)  # columns up to sign
    c = RNG.standard_normal(shape).astype(dtype)
    (w.sum() + (v * v * dg.tensor(c)).sum()).backward()
    (wt.sum() + (vt * vt * torch.tensor(c)).sum()).backward()
    _close(a.grad, at.grad, dtype, scale=100)


def test_eigh_nan_raises_as_torch() -> None:
    s = RNG.standard_normal((2, 4, 4))
    s[1, 2, 1] = np.nan
    with pytest.raises(RuntimeError):
        torch.linalg.eigh(torch.tensor(s))
    with pytest.raises(dg.linalg.LinAlgError):
        dg.linalg.eigh(dg.tensor(s))


@pytest.mark.parametrize("scale", [1e-160, 1e-155, 1e-140])
def test_lstsq_no_grad_at_tiny_scales_as_torch(scale):
    """A^T A near the subnormals has lost its relative precision (and tau underflows with
    it): the normal route declines there and the SVD answers, as torch does."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 32)) * scale
    x = rng.standard_normal((32, 2))
    b = a @ x
    with dg.no_grad():
        got = dg.linalg.lstsq(dg.tensor(a), dg.tensor(b)).solution.data
    want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b)).solution.numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    small = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) * 1e-160
    with dg.no_grad():
        got = dg.linalg.lstsq(dg.tensor(small), dg.tensor(np.array([[1.0], [2.0], [3.0]]) * 1e-160))
    np.testing.assert_allclose(got.solution.data[:, 0], [1.0, 2.0], rtol=1e-12)


@pytest.mark.parametrize(
    ("ashape", "bshape"),
    [((6, 6, 3), (6, 2)), ((1, 6, 3), (6, 2)), ((4, 6, 3), (1, 6, 2)), ((4, 6, 3), (4, 6))],
)
@pytest.mark.parametrize("grad", [False, True])
def test_lstsq_b_one_dim_short_follows_torchs_batch_rule(ashape, bshape, grad):
    """B one dimension short of A and not a vector batch: A's batch dims broadcast against
    B's dims but its last (torch's rule), values and result shape as torch's."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(ashape), rng.standard_normal(bshape)
    want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b)).solution.numpy()
    ad, bd = dg.tensor(a, requires_grad=grad), dg.tensor(b, requires_grad=grad)
    got = dg.linalg.lstsq(ad, bd).solution
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("ashape", "bshape"), [((4, 6, 3), (6, 2)), ((2, 1, 6, 3), (5, 6, 1))])
def test_lstsq_b_one_dim_short_refused_as_torch(ashape, bshape):
    a, b = np.ones(ashape), np.ones(bshape)
    with pytest.raises(RuntimeError, match="must match the size"):
        torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
    with pytest.raises(RuntimeError, match="must match the size"):
        dg.linalg.lstsq(dg.tensor(a), dg.tensor(b))
