"""Losses with fused gradients against deltagrad.reference (and torch when importable), on every
device (cpu on every ISA, the SIMT emulator on small shapes, cuda) and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, GPU_RTOL, RTOL, assert_close, call_on, sample

REDUCTIONS = ("mean", "sum", "none")
SHAPES = [(0,), (1,), (17,), (5, 3), (70001,)]
SIMT_SHAPES = [(0,), (1,), (17,), (5, 3)]
SHAPES_BY_DEVICE = {"cpu": SHAPES, "simt": SIMT_SHAPES}


def _compare(name, pred, t, reduction, atol_loss=0.0, device="cpu"):
    dtype = pred.dtype.type
    if name == "sum_of_squares":
        loss, g = call_on(device, ops.sum_of_squares, pred, t)
        want_loss, want_g = ref.sum_of_squares(pred, t)
    else:
        loss, g = call_on(device, getattr(ops, name), pred, t, reduction)
        want_loss, want_g = getattr(ref, name)(pred, t, reduction)
    assert g.shape == pred.shape
    assert_close(g, want_g, dtype, name=f"{name} gradient")
    if pred.size == 0 and reduction == "mean":
        assert np.isnan(loss)
        return
    assert_close(loss, want_loss, dtype, atol=atol_loss, name=f"{name} loss")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_sum_of_squares(device, isa, shape, dtype, rng):
    y, t = sample(rng, shape, dtype), sample(rng, shape, dtype)
    _compare("sum_of_squares", y, t, "sum", device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_mse(device, isa, shape, dtype, reduction, rng):
    y, t = sample(rng, shape, dtype), sample(rng, shape, dtype)
    _compare("mse_loss", y, t, reduction, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_bce(device, isa, shape, dtype, reduction, rng):
    p = rng.uniform(0, 1, shape).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    if p.size > 8:
        p.reshape(-1)[:4] = [0.0, 1.0, 1e-30, 1 - 1e-7]
    # the loss near p ~ t is a difference of logs: allow eps * (|t log p| + |(1-t) log q|)
    scale = np.abs(np.log(np.maximum(p.astype(np.float64), 1e-44))) + 100 * (p == 0)
    _compare(
        "binary_cross_entropy",
        p,
        t,
        reduction,
        atol_loss=RTOL[dtype] * (scale if reduction == "none" else scale.sum()),
        device=device,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.per_device(shape={"cpu": SHAPES + [(64, 10)], "simt": SIMT_SHAPES + [(64, 10)]})
def test_bce_with_logits(device, isa, shape, dtype, reduction, rng):
    z = sample(rng, shape, dtype, scale=5.0, extremes=(1e4, -1e4, 1000.0, -1000.0, 0.0))
    t = (rng.uniform(0, 1, shape) < 0.5).astype(dtype)  # multi-label 0/1 targets
    if z.size > 20:
        t.reshape(-1)[:3] = [0.25, 0.5, 0.75]
    scale = np.abs(z.astype(np.float64)) + 1
    _compare(
        "binary_cross_entropy_with_logits",
        z,
        t,
        reduction,
        atol_loss=RTOL[dtype] * (scale if reduction == "none" else scale.sum()),
        device=device,
    )


def test_bce_logits_extremes_finite(device):
    z = np.array([1e4, -1e4, 1e4, -1e4], np.float32)
    t = np.array([1, 0, 0, 1], np.float32)
    loss, dz = call_on(device, ops.binary_cross_entropy_with_logits, z, t, "none")
    np.testing.assert_array_equal(loss, [0, 0, 1e4, 1e4])
    np.testing.assert_array_equal(dz, [0, 0, 1, -1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_logits_at_infinity(device, isa, dtype):
    """max(z, 0) - z t at z = +-inf: (1 - t) z or -t z, the limit 0 where the factor is 0, never
    inf - inf (NaN for every target before; torch gives NaN at z = -inf)."""
    z = np.array([np.inf, np.inf, np.inf, -np.inf, -np.inf, -np.inf, np.nan], dtype)
    t = np.array([0, 0.25, 1, 0, 0.25, 1, 0.5], dtype)
    loss, dz = call_on(device, ops.binary_cross_entropy_with_logits, z, t, "none")
    np.testing.assert_array_equal(loss, [np.inf, np.inf, 0, 0, np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(dz, [1, 0.75, 0, 0, -0.25, -1, np.nan])
    want, want_dz = ref.binary_cross_entropy_with_logits(z, t, "none")
    np.testing.assert_array_equal(want, loss)
    np.testing.assert_array_equal(want_dz, dz)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_gradient_near_the_float_range(device, isa, dtype):
    """2 (y - t) / n as (y - t) (2 / n): a residual of 0.9 * max gives a finite gradient."""
    big = 0.9 * np.finfo(dtype).max
    y = np.array([0, 1, 2], dtype)
    t = np.array([big, 1, 2.5], dtype)
    _, g = call_on(device, ops.mse_loss, y, t, "mean")
    assert_close(g, [-float(big) * (2 / 3), 0, -1 / 3], dtype, name="mse gradient")
    _, g = call_on(device, ops.mse_loss, y, t, "sum")
    assert np.isinf(g[0]) and g[0] < 0  # 2 (y - t) itself is past the range


def test_loss_bad_inputs():
    y = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"t: expected shape \(3,\), got \(4,\)"):
        ops.mse_loss(y, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="t: expected dtype float32"):
        ops.mse_loss(y, np.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        ops.mse_loss(y, y, "average")
    with pytest.raises(TypeError, match="y: expected dtype float32 or float64"):
        ops.sum_of_squares(np.zeros(3, int), np.zeros(3, int))


# ---- odd 2-D shapes at the GPU tolerance -------------------------------------------------------


@pytest.mark.parametrize("kind", ["mse", "bce", "bce_with_logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_losses_2d(device, rng, kind, reduction, dtype):
    y = rng.standard_normal((23, 5)).astype(dtype)
    t = rng.random((23, 5)).astype(dtype)
    if kind == "bce":
        y = rng.uniform(0.05, 0.95, (23, 5)).astype(dtype)
        t = (t > 0.5).astype(dtype)
    name = {
        "mse": "mse_loss",
        "bce": "binary_cross_entropy",
        "bce_with_logits": "binary_cross_entropy_with_logits",
    }[kind]
    loss, grad = call_on(device, getattr(ops, name), y, t, reduction)
    loss_ref, grad_ref = getattr(ref, name)(y, t, reduction)
    kw = dict(rtol=GPU_RTOL, equal_nan=False)
    assert_close(loss, loss_ref, dtype, scale=200, name="loss", **kw)
    assert_close(grad, grad_ref, dtype, scale=10, name="grad", **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_squares_2d(device, rng, dtype):
    y, t = rng.standard_normal((17, 3)).astype(dtype), rng.standard_normal((17, 3)).astype(dtype)
    loss, dy = call_on(device, ops.sum_of_squares, y, t)
    loss_ref, dy_ref = ref.sum_of_squares(y, t)
    assert_close(loss, loss_ref, dtype, rtol=GPU_RTOL, scale=100, equal_nan=False)
    assert_close(dy, dy_ref, dtype, rtol=GPU_RTOL, scale=1, equal_nan=False)


def test_bce_saturated_is_finite(device):
    p = np.array([0.0, 1.0, 1.0], np.float64)
    t = np.array([1.0, 0.0, 1.0], np.float64)
    loss, _ = call_on(device, ops.binary_cross_entropy, p, t, "none")
    assert_close(loss, [100.0, 100.0, 0.0], rtol=1e-7, atol=0.0, equal_nan=True)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_against_torch(reduction, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    z = sample(rng, (16, 5), np.float64, scale=4.0)
    t = (rng.uniform(0, 1, (16, 5)) < 0.5).astype(np.float64)
    labels = rng.integers(0, 5, 16)
    cases = [
        (
            ops.mse_loss(z, t, reduction),
            lambda a: tf.mse_loss(a, torch.from_numpy(t), reduction=reduction),
        ),
        (
            ops.binary_cross_entropy_with_logits(z, t, reduction),
            lambda a: tf.binary_cross_entropy_with_logits(
                a, torch.from_numpy(t), reduction=reduction
            ),
        ),
        (
            ops.binary_cross_entropy(1 / (1 + np.exp(-z)), t, reduction),
            lambda a: tf.binary_cross_entropy(
                torch.sigmoid(a), torch.from_numpy(t), reduction=reduction
            ),
        ),
        (
            ops.softmax_cross_entropy(z, labels, reduction),
            lambda a: tf.cross_entropy(a, torch.from_numpy(labels), reduction=reduction),
        ),
    ]
    for i, ((loss, grad), fn) in enumerate(cases):
        a = torch.from_numpy(z.copy()).requires_grad_(True)
        out = fn(a)
        out.sum().backward()
        assert_close(loss, out.detach().numpy(), rtol=1e-10, atol=0.0, equal_nan=True, name=str(i))
        if i == 2:  # ours is d/dp; chain through the sigmoid to compare with torch's d/dz
            s = 1 / (1 + np.exp(-z))
            grad = grad * s * (1 - s)
        assert_close(grad, a.grad.numpy(), rtol=1e-8, atol=1e-12, equal_nan=True, name=str(i))
