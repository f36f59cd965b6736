"""The CUDA kernels (csrc/cuda) run through the SIMT emulator, against NumPy float64.

Every kernel runs on small odd shapes (not multiples of any tile, warp or block), both dtypes,
and every code path of the launchers (GEMM tilings, vector / scalar / transposed loads, row and
column reductions). The emulator checks every global and shared access and poisons shared memory
with NaN at each block start, so a wrong index raises SimtFault and a missing barrier is
flagged by the shared-memory race detector (or shows up as NaN or a wrong value). The
references are deltagrad.reference's, the NumPy float64 oracle every backend is tested against.
"""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import reference as R

try:
    from deltagrad import _simt_ops as simt
except ImportError as e:  # the _simt module is built by every CMake configuration
    pytest.skip(f"the _simt module is not built: {e}", allow_module_level=True)
ops = simt.ops
SimtFault = simt.SimtFault

pytestmark = pytest.mark.simt

DTYPES = [np.float32, np.float64]
ACTS = list(simt.ACTIVATIONS)


# R (deltagrad.reference): NumPy float64, the same names and signatures as the ops.
SPECIALS = (0.0, -0.0, 1000.0, -1000.0, 1e4, -1e4, np.inf, -np.inf, np.nan, 1e30, -1e30)


# ---- helpers -------------------------------------------------------------------------------


def close(got, want, dtype, scale: float = 1.0, what: str = "") -> None:
    """llm.c-style tolerance: tol + |ref| * eps, with tol growing with the reduction length."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    eps = 2e-6 if dtype == np.float32 else 1e-13
    tol = eps * 8 * max(scale, 1.0)
    bad = ~(np.abs(got - want) <= tol + np.abs(want) * eps * 8)
    assert not bad.any(), (
        f"{what}: {bad.sum()} of {bad.size} elements differ; first at "
        f"{np.argwhere(bad)[0].tolist()}: got {got[bad][0]!r}, want {want[bad][0]!r}"
    )


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ---- GEMM ----------------------------------------------------------------------------------

GEMM_SHAPES = [(1, 1, 1), (7, 5, 3), (33, 17, 19), (65, 70, 41), (130, 9, 23)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("tile", ["small", "large"])
def test_matmul_trans_tiles(rng, dtype, trans_a, trans_b, tile):
    for m, n, k in GEMM_SHAPES:
        a = randn(rng, (k, m) if trans_a else (m, k), dtype)
        b = randn(rng, (n, k) if trans_b else (k, n), dtype)
        c = ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, tile=tile)
        want = R.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
        close(c, want, dtype, scale=k, what=f"{m}x{n}x{k}")
        assert c.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_alpha_beta_out(rng, dtype):
    a, b = randn(rng, (19, 13), dtype), randn(rng, (13, 21), dtype)
    out = randn(rng, (19, 21), dtype)
    want = R.matmul(a, b, alpha=0.5, beta=-2.0, out=out)
    got = ops.matmul(a, b, alpha=0.5, beta=-2.0, out=out)
    assert got is out
    close(out, want, dtype, scale=13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_beta_zero_ignores_nan_in_out(rng, dtype):
    a, b = randn(rng, (9, 4), dtype), randn(rng, (4, 6), dtype)
    out = np.full((9, 6), np.nan, dtype=dtype)
    ops.matmul(a, b, out=out)
    close(out, a.astype(np.float64) @ b, dtype, scale=4)


def test_matmul_k_zero_and_empty(rng):
    a, b = np.zeros((5, 0), np.float32), np.zeros((0, 3), np.float32)
    out = np.ones((5, 3), np.float32)
    ops.matmul(a, b, beta=0.5, out=out)
    np.testing.assert_array_equal(out, 0.5)
    assert ops.matmul(np.zeros((0, 4)), np.zeros((4, 7))).shape == (0, 7)


@pytest.mark.parametrize("tile", ["small", "large"])
def test_matmul_strided_and_misaligned_views(rng, tile):
    # Views whose rows are not 16-byte aligned take the scalar load path; every-other-column
    # views take the strided path; both must equal the contiguous result.
    big_a, big_b = randn(rng, (40, 61), np.float32), randn(rng, (61, 50), np.float32)
    views = [
        (big_a[:, 1:30], big_b[1:30, 3:40]),  # rows not 16-byte aligned
        (big_a[::2, ::2], big_b[::2, ::3]),  # strided
        (big_a[::-1, :32], big_b[:32][::-1, ::-1]),  # negative strides
    ]
    for a, b in views:
        got = ops.matmul(a, b, tile=tile)
        close(got, a.astype(np.float64) @ b, np.float32, scale=a.shape[1])


def test_matmul_out_aliases_input(rng):
    a = randn(rng, (12, 12), np.float64)
    b = randn(rng, (12, 12), np.float64)
    want = a @ b + a
    ops.matmul(a, b, beta=1.0, out=a)
    close(a, want, np.float64, scale=12)


def test_emulator_launches_are_reentrant(rng):
    # The binding releases the GIL and the emulator's state is per OS thread: two threads
    # launching kernels at once must not see each other's buffers or fibers.
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(randn(rng, (37, 29), np.float64), randn(rng, (29, 41), np.float64)) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda ab: ops.matmul(*ab), pairs))
    for (a, b), c in zip(pairs, results):
        close(c, R.matmul(a, b), np.float64, scale=29)


def test_matmul_validation():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.matmul(a.astype(np.int32), a.T)
    with pytest.raises(TypeError, match="dtype float32"):
        ops.matmul(a, a.T.astype(np.float64))
    with pytest.raises(ValueError, match="inner dimensions"):
        ops.matmul(a, a)
    with pytest.raises(ValueError, match="beta"):
        ops.matmul(a, a.T, beta=1.0)
    ro = np.zeros((3, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.matmul(a, a.T, out=ro)
    with pytest.raises(ValueError, match="shape"):
        ops.matmul(a, a.T, out=np.zeros((3, 4), np.float32))


# ---- fused linear layer --------------------------------------------------------------------


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_fused_epilogue(rng, act, dtype):
    x, w, b = randn(rng, (13, 11), dtype), randn(rng, (7, 11), dtype), randn(rng, (7,), dtype)
    y, z = ops.linear_forward(x, w, b, act, 0.1)
    y_ref, z_ref = R.linear_forward(x, w, b, act, 0.1)
    close(y, y_ref, dtype, scale=11, what="y")
    if R.saves_input(act):
        close(z, z_ref, dtype, scale=11, what="z")
    else:
        assert z is None
    y2, _ = ops.linear_forward(x, w, None, act, 0.1)
    close(y2, R.linear_forward(x, w, None, act, 0.1)[0], dtype, scale=11, what="no bias")


@pytest.mark.parametrize("act", ["identity", "relu", "tanh", "gelu", "leaky_relu", "silu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_backward(rng, act, dtype):
    x, w, b = randn(rng, (9, 6), dtype), randn(rng, (5, 6), dtype), randn(rng, (5,), dtype)
    dy = randn(rng, (9, 5), dtype)
    y, z = ops.linear_forward(x, w, b, act, 0.1)
    saved = z if act in simt.NEEDS_INPUT else y
    dx, dw, db = ops.linear_backward(dy, x, w, saved, act, 0.1)
    dx_ref, dw_ref, db_ref = R.linear_backward(dy, x, w, saved, act, 0.1)
    close(dx, dx_ref, dtype, scale=40, what="dx")
    close(dw, dw_ref, dtype, scale=40, what="dw")
    close(db, db_ref, dtype, scale=40, what="db")
    dx2, _, db2 = ops.linear_backward(dy, x, w, saved, act, 0.1, need_dx=False, has_bias=False)
    assert dx2 is None and db2 is None


# ---- activations ---------------------------------------------------------------------------


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward(rng, act, dtype):
    x = (3 * rng.standard_normal((37, 23))).astype(dtype)
    x[0, :4] = [0.0, -0.0, 30.0, -30.0]
    close(ops.activation(x, act, param=0.02), R.activation(x, act, param=0.02), dtype, what=act)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward(rng, act, dtype):
    x = (2 * rng.standard_normal((29, 31))).astype(dtype)
    dy = randn(rng, x.shape, dtype)
    y = ops.activation(x, act, param=0.02)
    saved = x if act in simt.NEEDS_INPUT else y
    got = ops.activation_backward(dy, saved, act, param=0.02)
    close(got, R.activation_backward(dy, saved, act, param=0.02), dtype, scale=10, what=act)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_extremes(act, dtype):
    """Infinities, NaN, huge and signed-zero inputs: the same specials as the reference."""
    x = np.array(SPECIALS, dtype=dtype)
    y = ops.activation(x, act, param=0.02)
    want = R.activation(x, act, param=0.02)
    if dtype == np.float32:  # the reference computes in float64: round like the kernel does
        want = want.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want), err_msg=act)
    fin = np.isfinite(want)
    np.testing.assert_array_equal(y[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    close(y[fin], want[fin], dtype, what=act)
    saved = x if R.saves_input(act) else y
    dy = np.ones_like(x)
    dx = ops.activation_backward(dy, saved, act, param=0.02)
    dwant = R.activation_backward(dy, saved, act, param=0.02)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(dwant), err_msg=f"{act} backward")
    ok = ~np.isnan(dwant)
    close(dx[ok], dwant[ok], dtype, what=f"{act} backward")


def test_activation_relu_kink_and_in_place(rng):
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    dx = ops.activation_backward(np.ones(3, np.float32), ops.activation(x, "relu"), "relu")
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0])
    ops.activation(x, "relu", out=x)
    np.testing.assert_array_equal(x, [0.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="act"):
        ops.activation(x, "mish")


# ---- softmax family ------------------------------------------------------------------------


@pytest.mark.parametrize("cols", [1, 5, 33, 300])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax(rng, cols, dtype):
    x = (4 * rng.standard_normal((3, 7, cols))).astype(dtype)
    close(ops.softmax(x), R.softmax(x), dtype, what="softmax")
    close(ops.log_softmax(x), R.log_softmax(x), dtype, scale=10, what="log_softmax")


@pytest.mark.parametrize("cols", [3, 70, 300])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_backward(rng, cols, dtype):
    x, dy = randn(rng, (11, cols), dtype), randn(rng, (11, cols), dtype)
    y = ops.softmax(x)
    close(ops.softmax_backward(dy, y), R.softmax_backward(dy, y), dtype, scale=10, what="softmax")
    ly = ops.log_softmax(x)
    close(
        ops.log_softmax_backward(dy, ly),
        R.log_softmax_backward(dy, ly),
        dtype,
        scale=50,
        what="log_softmax",
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_fused(rng, reduction, dtype):
    logits = (3 * rng.standard_normal((19, 41))).astype(dtype)
    target = rng.integers(0, 41, size=19)
    loss, dlogits = ops.softmax_cross_entropy(logits, target, reduction)
    loss_ref, dlogits_ref = R.softmax_cross_entropy(logits, target, reduction)
    close(loss, loss_ref, dtype, scale=30, what="loss")
    close(dlogits, dlogits_ref, dtype, what="dlogits")
    assert np.shape(loss) == ((19,) if reduction == "none" else ())


def test_softmax_cross_entropy_bad_target_in_kernel_is_nan(rng):
    # What the GPU path does (no host check there): the kernel poisons the row, nothing else.
    logits = randn(rng, (4, 3), np.float32)
    ops.check_targets_on_host = False
    try:
        loss, d = ops.softmax_cross_entropy(logits, np.array([0, 1, 3, -1]), "none")
    finally:
        ops.check_targets_on_host = True
    assert np.isfinite(loss[:2]).all() and np.isnan(loss[2:]).all()
    assert np.isfinite(d[:2]).all() and np.isnan(d[2:]).all()


def test_softmax_cross_entropy_bad_target(rng):
    logits = randn(rng, (4, 3), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        ops.softmax_cross_entropy(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(TypeError, match="integer"):
        ops.softmax_cross_entropy(logits, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        ops.softmax_cross_entropy(logits, np.zeros(4, np.int64), "avg")


# ---- pointwise losses ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mse", "bce", "bce_with_logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_losses(rng, kind, reduction, dtype):
    y = randn(rng, (23, 5), dtype)
    t = rng.random((23, 5)).astype(dtype)
    if kind == "bce":
        y = rng.uniform(0.05, 0.95, (23, 5)).astype(dtype)
        t = (t > 0.5).astype(dtype)
    fn = {
        "mse": ops.mse_loss,
        "bce": ops.binary_cross_entropy,
        "bce_with_logits": ops.binary_cross_entropy_with_logits,
    }[kind]
    loss, grad = fn(y, t, reduction)
    ref_fn = {
        "mse": R.mse_loss,
        "bce": R.binary_cross_entropy,
        "bce_with_logits": R.binary_cross_entropy_with_logits,
    }[kind]
    loss_ref, grad_ref = ref_fn(y, t, reduction)
    close(loss, loss_ref, dtype, scale=200, what="loss")
    close(grad, grad_ref, dtype, scale=10, what="grad")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_squares(rng, dtype):
    y, t = randn(rng, (17, 3), dtype), randn(rng, (17, 3), dtype)
    loss, dy = ops.sum_of_squares(y, t)
    loss_ref, dy_ref = R.sum_of_squares(y, t)
    close(loss, loss_ref, dtype, scale=100)
    close(dy, dy_ref, dtype)


def test_bce_saturated_is_finite():
    p = np.array([0.0, 1.0, 1.0], np.float64)
    t = np.array([1.0, 0.0, 1.0], np.float64)
    loss, _ = ops.binary_cross_entropy(p, t, "none")
    np.testing.assert_allclose(loss, [100.0, 100.0, 0.0])


# ---- reductions ----------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_mean(rng, axis, keepdims, dtype):
    x = randn(rng, (5, 37, 3), dtype)
    close(
        ops.sum(x, axis=axis, keepdims=keepdims),
        R.sum(x, axis=axis, keepdims=keepdims),
        dtype,
        scale=100,
        what="sum",
    )
    close(
        ops.mean(x, axis=axis, keepdims=keepdims),
        R.mean(x, axis=axis, keepdims=keepdims),
        dtype,
        scale=10,
        what="mean",
    )


@pytest.mark.parametrize("start,stop", [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3), (1, 1)])
def test_reduce_sum_primitive(rng, start, stop):
    x = randn(rng, (4, 33, 5), np.float32)
    got = ops.reduce_sum(x, start, stop, 0.5)
    want = 0.5 * x.astype(np.float64).sum(axis=tuple(range(start, stop)))
    close(got, want, np.float32, scale=100)


@pytest.mark.parametrize("shape", [(37, 70), (1000, 3), (3, 5, 65), (1, 33)])
def test_sum_columns(rng, shape):
    # The column kernel: several 32-column tiles, partial last tile, rows not a multiple of 8.
    x = randn(rng, shape, np.float64)
    close(ops.sum(x, axis=-2), R.sum(x, axis=-2), np.float64, scale=1000)


@pytest.mark.parametrize("shape,axis", [((20001,), None), ((3, 9000), 1), ((2, 50, 90), None)])
def test_sum_two_pass_long_rows(rng, shape, axis):
    x = randn(rng, shape, np.float64)
    close(ops.sum(x, axis=axis), R.sum(x, axis=axis), np.float64, scale=1e4)
    close(ops.mean(x, axis=axis), R.mean(x, axis=axis), np.float64, scale=1e4)


def test_sum_large_row_and_empty(rng):
    x = randn(rng, (3, 1000), np.float32)
    close(ops.sum(x, axis=1), x.astype(np.float64).sum(1), np.float32, scale=1000)
    assert ops.sum(np.zeros((0, 3), np.float32)) == 0.0
    np.testing.assert_array_equal(ops.sum(np.zeros((0, 3)), axis=0), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="out of range"):
        ops.sum(x, axis=2)


@pytest.mark.parametrize("shape", [(7,), (1, 7), (4, 1), (1, 1), (3, 4, 7), (4, 7)])
def test_sum_to_shape(rng, shape):
    g = randn(rng, (3, 4, 7), np.float64)
    close(ops.sum_to_shape(g, shape), R.sum_to_shape(g, shape), np.float64, scale=100)


# ---- optimizers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "momentum,nesterov,wd,damp",
    [
        (0.0, False, 0.0, 0.0),
        (0.9, False, 0.01, 0.0),
        (0.9, True, 0.0, 0.0),
        (0.5, False, 0.0, 0.3),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update(rng, momentum, nesterov, wd, damp, dtype):
    p = randn(rng, (13, 7), dtype)
    buf = np.full_like(p, np.nan) if momentum else None  # first_step must not read it
    p64 = p.astype(np.float64)
    b64 = np.zeros(p.shape) if momentum else None
    for step in range(3):
        g = randn(rng, p.shape, dtype)
        kw = dict(
            lr=0.1,
            momentum=momentum,
            weight_decay=wd,
            nesterov=nesterov,
            dampening=damp,
            first_step=step == 0,
        )
        ops.sgd_update(p, g, buf, **kw)
        R.sgd_update(p64, g.astype(np.float64), b64, **kw)
    close(p, p64, dtype, scale=10)
    if momentum:
        close(buf, b64, dtype, scale=10)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update(rng, decoupled, dtype):
    p = randn(rng, (11, 3), dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    p64, m64, v64 = p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)
    for step in range(1, 5):
        g = randn(rng, p.shape, dtype)
        kw = dict(
            step=step,
            lr=0.01,
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            weight_decay=0.1,
            decoupled=decoupled,
        )
        ops.adam_update(p, g, m, v, **kw)
        R.adam_update(p64, g.astype(np.float64), m64, v64, **kw)
    close(p, p64, dtype, scale=1e3)
    close(m, m64, dtype, scale=10)
    close(v, v64, dtype, scale=10)


def test_optimizer_state_is_never_copied(rng):
    p = randn(rng, (4, 6), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.sgd_update(p[:, ::2], np.ones((4, 3), np.float32), None, lr=0.1)
    with pytest.raises(ValueError, match="step"):
        ops.adam_update(p, p, np.zeros_like(p), np.zeros_like(p), step=0)


# ---- the emulator catches broken kernels ---------------------------------------------------


@pytest.fixture
def schedule():
    """Restores the emulator's default schedule and race detector after a test."""
    yield simt
    simt.set_reverse_schedule(False)
    simt.set_race_check(True)


def _shifted(x):
    return 2 * np.append(x[1:], 0.0).astype(np.float32)


def test_emulator_fixed_kernels_pass(schedule):
    x = np.arange(200, dtype=np.float32)
    want = np.concatenate([np.arange(63, -1, -1), np.arange(127, 63, -1), np.arange(191, 127, -1)])
    for reverse in (False, True):
        schedule.set_reverse_schedule(reverse)
        np.testing.assert_array_equal(simt.selftest("reverse_block", x, 64)[:192], want)
        rot = simt.selftest("rotate_block", x[:64], 64)
        np.testing.assert_array_equal(rot, _shifted(x[:64]))


def test_emulator_missing_syncthreads_reads_poisoned_shared_memory(schedule):
    # Race detector off: the read before the barrier sees the NaN poison of shared memory.
    schedule.set_race_check(False)
    for reverse in (False, True):
        schedule.set_reverse_schedule(reverse)
        bad = simt.selftest("reverse_block_missing_sync", np.arange(200, dtype=np.float32), 64)
        assert np.isnan(bad).any(), "a read before the barrier must see the poison"


def test_emulator_race_detector_flags_missing_syncthreads(schedule):
    x = np.arange(64, dtype=np.float32)
    with pytest.raises(SimtFault, match="uninitialized shared memory|race"):
        simt.selftest("reverse_block_missing_sync", x, 64)
    # A write-after-read race: in most thread orders the result is still right, so only the
    # detector catches it reliably ...
    with pytest.raises(SimtFault, match=r"write after read"):
        simt.selftest("rotate_block_missing_sync", x, 64)
    # ... while the reversed order turns it into a wrong result.
    schedule.set_race_check(False)
    schedule.set_reverse_schedule(True)
    got = simt.selftest("rotate_block_missing_sync", x, 64)
    assert not np.array_equal(got, _shifted(x))


def test_emulator_catches_out_of_bounds_global_access():
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(simt.selftest("scale", x), 2 * x)
    with pytest.raises(SimtFault, match=r"out-of-bounds global access.*thread \(36,0,0\)"):
        simt.selftest("scale_unguarded", x)


def test_emulator_catches_divergent_syncthreads():
    with pytest.raises(SimtFault, match="divergent __syncthreads"):
        simt.selftest("divergent_barrier", np.ones(64, np.float32), 64)


def test_emulator_catches_divergent_warp_shuffle():
    x = np.ones(64, dtype=np.float32)
    np.testing.assert_array_equal(simt.selftest("warp_sum", x)[:2], [32.0, 32.0])
    with pytest.raises(SimtFault, match="deadlock"):
        simt.selftest("warp_sum_divergent", x)


def test_emulator_catches_out_of_bounds_in_a_real_kernel(rng):
    # Launch the production GEMM with m larger than A holds: the checked pointers must fault
    # (not read past the buffer), naming the access.
    a, b = randn(rng, (5, 4), np.float32), randn(rng, (4, 3), np.float32)
    c = np.zeros((9, 3), np.float32)
    with pytest.raises(SimtFault, match="out-of-bounds global access"):
        ops._call(
            "gemm",
            [a, b, c],
            0,
            9,
            3,
            4,
            ops._ptr(a),
            4,
            1,
            ops._ptr(b),
            3,
            1,
            ops._ptr(c),
            3,
            1,
            1.0,
            0.0,
            0,
            0,
            0.0,
            0,
            0,
            0,
            0,
        )


def test_emulator_rejects_unregistered_pointers():
    x = np.ones(8, np.float32)
    with pytest.raises(SimtFault, match="no registered buffer"):
        simt._simt.activation(
            0, 8, x.__array_interface__["data"][0], x.__array_interface__["data"][0], 1, 0.0, 0
        )


# ---- dg.ops -> the device backend ----------------------------------------------------------


class _DeviceArray(np.ndarray):
    """A numpy array that claims to be a device array, so dg.ops routes it to the CUDA
    backend, which the test replaces with the emulator: every call dg.ops makes into the CUDA
    backend (names, arguments, keywords) then runs the CUDA kernels for real."""

    @property
    def __cuda_array_interface__(self):  # only its presence matters to dg.ops
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}


def _dev(x):
    return np.ascontiguousarray(x).view(_DeviceArray)


@pytest.fixture
def device_backend(monkeypatch):
    from deltagrad import _backend

    monkeypatch.setattr(_backend, "cuda_module", lambda: ops)
    return ops


def test_dg_ops_route_device_arrays_to_the_cuda_kernels(rng, device_backend):
    import deltagrad as dg

    x = randn(rng, (9, 33), np.float32)
    t = rng.random((9, 33)).astype(np.float32)
    w, b = randn(rng, (5, 33), np.float32), randn(rng, (5,), np.float32)
    target = rng.integers(0, 33, 9)
    dy = randn(rng, (9, 5), np.float32)
    saved = R.linear_forward(x, w, b, "tanh")[0].astype(np.float32)
    calls = [
        ("matmul", (x, w), {"trans_b": True}),
        ("activation", (x, "gelu"), {}),
        ("activation_backward", (t, x, "softplus"), {}),
        ("softmax", (x,), {}),
        ("log_softmax", (x,), {}),
        ("softmax_backward", (t, x), {}),
        ("log_softmax_backward", (t, x), {}),
        ("softmax_cross_entropy", (x, target, "sum"), {}),
        ("sum_of_squares", (x, t), {}),
        ("mse_loss", (x, t, "none"), {}),
        ("binary_cross_entropy_with_logits", (x, t), {}),
        ("linear_forward", (x, w, b, "tanh"), {}),
        ("linear_backward", (dy, x, w, saved, "tanh"), {}),
        ("sum", (x,), {"axis": 1}),
        ("sum", (x,), {}),
        ("mean", (x,), {"axis": (0, 1), "keepdims": True}),
        ("sum_to_shape", (x, (1, 33)), {}),
    ]
    for name, args, kw in calls:
        dargs = tuple(_dev(a) if isinstance(a, np.ndarray) else a for a in args)
        got = getattr(dg.ops, name)(*dargs, **kw)
        want = getattr(R, name)(*args, **kw)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, wv in zip(got, want):
            if wv is None:
                assert g is None, name
            else:
                close(g, wv, np.float32, scale=100, what=name)
    p, g = randn(rng, (4, 5), np.float32), randn(rng, (4, 5), np.float32)
    dp, buf = _dev(p.copy()), _dev(np.zeros_like(p))
    dg.ops.sgd_update(dp, _dev(g), buf, lr=0.1, momentum=0.9, first_step=True)
    p64, b64 = p.astype(np.float64), np.zeros(p.shape)
    R.sgd_update(p64, g.astype(np.float64), b64, lr=0.1, momentum=0.9, first_step=True)
    close(dp, p64, np.float32)
    m, v = _dev(np.zeros_like(p)), _dev(np.zeros_like(p))
    dg.ops.adam_update(dp, _dev(g), m, v, step=1, lr=0.01)
    R.adam_update(p64, g.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape), step=1, lr=0.01)
    close(dp, p64, np.float32)
