"""A/B of two builds' matmul in one process (issue 18, round 17): loads two _cpu extension
modules by path and times their matmul interleaved with numpy.matmul on bench_matmul.py's cases,
best GFLOP/s of the rounds, and checks that the two builds' results are bit-identical.

  PYTHONPATH=python python bench/mca/ab_mm.py A/_cpu*.so B/_cpu*.so [--case bmm64 ...]
      [--threads 1 2] [--rounds 15]

DG_CPU_ISA=avx2 selects the AVX2 kernels in both (OPENBLAS_CORETYPE=Haswell for the peer). The
two builds must lay out their GEMM scratch alike (_two_builds.py)."""

import argparse
import os
import sys

import numpy as np
from _two_builds import load_build

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _timing import interleaved, threads  # noqa: E402
from bench_matmul import CASES  # noqa: E402

# bench_matmul.py's cases and a few more: bmm64's products with their operands warm in L2,
# the MLP's hidden dW, both operands transposed
CASES = {
    **CASES,
    "bmm64w": (64, 64, 64, False, False, "8 x (64^3)", ((8,), (8,))),
    "mlp_dW2": (512, 512, 256, True, False, "dY.T @ H: dY 256x512, H 256x512"),
    "tA_tB": (512, 512, 256, True, True, "dY.T @ W.T: dY 256x512, W 512x256"),
    # a C of 5 to 16 rows (gemm_few), B from DRAM (64 MiB) and from the caches
    "few5_4096": (5, 4096, 4096, False, False, "5x4096 @ 4096x4096"),
    "few6_4096": (6, 4096, 4096, False, False, "6x4096 @ 4096x4096"),
    "few5_2048": (5, 2048, 2048, False, False, "5x2048 @ 2048x2048"),
    "few6_1024": (6, 1024, 1024, False, False, "6x1024 @ 1024x1024"),
    "few8_4096": (8, 4096, 4096, False, False, "8x4096 @ 4096x4096"),
    "few12_4096": (12, 4096, 4096, False, False, "12x4096 @ 4096x4096"),
    "few16_4096": (16, 4096, 4096, False, False, "16x4096 @ 4096x4096"),
    "few8_1024": (8, 1024, 1024, False, False, "8x1024 @ 1024x1024"),
    "few7_1024": (7, 1024, 1024, False, False, "7x1024 @ 1024x1024"),
    "few9_1024": (9, 1024, 1024, False, False, "9x1024 @ 1024x1024"),
    "few8_784": (8, 512, 784, False, False, "8x784 @ 784x512"),
    "direct8_96": (8, 96, 96, False, False, "8x96 @ 96x96 (gemm_direct)"),
    "direct13_64": (13, 64, 64, False, False, "13x64 @ 64x64 (gemm_direct)"),
    "few12_512": (12, 512, 512, False, False, "12x512 @ 512x512"),
    "few12_784": (12, 512, 784, False, True, "x @ W.T: x 12x784, W 512x784"),
}


def _batch(name):
    case = CASES[name]
    return case[6] if len(case) > 6 else ((), ())


def _operands(name):
    m, n, k, ta, tb = CASES[name][:5]
    ba, bb = _batch(name)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((*ba, *((k, m) if ta else (m, k))), dtype=np.float32)
    b = rng.standard_normal((*bb, *((n, k) if tb else (k, n))), dtype=np.float32)
    flops = 2.0 * m * n * k * float(np.prod(max(ba, bb, key=len)))
    return a, b, ta, tb, flops


def run_case(mods, name, thread_counts, rounds):
    a, b, ta, tb, flops = _operands(name)
    a_op = a.swapaxes(-1, -2) if ta else a
    b_op = b.swapaxes(-1, -2) if tb else b
    outs = {key: np.matmul(a_op, b_op) for key in ("A", "B", "np")}
    fns = {
        "A": lambda: mods["A"].matmul(a, b, ta, tb, out=outs["A"]),
        "B": lambda: mods["B"].matmul(a, b, ta, tb, out=outs["B"]),
        "np": lambda: np.matmul(a_op, b_op, out=outs["np"]),
    }
    fns["A"]()
    fns["B"]()
    same = np.array_equal(outs["A"], outs["B"])
    for nt in thread_counts:
        for mod in mods.values():
            mod.set_num_threads(nt)
        with threads(nt):
            t = interleaved(fns, rounds=rounds)
        g = {key: flops / v["best"] / 1e9 for key, v in t.items()}
        print(
            f"{name:11s} t{nt}  A {g['A']:6.1f}  B {g['B']:6.1f}  np {g['np']:6.1f}  "
            f"B/A {g['B'] / g['A']:.3f}  B/np {g['B'] / g['np']:.3f}  "
            f"A/np {g['A'] / g['np']:.3f}  bits {'equal' if same else 'DIFFER'}"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--case", nargs="*", default=["bmm64", "square256", "square2048"])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    mods = {"A": load_build(args.a, "a"), "B": load_build(args.b, "b")}
    print(f"isa {mods['A'].active_isa()} / {mods['B'].active_isa()}; best GFLOP/s; B/A, B/numpy")
    for name in args.case:
        run_case(mods, name, args.threads, args.rounds)


if __name__ == "__main__":
    main()
