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
    python_ops |= {"index_add", "index_add_"}  # cupyx.scatter_add on a GPU (dg.ops itself)
    python_ops |= {"scatter_reduce_", "index_reduce_"}  # through the host on a GPU
    python_ops |= {"cumsum", "cumprod"}  # cupy's on a GPU
    python_ops |= {"flip"}  # a copy of cupy's flipped view on a GPU
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


# ---- issue 19: device guard, DG_CUDA_SYNC (any machine; the two-GPU case needs two) --------


class _Fake:
    """Attribute bag: a fake cupy array (device.id), module, stream or device context."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _fake_array(dev):
    return _Fake(device=_Fake(id=dev))


def _guarded_ops(current, log):
    """A CudaOps whose raw module, cupy and devices are fakes recording what a launch does."""
    mod = testing.cuda_module()
    ops = mod.CudaOps(None)
    ops._available = True
    entered = [current]

    class Device:
        def __init__(self, d):
            self.d = d

        def __enter__(self):
            entered.append(self.d)

        def __exit__(self, *exc):
            entered.pop()

    cuda = _Fake(
        runtime=_Fake(getDevice=lambda: entered[-1]),
        Device=Device,
        get_current_stream=lambda: _Fake(ptr=1000 + entered[-1]),
    )
    ops.xp = lambda: _Fake(cuda=cuda)
    ops._raw = _Fake(gemm=lambda *args: log.append((entered[-1], args)))
    return ops


def test_cuda_device_guard_launches_on_the_arrays_device():
    log = []
    ops = _guarded_ops(current=0, log=log)
    ops._call("gemm", [_fake_array(1), _fake_array(1)], "a", "b", 1000)
    # on device 1, with device 1's current stream in place of device 0's
    assert log == [(1, ("a", "b", 1001))]
    log.clear()
    ops._call("gemm", [_fake_array(0)], "a", "b", 1000)
    assert log == [(0, ("a", "b", 1000))]  # the current device: no guard, the stream as given


def test_cuda_op_runs_with_its_first_arrays_device_current():
    """The op-level guard: allocations and the launch happen with the array's device current."""
    log = []
    ops = _guarded_ops(current=0, log=log)
    seen = []
    mod = testing.cuda_module()
    wrapped = mod._on_device(lambda self, x: seen.append(self.xp().cuda.runtime.getDevice()))
    wrapped(ops, _fake_array(1))
    wrapped(ops, _fake_array(0))
    wrapped(ops, np.ones(2))  # not a device array: no guard
    assert seen == [1, 0, 0]


def test_cuda_device_guard_rejects_arrays_on_different_devices():
    log = []
    ops = _guarded_ops(current=0, log=log)
    with pytest.raises(
        ValueError, match=r"gemm: the arrays are on different CUDA devices \[0, 2\]"
    ):
        ops._call("gemm", [_fake_array(0), _fake_array(2)], 1000)
    assert log == []


@pytest.mark.skipif(testing.cuda_ops() is None, reason="built without CUDA")
@pytest.mark.parametrize("value,on", [("1", True), ("0", False), ("", False), (None, False)])
def test_dg_cuda_sync_is_read_from_the_environment(value, on):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if k != "DG_CUDA_SYNC"}
    if value is not None:
        env["DG_CUDA_SYNC"] = value
    out = subprocess.run(
        [sys.executable, "-c", "from deltagrad import _cuda; print(_cuda.sync_after_launch())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(on)


@pytest.mark.cuda
@needs_gpu
def test_gpu_arrays_on_device_1_while_device_0_is_current(rng):
    cp = _cp()
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    a, b = rng.standard_normal((33, 17)), rng.standard_normal((17, 9))
    with cp.cuda.Device(1):
        da, db = cp.asarray(a.astype(np.float32)), cp.asarray(b.astype(np.float32))
    with cp.cuda.Device(0):
        c = dg.ops.matmul(da, db)
        assert dg.info()["cuda_device_index"] == 0
    assert c.device.id == 1
    assert_close(cp.asnumpy(c), a @ b, np.float32, rtol=1e-5, scale=17)


# ---- issue 19: the SIMT GEMM's interior / edge split, run in the emulator -------------------
# Blocks whose tile lies inside M and N fetch their full K slices without bounds checks and
# store 4-wide; the others check every element. The tile per (dtype, tile): FP32 large 128 x 64
# x 16, FP32 small 64 x 64 x 16, FP64 64 x 64 x 8 (gemm_launch.cuh).

_SIMT = testing.simt_module()
needs_simt = pytest.mark.skipif(_SIMT is None, reason="the _simt module is not built")
_TILE = {
    (np.float32, "large"): (128, 64, 16),
    (np.float32, "small"): (64, 64, 16),
    (np.float64, "large"): (64, 64, 8),
    (np.float64, "small"): (64, 64, 8),
}


def _simt_shapes(bm, bn, bk):
    return [
        (bm, bn, 3 * bk),  # multiples of the tile: every block inside, three K slices
        (2 * bm, bn, bk + 3),  # inside, a partial last K slice (fetched checked)
        (bm + 1, bn + 1, 2 * bk + 1),  # one more than a multiple: edge blocks in m and n
        (5, 7, 3),  # smaller than a tile
        (bm, bn, 1),  # K = 1
        (bm, 2 * bn + 1, bk),  # inside in m, an edge block in n
    ]


@needs_simt
@pytest.mark.simt
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile", ["small", "large"])
@pytest.mark.parametrize(
    "trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)]
)
def test_simt_gemm_interior_and_edge_tiles(rng, dtype, tile, trans_a, trans_b):
    ops = _SIMT.ops
    for m, n, k in _simt_shapes(*_TILE[(dtype, tile)]):
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
        got = ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, tile=tile)
        want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
        assert_close(
            got, want, dtype, rtol=testing.GPU_RTOL, scale=k, equal_nan=False, name=f"{m}x{n}x{k}"
        )


@needs_simt
@pytest.mark.simt
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [1, 2, 3])
@pytest.mark.parametrize(
    "trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)]
)
def test_simt_gemm_misaligned_leading_dimensions(rng, dtype, offset, trans_a, trans_b):
    """Offset views (rows not 16-byte aligned: the scalar fetch, inside and edge tiles) and an
    output view with beta != 0 (the scalar epilogue inside a tile, C read back)."""
    ops = _SIMT.ops
    bm, bn, bk = _TILE[(dtype, "large")]
    for m, n, k in ((bm, bn, 2 * bk), (bm + 3, bn - 1, bk + 1)):
        sa = (k, m) if trans_a else (m, k)
        sb = (n, k) if trans_b else (k, n)
        big_a = rng.standard_normal((sa[0] + offset, sa[1] + 5)).astype(dtype)
        big_b = rng.standard_normal((sb[0] + offset, sb[1] + 7)).astype(dtype)
        a = big_a[offset:, offset : offset + sa[1]]
        b = big_b[offset:, offset : offset + sb[1]]
        big_c = rng.standard_normal((m + 1, n + 3)).astype(dtype)
        c0 = big_c[1:, offset : offset + n]
        out = c0.copy() if offset == 2 else c0  # offset 2: a contiguous, aligned C
        want = 1.5 * (a.T if trans_a else a).astype(np.float64) @ (
            b.T if trans_b else b
        ) - 0.5 * c0.astype(np.float64)
        got = ops.matmul(
            a, b, trans_a=trans_a, trans_b=trans_b, alpha=1.5, beta=-0.5, out=out, tile="large"
        )
        assert_close(
            got, want, dtype, rtol=testing.GPU_RTOL, scale=k, equal_nan=False, name=f"{m}x{n}x{k}"
        )


@needs_simt
@pytest.mark.simt
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", list(dg.ops.ACTIVATIONS))
def test_simt_linear_fused_bias_and_each_activation(rng, dtype, act):
    """x @ W.T + b with every activation (z too when the backward needs it): a shape of whole
    tiles (the 4-wide epilogue) and one with edge tiles (the checked one)."""
    ops = _SIMT.ops
    bm, bn, bk = _TILE[(dtype, "large")]
    for m, n, k in ((bm, bn, bk + 4), (bm + 2, bn + 5, 3)):
        x = rng.standard_normal((m, k)).astype(dtype)
        w = rng.standard_normal((n, k)).astype(dtype)
        b = rng.standard_normal(n).astype(dtype)
        y, z = ops.linear_forward(x, w, b, act, 0.1, tile="large")
        want_y, want_z = R_linear_forward(x, w, b, act, 0.1)
        assert_close(y, want_y, dtype, rtol=testing.GPU_RTOL, scale=k, equal_nan=False, name=act)
        if want_z is None:
            assert z is None
        else:
            assert_close(z, want_z, dtype, rtol=testing.GPU_RTOL, scale=k, equal_nan=False)


def R_linear_forward(x, w, b, act, param):  # noqa: N802
    from deltagrad import reference  # noqa: PLC0415

    return reference.linear_forward(x, w, b, act, param)
