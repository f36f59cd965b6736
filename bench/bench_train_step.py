"""One training step of an MLP (784-512-512-10, ReLU, softmax cross-entropy, batch 256, float32:
forward, backward, SGD with momentum) in deltagrad against torch CPU, 1 and 2 threads; and the
Python overhead per op, from a tiny MLP's step.

    PYTHONPATH=python python3 -m pytest bench/bench_train_step.py --benchmark-enable -s

Each case stores the interleaved best-of-rounds ratio (torch time / ours: > 1 means faster)
in extra_info; see docs/benchmarks/train_step.md for recorded numbers.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _timing import SETTLE_SECONDS, interleaved, threads

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import ops

SIZES = [784, 512, 512, 10]
BATCH = 256


def _data(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return X, y


def deltagrad_step(sizes=SIZES, batch=BATCH):
    """A closure running one training step of deltagrad."""
    dg.manual_seed(0)
    model = dg.nn.MLP(sizes, activation="relu")
    opt = dg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    X, y = _data(sizes, batch)
    x = dg.tensor(X)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _torch_mlp(sizes):
    """torch's MLP of the same sizes (Linear + ReLU, none after the last), seeded."""
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_step(sizes=SIZES, batch=BATCH):
    import torch

    model = _torch_mlp(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    X, y = _data(sizes, batch)
    x, t = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss

    return step


@pytest.mark.parametrize("nthreads", [1, 2])
def test_train_step_mlp(benchmark, nthreads):
    pytest.importorskip("torch")
    with threads(nthreads):
        ours, theirs = deltagrad_step(), torch_step()
        if not benchmark.disabled:
            r = interleaved({"deltagrad": ours, "torch": theirs}, rounds=15)
            # forward, dW and dX of every layer, but the first layer's dX: the input needs no
            # gradient, and neither library computes it (until round 32 this counted it too,
            # reading 106 GFLOP/s on a core whose FMA peak measured 104)
            pairs = [a * b for a, b in zip(SIZES[:-1], SIZES[1:])]
            flops = 2 * BATCH * (3 * sum(pairs) - pairs[0])
            benchmark.extra_info.update(
                {
                    "threads": nthreads,
                    "deltagrad_ms": r["deltagrad"]["best"] * 1e3,
                    "torch_ms": r["torch"]["best"] * 1e3,
                    "speedup_vs_torch": r["torch"]["best"] / r["deltagrad"]["best"],
                    "speedup_vs_torch_median": r["torch"]["median"] / r["deltagrad"]["median"],
                    "deltagrad_gflops": flops / r["deltagrad"]["best"] / 1e9,
                }
            )
            print(f"\n[{nthreads} thread(s)] {benchmark.extra_info}")
        benchmark(ours)


def kept_grad_step(direct: bool = True, sizes=SIZES, batch=BATCH):
    """deltagrad's step with zero_grad(set_to_none=False): the .grad buffers are kept and
    F.linear's backward accumulates dW into them by the GEMM (beta = 1); direct=False disables
    that (a temporary dW, then .grad += dW: the behaviour before issue 18's deliverable 3)."""
    dg.manual_seed(0)
    model = dg.nn.MLP(sizes, activation="relu")
    opt = dg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    X, y = _data(sizes, batch)
    x = dg.tensor(X)
    real = F._kept_grad

    def step():
        opt.zero_grad(set_to_none=False)
        if not direct:
            F._kept_grad = lambda t: None
        try:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        finally:
            F._kept_grad = real
        opt.step()
        return loss

    return step


@pytest.mark.parametrize("nthreads", [1, 2])
def test_train_step_mlp_kept_grads(benchmark, nthreads):
    """set_to_none=True (the default) vs kept buffers with and without the direct dW
    accumulation, interleaved; extra_info: two_pass_over_direct > 1 means the direct path wins."""
    with threads(nthreads):
        fns = {
            "none": deltagrad_step(),
            "direct": kept_grad_step(),
            "two_pass": kept_grad_step(False),
        }
        if not benchmark.disabled:
            r = interleaved(fns, rounds=9, min_time=0.1)
            benchmark.extra_info.update(
                {f"{k}_ms": v["best"] * 1e3 for k, v in r.items()}
                | {
                    "threads": nthreads,
                    "two_pass_over_direct": r["two_pass"]["best"] / r["direct"]["best"],
                }
            )
            print(f"\n[kept grads, {nthreads} thread(s)] {benchmark.extra_info}")
        benchmark(fns["direct"])


SMALL = [30, 64, 32, 1]  # a breast-cancer-sized MLP: 30 features, one logit
SMALL_BATCH = 32


def small_adam_steps(sizes=SMALL, batch=SMALL_BATCH):
    """deltagrad's and torch's step of a small MLP (ReLU, BCE with logits, Adam): at this size
    a step is mostly framework overhead, so the ratio measures the Python layers."""
    import torch

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    t = rng.integers(0, 2, (batch, 1)).astype(np.float32)

    dg.manual_seed(0)
    model = dg.nn.MLP(sizes, activation="relu")
    opt = dg.optim.Adam(model.parameters(), lr=1e-3)
    x = dg.tensor(X)

    def ours():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), t)
        loss.backward()
        opt.step()
        return loss

    tmodel = _torch_mlp(sizes)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    tx, tt = torch.from_numpy(X), torch.from_numpy(t)

    def theirs():
        topt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(tmodel(tx), tt)
        loss.backward()
        topt.step()
        return loss

    return ours, theirs


def test_train_step_small_adam(benchmark):
    """30-64-32-1, batch 32, Adam: deltagrad's step against torch's, interleaved, 1 thread."""
    pytest.importorskip("torch")
    with threads(1):
        ours, theirs = small_adam_steps()
        if not benchmark.disabled:
            r = interleaved({"deltagrad": ours, "torch": theirs}, rounds=15)
            benchmark.extra_info.update(
                {
                    "deltagrad_us": r["deltagrad"]["best"] * 1e6,
                    "torch_us": r["torch"]["best"] * 1e6,
                    "speedup_vs_torch": r["torch"]["best"] / r["deltagrad"]["best"],
                }
            )
            print(f"\n[30-64-32-1 Adam] {benchmark.extra_info}")
        benchmark(ours)


def _patched_ops(wrap):
    """Replace every dg.ops function f by wrap(name, f) (restored by the caller)."""
    names = [n for n in ops.__all__ if callable(getattr(ops, n)) and n != "saves_input"]
    saved = {n: getattr(ops, n) for n in names}
    for n in names:
        setattr(ops, n, wrap(n, saved[n]))
    return saved


def _restore(saved):
    for n, fn in saved.items():
        setattr(ops, n, fn)


def _count_op_calls(step):
    """How many dg.ops functions one call of step() makes (kernel launches)."""
    count = [0]

    def counting(name, fn):
        def wrapper(*a, **k):
            count[0] += 1
            return fn(*a, **k)

        return wrapper

    saved = _patched_ops(counting)
    try:
        step()
    finally:
        _restore(saved)
    return count[0]


def _python_only_seconds(step, reps=2000):
    """Seconds per step with every kernel replaced by a replay of its recorded result: what is
    left is deltagrad's Python layer (Tensor, closures, backward, optimizer loop)."""
    recorded = []

    def recording(name, fn):
        def wrapper(*a, **k):
            r = fn(*a, **k)
            recorded.append(r)
            return r

        return wrapper

    saved = _patched_ops(recording)
    try:
        step()
    finally:
        _restore(saved)
    it = [0]

    def replaying(name, fn):
        def wrapper(*a, **k):
            r = recorded[it[0] % len(recorded)]
            it[0] += 1
            return r

        return wrapper

    saved = _patched_ops(replaying)
    try:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                step()
            best = min(best, (time.perf_counter() - t0) / reps)
    finally:
        _restore(saved)
    return best


def test_python_overhead_per_op(benchmark):
    """A tiny MLP (4-8-3, batch 2) is all overhead: its step time / its kernel calls bounds
    the framework cost per op (Python + binding + a near-empty kernel). Target: < 10 us."""
    with threads(1):
        step = deltagrad_step([4, 8, 3], 2)
        n_ops = _count_op_calls(step)
        if not benchmark.disabled:
            r = interleaved({"tiny_step": step}, rounds=15)
            python_only = _python_only_seconds(step)
            benchmark.extra_info.update(
                {
                    "ops_per_step": n_ops,
                    "step_us": r["tiny_step"]["best"] * 1e6,
                    "us_per_op": r["tiny_step"]["best"] / n_ops * 1e6,  # Python + binding + kernel
                    "python_us_per_op": python_only / n_ops * 1e6,  # deltagrad's Python layer only
                }
            )
            print(f"\n[tiny MLP] {benchmark.extra_info}")
        benchmark(step)


def phases(steps: int = 60) -> dict[str, dict[str, float]]:
    """Where a real step's time goes (issue 18, round 6): every dg.ops call and the optimizer's
    fused update timed inside `steps` real steps of the 784-512-512-10 MLP, keyed by op and call
    order (linear_backward#0 is the last layer's), best and median in us; "between" is the
    step's time outside those calls (Python, its allocations, cold caches after the products).
    Each op is then replayed alone, hot, on the same arguments ("alone_best"): the difference
    is what the step's surroundings cost it."""
    from deltagrad import _cpu

    times: dict[str, list[float]] = {}
    args: dict[str, tuple] = {}
    order: dict[str, int] = {}
    inside: list[float] = []  # this step's op times

    def timing(name, fn):
        def wrapper(*a, **k):
            i = order[name] = order.get(name, -1) + 1
            t0 = time.perf_counter()
            r = fn(*a, **k)
            dt = time.perf_counter() - t0
            times.setdefault(f"{name}#{i}", []).append(dt)
            inside.append(dt)
            args[f"{name}#{i}"] = (fn, a, k)
            return r

        return wrapper

    step = deltagrad_step()
    for _ in range(5):
        step()
    saved = _patched_ops(timing)
    multi = _cpu.sgd_update_multi
    _cpu.sgd_update_multi = timing("sgd_update_multi", multi)
    totals, between = [], []
    try:
        for s in range(steps):
            if s % 10 == 0:
                time.sleep(SETTLE_SECONDS / 10)
            order.clear()
            inside.clear()
            t0 = time.perf_counter()
            step()
            totals.append(time.perf_counter() - t0)
            between.append(totals[-1] - sum(inside))
    finally:
        _restore(saved)
        _cpu.sgd_update_multi = multi
    out = {}
    for key, v in sorted(times.items()):
        v = sorted(v)
        row = {"best": v[0] * 1e6, "median": v[len(v) // 2] * 1e6}
        fn, a, k = args[key]
        if not key.startswith(("sgd", "zero")):  # in place on the weights: not replayed
            alone = []
            for _ in range(30):
                t0 = time.perf_counter()
                fn(*a, **k)
                alone.append(time.perf_counter() - t0)
            row["alone_best"] = min(alone) * 1e6
        out[key] = row
    for key, v in (("between", between), ("step", totals)):
        v = sorted(v)
        out[key] = {"best": v[0] * 1e6, "median": v[len(v) // 2] * 1e6}
    return out


if __name__ == "__main__":  # quick look without pytest
    import sys

    if "--phases" in sys.argv:  # python bench/bench_train_step.py --phases [threads ...]
        for n in [int(a) for a in sys.argv[1:] if a.isdigit()] or [1, 2]:
            with threads(n):
                print(f"{n} thread(s), us (alone_best: the same call replayed hot)")
                for key, row in phases().items():
                    print(f"  {key:24s} " + "  ".join(f"{k} {v:8.1f}" for k, v in row.items()))
        sys.exit(0)
    for n in (1, 2):
        with threads(n):
            r = interleaved({"deltagrad": deltagrad_step(), "torch": torch_step()}, rounds=9)
            print(
                n,
                {k: round(v["best"] * 1e3, 3) for k, v in r.items()},
                "speedup",
                round(r["torch"]["best"] / r["deltagrad"]["best"], 3),
            )
    s = deltagrad_step([4, 8, 3], 2)
    k = _count_op_calls(s)
    t0 = time.perf_counter()
    for _ in range(2000):
        s()
    dt = (time.perf_counter() - t0) / 2000
    py = _python_only_seconds(s)
    print(
        f"tiny step {dt * 1e6:.1f} us, {k} ops: {dt / k * 1e6:.2f} us/op in all, "
        f"{py / k * 1e6:.2f} us/op in deltagrad's Python layer"
    )
