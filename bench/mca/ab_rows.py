"""A/B of two builds' matmul on products whose C has a few rows (issue 18, round 25: the row
form, gemm.h gemm_axpy), interleaved in one process with NumPy, best of 5 x rounds each, us.

  PYTHONPATH=python python bench/mca/ab_rows.py THREADS A/_cpu*.so B/_cpu*.so [more builds]

NumPy's OpenBLAS is held to THREADS by threadpoolctl (pip install ".[bench]")."""

import sys
import time

import numpy as np
from _two_builds import load_build
from threadpoolctl import threadpool_limits

SHAPES = [
    (1, 4096, 4096),
    (1, 1024, 1024),
    (1, 100000, 64),
    (2, 4096, 4096),
    (4, 4096, 4096),
    (3, 1000, 3001),
    (4, 512, 512),
    (2, 2048, 1024),
    (2, 64, 64),
    (4, 128, 128),
]


def best(f, rounds):
    b = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        b = min(b, time.perf_counter() - t0)
    return b


def main():
    nt = int(sys.argv[1])
    threadpool_limits(nt)
    mods = [load_build(p, f"b{i}", threads=nt) for i, p in enumerate(sys.argv[2:])]
    rng = np.random.default_rng(0)
    print(f"{nt} thread(s); us per call: " + " / ".join(sys.argv[2:]) + " / numpy")
    for dt in (np.float32, np.float64):
        for m, k, n in SHAPES:
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((k, n)).astype(dt)
            rounds = max(5, min(200, int(3e7 / (m * n * k + 1000))))
            ts = [float("inf")] * len(mods)
            for _ in range(5):
                for i, mod in enumerate(mods):
                    ts[i] = min(ts[i], best(lambda mod=mod, a=a, b=b: mod.matmul(a, b), rounds))
            tn = best(lambda a=a, b=b: a @ b, rounds)
            cells = " ".join(f"{t * 1e6:9.1f}" for t in ts)
            print(f"{dt.__name__} {m}x{k}x{n}: {cells}  numpy {tn * 1e6:9.1f}", flush=True)


if __name__ == "__main__":
    main()
