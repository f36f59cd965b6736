"""dx of a stride-2 convolution: by phases (algo='tap', conv.h tap_phase_backward_dx) against
dcol = w^T dy and col2im (algo='gemm'), in one process, float32, 3x3 or 5x5 with 'same' padding,
1 and 2 threads, each ISA this machine runs (round 22, docs/BENCHMARKS.md). Best of 3 x 15 calls
each side, the two sides alternating.

    PYTHONPATH=python python bench/mca/conv_s2_dx.py [ISA,ISA...] [--large]

ISAs default to avx512,avx2 (those this CPU lacks are skipped); --large times large images
instead (112x112 to 512x512, a 7x7 stem), 5 calls a round.
"""

import sys
import time

import numpy as np

import deltagrad as dg
from deltagrad import _cpu

SHAPES = [  # n, c, h (= w), o, k
    (32, 16, 32, 32, 3),
    (32, 32, 16, 64, 3),
    (64, 16, 8, 32, 3),
    (8, 64, 56, 128, 3),
    (32, 64, 16, 128, 3),
    (16, 128, 8, 256, 3),
    (32, 8, 32, 16, 3),
    (8, 32, 28, 64, 3),
    (32, 3, 32, 16, 3),
    (16, 32, 32, 32, 5),
]
LARGE = [
    (8, 32, 112, 64, 3),
    (4, 64, 224, 64, 3),
    (4, 3, 224, 64, 7),
    (2, 16, 512, 32, 3),
]


def best(f, calls=15):
    t_best = float("inf")
    for _ in range(calls):
        t = time.perf_counter()
        f()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best


def main():
    args = [a for a in sys.argv[1:] if a != "--large"]
    large = "--large" in sys.argv[1:]
    isas = args[0].split(",") if args else ["avx512", "avx2"]
    shapes, calls = (LARGE, 5) if large else (SHAPES, 15)
    rng = np.random.default_rng(0)
    print("| threads | ISA | n, c, h x w -> o, k | col2im dx ms | phases dx ms | ratio |")
    print("|---|---|---|---|---|---|")
    for threads in (1, 2):
        dg.set_num_threads(threads)
        for isa in isas:
            if _cpu.set_active_isa(isa) != isa:  # not on this CPU (it clamps to the best)
                continue
            for n, c, h, o, k in shapes:
                x = rng.standard_normal((n, c, h, h)).astype(np.float32)
                w = rng.standard_normal((o, c, k, k)).astype(np.float32)
                ho = (h + 2 * (k // 2) - k) // 2 + 1
                dy = rng.standard_normal((n, o, ho, ho)).astype(np.float32)
                kw = dict(stride=2, padding=k // 2, need_dw=False, need_db=False)

                def call(algo, dy=dy, x=x, w=w, kw=kw):
                    return _cpu.conv2d_backward(dy, x, w, **kw, algo=algo)

                t = {"gemm": float("inf"), "tap": float("inf")}
                for _ in range(3):
                    for algo in t:
                        t[algo] = min(t[algo], best(lambda a=algo: call(a), calls))
                print(
                    f"| {threads} | {isa} | {n}, {c}, {h}x{h} -> {o}, {k}x{k} | "
                    f"{t['gemm'] * 1e3:.3f} | {t['tap'] * 1e3:.3f} | {t['gemm'] / t['tap']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
