"""F.interpolate's "bicubic", "area" and "lanczos" modes and antialias=True, and nn.Upsample
with them, against torch 2.13 (round 36): forward and input gradients in float64 to 1e-10
(float32 to ~1e-5) over up- and down-scaling, non-integer scale factors, size=,
align_corners both ways, recompute_scale_factor, odd, size-0 and size-1 shapes, extreme values,
the error cases, and each deliberate difference from torch."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(36)


def _rand(shape, dtype=np.float64):
    return (RNG.standard_normal(shape) * 2 + 0.5).astype(dtype)


def _torch_interp(t, kw):
    """torch's interpolate, but for its CPU antialiased kernel's bug where the output width is
    1 and the height changes (every output row then repeats the first): there, torch on the
    transposed input (which is right, and what torch's own backward differentiates)."""
    y = TF.interpolate(t, **kw)
    if kw.get("antialias") and y.ndim == 4 and y.shape[3] == 1 and y.shape[2] != t.shape[2]:
        kt = {k: (v[::-1] if isinstance(v, tuple) else v) for k, v in kw.items()}
        y = TF.interpolate(t.transpose(2, 3), **kt).transpose(2, 3)
    return y


def _check(shape, kw, dtype=np.float64, a=None, grad=True):
    """deltagrad against torch for one call: the output (NaN where torch's is NaN), and the
    input gradient for a random output gradient; the tolerance scales with the input's
    magnitude (the sums' rounding, which torch's FMA-contracted kernels do in another order)."""
    a = _rand(shape, dtype) if a is None else a
    tx = torch.tensor(a, requires_grad=grad)
    ty = _torch_interp(tx, kw)
    dx = dg.tensor(a, requires_grad=grad)
    dy = F.interpolate(dx, **kw)
    assert tuple(dy.shape) == tuple(ty.shape)
    assert dy.dtype == dx.dtype
    finite = a[np.isfinite(a)]
    scale = float(np.max(np.abs(finite), initial=1.0))
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), rtol=tol, atol=tol * scale)
    if grad and ty.numel():
        g = _rand(ty.shape, dtype)
        ty.backward(torch.tensor(g))
        dy.backward(dg.tensor(g))
        gscale = float(np.max(np.abs(g), initial=1.0))
        np.testing.assert_allclose(
            np.asarray(dx.grad), tx.grad.numpy(), rtol=tol, atol=tol * gscale * 4
        )


_SHAPES_4D = [(2, 3, 7, 5), (1, 2, 4, 9), (1, 1, 13, 17)]
_SIZE_KWS = [
    dict(size=(3, 2)),
    dict(size=(11, 13)),
    dict(size=(1, 1)),
    dict(size=(6, 23)),
    dict(scale_factor=2.37),
    dict(scale_factor=(2.3, 0.6)),
    dict(scale_factor=(0.71, 1.9)),
    dict(scale_factor=0.55, recompute_scale_factor=True),
    dict(scale_factor=(1.7, 3), recompute_scale_factor=False),
    dict(scale_factor=3),
]


def _fits(shape, kw):
    """Whether kw gives every spatial dim an output size >= 1."""
    sf = kw.get("scale_factor")
    if sf is None:
        return True
    sf = sf if isinstance(sf, tuple) else (sf,) * (len(shape) - 2)
    return all(int(n * f) >= 1 for n, f in zip(shape[2:], sf))


_INTERP_CASES = [
    (shape, dict(kw, mode=mode, align_corners=ac, antialias=aa))
    for mode, aa in (("bicubic", False), ("bicubic", True), ("bilinear", True))
    for ac in (False, True)
    for shape in _SHAPES_4D
    for kw in _SIZE_KWS
    if _fits(shape, kw)
] + [
    (shape, dict(kw, mode="lanczos", antialias=True))
    for shape in _SHAPES_4D
    for kw in _SIZE_KWS
    if _fits(shape, kw)
]


@pytest.mark.parametrize("shape,kw", _INTERP_CASES)
def test_bicubic_antialias_lanczos_match_torch_float64(shape, kw):
    _check(shape, kw)


_AREA_CASES = [
    (shape, dict(kw, mode="area"))
    for shape in [
        (2, 3, 7),
        (1, 1, 1),
        (2, 3, 7, 5),
        (1, 1, 1, 1),
        (1, 2, 5, 6, 7),
        (2, 1, 3, 1, 4),
    ]
    for kw in [
        dict(size=3),
        dict(size=1),
        dict(size=11),
        dict(scale_factor=0.37),
        dict(scale_factor=2.5),
        dict(scale_factor=1.5, recompute_scale_factor=False),
        dict(scale_factor=1.0),
    ]
    if _fits(shape, kw)
] + [
    ((2, 3, 7, 5), dict(mode="area", size=(3, 11))),
    ((2, 3, 7, 5), dict(mode="area", scale_factor=(0.5, 2.2))),
    ((1, 2, 5, 6, 7), dict(mode="area", size=(2, 9, 7))),
]


@pytest.mark.parametrize("shape,kw", _AREA_CASES)
def test_area_matches_torch_float64(shape, kw):
    _check(shape, kw)


@pytest.mark.parametrize(
    "shape,kw",
    [
        ((2, 3, 7, 5), dict(mode="bicubic", size=(11, 3))),
        ((2, 3, 7, 5), dict(mode="bicubic", scale_factor=1.7, align_corners=True)),
        ((2, 3, 13, 17), dict(mode="bicubic", size=(4, 5), antialias=True)),
        ((2, 3, 13, 17), dict(mode="bilinear", scale_factor=0.3, antialias=True)),
        ((2, 3, 7, 5), dict(mode="bilinear", size=(15, 11), antialias=True, align_corners=True)),
        ((2, 3, 13, 17), dict(mode="lanczos", size=(5, 20), antialias=True)),
        ((2, 3, 7), dict(mode="area", size=3)),
        ((2, 3, 7, 5), dict(mode="area", size=(3, 2))),
        ((1, 2, 5, 6, 7), dict(mode="area", scale_factor=0.6)),
    ],
)
def test_float32_matches_torch(shape, kw):
    _check(shape, kw, np.float32)


@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="bicubic", size=(5, 4)),
        dict(mode="bicubic", scale_factor=2.3, align_corners=True),
        dict(mode="bicubic", size=(4, 11), antialias=True),
        dict(mode="bilinear", size=(3, 2), antialias=True),
        dict(mode="bilinear", size=(11, 13), antialias=True),
        dict(mode="lanczos", size=(3, 4), antialias=True),
        dict(mode="area", size=(3, 2)),
        dict(mode="area", size=(11, 4)),
    ],
)
def test_large_magnitudes_match_torch(kw):
    a = _rand((2, 2, 7, 6)) * 1e150
    a[0, 0, 2, 3] = 3e300
    a[1, 1, 4, 1] = -2e300
    _check(a.shape, kw, a=a)


@pytest.mark.parametrize("val", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="bicubic", size=(5, 4)),
        dict(mode="bicubic", size=(7, 6), align_corners=True),  # same size: weight-0 taps
        dict(mode="bicubic", scale_factor=2.3),
        dict(mode="bicubic", size=(11, 13), antialias=True),
        dict(mode="bilinear", size=(3, 2), antialias=True),
        dict(mode="bilinear", size=(11, 13), antialias=True),
        dict(mode="bilinear", size=(7, 2), antialias=True),  # same height: that axis skipped
        dict(mode="area", size=(3, 2)),
        dict(mode="area", size=(11, 4)),
    ],
)
def test_inf_and_nan_propagate_as_torch(kw, val):
    a = _rand((2, 1, 7, 6))
    a[0, 0, 2, 3] = val
    a[1, 0, 4, 1] = -val
    _check(a.shape, kw, a=a, grad=False)


def test_bicubic_same_size_with_scale_factor_consistent_gradient():
    # torch's cubic forward has no equal-size shortcut (the scale factor sets the source step,
    # so the result is not the input), but its CPU backward copies the gradient when the sizes
    # are equal (torch's own gradcheck fails there); deltagrad's gradient is the forward's
    _check((1, 2, 5, 6), dict(mode="bicubic", size=(5, 6)))
    _check((1, 2, 5, 6), dict(mode="bicubic", size=(5, 6), align_corners=True))
    kw = dict(mode="bicubic", scale_factor=(1.1, 1.0))
    _check((1, 2, 5, 6), kw, grad=False)
    a = _rand((1, 2, 5, 6))
    y = F.interpolate(dg.tensor(a), **kw).numpy()
    assert np.abs(y - a).max() > 0.1
    assert dg.gradcheck(lambda t: F.interpolate(t, **kw), (dg.tensor(a, requires_grad=True),))
    tx = torch.tensor(a, requires_grad=True)
    TF.interpolate(tx, **kw).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), np.ones(a.shape))  # torch's copy


def test_antialias_output_width_1_is_right_where_torch_forward_is_not():
    # torch's CPU antialiased forward repeats the first row when the output width is 1 and the
    # height changes; deltagrad gives torch's result for the transposed input (and torch's
    # own backward, which is right, agrees with deltagrad's gradient)
    a = np.arange(35.0).reshape(1, 1, 7, 5)
    y = F.interpolate(dg.tensor(a), size=(2, 1), mode="bilinear", antialias=True).numpy()
    assert y[0, 0, 0, 0] != y[0, 0, 1, 0]
    ref = TF.interpolate(
        torch.tensor(a).transpose(2, 3), size=(1, 2), mode="bilinear", antialias=True
    )
    np.testing.assert_allclose(y, ref.transpose(2, 3).numpy(), rtol=1e-12)
    for shape, size in [((2, 3, 7, 5), (3, 1)), ((1, 1, 7, 1), (3, 1))]:
        _check(shape, dict(mode="bicubic", size=size, antialias=True))


def test_antialias_unchanged_axis_left_as_is_with_a_consistent_gradient():
    # torch's antialiased forward leaves an axis of unchanged size untouched even when a
    # scale_factor (here 1.1 on a height of 5) would set another source step; its backward
    # then uses that step's weights, not the identity -- deltagrad's gradient is the forward's
    a = _rand((1, 2, 5, 6))
    kw = dict(mode="bilinear", scale_factor=(1.1, 0.5), antialias=True)
    x = dg.tensor(a, requires_grad=True)
    y = F.interpolate(x, **kw)
    np.testing.assert_allclose(y.numpy(), TF.interpolate(torch.tensor(a), **kw).numpy(), 1e-12)
    assert dg.gradcheck(lambda t: F.interpolate(t, **kw), (x,))
    z = F.interpolate(
        dg.tensor(a, requires_grad=True),
        scale_factor=(1.1, 1.0),
        **{k: v for k, v in kw.items() if k != "scale_factor"},
    )
    np.testing.assert_array_equal(z.numpy(), a)


@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="bicubic", size=(4, 7)),
        dict(mode="bicubic", scale_factor=0.6, align_corners=True),
        dict(mode="bicubic", size=(2, 3), antialias=True),
        dict(mode="bilinear", size=(7, 2), antialias=True),
        dict(mode="lanczos", size=(2, 8), antialias=True),
        dict(mode="area", size=(2, 4)),
    ],
)
def test_gradcheck(kw):
    x = dg.tensor(_rand((1, 2, 5, 6)), requires_grad=True)
    assert dg.gradcheck(lambda t: F.interpolate(t, **kw), (x,))


def test_area_3d_and_5d_gradcheck():
    for shape, size in [((2, 2, 7), 3), ((1, 1, 3, 5, 4), (2, 7, 3))]:
        x = dg.tensor(_rand(shape), requires_grad=True)
        assert dg.gradcheck(lambda t, s=size: F.interpolate(t, size=s, mode="area"), (x,))


def test_empty_batch_and_empty_area_output():
    for kw in [
        dict(mode="bicubic", size=(3, 4)),
        dict(mode="bilinear", size=(3, 4), antialias=True),
        dict(mode="area", size=(3, 4)),
    ]:
        _check((0, 2, 5, 6), kw)
    # area takes output size 0 (and channels 0 for 3-D / 4-D input) as torch
    for shape, kw in [
        ((1, 1, 5), dict(size=0)),
        ((2, 3, 5, 6), dict(size=(0, 2))),
        ((2, 3, 5, 6), dict(scale_factor=0.1)),
        ((1, 0, 5, 6), dict(size=(3, 3))),
        ((1, 0, 5), dict(size=2)),
    ]:
        kw = dict(kw, mode="area")
        t = TF.interpolate(torch.zeros(shape), **kw)
        x = dg.tensor(_rand(shape), requires_grad=True)
        y = F.interpolate(x, **kw)
        assert tuple(y.shape) == tuple(t.shape)
        # deltagrad's gradient of an empty result is zeros (torch's backward refuses it)
        y.sum().backward()
        np.testing.assert_array_equal(np.asarray(x.grad), np.zeros(shape))


def test_upsample_modules_with_the_new_modes():
    a = _rand((2, 3, 5, 6))
    for kw in [
        dict(size=(7, 3), mode="bicubic"),
        dict(scale_factor=1.5, mode="bicubic", align_corners=True),
        dict(scale_factor=0.5, mode="area"),
        dict(size=4, mode="area"),
    ]:
        tm, dm = torch.nn.Upsample(**kw), dnn.Upsample(**kw)
        assert repr(dm) == repr(tm)
        tx = torch.tensor(a, requires_grad=True)
        dx = dg.tensor(a, requires_grad=True)
        ty, dy = tm(tx), dm(dx)
        np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        ty.sum().backward()
        dy.sum().backward()
        np.testing.assert_allclose(np.asarray(dx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    a3 = _rand((2, 3, 9))
    tm, dm = torch.nn.Upsample(size=4, mode="area"), dnn.Upsample(size=4, mode="area")
    np.testing.assert_allclose(dm(dg.tensor(a3)).numpy(), tm(torch.tensor(a3)).numpy(), 1e-12)


_ERRORS = [
    ((1, 1, 5), dict(size=3, mode="bicubic")),
    ((1, 1, 5, 5, 5), dict(size=3, mode="bicubic")),
    ((1, 1, 5), dict(size=3, mode="lanczos")),
    ((1, 1, 5, 5), dict(size=3, mode="lanczos")),
    ((1, 1, 5, 5), dict(size=3, mode="lanczos", antialias=True, align_corners=True)),
    ((1, 1, 5), dict(size=3, mode="lanczos", antialias=True)),
    ((1, 1, 5, 5), dict(size=3, mode="area", antialias=True)),
    ((1, 1, 5, 5), dict(size=3, mode="nearest", antialias=True)),
    ((1, 1, 5, 5, 5), dict(size=3, mode="trilinear", antialias=True)),
    ((1, 1, 5, 5), dict(size=3, mode="area", align_corners=False)),
    ((1, 1, 5, 5), dict(size=0, mode="bicubic")),
    ((1, 1, 5, 5), dict(size=(3, 0), mode="bilinear", antialias=True)),
    ((1, 1, 0, 5), dict(size=3, mode="bicubic", antialias=True)),
    ((1, 0, 5, 5), dict(size=3, mode="bicubic")),
    ((1, 0, 5, 5), dict(size=3, mode="bilinear", antialias=True)),
    ((1, 1, 5, 5), dict(scale_factor=0.1, mode="bicubic")),
    ((1, 1, 5, 5), dict(size=3, scale_factor=2, mode="bicubic")),
    ((1, 1, 5, 5), dict(size=3, mode="bicubic", recompute_scale_factor=True)),
    ((1, 1, 5), dict(size=-1, mode="area")),
    ((1, 1, 5, 5), dict(size=(-1, 2), mode="area")),
    ((1, 1, 5, 5, 5), dict(size=-2, mode="area")),
    ((1, 1, 5), dict(scale_factor=-1.0, mode="area")),
    ((1, 1, 5), dict(scale_factor=float("inf"), mode="area")),
    ((1, 1, 5), dict(scale_factor=float("nan"), mode="area")),
    ((1, 1, 5), dict(size=2.0, mode="area")),
    ((1, 1, 0), dict(size=2, mode="area")),
    ((2, 1, 5, 0), dict(size=2, mode="area")),
    ((1, 1, 5, 0, 5), dict(size=2, mode="area")),
    ((1, 0, 5, 5, 5), dict(size=2, mode="area")),
    ((1, 5), dict(size=3, mode="area")),
    ((1, 1, 5), dict(size=3, scale_factor=2, mode="area")),
]


@pytest.mark.parametrize("shape,kw", _ERRORS)
def test_errors_as_torch(shape, kw):
    with pytest.raises(Exception) as te:
        TF.interpolate(torch.zeros(shape), **kw)
    with pytest.raises(type(te.value)):
        F.interpolate(dg.tensor(np.zeros(shape)), **kw)


def test_error_messages_name_the_problem():
    x = dg.tensor(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="requires antialias=True"):
        F.interpolate(x, size=3, mode="lanczos")
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        F.interpolate(x, size=3, mode="area", antialias=True)
    with pytest.raises(ValueError, match="output_size must be greater than or equal to 0"):
        F.interpolate(x, size=-1, mode="area")
    with pytest.raises(NotImplementedError, match=r"got 3D.*\(got bicubic\)"):
        F.interpolate(dg.tensor(np.zeros((1, 1, 5))), size=3, mode="bicubic")
    with pytest.raises(TypeError, match="float32 or float64"):
        F.interpolate(dg.tensor(np.zeros((1, 1, 5), np.int64)), size=3, mode="area")
