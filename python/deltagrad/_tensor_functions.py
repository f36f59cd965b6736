"""torch's function forms of the Tensor methods: dg.sum(x, dim), dg.max(x, 1), dg.abs(x), ...

Each one calls the Tensor method of the same name (numpy / cupy arrays are wrapped first,
without a copy), so the method is the single implementation. cat, stack and where, which
take several tensors, live in deltagrad.tensor.
"""

from __future__ import annotations

from typing import Any, Callable

from . import _tensor_methods  # noqa: F401  (sets the round-38 methods on Tensor first)
from . import functional as _functional
from .backends._args import check_device_array, is_device_array
from .tensor import Tensor, cat, concat, concatenate, stack, where

_METHODS = (
    # reductions
    "sum",
    "mean",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "var",
    "std",
    "logsumexp",
    "prod",
    "norm",
    "any",
    "all",
    # elementwise
    "abs",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "exp",
    "log",
    "sign",
    "square",
    "clamp",
    "clip",
    "maximum",
    "minimum",
    "masked_fill",
    "floor_divide",
    "remainder",
    "relu",
    "sigmoid",
    "tanh",
    "isnan",
    "isinf",
    "isfinite",
    # comparisons and logical ops
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    # shape ops
    "reshape",
    "flatten",
    "unflatten",
    "squeeze",
    "unsqueeze",
    "transpose",
    "swapaxes",
    "permute",
    "t",
    "narrow",
    "split",
    "chunk",
    "unbind",
    "clone",
    "gather",
    "scatter_add",
    "broadcast_to",
    # round 32: the function forms of the methods of rounds 31 and 32
    # elementwise math and its in-place forms (torch.exp_(x) is x.exp_())
    "log1p",
    "expm1",
    "tan",
    "atan",
    "asin",
    "acos",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
    "absolute",
    "log2",
    "log10",
    "exp2",
    "erf",
    "erfc",
    "erfinv",
    "logit",
    "floor",
    "ceil",
    "trunc",
    "fix",
    "round",
    "frac",
    "sgn",
    "signbit",
    "xlogy",
    "atan2",
    "arctan2",
    "fmod",
    "heaviside",
    "hypot",
    "logaddexp",
    "lerp",
    "nan_to_num",
    "reciprocal",
    "neg",
    "negative",
    "add",
    "sub",
    "subtract",
    "mul",
    "multiply",
    "div",
    "divide",
    "true_divide",
    "pow",
    "addcmul",
    "addcdiv",
    "clamp_min",
    "clamp_max",
    *(
        f"{n}_"
        for n in (
            "abs sqrt rsqrt sin cos exp log relu sigmoid tanh neg reciprocal square clamp clip "
            "clamp_min clamp_max log1p expm1 tan atan asin acos sinh cosh asinh acosh atanh log2 "
            "log10 exp2 erf erfc logit floor ceil trunc fix round frac xlogy nan_to_num "
            "fill zero detach arcsin arccos arctan arcsinh arccosh arctanh"
        ).split()
    ),
    "detach",
    "isclose",
    "allclose",
    # reductions, scans, sorting and selection
    "nansum",
    "nanmean",
    "median",
    "mode",
    "kthvalue",
    "aminmax",
    "count_nonzero",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "logcumsumexp",
    "diff",
    "sort",
    "argsort",
    "msort",
    "topk",
    "unique",
    "nonzero",
    "argwhere",
    "take",
    "take_along_dim",
    "index_select",
    "index_fill",
    "index_add",
    "index_copy",
    "scatter",
    "masked_select",
    "masked_scatter",
    # matrices and shape ops
    "trace",
    "diag",
    "diagonal",
    "diag_embed",
    "tril",
    "triu",
    "outer",
    "ger",
    "dot",
    "mm",
    "addmm",
    "addmv",
    "baddbmm",
    "addbmm",
    "flip",
    "fliplr",
    "flipud",
    "roll",
    "rot90",
    "movedim",
    "moveaxis",
    "swapdims",
    "select",
    "ravel",
    "tile",
    "repeat_interleave",
    "tensor_split",
    "hsplit",
    "vsplit",
    "dsplit",
    # round 38: the function forms of _tensor_methods' methods torch has as functions
    "is_floating_point",
    "is_complex",
    "is_signed",
    "is_nonzero",
    "is_same_size",
    "is_inference",
    "get_device",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "not_equal",
    "positive",
    "adjoint",
    "conj",
    "conj_physical",
    "resolve_conj",
    "resolve_neg",
    "is_conj",
    "is_neg",
    "isreal",
    "isposinf",
    "isneginf",
    "copysign",
    "fmax",
    "fmin",
    "float_power",
    "frexp",
    "ldexp",
    "gcd",
    "lcm",
    "nextafter",
    "logaddexp2",
    "deg2rad",
    "rad2deg",
    "sinc",
    "hardshrink",
    "prelu",
    "inner",
    "vdot",
    "mv",
    "addr",
    "dist",
    "cross",
    "renorm",
    "diagflat",
    "bincount",
    "cov",
    "corrcoef",
    "quantile",
    "nanquantile",
    "nanmedian",
    "unique_consecutive",
    "bernoulli",
    "multinomial",
    "select_scatter",
    "slice_scatter",
    "diagonal_scatter",
    "split_with_sizes",
    "narrow_copy",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "matrix_power",
    "cholesky",
    "cholesky_solve",
    "cholesky_inverse",
    "qr",
    "svd",
    "triangular_solve",
    "scatter_reduce",
    "index_put",
    "index_put_",
    "index_reduce",
    "put",
    "addmv_",
    *(f"{n}_" for n in ("ldexp gcd lcm deg2rad rad2deg sinc").split()),
)

__all__ = [*_METHODS, "cat", "concat", "concatenate", "stack", "where"]


def _function(name: str) -> Callable[..., Any]:
    method = getattr(Tensor, name)

    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        if not isinstance(input, Tensor):
            if not (hasattr(input, "__array_interface__") or is_device_array(input)):
                raise TypeError(
                    f"{name}: input: expected a Tensor or an array, got {type(input).__name__}"
                )
            if is_device_array(input):  # named by this function, not as "Tensor: data"
                check_device_array(input, name, "input")
            input = Tensor(input)  # noqa: A001
        return method(input, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"dg.{name}(input, ...): the same as input.{name}(...).\n\n{method.__doc__ or ''}"
    return fn


for _name in _METHODS:
    globals()[_name] = _function(_name)
del _name

_ = (cat, concat, concatenate, stack, where)  # re-exported


# Tensor.softmax / log_softmax route through deltagrad.functional, which imports the tensor
# module: they are set on Tensor here, where both are importable without a cycle.
def _softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim, as torch.Tensor.softmax (dim is required)."""
    return _functional.softmax(self, dim, dtype=dtype)


def _log_softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) along dim, as torch.Tensor.log_softmax (dim is required)."""
    return _functional.log_softmax(self, dim, dtype=dtype)


_softmax.__name__ = _softmax.__qualname__ = "softmax"
_log_softmax.__name__ = _log_softmax.__qualname__ = "log_softmax"
Tensor.softmax = _softmax  # type: ignore[attr-defined]
Tensor.log_softmax = _log_softmax  # type: ignore[attr-defined]
softmax = _function("softmax")  # torch.softmax(input, dim)
log_softmax = _function("log_softmax")
__all__ += ["softmax", "log_softmax"]
