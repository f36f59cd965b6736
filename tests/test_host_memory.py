"""glibc's malloc thresholds, raised at import (csrc/common/host_memory.h): results' buffers are
reused from the heap instead of being mapped and faulted in again on every call; the user's own
malloc settings and DG_MALLOC_TUNE=0 leave glibc's defaults."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

import deltagrad as dg
from deltagrad import _cpu

PYTHON_DIR = str(pathlib.Path(dg.__file__).resolve().parent.parent)
GLIBC = platform.libc_ver()[0] == "glibc"
MALLOC_VARS = (
    "DG_MALLOC_TUNE",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)

# In a fresh process: the policy, then the minor page faults of 20 rounds of 8 results of 1 MiB
# each (a training step's pattern: many results alive at once, all freed at the end), after 3
# rounds of warm-up.
PROBE = r"""
import json, resource, numpy as np
from deltagrad import _cpu, ops
x = np.random.default_rng(0).standard_normal(1 << 18).astype(np.float32)  # 1 MiB
def rounds(n):
    for _ in range(n):
        ys = [ops.activation(x, "relu") for _ in range(8)]
        del ys
rounds(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
# the counter's own control: as many fresh anonymous mappings of 1 MiB, each written whole
import mmap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20 * 8):
    m = mmap.mmap(-1, 1 << 20)
    m.write(b"\x01" * (1 << 20))
    m.close()
control = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"policy": _cpu.host_malloc(), "faults": faults, "control": control}))
"""


def _probe(**env_set):
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_VARS}
    env.update(env_set)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_info_reports_the_policy():
    facts = dg.info()["host_malloc"]
    assert facts == _cpu.host_malloc()
    assert set(facts) == {"tuned", "why_not", "mmap_threshold", "trim_threshold"}
    if facts["tuned"]:
        assert facts["why_not"] == ""
        assert facts["mmap_threshold"] >= 64 << 20 and facts["trim_threshold"] >= 256 << 20
    else:
        assert facts["why_not"] and facts["mmap_threshold"] == facts["trim_threshold"] == 0


@pytest.mark.skipif(not GLIBC, reason="the policy is glibc's mallopt")
def test_results_reuse_the_heap_without_page_faults():
    pages = 20 * 8 * (1 << 20) // 4096
    tuned, default = _probe(), _probe(DG_MALLOC_TUNE="0")
    mapped = _probe(MALLOC_MMAP_THRESHOLD_="131072")
    assert tuned["policy"]["tuned"], tuned
    assert default["policy"] == {
        "tuned": False,
        "why_not": "DG_MALLOC_TUNE=0",
        "mmap_threshold": 0,
        "trim_threshold": 0,
    }
    assert not mapped["policy"]["tuned"], mapped
    # 256 faults per MiB (4 KiB pages). The counter is checked by its own control in the same
    # process: as many fresh 1 MiB anonymous mappings, written whole, fault ~pages times. The
    # raised thresholds: the same heap blocks every round, a small fraction of one round's pages
    # in all. A fixed 128 KiB mmap threshold (glibc's starting value, which its dynamic rule
    # raises after the first free of a mapped block) maps every 1 MiB result afresh: 41120 of
    # 40960 pages alone, 5140 once in a full `pytest -n 2` run, and 0 in some full runs of the
    # dev tree (rounds 44 and 45, every retry; the cause not found: the mmap control beside it
    # is what shows the counter works), so it is only reported, as glibc's plain defaults are
    # (40320, 19840 and 9600 seen, depending on what the imports left on the heap).
    for probe in (tuned, default, mapped):
        assert probe["control"] >= pages // 2, probe
    assert tuned["faults"] < pages // 20, (tuned, default, mapped)


@pytest.mark.skipif(not GLIBC, reason="the policy is glibc's mallopt")
@pytest.mark.parametrize(
    "var, value, why",
    [
        ("MALLOC_TRIM_THRESHOLD_", "131072", "MALLOC_TRIM_THRESHOLD_"),
        ("MALLOC_MMAP_THRESHOLD_", "131072", "MALLOC_MMAP_THRESHOLD_"),
        ("MALLOC_TOP_PAD_", "0", "MALLOC_TOP_PAD_"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072", "GLIBC_TUNABLES"),
    ],
)
def test_the_users_malloc_settings_win(var, value, why):
    got = _probe(**{var: value})["policy"]
    assert not got["tuned"] and got["why_not"].startswith(why), got


@pytest.mark.skipif(not GLIBC, reason="the policy is glibc's mallopt")
def test_other_tunables_do_not_disable_it():
    got = _probe(GLIBC_TUNABLES="glibc.cpu.hwcaps=-AVX512F_Usable")["policy"]
    assert got["tuned"], got
