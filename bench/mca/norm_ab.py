"""A/B of two builds' normalization kernels in one process (issue 17, round 6): loads two _cpu
extension modules by path and times them interleaved (A B copy B A copy ...) with A's copy (the
identity activation, non-temporal stores) at bench/bench_norm.py's 16M float32 shapes, and
checks that both builds' outputs are bit-identical.

  PYTHONPATH=python python bench/mca/norm_ab.py A/_cpu*.so B/_cpu*.so THREADS ROUNDS [l2=BYTES]
      [case ...]

l2=BYTES: B's kernels plan for an L2 of BYTES (_set_cache_sizes). DG_AB_CPU_TIME=1 times by
process CPU time (all threads, spin waits included) instead of wall time: steadier on a loaded
machine, where a wall-clock round at 2 threads rarely has both cores to itself.

cases: bn_forward bn_backward ln_forward ln_backward bn_sums (default: all; bn_sums is the
backward's first pass alone, need_dx=False). fraction = t_copy * arrays
/ 2 / t, as bench_norm.py. DG_CPU_ISA=avx2 selects the AVX2 kernels in both."""

import os
import statistics
import sys
import time

import numpy as np
from _two_builds import load_build

ARRAYS = {"bn_forward": 2, "bn_backward": 3, "ln_forward": 2, "ln_backward": 3, "bn_sums": 2}


def load(path, tag, nt):
    return load_build(path, tag, threads=nt)


def case_fns(mod, case, x, dy, w, b, out, saved):
    if case == "bn_forward":
        rm, rv = np.zeros(x.shape[1], x.dtype), np.ones(x.shape[1], x.dtype)
        return lambda: (*mod.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5, out), rm, rv)
    if case in ("bn_backward", "bn_sums"):  # bn_sums: dweight / dbias only (the first pass)
        _, mean, invstd = saved["bn"]
        need_dx = case == "bn_backward"
        return lambda: mod.batch_norm_backward(
            dy, x, w, mean, invstd, True, need_dx, True, True, out if need_dx else None
        )
    if case == "ln_forward":
        return lambda: mod.layer_norm_forward(x, 1, w, b, 1e-5, out)
    _, mean, rstd = saved["ln"]
    return lambda: mod.layer_norm_backward(dy, x, 1, w, mean, rstd, True, True, True, out)


def main():
    nt, rounds = int(sys.argv[3]), int(sys.argv[4])
    a, b = load(sys.argv[1], "a", nt), load(sys.argv[2], "b", nt)
    if len(sys.argv) > 5 and sys.argv[5].startswith("l2="):  # B plans for this L2 size
        b._set_cache_sizes(0, int(sys.argv.pop(5)[3:]), 0)
    cases = sys.argv[5:] or list(ARRAYS)[:4]
    rng = np.random.default_rng(0)
    for case in cases:
        shape = (16, 64, 128, 128) if case.startswith("bn") else (4096, 4096)
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        feat = shape[1] if case.startswith("bn") else shape[-1]
        w = rng.uniform(0.5, 2, feat).astype(np.float32)
        bb = rng.standard_normal(feat).astype(np.float32)
        if case.startswith("bn"):
            saved = {"bn": a.batch_norm_forward(x, w, bb, None, None, True, 0.1, 1e-5, None)}
        else:
            saved = {"ln": a.layer_norm_forward(x, 1, w, bb, 1e-5, None)}
        oa, ob, oc = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)  # bn_sums: unwritten
        fa = case_fns(a, case, x, dy, w, bb, oa, saved)
        fb = case_fns(b, case, x, dy, w, bb, ob, saved)
        ra, rb = fa(), fb()
        same = all(
            (p is None and q is None) or np.array_equal(np.asarray(p), np.asarray(q))
            for p, q in zip(ra, rb)
        ) and np.array_equal(oa, ob)
        fns = {  # timed with B writing A's output array too (pool_ab.py: placement bias)
            "A": fa,
            "B": case_fns(b, case, x, dy, w, bb, oa, saved),
            "copy": lambda x=x, oc=oc: a._fast_activation(x, "identity", 0.0, oc),
        }
        t = {k: [] for k in fns}
        clock = time.process_time if os.environ.get("DG_AB_CPU_TIME") == "1" else time.perf_counter
        order = list(fns)
        for r in range(rounds):
            for k in order if r % 2 == 0 else [order[1], order[0], order[2]]:  # ABc BAc ...
                f = fns[k]
                t0 = clock()
                f()
                t[k].append(clock() - t0)
        best = {k: min(v) for k, v in t.items()}
        med = {k: statistics.median(v) for k, v in t.items()}
        ar = ARRAYS[case]
        print(
            f"{case} {nt}t bits_equal={same} "
            + " ".join(f"{k}={best[k] * 1e3:.2f}({med[k] * 1e3:.2f})ms" for k in fns)
            + f" frac A={best['copy'] * ar / 2 / best['A']:.3f}"
            + f" B={best['copy'] * ar / 2 / best['B']:.3f}"
            + f" B/A={best['A'] / best['B']:.3f} med B/A={med['A'] / med['B']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
