"""Autograd state is per thread (issue 16): grad mode, the running backward's buffers and the
set that keeps two leaves from sharing one gradient array. Each test forces the interleaving
that broke the global versions (threading.Event / Barrier), so it fails with a global flag."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.tensor import is_grad_enabled, no_grad, set_grad_enabled
from deltagrad.testing import assert_close

TIMEOUT = 30.0


def _run(*targets):
    """Run each target in its own thread; re-raise the first error of any of them."""
    errors: list[BaseException] = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported to the test below
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def fast_switching():
    """Switch threads every microsecond, so races show up within a short loop."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, bool] = {}

    def evaluator():
        with no_grad():
            inside.set()
            assert checked.wait(TIMEOUT)
            seen["evaluator"] = (dg.tensor(np.ones(2), requires_grad=True) * 2.0).requires_grad

    def trainer():
        assert inside.wait(TIMEOUT)  # the evaluator is inside no_grad now
        x = dg.tensor(np.ones(2), requires_grad=True)
        seen["trainer_mode"] = is_grad_enabled()
        seen["trainer"] = (x * 2.0).requires_grad
        checked.set()

    _run(evaluator, trainer)
    assert seen == {"evaluator": False, "trainer_mode": True, "trainer": True}


def test_overlapping_no_grad_exits_leave_recording_on():
    """A enters, B enters, A exits, B exits: a global flag ends up False (B restores the
    False it saw on entry); per thread, every thread ends where it started."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    modes: dict[str, bool] = {}

    def a():
        with no_grad():
            a_in.set()
            assert b_in.wait(TIMEOUT)
        modes["a_after"] = is_grad_enabled()
        a_out.set()

    def b():
        assert a_in.wait(TIMEOUT)
        with no_grad():
            b_in.set()
            assert a_out.wait(TIMEOUT)
        modes["b_after"] = is_grad_enabled()

    _run(a, b)
    assert modes == {"a_after": True, "b_after": True}
    assert is_grad_enabled()
    x = dg.tensor(np.ones(2), requires_grad=True)
    assert (x * 2.0).requires_grad


def test_one_decorator_instance_entered_by_two_threads():
    """@no_grad() makes one context object; two threads inside it at once, exiting in the
    other order, must each get their own mode back."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    first_out = threading.Event()
    out: dict[str, bool] = {}

    @no_grad()
    def evaluate(name, wait_for):
        barrier.wait()  # both threads inside the same context object
        if wait_for is not None:
            assert wait_for.wait(TIMEOUT)
        return name

    def t1():
        evaluate("t1", None)
        out["t1"] = is_grad_enabled()
        first_out.set()

    def t2():
        evaluate("t2", first_out)
        out["t2"] = is_grad_enabled()

    _run(t1, t2)
    assert out == {"t1": True, "t2": True}


def test_set_grad_enabled_is_per_thread():
    off = threading.Event()
    done = threading.Event()
    seen = {}

    def switcher():
        set_grad_enabled(False)
        off.set()
        assert done.wait(TIMEOUT)
        seen["switcher"] = is_grad_enabled()

    def other():
        assert off.wait(TIMEOUT)
        seen["other"] = is_grad_enabled()
        done.set()

    _run(switcher, other)
    assert seen == {"switcher": False, "other": True}


def test_a_new_thread_records_even_when_the_starting_thread_is_in_no_grad():
    seen = {}

    def child():
        seen["child"] = (dg.tensor(np.ones(2), requires_grad=True) * 2.0).requires_grad

    with no_grad():
        _run(child)
    assert seen == {"child": True}


def test_another_threads_backward_mid_way_does_not_make_two_leaves_share(fast_switching):
    """Deterministic: thread 1's op hands one array to leaf a, then waits while thread 2 runs
    a whole backward (which cleared the old global set), then hands it to leaf b."""
    t2_done = threading.Event()
    t1_mid = threading.Event()
    out = {}

    def pair(a, b):
        def _backward(g):
            a._accumulate(g)
            t1_mid.set()
            assert t2_done.wait(TIMEOUT)
            b._accumulate(g)

        return dg.Tensor._make(a.data + b.data, (a, b), _backward, "pair", saves=())

    def t1():
        a = dg.tensor(np.ones(3), requires_grad=True)
        b = dg.tensor(np.ones(3), requires_grad=True)
        (pair(a, b) * 2.0).sum().backward()  # mul sends pair a fresh array
        out["shared"] = a.grad is b.grad or np.shares_memory(a.grad, b.grad)

    def t2():
        assert t1_mid.wait(TIMEOUT)
        c = dg.tensor(np.ones(3), requires_grad=True)
        (c * 2.0).sum().backward()
        t2_done.set()

    _run(t1, t2)
    assert out == {"shared": False}


def test_leaves_never_share_a_gradient_array_across_threads(fast_switching):
    """The old global set was cleared by another thread's backward: a.grad is b.grad."""
    n_threads, iters = 8, 300
    rng = np.random.default_rng(16)
    data = [rng.standard_normal(5) for _ in range(n_threads)]

    def worker(k):
        def run():
            for _ in range(iters):
                a = dg.tensor(data[k].copy(), requires_grad=True)
                b = dg.tensor(data[k].copy(), requires_grad=True)
                (a + b).sum().backward()  # add sends one array to both
                assert a.grad is not b.grad
                assert not np.shares_memory(a.grad, b.grad)

        return run

    _run(*[worker(k) for k in range(n_threads)])


def test_concurrent_backwards_into_one_shared_leaf_lose_nothing(fast_switching):
    """Threads backpropagating into the same parameter: every contribution lands in .grad
    (the in-place add into a shared .grad is serialized)."""
    rng = np.random.default_rng(7)
    n = 200_000  # large enough that numpy's add releases the GIL
    w = dg.tensor(rng.standard_normal(n), requires_grad=True)
    scales = [1.0, 2.0, 3.0, 4.0]
    iters = 100

    def worker(c):
        def run():
            for _ in range(iters):
                (w * c).sum().backward()

        return run

    _run(*[worker(c) for c in scales])
    assert_close(w.grad, np.full(n, iters * sum(scales)), rtol=1e-12, atol=0)


def test_training_threads_while_others_evaluate_under_no_grad(fast_switching):
    """Separate models train in threads while other threads evaluate under no_grad: every
    training step records a graph and gets the gradients a lone run gets."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    w0 = rng.standard_normal((4, 3))
    expected = 2 * x.T @ (x @ w0)  # d sum((x w)^2) / dw
    stop = threading.Event()

    def evaluator():
        v = dg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
        while not stop.is_set():
            with no_grad():
                assert not (dg.tensor(x) @ v).requires_grad

    def trainer():
        for _ in range(100):
            w = dg.tensor(w0.copy(), requires_grad=True)
            y = dg.tensor(x) @ w
            assert y.requires_grad
            (y * y).sum().backward()
            assert_close(w.grad, expected, rtol=1e-12, atol=1e-12)

    def trainers():
        try:
            _run(trainer, trainer, trainer)
        finally:
            stop.set()

    _run(evaluator, evaluator, trainers)
    assert is_grad_enabled()
