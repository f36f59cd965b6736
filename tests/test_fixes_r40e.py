"""A third review's findings (round 40), each against torch: logsumexp of a 0-d tensor, the
float16 nanmean's count, float16 reductions overflowing silently, remainder's signed zero."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import deltagrad as dg


@pytest.mark.parametrize("value", [1.5, -3.0, np.inf, -np.inf])
@pytest.mark.parametrize("dim", [0, -1, (), None])
def test_logsumexp_of_a_0d_tensor(value, dim):
    x = dg.tensor(np.float64(value), requires_grad=True)
    y = x.logsumexp(dim)
    assert y.shape == ()
    y.backward()
    xt = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    yt = torch.logsumexp(xt, 0)
    yt.backward()
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(np.asarray(x.grad), xt.grad.numpy())


def test_float16_nanmean_divides_by_the_exact_count():
    x = np.full(70000, 0.5, np.float16)
    x[0] = np.nan
    assert float(dg.tensor(x).nanmean()) == float(torch.tensor(x).nanmean()) == 0.5
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(2049) * 100).astype(np.float16)
    y[1] = 60000
    np.testing.assert_array_equal(dg.tensor(y).nanmean().numpy(), torch.tensor(y).nanmean().numpy())
    z = rng.standard_normal((3, 70000)).astype(np.float16)  # a count per row: float16 as torch
    np.testing.assert_array_equal(
        dg.tensor(z).nanmean(1).numpy(), torch.tensor(z).nanmean(1).numpy()
    )


def test_float16_reductions_overflow_silently():
    x = np.full(3, 60000, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (
            lambda t: t.sum(0),
            lambda t: t.cumsum(0),
            lambda t: t.nansum(),
            lambda t: t.cumprod(0),
        ):
            got, want = fn(dg.tensor(x)).numpy(), fn(torch.tensor(x)).numpy()
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remainder_zero_keeps_the_dividend_sign(dtype):
    vals = np.array([-1.0, 1.0, -0.0, 0.0, 3.0, -3.0, 2.5, -2.5, np.inf, -np.inf, np.nan], dtype)
    a, b = np.meshgrid(vals, vals[vals != 0])
    got = dg.tensor(a).remainder(dg.tensor(b)).numpy()
    want = torch.from_numpy(a).remainder(torch.from_numpy(b)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok], want[ok])
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
