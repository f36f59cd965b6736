"""The depthwise fast kernels (conv.h depthwise_fast_forward / depthwise_fast_backward: phase-
split padded planes, one gather or dot product per tap run) against the NumPy float64
reference and against the direct loop (algo='direct'), on every ISA and both dtypes: strides
1-3 along either axis, dilations, paddings from 0 to past the kernel, channel multipliers,
non-square and even kernels, odd and tiny sizes, 1 and 2 threads; an inf or NaN reaches only
the sums that read it, as in the direct loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu, reference
from deltagrad.testing import assert_close

DTYPES = (np.float64, np.float32)

# (n, c, h, w, mult, kh, kw, stride, padding, dilation)
CASES = [
    (2, 3, 9, 10, 1, 3, 3, 1, 1, 1),
    (2, 4, 17, 19, 1, 3, 3, 1, 1, 1),  # rows past one vector, a tail
    (2, 4, 16, 16, 1, 3, 3, 1, 1, 1),  # whole vectors (AVX-512)
    (2, 3, 12, 13, 1, 3, 3, 2, 1, 1),  # stride 2: two phases
    (2, 3, 11, 12, 2, 3, 3, 2, 1, 1),  # 2 outputs per channel, strided
    (1, 2, 13, 14, 1, 3, 3, 3, 1, 1),  # stride 3
    (2, 3, 14, 15, 1, 3, 3, (1, 2), (0, 1), 1),  # strides differ
    (2, 3, 14, 15, 1, 3, 3, (2, 1), (1, 0), 1),
    (2, 3, 12, 11, 1, 5, 5, 1, 2, 1),  # 25 taps: three passes
    (2, 3, 12, 11, 1, 7, 7, 2, 3, 1),
    (2, 2, 10, 13, 3, 5, 3, 1, (2, 1), 2),  # dilated, non-square, 3 outputs per channel
    (2, 2, 11, 13, 1, 3, 3, 2, 2, 2),  # dilated and strided
    (2, 3, 8, 9, 1, 4, 4, 2, 1, 1),  # even kernel
    (2, 3, 9, 9, 1, 1, 1, 1, 0, 1),  # 1x1
    (2, 3, 9, 9, 1, 1, 1, 2, 0, 1),  # 1x1 strided: dx rows with no taps
    (2, 3, 6, 7, 1, 3, 3, 1, 3, 1),  # padding past the kernel: rows reading nothing
    (2, 3, 5, 5, 1, 3, 3, 1, 0, 1),  # no padding
    (1, 2, 1, 1, 1, 3, 3, 1, 1, 1),  # 1x1 image
    (1, 2, 1, 9, 1, 1, 3, 1, (0, 1), 1),  # one row
    (1, 2, 9, 1, 1, 3, 1, 2, (1, 0), 1),  # one column
    (3, 2, 40, 37, 1, 3, 3, 1, 1, 1),  # several vectors a row
    (2, 2, 33, 35, 2, 3, 3, 2, 1, 1),
]
IDS = [
    "n{}c{}_{}x{}_m{}_k{}x{}_s{}p{}d{}".format(*c).replace(" ", "").replace(",", "-") for c in CASES
]


def _data(case, dtype, rng):
    n, c, h, w, mult, kh, kw, s, p, d = case
    x = rng.uniform(-2, 2, size=(n, c, h, w)).astype(dtype)
    wt = rng.uniform(-1, 1, size=(c * mult, 1, kh, kw)).astype(dtype)
    b = rng.uniform(-1, 1, size=c * mult).astype(dtype)
    return x, wt, b, dict(stride=s, padding=p, dilation=d, groups=c)


def _tol(dtype, k):
    return (1e-10, 1e-10) if dtype == np.float64 else (1e-5, 1e-5 * max(1.0, math.sqrt(k)))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_vs_reference_and_direct(isa, case, dtype, threads, rng):
    x, w, b, kw = _data(case, dtype, rng)
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        k = w[0].size * x.shape[0]
        rtol, atol = _tol(dtype, k)
        y_ref = reference.conv2d_forward(x, w, b, **kw)
        y = _cpu.conv2d_forward(x, w, b, **kw)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert_close(y, y_ref, rtol=rtol, atol=atol, name="y")
        assert_close(y, _cpu.conv2d_forward(x, w, b, **kw, algo="direct"), rtol=rtol, atol=atol)
        dy = rng.uniform(-1, 1, size=y_ref.shape).astype(dtype)
        ref = reference.conv2d_backward(dy, x, w, **kw)
        got = _cpu.conv2d_backward(dy, x, w, **kw)
        scale = max(1.0, math.sqrt(y.shape[0] * y.shape[2] * y.shape[3]))
        for name, a, e in zip(("dx", "dw", "db"), got, ref):
            assert a.dtype == dtype and a.shape == e.shape, name
            assert_close(a, e, rtol=rtol, atol=atol * scale, name=name)
        # each gradient alone (the backward's two loops: over channels with dw, planes without)
        dx_only = _cpu.conv2d_backward(dy, x, w, **kw, need_dw=False, need_db=False)[0]
        np.testing.assert_array_equal(dx_only, got[0])
        dw_only = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False)[1]
        np.testing.assert_array_equal(dw_only, got[1])
        # db is summed beside dx / dw in the GEMM path's order (conv.h bias_grad): same bits
        db_only = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_dw=False)[2]
        np.testing.assert_array_equal(db_only, got[2])
        np.testing.assert_array_equal(got[2], _cpu.conv2d_backward(dy, x, w, **kw, algo="gemm")[2])
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_same_bits_on_any_thread_count(isa, dtype, rng):
    x, w, b, kw = _data((4, 6, 23, 21, 2, 3, 3, 1, 1, 1), dtype, rng)
    y1 = _cpu.conv2d_forward(x, w, b, **kw)
    dy = rng.uniform(-1, 1, size=y1.shape).astype(dtype)
    old = dg.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            dg.set_num_threads(t)
            outs.append((_cpu.conv2d_forward(x, w, b, **kw), *_cpu.conv2d_backward(dy, x, w, **kw)))
        for a, e in zip(*outs):
            np.testing.assert_array_equal(a, e)
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["x_inf", "x_nan", "w_inf_corner", "w_nan", "dy_inf_border"])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_nonfinite_like_the_direct_loop(isa, dtype, where, stride, rng):
    """The padded columns add w * 0 (forward, dx) and dy * 0 (dw): with an inf weight or an inf
    dy on the border that would be NaN where the direct sum never reads the padding, so those
    calls run the direct loop (the same values as algo='direct', bit for bit)."""
    x, w, b, kw = _data((2, 3, 9, 11, 2, 3, 3, stride, 1, 1), dtype, rng)
    y = _cpu.conv2d_forward(x, w, b, **kw)
    dy = rng.uniform(-1, 1, size=y.shape).astype(dtype)
    if where == "x_inf":
        x[1, 2, 4, 0] = np.inf
    elif where == "x_nan":
        x[0, 1, 0, 5] = np.nan
    elif where == "w_inf_corner":  # a corner tap: it reads the padding on the border rows
        w[3, 0, 0, 0] = -np.inf
    elif where == "w_nan":
        w[1, 0, 2, 2] = np.nan
    else:
        dy[0, 2, 0, 0] = np.inf
    direct = dict(kw, algo="direct")
    np.testing.assert_array_equal(
        np.isfinite(_cpu.conv2d_forward(x, w, b, **kw)),
        np.isfinite(_cpu.conv2d_forward(x, w, b, **direct)),
    )
    rtol, atol = _tol(dtype, 9 * 2)
    assert_close(
        _cpu.conv2d_forward(x, w, b, **kw), _cpu.conv2d_forward(x, w, b, **direct), rtol=rtol,
        atol=atol, name="y", equal_nan=True,
    )  # fmt: skip
    got = _cpu.conv2d_backward(dy, x, w, **kw)
    exp = _cpu.conv2d_backward(dy, x, w, **direct)
    for name, a, e in zip(("dx", "dw", "db"), got, exp):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=name)
        np.testing.assert_array_equal(np.isinf(a), np.isinf(e), err_msg=name)
        assert_close(a, e, rtol=rtol, atol=atol * 20, name=name, equal_nan=True)
