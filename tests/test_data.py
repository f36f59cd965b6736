"""deltagrad.data: torch's DataLoader, datasets, samplers and default_collate.

Batch order, sizes, len, shuffling from a generator or dg.manual_seed, the TensorDataset fast
path against item-by-item collation, collate of nested items, and every bad input. The
side-by-side comparison with torch's own DataLoader is tests/test_parity_data.py.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import deltagrad as dg
from deltagrad._random import get_rng
from deltagrad.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    random_split,
)
from deltagrad.tensor import Tensor


def _data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.permutation(n).astype(np.int64)


def _np(batch):
    return [t.data if isinstance(t, Tensor) else t for t in batch]


class Rows(Dataset):
    """A plain Dataset subclass (no fast path): item i is (X[i], y[i])."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __getitem__(self, i):
        return self.X[i], int(self.y[i])

    def __len__(self):
        return len(self.X)


# ---- batching ------------------------------------------------------------------------------


def test_defaults_are_torchs_one_item_per_batch_in_order():
    X, y = _data(5)
    loader = DataLoader(TensorDataset(X, y))
    assert loader.batch_size == 1 and not loader.drop_last and loader.num_workers == 0
    assert isinstance(loader.sampler, SequentialSampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 5
    for i, batch in enumerate(batches):
        assert isinstance(batch, list) and len(batch) == 2
        assert all(isinstance(t, Tensor) for t in batch)
        np.testing.assert_array_equal(batch[0].data, X[i : i + 1])
        np.testing.assert_array_equal(batch[1].data, y[i : i + 1])
        assert batch[0].dtype == np.float32 and batch[1].dtype == np.int64


def test_whole_set_as_one_batch():
    X, y = _data(7)
    ((xb, yb),) = list(DataLoader(TensorDataset(X, y), batch_size=7))
    np.testing.assert_array_equal(xb.data, X)
    np.testing.assert_array_equal(yb.data, y)


@pytest.mark.parametrize(
    "n,bs,drop_last,sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (5, 8, False, [5]),
        (5, 8, True, []),
        (1, 1, False, [1]),
        (0, 4, False, []),
    ],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_minibatch_sizes_and_len(n, bs, drop_last, sizes, shuffle):
    X, y = _data(n)
    loader = DataLoader(TensorDataset(X, y), batch_size=bs, shuffle=shuffle, drop_last=drop_last)
    assert len(loader) == len(sizes)
    batches = list(loader)
    assert [len(xb.data) for xb, _ in batches] == sizes
    seen = np.concatenate([yb.data for _, yb in batches]) if batches else np.empty(0, np.int64)
    if not shuffle:
        np.testing.assert_array_equal(seen, y[: sum(sizes)])
    else:
        assert len(set(seen.tolist())) == len(seen)  # no repeats within an epoch
    for xb, yb in batches:  # rows stay paired
        for row, label in zip(xb.data, yb.data):
            np.testing.assert_array_equal(row, X[np.flatnonzero(y == label)[0]])


def test_batch_size_none_yields_items_converted():
    X, y = _data(4)
    items = list(DataLoader(TensorDataset(X, y), batch_size=None))
    assert len(items) == 4 == len(DataLoader(TensorDataset(X, y), batch_size=None))
    for i, item in enumerate(items):
        assert isinstance(item, list)  # a tuple item becomes a list, as torch's default_convert
        np.testing.assert_array_equal(item[0].data, X[i])
        assert item[1].data.shape == () and int(item[1].data) == y[i]


def test_fast_path_matches_item_by_item_collation():
    X, y = _data(23, seed=4)
    ds = TensorDataset(dg.tensor(X), y)
    sub = Subset(ds, [5, 3, 22, 0, 7, 7, 11])
    for data in (ds, sub):
        for kw in (
            {"batch_size": 4},
            {"batch_size": 5, "drop_last": True},
            {"batch_size": 3, "shuffle": True},
            {"batch_size": 50, "shuffle": True},
        ):
            g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
            fast = DataLoader(data, generator=g1, **kw)
            slow = DataLoader(data, generator=g2, collate_fn=default_collate, **kw)
            assert fast._fast_plan() is not None and slow._fast_plan() is None
            for _ in range(2):  # two epochs: the same draws from the generator
                a, b = list(fast), list(slow)
                assert len(a) == len(b) == len(fast)
                for ba, bb in zip(a, b):
                    assert type(ba) is type(bb) is list
                    for ta, tb in zip(ba, bb):
                        assert ta.dtype == tb.dtype
                        np.testing.assert_array_equal(ta.data, tb.data)
            assert g1.bit_generator.state == g2.bit_generator.state


def test_fast_path_batches_are_copies():
    X, y = _data(6)
    ds = TensorDataset(X, y)
    for shuffle in (False, True):
        for xb, _ in DataLoader(ds, batch_size=6, shuffle=shuffle):
            xb.data[...] = 0
    assert np.all(ds.tensors[0].data == X) and np.count_nonzero(X) == X.size


def test_dataset_subclass_and_plain_array_dataset():
    X, y = _data(7)
    batches = list(DataLoader(Rows(X, y), batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 3), (3, 3), (1, 3)]
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), y)
    assert batches[0][1].dtype == np.int64  # Python ints collate to int64
    rows = list(DataLoader(X, batch_size=4))  # an array is a data set of its rows, as in torch
    np.testing.assert_array_equal(np.concatenate([r.data for r in rows]), X)


def test_user_sampler_and_batch_sampler():
    X, y = _data(6)
    ds = TensorDataset(X, y)
    got = [b[1].data.tolist() for b in DataLoader(ds, batch_size=2, sampler=[5, 0, 3])]
    assert got == [[y[5], y[0]], [y[3]]]
    got = [b[1].data.tolist() for b in DataLoader(ds, batch_sampler=[[4, 1], [2]])]
    assert got == [[y[4], y[1]], [y[2]]]
    loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))
    assert loader.batch_size is None and len(loader) == 2


# ---- shuffling -----------------------------------------------------------------------------


def _epoch(loader):
    return np.concatenate([b[1].data for b in loader])


def test_shuffle_from_a_generator_is_reproducible_and_changes_each_epoch():
    X, y = _data(20)
    ds = TensorDataset(X, y)
    a = DataLoader(ds, batch_size=6, shuffle=True, generator=np.random.default_rng(3))
    e1, e2 = _epoch(a), _epoch(a)
    assert sorted(e1.tolist()) == list(range(20)) and not np.array_equal(e1, e2)
    b = DataLoader(ds, batch_size=6, shuffle=True, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(_epoch(b), e1)
    np.testing.assert_array_equal(_epoch(b), e2)
    # the loader's shuffle state is generator.bit_generator.state: restoring it replays
    state = a.generator.bit_generator.state
    e3 = _epoch(a)
    a.generator.bit_generator.state = state
    np.testing.assert_array_equal(_epoch(a), e3)
    # the permutation is the generator's own: the same draws as rng.permutation(n)
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(e1, y[ref.permutation(20)])


def test_shuffle_without_generator_seeds_each_epoch_from_dg_manual_seed():
    X, y = _data(15)
    ds = TensorDataset(X, y)
    dg.manual_seed(11)
    c1 = _epoch(DataLoader(ds, batch_size=4, shuffle=True))
    dg.manual_seed(11)
    c2 = _epoch(DataLoader(ds, batch_size=4, shuffle=True))
    np.testing.assert_array_equal(c1, c2)
    dg.manual_seed(11)  # one int64 draw from deltagrad's generator seeds the epoch
    seed = int(get_rng().integers(0, 2**63 - 1, dtype=np.int64))
    np.testing.assert_array_equal(c1, y[np.random.default_rng(seed).permutation(15)])


def test_random_sampler_replacement_and_num_samples():
    ds = list(range(5))
    s = RandomSampler(ds, num_samples=12, generator=np.random.default_rng(0))
    idx = list(s)
    assert len(s) == len(idx) == 12
    assert sorted(idx[:5]) == sorted(idx[5:10]) == list(range(5))  # whole permutations first
    r = RandomSampler(ds, replacement=True, num_samples=30, generator=np.random.default_rng(1))
    drawn = list(r)
    assert len(r) == len(drawn) == 30 and set(drawn) <= set(range(5))
    np.testing.assert_array_equal(drawn, np.random.default_rng(1).integers(0, 5, size=30))


# ---- datasets ------------------------------------------------------------------------------


def test_tensor_dataset_items_and_tensors():
    X, y = _data(4)
    ds = TensorDataset(X, dg.tensor(y))
    assert len(ds) == 4 and all(isinstance(t, Tensor) for t in ds.tensors)
    assert ds.tensors[0].data is X  # wrapped, not copied
    x2, y2 = ds[2]
    np.testing.assert_array_equal(x2.data, X[2])
    assert y2.data.shape == () and y2.dtype == np.int64 and int(y2.data) == y[2]
    f64 = TensorDataset(np.arange(3, dtype=np.float64))
    assert f64[1][0].dtype == np.float64  # a numpy scalar keeps its dtype


def test_subset_concat_and_random_split():
    X, y = _data(10)
    ds = TensorDataset(X, y)
    sub = Subset(ds, [4, 2])
    assert len(sub) == 2 and int(sub[1][1].data) == y[2]
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 12 and int(cat[2][1].data) == y[0] and int(cat[-1][1].data) == y[9]
    assert len(sub + ds) == 12
    parts = random_split(ds, [3, 7], generator=np.random.default_rng(5))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    again = random_split(ds, [3, 7], generator=np.random.default_rng(5))
    assert again[0].indices == parts[0].indices
    fr = random_split(ds, [0.25, 0.25, 0.5], generator=np.random.default_rng(5))
    assert [len(p) for p in fr] == [3, 2, 5]  # floor, then the remainder from the first


# ---- collate -------------------------------------------------------------------------------


def test_default_collate_nested_structures():
    Point = namedtuple("Point", "x y")
    batch = [
        {
            "x": np.full(3, i, np.float32),
            "y": i,
            "w": 0.5 * i,
            "ok": i % 2 == 0,
            "s": f"n{i}",
            "t": (dg.tensor(np.ones(2) * i), [np.int32(i), np.float32(i)]),
            "p": Point(i, 1.5),
        }
        for i in range(4)
    ]
    out = default_collate(batch)
    assert isinstance(out, dict) and list(out) == list(batch[0])
    assert out["x"].shape == (4, 3) and out["x"].dtype == np.float32
    assert out["y"].dtype == np.int64 and out["y"].data.tolist() == [0, 1, 2, 3]
    assert out["w"].dtype == np.float64 and out["ok"].dtype == np.bool_
    assert out["s"] == ["n0", "n1", "n2", "n3"]
    assert isinstance(out["t"], list) and out["t"][0].shape == (4, 2)
    assert out["t"][1][0].dtype == np.int32 and out["t"][1][1].dtype == np.float32
    assert isinstance(out["p"], Point) and out["p"].y.dtype == np.float64
    od = default_collate([OrderedDict(a=1), OrderedDict(a=2)])
    assert isinstance(od, OrderedDict)


def test_default_convert():
    assert isinstance(default_convert(np.ones(2)), Tensor)
    assert default_convert(1.5) == 1.5 and default_convert("a") == "a"
    out = default_convert((np.ones(1), {"k": np.int64(2)}))
    assert isinstance(out, list) and isinstance(out[1]["k"], Tensor)


def test_ragged_items_name_the_batch_index_and_shapes():
    class Ragged(Dataset):
        def __getitem__(self, i):
            return {"x": np.zeros(3 if i != 2 else 2), "y": i}

        def __len__(self):
            return 4

    with pytest.raises(
        RuntimeError,
        match=r"default_collate: batch item 2 at \['x'\] has shape \(2,\) but item 0 has "
        r"shape \(3,\)",
    ):
        list(DataLoader(Ragged(), batch_size=4))
    with pytest.raises(RuntimeError, match=r"batch item 1 at \[0\] has shape \(1, 2\)"):
        default_collate([(np.ones((2, 2)),), (np.ones((1, 2)),)])


def test_collate_bad_items():
    with pytest.raises(RuntimeError, match="batch item 1 has length 1 but item 0 has length 2"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(
        RuntimeError, match=r"batch item 1 has keys \['b'\] but item 0 has keys \['a'\]"
    ):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError, match="default_collate: batch item 0 is a NoneType"):
        default_collate([None, None])
    with pytest.raises(TypeError, match="batch item 1 is a str, item 0 is a ndarray"):
        default_collate([np.ones(1), "x"])
    with pytest.raises(TypeError, match="batch item 1 is a str, item 0 is a number"):
        default_collate([1, "x"])
    with pytest.raises(TypeError, match="dtype object"):
        default_collate([np.array([None]), np.array([None])])
    with pytest.raises(ValueError, match="default_collate: batch: expected at least one item"):
        default_collate([])
    with pytest.raises(TypeError, match="default_collate: batch: expected a list"):
        default_collate(3)


# ---- bad input -----------------------------------------------------------------------------


def test_old_positional_arrays_api_is_a_type_error_that_says_what_to_write():
    X, y = _data(4)
    for second in (y, dg.tensor(y), list(y)):
        with pytest.raises(TypeError, match=r"DataLoader\(TensorDataset\(X, y\)"):
            DataLoader(X, second)
    with pytest.raises(TypeError, match="seed"):
        DataLoader(TensorDataset(X, y), seed=0)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"batch_size": 0}, ValueError, "DataLoader: batch_size should be a positive integer"),
        ({"batch_size": 2.5}, ValueError, "DataLoader: batch_size"),
        ({"batch_size": True}, ValueError, "DataLoader: batch_size"),
        (
            {"num_workers": 1, "prefetch_factor": -1},
            ValueError,
            "DataLoader: prefetch_factor option should be non-negative",
        ),
        ({"num_workers": -1}, ValueError, "DataLoader: num_workers option should be non-neg"),
        ({"num_workers": 1.0}, TypeError, "DataLoader: num_workers"),
        ({"timeout": -1}, ValueError, "DataLoader: timeout"),
        ({"prefetch_factor": 2}, ValueError, "DataLoader: prefetch_factor"),
        ({"persistent_workers": True}, ValueError, "DataLoader: persistent_workers"),
        ({"shuffle": "yes"}, TypeError, "DataLoader: shuffle"),
        ({"drop_last": 1}, ValueError, "DataLoader: drop_last should be a boolean value"),
        ({"generator": 42}, TypeError, "DataLoader: generator: expected a numpy.random.Gen"),
        ({"collate_fn": 3}, TypeError, "DataLoader: collate_fn"),
        ({"sampler": [0], "shuffle": True}, ValueError, "sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "batch_size": 2}, ValueError, "batch_sampler option is mutu"),
        ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option is mutu"),
        ({"batch_size": None, "drop_last": True}, ValueError, "DataLoader: batch_size=None"),
    ],
)
def test_dataloader_bad_arguments(kwargs, exc, match):
    X, y = _data(4)
    with pytest.raises(exc, match=match):
        DataLoader(TensorDataset(X, y), **kwargs)


def test_dataloader_bad_dataset_and_frozen_attributes():
    with pytest.raises(TypeError, match="DataLoader: dataset: expected a map-style"):
        DataLoader(42)
    loader = DataLoader(TensorDataset(*_data(4)))
    for attr in ("batch_size", "sampler", "drop_last", "dataset", "batch_sampler"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set"):
            setattr(loader, attr, None)
    loader.collate_fn = default_collate  # other attributes stay settable, as in torch
    assert "batch_size=1" in repr(loader)


def test_dataset_and_sampler_bad_input():
    X, y = _data(4)
    with pytest.raises(
        ValueError, match=r"TensorDataset: tensors: size mismatch.*\(4, 3\), \(3,\)"
    ):
        TensorDataset(X, y[:3])
    with pytest.raises(ValueError, match=r"TensorDataset: tensors\[1\] is 0-d"):
        TensorDataset(X, np.array(1.0))
    with pytest.raises(
        TypeError, match=r"TensorDataset: tensors\[0\]: expected a Tensor or an array, got list"
    ):
        TensorDataset([1, 2])
    with pytest.raises(ValueError, match="TensorDataset: tensors: expected at least one"):
        TensorDataset()
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(TypeError, match="RandomSampler: replacement should be a boolean"):
        RandomSampler([1], replacement=1)
    with pytest.raises(ValueError, match="RandomSampler: num_samples should be a positive"):
        RandomSampler([1], num_samples=0)
    with pytest.raises(TypeError, match="RandomSampler: generator"):
        RandomSampler([1], generator=np.random.RandomState(0))
    with pytest.raises(ValueError, match="BatchSampler: batch_size should be a positive"):
        BatchSampler([0], 0, False)
    with pytest.raises(ValueError, match="BatchSampler: drop_last should be a boolean"):
        BatchSampler([0], 1, None)
    with pytest.raises(ValueError, match="random_split: lengths: sum 5 does not equal .* 4"):
        random_split(TensorDataset(X), [2, 3])
    with pytest.raises(TypeError, match="random_split: lengths"):
        random_split(TensorDataset(X), ["a"])
    with pytest.raises(ValueError, match="random_split: lengths: fraction at index 0 is not in"):
        random_split(TensorDataset(X), [1.5, -0.5])
    with pytest.raises(ValueError, match="ConcatDataset: datasets"):
        ConcatDataset([])


class Stream(IterableDataset):
    def __init__(self, n, sized=True):
        self.n, self.sized = n, sized

    def __iter__(self):
        for i in range(self.n):
            yield {"x": np.full(2, i, np.float32), "i": i}

    def __len__(self):
        if not self.sized:
            raise TypeError("no len")
        return self.n


@pytest.mark.parametrize(
    "n,bs,drop_last,sizes",
    [(7, 3, False, [3, 3, 1]), (7, 3, True, [3, 3]), (6, 3, True, [3, 3]), (0, 2, False, [])],
)
def test_iterable_dataset_batches_consecutive_items(n, bs, drop_last, sizes):
    loader = DataLoader(Stream(n), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [len(b["i"].data) for b in batches] == sizes
    seen = [int(v) for b in batches for v in b["i"].data]
    assert seen == list(range(sum(sizes)))
    items = list(DataLoader(Stream(n), batch_size=None))
    assert len(items) == n and all(isinstance(it["x"], Tensor) for it in items)
    assert "batches=?" in repr(DataLoader(Stream(3, sized=False)))


def test_iterable_dataset_bad_options():
    for kw, name in (
        ({"shuffle": True}, "shuffle"),
        ({"sampler": [0]}, "sampler"),
        ({"batch_sampler": [[0]]}, "batch_sampler"),
    ):
        with pytest.raises(ValueError, match=f"IterableDataset: expected unspecified {name}"):
            DataLoader(Stream(3), **kw)
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(IterableDataset())
    with pytest.raises(TypeError, match="no len"):
        len(DataLoader(Stream(3, sized=False)))
