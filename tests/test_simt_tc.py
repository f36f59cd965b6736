"""Tensor cores in the SIMT emulator: mma.sync TF32, ldmatrix, cp.async, and the TF32 GEMM.

The emulator models mma.sync.m16n8k8 TF32 as a warp-collective gather of the fragments (the PTX
ISA layout), ldmatrix .x1/.x2/.x4, and cp.async with commit / wait groups (a copy lands at the
wait that retires its group, so a missing wait reads poisoned shared memory). The self-test
kernels (csrc/simt/selftest.cuh) check each primitive on one warp; matmul(precision="tf32")
runs gemm_tf32_kernel, the kernel the GPU runs, through the same primitives.

TF32 tolerance. cvt.rna.tf32.f32 rounds each input to 10 mantissa bits, a relative error of at
most u = 2^-11 (half a TF32 ulp); the product of two rounded inputs is exact in fp32 (11 x 11
significand bits < 24) and off by at most (2u + u^2) |a b|; the k products are added in fp32,
which adds at most about k * 2^-24 relative to sum |a b| (gamma_k). So, elementwise,

    |C - A @ B| <= (2^-10 + 2^-22 + k * 2^-24) * (|A| @ |B|)          (the bound we assert)

(bounded by k * 2^-11 * max|a| max|b|, the usual "K * 2^-11" form, for any k >= 2), plus one
fp32 rounding of the epilogue (alpha, beta, bias): 2^-24 |C|, covered by a factor 1.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import testing

simt = testing.simt_module()
if simt is None:
    pytest.skip("the _simt module is not built", allow_module_level=True)
from deltagrad import _simt  # noqa: E402

ops = simt.ops
SimtFault = simt.SimtFault

pytestmark = pytest.mark.simt


def tf32(x: np.ndarray) -> np.ndarray:
    """cvt.rna.tf32.f32 in NumPy: ties away from zero, to 10 mantissa bits."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    special = (u & 0x7F800000) == 0x7F800000
    r = np.where(special, u, (u + np.uint32(0x1000)) & np.uint32(0xFFFFE000))
    return r.astype(np.uint32).view(np.float32)


def tf32_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = a.shape[1]
    return 1.5 * (2.0**-10 + 2.0**-22 + k * 2.0**-24) * (np.abs(a.astype(np.float64)) @ np.abs(b))


def run_tc(name: str, x: np.ndarray, y_size: int, k: int = 0, lda: int = 0) -> np.ndarray:
    y = np.full(y_size, -7.0, np.float32)
    _simt.clear_buffers()
    try:
        for arr in (x, y):
            _simt.register_buffer(arr.__array_interface__["data"][0], arr.nbytes)
        _simt.selftest_tc(
            name, k, lda, x.__array_interface__["data"][0], y.__array_interface__["data"][0]
        )
    finally:
        _simt.clear_buffers()
    return y


# ---- mma.sync ----------------------------------------------------------------------------


def test_mma_fragment_layout_and_fp32_accumulation(rng):
    x = rng.standard_normal(320).astype(np.float32)
    y = run_tc("mma", x, 128).reshape(16, 8)
    a = tf32(x[:128]).reshape(16, 8).astype(np.float64)
    b = tf32(x[128:192]).reshape(8, 8).T.astype(np.float64)  # stored n-major
    c = x[192:].reshape(16, 8)
    want = a @ b + c
    # Exact products, 8 fp32 additions: within 8 fp32 roundings of the sum of magnitudes.
    bound = 8 * 2.0**-24 * (np.abs(a) @ np.abs(b) + np.abs(c))
    assert np.all(np.abs(y - want) <= bound), np.abs(y - want).max()
    # ... and not the unrounded fp32 product: TF32 rounding happened.
    full = x[:128].reshape(16, 8).astype(np.float64) @ x[128:192].reshape(8, 8).T + c
    assert np.abs(y - full).max() > 1e-5


def test_tf32_rounding_is_nearest_ties_away():
    # 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties away from zero (not to even);
    # 1 + 2^-12 rounds down; 1 + 3 * 2^-12 rounds up; negative values mirror.
    vals = np.array([1 + 2**-11, 1 + 2**-12, 1 + 3 * 2**-12, -(1 + 2**-11), 3.0], np.float32)
    x = np.zeros(320, np.float32)
    a = np.zeros((16, 8), np.float32)
    a[: len(vals), 0] = vals  # A column 0, B row 0 = 1: D[:, 0] = tf32(A[:, 0])
    x[:128] = a.ravel()
    x[128] = 1.0  # B (k=0, n=0)
    y = run_tc("mma", x, 128).reshape(16, 8)
    np.testing.assert_array_equal(
        y[: len(vals), 0], np.array([1 + 2**-10, 1.0, 1 + 2**-10, -(1 + 2**-10), 3.0], np.float32)
    )
    np.testing.assert_array_equal(y[: len(vals), 0], tf32(vals))


def test_mma_rejects_operands_not_rounded_to_tf32(rng):
    x = rng.standard_normal(320).astype(np.float32)
    with pytest.raises(SimtFault, match="not rounded to TF32"):
        run_tc("mma_unrounded", x, 128)


# ---- ldmatrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 4])
def test_ldmatrix_layout(rng, count):
    x = rng.standard_normal(128).astype(np.float32)
    y = run_tc(f"ldmatrix_x{count}", x, 128).reshape(32, 4)
    rows = x.reshape(32, 4)
    for lane in range(32):
        for j in range(count):
            # register j of lane l: word l % 4 of row l / 4 of matrix j, whose row i address
            # came from lane 8 j + i, which pointed at row (5 (8 j + i) + 3) % 32.
            src = (5 * (8 * j + lane // 4) + 3) % 32
            assert y[lane, j] == rows[src, lane % 4], (lane, j)
        assert np.all(y[lane, count:] == -7.0)  # registers past .xN are not written


# ---- cp.async pipelines ------------------------------------------------------------------


def pipeline_inputs(rng, k: int, lda: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (16 x k) and B (8 x k, k-contiguous) with rows lda apart, in one float32 buffer
    starting `offset` floats into a 16-byte aligned allocation."""
    buf = np.full(offset + 24 * lda + 4, np.nan, np.float32)  # NaN past each row: never read
    x = buf[offset:]
    for r in range(24):
        x[r * lda : r * lda + k] = rng.standard_normal(k)
    return buf, x


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 5, 8, 13, 40])
def test_pipeline_stages_and_k_tails(rng, stages, k):
    # k below, at and past one tile of 8, not a multiple of it, and more tiles than stages.
    lda = (k + 3) // 4 * 4
    _, x = pipeline_inputs(rng, k, lda)
    for name in (f"pipeline_s{stages}", f"pipeline_s{stages}_scalar"):
        got = run_tc(name, x, 128, k, lda).reshape(16, 8)
        a = np.stack([x[r * lda : r * lda + k] for r in range(16)]).astype(np.float64)
        b = np.stack([x[(16 + r) * lda : (16 + r) * lda + k] for r in range(8)]).T
        want = tf32(a.astype(np.float32)).astype(np.float64) @ tf32(b.astype(np.float32))
        assert np.all(np.abs(got - want) <= k * 2.0**-23 * (np.abs(a) @ np.abs(b))), name
        assert np.all(np.abs(got - a @ b) <= tf32_bound(a, b)), name


@pytest.mark.parametrize("lda,offset", [(13, 0), (17, 1), (16, 3), (22, 2)])
def test_pipeline_misaligned_leading_dimension(rng, lda, offset):
    # Rows not 16-byte aligned: the kernel must take the 4-byte copies (a 16-byte one faults).
    k = 13
    buf, x = pipeline_inputs(rng, k, lda, offset)
    got = run_tc("pipeline_s3", x, 128, k, lda).reshape(16, 8)
    a = np.stack([x[r * lda : r * lda + k] for r in range(16)]).astype(np.float64)
    b = np.stack([x[(16 + r) * lda : (16 + r) * lda + k] for r in range(8)]).T
    assert np.all(np.abs(got - a @ b) <= tf32_bound(a, b))
    assert (buf.ctypes.data + 4 * offset) % 16 != 0 or lda % 4 != 0


def test_cp_async_16_bytes_from_a_misaligned_row_faults(rng):
    # "_vec" forces 16-byte copies: from rows 52 bytes apart they must fault (cp.async.cg
    # needs 16-byte aligned source and destination), as the GPU would.
    _, x = pipeline_inputs(rng, 13, 13)
    with pytest.raises(SimtFault, match="misaligned 16-byte global"):
        run_tc("pipeline_s3_vec", x, 128, 13, 13)


def test_missing_cp_async_wait_is_caught(rng):
    k, lda = 24, 24
    _, x = pipeline_inputs(rng, k, lda)
    good = run_tc("pipeline_s3", x, 128, k, lda)
    bad = run_tc("pipeline_s3_missing_wait", x, 128, k, lda)
    # Without the wait no copy has landed when ldmatrix reads: the poison (NaN) shows.
    assert np.all(np.isfinite(good))
    assert not np.array_equal(bad, good, equal_nan=True)
    assert np.isnan(bad).any()


# ---- the TF32 GEMM (gemm_tf32_kernel) ----------------------------------------------------

GEMM_SHAPES = [(1, 1, 1), (7, 5, 3), (33, 17, 19), (65, 70, 41), (130, 9, 23), (16, 8, 8)]


@pytest.mark.parametrize("tile", ["small", "large"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_tf32_matmul_against_float64(rng, tile, trans_a, trans_b):
    for m, n, k in GEMM_SHAPES:
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
        got = ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, tile=tile, precision="tf32")
        a64 = (a.T if trans_a else a).astype(np.float64)
        b64 = (b.T if trans_b else b).astype(np.float64)
        err = np.abs(got - a64 @ b64)
        assert np.all(err <= tf32_bound(a64, b64)), (m, n, k, err.max())
        assert got.dtype == np.float32


def test_tf32_matmul_rounds_its_inputs():
    # 1 + 2^-12 is 1 in TF32: the product differs from the FP32 one, as on the GPU.
    a = np.full((3, 5), 1 + 2**-12, np.float32)
    b = np.ones((5, 4), np.float32)
    np.testing.assert_array_equal(ops.matmul(a, b, precision="tf32"), np.full((3, 4), 5.0))
    assert np.all(ops.matmul(a, b) > 5.0)


@pytest.mark.parametrize("tile", ["small", "large"])
def test_tf32_matmul_strided_misaligned_and_epilogue(rng, tile):
    big_a = rng.standard_normal((70, 61)).astype(np.float32)
    big_b = rng.standard_normal((61, 50)).astype(np.float32)
    views = [
        (big_a[:, 1:30], big_b[1:30, 3:40]),  # rows not 16-byte aligned
        (big_a[::2, ::2], big_b[::2, ::3]),  # strided
        (big_a[::-1, :32], big_b[:32][::-1, ::-1]),  # negative strides
        (big_a[:67, :33], big_b[:33, :45]),  # M, N, K not multiples of the tile
    ]
    for a, b in views:
        got = ops.matmul(a, b, tile=tile, precision="tf32")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        assert np.all(np.abs(got - a64 @ b64) <= tf32_bound(a64, b64))
    # The epilogue (alpha, beta) is the FP32 kernel's.
    a, b = big_a[:37, :29], big_b[:29, :23]
    c0 = rng.standard_normal((37, 23)).astype(np.float32)
    c = c0.copy()
    got = ops.matmul(a, b, alpha=0.5, beta=2.0, out=c, tile=tile, precision="tf32")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = 0.5 * (a64 @ b64) + 2.0 * c0
    bound = 0.5 * tf32_bound(a64, b64) + 4 * 2.0**-24 * (np.abs(want) + 2 * np.abs(c0))
    assert np.all(np.abs(got - want) <= bound)


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh"])
def test_tf32_linear_forward_fused_epilogue(rng, act):
    # x @ w.T + b with the activation: the cheap one inlined, the expensive ones in the rolled
    # pass (gemm_act_pass), both after the TF32 product.
    x = rng.standard_normal((45, 27)).astype(np.float32)
    w = rng.standard_normal((19, 27)).astype(np.float32)
    bias = rng.standard_normal(19).astype(np.float32)
    y, _ = ops.linear_forward(x, w, bias, act=act, precision="tf32")
    y32, _ = ops.linear_forward(x, w, bias, act=act)
    pre = x.astype(np.float64) @ w.T.astype(np.float64) + bias
    # The activations here are 1-Lipschitz: the TF32 error passes through at most unchanged.
    bound = tf32_bound(x.astype(np.float64), w.T.astype(np.float64)) + 1e-6 * (1 + np.abs(pre))
    assert np.all(np.abs(y - y32) <= bound)


def test_tf32_matmul_k_zero_and_large_m_loop(rng):
    a = np.zeros((5, 0), np.float32)
    b = np.zeros((0, 6), np.float32)
    np.testing.assert_array_equal(ops.matmul(a, b, precision="tf32"), np.zeros((5, 6)))
    # More M tiles than the emulator's grid.y cap (3): the kernel's M-tile loop.
    a = rng.standard_normal((64 * 4 + 3, 9)).astype(np.float32)
    b = rng.standard_normal((9, 5)).astype(np.float32)
    got = ops.matmul(a, b, tile="small", precision="tf32")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert np.all(np.abs(got - a64 @ b64) <= tf32_bound(a64, b64))


@pytest.mark.parametrize("tile", ["small", "large"])
@pytest.mark.parametrize("trans_b", [False, True])
def test_tf32_matmul_pipeline_wraps_the_stage_ring(rng, tile, trans_b):
    # k tiles of 32: 5 tiles (k = 136) wrap the 3- and 4-stage rings, with a partial last
    # tile, on 16-byte copies (A; B when trans_b: k-contiguous) and 4-byte ones (B otherwise),
    # and (small) 4 M tiles on a grid.y capped at 3 in the emulator: the M-tile loop.
    m, n, k = (64 * 3 + 7, 21, 136) if tile == "small" else (130, 9, 136)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    got = ops.matmul(a, b, trans_b=trans_b, tile=tile, precision="tf32")
    a64, b64 = a.astype(np.float64), (b.T if trans_b else b).astype(np.float64)
    assert np.all(np.abs(got - a64 @ b64) <= tf32_bound(a64, b64))


def test_tf32_matmul_reverse_schedule(rng):
    # Threads of a block run last-first: a missing barrier in the pipeline shows here if the
    # default order hides it.
    a = rng.standard_normal((70, 100)).astype(np.float32)
    b = rng.standard_normal((100, 45)).astype(np.float32)
    simt.set_reverse_schedule(True)
    try:
        got = ops.matmul(a, b, tile="small", precision="tf32")
    finally:
        simt.set_reverse_schedule(False)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert np.all(np.abs(got - a64 @ b64) <= tf32_bound(a64, b64))


# ---- on a GPU: the same kernel, the same bound ---------------------------------------------


@pytest.mark.cuda
def test_gpu_tf32_matmul_meets_the_bound_and_matches_the_emulator(rng):
    import deltagrad as dg  # noqa: PLC0415

    info = dg.info()
    if not info["cuda_available"]:
        pytest.skip(f"no usable CUDA GPU: {info['cuda_status']}")
    cp = pytest.importorskip("cupy")
    cuda = testing.cuda_ops()
    big_a = rng.standard_normal((300, 301)).astype(np.float32)
    big_b = rng.standard_normal((301, 290)).astype(np.float32)
    x = rng.standard_normal((257, 136)).astype(np.float32)
    w = rng.standard_normal((45, 200)).astype(np.float32)
    cases = [
        (x, big_b[:136, :130], False),  # 16-byte A, 4-byte B, 5 k tiles
        (np.ascontiguousarray(big_a[:70, :200]), w, True),  # both 16-byte (B k-contiguous)
        (big_a[:, 1:30], big_b[1:30, 3:40], False),  # rows not 16-byte aligned
        (big_a[::2, ::3], big_b[::3, ::2], False),  # strided
        (big_a[:1, :7], big_b[:7, :1], False),  # 1 x 1
    ]
    for a, b, trans_b in cases:
        for tile in ("small", "large"):
            got = cuda.matmul(
                cp.asarray(a), cp.asarray(b), trans_b=trans_b, tile=tile, precision="tf32"
            )
            emu = ops.matmul(a, b, trans_b=trans_b, tile=tile, precision="tf32")
            a64, b64 = a.astype(np.float64), (b.T if trans_b else b).astype(np.float64)
            bound = tf32_bound(a64, b64)
            got = cp.asnumpy(got)
            assert np.all(np.abs(got - a64 @ b64) <= bound), (a.shape, tile)
            # Same roundings, possibly another accumulation order inside each mma.
            assert np.all(np.abs(got - emu) <= 2 * bound), (a.shape, tile)
