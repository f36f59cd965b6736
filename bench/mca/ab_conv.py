"""A/B of two builds' Conv2d kernels in one process (round 6, wino6): loads two _cpu extension
modules by path and times chosen kernel calls interleaved, float32, 3x3 padding 1, best and
median of rounds.

  PYTHONPATH=python python bench/mca/ab_conv.py A/_cpu*.so B/_cpu*.so \
      --case c32 c64 --threads 1 2 --rounds 15 --variants A:fwd:winograd B:fwd:winograd A:fwd:tap

--stride 2 runs the cases strided (3x3, padding 1; round 22: s16 s32).

A variant is MODULE:PASS:ALGO, PASS one of fwd, dx, dw, bwd (dx + dw + db). DG_CPU_ISA=avx2
selects the AVX2 kernels in both. --check compares the two modules' outputs bit for bit;
--cpu-time times by process CPU time (all threads' CPU: at 1 thread it ignores preemption)."""

import argparse
import statistics
import time

import numpy as np
from _two_builds import load_build

CASES = {
    "c16": (64, 16, 8, 8, 32),
    "c16l": (32, 16, 32, 32, 32),
    "c24": (32, 24, 16, 16, 32),
    "c16s": (8, 16, 14, 14, 16),
    "c32": (32, 32, 32, 32, 64),
    "c64": (8, 64, 56, 56, 64),
    "c128": (8, 128, 28, 28, 128),
    "c64s": (64, 64, 8, 8, 64),
    "c256": (8, 256, 14, 14, 256),  # 2.4 MiB of weights: the per-call scratch of round 16
    "c512": (8, 512, 7, 7, 512),
    "c512n32": (32, 512, 7, 7, 512),
    "c256n1": (1, 256, 14, 14, 256),
    "c64n1": (1, 64, 56, 56, 64),
    "c256w": (4, 256, 28, 28, 256),  # wide rows on AVX2 (tile-major)
    "c256x": (1, 256, 56, 56, 256),  # wide rows on AVX-512 too
    "s16": (32, 16, 32, 32, 32),  # with --stride 2: ResNet-20's downsampling layers
    "s32": (32, 32, 16, 16, 64),
}


def load(path, tag):
    return load_build(path, tag)


def call(mod, pas, algo, x, w, b, gy, stride=1):
    if pas == "fwd":
        return (mod.conv2d_forward(x, w, b, stride, 1, 1, 1, algo=algo),)
    dx, dw, db = pas in ("dx", "bwd"), pas in ("dw", "bwd"), pas == "bwd"
    return mod.conv2d_backward(gy, x, w, stride, 1, 1, 1, dx, dw, db, algo=algo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--case", nargs="+", default=["c32", "c64"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--variants", nargs="+", default=["A:fwd:winograd", "B:fwd:winograd"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--stride", type=int, default=1, help="1 or 2 (padding stays 1)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument(
        "--cpu-time", action="store_true", help="process CPU time (steadier under load at 1t)"
    )
    args = ap.parse_args()
    mods = {"A": load(args.a, "a"), "B": load(args.b, "b")}
    print(f"isa {mods['A'].active_isa()} / {mods['B'].active_isa()}; ms per call")
    for case in args.case:
        n, c, h, wd, o = CASES[case]
        rng = np.random.default_rng(0)
        dt = np.dtype(args.dtype)
        x = rng.standard_normal((n, c, h, wd)).astype(dt)
        w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(dt)
        b = rng.standard_normal(o).astype(dt)
        s = args.stride
        gy = rng.standard_normal((n, o, (h - 1) // s + 1, (wd - 1) // s + 1)).astype(dt)
        if args.check:
            for v in args.variants:
                _, pas, algo = v.split(":")
                ra = call(mods["A"], pas, algo, x, w, b, gy, s)
                rb = call(mods["B"], pas, algo, x, w, b, gy, s)
                same = all(
                    (p is None and q is None) or np.array_equal(p, q) for p, q in zip(ra, rb)
                )
                print(f"{case} {pas}:{algo} A == B bitwise: {same}")
        for nt in args.threads:
            for m in mods.values():
                m.set_num_threads(nt)
            fns = {}
            for v in args.variants:
                tag, pas, algo = v.split(":")
                fns[v] = lambda m=mods[tag], p=pas, a=algo, d=(x, w, b, gy, s): call(m, p, a, *d)
            times = {k: [] for k in fns}
            for f in fns.values():
                f()
            clock = time.process_time if args.cpu_time else time.perf_counter
            for _ in range(args.rounds):
                for k, f in fns.items():
                    t0 = clock()
                    f()
                    times[k].append(clock() - t0)
            base = min(times[args.variants[0]])
            for k, ts in times.items():
                print(
                    f"{case} {nt}t {k:18s} best {min(ts) * 1e3:8.3f}  median "
                    f"{statistics.median(ts) * 1e3:8.3f}  best/first {min(ts) / base:6.3f}"
                )


if __name__ == "__main__":
    main()
