"""index_select / gather / scatter_add / unfold / dropout2d: the fast numpy paths (round 42)
against torch in float64 and float32, values and gradients, every dim, int32 / int64 indices."""

import numpy as np
import pytest
import torch

import deltagrad as dg
import deltagrad.functional as F

RNG = np.random.default_rng(42)
TOL = {np.float64: 1e-10, np.float32: 1e-5}
SHAPES = [(5, 7), (3, 1, 33), (1, 4), (2, 3, 4, 5)]


def _np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def _pair(shape, dtype):
    x = RNG.standard_normal(shape).astype(dtype)
    return dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(dg_fn, torch_fn, shape, dtype, extra=()):
    """Forward, backward with a random g, and the gradients of x (and extra pairs)."""
    xd, xt = _pair(shape, dtype)
    yd, yt = dg_fn(xd, *[e[0] for e in extra]), torch_fn(xt, *[e[1] for e in extra])
    tol = TOL[dtype]
    np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    assert yd.dtype == xd.dtype
    g = RNG.standard_normal(tuple(yt.shape)).astype(dtype)
    yd.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    for a, b, name in [(xd, xt, "x")] + [(e[0], e[1], "src") for e in extra]:
        np.testing.assert_allclose(_np(a.grad), _np(b.grad), rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", SHAPES)
def test_index_select(dtype, itype, shape):
    for dim in range(-len(shape), len(shape)):
        n = shape[dim]
        for m in (0, 1, 2 * n + 1):  # empty, one, repeated indices
            idx = RNG.integers(0, n, m).astype(itype)
            _check(
                lambda x, i=idx, d=dim: x.index_select(d, dg.tensor(i)),
                lambda x, i=idx, d=dim: x.index_select(d, torch.tensor(i.astype(np.int64))),
                shape,
                dtype,
            )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", SHAPES + [(9, 300)])
def test_gather(dtype, itype, shape):
    for dim in range(-len(shape), len(shape)):
        ishape = list(shape)
        ishape[dim] = 2 * shape[dim] + 1
        for cut in (False, True):  # an index smaller than the input in another dim
            ish = [
                max(s - 1, 1) if cut and k != dim % len(shape) else s for k, s in enumerate(ishape)
            ]
            idx = RNG.integers(0, shape[dim], ish).astype(itype)
            _check(
                lambda x, i=idx, d=dim: x.gather(d, dg.tensor(i)),
                lambda x, i=idx, d=dim: x.gather(d, torch.tensor(i.astype(np.int64))),
                shape,
                dtype,
            )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("itype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", SHAPES + [(9, 300)])
def test_scatter_add(dtype, itype, shape):
    for dim in range(-len(shape), len(shape)):
        ishape = list(shape)
        ishape[dim] = 2 * shape[dim] + 1  # repeated destinations accumulate
        for bigger_src in (False, True):
            idx = RNG.integers(0, shape[dim], ishape).astype(itype)
            sshape = [s + bigger_src for s in ishape]
            sd, st = _pair(sshape, dtype)
            _check(
                lambda x, s, i=idx, d=dim: x.scatter_add(d, dg.tensor(i), s),
                # torch's backward fails for a src larger than index: give it the block
                lambda x, s, i=idx, d=dim: x.scatter_add(
                    d, torch.tensor(i.astype(np.int64)), s[tuple(slice(0, m) for m in i.shape)]
                ),
                shape,
                dtype,
                extra=[(sd, st)],
            )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape,dim,size,step",
    [
        ((256, 70), -1, 8, 3),
        ((5, 9), 0, 2, 2),
        ((4, 11, 3), 1, 11, 1),
        ((4, 11, 3), 1, 3, 5),
        ((6, 40), 1, 7, 1),
        ((6, 40), 1, 1, 7),
        ((3, 8, 2), -3, 3, 1),
        ((5,), 0, 5, 2),
    ],
)
def test_unfold(dtype, shape, dim, size, step):
    _check(lambda x: x.unfold(dim, size, step), lambda x: x.unfold(dim, size, step), shape, dtype)


def test_unfold_non_contiguous_and_double_backward():
    x = RNG.standard_normal((12, 7))
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yd, yt = xd.T.unfold(1, 4, 3), xt.T.unfold(1, 4, 3)
    np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=1e-12)
    (gd,) = dg.autograd.grad((yd**2).sum(), xd, create_graph=True)
    (gt,) = torch.autograd.grad((yt**2).sum(), xt, create_graph=True)
    np.testing.assert_allclose(gd.numpy(), gt.detach().numpy(), rtol=1e-10)
    (hd,) = dg.autograd.grad((gd**2).sum(), xd)
    (ht,) = torch.autograd.grad((gt**2).sum(), xt)
    np.testing.assert_allclose(hd.numpy(), ht.numpy(), rtol=1e-10)


def test_index_ops_double_backward():
    x = RNG.standard_normal((6, 9))
    idx = RNG.integers(0, 9, (6, 13))
    sel = RNG.integers(0, 9, 11)
    src = RNG.standard_normal((6, 13))
    for f in (
        lambda m, x, s: x.index_select(1, m.tensor(sel)),
        lambda m, x, s: x.gather(1, m.tensor(idx)),
        lambda m, x, s: x.scatter_add(1, m.tensor(idx), s),
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


def test_non_contiguous_inputs():
    x = RNG.standard_normal((8, 10)).astype(np.float32)
    idx = RNG.integers(0, 8, (10, 8))
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for fd, ft in (
        (lambda a: a.T.gather(1, dg.tensor(idx)), lambda a: a.T.gather(1, torch.tensor(idx))),
        (
            lambda a: a.T.index_select(1, dg.tensor(idx[0])),
            lambda a: a.T.index_select(1, torch.tensor(idx[0])),
        ),
        (
            lambda a: a.T.scatter_add(1, dg.tensor(idx), a.T),
            lambda a: a.T.scatter_add(1, torch.tensor(idx), a.T),
        ),
    ):
        xd.grad = xt.grad = None
        yd, yt = fd(xd), ft(xt)
        np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        yd.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(_np(xd.grad), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("itype", [np.int8, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("bad", [-1, 5, -(2**7)])
def test_bounds_errors(itype, bad):
    if np.iinfo(itype).min > bad or np.iinfo(itype).max < bad:
        pytest.skip("value does not fit the dtype")
    x = dg.tensor(RNG.standard_normal((3, 5)), requires_grad=True)
    idx = np.zeros((3, 5), itype)
    idx[1, 2] = bad
    with pytest.raises(IndexError, match="out of range"):
        x.gather(1, dg.tensor(idx))
    with pytest.raises(IndexError, match="out of range"):
        x.scatter_add(1, dg.tensor(idx), x)
    with pytest.raises(IndexError, match="out of range"):
        x.scatter(1, dg.tensor(idx), x)
    if itype != np.uint8:
        with pytest.raises((IndexError, RuntimeError)):  # torch: RuntimeError; ours IndexError
            torch.zeros(3, 5).gather(1, torch.tensor(idx.astype(np.int64)))
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(1, dg.tensor(idx[1]))
    sel = np.array([0, 1, 5], np.int64)
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(-1, dg.tensor(sel))


def test_scatter_add_int_and_mixed_dtypes():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    idx = RNG.integers(0, 4, (3, 6))
    src = RNG.integers(-5, 5, (3, 6))
    got = dg.tensor(x).scatter_add(1, dg.tensor(idx), dg.tensor(src)).numpy()
    want = torch.tensor(x).scatter_add(1, torch.tensor(idx), torch.tensor(src)).numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError, match="out of range"):
        dg.tensor(x).scatter_add(1, dg.tensor(idx + 4), dg.tensor(src))
    with pytest.raises(TypeError):
        dg.tensor(x.astype(np.float32)).scatter_add(1, dg.tensor(idx), dg.tensor(src))


@pytest.mark.parametrize(
    "fn,shape",
    [
        (F.dropout2d, (4, 6, 5, 3)),
        (F.dropout2d, (3, 5, 7)),
        (F.dropout3d, (2, 3, 4, 2, 5)),
        (F.dropout3d, (3, 4, 2, 5)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_dropout_mask_per_channel(fn, shape, dtype):
    x = np.abs(RNG.standard_normal(shape)).astype(dtype) + 0.5
    xd = dg.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning) if len(shape) == 3 and fn is F.dropout2d else _nullctx():
        y = fn(xd, 0.3, True)
    ratio = y.numpy() / x
    lead = 2 if fn is F.dropout2d or len(shape) == 5 else 1  # unbatched dropout3d: 1
    r = ratio.reshape(int(np.prod(shape[:lead])), -1)
    # one value per (sample, channel): 0 or 1 / (1 - p), the same over the channel
    np.testing.assert_allclose(r, np.broadcast_to(r[:, :1], r.shape), rtol=1e-6)
    assert np.all(np.isclose(r[:, 0], 0) | np.isclose(r[:, 0], 1 / 0.7, rtol=1e-6))
    g = RNG.standard_normal(shape).astype(dtype)
    y.backward(dg.tensor(g))
    np.testing.assert_allclose(_np(xd.grad), g * ratio, rtol=1e-6, atol=1e-6)
    assert y.dtype == xd.dtype


def test_dropout2d_non_contiguous_and_eval():
    x = RNG.standard_normal((6, 4, 3, 5)).astype(np.float32)
    xd = dg.tensor(x, requires_grad=True)
    y = F.dropout2d(xd.transpose(2, 3), 0.5, True)
    ratio = y.numpy() / x.transpose(0, 1, 3, 2)
    r = ratio.reshape(24, -1)
    np.testing.assert_allclose(r, np.broadcast_to(r[:, :1], r.shape), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(_np(xd.grad), ratio.transpose(0, 1, 3, 2), rtol=1e-6)
    assert F.dropout2d(xd, 0.5, False) is xd


def test_dropout2d_inf_nan_and_signed_zero_as_the_product():
    x = np.tile(np.array([np.inf, -1.0, np.nan, 2.0], np.float32), (8, 16, 2, 1))
    dg.manual_seed(3)
    y = F.dropout2d(dg.tensor(x), 0.5, True).numpy().reshape(128, -1)
    dropped = y[:, 3] == 0
    assert dropped.any() and (~dropped).any()
    want = np.array([np.inf, -2.0, np.nan, 4.0], np.float32)
    np.testing.assert_array_equal(y[~dropped], np.tile(want, (int((~dropped).sum()), 2)))
    with np.errstate(all="ignore"):
        zero = np.tile(
            np.array([np.inf, -1.0, np.nan, 2.0], np.float32) * 0, (int(dropped.sum()), 2)
        )
    np.testing.assert_array_equal(y[dropped], zero)
    assert np.signbit(y[dropped][:, 1]).all()


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
