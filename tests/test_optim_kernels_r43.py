"""The Adagrad and RMSprop updates in C++ (csrc/cpu/optim.h, `_cpu.adagrad_update` /
`_cpu.rmsprop_update`): against NumPy float64 steps written from torch's formulas and against
torch.optim over several steps (every option, odd sizes, size 0 and 1, both dtypes, extreme
gradients), optim.Adagrad on the kernel against torch, and the bindings' refusals."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_helpers import assert_params_close, step_side_by_side

import deltagrad as dg
from deltagrad import _cpu

SIZES = [0, 1, 7, 16, 33, 1000, 70001]


def _grad(w, g, wd, neg):
    g = -g if neg else g
    return g + wd * w if wd else g


def _adagrad_ref(w, g, s, clr, eps, wd, neg):
    g = _grad(w, g, wd, neg)
    s += g * g
    w -= clr * (g / (np.sqrt(s) + eps))


def _rmsprop_ref(w, g, sq, ga, buf, lr, alpha, eps, wd, mom, neg):
    g = _grad(w, g, wd, neg)
    sq *= alpha
    sq += (1 - alpha) * g * g
    if ga is not None:
        ga += (1 - alpha) * (g - ga)
        with np.errstate(invalid="ignore"):
            d = np.where(np.isinf(sq), np.inf, sq - ga * ga)
    else:
        d = sq
    q = g / (np.sqrt(d) + eps)
    if mom > 0:
        buf *= mom
        buf += q
        w -= lr * buf
    else:
        w -= lr * q


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("wd,neg", [(0.0, False), (0.1, False), (0.0, True), (0.05, True)])
def test_adagrad_kernel_equals_float64_steps(n, dtype, wd, neg):
    rng = np.random.default_rng(n)
    w64 = rng.standard_normal(n)
    s64 = np.abs(rng.standard_normal(n))
    w, s = w64.astype(dtype), s64.astype(dtype)
    for step in range(1, 4):
        g64 = rng.standard_normal(n)
        clr = 0.1 / (1 + (step - 1) * 0.01)
        _adagrad_ref(w64, g64, s64, clr, 1e-10, wd, neg)
        _cpu.adagrad_update(
            w, g64.astype(dtype), s, clr=clr, eps=1e-10, weight_decay=wd, maximize=neg
        )
    np.testing.assert_allclose(w, w64, **_tol(dtype))
    np.testing.assert_allclose(s, s64, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("centered,mom", [(False, 0.0), (True, 0.0), (False, 0.9), (True, 0.5)])
@pytest.mark.parametrize("wd,neg", [(0.0, False), (0.01, True)])
def test_rmsprop_kernel_equals_float64_steps(n, dtype, centered, mom, wd, neg):
    rng = np.random.default_rng(n + 1)
    w64, sq64 = rng.standard_normal(n), np.zeros(n)
    ga64 = np.zeros(n) if centered else None
    buf64 = np.zeros(n) if mom else None
    w, sq = w64.astype(dtype), sq64.astype(dtype)
    ga = None if ga64 is None else ga64.astype(dtype)
    buf = None if buf64 is None else buf64.astype(dtype)
    for _ in range(4):
        g64 = rng.standard_normal(n)
        _rmsprop_ref(w64, g64, sq64, ga64, buf64, 0.01, 0.9, 1e-8, wd, mom, neg)
        _cpu.rmsprop_update(
            w, g64.astype(dtype), sq, ga, buf, lr=0.01, alpha=0.9, eps=1e-8, weight_decay=wd,
            momentum=mom, maximize=neg,
        )  # fmt: skip
    np.testing.assert_allclose(w, w64, **_tol(dtype))
    np.testing.assert_allclose(sq, sq64, **_tol(dtype))
    if centered:
        np.testing.assert_allclose(ga, ga64, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmsprop_centered_overflowed_square_stays_finite_in_the_weights(dtype):
    """g^2 overflows: sq is inf and so is sq - ga^2 (not inf - inf = NaN); the update is
    g / inf = 0 and the weights stay finite, as torch's (one rounding in addcmul)."""
    big = np.finfo(dtype).max / 4
    w = np.ones(20, dtype)
    g = np.full(20, big, dtype)
    sq, ga = np.zeros(20, dtype), np.zeros(20, dtype)
    _cpu.rmsprop_update(w, g, sq, ga, None, lr=0.01, alpha=0.99, eps=1e-8)
    assert np.all(np.isinf(sq))
    assert np.all(np.isfinite(w))
    torch = pytest.importorskip("torch")
    tp = torch.nn.Parameter(torch.ones(20, dtype=getattr(torch, np.dtype(dtype).name)))
    tp.grad = torch.tensor(g)
    torch.optim.RMSprop([tp], lr=0.01, centered=True).step()
    np.testing.assert_array_equal(w, tp.detach().numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kind,kwargs",
    [
        ("Adagrad", dict(lr=0.1)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.2)),
        ("Adagrad", dict(lr=0.05, maximize=True, eps=1e-6)),
        ("RMSprop", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
        ("RMSprop", dict(lr=0.01, alpha=0.5, momentum=0.5, maximize=True)),
    ],
)
def test_optimizers_match_torch_over_steps(kind, kwargs, dtype):
    shapes = [(33, 17), (5,), (1,), (0, 3), (64, 65)]
    dps, tps = step_side_by_side(kind, kwargs, shapes, dtype, np.random.default_rng(7))
    assert_params_close(dps, tps, dtype)


def test_bindings_refuse_bad_operands():
    w = np.zeros(8, np.float32)
    g, s = np.ones(8, np.float32), np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="grad"):
        _cpu.adagrad_update(w, g.astype(np.float64), s, clr=0.1)
    with pytest.raises(ValueError, match="sum"):
        _cpu.adagrad_update(w, g, np.zeros(9, np.float32), clr=0.1)
    with pytest.raises(ValueError, match="share memory"):
        _cpu.adagrad_update(w, g, w, clr=0.1)
    with pytest.raises(ValueError, match="clr"):
        _cpu.adagrad_update(w, g, s, clr=float("nan"))
    ro = w.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _cpu.adagrad_update(ro, g, s, clr=0.1)
    with pytest.raises(ValueError, match="contiguous"):
        _cpu.adagrad_update(np.zeros(16, np.float32)[::2], g, s, clr=0.1)
    with pytest.raises(ValueError, match="buf"):
        _cpu.rmsprop_update(w, g, s, None, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="share memory"):
        _cpu.rmsprop_update(w, g, s, s, None, lr=0.1)
    with pytest.raises(ValueError, match="alpha"):
        _cpu.rmsprop_update(w, g, s, None, None, lr=0.1, alpha=-1.0)
    # None only where the option is off (grad_avg, buf): a required state refuses it
    with pytest.raises(TypeError, match="sum"):
        _cpu.adagrad_update(w, g, None, clr=0.1)
    with pytest.raises(TypeError, match="square_avg"):
        _cpu.rmsprop_update(w, g, None, None, None, lr=0.1)
    with pytest.raises(TypeError, match="exp_inf"):
        _cpu.adamax_update(w, g, s, None, clr=0.1)
    with pytest.raises(TypeError, match="v: expected"):
        _cpu.adam_update(w, g, s, None, step=1)


def test_adagrad_falls_back_for_arrays_the_kernel_refuses():
    """A gradient of another layout (a transposed view) still steps, on the array path."""
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(0).standard_normal((6, 5))
    g = np.random.default_rng(1).standard_normal((5, 6)).T  # not C-contiguous
    dp = dg.nn.Parameter(dg.tensor(w.copy()))
    dp.grad = g
    dg.optim.Adagrad([dp], lr=0.1).step()
    tp = torch.nn.Parameter(torch.tensor(w.copy()))
    tp.grad = torch.tensor(g)
    torch.optim.Adagrad([tp], lr=0.1).step()
    np.testing.assert_allclose(dp.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
