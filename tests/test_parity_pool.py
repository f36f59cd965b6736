"""dg.nn pooling against torch.nn in float64 (rtol = atol = 1e-10): outputs, max indices and
input gradients over strides 1 to 3, paddings 0 to 2, kernel sizes 1 to 5 and non-square ones,
odd sizes, dilation 2, ceil_mode, count_include_pad, divisor_override, adaptive sizes with
None entries, the 1-D modules, NaN / -inf inputs; float32 to 1e-4; the modules' reprs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _run(dg_mod, t_mod, x, tol=TOL, indices=False):
    """Forward, (indices), and the input gradient of a random upstream gradient."""
    a = dg.tensor(x.copy(), requires_grad=True)
    b = torch.tensor(x.copy(), requires_grad=True)
    ya, yb = dg_mod(a), t_mod(b)
    if indices:
        (ya, ia), (yb, ib) = ya, yb
        np.testing.assert_array_equal(ia.data, ib.numpy())
    assert tuple(ya.shape) == tuple(yb.shape)
    assert_close(ya.data, yb.detach().numpy(), equal_nan=True, **tol)
    g = np.random.default_rng(1).normal(size=ya.shape).astype(x.dtype)
    ya.backward(dg.tensor(g))
    yb.backward(torch.tensor(g))
    assert_close(a.grad, b.grad.numpy(), equal_nan=True, **tol)


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


SHAPES = [(2, 3, 9, 11), (1, 2, 8, 7)]
# (kernel, stride, padding)
GEOMS = [
    (1, 1, 0),
    (1, 2, 0),
    (3, 1, 0),
    (3, 1, 1),
    (3, 2, 1),
    (3, 3, 0),
    (5, 1, 2),
    (5, 2, 2),
    (4, 2, 2),
    ((3, 2), (2, 1), (1, 0)),
    ((2, 5), (1, 3), (0, 2)),
    (2, None, 0),
]


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_max_pool2d(geom, dilation, ceil_mode):
    k, s, p = geom
    for shape in SHAPES:
        mods = [
            m.MaxPool2d(k, s, p, dilation, return_indices=True, ceil_mode=ceil_mode)
            for m in (nn, torch.nn)
        ]
        try:
            torch_ok = mods[1](torch.zeros(shape)) is not None
        except RuntimeError:  # a dilated kernel larger than the input: both refuse
            torch_ok = False
        if not torch_ok:
            with pytest.raises(ValueError, match="^MaxPool2d: kernel_size"):
                mods[0](dg.tensor(_x(shape)))
            continue
        _run(*mods, _x(shape), indices=True)


@pytest.mark.parametrize(
    "count_include_pad, divisor_override", [(True, None), (False, None), (False, 3)]
)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_avg_pool2d(geom, ceil_mode, count_include_pad, divisor_override):
    k, s, p = geom
    for shape in SHAPES[ceil_mode:]:
        mods = [
            m.AvgPool2d(k, s, p, ceil_mode, count_include_pad, divisor_override)
            for m in (nn, torch.nn)
        ]
        _run(*mods, _x(shape))


@pytest.mark.parametrize(
    "size", [1, 3, (2, 5), (None, 4), (5, None), (9, 11), (13, 17), (3, 11)], ids=str
)
def test_adaptive_avg_pool2d(size):
    for shape in SHAPES:
        _run(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), _x(shape))


def test_unbatched_and_float32():
    x = _x((3, 9, 10))
    _run(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x)
    _run(nn.AvgPool2d(2), torch.nn.AvgPool2d(2), x)
    _run(nn.AdaptiveAvgPool2d((4, 3)), torch.nn.AdaptiveAvgPool2d((4, 3)), x)
    f32 = {"rtol": 1e-4, "atol": 1e-4}
    x32 = _x((4, 8, 33, 35), dtype=np.float32)
    _run(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x32, f32)
    _run(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x32, f32)
    _run(nn.AvgPool2d(3, 1, 1), torch.nn.AvgPool2d(3, 1, 1), x32, f32)
    _run(nn.AvgPool2d(2), torch.nn.AvgPool2d(2), x32, f32)
    _run(nn.AdaptiveAvgPool2d(5), torch.nn.AdaptiveAvgPool2d(5), x32, f32)


def test_max_nan_and_inf():
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2, 3, 9, 10)).astype(np.float64)  # ties: first maximum
    x[0, 0] = -np.inf
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 40, replace=False)] = np.nan
    flat[rng.choice(flat.size, 40, replace=False)] = -np.inf
    for k, s, p in [(2, 2, 0), (3, 2, 1), (3, 1, 1)]:
        mods = [m.MaxPool2d(k, s, p, return_indices=True) for m in (nn, torch.nn)]
        _run(*mods, x, indices=True)


@pytest.mark.parametrize(
    "args",
    [a for a in itertools.product([1, 3], [None, 2], [0, 1], [False, True]) if a[2] <= a[0] // 2],
    ids=str,
)
def test_1d(args):
    k, s, p, c = args
    x = _x((2, 3, 12))
    _run(
        nn.MaxPool1d(k, s, p, return_indices=True, ceil_mode=c),
        torch.nn.MaxPool1d(k, s, p, return_indices=True, ceil_mode=c),
        x,
        indices=True,
    )
    _run(nn.AvgPool1d(k, s, p, c, False), torch.nn.AvgPool1d(k, s, p, c, False), x)
    _run(nn.AdaptiveAvgPool1d(k + 4), torch.nn.AdaptiveAvgPool1d(k + 4), x)
    _run(nn.MaxPool1d(k, s, p), torch.nn.MaxPool1d(k, s, p), x[0])


def test_repr():
    for ctor, args in [
        ("MaxPool2d", (2,)),
        ("MaxPool2d", ((2, 3), 1, 1, 2, True, True)),
        ("AvgPool2d", (2,)),
        ("AvgPool2d", (3, 2, 1, True, False, 2)),
        ("AdaptiveAvgPool2d", ((None, 3),)),
        ("AdaptiveAvgPool2d", (1,)),
        ("MaxPool1d", (2,)),
        ("AvgPool1d", (3,)),
        ("AdaptiveAvgPool1d", (4,)),
    ]:
        assert repr(getattr(nn, ctor)(*args)) == repr(getattr(torch.nn, ctor)(*args))
