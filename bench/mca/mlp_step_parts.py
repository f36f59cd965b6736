"""Where the MLP training step of bench_train_step.py (784-512-512-10, ReLU, softmax-CE, batch
256, SGD momentum, float32) spends its time: the whole step by phase (forward, backward, the
optimizer), against its kernels alone on the same shapes (each fused linear forward and
backward, the SGD update) and the FMA peak of the core. The gap between the phases and the sum
of their kernels is what the graph, the loss and the operands' cache misses add.

    PYTHONPATH=python python bench/mca/mlp_step_parts.py [--threads 1] [--rounds 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import ops
from deltagrad.benchmark import nominal_peak_gflops, threads

SIZES = [784, 512, 512, 10]
BATCH = 256


def best_ms(fn, rounds: int) -> float:
    for _ in range(5):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def phases(rounds: int) -> dict[str, float]:
    """Best time of each phase of the step, ms."""
    dg.manual_seed(0)
    model = dg.nn.MLP(SIZES, activation="relu")
    opt = dg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((BATCH, SIZES[0])).astype(np.float32))
    y = rng.integers(0, SIZES[-1], BATCH)
    best = {"forward": np.inf, "backward": np.inf, "optimizer": np.inf, "step": np.inf}
    for _ in range(rounds):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        for key, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            best[key] = min(best[key], dt * 1e3)
    return best


def kernels(rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best time (ms) and GFLOP/s of each layer's fused forward and backward kernel alone."""
    rng = np.random.default_rng(0)
    acts = ["relu"] * (len(SIZES) - 2) + ["identity"]
    ws = [
        (rng.standard_normal((o, i)) * 0.05).astype(np.float32)
        for i, o in zip(SIZES[:-1], SIZES[1:])
    ]
    bs = [np.zeros(o, np.float32) for o in SIZES[1:]]
    h = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    ms, gflops, saved = {}, {}, []
    for i, act in enumerate(acts):
        y, z = ops.linear_forward(h, ws[i], bs[i], act, 0.0)
        ms[f"fwd{i}"] = best_ms(
            lambda i=i, h=h: ops.linear_forward(h, ws[i], bs[i], acts[i], 0.0), rounds
        )
        gflops[f"fwd{i}"] = 2 * BATCH * ws[i].size / ms[f"fwd{i}"] / 1e6
        saved.append((h, z if ops.saves_input(act) else y))
        h = y
    for i in reversed(range(len(acts))):
        h_in, s = saved[i]
        g = rng.standard_normal((BATCH, ws[i].shape[0])).astype(np.float32)
        need_dx = i > 0  # the input needs no gradient

        def run(i=i, h_in=h_in, s=s, g=g, need_dx=need_dx):
            ops.linear_backward(g, h_in, ws[i], s, acts[i], 0.0, need_dx=need_dx, has_bias=True)

        ms[f"bwd{i}"] = best_ms(run, rounds)
        gflops[f"bwd{i}"] = 2 * BATCH * ws[i].size * (2 if need_dx else 1) / ms[f"bwd{i}"] / 1e6
    return ms, gflops


def sgd_alone(rounds: int) -> float:
    dg.manual_seed(0)
    model = dg.nn.MLP(SIZES, activation="relu")
    opt = dg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    return best_ms(opt.step, rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    with threads(args.threads):
        peak = nominal_peak_gflops(dg.info()["cpu_isa"], args.threads)
        ph = phases(args.rounds)
        ms, gf = kernels(args.rounds)
        sgd = sgd_alone(args.rounds)
    print(f"{args.threads} thread(s), FMA peak {peak:.1f} GFLOP/s")
    for key in ms:
        print(f"  {key}: {ms[key]:.3f} ms, {gf[key]:.1f} GFLOP/s ({gf[key] / peak:.0%} of peak)")
    fwd = sum(v for k, v in ms.items() if k.startswith("fwd"))
    bwd = sum(v for k, v in ms.items() if k.startswith("bwd"))
    print(f"  forward  {ph['forward']:.3f} ms, its kernels alone {fwd:.3f}")
    print(f"  backward {ph['backward']:.3f} ms, its kernels alone {bwd:.3f}")
    print(f"  optimizer {ph['optimizer']:.3f} ms, the SGD update alone {sgd:.3f}")
    print(f"  step {ph['step']:.3f} ms, kernels alone {fwd + bwd + sgd:.3f}")


if __name__ == "__main__":
    main()
