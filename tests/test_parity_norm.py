"""nn.BatchNorm1d / BatchNorm2d / LayerNorm and F.batch_norm / F.layer_norm (the fused CPU
kernels) against torch in float64, rtol = atol = 1e-10: outputs, input and parameter gradients,
running statistics over several steps (momentum None: the cumulative average), eval mode,
affine False, track_running_stats False, multi-dimensional normalized_shape; float32 to 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = {"rtol": 1e-10, "atol": 1e-10}


def close(a, b, tol=TOL):
    a = a.data if isinstance(a, dg.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert_close(np.asarray(a), np.asarray(b), equal_nan=True, **tol)


def pair(a, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return dg.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True)


def _set_affine(rng, mod, tmod, c):
    w, b = rng.uniform(0.5, 2, c), rng.standard_normal(c)
    mod.weight.data[...] = w
    mod.bias.data[...] = b
    with torch.no_grad():
        tmod.weight.copy_(torch.from_numpy(w))
        tmod.bias.copy_(torch.from_numpy(b))


def _steps(rng, mod, tmod, shape, affine, tracked, steps=4):
    for step in range(steps):
        x, tx = pair(rng.standard_normal(shape) * (step + 1) + 3 * step - 2)
        g = rng.standard_normal(shape)
        y, ty = mod(x), tmod(tx)
        close(y, ty)
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        close(x.grad, tx.grad)
        if affine:
            close(mod.weight.grad, tmod.weight.grad)
            close(mod.bias.grad, tmod.bias.grad)
        if tracked:
            close(mod.running_mean, tmod.running_mean)
            close(mod.running_var, tmod.running_var)
            assert mod.num_batches_tracked.item() == tmod.num_batches_tracked.item()


@pytest.mark.parametrize(
    "cls,shape",
    [
        ("BatchNorm2d", (4, 3, 5, 7)),
        ("BatchNorm2d", (1, 3, 3, 3)),
        ("BatchNorm2d", (6, 3, 1, 1)),
        ("BatchNorm1d", (9, 3)),
        ("BatchNorm1d", (5, 3, 11)),
    ],
)
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_train_then_eval(cls, shape, momentum, affine):
    rng = np.random.default_rng(sum(shape))
    mod = getattr(nn, cls)(3, momentum=momentum, affine=affine, dtype=np.float64)
    tmod = getattr(torch.nn, cls)(3, momentum=momentum, affine=affine).double()
    if affine:
        _set_affine(rng, mod, tmod, 3)
    _steps(rng, mod, tmod, shape, affine, True)
    mod.eval()
    tmod.eval()
    _steps(rng, mod, tmod, shape, affine, True, steps=2)
    assert list(mod.state_dict()) == list(tmod.state_dict())
    for k, v in mod.state_dict().items():
        close(v, tmod.state_dict()[k])


@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (3, 4, 5, 3)), ("BatchNorm1d", (7, 4))])
def test_batchnorm_without_running_stats(cls, shape):
    rng = np.random.default_rng(7)
    mod = getattr(nn, cls)(4, track_running_stats=False, dtype=np.float64)
    tmod = getattr(torch.nn, cls)(4, track_running_stats=False).double()
    _set_affine(rng, mod, tmod, 4)
    _steps(rng, mod, tmod, shape, True, False, steps=2)
    mod.eval()
    tmod.eval()  # still the batch's statistics
    _steps(rng, mod, tmod, shape, True, False, steps=1)
    assert list(mod.state_dict()) == list(tmod.state_dict()) == ["weight", "bias"]


def test_batchnorm2d_single_value_per_channel_raises_as_torch():
    x = np.ones((1, 3, 1, 1))
    with pytest.raises(ValueError, match="Expected more than 1 value"):
        torch.nn.BatchNorm2d(3).double()(torch.from_numpy(x))
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        nn.BatchNorm2d(3, dtype=np.float64)(dg.tensor(x))
    # eval mode: fine in both
    y = nn.BatchNorm2d(3, dtype=np.float64).eval()(dg.tensor(x))
    close(y, torch.nn.BatchNorm2d(3).double().eval()(torch.from_numpy(x)))


def test_functional_batch_norm_momentum_and_eval():
    rng = np.random.default_rng(11)
    x, tx = pair(rng.standard_normal((6, 5, 4, 3)) + 2)
    rm, rv = rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    w, tw = pair(rng.uniform(0.5, 2, 5))
    b, tb = pair(rng.standard_normal(5))
    drm, drv = dg.tensor(rm.copy()), dg.tensor(rv.copy())
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    for training in (True, False):
        y = F.batch_norm(x, drm, drv, w, b, training=training, momentum=0.3, eps=1e-3)
        ty = torch.nn.functional.batch_norm(
            tx, trm, trv, tw, tb, training=training, momentum=0.3, eps=1e-3
        )
        close(y, ty)
        close(drm, trm)
        close(drv, trv)
        g = rng.standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        for a, t in ((x, tx), (w, tw), (b, tb)):
            close(a.grad, t.grad)


@pytest.mark.parametrize(
    "shape,norm",
    [
        ((5, 7), (7,)),
        ((3, 4, 5), (4, 5)),
        ((2, 3, 4, 5), (3, 4, 5)),
        ((4, 1), (1,)),
        ((0, 3), (3,)),
    ],
)
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
def test_layernorm(shape, norm, affine, bias):
    rng = np.random.default_rng(len(shape) + sum(norm))
    ln = nn.LayerNorm(norm, elementwise_affine=affine, bias=bias, dtype=np.float64)
    tln = torch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias).double()
    if affine:
        with torch.no_grad():
            for p, tp in zip(ln.parameters(), tln.parameters()):
                p.data[...] = rng.standard_normal(p.shape)
                tp.copy_(torch.from_numpy(p.data))
    x, tx = pair(rng.standard_normal(shape) * 3 + 5)
    g = rng.standard_normal(shape)
    y, ty = ln(x), tln(tx)
    close(y, ty)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    for p, tp in zip(ln.parameters(), tln.parameters()):
        close(p.grad, tp.grad)


def test_float32_to_1e4():
    rng = np.random.default_rng(5)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    bn, tbn = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    ln, tln = nn.LayerNorm((3, 5)), torch.nn.LayerNorm((3, 5))
    for mod, tmod, shape in ((bn, tbn, (8, 4, 6, 5)), (ln, tln, (6, 4, 3, 5))):
        x, tx = pair(rng.standard_normal(shape) * 2 + 3, np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        y, ty = mod(x), tmod(tx)
        close(y, ty, tol)
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        close(x.grad, tx.grad, tol)
        for p, tp in zip(mod.parameters(), tmod.parameters()):
            close(p.grad, tp.grad, {"rtol": 1e-4, "atol": 1e-3})
    close(bn.running_mean, tbn.running_mean, tol)
    close(bn.running_var, tbn.running_var, tol)
