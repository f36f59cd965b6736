"""Argument semantics of deltagrad.functional's losses and softmax against torch (round 30):
out-of-range class indices, BCE target gradients and softmax's dtype=."""

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _run(lib, fn, arrays, grads):
    T = torch.tensor if lib is torch else dg.tensor
    ins = [T(a, requires_grad=i in grads) if i in grads else T(a) for i, a in enumerate(arrays)]
    out = fn(*ins)
    g = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(arrays[0].dtype)
    out.backward(T(g))
    tonp = (lambda x: x.detach().numpy()) if lib is torch else (lambda x: np.asarray(x.data))
    return tonp(out), [tonp(ins[i].grad) for i in grads]


def _check(dfn, tfn, arrays, grads, dtype):
    tol = TOL[dtype]
    (dout, dgr), (tout, tgr) = _run(dg, dfn, arrays, grads), _run(torch, tfn, arrays, grads)
    assert dout.shape == tout.shape and dout.dtype == tout.dtype
    np.testing.assert_allclose(dout, tout, rtol=tol, atol=tol)
    for a, b in zip(dgr, tgr):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [4, -1])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_out_of_range_class_raises_index_error_as_torch(name, bad, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    t = np.zeros((shape[0], *shape[2:]), np.int64)
    t[1] = bad
    with pytest.raises(IndexError):
        getattr(TF, name)(torch.tensor(x), torch.tensor(t))
    with pytest.raises(IndexError, match="class index"):
        getattr(F, name)(dg.tensor(x), t)
    with pytest.raises(ValueError):  # still the ValueError deltagrad raised before
        getattr(F, name)(dg.tensor(x), t, weight=np.ones(4))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("logits", [False, True])
def test_binary_cross_entropy_target_gradient_as_torch(logits, reduction, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(dtype)
    if not logits:
        x = (rng.random((3, 4)) * 0.9 + 0.05).astype(dtype)
    t = rng.random((3, 4)).astype(dtype)
    name = "binary_cross_entropy_with_logits" if logits else "binary_cross_entropy"
    _check(
        lambda a, b: getattr(F, name)(a, b, reduction=reduction),
        lambda a, b: getattr(TF, name)(a, b, reduction=reduction),
        [x, t],
        (0, 1),
        dtype,
    )


def test_binary_cross_entropy_target_gradient_at_the_edges():
    p = np.array([0.0, 1.0, 0.5, 1e-50])
    t = np.array([0.3, 0.6, 0.2, 0.5])
    grads = []
    for lib in (dg, torch):
        a, b = lib.tensor(p, requires_grad=True), lib.tensor(t, requires_grad=True)
        (F if lib is dg else TF).binary_cross_entropy(a, b, reduction="sum").backward()
        grads.append(np.asarray(b.grad.data) if lib is dg else b.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("to", ["float64", "float32"])
def test_softmax_dtype_casts_first_as_torch(name, dim, to):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    _check(
        lambda a: getattr(F, name)(a, dim=dim, dtype=getattr(dg, to)),
        lambda a: getattr(TF, name)(a, dim=dim, dtype=getattr(torch, to)),
        [x],
        (0,),
        np.float32,
    )


# ---- BCE weight= / pos_weight= (round 30), against torch -------------------------------------


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("which", ["weight", "pos_weight", "both"])
def test_bce_with_logits_weights_match_torch(dtype, tol, reduction, which):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((5, 3)) * 4).astype(dtype)
    z[0, 0], z[1, 1], z[2, 2] = 0.0, 40.0, -40.0  # the kink, and both tails
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, (5, 1)).astype(dtype) if which != "pos_weight" else None
    pw = rng.uniform(0.5, 3, 3).astype(dtype) if which != "weight" else None
    zd, td = dg.tensor(z, requires_grad=True), dg.tensor(t, requires_grad=True)
    zt, tt = torch.tensor(z, requires_grad=True), torch.tensor(t, requires_grad=True)
    kw = {} if w is None else {"weight": w}
    tkw = {} if w is None else {"weight": torch.tensor(w)}
    if pw is not None:
        kw["pos_weight"], tkw["pos_weight"] = pw, torch.tensor(pw)
    ours = F.binary_cross_entropy_with_logits(zd, td, reduction=reduction, **kw)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(zt, tt, reduction=reduction, **tkw)
    np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(ours.shape).astype(dtype) if reduction == "none" else None
    ours.backward(None if g is None else g)
    ref.backward(None if g is None else torch.tensor(g))
    np.testing.assert_allclose(zd.grad, zt.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(td.grad, tt.grad.numpy(), rtol=tol, atol=tol)
    mod = dg.nn.BCEWithLogitsLoss(reduction=reduction, **kw)
    np.testing.assert_allclose(mod(z, t).numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    assert ("pos_weight" in dict(mod.named_buffers())) == (pw is not None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_weight_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    p = rng.uniform(0.01, 0.99, (4, 6))
    t = rng.uniform(0, 1, (4, 6))
    w = rng.uniform(0.5, 2, 6)
    pd, td = dg.tensor(p, requires_grad=True), dg.tensor(t, requires_grad=True)
    pt, tt = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    ours = F.binary_cross_entropy(pd, td, reduction=reduction, weight=w)
    ref = torch.nn.functional.binary_cross_entropy(
        pt, tt, weight=torch.tensor(w), reduction=reduction
    )
    np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(pd.grad, pt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(td.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-12)
    mod = dg.nn.BCELoss(weight=w, reduction=reduction)
    np.testing.assert_allclose(mod(p, t).numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_bce_weights_bad_input():
    z, t = np.zeros((4, 3)), np.ones((4, 3))
    with pytest.raises(ValueError, match="pos_weight has shape"):
        F.binary_cross_entropy_with_logits(z, t, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="weight has shape"):
        F.binary_cross_entropy(np.full((4, 3), 0.5), t, weight=np.ones((2, 3)))
    with pytest.raises(NotImplementedError, match="requires grad"):
        F.binary_cross_entropy_with_logits(z, t, weight=dg.tensor(np.ones(3), requires_grad=True))
    assert dg.nn.BCEWithLogitsLoss("sum").reduction == "sum"  # the older positional form
