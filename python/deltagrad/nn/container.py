"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, KeysView, Mapping
from typing import Any

import numpy as np

from ..backends._args import is_device_array
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _module(owner: str, m: Any, what: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: {what} is a {type(m).__name__}, expected a Module")
    return m


def _index(owner: str, idx: Any, n: int, what: str = "modules") -> int:
    """An int index into n items as a position 0..n-1 (negative counts from the end)."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{owner}: index {idx} is out of range for {n} {what}")
    return idx % n


def _iterable(owner: str, values: Any) -> Iterable[Any]:
    """values, checked to be an iterable other than a Tensor (torch's TypeError)."""
    if isinstance(values, Tensor) or not isinstance(values, Iterable):
        raise TypeError(
            f"{owner} should be called with an iterable, but got {type(values).__name__}"
        )
    return values


def _pairs(owner: str, values: Any, sort_mappings: bool) -> Iterable[tuple[Any, Any]]:
    """The (key, value) pairs of update(values), as torch: an OrderedDict or a container
    dict in its order, another mapping sorted by key when sort_mappings (ParameterDict's
    rule), an iterable of pairs checked element by element."""
    if not isinstance(values, Iterable):
        raise TypeError(
            f"{owner} should be called with an iterable of key/value pairs, but got "
            f"{type(values).__name__}"
        )
    if isinstance(values, (OrderedDict, ModuleDict, ParameterDict)):
        return list(values.items())
    if isinstance(values, Mapping):
        items = list(values.items())
        return sorted(items, key=lambda kv: kv[0]) if sort_mappings else items
    out = []
    for j, item in enumerate(values):
        if not isinstance(item, Iterable):
            raise TypeError(
                f"{owner}: element {j} is a {type(item).__name__}, expected a (key, value) pair "
                f"(update sequence element #{j} should be Iterable)"
            )
        item = list(item)
        if len(item) != 2:
            raise ValueError(
                f"{owner}: update sequence element #{j} has length {len(item)}; 2 is required"
            )
        out.append((item[0], item[1]))
    return out


class Sequential(Module):
    """Layers applied in order, as torch.nn.Sequential: indexable (an int gives a layer, a
    slice a Sequential keeping the layers' names), iterable, len(), item assignment and
    deletion (which renumbers the layers "0", "1", ...), append / insert / extend / pop,
    + / += with another Sequential, and * / *= by a positive int (the same layer objects
    repeated, as torch). Also Sequential(OrderedDict(name=layer, ...)) and, as a deltagrad
    convenience, Sequential([layer, ...])."""

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
            return type(self)(OrderedDict(list(self._modules.items())[i]))  # a subclass too
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

    def _factor(self, op: str, other: Any) -> int | None:
        if not isinstance(other, int):
            return None
        if other <= 0:
            raise ValueError(
                f"Sequential {op}: Non-positive multiplication factor {other} for Sequential"
            )
        return other

    def __mul__(self, other: int) -> Sequential:
        """A new Sequential holding these layers other times over (the same objects)."""
        n = self._factor("*", other)
        if n is None:
            return NotImplemented
        return Sequential(*(list(self) * n))

    def __rmul__(self, other: int) -> Sequential:
        return self.__mul__(other)

    def __imul__(self, other: int) -> Sequential:
        n = self._factor("*=", other)
        if n is None:
            return NotImplemented
        layers = list(self)
        for _ in range(n - 1):
            for layer in layers:
                self.append(layer)
        return self


class ModuleList(Module):
    """A list of submodules (registered, so their parameters are found); no forward."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        setattr(self, str(len(self)), _module("ModuleList.append", module, "module"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        mods = list(_iterable("ModuleList.extend", modules))
        for j, m in enumerate(mods):
            _module("ModuleList.extend", m, f"element {j}")
        for m in mods:
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
            return type(self)(mods[i])  # a subclass's slice is of the subclass, as torch
        return mods[_index("ModuleList", i, len(mods))]

    def __setitem__(self, i: int, module: Module) -> None:
        key = list(self._modules)[_index("ModuleList", i, len(self))]
        setattr(self, key, _module("ModuleList", module, "the value"))

    def __delitem__(self, i: int | slice) -> None:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            del mods[i]
        else:
            del mods[_index("ModuleList", i, len(mods))]
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
        name = type(self).__name__  # a subclass prints its own name, as torch
        reprs = [repr(m) for m in self]
        if not reprs:
            return f"{name}()"
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
        return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


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

    def keys(self) -> KeysView[str]:
        """A live view of the keys (dict_keys), as torch."""
        return self._modules.keys()

    def values(self) -> Any:
        """A live view of the modules (dict_values), as torch."""
        return self._modules.values()

    def items(self) -> Any:
        """A live view of the (key, module) pairs (dict_items), as torch."""
        return self._modules.items()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def clear(self) -> None:
        for k in list(self._modules):
            del self[k]

    def update(self, modules: Any) -> None:
        """Add (or replace) the modules of a mapping (in its order) or of an iterable of
        (key, module) pairs; every element is checked before anything changes."""
        pairs = _pairs("ModuleDict.update", modules, sort_mappings=False)
        for k, m in pairs:
            _module("ModuleDict.update", m, f"the value of key {k!r}")
        for k, m in pairs:
            self[k] = m


def _entry(value: Any) -> Any:
    """What a ParameterList / ParameterDict stores for value: a Parameter (or a leaf Tensor
    that requires grad) as it is, another Tensor or an array as Parameter(value) (a copy, as
    every deltagrad Parameter), any other object (None, a number, a string) as it is, as
    torch (listed in the repr, not registered)."""
    if isinstance(value, Parameter) or (
        isinstance(value, Tensor) and value.requires_grad and value.is_leaf
    ):
        return value
    if isinstance(value, (Tensor, np.ndarray)) or is_device_array(value):
        return Parameter(value)
    return value


def _set_entry(mod: Module, key: str, value: Any) -> None:
    """Store _entry(value) as attribute key of mod: a Tensor registered as a parameter (in
    place of an earlier one, keeping its position), anything else a plain attribute. As
    Module's attribute rule (and torch): a parameter's slot then takes only a Tensor or
    None (an empty slot)."""
    value = _entry(value)
    params = mod.__dict__["_parameters"]
    if isinstance(value, Tensor) or (key in params and value is None):
        params[key] = value
    elif key in params:
        raise TypeError(
            f"{type(mod).__name__}: cannot assign {type(value).__name__} as parameter {key!r} "
            "(a Parameter, a Tensor or None expected)"
        )
    object.__setattr__(mod, key, value)


_TYPE_NAMES = {
    "float16": "HalfTensor",
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "int8": "CharTensor",
    "int16": "ShortTensor",
    "int32": "IntTensor",
    "int64": "LongTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
}


def _entry_line(key: Any, value: Any, type_name: bool) -> str:
    """torch's repr line of one ParameterList / ParameterDict entry. type_name: the tensor's
    type as torch.typename (ParameterDict's "FloatTensor"), else its dtype (ParameterList's
    "float32"); torch's "torch." prefixes are left out."""
    if not isinstance(value, Tensor):
        return f"  ({key}): Object of type: {type(value).__name__}"
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    size = "x".join(map(str, value.shape))
    dtype = str(value.dtype)
    if type_name:
        dtype = _TYPE_NAMES.get(dtype, dtype)
        if value.device == "cuda":
            dtype = "cuda." + dtype
    device = " (cuda)" if value.device == "cuda" else ""
    return f"  ({key}): {kind} containing: [{dtype} of size {size}{device}]"


class ParameterList(Module):
    """A list of parameters (registered as "0", "1", ...), as torch.nn.ParameterList. A Tensor
    or array that is not already a Parameter (or a leaf Tensor that requires grad) becomes
    Parameter(value), a copy; another object (None, a number) is kept as it is and not
    registered, as torch."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self.__dict__["_size"] = 0
        if values is not None:
            self.extend(values)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")

    def append(self, value: Any) -> ParameterList:
        n = self.__dict__["_size"]
        self.__dict__["_size"] = n + 1
        _set_entry(self, str(n), value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for v in list(_iterable("ParameterList.extend", values)):
            self.append(v)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def __getitem__(self, i: int | slice) -> Any:
        n = len(self)
        if isinstance(i, slice):  # a subclass's slice is of the subclass, as torch
            out = type(self)()
            return out.extend([getattr(self, str(j)) for j in range(n)[i]])
        return getattr(self, str(_index("ParameterList", i, n, "parameters")))

    def __setitem__(self, i: int, value: Any) -> None:
        _set_entry(self, str(_index("ParameterList", i, len(self), "parameters")), value)

    def __len__(self) -> int:
        return self.__dict__["_size"]

    def __iter__(self) -> Iterator[Any]:
        return iter([getattr(self, str(j)) for j in range(len(self))])

    def extra_repr(self) -> str:
        """torch's: one line per entry, "(0): Parameter containing: [float32 of size 3x4]"."""
        return "\n".join(_entry_line(j, v, False) for j, v in enumerate(self))


class _MissingKeyError(KeyError, AttributeError):
    """A key ParameterDict does not hold: torch raises AttributeError (it reads an
    attribute), a dict a KeyError; this is both."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParameterDict(Module):
    """An ordered dict of parameters, as torch.nn.ParameterDict: registered under their keys
    (parameters() and state_dict() list "<name>.<key>"), with dict's methods (keys / values
    / items in insertion order, get, pop, popitem, setdefault, update, copy, fromkeys,
    clear, |, |=). Values are converted as ParameterList's: a Tensor or an array becomes a
    Parameter, another object is kept as it is. As torch, update() and the constructor take
    a plain dict in sorted key order (an OrderedDict or a ParameterDict in its own order)."""

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self.__dict__["_keys"] = {}
        if parameters is not None:
            self.update(parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(
                "ParameterDict: Index given to ParameterDict cannot be used as a key as it is "
                f"not a string (type is '{type(key).__name__}')"
            )
        if not key:
            raise KeyError('ParameterDict: parameter name can\'t be empty string ""')
        if "." in key:
            raise KeyError(f'ParameterDict: parameter name can\'t contain ".", got {key!r}')
        if key not in self._keys and hasattr(self, key):
            raise KeyError(f"ParameterDict: attribute {key!r} already exists")
        return key

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise _MissingKeyError(f"ParameterDict has no key {key!r}")
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._check_key(key)
        self._keys[key] = None
        _set_entry(self, key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self._keys:
            raise KeyError(key)
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> KeysView[str]:
        """A live view of the keys, as torch."""
        return self._keys.keys()

    def values(self) -> Iterator[Any]:
        """The values in key order (a generator, as torch)."""
        return (self[k] for k in self._keys)

    def items(self) -> Iterator[tuple[str, Any]]:
        """The (key, value) pairs in key order (a generator, as torch)."""
        return ((k, self[k]) for k in self._keys)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._keys else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """self[key], after setting it to default when missing."""
        if key not in self._keys:
            self[key] = default
        return self[key]

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last (key, value) pair inserted."""
        if not self._keys:
            raise KeyError("ParameterDict.popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects, in the same order."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ParameterDict with every key set to default (None: an object entry)."""
        return ParameterDict([(k, default) for k in keys])

    def update(self, parameters: Any) -> None:
        """Add (or replace) the entries of a mapping or of an iterable of (key, value) pairs;
        a plain dict's keys in sorted order, as torch."""
        for k, v in _pairs("ParameterDict.update", parameters, sort_mappings=True):
            self[k] = v

    def __or__(self, other: Any) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: Any) -> Any:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: Any) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        """torch's: one line per entry, "(w): Parameter containing: [FloatTensor of size 3]"."""
        return "\n".join(_entry_line(k, v, True) for k, v in self.items())
