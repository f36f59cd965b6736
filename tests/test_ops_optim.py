"""Optimizer updates (in place, one pass) against a NumPy float64 implementation of
torch.optim's semantics, and against torch.optim itself when torch is importable."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

SGD_CASES = [
    dict(momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0),
    dict(momentum=0.9, weight_decay=0.0, nesterov=False, dampening=0.0),
    dict(momentum=0.9, weight_decay=1e-2, nesterov=True, dampening=0.0),
    dict(momentum=0.5, weight_decay=1e-3, nesterov=False, dampening=0.3),
]
ADAM_CASES = [
    dict(weight_decay=0.0, decoupled=False),
    dict(weight_decay=0.1, decoupled=False),
    dict(weight_decay=0.1, decoupled=True),
]
SIZES = [0, 1, 37, 70001]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.parametrize("n", SIZES)
def test_sgd(isa, n, case, dtype, rng):
    p, buf = sample(rng, (n,), dtype), np.zeros(n, dtype)
    p64, buf64 = p.astype(np.float64), buf.astype(np.float64)
    for step in range(3):
        g = sample(rng, (n,), dtype)
        ops.sgd_update(p, g, buf, lr=0.1, first_step=step == 0, **case)
        ref.sgd_update(p64, g.astype(np.float64), buf64, lr=0.1, first_step=step == 0, **case)
        assert_close(p, p64, dtype, atol=RTOL[dtype] * 4, name="param")
        if case["momentum"]:
            assert_close(buf, buf64, dtype, atol=RTOL[dtype] * 4, name="buf")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAM_CASES)
@pytest.mark.parametrize("n", SIZES)
def test_adam(isa, n, case, dtype, rng):
    p = sample(rng, (n,), dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    p64, m64, v64 = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    for step in range(1, 4):
        g = sample(rng, (n,), dtype)
        ops.adam_update(p, g, m, v, step=step, lr=1e-2, **case)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, step=step, lr=1e-2, **case)
        assert_close(p, p64, dtype, atol=RTOL[dtype] * 1e-1, name="param")
        assert_close(m, m64, dtype, atol=RTOL[dtype] * 1e-2, name="m")
        assert_close(v, v64, dtype, atol=RTOL[dtype] * 1e-2, name="v")


def test_optim_bad_inputs():
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="buf: momentum != 0 needs a momentum buffer"):
        ops.sgd_update(p, p.copy(), None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"grad: expected shape \(3,\)"):
        ops.sgd_update(p, np.zeros(4, np.float32), None, lr=0.1)
    with pytest.raises(ValueError, match="param and grad: must not share memory"):
        ops.sgd_update(p, p, None, lr=0.1)
    with pytest.raises(ValueError, match="step: expected step >= 1"):
        ops.adam_update(p, p.copy(), p.copy(), p.copy(), step=0)
    with pytest.raises(TypeError, match="m: expected dtype float32"):
        ops.adam_update(p, p.copy(), np.zeros(3), p.copy(), step=1)
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param: expected a writable array"):
        ops.sgd_update(ro, p, None, lr=0.1)


@pytest.mark.torch
@pytest.mark.parametrize("case", SGD_CASES)
def test_sgd_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal(50)
    tp = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([tp], lr=0.1, **case)
    p, buf = p0.copy(), np.zeros(50)
    for step in range(4):
        g = rng.standard_normal(50)
        tp.grad = torch.tensor(g)
        opt.step()
        ops.sgd_update(p, g, buf, lr=0.1, first_step=step == 0, **case)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("case", ADAM_CASES)
def test_adam_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal(50)
    tp = torch.tensor(p0, requires_grad=True)
    cls = torch.optim.AdamW if case["decoupled"] else torch.optim.Adam
    opt = cls([tp], lr=1e-2, weight_decay=case["weight_decay"], foreach=False)
    p, m, v = p0.copy(), np.zeros(50), np.zeros(50)
    for step in range(1, 6):
        g = rng.standard_normal(50)
        tp.grad = torch.tensor(g)
        opt.step()
        ops.adam_update(p, g, m, v, step=step, lr=1e-2, **case)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
