"""The SIMT emulator itself, and what only its ops object exposes.

The op tests (every kernel on small odd shapes, both dtypes) live in tests/test_ops_<op>.py and
tests/test_matmul.py, parametrized over devices: "simt" runs them on the CUDA kernels through
this emulator. Here: the GEMM tile modes and load paths (the `tile` argument), the kernels'
behaviour with host checks off, the reduce_sum primitive, launches from several threads, the
emulator catching broken kernels (out-of-bounds access, missing barriers and the race detector,
divergent barriers and shuffles, schedules), and dg.ops routing device arrays to the CUDA ops.
The emulator checks every global and shared access and poisons shared memory with NaN at each
block start, so a wrong index raises SimtFault and a missing barrier is flagged by the
shared-memory race detector (or shows up as NaN or a wrong value).
"""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import reference as R
from deltagrad import testing
from deltagrad.testing import GPU_RTOL, assert_close

simt = testing.simt_module()
if simt is None:  # the _simt module is built by every CMake configuration
    pytest.skip("the _simt module is not built", allow_module_level=True)
ops = simt.ops
SimtFault = simt.SimtFault

pytestmark = pytest.mark.simt

DTYPES = [np.float32, np.float64]


# ---- helpers -------------------------------------------------------------------------------


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ---- GEMM ----------------------------------------------------------------------------------

GEMM_SHAPES = [(1, 1, 1), (7, 5, 3), (33, 17, 19), (65, 70, 41), (130, 9, 23)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("tile", ["small", "large"])
def test_matmul_trans_tiles(rng, dtype, trans_a, trans_b, tile):
    for m, n, k in GEMM_SHAPES:
        a = randn(rng, (k, m) if trans_a else (m, k), dtype)
        b = randn(rng, (n, k) if trans_b else (k, n), dtype)
        c = ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, tile=tile)
        want = R.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
        assert_close(
            c, want, dtype, rtol=GPU_RTOL, scale=max(k, 1), equal_nan=False, name=f"{m}x{n}x{k}"
        )
        assert c.dtype == dtype


@pytest.mark.parametrize("tile", ["small", "large"])
def test_matmul_strided_and_misaligned_views(rng, tile):
    # Views whose rows are not 16-byte aligned take the scalar load path; every-other-column
    # views take the strided path; both must equal the contiguous result.
    big_a, big_b = randn(rng, (40, 61), np.float32), randn(rng, (61, 50), np.float32)
    views = [
        (big_a[:, 1:30], big_b[1:30, 3:40]),  # rows not 16-byte aligned
        (big_a[::2, ::2], big_b[::2, ::3]),  # strided
        (big_a[::-1, :32], big_b[:32][::-1, ::-1]),  # negative strides
    ]
    for a, b in views:
        got = ops.matmul(a, b, tile=tile)
        assert_close(
            got,
            a.astype(np.float64) @ b,
            np.float32,
            rtol=GPU_RTOL,
            scale=max(a.shape[1], 1),
            equal_nan=False,
        )


def test_emulator_launches_are_reentrant(rng):
    # The binding releases the GIL and the emulator's state is per OS thread: two threads
    # launching kernels at once must not see each other's buffers or fibers.
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(randn(rng, (37, 29), np.float64), randn(rng, (29, 41), np.float64)) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda ab: ops.matmul(*ab), pairs))
    for (a, b), c in zip(pairs, results):
        assert_close(c, R.matmul(a, b), np.float64, rtol=GPU_RTOL, scale=29, equal_nan=False)


def test_softmax_cross_entropy_bad_target_in_kernel_is_nan(rng):
    # What the GPU path does (no host check there): the kernel poisons the row, nothing else.
    logits = randn(rng, (4, 3), np.float32)
    ops.check_targets_on_host = False
    try:
        loss, d = ops.softmax_cross_entropy(logits, np.array([0, 1, 3, -1]), "none")
    finally:
        ops.check_targets_on_host = True
    assert np.isfinite(loss[:2]).all() and np.isnan(loss[2:]).all()
    assert np.isfinite(d[:2]).all() and np.isnan(d[2:]).all()


# ---- reductions ----------------------------------------------------------------------------


@pytest.mark.parametrize("start,stop", [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3), (1, 1)])
def test_reduce_sum_primitive(rng, start, stop):
    x = randn(rng, (4, 33, 5), np.float32)
    got = ops.reduce_sum(x, start, stop, 0.5)
    want = 0.5 * x.astype(np.float64).sum(axis=tuple(range(start, stop)))
    assert_close(got, want, np.float32, rtol=GPU_RTOL, scale=100, equal_nan=False)


# ---- the emulator catches broken kernels ---------------------------------------------------


@pytest.fixture
def schedule():
    """Restores the emulator's default schedule and race detector after a test."""
    yield simt
    simt.set_reverse_schedule(False)
    simt.set_race_check(True)


def _shifted(x):
    return 2 * np.append(x[1:], 0.0).astype(np.float32)


def test_emulator_fixed_kernels_pass(schedule):
    x = np.arange(200, dtype=np.float32)
    want = np.concatenate([np.arange(63, -1, -1), np.arange(127, 63, -1), np.arange(191, 127, -1)])
    for reverse in (False, True):
        schedule.set_reverse_schedule(reverse)
        np.testing.assert_array_equal(simt.selftest("reverse_block", x, 64)[:192], want)
        rot = simt.selftest("rotate_block", x[:64], 64)
        np.testing.assert_array_equal(rot, _shifted(x[:64]))


def test_emulator_missing_syncthreads_reads_poisoned_shared_memory(schedule):
    # Race detector off: the read before the barrier sees the NaN poison of shared memory.
    schedule.set_race_check(False)
    for reverse in (False, True):
        schedule.set_reverse_schedule(reverse)
        bad = simt.selftest("reverse_block_missing_sync", np.arange(200, dtype=np.float32), 64)
        assert np.isnan(bad).any(), "a read before the barrier must see the poison"


def test_emulator_race_detector_flags_missing_syncthreads(schedule):
    x = np.arange(64, dtype=np.float32)
    with pytest.raises(SimtFault, match="uninitialized shared memory|race"):
        simt.selftest("reverse_block_missing_sync", x, 64)
    # A write-after-read race: in most thread orders the result is still right, so only the
    # detector catches it reliably ...
    with pytest.raises(SimtFault, match=r"write after read"):
        simt.selftest("rotate_block_missing_sync", x, 64)
    # ... while the reversed order turns it into a wrong result.
    schedule.set_race_check(False)
    schedule.set_reverse_schedule(True)
    got = simt.selftest("rotate_block_missing_sync", x, 64)
    assert not np.array_equal(got, _shifted(x))


def test_emulator_catches_out_of_bounds_global_access():
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(simt.selftest("scale", x), 2 * x)
    with pytest.raises(SimtFault, match=r"out-of-bounds global access.*thread \(36,0,0\)"):
        simt.selftest("scale_unguarded", x)


def test_emulator_catches_divergent_syncthreads():
    with pytest.raises(SimtFault, match="divergent __syncthreads"):
        simt.selftest("divergent_barrier", np.ones(64, np.float32), 64)


def test_emulator_catches_divergent_warp_shuffle():
    x = np.ones(64, dtype=np.float32)
    np.testing.assert_array_equal(simt.selftest("warp_sum", x)[:2], [32.0, 32.0])
    with pytest.raises(SimtFault, match="deadlock"):
        simt.selftest("warp_sum_divergent", x)


def test_emulator_catches_out_of_bounds_in_a_real_kernel(rng):
    # Launch the production GEMM with m larger than A holds: the checked pointers must fault
    # (not read past the buffer), naming the access.
    a, b = randn(rng, (5, 4), np.float32), randn(rng, (4, 3), np.float32)
    c = np.zeros((9, 3), np.float32)
    with pytest.raises(SimtFault, match="out-of-bounds global access"):
        ops._call(
            "gemm",
            [a, b, c],
            0,
            9,
            3,
            4,
            ops._ptr(a),
            4,
            1,
            ops._ptr(b),
            3,
            1,
            ops._ptr(c),
            3,
            1,
            1.0,
            0.0,
            0,
            0,
            0.0,
            0,
            0,
            0,
            0,
        )


def test_emulator_rejects_unregistered_pointers():
    x = np.ones(8, np.float32)
    with pytest.raises(SimtFault, match="no registered buffer"):
        simt._simt.activation(
            0, 8, x.__array_interface__["data"][0], x.__array_interface__["data"][0], 1, 0.0, 0
        )


# ---- dg.ops -> the device backend ----------------------------------------------------------


class _DeviceArray(np.ndarray):
    """A numpy array that claims to be a device array, so dg.ops routes it to the CUDA
    backend, which the test replaces with the emulator: every call dg.ops makes into the CUDA
    backend (names, arguments, keywords) then runs the CUDA kernels for real."""

    @property
    def __cuda_array_interface__(self):  # only its presence matters to dg.ops
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}


def _dev(x):
    return np.ascontiguousarray(x).view(_DeviceArray)


@pytest.fixture
def device_backend(monkeypatch):
    monkeypatch.setattr(testing.backend_module(), "cuda_ops", lambda: ops)
    return ops


def test_dg_ops_route_device_arrays_to_the_cuda_kernels(rng, device_backend):
    import deltagrad as dg

    x = randn(rng, (9, 33), np.float32)
    t = rng.random((9, 33)).astype(np.float32)
    w, b = randn(rng, (5, 33), np.float32), randn(rng, (5,), np.float32)
    target = rng.integers(0, 33, 9)
    dy = randn(rng, (9, 5), np.float32)
    saved = R.linear_forward(x, w, b, "tanh")[0].astype(np.float32)
    calls = [
        ("matmul", (x, w), {"trans_b": True}),
        ("activation", (x, "gelu"), {}),
        ("activation_backward", (t, x, "softplus"), {}),
        ("softmax", (x,), {}),
        ("log_softmax", (x,), {}),
        ("softmax_backward", (t, x), {}),
        ("log_softmax_backward", (t, x), {}),
        ("softmax_cross_entropy", (x, target, "sum"), {}),
        ("sum_of_squares", (x, t), {}),
        ("mse_loss", (x, t, "none"), {}),
        ("binary_cross_entropy_with_logits", (x, t), {}),
        ("linear_forward", (x, w, b, "tanh"), {}),
        ("linear_backward", (dy, x, w, saved, "tanh"), {}),
        ("sum", (x,), {"axis": 1}),
        ("sum", (x,), {}),
        ("mean", (x,), {"axis": (0, 1), "keepdims": True}),
        ("sum_to_shape", (x, (1, 33)), {}),
    ]
    for name, args, kw in calls:
        dargs = tuple(_dev(a) if isinstance(a, np.ndarray) else a for a in args)
        got = getattr(dg.ops, name)(*dargs, **kw)
        want = getattr(R, name)(*args, **kw)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, wv in zip(got, want):
            if wv is None:
                assert g is None, name
            else:
                assert_close(
                    g, wv, np.float32, rtol=GPU_RTOL, scale=100, equal_nan=False, name=name
                )
    p, g = randn(rng, (4, 5), np.float32), randn(rng, (4, 5), np.float32)
    dp, buf = _dev(p.copy()), _dev(np.zeros_like(p))
    dg.ops.sgd_update(dp, _dev(g), buf, lr=0.1, momentum=0.9, first_step=True)
    p64, b64 = p.astype(np.float64), np.zeros(p.shape)
    R.sgd_update(p64, g.astype(np.float64), b64, lr=0.1, momentum=0.9, first_step=True)
    assert_close(dp, p64, np.float32, rtol=GPU_RTOL, scale=1, equal_nan=False)
    m, v = _dev(np.zeros_like(p)), _dev(np.zeros_like(p))
    dg.ops.adam_update(dp, _dev(g), m, v, step=1, lr=0.01)
    R.adam_update(p64, g.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape), step=1, lr=0.01)
    assert_close(dp, p64, np.float32, rtol=GPU_RTOL, scale=1, equal_nan=False)


# ---- issue 19: the defects a GPU would expose, checked in the emulator --------------------
# The emulator build caps the GEMM's grid.y at 3 M tiles (kGemmMaxGridY in gemm_launch.cuh;
# 65535 on the GPU), so the kernels' loop over M tiles past the cap runs here.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tile,m", [("small", 64 * 7 + 5), ("large", 128 * 4 + 3)])
@pytest.mark.parametrize("act", ["relu", "gelu", "silu"])
def test_linear_forward_more_m_tiles_than_grid_y(rng, dtype, tile, m, act):
    """Every M tile past grid.y is computed, with the cheap (inlined) and the expensive
    (rolled second pass) activation epilogues."""
    n, k = 37, 19
    x, w, b = randn(rng, (m, k), dtype), randn(rng, (n, k), dtype), randn(rng, n, dtype)
    y, z = ops.linear_forward(x, w, b, act, tile=tile)
    want_y, want_z = R.linear_forward(x, w, b, act)
    assert_close(y, want_y, dtype, rtol=GPU_RTOL, scale=k, equal_nan=False, name=act)
    if want_z is not None:
        assert_close(z, want_z, dtype, rtol=GPU_RTOL, scale=k, equal_nan=False, name="z")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1000, 40), (2, 300, 33), (1, 129, 1), (3, 64 * 9 + 1, 70)])
def test_reduce_sum_columns_split_into_row_segments(rng, dtype, shape):
    """Few column tiles (the bias gradient): the rows are split over blocks, then a second pass
    adds the partial sums."""
    x = randn(rng, shape, dtype)
    got = ops.reduce_sum(x, 1, 2, 0.25)
    want = 0.25 * x.astype(np.float64).sum(axis=1)
    assert_close(got, want, dtype, rtol=GPU_RTOL, scale=shape[1], equal_nan=False)


def _raw_reduce(x, outer, n, inner, work_len):
    """reduce_sum through the raw launch API with a scratch of work_len partial sums."""
    y = np.empty(outer * inner, x.dtype)
    work = np.empty(max(work_len, 1), x.dtype)
    dt = 0 if x.dtype == np.float32 else 1
    ops._call(
        "reduce_sum",
        [x, y, work],
        dt,
        outer,
        n,
        inner,
        ops._ptr(x),
        ops._ptr(y),
        1.0,
        ops._ptr(work),
        work_len,
        0,
    )
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("work_len", [0, 1, 5, 20, 1000])
@pytest.mark.parametrize("outer,n,inner", [(3, 50_000, 1), (1, 2000, 20), (2, 700, 5)])
def test_reduce_sum_with_a_scratch_smaller_than_the_partial_sums(
    rng, dtype, work_len, outer, n, inner
):
    """More partial sums than the scratch holds: fewer, longer segments (no fall back to one
    block per row unless fewer than two fit)."""
    x = randn(rng, (outer, n, inner), dtype)
    got = _raw_reduce(x, outer, n, inner, work_len)
    want = x.astype(np.float64).sum(axis=1).reshape(-1)
    assert_close(got, want, dtype, rtol=GPU_RTOL, scale=n, equal_nan=False)


# ---- elementwise: 128-bit vectors, a scalar tail, grid-stride loops over a small grid -------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("act", ["relu", "gelu", "leaky_relu"])
def test_activation_vector_path_odd_sizes_and_misaligned_offsets(rng, dtype, offset, act):
    """Sizes around multiples of 4 and beyond one grid's threads (the emulator's grid is 2 SMs
    x 8 blocks x 256 threads), views starting 0-3 elements past a 16-byte boundary (the scalar
    path when misaligned), forward and backward."""
    for size in (0, 1, 3, 4, 5, 17, 1001, 4 * 4096 + 3, 9 * 4096 + 6):
        base = randn(rng, size + offset + 4, dtype)
        x = base[offset : offset + size]
        y = ops.activation(x, act, param=0.1)
        assert_close(y, R.activation(x, act, param=0.1), dtype, rtol=GPU_RTOL, equal_nan=False)
        dy = randn(rng, size + offset + 4, dtype)[offset : offset + size]
        saved = x if act in ops.saves_input else y
        dx = ops.activation_backward(dy, saved, act, param=0.1)
        want = R.activation_backward(dy, saved, act, param=0.1)
        # near a root of act' (gelu at x ~ -0.75) the result cancels: allow rtol * |dy|, as
        # tests/test_ops_activation.py does
        atol = GPU_RTOL[dtype] * np.abs(dy.astype(np.float64)) * 4
        assert_close(
            dx, want, dtype, rtol=GPU_RTOL, atol=atol, equal_nan=False, name=f"{act} {size}"
        )


# ---- row kernels: one warp per row up to 1,024 columns, one block per row above -------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", [1, 31, 33, 1023, 1024, 1025, 1500])
def test_softmax_rows_warp_and_block_paths(rng, dtype, cols):
    """Both sides of the warp-per-row limit; 13 rows (not a multiple of the 8 warps of a block),
    forward, backward and the fused cross-entropy."""
    rows = 13
    x = randn(rng, (rows, cols), dtype) * 3
    dy = randn(rng, (rows, cols), dtype)
    for fwd, bwd, rfwd, rbwd in (
        (ops.softmax, ops.softmax_backward, R.softmax, R.softmax_backward),
        (ops.log_softmax, ops.log_softmax_backward, R.log_softmax, R.log_softmax_backward),
    ):
        y = fwd(x)
        assert_close(y, rfwd(x), dtype, rtol=GPU_RTOL, scale=cols, equal_nan=False)
        dx = bwd(dy, y)
        want = rbwd(dy, y)
        assert_close(dx, want, dtype, rtol=GPU_RTOL, scale=cols, equal_nan=False, name="dx")
    target = rng.integers(0, cols, rows)
    loss, dlogits = ops.softmax_cross_entropy(x, target, "mean")
    want_loss, want_d = R.softmax_cross_entropy(x, target, "mean")
    assert_close(loss, want_loss, dtype, rtol=GPU_RTOL, scale=cols, equal_nan=False)
    assert_close(dlogits, want_d, dtype, rtol=GPU_RTOL, scale=cols, equal_nan=False)
