"""torch 2.13 parity (round 35): the regression losses (mse_loss, l1_loss, smooth_l1_loss,
huber_loss) broadcast a target of another shape with torch's UserWarning, differentiably in
input and target; the BCE losses refuse one with torch's messages; Tensor.view(dtype) across
the dtypes, against torch's bits, shapes and errors."""

from __future__ import annotations

import re
import warnings
import zlib

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"rtol": 1e-12, "atol": 1e-12, "equal_nan": True}
REDUCTIONS = ["mean", "sum", "none"]

# (loss name, extra keyword arguments): each runs on deltagrad's F and torch's F alike
LOSSES = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("smooth_l1_loss", {}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("smooth_l1_loss", {"beta": 0.4}),
    ("huber_loss", {}),
    ("huber_loss", {"delta": 0.7}),
]
WEIGHTED = ["mse_loss", "l1_loss", "huber_loss"]

# (input shape, target shape): shapes that differ and broadcast
SHAPES = [
    ((3, 4), (4,)),
    ((3, 4), (3, 1)),
    ((3, 4), ()),
    ((3, 4), (2, 3, 4)),  # the target broadcasts the input up: the result has its shape
    ((4,), (3, 4)),
    ((3, 1, 5), (1, 2, 1)),  # both grow
    ((1,), (5,)),
    ((0, 4), (4,)),  # size 0: "mean" is nan
    ((2, 0), (1,)),
    ((), (2, 3)),
]


def _warning(ts: tuple, xs: tuple) -> str:
    """torch's warning text, with deltagrad's sizes (tuples: torch.Size's role)."""
    return (
        f"Using a target size ({ts}) that is different to the input size ({xs}). This will "
        "likely lead to incorrect results due to broadcasting. Please ensure they have the "
        "same size."
    )


def _data(shape: tuple, rng: np.random.Generator, scale: float = 1.5) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def _run(name: str, kw: dict, x: np.ndarray, t: np.ndarray, red: str, w=None, warn=True):
    """The loss on deltagrad and on torch with gradients for input, target (and weight);
    asserts deltagrad's warning (one, torch's text) when the shapes differ."""
    xd, td = dg.tensor(x, requires_grad=True), dg.tensor(t, requires_grad=True)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    args_d, args_t = dict(kw), dict(kw)
    if w is not None:
        wd, wt = dg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        args_d["weight"], args_t["weight"] = wd, wt
    if warn:
        with pytest.warns(UserWarning) as rec:
            got = getattr(F, name)(xd, td, reduction=red, **args_d)
        assert [str(r.message) for r in rec] == [_warning(t.shape, x.shape)]
        assert rec[0].filename == __file__  # stacklevel: the loss function's caller
    else:
        got = getattr(F, name)(xd, td, reduction=red, **args_d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        want = getattr(TF, name)(xt, tt, reduction=red, **args_t)
    assert got.shape == tuple(want.shape) and got.dtype == np.float64
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **TOL)
    g = np.random.default_rng(7).uniform(0.5, 1.5, want.shape)  # an upstream gradient
    got.backward(dg.tensor(g))
    want.backward(torch.tensor(g))
    assert xd.grad.shape == x.shape and td.grad.shape == t.shape
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(td.grad, tt.grad.numpy(), **TOL)
    if w is not None:
        np.testing.assert_allclose(wd.grad, wt.grad.numpy(), **TOL)


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("loss", LOSSES, ids=str)
def test_regression_loss_broadcasts_as_torch(loss, shapes, red):
    name, kw = loss
    rng = np.random.default_rng(zlib.crc32(repr((loss, shapes, red)).encode()))
    _run(name, kw, _data(shapes[0], rng), _data(shapes[1], rng), red)


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 4), (2, 3, 4)), ((4,), (3, 4))], ids=str)
@pytest.mark.parametrize("name", WEIGHTED)
def test_weighted_regression_loss_broadcasts_as_torch(name, shapes, red):
    """weight has the input's shape (before the broadcast, as torch): "mean" divides by
    weight.sum() (mse, l1) or by the broadcast element count (huber), as torch."""
    rng = np.random.default_rng(3)
    x, t = _data(shapes[0], rng), _data(shapes[1], rng)
    _run(name, {}, x, t, red, w=rng.uniform(0.2, 2.0, shapes[0]))


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_extreme_values_broadcast(name, red):
    x = np.array([[1e150, -1e150, np.inf], [np.nan, 2.5, -np.inf]])
    t = np.array([3.0, -np.inf, 1e-300])
    _run(name, {}, x, t, red)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_equal_shapes_do_not_warn_and_keep_the_kernel_path(name):
    rng = np.random.default_rng(5)
    x, t = _data((3, 5), rng), _data((3, 5), rng)
    for red in REDUCTIONS:  # warnings are errors: any warning fails here
        _run(name, {}, x, t, red, warn=False)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_float32_broadcast(name):
    rng = np.random.default_rng(11)
    x, t = _data((5, 3), rng).astype(np.float32), _data((3,), rng).astype(np.float32)
    xd, td = dg.tensor(x, requires_grad=True), dg.tensor(t, requires_grad=True)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    with pytest.warns(UserWarning, match="Using a target size"):
        got = getattr(F, name)(xd, td)
    with pytest.warns(UserWarning, match="Using a target size"):
        want = getattr(TF, name)(xt, tt)
    got.backward()
    want.backward()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(td.grad, tt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_gradcheck_through_the_broadcast():
    rng = np.random.default_rng(2)
    x = dg.tensor(_data((3, 4), rng), requires_grad=True)
    t = dg.tensor(_data((3, 1), rng), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert dg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="sum"), (x, t))
        assert dg.gradcheck(lambda a, b: F.smooth_l1_loss(a, b, beta=10.0), (x, t))


def test_modules_broadcast_with_the_warning():
    rng = np.random.default_rng(4)
    x, t = _data((2, 3), rng), _data((3,), rng)
    for mod, tmod in (
        (nn.MSELoss(), torch.nn.MSELoss()),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum")),
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5)),
        (nn.HuberLoss(reduction="none"), torch.nn.HuberLoss(reduction="none")),
    ):
        with pytest.warns(UserWarning, match=re.escape(_warning((3,), (2, 3)))):
            got = mod(dg.tensor(x), dg.tensor(t))
        with pytest.warns(UserWarning):
            want = tmod(torch.tensor(x), torch.tensor(t))
        np.testing.assert_allclose(got.numpy(), want.numpy(), **TOL)


def test_legacy_reduction_warns_after_the_size_warning():
    x, t = dg.tensor(np.ones((2, 3))), dg.tensor(np.arange(3.0))
    with pytest.warns(UserWarning) as rec:
        got = F.mse_loss(x, t, size_average=False)
    assert str(rec[0].message) == _warning((3,), (2, 3))
    assert got.item() == pytest.approx(2 * (1 + 0 + 1))


# ---- shapes that do not broadcast, and bad weights --------------------------------------------


@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (5,)), ((2, 3), (4, 5)), ((5, 3), (2, 1)), ((0,), (2,)), ((3, 4), (0, 4))],
    ids=str,
)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_shapes_that_do_not_broadcast_raise_torch_error(name, shapes):
    xs, ts = shapes
    rng = np.random.default_rng(0)
    x, t = _data(xs, rng), _data(ts, rng)
    with pytest.warns(UserWarning), pytest.raises(RuntimeError) as want:
        getattr(TF, name)(torch.tensor(x), torch.tensor(t))
    for exc in (RuntimeError, ValueError):  # deltagrad's error is both
        with pytest.warns(UserWarning, match="Using a target size"):
            with pytest.raises(exc, match=re.escape(str(want.value))) as got:
                getattr(F, name)(dg.tensor(x), dg.tensor(t))
        assert str(got.value).startswith(f"{name}: target has shape {ts}")


@pytest.mark.parametrize("name", WEIGHTED)
def test_weight_must_have_the_input_shape(name):
    x, t = dg.tensor(np.ones((3, 4))), dg.tensor(np.arange(4.0))
    for w in (np.ones(4), np.ones((2, 3, 4)), np.ones((3, 1))):
        with pytest.warns(UserWarning), pytest.raises(ValueError):
            getattr(TF, name)(torch.ones(3, 4), torch.arange(4.0), weight=torch.tensor(w))
        with pytest.warns(UserWarning, match="Using a target size"):
            with pytest.raises(ValueError, match="Weights and input must have the same size"):
                getattr(F, name)(x, t, weight=dg.tensor(w))
    # the input broadcast up by the target: weight still has the input's shape
    with pytest.warns(UserWarning), pytest.raises(ValueError):
        getattr(TF, name)(torch.ones(4), torch.ones(3, 4), weight=torch.ones(3, 4))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="Weights and input"):
        getattr(F, name)(dg.tensor(np.ones(4)), dg.tensor(np.ones((3, 4))), weight=np.ones((3, 4)))


@pytest.mark.parametrize("ts", [(4,), (3, 1), (), (2, 3, 4), (5,)], ids=str)
def test_bce_losses_refuse_another_target_shape_as_torch(ts):
    rng = np.random.default_rng(1)
    p, t = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0.1, 0.9, ts)
    for name, msg in (
        (
            "binary_cross_entropy",
            "Using a target size ({t}) that is different to the input size ({x}) is "
            "deprecated. Please ensure they have the same size.",
        ),
        (
            "binary_cross_entropy_with_logits",
            "Target size ({t}) must be the same as input size ({x})",
        ),
    ):
        with pytest.raises(ValueError, match=r"Target size|target size"):
            getattr(TF, name)(torch.tensor(p), torch.tensor(t))
        want = f"{name}: " + msg.format(t=ts, x=(3, 4))
        with pytest.raises(ValueError, match=re.escape(want) + "$"):
            getattr(F, name)(dg.tensor(p), dg.tensor(t))


def test_other_losses_broadcast_without_a_warning_as_torch():
    """soft_margin_loss, poisson_nll_loss, kl_div broadcast silently (as torch)."""
    rng = np.random.default_rng(9)
    x, t = _data((3, 4), rng), rng.uniform(0.1, 2.0, (4,))
    for name, kw in (("poisson_nll_loss", {}), ("kl_div", {"reduction": "sum"})):
        xd, td = dg.tensor(x, requires_grad=True), dg.tensor(t, requires_grad=True)
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        got, want = getattr(F, name)(xd, td, **kw), getattr(TF, name)(xt, tt, **kw)
        got.backward()
        want.backward()
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(td.grad, tt.grad.numpy(), rtol=1e-12)
    got = F.soft_margin_loss(dg.tensor(x), dg.tensor(np.sign(t - 1)))
    want = TF.soft_margin_loss(torch.tensor(x), torch.tensor(np.sign(t - 1)))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


# ---- Tensor.view(dtype) ----------------------------------------------------------------------

VIEW_DTYPES = ["float32", "float64", "int32", "int64", "int16", "uint8", "bool"]


def _source(dt: str, shape: tuple) -> np.ndarray:
    """Values of dtype dt whose bytes are all 0 or 1 where a bool view reads them."""
    rng = np.random.default_rng(len(dt) * 7 + len(shape))
    if dt == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    raw = rng.integers(0, 2, size=shape + (np.dtype(dt).itemsize,), dtype=np.uint8)
    return raw.view(dt).reshape(shape)


@pytest.mark.parametrize("to", VIEW_DTYPES)
@pytest.mark.parametrize("src", VIEW_DTYPES)
@pytest.mark.parametrize("shape", [(3, 8), (16,), (2, 0), (3,), ()], ids=str)
def test_view_dtype_bits_and_shapes_as_torch(src, to, shape):
    a = _source(src, shape)
    xd = dg.tensor(a)
    # torch's own contiguous strides (from_numpy keeps NumPy's 0 strides of an empty array)
    xt = torch.empty(a.shape, dtype=getattr(torch, src)).copy_(torch.from_numpy(a))
    try:
        want = xt.view(getattr(torch, to))
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as got:
            xd.view(getattr(dg, to) if hasattr(dg, to) else np.dtype(to))
        assert str(got.value) == "view: " + str(e)
        return
    got = xd.view(getattr(dg, to) if hasattr(dg, to) else np.dtype(to))
    assert got.dtype == np.dtype(to) and got.shape == tuple(want.shape)
    assert np.asarray(got.data).tobytes() == want.numpy().tobytes()
    assert not got.requires_grad
    if a.size:
        assert np.shares_memory(got.data, xd.data)


def test_view_dtype_of_a_tensor_requiring_grad_as_torch():
    a = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    xd, xt = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for to in ("int32", "float32", "float64", "int16", "uint8"):
        want = xt.view(getattr(torch, to))
        got = xd.view(getattr(dg, to))
        assert got.requires_grad is want.requires_grad is False
        assert got.grad_fn is None and want.grad_fn is None
        assert got.shape == tuple(want.shape)
    v = xd.view(dg.int32)
    v[0, 0] = 0  # shares the memory: the write shows in the base
    assert xd.numpy()[0, 0] == 0


def test_view_dtype_errors_as_torch():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    xd, xt = dg.tensor(x), torch.from_numpy(x.copy())
    cases = [
        (lambda t: t.T, "float64"),  # stride(-1) != 1
        (lambda t: t[:, 1:], "float64"),  # size(-1) not divisible
        (lambda t: t[:, 1:3], "float64"),  # storage offset not divisible
        (lambda t: t[:, ::2], "int16"),  # stride(-1) != 1 when shrinking
        (lambda t: t[0, 0], "int16"),  # 0-d
    ]
    for how, to in cases:
        with pytest.raises(RuntimeError) as want:
            how(xt).view(getattr(torch, to))
        with pytest.raises(RuntimeError) as got:
            how(xd).view(getattr(dg, to))
        assert str(got.value) == "view: " + str(want.value)
    # equal element sizes need none of it
    assert xd.T.view(dg.int32).shape == tuple(xt.T.view(torch.int32).shape)
