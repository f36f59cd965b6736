"""tests/conftest.py's --shard I/N (dev/sanitize.sh runs its tests as parallel shards): the
shards of a collection are disjoint, cover it, and keep its order; a malformed spec is a usage
error."""

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
