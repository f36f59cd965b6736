"""The kernels' vector math functions over the whole float32 range: a sweep through every
exponent plus the special values, each function's maximum error (in float32 ulp of the
correctly rounded result) asserted against the bound documented in csrc/cpu/simd_math.h."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import _cpu, ops

sp = pytest.importorskip("scipy.special")

# documented bounds (ulp), csrc/cpu/simd_math.h
BOUNDS = {
    "exp": 2,
    "log": 2,
    "log1p": 3,
    "tanh": 4,
    "erf": 4,
    "erfc": 8,
    "sigmoid": 4,
    "normcdf": 8,
}
REFS = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "sigmoid": sp.expit,
    "normcdf": sp.ndtr,
}


def _sweep(n=1_000_000, seed=7):
    """n float32 values with uniformly random bit patterns (every exponent, denormals, both
    signs), finite ones only, plus the edges."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    edges = np.array(
        [
            0.0,
            -0.0,
            1e-45,
            -1e-45,
            1.17549435e-38,
            88.72,
            88.73,
            89.0,
            -87.3,
            -103.9,
            -104.0,
            -105.0,
            0.625,
            -0.625,
            0.5,
            -0.5,
            1.0,
            -1.0,
            10.05,
            10.06,
            -1.0 + 2**-24,
            3.4e38,
            -3.4e38,
        ],
        dtype=np.float32,
    )
    return np.concatenate([x, edges, np.linspace(-20, 20, 100001, dtype=np.float32)])


def _ulp_error(got, x, fn):
    with np.errstate(all="ignore"):
        want = REFS[fn](x.astype(np.float64))
        want32 = want.astype(np.float32)
    ok = np.isfinite(want32) & (np.abs(want) >= np.finfo(np.float32).tiny)
    ulp = np.spacing(np.abs(want32[ok])).astype(np.float64)
    return np.abs(got[ok].astype(np.float64) - want[ok]) / ulp, want, ok


@pytest.mark.parametrize("fn", sorted(BOUNDS))
def test_float32_max_ulp_error(isa, fn):
    x = _sweep()
    if fn == "log1p":
        x = x[x >= -1]
    got = _cpu.math_fn(x, fn)
    err, want, ok = _ulp_error(got, x, fn)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUNDS[fn], (
        f"{fn}: {err[worst]:.2f} ulp at x={x[ok][worst]!r} (bound {BOUNDS[fn]})"
    )
    # outside the normal range: denormal results within one denormal step... and exact
    # zeros, infinities and NaNs where the true result has them
    with np.errstate(all="ignore"):
        w32 = want.astype(np.float32)
    special = ~ok
    sub = special & np.isfinite(w32)
    assert np.all(
        np.abs(got[sub].astype(np.float64) - want[sub]) <= 2 * 1.4013e-45 + 1e-6 * np.abs(want[sub])
    ), f"{fn}: denormal/zero results off"
    assert np.array_equal(np.isnan(got[special]), np.isnan(w32[special])), f"{fn}: NaN placement"
    inf = special & np.isinf(w32)
    assert np.array_equal(got[inf], w32[inf]), f"{fn}: infinities"


@pytest.mark.parametrize("fn", sorted(BOUNDS))
def test_specials(isa, fn):
    x = np.array([np.inf, -np.inf, np.nan], dtype=np.float32)
    if fn in ("log", "log1p"):
        x = np.array([np.inf, np.nan, -2.0, 0.0 if fn == "log" else -1.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        want = REFS[fn](x.astype(np.float64)).astype(np.float32)
    got = _cpu.math_fn(x, fn)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fn", sorted(BOUNDS))
def test_float64_relative_error(isa, fn):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(20000) * 5, np.logspace(-300, 2, 2000)])
    if fn in ("log", "log1p"):
        x = np.abs(x)
    got = _cpu.math_fn(x, fn)
    want = REFS[fn](x)
    ok = want != 0
    assert np.max(np.abs(got[ok] - want[ok]) / np.abs(want[ok])) < 1e-13


@pytest.mark.parametrize("fn", ["exp", "sigmoid", "tanh", "erfc", "normcdf"])
def test_fast_and_wide_paths_mixed_in_one_vector(isa, fn):
    """The float32 exp and sigmoid take a fast path only when every lane of a vector is in its
    range (issue 18): vectors mixing in-range lanes with underflowing, overflowing or NaN lanes,
    and dense grids across the range edges (-86.4, -86, 88), stay within the bounds."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(40_003) * 4).astype(np.float32)
    odd = rng.integers(0, x.size, 3000)
    x[odd] = rng.choice(
        np.array([-87.0, -90.0, -103.5, -120.0, 88.5, 89.5, np.nan], np.float32), 3000
    )
    edges = np.concatenate(
        [np.linspace(c - 0.5, c + 0.5, 4001, dtype=np.float32) for c in (-86.4, -86.0, 88.0, 88.7)]
    )
    x = np.concatenate([x, edges, -edges])
    got = _cpu.math_fn(x, fn)
    err, want, ok = _ulp_error(got, x, fn)
    assert err.max() <= BOUNDS[fn], f"{fn}: {err.max():.2f} ulp at x={x[ok][np.argmax(err)]!r}"
    with np.errstate(all="ignore"):
        w32 = want.astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(w32)), f"{fn}: NaN placement"
    sub = ~ok & np.isfinite(w32)
    assert np.all(np.abs(got[sub].astype(np.float64) - want[sub]) <= 2 * 1.4013e-45), fn
    inf = np.isinf(w32)
    assert np.array_equal(got[inf], w32[inf]), f"{fn}: infinities"


def test_tanh_is_odd_bit_for_bit(isa):
    """tanh is computed on |x| and given x's sign bit (issue 18's shorter kernel): tanh(-x) is
    -tanh(x) bit for bit over the sweep, and tanh(-0) is -0 as in libm."""
    x = _sweep(200_000, seed=19)
    x = x[x > 0]
    np.testing.assert_array_equal(_cpu.math_fn(-x, "tanh"), -_cpu.math_fn(x, "tanh"))
    z = _cpu.math_fn(np.array([0.0, -0.0], np.float32), "tanh")
    assert np.array_equal(np.signbit(z), [False, True]), z
    for dtype in (np.float32, np.float64):
        y = ops.activation(np.array([-0.0, 0.0], dtype), "tanh")
        assert np.array_equal(np.signbit(y), [True, False]), (dtype, y)


def test_tanh_never_exceeds_one(isa):
    """|tanh(x)| <= 1 everywhere: the fast reciprocal once rounded y/(y+2) to 1 + 2^-23 for
    |x| > 8 on AVX-512; the division is now rounded once and cannot exceed 1, NaN still passes
    through."""
    x = np.concatenate(
        [np.linspace(-40, 40, 400_001, dtype=np.float32), [np.inf, -np.inf, np.float32(3e38)]]
    ).astype(np.float32)
    for y in (_cpu.math_fn(x, "tanh"), ops.activation(x, "tanh")):
        assert np.abs(y).max() <= 1.0, x[np.abs(y) > 1][:5]
    assert np.isnan(_cpu.math_fn(np.array([np.nan], np.float32), "tanh")).all()


@pytest.mark.parametrize("fn", sorted(BOUNDS))
def test_each_lane_independent_of_its_vector_mates(isa, fn):
    """The fast paths are chosen per vector but each lane's result is its own (stop 32): every
    element of an array with rare lanes (underflow, overflow, NaN, inf) sprinkled in, at every
    offset within a vector, bit for bit against the element computed alone."""
    rng = np.random.default_rng(17)
    x = (rng.standard_normal(547) * 6).astype(np.float32)
    rare = np.float32([-120, -104.5, -90, -87, -86.2, 88.5, 89.5, 1e30, -1e30, np.nan, np.inf])
    x[rng.choice(x.size, 30, replace=False)] = rng.choice(rare, 30)
    if fn in ("log", "log1p"):
        x = np.abs(x)
    with np.errstate(all="ignore"):
        alone = np.concatenate([_cpu.math_fn(x[i : i + 1], fn) for i in range(x.size)])
        for off in range(16):
            got = _cpu.math_fn(x[off:], fn)
            nan = np.isnan(alone[off:])
            assert np.array_equal(np.isnan(got), nan), (fn, off)
            np.testing.assert_array_equal(
                got[~nan].view(np.uint32), alone[off:][~nan].view(np.uint32), f"{fn} at {off}"
            )
