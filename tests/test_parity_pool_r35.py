"""adaptive_max_pool1d / 2d and lp_pool1d / 2d (functional and modules) against torch 2.13 in
float64 (rtol = atol = 1e-10): values, max indices and input gradients for output sizes that
divide the input and that do not, larger than it, None entries, batched and unbatched input,
NaN / inf / ties, zero-sum windows, negative inputs, norm_type +-inf and fractional / negative
powers, ceil_mode; float32; dg.gradcheck; the modules' arguments and reprs; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.torch

TOL = {"rtol": 1e-10, "atol": 1e-10}
F32 = {"rtol": 1e-5, "atol": 1e-5}


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _run(fa, fb, x, tol=TOL, indices=False):
    """fa on a deltagrad tensor, fb on a torch one: the values, (the indices), and the input
    gradient of a random upstream gradient, compared."""
    a = dg.tensor(x.copy(), requires_grad=True)
    b = torch.tensor(x.copy(), requires_grad=True)
    ya, yb = fa(a), fb(b)
    if indices:
        (ya, ia), (yb, ib) = ya, yb
        assert ia.dtype == dg.int64
        np.testing.assert_array_equal(ia.data, ib.numpy())
    assert tuple(ya.shape) == tuple(yb.shape)
    assert ya.dtype == a.dtype
    assert_close(ya.data, yb.detach().numpy(), equal_nan=True, **tol)
    if yb.numel() == 0:
        return
    g = np.random.default_rng(1).normal(size=ya.shape).astype(x.dtype)
    ya.backward(dg.tensor(g))
    yb.backward(torch.tensor(g))
    assert_close(a.grad, b.grad.numpy(), equal_nan=True, **tol)


# ---- adaptive max pooling ----------------------------------------------------------------------

SIZES_2D = [1, 3, (2, 5), (None, 4), (5, None), (None, None), (7, 9), (9, 13), (3, 1), (0, 3)]


@pytest.mark.parametrize("size", SIZES_2D, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (3, 6, 6), (1, 1, 1, 5)], ids=str)
def test_adaptive_max_pool2d(shape, size):
    x = _x(shape)
    _run(
        lambda t: F.adaptive_max_pool2d(t, size, return_indices=True),
        lambda t: TF.adaptive_max_pool2d(t, size, return_indices=True),
        x,
        indices=True,
    )
    _run(nn.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size), x)
    _run(
        lambda t: F.adaptive_max_pool2d_with_indices(t, size),
        lambda t: TF.adaptive_max_pool2d_with_indices(t, size),
        x,
        indices=True,
    )


@pytest.mark.parametrize("size", [1, 2, 4, 5, 12, 19, (3,), 0])
@pytest.mark.parametrize("shape", [(2, 3, 12), (3, 7), (1, 1, 1)], ids=str)
def test_adaptive_max_pool1d(shape, size):
    x = _x(shape)
    _run(
        nn.AdaptiveMaxPool1d(size, return_indices=True),
        torch.nn.AdaptiveMaxPool1d(size, return_indices=True),
        x,
        indices=True,
    )
    _run(lambda t: F.adaptive_max_pool1d(t, size), lambda t: TF.adaptive_max_pool1d(t, size), x)
    _run(
        lambda t: F.adaptive_max_pool1d_with_indices(t, size),
        lambda t: TF.adaptive_max_pool1d_with_indices(t, size),
        x,
        indices=True,
    )


def test_adaptive_max_nan_inf_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2, 3, 9, 10)).astype(np.float64)  # ties: the first maximum
    x[0, 0] = -np.inf  # all -inf: the window's first position
    x[0, 1, :4, :4] = np.nan  # several NaN in a window: the last one (row-major)
    x[1, 2, :, 3] = np.inf
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 40, replace=False)] = np.nan
    flat[rng.choice(flat.size, 30, replace=False)] = -np.inf
    for size in [1, 2, 3, (4, 3), (5, 7), (9, 10), (11, 13), (None, 2)]:
        _run(
            nn.AdaptiveMaxPool2d(size, True),
            torch.nn.AdaptiveMaxPool2d(size, True),
            x,
            indices=True,
        )
    x1 = x.reshape(2, 3, 90)
    for size in [1, 4, 7, 90, 100]:
        _run(
            nn.AdaptiveMaxPool1d(size, True),
            torch.nn.AdaptiveMaxPool1d(size, True),
            x1,
            indices=True,
        )


def test_adaptive_max_overlapping_windows_sum_gradients():
    # 5 -> 4: neighbouring windows share a position; its gradient is the sum of both
    x = np.array([[[0.0, 1.0, 9.0, 2.0, 3.0]]])
    _run(lambda t: F.adaptive_max_pool1d(t, 4), lambda t: TF.adaptive_max_pool1d(t, 4), x)
    a = dg.tensor(x, requires_grad=True)
    F.adaptive_max_pool1d(a, 4).sum().backward()
    np.testing.assert_array_equal(a.grad, [[[0.0, 1.0, 2.0, 0.0, 1.0]]])


def test_adaptive_max_empty_batch_and_float32():
    _run(
        nn.AdaptiveMaxPool2d(2, True),
        torch.nn.AdaptiveMaxPool2d(2, True),
        _x((0, 3, 4, 5)),
        TOL,
        True,
    )
    _run(nn.AdaptiveMaxPool1d(2, True), torch.nn.AdaptiveMaxPool1d(2, True), _x((0, 4)), TOL, True)
    x32 = _x((4, 8, 33, 35), dtype=np.float32)
    _run(
        nn.AdaptiveMaxPool2d((5, 7), True), torch.nn.AdaptiveMaxPool2d((5, 7), True), x32, F32, True
    )
    x32 = _x((4, 8, 33), dtype=np.float32)
    _run(nn.AdaptiveMaxPool1d(6, True), torch.nn.AdaptiveMaxPool1d(6, True), x32, F32, True)


def test_adaptive_max_no_grad_and_gradcheck():
    x = dg.tensor(_x((2, 2, 5, 6)))
    y, i = F.adaptive_max_pool2d(x, (3, 4), True)
    assert not y.requires_grad and not i.requires_grad
    xs = dg.tensor(_x((2, 5, 7), seed=4), requires_grad=True)
    assert dg.gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), (xs,))
    x1 = dg.tensor(_x((2, 9), seed=5), requires_grad=True)
    assert dg.gradcheck(lambda t: F.adaptive_max_pool1d(t, 4), (x1,))


# ---- lp pooling --------------------------------------------------------------------------------

NORMS = [1, 2, 3, 1.5, 0.5, -1.0, float("inf"), float("-inf")]


@pytest.mark.parametrize("p", NORMS, ids=str)
@pytest.mark.parametrize(
    "k, s, ceil", [(2, None, False), (3, 2, False), (3, 2, True), (1, 1, False), (4, 3, True)]
)
def test_lp_pool1d(p, k, s, ceil):
    x = np.abs(_x((2, 3, 11))) + 0.1 if p not in (1, 2, 3) and abs(p) != np.inf else _x((2, 3, 11))
    _run(nn.LPPool1d(p, k, s, ceil), torch.nn.LPPool1d(p, k, s, ceil), x)
    _run(
        lambda t: F.lp_pool1d(t, p, k, s, ceil),
        lambda t: TF.lp_pool1d(t, p, k, s, ceil),
        x[0],
    )


@pytest.mark.parametrize("p", NORMS, ids=str)
@pytest.mark.parametrize(
    "k, s, ceil",
    [(2, None, False), (3, 2, False), (3, 2, True), ((2, 3), (1, 2), False), ((3, 2), None, True)],
    ids=str,
)
def test_lp_pool2d(p, k, s, ceil):
    x = np.abs(_x((2, 3, 7, 9))) + 0.1 if p not in (1, 2, 3) and abs(p) != np.inf else None
    x = _x((2, 3, 7, 9)) if x is None else x
    _run(nn.LPPool2d(p, k, s, ceil), torch.nn.LPPool2d(p, k, s, ceil), x)
    _run(
        lambda t: F.lp_pool2d(t, p, k, s, ceil),
        lambda t: TF.lp_pool2d(t, p, k, s, ceil),
        x[1],
    )


def test_lp_pool_negative_zero_and_nonfinite_windows():
    # zero-sum windows (zero gradient through relu), negative sums (NaN for a non-odd power)
    x = np.array([[[0.0, 0.0, 1.0, 2.0, 0.0, 0.0, -1.0, 1.0, -2.0, -0.5, 3.0, np.inf]]])
    for p in [1, 2, 3, 0.5, 1.5, -1, -2, np.inf, -np.inf, 2.5]:
        _run(lambda t, p=p: F.lp_pool1d(t, p, 2), lambda t, p=p: TF.lp_pool1d(t, p, 2), x)
    x2 = _x((1, 2, 6, 6))
    x2[0, 0, :2, :2] = 0.0
    x2[0, 1, 2, 3] = np.nan
    x2[0, 1, 4, 4] = -np.inf
    for p in [1, 2, 3, np.inf, -np.inf]:
        _run(lambda t, p=p: F.lp_pool2d(t, p, 2), lambda t, p=p: TF.lp_pool2d(t, p, 2), x2)
    # large magnitudes: x ** p overflows to inf as in torch
    big = _x((1, 2, 8)) * 1e160
    for p in [1, 2, 3]:
        _run(lambda t, p=p: F.lp_pool1d(t, p, 2), lambda t, p=p: TF.lp_pool1d(t, p, 2), big)
    # a NaN norm_type: NaN everywhere
    _run(lambda t: F.lp_pool1d(t, np.nan, 2), lambda t: TF.lp_pool1d(t, float("nan"), 2), x)


def test_lp_pool_float32_and_gradcheck():
    x32 = np.abs(_x((4, 8, 33, 35), dtype=np.float32)) + 0.1
    for p in [2, 1.5, np.inf]:
        _run(nn.LPPool2d(p, 3, 2), torch.nn.LPPool2d(p, 3, 2), x32, F32)
        _run(nn.LPPool1d(p, 3, 2, True), torch.nn.LPPool1d(p, 3, 2, True), x32[0], F32)
    x = dg.tensor(np.abs(_x((2, 5, 7), seed=6)) + 0.5, requires_grad=True)
    for p in [2, 3, 1.5]:
        assert dg.gradcheck(lambda t, p=p: F.lp_pool2d(t, p, 2, 1, True), (x,))
        assert dg.gradcheck(lambda t, p=p: F.lp_pool1d(t, p, 3, 2), (x,))


# ---- modules: arguments and reprs --------------------------------------------------------------


def test_modules_arguments_and_reprs():
    for ctor, args in [
        ("AdaptiveMaxPool1d", (4,)),
        ("AdaptiveMaxPool1d", (4, True)),
        ("AdaptiveMaxPool2d", ((None, 3),)),
        ("AdaptiveMaxPool2d", (2, True)),
        ("LPPool1d", (2, 3)),
        ("LPPool1d", (1.5, 3, 2, True)),
        ("LPPool2d", (2, (2, 3))),
        ("LPPool2d", (float("inf"), 3, (1, 2), True)),
    ]:
        a, b = getattr(nn, ctor)(*args), getattr(torch.nn, ctor)(*args)
        assert repr(a) == repr(b)
        names = ["output_size", "return_indices"]
        if ctor.startswith("LP"):
            names = ["norm_type", "kernel_size", "stride", "ceil_mode"]
        for name in names:
            assert getattr(a, name) == getattr(b, name)
    m = nn.LPPool2d(norm_type=2, kernel_size=2, stride=1, ceil_mode=True)
    assert (m.norm_type, m.kernel_size, m.stride, m.ceil_mode) == (2, 2, 1, True)
    m = nn.AdaptiveMaxPool2d(output_size=3, return_indices=True)
    assert isinstance(m(dg.tensor(_x((1, 5, 5)))), tuple)
    for name in ["adaptive_max_pool1d", "adaptive_max_pool2d", "lp_pool1d", "lp_pool2d"]:
        assert name in F.__all__
    for name in ["AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d"]:
        assert name in nn.__all__


# ---- bad input ---------------------------------------------------------------------------------


def _both_raise(fa, fb, x, dg_type=None):
    """torch raises some exception type; deltagrad raises an instance of it (and of dg_type)."""
    with pytest.raises(Exception) as tb:
        fb(torch.tensor(x))
    with pytest.raises(tb.type) as ta:
        fa(dg.tensor(x))
    if dg_type is not None:
        assert isinstance(ta.value, dg_type)
    return str(ta.value)


@pytest.mark.parametrize(
    "fn, x, args",
    [
        ("adaptive_max_pool2d", (5, 7), (2,)),  # wrong ndim
        ("adaptive_max_pool2d", (1, 2, 3, 4, 5), (2,)),
        ("adaptive_max_pool2d", (2, 3, 5, 0), (2,)),  # empty non-batch dimension
        ("adaptive_max_pool2d", (2, 0, 5, 3), (2,)),
        ("adaptive_max_pool2d", (2, 3, 5, 7), (-1,)),  # negative size
        ("adaptive_max_pool2d", (2, 3, 5, 7), ((2, -3),)),
        ("adaptive_max_pool2d", (2, 3, 5, 7), ((2, 3, 4),)),  # three sizes
        ("adaptive_max_pool1d", (7,), (2,)),
        ("adaptive_max_pool1d", (2, 3, 4, 7), (2,)),
        ("adaptive_max_pool1d", (3, 0), (2,)),
        ("adaptive_max_pool1d", (2, 3, 7), (-1,)),
        ("adaptive_max_pool1d", (2, 3, 7), ((2, 3),)),
        ("lp_pool1d", (7,), (2, 2)),  # wrong ndim
        ("lp_pool1d", (1, 2, 3, 7), (2, 2)),
        ("lp_pool1d", (2, 3, 7), (2, 8)),  # a kernel larger than the input
        ("lp_pool1d", (2, 3, 7), (2, 2, 0)),  # stride 0
        ("lp_pool1d", (2, 3, 7), (2, 2, (1, 2))),
        ("lp_pool2d", (7, 7), (2, 2)),  # torch: IndexError (deltagrad's is a ValueError too)
        ("lp_pool2d", (7,), (2, 2)),
        ("lp_pool2d", (1, 2, 3, 4, 5), (2, 2)),
        ("lp_pool2d", (2, 3, 7, 7), (2, 8)),
        ("lp_pool2d", (2, 3, 7, 7), (2, 2, 0)),
        ("lp_pool2d", (2, 3, 7, 7), (2, 2, (1, 2, 3))),
    ],
    ids=str,
)
def test_bad_values(fn, x, args):
    msg = _both_raise(
        lambda t: getattr(F, fn)(t, *args), lambda t: getattr(TF, fn)(t, *args), _x(x), ValueError
    )
    assert msg.startswith(fn)


@pytest.mark.parametrize(
    "fn, args",
    [
        ("adaptive_max_pool2d", (2.5,)),  # a float size
        ("adaptive_max_pool2d", ((True, 2),)),  # a bool size
        ("adaptive_max_pool2d", (None,)),  # None outside a pair
        ("adaptive_max_pool1d", (None,)),
        ("adaptive_max_pool1d", (True,)),
        ("lp_pool2d", ("2", 2)),  # a string norm_type
        ("lp_pool2d", (2, (1, 2, 3))),  # three kernel sizes
        ("lp_pool2d", (0, 2)),  # norm_type 0: ZeroDivisionError (1 / norm_type)
        ("lp_pool1d", (0.0, 2)),
        ("lp_pool1d", (0, 9)),  # the kernel's error first, as torch
    ],
    ids=str,
)
def test_bad_arguments(fn, args):
    x = _x((2, 3, 6) if fn.endswith("1d") else (2, 3, 6, 6))
    msg = _both_raise(lambda t: getattr(F, fn)(t, *args), lambda t: getattr(TF, fn)(t, *args), x)
    assert msg.startswith(fn)


def test_integer_input():
    # torch's adaptive_max_pool2d kernel is for floating types: NotImplementedError (deltagrad's
    # is a TypeError too); lp_pool: deltagrad refuses integer input the same way
    xi = np.arange(24).reshape(2, 3, 4)
    for fa, fb in [
        (lambda t: F.adaptive_max_pool2d(t, 2), lambda t: TF.adaptive_max_pool2d(t, 2)),
        (lambda t: F.adaptive_max_pool1d(t, 2), lambda t: TF.adaptive_max_pool1d(t, 2)),
    ]:
        _both_raise(fa, fb, xi, TypeError)
    for fn in [F.lp_pool1d, F.lp_pool2d]:
        with pytest.raises(TypeError, match="^lp_pool"):
            fn(dg.tensor(xi), 2, 2)
    with pytest.raises(TypeError, match="^adaptive_max_pool2d"):
        F.adaptive_max_pool2d([[1.0]], 1)


def test_keywords_noncontiguous_and_empty():
    x = _x((2, 3, 9, 7))
    _run(
        lambda t: F.adaptive_max_pool2d(input=t.transpose(-1, -2), output_size=(3, 4)),
        lambda t: TF.adaptive_max_pool2d(input=t.transpose(-1, -2), output_size=(3, 4)),
        x,
    )
    _run(
        lambda t: F.lp_pool2d(input=t, norm_type=2, kernel_size=3, stride=2, ceil_mode=True),
        lambda t: TF.lp_pool2d(input=t, norm_type=2, kernel_size=3, stride=2, ceil_mode=True),
        x,
    )
    _run(lambda t: F.lp_pool2d(t, 2, 2), lambda t: TF.lp_pool2d(t, 2, 2), _x((0, 3, 4, 4)))
    _run(lambda t: F.lp_pool1d(t, 3, 2), lambda t: TF.lp_pool1d(t, 3, 2), _x((0, 3, 4)))
    _run(lambda t: F.lp_pool1d(t, 2, 1), lambda t: TF.lp_pool1d(t, 2, 1), _x((1, 1)))
    # deltagrad takes a 1-tuple kernel_size for lp_pool1d (torch's .mul(kernel_size) fails)
    a = dg.tensor(_x((2, 3, 8)))
    assert_close(F.lp_pool1d(a, 2, (3,), (2,)).data, F.lp_pool1d(a, 2, 3, 2).data, **TOL)


def test_signatures_as_torch():
    import inspect

    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in ["lp_pool1d", "lp_pool2d"] + [
        f"adaptive_max_pool{d}d_with_indices" for d in (1, 2)
    ]:
        assert params(getattr(F, name)) == params(getattr(TF, name))
    for name in ["adaptive_max_pool1d", "adaptive_max_pool2d"]:  # torch's: (*args, **kwargs)
        assert params(getattr(F, name)) == params(getattr(TF, name + "_with_indices"))
    for name in ["AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d"]:
        assert params(getattr(nn, name).__init__) == params(getattr(torch.nn, name).__init__)
