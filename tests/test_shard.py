"""tests/conftest.py's --shard I/N (dev/sanitize.sh runs its tests as parallel shards): the
shards of a collection are disjoint, cover it, and keep its order; a malformed spec is a usage
error."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET = "tests/test_ops_reduce.py"


def _collect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            TARGET,
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _ids(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(TARGET + "::")]


def test_shards_partition_the_collection():
    full = _ids(_collect().stdout)
    assert len(full) > 10
    shards = [_ids(_collect("--shard", f"{i}/3").stdout) for i in range(3)]
    for ids in shards:
        assert 0 < len(ids) < len(full)
        assert ids == [t for t in full if t in set(ids)]  # in collection order
    assert sorted(sum(shards, [])) == sorted(full)  # disjoint, and together the whole


@pytest.mark.parametrize("spec", ["2/2", "-1/2", "1", "a/b"])
def test_bad_shard_spec_is_a_usage_error(spec):
    r = _collect("--shard", spec)
    assert r.returncode == 4, r.stdout + r.stderr  # pytest's usage error
    assert "--shard" in r.stdout + r.stderr


def _run_shared(path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--share", str(path)]
        + [TARGET, "-k", "float64", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _outcomes(out: str) -> list[str]:
    outcomes = re.findall(r"^(" + re.escape(TARGET) + r"::.*?) (?:PASSED|SKIPPED)", out, re.M)
    assert outcomes
    return outcomes


def test_share_runs_each_test_once_across_processes(tmp_path):
    full = _ids(_collect("-k", "float64").stdout)
    assert len(full) > 10
    procs = [_run_shared(tmp_path / "tickets") for _ in range(3)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ran = [_outcomes(out) for out in outs]
    assert sorted(sum(ran, [])) == sorted(full)  # every test once, by one of the processes
    for ids in ran:  # each process in collection order
        assert ids == [t for t in full if t in set(ids)]


def test_share_refuses_a_different_collection(tmp_path):
    tickets = tmp_path / "tickets"
    tickets.write_text("7 12345 3")  # left by processes that collected 7 other tests
    other = _run_shared(tickets)
    out = other.communicate(timeout=300)[0]
    assert other.returncode != 0 and "--share" in out and "another sharing the file 7" in out, out
    assert tickets.read_text() == "7 12345 3"  # the counter untouched
