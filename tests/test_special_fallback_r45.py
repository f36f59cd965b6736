"""erf / erfc / erfinv without scipy (no dependency of deltagrad's): the float64 fallback on the
kernels' math functions (tensor._special_fallback) against math.erf / math.erfc per element,
both float dtypes, the edges, empty and 0-d inputs, and the gradients."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import deltagrad as dg

ULP64 = {"erf": 2.0, "erfc": 1.0}  # the vector erf's bound; erfc is libm's, lane by lane


@pytest.fixture
def no_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)  # `from scipy import special` raises
    with pytest.raises(ImportError):
        from scipy import special  # noqa: F401


def _ref(name: str, x: np.ndarray) -> np.ndarray:
    fn = getattr(math, name)
    return np.array([fn(float(v)) for v in x.ravel()], dtype=np.float64).reshape(x.shape)


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    spacing = np.spacing(np.maximum(np.abs(want), np.finfo(want.dtype).tiny))
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


@pytest.mark.parametrize("name", ["erf", "erfc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_erfc_without_scipy(no_scipy, name, dtype):
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-7, 7, 20001),
            rng.standard_normal(5000) * 1e-3,
            [0.0, -0.0, 1e-300, -1e-300, 5.9, -5.9, 27.0, -27.0, np.inf, -np.inf, np.nan],
        ]
    ).astype(dtype)
    got = getattr(dg.tensor(x), name)().numpy()
    assert got.dtype == dtype
    want = _ref(name, x.astype(np.float64))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    if dtype == np.float64:
        assert _ulps(got[finite], want[finite]) <= ULP64[name]
    else:  # one rounding of a float64 result within a few float64 ulp: the float32 rounding
        np.testing.assert_array_equal(got[finite], want[finite].astype(np.float32))
    np.testing.assert_array_equal(np.signbit(got[x == 0]), np.signbit(want[x == 0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_without_scipy(no_scipy, dtype):
    rng = np.random.default_rng(4)
    y = np.concatenate([rng.uniform(-0.999, 0.999, 4001), [0.0, 0.5, -0.5, 1.0, -1.0, 1.5]])
    y = y.astype(dtype)
    z = dg.tensor(y).erfinv().numpy()
    inside = np.abs(y) < 1
    back = _ref("erf", z[inside].astype(np.float64))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(back, y[inside].astype(np.float64), rtol=0, atol=tol)
    np.testing.assert_array_equal(z[np.abs(y) == 1], np.sign(y[np.abs(y) == 1]) * np.inf)
    assert np.isnan(z[np.abs(y) > 1]).all()


def test_shapes_and_gradient_without_scipy(no_scipy):
    assert dg.tensor(np.zeros((0, 3))).erf().shape == (0, 3)
    assert float(dg.tensor(np.float64(0.5)).erf().numpy()) == pytest.approx(
        math.erf(0.5), rel=1e-15
    )
    x = dg.tensor(np.linspace(-2, 2, 7), requires_grad=True)
    x.erf().sum().backward()
    np.testing.assert_allclose(
        x.grad, 2 / math.sqrt(math.pi) * np.exp(-(np.linspace(-2, 2, 7) ** 2))
    )
    grid = np.linspace(-3, 3, 12).reshape(3, 4)
    got = dg.tensor(grid).T.erf().numpy()  # a non-contiguous input
    np.testing.assert_allclose(got, _ref("erf", grid.T), rtol=0, atol=4e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_0d_and_signed_zero_without_scipy(no_scipy, dtype):
    z = dg.tensor(np.array(0.5, dtype=dtype)).erfinv().numpy()
    assert z.shape == () and z.dtype == dtype
    assert math.erf(float(z)) == pytest.approx(0.5, abs=1e-6)
    zeros = dg.tensor(np.array([0.0, -0.0], dtype=dtype)).erfinv().numpy()
    assert list(np.signbit(zeros)) == [False, True] and not zeros.any()
