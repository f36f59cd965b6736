"""Fractional max pooling against torch 2.13 (round 37): F.fractional_max_pool2d / 3d (and the
_with_indices forms), nn.FractionalMaxPool2d / 3d. The same _random_samples go to both
libraries; values and indices must match exactly, input gradients to 1e-10 (float64)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

_FN = {2: (F.fractional_max_pool2d, TF.fractional_max_pool2d)}
_FN[3] = (F.fractional_max_pool3d, TF.fractional_max_pool3d)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


def _samples(nd, shape, dtype=torch.float64, rows=None):
    """torch.rand samples (rows, C, nd) for an input of this shape, as torch draws them."""
    batched = len(shape) == nd + 2
    rows = rows if rows is not None else (shape[0] if batched else 1)
    return torch.rand(rows, shape[-nd - 1], nd, dtype=dtype)


def _both(nd, x, kernel, samples, **kw):
    """(dg values, indices, input grad), (torch's): the same samples, a random output grad."""
    dgf, tf = _FN[nd]
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = tf(tx, kernel, return_indices=True, _random_samples=samples, **kw)
    w = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(x.dtype)
    (ty * torch.tensor(w)).sum().backward()
    dx = dg.Tensor(x.copy(), requires_grad=True)
    s = dg.Tensor(samples.numpy().copy())
    y, i = dgf(dx, kernel, return_indices=True, _random_samples=s, **kw)
    (y * dg.Tensor(w)).sum().backward()
    return (y, i, dx.grad), (ty, ti, tx.grad)


def _check(nd, x, kernel, samples, rtol=1e-12, **kw):
    (y, i, g), (ty, ti, tg) = _both(nd, x, kernel, samples, **kw)
    assert y.shape == tuple(ty.shape) and y.dtype == x.dtype
    assert i.dtype == np.int64 and i.shape == tuple(ti.shape)
    np.testing.assert_array_equal(_np(i), _np(ti))
    np.testing.assert_array_equal(_np(y), _np(ty))  # a max selects: exact, NaN included
    np.testing.assert_allclose(_np(g), _np(tg), rtol=rtol, atol=rtol)


_CASES_2D = [
    ((2, 3, 7, 8), 2, dict(output_size=(3, 4))),
    ((2, 3, 7, 8), (2, 3), dict(output_size=(4, 3))),
    ((1, 2, 9, 5), (3, 1), dict(output_size=3)),
    ((3, 11, 13), 3, dict(output_size=(5, 6))),  # unbatched
    ((2, 2, 6, 7), 1, dict(output_size=(6, 7))),  # kernel 1, output == input
    ((2, 2, 6, 7), (2, 3), dict(output_size=(5, 5))),  # output == input - kernel + 1
    ((2, 2, 6, 7), 3, dict(output_size=1)),  # one window, at input - kernel
    ((2, 2, 6, 7), (3, 2), dict(output_size=(1, 4))),
    ((1, 1, 1, 1), 1, dict(output_size=1)),
    ((2, 3, 17, 10), 2, dict(output_ratio=(0.5, 0.7))),
    ((4, 25, 31), (3, 2), dict(output_ratio=(0.3, 0.45))),
    ((2, 1, 40, 33), 2, dict(output_size=(19, 16))),
]

_CASES_3D = [
    ((2, 3, 6, 7, 8), 2, dict(output_size=(3, 4, 5))),
    ((1, 2, 7, 5, 6), (3, 2, 1), dict(output_size=(4, 3, 5))),
    ((3, 6, 9, 5), (1, 3, 2), dict(output_size=(5, 2, 3))),  # unbatched
    ((2, 2, 5, 4, 6), (2, 1, 3), dict(output_size=(3, 3, 3))),  # input - k (torch's limit)
    ((2, 2, 5, 4, 6), 2, dict(output_size=1)),
    ((1, 1, 2, 2, 2), 1, dict(output_size=1)),
    ((2, 2, 11, 9, 13), 2, dict(output_ratio=(0.5, 0.4, 0.6))),
    ((2, 9, 10, 11), (3, 2, 2), dict(output_ratio=0.5)),  # unbatched, one ratio
]


@pytest.mark.parametrize(
    "nd,shape,kernel,kw", [(2, *c) for c in _CASES_2D] + [(3, *c) for c in _CASES_3D]
)
def test_matches_torch_float64(nd, shape, kernel, kw):
    torch.manual_seed(sum(shape))
    x = np.random.default_rng(len(shape)).standard_normal(shape) * 10
    if "output_ratio" in kw and not isinstance(kw["output_ratio"], tuple):  # torch's 2-D
        kw = dict(output_ratio=(kw["output_ratio"],) * nd)  # function wants a tuple
    _check(nd, x, kernel, _samples(nd, shape), **kw)


@pytest.mark.parametrize("nd", [2, 3])
def test_ties_take_the_first_in_scan_order(nd):
    """Few distinct values: many ties inside each window; torch keeps the first in (d,) h, w
    order and its gradient goes there."""
    shape = (3, 4, 9, 10) if nd == 2 else (2, 3, 7, 8, 9)
    x = np.random.default_rng(3).integers(0, 3, shape).astype(np.float64)
    torch.manual_seed(3)
    _check(nd, x, 3, _samples(nd, shape), output_size=(4,) * nd)
    _check(nd, np.ones(shape), 2, _samples(nd, shape), output_size=(5,) * nd)


@pytest.mark.parametrize("nd", [2, 3])
def test_nan_and_inf(nd):
    """NaN wins (the last one in scan order, as torch's `val > max || isnan(val)`); +inf
    wins; an all -inf window gives -inf at its first position; huge magnitudes."""
    shape = (2, 3, 9, 8) if nd == 2 else (2, 2, 7, 6, 8)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape) * 1e300
    flat = x.reshape(-1)
    for val, frac in ((np.nan, 0.1), (np.inf, 0.05), (-np.inf, 0.3)):
        flat[rng.random(flat.size) < frac] = val
    x[0, 0] = -np.inf  # whole plane -inf
    x[1, 0] = np.nan  # whole plane NaN
    torch.manual_seed(5)
    _check(nd, x, 2, _samples(nd, shape), output_size=(4,) * nd)


@pytest.mark.parametrize("nd", [2, 3])
def test_float32(nd):
    """float32: the window starts are computed in float32, as torch's kernel does (its
    float samples), so the indices match exactly."""
    shape = (3, 4, 41, 37) if nd == 2 else (2, 3, 19, 23, 17)
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    torch.manual_seed(7)
    s = _samples(nd, shape, dtype=torch.float32)
    _check(nd, x, 2, s, rtol=1e-5, output_size=(9,) * nd)
    _check(nd, x, (3,) * nd, s, rtol=1e-5, output_ratio=(0.55,) * nd)


def test_float16_indices_match_torch():
    """float16: the interval arithmetic in half precision, as torch's CPU kernel."""
    shape = (2, 3, 47, 39)
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float16)
    torch.manual_seed(8)
    s = _samples(2, shape, dtype=torch.float16)
    y, i = F.fractional_max_pool2d(dg.Tensor(x), 2, (20, 17), None, True, dg.Tensor(s.numpy()))
    ty, ti = TF.fractional_max_pool2d(torch.tensor(x), 2, (20, 17), None, True, s)
    np.testing.assert_array_equal(_np(i), _np(ti))
    np.testing.assert_array_equal(_np(y), _np(ty))


@pytest.mark.parametrize("nd", [2, 3])
def test_more_sample_rows_than_batch(nd):
    shape = (2, 3) + (7,) * nd
    torch.manual_seed(9)
    x = np.random.default_rng(9).standard_normal(shape)
    _check(nd, x, 2, _samples(nd, shape, rows=5), output_size=3)
    _check(nd, x[0], 2, _samples(nd, shape, rows=3), output_size=3)  # unbatched: row 0


@pytest.mark.parametrize("nd", [2, 3])
def test_with_indices_forms_and_return_types(nd):
    shape = (2, 3) + (6,) * nd
    x = dg.Tensor(np.random.default_rng(10).standard_normal(shape))
    s = dg.Tensor(np.random.default_rng(10).random((2, 3, nd)))
    fn = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    wi = F.fractional_max_pool2d_with_indices if nd == 2 else F.fractional_max_pool3d_with_indices
    y = fn(x, 2, 3, _random_samples=s)
    assert isinstance(y, dg.Tensor)
    y2, i2 = wi(x, 2, 3, return_indices=False, _random_samples=s)
    np.testing.assert_array_equal(_np(y), _np(y2))
    flat = _np(x).reshape(2, 3, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, _np(i2).reshape(2, 3, -1), -1).reshape(y.shape), _np(y)
    )
    assert "fractional_max_pool2d" in F.__all__ and "fractional_max_pool3d_with_indices" in (
        F.__all__
    )


def test_keyword_names_are_torchs():
    """torch's fractional_max_pool2d / 3d are boolean_dispatch wrappers (*args, **kwargs);
    the names are those of its _with_indices forms."""
    for nd in (2, 3):
        names = list(
            inspect.signature(getattr(TF, f"fractional_max_pool{nd}d_with_indices")).parameters
        )
        for fn in (_FN[nd][0], getattr(F, f"fractional_max_pool{nd}d_with_indices")):
            assert list(inspect.signature(fn).parameters) == names


def test_unpool_round_trip():
    x = np.random.default_rng(11).standard_normal((2, 3, 9, 9))
    s = torch.rand(2, 3, 2, dtype=torch.float64)
    y, i = F.fractional_max_pool2d(dg.Tensor(x), 2, 4, None, True, dg.Tensor(s.numpy()))
    ty, ti = TF.fractional_max_pool2d(torch.tensor(x), 2, 4, None, True, s)
    u = F.max_unpool2d(y, i, 3, 2, 0, output_size=(9, 9))
    tu = TF.max_unpool2d(ty, ti, 3, 2, 0, output_size=(9, 9))
    np.testing.assert_array_equal(_np(u), _np(tu))


@pytest.mark.parametrize("nd", [2, 3])
def test_empty_batch(nd):
    shape = (0, 3) + (6,) * nd
    x = np.zeros(shape)
    _check(nd, x, 2, _samples(nd, shape), output_size=(3,) * nd)
    _check(nd, x, 2, _samples(nd, shape, rows=2), output_size=(0,) + (2,) * (nd - 1))
    fn = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    t = dg.Tensor(x, requires_grad=True)
    y, i = fn(t, 2, output_ratio=(0.5,) * nd, return_indices=True)  # samples drawn
    assert y.shape == (0, 3) + (3,) * nd and i.shape == y.shape
    y.sum().backward()
    assert t.grad.shape == shape


@pytest.mark.parametrize("nd", [2, 3])
def test_zero_output_size(nd):
    shape = (2, 3) + (5,) * nd
    x = np.random.default_rng(12).standard_normal(shape)
    _check(nd, x, 2, _samples(nd, shape), output_size=(0,) * nd)
    _check(nd, x, 2, _samples(nd, shape), output_size=(2,) * (nd - 1) + (0,))


@pytest.mark.parametrize("nd", [2, 3])
def test_gradcheck(nd):
    shape = (1, 2) + (5,) * nd
    x = dg.Tensor(np.random.default_rng(13).standard_normal(shape), requires_grad=True)
    s = dg.Tensor(np.random.default_rng(13).random((1, 2, nd)))
    fn = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    assert dg.gradcheck(lambda t: fn(t, 2, 3, _random_samples=s), (x,))


# ---- samples drawn when None --------------------------------------------------------------


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_drawn_samples(nd, batched, dtype):
    """Drawn from deltagrad's generator: (N or 1, C, nd) uniforms in the input's dtype; the
    result is the one those samples give, and every window lies inside the input."""
    shape = ((3,) if batched else ()) + (4,) + (15,) * nd
    x = np.random.default_rng(14).standard_normal(shape).astype(dtype)
    fn = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    dg.manual_seed(123)
    y, i = fn(dg.Tensor(x), 3, output_ratio=(0.4,) * nd, return_indices=True)
    u = np.random.default_rng(123).random((shape[0] if batched else 1, 4, nd)).astype(dtype)
    y2, i2 = fn(dg.Tensor(x), 3, (6,) * nd, None, True, dg.Tensor(u))
    np.testing.assert_array_equal(_np(i), _np(i2))
    np.testing.assert_array_equal(_np(y), _np(y2))
    assert y.dtype == dtype and y.shape == shape[:-nd] + (6,) * nd
    idx = _np(i)
    assert idx.min() >= 0 and idx.max() < 15**nd
    # a fresh draw on each call: another seed gives other windows somewhere
    outs = {_np(fn(dg.Tensor(x), 3, 6, return_indices=True)[1]).tobytes() for _ in range(4)}
    assert len(outs) > 1


@pytest.mark.parametrize("nd", [2, 3])
def test_out_of_range_samples_stay_inside(nd):
    """torch takes any samples; finite ones keep its windows inside the input (compared);
    non-finite ones are clamped into it here (torch's int cast of them is undefined)."""
    shape = (2, 3) + (9,) * nd
    x = np.random.default_rng(15).standard_normal(shape)
    s = torch.tensor(np.random.default_rng(15).uniform(-3, 4, (2, 3, nd)))
    _check(nd, x, 2, s, output_size=(4,) * nd)
    fn = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    bad = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 0.5])[
        np.random.default_rng(15).integers(0, 6, (2, 3, nd))
    ]
    y, i = fn(dg.Tensor(x), 2, 4, None, True, dg.Tensor(bad))
    assert _np(i).min() >= 0 and _np(i).max() < 9**nd and np.isfinite(_np(y)).all()


# ---- modules -----------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [2, 3])
def test_module_state_repr_and_forward(nd):
    dcls = dnn.FractionalMaxPool2d if nd == 2 else dnn.FractionalMaxPool3d
    tcls = torch.nn.FractionalMaxPool2d if nd == 2 else torch.nn.FractionalMaxPool3d
    for kw in (dict(output_size=3), dict(output_ratio=0.5), dict(output_size=(2,) * nd)):
        d, t = dcls(2, **kw), tcls(2, **kw)
        for name in ("kernel_size", "output_size", "output_ratio", "return_indices"):
            assert getattr(d, name) == getattr(t, name), name
        assert repr(d) == repr(t) == f"{tcls.__name__}()"
        assert d._random_samples is None and list(d.state_dict()) == list(t.state_dict()) == []
    shape = (2, 3) + (8,) * nd
    s = _samples(nd, shape)
    d = dcls(
        (2,) * nd,
        output_ratio=(0.5,) * nd,
        return_indices=True,
        _random_samples=dg.Tensor(s.numpy().copy()),
    )
    t = tcls((2,) * nd, output_ratio=(0.5,) * nd, return_indices=True, _random_samples=s)
    assert list(d.state_dict()) == list(t.state_dict()) == ["_random_samples"]
    assert [n for n, _ in d.named_buffers()] == ["_random_samples"]
    x = np.random.default_rng(16).standard_normal(shape)
    (y, i), (ty, ti) = d(dg.Tensor(x)), t(torch.tensor(x))
    np.testing.assert_array_equal(_np(y), _np(ty))
    np.testing.assert_array_equal(_np(i), _np(ti))
    assert "FractionalMaxPool2d" in dnn.__all__ and "FractionalMaxPool3d" in dnn.__all__


@pytest.mark.parametrize(
    "nd,args,kw",
    [
        (2, (2,), {}),
        (3, (2,), {}),
        (2, (2,), dict(output_size=3, output_ratio=0.5)),
        (3, (2,), dict(output_size=3, output_ratio=0.5)),
        (2, (2,), dict(output_ratio=1.0)),
        (2, (2,), dict(output_ratio=(0.5, 0.0))),
        (3, (2,), dict(output_ratio=(0.5, 0.5, 1.5))),
        (3, (0,), dict(output_size=2)),
        (3, ((2, -1, 2),), dict(output_size=2)),
    ],
)
def test_module_init_errors(nd, args, kw):
    dcls = dnn.FractionalMaxPool2d if nd == 2 else dnn.FractionalMaxPool3d
    tcls = torch.nn.FractionalMaxPool2d if nd == 2 else torch.nn.FractionalMaxPool3d
    with pytest.raises(ValueError) as te:
        tcls(*args, **kw)
    with pytest.raises(ValueError) as de:
        dcls(*args, **kw)
    assert str(te.value).split(" (")[0].split(",")[0] in str(de.value)


# ---- errors ------------------------------------------------------------------------------


def _err_cases():
    x4 = (2, 3, 7, 8)
    x5 = (2, 3, 5, 6, 7)
    s2 = (2, 3, 2)
    s3 = (2, 3, 3)
    return [
        # (nd, input shape, input dtype, kernel, kwargs, samples shape, samples dtype)
        (2, x4, "f8", 2, dict(), s2, "f8"),  # neither output_size nor output_ratio
        (2, x4, "f8", (2, 2, 2), dict(output_size=2), s2, "f8"),
        (2, x4, "f8", 2, dict(output_size=(2, 2, 2)), s2, "f8"),
        (3, x5, "f8", (2, 2), dict(output_size=2), s3, "f8"),
        (3, x5, "f8", 2, dict(output_size=(2, 2)), s3, "f8"),
        (2, x4, "f8", 2.0, dict(output_size=2), s2, "f8"),
        (2, x4, "f8", 2, dict(output_size=(2.0, 2)), s2, "f8"),
        (2, x4, "f8", True, dict(output_size=2), s2, "f8"),
        (2, x4, "f8", 2, dict(output_ratio=(0.5, 0.5, 0.5)), s2, "f8"),
        (2, x4, "f8", 2, dict(output_size=(-1, 2)), s2, "f8"),
        (2, x4, "f8", 2, dict(output_ratio=(-0.5, 0.5)), s2, "f8"),
        (2, (7, 8), "f8", 2, dict(output_size=2), s2, "f8"),
        (2, (1, 2, 3, 7, 8), "f8", 2, dict(output_size=2), s2, "f8"),
        (3, (5, 6, 7), "f8", 2, dict(output_size=2), s3, "f8"),
        (2, (2, 0, 7, 8), "f8", 2, dict(output_size=2), (2, 0, 2), "f8"),
        (2, (2, 3, 0, 8), "f8", 2, dict(output_size=2), s2, "f8"),
        (3, (2, 3, 5, 6, 0), "f8", 2, dict(output_size=2), s3, "f8"),
        (2, x4, "f8", 2, dict(output_size=(7, 3)), s2, "f8"),  # pool height too large
        (2, x4, "f8", (2, 4), dict(output_size=(3, 6)), s2, "f8"),  # pool width
        (2, x4, "f8", 2, dict(output_ratio=(1.0, 0.5)), s2, "f8"),
        (3, x5, "f8", 2, dict(output_size=(5, 2, 2)), s3, "f8"),  # pool time
        (3, x5, "f8", 2, dict(output_size=(2, 6, 2)), s3, "f8"),
        (3, x5, "f8", 2, dict(output_size=(2, 2, 7)), s3, "f8"),
        (3, x5, "f8", 2, dict(output_size=(4, 2, 2)), s3, "f8"),  # 3-D: output + k - 1 < n
        (3, x5, "f8", (1, 2, 3), dict(output_size=(3, 5, 5)), s3, "f8"),
        (3, (1, 1, 1, 1, 1), "f8", 1, dict(output_size=1), (1, 1, 3), "f8"),
        (2, x4, "f8", 2, dict(output_size=2), (2, 3), "f8"),  # samples 2-D
        (2, x4, "f8", 2, dict(output_size=2), (1, 3, 2), "f8"),  # too few rows
        (2, x4, "f8", 2, dict(output_size=2), (2, 2, 2), "f8"),  # wrong channels
        (2, x4, "f8", 2, dict(output_size=2), (2, 3, 3), "f8"),
        (3, x5, "f8", 2, dict(output_size=2), (2, 3, 2), "f8"),
        (2, x4, "f8", 2, dict(output_size=2), s2, "f4"),  # samples dtype
        (2, x4, "f8", 2, dict(output_size=2), (1, 3), "f4"),  # dtype before shape
        (3, x5, "f4", 2, dict(output_size=2), s3, "f8"),
        (2, x4, "i8", 2, dict(output_size=2), s2, "i8"),  # integer input
        (3, x5, "i8", 2, dict(output_size=2), s3, "i8"),
        (2, x4, "i8", 2, dict(output_size=2), None, None),  # integer input, drawn samples
        (2, x4, "f8", 2, dict(output_size=2), "list", None),  # samples not a tensor
    ]


@pytest.mark.parametrize("case", _err_cases(), ids=lambda c: f"{c[0]}d-{c[3]}-{c[4]}-{c[5]}")
def test_errors_as_torch(case):
    nd, shape, xdt, kernel, kw, sshape, sdt = case
    x = np.random.default_rng(17).standard_normal(shape).astype(xdt)
    if sshape is None:
        ts = ds = None
    elif sshape == "list":
        ts = ds = [[[0.5, 0.5]] * 3] * 2
    else:
        ts = torch.rand(*sshape, dtype=torch.float64)
        ts = ts.to({"f8": torch.float64, "f4": torch.float32, "i8": torch.int64}[sdt])
        ds = dg.Tensor(ts.numpy().copy())
    dgf, tf = _FN[nd]
    with pytest.raises(Exception) as te:
        tf(torch.tensor(x), kernel, _random_samples=ts, **kw)
    with pytest.raises(type(te.value)):
        dgf(dg.Tensor(x), kernel, _random_samples=ds, **kw)


@pytest.mark.parametrize("nd", [2, 3])
def test_deliberate_differences(nd):
    """Where deltagrad refuses what torch runs: kernel_size < 1 (torch returns -inf and
    indices outside the window), output_ratio of the wrong length (torch's 3-D function
    ignores extra entries) or not finite; it also takes a single number as the 2-D
    function's output_ratio (torch's len() of it is a TypeError)."""
    dgf = _FN[nd][0]
    x = dg.Tensor(np.random.default_rng(18).standard_normal((2, 3) + (8,) * nd))
    for k in (0, -1, (2,) * (nd - 1) + (0,)):
        with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
            dgf(x, k, output_size=2)
    with pytest.raises(ValueError, match="output_ratio"):
        dgf(x, 2, output_ratio=(0.5,) * (nd + 1))
    with pytest.raises(IndexError, match="output_ratio"):
        dgf(x, 2, output_ratio=(0.5,) * (nd - 1))
    with pytest.raises(ValueError, match="finite"):
        dgf(x, 2, output_ratio=float("nan"))
    with pytest.raises(TypeError, match="output_ratio"):
        dgf(x, 2, output_ratio="ab")
    assert dgf(x, 2, output_ratio=0.5).shape == (2, 3) + (4,) * nd
    # samples that require grad: a constant (torch refuses them)
    s = dg.Tensor(np.random.default_rng(18).random((2, 3, nd)), requires_grad=True)
    y = dgf(x, 2, 3, _random_samples=s)
    assert not y.requires_grad and s.grad is None
    # output_size wins where both are given, as torch's function
    assert dgf(x, 2, output_size=3, output_ratio=0.5).shape == (2, 3) + (3,) * nd
