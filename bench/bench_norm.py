"""The fused normalization kernels (csrc/cpu/norm.h) at 16M float32 elements against a copy of
the same bytes, torch CPU as a peer, interleaved in one run (_timing.py), 1 and 2 threads.

    PYTHONPATH=python pytest bench/bench_norm.py --benchmark-enable -o addopts="" -s

Bytes counted per case: what a minimal implementation must move, each array once (the
per-channel / per-row vectors are negligible): BatchNorm2d forward reads x and writes y, 2
arrays; its backward reads dy and x and writes dx, 3; LayerNorm and GroupNorm forward 2 and
backward 3 likewise.
A second pass over x (or dy) is not counted again: the kernels keep it in cache (a LayerNorm row
of 4096 float32 is 16 KiB; BatchNorm goes a channel at a time, and a channel's plane here is
16 x 128 x 128 float32 = 1 MiB, in the 2 MiB L2 between its sums and its map), and where they
cannot, the extra pass is the kernel's cost, not bytes the comparison credits it with.
The copy baseline is deltagrad's multithreaded copy (the identity activation, non-temporal
stores for large outputs) of x on the same threads into a preallocated array: 2 arrays per
call, so fraction_of_copy = (t_copy * arrays / 2) / t_ours (1.0 = at the copy's bandwidth).
Ours writes y / dx into a preallocated array too (out=): a fresh 64 MiB result costs ~25 ms of
page faults on first touch here, more than the kernel itself. torch allocates its results.
"""

from __future__ import annotations

import numpy as np
import pytest
from _timing import interleaved, threads

from deltagrad import ops

N = 16 * 1024 * 1024
BN_SHAPE = (16, 64, 128, 128)  # 16M
LN_SHAPE = (4096, 4096)  # 16M, normalized over the last dimension
GROUPS = 32  # GroupNorm(32, 64) on BN_SHAPE: groups of 2 channels, 128 KiB rows
ARRAYS = {
    "bn_forward": 2,
    "bn_backward": 3,
    "ln_forward": 2,
    "ln_backward": 3,
    "gn_forward": 2,
    "gn_backward": 3,
}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cases(case, small):
    rng = np.random.default_rng(0)
    chans = case.startswith(("bn", "gn"))  # (N, C, H, W) and per-channel parameters
    shape = BN_SHAPE if chans else LN_SHAPE
    if small:
        shape = (2, 64, 8, 8) if chans else (16, 64)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)  # y / dx written in place, as the copy's destination
    feat = shape[1] if chans else shape[-1]
    w = rng.uniform(0.5, 2, feat).astype(np.float32)
    b = rng.standard_normal(feat).astype(np.float32)
    torch = _torch()
    peer = None
    if case == "bn_forward":

        def ours():
            ops.batch_norm_forward(x, w, b, training=True, out=out)

        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

            def peer():
                torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)

    elif case == "bn_backward":
        _, mean, invstd = ops.batch_norm_forward(x, w, b, training=True)

        def ours():
            ops.batch_norm_backward(dy, x, w, mean, invstd, training=True, out=out)

        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_(True)
            tw = torch.from_numpy(w).requires_grad_(True)
            tb = torch.from_numpy(b).requires_grad_(True)
            ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)
            tg = torch.from_numpy(dy)

            def peer():
                torch.autograd.grad(ty, [tx, tw, tb], tg, retain_graph=True)

    elif case == "ln_forward":

        def ours():
            ops.layer_norm_forward(x, (feat,), w, b, out=out)

        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

            def peer():
                torch.nn.functional.layer_norm(tx, (feat,), tw, tb)

    elif case == "gn_forward":

        def ours():
            ops.group_norm_forward(x, GROUPS, w, b, out=out)

        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

            def peer():
                torch.nn.functional.group_norm(tx, GROUPS, tw, tb)

    elif case == "gn_backward":
        _, mean, rstd = ops.group_norm_forward(x, GROUPS, w, b)

        def ours():
            ops.group_norm_backward(dy, x, GROUPS, w, mean, rstd, out=out)

        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_(True)
            tw = torch.from_numpy(w).requires_grad_(True)
            tb = torch.from_numpy(b).requires_grad_(True)
            ty = torch.nn.functional.group_norm(tx, GROUPS, tw, tb)
            tg = torch.from_numpy(dy)

            def peer():
                torch.autograd.grad(ty, [tx, tw, tb], tg, retain_graph=True)

    else:
        _, mean, rstd = ops.layer_norm_forward(x, (feat,), w, b)

        def ours():
            ops.layer_norm_backward(dy, x, (feat,), w, mean, rstd, out=out)

        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_(True)
            tw = torch.from_numpy(w).requires_grad_(True)
            tb = torch.from_numpy(b).requires_grad_(True)
            ty = torch.nn.functional.layer_norm(tx, (feat,), tw, tb)
            tg = torch.from_numpy(dy)

            def peer():
                torch.autograd.grad(ty, [tx, tw, tb], tg, retain_graph=True)

    return x, ours, peer


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("case", list(ARRAYS))
def test_norm_16m_vs_copy(benchmark, case, nthreads):
    x, ours, peer = _cases(case, benchmark.disabled)
    copy_dst = np.empty_like(x)
    with threads(nthreads):
        if not benchmark.disabled:
            fns = {"ours": ours, "copy": lambda: ops.activation(x, "identity", out=copy_dst)}
            if peer is not None:
                fns["torch"] = peer
            t = interleaved(fns, rounds=15)
            arrays = ARRAYS[case]
            ours_s, copy_s = t["ours"]["best"], t["copy"]["best"]
            extra = {
                "threads": nthreads,
                "arrays": arrays,
                "ours_GBps": arrays * x.nbytes / ours_s / 1e9,
                "copy_GBps": 2 * x.nbytes / copy_s / 1e9,
                "fraction_of_copy": copy_s * arrays / 2 / ours_s,
            }
            if "torch" in t:
                extra["speedup_vs_torch"] = t["torch"]["best"] / ours_s
            for name, v in t.items():
                benchmark.extra_info[f"{name}_best_s"] = v["best"]
            benchmark.extra_info.update(extra)
            line = " ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items()
            )
            print(f"\n[{case} {nthreads}t] {line}")
        benchmark(ours)
