"""Round 41: the value-only linalg paths (svdvals / eigvalsh / matrix_norm without a graph), pinv
and lstsq from one SVD (the SVD-form pinv backward), scipy's float32 gesdd, and F.pad's
reflect / replicate / circular by slices. Against torch 2.13: float64 to 1e-10, float32 to
~1e-4, values and gradients, odd and size-0/1 shapes, batches with broadcast, no_grad, negative
pads, double backward."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import _functional_spatial as fs

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(41)
DTYPES = [np.float64, np.float32]


def _rand(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _tol(dtype, f32=1e-4):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=f32, atol=f32)


def _close(d, t, dtype, f32=1e-4):
    d = np.asarray(d.numpy() if hasattr(d, "numpy") else d)
    t = t.detach().numpy()
    assert d.shape == t.shape
    scale = max(1.0, float(np.abs(t).max()) if t.size else 1.0)
    tol = _tol(dtype, f32)
    np.testing.assert_allclose(d, t, rtol=tol["rtol"], atol=tol["atol"] * scale)


def _grad(x):
    return np.asarray(x.grad)


def _both(fn_t, fn_d, arrays, grads=True, gout=None):
    """fn on torch and deltagrad tensors made from arrays (each requires grad when grads);
    (torch outputs, dg outputs, torch grads, dg grads) after a backward of a random gradient."""
    ts = [torch.tensor(a, requires_grad=grads) for a in arrays]
    ds = [dg.tensor(a, requires_grad=grads) for a in arrays]
    to, do = fn_t(*ts), fn_d(*ds)
    if not grads:
        return to, do, None, None
    g = _rand(tuple(to.shape), arrays[0].dtype) if gout is None else gout
    to.backward(torch.tensor(g))
    do.backward(dg.tensor(g))
    return to, do, [t.grad for t in ts], [_grad(d) for d in ds]


# ---- svdvals / eigvalsh / matrix_norm: values alone without a graph --------------------------

SHAPES = [(5, 3), (3, 5), (4, 4), (1, 1), (1, 6), (6, 1), (2, 3, 7, 5), (3, 20, 17), (2, 17, 33)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_svdvals_values_no_grad_and_grad(shape, dtype):
    a = _rand(shape, dtype)
    ref = torch.linalg.svdvals(torch.tensor(a))
    # an input without requires_grad, and one with it under no_grad: no graph, same values
    _close(dg.linalg.svdvals(dg.tensor(a)), ref, dtype)
    x = dg.tensor(a, requires_grad=True)
    with dg.no_grad():
        y = dg.linalg.svdvals(x)
    assert not y.requires_grad
    _close(y, ref, dtype)
    to, do, tg, dgr = _both(torch.linalg.svdvals, dg.linalg.svdvals, [a])
    assert do.requires_grad
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 1e-3)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 4), (0, 2, 3)])
def test_svdvals_eigvalsh_empty(shape):
    a = np.zeros(shape)
    _close(dg.linalg.svdvals(dg.tensor(a)), torch.linalg.svdvals(torch.tensor(a)), np.float64)
    sq = np.zeros(shape[:-1] + (shape[-2],))
    _close(dg.linalg.eigvalsh(dg.tensor(sq)), torch.linalg.eigvalsh(torch.tensor(sq)), np.float64)


def test_svdvals_no_grad_keeps_torch_errors():
    a = _rand((2, 4, 4))
    a[1, 2, 3] = np.nan
    with pytest.raises(dg.linalg.LinAlgError, match="Batch element 1"):
        dg.linalg.svdvals(dg.tensor(a))
    a[1, 2, 3] = np.inf  # an inf (no NaN): NaN values for that matrix, the rest computed
    out = dg.linalg.svdvals(dg.tensor(a)).numpy()
    assert np.isnan(out[1]).all()
    np.testing.assert_allclose(out[0], np.linalg.svd(a[0], compute_uv=False), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("uplo", ["L", "U"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 2, 9, 9), (4, 20, 20)])
def test_eigvalsh_no_grad_and_grad(shape, uplo, dtype):
    a = _rand(shape, dtype)  # not symmetric: only the uplo triangle is read
    ref = torch.linalg.eigvalsh(torch.tensor(a), UPLO=uplo)
    _close(dg.linalg.eigvalsh(dg.tensor(a), UPLO=uplo), ref, dtype)
    x = dg.tensor(a, requires_grad=True)
    with dg.no_grad():
        y = dg.linalg.eigvalsh(x, UPLO=uplo)
    assert not y.requires_grad
    _close(y, ref, dtype)
    to, do, tg, dgr = _both(
        lambda t: torch.linalg.eigvalsh(t, UPLO=uplo),
        lambda d: dg.linalg.eigvalsh(d, UPLO=uplo),
        [a],
    )
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_matrix_norm_svd_orders_no_grad_and_grad(ord, dtype):
    a = _rand((3, 7, 4), dtype)
    ref = torch.linalg.matrix_norm(torch.tensor(a), ord)
    with dg.no_grad():
        _close(dg.linalg.matrix_norm(dg.tensor(a, requires_grad=True), ord), ref, dtype)
    to, do, tg, dgr = _both(
        lambda t: torch.linalg.matrix_norm(t, ord), lambda d: dg.linalg.matrix_norm(d, ord), [a]
    )
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 1e-3)


def test_svdvals_double_backward_after_value_path():
    # the graph path still gives the double backward (torch's values)
    a = _rand((2, 5, 3))
    outs = []
    for lib, x in ((torch, torch.tensor(a, requires_grad=True)), (dg, dg.tensor(a, True))):
        s = lib.linalg.svdvals(x)
        (g1,) = lib.autograd.grad((s * s * s).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x)
        outs.append((g1, g2))
    _close(outs[1][0], outs[0][0], np.float64)
    _close(outs[1][1], outs[0][1], np.float64)


# ---- pinv: the SVD-form backward --------------------------------------------------------------


def _deficient(shape, rank, dtype):
    m, n = shape[-2:]
    return (_rand(shape[:-2] + (m, rank), dtype) @ _rand(shape[:-2] + (rank, n), dtype)).astype(
        dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,rank",
    [((5, 3), None), ((3, 5), None), ((4, 4), None), ((1, 1), None), ((1, 4), None),
     ((4, 1), None), ((2, 3, 9, 6), None), ((2, 6, 9), None), ((7, 5), 3), ((2, 5, 7), 2),
     ((6, 6), 4), ((3, 24, 18), None)],
)  # fmt: skip
def test_pinv_matches_torch(shape, rank, dtype):
    a = _rand(shape, dtype) if rank is None else _deficient(shape, rank, dtype)
    to, do, tg, dgr = _both(torch.linalg.pinv, dg.linalg.pinv, [a])
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 2e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pinv_hermitian_and_tolerances(dtype):
    s = _rand((2, 6, 6), dtype)
    s = s + np.swapaxes(s, -1, -2)
    to, do, tg, dgr = _both(
        lambda t: torch.linalg.pinv(t, hermitian=True),
        lambda d: dg.linalg.pinv(d, hermitian=True),
        [s],
    )
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 2e-3)
    a = _rand((3, 7, 5), dtype)
    sv = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    atol = float(sv[:, 2].mean())  # a cut that drops some values of some matrices
    to, do, tg, dgr = _both(
        lambda t: torch.linalg.pinv(t, atol=atol), lambda d: dg.linalg.pinv(d, atol=atol), [a]
    )
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 2e-3)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_pinv_double_backward(shape):
    a = _rand(shape)
    w = _rand(shape[:-2] + (shape[-1], shape[-2]))
    res = []
    for lib, x in ((torch, torch.tensor(a, requires_grad=True)), (dg, dg.tensor(a, True))):
        p = lib.linalg.pinv(x)
        (g1,) = lib.autograd.grad((p * p * lib.tensor(w)).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x)
        res.append((g1, g2))
    _close(res[1][0], res[0][0], np.float64)
    _close(res[1][1], res[0][1], np.float64)


# ---- lstsq: one SVD for the solution, rank and singular values --------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "ashape,bshape",
    [((6, 4), (6, 3)), ((4, 6), (4, 2)), ((5, 5), (5,)), ((3, 7, 4), (3, 7, 2)),
     ((2, 1, 7, 4), (1, 3, 7, 5)),
        ((1, 7, 4), (3, 7, 5)), ((1, 1), (1, 1)), ((6, 1), (6, 2)), ((3, 9, 6), (3, 9))],
)  # fmt: skip
def test_lstsq_matches_torch(ashape, bshape, dtype):
    a, b = _rand(ashape, dtype), _rand(bshape, dtype)
    to, do, tg, dgr = _both(
        lambda x, y: torch.linalg.lstsq(x, y).solution,
        lambda x, y: dg.linalg.lstsq(x, y).solution,
        [a, b],
    )
    _close(do, to, dtype)
    _close(dgr[0], tg[0], dtype, 2e-3)
    _close(dgr[1], tg[1], dtype, 2e-3)
    # B alone requiring grad (the solution from the factors, not pinv(A)), and no_grad
    ta, tb = torch.tensor(a), torch.tensor(b, requires_grad=True)
    da, db = dg.tensor(a), dg.tensor(b, requires_grad=True)
    tx, dx = torch.linalg.lstsq(ta, tb).solution, dg.linalg.lstsq(da, db).solution
    _close(dx, tx, dtype)
    g = _rand(tuple(tx.shape), dtype)
    tx.backward(torch.tensor(g))
    dx.backward(dg.tensor(g))
    _close(_grad(db), tb.grad, dtype, 2e-3)
    with dg.no_grad():
        dx = dg.linalg.lstsq(dg.tensor(a, requires_grad=True), db)
    assert not dx.solution.requires_grad
    _close(dx.solution, tx, dtype)


@pytest.mark.parametrize("driver", ["gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstsq_rank_singular_values_residuals(driver, dtype):
    a = _rand((3, 8, 5), dtype)
    a[1] = _deficient((8, 5), 3, dtype)  # rank 3: no residuals for the batch
    b = _rand((3, 8, 2), dtype)
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    d = dg.linalg.lstsq(dg.tensor(a), dg.tensor(b), driver=driver)
    if driver != "gels":  # torch's gels assumes full rank: its solution differs there
        _close(d.solution, t.solution, dtype, 1e-3)
    np.testing.assert_array_equal(d.rank.numpy(), t.rank.numpy())
    _close(d.singular_values, t.singular_values, dtype)
    if driver != "gels":
        _close(d.residuals, t.residuals, dtype, 1e-3)
    a[1] = _rand((8, 5), dtype)  # full rank: residuals for gels / gelsd / gelss
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    d = dg.linalg.lstsq(dg.tensor(a), dg.tensor(b), driver=driver)
    _close(d.solution, t.solution, dtype)
    np.testing.assert_array_equal(d.rank.numpy(), t.rank.numpy())
    _close(d.residuals, t.residuals, dtype, 1e-3)
    _close(d.singular_values, t.singular_values, dtype)


def test_lstsq_rcond_and_empty():
    a = _deficient((2, 7, 5), 3, np.float64) + 1e-9 * _rand((2, 7, 5))
    b = _rand((2, 7, 2))
    for rcond in (None, 1e-6):
        t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), rcond=rcond, driver="gelsd")
        d = dg.linalg.lstsq(dg.tensor(a), dg.tensor(b), rcond=rcond, driver="gelsd")
        np.testing.assert_array_equal(d.rank.numpy(), t.rank.numpy())
        if rcond is not None:  # the cut drops the 1e-9 values: the same min-norm solution
            _close(d.solution, t.solution, np.float64)
    ae, be = np.zeros((0, 4, 3)), np.zeros((0, 4, 2))
    t = torch.linalg.lstsq(torch.tensor(ae), torch.tensor(be))
    d = dg.linalg.lstsq(dg.tensor(ae), dg.tensor(be))
    assert tuple(d.solution.shape) == tuple(t.solution.shape)


# ---- F.pad: reflect / replicate / circular by slices ------------------------------------------


def test_pad_plan_matches_index_map_exhaustively():
    """Every plan _pad_plan makes reads what the index map (torch's) reads."""
    made = 0
    for mode in ("reflect", "replicate", "circular"):
        for n in range(1, 8):
            for lo in range(-8, 9):
                for hi in range(-8, 9):
                    if n + lo + hi < 0 or (mode == "reflect" and (lo >= n or hi >= n)):
                        continue
                    kept = n - max(-lo, 0) - max(-hi, 0)
                    if mode == "circular" and (max(lo, 0) > kept or max(hi, 0) > kept):
                        continue
                    plan = fs._pad_plan(n, lo, hi, mode)
                    if plan is None:
                        continue
                    (o0, s0, nc), strips = plan
                    idx = np.full(n + lo + hi, -1)
                    idx[o0 : o0 + nc] = np.arange(s0, s0 + nc)
                    for a, b, s, step in strips:
                        idx[a:b] = s + step * np.arange(b - a)
                    np.testing.assert_array_equal(idx, fs._pad_index(n, lo, hi, mode))
                    made += 1
    assert made > 1000


PAD_CASES = [
    ((2, 3, 7), (2, 3)),
    ((2, 3, 7), (-2, 4)),
    ((2, 3, 7), (3, -2)),
    ((3, 7), (6, 0)),
    ((3, 7), (0, 6)),
    ((2, 3, 1), (0, 0)),
    ((2, 1, 5), (1, 1)),
    ((2, 3, 5, 4), (1, 2, 3, 0)),
    ((2, 3, 5, 4), (-1, 3, 2, -4)),
    ((3, 5, 4), (3, 3, 4, 4)),
    ((1, 2, 9, 11), (2, 2, 2, 2)),
    ((2, 1, 1, 6), (5, 4, 0, 0)),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, -1, 2)),
    ((2, 3, 4, 5), (2, 2, 3, 3, 1, 1)),
    ((2, 3, 4, 5, 6), (3, 1, -1, 2, 2, 2)),
    ((2, 5, 3, 4), (3, 3, 2, 2)),
    ((0, 3, 5), (2, 1)),
    ((0, 2, 4, 5), (1, 1, 2, 2)),
    ((2, 3, 5), (-3, 4)),  # reflect mirrors back into the cropped part: the index-map path
    ((2, 3, 6), (4, -3)),
]


def _pad_ok(mode, shape, pad):
    try:
        TF.pad(torch.zeros(shape), pad, mode=mode)
    except (RuntimeError, NotImplementedError):
        return False
    return True


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_matches_torch(shape, pad, mode, dtype):
    k = len(pad) // 2
    kept = [
        (pad[2 * i], pad[2 * i + 1], shape[-1 - i] - max(-pad[2 * i], 0) - max(-pad[2 * i + 1], 0))
        for i in range(k)
    ]
    if mode == "circular" and any(max(lo, 0) > c or max(hi, 0) > c for lo, hi, c in kept):
        # torch reads past the input there: deltagrad raises (test_spatial_r31)
        with pytest.raises(RuntimeError, match="wraps more than once"):
            F.pad(dg.tensor(np.zeros(shape)), pad, mode=mode)
        return
    if not _pad_ok(mode, shape, pad):
        with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
            F.pad(dg.tensor(np.zeros(shape)), pad, mode=mode)
        return
    a = _rand(shape, dtype)
    to, do, tg, dgr = _both(
        lambda t: TF.pad(t, pad, mode=mode), lambda d: F.pad(d, pad, mode=mode), [a]
    )
    _close(do, to, dtype, 1e-6)
    _close(dgr[0], tg[0], dtype, 1e-5)
    with dg.no_grad():
        _close(F.pad(dg.tensor(a, requires_grad=True), pad, mode=mode), to, dtype, 1e-6)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_non_contiguous_and_grad_accumulates(mode):
    a = _rand((2, 3, 6, 5))
    pad = (2, 1, 1, 3)
    t = torch.tensor(a, requires_grad=True)
    d = dg.tensor(a, requires_grad=True)
    g = _rand((2, 3, 9, 9))
    for _ in range(2):  # a transposed view in, twice: the gradients add up
        TF.pad(t.transpose(-1, -2), pad, mode=mode).backward(torch.tensor(g))
        F.pad(d.transpose(-1, -2), pad, mode=mode).backward(dg.tensor(g))
    _close(_grad(d), t.grad, np.float64)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 7), (2, 3)), ((1, 2, 5, 4), (1, 2, 3, -1))])
def test_pad_double_backward(shape, pad, mode):
    a = _rand(shape)
    res = []
    for lib, f, x in (
        (torch, TF.pad, torch.tensor(a, requires_grad=True)),
        (dg, F.pad, dg.tensor(a, requires_grad=True)),
    ):
        y = f(x * x, pad, mode=mode)
        (g1,) = lib.autograd.grad((y * y * y).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x)
        res.append((g1, g2))
    _close(res[1][0], res[0][0], np.float64)
    _close(res[1][1], res[0][1], np.float64)


def test_pad_reflect_size_rule_and_errors():
    x = dg.tensor(_rand((2, 3, 4)))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        F.pad(x, (4, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        F.pad(x, (1, 4), mode="reflect")
    out = F.pad(x, (3, 3), mode="reflect")  # pad = size - 1: allowed
    ref = TF.pad(torch.tensor(x.numpy()), (3, 3), mode="reflect")
    _close(out, ref, np.float64)
    with pytest.raises(NotImplementedError):
        F.pad(dg.tensor(_rand((4,))), (1, 1), mode="replicate")
    with pytest.raises(RuntimeError):
        F.pad(dg.tensor(_rand((2, 0, 4))), (1, 1), mode="replicate")


def test_pad_integer_dtype_replicate():
    a = RNG.integers(-50, 50, (2, 3, 5, 4))
    ref = TF.pad(torch.tensor(a), (2, 1, 1, 2), mode="replicate").numpy()
    out = F.pad(dg.tensor(a), (2, 1, 1, 2), mode="replicate").numpy()
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
