"""float64 expm1, tanh and erf of the CPU kernels (round 45: vector code on AVX2 / AVX-512,
libm on the generic build) over their whole range, through what routes to them: the tanh
activation, the elu family (expm1 of x <= 0) and _cpu.math_fn's tanh / erf. The maximum error
in ulp is asserted against the bounds documented in csrc/cpu/simd_math.h ("---- float64"):
tanh and expm1 against NumPy's long double (64-bit significand), erf against libm's float64
math.erf; edges bit for bit, each lane's result independent of its vector mates, at every ISA
(the `isa` fixture)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltagrad import _cpu, ops

if np.finfo(np.longdouble).nmant < 63:  # pragma: no cover - x86-64 Linux has the 80-bit type
    pytest.skip("needs NumPy's 80-bit long double as the reference", allow_module_level=True)

LD = np.longdouble
TINY = np.finfo(np.float64).tiny
# ulp, csrc/cpu/simd_math.h (float64 vexpm1, vtanh, verf: AVX2 / AVX-512); the generic build
# calls libm, whose tanh is off by up to ~2.1 ulp here (glibc documents 2)
BOUND = {"tanh": 1.5, "expm1": 1.5, "erf": 2.0}
LIBM_BOUND = {"tanh": 2.5, "expm1": 1.5, "erf": 2.0}
_ERF = np.frompyfunc(math.erf, 1, 1)


def _ulp(w):
    """The spacing of float64 at the exact value w: 2^(e - 53) for |w| in [2^(e-1), 2^e), at
    least the smallest denormal."""
    _, e = np.frexp(np.abs(w))
    with np.errstate(under="ignore"):
        u = np.ldexp(1.0, e.astype(np.int64) - 53)
    return np.maximum(u, 5e-324)


def _log_uniform(rng, n, lo, hi):
    """+-2^U(lo, hi): every exponent in range, both signs, denormals where lo < -1022."""
    with np.errstate(under="ignore"):
        x = np.ldexp(rng.uniform(1, 2, n), rng.integers(lo, hi, n))
    return np.where(rng.random(n) < 0.5, -x, x)


def _inputs(fn, n, seed):
    rng = np.random.default_rng(seed)
    if fn == "tanh":
        parts = [rng.uniform(-1, 1, n), rng.uniform(-25, 25, n), _log_uniform(rng, n, -1074, 6)]
    elif fn == "expm1":  # the elu family's range: x <= 0
        parts = [
            rng.uniform(-0.4, 0, n),
            rng.uniform(-40, 0, n),
            rng.uniform(-750, 0, n // 4),
            -np.abs(_log_uniform(rng, n, -1074, 10)),
        ]
    else:
        parts = [
            rng.uniform(-1, 1, n),
            rng.uniform(0.8, 1.3, n),
            rng.uniform(1, 3, n),
            rng.uniform(-7, 7, n),
            _log_uniform(rng, n, -1074, 4),
        ]
    return np.concatenate(parts)


EDGES = np.array(
    [0.0, -0.0, 5e-324, -5e-324, 1e-310, TINY, -TINY, 1e-300, 1e-17, -1e-17, 1e-10, -1e-10]
    + [0.34657359027997264, -0.34657359027997264, 0.5, -0.5, 1.0, -1.0, 1.5, 2.25, 3.5, 5.92]
    + [-5.92, 6.0, -6.0, 19.06, -19.06, 19.1, 22.5, -37.4, -37.5, -38.0, -45.0, -46.0, -745.0]
)


def _run(fn, x):
    if fn == "tanh":
        return ops.activation(x, "tanh")
    if fn == "expm1":
        return ops.activation(x, "elu", param=1.0)  # alpha expm1(x) for x < 0, alpha = 1
    return _cpu.math_fn(x, "erf")


def _want(fn, x):
    """The reference (long double for tanh / expm1, libm's float64 for erf)."""
    with np.errstate(all="ignore"):
        if fn == "tanh":
            return np.tanh(x.astype(LD))
        if fn == "expm1":
            return np.expm1(x.astype(LD))
    return _ERF(x).astype(np.float64).astype(LD)


@pytest.mark.parametrize("fn", sorted(BOUND))
def test_float64_max_ulp_error(isa, fn):
    x = np.concatenate([_inputs(fn, 150_000, seed=45), EDGES])
    if fn == "expm1":
        x = x[x <= 0]
    got = _run(fn, x)
    assert got.dtype == np.float64 and got.shape == x.shape
    want = _want(fn, x)
    with np.errstate(all="ignore"):
        w64 = want.astype(np.float64)
    ok = np.isfinite(w64) & (w64 != 0)
    err = (np.abs(got[ok].astype(LD) - want[ok]) / _ulp(want[ok]).astype(LD)).astype(np.float64)
    normal = np.abs(want[ok]) >= TINY
    worst = int(np.argmax(np.where(normal, err, 0)))
    bound = (LIBM_BOUND if isa == "generic" else BOUND)[fn]
    assert err[normal].max() <= bound, (
        f"{fn} ({isa}): {err[worst]:.3f} ulp at x={x[ok][worst]!r} (bound {bound})"
    )
    # denormal results (tiny x): within one denormal step
    assert np.all(err[~normal] <= 1.0), f"{fn} ({isa}): denormal results off"
    # zeros, with their sign
    zero = w64 == 0
    np.testing.assert_array_equal(got[zero], w64[zero])
    assert np.array_equal(np.signbit(got[zero]), np.signbit(w64[zero])), (fn, isa)


def test_float64_edges_bit_for_bit(isa):
    inf, nan = np.inf, np.nan
    cases = {
        "tanh": [0.0, -0.0, inf, -inf, nan, 5e-324, -5e-324, 1e-300, -1e-300, 25.0, -25.0, 1e300],
        "erf": [0.0, -0.0, inf, -inf, nan, 5e-324, -5e-324, 6.0, -6.0, 10.0, -27.0, 1e300],
        "expm1": [0.0, -0.0, -inf, nan, -5e-324, -1e-300, -40.0, -745.0, -1e300],
    }
    for fn, vals in cases.items():
        x = np.array(vals)
        with np.errstate(all="ignore"):
            want = {"tanh": np.tanh, "expm1": np.expm1}.get(fn, _ERF)(x).astype(np.float64)
        got = _run(fn, x)
        np.testing.assert_array_equal(got, want, err_msg=f"{fn} ({isa})")
        num = ~np.isnan(want)  # a NaN's sign is not specified
        assert np.array_equal(np.signbit(got[num]), np.signbit(want[num])), (fn, isa, got)
        # the same values at every position of a vector, mixed with ordinary ones
        for off in range(8):
            y = np.full(off + x.size + 5, -0.3)
            y[off : off + x.size] = x
            g = _run(fn, y)[off : off + x.size]
            np.testing.assert_array_equal(g, want, err_msg=f"{fn} ({isa}) offset {off}")


@pytest.mark.parametrize("fn", sorted(BOUND))
def test_float64_each_lane_independent_of_its_vector_mates(isa, fn):
    """erf picks a coefficient set per lane, tanh and expm1 clamp per lane: each element's
    bits are its own at every offset and in any company."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal(301) * 3
    rare = np.array([0.999, 1.0, 1.5, 2.25, 3.5, 5.99, 6.5, -40.0, -745.0, np.nan, np.inf, -np.inf])
    x[rng.choice(x.size, 60, replace=False)] = rng.choice(rare, 60)
    if fn == "expm1":
        x = -np.abs(x)
    alone = np.concatenate([_run(fn, x[i : i + 1]) for i in range(x.size)])
    for off in range(8):
        np.testing.assert_array_equal(_run(fn, x[off:]), alone[off:], err_msg=str(off))


def _elu_ref(x, scale, alpha, inv):
    x = x.astype(LD)
    with np.errstate(all="ignore"):
        return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) * inv))


# (act, param, scale, alpha, inv, bound in ulp): alpha = 1 or 2 and x / 2 are exact, so elu
# and celu(2) see expm1's bound; selu adds two roundings (scale alpha em)
ELUS = [
    ("elu", 1.0, 1.0, 1.0, 1.0, 1.5),
    ("celu", 2.0, 1.0, 2.0, 0.5, 1.5),
    ("selu", 0.0, 1.0507009873554804934, 1.6732632423543772848, 1.0, 2.5),
]


@pytest.mark.parametrize("act,param,scale,alpha,inv,bound", ELUS)
def test_float64_elu_family_ulp(isa, act, param, scale, alpha, inv, bound):
    rng = np.random.default_rng(10)
    x = np.concatenate(
        [
            rng.standard_normal(100_003) * 4,
            rng.uniform(-60, 5, 50_000),
            _log_uniform(rng, 20_000, -1074, 3),
            [0.0, -0.0, -1e-300, -5e-324, -37.0, -38.0, -80.0, -np.inf, np.inf, 1e300],
        ]
    )
    got = ops.activation(x, act, param=param)
    want = _elu_ref(x, LD(scale), LD(alpha), LD(inv))
    with np.errstate(all="ignore"):
        w64 = want.astype(np.float64)
    ok = np.isfinite(w64) & (np.abs(want) >= TINY)
    err = (np.abs(got[ok].astype(LD) - want[ok]) / _ulp(want[ok]).astype(LD)).astype(np.float64)
    assert err.max() <= bound, f"{act} ({isa}): {err.max():.2f} ulp at x={x[ok][np.argmax(err)]}"
    # x itself (scaled) at +-0 and the infinities; -alpha scale at -inf
    special = np.array([0.0, -0.0, -np.inf, np.inf, np.nan])
    y = ops.activation(special, act, param=param)
    np.testing.assert_array_equal(y[:2], scale * special[:2])
    assert np.array_equal(np.signbit(y[:2]), [False, True]), (act, y)
    np.testing.assert_allclose(y[2], -scale * alpha, rtol=2**-52)
    assert y[3] == np.inf and np.isnan(y[4]), (act, y)


def test_float64_gelu_matches_erfc_reference(isa):
    """gelu (x Phi(x), float64 through the normal CDF: libm's erfc, unchanged this round)
    against 0.5 x erfc(-x / sqrt 2) from math.erfc, where Phi keeps full relative accuracy."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_normal(50_001) * 3, np.linspace(-8, 8, 1601), [0.0, -0.0]])
    got = ops.activation(x, "gelu")
    want = x * 0.5 * np.frompyfunc(math.erfc, 1, 1)(-x / math.sqrt(2)).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    assert np.array_equal(np.signbit(got[-2:]), [False, True])
