"""A/B of two builds' streaming passes (16M float32, non-temporal stores) with the output placed
at chosen byte offsets modulo 4 KiB from the inputs (issue 18, round 26: 4K aliasing between
the loads of an input and the stores just made to an output a little past it; kernel_common.h
`stream_downward`). Both builds write the same arrays; bits checked equal.

  PYTHONPATH=python python bench/mca/ab_place.py A/_cpu*.so B/_cpu*.so THREADS ROUNDS
      [OUT_OFFSET ...] [-- case ...]

Offsets: the output's, in bytes past the inputs' page offset (default 2048 64 4032). Cases:
sigmoid relu identity relu_bwd bn_forward bn_backward ln_forward ln_backward (default: all).
Prints best-of-ROUNDS ms per call, A's and B's, and A/B (> 1: B faster)."""

import sys
import time

import numpy as np
from _two_builds import load_build

PAGE = 4096
N = 16 << 20
CASES = [
    "sigmoid",
    "relu",
    "identity",
    "relu_bwd",
    "bn_forward",
    "bn_backward",
    "ln_forward",
    "ln_backward",
]


def placed(values, offset):
    raw = np.empty(values.nbytes + 2 * PAGE, np.uint8)
    start = (offset - raw.ctypes.data) % PAGE
    a = raw[start : start + values.nbytes].view(values.dtype).reshape(values.shape)
    a[...] = values
    return a


def fns(mod, case, x, dy, out, w, b, saved):
    if case in ("sigmoid", "relu", "identity"):
        return lambda: mod._fast_activation(x, case, 0.0, out)
    if case == "relu_bwd":
        return lambda: mod._fast_activation_backward(dy, x, "relu", 0.0, out)
    if case == "bn_forward":
        return lambda: mod.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5, out)
    if case == "bn_backward":
        _, mean, invstd = saved
        return lambda: mod.batch_norm_backward(dy, x, w, mean, invstd, True, True, True, True, out)
    if case == "ln_forward":
        return lambda: mod.layer_norm_forward(x, 1, w, b, 1e-5, out)
    _, mean, rstd = saved
    return lambda: mod.layer_norm_backward(dy, x, 1, w, mean, rstd, True, True, True, out)


def main():
    args = sys.argv[1:]
    cases = CASES
    if "--" in args:
        k = args.index("--")
        args, cases = args[:k], args[k + 1 :]
    nt, rounds = int(args[2]), int(args[3])
    offsets = [int(v) for v in args[4:]] or [2048, 64, 4032]
    a, b = load_build(args[0], "a", nt), load_build(args[1], "b", nt)
    rng = np.random.default_rng(0)
    for case in cases:
        shape = (16, 64, 128, 128) if case.startswith("bn") else (4096, 4096)
        feat = shape[1] if case.startswith("bn") else shape[-1]
        x0 = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        dy0 = rng.standard_normal(shape).astype(np.float32)
        w = rng.uniform(0.5, 2, feat).astype(np.float32)
        bb = rng.standard_normal(feat).astype(np.float32)
        x, dy = placed(x0, 0), placed(dy0, 0)
        saved = None
        if case.startswith("bn"):
            saved = a.batch_norm_forward(x, w, bb, None, None, True, 0.1, 1e-5, None)
        elif case.startswith("ln"):
            saved = a.layer_norm_forward(x, 1, w, bb, 1e-5, None)
        for off in offsets:
            out = placed(np.zeros(shape, np.float32), off)
            fa, fb = fns(a, case, x, dy, out, w, bb, saved), fns(b, case, x, dy, out, w, bb, saved)
            fa()
            ra = out.copy()
            fb()
            same = np.array_equal(ra.view(np.uint32), out.view(np.uint32))
            t = {"A": [], "B": []}
            for r in range(rounds):
                for k in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    f = fa if k == "A" else fb
                    t0 = time.perf_counter()
                    f()
                    t[k].append(time.perf_counter() - t0)
            ta, tb = min(t["A"]), min(t["B"])
            print(
                f"{case:12s} {nt}t out+{off:<5d} A={ta * 1e3:6.2f} B={tb * 1e3:6.2f} ms "
                f"A/B={ta / tb:.3f} bits_equal={same}",
                flush=True,
            )


if __name__ == "__main__":
    main()
