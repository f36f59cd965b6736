"""A/B of two builds' matmul on products whose C has a few rows (issue 18, round 25: the row
form, gemm.h gemm_axpy), interleaved in one process with NumPy (deltagrad.benchmark's
interleaved: settled before each side's round, best of 9 rounds), us per call.

  PYTHONPATH=python python bench/mca/ab_rows.py THREADS A/_cpu*.so B/_cpu*.so [more builds]
      [--few]

--few: the products of 5 to 16 rows instead (round 26: gemm.h gemm_few).

NumPy's OpenBLAS is held to THREADS by threadpoolctl (pip install ".[bench]")."""

import sys

import numpy as np
from _two_builds import load_build
from threadpoolctl import threadpool_limits

from deltagrad.benchmark import interleaved

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
FEW_SHAPES = [
    (5, 4096, 4096),
    (8, 4096, 4096),
    (12, 4096, 4096),
    (8, 1024, 1024),
    (8, 784, 512),
    (12, 784, 512),
    (16, 784, 512),
    (8, 512, 10),
    (10, 256, 512),
    (6, 300, 300),
]


def main():
    args = [a for a in sys.argv[1:] if a != "--few"]
    shapes = FEW_SHAPES if "--few" in sys.argv else SHAPES
    nt = int(args[0])
    threadpool_limits(nt)
    mods = [load_build(p, f"b{i}", threads=nt) for i, p in enumerate(args[1:])]
    rng = np.random.default_rng(0)
    print(f"{nt} thread(s); us per call: " + " / ".join(args[1:]) + " / numpy")
    for dt in (np.float32, np.float64):
        for m, k, n in shapes:
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((k, n)).astype(dt)
            fns = {
                f"b{i}": (lambda mod=mod, a=a, b=b: mod.matmul(a, b)) for i, mod in enumerate(mods)
            }
            fns["numpy"] = lambda a=a, b=b: a @ b
            r = interleaved(fns, rounds=9)
            ts = [r[f"b{i}"]["best"] for i in range(len(mods))]
            tn = r["numpy"]["best"]
            cells = " ".join(f"{t * 1e6:9.1f}" for t in ts)
            print(f"{dt.__name__} {m}x{k}x{n}: {cells}  numpy {tn * 1e6:9.1f}", flush=True)


if __name__ == "__main__":
    main()
