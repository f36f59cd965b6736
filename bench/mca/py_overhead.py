"""Per-op overhead of the Python Tensor layer, for an A/B of two package trees (round 30: the
Tensor layer's index checks, comparison promotion and version-check records). Run it once per
tree, alternating, and compare each case's best:

  python bench/mca/py_overhead.py OLD_TREE/python      # a tree with deltagrad/ inside
  python bench/mca/py_overhead.py python

Cases: a 64 x 64 float32 graph ((a * b) @ b + a).relu().sum() forward + backward, the same
forward under no_grad, and a slice a[3:40, 1:9]; us per call, best of 15 x 500 calls."""

import sys
import time

import numpy as np

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "python")
import deltagrad as dg  # noqa: E402

rng = np.random.default_rng(0)
a = dg.tensor(rng.standard_normal((64, 64)).astype(np.float32), requires_grad=True)
b = dg.tensor(rng.standard_normal((64, 64)).astype(np.float32), requires_grad=True)


def fwd_bwd() -> None:
    ((a * b) @ b + a).relu().sum().backward()


def fwd_no_grad() -> None:
    with dg.no_grad():
        ((a * b) @ b + a).relu().sum()


def slice_index() -> None:
    a[3:40, 1:9]


for name, f in (("fwd + bwd", fwd_bwd), ("no_grad fwd", fwd_no_grad), ("slice", slice_index)):
    for _ in range(200):
        f()
    best = float("inf")
    for _ in range(15):
        t = time.perf_counter()
        for _ in range(500):
            f()
        best = min(best, (time.perf_counter() - t) / 500)
    print(f"{name:12s} {best * 1e6:8.2f} us")
