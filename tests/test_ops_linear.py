"""The fused linear layer (forward with bias + activation in the GEMM epilogue, backward)
against deltagrad.reference, on every ISA, dtype and activation, at edge sizes."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

SHAPES = [(0, 3, 4), (1, 1, 1), (5, 7, 3), (33, 17, 9), (64, 100, 70), (3, 0, 5), (4, 5, 0)]


def _abs64(a):
    return np.abs(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ops.ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_forward(isa, shape, act, bias, dtype, rng):
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    b = sample(rng, (n,), dtype) if bias else None
    y, z = ops.linear_forward(x, w, b, act, 0.1)
    want_y, want_z = ref.linear_forward(x, w, b, act, 0.1)
    # a dot product of length k carries an error ~ k eps sum |x||w|
    bound = RTOL[dtype] * (_abs64(x) @ _abs64(w).T + (_abs64(b) if bias else 0)) * 2
    assert (z is None) == (want_z is None)
    if z is not None:
        assert_close(z, want_z, dtype, atol=bound, name="z")
    # the activation's slope is at most ~1.2: the same bound carries over to y
    assert_close(y, want_y, dtype, atol=bound * 1.2, name="y")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flags", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("act", ops.ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_backward(isa, shape, act, flags, dtype, rng):
    need_dx, has_bias = flags
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    b = sample(rng, (n,), dtype)
    y, z = ops.linear_forward(x, w, b, act, 0.1)
    saved = z if ops.saves_input(act) else y
    dy = sample(rng, (m, n), dtype, 1.0)
    dx, dw, db = ops.linear_backward(dy, x, w, saved, act, 0.1, need_dx, has_bias)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w, saved, act, 0.1, need_dx, has_bias)
    dz = _abs64(ref.activation_backward(dy, saved, act, param=0.1)) + _abs64(dy) * 0.1
    tol = RTOL[dtype] * 4
    assert_close(dw, rdw, dtype, atol=tol * (dz.T @ _abs64(x)), name="dw")
    if need_dx:
        assert_close(dx, rdx, dtype, atol=tol * (dz @ _abs64(w)), name="dx")
    else:
        assert dx is None
    if has_bias:
        assert_close(db, rdb, dtype, atol=tol * dz.sum(axis=0), name="db")
    else:
        assert db is None


def test_linear_bad_inputs():
    x, w = np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"w: expected shape \(out_features, 3\)"):
        ops.linear_forward(x, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\), got \(3,\)"):
        ops.linear_forward(x, w, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="w: expected dtype float32"):
        ops.linear_forward(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="act: expected one of"):
        ops.linear_forward(x, w, None, "elu")
    with pytest.raises(ValueError, match="saved: activation 'gelu' needs z"):
        ops.linear_backward(np.zeros((2, 4), np.float32), x, w, None, "gelu")
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 4\)"):
        ops.linear_backward(np.zeros((2, 5), np.float32), x, w, None, "identity")
