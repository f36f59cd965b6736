"""matmul throughput: deltagrad's packed GEMM vs numpy.matmul (OpenBLAS) and torch.mm.

The bmm* cases are batched (a strided-batched GEMM, one call): against numpy.matmul and
torch.matmul on the same batches, and against a Python loop over the batch calling
dg.ops.matmul once per product ("loop").

Each case times ours and the peers interleaved (bench/_timing.py) at 1 and 2 threads and stores
GFLOP/s and the ratios in benchmark.extra_info; then pytest-benchmark times ours.

    pytest bench/bench_matmul.py -o addopts="" --benchmark-enable      # full, with ratios
    pytest bench -o addopts="" --benchmark-disable                     # CI smoke: each case once
    python bench/bench_matmul.py [--rounds N] [--repeat R] [--dtype float32|float64]
                                 [--case NAME ...] [--threads 1 2] [--isolated]
                                 [--path avx512|avx2|both]

--path avx2 measures the AVX2 path on an AVX-512 machine, fairly: a process with
deltagrad.benchmark.path_env("avx2") (DG_CPU_ISA=avx2, OPENBLAS_CORETYPE=Haswell, torch held to
AVX2), checked (the header line says what each library ran). `both` runs one process per path.
For pytest: DG_BENCH_PATH=avx2 pytest bench ... (bench/conftest.py sets the variables).
"""

from __future__ import annotations

import os
import sys

# OpenBLAS reads these when it loads; a forced core type or L2 size would handicap the peer
# (unless this process measures the AVX2 path: DG_BENCH_PATH=avx2, OPENBLAS_CORETYPE=Haswell).
_OPENBLAS_OVERRIDES = [
    v
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    if v in os.environ
    and not (v == "OPENBLAS_CORETYPE" and os.environ.get("DG_BENCH_PATH") == "avx2")
]
if _OPENBLAS_OVERRIDES and __name__ == "__main__":
    for _v in _OPENBLAS_OVERRIDES:
        del os.environ[_v]
    os.execv(sys.executable, [sys.executable, *sys.argv])  # restart with a clean environment
for _v in _OPENBLAS_OVERRIDES:
    os.environ.pop(_v, None)
_NUMPY_LOADED_WITH_OVERRIDES = bool(_OPENBLAS_OVERRIDES) and "numpy" in sys.modules

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _timing import interleaved, threads  # noqa: E402

import deltagrad as dg  # noqa: E402

try:
    import pytest
except ImportError:  # script mode without pytest
    pytest = None

try:
    import torch
except ImportError:
    torch = None

# name: (m, n, k, trans_a, trans_b, description). Shapes of the stored operands follow the flags.
CASES = {
    "square64": (64, 64, 64, False, False, "64^3"),
    "square256": (256, 256, 256, False, False, "256^3"),
    "square1024": (1024, 1024, 1024, False, False, "1024^3"),
    "square2048": (2048, 2048, 2048, False, False, "2048^3"),
    "mlp_fwd": (256, 512, 784, False, True, "x @ W.T: x 256x784, W 512x784"),
    "mlp_out": (256, 10, 512, False, True, "x @ W.T: x 256x512, W 10x512"),
    "mlp_dW": (512, 784, 256, True, False, "dY.T @ X: dY 256x512, X 256x784"),
    "mlp_dX": (256, 784, 512, False, False, "dY @ W: dY 256x512, W 512x784"),
    "tall4096": (4096, 1024, 1024, False, False, "4096x1024 @ 1024x1024"),
    "row_x_W": (1, 4096, 4096, False, False, "one sample x @ W: 1x4096 @ 4096x4096"),
    "mlp_dX_b1": (1, 784, 512, False, False, "dY @ W at batch 1: 1x512 @ 512x784"),
    "mlp_dX_b8": (8, 784, 512, False, False, "dY @ W at batch 8: 8x512 @ 512x784"),
    # batched: (..., (batch of a, batch of b))
    "bmm64": (64, 64, 64, False, False, "64 x (64^3)", ((64,), (64,))),
    "bmm256": (256, 256, 256, False, False, "8 x (256^3)", ((8,), (8,))),
    "bmm_bcast": (64, 128, 128, False, True, "x (32,64,128) @ W.T, W 128x128", ((32,), ())),
}
THREADS = (1, 2)


def _batch(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    case = CASES[name]
    return case[6] if len(case) > 6 else ((), ())


def _dims(name: str) -> str:
    m, n, k = CASES[name][:3]
    ba, bb = _batch(name)
    batch = max(ba, bb, key=len)
    return "x".join(str(d) for d in (*batch, m, n, k))


def make_case(name: str, dtype=np.float32):
    """The operands and the callables (ours, numpy, torch or None; a Python loop over the
    batch for the batched cases) for one case."""
    m, n, k, ta, tb = CASES[name][:5]
    ba, bb = _batch(name)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((*ba, *((k, m) if ta else (m, k)))).astype(dtype)
    b = rng.standard_normal((*bb, *((n, k) if tb else (k, n)))).astype(dtype)
    a_op = a.swapaxes(-1, -2) if ta else a
    b_op = b.swapaxes(-1, -2) if tb else b

    def ours():
        return dg.ops.matmul(a, b, trans_a=ta, trans_b=tb)

    def numpy_mm():
        return np.matmul(a_op, b_op)

    fns = {"ours": ours, "numpy": numpy_mm}
    batch = max(ba, bb, key=len)
    if batch:
        count = int(np.prod(batch))
        a3 = a.reshape(-1, *a.shape[-2:])
        b3 = b.reshape(-1, *b.shape[-2:])
        mm = dg.ops.matmul

        def loop():  # one dg.ops.matmul per product, from Python
            out = np.empty((count, m, n), dtype)
            for i in range(count):
                mm(a3[i % len(a3)], b3[i % len(b3)], trans_a=ta, trans_b=tb, out=out[i])
            return out

        fns["loop"] = loop
    if torch is not None:
        ta_t, tb_t = torch.from_numpy(a), torch.from_numpy(b)
        ta_op = ta_t.transpose(-1, -2) if ta else ta_t
        tb_op = tb_t.transpose(-1, -2) if tb else tb_t

        def torch_mm():
            return torch.matmul(ta_op, tb_op)

        fns["torch"] = torch_mm
    return fns, 2.0 * m * n * k * float(np.prod(max(ba, bb, key=len)))


def measure(
    name: str,
    nthreads: int,
    rounds: int = 15,
    dtype=np.float32,
    repeat: int = 1,
    min_time: float | None = None,
    settle: float | None = None,
) -> dict[str, float]:
    """GFLOP/s (best interleaved round) of each side and the ratios ours/peer.

    repeat > 1 runs the interleaved measurement that many times and keeps each side's best
    (more chances for a quiet moment on a shared machine: interference only slows down)."""
    fns, flops = make_case(name, dtype)
    if min_time is None:
        min_time = 0.01 if flops < 1e8 else 0.03
    extra = {} if settle is None else {"settle": settle}
    best = {side: float("inf") for side in fns}
    median = {side: float("inf") for side in fns}
    with threads(nthreads):
        for _ in range(repeat):
            t = interleaved(fns, rounds=rounds, min_time=min_time, **extra)
            for side in fns:
                best[side] = min(best[side], t[side]["best"])
                median[side] = min(median[side], t[side]["median"])
    res = {f"gflops_{side}": flops / best[side] / 1e9 for side in fns}
    res.update({f"median_gflops_{side}": flops / median[side] / 1e9 for side in fns})
    res["ratio_numpy"] = best["numpy"] / best["ours"]
    if "torch" in fns:
        res["ratio_torch"] = best["torch"] / best["ours"]
    if "loop" in fns:
        res["ratio_loop"] = best["loop"] / best["ours"]
    return res


if pytest is not None:

    @pytest.mark.parametrize("nthreads", THREADS, ids=[f"t{t}" for t in THREADS])
    @pytest.mark.parametrize("name", list(CASES))
    def test_matmul_f32(benchmark, name, nthreads):
        fns, flops = make_case(name)
        benchmark.group = f"matmul-{name}"
        benchmark.extra_info.update(
            case=name, shape=CASES[name][5], threads=nthreads, dtype="float32", flops=flops
        )
        if _NUMPY_LOADED_WITH_OVERRIDES:
            benchmark.extra_info["warning"] = (
                f"numpy was imported with {_OPENBLAS_OVERRIDES} set; unset them before running"
            )
        if not benchmark.disabled:  # the interleaved ratio is for real runs, not the CI smoke
            from deltagrad.benchmark import path_facts

            benchmark.extra_info["path_facts"] = path_facts(os.environ.get("DG_BENCH_PATH"))
            benchmark.extra_info.update(measure(name, nthreads))
        with threads(nthreads):
            benchmark(fns["ours"])


def _isolated_worker(
    side: str, names: list[str], nthreads: list[int], dtype_name: str, calls: int
) -> None:
    """Subprocess body for --isolated: best-of-`calls` GFLOP/s of one library, as JSON."""
    import json
    import time

    out = {}
    for name in names:
        fns, flops = make_case(name, np.dtype(dtype_name).type)
        if side not in fns:
            continue
        fn = fns[side]
        for nt in nthreads:
            with threads(nt):
                fn()
                reps = max(1, int(2e7 / flops))
                best = float("inf")
                for _ in range(calls):
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        fn()
                    best = min(best, (time.perf_counter() - t0) / reps)
            out[f"{name}/{nt}"] = flops / best / 1e9
    print(json.dumps(out))


def isolated(names, nthreads, dtype_name, passes=2, calls=40) -> dict[str, dict[str, float]]:
    """Each library alone in its own process (ours, numpy, torch, ours, ...), best per side.

    Interleaving in one process lets one library's idle-spinning worker threads (OpenBLAS spins
    for a long time after a call) steal the core the next library's second thread needs; on a
    2-core machine that can stall every barrier of a 2-thread run. This mode avoids that."""
    import json
    import subprocess

    sides = ["ours", "numpy", "loop"] + (["torch"] if torch is not None else [])
    best: dict[str, dict[str, float]] = {side: {} for side in sides}
    for _ in range(passes):
        for side in sides:
            here = os.path.dirname(os.path.abspath(__file__))
            code = (
                f"import sys; sys.path.insert(0, {here!r}); import bench_matmul as b; "
                f"b._isolated_worker({side!r}, {list(names)!r}, {list(nthreads)!r}, "
                f"{dtype_name!r}, {calls:d})"
            )
            res = json.loads(
                subprocess.run(
                    [sys.executable, "-c", code], check=True, capture_output=True, text=True
                ).stdout
            )
            for key, g in res.items():
                best[side][key] = max(best[side].get(key, 0.0), g)
    return best


def main(argv: list[str] | None = None) -> int:
    import argparse
    import platform

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--case", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--threads", nargs="*", type=int, default=list(THREADS))
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="repeat each interleaved measurement, keeping each side's best",
    )
    p.add_argument(
        "--isolated",
        action="store_true",
        help="time each library alone in its own process instead of interleaved",
    )
    p.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="seconds per round (default 0.01, 0.03 above 1e8 flops); short rounds are more "
        "often undisturbed on a loaded machine",
    )
    p.add_argument(
        "--settle", type=float, default=None, help="idle seconds before each side's round"
    )
    p.add_argument(
        "--path",
        choices=["avx512", "avx2", "both"],
        default=None,
        help="the ISA path (a process per path with its variables; default: this process's)",
    )
    args = p.parse_args(argv)
    own = os.environ.get("DG_BENCH_PATH")
    if args.path is not None and args.path != own:
        import subprocess

        from deltagrad.benchmark import path_env

        rest = list(sys.argv[1:] if argv is None else argv)
        if "--path" in rest:
            i = rest.index("--path")
            del rest[i : i + 2]
        rc = 0
        for path in ["avx512", "avx2"] if args.path == "both" else [args.path]:
            rc |= subprocess.run(
                [sys.executable, os.path.abspath(__file__), *rest], env=path_env(path), check=False
            ).returncode
        return rc
    dtype = np.dtype(args.dtype).type
    iso = (
        isolated(args.case, args.threads, args.dtype, passes=args.repeat) if args.isolated else None
    )

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from deltagrad.benchmark import path_facts

    pf = path_facts(own)
    print(
        f"# path {own or 'as the environment is'}: deltagrad {pf['deltagrad_isa']}, OpenBLAS "
        f"core {pf['openblas_core']}, torch capability {pf['torch_cpu_capability']}; "
        f"caches {dg.info()['cache_sizes']}" + "".join(f"\n# WARNING: {w}" for w in pf["problems"])
    )
    print(
        f"# {cpu}; deltagrad {dg.__version__} isa={dg.info()['cpu_isa']}; numpy {np.__version__}"
        + (f"; torch {torch.__version__}" if torch is not None else "")
        + f"; {args.dtype}; "
        + (
            f"each library alone in its own process, best of {args.repeat} passes"
            if iso
            else f"best of {args.rounds} interleaved rounds x {args.repeat}"
        )
    )
    head = (
        f"| {'case':<11} | {'(b x) m x n x k':<15} | thr | ours GF/s | numpy GF/s | torch GF/s "
        f"| ours/numpy | ours/torch | ours/loop |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name in args.case:
        for nt in args.threads:
            if iso:
                key = f"{name}/{nt}"
                r = {f"gflops_{side}": iso[side][key] for side in iso if key in iso[side]}
                r["ratio_numpy"] = r["gflops_ours"] / r["gflops_numpy"]
                if "gflops_torch" in r:
                    r["ratio_torch"] = r["gflops_ours"] / r["gflops_torch"]
                if "gflops_loop" in r:
                    r["ratio_loop"] = r["gflops_ours"] / r["gflops_loop"]
            else:
                r = measure(name, nt, args.rounds, dtype, args.repeat, args.min_time, args.settle)
            tg = r.get("gflops_torch", float("nan"))
            tr = r.get("ratio_torch", float("nan"))
            lr = f"{r['ratio_loop']:>8.2f}x" if "ratio_loop" in r else f"{'-':>9}"
            print(
                f"| {name:<11} | {_dims(name):<15} | {nt:>3} | {r['gflops_ours']:>9.1f} | "
                f"{r['gflops_numpy']:>10.1f} | {tg:>10.1f} | {r['ratio_numpy']:>9.2f}x | "
                f"{tr:>9.2f}x | {lr} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
