"""Where the kernels' OpenMP workers run (dg::place_team, csrc/common/threads.h).

Each worker is pinned to one CPU of the master's mask, other than the master's, where the thread
count fills the mask; the master's own mask is never changed; DG_PIN_THREADS=0, OpenMP's own
placement variables or fewer threads than CPUs leave every thread unpinned.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu

CPUS = sorted(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(len(CPUS) < 2, reason="one CPU in this process's mask")


def _thread_cpu() -> int:
    """The CPU the calling thread last ran on (field 39 of /proc/thread-self/stat)."""
    with open("/proc/thread-self/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[36])


@pytest.fixture
def all_threads():
    """The thread count set to the number of CPUs in the mask, placement on; restored after."""
    old_n, old_pin = dg.get_num_threads(), _cpu._pin_threads()
    dg.set_num_threads(len(CPUS))
    _cpu._set_pin_threads(True)
    yield len(CPUS)
    _cpu._set_pin_threads(old_pin)
    dg.set_num_threads(old_n)


@needs_two
def test_workers_pinned_to_distinct_cpus_master_untouched(all_threads):
    n = all_threads
    before = os.sched_getaffinity(0)
    masks = _cpu._team_masks(n)
    assert masks[0] == sorted(before), "the master's mask must stay as it was"
    workers = masks[1:]
    assert all(len(m) == 1 for m in workers), masks
    pinned = [m[0] for m in workers]
    assert len(set(pinned)) == n - 1 and set(pinned) <= before, masks
    assert _cpu._team_cpus() == [-1, *pinned]
    # a team of fewer threads uses the first workers, pinned as before
    if n > 2:
        assert _cpu._team_masks(2)[1] == workers[0]
    assert os.sched_getaffinity(0) == before


@needs_two
def test_master_moves_off_a_workers_cpu_and_keeps_its_mask(all_threads):
    n = all_threads
    _cpu._team_masks(n)
    w = _cpu._team_cpus()[1]
    before = os.sched_getaffinity(0)
    a = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
    t = dg.tensor(a)
    moved = rounds = 0
    for _ in range(50):
        os.sched_setaffinity(0, {w})  # now on the worker's CPU
        os.sched_setaffinity(0, before)  # mask restored, still there...
        if _thread_cpu() != w:  # ...unless the scheduler moved it already (seen in CI): no test
            continue
        out = (t @ t).numpy()  # 2+ threads: place_team moves the master first
        assert os.sched_getaffinity(0) == before
        moved += _thread_cpu() != w
        rounds += 1
        if rounds == 5:
            break
    assert rounds == 5, f"the scheduler moved the thread off CPU {w} at once in {50 - rounds} tries"
    np.testing.assert_allclose(out, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)
    assert moved >= 4, f"the master stayed on worker CPU {w} in {5 - moved} of 5 calls"


@needs_two
def test_no_pinning_off_or_below_the_cpu_count(all_threads):
    n = all_threads
    full = sorted(os.sched_getaffinity(0))
    assert all(len(m) == 1 for m in _cpu._team_masks(n)[1:])
    _cpu._set_pin_threads(False)  # unpins at the next region
    assert _cpu._team_masks(n) == [full] * n and _cpu._team_cpus() == []
    _cpu._set_pin_threads(True)
    assert all(len(m) == 1 for m in _cpu._team_masks(n)[1:])
    dg.set_num_threads(n + 1)  # more threads than CPUs: the scheduler places them
    assert _cpu._team_masks(n) == [full] * n and _cpu._team_cpus() == []


@needs_two
def test_each_calling_thread_has_its_own_team(all_threads):
    n = all_threads
    main = _cpu._team_masks(n)
    seen = {}

    def run():
        seen["masks"] = _cpu._team_masks(n)
        seen["cpus"] = _cpu._team_cpus()

    th = threading.Thread(target=run)
    th.start()
    th.join()
    assert seen["masks"][0] == sorted(os.sched_getaffinity(0))
    assert all(len(m) == 1 for m in seen["masks"][1:]), seen
    assert _cpu._team_masks(n) == main  # the main thread's team is unchanged


@needs_two
@pytest.mark.parametrize(
    "env", [{"DG_PIN_THREADS": "0"}, {"OMP_PROC_BIND": "false"}, {"DG_PIN_THREADS": "1"}]
)
def test_environment(env):
    code = textwrap.dedent(
        f"""
        import os
        import deltagrad as dg
        from deltagrad import _cpu
        dg.set_num_threads({len(CPUS)})
        masks = _cpu._team_masks({len(CPUS)})
        print(_cpu._pin_threads(), all(len(m) == 1 for m in masks[1:]))
        """
    )
    child = {k: v for k, v in os.environ.items() if k not in ("OMP_PROC_BIND", "DG_PIN_THREADS")}
    r = subprocess.run(
        [sys.executable, "-c", code], env={**child, **env}, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    on = env.get("DG_PIN_THREADS") == "1"
    assert r.stdout.split() == [str(on), str(on)], (env, r.stdout)


def _num_threads_arg(line: str) -> str | None:
    """The argument of a pragma's num_threads(...) clause (parentheses balanced), or None."""
    at = line.find("num_threads(")
    if at < 0:
        return None
    depth, start = 1, at + len("num_threads(")
    for j in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[j], 0)
        if depth == 0:
            return line[start:j]
    return None


def test_every_parallel_region_is_placed():
    """Each `#pragma omp parallel` of the kernels directly follows place_team(<its thread
    count>); a region without one leaves its workers wherever libgomp's wake puts them."""
    root = pathlib.Path(__file__).resolve().parents[1] / "csrc"
    unplaced, regions = [], 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".h", ".cpp") or path.name == "threads.cpp":
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.lstrip().startswith("#pragma omp parallel"):
                continue
            regions += 1
            prev = next((p.strip() for p in reversed(lines[:i]) if p.strip()), "")
            count = _num_threads_arg(line)
            if count is None or prev != f"place_team({count});":
                unplaced.append(f"{path.relative_to(root)}:{i + 1}: {prev}")
    assert regions >= 30, regions
    assert not unplaced, unplaced
