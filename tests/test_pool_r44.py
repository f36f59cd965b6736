"""Global max pooling of a large input (round 44): adaptive_max_pool2d to (1, 1) scans the
planes of each thread's range in lock step (pool.h range_winners_lockstep) once the input
passes the streaming threshold; the winners must equal the reference's (torch's flat-index
rule: the first maximum, the last NaN, -0.0 and 0.0 tied, an all -inf plane won by its first
element) whatever the plane count, the tail of a plane and the thread count."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu, ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES


def _planes(shape, dtype, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(dtype)
    if kind == "zeros":  # signed zeros and -1: the winner's sign is the first zero's
        return rng.choice(np.array([-0.0, 0.0, -1.0], dtype), size=shape)
    x = rng.normal(size=shape).astype(dtype)
    if kind == "extremes":
        flat = x.reshape(x.shape[0] * x.shape[1], -1)
        n = flat.shape[1]
        for p in range(flat.shape[0]):
            m = p % 5
            if m == 0:
                flat[p] = -np.inf  # all -inf: index 0
            elif m == 1:
                flat[p, rng.choice(n, min(n, 3), replace=False)] = np.nan  # the last NaN
            elif m == 2:
                flat[p, rng.choice(n, min(n, 2), replace=False)] = np.inf  # the first inf
            elif m == 3:
                flat[p, -1] = np.nan  # a NaN in the tail only
    return x


@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "extremes"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("planes", [1, 3, 4, 5, 9, 13])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (16, 16), (5, 37)])
def test_global_max_lockstep_matches_reference(isa, hw, planes, dtype, kind):
    x = _planes((1, planes, *hw), dtype, planes * 100 + hw[0], kind)
    y_ref, idx_ref = ref.adaptive_max_pool2d(x, 1)
    old, nt = _cpu._pool_stream_bytes(0), dg.get_num_threads()
    try:
        for n in (1, 2):
            dg.set_num_threads(n)
            y, idx = ops.adaptive_max_pool2d(x, 1)
            np.testing.assert_array_equal(idx, idx_ref)
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(np.signbit(y), np.signbit(y_ref))
    finally:
        _cpu._pool_stream_bytes(old)
        dg.set_num_threads(nt)


def test_global_max_large_input_matches_cached_path():
    """Past the real threshold (16 MiB): the lock-step scan against the cached path's."""
    x = _planes((2, 37, 240, 250), np.float32, 3, "ties")
    y, idx = ops.adaptive_max_pool2d(x, 1)
    old = _cpu._pool_stream_bytes(1 << 62)
    try:
        y2, idx2 = ops.adaptive_max_pool2d(x, 1)
    finally:
        _cpu._pool_stream_bytes(old)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(idx, x.reshape(74, -1).argmax(1).reshape(idx.shape))
