"""Depthwise Conv2d (groups = channels, 3x3, padding 1) forward + backward (input, weight and
bias gradients) vs torch CPU, float32, at 1 and 2 threads, timed interleaved in one process
(bench/_timing.py): MobileNet-like stages at batch 32, a stride-2 stage, and small planes.

    pytest bench/bench_depthwise.py -o addopts="" --benchmark-enable     # with ratios
    python bench/bench_depthwise.py [--rounds N] [--threads 1 2] [--isa default avx2]

--isa avx2 runs each measurement in a subprocess with deltagrad and torch capped at AVX2 (the
environment of bench/bench_conv.py's AVX2_ENV).
"""

from __future__ import annotations

import json
import os
import sys

for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # would handicap the peers
    os.environ.pop(_v, None)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _timing import interleaved, on_each_path, threads  # noqa: E402

import deltagrad as dg  # noqa: E402
import deltagrad.functional as F  # noqa: E402

try:
    import pytest
except ImportError:  # script mode without pytest
    pytest = None

try:
    import torch
except ImportError:
    torch = None

# name: (N, C, H, W, stride)
SHAPES = {
    "n32c64_56x56_s1": (32, 64, 56, 56, 1),
    "n32c128_28x28_s1": (32, 128, 28, 28, 1),
    "n32c64_56x56_s2": (32, 64, 56, 56, 2),
    "n64c32_16x16_s1": (64, 32, 16, 16, 1),
}
THREADS = (1, 2)


def _fns(name: str):
    n, c, h, w, s = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((c, 1, 3, 3)) / 3).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
    gy = rng.standard_normal((n, c, ho, wo)).astype(np.float32)
    dx, dw, db = (dg.tensor(a, requires_grad=True) for a in (x, wt, b))
    dgy = dg.tensor(gy)

    def ours():
        dx.grad = dw.grad = db.grad = None
        F.conv2d(dx, dw, db, s, 1, 1, c).backward(dgy)

    fns = {"ours": ours}
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
        tgy = torch.from_numpy(gy)

        def theirs():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, s, 1, 1, c).backward(tgy)

        fns["torch"] = theirs
    return fns


def measure(name: str, nthreads: int, rounds: int = 10) -> dict[str, float]:
    with threads(nthreads):
        best = {k: v["best"] for k, v in interleaved(_fns(name), rounds=rounds).items()}
    res = {f"ms_{k}": s * 1e3 for k, s in best.items()}
    if "torch" in best:
        res["ratio_torch"] = best["torch"] / best["ours"]
    return res


if pytest is not None:

    @pytest.mark.parametrize("nthreads", THREADS, ids=[f"t{t}" for t in THREADS])
    @pytest.mark.parametrize("name", list(SHAPES))
    def test_depthwise_fwd_bwd(benchmark, name, nthreads):
        benchmark.extra_info.update(case=name, threads=nthreads, dtype="float32")
        if benchmark.enabled:
            benchmark.extra_info.update(measure(name, nthreads))
        fn = _fns(name)["ours"]
        with threads(nthreads):
            benchmark(fn)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", nargs="*", type=int, default=list(THREADS))
    p.add_argument("--case", nargs="*", default=list(SHAPES))
    p.add_argument("--isa", nargs="*", default=["default", "avx2"])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        out = {f"{n}/{t}": measure(n, t, args.rounds) for n in args.case for t in args.threads}
        print("JSON" + json.dumps(out))
        return
    print(
        f"deltagrad {dg.__version__}, torch {torch.__version__ if torch else 'absent'}; "
        f"float32, depthwise 3x3 forward + backward, best of {args.rounds} interleaved rounds"
    )
    child = ["--rounds", str(args.rounds), "--threads", *map(str, args.threads)]
    for isa, res in on_each_path(__file__, args.isa, [*child, "--case", *args.case]).items():
        print(f"\n{isa} path")
        print("| shape | thr | ours ms | torch ms | torch / ours |\n|---|---|---|---|---|")
        for n in args.case:
            for t in args.threads:
                v = res[f"{n}/{t}"]
                print(
                    f"| {n} | {t} | {v['ms_ours']:.2f} | {v.get('ms_torch', 0):.2f} "
                    f"| {v.get('ratio_torch', 0):.2f} |"
                )


if __name__ == "__main__":
    main()
