"""max_pool3d / avg_pool3d on the CPU kernels of csrc/cpu/pool3d.h (_cpu.max_pool3d,
_cpu.avg_pool3d and their backward passes) against torch 2.13 (CPU, the same dtype): values,
int64 indices, gradients and double backward, over odd sizes, size-1 dimensions, strides 1 / 2
/ 3, padding, dilation, ceil_mode, non-cubic kernels, NaN / -inf / ties, unbatched input, every
ISA build (generic, AVX2, the detected one), and 1 vs 2 threads (the same bits)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import _cpu

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float32, np.float64]

# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 5, 7, 9), 2, 2, 0, 1, False),
    ((2, 3, 5, 7, 9), 2, 2, 0, 1, True),
    ((1, 2, 6, 9, 37), 3, 1, 1, 1, False),
    ((2, 2, 7, 8, 41), (2, 3, 3), (1, 2, 2), (1, 1, 1), 1, True),
    ((1, 3, 9, 10, 23), 3, 3, 1, 1, True),
    ((1, 2, 9, 11, 29), 3, (2, 1, 3), 1, 2, False),
    ((1, 2, 9, 11, 35), (3, 2, 3), 1, (1, 0, 1), (2, 1, 2), True),
    ((3, 1, 1, 1, 1), 1, 1, 0, 1, False),
    ((1, 2, 1, 5, 19), (1, 3, 2), None, 0, 1, True),
    ((1, 1, 4, 1, 17), (3, 1, 3), 2, (1, 0, 1), 1, True),
    ((2, 2, 5, 6, 40), (1, 1, 5), (1, 1, 2), (0, 0, 2), (1, 1, 3), False),
    # wide rows: whole gathered vectors (stride 3; stride 2 with dilation 2)
    ((1, 2, 3, 4, 101), (2, 2, 3), (1, 1, 3), (1, 0, 1), 1, False),
    ((1, 2, 3, 4, 90), (1, 2, 3), (1, 1, 2), 0, (1, 1, 2), True),
]

AVG_CASES = [
    ((2, 3, 5, 7, 9), 2, 2, 0, False),
    ((1, 2, 6, 9, 37), 3, 1, 1, False),
    ((2, 2, 7, 8, 41), (2, 3, 3), (1, 2, 2), 1, True),
    ((1, 3, 9, 10, 23), 3, 3, 1, True),
    ((3, 1, 1, 1, 1), 1, 1, 0, False),
    ((1, 2, 1, 5, 19), (1, 3, 2), None, 0, True),
    ((2, 2, 5, 6, 40), (1, 2, 5), (1, 1, 2), (0, 1, 2), False),
    ((1, 2, 3, 4, 101), (2, 2, 4), (1, 1, 3), (1, 0, 2), True),
]


def _data(shape, dtype, seed, kind="normal"):
    rng = np.random.default_rng(seed)
    if kind == "ties":  # a few distinct values: many equal maxima
        x = rng.integers(-2, 3, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if kind == "extremes" and x.size:
        flat = x.reshape(-1)
        pick = rng.choice(flat.size, size=max(1, flat.size // 7), replace=False)
        flat[pick[0::3]] = np.nan
        flat[pick[1::3]] = -np.inf
        flat[pick[2::3]] = np.inf
    return x


def _t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _eq_nan(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # NaN == NaN here


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES)
@pytest.mark.parametrize("kind", ["normal", "ties", "extremes"])
def test_max_pool3d_values_indices(isa, dtype, case, kind):
    shape, k, s, p, d, ceil = case
    x = _data(shape, dtype, hash((shape, kind)) % 1000, kind)
    y, i = F.max_pool3d(dg.tensor(x), k, s, p, d, ceil, return_indices=True)
    ty, ti = TF.max_pool3d(_t(x), k, s, p, d, ceil, return_indices=True)
    assert y.data.dtype == dtype and i.data.dtype == np.int64
    _eq_nan(y.data, ty.numpy())
    np.testing.assert_array_equal(i.data, ti.numpy())
    # without indices (the inference path) the same values
    _eq_nan(F.max_pool3d(dg.tensor(x), k, s, p, d, ceil).data, ty.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool3d_grad(isa, dtype, case):
    shape, k, s, p, d, ceil = case
    x = _data(shape, dtype, 7, "ties")
    xd = dg.tensor(x, requires_grad=True)
    y = F.max_pool3d(xd, k, s, p, d, ceil)
    gy = _data(y.shape, dtype, 8)
    y.backward(dg.tensor(gy))
    xt = _t(x, True)
    TF.max_pool3d(xt, k, s, p, d, ceil).backward(_t(gy))
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dil", [(2, 1, 1), (1, 2, 1), (1, 1, 2)])
def test_max_pool3d_padding_windows(isa, dil):
    """Windows that lie in the padding along an axis (size 1, kernel 2, padding 1, dilation
    2): -inf and torch's start index, and no gradient from them (as the composed path)."""
    shape = [1, 2, 4, 5, 6]
    shape[2 + dil.index(2)] = 1
    x = _data(tuple(shape), np.float64, 3)
    xd = dg.tensor(x, requires_grad=True)
    y, i = F.max_pool3d(xd, 2, 1, 1, dil, False, return_indices=True)
    ty, ti = TF.max_pool3d(_t(x), 2, 1, 1, dil, False, return_indices=True)
    _eq_nan(y.data, ty.numpy())
    np.testing.assert_array_equal(i.data, ti.numpy())
    assert np.isneginf(y.data).all()
    y.backward(dg.tensor(np.ones(y.shape)))
    np.testing.assert_array_equal(xd.grad.data, np.zeros(x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool3d_unbatched_and_double_backward(dtype):
    x = _data((3, 5, 6, 11), dtype, 11, "ties")
    xd = dg.tensor(x, requires_grad=True)
    y, i = F.max_pool3d(xd, (2, 3, 2), (1, 2, 2), (1, 1, 0), return_indices=True)
    xt = _t(x, True)
    ty, ti = TF.max_pool3d(xt, (2, 3, 2), (1, 2, 2), (1, 1, 0), return_indices=True)
    assert y.shape == tuple(ty.shape) and i.shape == tuple(ti.shape)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(i.data, ti.numpy())
    # double backward: the gradient is linear in the output gradient g
    g = dg.tensor(_data(y.shape, dtype, 12), requires_grad=True)
    (gx,) = dg.autograd.grad(y, xd, g, create_graph=True)
    gt = _t(g.data, True)
    (gxt,) = torch.autograd.grad(ty, xt, gt, create_graph=True)
    np.testing.assert_allclose(gx.data, gxt.detach().numpy(), rtol=1e-6)
    w = _data(x.shape, dtype, 13)
    (gx * dg.tensor(w)).sum().backward()
    (gxt * _t(w)).sum().backward()
    np.testing.assert_allclose(g.grad.data, gt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("mode", ["include", "exclude", "divisor"])
def test_avg_pool3d(isa, dtype, case, mode):
    shape, k, s, p, ceil = case
    cip = mode != "exclude"
    div = 5 if mode == "divisor" else None
    x = _data(shape, dtype, 21)
    xd = dg.tensor(x, requires_grad=True)
    y = F.avg_pool3d(xd, k, s, p, ceil, cip, div)
    xt = _t(x, True)
    ty = TF.avg_pool3d(xt, k, s, p, ceil, cip, div)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.data.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    gy = _data(y.shape, dtype, 22)
    y.backward(dg.tensor(gy))
    ty.backward(_t(gy))
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=tol, atol=tol)


def test_avg_pool3d_unbatched_and_double_backward():
    x = _data((2, 5, 6, 9), np.float64, 31)
    xd = dg.tensor(x, requires_grad=True)
    y = F.avg_pool3d(xd, (2, 3, 3), 2, 1, True, False)
    xt = _t(x, True)
    ty = TF.avg_pool3d(xt, (2, 3, 3), 2, 1, True, False)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    g = dg.tensor(_data(y.shape, np.float64, 32), requires_grad=True)
    (gx,) = dg.autograd.grad(y, xd, g, create_graph=True)
    gt = _t(g.data, True)
    (gxt,) = torch.autograd.grad(ty, xt, gt, create_graph=True)
    np.testing.assert_allclose(gx.data, gxt.detach().numpy(), rtol=1e-12)
    w = _data(x.shape, np.float64, 33)
    (gx * dg.tensor(w)).sum().backward()
    (gxt * _t(w)).sum().backward()
    np.testing.assert_allclose(g.grad.data, gt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_same_bits(dtype):
    """1 and 2 threads: the same values, indices and gradients, bit for bit."""
    x = _data((2, 16, 9, 20, 37), dtype, 41, "ties")
    gy = _data(_cpu.max_pool3d(x, 3, 2, 1, 1, True).shape, dtype, 42)
    gz = _data(_cpu.avg_pool3d(x, (2, 3, 3), 2, 1, True).shape, dtype, 43)
    old = dg.get_num_threads()
    got = []
    try:
        for n in (1, 2):
            dg.set_num_threads(n)
            y, i = _cpu.max_pool3d(x, 3, 2, 1, 1, True, True)
            dx = _cpu.max_pool3d_backward(gy, i, x.shape, 3, 2, 1, 1, True)  # overlap: volumes
            z, j = _cpu.max_pool3d(x, (2, 3, 3), 2, 1, 1, True, True)
            dz = _cpu.max_pool3d_backward(gz, j, x.shape, (2, 3, 3), 2, 1, 1, True)  # slabs
            a = _cpu.avg_pool3d(x, 3, 2, 1, True, False, None)
            da = _cpu.avg_pool3d_backward(gy, x.shape, 3, 2, 1, True, False, None)
            db = _cpu.avg_pool3d_backward(gz, x.shape, (2, 3, 3), 2, 1, True)
            got.append((y, i, dx, z, j, dz, a, da, db))
    finally:
        dg.set_num_threads(old)
    for u, v in zip(*got):
        assert u.tobytes() == v.tobytes()


def test_kernel_bad_input():
    x = _data((1, 2, 4, 4, 4), np.float32, 51)
    with pytest.raises(ValueError, match="5-D"):
        _cpu.max_pool3d(x[0], 2)
    with pytest.raises(TypeError):
        _cpu.max_pool3d(x.astype(np.int32), 2)
    with pytest.raises(ValueError):
        _cpu.max_pool3d(x[..., ::2], 2)  # not C-contiguous
    with pytest.raises(ValueError, match="padding"):
        _cpu.max_pool3d(x, 2, 1, 2)
    with pytest.raises(ValueError, match="stride"):
        _cpu.avg_pool3d(x, 2, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        _cpu.max_pool3d(x, 5)
    with pytest.raises(ValueError, match="divisor_override"):
        _cpu.avg_pool3d(x, 2, None, 0, False, True, 0)
    with pytest.raises(ValueError, match="non-zero"):
        _cpu.max_pool3d(np.zeros((1, 1, 0, 3, 3), np.float32), 1)
    y, i = _cpu.max_pool3d(x, 2, 2, 0, 1, False, True)
    bad = i.copy()
    bad.reshape(-1)[0] = 10**9
    with pytest.raises(ValueError, match="indices"):
        _cpu.max_pool3d_backward(y, bad, x.shape, 2)
    with pytest.raises(TypeError, match="int64"):
        _cpu.max_pool3d_backward(y, i.astype(np.int32), x.shape, 2)
    with pytest.raises(ValueError):
        _cpu.max_pool3d_backward(y[:, :1], i, x.shape, 2)
    with pytest.raises(ValueError):
        _cpu.avg_pool3d_backward(y, (1, 2, 4, 4, 7), 2)


def test_views_and_misaligned_input():
    """A strided view and a misaligned array take the kernels through a copy."""
    x = _data((2, 3, 6, 8, 20), np.float64, 61)
    view = dg.tensor(x)[:, :, :, :, ::2]
    np.testing.assert_array_equal(
        F.max_pool3d(view, 2).data, TF.max_pool3d(_t(x[..., ::2].copy()), 2).numpy()
    )
    buf = np.zeros(x.nbytes + 1, np.uint8)[1:]
    odd = np.frombuffer(buf.data, np.float64).reshape(x.shape)
    odd[...] = x
    t = dg.Tensor(odd)
    assert not t.data.flags.aligned
    np.testing.assert_allclose(F.avg_pool3d(t, 2).data, TF.avg_pool3d(_t(x), 2).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(F.max_pool3d(t, 2).data, TF.max_pool3d(_t(x), 2).numpy())
