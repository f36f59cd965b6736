"""The memory regime of a shared machine over time (issue 17, round 13): every ~0.1 s, the best of
4 calls of deltagrad's copy (the identity activation, non-temporal stores) and of the four
normalization passes of bench/bench_norm.py at 16M float32, interleaved, with their GB/s (bytes
as the bench counts them) and their fractions of the copy.

    PYTHONPATH=python python bench/mca/regime.py [SECONDS=40] [THREADS=2]

On the Zen 4 KVM guest of rounds 12-13 the copy at 2 threads moved between two levels for tens
of seconds at a time, 42-53 GB/s and 62-81 GB/s, whatever this process did; the normalization
passes moved far less (29-41 GB/s, then 28-49), so their fractions of the copy fell from mostly
0.64-0.80 to 0.40-0.67 when the copy rose (docs/BENCHMARKS.md, "Round 13"). A fraction measured
in one run says which level the run met: the copy's GB/s is printed beside it.
"""

import sys
import time

import numpy as np
from _timing import threads

from deltagrad import ops

N = 16 * 1024 * 1024


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 40.0
    nt = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(N) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(N).astype(np.float32)
    d, out = np.zeros_like(x), np.zeros_like(x)
    xb, dyb, ob = (a.reshape(16, 64, 128, 128) for a in (x, dy, out))
    xl, dyl, ol = (a.reshape(4096, 4096) for a in (x, dy, out))
    w, b = rng.uniform(0.5, 2, 64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    wl = rng.uniform(0.5, 2, 4096).astype(np.float32)
    bl = rng.standard_normal(4096).astype(np.float32)
    _, m, iv = ops.batch_norm_forward(xb, w, b, training=True)
    _, ml, rl = ops.layer_norm_forward(xl, (4096,), wl, bl)
    fns = {  # name: (arrays moved, call)
        "copy": (2, lambda: ops.activation(x, "identity", out=d)),
        "bn_f": (2, lambda: ops.batch_norm_forward(xb, w, b, training=True, out=ob)),
        "bn_b": (3, lambda: ops.batch_norm_backward(dyb, xb, w, m, iv, training=True, out=ob)),
        "ln_f": (2, lambda: ops.layer_norm_forward(xl, (4096,), wl, bl, out=ol)),
        "ln_b": (3, lambda: ops.layer_norm_backward(dyl, xl, (4096,), wl, ml, rl, out=ol)),
    }
    with threads(nt):
        t0 = time.time()
        print("  time " + " ".join(f"{k:>6}" for k in fns) + "   fractions of the copy (GB/s)")
        while time.time() - t0 < seconds:
            best = dict.fromkeys(fns, 1e9)
            for _ in range(4):
                for k, (_, f) in fns.items():
                    s = time.perf_counter()
                    f()
                    best[k] = min(best[k], time.perf_counter() - s)
            gb = {k: a * x.nbytes / best[k] / 1e9 for k, (a, _) in fns.items()}
            print(
                f"{time.time() - t0:6.1f} "
                + " ".join(f"{gb[k]:6.1f}" for k in fns)
                + "   "
                + " ".join(f"{gb[k] / gb['copy']:.2f}" for k in fns if k != "copy")
            )


if __name__ == "__main__":
    main()
