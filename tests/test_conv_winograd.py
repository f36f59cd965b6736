"""Conv2d's Winograd F(2x2, 3x3) algorithm (algo='winograd', csrc/cpu/winograd.h) against the
NumPy float64 reference (reference.py) on every ISA and both dtypes: forward (+ bias) and
backward (dx and dw by Winograd, db), odd sizes (partial tiles), padding 0, 1, 2 and
uneven, N = 1, C = 1, O = 1, 1 and 2 threads; its float32 error against float64; the ValueError
on a convolution it does not apply to."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu, reference
from deltagrad.testing import assert_close

DTYPES = (np.float64, np.float32)

# (n, c, h, w, o, padding)
CASES = [
    (2, 3, 7, 9, 4, 1),  # odd sizes: the last tile row and column are partial
    (1, 1, 5, 5, 1, 0),  # N = 1, C = 1, O = 1
    (2, 5, 8, 6, 3, 2),  # even sizes, padding 2 (dx's padding 0)
    (3, 4, 9, 11, 1, (0, 2)),  # O = 1, uneven padding
    (1, 7, 3, 3, 5, 0),  # one output pixel
    (2, 2, 1, 4, 3, (1, 0)),  # a 1-row image
    (2, 6, 13, 37, 9, 1),  # a row of more than one vector of tiles (float32 AVX-512: 16)
    (0, 3, 5, 5, 4, 1),  # empty batch
    (2, 3, 0, 5, 2, 2),  # no input rows, padding 2: 2 output rows, dx has no tiles
    (2, 3, 4, 0, 2, 2),  # no input columns
    (2, 0, 5, 4, 3, 1),  # no input channels: y is the bias
    (2, 3, 5, 4, 0, 1),  # no output channels
    (1, 0, 1, 1, 0, 1),  # neither (dx's products once sized their blocks by zero channels)
]
IDS = [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}_o{c[4]}_p{c[5]}" for c in CASES]


def _data(case, dtype, rng):
    n, c, h, w, o, p = case
    x = rng.uniform(-2, 2, size=(n, c, h, w)).astype(dtype)
    wt = rng.uniform(-1, 1, size=(o, c, 3, 3)).astype(dtype)
    b = rng.uniform(-1, 1, size=o).astype(dtype)
    return x, wt, b, dict(padding=p)


def _tol(dtype, k):
    return (1e-10, 1e-10) if dtype == np.float64 else (1e-4, 1e-4 * max(1.0, math.sqrt(k)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_vs_reference(isa, case, dtype, rng):
    x, w, b, kw = _data(case, dtype, rng)
    rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
    y_ref = reference.conv2d_forward(x, w, b, **kw)
    y = _cpu.conv2d_forward(x, w, b, **kw, algo="winograd")
    assert y.dtype == dtype and y.shape == y_ref.shape
    assert_close(y, y_ref, rtol=rtol, atol=atol, name="y")
    y0 = _cpu.conv2d_forward(x, w, None, **kw, algo="winograd")
    assert_close(y0, reference.conv2d_forward(x, w, None, **kw), rtol=rtol, atol=atol, name="y")
    dy = rng.uniform(-1, 1, size=y_ref.shape).astype(dtype)
    got = _cpu.conv2d_backward(dy, x, w, **kw, algo="winograd")
    for name, a, e in zip(("dx", "dw", "db"), got, reference.conv2d_backward(dy, x, w, **kw)):
        scale = 1.0 if name == "dx" else max(1.0, math.sqrt(x.shape[0] * y.shape[2] * y.shape[3]))
        assert a.dtype == dtype and a.shape == e.shape, name
        assert_close(a, e, rtol=rtol, atol=atol * scale, name=name)
    # only dx
    dx, dw, db = _cpu.conv2d_backward(dy, x, w, **kw, need_dw=False, need_db=False, algo="winograd")
    assert dw is None and db is None
    assert_close(dx, got[0], rtol=0, atol=0, name="dx alone")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "case",
    # the last two have narrow rows (channels-last, wino_batch_cl) in float64 on AVX-512, the
    # last on AVX2 too, with several blocks per thread
    [(5, 16, 23, 19, 24, 1), (1, 8, 70, 66, 8, 1), (3, 40, 12, 12, 40, 0), (9, 12, 10, 5, 13, 1)],
)
def test_winograd_threads(isa, case, threads, rng):
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        x, w, b, kw = _data(case, np.float64, rng)
        y = _cpu.conv2d_forward(x, w, b, **kw, algo="winograd")
        assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=1e-10, atol=1e-10)
        dy = rng.uniform(-1, 1, size=y.shape)
        got = _cpu.conv2d_backward(dy, x, w, **kw, algo="winograd")
        for name, a, e in zip(("dx", "dw", "db"), got, reference.conv2d_backward(dy, x, w, **kw)):
            assert_close(a, e, rtol=1e-10, atol=1e-9, name=name)
        # each tile block is computed by one thread: the bits do not depend on the thread count
        dg.set_num_threads(1)
        np.testing.assert_array_equal(_cpu.conv2d_forward(x, w, b, **kw, algo="winograd"), y)
    finally:
        dg.set_num_threads(old)


# Over 128 channels: the filter transform is split between the threads, the tile blocks take
# their floor of kWinoMinBlock tiles instead of the L2 budget's fewer, the output channels end
# in a partial panel. Narrow rows (channels-last; the last case in float64 on AVX2 too) and wide
# ones (tile-major). The channels-last filter transform gathers a vector of filters at a time.
MANY_CHANNELS = [(3, 136, 7, 9, 130, 1), (2, 130, 5, 33, 136, 1), (2, 136, 5, 5, 130, 1)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_many_channels(isa, dtype, threads, rng):
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        first = {}
        for case in MANY_CHANNELS + MANY_CHANNELS[:1]:
            x, w, b, kw = _data(case, dtype, rng) if case not in first else first[case][0]
            rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
            y = _cpu.conv2d_forward(x, w, b, **kw, algo="winograd")
            dy = np.ascontiguousarray(np.flip(y, axis=3)) * dtype(0.25)
            got = _cpu.conv2d_backward(dy, x, w, **kw, algo="winograd")
            if case in first:  # again after the other shape: the reused buffers hold no stale data
                for a, e in zip((y, *got), first[case][1]):
                    np.testing.assert_array_equal(a, e)
                continue
            first[case] = ((x, w, b, kw), (y, *got))
            f64 = [a.astype(np.float64) for a in (x, w, b, dy)]
            assert_close(y, reference.conv2d_forward(*f64[:3], **kw), rtol=rtol, atol=atol)
            want = reference.conv2d_backward(f64[3], *f64[:2], **kw)
            for name, a, e in zip(("dx", "dw", "db"), got, want):
                scale = 1.0 if name == "dx" else math.sqrt(y.shape[0] * y.shape[2] * y.shape[3])
                assert_close(a, e, rtol=rtol, atol=atol * scale, name=name)
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_dw_split_by_output_channels(isa, dtype, rng):
    """dw's threads split the output channels where a thread's dU outgrows its L2 (an L2 of 64
    KiB set here), the tiles otherwise (64 MiB): both against float64 at 2 threads; split by
    output channels, the bits do not depend on the thread count."""
    old = dg.get_num_threads()
    try:
        x, w, _, kw = _data((3, 40, 9, 7, 70, 1), dtype, rng)
        dy = rng.uniform(-1, 1, size=(3, 70, 9, 7)).astype(dtype)
        want = reference.conv2d_backward(*(a.astype(np.float64) for a in (dy, x, w)), **kw)[1]
        rtol, atol = _tol(dtype, 40 * 9)
        got = {}
        for l2, threads in ((64 << 10, 2), (64 << 10, 1), (64 << 20, 2)):
            _cpu._set_cache_sizes(0, l2, 0)
            dg.set_num_threads(threads)
            dw = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False, algo="winograd")
            got[l2, threads] = dw[1]
            assert_close(
                dw[1], want, rtol=rtol, atol=atol * math.sqrt(3 * 63), name=f"{l2} {threads}"
            )
        np.testing.assert_array_equal(got[64 << 10, 2], got[64 << 10, 1])
    finally:
        _cpu._set_cache_sizes(0, 0, 0)
        dg.set_num_threads(old)


@pytest.mark.parametrize("case", [(2, 64, 15, 15, 32, 1), (8, 32, 8, 8, 64, 1)])
def test_winograd_float32_error(isa, case, rng):
    """The float32 error of F(2x2, 3x3) on benchmark-like layers (C 64 and C 32 8x8, whose narrow
    rows run channels-last; 3x3, values of unit size), relative to the output's largest
    magnitude: measured ~1e-6 forward and dx, as the im2col GEMM path's order of magnitude."""
    x, w, b, kw = _data(case, np.float32, rng)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    y_ref = reference.conv2d_forward(x64, w64, b64, **kw)
    dy = rng.uniform(-1, 1, size=y_ref.shape).astype(np.float32)
    dx_ref = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **kw)[0]
    for algo in ("winograd", "gemm"):
        y = _cpu.conv2d_forward(x, w, b, **kw, algo=algo)
        dx = _cpu.conv2d_backward(dy, x, w, **kw, algo=algo)[0]
        ey = np.abs(y - y_ref).max() / np.abs(y_ref).max()
        ex = np.abs(dx - dx_ref).max() / np.abs(dx_ref).max()
        assert ey < 1e-5 and ex < 1e-5, (algo, ey, ex)


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_dw_float32_error(isa, threads, rng):
    """dw by Winograd sums (A dY A^T) . (B^T d B) over every tile of the batch: its float32 error
    on a layer with 2 x 24 x 24 tiles per pair (relative to dw's largest magnitude) against the
    tap path's; measured 1e-7 to 4e-7 for both. The same call twice gives the same bits."""
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        x, w, _, kw = _data((4, 24, 47, 48, 20, 1), np.float32, rng)
        dy = rng.uniform(-1, 1, size=(4, 20, 47, 48)).astype(np.float32)
        f64 = (a.astype(np.float64) for a in (dy, x, w))
        dw_ref = reference.conv2d_backward(*f64, **kw)[1]
        dws, errs = {}, {}
        for algo in ("winograd", "tap"):
            dw = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False, algo=algo)[1]
            dws[algo], errs[algo] = dw, np.abs(dw - dw_ref).max() / np.abs(dw_ref).max()
        assert errs["winograd"] < 4e-6 and errs["winograd"] < 4 * errs["tap"] + 1e-6, errs
        again = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False, algo="winograd")
        np.testing.assert_array_equal(again[1], dws["winograd"])
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_with_enough_channels(isa, threads, rng):
    """algo='auto' picks Winograd from 32 channels on for the forward and the backward on AVX2
    and AVX-512 (the AVX-512 forward from 16 output columns on; the tap path elsewhere): the same
    results either way, and the forward of a 17-column layer is Winograd's, bit for bit."""
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        for dtype in DTYPES:
            x, w, b, kw = _data((2, 32, 9, 11, 33, 1), dtype, rng)
            rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
            y = _cpu.conv2d_forward(x, w, b, **kw)
            assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=rtol, atol=atol)
            dy = rng.uniform(-1, 1, size=y.shape).astype(dtype)
            got = _cpu.conv2d_backward(dy, x, w, **kw)
            scale = math.sqrt(x.shape[0] * y.shape[2] * y.shape[3])
            for name, a, e in zip(
                ("dx", "dw", "db"), got, reference.conv2d_backward(dy, x, w, **kw)
            ):
                assert a.dtype == dtype, name
                assert_close(
                    a, e, rtol=rtol, atol=atol * (1.0 if name == "dx" else scale), name=name
                )
            x, w, b, kw = _data((2, 32, 4, 17, 32, 1), dtype, rng)
            y = _cpu.conv2d_forward(x, w, b, **kw)
            assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=rtol, atol=atol)
            if isa in ("avx2", "avx512"):
                np.testing.assert_array_equal(
                    y, _cpu.conv2d_forward(x, w, b, **kw, algo="winograd")
                )
    finally:
        dg.set_num_threads(old)


# (n, c, h, w, o, padding): channel counts for which the AVX-512 build's dw picks each of its
# register tiles (winograd_backward_dw), with a partial last panel of output channels: float32
# (16 lanes) 40 -> 11 the 8 x 3 tile, 16 -> 20 the 16 x 1, 24 -> 8 the 8 x 2; float64 (8 lanes)
# 40 -> 11 the 16 x 1, 16 -> 20 the 8 x 2, 24 -> 8 the 8 x 3.
DW_TILE_CASES = [(2, 40, 6, 7, 11, 1), (3, 16, 5, 6, 20, 1), (2, 24, 7, 5, 8, 0)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", DW_TILE_CASES, ids=[f"c{c[1]}_o{c[4]}" for c in DW_TILE_CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_dw_tiles(isa, case, dtype, threads, rng):
    x, w, _, kw = _data(case, dtype, rng)
    rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        ho, wo = reference.conv2d_forward(x, w, None, **kw).shape[2:]
        dy = rng.uniform(-1, 1, size=(x.shape[0], w.shape[0], ho, wo)).astype(dtype)
        _, dw, _ = _cpu.conv2d_backward(
            dy, x, w, **kw, need_dx=False, need_db=False, algo="winograd"
        )
        _, want, _ = reference.conv2d_backward(dy, x, w, **kw)
        assert_close(dw, want, rtol=rtol, atol=atol * math.sqrt(x.shape[0] * ho * wo), name="dw")
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_dw_by_winograd_from_16_channels(isa, threads, rng):
    """algo='auto' on AVX2 and AVX-512 computes dw alone by Winograd from 16 input and output
    channels on (dx and db on the tap path) where the rows are wide (33 columns: 17 tiles, more
    than a vector), bit for bit the forced algorithms' results; the generic build the tap
    path's. Every output against the float64 reference, both dtypes, with and without dx."""
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        for dtype in DTYPES:
            x, w, _, kw = _data((2, 16, 5, 33, 17, 1), dtype, rng)
            dy = rng.uniform(-1, 1, size=(2, 17, 5, 33)).astype(dtype)
            rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
            want = reference.conv2d_backward(dy, x, w, **kw)
            scale = math.sqrt(x.shape[0] * dy.shape[2] * dy.shape[3])
            got = _cpu.conv2d_backward(dy, x, w, **kw)
            for name, a, e in zip(("dx", "dw", "db"), got, want):
                assert_close(
                    a, e, rtol=rtol, atol=atol * (1.0 if name == "dx" else scale), name=name
                )
            dw_algo = "winograd" if isa in ("avx2", "avx512") else "tap"
            forced = _cpu.conv2d_backward(dy, x, w, **kw, algo=dw_algo)
            np.testing.assert_array_equal(got[1], forced[1])
            tap = _cpu.conv2d_backward(dy, x, w, **kw, algo="tap")
            np.testing.assert_array_equal(got[0], tap[0])
            np.testing.assert_array_equal(got[2], tap[2])
            only_dw = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False)
            np.testing.assert_array_equal(only_dw[1], got[1])
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_auto_narrow_rows_by_winograd(isa, dtype, threads, rng):
    """Where a row has fewer tiles than a vector (5 columns: 3 tiles) the forward and the whole
    backward run channels-last Winograd from 16 channels on with algo='auto' on AVX2 and AVX-512
    (for dx the rows of dx count), bit for bit algo='winograd'; the generic build runs the tap
    path. Against the float64 reference either way."""
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        x, w, b, kw = _data((6, 16, 8, 5, 20, 1), dtype, rng)
        rtol, atol = _tol(dtype, int(np.prod(w.shape[1:])))
        y = _cpu.conv2d_forward(x, w, b, **kw)
        assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=rtol, atol=atol, name="y")
        dy = rng.uniform(-1, 1, size=y.shape).astype(dtype)
        got = _cpu.conv2d_backward(dy, x, w, **kw)
        scale = math.sqrt(x.shape[0] * y.shape[2] * y.shape[3])
        for name, a, e in zip(("dx", "dw", "db"), got, reference.conv2d_backward(dy, x, w, **kw)):
            assert_close(a, e, rtol=rtol, atol=atol * (1.0 if name == "dx" else scale), name=name)
        algo = "winograd" if isa in ("avx2", "avx512") else "tap"
        np.testing.assert_array_equal(y, _cpu.conv2d_forward(x, w, b, **kw, algo=algo))
        forced = _cpu.conv2d_backward(dy, x, w, **kw, algo=algo)
        for a, e in zip(got, forced):
            np.testing.assert_array_equal(a, e)
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1),
        dict(padding=1, dilation=2),
        dict(padding=3),
        dict(padding=1, groups=2),
    ],
    ids=["stride", "dilation", "padding", "groups"],
)
def test_winograd_does_not_apply(kw, rng):
    x = rng.uniform(-1, 1, size=(1, 4, 9, 9))
    w = rng.uniform(-1, 1, size=(4, 4 // kw.get("groups", 1), 3, 3))
    with pytest.raises(ValueError, match=r"conv2d.*algo.*winograd"):
        _cpu.conv2d_forward(x, w, None, **kw, algo="winograd")
    dy = _cpu.conv2d_forward(x, w, None, **kw)
    with pytest.raises(ValueError, match=r"conv2d_backward.*algo.*winograd"):
        _cpu.conv2d_backward(dy, x, w, **kw, algo="winograd")


def test_winograd_needs_3x3(rng):
    x = rng.uniform(-1, 1, size=(1, 2, 9, 9))
    w = rng.uniform(-1, 1, size=(3, 2, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d.*algo.*winograd.*3x3"):
        _cpu.conv2d_forward(x, w, None, padding=2, algo="winograd")


def test_unknown_algo_names_winograd():
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d.*algo.*'winograd'"):
        _cpu.conv2d_forward(x, w, None, algo="wino")
