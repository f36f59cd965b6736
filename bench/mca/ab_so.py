"""A/B of two builds' forward activation kernels in one process (issue 18, round 5): loads two
_cpu extension modules by path and times their _fast_activation interleaved with torch's out=
kernel, one thread, 262K float32 (the bench's N(0, 9) data), best of many rounds.

  PYTHONPATH=python python bench/mca/ab_so.py A/_cpu*.so B/_cpu*.so [act ...]

DG_CPU_ISA=avx2 selects the AVX2 kernels in both (set the torch variables of
docs/BENCHMARKS.md for a fair peer)."""

import sys
import time

import numpy as np
from _two_builds import load_build


def load(path, tag):
    return load_build(path, tag, threads=1)


def main():
    a, b = load(sys.argv[1], "a"), load(sys.argv[2], "b")
    acts = sys.argv[3:] or ["gelu", "tanh", "sigmoid", "silu"]
    import torch

    torch.set_num_threads(1)
    aten = torch.ops.aten
    tfns = {
        "relu": lambda t, o: torch.clamp(t, min=0, out=o),
        "sigmoid": lambda t, o: aten.sigmoid.out(t, out=o),
        "tanh": lambda t, o: aten.tanh.out(t, out=o),
        "gelu": lambda t, o: aten.gelu.out(t, out=o),
        "silu": lambda t, o: aten.silu.out(t, out=o),
    }
    n = 1 << 18
    x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    y = np.empty_like(x)
    tx, ty = torch.from_numpy(x), torch.empty(n)
    print(f"isa {a.active_isa()} / {b.active_isa()}; us per call, best of rounds; torch/ours")
    for act in acts:
        fns = {
            "A": lambda m=a, act=act: m._fast_activation(x, act, 0.0, y),
            "B": lambda m=b, act=act: m._fast_activation(x, act, 0.0, y),
            "torch": lambda f=tfns[act]: f(tx, ty),
        }
        best = dict.fromkeys(fns, 1e9)
        for _ in range(40):
            for k, f in fns.items():
                f()
                t0 = time.perf_counter()
                for _ in range(5):
                    f()
                best[k] = min(best[k], (time.perf_counter() - t0) / 5)
        ra, rb = best["torch"] / best["A"], best["torch"] / best["B"]
        print(
            f"{act:8s} A {best['A'] * 1e6:7.1f}  B {best['B'] * 1e6:7.1f}  torch "
            f"{best['torch'] * 1e6:7.1f}   ratio A {ra:.2f}  B {rb:.2f}  B/A speed {rb / ra:.2f}"
        )


if __name__ == "__main__":
    main()
