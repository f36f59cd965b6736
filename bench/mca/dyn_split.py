"""2-thread matmul, the fixed split of C against the dynamic one (chunks handed out by atomic
counters), quiet and beside a process busy on one CPU; NumPy in the same rounds.

  PYTHONPATH=python python bench/mca/dyn_split.py [rounds] [case ...]

Median and best GFLOP/s per side, interleaved (bench/_timing.py). The neighbour is a Python
busy loop pinned to the last CPU of this process's mask.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _timing import interleaved, threads  # noqa: E402
from bench_matmul import make_case  # noqa: E402

from deltagrad import _cpu  # noqa: E402


def fixed_then(fn, dyn):
    def call():
        old = _cpu._set_gemm_dynamic(dyn)
        try:
            fn()
        finally:
            _cpu._set_gemm_dynamic(old)

    return call


def measure(names, rounds, label):
    for name in names:
        fns, flops = make_case(name)
        ours = fns["ours"]
        with threads(2):
            t = interleaved(
                {
                    "fixed": fixed_then(ours, False),
                    "dynamic": fixed_then(ours, True),
                    "numpy": fns["numpy"],
                },
                rounds=rounds,
            )
        cells = " ".join(
            f"{key} {flops / v['median'] / 1e9:5.0f}/{flops / v['best'] / 1e9:5.0f}"
            for key, v in t.items()
        )
        print(f"{label:5s} {name:11s} (median/best GFLOP/s) {cells}", flush=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    names = sys.argv[2:] or ["square256", "mlp_fwd", "mlp_dW", "mlp_dX", "square1024"]
    measure(names, rounds, "quiet")
    cpu = max(os.sched_getaffinity(0))
    busy = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"]
    )
    try:
        time.sleep(0.5)
        measure(names, rounds, "busy")
    finally:
        busy.kill()


if __name__ == "__main__":
    main()
