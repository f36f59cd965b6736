"""Containers: Sequential, ModuleList, ModuleDict, ParameterList."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList"]


def _module(owner: str, m: Any, what: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: {what} is a {type(m).__name__}, expected a Module")
    return m


def _index(owner: str, idx: Any, n: int) -> int:
    """An int index into n items as a position 0..n-1 (negative counts from the end)."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{owner}: index {idx} is out of range for {n} modules")
    return idx % n


class Sequential(Module):
    """Layers applied in order, as torch.nn.Sequential: indexable (an int gives a layer, a
    slice a Sequential keeping the layers' names), iterable, len(), item assignment and
    deletion (which renumbers the layers "0", "1", ...), append / insert / extend / pop, and
    + / += with another Sequential. Also Sequential(OrderedDict(name=layer, ...))."""

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, _module("Sequential", layer, f"layer {name!r}"))
            return
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            setattr(self, str(i), _module("Sequential", layer, f"layer {i}"))

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, i: int | slice) -> Module:
        if isinstance(i, slice):  # the names stay, as torch: state_dict keys still match
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[_index("Sequential", i, len(self))]

    def __setitem__(self, i: int, layer: Module) -> None:
        key = list(self._modules)[_index("Sequential", i, len(self))]
        setattr(self, key, _module("Sequential", layer, "the value"))

    def __delitem__(self, i: int | slice) -> None:
        layers = list(self._modules.values())
        if isinstance(i, slice):
            del layers[i]
        else:
            del layers[_index("Sequential", i, len(self))]
        self._renumber(layers)

    def _renumber(self, layers: list[Module]) -> None:
        """Hold exactly these layers, named "0", "1", ... (as torch after a deletion)."""
        for key in list(self._modules):
            delattr(self, key)
        for j, layer in enumerate(layers):
            self.add_module(str(j), layer)  # add_module: an empty (None) slot stays one

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def append(self, layer: Module) -> Sequential:
        setattr(self, str(len(self)), _module("Sequential.append", layer, "layer"))
        return self

    def insert(self, index: int, layer: Module) -> Sequential:
        """Put layer at position index (-len..len); the layers are renumbered."""
        _module("Sequential.insert", layer, "layer")
        n = len(self)
        index = operator.index(index)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for {n} modules")
        layers = list(self._modules.values())
        layers.insert(index, layer)  # a negative index counts from the end, as torch
        self._renumber(layers)
        return self

    def extend(self, layers: Iterable[Module]) -> Sequential:
        for layer in list(layers):
            self.append(layer)
        return self

    def pop(self, i: int | slice) -> Any:
        """Remove and return the layer at i (a slice: a Sequential of those layers)."""
        out = self[i]
        del self[i]
        return out

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"Sequential +: expected a Sequential, got {type(other).__name__} (as torch)"
            )
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"Sequential +=: expected a Sequential, got {type(other).__name__} (as torch)"
            )
        return self.extend(other)


class ModuleList(Module):
    """A list of submodules (registered, so their parameters are found); no forward."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        setattr(self, str(len(self)), _module("ModuleList", module, "the value"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def _reset(self, mods: list[Module]) -> None:
        for k in list(self._modules):
            delattr(self, k)
        for i, m in enumerate(mods):
            setattr(self, str(i), m)

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, _module("ModuleList.insert", module, "module"))
        self._reset(mods)

    def __getitem__(self, i: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])
        return mods[i]

    def __setitem__(self, i: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods[i] = _module("ModuleList", module, "the value")
        self._reset(mods)

    def __delitem__(self, i: int | slice) -> None:
        mods = list(self._modules.values())
        del mods[i]
        self._reset(mods)

    def pop(self, i: int | slice) -> Any:
        """Remove and return the module at i (a slice: a ModuleList of those modules)."""
        out = self[i]
        del self[i]
        return out

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __iadd__(self, other: Iterable[Module]) -> ModuleList:
        return self.extend(other)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __repr__(self) -> str:
        """torch's layout: a run of equal modules is one line, "(0-2): 3 x ReLU()"."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        runs: list[list[Any]] = []  # [first index, last index, repr]
        for j, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = j
            else:
                runs.append([j, j, r])
        lines = [
            (f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}").replace("\n", "\n  ")
            for a, b, r in runs
        ]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of submodules (registered under their keys); no forward."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[Any] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _module("ModuleDict", module, f"the value of key {key!r}"))

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return list(self._modules.keys())

    def values(self) -> Iterable[Module]:
        return list(self._modules.values())

    def items(self) -> Iterable[tuple[str, Module]]:
        return list(self._modules.items())

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def clear(self) -> None:
        for k in list(self._modules):
            del self[k]

    def update(self, modules: Any) -> None:
        items = modules.items() if isinstance(modules, Mapping) else modules
        for j, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(
                    f"ModuleDict.update: element {j} is a {type(item).__name__}, expected a "
                    "(key, Module) pair"
                )
            self[item[0]] = item[1]


def _as_parameter(value: Any) -> Tensor:
    if isinstance(value, Parameter) or (
        isinstance(value, Tensor) and value.requires_grad and value.is_leaf
    ):
        return value
    return Parameter(value)


class ParameterList(Module):
    """A list of parameters (registered as "0", "1", ...). A value that is not already a
    Parameter (or a Tensor that requires grad) becomes Parameter(value), a copy."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, Tensor):
            raise TypeError("ParameterList.extend: values: expected an iterable, got a Tensor")
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, i: int | slice) -> Any:
        ps = list(self._parameters.values())
        if isinstance(i, slice):
            return ParameterList(ps[i])
        return ps[i]

    def __setitem__(self, i: int, value: Any) -> None:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"ParameterList: index {i} is out of range for {n} parameters")
        setattr(self, str(i % n), _as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Tensor]:
        return iter(list(self._parameters.values()))

    def extra_repr(self) -> str:
        """torch's: one line per parameter, "(0): Parameter containing: [float32 of size 3x4]"."""
        lines = []
        for k, p in self._parameters.items():
            kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
            size = "x".join(map(str, p.shape))
            device = " (cuda)" if p.device == "cuda" else ""
            lines.append(f"  ({k}): {kind} containing: [{p.dtype} of size {size}{device}]")
        return "\n".join(lines)
