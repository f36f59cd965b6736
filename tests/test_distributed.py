"""dg.distributed, DistributedDataParallel and DistributedSampler.

The multi-process checks launch `mpiexec -n 2` and `-n 3` jobs of tests/distributed_worker.py
(each check inside raises on a mismatch, which aborts the job with a non-zero exit): N ranks
with per-rank batch b end with the weights of one process with batch N*b (float64, 1e-10,
5 steps of SGD with momentum and of Adam, also from different random initial weights),
no_sync accumulation, the collectives, the sampler's partition, a model mismatch error, a
parameter unused on some ranks, buffers from rank 0; bitwise identical gradients on every rank
(float32), the gradient storage model (hooks, set_to_none, mixed dtypes, a frozen parameter);
each on both reduction paths (MPI_Iallreduce buckets, the MPI-3 shared window), and for the
shared window its lifetime and a fork. They skip without mpi4py or mpiexec
(pip install "deltagrad[distributed]").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.data import DataLoader, DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker.py")


def _mpiexec() -> str | None:
    """The mpiexec next to this interpreter (MPICH's wheel installs it there), else PATH's."""
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.exists(local):
        return local
    return shutil.which("mpiexec")


def _need_mpi() -> str:
    pytest.importorskip("mpi4py", reason='mpi4py is missing: pip install "deltagrad[distributed]"')
    exe = _mpiexec()
    if exe is None:
        pytest.skip('mpiexec is missing: pip install "deltagrad[distributed]" (mpich)')
    return exe


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(dg.__file__)))
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _launch(n: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = _need_mpi()
    return subprocess.run(
        [exe, "-n", str(n), sys.executable, WORKER, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


@pytest.mark.parametrize("reduction", ["iallreduce", "shm"])
@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_one_process_with_the_global_batch(n, reduction, tmp_path):
    r = _launch(n, "all", str(tmp_path), reduction)
    assert r.returncode == 0, r.stdout + r.stderr
    ranks = sorted(int(k) for k in re.findall(r"worker ok (\d+)", r.stdout))
    assert ranks == list(range(n)), r.stdout + r.stderr


def test_a_failing_rank_ends_the_job():
    t0 = time.perf_counter()
    r = _launch(2, "crash", timeout=60)
    took = time.perf_counter() - t0
    assert r.returncode != 0
    assert took < 60
    err = r.stdout + r.stderr
    assert "rank 1 of 2 raised" in err and "fails on purpose" in err, err


def test_cli_train_distributed_reports_the_one_process_metrics():
    pytest.importorskip("sklearn", reason="the default data set ships with scikit-learn")
    exe = _need_mpi()
    cmd = [sys.executable, "-m", "deltagrad.cli", "train", "--epochs", "4", "--no-progress"]
    one = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env())
    two = subprocess.run(
        [exe, "-n", "2", *cmd, "--distributed"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr

    def report(out: str) -> list[str]:  # everything but the timing line
        return [line for line in out.splitlines() if not line.startswith(("training:", "("))]

    assert report(two.stdout) == report(one.stdout)
    assert two.stdout.count("test set:") == 1  # one report: rank 0's
    assert "data-parallel over 2 MPI ranks" in two.stdout


# ---- without MPI ---------------------------------------------------------------------------


def test_import_error_names_the_extra(monkeypatch):
    import deltagrad.distributed as dist

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` raises ImportError
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(ImportError, match=r"deltagrad\[distributed\]"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_import_deltagrad_does_not_import_mpi4py():
    code = (
        "import sys, deltagrad, deltagrad.nn, deltagrad.distributed, deltagrad.nn.parallel; "
        "assert 'mpi4py' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), timeout=60)


def test_not_initialized_and_bad_arguments():
    import deltagrad.distributed as dist

    with pytest.raises(RuntimeError, match="get_rank.*init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend 'nccl'"):
        dist.init_process_group("nccl")
    from deltagrad.nn.parallel import DistributedDataParallel

    with pytest.raises(RuntimeError, match="DistributedDataParallel.*init_process_group"):
        DistributedDataParallel(dg.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="DistributedDataParallel: reduction must be"):
        DistributedDataParallel(dg.nn.Linear(2, 2), reduction="nccl")
    with pytest.raises(RuntimeError, match="DistributedSampler.*init_process_group"):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)


@pytest.mark.parametrize("n", [0, 1, 5, 23, 24])
@pytest.mark.parametrize("replicas", [1, 2, 3, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partitions_every_epoch(n, replicas, drop_last):
    samplers = [
        DistributedSampler(range(n), replicas, r, shuffle=True, seed=3, drop_last=drop_last)
        for r in range(replicas)
    ]
    orders = set()
    for epoch in range(4):
        parts = []
        for s in samplers:
            s.set_epoch(epoch)
            parts.append(list(s))
            assert len(parts[-1]) == len(s)
        flat = [i for p in parts for i in p]
        assert len({len(p) for p in parts}) <= 1  # every rank the same number of samples
        if drop_last:
            assert len(flat) == len(set(flat)) == (n // replicas) * replicas
        else:
            assert set(flat) == set(range(n))
            assert len(flat) == -(-n // replicas) * replicas
        # the interleaved shares are one permutation (padded by repeating its start)
        merged = [parts[i % replicas][i // replicas] for i in range(len(flat))]
        assert merged[:n] == list(np.random.default_rng(3 + epoch).permutation(n))[: len(merged)]
        orders.add(tuple(flat))
    if min(n, len(flat)) > 2:
        assert len(orders) > 1  # set_epoch reshuffles


@pytest.mark.torch
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_is_torchs_partition(drop_last):
    torch_sampler = pytest.importorskip("torch.utils.data.distributed").DistributedSampler
    for n in (0, 1, 2, 7, 23):
        for replicas in (1, 2, 3, 5):
            for r in range(replicas):
                ours = DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
                theirs = torch_sampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
                assert list(ours) == list(theirs)
                assert len(ours) == len(theirs)


def test_distributed_sampler_in_a_dataloader():
    data = dg.data.TensorDataset(np.arange(10.0)[:, None])
    s = DistributedSampler(data, num_replicas=3, rank=1, shuffle=False)
    got = [b[0].data.ravel().tolist() for b in DataLoader(data, batch_size=2, sampler=s)]
    assert got == [[1.0, 4.0], [7.0, 0.0]]


# ---- the engine's pieces DDP builds on ------------------------------------------------------


def test_queue_callback_runs_after_the_backward():
    from deltagrad import _engine

    w = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []

    def callback():
        seen.append(("callback", w.grad.tolist()))
        _engine.queue_callback(lambda: seen.append("queued by a callback"))

    def hook(t):
        _engine.queue_callback(callback)
        seen.append(("hook", t.grad.tolist()))

    w.register_post_accumulate_grad_hook(hook)
    (w * w).sum().backward()
    assert seen == [("hook", [2.0, 4.0]), ("callback", [2.0, 4.0]), "queued by a callback"]
    seen.clear()
    (w * 3.0).sum().backward(inputs=[w])  # run_backward's path too
    assert seen == [("hook", [5.0, 7.0]), ("callback", [5.0, 7.0]), "queued by a callback"]
    with pytest.raises(RuntimeError, match="queue_callback: no backward is running"):
        _engine.queue_callback(lambda: None)


def test_post_accumulate_hooks_fire_as_soon_as_the_gradient_is_complete():
    """The last layer's parameters are ready before the first layer's backward ran (what lets
    DDP overlap its all-reduce with the rest of the backward); values as before."""
    from deltagrad import nn

    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x = dg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    model(x).sum().backward()
    expect = {n: p.grad.copy() for n, p in model.named_parameters()}
    model.zero_grad()
    events = []
    for n, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, n=n: events.append(n))
    first = model[0]
    orig = first.forward

    def forward(inp):
        out = orig(inp)
        out.register_hook(lambda g: events.append("layer 0 backward"))
        return out

    first.forward = forward
    model(x).sum().backward()
    assert events.index("2.weight") < events.index("layer 0 backward") < events.index("0.weight")
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, expect[n])


def test_cuda_aware_follows_the_environment(monkeypatch):
    import deltagrad.distributed as dist

    monkeypatch.setenv("DG_MPI_CUDA_AWARE", "1")
    assert dist.cuda_aware() is True
    monkeypatch.setenv("DG_MPI_CUDA_AWARE", "0")
    assert dist.cuda_aware() is False


def test_distributed_sampler_fast_path_equals_the_items():
    X = np.random.default_rng(0).standard_normal((23, 3))
    y = np.arange(23)
    data = dg.data.TensorDataset(X, y)
    s = DistributedSampler(data, num_replicas=3, rank=2, shuffle=True, seed=9)
    s.set_epoch(4)
    fast = [(b[0].data, b[1].data) for b in DataLoader(data, batch_size=3, sampler=s)]
    items = [(b[0].data, b[1].data) for b in DataLoader(data, batch_size=3, sampler=list(s))]
    assert len(fast) == len(items) == 3
    for (a, b), (c, d) in zip(fast, items):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
