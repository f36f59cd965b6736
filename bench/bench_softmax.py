"""Softmax-family ops over the class axis of (N, C, spatial...) tensors vs torch CPU, float32,
at 1 and 2 threads, timed interleaved in one process (bench/_timing.py): softmax and
log_softmax over dim 1 (forward + backward), logsumexp over dim 1 (forward + backward) and
cross_entropy with class indices on spatial logits (forward alone, and forward + backward), on
segmentation-like shapes (VOC's 21 classes, ADE20K's 150, a 3-D volume with 4 classes).

    pytest bench/bench_softmax.py -o addopts="" --benchmark-enable     # with ratios
    python bench/bench_softmax.py [--rounds N] [--threads 1 2] [--isa default avx2]

--isa avx2 runs each measurement in a subprocess with deltagrad and torch capped at AVX2
(bench/_timing.py's AVX2_ENV).
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

SHAPES = {
    "n8c21_128x128": (8, 21, 128, 128),
    "n4c150_64x64": (4, 150, 64, 64),
    "n2c4_32x64x64": (2, 4, 32, 64, 64),
    "n32c10_32x32": (32, 10, 32, 32),
}
OPS = ("softmax", "log_softmax", "logsumexp", "cross_entropy_fwd", "cross_entropy")
THREADS = (1, 2)


def _fns(op: str, name: str):
    shape = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    xd = dg.tensor(x, requires_grad=True)
    if op.startswith("cross_entropy"):
        t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
        td = dg.tensor(t)
        if op == "cross_entropy_fwd":
            fns = {"ours": lambda: F.cross_entropy(xd.detach(), td)}
        else:

            def ours():
                xd.grad = None
                F.cross_entropy(xd, td).backward()

            fns = {"ours": ours}
        if torch is not None:
            tx, tt = torch.tensor(x, requires_grad=True), torch.from_numpy(t)

            def theirs():
                if op == "cross_entropy_fwd":
                    with torch.no_grad():
                        torch.nn.functional.cross_entropy(tx, tt)
                    return
                tx.grad = None
                torch.nn.functional.cross_entropy(tx, tt).backward()

            fns["torch"] = theirs
        return fns
    gshape = shape[:1] + shape[2:] if op == "logsumexp" else shape
    gy = rng.standard_normal(gshape).astype(np.float32)
    dgy = dg.tensor(gy)
    ours_op = {
        "softmax": lambda a: F.softmax(a, dim=1),
        "log_softmax": lambda a: F.log_softmax(a, dim=1),
        "logsumexp": lambda a: a.logsumexp(1),
    }[op]

    def ours():
        xd.grad = None
        ours_op(xd).backward(dgy)

    fns = {"ours": ours}
    if torch is not None:
        tx, tgy = torch.tensor(x, requires_grad=True), torch.from_numpy(gy)
        their_op = {
            "softmax": lambda a: torch.softmax(a, 1),
            "log_softmax": lambda a: torch.log_softmax(a, 1),
            "logsumexp": lambda a: torch.logsumexp(a, 1),
        }[op]

        def theirs():
            tx.grad = None
            their_op(tx).backward(tgy)

        fns["torch"] = theirs
    return fns


def measure(op: str, name: str, nthreads: int, rounds: int = 10) -> dict[str, float]:
    with threads(nthreads):
        best = {k: v["best"] for k, v in interleaved(_fns(op, name), rounds=rounds).items()}
    res = {f"ms_{k}": s * 1e3 for k, s in best.items()}
    if "torch" in best:
        res["ratio_torch"] = best["torch"] / best["ours"]
    return res


if pytest is not None:

    @pytest.mark.parametrize("nthreads", THREADS, ids=[f"t{t}" for t in THREADS])
    @pytest.mark.parametrize("name", list(SHAPES))
    @pytest.mark.parametrize("op", OPS)
    def test_softmax_family_dim1(benchmark, op, name, nthreads):
        benchmark.extra_info.update(op=op, case=name, threads=nthreads, dtype="float32")
        if benchmark.enabled:
            benchmark.extra_info.update(measure(op, name, nthreads))
        fn = _fns(op, name)["ours"]
        with threads(nthreads):
            benchmark(fn)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", nargs="*", type=int, default=list(THREADS))
    p.add_argument("--case", nargs="*", default=list(SHAPES))
    p.add_argument("--op", nargs="*", default=list(OPS))
    p.add_argument("--isa", nargs="*", default=["default", "avx2"])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        out = {
            f"{o}/{n}/{t}": measure(o, n, t, args.rounds)
            for o in args.op
            for n in args.case
            for t in args.threads
        }
        print("JSON" + json.dumps(out))
        return
    print(
        f"deltagrad {dg.__version__}, torch {torch.__version__ if torch else 'absent'}; "
        f"float32 over dim 1, best of {args.rounds} interleaved rounds; torch / ours"
    )
    child = ["--rounds", str(args.rounds), "--threads", *map(str, args.threads)]
    child += ["--case", *args.case, "--op", *args.op]
    cols = [f"{n} t{t}" for n in args.case for t in args.threads]
    for isa, res in on_each_path(__file__, args.isa, child).items():
        print(f"\n{isa} path\n| op | " + " | ".join(cols) + " |")
        print("|---|" + "---|" * len(cols))
        for o in args.op:
            cells = [
                f"{res[f'{o}/{n}/{t}'].get('ratio_torch', 0):.2f}"
                for n in args.case
                for t in args.threads
            ]
            print(f"| {o} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
