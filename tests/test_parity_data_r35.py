"""deltagrad.data against torch.utils.data: ChainDataset, StackDataset, SubsetRandomSampler,
WeightedRandomSampler, and edge cases of the other data sets and samplers.

Deterministic results (chained streams, stacked items, Subset / ConcatDataset indexing,
random_split's lengths, BatchSampler's batches, DataLoader batches) must equal torch's.
Random orders come from numpy Generators and cannot equal torch's: they are tested for
their distribution (frequencies against the weights, against torch's own frequencies),
their invariants (no repeats without replacement, a permutation of the indices) and
reproducibility with the same seed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import data as dgdata
from deltagrad.tensor import Tensor

torch = pytest.importorskip("torch")
tdata = pytest.importorskip("torch.utils.data")

pytestmark = pytest.mark.torch


def _same(ours, theirs, where="batch"):
    """ours (deltagrad) equals theirs (torch) in structure, dtype, shape and values."""
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


def _raises_like_torch(ours, theirs, exc, match=None):
    """Both calls raise exc (ours with a message matching match)."""
    with pytest.raises(exc):
        theirs()
    with pytest.raises(exc, match=match):
        ours()


def _stream_classes(base):
    class Stream(base):
        """start, start + 1, ..., stop - 1 as Python ints, with a length."""

        def __init__(self, start, stop):
            self.start, self.stop = start, stop

        def __iter__(self):
            return iter(range(self.start, self.stop))

        def __len__(self):
            return self.stop - self.start

    return Stream


DgStream = _stream_classes(dgdata.IterableDataset)
TorchStream = _stream_classes(tdata.IterableDataset)


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 7, size=n)


# ---- ChainDataset ----------------------------------------------------------------------------


@pytest.mark.parametrize("bounds", [[(0, 3), (10, 15)], [(0, 0)], [(0, 0), (5, 6), (2, 2)], []])
def test_chain_dataset_same_items_and_len_as_torch(bounds):
    ours = dgdata.ChainDataset([DgStream(a, b) for a, b in bounds])
    theirs = tdata.ChainDataset([TorchStream(a, b) for a, b in bounds])
    assert list(ours) == list(theirs)
    assert list(ours) == list(ours)  # a list of streams can be read again
    assert len(ours) == len(theirs)
    assert isinstance(ours, dgdata.IterableDataset)


def test_chain_dataset_nested_and_plus():
    a, b, c = DgStream(0, 2), DgStream(5, 7), DgStream(9, 10)
    chained = a + b
    assert isinstance(chained, dgdata.ChainDataset) and chained.datasets == [a, b]
    assert list(chained + c) == [0, 1, 5, 6, 9]
    ta, tb, tc = TorchStream(0, 2), TorchStream(5, 7), TorchStream(9, 10)
    assert list(chained + c) == list(ta + tb + tc)
    assert len(chained + c) == len(ta + tb + tc) == 5


def test_chain_dataset_refuses_map_style_members_lazily():
    ours = dgdata.ChainDataset([DgStream(0, 2), [7, 8]])
    theirs = tdata.ChainDataset([TorchStream(0, 2), [7, 8]])
    # torch raises an AssertionError; deltagrad a TypeError (an argument of a wrong type)
    with pytest.raises(AssertionError):
        list(theirs)
    it = iter(ours)
    assert [next(it), next(it)] == [0, 1]  # checked when reached, as torch
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset, got list"):
        next(it)
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset"):
        len(ours)
    with pytest.raises(TypeError, match="ConcatDataset does not support IterableDataset"):
        dgdata.ConcatDataset([[1, 2], DgStream(0, 1)])
    with pytest.raises(TypeError, match=r"got Stream at datasets\[1\]"):
        dgdata.TensorDataset(np.ones(2)) + DgStream(0, 1)


@pytest.mark.parametrize("batch_size", [None, 1, 2, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_chain_dataset_in_data_loader_as_torch(batch_size, drop_last):
    if batch_size is None and drop_last:
        return
    ours = dgdata.DataLoader(
        dgdata.ChainDataset([DgStream(0, 3), DgStream(10, 14)]),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    theirs = tdata.DataLoader(
        tdata.ChainDataset([TorchStream(0, 3), TorchStream(10, 14)]),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    assert len(ours) == len(theirs)
    a, b = list(ours), list(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(y, torch.Tensor):
            _same(x, y)
        else:
            assert x == y
    chain = dgdata.ChainDataset([DgStream(0, 3)])
    for kw in ({"sampler": [0]}, {"shuffle": True}, {"batch_sampler": [[0]]}):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspec"):
            dgdata.DataLoader(chain, **kw)
    with pytest.raises(ValueError, match="DataLoader with IterableDataset"):
        dgdata.DataLoader(chain, sampler=dgdata.WeightedRandomSampler([1.0], 1))


# ---- StackDataset ----------------------------------------------------------------------------


class WithGetitems(dgdata.Dataset):
    """A data set with __getitems__ (counted), optionally returning a wrong number of items."""

    def __init__(self, values, short=False):
        self.values, self.short, self.calls = list(values), short, 0

    def __getitem__(self, i):
        return self.values[i]

    def __getitems__(self, indices):
        self.calls += 1
        out = [self.values[i] * 10 for i in indices]
        return out[:-1] if self.short else out

    def __len__(self):
        return len(self.values)


def test_stack_dataset_tuple_and_dict_items_as_torch():
    X, y = _rows(7)
    xs, ys = list(X), [int(v) for v in y]
    names = [f"s{i}" for i in range(7)]
    ours_t, theirs_t = dgdata.StackDataset(xs, ys, names), tdata.StackDataset(xs, ys, names)
    ours_d, theirs_d = dgdata.StackDataset(x=xs, y=ys), tdata.StackDataset(x=xs, y=ys)
    assert len(ours_t) == len(theirs_t) == len(ours_d) == len(theirs_d) == 7
    for i in [0, 3, 6, -1, -7]:
        a, b = ours_t[i], theirs_t[i]
        assert isinstance(a, tuple) and len(a) == 3
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
        assert list(ours_d[i]) == ["x", "y"] and ours_d[i]["y"] == theirs_d[i]["y"]
    for ours, theirs in ((ours_t, theirs_t), (ours_d, theirs_d)):
        with pytest.raises(IndexError):
            theirs[7]
        with pytest.raises(IndexError):
            ours[7]
    idx = [4, 0, 4, 2]
    assert ours_t.__getitems__(idx)[0][1:] == theirs_t.__getitems__(idx)[0][1:]
    assert [r["y"] for r in ours_d.__getitems__(idx)] == [
        r["y"] for r in theirs_d.__getitems__(idx)
    ]
    assert ours_t.__getitems__([]) == [] and ours_d.__getitems__([]) == []
    assert isinstance(ours_t.datasets, tuple) and isinstance(ours_d.datasets, dict)
    assert len(dgdata.StackDataset([], [])) == len(tdata.StackDataset([], [])) == 0


def test_stack_dataset_uses_nested_getitems_and_checks_its_size():
    inner = WithGetitems([1, 2, 3])
    ours = dgdata.StackDataset(inner, [4, 5, 6])
    assert ours.__getitems__([2, 0]) == [(30, 6), (10, 4)]
    assert inner.calls == 1
    assert dgdata.StackDataset(a=inner, b=[4, 5, 6]).__getitems__([1]) == [{"a": 20, "b": 5}]
    with pytest.raises(ValueError, match="StackDataset: nested dataset's output size mismatch"):
        dgdata.StackDataset(WithGetitems([1, 2], short=True), [3, 4]).__getitems__([0, 1])


def test_stack_dataset_errors_as_torch():
    cases = [
        ((), {}, "at least one dataset should be passed"),
        (([1, 2],), {"a": [1, 2]}, "both types are given"),
        (([1, 2], [1, 2, 3]), {}, r"size mismatch between datasets \(0: 2, 1: 3\)"),
        ((), {"a": [1, 2], "b": [1, 2, 3]}, r"size mismatch between datasets \(a: 2, b: 3\)"),
    ]
    for args, kwargs, match in cases:
        _raises_like_torch(
            lambda a=args, k=kwargs: dgdata.StackDataset(*a, **k),
            lambda a=args, k=kwargs: tdata.StackDataset(*a, **k),
            ValueError,
            "StackDataset: .*" + match,
        )
    _raises_like_torch(
        lambda: dgdata.StackDataset(5, 6), lambda: tdata.StackDataset(5, 6), TypeError, "len"
    )


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_stack_dataset_in_data_loader_as_torch(batch_size):
    X, y = _rows(8, seed=3)
    xs, ys = list(X), [int(v) for v in y]
    floats = [float(v) for v in X[:, 1]]
    for args, kwargs in (((xs, ys, floats), {}), ((), {"x": xs, "y": ys, "f": floats})):
        ours = list(dgdata.DataLoader(dgdata.StackDataset(*args, **kwargs), batch_size))
        theirs = list(tdata.DataLoader(tdata.StackDataset(*args, **kwargs), batch_size))
        _same(ours, theirs)
    inner = WithGetitems(range(5))
    batches = list(dgdata.DataLoader(dgdata.StackDataset(inner, list(range(5))), batch_size=2))
    assert inner.calls == 3  # the loader fetched each batch with __getitems__, as torch
    np.testing.assert_array_equal(batches[0][0].data, [0, 10])


# ---- Subset / ConcatDataset / Dataset.__add__ ------------------------------------------------


def _index_outcome(ds, i):
    try:
        return ("ok", ds[i])
    except Exception as e:  # noqa: BLE001 -- the type is the result compared
        return (type(e).__name__,)


@pytest.mark.parametrize("parts", [[[1, 2], [3]], [[], [4, 5, 6], [], [7]], [[]], [[], []]])
def test_concat_dataset_indexing_as_torch(parts):
    ours, theirs = dgdata.ConcatDataset(parts), tdata.ConcatDataset(parts)
    assert len(ours) == len(theirs)
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    n = len(theirs)
    for i in range(-n - 2, n + 2):
        assert _index_outcome(ours, i) == _index_outcome(theirs, i), i
    for i in (np.int64(-1), np.int32(0)):
        assert _index_outcome(ours, i) == _index_outcome(theirs, i)
    with pytest.raises(ValueError, match="ConcatDataset: absolute value of index"):
        ours[-n - 1]


def test_dataset_plus_gives_concat_dataset():
    X, y = _rows(5)
    a, b = dgdata.TensorDataset(X[:2], y[:2]), dgdata.TensorDataset(X[2:], y[2:])
    both = a + b
    assert isinstance(both, dgdata.ConcatDataset) and both.datasets == [a, b]
    assert len(both) == 5 and len(both + a) == 7
    for i in range(-5, 5):
        np.testing.assert_array_equal(both[i][0].data, X[i])
    ta = tdata.TensorDataset(torch.from_numpy(X[:2]))
    assert isinstance(ta + ta, tdata.ConcatDataset)


@pytest.mark.parametrize("indices", [[2, 0, 4], [], [1], [-1, 0, -5], range(4, 0, -2)])
def test_subset_indexing_as_torch(indices):
    base = [10, 11, 12, 13, 14]
    ours, theirs = dgdata.Subset(base, indices), tdata.Subset(base, indices)
    assert len(ours) == len(theirs)
    n = len(theirs)
    for i in range(-n - 1, n + 1):
        assert _index_outcome(ours, i) == _index_outcome(theirs, i), i
    idx = list(range(n))[::-1]
    assert ours.__getitems__(idx) == theirs.__getitems__(idx)
    X, _ = _rows(5)
    sub = dgdata.Subset(dgdata.TensorDataset(X), indices)
    tsub = tdata.Subset(tdata.TensorDataset(torch.from_numpy(X)), list(indices))
    for i in range(-n, n):
        _same(sub[i], tsub[i])


def test_subset_getitems_and_subclass_rule_as_torch():
    inner = WithGetitems([1, 2, 3, 4])
    assert dgdata.Subset(inner, [3, 1]).__getitems__([0, 1]) == [40, 20]
    assert inner.calls == 1

    def subclass(base):
        class Doubled(base):
            def __getitem__(self, i):
                return 2 * self.dataset[self.indices[i]]

        return Doubled

    _raises_like_torch(
        lambda: subclass(dgdata.Subset)([1, 2], [0]),
        lambda: subclass(tdata.Subset)([1, 2], [0]),
        NotImplementedError,
        "Doubled overrides __getitem__ but not __getitems__",
    )

    class Both(dgdata.Subset):
        def __getitem__(self, i):
            return 2 * self.dataset[self.indices[i]]

        def __getitems__(self, indices):
            return [self[i] for i in indices]

    loader = dgdata.DataLoader(Both([1, 2, 3], [2, 0]), batch_size=2)
    np.testing.assert_array_equal(next(iter(loader)).data, [6, 2])


def test_data_loader_uses_getitems_as_torch():
    class Batched:
        def __init__(self, getitems):
            self.getitems = getitems

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return i

        def __getitems__(self, indices):
            return [100 + i for i in indices]

    for ds_cls, loader in ((dgdata.Dataset, dgdata.DataLoader), (tdata.Dataset, tdata.DataLoader)):
        ds = type("B", (Batched, ds_cls), {})(True)
        got = [b.tolist() for b in loader(ds, batch_size=2)]
        assert got == [[100, 101], [102, 103], [104]]
        got = [int(b) for b in loader(ds, batch_size=None)]  # no batching: __getitem__
        assert got == [0, 1, 2, 3, 4]


# ---- random_split ----------------------------------------------------------------------------


FRACTIONS = [
    [0.5, 0.5],
    [0.3, 0.3, 0.4],
    [0.1] * 10,  # sums to 0.9999999999999999: still fractions
    [0.2] * 5,
    [1.0],
    [0.33, 0.33, 0.34],
    [0.05, 0.9, 0.05],
    [0.7, 0.2, 0.1, 0.0],
]


@pytest.mark.parametrize("fracs", FRACTIONS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 11, 100])
def test_random_split_fraction_lengths_as_torch(fracs, n):
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = tdata.random_split(range(n), fracs, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = dgdata.random_split(range(n), fracs, generator=np.random.default_rng(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert [type(w.message) for w in ours_w] == [type(w.message) for w in theirs_w]
    for w, tw in zip(ours_w, theirs_w):
        assert str(w.message).lower().endswith(str(tw.message).lower())
        assert w.filename == __file__  # stacklevel: the caller's line
    flat = sorted(i for s in ours for i in s.indices)
    assert flat == list(range(n))  # a partition


def test_random_split_lengths_partition_and_reproducible():
    X, y = _rows(23)
    ds = dgdata.TensorDataset(X, y)
    parts = dgdata.random_split(ds, [5, 0, 18], generator=np.random.default_rng(7))
    assert [len(p) for p in parts] == [5, 0, 18]
    assert sorted(parts[0].indices + parts[2].indices) == list(range(23))
    again = dgdata.random_split(ds, [5, 0, 18], generator=np.random.default_rng(7))
    assert [p.indices for p in parts] == [p.indices for p in again]
    other = dgdata.random_split(ds, [5, 0, 18], generator=np.random.default_rng(8))
    assert [p.indices for p in parts] != [p.indices for p in other]
    dg.manual_seed(3)
    a = dgdata.random_split(ds, [0.5, 0.5])
    dg.manual_seed(3)
    b = dgdata.random_split(ds, [0.5, 0.5])
    assert [p.indices for p in a] == [p.indices for p in b]
    np.testing.assert_array_equal(parts[0][1][0].data, X[parts[0].indices[1]])
    assert dgdata.random_split(range(0), []) == tdata.random_split(range(0), []) == []


def test_random_split_errors_as_torch():
    for lengths, match in (
        ([3, 5], "random_split: lengths: sum 8 does not equal the data set's length 7"),
        ([1.5, -0.5], "random_split: lengths: fraction at index 0 is not in"),
        ([0.5, 0.6], "random_split: lengths: expected non-negative ints"),
        ([], "random_split: lengths: sum 0 does not equal"),
    ):
        _raises_like_torch(
            lambda v=lengths: dgdata.random_split(range(7), v),
            lambda v=lengths: tdata.random_split(range(7), v),
            ValueError,
            match,
        )
    with pytest.raises(TypeError, match="random_split: generator"):
        dgdata.random_split(range(3), [1, 2], generator=torch.Generator())


# ---- BatchSampler / SequentialSampler / RandomSampler edge cases ------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 6, 10])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_as_torch(n, batch_size, drop_last):
    for source in (range(n), list(range(3, 3 + n))):
        ours = dgdata.BatchSampler(source, batch_size, drop_last)
        theirs = tdata.BatchSampler(source, batch_size, drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
    seq = dgdata.BatchSampler(dgdata.SequentialSampler(range(n)), batch_size, drop_last)
    tseq = tdata.BatchSampler(tdata.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(seq) == list(tseq) and len(seq) == len(tseq)


def test_batch_sampler_errors_as_torch():
    for bs, drop_last, match in (
        (0, False, "batch_size should be a positive integer value"),
        (-2, False, "batch_size should be a positive integer value"),
        (2.0, False, "batch_size should be a positive integer value"),
        (True, False, "batch_size should be a positive integer value"),
        (2, 1, "drop_last should be a boolean value"),
        (2, None, "drop_last should be a boolean value"),
    ):
        _raises_like_torch(
            lambda b=bs, d=drop_last: dgdata.BatchSampler(range(3), b, d),
            lambda b=bs, d=drop_last: tdata.BatchSampler(range(3), b, d),
            ValueError,
            "BatchSampler: " + match,
        )


def test_empty_data_sets_in_data_loader_as_torch():
    for batch_size in (None, 1, 4):
        for ds in (dgdata.TensorDataset(np.empty((0, 3))), []):
            ours = dgdata.DataLoader(ds, batch_size=batch_size)
            assert len(ours) == 0 and list(ours) == []
        theirs = tdata.DataLoader(tdata.TensorDataset(torch.empty(0, 3)), batch_size=batch_size)
        assert len(theirs) == 0 and list(theirs) == []
    assert list(dgdata.SequentialSampler([])) == list(tdata.SequentialSampler([])) == []
    assert len(dgdata.ConcatDataset([[], []])) == len(tdata.ConcatDataset([[], []])) == 0


def test_random_sampler_edge_cases():
    # torch refuses RandomSampler([]) (num_samples=0); deltagrad yields nothing (an empty
    # DataLoader(shuffle=True), as dg.train.fit may build)
    with pytest.raises(ValueError):
        tdata.RandomSampler([])
    assert list(dgdata.RandomSampler([])) == [] and len(dgdata.RandomSampler([])) == 0
    # num_samples from an empty data set: torch a ZeroDivisionError / RuntimeError
    with pytest.raises(ZeroDivisionError):
        list(tdata.RandomSampler([], num_samples=3))
    with pytest.raises(ValueError, match="RandomSampler: cannot draw num_samples=3 samples"):
        list(dgdata.RandomSampler([], num_samples=3))
    with pytest.raises(ValueError, match="RandomSampler: cannot draw samples with replacement"):
        list(dgdata.RandomSampler([], replacement=True, num_samples=3))
    # a data source without __len__: a TypeError at construction, as torch
    _raises_like_torch(
        lambda: dgdata.RandomSampler(iter([1, 2])),
        lambda: tdata.RandomSampler(iter([1, 2])),
        TypeError,
        "len",
    )
    assert len(dgdata.RandomSampler(iter([1, 2]), num_samples=4)) == 4
    rs = dgdata.RandomSampler(range(5), num_samples=12, generator=np.random.default_rng(0))
    got = list(rs)
    assert len(got) == 12 and sorted(got[:5]) == sorted(got[5:10]) == list(range(5))
    assert len(set(got[10:])) == 2


# ---- SubsetRandomSampler ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "indices", [[7, 3, 9, 3, 0], [], [4], range(2, 20, 3), np.array([5, 1, 8]), "abc"]
)
def test_subset_random_sampler_is_a_permutation_of_the_indices(indices):
    ours = dgdata.SubsetRandomSampler(indices, generator=np.random.default_rng(0))
    theirs = tdata.SubsetRandomSampler(indices, generator=torch.Generator().manual_seed(0))
    got = list(ours)
    assert len(ours) == len(theirs) == len(got)
    assert sorted(got) == sorted(theirs)
    assert sorted(got) == sorted(list(indices))
    if isinstance(indices, np.ndarray):
        assert all(type(i) is int for i in got)
    assert ours.indices is indices


def test_subset_random_sampler_uniform_and_reproducible():
    indices = [10, 20, 30, 40]
    g = np.random.default_rng(5)
    ours = dgdata.SubsetRandomSampler(indices, generator=g)
    passes = 8000
    first = np.array([next(iter(ours)) for _ in range(passes)])
    counts = np.array([(first == v).sum() for v in indices])
    sd = np.sqrt(passes * 0.25 * 0.75)
    assert np.all(np.abs(counts - passes / 4) < 5 * sd), counts
    a = list(dgdata.SubsetRandomSampler(indices, generator=np.random.default_rng(1)))
    b = list(dgdata.SubsetRandomSampler(indices, generator=np.random.default_rng(1)))
    assert a == b
    s = dgdata.SubsetRandomSampler(list(range(50)), generator=np.random.default_rng(1))
    assert list(s) != list(s)  # the generator advances: a new order every pass
    dg.manual_seed(11)
    c = list(dgdata.SubsetRandomSampler(list(range(50))))
    dg.manual_seed(11)
    assert c == list(dgdata.SubsetRandomSampler(list(range(50))))
    t = dgdata.SubsetRandomSampler(Tensor(np.array([3, 1, 2])), generator=np.random.default_rng(0))
    assert sorted(t) == [1, 2, 3] and all(type(i) is int for i in t)
    with pytest.raises(TypeError, match="SubsetRandomSampler: generator"):
        dgdata.SubsetRandomSampler([1], generator=0)


# ---- WeightedRandomSampler -------------------------------------------------------------------

WEIGHTS = [0.1, 0.9, 0.4, 0.7, 3.0, 0.6, 0.0]


def test_weighted_sampler_with_replacement_frequencies():
    k = 200_000
    w = np.array(WEIGHTS)
    p = w / w.sum()
    ours = dgdata.WeightedRandomSampler(WEIGHTS, k, generator=np.random.default_rng(0))
    got = np.array(list(ours))
    assert len(got) == len(ours) == k
    freq = np.bincount(got, minlength=len(w)) / k
    sd = np.sqrt(p * (1 - p) / k)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-12), (freq, p)
    assert freq[-1] == 0  # a weight of 0 is never drawn
    torch.manual_seed(0)
    theirs = np.array(list(tdata.WeightedRandomSampler(WEIGHTS, k)))
    tfreq = np.bincount(theirs, minlength=len(w)) / k
    assert np.all(np.abs(freq - tfreq) <= 5 * np.sqrt(2) * sd + 1e-12), (freq, tfreq)
    # more draws than weights with replacement: fine, as torch
    assert len(list(dgdata.WeightedRandomSampler([1.0, 2.0], 9))) == 9


def test_weighted_sampler_without_replacement_distribution():
    """The first two draws of successive sampling: P(first = i) = p_i and
    P(second = j) = sum_{i != j} p_i p_j / (1 - p_i)."""
    w = np.array([0.5, 1.0, 2.0, 4.0, 0.0])
    p = w / w.sum()
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j) for j in range(5)])
    passes = 6000
    ours = dgdata.WeightedRandomSampler(w, 5, replacement=False, generator=np.random.default_rng(2))
    draws = np.array([list(ours) for _ in range(passes)])
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in draws)  # no repeats
    assert np.all(draws[:, -1] == 4)  # the zero weight only after every positive one, as torch
    for col, ref in ((0, p), (1, second)):
        freq = np.bincount(draws[:, col], minlength=5) / passes
        sd = np.sqrt(ref * (1 - ref) / passes)
        assert np.all(np.abs(freq - ref) <= 5 * sd + 1e-12), (col, freq, ref)
    torch.manual_seed(1)
    tdraws = np.array([list(tdata.WeightedRandomSampler(w, 5, replacement=False))])
    assert sorted(tdraws[0]) == [0, 1, 2, 3, 4] and tdraws[0, -1] == 4
    part = dgdata.WeightedRandomSampler(w, 3, replacement=False, generator=np.random.default_rng(6))
    for _ in range(50):
        got = list(part)
        assert len(got) == len(set(got)) == 3 and 4 not in got


def test_weighted_sampler_reproducible_and_input_forms():
    a = list(dgdata.WeightedRandomSampler(WEIGHTS, 50, generator=np.random.default_rng(4)))
    b = list(dgdata.WeightedRandomSampler(WEIGHTS, 50, generator=np.random.default_rng(4)))
    assert a == b
    g = np.random.default_rng(4)
    s = dgdata.WeightedRandomSampler(np.array(WEIGHTS), 50, generator=g)
    assert list(s) == a and list(s) != a  # same draws from the same seed, then new ones
    for form in (Tensor(np.array(WEIGHTS, dtype=np.float32)), tuple(WEIGHTS), np.array(WEIGHTS)):
        s = dgdata.WeightedRandomSampler(form, 50, generator=np.random.default_rng(4))
        assert s.weights.data.dtype == np.float64 and s.weights.data.shape == (7,)
        assert s.num_samples == 50 and s.replacement is True
    ints = dgdata.WeightedRandomSampler([0, 3, 1], 20, generator=np.random.default_rng(0))
    assert set(ints) <= {1, 2}
    dg.manual_seed(9)
    c = list(dgdata.WeightedRandomSampler(WEIGHTS, 30))
    dg.manual_seed(9)
    assert c == list(dgdata.WeightedRandomSampler(WEIGHTS, 30))
    # extreme magnitudes: weights near the float64 maximum, and subnormal ones
    big = list(dgdata.WeightedRandomSampler([1e308, 1e308, 0.0], 100))
    assert set(big) == {0, 1}
    assert list(dgdata.WeightedRandomSampler([1e-320, 0.0], 5)) == [0] * 5
    ordered = dgdata.WeightedRandomSampler([1e308, 1e-300, 0.0], 3, replacement=False)
    assert sorted(ordered) == [0, 1, 2] and list(ordered)[-1] == 2


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize(
    "weights, match",
    [
        ([0.0, 0.0, 0.0], r"sum of probabilities <= 0"),
        ([1.0, -0.5, 2.0], r"< 0"),
        ([1.0, float("nan"), 2.0], r"infinity or NaN"),
        ([1.0, float("inf"), 2.0], r"infinity or NaN"),
        ([-1.0, float("nan")], r""),
    ],
)
def test_weighted_sampler_bad_weights_as_torch(weights, match, replacement):
    k = 2
    ours = dgdata.WeightedRandomSampler(weights, k, replacement=replacement)  # lazily, as torch
    theirs = tdata.WeightedRandomSampler(weights, k, replacement=replacement)
    assert len(ours) == len(theirs) == k
    _raises_like_torch(
        lambda: list(ours), lambda: list(theirs), RuntimeError, "WeightedRandomSampler: .*" + match
    )


def test_weighted_sampler_argument_errors_as_torch():
    for kwargs, match in (
        ({"num_samples": 0}, "num_samples should be a positive integer value"),
        ({"num_samples": -3}, "num_samples should be a positive integer value"),
        ({"num_samples": 2.0}, "num_samples should be a positive integer value"),
        ({"num_samples": True}, "num_samples should be a positive integer value"),
        ({"num_samples": None}, "num_samples should be a positive integer value"),
        ({"num_samples": 2, "replacement": 1}, "replacement should be a boolean value"),
        ({"num_samples": 2, "weights": [[1.0, 2.0]]}, r"1d sequence .* shape \(1, 2\)"),
        ({"num_samples": 2, "weights": 5.0}, r"1d sequence .* shape \(\)"),
        ({"num_samples": 2, "weights": ["a", "b"]}, "weights: expected a sequence of real"),
    ):
        full = {"weights": [1.0, 2.0, 3.0], **kwargs}
        _raises_like_torch(
            lambda f=full: dgdata.WeightedRandomSampler(**f),
            lambda f=full: tdata.WeightedRandomSampler(**f),
            ValueError,
            "WeightedRandomSampler: .*" + match,
        )
    # more samples than weights without replacement: refused when iterated, as torch
    ours = dgdata.WeightedRandomSampler([1.0, 2.0], 3, replacement=False)
    theirs = tdata.WeightedRandomSampler([1.0, 2.0], 3, replacement=False)
    assert len(ours) == len(theirs) == 3
    _raises_like_torch(
        lambda: list(ours), lambda: list(theirs), RuntimeError, "cannot sample num_samples=3 >"
    )
    _raises_like_torch(
        lambda: list(dgdata.WeightedRandomSampler([], 1)),
        lambda: list(tdata.WeightedRandomSampler([], 1)),
        RuntimeError,
        "sum of probabilities <= 0",
    )
    with pytest.raises(TypeError, match="WeightedRandomSampler: generator"):
        dgdata.WeightedRandomSampler([1.0], 1, generator=torch.Generator())
    with pytest.raises(ValueError, match="WeightedRandomSampler: weights"):
        dgdata.WeightedRandomSampler(np.array([1 + 1j]), 1)


# ---- the new samplers in DataLoader ----------------------------------------------------------


class PlainItems(dgdata.Dataset):
    """The TensorDataset's items without its fast path (DataLoader collates item by item)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __getitem__(self, i):
        return self.X[i], self.y[i]

    def __len__(self):
        return len(self.X)


def _batches(loader):
    return [[t.data.copy() for t in b] for b in loader]


def _assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    "make",
    [
        lambda g: dgdata.WeightedRandomSampler(WEIGHTS, 17, generator=g),
        lambda g: dgdata.WeightedRandomSampler(WEIGHTS, 6, replacement=False, generator=g),
        lambda g: dgdata.SubsetRandomSampler([6, 0, 2, 5, 2, -1], generator=g),
        lambda g: dgdata.SubsetRandomSampler(np.arange(7), generator=g),
    ],
)
@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (4, False), (4, True), (50, True)])
def test_new_samplers_in_data_loader_fast_path_matches_items_path(make, batch_size, drop_last):
    X, y = _rows(7, seed=5)
    fast = dgdata.DataLoader(
        dgdata.TensorDataset(X, y),
        batch_size=batch_size,
        sampler=make(np.random.default_rng(3)),
        drop_last=drop_last,
    )
    slow = dgdata.DataLoader(
        PlainItems(X, y),
        batch_size=batch_size,
        sampler=make(np.random.default_rng(3)),
        drop_last=drop_last,
    )
    assert fast._fast_plan() is not None and slow._fast_plan() is None
    assert len(fast) == len(slow)
    a, b = _batches(fast), _batches(slow)
    _assert_batches_equal(a, b)
    assert len(a) == len(fast)
    # rows stay paired with their labels
    for xb, yb in a:
        for row, label in zip(xb, yb):
            assert label in y[(X == row).all(axis=1)]
    # a Subset of a TensorDataset takes the fast path too, through its indices
    sub_idx = [6, 5, 4, 3, 2, 1, 0]
    sub = dgdata.Subset(dgdata.TensorDataset(X, y), sub_idx)
    fast_sub = dgdata.DataLoader(sub, batch_size, sampler=make(np.random.default_rng(3)))
    slow_sub = dgdata.DataLoader(
        dgdata.Subset(PlainItems(X, y), sub_idx), batch_size, sampler=make(np.random.default_rng(3))
    )
    _assert_batches_equal(_batches(fast_sub), _batches(slow_sub))


def test_new_samplers_data_loader_options_as_torch():
    X, y = _rows(6)
    ds, tds = dgdata.TensorDataset(X, y), tdata.TensorDataset(torch.from_numpy(X))
    for ours_s, theirs_s in (
        (dgdata.WeightedRandomSampler(WEIGHTS, 9), tdata.WeightedRandomSampler(WEIGHTS, 9)),
        (dgdata.SubsetRandomSampler([1, 4, 2]), tdata.SubsetRandomSampler([1, 4, 2])),
    ):
        for kw in ({"batch_size": 2}, {"batch_size": 2, "drop_last": True}, {"batch_size": None}):
            assert len(dgdata.DataLoader(ds, sampler=ours_s, **kw)) == len(
                tdata.DataLoader(tds, sampler=theirs_s, **kw)
            )
        _raises_like_torch(
            lambda s=ours_s: dgdata.DataLoader(ds, sampler=s, shuffle=True),
            lambda s=theirs_s: tdata.DataLoader(tds, sampler=s, shuffle=True),
            ValueError,
            "sampler option is mutually exclusive with shuffle",
        )
        # as a batch sampler's sampler
        bs = dgdata.BatchSampler(ours_s, 3, False)
        batches = list(dgdata.DataLoader(ds, batch_sampler=bs))
        assert len(batches) == len(bs) and all(len(b[0].data) <= 3 for b in batches)
    # an index sampler that points outside the data set fails as the item path would
    bad = dgdata.DataLoader(ds, batch_size=2, sampler=dgdata.SubsetRandomSampler([0, 9]))
    with pytest.raises(IndexError):
        list(bad)
    # non-integer indices (a custom data set's keys) take the item path
    keyed = {"a": 1, "b": 2, "c": 3}
    got = list(dgdata.DataLoader(keyed, batch_size=3, sampler=dgdata.SubsetRandomSampler("abc")))
    assert sorted(got[0].data.tolist()) == [1, 2, 3]
