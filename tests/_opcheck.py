"""The one comparison every op test uses: run an op and its NumPy float64 reference on the same
input and compare with a tolerance that suits the dtype."""

from __future__ import annotations

import numpy as np

# float32: smooth ops to 1e-5 relative; float64: 1e-12 relative. `atol` is added for values
# whose relative error is meaningless: results in the denormal range, and results near a root
# of the function where the output cancels (scaled by the magnitude of the terms involved).
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
TINY = {np.float32: float(np.finfo(np.float32).tiny), np.float64: float(np.finfo(np.float64).tiny)}


def assert_close(got, want, dtype, *, rtol=None, atol=0.0, name="result"):
    """got (kernel output) vs want (float64 reference): same shape, NaN where want is NaN,
    the same infinities, and |got - want| <= rtol |want| + atol + tiny elsewhere."""
    dtype = np.dtype(dtype).type
    rtol = RTOL[dtype] if rtol is None else rtol
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != reference {want.shape}"
    if got.size == 0:
        return
    assert got.dtype == dtype, f"{name}: dtype {got.dtype} != {np.dtype(dtype)}"
    g = got.astype(np.float64)
    nan_w, nan_g = np.isnan(want), np.isnan(g)
    assert np.array_equal(nan_w, nan_g), (
        f"{name}: NaN mismatch at {np.flatnonzero(nan_w != nan_g)[:10]}: "
        f"got {g[nan_w != nan_g][:5]}, want {want[nan_w != nan_g][:5]}"
    )
    inf_w = np.isinf(want)
    # a float64 value beyond the float32 range rounds to inf
    if dtype is np.float32:
        inf_w = inf_w | (np.abs(want) > np.finfo(np.float32).max * (1 + 2**-24))
    ok_inf = np.isinf(g[inf_w]) & (np.sign(g[inf_w]) == np.sign(want[inf_w]))
    assert ok_inf.all(), f"{name}: infinities differ: got {g[inf_w][~ok_inf][:5]}"
    fin = ~nan_w & ~inf_w
    err = np.abs(g[fin] - want[fin])
    atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), want.shape)[fin]
    tol = rtol * np.abs(want[fin]) + atol + 2 * TINY[dtype]
    bad = err > tol
    if bad.any():
        i = np.argmax(err / tol)
        raise AssertionError(
            f"{name}: {bad.sum()} of {fin.sum()} elements off; worst got {g[fin][i]!r}, want "
            f"{want[fin][i]!r} (rel {err[i] / max(abs(want[fin][i]), 1e-300):.3g}, "
            f"rtol {rtol}, atol {atol[i]:.3g})"
        )


DTYPES = (np.float32, np.float64)


def sample(rng, shape, dtype, scale=3.0, extremes=()):
    """Normal data times `scale`, with the given extreme values planted at random positions
    (when the array is large enough to hold them)."""
    x = rng.standard_normal(shape) * scale
    flat = x.reshape(-1)
    if extremes and flat.size >= 4 * len(extremes):
        pos = rng.choice(flat.size, size=len(extremes), replace=False)
        flat[pos] = extremes
    return x.astype(dtype)


SPECIALS = (
    0.0,
    -0.0,
    1000.0,
    -1000.0,
    1e4,
    -1e4,
    np.inf,
    -np.inf,
    np.nan,
    1e-40,
    -1e-40,
    3e-310,
    1e30,
    -1e30,
)
