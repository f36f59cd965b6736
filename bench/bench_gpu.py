"""GPU benchmarks of the CUDA backend against cuBLAS / PyTorch, for bench/gpu_check.sh.

    python bench/bench_gpu.py [--out bench/results/gpu-<date>.json] [--quick] [--budget-s S]

Every case is a ratio against a peer measured in the same run: the two sides alternate
(A B A B ...) and each keeps its best round, timed with CUDA events on the current stream.
Peers: cupy.matmul (cuBLAS, FP32; CuPy uses TF32 only when CUPY_TF32=1) and torch.mm with
allow_tf32 off / on; torch for the fused losses and the MLP training step.
Prints a table and writes the JSON (device, versions, every case's times and ratio) after every
case group, so a run cut short keeps what it measured; --budget-s skips the groups that would
start after that many seconds. Cases: SGEMM (FP32, and TF32 against cuBLAS TF32 through cupy's
compute type and torch), elementwise activations against a device copy of the same bytes, the
fused losses / linear, the MLP training step against torch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _need(mod: str) -> Any:
    try:
        return __import__(mod)
    except ImportError:
        return None


cp = _need("cupy")
torch = _need("torch")
if torch is not None and not torch.cuda.is_available():
    torch = None

import deltagrad as dg  # noqa: E402
from deltagrad import backends  # noqa: E402
from deltagrad.backends import cuda as cuda_backend  # noqa: E402


def gpu_time(
    fns: dict[str, Callable[[], object]], rounds: int = 9, min_ms: float = 20.0
) -> dict[str, dict[str, float]]:
    """Milliseconds per call of each function, interleaved rounds, CUDA-event timed."""
    stream = cp.cuda.get_current_stream()
    reps: dict[str, int] = {}
    for name, fn in fns.items():
        fn()  # warm-up: module load, allocator, autotuning
        stream.synchronize()
        n = 1
        while True:
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record(stream)
            for _ in range(n):
                fn()
            end.record(stream)
            end.synchronize()
            ms = cp.cuda.get_elapsed_time(start, end)
            if ms >= min_ms or n >= 1 << 14:
                break
            n = max(n * 2, int(n * min_ms / max(ms, 1e-3) * 1.2))
        reps[name] = n
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            fn, n = fns[name], reps[name]
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record(stream)
            for _ in range(n):
                fn()
            end.record(stream)
            end.synchronize()
            samples[name].append(cp.cuda.get_elapsed_time(start, end) / n)
    return {n: {"best_ms": min(s), "median_ms": sorted(s)[len(s) // 2]} for n, s in samples.items()}


def _torch_on_cupy_stream():
    """Run torch on the same stream as cupy, so event timing covers both alike."""
    ext = torch.cuda.ExternalStream(cp.cuda.get_current_stream().ptr)
    return torch.cuda.stream(ext)


def bench_gemm(results: list[dict], sizes: list[tuple[int, int, int]]) -> None:
    rng = np.random.default_rng(0)
    for m, n, k in sizes:
        a = cp.asarray(rng.standard_normal((m, k), dtype=np.float32))
        b = cp.asarray(rng.standard_normal((k, n), dtype=np.float32))
        flops = 2.0 * m * n * k
        other = "small" if ((m + 127) // 128) * ((n + 127) // 128) >= 96 else "large"
        fns: dict[str, Callable[[], object]] = {
            "deltagrad_fp32": lambda a=a, b=b: dg.ops.matmul(a, b),
            "cublas_fp32": lambda a=a, b=b: cp.matmul(a, b),
            "deltagrad_tf32": lambda a=a, b=b: backends.cuda_ops().matmul(a, b, precision="tf32"),
            # the other tiling, for choosing the size heuristic of gemm_launch.cuh
            "deltagrad_fp32_other_tile": lambda a=a, b=b, tile=other: backends.cuda_ops().matmul(
                a, b, tile=tile
            ),
        }
        if torch is not None:
            ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")

            def torch_mm(tf32: bool, ta=ta, tb=tb) -> object:
                torch.backends.cuda.matmul.allow_tf32 = tf32
                return torch.mm(ta, tb)

            fns["torch_fp32"] = lambda: torch_mm(False)
            fns["torch_tf32"] = lambda: torch_mm(True)
        with _torch_on_cupy_stream() if torch is not None else _null():
            t = gpu_time(fns)
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = False
        shape = f"{m}x{n}x{k}"
        _add(results, "sgemm_fp32", shape, t, "deltagrad_fp32", "cublas_fp32", flops)
        _add(
            results,
            "sgemm_fp32_other_tile",
            shape,
            t,
            "deltagrad_fp32_other_tile",
            "cublas_fp32",
            flops,
        )
        if "torch_tf32" in t:
            _add(results, "gemm_tf32", shape, t, "deltagrad_tf32", "torch_tf32", flops)


def _cublas_tf32() -> Callable[[Any, Any], object] | None:
    """cupy.matmul with cuBLAS's TF32 compute type, or None where cupy does not expose it."""
    try:
        from cupy._core import _routines_linalg as rl  # noqa: PLC0415

        tf32 = rl.COMPUTE_TYPE_TF32
        get, put = rl.get_compute_type, rl.set_compute_type
        put(np.float32, get(np.float32))  # the (dtype, compute_type) signature, or raise
    except (ImportError, AttributeError, TypeError):
        return None

    def mm(a: Any, b: Any) -> object:
        old = get(np.float32)
        put(np.float32, tf32)
        try:
            return cp.matmul(a, b)
        finally:
            put(np.float32, old)

    return mm


def bench_gemm_tf32_cublas(results: list[dict], sizes: list[tuple[int, int, int]]) -> None:
    mm = _cublas_tf32()
    if mm is None:
        print("bench_gpu: this cupy has no TF32 compute type switch: TF32 vs cuBLAS skipped")
        return
    rng = np.random.default_rng(3)
    for m, n, k in sizes:
        a = cp.asarray(rng.standard_normal((m, k), dtype=np.float32))
        b = cp.asarray(rng.standard_normal((k, n), dtype=np.float32))
        t = gpu_time(
            {
                "deltagrad_tf32": lambda a=a, b=b: backends.cuda_ops().matmul(
                    a, b, precision="tf32"
                ),
                "cublas_tf32": lambda a=a, b=b: mm(a, b),
            }
        )
        _add(
            results,
            "gemm_tf32_vs_cublas",
            f"{m}x{n}x{k}",
            t,
            "deltagrad_tf32",
            "cublas_tf32",
            2.0 * m * n * k,
        )


def bench_elementwise(results: list[dict], n: int) -> None:
    """Activations over n float32 elements against a device copy of the same bytes."""
    cuda = backends.cuda_ops()
    x = cp.asarray(np.random.default_rng(4).standard_normal(n, dtype=np.float32))
    y = cp.empty_like(x)
    for act in ("relu", "gelu"):
        t = gpu_time(
            {
                "deltagrad": lambda act=act: cuda.activation(x, act),
                "copy": lambda: cp.copyto(y, x),
            }
        )
        _add(
            results,
            f"activation_{act}_fp32",
            f"{n}",
            t,
            "deltagrad",
            "copy",
            None,
            bytes_moved=8.0 * n,
        )


def bench_fused(results: list[dict]) -> None:
    if torch is None:
        return
    rng = np.random.default_rng(1)
    cuda = backends.cuda_ops()
    n, c = 4096, 1000
    logits = cp.asarray(rng.standard_normal((n, c), dtype=np.float32))
    target = cp.asarray(rng.integers(0, c, n))
    tl, tt = torch.as_tensor(logits, device="cuda"), torch.as_tensor(target, device="cuda")

    def torch_xent() -> object:
        x = tl.detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(x, tt)
        (g,) = torch.autograd.grad(loss, x)
        return g

    with _torch_on_cupy_stream():
        t = gpu_time(
            {
                "deltagrad": lambda: cuda.softmax_cross_entropy(logits, target, "mean"),
                "torch": torch_xent,
            }
        )
    _add(
        results,
        "softmax_xent_fwd_bwd",
        f"{n}x{c}",
        t,
        "deltagrad",
        "torch",
        None,
        bytes_moved=2.0 * n * c * 4,
    )

    m, k, o = 4096, 1024, 1024
    x = cp.asarray(rng.standard_normal((m, k), dtype=np.float32))
    w = cp.asarray(rng.standard_normal((o, k), dtype=np.float32))
    b = cp.asarray(rng.standard_normal(o, dtype=np.float32))
    tx, tw, tb = (torch.as_tensor(v, device="cuda") for v in (x, w, b))
    torch.backends.cuda.matmul.allow_tf32 = False
    with _torch_on_cupy_stream():
        t = gpu_time(
            {
                "deltagrad": lambda: cuda.linear_forward(x, w, b, "gelu"),
                "torch": lambda: torch.nn.functional.gelu(torch.addmm(tb, tx, tw.t())),
            }
        )
    _add(results, "linear_bias_gelu_fp32", f"{m}x{o}x{k}", t, "deltagrad", "torch", 2.0 * m * o * k)


def bench_mlp_step(
    results: list[dict], batch: int = 512, sizes: tuple[int, ...] = (784, 1024, 1024, 10)
) -> None:
    """One training step (forward, loss, backward, Adam) of an MLP: deltagrad's ops vs torch."""
    if torch is None:
        return
    cuda = backends.cuda_ops()
    rng = np.random.default_rng(2)
    X = cp.asarray(rng.standard_normal((batch, sizes[0]), dtype=np.float32))
    y = cp.asarray(rng.integers(0, sizes[-1], batch))
    Ws = [
        cp.asarray(rng.standard_normal((o, i), dtype=np.float32) / np.sqrt(i))
        for i, o in zip(sizes[:-1], sizes[1:])
    ]
    bs = [cp.zeros(o, dtype=cp.float32) for o in sizes[1:]]
    state = [(cp.zeros_like(p), cp.zeros_like(p)) for p in Ws + bs]
    step = [0]

    def dg_step() -> object:
        acts, h = [], X
        for i, (w, b) in enumerate(zip(Ws, bs)):
            act = "relu" if i < len(Ws) - 1 else "identity"
            out, _ = cuda.linear_forward(h, w, b, act)
            acts.append((h, out, act))
            h = out
        loss, d = cuda.softmax_cross_entropy(h, y, "mean")
        grads_w, grads_b = [None] * len(Ws), [None] * len(Ws)
        for i in reversed(range(len(Ws))):
            hin, out, act = acts[i]
            dx, dw, db = cuda.linear_backward(d, hin, Ws[i], out, act, need_dx=i > 0)
            grads_w[i], grads_b[i] = dw, db
            d = dx
        step[0] += 1
        for p, g, (m, v) in zip(Ws + bs, grads_w + grads_b, state):
            cuda.adam_update(p, g, m, v, step=step[0], lr=1e-3)
        return loss

    torch.backends.cuda.matmul.allow_tf32 = False
    layers: list[Any] = []
    for i, (a, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, o))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    tX, ty = torch.as_tensor(X, device="cuda"), torch.as_tensor(y, device="cuda")

    def torch_step() -> object:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tX), ty)
        loss.backward()
        opt.step()
        return loss

    with _torch_on_cupy_stream():
        t = gpu_time({"deltagrad": dg_step, "torch": torch_step})
    flops = 6.0 * batch * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))
    _add(
        results,
        "mlp_train_step_fp32",
        f"batch {batch}, {'-'.join(map(str, sizes))}",
        t,
        "deltagrad",
        "torch",
        flops,
    )


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _add(
    results: list[dict],
    case: str,
    shape: str,
    t: dict,
    ours: str,
    peer: str,
    flops: float | None,
    bytes_moved: float | None = None,
) -> None:
    row = {
        "case": case,
        "shape": shape,
        "ours": ours,
        "peer": peer,
        "ours_ms": t[ours]["best_ms"],
        "peer_ms": t[peer]["best_ms"],
        "ours_median_ms": t[ours]["median_ms"],
        "peer_median_ms": t[peer]["median_ms"],
        "speed_vs_peer": t[peer]["best_ms"] / t[ours]["best_ms"],
    }
    if flops:
        row["ours_tflops"] = flops / (t[ours]["best_ms"] * 1e9)
        row["peer_tflops"] = flops / (t[peer]["best_ms"] * 1e9)
    if bytes_moved:
        row["ours_gbs"] = bytes_moved / (t[ours]["best_ms"] * 1e6)
    results.append(row)


def _table(results: list[dict]) -> str:
    head = (
        f"{'case':<24} {'shape':<28} {'ours ms':>9} {'peer':<13} {'peer ms':>9} "
        f"{'ours/peer':>9} {'TFLOP/s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        tf = f"{r['ours_tflops']:.2f}" if "ours_tflops" in r else ""
        lines.append(
            f"{r['case']:<24} {r['shape']:<28} {r['ours_ms']:>9.4f} {r['peer']:<13} "
            f"{r['peer_ms']:>9.4f} {r['speed_vs_peer']:>8.1%} {tf:>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    ap.add_argument("--out", default=os.path.join("bench", "results", f"gpu-{stamp}.json"))
    ap.add_argument("--quick", action="store_true", help="fewer, smaller cases")
    ap.add_argument("--budget-s", type=float, default=None, help="start no group after this")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    if cp is None:
        print("bench_gpu: cupy is not installed", file=sys.stderr)
        return 2
    backends.require_cuda()
    sizes = (
        [(1024, 1024, 1024), (4096, 4096, 4096)]
        if args.quick
        else [
            (512, 512, 512),
            (1024, 1024, 1024),
            (2048, 2048, 2048),
            (4096, 4096, 4096),
            (8192, 8192, 8192),
            (4096, 1024, 4096),
            (512, 1024, 784),
            (1000, 1000, 999),
        ]
    )
    results: list[dict] = []
    info = dg.info()
    report = {
        "date_utc": stamp,
        "device": info["cuda_device"],
        "deltagrad": info["version"],
        "cupy": cp.__version__,
        "torch": getattr(torch, "__version__", None),
        "cuda_runtime": cuda_backend._cuda.cuda_runtime_version,
        "python": platform.python_version(),
        "timing": "CUDA events, interleaved, best round",
        "results": results,
        "skipped": [],
        "complete": False,
    }

    def write() -> None:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out + ".tmp", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(args.out + ".tmp", args.out)

    tf32_sizes = [(4096, 4096, 4096)] if args.quick else [(2048, 2048, 2048), (4096, 4096, 4096)]
    groups: list[tuple[str, Callable[[], None]]] = [
        ("sgemm", lambda: bench_gemm(results, sizes)),
        ("tf32_vs_cublas", lambda: bench_gemm_tf32_cublas(results, tf32_sizes)),
        ("elementwise", lambda: bench_elementwise(results, 1 << 24 if args.quick else 1 << 26)),
        ("fused", lambda: bench_fused(results)),
        ("mlp_step", lambda: bench_mlp_step(results)),
    ]
    # One explicit stream for both sides (torch joins it through ExternalStream), so event
    # timing covers the same work queue.
    with cp.cuda.Stream(non_blocking=True):
        for name, run in groups:
            spent = time.monotonic() - t0
            if args.budget_s is not None and spent > args.budget_s:
                report["skipped"].append(f"{name}: the budget of {args.budget_s:.0f} s is spent")
                print(f"bench_gpu: {name} skipped (budget spent after {spent:.0f} s)")
                continue
            run()
            write()
            print(f"bench_gpu: {name} done after {time.monotonic() - t0:.0f} s", flush=True)
    report["complete"] = True
    write()
    print(f"device: {info['cuda_device']}")
    print(_table(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
