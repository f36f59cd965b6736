"""topk's kernel (csrc/cpu/select.h: a vector scan against the k-th best so far, candidates
inserted into the sorted k best, a buffer cut back with nth_element where candidates keep
coming) and Tensor.topk on top of it, against a stable-sort reference and torch.topk: torch's
order (largest or smallest first, NaN above every number, ties and -0.0 == 0.0 by the earlier
index), random, tied, sorted (every element a candidate), NaN / inf / signed-zero rows, every
k up to 64 and n around the vector widths, both dtypes, 1 and 2 threads, gradients."""

from __future__ import annotations

import numpy as np
import pytest
from _topk_helpers import stable_topk as _reference

import deltagrad as dg
from deltagrad import _cpu

KINDS = ["random", "ties", "nan", "signed_zeros", "inf", "ascending", "descending", "all_nan"]


def _rows(kind, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if kind == "ties":
        x = np.round(x * 2)
    elif kind == "nan":
        x[rng.random(shape) < 0.2] = np.nan
    elif kind == "signed_zeros":
        x = np.where(rng.random(shape) < 0.5, 0.0, -0.0)
    elif kind == "inf":
        x[rng.random(shape) < 0.2] = np.inf
        x[rng.random(shape) < 0.2] = -np.inf
    elif kind == "ascending":
        x = np.sort(x, axis=-1)
    elif kind == "descending":
        x = -np.sort(x, axis=-1)
    elif kind == "all_nan":
        x[:] = np.nan
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 5, 16, 17, 33, 100, 1000, 5000])
def test_kernel_equals_the_stable_reference(n, kind, dtype):
    x = _rows(kind, (5, n), dtype, n)
    for k in sorted({1, 2, 3, 7, 16, 64, n} & set(range(1, min(n, 64) + 1))):
        for largest in (True, False):
            val, idx = _cpu.topk(x, k, largest)
            want = _reference(x, k, largest)
            np.testing.assert_array_equal(idx, want)
            np.testing.assert_array_equal(val, np.take_along_axis(x, want, -1))


def test_kernel_is_the_same_on_both_thread_counts():
    x = _rows("ties", (300, 700), np.float32, 1)
    before = dg.get_num_threads()
    try:
        got = []
        for t in (1, 2):
            dg.set_num_threads(t)
            got.append(_cpu.topk(x, 9, True)[1])
        np.testing.assert_array_equal(got[0], got[1])
    finally:
        dg.set_num_threads(before)


def test_kernel_refuses_bad_k():
    x = np.ones((2, 10), np.float32)
    for k in (0, 65, 11):
        with pytest.raises(ValueError, match="k"):
            _cpu.topk(np.ones((2, 100), np.float32) if k == 65 else x, k, True)
    with pytest.raises(ValueError):
        _cpu.topk(np.ones(10, np.float32), 1, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "dim", "k"),
    [
        ((6, 50), -1, 5),
        ((50, 6), 0, 10),
        ((3, 40, 7), 1, 1),
        ((4, 300), 1, 64),
        ((4, 300), 1, 65),
        ((2, 3, 9), -1, 9),
    ],
)
@pytest.mark.parametrize("largest", [True, False])
def test_tensor_topk_as_torch(shape, dim, k, largest, dtype):
    torch = pytest.importorskip("torch")
    x = _rows("random", shape, dtype, 3)
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    v1, i1 = xd.topk(k, dim, largest)
    v2, i2 = torch.topk(xt, k, dim, largest)
    np.testing.assert_array_equal(v1.data, v2.detach().numpy())
    np.testing.assert_array_equal(i1.data, i2.numpy())
    g = np.random.default_rng(4).standard_normal(v1.shape).astype(dtype)
    v1.backward(dg.tensor(g))
    v2.backward(torch.tensor(g))
    np.testing.assert_array_equal(xd.grad, xt.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 16, 31, 32, 33, 100])
def test_top1_on_infinite_and_nan_rows(n, dtype):
    """k = 1 takes its own two-pass path (the best value, then its first position): rows whose
    best is an infinity, that mix NaN with infinities only, or whose best sits in the tail."""
    rng = np.random.default_rng(n)
    rows = [
        np.full(n, -np.inf),
        np.full(n, np.inf),
        np.where(rng.random(n) < 0.5, np.nan, np.inf),
        np.where(rng.random(n) < 0.5, np.nan, -np.inf),
        np.where(rng.random(n) < 0.5, -0.0, 0.0),
        np.append(rng.standard_normal(n - 1), 9.0),  # the best is the last element
        np.append(rng.standard_normal(n - 1), np.nan),
    ]
    x = np.stack(rows).astype(dtype)
    for largest in (True, False):
        val, idx = _cpu.topk(x, 1, largest)
        want = _reference(x, 1, largest)
        np.testing.assert_array_equal(idx, want)
        np.testing.assert_array_equal(val, np.take_along_axis(x, want, -1))
