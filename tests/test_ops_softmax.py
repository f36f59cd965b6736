"""softmax / log_softmax (forward, backward) and the fused softmax cross-entropy against
deltagrad.reference, on every ISA and dtype, including logits at +-1e4."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

SHAPES = [(0, 5), (1, 1), (3, 7), (5, 1000), (2, 3, 17), (64, 33), (300, 257)]
REDUCTIONS = ("mean", "sum", "none")


def _logits(rng, shape, dtype):
    x = sample(rng, shape, dtype, scale=4.0)
    if x.size >= 20:  # rows with huge logits: must stay finite and right
        x.reshape(-1, x.shape[-1])[0, 0] = 1e4
        x.reshape(-1, x.shape[-1])[-1, -1] = -1e4
        x.reshape(-1, x.shape[-1])[1, :] = 1e4
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax(isa, shape, dtype, rng):
    x = _logits(rng, shape, dtype)
    assert_close(ops.softmax(x), ref.softmax(x), dtype, atol=RTOL[dtype] * 1e-3, name="softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_log_softmax(isa, shape, dtype, rng):
    x = _logits(rng, shape, dtype)
    # x - max - log(sum): absolute error ~ eps * |x - max|; near 0 relative error is meaningless
    want = ref.log_softmax(x)
    atol = RTOL[dtype] * (1.0 + np.abs(x.astype(np.float64) - x.max(axis=-1, keepdims=True)))
    assert_close(ops.log_softmax(x), want, dtype, atol=atol, name="log_softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward(isa, shape, dtype, log, rng):
    x = sample(rng, shape, dtype)
    y = ops.log_softmax(x) if log else ops.softmax(x)
    dy = sample(rng, shape, dtype, scale=1.0)
    got = ops.log_softmax_backward(dy, y) if log else ops.softmax_backward(dy, y)
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
@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (1, 5), (7, 13), (256, 1000)])
def test_softmax_cross_entropy(isa, shape, dtype, reduction, rng):
    z = _logits(rng, shape, dtype)
    t = rng.integers(0, shape[1], size=shape[0])
    loss, d = ops.softmax_cross_entropy(z, t, reduction)
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
    np.testing.assert_allclose(loss, [0.0, 2e4])
    np.testing.assert_allclose(d, [[0, 0, 0], [-1, 1, 0]])


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
    np.testing.assert_allclose(loss, np.log(4), rtol=1e-6)


def test_softmax_bad_inputs():
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64"):
        ops.softmax(np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        ops.softmax(np.float32(1.0))
    with pytest.raises(ValueError, match=r"y: expected shape \(2, 3\)"):
        ops.softmax_backward(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
