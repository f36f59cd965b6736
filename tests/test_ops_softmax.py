"""softmax / log_softmax (forward, backward) and the fused softmax cross-entropy against
deltagrad.reference, on every device (cpu on every ISA, the SIMT emulator on small shapes, cuda)
and dtype, including logits at +-1e4."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, GPU_RTOL, RTOL, assert_close, call_on, sample

SHAPES = [(0, 5), (1, 1), (3, 7), (5, 1000), (2, 3, 17), (64, 33), (300, 257)]
SHAPES_BY_DEVICE = {"cpu": SHAPES, "simt": [(0, 5), (1, 1), (3, 7), (2, 3, 17), (64, 33)]}
CE_SHAPES = [(0, 4), (1, 1), (1, 5), (7, 13), (256, 1000)]
CE_SHAPES_BY_DEVICE = {"cpu": CE_SHAPES, "simt": [(0, 4), (1, 1), (1, 5), (7, 13)]}
REDUCTIONS = ("mean", "sum", "none")


def _logits(rng, shape, dtype):
    x = sample(rng, shape, dtype, scale=4.0)
    if x.size >= 20:  # rows with huge logits: must stay finite and right
        x.reshape(-1, x.shape[-1])[0, 0] = 1e4
        x.reshape(-1, x.shape[-1])[-1, -1] = -1e4
        x.reshape(-1, x.shape[-1])[1, :] = 1e4
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_softmax(device, isa, shape, dtype, rng):
    x = _logits(rng, shape, dtype)
    assert_close(
        call_on(device, ops.softmax, x),
        ref.softmax(x),
        dtype,
        atol=RTOL[dtype] * 1e-3,
        name="softmax",
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_log_softmax(device, isa, shape, dtype, rng):
    x = _logits(rng, shape, dtype)
    # x - max - log(sum): absolute error ~ eps * |x - max|; near 0 relative error is meaningless
    want = ref.log_softmax(x)
    atol = RTOL[dtype] * (1.0 + np.abs(x.astype(np.float64) - x.max(axis=-1, keepdims=True)))
    assert_close(call_on(device, ops.log_softmax, x), want, dtype, atol=atol, name="log_softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward(device, isa, shape, dtype, log, rng):
    x = sample(rng, shape, dtype)
    y = call_on(device, ops.log_softmax if log else ops.softmax, x)
    dy = sample(rng, shape, dtype, scale=1.0)
    got = call_on(device, ops.log_softmax_backward if log else ops.softmax_backward, dy, y)
    want = ref.log_softmax_backward(dy, y) if log else ref.softmax_backward(dy, y)
    scale = np.abs(dy.astype(np.float64)).sum(axis=-1, keepdims=True) + 1
    assert_close(got, want, dtype, atol=RTOL[dtype] * scale * 4, name="softmax backward")


def test_softmax_nan_row_and_in_place(rng):
    x = sample(rng, (3, 9), np.float32)
    x[1, 4] = np.nan
    y = ops.softmax(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    buf = x.copy()
    ops.softmax(buf, out=buf)
    np.testing.assert_array_equal(buf, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.per_device(shape=CE_SHAPES_BY_DEVICE)
def test_softmax_cross_entropy(device, isa, shape, dtype, reduction, rng):
    z = _logits(rng, shape, dtype)
    t = rng.integers(0, shape[1], size=shape[0])
    loss, d = call_on(device, ops.softmax_cross_entropy, z, t, reduction)
    want_loss, want_d = ref.softmax_cross_entropy(z, t, reduction)
    n = max(shape[0], 1)
    row_scale = 1.0 / n if reduction == "mean" else 1.0
    assert np.isfinite(d).all()
    assert_close(d, want_d, dtype, atol=RTOL[dtype] * row_scale * 2, name="dlogits")
    # each row's loss log(s) - (x_t - m) carries an absolute error ~ eps (1 + |x_t - m|)
    zmax = float(np.abs(z.astype(np.float64)).max()) if z.size else 0.0
    spread = 1.0 + zmax * (1e-3 if dtype == np.float64 else 1.0)
    if reduction == "none":
        assert loss.shape == (shape[0],)
        atol = RTOL[dtype] * spread
    else:
        assert loss.shape == ()
        atol = RTOL[dtype] * spread * (1 if reduction == "mean" else n)
    if shape[0] == 0 and reduction == "mean":
        assert np.isnan(loss)
        return
    assert_close(loss, want_loss, dtype, atol=atol, name="loss")


def test_cross_entropy_extreme_logits_exact():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    loss, d = ops.softmax_cross_entropy(z, np.array([0, 0]), "none")
    assert_close(loss, [0.0, 2e4], rtol=1e-7, atol=0.0, equal_nan=True)
    assert_close(d, [[0, 0, 0], [-1, 1, 0]], rtol=1e-7, atol=0.0, equal_nan=True)


def test_cross_entropy_labels():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"class index 4 at position 2 is out of range \[0, 4\)"):
        ops.softmax_cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="class index -1 at position 0"):
        ops.softmax_cross_entropy(z, np.array([-1, 1, 2]))
    with pytest.raises(TypeError, match="target: expected an integer array"):
        ops.softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target: expected shape \(3,\), got \(2,\)"):
        ops.softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="reduction: expected"):
        ops.softmax_cross_entropy(z, np.array([0, 1, 2]), "avg")
    with pytest.raises(ValueError, match="logits: expected a 2-D array"):
        ops.softmax_cross_entropy(np.zeros(4, np.float32), np.array([0]))
    # other integer dtypes are converted explicitly
    loss, _ = ops.softmax_cross_entropy(z, np.array([0, 1, 3], dtype=np.uint8))
    assert_close(loss, np.log(4), rtol=1e-6, atol=0.0, equal_nan=True)


def test_softmax_bad_inputs():
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64"):
        ops.softmax(np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        ops.softmax(np.float32(1.0))
    with pytest.raises(ValueError, match=r"y: expected shape \(2, 3\)"):
        ops.softmax_backward(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))


# ---- odd shapes at the GPU tolerance (the CUDA kernels' row / block paths) ---------------------


@pytest.mark.parametrize("cols", [1, 5, 33, 300])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_3d(device, rng, cols, dtype):
    x = (4 * rng.standard_normal((3, 7, cols))).astype(dtype)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    assert_close(call_on(device, ops.softmax, x), ref.softmax(x), dtype, scale=1, **kw)
    got = call_on(device, ops.log_softmax, x)
    assert_close(got, ref.log_softmax(x), dtype, scale=10, name="log_softmax", **kw)


@pytest.mark.parametrize("cols", [3, 70, 300])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_backward_rows(device, rng, cols, dtype):
    x = rng.standard_normal((11, cols)).astype(dtype)
    dy = rng.standard_normal((11, cols)).astype(dtype)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    y = call_on(device, ops.softmax, x)
    got = call_on(device, ops.softmax_backward, dy, y)
    assert_close(got, ref.softmax_backward(dy, y), dtype, scale=10, name="softmax", **kw)
    ly = call_on(device, ops.log_softmax, x)
    got = call_on(device, ops.log_softmax_backward, dy, ly)
    want = ref.log_softmax_backward(dy, ly)
    assert_close(got, want, dtype, scale=50, name="log_softmax", **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_fused(device, rng, reduction, dtype):
    logits = (3 * rng.standard_normal((19, 41))).astype(dtype)
    target = rng.integers(0, 41, size=19)
    loss, dlogits = call_on(device, ops.softmax_cross_entropy, logits, target, reduction)
    loss_ref, dlogits_ref = ref.softmax_cross_entropy(logits, target, reduction)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    assert_close(loss, loss_ref, dtype, scale=30, name="loss", **kw)
    assert_close(dlogits, dlogits_ref, dtype, scale=1, name="dlogits", **kw)
    assert np.shape(loss) == ((19,) if reduction == "none" else ())


def test_softmax_cross_entropy_bad_target(device, rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="out of range"):
        call_on(device, ops.softmax_cross_entropy, logits, np.array([0, 1, 3, 2]))
    with pytest.raises(TypeError, match="integer"):
        call_on(device, ops.softmax_cross_entropy, logits, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        call_on(device, ops.softmax_cross_entropy, logits, np.zeros(4, np.int64), "avg")


# a middle axis: the CPU kernels read each slice at its stride (softmax.h softmax_block), the
# device ones move the axis last and back (ops._softmax_along)
AXIS_CASES = {
    "cpu": [
        ((4, 7, 33), 1),  # inner 33: two full vectors and a tail (AVX2), one block
        ((2, 64, 9, 17), 1),  # inner 153: several blocks of 4 vectors, a partial one
        ((3, 5, 100), 0),
        ((2, 3, 16, 16), 2),
        ((5, 0, 7), 1),  # an empty axis
        ((2, 7, 0), 1),  # empty slices
        ((2, 1, 70), 1),  # one class
        ((1, 1000, 3), 1),  # many classes, three lanes
        ((3, 2, 5), -2),
    ],
    "simt": [((2, 3, 5), 1), ((3, 4, 2), 0), ((2, 1, 3), 1)],
}


def _moved(f, x, axis):
    return np.moveaxis(f(np.moveaxis(x, axis, -1)), -1, axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.per_device("shape,axis", AXIS_CASES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_any_axis(device, isa, shape, axis, dtype, log, rng):
    x = sample(rng, shape, dtype, scale=4.0)
    if x.size >= 30:  # slices with huge logits stay finite and right
        x.reshape(x.shape[0], -1)[0, 0] = 1e4
    fwd, bwd = (
        (ops.log_softmax, ops.log_softmax_backward) if log else (ops.softmax, ops.softmax_backward)
    )
    y = call_on(device, fwd, x, dim=axis)
    want = _moved(ref.log_softmax if log else ref.softmax, x, axis)
    x64 = x.astype(np.float64)
    atol = RTOL[dtype] * (1 + (np.abs(x64 - x64.max(axis, keepdims=True)) if log and x.size else 0))
    assert y.shape == x.shape and y.dtype == dtype
    assert_close(y, want, dtype, atol=atol * (1 if log else 1e-3), name="forward")
    dy = sample(rng, shape, dtype, scale=1.0)
    got = call_on(device, bwd, dy, y, dim=axis)
    rb = ref.log_softmax_backward if log else ref.softmax_backward
    want_dx = np.moveaxis(rb(np.moveaxis(dy, axis, -1), np.moveaxis(y, axis, -1)), -1, axis)
    scale = np.abs(dy.astype(np.float64)).sum(axis=axis, keepdims=True) + 1
    assert_close(got, want_dx, dtype, atol=RTOL[dtype] * scale * 4, name="backward")


def test_softmax_middle_axis_nonfinite_threads_and_errors(rng):
    import deltagrad as dg

    x = sample(rng, (3, 6, 40), np.float32)
    x[0, 2, 5] = np.nan  # slice (0, :, 5): all NaN
    x[1, :, 7] = -np.inf  # all -inf: NaN, as torch
    x[2, 3, 9] = np.inf  # +inf: NaN (inf - inf), as torch
    y = ops.softmax(x, dim=1)
    np.testing.assert_array_equal(
        np.isnan(y), np.isnan(_moved(ref.softmax, x, 1)), err_msg="NaN slices"
    )
    assert np.isnan(y[0, :, 5]).all() and np.isnan(y[1, :, 7]).all() and np.isnan(y[2, :, 9]).all()
    big = sample(rng, (8, 32, 24, 24), np.float32)
    old = dg.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            dg.set_num_threads(t)
            outs.append((ops.log_softmax(big, dim=1), ops.softmax_backward(big, big, dim=1)))
        for a, b in zip(*outs):
            np.testing.assert_array_equal(a, b)
    finally:
        dg.set_num_threads(old)
    buf = big.copy()  # out= the input itself
    ops.softmax(buf, out=buf, dim=1)
    np.testing.assert_array_equal(buf, ops.softmax(big, dim=1))
    with pytest.raises(IndexError, match="dim"):
        ops.softmax(big, dim=4)
    with pytest.raises(IndexError, match="dim"):
        ops.softmax_backward(big, big, dim=-5)
