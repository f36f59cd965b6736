"""Tensor semantics where deltagrad differed from torch 2.13 silently (a differential run,
round 29): version counters shared by views, in-place writes of values that require grad,
ints beside array indices, dim=() reductions, narrow, permute's negative dims, integer
division by zero. Each test states torch's result; the torch comparisons run where torch is
installed."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg


def _raises_inplace(fn):
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        fn()


def test_views_share_the_version_counter():
    """A change through a view (or of the base of a saved view) is caught at backward, as
    torch's 'modified by an inplace operation'; it gave wrong gradients."""
    w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (w * w).sum()
    with dg.no_grad():
        w[0:2].mul_(10)
    _raises_inplace(y.backward)

    x = dg.tensor([3.0, 4.0])
    v = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (v * x).sum()
    x[0:2].mul_(10)
    _raises_inplace(y.backward)

    for make_view in (lambda t: t.view(2), lambda t: t.reshape(1, 2), lambda t: t.T):
        x = dg.tensor([3.0, 4.0])
        y = (v * make_view(x).reshape(2)).sum()
        x.mul_(10)
        _raises_inplace(y.backward)

    x = dg.tensor([3.0, 4.0])
    x[0:2].add_(1)
    assert x._version[0] == 1
    # copies (advanced indexing) do not share it
    x = dg.tensor([3.0, 4.0])
    y = (v * x[[0, 1]]).sum()
    x.mul_(2)
    y.backward()
    np.testing.assert_array_equal(v.grad, [3.0, 4.0])


@pytest.mark.parametrize(
    "write",
    [
        lambda x, w: x.__setitem__(slice(0, 2), w),
        lambda x, w: x[:2].mul_(w),
        lambda x, w: x[:2].add_(w),
        lambda x, w: x[:2].copy_(w),
        lambda x, w: x.fill_(w.sum()),
    ],
)
def test_in_place_write_of_a_value_that_requires_grad_is_refused(write):
    """torch records the value's gradient through the in-place op; deltagrad records no graph
    there, and silently dropped it (w.grad [1, 1] where torch gives [5, 7])."""
    w = dg.tensor([2.0, 3.0], requires_grad=True)
    x = dg.zeros(3)
    with pytest.raises(RuntimeError, match="requires grad"):
        write(x, w)
    np.testing.assert_array_equal(x.data, [0, 0, 0])  # nothing written
    with dg.no_grad():
        write(x, w)  # no graph recorded: allowed


def test_masked_fill_value_gets_its_gradient():
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = dg.tensor(3.0, requires_grad=True)
    m = dg.tensor(np.array([True, False, True]))
    (a.masked_fill(m, v) * dg.tensor([1.0, 2.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(a.grad, [0, 2, 0])
    assert float(v.grad) == 5.0


def test_fill_takes_a_0d_tensor_only():
    x = dg.zeros(2)
    x.fill_(dg.tensor(4.0))
    np.testing.assert_array_equal(x.data, [4, 4])
    with pytest.raises(RuntimeError, match="0-d"):
        x.fill_(dg.tensor([3.0]))


KEYS = [
    (0, slice(None), [0, 1]),
    (1, [0, 2], slice(None)),
    (slice(None), 1, [0, 3]),
    (0, Ellipsis, [1, 2]),
    ([0, 1], slice(None), 1),
    (None, 0, slice(None), [1, 2]),
    (0, slice(None), np.array([[0], [3]])),
]


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_ints_beside_array_indices_apply_first(key):
    """x[0, :, [0, 1]] of a (2, 3, 4) x is (3, 2) in torch (the int is a plain select first),
    (2, 3) by NumPy's rule; values, gradients and writes follow torch."""
    a = np.arange(24.0).reshape(2, 3, 4)
    x = dg.tensor(a, requires_grad=True)
    # NumPy reference of torch's rule: the ints as a basic select, then the rest
    ints = [i for i, k in enumerate(key) if isinstance(k, int)]
    k1 = tuple(
        k if isinstance(k, int) else (Ellipsis if k is Ellipsis else slice(None))
        for k in key
        if k is not None
    )
    k2 = tuple(k for i, k in enumerate(key) if i not in ints)
    ref = a[k1][k2]
    y = x[key]
    assert y.shape == ref.shape
    np.testing.assert_array_equal(y.data, ref)
    r = np.random.default_rng(0).standard_normal(ref.shape)
    (y * dg.tensor(r)).sum().backward()
    g = np.zeros_like(a)
    np.add.at(g[k1], k2, r)
    np.testing.assert_array_equal(x.grad, g)
    z = dg.zeros(2, 3, 4, dtype=np.float64)
    z[key] = dg.tensor(ref + 1)
    w = np.zeros((2, 3, 4))
    w[k1][k2] = ref + 1
    np.testing.assert_array_equal(z.data, w)
    torch = pytest.importorskip("torch")
    tk = tuple(torch.tensor(k) if isinstance(k, (list, np.ndarray)) else k for k in key)
    np.testing.assert_array_equal(torch.tensor(a)[tk].numpy(), ref)


def test_an_empty_dim_tuple_reduces_every_dim():
    """torch 2.13: sum(()), mean([]), amax([]), var(()) reduce over every dim (they returned
    the input); any / all keep no-reduction."""
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = dg.tensor(a)
    assert float(x.sum(()).data) == 10 and float(x.mean([]).data) == 2.5
    assert float(x.amax([]).data) == 4 and float(x.amin(()).data) == 1
    assert float(x.var(()).data) == pytest.approx(np.var(a, ddof=1))
    assert x.sum((), keepdim=True).shape == (1, 1)
    assert x.any(()).shape == (2, 2)


def test_narrow_counts_a_negative_start_from_the_end_and_checks_the_range():
    x = dg.arange(5)
    np.testing.assert_array_equal(x.narrow(0, -2, 2).data, [3, 4])
    assert x.narrow(0, 5, 0).shape == (0,)
    with pytest.raises(ValueError, match="exceeds the size 5"):
        x.narrow(0, 3, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.narrow(0, -6, 1)
    with pytest.raises(ValueError, match="length must be >= 0"):
        x.narrow(0, 1, -1)


def test_permute_takes_negative_dims():
    assert dg.zeros(2, 3, 4).permute(0, -1, -2).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="repeated"):
        dg.zeros(2, 3).permute(1, -1)


def test_integer_division_by_zero_raises():
    x = dg.tensor([7, -7])
    np.testing.assert_array_equal((x // 2).data, [3, -4])
    np.testing.assert_array_equal((x % 3).data, [1, 2])
    for fn in (lambda: x // 0, lambda: x % 0, lambda: 7 // dg.tensor([0])):
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            fn()
