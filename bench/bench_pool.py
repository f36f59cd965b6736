"""Pooling at 16M elements (float32, N16 C64 128x128) against a copy of the same bytes and
torch CPU, interleaved in one process, on 1 and 2 threads: MaxPool2d 2x2/2 (with indices, and
with the window codes training saves), AvgPool2d 2x2/2, AdaptiveAvgPool2d((1, 1)) and
AdaptiveMaxPool2d((1, 1)) (with indices), forward and backward.

The bytes of a pass are what it must read and write (max forward: x in, y and the int64
indices out; max backward: dy and the indices in, dx out; max_train, the path autograd takes:
1-byte window codes instead of the indices; ...); the copy moves the same total
(half read, half written) on deltagrad's threads (the identity activation kernel). The ratio
`of_copy` = copy time / our time is the issue's ">= 70% of a copy" measure.

    PYTHONPATH=python python -m pytest bench/bench_pool.py --benchmark-enable -o addopts="" -s
"""

from __future__ import annotations

import numpy as np
import pytest
from _timing import interleaved, threads

from deltagrad import ops

SHAPE = (16, 64, 128, 128)  # 16M elements
SMALL = (2, 3, 16, 16)  # CI smoke (benchmarks disabled)

F32 = 4


def _case(op, direction, shape):
    """(our call, the bytes it reads and writes, x, dy, indices). Our outputs are preallocated,
    as the copy's are (a fresh 64 MiB array per call costs page faults that swamp the pass)."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    dx = np.empty_like(x)
    idx = None
    if op == "max":
        y, idx = ops.max_pool2d(x, 2, return_indices=True)
        yo, io = np.empty_like(y), np.empty_like(idx)
        nbytes = n * F32 + y.size * (F32 + 8)

        def fwd():
            return ops.max_pool2d(x, 2, return_indices=True, out=yo, indices_out=io)

        def bwd():
            return ops.max_pool2d_backward(dy, idx, shape, 2, out=dx)
    elif op == "max_train":  # autograd's path: 1-byte window codes instead of the indices
        y, codes = ops.max_pool2d_train(x, 2)
        yo, co = np.empty_like(y), ops.max_pool2d_train(x, 2)[1]  # codes start on a line
        idx = ops.max_pool2d(x, 2, return_indices=True)[1]  # the torch peer's
        nbytes = n * F32 + y.size * (F32 + 1)

        def fwd():
            return ops.max_pool2d_train(x, 2, out=yo, saved_out=co)

        def bwd():
            return ops.max_pool2d_train_backward(dy, codes, shape, 2, out=dx)
    elif op == "avg":
        y = ops.avg_pool2d(x, 2)
        yo = np.empty_like(y)
        nbytes = (n + y.size) * F32

        def fwd():
            return ops.avg_pool2d(x, 2, out=yo)

        def bwd():
            return ops.avg_pool2d_backward(dy, shape, 2, out=dx)
    elif op == "adaptive_max":  # global max pooling, with the indices its backward takes
        y, idx = ops.adaptive_max_pool2d(x, 1)
        yo, io = np.empty_like(y), np.empty_like(idx)
        nbytes = n * F32 + y.size * (F32 + 8)

        def fwd():
            return ops.adaptive_max_pool2d(x, 1, out=yo, indices_out=io)

        def bwd():
            return ops.adaptive_max_pool2d_backward(dy, idx, shape, out=dx)
    else:
        y = ops.adaptive_avg_pool2d(x, 1)
        yo = np.empty_like(y)
        nbytes = (n + y.size) * F32

        def fwd():
            return ops.adaptive_avg_pool2d(x, 1, out=yo)

        def bwd():
            return ops.adaptive_avg_pool2d_backward(dy, shape, out=dx)

    dy = rng.standard_normal(y.shape, dtype=np.float32)
    return (fwd if direction == "forward" else bwd), nbytes, x, dy, idx


def _torch_fn(op, direction, x, dy, idx):
    try:
        import torch
    except ImportError:
        return None
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
    aten = torch.ops.aten
    if op in ("max", "max_train"):  # torch's training path saves the int64 indices
        if direction == "forward":
            return lambda: aten.max_pool2d_with_indices(tx, [2, 2], [2, 2])
        tidx = torch.from_numpy(idx)
        return lambda: aten.max_pool2d_with_indices_backward(
            tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
        )
    if op == "avg":
        if direction == "forward":
            return lambda: aten.avg_pool2d(tx, [2, 2], [2, 2])
        return lambda: aten.avg_pool2d_backward(tdy, tx, [2, 2], [2, 2], [0, 0], False, True, None)
    if op == "adaptive_max":
        if direction == "forward":
            return lambda: aten.adaptive_max_pool2d(tx, [1, 1])
        tidx = torch.from_numpy(idx)
        return lambda: aten.adaptive_max_pool2d_backward(tdy, tx, tidx)
    if direction == "forward":
        return lambda: aten._adaptive_avg_pool2d(tx, [1, 1])
    return lambda: aten._adaptive_avg_pool2d_backward(tdy, tx)


@pytest.mark.parametrize("nthreads", [2, 1])
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("op", ["max", "max_train", "avg", "adaptive", "adaptive_max"])
def test_pool_16m(benchmark, op, direction, nthreads):
    shape = SHAPE if not benchmark.disabled else SMALL
    ours, nbytes, x, dy, idx = _case(op, direction, shape)
    with threads(nthreads):
        if benchmark.disabled:
            benchmark(ours)
            return
        half = nbytes // 2 // F32
        src = np.random.default_rng(1).standard_normal(half, dtype=np.float32)
        dst = np.empty_like(src)
        fns = {"ours": ours, "copy": lambda: ops.activation(src, "identity", out=dst)}
        tfn = _torch_fn(op, direction, x, dy, idx)
        if tfn is not None:
            fns["torch"] = tfn
        t = interleaved(fns, rounds=15)
        best = {k: v["best"] for k, v in t.items()}
        for k, v in best.items():
            benchmark.extra_info[f"{k}_best_s"] = v
        benchmark.extra_info["MB"] = nbytes / 1e6
        benchmark.extra_info["ours_GBps"] = nbytes / best["ours"] / 1e9
        benchmark.extra_info["copy_GBps"] = nbytes / best["copy"] / 1e9
        benchmark.extra_info["of_copy"] = best["copy"] / best["ours"]
        if "torch" in best:
            benchmark.extra_info["speedup_vs_torch"] = best["torch"] / best["ours"]
        print(
            f"\n[pool {op} {direction} t{nthreads}] MB={nbytes / 1e6:.0f} "
            + " ".join(f"{k}={1e3 * v:.2f}ms" for k, v in best.items())
            + f" ours={nbytes / best['ours'] / 1e9:.1f}GB/s"
            + f" copy={nbytes / best['copy'] / 1e9:.1f}GB/s"
            + f" of_copy={best['copy'] / best['ours']:.2f}"
            + (f" vs_torch={best['torch'] / best['ours']:.2f}" if "torch" in best else "")
        )
        benchmark.pedantic(ours, rounds=3, iterations=1)
