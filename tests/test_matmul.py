"""dg.ops.matmul (the packed GEMM) against a NumPy float64 reference.

Every test runs once per instruction set this CPU has (avx512, avx2, generic): the same kernel
source is compiled three times, with different micro-tiles and blockings, and each copy must be
right on the edges of its own tiles. The tests taking `device` run the CUDA GEMM too, through
the SIMT emulator (products up to 2^20 multiply-adds there) and on a GPU when present.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu
from deltagrad import reference as R
from deltagrad.testing import GPU_RTOL, assert_close, call_on, to_device, to_numpy

DTYPES = (np.float32, np.float64)
TRANS = ((False, False), (False, True), (True, False), (True, True))


@pytest.fixture(autouse=True)
def _every_isa(isa):
    """Every test runs with the kernels of each ISA (conftest's isa fixture; once on devices
    other than the CPU)."""
    return isa


@pytest.fixture
def threads():
    """Set dg's thread count inside a test; restored afterwards."""
    old = dg.get_num_threads()
    yield dg.set_num_threads
    dg.set_num_threads(old)


def rand(rng, shape, dtype):
    """Random data that is never zero (so a skipped product cannot pass by accident)."""
    x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(dtype)


def operands(rng, m, n, k, ta, tb, dtype):
    a = rand(rng, (k, m) if ta else (m, k), dtype)
    b = rand(rng, (n, k) if tb else (k, n), dtype)
    return a, b


def op(x, t):
    return x.T if t else x


def expect(got, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c0=None, slack=4.0):
    """Assert got == alpha * op(a) @ op(b) + beta * c0 within the float error bound:
    |error| <= slack * (k + 2) * eps * (|alpha| |op(a)| @ |op(b)| + |beta| |c0|)."""
    A = op(a, ta).astype(np.float64)
    B = op(b, tb).astype(np.float64)
    ref = alpha * (A @ B)
    mag = abs(alpha) * (np.abs(A) @ np.abs(B))
    if beta != 0:
        ref = ref + beta * c0.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c0.astype(np.float64))
    got = to_numpy(got)
    assert got.dtype == a.dtype
    eps = np.finfo(a.dtype).eps
    k = A.shape[1]
    bound = slack * (k + 2) * eps * mag + np.finfo(a.dtype).tiny
    assert_close(got, ref, rtol=0.0, atol=bound, name="matmul")


# Shapes: empty in each dimension, 1, primes, and one off the tiles of every ISA
# (MR 12/6/4, NR 32/16/8/4, KC 384/256, NB 480/384/192/96, MB 2040/1020). Products up to 2^20
# multiply-adds with k <= KC and unit column stride in op(B) take the unpacked path.
SHAPES = [
    (0, 5, 7),
    (5, 0, 7),
    (5, 7, 0),
    (0, 0, 0),
    (1, 1, 1),
    (1, 17, 1),
    (17, 1, 1),
    (1, 1, 300),
    (2, 3, 1),
    (7, 13, 17),
    (97, 101, 89),
    (11, 31, 383),
    (12, 32, 384),
    (13, 33, 385),
    (5, 15, 255),
    (6, 16, 256),
    (7, 17, 257),
    (3, 7, 9),
    (4, 4, 4),
    (5, 9, 3),
    (25, 65, 767),
    (23, 47, 513),
    (37, 481, 20),
    (19, 385, 11),
    (29, 193, 9),
    (31, 97, 5),
    (40, 961, 3),
    (256, 10, 64),
    (10, 256, 64),
    (3, 300, 40),
    (300, 3, 40),
    # past the unpacked small-product path (m*n*k > 2^20): the packed path on the same edges
    (101, 97, 131),
    (13, 1025, 97),
    (200, 33, 170),
    (11, 95, 1200),
    # a thin C computed as C^T = op(B)^T op(A)^T (packed path, swapped operands)
    (700, 5, 400),
    (5, 700, 400),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
@pytest.mark.per_device(
    "m,n,k", {"cpu": SHAPES, "simt": [s for s in SHAPES if s[0] * s[1] * s[2] <= 1 << 20]}
)
def test_shapes(device, rng, m, n, k, ta, tb, dtype):
    a, b = operands(rng, m, n, k, ta, tb, dtype)
    expect(call_on(device, dg.ops.matmul, a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
def test_large(rng, ta, tb, dtype):
    a, b = operands(rng, 600, 700, 500, ta, tb, dtype)
    expect(dg.ops.matmul(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("m", [1019, 1021, 2041])
def test_tall_past_the_m_block(rng, m, dtype):
    a, b = operands(rng, m, 33, 40, False, False, dtype)
    expect(dg.ops.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_against_reference_kernel(rng, dtype):
    for m, n, k, ta, tb in [
        (97, 101, 89, False, True),
        (13, 33, 385, True, False),
        (256, 10, 512, False, True),
    ]:
        a, b = operands(rng, m, n, k, ta, tb, dtype)
        fast = dg.ops.matmul(a, b, trans_a=ta, trans_b=tb)
        slow = _cpu.matmul_reference(a, b, trans_a=ta, trans_b=tb)
        expect(fast, a, b, ta, tb)
        expect(slow, a, b, ta, tb)
        eps = np.finfo(dtype).eps
        assert_close(
            fast, slow, rtol=0.0, atol=8 * k * eps * np.abs(slow).max(), name="fast vs slow"
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("alpha", [1.0, -0.5, 0.0])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("m,n,k", [(13, 33, 385), (97, 101, 89), (1, 1, 1), (7, 5, 0)])
def test_alpha_beta_out(device, rng, m, n, k, alpha, beta, dtype):
    for ta, tb in TRANS:
        a, b = operands(rng, m, n, k, ta, tb, dtype)
        c0 = rand(rng, (m, n), dtype)
        out = to_device(c0.copy(), device)
        a, b = to_device(a, device), to_device(b, device)
        got = dg.ops.matmul(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
        assert got is out
        expect(out, to_numpy(a), to_numpy(b), ta, tb, alpha, beta, c0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_beta_zero_does_not_read_out(device, rng, dtype):
    a, b = operands(rng, 20, 40, 30, False, False, dtype)
    da, db = to_device(a, device), to_device(b, device)
    out = to_device(np.full((20, 40), np.nan, dtype), device)
    dg.ops.matmul(da, db, out=out)
    expect(out, a, b)
    out[:] = np.inf
    dg.ops.matmul(da, db, alpha=0.0, out=out)  # alpha == 0, beta == 0: zeros, C not read
    assert np.array_equal(to_numpy(out), np.zeros((20, 40), dtype))


def views(rng, m, n, k, dtype):
    """(name, op(A) view, op(B) view) pairs with every kind of layout."""
    base_a = rand(rng, (3 * m + 2, 4 * k + 3), dtype)
    base_b = rand(rng, (3 * k + 2, 4 * n + 3), dtype)
    yield "sliced with steps", base_a[1::3, 2::4][:m, :k], base_b[2::3, ::4][:k, :n]
    yield "negative strides", rand(rng, (m, k), dtype)[::-1], rand(rng, (k, 2 * n), dtype)[:, ::-2]
    yield "both negative", base_a[::-3, ::-4][:m, :k], base_b[-1::-3, -2::-4][:k, :n]
    yield (
        "fortran",
        np.asfortranarray(rand(rng, (m, k), dtype)),
        np.asfortranarray(rand(rng, (k, n), dtype)),
    )
    yield "transposed views", rand(rng, (k, m), dtype).T, rand(rng, (n, k), dtype).T
    yield "column of a wide array", base_a[:m, :k], base_b[:k, 1 : n + 1]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta", [False, True], ids=["n", "t"])
@pytest.mark.parametrize("m,n,k", [(64, 64, 64), (24, 32, 50), (12, 16, 7), (48, 64, 1), (4, 8, 9)])
def test_direct_full_tiles(rng, m, n, k, ta, dtype):
    """Small products whose tiles are all full on some ISA (the unpacked path's row-pointer
    kernel), with A and B read in place through row strides wider than the operands, after a
    beta pass."""
    wide_a = rand(rng, (k, m + 3) if ta else (m, k + 5), dtype)
    a = wide_a[:, :m] if ta else wide_a[:, :k]
    b = rand(rng, (k, n + 7), dtype)[:, :n]
    expect(dg.ops.matmul(a, b, trans_a=ta), a, b, ta)
    c0 = rand(rng, (m, n), dtype)
    out = c0.copy()
    dg.ops.matmul(a, b, trans_a=ta, alpha=-0.5, beta=1.5, out=out)
    expect(out, a, b, ta, alpha=-0.5, beta=1.5, c0=c0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k", [(13, 33, 31), (37, 70, 400), (1, 5, 3)])
def test_strided_inputs(rng, m, n, k, dtype):
    for name, a, b in views(rng, m, n, k, dtype):
        assert a.shape == (m, k) and b.shape == (k, n), name
        expect(dg.ops.matmul(a, b), a, b)
        # the same memory read through the transpose flags
        expect(dg.ops.matmul(a.T, b.T, trans_a=True, trans_b=True), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("beta", [0.0, 1.5])
def test_out_non_contiguous(rng, dtype, beta):
    m, n, k = 29, 45, 70
    a, b = operands(rng, m, n, k, False, False, dtype)
    for big, view in [
        (rand(rng, (2 * m, 3 * n), dtype), lambda x: x[::2, ::3]),
        (rand(rng, (m, n), dtype), lambda x: x[::-1, ::-1]),
        (np.asfortranarray(rand(rng, (m, n), dtype)), lambda x: x),
        (rand(rng, (n, m), dtype), lambda x: x.T),
    ]:
        untouched = big.copy()
        out = view(big)
        c0 = out.copy()
        got = dg.ops.matmul(a, b, alpha=0.75, beta=beta, out=out)
        assert got is out
        expect(out, a, b, alpha=0.75, beta=beta, c0=c0)
        mask = np.ones(big.shape, bool)
        view(mask)[...] = False  # elements outside the view keep their values
        assert np.array_equal(big[mask], untouched[mask])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_out_aliases_an_input(rng, dtype, beta):
    n = 70
    a = rand(rng, (n, n), dtype)
    b = rand(rng, (n, n), dtype)
    for which in ("a", "b"):
        x, y = a.copy(), b.copy()
        out = x if which == "a" else y
        c0 = out.copy()
        dg.ops.matmul(x, y, beta=beta, out=out)
        expect(out, a, b, beta=beta, c0=c0)
    # out is the transpose of a, and a view overlapping b
    x = a.copy()
    dg.ops.matmul(x, b, out=x.T)
    expect(x.T, a, b)
    big = rand(rng, (n, 2 * n), dtype)
    bb = big[:, :n].copy()
    dg.ops.matmul(a, big[:, :n], out=big[:, n // 2 : n // 2 + n])
    expect(big[:, n // 2 : n // 2 + n], a, bb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_nan_inf_propagate(device, rng, dtype):
    m, n, k = 40, 50, 300
    for ta, tb in TRANS:
        a, b = operands(rng, m, n, k, ta, tb, dtype)
        A, B = op(a, ta), op(b, tb)
        A[3, 7] = np.nan
        A[5, 100] = np.inf
        A[6, 0] = -np.inf
        B[9, 11] = np.nan
        B[200, 30] = np.inf
        got = call_on(device, dg.ops.matmul, a, b, trans_a=ta, trans_b=tb)
        with np.errstate(invalid="ignore"):
            ref = A.astype(np.float64) @ B.astype(np.float64)
        assert np.array_equal(np.isnan(got), np.isnan(ref))
        assert np.array_equal(np.isposinf(got), np.isposinf(ref))
        assert np.array_equal(np.isneginf(got), np.isneginf(ref))
        assert np.isnan(got[3]).all() and np.isnan(got[:, 11]).all()
        fin = np.isfinite(ref)
        assert_close(got[fin], ref[fin], rtol=1e-4, atol=1e-3, name="finite elements")
    # NaN in out with beta != 0 propagates too
    a, b = operands(rng, m, n, k, False, False, dtype)
    out = rand(rng, (m, n), dtype)
    out[1, 2] = np.nan
    out = to_numpy(call_on(device, dg.ops.matmul, a, b, beta=1.0, out=to_device(out, device)))
    assert np.isnan(out[1, 2]) and np.isnan(out).sum() == 1


def same_bits_over_threads(threads, a, b, c0=None, counts=(1, 2), **kw):
    """dg.ops.matmul(a, b, **kw) (into a copy of c0 when given) on each thread count in turn:
    asserts every count gives the bits of the first and returns that result."""
    results = []
    for t in counts:
        threads(t)
        out = None if c0 is None else c0.copy()
        results.append(dg.ops.matmul(a, b, out=out, **kw))
    for r in results[1:]:
        assert np.array_equal(r, results[0])
    return results[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "m,n,k",
    [
        (1, 16, 1),
        (1, 17, 3),
        (2, 33, 9),
        (3, 4099, 5),  # past a chunk of columns on every ISA and dtype
        (4, 1000, 67),  # 67 rows of B: R-row steps and single rows
        (1, 9001, 130),
        (4, 40, 2049),
        (2, 20, 700),  # small, but k past gemm_direct's reach
        # k from kAxpySplitK (2048) on: two halves of k, a half per thread where 2 run
        (1, 4099, 2049),
        (3, 70, 2051),
        (5, 100, 300),  # one row past the row form, small: gemm_direct
        # 5 to 12 rows past gemm_direct (gemm_few): k in blocks of 64 rows of B (a partial
        # last block, k past KC), columns in chunks of 2 KiB and tiles of NR (a partial tile)
        (5, 100, 2049),
        (8, 513, 300),
        (7, 1000, 161),
        (12, 4099, 65),
        (9, 33, 4000),
        (6, 700, 700),
    ],
)
def test_row_form_few_rows(rng, threads, m, n, k, dtype):
    """C of 1 to 4 rows with row-major op(B) (x @ W for one sample: gemm_axpy), and of 5 to 12
    rows (gemm_few), with alpha, beta, NaN-free out not read at beta 0, a strided out and a
    transposed A: the error bound, and the same bits on 1, 2 and 3 threads (the column chunks
    change with the count)."""
    a, b = operands(rng, m, n, k, False, False, dtype)
    c0 = rand(rng, (m, n), dtype)
    out = same_bits_over_threads(threads, a, b, c0, (1, 2, 3), alpha=-0.5, beta=2.5)
    expect(out, a, b, alpha=-0.5, beta=2.5, c0=c0)
    got = same_bits_over_threads(threads, a, b, None, (1, 3))
    expect(got, a, b)
    nan_out = np.full((m, n), np.nan, dtype)
    assert np.array_equal(dg.ops.matmul(a, b, out=nan_out), got)  # beta 0: out not read
    wide = np.full((m, 2 * n), np.nan, dtype)  # out with a column stride of 2
    dg.ops.matmul(np.asfortranarray(a), b, out=wide[:, ::2])
    expect(wide[:, ::2], a, b)
    assert np.isnan(wide[:, 1::2]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k", [(5, 4099, 401), (6, 700, 1000), (1, 300, 500), (7, 513, 449)])
def test_few_rows_b_past_l3(rng, threads, m, n, k, dtype):
    """gemm_few with a B larger than the L3 (a 64 KiB L3 declared): a C of one row tile then
    sums k in blocks of 16 rows of B on the AVX2 build (FewShape::KB1; a partial last block
    here), more rows keep 64. The error bound, and the same bits on 1, 2 and 3 threads."""
    a, b = operands(rng, m, n, k, False, False, dtype)
    c0 = rand(rng, (m, n), dtype)
    try:
        _cpu._set_cache_sizes(32 << 10, 512 << 10, 64 << 10)
        out = same_bits_over_threads(threads, a, b, c0, (1, 2, 3), alpha=-0.5, beta=2.5)
        got = same_bits_over_threads(threads, a, b, None, (1, 2))
    finally:
        _cpu._set_cache_sizes(0, 0, 0)
    expect(out, a, b, alpha=-0.5, beta=2.5, c0=c0)
    expect(got, a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_thread_counts_give_identical_results(rng, threads, dtype):
    for m, n, k in [(256, 512, 784), (256, 10, 512), (97, 101, 89), (600, 700, 500)]:
        a, b = operands(rng, m, n, k, False, True, dtype)
        results = []
        for t in (1, 2, 3):
            threads(t)
            results.append(dg.ops.matmul(a, b, trans_b=True))
        expect(results[0], a, b, tb=True)
        for r in results[1:]:
            assert np.array_equal(r, results[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "m,n,k,ta,tb",
    [
        (256, 256, 256, False, False),
        (2041, 33, 40, False, False),  # row blocks of 1020 + 1021: one block, then two
        (1021, 700, 50, True, False),
        (257, 514, 300, False, True),
        (130, 260, 70, True, True),
    ],
)
def test_row_split_gives_identical_results(rng, threads, m, n, k, ta, tb, dtype):
    """Products whose threads split C's rows (n <= 2m), with alpha and beta: every thread count
    gives the bits of one thread, within the error bound."""
    a, b = operands(rng, m, n, k, ta, tb, dtype)
    c0 = rand(rng, (m, n), dtype)
    out = same_bits_over_threads(
        threads, a, b, c0, (1, 2, 3), trans_a=ta, trans_b=tb, alpha=-0.5, beta=2.5
    )
    expect(out, a, b, ta, tb, alpha=-0.5, beta=2.5, c0=c0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta", [False, True], ids=["a_rows", "a_cols"])
def test_packed_a_panel_edges(rng, ta, dtype):
    """The packed A micro-panels (MR rows; AVX2's 6 is not a multiple of its 8 or 4 lanes, and
    its packs store whole vectors that spill onto the next step of k, gemm7): k on both sides of
    the vector width and of KC, rows that leave a partial last panel, both packs (op(A) rows
    contiguous: the transposing pack; columns contiguous: the row copy). op(B) is transposed,
    so every product takes the packed path (one thread: below the parallel bound)."""
    for k in (1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 255, 256, 257, 383, 384, 385, 769):
        for m in (17, 19, 22, 24, 41):
            a, b = operands(rng, m, 37, k, ta, True, dtype)
            out = rand(rng, (m, 37), dtype)
            dg.ops.matmul(a, b, trans_a=ta, trans_b=True, out=out)
            expect(out, a, b, ta, True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "m,n,k,lda",
    [
        (257, 256, 300, 300),  # op(A) read in place (AVX2, n <= 512), a partial last panel
        (31, 500, 777, 777),  # ... over three k blocks
        (13, 300, 1100, 1111),  # ... from a strided view of A
        (40, 512, 1024, 1024),  # f32 rows 4 KiB apart: A packed
        (45, 1030, 397, 397),  # op(B) rows >= 4 KiB apart: B packed row-wise, partial panel
        (7, 515, 203, 203),  # f64 rows >= 4 KiB apart; k not a multiple of the row chunk
    ],
)
def test_direct_a_and_row_block_b_pack(rng, threads, m, n, k, lda, dtype):
    """gemm8's AVX2 paths in gemm_packed (the other ISAs run their usual path on the same
    shapes): the micro-kernel broadcasting from op(A) in place instead of a packed A block, and
    op(B)'s block packed 8 rows of k at a time across its panels. Against the float64 bound and
    the reference kernel, with alpha and beta, and the same bits on 1 and 2 threads."""
    a = rand(rng, (m, lda), dtype)[:, :k]
    b = rand(rng, (k, n), dtype)
    c0 = rand(rng, (m, n), dtype)
    out = same_bits_over_threads(threads, a, b, c0, alpha=-0.5, beta=2.5)
    expect(out, a, b, alpha=-0.5, beta=2.5, c0=c0)
    slow = _cpu.matmul_reference(np.ascontiguousarray(a), b)
    eps = np.finfo(dtype).eps
    assert_close(
        dg.ops.matmul(a, b), slow, rtol=0.0, atol=8 * k * eps * np.abs(slow).max(), name="vs ref"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "m,n,k,lda",
    [
        (64, 784, 512, 512),  # the MLP's dX shape, smaller: 2 threads split C's 784 columns
        (25, 1000, 300, 300),  # partial panels of rows
        (30, 1100, 257, 260),  # a strided view of A
        (13, 999, 700, 701),  # odd n: B rows not 64-byte aligned; two k blocks
        (20, 300, 40, 40),  # k shorter than the prefetch distance
    ],
)
def test_column_split_and_prefetched_b_pack(rng, threads, m, n, k, lda, dtype):
    """mm9: products whose threads split C's columns (n > 2m), B micro-panels packed with the
    rows ahead prefetched (AVX2; odd n: rows straddling two lines). The same bits on 1 and 2
    threads, within the float64 bound, alpha / beta."""
    a = rand(rng, (m, lda), dtype)[:, :k]
    b = rand(rng, (k, n), dtype)
    c0 = rand(rng, (m, n), dtype)
    expect(
        same_bits_over_threads(threads, a, b, c0, alpha=0.75, beta=-1.5),
        a,
        b,
        alpha=0.75,
        beta=-1.5,
        c0=c0,
    )
    expect(same_bits_over_threads(threads, a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize(
    "count,m,n,k",
    [
        (8, 256, 256, 256),  # bmm256
        (3, 61, 300, 333),  # op(A) in place with its next panel prefetched; partial last panel
        (3, 37, 45, 301),  # small: the direct kernel
        (5, 100, 129, 70),
        (4, 20, 700, 90),  # n > 512: A packed
    ],
)
def test_batched_equals_unbatched_bits(rng, threads, nt, count, m, n, k, dtype):
    """Each product of a strided batch (bmm256's shape among them) has exactly the bits of the
    same product computed alone, on 1 and 2 threads (a batch's products prefetch their A on the
    AVX2 path, a lone product does not: cpu/gemm_blocking.h gemm_operands_cold)."""
    threads(nt)
    a = rand(rng, (count, m, k), dtype)
    b = rand(rng, (count, k, n), dtype)
    got = dg.ops.matmul(a, b)
    for i in range(count):
        assert np.array_equal(got[i], dg.ops.matmul(a[i], b[i]))
    expect_nd(got, a, b)


def test_concurrent_python_threads(rng, threads):
    threads(2)
    cases = []
    for i, (m, n, k) in enumerate(
        [(300, 400, 500), (97, 101, 89), (256, 10, 512), (513, 129, 257)]
    ):
        dtype = DTYPES[i % 2]
        a, b = operands(rng, m, n, k, i % 2 == 1, i >= 2, dtype)
        cases.append((a, b, i % 2 == 1, i >= 2))
    expected = [dg.ops.matmul(a, b, trans_a=ta, trans_b=tb) for a, b, ta, tb in cases]
    errors = []
    barrier = threading.Barrier(len(cases))

    def worker(idx):
        a, b, ta, tb = cases[idx]
        try:
            barrier.wait()
            for _ in range(8):
                got = dg.ops.matmul(a, b, trans_a=ta, trans_b=tb)
                if not np.array_equal(got, expected[idx]):
                    errors.append(idx)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(len(cases))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for (a, b, ta, tb), got in zip(cases, expected):
        expect(got, a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "m,n,k,ta,tb",
    [
        (37, 1000, 50, False, False),
        (256, 10, 512, False, True),
        (97, 101, 389, True, False),
        (5, 3, 7, True, True),
        (1, 1, 1, False, False),
        (300, 45, 20, False, True),
        (700, 5, 400, False, False),
        (500, 7, 400, True, False),
        (450, 3, 900, True, True),
        (601, 500, 40, False, True),  # threads split the rows
        (1, 4099, 70, False, False),  # the row form: two chunks of columns
        (3, 33, 20, True, False),
    ],
)
def test_epilogue_applied_once_per_element(rng, threads, m, n, k, ta, tb, dtype):
    """The GEMM epilogue hook (bias + relu, as the fused linear layer uses it)."""
    a, b = operands(rng, m, n, k, ta, tb, dtype)
    bias = rand(rng, (n,), dtype)
    ref = np.maximum(op(a, ta).astype(np.float64) @ op(b, tb).astype(np.float64) + bias, 0)
    tol = 8 * (k + 2) * np.finfo(dtype).eps * (np.abs(op(a, ta)) @ np.abs(op(b, tb)) + 1.5)
    for t in (1, 2):
        threads(t)
        for reference in (False, True):
            got = _cpu._matmul_bias_relu(a, b, bias, trans_a=ta, trans_b=tb, reference=reference)
            assert np.all(np.abs(got - ref) <= tol)


# ------------------------------------------------------------------------------------------
# Bad input: a Python exception that names the argument, never a crash or a wrong answer.


def test_bad_dtypes(rng):
    a = rand(rng, (3, 4), np.float32)
    b = rand(rng, (4, 5), np.float32)
    with pytest.raises(TypeError, match=r"a: expected dtype float32 or float64, got int64"):
        dg.ops.matmul(a.astype(np.int64), b)
    with pytest.raises(TypeError, match=r"a: expected dtype float32 or float64, got float16"):
        dg.ops.matmul(a.astype(np.float16), b.astype(np.float16))
    with pytest.raises(TypeError, match=r"b: expected dtype float32 .*got float64"):
        dg.ops.matmul(a, b.astype(np.float64))
    with pytest.raises(TypeError, match=r"b: expected dtype float64 .*got float32"):
        dg.ops.matmul(a.astype(np.float64), b)
    with pytest.raises(TypeError, match=r"a: expected dtype"):
        dg.ops.matmul([[1, 2, 3]], [[1], [2], [3]])


def test_bad_shapes(rng):
    a = rand(rng, (3, 4), np.float32)
    b = rand(rng, (4, 5), np.float32)
    with pytest.raises(ValueError, match=r"a: expected an array with at least 2 dim.*\(4,\)"):
        dg.ops.matmul(a[0], b)
    with pytest.raises(ValueError, match=r"b: expected an array with at least 2 dim.*\(5,\)"):
        dg.ops.matmul(np.stack([a, a]), b[0])
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(3, 4\).*\(5, 4\)"):
        dg.ops.matmul(a, rand(rng, (5, 4), np.float32))
    with pytest.raises(ValueError, match=r"inner dimensions differ.*trans_a=True"):
        dg.ops.matmul(a, b, trans_a=True)
    # the same shapes with the right flag are fine
    expect(dg.ops.matmul(a, b.T.copy(), trans_b=True), a, b)


def test_bad_out(rng):
    a = rand(rng, (3, 4), np.float32)
    b = rand(rng, (4, 5), np.float32)
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 5\), got \(5, 3\)"):
        dg.ops.matmul(a, b, out=np.zeros((5, 3), np.float32))
    with pytest.raises(TypeError, match=r"out: expected dtype float32, got float64"):
        dg.ops.matmul(a, b, out=np.zeros((3, 5), np.float64))
    ro = np.zeros((3, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out: expected a writable array"):
        dg.ops.matmul(a, b, out=ro)
    with pytest.raises(TypeError, match=r"out: expected a numpy.ndarray, got .*list"):
        dg.ops.matmul(a, b, out=[[0.0] * 5] * 3)
    with pytest.raises(ValueError, match=r"beta: must be 0 when out is None"):
        dg.ops.matmul(a, b, beta=1.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_unaligned_and_odd_strides(rng, dtype):
    """Views whose byte strides are not a multiple of the item size are copied, never misread;
    the stride of a length-1 dimension is irrelevant."""
    item = np.dtype(dtype).itemsize
    buf = rand(rng, (4000,), dtype)
    b = rand(rng, (6, 9), dtype)
    odd = np.ndarray((5, 6), dtype=dtype, buffer=buf, strides=(6 * item + 2, item))
    assert not odd.flags.aligned
    expect(dg.ops.matmul(odd, b), odd.copy(), b)
    raw = np.zeros(30 * item + 1, np.uint8)[1:].view(dtype).reshape(5, 6)  # misaligned data
    raw[...] = rand(rng, (5, 6), dtype)
    assert not raw.flags.aligned
    expect(dg.ops.matmul(raw, b), raw.copy(), b)
    row = np.ndarray((1, 6), dtype=dtype, buffer=buf, strides=(3, item))
    expect(dg.ops.matmul(row, b), row.copy(), b)
    col = np.ndarray((6, 1), dtype=dtype, buffer=buf, strides=(item, 12345 * item))
    expect(dg.ops.matmul(b.T, col), b.T.copy(), col.copy())


@pytest.mark.parametrize("precision", [None, "fp32", "tf32"])
def test_precision_is_a_permission_on_the_cpu(precision):
    # TF32 only exists on GPU tensor cores; on the CPU every precision computes in full fp32
    rng = np.random.default_rng(3)
    a = rng.standard_normal((17, 9)).astype(np.float32)
    b = rng.standard_normal((9, 5)).astype(np.float32)
    got = dg.ops.matmul(a, b, precision=precision)
    assert_close(got, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_precision_rejects_unknown_names():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="precision"):
        dg.ops.matmul(a, a, precision="bf16")


# ---- the CUDA GEMM's launch paths at the GPU tolerance ----------------------------------------


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta_out_odd_shape(device, rng, dtype):
    a, b = _randn(rng, (19, 13), dtype), _randn(rng, (13, 21), dtype)
    c0 = _randn(rng, (19, 21), dtype)
    want = R.matmul(a, b, alpha=0.5, beta=-2.0, out=c0.copy())
    out = to_device(c0, device)
    got = dg.ops.matmul(to_device(a, device), to_device(b, device), alpha=0.5, beta=-2.0, out=out)
    assert got is out
    assert_close(to_numpy(out), want, dtype, rtol=GPU_RTOL, scale=13, equal_nan=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_in_out(device, rng, dtype):
    a, b = _randn(rng, (9, 4), dtype), _randn(rng, (4, 6), dtype)
    out = to_device(np.full((9, 6), np.nan, dtype=dtype), device)
    dg.ops.matmul(to_device(a, device), to_device(b, device), out=out)
    want = a.astype(np.float64) @ b
    assert_close(to_numpy(out), want, dtype, rtol=GPU_RTOL, scale=4, equal_nan=False)


def test_k_zero_and_empty(device):
    a, b = np.zeros((5, 0), np.float32), np.zeros((0, 3), np.float32)
    out = to_device(np.ones((5, 3), np.float32), device)
    dg.ops.matmul(to_device(a, device), to_device(b, device), beta=0.5, out=out)
    np.testing.assert_array_equal(to_numpy(out), 0.5)
    assert call_on(device, dg.ops.matmul, np.zeros((0, 4)), np.zeros((4, 7))).shape == (0, 7)


def test_out_aliases_input_odd_shape(device, rng):
    a = _randn(rng, (12, 12), np.float64)
    b = _randn(rng, (12, 12), np.float64)
    want = a @ b + a
    da = to_device(a, device)
    dg.ops.matmul(da, to_device(b, device), beta=1.0, out=da)
    assert_close(to_numpy(da), want, np.float64, rtol=GPU_RTOL, scale=12, equal_nan=False)


def test_validation(device):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        call_on(device, dg.ops.matmul, a.astype(np.int32), a.T)
    with pytest.raises(TypeError, match="dtype float32"):
        call_on(device, dg.ops.matmul, a, a.T.astype(np.float64))
    with pytest.raises(ValueError, match="inner dimensions"):
        call_on(device, dg.ops.matmul, a, a)
    with pytest.raises(ValueError, match="beta"):
        call_on(device, dg.ops.matmul, a, a.T, beta=1.0)
    if device != "cuda":  # cupy arrays are never read-only
        ro = np.zeros((3, 3), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="writable"):
            dg.ops.matmul(a, a.T, out=ro)
    with pytest.raises(ValueError, match="shape"):
        call_on(device, dg.ops.matmul, a, a.T, out=np.zeros((3, 4), np.float32))


# the GPU's own sizes (tests/test_cuda.py before): up to 1024 x 1024 x 512 there
GPU_SHAPES = [(1, 1, 1), (7, 5, 3), (129, 65, 33), (300, 257, 130), (1024, 1024, 512)]
if os.environ.get("DG_SANITIZER"):  # under compute-sanitizer (bench/gpu_check.sh)
    GPU_SHAPES = GPU_SHAPES[:4]  # small shapes only
GPU_TOL = {np.float32: (1e-4, 1e-5), np.float64: (1e-10, 1e-12)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.per_device(shapes={"cpu": [], "simt": [], "cuda": [GPU_SHAPES]})
def test_gpu_sizes(device, rng, shapes, dtype, trans_a, trans_b):
    for m, n, k in shapes:
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
        c = dg.ops.matmul(
            to_device(a, device), to_device(b, device), trans_a=trans_a, trans_b=trans_b
        )
        assert type(c) is type(to_device(a, device))
        want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
        rtol, atol = GPU_TOL[dtype]
        assert_close(c, want, rtol=rtol, atol=atol * k * 10, equal_nan=True)


# ---- the strided-batched GEMM: a (..., m, k) @ b (..., k, n), batch dimensions broadcast -------


def op_nd(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def expect_nd(got, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c0=None, slack=4.0):
    """expect() for batches: alpha * op(a) @ op(b) + beta * c0 with NumPy's broadcasting."""
    A = op_nd(a, ta).astype(np.float64)
    B = op_nd(b, tb).astype(np.float64)
    ref = alpha * np.matmul(A, B)
    mag = abs(alpha) * np.matmul(np.abs(A), np.abs(B))
    if beta != 0:
        ref = ref + beta * c0.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c0.astype(np.float64))
    got = to_numpy(got)
    assert got.dtype == a.dtype
    assert got.shape == ref.shape, (got.shape, ref.shape)
    eps = np.finfo(a.dtype).eps
    bound = slack * (A.shape[-1] + 2) * eps * mag + np.finfo(a.dtype).tiny
    assert_close(got, ref, rtol=0.0, atol=bound, name="matmul")


def operands_nd(rng, batch_a, batch_b, m, n, k, ta, tb, dtype):
    a = rand(rng, (*batch_a, *((k, m) if ta else (m, k))), dtype)
    b = rand(rng, (*batch_b, *((n, k) if tb else (k, n))), dtype)
    return a, b


# (batch of a, batch of b): equal, 1 against n, a dimension missing on either side, both
# broadcasting, two and three batch dimensions, batch 0 and 1.
BATCHES = [
    ((3,), (3,)),
    ((1,), (4,)),
    ((4,), (1,)),
    ((), (3,)),
    ((3,), ()),
    ((2, 1), (1, 3)),
    ((2, 3), (3,)),
    ((1,), (2, 1, 3)),
    ((0,), (0,)),
    ((0,), ()),
    ((1,), (1,)),
    ((1,), ()),
    ((2, 0), (1,)),
]
ND_SHAPES = [(1, 1, 1), (3, 5, 7), (13, 33, 17), (0, 3, 4), (4, 3, 0), (2, 1, 300)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("batch_a,batch_b", BATCHES, ids=[f"{a}x{b}" for a, b in BATCHES])
@pytest.mark.per_device("m,n,k", {"cpu": ND_SHAPES, "simt": [(1, 1, 1), (3, 5, 7), (4, 3, 0)]})
def test_batched_shapes(device, rng, batch_a, batch_b, m, n, k, dtype):
    for ta, tb in TRANS:
        a, b = operands_nd(rng, batch_a, batch_b, m, n, k, ta, tb, dtype)
        got = call_on(device, dg.ops.matmul, a, b, trans_a=ta, trans_b=tb)
        expect_nd(got, a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "batch_a,batch_b,m,n,k",
    [
        ((8,), (8,), 200, 210, 220),  # each product on the GEMM's own threads
        ((3,), (3,), 150, 140, 130),  # too few products to spread: in turn, threaded
        ((64,), (64,), 20, 30, 40),  # small products spread over the threads
        ((5, 7), (1, 7), 31, 17, 23),  # spread, b broadcast along the first dimension
        ((6,), (), 50, 70, 90),  # b shared, a's rows continue: one GEMM of 300 rows
        ((6,), (), 1, 70, 90),  # the same with one row per product
        ((), (6,), 50, 70, 90),  # a shared (read in place, stride 0)
    ],
)
def test_batched_paths(rng, threads, batch_a, batch_b, m, n, k, dtype):
    for nt in (1, 2):
        threads(nt)
        for ta, tb in TRANS:
            a, b = operands_nd(rng, batch_a, batch_b, m, n, k, ta, tb, dtype)
            expect_nd(dg.ops.matmul(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batched_thread_counts_give_identical_results(rng, threads, dtype):
    a, b = operands_nd(rng, (16,), (1,), 37, 29, 41, False, True, dtype)
    results = []
    for nt in (1, 2, 3):
        threads(nt)
        results.append(dg.ops.matmul(a, b, trans_b=True))
    for r in results[1:]:
        assert np.array_equal(r, results[0])


def batched_views(rng, dtype):
    """(name, a, b) batched operands with every kind of layout; op(a) is (.., 5, 6), op(b)
    (.., 6, 7)."""
    base = rand(rng, (7, 11, 13), dtype)
    yield "sliced with steps", base[::2, 1::2, ::2][:, :5, :6], rand(rng, (4, 6, 7), dtype)
    yield (
        "negative strides",
        rand(rng, (3, 5, 6), dtype)[::-1, :, ::-1],
        rand(rng, (3, 7, 6), dtype)[:, ::-1].swapaxes(-1, -2),
    )
    yield (
        "batch axis last",
        np.moveaxis(rand(rng, (5, 6, 4), dtype), -1, 0),
        rand(rng, (6, 7), dtype),
    )
    yield (
        "fortran",
        np.asfortranarray(rand(rng, (2, 5, 6), dtype)),
        np.asfortranarray(rand(rng, (2, 6, 7), dtype)),
    )
    yield (
        "broadcast_to (zero strides)",
        np.broadcast_to(rand(rng, (5, 6), dtype), (4, 5, 6)),
        (rand(rng, (4, 6, 7), dtype)),
    )
    yield (
        "broadcast rows",
        np.broadcast_to(rand(rng, (3, 1, 6), dtype), (3, 5, 6)),
        np.broadcast_to(rand(rng, (1, 6, 7), dtype), (3, 6, 7)),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batched_strided_inputs(device, rng, dtype):
    for _name, a, b in batched_views(rng, dtype):
        got = call_on(device, dg.ops.matmul, a, b)
        expect_nd(got, np.ascontiguousarray(a), np.ascontiguousarray(b))
        if device == "cpu":
            expect_nd(_cpu.matmul_reference(a, b), a.copy(), b.copy())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-0.5, 2.5), (0.0, 1.0)])
def test_batched_alpha_beta_out(device, rng, alpha, beta, dtype):
    for ta, tb in TRANS:
        a, b = operands_nd(rng, (2, 1), (3,), 5, 7, 6, ta, tb, dtype)
        c0 = rand(rng, (2, 3, 5, 7), dtype)
        out = to_device(c0.copy(), device)
        da, db = to_device(a, device), to_device(b, device)
        got = dg.ops.matmul(da, db, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
        assert got is out
        expect_nd(out, a, b, ta, tb, alpha, beta, c0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batched_out_non_contiguous_and_aliased(rng, dtype):
    a, b = operands_nd(rng, (3,), (3,), 5, 7, 6, False, False, dtype)
    c0 = rand(rng, (7, 3, 5), dtype)
    buf = c0.copy()
    out = np.moveaxis(buf, 0, -1)  # (3, 5, 7) with the columns outermost
    dg.ops.matmul(a, b, beta=1.5, out=out)
    expect_nd(out, a, b, beta=1.5, c0=np.moveaxis(c0, 0, -1))
    sq = rand(rng, (4, 6, 6), dtype)
    sq0, w = sq.copy(), rand(rng, (6, 6), dtype)
    dg.ops.matmul(sq, w, alpha=2.0, beta=-1.0, out=sq)  # out is a: computed into scratch
    expect_nd(sq, sq0, w, alpha=2.0, beta=-1.0, c0=sq0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batched_against_reference_kernel(rng, dtype):
    a, b = operands_nd(rng, (2, 3), (3,), 37, 29, 130, True, False, dtype)
    fast = dg.ops.matmul(a, b, trans_a=True)
    slow = _cpu.matmul_reference(a, b, trans_a=True)
    expect_nd(fast, a, b, True)
    expect_nd(slow, a, b, True)


def test_batched_bad_input(device, rng):
    a = rand(rng, (2, 3, 4), np.float32)
    with pytest.raises(
        ValueError,
        match=r"matmul: batch dimensions do not broadcast.*"
        r"\(2, 3, 4\).*\(3, 4, 5\)",
    ):
        call_on(device, dg.ops.matmul, a, rand(rng, (3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ.*\(2, 3, 4\)"):
        call_on(device, dg.ops.matmul, a, rand(rng, (2, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"b: expected an array with at least 2 dim.*\(4,\)"):
        call_on(device, dg.ops.matmul, a, rand(rng, (4,), np.float32))
    with pytest.raises(ValueError, match=r"a: expected an array with at least 2 dim.*\(\)"):
        call_on(device, dg.ops.matmul, np.ones((), np.float32), a)
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 3, 5\), got \(3, 5\)"):
        call_on(
            device,
            dg.ops.matmul,
            a,
            rand(rng, (4, 5), np.float32),
            out=np.zeros((3, 5), np.float32),
        )
    with pytest.raises(TypeError, match=r"b: expected dtype float32"):
        call_on(device, dg.ops.matmul, a, rand(rng, (2, 4, 5), np.float64))
    with pytest.raises(ValueError, match=r"beta: must be 0 when out is None"):
        call_on(device, dg.ops.matmul, a, rand(rng, (4, 5), np.float32), beta=1.0)
    if device == "cpu":
        buf = np.zeros((3, 5), np.float32)
        with pytest.raises(ValueError, match=r"out: expected an array whose elements do not"):
            dg.ops.matmul(
                a,
                rand(rng, (4, 5), np.float32),
                out=np.lib.stride_tricks.as_strided(buf, (2, 3, 5), (0, *buf.strides)),
            )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k,ta", [(1501, 300, 700, False), (2100, 150, 390, True)])
def test_a_block_cap_keeps_bits(rng, threads, m, n, k, ta, dtype):
    """mm10: the AVX2 build caps the packed A block at 4 x L2 (Zen 3's 512 KiB L2: 2 MiB, 1362
    fp32 rows at KC 384), so these products take several A blocks (partial last panels, several
    k blocks) where a 2 MiB L2 gives one or two. Which rows a block holds must not change any
    bit: the same result under both cache sizes, on 1 and 2 threads, within the bound."""
    a, b = operands(rng, m, n, k, ta, False, dtype)
    c0 = rand(rng, (m, n), dtype)
    got = []
    try:
        for l2 in (512 << 10, 2 << 20):
            _cpu._set_cache_sizes(32 << 10, l2, 32 << 20)
            got.append(same_bits_over_threads(threads, a, b, c0, trans_a=ta, alpha=-0.5, beta=2.5))
    finally:
        _cpu._set_cache_sizes(0, 0, 0)
    assert np.array_equal(got[0], got[1])
    expect(got[0], a, b, ta, alpha=-0.5, beta=2.5, c0=c0)
