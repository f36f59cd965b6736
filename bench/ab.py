"""A/B benchmark: a baseline commit against the working tree, interleaved in one run.

    python bench/ab.py --baseline <commit> [--rounds N] [--threads 1 2] [--filter SUB]
                       [--quick] [--json out.json] [selector ...]
    python bench/ab.py --baseline-venv DIR --current-venv DIR [--path avx512] [selector ...]
    python bench/ab.py --report a.json b.json ...     # one table from several runs' --json

bench/ab_release.sh drives it for a release check: two prebuilt venvs, every group in pieces,
one merged table.

Absolute timings from another day mean nothing on a shared machine (+-30%); a claim such as
"no regression" is made only from an A/B run like this one. What it does:

1. Builds a wheel of the baseline commit (`git archive` into a temporary folder) and one of the
   working tree (its build inputs: tracked files as they are on disk, plus untracked files git
   does not ignore, less bench/, tests/, docs/ and the like),
   each with `pip wheel --no-deps -Ccmake.define.WITH_CUDA=OFF` (the A/B compares the CPU
   kernels; leaving the CUDA module out halves the build), and installs each into its own venv.
   Both are cached under .ab-cache/ (git-ignored): the baseline by its commit hash, the tree by
   a hash of HEAD and the files' contents, so a second run builds nothing.
2. Starts one long-lived worker process per venv (this file, `--worker`, run with `python -I`
   from a temporary folder, so it imports the venv's deltagrad and never the source tree) and
   drives both over pipes. For each case and thread count, for each round, the two sides run
   one after the other (A B, then B A: the order alternates), each round timing the case's
   callable best-of-k after 0.2 s of idle (OpenBLAS/OpenMP thread pools park) with the same
   number of calls per timing on both sides. Each side keeps its best round: interference on a
   shared machine only ever slows a round down.
3. Prints one row per case: baseline and current time per call, the ratio current/baseline,
   each side's run-to-run spread ((second-best round - best round) / best round) and a verdict:
   "slower beyond spread" when current/baseline - 1 exceeds the tolerance (the larger spread of
   the two sides, at least --floor) and the per-round ratios confirm it (a 99% bootstrap
   interval of their median lies above 1: a quiet moment that only one side caught moves the
   best rounds but not the pairs), "faster" for the mirror case, "within spread" otherwise.
   A verdict other than "within spread" is re-checked by up to --confirm more passes (fresh
   setup in fresh worker processes, rounds pooled): noise shrinks as the best rounds converge,
   a real difference stays, and a state of one long-lived worker (its memory placement: seen
   to flag a kernel that did not change) does not carry into the re-check.
   A row whose tolerance exceeds --noise-cap (10%) is "noisy" instead of "within spread" (a
   spread that wide proves nothing either way) and is re-checked the same way.
   A case that one side's deltagrad cannot run (an op that commit does not have) gets an n/a
   row that names the missing function.

The cases mirror bench/bench_matmul.py, bench_ops.py, bench_train_step.py, bench_conv.py,
bench_pool.py and bench_norm.py (deltagrad's side of each; the peers NumPy/torch are not timed
here), written against deltagrad's public API only (dg.ops.*, dg.nn, dg.optim, dg.functional,
dg.set_num_threads), because the modules behind it move between commits. Selectors (positional)
pick groups or cases by name: a group (`matmul`, `ops`, `train_step`, `conv`, `pool`, `norm`, or
its file: `bench_ops.py`, `bench/bench_ops.py`), a whole case name (`matmul/square256`,
`train_step/mlp_784_512_512_10_b256`), or the start of one (`ops/activation_gelu`); --filter
keeps the cases whose name contains the substring. --threads takes counts (`--threads 1 2` or
`--threads 1,2`); a word after them that is not a count is a selector, so `--threads 1 matmul`
means what it says.

--path avx512 (or avx2) measures one instruction-set path and checks it: the workers get the
environment of deltagrad.benchmark's PATH_ENV (avx512: the path variables removed, each library
on its own choice; avx2: DG_CPU_ISA=avx2 and the peers' caps), and each worker's deltagrad must
report that ISA, or the run stops before timing anything.

Needs git, a C++ toolchain, CMake and network access to PyPI (the venvs install numpy at the
coordinator's version and tqdm). With scikit-build-core and pybind11 importable here, wheels are
built without build isolation (the same build tools for both sides; --isolated-build to change).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

SETTLE_SECONDS = 0.2
BOOTSTRAP = 2000  # resamples for the interval of the paired ratio
NOISE_CAP = 0.10  # a row whose tolerance (its larger spread) exceeds this is "noisy"

# --------------------------------------------------------------------------------------------
# the cases: builders run inside a worker; each returns a zero-argument callable to time


def _rng():
    import numpy as np

    return np.random.default_rng(0)


# name: (m, n, k, trans_a, trans_b), as bench/bench_matmul.py's CASES
MATMUL = {
    "square64": (64, 64, 64, False, False),
    "square256": (256, 256, 256, False, False),
    "square1024": (1024, 1024, 1024, False, False),
    "square2048": (2048, 2048, 2048, False, False),
    "mlp_fwd": (256, 512, 784, False, True),
    "mlp_out": (256, 10, 512, False, True),
    "mlp_dW": (512, 784, 256, True, False),
    "mlp_dX": (256, 784, 512, False, False),
    "tall4096": (4096, 1024, 1024, False, False),
}
ACTIVATIONS = ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "softplus", "silu"]
N_ACT = 16 * 1024 * 1024


def _matmul(m, n, k, ta, tb) -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    rng = _rng()
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return lambda: dg.ops.matmul(a, b, trans_a=ta, trans_b=tb)


def _activation(act: str) -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    x = (_rng().standard_normal(N_ACT) * 3).astype(np.float32)
    y = np.empty_like(x)
    return lambda: dg.ops.activation(x, act, out=y)


def _softmax_xent() -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    rng = _rng()
    z = (rng.standard_normal((256, 1000)) * 3).astype(np.float32)
    t = rng.integers(0, 1000, 256)
    return lambda: dg.ops.softmax_cross_entropy(z, t, "mean")


def _linear(backward: bool) -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    rng = _rng()
    x = rng.standard_normal((256, 784)).astype(np.float32)
    w = (rng.standard_normal((512, 784)) * 0.05).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)
    if not backward:
        return lambda: dg.ops.linear_forward(x, w, b, "relu")
    y, z = dg.ops.linear_forward(x, w, b, "relu")
    saved = z if dg.ops.saves_input("relu") else y
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return lambda: dg.ops.linear_backward(dy, x, w, saved, "relu")


def _optimizer(kind: str) -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    rng = _rng()
    n = 4 * 1024 * 1024  # 16 MiB per float32 array: from memory, as a big layer's update
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    if kind == "sgd":
        buf = np.zeros_like(p)
        return lambda: dg.ops.sgd_update(p, g, buf, lr=1e-3, momentum=0.9)
    m, v = np.zeros_like(p), np.zeros_like(p)
    return lambda: dg.ops.adam_update(p, g, m, v, step=1, lr=1e-3)


def _train_step(sizes: list[int], batch: int, adam: bool = False) -> Callable[[], object]:
    """One step of an MLP as bench/bench_train_step.py's deltagrad_step: forward, softmax
    cross-entropy (or, with one output, BCE with logits), backward, SGD with momentum (or
    Adam)."""
    import numpy as np

    import deltagrad as dg
    import deltagrad.functional as F

    dg.manual_seed(0)
    model = dg.nn.MLP(sizes, activation="relu")
    params = model.parameters()
    opt = dg.optim.Adam(params, lr=1e-3) if adam else dg.optim.SGD(params, lr=1e-3, momentum=0.9)
    rng = _rng()
    x = dg.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    if sizes[-1] == 1:
        t = rng.integers(0, 2, (batch, 1)).astype(np.float32)

        def loss_fn(out):
            return F.binary_cross_entropy_with_logits(out, t)
    else:
        y = rng.integers(0, sizes[-1], batch)

        def loss_fn(out):
            return F.cross_entropy(out, y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x))
        loss.backward()
        opt.step()
        return loss

    return step


# name: (N, C, H, W, O), as bench/bench_conv.py's SHAPES (3x3 kernels, padding 1)
CONV = {
    "n64c1_8x8_o16": (64, 1, 8, 8, 16),
    "n64c16_8x8_o32": (64, 16, 8, 8, 32),
    "n32c3_32x32_o32": (32, 3, 32, 32, 32),
    "n32c32_32x32_o64": (32, 32, 32, 32, 64),
    "n8c64_56x56_o64": (8, 64, 56, 56, 64),
}
CONV_S2 = {  # ResNet-20's downsampling 3x3 convs (bench_cnn.py)
    "n32c16_32x32_o32_s2": (32, 16, 32, 32, 32, 2),
    "n32c32_16x16_o64_s2": (32, 32, 16, 16, 64, 2),
}
N_ACT_SMALL = 1 << 18  # bench_ops.py's in-cache size (262K)
POOL_SHAPE = (16, 64, 128, 128)  # bench_pool.py's SHAPE, 16M
BN_SHAPE, LN_SHAPE = (16, 64, 128, 128), (4096, 4096)  # bench_norm.py's, 16M each
BN_SHAPE_F, LN_SHAPE_F = (16, 64, 32, 32), (1024, 1024)  # the functional cases, 1M each


def _need(obj: object, name: str, where: str) -> Callable:
    """obj.name, or NotImplementedError naming it: the case's row says which side lacks it."""
    fn = getattr(obj, name, None)
    if fn is None:
        raise NotImplementedError(f"this deltagrad has no {where}.{name}")
    return fn


def _activation_small(act: str) -> Callable[[], object]:
    import numpy as np

    import deltagrad as dg

    x = (_rng().standard_normal(N_ACT_SMALL) * 3).astype(np.float32)
    y = np.empty_like(x)
    return lambda: dg.ops.activation(x, act, out=y)


def _conv(n: int, c: int, h: int, w: int, o: int, stride: int = 1) -> Callable[[], object]:
    """bench_conv.py's "ours" (stride 2: bench_cnn.py's strided cases): F.conv2d, 3x3, padding
    1, forward and backward (dx, dw, db) through autograd."""
    import numpy as np

    import deltagrad as dg
    import deltagrad.functional as F

    conv2d = _need(F, "conv2d", "functional")
    rng = _rng()
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    gy = dg.tensor(rng.standard_normal((n, o, ho, wo)).astype(np.float32))
    tx, tw, tb = (dg.tensor(a, requires_grad=True) for a in (x, wt, b))

    def step():
        tx.grad = tw.grad = tb.grad = None
        conv2d(tx, tw, tb, stride, 1).backward(gy)

    return step


def _pool(op: str, direction: str) -> Callable[[], object]:
    """bench_pool.py's "ours": one pooling pass at 16M elements into preallocated outputs."""
    import numpy as np

    import deltagrad as dg

    name = {"max": "max_pool2d", "avg": "avg_pool2d", "adaptive": "adaptive_avg_pool2d"}[op]
    fwd = _need(dg.ops, name, "ops")  # before the 16M arrays: a baseline without it fails fast
    bwd = _need(dg.ops, name + "_backward", "ops") if direction == "backward" else None
    shape = POOL_SHAPE
    rng = _rng()
    x = rng.standard_normal(shape, dtype=np.float32)
    dx = np.empty_like(x)
    if op == "max":
        y, idx = fwd(x, 2, return_indices=True)
        yo, io = np.empty_like(y), np.empty_like(idx)
        dy = rng.standard_normal(y.shape, dtype=np.float32)
        if bwd is None:
            return lambda: fwd(x, 2, return_indices=True, out=yo, indices_out=io)
        return lambda: bwd(dy, idx, shape, 2, out=dx)
    size = 2 if op == "avg" else 1  # avg: 2x2 / 2; adaptive: to 1x1
    y = fwd(x, size)
    yo = np.empty_like(y)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    if bwd is None:
        return lambda: fwd(x, size, out=yo)
    if op == "avg":
        return lambda: bwd(dy, shape, 2, out=dx)
    return lambda: bwd(dy, shape, out=dx)


def _norm(case: str) -> Callable[[], object]:
    """bench_norm.py's "ours": the fused kernels at 16M elements, outputs preallocated."""
    import numpy as np

    import deltagrad as dg

    ops = dg.ops
    bn = case.startswith("batch")
    _need(ops, f"{case.rsplit('_', 1)[0]}_forward", "ops")  # before the 16M arrays
    rng = _rng()
    shape = BN_SHAPE if bn else LN_SHAPE
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    feat = shape[1] if bn else shape[-1]
    w = rng.uniform(0.5, 2, feat).astype(np.float32)
    b = rng.standard_normal(feat).astype(np.float32)
    if bn:
        fwd = _need(ops, "batch_norm_forward", "ops")
        if case.endswith("forward"):
            return lambda: fwd(x, w, b, training=True, out=out)
        bwd = _need(ops, "batch_norm_backward", "ops")
        _, mean, invstd = fwd(x, w, b, training=True)
        return lambda: bwd(dy, x, w, mean, invstd, training=True, out=out)
    fwd = _need(ops, "layer_norm_forward", "ops")
    if case.endswith("forward"):
        return lambda: fwd(x, (feat,), w, b, out=out)
    bwd = _need(ops, "layer_norm_backward", "ops")
    _, mean, rstd = fwd(x, (feat,), w, b)
    return lambda: bwd(dy, x, (feat,), w, mean, rstd, out=out)


def _norm_functional(kind: str) -> Callable[[], object]:
    """F.batch_norm (training, 4-D) or F.layer_norm forward and backward through autograd, at
    1M elements: the layer a model calls, present in every commit since issue 14 (the fused
    kernels behind it came with issue 17), so it compares against older baselines too."""
    import numpy as np

    import deltagrad as dg
    import deltagrad.functional as F

    rng = _rng()
    bn = kind == "batch"
    shape = BN_SHAPE_F if bn else LN_SHAPE_F
    feat = shape[1] if bn else shape[-1]
    x = dg.tensor((rng.standard_normal(shape) * 2 + 1).astype(np.float32), requires_grad=True)
    w = dg.tensor(rng.uniform(0.5, 2, feat).astype(np.float32), requires_grad=True)
    b = dg.tensor(rng.standard_normal(feat).astype(np.float32), requires_grad=True)
    gy = dg.tensor(rng.standard_normal(shape).astype(np.float32))
    fn = _need(F, "batch_norm" if bn else "layer_norm", "functional")

    def step():
        x.grad = w.grad = b.grad = None
        y = fn(x, None, None, w, b, training=True) if bn else fn(x, (feat,), w, b)
        y.backward(gy)

    return step


def _registry() -> dict[str, Callable[[], Callable[[], object]]]:
    cases: dict[str, Callable[[], Callable[[], object]]] = {}
    for name, shape in MATMUL.items():
        cases[f"matmul/{name}"] = lambda s=shape: _matmul(*s)
    for act in ACTIVATIONS:
        cases[f"ops/activation_{act}_16m"] = lambda a=act: _activation(a)
    for act in ACTIVATIONS:
        cases[f"ops/activation_{act}_262k"] = lambda a=act: _activation_small(a)
    cases["ops/softmax_cross_entropy_256x1000"] = _softmax_xent
    cases["ops/linear_forward_relu_256x784x512"] = lambda: _linear(False)
    cases["ops/linear_backward_relu_256x784x512"] = lambda: _linear(True)
    cases["ops/sgd_update_momentum_4m"] = lambda: _optimizer("sgd")
    cases["ops/adam_update_4m"] = lambda: _optimizer("adam")
    cases["train_step/mlp_784_512_512_10_b256"] = lambda: _train_step([784, 512, 512, 10], 256)
    cases["train_step/tiny_mlp_4_8_3_b2"] = lambda: _train_step([4, 8, 3], 2)
    cases["train_step/mlp_30_64_32_1_b32_adam"] = lambda: _train_step([30, 64, 32, 1], 32, True)
    for name, shape in {**CONV, **CONV_S2}.items():
        cases[f"conv/conv2d_fwd_bwd_{name}"] = lambda s=shape: _conv(*s)
    for op in ("max", "avg", "adaptive_avg"):
        for direction in ("forward", "backward"):
            cases[f"pool/{op}_pool2d_{direction}_16m"] = lambda o=op, d=direction: _pool(
                o.removesuffix("_avg"), d
            )
    for op in ("batch_norm", "layer_norm"):
        for direction in ("forward", "backward"):
            cases[f"norm/{op}_{direction}_16m"] = lambda c=f"{op}_{direction}": _norm(c)
    cases["norm/F_batch_norm2d_fwd_bwd_1m"] = lambda: _norm_functional("batch")
    cases["norm/F_layer_norm_fwd_bwd_1m"] = lambda: _norm_functional("layer")
    return cases


CASES = _registry()

# --------------------------------------------------------------------------------------------
# the worker: one per venv, driven over stdin/stdout with one JSON object per line


def _worker() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed (Python or C) goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    fn: Callable[[], object] | None = None

    # deltagrad.benchmark._calibrate's method, written out here: the worker runs against any
    # commit's installed deltagrad, and uses only the public API of it.
    def calibrate(min_time: float) -> int:
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = time.perf_counter() - t0
            if dt >= min_time or n >= 1 << 20:
                return n
            n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.2))

    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "hello":
                import numpy as np

                import deltagrad as dg

                from_cpu = getattr(getattr(dg, "_cpu", None), "__version__", None)
                res = {
                    "version": dg.__version__,
                    "cpu_version": from_cpu,
                    "file": dg.__file__,
                    "isa": dg.info().get("cpu_isa"),
                    "numpy": np.__version__,
                    "python": sys.executable,
                }
            elif cmd == "setup":
                import deltagrad as dg

                fn = None
                gc.collect()
                dg.set_num_threads(int(req["threads"]))
                fn = CASES[req["case"]]()
                for _ in range(2):  # warm up caches, thread pools, packing buffers
                    fn()
                res = {"reps": calibrate(float(req["min_time"]))}
            elif cmd == "time":
                reps, k = int(req["reps"]), int(req["k"])
                gc.collect()
                time.sleep(float(req["settle"]))
                times = []
                gc.disable()
                try:
                    for _ in range(k):
                        t0 = time.perf_counter()
                        for _ in range(reps):
                            fn()
                        times.append((time.perf_counter() - t0) / reps)
                finally:
                    gc.enable()
                res = {"best": min(times), "times": times}
            elif cmd == "drop":
                fn = None
                gc.collect()
                res = {}
            elif cmd == "quit":
                proto.write(json.dumps({"ok": True}) + "\n")
                return 0
            else:
                raise ValueError(f"unknown command {cmd!r}")
            proto.write(json.dumps({"ok": True, **res}) + "\n")
        except Exception as e:  # reported to the coordinator, which marks the case n/a
            proto.write(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
    return 0


# The environment of each instruction-set path (deltagrad.benchmark.PATH_ENV, written out: the
# coordinator does not import deltagrad). "avx512": every path variable removed, each library
# on its own choice; "avx2": all held to AVX2.
PATH_ENV = {
    "avx512": {},
    "avx2": {
        "DG_CPU_ISA": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
}
PATH_VARS = ("OPENBLAS_L2_SIZE", *PATH_ENV["avx2"])


def worker_env(path: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """A worker's environment: `base` (os.environ) less PYTHON* (the worker imports its venv's
    deltagrad, never a PYTHONPATH's), and for a path its variables set or cleared."""
    env = dict(os.environ if base is None else base)
    env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    if path is not None:
        env = {k: v for k, v in env.items() if k not in PATH_VARS}
        env.update(PATH_ENV[path])
    return env


class Worker:
    def __init__(self, label: str, python: str, workdir: str, path: str | None = None):
        env = worker_env(path)
        self.label = label
        self.proc = subprocess.Popen(
            [python, "-I", os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=workdir,
            env=env,
            text=True,
            bufsize=1,
        )

    def call(self, cmd: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label} worker died (rc={self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.call("quit")
        except (RuntimeError, BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=30)


# --------------------------------------------------------------------------------------------
# builds: a wheel per source state, installed into its own venv, cached under .ab-cache/


def _git(root: str, *args: str, binary: bool = False):
    out = subprocess.run(["git", "-C", root, *args], check=True, capture_output=True).stdout
    return out if binary else out.decode().strip()


# Paths of the tree that the wheel does not contain nor its build read: editing them (this file
# included) does not make the working tree's side rebuild.
NOT_BUILT = ("bench/", "tests/", "docs/", "examples/", "dev/", ".ci/", ".github/", "CHANGELOG.md")
NOT_BUILT += (".pre-commit-config.yaml", ".gitignore", ".clang-format")


def _tree_files(root: str, cache: str) -> list[str]:
    """The working tree's build inputs: tracked files as on disk, untracked ones not ignored."""
    out = _git(root, "ls-files", "-z", "-co", "--exclude-standard", binary=True)
    paths = sorted(p for p in out.decode().split("\0") if p)
    skip = (os.path.relpath(cache, root) + os.sep, *NOT_BUILT)  # the cache, if not ignored
    return [
        p
        for p in paths
        if not p.startswith(skip) and os.path.isfile(os.path.join(root, p))  # deleted: left out
    ]


def _tree_key(root: str, files: list[str]) -> str:
    h = hashlib.sha256()  # the contents alone: a commit touching only bench/ rebuilds nothing
    for p in files:
        h.update(b"\0" + p.encode() + b"\0")
        with open(os.path.join(root, p), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _prepare(root: str, cache: str, key: str, fill_src: Callable[[str], None], args) -> str:
    """The venv python for one source state: build + install unless cached."""
    d = os.path.join(cache, key)
    venv_py = os.path.join(d, "venv", "bin", "python")
    if os.path.exists(os.path.join(d, "ready")):
        _log(f"[ab] {key}: cached ({d})")
        return venv_py
    os.makedirs(d, exist_ok=True)
    wheel_dir = os.path.join(d, "wheel")
    wheels = (
        [f for f in os.listdir(wheel_dir) if f.endswith(".whl")] if os.path.isdir(wheel_dir) else []
    )
    if not wheels:
        shutil.rmtree(wheel_dir, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix="src-") as src:
            fill_src(src)
            cmd = [sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-w", wheel_dir]
            cmd += ["-Ccmake.define.WITH_CUDA=OFF"]
            if not args.isolated_build:
                cmd.append("--no-build-isolation")
            _log(f"[ab] {key}: building a wheel (log: {d}/build.log) ...")
            t0 = time.time()
            with open(os.path.join(d, "build.log"), "w") as logf:
                rc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                raise SystemExit(f"[ab] {key}: the build failed, see {d}/build.log")
            _log(f"[ab] {key}: built in {time.time() - t0:.0f} s")
        wheels = [f for f in os.listdir(wheel_dir) if f.endswith(".whl")]
    import numpy as np

    shutil.rmtree(os.path.join(d, "venv"), ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", os.path.join(d, "venv")], check=True)
    _log(f"[ab] {key}: installing {wheels[0]} into {d}/venv")
    subprocess.run(
        [venv_py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + [os.path.join(wheel_dir, wheels[0]), f"numpy=={np.__version__}"],
        check=True,
    )
    open(os.path.join(d, "ready"), "w").close()
    return venv_py


def _extract_commit(root: str, commit: str) -> Callable[[str], None]:
    def fill(dst: str) -> None:
        archive = subprocess.Popen(
            ["git", "-C", root, "archive", "--format=tar", commit], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", dst], stdin=archive.stdout, check=True)
        archive.stdout.close()
        if archive.wait() != 0:
            raise SystemExit(f"[ab] git archive {commit} failed")

    return fill


def export_tree(root: str, dst: str) -> tuple[int, int]:
    """Make dst hold the working tree's build inputs (_tree_files) and nothing else, writing
    only the files whose contents differ: an unchanged file keeps its old mtime, so a build
    folder kept for dst rebuilds exactly what changed (bench/ab_release.sh). Returns (written,
    removed)."""
    files = _tree_files(root, os.path.join(root, ".ab-cache"))
    keep = set(files)
    written = removed = 0
    for p in files:
        src, out = os.path.join(root, p), os.path.join(dst, p)
        with open(src, "rb") as f:
            data = f.read()
        try:
            with open(out, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        shutil.copymode(src, out)
        written += 1
    for d, _, names in os.walk(dst):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), dst)
            if rel not in keep:
                os.remove(os.path.join(d, n))
                removed += 1
    return written, removed


def _copy_tree(root: str, files: list[str]) -> Callable[[str], None]:
    def fill(dst: str) -> None:
        for p in files:
            os.makedirs(os.path.dirname(os.path.join(dst, p)), exist_ok=True)
            shutil.copy2(os.path.join(root, p), os.path.join(dst, p))

    return fill


# --------------------------------------------------------------------------------------------
# the coordinator


def _groups() -> list[str]:
    return list(dict.fromkeys(n.split("/")[0] for n in CASES))


def _normalize(selector: str) -> str:
    """A selector as a case-name prefix: a bench file (`bench/bench_ops.py`, `bench_ops.py`,
    `bench_ops`) becomes its group (`ops`); a case name keeps its group (`train_step/...`)."""
    s = selector.strip().rstrip("/")
    if s.endswith(".py"):
        return os.path.basename(s).removesuffix(".py").removeprefix("bench_")
    if "/" not in s:
        return s.removeprefix("bench_")
    return s


def _select(selectors: list[str], substr: str | None, names: list[str] | None = None) -> list[str]:
    """The cases to run, in the order the selectors name them (each case once). A selector that
    is a whole case name picks that case alone, a group name its group, anything else every case
    whose name starts with it."""
    names = list(CASES) if names is None else list(names)
    if selectors:
        keep: list[str] = []
        for sel in selectors:
            s = _normalize(sel)
            hits = [n for n in names if n == s]
            if not hits:
                hits = [n for n in names if n.split("/")[0] == s or n.startswith(s)]
            if not hits:
                raise SystemExit(
                    f"[ab] no case matches {sel!r}; groups: {', '.join(_groups())} "
                    "(--list shows every case)"
                )
            keep += [n for n in hits if n not in keep]
        names = keep
    if substr:
        names = [n for n in names if substr in n]
    return names


def _split_threads(values: list[str] | None) -> tuple[list[int], list[str]]:
    """--threads' words: thread counts ("1", "2" or "1,2") and, after them, selectors that
    argparse's nargs='+' took along (`--threads 1 matmul`). Returns (counts, selectors)."""
    counts: list[int] = []
    words: list[str] = []
    for v in values or []:
        pieces = [x for x in v.split(",") if x]
        if pieces and all(x.isdigit() for x in pieces):
            for x in pieces:
                if int(x) < 1:
                    raise SystemExit(f"[ab] --threads: expected counts >= 1, got {v!r}")
                if int(x) not in counts:
                    counts.append(int(x))
        else:
            words.append(v)
    if values is not None and not counts:
        raise SystemExit(f"[ab] --threads: expected thread counts (1 2, or 1,2), got {values}")
    return counts or [1, 2], words


def _fmt_time(s: float) -> str:
    if s != s:  # nan
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _spread(rounds: list[float]) -> float:
    r = sorted(rounds)
    return (r[1] - r[0]) / r[0] if len(r) > 1 else float("nan")


def _paired(base: list[float], cur: list[float]) -> tuple[float, float, float]:
    """The median of the per-round ratios current/baseline (the two timings of a round are
    neighbours in time, so a slow swing of the machine's load cancels out) and a 99% bootstrap
    interval of that median: (median, low, high)."""
    import random
    import statistics

    logs = [math.log(c / b) for b, c in zip(base, cur)]
    rnd = random.Random(0)
    meds = sorted(statistics.median(rnd.choices(logs, k=len(logs))) for _ in range(BOOTSTRAP))
    lo, hi = meds[int(0.005 * BOOTSTRAP)], meds[int(0.995 * BOOTSTRAP) - 1]
    return math.exp(statistics.median(logs)), math.exp(lo), math.exp(hi)


def _verdict(ratio: float, tol: float, paired: tuple[float, float, float]) -> str:
    """Slower (faster) only when the best rounds differ by more than the tolerance AND the
    paired ratios' interval lies wholly above (below) 1: a lucky quiet moment on one side moves
    the best rounds, not the median of the pairs."""
    _, lo, hi = paired
    if ratio - 1 > tol and lo > 1:
        return "slower beyond spread"
    if 1 - ratio > tol and hi < 1:
        return "faster"
    return "within spread"


class Sides:
    """The two worker processes (baseline first), started together; restart() replaces both
    with fresh processes (a confirming pass, or after a worker died)."""

    def __init__(self, pythons: dict[str, str], workdir: str, path: str | None):
        self.pythons, self.workdir, self.path = pythons, workdir, path
        self.workers: dict[str, Worker] = {}
        self.hello: dict[str, dict] = {}
        self.start(log=True)

    def start(self, log: bool = False) -> None:
        self.workers = {}
        try:
            for label, py in self.pythons.items():
                self.workers[label] = Worker(label, py, self.workdir, self.path)
                h = self.workers[label].call("hello")
                if not h.get("ok"):
                    raise SystemExit(f"[ab] {label}: import failed: {h.get('error')}")
                venv = os.path.dirname(os.path.dirname(os.path.abspath(py)))
                if not os.path.realpath(h["file"]).startswith(os.path.realpath(venv) + os.sep):
                    raise SystemExit(
                        f"[ab] {label}: deltagrad was imported from {h['file']}, not its venv "
                        f"{venv}"
                    )
                if self.path is not None and h["isa"] != self.path:
                    raise SystemExit(
                        f"[ab] {label}: deltagrad runs {h['isa']}, not the {self.path} path "
                        "(--path): this CPU or this build lacks it"
                    )
                self.hello[label] = h
                if log:
                    _log(
                        f"[ab] {label}: deltagrad {h['version']} (_cpu {h['cpu_version']}), "
                        f"isa {h['isa']}, numpy {h['numpy']}, from {h['file']}"
                    )
        except BaseException:
            self.close()
            raise

    def restart(self) -> None:
        self.close()
        self.start()

    def alive(self) -> bool:
        return all(w.proc.poll() is None for w in self.workers.values())

    def close(self) -> None:
        for w in self.workers.values():
            try:
                w.close()
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        self.workers = {}


def _pass(args, workers: dict, order: list[str], name: str, nt: int) -> dict[str, list[float]]:
    """One pass over a case: both sides set up afresh, then args.rounds interleaved rounds.
    Returns each side's round times (seconds per call); raises RuntimeError on a side's error."""
    reps = 1
    try:
        for label in order:  # one after the other: the calibration is a timing
            r = workers[label].call("setup", case=name, threads=nt, min_time=args.min_time)
            if not r["ok"]:
                raise RuntimeError(f"{label}: {r['error']}")
            reps = max(reps, r["reps"])  # the same number of calls per timing on both sides
        rounds: dict[str, list[float]] = {label: [] for label in order}
        for i in range(args.rounds):
            for label in order if i % 2 == 0 else order[::-1]:
                r = workers[label].call("time", reps=reps, k=args.k, settle=SETTLE_SECONDS)
                if not r["ok"]:
                    raise RuntimeError(f"{label}: {r['error']}")
                rounds[label].append(r["best"])
        return rounds
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.call("drop")


def _case(args, sides: Sides, order: list[str], name: str, nt: int) -> dict:
    """A case's row. A verdict other than "within spread" is checked by up to args.confirm more
    passes, each in fresh worker processes (the rounds of all passes pooled): both sides' best
    rounds converge on their undisturbed times as rounds are added, so a difference that is only
    noise shrinks into the spread, while a real one stays; and a state of one worker process
    (where its memory landed) does not follow the case into the re-check."""
    t0 = time.time()
    row: dict = {"case": name, "threads": nt}
    rounds: dict[str, list[float]] = {label: [] for label in order}
    passes = 0
    while True:
        if passes:
            sides.restart()
        try:
            more = _pass(args, sides.workers, order, name, nt)
        except RuntimeError as e:
            row["error"] = str(e)
            row["seconds"] = time.time() - t0
            _log(f"[ab] {name} t{nt}: n/a ({e})")
            if not sides.alive():
                sides.restart()
            return row
        passes += 1
        for label in order:
            rounds[label] += more[label]
        base, cur = (min(rounds[label]) for label in order)
        sb, sc = (_spread(rounds[label]) for label in order)
        tol = max(args.floor, sb if sb == sb else 0.0, sc if sc == sc else 0.0)
        ratio = cur / base
        paired = _paired(rounds[order[0]], rounds[order[1]])
        verdict = _verdict(ratio, tol, paired)
        if verdict == "within spread" and tol > getattr(args, "noise_cap", NOISE_CAP):
            verdict = "noisy"  # a spread this wide hides a regression as well as it shows one
        if verdict == "within spread" or passes > args.confirm:
            break
        if verdict == "faster" and getattr(args, "confirm_slower_only", False):
            break
        _log(
            f"[ab] {name} t{nt}: {ratio:.3f}x, paired {paired[0]:.3f} "
            f"[{paired[1]:.3f}, {paired[2]:.3f}] ({verdict}) after {passes} pass(es): "
            "confirming in fresh workers"
        )
    row.update(
        baseline_s=base,
        current_s=cur,
        ratio=ratio,
        spread_baseline=sb,
        spread_current=sc,
        tolerance=tol,
        paired_ratio=paired[0],
        paired_interval=[paired[1], paired[2]],
        verdict=verdict,
        passes=passes,
        rounds_baseline=rounds[order[0]],
        rounds_current=rounds[order[1]],
        seconds=time.time() - t0,
    )
    _log(
        f"[ab] {name} t{nt}: {_fmt_time(base)} -> {_fmt_time(cur)} "
        f"({ratio:.3f}x, paired {paired[0]:.3f} [{paired[1]:.3f}, {paired[2]:.3f}], {verdict}; "
        f"{passes} pass(es), {time.time() - t0:.0f} s)"
    )
    return row


def _run(args, pythons: dict[str, str], names: list[str]) -> tuple[list[dict], dict]:
    """Every case at every thread count; returns the rows and each side's hello."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="ab-work-") as workdir:
        sides = Sides(pythons, workdir, args.path)
        hello = dict(sides.hello)
        try:
            order = list(pythons)
            for nt in args.threads:
                for name in names:
                    rows.append(_case(args, sides, order, name, nt))
        finally:
            sides.close()
    return rows, hello


def _table(rows: list[dict], base_label: str) -> str:
    head = (
        f"| case | thr | baseline ({base_label}) | current | current/baseline "
        "| paired ratio [99%] | spread base | spread cur | passes | verdict |"
    )
    lines = [head, "|" + "|".join("---" for _ in head.split("|")[1:-1]) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['threads']} | n/a | n/a | | | | | | {r['error']} |")
            continue
        lines.append(
            f"| {r['case']} | {r['threads']} | {_fmt_time(r['baseline_s'])} "
            f"| {_fmt_time(r['current_s'])} | {r['ratio']:.3f} | {r['paired_ratio']:.3f} "
            f"[{r['paired_interval'][0]:.3f}, {r['paired_interval'][1]:.3f}] "
            f"| {r['spread_baseline']:.1%} | {r['spread_current']:.1%} | {r['passes']} "
            f"| {r['verdict']} |"
        )
    return "\n".join(lines)


def _summary(rows: list[dict]) -> str:
    """One line of verdict counts, then a line per row slower beyond its spread."""
    counts: dict[str, int] = {}
    for r in rows:
        v = "n/a" if "error" in r else r["verdict"]
        counts[v] = counts.get(v, 0) + 1
    order = ["within spread", "faster", "slower beyond spread", "noisy", "n/a"]
    parts = [f"{counts[v]} {v}" for v in order if v in counts]
    lines = [f"{len(rows)} rows: " + ", ".join(parts)]
    for r in rows:
        if r.get("verdict") in ("slower beyond spread", "noisy"):
            tag = "SLOWER" if r["verdict"] == "slower beyond spread" else "NOISY (run again)"
            lines.append(
                f"{tag}: {r['case']} t{r['threads']}: {r['ratio']:.3f}x (paired "
                f"{r['paired_ratio']:.3f} [{r['paired_interval'][0]:.3f}, "
                f"{r['paired_interval'][1]:.3f}], tolerance {r['tolerance']:.1%})"
            )
    return "\n".join(lines)


def _header(res: dict) -> str:
    return (
        f"# A/B: baseline {res['baseline_label']} vs current {res['current_label']}"
        + (f", path {res['path']}" if res.get("path") else "")
        + f"; {res['rounds']} rounds x best of {res['k']}, >= {res['min_time']} s per timing, "
        f"{SETTLE_SECONDS} s idle before each; tolerance = max(spreads, {res['floor']:.0%}); "
        f"{res['seconds']:.0f} s"
    )


def report(paths: list[str]) -> str:
    """One table per (baseline, current, path) from several runs' --json files, in the order
    given, with each run's header line and a summary of the verdicts."""
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    out: list[str] = []
    groups: dict[tuple, list[dict]] = {}
    for res in runs:
        key = (res["baseline_label"], res["current_label"], res.get("path"))
        groups.setdefault(key, []).append(res)
    for (base, cur, path), group in groups.items():
        rows = [r for res in group for r in res["rows"]]
        secs = sum(res["seconds"] for res in group)
        first = group[0]
        out += [
            f"## baseline {base} vs current {cur}" + (f", path {path}" if path else ""),
            "",
            f"{len(group)} run(s), {secs:.0f} s of timing; {first['rounds']} rounds x best of "
            f"{first['k']}, >= {first['min_time']} s per timing, {SETTLE_SECONDS} s idle before "
            f"each side's round; tolerance = max(spreads, {first['floor']:.0%})",
        ]
        for label, h in first.get("hello", {}).items():
            out.append(f"- {label}: deltagrad {h['version']}, isa {h['isa']}, from {h['file']}")
        out += ["", _table(rows, base), "", _summary(rows), ""]
    return "\n".join(out)


def _venv_python(d: str, flag: str) -> str:
    py = os.path.join(os.path.abspath(d), "bin", "python")
    if not os.path.exists(py):
        raise SystemExit(f"[ab] {flag}: {d} is not a venv (no bin/python)")
    return py


def _venv_label(d: str) -> str:
    """A venv's label: the first line of its ab-label file (bench/ab_release.sh writes the
    commit there), else the folder's name."""
    try:
        with open(os.path.join(d, "ab-label")) as f:
            label = f.readline().strip()
    except OSError:
        label = ""
    return label or os.path.basename(os.path.abspath(d).rstrip(os.sep))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="A/B benchmark of deltagrad's CPU kernels: a baseline (a commit, built, or "
        "a venv) against the working tree (or a venv), interleaved in one run (wheels built with "
        "WITH_CUDA=OFF: it compares the CPU kernels).",
        epilog="Groups: " + ", ".join(_groups()) + ". --list shows every case.",
    )
    p.add_argument("--baseline", help="commit (any git revision) to build and compare to")
    p.add_argument(
        "--baseline-venv", metavar="DIR", help="a venv with the baseline's deltagrad installed"
    )
    p.add_argument(
        "--current-venv",
        metavar="DIR",
        help="a venv with the current deltagrad installed (default: build the working tree)",
    )
    p.add_argument(
        "--path",
        choices=sorted(PATH_ENV),
        default=None,
        help="the instruction-set path to measure, checked in both workers (default: the "
        "environment as it is, unchecked)",
    )
    p.add_argument("--rounds", type=int, default=None, help="rounds per case (default 10)")
    p.add_argument("-k", type=int, default=None, help="timings per round, best kept (default 3)")
    p.add_argument(
        "--threads",
        nargs="+",
        default=None,
        metavar="N",
        help="thread counts (default 1 2; 1,2 works too); a word after them that is not a "
        "count is a selector",
    )
    p.add_argument("--filter", default=None, help="keep the cases whose name has this substring")
    p.add_argument("--quick", action="store_true", help="3 rounds of 2 short timings (CI smoke)")
    p.add_argument("--min-time", type=float, default=None, help="seconds per timing (0.05)")
    p.add_argument(
        "--floor",
        type=float,
        default=0.02,
        help="smallest tolerance for the verdict, as a fraction (default 0.02)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        default=None,
        help="passes that re-check a verdict other than 'within spread' (default 2, quick 0)",
    )
    p.add_argument(
        "--confirm-slower-only",
        action="store_true",
        help="re-check 'slower beyond spread' rows only, not 'faster' ones (a no-regression "
        "check: saves the passes a real speed-up would take)",
    )
    p.add_argument(
        "--noise-cap",
        type=float,
        default=NOISE_CAP,
        help="a row whose tolerance (its larger spread) exceeds this fraction is 'noisy', not "
        "'within spread', and is re-checked like a slower one (default 0.10)",
    )
    p.add_argument("--json", default=None, help="write the rows and the setup here")
    p.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        default=None,
        help="print the tables of earlier runs' --json files (merged) and exit",
    )
    p.add_argument("--cache", default=None, help="cache folder (default <repo>/.ab-cache)")
    p.add_argument("--isolated-build", action="store_true", help="pip's build isolation")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument(
        "--export-tree",
        metavar="DIR",
        default=None,
        help="copy the working tree's build inputs into DIR (only changed files) and exit",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "selectors", nargs="*", help="groups or cases: matmul, ops/activation_gelu, bench_ops.py"
    )
    if argv is None and sys.argv[1:2] == ["--worker"]:
        return _worker()
    args = p.parse_intermixed_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    if args.export_tree:
        root = _git(os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--show-toplevel")
        written, removed = export_tree(root, os.path.abspath(args.export_tree))
        _log(f"[ab] {args.export_tree}: {written} file(s) written, {removed} removed")
        return 0
    args.threads, more = _split_threads(args.threads)
    args.selectors = [*args.selectors, *more]
    names = _select(args.selectors, args.filter)
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        raise SystemExit("[ab] no case selected")
    if not (args.baseline or args.baseline_venv):
        p.error("--baseline or --baseline-venv is required")
    if args.baseline and args.baseline_venv:
        p.error("--baseline and --baseline-venv: give one")
    args.rounds = args.rounds or (3 if args.quick else 10)
    args.k = args.k or (2 if args.quick else 3)
    args.min_time = args.min_time or (0.01 if args.quick else 0.05)
    if args.confirm is None:
        args.confirm = 0 if args.quick else 2

    t0 = time.time()
    pythons: dict[str, str] = {}
    head = None
    if not (args.baseline_venv and args.current_venv):  # something to build
        here = os.path.dirname(os.path.abspath(__file__))
        root = _git(here, "rev-parse", "--show-toplevel")
        head = _git(root, "rev-parse", "--short", "HEAD")
        cache = os.path.abspath(args.cache or os.path.join(root, ".ab-cache"))
        os.makedirs(cache, exist_ok=True)
        with open(os.path.join(cache, ".gitignore"), "w") as f:
            f.write("*\n")  # git ignores the cache wherever it is
    if args.baseline_venv:
        base_label = _venv_label(args.baseline_venv)
        pythons[f"baseline {base_label}"] = _venv_python(args.baseline_venv, "--baseline-venv")
    else:
        commit = _git(root, "rev-parse", "--verify", f"{args.baseline}^{{commit}}")
        base_label = commit[:9]
        pythons[f"baseline {base_label}"] = _prepare(
            root, cache, "commit-" + commit, _extract_commit(root, commit), args
        )
    if args.current_venv:
        cur_label = _venv_label(args.current_venv)
        pythons["current"] = _venv_python(args.current_venv, "--current-venv")
    else:
        files = _tree_files(root, cache)
        tree_key = "tree-" + _tree_key(root, files)
        cur_label = f"{tree_key} (HEAD {head})"
        pythons["current"] = _prepare(root, cache, tree_key, _copy_tree(root, files), args)
    _log(
        f"[ab] builds ready in {time.time() - t0:.0f} s; {len(names)} cases x threads "
        f"{args.threads}"
    )
    t0 = time.time()
    rows, hello = _run(args, pythons, names)
    res = {
        "baseline_label": base_label,
        "current_label": cur_label,
        "path": args.path,
        "rounds": args.rounds,
        "k": args.k,
        "min_time": args.min_time,
        "floor": args.floor,
        "confirm": args.confirm,
        "threads": args.threads,
        "seconds": time.time() - t0,
        "hello": hello,
        "rows": rows,
    }
    print(_header(res))
    print(_table(rows, base_label))
    print()
    print(_summary(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
