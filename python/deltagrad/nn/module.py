"""Module, the base of every layer: parameters, buffers and submodules registered by attribute
assignment, traversal, train / eval, dtype and device moves, forward and full backward hooks,
state_dict and load_state_dict (all-or-nothing, extra state), save / load through dg.save /
dg.load."""

from __future__ import annotations

import itertools
import os
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from .. import _engine
from .._engine import grad_array
from ..backends import canonical_device, to_device
from ..backends._args import is_device_array
from ..tensor import Tensor, _ShapeError, get_array_module, is_grad_enabled
from .parameter import Buffer, Parameter

__all__ = ["Module", "RemovableHandle", "save", "load"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: the named tuple (missing_keys, unexpected_keys), printed
    as torch prints it when both are empty."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _ParameterList(list):
    """What Module.parameters() returns: a list (len, indexing, reusable) that next() also
    walks, as torch's generator: ``next(model.parameters())`` is the first parameter."""

    def __next__(self) -> Tensor:
        i = self.__dict__.get("_next", 0)
        if i >= len(self):
            raise StopIteration
        self.__dict__["_next"] = i + 1
        return self[i]


class _StateDictKeyError(RuntimeError, KeyError):
    """load_state_dict found missing or unexpected keys (a RuntimeError, as torch raises; also
    a KeyError, as deltagrad raised before)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class _NoInitError(RuntimeError, AttributeError):
    """An attribute assigned before Module.__init__ ran: an AttributeError, as torch raises
    for a module or parameter; also a RuntimeError, as deltagrad raised before (for any
    value: deltagrad reports the missing super().__init__() at the first assignment)."""


# load_state_dict found a value of the wrong shape or dtype: torch's RuntimeError, also the
# ValueError deltagrad raised before (the one such class, tensor._ShapeError)
_StateDictValueError = _ShapeError


def _key_errors(missing: list[str], unexpected: list[str]) -> list[str]:
    """A strict load_state_dict's messages for missing and unexpected keys, as torch's."""
    errors = []
    if missing:
        errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
    if unexpected:
        errors.append(
            "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + "."
        )
    return errors


class RemovableHandle:
    """What the register_*_hook methods return: handle.remove() takes the hook off again (and
    its with_kwargs / always_call marks); as a context manager, the hook is removed on exit."""

    _next_id = itertools.count()

    def __init__(self, *hook_dicts: dict[int, Any]) -> None:
        self.id = next(RemovableHandle._next_id)
        self._dicts = hook_dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_NO_INPUT_GRAD_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs "
    "since no inputs require gradients. See "
    "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details."
)


def _hook_grad(owner: str, what: str, g: Any, t: Tensor) -> Any:
    """A gradient a backward hook returned for tensor t: its array (or None), checked."""
    if g is None:
        return None
    if isinstance(g, Tensor):
        g = g.data
    if isinstance(g, np.generic):
        g = np.asarray(g)
    if not (isinstance(g, np.ndarray) or is_device_array(g)):
        raise TypeError(
            f"{owner}: the hook returned a {type(g).__name__} as {what}; expected a Tensor or None"
        )
    if tuple(g.shape) != t.shape:
        raise RuntimeError(
            f"{owner}: the hook has changed the size of {what}: got shape {tuple(g.shape)}, "
            f"expected {t.shape}"
        )
    if is_device_array(g) != is_device_array(t.data):
        raise RuntimeError(f"{owner}: the hook returned {what} on another device than {t.device}")
    if g.dtype.kind != "f":
        raise TypeError(f"{owner}: the hook returned {what} of dtype {g.dtype}; expected floating")
    _engine.disown(g)  # the user's array (it may keep it): never taken by reference
    return g


class _BackwardHook:
    """One call's full backward hooks, as torch's BackwardHook: an identity graph node on the
    call's Tensor arguments and one on its Tensor outputs. When the outputs' node runs (every
    gradient with respect to the outputs is complete), the pre-hooks see grad_output and may
    replace it; when the inputs' node runs, the hooks see (grad_input, grad_output) and may
    replace grad_input. Non-Tensor arguments and outputs appear as None; an input whose
    gradient is zero because nothing reached it appears as zeros, as in torch."""

    def __init__(self, module: Module, hooks: list[Any], pre_hooks: list[Any]) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs: tuple[Any, ...] | None = None
        self.n_inputs = -1
        self.input_index: list[int] | None = None
        self.n_outputs = -1
        self.output_index: list[int] | None = None

    @staticmethod
    def _pack(index: list[int], values: list[Any], size: int) -> tuple[Any, ...]:
        res: list[Any] = [None] * size
        for i, v in zip(index, values):
            res[i] = v
        return tuple(res)

    @staticmethod
    def _identity(values: Any, on_grads: Callable[[list[Any]], list[Any]]) -> Any:
        """values (a tuple) with each Tensor replaced by an alias recorded as one graph node:
        on backward, on_grads(the aliases' gradients, None where none came) gives the
        gradients passed on to the Tensors. (values, None) when no Tensor requires grad."""
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        tensors = [values[i] for i in index]
        if not (is_grad_enabled() and any(t.requires_grad for t in tensors)):
            return values, None

        def run(grads: list[Any]) -> None:
            for t, g in zip(tensors, on_grads(grads)):
                if g is not None and t.requires_grad:
                    t._accumulate(g)

        node = Tensor._make(np.zeros(()), tuple(tensors), run, "BackwardHookFunction", saves=())
        new = list(values)
        for k, (i, t) in enumerate(zip(index, tensors)):
            if not t.requires_grad:
                continue  # as torch: non-differentiable, passed as it is

            def send(g: Any, k: int = k) -> None:
                if node._g is None:
                    node._g = [None] * len(tensors)
                node._g[k] = g if node._g[k] is None else node._g[k] + g

            out = Tensor._make(t.data, (node,), send, "BackwardHookFunctionBackward", saves=())
            out._version = t._version  # an alias: an in-place change through either is seen
            new[i] = out
        if type(values) is tuple:
            return tuple(new), index
        return type(values)(*new), index  # a namedtuple

    def _shown(self, g: Any) -> Tensor:
        """A gradient array as the Tensor (without a graph) a hook receives."""
        _engine.disown(g)  # user code may keep it
        return Tensor._make(g, (), None, "")

    def setup_input_hook(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        res, index = self._identity(args, self._input_grads)
        self.n_inputs = len(args)
        self.input_index = index
        self._inputs = [args[i] for i in index] if index is not None else []
        return res

    def setup_output_hook(self, result: Any) -> Any:
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        res, index = self._identity(outs, self._output_grads)
        self.n_outputs = len(outs)
        self.output_index = index
        self._outputs = [outs[i] for i in index] if index is not None else []
        return res[0] if single else res

    def _output_grads(self, grads: list[Any]) -> list[Any]:
        owner = f"{type(self.module).__name__} backward pre-hook"
        assert self.output_index is not None
        go = self._pack(
            self.output_index,
            [None if g is None else self._shown(g) for g in grads],
            self.n_outputs,
        )
        for hook in self.pre_hooks:
            res = hook(self.module, go)
            if res is None:
                continue
            if not isinstance(res, (tuple, list)) or len(res) != len(go):
                got = len(res) if isinstance(res, (tuple, list)) else type(res).__name__
                raise RuntimeError(
                    f"{owner}: Backward pre hook returned an invalid number of grad_output, "
                    f"got {got}, but expected {len(go)}"
                )
            go = tuple(res)
        self.grad_outputs = go
        if self.input_index is None:  # no input requires grad: the hooks run now, as torch
            warnings.warn(_NO_INPUT_GRAD_WARNING, UserWarning, stacklevel=2)
            gi = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, gi, go)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError(
                        f"{type(self.module).__name__} backward hook: Backward hook for "
                        "Modules where no input requires gradient should always return None "
                        "or None for all gradients."
                    )
            self.grad_outputs = None
        return [
            _hook_grad(owner, f"grad_output[{i}]", go[i], t)
            for i, t in zip(self.output_index, self._outputs)
        ]

    def _input_grads(self, grads: list[Any]) -> list[Any]:
        assert self.input_index is not None
        if self.grad_outputs is None:  # a gradient that did not pass through the outputs
            return grads
        owner = f"{type(self.module).__name__} backward hook"
        gi = self._pack(
            self.input_index,
            [
                self._shown(get_array_module(t.data).zeros_like(t.data) if g is None else g)
                for t, g in zip(self._inputs, grads)
            ],
            self.n_inputs,
        )
        for hook in self.hooks:
            res = hook(self.module, gi, self.grad_outputs)
            if res is None:
                continue
            if not isinstance(res, (tuple, list)) or len(res) != len(gi):
                got = len(res) if isinstance(res, (tuple, list)) else type(res).__name__
                raise RuntimeError(
                    f"{owner}: Backward hook returned an invalid number of grad_input, got "
                    f"{got}, but expected {len(gi)}"
                )
            gi = tuple(res)
        self.grad_outputs = None
        return [
            _hook_grad(owner, f"grad_input[{i}]", gi[i], t)
            for i, t in zip(self.input_index, self._inputs)
        ]


def _parse_to(owner: str, device: Any, dtype: Any) -> tuple[str | None, Any]:
    """Module.to's arguments: to(device), to(dtype), to(device, dtype), to(tensor)."""
    if isinstance(device, Tensor):
        device, dtype = device.device, device.dtype if dtype is None else dtype
    device = canonical_device(device)
    if device is not None and not (isinstance(device, str) and device in ("cpu", "cuda")):
        if dtype is not None:
            raise ValueError(f"{owner}: device: expected 'cpu' or 'cuda', got {device!r}")
        device, dtype = None, device
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(
                f"{owner}: dtype: expected a floating dtype (float32, float64) or a device "
                f"('cpu', 'cuda'), got {dtype!r}"
            ) from None
        if dtype.kind != "f":
            raise TypeError(f"{owner}: dtype: only floating dtypes are accepted, got {dtype}")
    return device, dtype


_MEMORY_FORMATS = ("preserve_format", "contiguous_format")


def _check_memory_format(owner: str, memory_format: Any) -> None:
    """Module.to's memory_format: None or a format deltagrad already keeps (every array is
    C-contiguous), given by name or as torch's object; channels_last and the rest refused."""
    if memory_format is None:
        return
    name = memory_format if isinstance(memory_format, str) else None
    if type(memory_format).__name__ == "memory_format":  # torch.preserve_format and co.
        name = str(memory_format).removeprefix("torch.")
    if name is None:
        raise TypeError(
            f"{owner}: memory_format: expected None or a format name, got "
            f"{type(memory_format).__name__}"
        )
    if name in ("channels_last", "channels_last_3d"):
        raise NotImplementedError(
            f"{owner}: memory_format: {name} is not supported (deltagrad keeps every array "
            "C-contiguous); use None, 'preserve_format' or 'contiguous_format'"
        )
    if name not in _MEMORY_FORMATS:
        raise ValueError(
            f"{owner}: memory_format: expected None, 'preserve_format' or 'contiguous_format', "
            f"got {memory_format!r}"
        )


class Module:
    """Base class of every layer, as torch.nn.Module.

    Assigning an attribute registers it: an nn.Parameter (or any leaf Tensor with
    requires_grad) becomes a parameter, a Module a submodule, and a Tensor assigned to a name
    registered with register_buffer updates that buffer. A registered name then takes a
    value of its kind or None (None keeps the empty slot); anything else is a TypeError, as
    in torch (a parameter's name takes no Module, but a Parameter replaces anything).
    Parameters, buffers and submodules are listed in assignment order; state_dict holds the
    parameters and the persistent buffers."""

    training: bool
    # torch's convention: the format version of the module's state, given to the state_dict
    # hooks as local_metadata["version"] (and recorded in state_dict()._metadata)
    _version: int = 1

    def __init__(self) -> None:
        d = self.__dict__
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = OrderedDict()
        d["_forward_hooks_always_called"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_state_dict_pre_hooks"] = OrderedDict()
        d["_state_dict_hooks"] = OrderedDict()
        d["_load_state_dict_pre_hooks"] = OrderedDict()
        d["_load_state_dict_post_hooks"] = OrderedDict()
        d["training"] = True

    # ---- registration ----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        owner = type(self).__name__
        if "_parameters" not in d:
            raise _NoInitError(
                f"{owner}: cannot assign {name!r} before Module.__init__() call: call "
                "super().__init__() before assigning attributes"
            )
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        is_param = isinstance(value, Parameter) or (
            isinstance(value, Tensor)
            and not isinstance(value, Buffer)
            and value.requires_grad
            and value.is_leaf
            and name not in buffers
        )
        # as torch: a registered name keeps its kind and takes only its kind or None (a
        # Parameter or a Module may replace anything); a wrong value is a TypeError rather
        # than silently unregistering the parameter, buffer or submodule
        if is_param:
            buffers.pop(name, None)
            modules.pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"{owner}: cannot assign {type(value).__name__} as parameter {name!r} "
                    "(a Parameter or None expected)"
                )
            params[name] = None  # `self.bias = None` keeps the slot, holds nothing
        elif isinstance(value, Module):
            buffers.pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"{owner}: cannot assign {type(value).__name__} as child module {name!r} "
                    "(a Module or None expected)"
                )
            modules[name] = None  # as for parameters: the slot stays
        elif isinstance(value, Buffer):  # torch 2.13's nn.Buffer: register_buffer's way
            modules.pop(name, None)
            buffers[name] = value
            if value.persistent:
                d["_non_persistent_buffers_set"].discard(name)
            else:
                d["_non_persistent_buffers_set"].add(name)
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                if not (isinstance(value, np.ndarray) or is_device_array(value)):
                    raise TypeError(
                        f"{owner}: cannot assign {type(value).__name__} as buffer {name!r} "
                        "(a Tensor, an array or None expected)"
                    )
                value = Tensor(value)  # as register_buffer
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        self._non_persistent_buffers_set.discard(name)
        object.__delattr__(self, name)

    def _check_name(self, method: str, name: Any, kind: str) -> None:
        owner = f"{type(self).__name__}.{method}"
        if not isinstance(name, str):
            raise TypeError(f"{owner}: name: expected a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{owner}: name: expected a non-empty name without '.', got {name!r}")
        if hasattr(self, name) and name not in self.__dict__[kind]:
            raise KeyError(f"{owner}: name: attribute {name!r} already exists")

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """A state Tensor that is not a parameter (running statistics, counters): moved and
        cast with the module, in state_dict when persistent. tensor may be None."""
        self._check_name("register_buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray) or is_device_array(tensor):
                tensor = Tensor(tensor)
            else:
                raise TypeError(
                    f"{type(self).__name__}.register_buffer: tensor: expected a Tensor, an "
                    f"array or None, got {type(tensor).__name__}"
                )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """Register param (a Parameter, a leaf Tensor that requires grad, or None: an empty
        slot, left out of parameters() and state_dict) under name."""
        self._check_name("register_parameter", name, "_parameters")
        if param is not None and not (
            isinstance(param, Parameter)
            or (isinstance(param, Tensor) and param.requires_grad and param.is_leaf)
        ):
            got = "a Tensor that does not require grad" if isinstance(param, Tensor) else None
            raise TypeError(
                f"{type(self).__name__}.register_parameter: param: expected a Parameter or "
                f"None, got {got or type(param).__name__} (wrap it: nn.Parameter(value))"
            )
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register module (or None: an empty slot) as the child named name."""
        self._add_module("add_module", name, module)

    def register_module(self, name: str, module: Module | None) -> None:
        """add_module under torch's other name."""
        self._add_module("register_module", name, module)

    def _add_module(self, method: str, name: str, module: Module | None) -> None:
        self._check_name(method, name, "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.{method}: module: expected a Module or None, got "
                f"{type(module).__name__}"
            )
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def get_submodule(self, target: str) -> Module:
        """The submodule named target ("0.conv"; "" is the module itself). A missing name is
        torch's AttributeError ("Linear has no attribute `x`")."""
        owner = f"{type(self).__name__}.get_submodule"
        if not isinstance(target, str):
            raise TypeError(f"{owner}: target: expected a str, got {type(target).__name__}")
        mod: Any = self
        for part in target.split(".") if target else []:
            if not hasattr(mod, part):
                raise AttributeError(
                    f"{owner}: target {target!r}: {type(mod).__name__} has no attribute `{part}`"
                )
            mod = getattr(mod, part)
            if not isinstance(mod, Module):
                raise AttributeError(f"{owner}: target {target!r}: `{part}` is not an nn.Module")
        return mod

    def _get_member(self, method: str, kind: str, target: str) -> Tensor:
        owner = f"{type(self).__name__}.{method}"
        if not isinstance(target, str):
            raise TypeError(f"{owner}: target: expected a str, got {type(target).__name__}")
        path, _, name = target.rpartition(".")
        try:
            mod = self.get_submodule(path)
        except AttributeError as e:
            raise AttributeError(str(e).replace(".get_submodule:", f".{method}:", 1)) from None
        if not hasattr(mod, name):
            raise AttributeError(
                f"{owner}: target {target!r}: {type(mod).__name__} has no attribute `{name}`"
            )
        t = mod.__dict__[kind].get(name)
        if t is None:
            what = "an nn.Parameter" if kind == "_parameters" else "a buffer"
            raise AttributeError(f"{owner}: target {target!r}: `{name}` is not {what}")
        return t

    def get_parameter(self, target: str) -> Tensor:
        """The parameter named target ("0.weight"), as torch."""
        return self._get_member("get_parameter", "_parameters", target)

    def get_buffer(self, target: str) -> Tensor:
        """The buffer named target ("1.running_mean"), as torch."""
        return self._get_member("get_buffer", "_buffers", target)

    # ---- calling ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (
            d["_forward_pre_hooks"]
            or d["_forward_hooks"]
            or d.get("_backward_hooks")
            or d.get("_backward_pre_hooks")
        ):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """torch's order: forward pre-hooks, the backward hooks' input node, forward, forward
        hooks, the backward hooks' output node. If anything raises, the forward hooks
        registered with always_call=True that have not run yet run (on output None) before
        the exception propagates."""
        d = self.__dict__
        always = d.get("_forward_hooks_always_called", {})
        called: set[int] = set()
        result = None
        try:
            for hid, hook in list(d["_forward_pre_hooks"].items()):
                if hid in d["_forward_pre_hooks_with_kwargs"]:
                    res = hook(self, args, kwargs)
                    if res is not None:
                        if not (isinstance(res, tuple) and len(res) == 2):
                            raise RuntimeError(
                                f"{type(self).__name__}: forward pre-hook must return None or "
                                f"a tuple of (new_args, new_kwargs), but got {res!r} (a hook "
                                "registered with with_kwargs=True)"
                            )
                        args, kwargs = res
                else:
                    res = hook(self, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)
            bw = None
            if d.get("_backward_hooks") or d.get("_backward_pre_hooks"):
                bw = _BackwardHook(
                    self,
                    list(d.get("_backward_hooks", {}).values()),
                    list(d.get("_backward_pre_hooks", {}).values()),
                )
                args = bw.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hid, hook in list(d["_forward_hooks"].items()):
                if hid in always:
                    called.add(hid)
                if hid in d["_forward_hooks_with_kwargs"]:
                    res = hook(self, args, kwargs, result)
                else:
                    res = hook(self, args, result)
                if res is not None:
                    result = res
            if bw is not None:
                if not isinstance(result, (Tensor, tuple)):
                    warnings.warn(
                        "For backward hooks to be called, module output should be a Tensor or a "
                        f"tuple of Tensors but received {type(result)}",
                        UserWarning,
                        stacklevel=3,
                    )
                result = bw.setup_output_hook(result)
            return result
        except Exception:
            for hid, hook in list(d["_forward_hooks"].items()):
                if hid not in always or hid in called:
                    continue
                try:
                    if hid in d["_forward_hooks_with_kwargs"]:
                        res = hook(self, args, kwargs, result)
                    else:
                        res = hook(self, args, result)
                    if res is not None:
                        result = res
                except Exception as e:  # noqa: BLE001 - torch warns and re-raises the first
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception that "
                        f"was silenced as another error was raised in forward: {e}",
                        UserWarning,
                        stacklevel=3,
                    )
            raise

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """hook(module, args) runs before forward; returning a value (a tuple, or one value
        that is wrapped in one) replaces the positional arguments. with_kwargs=True:
        hook(module, args, kwargs) returning None or (args, kwargs). prepend=True: runs
        before the hooks registered so far."""
        return self._add_hook(
            "register_forward_pre_hook",
            "_forward_pre_hooks",
            hook,
            prepend,
            {"_forward_pre_hooks_with_kwargs": with_kwargs},
        )

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """hook(module, args, output) runs after forward; returning a value replaces the
        output. with_kwargs=True: hook(module, args, kwargs, output). always_call=True: also
        runs (on output None) when forward or an earlier hook raises. prepend=True: runs
        before the hooks registered so far."""
        return self._add_hook(
            "register_forward_hook",
            "_forward_hooks",
            hook,
            prepend,
            {
                "_forward_hooks_with_kwargs": with_kwargs,
                "_forward_hooks_always_called": always_call,
            },
        )

    def register_full_backward_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(module, grad_output) runs once the gradients with respect to the module's
        outputs are computed (a tuple: one entry per output, None for a non-Tensor output or
        one no gradient reached); returning a tuple of the same length replaces grad_output.
        Registered on the calls made after it."""
        return self._add_hook(
            "register_full_backward_pre_hook", "_backward_pre_hooks", hook, prepend, {}
        )

    def register_full_backward_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(module, grad_input, grad_output) runs once the gradients with respect to the
        module's positional arguments are computed (grad_input: one entry per argument, None
        for a non-Tensor; grad_output as for register_full_backward_pre_hook); returning a
        tuple of the same length replaces grad_input. Keyword arguments get no entry. When no
        argument requires grad, the hook runs with grad_input all None as soon as
        grad_output is known (torch's UserWarning says so)."""
        return self._add_hook("register_full_backward_hook", "_backward_hooks", hook, prepend, {})

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """torch's deprecated non-full backward hook, which sees the gradients of the last op
        of forward only: not supported, use register_full_backward_hook."""
        raise NotImplementedError(
            f"{type(self).__name__}.register_backward_hook: the deprecated non-full backward "
            "hook is not supported; use register_full_backward_hook (the same signature, with "
            "the gradients with respect to the module's inputs and outputs)"
        )

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(module, prefix, keep_vars) runs when state_dict() reaches this module (on
        every submodule, with its key prefix such as "0."), before its entries are added."""
        return self._add_hook("register_state_dict_pre_hook", "_state_dict_pre_hooks", hook)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata) runs once state_dict() has added
        this module's and its submodules' entries; it may edit state_dict in place and must
        return None (anything else is torch's RuntimeError). local_metadata is
        {"version": type(module)._version}."""
        return self._add_hook("register_state_dict_post_hook", "_state_dict_hooks", hook)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) runs before load_state_dict checks anything, on each
        submodule in turn from the root down (as torch). The root's hook gets the (copied)
        state dict, a submodule's the dict of the keys under its prefix; renaming, adding or
        removing keys there changes what is loaded. strict is always True (torch collects the
        keys either way); keys appended to missing_keys / unexpected_keys are reported as
        such, and any message appended to error_msgs makes load_state_dict raise (nothing
        loaded). local_metadata: the state dict's _metadata entry for the module (what
        state_dict() recorded: {"version": ...}), or {}."""
        return self._add_hook(
            "register_load_state_dict_pre_hook", "_load_state_dict_pre_hooks", hook
        )

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(module, incompatible_keys) runs after load_state_dict loaded the module's
        subtree (submodules first, as torch); incompatible_keys is the named tuple
        (missing_keys, unexpected_keys), whose lists the hook may edit in place: what is left
        decides whether a strict load fails (then every parameter and buffer is restored) and
        is what load_state_dict returns. Returning anything but None is torch's
        AssertionError."""
        return self._add_hook(
            "register_load_state_dict_post_hook", "_load_state_dict_post_hooks", hook
        )

    def _add_hook(
        self,
        method: str,
        attr: str,
        hook: Any,
        prepend: bool = False,
        flags: dict[str, bool] | None = None,
    ) -> RemovableHandle:
        flags = flags or {}
        if not callable(hook):
            raise TypeError(
                f"{type(self).__name__}.{method}: hook: expected a callable, got "
                f"{type(hook).__name__}"
            )
        d = self.__dict__
        hooks = d.setdefault(attr, OrderedDict())
        extra = [d.setdefault(name, OrderedDict()) for name in flags]
        handle = RemovableHandle(hooks, *extra)
        hooks[handle.id] = hook
        for table, on in zip(extra, flags.values()):
            if on:
                table[handle.id] = True
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    # ---- traversal -------------------------------------------------------------------------
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(
                    memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
                )

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_name, mod in mods:
            for name, t in mod.__dict__[kind].items():
                if t is None:
                    continue
                if remove_duplicate:
                    if id(t) in seen:  # a shared (tied) tensor is listed once
                        continue
                    seen.add(id(t))
                yield (f"{mod_name}.{name}" if mod_name else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> list[Tensor]:
        """The parameters, each once: a list (torch returns a generator) that next() walks
        too, so ``next(model.parameters())`` works as in torch."""
        return _ParameterList(p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """fn(m) for every submodule (children first, as torch) and then self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- gradients and modes ---------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (set_to_none=True, torch's default) or fill the
        existing gradient arrays with zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                grad_array(p).fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(
                f"{type(self).__name__}.train: mode: training mode is expected to be boolean, "
                f"got {mode!r}"
            )
        mode = bool(mode)
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ---- devices and dtypes ----------------------------------------------------------------
    def _apply_arrays(self, fn: Callable[[Any], Any]) -> Module:
        """Replace every parameter's and buffer's array by fn(array) (and each gradient too),
        keeping the Tensor objects (an optimizer built before still holds them). All new
        arrays are made first, then assigned: an error changes nothing. Each goes through
        `t.data = new` and bumps the version counter, so a graph recorded before refuses
        backward."""
        tensors: dict[int, Tensor] = {}
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is not None:
                    tensors[id(t)] = t
        new = [(t, fn(t.data), None if t.grad is None else fn(t.grad)) for t in tensors.values()]
        for t, data, grad in new:
            if data is not t.data:
                t.data = data
                t._version[0] += 1  # a graph that read the old array now refuses backward
            if grad is not None and grad is not t.grad:
                t.grad = grad
        return self

    def to(
        self,
        device: Any = None,
        dtype: Any = None,
        non_blocking: bool = False,
        *,
        memory_format: Any = None,
    ) -> Module:
        """Move (device "cpu" / "cuda") and/or cast (a floating dtype) the parameters, buffers
        and gradients in place; integer buffers keep their dtype, as in torch. Also
        to(dtype, non_blocking) and to(tensor, non_blocking). Returns self.

        non_blocking (a bool, as torch) changes nothing: deltagrad's copies are synchronous.
        memory_format: None, "preserve_format" or "contiguous_format" (torch's objects of
        those names too), which change nothing as every array is kept C-contiguous;
        channels_last has no deltagrad equivalent and is refused."""
        owner = f"{type(self).__name__}.to"
        if isinstance(dtype, (bool, np.bool_)) and not (
            isinstance(device, str) and canonical_device(device) in ("cpu", "cuda")
        ):  # to(dtype, non_blocking) or to(tensor, non_blocking), as torch
            if non_blocking is not False:
                raise TypeError(f"{owner}: got multiple values for argument 'non_blocking'")
            dtype, non_blocking = None, dtype
        if not isinstance(non_blocking, (bool, np.bool_)):
            raise TypeError(
                f"{owner}: non_blocking: expected a bool, got {type(non_blocking).__name__}"
            )
        _check_memory_format(owner, memory_format)
        device, dtype = _parse_to(owner, device, dtype)

        def fn(a: Any) -> Any:
            if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
                a = a.astype(dtype)
            if device is not None and device != ("cuda" if is_device_array(a) else "cpu"):
                a = to_device(a, device)
            return a

        return self._apply_arrays(fn)

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    # ---- state -----------------------------------------------------------------------------
    def get_extra_state(self) -> Any:
        """Override (with set_extra_state) to keep any picklable object in state_dict under
        the key "<prefix>_extra_state", as torch."""
        raise RuntimeError(
            f"{type(self).__name__}.get_extra_state: reached a code path that should never be "
            "called: override get_extra_state (and set_extra_state) to keep extra state"
        )

    def set_extra_state(self, state: Any) -> None:
        """Override (with get_extra_state) to restore what get_extra_state returned; called
        by load_state_dict."""
        raise RuntimeError(
            f"{type(self).__name__}.set_extra_state: reached a code path that should never be "
            "called: override set_extra_state (and get_extra_state) to load extra state"
        )

    def _state_items(
        self, prefix: str = "", extra: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Any]]:
        """(name, tensor) of state_dict, as torch orders it: each module's parameters, then its
        persistent buffers, then its extra state, then its children; a tied tensor appears
        under every name. extra "get": a module that overrides get_extra_state adds
        ("<prefix>_extra_state", its value); "set": one that overrides set_extra_state adds
        that key with an _ExtraState slot (what load_state_dict expects); "": none.
        recurse=False: this module's entries only."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                yield prefix + name, b
        if extra == "get" and type(self).get_extra_state is not Module.get_extra_state:
            yield prefix + "_extra_state", self.get_extra_state()
        elif extra == "set" and type(self).set_extra_state is not Module.set_extra_state:
            yield prefix + "_extra_state", _ExtraState(self)
        if not recurse:
            return
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_items(f"{prefix}{name}.", extra)

    def state_dict(
        self,
        *args: Any,
        destination: Any = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> Any:
        """name -> a numpy copy of each parameter and persistent buffer (keep_vars=True: the
        Tensors themselves), and the extra state of the modules that override
        get_extra_state (as it is). destination: a dict to fill and return (default a new
        OrderedDict); prefix: put before every key. As torch, the positional form
        state_dict(destination, prefix, keep_vars) works with a FutureWarning."""
        owner = f"{type(self).__name__}.state_dict"
        if args:
            if len(args) > 3:
                raise TypeError(f"{owner}: takes at most 3 positional arguments, got {len(args)}")
            warnings.warn(
                "Positional args are being deprecated, use kwargs instead. Refer to "
                "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.state_dict for details.",
                FutureWarning,
                stacklevel=2,
            )
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if not isinstance(prefix, str):
            raise TypeError(f"{owner}: prefix: expected a str, got {type(prefix).__name__}")
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()  # type: ignore[attr-defined]
        elif not hasattr(destination, "__setitem__"):
            raise TypeError(
                f"{owner}: destination: expected a dict, got {type(destination).__name__}"
            )
        # as torch: each module records its metadata, runs its pre-hooks, adds its own
        # entries, lets each child do the same (through the child's state_dict, so an
        # override is honoured), then runs its post-hooks
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        d = self.__dict__
        for hook in list(d.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        for n, t in self._state_items(prefix, "get", recurse=False):
            if keep_vars or not isinstance(t, Tensor):
                destination[n] = t
            else:
                destination[n] = np.array(t.numpy(), copy=True)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars
                )
        for hook in list(d.get("_state_dict_hooks", {}).values()):
            if hook(self, destination, prefix, local_metadata) is not None:
                raise RuntimeError(
                    f"{owner}: state_dict post-hook must return None (edit state_dict in place)"
                )
        return destination

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Copy the state's arrays into the parameters and buffers of the same names.

        Everything is checked first: key names (strict=True: missing and unexpected keys are
        errors, listed as torch lists them), every shape, every dtype (a floating parameter or
        buffer takes a real-number array, an integer buffer an integer one). Nothing changes
        unless everything fits. Values are cast to the parameter's dtype and device and
        assigned as a new array through `p.data = new`, bumping the version counter (a graph
        recorded before then refuses backward). assign=True (torch's): each parameter and
        buffer takes the state's array itself, its dtype included (a copy only where it is not
        C-contiguous or lies on the other device), instead of a copy cast to its own dtype.
        A module that overrides set_extra_state gets its "<prefix>_extra_state" value (missing:
        a missing key, as torch); a tensor listed under two names (tied) takes the value of
        the last. Returns the named tuple (missing_keys, unexpected_keys)."""
        owner = type(self).__name__
        if not isinstance(assign, (bool, np.bool_)):
            raise TypeError(f"{owner}.load_state_dict: assign: expected a bool")
        mods = list(self.named_modules(remove_duplicate=False))
        pre = any(m.__dict__.get("_load_state_dict_pre_hooks") for _, m in mods)
        post = [
            (m, list(hooks.values()))
            for m in self._post_order()  # as torch: each module's after its subtree's
            if (hooks := m.__dict__.get("_load_state_dict_post_hooks"))
        ]
        hook_lists = None
        if pre:
            state_dict, hook_lists = self._run_load_pre_hooks(state_dict, mods, bool(assign))
        plan, missing, unexpected = self._check_state_dict(
            state_dict, strict, hook_lists=hook_lists, defer_keys=bool(post)
        )
        # every check passed: the extra states first (set_extra_state may raise: then no
        # tensor changed), then build every new array and assign them all (nothing can fail
        # between the first assignment and the last)
        for t, value in plan:
            if isinstance(t, _ExtraState):
                t.module.set_extra_state(value)
        new = []
        for t, value in plan:
            if isinstance(t, _ExtraState):
                continue
            xp = get_array_module(t.data)
            if is_device_array(value) != is_device_array(t.data):
                value = to_device(value, t.device)
            if assign:
                new.append((t, xp.ascontiguousarray(value)))
            else:  # C order: a ported kernel given as kernel.T is a Fortran array
                new.append((t, xp.array(value, dtype=t.dtype, copy=True, order="C")))
        old = [(t, t.data, t.grad) for t, _ in new] if post and strict else []
        for t, arr in new:
            t.data = arr
            t._version[0] += 1  # a graph that read the old array now refuses backward
            t.grad = None
        if not post:
            return _IncompatibleKeys(missing, unexpected)
        keys = _IncompatibleKeys(missing, unexpected)  # the hooks edit these lists in place
        for m, hooks in post:
            for hook in hooks:
                if hook(m, keys) is not None:
                    raise AssertionError(
                        f"{type(m).__name__}: Hooks registered with "
                        "``register_load_state_dict_post_hook`` are not expected to return new "
                        "values, if incompatible_keys need to be modified, it should be done "
                        "inplace."
                    )
        errors = _key_errors(missing, unexpected) if strict else []
        if errors:  # what the post-hooks left: undo the load, then fail as torch
            for t, data, grad in old:
                t.data = data
                t._version[0] += 1
                t.grad = grad
            raise _StateDictKeyError(
                f"Error(s) in loading state_dict for {owner} (nothing was loaded: the "
                "parameters and buffers were restored after the load post-hooks ran):\n\t"
                + "\n\t".join(errors)
            )
        return keys

    def _post_order(self) -> Iterator[Module]:
        """Every submodule after its own submodules (a shared one at each place), then self."""
        for m in self._modules.values():
            if m is not None:
                yield from m._post_order()
        yield self

    def _run_load_pre_hooks(
        self, state_dict: Any, mods: list[tuple[str, Module]], assign: bool
    ) -> tuple[Any, tuple[list[str], list[str], list[str]]]:
        """The load pre-hooks of every module, from the root down, as torch calls them: the
        root's on a copy of state_dict (its _metadata kept), a submodule's on a dict of the
        keys under its prefix, whose edits then replace those keys in the copy. Returns the
        edited copy and the (missing_keys, unexpected_keys, error_msgs) the hooks filled."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict: state_dict: expected a dict (name -> "
                f"array), got {type(state_dict).__name__}"
            )
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]
        lists: tuple[list[str], list[str], list[str]] = ([], [], [])
        for name, m in mods:
            hooks = list(m.__dict__.get("_load_state_dict_pre_hooks", {}).values())
            if not hooks:
                continue
            prefix = f"{name}." if name else ""
            local_metadata = {} if metadata is None else metadata.get(name, {})
            if assign:  # as torch (which also writes it into the state dict's metadata)
                local_metadata["assign_to_params_buffers"] = assign
            local = (
                state_dict
                if not prefix
                else {k: v for k, v in state_dict.items() if k.startswith(prefix)}
            )
            for hook in hooks:
                hook(m, local, prefix, local_metadata, True, *lists)
            if prefix:  # the hooks' view of the keys under prefix replaces them
                for k in [k for k in state_dict if k.startswith(prefix)]:
                    del state_dict[k]
                state_dict.update((k, v) for k, v in local.items() if k.startswith(prefix))
        return state_dict, lists

    def _check_state_dict(
        self,
        state_dict: Any,
        strict: bool,
        header: bool = False,
        hook_lists: tuple[list[str], list[str], list[str]] | None = None,
        defer_keys: bool = False,
    ) -> tuple[list[tuple[Any, Any]], list[str], list[str]]:
        """load_state_dict's checks, changing nothing: (the (target, array) pairs to assign,
        missing keys, unexpected keys), or the error load_state_dict raises. The values need
        only .shape and .dtype, so Module.load runs it on a file's header before reading.
        hook_lists: the (missing_keys, unexpected_keys, error_msgs) the load pre-hooks filled
        (their keys come first; an error message always fails). defer_keys: strict's missing
        and unexpected keys are left to the caller (load post-hooks may clear them)."""
        owner = type(self).__name__
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(
                f"{owner}.load_state_dict: state_dict: expected a dict (name -> array), got "
                f"{type(state_dict).__name__}"
            )
        targets = OrderedDict(self._state_items(extra="set"))
        if header:  # a file's tensors only: extra states (any object) are checked after reading
            extra = [k for k, t in targets.items() if isinstance(t, _ExtraState)]
            for k in extra:
                del targets[k]
            state_dict = {
                k: v
                for k, v in state_dict.items()
                if not any(k == e or k.startswith(e + ".") for e in extra)
            }
        # as torch, a batch norm's num_batches_tracked may be missing (state_dicts from before
        # torch 0.4.1, or converted without their metadata): the module keeps its own count
        missing = [
            k
            for k in targets
            if k not in state_dict and k.rpartition(".")[2] != "num_batches_tracked"
        ]
        unexpected = [k for k in state_dict if k not in targets]
        hook_errors: list[str] = []
        if hook_lists is not None:
            missing = hook_lists[0] + missing
            unexpected = hook_lists[1] + unexpected
            hook_errors = [str(e) for e in hook_lists[2]]
        errors = _key_errors(missing, unexpected) if strict and not defer_keys else []
        value_errors: list[str] = []
        plan: list[tuple[Any, Any]] = []
        for name, t in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if isinstance(t, _ExtraState):  # any object: set_extra_state checks it
                plan.append((t, value))
                continue
            if isinstance(value, Tensor):
                value = value.data
            elif not (isinstance(value, np.ndarray) or is_device_array(value)):
                try:
                    value = np.asarray(value)
                except Exception:  # noqa: BLE001 - reported below as a wrong type
                    value = np.asarray(None, dtype=object)
            shape = tuple(value.shape)
            if shape == (1,) and t.shape == ():
                # as torch: a one-element vector loads into a 0-d parameter or buffer (some
                # exporters write num_batches_tracked as shape (1,))
                value, shape = value.reshape(()), ()
            if shape != t.shape:
                value_errors.append(
                    f"size mismatch for {name}: copying a param with shape {shape} from "
                    f"checkpoint, the shape in current model is {t.shape}."
                )
                continue
            kind, want = value.dtype.kind, t.dtype.kind
            ok = (
                kind in "biuf" if want == "f" else (kind in "biu" if want in "iu" else kind == want)
            )
            if not ok:
                value_errors.append(
                    f"dtype mismatch for {name}: copying a param of dtype {value.dtype} from "
                    f"checkpoint, the dtype in current model is {t.dtype}."
                )
                continue
            plan.append((t, value))
        if errors or hook_errors or value_errors:
            msg = f"Error(s) in loading state_dict for {owner} (nothing was loaded):\n\t" + (
                "\n\t".join(errors + hook_errors + value_errors)
            )
            if value_errors:
                raise _StateDictValueError(msg)
            raise _StateDictKeyError(msg) if errors else RuntimeError(msg)
        return plan, missing, unexpected

    def save(self, path: str | os.PathLike[str] | Any) -> None:
        """Write state_dict() with dg.save (safetensors): to exactly `path` (atomic), or into
        a binary file object at its position."""
        from ..serialization import save as _save

        _save(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str] | Any, strict: bool = True) -> Module:
        """Read a file (a path or a binary file object) written by save() (or an old .npz)
        with dg.load into the module,
        through load_state_dict (checked before anything changes); returns the module.
        Names, shapes and dtypes are checked against the file's header before any tensor
        is read, so a file that does not fit allocates nothing (not when the module has load
        state_dict hooks, which may rename keys: then the checks follow the reading)."""
        from ..serialization import load as _load

        hooked = any(
            m.__dict__.get("_load_state_dict_pre_hooks")
            or m.__dict__.get("_load_state_dict_post_hooks")
            for m in self.modules()
        )
        if hooked:  # the hooks may rename keys or clear errors: check after reading
            state = _load(path)
        else:
            state = _load(
                path, check=lambda head: self._check_state_dict(head, strict, header=True)
            )
        self.load_state_dict(_flatten(state), strict=strict)
        return self

    # ---- printing --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """torch's layout: Name(extra) for a leaf with a one-line extra_repr, else one line
        per extra_repr line and per child, indented by two spaces."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()
        ]
        lines = extra_lines + child_lines
        if not lines:
            return f"{type(self).__name__}()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class _ExtraState:
    """load_state_dict's slot for the "_extra_state" key of a module that overrides
    set_extra_state."""

    __slots__ = ("module",)

    def __init__(self, module: Module) -> None:
        self.module = module


def _flatten(state: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level with "." keys (dg.load may nest what dg.save flattened)."""
    if not isinstance(state, dict):
        return state
    out: dict[str, Any] = {}
    for k, v in state.items():
        if isinstance(v, dict) and k.rpartition(".")[2] != "_extra_state":  # extra: as it is
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def save(module: Module, path: str | os.PathLike[str]) -> None:
    """module.save(path): the state_dict through dg.save."""
    module.save(path)


def load(module: Module, path: str | os.PathLike[str], strict: bool = True) -> Module:
    """module.load(path): a file written by save() into the module; returns the module."""
    return module.load(path, strict=strict)
