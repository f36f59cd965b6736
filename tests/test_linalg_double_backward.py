"""Double backward (create_graph=True) of dg.linalg's decompositions, solvers and norms against
torch 2.13, float64: gradgradcheck of each op (batched and unbatched, 1x1 included), and the
first and second derivatives (w.r.t. the inputs and the grad_outputs) compared with torch's to
1e-8; third derivatives, singular matrices for det, the Tensor methods built on them, errors."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(40)
TOL = 1e-8


def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)  # force: torch's ZeroTensor (a zero gradient)
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _close(d: Any, t: Any, tol: float = TOL) -> None:
    if t is None:  # torch: unused (a zero gradient); deltagrad may give zeros or None
        assert d is None or np.allclose(_np(d), 0.0, rtol=0.0, atol=tol)
        return
    assert d is not None
    np.testing.assert_allclose(_np(d), _np(t), rtol=tol, atol=tol)


def _outs(r: Any) -> tuple[Any, ...]:
    return tuple(r) if isinstance(r, tuple) else (r,)


def _second(fd: Callable, ft: Callable, arrays: list[np.ndarray], tol: float = TOL) -> None:
    """outs = f(x...); first = d <v, outs> / dx (create_graph=True); second = d <w, first> /
    d(x..., v...): deltagrad's outs, first and second against torch's."""
    xs = [dg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    od, ot = _outs(fd(*xs)), _outs(ft(*ts))
    assert len(od) == len(ot)
    for d, t in zip(od, ot):
        _close(d, t, tol)
    vs = [RNG.standard_normal(tuple(t.shape)) for t in ot]
    vd = [dg.tensor(v, requires_grad=True) for v in vs]
    vt = [torch.tensor(v, requires_grad=True) for v in vs]
    fd1 = dg.autograd.grad(list(od), xs, vd, create_graph=True)
    ft1 = torch.autograd.grad(list(ot), ts, vt, create_graph=True)
    for d, t in zip(fd1, ft1):
        _close(d, t, tol)
    ws = [RNG.standard_normal(tuple(t.shape)) for t in ft1]
    ld = sum((g * dg.tensor(w)).sum() for g, w in zip(fd1, ws))
    lt = sum((g * torch.tensor(w)).sum() for g, w in zip(ft1, ws))
    sd = dg.autograd.grad(ld, xs + vd, allow_unused=True)
    st = torch.autograd.grad(lt, ts + vt, allow_unused=True)
    for d, t in zip(sd, st):
        _close(d, t, tol)


def _ggc(fn: Callable, *arrays: np.ndarray) -> None:
    ins = tuple(dg.tensor(a, requires_grad=True) for a in arrays)
    assert dg.autograd.gradgradcheck(fn, ins)


def _wc(*shape: int) -> np.ndarray:
    """A well-conditioned square batch."""
    return RNG.standard_normal(shape) + 2 * shape[-1] ** 0.5 * np.eye(shape[-1])


def _eye_like(x: Any) -> Any:
    n = x.shape[-1]
    if isinstance(x, torch.Tensor):
        return torch.eye(n, dtype=x.dtype)
    return dg.tensor(np.eye(n))


def _spd(x: Any) -> Any:
    """x x^T + n I: positive definite and symmetric (the gradient checks see both triangles)."""
    return x @ x.mT + x.shape[-1] * _eye_like(x)


def _both(name: str) -> tuple[Callable, Callable]:
    """(dg's, torch's) function of that dotted name under linalg."""
    return getattr(dg.linalg, name), getattr(torch.linalg, name)


SQUARE = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3)]


# ---- det / slogdet / logdet / inv ------------------------------------------------------------


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("name", ["det", "inv"])
def test_det_inv_second(name: str, shape: tuple[int, ...]) -> None:
    fd, ft = _both(name)
    _second(fd, ft, [_wc(*shape)])


@pytest.mark.parametrize("shape", SQUARE)
def test_slogdet_logdet_second(shape: tuple[int, ...]) -> None:
    a = _wc(*shape)
    _second(lambda x: dg.linalg.slogdet(x)[1], lambda x: torch.linalg.slogdet(x)[1], [a])
    _second(lambda x: dg.logdet(_spd(x)), lambda x: torch.logdet(_spd(x)), [a])


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 3, 3)])
def test_det_slogdet_inv_gradgradcheck(shape: tuple[int, ...]) -> None:
    a = _wc(*shape)
    _ggc(dg.linalg.det, a)
    _ggc(dg.linalg.inv, a)
    _ggc(lambda x: dg.linalg.slogdet(x)[1], a)
    _ggc(lambda x: dg.logdet(_spd(x)), a)


def test_det_singular_second() -> None:
    """Rank-deficient matrices (distinct singular values, one 0) take the SVD formula, the
    others the inverse, in one batch: both against torch's."""
    u = np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    v = np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    sing = u @ np.diag([3.0, 1.5, 0.0]) @ v.T
    a = np.stack([_wc(3, 3), sing, _wc(3, 3), sing[::-1].copy()])
    _second(dg.linalg.det, torch.linalg.det, [a], tol=1e-7)
    _ggc(dg.linalg.det, sing)
    # exactly singular: rank 2 of 3, rank 1 of 2, the 1x1 zero
    for m in (
        np.arange(1.0, 10.0).reshape(3, 3),
        np.array([[1.0, 2.0], [2.0, 4.0]]),
        np.zeros((1, 1)),
    ):
        _second(dg.linalg.det, torch.linalg.det, [m], tol=1e-7)


def test_third_order() -> None:
    a = _wc(3, 3)
    x, xt = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    outs = []
    for t, lib in ((x, dg), (xt, torch)):
        la = lib.linalg
        y = la.det(t) + la.inv(t).sum() + la.cholesky(_spd(t)).sum() + la.qr(t)[1].sum()
        y = y + la.svdvals(t).sum() + (la.eigh(_sym(t))[1] ** 2).sum() + la.slogdet(t)[1]
        (g1,) = lib.autograd.grad(y, t, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), t, create_graph=True)
        (g3,) = lib.autograd.grad(g2.sum(), t)
        outs.append((g1, g2, g3))
    for d, t in zip(*outs):
        _close(d, t)


# ---- solve -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ashape", "bshape"),
    [((3, 3), (3, 2)), ((1, 1), (1, 1)), ((3, 3), (3,)), ((2, 3, 3), (3,)), ((3, 3), (2, 3, 4))],
)
def test_solve_second(ashape: tuple[int, ...], bshape: tuple[int, ...]) -> None:
    a, b = _wc(*ashape), RNG.standard_normal(bshape)
    _second(dg.linalg.solve, torch.linalg.solve, [a, b])
    _ggc(dg.linalg.solve, a, b)


def test_solve_left_false_and_one_input() -> None:
    a, b = _wc(3, 3), RNG.standard_normal((2, 3))
    _second(
        lambda x, y: dg.linalg.solve(x, y, left=False),
        lambda x, y: torch.linalg.solve(x, y, left=False),
        [a, b],
    )
    # only A (only B) requires grad
    for i in (0, 1):
        xs = [dg.tensor(a), dg.tensor(b.T.copy())]
        ts = [torch.tensor(a), torch.tensor(b.T.copy())]
        xs[i].requires_grad_(True)
        ts[i].requires_grad_(True)
        (gd,) = dg.autograd.grad((dg.linalg.solve(*xs) ** 2).sum(), xs[i], create_graph=True)
        (gt,) = torch.autograd.grad((torch.linalg.solve(*ts) ** 2).sum(), ts[i], create_graph=True)
        _close(
            dg.autograd.grad((gd**2).sum(), xs[i])[0], torch.autograd.grad((gt**2).sum(), ts[i])[0]
        )


# ---- cholesky --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_second(shape: tuple[int, ...], upper: bool) -> None:
    a = RNG.standard_normal(shape)
    _second(
        lambda x: dg.linalg.cholesky(_spd(x), upper=upper),
        lambda x: torch.linalg.cholesky(_spd(x), upper=upper),
        [a],
    )
    if len(shape) <= 3:
        _ggc(lambda x: dg.linalg.cholesky(_spd(x), upper=upper), a)


# ---- qr --------------------------------------------------------------------------------------

QR_SHAPES = [(1, 1), (3, 3), (4, 3), (3, 5), (2, 4, 2), (2, 2, 4)]


@pytest.mark.parametrize("shape", QR_SHAPES)
def test_qr_second(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    _second(lambda x: tuple(dg.linalg.qr(x)), lambda x: tuple(torch.linalg.qr(x)), [a])
    _ggc(lambda x: tuple(dg.linalg.qr(x)), a)
    # only R reaches the loss (Q gets no gradient)
    _second(lambda x: dg.linalg.qr(x)[1], lambda x: torch.linalg.qr(x)[1], [a])


def test_qr_complete_wide_and_errors() -> None:
    a = RNG.standard_normal((2, 4))
    _second(
        lambda x: tuple(dg.linalg.qr(x, mode="complete")),
        lambda x: tuple(torch.linalg.qr(x, mode="complete")),
        [a],
    )
    for mode, shape in (("r", (3, 3)), ("complete", (4, 2))):
        x = dg.tensor(RNG.standard_normal(shape), requires_grad=True)
        r = dg.linalg.qr(x, mode=mode)[1]
        with pytest.raises(RuntimeError, match="linalg.qr|QR decomposition"):
            dg.autograd.grad(r.sum(), x, create_graph=True)


# ---- eigh / eigvalsh -------------------------------------------------------------------------


def _sym(x: Any) -> Any:
    return x + x.mT


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_second(shape: tuple[int, ...], uplo: str) -> None:
    a = RNG.standard_normal(shape)

    def fd(x: Any) -> Any:
        w, v = dg.linalg.eigh(_sym(x), UPLO=uplo)
        return w, v * v  # the squares: invariant under the eigenvectors' signs

    def ft(x: Any) -> Any:
        w, v = torch.linalg.eigh(_sym(x), UPLO=uplo)
        return w, v * v

    _second(fd, ft, [a], tol=1e-7)
    _second(
        lambda x: dg.linalg.eigvalsh(_sym(x), UPLO=uplo),
        lambda x: torch.linalg.eigvalsh(_sym(x), UPLO=uplo),
        [a],
    )
    _second(lambda x: dg.linalg.eigh(_sym(x))[0], lambda x: torch.linalg.eigh(_sym(x))[0], [a])
    if len(shape) <= 3:
        _ggc(fd, a)
        _ggc(lambda x: dg.linalg.eigvalsh(_sym(x), UPLO=uplo), a)


# ---- svd / svdvals / norms -------------------------------------------------------------------

SVD_SHAPES = [(1, 1), (3, 3), (4, 2), (2, 5), (2, 3, 4), (2, 4, 3)]


@pytest.mark.parametrize("shape", SVD_SHAPES)
@pytest.mark.parametrize("full", [False, True])
def test_svd_second(shape: tuple[int, ...], full: bool) -> None:
    a = RNG.standard_normal(shape)
    k = min(shape[-2:])

    def make(lib: Any) -> Callable:
        def f(x: Any) -> Any:
            u, s, vh = lib.linalg.svd(x, full_matrices=full)
            u, vh = u[..., :k], vh[..., :k, :]  # the singular vectors of the k values only
            return u * u, s, vh * vh

        return f

    _second(make(dg), make(torch), [a], tol=1e-7)
    _second(
        lambda x: dg.linalg.svd(x, full_matrices=full)[1],
        lambda x: torch.linalg.svd(x, full_matrices=full)[1],
        [a],
    )
    if len(shape) == 2:
        _ggc(make(dg), a)


@pytest.mark.parametrize("shape", SVD_SHAPES)
def test_svdvals_and_matrix_norms_second(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    _second(dg.linalg.svdvals, torch.linalg.svdvals, [a])
    for ord_ in ("nuc", 2, -2, "fro", 1, -1, float("inf"), -float("inf")):
        _second(
            lambda x, o=ord_: dg.linalg.matrix_norm(x, o),
            lambda x, o=ord_: torch.linalg.matrix_norm(x, o),
            [a],
        )
    if len(shape) == 2:
        _ggc(dg.linalg.svdvals, a)
        _ggc(lambda x: dg.linalg.matrix_norm(x, "nuc"), a)
        _ggc(lambda x: dg.linalg.norm(x, 2), a)


# ---- pinv / lstsq ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 2), (2, 5), (2, 4, 3)])
def test_pinv_lstsq_second(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    _second(dg.linalg.pinv, torch.linalg.pinv, [a])
    b = RNG.standard_normal((*shape[:-1], 2))
    _second(
        lambda x, y: dg.linalg.lstsq(x, y).solution,
        lambda x, y: torch.linalg.lstsq(x, y).solution,
        [a, b],
    )
    if len(shape) == 2:
        _ggc(dg.linalg.pinv, a)
    if shape[-1] == shape[-2]:
        _second(
            lambda x: dg.linalg.pinv(_sym(x), hermitian=True),
            lambda x: torch.linalg.pinv(_sym(x), hermitian=True),
            [a],
        )


def test_pinv_tensor_atol() -> None:
    a = RNG.standard_normal((4, 3))
    atol = 1e-3
    _second(
        lambda x: dg.linalg.pinv(x, atol=dg.tensor(atol)),
        lambda x: torch.linalg.pinv(x, atol=torch.tensor(atol)),
        [a],
    )


# ---- Tensor methods built on them ------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's deprecated cholesky, triangular_solve
def test_tensor_methods_second() -> None:
    a = _wc(3, 3)
    b = RNG.standard_normal((3, 2))
    low = np.linalg.cholesky(a @ a.T + 3 * np.eye(3))
    cases = [
        (lambda x: x.det(), [a]),
        (lambda x: x.logdet(), [a @ a.T]),
        (lambda x: x.inverse(), [a]),
        (lambda x: x.pinverse(), [a]),
        (lambda x: x.matrix_power(-2), [a]),
        (lambda x: _spd(x).cholesky(), [a]),
        (lambda x: _spd(x).cholesky(upper=True), [a]),
        (lambda x: x.cholesky_inverse(), [low]),
        (lambda x: x.cholesky_inverse(upper=True), [low.T.copy()]),
        (lambda x, y: y.cholesky_solve(x), [low, b]),
        (lambda x, y: y.triangular_solve(x)[0], [np.triu(a), b]),
        (lambda x, y: y.triangular_solve(x, upper=False, transpose=True)[0], [np.tril(a), b]),
        (lambda x: x.qr()[0] + x.qr()[1], [a]),
        (lambda x: x.svd()[1], [a]),
    ]
    for f, arrays in cases:
        _second(f, f, arrays)


# ---- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["det", "inv", "slogdet", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "pinv"],
)
@pytest.mark.parametrize("shape", [(0, 3, 3), (2, 0, 0), (0, 0), (2, 0, 3), (3, 0)])
def test_empty(name: str, shape: tuple[int, ...]) -> None:
    """Empty batches and 0 x n matrices: the first gradient (with a graph) and a second one
    have the input's shape (torch's are zeros, or None where no graph reaches the input)."""
    if shape[-1] != shape[-2] and name not in ("qr", "svd", "svdvals", "pinv"):
        return
    x = dg.tensor(np.zeros(shape), requires_grad=True)
    out = _outs(getattr(dg.linalg, name)(x))
    loss = sum((o * o).sum() + o.sum() for o in out)
    (g,) = dg.autograd.grad(loss, x, create_graph=True)
    assert g.shape == shape
    (h,) = dg.autograd.grad(g.sum() + loss, x, allow_unused=True)
    assert h is None or (h.shape == shape and not np.any(_np(h)))


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")  # torch's
def test_backward_create_graph() -> None:
    """Tensor.backward(create_graph=True): .grad has a graph; its own gradient is torch's."""
    a = _wc(3, 3)
    grads = []
    for lib, t in (
        (dg, dg.tensor(a, requires_grad=True)),
        (torch, torch.tensor(a, requires_grad=True)),
    ):
        (lib.linalg.det(t) * lib.linalg.inv(t).sum()).backward(create_graph=True)
        (gg,) = lib.autograd.grad((t.grad * t.grad).sum(), t)
        grads.append(gg)
    _close(*grads)


def test_first_gradient_values_with_constant_grad_outputs() -> None:
    """create_graph=True with grad_outputs that need no gradient: the first gradient equals
    the plain backward's (the array path) and has a graph back to the input."""
    a = _wc(2, 4, 4)
    for f in (
        dg.linalg.det,
        dg.linalg.inv,
        lambda x: dg.linalg.cholesky(_spd(x)),
        lambda x: dg.linalg.qr(x)[0],
        lambda x: dg.linalg.eigh(_sym(x))[1] ** 2,
        lambda x: dg.linalg.svd(x)[0] ** 2,
        dg.linalg.svdvals,
    ):
        x = dg.tensor(a, requires_grad=True)
        (g_graph,) = dg.autograd.grad(f(x).sum(), x, create_graph=True)
        (g_plain,) = dg.autograd.grad(f(x).sum(), x)
        assert g_graph.requires_grad
        np.testing.assert_allclose(_np(g_graph), _np(g_plain), rtol=1e-12, atol=1e-12)


def test_float32() -> None:
    a = _wc(2, 3, 3).astype(np.float32)
    for name in ("det", "inv", "svdvals"):
        fd, ft = _both(name)
        x, xt = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        (gd,) = dg.autograd.grad(fd(x).sum(), x, create_graph=True)
        (gt,) = torch.autograd.grad(ft(xt).sum(), xt, create_graph=True)
        (hd,) = dg.autograd.grad((gd * gd).sum(), x)
        (ht,) = torch.autograd.grad((gt * gt).sum(), xt)
        assert hd.dtype == np.float32
        np.testing.assert_allclose(_np(hd), _np(ht), rtol=1e-3, atol=1e-3)
