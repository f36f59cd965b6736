"""mm9: where bmm256 (8 x 256^3, one call) loses against 8 single 256^3 products, 1 thread.

    python bench/mm9_probe.py [threads] [rounds]
Each variant: best of rounds of ~0.15 s, GFLOP/s per product, variants interleaved."""

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import deltagrad as dg

NT = int(sys.argv[1]) if len(sys.argv) > 1 else 1
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 9
M = int(sys.argv[3]) if len(sys.argv) > 3 else 256
dg.set_num_threads(NT)
threadpool_limits(NT)
B = 8
CLOCK = time.thread_time if NT == 1 else time.perf_counter  # 1 thread: CPU time of this thread
V_ONLY = sys.argv[4].split(",") if len(sys.argv) > 4 else None
rng = np.random.default_rng(0)
a = rng.standard_normal((B, M, M)).astype(np.float32)
b = rng.standard_normal((B, M, M)).astype(np.float32)
out = np.empty((B, M, M), np.float32)
out1 = np.empty((M, M), np.float32)
a_hot = np.broadcast_to(a[0], (B, M, M))
b_hot = np.broadcast_to(b[0], (B, M, M))
mm = dg.ops.matmul


def loop_out():
    for i in range(B):
        mm(a[i], b[i], out=out[i])


def loop_alloc():
    for i in range(B):
        mm(a[i], b[i])


V = {
    "single": (lambda: mm(a[0], b[0]), 1),
    "single_out": (lambda: mm(a[0], b[0], out=out1), 1),
    "bmm": (lambda: mm(a, b), B),
    "bmm_out": (lambda: mm(a, b, out=out), B),
    "bmm_hot_out": (lambda: mm(a_hot, b_hot, out=out), B),
    "loop_out": (loop_out, B),
    "loop_alloc": (loop_alloc, B),
    "np_single": (lambda: np.matmul(a[0], b[0]), 1),
    "np_bmm": (lambda: np.matmul(a, b), B),
    "np_bmm_out": (lambda: np.matmul(a, b, out=out), B),
}
if V_ONLY:
    V = {k: v for k, v in V.items() if k in V_ONLY}
fl = 2.0 * M**3
best = {}
for _r in range(ROUNDS):
    for name, (fn, cnt) in V.items():
        fn()
        reps = max(1, int(0.15 / (fl * cnt / 80e9)))
        t = CLOCK()
        for _ in range(reps):
            fn()
        dt = (CLOCK() - t) / reps / cnt
        best[name] = min(best.get(name, 1e9), dt)
for name, dt in best.items():
    print(f"{name:12s} {fl / dt / 1e9:6.1f} GFLOP/s per product")
