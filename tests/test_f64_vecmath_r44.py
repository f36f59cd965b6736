"""float64 exp, log and log1p of the CPU kernels (round 44: vector code on AVX2 / AVX-512, libm
on the generic build) over their whole range, and the float64 activations, softmax and
logsumexp built on them: the maximum error in ulp of the exact result (NumPy's long double,
64-bit significand, as the reference) asserted against the bound documented in
csrc/cpu/simd_math.h ("---- float64"), edges bit for bit, at every ISA (the `isa` fixture)."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import _cpu, ops

if np.finfo(np.longdouble).nmant < 63:  # pragma: no cover - x86-64 Linux has the 80-bit type
    pytest.skip("needs NumPy's 80-bit long double as the reference", allow_module_level=True)

BOUND = 1.0  # ulp, csrc/cpu/simd_math.h: vexp, vlog, vlog1p (float64)
LD = np.longdouble
TINY = np.finfo(np.float64).tiny
REF = {"exp": np.exp, "log": np.log, "log1p": np.log1p}


def _ulp(w):
    """The spacing of float64 at the exact value w (long double): 2^(e - 53) for
    |w| in [2^(e-1), 2^e), at least the smallest denormal."""
    _, e = np.frexp(np.abs(w))
    with np.errstate(under="ignore"):
        u = np.ldexp(1.0, e.astype(np.int64) - 53)
    return np.maximum(u, 5e-324)


def _errors(got, want):
    """got's error in ulp of the exact want where want rounds to a finite nonzero float64."""
    with np.errstate(all="ignore"):
        w64 = want.astype(np.float64)
    ok = np.isfinite(w64) & (w64 != 0)
    err = np.abs(got[ok].astype(LD) - want[ok]) / _ulp(want[ok]).astype(LD)
    return err.astype(np.float64), ok


def _inputs(fn, n, seed):
    rng = np.random.default_rng(seed)
    if fn == "exp":  # the whole range, plus a dense look at the small arguments
        return np.concatenate([rng.uniform(-745.2, 709.8, n), rng.standard_normal(n // 8)])
    bits = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    x = bits.view(np.float64)  # positive doubles, every exponent, denormals
    x = x[np.isfinite(x)]
    if fn == "log":
        return np.concatenate([x, rng.uniform(0.5, 2.0, n // 8)])
    # log1p: also (-1, 1), tiny negatives, and the region near -1
    return np.concatenate(
        [
            x,
            rng.uniform(-1, 1, n // 4),
            -np.ldexp(rng.uniform(0.5, 1, n // 8), -rng.integers(1, 1075, n // 8)),
            -1 + np.ldexp(rng.uniform(0.5, 1, n // 16), -rng.integers(1, 53, n // 16)),
        ]
    )


EDGES = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
        5e-324,
        1e-310,
        TINY,
        1e-300,
        -1e-300,
        1e-17,
        -1e-17,
        0.34657359027997264,
        -0.34657359027997264,
        709.78,
        709.782712893384,
        -708.0,
        -708.3964185322641,
        -708.4,
        -745.13,
        -745.1332191019411,
        -744.44,
        -1.0 + 2**-53,
        -0.9999,
        1.7976931348623157e308,
    ]
)


@pytest.mark.parametrize("fn", ["exp", "log", "log1p"])
def test_float64_max_ulp_error(isa, fn):
    x = np.concatenate([_inputs(fn, 1_000_000, seed=44), EDGES])
    if fn != "exp":
        x = x[x >= (0 if fn == "log" else -1)]
    got = _cpu.math_fn(x, fn)
    with np.errstate(all="ignore"):
        want = REF[fn](x.astype(LD))
    err, ok = _errors(got, want)
    normal = np.abs(want[ok]) >= TINY
    worst = int(np.argmax(np.where(normal, err, 0)))
    assert err[normal].max() <= BOUND, (
        f"{fn} ({isa}): {err[worst]:.3f} ulp at x={x[ok][worst]!r} (bound {BOUND})"
    )
    # denormal results (exp below -708.4): within one denormal step
    assert np.all(err[~normal] <= 1.0), f"{fn} ({isa}): denormal results off"
    # results that round to 0 or overflow: exactly, with the sign
    with np.errstate(over="ignore"):
        w64 = want.astype(np.float64)
    special = ~ok | (w64 == 0) | np.isinf(w64)
    np.testing.assert_array_equal(got[special], w64[special])
    assert np.array_equal(np.signbit(got[special]), np.signbit(w64[special]))


def test_float64_edges_bit_for_bit(isa):
    inf, nan = np.inf, np.nan
    cases = {
        "exp": [-inf, inf, nan, 709.79, 710.0, 1e308, -745.14, -746.0, -1e308, 0.0, -0.0],
        "log": [0.0, -0.0, -1.0, -5e-324, -inf, inf, nan, 5e-324, 1.0, 1.7976931348623157e308],
        "log1p": [-1.0, -1.5, -inf, inf, nan, 0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e300],
    }
    for fn, vals in cases.items():
        x = np.array(vals)
        with np.errstate(all="ignore"):
            want = REF[fn](x)
        got = _cpu.math_fn(x, fn)
        np.testing.assert_array_equal(got, want, err_msg=f"{fn} ({isa})")
        num = ~np.isnan(want)  # a NaN's sign is not specified (x86 libm gives -nan)
        assert np.array_equal(np.signbit(got[num]), np.signbit(want[num])), (fn, isa, got)
        # the same values at every position of a vector, mixed with ordinary ones
        for off in range(8):
            y = np.full(off + x.size + 5, 0.3)
            y[off : off + x.size] = x
            g = _cpu.math_fn(y, fn)[off : off + x.size]
            np.testing.assert_array_equal(g, want, err_msg=f"{fn} ({isa}) offset {off}")


@pytest.mark.parametrize("fn", ["exp", "log", "log1p"])
def test_float64_each_lane_independent_of_its_vector_mates(isa, fn):
    """AVX2's exp adds 2^n to the exponent field when every lane of a vector has a normal
    result, else takes two exact factors: each element's bits are its own at every offset."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(301) * 200
    rare = np.array([-708.2, -708.5, -720.0, -745.5, 709.5, 709.9, 1e10, np.nan, np.inf, -np.inf])
    x[rng.choice(x.size, 40, replace=False)] = rng.choice(rare, 40)
    if fn != "exp":
        x = np.abs(x)
    alone = np.concatenate([_cpu.math_fn(x[i : i + 1], fn) for i in range(x.size)])
    for off in range(8):
        np.testing.assert_array_equal(_cpu.math_fn(x[off:], fn), alone[off:], err_msg=str(off))


def _act_ref(act, x):
    x = x.astype(LD)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        if act == "sigmoid":
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if act == "logsigmoid":
            return np.minimum(x, 0) - np.log1p(e)
        if act == "softplus":
            return np.maximum(x, 0) + np.log1p(e)
        if act == "silu":
            return x * np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return np.tanh(x)


# measured (round 44, AVX-512 / AVX2 / generic) well under these; libm's path meets them too
ACT_BOUNDS = {"sigmoid": 3, "logsigmoid": 3, "softplus": 3, "silu": 4, "tanh": 3}


@pytest.mark.parametrize("act", sorted(ACT_BOUNDS))
def test_float64_activations_ulp(isa, act):
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            rng.standard_normal(200_003) * 8,
            rng.uniform(-760, 760, 50_000),
            np.linspace(-40, 40, 20_001),
            [0.0, -0.0, 1e-300, -1e-300, 36.0, -36.0, 709.0, -709.0, 745.0, -745.0],
        ]
    )
    got = ops.activation(x, act)
    want = _act_ref(act, x)
    err, ok = _errors(got, want)
    normal = np.abs(want[ok]) >= TINY
    if act == "silu":  # x sigmoid(x) with sigmoid(x) denormal: within |x| denormal steps
        far = np.abs(x[ok]) > 708
        assert np.all(np.abs(got[ok][far] - want[ok][far]) <= np.abs(x[ok][far]) * 5e-324), act
        normal &= ~far
    assert err[normal].max() <= ACT_BOUNDS[act], (
        f"{act} ({isa}): {err[normal].max():.2f} ulp at x={x[ok][normal][np.argmax(err[normal])]}"
    )
    # underflowed and saturated results: within a denormal step of the exact value
    with np.errstate(over="ignore"):
        w64 = want.astype(np.float64)
    sat = np.isfinite(w64) & ~(np.abs(want) >= TINY)
    tol = 1e-323 + (np.abs(x[sat]) * 5e-324 if act == "silu" else 0)
    assert np.all(np.abs(got[sat] - w64[sat]) <= tol), act
    for special, exp_val in ((np.inf, _act_ref(act, np.array([np.inf]))), (np.nan, None)):
        y = ops.activation(np.array([special, 0.5]), act)
        if exp_val is None:
            assert np.isnan(y[0]), (act, y)
        else:
            np.testing.assert_array_equal(y[:1], exp_val.astype(np.float64))


@pytest.mark.parametrize("shape", [(7, 1), (3, 1001), (1, 0), (2, 4097)])
def test_float64_softmax_log_softmax_logsumexp(isa, shape):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape) * rng.choice([1.0, 30.0, 300.0], size=(shape[0], 1))
    if x.size:
        x[0, 0] = 700.0  # a row whose max would overflow exp without the subtraction
    xl = x.astype(LD)
    with np.errstate(all="ignore"):
        m = xl.max(axis=-1, keepdims=True) if x.size else np.zeros((shape[0], 1), LD)
        lse = m + np.log(np.exp(xl - m).sum(axis=-1, keepdims=True))
    sm = ops.softmax(x)
    lsm = ops.log_softmax(x)
    got_lse = ops.logsumexp(x)
    assert sm.dtype == lsm.dtype == np.float64 and sm.shape == shape
    # each element: its exp rounded within 1 ulp, the sum with n additions (rel n eps)
    n = max(shape[1], 1)
    tol = (4 + n) * 2.0**-52
    want_sm = np.exp(xl - lse)
    big = want_sm >= TINY
    rel = np.abs(sm[big] - want_sm[big]) / want_sm[big]
    assert rel.size == 0 or rel.max() <= tol, (shape, float(rel.max()))
    np.testing.assert_allclose(lsm, (xl - lse).astype(np.float64), rtol=tol, atol=tol * 800)
    np.testing.assert_allclose(
        got_lse, lse[..., 0].astype(np.float64), rtol=tol, atol=tol if shape[1] else 0
    )
