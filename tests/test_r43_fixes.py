"""Round 43: Adamax and NAdam on C++ updates (the array path's roundings, bit for bit on the
SIMD builds), the spatial cross-entropy's gradient at large logits (ops.logsumexp_backward
with lse None: the max-shifted softmax), and flip's refusals (object arrays) and 0-d dims."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_helpers import assert_params_close, step_side_by_side

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import _cpu, ops, reference
from deltagrad.optim import _more
from deltagrad.optim._chunked import run_chunked

SIMD = _cpu.active_isa() in ("avx2", "avx512")


def _adamax_args(dtype, b1, wd, neg):
    return dict(
        clr=0.01 / (1 - b1**3), beta1=b1, beta2=0.999, eps=1e-8, weight_decay=wd, maximize=neg
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 33, 70001])
@pytest.mark.parametrize("b1,wd,neg", [(0.9, 0.0, False), (0.9, 0.1, True), (0.3, 0.05, False)])
def test_adamax_kernel_equals_the_array_path(n, dtype, b1, wd, neg):
    rng = np.random.default_rng(n)
    w, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m, u = rng.standard_normal(n).astype(dtype), np.abs(rng.standard_normal(n)).astype(dtype)
    if n > 3:
        g[:3] = [np.inf, np.nan, 0.0]
    a = [x.copy() for x in (w, g, m, u)]
    kw = _adamax_args(dtype, b1, wd, neg)
    _cpu.adamax_update(a[0], a[1], a[2], a[3], **kw)
    b = [x.copy() for x in (w, g, m, u)]
    with np.errstate(all="ignore"):
        run_chunked(_more._adamax, b, 2, neg, wd, b1, 0.999, 1e-8, kw["clr"], abs(1 - b1) < 0.5)
    for x, y in zip(a, b, strict=True):
        if SIMD:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 33, 70001])
@pytest.mark.parametrize(
    "decay,wd,neg,b1", [(1.0, 0.0, False, 0.9), (1.0, 0.1, True, 0.9), (0.99, 0.0, False, 0.2)]
)
def test_nadam_kernel_equals_the_array_path(n, dtype, decay, wd, neg, b1):
    rng = np.random.default_rng(n + 5)
    w, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m, v = rng.standard_normal(n).astype(dtype), np.abs(rng.standard_normal(n)).astype(dtype)
    scal = dict(
        decay=decay, beta1=b1, beta2=0.999, bc2=1 - 0.999**4, eps=1e-8, c_g=-0.003, c_m=-0.02
    )
    a = [x.copy() for x in (w, g, m, v)]
    _cpu.nadam_update(a[0], a[1], a[2], a[3], weight_decay=wd, maximize=neg, **scal)
    b = [x.copy() for x in (w, g, m, v)]
    with np.errstate(all="ignore"):
        run_chunked(
            _more._nadam,
            b,
            3,
            neg,
            wd,
            decay,
            b1,
            0.999,
            scal["bc2"],
            1e-8,
            scal["c_g"],
            scal["c_m"],
        )
    for x, y in zip(a, b, strict=True):
        if SIMD:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kind,kw",
    [
        ("Adamax", dict(lr=0.01)),
        ("Adamax", dict(lr=0.01, betas=(0.4, 0.99), weight_decay=0.1, maximize=True)),
        ("NAdam", dict(lr=0.01)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
        ("NAdam", dict(lr=0.01, weight_decay=0.05, maximize=True, momentum_decay=0.01)),
    ],
)
def test_optimizers_on_the_kernels_match_torch(kind, kw, dtype):
    shapes = [(33, 17), (1,), (0, 4), (70001,)]
    dps, tps = step_side_by_side(kind, kw, shapes, dtype, np.random.default_rng(3))
    assert_params_close(dps, tps, dtype)


def test_adamax_nadam_bindings_refuse_overlap_and_bad_betas():
    w, g = np.zeros(8, np.float32), np.ones(8, np.float32)
    m, u = np.zeros(8, np.float32), np.ones(8, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        _cpu.adamax_update(w, g, m, m, clr=0.1)
    with pytest.raises(ValueError, match="beta1"):
        _cpu.adamax_update(w, g, m, u, clr=0.1, beta1=1.0)
    with pytest.raises(TypeError, match="exp_inf"):
        _cpu.adamax_update(w, g, m, u.astype(np.float64), clr=0.1)
    with pytest.raises(ValueError, match="share memory"):
        _cpu.nadam_update(
            w, g, w, u, decay=1.0, beta1=0.9, beta2=0.99, bc2=0.1, eps=1e-8, c_g=-1.0, c_m=-1.0
        )


@pytest.mark.parametrize("dtype,tol", [(np.float32, 4e-7), (np.float64, 1e-15)])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0, 1e4])
def test_spatial_cross_entropy_gradient_is_exact_at_large_logits(scale, dtype, tol):
    """The gradient is g * softmax(x) minus g at the target, the softmax max-shifted: its error
    does not grow with the logits' scale (exp(x - lse) carried an ulp of the max logit)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 10, 9, 7)) * scale).astype(dtype)
    t = rng.integers(0, 10, (2, 9, 7))
    xd = dg.tensor(x, requires_grad=True)
    F.cross_entropy(xd, dg.tensor(t), reduction="sum").backward()
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(1, keepdims=True))
    want = e / e.sum(1, keepdims=True)
    np.put_along_axis(want, t[:, None], np.take_along_axis(want, t[:, None], 1) - 1, 1)
    np.testing.assert_allclose(np.asarray(xd.grad), want, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((5, 7), -1), ((3, 11, 6), 1), ((1, 1), 0), ((4, 0, 3), 2)])
def test_logsumexp_backward_without_lse_is_the_scaled_softmax(shape, dim, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    g = rng.standard_normal(np.delete(np.array(shape), dim % len(shape))).astype(dtype)
    got = ops.logsumexp_backward(g, x, None, dim=dim)
    want = reference.logsumexp_backward(g, x, None, dim=dim)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-30)


def test_flip_refuses_object_arrays_and_takes_minus_one_on_0d():
    a = np.array([object() for _ in range(4)], dtype=object)
    with pytest.raises(TypeError, match="numeric"):
        _cpu.flip(a, [0])
    with pytest.raises(TypeError, match="numeric"):
        _cpu.flip(np.zeros(3, "V8"), [0])
    np.testing.assert_array_equal(ops.flip(a, (0,)), a[::-1])  # numpy's path, references counted
    for d in (0, -1):
        assert ops.flip(np.array(3.0), (d,)) == 3.0
    with pytest.raises(IndexError):
        ops.flip(np.array(3.0), (1,))
    with pytest.raises(TypeError, match="ints"):
        ops.flip(np.zeros(3), (1.5,))
    torch = pytest.importorskip("torch")
    assert float(torch.flip(torch.tensor(3.0), (-1,))) == 3.0


@pytest.mark.parametrize("p", [1.0, float("inf"), 0.5, 1.5, 3.0])
@pytest.mark.parametrize("rows", [2, 40])  # 40 x2 rows: the other block layout
def test_cdist_gradient_nan_pattern_matches_torch(p, rows):
    """A NaN coordinate: its gradient NaN (p = 1, inf: torch's sign keeps NaN); a coordinate
    whose difference is 0 gets 0 even where the distance is NaN (p < 2)."""
    torch = pytest.importorskip("torch")
    a = np.array([[np.nan, 0.0, 1.0], [1.0, 2.0, 0.5]])
    b = np.tile(np.array([[0.0, 0.0, 1.0]]), (rows, 1))
    if p != float("inf"):  # (torch's inf-norm distance skips a NaN: compare one pair only)
        b[1:] += np.random.default_rng(0).standard_normal((rows - 1, 3))
    ad = dg.tensor(a, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    dg.cdist(ad, dg.tensor(b), p=p).sum().backward()
    torch.cdist(at, torch.tensor(b), p=p).sum().backward()
    np.testing.assert_allclose(
        np.asarray(ad.grad), at.grad.numpy(), rtol=1e-10, atol=1e-12, equal_nan=True
    )


def test_cdist_matmul_route_with_inf_input_does_not_warn():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((30, 4))
    a[3, 1] = np.inf
    b = np.random.default_rng(1).standard_normal((30, 4))
    got = dg.cdist(dg.tensor(a), dg.tensor(b)).numpy()
    want = torch.cdist(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, equal_nan=True)


def test_lstsq_float64_large_residual_keeps_float64_accuracy():
    """5000 x 2, cond 32, B mostly orthogonal to A's range: the normal equations' cond^2 error
    (3.7e-7) is gone on the QR route (torch: 4.8e-9)."""
    rng = np.random.default_rng(5)
    m, n = 5000, 2
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (u * np.logspace(0, -1.5, n)) @ v
    z = rng.standard_normal((m, 1))
    z -= u @ (u.T @ z)
    b = z + 1e-5 * (a @ rng.standard_normal((n, 1)))
    q, r = np.linalg.qr(a)
    want = np.linalg.solve(r, q.T @ b)
    got = dg.linalg.lstsq(dg.tensor(a), dg.tensor(b)).solution.numpy()
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-7
    wide = a.T  # m < n: the minimum-norm solution by QR of A^T
    bw = rng.standard_normal((n, 3))
    np.testing.assert_allclose(
        dg.linalg.lstsq(dg.tensor(wide), dg.tensor(bw)).solution.numpy(),
        np.linalg.pinv(wide) @ bw,
        rtol=1e-9,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("max_norm", [1e9, 1.0, 0.0])
def test_clip_grad_norm_matches_torch_and_skips_the_unit_scale(max_norm, dtype):
    """The p = 2 norms by one dot each; a coefficient of 1 leaves the gradients as they were
    (g * 1.0 is g to the bit, so no pass is made), else every gradient scaled, as torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    shapes = [(64, 64), (7,), (1,), (0,), (33, 5)]
    gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    gs[1][2] = -0.0
    dps = [dg.nn.Parameter(dg.tensor(np.zeros(s, dtype))) for s in shapes]
    tps = [torch.nn.Parameter(torch.zeros(s, dtype=getattr(torch, dtype))) for s in shapes]
    for dp, tp, g in zip(dps, tps, gs, strict=True):
        dp.grad, tp.grad = g.copy(), torch.tensor(g.copy())
    kept = [np.asarray(dp.grad) for dp in dps]
    total = dg.nn.utils.clip_grad_norm_(dps, max_norm)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm)
    np.testing.assert_allclose(float(total.numpy()), float(ttotal), rtol=1e-6)
    for dp, tp, k in zip(dps, tps, kept, strict=True):
        assert np.asarray(dp.grad) is k or np.shares_memory(np.asarray(dp.grad), k)  # in place
        np.testing.assert_allclose(np.asarray(dp.grad), tp.grad.numpy(), rtol=1e-6, atol=1e-30)
    if max_norm == 1e9:
        for dp, g in zip(dps, gs, strict=True):
            assert np.asarray(dp.grad).tobytes() == g.tobytes()


def test_clip_grad_norm_nonfinite_total_still_scales():
    torch = pytest.importorskip("torch")
    g = np.array([1.0, np.inf, 2.0])
    dp = dg.nn.Parameter(dg.tensor(np.zeros(3)))
    tp = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    dp.grad, tp.grad = g.copy(), torch.tensor(g.copy())
    dg.nn.utils.clip_grad_norm_([dp], 1.0)
    torch.nn.utils.clip_grad_norm_([tp], 1.0)
    np.testing.assert_array_equal(np.asarray(dp.grad), tp.grad.numpy())
