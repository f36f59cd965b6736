"""F.group_norm forward + backward through the graph (input, weight and bias gradients),
float32, against torch and against the composition it replaced in round 32 (layer_norm on an
(N, G, -1) view, then a per-channel affine: F._normalize_rows + F._channel_affine), timed
interleaved in one process (bench/_timing.py), best of rounds, 1 and 2 threads.

    PYTHONPATH=python python bench/mca/group_norm_step.py
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _timing import interleaved  # noqa: E402

import deltagrad as dg  # noqa: E402
import deltagrad.functional as F  # noqa: E402

CASES = [((16, 64, 32, 32), 32), ((8, 128, 16, 16), 32), ((16, 64, 32, 32), 64)]


def _case(shape: tuple[int, ...], g: int, rng: np.random.Generator) -> dict:
    """The three sides of one case: fused (F.group_norm), composed, torch."""
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.uniform(0.5, 2, shape[1]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    dgdy, tdy = dg.from_numpy(dy), torch.from_numpy(dy)
    n, c = shape[:2]
    k = (c // g) * math.prod(shape[2:])

    def leaves():
        return [dg.from_numpy(a).requires_grad_() for a in (x, w, b)]

    def fused():
        xt, wt, bt = leaves()
        F.group_norm(xt, g, wt, bt).backward(dgdy)

    def composed():
        xt, wt, bt = leaves()
        F._channel_affine(F._normalize_rows(xt, (n, g), k, 1e-5), wt, bt).backward(dgdy)

    def peer():
        xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        torch.nn.functional.group_norm(xt, g, wt, bt).backward(tdy)

    return {"fused": fused, "composed": composed, "torch": peer}


def main() -> None:
    rng = np.random.default_rng(0)
    for shape, g in CASES:
        fns = _case(shape, g, rng)
        for nt in (1, 2):
            dg.set_num_threads(nt)
            torch.set_num_threads(nt)
            t = interleaved(fns, rounds=11)
            f, cm, tt = (t[key]["best"] for key in ("fused", "composed", "torch"))
            print(
                f"{shape} G{g} {nt}t: fused {f * 1e3:.2f} ms, composed {cm * 1e3:.2f} ms, "
                f"torch {tt * 1e3:.2f} ms; torch/fused {tt / f:.2f}, composed/fused {cm / f:.2f}"
            )


if __name__ == "__main__":
    main()
