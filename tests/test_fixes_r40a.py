"""Round 40 fixes against torch 2.13: linalg on batches holding a NaN / inf matrix (det /
slogdet gradients, the decompositions' errors), retained non-leaves' .grad under
backward(create_graph=True), and second derivatives of MultivariateNormal /
LowRankMultivariateNormal / their KL divergences in the covariance parameters."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(4040)
TOL = 1e-8
TORCH_CG_WARNING = "ignore:Using backward\\(\\) with create_graph"  # torch's reference-cycle note


def _np(t: Any) -> Any:
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _close(d: Any, t: Any, tol: float = TOL) -> None:
    """deltagrad's d against torch's t: same NaN positions, values to tol elsewhere."""
    np.testing.assert_allclose(_np(d), _np(t), rtol=tol, atol=tol, equal_nan=True)


# ---- 1. linalg: a NaN / inf matrix in a batch ----------------------------------------------


def _batch_with(bad: float, n: int, b: int = 4, where: int = 1, dtype: Any = np.float64) -> Any:
    """b well-conditioned n x n matrices, entry `where` holding bad at a random position."""
    a = RNG.standard_normal((b, n, n)) + 2 * n**0.5 * np.eye(n)
    i, j = RNG.integers(0, n, 2)
    a[where, i, j] = bad
    return a.astype(dtype)


def _wc(n: int) -> np.ndarray:
    """A well-conditioned n x n matrix."""
    return RNG.standard_normal((n, n)) + 2 * n**0.5 * np.eye(n)


def _finite_rows(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a).all(axis=(-2, -1))


def _det_fn(lib: Any) -> Callable:
    return lambda x: lib.linalg.det(x)


def _logabsdet_fn(lib: Any) -> Callable:
    return lambda x: lib.linalg.slogdet(x)[1]


def _logdet_fn(lib: Any) -> Callable:
    return lambda x: lib.logdet(x)


DET_OPS = {"det": _det_fn, "slogdet": _logabsdet_fn, "logdet": _logdet_fn}


@pytest.mark.parametrize("op", sorted(DET_OPS))
@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_det_gradient_nan_matrix_in_batch(op: str, n: int, dtype: Any) -> None:
    # the NaN matrix's gradient is NaN (torch's), the others' are torch's, no warning leaks
    # (filterwarnings = error), no LinAlgError from the SVD
    a = _batch_with(np.nan, n, dtype=dtype)
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    od, ot = DET_OPS[op](dg)(x), DET_OPS[op](torch)(t)
    tol = TOL if dtype == np.float64 else 1e-4
    _close(od, ot, tol)
    g = RNG.standard_normal(a.shape[0]).astype(dtype)
    od.backward(dg.tensor(g))
    ot.backward(torch.tensor(g))
    if n > 1:  # (a 1 x 1 det's gradient is 1 whatever the entry, torch's too)
        assert np.isnan(x.grad[1]).all()
    _close(x.grad, t.grad, tol)


@pytest.mark.parametrize("op", ["det", "slogdet"])
def test_det_gradient_nan_matrix_unbatched(op: str) -> None:
    a = np.array([[1.0, 2.0], [3.0, np.nan]])
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    DET_OPS[op](dg)(x).backward()
    DET_OPS[op](torch)(t).backward()
    assert np.isnan(x.grad).all()
    _close(x.grad, t.grad)


@pytest.mark.parametrize("op", ["det", "slogdet"])
def test_det_gradient_inf_matrix_is_nan_others_exact(op: str) -> None:
    # an inf matrix: NaN gradient (torch's LU gives NaN or LAPACK-dependent values there); the
    # finite matrices of the batch keep torch's gradient
    a = _batch_with(np.inf, 3, b=3, where=2)
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    DET_OPS[op](dg)(x).sum().backward()
    DET_OPS[op](torch)(t).sum().backward()
    assert np.isnan(x.grad[2]).all()
    _close(x.grad[:2], t.grad[:2])


def test_det_gradient_nan_and_singular_in_one_batch() -> None:
    # a NaN matrix beside a finite singular one: the singular one still gets its adjugate (the
    # SVD route runs on the finite entries only); torch's create_graph route gives it too
    a = np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, np.nan]], [[1.0, 2.0], [2.0, 4.0]]])
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    dg.linalg.det(x).sum().backward()
    (gt,) = torch.autograd.grad(torch.linalg.det(t).sum(), t, create_graph=True)
    _close(x.grad, gt)
    np.testing.assert_allclose(x.grad[2], [[4.0, -2.0], [-2.0, 1.0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("op", ["det", "slogdet"])
@pytest.mark.parametrize("n", [1, 3])
def test_det_double_backward_nan_matrix_in_batch(op: str, n: int) -> None:
    a = _batch_with(np.nan, n, b=3)
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    v = RNG.standard_normal(3)
    vd, vt = dg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (g1d,) = dg.autograd.grad(DET_OPS[op](dg)(x), x, vd, create_graph=True)
    (g1t,) = torch.autograd.grad(DET_OPS[op](torch)(t), t, vt, create_graph=True)
    _close(g1d, g1t)
    w = RNG.standard_normal(a.shape)
    # (a 1 x 1 det's first derivative is 1: no path back to x, in torch either)
    s2d = dg.autograd.grad((g1d * dg.tensor(w)).sum(), [x, vd], allow_unused=True)
    s2t = torch.autograd.grad((g1t * torch.tensor(w)).sum(), [t, vt], allow_unused=True)
    for d, tt in zip(s2d, s2t):
        assert (d is None) == (tt is None)
        if tt is not None:
            _close(d, tt)
    if s2t[0] is not None:
        assert np.isnan(s2d[0].numpy()[1]).all() and np.isfinite(s2d[0].numpy()[[0, 2]]).all()


def test_det_double_backward_nan_beside_singular() -> None:
    # the double-backward split: a well-conditioned, a NaN and a singular matrix
    a = np.array([[[2.0, 1.0], [1.0, 3.0]], [[np.nan, 1.0], [2.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]])
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g1d,) = dg.autograd.grad(dg.linalg.det(x).sum(), x, create_graph=True)
    (g1t,) = torch.autograd.grad(torch.linalg.det(t).sum(), t, create_graph=True)
    _close(g1d, g1t)
    (g2d,) = dg.autograd.grad((g1d * g1d).sum(), x)
    (g2t,) = torch.autograd.grad((g1t * g1t).sum(), t)
    _close(g2d, g2t)


def test_slogdet_sign_of_nan_matrix_is_zero() -> None:
    a = _batch_with(np.nan, 3, b=3)
    sd, ld = dg.linalg.slogdet(dg.tensor(a))
    st, lt = torch.linalg.slogdet(torch.tensor(a))
    _close(sd, st)
    _close(ld, lt)
    _close(dg.logdet(dg.tensor(a)), torch.logdet(torch.tensor(a)))


def test_det_forward_nan_no_warning() -> None:
    a = _batch_with(np.nan, 4)
    _close(dg.linalg.det(dg.tensor(a)), torch.linalg.det(torch.tensor(a)))


def _decomp(lib: Any, name: str) -> Callable:
    la = lib.linalg
    return {
        "eigh": lambda x: la.eigh(x),
        "eigvalsh": lambda x: la.eigvalsh(x),
        "svd": lambda x: la.svd(x),
        "svdvals": lambda x: la.svdvals(x),
        "pinv": lambda x: la.pinv(x),
        "pinv_hermitian": lambda x: la.pinv(x, hermitian=True),
        "matrix_rank": lambda x: la.matrix_rank(x),
        "matrix_rank_hermitian": lambda x: la.matrix_rank(x, hermitian=True),
        "matrix_norm_2": lambda x: la.matrix_norm(x, 2),
        "cholesky": lambda x: la.cholesky(x),
    }[name]


RAISING = [
    ("eigh", r"linalg\.eigh: \(Batch element 1\): The algorithm failed to converge"),
    ("eigvalsh", r"linalg\.eigh: \(Batch element 1\): The algorithm failed to converge"),
    ("svd", r"linalg\.svd: \(Batch element 1\): .*contained non-finite values"),
    ("svdvals", r"linalg\.svd: \(Batch element 1\): .*contained non-finite values"),
    ("pinv", r"linalg\.svd: \(Batch element 1\)"),
    ("pinv_hermitian", r"linalg\.eigh: \(Batch element 1\)"),
    ("matrix_rank", r"linalg\.svd: \(Batch element 1\)"),
    ("matrix_rank_hermitian", r"linalg\.eigh: \(Batch element 1\)"),
    ("matrix_norm_2", r"linalg\.svd: \(Batch element 1\)"),
    ("cholesky", r"linalg\.cholesky: \(Batch element 1\): .*not positive-definite"),
]


@pytest.mark.parametrize(("name", "match"), RAISING)
def test_decomposition_of_nan_matrix_raises_as_torch(name: str, match: str) -> None:
    # torch raises torch.linalg.LinAlgError (a RuntimeError) naming the batch element; numpy's
    # own LinAlgError (a ValueError) must not leak
    a = _batch_with(np.nan, 3, b=3)
    a = a + np.swapaxes(a, -1, -2)  # symmetric (NaN in both triangles) and positive-definite
    with pytest.raises(torch.linalg.LinAlgError, match=match):
        _decomp(torch, name)(torch.tensor(a))
    with pytest.raises(dg.linalg.LinAlgError, match=match) as info:
        _decomp(dg, name)(dg.tensor(a))
    assert isinstance(info.value, RuntimeError) and not isinstance(info.value, ValueError)


def test_decomposition_unbatched_nan_has_no_batch_prefix() -> None:
    a = np.array([[1.0, np.nan], [np.nan, 2.0]])
    with pytest.raises(dg.linalg.LinAlgError, match=r"^linalg\.svd: The algorithm failed"):
        dg.linalg.svdvals(dg.tensor(a))


# numpy's gesdd (with vectors) does not return on this matrix (an inf entry): deltagrad must not
# hand it to LAPACK (torch returns NaN singular values)
INF_HANG = np.array(
    [
        [np.inf, -2.55566503, 0.41809885],
        [-0.56776961, 3.01145232, -0.21559716],
        [-2.01998613, -0.23193238, 2.59888854],
    ]
)


@pytest.mark.parametrize("name", ["svdvals", "matrix_norm_2", "matrix_norm_nuc", "matrix_rank"])
def test_svd_of_inf_matrix_is_nan_as_torch(name: str) -> None:
    a = np.stack([INF_HANG, _wc(3)])

    def run(lib: Any) -> Any:
        x = lib.tensor(a)
        if name == "svdvals":
            return lib.linalg.svdvals(x)
        if name == "matrix_rank":
            return lib.linalg.matrix_rank(x)
        return lib.linalg.matrix_norm(x, 2 if name == "matrix_norm_2" else "nuc")

    _close(run(dg), run(torch))


@pytest.mark.parametrize("full", [True, False])
def test_svd_and_pinv_of_inf_matrix_nan_others_exact(full: bool) -> None:
    a = np.stack([_wc(3), INF_HANG])
    u, s, vh = dg.linalg.svd(dg.tensor(a), full_matrices=full)
    st = torch.linalg.svdvals(torch.tensor(a))
    _close(s, st)
    assert np.isnan(u.numpy()[1]).all() and np.isnan(vh.numpy()[1]).all()
    np.testing.assert_allclose((u.numpy()[0] * s.numpy()[0]) @ vh.numpy()[0], a[0], atol=1e-12)
    p = dg.linalg.pinv(dg.tensor(a)).numpy()
    _close(p[0], torch.linalg.pinv(torch.tensor(a[0])))
    assert np.isnan(p[1]).all()


def test_svd_nan_and_inf_in_batch_names_the_nan_element() -> None:
    a = np.stack([INF_HANG, _wc(3), _batch_with(np.nan, 3, b=1, where=0)[0]])
    with pytest.raises(dg.linalg.LinAlgError, match=r"\(Batch element 2\)"):
        dg.linalg.svd(dg.tensor(a))


def test_lstsq_nan_raises_linalg_error() -> None:
    # torch fails an internal assert here (a RuntimeError); deltagrad's LinAlgError is one
    a = _batch_with(np.nan, 3, b=2)
    with pytest.raises(RuntimeError):
        torch.linalg.lstsq(torch.tensor(a), torch.tensor(a))
    with pytest.raises(dg.linalg.LinAlgError, match="non-finite"):
        dg.linalg.lstsq(dg.tensor(a), dg.tensor(a))


@pytest.mark.parametrize("name", ["inv", "solve", "qr"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_lu_and_qr_nan_matrix_gives_nan_as_torch(name: str, bad: float) -> None:
    # no error: the NaN / inf matrix's results are NaN where torch's are, the others exact
    a = _batch_with(bad, 3)
    rhs = RNG.standard_normal((4, 3, 2))

    def run(lib: Any, x: Any) -> Any:
        if name == "inv":
            return lib.linalg.inv(x)
        if name == "solve":
            return lib.linalg.solve(x, lib.tensor(rhs))
        return lib.linalg.qr(x)[1]

    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    od, ot = run(dg, x), run(torch, t)
    fin = _finite_rows(a)
    _close(_np(od)[fin], _np(ot)[fin])
    assert np.isnan(_np(od)[~fin]).any() == np.isnan(_np(ot)[~fin]).any()
    w = RNG.standard_normal(tuple(ot.shape))
    (od * dg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    _close(x.grad[fin], t.grad[fin])


def test_cholesky_nan_in_unread_triangle_is_fine() -> None:
    # only the lower triangle is read (torch's too): a NaN above it changes nothing
    a = _batch_with(0.0, 3, b=2)
    a = a @ np.swapaxes(a, -1, -2)
    a[1, 0, 2] = np.nan
    _close(dg.linalg.cholesky(dg.tensor(a)), torch.linalg.cholesky(torch.tensor(a)))


# ---- 2. retained non-leaves under backward(create_graph=True) ------------------------------


def _chain(lib: Any, x0: np.ndarray) -> tuple[Any, Any, Any]:
    x = lib.tensor(x0, requires_grad=True)
    h = (x * 2).sin() * x
    h.retain_grad()
    return x, h, (h**3).sum()


@pytest.mark.filterwarnings(TORCH_CG_WARNING)
def test_retained_grad_is_tensor_with_graph() -> None:
    x0 = RNG.standard_normal(5)
    xd, hd, ld = _chain(dg, x0)
    xt, ht, lt = _chain(torch, x0)
    ld.backward(create_graph=True)
    lt.backward(create_graph=True)
    assert isinstance(hd.grad, dg.Tensor) and hd.grad.requires_grad
    assert ht.grad.requires_grad
    _close(hd.grad, ht.grad)
    # h.grad has a graph back to x: its own derivative is torch's
    xd.grad = None
    xt.grad = None
    (hd.grad * dg.tensor(x0)).sum().backward()
    (ht.grad * torch.tensor(x0)).sum().backward()
    _close(xd.grad, xt.grad)


@pytest.mark.filterwarnings(TORCH_CG_WARNING)
def test_retained_grad_accumulates_out_of_place() -> None:
    # a second create_graph backward adds (a new Tensor: the first stays as it was); a plain
    # backward after it turns .grad back into an array (docs/TORCH_PARITY.md), with torch's sum
    x0 = RNG.standard_normal(4)
    _, hd, ld = _chain(dg, x0)
    _, ht, lt = _chain(torch, x0)
    ld.backward(create_graph=True, retain_graph=True)
    lt.backward(create_graph=True, retain_graph=True)
    first_d, first_t = hd.grad, ht.grad
    ld.backward(create_graph=True, retain_graph=True)
    lt.backward(create_graph=True, retain_graph=True)
    assert hd.grad is not first_d and hd.grad.requires_grad
    _close(first_d, first_t)
    _close(hd.grad, ht.grad)
    ld.backward()
    lt.backward()
    assert isinstance(hd.grad, np.ndarray)
    _close(hd.grad, ht.grad)
    _close(first_d, first_t)


@pytest.mark.filterwarnings(TORCH_CG_WARNING)
def test_plain_then_create_graph_keeps_old_array() -> None:
    x0 = RNG.standard_normal(3)
    _, hd, ld = _chain(dg, x0)
    _, ht, lt = _chain(torch, x0)
    ld.backward(retain_graph=True)
    lt.backward(retain_graph=True)
    old = hd.grad.copy()
    arr = hd.grad
    ld.backward(create_graph=True)
    lt.backward(create_graph=True)
    assert isinstance(hd.grad, dg.Tensor)
    _close(hd.grad, ht.grad)
    np.testing.assert_array_equal(arr, old)  # not written in place


@pytest.mark.filterwarnings(TORCH_CG_WARNING)
def test_retained_grad_hooks_and_inputs() -> None:
    # the hook's result is what is retained; inputs=[x] still fills a retained h on the path;
    # inputs=[h] with h retained counts the gradient once
    def run(lib: Any, mode: str) -> tuple[Any, Any]:
        x = lib.tensor([1.0, 2.0, -0.5], requires_grad=True)
        h = x * 2
        h.retain_grad()
        if mode == "hook":
            h.register_hook(lambda g: g * 10)
        k = h * x
        loss = (k**3).sum()
        if mode == "inputs_x":
            loss.backward(create_graph=True, inputs=[x])
        elif mode == "inputs_h":
            loss.backward(create_graph=True, inputs=[h])
        else:
            loss.backward(create_graph=True)
        return h.grad, x.grad

    for mode in ("hook", "inputs_x", "inputs_h"):
        (hd, xd), (ht, xt) = run(dg, mode), run(torch, mode)
        _close(hd, ht)
        assert hd.requires_grad == ht.requires_grad
        if xt is None:
            assert xd is None
        else:
            _close(xd, xt)


def test_autograd_grad_create_graph_retained() -> None:
    # dg.autograd.grad(create_graph=True) fills a retained non-leaf's .grad as torch does
    x0 = RNG.standard_normal(6)
    xd, hd, ld = _chain(dg, x0)
    xt, ht, lt = _chain(torch, x0)
    (gd,) = dg.autograd.grad(ld, xd, create_graph=True)
    (gt,) = torch.autograd.grad(lt, xt, create_graph=True)
    _close(gd, gt)
    assert isinstance(hd.grad, dg.Tensor) and hd.grad.requires_grad
    _close(hd.grad, ht.grad)
    assert xd.grad is None


@pytest.mark.filterwarnings(TORCH_CG_WARNING)
def test_retained_root_grad_has_no_graph() -> None:
    def run(lib: Any) -> Any:
        x = lib.tensor([1.0, 3.0], requires_grad=True)
        out = (x * x).sum()
        out.retain_grad()
        out.backward(create_graph=True)
        return out.grad

    d, t = run(dg), run(torch)
    _close(d, t)
    assert d.requires_grad == t.requires_grad


def test_retained_grad_restored_when_walk_fails() -> None:
    # a node without a double backward below the retained h raises NotImplementedError after h
    # was reached: h keeps its old .grad, and that array is not written into
    x = dg.tensor(RNG.standard_normal(3), requires_grad=True)
    h = dg.Tensor._make(x.data * 2.0, (x,), lambda g: x._accumulate(2.0 * g), "twice")
    h.retain_grad()
    old = np.full(3, 5.0)
    h.grad = old
    with pytest.raises(NotImplementedError, match="twice"):
        (h**3).sum().backward(create_graph=True)
    assert h.grad is old
    np.testing.assert_array_equal(old, np.full(3, 5.0))


# ---- 3. MultivariateNormal / LowRankMultivariateNormal second derivatives ------------------


def _spd(n: int, *batch: int) -> np.ndarray:
    a = RNG.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _first_second(fd: Callable, ft: Callable, arrays: list[np.ndarray], tol: float = TOL) -> None:
    """value = f(params...); first = d value / d params (create_graph=True), second =
    d <w, first> / d params: deltagrad's against torch's."""
    xs = [dg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    vd, vt = fd(*xs), ft(*ts)
    _close(vd, vt, tol)
    g1d = dg.autograd.grad(vd, xs, create_graph=True, allow_unused=True)
    g1t = torch.autograd.grad(vt, ts, create_graph=True, allow_unused=True)
    for d, t in zip(g1d, g1t):
        assert (d is None) == (t is None)
        if t is not None:
            _close(d, t, tol)
    ws = [RNG.standard_normal(a.shape) for a in arrays]
    pairs = [(d, t, w) for d, t, w in zip(g1d, g1t, ws) if t is not None]
    ld = sum((d * dg.tensor(w)).sum() for d, _, w in pairs)
    lt = sum((t * torch.tensor(w)).sum() for _, t, w in pairs)
    g2d = dg.autograd.grad(ld, xs, allow_unused=True)
    g2t = torch.autograd.grad(lt, ts, allow_unused=True)
    for d, t in zip(g2d, g2t):
        if t is None:
            assert d is None or np.allclose(_np(d), 0.0, atol=tol)
        else:
            _close(d, t, tol)


@pytest.mark.parametrize("param", ["covariance_matrix", "precision_matrix", "scale_tril"])
@pytest.mark.parametrize(("n", "batch"), [(1, ()), (3, ()), (4, (2,)), (5, (2, 1))])
def test_mvn_second_derivatives(param: str, n: int, batch: tuple[int, ...]) -> None:
    loc = RNG.standard_normal((*batch, n))
    mat = _spd(n, *batch)
    if param == "scale_tril":
        mat = np.linalg.cholesky(mat)
    x = RNG.standard_normal((3, *batch, n))

    def f(lib: Any) -> Callable:
        def fn(loc_t: Any, m: Any) -> Any:
            d = lib.distributions.MultivariateNormal(loc_t, **{param: m})
            return d.log_prob(lib.tensor(x)).sum() + d.entropy().sum()

        return fn

    _first_second(f(dg), f(torch), [loc, mat])


def test_mvn_rsample_second_derivative() -> None:
    n = 3
    mat = _spd(n)
    eps = RNG.standard_normal((5, n))

    def f(lib: Any) -> Callable:
        def fn(m: Any) -> Any:
            d = lib.distributions.MultivariateNormal(lib.zeros(n, dtype=lib.float64), m)
            low = d.scale_tril
            return ((lib.tensor(eps) @ low.mT) ** 2).sum() + d.precision_matrix.sum()

        return fn

    _first_second(f(dg), f(torch), [mat])


@pytest.mark.parametrize(("n", "m", "batch"), [(3, 1, ()), (4, 2, ()), (5, 3, (2,))])
def test_lowrank_mvn_second_derivatives(n: int, m: int, batch: tuple[int, ...]) -> None:
    loc = RNG.standard_normal((*batch, n))
    w = RNG.standard_normal((*batch, n, m))
    diag = RNG.uniform(0.5, 2.0, (*batch, n))
    x = RNG.standard_normal((2, *batch, n))

    def f(lib: Any) -> Callable:
        def fn(loc_t: Any, w_t: Any, d_t: Any) -> Any:
            d = lib.distributions.LowRankMultivariateNormal(loc_t, w_t, d_t)
            return d.log_prob(lib.tensor(x)).sum() + d.entropy().sum()

        return fn

    _first_second(f(dg), f(torch), [loc, w, diag])


@pytest.mark.parametrize("pair", ["mvn_mvn", "lowrank_mvn", "mvn_lowrank", "lowrank_lowrank"])
def test_kl_second_derivatives(pair: str) -> None:
    n, m = 4, 2
    cov_p, cov_q = _spd(n), _spd(n)
    w_p, w_q = RNG.standard_normal((n, m)), RNG.standard_normal((n, m))
    d_p, d_q = RNG.uniform(0.5, 2, n), RNG.uniform(0.5, 2, n)
    loc_p, loc_q = RNG.standard_normal(n), RNG.standard_normal(n)

    def f(lib: Any) -> Callable:
        dist = lib.distributions

        def fn(cp: Any, cq: Any, wp: Any, wq: Any, dp: Any, dq: Any) -> Any:
            mvn_p = dist.MultivariateNormal(lib.tensor(loc_p), covariance_matrix=cp)
            mvn_q = dist.MultivariateNormal(lib.tensor(loc_q), covariance_matrix=cq)
            lr_p = dist.LowRankMultivariateNormal(lib.tensor(loc_p), wp, dp)
            lr_q = dist.LowRankMultivariateNormal(lib.tensor(loc_q), wq, dq)
            p, q = {
                "mvn_mvn": (mvn_p, mvn_q),
                "lowrank_mvn": (lr_p, mvn_q),
                "mvn_lowrank": (mvn_p, lr_q),
                "lowrank_lowrank": (lr_p, lr_q),
            }[pair]
            return dist.kl_divergence(p, q)

        return fn

    _first_second(f(dg), f(torch), [cov_p, cov_q, w_p, w_q, d_p, d_q], tol=1e-7)


def test_mvn_gradgradcheck() -> None:
    n = 3
    x = dg.tensor(RNG.standard_normal((2, n)))

    def fn(cov: Any) -> Any:
        sym = (cov + cov.mT) * 0.5 + dg.tensor(n * np.eye(n))
        return dg.distributions.MultivariateNormal(dg.zeros(n, dtype=dg.float64), sym).log_prob(x)

    assert dg.autograd.gradgradcheck(
        fn, (dg.tensor(RNG.standard_normal((n, n)), requires_grad=True),)
    )


def test_mvn_first_order_scale_tril_gradient_lower_triangular() -> None:
    # solve_triangular reads only the lower triangle: the scale_tril gradient is lower-triangular
    n = 4
    low = np.linalg.cholesky(_spd(n))
    x = RNG.standard_normal((3, n))
    ld = dg.tensor(low, requires_grad=True)
    lt = torch.tensor(low, requires_grad=True)
    dg.distributions.MultivariateNormal(dg.zeros(n, dtype=dg.float64), scale_tril=ld).log_prob(
        dg.tensor(x)
    ).sum().backward()
    torch.distributions.MultivariateNormal(
        torch.zeros(n, dtype=torch.float64), scale_tril=lt
    ).log_prob(torch.tensor(x)).sum().backward()
    _close(ld.grad, lt.grad)
    assert np.all(np.triu(ld.grad, 1) == 0)


def test_mvn_not_positive_definite_still_value_error() -> None:
    cov = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="not positive-definite"):
        dg.distributions.MultivariateNormal(
            dg.zeros(2, dtype=dg.float64), covariance_matrix=dg.tensor(cov), validate_args=False
        )
