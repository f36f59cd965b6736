"""Benchmarks: pytest-benchmark cases, each also recording an interleaved ratio against a peer
(see _timing.py). Run: pytest bench --benchmark-enable  (CI runs them once, untimed, as a smoke)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

# DG_BENCH_PATH=avx2 pytest bench ...: measure the AVX2 path on an AVX-512 machine, every
# library held to AVX2 (deltagrad.benchmark.PATH_ENV["avx2"], repeated here because it must be
# set before NumPy, OpenBLAS or torch load; bench_matmul.py's header line checks it took).
if os.environ.get("DG_BENCH_PATH") == "avx2":
    os.environ.update(
        DG_CPU_ISA="avx2",
        OPENBLAS_CORETYPE="Haswell",
        ATEN_CPU_CAPABILITY="avx2",
        MKL_ENABLE_INSTRUCTIONS="AVX2",
        ONEDNN_MAX_CPU_ISA="AVX2",
    )
