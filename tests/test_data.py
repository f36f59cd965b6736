"""deltagrad.data.DataLoader: full batch, online and mini-batch iteration, shuffling, len."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.data import DataLoader


def _data(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return X, np.arange(n)


def test_full_batch_is_the_whole_set():
    X, y = _data()
    batches = list(DataLoader(X, y, batch_size=None, shuffle=False))
    assert len(batches) == 1
    np.testing.assert_array_equal(batches[0][0], X)
    np.testing.assert_array_equal(batches[0][1], y)


def test_online_one_example_at_a_time():
    X, y = _data(7)
    loader = DataLoader(X, y, batch_size=1, shuffle=True, seed=0)
    assert len(loader) == 7
    seen = [int(yb[0]) for xb, yb in loader]
    assert sorted(seen) == list(range(7)) and seen != list(range(7))
    for xb, yb in loader:
        assert xb.shape == (1, 3) and yb.shape == (1,)
        np.testing.assert_array_equal(xb[0], X[yb[0]])  # rows stay paired


@pytest.mark.parametrize(
    "n,bs,drop_last,sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (5, 8, False, [5]),
        (1, 1, False, [1]),
    ],
)
def test_minibatch_sizes_and_len(n, bs, drop_last, sizes):
    X, y = _data(n)
    loader = DataLoader(X, y, batch_size=bs, shuffle=False, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(xb) for xb, _ in loader] == sizes


def test_shuffle_new_permutation_each_epoch_reproducible_with_seed():
    X, y = _data(20)
    a = DataLoader(X, y, batch_size=5, seed=3)
    e1 = np.concatenate([yb for _, yb in a])
    e2 = np.concatenate([yb for _, yb in a])
    assert sorted(e1) == list(range(20)) and not np.array_equal(e1, e2)
    b = DataLoader(X, y, batch_size=5, seed=3)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in b]), e1)
    dg.manual_seed(11)
    c1 = np.concatenate([yb for _, yb in DataLoader(X, y, batch_size=5)])
    dg.manual_seed(11)
    c2 = np.concatenate([yb for _, yb in DataLoader(X, y, batch_size=5)])
    np.testing.assert_array_equal(c1, c2)


def test_tensors_and_no_targets():
    X, y = _data(4)
    ((xb, yb),) = list(DataLoader(dg.tensor(X), None, shuffle=False))
    assert yb is None and isinstance(xb, np.ndarray)


def test_bad_input():
    X, y = _data(4)
    with pytest.raises(ValueError, match="4 rows.*\\(3,\\)"):
        DataLoader(X, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, batch_size=2.5)
    with pytest.raises(ValueError, match="dimension"):
        DataLoader(np.float32(1.0), None)
    assert "batch_size=2" in repr(DataLoader(X, y, batch_size=2))
