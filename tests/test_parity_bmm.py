"""Batched matmul against torch in float64: Tensor @, dg.linalg.matmul and dg.linalg.bmm.

Values and gradients (rtol = atol = 1e-10) for every shape case of torch.matmul: 1-D @ 1-D
(dot), matrix-vector, vector-matrix, batched with a 1-D operand, 2-D, batches with broadcast
batch dimensions (1 against n, missing dimensions), batch 0 and 1, k = 0, transposed and
broadcast views; then bmm, and the errors (naming matmul / bmm and the shapes).
"""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.linalg import bmm, matmul
from deltagrad.testing import assert_close, to_device, to_numpy

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-10, "atol": 1e-10}

# (shape of a, shape of b): every case torch.matmul distinguishes
CASES = [
    ((5,), (5,)),  # dot
    ((1,), (1,)),
    ((3, 5), (5,)),  # matrix @ vector
    ((5,), (5, 4)),  # vector @ matrix
    ((3, 5), (5, 4)),  # 2-D
    ((1, 1), (1, 1)),
    ((2, 3, 5), (5,)),  # batch @ vector
    ((5,), (2, 5, 4)),  # vector @ batch
    ((2, 3, 5), (5, 4)),  # batch @ matrix (one GEMM of 6 rows)
    ((3, 5), (2, 5, 4)),  # matrix @ batch
    ((2, 3, 5), (2, 5, 4)),  # bmm
    ((2, 1, 3, 5), (4, 5, 6)),  # 1 against n, a missing dimension
    ((1, 3, 5), (4, 5, 6)),
    ((4, 3, 5), (1, 5, 6)),  # b shared by the batch: its gradient is one GEMM
    ((2, 3, 5), (1, 1, 5, 4)),
    ((2, 1, 3, 5), (1, 4, 5, 6)),  # both broadcast
    ((3, 2, 3, 5), (2, 5, 6)),
    ((1, 1, 5), (1, 5, 1)),  # batch 1
    ((0, 3, 5), (5, 4)),  # batch 0
    ((2, 0, 5), (2, 5, 4)),  # m = 0
    ((2, 3, 0), (2, 0, 4)),  # k = 0
    ((0,), (0,)),  # an empty dot
]
SIMT_CASES = [c for c in CASES if np.prod(c[0]) * np.prod(c[1]) <= 4000]


def _data(rng, shape):
    x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return np.asarray(x, dtype=np.float64)


def _pair(rng, sa, sb, device):
    a, b = _data(rng, sa), _data(rng, sb)
    ta = dg.tensor(to_device(a, device), requires_grad=True)
    tb = dg.tensor(to_device(b, device), requires_grad=True)
    pa = torch.tensor(a, requires_grad=True)
    pb = torch.tensor(b, requires_grad=True)
    return ta, tb, pa, pb


def _check(rng, out, ref, ta, tb, pa, pb):
    assert tuple(out.shape) == tuple(ref.shape)
    assert_close(to_numpy(out.data), ref.detach().numpy(), name="value", **TOL)
    g = _data(rng, tuple(ref.shape))
    out.backward(to_device(g, "cuda") if out.device == "cuda" else g)
    ref.backward(torch.tensor(g))
    assert_close(to_numpy(ta.grad), pa.grad.numpy(), name="grad of a", **TOL)
    assert_close(to_numpy(tb.grad), pb.grad.numpy(), name="grad of b", **TOL)


@pytest.mark.per_device("sa,sb", {"cpu": CASES, "simt": SIMT_CASES})
def test_matmul_operator(device, rng, sa, sb):
    ta, tb, pa, pb = _pair(rng, sa, sb, device)
    _check(rng, ta @ tb, pa @ pb, ta, tb, pa, pb)


@pytest.mark.parametrize("sa,sb", CASES)
def test_linalg_matmul(rng, sa, sb):
    ta, tb, pa, pb = _pair(rng, sa, sb, "cpu")
    _check(rng, matmul(ta, tb), torch.matmul(pa, pb), ta, tb, pa, pb)


@pytest.mark.parametrize("b,n,m,p", [(3, 4, 5, 6), (1, 1, 1, 1), (0, 2, 3, 4), (5, 7, 1, 3)])
def test_bmm(rng, b, n, m, p):
    ta, tb, pa, pb = _pair(rng, (b, n, m), (b, m, p), "cpu")
    _check(rng, bmm(ta, tb), torch.bmm(pa, pb), ta, tb, pa, pb)


def test_views_and_constants(rng):
    """Non-contiguous operands (transposed, broadcast numpy views) and an ndarray on either
    side (__rmatmul__), as torch with the same data."""
    base = _data(rng, (4, 3, 6))
    view = base.transpose(0, 2, 1)[:, ::2]  # (4, 3, 3) with odd strides
    bcast = np.broadcast_to(_data(rng, (3, 5)), (4, 3, 5))
    ta = dg.tensor(view, requires_grad=True)
    pa = torch.tensor(np.ascontiguousarray(view), requires_grad=True)
    out = ta @ bcast
    ref = pa @ torch.tensor(np.ascontiguousarray(bcast))
    assert_close(out.data, ref.detach().numpy(), name="value", **TOL)
    g = _data(rng, ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(ta.grad, pa.grad.numpy(), name="grad", **TOL)
    left = _data(rng, (2, 1, 5, 4))
    tb = dg.tensor(_data(rng, (3, 4, 2)), requires_grad=True)
    pb = torch.tensor(tb.data.copy(), requires_grad=True)
    out = left @ tb  # ndarray @ Tensor
    ref = torch.tensor(left) @ pb
    assert_close(out.data, ref.detach().numpy(), name="value", **TOL)
    g = _data(rng, ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(tb.grad, pb.grad.numpy(), name="grad", **TOL)


def test_float32(rng):
    a, b = _data(rng, (2, 3, 5)).astype(np.float32), _data(rng, (5, 4)).astype(np.float32)
    out = dg.tensor(a) @ dg.tensor(b)
    assert out.dtype == np.float32
    assert_close(out.data, torch.tensor(a) @ torch.tensor(b), rtol=1e-5, atol=1e-5)


def test_matmul_errors():
    x = dg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 3, 4\) and \(5, 6\) do not line up"):
        x @ dg.tensor(np.ones((5, 6)))
    with pytest.raises(ValueError, match=r"matmul: .*\(4,\) and \(3,\) do not line up"):
        dg.tensor(np.ones(4)) @ dg.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"matmul: the batch dimensions of shapes \(2, 3, 4\) "):
        x @ dg.tensor(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 1 dim.*\(\)"):
        x @ dg.tensor(np.float64(2.0))
    with pytest.raises(TypeError, match=r"matmul: operands have different dtypes"):
        x @ dg.tensor(np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"matmul: input: expected a Tensor, got ndarray"):
        matmul(np.ones((2, 2)), x)
    with pytest.raises(TypeError, match=r"matmul: other: expected a Tensor, got list"):
        matmul(x, [1.0])


def test_bmm_errors():
    a = dg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"bmm: input: expected a 3-D tensor, got shape \(3, 4\)"):
        bmm(dg.tensor(np.ones((3, 4))), a)
    with pytest.raises(ValueError, match=r"bmm: mat2: expected a 3-D tensor, got shape \(4, 5\)"):
        bmm(a, dg.tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"bmm: mat2: expected batch size 2 .*\(1, 4, 5\)"):
        bmm(a, dg.tensor(np.ones((1, 4, 5))))  # no broadcasting, as torch
    with pytest.raises(ValueError, match=r"bmm: shapes \(2, 3, 4\) and \(2, 5, 5\) cannot"):
        bmm(a, dg.tensor(np.ones((2, 5, 5))))
    with pytest.raises(TypeError, match=r"bmm: mat2: expected a Tensor, got None"):
        bmm(a, None)
