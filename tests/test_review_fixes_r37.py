"""Round 37's review findings in the new modules, against torch 2.13: xlogy's x-gradient where
x == 0 (Beta / Gamma log_prob at a concentration of 1), vector_norm with a negative ord over a
zero, logdet's gradient where det < 0, solve(left=False) with a vector B."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("a", "b"),
    [(0, 0), (0, 0.3), (0, -1), (0, math.nan), (0, math.inf), (1, 0), (2, -1), (0, 1e-300), (3, 2)],
)
def test_xlogy_gradients_are_torchs(a, b):
    x = dg.tensor(np.array(float(a)), requires_grad=True)
    y = dg.tensor(np.array(float(b)), requires_grad=True)
    tx = torch.tensor(float(a), dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    x.xlogy(y).backward()
    torch.xlogy(tx, ty).backward()
    np.testing.assert_allclose(float(x.grad), tx.grad.item(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(float(y.grad), ty.grad.item(), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("family", ["Beta", "Gamma"])
def test_log_prob_gradient_at_concentration_one(family):
    grads = []
    for lib in (dg, torch):
        c = lib.tensor(1.0, dtype=lib.float64, requires_grad=True)
        other = lib.tensor(2.0, dtype=lib.float64)
        d = getattr(lib.distributions, family)(c, other)
        d.log_prob(lib.tensor(0.3, dtype=lib.float64)).backward()
        grads.append(float(c.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9)


@pytest.mark.parametrize("ord_", [-1, -2, -0.5])
@pytest.mark.parametrize(
    ("dim", "keepdim"), [(1, False), (None, False), ((0, 1), True), (0, False)]
)
def test_vector_norm_negative_ord_over_a_zero(ord_, dim, keepdim):
    a = np.array([[1.0, 0, -2], [3, 4, 5]])
    x = dg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = dg.linalg.vector_norm(x, ord=ord_, dim=dim, keepdim=keepdim)
    ty = torch.linalg.vector_norm(tx, ord=ord_, dim=dim, keepdim=keepdim)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_logdet_of_a_negative_determinant_has_no_gradient():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    x = dg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = dg.logdet(x), torch.logdet(tx)
    assert math.isnan(float(y)) and math.isnan(ty.item())
    y.backward()
    ty.backward()
    np.testing.assert_array_equal(np.asarray(x.grad), tx.grad.numpy())


def test_solve_right_with_a_vector_is_refused_as_torch():
    with pytest.raises(RuntimeError, match="Incompatible shapes of A and B for the equation XA"):
        torch.linalg.solve(
            torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), left=False
        )
    with pytest.raises(RuntimeError, match="Incompatible shapes of A and B for the equation XA"):
        dg.linalg.solve(dg.tensor(np.eye(3)), dg.tensor(np.ones(3)), left=False)
