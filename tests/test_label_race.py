"""The label race (issue 16): softmax_cross_entropy checks its labels with the GIL held, then runs
its kernel without it. Another thread writing the label array in between must not reach the
kernel: the binding copies the labels, checks the copy and gives the kernel the copy, so the
result is the one for the labels as they were checked, never an out-of-bounds access.

The test is deterministic: a test-only hold point in the binding (_cpu._test_hold_arm, off by
default) stops the op between its check and its kernel, with the GIL released, until the test
has written out-of-range labels and released it. The risky part runs in a subprocess with a
timeout, so a crash is reported instead of ending the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu
from deltagrad.reference import softmax_cross_entropy as ref_xent
from deltagrad.testing import assert_close

TIMEOUT = 120

HOLD_SCRIPT = textwrap.dedent(
    """
    import threading, time
    import numpy as np
    import deltagrad as dg
    from deltagrad import _cpu
    from deltagrad.reference import softmax_cross_entropy as ref_xent
    from deltagrad.testing import assert_close

    rng = np.random.default_rng(16)
    for dtype in (np.float64, np.float32):
        for rows, cols in ((257, 11), (1, 3), (300, 1000)):  # the last one runs in parallel
            x = rng.standard_normal((rows, cols)).astype(dtype)
            t = rng.integers(0, cols, rows).astype(np.int64)
            checked = t.copy()
            for reduction in ("mean", "sum", "none"):
                _cpu._test_hold_arm()
                res = {}

                def run():
                    try:
                        res["out"] = dg.ops.softmax_cross_entropy(x, t, reduction)
                    except BaseException as e:  # reported below
                        res["err"] = e

                th = threading.Thread(target=run)
                th.start()
                deadline = time.monotonic() + 30
                while _cpu._test_hold_state() != 2:  # the op waits between check and kernel
                    assert time.monotonic() < deadline, "the op never reached the hold point"
                    assert th.is_alive() or _cpu._test_hold_state() == 2, res
                    time.sleep(0.001)
                t[:] = 1 << 40  # out of range both ways, far outside the logits
                t[::2] = -(1 << 40)
                _cpu._test_hold_release()
                th.join(60)
                assert not th.is_alive(), "the op did not finish"
                assert "err" not in res, repr(res.get("err"))
                loss, d = res["out"]
                want_loss, want_d = ref_xent(x, checked, reduction)
                assert_close(loss, want_loss, dtype=dtype)
                assert_close(d, want_d, dtype=dtype)
                assert _cpu._test_hold_state() == 0
                t[:] = checked
    print("label race: ok")
    """
)


def _run(script: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))  # this test's deltagrad
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_labels_changed_between_check_and_kernel():
    """Out-of-range labels written after the check: the result is for the checked labels."""
    r = _run(HOLD_SCRIPT)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert "label race: ok" in r.stdout


def test_hold_point_is_off_by_default():
    assert _cpu._test_hold_state() == 0
    x = np.random.default_rng(1).standard_normal((7, 5))
    t = np.array([0, 4, 1, 2, 3, 3, 0], dtype=np.int64)
    loss, d = dg.ops.softmax_cross_entropy(x, t)
    want_loss, want_d = ref_xent(x, t)
    assert_close(loss, want_loss)
    assert_close(d, want_d)


def test_hold_release_without_a_waiting_op_disarms():
    _cpu._test_hold_arm()
    assert _cpu._test_hold_state() == 1
    _cpu._test_hold_release()
    assert _cpu._test_hold_state() == 0


def test_bad_labels_still_rejected_before_the_kernel():
    x = np.random.default_rng(2).standard_normal((4, 3))
    with pytest.raises(
        ValueError, match=r"softmax_cross_entropy: target: class index 3 at position 2"
    ):
        dg.ops.softmax_cross_entropy(x, np.array([0, 1, 3, 2]))


FLIP_SCRIPT = textwrap.dedent(
    """
    import os, threading, time
    import numpy as np
    import deltagrad as dg
    from deltagrad.reference import softmax_cross_entropy as ref_xent

    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 9))
    a = rng.integers(0, 9, 64).astype(np.int64)
    b = rng.integers(0, 9, 64).astype(np.int64)
    bad = np.full(64, 1 << 40, dtype=np.int64)
    la, _ = ref_xent(x, a, "none")
    lb, _ = ref_xent(x, b, "none")
    t = a.copy()
    stop = threading.Event()

    def flip():
        i = 0
        while not stop.is_set():
            t[:] = (a, b, bad)[i % 3]
            i += 1

    th = threading.Thread(target=flip)
    th.start()
    calls = rejected = 0
    end = time.monotonic() + float(os.environ.get("DG_FLIP_SECONDS", "1"))
    try:
        while time.monotonic() < end:
            try:
                loss, d = dg.ops.softmax_cross_entropy(x, t, "none")
            except ValueError as e:
                assert "out of range" in str(e), e
                rejected += 1
                continue
            calls += 1
            ok = np.isclose(loss, la, rtol=1e-12, atol=1e-12)
            ok |= np.isclose(loss, lb, rtol=1e-12, atol=1e-12)
            assert ok.all(), (loss, la, lb)
    finally:
        stop.set()
        th.join()
    print("flip: ok", calls, rejected)
    """
)


def test_labels_flipping_while_losses_run():
    """Another thread rewrites the labels (valid and out of range) all the time: each call
    raises the range error or gives, row by row, the loss of a label that was there."""
    r = _run(FLIP_SCRIPT)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert "flip: ok" in r.stdout
