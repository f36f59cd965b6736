"""Shared by the optimizer tests: dg.optim and torch.optim stepped side by side on the same
parameters and gradients, and the comparison of what they leave."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg


def step_side_by_side(kind, kwargs, shapes, dtype, rng, steps=5):
    """dg.optim.<kind> and torch.optim.<kind>, both made with **kwargs, over parameters of the
    given shapes (standard normal, dtype) and `steps` steps of standard normal gradients, all
    drawn from rng. Returns the two lists of parameters (dg's, torch's)."""
    torch = pytest.importorskip("torch")
    ws = [rng.standard_normal(s).astype(dtype) for s in shapes]
    dps = [dg.nn.Parameter(dg.tensor(w.copy())) for w in ws]
    tps = [torch.nn.Parameter(torch.tensor(w.copy())) for w in ws]
    dopt = getattr(dg.optim, kind)(dps, **kwargs)
    topt = getattr(torch.optim, kind)(tps, **kwargs)
    for _ in range(steps):
        for dp, tp in zip(dps, tps, strict=True):
            g = rng.standard_normal(dp.shape).astype(dtype)
            dp.grad, tp.grad = g.copy(), torch.tensor(g)
        dopt.step()
        topt.step()
    return dps, tps


def assert_params_close(dps, tps, dtype):
    """dg's parameters equal torch's to a few ulps of their dtype's (the optimizers' roundings
    differ by an ulp or so a step)."""
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    for dp, tp in zip(dps, tps, strict=True):
        np.testing.assert_allclose(dp.numpy(), tp.detach().numpy(), **tol)
