"""What `deltagrad bench` measures: GEMM GFLOP/s, activation GB/s and MLP training throughput,
each against a peer run in the same process (NumPy/OpenBLAS, PyTorch when installed).

Method (shared with the pytest-benchmark suites in bench/, which import it from here): the
functions being compared alternate A B A B ... for a number of rounds, each round long enough
to time (>= min_time) and started once the other side's thread pool has parked, and each side
keeps its *best* round — interference on a shared machine only ever slows a round down, so the
best round is the least disturbed one.

Reference lines:
- GEMM "measured peak": the best float32 GEMM rate of NumPy's BLAS or PyTorch at a large,
  compute-bound size (n = 1024 with --quick, else 2048), timed the same way. It is an
  attainable GEMM rate measured on this machine, not a datasheet number; the nominal peak is
  reported next to it: the rate of independent FMA chains in registers on the same threads
  (_cpu.measure_fma_peak, the best of many ~50 us slices), not a clock reading.
- Activation "copy bandwidth": a plain array copy (np.copyto) of the same size, i.e. read +
  write of the same bytes as an elementwise op.

Paths: on a CPU with AVX-512 both instruction-set paths are measured, each in its own process
(the libraries read their settings when they load): "avx512", each library's own choice, and
"avx2", every library held to AVX2 (PATH_ENV: DG_CPU_ISA=avx2 for deltagrad,
OPENBLAS_CORETYPE=Haswell for NumPy's OpenBLAS, ATEN_CPU_CAPABILITY=avx2,
MKL_ENABLE_INSTRUCTIONS=AVX2 and ONEDNN_MAX_CPU_ISA=AVX2 for torch), each checked to take
effect (path_facts: deltagrad's ISA, OpenBLAS's core type, torch's CPU capability) and
reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import _report
from ._report import table

__all__ = [
    "interleaved",
    "threads",
    "run_benchmarks",
    "nominal_peak_gflops",
    "SETTLE_SECONDS",
    "PATH_ENV",
    "path_env",
    "path_facts",
    "available_paths",
]


# --------------------------------------------------------------------------- timing method


def _calibrate(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one round last at least min_time seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 20:
            return n
        n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.2))


# After a call, OpenBLAS keeps its worker threads spinning for about 100 ms (its THREAD_TIMEOUT,
# 2^28 cycles); on a 2-core machine they take a core from whichever library runs next and halve
# its 2-thread speed (measured: ours 340 -> 150-220 GFLOP/s at 1024^3 for the first ~100 ms
# after numpy.matmul; numpy after ours loses only its first call, libgomp parks within ~1 ms).
# Each side's round therefore starts after `settle` seconds, when every pool has parked, and
# one untimed call of that side: waking a parked pool's threads on this VM took 1-12 ms at
# times (a 2-thread 256x784x512 product: 1.1-5.6 ms first call, 0.8 ms steady), which would
# make a short round measure the wake-up instead of the kernel. Both sides get the same call.
# (deltagrad's own wake-up fell to ~0.4 ms in round 19, when its workers were pinned off the
# calling thread's CPU: csrc/common/threads.h, place_team; torch's stays ~11 ms.)
SETTLE_SECONDS = 0.2


def interleaved(
    fns: dict[str, Callable[[], object]],
    rounds: int = 15,
    min_time: float = 0.02,
    settle: float = SETTLE_SECONDS,
) -> dict[str, dict[str, float]]:
    """Seconds per call of each function: {'name': {'best': s, 'median': s}}.

    Rounds alternate the order of the functions so neither side always runs first; before each
    side's round the machine is left idle for `settle` seconds (see SETTLE_SECONDS).
    """
    for fn in fns.values():  # warm up caches, thread pools, packing buffers
        fn()
    reps = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            fn, n = fns[name], reps[name]
            # a lone function settles before its first round only: that round follows whatever
            # ran before this call (the previous case's peers), the later ones follow itself
            if settle > 0 and (len(fns) > 1 or r == 0):
                time.sleep(settle)
                fn()  # untimed: wakes this side's own pool (see SETTLE_SECONDS)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    out = {}
    for name, s in samples.items():
        s = sorted(s)
        out[name] = {"best": s[0], "median": s[len(s) // 2]}
    return out


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run deltagrad, NumPy's BLAS and torch (when installed) on n threads."""
    import deltagrad as dg

    old = dg.get_num_threads()
    dg.set_num_threads(n)
    limits: Any = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=n)
    except ImportError:
        _warn_unlimited_blas()
    torch_old = None
    torch = _torch()
    if torch is not None:
        torch_old = torch.get_num_threads()
        torch.set_num_threads(n)
    try:
        with limits:
            yield
    finally:
        dg.set_num_threads(old)
        if torch is not None and torch_old is not None:
            torch.set_num_threads(torch_old)


_warned_unlimited = False


def _warn_unlimited_blas() -> None:
    """Without threadpoolctl NumPy's BLAS keeps its own thread count: its column at n threads
    would silently measure all of them (a 1-thread ratio of 0.5 on 2 cores). Say so once."""
    global _warned_unlimited
    if not _warned_unlimited:
        _warned_unlimited = True
        import warnings

        warnings.warn(
            "threadpoolctl is not installed: NumPy's BLAS is not held to the benchmark's thread "
            "count, so its rows compare against all of its threads "
            "(it comes with the bench extra)",
            RuntimeWarning,
            stacklevel=3,
        )


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


# --------------------------------------------------------------------------- machine facts


def _cpu_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


def nominal_peak_gflops(isa: str, n_threads: int, seconds: float = 0.3) -> float | None:
    """The float32 FMA peak of `isa`'s vectors on n_threads threads, measured: independent FMA
    chains in registers (_cpu.measure_fma_peak, each thread's best ~50 us slice over `seconds`),
    so it reflects the clock the cores actually run at, turbo and AVX-512 offsets included.
    None for an ISA this CPU lacks."""
    from . import _cpu

    try:
        return float(_cpu.measure_fma_peak(isa, seconds, max(1, n_threads)))
    except ValueError:
        return None


# --------------------------------------------------------------------------- ISA paths

# The environment of each instruction-set path, set before the libraries load (a subprocess per
# path). "avx512": every library's own choice (the best the CPU has). "avx2": all held to AVX2.
PATH_ENV: dict[str, dict[str, str]] = {
    "avx512": {},
    "avx2": {
        "DG_CPU_ISA": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
}
# Every variable a path sets or clears (OPENBLAS_L2_SIZE would handicap NumPy on any path).
_PATH_VARS = ("OPENBLAS_L2_SIZE", *PATH_ENV["avx2"])


def path_env(path: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process measuring `path` ('avx512' or 'avx2'): `base` (default
    os.environ) without any of the path variables, plus the path's own and DG_BENCH_PATH."""
    if path not in PATH_ENV:
        raise ValueError(f"path_env: path: expected one of {sorted(PATH_ENV)}, got {path!r}")
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _PATH_VARS}
    env.update(PATH_ENV[path])
    env["DG_BENCH_PATH"] = path
    return env


def available_paths() -> list[str]:
    """The paths this CPU can run: both on AVX-512, 'avx2' alone on AVX2, none below."""
    from . import _cpu

    return {"avx512": ["avx512", "avx2"], "avx2": ["avx2"]}.get(_cpu.detected_isa(), [])


def _openblas_core() -> str | None:
    """The core type NumPy's OpenBLAS runs (its `openblas_get_corename`), via threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas":
            return lib.get("architecture")
    return None


def path_facts(path: str | None = None) -> dict[str, Any]:
    """What each library of this process actually runs, and, for `path`, which of them is not
    held to it (`problems`: empty when every check passed). MKL's and oneDNN's caps cannot be
    read back: their variables are reported as set."""
    import deltagrad as dg

    torch = _torch()
    facts: dict[str, Any] = {
        "deltagrad_isa": dg.info()["cpu_isa"],
        "openblas_core": _openblas_core(),
        "torch_cpu_capability": (
            torch.backends.cpu.get_cpu_capability() if torch is not None else None
        ),
        "env": {v: os.environ[v] for v in _PATH_VARS if v in os.environ},
    }
    problems = []
    if path == "avx2":
        if facts["deltagrad_isa"] != "avx2":
            problems.append(f"deltagrad runs {facts['deltagrad_isa']}, not avx2")
        core = facts["openblas_core"]
        if core is not None and core.lower() not in ("haswell", "zen"):
            problems.append(f"OpenBLAS runs the {core} kernels, not Haswell")
        cap = facts["torch_cpu_capability"]
        if cap is not None and cap.upper() != "AVX2":
            problems.append(f"torch's CPU capability is {cap}, not AVX2")
    facts["problems"] = problems
    return facts


def _path_worker() -> None:
    """Subprocess body: run_benchmarks(**json from stdin) on this process's path, JSON out."""
    kwargs = json.loads(sys.stdin.read())
    res = run_benchmarks(**kwargs)
    sys.stdout.write(json.dumps(res))


def _run_path(path: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """run_benchmarks in a fresh process on `path` (the libraries read its variables at load)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = path_env(path)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-c", "from deltagrad.benchmark import _path_worker; _path_worker()"],
        input=json.dumps({**kwargs, "paths": [path], "progress": False}),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench: the {path} path failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- benchmarks


def bench_gemm(
    sizes: list[int], rounds: int, min_time: float, tick: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Square float32 C = A @ B for each n: GFLOP/s = 2 n^3 / best time."""
    from . import ops

    torch = _torch()
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        tick(f"gemm n={n}")
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), np.float32)
        fns: dict[str, Callable[[], object]] = {
            "deltagrad": lambda a=a, b=b, out=out: ops.matmul(a, b, out=out),
            "numpy": lambda a=a, b=b, out=out: np.matmul(a, b, out=out),
        }
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(n, n)
            fns["torch"] = lambda ta=ta, tb=tb, tc=tc: torch.mm(ta, tb, out=tc)
        t = interleaved(fns, rounds=rounds, min_time=min_time)
        rows.append({"n": n, **{f"{k}_gflops": 2.0 * n**3 / v["best"] / 1e9 for k, v in t.items()}})
    return rows


def bench_activations(
    n_elems: int, acts: list[str], rounds: int, min_time: float, tick: Callable[[str], None]
) -> dict[str, Any]:
    """y = act(x) over n_elems float32: GB/s = (bytes read + bytes written) / best time,
    against np.copyto of the same array (the copy bandwidth) and NumPy's own expression."""
    from . import ops

    rng = np.random.default_rng(1)
    x = rng.standard_normal(n_elems, dtype=np.float32)
    y = np.empty_like(x)
    moved = 2 * x.nbytes
    tick("copy bandwidth")
    copy = interleaved({"copy": lambda: np.copyto(y, x)}, rounds=rounds, min_time=min_time)
    numpy_version = {
        "relu": lambda: np.maximum(x, 0, out=y),
        "sigmoid": lambda: np.divide(1.0, 1.0 + np.exp(-x), out=y),
        "tanh": lambda: np.tanh(x, out=y),
    }
    rows = []
    for act in acts:
        tick(f"activation {act}")
        fns: dict[str, Callable[[], object]] = {
            "deltagrad": lambda act=act: ops.activation(x, act, out=y)
        }
        if act in numpy_version:
            fns["numpy"] = numpy_version[act]
        t = interleaved(fns, rounds=rounds, min_time=min_time)
        rows.append({"act": act, **{f"{k}_gbs": moved / v["best"] / 1e9 for k, v in t.items()}})
    return {"n_elems": n_elems, "copy_gbs": moved / copy["copy"]["best"] / 1e9, "rows": rows}


def bench_mlp(
    sizes: list[int], batch: int, rounds: int, min_time: float, tick: Callable[[str], None]
) -> dict[str, Any]:
    """One Adam training step (forward, cross-entropy, backward, update) of an MLP with ReLU,
    float32: samples/s = batch / best step time, deltagrad against torch."""
    from . import functional as F
    from . import nn, optim
    from .tensor import Tensor

    tick("mlp step")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = nn.MLP(sizes)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xt = Tensor(X)

    def dg_step() -> None:
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()

    fns: dict[str, Callable[[], object]] = {"deltagrad": dg_step}
    torch = _torch()
    if torch is not None:
        layers: list[Any] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        tmodel = torch.nn.Sequential(*layers)
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        tx, ty = torch.from_numpy(X), torch.from_numpy(y)

        def torch_step() -> None:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()

        fns["torch"] = torch_step
    t = interleaved(fns, rounds=rounds, min_time=min_time)
    return {
        "sizes": sizes,
        "batch": batch,
        **{f"{k}_samples_per_s": batch / v["best"] for k, v in t.items()},
    }


def bench_peak(n: int, rounds: int, min_time: float, tick: Callable[[str], None]) -> dict[str, Any]:
    """The attainable FMA peak: the best float32 GEMM rate of NumPy's BLAS or torch at a
    large n (compute-bound: 2 n^3 flops on 3 n^2 numbers)."""
    tick(f"peak (BLAS GEMM n={n})")
    torch = _torch()
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    fns: dict[str, Callable[[], object]] = {"numpy": lambda: np.matmul(a, b, out=out)}
    if torch is not None:
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(n, n)
        fns["torch"] = lambda: torch.mm(ta, tb, out=tc)
    t = interleaved(fns, rounds=rounds, min_time=min_time)
    rates = {k: 2.0 * n**3 / v["best"] / 1e9 for k, v in t.items()}
    best = max(rates, key=rates.__getitem__)
    return {
        "gflops": rates[best],
        "how": f"best float32 GEMM of {best} at n={n}",
        "n": n,
        "by_library": rates,
    }


def run_benchmarks(
    quick: bool = False,
    n_threads: int | None = None,
    progress: bool = True,
    *,
    sizes: list[int] | None = None,
    peak_n: int | None = None,
    n_elems: int | None = None,
    mlp_sizes: tuple[int, ...] = (784, 256, 128, 10),
    batch: int = 128,
    rounds: int | None = None,
    min_time: float | None = None,
    paths: list[str] | None = None,
) -> dict[str, Any]:
    """Run every benchmark; returns a JSON-ready dict (see the module docstring). The
    keyword-only arguments override the sizes that ``quick`` picks.

    paths: the instruction-set paths to measure (default: available_paths(), both on an
    AVX-512 CPU). The first is the result's top level (its name in "path", what the libraries
    ran in "path_facts"), the others go under "paths"; each runs in this process when this
    process was started for it (DG_BENCH_PATH, or no path variable set and it is the CPU's
    best), else in a subprocess with path_env(path)."""
    import deltagrad as dg

    n_threads = n_threads or dg.get_num_threads()
    if paths is None:
        paths = available_paths() or [""]
    own = os.environ.get("DG_BENCH_PATH")
    if own is None and not any(v in os.environ for v in _PATH_VARS):
        own = (available_paths() or [""])[0]
    kwargs = dict(
        quick=quick,
        n_threads=n_threads,
        sizes=sizes,
        peak_n=peak_n,
        n_elems=n_elems,
        mlp_sizes=list(mlp_sizes),
        batch=batch,
        rounds=rounds,
        min_time=min_time,
    )
    results = {}
    for path in paths:
        if path == own or path == "":
            results[path] = _run_here(progress=progress, **kwargs)
            results[path]["path"] = path or dg.info()["cpu_isa"]
            results[path]["path_facts"] = path_facts(path)
        else:
            results[path] = _run_path(path, kwargs)
    first = results[paths[0]]
    first["paths"] = {p: r for p, r in results.items() if p != paths[0]}
    return first


def _run_here(
    quick: bool,
    n_threads: int,
    progress: bool,
    sizes: list[int] | None,
    peak_n: int | None,
    n_elems: int | None,
    mlp_sizes: list[int],
    batch: int,
    rounds: int | None,
    min_time: float | None,
) -> dict[str, Any]:
    """Every benchmark in this process (run_benchmarks' arguments)."""
    from tqdm.auto import tqdm

    import deltagrad as dg

    facts = dg.info()
    sizes = sizes or ([32, 64, 128, 256, 512] if quick else [32, 64, 128, 256, 384, 512, 768, 1024])
    peak_n = peak_n or (1024 if quick else 2048)
    acts = ["relu", "sigmoid", "tanh", "gelu"]
    rounds = rounds or (5 if quick else 15)
    min_time = min_time or (0.01 if quick else 0.02)
    n_elems = n_elems or ((1 << 22) if quick else (1 << 24))
    total = 1 + len(sizes) + 1 + len(acts) + 1
    bar = tqdm(total=total, desc="bench", unit="case", disable=not progress, leave=False)
    started = [False]

    def tick(name: str) -> None:  # a case begins: count the one before, show this one
        if started[0]:
            bar.update(1)
        started[0] = True
        bar.set_postfix_str(name)

    torch = _torch()
    with threads(n_threads):
        peak = bench_peak(peak_n, rounds, min_time, tick)
        gemm = bench_gemm(sizes, rounds, min_time, tick)
        act = bench_activations(n_elems, acts, rounds, min_time, tick)
        mlp = bench_mlp(list(mlp_sizes), batch, rounds, min_time, tick)
    bar.update(1)
    bar.close()
    return {
        "machine": {
            "cpu_isa": facts["cpu_isa"],
            "threads": n_threads,
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "cpu_mhz": _cpu_mhz(),
            "cache_sizes": facts.get("cache_sizes"),
            "numpy": np.__version__,
            "torch": torch.__version__ if torch else None,
            "deltagrad": facts["version"],
        },
        "method": "interleaved rounds, best round per side (deltagrad.benchmark.interleaved)",
        "gemm": gemm,
        "peak_gflops_measured": peak["gflops"],
        "peak_gflops_measured_how": peak["how"],
        "peak": peak,
        "peak_gflops_nominal": nominal_peak_gflops(facts["cpu_isa"], n_threads),
        "peak_gflops_nominal_how": "measured: independent FMA chains (_cpu.measure_fma_peak)",
        "activations": act,
        "mlp": mlp,
    }


def format_report(res: dict[str, Any]) -> str:
    """The benchmark results as plain tables, one set per instruction-set path."""
    out = [_format_path(res)]
    for r in res.get("paths", {}).values():
        out += ["", "", _format_path(r)]
    return "\n".join(out)


def _format_path(res: dict[str, Any]) -> str:
    m = res["machine"]
    libs = [k[:-7] for k in res["gemm"][0] if k.endswith("_gflops")]
    lines = [
        f"deltagrad {m['deltagrad']} on {m['cpu_isa']}, {m['threads']} threads "
        f"(numpy {m['numpy']}, torch {m['torch'] or 'not installed'})",
    ]
    pf = res.get("path_facts")
    if pf is not None:
        env = " ".join(f"{k}={v}" for k, v in pf["env"].items()) or "no overrides"
        lines.append(
            f"path {res.get('path')}: {env}; deltagrad {pf['deltagrad_isa']}, OpenBLAS core "
            f"{pf['openblas_core'] or '?'}, torch capability {pf['torch_cpu_capability'] or '-'}"
        )
        for problem in pf["problems"]:
            lines.append(f"WARNING: {problem}")
    lines.append("")
    nominal = res["peak_gflops_nominal"]
    rows = [
        [r["n"], *(r[f"{k}_gflops"] for k in libs), r["deltagrad_gflops"] / r["numpy_gflops"]]
        for r in res["gemm"]
    ]
    lines.append(
        table(
            ["n", *(f"{k} GFLOP/s" for k in libs), "dg / numpy"],
            rows,
            "float32 GEMM C = A @ B (n x n)",
        )
    )
    lines.append(
        f"measured peak {res['peak_gflops_measured']:.1f} GFLOP/s "
        f"({res['peak_gflops_measured_how']})"
        + (f"; nominal {nominal:.1f} GFLOP/s (measured FMA chains in registers)" if nominal else "")
    )
    act = res["activations"]
    rows = [
        [r["act"], r["deltagrad_gbs"], r.get("numpy_gbs"), r["deltagrad_gbs"] / act["copy_gbs"]]
        for r in act["rows"]
    ]
    lines += [
        "",
        table(
            ["activation", "deltagrad GB/s", "numpy GB/s", "dg / copy"],
            rows,
            f"elementwise activation over {act['n_elems']:,} float32 (read + write)",
        ),
    ]
    lines.append(f"copy bandwidth (np.copyto, same bytes) {act['copy_gbs']:.1f} GB/s")
    mlp = res["mlp"]
    rows = [["deltagrad", mlp["deltagrad_samples_per_s"]]]
    if "torch_samples_per_s" in mlp:
        rows.append(["torch", mlp["torch_samples_per_s"]])
    lines += [
        "",
        table(
            ["library", "samples/s"],
            rows,
            f"MLP {'-'.join(map(str, mlp['sizes']))} training step (Adam, "
            f"cross-entropy), batch {mlp['batch']}",
        ),
    ]
    if "torch_samples_per_s" in mlp:
        lines.append(
            f"deltagrad / torch = {mlp['deltagrad_samples_per_s'] / mlp['torch_samples_per_s']:.2f}"
        )
    return "\n".join(lines)


def plot_report(res: dict[str, Any], path: str) -> bool:
    """Three panels (GEMM, activations, MLP) to a PNG; False when matplotlib is missing."""
    plt = _report.pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ns = [r["n"] for r in res["gemm"]]
    for k in [k for k in res["gemm"][0] if k.endswith("_gflops")]:
        ax.plot(ns, [r[k] for r in res["gemm"]], "o-", label=k[:-7])
    ax.axhline(res["peak_gflops_measured"], color="k", lw=1, label="measured peak")
    if res["peak_gflops_nominal"]:
        ax.axhline(res["peak_gflops_nominal"], color="k", ls=":", lw=1, label="nominal peak")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("float32 GEMM")
    ax.legend(fontsize=8)
    ax = axes[1]
    act = res["activations"]
    names = [r["act"] for r in act["rows"]]
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [r["deltagrad_gbs"] for r in act["rows"]], 0.4, label="deltagrad")
    ax.bar(xs + 0.2, [r.get("numpy_gbs", 0.0) for r in act["rows"]], 0.4, label="numpy")
    ax.axhline(act["copy_gbs"], color="k", lw=1, label="copy bandwidth")
    ax.set_xticks(xs)
    ax.set_xticklabels(names)
    ax.set_ylabel("GB/s")
    ax.set_title("activations")
    ax.legend(fontsize=8)
    ax = axes[2]
    mlp = res["mlp"]
    libs = [k[:-14] for k in mlp if k.endswith("_samples_per_s")]
    ax.bar(libs, [mlp[f"{k}_samples_per_s"] for k in libs])
    ax.set_ylabel("samples/s")
    ax.set_title(f"MLP {'-'.join(map(str, mlp['sizes']))} step, batch {mlp['batch']}")
    fig.tight_layout()
    from ._files import atomic_savefig

    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return True
