"""The CUDA backend on a real GPU (marked `cuda`, skipped without one), plus the checks that
hold on any machine: the module's build / availability report and the error without a GPU.

On a GPU every op runs on cupy arrays and is compared with the same op run by the SIMT
emulator on numpy (itself tested against NumPy float64 in test_simt.py) and with NumPy float64.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import testing
from deltagrad.testing import assert_close

INFO = dg.info()
needs_gpu = pytest.mark.skipif(
    not INFO["cuda_available"], reason=f"no usable CUDA GPU: {INFO['cuda_status']}"
)


# ---- any machine ---------------------------------------------------------------------------


def test_info_reports_cuda_build_and_availability():
    cuda = testing.cuda_ops()
    assert INFO["cuda_compiled"] is (cuda is not None)
    assert isinstance(INFO["cuda_available"], bool)
    if cuda is not None:
        ok, reason = testing.cuda_module().availability()
        assert ok is INFO["cuda_available"]
        assert isinstance(reason, str) and (ok or reason)


@pytest.mark.skipif(INFO["cuda_available"], reason="a GPU is available here")
def test_asking_for_cuda_without_a_gpu_says_why():
    with pytest.raises(RuntimeError, match="CUDA is not available: .+"):
        testing.backend_module().to_device(np.ones(3), "cuda")
    assert testing.backend_module().to_device(np.ones(2), "cpu").tolist() == [1.0, 1.0]


@pytest.mark.skipif(testing.cuda_ops() is None, reason="built without CUDA")
def test_cuda_ops_match_the_ops_contract_names():
    """The CUDA backend has every kernel op of dg.ops (sum, mean and sum_to_shape are built in
    dg.ops on reduce_sum), and the CPU backend the same names."""
    import deltagrad as dg
    from deltagrad.backends import cpu

    mod = testing.cuda_module()
    kernel_ops = set(mod.OPS)
    python_ops = {"sum", "mean", "sum_to_shape"}
    python_ops |= {"conv2d_forward", "conv2d_backward"}  # CPU only: NotImplementedError on cupy
    python_ops |= {n for n in dg.ops.__all__ if "pool" in n}  # CPU only for now (issue 17)
    for name in dg.ops.__all__:
        if callable(getattr(dg.ops, name)) and name not in ("saves_input", "set_allow_tf32"):
            assert name in kernel_ops | python_ops, name
    for name in kernel_ops:
        assert callable(getattr(mod.ops, name)), name
        assert callable(getattr(cpu, name)), name
    for name in ("availability", "device_name", "device_count"):
        assert callable(getattr(mod, name)), name


@pytest.mark.skipif(
    testing.cuda_ops() is None or INFO["cuda_available"],
    reason="needs a CUDA build on a machine without a GPU",
)
def test_cuda_op_without_gpu_raises_not_crashes():
    cuda = testing.cuda_ops()
    with pytest.raises(TypeError, match="cupy.ndarray"):
        cuda.matmul(np.ones((2, 2)), np.ones((2, 2)))


# ---- on a GPU ------------------------------------------------------------------------------


def _cp():
    try:
        import cupy
    except ImportError as e:
        pytest.skip(f"cupy is not installed: {e}")
    return cupy


def _simt():
    return testing.simt_ops()


TOL = {np.float32: (1e-4, 1e-5), np.float64: (1e-10, 1e-12)}
SHAPES = [(1, 1, 1), (7, 5, 3), (129, 65, 33), (300, 257, 130), (1024, 1024, 512)]
if os.environ.get("DG_SANITIZER"):  # under compute-sanitizer (bench/gpu_check.sh)
    SHAPES = SHAPES[:4]  # small shapes only
    try:  # no memory pool: memcheck then sees every buffer's true bounds
        import cupy

        cupy.cuda.set_allocator(None)
    except ImportError:
        pass


@pytest.mark.cuda
@needs_gpu
def test_gpu_matmul_tf32(rng):
    cp = _cp()
    cuda = testing.cuda_ops()
    for m, n, k in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c = cuda.matmul(cp.asarray(a), cp.asarray(b), precision="tf32")
        want = a.astype(np.float64) @ b
        # TF32 keeps 10 mantissa bits: relative error ~ 2^-11 per product, sqrt(k) growth.
        err = np.abs(cp.asnumpy(c) - want).max() / max(np.abs(want).max(), 1e-30)
        assert err < 5e-3, (m, n, k, err)


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_ops_match_emulator(rng, dtype):
    """Every op on the GPU equals the same kernel in the emulator (tested against NumPy)."""
    cp = _cp()
    cuda = testing.cuda_ops()
    emu = _simt()
    rtol, atol = TOL[dtype]
    x = rng.standard_normal((37, 300)).astype(dtype)
    t = rng.random((37, 300)).astype(dtype)
    p = rng.uniform(0.05, 0.95, (37, 300)).astype(dtype)
    w = rng.standard_normal((19, 300)).astype(dtype)
    bias = rng.standard_normal(19).astype(dtype)
    target = rng.integers(0, 300, 37)
    g = cp.asarray
    cases = [
        ("softmax", (x,), {}),
        ("log_softmax", (x,), {}),
        ("softmax_backward", (t, p), {}),
        ("log_softmax_backward", (t, p), {}),
        ("softmax_cross_entropy", (x, target, "mean"), {}),
        ("softmax_cross_entropy", (x, target, "none"), {}),
        ("sum_of_squares", (x, t), {}),
        ("mse_loss", (x, t, "sum"), {}),
        ("binary_cross_entropy", (p, t, "mean"), {}),
        ("binary_cross_entropy_with_logits", (x, t, "none"), {}),
        ("sum", (x,), {"axis": 0}),
        ("sum", (x,), {"axis": 1}),
        ("mean", (x,), {}),
        ("sum_to_shape", (x, (1, 300)), {}),
        ("linear_forward", (x, w, bias, "gelu", 0.0), {}),
        ("linear_forward", (x, w, None, "relu", 0.0), {}),
    ]
    for act in dg.ops.ACTIVATIONS:
        cases.append(("activation", (x, act), {"param": 0.1}))
        cases.append(("activation_backward", (t, p, act), {"param": 0.1}))
    for name, args, kw in cases:
        gargs = tuple(g(a) if isinstance(a, np.ndarray) else a for a in args)
        got, want = getattr(cuda, name)(*gargs, **kw), getattr(emu, name)(*args, **kw)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for gv, wv in zip(got, want):
            if wv is None:
                assert gv is None, name
            else:
                assert_close(gv, wv, rtol=rtol * 10, atol=atol * 100, equal_nan=True)


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_linear_backward_and_optimizers(rng, dtype):
    cp = _cp()
    cuda = testing.cuda_ops()
    emu = _simt()
    rtol, atol = TOL[dtype]
    x = rng.standard_normal((65, 33)).astype(dtype)
    w = rng.standard_normal((17, 33)).astype(dtype)
    dy = rng.standard_normal((65, 17)).astype(dtype)
    y, _ = emu.linear_forward(x, w, None, "tanh")
    want = emu.linear_backward(dy, x, w, y, "tanh")
    got = cuda.linear_backward(cp.asarray(dy), cp.asarray(x), cp.asarray(w), cp.asarray(y), "tanh")
    for gv, wv in zip(got, want):
        assert_close(gv, wv, rtol=rtol * 10, atol=atol * 1000, equal_nan=True)
    p, gr = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
    pc, bufc, mc, vc = (
        cp.asarray(p),
        cp.zeros(1000, dtype),
        cp.zeros(1000, dtype),
        cp.zeros(1000, dtype),
    )
    pe, bufe, me, ve = p.copy(), np.zeros(1000, dtype), np.zeros(1000, dtype), np.zeros(1000, dtype)
    cuda.sgd_update(pc, cp.asarray(gr), bufc, lr=0.1, momentum=0.9, nesterov=True)
    emu.sgd_update(pe, gr, bufe, lr=0.1, momentum=0.9, nesterov=True)
    cuda.adam_update(pc, cp.asarray(gr), mc, vc, step=1, weight_decay=0.01, decoupled=True)
    emu.adam_update(pe, gr, me, ve, step=1, weight_decay=0.01, decoupled=True)
    assert_close(pc, pe, rtol=rtol * 10, atol=atol * 10, equal_nan=True)


@pytest.mark.cuda
@needs_gpu
def test_gpu_honours_the_current_stream(rng):
    cp = _cp()
    a = cp.asarray(rng.standard_normal((512, 512)).astype(np.float32))
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        c = dg.ops.matmul(a, a)
    s.synchronize()
    assert_close(
        c, cp.asnumpy(a).astype(np.float64) @ cp.asnumpy(a), rtol=1e-4, atol=1e-2, equal_nan=True
    )


@pytest.mark.cuda
@needs_gpu
def test_gpu_device_name_and_errors():
    cp = _cp()
    cuda = testing.cuda_ops()
    assert INFO["cuda_device"] == cuda.device_name(0)
    with pytest.raises(TypeError, match="different devices"):
        dg.ops.matmul(cp.ones((2, 2), cp.float32), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        cuda.matmul(cp.ones((2, 3), cp.float32), cp.ones((2, 3), cp.float32))


def test_cuda_backend_without_a_cuda_build_checks_arguments_as_everywhere():
    """A build without CUDA (no _cuda module) still knows the op names (from _cpu, the same
    header): a numpy array is refused for its type, not for an unknown activation."""
    mod = testing.cuda_module()
    ops = mod.CudaOps(None)
    assert ops.activations == testing.backend_module().cpu.ACTIVATIONS
    with pytest.raises(TypeError, match=r"activation: x: expected a cupy\.ndarray, got ndarray"):
        ops.activation(np.ones(3, np.float32), "relu")
    with pytest.raises(ValueError, match="act: expected one of"):
        ops.activation(np.ones(3, np.float32), "nope")
