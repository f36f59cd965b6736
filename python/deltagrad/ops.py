"""Stateless array ops backed by the compiled kernels.

numpy arrays in -> numpy arrays out (CPU kernels); cupy arrays in -> cupy arrays out (CUDA
kernels). Every op validates its arguments in the binding and raises TypeError / ValueError
naming the argument; the GIL is released while a kernel runs. The NumPy float64 reference of
each op has the same name and signature in deltagrad.reference.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _cpu
from ._backend import backend_for, host_backend_override, is_cuda_array

__all__ = [
    "ACTIVATIONS", "matmul", "activation", "activation_backward", "softmax", "log_softmax",
    "softmax_backward", "log_softmax_backward", "softmax_cross_entropy", "sum_of_squares",
    "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "linear_forward",
    "linear_backward", "sum", "mean", "sum_to_shape", "sgd_update", "adam_update",
    "saves_input", "set_allow_tf32",
]

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh",
               "softplus", "silu")
_SAVES_INPUT = ("leaky_relu", "gelu", "gelu_tanh", "softplus", "silu")


def saves_input(act: str) -> bool:
    """True when act's backward needs its input x (or z); False when it needs its output y."""
    if act not in ACTIVATIONS:
        raise ValueError(f"act: expected one of {ACTIVATIONS}, got {act!r}")
    return act in _SAVES_INPUT


def _operand(x: Any, name: str) -> Any:
    """An input the kernels can read through its strides: device arrays pass through; other
    array-likes become numpy arrays; views the kernels cannot address (byte strides that are not
    a multiple of the item size, misaligned data) are copied explicitly."""
    if is_cuda_array(x):
        return x
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype in (np.float32, np.float64) and (
        not x.flags.aligned or any(s % x.itemsize for s in x.strides)
    ):
        x = np.array(x, order="C")
    return x


def _dense(x: Any, name: str) -> Any:
    """An input for the kernels that read memory linearly: a C-contiguous copy is made
    explicitly when x is a non-contiguous view (never read wrongly)."""
    if is_cuda_array(x):
        return x
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not x.flags.c_contiguous or not x.flags.aligned:
        x = np.array(x, order="C")  # not ascontiguousarray: that turns a 0-d array into 1-d
    return x


def _labels(target: Any) -> Any:
    """Class indices as int64 (other integer dtypes are converted explicitly); floats and
    bools are a TypeError (a float label is almost always a bug upstream)."""
    if is_cuda_array(target):
        return target
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected an integer array of class indices, got dtype {t.dtype}")
    if t.dtype != np.int64:
        if t.dtype.kind == "u" and t.size and int(t.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"target: class index {int(t.max())} is out of range")
        t = t.astype(np.int64)
    if not t.flags.c_contiguous or not t.flags.aligned:
        t = np.array(t, order="C")  # not ascontiguousarray: a 0-d target must stay 0-d
    return t


def _backend(*arrays: Any) -> Any:
    return backend_for(*arrays)


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

    a, b: 2-D float32 or float64 arrays of one dtype, any strides. out: None (a new array;
    beta must then be 0) or a writable array of shape (m, n) and the same dtype, which may
    share memory with a or b. With beta == 0 the values in out are not read.

    precision: None (the global flag, see set_allow_tf32), "fp32" or "tf32". "tf32" permits
    float32 GPU products on TF32 tensor cores (like torch's allow_tf32); it is a permission,
    not a demand: the CPU and float64 always compute in full precision.
    """
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"precision: expected None or one of "
                         f"{sorted(k for k in MATMUL_PRECISIONS if k)}, got {precision!r}")
    if (type(a) is np.ndarray and type(b) is np.ndarray and (out is None or type(out) is np.ndarray)
            and host_backend_override() is None):
        # the common case, straight to the CPU kernel (which copies misaligned views itself)
        return _cpu.matmul(a, b, trans_a, trans_b, alpha, beta, out)  # positional: faster
    a = _operand(a, "a")
    b = _operand(b, "b")
    backend = backend_for(a, b, out)
    kwargs = {} if backend is _cpu else {"precision": precision}
    return backend.matmul(
        a, b, trans_a=bool(trans_a), trans_b=bool(trans_b), alpha=float(alpha),
        beta=float(beta), out=out, **kwargs,
    )


# precision name -> 1 when float32 GPU products may use TF32, 0 when not, None: the global flag
# (set_allow_tf32). The torch-style names "highest" / "high" are accepted as aliases.
MATMUL_PRECISIONS = {None: None, "fp32": 0, "float32": 0, "highest": 0, "ieee": 0, "tf32": 1,
                     "high": 1}


def set_allow_tf32(flag: bool) -> None:
    """Let float32 matmuls on the GPU use TF32 tensor cores when precision=None (default off)."""
    from ._cuda_ops import set_allow_tf32 as _set

    _set(flag)


# ----------------------------------------------------------------------------------------------
# activations


def activation(x: Any, act: str, *, param: float = 0.0, out: Any = None) -> Any:
    """y = act(x) elementwise (any shape). act is one of ACTIVATIONS; param is leaky_relu's
    negative slope. out: a writable array of x's shape and dtype; it may be x itself (in place)
    but must not otherwise overlap x."""
    x = _dense(x, "x")
    return _backend(x, out).activation(x, str(act), param=float(param), out=out)


def activation_backward(dy: Any, saved: Any, act: str, *, param: float = 0.0,
                        out: Any = None) -> Any:
    """dx = dy * act'(x). ``saved`` is y = act(x) for identity, relu, sigmoid and tanh, and the
    input x for leaky_relu, gelu, gelu_tanh, softplus and silu (see saves_input). out may be
    dy."""
    dy, saved = _dense(dy, "dy"), _dense(saved, "saved")
    return _backend(dy, saved, out).activation_backward(dy, saved, str(act), param=float(param),
                                                        out=out)


def softmax(x: Any, out: Any = None) -> Any:
    """Softmax over the last axis (numerically stable: the row max is subtracted)."""
    x = _dense(x, "x")
    return _backend(x, out).softmax(x, out=out)


def log_softmax(x: Any, out: Any = None) -> Any:
    """log(softmax(x)) over the last axis, computed as x - max - log(sum(exp(x - max)))."""
    x = _dense(x, "x")
    return _backend(x, out).log_softmax(x, out=out)


def softmax_backward(dy: Any, y: Any) -> Any:
    """dx of y = softmax(x) over the last axis: y * (dy - sum(dy * y))."""
    dy, y = _dense(dy, "dy"), _dense(y, "y")
    return _backend(dy, y).softmax_backward(dy, y)


def log_softmax_backward(dy: Any, y: Any) -> Any:
    """dx of y = log_softmax(x) over the last axis: dy - exp(y) * sum(dy)."""
    dy, y = _dense(dy, "dy"), _dense(y, "y")
    return _backend(dy, y).log_softmax_backward(dy, y)


# ----------------------------------------------------------------------------------------------
# losses: each returns (loss, gradient of the returned loss w.r.t. its first argument)


def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """(loss, dlogits) in one fused pass per row (max, log-sum-exp, loss, dlogits).

    logits: (N, C) float; target: (N,) integer class indices in [0, C) (ValueError otherwise).
    loss: 0-d for "mean"/"sum", (N,) for "none" (then dlogits is per row d loss_i / d logits_i).
    """
    logits, target = _dense(logits, "logits"), _labels(target)
    return _backend(logits, target).softmax_cross_entropy(logits, target, str(reduction))


def sum_of_squares(y: Any, t: Any) -> tuple[Any, Any]:
    """Bishop's E = 1/2 sum (y - t)^2 (0-d) and its delta dy = y - t."""
    y, t = _dense(y, "y"), _dense(t, "t")
    return _backend(y, t).sum_of_squares(y, t)


def mse_loss(y: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """Mean (or sum, or elementwise) of (y - t)^2 and its gradient w.r.t. y."""
    y, t = _dense(y, "y"), _dense(t, "t")
    return _backend(y, t).mse_loss(y, t, str(reduction))


def binary_cross_entropy(p: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on probabilities p in [0, 1] (each log clamped at -100, as torch) and d loss / dp."""
    p, t = _dense(p, "p"), _dense(t, "t")
    return _backend(p, t).binary_cross_entropy(p, t, str(reduction))


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on logits, stable for any |z|: also the multi-label loss (z of shape (N, K), K
    independent sigmoid outputs). Returns (loss, dz) with dz = (sigmoid(z) - t) * scale."""
    z, t = _dense(z, "z"), _dense(t, "t")
    return _backend(z, t).binary_cross_entropy_with_logits(z, t, str(reduction))


# ----------------------------------------------------------------------------------------------
# fused linear layer


def linear_forward(x: Any, w: Any, b: Any = None, act: str = "identity",
                   param: float = 0.0) -> tuple[Any, Any]:
    """(y, z): y = act(x @ w.T + b) with bias and activation applied in the GEMM's epilogue.
    x (N, in), w (out, in), b (out,) or None. z (the pre-activation) is returned only when the
    activation's backward needs it (saves_input(act)); otherwise None."""
    x, w = _dense(x, "x"), _dense(w, "w")
    if b is not None:
        b = _dense(b, "b")
    return _backend(x, w, b).linear_forward(x, w, b, str(act), float(param))


def linear_backward(dy: Any, x: Any, w: Any, saved: Any, act: str, param: float = 0.0,
                    need_dx: bool = True, has_bias: bool = True) -> tuple[Any, Any, Any]:
    """(dx or None, dw, db or None) of y = act(x @ w.T + b). saved: z when saves_input(act),
    else y (identity needs neither: pass y or None)."""
    dy, x, w = _dense(dy, "dy"), _dense(x, "x"), _dense(w, "w")
    if saved is not None:
        saved = _dense(saved, "saved")
    return _backend(dy, x, w, saved).linear_backward(dy, x, w, saved, str(act), float(param),
                                                     bool(need_dx), bool(has_bias))


# ----------------------------------------------------------------------------------------------
# reductions


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.isscalar(axis) or isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis: {a} is out of bounds for an array of dimension {ndim}")
        a %= ndim
        if a in out:
            raise ValueError(f"axis: {a} is repeated")
        out.append(a)
    return tuple(sorted(out))


def _reduce(x: Any, axis: Any, keepdims: bool, mean: bool) -> Any:
    x = _dense(x, "x")
    backend = _backend(x)
    axes = _norm_axes(axis, x.ndim)
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
    if mean:
        y = backend.reduce_sum(y.reshape(1, *y.shape), 0, 1, 1.0 / count if count else np.nan)
    if not axes and y is x:
        y = x.copy()
    return y.reshape(kept_shape) if keepdims else y


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over axis (None: all; an int or a tuple of ints), as numpy.sum."""
    return _reduce(x, axis, keepdims, False)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over axis (None: all; an int or a tuple of ints), as numpy.mean (NaN when empty)."""
    return _reduce(x, axis, keepdims, True)


def sum_to_shape(g: Any, shape: Any) -> Any:
    """The gradient of broadcasting an array of `shape` to g.shape: g summed over the leading
    axes it has in excess and over the axes where shape has 1, reshaped to shape."""
    g = _dense(g, "g")
    shape = tuple(int(s) for s in shape)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"shape: {shape} has more dimensions than the gradient {g.shape}")
    for i, s in enumerate(shape):
        if s != 1 and g.shape[lead + i] != s:
            raise ValueError(f"shape: {shape} does not broadcast to the gradient {g.shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and g.shape[lead + i] != 1)
    if not axes:
        return g.reshape(shape).copy()
    return sum(g, axis=axes).reshape(shape)


# ----------------------------------------------------------------------------------------------
# optimizer updates: one pass over each parameter, in place


def sgd_update(param: Any, grad: Any, buf: Any, *, lr: float, momentum: float = 0.0,
               weight_decay: float = 0.0, nesterov: bool = False, dampening: float = 0.0,
               first_step: bool = False) -> None:
    """One torch.optim.SGD step, in place: g = grad + weight_decay * param; with momentum,
    buf = momentum * buf + (1 - dampening) * g (buf = g when first_step, as torch's first
    step), g = g + momentum * buf (nesterov) or buf; param -= lr * g. buf may be None when
    momentum == 0. param, grad, buf: C-contiguous arrays of one shape and dtype."""
    return _backend(param, grad, buf).sgd_update(
        param, grad, buf, lr=float(lr), momentum=float(momentum),
        weight_decay=float(weight_decay), nesterov=bool(nesterov), dampening=float(dampening),
        first_step=bool(first_step))


def adam_update(param: Any, grad: Any, m: Any, v: Any, *, step: int, lr: float = 1e-3,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """One torch.optim.Adam step (decoupled=True: AdamW), in place on param, m and v; step
    counts from 1."""
    return _backend(param, grad, m, v).adam_update(
        param, grad, m, v, step=int(step), lr=float(lr), beta1=float(beta1),
        beta2=float(beta2), eps=float(eps), weight_decay=float(weight_decay),
        decoupled=bool(decoupled))
