"""Interleaved timing for speed claims: ours and the peer alternate (A B A B ...) in one process,
and each side keeps its best round, because interference on a shared machine only ever slows a
round down. Every benchmark in bench/ reports its ratio this way; the method itself lives in the
package (deltagrad.benchmark), which `deltagrad bench` uses too."""

import json
import os
import subprocess
import sys

from deltagrad.benchmark import SETTLE_SECONDS, interleaved, threads

__all__ = ["AVX2_ENV", "SETTLE_SECONDS", "interleaved", "on_each_path", "threads"]

# deltagrad and torch capped at AVX2 (the AVX2 path measured on an AVX-512 machine)
AVX2_ENV = {
    "DG_CPU_ISA": "avx2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def on_each_path(script: str, isas: list[str], child_args: list[str]) -> dict[str, dict]:
    """Run `script --child *child_args` in a fresh process per instruction-set path
    ("default", or "avx2": AVX2_ENV) and return {isa: the JSON the child printed after
    "JSON"}. A process each: the ISA is chosen when deltagrad and torch load."""
    out = {}
    for isa in isas:
        env = dict(os.environ)
        if isa == "avx2":
            env.update(AVX2_ENV)
        cmd = [sys.executable, os.path.abspath(script), "--child", *child_args]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out[isa] = json.loads(r.stdout.split("JSON", 1)[1])
    return out
