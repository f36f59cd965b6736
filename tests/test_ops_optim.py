"""Optimizer updates (in place, one pass) against a NumPy float64 implementation of
torch.optim's semantics, and against torch.optim itself when torch is importable; on every device
(cpu on every ISA, the SIMT emulator on small sizes, cuda) and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import (
    DTYPES,
    GPU_RTOL,
    RTOL,
    assert_close,
    sample,
    to_device,
    to_numpy,
)

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
SIZES_BY_DEVICE = {"cpu": SIZES, "simt": [0, 1, 37]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.per_device(n=SIZES_BY_DEVICE)
def test_sgd(device, isa, n, case, dtype, rng):
    p, buf = sample(rng, (n,), dtype), np.zeros(n, dtype)
    p64, buf64 = p.astype(np.float64), buf.astype(np.float64)
    p, buf = to_device(p, device), to_device(buf, device)
    for step in range(3):
        g = sample(rng, (n,), dtype)
        ops.sgd_update(p, to_device(g, device), buf, lr=0.1, first_step=step == 0, **case)
        ref.sgd_update(p64, g.astype(np.float64), buf64, lr=0.1, first_step=step == 0, **case)
        assert_close(to_numpy(p), p64, dtype, atol=RTOL[dtype] * 4, name="param")
        if case["momentum"]:
            assert_close(to_numpy(buf), buf64, dtype, atol=RTOL[dtype] * 4, name="buf")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAM_CASES)
@pytest.mark.per_device(n=SIZES_BY_DEVICE)
def test_adam(device, isa, n, case, dtype, rng):
    p = sample(rng, (n,), dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    p64, m64, v64 = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    p, m, v = (to_device(a, device) for a in (p, m, v))
    # the CUDA kernels (on the emulator, on a GPU) round v's update differently: GPU_RTOL there
    rtol = RTOL[dtype] if device == "cpu" else GPU_RTOL[dtype]
    for step in range(1, 4):
        g = sample(rng, (n,), dtype)
        ops.adam_update(p, to_device(g, device), m, v, step=step, lr=1e-2, **case)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, step=step, lr=1e-2, **case)
        assert_close(to_numpy(p), p64, dtype, atol=RTOL[dtype] * 1e-1, rtol=rtol, name="param")
        assert_close(to_numpy(m), m64, dtype, atol=RTOL[dtype] * 1e-2, rtol=rtol, name="m")
        assert_close(to_numpy(v), v64, dtype, atol=RTOL[dtype] * 1e-2, rtol=rtol, name="v")


# ---- 2-D parameters over several steps at the GPU tolerance -----------------------------------


@pytest.mark.parametrize(
    "momentum,nesterov,wd,damp",
    [
        (0.0, False, 0.0, 0.0),
        (0.9, False, 0.01, 0.0),
        (0.9, True, 0.0, 0.0),
        (0.5, False, 0.0, 0.3),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_2d(device, rng, momentum, nesterov, wd, damp, dtype):
    p = rng.standard_normal((13, 7)).astype(dtype)
    buf = np.full_like(p, np.nan) if momentum else None  # first_step must not read it
    p64 = p.astype(np.float64)
    b64 = np.zeros(p.shape) if momentum else None
    p = to_device(p, device)
    buf = to_device(buf, device) if momentum else None
    for step in range(3):
        g = rng.standard_normal(p.shape).astype(dtype)
        kw = dict(
            lr=0.1,
            momentum=momentum,
            weight_decay=wd,
            nesterov=nesterov,
            dampening=damp,
            first_step=step == 0,
        )
        ops.sgd_update(p, to_device(g, device), buf, **kw)
        ref.sgd_update(p64, g.astype(np.float64), b64, **kw)
    kw = dict(rtol=GPU_RTOL, scale=10, equal_nan=False)
    assert_close(to_numpy(p), p64, dtype, name="param", **kw)
    if momentum:
        assert_close(to_numpy(buf), b64, dtype, name="buf", **kw)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_2d(device, rng, decoupled, dtype):
    p = rng.standard_normal((11, 3)).astype(dtype)
    p64, m64, v64 = p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)
    p, m, v = (to_device(a, device) for a in (p, np.zeros_like(p), np.zeros_like(p)))
    for step in range(1, 5):
        g = rng.standard_normal(p.shape).astype(dtype)
        kw = dict(
            step=step,
            lr=0.01,
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            weight_decay=0.1,
            decoupled=decoupled,
        )
        ops.adam_update(p, to_device(g, device), m, v, **kw)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, **kw)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    assert_close(to_numpy(p), p64, dtype, scale=1e3, name="param", **kw)
    assert_close(to_numpy(m), m64, dtype, scale=10, name="m", **kw)
    assert_close(to_numpy(v), v64, dtype, scale=10, name="v", **kw)


def test_optimizer_state_is_never_copied(device, rng):
    p = to_device(rng.standard_normal((4, 6)).astype(np.float32), device)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.sgd_update(p[:, ::2], to_device(np.ones((4, 3), np.float32), device), None, lr=0.1)
    with pytest.raises(ValueError, match="step"):
        ops.adam_update(p, p, p * 0, p * 0, step=0)


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
    assert_close(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)


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
    assert_close(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)


# ---- sgd_update_multi (the CPU kernel SGD.step calls once per group) ---------------------------

MULTI_SIZES = [(0,), (1,), (37,), (70001,), (300, 129), (5,)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_sgd_update_multi_equals_sgd_update(isa, rng, case, nthreads, dtype):
    """Bit-identical to one sgd_update per parameter, at every thread count (the chunks of all
    parameters are shared out dynamically over one parallel region)."""
    import deltagrad as dg
    from deltagrad import _cpu

    ps = [sample(rng, s, dtype) for s in MULTI_SIZES]
    bufs = [sample(rng, s, dtype) for s in MULTI_SIZES]
    ps1, bufs1 = [p.copy() for p in ps], [b.copy() for b in bufs]
    old = dg.get_num_threads()
    dg.set_num_threads(nthreads)
    try:
        for step in range(2):
            gs = [sample(rng, s, dtype) for s in MULTI_SIZES]
            kw = dict(lr=0.1, first_step=step == 0, **case)
            _cpu.sgd_update_multi(ps, gs, bufs if case["momentum"] else None, **kw)
            for p, g, b in zip(ps1, gs, bufs1):
                ops.sgd_update(p, g, b if case["momentum"] else None, **kw)
            for a, b in zip(ps + bufs, ps1 + bufs1):
                np.testing.assert_array_equal(a, b)
    finally:
        dg.set_num_threads(old)


def test_sgd_update_multi_shared_memory_runs_in_turn(rng):
    """Parameters that share memory (views of one array) are updated one after the other, as
    separate calls would: the second sees the first's update."""
    from deltagrad import _cpu

    base = sample(rng, (70000,), np.float32)
    expect = base.copy()
    g = sample(rng, (40000,), np.float32)
    views = [base[:40000], base[30000:70000]]
    _cpu.sgd_update_multi(views, [g, g], None, lr=0.5)
    for sl in (slice(0, 40000), slice(30000, 70000)):
        ops.sgd_update(expect[sl], g, None, lr=0.5)
    np.testing.assert_array_equal(base, expect)


def test_sgd_update_multi_bad_inputs(rng):
    from deltagrad import _cpu

    p, g = sample(rng, (4,), np.float32), sample(rng, (4,), np.float32)
    with pytest.raises(ValueError, match="sgd_update_multi: grads: expected one per parameter"):
        _cpu.sgd_update_multi([p], [g, g], None, lr=0.1)
    with pytest.raises(ValueError, match="sgd_update_multi: bufs: expected one per parameter"):
        _cpu.sgd_update_multi([p], [g], [], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="sgd_update_multi: bufs: momentum != 0 needs"):
        _cpu.sgd_update_multi([p], [g], None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="sgd_update_multi: grad: expected shape"):
        _cpu.sgd_update_multi([p], [g[:3].copy()], None, lr=0.1)
    with pytest.raises(ValueError, match="sgd_update_multi: lr"):
        _cpu.sgd_update_multi([p], [g], None, lr=-1.0)
    before = p.copy()
    with pytest.raises(ValueError, match="sgd_update_multi: param and grad: must not share"):
        _cpu.sgd_update_multi([p, g], [g, g], None, lr=0.1)
    np.testing.assert_array_equal(p, before)  # checked before anything changed
