"""cdist p = 1's matrix-product route (_cdist_p1) against torch: values and gradients."""

import numpy as np
import pytest
import torch

import deltagrad as dg

SHAPES = [
    ((5, 3), (4, 3)),
    ((2, 7, 5), (2, 6, 5)),
    ((3, 1, 9, 4), (2, 1, 4)),  # broadcast batch dims
    ((8, 40, 33), (8, 37, 33)),
    ((1, 1), (1, 1)),
    ((0, 3), (4, 3)),
    ((4, 3), (0, 3)),
    ((4, 0), (5, 0)),
    ((2, 300, 3), (2, 5, 3)),  # several row blocks
]


def _run(a, b, dtype):
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    da = dg.tensor(a, requires_grad=True)
    db = dg.tensor(b, requires_grad=True)
    tr = torch.cdist(ta, tb, p=1)
    dr = dg.cdist(da, db, p=1)
    g = np.random.default_rng(1).standard_normal(tuple(tr.shape)).astype(dtype)
    tr.backward(torch.tensor(g))
    dr.backward(dg.tensor(g))
    return (tr, ta.grad, tb.grad), (dr, da.grad, db.grad)


def _close(t, d, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        np.asarray(d.numpy() if hasattr(d, "numpy") else d),
        t.detach().numpy(),
        rtol=tol,
        atol=tol * 10,
        equal_nan=True,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("s1", "s2"), SHAPES)
def test_values_and_gradients_match_torch(s1, s2, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(s1).astype(dtype)
    b = rng.standard_normal(s2).astype(dtype)
    t, d = _run(a, b, dtype)
    assert tuple(d[0].shape) == tuple(t[0].shape)
    for x, y in zip(t, d, strict=True):
        _close(x, y, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_nan_inf_match_torch(dtype):
    rng = np.random.default_rng(2)
    a = rng.integers(-2, 3, (2, 9, 6)).astype(dtype)
    b = rng.integers(-2, 3, (2, 7, 6)).astype(dtype)  # many equal coordinates
    a[0, 1, 2] = np.nan
    b[1, 3, 0] = np.inf
    a[1, 4, 5] = -np.inf
    a[0, 2, 3] = -0.0
    t, d = _run(a, b, dtype)
    for x, y in zip(t, d, strict=True):
        _close(x, y, dtype)


def test_matches_old_direct_route():
    from deltagrad import _tensor_math as tm

    rng = np.random.default_rng(3)
    a = dg.tensor(rng.standard_normal((3, 50, 17)).astype(np.float32))
    b = dg.tensor(rng.standard_normal((3, 40, 17)).astype(np.float32))
    new = tm._cdist_p1(a, b, (3,)).numpy()
    old = tm._cdist_direct(a, b, 1.0, (3,)).numpy()
    np.testing.assert_allclose(new, old, rtol=2e-6, atol=1e-6)


def test_double_backward_still_works():
    rng = np.random.default_rng(4)
    a = dg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = dg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    (ga,) = dg.autograd.grad(dg.cdist(a, b, p=1).sum(), [a], create_graph=True)
    ta = torch.tensor(a.numpy(), requires_grad=True)
    tb = torch.tensor(b.numpy())
    (tga,) = torch.autograd.grad(torch.cdist(ta, tb, p=1).sum(), [ta], create_graph=True)
    np.testing.assert_allclose(ga.numpy(), tga.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("which", ["x1", "x2", "both"])
def test_views_and_one_input_requiring_grad(dtype, which):
    """A transposed (non-contiguous) x1 and a broadcast x2, several row tasks of the kernel
    (P, R > 32), only one input requiring grad."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 21, 70)).astype(dtype).transpose(0, 2, 1)  # (3, 70, 21)
    b = rng.standard_normal((45, 21)).astype(dtype)
    g = rng.standard_normal((3, 70, 45)).astype(dtype)
    r1, r2 = which in ("x1", "both"), which in ("x2", "both")
    da, db = dg.tensor(a, requires_grad=r1), dg.tensor(b, requires_grad=r2)
    ta = torch.tensor(a, requires_grad=r1)
    tb = torch.tensor(b, requires_grad=r2)
    dr, tr = dg.cdist(da, db, p=1), torch.cdist(ta, tb, p=1)
    _close(tr, dr, dtype)
    dr.backward(dg.tensor(g))
    tr.backward(torch.tensor(g))
    for d, t, req in ((da, ta, r1), (db, tb, r2)):
        if req:
            _close(t.grad, d.grad, dtype)
        else:
            assert d.grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_incoming_gradient_matches_torch(dtype):
    """grad * sign(diff): an inf / NaN incoming gradient against a tie (sign 0) is NaN."""
    a = np.array([[0.0, 1.0], [2.0, 2.0]], dtype)
    b = np.array([[0.0, 3.0], [2.0, 1.0], [5.0, 2.0]], dtype)
    g = np.array([[np.inf, 1.0, -2.0], [np.nan, 0.5, 1.0]], dtype)
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    da = dg.tensor(a, requires_grad=True)
    db = dg.tensor(b, requires_grad=True)
    torch.cdist(ta, tb, p=1).backward(torch.tensor(g))
    dg.cdist(da, db, p=1).backward(dg.tensor(g))
    _close(ta.grad, da.grad, dtype)
    _close(tb.grad, db.grad, dtype)
