"""Activation modules: each calls the deltagrad.functional function of the same name.

As torch's, they keep their hyper-parameters as attributes of torch's names (as given, so that
repr() prints them as torch does) and print torch's extra_repr. inplace=True writes into the
input only when no graph is recorded through it (see deltagrad.functional's activations);
while one is, the result is a new tensor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .init import constant_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = [
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "LogSoftmax",
    "Softplus",
    "SiLU",
    "Swish",
    "ELU",
    "SELU",
    "CELU",
    "ReLU6",
    "Hardsigmoid",
    "Hardswish",
    "Mish",
    "LogSigmoid",
    "Softsign",
    "Hardtanh",
    "Threshold",
    "GLU",
    "PReLU",
    "RReLU",
    "Softmin",
    "Softmax2d",
    "Tanhshrink",
    "Softshrink",
    "Hardshrink",
]


def _number(owner: str, name: str, v: Any) -> Any:
    """v when it is a real number (not a bool), else a TypeError naming the module and name."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name}: expected a number, got {v!r}")
    return v


def _bool(owner: str, name: str, v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name}: expected a bool, got {v!r}")
    return bool(v)


def _dim_or_none(owner: str, dim: Any) -> Any:
    if dim is not None and (
        isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer))
    ):
        raise TypeError(f"{owner}: dim: expected an int or None, got {dim!r}")
    return dim


class _Inplace(Module):
    """An activation whose only argument is torch's inplace flag."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _bool(type(self).__name__, "inplace", inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    def forward(self, x: Any) -> Tensor:
        return F.relu(x, inplace=self.inplace)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = _bool("LeakyReLU", "inplace", inplace)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{', inplace=True' if self.inplace else ''}"


class Sigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _SoftmaxFamily(Module):
    """Softmax, LogSoftmax and Softmin: one dim (None: torch's implicit dim, 0 for 0-, 1- and
    3-d inputs, else 1, with torch's deprecation warning, as the functional forms)."""

    _op = "Softmax"

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _dim_or_none(self._op, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxFamily):
    """softmax along dim (torch's nn.Softmax)."""

    def forward(self, x: Any) -> Tensor:
        # _stacklevel 5 (torch's): the warning names the line that called the module
        return F.softmax(x, self.dim, _stacklevel=5)


class LogSoftmax(_SoftmaxFamily):
    """log_softmax along dim (torch's nn.LogSoftmax)."""

    _op = "LogSoftmax"

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, self.dim, _stacklevel=5)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _number("Softplus", "beta", beta)
        self.threshold = _number("Softplus", "threshold", threshold)

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class SiLU(_Inplace):
    """x * sigmoid(x), also called swish."""

    def forward(self, x: Any) -> Tensor:
        return F.silu(x, inplace=self.inplace)


Swish = SiLU


class _Alpha(Module):
    """elu and celu's arguments: alpha and inplace."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _number(type(self).__name__, "alpha", alpha)
        self.inplace = _bool(type(self).__name__, "inplace", inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{', inplace=True' if self.inplace else ''}"


class ELU(_Alpha):
    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha, self.inplace)


class CELU(_Alpha):
    """x if x > 0 else alpha * (exp(x / alpha) - 1); alpha 0 is refused when called (as
    torch, whose error is a RuntimeError; here a ValueError)."""

    def forward(self, x: Any) -> Tensor:
        return F.celu(x, self.alpha, self.inplace)


class SELU(_Inplace):
    def forward(self, x: Any) -> Tensor:
        return F.selu(x, self.inplace)


class Hardtanh(Module):
    """clamp(x, min_val, max_val) with torch's gradient (0 at the bounds). min_value /
    max_value are torch's deprecated names (a FutureWarning)."""

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        self.min_val = _number(name, "min_val", min_val)
        self.max_val = _number(name, "max_val", max_val)
        self.inplace = _bool(name, "inplace", inplace)
        if not self.max_val > self.min_val:  # torch: an AssertionError
            raise ValueError(
                f"{name}: max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )

    def forward(self, x: Any) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{inplace}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): Hardtanh(0.0, 6.0), as torch's (relu6's kernel)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(_Inplace):
    def forward(self, x: Any) -> Tensor:
        return F.hardsigmoid(x, self.inplace)

    def extra_repr(self) -> str:  # torch prints no inplace here
        return ""


class Hardswish(_Inplace):
    def forward(self, x: Any) -> Tensor:
        return F.hardswish(x, self.inplace)

    def extra_repr(self) -> str:  # torch prints no inplace here
        return ""


class Mish(_Inplace):
    def forward(self, x: Any) -> Tensor:
        return F.mish(x, self.inplace)


class LogSigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.logsigmoid(x)


class Softsign(Module):
    def forward(self, x: Any) -> Tensor:
        return F.softsign(x)


class Tanhshrink(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanhshrink(x)


class Threshold(Module):
    """x if x > threshold else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = _number("Threshold", "threshold", threshold)
        self.value = _number("Threshold", "value", value)
        self.inplace = _bool("Threshold", "inplace", inplace)

    def forward(self, x: Any) -> Tensor:
        return F.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along dim."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"GLU: dim: expected an int, got {dim!r}")
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x if x > 0 else weight * x, with a learnable weight of num_parameters elements (1, or
    the input's channel count, dim 1), each initialized to init."""

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        n = num_parameters
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"PReLU: num_parameters: expected an int, got {n!r}")
        if n < 0:
            raise ValueError(f"PReLU: num_parameters: expected an int >= 0, got {n}")
        self.num_parameters = int(n)
        self.init = _number("PReLU", "init", init)
        self.weight = Parameter(np.zeros(self.num_parameters), dtype=_float_dtype(dtype, "PReLU"))
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Every weight = init (torch's nn.init.constant_)."""
        constant_(self.weight, self.init)

    def forward(self, x: Any) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Randomized leaky relu: a slope drawn from U(lower, upper) per element while training
    (deltagrad's generator), (lower + upper) / 2 in eval mode."""

    def __init__(
        self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
    ) -> None:
        super().__init__()
        self.lower = _number("RReLU", "lower", lower)
        self.upper = _number("RReLU", "upper", upper)
        self.inplace = _bool("RReLU", "inplace", inplace)

    def forward(self, x: Any) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace}"


class Softmin(_SoftmaxFamily):
    """softmax(-x) along dim (torch's nn.Softmin)."""

    _op = "Softmin"

    def forward(self, x: Any) -> Tensor:
        return F.softmin(x, self.dim, _stacklevel=5)


class Softmax2d(Module):
    """softmax over the channels (dim -3) of a (C, H, W) or (N, C, H, W) input."""

    def forward(self, x: Any) -> Tensor:
        nd = x.ndim if isinstance(x, Tensor) else np.ndim(x)
        if nd not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {nd}D instead")
        return F.softmax(x, -3)


class _Lambd(Module):
    """softshrink and hardshrink's argument, printed bare as torch does."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = _number(type(self).__name__, "lambd", lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(_Lambd):
    def forward(self, x: Any) -> Tensor:
        return F.softshrink(x, self.lambd)


class Hardshrink(_Lambd):
    def forward(self, x: Any) -> Tensor:
        return F.hardshrink(x, self.lambd)
