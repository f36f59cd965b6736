"""Every backward kernel against central differences of its forward kernel, in float64, on every
device (the gradcheck of the ops layer): activations, softmax / log_softmax, the fused losses
and the fused linear layer."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from deltagrad import ops
from deltagrad.testing import assert_close, call_on


def numeric_grad(f, x, eps=1e-6):
    """d sum(f(x) * w) / dx by central differences, for a fixed random weighting w baked in f."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f(x)
        flat[i] = old - eps
        lo = f(x)
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


@pytest.mark.parametrize("act", ops.ACTIVATIONS)
def test_activation_backward_is_the_derivative(device, isa, act, rng):
    x = rng.standard_normal((4, 5)) * 2
    x[np.abs(x) < 1e-2] = 0.5  # away from relu's kink
    w = rng.standard_normal(x.shape)
    y = call_on(device, ops.activation, x, act, param=0.1)
    saved = x if ops.saves_input(act) else y
    got = call_on(device, ops.activation_backward, w, saved, act, param=0.1)
    assert_close(
        got,
        numeric_grad(
            lambda v: float(np.sum(call_on(device, ops.activation, v, act, param=0.1) * w)), x
        ),
        rtol=1e-5,
        atol=1e-7,
        equal_nan=True,
    )


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_is_the_derivative(device, isa, log, rng):
    x = rng.standard_normal((3, 6))
    w = rng.standard_normal(x.shape)
    fwd = partial(call_on, device, ops.log_softmax if log else ops.softmax)
    y = fwd(x)
    got = (
        call_on(device, ops.log_softmax_backward, w, y)
        if log
        else call_on(device, ops.softmax_backward, w, y)
    )
    assert_close(
        got,
        numeric_grad(lambda v: float(np.sum(fwd(v) * w)), x),
        rtol=1e-5,
        atol=1e-7,
        equal_nan=True,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "loss",
    [
        "mse_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "softmax_cross_entropy",
        "sum_of_squares",
    ],
)
def test_loss_gradient_is_the_derivative(device, isa, loss, reduction, rng):
    shape = (4, 5)
    if loss == "binary_cross_entropy":
        y = rng.uniform(0.05, 0.95, shape)
    else:
        y = rng.standard_normal(shape) * 2
    if loss == "softmax_cross_entropy":
        t = rng.integers(0, shape[1], shape[0])
    else:
        t = rng.uniform(0, 1, shape)
    fn = partial(call_on, device, getattr(ops, loss))
    call = (lambda v: fn(v, t)) if loss == "sum_of_squares" else (lambda v: fn(v, t, reduction))
    _, got = call(y)
    assert_close(
        got,
        numeric_grad(lambda v: float(np.sum(call(v)[0])), y),
        rtol=1e-5,
        atol=1e-7,
        equal_nan=True,
    )


@pytest.mark.parametrize("act", ops.ACTIVATIONS)
def test_linear_backward_is_the_derivative(device, isa, act, rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    dy = rng.standard_normal((3, 5))

    def f(xv, wv, bv):
        return float(np.sum(call_on(device, ops.linear_forward, xv, wv, bv, act, 0.1)[0] * dy))

    y, z = call_on(device, ops.linear_forward, x, w, b, act, 0.1)
    saved = z if ops.saves_input(act) else y
    dx, dw, db = call_on(device, ops.linear_backward, dy, x, w, saved, act, 0.1)
    assert_close(dx, numeric_grad(lambda v: f(v, w, b), x), rtol=1e-5, atol=1e-7, equal_nan=True)
    assert_close(dw, numeric_grad(lambda v: f(x, v, b), w), rtol=1e-5, atol=1e-7, equal_nan=True)
    assert_close(db, numeric_grad(lambda v: f(x, w, v), b), rtol=1e-5, atol=1e-7, equal_nan=True)
