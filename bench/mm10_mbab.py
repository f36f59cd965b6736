"""mm10: the packed A block's size (MB) on this machine, in-process A/B against NumPy.

One build; the A block is set through the cache-size hook (_cpu._set_cache_sizes: MB is a quarter
of L3, at most 4 MiB: l3 = 32 MiB -> 2730 rows, 8 MiB -> 1362, 6 MiB -> 1020, 4 MiB -> 678),
variants interleaved round by round with NumPy, best of rounds; 1 thread thread CPU time, 2
threads wall time. `out=` given to both.
    PYTHONPATH=python python bench/mm10_mbab.py THREADS ROUNDS L3_MIB[,L3_MIB...] [case ...]
"""

import sys
import time

import numpy as np
from bench_matmul import CASES as ALL_CASES
from threadpoolctl import threadpool_limits

import deltagrad as dg
from deltagrad import _cpu

# the unbatched cases of bench_matmul.py: name -> (m, n, k, trans_a, trans_b)
CASES = {name: c[:5] for name, c in ALL_CASES.items() if len(c) == 6}


def main() -> None:
    nt, rounds = int(sys.argv[1]), int(sys.argv[2])
    l3s = [int(x) for x in sys.argv[3].split(",")]
    names = sys.argv[4:] or list(CASES)
    clock = time.thread_time if nt == 1 else time.perf_counter
    dg.set_num_threads(nt)
    threadpool_limits(nt)
    rng = np.random.default_rng(0)
    for name in names:
        m, n, k, ta, tb = CASES[name]
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        a_op, b_op = (a.T if ta else a), (b.T if tb else b)
        fl = 2.0 * m * n * k
        reps = max(1, int(1e9 / fl))
        keys = [f"l3={x}M" for x in l3s] + ["numpy"]

        def run(key, a=a, b=b, a_op=a_op, b_op=b_op, out=out, ta=ta, tb=tb):
            if key == "numpy":
                return np.matmul(a_op, b_op, out=out)
            return _cpu.matmul(a, b, trans_a=ta, trans_b=tb, out=out)

        best = {}
        for r in range(rounds):
            for key in keys if r % 2 == 0 else keys[::-1]:
                if key != "numpy":
                    _cpu._set_cache_sizes(0, 0, int(key[3:-1]) << 20)
                run(key)
                t = clock()
                for _ in range(reps):
                    run(key)
                best[key] = min(best.get(key, 1e9), (clock() - t) / reps)
        _cpu._set_cache_sizes(0, 0, 0)
        g = {key: fl / v / 1e9 for key, v in best.items()}
        cells = "  ".join(f"{key} {g[key]:6.1f} ({g[key] / g['numpy']:.3f})" for key in keys)
        print(f"{name:11s} {nt}t  {cells}", flush=True)


if __name__ == "__main__":
    main()
