"""The first calls after an idle spell (round 19, docs/BENCHMARKS.md: the wake stall): a 2-thread
256^3 float32 matmul of one library, timed call by call after each 0.2 s sleep.

  PYTHONPATH=python python bench/mca/first_call.py [rounds=20] [deltagrad|numpy|torch]

DG_PIN_THREADS=0 turns deltagrad's worker placement off (dg::place_team)."""

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import deltagrad as dg
from deltagrad import _cpu

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
lib = sys.argv[2] if len(sys.argv) > 2 else "deltagrad"
dg.set_num_threads(2)
threadpool_limits(2)
an = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
if lib == "torch":
    import torch

    torch.set_num_threads(2)
    at = torch.from_numpy(an)
    f = lambda: at @ at  # noqa: E731
elif lib == "numpy":
    f = lambda: an @ an  # noqa: E731
else:
    a = dg.tensor(an)
    f = lambda: a @ a  # noqa: E731
f()
times = []
for _ in range(rounds):
    time.sleep(0.2)
    row = []
    for _ in range(3):
        t0 = time.perf_counter()
        f()
        row.append((time.perf_counter() - t0) * 1e6)
    times.append(row)
t = np.array(times)
cells = " | ".join(
    f"call {i + 1} median {np.median(t[:, i]):.0f} max {t[:, i].max():.0f}" for i in range(3)
)
print(f"{lib:9s} placement={'on ' if _cpu._pin_threads() else 'off'}: {cells} us")
