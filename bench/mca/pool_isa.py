"""The pooling kernels of the AVX-512 and the AVX2 path in one process (issue 17, round 13):
bench/bench_pool.py's six passes at 16M float32 (N16 C64 128x128, 2x2/2 and global), each timed
on both paths in turn (_cpu.set_active_isa) with deltagrad's copy, best of ROUNDS.

    PYTHONPATH=python python bench/mca/pool_isa.py [THREADS=2] [ROUNDS=15] [pass ...]

Separate processes of bench_pool.py (one per path) had the AVX2 path 20-50% slower on some
passes of the Zen 4; in one process the two paths' times were within 0.68-1.31x of each other,
either way, run to run, but for the max backward (AVX2 1.13-1.26x slower in three runs of
three): mostly the processes, not the paths, differed (docs/BENCHMARKS.md, "Round 13").
"""

import sys
import time

import numpy as np
from _timing import threads

from deltagrad import _cpu, ops

SHAPE = (16, 64, 128, 128)


def main():
    nt = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    dx, cp = np.zeros_like(x), np.zeros_like(x)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    yo, io = np.empty_like(y), np.empty_like(idx)
    ya = ops.avg_pool2d(x, 2)
    yao = np.empty_like(ya)
    g1 = ops.adaptive_avg_pool2d(x, 1)
    g1o = np.empty_like(g1)
    passes = {
        "max_fwd": lambda: ops.max_pool2d(x, 2, return_indices=True, out=yo, indices_out=io),
        "max_bwd": lambda: ops.max_pool2d_backward(y, idx, SHAPE, 2, out=dx),
        "avg_fwd": lambda: ops.avg_pool2d(x, 2, out=yao),
        "avg_bwd": lambda: ops.avg_pool2d_backward(ya, SHAPE, 2, out=dx),
        "ad_fwd": lambda: ops.adaptive_avg_pool2d(x, 1, out=g1o),
        "ad_bwd": lambda: ops.adaptive_avg_pool2d_backward(g1, SHAPE, out=dx),
        "copy": lambda: ops.activation(x, "identity", out=cp),
    }
    names = sys.argv[3:] or list(passes)
    isas = [i for i in ("avx512", "avx2") if i in _cpu.build["kernel_isas"]]
    old = _cpu.active_isa()
    best = {(n, i): float("inf") for n in names for i in isas}
    with threads(nt):
        try:
            for _ in range(rounds):
                for n in names:
                    for i in isas:
                        _cpu.set_active_isa(i)
                        passes[n]()
                        t = time.perf_counter()
                        passes[n]()
                        best[n, i] = min(best[n, i], time.perf_counter() - t)
        finally:
            _cpu.set_active_isa(old)
    for n in names:
        row = "  ".join(f"{i} {best[n, i] * 1e3:6.2f} ms" for i in isas)
        ratio = (
            f"  avx2/avx512 time {best[n, 'avx2'] / best[n, 'avx512']:.2f}"
            if len(isas) == 2
            else ""
        )
        print(f"{n:8s} {row}{ratio}")


if __name__ == "__main__":
    main()
