"""Threads: the kernels release the GIL, and ops called from many Python threads at once
(each with its own inputs, OpenMP teams inside) give the same answers as alone.

- GIL release: while one thread runs a long kernel (a 2048^3 matmul, a large activation, a
  large fused softmax cross-entropy, an emulated CUDA kernel), another keeps incrementing a
  counter. The counter must advance for a good part of the kernel's time; the same
  measurement of a C loop known to hold the GIL (builtin sum over a range) shows it barely
  moving, so the check can fail.
- Stress: 8 Python threads call a mix of ops (matmul with out=, every activation forward and
  backward, softmax and its cross-entropy, the losses, the fused linear layer, reductions,
  optimizer steps on per-thread parameters) for hundreds of iterations on per-thread random
  inputs, every result checked against deltagrad.reference; with dg.set_num_threads(1) and
  (2), and with another thread changing the thread count all the while.
- The SIMT emulator keeps its state per OS thread (buffer registry, fibers, schedule flags), so
  its ops are checked the same way from several threads.
- The stress test of issue 16 (in a subprocess): 8 threads training MLPs, evaluating under
  no_grad and rewriting labels that losses read, for DG_STRESS_SECONDS (3 s; dev/sanitize.sh
  runs it 30 s under ASan/UBSan), each training run checked against a single-threaded rerun.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import reference as R
from deltagrad.testing import assert_close, simt_ops

SIMT = simt_ops()  # None when the _simt module is not built (every configuration builds it)

ops = dg.ops
ACTS = [a for a in ops.ACTIVATIONS]


@pytest.fixture(autouse=True)
def _restore_threads():
    n = dg.get_num_threads()
    old_switch = sys.getswitchinterval()
    yield
    dg.set_num_threads(n)
    sys.setswitchinterval(old_switch)


# ---- GIL release -------------------------------------------------------------------------------


class Counter:
    """A Python thread incrementing a counter as fast as it can until stopped; every 64th
    increment also records the time (a Python thread can only do either holding the GIL)."""

    def __init__(self) -> None:
        self.n = 0
        self.stamps: list[float] = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        clock, stamps = time.perf_counter, self.stamps
        while not self._stop:
            self.n += 1
            if not self.n & 63:
                stamps.append(clock())

    def __enter__(self) -> Counter:
        self._t.start()
        while self.n == 0:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop = True
        self._t.join()


def _busy_fraction(fn: Callable[[], Any]) -> tuple[float, Any, float, float]:
    """The fraction of fn's run time during which another Python thread could run, measured
    as the counter's increments during fn over its free-running rate (measured just before,
    while this thread sleeps); and the longest stretch of fn's run with no time stamp of the
    counter's, as a fraction of the run: a call that keeps the GIL is one such stretch (the
    counter may run a little at its start and end, around the GIL's hand-overs), a call that
    releases it only the gaps the scheduler leaves the counter."""
    sys.setswitchinterval(0.0005)  # the GIL's first hand-over comes soon after fn starts
    with Counter() as c:
        n0, t0 = c.n, time.perf_counter()
        time.sleep(0.05)
        rate = (c.n - n0) / (time.perf_counter() - t0)
        n1, t1 = c.n, time.perf_counter()
        result = fn()
        t2 = time.perf_counter()
        ticks, dt = c.n - n1, t2 - t1
        marks = [t1, *(t for t in c.stamps[-200000:] if t1 < t < t2), t2]
    gap = max(b - a for a, b in zip(marks, marks[1:]))
    return ticks / (rate * dt), result, dt, gap / dt


def _hold_gil() -> int:
    return sum(range(30_000_000))  # one C call: no bytecode runs, so the GIL is never dropped


def test_gil_control_is_detected():
    """The measurement works: a C loop that keeps the GIL lets the counter barely move, and
    never inside the call."""
    frac, _, dt, gap = _busy_fraction(_hold_gil)
    assert dt > 0.05
    assert frac < 0.15, f"counter ran {frac:.0%} of a GIL-holding call: the check is blind"
    assert gap > 0.7, f"the counter's longest pause was only {gap:.0%} of a GIL-holding call"


def _expect_released(fn: Callable[[], Any], what: str) -> Any:
    """The counter ran during fn: a large share of fn's time (free CPU), or, on a loaded
    machine where the counter thread gets little CPU (a full `pytest -n 2` run beside other
    work starved it in eight tries in a row, round 45), with no pause of over half fn's run,
    where a call that keeps the GIL pauses it for nearly all of it
    (test_gil_control_is_detected). Up to eight tries, each after a longer pause."""
    best, shortest = 0.0, 1.0
    for attempt in range(8):
        if attempt:
            time.sleep(0.05 * attempt)
        frac, result, dt, gap = _busy_fraction(fn)
        best, shortest = max(best, frac), min(shortest, gap)
        if best > 0.3 or shortest < 0.5:
            return result
    raise AssertionError(
        f"{what}: another thread ran only {best:.0%} of the kernel's time, and paused for at "
        f"least {shortest:.0%} of it; the binding does not release the GIL"
    )


def test_matmul_releases_the_gil():
    dg.set_num_threads(1)  # one core for the kernel, one for the counter
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    c = _expect_released(lambda: ops.matmul(a, b), "matmul 2048^3")
    rows = rng.choice(2048, 8, replace=False)
    want = a[rows].astype(np.float64) @ b.astype(np.float64)
    assert_close(c[rows], want, rtol=1e-3, atol=1e-2, equal_nan=True)


def test_activation_and_softmax_xent_release_the_gil():
    dg.set_num_threads(1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(1 << 24).astype(np.float32)
    y = _expect_released(lambda: ops.activation(x, "gelu"), "activation gelu 2^24")
    idx = rng.choice(x.size, 1000, replace=False)
    assert_close(y[idx], R.activation(x[idx], "gelu"), rtol=1e-5, atol=1e-6, equal_nan=True)
    logits = rng.standard_normal((4096, 2048)).astype(np.float32)
    t = rng.integers(0, 2048, 4096)
    loss, d = _expect_released(
        lambda: ops.softmax_cross_entropy(logits, t, "mean"), "softmax_cross_entropy 4096x2048"
    )
    rl, _ = R.softmax_cross_entropy(logits, t, "mean")
    assert_close(float(loss), float(rl), rtol=1e-5, atol=0.0, equal_nan=True)


@pytest.mark.simt
@pytest.mark.skipif(SIMT is None, reason="the _simt module is not built")
def test_simt_kernels_release_the_gil():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((96, 80))
    b = rng.standard_normal((80, 72))
    c = _expect_released(lambda: SIMT.matmul(a, b), "simt matmul")
    assert_close(c, a @ b, rtol=1e-12, atol=1e-12, equal_nan=True)


# ---- stress: 8 Python threads --------------------------------------------------------------


# relative and absolute tolerance per dtype, times the length of the sums involved
TOL = {np.float32: 3e-6 * 16, np.float64: 1e-13 * 16}


def _one_round(o: Any, rng: np.random.Generator, it: int, state: dict[str, Any], big: bool) -> None:
    """One iteration of the op mix on this thread's inputs, each result checked."""
    dt = np.float32 if it % 2 else np.float64
    m, k, n = (int(v) for v in rng.integers(1, 40, 3))
    if big:  # large enough for the OpenMP paths (threaded GEMM, elementwise > 64K elements)
        m, k, n = 300, 160, 200
    a = rng.standard_normal((m, k)).astype(dt)
    b = rng.standard_normal((n, k)).astype(dt)
    # matmul into a caller's buffer, transposed operand, with beta
    out = rng.standard_normal((m, n)).astype(dt)
    want = R.matmul(a, b, trans_b=True, alpha=0.5, beta=-1.0, out=out)
    got = o.matmul(a, b, trans_b=True, alpha=0.5, beta=-1.0, out=out)
    assert got is out
    assert_close(out, want, dt, rtol=TOL[dt] * max(k, 1), scale=1, name="matmul")
    # every activation, forward and backward
    x = rng.standard_normal((m, n)).astype(dt) * 3
    if big:
        x = rng.standard_normal(70_001).astype(dt) * 3
    dy = rng.standard_normal(x.shape).astype(dt)
    for act in ACTS:
        y = o.activation(x, act, param=0.1)
        assert_close(y, R.activation(x, act, param=0.1), dt, rtol=TOL[dt] * 4, scale=1, name=act)
        saved = x if R.saves_input(act) else y
        assert_close(
            o.activation_backward(dy, saved, act, param=0.1),
            R.activation_backward(dy, saved, act, param=0.1),
            dt,
            rtol=TOL[dt] * 4,
            scale=1,
            name=act + " backward",
        )
    # softmax family and the fused cross-entropy
    s = o.softmax(a)
    assert_close(s, R.softmax(a), dt, rtol=TOL[dt] * 4, scale=1, name="softmax")
    assert_close(
        o.log_softmax_backward(a, o.log_softmax(a)),
        R.log_softmax_backward(a, R.log_softmax(a)),
        dt,
        rtol=TOL[dt] * max(k, 1),
        scale=1,
        name="log_softmax_backward",
    )
    t = rng.integers(0, k, m)
    for red in ("mean", "sum", "none"):
        loss, d = o.softmax_cross_entropy(a, t, red)
        rl, rd = R.softmax_cross_entropy(a, t, red)
        assert_close(loss, rl, dt, rtol=TOL[dt] * max(m * 4, 1), scale=1, name="xent " + red)
        assert_close(d, rd, dt, rtol=TOL[dt] * 4, scale=1, name="dxent " + red)
    # losses
    yv = rng.standard_normal((m, 3)).astype(dt)
    tv = rng.standard_normal((m, 3)).astype(dt)
    p = (1 / (1 + np.exp(-yv))).astype(dt)
    tb = (tv > 0).astype(dt)
    for name, args in (
        ("mse_loss", (yv, tv)),
        ("binary_cross_entropy", (p, tb)),
        ("binary_cross_entropy_with_logits", (yv, tb)),
    ):
        loss, d = getattr(o, name)(*args, "mean")
        rl, rd = getattr(R, name)(*args, "mean")
        assert_close(loss, rl, dt, rtol=TOL[dt] * max(m * 4, 1), scale=1, name=name)
        assert_close(d, rd, dt, rtol=TOL[dt] * 64, scale=1, name=name)
    loss, d = o.sum_of_squares(yv, tv)
    assert_close(
        loss,
        R.sum_of_squares(yv, tv)[0],
        dt,
        rtol=TOL[dt] * max(m * 4, 1),
        scale=1,
        name="sum_of_squares",
    )
    # the fused linear layer, forward and backward
    bias = rng.standard_normal(n).astype(dt)
    act = ACTS[it % len(ACTS)]
    y, z = o.linear_forward(a, b, bias, act, 0.5)  # param: leaky's slope, elu / celu's alpha
    ry, rz = R.linear_forward(a, b, bias, act, 0.5)
    assert_close(y, ry, dt, rtol=TOL[dt] * max(k * 4, 1), scale=1, name="linear_forward " + act)
    g = rng.standard_normal(y.shape).astype(dt)
    saved = z if R.saves_input(act) else y
    rsaved = rz if R.saves_input(act) else ry
    dx, dw, db = o.linear_backward(g, a, b, saved, act, 0.5)
    rdx, rdw, rdb = R.linear_backward(g, a, b, rsaved, act, 0.5)
    assert_close(dx, rdx, dt, rtol=TOL[dt] * max(n * 8, 1), scale=1, name="linear dx")
    assert_close(dw, rdw, dt, rtol=TOL[dt] * max(m * 8, 1), scale=1, name="linear dw")
    assert_close(db, rdb, dt, rtol=TOL[dt] * max(m * 8, 1), scale=1, name="linear db")
    # reductions
    assert_close(
        o.sum(x, axis=-1),
        R.sum(x, axis=-1),
        dt,
        rtol=TOL[dt] * max(x.shape[-1], 1),
        scale=1,
        name="sum",
    )
    assert_close(
        o.mean(a, axis=0, keepdims=True),
        R.mean(a, axis=0, keepdims=True),
        dt,
        rtol=TOL[dt] * max(m, 1),
        scale=1,
        name="mean",
    )
    assert_close(
        o.sum_to_shape(a, (1, k)),
        R.sum_to_shape(a, (1, k)),
        dt,
        rtol=TOL[dt] * max(m, 1),
        scale=1,
        name="sum_to_shape",
    )
    # layer norm backward: its dweight / dbias partials sit in a buffer kept per calling thread
    # (norm.h); each thread's shapes change from round to round, so the buffer grows and is
    # reused while the other threads run theirs (big: 900 rows, the threaded path)
    # (the emulator's ops have no norm kernels: CPU only)
    if hasattr(o, "layer_norm_backward"):
        xl = rng.standard_normal((3 * m, k)).astype(dt) * 2 + 1
        gl = rng.standard_normal(xl.shape).astype(dt)
        wl = rng.uniform(0.5, 2, k).astype(dt)
        _, mean_l, rstd_l = o.layer_norm_forward(xl, (k,), wl, None)
        got_l = o.layer_norm_backward(gl, xl, (k,), wl, mean_l, rstd_l)
        want_l = R.layer_norm_backward(gl, xl, (k,), wl, mean_l, rstd_l)
        for g_l, w_l, what in zip(got_l, want_l, ("dx", "dweight", "dbias")):
            assert_close(g_l, w_l, dt, rtol=TOL[dt] * max(m * 8, k * 8), scale=1, name="ln " + what)
    # optimizer steps on this thread's own parameters (float32 kept across iterations)
    w, buf, mm, vv, w64, buf64, m64, v64 = state["opt"]
    grad = rng.standard_normal(w.shape).astype(np.float32)
    step = state["step"] = state["step"] + 1
    o.sgd_update(w, grad, buf, lr=0.01, momentum=0.9, weight_decay=1e-3, first_step=step == 1)
    R.sgd_update(
        w64,
        grad.astype(np.float64),
        buf64,
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-3,
        first_step=step == 1,
    )
    w2 = w.copy()
    o.adam_update(w2, grad, mm, vv, step=step, lr=1e-3, weight_decay=0.01, decoupled=True)
    w264 = w64.copy()
    R.adam_update(
        w264,
        grad.astype(np.float64),
        m64,
        v64,
        step=step,
        lr=1e-3,
        weight_decay=0.01,
        decoupled=True,
    )
    assert_close(w, w64, np.float32, rtol=TOL[np.float32] * 64, scale=1, name="sgd param")
    assert_close(w2, w264, np.float32, rtol=TOL[np.float32] * 64, scale=1, name="adam param")
    assert_close(vv, v64, np.float32, rtol=TOL[np.float32] * 64, scale=1, name="adam v")


def _new_state(rng: np.random.Generator) -> dict[str, Any]:
    w = rng.standard_normal(257).astype(np.float32)
    z = np.zeros_like(w)
    return {
        "step": 0,
        "opt": [
            w,
            z.copy(),
            z.copy(),
            z.copy(),
            w.astype(np.float64),
            np.zeros(257),
            np.zeros(257),
            np.zeros(257),
        ],
    }


def _run_threads(
    o: Any,
    n_threads: int,
    iters: int,
    big_every: int,
    seconds: float,
    also: Callable[[threading.Event], None] | None = None,
    min_rounds: int = 0,
) -> int:
    """n_threads threads each running _one_round up to iters times, all started together; a
    thread stops early once `seconds` have passed and it has run min_rounds (a slow machine
    runs the floor of the test's load whatever its speed: a 2-core Zen 1 ran 301 of 320 rounds
    in 10 s), or at 10 x `seconds` regardless. The first error of any thread is raised here.
    Returns the total number of rounds."""
    errors: list[BaseException] = []
    done = [0] * n_threads
    start = threading.Barrier(n_threads + (1 if also else 0))
    stop = threading.Event()
    deadline = time.perf_counter() + seconds
    hard_deadline = time.perf_counter() + 10 * seconds

    def worker(i: int) -> None:
        rng = np.random.default_rng(1000 + i)
        state = _new_state(rng)
        start.wait()
        try:
            for it in range(iters):
                now = time.perf_counter()
                if stop.is_set() or (now > deadline and it >= min_rounds) or now > hard_deadline:
                    break
                _one_round(o, rng, it, state, big_every and it % big_every == big_every - 1)
                done[i] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    side = None
    if also:

        def side_fn() -> None:
            start.wait()
            also(stop)

        side = threading.Thread(target=side_fn)
        side.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if side:
        side.join()
    if errors:
        raise errors[0]
    return sum(done)


@pytest.mark.parametrize("nthreads", [1, 2])
def test_eight_threads_every_result_checked(nthreads: int):
    dg.set_num_threads(nthreads)
    rounds = _run_threads(ops, 8, iters=200, big_every=25, seconds=10.0, min_rounds=40)
    assert rounds >= 8 * 40, f"only {rounds} rounds ran"  # a few hundred calls per thread
    assert dg.get_num_threads() == nthreads


def test_set_num_threads_while_others_compute():
    seen: set[int] = set()

    def toggler(stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            n = (1, 2, 3, 1, 4)[i % 5]
            dg.set_num_threads(n)
            seen.add(dg.get_num_threads())
            i += 1
            time.sleep(0.0005)

    rounds = _run_threads(
        ops, 8, iters=200, big_every=10, seconds=10.0, also=toggler, min_rounds=30
    )
    assert rounds >= 8 * 30
    assert seen == {1, 2, 3, 4}


def test_threads_sharing_read_only_inputs():
    """Many threads reading the same arrays (a shared weight matrix) at once."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((64, 48)).astype(np.float32)
    w.flags.writeable = False
    xs = [rng.standard_normal((33, 48)).astype(np.float32) for _ in range(8)]
    wants = [R.linear_forward(x, w, None, "tanh")[0] for x in xs]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for _ in range(150):
                y, _ = ops.linear_forward(xs[i], w, None, "tanh")
                assert_close(y, wants[i], np.float32, rtol=TOL[np.float32] * 48, scale=1)
                assert_close(
                    ops.matmul(xs[i], w, trans_b=True),
                    R.matmul(xs[i], w, trans_b=True),
                    np.float32,
                    rtol=TOL[np.float32] * 48,
                    scale=1,
                )
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.simt
@pytest.mark.skipif(SIMT is None, reason="the _simt module is not built")
def test_simt_ops_from_several_threads():
    """The emulator's state is per OS thread: concurrent launches neither fault spuriously
    (one thread clearing another's registered buffers) nor mix up results."""
    rounds = _run_threads(SIMT, 4, iters=40, big_every=0, seconds=12.0, min_rounds=3)
    assert rounds >= 4 * 3, f"only {rounds} rounds ran"


# ---- the stress test of issue 16 (a subprocess; dev/sanitize.sh runs it 30 s under ASan) -------

STRESS_SCRIPT = r"""
import os, sys, threading, time
import numpy as np
import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn
from deltagrad.optim import SGD
from deltagrad.reference import softmax_cross_entropy as ref_xent
from deltagrad.testing import assert_close

SECONDS = float(os.environ.get("DG_STRESS_SECONDS", "3"))
ops = dg.ops
dg.set_num_threads(2)
rng = np.random.default_rng(1616)
errors = []
stop = threading.Event()


def guarded(fn):
    def run(*args):
        try:
            fn(*args)
        except BaseException as e:  # reported by the main thread
            import traceback
            errors.append("".join(traceback.format_exception(e)))
            stop.set()
    return run


# -- training: a 2-layer MLP (dg.nn.Linear parameters, dg.optim.SGD). Two trainers take their
# gradients from the fused kernels directly, two through autograd (loss.backward()) while the
# evaluators run under no_grad on other threads: grad mode is per thread.
def make_mlp(seed):
    dg.manual_seed(seed)
    l1 = nn.Linear(13, 37, activation="relu", dtype=np.float64)
    return l1, nn.Linear(37, 5, dtype=np.float64)


def train_step(l1, l2, opt, x, t, kind):
    if kind.endswith("-autograd"):
        y = l2(l1(dg.tensor(x)))
        if kind.startswith("xent"):
            loss = F.cross_entropy(y, t)
        else:
            loss = F.mse_loss(y, dg.tensor(np.eye(5)[t]))
        loss.backward()
        opt.step()
        opt.zero_grad()
        loss = float(loss)
        assert np.isfinite(loss), loss
        return loss
    h, z1 = ops.linear_forward(x, l1.weight.data, l1.bias.data, "relu")
    y, _ = ops.linear_forward(h, l2.weight.data, l2.bias.data, "identity")
    if kind == "xent":
        loss, dy = ops.softmax_cross_entropy(y, t)
    elif kind == "mse":
        loss, dy = ops.mse_loss(y, np.eye(5)[t])
    else:
        loss, dy = ops.binary_cross_entropy_with_logits(y, np.eye(5)[t])
    dh, dw2, db2 = ops.linear_backward(dy, h, l2.weight.data, y, "identity")
    _, dw1, db1 = ops.linear_backward(dh, x, l1.weight.data, z1 if z1 is not None else h, "relu",
                                      need_dx=False)
    for p, g in ((l1.weight, dw1), (l1.bias, db1), (l2.weight, dw2), (l2.bias, db2)):
        p.grad = g
    opt.step()
    opt.zero_grad()
    loss = float(loss)
    assert np.isfinite(loss), loss
    return loss


KINDS = ("xent", "mse-autograd", "bce", "xent-autograd")
DATA = [(rng.standard_normal((4, 33, 13)), rng.integers(0, 5, (4, 33)).astype(np.int64))
        for _ in KINDS]
trained = {}


# the models are made here, one after the other: dg.manual_seed and the initialization draw
# from the one global generator
MODELS = [make_mlp(100 + i) for i in range(len(KINDS))]


@guarded
def trainer(i):
    l1, l2 = MODELS[i]
    opt = SGD([l1.weight, l1.bias, l2.weight, l2.bias], lr=0.05, momentum=0.9)
    xs, ts = DATA[i]
    losses = []
    while not stop.is_set():
        s = len(losses)
        losses.append(train_step(l1, l2, opt, xs[s % 4], ts[s % 4], KINDS[i]))
    trained[i] = (losses, [p.data.copy() for p in (l1.weight, l1.bias, l2.weight, l2.bias)])


# -- evaluation under dg.no_grad: a fixed model's outputs, checked against the main thread's
EVAL_X = rng.standard_normal((301, 13))
eval_model = nn.Sequential(*make_mlp(7))
with dg.no_grad():
    EVAL_WANT = np.array(eval_model(dg.tensor(EVAL_X)).data)
evals = [0, 0]


@guarded
def evaluator(i):
    while not stop.is_set():
        with dg.no_grad():
            out = eval_model(dg.tensor(EVAL_X)).data
        assert np.isfinite(out).all()
        assert_close(out, EVAL_WANT)
        evals[i] += 1


# -- one thread rewrites a label array (valid and out-of-range labels) while another runs
# losses on it: each call raises the range error or gives, row by row, a label's loss
LX = rng.standard_normal((64, 9))
LA = rng.integers(0, 9, 64).astype(np.int64)
LB = rng.integers(0, 9, 64).astype(np.int64)
BAD = np.full(64, 1 << 40, dtype=np.int64)
LOSS_A, DA = ref_xent(LX, LA, "none")
LOSS_B, DB = ref_xent(LX, LB, "none")
labels = LA.copy()
label_calls = [0, 0]


@guarded
def label_writer():
    i = 0
    while not stop.is_set():
        labels[:] = (LA, LB, BAD, LB)[i % 4]
        i += 1
        if i % 61 == 0:  # hand the GIL over after each of the arrays in turn
            time.sleep(0)


@guarded
def label_loss():
    while not stop.is_set():
        try:
            loss, d = ops.softmax_cross_entropy(LX, labels, "none")
        except ValueError as e:
            assert "out of range" in str(e), e
            label_calls[1] += 1
            continue
        is_a = np.isclose(loss, LOSS_A, rtol=1e-12, atol=1e-12)
        is_b = np.isclose(loss, LOSS_B, rtol=1e-12, atol=1e-12)
        assert (is_a | is_b).all(), (loss, LOSS_A, LOSS_B)
        assert np.isfinite(d).all()
        label_calls[0] += 1


threads = [threading.Thread(target=trainer, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=evaluator, args=(i,)) for i in range(2)]
threads += [threading.Thread(target=label_writer), threading.Thread(target=label_loss)]
t0 = time.monotonic()
for t in threads:
    t.start()
while time.monotonic() - t0 < SECONDS and not stop.is_set():
    time.sleep(0.05)
stop.set()
for t in threads:
    t.join(120)
    assert not t.is_alive(), "a thread did not stop"
if errors:
    print(errors[0], file=sys.stderr)
    sys.exit(1)

# -- the single-threaded recomputation: same initial weights, data and steps
for i in range(4):
    losses, final = trained[i]
    assert len(losses) >= 3, (i, len(losses))
    l1, l2 = make_mlp(100 + i)
    opt = SGD([l1.weight, l1.bias, l2.weight, l2.bias], lr=0.05, momentum=0.9)
    xs, ts = DATA[i]
    again = [train_step(l1, l2, opt, xs[s % 4], ts[s % 4], KINDS[i]) for s in range(len(losses))]
    assert_close(np.array(losses), np.array(again))
    for got, p in zip(final, (l1.weight, l1.bias, l2.weight, l2.bias)):
        assert_close(got, p.data)
assert min(evals) >= 1 and label_calls[0] >= 1, (evals, label_calls)
print("stress: ok", {i: len(trained[i][0]) for i in trained}, evals, label_calls)
"""


def test_stress_training_eval_and_label_writers():
    """8 threads for DG_STRESS_SECONDS (3 s here, 30 s in dev/sanitize.sh under ASan/UBSan):
    4 train separate MLPs (dg.nn.Linear + dg.optim.SGD; 2 with the fused kernels directly, 2
    through autograd's backward()), 2 evaluate a model under dg.no_grad, 1 rewrites a label
    array that 1 more runs losses on. No crash, finite results, and every training run equals
    its single-threaded recomputation. In a subprocess with a timeout: a crash or a hang
    fails this test, not the test run."""
    import os
    import subprocess

    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))  # this test's deltagrad
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    seconds = float(env.setdefault("DG_STRESS_SECONDS", "3"))
    r = subprocess.run(
        [sys.executable, "-c", STRESS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 240,
        env=env,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-6000:]}"
    assert "stress: ok" in r.stdout, r.stdout
