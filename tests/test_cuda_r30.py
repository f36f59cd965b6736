"""Round 30's differential run of the CUDA kernels (the SIMT emulator without a GPU) against the
CPU kernels, NumPy float64 and torch: the cases where they differed, on every device.

- matmul with alpha == 0 skips the product (BLAS, the CPU kernels, torch.addmm): a NaN or inf
  in A or B must not turn C = beta * C into NaN;
- SGD / Adam with weight_decay == 0 add no 0 * param (NaN at an infinite parameter);
- Adam's float32 state: 1 - beta2 and the bias corrections from the float64 hyperparameters
  (1 - float32(0.999) is 1.3e-5 off 0.001, which v carried);
- Adam refuses a missing m or v (the CUDA backend allocated an uninitialized one);
- ops on overlapping views of one buffer (q and k columns of one qkv array) run on the
  emulator (it faulted: a pointer got the first registered buffer that held it).
"""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, assert_close, to_device, to_numpy


def _ids(dtypes):
    return [np.dtype(d).name for d in dtypes]


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids(DTYPES))
def test_matmul_alpha_zero_does_not_read_a_or_b(device, rng, dtype):
    m, n, k = 7, 33, 5
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    a[2, 1], a[0, 0], b[4, 32] = np.nan, np.inf, -np.inf
    c0 = rng.standard_normal((m, n)).astype(dtype)
    precisions = ["fp32", "tf32"] if dtype == np.float32 else ["fp32"]
    da, db = to_device(a, device), to_device(b, device)
    for precision in precisions:
        for beta in (2.0, 0.0):
            out = to_device(c0.copy(), device)
            dg.ops.matmul(da, db, alpha=0.0, beta=beta, out=out, precision=precision)
            assert np.array_equal(to_numpy(out), (beta * c0).astype(dtype)), (precision, beta)
        # transposed operands and the strided-batched path
        out = to_device(np.stack([c0, c0]), device)
        at = to_device(np.stack([a.T, a.T]), device)  # (2, k, m), trans_a
        dg.ops.matmul(at, db, trans_a=True, alpha=-0.0, beta=-1.0, out=out, precision=precision)
        assert np.array_equal(to_numpy(out), np.stack([-c0, -c0])), precision
    # alpha != 0 still propagates, to the rows of A's and the column of B's non-finite values
    bad = ~np.isfinite(to_numpy(dg.ops.matmul(da, db)))
    want = np.zeros((m, n), bool)
    want[[0, 2], :] = want[:, 32] = True
    assert np.array_equal(bad, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids(DTYPES))
def test_zero_weight_decay_keeps_an_infinite_parameter(device, dtype):
    p0 = np.array([np.inf, -np.inf, 1.0, -2.0, 0.5, 3.0, -1.0], dtype)
    g = np.array([1.0, -1.0, 0.5, 0.25, -4.0, 2.0, 1.0], dtype)
    for momentum in (0.0, 0.9):
        p = to_device(p0.copy(), device)
        buf = to_device(np.zeros_like(p0), device) if momentum else None
        dg.ops.sgd_update(p, to_device(g, device), buf, lr=0.1, momentum=momentum, first_step=True)
        want = p0.astype(np.float64)
        ref.sgd_update(want, g.astype(np.float64), None, lr=0.1)
        assert_close(to_numpy(p), want, dtype, name=f"sgd momentum={momentum}")
    for decoupled in (False, True):
        p, m, v = (to_device(x, device) for x in (p0.copy(), np.zeros_like(p0), np.zeros_like(p0)))
        dg.ops.adam_update(p, to_device(g, device), m, v, step=1, decoupled=decoupled)
        p64, m64, v64 = p0.astype(np.float64), np.zeros(7), np.zeros(7)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, step=1, decoupled=decoupled)
        for name, got, want in (("param", p, p64), ("m", m, m64), ("v", v, v64)):
            assert_close(to_numpy(got), want, dtype, rtol=1e-6, name=f"adam {name}")


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_float32_state_is_torchs(device, rng, decoupled):
    """v = 0.999 v + 0.001 g^2 with float32(1 - 0.999), not 1 - float32(0.999): the CUDA kernel
    carried a relative error of 1.3e-5 in v (219 ulp) against the CPU and torch."""
    n, dtype = 37, np.float32
    p0 = rng.standard_normal(n).astype(dtype)
    p, m, v = (to_device(x, device) for x in (p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)))
    p64, m64, v64 = p0.astype(np.float64), np.zeros(n), np.zeros(n)
    for step in range(1, 6):
        g = rng.standard_normal(n).astype(dtype)
        kw = dict(step=step, lr=1e-2, weight_decay=0.01, decoupled=decoupled)
        dg.ops.adam_update(p, to_device(g, device), m, v, **kw)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, **kw)
        assert_close(to_numpy(v), v64, dtype, rtol=1e-6, name=f"v at step {step}")
        assert_close(to_numpy(p), p64, dtype, rtol=1e-6, atol=1e-7, name=f"param at step {step}")


@pytest.mark.parametrize("missing", ["m", "v"])
def test_adam_refuses_missing_state(device, missing):
    arrays = {k: to_device(np.ones(5, np.float32), device) for k in ("param", "grad", "m", "v")}
    arrays[missing] = None
    with pytest.raises(TypeError, match=f"adam_update: {missing}: expected a .+, got None"):
        dg.ops.adam_update(arrays["param"], arrays["grad"], arrays["m"], arrays["v"], step=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids(DTYPES))
def test_ops_on_overlapping_views_of_one_buffer(device, rng, dtype):
    qkv = rng.standard_normal((9, 8)).astype(dtype)
    q, k = qkv[:, :4], qkv[:, 4:]  # k starts inside q's span and ends past it
    got = dg.ops.matmul(to_device(q, device), to_device(k, device), trans_b=True)
    assert_close(to_numpy(got), ref.matmul(q, k, trans_b=True), dtype, rtol=1e-5, scale=4)
    # a transposed view and a view that overlaps it from inside
    a, b = qkv[:7, :5].T, qkv[1:8, 2:]
    got = dg.ops.matmul(to_device(a, device), to_device(b, device))
    assert_close(to_numpy(got), ref.matmul(a, b), dtype, rtol=1e-5, scale=7)
    flat = qkv.reshape(-1)
    y, t = to_device(flat[:40], device), to_device(flat[20:60], device)
    loss, grad = dg.ops.mse_loss(y, t)
    want, want_grad = ref.mse_loss(flat[:40], flat[20:60])
    assert_close(to_numpy(loss), want, dtype, rtol=1e-5)
    assert_close(to_numpy(grad), want_grad, dtype)
