"""dg.distributed, DistributedDataParallel and DistributedSampler against torch's semantics.

One `mpiexec -n 2` job of tests/distributed_worker_r30.py runs the checks that need ranks
(every ReduceOp and dtype, in-place results, reduce, async_op's Work, torch's exception types,
DDP's gradients to 1e-12 against one process, broadcast_buffers, find_unused_parameters,
no_sync, torch's attributes); the rest runs here, DistributedSampler next to torch's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.data import DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker_r30.py")


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason='mpi4py is missing: pip install "deltagrad[distributed]"')
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    exe = local if os.path.exists(local) else shutil.which("mpiexec")
    if exe is None:
        pytest.skip('mpiexec is missing: pip install "deltagrad[distributed]" (mpich)')
    return exe


def test_collectives_and_ddp_follow_torch_on_two_ranks():
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    r = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, WORKER],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(re.findall(r"worker ok (\d+)", r.stdout)) == ["0", "1"], r.stdout + r.stderr


# ---- without a process group ----------------------------------------------------------------


def test_no_process_group_raises_torchs_value_error():
    """torch raises ValueError ("Default process group has not been initialized"); deltagrad
    raised RuntimeError, which the error still is."""
    import deltagrad.distributed as dist
    from deltagrad.nn.parallel import DistributedDataParallel

    assert not dist.is_initialized()
    calls = [
        dist.get_rank,
        dist.get_world_size,
        dist.get_backend,
        dist.barrier,
        lambda: dist.all_reduce(np.ones(2)),
        lambda: dist.reduce(np.ones(2), 0),
        lambda: dist.broadcast(np.ones(2), 0),
        lambda: dist.all_gather([np.ones(2)], np.ones(2)),
        lambda: DistributedDataParallel(dg.nn.Linear(2, 2)),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="init_process_group") as info:
            call()
        assert isinstance(info.value, RuntimeError)


def test_reduce_op_has_torchs_names():
    import deltagrad.distributed as dist

    for name in ("SUM", "AVG", "PRODUCT", "MAX", "MIN", "BAND", "BOR", "BXOR"):
        assert hasattr(dist.ReduceOp, name), name
    assert "reduce" in dist.__all__


# ---- DistributedSampler next to torch's --------------------------------------------------------


@pytest.mark.torch
def test_distributed_sampler_matches_torch_without_shuffle():
    """The unshuffled share, len, num_samples and total_size of every rank equal torch's for
    every size from 0 to 13 and 1 to 6 replicas (more replicas than samples included)."""
    torch_sampler = pytest.importorskip("torch.utils.data.distributed").DistributedSampler
    for n in range(14):
        for replicas in range(1, 7):
            for drop_last in (False, True):
                for r in range(replicas):
                    ours = DistributedSampler(
                        range(n), replicas, r, shuffle=False, drop_last=drop_last
                    )
                    theirs = torch_sampler(
                        range(n), replicas, r, shuffle=False, drop_last=drop_last
                    )
                    key = (n, replicas, r, drop_last)
                    assert list(ours) == list(theirs), key
                    assert len(ours) == len(theirs) == len(list(ours)), key
                    assert (ours.num_samples, ours.total_size) == (
                        theirs.num_samples,
                        theirs.total_size,
                    ), key


@pytest.mark.torch
def test_distributed_sampler_shuffled_structure_matches_torch():
    """Shuffled (torch's randperm and numpy's orders differ): the same lengths, each index
    exactly once over the ranks when the size divides, set_epoch reshuffles and an epoch
    gives its order back; torch's ValueError for a rank out of range."""
    torch_sampler = pytest.importorskip("torch.utils.data.distributed").DistributedSampler
    for n, replicas in ((12, 3), (12, 4), (10, 5), (7, 7)):
        parts = []
        for r in range(replicas):
            ours = DistributedSampler(range(n), replicas, r, seed=11)
            theirs = torch_sampler(range(n), replicas, r, seed=11)
            assert len(list(ours)) == len(ours) == len(list(theirs)) == len(theirs)
            parts.append(list(ours))
        assert sorted(i for p in parts for i in p) == list(range(n))
    s = DistributedSampler(range(40), 2, 1, seed=3)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    s.set_epoch(0)
    assert second != first and list(s) == first
    for bad in (2, 5, -1):
        with pytest.raises(ValueError, match=f"Invalid rank {bad}"):
            DistributedSampler(range(4), num_replicas=2, rank=bad)
        with pytest.raises(ValueError, match=f"Invalid rank {bad}"):
            torch_sampler(range(4), num_replicas=2, rank=bad)


# numpy's default_rng takes no negative seed; torch's manual_seed does
def test_distributed_sampler_takes_a_negative_seed_as_torch():
    parts = [list(DistributedSampler(range(10), 2, r, seed=-1)) for r in range(2)]
    assert sorted(parts[0] + parts[1]) == list(range(10))
    s = DistributedSampler(range(10), 2, 0, seed=-5)
    s.set_epoch(2)
    assert len(list(s)) == 5


def test_manual_seed_takes_torch_range():
    """torch.manual_seed takes [-2**63, 2**64) and takes a negative seed modulo 2**64 (its
    initial_seed() after manual_seed(-1) is 2**64 - 1); so does dg.manual_seed (-1 and 2**64 - 1
    give the same stream, and dg.Generator's)."""
    a = dg.manual_seed(-1).random(4)
    assert dg.initial_seed() == 2**64 - 1
    b = dg.manual_seed(2**64 - 1).random(4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, dg.Generator().manual_seed(-1).random(4))
    assert not np.array_equal(a, dg.manual_seed(2**64 - 2).random(4))
    dg.manual_seed(2**64 - 1)
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError, match="manual_seed"):
            dg.manual_seed(bad)
