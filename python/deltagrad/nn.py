"""deltagrad.nn: Module, layers, activation and loss modules, MLP, save / load to .npz."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from . import functional as F
from ._random import get_rng
from .tensor import Tensor

__all__ = [
    "Module",
    "Parameter",
    "Linear",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softplus",
    "SiLU",
    "Swish",
    "Dropout",
    "Sequential",
    "ModuleList",
    "MLP",
    "MSELoss",
    "SumOfSquaresLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "save",
    "load",
]


def Parameter(data: Any, dtype: Any = None) -> Tensor:  # noqa: N802 - reads like torch's class
    """A leaf Tensor that requires grad: what a Module registers as a parameter."""
    return Tensor(data, requires_grad=True, dtype=dtype)


class Module:
    """Base class: attributes that are Tensors with requires_grad become parameters, attributes
    that are Modules become submodules (both in assignment order)."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_params" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        self._params.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Tensor) and value.requires_grad:
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- traversal -----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._params.items():
                if id(p) not in seen:  # a shared (tied) parameter is listed once
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move / cast every parameter in place (the Tensor objects are kept, so an optimizer
        built before still holds them)."""
        for p in self.parameters():
            moved = p.detach().to(device, dtype)
            p.data, p.grad = moved.data, None
        return self

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """name -> a numpy copy of each parameter."""
        return OrderedDict((n, np.array(p.numpy(), copy=True)) for n, p in self.named_parameters())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters of the same names (shapes must match)."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, p in params.items():
            if name not in state:
                continue
            value = state[name]
            value = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {value.shape} in the "
                    f"state, expected {p.shape}"
                )
            xp_value = value.astype(p.dtype)
            p.data = xp_value if p.device == "cpu" else Tensor(xp_value, device=p.device).data
            p.grad = None

    def save(self, path: str | os.PathLike[str]) -> None:
        save(self, path)

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> Module:
        return load(self, path, strict=strict)

    # ---- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"


def save(module: Module, path: str | os.PathLike[str]) -> None:
    """Write the module's state_dict to an .npz file."""
    np.savez(path, **module.state_dict())


def load(module: Module, path: str | os.PathLike[str], strict: bool = True) -> Module:
    """Read an .npz written by save() into the module; returns the module."""
    with np.load(path) as f:
        module.load_state_dict({k: f[k] for k in f.files}, strict=strict)
    return module


# ---- layers ---------------------------------------------------------------------------------


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features), initialized as torch does:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and bias, drawn from deltagrad's
    generator (dg.manual_seed makes it reproducible). `activation` fuses one into the kernel."""

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
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {n!r}")
        F._activation_name(activation)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = None if activation in (None, "identity") else activation
        bound = 1.0 / math.sqrt(in_features)
        rng = get_rng()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)), dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_features), dtype) if bias else None

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        act = f", activation={self.activation!r}" if self.activation else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}{act}"
        )


class Identity(Module):
    def forward(self, x: Any) -> Any:
        return x


class ReLU(Module):
    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


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


class Softplus(Module):
    def forward(self, x: Any) -> Tensor:
        return F.softplus(x)


class SiLU(Module):
    """x * sigmoid(x), also called swish."""

    def forward(self, x: Any) -> Tensor:
        return F.silu(x)


Swish = SiLU


class Dropout(Module):
    """Inverted dropout while training (module.train()); the identity after module.eval()."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Layers applied in order; indexable (an int gives a layer, a slice a Sequential),
    iterable, len()."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: layer {i} is a {type(layer).__name__}, expected a Module"
                )
            setattr(self, str(i), layer)

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, i: int | slice) -> Module:
        layers = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*layers[i])
        return layers[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def append(self, layer: Module) -> Sequential:
        setattr(self, str(len(self)), layer)
        return self


class ModuleList(Module):
    """A list of submodules (registered, so their parameters are found); no forward."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))


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


# ---- losses ---------------------------------------------------------------------------------


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, y: Any, t: Any) -> Tensor:
        return F.mse_loss(y, t, self.reduction)


class SumOfSquaresLoss(Module):
    """E(w) = 0.5 * sum((y - t)**2)."""

    def forward(self, y: Any, t: Any) -> Tensor:
        return F.sum_of_squares(y, t)


class BCELoss(_Loss):
    def forward(self, p: Any, t: Any) -> Tensor:
        return F.binary_cross_entropy(p, t, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, z: Any, t: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(z, t, self.reduction)


class CrossEntropyLoss(_Loss):
    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction)
