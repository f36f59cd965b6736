"""A/B of two builds' float32 gelu against torch's aten.gelu.out, in one process, at any size
and thread count (gelu9, issue 18 round 9; ab_so.py fixes 262K and 1 thread). The bench's
N(0, 9) data; each side's round after 0.2 s of idle so the other library's spinning threads
have parked; best of rounds.

  PYTHONPATH=python python bench/mca/gelu9_ab.py A/_cpu*.so B/_cpu*.so [n] [threads] [rounds]"""

import sys
import time

import numpy as np
from _two_builds import load_build


def main():
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 18
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 12
    a, b = load_build(sys.argv[1], "a", threads), load_build(sys.argv[2], "b", threads)
    import torch

    torch.set_num_threads(threads)
    x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    y = np.empty_like(x)
    tx, ty = torch.from_numpy(x), torch.empty(n)
    reps = max(1, (1 << 22) // n)
    fns = {
        "A": lambda: a._fast_activation(x, "gelu", 0.0, y),
        "B": lambda: b._fast_activation(x, "gelu", 0.0, y),
        "torch": lambda: torch.ops.aten.gelu.out(tx, out=ty),
    }
    best = dict.fromkeys(fns, 1e9)
    for _ in range(rounds):
        for k, f in fns.items():
            time.sleep(0.2)
            f()
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            best[k] = min(best[k], (time.perf_counter() - t0) / reps)
    ra, rb = best["torch"] / best["A"], best["torch"] / best["B"]
    print(
        f"gelu n={n} threads={threads}: us A {best['A'] * 1e6:.1f} B {best['B'] * 1e6:.1f} "
        f"torch {best['torch'] * 1e6:.1f}; ns/elem A {best['A'] / n * 1e9:.3f} "
        f"B {best['B'] / n * 1e9:.3f}; torch/ours A {ra:.2f} B {rb:.2f}; B/A speed {rb / ra:.2f}"
    )


if __name__ == "__main__":
    main()
