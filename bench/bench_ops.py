"""Benchmarks of the CPU kernels in dg.ops (issue 3), each with its peer measured in the same
run by interleaved best-of-rounds timing (_timing.py); ratios land in extra_info.

    PYTHONPATH=python pytest bench/bench_ops.py --benchmark-enable -o addopts="" -s

Cases: activations forward on 16M float32 vs a copy (memory bandwidth, read + write) and vs the
NumPy expression; fused softmax cross-entropy forward+backward on (256, 1000) vs torch at 1
thread; the fused linear forward (256x784 -> 512, bias + ReLU) vs the bare GEMM.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _timing import interleaved, threads

import deltagrad as dg
from deltagrad import ops

N_ACT = 16 * 1024 * 1024
SQRT1_2 = 1 / math.sqrt(2)


def _numpy_expr(act):
    """The NumPy expression a user would write for each activation (float32 in, float32 out)."""
    if act == "relu":
        return lambda x: np.maximum(x, 0)
    if act == "sigmoid":
        return lambda x: 1 / (1 + np.exp(-x))
    if act == "tanh":
        return np.tanh
    if act == "gelu":
        try:
            from scipy.special import erf
        except ImportError:  # NumPy has no erf: fall back to the tanh form
            return _numpy_expr("gelu_tanh")
        return lambda x: 0.5 * x * (1 + erf(x * np.float32(SQRT1_2)))
    if act == "gelu_tanh":
        c = np.float32(math.sqrt(2 / math.pi))
        return lambda x: 0.5 * x * (1 + np.tanh(c * (x + np.float32(0.044715) * x**3)))
    if act == "silu":
        return lambda x: x / (1 + np.exp(-x))
    if act in ("elu", "celu"):  # alpha 1
        return lambda x: np.where(x > 0, x, np.expm1(x))
    if act == "selu":
        a, s = np.float32(1.6732632423543772), np.float32(1.0507009873554805)
        return lambda x: s * np.where(x > 0, x, a * np.expm1(x))
    if act == "relu6":
        return lambda x: np.clip(x, 0, 6)
    if act == "hardsigmoid":
        return lambda x: np.clip((x + 3) / 6, 0, 1)
    if act == "hardswish":
        return lambda x: x * np.clip((x + 3) / 6, 0, 1)
    if act == "mish":
        return lambda x: x * np.tanh(np.logaddexp(np.float32(0), x))
    if act == "logsigmoid":
        return lambda x: -np.logaddexp(np.float32(0), -x)
    if act == "softsign":
        return lambda x: x / (1 + np.abs(x))
    return lambda x: np.logaddexp(np.float32(0), x)  # softplus


def _torch_fn(act):
    """torch CPU's own kernel for each activation through its out= variant, so neither side
    allocates (a 64 MiB result would dominate the peer's time), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    aten = torch.ops.aten
    return {
        "relu": lambda t, out: torch.clamp(t, min=0, out=out),
        "sigmoid": lambda t, out: torch.sigmoid(t, out=out),
        "tanh": lambda t, out: torch.tanh(t, out=out),
        "gelu": lambda t, out: aten.gelu.out(t, out=out),
        "gelu_tanh": lambda t, out: aten.gelu.out(t, approximate="tanh", out=out),
        "softplus": lambda t, out: aten.softplus.out(t, 1, 20, out=out),
        "silu": lambda t, out: aten.silu.out(t, out=out),
        "elu": lambda t, out: aten.elu.out(t, 1.0, 1.0, 1.0, out=out),
        "selu": lambda t, out: aten.elu.out(
            t, 1.6732632423543772, 1.0507009873554805, 1.0, out=out
        ),
        "celu": lambda t, out: aten.elu.out(t, 1.0, 1.0, 1.0, out=out),  # celu(alpha=1) = elu
        "relu6": lambda t, out: aten.hardtanh.out(t, 0.0, 6.0, out=out),
        "hardsigmoid": lambda t, out: aten.hardsigmoid.out(t, out=out),
        "hardswish": lambda t, out: aten.hardswish.out(t, out=out),
        "mish": lambda t, out: aten.mish.out(t, out=out),
        "logsigmoid": lambda t, out: aten.log_sigmoid.out(t, out=out),
        # torch has no softsign kernel: F.softsign is x / (|x| + 1), two passes (here into out)
        "softsign": lambda t, out: torch.div(t, torch.abs(t, out=out).add_(1), out=out),
    }[act]


# every activation but identity and leaky_relu (which takes a slope)
ACTS = [a for a in ops.ACTIVATIONS if a not in ("identity", "leaky_relu")]


def _vs_torch(benchmark, ours, peer, nthreads):
    """ours and torch's peer interleaved on nthreads (best of 21 rounds each), the ratio
    reported, then ours timed by pytest-benchmark."""
    with threads(nthreads):
        if not benchmark.disabled:
            timings = interleaved({"ours": ours, "torch": peer}, rounds=21)
            _report(
                benchmark,
                timings,
                ours,
                threads=nthreads,
                speedup_vs_torch=timings["torch"]["best"] / timings["ours"]["best"],
            )
        benchmark(ours)


def _report(benchmark, timings, ours, **extra):
    for name, t in timings.items():
        benchmark.extra_info[f"{name}_best_s"] = t["best"]
    for key, value in extra.items():
        benchmark.extra_info[key] = value
    line = " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items()
    )
    print(f"\n[{benchmark.name}] {line}")


@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_16m(benchmark, act):
    n = N_ACT if not benchmark.disabled else 1 << 16
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    y = np.empty_like(x)
    copy_dst = np.empty_like(x)
    expr = _numpy_expr(act)

    def ours():
        ops.activation(x, act, param=1.0, out=y)  # elu / celu: alpha 1

    if not benchmark.disabled:
        # two bandwidth baselines: NumPy's copy (one thread, ordinary stores) and a copy on
        # deltagrad's threads with the same non-temporal stores (the identity activation)
        fns = {
            "ours": ours,
            "copy": lambda: np.copyto(copy_dst, x),
            "copy_mt": lambda: ops.activation(x, "identity", out=copy_dst),
            "numpy": lambda: expr(x),
        }
        tfn = _torch_fn(act)
        if tfn is not None:
            import torch

            tx, ty = torch.from_numpy(x), torch.from_numpy(copy_dst)
            fns["torch"] = lambda: tfn(tx, out=ty)
        t = interleaved(fns, rounds=21)
        gbs = 2 * x.nbytes / t["ours"]["best"] / 1e9
        extra = {}
        if "torch" in t:
            extra["speedup_vs_torch"] = t["torch"]["best"] / t["ours"]["best"]
        _report(
            benchmark,
            t,
            ours,
            threads=dg.get_num_threads(),
            ours_GBps=gbs,
            copy_GBps=2 * x.nbytes / t["copy"]["best"] / 1e9,
            copy_mt_GBps=2 * x.nbytes / t["copy_mt"]["best"] / 1e9,
            fraction_of_copy_bandwidth=t["copy"]["best"] / t["ours"]["best"],
            fraction_of_mt_copy_bandwidth=t["copy_mt"]["best"] / t["ours"]["best"],
            speedup_vs_numpy=t["numpy"]["best"] / t["ours"]["best"],
            **extra,
        )
    benchmark(ours)


@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_262k_vs_torch_1thread(benchmark, act):
    """The compute-bound size of issue 18: 262K float32 (in cache), one thread, against torch's
    out= kernel."""
    torch = pytest.importorskip("torch")
    n = 1 << 18
    x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    y = np.empty_like(x)
    tx, ty = torch.from_numpy(x), torch.empty(n)
    tfn = _torch_fn(act)

    def ours():
        ops.activation(x, act, param=1.0, out=y)  # elu / celu: alpha 1

    with threads(1):
        if not benchmark.disabled:
            t = interleaved({"ours": ours, "torch": lambda: tfn(tx, out=ty)}, rounds=21)
            _report(
                benchmark,
                t,
                ours,
                threads=1,
                speedup_vs_torch=t["torch"]["best"] / t["ours"]["best"],
            )
        benchmark(ours)


def test_softmax_cross_entropy_256x1000_vs_torch_1thread(benchmark):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((256, 1000)) * 3).astype(np.float32)
    t = rng.integers(0, 1000, 256)
    tz = torch.from_numpy(z.copy()).requires_grad_(True)
    tt = torch.from_numpy(t)

    def ours():
        return ops.softmax_cross_entropy(z, t, "mean")

    def peer():
        tz.grad = None
        torch.nn.functional.cross_entropy(tz, tt).backward()

    _vs_torch(benchmark, ours, peer, 1)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("dims", [(1,), (0,), (0, 1)], ids=["last", "first", "both"])
def test_flip_fwd_bwd_1024x1024_vs_torch(benchmark, dims, nthreads):
    """Tensor.flip forward + backward (dg.ops.flip both ways: csrc/cpu/layout.h) vs torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    g = rng.standard_normal((1024, 1024)).astype(np.float32)
    xd, gd = dg.tensor(x, requires_grad=True), dg.tensor(g)
    xt, gt = torch.tensor(x, requires_grad=True), torch.from_numpy(g)

    def ours():
        xd.grad = None
        xd.flip(dims).backward(gd)

    def peer():
        xt.grad = None
        xt.flip(dims).backward(gt)

    _vs_torch(benchmark, ours, peer, nthreads)


@pytest.mark.parametrize("k", [1, 10, 64])
@pytest.mark.parametrize("rows", ["random", "ascending"])
def test_topk_256x4096_vs_torch_1thread(benchmark, rows, k):
    """Tensor.topk forward (csrc/cpu/select.h) vs torch.topk; ascending rows are the kernel's
    worst case (every element beats the k-th so far)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32)
    if rows == "ascending":
        x = np.sort(x, axis=1)
    xd, xt = dg.tensor(x), torch.from_numpy(x)

    def ours():
        return xd.topk(k)

    def peer():
        return torch.topk(xt, k)

    _vs_torch(benchmark, ours, peer, 1)


@pytest.mark.parametrize("k", [10, 64])
def test_topk_smallest_descending_256x4096_vs_torch_1thread(benchmark, k):
    """Tensor.topk(largest=False) on descending rows, the smallest's counterpart of ascending
    rows for the largest (csrc/cpu/select.h scans such rows from their end)."""
    torch = pytest.importorskip("torch")
    x = -np.sort(np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32), axis=1)
    xd, xt = dg.tensor(x), torch.from_numpy(x)

    def ours():
        return xd.topk(k, largest=False)

    def peer():
        return torch.topk(xt, k, largest=False)

    _vs_torch(benchmark, ours, peer, 1)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize(
    "seq,batch,inp,hidden",
    [(512, 8, 32, 32), (1000, 1, 16, 16), (16, 64, 64, 64), (100, 32, 128, 256)],
)
def test_lstm_forward_backward_vs_torch(benchmark, seq, batch, inp, hidden, nthreads):
    """nn.LSTM forward + backward (csrc/cpu/rnn.h's time loop) vs torch.nn.LSTM, float32, from
    the same weights: long thin sequences are bound by the per-step overhead, the last shape by
    its GEMMs."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((seq, batch, inp)).astype(np.float32)
    tm = torch.nn.LSTM(inp, hidden)
    dm = dg.nn.LSTM(inp, hidden)
    dm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def ours():
        dm(xd)[0].sum().backward()

    def peer():
        tm(xt)[0].sum().backward()

    _vs_torch(benchmark, ours, peer, nthreads)


OPTIMIZERS = {
    "Adagrad": {},
    "RMSprop": {},
    "RMSprop_centered_momentum": {"centered": True, "momentum": 0.9},
    "Adamax": {},
    "NAdam": {},
    "Adam": {},
}


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_step_vs_torch(benchmark, name, nthreads):
    """One optimizer step over the 784-512-512-10 MLP's six tensors (0.67M float32
    parameters), vs torch.optim's default (foreach) step: cpu/optim.h's one-pass updates."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
    ws = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    dps = [dg.nn.Parameter(dg.tensor(w.copy())) for w in ws]
    tps = [torch.nn.Parameter(torch.tensor(w.copy())) for w in ws]
    for dp, tp in zip(dps, tps, strict=True):
        g = rng.standard_normal(dp.shape).astype(np.float32)
        dp.grad, tp.grad = g, torch.tensor(g.copy())
    kind = name.split("_")[0]
    dopt = getattr(dg.optim, kind)(dps, lr=1e-3, **OPTIMIZERS[name])
    topt = getattr(torch.optim, kind)(tps, lr=1e-3, **OPTIMIZERS[name])
    _vs_torch(benchmark, dopt.step, topt.step, nthreads)


@pytest.mark.parametrize("nthreads", [1, 2])
def test_linear_forward_fused_vs_bare_gemm(benchmark, nthreads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    w = (rng.standard_normal((512, 784)) * 0.05).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)

    def ours():
        return ops.linear_forward(x, w, b, "relu")

    def bare():  # allocates its output, as linear_forward does
        return ops.matmul(x, w, trans_b=True)

    with threads(nthreads):
        if not benchmark.disabled:
            timings = interleaved(
                {"ours": ours, "gemm": bare, "numpy": lambda: np.maximum(x @ w.T + b, 0)}, rounds=21
            )
            flops = 2 * 256 * 784 * 512
            _report(
                benchmark,
                timings,
                ours,
                threads=nthreads,
                ours_GFLOPs=flops / timings["ours"]["best"] / 1e9,
                fused_over_bare_gemm_time=timings["ours"]["best"] / timings["gemm"]["best"],
                speedup_vs_numpy=timings["numpy"]["best"] / timings["ours"]["best"],
            )
        benchmark(ours)
