"""Per-element CPU cost of each activation kernel, measured in *thread CPU time* on one thread,
so that other processes on a shared machine do not inflate it (they still share caches and
memory). Two sizes: 32K float32 (in cache: pure compute) and 16M float32 (from memory).

    PYTHONPATH=python python bench/ops_compute_cost.py

Not a pytest case: an exploration tool whose output docs/benchmarks/ops.md quotes.
"""

from __future__ import annotations

import time

import numpy as np

import deltagrad as dg
from deltagrad import _cpu

ACTS = ["identity", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "softplus"]


def cost(fn, n, reps):
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        for _ in range(reps):
            fn()
        best = min(best, (time.thread_time() - t0) / reps)
    return best / n * 1e9


def measure(rng, n: int, reps: int) -> dict[str, float]:
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    y = np.empty_like(x)
    rows = {
        "np.copyto": lambda: np.copyto(y, x),
        "np.tanh": lambda: np.tanh(x, out=y),
        "np.exp": lambda: np.exp(x, out=y),
    }
    for a in ACTS:
        rows[a] = lambda a=a: _cpu.activation(x, a, out=y)
    return {name: cost(fn, n, reps) for name, fn in rows.items()}


def main() -> None:
    dg.set_num_threads(1)
    rng = np.random.default_rng(0)
    small = measure(rng, 32 * 1024, 300)
    big = measure(rng, 16 * 1024 * 1024, 1)
    print(f"isa={_cpu.active_isa()}  ns per element, thread CPU time, 1 thread, float32 N(0, 9)")
    print(f"{'op':12s} {'32K (cache)':>12s} {'16M (memory)':>13s}")
    for name in small:
        print(f"{name:12s} {small[name]:12.3f} {big[name]:13.3f}")


if __name__ == "__main__":
    main()
