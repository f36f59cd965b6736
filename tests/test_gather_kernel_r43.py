"""gather / scatter_add through the strided kernels (_cpu.gather / _cpu.scatter_add,
csrc/cpu/gather.h, round 43) against torch: values and gradients, every dim of 1-D to 4-D
shapes, odd sizes, size 0 and 1, indices smaller than the input outside dim, int32 / int64,
views, the threaded paths (bit for bit against one thread), range errors."""

import numpy as np
import pytest
import torch

import deltagrad as dg
from deltagrad import _cpu

RNG = np.random.default_rng(43)
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
SHAPES = [(7,), (1,), (0,), (5, 1), (3, 9), (1, 4, 6), (4, 3, 5), (2, 3, 1, 4), (3, 0, 2)]


def _np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def _index_shapes(shape, d):
    """The index shapes tried along dim d: x's own, longer and shorter along d (0 too), and
    smaller than x in the other dims."""
    n = shape[d]
    out = {tuple(shape)}
    for m in (0, 1, 2 * n + 1):
        s = list(shape)
        s[d] = m
        out.add(tuple(s))
    small = [max(k - 1, 0) if j != d else shape[d] + 2 for j, k in enumerate(shape)]
    out.add(tuple(small))
    return sorted(out)


def _cases():
    for shape in SHAPES:
        for d in range(-len(shape), len(shape)):
            for ishape in _index_shapes(shape, d):
                yield shape, d, ishape


def _index(shape, d, ishape, itype):
    n = shape[d]
    if n == 0:
        return np.zeros(ishape, itype)
    return RNG.integers(0, n, ishape).astype(itype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
def test_gather_vs_torch(dtype, itype):
    for shape, d, ishape in _cases():
        if shape[d] == 0 and 0 not in ishape:
            continue  # every index out of range: the error test
        x = RNG.standard_normal(shape).astype(dtype)
        idx = _index(shape, d, ishape, itype)
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yd = xd.gather(d, dg.tensor(idx))
        yt = xt.gather(d, torch.tensor(idx.astype(np.int64)))
        msg = f"shape {shape} dim {d} index {ishape}"
        assert yd.shape == tuple(yt.shape) and yd.dtype == xd.dtype, msg
        np.testing.assert_array_equal(yd.numpy(), yt.detach().numpy(), err_msg=msg)
        g = RNG.standard_normal(ishape).astype(dtype)
        yd.backward(dg.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(_np(xd.grad), xt.grad.numpy(), **TOL[dtype], err_msg=msg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
def test_scatter_add_vs_torch(dtype, itype):
    for shape, d, ishape in _cases():
        if any(i > s for k, (i, s) in enumerate(zip(ishape, shape)) if k != d % len(shape)):
            continue
        if shape[d] == 0 and 0 not in ishape:
            continue
        x = RNG.standard_normal(shape).astype(dtype)
        src = RNG.standard_normal(ishape).astype(dtype)
        idx = _index(shape, d, ishape, itype)
        xd, sd = dg.tensor(x, requires_grad=True), dg.tensor(src, requires_grad=True)
        xt, st = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
        yd = xd.scatter_add(d, dg.tensor(idx), sd)
        yt = xt.scatter_add(d, torch.tensor(idx.astype(np.int64)), st)
        msg = f"shape {shape} dim {d} index {ishape}"
        np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), **TOL[dtype], err_msg=msg)
        g = RNG.standard_normal(shape).astype(dtype)
        yd.backward(dg.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(_np(xd.grad), xt.grad.numpy(), err_msg=msg)
        np.testing.assert_array_equal(_np(sd.grad), st.grad.numpy(), err_msg=msg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_src_larger_than_index(dtype):
    x = RNG.standard_normal((4, 6)).astype(dtype)
    src = RNG.standard_normal((5, 9)).astype(dtype)
    idx = RNG.integers(0, 6, (3, 7))
    want = torch.tensor(x).scatter_add(1, torch.tensor(idx), torch.tensor(src)).numpy()
    sd = dg.tensor(src, requires_grad=True)
    y = dg.tensor(x).scatter_add(1, dg.tensor(idx), sd)
    np.testing.assert_allclose(y.numpy(), want, **TOL[dtype])
    g = RNG.standard_normal((4, 6)).astype(dtype)
    y.backward(dg.tensor(g))
    gs = np.zeros_like(src)  # torch's backward refuses a larger src: the leading block's
    gs[:3, :7] = np.take_along_axis(g[:3], idx, 1)
    np.testing.assert_array_equal(_np(sd.grad), gs)


def _views(a):
    """a C-contiguous array and views of it with other strides (the same values)."""
    yield a
    yield np.asfortranarray(a)
    yield a[..., ::-1][..., ::-1]  # negative strides, undone: same values
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    big[tuple(slice(None, None, 2) for _ in a.shape)] = a
    yield big[tuple(slice(None, None, 2) for _ in a.shape)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_of_input_and_index(dtype):
    x = RNG.standard_normal((5, 6, 7)).astype(dtype)
    for d in range(3):
        ishape = [4, 5, 6]
        ishape[d] = 9
        idx = RNG.integers(0, x.shape[d], ishape)
        src = RNG.standard_normal(ishape).astype(dtype)
        want = torch.tensor(x).gather(d, torch.tensor(idx)).numpy()
        base = x[tuple(slice(None) if k == d else slice(0, m) for k, m in enumerate(ishape))]
        want_sa = (
            torch.tensor(np.ascontiguousarray(base))
            .scatter_add(d, torch.tensor(idx), torch.tensor(src))
            .numpy()
        )
        for xv in _views(x):
            for iv in _views(idx):
                got = dg.tensor(xv).gather(d, dg.tensor(iv)).numpy()
                np.testing.assert_array_equal(got, want, err_msg=f"dim {d}")
                assert np.array_equal(_cpu.gather(xv, d, iv), want)
        for bv in _views(np.ascontiguousarray(base)):
            for sv in _views(src):
                got = _cpu.scatter_add(bv, d, idx.T.copy().T, sv)
                np.testing.assert_allclose(got, want_sa, **TOL[dtype])
    # a transposed tensor, its gradient through the view
    a = RNG.standard_normal((6, 8)).astype(dtype)
    idx = RNG.integers(0, 6, (8, 11))
    xd, xt = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    yd, yt = xd.t().gather(1, dg.tensor(idx)), xt.t().gather(1, torch.tensor(idx))
    np.testing.assert_array_equal(yd.numpy(), yt.detach().numpy())
    (yd * yd).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(_np(xd.grad), xt.grad.numpy(), **TOL[dtype])


def test_broadcast_operands():
    """Zero strides: a broadcast index (take_along_dim's), a broadcast src and g (sum's)."""
    x = RNG.standard_normal((4, 5, 6))
    j = RNG.integers(0, 6, (1, 5, 3))
    yd = dg.tensor(x).take_along_dim(dg.tensor(j), -1)
    yt = torch.tensor(x).take_along_dim(torch.tensor(j), -1)
    np.testing.assert_array_equal(yd.numpy(), yt.numpy())
    idx = np.broadcast_to(RNG.integers(0, 5, (1, 7, 1)), (4, 7, 6))
    np.testing.assert_array_equal(_cpu.gather(x, 1, idx), np.take_along_axis(x, idx, 1))
    src = np.broadcast_to(np.float64(1.5), (4, 7, 6))
    want = x.copy()
    np.add.at(want, (np.arange(4)[:, None, None], idx, np.arange(6)), src)
    np.testing.assert_array_equal(_cpu.scatter_add(x, 1, idx, src), want)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    xd.gather(1, dg.tensor(idx)).sum().backward()
    xt.gather(1, torch.tensor(np.ascontiguousarray(idx))).sum().backward()
    np.testing.assert_array_equal(_np(xd.grad), xt.grad.numpy())


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int8, np.uint8, np.int16, np.float16, np.int32, np.int64, np.complex128]
)
def test_gather_other_dtypes(dtype):
    x = (RNG.standard_normal((5, 6, 3)) * 50).astype(dtype)
    for d in range(3):
        idx = RNG.integers(0, x.shape[d], (4, 6, 2))
        sub = x[tuple(slice(None) if k == d else slice(0, m) for k, m in enumerate(idx.shape))]
        got = dg.tensor(x).gather(d, dg.tensor(idx)).numpy()
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, np.take_along_axis(sub, idx, d))


@pytest.mark.parametrize("itype", [np.int8, np.uint8, np.int16, np.uint64, np.int32, np.int64])
def test_index_dtypes(itype):
    x = RNG.standard_normal((3, 7))
    idx = RNG.integers(0, 7, (3, 5)).astype(itype)
    want = torch.tensor(x).gather(1, torch.tensor(idx.astype(np.int64))).numpy()
    np.testing.assert_array_equal(dg.tensor(x).gather(1, dg.tensor(idx)).numpy(), want)
    src = RNG.standard_normal((3, 5))
    want = torch.tensor(x).scatter_add(1, torch.tensor(idx.astype(np.int64)), torch.tensor(src))
    got = dg.tensor(x).scatter_add(1, dg.tensor(idx), dg.tensor(src))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("bad", [-1, 7, 2**31 - 1, -(2**31), 2**40, -(2**63)])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
def test_out_of_range(bad, itype):
    if not np.iinfo(itype).min <= bad <= np.iinfo(itype).max:
        pytest.skip("value does not fit the dtype")
    x = dg.tensor(RNG.standard_normal((4, 7)), requires_grad=True)
    for pos in ((0, 0), (3, 4), (2, 1)):
        idx = RNG.integers(0, 7, (4, 5)).astype(itype)
        idx[pos] = bad
        with pytest.raises(IndexError, match=f"gather: index: {bad} is out of range"):
            x.gather(1, dg.tensor(idx))
        with pytest.raises(IndexError, match=f"scatter_add: index: {bad} is out of range"):
            x.scatter_add(1, dg.tensor(idx), x[:, :5])
        with pytest.raises(IndexError, match="out of range"):
            x.gather(0, dg.tensor(idx.T.copy()[:4]))
        with pytest.raises(RuntimeError):  # torch's error for the same index
            torch.zeros(4, 7).gather(1, torch.tensor(idx.astype(np.int64)))
    # an empty dim: every index is out of range, an empty index is fine
    e = dg.tensor(np.zeros((3, 0)))
    with pytest.raises(IndexError, match="out of range"):
        e.gather(1, dg.tensor(np.zeros((3, 1), np.int64)))
    assert e.gather(1, dg.tensor(np.zeros((3, 0), np.int64))).shape == (3, 0)


def test_binding_checks():
    x = np.zeros((3, 4), np.float32)
    i = np.zeros((3, 4), np.int64)
    with pytest.raises(TypeError, match="index: expected dtype int64 or int32"):
        _cpu.gather(x, 1, i.astype(np.int16))
    with pytest.raises(TypeError, match="x: expected a numeric or bool dtype"):
        _cpu.gather(x.astype(object), 1, i)
    with pytest.raises(ValueError, match="dim"):
        _cpu.gather(x, 2, i)
    with pytest.raises(ValueError, match="index"):
        _cpu.gather(x, 1, i[0])
    with pytest.raises(ValueError, match="larger than"):
        _cpu.gather(x, 1, np.zeros((4, 4), np.int64))
    with pytest.raises(TypeError, match="self: expected dtype float32 or float64"):
        _cpu.scatter_add(x.astype(np.int64), 1, i, x)
    with pytest.raises(TypeError, match="src: expected dtype float32"):
        _cpu.scatter_add(x, 1, i, x.astype(np.float64))
    with pytest.raises(ValueError, match="src: expected a shape at least"):
        _cpu.scatter_add(x, 1, i, x[:, :2])
    with pytest.raises(TypeError, match="numpy.ndarray"):
        _cpu.gather([1.0], 0, i[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_bits(dtype):
    """The threaded paths (rows; chunks of a long innermost dim; a scatter along another dim)
    give the bits of one thread and of np.add.at."""
    cases = [
        ((20000, 16), 1, (20000, 16)),
        ((2, 70000), 1, (2, 70000)),
        ((3, 50000), 0, (9, 50000)),
    ]
    cases += [((4, 300, 64), 1, (4, 200, 64)), ((70000,), 0, (70000,))]
    before = dg.get_num_threads()
    try:
        for shape, d, ishape in cases:
            x = RNG.standard_normal(shape).astype(dtype)
            idx = RNG.integers(0, shape[d], ishape)
            src = RNG.standard_normal(ishape).astype(dtype)
            res = []
            for nt in (1, 2):
                dg.set_num_threads(nt)
                res.append((_cpu.gather(x, d, idx), _cpu.scatter_add(x, d, idx, src)))
            np.testing.assert_array_equal(res[0][0], res[1][0])
            np.testing.assert_array_equal(res[0][0], np.take_along_axis(x, idx, d))
            want = x.copy()
            grids = [
                np.arange(k).reshape([-1 if j == a else 1 for j in range(len(shape))])
                for a, k in enumerate(ishape)
            ]
            grids[d] = idx
            np.add.at(want, tuple(grids), src)
            assert res[0][1].tobytes() == want.tobytes()
            assert res[1][1].tobytes() == want.tobytes()
            bad = idx.copy()
            bad.reshape(-1)[-1] = shape[d]
            with pytest.raises(IndexError, match="out of range"):
                _cpu.gather(x, d, bad)
            with pytest.raises(IndexError, match="out of range"):
                _cpu.scatter_add(x, d, bad, src)
    finally:
        dg.set_num_threads(before)


def test_double_backward():
    x = RNG.standard_normal((5, 8))
    idx = RNG.integers(0, 8, (5, 11))
    src = RNG.standard_normal((5, 11))
    for f in (
        lambda m, x, s: x.gather(1, m.tensor(idx)),
        lambda m, x, s: (
            x.scatter_add(1, m.tensor(idx.astype(np.int32)), s)
            if m is dg
            else x.scatter_add(1, m.tensor(idx), s)
        ),
    ):
        res = []
        for m in (dg, torch):
            xt, st = m.tensor(x, requires_grad=True), m.tensor(src, requires_grad=True)
            y = f(m, xt, st)
            gx, gs = m.autograd.grad((y**3).sum(), (xt, st), create_graph=True, allow_unused=True)
            gs = 0 if gs is None else (gs**2).sum()
            h = m.autograd.grad((gx**2).sum() + gs, xt)[0]
            res.append((gx.detach().numpy(), h.numpy()))
        for a, b in zip(*res):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "prod", "amax", "amin"])
def test_scatter_reduce_last_axis_bits(dtype, reduce):
    """_cpu.scatter_reduce_ along the last axis (its one-loop-per-slice path), serial and
    threaded over slices, against np.<ufunc>.at bit for bit."""
    ufunc = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    before = dg.get_num_threads()
    try:
        for shape, ishape in (
            ((20000, 16), (20000, 16)),
            ((3, 7), (3, 12)),
            ((50, 4, 9), (50, 4, 30)),
        ):
            out = (RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1, 1], shape)).astype(dtype)
            src = (RNG.uniform(0.5, 1.5, ishape) * RNG.choice([-1, 1], ishape)).astype(dtype)
            src.reshape(-1)[::97] = np.nan
            idx = RNG.integers(0, shape[-1], ishape)
            want = out.copy()
            grids = np.ix_(*[np.arange(k) for k in ishape[:-1]]) if len(ishape) > 1 else ()
            grids = tuple(g[..., None] for g in grids) + (idx,)
            ufunc.at(want, grids, src)
            for nt in (1, 2):
                dg.set_num_threads(nt)
                got = out.copy()
                _cpu.scatter_reduce_(got, got.ndim - 1, idx, src, reduce)
                assert got.tobytes() == want.tobytes()
    finally:
        dg.set_num_threads(before)


@pytest.mark.parametrize("itype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_into_an_empty_dim_refuses_every_index(dtype, itype):
    """Round 44 (a review of round 43): with base of size 0 along dim the binding returned the
    empty base before the range check; every index is out of range there, as torch says."""
    for shape, dim, ishape in (((3, 0), 1, (2, 4)), ((0, 3), 0, (2, 3))):
        base = np.zeros(shape, dtype)
        idx = np.full(ishape, 7, itype)
        src = np.ones(ishape, dtype)
        with pytest.raises(IndexError, match="scatter_add: index: 7 is out of range"):
            dg.tensor(base).scatter_add(dim, dg.tensor(idx), dg.tensor(src))
        with pytest.raises(IndexError, match="out of range"):
            dg.tensor(base.copy()).scatter_add_(dim, dg.tensor(idx), dg.tensor(src))
        with pytest.raises(IndexError, match="out of range"):
            dg.scatter_add(dg.tensor(base), dim, dg.tensor(idx), dg.tensor(src))
        with pytest.raises(RuntimeError):  # torch's error for the same call
            t_idx = torch.tensor(idx.astype(np.int64))
            torch.tensor(base).scatter_add(dim, t_idx, torch.tensor(src))
        empty_idx = np.zeros((2, 0) if dim == 1 else (0, 3), itype)
        got = dg.tensor(base).scatter_add(dim, dg.tensor(empty_idx), dg.tensor(src))
        assert got.shape == shape
