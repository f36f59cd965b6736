"""topk's round-44 paths (csrc/cpu/select.h). A row whose 8 evenly spaced probes (nearly) all
step toward better elements (ascending for the largest, descending for the smallest) is scanned
from its end, where the vector compare keeps ties with the k-th best so far (an earlier index
beats it) and the exact order decides. Other rows with 32 <= k, 16k <= n <= 512k / 3 (and
probes not all stepping toward worse) start from a bound that a sample of the row gives (its
12th best of 3n / k samples), keep every element that ties or beats it, and go back to the
plain scan where fewer than k did. Rows that fool the probe or the sample, or make the backward
scan work hard: sorted both ways, sorted in runs of ties, all equal, many NaN, signed zeros,
sawtooth, noisy trends, rows whose probes alone are ascending (the rest random, tied with the
probes or NaN), rows whose sampled places alone hold the best, the worst or tied elements; n
around the switch points and up to 100k, both dtypes, both directions, k = 1, 2, ..., 64 and
k = n; every result against a stable-sort reference (torch's order: NaN above every number,
-0.0 == 0.0, ties by the earlier index) and torch.topk, and Tensor.topk for k = 0, 1, n."""

from __future__ import annotations

import numpy as np
import pytest
from _topk_helpers import stable_topk as _reference

import deltagrad as dg
from deltagrad import _cpu

KINDS = [
    "sorted",
    "sorted_ties",
    "all_equal",
    "many_nan",
    "nan_tail",
    "signed_zeros",
    "sawtooth",
    "noisy_trend",
    "probes_only",
    "probes_tied",
    "probes_nan",
]


def _probes(n):
    """The kernel's probe positions (select.h runs_against)."""
    return np.array([i * (n - 1) // 7 for i in range(8)])


def _rows(kind, rows, n, dtype, seed, largest):
    """Rows that run against the scan in index order for `largest` (ascending when largest; the
    negation when not), or that sit on the probe's edge."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.standard_normal((rows, n)), axis=-1)
    if kind == "sorted_ties":  # runs of equal values, the top run longer than k
        x = np.round(x * 2)
    elif kind == "all_equal":
        x = np.full((rows, n), 1.5)
    elif kind == "many_nan":
        x[rng.random(x.shape) < 0.6] = np.nan
    elif kind == "nan_tail":  # NaN where the backward scan starts
        x[:, -max(1, n // 8) :] = np.nan
    elif kind == "signed_zeros":
        x = np.where(np.abs(x) < 1.0, np.where(rng.random(x.shape) < 0.5, 0.0, -0.0), x)
    elif kind == "sawtooth":  # ascending teeth, each a step lower than the last
        teeth = 5
        x = np.sort(rng.standard_normal((rows, teeth, -(-n // teeth))), axis=-1)
        x = (x - np.arange(teeth)[:, None] * 0.25).reshape(rows, -1)[:, :n]
    elif kind == "noisy_trend":
        x = np.linspace(0, 30, n) + rng.standard_normal((rows, n))
    elif kind in ("probes_only", "probes_tied", "probes_nan"):
        # the probes ascend; the rest is random, or tied with them, or NaN
        if kind == "probes_only":
            x = rng.standard_normal((rows, n)) * 2
        elif kind == "probes_tied":
            x = rng.integers(-4, 5, (rows, n)).astype(np.float64)
        else:
            x = np.where(rng.random((rows, n)) < 0.5, np.nan, rng.standard_normal((rows, n)))
        x[:, _probes(n)] = np.arange(-4, 4, dtype=np.float64)
    if not largest:
        x = -x
    return x.astype(dtype)


def _sizes(k):
    """n around the probe's floor (32, 2k) and the sorted phase's end (4k + n / 16 inserts)."""
    cap = max(8 * k, 32)
    sizes = {31, 32, 33, 2 * k, 2 * k + 1, 2 * k + 2, 100, 1000, 4096}
    for base in (5 * k, 5 * k + cap):
        m = base * 16 // 15
        sizes.update({m - 1, m, m + 1})
    return sorted(s for s in sizes if s >= k)


def _check(x, k, largest, torch=None, kind=""):
    val, idx = _cpu.topk(x, k, largest)
    want = _reference(x, k, largest)
    msg = f"{kind} k={k} n={x.shape[-1]} largest={largest}"
    np.testing.assert_array_equal(idx, want, err_msg=msg)
    np.testing.assert_array_equal(val, np.take_along_axis(x, want, -1), err_msg=msg)
    if torch is not None:
        tv, _ = torch.topk(torch.from_numpy(x), k, largest=largest)
        np.testing.assert_array_equal(val, tv.numpy(), err_msg=msg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_rows_against_the_scan_equal_the_stable_reference(kind, largest, dtype):
    for k in (2, 3, 10, 33, 64):
        for n in _sizes(k):
            x = _rows(kind, 3, n, dtype, 11 * n + k, largest)
            _check(x, k, largest, kind=kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
def test_k_equal_n_and_k_1(largest, dtype):
    for kind in KINDS:
        for n in (1, 2, 7, 31, 32, 33, 64):
            x = _rows(kind, 2, n, dtype, n, largest)
            for k in {1, n}:
                _check(x, k, largest, kind=kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("n", [65_537, 100_000])
def test_long_rows_equal_torch(n, largest, dtype):
    torch = pytest.importorskip("torch")
    for kind in ("sorted", "sorted_ties", "many_nan", "sawtooth", "noisy_trend", "probes_tied"):
        x = _rows(kind, 2, n, dtype, n, largest)
        for k in (2, 10, 64):
            _check(x, k, largest, torch, kind)


def test_the_probe_reads_the_direction():
    """The rows above do run against the scan: their probes step toward better elements."""
    for n in (32, 1000, 100_000):
        for kind in ("sorted", "noisy_trend", "probes_only"):
            for largest in (True, False):
                x = _rows(kind, 1, n, np.float64, 0, largest)[0]
                p = x[_probes(n)]
                steps = np.diff(p) > 0 if largest else np.diff(p) < 0
                assert steps.sum() >= 6, (kind, n, largest)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
def test_tensor_topk_k_0_1_n_equals_torch(largest, dtype):
    torch = pytest.importorskip("torch")
    for kind in ("sorted", "sorted_ties", "many_nan", "probes_tied"):
        for n in (33, 64, 200):
            x = _rows(kind, 3, n, dtype, n, largest)
            for k in (0, 1, min(n, 64), n):
                got = dg.tensor(x).topk(k, largest=largest)
                tv, _ = torch.topk(torch.from_numpy(x), k, largest=largest)
                want = _reference(x, k, largest)
                np.testing.assert_array_equal(got.indices.numpy(), want, err_msg=f"{kind} {n} {k}")
                np.testing.assert_array_equal(got.values.numpy(), tv.numpy())


def _sampled(n, k):
    """The kernel's sample places (select.h sample_bound)."""
    s = min(3 * n // k, 512)
    stride = n // s
    i = np.arange(s, dtype=np.uint64)
    h = (i * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)  # (mod 2^64, as in C++)
    return (i * stride + (h % np.uint64(stride))).astype(np.int64)


SAMPLE_KINDS = ["random", "sample_best", "sample_worst", "sample_tied", "all_equal", "many_nan"]


def _sample_rows(kind, rows, n, k, dtype, seed, largest):
    """Rows in random order (the sample's case) whose sampled places may mislead the bound."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n))
    q = _sampled(n, k)
    if kind == "sample_best":  # the bound above the k-th: fewer than k candidates, a rescan
        x[:, q] = 10 + rng.random((rows, q.size))
    elif kind == "sample_worst":  # the bound below everything: every element a candidate
        x[:, q] = -10 - rng.random((rows, q.size))
    elif kind == "sample_tied":  # the bound ties many elements (and the k-th)
        x = np.round(x * 2)
        x[:, q] = np.round(rng.random((rows, q.size)) * 2 + 1)
    elif kind == "all_equal":
        x[:] = -0.0
        x[:, ::3] = 0.0
    elif kind == "many_nan":
        x[rng.random(x.shape) < (0.9 if seed % 2 else 0.995)] = np.nan
    if not largest:
        x = -x
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_sampled_bound_rows_equal_the_stable_reference(kind, largest, dtype):
    for k in (31, 32, 33, 48, 64):
        top = 512 * k // 3
        for n in sorted({16 * k - 1, 16 * k, 16 * k + 1, 4096, top - 1, top, top + 1}):
            for seed in (n, n + 1):
                x = _sample_rows(kind, 2, n, k, dtype, seed, largest)
                _check(x, k, largest, kind=kind)


def test_sample_rows_reach_the_rescan():
    """sample_best rows do put fewer than k elements at or above the sample's 12th best."""
    for n, k in ((1024, 64), (4096, 64), (4096, 33)):
        x = _sample_rows("sample_best", 1, n, k, np.float64, 0, True)[0]
        bound = np.sort(x[_sampled(n, k)])[::-1][11]
        assert np.count_nonzero(x >= bound) < k
