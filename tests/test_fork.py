"""Fork safety (issue 16): after an OpenMP parallel region, a fork()ed child (multiprocessing's
"fork" start method, DataLoader-style workers) that calls a parallel op used to hang forever in
libgomp, whose thread pool does not survive fork. deltagrad's pthread_atfork child handler makes
such a child run the kernels on 1 thread (docs/RELIABILITY.md, "Fork"). Every case runs in a
subprocess with a timeout: a hang is a failed test, not a stuck test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import deltagrad as dg

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")

TIMEOUT = 120

# Shared by the scripts: inputs large enough for every op to take its parallel path, and a
# check of the results against the float64 reference.
PRELUDE = textwrap.dedent(
    """
    import os, sys, warnings
    import numpy as np
    import deltagrad as dg
    from deltagrad import _cpu, reference
    from deltagrad.testing import assert_close

    rng = np.random.default_rng(16)
    X = rng.standard_normal((300, 700))
    W = rng.standard_normal((129, 700))
    T = rng.integers(0, 700, 300).astype(np.int64)

    def work(seed=0):
        x = X + seed
        assert_close(dg.ops.softmax(x), reference.softmax(x))
        assert_close(dg.ops.sum(x, axis=0), reference.sum(x, axis=0))
        assert_close(dg.ops.matmul(x, W, trans_b=True), x @ W.T)
        loss, d = dg.ops.softmax_cross_entropy(x, T)
        want, want_d = reference.softmax_cross_entropy(x, T)
        assert_close(loss, want)
        assert_close(d, want_d)
        return float(loss)
    """
)


def _run(script: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))  # this test's deltagrad
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


def _check(r: subprocess.CompletedProcess, marker: str) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert marker in r.stdout, r.stdout


def test_os_fork_after_parallel_region():
    r = _run(
        """
        dg.set_num_threads(3)
        work()  # parallel regions in the parent: libgomp's pool exists
        assert not _cpu.in_forked_child()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                assert _cpu.in_forked_child()
                assert dg.get_num_threads() == 1
                work(1)
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    dg.set_num_threads(3)
                assert dg.get_num_threads() == 1
                assert any("forked" in str(x.message) for x in w), [str(x.message) for x in w]
                work(2)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert dg.get_num_threads() == 3  # the parent keeps its threads
        work(3)
        print("fork: ok")
        """
    )
    _check(r, "fork: ok")


def test_fork_before_any_parallel_region_keeps_threads():
    """A child forked before the parent ran a parallel region has no broken pool to avoid."""
    r = _run(
        """
        dg.set_num_threads(3)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                assert not _cpu.in_forked_child()
                assert dg.get_num_threads() == 3
                work(1)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        work()
        print("early fork: ok")
        """
    )
    _check(r, "early fork: ok")


def test_multiprocessing_fork_pool():
    r = _run(
        """
        import multiprocessing as mp
        dg.set_num_threads(2)
        want = [work(i) for i in range(4)]  # the parent's parallel regions first
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, range(4))
        # the children run on 1 thread: the sums may differ from the parent's in the last bits
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        print("pool: ok")
        """
    )
    _check(r, "pool: ok")


def test_fork_from_a_thread_that_ran_kernels():
    """The parallel region ran on another Python thread (its own libgomp pool), fork from the
    main thread, then the child runs kernels on a thread of its own too."""
    r = _run(
        """
        import threading
        dg.set_num_threads(2)
        th = threading.Thread(target=work)
        th.start(); th.join()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                work(1)
                t2 = threading.Thread(target=work, args=(2,))
                t2.start(); t2.join()
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("thread fork: ok")
        """
    )
    _check(r, "thread fork: ok")
