"""Spatial, shape and normalization pieces of torch.nn against torch 2.13 (round 31): F.pad
and the padding layers, pixel_shuffle / pixel_unshuffle, interpolate and Upsample, the
channel-wise dropouts, group_norm / GroupNorm and instance_norm / InstanceNorm*d. Forward
and gradients in float64 to 1e-12 (float32 to ~1e-5), odd and size-0/1 shapes, transposed
views, the error cases, and each deliberate difference from torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

RNG = np.random.default_rng(31)


def _rand(shape, dtype=np.float64):
    return (RNG.standard_normal(shape) * 2 + 0.5).astype(dtype)


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


def _check(tfn, dfn, *arrays, transpose=False, grad=True, tol=None):
    """Run tfn on torch tensors and dfn on deltagrad tensors made from the same arrays
    (transpose: the first input a non-contiguous view, the transpose of a transposed copy);
    compare the outputs (NaN where torch has NaN) and, with grad, every input's gradient for
    one random output gradient."""
    dtype = arrays[0].dtype
    tol = tol or _tol(dtype)
    if transpose:
        arrays = (np.ascontiguousarray(np.swapaxes(arrays[0], -1, -2)),) + arrays[1:]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    ds = [dg.tensor(a, requires_grad=grad) for a in arrays]
    tin = [t.transpose(-1, -2) if transpose and i == 0 else t for i, t in enumerate(ts)]
    din = [d.transpose(-1, -2) if transpose and i == 0 else d for i, d in enumerate(ds)]
    if transpose and min(din[0].shape) > 0 and min(din[0].shape[-2:]) > 1:
        assert not din[0].is_contiguous()
    ty, dy = tfn(*tin), dfn(*din)
    assert tuple(ty.shape) == tuple(dy.shape)
    assert dy.dtype == arrays[0].dtype
    np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), **tol)
    if grad:
        g = _rand(tuple(ty.shape), dtype)
        ty.backward(torch.tensor(g))
        dy.backward(dg.tensor(g))
        for t, d in zip(ts, ds):
            tg = np.zeros(t.shape, dtype) if t.grad is None else t.grad.numpy()
            dgr = np.zeros(d.shape, dtype) if d.grad is None else np.asarray(d.grad)
            np.testing.assert_allclose(dgr, tg, **tol)
    return ty, dy


def _same_error(tcall, dcall, match=None):
    """Both raise; deltagrad's error is an instance of torch's error type."""
    with pytest.raises(Exception) as te:
        tcall()
    with pytest.raises(type(te.value), match=match):
        dcall()


# ---- F.pad ------------------------------------------------------------------------------------

_PAD_CASES = [
    ((2, 3, 7), (2, 3)),
    ((2, 3, 7), (-2, 4)),
    ((2, 3, 7), (3, -6)),
    ((3, 7), (6, 0)),
    ((2, 1, 1), (0, 0)),
    ((2, 3, 5, 4), (1, 2, 3, 0)),
    ((2, 3, 5, 4), (-1, 3, 2, -4)),
    ((3, 5, 4), (3, 3, 4, 4)),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, -1, 2)),
    ((2, 3, 4, 5), (2, 2, 3, 3, 1, 1)),
    ((0, 3, 5), (2, 1)),
    ((0, 2, 4, 5), (1, 1, 2, 2)),
]


def _pad_ok(mode, shape, pad):
    """Whether torch accepts the case (then it is compared), as F.pad's checks say."""
    try:
        TF.pad(torch.zeros(shape), pad, mode=mode)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def _circular_overwraps(mode, shape, pad):
    """A circular pad longer than what the negative pad on the same dim leaves (torch reads
    past the input there; deltagrad raises, see test_pad_circular_wrapping_past_...)."""
    if mode != "circular":
        return False
    k = len(pad) // 2
    for i in range(k):
        lo, hi, n = pad[2 * i], pad[2 * i + 1], shape[len(shape) - 1 - i]
        kept = n - max(-lo, 0) - max(-hi, 0)
        if max(lo, 0) > kept or max(hi, 0) > kept:
            return True
    return False


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", _PAD_CASES)
def test_pad_matches_torch(mode, shape, pad):
    if _circular_overwraps(mode, shape, pad):
        with pytest.raises(RuntimeError, match="wraps more than once"):
            F.pad(dg.tensor(np.zeros(shape)), pad, mode=mode)
        return
    if not _pad_ok(mode, shape, pad):
        _same_error(
            lambda: TF.pad(torch.zeros(shape), pad, mode=mode),
            lambda: F.pad(dg.tensor(np.zeros(shape)), pad, mode=mode),
        )
        return
    a = _rand(shape)
    _check(lambda t: TF.pad(t, pad, mode=mode), lambda d: F.pad(d, pad, mode=mode), a)
    _check(
        lambda t: TF.pad(t, pad, mode=mode),
        lambda d: F.pad(d, pad, mode=mode),
        a.astype(np.float32),
    )


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_transposed_view_and_fuzz(mode):
    a = _rand((2, 3, 6, 5))
    pad = (2, -1, 3, 1)
    _check(
        lambda t: TF.pad(t, pad, mode=mode), lambda d: F.pad(d, pad, mode=mode), a, transpose=True
    )
    rng = np.random.default_rng(7)
    for _ in range(60):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=4))
        pad = tuple(int(v) for v in rng.integers(-4, 5, size=2 * int(rng.integers(1, 3))))
        if _pad_ok(mode, shape, pad) and not _circular_overwraps(mode, shape, pad):
            _check(
                lambda t, p=pad: TF.pad(t, p, mode=mode),
                lambda d, p=pad: F.pad(d, p, mode=mode),
                _rand(shape),
            )


def test_pad_constant_any_dims_value_and_ints():
    a = _rand((2, 3, 4, 2, 3))
    pad = (1, 0, -1, 2, 0, 3, 2, 2, 1, -1)
    _check(lambda t: TF.pad(t, pad, value=-2.5), lambda d: F.pad(d, pad, value=-2.5), a)
    _check(lambda t: TF.pad(t, (), value=1.0), lambda d: F.pad(d, (), value=1.0), a)
    b = np.arange(12, dtype=np.int64).reshape(3, 4)
    ty = TF.pad(torch.tensor(b), [1, 2, 0, 1], value=2.7)
    dy = F.pad(dg.tensor(b), [1, 2, 0, 1], value=2.7)
    assert dy.dtype == np.int64 and np.array_equal(dy.numpy(), ty.numpy())
    s = dg.tensor(np.float64(3.0))
    assert F.pad(s, ()).item() == 3.0
    # inf and NaN pass through as values
    c = np.array([[[1.0, np.inf, np.nan, -np.inf]]])
    for mode in ("constant", "reflect", "replicate", "circular"):
        ty = TF.pad(torch.tensor(c), (2, 3), mode=mode)
        np.testing.assert_array_equal(F.pad(dg.tensor(c), (2, 3), mode=mode).numpy(), ty.numpy())
    # the result is a new tensor, not the input
    x = dg.tensor(_rand((2, 3)))
    assert F.pad(x, (0, 0)) is not x and F.pad(x[None], (0, 0), mode="reflect") is not x


def test_pad_gradcheck():
    x = dg.tensor(_rand((2, 2, 4, 3)), requires_grad=True)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert dg.gradcheck(lambda t, m=mode: F.pad(t, (2, -1, 3, 2), mode=m), (x,))


_PAD_ERRORS = [
    ((1, 1, 5), (1, 1, 1), "constant", None),  # odd length
    ((1, 5), (1, 1, 1, 1, 1, 1), "constant", None),  # longer than 2 * dims
    ((1, 1, 5), (-3, -3), "constant", None),  # crops more than there is
    ((1, 1, 5), (3, -6), "constant", None),
    ((1, 1, 5), (5, 0), "reflect", None),  # reflect pad >= size
    ((1, 1, 5), (-5, 5), "reflect", None),
    ((1, 1, 5), (-3, -2), "reflect", None),  # output W 0
    ((1, 1, 5), (-3, -2), "replicate", None),
    ((1, 2, 5, 3), (-2, -1, -3, -2), "reflect", None),  # output H and W 0
    ((1, 2, 5, 3), (1, 1, -3, -3), "replicate", None),  # negative output H
    ((1, 0, 5), (1, 1), "reflect", None),  # an empty non-batch dim
    ((0, 5), (1, 1), "replicate", None),
    ((1, 1, 5), (6, 0), "circular", None),  # wraps more than once
    ((1, 1, 5), (-3, -3), "circular", None),  # negative output
    ((5,), (1, 1), "reflect", None),  # non-constant: 2D or 3D input for 2 pads
    ((1, 1, 1, 5), (1, 1), "reflect", None),
    ((1, 5), (1, 1, 1, 1), "replicate", None),
    ((2, 3), (), "circular", None),
    ((1, 2, 3, 4, 5, 6), (1,) * 6, "reflect", None),
    ((1, 1, 5), (1, 1), "bogus", None),  # unknown mode
    ((1, 1, 5), (1, 1), "reflect", 1.0),  # value with a non-constant mode
    ((1, 1, 5), (1.5, 1), "constant", None),  # not ints
    ((1, 1, 5), (True, 1), "constant", None),
    ((1, 1, 5), (1, 1), "constant", "a"),
]


@pytest.mark.parametrize("shape,pad,mode,value", _PAD_ERRORS)
def test_pad_errors_as_torch(shape, pad, mode, value):
    _same_error(
        lambda: TF.pad(torch.zeros(shape), pad, mode=mode, value=value),
        lambda: F.pad(dg.tensor(np.zeros(shape)), pad, mode=mode, value=value),
    )


def test_pad_error_messages_and_kinds():
    x = dg.tensor(np.zeros((1, 1, 5)))
    with pytest.raises(ValueError, match="Padding size should be less"):  # and RuntimeError
        F.pad(x, (5, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode bogus"):
        F.pad(x, (1, 1), mode="bogus")
    with pytest.raises(TypeError, match="pad: pad"):
        F.pad(x, 1)
    with pytest.raises(TypeError, match="mode"):
        F.pad(x, (1, 1), mode=None)
    # value 0 is accepted with a non-constant mode, as torch
    assert F.pad(x, (1, 1), mode="reflect", value=0).shape == (1, 1, 7)


def test_pad_circular_wrapping_past_the_cropped_input_is_refused():
    """Deliberate difference: torch reads outside the input (garbage values, or an overlap
    error) when a positive circular pad exceeds what the negative pad on the same dim leaves;
    deltagrad raises."""
    x = dg.tensor(_rand((1, 1, 5)))
    for pad in [(-5, 5), (-1, 5), (4, -2), (-6, 2)]:
        with pytest.raises(RuntimeError, match="circular"):
            F.pad(x, pad, mode="circular")
    # within the cropped length, both agree (checked in test_pad_matches_torch): here exactly
    np.testing.assert_array_equal(
        F.pad(x, (-1, 2), mode="circular").numpy(),
        TF.pad(torch.tensor(x.numpy()), (-1, 2), mode="circular").numpy(),
    )


def test_pad_layers_match_torch():
    a = _rand((2, 3, 4, 5))
    cases = [
        (dnn.ZeroPad2d((1, 2, 0, 3)), tnn.ZeroPad2d((1, 2, 0, 3))),
        (dnn.ConstantPad2d(2, 1.5), tnn.ConstantPad2d(2, 1.5)),
        (dnn.ReflectionPad2d((3, 1, 2, 0)), tnn.ReflectionPad2d((3, 1, 2, 0))),
        (dnn.ReplicationPad2d(4), tnn.ReplicationPad2d(4)),
        (dnn.CircularPad2d((1, 2, 3, 4)), tnn.CircularPad2d((1, 2, 3, 4))),
        (dnn.ZeroPad3d(1), tnn.ZeroPad3d(1)),
        (dnn.ConstantPad3d((1, 0, 2, 0, 0, 1), -1.0), tnn.ConstantPad3d((1, 0, 2, 0, 0, 1), -1.0)),
        (dnn.ReflectionPad3d(1), tnn.ReflectionPad3d(1)),
        (dnn.ReplicationPad3d((0, 1, 1, 0, 2, 2)), tnn.ReplicationPad3d((0, 1, 1, 0, 2, 2))),
        (dnn.CircularPad3d(1), tnn.CircularPad3d(1)),
    ]
    for dm, tm in cases:
        assert repr(dm) == repr(tm) and dm.padding == tm.padding
        _check(tm, dm, a)
    b = _rand((2, 3, 6))
    cases = [
        (dnn.ZeroPad1d(2), tnn.ZeroPad1d(2)),
        (dnn.ConstantPad1d((1, -2), 3), tnn.ConstantPad1d((1, -2), 3)),
        (dnn.ReflectionPad1d((5, 2)), tnn.ReflectionPad1d((5, 2))),
        (dnn.ReplicationPad1d(7), tnn.ReplicationPad1d(7)),
        (dnn.CircularPad1d((6, 0)), tnn.CircularPad1d((6, 0))),
    ]
    for dm, tm in cases:
        assert repr(dm) == repr(tm) and dm.padding == tm.padding
        _check(tm, dm, b)
        _check(tm, dm, b[0])  # unbatched
    assert dnn.ConstantPad1d(1, 2.5).value == 2.5 and list(dnn.ZeroPad2d(1).state_dict()) == []


def test_pad_layer_errors():
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        dnn.CircularPad1d(1)(dg.tensor(np.zeros((1, 1, 2, 3))))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        tnn.CircularPad2d(1)(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        dnn.CircularPad2d(1)(dg.tensor(np.zeros((3, 3))))
    # deliberate: the padding's length and type are checked when the layer is built
    with pytest.raises(ValueError, match="ReflectionPad2d: padding"):
        dnn.ReflectionPad2d((1, 2, 3))
    with pytest.raises(TypeError, match="ZeroPad1d: padding"):
        dnn.ZeroPad1d(1.5)
    with pytest.raises(TypeError, match="value"):
        dnn.ConstantPad1d(1, "a")


def test_conv2d_padding_mode_unchanged():
    """F.conv2d's own padding helper still serves Conv2d's padding_mode as before."""
    a = _rand((1, 2, 5, 6))
    for mode in ("zeros", "reflect", "replicate", "circular"):
        dm = dnn.Conv2d(2, 3, 3, padding=2 if mode != "reflect" else 1, padding_mode=mode)
        dm.double()
        tm = tnn.Conv2d(2, 3, 3, padding=2 if mode != "reflect" else 1, padding_mode=mode)
        tm.double()
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(dm.weight.numpy()))
            tm.bias.copy_(torch.tensor(dm.bias.numpy()))
        _check(tm, dm, a)


# ---- pixel_shuffle / pixel_unshuffle ----------------------------------------------------------


@pytest.mark.parametrize(
    "shape,r",
    [
        ((2, 12, 3, 5), 2),
        ((1, 9, 1, 1), 3),
        ((3, 2, 8, 4, 2), 2),
        ((4, 3, 5), 1),
        ((0, 8, 2, 3), 2),
    ],
)
def test_pixel_shuffle_matches_torch(shape, r):
    a = _rand(shape)
    grad = a.size > 0  # torch's backward fails on an empty batch (its gradient's shape)
    _check(lambda t: TF.pixel_shuffle(t, r), lambda d: F.pixel_shuffle(d, r), a, grad=grad)
    _check(
        lambda t: TF.pixel_shuffle(t, r),
        lambda d: F.pixel_shuffle(d, r),
        a,
        transpose=True,
        grad=grad,
    )
    _check(
        lambda t: TF.pixel_shuffle(t, r),
        lambda d: F.pixel_shuffle(d, r),
        a.astype(np.float32),
        grad=grad,
    )
    if not grad:
        x = dg.tensor(a, requires_grad=True)
        F.pixel_shuffle(x, r).sum().backward()
        assert x.grad.shape == a.shape
    up = TF.pixel_shuffle(torch.tensor(a), r).numpy()
    if up.size:
        _check(lambda t: TF.pixel_unshuffle(t, r), lambda d: F.pixel_unshuffle(d, r), up)
        back = F.pixel_unshuffle(F.pixel_shuffle(dg.tensor(a), r), r)
        np.testing.assert_array_equal(back.numpy(), a)


def test_pixel_unshuffle_matches_torch():
    for shape, r in [((2, 3, 6, 4), 2), ((5, 3, 3), 3), ((2, 1, 2, 4, 6), 2), ((1, 1, 1, 1), 1)]:
        a = _rand(shape)
        tfn = lambda t, r=r: TF.pixel_unshuffle(t, r)  # noqa: E731
        dfn = lambda d, r=r: F.pixel_unshuffle(d, r)  # noqa: E731
        _check(tfn, dfn, a)
        _check(tfn, dfn, a, transpose=True)


def test_pixel_unshuffle_empty_keeps_the_arithmetic_shape():
    """Deliberate difference: torch returns an empty input unchanged ((0, 8, 4, 4) stays
    (0, 8, 4, 4)); deltagrad gives the shape the arithmetic gives, as pixel_shuffle does."""
    x = dg.tensor(np.zeros((0, 8, 4, 4)))
    assert F.pixel_unshuffle(x, 2).shape == (0, 32, 2, 2)
    assert tuple(TF.pixel_unshuffle(torch.zeros(0, 8, 4, 4), 2).shape) == (0, 8, 4, 4)


@pytest.mark.parametrize(
    "fn,shape,r",
    [
        ("pixel_shuffle", (2, 3), 2),
        ("pixel_shuffle", (5, 3, 2), 2),
        ("pixel_shuffle", (8, 3, 2), 0),
        ("pixel_shuffle", (8, 3, 2), -1),
        ("pixel_shuffle", (8, 4, 4), 2.0),
        ("pixel_shuffle", (8, 4, 4), True),
        ("pixel_unshuffle", (2, 3), 2),
        ("pixel_unshuffle", (2, 3, 2), 2),
        ("pixel_unshuffle", (2, 4, 3), 2),
        ("pixel_unshuffle", (2, 4, 4), 0),
        ("pixel_unshuffle", (2, 4, 4), 2.0),
    ],
)
def test_pixel_shuffle_errors(fn, shape, r):
    _same_error(
        lambda: getattr(TF, fn)(torch.zeros(shape), r),
        lambda: getattr(F, fn)(dg.tensor(np.zeros(shape)), r),
    )


def test_pixel_shuffle_layers():
    for dcls, tcls in (
        (dnn.PixelShuffle, tnn.PixelShuffle),
        (dnn.PixelUnshuffle, tnn.PixelUnshuffle),
    ):
        dm, tm = dcls(2), tcls(2)
        assert repr(dm) == repr(tm) and list(dm.state_dict()) == []
        _check(tm, dm, _rand((2, 4, 4, 6)))
    assert dnn.PixelShuffle(3).upscale_factor == 3 and dnn.PixelUnshuffle(2).downscale_factor == 2
    with pytest.raises(ValueError):
        dnn.PixelShuffle(0)
    with pytest.raises(TypeError):
        dnn.PixelUnshuffle(2.0)


# ---- interpolate ------------------------------------------------------------------------------

_SCALES = [0.3, 0.5, 2 / 3, 0.9, 1.1, 1.5, 1.7, 2.0, 7 / 3, 2.5, 3.3, 2.9999]


def _nearest_bwd_differs(mode, n, m, scale):
    """Where torch's nearest backward uses other indices than its forward (deliberate
    difference, see test_nearest_backward_is_the_forwards_adjoint)."""
    return mode == "nearest" and scale is not None and (m == n or m == 2 * n)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpolate_1d_grid_matches_torch(mode, dtype):
    acs = [None] if mode.startswith("nearest") else [False, True]
    for ac in acs:
        for n in (1, 2, 3, 5, 7, 12):
            a = _rand((2, 3, n), dtype)
            for m in (1, 2, 3, 4, 6, 9, 11, 13, 24, 29):
                kw = dict(size=m, mode=mode, align_corners=ac)
                _check(
                    lambda t, k=kw: TF.interpolate(t, **k), lambda d, k=kw: F.interpolate(d, **k), a
                )
            for s in _SCALES:
                for rc in (None, True):
                    m = int(n * s)
                    if m < 1:
                        continue
                    kw = dict(
                        scale_factor=s, mode=mode, align_corners=ac, recompute_scale_factor=rc
                    )
                    grad = not _nearest_bwd_differs(mode, n, m, None if rc else s)
                    _check(
                        lambda t, k=kw: TF.interpolate(t, **k),
                        lambda d, k=kw: F.interpolate(d, **k),
                        a,
                        grad=grad,
                    )


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 4), (3, 2, 4, 1), (0, 2, 3, 3)])
def test_interpolate_2d_matches_torch(mode, shape):
    acs = [None] if mode.startswith("nearest") else [False, True]
    for ac in acs:
        for dtype in (np.float64, np.float32):
            for size in [(3, 4), (10, 14), (5, 7), (1, 1), (9, 2)]:
                kw = dict(size=size, mode=mode, align_corners=ac)
                for tr in (False, True):
                    _check(
                        lambda t, k=kw: TF.interpolate(t, **k),
                        lambda d, k=kw: F.interpolate(d, **k),
                        _rand(shape, dtype),
                        transpose=tr,
                    )
            for sf in [2, 1.5, (0.5, 2.5), (3.0, 1.75)]:
                for rc in (None, True):
                    kw = dict(
                        scale_factor=sf, mode=mode, align_corners=ac, recompute_scale_factor=rc
                    )
                    sizes = [int(n * s) for n, s in zip(shape[2:], np.broadcast_to(sf, 2))]
                    if min(sizes) < 1:
                        continue
                    grad = not any(
                        _nearest_bwd_differs(mode, n, m, None if rc else 1.0)
                        for n, m in zip(shape[2:], sizes)
                    )
                    _check(
                        lambda t, k=kw: TF.interpolate(t, **k),
                        lambda d, k=kw: F.interpolate(d, **k),
                        _rand(shape, dtype),
                        grad=grad,
                    )


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "trilinear"])
def test_interpolate_3d_matches_torch(mode):
    acs = [None] if mode.startswith("nearest") else [False, True]
    for ac in acs:
        for shape in [(2, 2, 3, 4, 5), (1, 1, 1, 2, 3)]:
            for size in [(3, 4, 5), (6, 9, 7), (1, 2, 1)]:
                kw = dict(size=size, mode=mode, align_corners=ac)
                _check(
                    lambda t, k=kw: TF.interpolate(t, **k),
                    lambda d, k=kw: F.interpolate(d, **k),
                    _rand(shape),
                )
            kw = dict(scale_factor=(1.5, 2.5, 0.7), mode=mode, align_corners=ac)
            _check(
                lambda t, k=kw: TF.interpolate(t, **k),
                lambda d, k=kw: F.interpolate(d, **k),
                _rand(shape),
            )


def test_interpolate_inf_nan_as_torch():
    """The linear modes compute l0 * x0 + l1 * x1 even where l1 is 0 (same size too), so an
    inf becomes NaN there, as in torch; nearest copies values."""
    a = np.array([[[1.0, np.inf, 3.0, np.nan, 5.0]]])
    for kw in [
        dict(size=5, mode="linear"),
        dict(size=9, mode="linear", align_corners=True),
        dict(size=9, mode="linear"),
        dict(size=3, mode="nearest"),
        dict(scale_factor=1.7, mode="nearest-exact"),
    ]:
        ty = TF.interpolate(torch.tensor(a), **kw).numpy()
        np.testing.assert_array_equal(F.interpolate(dg.tensor(a), **kw).numpy(), ty)
    b = np.array([[[[1.0, np.inf, 3.0], [2.0, 3.0, 4.0]]]])
    for size in [(2, 5), (3, 3), (2, 3)]:
        ty = TF.interpolate(torch.tensor(b), size=size, mode="bilinear").numpy()
        dy = F.interpolate(dg.tensor(b), size=size, mode="bilinear").numpy()
        np.testing.assert_allclose(dy, ty, rtol=1e-15, atol=0)  # NaN where torch has NaN


def test_interpolate_gradcheck():
    x = dg.tensor(_rand((1, 2, 4, 3)), requires_grad=True)
    for kw in [
        dict(size=(7, 5), mode="bilinear"),
        dict(size=(3, 2), mode="bilinear", align_corners=True),
        dict(scale_factor=1.7, mode="nearest"),
        dict(scale_factor=(0.6, 2.2), mode="nearest-exact"),
    ]:
        assert dg.gradcheck(lambda t, k=kw: F.interpolate(t, **k), (x,))


def test_nearest_backward_is_the_forwards_adjoint():
    """Deliberate difference: torch's "nearest" backward picks its indices with shortcuts
    (identity when the sizes are equal, i // 2 when the output is twice the input) that its
    forward, given a scale_factor, does not take; deltagrad's gradient is that of the forward
    it computes (which matches torch's), so its gradient check passes where torch's is off."""
    a = _rand((1, 1, 5))
    kw = dict(scale_factor=1.1, mode="nearest")  # size 5 -> 5, but source step 1 / 1.1
    ty = TF.interpolate(torch.tensor(a, requires_grad=True), **kw)
    x = dg.tensor(a, requires_grad=True)
    dy = F.interpolate(x, **kw)
    np.testing.assert_array_equal(dy.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(dy.numpy()[0, 0], a[0, 0, [0, 0, 1, 2, 3]])
    dy.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [2.0, 1.0, 1.0, 1.0, 0.0])
    assert dg.gradcheck(lambda t: F.interpolate(t, **kw), (dg.tensor(a, requires_grad=True),))


_INTERP_ERRORS = [
    ((1, 1, 5), dict(size=0)),
    ((1, 1, 5), dict(size=-1)),
    ((1, 1, 5), dict(scale_factor=0.1)),
    ((1, 1, 5), dict(scale_factor=-1.0)),
    ((1, 1, 5), dict(scale_factor=float("inf"))),
    ((1, 1, 5), dict(scale_factor=float("nan"))),
    ((1, 1, 5), dict(size=3, recompute_scale_factor=True)),
    ((1, 1, 5), dict(size=(3, 4))),
    ((1, 1, 5), dict(size=(3.0,))),
    ((1, 1, 5), dict(scale_factor=(2, 2))),
    ((1, 1, 5), dict(scale_factor=2, mode="bilinear")),
    ((1, 1, 5, 5), dict(scale_factor=2, mode="linear")),
    ((1, 1, 5, 5), dict(scale_factor=2, mode="trilinear")),
    ((1, 1, 5), dict(scale_factor=2, mode="foo")),
    ((1, 1, 5), dict(scale_factor=2, align_corners=True)),
    ((1, 1, 5), dict(scale_factor=2, mode="linear", antialias=True)),
    ((1, 5), dict(scale_factor=2)),
    ((1, 1, 2, 3, 4, 5), dict(scale_factor=2)),
    ((1, 0, 5), dict(scale_factor=2)),
    ((1, 1, 0), dict(size=3, mode="linear")),
    ((1, 1, 5, 4), dict(size=(3, 0), mode="bilinear")),
    ((1, 1, 5), dict(size=None)),
    ((1, 1, 5), dict(size=3, scale_factor=2)),
]


@pytest.mark.parametrize("shape,kw", _INTERP_ERRORS)
def test_interpolate_errors_as_torch(shape, kw):
    _same_error(
        lambda: TF.interpolate(torch.zeros(shape), **kw),
        lambda: F.interpolate(dg.tensor(np.zeros(shape)), **kw),
    )


def test_interpolate_integer_input_refused():
    # (bicubic, area, lanczos and antialias, once refused here, are tested against torch in
    # test_parity_interp_r36.py)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.interpolate(dg.tensor(np.zeros((1, 1, 4), np.int64)), size=3)


def test_upsample_layers_match_torch():
    a = _rand((2, 3, 4, 5))
    cases = [
        (dict(scale_factor=2), {}),
        (dict(size=(7, 3), mode="bilinear"), {}),
        (dict(scale_factor=(1.5, 0.5), mode="bilinear", align_corners=True), {}),
        (dict(scale_factor=1.7, mode="nearest-exact", recompute_scale_factor=True), {}),
        (dict(size=5), {}),
    ]
    for kw, _ in cases:
        dm, tm = dnn.Upsample(**kw), tnn.Upsample(**kw)
        assert repr(dm) == repr(tm)
        for name in ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"):
            assert getattr(dm, name) == getattr(tm, name)
        _check(tm, dm, a)
    for dcls, tcls in (
        (dnn.UpsamplingNearest2d, tnn.UpsamplingNearest2d),
        (dnn.UpsamplingBilinear2d, tnn.UpsamplingBilinear2d),
    ):
        for kw in (dict(scale_factor=2), dict(size=(3, 8))):
            dm, tm = dcls(**kw), tcls(**kw)
            assert repr(dm) == repr(tm) and dm.align_corners == tm.align_corners
            _check(tm, dm, a)
    assert dnn.Upsample(scale_factor=0).scale_factor is None  # torch's falsy -> None
    assert list(dnn.Upsample(scale_factor=2).state_dict()) == []
    b = _rand((2, 3, 7))
    _check(
        tnn.Upsample(scale_factor=2.5, mode="linear"),
        dnn.Upsample(scale_factor=2.5, mode="linear"),
        b,
    )


# ---- channel-wise dropout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,shape",
    [
        (F.dropout1d, (40, 50, 3)),
        (F.dropout1d, (500, 4)),
        (F.dropout2d, (40, 50, 2, 3)),
        (F.dropout3d, (20, 100, 2, 1, 3)),
        (F.dropout3d, (500, 2, 1, 2)),
    ],
)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_channel_dropout_statistics(fn, shape, p):
    x = dg.tensor(np.abs(_rand(shape)) + 0.1, requires_grad=True)
    dg.manual_seed(5)
    y = fn(x, p)
    batched = len(shape) in (3, 4, 5) and not (fn is F.dropout3d and len(shape) == 4)
    lead = 2 if batched else 1
    yv = y.numpy().reshape(shape[:lead] + (-1,))
    xv = x.numpy().reshape(shape[:lead] + (-1,))
    zero = (yv == 0).all(-1)
    kept = ~zero
    # whole channels: zero everywhere or everywhere scaled by 1 / (1 - p)
    assert np.all((yv == 0).any(-1) == zero)
    np.testing.assert_allclose(yv[kept], xv[kept] / (1 - p), rtol=1e-15)
    n = zero.size
    assert abs(zero.mean() - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    # the gradient is the mask
    y.sum().backward()
    g = x.grad.reshape(shape[:lead] + (-1,))
    want = np.where(zero[..., None], 0.0, 1 / (1 - p))
    np.testing.assert_allclose(g, np.broadcast_to(want, g.shape), rtol=1e-15)
    # deterministic under manual_seed, and a fresh draw otherwise
    dg.manual_seed(5)
    np.testing.assert_array_equal(fn(x, p).numpy(), y.numpy())
    assert not np.array_equal(fn(x, p).numpy(), y.numpy())


def test_channel_dropout_identity_cases_and_p1():
    x = dg.tensor(_rand((3, 4, 5)), requires_grad=True)
    x4 = dg.tensor(_rand((3, 4, 5, 2)), requires_grad=True)
    for fn, v in ((F.dropout1d, x), (F.dropout2d, x4), (F.dropout3d, x4)):
        assert fn(v, 0.5, training=False) is v
        assert fn(v, 0.0) is v
    assert F.dropout3d(dg.tensor(_rand((2, 3, 4, 5))), 0.0) is not None
    y = F.dropout1d(x, 1.0)
    assert np.all(y.numpy() == 0)
    z = dg.tensor(np.array([[[np.nan, 1.0]]]))
    assert np.isnan(F.dropout1d(z, 1.0).numpy()[0, 0, 0])  # x * 0, as torch
    e = dg.tensor(np.zeros((0, 3, 2)))
    assert F.dropout1d(e, 0.5).shape == (0, 3, 2)
    assert F.dropout2d(x4.float(), 0.3).dtype == np.float32


def test_channel_dropout_inplace():
    x = dg.tensor(np.ones((6, 8, 3)))
    dg.manual_seed(1)
    y = F.dropout1d(x, 0.5, inplace=True)
    assert y is x and set(np.unique(x.numpy())) <= {0.0, 2.0}
    # under recording: a new tensor, the input untouched (deltagrad records no graph through
    # in-place ops), and the gradient of the out-of-place result
    w = dg.tensor(np.ones((6, 8, 3)), requires_grad=True)
    dg.manual_seed(1)
    v = F.dropout1d(w, 0.5, inplace=True)
    assert v is not w and (w.numpy() == 1).all()
    v.sum().backward()
    np.testing.assert_array_equal(w.grad, v.detach().numpy())  # the mask times 1 / (1 - p)


def test_channel_dropout_errors_and_warnings():
    x3 = dg.tensor(np.ones((2, 3, 4)))
    for fn, tfn in (
        (F.dropout1d, TF.dropout1d),
        (F.dropout2d, TF.dropout2d),
        (F.dropout3d, TF.dropout3d),
    ):
        for p in (-0.1, 1.5):
            _same_error(
                lambda tfn=tfn, p=p: tfn(torch.ones(2, 3, 4, 5), p),
                lambda fn=fn, p=p: fn(x3, p),
                match="between 0 and 1",
            )
    with pytest.raises(TypeError):
        F.dropout1d(x3, "a")
    for shape in [(3,), (1, 2, 3, 4)]:
        _same_error(
            lambda s=shape: TF.dropout1d(torch.ones(s)),
            lambda s=shape: F.dropout1d(dg.tensor(np.ones(s))),
        )
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        y = F.dropout2d(x3, 0.5)
    assert y.shape == (2, 3, 4)
    with pytest.warns(UserWarning, match="5-D input to dropout2d"):
        F.dropout2d(dg.tensor(np.ones((1, 2, 2, 2, 2))), 0.5)
    with pytest.warns(UserWarning, match="3-D input to dropout3d"):
        F.dropout3d(x3, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _same_error(lambda: TF.dropout2d(torch.ones(3)), lambda: F.dropout2d(dg.tensor(np.ones(3))))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.dropout1d(dg.tensor(np.ones((2, 3), np.int64)))


def test_dropout_layers():
    for dcls, tcls in (
        (dnn.Dropout1d, tnn.Dropout1d),
        (dnn.Dropout2d, tnn.Dropout2d),
        (dnn.Dropout3d, tnn.Dropout3d),
    ):
        for kw in ({}, dict(p=0.25), dict(p=1, inplace=True)):
            assert repr(dcls(**kw)) == repr(tcls(**kw))
        m = dcls(0.5)
        x = dg.tensor(
            _rand((4, 6, 2, 3, 2)[: 3 + (dcls is not dnn.Dropout1d) + (dcls is dnn.Dropout3d)])
        )
        m.eval()
        assert m(x) is x
        m.train()
        dg.manual_seed(3)
        y = m(x)
        assert (y.numpy() == 0).any() and list(m.state_dict()) == []
        with pytest.raises(ValueError, match="between 0 and 1"):
            dcls(1.5)
        with pytest.raises(ValueError, match="between 0 and 1"):
            tcls(1.5)


# ---- group_norm / GroupNorm ------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,groups",
    [
        ((2, 6, 5), 3),
        ((3, 4, 3, 5), 2),
        ((2, 6), 3),
        ((1, 5, 7), 1),
        ((4, 3, 2, 2, 3), 3),
        ((2, 4, 1), 4),
        ((0, 4, 3), 2),
        ((2, 0, 3), 1),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_torch(shape, groups, affine):
    c = shape[1]
    a = _rand(shape) * 3 + 1
    args = [a] + ([_rand(c), _rand(c)] if affine else [])

    def tf(x, *wb):
        return TF.group_norm(x, groups, *wb, eps=1e-5)

    def df(x, *wb):
        return F.group_norm(x, groups, *wb, eps=1e-5)

    _check(tf, df, *args, tol=dict(rtol=1e-10, atol=1e-10))
    if len(shape) > 2 and shape[-1] > 1:
        _check(tf, df, *args, transpose=True, tol=dict(rtol=1e-10, atol=1e-10))
    # float32: one value per group is noise in torch; two are ill-conditioned (two close values
    # normalize to +-1 through a difference that float32 rounds), and which values a test gets
    # follows the order the tests run in (the module's RNG): 2e-4 off on one element in a run
    # with -k. Three or more per group.
    if int(np.prod(shape[2:])) * c // groups > 2:
        _check(tf, df, *[v.astype(np.float32) for v in args], tol=dict(rtol=1e-4, atol=1e-4))
    if affine:  # weight without bias, bias without weight
        tol = dict(rtol=1e-10, atol=1e-10)
        _check(
            lambda x, w: TF.group_norm(x, groups, w),
            lambda x, w: F.group_norm(x, groups, w),
            a,
            args[1],
            tol=tol,
        )
        ones = torch.ones(c, dtype=torch.float64)  # torch's backward fails for bias alone
        _check(
            lambda x, b: TF.group_norm(x, groups, ones, b),
            lambda x, b: F.group_norm(x, groups, None, b),
            a,
            args[2],
            tol=tol,
        )


def test_group_norm_gradcheck_and_eps():
    x = dg.tensor(_rand((2, 4, 3)), requires_grad=True)
    w = dg.tensor(_rand(4), requires_grad=True)
    b = dg.tensor(_rand(4), requires_grad=True)
    assert dg.gradcheck(lambda *t: F.group_norm(t[0], 2, t[1], t[2], eps=0.1), (x, w, b))
    _check(
        lambda t: TF.group_norm(t, 2, eps=3.0),
        lambda d: F.group_norm(d, 2, eps=3.0),
        _rand((3, 4, 2)),
    )


def test_group_norm_empty_spatial_weight_grad_is_zero():
    """Deliberate difference: with an empty spatial size torch's weight gradient is NaN;
    deltagrad's is the (empty) sum, 0."""
    x = dg.tensor(np.zeros((2, 4, 0)), requires_grad=True)
    w = dg.tensor(np.ones(4), requires_grad=True)
    F.group_norm(x, 2, w).sum().backward()
    np.testing.assert_array_equal(w.grad, np.zeros(4))


@pytest.mark.parametrize(
    "shape,groups,w",
    [
        ((2, 6, 3), 4, None),
        ((2, 6, 3), -2, None),
        ((2, 6, 3), 3, 4),
        ((3,), 1, None),
        ((1, 3, 1), 3, None),
        ((1, 1, 1), 1, None),
        ((2, 6, 3), 2.0, None),
    ],
)
def test_group_norm_errors_as_torch(shape, groups, w):
    tw = None if w is None else torch.ones(w, dtype=torch.float64)
    dw = None if w is None else dg.tensor(np.ones(w))
    _same_error(
        lambda: TF.group_norm(torch.zeros(shape, dtype=torch.float64), groups, tw),
        lambda: F.group_norm(dg.tensor(np.zeros(shape)), groups, dw),
    )


def test_group_norm_other_errors():
    x = dg.tensor(np.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match="greater than 0"):  # torch: ZeroDivisionError
        F.group_norm(x, 0)
    with pytest.raises(TypeError, match="dtype"):
        F.group_norm(x, 3, dg.tensor(np.ones(6, np.float32)))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.group_norm(dg.tensor(np.zeros((2, 6), np.int64)), 3)


def test_group_norm_layer_matches_torch():
    for kw in (dict(), dict(affine=False), dict(bias=False), dict(eps=1e-3)):
        dm, tm = dnn.GroupNorm(3, 6, **kw), tnn.GroupNorm(3, 6, **kw)
        assert repr(dm) == repr(tm)
        assert list(dm.state_dict()) == list(tm.state_dict())
        for name, t in tm.state_dict().items():
            np.testing.assert_array_equal(np.asarray(dm.state_dict()[name]), t.numpy())
        assert dm.weight is None or dm.weight.dtype == np.float32
        dm.double()
        tm.double()
        if dm.weight is not None:  # trained-looking parameters
            with torch.no_grad():
                for p, q in zip(dm.parameters(), tm.parameters()):
                    v = _rand(p.shape)
                    p.data = v.copy()
                    q.copy_(torch.tensor(v))
        x = _rand((4, 6, 5, 3))
        tx, dx = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
        ty, dy = tm(tx), dm(dx)
        np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        g = _rand(x.shape)
        ty.backward(torch.tensor(g))
        dy.backward(dg.tensor(g))
        np.testing.assert_allclose(dx.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
        for p, q in zip(dm.parameters(), tm.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="divisible"):
        dnn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="divisible"):
        tnn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_groups"):
        dnn.GroupNorm(0, 6)  # torch: ZeroDivisionError
    assert dnn.GroupNorm(2, 4, dtype=np.float64).weight.dtype == np.float64


# ---- instance_norm / InstanceNorm ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 4, 3, 5), (1, 2, 2), (2, 3, 0), (2, 2, 1, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("stats", ["none", "update", "use"])
def test_instance_norm_matches_torch(shape, affine, stats):
    c = shape[1]
    dtype = np.float64
    a = _rand(shape) * 3 + 1
    rm, rv = _rand(c), RNG.random(c) + 0.5
    trm, trv, drm, drv = torch.tensor(rm), torch.tensor(rv), dg.tensor(rm), dg.tensor(rv)
    use = stats != "use"
    run = None if stats == "none" else (trm, trv)
    drun = None if stats == "none" else (drm, drv)
    args = [a] + ([_rand(c), _rand(c)] if affine else [])

    def tf(x, w=None, b=None):
        r = run or (None, None)
        return TF.instance_norm(x, r[0], r[1], w, b, use, 0.3, 1e-5)

    def df(x, w=None, b=None):
        r = drun or (None, None)
        return F.instance_norm(x, r[0], r[1], w, b, use, 0.3, 1e-5)

    _check(tf, df, *args, tol=dict(rtol=1e-10, atol=1e-10))
    np.testing.assert_allclose(drm.numpy(), trm.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(drv.numpy(), trv.numpy(), rtol=1e-12, atol=1e-14)
    if stats == "update" and shape[-1]:
        assert not np.allclose(drm.numpy(), rm)  # moved
    _ = dtype


def test_instance_norm_float32_transposed_and_gradcheck():
    a = _rand((2, 3, 4, 5))

    def tf(x):
        return TF.instance_norm(x)

    def df(x):
        return F.instance_norm(x)

    _check(tf, df, a, transpose=True, tol=dict(rtol=1e-10, atol=1e-10))
    _check(tf, df, a.astype(np.float32), tol=dict(rtol=1e-4, atol=1e-5))
    x = dg.tensor(_rand((2, 2, 3)), requires_grad=True)
    assert dg.gradcheck(lambda t: F.instance_norm(t, eps=0.1), (x,))


def test_instance_norm_empty_batch():
    """An empty batch: an empty output; the running statistics become NaN, as torch's (the
    mean of no instances). torch fails outright with an affine weight (an index error);
    deltagrad returns the empty output (deliberate difference)."""
    rm, rv = dg.tensor(np.zeros(3)), dg.tensor(np.ones(3))
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    TF.instance_norm(torch.zeros(0, 3, 4, dtype=torch.float64), trm, trv)
    y = F.instance_norm(dg.tensor(np.zeros((0, 3, 4))), rm, rv)
    assert y.shape == (0, 3, 4)
    assert np.isnan(trm.numpy()).all() and np.isnan(rm.numpy()).all() and np.isnan(rv.numpy()).all()
    w = dg.tensor(np.ones(3), requires_grad=True)
    assert F.instance_norm(dg.tensor(np.zeros((0, 3, 4))), weight=w).shape == (0, 3, 4)


@pytest.mark.parametrize(
    "shape,kw",
    [
        ((2, 6, 1), {}),
        ((2, 6), {}),
        ((6,), {}),
        ((2, 6, 3), dict(use_input_stats=False)),
        ((2, 6, 3), dict(running_mean="rm")),
        ((2, 6, 3), dict(weight=4)),
        ((2, 6, 3), dict(running_mean=3, running_var=3)),
    ],
)
def test_instance_norm_errors_as_torch(shape, kw):
    def build(lib):
        out = {}
        for k, v in kw.items():
            if v == "rm":
                v = 6
            if isinstance(v, int) and not isinstance(v, bool):
                out[k] = (
                    torch.ones(v, dtype=torch.float64) if lib is torch else dg.tensor(np.ones(v))
                )
            else:
                out[k] = v
        return out

    _same_error(
        lambda: TF.instance_norm(torch.zeros(shape, dtype=torch.float64), **build(torch)),
        lambda: F.instance_norm(dg.tensor(np.zeros(shape)), **build(dg)),
    )


@pytest.mark.parametrize(
    "dcls,tcls,shape",
    [
        (dnn.InstanceNorm1d, tnn.InstanceNorm1d, (3, 4, 6)),
        (dnn.InstanceNorm2d, tnn.InstanceNorm2d, (2, 4, 3, 5)),
        (dnn.InstanceNorm3d, tnn.InstanceNorm3d, (2, 4, 2, 3, 2)),
    ],
)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(affine=True),
        dict(track_running_stats=True),
        dict(affine=True, track_running_stats=True, momentum=None),
        dict(affine=True, bias=False, eps=1e-3, momentum=0.25, track_running_stats=True),
    ],
)
def test_instance_norm_layers_match_torch(dcls, tcls, shape, kw):
    dm, tm = dcls(4, **kw), tcls(4, **kw)
    assert repr(dm) == repr(tm)
    assert list(dm.state_dict()) == list(tm.state_dict())
    for name, t in tm.state_dict().items():
        assert np.asarray(dm.state_dict()[name]).dtype == t.numpy().dtype
        np.testing.assert_array_equal(np.asarray(dm.state_dict()[name]), t.numpy())
    dm.double()
    tm.double()
    for step in range(3):
        for train in (True, False):
            dm.train(train)
            tm.train(train)
            x = _rand(shape)
            if step == 2:
                x = x[0]  # unbatched
            tx, dx = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
            ty, dy = tm(tx), dm(dx)
            np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
            g = _rand(x.shape)
            ty.backward(torch.tensor(g))
            dy.backward(dg.tensor(g))
            np.testing.assert_allclose(dx.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
            for name, t in tm.state_dict().items():
                np.testing.assert_allclose(
                    np.asarray(dm.state_dict()[name]), t.numpy(), rtol=1e-12, atol=1e-14
                )
            for p, q in zip(dm.parameters(), tm.parameters()):
                np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_instance_norm_layer_checks():
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        dnn.InstanceNorm1d(3)(dg.tensor(np.zeros((1, 3, 2, 2))))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        dnn.InstanceNorm2d(3)(dg.tensor(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="to match num_features"):
        dnn.InstanceNorm1d(3, affine=True)(dg.tensor(np.zeros((2, 4, 5))))
    with pytest.warns(UserWarning, match="does not match num_features"):
        y = dnn.InstanceNorm1d(3)(dg.tensor(_rand((2, 4, 5)).astype(np.float32)))
    assert y.shape == (2, 4, 5)
    m = dnn.InstanceNorm1d(3, track_running_stats=True)
    m(dg.tensor(_rand((2, 3, 5)).astype(np.float32)))
    assert m.num_batches_tracked.item() == 0  # as torch: instance norm does not count
    m.running_mean.data[:] = 5.0
    m.reset_running_stats()
    np.testing.assert_array_equal(m.running_mean.numpy(), np.zeros(3))
