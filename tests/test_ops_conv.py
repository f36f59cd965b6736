"""Conv2d kernels (dg.ops.conv2d_forward / conv2d_backward, csrc/cpu/conv.h) against the NumPy
float64 reference (reference.py) on every ISA and both dtypes, each algorithm (the automatic
choice, im2col + GEMM forced, the per-tap implicit GEMM on a padded copy ("tap", stride 1, one
group, padding <= (k - 1) d; a ValueError elsewhere) and the plain loop that is the kernels'
own oracle); F.conv2d's autograd (gradcheck, check_op) and nn.Conv2d; the bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as nn
from deltagrad import _cpu, ops, reference
from deltagrad.testing import assert_close, check_op

DTYPES = (np.float64, np.float32)
ALGOS = ("auto", "gemm", "tap", "direct")

# (n, c, h, w, o, kh, kw, stride, padding, dilation, groups)
CASES = [
    (2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1),
    (2, 3, 7, 9, 4, 3, 3, 2, 0, 1, 1),
    (1, 1, 5, 5, 1, 1, 1, 1, 0, 1, 1),  # N = 1, C = 1, 1x1: the in-place GEMM path
    (3, 5, 6, 7, 6, 1, 1, 1, 0, 1, 1),  # 1x1 over several images in one block
    (2, 4, 9, 8, 6, 1, 1, 2, 1, 1, 2),  # 1x1 strided and padded: im2col
    (2, 4, 11, 9, 6, 5, 5, 1, 2, 1, 1),
    (2, 4, 11, 13, 6, 3, 5, (2, 1), (1, 2), 1, 2),  # non-square everything, 2 groups
    (2, 4, 13, 11, 4, 3, 3, 1, 2, 2, 1),  # dilation 2
    (2, 4, 9, 9, 4, 3, 3, 1, 1, 1, 4),  # depthwise
    (2, 4, 10, 9, 8, 3, 3, 2, 1, 1, 4),  # depthwise, 2 outputs per channel, strided
    (2, 3, 9, 10, 6, 5, 3, 1, (2, 1), 2, 3),  # depthwise, dilated, non-square
    (2, 6, 8, 8, 9, 3, 3, 1, 0, 1, 3),  # 3 groups
    (0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1),  # empty batch
    (2, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1),  # kernel larger than the input, not the padded one
    (1, 2, 1, 1, 3, 1, 1, 1, 0, 1, 1),  # 1x1 image
    (2, 5, 7, 6, 29, 3, 3, 1, 1, 1, 1),  # tap: several weight panels, the last one partial
    (1, 3, 6, 9, 13, 2, 4, 1, (1, 0), (2, 1), 1),  # tap: even, non-square, dilated, uneven pad
    (2, 9, 5, 4, 7, 3, 3, 1, (0, 2), 1, 1),  # tap: dx's padding (k - 1) d - p = 0 along w
    (1, 2, 4, 5, 3, 3, 3, 1, 3, 1, 1),  # padding past (k - 1) d: algo='tap' raises
    (2, 3, 1, 3, 4, 3, 3, 1, 1, 1, 1),  # tap, tiny image: dw's last vector runs past the channel
    (2, 3, 1, 1, 4, 3, 3, 1, 1, 1, 1),  # tap, 1x1 image with padding
    (9, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1),  # tap, 2 images side by side (tap_segs), the last alone
    (9, 4, 8, 8, 8, 3, 3, 1, 1, 1, 1),  # the same at 8x8 (float32)
    (2, 3, 9, 37, 5, 3, 3, 2, 1, 1, 1),  # stride 2, odd rows over several vectors (im2col_s2)
    (2, 3, 10, 70, 4, 3, 5, (1, 2), (1, 2), (1, 2), 1),  # stride 2 along w only, dilated
    (2, 256, 17, 18, 4, 3, 3, 2, 1, 1, 1),  # stride 2, im2col blocks of 7 output rows of 9
    (1, 2, 8, 33, 3, 4, 4, 2, 2, 1, 1),  # stride 2, even kernel, padding 2 on both sides
    (5, 4, 16, 16, 13, 3, 3, 2, 1, 1, 1),  # tap phases: ResNet's downsampling 3x3, 2 panels
    (3, 3, 9, 7, 5, 3, 3, (2, 1), (0, 2), (2, 1), 1),  # tap phases along h only, dilated rows
    (2, 3, 7, 12, 4, 2, 5, (1, 2), (1, 3), 1, 1),  # tap phases along w only, padding past k
    (4, 2, 5, 5, 6, 3, 3, 2, 4, 1, 1),  # tap phases, padding wider than the image
    (9, 4, 8, 8, 8, 3, 3, 2, 1, 1, 1),  # tap phases, 2 images a unit (tap_segs), the last alone
    (9, 3, 7, 9, 8, 3, 3, 2, 1, 1, 1),  # the same on odd sizes
    (2, 3, 9, 8, 5, 3, 3, 2, 1, 2, 1),  # dx phases: dilation 2, two of the four phases get no tap
    (2, 3, 7, 8, 6, 3, 1, 2, (1, 0), 1, 1),  # dx phases: a 1-wide kernel, odd columns get none
    (2, 4, 1, 9, 5, 3, 3, 2, 1, 1, 1),  # dx phases: one row, its odd row phase empty
    (3, 29, 8, 7, 7, 3, 3, 2, 1, 1, 1),  # dx phases: 29 dx channels, several panels
    (2, 5, 9, 10, 6, 4, 4, 2, 1, 1, 1),  # dx phases: even kernel, two taps in every phase
    (2, 4, 11, 9, 5, 5, 5, 2, 2, 1, 1),  # dx phases: 5x5, padding 2 (3 and 2 taps a phase)
]
IDS = [
    f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}_o{c[4]}_k{c[5]}x{c[6]}_s{c[7]}p{c[8]}d{c[9]}g{c[10]}"
    for c in CASES
]


def _data(case, dtype, rng):
    n, c, h, w, o, kh, kw, s, p, d, g = case
    x = rng.uniform(-2, 2, size=(n, c, h, w)).astype(dtype)
    wt = rng.uniform(-1, 1, size=(o, c // g, kh, kw)).astype(dtype)
    b = rng.uniform(-1, 1, size=o).astype(dtype)
    return x, wt, b, dict(stride=s, padding=p, dilation=d, groups=g)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _tap_applies(case):
    """Where algo='tap' applies (conv.h tap_applies / tap_phase_applies): one group, more than
    one tap, and stride 1 with padding <= (k - 1) d, or strides <= 2 with at least one 2 (the
    phase planes); elsewhere the binding raises."""
    _, _, _, _, _, kh, kw, s, p, d, g = case
    (sh, sw), (ph, pw), (dh, dw) = _pair(s), _pair(p), _pair(d)
    if g != 1 or kh * kw == 1:
        return False
    if (sh, sw) == (1, 1):
        return ph <= (kh - 1) * dh and pw <= (kw - 1) * dw
    return max(sh, sw) == 2


def _tol(dtype, k):
    """float32: a sum of k products of values below 2 (the issue's 1e-4, scaled by the sum's
    magnitude); float64: 1e-10."""
    return (1e-10, 1e-10) if dtype == np.float64 else (1e-4, 1e-4 * max(1.0, math.sqrt(k)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_forward_and_backward_vs_reference(isa, case, dtype, rng):
    x, w, b, kw = _data(case, dtype, rng)
    k = w[0].size
    rtol, atol = _tol(dtype, k)
    y_ref = reference.conv2d_forward(x, w, b, **kw)
    dy = rng.uniform(-1, 1, size=y_ref.shape).astype(dtype)
    grads_ref = reference.conv2d_backward(dy, x, w, **kw)
    for algo in ALGOS:
        if algo == "tap" and not _tap_applies(case):
            with pytest.raises(ValueError, match=r"conv2d: algo: 'tap' needs"):
                _cpu.conv2d_forward(x, w, b, **kw, algo=algo)
            with pytest.raises(ValueError, match=r"conv2d_backward: algo: 'tap' needs"):
                _cpu.conv2d_backward(dy, x, w, **kw, algo=algo)
            continue
        y = _cpu.conv2d_forward(x, w, b, **kw, algo=algo)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert_close(y, y_ref, rtol=rtol, atol=atol, name=f"y ({algo})")
        got = _cpu.conv2d_backward(dy, x, w, **kw, algo=algo)
        for name, a, e in zip(("dx", "dw", "db"), got, grads_ref):
            scale = (
                1.0
                if name == "dx"
                else max(1.0, math.sqrt(x.shape[0] * y_ref.shape[2] * y_ref.shape[3]))
            )
            assert a.dtype == dtype and a.shape == e.shape, name
            assert_close(a, e, rtol=rtol, atol=atol * scale, name=f"{name} ({algo})")
    # the public op, and only the gradients asked for
    assert_close(ops.conv2d_forward(x, w, None, **kw), reference.conv2d_forward(x, w, None, **kw),
                 rtol=rtol, atol=atol)  # fmt: skip
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw, need_dx=False, need_db=False)
    assert dx is None and db is None and dw.shape == w.shape


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "shape",
    [
        (8, 8, 16, 16, 16, 3, 3, 1, 1, 1, 1),  # whole images per block, units over threads
        (1, 4, 70, 66, 8, 3, 3, 1, 1, 1, 1),  # blocks inside one image, the GEMM's threads
        (8, 3, 33, 31, 6, 5, 5, 2, 2, 1, 1),
        (4, 16, 30, 30, 16, 3, 3, 1, 1, 1, 16),  # depthwise, parallel over planes
        (4, 32, 20, 20, 64, 1, 1, 1, 0, 1, 1),  # 1x1
        (3, 16, 9, 11, 20, 3, 3, 1, 1, 1, 1),  # the tap path, images over threads
        (3, 8, 23, 30, 10, 3, 3, 1, 1, 1, 1),  # tap, dw over several blocks of one image
        (24, 8, 6, 6, 9, 3, 3, 1, 1, 1, 1),  # tap, dw over blocks of several small images
        (3, 12, 9, 10, 16, 3, 3, 1, 0, 1, 1),  # tap without 'same' padding: no fused backward
        (11, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1),  # tap, images side by side, odd count over threads
        (8, 8, 16, 16, 16, 3, 3, 2, 1, 1, 1),  # stride 2: tap phases, forward, dx and dw
        (13, 8, 8, 8, 12, 3, 3, 2, 1, 1, 1),  # tap phases, images side by side, the last alone
        (12, 8, 14, 13, 12, 3, 3, (2, 1), 1, 1, 1),  # dx by phases (rows only), odd sizes
    ],
    ids=[
        "images",
        "large-image",
        "strided",
        "depthwise",
        "1x1",
        "tap",
        "tap-blocks",
        "tap-small-images",
        "tap-valid",
        "tap-side-by-side",
        "tap-phases",
        "tap-phases-side-by-side",
        "tap-phases-dx-rows",
    ],
)
def test_conv2d_threaded_paths(isa, shape, threads, rng):
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    try:
        x, w, b, kw = _data(shape, np.float64, rng)
        y = ops.conv2d_forward(x, w, b, **kw)
        assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=1e-10, atol=1e-10)
        dy = rng.uniform(-1, 1, size=y.shape)
        got = ops.conv2d_backward(dy, x, w, **kw)
        for name, a, e in zip(("dx", "dw", "db"), got, reference.conv2d_backward(dy, x, w, **kw)):
            assert_close(a, e, rtol=1e-10, atol=1e-9, name=name)
        # the same thread count gives the same bits
        again = ops.conv2d_backward(dy, x, w, **kw)
        for a, e in zip(got, again):
            np.testing.assert_array_equal(a, e)
    finally:
        dg.set_num_threads(old)


# (n, c, h, w, o, kh, kw, stride, padding): shapes the automatic choice runs by Winograd, by taps
# (3x3, 5x5, 1x7), by phases (stride 2); each output should be the direct sum of what it reads
NONFINITE_SHAPES = [
    (2, 32, 8, 8, 32, 3, 3, 1, 1),
    (2, 16, 8, 8, 16, 3, 3, 1, 1),
    (2, 16, 9, 11, 16, 5, 5, 1, 2),
    (2, 16, 8, 12, 8, 1, 7, 1, (0, 3)),
    (2, 16, 12, 12, 16, 3, 3, 2, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", NONFINITE_SHAPES, ids=lambda s: "c{1}_{2}x{3}_k{5}x{6}_s{7}".format(*s)
)
@pytest.mark.parametrize("where", ["x_inf", "w_inf", "x_nan"])
def test_conv2d_nonfinite_like_the_direct_sum(isa, shape, dtype, where, rng):
    """An inf or NaN reaches only the outputs whose direct sums read it, as in torch: Winograd's
    transforms (inf - inf) and the tap paths' padded rows (0 * NaN) spread it wider, and the
    automatic choice then recomputes the call by the GEMM path (conv.h conv2d_forward_t)."""
    n, c, h, w_, o, kh, kw, stride, padding = shape
    x = rng.uniform(-1, 1, size=(n, c, h, w_)).astype(dtype)
    w = rng.uniform(-1, 1, size=(o, c, kh, kw)).astype(dtype)
    if where == "x_inf":
        x[0, 1, h // 2, w_ // 2] = np.inf
    elif where == "w_inf":  # the centre tap: it never reads padding (0 * inf would be NaN)
        w[1, 0, kh // 2, kw // 2] = -np.inf
    else:
        x[0, 0, 0, 0] = np.nan
    kw_ = dict(stride=stride, padding=padding)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    y = _cpu.conv2d_forward(x, w, None, **kw_)
    f64 = [v.astype(np.float64) for v in (x, w)]
    y_ref = reference.conv2d_forward(*f64, None, **kw_)
    assert not np.isfinite(y_ref).all()  # the value reaches the output
    assert_close(y, y_ref, dtype, rtol=tol, atol=tol * c * kh * kw, name="y")
    dy = rng.uniform(-1, 1, size=y.shape).astype(dtype)
    got = _cpu.conv2d_backward(dy, x, w, **kw_)
    ref = reference.conv2d_backward(dy.astype(np.float64), *f64, **kw_)
    for name, a, e in zip(("dx", "dw", "db"), got, ref):
        assert_close(a, e, dtype, rtol=tol, atol=tol * n * h * w_ * o, name=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", NONFINITE_SHAPES[:2], ids=lambda s: "c{1}_{2}x{3}".format(*s))
def test_conv2d_overflow_in_a_transform_like_the_direct_sum(isa, shape, dtype, rng):
    """Finite values near the float range: Winograd's transforms (d0 - d2 of a tile row)
    overflow where no direct sum does, and the automatic choice reruns the call by the GEMM
    path when its y, dx or dw comes out non-finite (conv.h conv2d_forward_t)."""
    n, c, h, w_, o = shape[:5]
    big = 0.75 * np.finfo(dtype).max
    w = rng.uniform(-0.1, 0.1, size=(o, c, 3, 3)).astype(dtype)
    x = rng.uniform(-0.1, 0.1, size=(n, c, h, w_)).astype(dtype)
    xb = x.copy()  # columns 3 and 5: d0 and d2 of the tile over input columns 3-6 (padding 1)
    xb[1, 2, 4, 3], xb[1, 2, 4, 5] = big, -big
    dy = rng.uniform(-0.1, 0.1, size=(n, o, h, w_)).astype(dtype)
    dyb = dy.copy()  # dx's transform of dy overflows the same way
    dyb[0, 3, 2, 3], dyb[0, 3, 2, 5] = big, -big
    tol = 1e-4 if dtype == np.float32 else 1e-10
    f64 = lambda *a: [v.astype(np.float64) for v in a]  # noqa: E731
    y = _cpu.conv2d_forward(xb, w, None, padding=1)
    y_ref = reference.conv2d_forward(*f64(xb, w), None, padding=1)
    assert_close(y, y_ref, dtype, rtol=tol, atol=tol * big, name="y")
    for dy_, x_ in ((dy, xb), (dyb, x)):  # dw's transform of x, dx's of dy
        got = _cpu.conv2d_backward(dy_, x_, w, padding=1)
        ref = reference.conv2d_backward(*f64(dy_, x_, w), padding=1)
        for name, a, e in zip(("dx", "dw"), got, ref):
            assert np.isfinite(e).all()
            assert_close(a, e, dtype, rtol=tol, atol=tol * big, name=name)


def test_conv2d_gradcheck():
    rng = np.random.default_rng(3)
    x = dg.tensor(rng.normal(size=(1, 4, 5, 4)), requires_grad=True)
    w = dg.tensor(rng.normal(size=(4, 2, 3, 2)), requires_grad=True)
    b = dg.tensor(rng.normal(size=4), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2), [x, w, b])
    assert dg.gradcheck(lambda x, w: F.conv2d(x, w, None, 1, "same", 2, 2), [x, w])
    wd = dg.tensor(rng.normal(size=(4, 1, 3, 3)), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1, 1, 4), [x, wd, b])


def test_conv2d_only_needed_grads(rng):
    x = dg.tensor(rng.normal(size=(2, 3, 5, 5)))
    w = dg.tensor(rng.normal(size=(4, 3, 3, 3)), requires_grad=True)
    b = dg.tensor(rng.normal(size=4))
    F.conv2d(x, w, b, padding=1).sum().backward()
    assert x.grad is None and b.grad is None and w.grad.shape == (4, 3, 3, 3)
    _, dw, _ = reference.conv2d_backward(np.ones((2, 4, 5, 5)), x.data, w.data, padding=1)
    assert_close(w.grad, dw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_tap_padded_buffers_kept_between_calls(isa, threads, stride, rng):
    """The tap path keeps each thread's padded images (stride 2: phase planes) between calls
    and rewrites only their data rows when the geometry and image count repeat: calls with new
    data, a partial last unit (9 images, 2 side by side) then a full one (8) and back, and
    another geometry and stride in between, each equal the reference."""
    old = dg.get_num_threads()
    dg.set_num_threads(threads)
    other = 3 - stride
    try:
        for n, c, h, s in [
            (9, 4, 8, stride),
            (8, 4, 8, stride),
            (9, 4, 8, stride),
            (3, 4, 7, other),
            (9, 4, 8, stride),
            (9, 4, 8, stride),
        ]:
            x, w, b, kw = _data((n, c, h, 8, 8, 3, 3, s, 1, 1, 1), np.float64, rng)
            y = _cpu.conv2d_forward(x, w, b, **kw, algo="tap")
            assert_close(y, reference.conv2d_forward(x, w, b, **kw), rtol=1e-10, atol=1e-10)
            dy = rng.uniform(-1, 1, size=y.shape)
            for pad, kw2 in [(1, kw), (0, dict(kw, padding=0))]:
                yv = _cpu.conv2d_forward(x, w, None, **kw2, algo="tap") if pad == 0 else y
                dyv = dy if pad == 1 else rng.uniform(-1, 1, size=yv.shape)
                got = _cpu.conv2d_backward(dyv, x, w, **kw2, algo="tap")
                want = reference.conv2d_backward(dyv, x, w, **kw2)
                for name, a, e in zip(("dx", "dw", "db"), got, want):
                    assert_close(a, e, rtol=1e-10, atol=1e-10, name=f"{name} n{n} p{pad}")
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("algo", ["tap", "auto"])
@pytest.mark.parametrize("padding", [1, 0], ids=["same", "valid"])
def test_conv2d_backward_subsets_of_grads(isa, algo, padding, rng):
    """Each subset of (dx, dw, db) alone equals the reference (the fused tap backward skips
    what is not asked for)."""
    x, w, _, kw = _data((5, 16, 8, 9, 20, 3, 3, 1, padding, 1, 1), np.float64, rng)
    dy = rng.uniform(-1, 1, size=_cpu.conv2d_forward(x, w, None, **kw).shape)
    want = reference.conv2d_backward(dy, x, w, **kw)
    for need in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1)]:
        got = _cpu.conv2d_backward(dy, x, w, **kw, need_dx=need[0], need_dw=need[1],
                                   need_db=need[2], algo=algo)  # fmt: skip
        for name, flag, a, e in zip(("dx", "dw", "db"), need, got, want):
            if flag:
                assert_close(a, e, rtol=1e-10, atol=1e-10, name=name)
            else:
                assert a is None


def test_check_op_conv2d():
    """check_op rows on cpu (small shapes: its gradcheck is one forward per input element)."""
    check_op(
        lambda x, w, b: F.conv2d(x, w, b, 1, "same"),
        lambda x, w, b: reference.conv2d_forward(x, w, b, 1, 1),
        [("n", 2, 4, 3), ("m", 2, 3, 3), ("m",)],
        devices=["cpu"],
        trials=2,
        name="conv2d_same",
    )
    check_op(
        lambda x, w: F.conv2d(x, w, None, 2, (1, 0), 1, 2),
        lambda x, w: reference.conv2d_forward(x, w, None, 2, (1, 0), 1, 2),
        [("n", 4, 5, 4), (4, 2, 3, 2)],
        devices=["cpu"],
        trials=2,
        name="conv2d_groups_strided",
    )


# ---- nn.Conv2d ---------------------------------------------------------------------------------


def test_conv2d_module_init_state_dict_and_repr():
    dg.manual_seed(0)
    m = nn.Conv2d(4, 6, (3, 5), stride=2, padding=1, groups=2)
    assert m.weight.shape == (6, 2, 3, 5) and m.bias.shape == (6,)
    assert m.weight.dtype == np.float32
    assert list(m.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(2 * 3 * 5)  # kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ..)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.8 * bound
    assert repr(m) == "Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), groups=2)"
    m2 = nn.Conv2d(3, 3, 3, padding="same", dilation=2, bias=False, padding_mode="reflect")
    assert m2.bias is None and list(m2.state_dict()) == ["weight"]
    assert repr(m2) == (
        "Conv2d(3, 3, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), "
        "bias=False, padding_mode=reflect)"
    )


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_module_forward_and_padding_modes(mode, rng):
    m = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, dtype=np.float64)
    x = dg.tensor(rng.normal(size=(2, 2, 5, 6)), requires_grad=True)
    y = m(x)
    npmode = F._PAD_MODES[mode]
    xp = np.pad(x.data, ((0, 0), (0, 0), (1, 1), (2, 2)), mode=npmode)
    assert_close(y.data, reference.conv2d_forward(xp, m.weight.data, m.bias.data), rtol=1e-10,
                 atol=1e-10)  # fmt: skip
    assert dg.gradcheck(lambda x: m(x), [x])
    # unbatched input, as torch
    assert m(x[0]).shape == (3, 5, 8)


def test_conv2d_same_padding_even_kernel(rng):
    x = dg.tensor(rng.normal(size=(1, 2, 5, 6)), requires_grad=True)
    w = dg.tensor(rng.normal(size=(3, 2, 4, 2)), requires_grad=True)
    y = F.conv2d(x, w, padding="same")
    assert y.shape == (1, 3, 5, 6)
    xp = np.pad(x.data, ((0, 0), (0, 0), (1, 2), (0, 1)))
    assert_close(y.data, reference.conv2d_forward(xp, w.data), rtol=1e-10, atol=1e-10)
    assert dg.gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), [x, w])


# ---- bad input -----------------------------------------------------------------------------------


def test_conv2d_bad_input_module():
    with pytest.raises(ValueError, match="Conv2d: groups"):
        nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match="Conv2d: groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="Conv2d: stride"):
        nn.Conv2d(4, 6, 3, stride=0)
    with pytest.raises(ValueError, match="Conv2d: stride"):
        nn.Conv2d(4, 6, 3, stride=(1, -1))
    with pytest.raises(ValueError, match="Conv2d: padding"):
        nn.Conv2d(4, 6, 3, padding=-1)
    with pytest.raises(ValueError, match="Conv2d: padding"):
        nn.Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv2d: padding_mode"):
        nn.Conv2d(4, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="Conv2d: in_channels"):
        nn.Conv2d(0, 6, 3)
    m = nn.Conv2d(4, 6, 3, padding=1)
    with pytest.raises(ValueError, match=r"Conv2d: input: expected 4 channels"):
        m(dg.tensor(np.ones((2, 3, 5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d: input: expected a 3-D .* or 4-D"):
        m(dg.tensor(np.ones((2, 4, 5, 5, 1), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size: .* larger than the padded input"):
        nn.Conv2d(4, 6, 5)(dg.tensor(np.ones((2, 4, 3, 8), np.float32)))
    with pytest.raises(TypeError, match=r"conv2d: input has dtype float64 but weight is float32"):
        m(dg.tensor(np.ones((2, 4, 5, 5))))


def test_conv2d_bad_input_functional_and_ops():
    x = np.ones((2, 4, 5, 5))
    w = np.ones((6, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input: expected a 3-D .* or 4-D"):
        F.conv2d(dg.tensor(x[0, 0]), w)
    y3 = F.conv2d(dg.tensor(x[0]), w, None, 1, 1, 1, 2)  # unbatched, as torch
    assert_close(y3.data, reference.conv2d_forward(x[:1], w, None, 1, 1, 1, 2)[0], rtol=1e-12,
                 atol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match="conv2d: input: expected a 4-D"):
        ops.conv2d_forward(x[0], w)
    with pytest.raises(ValueError, match="conv2d: input: expected 2 channels"):
        ops.conv2d_forward(x, w)
    with pytest.raises(ValueError, match="conv2d: groups"):
        ops.conv2d_forward(x, w, groups=3)
    with pytest.raises(ValueError, match="conv2d: groups"):
        ops.conv2d_forward(x, w, groups=0)
    with pytest.raises(ValueError, match="conv2d: stride"):
        ops.conv2d_forward(x, w, stride=0, groups=2)
    with pytest.raises(ValueError, match="conv2d: stride"):
        ops.conv2d_forward(x, w, stride=(1, -2), groups=2)
    with pytest.raises(ValueError, match="conv2d: padding"):
        ops.conv2d_forward(x, w, padding=-1, groups=2)
    with pytest.raises(ValueError, match="conv2d: dilation"):
        ops.conv2d_forward(x, w, dilation=0, groups=2)
    with pytest.raises(ValueError, match="conv2d: weight: the kernel .* larger than the padded"):
        ops.conv2d_forward(x, np.ones((6, 2, 7, 3)), groups=2)
    with pytest.raises(ValueError, match="conv2d: weight: the kernel .* larger than the padded"):
        ops.conv2d_forward(x, w, dilation=3, groups=2)
    with pytest.raises(TypeError, match="conv2d: weight: expected dtype float64"):
        ops.conv2d_forward(x, w.astype(np.float32), groups=2)
    with pytest.raises(TypeError, match="conv2d: bias: expected dtype float64"):
        ops.conv2d_forward(x, w, np.ones(6, np.float32), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: bias: expected shape \(6,\)"):
        ops.conv2d_forward(x, w, np.ones(5), groups=2)
    with pytest.raises(TypeError, match="conv2d: input: expected dtype float32 or float64"):
        ops.conv2d_forward(x.astype(np.int64), w, groups=2)
    with pytest.raises(TypeError, match="conv2d: stride"):
        ops.conv2d_forward(x, w, stride=1.5, groups=2)
    with pytest.raises(TypeError, match="conv2d: stride"):
        F.conv2d(dg.tensor(x), w, stride="2", groups=2)
    with pytest.raises(ValueError, match=r"conv2d_backward: grad_output: expected shape"):
        ops.conv2d_backward(np.ones((2, 6, 4, 4)), x, w, groups=2)
    with pytest.raises(TypeError, match="conv2d: input has dtype float32 but weight is float64"):
        F.conv2d(dg.tensor(x.astype(np.float32)), dg.tensor(w), groups=2)


def test_conv2d_huge_geometry_is_an_error():
    """Arguments near int64's range: a ValueError naming the argument, never wrapped arithmetic
    (dilation 2^62 made a 5x5 kernel span 4 * 2^62 + 1 = 1 and the layer ran undilated)."""
    x, w = np.ones((1, 1, 8, 8)), np.ones((1, 1, 5, 5))
    with pytest.raises(ValueError, match="conv2d: dilation: too large"):
        ops.conv2d_forward(x, w, dilation=2**62)
    with pytest.raises(ValueError, match="conv2d: dilation: too large"):
        ops.conv2d_forward(x, w, dilation=(1, 2**62))
    with pytest.raises(ValueError, match="conv2d_backward: dilation: too large"):
        ops.conv2d_backward(np.ones((1, 1, 4, 4)), x, w, dilation=2**62)
    with pytest.raises(ValueError, match="conv2d: padding: too large"):
        ops.conv2d_forward(x, w, padding=2**62)
    with pytest.raises(ValueError, match=r"conv2d: the result's shape \(1, 1, 2\d+, 2\d+\) is too"):
        ops.conv2d_forward(x, w, padding=2**40)
    with pytest.raises(ValueError, match="conv2d: weight: the kernel .* larger than the padded"):
        ops.conv2d_forward(x, w, dilation=2**31)
    y = ops.conv2d_forward(x, w, stride=2**62, padding=2)  # one output pixel: the centred window
    np.testing.assert_array_equal(y, np.full((1, 1, 1, 1), 9.0))


@pytest.mark.parametrize(
    "kw, wshape",
    [
        (dict(stride=3, padding=1), (4, 4, 3, 3)),
        (dict(stride=(1, 3), padding=1), (4, 4, 3, 3)),
        (dict(padding=1, groups=2), (4, 2, 3, 3)),
        (dict(padding=0), (4, 4, 1, 1)),
        (dict(padding=(0, 3)), (4, 4, 3, 3)),
        (dict(padding=(3, 1), dilation=(1, 2)), (4, 4, 3, 3)),
    ],
    ids=["stride", "stride-w", "groups", "1x1", "padding", "padding-dilated"],
)
def test_tap_does_not_apply(kw, wshape, rng):
    """algo='tap' where the tap path does not apply is a ValueError naming the op and algo (as
    algo='winograd'), not a silent fallback to im2col."""
    x = rng.uniform(-1, 1, size=(1, 4, 9, 9))
    w = rng.uniform(-1, 1, size=wshape)
    with pytest.raises(ValueError, match=r"^conv2d: algo: 'tap' needs groups 1, a kernel"):
        _cpu.conv2d_forward(x, w, None, **kw, algo="tap")
    dy = _cpu.conv2d_forward(x, w, None, **kw)
    with pytest.raises(ValueError, match=r"^conv2d_backward: algo: 'tap' needs groups 1"):
        _cpu.conv2d_backward(dy, x, w, **kw, algo="tap")
    # where it applies, the same call runs (padding (k - 1) d is the largest that does)
    x2 = rng.uniform(-1, 1, size=(2, 4, 5, 6))
    w2 = rng.uniform(-1, 1, size=(4, 4, 3, 3))
    y = _cpu.conv2d_forward(x2, w2, None, padding=(2, 4), dilation=(1, 2), algo="tap")
    want = reference.conv2d_forward(x2, w2, None, padding=(2, 4), dilation=(1, 2))
    assert_close(y, want, rtol=1e-10, atol=1e-10)


def test_conv2d_views_are_copied(rng):
    x = rng.normal(size=(2, 3, 8, 9))[:, :, ::2, 1:]
    w = rng.normal(size=(4, 3, 3, 3))
    assert_close(ops.conv2d_forward(x, w, None, 1, 1), reference.conv2d_forward(x, w, None, 1, 1),
                 rtol=1e-10, atol=1e-10)  # fmt: skip


def test_conv2d_cupy_arrays_not_implemented():
    cp = pytest.importorskip("cupy")
    try:
        x = cp.ones((1, 1, 3, 3))
    except Exception as e:  # noqa: BLE001 - no usable GPU
        pytest.skip(f"cupy without a GPU: {e}")
    with pytest.raises(NotImplementedError, match="conv2d"):
        ops.conv2d_forward(x, x)


def test_zero_and_small_sizes_every_algo(isa, rng):
    """Every algorithm over empty and small dimensions (batch, channels in and out, rows,
    columns; strides 1 and 2, padding 0 and 2, which gives outputs of inputs with no rows):
    the float64 reference's result or a ValueError, never a crash. Two divisions by zero of
    the Winograd channels-last path (block sizes from zero tiles, then zero channels) were
    found by a wider form of this grid before they landed."""
    grid = [
        (n, c, h, w, o, s, p)
        for n in (0, 2)
        for c in (0, 17)
        for h in (0, 1, 9)
        for w in (0, 9)
        for o in (0, 18)
        for s in (1, 2)
        for p in (0, 2)
    ]
    ran = 0
    for n, c, h, w, o, s, p in grid:
        x = rng.uniform(-1, 1, (n, c, h, w))
        wt = rng.uniform(-1, 1, (o, c, 3, 3))
        b = rng.uniform(-1, 1, o)
        try:
            y_ref = reference.conv2d_forward(x, wt, b, stride=s, padding=p)
        except ValueError:
            continue
        dy = rng.uniform(-1, 1, y_ref.shape)
        want = reference.conv2d_backward(dy, x, wt, stride=s, padding=p)
        for algo in ("auto", "gemm", "tap", "winograd", "direct"):
            try:
                y = _cpu.conv2d_forward(x, wt, b, s, p, 1, 1, algo)
            except ValueError:
                continue
            assert_close(y, y_ref, rtol=1e-10, atol=1e-10, name=f"y {algo}")
            got = _cpu.conv2d_backward(dy, x, wt, s, p, 1, 1, True, True, True, algo)
            for name, a, e in zip(("dx", "dw", "db"), got, want):
                assert_close(a, e, rtol=1e-10, atol=1e-9, name=f"{name} {algo}")
            ran += 1
    assert ran > 300  # the grid ran, not only its ValueErrors
