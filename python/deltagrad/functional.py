"""deltagrad.functional: differentiable activations, linear layers and losses on Tensors.

Each function runs one compiled kernel forward (dg.ops) and attaches a `_backward` that runs
its backward kernel: F.linear fuses the matmul, bias and activation; the losses return their
gradient from the same pass that computes them, so backward is one multiply.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any, Callable

import numpy as np

from . import _functional_dgrad as _dg2
from . import ops
from ._cpu import IndexRangeError
from ._engine import disown as _disown
from ._engine import grad_lock as _grad_lock
from ._engine import kept_grad as _kept_grad
from .backends._args import check_device_array, choice, is_device_array
from .tensor import (
    _ACT_GRAD,
    _CAST_HINT,
    _TORCH_TYPE_NAMES,
    Tensor,
    _BoolOpError,
    _CastError,
    _dim,
    _fit_scalar,
    _kernel_dtype_error,
    _no_graph,
    _sgn,
    _ShapeError,
    _ShapeIndexError,
    activate,
    as_dtype,
    get_array_module,
    masked_grad,
    no_grad,
)
from .tensor import is_grad_enabled as _grad_enabled
from .tensor import where as _where

__all__ = [
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softplus",
    "silu",
    "swish",
    "identity",
    "elu",
    "selu",
    "celu",
    "relu6",
    "hardsigmoid",
    "hardswish",
    "mish",
    "logsigmoid",
    "softsign",
    "hardtanh",
    "threshold",
    "glu",
    "prelu",
    "rrelu",
    "softmin",
    "tanhshrink",
    "softshrink",
    "hardshrink",
    "relu_",
    "leaky_relu_",
    "elu_",
    "selu_",
    "celu_",
    "hardtanh_",
    "threshold_",
    "rrelu_",
    "softmax",
    "log_softmax",
    "sum_of_squares",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "batch_norm",
    "layer_norm",
    "embedding",
    "dropout",
    "ACTIVATIONS",
    "ACTIVATION_ALIASES",
]

# the activation names F.linear accepts; ops.saves_input(name) says whether the backward kernel
# wants the input x (or z) or the output y
ACTIVATIONS = ops.ACTIVATIONS
# other names F.linear, nn.Linear and nn.MLP accept for an activation; the kernels (dg.ops) know
# only the name it maps to
ACTIVATION_ALIASES = {"swish": "silu"}


def _tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if is_device_array(x):  # name: "fn" or "fn: argument"
        op, _, arg = name.partition(": ")
        return Tensor(check_device_array(x, op, arg or "input"))
    raise TypeError(f"{name}: expected a Tensor or an array, got {type(x).__name__}")


# torch's (CPU) kernel of each function below, where it is not "<name>_cpu": its name in the
# NotImplementedError an integer or bool input gets
_TORCH_KERNELS = {
    "selu": "elu_cpu",
    "celu": "elu_cpu",
    "logsigmoid": "log_sigmoid_cpu",
    "softshrink": "softshrink_check",
    "gelu": "GeluKernelImpl",
    "softsign": "abs_cpu",  # a bool input (ints are computed in float32)
}


def _float(x: Tensor, name: str, kernel: str | None = None) -> Tensor:
    """x, when it holds floats; else torch's NotImplementedError ('"leaky_relu_cpu" not
    implemented for 'Long'', naming torch's kernel: `kernel`, else _TORCH_KERNELS's or
    name + "_cpu"), a TypeError too (_KernelDtypeError), as deltagrad's was."""
    if x.data.dtype.kind != "f":
        kernel = kernel or _TORCH_KERNELS.get(name, f"{name}_cpu")
        raise _kernel_dtype_error(name, kernel, x.data.dtype, _CAST_HINT)
    return x


class _PromoteError(RuntimeError, TypeError):
    """Arguments of two dtypes where torch promotes nothing (prelu's weight), or of a dtype
    it refuses (nll_loss / cross_entropy's target): torch's RuntimeError; a TypeError too, as
    deltagrad's was."""


def _no_bool(x: Tensor, fn: str, torch_fn: str) -> Tensor:
    """x, unless it holds bools: torch's RuntimeError (relu's, or hardtanh's for relu6); a
    TypeError too (_BoolOpError), as deltagrad's was."""
    if x.data.dtype.kind == "b":
        word = "Boolean" if torch_fn == "relu" else "Bool"
        raise _BoolOpError(f"{fn}: {word} inputs not supported for {torch_fn}")
    return x


def _activation_name(activation: Any) -> str:
    name = "identity" if activation is None else activation
    if isinstance(name, str):
        name = ACTIVATION_ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected None or one of "
            f"{sorted([*ACTIVATIONS, *ACTIVATION_ALIASES])}, got {activation!r}"
        )
    return name


# ---- activations ----------------------------------------------------------------------------
#
# inplace=True (torch's flag): the result is written into the input, which is returned, when no
# graph is recorded through it (it does not require grad, or grad mode is off); the version
# counter bumps, so a graph that saved the input still catches the change. While a graph IS
# recorded, deltagrad computes out of place and returns a new tensor (a deliberate difference:
# it records no graph through in-place ops, see Tensor._inplace, where torch rebases the
# input's history onto the in-place node).


def _activate(x: Any, act: str, param: float = 0.0) -> Tensor:
    return activate(_tensor(x, act), act, param)


def _number(v: Any, fn: str, arg: str) -> float:
    """A real number (not a bool) as a float, else a TypeError naming fn and the argument."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {arg}: expected a number, got {v!r}")
    return float(v)


def _fit(v: Any, x: Tensor, fn: str, arg: str, opmath: bool = False) -> Any:
    """fn's number argument v as x's dtype, checked as torch converts it (_fit_scalar: 1e300
    for a float32 input is torch's RuntimeError "value cannot be converted to type float
    without overflow"). opmath: an argument torch converts to the type it computes in
    (float32 for a float16 input) rather than to the input's dtype."""
    dt = x.data.dtype
    if opmath and dt.kind == "f" and dt.itemsize < 4:
        dt = np.dtype(np.float32)
    return _fit_scalar(v, dt, fn, arg)


def _flag(v: Any, fn: str, arg: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {arg}: expected a bool, got {v!r}")
    return bool(v)


def _writes_input(x: Tensor, inplace: Any, fn: str) -> bool:
    """True when fn(x, inplace=inplace) changes x: asked for, and no graph records through x."""
    return _flag(inplace, fn, "inplace") and not (x.requires_grad and _grad_enabled())


def _write(x: Tensor, y: Any, fn: str) -> Tensor:
    """y into x's array (x's version bumps), and x."""
    with x._inplace(fn) as d:
        d[...] = y
    return x


def _kernel(input: Any, act: str, param: float, inplace: Any, fn: str) -> Tensor:
    """act(input) by its compiled kernel: one graph node with the compiled backward."""
    x = _float(_tensor(input, fn), fn)
    if not _writes_input(x, inplace, fn):
        return activate(x, act, param)
    with x._inplace(fn) as d:
        if d.flags.c_contiguous and getattr(d.flags, "writeable", True):
            ops.activation(d, act, param=param, out=d)
        else:  # a strided view (x.T, x[:, ::2]): the kernels write dense arrays only
            d[...] = ops.activation(d, act, param=param)
    return x


def _elementwise(
    x: Tensor, y: Any, grad: Any, fn: str, inplace: Any = False, dbackward: Any = None
) -> Tensor:
    """y (computed from x) as fn's result: written into x when _writes_input, else a graph
    node whose backward is grad(g), reading x (dbackward: its double backward, if any)."""
    if _writes_input(x, inplace, fn):
        return _write(x, y, fn)
    return x._unary(y, grad, fn, saves=(x,), dbackward=dbackward)


def _cast(v: float, dtype: Any) -> Any:
    """v in a float dtype, as torch casts a scalar argument (+-inf beyond float32's range)."""
    with np.errstate(over="ignore"):
        return np.dtype(dtype).type(v)


def _int_scalar(v: float, dtype: Any) -> Any:
    """torch's cast of a bound to an int dtype: truncated (here also clamped to the range)."""
    info = np.iinfo(dtype)
    return dtype.type(info.min if v <= info.min else info.max if v >= info.max else int(v))


def _int_clamp(x: Tensor, lo: float | None, hi: float | None, inplace: Any, fn: str) -> Tensor:
    """relu / relu6 / hardtanh of an int tensor, as torch: the bounds truncated to the dtype,
    which the result keeps (no graph: ints carry none)."""
    xp = get_array_module(x.data)
    dt = x.data.dtype
    y = xp.clip(
        x.data,
        None if lo is None else _int_scalar(lo, dt),
        None if hi is None else _int_scalar(hi, dt),
    )
    if _writes_input(x, inplace, fn):
        return _write(x, y, fn)
    return _no_graph(y, fn)


def identity(x: Any) -> Tensor:
    return _tensor(x, "identity")


def relu(input: Any, inplace: bool = False) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, as in torch. An int tensor keeps its dtype. inplace:
    see the note at the top of this section (out of place while a graph is recorded)."""
    x = _no_bool(_tensor(input, "relu"), "relu", "relu")
    if x.data.dtype.kind in "iu":
        return _int_clamp(x, 0, None, inplace, "relu")
    return _kernel(x, "relu", 0.0, inplace, "relu")


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x; a slope beyond the dtype's range (1e300 for
    float32) is torch's RuntimeError, as each number argument below (_fit)."""
    slope = _number(negative_slope, "leaky_relu", "negative_slope")
    x = _float(_tensor(input, "leaky_relu"), "leaky_relu")
    _fit(negative_slope, x, "leaky_relu", "negative_slope", opmath=True)
    return _kernel(x, "leaky_relu", slope, inplace, "leaky_relu")


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    a = _number(alpha, "elu", "alpha")
    x = _float(_tensor(input, "elu"), "elu")
    _fit(alpha, x, "elu", "alpha", opmath=True)
    return _kernel(x, "elu", a, inplace, "elu")


def selu(input: Any, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with torch's constants (scale 1.0507..., alpha 1.6732...)."""
    return _kernel(input, "selu", 0.0, inplace, "selu")


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x / alpha) - 1); alpha 0 is refused (a ValueError, where
    torch raises RuntimeError "ZeroDivisionError: alpha cannot be 0 for CELU")."""
    a = _number(alpha, "celu", "alpha")
    if a == 0:
        raise ValueError("celu: alpha cannot be 0 (the negative side is alpha * expm1(x / alpha))")
    x = _float(_tensor(input, "celu"), "celu")
    _fit(alpha, x, "celu", "alpha", opmath=True)
    _fit(1.0 / a, x, "celu", "1 / alpha", opmath=True)  # torch converts both (2e-39: float32 inf)
    return _kernel(x, "celu", a, inplace, "celu")


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (hardtanh(x, 0, 6)); an int tensor keeps its dtype."""
    x = _no_bool(_tensor(input, "relu6"), "relu6", "hardtanh")
    if x.data.dtype.kind in "iu":
        return _int_clamp(x, 0, 6, inplace, "relu6")
    return _kernel(x, "relu6", 0.0, inplace, "relu6")


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """clamp(x / 6 + 1/2, 0, 1)."""
    return _kernel(input, "hardsigmoid", 0.0, inplace, "hardsigmoid")


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """x * hardsigmoid(x)."""
    return _kernel(input, "hardswish", 0.0, inplace, "hardswish")


def mish(input: Any, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)); at x = -inf its limit -0 (torch: NaN), and the gradient's limits
    at +-inf (1 and 0; torch: NaN)."""
    return _kernel(input, "mish", 0.0, inplace, "mish")


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    return _kernel(input, "logsigmoid", 0.0, False, "logsigmoid")


def softsign(input: Any) -> Tensor:
    """x / (1 + |x|); +-1 at +-inf, the limit (torch: NaN), and gradient 0 there. An int
    tensor gives float32, as torch."""
    x = _tensor(input, "softsign")
    if x.data.dtype.kind in "iu":
        x = x.astype(np.float32)
    return _kernel(x, "softsign", 0.0, False, "softsign")


def sigmoid(input: Any) -> Tensor:
    return _activate(input, "sigmoid")


def tanh(input: Any) -> Tensor:
    return _activate(input, "tanh")


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) (approximate="none", with erf) or its tanh approximation ("tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = _float(_tensor(input, "gelu"), "gelu")
    return _activate(x, "gelu" if approximate == "none" else "gelu_tanh")


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, computed without overflow; x itself (gradient 1) where
    beta * x > threshold, as torch."""
    b = _number(beta, "softplus", "beta")
    t = _number(threshold, "softplus", "threshold")
    x = _float(_tensor(input, "softplus"), "softplus")
    _fit(beta, x, "softplus", "beta", opmath=True)
    _fit(threshold, x, "softplus", "threshold", opmath=True)
    xp = get_array_module(x.data)
    dt = x.data.dtype.type
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = x.data if b == 1.0 else x.data * dt(b)
        s = ops.activation(z, "softplus")
        big = z > dt(t)
        y = xp.where(big, x.data, s if b == 1.0 else s / dt(b))
    saved = z if ops.saves_input("softplus") else s

    def _grad(g: Any) -> Any:  # d/dx softplus(beta x) / beta = sigmoid(beta x)
        return xp.where(big, g, ops.activation_backward(g, saved, "softplus"))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return (_where(big, g, g * (x if b == 1.0 else x * b).sigmoid()),)

    return x._unary(y, _grad, "softplus", saves=(x,), dbackward=_dbackward)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (SiLU, also called swish); the backward saves x. inplace: see the note at
    the top of this section."""
    return _kernel(input, "silu", 0.0, inplace, "silu")


swish = silu


def hardtanh(
    input: Any,
    min_val: float = -1.0,
    max_val: float = 1.0,
    inplace: bool = False,
) -> Tensor:
    """clamp(x, min_val, max_val), with torch's gradient: 0 where x <= min_val or
    x >= max_val (Tensor.clamp passes it at the bounds). (0, 6) runs relu6's kernel; an int
    tensor keeps its dtype (the bounds truncated, as torch)."""
    lo = _number(min_val, "hardtanh", "min_val")
    hi = _number(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError(
            f"hardtanh: min_val cannot be greater than max_val, got min_val={min_val} and "
            f"max_val={max_val}"
        )
    x = _no_bool(_tensor(input, "hardtanh"), "hardtanh", "hardtanh")
    if x.data.dtype.kind == "u" and lo < 0:
        raise RuntimeError("hardtanh: cannot do hardtanh on an unsigned type with negative limits")
    if x.data.dtype.kind not in "iu":
        x = _float(x, "hardtanh")
    lo, hi = _fit(min_val, x, "hardtanh", "min_val"), _fit(max_val, x, "hardtanh", "max_val")
    if x.data.dtype.kind in "iu":
        return _int_clamp(x, lo, hi, inplace, "hardtanh")
    if lo == 0.0 and hi == 6.0:
        return _kernel(x, "relu6", 0.0, inplace, "hardtanh")
    xp = get_array_module(x.data)
    xd = x.data

    def _grad(g: Any) -> Any:
        return xp.where((xd <= lo) | (xd >= hi), g.dtype.type(0), g)

    db = partial(_d_hardtanh, x, lo, hi)
    return _elementwise(x, xp.clip(xd, lo, hi), _grad, "hardtanh", inplace, db)


def _d_hardtanh(x: Tensor, lo: Any, hi: Any, g: Tensor) -> tuple[Any, ...]:
    xd = x.data
    return (masked_grad(g, x, ~((xd <= lo) | (xd >= hi))),)


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x if x > threshold else value; the gradient is 0 where x <= threshold. An int tensor
    keeps its dtype (threshold and value truncated, as torch)."""
    _number(threshold, "threshold", "threshold")
    _number(value, "threshold", "value")
    x = _tensor(input, "threshold")
    xp = get_array_module(x.data)
    dt = x.data.dtype
    if dt.kind in "iu":
        t, val = _fit(threshold, x, "threshold", "threshold"), _fit(value, x, "threshold", "value")
        y = xp.where(x.data <= t, val, x.data)
        if _writes_input(x, inplace, "threshold"):
            return _write(x, y, "threshold")
        return _no_graph(y, "threshold")
    x = _float(x, "threshold")
    xd = x.data
    t = _fit(threshold, x, "threshold", "threshold", opmath=True)
    val = _fit(value, x, "threshold", "value")

    def _grad(g: Any) -> Any:
        return xp.where(xd <= t, g.dtype.type(0), g)

    y = xp.where(xd <= t, val, xd)
    db = partial(_d_mask, x, ~(xd <= t))
    return _elementwise(x, y, _grad, "threshold", inplace, db)


def _d_mask(x: Tensor, keep: Any, g: Tensor) -> tuple[Any, ...]:
    """The double backward of a piecewise-linear op whose gradient passes where keep."""
    return (masked_grad(g, x, keep),)


_threshold = threshold  # for threshold_, whose argument named threshold hides the function


def glu(input: Any, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of the input along dim."""
    x = _tensor(input, "glu")
    if x.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = _dim(dim, x.ndim, "glu")
    n = x.shape[d]
    if n % 2:
        raise ValueError(f"glu: Halving dimension must be even, but dimension {d} is size {n}")
    x = _float(x, "glu")  # after the shape checks, as torch
    return x._narrow(d, 0, n // 2) * x._narrow(d, n // 2, n).sigmoid()


def prelu(input: Any, weight: Any) -> Tensor:
    """x if x > 0 else weight * x, weight (1 element, or one per channel: dim 1 of the input)
    learnable: its gradient is the sum of x * g over the elements where x <= 0."""
    x = _float(_tensor(input, "prelu"), "prelu")
    w = _tensor(weight, "prelu: weight")
    if w.data.dtype != x.data.dtype:  # torch: "Type promoting not supported", a RuntimeError
        raise _PromoteError(
            f"prelu: weight: expected dtype {x.dtype} (the input's), got {w.dtype}: Type "
            "promoting not supported (as torch)"
        )
    if w.device != x.device:
        raise RuntimeError(f"prelu: weight: is on {w.device}, the input on {x.device}")
    if w.ndim > 1:
        raise ValueError(f"prelu: weight: expected a scalar or 1-D tensor, got shape {w.shape}")
    n, c = w.data.size, (x.shape[1] if x.ndim >= 2 else 1)
    if n not in (1, c):
        raise ValueError(
            f"prelu: weight: Mismatch of parameter numbers and input channel size. Found "
            f"parameter numbers = {n} and channel size = {c}."
        )
    xp = get_array_module(x.data)
    wb = w.data.reshape(() if n == 1 else (1, c) + (1,) * (x.ndim - 2))
    xd = x.data
    with np.errstate(invalid="ignore", over="ignore"):
        y = xp.where(xd > 0, xd, wb * xd)

    def _backward(g: Any) -> None:
        pos = xd > 0
        with np.errstate(invalid="ignore", over="ignore"):
            if x.requires_grad:
                x._accumulate(xp.where(pos, g, wb * g))
            if w.requires_grad:
                gw = xp.where(pos, g.dtype.type(0), xd * g)
                axes = tuple(i for i in range(gw.ndim) if n == 1 or i != 1)
                w._accumulate(gw.sum(axis=axes).reshape(w.shape))

    db = _dg2.recompute_dbackward(partial(_prelu_fn, wb.shape), x, w)
    return Tensor._make(y, (x, w), _backward, "prelu", saves=(x, w), dbackward=db)


def _prelu_fn(shape: tuple[int, ...], x: Tensor, w: Tensor) -> Tensor:
    """prelu from Tensor ops (its double backward)."""
    return _where(x.data > 0, x, w.reshape(*shape) * x)


def rrelu(
    input: Any,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Randomized leaky relu. Training: x if x > 0 else a * x, a drawn from U(lower, upper)
    per element with deltagrad's generator (dg.manual_seed; not torch's stream); the gradient
    is a there. Not training: leaky_relu with slope (lower + upper) / 2."""
    lo = _number(lower, "rrelu", "lower")
    hi = _number(upper, "rrelu", "upper")
    if not (np.isfinite(lo) and np.isfinite(hi)):  # torch: a RuntimeError
        raise _BadArgument(f"rrelu: lower and upper must be finite, got {lower} and {upper}")
    if lo > hi:
        raise ValueError(
            f"rrelu: Lower bound should be less than or equal to the upper bound, got "
            f"lower={lower} and upper={upper}"
        )
    train = _flag(training, "rrelu", "training")
    kernel = "rrelu_with_noise_out_cpu" if train else "leaky_relu_cpu"
    x = _float(_tensor(input, "rrelu"), "rrelu", kernel)
    if not train:  # torch checks the slope only: lower=-1e300, upper=1e300 is slope 0
        _fit((lo + hi) / 2, x, "rrelu", "(lower + upper) / 2", opmath=True)
        return _kernel(x, "leaky_relu", (lo + hi) / 2, inplace, "rrelu")
    _fit(lower, x, "rrelu", "lower", opmath=True)
    _fit(upper, x, "rrelu", "upper", opmath=True)
    from ._random import get_rng

    xp = get_array_module(x.data)
    slope = xp.asarray(get_rng().uniform(lo, hi, size=x.shape), dtype=x.dtype)
    noise = xp.where(x.data <= 0, slope, x.data.dtype.type(1))
    return _elementwise(x, x.data * noise, lambda g: g * noise, "rrelu", inplace)


def _implicit_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """torch's (deprecated) dim for softmax-like calls without one, with its warning."""
    import warnings

    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to "
        "include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmin(
    input: Any,
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
) -> Tensor:
    """softmax(-x) along dim; dim None picks torch's implicit dim (0 for 0-, 1- and 3-d
    inputs, else 1) with torch's deprecation warning. dtype casts the input first."""
    x = _tensor(input, "softmin")
    if dim is None:
        dim = _implicit_softmax_dim("softmin", x.ndim, _stacklevel)
    return _softmax_like(-x, dim, ops.softmax, ops.softmax_backward, "softmin", dtype)


def tanhshrink(input: Any) -> Tensor:
    """x - tanh(x) (torch's composite, with its gradient; an int tensor gives float32)."""
    x = _tensor(input, "tanhshrink")
    if x.data.dtype.kind == "b":  # torch's x - tanh(x): its RuntimeError, a TypeError too
        raise _BoolOpError(
            "tanhshrink: Subtraction, the `-` operator, with a bool tensor is not supported "
            "(torch's tanhshrink is x - tanh(x)); convert the input to a float dtype first"
        )
    return x - x.tanh()


def softshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0; the gradient 1 outside
    [-lambd, lambd] and 0 inside (and at NaN). lambd must be in [0, the dtype's max]."""
    lam = _number(lambd, "softshrink", "lambd")
    x = _float(_tensor(input, "softshrink"), "softshrink")
    top = float(np.finfo(x.data.dtype).max)
    if not 0 <= lam <= top:  # torch: a RuntimeError
        raise _BadArgument(
            f"softshrink: lambd must be in [0, {top:g}] for dtype {x.dtype}, got {lambd}"
        )
    xp = get_array_module(x.data)
    xd, lam_t = x.data, _cast(lam, x.data.dtype)
    with np.errstate(invalid="ignore"):  # x * 0 at +-inf (not taken)
        y = xp.where(xd > lam_t, xd - lam_t, xp.where(xd < -lam_t, xd + lam_t, xd * 0))

    def _grad(g: Any) -> Any:
        return xp.where((xd > lam_t) | (xd < -lam_t), g, g.dtype.type(0))

    keep = (xd > lam_t) | (xd < -lam_t)
    return _elementwise(x, y, _grad, "softshrink", dbackward=partial(_d_mask, x, keep))


def hardshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """0 where -lambd <= x <= lambd, else x; the gradient 0 there, else 1."""
    _number(lambd, "hardshrink", "lambd")
    x = _float(_tensor(input, "hardshrink"), "hardshrink")
    xp = get_array_module(x.data)
    xd, lam_t = x.data, _fit(lambd, x, "hardshrink", "lambd")

    def _grad(g: Any) -> Any:
        return xp.where((xd >= -lam_t) & (xd <= lam_t), g.dtype.type(0), g)

    zero = x.data.dtype.type(0)
    inside = (xd >= -lam_t) & (xd <= lam_t)
    db = partial(_d_mask, x, ~inside)
    return _elementwise(x, xp.where(inside, zero, xd), _grad, "hardshrink", dbackward=db)


# torch's in-place forms: fn(input, ..., inplace=True) (a new tensor while a graph is recorded)


def relu_(input: Any) -> Tensor:
    return relu(input, inplace=True)


def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Any, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu_(input: Any) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Any, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Any, threshold: float, value: float) -> Tensor:
    return _threshold(input, threshold, value, inplace=True)


def rrelu_(
    input: Any,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def _softmax_axis(x: Tensor, axis: Any, op: str) -> int:
    """axis checked as torch does (TypeError, IndexError) and made non-negative."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input: needs at least 1 dimension, got a 0-d tensor")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: dim: expected an int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:  # torch's IndexError; axis % ndim would pick another one
        raise IndexError(
            f"{op}: dim: Dimension out of range (expected to be in range of "
            f"[{-x.ndim}, {x.ndim - 1}], but got {axis})"
        )
    return int(axis) % x.ndim


def _softmax_like(x: Any, axis: int, fwd: Any, bwd: Any, op: str, dtype: Any = None) -> Tensor:
    x = _tensor(x, op)
    if dtype is not None:  # torch's dtype=: the input is cast first (differentiably)
        x = x.astype(as_dtype(dtype, op))
    dt = x.data.dtype
    if dt.kind != "f" or dt.itemsize == 2:
        from .tensor import _kernel_dtype_error

        last = _dim(axis, x.ndim, op) == max(x.ndim - 1, 0)
        if dt.kind == "f":  # float16: computed in float32 and rounded, as torch's CPU kernel
            return _softmax_like(x.float(), axis, fwd, bwd, op).to(dt)
        if x.data.size == 0:  # torch runs no kernel on an empty tensor
            return _no_graph(x.data.copy(), op)
        # no integer / bool kernel: torch's NotImplementedError (a TypeError too, as before)
        kernel = ("log_softmax" if op == "log_softmax" else "softmax") + "_lastdim" * last
        raise _kernel_dtype_error(op, kernel + "_kernel_impl", dt)
    if x.ndim == 0:  # torch: one slice of one element; dim must be in [-1, 0], as for 1-d
        return _softmax_like(x.reshape(1), axis, fwd, bwd, op).reshape(())
    d = _softmax_axis(x, axis, op)
    y = fwd(x.data, dim=d)  # any axis in place (ops: the kernels read a slice at its stride)

    def _backward(g: Any) -> None:
        x._accumulate(bwd(g, y, dim=d))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        p = _softmax_like(x, d, ops.softmax, ops.softmax_backward, "softmax")
        if op != "log_softmax":  # softmax, and softmin: the softmax of its (negated) input
            return (p * (g - (g * p).sum(d, keepdim=True)),)
        return (g - p * g.sum(d, keepdim=True),)

    db = _dbackward if op in ("softmax", "log_softmax", "softmin") else None
    return Tensor._make(y, (x,), _backward, op, dbackward=db)


def softmax(
    input: Any,
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
    *,
    axis: int | None = None,
) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (torch's signature; axis is deltagrad's older alias).
    dim None picks torch's implicit dim (0 for 0-, 1- and 3-d inputs, else 1) with torch's
    deprecation warning; dtype casts the input first, as torch."""
    x = _tensor(input, "softmax")
    dim = dim if axis is None else axis
    if dim is None:
        dim = _implicit_softmax_dim("softmax", x.ndim, _stacklevel)
    return _softmax_like(x, dim, ops.softmax, ops.softmax_backward, "softmax", dtype)


def log_softmax(
    input: Any,
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
    *,
    axis: int | None = None,
) -> Tensor:
    """x - logsumexp(x) along dim (torch's signature; axis is deltagrad's older alias).
    dim None picks torch's implicit dim with its warning, as softmax; dtype casts the input
    first, as torch."""
    x = _tensor(input, "log_softmax")
    dim = dim if axis is None else axis
    if dim is None:
        dim = _implicit_softmax_dim("log_softmax", x.ndim, _stacklevel)
    return _softmax_like(x, dim, ops.log_softmax, ops.log_softmax_backward, "log_softmax", dtype)


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout), drawing from deltagrad's generator, as torch.nn.functional.dropout; the input
    itself when not training, when p == 0 or when it is empty.

    inplace=True: the result is written into the input, which is returned (its version
    bumps), when no graph is recorded through it (it does not require grad, or grad mode is
    off). While a graph is recorded, the result is computed out of place and a new tensor is
    returned: deltagrad records no graph through in-place ops (see Tensor._inplace), where
    torch rebases the input's history onto the in-place node."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"dropout: p: expected a float in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: dropout probability has to be between 0 and 1, but got {p}")
    x = _tensor(input, "dropout")
    write = _writes_input(x, inplace, "dropout")  # the activations' inplace rule
    if not training or p == 0.0 or x.data.size == 0:
        return x
    xp = get_array_module(x.data)
    if x.data.dtype.kind != "f":  # as torch: x times a float mask, cast back to x's dtype
        if p < 1.0:
            name = _TORCH_TYPE_NAMES.get(x.data.dtype.name, x.data.dtype.name)
            raise _CastError(
                f"dropout: result type Float can't be cast to the desired output type {name} "
                "(dropout of an integer or bool tensor); convert the input to a float dtype"
            )
        zeros = xp.zeros_like(x.data)  # p == 1: x * 0, which the cast keeps
        return _write(x, zeros, "dropout") if write else _no_graph(zeros, "dropout")
    from ._random import get_rng

    keep = get_rng().random(x.shape) >= p
    scale = xp.asarray(keep / (1.0 - p) if p < 1.0 else keep * 0.0, dtype=x.dtype)
    if write:
        with x._inplace("dropout") as d:
            d *= scale
        return x

    def _backward(g: Any) -> None:
        x._accumulate(g * scale)

    db = _dg2.scale_dbackward(scale)
    return Tensor._make(x.data * scale, (x,), _backward, "dropout", saves=(), dbackward=db)


# ---- linear ---------------------------------------------------------------------------------


def _accumulates_into(buf: Any, like: Any, *inputs: Any) -> bool:
    """True when the kept .grad buf can take the linear backward's accumulation: a numpy
    array of the parameter's shape and dtype, sharing no memory with the kernel's inputs."""
    if type(buf) is not np.ndarray or type(like) is not np.ndarray:
        return False
    if buf.shape != like.shape or buf.dtype != like.dtype:
        return False
    for a in inputs:
        if a is not None and np.may_share_memory(buf, a):
            return False
    return True


_LINEAR_ALPHA = {"elu": 1.0, "celu": 1.0}


def linear(
    x: Any, w: Any, b: Any = None, activation: str | None = None, *, negative_slope: float = 0.01
) -> Tensor:
    """activation(x @ w.T + b) in one fused kernel; w is (out_features, in_features).

    activation: None (identity), a name of ACTIVATIONS (leaky_relu takes negative_slope; elu
    and celu run with torch's default alpha, 1.0) or of ACTIVATION_ALIASES. x may have leading
    batch dimensions: (..., in_features).
    """
    x, w = _tensor(x, "linear: x"), _tensor(w, "linear: w")
    b = None if b is None else _tensor(b, "linear: b")
    act = _activation_name(activation)
    # the kernels' param: leaky_relu's slope; elu's and celu's alpha, torch's default 1.0
    param = float(negative_slope) if act == "leaky_relu" else _LINEAR_ALPHA.get(act, 0.0)
    if w.ndim != 2:
        raise _ShapeError(f"linear: w must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise _ShapeError(
            f"linear: x has shape {x.shape}, expected (..., {w.shape[1]}) to match "
            f"w of shape {w.shape}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise _ShapeError(f"linear: b has shape {b.shape}, expected ({w.shape[0]},)")
    if x.data.dtype != w.data.dtype:  # name the input, not the weights the user did not pass
        raise TypeError(
            f"linear: x has dtype {x.data.dtype} but the weights w are {w.data.dtype} (torch: "
            "mat1 and mat2 must have the same dtype); convert the input (x.float() / "
            "x.double()) or the model (model.double() / model.float())"
        )
    if x.ndim != 2:
        lead = x.shape[:-1]
        y2 = linear(x.reshape(-1, w.shape[1]), w, b, activation, negative_slope=negative_slope)
        return y2.reshape(*lead, w.shape[0])
    y, z = ops.linear_forward(x.data, w.data, None if b is None else b.data, act, param)
    saved = z if ops.saves_input(act) else y

    def _backward(g: Any) -> None:
        need_dx, has_bias = x.requires_grad, b is not None
        # kept .grad buffers (zero_grad(set_to_none=False)): dW accumulated straight into
        # w.grad by the GEMM (beta = 1), db into b.grad: no temporaries, no second pass
        gw = _kept_grad(w) if w.grad is not None and w.requires_grad else None
        if gw is not None:
            gb = _kept_grad(b) if has_bias and b.requires_grad else None
            ins = (g, x.data, w.data, saved)
            if _accumulates_into(gw, w.data, *ins) and (
                not has_bias or (gb is not None and _accumulates_into(gb, b.data, *ins, gw))
            ):
                with _grad_lock:
                    dx = ops.linear_backward(
                        g, x.data, w.data, saved, act, param, need_dx, has_bias, dw=gw, db=gb
                    )[0]
                if need_dx:
                    x._accumulate(dx)
                return
        dx, dw, db = ops.linear_backward(
            g, x.data, w.data, saved, act, param, need_dx=need_dx, has_bias=has_bias
        )
        if need_dx:
            x._accumulate(dx)
        if w.requires_grad:
            w._accumulate(dw)
        if has_bias and b.requires_grad:
            b._accumulate(db)

    d_act = _ACT_GRAD.get(act)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        if act == "identity":
            gz = g
        else:  # the pre-activation recomputed with a graph to x, w and b
            z = x @ w.T if b is None else x @ w.T + b
            gz = d_act(g, z, param)
        return (
            gz @ w if x.requires_grad else None,
            gz.T @ x if w.requires_grad else None,
            *(() if b is None else (gz.sum(0) if b.requires_grad else None,)),
        )

    parents = (x, w) if b is None else (x, w, b)
    name = "linear" if act == "identity" else f"linear_{act}"
    return Tensor._make(
        y, parents, _backward, name, dbackward=None if d_act is None else _dbackward
    )


# ---- losses ---------------------------------------------------------------------------------
#
# The signatures are torch 2.13's, size_average / reduce (its deprecated spellings of reduction)
# included; deltagrad._reduction maps them as torch does, with torch's warning. A str where
# size_average (or weight) stands is taken as the reduction, as deltagrad's losses took it there
# before: mse_loss(input, target, "sum").

from ._reduction import resolve_reduction as _resolve_reduction  # noqa: E402


def _check_reduction(reduction: str, owner: str) -> None:
    """For nn's loss modules, which check their reduction when built (the functions below
    leave it to dg.ops)."""
    choice(reduction, ops.REDUCTIONS, owner, "reduction")


def _pair(y: Any, t: Any, name: str, mismatch: str | None = None) -> tuple[Tensor, Tensor]:
    """input and target as Tensors, target cast to input's dtype. Their shapes must be equal
    (mismatch: the error's message, torch's, when they are not); "broadcast": torch's
    regression losses, which warn and broadcast (_broadcast_regression)."""
    y, t = _tensor(y, f"{name}: input"), _tensor(t, f"{name}: target")
    if mismatch == "broadcast":
        # stacklevel 4: the warning points at the loss function's caller
        y, t = _broadcast_regression(y, t, name, stacklevel=4)
    elif t.shape != y.shape:
        raise ValueError(
            f"{name}: "
            + (mismatch or "target has shape {t}, expected the input's shape {y}").format(
                t=t.shape, y=y.shape
            )
        )
    if t.dtype != y.dtype:
        t = t.astype(y.dtype) if t.requires_grad else Tensor(t.data.astype(y.dtype))
    return y, t


def _loss(
    loss: Any,
    grad: Any,
    y: Tensor,
    t: Tensor | None,
    op: str,
    target_grad_sign: float = 0.0,
    target_grad: Any = None,
    dbackward: Any = None,
    fn: Any = None,
) -> Tensor:
    """A loss node whose forward pass already produced d(loss)/dy ("none": per row).
    target_grad_sign: d(loss)/dt = sign * d(loss)/dy when the loss is differentiable in t;
    target_grad: d(loss)/dt itself (reduced as grad is) when it is not a multiple of it.
    dbackward: the node's differentiable backward (create_graph=True), if the loss has one;
    or fn(y, t): the loss recomputed from Tensor ops (the double backward differentiates it)."""

    def _scaled(d: Any, g: Any) -> Any:
        if g.ndim == 0:  # the usual loss.backward(): g is 1, so skip a pass over d
            # (item(): a Python compare, not a ufunc call on a 0-d array)
            if type(g) is np.ndarray and g.item() == 1:
                _disown(d)  # the node's own array: a retained graph hands it again
                return d
            return d * g
        # reduction "none": one loss per row (or element), scale each row's gradient
        return d * g.reshape(g.shape + (1,) * (d.ndim - g.ndim))

    def _backward(g: Any) -> None:
        gy = _scaled(grad, g)
        if y.requires_grad:
            y._accumulate(gy)
        if t is not None and t.requires_grad:
            t._accumulate(target_grad_sign * gy if target_grad is None else _scaled(target_grad, g))

    with_t = t is not None and (target_grad_sign or target_grad is not None)
    parents = (y, t) if with_t else (y,)
    if fn is not None:
        dbackward = _dg2.recompute_dbackward(fn, y, t)
    return Tensor._make(loss, parents, _backward, op, dbackward=dbackward)


def sum_of_squares(y: Any, t: Any) -> Tensor:
    """E = 0.5 * sum((y - t)**2), Bishop's sum-of-squares error. Differentiable in y and t."""
    y, t = _pair(y, t, "sum_of_squares")
    loss, dy = ops.sum_of_squares(y.data, t.data)
    return _loss(loss, dy, y, t, "sum_of_squares", -1.0)


def mse_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """mean((y - t)**2) (or "sum", or "none"), y the input and t the target; weight (the
    input's shape) scales each element's loss, "mean" then dividing by weight.sum(), as torch.
    A target of another shape is broadcast with input, with torch's UserWarning.
    Differentiable in input, target and weight."""
    op = "mse_loss"
    x = _tensor(input, f"{op}: input")  # weight must have its shape (before the broadcast)
    y, t = _pair(x, target, op, "broadcast")
    reduction = _resolve_reduction(size_average, reduce, reduction, op)
    if weight is not None:
        return _weighted(mse_loss(y, t, reduction="none"), weight, x, reduction, op, True)
    loss, dy = ops.mse_loss(y.data, t.data, reduction)
    n = y.data.size

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        gy = g * (y - t) * (2.0 / n if reduction == "mean" else 2.0)
        return gy, -gy

    return _loss(loss, dy, y, t, op, -1.0, dbackward=_dbackward)


def _weighted(
    loss: Tensor, weight: Any, x: Tensor, reduction: str, op: str, by_weight: bool
) -> Tensor:
    """torch 2.13's weight= of mse_loss, l1_loss and huber_loss: the elementwise loss times
    weight (which must have the input's shape, as torch), reduced; "mean" divides by
    weight.sum() (by_weight: mse_loss, l1_loss) or by the number of elements (huber_loss), as
    torch. Tensor ops, so differentiable in weight too (as torch's)."""
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    w = _tensor(weight, f"{op}: weight")
    if w.shape != x.shape:
        raise ValueError(
            f"{op}: weight: Weights and input must have the same size; got weight of shape "
            f"{w.shape} and input of shape {x.shape}"
        )
    out = loss * w
    if reduction == "none":
        return out
    if reduction == "sum":
        return out.sum()
    return out.sum() / w.sum() if by_weight else out.mean()


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-(t log p + (1-t) log(1-p)) on probabilities p (the input; t the target; each log
    clamped at -100, as torch), times `weight` (broadcast to p's shape; a constant) when
    given. Differentiable in p and in t."""
    op = "binary_cross_entropy"
    if isinstance(weight, str):  # binary_cross_entropy(p, t, "sum"): the older signature
        weight, reduction = None, weight
    reduction = _resolve_reduction(size_average, reduce, reduction, op)
    p, t = _pair(
        input,
        target,
        op,
        "Using a target size ({t}) that is different to the input size ({y}) is deprecated. "
        "Please ensure they have the same size.",
    )
    w = _bce_weight(weight, p, op, "weight")
    loss, dp = ops.binary_cross_entropy(p.data, t.data, reduction if w is None else "none")
    dt = None
    if t.requires_grad:  # d/dt = log(1 - p) - log(p), unclamped (+-inf at 0 and 1) as torch's
        xp = get_array_module(p.data)
        with np.errstate(divide="ignore", invalid="ignore"):
            dt = (xp.log1p(-p.data) - xp.log(p.data)).astype(p.dtype, copy=False)
        if w is None:
            dt = _mean_scaled(dt, reduction)
    fn = partial(_bce_fn, w)
    if w is None:
        return _loss(loss, dp, p, t, op, target_grad=dt, fn=partial(_reduced, fn, reduction))
    return _reduce_elementwise(
        loss * w, dp * w, p, t, reduction, op, target_grad=None if dt is None else dt * w, fn=fn
    )


def _mean_scaled(d: Any, reduction: str) -> Any:
    """An elementwise d(loss)/dt as the reduction scales it ("mean": divided by the count)."""
    return d / d.size if reduction == "mean" and d.size else d


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """binary_cross_entropy(sigmoid(z), t) computed stably from logits z; also multi-label
    (z of shape (N, K)). Differentiable in z and t (d/dt = -z). As torch: `weight` scales
    each element's loss (broadcast to z's shape); `pos_weight` (broadcast along the last
    dim: one per class) weighs the positive term, l = (1 - t) z + (1 + (pos_weight - 1) t)
    softplus(-z). Both are constants."""
    op = "binary_cross_entropy_with_logits"
    if isinstance(weight, str):  # binary_cross_entropy_with_logits(z, t, "sum"): the older one
        weight, reduction = None, weight
    reduction = _resolve_reduction(size_average, reduce, reduction, op)
    z, t = _pair(input, target, op, "Target size ({t}) must be the same as input size ({y})")
    w = _bce_weight(weight, z, op, "weight")
    pw = _bce_weight(pos_weight, z, op, "pos_weight")
    if w is None and pw is None:  # the fused kernel
        loss, dz = ops.binary_cross_entropy_with_logits(z.data, t.data, reduction)
        dt = _mean_scaled(-z.data, reduction) if t.requires_grad else None
        fn = partial(_reduced, partial(_bce_logits_fn, None, None), reduction)
        return _loss(loss, dz, z, t, op, target_grad=dt, fn=fn)
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    xp = get_array_module(z.data)
    zd, td = z.data, t.data
    out = None
    if _on_host(xp):
        out = _bce_logits_kernel(zd, td, pw, t.requires_grad)
    if out is None:  # a device, or an infinite (or NaN) loss: the stable expression
        out = _bce_logits_expr(zd, td, pw, t.requires_grad, xp)
    loss, dz, dt = out
    if w is not None:
        loss, dz = loss * w, dz * w
        dt = None if dt is None else dt * w
    cast = lambda a: None if a is None else xp.asarray(a, dtype=zd.dtype)  # noqa: E731
    fn = partial(_bce_logits_fn, w, pw)
    return _reduce_elementwise(
        cast(loss), cast(dz), z, t, reduction, op, target_grad=cast(dt), fn=fn
    )


def _bce_logits_kernel(zd: Any, td: Any, pw: Any, need_dt: bool) -> tuple[Any, ...] | None:
    """binary_cross_entropy_with_logits's elementwise (loss, d/dz, d/dt or None), pos_weight
    pw (or None) applied, without `weight`: the fused kernel's unweighted l0 = (1 - t) z +
    softplus(-z) and d0 = sigmoid(z) - t, then pos_weight's correction q = (pw - 1) t:
    loss = l0 + q softplus(-z) and d/dz = d0 - q sigmoid(-z), with softplus(-z) =
    l0 - (1 - t) z and sigmoid(-z) = 1 - (d0 + t). None where the loss is not finite (an
    infinite z makes l0 - (1 - t) z NaN; the kernel's limits at z = +-inf are not the
    expression's, which stay as they were): _bce_logits_expr then."""
    if not bool(np.isfinite(zd).all()):
        return None
    loss, dz = ops.binary_cross_entropy_with_logits(zd, td, "none")
    dt = -zd if need_dt else None
    if pw is None:
        return loss, dz, dt
    with np.errstate(over="ignore", invalid="ignore"):
        q = (pw - 1) * td
        sp = td * zd
        sp -= zd
        sp += loss  # softplus(-z)
        if need_dt:
            dt = (pw - 1) * sp
            dt -= zd
        sp *= q
        loss += sp
        if not math.isfinite(float(loss.sum())):
            return None
        sg = dz + td
        sg -= 1  # -sigmoid(-z)
        sg *= q
        dz += sg
    return loss, dz, dt


def _bce_logits_expr(zd: Any, td: Any, pw: Any, need_dt: bool, xp: Any) -> tuple[Any, ...]:
    """_bce_logits_kernel's triple from the stable elementwise expression (any z)."""
    with np.errstate(over="ignore", invalid="ignore"):
        sp = xp.log1p(xp.exp(-xp.abs(zd))) + xp.maximum(-zd, 0)  # softplus(-z), stably
        lw = 1 if pw is None else 1 + (pw - 1) * td  # the positive term's weight
        loss = (1 - td) * zd + lw * sp
        # d/dz = lw sigmoid(z) - t (pw t with pos_weight), as torch's (finite at z = -inf),
        # with sigmoid(z) = exp(-softplus(-z))
        dz = lw * xp.exp(-sp) - (td if pw is None else pw * td)
        dt = None
        if need_dt:
            dt = -zd if pw is None else -zd + (pw - 1) * sp
    return loss, dz, dt


def _bce_weight(v: Any, x: Tensor, op: str, name: str) -> Any:
    """A BCE weight as an array of x's dtype that broadcasts to x's shape (None stays None).
    A weight that requires grad is refused: deltagrad treats it as a constant."""
    if v is None:
        return None
    if isinstance(v, Tensor):
        if v.requires_grad:
            raise NotImplementedError(
                f"{op}: {name}: a weight that requires grad is not differentiated here; pass "
                f"{name}.detach()"
            )
        v = v.data
    xp = get_array_module(x.data)
    if not (isinstance(v, (np.ndarray, int, float, np.number)) or is_device_array(v)):
        raise TypeError(f"{op}: {name}: expected a Tensor, an array or a number, got {type(v)}")
    a = xp.asarray(v, dtype=x.data.dtype)
    try:
        shape = np.broadcast_shapes(a.shape, x.shape)
    except ValueError:
        shape = None
    if shape != tuple(x.shape):
        raise ValueError(
            f"{op}: {name} has shape {tuple(a.shape)}, which does not broadcast to the "
            f"input's shape {tuple(x.shape)}"
        )
    return a


def _reduce_elementwise(
    loss: Any,
    grad: Any,
    y: Tensor,
    t: Tensor,
    reduction: str,
    op: str,
    target_grad: Any = None,
    fn: Any = None,
) -> Tensor:
    """Reduce an elementwise loss (and its elementwise d loss / dy) as torch: "mean" divides
    by the number of elements (nan when there are none), "sum", "none". The loss is
    differentiable in y and in t: d/dt = target_grad (elementwise, reduced alike), or -d/dy
    when that is None. fn(y, t): the elementwise loss from Tensor ops (the double backward)."""
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    sign = -1.0 if target_grad is None else 0.0
    red = None if fn is None else partial(_reduced, fn, reduction)
    if reduction == "none":
        return _loss(loss, grad, y, t, op, sign, target_grad, fn=red)
    xp = get_array_module(loss)
    total = loss.sum()
    if reduction == "mean":
        n = loss.size
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / n if n else xp.asarray(np.nan, dtype=loss.dtype)
            grad = grad / n if n else grad
            if target_grad is not None and n:
                target_grad = target_grad / n
    return _loss(xp.asarray(total, dtype=loss.dtype), grad, y, t, op, sign, target_grad, fn=red)


def _reduced(fn: Any, reduction: str, y: Tensor, t: Tensor) -> Tensor:
    loss = fn(y, t)
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if reduction == "mean" else loss


# the elementwise losses as Tensor ops (their double backward recomputes them)


def _l1_fn(y: Tensor, t: Tensor) -> Tensor:
    return (y - t).abs()


def _smooth_l1_fn(beta: float, huber: bool, y: Tensor, t: Tensor) -> Tensor:
    """smooth_l1 (0.5 d^2 / beta inside, |d| - beta / 2 outside) or huber (beta = delta:
    0.5 d^2 inside, delta (|d| - delta / 2) outside)."""
    d = y - t
    z = d.abs()
    if huber:
        return _where(z.data < beta, 0.5 * d * d, beta * (z - 0.5 * beta))
    return _where(z.data < beta, (0.5 / beta) * d * d, z - 0.5 * beta)


def _bce_fn(w: Any, p: Tensor, t: Tensor) -> Tensor:
    loss = -(t * p.log().clamp(min=-100) + (1 - t) * (1 - p).log().clamp(min=-100))
    return loss if w is None else loss * Tensor(w)


def _bce_logits_fn(w: Any, pw: Any, z: Tensor, t: Tensor) -> Tensor:
    lw = 1 if pw is None else 1 + (Tensor(pw) - 1) * t
    sp = (-z).clamp(min=0) + (-z.abs()).exp().log1p()  # softplus(-z), stably
    loss = (1 - t) * z + lw * sp
    return loss if w is None else loss * Tensor(w)


def l1_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """|input - target| reduced ("mean", "sum" or "none"); the gradient at 0 is 0 (as
    torch). weight (the input's shape) scales each element's loss, "mean" then dividing by
    weight.sum(), as torch. A target of another shape is broadcast with input, with torch's
    UserWarning. Differentiable in input, target and weight."""
    op = "l1_loss"
    x = _tensor(input, f"{op}: input")  # weight must have its shape (before the broadcast)
    y, t = _pair(x, target, op, "broadcast")
    reduction = _resolve_reduction(size_average, reduce, reduction, op)
    if weight is not None:
        return _weighted(l1_loss(y, t, reduction="none"), weight, x, reduction, op, True)
    xp = get_array_module(y.data)
    d = y.data - t.data
    # the gradient sgn(d), 0 where d is NaN (torch's; the loss there is NaN)
    return _reduce_elementwise(xp.abs(d), _sgn(d), y, t, reduction, op, fn=_l1_fn)


def _positive(v: Any, op: str, name: str, allow_zero: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name}: expected a number, got {type(v).__name__}")
    v = float(v)
    if not (v >= 0.0 if allow_zero else v > 0.0) or v == float("inf"):
        raise ValueError(
            f"{op}: {name}: expected a finite number {'>=' if allow_zero else '>'} 0, got {v}"
        )
    return v


def smooth_l1_loss(
    input: Any,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta, with d = input - target
    (beta = 0: l1_loss), reduced as torch. A target of another shape is broadcast with input,
    with torch's UserWarning. Differentiable in input and target."""
    y, t = _pair(input, target, "smooth_l1_loss", "broadcast")
    reduction = _resolve_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    beta = _positive(beta, "smooth_l1_loss", "beta", allow_zero=True)
    if beta == 0.0:
        return l1_loss(y, t, reduction=reduction)
    return _smooth_l1_node(y, t, beta, False, reduction, "smooth_l1_loss")


def huber_loss(
    input: Any,
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Tensor:
    """0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta), with d = input - target,
    reduced as torch. weight (the input's shape) scales each element's loss ("mean" stays the
    mean over the elements, as torch's). A target of another shape is broadcast with input,
    with torch's UserWarning. Differentiable in input, target and weight."""
    x = _tensor(input, "huber_loss: input")  # weight must have its shape (before the broadcast)
    y, t = _pair(x, target, "huber_loss", "broadcast")
    delta = _positive(delta, "huber_loss", "delta", allow_zero=False)
    if weight is not None:
        loss = huber_loss(y, t, reduction="none", delta=delta)
        return _weighted(loss, weight, x, reduction, "huber_loss", False)
    return _smooth_l1_node(y, t, delta, True, reduction, "huber_loss")


def _smooth_l1_node(
    y: Tensor, t: Tensor, beta: float, huber: bool, reduction: str, op: str
) -> Tensor:
    """smooth_l1_loss / huber_loss (beta = delta > 0) in a few in-place passes: with
    d = y - t and c = clamp(d, -beta, beta), the elementwise huber loss is c (d - c / 2)
    (0.5 d^2 inside, beta (|d| - beta / 2) outside; smooth_l1's is it / beta) and its
    gradient c (/ beta). In place: h = -c / 2, d := (d + h) h = -loss / 2 (the scalings by
    -1/2 and -2 are exact), summed pairwise (a BLAS dot is ~1e-5 off in float32 on 4M
    elements). NaN and +-inf propagate as torch's. d/dt = -d/dy."""
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    xp = get_array_module(y.data)
    d = xp.asarray(y.data - t.data)  # (0-d: an array, not a scalar)
    h = xp.clip(d, -beta, beta, out=xp.empty_like(d))  # (one pass: minimum + maximum is 5x)
    n = d.size
    # smooth_l1's -2 / beta as one factor, unless it overflows the dtype (a subnormal beta):
    # then loss = (d - c / 2) (c / beta), c / beta in [-1, 1] (no product under- or overflows)
    scale = -2.0 if huber else -2.0 / beta
    split = not huber and not abs(scale) <= float(np.finfo(d.dtype).max)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if split:
            d -= 0.5 * h
            h /= beta  # the gradient c / beta
            d *= h  # the loss
            scale = 1.0
        else:
            h *= -0.5
            d += h
            d *= h  # -loss / 2 (huber's)
        if reduction == "none":
            if not split:
                d *= scale
            loss = d
        else:
            total = d.sum() if split else d.sum() * -2.0
            if not huber and not split:
                total = total / beta
            if reduction == "mean":
                total = total / n if n else np.nan
            loss = xp.asarray(total, dtype=d.dtype)
        if reduction == "mean" and n:
            scale /= n
        h *= scale  # the gradient c (/ beta) (/ n)
    fn = partial(_reduced, partial(_smooth_l1_fn, beta, huber), reduction)
    return _loss(loss, h, y, t, op, -1.0, fn=fn)


# ---- class-index losses: nll_loss, cross_entropy ---------------------------------------------


def _as_array(x: Any, xp: Any) -> Any:
    if isinstance(x, Tensor):
        x = x.data
    if isinstance(x, np.ndarray) or is_device_array(x):
        return x if xp is np or is_device_array(x) else xp.asarray(x)
    return xp.asarray(np.asarray(x))


def _to_rows(x: Any, xp: Any) -> Any:
    """(C,), (N, C) or (N, C, d1, ...) -> (rows, C) with the class dimension last."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return xp.ascontiguousarray(xp.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _from_rows(g2: Any, shape: tuple[int, ...], xp: Any) -> Any:
    if len(shape) <= 2:
        return g2.reshape(shape)
    return xp.moveaxis(g2.reshape((shape[0], *shape[2:], shape[1])), -1, 1)


def _batch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return () if len(shape) == 1 else (shape[0], *shape[2:])


def _class_input(x: Any, op: str, name: str = "input") -> Tensor:
    x = _tensor(x, f"{op}: {name}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name}: expected a float32 or float64 tensor, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(
            f"{op}: {name}: expected (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor"
        )
    return x


def _class_target(t: Any, shape: tuple[int, ...], op: str) -> Any:
    """Integer class indices of the input's batch shape, as int64 rows (M,)."""
    if t.dtype.kind not in "iu" or t.dtype == np.bool_:
        raise _PromoteError(
            f"{op}: target: expected an integer array of class indices (or, for "
            f"cross_entropy, float class probabilities of the input's shape {shape}), got "
            f"dtype {t.dtype}"
        )
    want = _batch_shape(shape)
    if t.shape != want:
        # torch's ValueError when the batch sizes differ, else its RuntimeError
        batch = len(shape) == 1 or (t.ndim > 0 and t.shape[0] == shape[0])
        kind = _ShapeError if batch else ValueError
        if len(shape) == 2:
            what = f"must be 1-D ({shape[0]},) class indices"
        elif len(shape) == 1:
            what = (
                f"for an input of shape {shape} (one sample; a batch is 2-D (N, C)) must be "
                "a 0-d class index"
            )
        else:
            what = f"must have shape {want}, the input's without its class dimension 1"
        raise kind(f"{op}: target {what}, got shape {tuple(t.shape)}")
    return t.reshape(-1).astype(np.int64, copy=False)


def _class_weight(weight: Any, c: int, dtype: Any, xp: Any, op: str) -> Any:
    if weight is None:
        return None
    w = _as_array(weight, xp)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{op}: weight: expected a float tensor, got dtype {w.dtype}")
    if w.shape != (c,):
        raise _ShapeError(
            f"{op}: weight: expected shape ({c},), one weight per class, got {tuple(w.shape)}"
        )
    return w.astype(dtype, copy=False)


def _ignore_index(v: Any, op: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index: expected an int, got {v!r}")
    return int(v)


class _ClassIndexError(IndexRangeError, ValueError):
    """A target class index out of [0, C): torch's IndexError ("Target 4 is out of bounds."),
    the class of every out-of-range index (_cpu.IndexRangeError, an IndexError and a
    RuntimeError), still a ValueError as deltagrad raised before."""


def _check_class_range(t: Any, valid: Any, c: int, ignore_index: int, op: str) -> None:
    """torch's IndexError for a target (not ignore_index) out of [0, C)."""
    bad = valid & ((t < 0) | (t >= c))
    if bool(bad.any()):
        raise _ClassIndexError(
            f"{op}: target: class index {int(t[bad][0])} is out of range: expected "
            f"indices in [0, {c}) or ignore_index={ignore_index}"
        )


class _ClassLoss:
    """Per-row class-index loss pieces on (M, C) log-probabilities: the loss (reduced as
    torch) and d loss / d logp as coefficients A (d loss / d logp = -A)."""

    def __init__(
        self, logp: Any, t: Any, w: Any, ignore_index: int, eps: float, reduction: str, op: str
    ) -> None:
        xp = get_array_module(logp)
        m, c = logp.shape
        valid = t != ignore_index
        _check_class_range(t, valid, c, ignore_index, op)
        tv = xp.where(valid, t, 0)
        rows = xp.arange(m)
        zero = xp.zeros((), dtype=logp.dtype)
        wy = valid.astype(logp.dtype) if w is None else xp.where(valid, w[tv], zero)
        nll = xp.where(valid, -wy * logp[rows, tv], zero) if m else wy
        smooth = None
        if eps:
            s = -(logp * w).sum(1) if w is not None else -logp.sum(1)
            smooth = xp.where(valid, s, zero)
        self.xp, self.valid, self.tv, self.rows, self.wy, self.w = xp, valid, tv, rows, wy, w
        self.eps, self.c, self.reduction = eps, c, reduction
        self.denom = wy.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            if reduction == "none":
                loss = nll if smooth is None else (1 - eps) * nll + (eps / c) * smooth
            else:
                red = nll.sum() / self.denom if reduction == "mean" else nll.sum()
                if smooth is not None:
                    sred = smooth.sum() / self.denom if reduction == "mean" else smooth.sum()
                    red = (1 - eps) * red + (eps / c) * sred
                loss = red
        self.loss = xp.asarray(loss, dtype=logp.dtype)

    def coefficients(self, g: Any, dtype: Any) -> Any:
        """A * (d total / d loss) per row: what d total / d logp is, negated."""
        xp = self.xp
        m = self.valid.shape[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.reduction == "none":
                r = g.reshape(-1)
            elif self.reduction == "mean":
                r = xp.broadcast_to(g / self.denom, (m,))
            else:
                r = xp.broadcast_to(g, (m,))
        r = xp.where(self.valid, r, xp.zeros((), dtype=dtype))  # ignored rows: exactly 0
        a = xp.zeros((m, self.c), dtype=dtype)
        if self.eps:
            wc = self.w if self.w is not None else xp.ones(self.c, dtype=dtype)
            a += (self.eps / self.c) * wc[None, :] * r[:, None]
        a[self.rows, self.tv] += (1 - self.eps) * self.wy * r
        return a


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The negative log-likelihood of class indices given log-probabilities, as torch:
    input (C,), (N, C) or (N, C, d1, ...); target the input's shape without dimension 1;
    loss_n = -weight[t_n] * input[n, t_n] (0 where t_n == ignore_index); "mean" divides the
    sum by the sum of weight[t_n] over the targets not ignored. Differentiable in input."""
    op = "nll_loss"
    if isinstance(weight, str):  # nll_loss(logp, target, "sum"): the older signature
        weight, reduction = None, weight
    reduction = _resolve_reduction(size_average, reduce, reduction, op)
    x = _class_input(input, op)
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    ignore_index = _ignore_index(ignore_index, op)
    xp = get_array_module(x.data)
    t = _class_target(_as_array(target, xp), x.shape, op)
    c = x.shape[0 if x.ndim == 1 else 1]
    w = _class_weight(weight, c, x.dtype, xp, op)
    return _nll_gather(x, t, w, ignore_index, reduction, xp)


def _nll_gather(x: Tensor, t: Any, w: Any, ignore_index: int, reduction: str, xp: Any) -> Tensor:
    """nll_loss by a gather along the class dimension where it lies (no copy moving it last):
    with x viewed as (N, C, S) (S = d1 * d2 ..., 1 for (C,) and (N, C)), row i = (n, s) reads
    x.flat[(n C + t_i) S + s]; the backward scatters the M row coefficients into zeros, and
    the (M, C) K matrix of the double backward is built only when one runs. Values, errors
    and reductions are _ClassLoss's."""
    op = "nll_loss"
    dt = x.dtype
    shape = x.shape
    c = shape[0 if x.ndim == 1 else 1]
    m = t.shape[0]
    valid = t != ignore_index
    _check_class_range(t, valid, c, ignore_index, op)
    some = not _on_host(xp) or not bool(valid.all())  # some rows ignored (or maybe: device)
    tv = xp.where(valid, t, 0) if some else t.copy()  # (a copy: t may be the caller's)
    n = 1 if x.ndim == 1 else shape[0]
    s = m // n if n else 0
    # flat positions: row i = n S + s -> (n C + t_i) S + s = i + n (C - 1) S + t_i S
    if s == 1:
        pos = xp.arange(m, dtype=np.int64) * c + tv
    else:
        pos = xp.arange(m, dtype=np.int64).reshape(n, s)
        pos += (xp.arange(n, dtype=np.int64) * ((c - 1) * s))[:, None]
        pos = pos.reshape(-1)
        pos += tv * s
    flat = x.data.reshape(-1)  # a view when x is contiguous
    vals = flat[pos] if c else xp.zeros(m, dtype=dt)  # (C = 0: every row ignored)
    zero = xp.zeros((), dtype=dt)
    if w is None:
        wy = valid.astype(dt)
        nll = xp.where(valid, -wy * vals, zero) if some else -vals
    else:
        wy = xp.where(valid, w[tv], zero) if some else w[tv]
        nll = xp.where(valid, -wy * vals, zero) if some else -wy * vals
    if not m:
        nll = wy
    denom = wy.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "none":
            loss = nll.reshape(_batch_shape(shape))
        else:
            loss = nll.sum() / denom if reduction == "mean" else nll.sum()
    loss = xp.asarray(loss, dtype=dt)

    def _backward(g: Any) -> None:
        with np.errstate(invalid="ignore", divide="ignore"):
            if reduction == "none":
                r = g.reshape(-1)
            else:
                r = g / denom if reduction == "mean" else g
            coef = -wy * r  # ignored rows: wy is 0 (r, inf or NaN there, masked below)
            if some:
                coef = xp.where(valid, coef, zero)
        gx = xp.zeros(shape, dtype=dt)
        if c:
            gx.reshape(-1)[pos] = coef
        x._accumulate(gx)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        # -K g with K's rows the "mean"-scaled target weights (the divisor folded into the
        # constant, so an all-ignored "mean" gives 0 as torch, not 0 * inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            kv = wy / denom if reduction == "mean" else wy
            if some:
                kv = xp.where(valid, kv, zero)
        k = xp.zeros((m, c), dtype=dt)
        if c:
            k[xp.arange(m), tv] = kv
        r = g.reshape(m, 1) if reduction == "none" else g.reshape(1, 1)
        return (_from_rows_t(-(Tensor(k) * r), shape),)

    return Tensor._make(loss, (x,), _backward, op, saves=(), dbackward=_dbackward)


def _onehot(t: Any, c: int, dtype: Any) -> Any:
    xp = get_array_module(t)
    k = xp.zeros((t.shape[0], c), dtype=dtype)
    k[xp.arange(t.shape[0]), t] = 1
    return k


def _class_k(core: _ClassLoss, dtype: Any) -> Any:
    """The constant K of a class-index loss: d loss_row / d logp = -K[row] * r(g) (see
    _ClassLoss.coefficients, which is K * r[:, None] with r linear in g)."""
    xp = core.xp
    k = xp.zeros((core.valid.shape[0], core.c), dtype=dtype)
    if core.eps:
        wc = core.w if core.w is not None else xp.ones(core.c, dtype=dtype)
        k += (core.eps / core.c) * wc[None, :]
    k[core.rows, core.tv] += (1 - core.eps) * core.wy
    k[~core.valid] = 0
    return k


def _class_dbackward(
    x: Tensor, k: Any, reduction: str, softmax_first: bool, denom: Any = None
) -> Any:
    """The differentiable backward of cross_entropy (softmax_first) / nll_loss with class
    indices, for (C,), (N, C) and (N, C, d1, ...) inputs (k: per row of _to_rows, or a
    function that builds it, called only when a double backward runs): A = K * r(g),
    d/dx = softmax(x) * A.sum(1) - A (cross_entropy) or -A (nll_loss). The weights and the
    "mean" divisor are constants, as torch's."""

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        kk = k() if callable(k) else k
        m = kk.shape[0]
        kt = Tensor(kk)
        denom_ = m if denom is None else denom
        if reduction == "none":
            r = g.reshape(m, 1)
        elif reduction == "mean":  # every target ignored (denominator 0): K is 0, so is A
            r = (g * 0.0 if float(denom_) == 0 else g / denom_).reshape(1, 1)
        else:
            r = g.reshape(1, 1)
        a = kt * r
        if not softmax_first:
            return (_from_rows_t(-a, x.shape),)
        p = softmax(_rows_t(x), 1)
        return (_from_rows_t(p * a.sum(1, keepdim=True) - a, x.shape),)

    return _dbackward


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy, as torch.nn.functional.cross_entropy.

    input: logits (C,), (N, C) or (N, C, d1, ...). target: class indices (the input's shape
    without dimension 1) or class probabilities (float, the input's shape). weight: (C,)
    per-class weights; ignore_index: a target value that contributes nothing (class indices
    only); label_smoothing in [0, 1]: the target mixes with the uniform distribution. The
    reductions are torch's: with class indices "mean" divides by the sum of the weights of
    the targets not ignored; with probabilities by the number of samples.
    The plain case ((N, C) logits, class indices, no weight, no smoothing, nothing ignored)
    runs one fused kernel (dg.ops.softmax_cross_entropy). A str as the third argument is
    taken as the reduction (deltagrad's older signature)."""
    op = "cross_entropy"
    if size_average is not None or reduce is not None:
        reduction = _resolve_reduction(size_average, reduce, reduction, op)
    # the training hot path first: (N, C) logits and int class indices, no option set
    if (
        weight is None
        and type(input) is Tensor
        and type(label_smoothing) is float
        and label_smoothing == 0.0
        and type(ignore_index) is int
    ):
        t = target.data if type(target) is Tensor else target
        x = input.data
        if (
            type(t) is np.ndarray
            and type(x) is np.ndarray
            and x.ndim == 2
            and t.ndim == 1
            and t.dtype.kind in "iu"
            and not 0 <= ignore_index < x.shape[1]
        ):
            try:
                loss, dlogits = ops.softmax_cross_entropy(x, t, reduction)
            except (ValueError, TypeError):
                pass  # a target to ignore, or an error the general path below names
            else:
                k = partial(_onehot, t.copy(), x.shape[1], x.dtype)  # (t: the caller's)
                db = _class_dbackward(input, k, reduction, True)
                return _loss(loss, dlogits, input, None, op, dbackward=db)
    if isinstance(weight, str):  # cross_entropy(logits, target, "sum"): the old signature
        weight, reduction = None, weight
    x = _class_input(input, op)
    ignore_index = _ignore_index(ignore_index, op)
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{op}: label_smoothing: expected a float, got {label_smoothing!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{op}: label_smoothing: expected a float in [0, 1], got {eps}")
    xp = get_array_module(x.data)
    tdata = _as_array(target, xp)
    prob = tuple(tdata.shape) == x.shape
    if prob and tdata.dtype.kind != "f":
        raise _PromoteError(
            f"{op}: target: has the input's shape {x.shape}, so it holds class "
            f"probabilities and must be float, got dtype {tdata.dtype}"
        )
    choice(reduction, ops.REDUCTIONS, op, "reduction")
    c = x.shape[0 if x.ndim == 1 else 1]
    w = _class_weight(weight, c, x.dtype, xp, op)
    if not prob:
        tc = _class_target(tdata, x.shape, op)
        out = None
        if x.ndim >= 3 and type(x.data) is np.ndarray:
            out = _ce_spatial(x, tc, w, ignore_index, eps, reduction)
        if out is None:
            out = _ce_fused(x, tc, w, ignore_index, eps, reduction)
        if out is not None:
            return out
    x2 = _to_rows(x.data, xp)
    logp = ops.log_softmax(xp.ascontiguousarray(x2))
    if prob:
        return _cross_entropy_prob(x, target, tdata, x2, logp, w, eps, reduction, xp)
    t = _class_target(tdata, x.shape, op)
    core = _ClassLoss(logp, t, w, ignore_index, eps, reduction, op)
    loss = core.loss.reshape(_batch_shape(x.shape)) if reduction == "none" else core.loss

    def _backward(g: Any) -> None:
        a = core.coefficients(g, x.dtype)
        dx = xp.exp(logp) * a.sum(1, keepdims=True) - a
        x._accumulate(_from_rows(dx, x.shape, xp))

    db = _class_dbackward(x, _class_k(core, x.dtype), reduction, True, core.denom)
    return Tensor._make(loss, (x,), _backward, op, saves=(), dbackward=db)


def _on_host(xp: Any) -> bool:
    """Whether arrays of xp live on the host, where a data-dependent branch costs no device
    synchronization (tests patch it to run the device branches on numpy)."""
    return xp is np


def _ce_fused(
    x: Tensor, t: Any, w: Any, ignore_index: int, eps: float, reduction: str
) -> Tensor | None:
    """cross_entropy with class indices t (int64 rows) through the fused kernel
    (dg.ops.softmax_cross_entropy: nll_i = lse_i - z_{i,y_i} and softmax - onehot per row).
    torch's loss per kept row, W = sum(w) (C unweighted), w_y = w[y_i] (1 unweighted):
        (1 - e) w_y nll_i + (e / C) sum_c w_c (lse_i - z_ic)
        = (1 - e) w_y nll_i + (e / C) (W (nll_i + z_{i,y_i}) - z_i . w),
    and its gradient a_i (softmax - onehot) + (e W / C) onehot - (e / C) w with
    a_i = (1 - e) w_y + e W / C, each row scaled by the reduction (1 / sum of the kept rows'
    w_y for "mean") and 0 where ignored: one scaling pass, one constant and one gather around
    the kernel's output. Ignored rows run the kernel with target 0. None when the kernel
    refuses (a target out of [0, C): the general path names it)."""
    xp = get_array_module(x.data)
    x2 = _to_rows(x.data, xp)
    m, c = x2.shape
    dt = x.dtype
    host = _on_host(xp)
    # on a device every row is taken as possibly ignored: no synchronization to find out
    some = not host or bool((t == ignore_index).any())
    valid = t != ignore_index if some else None
    tk = xp.where(valid, t, 0) if some else t
    if not host and (w is not None or eps):
        _check_class_range(t, valid, c, ignore_index, "cross_entropy")  # as the path below
    plain = w is None and not some
    try:
        loss0, d = ops.softmax_cross_entropy(x2, tk, reduction if plain else "none")
    except ValueError:
        return None
    rows = xp.arange(m)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if plain:  # the kernel reduced the loss and scaled d by s
            denom = m
            if eps:
                s = 1.0 if reduction != "mean" else (1.0 / m if m else math.nan)
                zy = x2[rows, tk]
                with np.errstate(invalid="ignore"):
                    if reduction == "none":  # nll + e (z_y - mean_c z_c)
                        loss = loss0 + eps * (zy - x2.sum(1) / c)
                    else:
                        loss = loss0 + (eps * s) * (zy.sum() - x2.sum() / c)
                # a -inf target logit: nll is +inf, and so is the loss (not inf - inf)
                loss = xp.where(loss0 == math.inf, loss0, loss)
                d -= eps * s / c
                d[rows, tk] += eps * s
            else:
                loss = loss0
        else:
            vf = valid.astype(dt) if some else xp.ones(m, dt)
            wy = vf if w is None else (w[tk] * vf if some else w[tk])
            denom = wy.sum()
            s = 1 / denom if reduction == "mean" else xp.ones((), dt)
            r = xp.where(valid, s, 0) if some else xp.broadcast_to(s, (m,))
            big_w = c if w is None else w.sum()
            d *= (((1 - eps) * wy + (eps * big_w / c)) * r).astype(dt, copy=False)[:, None]
            per = (1 - eps) * wy * loss0
            if eps:
                zy = x2[rows, tk]
                zw = x2.sum(1) if w is None else x2 @ w
                with np.errstate(invalid="ignore"):
                    smooth = (eps / c) * (big_w * (loss0 + zy) - zw)
                # a -inf target logit: nll is +inf (loss0 + z_y, the row's logsumexp, is NaN)
                per = xp.where((loss0 == math.inf) & (wy > 0), math.inf, per + smooth)
                b = ((eps / c) * r).astype(dt, copy=False)[:, None]
                d -= b if w is None else b * w
                d[rows, tk] += ((eps * big_w / c) * r).astype(dt, copy=False)
            if some:
                per = xp.where(valid, per, 0)  # an ignored row's nll may be inf or NaN
            if reduction == "none":
                loss = per
            else:
                loss = per.sum() / denom if reduction == "mean" else per.sum()
    loss = xp.asarray(loss, dtype=dt)
    if reduction == "none":
        loss = loss.reshape(_batch_shape(x.shape))

    def _backward(g: Any) -> None:
        if reduction == "none":
            gx = d * g.reshape(-1, 1)
        elif type(g) is np.ndarray and g.item() == 1:  # the usual loss.backward()
            gx = d
            _disown(d)  # d is the node's own: a retained graph hands it again (no alias)
        else:
            gx = d * g
        # (a reshaped view is safe to send: gx is fresh, or d, disowned: the engine keeps no
        # view of a disowned array as a .grad by reference, _engine._take)
        x._accumulate(gx if gx.shape == x.shape else _from_rows(gx, x.shape, xp))

    kt = tk if some else tk.copy()  # (not the caller's array, which may change)

    def _k() -> Any:
        k = xp.zeros((m, c), dtype=dt)
        if eps:
            k += (eps / c) * (w if w is not None else 1)
        k[rows, kt] += (1 - eps) * (1 if w is None else w[kt])
        if some:
            k[~valid] = 0
        return k

    db = _class_dbackward(x, _k, reduction, True, denom)
    return Tensor._make(loss, (x,), _backward, "cross_entropy", saves=(), dbackward=db)


# (N, C, d1, ...) logits with at least this many positions S = d1 * d2 ... per sample and
# elements in all take _ce_spatial; below, its passes over (N, S) slabs cost more than copying
# the class axis last for the fused kernel (_ce_fused; measured on (8, C, S), C 3 to 1000)
_SPATIAL_MIN_S = 256
_SPATIAL_MIN_SIZE = 1 << 14


def _ce_spatial(
    x: Tensor, t: Any, w: Any, ignore_index: int, eps: float, reduction: str
) -> Tensor | None:
    """cross_entropy with class indices on host (N, C, d1, ...) logits, in their own layout:
    x viewed as (N, C, S); the forward is the logsumexp kernel over the class axis
    (dg.ops.logsumexp(dim=1, target=...): blocks of neighbouring positions, the classes at
    their stride, each block read from memory once, the target logits picked from it); the
    backward is one pass of its backward kernel, rowc exp(x - lse) less (1 - e) w_y r at the
    targets (label smoothing adds a pass over the gradient).
    Neither the logits nor the gradient is copied to put the class axis last, and the node
    keeps only per-position arrays (and x, which it saves: the backward reads x, so changing
    x in place in between is the engine's error, not a wrong gradient). The loss and the
    gradient are _ce_fused's (the same formulas, the kernel's softmax being exp(x - lse)).
    None where _ce_fused should run instead (S small, an empty batch or no classes)."""
    xd = x.data
    n, c = xd.shape[0], xd.shape[1]
    m = t.shape[0]
    s = m // n if n else 0
    if m == 0 or c == 0 or s < _SPATIAL_MIN_S or m * c < _SPATIAL_MIN_SIZE:
        return None
    dt = x.dtype
    x3 = np.ascontiguousarray(xd).reshape(n, c, s)  # a view when x is contiguous
    lo, hi = int(t.min()), int(t.max())
    some = lo <= ignore_index <= hi and bool((t == ignore_index).any())
    valid = t != ignore_index if some else None
    tk = np.where(valid, t, 0) if some else t.copy()  # (a copy: t may be the caller's)
    if (lo < 0 or hi >= c) and (not some or int(tk.min()) < 0 or int(tk.max()) >= c):
        _check_class_range(t, t != ignore_index, c, ignore_index, "cross_entropy")
    tk2 = tk.reshape(n, s)
    lse2, zy2 = ops.logsumexp(x3, dim=1, target=tk2)  # (n, s) each: one pass
    lse, zy = lse2.reshape(-1), zy2.reshape(-1)
    plain = w is None and not some
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not np.isfinite(lse).all():  # a NaN, +inf or all -inf slab: NaN throughout, as torch
            lse[~np.isfinite(lse)] = np.nan
        loss0 = lse - zy  # nll per row (+inf for a -inf target logit)
        if plain:
            denom: Any = m
            wy: Any = 1.0
            r: Any = np.asarray(1.0 / m if reduction == "mean" else 1.0, dtype=dt)
        else:
            vf = valid.astype(dt) if some else np.ones(m, dt)
            wy = vf if w is None else (w[tk] * vf if some else w[tk])
            denom = wy.sum()
            sc = 1 / denom if reduction == "mean" else np.ones((), dt)
            r = np.where(valid, sc, 0).astype(dt, copy=False) if some else sc
        big_w = c if w is None else w.sum()
        # the gradient, per row: rowc softmax - (1 - e) w_y r onehot - (e / C) r w, with
        # rowc = ((1 - e) w_y + e W / C) r (W = sum(w), C unweighted)
        rowc = np.asarray(((1 - eps) * wy + (eps * big_w / c)) * r, dtype=dt)
        onehot = np.asarray((1 - eps) * wy * r, dtype=dt)
        per = loss0 if plain and not eps else (1 - eps) * wy * loss0
        b = None
        if eps:
            zw = x3.sum(1) if w is None else np.matmul(w, x3)
            smooth = (eps / c) * (big_w * (loss0 + zy) - zw.reshape(-1))
            # a -inf target logit: nll is +inf (loss0 + z_y, the row's logsumexp, is NaN)
            inf_row = loss0 == math.inf
            if not plain:
                inf_row &= wy > 0
            per = np.where(inf_row, math.inf, per + smooth)
            b = np.asarray((eps / c) * r, dtype=dt)
        if some:
            per = np.where(valid, per, 0)  # an ignored row's nll may be inf or NaN
        if reduction == "none":
            loss = per
        else:
            loss = per.sum() / denom if reduction == "mean" else per.sum()
    loss = np.asarray(loss, dtype=dt)
    if reduction == "none":
        loss = loss.reshape(_batch_shape(x.shape))

    def _backward(g: Any) -> None:
        """The gradient scaled by g (0-d, or per row for "none"): one kernel call for
        rowc g softmax(x), then the targets' entries (and the smoothing's), each once."""
        g = g.astype(dt, copy=False).reshape(-1) if reduction == "none" else g.astype(dt)
        with np.errstate(invalid="ignore", over="ignore"):
            gs = np.ascontiguousarray(np.broadcast_to(rowc * g, (m,)), dtype=dt)
            gt = np.ascontiguousarray(np.broadcast_to(onehot * g, (m,)), dtype=dt)
            bshape = _batch_shape(xd.shape)
            # out has x's shape (not a view, which the engine would copy to keep); a
            # non-contiguous x is copied for this call only
            # lse None: the kernel's max-shifted softmax, not exp(x - lse) (lse's rounding, an
            # ulp of the largest logit, cost float32 gradients 6e-5 at logits of scale 1000)
            out = ops.logsumexp_backward(
                gs.reshape(bshape),
                xd,
                None,
                dim=1,
                target=tk.reshape(bshape),
                g_target=gt.reshape(bshape),
            )
            if b is not None:
                bg = b * g
                bg3 = bg.reshape(n, 1, s) if bg.ndim else bg
                out.reshape(n, c, s)[...] -= bg3 if w is None else bg3 * w.reshape(1, c, 1)
        x._accumulate(out)

    def _k() -> Any:
        k = np.zeros((m, c), dtype=dt)
        if eps:
            k += (eps / c) * (w if w is not None else 1)
        k[np.arange(m), tk] += (1 - eps) * (1 if w is None else w[tk])
        if some:
            k[~valid] = 0
        return k

    db = _class_dbackward(x, _k, reduction, True, denom)
    return Tensor._make(loss, (x,), _backward, "cross_entropy", saves=(x,), dbackward=db)


def _cross_entropy_prob(
    x: Tensor,
    target: Any,
    tdata: Any,
    x2: Any,
    logp: Any,
    w: Any,
    eps: float,
    reduction: str,
    xp: Any,
) -> Tensor:
    m, c = x2.shape
    tp = _to_rows(tdata.astype(x.dtype, copy=False), xp)
    if eps:
        tp = tp * (1 - eps) + eps / c
    a = tp if w is None else tp * w
    rows = -(logp * a).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "none":
            loss = rows.reshape(_batch_shape(x.shape))
        elif reduction == "sum":
            loss = rows.sum()
        else:
            loss = rows.sum() / m if m else xp.asarray(np.nan, dtype=x.dtype)
    t_tensor = target if isinstance(target, Tensor) and target.requires_grad else None

    def _backward(g: Any) -> None:
        if reduction == "none":
            r = g.reshape(-1, 1)
        else:
            r = g / m if reduction == "mean" else g
        if x.requires_grad:
            ar = a * r
            x._accumulate(_from_rows(xp.exp(logp) * ar.sum(1, keepdims=True) - ar, x.shape, xp))
        if t_tensor is not None:
            gt = -(1 - eps) * logp * r
            if w is not None:
                gt = gt * w
            t_tensor._accumulate(_from_rows(gt, x.shape, xp))

    parents = (x,) if t_tensor is None else (x, t_tensor)
    loss = xp.asarray(loss, dtype=x.dtype)
    t_arg = Tensor(tdata) if t_tensor is None else t_tensor
    db = _dg2.recompute_dbackward(partial(_ce_prob_fn, eps, w, reduction), x, t_arg)
    return Tensor._make(loss, parents, _backward, "cross_entropy", saves=(), dbackward=db)


def _rows_t(x: Tensor) -> Tensor:
    """_to_rows on a Tensor, differentiably."""
    if x.ndim <= 2:
        return x.reshape(-1, x.shape[-1])
    return x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def _from_rows_t(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """_from_rows on a Tensor, differentiably."""
    if len(shape) <= 2:
        return a.reshape(*shape)
    k = len(shape)
    return a.reshape(shape[0], *shape[2:], shape[1]).permute(0, k - 1, *range(1, k - 1))


def _ce_prob_fn(eps: float, w: Any, reduction: str, x: Tensor, t: Tensor) -> Tensor:
    """cross_entropy with class probabilities t, from Tensor ops (its double backward)."""
    xr, tr = _rows_t(x), _rows_t(t.astype(x.dtype))
    m, c = xr.shape
    if eps:
        tr = tr * (1 - eps) + eps / c
    if w is not None:
        tr = tr * Tensor(w)
    rows = -(log_softmax(xr, 1) * tr).sum(1)
    if reduction == "none":
        return rows.reshape(*_batch_shape(x.shape))
    return rows.sum() if reduction == "sum" else rows.sum() / m


# ---- normalization and embedding ----------------------------------------------------------


def _param_array(p: Any, shape: tuple[int, ...], op: str, name: str, x: Tensor) -> Any:
    if p is None:
        return None
    if not isinstance(p, Tensor):
        raise TypeError(f"{op}: {name}: expected a Tensor or None, got {type(p).__name__}")
    if p.shape != shape:
        raise _ShapeError(f"{op}: {name}: expected shape {shape}, got {p.shape}")
    if p.dtype != x.dtype:
        raise TypeError(
            f"{op}: {name}: has dtype {p.dtype}, the input {x.dtype}; cast one (e.g. "
            "module.double() or x.float())"
        )
    if p.device != x.device:
        raise RuntimeError(f"{op}: {name}: is on {p.device}, the input on {x.device}")
    return p


def batch_norm(
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over dimension 1 of (N, C, *) input, as torch.

    training=True (or no running statistics): normalize with the batch's mean and biased
    variance over every dimension but 1, and update running_mean / running_var in place
    (when given) with running = (1 - momentum) * running + momentum * batch, the variance
    unbiased (n / (n - 1)). training=False: normalize with the running statistics. Then
    y = x_hat * weight + bias. One node: the backward is the fused closed form."""
    op = "batch_norm"
    x = _tensor(input, f"{op}: input")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input: expected a float32 or float64 tensor, got dtype {x.dtype}")
    if x.ndim < 2:  # torch's IndexError (its lookup of dim 1)
        raise _ShapeIndexError(f"{op}: input: expected (N, C) or (N, C, *), got shape {x.shape}")
    c = x.shape[1]
    w = _param_array(weight, (c,), op, "weight", x)
    b = _param_array(bias, (c,), op, "bias", x)
    rm = _param_array(running_mean, (c,), op, "running_mean", x)
    rv = _param_array(running_var, (c,), op, "running_var", x)
    use_batch = bool(training) or rm is None or rv is None
    if (rm is None) != (rv is None):
        raise ValueError(f"{op}: running_mean and running_var: give both or neither")
    xp = get_array_module(x.data)
    xd = x.data
    axes = (0, *range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    n = x.data.size // c if c else 0
    if use_batch and n == 1:
        raise ValueError(
            f"{op}: input: expected more than 1 value per channel when training, got "
            f"input of shape {x.shape}"
        )
    if type(xd) is np.ndarray:  # the fused CPU kernels (dg.ops.batch_norm_forward/backward)
        return _batch_norm_cpu(x, rm, rv, w, b, use_batch, bool(training), momentum, eps, n)
    if use_batch:
        if n:
            mean = xd.mean(axis=axes)
            xc = xd - mean.reshape(bshape)
            var = (xc * xc).mean(axis=axes)
        else:  # an empty batch: an empty output, the running statistics untouched (as torch)
            mean = var = xp.zeros(c, dtype=x.dtype)
            xc = xd
        invstd = 1.0 / xp.sqrt(var + eps)
        if training and rm is not None and n:
            m = float(momentum)
            with no_grad():
                rm.copy_((1 - m) * rm.data + m * mean)
                rv.copy_((1 - m) * rv.data + m * (var * (n / (n - 1))))
    else:
        invstd = 1.0 / xp.sqrt(rv.data + eps)
        xc = xd - rm.data.reshape(bshape)
    invstd = invstd.astype(x.dtype, copy=False)
    xhat = xc * invstd.reshape(bshape)
    y = xhat if w is None else xhat * w.data.reshape(bshape)
    if b is not None:
        y = y + b.data.reshape(bshape)

    def _backward(g: Any) -> None:
        if w is not None and w.requires_grad:
            w._accumulate((g * xhat).sum(axis=axes))
        if b is not None and b.requires_grad:
            b._accumulate(g.sum(axis=axes))
        if x.requires_grad:
            dxhat = g if w is None else g * w.data.reshape(bshape)
            if use_batch and not n:
                dx = xp.zeros_like(dxhat)
            elif use_batch:
                s1 = dxhat.sum(axis=axes).reshape(bshape)
                s2 = (dxhat * xhat).sum(axis=axes).reshape(bshape)
                dx = (invstd / n).reshape(bshape) * (n * dxhat - s1 - xhat * s2)
            else:
                dx = dxhat * invstd.reshape(bshape)
            x._accumulate(dx)

    parents = tuple(p for p in (x, w, b) if p is not None)
    saves = (w,) if w is not None else ()
    stats = None if use_batch else (rm.data.copy(), invstd)
    db = _dg2.recompute_dbackward(partial(_dg2.batch_norm_fn, eps, stats), x, w, b)
    return Tensor._make(y, parents, _backward, op, saves=saves, dbackward=db)


def layer_norm(
    input: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization over the last len(normalized_shape) dimensions, as torch: the
    mean and biased variance of each sample over those dimensions, then x_hat * weight +
    bias (weight and bias of shape normalized_shape). One node, fused closed-form backward."""
    op = "layer_norm"
    x = _tensor(input, f"{op}: input")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input: expected a float32 or float64 tensor, got dtype {x.dtype}")
    shape = normalized_shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape
    ):
        raise TypeError(
            f"{op}: normalized_shape: expected an int or a tuple of ints, got {normalized_shape!r}"
        )
    shape = tuple(int(s) for s in shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise _ShapeError(
            f"{op}: input: expected a shape ending in normalized_shape {shape}, got {x.shape}"
        )
    w = _param_array(weight, shape, op, "weight", x)
    b = _param_array(bias, shape, op, "bias", x)
    if type(x.data) is np.ndarray:  # the fused CPU kernels (dg.ops.layer_norm_forward/backward)
        return _layer_norm_cpu(x, shape, w, b, eps)
    xp = get_array_module(x.data)
    xd = x.data
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xd.mean(axis=axes, keepdims=True)
        xc = xd - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
    invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
    xhat = xc * invstd
    y = xhat if w is None else xhat * w.data
    if b is not None:
        y = y + b.data

    def _backward(g: Any) -> None:
        if w is not None and w.requires_grad:
            w._accumulate((g * xhat).sum(axis=lead))
        if b is not None and b.requires_grad:
            b._accumulate(g.sum(axis=lead))
        if x.requires_grad:
            dxhat = g if w is None else g * w.data
            m1 = dxhat.mean(axis=axes, keepdims=True)
            m2 = (dxhat * xhat).mean(axis=axes, keepdims=True)
            x._accumulate(invstd * (dxhat - m1 - xhat * m2))

    parents = tuple(p for p in (x, w, b) if p is not None)
    saves = (w,) if w is not None else ()
    db = _dg2.recompute_dbackward(partial(_dg2.layer_norm_fn, k, eps), x, w, b)
    return Tensor._make(y, parents, _backward, op, saves=saves, dbackward=db)


def _batch_norm_cpu(
    x: Tensor,
    rm: Any,
    rv: Any,
    w: Any,
    b: Any,
    use_batch: bool,
    training: bool,
    momentum: Any,
    eps: float,
    n: int,
) -> Tensor:
    """F.batch_norm on numpy arrays: one fused kernel each way; the running statistics are
    updated in place by the forward kernel (their version bumped, as copy_ would)."""
    xd = x.data
    wd = None if w is None else w.data
    bd = None if b is None else b.data
    update = use_batch and training and rm is not None and n > 0
    if update:
        m = float(momentum)
        direct = all(
            t.data.flags.c_contiguous and t.data.flags.writeable and t.data.flags.aligned
            for t in (rm, rv)
        )
        with no_grad():
            if direct:
                with rm._inplace("batch_norm"), rv._inplace("batch_norm"):
                    y, mean, invstd = ops.batch_norm_forward(
                        xd, wd, bd, rm.data, rv.data, training=True, momentum=m, eps=eps
                    )
            else:
                rmc, rvc = np.array(rm.data), np.array(rv.data)
                y, mean, invstd = ops.batch_norm_forward(
                    xd, wd, bd, rmc, rvc, training=True, momentum=m, eps=eps
                )
                rm.copy_(rmc)
                rv.copy_(rvc)
    elif use_batch:
        y, mean, invstd = ops.batch_norm_forward(xd, wd, bd, training=True, momentum=0.0, eps=eps)
    else:
        rmd, rvd = np.ascontiguousarray(rm.data), np.ascontiguousarray(rv.data)
        y, mean, invstd = ops.batch_norm_forward(
            xd, wd, bd, rmd, rvd, training=False, momentum=0.0, eps=eps
        )

    return _fused_norm_node(
        y,
        x,
        w,
        b,
        lambda g, **need: ops.batch_norm_backward(
            g, xd, wd, mean, invstd, training=use_batch, **need
        ),
        "batch_norm",
        partial(_dg2.batch_norm_fn, eps, None if use_batch else (mean, invstd)),
    )


def _fused_norm_node(
    y: Any, x: Tensor, w: Any, b: Any, backward: Callable[..., Any], name: str, fn: Any
) -> Tensor:
    """The graph node of a fused normalization kernel pair (batch, layer and group norm on
    numpy arrays): y from the forward kernel; backward(g, need_dx=, need_dweight=,
    need_dbias=) -> (dx, dweight, dbias), None where not needed, from the statistics the
    forward returned. fn(x, w, b): the same output from differentiable Tensor ops (the
    double backward recomputes it)."""

    def _backward(g: Any) -> None:
        need_dw = w is not None and w.requires_grad
        need_db = b is not None and b.requires_grad
        if not (x.requires_grad or need_dw or need_db):
            return
        dx, dw, db = backward(g, need_dx=x.requires_grad, need_dweight=need_dw, need_dbias=need_db)
        if need_dw:
            w._accumulate(dw)
        if need_db:
            b._accumulate(db)
        if x.requires_grad:
            x._accumulate(dx)

    parents = tuple(p for p in (x, w, b) if p is not None)
    saves = (x,) if w is None else (x, w)
    db = _dg2.recompute_dbackward(fn, x, w, b)
    return Tensor._make(y, parents, _backward, name, saves=saves, dbackward=db)


def _layer_norm_cpu(x: Tensor, shape: tuple[int, ...], w: Any, b: Any, eps: float) -> Tensor:
    """F.layer_norm on numpy arrays: one fused kernel each way (mean and rstd saved)."""
    xd = x.data
    wd = None if w is None else w.data
    y, mean, rstd = ops.layer_norm_forward(xd, shape, wd, None if b is None else b.data, eps)
    return _fused_norm_node(
        y,
        x,
        w,
        b,
        lambda g, **need: ops.layer_norm_backward(g, xd, shape, wd, mean, rstd, **need),
        "layer_norm",
        partial(_dg2.layer_norm_fn, len(shape), eps),
    )


def embedding(
    input: Any,
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of weight (num_embeddings, embedding_dim) picked by the integer indices in input
    (any shape): output (*input.shape, embedding_dim). The gradient sums into the rows
    picked; the row padding_idx gets none (as torch). As torch: max_norm first renormalizes,
    in place and without a gradient, each row looked up whose norm_type-norm exceeds it
    (see _embedding_renorm); scale_grad_by_freq divides each row's gradient by the number of
    times its index occurs in input. sparse=True (torch: a sparse gradient) is refused with
    NotImplementedError where weight's gradient would be recorded, and is a plain lookup
    where it would not (the same values as torch)."""
    op = "embedding"
    scale_grad_by_freq = _flag(scale_grad_by_freq, op, "scale_grad_by_freq")
    sparse = _flag(sparse, op, "sparse")
    max_norm = None if max_norm is None else _number(max_norm, op, "max_norm")
    norm_type = _number(norm_type, op, "norm_type")
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight: expected a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(
            f"{op}: weight: expected (num_embeddings, embedding_dim), got shape {weight.shape}"
        )
    xp = get_array_module(weight.data)
    idx = _as_array(input, xp)
    if idx.dtype.kind not in "iu" or idx.dtype == np.bool_:
        raise TypeError(f"{op}: input: expected integer indices, got dtype {idx.dtype}")
    num = weight.shape[0]
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
            raise TypeError(f"{op}: padding_idx: expected an int or None, got {padding_idx!r}")
        if not -num <= padding_idx < num:
            raise ValueError(
                f"{op}: padding_idx: must be within [-{num}, {num}), got {padding_idx}"
            )
        padding_idx = int(padding_idx) % num
    if idx.size and (bool((idx < 0).any()) or bool((idx >= num).any())):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise IndexRangeError(f"{op}: input: index {int(bad)} is out of range [0, {num})")
    if sparse and weight.requires_grad and _grad_enabled():
        raise NotImplementedError(
            f"{op}: sparse=True: deltagrad has no sparse gradients; pass sparse=False (the same "
            "values and a dense gradient), or look up without recording a graph (dg.no_grad())"
        )
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type, xp)
    out = xp.take(weight.data, idx, axis=0)
    dim = weight.shape[1]

    geo = (idx, num, dim, padding_idx, scale_grad_by_freq)

    def _backward(g: Any) -> None:
        weight._accumulate(_embedding_scatter(geo, g))

    db = _dg2.lazy_linear_dbackward(_embedding_maps, geo)
    return Tensor._make(out, (weight,), _backward, op, saves=(), dbackward=db)


def _embedding_maps(geo: tuple[Any, ...]) -> tuple[Any, Any, str]:
    return partial(_embedding_gather, geo), partial(_embedding_scatter, geo), "embedding_backward"


def _embedding_scatter(geo: tuple[Any, ...], g: Any) -> Any:
    """embedding's weight gradient: g's rows added at their indices (torch: each times
    1 / (its index's count) with scale_grad_by_freq), the row padding_idx zero."""
    xp = get_array_module(g)
    idx, num, dim, padding_idx, scale_grad_by_freq = geo
    flat = idx.reshape(-1).astype(np.int64, copy=False)
    gw = xp.zeros((num, dim), dtype=g.dtype)
    rows = g.reshape(-1, dim)
    if scale_grad_by_freq:  # torch: each occurrence's row times 1 / (its index's count)
        inv = 1.0 / xp.bincount(flat, minlength=num)[flat]
        rows = rows * inv.astype(rows.dtype)[:, None]
    ops.index_add_(gw, 0, flat, rows)  # the C++ kernel: np.add.at's sums, 50x faster
    if padding_idx is not None:
        gw[padding_idx] = 0
    return gw


def _embedding_gather(geo: tuple[Any, ...], gw: Any) -> Any:
    """embedding's double backward (torch's embedding_dense_double_backward): the rows of gw
    looked up, padding_idx's zero. Not scaled with scale_grad_by_freq, as torch: the scale
    is the weight gradient's own (not the lookup's), so the second derivative of a loss in
    weight through this gather and the scaled scatter carries it once, as the numbers do."""
    xp = get_array_module(gw)
    idx, _, dim, padding_idx, _ = geo
    flat = idx.reshape(-1).astype(np.int64, copy=False)
    if padding_idx is not None:
        gw = gw.copy()
        gw[padding_idx] = 0
    return xp.take(gw, flat, axis=0).reshape(*idx.shape, dim)


def _embedding_renorm(weight: Tensor, idx: Any, max_norm: float, norm_type: float, xp: Any) -> None:
    """torch's embedding_renorm_: each distinct row of weight that idx looks up whose
    norm_type-norm (in weight's dtype) exceeds max_norm is scaled, in place and without a
    gradient (weight's version bumps), by max_norm / (norm + 1e-7), computed in double and
    applied in weight's dtype as torch's `row *= scale`."""
    rows = xp.unique(idx.reshape(-1)).astype(np.int64, copy=False)
    if rows.size == 0 or weight.shape[1] == 0:
        return
    sel = weight.data[rows]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        norms = xp.linalg.norm(sel, ord=norm_type, axis=1)
    big = norms > max_norm
    if not bool(big.any()):
        return
    scale = (max_norm / (norms[big].astype(np.float64) + 1e-7)).astype(sel.dtype)
    with no_grad(), np.errstate(invalid="ignore"):  # an inf row times 0: NaN, as torch's
        weight[rows[big]] = sel[big] * scale[:, None]


# ---- convolution --------------------------------------------------------------------------------

# torch's padding_mode names -> numpy.pad's modes
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _conv_int_pair(v: Any, op: str, arg: str) -> tuple[int, int]:
    """An int or a pair of ints (torch's _pair), TypeError otherwise."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2:
        if all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
            return int(v[0]), int(v[1])
    if isinstance(v, (tuple, list)) and len(v) == 1:
        return _conv_int_pair(v[0], op, arg)
    raise TypeError(f"{op}: {arg}: expected an int or a pair of ints, got {v!r}")


def _pad2d(x: Tensor, pads: tuple[int, int, int, int], mode: str) -> Tensor:
    """x (N, C, H, W) padded by (top, bottom, left, right); mode is numpy.pad's name (the
    values of _PAD_MODES). F.pad's implementation (its checks; the backward sums the
    gradient back onto the positions each padded one copies, on numpy or cupy arrays)."""
    if not any(pads):
        return x
    top, bottom, left, right = pads
    return pad(x, (left, right, top, bottom), _PAD_MODES_TORCH.get(mode, mode))


# numpy.pad's mode names that differ from F.pad's (torch's)
_PAD_MODES_TORCH = {"edge": "replicate", "wrap": "circular"}


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """torch's padding='same' for stride 1: d (k - 1) in all, the odd one on the bottom/right."""
    (kh, kw), (dh, dw) = kernel, dilation
    th, tw = dh * (kh - 1), dw * (kw - 1)
    return th // 2, th - th // 2, tw // 2, tw - tw // 2


def conv2d(
    input: Any,  # noqa: A002  (torch's name)
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over input (N, C, H, W) with weight (out_channels, C / groups, kH, kW)
    and bias (out_channels,) or None, as torch.nn.functional.conv2d: stride, padding and
    dilation are ints or pairs; padding may also be 'valid' (0) or 'same' (output size = input
    size; stride 1 only). Zero padding."""
    op = "conv2d"
    x, w = _tensor(input, f"{op}: input"), _tensor(weight, f"{op}: weight")
    b = None if bias is None else _tensor(bias, f"{op}: bias")
    if x.ndim == 3:  # unbatched (C, H, W), as torch
        y = conv2d(x.reshape(1, *x.shape), weight, bias, stride, padding, dilation, groups)
        return y.reshape(*y.shape[1:])
    if x.ndim != 4:
        raise _ShapeError(
            f"{op}: input: expected a 3-D (C, H, W) or 4-D (N, C, H, W) tensor, got shape {x.shape}"
        )
    if w.ndim != 4:
        raise _ShapeError(
            f"{op}: weight: expected a 4-D tensor (out_channels, in_channels / groups, kH, kW), "
            f"got shape {w.shape}"
        )
    if x.data.dtype != w.data.dtype or (b is not None and b.data.dtype != x.data.dtype):
        raise TypeError(
            f"{op}: input has dtype {x.data.dtype} but weight is {w.data.dtype}"
            + ("" if b is None else f" and bias {b.data.dtype}")
            + "; they must match (convert the input with x.float() / x.double() or the module "
            "with .float() / .double())"
        )
    stride = _conv_int_pair(stride, op, "stride")
    dilation = _conv_int_pair(dilation, op, "dilation")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups: expected an int, got {groups!r}")
    extra = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise _ShapeError(f"{op}: padding='same' is not supported for strided convolutions")
            top, bottom, left, right = _same_padding(w.shape[2:], dilation)
            padding = (top, left)
            if bottom != top or right != left:
                extra = (0, bottom - top, 0, right - left)
        else:
            raise _ShapeError(
                f"{op}: padding: expected 'valid', 'same', an int or a pair, got {padding!r}"
            )
    else:
        padding = _conv_int_pair(padding, op, "padding")
    if extra is not None:
        x = _pad2d(x, extra, "constant")
    if min(*stride, *dilation) > 0 and min(padding) >= 0:  # else the binding's error
        hw = [
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation)
        ]
        _check_alloc((x.shape[0], w.shape[0], *(max(v, 0) for v in hw)), x.data.dtype, op)
    try:
        y = ops.conv2d_forward(
            x.data, w.data, None if b is None else b.data, stride, padding, dilation, groups
        )
    except ValueError as e:  # the binding's geometry and channel checks: torch's RuntimeError
        if type(e) is ValueError:
            raise _ShapeError(*e.args) from None
        raise

    def _backward(g: Any) -> None:
        need_db = b is not None and b.requires_grad
        dx, dw, db = ops.conv2d_backward(
            g, x.data, w.data, stride, padding, dilation, groups,
            x.requires_grad, w.requires_grad, need_db,
        )  # fmt: skip
        if x.requires_grad:
            x._accumulate(dx)
        if w.requires_grad:
            w._accumulate(dw)
        if need_db:
            b._accumulate(db)

    parents = (x, w) if b is None else (x, w, b)
    db = _dg2.conv2d_dbackward(x, w, b is not None, (stride, padding, dilation, groups))
    return Tensor._make(y, parents, _backward, op, saves=(x, w), dbackward=db)


__all__ += ["conv2d"]
# ---- pooling (NCHW, or CHW unbatched) -------------------------------------------------------


def _pool_call(owner: str, op: str, fn: Any, *args: Any) -> Any:
    """fn(*args), its errors naming owner (the module, e.g. MaxPool2d) instead of the op; the
    binding's ValueErrors (geometry: padding over half the kernel, zero stride, a kernel
    larger than the padded input) as _ShapeError, torch's RuntimeError."""
    try:
        return fn(*args)
    except (TypeError, ValueError, NotImplementedError) as e:  # (the last: a device array)
        msg = str(e)
        kind = _ShapeError if type(e) is ValueError else type(e)
        if owner != op and msg.startswith(op + ":"):
            raise kind(owner + msg[len(op) :]) from None
        if kind is not type(e):
            raise kind(*e.args) from None
        raise


def _pool_tensor(input: Any, owner: str, few_dims: type = _ShapeError) -> Tensor:
    """input as a 3-D or 4-D Tensor, else torch's error: few_dims below 3 dims (avg_pool2d's
    IndexError: torch looks up dim -3 first), a _ShapeError otherwise."""
    x = _tensor(input, owner)
    if x.ndim not in (3, 4):
        raise (few_dims if x.ndim < 3 else _ShapeError)(
            f"{owner}: input: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
            f"got shape {tuple(x.shape)}"
        )
    return x


def _max_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    owner: str,
) -> Any:
    op = "max_pool2d"
    x = _pool_tensor(input, owner)
    geo = (kernel_size, stride, padding, dilation, bool(ceil_mode))
    if not return_indices and not (x.requires_grad and _grad_enabled()):
        return Tensor(_pool_call(owner, op, ops.max_pool2d, x.data, *geo, False))  # inference
    if return_indices:
        y, saved = _pool_call(owner, op, ops.max_pool2d, x.data, *geo, True)
    else:  # what the backward needs: 1-byte window codes where the kernels have them
        y, saved = _pool_call(owner, "max_pool2d_train", ops.max_pool2d_train, x.data, *geo)

    def _backward(g: Any) -> None:
        x._accumulate(ops.max_pool2d_train_backward(g, saved, x.shape, *geo))

    out = Tensor._make(
        y,
        (x,),
        _backward,
        op,
        saves=(),
        dbackward=partial(_max_pool2d_dbackward, x, x._version[0], geo, saved),
    )
    # a copy: the backward keeps `saved`, which the caller may change in place
    return (out, Tensor(saved.copy())) if return_indices else out


def _max_pool2d_dbackward(
    x: Tensor, version: int, geo: tuple[Any, ...], saved: Any, g: Tensor
) -> Any:
    """max_pool2d's double backward: the gradient is g scattered at the argmax (recomputed
    as flat per-plane indices when the forward kept window codes), linear in g."""
    if saved.dtype != np.int64:
        if x._version[0] != version:  # the argmax is recomputed from x: it must be unchanged
            raise RuntimeError(
                "max_pool2d: one of the tensors needed for the double backward (its input) "
                "has been modified by an inplace operation"
            )
        saved = _pool_call("max_pool2d", "max_pool2d", ops.max_pool2d, x.data, *geo, True)[1]
    return _dg2.scatter_planes_dbackward(saved, x.shape, 2, "max_pool2d_backward")(g)


def max_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """torch.nn.functional.max_pool2d: the window maximum (a NaN wins); with return_indices,
    also the int64 flat index of each maximum in its H*W plane."""
    return _max_pool2d(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d"
    )


def _avg_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
    owner: str,
) -> Tensor:
    op = "avg_pool2d"
    x = _pool_tensor(input, owner, _ShapeIndexError)
    geo = (kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override)
    y = _pool_call(owner, op, ops.avg_pool2d, x.data, *geo)

    def _backward(g: Any) -> None:
        x._accumulate(ops.avg_pool2d_backward(g, x.shape, *geo))

    db = _dg2.lazy_linear_dbackward(_avg_pool2d_maps, x.shape, geo)
    return Tensor._make(y, (x,), _backward, op, saves=(), dbackward=db)


def _avg_pool2d_maps(shape: tuple[int, ...], geo: tuple[Any, ...]) -> tuple[Any, Any, str]:
    """avg_pool2d as a linear map and its adjoint (its double backward)."""
    fwd = _dg2.on_array(ops.avg_pool2d, *geo)
    return fwd, lambda g: ops.avg_pool2d_backward(g, shape, *geo), "avg_pool2d_backward"


def avg_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Any = None,
) -> Tensor:
    """torch.nn.functional.avg_pool2d (count_include_pad, divisor_override as torch)."""
    return _avg_pool2d(
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        "avg_pool2d",
    )


def _adaptive_size(output_size: Any, x: Tensor, owner: str) -> tuple[int, int]:
    if output_size is None or isinstance(output_size, (int, np.integer)):
        pair = (output_size, output_size)
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        pair = tuple(output_size)
    else:
        raise TypeError(
            f"{owner}: output_size: expected an int, None or a pair of them, got {output_size!r}"
        )
    out = []
    for v, n in zip(pair, x.shape[-2:]):
        if v is None:
            v = n
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{owner}: output_size: expected ints or None, got {output_size!r}")
        if v < 0:
            raise ValueError(f"{owner}: output_size: expected sizes >= 0, got {output_size!r}")
        out.append(int(v))
    return out[0], out[1]


def _adaptive_avg_pool2d(input: Any, output_size: Any, owner: str) -> Tensor:
    op = "adaptive_avg_pool2d"
    x = _pool_tensor(input, owner)
    size = _adaptive_size(output_size, x, owner)
    _check_alloc(x.shape[:-2] + size, x.data.dtype, owner)
    y = _pool_call(owner, op, ops.adaptive_avg_pool2d, x.data, size)

    def _backward(g: Any) -> None:
        x._accumulate(ops.adaptive_avg_pool2d_backward(g, x.shape))

    db = _dg2.lazy_linear_dbackward(_adaptive_avg_maps, x.shape, size)
    return Tensor._make(y, (x,), _backward, op, saves=(), dbackward=db)


def _adaptive_avg_maps(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[Any, Any, str]:
    """adaptive_avg_pool2d as a linear map and its adjoint (its double backward)."""
    fwd = _dg2.on_array(ops.adaptive_avg_pool2d, size)
    return (
        fwd,
        _dg2.on_array(ops.adaptive_avg_pool2d_backward, shape),
        "adaptive_avg_pool2d_backward",
    )


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool2d; output_size: an int, a pair, None entries keep
    the input's size."""
    return _adaptive_avg_pool2d(input, output_size, "adaptive_avg_pool2d")


__all__ += ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]

from ._functional_spatial import (  # noqa: E402
    _BadArgument,
    _check_alloc,
    _float_tensor,
    _is_int,
    _is_number,
    dropout1d,
    dropout2d,
    dropout3d,
    interpolate,
    pad,
    pixel_shuffle,
    pixel_unshuffle,
)

_dg2.register_layers(conv2d=conv2d, pad=pad)  # what the double backwards differentiate through

# ---- group_norm / instance_norm: the fused group-norm kernels on the CPU; elsewhere layer_norm on
# a view, then a per-channel affine ----


def _channel_param(v: Any, c: int, x: Tensor, op: str, name: str) -> Tensor | None:
    """A per-channel (C,) tensor argument (weight, bias, running statistics) or None."""
    if v is None:
        return None
    if not isinstance(v, Tensor):
        raise TypeError(f"{op}: {name}: expected a Tensor or None, got {type(v).__name__}")
    if v.shape != (c,):
        raise _BadArgument(
            f"{op}: {name}: expected a vector of size equal to the number of channels in "
            f"input ({c}), but got {name} of shape {list(v.shape)} and input of shape "
            f"{list(x.shape)}"
        )
    if v.dtype != x.dtype:
        raise TypeError(
            f"{op}: {name}: has dtype {v.dtype}, the input {x.dtype}; cast one (e.g. "
            "module.double() or x.float())"
        )
    if v.device != x.device:
        raise RuntimeError(f"{op}: {name}: is on {v.device}, the input on {x.device}")
    return v


def _channel_affine(y: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
    """y * weight + bias, both per channel (dim 1)."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if w is not None:
        y = y * w.reshape(*shape)
    if b is not None:
        y = y + b.reshape(*shape)
    return y


def _normalize_rows(x: Tensor, rows: tuple[int, int], k: int, eps: float) -> Tensor:
    """x seen as rows (A, B) of k elements each, each row normalized by its mean and biased
    variance (layer_norm's fused kernels, no affine), back in x's shape."""
    if k == 0 or x.data.size == 0:
        return x * 1.0  # nothing to normalize: an empty result, still in the graph
    y = layer_norm(x.reshape(*rows, k), (k,), None, None, eps)
    return y.reshape(*x.shape)


def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """torch.nn.functional.group_norm: the C channels of (N, C, *) input split into
    num_groups groups, each sample's group normalized by its mean and biased variance, then
    weight * x_hat + bias per channel. Differentiable in input, weight and bias."""
    op = "group_norm"
    x = _float_tensor(input, op)
    if x.ndim < 2:
        raise _BadArgument(
            f"{op}: Expected at least 2 dimensions for input tensor but received {x.ndim}"
        )
    if not _is_int(num_groups):
        raise TypeError(f"{op}: num_groups: expected an int, got {num_groups!r}")
    g = int(num_groups)
    if g <= 0:
        raise _BadArgument(f"{op}: Expected num groups to be greater than 0, got {g}")
    n, c = x.shape[:2]
    spatial = math.prod(x.shape[2:])
    if (n * c // g) * spatial == 1:  # torch's _verify_batch_size
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input size "
            f"{[n * c // g, g, *x.shape[2:]]}"
        )
    if c % g:
        raise _BadArgument(
            f"{op}: Expected number of channels in input to be divisible by num_groups, but "
            f"got input of shape {list(x.shape)} and num_groups={g}"
        )
    w = _channel_param(weight, c, x, op, "weight")
    b = _channel_param(bias, c, x, op, "bias")
    if type(x.data) is np.ndarray:  # the fused CPU kernels (dg.ops.group_norm_forward/backward)
        return _group_norm_cpu(x, g, w, b, float(eps))
    y = _normalize_rows(x, (n, g), (c // g) * spatial, float(eps))
    return _channel_affine(y, w, b)


def _group_norm_cpu(x: Tensor, g: int, w: Tensor | None, b: Tensor | None, eps: float) -> Tensor:
    """group_norm (and instance_norm's batch statistics: g = C) on numpy arrays: one fused
    kernel each way, the (N, g) mean and rstd saved between them."""
    xd = x.data
    wd = None if w is None else w.data
    y, mean, rstd = ops.group_norm_forward(xd, g, wd, None if b is None else b.data, eps)
    return _fused_norm_node(
        y,
        x,
        w,
        b,
        lambda grad, **need: ops.group_norm_backward(grad, xd, g, wd, mean, rstd, **need),
        "group_norm",
        partial(_dg2.group_norm_fn, g, eps),
    )


def instance_norm(
    input: Any,  # noqa: A002
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """torch.nn.functional.instance_norm: each (sample, channel) of (N, C, *) input normalized
    by its own mean and biased variance (use_input_stats), then weight * x_hat + bias per
    channel. With running_mean / running_var and use_input_stats, they are updated in place:
    running = (1 - momentum) * running + momentum * (the batch mean of the instances' mean /
    unbiased variance). use_input_stats=False normalizes with the running statistics."""
    op = "instance_norm"
    x = _float_tensor(input, op)
    if use_input_stats and math.prod(x.shape[2:]) == 1:  # torch's _verify_spatial_size
        raise ValueError(
            f"{op}: Expected more than 1 spatial element when training, got input size "
            f"{list(x.shape)}"
        )
    if x.ndim < 2:
        raise _BadArgument(f"{op}: input: expected (N, C, *), got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            f"{op}: running_mean and running_var must either both be None or neither be None"
        )
    if not use_input_stats and running_mean is None:
        raise _BadArgument(
            f"{op}: Expected running_mean and running_var to be defined when use_input_stats "
            "is false"
        )
    if not _is_number(momentum):
        raise TypeError(f"{op}: momentum: expected a float, got {momentum!r}")
    n, c = x.shape[:2]
    rm = _channel_param(running_mean, c, x, op, "running_mean")
    rv = _channel_param(running_var, c, x, op, "running_var")
    w = _channel_param(weight, c, x, op, "weight")
    b = _channel_param(bias, c, x, op, "bias")
    if not use_input_stats:
        y = batch_norm(x, rm, rv, None, None, False, 0.0, eps)
        return _channel_affine(y, w, b)
    k = math.prod(x.shape[2:])
    if rm is not None and k and c:
        _update_running(x, rm, rv, float(momentum), (n, c, k))
    if type(x.data) is np.ndarray and c:  # each instance a group of one channel
        return _group_norm_cpu(x, c, w, b, float(eps))
    return _channel_affine(_normalize_rows(x, (n, c), k, float(eps)), w, b)


def _update_running(x: Tensor, rm: Tensor, rv: Tensor, m: float, rows: tuple[int, ...]) -> None:
    """instance_norm's running statistics update (torch's: each instance updates its copy,
    with its mean and unbiased variance over rows[2] >= 2 elements, the copies averaged over
    the batch; an empty batch gives NaN, as torch)."""
    xd = x.data.reshape(rows)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an empty batch
        mean = xd.mean(axis=2)
        var = ((xd - mean[..., None]) ** 2).sum(axis=2) / (rows[2] - 1)
        new_mean = (1 - m) * rm.data + m * mean.mean(axis=0)
        new_var = (1 - m) * rv.data + m * var.mean(axis=0)
    with no_grad():
        rm.copy_(new_mean.astype(rm.dtype, copy=False))
        rv.copy_(new_var.astype(rv.dtype, copy=False))


__all__ += [
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "interpolate",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "group_norm",
    "instance_norm",
]

from ._functional_losses import (  # noqa: E402
    broadcast_regression as _broadcast_regression,  # the regression losses' target broadcast
)
from ._functional_losses import (  # noqa: E402
    cosine_embedding_loss,
    cosine_similarity,
    gaussian_nll_loss,
    hinge_embedding_loss,
    kl_div,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    normalize,
    one_hot,
    pairwise_distance,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)

__all__ += [
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "one_hot",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
]

from ._functional_pool_more import (  # noqa: E402
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    lp_pool1d,
    lp_pool2d,
)

__all__ += [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
]

from ._functional_convt import conv1d, conv_transpose1d, conv_transpose2d  # noqa: E402

__all__ += ["conv1d", "conv_transpose1d", "conv_transpose2d"]

from ._functional_attention import (  # noqa: E402
    multi_head_attention_forward,
    scaled_dot_product_attention,
)

__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward"]

from ._functional_3d import (  # noqa: E402
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    avg_pool3d,
    conv3d,
    conv_transpose3d,
    lp_pool3d,
    max_pool3d,
    max_pool3d_with_indices,
)

__all__ += [
    "conv3d",
    "max_pool3d",
    "max_pool3d_with_indices",
    "avg_pool3d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "conv_transpose3d",
    "lp_pool3d",
]

from ._functional_unpool import max_unpool1d, max_unpool2d, max_unpool3d  # noqa: E402

__all__ += ["max_unpool1d", "max_unpool2d", "max_unpool3d"]

from ._functional_fractional import (  # noqa: E402
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)

__all__ += [
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]

from ._functional_unfold import affine_grid, fold, grid_sample, gumbel_softmax, unfold  # noqa: E402

__all__ += ["unfold", "fold", "affine_grid", "grid_sample", "gumbel_softmax"]

from ._functional_extra import (  # noqa: E402
    adaptive_avg_pool1d,
    alpha_dropout,
    avg_pool1d,
    bilinear,
    channel_shuffle,
    feature_alpha_dropout,
    local_response_norm,
    max_pool1d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    multilabel_margin_loss,
    pdist,
    rms_norm,
    triplet_margin_with_distance_loss,
)

__all__ += [
    "rms_norm",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "pdist",
    "bilinear",
    "local_response_norm",
    "channel_shuffle",
    "alpha_dropout",
    "feature_alpha_dropout",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
]

from ._functional_extra import ctc_loss, embedding_bag  # noqa: E402

__all__ += ["embedding_bag", "ctc_loss"]
