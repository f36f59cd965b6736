"""Conv2d forward + backward (input, weight and bias gradients) vs torch CPU, float32, 3x3,
padding 1, on the issue-17 shapes, at 1 and 2 threads, timed interleaved in one process
(bench/_timing.py). GFLOP/s counts 3 x 2 x N x O x H x W x C x 9 (forward, dx, dw).

torch is measured twice: its default path (oneDNN for float32 convolutions) and with oneDNN
off (torch.backends.mkldnn.flags(enabled=False): ATen's own im2col + GEMM, "torch_ref").

    pytest bench/bench_conv.py -o addopts="" --benchmark-enable     # full, with ratios
    python bench/bench_conv.py [--rounds N] [--threads 1 2] [--isa default avx2]

--isa avx2 runs each measurement in a subprocess with deltagrad capped at AVX2 (DG_CPU_ISA=avx2)
and torch capped the same way (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2,
MKL_ENABLE_INSTRUCTIONS=AVX2, set before torch is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # would handicap the peers
    os.environ.pop(_v, None)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _timing import interleaved, threads  # noqa: E402

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

# name: (N, C, H, W, O)
SHAPES = {
    "n64c1_8x8_o16": (64, 1, 8, 8, 16),
    "n64c16_8x8_o32": (64, 16, 8, 8, 32),
    "n32c3_32x32_o32": (32, 3, 32, 32, 32),
    "n32c32_32x32_o64": (32, 32, 32, 32, 64),
    "n8c64_56x56_o64": (8, 64, 56, 56, 64),
    # beyond the issue's list: ResNet-18's later stages at batch 8 (round 16)
    "n8c128_28x28_o128": (8, 128, 28, 28, 128),
    "n8c256_14x14_o256": (8, 256, 14, 14, 256),
    "n8c512_7x7_o512": (8, 512, 7, 7, 512),
}
THREADS = (1, 2)
AVX2_ENV = {
    "DG_CPU_ISA": "avx2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def flops(name: str) -> float:
    n, c, h, w, o = SHAPES[name]
    return 3 * 2 * n * o * h * w * c * 9


def _data(name: str):
    """x, weight, bias and grad_output of a shape, float32, seeded: one setup for every mode."""
    n, c, h, w, o = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    gy = rng.standard_normal((n, o, h, w)).astype(np.float32)
    return x, wt, b, gy


def _fns(name: str):
    x, wt, b, gy = _data(name)
    dx, dw, db = (dg.tensor(a, requires_grad=True) for a in (x, wt, b))
    dgy = dg.tensor(gy)

    def ours():
        dx.grad = dw.grad = db.grad = None
        F.conv2d(dx, dw, db, 1, 1).backward(dgy)

    fns = {"ours": ours}
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
        tgy = torch.from_numpy(gy)

        def torch_default():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, 1, 1).backward(tgy)

        def torch_ref():
            # torch 2.13 warns about TF32 on entering the flags context; pytest makes it an error
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="TF32 acceleration")
                with torch.backends.mkldnn.flags(enabled=False):
                    torch_default()

        fns["torch"] = torch_default
        fns["torch_ref"] = torch_ref
    return fns


def measure(name: str, nthreads: int, rounds: int = 10) -> dict[str, float]:
    with threads(nthreads):
        best = {k: v["best"] for k, v in interleaved(_fns(name), rounds=rounds).items()}
    fl = flops(name)
    res = {f"gflops_{k}": fl / s / 1e9 for k, s in best.items()}
    for k in best:
        if k != "ours":
            res[f"ratio_{k}"] = best[k] / best["ours"]
    return res


if pytest is not None:

    @pytest.mark.parametrize("nthreads", THREADS, ids=[f"t{t}" for t in THREADS])
    @pytest.mark.parametrize("name", list(SHAPES))
    def test_conv2d_fwd_bwd(benchmark, name, nthreads):
        benchmark.extra_info.update(case=name, threads=nthreads, dtype="float32")
        if benchmark.enabled:
            benchmark.extra_info.update(measure(name, nthreads))
        fn = _fns(name)["ours"]
        with threads(nthreads):
            benchmark(fn)


def _phase_fns(name: str, algo: str = "auto"):
    """Each phase of ours alone (the _cpu kernels, no Python layer) next to the module end to
    end and torch's total."""
    from deltagrad import _cpu

    x, wt, b, gy = _data(name)
    fns = {
        "fwd": lambda: _cpu.conv2d_forward(x, wt, b, 1, 1, 1, 1, algo),
        "dx": lambda: _cpu.conv2d_backward(gy, x, wt, 1, 1, 1, 1, True, False, False, algo),
        "dw": lambda: _cpu.conv2d_backward(gy, x, wt, 1, 1, 1, 1, False, True, False, algo),
        "db": lambda: _cpu.conv2d_backward(gy, x, wt, 1, 1, 1, 1, False, False, True, algo),
        "bwd": lambda: _cpu.conv2d_backward(gy, x, wt, 1, 1, 1, 1, True, True, True, algo),
    }
    full = _fns(name)
    fns["module"] = full["ours"]
    if "torch" in full:
        fns["torch"] = full["torch"]
    return fns


def _cpu_time_best(fns: dict, rounds: int, nthreads: int, reps: int = 5) -> dict[str, float]:
    """Best per-call process CPU time / nthreads of each function, interleaved by round: time a
    process spends descheduled does not count, so on a loaded machine it is far steadier than
    the wall clock (cache pollution by the other processes still counts). Meaningful at one
    thread only: OpenMP's idle workers spin, and their spinning counts as CPU time."""
    import time

    best = dict.fromkeys(fns, float("inf"))
    for f in fns.values():  # warm-up: scratch buffers, page faults
        f()
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.process_time()
            for _ in range(reps):
                f()
            best[k] = min(best[k], (time.process_time() - t0) / reps / nthreads)
    return best


def phases(name: str, nthreads: int, rounds: int = 8, cpu_time: bool = False) -> dict[str, float]:
    """Best time (ms) of each phase, its GFLOP/s (2 N O H W C 9 for fwd, dx and dw; the total
    for module, bwd and torch) and the share of torch's total it takes. cpu_time: process CPU
    time / threads instead of the wall clock (_cpu_time_best)."""
    with threads(nthreads):
        if cpu_time:
            best = _cpu_time_best(_phase_fns(name), rounds, nthreads)
        else:
            best = {k: v["best"] for k, v in interleaved(_phase_fns(name), rounds=rounds).items()}
    one = flops(name) / 3
    res = {}
    for k, s in best.items():
        fl = {"fwd": one, "dx": one, "dw": one, "bwd": 2 * one, "module": 3 * one}.get(k)
        fl = 3 * one if k == "torch" else fl
        res[f"ms_{k}"] = s * 1e3
        if fl:
            res[f"gflops_{k}"] = fl / s / 1e9
    return res


def _child(names, nthreads, rounds, mode="ratio", cpu_time=False):
    if mode == "phases":
        out = {f"{n}/{t}": phases(n, t, rounds, cpu_time) for n in names for t in nthreads}
        print("JSON" + json.dumps(out))
        return

    out = {f"{n}/{t}": measure(n, t, rounds) for n in names for t in nthreads}
    print("JSON" + json.dumps(out))


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", nargs="*", type=int, default=list(THREADS))
    p.add_argument("--case", nargs="*", default=list(SHAPES))
    p.add_argument("--isa", nargs="*", default=["default", "avx2"])
    p.add_argument(
        "--phases",
        action="store_true",
        help="time each phase of ours alone (forward, dx, dw, db, the whole backward, the "
        "module end to end) next to torch's total",
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="with --phases and --threads 1: time by process CPU time, not the wall clock "
        "(steadier while other processes load the machine)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.cpu_time and not args.phases:
        p.error("--cpu-time needs --phases")
    if args.cpu_time and any(t != 1 for t in args.threads):
        # the worker threads of OpenMP (ours and torch's) spin between parallel regions: their
        # CPU time is not work, and process CPU time then overstates every multi-thread phase
        p.error("--cpu-time measures 1 thread only (--threads 1)")
    if args.child:
        mode = "phases" if args.phases else "ratio"
        _child(args.case, args.threads, args.rounds, mode, args.cpu_time)
        return
    print(
        f"deltagrad {dg.__version__}, torch {torch.__version__ if torch else 'absent'}; "
        f"float32, forward + backward (dx, dw, db), best of {args.rounds} interleaved rounds"
    )
    for isa in args.isa:
        env = dict(os.environ)
        if isa == "avx2":
            env.update(AVX2_ENV)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--rounds", str(args.rounds)]
        cmd += ["--threads", *map(str, args.threads), "--case", *args.case]
        cmd += ["--phases"] if args.phases else []
        cmd += ["--cpu-time"] if args.cpu_time else []
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        res = json.loads(r.stdout.split("JSON", 1)[1])
        print(f"\n{isa} path")
        if args.phases:
            ks = ("fwd", "dx", "dw", "db", "bwd", "module", "torch")
            print("| shape | thr | " + " | ".join(f"{k} ms (GF/s)" for k in ks) + " |")
            print("|---|---|" + "---|" * len(ks))
            for n in args.case:
                for t in args.threads:
                    v = res[f"{n}/{t}"]
                    cells = [
                        f"{v[f'ms_{k}']:.3f}"
                        + (f" ({v[f'gflops_{k}']:.0f})" if f"gflops_{k}" in v else "")
                        for k in ks
                        if f"ms_{k}" in v
                    ]
                    print(f"| {n} | {t} | " + " | ".join(cells) + " |")
            continue
        print(
            "| shape | thr | ours GF/s | torch (oneDNN) GF/s | torch no-oneDNN GF/s "
            "| ours/torch | ours/torch no-oneDNN |"
        )
        print("|---|---|---|---|---|---|---|")
        for n in args.case:
            for t in args.threads:
                v = res[f"{n}/{t}"]
                print(
                    f"| {n} | {t} | {v['gflops_ours']:.1f} | {v.get('gflops_torch', 0):.1f} "
                    f"| {v.get('gflops_torch_ref', 0):.1f} | {v.get('ratio_torch', 0):.2f} "
                    f"| {v.get('ratio_torch_ref', 0):.2f} |"
                )


if __name__ == "__main__":
    main()
