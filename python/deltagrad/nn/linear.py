"""Identity, Linear (with an optionally fused activation) and MLP."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, _ShapeError, _ShapeTypeError
from .container import Sequential
from .init import _calculate_fan_in_and_fan_out, kaiming_uniform_, uniform_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = ["Identity", "Linear", "MLP"]


class Identity(Module):
    """Returns its input; accepts (and ignores) any constructor arguments, as torch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features), initialized as torch does:
    kaiming_uniform_(weight, a=sqrt(5)) (U(-1/sqrt(in_features), 1/sqrt(in_features))) and
    bias U(-1/sqrt(in_features), 1/sqrt(in_features)), drawn from deltagrad's generator
    (dg.manual_seed makes it reproducible). `activation` fuses one into the kernel."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
                raise _ShapeTypeError(f"Linear: {name} must be a positive int, got {n!r}")
            if n < 1:  # torch: a RuntimeError below 0 (0 is an empty layer there)
                raise (_ShapeError if n < 0 else ValueError)(
                    f"Linear: {name} must be a positive int, got {n!r}"
                )
        F._activation_name(activation)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = None if activation in (None, "identity") else activation
        dtype = _float_dtype(dtype, "Linear")
        self.weight = Parameter(np.zeros((self.out_features, self.in_features)), dtype=dtype)
        self.bias = Parameter(np.zeros(self.out_features), dtype=dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init, redrawn from deltagrad's generator."""
        kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = _calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        act = f", activation={self.activation!r}" if self.activation else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}{act}"
        )


class MLP(Sequential):
    """A multilayer perceptron: Linear(sizes[0], sizes[1]), activation, ..., Linear(sizes[-2],
    sizes[-1]) with no activation after the last layer. Each hidden activation is fused into
    its Linear (one kernel: matmul + bias + activation)."""

    def __init__(
        self,
        sizes: Iterable[int],
        activation: str | None = "relu",
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        F._activation_name(activation)
        layers = [
            Linear(
                a, b, bias=bias, activation=activation if i < len(sizes) - 2 else None, dtype=dtype
            )
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        super().__init__(*layers)
        self.sizes = sizes
        self.activation = activation
