"""Round 37: dg.linalg's decompositions, solvers and norms against torch.linalg (float64
forward and gradients, batched, 1x1 and empty batches, float32, error cases)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(37)


def _pair(a: np.ndarray) -> tuple[dg.Tensor, torch.Tensor]:
    return dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _np(t: object) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _close(a: object, b: object, tol: float = 1e-10) -> None:
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _spd(*shape: int) -> np.ndarray:
    n = shape[-1]
    x = RNG.standard_normal((*shape[:-1], n))
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def _sym(*shape: int) -> np.ndarray:
    x = RNG.standard_normal(shape)
    return x + np.swapaxes(x, -1, -2)


def _check(fn_dg, fn_t, a: np.ndarray, tol: float = 1e-10, gtol: float = 1e-9) -> None:
    """Forward and the gradient of sum(out * w) (w random) against torch."""
    x, xt = _pair(a)
    out, out_t = fn_dg(x), fn_t(xt)
    _close(out, out_t, tol)
    w = RNG.standard_normal(out_t.shape)
    (out * dg.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    if x.grad is None:  # ord=0 norms: no gradient flows (torch's is zero)
        assert xt.grad is None or not xt.grad.any()
        return
    _close(x.grad, xt.grad, gtol)


SHAPES = [(3, 3), (1, 1), (2, 4, 4), (2, 1, 5, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_det_slogdet_inv_logdet(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape) + 2 * np.eye(shape[-1])
    _check(dg.linalg.det, torch.linalg.det, a)
    _check(lambda x: dg.linalg.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x)[1], a)
    _close(dg.linalg.slogdet(dg.tensor(a)).sign, torch.linalg.slogdet(torch.tensor(a)).sign)
    _check(dg.linalg.inv, torch.linalg.inv, a, gtol=1e-8)
    _check(dg.inverse, torch.inverse, a, gtol=1e-8)
    spd = _spd(*shape)
    _check(dg.logdet, torch.logdet, spd)
    _check(dg.det, torch.det, a)


def test_det_singular_gradient_and_logdet_signs() -> None:
    a = RNG.standard_normal((4, 4))
    a[:, 3] = a[:, 0] + a[:, 1]  # rank 3: the adjugate is not zero
    _check(dg.linalg.det, torch.linalg.det, a, tol=1e-12, gtol=1e-9)
    neg = np.diag([-1.0, 2.0, 3.0])
    assert np.isnan(dg.logdet(dg.tensor(neg)).item())
    assert dg.logdet(dg.tensor(np.zeros((2, 2)))).item() == -np.inf
    s = dg.linalg.slogdet(dg.tensor(np.zeros((2, 2))))
    assert s.sign.item() == 0 and s.logabsdet.item() == -np.inf


@pytest.mark.parametrize("bshape", [(4, 2), (4,), (2, 4, 3), (1, 4, 1), (2, 4)])
def test_solve(bshape: tuple[int, ...]) -> None:
    a = RNG.standard_normal((2, 4, 4)) + 3 * np.eye(4)
    b = RNG.standard_normal(bshape)
    x, xt = _pair(a)
    y, yt = _pair(b)
    out, out_t = dg.linalg.solve(x, y), torch.linalg.solve(xt, yt)
    _close(out, out_t)
    w = RNG.standard_normal(out_t.shape)
    (out * dg.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    _close(x.grad, xt.grad)
    _close(y.grad, yt.grad)


def test_solve_left_false() -> None:
    a = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    b = RNG.standard_normal((2, 3))
    x, xt = _pair(a)
    y, yt = _pair(b)
    out, out_t = dg.linalg.solve(x, y, left=False), torch.linalg.solve(xt, yt, left=False)
    _close(out, out_t)
    out.sum().backward()
    out_t.sum().backward()
    _close(x.grad, xt.grad)
    _close(y.grad, yt.grad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape: tuple[int, ...], upper: bool) -> None:
    a = _spd(*shape)
    _check(
        lambda x: dg.linalg.cholesky(x, upper=upper),
        lambda x: torch.linalg.cholesky(x, upper=upper),
        a,
    )


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 4, 2), (1, 1), (2, 2, 5)])
def test_qr(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    _check(lambda x: dg.linalg.qr(x).Q, lambda x: torch.linalg.qr(x).Q, a)
    _check(lambda x: dg.linalg.qr(x)[1], lambda x: torch.linalg.qr(x)[1], a)
    x, xt = _pair(a)
    q, r = dg.linalg.qr(x)
    qt, rt = torch.linalg.qr(xt)
    wq, wr = RNG.standard_normal(qt.shape), RNG.standard_normal(rt.shape)
    ((q * dg.tensor(wq)).sum() + (r * dg.tensor(wr)).sum()).backward()
    ((qt * torch.tensor(wq)).sum() + (rt * torch.tensor(wr)).sum()).backward()
    _close(x.grad, xt.grad, 1e-9)
    for mode in ("complete", "r"):
        q, r = dg.linalg.qr(dg.tensor(a), mode=mode)
        qt, rt = torch.linalg.qr(torch.tensor(a), mode=mode)
        assert q.shape == tuple(qt.shape)
        _close(r, rt)
        if mode == "complete":
            _close(q, qt)


def test_qr_backward_errors() -> None:
    x = dg.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        dg.linalg.qr(x, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="complete"):
        dg.linalg.qr(x, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        dg.linalg.qr(x, mode="full")


def _gauge_u(u: np.ndarray) -> np.ndarray:
    """Columns of u with the sign that makes the largest-magnitude entry positive."""
    idx = np.abs(u).argmax(axis=-2)[..., None, :]
    return u * np.sign(np.take_along_axis(u, idx, axis=-2))


@pytest.mark.parametrize("shape", [(4, 4), (1, 1), (2, 3, 5, 5)])
def test_eigh(shape: tuple[int, ...]) -> None:
    a = _sym(*shape)
    _check(lambda x: dg.linalg.eigh(x).eigenvalues, lambda x: torch.linalg.eigh(x)[0], a)
    _check(dg.linalg.eigvalsh, torch.linalg.eigvalsh, a)
    _check(
        lambda x: dg.linalg.eigvalsh(x, UPLO="U"),
        lambda x: torch.linalg.eigvalsh(x, UPLO="U"),
        RNG.standard_normal(shape),
    )
    # eigenvectors: up to sign; gradient of a gauge-invariant loss (V^2 weighted)
    v = dg.linalg.eigh(dg.tensor(a)).eigenvectors.numpy()
    _close(_gauge_u(v), _gauge_u(torch.linalg.eigh(torch.tensor(a))[1].numpy()), 1e-9)
    w = RNG.standard_normal(shape)
    _check(
        lambda x: dg.linalg.eigh(x)[1] ** 2 * dg.tensor(w),
        lambda x: torch.linalg.eigh(x)[1] ** 2 * torch.tensor(w),
        a,
        tol=1e-9,
        gtol=1e-8,
    )


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 4, 2), (1, 1), (2, 2, 5)])
@pytest.mark.parametrize("full", [False, True])
def test_svd(shape: tuple[int, ...], full: bool) -> None:
    a = RNG.standard_normal(shape)
    _check(dg.linalg.svdvals, torch.linalg.svdvals, a)
    _check(
        lambda x: dg.linalg.svd(x, full_matrices=full).S,
        lambda x: torch.linalg.svd(x, full_matrices=full).S,
        a,
    )
    k = min(shape[-2:])
    u, s, vh = dg.linalg.svd(dg.tensor(a), full_matrices=full)
    ut, st, vht = torch.linalg.svd(torch.tensor(a), full_matrices=full)
    assert u.shape == tuple(ut.shape) and vh.shape == tuple(vht.shape)
    _close(_gauge_u(u.numpy()[..., :k]), _gauge_u(ut.numpy()[..., :k]), 1e-9)
    # gauge-invariant losses of U and Vh: (U_ij)^2 and (Vh_ij)^2 weighted
    wu = RNG.standard_normal((*shape[:-2], shape[-2], k))
    wv = RNG.standard_normal((*shape[:-2], k, shape[-1]))
    x, xt = _pair(a)
    u, s, vh = dg.linalg.svd(x, full_matrices=full)
    ut, st, vht = torch.linalg.svd(xt, full_matrices=full)
    loss = (u[..., :k] ** 2 * dg.tensor(wu)).sum() + (vh[..., :k, :] ** 2 * dg.tensor(wv)).sum()
    loss_t = (ut[..., :k] ** 2 * torch.tensor(wu)).sum()
    loss_t = loss_t + (vht[..., :k, :] ** 2 * torch.tensor(wv)).sum()
    (loss + s.sum()).backward()
    (loss_t + st.sum()).backward()
    _close(x.grad, xt.grad, 1e-8)


def test_svdvals_repeated_values_gradient() -> None:
    a = np.eye(3) * 2.0  # repeated singular values: svdvals' gradient is still defined
    _check(dg.linalg.svdvals, torch.linalg.svdvals, a)
    _check(dg.linalg.eigvalsh, torch.linalg.eigvalsh, a)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4), (1, 1)])
def test_pinv_rank_lstsq(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    _check(dg.linalg.pinv, torch.linalg.pinv, a, gtol=1e-8)
    _check(dg.pinverse, torch.pinverse, a, gtol=1e-8)
    if shape[-1] == shape[-2]:
        s = _sym(*shape)
        _check(
            lambda x: dg.linalg.pinv(x, hermitian=True),
            lambda x: torch.linalg.pinv(x, hermitian=True),
            s,
            gtol=1e-8,
        )
    r = dg.linalg.matrix_rank(dg.tensor(a))
    assert r.dtype == np.int64
    np.testing.assert_array_equal(r.numpy(), torch.linalg.matrix_rank(torch.tensor(a)).numpy())
    b = RNG.standard_normal((*shape[:-1], 2))
    for driver in (None, "gelsd"):
        x, xt = _pair(a)
        y, yt = _pair(b)
        res = dg.linalg.lstsq(x, y, driver=driver)
        res_t = torch.linalg.lstsq(xt, yt, driver=driver)
        _close(res.solution, res_t.solution, 1e-9)
        for f in ("residuals", "rank", "singular_values"):
            got, want = getattr(res, f), getattr(res_t, f)
            assert tuple(got.shape) == tuple(want.shape), f
            _close(got.to(dg.float64), want.double(), 1e-9)
        res.solution.sum().backward()
        res_t.solution.sum().backward()
        _close(x.grad, xt.grad, 1e-8)
        _close(y.grad, yt.grad, 1e-9)


def test_rank_deficient_rank_and_pinv() -> None:
    a = RNG.standard_normal((5, 2)) @ RNG.standard_normal((2, 4))
    assert dg.linalg.matrix_rank(dg.tensor(a)).item() == 2
    _close(dg.linalg.pinv(dg.tensor(a)), torch.linalg.pinv(torch.tensor(a)), 1e-9)
    for kw in ({"atol": 1.0}, {"rtol": 0.5}, {"atol": 0.1, "rtol": 0.2}):
        got = dg.linalg.matrix_rank(dg.tensor(a), **kw).item()
        assert got == torch.linalg.matrix_rank(torch.tensor(a), **kw).item()
        _close(dg.linalg.pinv(dg.tensor(a), **kw), torch.linalg.pinv(torch.tensor(a), **kw))


VORDS = [2, 1, 3.5, 0.5, np.inf, -np.inf, 0, -1, -2.5]


@pytest.mark.parametrize("ord", VORDS)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, True), ((0, 2), False), (-1, False)])
def test_vector_norm(ord: float, dim: object, keepdim: bool) -> None:  # noqa: A002
    a = RNG.standard_normal((3, 4, 5))
    _check(
        lambda x: dg.linalg.vector_norm(x, ord, dim, keepdim),
        lambda x: torch.linalg.vector_norm(x, ord, dim, keepdim),
        a,
    )


MORDS = ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]


@pytest.mark.parametrize("ord", MORDS)
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm(ord: object, dim: tuple[int, int], keepdim: bool) -> None:  # noqa: A002
    a = RNG.standard_normal((3, 4, 5))
    _check(
        lambda x: dg.linalg.matrix_norm(x, ord, dim, keepdim),
        lambda x: torch.linalg.matrix_norm(x, ord, dim, keepdim),
        a,
        gtol=1e-9,
    )


@pytest.mark.parametrize(
    "shape,ord,dim",
    [
        ((5,), None, None),
        ((3, 4), None, None),
        ((3, 4), "nuc", None),
        ((3, 4), 2, None),
        ((5,), 3, None),
        ((2, 3, 4), None, None),
        ((2, 3, 4), 1, 1),
        ((2, 3, 4), -2, (0, 1)),
    ],
)
def test_norm(shape: tuple[int, ...], ord: object, dim: object) -> None:  # noqa: A002
    a = RNG.standard_normal(shape)
    for keepdim in (False, True):
        _check(
            lambda x, k=keepdim: dg.linalg.norm(x, ord, dim, k),
            lambda x, k=keepdim: torch.linalg.norm(x, ord, dim, k),
            a,
        )


def test_empty_batches_and_sizes() -> None:
    for shape in [(0, 3, 3), (2, 0, 0)]:
        a = np.zeros(shape)
        for fn, fn_t in [
            (dg.linalg.det, torch.linalg.det),
            (dg.linalg.inv, torch.linalg.inv),
            (dg.linalg.cholesky, torch.linalg.cholesky),
            (dg.linalg.eigvalsh, torch.linalg.eigvalsh),
            (dg.linalg.svdvals, torch.linalg.svdvals),
            (dg.linalg.pinv, torch.linalg.pinv),
            (lambda x: dg.linalg.qr(x).Q, lambda x: torch.linalg.qr(x).Q),
            (lambda x: dg.linalg.svd(x)[0], lambda x: torch.linalg.svd(x)[0]),
        ]:
            x, xt = _pair(a)
            out, out_t = fn(x), fn_t(xt)
            assert out.shape == tuple(out_t.shape)
            _close(out, out_t)
            out.sum().backward()
            assert x.grad is None or x.grad.shape == a.shape


def test_float32() -> None:
    a = RNG.standard_normal((2, 4, 4)) + 3 * np.eye(4)
    spd = _spd(2, 4, 4)
    for fn, fn_t, arr in [
        (dg.linalg.det, torch.linalg.det, a),
        (dg.linalg.inv, torch.linalg.inv, a),
        (dg.linalg.cholesky, torch.linalg.cholesky, spd),
        (dg.linalg.eigvalsh, torch.linalg.eigvalsh, spd),
        (dg.linalg.svdvals, torch.linalg.svdvals, a),
        (dg.linalg.pinv, torch.linalg.pinv, a),
        (
            lambda x: dg.linalg.matrix_norm(x, "nuc"),
            lambda x: torch.linalg.matrix_norm(x, "nuc"),
            a,
        ),
    ]:
        x = dg.tensor(arr.astype(np.float32), requires_grad=True)
        xt = torch.tensor(arr.astype(np.float32), requires_grad=True)
        out, out_t = fn(x), fn_t(xt)
        assert out.dtype == np.float32
        np.testing.assert_allclose(_np(out), _np(out_t), rtol=1e-4, atol=1e-4)
        out.sum().backward()
        out_t.sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(_np(x.grad), _np(xt.grad), rtol=1e-4, atol=1e-4)


def test_gradcheck() -> None:
    a = RNG.standard_normal((3, 3)) + 2 * np.eye(3)
    for fn in (dg.linalg.det, dg.linalg.inv, lambda x: dg.linalg.cholesky(x @ x.mT)):
        assert dg.gradcheck(fn, (dg.tensor(a, requires_grad=True),))
    b = RNG.standard_normal((3, 2))
    assert dg.gradcheck(
        dg.linalg.solve, (dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True))
    )


def test_errors() -> None:
    sq = dg.tensor(RNG.standard_normal((2, 3)))
    for fn in (dg.linalg.det, dg.linalg.inv, dg.linalg.cholesky, dg.linalg.eigh, dg.logdet):
        with pytest.raises(RuntimeError, match="square"):
            fn(sq)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        dg.linalg.det(dg.tensor(np.ones(3)))
    with pytest.raises(RuntimeError, match="floating point"):
        dg.linalg.inv(dg.tensor(np.eye(2, dtype=np.int64)))
    with pytest.raises(TypeError, match="expected a Tensor"):
        dg.linalg.svd(np.eye(2))
    with pytest.raises(dg.linalg.LinAlgError, match="singular"):
        dg.linalg.inv(dg.tensor(np.zeros((2, 2))))
    with pytest.raises(dg.linalg.LinAlgError, match="singular"):
        dg.linalg.solve(dg.tensor(np.zeros((2, 2))), dg.tensor(np.ones(2)))
    assert issubclass(dg.linalg.LinAlgError, RuntimeError)
    bad = -np.eye(3)
    bad[0, 0] = 1.0
    msg = torch_msg = None
    try:
        torch.linalg.cholesky(torch.tensor(np.stack([np.eye(3), bad])))
    except RuntimeError as e:
        torch_msg = str(e)
    with pytest.raises(dg.linalg.LinAlgError) as info:
        dg.linalg.cholesky(dg.tensor(np.stack([np.eye(3), bad])))
    msg = str(info.value)
    assert msg == torch_msg
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        dg.linalg.solve(dg.tensor(np.eye(3)), dg.tensor(np.ones((2, 1))))
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.linalg.solve(dg.tensor(np.eye(2)), dg.tensor(np.ones(2, dtype=np.float32)))
    with pytest.raises(RuntimeError, match="UPLO"):
        dg.linalg.eigh(dg.tensor(np.eye(2)), UPLO="X")
    with pytest.raises(RuntimeError, match="not supported"):
        dg.linalg.matrix_norm(dg.tensor(np.eye(2)), 3)
    with pytest.raises(RuntimeError, match="1D or 2D"):
        dg.linalg.norm(dg.tensor(np.ones((2, 2, 2))), 2)
    with pytest.raises(RuntimeError, match="driver"):
        dg.linalg.lstsq(dg.tensor(np.eye(2)), dg.tensor(np.ones((2, 1))), driver="x")
    with pytest.raises(RuntimeError, match="floating point"):
        dg.linalg.vector_norm(dg.tensor(np.ones(3, dtype=np.int64)))
