"""Leak check over repeated calls of every op (run by dev/sanitize.sh under ASan + LSan).

Each case is one call: an op of deltagrad.ops on float32 and float64 (the success path), a bad
call that must raise (the error path: validation in Python, and the same bad input given to the
compiled _cpu function directly, so the exception is thrown in C++ and crosses pybind11), the
SIMT emulator's ops and its fault path (a kernel that faults in one fiber while the others wait
at a barrier), and a few training steps (Tensor forward/backward, SGD/Adam/AdamW).

For each case: `--warmup` calls, then gc.collect() and a measurement, `--iters` more calls, and
a second measurement. Two measurements:
  * sys.getallocatedblocks(): the Python objects alive (pymalloc). A call that leaks one
    reference (an array, a tuple, an exception...) grows it by at least `iters`; the case
    fails above max(iters / 2, 20) (a handful of objects is the noise of the measurement).
  * RSS (/proc/self/statm): a leaked data buffer or C++ scratch buffer. The arrays are sized so
    that one leaked buffer per call is over 10 KiB, i.e. 4 MiB or more over the default 400
    calls; the case fails above --rss-mib (2 MiB by default; the noise is under 1 MiB, also
    under ASan with its quarantine off: ASAN_OPTIONS=quarantine_size_mb=0).
Under LeakSanitizer (dev/sanitize.sh sets it up) a C++ allocation that is never freed is also
reported at exit, with the stack of the allocation, however small it is.

Run:  PYTHONPATH=python python3 dev/leak_check.py [-k SUBSTRING] [--iters N] [--list]
      python3 dev/leak_check.py --lsan-report LOG...   (what dev/sanitize.sh does with LSan's logs)
Exit status: 0 when no case grew, 1 otherwise (each failure is printed).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any, Callable

import numpy as np

import deltagrad as dg
from deltagrad import _cpu
from deltagrad import ops as O

PAGE = os.sysconf("SC_PAGESIZE")
DTYPES = (np.float32, np.float64)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def raises(exc: type[BaseException], fn: Callable[[], Any]) -> Callable[[], None]:
    """A case that must raise `exc` (a call that does not raise is a failure of the check)."""

    def call() -> None:
        try:
            fn()
        except exc:
            return
        raise AssertionError(f"expected {exc.__name__}, nothing was raised")

    return call


def cpu_cases(rng: np.random.Generator) -> list[tuple[str, Callable[[], Any], int]]:
    """(name, call, iteration divisor) for dg.ops on numpy arrays (the _cpu module)."""
    cases: list[tuple[str, Callable[[], Any], int]] = []

    def add(name: str, fn: Callable[[], Any], div: int = 1) -> None:
        cases.append((name, fn, div))

    m, k, n = 37, 45, 71  # odd sizes; outputs of 37x71 doubles are 20 KiB
    for dt in DTYPES:
        t = np.dtype(dt).name
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        bt = np.ascontiguousarray(b.T)
        c = np.empty((m, n), dt)
        x = rng.standard_normal((m, n)).astype(dt)
        dy = rng.standard_normal((m, n)).astype(dt)
        p = rng.uniform(0.05, 0.95, (m, n)).astype(dt)
        labels = rng.integers(0, n, m)
        bad_labels, labels32 = labels + n, labels.astype(np.int32)
        q = p[::-1].copy()
        w = rng.standard_normal((n, k)).astype(dt)
        bias = rng.standard_normal(n).astype(dt)
        xl = a  # (m, k) input of a Linear(k -> n)
        x3 = rng.standard_normal((5, 9, 31)).astype(dt)
        big = rng.standard_normal((300, 301)).astype(dt)  # over the OpenMP threshold

        add(f"matmul[{t}]", lambda a=a, b=b: O.matmul(a, b))
        add(f"matmul_trans[{t}]", lambda a=a, bt=bt: O.matmul(a, bt, trans_b=True))
        add(f"matmul_strided[{t}]", lambda a=a, b=b: O.matmul(a[::2], b[:, 1::2]))
        add(f"matmul_out[{t}]", lambda a=a, b=b, c=c: O.matmul(a, b, alpha=0.5, out=c))
        add(f"matmul_threads[{t}]", lambda big=big: O.matmul(big, big, trans_b=True), div=20)
        add(f"matmul_reference[{t}]", lambda a=a, b=b: _cpu.matmul_reference(a, b), div=4)
        add(f"matmul_bias_relu[{t}]", lambda a=a, b=b, c=b[0]: _cpu._matmul_bias_relu(a, b, c))
        for act in O.ACTIVATIONS:
            add(f"activation[{act},{t}]", lambda x=x, act=act: O.activation(x, act, param=0.1))
            add(
                f"activation_backward[{act},{t}]",
                lambda x=x, dy=dy, act=act: O.activation_backward(dy, x, act, param=0.1),
            )
        add(f"activation_threads[{t}]", lambda big=big: O.activation(big, "gelu"), div=4)
        add(f"activation_out[{t}]", lambda x=x, c=c: O.activation(x, "tanh", out=c))
        add(f"math_fn[{t}]", lambda x=x: _cpu.math_fn(x, "erf"))
        add(f"softmax[{t}]", lambda x=x: O.softmax(x))
        add(f"log_softmax[{t}]", lambda x3=x3: O.log_softmax(x3))
        add(f"softmax_backward[{t}]", lambda x=x, dy=dy: O.softmax_backward(dy, O.softmax(x)))
        add(
            f"log_softmax_backward[{t}]",
            lambda x=x, dy=dy: O.log_softmax_backward(dy, O.log_softmax(x)),
        )
        for red in ("mean", "sum", "none"):
            add(
                f"softmax_cross_entropy[{red},{t}]",
                lambda x=x, y=labels, red=red: O.softmax_cross_entropy(x, y, red),
            )
            add(f"mse_loss[{red},{t}]", lambda x=x, y=dy, red=red: O.mse_loss(x, y, red))
            add(
                f"binary_cross_entropy[{red},{t}]",
                lambda p=p, y=q, red=red: O.binary_cross_entropy(p, y, red),
            )
            add(
                f"bce_with_logits[{red},{t}]",
                lambda x=x, y=p, red=red: O.binary_cross_entropy_with_logits(x, y, red),
            )
        add(f"sum_of_squares[{t}]", lambda x=x, y=dy: O.sum_of_squares(x, y))
        for act in ("identity", "relu", "gelu"):
            add(
                f"linear_forward[{act},{t}]",
                lambda x=xl, w=w, b=bias, act=act: O.linear_forward(x, w, b, act),
            )

            def lin_bwd(x=xl, w=w, b=bias, act=act, dy=dy) -> Any:
                y, z = O.linear_forward(x, w, b, act)
                saved = z if O.saves_input(act) else y
                return O.linear_backward(dy, x, w, saved, act)

            add(f"linear_backward[{act},{t}]", lin_bwd)
        add(f"linear_no_bias[{t}]", lambda x=xl, w=w: O.linear_forward(x, w, None, "relu"))
        add(f"sum[{t}]", lambda x3=x3: O.sum(x3, axis=(0, 2)))
        add(f"mean[{t}]", lambda x3=x3: O.mean(x3, axis=1, keepdims=True))
        add(f"sum_all[{t}]", lambda x=x: O.sum(x))
        add(f"sum_to_shape[{t}]", lambda x3=x3: O.sum_to_shape(x3, (1, 9, 1)))
        prm, g, buf = x.copy(), dy.copy(), np.zeros_like(x)
        add(
            f"sgd_update[{t}]",
            lambda prm=prm, g=g, buf=buf: O.sgd_update(
                prm, g, buf, lr=1e-3, momentum=0.9, weight_decay=1e-4, nesterov=True
            ),
        )
        mom, vel = np.zeros_like(x), np.zeros_like(x)
        add(
            f"adam_update[{t}]",
            lambda prm=prm, g=g, mom=mom, vel=vel: O.adam_update(
                prm,
                g,
                mom,
                vel,
                step=3,
                lr=1e-3,
                beta1=0.9,
                beta2=0.999,
                eps=1e-8,
                weight_decay=1e-2,
                decoupled=True,
            ),
        )
        # size 0 and 1
        e = np.zeros((0, 7), dt)
        add(
            f"empty[{t}]",
            lambda e=e: (O.matmul(e, e.T), O.activation(e, "relu"), O.softmax(e), O.sum(e, axis=0)),
        )
        one = np.ones((1, 1), dt)
        add(
            f"one[{t}]",
            lambda one=one: (
                O.matmul(one, one),
                O.softmax(one),
                O.softmax_cross_entropy(one, np.zeros(1, np.int64)),
            ),
        )

        # ---- error paths: through dg.ops and straight into the binding (thrown in C++) ------
        xi = np.ones((m, n), np.int32)
        other = np.ones((m, n), np.float64 if dt == np.float32 else np.float32)
        ro = x.copy()
        ro.flags.writeable = False
        add(f"err_matmul_shape[{t}]", raises(ValueError, lambda a=a: O.matmul(a, a)))
        add(f"err_matmul_dtype[{t}]", raises(TypeError, lambda a=a, o=other: _cpu.matmul(a, o.T)))
        add(
            f"err_matmul_beta[{t}]",
            raises(ValueError, lambda a=a, b=b: _cpu.matmul(a, b, False, False, 1.0, 0.5, None)),
        )
        add(
            f"err_matmul_out[{t}]", raises(ValueError, lambda a=a, b=b, x=x3: O.matmul(a, b, out=x))
        )
        add(
            f"err_activation_name[{t}]", raises(ValueError, lambda x=x: _cpu.activation(x, "swish"))
        )
        add(
            f"err_activation_int[{t}]", raises(TypeError, lambda xi=xi: _cpu.activation(xi, "relu"))
        )
        add(
            f"err_activation_out_ro[{t}]",
            raises(ValueError, lambda x=x, ro=ro: _cpu.activation(x, "relu", out=ro)),
        )
        add(
            f"err_activation_backward[{t}]",
            raises(ValueError, lambda x=x, x3=x3: _cpu.activation_backward(x3, x, "gelu")),
        )
        add(f"err_math_fn[{t}]", raises(ValueError, lambda x=x: _cpu.math_fn(x, "nope")))
        add(
            f"err_softmax_0d[{t}]",
            raises(ValueError, lambda dt=dt: _cpu.softmax(np.array(1.0, dt))),
        )
        add(
            f"err_xent_label[{t}]",
            raises(ValueError, lambda x=x, y=bad_labels: _cpu.softmax_cross_entropy(x, y, "mean")),
        )
        add(
            f"err_xent_label_dtype[{t}]",
            raises(TypeError, lambda x=x, y=labels32: _cpu.softmax_cross_entropy(x, y, "mean")),
        )
        add(
            f"err_loss_reduction[{t}]",
            raises(ValueError, lambda x=x, y=dy: _cpu.mse_loss(x, y, "avg")),
        )
        add(f"err_loss_shape[{t}]", raises(ValueError, lambda x=x, y=x3: _cpu.mse_loss(x, y)))
        add(
            f"err_linear_w[{t}]",
            raises(ValueError, lambda x=xl, w=w: _cpu.linear_forward(x, w.T.copy(), None)),
        )
        add(
            f"err_linear_saved[{t}]",
            raises(
                ValueError, lambda x=xl, w=w, dy=dy: _cpu.linear_backward(dy, x, w, None, "gelu")
            ),
        )
        add(f"err_reduce_axes[{t}]", raises(ValueError, lambda x3=x3: _cpu.reduce_sum(x3, 2, 5)))
        add(
            f"err_sgd_ro[{t}]",
            raises(
                ValueError,
                lambda ro=ro, g=g, buf=buf: _cpu.sgd_update(ro, g, buf, lr=0.1, momentum=0.9),
            ),
        )
        add(
            f"err_sgd_alias[{t}]",
            raises(
                ValueError, lambda prm=prm, g=g: _cpu.sgd_update(prm, g, prm, lr=0.1, momentum=0.9)
            ),
        )
        add(
            f"err_adam_step[{t}]",
            raises(
                ValueError,
                lambda prm=prm, g=g, mom=mom, vel=vel: _cpu.adam_update(prm, g, mom, vel, step=0),
            ),
        )
        add(f"err_not_array[{t}]", raises(TypeError, lambda: _cpu.softmax([1.0, 2.0])))
    # The other ISAs' kernels (GEMM packing, tails) on a few ops, float32.
    detected = _cpu.detected_isa()
    for isa in ("avx2", "generic"):
        if isa == detected or (isa == "avx2" and detected == "generic"):
            continue
        for name, fn, div in [
            c
            for c in cases
            if c[0]
            in (
                "matmul[float32]",
                "matmul_trans[float32]",
                "linear_backward[gelu,float32]",
                "activation[gelu_tanh,float32]",
                "activation_backward[softplus,float32]",
                "softmax_cross_entropy[mean,float32]",
                "bce_with_logits[none,float32]",
                "adam_update[float32]",
                "sum[float32]",
                "log_softmax[float32]",
            )
        ]:

            def on_isa(fn=fn, isa=isa) -> Any:
                old = _cpu.active_isa()
                _cpu.set_active_isa(isa)
                try:
                    return fn()
                finally:
                    _cpu.set_active_isa(old)

            add(f"{name}@{isa}", on_isa, div)
    add("err_isa", raises(ValueError, lambda: _cpu.set_active_isa("sse9")))
    add("err_threads", raises(ValueError, lambda: _cpu.set_num_threads(0)))
    return cases


def simt_cases(rng: np.random.Generator) -> list[tuple[str, Callable[[], Any], int]]:
    """The csrc/cuda kernels through the SIMT emulator (slow: fewer iterations)."""
    from deltagrad import testing

    S = testing.simt_module()
    so = testing.simt_ops()  # the emulator's ops, plus dg.ops's reductions run on it
    cases: list[tuple[str, Callable[[], Any], int]] = []

    def add(name: str, fn: Callable[[], Any], div: int = 10) -> None:
        cases.append((name, fn, div))

    for dt in DTYPES:
        t = np.dtype(dt).name
        a = rng.standard_normal((9, 13)).astype(dt)
        b = rng.standard_normal((13, 11)).astype(dt)
        x = rng.standard_normal((9, 11)).astype(dt)
        dy = rng.standard_normal((9, 11)).astype(dt)
        p = rng.uniform(0.05, 0.95, (9, 11)).astype(dt)
        labels = rng.integers(0, 11, 9)
        w = rng.standard_normal((11, 13)).astype(dt)
        bias = rng.standard_normal(11).astype(dt)
        add(f"simt_matmul[{t}]", lambda a=a, b=b: so.matmul(a, b, trans_a=False))
        add(f"simt_activation[{t}]", lambda x=x: so.activation(x, "gelu"))
        add(
            f"simt_activation_backward[{t}]",
            lambda x=x, dy=dy: so.activation_backward(dy, x, "softplus"),
        )
        add(f"simt_softmax[{t}]", lambda x=x, dy=dy: so.softmax_backward(dy, so.softmax(x)))
        add(f"simt_log_softmax[{t}]", lambda x=x: so.log_softmax(x))
        add(f"simt_xent[{t}]", lambda x=x, y=labels: so.softmax_cross_entropy(x, y, "mean"))
        add(
            f"simt_losses[{t}]",
            lambda x=x, y=dy, p=p: (
                so.mse_loss(x, y),
                so.binary_cross_entropy(p, p[::-1].copy(), "sum"),
                so.binary_cross_entropy_with_logits(x, p, "none"),
                so.sum_of_squares(x, y),
            ),
        )
        add(
            f"simt_linear[{t}]",
            lambda a=a, w=w, b=bias, dy=dy: so.linear_backward(
                dy, a, w, so.linear_forward(a, w, b, "gelu")[1], "gelu"
            ),
        )
        add(f"simt_sum[{t}]", lambda x=x: (so.sum(x, axis=0), so.mean(x)))
        prm, g = x.copy(), dy.copy()
        buf, mom, vel = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
        add(
            f"simt_optim[{t}]",
            lambda prm=prm, g=g, buf=buf, mom=mom, vel=vel: (
                so.sgd_update(prm, g, buf, lr=1e-3, momentum=0.9),
                so.adam_update(
                    prm,
                    g,
                    mom,
                    vel,
                    step=2,
                    lr=1e-3,
                    beta1=0.9,
                    beta2=0.999,
                    eps=1e-8,
                    weight_decay=0.0,
                    decoupled=False,
                ),
            ),
        )
        add(f"simt_err_shape[{t}]", raises(ValueError, lambda a=a: so.matmul(a, a)))
    xs = rng.standard_normal(200).astype(np.float32)
    add("simt_selftest_ok", lambda: S.selftest("reverse_block", xs))
    # Faults thrown inside a fiber while the rest of the block waits at a barrier: the
    # exception crosses the scheduler and pybind11, and the waiting fibers are abandoned.
    for bad in (
        "reverse_block_missing_sync",
        "rotate_block_missing_sync",
        "divergent_barrier",
        "scale_unguarded",
        "warp_sum_divergent",
    ):
        add(f"simt_fault[{bad}]", raises(S.SimtFault, lambda bad=bad: S.selftest(bad, xs)))
    add("simt_err_unknown", raises(ValueError, lambda: S.selftest("nope", xs)))
    return cases


def training_cases(rng: np.random.Generator) -> list[tuple[str, Callable[[], Any], int]]:
    """Tensor forward/backward and optimizer steps."""
    from deltagrad import functional as F
    from deltagrad import nn, optim

    cases: list[tuple[str, Callable[[], Any], int]] = []
    x = rng.standard_normal((32, 20)).astype(np.float32)
    y = rng.integers(0, 5, 32)
    for opt_name in ("SGD", "Adam", "AdamW"):
        model = nn.MLP([20, 33, 5], activation="gelu")
        opt = (
            optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            if opt_name == "SGD"
            else getattr(optim, opt_name)(model.parameters(), lr=1e-3)
        )

        def step(model=model, opt=opt) -> float:
            opt.zero_grad()
            loss = F.cross_entropy(model(dg.tensor(x)), y)
            loss.backward()
            opt.step()
            return float(loss.item())

        cases.append((f"train_step[{opt_name}]", step, 4))
    xt = rng.standard_normal((17, 23))

    def graph() -> Any:
        a = dg.tensor(xt, requires_grad=True)
        out = ((a @ a.T).relu().sum(axis=0) * 2.0 - a.mean()).sum()
        out.backward()
        return a.grad

    cases.append(("tensor_graph", graph, 4))

    def graph_error() -> None:
        a = dg.tensor(xt, requires_grad=True)
        (a @ a.T).sum().backward()
        a @ a  # shape mismatch inside a graph-building op

    cases.append(("tensor_graph_error", raises(ValueError, graph_error), 4))
    return cases


def lsan_report(paths: list[str]) -> int:
    """Reads LeakSanitizer logs: prints the leaks allocated by deltagrad's own code (a frame in
    csrc/ or in the _cpu/_simt modules) and returns their count. CPython and numpy keep some
    allocations until exit by design; those stacks never reach our code and are only counted."""
    ours, others = [], 0
    for path in paths:
        with open(path, errors="replace") as f:
            text = f.read()
        for rec in text.split("\n\n"):
            rec = rec.strip("\n")
            if not rec.lstrip().startswith(("Direct leak", "Indirect leak")):
                continue
            if any("csrc/" in ln or "/_cpu." in ln or "/_simt." in ln for ln in rec.splitlines()):
                ours.append(rec)
            else:
                others += 1
    for rec in ours:
        print(rec + "\n")
    print(
        f"leak_check: LeakSanitizer: {len(ours)} leak(s) from deltagrad's code, {others} from "
        "the interpreter and numpy (not ours, ignored)"
    )
    return len(ours)


def measure(fn: Callable[[], Any], warmup: int, iters: int) -> tuple[int, int, float]:
    for _ in range(warmup):
        fn()
    gc.collect()
    blocks0, rss0 = sys.getallocatedblocks(), rss_bytes()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    dt = time.perf_counter() - t0
    gc.collect()
    return sys.getallocatedblocks() - blocks0, rss_bytes() - rss0, dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--iters",
        type=int,
        default=400,
        help="measured calls per case (divided by the case's divisor for the slow ones)",
    )
    ap.add_argument("--warmup", type=int, default=0, help="warm-up calls (default: iters/4)")
    ap.add_argument("--rss-mib", type=float, default=2.0, help="RSS growth allowed per case")
    ap.add_argument(
        "--calls",
        type=int,
        default=0,
        help="only call each case this many times, "
        "measure nothing (for LeakSanitizer, which reports any leak at exit)",
    )
    ap.add_argument("-k", default="", help="only the cases whose name contains this")
    ap.add_argument("--no-simt", action="store_true", help="skip the SIMT emulator cases")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument(
        "--lsan-report",
        nargs="+",
        metavar="LOG",
        help="only read these "
        "LeakSanitizer logs; exit 1 when a leak was allocated by deltagrad's code",
    )
    args = ap.parse_args(argv)
    if args.lsan_report:
        return 1 if lsan_report(args.lsan_report) else 0

    rng = np.random.default_rng(2024)
    cases = cpu_cases(rng) + training_cases(rng)
    if not args.no_simt:
        cases += simt_cases(rng)
    cases = [c for c in cases if args.k in c[0]]
    if args.list:
        print("\n".join(c[0] for c in cases))
        return 0
    if sys.getallocatedblocks() == 0 and not args.calls:
        print(
            "leak_check: sys.getallocatedblocks() is 0 (PYTHONMALLOC=malloc?): the Python "
            "object count is not measured, only RSS",
            file=sys.stderr,
        )

    failures = []
    t_start = time.perf_counter()
    for name, fn, div in cases:
        if args.calls:
            try:
                for _ in range(args.calls):
                    fn()
            except Exception as e:  # noqa: BLE001
                failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        iters = max(args.iters // div, 50)
        warmup = args.warmup or max(iters // 4, 5)
        try:
            blocks, rss, dt = measure(fn, warmup, iters)
        except Exception as e:  # noqa: BLE001 - a case that cannot run is a failure too
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        bad = []
        if blocks > max(iters // 2, 20):
            bad.append(f"{blocks} Python objects more after {iters} calls")
        if rss > args.rss_mib * 2**20:
            bad.append(f"RSS grew {rss / 2**20:.1f} MiB over {iters} calls")
        if bad:
            failures.append(f"{name}: " + "; ".join(bad))
        if os.environ.get("DG_LEAK_VERBOSE"):
            print(
                f"{name:44s} {iters:6d} calls {dt:6.2f}s  objects {blocks:+6d}  "
                f"RSS {rss / 2**10:+9.0f} KiB"
            )
    total = time.perf_counter() - t_start
    print(f"leak_check: {len(cases)} cases, {total:.1f}s, {len(failures)} failed")
    for f in failures:
        print("  LEAK " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
