"""Activations forward and backward against deltagrad.reference, on every device (cpu on every
ISA; the CUDA kernels through the SIMT emulator, on small shapes; a real GPU when present) and
dtype."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import (
    DTYPES,
    GPU_RTOL,
    RTOL,
    SPECIALS,
    assert_close,
    call_on,
    sample,
    to_device,
    to_numpy,
)

ACTS = ops.ACTIVATIONS
SHAPES = [(0,), (1,), (7,), (1001,), (3, 5, 17), (70001,)]
SHAPES_BY_DEVICE = {"cpu": SHAPES, "simt": [(0,), (1,), (7,), (3, 5, 17)]}


def _check_forward(x, act, param=0.1, device="cpu"):
    assert_close(
        call_on(device, ops.activation, x, act, param=param),
        ref.activation(x, act, param=param),
        x.dtype,
        name=f"{act}(x)",
    )


def _check_backward(x, act, rng, param=0.1, device="cpu"):
    y = call_on(device, ops.activation, x, act, param=param)
    saved = x if ops.saves_input(act) else y
    dy = sample(rng, x.shape, x.dtype, scale=1.0)
    # near a root of act' (gelu at x ~ -0.75) the result cancels: allow rtol * |dy|
    atol = RTOL[x.dtype.type] * np.abs(dy.astype(np.float64)) * 4
    assert_close(
        call_on(device, ops.activation_backward, dy, saved, act, param=param),
        ref.activation_backward(dy, saved, act, param=param),
        x.dtype,
        atol=atol,
        name=f"{act}'(x)",
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_activation_forward(device, isa, act, dtype, shape, rng):
    _check_forward(sample(rng, shape, dtype, extremes=SPECIALS), act, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.per_device(shape=SHAPES_BY_DEVICE)
def test_activation_backward(device, isa, act, dtype, shape, rng):
    _check_backward(sample(rng, shape, dtype, extremes=SPECIALS), act, rng, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_wide_range(isa, act, dtype):
    # a dense sweep through the tails: sigmoid/tanh saturation, gelu's far negative tail,
    # softplus switching to x
    x = np.concatenate(
        [np.linspace(-120, 120, 24001), -np.logspace(-30, 4, 3001), np.logspace(-30, 4, 3001)]
    ).astype(dtype)
    _check_forward(x, act)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_tanh_at_1000(device, isa, dtype):
    x = np.array([-1000.0, 1000.0, -1e4, 1e4], dtype=dtype)
    np.testing.assert_array_equal(call_on(device, ops.activation, x, "sigmoid"), [0, 1, 0, 1])
    np.testing.assert_array_equal(call_on(device, ops.activation, x, "tanh"), [-1, 1, -1, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kink_and_nan(device, isa, dtype):
    x = np.array([-1.0, -0.0, 0.0, 2.0, np.nan], dtype=dtype)
    y = call_on(device, ops.activation, x, "relu")
    np.testing.assert_array_equal(y[:4], [0, 0, 0, 2])
    assert np.isnan(y[4])
    # torch's threshold_backward: 0 where y <= 0, else dy; a NaN y passes dy through
    np.testing.assert_array_equal(
        call_on(device, ops.activation_backward, np.ones_like(x), y, "relu"), [0, 0, 0, 1, 1]
    )


@pytest.mark.parametrize("act", ["relu", "gelu", "sigmoid"])
def test_in_place_and_views(isa, act, rng):
    x = sample(rng, (9, 13), np.float32)
    want = ref.activation(x, act)
    buf = x.copy()
    assert ops.activation(buf, act, out=buf) is buf
    assert_close(buf, want, np.float32)
    view = x[:, ::2]  # non-contiguous: copied explicitly by ops, never read wrongly
    assert_close(ops.activation(view, act), ref.activation(view, act), np.float32)


def test_reference_has_the_same_activations():
    assert ref.ACTIVATIONS == ops.ACTIVATIONS
    for act in ACTS:
        assert ref.saves_input(act) == ops.saves_input(act), act


@pytest.mark.parametrize("dtype", DTYPES)
def test_silu_extremes(device, isa, dtype):
    tiny = np.finfo(dtype).smallest_subnormal * 3
    x = np.array(
        [-np.inf, -1e30, -1e4, -1000.0, -0.0, 0.0, tiny, -tiny, 1000.0, 1e4, 1e30, np.inf, np.nan],
        dtype=dtype,
    )
    y = call_on(device, ops.activation, x, "silu")
    np.testing.assert_array_equal(y[:6], 0.0)
    assert np.signbit(y[:5]).all()  # -0 from below, not -inf * 0 = NaN at -inf
    np.testing.assert_array_equal(y[6:8], [x[6] / 2, x[7] / 2])  # x * 0.5, one rounding
    np.testing.assert_array_equal(y[8:12], x[8:12])
    assert np.isnan(y[12])
    dx = call_on(device, ops.activation_backward, np.ones_like(x), x, "silu")
    np.testing.assert_array_equal(dx[:12], [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1])
    assert np.isnan(dx[12])


# round 31's activations in float32: (param, forward bound in ulp of the correctly rounded
# result), measured on AVX2 (in brackets: elu 1.00, 1.80 at alpha 0.3; selu 2.71; celu 1.89 at
# alpha 0.7, 4.00 at alpha 3; hardsigmoid 1.33; hardswish 2.43; mish 3.29; logsigmoid 1.51;
# softsign 1.48; relu6 exact)
NEW_ACT_BOUNDS = {
    "elu": (0.3, 3),
    "selu": (0.0, 4),
    "celu": (3.0, 5),
    "relu6": (0.0, 0),
    "hardsigmoid": (0.0, 2),
    "hardswish": (0.0, 3),
    "mish": (0.0, 4),
    "logsigmoid": (0.0, 2),
    "softsign": (0.0, 2),
}


@pytest.mark.parametrize("act", sorted(NEW_ACT_BOUNDS))
def test_new_activations_float32_error_bounds(isa, act):
    """Over every exponent (x > -87.3, where e^x is a normal float; below, results are
    denormal or the limit): the forward within its bound, the backward within 4 ulp of
    max(1, |dx|) (their cancellations -- mish' has a root at -1.19 -- are absolute, and celu's
    e^(x / alpha) carries the rounding of x / alpha times |x / alpha|)."""
    param, bound = NEW_ACT_BOUNDS[act]
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, size=400_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x[np.isfinite(x)], np.linspace(-120, 120, 48001, dtype=np.float32)])
    x = x[x > -87.3]
    want = ref.activation(x, act, param=param)
    got = ops.activation(x, act, param=param).astype(np.float64)
    ok = (np.abs(want) >= np.finfo(np.float32).tiny) & (np.abs(want) < 3e38)
    ulp = np.spacing(np.abs(want[ok]).astype(np.float32)).astype(np.float64)
    assert (np.abs(got[ok] - want[ok]) / ulp).max() <= bound
    saved = x if ops.saves_input(act) else ops.activation(x, act, param=param)
    dy = np.ones_like(x)
    dx = ops.activation_backward(dy, saved, act, param=param).astype(np.float64)
    dwant = ref.activation_backward(dy, saved, act, param=param)
    assert (np.abs(dx - dwant) <= 4 * 2.0**-24 * np.maximum(1, np.abs(dwant))).all()


def test_new_activations_at_the_extremes(device):
    """The limits and NaN: elu family -> -alpha (scaled) at -inf and x at +inf, dx = 0 and 1;
    mish -> -0 and +inf (dx 0 and 1), softsign +-1 (dx 0), logsigmoid -inf and -0, the hard
    ones clamp; NaN gives NaN forward and, as torch's backwards, dy (elu family, hardswish,
    relu6 from y) or 0 (hardsigmoid)."""
    inf = np.inf
    x = np.array([-inf, -1e30, 1e30, inf, np.nan], np.float64)
    cases = {
        "elu": ([-2.0, -2.0, 1e30, inf], [0, 0, 1, 1]),
        "celu": ([-2.0, -2.0, 1e30, inf], [0, 0, 1, 1]),
        "mish": ([-0.0, -0.0, 1e30, inf], [0, 0, 1, 1]),
        "softsign": ([-1, -1, 1, 1], [0, 1e-60, 1e-60, 0]),  # 1e-60: 0 in float32
        "logsigmoid": ([-inf, -1e30, 0, 0], [1, 1, 0, 0]),
        "relu6": ([0, 0, 6, 6], [0, 0, 0, 0]),
        "hardsigmoid": ([0, 0, 1, 1], [0, 0, 0, 0]),
        "hardswish": ([-0.0, -0.0, 1e30, inf], [0, 0, 1, 1]),
    }
    for dt in (np.float32, np.float64):
        xd = x.astype(dt)
        for act, (y_want, dx_want) in cases.items():
            p = 2.0  # elu / celu's alpha
            y = call_on(device, ops.activation, xd, act, param=p)
            np.testing.assert_array_equal(y[:4], np.array(y_want, dt), err_msg=act)
            assert np.isnan(y[4]), act
            if act == "mish":
                assert np.signbit(y[:2]).all()
            saved = xd if ops.saves_input(act) else y
            dx = call_on(device, ops.activation_backward, np.ones_like(xd), saved, act, param=p)
            np.testing.assert_allclose(dx[:4], np.array(dx_want, dt), rtol=1e-15, err_msg=act)
            nan_dx = dx[4]
            if act == "hardsigmoid":
                assert nan_dx == 0, act
            elif act in ("elu", "celu", "relu6", "hardswish"):
                assert nan_dx == 1, act
        sel = call_on(device, ops.activation, xd[:2], "selu")
        np.testing.assert_allclose(sel, -1.0507009873554805 * 1.6732632423543772, rtol=1e-6)
    with pytest.raises(ValueError, match="celu's alpha cannot be 0"):
        call_on(device, ops.activation, x, "celu", param=0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_celu_negative_alpha(device, dtype):
    """celu with alpha < 0 (torch allows it): x / alpha >= 0 on the negative side, so expm1 and
    exp run on positive arguments up to overflow (-inf and +inf beyond x = -44.4 at alpha
    -0.5 in float32, where e^(x / alpha) overflows). Relative error: the rounding of x / alpha
    times |x / alpha|."""
    x = np.concatenate([np.linspace(-60, 5, 6501), [-np.inf, np.inf, np.nan]]).astype(dtype)
    p = -0.5
    y = call_on(device, ops.activation, x, "celu", param=p).astype(np.float64)
    want = ref.activation(x, "celu", param=p)
    dx = call_on(device, ops.activation_backward, np.ones_like(x), x, "celu", param=p)
    dwant = ref.activation_backward(np.ones_like(x), x, "celu", param=p)
    tol = 4 * np.finfo(dtype).eps * (4 + np.abs(x.astype(np.float64) / p))
    for got, exp in ((y, want), (dx.astype(np.float64), dwant)):
        # expm1 / exp itself (before the factor alpha) within range; beyond, inf (as torch)
        fin = np.isfinite(exp) & (np.abs(exp / p) < np.finfo(dtype).max) & ~np.isnan(x)
        assert (np.abs(got[fin] - exp[fin]) <= tol[fin] * np.abs(exp[fin])).all()
    assert y[-3] == -np.inf and dx[-3] == np.inf  # x = -inf: alpha e^inf, 1 / alpha alpha e^inf
    assert np.isnan(y[-1]) and dx[-1] == 1  # NaN x: NaN, and dy passes (torch's elu_backward)


def test_silu_float32_error_bound(isa):
    """x sigmoid(x) in float32 over every exponent: <= 5 ulp of the correctly rounded result
    where sigmoid(x) is a normal float (x > -87.33); below that sigmoid(x) is denormal and the
    error is that of a denormal times |x|. The backward s + x s (1 - s) is within 8 eps of the
    size of its terms (it cancels near x = -1.278, the minimum of silu)."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, size=400_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x[np.isfinite(x)], np.linspace(-120, 120, 48001, dtype=np.float32)])
    x64 = x.astype(np.float64)
    want = ref.activation(x, "silu")
    got = ops.activation(x, "silu").astype(np.float64)
    tiny = float(np.finfo(np.float32).tiny)
    normal = (x > -87.33) & (np.abs(want) >= tiny)
    ulp = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
    assert (np.abs(got[normal] - want[normal]) / ulp).max() <= 5
    rest = ~normal
    err = np.abs(got[rest] - want[rest])
    assert (err <= 2 * np.maximum(np.abs(x64[rest]), 1) * 2.0**-149).all()
    with np.errstate(over="ignore"):
        s, sc = 1 / (1 + np.exp(-x64)), 1 / (1 + np.exp(x64))
    size = s + np.abs(x64) * s * sc
    dx = ops.activation_backward(np.ones_like(x), x, "silu").astype(np.float64)
    dwant = ref.activation_backward(np.ones_like(x), x, "silu")
    err = np.abs(dx - dwant)
    assert (err[x > -87.33] <= 8 * 2.0**-24 * size[x > -87.33] + 2 * tiny).all()
    assert (err[x <= -87.33] <= 2 * np.abs(x64[x <= -87.33]) * 2.0**-149).all()


def test_bad_inputs():
    x = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        ops.activation(np.zeros(4, np.int64), "relu")
    with pytest.raises(TypeError, match="float16"):
        ops.activation(np.zeros(4, np.float16), "relu")
    with pytest.raises(ValueError, match="act: expected one of"):
        ops.activation(x, "squareplus")
    with pytest.raises(ValueError, match=r"out: expected shape \(4,\), got \(5,\)"):
        ops.activation(x, "relu", out=np.zeros(5, np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        ops.activation(x, "relu", out=np.zeros(4, np.float64))
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ops.activation(x, "relu", out=ro)
    big = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        ops.activation(big[:4], "relu", out=big[2:6])
    with pytest.raises(ValueError, match=r"saved: expected shape \(4,\), got \(3,\)"):
        ops.activation_backward(x, np.zeros(3, np.float32), "relu")
    with pytest.raises(TypeError, match="saved: expected dtype float32"):
        ops.activation_backward(x, np.zeros(4), "relu")


def test_large_arrays_use_threads_and_match(rng):
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        x = sample(rng, (300001,), np.float32)
        _check_forward(x, "gelu")
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "sigmoid", "softplus"])
def test_large_outputs_streamed_and_misaligned(isa, act, dtype, rng):
    # >= 16 MiB outputs take the non-temporal store path; offsets of a few elements make the
    # arrays misaligned so the alignment peel and the tail both run
    n = (16 << 20) // np.dtype(dtype).itemsize + 37
    base = sample(rng, (n + 3,), dtype)
    x = base[3:]
    out = np.empty(n + 1, dtype)[1:]
    ops.activation(x, act, out=out)
    assert_close(out, ref.activation(x, act), dtype, name=f"{act}(x) streamed")
    dx = np.empty(n + 1, dtype)[1:]
    saved = x if ops.saves_input(act) else out
    ops.activation_backward(x, saved, act, out=dx)
    atol = RTOL[dtype] * np.abs(x.astype(np.float64))
    assert_close(dx, ref.activation_backward(x, saved, act), dtype, atol=atol * 4)


def _with_rare_lanes(rng, n, every=67):
    """N(0, 16) float32 with a lane every ~`every` elements that sends a vector down a rare
    path of the vector math: exp's underflow and overflow, gelu's |x| > 13, NaN, +-inf."""
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    pos = rng.choice(n, max(1, n // every), replace=False)
    rare = [-1000, -120, -104.5, -90, -87, -86.2, -20, -13.5, 13.5, 20, 88.5, 89.5, 1000]
    x[pos] = rng.choice(np.float32([*rare, np.nan, np.inf, -np.inf]), pos.size)
    return x


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh", "sigmoid", "silu"])
def test_forward_block_order_alternates_between_calls(isa, act, rng):
    # cached ranges of >= 64K elements run their blocks last to first on every other call
    # (activation.h): consecutive calls, misaligned, with a partial block, give the same bits,
    # also where a few lanes take the vector math's rare paths (the blocks group the lanes into
    # vectors differently: stop 32's CI caught gelu's differing)
    n = 16 * 4096 + 4096 * 3 + 37
    x = _with_rare_lanes(rng, n + 1, every=997)[1:]
    outs = [np.empty(n, np.float32) for _ in range(3)]
    for out in outs:
        ops.activation(x, act, out=out)
    assert_close(outs[0], ref.activation(x, act), np.float32, name=f"{act}(x)")
    for out in outs[1:]:
        assert_same_bits(out, outs[0], f"{act}, consecutive calls")


def _lane_by_lane(f, *arrays):
    """f over each element alone (a one-lane tail: no other lane in its vector)."""
    return np.concatenate([f(*(a[i : i + 1] for a in arrays)) for i in range(arrays[0].size)])


def assert_same_bits(got, want, msg=""):
    """Bit for bit, except that a NaN's sign and payload are free (the compiler's scalar and
    vector code make NaNs from inf * 0 with different signs)."""
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{msg}: NaN positions")
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32), msg)


@pytest.mark.parametrize("act", ACTS)
def test_each_lane_independent_of_its_vector_mates(isa, act):
    """A lane's result depends on its own element only, not on which elements share its vector:
    that moves with the input's and the output's alignment, the thread count and the block
    order, so two calls over the same data could differ in the last bits (stop 32's CI: the
    AVX2 gelu sent a whole vector to its general path when one lane had |x| > 13). Every
    element of an array with rare lanes sprinkled in, forward and backward, at every input and
    output offset within a vector, bit for bit against the element computed alone."""
    rng = np.random.default_rng(5)
    n = 1031
    x = _with_rare_lanes(rng, n + 16, every=23)
    dy = (rng.standard_normal(n + 16) * 2).astype(np.float32)
    alone = _lane_by_lane(lambda v: ops.activation(v, act, param=0.1), x)
    saved = x if ops.saves_input(act) else alone
    dalone = _lane_by_lane(lambda d, s: ops.activation_backward(d, s, act, param=0.1), dy, saved)
    for off_in in range(16):
        for off_out in (0, 1, 3, 8):
            sl = slice(off_in, off_in + n)
            out = np.empty(n + off_out, np.float32)[off_out:]
            ops.activation(x[sl], act, param=0.1, out=out)
            assert_same_bits(out, alone[sl], f"{act} at offsets {off_in}, {off_out}")
            ops.activation_backward(dy[sl], saved[sl], act, param=0.1, out=out)
            assert_same_bits(out, dalone[sl], f"{act}' at offsets {off_in}, {off_out}")


# ---- odd 2-D shapes at the GPU tolerance (the CUDA kernels' launch paths) ----------------------


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_2d(device, rng, act, dtype):
    x = (3 * rng.standard_normal((37, 23))).astype(dtype)
    x[0, :4] = [0.0, -0.0, 30.0, -30.0]
    got = call_on(device, ops.activation, x, act, param=0.02)
    want = ref.activation(x, act, param=0.02)
    assert_close(got, want, dtype, rtol=GPU_RTOL, scale=1, equal_nan=False, name=act)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_2d(device, rng, act, dtype):
    x = (2 * rng.standard_normal((29, 31))).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    y = call_on(device, ops.activation, x, act, param=0.02)
    saved = x if ops.saves_input(act) else y
    got = call_on(device, ops.activation_backward, dy, saved, act, param=0.02)
    want = ref.activation_backward(dy, saved, act, param=0.02)
    assert_close(got, want, dtype, rtol=GPU_RTOL, scale=10, equal_nan=False, name=act)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_specials(device, act, dtype):
    """Infinities, NaN, huge and signed-zero inputs: the same specials as the reference."""
    x = np.array([s for s in SPECIALS if not 0 < abs(s) < 1e-30], dtype=dtype)  # no denormals
    y = call_on(device, ops.activation, x, act, param=0.02)
    want = ref.activation(x, act, param=0.02)
    if dtype == np.float32:  # the reference computes in float64: round like the kernel does
        want = want.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want), err_msg=act)
    fin = np.isfinite(want)
    np.testing.assert_array_equal(y[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    assert_close(y[fin], want[fin], dtype, rtol=GPU_RTOL, scale=1, equal_nan=False, name=act)
    saved = x if ref.saves_input(act) else y
    dy = np.ones_like(x)
    dx = call_on(device, ops.activation_backward, dy, saved, act, param=0.02)
    dwant = ref.activation_backward(dy, saved, act, param=0.02)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(dwant), err_msg=f"{act} backward")
    ok = ~np.isnan(dwant)
    assert_close(dx[ok], dwant[ok], dtype, rtol=GPU_RTOL, scale=1, equal_nan=False)


def test_relu_kink_in_place_and_bad_name(device):
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    y = call_on(device, ops.activation, x, "relu")
    dx = call_on(device, ops.activation_backward, np.ones(3, np.float32), y, "relu")
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0])
    xd = to_device(x, device)
    ops.activation(xd, "relu", out=xd)
    np.testing.assert_array_equal(to_numpy(xd), [0.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="act"):
        ops.activation(xd, "squareplus")


def test_every_compiled_module_exports_the_one_vocabulary():
    """_cpu, _simt and _cuda export the name lists of csrc/common/op_names.h (index == the
    kernels' code), and dg.ops derives its own from them."""
    import importlib

    names = ("ACTIVATIONS", "SAVES_INPUT", "LOSSES", "REDUCTIONS")
    mods = []
    for name in ("_cpu", "_simt", "_cuda"):
        try:
            mods.append(importlib.import_module(f"deltagrad.{name}"))
        except ImportError:
            assert name != "_cpu"
    cpu = mods[0]
    for m in mods[1:]:
        for attr in names:
            assert getattr(m, attr) == getattr(cpu, attr), (m.__name__, attr)
    assert tuple(cpu.ACTIVATIONS) == ops.ACTIVATIONS
    assert set(cpu.SAVES_INPUT) == {a for a in ops.ACTIVATIONS if ops.saves_input(a)}
    assert set(cpu.SAVES_INPUT) < set(cpu.ACTIVATIONS) and cpu.ACTIVATIONS[0] == "identity"
    assert tuple(cpu.REDUCTIONS) == ("mean", "sum", "none")
    assert tuple(cpu.LOSSES) == ("sum_of_squares", "mse", "bce", "bce_with_logits")


# ---- the float32 gelu kernel (issue 18): its error bound and its crossovers --------------------


def _gelu_ulp_check(x):
    """Max error of the float32 gelu over x, in ulp of the correctly rounded result where that
    is a normal float; where it is not, the error in denormal steps."""
    want = ref.activation(x.astype(np.float64), "gelu")
    got = ops.activation(x, "gelu").astype(np.float64)
    tiny = float(np.finfo(np.float32).tiny)
    normal = np.abs(want) >= tiny
    ulp = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[normal] - want[normal]) / ulp
    sub_err = np.abs(got[~normal] - want[~normal]) / 2.0**-149
    return err.max(initial=0.0), sub_err.max(initial=0.0)


def test_gelu_float32_error_bound(isa):
    """gelu = max(x, -0) - |x| exp(-x^2/2) R(|x|) (simd_math.h vgelu): <= 8 ulp wherever the
    result is normal (x > -13.2), within 3 denormal steps below, over every exponent."""
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**32, size=400_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x[np.isfinite(x)], np.linspace(-16, 16, 64001, dtype=np.float32)])
    err, sub_err = _gelu_ulp_check(x)
    assert err <= 8, err
    assert sub_err <= 3, sub_err


def test_gelu_float32_error_bound_every_float_near_the_worst(isa):
    """Every float32 in windows around the largest errors an exhaustive sweep over all float32
    found (issue 18, round 4: the table-driven exp and the once-rounded reciprocal), where a
    random sample rarely lands on the worst input."""
    xs = []
    for c in (
        -0.3399,
        -0.3313,
        -0.1400,
        -0.1393,
        -0.9630,
        -1.3159,
        -2.1931,
        -4.5055,
        -9.1740,
        -12.4979,
        -6.2127,  # round 6 (AVX-512, the piecewise R)
        -11.8781,  # round 6 (AVX-512, and the 32-entry exp table): 4.76 ulp
        0.1082,
        0.1144,
    ):
        b = np.array([c], np.float32).view(np.int32)[0]
        xs.append((np.arange(b - 40_000, b + 40_000, dtype=np.int32)).view(np.float32))
    err, sub_err = _gelu_ulp_check(np.concatenate(xs))
    assert err <= 8, err
    assert sub_err <= 3, sub_err


def test_gelu_float32_crossovers(isa):
    """The kernel's split points, swept densely and mixed into vectors of ordinary values:
    |x| = 13.19 (on AVX2 the vector leaves exp's exponent-field fast path: exp(-x^2/2) turns
    denormal), 14.5 (|x| is clamped: the tail term rounds to 0 beyond), 0 (the sign of the
    result); and +-inf, NaN and +-0 exactly."""
    edges = np.concatenate(
        [
            np.linspace(c - 0.05, c + 0.05, 2001, dtype=np.float32)
            for c in (-14.5, -13.19, -13.2, 13.19, 14.5)
        ]
    )
    edges = np.concatenate([edges, np.linspace(-1e-3, 1e-3, 2001, dtype=np.float32)])
    # AVX-512's R switches polynomial at |x| = k/2 + 1/4 (round(2|x|), ties to even)
    cuts = np.arange(30) / 2 + 0.25
    edges = np.concatenate(
        [edges] + [np.linspace(c - 1e-4, c + 1e-4, 101, dtype=np.float32) for c in cuts]
    )
    edges = np.concatenate([edges, -edges])
    rng = np.random.default_rng(6)
    mixed = (rng.standard_normal(20_003) * 3).astype(np.float32)
    odd = rng.integers(0, mixed.size, 2000)
    mixed[odd] = rng.choice(np.array([-13.5, -14.6, -13.19, 13.3, 20.0], np.float32), 2000)
    for x in (edges, mixed):
        err, sub_err = _gelu_ulp_check(x)
        assert err <= 8 and sub_err <= 3, (err, sub_err)
    s = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, -1e30, 1e30], np.float32)
    y = np.concatenate([ops.activation(s, "gelu"), ops.activation(np.tile(s, 3), "gelu")[:7]])
    for got in (y[:7], y[7:]):
        assert got[0] == np.inf and np.isnan(got[1]) and np.isnan(got[2])  # x Phi(x) at -inf
        assert got[3] == 0 and not np.signbit(got[3]) and got[4] == 0 and np.signbit(got[4])
        assert got[5] == 0 and np.signbit(got[5]) and got[6] == np.float32(1e30)


def _gelu_ulp(x, got):
    want = ref.activation(x.astype(np.float64), "gelu")
    got = got.astype(np.float64)
    normal = np.abs(want) >= float(np.finfo(np.float32).tiny)
    ulp = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
    return (np.abs(got[normal] - want[normal]) / ulp).max(initial=0.0)


def test_gelu_float32_short_and_general_paths(isa):
    """gelu9 (issue 18, round 9): on AVX2 the lanes with |x| <= 13 take a short path (R = P/Q,
    no clamps, no underflow test), the others the general path. The same inputs alone and in
    vectors where another lane takes the general path: the same bits (before stop 32 the whole
    vector went the general way), within 8 ulp; the split at |x| = 13; +-0 and tiny inputs in
    the short path; sizes 0, 1 and odd."""
    rng = np.random.default_rng(9)
    edge = np.float32([13.0, np.nextafter(np.float32(13), np.float32(0)), 12.5, 1e-30, 1e-45])
    x = np.concatenate(
        [
            np.linspace(-13, 13, 80_001, dtype=np.float32),
            np.clip(rng.standard_normal(40_001) * 3, -13, 13).astype(np.float32),
            edge,
            -edge,
            np.float32([0.0, -0.0]),
        ]
    )
    short = ops.activation(x, "gelu")
    # one 20.0 in every 8 consecutive elements: every vector takes the general path
    rows = np.concatenate([x, np.zeros((-x.size) % 7, np.float32)]).reshape(-1, 7)
    mixed = np.hstack([rows, np.full((rows.shape[0], 1), 20.0, np.float32)]).ravel()
    general = ops.activation(mixed, "gelu").reshape(-1, 8)[:, :7].ravel()[: x.size]
    assert ops.activation(mixed, "gelu").reshape(-1, 8)[:, 7].tolist() == [20.0] * rows.shape[0]
    np.testing.assert_array_equal(general.view(np.uint32), short.view(np.uint32))
    for got in (short, general):
        assert _gelu_ulp(x, got) <= 8
        assert np.array_equal(np.signbit(got), np.signbit(x))  # -0 for -0, < 0 for tiny x < 0
        assert got[-2:].tolist() == [0.0, 0.0] and np.signbit(got[-1])  # +0, -0
    # the split: vectors straddling |x| = 13
    for c in (13.0, -13.0):
        s = np.linspace(c - 0.01, c + 0.01, 4001, dtype=np.float32)
        assert _gelu_ulp(s, ops.activation(s, "gelu")) <= 8
    for n in (0, 1, 3, 7, 9, 15, 17, 33):
        s = (rng.standard_normal(n) * 3).astype(np.float32)
        got = ops.activation(s, "gelu")
        assert got.shape == (n,) and _gelu_ulp(s, got) <= 8


# ---- the float32 tanh kernel (issue 18, round 5): its split points --------------------------


def test_tanh_float32_reduction_edges_and_saturation(isa):
    """tanh = expm1(2h) / (expm1(2h) + 2), h = min(|x|, 9.5), h = q ln2/2 + s with one constant
    for ln2/2 and a quotient rounded once (simd_math.h vtanh): <= 4 ulp (the documented bound)
    every float32 around each switch of q (h = (q + 1/2) ln2/2), around 9.02 (tanh rounds to 1
    beyond) and the clamp at 9.5, for both signs; never above 1; +-inf, NaN, +-0 exactly."""
    centers = (np.arange(27) + 0.5) * np.log(2) / 2
    xs = [
        (np.arange(b - 600, b + 600, dtype=np.int32)).view(np.float32)
        for b in np.array([*centers, 9.0109, 9.5], np.float32).view(np.int32)
    ]
    x = np.concatenate(xs)
    x = np.concatenate([x, -x])
    got = ops.activation(x, "tanh").astype(np.float64)
    want = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    err = np.abs(got - want) / ulp
    assert err.max() <= 4, (err.max(), x[np.argmax(err)])
    assert np.abs(got).max() <= 1.0
    s = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    y = ops.activation(np.tile(s, 4), "tanh")[:5]
    assert y[0] == 1 and y[1] == -1 and np.isnan(y[2]), y
    assert y[3] == 0 and not np.signbit(y[3]) and y[4] == 0 and np.signbit(y[4]), y
