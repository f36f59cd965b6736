"""The GEMM's cache blocking (csrc/cpu/gemm_blocking.h): the cache sizes detected (CPUID, sysfs)
and overridden (DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES, or the _set_cache_sizes test hook),
the blocks chosen from them, and the packed GEMM against float64 NumPy when small caches force
many k, row and column blocks (every block edge crossed) at 1 and 2 threads."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu
from deltagrad.testing import assert_close

DTYPES = (np.float32, np.float64)
PYTHON_DIR = str(pathlib.Path(dg.__file__).resolve().parent.parent)


@pytest.fixture
def caches():
    """Set the cache sizes the GEMM blocks for; back to the defaults afterwards."""
    yield _cpu._set_cache_sizes
    _cpu._set_cache_sizes(0, 0, 0)


@pytest.fixture
def threads():
    old = dg.get_num_threads()
    yield dg.set_num_threads
    dg.set_num_threads(old)


def rand(rng, shape, dtype):
    """Random data that is never zero (a skipped product cannot pass by accident)."""
    x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(dtype)


def expect(got, a, b, ta, tb, alpha=1.0, beta=0.0, c0=None):
    """got == alpha op(a) @ op(b) + beta c0 within the float error bound (as test_matmul)."""
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    ref = alpha * (A @ B)
    mag = abs(alpha) * (np.abs(A) @ np.abs(B))
    if beta != 0:
        ref = ref + beta * c0.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c0.astype(np.float64))
    assert got.dtype == a.dtype
    eps = np.finfo(a.dtype).eps
    bound = 4.0 * (A.shape[1] + 2) * eps * mag + np.finfo(a.dtype).tiny
    assert_close(got, ref, rtol=0.0, atol=bound, name="matmul")


# --------------------------------------------------------------------------- the cache sizes


def _sysfs_caches() -> dict[str, int]:
    """Linux's view of cpu0's data caches ({} where sysfs does not say)."""
    out: dict[str, int] = {}
    base = pathlib.Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")):
        try:
            kind = (d / "type").read_text().strip()
            level = (d / "level").read_text().strip()
            size = (d / "size").read_text().strip()
        except OSError:
            continue
        if kind not in ("Data", "Unified"):
            continue
        mult = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
        out[{"1": "l1d", "2": "l2", "3": "l3"}.get(level, "")] = int(size.rstrip("KM")) * mult
    out.pop("", None)
    return out


def test_cache_sizes_detected():
    got = _cpu.detected_cache_sizes()
    assert set(got) == {"l1d", "l2", "l3", "l2_share"}
    assert got["l2_share"] >= 1
    assert 4096 <= got["l1d"] <= got["l2"]
    assert got["l3"] >= 0
    src = _cpu.cache_source()
    assert src.split(";")[0].split(" ")[0] in ("cpuid", "sysfs", "default")
    fs = _sysfs_caches()
    if "l1d" in fs and "l2" in fs and "differs" not in src:
        assert got["l1d"] == fs["l1d"] and got["l2"] == fs["l2"]


def test_info_reports_caches():
    facts = dg.info()
    assert facts["cache_sizes"] == _cpu.cache_sizes()
    assert facts["cache_sizes_detected"] == _cpu.detected_cache_sizes()
    assert facts["cache_source"] == _cpu.cache_source()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("524288", 524288),
        ("512K", 524288),
        ("512KiB", 524288),
        ("2M", 2 << 20),
        ("2MiB", 2 << 20),
        ("1024", 1024),
        ("1023", -1),
        ("", -1),
        ("abc", -1),
        ("-4096", -1),
        ("12.5K", -1),
        ("4G", -1),
        (str(1 << 41), -1),
        ("99999999999999999999999", -1),
    ],
)
def test_parse_cache_bytes(text, want):
    assert _cpu.parse_cache_bytes(text) == want


def test_set_cache_sizes_and_back(caches):
    default = _cpu.cache_sizes()
    got = caches(32 << 10, 512 << 10, 0)
    assert got == {
        "l1d": 32 << 10,
        "l2": 512 << 10,
        "l3": default["l3"],
        "l2_share": default["l2_share"],
    }
    assert _cpu.cache_sizes() == got
    assert caches(0, 0, 0) == default


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DG_L")}
    full.update(env)
    full["PYTHONPATH"] = PYTHON_DIR + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_env_overrides():
    code = "import deltagrad as dg; c = dg.info()['cache_sizes']; print(c['l1d'], c['l2'], c['l3'])"
    r = _run(code, DG_L1D_BYTES="32768", DG_L2_BYTES="512K", DG_L3_BYTES="32MiB")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(32 << 10), str(512 << 10), str(32 << 20)]
    assert "RuntimeWarning" not in r.stderr


def test_env_override_invalid_warns_and_keeps_detected():
    code = (
        "import deltagrad as dg; from deltagrad import _cpu; "
        "print(dg.info()['cache_sizes']['l2'] == _cpu.detected_cache_sizes()['l2'])"
    )
    r = _run(code, DG_L2_BYTES="lots")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    assert "RuntimeWarning" in r.stderr and "DG_L2_BYTES='lots'" in r.stderr
    assert "detected" in r.stderr


# --------------------------------------------------------------------------- the blocking


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "sizes",
    [
        (4 << 10, 16 << 10, 64 << 10),  # tiny: the minimum blocks
        (32 << 10, 512 << 10, 32 << 20),  # Zen 3
        (48 << 10, 2 << 20, 256 << 20),  # Sapphire Rapids
        (1 << 20, 1 << 30, 1 << 40),  # huge: the caps
    ],
)
def test_blocking_follows_caches(isa, caches, dtype, sizes):
    l1d, l2, l3 = sizes
    caches(l1d, l2, l3, 1)
    b = _cpu._gemm_blocking(isa, dtype)
    s = np.dtype(dtype).itemsize
    mr, nr, kc, nb, mb = b["mr"], b["nr"], b["kc"], b["nb"], b["mb"]
    assert kc % 8 == 0 and 8 <= kc <= 384
    assert mr * kc * s <= l1d // 2 or kc == 8  # the A micro-panel in half of L1d
    assert kc == 384 or mr * (kc + 8) * s > l1d // 2  # and as long as that allows
    assert nb % nr == 0 and (kc * nb * s <= l2 * 3 // 8 or nb == nr)  # the B block in L2
    assert kc * (nb + nr) * s > l2 * 3 // 8
    a_bytes = min(l3 // 4, 4 << 20)
    if isa == "avx2":  # the AVX2 build caps the A block at 4 x L2 too (cpu/gemm.h, mm10)
        a_bytes = min(a_bytes, 4 * l2)
    assert mb % mr == 0 and (mb * kc * s <= a_bytes or mb == mr)
    assert (mb + mr) * kc * s > a_bytes
    # BLIS's loop order (the AVX2 build's packed-A products): an A block in half of L2, a B panel
    # in the A block's budget
    mc, nc = b["mc"], b["nc"]
    assert mc % mr == 0 and (mc * kc * s <= l2 // 2 or mc == mr)
    assert (mc + mr) * kc * s > l2 // 2
    assert nc % nr == 0 and (nc * kc * s <= a_bytes or nc == nr)
    assert (nc + nr) * kc * s > a_bytes
    assert b["shared_a"] is False  # the threads share no L2
    caches(l1d, l2, l3, 2)
    assert _cpu._gemm_blocking(isa, dtype)["shared_a"] is True


def test_blocking_bad_arguments():
    with pytest.raises(ValueError, match=r"_gemm_blocking: isa: expected"):
        _cpu._gemm_blocking("sse9", "float32")
    with pytest.raises(ValueError, match=r"_gemm_blocking: dtype: expected"):
        _cpu._gemm_blocking("generic", "int8")


# Shapes past the direct and dot paths (m n k > 2^20 or k > KC, min(m, n) > 16), odd in every
# dimension, so that with the small caches below every k, row and column block has an edge; the
# last one is narrow in n (the packed GEMM computes C^T).
SHAPES = [(203, 157, 131), (61, 389, 257), (300, 19, 77)]


@pytest.mark.parametrize(
    ("nthreads", "l2_share"), [(1, 1), (2, 1), (2, 2)], ids=["t1", "t2", "t2-shared-a"]
)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sizes", [(4 << 10, 16 << 10, 64 << 10), (6 << 10, 40 << 10, 200 << 10)], ids=["tiny", "small"]
)
def test_gemm_small_caches(isa, caches, threads, nthreads, l2_share, dtype, sizes):
    """l2_share = 2 (threads on SMT siblings): the A block packed cooperatively between
    barriers, with several m and k blocks (each block's barriers) and columns split unevenly."""
    caches(*sizes, l2_share)
    threads(nthreads)
    rng = np.random.default_rng(18)
    for m, n, k in SHAPES:
        for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
            a = rand(rng, (k, m) if ta else (m, k), dtype)
            b = rand(rng, (n, k) if tb else (k, n), dtype)
            expect(dg.ops.matmul(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)
        # beta != 0 accumulates over the k blocks; alpha scales once
        a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
        c0 = rand(rng, (m, n), dtype)
        out = c0.copy()
        dg.ops.matmul(a, b, alpha=-0.5, beta=0.75, out=out)
        expect(out, a, b, False, False, alpha=-0.5, beta=0.75, c0=c0)


@pytest.mark.parametrize(("nthreads", "l2_share"), [(1, 1), (2, 1), (2, 2)])
def test_gemm_small_caches_matches_reference(isa, caches, threads, nthreads, l2_share):
    """The blocked kernel against the triple-loop oracle, Zen 3's L2 (the proxy of the
    benchmarks) and a 2-thread split of the MLP's backward products."""
    caches(32 << 10, 512 << 10, 32 << 20, l2_share)
    threads(nthreads)
    rng = np.random.default_rng(5)
    for m, n, k, ta, tb in ((512, 784, 256, True, False), (256, 784, 512, False, False)):
        a = rand(rng, (k, m) if ta else (m, k), np.float32)
        b = rand(rng, (n, k) if tb else (k, n), np.float32)
        fast = dg.ops.matmul(a, b, trans_a=ta, trans_b=tb)
        slow = _cpu.matmul_reference(a, b, trans_a=ta, trans_b=tb)
        eps = np.finfo(np.float32).eps
        assert_close(fast, slow, rtol=0.0, atol=8 * k * eps * np.abs(slow).max(), name="fast")


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_relu_epilogue_over_blocks(isa, caches, threads, nthreads, dtype):
    """The fused bias + relu epilogue runs once on each finished block of C, whichever loop order
    packs it (the AVX2 build's packed-A products run BLIS's, B panel outermost: a transposed A,
    or n > 512), with small caches for several A blocks, B panels and k blocks, and on C^T
    (narrow n)."""
    caches(6 << 10, 40 << 10, 200 << 10)
    threads(nthreads)
    rng = np.random.default_rng(19)
    for m, n, k in ((203, 157, 131), (97, 613, 300), (300, 19, 77)):
        for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
            a = rand(rng, (k, m) if ta else (m, k), dtype)
            b = rand(rng, (n, k) if tb else (k, n), dtype)
            bias = rand(rng, (n,), dtype)
            got = _cpu._matmul_bias_relu(a, b, bias, trans_a=ta, trans_b=tb)
            A = (a.T if ta else a).astype(np.float64)
            B = (b.T if tb else b).astype(np.float64)
            ref = np.maximum(A @ B + bias.astype(np.float64), 0.0)
            eps = np.finfo(dtype).eps
            bound = 4.0 * (k + 3) * eps * (np.abs(A) @ np.abs(B) + np.abs(bias.astype(np.float64)))
            assert got.dtype == dtype and got.shape == (m, n)
            assert_close(got, ref, rtol=0.0, atol=bound, name="bias_relu")
            assert (got == 0).any() and (got > 0).any()  # both sides of the relu were taken


@pytest.mark.parametrize("dtype", DTYPES)
def test_dynamic_rows_and_huge_pages_keep_the_bits(isa, caches, threads, dtype):
    """2 threads on C's rows: the dynamic row chunks (DG_GEMM_DYNAMIC=1) give the bits of the
    fixed split (the default) and of 1 thread, with several k and column blocks (small caches),
    alpha, beta and the bias + relu epilogue; so does a scratch with or without huge pages."""
    caches(6 << 10, 40 << 10, 200 << 10)
    rng = np.random.default_rng(6)
    old_dyn, old_huge = _cpu._set_gemm_dynamic(True), _cpu._set_gemm_huge_from(1 << 20)
    try:
        for m, n, k, ta, tb in ((203, 157, 131, False, False), (301, 97, 260, True, True)):
            a = rand(rng, (k, m) if ta else (m, k), dtype)
            b = rand(rng, (n, k) if tb else (k, n), dtype)
            c0, bias = rand(rng, (m, n), dtype), rand(rng, (n,), dtype)
            runs = []
            for nt, dyn, huge in (
                (1, True, 1 << 20),
                (2, False, 1 << 20),
                (2, True, 1 << 20),
                (2, True, 0),
                (2, True, 1),
            ):
                threads(nt)
                _cpu._set_gemm_dynamic(dyn)
                _cpu._set_gemm_huge_from(huge)
                out = c0.copy()
                dg.ops.matmul(a, b, trans_a=ta, trans_b=tb, alpha=-0.5, beta=0.75, out=out)
                relu = _cpu._matmul_bias_relu(a, b, bias, trans_a=ta, trans_b=tb)
                runs.append((out, relu))
            expect(runs[0][0], a, b, ta, tb, alpha=-0.5, beta=0.75, c0=c0)
            for out, relu in runs[1:]:
                np.testing.assert_array_equal(out, runs[0][0])
                np.testing.assert_array_equal(relu, runs[0][1])
    finally:
        _cpu._set_gemm_dynamic(old_dyn)
        _cpu._set_gemm_huge_from(old_huge)


def test_gemm_switches_return_the_previous_value():
    old_dyn, old_huge = _cpu._set_gemm_dynamic(False), _cpu._set_gemm_huge_from(12345)
    try:
        assert _cpu._set_gemm_dynamic(True) is False
        assert _cpu._set_gemm_huge_from(0) == 12345
    finally:
        _cpu._set_gemm_dynamic(old_dyn)
        _cpu._set_gemm_huge_from(old_huge)


# --------------------------------------------------------------------------- the FMA peak


def test_measure_fma_peak(isa):
    rate = _cpu.measure_fma_peak(isa, 0.02, 1)
    assert rate > 0.1  # GFLOP/s: any CPU of this century


@pytest.mark.parametrize("isa", ["avx2", "avx512"], indirect=True)
def test_measure_fma_peak_bounds_the_gemm(isa, threads):
    """The nominal peak is an upper bound of what the GEMM of the same ISA reaches on one
    thread (the vector ISAs: generic's peak is of scalar chains, and GCC vectorizes its GEMM
    for SSE2, 2-3x past them). Round 13: the peak loop, written in an entry point (compiled
    for baseline x86-64, see gemm.h), called its vector ops through the PLT and read 3-5
    GFLOP/s where the GEMM ran at 100+. The GEMM's best of several calls against the peak's
    best slice: a loaded machine only slows either down, so the margin (the GEMM at most 1.25x
    the peak) is for the peak's short run."""
    import time

    threads(1)
    rng = np.random.default_rng(11)
    a, b = rand(rng, (256, 256), np.float32), rand(rng, (256, 256), np.float32)
    out = np.empty((256, 256), np.float32)
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        dg.ops.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    gemm = 2 * 256**3 / best / 1e9
    peak = _cpu.measure_fma_peak(isa, 0.1, 1)
    assert gemm <= 1.25 * peak, (gemm, peak)


def test_measure_fma_peak_bad_arguments():
    with pytest.raises(ValueError, match=r"measure_fma_peak: seconds"):
        _cpu.measure_fma_peak("generic", 0.0, 1)
    with pytest.raises(ValueError, match=r"measure_fma_peak: threads"):
        _cpu.measure_fma_peak("generic", 0.01, 0)
    with pytest.raises(ValueError, match=r"measure_fma_peak: isa"):
        _cpu.measure_fma_peak("avx1024", 0.01, 1)
