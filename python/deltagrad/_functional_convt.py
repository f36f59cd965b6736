"""conv1d, conv_transpose1d and conv_transpose2d of deltagrad.functional, as torch 2.13's
torch.nn.functional, on the CPU conv2d kernels (ops.conv2d_forward / ops.conv2d_backward).

conv1d is conv2d over (N, C, 1, L). conv_transpose2d is the adjoint of conv2d: its forward is
conv2d's input gradient (the transposed conv's input in the place of conv2d's grad_output),
its input gradient is conv2d's forward of the output gradient, and its weight gradient is
conv2d's weight gradient with the two roles swapped. The 1-D transposed convolution goes
through the 2-D one as conv1d through conv2d. CPU only (the conv kernels are): a cupy array is
the kernels' NotImplementedError naming the op.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from . import ops
from ._functional_dgrad import conv_transpose2d_dbackward
from ._functional_spatial import _BadArgument, _check_alloc
from .functional import _tensor, conv2d
from .tensor import Tensor

__all__ = ["conv1d", "conv_transpose1d", "conv_transpose2d"]


class _ConvTypeError(TypeError, RuntimeError):
    """Mismatched dtypes: torch raises RuntimeError, deltagrad TypeError; both catch it."""


def _ntuple(v: Any, n: int, op: str, arg: str) -> tuple[int, ...]:
    """An int, or n ints (one int repeated when one is given), as torch's conv arguments:
    TypeError for a non-int, torch's RuntimeError (a ValueError too) for a wrong length."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if not vals or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) for e in vals):
        raise TypeError(f"{op}: {arg}: expected an int or a tuple of {n} ints, got {v!r}")
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n:
        raise _BadArgument(
            f"{op}: {arg}: expected a single integer value or a list of {n} values to match "
            f"the convolution dimensions, got {list(vals)}"
        )
    return tuple(int(e) for e in vals)


def _check_values(
    op: str, stride: tuple[int, ...], padding: Any, dilation: tuple[int, ...], groups: Any
) -> int:
    """torch's value checks of the conv arguments (RuntimeError there; _BadArgument here)."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups: expected an int, got {groups!r}")
    if min(stride) <= 0:
        raise _BadArgument(f"{op}: stride: non-positive stride is not supported, got {stride}")
    if not isinstance(padding, str) and min(padding) < 0:
        raise _BadArgument(f"{op}: padding: negative padding is not supported, got {padding}")
    if min(dilation) <= 0:
        raise _BadArgument(
            f"{op}: dilation: non-positive dilation is not supported, got {dilation}"
        )
    if groups <= 0:
        raise _BadArgument(f"{op}: groups: non-positive groups is not supported, got {groups}")
    return int(groups)


def _check_operands(op: str, x: Tensor, w: Tensor, b: Tensor | None, nd: int) -> None:
    """Ranks and dtypes of input, weight and bias (torch's RuntimeErrors)."""
    if x.ndim not in (nd + 1, nd + 2):
        raise _BadArgument(
            f"{op}: input: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, got "
            f"shape {tuple(x.shape)}"
        )
    if w.ndim != nd + 2:
        raise _BadArgument(
            f"{op}: weight: expected a {nd + 2}-D weight, got shape {tuple(w.shape)}"
        )
    if b is not None and b.ndim != 1:
        raise _BadArgument(f"{op}: bias: expected a 1-D bias, got shape {tuple(b.shape)}")
    dts = [t.data.dtype for t in (x, w, b) if t is not None]
    if any(dt != dts[0] for dt in dts):
        raise _ConvTypeError(
            f"{op}: input has dtype {x.data.dtype} but weight is {w.data.dtype}"
            + ("" if b is None else f" and bias {b.data.dtype}")
            + "; they must match"
        )
    if dts[0] not in (np.float32, np.float64):
        raise _ConvTypeError(f"{op}: expected float32 or float64 tensors, got {dts[0]}")


# ---- conv1d ----------------------------------------------------------------------------------


def conv1d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over input (N, C, L) or (C, L) with weight (out_channels, C / groups, K)
    and bias (out_channels,) or None, as torch.nn.functional.conv1d: stride, padding and
    dilation an int or a 1-tuple; padding also 'valid' or 'same' (stride 1 only). Zero
    padding; conv2d over (N, C, 1, L)."""
    op = "conv1d"
    x, w = _tensor(input, f"{op}: input"), _tensor(weight, f"{op}: weight")
    b = None if bias is None else _tensor(bias, f"{op}: bias")
    _check_operands(op, x, w, b, 1)
    (s,) = _ntuple(stride, 1, op, "stride")
    (d,) = _ntuple(dilation, 1, op, "dilation")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise _BadArgument(f"{op}: padding: invalid padding string {padding!r}")
        if padding == "same" and s != 1:
            raise _BadArgument(f"{op}: padding='same' is not supported for strided convolutions")
        pads: Any = padding
        total = 0 if padding == "valid" else d * (w.shape[2] - 1)
    else:
        pads = _ntuple(padding, 1, op, "padding")
        total = 2 * pads[0]
    groups = _check_values(op, (s,), pads, (d,), groups)
    if x.ndim == 2:  # unbatched (C, L), as torch
        y = conv1d(x.reshape(1, *x.shape), w, b, s, padding, d, groups)
        return y.reshape(*y.shape[1:])
    o, cg, k = w.shape
    _check_groups(op, x.shape, w.shape, groups, o, cg * groups, b)
    if x.shape[2] + total < d * (k - 1) + 1:
        raise _BadArgument(
            f"{op}: the padded input size per channel ({x.shape[2] + total}) is smaller than the "
            f"(dilated) kernel size ({d * (k - 1) + 1})"
        )
    pad2 = pads if isinstance(pads, str) else (0, pads[0])
    y = conv2d(
        x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]),
        w.reshape(o, cg, 1, k),
        b,
        (1, s),
        pad2,
        (1, d),
        groups,
    )
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


def _check_groups(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    groups: int,
    out_channels: int,
    in_channels: int,
    b: Tensor | None,
) -> None:
    """The channel checks of torch's convolution (RuntimeError there): weight.shape[0]
    divisible by groups, the input's channels, the bias's length; a non-empty kernel."""
    if w_shape[0] % groups:
        raise _BadArgument(
            f"{op}: groups: expected weight to be divisible by {groups} at dimension 0, got "
            f"weight of shape {tuple(w_shape)}"
        )
    if x_shape[1] != in_channels:
        raise _BadArgument(
            f"{op}: input: with weight of shape {tuple(w_shape)} and groups={groups}, expected "
            f"an input of {in_channels} channels, got {x_shape[1]} (shape {tuple(x_shape)})"
        )
    if b is not None and b.shape[0] != out_channels:
        raise _BadArgument(
            f"{op}: bias: expected {out_channels} elements, got shape {tuple(b.shape)}"
        )
    if min(w_shape[2:]) < 1:
        raise _BadArgument(f"{op}: weight: expected a non-empty kernel, got {tuple(w_shape)}")
    if x_shape[0] * x_shape[1] and min(x_shape[2:]) < 1:
        raise _BadArgument(
            f"{op}: input: only zero batch or zero channel inputs may be empty, got shape "
            f"{tuple(x_shape)}"
        )


# ---- transposed convolution ------------------------------------------------------------------


def conv_transpose2d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution") over input (N, C_in, H, W) or (C_in, H, W)
    with weight (C_in, C_out / groups, kH, kW) and bias (C_out,) or None, as
    torch.nn.functional.conv_transpose2d: output size (H - 1) * stride - 2 * padding +
    dilation * (kH - 1) + output_padding + 1 (so for W); output_padding < stride or <
    dilation. The gradient of conv2d with respect to its input."""
    return _conv_transpose(
        "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
        dilation,
    )  # fmt: skip


def conv_transpose1d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """1-D transposed convolution over input (N, C_in, L) or (C_in, L) with weight
    (C_in, C_out / groups, K) and bias (C_out,) or None, as
    torch.nn.functional.conv_transpose1d (conv_transpose2d over (N, C_in, 1, L))."""
    return _conv_transpose(
        "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
        dilation,
    )  # fmt: skip


def _conv_transpose_checks(
    op: str,
    nd: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
) -> tuple[Any, ...]:
    """conv_transpose{nd}d's operands and arguments after torch's checks, in its order:
    (x, w, b, stride, padding, output_padding, groups, dilation). conv_transpose1d / 2d /
    3d share them."""
    x, w = _tensor(input, f"{op}: input"), _tensor(weight, f"{op}: weight")
    b = None if bias is None else _tensor(bias, f"{op}: bias")
    ops._cpu_only(op, x.data, w.data, None if b is None else b.data)
    _check_operands(op, x, w, b, nd)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding: expected an int or a tuple of {nd} ints, got {padding!r}")
    s = _ntuple(stride, nd, op, "stride")
    p = _ntuple(padding, nd, op, "padding")
    op_ = _ntuple(output_padding, nd, op, "output_padding")
    d = _ntuple(dilation, nd, op, "dilation")
    groups = _check_values(op, s, p, d, groups)
    if min(op_) < 0:
        raise _BadArgument(
            f"{op}: output_padding: negative output_padding is not supported, got {op_}"
        )
    if any(o >= si and o >= di for o, si, di in zip(op_, s, d)):
        raise _BadArgument(
            f"{op}: output_padding: output padding must be smaller than either stride or "
            f"dilation, got output_padding {op_}, stride {s}, dilation {d}"
        )
    if w.shape[0] == 0:  # torch's check (its weight's dim 0 is the input channels)
        raise _BadArgument(
            f"{op}: weight: expected at least 1 input channel at dimension 0, got weight of "
            f"shape {tuple(w.shape)}"
        )
    return x, w, b, s, p, op_, groups, d


def _transpose_out_size(op: str, x: Tensor, w: Tensor, s: Any, p: Any, d: Any, op_: Any) -> list:
    """The output's spatial size after the groups check; torch refuses one below 1, or below 0
    for an empty input (which may give an empty output)."""
    spatial = x.shape[2:]
    out = [
        (n - 1) * si - 2 * pi + di * (k - 1) + oi + 1
        for n, k, si, pi, di, oi in zip(spatial, w.shape[2:], s, p, d, op_)
    ]
    if min(out) < (1 if x.shape[0] * x.shape[1] else 0):
        raise _BadArgument(
            f"{op}: the output size {tuple(out)} (from an input of spatial size {tuple(spatial)}, "
            f"kernel {tuple(w.shape[2:])}, stride {s}, padding {p}, dilation {d}, "
            f"output_padding {op_}) is too small"
        )
    return out


def _conv_transpose(
    op: str,
    nd: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
) -> Tensor:
    """conv_transpose{nd}d (1 or 2): the checks (torch's), then _conv_transpose2d on 4-D
    tensors."""
    x, w, b, s, p, op_, groups, d = _conv_transpose_checks(
        op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    if x.ndim == nd + 1:  # unbatched, as torch
        y = _conv_transpose(op, nd, x.reshape(1, *x.shape), w, b, s, p, op_, groups, d)
        return y.reshape(*y.shape[1:])
    _check_groups(op, x.shape, w.shape, groups, w.shape[1] * groups, w.shape[0], b)
    _transpose_out_size(op, x, w, s, p, d, op_)
    if nd == 2:
        return _conv_transpose2d(op, x, w, b, s, p, op_, groups, d)
    xs, ws = x.shape, w.shape
    y = _conv_transpose2d(
        op,
        x.reshape(xs[0], xs[1], 1, xs[2]),
        w.reshape(ws[0], ws[1], 1, ws[2]),
        b,
        (1, s[0]),
        (0, p[0]),
        (0, op_[0]),
        groups,
        (1, d[0]),
    )
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


def _conv_transpose2d(
    op: str,
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    groups: int,
    dilation: tuple[int, ...],
) -> Tensor:
    """The transposed convolution of checked 4-D operands, one graph node.

    It is conv2d's adjoint: y = conv2d_backward's dx with x as the grad_output, for a conv2d
    from y's shape with the same stride, padding, dilation and groups. That conv2d maps y's
    shape to H + output_padding // stride rows (output_padding >= stride is allowed when
    dilation > stride), so x gets that many zero rows (and columns) appended first."""
    xd, wd = x.data, w.data
    n, _, h, wi = xd.shape
    c_out = wd.shape[1] * groups
    out_hw = tuple(
        (m - 1) * s - 2 * p + d * (k - 1) + o + 1
        for m, k, s, p, d, o in zip(
            (h, wi), wd.shape[2:], stride, padding, dilation, output_padding
        )
    )
    if n == 0 or xd.shape[1] == 0:  # torch gives an empty (or zero-channel: bias) result
        return _empty_transpose(x, w, b, (n, c_out, *(max(v, 0) for v in out_hw)), op)
    extra = tuple(o // s for o, s in zip(output_padding, stride))
    xp = xd
    if any(extra):
        xp = np.pad(xd, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    xp = np.ascontiguousarray(xp)
    _check_alloc((n, c_out, *out_hw), xd.dtype, op)
    # conv2d_backward never reads its `input` when need_dw is False: only its shape matters
    y = ops.conv2d_backward(
        xp, np.empty((n, c_out, *out_hw), xd.dtype), wd, stride, padding, dilation, groups,
        True, False, False,
    )[0]  # fmt: skip
    if b is not None:
        y += b.data.reshape(-1, 1, 1)

    def _backward(g: Any) -> None:
        g = np.ascontiguousarray(g)
        if x.requires_grad:
            gx = ops.conv2d_forward(g, wd, None, stride, padding, dilation, groups)
            if any(extra):
                gx = np.ascontiguousarray(gx[:, :, :h, :wi])
            x._accumulate(gx)
        if w.requires_grad:
            # <g, convT(x, w)> = <conv2d(g, w), xp>: w's gradient is conv2d's with dy = xp
            gw = ops.conv2d_backward(
                xp, g, wd, stride, padding, dilation, groups, False, True, False
            )[1]
            w._accumulate(gw)
        if b is not None and b.requires_grad:
            b._accumulate(ops.sum(g, axis=(0, 2, 3)))  # C++: 2.6x NumPy's sum

    parents = (x, w) if b is None else (x, w, b)
    db = conv_transpose2d_dbackward(x, w, b is not None, (stride, padding, dilation, groups), extra)
    return Tensor._make(y, parents, _backward, op, saves=(x, w), dbackward=db)


def _empty_transpose(
    x: Tensor, w: Tensor, b: Tensor | None, shape: tuple[int, ...], op: str
) -> Tensor:
    """A transposed convolution of an empty input (N = 0, or no input channels): zeros plus
    the bias; the gradients are zeros (the bias's: the output gradient summed)."""
    y = np.zeros(shape, x.data.dtype)
    if b is not None:
        y += b.data.reshape(-1, 1, 1)

    def _backward(g: Any) -> None:
        if x.requires_grad:
            x._accumulate(np.zeros_like(x.data))
        if w.requires_grad:
            w._accumulate(np.zeros_like(w.data))
        if b is not None and b.requires_grad:
            b._accumulate(np.asarray(g).sum(axis=(0, 2, 3)))

    parents = (x, w) if b is None else (x, w, b)
    db = partial(_d_empty_transpose, x, w, b is not None)
    return Tensor._make(y, parents, _backward, op, saves=(), dbackward=db)


def _d_empty_transpose(x: Tensor, w: Tensor, has_b: bool, g: Tensor) -> tuple[Any, ...]:
    zeros = (Tensor(np.zeros_like(x.data)), Tensor(np.zeros_like(w.data)))
    return (*zeros, g.sum((0, 2, 3))) if has_b else zeros
