"""A/B of two builds' pooling passes in one process (issue 17, round 6; every pass since round
12): loads two _cpu extension modules by path and times one pass over 16M float32 (N16 C64
128x128, kernel 2 or the global average, outputs preallocated) against the copy of the same
bytes (identity activation, streaming stores), shuffled order each round, best of rounds; both
builds write the same output arrays while timed (round 24: one array each biased the result).

  PYTHONPATH=python python bench/mca/pool_ab.py A/_cpu*.so B/_cpu*.so

OP= max (default: forward with indices), max_bwd, max_train (forward with window codes),
max_train_bwd, avg, avg_bwd, adaptive, adaptive_bwd, adaptive_max, adaptive_max_bwd (OUT=oh,ow:
the adaptive output size, default 1,1).
NT=1 or 2 (default) threads; LINE_OFFSETS=Y,I places the outputs (below); DG_CPU_ISA=avx2
selects the AVX2 kernels in both. Checks that both builds give the same bits. Run it under the
measurement lock, when no build runs: with another process busy on one of the 2 cores a
2-thread pass takes 2-4x longer and the ratios scatter."""

import os
import random
import sys
import time

import numpy as np
from _two_builds import load_build


def load(path, tag):
    return load_build(path, tag, threads=int(os.environ.get("NT", "2")))


def at_offset(shape, dtype, off):
    """An uninitialized array starting `off` bytes past a 64-byte line (None: np.empty's)."""
    if off is None:
        return np.empty(shape, dtype)
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(n + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + off
    return buf[start : start + n].view(dtype).reshape(shape)


def main():
    a, b = load(sys.argv[1], "a"), load(sys.argv[2], "b")
    rounds = int(os.environ.get("ROUNDS", "40"))
    op = os.environ.get("OP", "max")
    # SHAPE=n,c,h,w: the input (default 16,64,128,128; round 44: 16,64,126,126 for the staged
    # paths, whose rows of 63 outputs are no whole number of vectors)
    shape = tuple(int(v) for v in os.environ.get("SHAPE", "16,64,128,128").split(","))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    # OUT=oh,ow: the adaptive passes' output size (default 1,1: global pooling)
    osz = tuple(int(v) for v in os.environ.get("OUT", "1,1").split(","))
    n, c, h, w = shape
    small = (n, c, *osz) if op.startswith("adaptive") else (n, c, h // 2, w // 2)
    # LINE_OFFSETS="Y,I": the outputs y (and dx) and the indices start Y and I bytes past a
    # 64-byte line (default: where numpy puts them). Round 35: the max forward's speed
    # depended on the indices' offset.
    offs = os.environ.get("LINE_OFFSETS")
    oy, oi = (int(v) for v in offs.split(",")) if offs else (None, None)
    ya, yb = (at_offset(small, np.float32, oy) for _ in range(2))
    ia, ib = (at_offset(small, np.int64, oi) for _ in range(2))
    # the codes on a line by default, as max_pool2d_train allocates them
    ca, cb = (at_offset(small, np.uint8, oi if offs else 0) for _ in range(2))
    if op == "max_bwd":
        a.max_pool2d(x, 2, 2, 0, 1, False, True, out=ya, indices_out=ia)
    if op == "max_train_bwd":
        a.max_pool2d_train(x, 2, 2, 0, 1, False, out=ya, saved_out=ca)
    if op == "adaptive_max_bwd":
        a.adaptive_max_pool2d(x, osz, out=ya, indices_out=ia)
    if op == "max_train":  # the codes ride where the indices would
        ia, ib = ca, cb
    dy = np.random.default_rng(2).standard_normal(small, dtype=np.float32)
    xa, xb = (at_offset(shape, np.float32, oy) for _ in range(2))
    passes = {  # (run(module, out, indices, dx), bytes moved, outputs compared)
        "max": (
            lambda m, y, i, d: m.max_pool2d(x, 2, 2, 0, 1, False, True, out=y, indices_out=i),
            x.nbytes + ya.nbytes + ia.nbytes,
            lambda: [(ya, yb), (ia, ib)],
        ),
        "max_bwd": (
            lambda m, y, i, d: m.max_pool2d_backward(dy, ia, shape, 2, 2, 0, 1, False, out=d),
            dy.nbytes + ia.nbytes + xa.nbytes,
            lambda: [(xa, xb)],
        ),
        "max_train": (
            lambda m, y, i, d: m.max_pool2d_train(x, 2, 2, 0, 1, False, out=y, saved_out=i),
            x.nbytes + ya.nbytes + ca.nbytes,
            lambda: [(ya, yb), (ia, ib)],
        ),
        "max_train_bwd": (
            lambda m, y, i, d: m.max_pool2d_train_backward(dy, ca, shape, 2, 2, 0, 1, False, out=d),
            dy.nbytes + ca.nbytes + xa.nbytes,
            lambda: [(xa, xb)],
        ),
        "avg": (
            lambda m, y, i, d: m.avg_pool2d(x, 2, 2, 0, False, True, None, out=y),
            x.nbytes + ya.nbytes,
            lambda: [(ya, yb)],
        ),
        "avg_bwd": (
            lambda m, y, i, d: m.avg_pool2d_backward(dy, shape, 2, 2, 0, False, True, None, out=d),
            dy.nbytes + xa.nbytes,
            lambda: [(xa, xb)],
        ),
        "adaptive_max": (
            lambda m, y, i, d: m.adaptive_max_pool2d(x, osz, out=y, indices_out=i),
            x.nbytes + ya.nbytes + ia.nbytes,
            lambda: [(ya, yb), (ia, ib)],
        ),
        "adaptive_max_bwd": (
            lambda m, y, i, d: m.adaptive_max_pool2d_backward(dy, ia, shape, out=d),
            dy.nbytes + ia.nbytes + xa.nbytes,
            lambda: [(xa, xb)],
        ),
        "adaptive": (
            lambda m, y, i, d: m.adaptive_avg_pool2d(x, osz, out=y),
            x.nbytes + ya.nbytes,
            lambda: [(ya, yb)],
        ),
        "adaptive_bwd": (
            lambda m, y, i, d: m.adaptive_avg_pool2d_backward(dy, shape, out=d),
            dy.nbytes + xa.nbytes,
            lambda: [(xa, xb)],
        ),
    }
    run, nbytes, compared = passes[op]
    src = np.random.default_rng(1).standard_normal(nbytes // 8, dtype=np.float32)
    dst = np.empty_like(src)
    # Both builds write the same output arrays while timed: with one array each, where the pages
    # of each landed moved a pass by up to 8% between two identical builds on a Zen 1 (round 24).
    # The bit-identity check below runs each into its own arrays once, after the timing.
    fns = {
        "A": lambda: run(a, ya, ia, xa),
        "B": lambda: run(b, ya, ia, xa),
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
    run(a, ya, ia, xa)
    run(b, yb, ib, xb)
    same = all(np.array_equal(u.view(np.uint8), v.view(np.uint8)) for u, v in compared())
    print(
        f"{op}: isa {a.active_isa()} / {b.active_isa()}; {nbytes / 1e6:.0f} MB;"
        f" bit-identical {same}"
    )
    for k, v in best.items():
        print(
            f"{k:5s} {v * 1e3:7.3f} ms  {nbytes / v / 1e9:5.1f} GB/s"
            f"  of_copy {best['copy'] / v:.3f}"
        )


if __name__ == "__main__":
    main()
