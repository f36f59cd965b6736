"""linalg.solve on deltagrad's batched LU (_cpu.lu_factor / lu_solve: the forward factors A once,
the backward's A^-T G reuses the factors) against torch: values, gradients, broadcasting, vector
B, left=False, n = 0 / 1 / odd / past the LU's panel width, singular and ill-conditioned A,
gradcheck; the kernels against NumPy float64 and their bad input; eigh / svd of float32 in
float32 (numpy.linalg computes it in float64)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import deltagrad as dg
from deltagrad import _cpu, _linalg_more

RNG = np.random.default_rng(45)
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def _close(ours: Any, theirs: Any, dtype: Any, scale: float = 1.0) -> None:
    o = np.asarray(ours.data if isinstance(ours, dg.Tensor) else ours)
    t = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert o.shape == t.shape
    assert o.dtype == np.dtype(dtype)
    tol = TOL[dtype] * scale
    np.testing.assert_allclose(o, t, rtol=tol, atol=tol)


def _wc(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Well-conditioned square matrices (*, n, n), pivoting needed (no dominant diagonal)."""
    n = shape[-1]
    a = RNG.standard_normal(shape) + 2 * n**0.5 * np.eye(n)
    return np.ascontiguousarray(a[..., RNG.permutation(n), :], dtype=dtype)


def _both(a_np: np.ndarray, b_np: np.ndarray, left: bool = True) -> tuple[Any, ...]:
    """(dg x, dg a, dg b, torch x, torch a, torch b) after the same backward on both."""
    da, db = dg.tensor(a_np, requires_grad=True), dg.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    dx, tx = dg.linalg.solve(da, db, left=left), torch.linalg.solve(ta, tb, left=left)
    g_np = RNG.standard_normal(tuple(tx.shape)).astype(a_np.dtype)
    dx.backward(dg.tensor(g_np))
    tx.backward(torch.tensor(g_np))
    return dx, da, db, tx, ta, tb


SHAPES = [
    ((64, 64, 64), (64, 64, 8)),  # the benchmark's shape
    ((256, 8, 8), (256, 8, 8)),
    ((2, 70, 70), (2, 70, 5)),  # past one panel (32 columns): the blocked path's GEMM update
    ((2, 90, 90), (2, 90, 16)),  # float64 past L1: the fused panel, the backward's axpy form
    ((3, 70, 70), (3, 70, 40)),  # a wide B: the solves by blocks of rows through GEMM
    ((5, 5), (5, 3)),
    ((3, 33, 33), (3, 33, 17)),  # odd n, k past one vector
    ((7, 7), (3, 2, 7, 4)),  # A shared by every batch entry
    ((2, 1, 6, 6), (3, 6, 4)),  # A shared along one axis
    ((3, 1, 5, 5), (1, 4, 5, 2)),  # both broadcast
    ((4, 5, 5), (5,)),  # one vector for every A
    ((4, 5, 5), (4, 5)),  # a batch of vectors
    ((1, 1), (1, 1)),
    ((4, 1, 1), (4, 1, 3)),
    ((3, 0, 0), (3, 0, 2)),  # n = 0
    ((0, 4, 4), (0, 4, 2)),  # empty batch
    ((3, 4, 4), (3, 4, 0)),  # no columns
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ashape", "bshape"), SHAPES)
def test_solve_values_and_gradients_as_torch(ashape: Any, bshape: Any, dtype: Any) -> None:
    a_np, b_np = _wc(ashape, dtype), RNG.standard_normal(bshape).astype(dtype)
    dx, da, db, tx, ta, tb = _both(a_np, b_np)
    _close(dx, tx, dtype)
    _close(da.grad, ta.grad, dtype)
    _close(db.grad, tb.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ashape", "bshape"), [((4, 6, 6), (4, 3, 6)), ((9, 9), (2, 5, 9))])
def test_solve_left_false_as_torch(ashape: Any, bshape: Any, dtype: Any) -> None:
    a_np, b_np = _wc(ashape, dtype), RNG.standard_normal(bshape).astype(dtype)
    dx, da, db, tx, ta, tb = _both(a_np, b_np, left=False)
    _close(dx, tx, dtype)
    _close(da.grad, ta.grad, dtype)
    _close(db.grad, tb.grad, dtype)


def test_solve_factors_a_once_for_forward_and_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = _linalg_more._lu_factor

    def spy(a: Any, op: str, where: Any) -> Any:
        calls.append(a.shape)
        return real(a, op, where)

    monkeypatch.setattr(_linalg_more, "_lu_factor", spy)
    a_np, b_np = _wc((2, 1, 6, 6), np.float64), RNG.standard_normal((2, 5, 6, 3))
    a, b = dg.tensor(a_np, requires_grad=True), dg.tensor(b_np, requires_grad=True)
    dg.linalg.solve(a, b).sum().backward()
    assert calls == [(2, 6, 6)]  # the forward's 2 distinct matrices; the backward reuses them
    at, bt = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    torch.linalg.solve(at, bt).sum().backward()
    _close(a.grad, at.grad, np.float64)
    _close(b.grad, bt.grad, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("ashape", "bad", "bshape"),
    [((4, 4), 0, (4, 2)), ((3, 4, 4), 1, (3, 4, 2)), ((2, 1, 5, 5), 1, (2, 3, 5, 1)),
     ((1, 1), 0, (1,)), ((3, 40, 40), 2, (40,))],
)  # fmt: skip
def test_solve_singular_raises_as_torch(ashape: Any, bad: int, bshape: Any, dtype: Any) -> None:
    a_np = _wc(ashape, dtype)
    flat = a_np.reshape(-1, *ashape[-2:])
    flat[bad, :, -1] = 0.0  # a zero column: an exact zero pivot, whatever the row swaps
    b_np = RNG.standard_normal(bshape).astype(dtype)
    with pytest.raises(RuntimeError) as te:
        torch.linalg.solve(torch.tensor(a_np), torch.tensor(b_np))
    with pytest.raises(dg.linalg.LinAlgError, match="singular") as de:
        dg.linalg.solve(dg.tensor(a_np, requires_grad=True), dg.tensor(b_np))
    assert str(de.value) == str(te.value)


@pytest.mark.parametrize("n", [6, 10])
def test_solve_ill_conditioned_as_accurate_as_torch(n: int) -> None:
    # Hilbert matrices (cond 1.5e7 and 1.6e13): the residual is what LU with partial pivoting
    # keeps small; the solution agrees with torch's to cond * eps
    i = np.arange(n)
    a_np = 1.0 / (i[:, None] + i[None, :] + 1.0)
    b_np = RNG.standard_normal((n, 2))
    x = dg.linalg.solve(dg.tensor(a_np), dg.tensor(b_np)).numpy()
    t = torch.linalg.solve(torch.tensor(a_np), torch.tensor(b_np)).numpy()
    eps = np.finfo(np.float64).eps
    bound = n * eps * np.abs(x).max()  # backward stable: |A x - b| <~ n eps |A| |x| (|A| = 1)
    assert np.abs(a_np @ x - b_np).max() <= 10 * bound
    assert np.abs(a_np @ t - b_np).max() <= 10 * bound  # torch's too
    cond = np.linalg.cond(a_np)
    assert np.abs(x - t).max() <= 10 * cond * eps * np.abs(t).max()


def test_solve_non_finite_gives_nan_as_torch() -> None:
    a_np = _wc((2, 4, 4), np.float64)
    a_np[1, 2, 1] = np.nan
    b_np = RNG.standard_normal((2, 4, 3))
    x = dg.linalg.solve(dg.tensor(a_np), dg.tensor(b_np)).numpy()
    t = torch.linalg.solve(torch.tensor(a_np), torch.tensor(b_np)).numpy()
    np.testing.assert_allclose(x[0], t[0], rtol=1e-10)
    assert np.isnan(x[1]).all() and np.isnan(t[1]).all()


def test_solve_gradcheck_and_gradgradcheck() -> None:
    a = dg.tensor(_wc((2, 4, 4), np.float64), requires_grad=True)
    b = dg.tensor(RNG.standard_normal((3, 1, 4, 2)), requires_grad=True)
    assert dg.autograd.gradcheck(dg.linalg.solve, (a, b))
    v = dg.tensor(RNG.standard_normal((4,)), requires_grad=True)
    assert dg.autograd.gradcheck(dg.linalg.solve, (a, v))
    assert dg.autograd.gradgradcheck(dg.linalg.solve, (a, b))


# ---- the kernels -----------------------------------------------------------------------------


def _unpack(lu: np.ndarray, piv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P^T A, L U) of one matrix from lu_factor's factors (P^T A: A's rows swapped in order)."""
    n = lu.shape[-1]
    perm = np.arange(n)
    for j, p in enumerate(piv):
        perm[[j, p]] = perm[[p, j]]
    low = np.tril(lu, -1) + np.eye(n)
    return perm, low @ np.triu(lu)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 16, 31, 32, 33, 65, 100, 130])
def test_lu_kernels_against_numpy(n: int, dtype: Any) -> None:
    a = _wc((3, n, n), dtype)
    a[1] = a[1] * 1e-30  # tiny pivots: still a plain LU (the reciprocal would not overflow)
    lu, piv, info = _cpu.lu_factor(a)
    assert lu.dtype == a.dtype and piv.dtype == np.int64 and not info.any()
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for i in range(3):
        perm, prod = _unpack(lu[i].astype(np.float64), piv[i])
        assert (piv[i] >= np.arange(n)).all()
        assert np.abs(np.tril(lu[i], -1)).max(initial=0) <= 1  # partial pivoting: |l_ij| <= 1
        scale = np.abs(a[i]).max()
        np.testing.assert_allclose(prod, a[i][perm].astype(np.float64), atol=tol * n * scale)
    # 16: whole vectors; 40: a wide b, solved by blocks of rows through GEMM
    for k, trans in [(5, False), (5, True), (16, False), (16, True), (40, False), (40, True)]:
        b = RNG.standard_normal((3, n, k)).astype(dtype)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        x = _cpu.lu_solve(lu, piv, b, trans)
        want = np.linalg.solve(np.swapaxes(a64, -1, -2) if trans else a64, b64)
        np.testing.assert_allclose(
            x, want, rtol=tol * n * 10, atol=tol * n * 10 * np.abs(want).max()
        )


@pytest.mark.parametrize(
    ("shape", "dtype"), [((8, 70, 70), np.float32), ((6, 100, 100), np.float64)]
)
def test_lu_kernels_threads_give_the_same_bits(shape: Any, dtype: Any) -> None:
    a = _wc(shape, dtype)
    b = RNG.standard_normal((*shape[:-1], 8)).astype(dtype)
    before = dg.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            dg.set_num_threads(threads)
            lu, piv, _ = _cpu.lu_factor(a)
            out.append((lu, piv, _cpu.lu_solve(lu, piv, b, True)))
    finally:
        dg.set_num_threads(before)
    for x, y in zip(out[0], out[1]):
        np.testing.assert_array_equal(x, y)


def test_lu_kernels_flag_the_first_zero_pivot() -> None:
    a = _wc((3, 5, 5), np.float64)
    a[1, :, 2] = 0.0
    a[1, :, 3] = 0.0
    a[2] = 0.0
    _, _, info = _cpu.lu_factor(a)
    assert info.tolist() == [0, 3, 1]


def test_lu_kernels_bad_input() -> None:
    a = _wc((2, 3, 3), np.float64)
    lu, piv, _ = _cpu.lu_factor(a)
    b = np.ones((2, 3, 1))
    with pytest.raises(ValueError, match="square"):
        _cpu.lu_factor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="3-D"):
        _cpu.lu_factor(np.ones((3, 3)))
    with pytest.raises(TypeError, match="float32 or float64"):
        _cpu.lu_factor(np.ones((1, 3, 3), np.int64))
    with pytest.raises(ValueError, match="contiguous"):
        _cpu.lu_factor(np.ones((1, 3, 3)).transpose(0, 2, 1))
    with pytest.raises(TypeError, match="dtype"):
        _cpu.lu_solve(lu, piv, b.astype(np.float32))
    with pytest.raises(TypeError, match="int64"):
        _cpu.lu_solve(lu, piv.astype(np.int32), b)
    with pytest.raises(ValueError, match="shape"):
        _cpu.lu_solve(lu, np.ascontiguousarray(piv[:, :2]), b)
    with pytest.raises(ValueError, match="shape"):
        _cpu.lu_solve(lu, piv, np.ones((2, 4, 1)))
    for bad in (-1, 3):
        p = piv.copy()
        p[1, 0] = bad
        with pytest.raises(ValueError, match="piv"):
            _cpu.lu_solve(lu, p, b)
    p = piv.copy()
    p[0, 2] = 1  # a swap with a row above: not one lu_factor makes
    with pytest.raises(ValueError, match="piv"):
        _cpu.lu_solve(lu, p, b)


# ---- eigh / svd: float32 in float32 ----------------------------------------------------------


def test_float32_eigh_and_svd_run_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("numpy.linalg (float64 inside) was called for float32")

    for name in ("eigh", "eigvalsh", "svd"):
        monkeypatch.setattr(np.linalg, name, refuse)
    a_np = RNG.standard_normal((5, 9, 9)).astype(np.float32)
    s_np = a_np + np.swapaxes(a_np, -1, -2)
    for uplo in ("L", "U"):
        w, v = dg.linalg.eigh(dg.tensor(s_np), UPLO=uplo)
        tw, tv = torch.linalg.eigh(torch.tensor(s_np), UPLO=uplo)
        _close(w, tw, np.float32, scale=10)
        _close(abs(v.numpy()), tv.abs(), np.float32, scale=10)  # eigenvectors up to sign
        _close(dg.linalg.eigvalsh(dg.tensor(s_np), UPLO=uplo), tw, np.float32, scale=10)
    for full in (True, False):
        u, s, vh = dg.linalg.svd(dg.tensor(a_np[:, :, :6]), full_matrices=full)
        tu, ts, tvh = torch.linalg.svd(torch.tensor(a_np[:, :, :6]), full_matrices=full)
        _close(s, ts, np.float32, scale=10)
        rebuilt = (u.numpy()[..., :6] * s.numpy()[..., None, :]) @ vh.numpy()
        np.testing.assert_allclose(rebuilt, a_np[:, :, :6], atol=1e-4)
        assert u.dtype == vh.dtype == dg.float32
    _close(dg.linalg.svdvals(dg.tensor(a_np)), torch.linalg.svdvals(torch.tensor(a_np)), np.float32)


def test_float32_eigh_non_finite_raises_as_torch() -> None:
    a_np = RNG.standard_normal((3, 4, 4)).astype(np.float32)
    a_np = a_np + np.swapaxes(a_np, -1, -2)
    a_np[1, 0, 0] = np.nan
    with pytest.raises(RuntimeError) as te:
        torch.linalg.eigh(torch.tensor(a_np))
    with pytest.raises(dg.linalg.LinAlgError) as de:
        dg.linalg.eigh(dg.tensor(a_np))
    assert "Batch element 1" in str(te.value) and "Batch element 1" in str(de.value)
