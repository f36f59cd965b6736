"""In-process A/B of GEMM variants and per-call time distributions (gemm6, round 6).

    python bench/gemm_ab.py huge --case square1024:2 square256:2 --rounds 20 --calls 10
    python bench/gemm_ab.py dyn --case square256:2 tall4096:2 --rounds 20 --calls 10
    python bench/gemm_ab.py dist --case square256:2 --calls 400

`dyn`: gemm6's dynamic row chunks (_cpu._set_gemm_dynamic(True), off by default) against the
fixed row split (False, main's code), the same way.
`huge`: the packing scratch with transparent huge pages from 1 MiB (gemm5's default) against
none (_cpu._set_gemm_huge_from(0)), alternating per round (A B B A ...); each round starts with
one untimed call (it reallocates the scratch), then times `calls` calls one by one. Prints, per
variant, best / median / p90 per call and the ratio of medians.
`dist`: per-call times of ours and numpy.matmul (blocks of `calls`, alternating, 0.2 s settle
before each block): best / median / p90 of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _timing import threads  # noqa: E402

import deltagrad as dg  # noqa: E402
from deltagrad import _cpu  # noqa: E402

SHAPES = {
    "square256": (256, 256, 256),
    "square1024": (1024, 1024, 1024),
    "square2048": (2048, 2048, 2048),
    "tall4096": (4096, 1024, 1024),
    "mlp_dW": (512, 784, 256),
    "mlp_dX": (256, 784, 512),
}


def _stats(ts: list[float]) -> tuple[float, float, float, float]:
    s = sorted(ts)
    return s[0], s[len(s) // 10], s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.9))]


def _operands(name: str):
    m, n, k = SHAPES[name]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), np.float32)
    return a, b, c, 2.0 * m * n * k


def _timed(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _setters(mode: str) -> dict[str, object]:
    if mode == "huge":
        return {
            "huge1M": lambda: _cpu._set_gemm_huge_from(1 << 20),
            "nohuge": lambda: _cpu._set_gemm_huge_from(0),
        }
    return {  # "dyn"
        "dynamic": lambda: _cpu._set_gemm_dynamic(True),
        "static": lambda: _cpu._set_gemm_dynamic(False),
    }


def ab(mode: str, name: str, nt: int, rounds: int, calls: int) -> None:
    a, b, c, flops = _operands(name)
    variants = _setters(mode)
    samples: dict[str, list[float]] = {v: [] for v in variants}
    old_huge, old_dyn = _cpu._set_gemm_huge_from(1 << 20), _cpu._set_gemm_dynamic(True)
    _cpu._set_gemm_huge_from(old_huge)  # (DG_GEMM_HUGE_FROM / DG_GEMM_DYNAMIC hold the other)
    _cpu._set_gemm_dynamic(old_dyn)
    try:
        with threads(nt):
            for r in range(rounds):
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for v in order:
                    variants[v]()
                    _cpu.matmul(a, b, False, False, 1.0, 0.0, c)  # (re)allocates the scratch
                    samples[v] += _timed(
                        lambda: _cpu.matmul(a, b, False, False, 1.0, 0.0, c), calls
                    )
    finally:
        _cpu._set_gemm_huge_from(old_huge)
        _cpu._set_gemm_dynamic(old_dyn)
    med = {}
    for v, ts in samples.items():
        best, p10, median, p90 = _stats(ts)
        med[v] = median
        print(
            f"{name} {nt}t {v:7s} best {best * 1e3:8.3f} ms ({flops / best / 1e9:6.1f} GF/s)"
            f"  p10 {p10 * 1e3:8.3f}  median {median * 1e3:8.3f}  p90 {p90 * 1e3:8.3f}"
            f"  n={len(ts)}"
        )
    x, y = list(variants)
    print(f"{name} {nt}t median time {y}/{x} {med[y] / med[x]:.3f}")


def dist(name: str, nt: int, rounds: int, calls: int) -> None:
    a, b, c, flops = _operands(name)
    fns = {
        "ours": lambda: _cpu.matmul(a, b, False, False, 1.0, 0.0, c),
        "numpy": lambda: np.matmul(a, b, out=c),
    }
    samples: dict[str, list[float]] = {v: [] for v in fns}
    with threads(nt):
        for r in range(rounds):
            for v in fns if r % 2 == 0 else reversed(fns):
                time.sleep(0.2)
                fns[v]()
                samples[v] += _timed(fns[v], calls)
    for v, ts in samples.items():
        best, p10, median, p90 = _stats(ts)
        print(
            f"{name} {nt}t {v:6s} best {best * 1e3:8.3f} ms ({flops / best / 1e9:6.1f} GF/s)"
            f"  p10 {p10 * 1e3:8.3f}"
            f"  median {median * 1e3:8.3f} ({flops / median / 1e9:6.1f})  p90 {p90 * 1e3:8.3f}"
            f"  n={len(ts)}"
        )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["huge", "dyn", "dist"])
    p.add_argument("--case", nargs="+", default=["square1024:2"])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=10)
    args = p.parse_args()
    print(f"isa {dg.cpu_isa() if hasattr(dg, 'cpu_isa') else '?'}", flush=True)
    for spec in args.case:
        name, nt = spec.split(":")
        if args.mode == "dist":
            dist(name, int(nt), args.rounds, args.calls)
        else:
            ab(args.mode, name, int(nt), args.rounds, args.calls)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
