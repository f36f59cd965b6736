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
    "sgd_update",
    "adam_update",
    "saves_input",
    "set_allow_tf32",
]

ACTIVATIONS = (
    "identity",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "gelu_tanh",
    "softplus",
    "silu",
)
_SAVES_INPUT = ("leaky_relu", "gelu", "gelu_tanh", "softplus", "silu")


def saves_input(act: str) -> bool:
    """True when act's backward needs its input x (or z); False when it needs its output y."""
    if act not in ACTIVATIONS:
        raise ValueError(f"saves_input: act: expected one of {ACTIVATIONS}, got {act!r}")
    return act in _SAVES_INPUT


# A copy of an input view is explicit and bounded: a view whose elements overlap (np.broadcast_to,
# as_strided windows) can stand for far more bytes than it occupies, and copying a large one
# would silently allocate and touch gigabytes. Above this size such a view is a ValueError.
MAX_VIEW_COPY_BYTES = 1 << 30


def _has_internal_overlap(x: np.ndarray) -> bool:
    """True when two index tuples of x may address the same bytes (conservative, as the
    binding's check: the dimensions sorted by |stride| must each step past the smaller ones)."""
    if x.size == 0:
        return False
    span = x.itemsize
    for stride, n in sorted((abs(s), n) for s, n in zip(x.strides, x.shape) if n > 1):
        if stride < span:
            return True
        span += stride * (n - 1)
    return False


def _check_copy(x: Any, what: str) -> None:
    """Refuse to copy a broadcast view above MAX_VIEW_COPY_BYTES (numpy or cupy x); `what`
    names the argument ("<op>: <name>" here; the CUDA ops' wrapper adds the op itself)."""
    if x.nbytes > MAX_VIEW_COPY_BYTES and _has_internal_overlap(x):
        raise ValueError(
            f"{what}: expected an array this op can read in place, got a broadcast "
            f"(overlapping-stride) view of shape {tuple(x.shape)} whose copy would take "
            f"{x.nbytes >> 20} MiB; materialize it explicitly if that is intended"
        )


def _as_ndarray(x: Any, op: str, name: str) -> np.ndarray:
    """x as a numpy array: lists and scalars are converted; None, strings and other objects
    that do not make a numeric array are a TypeError."""
    if isinstance(x, np.ndarray):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(
            f"{op}: {name}: expected an array (numpy.ndarray), got "
            f"{type(x).__name__ if x is not None else 'None'}"
        )
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise TypeError(
            f"{op}: {name}: expected an array of float32 or float64 numbers, got "
            f"{type(x).__name__} (converted to dtype {a.dtype})"
        )
    return a


def _operand(x: Any, op: str, name: str) -> Any:
    """An input the kernels can read through its strides: device arrays pass through; other
    array-likes become numpy arrays (the binding copies misaligned / byte-swapped views)."""
    if is_cuda_array(x):
        return x
    return _as_ndarray(x, op, name)


def _dense(x: Any, op: str, name: str) -> Any:
    """An input for the kernels that read memory linearly: a C-contiguous, aligned,
    native-byte-order copy is made explicitly when x is anything else (never read wrongly);
    a broadcast view too large to copy is a ValueError."""
    if is_cuda_array(x):
        return x
    x = _as_ndarray(x, op, name)
    dt = x.dtype
    if dt.kind == "f" and not dt.isnative:
        _check_copy(x, f"{op}: {name}")
        return np.array(x, dtype=dt.newbyteorder("="), order="C")  # 0-d stays 0-d
    if not x.flags.c_contiguous or not x.flags.aligned:
        _check_copy(x, f"{op}: {name}")
        x = np.array(x, order="C")  # a real copy (ascontiguousarray keeps a misaligned x)
    return x


def _real(v: Any, op: str, name: str) -> float:
    """A real-number argument (alpha, lr, param, ...) as a float; TypeError otherwise."""
    if type(v) is float:
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    raise TypeError(f"{op}: {name}: expected a real number, got {type(v).__name__} {v!r}")


def _name(v: Any, op: str, name: str) -> str:
    """A name argument (act, reduction): a str, or TypeError (the binding checks the value)."""
    if isinstance(v, str):
        return v
    raise TypeError(f"{op}: {name}: expected a str, got {type(v).__name__} {v!r}")


def _labels(target: Any, op: str) -> Any:
    """Class indices as int64 (other integer dtypes are converted explicitly); floats and
    bools are a TypeError (a float label is almost always a bug upstream)."""
    if is_cuda_array(target):
        return target
    if target is None or isinstance(target, (str, bytes)):
        raise TypeError(
            f"{op}: target: expected an integer array of class indices, got "
            f"{type(target).__name__ if target is not None else 'None'}"
        )
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target: expected an integer array of class indices, got dtype {t.dtype}"
        )
    if t.dtype != np.int64:
        if t.dtype.kind == "u" and t.size and int(t.max()) > np.iinfo(np.int64).max:
            raise ValueError(
                f"{op}: target: expected class indices in [0, classes), got "
                f"{int(t.max())}, which is out of range"
            )
        t = t.astype(np.int64)
    if not t.flags.c_contiguous or not t.flags.aligned:
        t = np.array(t, order="C")  # not ascontiguousarray: a 0-d target must stay 0-d
    return t


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

    a, b: 2-D float32 or float64 arrays of one dtype, any strides. out: None (a new array;
    beta must then be 0) or a writable array of shape (m, n) and the same dtype, which may
    share memory with a or b. With beta == 0 the values in out are not read.

    precision: None (the global flag, see set_allow_tf32), "fp32" or "tf32". "tf32" permits
    float32 GPU products on TF32 tensor cores (like torch's allow_tf32); it is a permission,
    not a demand: the CPU and float64 always compute in full precision.
    """
    if not isinstance(precision, (str, type(None))) or precision not in MATMUL_PRECISIONS:
        raise ValueError(
            f"matmul: precision: expected None or one of "
            f"{sorted(k for k in MATMUL_PRECISIONS if k)}, got {precision!r}"
        )
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and (out is None or type(out) is np.ndarray)
        and host_backend_override() is None
    ):
        # the common case, straight to the CPU kernel (which copies misaligned and byte-swapped
        # views itself); positional arguments: faster
        try:
            return _cpu.matmul(a, b, trans_a, trans_b, alpha, beta, out)
        except TypeError:
            _real(alpha, "matmul", "alpha")  # a clearer error than pybind11's for bad scalars
            _real(beta, "matmul", "beta")
            raise
    a = _operand(a, "matmul", "a")
    b = _operand(b, "matmul", "b")
    backend = _backend("matmul", a, b, out)
    kwargs = {} if backend is _cpu else {"precision": precision}
    return backend.matmul(
        a,
        b,
        trans_a=bool(trans_a),
        trans_b=bool(trans_b),
        alpha=_real(alpha, "matmul", "alpha"),
        beta=_real(beta, "matmul", "beta"),
        out=out,
        **kwargs,
    )


# precision name -> 1 when float32 GPU products may use TF32, 0 when not, None: the global flag
# (set_allow_tf32). The torch-style names "highest" / "high" are accepted as aliases.
MATMUL_PRECISIONS = {
    None: None,
    "fp32": 0,
    "float32": 0,
    "highest": 0,
    "ieee": 0,
    "tf32": 1,
    "high": 1,
}


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
    op = "activation"
    x = _dense(x, op, "x")
    return _backend(op, x, out).activation(
        x, _name(act, op, "act"), param=_real(param, op, "param"), out=out
    )


def activation_backward(
    dy: Any, saved: Any, act: str, *, param: float = 0.0, out: Any = None
) -> Any:
    """dx = dy * act'(x). ``saved`` is y = act(x) for identity, relu, sigmoid and tanh, and the
    input x for leaky_relu, gelu, gelu_tanh, softplus and silu (see saves_input). out may be
    dy."""
    op = "activation_backward"
    dy, saved = _dense(dy, op, "dy"), _dense(saved, op, "saved")
    return _backend(op, dy, saved, out).activation_backward(
        dy, saved, _name(act, op, "act"), param=_real(param, op, "param"), out=out
    )


def softmax(x: Any, out: Any = None) -> Any:
    """Softmax over the last axis (numerically stable: the row max is subtracted)."""
    x = _dense(x, "softmax", "x")
    return _backend("softmax", x, out).softmax(x, out=out)


def log_softmax(x: Any, out: Any = None) -> Any:
    """log(softmax(x)) over the last axis, computed as x - max - log(sum(exp(x - max)))."""
    x = _dense(x, "log_softmax", "x")
    return _backend("log_softmax", x, out).log_softmax(x, out=out)


def softmax_backward(dy: Any, y: Any) -> Any:
    """dx of y = softmax(x) over the last axis: y * (dy - sum(dy * y))."""
    op = "softmax_backward"
    dy, y = _dense(dy, op, "dy"), _dense(y, op, "y")
    return _backend(op, dy, y).softmax_backward(dy, y)


def log_softmax_backward(dy: Any, y: Any) -> Any:
    """dx of y = log_softmax(x) over the last axis: dy - exp(y) * sum(dy)."""
    op = "log_softmax_backward"
    dy, y = _dense(dy, op, "dy"), _dense(y, op, "y")
    return _backend(op, dy, y).log_softmax_backward(dy, y)


# ----------------------------------------------------------------------------------------------
# losses: each returns (loss, gradient of the returned loss w.r.t. its first argument)


def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """(loss, dlogits) in one fused pass per row (max, log-sum-exp, loss, dlogits).

    logits: (N, C) float; target: (N,) integer class indices in [0, C) (ValueError otherwise).
    loss: 0-d for "mean"/"sum", (N,) for "none" (then dlogits is per row d loss_i / d logits_i).
    """
    op = "softmax_cross_entropy"
    logits, target = _dense(logits, op, "logits"), _labels(target, op)
    return _backend(op, logits, target).softmax_cross_entropy(
        logits, target, _name(reduction, op, "reduction")
    )


def sum_of_squares(y: Any, t: Any) -> tuple[Any, Any]:
    """Bishop's E = 1/2 sum (y - t)^2 (0-d) and its delta dy = y - t."""
    op = "sum_of_squares"
    y, t = _dense(y, op, "y"), _dense(t, op, "t")
    return _backend(op, y, t).sum_of_squares(y, t)


def mse_loss(y: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """Mean (or sum, or elementwise) of (y - t)^2 and its gradient w.r.t. y."""
    op = "mse_loss"
    y, t = _dense(y, op, "y"), _dense(t, op, "t")
    return _backend(op, y, t).mse_loss(y, t, _name(reduction, op, "reduction"))


def binary_cross_entropy(p: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on probabilities p in [0, 1] (each log clamped at -100, as torch) and d loss / dp."""
    op = "binary_cross_entropy"
    p, t = _dense(p, op, "p"), _dense(t, op, "t")
    return _backend(op, p, t).binary_cross_entropy(p, t, _name(reduction, op, "reduction"))


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """BCE on logits, stable for any |z|: also the multi-label loss (z of shape (N, K), K
    independent sigmoid outputs). Returns (loss, dz) with dz = (sigmoid(z) - t) * scale."""
    op = "binary_cross_entropy_with_logits"
    z, t = _dense(z, op, "z"), _dense(t, op, "t")
    return _backend(op, z, t).binary_cross_entropy_with_logits(
        z, t, _name(reduction, op, "reduction")
    )


# ----------------------------------------------------------------------------------------------
# fused linear layer


def linear_forward(
    x: Any, w: Any, b: Any = None, act: str = "identity", param: float = 0.0
) -> tuple[Any, Any]:
    """(y, z): y = act(x @ w.T + b) with bias and activation applied in the GEMM's epilogue.
    x (N, in), w (out, in), b (out,) or None. z (the pre-activation) is returned only when the
    activation's backward needs it (saves_input(act)); otherwise None."""
    op = "linear_forward"
    x, w = _dense(x, op, "x"), _dense(w, op, "w")
    if b is not None:
        b = _dense(b, op, "b")
    return _backend(op, x, w, b).linear_forward(
        x, w, b, _name(act, op, "act"), _real(param, op, "param")
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
) -> tuple[Any, Any, Any]:
    """(dx or None, dw, db or None) of y = act(x @ w.T + b). saved: z when saves_input(act),
    else y (identity needs neither: pass y or None)."""
    op = "linear_backward"
    dy, x, w = _dense(dy, op, "dy"), _dense(x, op, "x"), _dense(w, op, "w")
    if saved is not None:
        saved = _dense(saved, op, "saved")
    return _backend(op, dy, x, w, saved).linear_backward(
        dy,
        x,
        w,
        saved,
        _name(act, op, "act"),
        _real(param, op, "param"),
        bool(need_dx),
        bool(has_bias),
    )


# ----------------------------------------------------------------------------------------------
# reductions


def _norm_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    bad = TypeError(f"{op}: axis: expected an int, a tuple of ints or None, got {axis!r}")
    if isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    elif isinstance(axis, (int, np.integer)):
        axes = (axis,)
    else:
        raise bad
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)):
            raise bad
        try:
            a = operator.index(a)
        except TypeError:
            raise bad from None
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{op}: axis: {a} is out of bounds for an array of dimension {ndim} "
                f"(out of range: expected an axis in [{-ndim}, {ndim}), got {a})"
            )
        a %= ndim
        if a in out:
            raise ValueError(f"{op}: axis: {a} is repeated")
        out.append(a)
    return tuple(sorted(out))


def _float_input(x: Any, op: str, name: str) -> Any:
    """_dense(x) of dtype float32 or float64 (TypeError naming op and argument otherwise), for
    the ops built in Python on other kernels (which would name the kernel instead)."""
    x = _dense(x, op, name)
    if not is_cuda_array(x) and x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name}: expected dtype float32 or float64, got {x.dtype}")
    return x


def _reduce(x: Any, axis: Any, keepdims: bool, mean: bool) -> Any:
    op = "mean" if mean else "sum"
    x = _float_input(x, op, "x")
    backend = _backend(op, x)
    axes = _norm_axes(axis, x.ndim, op)
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


def _shape_arg(shape: Any, op: str) -> tuple[int, ...]:
    """A shape argument: an int or a sequence of non-negative ints, as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"{op}: shape: expected a tuple of ints, got {type(shape).__name__} {shape!r}"
        )
    out = []
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: shape: expected a tuple of ints, got {shape!r}")
        if s < 0:
            raise ValueError(f"{op}: shape: expected non-negative dimensions, got {shape!r}")
        out.append(int(s))
    return tuple(out)


def sum_to_shape(g: Any, shape: Any) -> Any:
    """The gradient of broadcasting an array of `shape` to g.shape: g summed over the leading
    axes it has in excess and over the axes where shape has 1, reshaped to shape."""
    op = "sum_to_shape"
    g = _float_input(g, op, "g")
    shape = _shape_arg(shape, op)
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
    grad = _dense(grad, op, "grad")  # an input: a view is copied; param and buf are in place
    return _backend(op, param, grad, buf).sgd_update(
        param,
        grad,
        buf,
        lr=_real(lr, op, "lr"),
        momentum=_real(momentum, op, "momentum"),
        weight_decay=_real(weight_decay, op, "weight_decay"),
        nesterov=bool(nesterov),
        dampening=_real(dampening, op, "dampening"),
        first_step=bool(first_step),
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
    grad = _dense(grad, op, "grad")  # an input: a view is copied; param, m and v are in place
    return _backend(op, param, grad, m, v).adam_update(
        param,
        grad,
        m,
        v,
        step=_step(step, op),
        lr=_real(lr, op, "lr"),
        beta1=_real(beta1, op, "beta1"),
        beta2=_real(beta2, op, "beta2"),
        eps=_real(eps, op, "eps"),
        weight_decay=_real(weight_decay, op, "weight_decay"),
        decoupled=bool(decoupled),
    )


def _step(step: Any, op: str) -> int:
    """Adam's step count: an int in [1, 2**63) (an integral float is accepted)."""
    if type(step) is int and 1 <= step < 2**63:
        return step
    if isinstance(step, (float, np.floating)) and float(step).is_integer():
        step = int(step)
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"{op}: step: expected an int >= 1, got {type(step).__name__} {step!r}")
    if not 1 <= step < 2**63:
        raise ValueError(
            f"{op}: step: expected step >= 1 and < 2**63 (it counts from 1), got {step}"
        )
    return int(step)
