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
