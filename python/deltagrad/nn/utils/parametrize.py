"""dg.nn.utils.parametrize, as torch.nn.utils.parametrize: a parameter or buffer computed from
other tensors (``module.weight = f(original)``) through a parametrization module.

register_parametrization moves the tensor into ``module.parametrizations[name]`` (a
ParametrizationList holding ``original``, or ``original0``, ``original1``, ... when the first
parametrization's right_inverse returns a sequence) and swaps the module's class for a
generated subclass ("ParametrizedLinear") with a property of that name: reading it runs the
parametrizations, assigning to it runs their right_inverse into the originals. state_dict
keys are torch's ("parametrizations.weight.original").

copy.deepcopy gives a module of the same generated class, as torch; unlike torch, registering
or removing a parametrization on the copy leaves the original working (torch's copy shares the
class, so removing one there deletes the original's property, and registering one hides the
original's plain tensor of that name behind a KeyError). Pickling is refused, as torch."""

from __future__ import annotations

import collections.abc
import copyreg
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from typing import Any

from ...tensor import Tensor, get_array_module, no_grad
from ..container import ModuleDict, ModuleList
from ..module import Module
from ..parameter import Parameter

__all__ = [
    "cached",
    "ParametrizationList",
    "register_parametrization",
    "is_parametrized",
    "remove_parametrizations",
    "type_before_parametrizations",
    "transfer_parametrizations_and_params",
]

_cache_enabled = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Within the block, each parametrized tensor is computed once (at its first read) and the
    result reused; the cache is dropped when the outermost block exits."""
    global _cache, _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _register_parameter_or_buffer(module: Module, name: str, x: Tensor) -> None:
    if isinstance(x, Parameter):
        module.register_parameter(name, x)
    else:
        module.register_buffer(name, x)


def _maybe_set(dest: Tensor, src: Tensor) -> None:
    """dest takes src's values (and shape) keeping its identity, as torch's ``dest.set_(src)``
    (an optimizer holding dest keeps working). A copy: deltagrad's tensors never share an
    array with the caller's. The version bump makes a graph that read the old values refuse
    backward."""
    xp = get_array_module(dest.data)
    arr = xp.array(src.data, dtype=dest.dtype, copy=True, order="C")
    if dest.grad is not None and tuple(dest.grad.shape) != arr.shape:
        dest.grad = None
    dest.data = arr
    dest._version[0] += 1


def _check_module(fn: str, module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{fn}: module: expected an nn.Module, got {type(module).__name__}")


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor of a module (``module.parametrizations.weight``) and
    the original tensor(s) they are computed from. Built by register_parametrization; not
    meant to be made by the user.

    On construction the first parametrizations' right_inverse (applied last to first; a
    missing one or one raising NotImplementedError is the identity) maps the current value to
    the original(s); unless unsafe, calling the list must give back a tensor of the same shape
    and dtype (ValueError otherwise)."""

    original: Tensor
    unsafe: bool

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        original_shape, original_dtype = original.shape, original.dtype
        with no_grad():
            new: Any = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, "
                f"tuple...). Got {type(new).__name__}"
            )
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if original.dtype != new.dtype:
                raise ValueError(
                    "When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                    f"original.dtype: {original.dtype}\n"
                    f"right_inverse(original).dtype: {new.dtype}"
                )
            if original.device != new.device:
                raise ValueError(
                    "When `right_inverse` outputs one tensor, it may not change the device.\n"
                    f"original.device: {original.device}\n"
                    f"right_inverse(original).device: {new.device}"
                )
            # the same tensor object keeps its place (an optimizer built before still holds it)
            if new is not original:
                with no_grad():
                    _maybe_set(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError(
                        "'right_inverse' must return a Tensor or a Sequence of tensors (list, "
                        f"tuple...). Got element {i} of the sequence with type "
                        f"{type(t).__name__}."
                    )
                if isinstance(original, Parameter):
                    t = Parameter(t, original.requires_grad)
                else:
                    t = t.detach().clone()
                    t.requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", t)
        if not self.unsafe:
            z = self()
            if not isinstance(z, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
            if z.dtype != original_dtype:
                raise ValueError(
                    "Registering a parametrization may not change the dtype of the tensor, "
                    "unless `unsafe` flag is enabled.\n"
                    f"unparametrized dtype: {original_dtype}\n"
                    f"parametrized dtype: {z.dtype}"
                )
            if z.shape != original_shape:
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, "
                    "unless `unsafe` flag is enabled.\n"
                    f"unparametrized shape: {_size(original_shape)}\n"
                    f"parametrized shape: {_size(z.shape)}"
                )

    def right_inverse(self, value: Tensor) -> None:
        """Run the parametrizations' right_inverse (last registered first) on value and store
        the result in the original(s), in place (RuntimeError if one has none)."""
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                else:
                    raise RuntimeError(
                        f"parametrization {type(module).__name__} does not implement right_inverse."
                    )
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(
                        f"`right_inverse` should return a tensor. Got {type(value).__name__}"
                    )
                if value.dtype != self.original.dtype:
                    raise ValueError(
                        f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                        f"while `original` has dtype {self.original.dtype}"
                    )
                _maybe_set(self.original, value)
                return
            if not isinstance(value, collections.abc.Sequence):
                raise ValueError(
                    "'right_inverse' must return a sequence of tensors. "
                    f"Got {type(value).__name__}."
                )
            if len(value) != self.ntensors:
                raise ValueError(
                    "'right_inverse' must return a sequence of tensors of length "
                    f"{self.ntensors}. Got a sequence of length {len(value)}."
                )
            for i, t in enumerate(value):
                original_i = getattr(self, f"original{i}")
                if not isinstance(t, Tensor):
                    raise ValueError(
                        "'right_inverse' must return a sequence of tensors. Got element "
                        f"{i} of type {type(t).__name__}."
                    )
                if original_i.dtype != t.dtype:
                    raise ValueError(
                        f"Tensor {i} returned by `right_inverse` has dtype {t.dtype} "
                        f"while `original{i}` has dtype {original_i.dtype}"
                    )
                _maybe_set(original_i, t)

    def forward(self) -> Tensor:
        mods = list(self)
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in mods[1:]:
            x = m(x)
        return x


def _size(shape: tuple[int, ...]) -> str:
    """A shape as torch prints it in these messages: torch.Size([4, 3])."""
    return f"torch.Size({list(shape)})"


# the live modules of each generated class (a deepcopy shares its original's class, as in
# torch): remove_parametrizations deletes a property only when no other module uses it
_instances: weakref.WeakKeyDictionary[type, weakref.WeakSet[Module]] = weakref.WeakKeyDictionary()


def _default_deepcopy(self: Module, memo: dict[int, Any]) -> Module:
    """A standard deepcopy (the generated class's __getstate__ refuses pickling)."""
    obj = memo.get(id(self))
    if obj is not None:
        return obj
    replica = self.__new__(type(self))
    memo[id(self)] = replica
    # Module.__setattr__ would refuse any assignment before its __init__ has run
    object.__setattr__(replica, "__dict__", deepcopy(self.__dict__, memo))
    for slot in copyreg._slotnames(type(self)):  # type: ignore[attr-defined]
        if hasattr(self, slot):
            setattr(replica, slot, deepcopy(getattr(self, slot), memo))
    return replica


def _deepcopy(self: Module, memo: dict[int, Any]) -> Module:
    """The generated class's __deepcopy__: the module class's own one if it has one (as
    torch), else a standard deepcopy; the copy is recorded as a user of the class."""
    base = type(self).__bases__[0]
    own = getattr(base, "__deepcopy__", None)
    replica = own(self, memo) if own is not None else _default_deepcopy(self, memo)
    if type(replica) is type(self):
        _instances[type(self)].add(replica)
    return replica


def _getstate(self: Module) -> Any:
    raise RuntimeError(
        "Serialization of parametrized modules is only supported through state_dict(). See:\n"
        "https://pytorch.org/tutorials/beginner/saving_loading_models.html"
        "#saving-loading-a-general-checkpoint-for-inference-and-or-resuming-training"
    )


def _inject_new_class(module: Module) -> None:
    """Swap module's class for "Parametrized<Name>", a subclass that holds the properties."""
    cls = type(module)

    def __setattr__(self: Module, name: str, value: Any) -> None:  # noqa: N807
        """Module.__setattr__, except that a parametrized name goes to its property (whose
        setter runs right_inverse), as in torch: deltagrad's Module.__setattr__ would first
        register a leaf Tensor that requires grad as a parameter. A Parameter is refused
        there, as torch's register_parameter refuses it (the attribute already exists)."""
        if is_parametrized(self, name):
            if isinstance(value, Parameter):
                raise KeyError(f"attribute '{name}' already exists")
            object.__setattr__(self, name, value)
            return
        cls.__setattr__(self, name, value)

    dct: dict[str, Any] = {
        "__getstate__": _getstate,
        "__setattr__": __setattr__,
        "__deepcopy__": _deepcopy,
    }
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), dct)
    _instances[type(module)] = weakref.WeakSet([module])


def _inject_property(module: Module, tensor_name: str) -> None:
    """Add the property tensor_name to module's (generated) class."""
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    # A module sharing the class (a deepcopy) whose tensor_name is not parametrized keeps a
    # plain attribute of that name in its __dict__ (where Module.__setattr__ puts it): the
    # property reads, writes and deletes that one.
    def get_parametrized(self: Module) -> Tensor:
        if not is_parametrized(self, tensor_name):
            try:
                return self.__dict__[tensor_name]
            except KeyError:
                raise AttributeError(
                    f"'{type(self).__name__}' object has no attribute '{tensor_name}'"
                ) from None
        parametrization = self.parametrizations[tensor_name]
        if not _cache_enabled:
            return parametrization()
        key = (id(self), tensor_name)
        tensor = _cache.get(key)
        if tensor is None:
            tensor = parametrization()
            _cache[key] = tensor
        return tensor

    def set_original(self: Module, value: Tensor) -> None:
        if not is_parametrized(self, tensor_name):
            self.__dict__[tensor_name] = value
            return
        self.parametrizations[tensor_name].right_inverse(value)

    def delete(self: Module) -> None:
        if is_parametrized(self, tensor_name):
            raise AttributeError(
                f"property '{tensor_name}' of '{type(self).__name__}' object has no deleter"
            )
        try:
            del self.__dict__[tensor_name]
        except KeyError:
            raise AttributeError(tensor_name) from None

    setattr(type(module), tensor_name, property(get_parametrized, set_original, delete))


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make ``module.<tensor_name>`` be ``parametrization(original)``, as torch.

    The first registration on a tensor moves the parameter or buffer into
    ``module.parametrizations[tensor_name]`` (see ParametrizationList); a later one on the
    same name is chained after the previous ones (its input is their output). unsafe=False
    checks that the parametrization keeps the tensor's shape and dtype (ValueError).
    Returns module."""
    fn = "register_parametrization"
    _check_module(fn, module)
    if not isinstance(tensor_name, str):
        raise TypeError(f"{fn}: tensor_name: expected a str, got {type(tensor_name).__name__}")
    if not isinstance(parametrization, Module):
        raise TypeError(
            f"{fn}: parametrization: expected an nn.Module, got {type(parametrization).__name__}"
        )
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            if not isinstance(x, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
            if x.dtype != y.dtype:
                raise ValueError(
                    "Registering a parametrization may not change the dtype of the tensor, "
                    "unless the `unsafe` flag is enabled.\n"
                    f"module.{tensor_name}.dtype: {y.dtype}\n"
                    f"parametrization(module.{tensor_name}).dtype: {x.dtype}"
                )
            if x.shape != y.shape:
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, "
                    "unless the `unsafe` flag is enabled.\n"
                    f"module.{tensor_name}.shape: {_size(y.shape)}\n"
                    f"parametrization(module.{tensor_name}).shape: {_size(x.shape)}"
                )
            if hasattr(parametrization, "right_inverse"):
                try:
                    z = parametrization.right_inverse(x)
                except NotImplementedError:
                    pass
                else:
                    if not isinstance(z, Tensor):
                        raise ValueError(
                            "parametrization.right_inverse must return a tensor. Got: "
                            f"{type(z).__name__}"
                        )
                    if z.dtype != y.dtype:
                        raise ValueError(
                            "The tensor returned by parametrization.right_inverse must have "
                            f"the same dtype as module.{tensor_name}, unless the `unsafe` flag "
                            f"is enabled.\nmodule.{tensor_name}.dtype: {y.dtype}\n"
                            f"returned dtype: {z.dtype}"
                        )
                    if z.shape != y.shape:
                        raise ValueError(
                            "The tensor returned by parametrization.right_inverse must have "
                            f"the same shape as module.{tensor_name}, unless the `unsafe` flag "
                            f"is enabled.\nmodule.{tensor_name}.shape: {_size(y.shape)}\n"
                            f"returned shape: {_size(z.shape)}"
                        )
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe  # an unsafe list stays unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        if original is None:  # an empty slot (bias=False): torch fails in the same place
            raise ValueError(
                f"{fn}: module.{tensor_name} is None: there is no tensor to parametrize"
            )
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
    else:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized "
            f"element with name '{tensor_name}'"
        )
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether tensor_name (None: any tensor) of module has a parametrization."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(
    module: Module, tensor_name: str, leave_parametrized: bool = True
) -> Module:
    """Undo register_parametrization on tensor_name. leave_parametrized=True: the tensor keeps
    its current (parametrized) value; False: it becomes the original again (only for a single
    original). For a single original the same tensor object comes back (an optimizer holding
    it keeps working). The module gets its class back once nothing is parametrized."""
    _check_module("remove_parametrizations", module)
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                _maybe_set(original, t)
    else:
        if not leave_parametrized:
            raise ValueError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                "parametrized in terms of a sequence of tensors."
            )
        t = getattr(module, tensor_name)
        original = Parameter(t.detach()) if t.requires_grad else t.detach()
    cls = type(module)
    del module.parametrizations[tensor_name]
    users = _instances.get(cls, ())
    if not any(m is not module and is_parametrized(m, tensor_name) for m in users):
        delattr(cls, tensor_name)
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = cls.__bases__[0]
        if cls in _instances:
            _instances[cls].discard(module)
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before register_parametrization swapped it (else its class)."""
    if is_parametrized(module):
        return type(module).__bases__[0]
    return type(module)


def transfer_parametrizations_and_params(
    from_module: Module, to_module: Module, tensor_name: str | None = None
) -> Module:
    """Register from_module's parametrizations of tensor_name (None: all of them) on
    to_module (the same parametrization objects) and give to_module the same original
    tensors; a missing tensor is first created from from_module's value. Returns to_module."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        src = from_module.parametrizations[name]
        for param_func in src:
            register_parametrization(to_module, name, param_func)
        dst = to_module.parametrizations[name]
        if hasattr(src, "original"):
            dst.original = src.original
        else:
            i = 0
            while hasattr(src, f"original{i}"):
                setattr(dst, f"original{i}", getattr(src, f"original{i}"))
                i += 1
    return to_module
