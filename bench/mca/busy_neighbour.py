"""2-thread matmul with another process busy on one CPU (round 19, docs/BENCHMARKS.md): median
GFLOP/s of ours and NumPy's at 1 and 2 threads, interleaved.

  taskset -c 1 python3 -c "while True: pass" &   # the neighbour
  PYTHONPATH=python python bench/mca/busy_neighbour.py   # DG_PIN_THREADS=0: placement off
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _timing import interleaved, threads  # noqa: E402

import deltagrad as dg  # noqa: E402


def run(m, n, k, rng):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    ta, tb = dg.tensor(a), dg.tensor(b)
    cells = []
    for nt in (1, 2):
        with threads(nt):
            t = interleaved({"ours": lambda: ta @ tb, "numpy": lambda: a @ b}, rounds=8)
        gf = {key: 2 * m * n * k / v["median"] / 1e9 for key, v in t.items()}
        cells.append(f"{nt}t ours {gf['ours']:.0f} numpy {gf['numpy']:.0f}")
    print(f"{m}x{n}x{k} (median GFLOP/s): " + "; ".join(cells))


rng = np.random.default_rng(0)
for shape in [(256, 256, 256), (256, 784, 512)]:
    run(*shape, rng)
