"""The fused normalization kernels (dg.ops.batch_norm_* / layer_norm_*, csrc/cpu/norm.h) against
deltagrad.reference in float64, on every ISA and dtype: odd sizes, N = 1, size 0, the
(N, C) path and the (N, C, S) path, the threaded paths, data with a large mean, extreme
values, bad input; gradcheck through F.batch_norm / F.layer_norm / nn.BatchNorm2d."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn, ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, assert_close, sample

TOL = {np.float32: 1e-4, np.float64: 1e-10}
# (N, C, *): (N, C) rows path; S > 1 runs path; odd sizes; N = 1 with S > 1; threaded sizes
BN_SHAPES = [(2, 3), (17, 37), (5, 3, 1), (4, 3, 7), (3, 5, 4, 5), (1, 2, 3, 3), (2, 3, 40001)]
BN_BIG = [(70001, 3), (3, 70, 700), (2, 3, 40001)]
LN_CASES = [
    ((5, 7), (7,)),
    ((3, 4, 5), (4, 5)),
    ((2, 1), (1,)),
    ((6,), (6,)),
    ((3, 1001), (1001,)),
    ((40, 2, 3), (2, 3)),
]
LN_BIG = [((300, 301), (301,)), ((70001, 3), (3,))]


def _bn_data(rng, shape, dtype, affine=True):
    c = shape[1]
    x = sample(rng, shape, dtype) + dtype(5.0)  # nonzero mean
    w = rng.uniform(0.5, 2.0, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    return x, w, b


def _check_bn_forward(rng, shape, dtype, training, affine, with_running):
    x, w, b = _bn_data(rng, shape, dtype, affine)
    c = shape[1]
    rm = rv = rm_ref = rv_ref = None
    if with_running:
        rm = rng.standard_normal(c).astype(dtype)
        rv = rng.uniform(0.5, 2.0, c).astype(dtype)
        rm_ref, rv_ref = rm.astype(np.float64), rv.astype(np.float64)
    kw = {"training": training, "momentum": 0.3, "eps": 1e-5}
    y, mean, invstd = ops.batch_norm_forward(x, w, b, rm, rv, **kw)
    ey, emean, einvstd = ref.batch_norm_forward(x, w, b, rm_ref, rv_ref, **kw)
    assert y.dtype == mean.dtype == invstd.dtype == dtype
    rtol = TOL[dtype]
    assert_close(y, ey, dtype, rtol=rtol, scale=10.0, name="y")
    assert_close(mean, emean, dtype, rtol=rtol, scale=1.0, name="mean")
    assert_close(invstd, einvstd, dtype, rtol=rtol, name="invstd")
    if with_running:
        assert_close(rm, rm_ref, dtype, rtol=rtol, scale=1.0, name="running_mean")
        assert_close(rv, rv_ref, dtype, rtol=rtol, name="running_var")
    return x, w, mean, invstd


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_forward(isa, shape, dtype, rng):
    for training, with_running in ((True, True), (True, False), (False, True)):
        for affine in (True, False):
            _check_bn_forward(rng, shape, dtype, training, affine, with_running)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_backward(isa, shape, dtype, rng):
    for training in (True, False):
        for affine in (True, False):
            x, w, b = _bn_data(rng, shape, dtype, affine)
            _, mean, invstd = ops.batch_norm_forward(
                x, w, b, np.zeros(shape[1], dtype), np.ones(shape[1], dtype), training=training
            )
            dy = sample(rng, shape, dtype, scale=1.0) + dtype(0.5)
            got = ops.batch_norm_backward(dy, x, w, mean, invstd, training=training)
            want = ref.batch_norm_backward(dy, x, w, mean, invstd, training=training)
            n = dy.size // shape[1]
            for name, g, e in zip(("dx", "dweight", "dbias"), got, want):
                assert g.dtype == dtype
                assert_close(g, e, dtype, rtol=TOL[dtype], scale=10.0 * (n if name != "dx" else 1))
            # only what is asked for
            dx, dw, db = ops.batch_norm_backward(
                dy, x, w, mean, invstd, training=training, need_dx=False, need_dbias=False
            )
            assert dx is None and db is None
            assert_close(dw, want[1], dtype, rtol=TOL[dtype], scale=10.0 * n)


@pytest.mark.parametrize("shape", BN_BIG)
def test_batch_norm_threads_agree(shape, rng):
    """The threaded paths: the same result on 1 and 2 threads (partials are summed in a fixed
    order), and equal to the reference."""
    dtype = np.float32
    x, w, b = _bn_data(rng, shape, dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            dg.set_num_threads(nt)
            y, mean, invstd = ops.batch_norm_forward(x, w, b)
            outs.append((y, mean, invstd, *ops.batch_norm_backward(dy, x, w, mean, invstd)))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(*outs):
        np.testing.assert_array_equal(a, e)
    ey, emean, einvstd = ref.batch_norm_forward(x, w, b)
    assert_close(outs[0][0], ey, dtype, rtol=1e-4, scale=10.0)
    want = ref.batch_norm_backward(dy, x, w, outs[0][1], outs[0][2])
    n = x.size // shape[1]
    assert_close(outs[0][3], want[0], dtype, rtol=1e-4, scale=10.0)
    assert_close(outs[0][4], want[1], dtype, rtol=1e-4, scale=10.0 * n)


@pytest.mark.parametrize("dtype,offset", [(np.float32, 1e4), (np.float64, 1e8)])
@pytest.mark.parametrize("shape", [(4000, 3), (8, 3, 500)])
def test_batch_norm_large_mean(isa, dtype, offset, shape, rng):
    """Data with |mean| >> std: the shifted sums keep the variance accurate (E[x^2] - E[x]^2
    in double would lose it all at 1e8 in float64)."""
    x = (offset + rng.standard_normal(shape)).astype(dtype)
    _, mean, invstd = ops.batch_norm_forward(x)
    _, emean, einvstd = ref.batch_norm_forward(x)
    assert_close(invstd, einvstd, dtype, rtol={np.float32: 1e-4, np.float64: 1e-8})
    assert_close(mean, emean, dtype, rtol=TOL[dtype])
    y, _, _ = ops.batch_norm_forward(x)
    # y = x * scale + shift: the float32 error is ~ eps * |mean| / std
    assert_close(y, ref.batch_norm_forward(x)[0], dtype, rtol=TOL[dtype], scale=offset * 4)


def test_batch_norm_sizes_one_and_zero(rng):
    with pytest.raises(ValueError, match="batch_norm_forward: x: expected more than 1 value"):
        ops.batch_norm_forward(np.ones((1, 3)), training=True)
    with pytest.raises(ValueError, match="batch_norm_forward: x: expected more than 1 value"):
        ops.batch_norm_forward(np.ones((1, 3, 1)), training=True)
    # one value per channel is fine in eval
    y, _, _ = ops.batch_norm_forward(
        np.full((1, 3), 2.0), None, None, np.ones(3), np.full(3, 4.0), training=False
    )
    assert_close(y, np.full((1, 3), 1 / np.sqrt(4 + 1e-5)), np.float64)
    for shape in [(0, 3), (0, 3, 4), (2, 0, 4), (2, 3, 0)]:
        for dtype in DTYPES:
            x = np.zeros(shape, dtype)
            c = shape[1]
            rm, rv = np.full(c, 0.5, dtype), np.full(c, 2.0, dtype)
            y, mean, invstd = ops.batch_norm_forward(x, None, None, rm, rv)
            assert y.shape == shape and mean.shape == invstd.shape == (c,)
            np.testing.assert_array_equal(rm, 0.5)  # untouched by an empty batch
            np.testing.assert_array_equal(rv, 2.0)
            dx, dw, db = ops.batch_norm_backward(x, x, None, mean, invstd)
            assert dx.shape == shape
            np.testing.assert_array_equal(dw, 0.0)
            np.testing.assert_array_equal(db, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_extremes(isa, dtype, rng):
    """A constant channel (variance 0), a channel of tiny values (eps dominates), a channel with
    a huge offset, and a NaN / an inf that poison only their own channel."""
    x = sample(rng, (9, 5, 3), dtype, scale=1.0)
    x[:, 0] = 7.0
    x[:, 1] *= dtype(1e-20)
    x[:, 2] += dtype(1e6 if dtype == np.float32 else 1e12)
    x[4, 3, 1] = np.nan
    x[2, 4, 2] = np.inf
    y, mean, invstd = ops.batch_norm_forward(x)
    ey, emean, einvstd = ref.batch_norm_forward(x)
    assert np.isnan(y[:, 3]).all() and np.isnan(y[:, 4]).all()
    assert np.isfinite(y[:, :3]).all()
    np.testing.assert_array_equal(y[:, 0], 0.0)
    assert_close(y[:, :2], ey[:, :2], dtype, rtol=TOL[dtype], scale=1.0)
    big = 1e6 if dtype == np.float32 else 1e12
    assert_close(y[:, 2], ey[:, 2], dtype, rtol=TOL[dtype], scale=big * 4)
    assert_close(invstd[:2], einvstd[:2], dtype, rtol=TOL[dtype])


def _check_ln(rng, shape, norm, dtype, affine, bias):
    x = sample(rng, shape, dtype) + dtype(3.0)
    w = rng.uniform(0.5, 2.0, norm).astype(dtype) if affine else None
    b = rng.standard_normal(norm).astype(dtype) if bias else None
    y, mean, rstd = ops.layer_norm_forward(x, norm, w, b, 1e-5)
    ey, emean, erstd = ref.layer_norm_forward(x, norm, w, b, 1e-5)
    lead = shape[: len(shape) - len(norm)]
    assert y.dtype == mean.dtype == rstd.dtype == dtype
    assert mean.shape == rstd.shape == lead
    rtol = TOL[dtype]
    assert_close(y, ey, dtype, rtol=rtol, scale=10.0, name="y")
    assert_close(mean, emean, dtype, rtol=rtol, scale=1.0, name="mean")
    assert_close(rstd, erstd, dtype, rtol=rtol, name="rstd")
    dy = sample(rng, shape, dtype, scale=1.0) + dtype(0.5)
    got = ops.layer_norm_backward(dy, x, norm, w, mean, rstd)
    want = ref.layer_norm_backward(dy, x, norm, w, mean, rstd)
    rows = max(int(np.prod(lead)), 1)
    for name, g, e in zip(("dx", "dweight", "dbias"), got, want):
        assert g.dtype == dtype and g.shape == e.shape
        assert_close(g, e, dtype, rtol=rtol, scale=10.0 * (rows if name != "dx" else 1), name=name)
    dx, dw, db = ops.layer_norm_backward(dy, x, norm, w, mean, rstd, need_dx=False)
    assert dx is None
    assert_close(dw, want[1], dtype, rtol=rtol, scale=10.0 * rows)
    dx, dw, db = ops.layer_norm_backward(
        dy, x, norm, w, mean, rstd, need_dweight=False, need_dbias=False
    )
    assert dw is None and db is None
    assert_close(dx, want[0], dtype, rtol=rtol, scale=10.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,norm", LN_CASES)
def test_layer_norm(isa, shape, norm, dtype, rng):
    for affine, bias in ((True, True), (True, False), (False, False)):
        _check_ln(rng, shape, norm, dtype, affine, bias)


@pytest.mark.parametrize("shape,norm", LN_BIG)
def test_layer_norm_threads_agree(shape, norm, rng):
    dtype = np.float32
    x = sample(rng, shape, dtype) + dtype(3.0)
    w = rng.uniform(0.5, 2.0, norm).astype(dtype)
    b = rng.standard_normal(norm).astype(dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            dg.set_num_threads(nt)
            y, m, r = ops.layer_norm_forward(x, norm, w, b)
            outs.append((y, m, r, *ops.layer_norm_backward(dy, x, norm, w, m, r)))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(outs[0][:4], outs[1][:4]):  # y, mean, rstd, dx: per row, identical
        np.testing.assert_array_equal(a, e)
    _check_ln(rng, shape, norm, dtype, True, True)


def test_layer_norm_empty_and_extremes(rng):
    for dtype in DTYPES:
        x = np.zeros((0, 3), dtype)
        y, m, r = ops.layer_norm_forward(x, (3,), np.ones(3, dtype), np.zeros(3, dtype))
        assert y.shape == (0, 3) and m.shape == r.shape == (0,)
        dx, dw, db = ops.layer_norm_backward(x, x, (3,), np.ones(3, dtype), m, r)
        assert dx.shape == (0, 3)
        np.testing.assert_array_equal(dw, 0.0)
        np.testing.assert_array_equal(db, 0.0)
        x = sample(rng, (5, 9), dtype, scale=1.0)
        x[0] = 4.0  # constant row: y = bias
        x[1] *= dtype(1e-20)
        x[2] += dtype(1e6 if dtype == np.float32 else 1e12)
        x[3, 4] = np.nan
        x[4, 2] = -np.inf
        b = rng.standard_normal(9).astype(dtype)
        y, _, _ = ops.layer_norm_forward(x, 9, None, b)
        ey, _, _ = ref.layer_norm_forward(x, 9, None, b)
        np.testing.assert_array_equal(y[0], b)
        assert np.isnan(y[3:]).all() and np.isfinite(y[:3]).all()
        assert_close(y[:2], ey[:2], dtype, rtol=TOL[dtype], scale=4.0)
        big = 1e6 if dtype == np.float32 else 1e12
        assert_close(y[2], ey[2], dtype, rtol=TOL[dtype], scale=big * 4)


def test_bad_input():
    x = np.ones((4, 3, 2))
    with pytest.raises(ValueError, match="batch_norm_forward: weight: expected shape"):
        ops.batch_norm_forward(x, np.ones(4))
    with pytest.raises(TypeError, match="batch_norm_forward: bias: expected dtype float64"):
        ops.batch_norm_forward(x, None, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="batch_norm_forward: running_mean: expected running"):
        ops.batch_norm_forward(x, training=False)
    with pytest.raises(ValueError, match="batch_norm_forward: running_mean and running_var"):
        ops.batch_norm_forward(x, None, None, np.zeros(3), None)
    with pytest.raises(ValueError, match="batch_norm_forward: x: expected .N, C."):
        ops.batch_norm_forward(np.ones(3))
    with pytest.raises(ValueError, match="batch_norm_forward: momentum"):
        ops.batch_norm_forward(x, None, None, np.zeros(3), np.ones(3), momentum=1.5)
    with pytest.raises(ValueError, match="batch_norm_forward: eps"):
        ops.batch_norm_forward(x, eps=-1.0)
    with pytest.raises(TypeError, match="batch_norm_forward: x: expected dtype float32"):
        ops.batch_norm_forward(np.ones((4, 3), np.int64))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="batch_norm_forward: running_mean: expected a writable"):
        ops.batch_norm_forward(x, None, None, ro, np.ones(3))
    with pytest.raises(ValueError, match="batch_norm_backward: dy: expected shape"):
        ops.batch_norm_backward(np.ones((4, 3)), x, None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="batch_norm_backward: mean: expected shape"):
        ops.batch_norm_backward(x, x, None, np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match="layer_norm_forward: normalized_shape"):
        ops.layer_norm_forward(x, (3,))
    with pytest.raises(ValueError, match="layer_norm_forward: weight: expected shape"):
        ops.layer_norm_forward(x, (3, 2), np.ones(6))
    with pytest.raises(ValueError, match="layer_norm_backward: rstd: expected shape"):
        ops.layer_norm_backward(x, x, (2,), None, np.zeros((4, 3)), np.ones(4))


def test_device_arrays_are_not_implemented(monkeypatch):
    class FakeCupy:  # a well-formed interface (a malformed one is a TypeError first)
        __cuda_array_interface__ = {
            "shape": (2, 3),
            "typestr": "<f4",
            "data": (0, False),
            "version": 3,
        }

    monkeypatch.setattr(ops, "is_device_array", lambda a: isinstance(a, FakeCupy))
    for fn, args in (
        (ops.batch_norm_forward, (FakeCupy(),)),
        (ops.batch_norm_backward, (FakeCupy(), FakeCupy(), None, FakeCupy(), FakeCupy())),
        (ops.layer_norm_forward, (FakeCupy(), (3,))),
        (ops.layer_norm_backward, (FakeCupy(), FakeCupy(), (3,), None, FakeCupy(), FakeCupy())),
    ):
        with pytest.raises(NotImplementedError, match=fn.__name__):
            fn(*args)


def test_views_are_copied(rng):
    x = rng.standard_normal((6, 8, 5))[:, ::2]  # a strided view
    y, _, _ = ops.batch_norm_forward(x)
    assert_close(y, ref.batch_norm_forward(x)[0], np.float64, rtol=1e-10, scale=10.0)
    y, _, _ = ops.layer_norm_forward(x, (5,))
    assert_close(y, ref.layer_norm_forward(x, (5,))[0], np.float64, rtol=1e-10, scale=10.0)


def test_gradcheck(rng):
    x = dg.tensor(rng.standard_normal((3, 2, 3, 2)) + 2.0, requires_grad=True)
    w = dg.tensor(rng.uniform(0.5, 2, 2), requires_grad=True)
    b = dg.tensor(rng.standard_normal(2), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm, rv = dg.tensor(rng.standard_normal(2)), dg.tensor(rng.uniform(0.5, 2, 2))
    assert dg.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x, w, b))
    x2 = dg.tensor(rng.standard_normal((7, 3)) - 1.0, requires_grad=True)
    w2 = dg.tensor(rng.uniform(0.5, 2, 3), requires_grad=True)
    b2 = dg.tensor(rng.standard_normal(3), requires_grad=True)
    assert dg.gradcheck(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x2, w2, b2)
    )
    wl = dg.tensor(rng.uniform(0.5, 2, (3, 2)), requires_grad=True)
    bl = dg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.layer_norm(x, (3, 2), w, b), (x, wl, bl))
    bn = nn.BatchNorm2d(2, dtype=np.float64)
    assert dg.gradcheck(lambda t: bn(t), (x,))


def test_batchnorm2d_module_errors():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: input: expected 4D \(N, C, H, W\)"):
        bn(dg.tensor(np.ones((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match="BatchNorm2d: input: expected 3 channels"):
        bn(dg.tensor(np.ones((2, 4, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="BatchNorm2d: input: expected more than 1 value"):
        bn(dg.tensor(np.ones((1, 3, 1, 1), np.float32)))
    with pytest.raises(ValueError, match="BatchNorm2d: num_features"):
        nn.BatchNorm2d(0)
    assert "BatchNorm2d(3, eps=1e-05, momentum=0.1" in repr(bn)
    assert list(bn.state_dict()) == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_arrays(dtype, rng):
    """out=: y / dx written into a given array, disjoint from the inputs or exactly x (dy)."""
    x, w, b = _bn_data(rng, (3, 4, 5), dtype)
    dy = sample(rng, x.shape, dtype, scale=1.0)
    y, mean, invstd = ops.batch_norm_forward(x, w, b)
    out = np.empty_like(x)
    assert ops.batch_norm_forward(x, w, b, out=out)[0] is out
    np.testing.assert_array_equal(out, y)
    dx = ops.batch_norm_backward(dy, x, w, mean, invstd)[0]
    d2 = dy.copy()
    assert ops.batch_norm_backward(d2, x, w, mean, invstd, out=d2)[0] is d2  # in place over dy
    np.testing.assert_array_equal(d2, dx)
    x2 = x.copy()
    ops.batch_norm_forward(x2, w, b, out=x2)  # in place over x
    np.testing.assert_array_equal(x2, y)
    y, mean, rstd = ops.layer_norm_forward(x, (5,), None, None)
    assert ops.layer_norm_forward(x, (5,), out=out)[0] is out
    np.testing.assert_array_equal(out, y)
    dx = ops.layer_norm_backward(dy, x, (5,), None, mean, rstd)[0]
    assert ops.layer_norm_backward(dy, x, (5,), None, mean, rstd, out=out)[0] is out
    np.testing.assert_array_equal(out, dx)
    big = np.empty(x.size + 1, dtype)
    with pytest.raises(ValueError, match="batch_norm_forward: out: shares memory"):
        ops.batch_norm_forward(big[1:].reshape(x.shape), out=big[:-1].reshape(x.shape))
    with pytest.raises(ValueError, match="layer_norm_backward: out: expected shape"):
        ops.layer_norm_backward(dy, x, (5,), None, mean, rstd, out=np.empty((3, 4), dtype))


# LayerNorm backward works in chunks of ceil(rows / 8) (at most 64) rows, one row at a time
# (the next row prefetched): 37 rows -> chunks of 5, 203 -> chunks of 26. Row lengths cover
# the vector tails (1, 15, 17, 33 on 16- and 8-lane vectors) and a row longer than one
# accumulation block (520 > 512).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 37, 203])
@pytest.mark.parametrize("d", [1, 15, 17, 33, 520])
def test_layer_norm_row_groups_and_tails(isa, rows, d, dtype, rng):
    _check_ln(rng, (rows, d), (d,), dtype, True, True)
    _check_ln(rng, (rows, d), (d,), dtype, False, False)


def test_layer_norm_backward_streamed_4k_rows(isa, rng):
    """Rows of 16 KiB (every row at the same address mod 4 KiB) and a 16 MiB dx, so the
    non-temporal stores are used: the result equals the reference, is the same at 1 and 2
    threads, and the same written over dy."""
    dtype = np.float32
    shape = (1024, 4096)
    _check_ln(rng, shape, (4096,), dtype, True, True)
    x = sample(rng, shape, dtype) + dtype(1.0)
    w = rng.uniform(0.5, 2.0, 4096).astype(dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    _, mean, rstd = ops.layer_norm_forward(x, (4096,), w, None)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            dg.set_num_threads(nt)
            outs.append(ops.layer_norm_backward(dy, x, (4096,), w, mean, rstd))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, e)
    ops.layer_norm_backward(dy, x, (4096,), w, mean, rstd, out=dy)
    np.testing.assert_array_equal(dy, outs[0][0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_backward_params_only_and_in_place(isa, dtype, rng):
    """need_dx=False (only the dweight / dbias partials) and dx written over dy: the same as the
    full backward."""
    x = sample(rng, (41, 19), dtype) + dtype(2.0)
    w = rng.uniform(0.5, 2.0, 19).astype(dtype)
    dy = sample(rng, x.shape, dtype, scale=1.0)
    _, mean, rstd = ops.layer_norm_forward(x, (19,), w, None)
    dx, dw, db = ops.layer_norm_backward(dy, x, (19,), w, mean, rstd)
    none, dw2, db2 = ops.layer_norm_backward(dy, x, (19,), w, mean, rstd, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)
    d2 = dy.copy()
    ops.layer_norm_backward(d2, x, (19,), w, mean, rstd, out=d2)
    np.testing.assert_array_equal(d2, dx)


@pytest.mark.parametrize("dtype,offset,noise", [(np.float32, 1e4, 1e-2), (np.float64, 1e8, 1e-4)])
def test_norm_large_mean_small_variance(isa, dtype, offset, noise, rng):
    """1e4 + noise of 1e-2 (float32): the shifted sums keep the variance (E[x^2] - E[x]^2 would
    cancel to nothing); y carries only the rounding of the mean to dtype (|mean| * eps / std)."""
    x = (offset + noise * rng.standard_normal((6, 4, 300))).astype(dtype)
    lim = float(np.finfo(dtype).eps) * offset / noise * 4  # error of y from the rounded mean
    for by_channel in (True, False):  # BatchNorm: fused per channel, and the two-pass path
        xx = x if by_channel else x.reshape(6, 4, 300)[:, :, :1].copy()
        y, mean, invstd = ops.batch_norm_forward(xx)
        ey, emean, einvstd = ref.batch_norm_forward(xx)
        assert_close(invstd, einvstd, dtype, rtol=TOL[dtype] if dtype == np.float32 else 1e-8)
        assert_close(y, ey, dtype, rtol=max(lim, TOL[dtype]), scale=1.0)
    y, mean, rstd = ops.layer_norm_forward(x, (300,))
    ey, emean, erstd = ref.layer_norm_forward(x, (300,))
    assert_close(rstd, erstd, dtype, rtol=TOL[dtype] if dtype == np.float32 else 1e-8)
    assert_close(y, ey, dtype, rtol=max(lim, TOL[dtype]), scale=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 1e-3, 10.0])
def test_norm_eps(isa, eps, dtype, rng):
    x = sample(rng, (5, 3, 7), dtype) * dtype(0.1)
    y, _, invstd = ops.batch_norm_forward(x, eps=eps)
    ey, _, einvstd = ref.batch_norm_forward(x, eps=eps)
    assert_close(invstd, einvstd, dtype, rtol=TOL[dtype])
    assert_close(y, ey, dtype, rtol=TOL[dtype], scale=10.0)
    y, _, rstd = ops.layer_norm_forward(x, (3, 7), eps=eps)
    ey, _, erstd = ref.layer_norm_forward(x, (3, 7), eps=eps)
    assert_close(rstd, erstd, dtype, rtol=TOL[dtype])
    assert_close(y, ey, dtype, rtol=TOL[dtype], scale=10.0)


def test_batch_norm_by_channel_matches_two_pass(rng):
    """The fused channel-at-a-time path (enough channels) and the two-pass path (few channels on
    2 threads) give identical bits: the same sums in the same order."""
    x = sample(rng, (3, 7, 30000), np.float32) + np.float32(1.0)
    dy = sample(rng, x.shape, np.float32, scale=1.0)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):  # 7 channels: by channel on 1 thread, two passes on 2 (7 < 4 * 2)
            dg.set_num_threads(nt)
            y, mean, invstd = ops.batch_norm_forward(x)
            outs.append((y, mean, invstd, *ops.batch_norm_backward(dy, x, None, mean, invstd)))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(*outs):
        np.testing.assert_array_equal(a, e)


@pytest.fixture
def l2_bytes():
    """Set the L2 size the kernels plan for (the BatchNorm paths read it); back afterwards."""
    from deltagrad import _cpu

    yield lambda b: _cpu._set_cache_sizes(0, b, 0)
    _cpu._set_cache_sizes(0, 0, 0)


def _bn_all(x, dy, w, b, dtype):
    rm = np.linspace(-1, 1, x.shape[1]).astype(dtype)
    rv = np.linspace(0.5, 2, x.shape[1]).astype(dtype)
    y, mean, invstd = ops.batch_norm_forward(x, w, b, rm, rv, training=True, momentum=0.3)
    dx, dw, db = ops.batch_norm_backward(dy, x, w, mean, invstd)
    _, dw2, db2 = ops.batch_norm_backward(dy, x, w, mean, invstd, need_dx=False)
    dxe, _, _ = ops.batch_norm_backward(dy, x, w, mean, invstd, training=False)
    return y, mean, invstd, rm, rv, dx, dw, db, dw2, db2, dxe


# (shape, L2 bytes set on 2 threads; 0: the detected size): the channel-at-a-time path (its map
# in sample order prefetching the next channel, or without room for that in reverse order),
# and the two-pass path (fewer than 4 channels a thread); odd sample counts and run lengths
BN_PATHS = [
    ((3, 9, 30000), 0),
    ((3, 9, 30000), 64 << 10),
    ((1, 9, 70001), 64 << 10),
    ((4, 9, 3000), 0),
    ((4, 7, 3000), 0),
    ((3, 7, 30000), 0),
    ((6, 9, 3001), 0),  # the AVX2 statistics read 4 runs at once: a group of 4 and one of 2
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,l2", BN_PATHS)
def test_batch_norm_paths_agree(isa, shape, l2, dtype, rng, l2_bytes):
    """Every BatchNorm path (a channel per thread, in either map order; two passes) on 2 threads
    gives the bits of the 1-thread channel-at-a-time path: forward, running statistics,
    backward (training, dweight / dbias only, eval), and agrees with the reference."""
    x, w, b = _bn_data(rng, shape, dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    old = dg.get_num_threads()
    outs = []
    try:
        dg.set_num_threads(1)
        outs.append(_bn_all(x, dy, w, b, dtype))
        dg.set_num_threads(2)
        l2_bytes(l2)
        outs.append(_bn_all(x, dy, w, b, dtype))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(*outs):
        np.testing.assert_array_equal(a, e)
    y, mean, invstd, dx, dw = outs[1][0], outs[1][1], outs[1][2], outs[1][5], outs[1][6]
    ey, emean, einvstd = ref.batch_norm_forward(x, w, b)
    assert_close(y, ey, dtype, rtol=TOL[dtype], scale=10.0)
    assert_close(invstd, einvstd, dtype, rtol=TOL[dtype])
    edx, edw, _ = ref.batch_norm_backward(dy, x, w, mean, invstd)
    n = x.size // shape[1]
    assert_close(dx, edx, dtype, rtol=TOL[dtype], scale=10.0)
    assert_close(dw, edw, dtype, rtol=TOL[dtype], scale=10.0 * n)


@pytest.mark.parametrize("dtype,offset,noise", [(np.float32, 1e4, 1e-2), (np.float64, 1e8, 1e-4)])
def test_batch_norm_threaded_large_mean_small_variance(isa, dtype, offset, noise, rng, l2_bytes):
    """The cancellation case of test_norm_large_mean_small_variance on 2 threads, a channel a
    thread, the map in reverse order (a plane larger than the L2 set)."""
    x = (offset + noise * rng.standard_normal((3, 9, 30001))).astype(dtype)
    dy = sample(rng, x.shape, dtype, scale=1.0)
    lim = float(np.finfo(dtype).eps) * offset / noise * 4
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        l2_bytes(64 << 10)
        y, mean, invstd = ops.batch_norm_forward(x)
        dx, _, _ = ops.batch_norm_backward(dy, x, None, mean, invstd)
    finally:
        dg.set_num_threads(old)
    ey, emean, einvstd = ref.batch_norm_forward(x)
    assert_close(invstd, einvstd, dtype, rtol=TOL[dtype] if dtype == np.float32 else 1e-8)
    assert_close(y, ey, dtype, rtol=max(lim, TOL[dtype]), scale=1.0)
    edx, _, _ = ref.batch_norm_backward(dy, x, None, mean, invstd)
    assert_close(dx, edx, dtype, rtol=max(lim, TOL[dtype]), scale=10.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,norm", [*LN_BIG, ((1000, 1030), (1030,))])
def test_layer_norm_params_grads_threads_agree(shape, norm, dtype, rng):
    """dweight / dbias of the LayerNorm backward: the same bits on 1 and 2 threads (chunk
    partials summed per column in chunk order, the columns shared out)."""
    x = sample(rng, shape, dtype) + dtype(3.0)
    w = rng.uniform(0.5, 2.0, norm).astype(dtype)
    dy = sample(rng, shape, dtype, scale=1.0)
    _, m, r = ops.layer_norm_forward(x, norm, w)
    old = dg.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            dg.set_num_threads(nt)
            outs.append(ops.layer_norm_backward(dy, x, norm, w, m, r))
    finally:
        dg.set_num_threads(old)
    for a, e in zip(*outs):
        np.testing.assert_array_equal(a, e)
    _, edw, edb = ref.layer_norm_backward(dy, x, norm, w, m, r)
    rows = x.size // int(np.prod(norm))
    assert_close(outs[1][1], edw, dtype, rtol=TOL[dtype], scale=10.0 * rows)
    assert_close(outs[1][2], edb, dtype, rtol=TOL[dtype], scale=10.0 * rows)


def test_layer_norm_normalized_shape_types():
    """F.layer_norm takes normalized_shape as nn.LayerNorm does: an int (NumPy's included) or a
    tuple / list of ints; anything else is a TypeError naming the argument (was: a raw 'object is
    not iterable' for np.int64, a shape mismatch for True)."""
    x = dg.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    want = F.layer_norm(x, (3,)).numpy()
    for ok in (3, np.int64(3), [3], (np.int32(3),)):
        np.testing.assert_array_equal(F.layer_norm(x, ok).numpy(), want)
    for bad in (3.0, None, "abc", True, (True,)):
        with pytest.raises(TypeError, match="^layer_norm: normalized_shape"):
            F.layer_norm(x, bad)
