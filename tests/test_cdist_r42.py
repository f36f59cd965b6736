"""cdist against torch 2.13 (round 42): torch's matrix-product route for p = 2 (its three
compute_modes), the blocked route from the differences for every p, values and gradients in
float64 and float32, zero distances, batch broadcasting, empty and size-1 inputs, blocks
split along every axis, the memory the blocked route holds, double backward."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _tensor_math as tm

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(42)
MODES = [
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
]
P_VALUES = [0.0, 0.5, 1.0, 2.0, 3.0, math.inf]
SHAPES = [
    ((3, 5), (4, 5)),  # small: the direct route under the default mode
    ((2, 1, 30, 7), (3, 27, 7)),  # broadcast batch dims; P, R > 25 (torch's mm by default)
    ((40, 3), (2, 70, 3)),  # x1 without batch dims; many x2 rows (the "planes" layout)
    ((1, 6, 40), (5, 40)),  # x2 without batch dims; M > R (differences with M inner)
]


def _uses_mm(p, mode, s1, s2):
    return p == 2 and (mode == MODES[1] or (mode == MODES[0] and max(s1[-2], s2[-2]) > 25))


def _tol(dtype, mm):
    if dtype == "float32":
        return dict(rtol=1e-4, atol=1e-4)
    return dict(rtol=1e-8, atol=1e-8) if mm else dict(rtol=1e-10, atol=1e-10)


def _compare(a, b, p, mode, dtype, tol, grads=True):
    """dg.cdist and torch.cdist of a, b: values (shape, dtype) and the gradients of a random
    weighting of the output."""
    x, y = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    d = dg.cdist(x, y, p, compute_mode=mode)
    td = torch.cdist(tx, ty, p, compute_mode=mode)
    assert d.shape == tuple(td.shape)
    assert d.numpy().dtype == np.dtype(dtype)
    np.testing.assert_allclose(d.numpy(), td.detach().numpy(), **tol)
    if not grads:
        return
    w = RNG.standard_normal(d.shape).astype(dtype)
    (d * dg.tensor(w)).sum().backward()
    (td * torch.tensor(w)).sum().backward()
    for got, want in ((x.grad, tx.grad), (y.grad, ty.grad)):
        got = np.asarray(got)
        assert got.shape == tuple(want.shape) and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want.numpy(), **tol)


@pytest.mark.parametrize("s1, s2", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_and_grads(dtype, p, mode, s1, s2):
    a = RNG.standard_normal(s1).astype(dtype)
    b = RNG.standard_normal(s2).astype(dtype)
    _compare(a, b, p, mode, dtype, _tol(dtype, _uses_mm(p, mode, s1, s2)))


@pytest.mark.parametrize("p", P_VALUES + [1.5])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_duplicated_rows_and_ties(dtype, p):
    """d = 0 (duplicated rows) and coordinates with a zero difference: torch's gradients,
    0 there. On the direct route (torch's mm route gives inf / NaN at an exact zero)."""
    a = RNG.integers(-2, 3, (2, 31, 4)).astype(dtype)  # many equal coordinates and rows
    b = RNG.integers(-2, 3, (2, 28, 4)).astype(dtype)
    b[:, :5] = a[:, :5]
    _compare(a, b, p, MODES[2], dtype, _tol(dtype, False))
    x = dg.tensor(a, requires_grad=True)
    d = dg.cdist(x, x.detach(), p)
    assert not np.diagonal(d.numpy(), axis1=-2, axis2=-1).any()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mm_route_zero_distance(dtype):
    """torch's mm route on duplicated rows: distances within the cancellation error of 0,
    gradients finite (0 where the distance is exactly 0, not torch's inf / NaN)."""
    a = RNG.standard_normal((40, 6)).astype(dtype)
    x = dg.tensor(a, requires_grad=True)
    y = dg.tensor(a[::-1].copy(), requires_grad=True)
    d = dg.cdist(x, y)  # P > 25: the mm route
    ref = torch.cdist(torch.tensor(a), torch.tensor(a[::-1].copy()), compute_mode=MODES[2])
    atol = 1e-2 if dtype == "float32" else 1e-6  # sqrt of the cancellation error
    np.testing.assert_allclose(d.numpy(), ref.numpy(), rtol=1e-4, atol=atol)
    d.sum().backward()
    assert np.isfinite(np.asarray(x.grad)).all() and np.isfinite(np.asarray(y.grad)).all()
    z = dg.tensor(np.zeros((30, 3), dtype), requires_grad=True)
    dg.cdist(z, z.detach()).sum().backward()
    assert not np.asarray(z.grad).any()


@pytest.mark.parametrize(
    "s1, s2",
    [
        ((0, 4), (3, 4)),
        ((3, 4), (0, 4)),
        ((3, 0), (5, 0)),
        ((30, 0), (40, 0)),
        ((2, 0, 3), (1, 4, 3)),
        ((0, 2, 3), (2, 3)),
        ((1, 1), (1, 1)),
        ((1, 1, 1), (1, 1)),
        ((1, 3), (30, 3)),
    ],
)
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("mode", MODES)
def test_empty_and_size_one(mode, p, s1, s2):
    a = RNG.standard_normal(s1)
    b = RNG.standard_normal(s2)
    _compare(a, b, p, mode, "float64", _tol("float64", True))


@pytest.mark.parametrize("layout", ["planes", "diffs"])
@pytest.mark.parametrize("p", P_VALUES + [1.5, 4.0])
def test_blocks_split_every_axis(monkeypatch, layout, p):
    """Blocks far smaller than the problem: the batch, x1's rows and x2's rows split."""
    monkeypatch.setattr(tm, "_CDIST_BLOCK", 7 if layout == "planes" else 20)
    s1, s2 = ((3, 2, 12, 5), (2, 70, 5)) if layout == "planes" else ((3, 1, 9, 6), (2, 5, 6))
    a, b = RNG.standard_normal(s1), RNG.standard_normal(s2)
    _compare(a, b, p, MODES[2], "float64", _tol("float64", False))


@pytest.mark.parametrize("p", [1.0, 3.0, math.inf])
@pytest.mark.parametrize("s1, s2", [((1, 300, 16), (1, 200, 16)), ((600, 64), (20, 64))])
def test_no_full_difference_array(p, s1, s2):
    """Forward and backward hold blocks of the differences, never all (P, R, M) of them."""
    a, b = RNG.standard_normal(s1), RNG.standard_normal(s2)
    full = a.shape[-2] * b.shape[-2] * a.shape[-1] * 8
    x, y = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    tracemalloc.start()
    try:
        dg.cdist(x, y, p).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < full / 3, (peak, full)
    ref = torch.cdist(torch.tensor(a), torch.tensor(b), p)
    np.testing.assert_allclose(dg.cdist(x, y, p).numpy(), ref.numpy(), rtol=1e-10)


def test_mm_route_double_backward():
    """Second derivatives of the mm route against torch's (a composite of differentiable
    ops there): d/dx of <grad cdist, v>."""
    a, b = RNG.standard_normal((2, 30, 4)), RNG.standard_normal((1, 27, 4))
    x, y = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    w = RNG.standard_normal((2, 30, 27))
    v1, v2 = RNG.standard_normal(a.shape), RNG.standard_normal(b.shape)
    g1, g2 = dg.autograd.grad((dg.cdist(x, y) * dg.tensor(w)).sum(), [x, y], create_graph=True)
    h = dg.autograd.grad((g1 * dg.tensor(v1)).sum() + (g2 * dg.tensor(v2)).sum(), [x, y])
    tg1, tg2 = torch.autograd.grad(
        (torch.cdist(tx, ty) * torch.tensor(w)).sum(), [tx, ty], create_graph=True
    )
    th = torch.autograd.grad(
        (tg1 * torch.tensor(v1)).sum() + (tg2 * torch.tensor(v2)).sum(), [tx, ty]
    )
    for got, want in zip(h, th):
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-8, atol=1e-8)


def test_mode_switch_at_25_rows():
    """The default mode takes torch's mm route only past 25 rows: at 25 rows the result is
    the direct route's (bit-equal to the donot_use_mm mode), at 26 the mm mode's."""
    for rows in (25, 26):
        a, b = RNG.standard_normal((rows, 8)), RNG.standard_normal((5, 8))
        d = dg.cdist(dg.tensor(a), dg.tensor(b)).numpy()
        same = MODES[1] if rows > 25 else MODES[2]
        np.testing.assert_array_equal(d, dg.cdist(dg.tensor(a), dg.tensor(b), 2, same).numpy())


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("mode", [MODES[1], MODES[2]])
def test_one_input_requires_grad(mode, p):
    a, b = RNG.standard_normal((2, 30, 4)), RNG.standard_normal((27, 4))
    for first in (True, False):
        x, y = dg.tensor(a, requires_grad=first), dg.tensor(b, requires_grad=not first)
        tx, ty = torch.tensor(a, requires_grad=first), torch.tensor(b, requires_grad=not first)
        dg.cdist(x, y, p, compute_mode=mode).sum().backward()
        torch.cdist(tx, ty, p, compute_mode=mode).sum().backward()
        got, want = (x.grad, tx.grad) if first else (y.grad, ty.grad)
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-8, atol=1e-8)
        assert (y.grad if first else x.grad) is None
