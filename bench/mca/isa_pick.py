"""Our kernels on this CPU's two vector paths, in one process: each case timed with the active
ISA set to avx512 and to avx2, interleaved (bench/_timing.py), best of ROUNDS per side.

  PYTHONPATH=python python bench/mca/isa_pick.py [rounds] [threads ...]

Prints, per case and thread count, best ms on each path and avx512 time / avx2 time (> 1: the
AVX2 kernels are faster here). The dispatch picks one path per CPU (csrc/common/cpu_isa.cpp);
this is how to check that choice on a new core (round 20, docs/BENCHMARKS.md).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _timing import interleaved, threads  # noqa: E402
from bench_conv import _fns as conv_fns  # noqa: E402
from bench_matmul import make_case  # noqa: E402
from bench_norm import _cases as norm_cases  # noqa: E402
from bench_pool import _case as pool_case  # noqa: E402
from bench_train_step import deltagrad_step  # noqa: E402

from deltagrad import _cpu, ops  # noqa: E402


def on(isa, fn):
    def call():
        old = _cpu.set_active_isa(isa)
        try:
            fn()
        finally:
            _cpu.set_active_isa(old)

    return call


def cases():
    out = {}
    for name in ["square64", "square256", "square1024", "mlp_fwd", "mlp_dW", "mlp_dX", "bmm64"]:
        out[f"mm {name}"] = make_case(name)[0]["ours"]
    for name in ["n32c32_32x32_o64", "n8c64_56x56_o64", "n8c256_14x14_o256"]:
        out[f"conv {name}"] = conv_fns(name)["ours"]
    rng = np.random.default_rng(0)
    for n, tag in [(1 << 18, "262K"), (1 << 24, "16M")]:
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        y = np.empty_like(x)
        for act in ["relu", "gelu", "sigmoid", "silu", "tanh"]:
            out[f"act {act} {tag}"] = lambda x=x, y=y, act=act: ops.activation(x, act, out=y)
    for case in ["bn_forward", "bn_backward", "ln_forward", "ln_backward"]:
        out[f"norm {case}"] = norm_cases(case, False)[1]
    for op in ["max", "avg", "adaptive"]:
        for d in ["forward", "backward"]:
            out[f"pool {op} {d}"] = pool_case(op, d, (16, 64, 128, 128))[0]
    out["mlp step"] = deltagrad_step()
    return out


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    nts = [int(a) for a in sys.argv[2:]] or [1, 2]
    fns = cases()
    for nt in nts:
        for name, fn in fns.items():
            with threads(nt):
                t = interleaved({"avx512": on("avx512", fn), "avx2": on("avx2", fn)}, rounds=rounds)
            a, b = t["avx512"]["best"], t["avx2"]["best"]
            print(
                f"{nt}t {name:28s} avx512 {a * 1e3:8.3f} ms  avx2 {b * 1e3:8.3f} ms  "
                f"avx512/avx2 {a / b:5.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
