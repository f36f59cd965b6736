"""The fused linear layer (forward with bias + activation in the GEMM epilogue, backward)
against deltagrad.reference, on every device (cpu on every ISA, the SIMT emulator, cuda), dtype
and activation, at edge sizes."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, GPU_RTOL, RTOL, assert_close, call_on, sample

SHAPES = [(0, 3, 4), (1, 1, 1), (5, 7, 3), (33, 17, 9), (64, 100, 70), (3, 0, 5), (4, 5, 0)]
SHAPES_BY_DEVICE = {"cpu": SHAPES, "simt": [s for s in SHAPES if s != (64, 100, 70)]}


def _abs64(a):
    return np.abs(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ops.ACTIVATIONS)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_linear_forward(device, isa, shape, act, bias, dtype, rng):
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    b = sample(rng, (n,), dtype) if bias else None
    y, z = call_on(device, ops.linear_forward, x, w, b, act, 0.1)
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
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_linear_backward(device, isa, shape, act, flags, dtype, rng):
    need_dx, has_bias = flags
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    b = sample(rng, (n,), dtype)
    y, z = call_on(device, ops.linear_forward, x, w, b, act, 0.1)
    saved = z if ops.saves_input(act) else y
    dy = sample(rng, (m, n), dtype, 1.0)
    dx, dw, db = call_on(device, ops.linear_backward, dy, x, w, saved, act, 0.1, need_dx, has_bias)
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


# ---- odd shapes at the GPU tolerance (the fused epilogue of the CUDA GEMM) --------------------


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("act", ops.ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_fused_epilogue(device, rng, act, dtype):
    x, w, b = _randn(rng, (13, 11), dtype), _randn(rng, (7, 11), dtype), _randn(rng, (7,), dtype)
    y, z = call_on(device, ops.linear_forward, x, w, b, act, 0.1)
    y_ref, z_ref = ref.linear_forward(x, w, b, act, 0.1)
    kw = dict(rtol=GPU_RTOL, scale=11, equal_nan=False)
    assert_close(y, y_ref, dtype, name="y", **kw)
    if ref.saves_input(act):
        assert_close(z, z_ref, dtype, name="z", **kw)
    else:
        assert z is None
    y2, _ = call_on(device, ops.linear_forward, x, w, None, act, 0.1)
    assert_close(y2, ref.linear_forward(x, w, None, act, 0.1)[0], dtype, name="no bias", **kw)


@pytest.mark.parametrize("act", ops.ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_backward_2d(device, rng, act, dtype):
    x, w, b = _randn(rng, (9, 6), dtype), _randn(rng, (5, 6), dtype), _randn(rng, (5,), dtype)
    dy = _randn(rng, (9, 5), dtype)
    y, z = call_on(device, ops.linear_forward, x, w, b, act, 0.1)
    saved = z if ops.saves_input(act) else y
    dx, dw, db = call_on(device, ops.linear_backward, dy, x, w, saved, act, 0.1)
    dx_ref, dw_ref, db_ref = ref.linear_backward(dy, x, w, saved, act, 0.1)
    kw = dict(rtol=GPU_RTOL, scale=40, equal_nan=False)
    assert_close(dx, dx_ref, dtype, name="dx", **kw)
    assert_close(dw, dw_ref, dtype, name="dw", **kw)
    assert_close(db, db_ref, dtype, name="db", **kw)
    dx2, _, db2 = call_on(
        device, ops.linear_backward, dy, x, w, saved, act, 0.1, need_dx=False, has_bias=False
    )
    assert dx2 is None and db2 is None


def test_linear_bad_inputs():
    x, w = np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"w: expected shape \(out_features, 3\)"):
        ops.linear_forward(x, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\), got \(3,\)"):
        ops.linear_forward(x, w, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="w: expected dtype float32"):
        ops.linear_forward(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="act: expected one of"):
        ops.linear_forward(x, w, None, "squareplus")
    with pytest.raises(ValueError, match="saved: activation 'gelu' needs z"):
        ops.linear_backward(np.zeros((2, 4), np.float32), x, w, None, "gelu")
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 4\)"):
        ops.linear_backward(np.zeros((2, 5), np.float32), x, w, None, "identity")


# ---- the backward on several thread counts: shared setup ------------------------------------


@pytest.fixture
def num_threads():
    """dg.set_num_threads for the test's body; the previous count is restored afterwards."""
    import deltagrad as dg

    old = dg.get_num_threads()
    yield dg.set_num_threads
    dg.set_num_threads(old)


def _backward_case(rng, shape, dtype, accumulate):
    """(x, w, dy, dw0, db0, kw) of a linear backward of shape (m, k, n): random x (m, k),
    w (n, k), dy (m, n), the starting dw0 / db0 of an accumulating call and the keyword
    arguments giving copies of them to accumulate into (empty when not accumulating)."""
    m, k, n = shape
    x, w = sample(rng, (m, k), dtype, 1.0), sample(rng, (n, k), dtype, 0.5)
    dy = sample(rng, (m, n), dtype, 1.0)
    dw0, db0 = sample(rng, (n, k), dtype), sample(rng, (n,), dtype)
    kw = dict(dw=dw0.copy(), db=db0.copy()) if accumulate else {}
    return x, w, dy, dw0, db0, kw


# ---- the backward's dw and dx side by side on two threads ---------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "identity"])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_linear_backward_threads(isa, rng, num_threads, act, accumulate, nthreads, dtype):
    """On two threads dw and dx run at once, one product per thread (above 2^18 multiply-adds
    each); on 1 and 3 threads one after the other: every count gives the reference, with and
    without accumulating into given dw/db."""
    # 67 x 131 x 45: 394,965 multiply-adds per product, the side-by-side path on 2 threads
    x, w, dy, dw0, db0, kw = _backward_case(rng, (67, 131, 45), dtype, accumulate)
    y, z = ops.linear_forward(x, w, sample(rng, (45,), dtype), act, 0.1)
    saved = z if ops.saves_input(act) else y
    num_threads(nthreads)
    dx, dw, db = ops.linear_backward(dy, x, w, saved, act, 0.1, True, True, **kw)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w, saved, act, 0.1, True, True)
    if accumulate:
        rdw, rdb = rdw + dw0.astype(np.float64), rdb + db0.astype(np.float64)
    dz = _abs64(ref.activation_backward(dy, saved, act, param=0.1)) + _abs64(dy) * 0.1
    tol = RTOL[dtype] * 4
    extra = _abs64(dw0) if accumulate else 0
    assert_close(dw, rdw, dtype, atol=tol * (dz.T @ _abs64(x) + extra), name="dw")
    assert_close(dx, rdx, dtype, atol=tol * (dz @ _abs64(w)), name="dx")
    assert_close(
        db, rdb, dtype, atol=tol * (dz.sum(axis=0) + (_abs64(db0) if accumulate else 0)), name="db"
    )


# ---- dw of a layer with few outputs: column slices on the GEMM's direct path ------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(256, 512, 10), (450, 600, 10), (200, 700, 16), (96, 1100, 17), (256, 520, 1)]
)
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_thin_dw_slices_are_bit_identical(
    isa, rng, num_threads, shape, accumulate, nthreads, dtype
):
    """dw = dz.T @ x of a layer with at most 16 outputs and over 2^20 multiply-adds is computed
    in column slices (the GEMM's direct path; past KC rows of the batch, gemm_few's blocks) on
    one thread, and up to 12 outputs as one GEMM on the team: the same bits as one GEMM of the
    whole product (dg.ops.matmul) either way, with and without accumulating into a given dw;
    17 outputs: one GEMM."""
    x, w, dy, dw0, _, kw = _backward_case(rng, shape, dtype, accumulate)
    num_threads(nthreads)
    dx, dw, _ = ops.linear_backward(dy, x, w, None, "identity", 0.0, True, True, **kw)
    want = ops.matmul(dy, x, trans_a=True, beta=1.0 if accumulate else 0.0, out=dw0.copy())
    want_dx = ops.matmul(dy, w)
    np.testing.assert_array_equal(dw, want)
    np.testing.assert_array_equal(dx, want_dx)
