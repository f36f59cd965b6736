"""topk's candidate buffer (csrc/cpu/select.h): rows where candidates keep coming (ascending for
the largest, descending for the smallest) switch from the sorted k best to a buffer after
4k + n / 16 inserts, cut back to its k best when 8k (at least 32) candidates are in; float32 rows
buffer packed 64-bit keys cut by a branch-free quickselect, float64 rows {key, pos} items. Sizes
around those switch points and up to 100k, both dtypes, both directions, ties, NaN, signed zeros
and sawtooth rows, against a stable-sort reference (torch's order: NaN above every number,
-0.0 == 0.0, ties by the earlier index) and torch.topk."""

from __future__ import annotations

import numpy as np
import pytest
from _topk_helpers import stable_topk as _reference

from deltagrad import _cpu

KS = [2, 3, 7, 10, 16, 33, 64]


def _rows(kind, rows, n, dtype, seed, largest):
    """Rows on which (nearly) every element beats the k-th best so far for `largest`."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.standard_normal((rows, n)), axis=-1)
    if kind == "ties":  # runs of equal values: the earlier index must win
        x = np.round(x * 4)
    elif kind == "nan":
        x[rng.random(x.shape) < 0.05] = np.nan
    elif kind == "signed_zeros":  # ascending through a run of -0.0 / 0.0
        x = np.where(np.abs(x) < 0.5, np.where(rng.random(x.shape) < 0.5, 0.0, -0.0), x)
    elif kind == "sawtooth":  # ascending in segments: buffers cut, then refill
        x = np.sort(rng.standard_normal((rows, 4, -(-n // 4))), axis=-1)
        x = (x + np.arange(4)[:, None] * 0.5).reshape(rows, -1)[:, :n]
    elif kind == "tiny_steps":  # adjacent float32 values: keys that differ in the last bit
        x = np.cumsum(np.full((rows, n), np.finfo(dtype).eps, dtype=np.float64), axis=-1) + 1.0
    if not largest:
        x = -x
    return x.astype(dtype)


def _switch_sizes(k):
    """n where the sorted phase ends (4k + n / 16 inserts) and the buffer first fills (8k)."""
    cap = max(8 * k, 32)
    sizes = set()
    for base in (5 * k, 5 * k + cap, 5 * k + 2 * cap):
        m = base * 16 // 15
        sizes.update({m - 1, m, m + 1, m + 17})
    return sorted(s for s in sizes if s >= k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("kind", ["plain", "ties", "nan", "signed_zeros", "sawtooth", "tiny_steps"])
def test_buffered_rows_equal_the_stable_reference(kind, largest, dtype):
    for k in KS:
        for n in _switch_sizes(k) + [1000, 4096]:
            x = _rows(kind, 3, n, dtype, 7 * n + k, largest)
            val, idx = _cpu.topk(x, k, largest)
            want = _reference(x, k, largest)
            np.testing.assert_array_equal(idx, want, err_msg=f"{kind} k={k} n={n}")
            np.testing.assert_array_equal(val, np.take_along_axis(x, want, -1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("n", [65_537, 100_000])
def test_long_buffered_rows_equal_torch(n, largest, dtype):
    torch = pytest.importorskip("torch")
    for kind in ("plain", "ties", "sawtooth"):
        x = _rows(kind, 2, n, dtype, n, largest)
        for k in (2, 10, 64):
            val, idx = _cpu.topk(x, k, largest)
            tv, ti = torch.topk(torch.from_numpy(x), k, largest=largest)
            np.testing.assert_array_equal(idx, _reference(x, k, largest))
            if kind != "ties":  # torch does not promise the earlier index among ties
                np.testing.assert_array_equal(idx, ti.numpy())
            np.testing.assert_array_equal(val, tv.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_rows_with_an_ascending_tail(dtype):
    """A row that turns ascending late: the sorted phase, then the buffer, mid-row."""
    rng = np.random.default_rng(3)
    for n in (300, 2049, 20_000):
        x = rng.standard_normal((4, n))
        x[:, n // 2 :] = np.sort(x[:, n // 2 :], axis=-1) + 3
        x = x.astype(dtype)
        for k in KS:
            for largest, y in ((True, x), (False, -x)):
                _, idx = _cpu.topk(y, k, largest)
                np.testing.assert_array_equal(idx, _reference(y, k, largest))
