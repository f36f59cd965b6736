"""Adaptive max pooling forward (float32, values and indices) in one process, interleaved,
best of rounds with 50 ms of idle before each call: the array path deltagrad took before round
37 (numpy fancy indexing, still the cupy path), the C++ kernel (dg.ops.adaptive_max_pool2d)
and torch's adaptive_max_pool2d(return_indices=True).

    PYTHONPATH=python python bench/mca/adaptive_max_cmp.py [threads]
"""

import sys
import time

import numpy as np
import torch

import deltagrad as dg
from deltagrad import ops
from deltagrad._functional_pool_more import _argmax_2d

CASES = [
    ((32, 64, 56, 56), (7, 7)),
    ((32, 64, 56, 56), (1, 1)),
    ((32, 64, 28, 28), (5, 5)),
    ((32, 512, 7, 7), (1, 1)),
]


def main():
    nt = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    dg.set_num_threads(nt)
    torch.set_num_threads(nt)
    for shape, out in CASES:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        tx = torch.from_numpy(x)
        flat = x.reshape(*shape[:2], -1)

        def array_path(x=x, out=out, flat=flat, shape=shape):
            idx = _argmax_2d(x, *out).reshape(*shape[:2], -1)
            return np.take_along_axis(flat, idx, -1), idx

        fns = {
            "array": array_path,
            "kernel": lambda x=x, out=out: ops.adaptive_max_pool2d(x, out),
            "torch": lambda tx=tx, out=out: torch.nn.functional.adaptive_max_pool2d(tx, out, True),
        }
        best = dict.fromkeys(fns, 1e9)
        for r in range(10):
            for k, f in fns.items():
                if k == "array" and r > 2:  # slow: three rounds
                    continue
                time.sleep(0.05)
                t = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t)
        print(
            f"{shape} -> {out} t{nt} "
            + " ".join(f"{k}={v * 1e3:.2f}ms" for k, v in best.items())
            + f" kernel/array {best['array'] / best['kernel']:.0f}x"
            + f" vs_torch {best['torch'] / best['kernel']:.2f}"
        )


if __name__ == "__main__":
    main()
