"""F.conv2d / nn.Conv2d against torch in float64 (rtol = atol = 1e-10): forward, the input
gradient and the weight and bias gradients over strides 1 and 2, paddings 0 / 1 / 2, kernels
1, 3, 5 and 3x5, dilation 1 and 2, groups 1, 2 and depthwise, on odd spatial sizes; and weights
copied from a torch module give the same module here (state_dict keys and shapes)."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = dict(rtol=1e-10, atol=1e-10)
KERNELS = [(1, 1), (3, 3), (5, 5), (3, 5)]
GROUPS = [1, 2, 4]  # 4 = the input channels: depthwise
# (dilation, groups) pairs cycled over stride x padding x kernel: each pair meets every kernel;
# DG_CONV_FULL_GRID=1 runs the full product (144 cases) instead.
_DG = [(1, 1), (2, 1), (1, 2), (1, 4), (2, 4), (2, 2)]
_SPK = list(itertools.product([1, 2], [0, 1, 2], KERNELS))
if os.environ.get("DG_CONV_FULL_GRID") == "1":
    GRID = [(s, p, k, d, g) for (s, p, k) in _SPK for d in (1, 2) for g in GROUPS]
else:
    GRID = [(s, p, k, *_DG[(i + i // 6) % 6]) for i, (s, p, k) in enumerate(_SPK)]


def _ids(c):
    s, p, k, d, g = c
    return f"s{s}p{p}k{k[0]}x{k[1]}d{d}g{g}"


@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_conv2d_matches_torch(case):
    s, p, (kh, kw), d, g = case
    rng = np.random.default_rng(hash(case) % 2**32)
    n, c, h, w = 2, 4, 11, 9
    o = 8 if g == 4 else 6  # depthwise with 2 outputs per channel
    x = rng.uniform(-2, 2, size=(n, c, h, w))
    wt = rng.uniform(-1, 1, size=(o, c // g, kh, kw))
    b = rng.uniform(-1, 1, size=o)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, s, p, d, g)
    dy = rng.uniform(-1, 1, size=tuple(ty.shape))
    ty.backward(torch.tensor(dy))

    dx, dw, db = (dg.tensor(a, requires_grad=True) for a in (x, wt, b))
    y = F.conv2d(dx, dw, db, s, p, d, g)
    y.backward(dg.tensor(dy))
    assert_close(y.data, ty.detach().numpy(), **TOL, name="y")
    assert_close(dx.grad, tx.grad.numpy(), **TOL, name="input grad")
    assert_close(dw.grad, tw.grad.numpy(), **TOL, name="weight grad")
    assert_close(db.grad, tb.grad.numpy(), **TOL, name="bias grad")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's copy
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2), "same", "valid"])
def test_conv2d_module_matches_torch(mode, padding):
    torch.manual_seed(0)
    tm = torch.nn.Conv2d(4, 6, (3, 4), padding=padding, groups=2, padding_mode=mode).double()
    m = nn.Conv2d(4, 6, (3, 4), padding=padding, groups=2, padding_mode=mode, dtype=np.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert repr(m) == repr(tm)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 7, 8))
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    dy = rng.normal(size=tuple(ty.shape))
    ty.backward(torch.tensor(dy))
    dx = dg.tensor(x, requires_grad=True)
    y = m(dx)
    y.backward(dg.tensor(dy))
    assert_close(y.data, ty.detach().numpy(), **TOL, name="y")
    assert_close(dx.grad, tx.grad.numpy(), **TOL, name="input grad")
    assert_close(m.weight.grad, tm.weight.grad.numpy(), **TOL, name="weight grad")
    assert_close(m.bias.grad, tm.bias.grad.numpy(), **TOL, name="bias grad")


def test_conv2d_module_init_matches_torch_distribution():
    """Same bounds as torch's init (kaiming_uniform a=sqrt(5), bias 1/sqrt(fan_in))."""
    tm = torch.nn.Conv2d(6, 9, (3, 5), groups=3)
    m = nn.Conv2d(6, 9, (3, 5), groups=3)
    tb = 1 / np.sqrt(2 * 3 * 5)
    assert tm.weight.abs().max().item() <= tb and np.abs(m.weight.data).max() <= tb
    assert tm.bias.abs().max().item() <= tb and np.abs(m.bias.data).max() <= tb
