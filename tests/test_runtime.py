"""dg.__version__, dg.info(), thread control and seeding."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import deltagrad as dg


def test_version_in_one_place():
    """_version.py is the one source: the compiled module and the installed metadata agree."""
    from importlib import metadata

    from deltagrad import _cpu

    assert _cpu.__version__ == dg.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", dg.__version__)
    try:
        dist = metadata.distribution("deltagrad")
    except metadata.PackageNotFoundError:
        return  # imported from the source tree, nothing installed
    installed = pathlib.Path(dist.locate_file("deltagrad/__init__.py")).resolve()
    if installed == pathlib.Path(dg.__file__).resolve():
        assert dist.version == dg.__version__


def test_info_keys_and_types():
    facts = dg.info()
    for key in (
        "version",
        "cpu_isa",
        "num_threads",
        "cuda_compiled",
        "cuda_available",
        "cuda_device",
    ):
        assert key in facts
    assert facts["version"] == dg.__version__
    assert facts["cpu_isa"] in ("generic", "avx2", "avx512")
    assert facts["num_threads"] == dg.get_num_threads() >= 1
    assert isinstance(facts["cuda_compiled"], bool)
    assert facts["build"]["build_type"] and "-O" in facts["build"]["cxx_flags"]
    if not facts["cuda_available"]:
        assert facts["cuda_device"] is None


def test_set_num_threads_roundtrip():
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(1)
        assert dg.get_num_threads() == 1
        dg.set_num_threads(3)
        assert dg.get_num_threads() == 3
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("bad", [0, -1])
def test_set_num_threads_rejects_below_one(bad):
    with pytest.raises(ValueError, match="n >= 1"):
        dg.set_num_threads(bad)


def test_set_num_threads_rejects_non_int():
    with pytest.raises(TypeError):
        dg.set_num_threads(2.5)


def test_manual_seed_reproducible():
    from deltagrad._random import get_rng

    dg.manual_seed(7)
    first = get_rng().random(5)
    dg.manual_seed(7)
    np.testing.assert_array_equal(first, get_rng().random(5))
    dg.manual_seed(8)
    assert not np.array_equal(first, get_rng().random(5))


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError):
        dg.this_does_not_exist  # noqa: B018


def test_cli_info_runs(capsys):
    from deltagrad.cli import main

    assert main(["info"]) == 0
    assert "cpu_isa" in capsys.readouterr().out


# ---- thread bounds (issue 16): every case in a subprocess with a timeout ------------------------

_BOUND_PRELUDE = """
import os, resource, sys, warnings
import numpy as np
import deltagrad as dg
from deltagrad import _cpu, reference
from deltagrad.testing import assert_close

X = np.random.default_rng(3).standard_normal((100, 700))  # large: parallel regions
WANT = reference.softmax(X), reference.sum(X, axis=1)

def work():
    np.testing.assert_allclose(dg.ops.softmax(X), WANT[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dg.ops.sum(X, axis=1), WANT[1], rtol=1e-12, atol=1e-12)
"""


def _run_py(script: str, env_extra: dict | None = None):
    import os
    import subprocess
    import sys
    import textwrap

    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))  # this test's deltagrad
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", _BOUND_PRELUDE + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _sanitized() -> bool:
    import os

    return "asan" in os.environ.get("LD_PRELOAD", "")


def test_max_threads_is_bounded_by_the_machine():
    import os

    from deltagrad import _cpu
    from deltagrad._runtime import MAX_THREADS

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert MAX_THREADS == _cpu.max_threads() == 4 * cpus
    assert 1 <= dg.get_num_threads() <= MAX_THREADS


def test_set_num_threads_above_the_bound_names_it():
    from deltagrad._runtime import MAX_THREADS

    n = dg.get_num_threads()
    for bad in (MAX_THREADS + 1, 256 if MAX_THREADS < 256 else MAX_THREADS + 7, 2**63):
        with pytest.raises(
            ValueError,
            match=rf"set_num_threads: n: expected n >= 1 and <= {MAX_THREADS}, got \d+ \(the bound",
        ):
            dg.set_num_threads(bad)
    assert dg.get_num_threads() == n
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(MAX_THREADS)  # the bound itself is allowed
        assert dg.get_num_threads() == MAX_THREADS
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), 2.0, "2", None])
def test_raw_set_num_threads_rejects_non_ints(bad):
    from deltagrad import _cpu

    with pytest.raises(TypeError, match="set_num_threads: n: expected an int"):
        _cpu.set_num_threads(bad)


def test_omp_num_threads_huge_at_import():
    """OMP_NUM_THREADS=200000 used to make libgomp try to create 200000 threads and exit."""
    r = _run_py(
        """
        assert dg.get_num_threads() == _cpu.max_threads(), dg.get_num_threads()
        assert _cpu.requested_threads == 200000
        work()
        print("env: ok")
        """,
        {"OMP_NUM_THREADS": "200000"},
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert "env: ok" in r.stdout
    assert "OMP_NUM_THREADS asks for 200000 threads" in r.stderr


@pytest.mark.skipif(_sanitized(), reason="ASan reserves terabytes of address space")
@pytest.mark.parametrize("when", ["set_num_threads", "import"])
def test_threads_under_an_address_space_limit(when):
    """set_num_threads(256) and the count at import under RLIMIT_AS: never exit or crash;
    the count goes down to what the process can create (a RuntimeWarning says so)."""
    r = _run_py(
        f"""
        when = {when!r}
        if when == "set_num_threads":
            dg.set_num_threads(1)
            work()  # one thread: no pool yet
        vm = int([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize")][0])
        # room for a couple of thread stacks (8 MiB each by default), not for MAX_THREADS
        limit = vm * 1024 + 40 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        if when == "set_num_threads":
            try:
                dg.set_num_threads(256)
            except ValueError as e:
                assert "<= " + str(_cpu.max_threads()) in str(e), e
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                dg.set_num_threads(_cpu.max_threads())
            msgs = [str(x.message) for x in w]
            if dg.get_num_threads() < _cpu.max_threads():
                assert any("cannot create more threads" in m for m in msgs), msgs
        work()
        n = dg.get_num_threads()
        assert 1 <= n <= _cpu.max_threads(), n
        print("rlimit: ok", n)
        """,
        {"OMP_NUM_THREADS": str(dg._runtime.MAX_THREADS)} if when == "import" else None,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert "rlimit: ok" in r.stdout
