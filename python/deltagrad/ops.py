"""Stateless array ops backed by the compiled kernels.

numpy arrays in -> numpy arrays out (backends.cpu, the CPU kernels); cupy arrays in -> cupy
arrays out (backends.cuda, the CUDA kernels); backends.backend_for picks one. Every op raises
TypeError / ValueError naming the op and the argument: the CPU binding checks what reaches the
CPU kernels, the CUDA backend the same, and the checks this layer makes first (array-likes,
views to copy, scalars, axes, shapes) are backends._args's, which the backends share. The GIL
is released while a kernel runs (matmul, the activations and the linear layer keep it for
kernels of a few microseconds, where releasing it costs more than it gives). The NumPy float64
reference of each op has the same name and signature in deltagrad.reference.

The hot ops (matmul, activation, activation_backward, linear_forward, linear_backward) first
offer their arguments to the CPU binding's fast entry (backends.cpu.fast_*), which takes plain
numpy arrays and Python scalars straight to the same binding code and answers NotImplemented
for anything else; the general path below it then converts, copies and checks as before.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ._cpu import IndexRangeError
from .backends import backend_for, cpu
from .backends._args import (
    MAX_VIEW_COPY_BYTES,  # noqa: F401  (dg.ops.MAX_VIEW_COPY_BYTES: the bound on a copied view)
    check_device_array,
    choice,
    dense,
    flag,
    float_input,
    is_device_array,
    labels,
    name,
    norm_axes,
    operand,
    real,
    shape_arg,
)
from .backends._args import precision as check_precision
from .backends._args import step as check_step
from .backends.cpu import fast_activation as _fast_activation
from .backends.cpu import fast_activation_backward as _fast_activation_backward
from .backends.cpu import fast_linear_backward as _fast_linear_backward
from .backends.cpu import fast_linear_forward as _fast_linear_forward
from .backends.cpu import fast_matmul as _fast_matmul
from .backends.cuda import set_allow_tf32

__all__ = [
    "ACTIVATIONS",
    "matmul",
    "activation",
    "activation_backward",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "softmax_cross_entropy",
    "sum_of_squares",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "linear_forward",
    "linear_backward",
    "sum",
    "mean",
    "sum_to_shape",
    "cumsum",
    "cumprod",
    "flip",
    "index_add",
    "index_add_",
    "scatter_reduce_",
    "index_reduce_",
    "sgd_update",
    "adam_update",
    "saves_input",
    "set_allow_tf32",
]

# The vocabulary, from the compiled module (csrc/common/op_names.h): the activation names (a
# name's index is the kernels' code), those whose backward takes the input x, the reductions.
ACTIVATIONS: tuple[str, ...] = tuple(cpu.ACTIVATIONS)
REDUCTIONS: tuple[str, ...] = tuple(cpu.REDUCTIONS)
_SAVES_INPUT = frozenset(cpu.SAVES_INPUT)


def saves_input(act: str) -> bool:
    """True when act's backward needs its input x (or z); False when it needs its output y."""
    return choice(act, ACTIVATIONS, "saves_input", "act") in _SAVES_INPUT


def _backend(op: str, *arrays: Any) -> Any:
    try:
        return backend_for(*arrays)
    except TypeError as e:
        raise TypeError(f"{op}: {e}") from None


def matmul(
    a: Any,
    b: Any,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    out: Any = None,
    precision: str | None = None,
) -> Any:
    """C = alpha * op(a) @ op(b) + beta * C, where op(x) is x or x.T and C is ``out``.

    a, b: float32 or float64 arrays of one dtype, any strides: 2-D, or batches of matrices
    a (..., m, k) and b (..., k, n) whose batch dimensions broadcast as NumPy's (trans_a /
    trans_b transpose the last two dimensions): the result is (*batch, m, n), computed by one
    strided-batched GEMM that reads a broadcast operand in place (stride 0, never copied).
    out: None (a new array; beta must then be 0) or a writable array of the result's shape and
    the same dtype, which may share memory with a or b. With beta == 0 the values in out are
    not read.

    precision: None (the global flag, see set_allow_tf32), "fp32" or "tf32". "tf32" permits
    float32 GPU products on TF32 tensor cores (like torch's allow_tf32); it is a permission,
    not a demand: the CPU and float64 always compute in full precision.
    """
    if precision is not None:  # None (the global flag) is valid: no call on the hot path
        check_precision(precision, "matmul")
    # numpy arrays and Python scalars: straight to the CPU binding (which copies misaligned and
    # byte-swapped views itself); NotImplemented for anything else, and under a host override
    c = _fast_matmul(a, b, trans_a, trans_b, alpha, beta, out)
    if c is not NotImplemented:
        return c
    a = operand(a, "matmul", "a")
    b = operand(b, "matmul", "b")
    return _backend("matmul", a, b, out).matmul(
        a,
        b,
        trans_a=flag(trans_a, "matmul", "trans_a"),
        trans_b=flag(trans_b, "matmul", "trans_b"),
        alpha=real(alpha, "matmul", "alpha"),
        beta=real(beta, "matmul", "beta"),
        out=out,
        precision=precision,
    )


# ----------------------------------------------------------------------------------------------
# activations


def activation(x: Any, act: str, *, param: float = 0.0, out: Any = None) -> Any:
    """y = act(x) elementwise (any shape). act is one of ACTIVATIONS; param is leaky_relu's
    negative slope, elu's and celu's alpha (not 0 for celu). out: a writable array of x's
    shape and dtype; it may be x itself (in place) but must not otherwise overlap x."""
    y = _fast_activation(x, act, param, out)  # dense numpy arrays: straight to the binding
    if y is not NotImplemented:
        return y
    op = "activation"
    x = dense(x, op, "x")
    return _backend(op, x, out).activation(
        x, name(act, op, "act"), param=real(param, op, "param"), out=out
    )


def activation_backward(
    dy: Any, saved: Any, act: str, *, param: float = 0.0, out: Any = None
) -> Any:
    """dx = dy * act'(x). ``saved`` is the input x when saves_input(act), else the output
    y = act(x). out may be dy."""
    dx = _fast_activation_backward(dy, saved, act, param, out)
    if dx is not NotImplemented:
        return dx
    op = "activation_backward"
    dy, saved = dense(dy, op, "dy"), dense(saved, op, "saved")
    return _backend(op, dy, saved, out).activation_backward(
        dy, saved, name(act, op, "act"), param=real(param, op, "param"), out=out
    )


def softmax(x: Any, out: Any = None, dim: int = -1) -> Any:
    """Softmax over axis dim (default the last; numerically stable: the max is subtracted).
    On the CPU any axis runs in place (the c values of a slice read at their stride); cupy
    arrays move a middle axis last and back."""
    x = dense(x, "softmax", "x")
    return _softmax_along("softmax", (x,), out, dim)


def log_softmax(x: Any, out: Any = None, dim: int = -1) -> Any:
    """log(softmax(x)) over axis dim, computed as x - max - log(sum(exp(x - max)))."""
    x = dense(x, "log_softmax", "x")
    return _softmax_along("log_softmax", (x,), out, dim)


def softmax_backward(dy: Any, y: Any, dim: int = -1) -> Any:
    """dx of y = softmax(x) over axis dim: y * (dy - sum(dy * y))."""
    op = "softmax_backward"
    dy, y = dense(dy, op, "dy"), dense(y, op, "y")
    return _softmax_along(op, (dy, y), None, dim)


def log_softmax_backward(dy: Any, y: Any, dim: int = -1) -> Any:
    """dx of y = log_softmax(x) over axis dim: dy - exp(y) * sum(dy)."""
    op = "log_softmax_backward"
    dy, y = dense(dy, op, "dy"), dense(y, op, "y")
    return _softmax_along(op, (dy, y), None, dim)


def _softmax_along(op: str, arrays: tuple[Any, ...], out: Any, dim: int) -> Any:
    """The softmax family over axis dim: the CPU kernels take the axis; the device ones (CUDA,
    the SIMT emulator) work on the last axis, so a middle one is moved last and back."""
    be = _backend(op, *arrays)
    fn = getattr(be, op)
    kw = {} if len(arrays) > 1 else {"out": out}
    if be is cpu:
        return fn(*arrays, **kw, dim=dim)
    nd = arrays[0].ndim
    d = _device_dim(op, arrays[0], dim, "x" if len(arrays) == 1 else "dy")
    if d == nd - 1:
        return fn(*arrays, **kw)
    if type(arrays[0]) is np.ndarray:
        xp = np
    else:
        import cupy as xp  # noqa: PLC0415
    r = xp.moveaxis(fn(*(xp.ascontiguousarray(xp.moveaxis(a, d, -1)) for a in arrays)), -1, d)
    if out is None:
        return xp.ascontiguousarray(r)
    out[...] = r
    return out


def logsumexp(x: Any, dim: int = -1, target: Any = None) -> Any:
    """log(sum(exp(x))) over axis dim (default the last), stable (the max is subtracted; a slice
    whose max is +inf gives +inf, all -inf or empty gives -inf, a NaN NaN, as
    torch.logsumexp): the shape of x without axis dim. float32 / float64 numpy arrays take the
    kernel (csrc/cpu/softmax.h: logsumexp_row over the last axis; over another, blocks of
    neighbouring slices read at their stride, as softmax); cupy arrays the same steps in
    cupy. With target (int64 class indices along dim, of the result's shape; ValueError out
    of [0, x.shape[dim])), the tuple (lse, x at the targets), gathered in the same pass: a
    cross-entropy's two terms."""
    op = "logsumexp"
    x = dense(x, op, "x")
    if not is_device_array(x):
        return _cpu.logsumexp(x, dim=dim, target=target)
    d = _device_dim(op, x, dim, "x")
    import cupy as xp  # noqa: PLC0415

    if x.shape[d] == 0:
        lse = xp.full(x.shape[:d] + x.shape[d + 1 :], -np.inf, x.dtype)
    else:
        m = xp.amax(x, axis=d, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        lse = xp.squeeze(xp.log(xp.exp(x - m).sum(axis=d, keepdims=True)) + m, axis=d)
    if target is None:
        return lse
    t = _device_targets(op, target, lse.shape, x.shape[d], xp)
    return lse, xp.squeeze(xp.take_along_axis(x, xp.expand_dims(t, d), axis=d), axis=d)


def logsumexp_backward(
    g: Any, x: Any, lse: Any = None, dim: int = -1, target: Any = None, g_target: Any = None
) -> Any:
    """dx of lse = logsumexp(x) over axis dim: g * exp(x - lse), g and lse (x's shape without
    axis dim) broadcast along it, one pass; with target and g_target (that shape too),
    g_target is subtracted at the targets in the same pass (the gradient of
    g lse - g_target x[target]: a cross-entropy's). lse None: g * softmax(x) with the
    exponentials shifted by the max (three passes over each block in cache instead of one):
    exact at any scale of x, where exp(x - lse) carries lse's rounding, an ulp of the largest x
    (float32 logits of scale 1000: 6e-5 relative). A slice holding +inf: NaN in the whole
    slice with lse None (inf - inf in the shift), NaN at the +inf entries only with lse given
    (torch's logsumexp backward); the cross-entropy that passes None is NaN there anyway."""
    op = "logsumexp_backward"
    g, x = dense(g, op, "g"), dense(x, op, "x")
    lse = None if lse is None else dense(lse, op, "lse")
    if not is_device_array(x):
        return _cpu.logsumexp_backward(g, x, lse, dim=dim, target=target, g_target=g_target)
    d = _device_dim(op, x, dim, "x")
    import cupy as xp  # noqa: PLC0415

    if lse is None:
        e = xp.exp(x - xp.max(x, axis=d, keepdims=True))
        dx = xp.expand_dims(g, d) * (e / xp.sum(e, axis=d, keepdims=True))
    else:
        dx = xp.expand_dims(g, d) * xp.exp(x - xp.expand_dims(lse, d))
    if (target is None) != (g_target is None):
        raise ValueError(f"{op}: target and g_target: expected both or neither")
    if target is not None:
        t = xp.expand_dims(_device_targets(op, target, lse.shape, x.shape[d], xp), d)
        at = xp.take_along_axis(dx, t, axis=d) - xp.expand_dims(g_target, d)
        xp.put_along_axis(dx, t, at, axis=d)
    return dx


def _device_targets(op: str, target: Any, shape: tuple[int, ...], c: int, xp: Any) -> Any:
    """target as int64 class indices of shape on the device, checked against [0, c)."""
    t = xp.asarray(target)
    if t.dtype != np.int64:
        raise TypeError(f"{op}: target: expected dtype int64 (class indices), got {t.dtype}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{op}: target: expected shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        raise ValueError(f"{op}: target: class indices out of range [0, {c})")
    return t


def _device_dim(op: str, x: Any, dim: int, name: str) -> int:
    """dim of x as a non-negative axis, with the CPU binding's errors."""
    nd = x.ndim
    if nd < 1:
        raise ValueError(f"{op}: {name}: expected at least 1 dimension, got a 0-d array")
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim: expected a dimension in [{-nd}, {nd - 1}], got {dim}")
    return dim % nd


# ----------------------------------------------------------------------------------------------
# losses: each returns (loss, gradient of the returned loss w.r.t. its first argument)


def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """(loss, dlogits) in one fused pass per row (max, log-sum-exp, loss, dlogits).

    logits: (N, C) float; target: (N,) integer class indices in [0, C) (ValueError otherwise).
    loss: 0-d for "mean"/"sum", (N,) for "none" (then dlogits is per row d loss_i / d logits_i).
    """
    op = "softmax_cross_entropy"
    logits, target = dense(logits, op, "logits"), labels(target, op)
    return _backend(op, logits, target).softmax_cross_entropy(
        logits, target, name(reduction, op, "reduction")
    )


def sum_of_squares(y: Any, t: Any) -> tuple[Any, Any]:
    """Bishop's E = 1/2 sum (y - t)^2 (0-d) and its delta dy = y - t."""
    op = "sum_of_squares"
    y, t = dense(y, op, "y"), dense(t, op, "t")
    return _backend(op, y, t).sum_of_squares(y, t)


def mse_loss(y: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """Mean (or sum, or elementwise) of (y - t)^2 and its gradient w.r.t. y."""
    op = "mse_loss"
    y, t = dense(y, op, "y"), dense(t, op, "t")
    return _backend(op, y, t).mse_loss(y, t, name(reduction, op, "reduction"))


def binary_cross_entropy(p: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on probabilities p in [0, 1] (each log clamped at -100, as torch) and d loss / dp."""
    op = "binary_cross_entropy"
    p, t = dense(p, op, "p"), dense(t, op, "t")
    return _backend(op, p, t).binary_cross_entropy(p, t, name(reduction, op, "reduction"))


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on logits, stable for any |z|: also the multi-label loss (z of shape (N, K), K
    independent sigmoid outputs). Returns (loss, dz) with dz = (sigmoid(z) - t) * scale."""
    op = "binary_cross_entropy_with_logits"
    z, t = dense(z, op, "z"), dense(t, op, "t")
    return _backend(op, z, t).binary_cross_entropy_with_logits(
        z, t, name(reduction, op, "reduction")
    )


# ----------------------------------------------------------------------------------------------
# fused linear layer


def linear_forward(
    x: Any, w: Any, b: Any = None, act: str = "identity", param: float = 0.0
) -> tuple[Any, Any]:
    """(y, z): y = act(x @ w.T + b) with bias and activation applied in the GEMM's epilogue.
    x (N, in), w (out, in), b (out,) or None. z (the pre-activation) is returned only when the
    activation's backward needs it (saves_input(act)); otherwise None."""
    r = _fast_linear_forward(x, w, b, act, param)  # dense numpy arrays: straight to the binding
    if r is not NotImplemented:
        return r
    op = "linear_forward"
    x, w = dense(x, op, "x"), dense(w, op, "w")
    if b is not None:
        b = dense(b, op, "b")
    return _backend(op, x, w, b).linear_forward(
        x, w, b, name(act, op, "act"), real(param, op, "param")
    )


def linear_backward(
    dy: Any,
    x: Any,
    w: Any,
    saved: Any,
    act: str,
    param: float = 0.0,
    need_dx: bool = True,
    has_bias: bool = True,
    *,
    dw: Any = None,
    db: Any = None,
) -> tuple[Any, Any, Any]:
    """(dx or None, dw, db or None) of y = act(x @ w.T + b). saved: z when saves_input(act),
    else y (identity needs neither: pass y or None).

    dw (and db, with has_bias): arrays to accumulate into instead of new ones: dw += dz.T @ x
    (one GEMM with beta = 1, no temporary) and db += the column sums; returned as given. The
    backward of F.linear passes a kept .grad here (zero_grad(set_to_none=False))."""
    r = _fast_linear_backward(dy, x, w, saved, act, param, need_dx, has_bias, dw, db)
    if r is not NotImplemented:
        return r
    op = "linear_backward"
    dy, x, w = dense(dy, op, "dy"), dense(x, op, "x"), dense(w, op, "w")
    if saved is not None:
        saved = dense(saved, op, "saved")
    backend = _backend(op, dy, x, w, saved)
    act, param = name(act, op, "act"), real(param, op, "param")
    need_dx, has_bias = flag(need_dx, op, "need_dx"), flag(has_bias, op, "has_bias")
    if dw is None and db is None:
        return backend.linear_backward(dy, x, w, saved, act, param, need_dx, has_bias)
    args = (dy, x, w, saved, act, param)
    if backend is cpu:  # the binding accumulates (and checks dw and db)
        return backend.linear_backward(*args, need_dx, has_bias, dw=dw, db=db)
    if dw is None or (db is None) == has_bias:
        raise ValueError(f"{op}: dw and db: give dw (and db when has_bias), or neither")
    dx, gw, gb = backend.linear_backward(*args, need_dx, has_bias)
    dw += gw
    if db is not None:
        db += gb
    return dx, dw, db


# ----------------------------------------------------------------------------------------------
# reductions


def _dense_order(x: Any) -> tuple[int, ...] | None:
    """The axis order in which a numpy array that is not C-contiguous is (x.transpose(order)
    is C-contiguous: a transposed or permuted array), or None (strided, broadcast, flipped)."""
    if type(x) is not np.ndarray or x.flags.c_contiguous or x.ndim < 2 or 0 in x.shape:
        return None
    order = tuple(sorted(range(x.ndim), key=lambda a: -x.strides[a]))
    return order if x.transpose(order).flags.c_contiguous else None


def _reduce(x: Any, axis: Any, keepdims: bool, mean: bool) -> Any:
    op = "mean" if mean else "sum"
    if getattr(x, "dtype", None) == np.float16:
        # as torch's CPU kernels: accumulated in float32 (the kernel's), rounded once
        with np.errstate(over="ignore"):  # inf past float16's range, silently as torch
            return _reduce(x.astype(np.float32), axis, keepdims, mean).astype(np.float16)
    keepdims = flag(keepdims, op, "keepdims")
    order = _dense_order(x)
    if order is not None and x.dtype in (np.float32, np.float64):
        # a permuted array (x.t(), a permute): reduce its buffer in memory order, the axes
        # mapped, instead of copying it to C order first (10x the time of the sum itself)
        axes = norm_axes(axis, x.ndim, op)
        inner = [order.index(a) for a in axes]
        y = _reduce(x.transpose(order), tuple(inner), True, mean)
        y = y.transpose(np.argsort(order))  # back to x's axis order (reduced axes are 1)
        kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        y = np.ascontiguousarray(y).reshape(kept)
        if keepdims:
            return y
        return y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
    x = float_input(x, op, "x")
    backend = _backend(op, x)
    axes = norm_axes(axis, x.ndim, op)
    kept_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    # Reduce each run of consecutive axes in one kernel call, the last run first so the axis
    # numbers of the earlier runs stay valid.
    runs: list[list[int]] = []
    for a in axes:
        if runs and runs[-1][-1] == a - 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    y = x
    count = 1
    for a in axes:
        count *= x.shape[a]
    for run in reversed(runs):
        y = backend.reduce_sum(y, run[0], run[-1] + 1, 1.0)
    if mean:  # the sum divided by the count, as torch (times a rounded 1 / count was 1 ulp
        if count:  # off in a third of float64 results)
            if y is x:  # no axes: nothing was reduced into a new array
                y = x.copy()
            y /= count  # (y is the kernel's new array: in place keeps a 0-d array 0-d)
        else:
            y = backend.reduce_sum(y.reshape(1, *y.shape), 0, 1, np.nan)
    if not axes and y is x:
        y = x.copy()
    return y.reshape(kept_shape) if keepdims else y


def _cumulative(x: Any, axis: int, prod: bool, reverse: bool) -> Any:
    op = "cumprod" if prod else "cumsum"
    if getattr(x, "dtype", None) == np.float16:  # accumulated in float32, as torch's
        with np.errstate(over="ignore"):
            return _cumulative(x.astype(np.float32), axis, prod, reverse).astype(np.float16)
    if is_device_array(x) or x.dtype not in (np.float32, np.float64) or not x.ndim:
        xp = np
        if is_device_array(x):
            import cupy as xp  # noqa: PLC0415
        if not x.ndim:
            return x.copy()
        a = norm_axes(axis, x.ndim, op)[0]
        f = xp.cumprod if prod else xp.cumsum
        return xp.flip(f(xp.flip(x, a), axis=a), a) if reverse else f(x, axis=a)
    a = norm_axes(axis, x.ndim, op)[0]
    return _cpu.cumulative(np.require(x, None, ["C", "A"]), a, prod=prod, reverse=reverse)


def flip(x: Any, dims: Any) -> Any:
    """A new C-contiguous array: x reversed along dims (distinct axes, negative ones counted
    from the end; torch.flip of an array). numpy arrays of 4- or 8-byte elements (float32 /
    float64, int32 / int64, complex64, ...) take the kernel (csrc/cpu/layout.h: each row of
    the last axis copied or reversed with a lane permute, from its mirrored source row, one
    pass); others, and cupy arrays, copy numpy's / cupy's flipped view."""
    nd = np.ndim(x)
    try:
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        raise TypeError(f"flip: dims: expected a sequence of ints, got {dims!r}") from None
    for d in dims:  # a 0-d x takes 0 and -1, as torch.flip
        if not -max(nd, 1) <= d < max(nd, 1):
            raise IndexError(
                f"flip: dims: expected dims in [{-max(nd, 1)}, {max(nd, 1) - 1}], got {d}"
            )
    dims = tuple(d % nd for d in dims) if nd else ()
    if len(set(dims)) != len(dims):
        raise ValueError(f"flip: dims: a dim appears multiple times in {dims}")
    if type(x) is np.ndarray and x.itemsize in (4, 8) and x.dtype.kind in "fiuc" and dims:
        return _cpu.flip(np.ascontiguousarray(x), list(dims))
    if is_device_array(x):
        import cupy as xp  # noqa: PLC0415
    else:
        xp = np
    # (a copy in every case: flipping only size-1 axes gives a view numpy calls contiguous)
    return xp.array(xp.flip(x, dims) if dims else x, order="C")


def cumsum(x: Any, axis: int, *, reverse: bool = False) -> Any:
    """Running sums along axis (from the last element when reverse: the adjoint of a cumsum),
    as numpy.cumsum. float32 / float64 numpy arrays take the kernel (csrc/cpu/reduce.h,
    cumulative_t), which accumulates in double as torch's CPU cumsum; other dtypes and cupy
    arrays numpy's / cupy's cumsum."""
    return _cumulative(x, axis, False, flag(reverse, "cumsum", "reverse"))


def cumprod(x: Any, axis: int, *, reverse: bool = False) -> Any:
    """Running products along axis (from the last element when reverse), as numpy.cumprod;
    the kernel and its double accumulator as cumsum's."""
    return _cumulative(x, axis, True, flag(reverse, "cumprod", "reverse"))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over axis (None: all; an int or a tuple of ints), as numpy.sum."""
    return _reduce(x, axis, keepdims, False)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over axis (None: all; an int or a tuple of ints), as numpy.mean (NaN when empty)."""
    return _reduce(x, axis, keepdims, True)


def sum_to_shape(g: Any, shape: Any) -> Any:
    """The gradient of broadcasting an array of `shape` to g.shape: g summed over the leading
    axes it has in excess and over the axes where shape has 1, reshaped to shape."""
    op = "sum_to_shape"
    g = float_input(g, op, "g")
    shape = shape_arg(shape, op)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"{op}: shape: {shape} has more dimensions than the gradient {g.shape}")
    for i, s in enumerate(shape):
        if s != 1 and g.shape[lead + i] != s:
            raise ValueError(
                f"{op}: shape: expected a shape that broadcasts to the gradient "
                f"{g.shape}, got {shape}: it does not broadcast"
            )
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    if not axes:
        return g.reshape(shape).copy()
    return sum(g, axis=axes).reshape(shape)


def index_add(x: Any, dim: int, index: Any, source: Any, *, out: Any = None) -> Any:
    """x with source's slices added along dim at index, as torch.index_add:
    out[..., index[j], ...] = x[..., index[j], ...] + source[..., j, ...], repeated indices
    accumulating in increasing j (np.add.at's order: the same bits on any thread count). This
    is the adjoint of a take along dim (embedding's and x[idx]'s backward). x and source:
    float32 / float64 of one dtype and the same shape except along dim, where source has
    index.size entries; index: 1-D integers in [0, x.shape[dim]) (IndexError otherwise).
    out: None (a new array), x itself (in place) or an array of x's shape and dtype."""
    op = "index_add"
    if is_device_array(x):  # cupy: its atomic scatter-add (the order of the additions varies)
        import cupy  # noqa: PLC0415
        import cupyx  # noqa: PLC0415

        d = norm_axes(dim, x.ndim, op)[0]
        result = x.copy() if out is None else out
        if result is not x:
            result[...] = x
        idx = cupy.asarray(index).astype(cupy.int64).reshape(-1)
        cupyx.scatter_add(result, (slice(None),) * d + (idx,), source)
        return result
    given = x
    x = float_input(x, op, "x")
    if x.ndim == 0:
        raise ValueError(f"{op}: x: expected at least 1 dimension, got a 0-d array")
    d = norm_axes(dim, x.ndim, op)[0]
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise TypeError(
            f"{op}: index: expected a 1-D integer array, got {idx.ndim}-D of dtype {idx.dtype}"
        )
    idx = np.ascontiguousarray(idx.reshape(-1), dtype=np.int64)
    src = float_input(source, op, "source")
    if out is None:
        out = x.copy() if x is given else x  # float_input already made a copy
    elif out is given:
        if x is not given:
            raise ValueError(f"{op}: out: in place (out=x) needs a C-contiguous x")
    else:
        if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
            raise ValueError(
                f"{op}: out: expected an array of x's shape {x.shape} and dtype {x.dtype}"
            )
        np.copyto(out, x)
    cpu.index_add_(out, d, idx, src)
    return out


def index_add_(out: Any, dim: int, index: Any, source: Any) -> Any:
    """In place: out[..., index[j], ...] += source[..., j, ...] along dim, for the callers
    that accumulate gradients (embedding's, x[idx]'s, pdist's backward); returns out. A
    C-contiguous float32 / float64 numpy out takes the kernel (index_add); other dtypes and
    layouts np.add.at (the same order, so the same bits); a cupy out cupyx.scatter_add."""
    if type(out) is np.ndarray:
        if out.dtype in (np.float32, np.float64) and out.flags.c_contiguous and out.ndim:
            return index_add(out, dim, index, source, out=out)
        d = norm_axes(dim, max(out.ndim, 1), "index_add_")[0]
        idx = np.asarray(index)
        _check_index_range("index_add", idx, out.shape[d] if out.ndim else 1, d)
        np.add.at(out, (slice(None),) * d + (idx,), source)
        return out
    return index_add(out, dim, index, source, out=out)


_SCATTER_UFUNCS = {"sum": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _check_index_range(op: str, idx: Any, n: int, d: int) -> None:
    """The kernels' IndexError for an index outside [0, n) along dim d, on the np.<ufunc>.at
    paths too (ufunc.at would wrap a negative index silently)."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise IndexRangeError(f"{op}: index: {bad} is out of range [0, {n}) for dim {d}")


def index_reduce_(out: Any, dim: int, index: Any, source: Any, reduce: str) -> Any:
    """In place: out[..., index[j], ...] = reduce(that, source[..., j, ...]) along dim, a 1-d
    index (torch's index_reduce_ with include_self=True; "sum" is index_add_); reduce: "sum",
    "prod", "amax" or "amin"; returns out. Repeated indices take their slices in increasing
    j: the bits of np.<ufunc>.at on any thread count. A C-contiguous float32 / float64 numpy
    out takes the kernel (csrc/cpu/reduce.h, index_reduce_op); other dtypes and layouts
    np.<ufunc>.at; cupy arrays go through the host."""
    op = "index_reduce_"
    if reduce not in _SCATTER_UFUNCS:
        raise ValueError(f"{op}: reduce: expected one of {sorted(_SCATTER_UFUNCS)}, got {reduce!r}")
    if reduce == "sum":
        return index_add_(out, dim, index, source)
    if is_device_array(out):
        import cupy  # noqa: PLC0415

        host = cupy.asnumpy(out)
        index_reduce_(host, dim, cupy.asnumpy(index), cupy.asnumpy(source), reduce)
        out[...] = cupy.asarray(host)
        return out
    d = norm_axes(dim, out.ndim, op)[0]
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise TypeError(
            f"{op}: index: expected a 1-D integer array, got {idx.ndim}-D of dtype {idx.dtype}"
        )
    kernel = out.dtype in (np.float32, np.float64) and out.flags.c_contiguous and out.flags.aligned
    if kernel and np.asarray(source).dtype == out.dtype:
        idx = np.require(idx.reshape(-1), np.int64, ["C", "A"])
        cpu.index_add_(out, d, idx, np.require(source, out.dtype, ["C", "A"]), reduce)
        return out
    _check_index_range("index_reduce", idx, out.shape[d], d)
    with np.errstate(all="ignore"):
        getattr(np, _SCATTER_UFUNCS[reduce]).at(
            out, (slice(None),) * d + (idx.reshape(-1),), source
        )
    return out


def scatter_reduce_(out: Any, dim: int, index: Any, src: Any, reduce: str) -> Any:
    """In place: out[..., index[..., j, ...], ...] = reduce(that, src[..., j, ...]) along dim,
    an index per element as torch's scatter_reduce_ (include_self=True) and scatter_add_;
    reduce: "sum", "prod", "amax" or "amin"; returns out. index: integers in
    [0, out.shape[dim]) (IndexError otherwise), of out's ndim and no larger than out apart
    from dim; src: at least index's shape (only its leading index.shape block is used).
    Repeated destinations take their elements in index order: the bits of np.<ufunc>.at, on
    any thread count. A float32 / float64 numpy out takes the kernel (scatter_reduce),
    through a contiguous copy of the block index covers when out is not C-contiguous or index
    is smaller than out in another axis; other dtypes np.<ufunc>.at; cupy arrays go through
    the host (cupy's ufunc.at covers few ufuncs)."""
    op = "scatter_reduce_"
    if reduce not in _SCATTER_UFUNCS:
        raise ValueError(f"{op}: reduce: expected one of {sorted(_SCATTER_UFUNCS)}, got {reduce!r}")
    if is_device_array(out):
        import cupy  # noqa: PLC0415

        host = cupy.asnumpy(out)
        scatter_reduce_(host, dim, cupy.asnumpy(index), cupy.asnumpy(src), reduce)
        out[...] = cupy.asarray(host)
        return out
    d = norm_axes(dim, out.ndim, op)[0]
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim != out.ndim:
        raise TypeError(
            f"{op}: index: expected an integer array of out's ndim {out.ndim}, got "
            f"{idx.ndim}-D of dtype {idx.dtype}"
        )
    src = np.asarray(src)
    if src.ndim != idx.ndim or any(a > b for a, b in zip(idx.shape, src.shape)):
        raise ValueError(f"{op}: src: expected at least index's shape {idx.shape}, got {src.shape}")
    if any(a > b for k, (a, b) in enumerate(zip(idx.shape, out.shape)) if k != d):
        raise ValueError(
            f"{op}: index: expected no larger than out {out.shape} apart from dim {d}, got "
            f"{idx.shape}"
        )
    cut = src[tuple(slice(0, m) for m in idx.shape)]
    if out.dtype not in (np.float32, np.float64) or cut.dtype != out.dtype:
        _check_index_range("scatter_reduce", idx, out.shape[d], d)
        grids = tuple(
            idx if k == d else np.arange(m).reshape([m if j == k else 1 for j in range(idx.ndim)])
            for k, m in enumerate(idx.shape)
        )
        with np.errstate(all="ignore"):
            getattr(np, _SCATTER_UFUNCS[reduce]).at(out, grids, cut)
        return out
    block = tuple(slice(None) if k == d else slice(0, m) for k, m in enumerate(idx.shape))
    target = out[block]
    direct = target.shape == out.shape and out.flags.c_contiguous and out.flags.aligned
    work = out if direct else np.require(target, None, ["C", "A"])
    _cpu.scatter_reduce_(
        work,
        d,
        np.require(idx, np.int64, ["C", "A"]),
        np.require(cut, None, ["C", "A"]),
        reduce,
    )
    if not direct:
        target[...] = work
    return out


# ----------------------------------------------------------------------------------------------
# optimizer updates: one pass over each parameter, in place


def sgd_update(
    param: Any,
    grad: Any,
    buf: Any,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    dampening: float = 0.0,
    first_step: bool = False,
) -> None:
    """One torch.optim.SGD step, in place: g = grad + weight_decay * param; with momentum,
    buf = momentum * buf + (1 - dampening) * g (buf = g when first_step, as torch's first
    step), g = g + momentum * buf (nesterov) or buf; param -= lr * g. buf may be None when
    momentum == 0. param, grad, buf: C-contiguous arrays of one shape and dtype."""
    op = "sgd_update"
    grad = dense(grad, op, "grad")  # an input: a view is copied; param and buf are in place
    return _backend(op, param, grad, buf).sgd_update(
        param,
        grad,
        buf,
        lr=real(lr, op, "lr"),
        momentum=real(momentum, op, "momentum"),
        weight_decay=real(weight_decay, op, "weight_decay"),
        nesterov=flag(nesterov, op, "nesterov"),
        dampening=real(dampening, op, "dampening"),
        first_step=flag(first_step, op, "first_step"),
    )


def adam_update(
    param: Any,
    grad: Any,
    m: Any,
    v: Any,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> None:
    """One torch.optim.Adam step (decoupled=True: AdamW), in place on param, m and v; step
    counts from 1."""
    op = "adam_update"
    grad = dense(grad, op, "grad")  # an input: a view is copied; param, m and v are in place
    return _backend(op, param, grad, m, v).adam_update(
        param,
        grad,
        m,
        v,
        step=check_step(step, op),
        lr=real(lr, op, "lr"),
        beta1=real(beta1, op, "beta1"),
        beta2=real(beta2, op, "beta2"),
        eps=real(eps, op, "eps"),
        weight_decay=real(weight_decay, op, "weight_decay"),
        decoupled=flag(decoupled, op, "decoupled"),
    )


# ----------------------------------------------------------------------------------------------
# convolution (CPU only for now: the CUDA kernels come later)


def _cpu_only(op: str, *arrays: Any) -> None:
    """The CNN ops (convolution, pooling, normalization) have CPU kernels only so far: a device
    array (cupy) is a NotImplementedError naming the op; None entries are skipped. An object
    whose __cuda_array_interface__ describes no array is a TypeError first (check_device_array),
    as in the ops with CUDA kernels."""
    for i, a in enumerate(arrays):
        if a is not None and type(a) is not np.ndarray and is_device_array(a):
            check_device_array(a, op, f"argument {i}")
            raise NotImplementedError(
                f"{op}: not implemented for CUDA (cupy) arrays yet; move the tensors to the CPU"
            )


def _conv_backend(op: str, *arrays: Any) -> Any:
    _cpu_only(op, *arrays)
    backend = _backend(op, *arrays)
    if not hasattr(backend, "conv2d_forward"):
        raise NotImplementedError(
            f"{op}: not implemented for {type(arrays[0]).__module__}.{type(arrays[0]).__name__} "
            "arrays on this backend yet (the CPU kernels take numpy arrays)"
        )
    return backend


def conv2d_forward(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Any:
    """y (N, O, Ho, Wo) = conv2d(input (N, C, H, W), weight (O, C / groups, kH, kW)) + bias
    (O,) or None, zero padding; stride, padding, dilation: an int or a pair (torch's
    conv2d with padding as ints)."""
    op = "conv2d"
    x, w = dense(input, op, "input"), dense(weight, op, "weight")
    if bias is not None:
        bias = dense(bias, op, "bias")
    return _conv_backend(op, x, w, bias).conv2d_forward(
        x, w, bias, stride, padding, dilation, groups
    )


def conv2d_backward(
    grad_output: Any,
    input: Any,  # noqa: A002
    weight: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any, Any, Any]:
    """(grad_input or None, grad_weight or None, grad_bias or None) of conv2d_forward; only
    the gradients asked for are computed."""
    op = "conv2d_backward"
    dy = dense(grad_output, op, "grad_output")
    x, w = dense(input, op, "input"), dense(weight, op, "weight")
    need = [
        flag(v, op, k)
        for k, v in (("need_dx", need_dx), ("need_dw", need_dw), ("need_db", need_db))
    ]
    return _conv_backend(op, dy, x, w).conv2d_backward(
        dy, x, w, stride, padding, dilation, groups, *need
    )


__all__ += ["conv2d_forward", "conv2d_backward"]
# 2-D pooling over (N, C, H, W) or (C, H, W) arrays (cpu/pool.h). kernel_size, stride, padding,
# dilation, output_size: an int or a pair; stride None means the kernel size. The CPU only:
# a device array is a NotImplementedError naming the op.

from . import _cpu as _pool_cpu  # noqa: E402  (the pooling kernels: CPU only for now)


def _pool_input(x: Any, op: str, name: str = "x") -> tuple[Any, bool]:
    """x as a dense 4-D array, and whether it came unbatched (C, H, W)."""
    _cpu_only(op, x)
    x = dense(x, op, name)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(
            f"{op}: {name}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) array, got shape {x.shape}"
        )
    return x, False


def _pool_out(out: Any, unbatched: bool) -> Any:
    return out[None] if unbatched and out is not None else out


def _pool_backward_args(
    dy: Any, saved: Any, input_shape: Any, op: str, name: str
) -> tuple[Any, Any, tuple[int, ...], bool]:
    """A pooling backward's dy (4-D), what its forward saved (indices or codes; a copy of a
    view, 4-D where the input came unbatched), input_shape (4 sizes) and whether unbatched."""
    dy4, _ = _pool_input(dy, op, "dy")
    _cpu_only(op, saved)
    shape, unbatched = _pool_shape(input_shape, op)
    sv = dense(saved, op, name)  # a view copied (a 0-d array stays 0-d), never huge
    if unbatched and sv.ndim == 3:
        sv = sv[None]
    return dy4, sv, shape, unbatched


def _pool_shape(shape: Any, op: str) -> tuple[tuple[int, ...], bool]:
    shape = shape_arg(shape, op)
    if len(shape) == 3:
        return (1, *shape), True
    if len(shape) != 4:
        raise ValueError(f"{op}: input_shape: expected 3 or 4 sizes, got {shape}")
    return tuple(shape), False


def max_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    out: Any = None,
    indices_out: Any = None,
) -> Any:
    """Max pooling (torch.nn.functional.max_pool2d): y, or (y, indices) with return_indices;
    indices are int64 flat positions in each H*W plane. A NaN in a window wins. out /
    indices_out: preallocated C-contiguous outputs (float of x's dtype, int64)."""
    op = "max_pool2d"
    x4, unbatched = _pool_input(x, op)
    return_indices = flag(return_indices, op, "return_indices")
    r = _pool_cpu.max_pool2d(
        x4,
        kernel_size,
        stride,
        padding,
        dilation,
        flag(ceil_mode, op, "ceil_mode"),
        return_indices,
        out=_pool_out(out, unbatched),
        indices_out=_pool_out(indices_out, unbatched),
    )
    if unbatched:
        return (r[0][0], r[1][0]) if return_indices else r[0]
    return r


def max_pool2d_backward(
    dy: Any,
    indices: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
) -> Any:
    """dx (of input_shape) of max_pool2d: each dy added at its index (into out if given)."""
    op = "max_pool2d_backward"
    dy4, idx, shape, unbatched = _pool_backward_args(dy, indices, input_shape, op, "indices")
    dx = _pool_cpu.max_pool2d_backward(
        dy4,
        idx,
        shape,
        kernel_size,
        stride,
        padding,
        dilation,
        flag(ceil_mode, op, "ceil_mode"),
        out=_pool_out(out, unbatched),
    )
    return dx[0] if unbatched else dx


def max_pool2d_train(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
    saved_out: Any = None,
) -> Any:
    """max_pool2d for training: (y, saved), saved what max_pool2d_train_backward needs. For 2x2
    windows at stride 2 (the common layer) on an AVX2 or AVX-512 CPU, a uint8 window code per
    output (the maximum's position in its window, 0-3 row by row: 1 byte where an index takes
    8); elsewhere torch's int64 flat indices, as max_pool2d(return_indices=True) gives.
    out / saved_out: preallocated outputs; a uint8 saved_out asks for codes (a ValueError where
    there are none), an int64 one for indices."""
    op = "max_pool2d_train"
    x4, unbatched = _pool_input(x, op)
    y, saved = _pool_cpu.max_pool2d_train(
        x4,
        kernel_size,
        stride,
        padding,
        dilation,
        flag(ceil_mode, op, "ceil_mode"),
        out=_pool_out(out, unbatched),
        saved_out=_pool_out(saved_out, unbatched),
    )
    return (y[0], saved[0]) if unbatched else (y, saved)


def max_pool2d_train_backward(
    dy: Any,
    saved: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    out: Any = None,
) -> Any:
    """dx (of input_shape) of max_pool2d_train from the `saved` it returned (into out if
    given): dy at each window's maximum, zeros elsewhere."""
    op = "max_pool2d_train_backward"
    dy4, sv, shape, unbatched = _pool_backward_args(dy, saved, input_shape, op, "saved")
    dx = _pool_cpu.max_pool2d_train_backward(
        dy4,
        sv,
        shape,
        kernel_size,
        stride,
        padding,
        dilation,
        flag(ceil_mode, op, "ceil_mode"),
        out=_pool_out(out, unbatched),
    )
    return dx[0] if unbatched else dx


def avg_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
    *,
    out: Any = None,
) -> Any:
    """Average pooling (torch.nn.functional.avg_pool2d), torch's divisors."""
    op = "avg_pool2d"
    x4, unbatched = _pool_input(x, op)
    y = _pool_cpu.avg_pool2d(
        x4,
        kernel_size,
        stride,
        padding,
        flag(ceil_mode, op, "ceil_mode"),
        flag(count_include_pad, op, "count_include_pad"),
        divisor_override,
        out=_pool_out(out, unbatched),
    )
    return y[0] if unbatched else y


def avg_pool2d_backward(
    dy: Any,
    input_shape: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
    *,
    out: Any = None,
) -> Any:
    """dx (of input_shape) of avg_pool2d."""
    op = "avg_pool2d_backward"
    dy4, _ = _pool_input(dy, op, "dy")
    shape, unbatched = _pool_shape(input_shape, op)
    dx = _pool_cpu.avg_pool2d_backward(
        dy4,
        shape,
        kernel_size,
        stride,
        padding,
        flag(ceil_mode, op, "ceil_mode"),
        flag(count_include_pad, op, "count_include_pad"),
        divisor_override,
        out=_pool_out(out, unbatched),
    )
    return dx[0] if unbatched else dx


def adaptive_avg_pool2d(x: Any, output_size: Any, *, out: Any = None) -> Any:
    """Adaptive average pooling to output_size (a pair of ints; resolve None entries first),
    torch's windows [floor(i * H / OH), ceil((i + 1) * H / OH))."""
    op = "adaptive_avg_pool2d"
    x4, unbatched = _pool_input(x, op)
    y = _pool_cpu.adaptive_avg_pool2d(x4, output_size, out=_pool_out(out, unbatched))
    return y[0] if unbatched else y


def adaptive_avg_pool2d_backward(dy: Any, input_shape: Any, *, out: Any = None) -> Any:
    """dx (of input_shape) of adaptive_avg_pool2d; the output size is dy's."""
    op = "adaptive_avg_pool2d_backward"
    dy4, _ = _pool_input(dy, op, "dy")
    shape, unbatched = _pool_shape(input_shape, op)
    dx = _pool_cpu.adaptive_avg_pool2d_backward(dy4, shape, out=_pool_out(out, unbatched))
    return dx[0] if unbatched else dx


def adaptive_max_pool2d(
    x: Any, output_size: Any, *, out: Any = None, indices_out: Any = None
) -> tuple[Any, Any]:
    """Adaptive max pooling to output_size (a pair of ints; resolve None entries first), torch's
    windows and winners (the last NaN, else the first maximum in row-major order): (y, the int64
    flat index of each maximum in its H*W plane)."""
    op = "adaptive_max_pool2d"
    x4, unbatched = _pool_input(x, op)
    y, idx = _pool_cpu.adaptive_max_pool2d(
        x4,
        output_size,
        out=_pool_out(out, unbatched),
        indices_out=_pool_out(indices_out, unbatched),
    )
    return (y[0], idx[0]) if unbatched else (y, idx)


def adaptive_max_pool2d_backward(
    dy: Any, indices: Any, input_shape: Any, *, out: Any = None
) -> Any:
    """dx (of input_shape) of adaptive_max_pool2d: dy summed at the indices it returned, zeros
    elsewhere (an index outside its window: ValueError); the output size is dy's."""
    op = "adaptive_max_pool2d_backward"
    dy4, ix, shape, unbatched = _pool_backward_args(dy, indices, input_shape, op, "indices")
    dx = _pool_cpu.adaptive_max_pool2d_backward(dy4, ix, shape, out=_pool_out(out, unbatched))
    return dx[0] if unbatched else dx


__all__ += [
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_train",
    "max_pool2d_train_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
]
# normalization: fused batch norm over (N, C, *), layer norm over the last dimensions and group
# norm over (N, C, *) in groups (CPU kernels only so far: cupy arrays raise NotImplementedError;
# not in __all__, the contract the CUDA backend implements, until the CUDA kernels exist)

from . import _cpu  # noqa: E402


def _norm_host(op: str, *arrays: Any) -> Any:
    """The _cpu module for numpy arrays (also under a host-backend override: the emulated
    CUDA backend has no normalization kernels); NotImplementedError for device arrays."""
    _cpu_only(op, *arrays)
    return _cpu


_NORM_OPTIONAL = ("weight", "bias")


def _norm_inputs(op: str, **arrays: Any) -> list[Any]:
    """The float arrays the kernels read (views copied); weight and bias may be None."""
    return [
        None if a is None and k in _NORM_OPTIONAL else float_input(a, op, k)
        for k, a in arrays.items()
    ]


def _norm_needs(op: str, need_dx: Any, need_dweight: Any, need_dbias: Any) -> list[bool]:
    return [
        flag(v, op, k)
        for k, v in (
            ("need_dx", need_dx),
            ("need_dweight", need_dweight),
            ("need_dbias", need_dbias),
        )
    ]


def _norm_disjoint(op: str, written: dict[str, Any], read: dict[str, Any]) -> None:
    """Each array a norm kernel writes (out, the running statistics) must not share memory with
    the small arrays it reads meanwhile (weight, bias, the statistics) nor with another one it
    writes: the kernels read those while the outputs fill, so an overlap gave silently wrong
    results. (out against x and dy, where exactly x is allowed, is the binding's check.)"""
    items = [(k, a) for k, a in written.items() if isinstance(a, np.ndarray)]
    others = [(k, a) for k, a in read.items() if isinstance(a, np.ndarray)]
    for i, (k, a) in enumerate(items):
        for k2, b in items[i + 1 :] + others:
            if np.may_share_memory(a, b):
                raise ValueError(f"{op}: {k}: shares memory with {k2}; pass separate arrays")


def batch_norm_forward(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    running_mean: Any = None,
    running_var: Any = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """Batch normalization of x (N, C, *) per channel (dimension 1): (y, mean, invstd).

    training: the batch's mean and biased variance (one pass of shifted sums, accumulated in
    double), invstd = 1 / sqrt(var + eps); running_mean / running_var (both or neither,
    updated IN PLACE) become (1 - momentum) * running + momentum * batch, the variance
    unbiased (count / (count - 1)). training=False: mean and invstd from the running
    statistics (required). Then y = (x - mean) * scale + bias, scale = weight * invstd
    (weight, bias: None or (C,); None: 1 and 0). mean and invstd, (C,), feed the backward.
    out: None (a new y) or an array of x's shape and dtype to write y into (x itself, or
    memory disjoint from it)."""
    op = "batch_norm_forward"
    mod = _norm_host(op, x, weight, bias, running_mean, running_var)
    x, weight, bias = _norm_inputs(op, x=x, weight=weight, bias=bias)
    _norm_disjoint(
        op,
        {"out": out, "running_mean": running_mean, "running_var": running_var},
        {"weight": weight, "bias": bias},
    )
    return mod.batch_norm_forward(
        x,
        weight,
        bias,
        running_mean,
        running_var,
        flag(training, op, "training"),
        real(momentum, op, "momentum"),
        real(eps, op, "eps"),
        out,
    )


def batch_norm_backward(
    dy: Any,
    x: Any,
    weight: Any,
    mean: Any,
    invstd: Any,
    *,
    training: bool = True,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """(dx, dweight, dbias) of batch_norm_forward from its mean and invstd (None where not
    asked for). One pass for sum(dy) and sum(dy * xhat) per channel (dbias, dweight), one for
    dx: training, dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval, the
    affine-only dx = weight * invstd * dy. out: None or an array for dx (as the forward's)."""
    op = "batch_norm_backward"
    mod = _norm_host(op, dy, x, weight, mean, invstd)
    dy, x, weight, mean, invstd = _norm_inputs(
        op, dy=dy, x=x, weight=weight, mean=mean, invstd=invstd
    )
    _norm_disjoint(op, {"out": out}, {"weight": weight, "mean": mean, "invstd": invstd})
    return mod.batch_norm_backward(
        dy,
        x,
        weight,
        mean,
        invstd,
        flag(training, op, "training"),
        *_norm_needs(op, need_dx, need_dweight, need_dbias),
        out,
    )


def group_norm_forward(
    x: Any,
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    *,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """Group normalization of x (N, C, *): the C channels in num_groups groups, each sample's
    group normalized by its mean and biased variance, then weight * x_hat + bias per channel
    (weight, bias: None or of shape (C,)). Returns (y, mean, rstd), mean and rstd of shape
    (N, num_groups). One fused kernel: per group one pass for the statistics (shifted sums in
    double), one for the normalize + affine. out: None or an array for y."""
    op = "group_norm_forward"
    mod = _norm_host(op, x, weight, bias)
    x, weight, bias = _norm_inputs(op, x=x, weight=weight, bias=bias)
    _norm_disjoint(op, {"out": out}, {"weight": weight, "bias": bias})
    return mod.group_norm_forward(x, num_groups, weight, bias, real(eps, op, "eps"), out)


def group_norm_backward(
    dy: Any,
    x: Any,
    num_groups: int,
    weight: Any,
    mean: Any,
    rstd: Any,
    *,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """(dx, dweight, dbias) of group_norm_forward from its mean and rstd (None where not asked
    for): per group dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight;
    dweight = sum over samples and positions of dy * xhat, dbias = sum of dy (in double, in
    sample order: the same on any thread count). out: None or an array for dx."""
    op = "group_norm_backward"
    mod = _norm_host(op, dy, x, weight, mean, rstd)
    dy, x, weight, mean, rstd = _norm_inputs(op, dy=dy, x=x, weight=weight, mean=mean, rstd=rstd)
    _norm_disjoint(op, {"out": out}, {"weight": weight, "mean": mean, "rstd": rstd})
    return mod.group_norm_backward(
        dy,
        x,
        num_groups,
        weight,
        mean,
        rstd,
        *_norm_needs(op, need_dx, need_dweight, need_dbias),
        out,
    )


def _normalized_ndim(x: Any, normalized_shape: Any, op: str) -> int:
    shape = shape_arg(normalized_shape, op)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != tuple(shape):
        raise ValueError(
            f"{op}: normalized_shape: expected the last dimensions of x {x.shape}, got "
            f"{tuple(shape)}"
        )
    return k


def layer_norm_forward(
    x: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    *,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """Layer normalization over the last len(normalized_shape) dimensions of x: (y, mean,
    rstd), mean and rstd of shape x.shape[:-len(normalized_shape)]. Per row: one pass for the
    statistics (shifted sums in double), one for y = (x - mean) * rstd * weight + bias
    (weight, bias: None or of shape normalized_shape). out: None or an array for y."""
    op = "layer_norm_forward"
    mod = _norm_host(op, x, weight, bias)
    x, weight, bias = _norm_inputs(op, x=x, weight=weight, bias=bias)
    _norm_disjoint(op, {"out": out}, {"weight": weight, "bias": bias})
    k = _normalized_ndim(x, normalized_shape, op)
    return mod.layer_norm_forward(x, k, weight, bias, real(eps, op, "eps"), out)


def layer_norm_backward(
    dy: Any,
    x: Any,
    normalized_shape: Any,
    weight: Any,
    mean: Any,
    rstd: Any,
    *,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """(dx, dweight, dbias) of layer_norm_forward from its mean and rstd (None where not
    asked for): dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) per row, g = dy * weight;
    dweight = sum over rows of dy * xhat, dbias = sum of dy (float partials per chunk of at
    most 64 rows, added in double in a fixed order: the same on any thread count). out: None
    or an array for dx."""
    op = "layer_norm_backward"
    mod = _norm_host(op, dy, x, weight, mean, rstd)
    dy, x, weight, mean, rstd = _norm_inputs(op, dy=dy, x=x, weight=weight, mean=mean, rstd=rstd)
    _norm_disjoint(op, {"out": out}, {"weight": weight, "mean": mean, "rstd": rstd})
    k = _normalized_ndim(x, normalized_shape, op)
    return mod.layer_norm_backward(
        dy, x, k, weight, mean, rstd, *_norm_needs(op, need_dx, need_dweight, need_dbias), out
    )
