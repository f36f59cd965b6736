"""A/B benchmark: a baseline commit against the working tree, interleaved in one run.

    python bench/ab.py --baseline <commit> [--rounds N] [--threads 1 2] [--filter SUB]
                       [--quick] [--json out.json] [selector ...]

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
   setup, rounds pooled): noise shrinks as the best rounds converge, a real difference stays.

The cases mirror bench/bench_matmul.py, bench_ops.py and bench_train_step.py (deltagrad's side of
each; the peers NumPy/torch are not timed here), written against deltagrad's public API only
(dg.ops.*, dg.nn, dg.optim, dg.functional, dg.set_num_threads), because the modules behind it
move between commits. Selectors (positional) pick groups or cases by name: `matmul`, `ops`,
`train_step`, `matmul/square256`, `bench_ops.py`, ...; --filter keeps the cases whose name
contains the substring.

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


def _registry() -> dict[str, Callable[[], Callable[[], object]]]:
    cases: dict[str, Callable[[], Callable[[], object]]] = {}
    for name, shape in MATMUL.items():
        cases[f"matmul/{name}"] = lambda s=shape: _matmul(*s)
    for act in ACTIVATIONS:
        cases[f"ops/activation_{act}_16m"] = lambda a=act: _activation(a)
    cases["ops/softmax_cross_entropy_256x1000"] = _softmax_xent
    cases["ops/linear_forward_relu_256x784x512"] = lambda: _linear(False)
    cases["ops/linear_backward_relu_256x784x512"] = lambda: _linear(True)
    cases["ops/sgd_update_momentum_4m"] = lambda: _optimizer("sgd")
    cases["ops/adam_update_4m"] = lambda: _optimizer("adam")
    cases["train_step/mlp_784_512_512_10_b256"] = lambda: _train_step([784, 512, 512, 10], 256)
    cases["train_step/tiny_mlp_4_8_3_b2"] = lambda: _train_step([4, 8, 3], 2)
    cases["train_step/mlp_30_64_32_1_b32_adam"] = lambda: _train_step([30, 64, 32, 1], 32, True)
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


class Worker:
    def __init__(self, label: str, python: str, workdir: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
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


def _copy_tree(root: str, files: list[str]) -> Callable[[str], None]:
    def fill(dst: str) -> None:
        for p in files:
            os.makedirs(os.path.dirname(os.path.join(dst, p)), exist_ok=True)
            shutil.copy2(os.path.join(root, p), os.path.join(dst, p))

    return fill


# --------------------------------------------------------------------------------------------
# the coordinator


def _select(selectors: list[str], substr: str | None) -> list[str]:
    names = list(CASES)
    if selectors:
        keep = []
        for s in selectors:
            s = os.path.basename(s).removesuffix(".py").removeprefix("bench_")
            hits = [n for n in names if n == s or n.split("/")[0] == s or n.startswith(s)]
            if not hits:
                raise SystemExit(f"[ab] no case matches {s!r}; cases: {', '.join(names)}")
            keep += [n for n in hits if n not in keep]
        names = keep
    if substr:
        names = [n for n in names if substr in n]
    return names


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
            w.call("drop")


def _case(args, workers: dict, order: list[str], name: str, nt: int) -> dict:
    """A case's row. A verdict other than "within spread" is checked by up to args.confirm more
    passes (fresh setup, the rounds of all passes pooled): both sides' best rounds converge on
    their undisturbed times as rounds are added, so a difference that is only noise shrinks into
    the spread, while a real one stays."""
    t0 = time.time()
    row: dict = {"case": name, "threads": nt}
    rounds: dict[str, list[float]] = {label: [] for label in order}
    passes = 0
    while True:
        try:
            more = _pass(args, workers, order, name, nt)
        except RuntimeError as e:
            row["error"] = str(e)
            _log(f"[ab] {name} t{nt}: n/a ({e})")
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
        if verdict == "within spread" or passes > args.confirm:
            break
        _log(
            f"[ab] {name} t{nt}: {ratio:.3f}x, paired {paired[0]:.3f} "
            f"[{paired[1]:.3f}, {paired[2]:.3f}] ({verdict}) after {passes} pass(es): confirming"
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
    )
    _log(
        f"[ab] {name} t{nt}: {_fmt_time(base)} -> {_fmt_time(cur)} "
        f"({ratio:.3f}x, paired {paired[0]:.3f} [{paired[1]:.3f}, {paired[2]:.3f}], {verdict}; "
        f"{passes} pass(es), {time.time() - t0:.0f} s)"
    )
    return row


def _run(args, sides: dict[str, str], names: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ab-work-") as workdir:
        workers = {label: Worker(label, py, workdir) for label, py in sides.items()}
        try:
            for label, w in workers.items():
                h = w.call("hello")
                if not h.get("ok"):
                    raise SystemExit(f"[ab] {label}: import failed: {h.get('error')}")
                _log(
                    f"[ab] {label}: deltagrad {h['version']} (_cpu {h['cpu_version']}), "
                    f"isa {h['isa']}, numpy {h['numpy']}, from {h['file']}"
                )
                if not h["file"].startswith(os.path.dirname(os.path.dirname(sides[label]))):
                    raise SystemExit(f"[ab] {label}: deltagrad was not imported from its venv")
            order = list(workers)
            for nt in args.threads:
                for name in names:
                    rows.append(_case(args, workers, order, name, nt))
        finally:
            for w in workers.values():
                w.close()
    return rows


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="A/B benchmark of deltagrad's CPU kernels: a baseline commit against the "
        "working tree, interleaved in one run (wheels built with WITH_CUDA=OFF: it compares "
        "the CPU kernels).",
        epilog="Cases: " + ", ".join(CASES),
    )
    p.add_argument("--baseline", help="commit (any git revision) to compare to")
    p.add_argument("--rounds", type=int, default=None, help="rounds per case (default 10)")
    p.add_argument("-k", type=int, default=None, help="timings per round, best kept (default 3)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
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
    p.add_argument("--json", default=None, help="write the rows and the setup here")
    p.add_argument("--cache", default=None, help="cache folder (default <repo>/.ab-cache)")
    p.add_argument("--isolated-build", action="store_true", help="pip's build isolation")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("selectors", nargs="*", help="groups or cases: matmul, ops/adam, ...")
    if argv is None and sys.argv[1:2] == ["--worker"]:
        return _worker()
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(CASES))
        return 0
    if not args.baseline:
        p.error("--baseline is required")
    args.rounds = args.rounds or (3 if args.quick else 10)
    args.k = args.k or (2 if args.quick else 3)
    args.min_time = args.min_time or (0.01 if args.quick else 0.05)
    if args.confirm is None:
        args.confirm = 0 if args.quick else 2
    names = _select(args.selectors, args.filter)
    if not names:
        raise SystemExit("[ab] no case selected")

    here = os.path.dirname(os.path.abspath(__file__))
    root = _git(here, "rev-parse", "--show-toplevel")
    cache = os.path.abspath(args.cache or os.path.join(root, ".ab-cache"))
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".gitignore"), "w") as f:
        f.write("*\n")  # git ignores the cache wherever it is
    commit = _git(root, "rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    files = _tree_files(root, cache)
    tree_key = "tree-" + _tree_key(root, files)
    t0 = time.time()
    sides = {
        f"baseline {commit[:9]}": _prepare(
            root, cache, "commit-" + commit, _extract_commit(root, commit), args
        ),
        "current": _prepare(root, cache, tree_key, _copy_tree(root, files), args),
    }
    _log(f"[ab] builds ready in {time.time() - t0:.0f} s; {len(names)} cases x {args.threads}")
    t0 = time.time()
    rows = _run(args, sides, names)
    took = time.time() - t0
    print(
        f"# A/B: baseline {commit[:9]} vs the working tree ({tree_key}, HEAD "
        f"{_git(root, 'rev-parse', '--short', 'HEAD')}); {args.rounds} rounds x best of "
        f"{args.k}, >= {args.min_time} s per timing, {SETTLE_SECONDS} s idle before each; "
        f"tolerance = max(spreads, {args.floor:.0%}); {took:.0f} s"
    )
    print(_table(rows, commit[:9]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "baseline": commit,
                    "current": tree_key,
                    "rounds": args.rounds,
                    "k": args.k,
                    "min_time": args.min_time,
                    "floor": args.floor,
                    "confirm": args.confirm,
                    "seconds": took,
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
