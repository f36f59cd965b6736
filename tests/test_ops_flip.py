"""dg.ops.flip (csrc/cpu/layout.h: each row of the last axis copied or lane-reversed from its
mirrored source row) and Tensor.flip / fliplr / flipud on top of it, against numpy's flip and
torch.flip: every dtype (4- and 8-byte ones take the kernel, the others numpy), every subset
of dims, odd and vector-width-straddling sizes, size 0 and 1, non-contiguous input, bit
patterns (NaN payloads, -0.0), 1 and 2 threads, gradients, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu, ops

DTYPES = [
    np.float32,
    np.float64,
    np.int32,
    np.int64,
    np.uint32,
    np.complex64,
    np.int8,
    np.float16,
    np.bool_,
    np.complex128,
]
SHAPES = [(), (1,), (7,), (3, 5), (2, 1, 33), (4, 3, 17, 9), (1, 1), (0, 3), (5, 0), (2, 3, 1, 65)]


def _data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_flip_equals_numpy_for_every_subset_of_dims(shape, dtype):
    x = _data(shape, dtype, len(shape) + 1)
    for r in range(len(shape) + 1):
        for dims in itertools.combinations(range(len(shape)), r):
            y = ops.flip(x, dims)
            np.testing.assert_array_equal(y, np.flip(x, dims))
            assert y.dtype == x.dtype and y.flags.c_contiguous
            assert not np.shares_memory(y, x)  # a copy, also for size-1 axes


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 1000, 4097])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_last_axis_reversal_around_vector_widths_on_both_thread_counts(n, dtype):
    x = _data((3, n), dtype, n)
    before = dg.get_num_threads()
    try:
        for threads in (1, 2):
            dg.set_num_threads(threads)
            np.testing.assert_array_equal(ops.flip(x, (1,)), x[:, ::-1])
            np.testing.assert_array_equal(ops.flip(x, (0, 1)), x[::-1, ::-1])
    finally:
        dg.set_num_threads(before)


def test_bits_are_moved_not_computed():
    """NaN payloads, -0.0 and infinities keep their exact bits (4- and 8-byte kernels)."""
    for ft, it in ((np.float32, np.uint32), (np.float64, np.uint64)):
        x = np.array([np.nan, -0.0, np.inf, -np.inf, 1.5] * 7, ft)
        bits = x.view(it)
        bits[0] |= it(0x123)  # a NaN with a payload
        y = ops.flip(x, (0,))
        np.testing.assert_array_equal(y.view(it), bits[::-1])


def test_large_and_non_contiguous_input():
    x = _data((64, 3, 40, 36), np.float32, 3)
    xt = x.transpose(0, 2, 3, 1)  # non-contiguous: copied, then flipped
    for dims in [(1,), (3,), (0, 2), (1, 2, 3)]:
        np.testing.assert_array_equal(ops.flip(xt, dims), np.flip(xt, dims))


def test_kernel_refuses_what_it_cannot_move():
    with pytest.raises(TypeError, match="flip"):
        _cpu.flip(np.ones(3, np.int16), [0])
    with pytest.raises(ValueError, match="contiguous"):
        _cpu.flip(np.ones((3, 4), np.float32).T, [0])
    with pytest.raises(ValueError, match="dims"):
        _cpu.flip(np.ones((3, 4), np.float32), [0, 0])
    with pytest.raises(ValueError, match="dims"):
        _cpu.flip(np.ones((3, 4), np.float32), [2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "dims"), [((4, 5), (1,)), ((4, 5), (0, 1)), ((2, 3, 17), (-1, 0)), ((1, 3), (0,))]
)
def test_tensor_flip_values_and_gradients_as_torch(shape, dims, dtype):
    torch = pytest.importorskip("torch")
    x = _data(shape, dtype, 5)
    g = _data(shape, dtype, 6)
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yd, yt = xd.flip(dims), xt.flip(dims)
    np.testing.assert_array_equal(yd.data, yt.detach().numpy())
    yd.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(xd.grad, xt.grad.numpy())


def test_tensor_flip_of_a_size_one_dim_is_a_new_tensor():
    """flip(0) of a (1, 3) tensor: numpy's flipped view counts as contiguous, and the old
    ascontiguousarray returned it, so writing the result changed the input (torch: a copy)."""
    t = dg.tensor(np.ones((1, 3), np.float32))
    f = t.flip(0)
    f.data[0, 0] = 5.0
    np.testing.assert_array_equal(t.data, np.ones((1, 3), np.float32))
    u = dg.tensor(np.arange(3, dtype=np.int8).reshape(1, 3))  # the numpy path: the same
    v = u.flip(0)
    v.data[0, 0] = 7
    assert u.data[0, 0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_negative_dims_and_errors_alike_on_both_paths(dtype):
    x = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    np.testing.assert_array_equal(ops.flip(x, (-1,)), x[:, :, ::-1])
    np.testing.assert_array_equal(ops.flip(x, (-3, 2)), x[::-1, :, ::-1])
    with pytest.raises(IndexError, match="dims"):
        ops.flip(x, (3,))
    with pytest.raises(IndexError, match="dims"):
        ops.flip(x, (-4,))
    with pytest.raises(ValueError, match="multiple"):
        ops.flip(x, (1, -2))
