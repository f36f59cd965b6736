"""multi_margin_loss as one array-op node (round 43): values and gradients against torch for
p 1 and 2, margins, weights, every reduction, 1-D and 2-D inputs, float32 / float64, ties at
the hinge, NaN entries, and its double backward."""

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")
F, TF = dg.functional, torch.nn.functional


def _both(x, t, w, gout, **kw):
    xd = dg.tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x.copy(), requires_grad=True)
    kd = dict(kw, weight=None if w is None else dg.tensor(w))
    kt = dict(kw, weight=None if w is None else torch.tensor(w))
    od = F.multi_margin_loss(xd, dg.tensor(t), **kd)
    ot = TF.multi_margin_loss(xt, torch.tensor(t), **kt)
    if gout is None:
        od.backward()
        ot.backward()
    else:
        od.backward(dg.tensor(gout.reshape(od.shape)))
        ot.backward(torch.tensor(gout.reshape(tuple(ot.shape))))
    return od, ot, xd.grad, xt.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(37, 11), (1, 1), (1, 5), (5, 1), (7,), (1,)])
def test_matches_torch(dtype, p, reduction, weighted, shape):
    rng = np.random.default_rng(hash((p, reduction, weighted, shape)) % 2**32)
    dim = shape[-1]
    n = shape[0] if len(shape) == 2 else 1
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, dim, n) if len(shape) == 2 else np.array(rng.integers(0, dim))
    t = t.reshape(n) if len(shape) == 2 else t.reshape(())
    w = rng.uniform(0.2, 2.0, dim).astype(dtype) if weighted else None
    gshape = (n,) if (reduction == "none" and len(shape) == 2) else ()
    gout = rng.standard_normal(gshape).astype(dtype) if reduction == "none" else None
    margin = float(rng.uniform(0.1, 2.0))
    od, ot, gd, gt = _both(x, t, w, gout, p=p, margin=margin, reduction=reduction)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    assert od.data.dtype == dtype
    assert tuple(od.shape) == tuple(ot.shape)
    np.testing.assert_allclose(od.data, ot.detach().numpy(), **tol)
    np.testing.assert_allclose(gd.data, gt.numpy(), **tol)


def test_ties_nan_and_negative_margin():
    """z == 0 exactly (no term, no gradient), NaN entries (torch's kernel: no term) and a
    margin <= 0."""
    x = np.array([[1.0, 0.0, 1.0, np.nan], [0.5, 0.5, -3.0, 2.0], [2.0, 1.0, 0.0, 1.0]], np.float32)
    t = np.array([0, 1, 3])
    for margin in (1.0, 0.0, -0.5):
        for p in (1, 2):
            od, ot, gd, gt = _both(x, t, None, None, p=p, margin=margin)
            np.testing.assert_allclose(od.data, ot.detach().numpy(), rtol=1e-6, equal_nan=True)
            np.testing.assert_allclose(gd.data, gt.numpy(), rtol=1e-6, equal_nan=True)


def test_grad_accumulates_and_no_grad_path():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 4))
    t = rng.integers(0, 4, 9)
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    for _ in range(2):
        F.multi_margin_loss(xd, dg.tensor(t), p=2).backward()
        TF.multi_margin_loss(xt, torch.tensor(t), p=2).backward()
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=1e-12)
    with dg.no_grad():
        out = F.multi_margin_loss(xd, dg.tensor(t))
    assert not out.requires_grad
    np.testing.assert_allclose(
        out.data, TF.multi_margin_loss(xt, torch.tensor(t)).item(), rtol=1e-12
    )


def test_double_backward_matches_finite_differences():
    """torch has no double backward here: the Hessian-vector product of (grad**2).sum() is
    checked against central differences of the first gradient (float64, away from kinks)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 5, 6)
    w = dg.tensor(rng.uniform(0.5, 1.5, 5))

    def grad_of(xa, create_graph=False):
        xd = dg.tensor(xa, requires_grad=True)
        loss = F.multi_margin_loss(xd, dg.tensor(t), p=2, weight=w)
        (gd,) = dg.autograd.grad(loss, [xd], create_graph=create_graph)
        return xd, gd

    xd, gd = grad_of(x, True)
    (hd,) = dg.autograd.grad((gd * gd).sum(), [xd])
    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fp = (grad_of(x + e)[1].data ** 2).sum()
        fm = (grad_of(x - e)[1].data ** 2).sum()
        num[idx] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(hd.data, num, rtol=1e-5, atol=1e-8)


def test_empty_batch_and_bad_input():
    x = dg.tensor(np.zeros((0, 3), np.float32), requires_grad=True)
    out = F.multi_margin_loss(x, dg.tensor(np.zeros(0, np.int64)), reduction="sum")
    out.backward()
    assert float(out.data) == 0 and x.grad.shape == (0, 3)
    with pytest.raises(IndexError):
        F.multi_margin_loss(dg.tensor(np.zeros((2, 3))), dg.tensor(np.array([0, 3])))
    with pytest.raises(ValueError):
        F.multi_margin_loss(dg.tensor(np.zeros((2, 3))), dg.tensor(np.array([0, 1])), p=3)
