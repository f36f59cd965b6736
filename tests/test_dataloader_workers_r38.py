"""DataLoader with worker processes (num_workers > 0), against num_workers=0 and torch.

Map-style loaders must give exactly the batches of num_workers=0 (same sampler order, same
values, dtypes and structure); iterable-style ones, sharded with get_worker_info, the sequence
of batches of torch's DataLoader over the same data set class. Every test ends with no child
process left (the autouse fixture)."""

from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import pickle
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import data as dgdata
from deltagrad.data import DataLoader, TensorDataset
from deltagrad.tensor import Tensor

torch = pytest.importorskip("torch")
tdata = pytest.importorskip("torch.utils.data")
tworker = pytest.importorskip("torch.utils.data._utils.worker")

pytestmark = pytest.mark.torch

Pair = collections.namedtuple("Pair", ["x", "y"])


@pytest.fixture(autouse=True)
def _no_children_left():
    yield
    if multiprocessing.active_children():  # an iterator held by a cycle (a traceback's frames)
        gc.collect()
    assert multiprocessing.active_children() == []


def _tree(b):
    """A batch as nested Python / numpy values (dg and torch Tensors as (dtype, array))."""
    if isinstance(b, Tensor):
        return ("T", b.data.dtype.str, b.data.shape, b.data.tolist())
    if isinstance(b, torch.Tensor):
        return ("T", b.numpy().dtype.str, tuple(b.shape), b.tolist())
    if isinstance(b, dict):
        return (type(b).__name__, [(k, _tree(v)) for k, v in b.items()])
    if isinstance(b, (list, tuple)):
        return (type(b).__name__, [_tree(v) for v in b])
    return (type(b).__name__, b)


def _epoch(loader):
    return [_tree(b) for b in loader]


# ---- data sets (module level: spawn pickles them) -----------------------------------------


class Items(dgdata.Dataset):
    """Item i: a dict of a float64 row, an int label, a string and a namedtuple."""

    def __init__(self, n=13):
        rng = np.random.default_rng(1)
        self.x = rng.standard_normal((n, 3))
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": self.x[i], "y": int(i) * 3 - 4, "s": f"item{i}", "p": Pair(i, 0.5 * i)}


class WithGetitems(Items):
    def __getitems__(self, indices):
        return [{"x": self.x[i], "y": -int(i)} for i in indices]


def _shards(base, info):
    class Shards(base):
        """start..stop-1, worker w of k taking the items w, w + k, ...; an uneven split."""

        def __init__(self, start=0, stop=17):
            self.start, self.stop = start, stop

        def __iter__(self):
            w = info()
            lo, step = (self.start, 1) if w is None else (self.start + w.id, w.num_workers)
            for i in range(lo, self.stop, step):
                yield np.array([i, i * i], dtype=np.int64)

        def __len__(self):
            return self.stop - self.start

    return Shards


DgShards = _shards(dgdata.IterableDataset, dgdata.get_worker_info)
TorchShards = _shards(tdata.IterableDataset, tdata.get_worker_info)


class Probe(dgdata.Dataset):
    """Item i: what the worker that fetched it knows (pid, its WorkerInfo, its generators)."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        w = dgdata.get_worker_info()
        return {
            "i": i,
            "pid": os.getpid(),
            "id": w.id,
            "num_workers": w.num_workers,
            "seed": w.seed,
            "dataset": type(w.dataset).__name__,
            "init": list(_INIT_CALLS),
            "np": float(np.random.random_sample()),
            "random": random.random(),
            "dg_seed": dg.initial_seed(),
        }


_INIT_CALLS: list[int] = []


def _record_init(worker_id):
    _INIT_CALLS.append(worker_id)


def _fail_init(worker_id):
    raise KeyError(f"no config for worker {worker_id}")


class Faulty(dgdata.Dataset):
    """Item 5 raises (or kills its worker, or sleeps, or cannot be pickled)."""

    def __init__(self, mode):
        self.mode = mode

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            if self.mode == "raise":
                raise ValueError(f"bad item {i}")
            if self.mode == "keyerror":
                raise KeyError("missing")
            if self.mode == "local":

                class LocalError(Exception):
                    pass

                raise LocalError("from a local class")
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "sleep":
                time.sleep(2.5)
            if self.mode == "lambda":
                return lambda: i
        return i


# ---- same batches as num_workers=0 -----------------------------------------------------------


def _configs():
    x = np.random.default_rng(0).standard_normal((19, 4))
    y = np.arange(19, dtype=np.int32)
    tds = TensorDataset(x, y)
    return {
        "seq": (tds, {"batch_size": 4}),
        "seq_drop_last": (tds, {"batch_size": 4, "drop_last": True}),
        "shuffle": (tds, {"batch_size": 5, "shuffle": True}),
        "shuffle_drop_last": (tds, {"batch_size": 5, "shuffle": True, "drop_last": True}),
        "subset": (dgdata.Subset(tds, [7, 3, 18, 0, 5, 5, 11]), {"batch_size": 3}),
        "sampler": (tds, {"batch_size": 3, "sampler": [4, 2, 17, 9, 1, 0, 8]}),
        "subset_random": (
            tds,
            {"batch_size": 2, "sampler": dgdata.SubsetRandomSampler([1, 5, 9, 13, 2])},
        ),
        "weighted": (
            tds,
            {"batch_size": 4, "sampler": dgdata.WeightedRandomSampler(np.arange(19.0), 10)},
        ),
        "batch_sampler": (tds, {"batch_sampler": [[3, 1], [0], [18, 17, 16], [2, 2]]}),
        "no_batching": (tds, {"batch_size": None}),
        "collate_fn": (
            tds,
            {"batch_size": 6, "collate_fn": lambda b: (len(b), dg.stack([t[0] for t in b]))},
        ),
        "items": (Items(), {"batch_size": 4, "shuffle": True}),
        "items_no_batching": (Items(5), {"batch_size": None}),
        "getitems": (WithGetitems(), {"batch_size": 5}),
        "stack": (dgdata.StackDataset(a=tds, b=Items(19)), {"batch_size": 7}),
    }


@pytest.mark.parametrize("name", sorted(_configs()))
def test_map_style_same_batches_as_num_workers_0(name):
    dataset, kwargs = _configs()[name]
    seq = dgdata.SubsetRandomSampler if name == "subset_random" else None
    epochs = {}
    for workers in (0, 2):
        dg.manual_seed(123)  # generator=None: the shuffle seed comes from deltagrad's generator
        if seq is not None:
            kwargs["sampler"].generator = None
        extra = {"num_workers": workers} if workers else {}
        loader = DataLoader(dataset, **kwargs, **extra)
        epochs[workers] = [_epoch(loader) for _ in range(2)]
        assert len(epochs[workers][0]) == len(loader)
    assert epochs[2] == epochs[0]
    if kwargs.get("shuffle"):
        assert epochs[0][0] != epochs[0][1]


def test_shuffle_with_generator_same_as_num_workers_0_and_generator_state():
    ds = TensorDataset(np.arange(40.0).reshape(20, 2))
    runs = {}
    for workers in (0, 1, 2):
        gen = np.random.default_rng(7)
        extra = {"num_workers": workers} if workers else {}
        loader = DataLoader(ds, batch_size=3, shuffle=True, generator=gen, **extra)
        runs[workers] = ([_epoch(loader) for _ in range(3)], gen.bit_generator.state)
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_map_style_batches_equal_torch_sequential():
    x = np.random.default_rng(3).standard_normal((11, 2))
    ours = DataLoader(TensorDataset(x), batch_size=4, num_workers=2)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.from_numpy(x)), batch_size=4, num_workers=2)
    assert _epoch(ours) == _epoch(theirs)


def test_tensors_are_rebuilt_as_deltagrad_tensors():
    def collate(batch):
        t = dg.tensor(np.array(batch, dtype=np.float32))
        return {"t": t, "w": dg.ones(2, requires_grad=True), "pair": Pair(t, "s"), "n": len(batch)}

    ds = TensorDataset(np.arange(6, dtype=np.int16))
    ours = list(
        DataLoader(
            ds,
            batch_size=4,
            num_workers=1,
            collate_fn=lambda b: collate([int(i[0].data) for i in b]),
        )
    )
    first = ours[0]
    assert isinstance(first["t"], Tensor) and first["t"].data.dtype == np.float32
    assert first["w"].requires_grad and first["w"].is_leaf
    assert isinstance(first["pair"], Pair) and isinstance(first["pair"].x, Tensor)
    assert first["n"] == 4 and ours[1]["n"] == 2
    np.testing.assert_array_equal(ours[1]["t"].data, [4, 5])
    default = next(iter(DataLoader(ds, batch_size=3, num_workers=1)))
    assert type(default) is list and isinstance(default[0], Tensor)
    assert default[0].data.dtype == np.int16 and default[0].data.flags.writeable


def test_spawn_context_and_context_object():
    ds = TensorDataset(np.arange(10.0), np.arange(10))
    ref = _epoch(DataLoader(ds, batch_size=4))
    loader = DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert isinstance(loader.multiprocessing_context, multiprocessing.context.SpawnContext)
    assert _epoch(loader) == ref
    ctx = multiprocessing.get_context("fork")
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=ctx)
    assert loader.multiprocessing_context is ctx
    assert _epoch(loader) == ref


# ---- iterable-style --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workers,kwargs",
    [
        (1, {"batch_size": 3}),
        (2, {"batch_size": 3}),
        (2, {"batch_size": 4, "drop_last": True}),
        (2, {"batch_size": None}),
        (2, {"batch_size": 2, "collate_fn": lambda b: [int(v[0]) for v in b]}),
    ],
)
def test_iterable_sharding_same_batches_as_torch(workers, kwargs):
    ours = _epoch(DataLoader(DgShards(), num_workers=workers, **kwargs))
    theirs = _epoch(tdata.DataLoader(TorchShards(), num_workers=workers, **kwargs))
    assert ours == theirs
    assert len(DataLoader(DgShards(), num_workers=workers, **kwargs)) == len(
        tdata.DataLoader(TorchShards(), num_workers=workers, **kwargs)
    )


def test_iterable_without_sharding_repeats_per_worker_as_torch():
    ours = _epoch(DataLoader(DgShards(0, 5), batch_size=2, num_workers=2))
    theirs = _epoch(tdata.DataLoader(TorchShards(0, 5), batch_size=2, num_workers=2))
    assert ours == theirs


def test_iterable_persistent_workers_two_epochs_as_torch():
    ours = DataLoader(DgShards(1, 12), batch_size=2, num_workers=2, persistent_workers=True)
    theirs = tdata.DataLoader(
        TorchShards(1, 12), batch_size=2, num_workers=2, persistent_workers=True
    )
    first = [_epoch(ours), _epoch(ours)]
    assert first == [_epoch(theirs), _epoch(theirs)]
    del ours, theirs


# ---- persistent workers, early exit, cleanup ------------------------------------------------


def _pids(loader):
    """The pids of the workers that fetched an epoch of Probe's items."""
    return {int(v) for b in loader for v in b["pid"].data}


def test_persistent_workers_are_kept_across_epochs():
    loader = DataLoader(Probe(), batch_size=2, num_workers=2, persistent_workers=True)
    epochs = [[_tree(b["i"]) for b in loader] for _ in range(2)]
    assert epochs[0] == epochs[1] == _epoch(DataLoader(range(6), batch_size=2))
    first, second = _pids(loader), _pids(loader)
    assert first == second and len(first) == 2 and os.getpid() not in first
    it = iter(loader)
    next(it)  # break early: the next epoch starts from the beginning, with the same workers
    assert _pids(loader) == first
    assert iter(loader) is it
    del loader, it
    gc.collect()
    assert multiprocessing.active_children() == []


def test_non_persistent_workers_are_new_each_epoch_and_stop_after_it():
    loader = DataLoader(Probe(), batch_size=3, num_workers=2)
    first = _pids(loader)
    assert multiprocessing.active_children() == []
    assert _pids(loader).isdisjoint(first)


def test_breaking_early_then_new_epoch_and_del_iterator():
    ds = TensorDataset(np.arange(30.0))
    loader = DataLoader(ds, batch_size=2, shuffle=True, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    gc.collect()
    assert multiprocessing.active_children() == []
    assert len(_epoch(loader)) == 15
    it = iter(loader)
    next(it)
    assert len(multiprocessing.active_children()) == 2
    del it
    assert multiprocessing.active_children() == []


def test_no_hang_at_interpreter_exit():
    script = textwrap.dedent(
        """
        import numpy as np
        from deltagrad.data import DataLoader, TensorDataset
        ds = TensorDataset(np.arange(100.0))
        keep = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)
        next(iter(keep))
        it = iter(DataLoader(ds, batch_size=2, num_workers=2))
        next(it)
        import multiprocessing
        print(" ".join(str(p.pid) for p in multiprocessing.active_children()))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 4
    time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        with open(f"/proc/{pid}/stat") as f:  # a leftover is at most a zombie of init
            assert f.read().split(") ")[1][0] == "Z"


# ---- worker_init_fn, get_worker_info, seeds -------------------------------------------------


def test_worker_init_fn_and_get_worker_info():
    assert dgdata.get_worker_info() is None
    gen = np.random.default_rng(11)
    loader = DataLoader(
        Probe(), batch_size=None, num_workers=2, worker_init_fn=_record_init, generator=gen
    )
    items = list(loader)
    assert _INIT_CALLS == []  # the main process's list: each worker appended to its own
    assert [b["i"] for b in items] == list(range(6))  # batch_size=None: default_convert
    by_id = {}
    for b in items:
        by_id.setdefault(b["id"], b)  # each worker's first item: its generators' first draws
    assert sorted(by_id) == [0, 1]
    for wid, b in by_id.items():
        assert b["init"] == [wid]
        assert b["num_workers"] == 2 and b["dataset"] == "Probe"
    seed0 = by_id[0]["seed"]
    assert by_id[1]["seed"] == seed0 + 1 and 0 <= seed0 < 2**63
    for wid, b in by_id.items():
        seed = seed0 + wid
        assert b["dg_seed"] == seed
        assert b["random"] == random.Random(seed).random()
        # numpy's global generator is seeded with torch's _generate_state(base_seed, id)
        state = tworker._generate_state(seed0, wid)
        assert b["np"] == np.random.RandomState(state).random_sample()
    # the generator is not advanced; the next epoch (and a fresh loader) gets other seeds
    assert gen.bit_generator.state == np.random.default_rng(11).bit_generator.state
    again = {b["seed"] for b in loader}
    assert seed0 not in again
    fresh = DataLoader(Probe(), batch_size=None, num_workers=2, generator=np.random.default_rng(11))
    assert {b["seed"] for b in fresh} == {seed0, seed0 + 1}


def test_generate_state_equals_torch():
    for base in (0, 1, 2**32 - 1, 2**32 + 5, 2**63 - 2, 123456789123456789):
        for wid in (0, 1, 7):
            assert dgdata._generate_state(base, wid) == tworker._generate_state(base, wid)


# ---- errors in workers ----------------------------------------------------------------------


def test_exception_in_worker_is_reraised_with_its_traceback():
    loader = DataLoader(Faulty("raise"), batch_size=2, num_workers=2)
    it = iter(loader)
    np.testing.assert_array_equal(next(it).data, [0, 1])
    np.testing.assert_array_equal(next(it).data, [2, 3])
    with pytest.raises(ValueError) as e:
        next(it)  # batch [4, 5], fetched by worker 0
    msg = str(e.value)
    assert msg.startswith("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback")
    assert "bad item 5" in msg and "in __getitem__" in msg
    np.testing.assert_array_equal(next(it).data, [6, 7])  # iteration goes on, as torch
    with pytest.raises(StopIteration):
        next(it)
    del it, e


def test_keyerror_and_unpicklable_exception_and_batch():
    with pytest.raises(KeyError) as e:
        list(DataLoader(Faulty("keyerror"), batch_size=3, num_workers=1))
    assert "Caught KeyError in DataLoader worker process 0.\nOriginal Traceback" in str(e.value)
    assert "\\n" not in str(e.value)  # printed as it is, not as a repr
    with pytest.raises(RuntimeError, match="Caught LocalError in DataLoader worker process 1"):
        list(DataLoader(Faulty("local"), batch_size=None, num_workers=2))
    with pytest.raises(Exception, match="Caught .* in DataLoader worker process 1"):
        list(DataLoader(Faulty("lambda"), batch_size=None, num_workers=2))
    del e


def test_exception_in_worker_init_fn():
    with pytest.raises(KeyError, match="worker process 0(.|\n)*no config for worker 0"):
        list(DataLoader(Faulty("none"), batch_size=2, num_workers=1, worker_init_fn=_fail_init))


def test_worker_killed_gives_runtime_error_not_a_hang():
    start = time.monotonic()
    loader = DataLoader(Faulty("exit"), batch_size=2, num_workers=2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexp"):
        list(loader)
    assert time.monotonic() - start < 10
    assert multiprocessing.active_children() == []
    # a worker killed from outside while the main process waits for it
    it = iter(DataLoader(Faulty("sleep"), batch_size=2, num_workers=2))
    next(it)
    next(it)
    os.kill(it._workers[0].pid, 9)
    with pytest.raises(RuntimeError, match="exited unexpectedly.*exit code -9"):
        list(it)
    del it


def test_timeout():
    loader = DataLoader(Faulty("sleep"), batch_size=2, num_workers=2, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.3 seconds$"):
        list(loader)
    assert time.monotonic() - start < 5
    assert multiprocessing.active_children() == []
    fast = DataLoader(Faulty("none"), batch_size=2, num_workers=1, timeout=5)
    assert len(list(fast)) == 4


def test_iterator_cannot_be_pickled():
    it = iter(DataLoader(range(4), num_workers=1))
    with pytest.raises(NotImplementedError, match="cannot be pickled"):
        pickle.dumps(it)
    del it


# ---- argument errors, as torch --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
        ({"prefetch_factor": 2}, ValueError, "prefetch_factor option could only be specified"),
        ({"num_workers": 1, "prefetch_factor": -1}, ValueError, "prefetch_factor option should"),
        ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers"),
        ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
        ({"multiprocessing_context": "fork"}, ValueError, "multiprocessing_context can only"),
        (
            {"num_workers": 1, "multiprocessing_context": "nope"},
            ValueError,
            "multiprocessing_context option should specify a valid start method",
        ),
        (
            {"num_workers": 1, "multiprocessing_context": 3},
            TypeError,
            "multiprocessing_context option should be a valid context object",
        ),
    ],
)
def test_argument_errors_as_torch(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tdata.DataLoader(range(4), **kwargs)
    with pytest.raises(exc, match="DataLoader: " + match):
        DataLoader(range(4), **kwargs)


def test_argument_errors_deltagrad_raises_earlier():
    with pytest.raises(ValueError, match="prefetch_factor must be greater than 0"):
        DataLoader(range(4), num_workers=1, prefetch_factor=0)
    with pytest.raises(TypeError, match="prefetch_factor: expected an int"):
        DataLoader(range(4), num_workers=1, prefetch_factor=1.5)
    with pytest.raises(TypeError, match="worker_init_fn: expected a callable"):
        DataLoader(range(4), num_workers=1, worker_init_fn=3)


def test_defaults_and_worker_number_warning():
    loader = DataLoader(range(4), num_workers=1)
    assert loader.prefetch_factor == 2 and loader.multiprocessing_context is None
    assert DataLoader(range(4)).prefetch_factor is None
    too_many = len(os.sched_getaffinity(0)) + 1
    with pytest.warns(UserWarning, match=f"This DataLoader will create {too_many} worker proc"):
        DataLoader(range(4), num_workers=too_many)
    with pytest.warns(UserWarning, match=f"This DataLoader will create {too_many} worker proc"):
        tdata.DataLoader(range(4), num_workers=too_many)


def test_prefetch_factor_one_and_many_small_batches():
    ref = _epoch(DataLoader(range(50), batch_size=3))
    assert _epoch(DataLoader(range(50), batch_size=3, num_workers=2, prefetch_factor=1)) == ref
    assert _epoch(DataLoader(range(50), batch_size=3, num_workers=1, prefetch_factor=5)) == ref
