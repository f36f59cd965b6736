"""A/B of two builds' max pool 2x2 forward in one process (issue 17, round 6): loads two _cpu
extension modules by path and times their max_pool2d (16M float32, N16 C64 128x128, kernel 2,
indices returned into preallocated outputs) against the copy of the same bytes (identity
activation, streaming stores), shuffled order each round, best of rounds.

  PYTHONPATH=python python bench/mca/pool_ab.py A/_cpu*.so B/_cpu*.so

NT=1 or 2 (default) threads; DG_CPU_ISA=avx2 selects the AVX2 kernels in both. Checks that both
builds give the same bits. Run it under the measurement lock, when no build runs: with another
process busy on one of the 2 cores a 2-thread pass takes 2-4x longer and the ratios scatter."""

import os
import random
import sys
import time

import numpy as np
from _two_builds import load_build


def load(path, tag):
    return load_build(path, tag, threads=int(os.environ.get("NT", "2")))


def main():
    a, b = load(sys.argv[1], "a"), load(sys.argv[2], "b")
    rounds = int(os.environ.get("ROUNDS", "40"))
    x = np.random.default_rng(0).standard_normal((16, 64, 128, 128), dtype=np.float32)
    ya, yb = (np.empty((16, 64, 64, 64), np.float32) for _ in range(2))
    ia, ib = (np.empty(ya.shape, np.int64) for _ in range(2))
    nbytes = x.nbytes + ya.nbytes + ia.nbytes
    src = np.random.default_rng(1).standard_normal(nbytes // 8, dtype=np.float32)
    dst = np.empty_like(src)

    def pool(m, y, i):
        return m.max_pool2d(x, 2, 2, 0, 1, False, True, out=y, indices_out=i)

    fns = {
        "A": lambda: pool(a, ya, ia),
        "B": lambda: pool(b, yb, ib),
        "copy": lambda: a._fast_activation(src, "identity", 0.0, dst),
    }
    best = dict.fromkeys(fns, 1e9)
    keys, rng = list(fns), random.Random(0)
    for _ in range(rounds):
        rng.shuffle(keys)
        for k in keys:
            fns[k]()
            t0 = time.perf_counter()
            fns[k]()
            fns[k]()
            best[k] = min(best[k], (time.perf_counter() - t0) / 2)
    same = np.array_equal(ya.view(np.int32), yb.view(np.int32)) and np.array_equal(ia, ib)
    print(f"isa {a.active_isa()} / {b.active_isa()}; {nbytes / 1e6:.0f} MB; bit-identical {same}")
    for k, v in best.items():
        print(
            f"{k:5s} {v * 1e3:7.3f} ms  {nbytes / v / 1e9:5.1f} GB/s"
            f"  of_copy {best['copy'] / v:.3f}"
        )


if __name__ == "__main__":
    main()
