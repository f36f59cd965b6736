"""deltagrad.data against torch.utils.data: the same Dataset, the same batches.

Both loaders read one Dataset subclass (numpy arrays, Python numbers, strings, dicts, tuples)
with shuffle=False; every batch must match torch's in structure, values, dtype and order, as
must len(), drop_last, batch_size=None, user samplers and batch samplers, default_collate's
output on nested items and its error type on ragged items.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import data as dgdata
from deltagrad.tensor import Tensor

torch = pytest.importorskip("torch")
tdata = pytest.importorskip("torch.utils.data")

pytestmark = pytest.mark.torch


class Items(dgdata.Dataset):
    """Item i: a dict with an array, an int, a float, a bool, a string and a tuple."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, 3))
        self.Z = rng.standard_normal((n, 2, 2)).astype(np.float32)
        self.y = rng.integers(0, 5, size=n)

    def __getitem__(self, i):
        return {
            "x": self.X[i],
            "label": int(self.y[i]),
            "w": float(self.X[i, 0]),
            "flag": bool(self.y[i] % 2),
            "name": f"item{i}",
            "pair": (self.Z[i], np.int32(i)),
        }

    def __len__(self):
        return len(self.X)


def _same(ours, theirs, where="batch"):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, Tensor), f"{where}: {type(ours).__name__}, torch has a Tensor"
        ref = theirs.numpy()
        assert ours.data.dtype == ref.dtype, f"{where}: dtype {ours.data.dtype} vs {ref.dtype}"
        assert ours.data.shape == ref.shape, f"{where}: shape {ours.data.shape} vs {ref.shape}"
        np.testing.assert_array_equal(ours.data, ref)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), where
        for k in theirs:
            _same(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} vs {theirs!r}"


@pytest.mark.parametrize("n", [0, 1, 10])
@pytest.mark.parametrize("batch_size", [1, 3, 7, None])
@pytest.mark.parametrize("drop_last", [False, True])
def test_same_batches_as_torch_without_shuffle(n, batch_size, drop_last):
    if batch_size is None and drop_last:
        for loader in (tdata.DataLoader, dgdata.DataLoader):
            with pytest.raises(ValueError, match="batch_size=None"):
                loader(Items(n), batch_size=None, drop_last=True)
        return
    ds = Items(n)
    ours = dgdata.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    theirs = tdata.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    a, b = list(ours), list(theirs)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        _same(x, y, f"batch {i}")


@pytest.mark.parametrize("n,bs", [(0, 2), (1, 1), (11, 4), (12, 4)])
def test_tensor_dataset_same_as_torch(n, bs):
    rng = np.random.default_rng(n)
    X, y = rng.standard_normal((n, 5)), rng.integers(0, 3, size=n)
    ours = dgdata.DataLoader(dgdata.TensorDataset(X, dg.tensor(y)), batch_size=bs)
    theirs = tdata.DataLoader(
        tdata.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=bs
    )
    assert len(ours) == len(theirs)
    a_batches, b_batches = list(ours), list(theirs)
    assert len(a_batches) == len(b_batches)
    for a, b in zip(a_batches, b_batches):
        _same(a, b)
    items = list(dgdata.DataLoader(dgdata.TensorDataset(X, y), batch_size=None))
    ref = list(
        tdata.DataLoader(
            tdata.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=None
        )
    )
    assert len(items) == len(ref)
    for a, b in zip(items, ref):
        _same(a, b)


def test_user_sampler_and_batch_sampler_same_as_torch():
    ds = Items(9)
    for kw in ({"sampler": [8, 0, 4, 4, 2], "batch_size": 2}, {"batch_sampler": [[3, 1], [7]]}):
        a, b = list(dgdata.DataLoader(ds, **kw)), list(tdata.DataLoader(ds, **kw))
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)


def test_default_collate_and_convert_same_as_torch():
    ds = Items(4)
    batch = [ds[i] for i in range(4)]
    _same(dgdata.default_collate(batch), tdata.default_collate(batch))
    nums = [np.float32(1.5), np.float32(2.0)]
    _same(dgdata.default_collate(nums), tdata.default_collate(nums))
    for item in (ds[1], (np.ones(2), 3), [np.int64(4)], 2.5, "s"):
        _same(dgdata.default_convert(item), tdata.default_convert(item))


def test_ragged_items_raise_runtime_error_as_torch():
    batch = [np.zeros(3), np.zeros(2)]
    with pytest.raises(RuntimeError):
        tdata.default_collate(batch)
    with pytest.raises(RuntimeError, match=r"batch item 1 has shape \(2,\)"):
        dgdata.default_collate(batch)


def test_lengths_of_samplers_and_random_split_as_torch():
    ds = Items(10)
    for bs, drop in ((3, False), (3, True), (10, True), (11, True)):
        ours = dgdata.BatchSampler(dgdata.SequentialSampler(ds), bs, drop)
        theirs = tdata.BatchSampler(tdata.SequentialSampler(ds), bs, drop)
        assert len(ours) == len(theirs) and list(ours) == list(theirs)
    assert len(dgdata.RandomSampler(ds, num_samples=23)) == len(
        tdata.RandomSampler(ds, num_samples=23)
    )
    for lengths in ([0.3, 0.3, 0.4], [0.5, 0.5], [0.1] * 10, [3, 7]):
        a = dgdata.random_split(ds, lengths, generator=np.random.default_rng(0))
        b = tdata.random_split(ds, lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in a] == [len(s) for s in b]


class Stream(dgdata.IterableDataset, tdata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            yield (np.full(2, i, np.float64), i, f"s{i}")

    def __len__(self):
        return self.n


@pytest.mark.parametrize(
    "n,bs,drop_last", [(7, 3, False), (7, 3, True), (0, 2, False), (4, None, False)]
)
def test_iterable_dataset_same_as_torch(n, bs, drop_last):
    ours = dgdata.DataLoader(Stream(n), batch_size=bs, drop_last=drop_last)
    theirs = tdata.DataLoader(Stream(n), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(theirs)
    a, b = list(ours), list(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        _same(x, y)
