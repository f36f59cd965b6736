"""Round 39's faster indexing paths against torch 2.13 and the previous implementations:
sort's packed-key sort (float32 / int32 / float16), topk's partition path, gather / scatter_add
through the scatter_reduce_ kernel and flat takes, index_select / x[:, idx] backward through
index_add, sort's permutation backward, one_hot without the (N, C) comparison."""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402
from deltagrad.gradcheck import gradcheck, gradgradcheck  # noqa: E402

T = sys.modules["deltagrad.tensor"]
TOL = {"rtol": 1e-10, "atol": 1e-10}
rng = np.random.default_rng(39)


def _special(shape, dtype, ties=5):
    """Values with many ties; floats also hold NaN (both signs), +-0.0 and +-inf."""
    a = rng.integers(-ties, ties, size=shape).astype(dtype)
    if a.dtype.kind == "f":
        f = rng.random(shape)
        a[f < 0.1] = np.nan
        a[(f > 0.1) & (f < 0.2)] = -0.0
        a[(f > 0.2) & (f < 0.3)] = 0.0
        a[(f > 0.3) & (f < 0.35)] = np.inf
        a[(f > 0.35) & (f < 0.4)] = -np.inf
        a[f > 0.95] = -np.asarray(np.nan, dtype)  # a NaN with the sign bit set
    return a


def _old_argsort(x, d, descending):
    """The previous _argsort: numpy's stable argsort (flipped for descending)."""
    if not descending:
        return np.argsort(x, axis=d, kind="stable")
    return x.shape[d] - 1 - np.flip(np.argsort(np.flip(x, d), axis=d, kind="stable"), d)


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


SHAPES = [(6, 37), (3, 1), (1, 1), (4, 0), (0, 5), (2, 5, 9)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_stable(dtype, descending):
    for shape in SHAPES:
        for d in range(-len(shape), len(shape)):
            a = _special(shape, dtype)
            v, i = dg.tensor(a).sort(d, descending)
            tv, ti = torch.tensor(a).sort(dim=d, descending=descending, stable=True)
            _same_bits(i.numpy(), ti.numpy())
            _same_bits(v.numpy(), tv.numpy())  # -0.0 / 0.0 and NaN signs in place
            _same_bits(i.numpy(), _old_argsort(a, d, descending))
            ai = dg.tensor(a).argsort(d, descending)
            _same_bits(ai.numpy(), ti.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sort_gradients(dtype):
    for shape, d in [((5, 40), -1), ((5, 40), 0), ((3, 4, 6), 1), ((1,), 0), ((0, 3), 1)]:
        a = rng.standard_normal(shape).astype(dtype)
        if a.size > 4:
            a.reshape(-1)[:4] = a.reshape(-1)[4]  # ties
        w = rng.standard_normal(shape).astype(dtype)
        for desc in (False, True):
            x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            (x.sort(d, desc).values * dg.tensor(w)).sum().backward()
            tv = tx.sort(dim=d, descending=desc, stable=True).values
            (tv * torch.tensor(w)).sum().backward()
            _same_bits(np.asarray(x.grad), tx.grad.numpy())
    # a transposed (F-ordered) tensor: the gradient written into a C-ordered array
    a = rng.standard_normal((6, 9)).astype(dtype)
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = rng.standard_normal((9, 6)).astype(dtype)
    (x.t().sort(1).values * dg.tensor(w)).sum().backward()
    (tx.t().sort(1).values * torch.tensor(w)).sum().backward()
    _same_bits(np.asarray(x.grad), tx.grad.numpy())
    x = dg.tensor(rng.standard_normal((4, 7)), requires_grad=True)
    assert gradcheck(lambda t: t.sort(1)[0] * t.sort(0, True)[0], (x,))
    assert gradgradcheck(lambda t: t.sort(1)[0] ** 2, (x,))


def test_sort_grad_accumulates_and_negative_zero():
    a = np.array([[3.0, -1.0, 2.0, 0.5]])
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = np.array([[-0.0, 1.0, -2.0, 3.0]])
    for _ in range(2):  # a second backward adds into .grad
        (x.sort(1)[0] * dg.tensor(w)).sum().backward()
        (tx.sort(1)[0] * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), tx.grad.numpy())
    # one backward: the gradient written, not added: -0.0 kept as torch's scatter keeps it
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (x.sort(1)[0] * dg.tensor(w)).sum().backward()
    (tx.sort(1)[0] * torch.tensor(w)).sum().backward()
    _same_bits(np.asarray(x.grad), tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_against_stable_sort(dtype, largest):
    """The indices are the first k of the stable sort (ties: the earliest index, NaN the
    largest), for every k, with ties and NaN; the values are torch's."""
    for shape, d in [((7, 30), -1), ((7, 30), 0), ((3, 16, 2), 1), ((2, 9), 1), ((0, 8), 1)]:
        for ties in (1, 3, 1000):
            a = _special(shape, dtype, ties)
            ref = torch.tensor(a).sort(dim=d, descending=largest, stable=True)
            for k in range(shape[d] + 1):
                cut = (slice(None),) * (d % len(shape)) + (slice(0, k),)
                v, i = dg.tensor(a).topk(k, d, largest)
                _same_bits(i.numpy(), ref.indices.numpy()[cut])
                _same_bits(v.numpy(), ref.values.numpy()[cut])
                tv = torch.tensor(a).topk(k, d, largest).values
                np.testing.assert_array_equal(v.numpy(), tv.numpy())


def test_topk_rows_of_nan_and_ties():
    a = np.full((4, 50), np.nan, np.float32)
    a[1] = 1.0  # all ties
    a[2, ::3] = 2.0  # NaN and ties
    a[3, :45] = np.nan  # more NaN than k: NaN ties at the k-th place
    for k in (1, 5, 10, 25):
        for largest in (True, False):
            v, i = dg.tensor(a).topk(k, 1, largest)
            ref = torch.tensor(a).sort(dim=1, descending=largest, stable=True)
            _same_bits(i.numpy(), ref.indices.numpy()[:, :k])
            _same_bits(v.numpy(), ref.values.numpy()[:, :k])


def test_topk_sorted_false_and_gradients():
    a = rng.standard_normal((6, 64))
    for k, largest, d in [(5, True, 1), (3, False, 0), (32, True, 1), (64, False, 1)]:
        x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        v, i = x.topk(k, d, largest, sorted=False)
        tv, ti = tx.topk(k, d, largest, sorted=True)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())  # always sorted (no ties here)
        w = rng.standard_normal(tuple(tv.shape))
        (v * dg.tensor(w)).sum().backward()
        (tv * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), **TOL)
    x = dg.tensor(rng.standard_normal((3, 20)), requires_grad=True)
    assert gradcheck(lambda t: t.topk(4, 1)[0], (x,))
    assert gradgradcheck(lambda t: t.topk(4, 1)[0] ** 2, (x,))


def test_topk_0d_and_errors():
    v, i = dg.tensor(2.5).topk(0)
    assert v.item() == 2.5 and i.item() == 0
    with pytest.raises(ValueError, match="topk"):
        dg.tensor(rng.standard_normal((2, 5))).topk(6)
    with pytest.raises(ValueError, match="topk"):
        dg.tensor(rng.standard_normal((2, 5))).topk(-1)


def test_selection_ops_through_argsort():
    """kthvalue / median / mode use the new _argsort and the permutation backward."""
    a = rng.standard_normal((5, 11)).astype(np.float32)  # no ties: torch's tie index differs
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    dv = x.kthvalue(3, 1)[0].sum() + x.median(0)[0].sum()
    tv = tx.kthvalue(3, 1)[0].sum() + tx.median(0)[0].sum()
    dv.backward()
    tv.backward()
    np.testing.assert_allclose(dv.item(), tv.item(), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(x.grad), tx.grad.numpy())
    b = rng.integers(0, 3, (4, 9)).astype(np.int32)
    m, tm = dg.tensor(b).mode(1), torch.tensor(b).mode(1)
    np.testing.assert_array_equal(m.values.numpy(), tm.values.numpy())


def _add_at_ref(shape, d, idx, src, dtype, base=None):
    out = np.zeros(shape, dtype) if base is None else base.copy()
    grids = tuple(
        idx if k == d else np.arange(n).reshape([n if j == k else 1 for j in range(idx.ndim)])
        for k, n in enumerate(idx.shape)
    )
    np.add.at(out, grids, src[tuple(slice(0, n) for n in idx.shape)])
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_scatter_add_bits_and_torch(dtype):
    cases = [((40, 7), 0, (300, 7)), ((6, 50), 1, (6, 400)), ((5, 6, 7), 1, (3, 20, 5))]
    for shape, d, ishape in cases:
        a = rng.standard_normal(shape).astype(dtype)
        idx = rng.integers(0, shape[d], ishape)
        src = rng.standard_normal(ishape).astype(dtype)
        # gather's backward: np.add.at's sums, bit for bit
        x = dg.tensor(a, requires_grad=True)
        x.gather(d, dg.tensor(idx)).backward(dg.tensor(src))
        _same_bits(np.asarray(x.grad), _add_at_ref(shape, d, idx, src, dtype))
        # scatter_add: self + the same sums
        big = rng.standard_normal([n + 2 for n in ishape]).astype(dtype)  # src larger than idx
        if dtype == np.float64:
            ok = all(i <= s for k, (i, s) in enumerate(zip(ishape, shape)) if k != d)
            if ok:
                # torch's backward refuses a src larger than the index: src of its shape
                x, s = dg.tensor(a, requires_grad=True), dg.tensor(src, requires_grad=True)
                tx, ts = torch.tensor(a, requires_grad=True), torch.tensor(src, requires_grad=True)
                y = x.scatter_add(d, dg.tensor(idx), s)
                ty = tx.scatter_add(d, torch.tensor(idx), ts)
                np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
                w = rng.standard_normal(shape)
                (y * dg.tensor(w)).sum().backward()
                (ty * torch.tensor(w)).sum().backward()
                np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), **TOL)
                np.testing.assert_allclose(np.asarray(s.grad), ts.grad.numpy(), **TOL)
        if all(i <= s for k, (i, s) in enumerate(zip(ishape, shape)) if k != d):
            y = dg.tensor(a).scatter_add(d, dg.tensor(idx), dg.tensor(big))
            _same_bits(y.numpy(), _add_at_ref(shape, d, idx, big, dtype, base=a))


def test_gather_non_contiguous_and_small_index():
    a = rng.standard_normal((9, 8))
    for base in (a, a.T, a[::2]):
        for d in (0, 1):
            ishape = (min(3, base.shape[0]), min(4, base.shape[1]))
            idx = rng.integers(0, base.shape[d], ishape)
            x, tx = dg.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
            x_in = x.t().t() if base is a.T else x
            y, ty = x_in.gather(d, dg.tensor(idx)), tx.gather(d, torch.tensor(idx))
            np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
            w = rng.standard_normal(ishape)
            (y * dg.tensor(w)).sum().backward()
            (ty * torch.tensor(w)).sum().backward()
            np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), **TOL)
    # a transposed (non-contiguous) tensor's data takes the take_along_axis path
    xt = dg.tensor(a).t()
    assert not xt.data.flags.c_contiguous
    idx = rng.integers(0, 9, (8, 5))
    np.testing.assert_array_equal(
        xt.gather(1, dg.tensor(idx)).numpy(), np.take_along_axis(a.T, idx, 1)
    )
    # int dtypes and int32 indices
    b = rng.integers(-9, 9, (4, 6))
    i32 = rng.integers(0, 6, (4, 3)).astype(np.int32)
    np.testing.assert_array_equal(
        dg.tensor(b).gather(1, dg.tensor(i32)).numpy(), np.take_along_axis(b, i32, 1)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_index_select_and_getitem_backward(dtype):
    shape = (7, 5, 6)
    a = rng.standard_normal(shape).astype(dtype)
    for d in range(3):
        idx = rng.integers(0, shape[d], 23)  # repeats
        x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = x.index_select(d, dg.tensor(idx)), tx.index_select(d, torch.tensor(idx))
        _same_bits(y.numpy(), ty.detach().numpy())
        w = rng.standard_normal(tuple(ty.shape)).astype(dtype)
        (y * dg.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        ref = np.zeros(shape, dtype)
        np.add.at(ref, (slice(None),) * d + (idx,), w)
        _same_bits(np.asarray(x.grad), ref)  # np.add.at's order
        np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    # x[:, idx] with a 2-d index and negative entries; x[idx, :]
    i2 = np.array([[-1, 0], [2, -1], [4, 4]])
    for key in ((slice(None), i2), (i2,), (slice(None), slice(None), i2), (i2, slice(None))):
        x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
        y, ty = x[key], tx[tkey]
        w = rng.standard_normal(tuple(ty.shape)).astype(dtype)
        (y * dg.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        ref = np.zeros(shape, dtype)
        np.add.at(ref, key, w)
        _same_bits(np.asarray(x.grad), ref)
    # double backward of index_select
    x = dg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    ii = dg.tensor(np.array([0, 3, 3, 1]))
    assert gradgradcheck(lambda t: t.index_select(1, ii) ** 2, (x,))
    # size-0 index and a bool-mask key (the general path)
    x = dg.tensor(a, requires_grad=True)
    x.index_select(1, dg.tensor(np.zeros(0, np.int64))).sum().backward()
    assert not np.asarray(x.grad).any()
    m = a[:, 0, 0] > 0
    x = dg.tensor(a, requires_grad=True)
    x[dg.tensor(m)].sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.broadcast_to(m[:, None, None], shape))


def test_one_hot():
    for idx, n in [
        (rng.integers(0, 10, (4, 7)), 10),
        (rng.integers(0, 3, (5,)), -1),
        (np.array(2), 4),
        (np.zeros((0, 3), np.int64), 5),
        (rng.integers(0, 6, (3, 2)).astype(np.int32), 6),
        (np.array([0, 1, 2], np.uint8), 3),
    ]:
        out = F.one_hot(dg.tensor(idx), n)
        ref = torch.nn.functional.one_hot(torch.tensor(idx.astype(np.int64)), n)
        assert out.dtype == dg.int64
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    with pytest.raises(RuntimeError):
        F.one_hot(dg.tensor(np.array([0, 5])), 5)
    with pytest.raises(RuntimeError):
        F.one_hot(dg.tensor(np.array([-1, 0])), 5)


def test_helpers_match_numpy():
    """_flat_index / _take_along against take_along_axis, every dim, index smaller than x."""
    a = rng.standard_normal((4, 5, 6))
    for d in range(3):
        ishape = [2, 3, 4]
        ishape[d] = 9
        idx = rng.integers(0, a.shape[d], ishape)
        sub = a[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(ishape))]
        np.testing.assert_array_equal(T._take_along(a, idx, d), np.take_along_axis(sub, idx, d))
    assert T._one_array_key((slice(None), np.array([1])), 2)[0] == 1
    assert T._one_array_key((slice(1, None), np.array([1])), 2)[1] is None
    assert T._one_array_key((np.array([1]), np.array([1])), 2)[1] is None
    assert T._one_array_key(np.array([True]), 1)[1] is None
