"""Exception types against torch 2.13 (round 36): bad shapes and geometries raise an
exception that is an instance of torch's type (RuntimeError for most, IndexError / TypeError
for a few) and still of the type deltagrad raised before (ValueError, or TypeError), with
deltagrad's own message. tensor.py's _ShapeError (RuntimeError, ValueError) does it, the one
such class (_functional_spatial's _BadArgument is it), beside _ShapeIndexError and
_ShapeTypeError for torch's IndexError / TypeError."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as DF

torch = pytest.importorskip("torch")
TF = torch.nn.functional
dg_tensor = importlib.import_module("deltagrad.tensor")

_RNG = np.random.default_rng(36)
_ARRAYS: dict[tuple, np.ndarray] = {}


def _lib(name: str) -> SimpleNamespace:
    """The names a case uses, for deltagrad or torch: m (the top module), F, nn, r (a random
    float64 tensor of a shape, the same values for both libraries), i (int64 class indices)."""

    def arr(shape: tuple, kind: str) -> np.ndarray:
        key = (shape, kind)
        if key not in _ARRAYS:
            if kind == "f":
                _ARRAYS[key] = _RNG.standard_normal(shape) + 0.5
            else:
                _ARRAYS[key] = _RNG.integers(0, 3, shape)
        return _ARRAYS[key]

    if name == "dg":
        mk = dg.tensor
        return SimpleNamespace(
            m=dg, F=DF, nn=dnn, r=lambda *s: mk(arr(s, "f")), i=lambda *s: mk(arr(s, "i"))
        )
    mk = torch.tensor
    return SimpleNamespace(
        m=torch,
        F=TF,
        nn=torch.nn,
        r=lambda *s: mk(arr(s, "f")),
        i=lambda *s: mk(arr(s, "i")),
    )


DG, TO = _lib("dg"), _lib("torch")

# name -> (case(lib), the type deltagrad raised before this round, a piece of its message)
CASES = {
    # linear
    "linear in_features": (lambda L: L.F.linear(L.r(2, 4), L.r(4, 3)), ValueError, "linear: x"),
    "linear bias shape": (
        lambda L: L.F.linear(L.r(2, 3), L.r(4, 3), L.r(3)),
        ValueError,
        "linear: b",
    ),
    "linear bias 5": (lambda L: L.F.linear(L.r(2, 3), L.r(4, 3), L.r(5)), ValueError, "linear"),
    "linear 0-d x": (lambda L: L.F.linear(L.r(), L.r(4, 3)), ValueError, "linear: x"),
    "linear 3-d w": (lambda L: L.F.linear(L.r(2, 3), L.r(1, 4, 3)), ValueError, "linear: w"),
    "Linear in_features": (
        lambda L: L.nn.Linear(3, 4).double()(L.r(2, 4)),
        ValueError,
        "linear: x",
    ),
    "Linear negative size": (lambda L: L.nn.Linear(-1, 3), ValueError, "in_features"),
    "Linear float size": (lambda L: L.nn.Linear(2.0, 3), ValueError, "in_features"),
    # matrix products
    "matmul inner": (lambda L: L.m.matmul(L.r(2, 3), L.r(2, 4)), ValueError, "matmul"),
    "@ inner": (lambda L: L.r(2, 3) @ L.r(2, 4), ValueError, "matmul"),
    "@ inner nd": (lambda L: L.r(2, 2, 3) @ L.r(4), ValueError, "matmul"),
    "@ 0-d": (lambda L: L.r(2, 3) @ L.r(), ValueError, "matmul"),
    "matmul batch": (lambda L: L.m.matmul(L.r(2, 2, 3), L.r(3, 3, 4)), ValueError, "batch"),
    "mm inner": (lambda L: L.m.mm(L.r(2, 3), L.r(2, 4)), ValueError, "matmul"),
    "mm 3-d": (lambda L: L.m.mm(L.r(2, 2, 3), L.r(3, 4)), ValueError, "mm: self"),
    "Tensor.mm inner": (lambda L: L.r(2, 3).mm(L.r(2, 4)), ValueError, "matmul"),
    "Tensor.bmm inner": (lambda L: L.r(2, 2, 3).bmm(L.r(2, 4, 3)), ValueError, "matmul"),
    "Tensor.bmm batch": (lambda L: L.r(2, 2, 3).bmm(L.r(3, 3, 4)), ValueError, "bmm"),
    "Tensor.bmm 2-d": (lambda L: L.r(2, 3).bmm(L.r(3, 4)), ValueError, "bmm: self"),
    "dot 2-d": (lambda L: L.m.dot(L.r(2, 3), L.r(3)), ValueError, "dot: self"),
    "outer 2-d": (lambda L: L.m.outer(L.r(2, 3), L.r(3)), ValueError, "outer: self"),
    "addmm input": (lambda L: L.m.addmm(L.r(3, 3), L.r(2, 3), L.r(3, 4)), ValueError, "addmm"),
    # reshape / view / expand
    "reshape size": (lambda L: L.r(2, 3).reshape(4, 2), ValueError, "reshape"),
    "reshape two -1": (lambda L: L.r(2, 3).reshape(-1, -1), ValueError, "reshape"),
    "reshape -1 indivisible": (lambda L: L.r(2, 3).reshape(-1, 4), ValueError, "reshape"),
    "reshape negative": (lambda L: L.r(2, 3).reshape(-2, 3), ValueError, "reshape"),
    "reshape_as": (lambda L: L.r(2, 3).reshape_as(L.r(2, 4)), ValueError, "reshape"),
    "m.reshape": (lambda L: L.m.reshape(L.r(2, 3), (4, 2)), ValueError, "reshape"),
    "view size": (lambda L: L.r(2, 3).view(4, 2), ValueError, "view"),
    "view -1 indivisible": (lambda L: L.r(2, 3).view(-1, 4), ValueError, "view"),
    "view_as": (lambda L: L.r(2, 3).view_as(L.r(2, 4)), ValueError, "view"),
    "unflatten negative": (lambda L: L.r(2, 3).unflatten(1, (-2, 3)), ValueError, "unflatten"),
    "repeat negative": (lambda L: L.r(2, 3).repeat(-1, 1), ValueError, "repeat"),
    "new_zeros negative": (lambda L: L.r(2, 3).new_zeros((-1,)), ValueError, "new_zeros"),
    "expand mismatch": (lambda L: L.r(2, 3).expand(2, 4), ValueError, "expand"),
    "expand fewer dims": (lambda L: L.r(2, 3).expand(3), ValueError, "expand"),
    "expand negative": (lambda L: L.r(2, 3).expand(-2, 3), ValueError, "expand"),
    "expand -1 leading": (lambda L: L.r(2, 3).expand(-1, 2, 3), ValueError, "expand"),
    "expand_as": (lambda L: L.r(2, 3).expand_as(L.r(2, 4)), ValueError, "expand"),
    "broadcast_to": (lambda L: L.r(2, 3).broadcast_to((2, 4)), ValueError, "expand"),
    # cat / stack
    "cat sizes": (lambda L: L.m.cat([L.r(2, 3), L.r(3, 4)]), ValueError, "cat: tensors"),
    "cat sizes dim 1": (lambda L: L.m.cat([L.r(2, 3), L.r(3, 4)], 1), ValueError, "cat"),
    "cat ndim": (lambda L: L.m.cat([L.r(2, 3), L.r(3)]), ValueError, "cat: tensors"),
    "cat 0-d": (lambda L: L.m.cat([L.r(), L.r()]), ValueError, "cat: tensors"),
    "cat empty list": (lambda L: L.m.cat([]), ValueError, "cat: tensors"),
    "stack sizes": (lambda L: L.m.stack([L.r(2, 3), L.r(2, 4)]), ValueError, "stack"),
    "stack empty list": (lambda L: L.m.stack([]), ValueError, "stack"),
    # broadcasting binary ops
    "add": (lambda L: L.r(2, 3) + L.r(2, 4), ValueError, "broadcast"),
    "sub": (lambda L: L.r(2, 3) - L.r(2, 4), ValueError, "broadcast"),
    "mul": (lambda L: L.r(2, 3) * L.r(2, 4), ValueError, "broadcast"),
    "div": (lambda L: L.r(2, 3) / L.r(2, 4), ValueError, "broadcast"),
    "pow": (lambda L: L.r(2, 3) ** L.r(2, 4), ValueError, "broadcast"),
    "floordiv": (lambda L: L.r(2, 3) // L.r(2, 4), ValueError, "broadcast"),
    "mod": (lambda L: L.r(2, 3) % L.r(2, 4), ValueError, "broadcast"),
    "add 3-d": (lambda L: L.r(3, 1, 5) + L.r(2, 4), ValueError, "broadcast"),
    "Tensor.add alpha": (lambda L: L.r(2, 3).add(L.r(2, 4), alpha=2), ValueError, "broadcast"),
    "Tensor.sub": (lambda L: L.r(2, 3).sub(L.r(2, 4)), ValueError, "broadcast"),
    "maximum": (lambda L: L.m.maximum(L.r(2, 3), L.r(2, 4)), ValueError, "broadcast"),
    "minimum": (lambda L: L.m.minimum(L.r(2, 3), L.r(2, 4)), ValueError, "broadcast"),
    "atan2": (lambda L: L.m.atan2(L.r(2, 3), L.r(2, 4)), ValueError, "atan2"),
    "hypot": (lambda L: L.m.hypot(L.r(2, 3), L.r(2, 4)), ValueError, "hypot"),
    "lerp": (lambda L: L.r(2, 3).lerp(L.r(2, 4), 0.5), ValueError, "broadcast"),
    "where": (
        lambda L: L.m.where(L.r(2, 3) > 0, L.r(2, 3), L.r(2, 4)),
        ValueError,
        "where",
    ),
    "eq": (lambda L: L.r(2, 3) == L.r(2, 4), ValueError, "equal: other"),
    "lt": (lambda L: L.r(2, 3) < L.r(2, 4), ValueError, "less: other"),
    "and": (lambda L: (L.r(2, 3) > 0) & (L.r(2, 4) > 0), ValueError, "bitwise_and"),
    "iadd": (lambda L: L.r(2, 3).clone().__iadd__(L.r(2, 4)), ValueError, "broadcast"),
    "iadd grows": (lambda L: L.r(1, 3).clone().__iadd__(L.r(2, 3)), ValueError, "broadcast"),
    "mul_": (lambda L: L.r(2, 3).clone().mul_(L.r(2, 4)), ValueError, "broadcast"),
    "copy_": (lambda L: L.r(2, 3).clone().copy_(L.r(2, 4)), ValueError, "broadcast"),
    "take_along_dim": (
        lambda L: L.m.take_along_dim(L.r(2, 3), L.i(3, 3), 1),
        ValueError,
        "take_along_dim",
    ),
    # pooling geometry
    "max_pool2d padding over half": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 2, padding=2),
        ValueError,
        "max_pool2d: padding",
    ),
    "max_pool2d zero stride": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 2, stride=0),
        ValueError,
        "max_pool2d: stride",
    ),
    "max_pool2d zero kernel": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 0),
        ValueError,
        "max_pool2d: kernel_size",
    ),
    "max_pool2d negative padding": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 2, padding=-1),
        ValueError,
        "max_pool2d: padding",
    ),
    "max_pool2d zero dilation": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 2, dilation=0),
        ValueError,
        "max_pool2d: dilation",
    ),
    "max_pool2d kernel over padded input": (
        lambda L: L.F.max_pool2d(L.r(1, 1, 2, 2), 3, padding=1, dilation=3),
        ValueError,
        "max_pool2d: kernel_size",
    ),
    "max_pool2d empty plane": (
        lambda L: L.F.max_pool2d(L.r(1, 1, 0, 4), 1),
        ValueError,
        "max_pool2d",
    ),
    "max_pool2d return_indices padding": (
        lambda L: L.F.max_pool2d(L.r(2, 3, 8, 8), 2, padding=2, return_indices=True),
        ValueError,
        "max_pool2d: padding",
    ),
    "max_pool2d 2-d input": (
        lambda L: L.F.max_pool2d(L.r(2, 3), 2),
        ValueError,
        "max_pool2d: input",
    ),
    "max_pool2d 5-d input": (
        lambda L: L.F.max_pool2d(L.r(1, 1, 1, 4, 4), 2),
        ValueError,
        "max_pool2d: input",
    ),
    "avg_pool2d padding over half": (
        lambda L: L.F.avg_pool2d(L.r(2, 3, 8, 8), 2, padding=2),
        ValueError,
        "avg_pool2d: padding",
    ),
    "avg_pool2d zero stride": (
        lambda L: L.F.avg_pool2d(L.r(2, 3, 8, 8), 2, stride=0),
        ValueError,
        "avg_pool2d: stride",
    ),
    "avg_pool2d negative padding": (
        lambda L: L.F.avg_pool2d(L.r(2, 3, 8, 8), 2, padding=-1),
        ValueError,
        "avg_pool2d: padding",
    ),
    "avg_pool2d zero divisor": (
        lambda L: L.F.avg_pool2d(L.r(2, 3, 8, 8), 2, divisor_override=0),
        ValueError,
        "avg_pool2d: divisor_override",
    ),
    "avg_pool2d 2-d input (IndexError)": (
        lambda L: L.F.avg_pool2d(L.r(2, 3), 2),
        ValueError,
        "avg_pool2d: input",
    ),
    "avg_pool2d 1-d input (IndexError)": (
        lambda L: L.F.avg_pool2d(L.r(5), 2),
        ValueError,
        "avg_pool2d: input",
    ),
    "avg_pool2d 0-d input (IndexError)": (
        lambda L: L.F.avg_pool2d(L.r(), 2),
        ValueError,
        "avg_pool2d: input",
    ),
    "avg_pool2d 5-d input": (
        lambda L: L.F.avg_pool2d(L.r(1, 1, 1, 4, 4), 2),
        ValueError,
        "avg_pool2d: input",
    ),
    "adaptive_avg_pool2d 2-d input": (
        lambda L: L.F.adaptive_avg_pool2d(L.r(2, 3), 2),
        ValueError,
        "adaptive_avg_pool2d: input",
    ),
    "MaxPool2d padding over half": (
        lambda L: L.nn.MaxPool2d(2, padding=2)(L.r(2, 3, 8, 8)),
        ValueError,
        "MaxPool2d: padding",
    ),
    "MaxPool2d zero stride": (
        lambda L: L.nn.MaxPool2d(2, stride=0)(L.r(2, 3, 8, 8)),
        ValueError,
        "MaxPool2d: stride",
    ),
    "MaxPool2d 2-d input": (
        lambda L: L.nn.MaxPool2d(2)(L.r(2, 3)),
        ValueError,
        "MaxPool2d: input",
    ),
    "AvgPool2d padding over half": (
        lambda L: L.nn.AvgPool2d(2, padding=2)(L.r(2, 3, 8, 8)),
        ValueError,
        "AvgPool2d: padding",
    ),
    "AvgPool2d zero stride": (
        lambda L: L.nn.AvgPool2d(2, stride=0)(L.r(2, 3, 8, 8)),
        ValueError,
        "AvgPool2d: stride",
    ),
    "AvgPool2d 2-d input (IndexError)": (
        lambda L: L.nn.AvgPool2d(2)(L.r(2, 3)),
        ValueError,
        "AvgPool2d: input",
    ),
    # conv2d
    "conv2d channels": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 2, 3, 3)),
        ValueError,
        "conv2d: input",
    ),
    "conv2d unbatched channels": (
        lambda L: L.F.conv2d(L.r(3, 8, 8), L.r(4, 2, 3, 3)),
        ValueError,
        "conv2d: input",
    ),
    "conv2d kernel over input": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 9, 9)),
        ValueError,
        "conv2d",
    ),
    "conv2d kernel over small input": (
        lambda L: L.F.conv2d(L.r(1, 3, 2, 2), L.r(2, 3, 3, 3)),
        ValueError,
        "conv2d",
    ),
    "conv2d bias shape": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), L.r(3)),
        ValueError,
        "conv2d: bias",
    ),
    "conv2d 2-d input": (
        lambda L: L.F.conv2d(L.r(2, 3), L.r(4, 3, 3, 3)),
        ValueError,
        "conv2d: input",
    ),
    "conv2d 5-d input": (
        lambda L: L.F.conv2d(L.r(1, 2, 3, 8, 8), L.r(4, 3, 3, 3)),
        ValueError,
        "conv2d: input",
    ),
    "conv2d 3-d weight": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3)),
        ValueError,
        "conv2d: weight",
    ),
    "conv2d groups and channels": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), groups=2),
        ValueError,
        "conv2d: groups",
    ),
    "conv2d groups and out_channels": (
        lambda L: L.F.conv2d(L.r(2, 4, 8, 8), L.r(3, 2, 3, 3), groups=2),
        ValueError,
        "conv2d: groups",
    ),
    "conv2d zero groups": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), groups=0),
        ValueError,
        "conv2d: groups",
    ),
    "conv2d zero stride": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), stride=0),
        ValueError,
        "conv2d: stride",
    ),
    "conv2d negative padding": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), padding=-1),
        ValueError,
        "conv2d: padding",
    ),
    "conv2d zero dilation": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), dilation=0),
        ValueError,
        "conv2d: dilation",
    ),
    "conv2d same strided": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), stride=2, padding="same"),
        ValueError,
        "conv2d: padding",
    ),
    "conv2d bad padding string": (
        lambda L: L.F.conv2d(L.r(2, 3, 8, 8), L.r(4, 3, 3, 3), padding="foo"),
        ValueError,
        "conv2d: padding",
    ),
    # batch_norm / layer_norm
    "batch_norm running_mean shape": (
        lambda L: L.F.batch_norm(L.r(2, 3, 4, 4), L.r(4), L.r(4).abs()),
        ValueError,
        "batch_norm: running_mean",
    ),
    "batch_norm weight shape": (
        lambda L: L.F.batch_norm(L.r(2, 3, 4, 4), L.r(3), L.r(3).abs(), L.r(4)),
        ValueError,
        "batch_norm: weight",
    ),
    "batch_norm bias shape": (
        lambda L: L.F.batch_norm(L.r(2, 3, 4, 4), L.r(3), L.r(3).abs(), L.r(3), L.r(4)),
        ValueError,
        "batch_norm: bias",
    ),
    "batch_norm 1-d input (IndexError)": (
        lambda L: L.F.batch_norm(L.r(3), None, None, training=True),
        ValueError,
        "batch_norm: input",
    ),
    "layer_norm shape": (
        lambda L: L.F.layer_norm(L.r(2, 3), (4,)),
        ValueError,
        "layer_norm: input",
    ),
    "layer_norm longer shape": (
        lambda L: L.F.layer_norm(L.r(2, 3), (2, 2, 3)),
        ValueError,
        "layer_norm: input",
    ),
    "layer_norm empty shape": (
        lambda L: L.F.layer_norm(L.r(2, 3), ()),
        ValueError,
        "layer_norm: input",
    ),
    "layer_norm weight shape": (
        lambda L: L.F.layer_norm(L.r(2, 3), (3,), L.r(4)),
        ValueError,
        "layer_norm: weight",
    ),
    "layer_norm bias shape": (
        lambda L: L.F.layer_norm(L.r(2, 3), (3,), L.r(3), L.r(4)),
        ValueError,
        "layer_norm: bias",
    ),
    # cross_entropy / nll_loss targets
    "cross_entropy target batch (ValueError)": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.i(3)),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy 0-d target (ValueError)": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.i()),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy 2-d target": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.i(2, 2)),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy spatial target": (
        lambda L: L.F.cross_entropy(L.r(2, 3, 4), L.i(2, 5)),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy spatial target 1-d": (
        lambda L: L.F.cross_entropy(L.r(2, 3, 4), L.i(2)),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy spatial target batch (ValueError)": (
        lambda L: L.F.cross_entropy(L.r(2, 3, 4), L.i(3, 4)),
        ValueError,
        "cross_entropy: target",
    ),
    "cross_entropy weight shape": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.i(2), weight=L.r(4)),
        ValueError,
        "cross_entropy: weight",
    ),
    "cross_entropy float target shape": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.r(2, 4)),
        TypeError,
        "cross_entropy: target",
    ),
    "cross_entropy int probabilities": (
        lambda L: L.F.cross_entropy(L.r(2, 3), L.i(2, 3)),
        TypeError,
        "cross_entropy: target",
    ),
    "nll_loss target batch (ValueError)": (
        lambda L: L.F.nll_loss(L.r(2, 3), L.i(3)),
        ValueError,
        "nll_loss: target",
    ),
    "nll_loss 2-d target": (
        lambda L: L.F.nll_loss(L.r(2, 3), L.i(2, 2)),
        ValueError,
        "nll_loss: target",
    ),
    "nll_loss spatial target": (
        lambda L: L.F.nll_loss(L.r(2, 3, 4), L.i(2, 5)),
        ValueError,
        "nll_loss: target",
    ),
    "nll_loss weight shape": (
        lambda L: L.F.nll_loss(L.r(2, 3), L.i(2), weight=L.r(4)),
        ValueError,
        "nll_loss: weight",
    ),
    "nll_loss float target": (
        lambda L: L.F.nll_loss(L.r(2, 3), L.r(2)),
        TypeError,
        "nll_loss: target",
    ),
    "CrossEntropyLoss target batch (ValueError)": (
        lambda L: L.nn.CrossEntropyLoss()(L.r(2, 3), L.i(3)),
        ValueError,
        "cross_entropy: target",
    ),
    "NLLLoss 2-d target": (
        lambda L: L.nn.NLLLoss()(L.r(2, 3), L.i(2, 2)),
        ValueError,
        "nll_loss: target",
    ),
    # the modules' own checks, and bmm / zeros outside tensor.py
    "Conv2d 5-d": (
        lambda L: L.nn.Conv2d(3, 4, 3).double()(L.r(1, 1, 2, 3, 5)),
        ValueError,
        "Conv2d: input",
    ),
    "Conv2d channels": (
        lambda L: L.nn.Conv2d(3, 4, 3).double()(L.r(1, 2, 5, 5)),
        ValueError,
        "Conv2d: input",
    ),
    "Conv2d kernel > input": (
        lambda L: L.nn.Conv2d(3, 4, 3).double()(L.r(1, 3, 2, 2)),
        ValueError,
        "Conv2d: kernel_size",
    ),
    "BatchNorm2d channels": (
        lambda L: L.nn.BatchNorm2d(3).double()(L.r(2, 4, 5, 5)),
        ValueError,
        "BatchNorm2d: input",
    ),
    "LayerNorm shape": (
        lambda L: L.nn.LayerNorm(5).double()(L.r(2, 4)),
        ValueError,
        "LayerNorm: input",
    ),
    "MaxPool1d padding": (
        lambda L: L.nn.MaxPool1d(2, padding=2)(L.r(1, 2, 8)),
        ValueError,
        "MaxPool1d: padding",
    ),
    "MaxPool1d 4-d": (lambda L: L.nn.MaxPool1d(2)(L.r(1, 1, 2, 8)), ValueError, "MaxPool1d"),
    "bmm batch": (lambda L: L.m.bmm(L.r(2, 3, 4), L.r(3, 4, 5)), ValueError, "bmm: mat2"),
    "bmm inner": (lambda L: L.m.bmm(L.r(2, 3, 4), L.r(2, 5, 5)), ValueError, "bmm: shapes"),
    "bmm 2-d": (lambda L: L.m.bmm(L.r(3, 4), L.r(2, 4, 5)), ValueError, "bmm: input"),
    "zeros negative": (lambda L: L.m.zeros(-1), ValueError, "zeros: size"),
}


def _raised(fn, lib) -> BaseException:
    with pytest.raises(Exception) as info:
        fn(lib)
    return info.value


@pytest.mark.parametrize("name", list(CASES))
def test_error_type_is_torchs_and_ours(name):
    fn, was, piece = CASES[name]
    theirs = type(_raised(fn, TO))
    ours = _raised(fn, DG)
    assert isinstance(ours, theirs), (name, type(ours).__mro__, theirs)
    assert isinstance(ours, was), (name, type(ours).__mro__, was)
    assert piece in str(ours), (name, str(ours))


def test_one_class_for_shape_errors():
    """_BadArgument (the functional modules') is tensor.py's _ShapeError, both kinds."""
    from deltagrad import _functional_spatial

    err = dg_tensor._ShapeError
    assert _functional_spatial._BadArgument is err
    assert issubclass(err, RuntimeError) and issubclass(err, ValueError)
    assert issubclass(dg_tensor._ShapeIndexError, IndexError)
    assert issubclass(dg_tensor._ShapeIndexError, ValueError)
    assert issubclass(dg_tensor._ShapeTypeError, TypeError)
    assert issubclass(dg_tensor._ShapeTypeError, ValueError)


def test_messages_are_unchanged():
    """The type changes, the text does not: numpy's own message for a broadcast, ours (with
    the owner's name) for the rest."""
    with pytest.raises(RuntimeError) as info:
        DG.r(2, 3) + DG.r(2, 4)
    assert str(info.value).startswith("operands could not be broadcast together")
    with pytest.raises(RuntimeError, match=r"^reshape: cannot reshape shape \(2, 3\) into"):
        DG.r(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match=r"^MaxPool2d: padding: expected at most half"):
        dnn.MaxPool2d(3, padding=2)(DG.r(1, 1, 6, 6))
    with pytest.raises(RuntimeError, match=r"^matmul: shapes \(2, 3\) and \(2, 4\) do not"):
        DG.r(2, 3) @ DG.r(2, 4)


def test_cause_of_reshape_error_is_kept():
    """reshape's error still chains numpy's (raise ... from e)."""
    with pytest.raises(ValueError) as info:
        DG.r(2, 3).reshape(7)
    assert isinstance(info.value.__cause__, ValueError)


def test_other_value_errors_keep_their_type():
    """Only shape errors change: a bad argument value torch also calls a ValueError (cat of
    an empty list, batch sizes that differ for nll_loss) stays a plain ValueError, not a
    RuntimeError; so does a non-broadcast ValueError from inside a wrapped op."""
    for fn in (
        lambda: dg.cat([]),
        lambda: DF.nll_loss(DG.r(2, 3), DG.i(3)),
        lambda: DF.cross_entropy(DG.r(2, 3, 4), DG.i(3, 4)),
        lambda: DG.r(2, 3).div(DG.r(2, 3), rounding_mode="bad"),
    ):
        with pytest.raises(ValueError) as info:
            fn()
        assert not isinstance(info.value, RuntimeError), info.value


def test_good_inputs_still_work():
    """The wrappers change nothing on the way through: broadcasting, pooling and conv results
    and gradients as torch's."""
    a, b = (
        np.random.default_rng(0).standard_normal((2, 3, 1)),
        np.random.default_rng(1).normal(size=(4,)),
    )
    x, y = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (dg.maximum(x, y) * (x + y)).sum().backward()
    (torch.maximum(tx, ty) * (tx + ty)).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(y.grad), ty.grad.numpy(), rtol=1e-12, atol=1e-12)
    img = np.random.default_rng(2).standard_normal((2, 3, 7, 7))
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 3))
    ours = DF.avg_pool2d(DF.conv2d(dg.tensor(img), dg.tensor(w), padding=1), 3, padding=1)
    theirs = TF.avg_pool2d(TF.conv2d(torch.tensor(img), torch.tensor(w), padding=1), 3, padding=1)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)
