"""Double backward (create_graph=True) of the layers: the differentiable backwards the layer
ops of deltagrad.functional give Tensor._make (dbackward=), so that dg.autograd.grad(...,
create_graph=True), autograd.functional.hessian / hvp and gradient penalties run through
convolutions, pooling, normalizations, padding, resampling and the losses.

Three mechanisms, each built once and shared:

- linear_dbackward(fwd, adj): an op whose backward is a LINEAR map adj of g (its adjoint
  being the forward map fwd, both on arrays: average pooling, padding, resampling, fold /
  unfold, max pooling's scatter at the saved indices, embedding's scatter into rows...). The
  gradient is then a node computing adj(g) whose backward is fwd, and whose own double
  backward is the pair swapped back: every order, from the two array maps alone.
- the convolutions, bilinear in (input, weight): d conv / d input = conv2d_input_grad (a
  transposed convolution of g with the weight), d conv / d weight = conv2d_weight_grad (a
  convolution of the input with g), each a node differentiable in both of its operands whose
  derivatives are again conv2d / conv2d_input_grad / conv2d_weight_grad (product rule).
- recompute_dbackward(fn, parents): for the nonlinear fused ops (the normalizations and the
  losses), whose backward is a closed form on arrays: the double backward recomputes the
  forward from differentiable Tensor ops of the same inputs (fn) and differentiates it with a
  graph (only when create_graph=True runs; the hot path stores one partial).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from . import _engine, ops
from .tensor import Tensor, _leading_slices, _scatter_add_into, get_array_module

__all__ = [
    "register_layers",
    "linear_map",
    "on_array",
    "linear_dbackward",
    "lazy_linear_dbackward",
    "recompute_dbackward",
    "conv2d_dbackward",
    "conv_transpose2d_dbackward",
    "scale_dbackward",
    "scatter_planes_dbackward",
    "lazy_scatter_dbackward",
    "scatter_dbackward",
]


def _contig(a: Any) -> Any:
    return a if a.flags.c_contiguous else get_array_module(a).ascontiguousarray(a)


# ---- linear ops ------------------------------------------------------------------------------


def linear_map(t: Tensor, fwd: Callable[[Any], Any], adj: Callable[[Any], Any], op: str) -> Tensor:
    """fwd(t) for a linear array map fwd with adjoint adj, as a graph node: its backward is
    adj, its double backward a linear_map of adj (with adjoint fwd)."""
    out = fwd(_contig(t.data))

    def _backward(g: Any) -> None:
        t._accumulate(adj(_contig(g)))

    return Tensor._make(
        out, (t,), _backward, op, saves=(), dbackward=partial(_d_linear, adj, fwd, op)
    )


def _d_linear(adj: Any, fwd: Any, op: str, g: Tensor) -> tuple[Any, ...]:
    return (linear_map(g, adj, fwd, op + "_backward"),)


def linear_dbackward(fwd: Callable[[Any], Any], adj: Callable[[Any], Any], op: str) -> Any:
    """The dbackward of a one-input op whose backward is the linear array map adj (adjoint
    fwd): the gradient adj(g) as a linear_map node."""
    return partial(_d_linear, adj, fwd, op)


def _d_lazy(maker: Callable[..., tuple[Any, Any, str]], args: tuple[Any, ...], g: Tensor) -> Any:
    fwd, adj, op = maker(*args)
    return (linear_map(g, adj, fwd, op),)


def lazy_linear_dbackward(maker: Callable[..., tuple[Any, Any, str]], *args: Any) -> Any:
    """linear_dbackward(*maker(*args)) with the maps made only when the double backward runs
    (one partial on the hot path): maker(*args) -> (fwd, adj, op)."""
    return partial(_d_lazy, maker, args)


def _call_first(fn: Callable[..., Any], args: tuple[Any, ...], a: Any) -> Any:
    return fn(a, *args)


def on_array(fn: Callable[..., Any], *args: Any) -> Callable[[Any], Any]:
    """a -> fn(a, *args): an array map for linear_dbackward (no closure made per call)."""
    return partial(_call_first, fn, args)


def _d_scale(scale: Any, g: Tensor) -> tuple[Any, ...]:
    return (g * Tensor(scale),)


def scale_dbackward(scale: Any) -> Any:
    """The dbackward of y = x * scale, scale a constant array (dropout's mask)."""
    return partial(_d_scale, scale)


# ---- max pooling: the gradient scattered at the argmax indices -------------------------------


def scatter_planes_dbackward(idx: Any, x_shape: tuple[int, ...], nsp: int, op: str) -> Any:
    """The dbackward of a max pool (the output idx's shape, idx the flat index of each
    maximum within its plane of the last nsp dims of x_shape): the gradient, g scattered at
    idx, as a linear node (its derivative in g a gather; zero in x almost everywhere)."""
    idx = idx.astype(np.int64, copy=False)
    shape = tuple(x_shape)
    planes = int(np.prod(shape[: len(shape) - nsp]))
    fwd = partial(_scatter_flat, idx, shape, planes)
    adj = partial(_gather_flat, idx, planes)
    # (_d_linear takes the backward's map first: here the scatter, whose adjoint is the gather)
    return partial(_d_linear, fwd, adj, op)


def _d_scatter(idx: Any, x_shape: tuple[int, ...], nsp: int, op: str, g: Tensor) -> Any:
    return scatter_planes_dbackward(idx, x_shape, nsp, op)(g)


def lazy_scatter_dbackward(idx: Any, x_shape: tuple[int, ...], nsp: int, op: str) -> Any:
    """scatter_planes_dbackward, made only when the double backward runs."""
    return partial(_d_scatter, idx, tuple(x_shape), nsp, op)


def _scatter_flat(idx: Any, shape: tuple[int, ...], planes: int, g: Any) -> Any:
    xp = get_array_module(g)
    per = int(np.prod(shape)) // planes if planes else 0
    out = xp.zeros((planes, per), g.dtype)
    if g.size and planes:
        k = g.size // planes
        rows = xp.broadcast_to(xp.arange(planes).reshape(-1, 1), (planes, k))
        flat = xp.asarray(idx).reshape(planes, k)
        if xp is np:
            np.add.at(out, (rows, flat), g.reshape(planes, k))
        else:
            import cupyx

            cupyx.scatter_add(out, (rows, flat), g.reshape(planes, k))
    return out.reshape(shape)


def _gather_flat(idx: Any, planes: int, a: Any) -> Any:
    xp = get_array_module(a)
    if idx.size == 0 or planes == 0:
        return xp.zeros(idx.shape, a.dtype)
    flat = a.reshape(planes, -1)
    return xp.take_along_axis(flat, xp.asarray(idx).reshape(planes, -1), axis=1).reshape(idx.shape)


# ---- Tensor.scatter: the gradients g masked (self) and g gathered at the index (src) -------


def scatter_dbackward(hit: Any, d: int, idx: Any, src_shape: tuple[int, ...]) -> Any:
    """The dbackward of Tensor.scatter(d, idx, src) (hit: the output positions written):
    self's gradient g with the written positions zeroed (its own adjoint), src's g gathered
    at idx into zeros of src's shape (adjoint: a scatter-add of the idx-shaped corner)."""
    return partial(_d_scatter_op, hit, d, idx, tuple(src_shape))


def _d_scatter_op(
    hit: Any, d: int, idx: Any, src_shape: tuple[int, ...], g: Tensor
) -> tuple[Any, ...]:
    mask = partial(_zero_where, hit)
    gather = partial(_gather_into, d, idx, src_shape)
    scatter = partial(_scatter_corner, d, idx, tuple(hit.shape))
    return (
        linear_map(g, mask, mask, "scatter_backward"),
        linear_map(g, gather, scatter, "scatter_backward"),
    )


def _zero_where(hit: Any, a: Any) -> Any:
    return get_array_module(a).where(hit, 0, a).astype(a.dtype)


def _gather_into(d: int, idx: Any, src_shape: tuple[int, ...], a: Any) -> Any:
    xp = get_array_module(a)
    out = xp.zeros(src_shape, a.dtype)
    part = xp.take_along_axis(a[_leading_slices(idx.shape, d)], idx, axis=d) if a.ndim else a
    out[_leading_slices(idx.shape, 0, all_dims=True)] = part
    return out


def _scatter_corner(d: int, idx: Any, out_shape: tuple[int, ...], s: Any) -> Any:
    out = get_array_module(s).zeros(out_shape, s.dtype)
    _scatter_add_into(out, d, idx, s[_leading_slices(idx.shape, 0, all_dims=True)])
    return out


# ---- recomputation (nonlinear fused ops) ---------------------------------------------------


def _never(_: Any) -> None:  # run_create_graph's graph_freed (never reached: retain_graph)
    raise RuntimeError("unreachable")


def _alias(p: Tensor) -> Tensor:
    """p through an identity node: the recomputed graph starts here, so the inner walk
    captures its gradient without running p's hooks or touching p's .grad."""

    def _backward(g: Any) -> None:
        p._accumulate(g)

    return Tensor._make(p.data, (p,), _backward, "alias", saves=(), dbackward=_d_id)


def _d_id(g: Tensor) -> tuple[Any, ...]:
    return (g,)


def _recompute(fn: Callable[..., Tensor], parents: tuple[Any, ...], g: Tensor) -> tuple[Any, ...]:
    # parents may hold None (an absent optional input) and non-Tensor constants
    al = [p if not isinstance(p, Tensor) else _alias(p) for p in parents]
    y = fn(*al)
    want = [a for a in al if isinstance(a, Tensor) and a.requires_grad]
    if not want or not y.requires_grad:
        return tuple(None for p in parents if isinstance(p, Tensor))
    got = _engine.run_create_graph([y], [g], True, _never, want, stop_at_inputs=True)
    return tuple(got.get(id(a)) if a.requires_grad else None for a in al if isinstance(a, Tensor))


def recompute_dbackward(fn: Callable[..., Tensor], *args: Any) -> Any:
    """The dbackward of a fused op: fn(*args) recomputes its output from differentiable Tensor
    ops; the gradients of <g, fn(...)> w.r.t. the Tensor args, in order (the node's parents:
    the Tensors among args, in the same order), with a graph. None args are passed through."""
    return partial(_recompute, fn, args)


# ---- convolutions (bilinear in input and weight) ---------------------------------------------

_Geo = tuple[Any, Any, Any, int]  # (stride, padding, dilation, groups), pairs of ints


def conv2d_input_grad(g: Tensor, w: Tensor, x_shape: tuple[int, ...], geo: _Geo) -> Tensor:
    """conv2d's input gradient for output gradient g and weight w (a transposed convolution),
    as a node differentiable in g and w."""
    gd, wd = _contig(g.data), _contig(w.data)
    xp = get_array_module(gd)
    dx = ops.conv2d_backward(gd, xp.empty(x_shape, gd.dtype), wd, *geo, True, False, False)[0]

    def _backward(gx: Any) -> None:
        gx = _contig(gx)
        if g.requires_grad:
            g._accumulate(ops.conv2d_forward(gx, wd, None, *geo))
        if w.requires_grad:  # <gx, dX(g, w)> = <conv(gx, w), g>: dW with input gx, dy g
            w._accumulate(ops.conv2d_backward(gd, gx, wd, *geo, False, True, False)[1])

    return Tensor._make(
        dx, (g, w), _backward, "conv2d_input_backward", saves=(),
        dbackward=partial(_d_conv_dx, g, w, geo),
    )  # fmt: skip


def _d_conv_dx(g: Tensor, w: Tensor, geo: _Geo, gx: Tensor) -> tuple[Any, ...]:
    return (
        _conv2d(gx, w, geo) if g.requires_grad else None,
        conv2d_weight_grad(gx, g, tuple(w.shape), geo) if w.requires_grad else None,
    )


def conv2d_weight_grad(x: Tensor, g: Tensor, w_shape: tuple[int, ...], geo: _Geo) -> Tensor:
    """conv2d's weight gradient for input x and output gradient g (a convolution of x with
    g), as a node differentiable in x and g."""
    xd, gd = _contig(x.data), _contig(g.data)
    xp = get_array_module(xd)
    dw = ops.conv2d_backward(gd, xd, xp.empty(w_shape, xd.dtype), *geo, False, True, False)[1]

    def _backward(gw: Any) -> None:
        gw = _contig(gw)
        if x.requires_grad:  # <gw, dW(x, g)> = <conv(x, gw), g>
            x._accumulate(
                ops.conv2d_backward(gd, xp.empty(xd.shape, xd.dtype), gw, *geo, True, False, False)[
                    0
                ]
            )
        if g.requires_grad:
            g._accumulate(ops.conv2d_forward(xd, gw, None, *geo))

    return Tensor._make(
        dw, (x, g), _backward, "conv2d_weight_backward", saves=(),
        dbackward=partial(_d_conv_dw, x, g, geo),
    )  # fmt: skip


def _d_conv_dw(x: Tensor, g: Tensor, geo: _Geo, gw: Tensor) -> tuple[Any, ...]:
    return (
        conv2d_input_grad(g, gw, tuple(x.shape), geo) if x.requires_grad else None,
        _conv2d(x, gw, geo) if g.requires_grad else None,
    )


# The differentiable layer functions the double backwards call (F.conv2d, F.pad), set by
# deltagrad.functional once they exist (register_layers): this module then imports nothing
# from the layers that import it.
_LAYERS: dict[str, Callable[..., Tensor]] = {}


def register_layers(**fns: Callable[..., Tensor]) -> None:
    """Give this module the layer functions it differentiates through (conv2d, pad)."""
    _LAYERS.update(fns)


def _conv2d(x: Tensor, w: Tensor, geo: _Geo) -> Tensor:
    stride, padding, dilation, groups = geo
    return _LAYERS["conv2d"](x, w, None, stride, padding, dilation, groups)


def _d_conv2d(x: Tensor, w: Tensor, has_b: bool, geo: _Geo, g: Tensor) -> tuple[Any, ...]:
    out = [
        conv2d_input_grad(g, w, tuple(x.shape), geo) if x.requires_grad else None,
        conv2d_weight_grad(x, g, tuple(w.shape), geo) if w.requires_grad else None,
    ]
    if has_b:
        out.append(g.sum((0, 2, 3)))
    return tuple(out)


def conv2d_dbackward(x: Tensor, w: Tensor, has_b: bool, geo: _Geo) -> Any:
    """The dbackward of conv2d(x, w, b) (4-D operands, integer padding)."""
    return partial(_d_conv2d, x, w, has_b, geo)


def _d_convt(
    x: Tensor, w: Tensor, has_b: bool, geo: _Geo, extra: tuple[int, int], g: Tensor
) -> tuple[Any, ...]:
    # y = conv2d_input_grad(xpad, w): xpad = x with `extra` zero rows / columns appended
    out: list[Any] = [None, None]
    h, wi = x.shape[2:]
    if x.requires_grad:
        gx = _conv2d(g, w, geo)
        if any(extra):
            gx = gx[:, :, :h, :wi]
        out[0] = gx
    if w.requires_grad:
        xpad = x
        if any(extra):
            xpad = _LAYERS["pad"](x, (0, extra[1], 0, extra[0]))
        out[1] = conv2d_weight_grad(g, xpad, tuple(w.shape), geo)
    if has_b:
        out.append(g.sum((0, 2, 3)))
    return tuple(out)


def conv_transpose2d_dbackward(
    x: Tensor, w: Tensor, has_b: bool, geo: _Geo, extra: tuple[int, int]
) -> Any:
    """The dbackward of _conv_transpose2d (4-D operands; extra: the zero rows and columns
    appended to x before its conv2d_backward)."""
    return partial(_d_convt, x, w, has_b, geo, tuple(extra))


# ---- the normalizations' forwards as Tensor ops (recompute_dbackward's fn) --------------------


def _standardize(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    mean = x.mean(axes, keepdim=True)
    xc = x - mean
    return xc * ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()


def _channel_affine(y: Tensor, w: Any, b: Any) -> Tensor:
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if w is not None:
        y = y * w.reshape(*shape)
    if b is not None:
        y = y + b.reshape(*shape)
    return y


def batch_norm_fn(eps: float, stats: Any, x: Tensor, w: Any, b: Any) -> Tensor:
    """batch_norm's output: batch statistics (stats None) or the saved (mean, invstd) arrays."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if stats is None:
        y = _standardize(x, (0, *range(2, x.ndim)), eps)
    else:
        mean, invstd = stats
        y = (x - Tensor(mean.reshape(shape))) * Tensor(invstd.reshape(shape))
    return _channel_affine(y, w, b)


def layer_norm_fn(k: int, eps: float, x: Tensor, w: Any, b: Any) -> Tensor:
    """layer_norm's output over the last k dims."""
    y = _standardize(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def group_norm_fn(groups: int, eps: float, x: Tensor, w: Any, b: Any) -> Tensor:
    """group_norm's output (instance_norm's: groups = C)."""
    per = int(np.prod(x.shape[1:])) // groups
    y = _standardize(x.reshape(x.shape[0], groups, per), (2,), eps).reshape(*x.shape)
    return _channel_affine(y, w, b)
