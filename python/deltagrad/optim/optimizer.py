"""deltagrad.optim.Optimizer: torch.optim.Optimizer's param_groups, defaults, per-parameter
state, zero_grad, state_dict / load_state_dict and hooks (step, state_dict, load_state_dict;
register_optimizer_step_pre_hook / _post_hook for every optimizer), for the optimizers of this
package."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._engine import grad_array
from ..nn.module import RemovableHandle
from ..tensor import Tensor, enable_grad, get_array_module

__all__ = [
    "Optimizer",
    "required",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
]

# the step hooks of every optimizer (torch.optim.optimizer's globals): hook(optimizer, args,
# kwargs); the pre-hooks run before the optimizer's own, the post-hooks after them
_global_optimizer_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()


def _callable_hook(where: str, hook: Any) -> None:
    if not callable(hook):
        raise TypeError(f"{where}: hook: expected a callable, got {type(hook).__name__}")


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """A step pre-hook of every optimizer, as torch.optim.optimizer's: hook(optimizer, args,
    kwargs) -> None or (new_args, new_kwargs), run before each optimizer's own pre-hooks."""
    _callable_hook("register_optimizer_step_pre_hook", hook)
    handle = RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    Optimizer._step_hooked = True
    return handle


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """A step post-hook of every optimizer, as torch.optim.optimizer's: hook(optimizer, args,
    kwargs) -> None, run after each optimizer's own post-hooks."""
    _callable_hook("register_optimizer_step_post_hook", hook)
    handle = RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    Optimizer._step_hooked = True
    return handle


def _with_step_hooks(step: Callable[..., Any]) -> Callable[..., Any]:
    """step wrapped to run the step hooks (torch's profile_hook_step). Without any hook ever
    registered (on this optimizer or globally), the cost is one attribute read and a call:
    _step_hooked is a class attribute, False until then and again once they are removed."""

    @functools.wraps(step)
    def step_with_hooks(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if not self._step_hooked:
            return step(self, *args, **kwargs)
        return self._hooked_step(step, args, kwargs)

    step_with_hooks._dg_step_hooks = True  # type: ignore[attr-defined]
    return step_with_hooks


class _RequiredParameter:
    """The default of a hyper-parameter every param group must give (SGD's lr in old torch)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _nonneg(where: str, name: str, value: Any) -> float:
    """value as a float >= 0 (finite), or ValueError naming where and name."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name}: expected a real number, got {value!r}") from None
    if not (v >= 0.0 and math.isfinite(v)):
        raise ValueError(f"{where}: {name}: expected a finite number >= 0, got {v}")
    return v


def _flag(where: str, name: str, value: Any) -> bool:
    """A boolean hyper-parameter (nesterov, amsgrad, maximize...)."""
    if not isinstance(value, (bool, int, np.bool_)):
        raise TypeError(f"{where}: {name}: expected a bool, got {value!r}")
    return bool(value)


def _foreach(where: str, name: str, value: Any) -> bool | None:
    """torch's foreach or fused (None, True or False): kept in the group, otherwise ignored
    (deltagrad has one implementation per optimizer; torch's foreach and fused ones compute
    the same update)."""
    return None if value is None else _flag(where, name, value)


def _differentiable(where: str, name: str, value: Any) -> bool:
    """Only False: deltagrad's optimizers update the parameters in place outside autograd, so
    a differentiable step (torch records it in the graph) would silently not be one."""
    v = _flag(where, name, value)
    if v:
        raise ValueError(
            f"{where}: {name}: differentiable=True is not supported (deltagrad's optimizer "
            "steps are not recorded by autograd)"
        )
    return v


def _check_fused(where: str, fused: Any, foreach: Any) -> None:
    """torch's constructor check of fused=True (its differentiable=True conflict is a
    ValueError of _differentiable here, raised first)."""
    if fused and foreach:
        raise RuntimeError(f"{where}: `fused` and `foreach` cannot be `True` together.")


# the flags torch's optimizers take (which ones: each constructor's signature): accepted,
# checked, kept in the param groups and the state_dict, and changing nothing of the update
_FLAG_CHECKS: dict[str, Callable[[str, str, Any], Any]] = {
    "foreach": _foreach,
    "capturable": _flag,
    "differentiable": _differentiable,
    "fused": _foreach,
}


def _unit(where: str, name: str, value: Any) -> float:
    """A number in [0, 1) (a beta, a decay rate)."""
    v = _nonneg(where, name, value)
    if not v < 1.0:
        raise ValueError(f"{where}: {name}: expected a number in [0, 1), got {v}")
    return v


def _plain(v: Any) -> Any:
    """A state_dict value: tuples become lists (arrays, numbers, strings, lists, dicts only)."""
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if hasattr(v, "copy") and hasattr(v, "shape"):  # an array: a copy, never the live buffer
        return v.copy()
    return v


def _grad_of(p: Tensor) -> Any:
    """p's gradient as a contiguous array of p's dtype (ValueError on a wrong shape)."""
    g = grad_array(p)
    if g.shape != p.data.shape:
        raise ValueError(
            f"grad: the gradient of a parameter of shape {p.data.shape} has shape {g.shape}"
        )
    if g.dtype != p.data.dtype or not g.flags.c_contiguous:
        g = get_array_module(g).ascontiguousarray(g, dtype=p.data.dtype)
    return g


class Optimizer:
    """Base of the optimizers, as torch.optim.Optimizer.

    params: an iterable of Tensors, of (name, Tensor) pairs (named_parameters(): the names go
    to group["param_names"]), or of dicts (param groups: "params" plus any per-group
    hyper-parameter; the others come from `defaults`). `param_groups` is the list of those
    dicts (schedulers and users change e.g. group["lr"] between steps), `state` maps each
    parameter to its dict of buffers. Parameters whose grad is None are skipped by step(); one
    with a grad is updated whatever its requires_grad (a layer frozen after a backward, its
    .grad kept), as torch does."""

    # the per-parameter state keys a subclass writes (load_state_dict refuses any other)
    _state_keys: frozenset[str] = frozenset()

    # hyper-parameters a loaded state_dict may lack (one of an older deltagrad or torch): they
    # get these values, as torch's __setstate__ gives them (only the keys of `defaults` count)
    _load_defaults: dict[str, Any] = {
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "fused": None,
    }

    # True once a step hook of this optimizer (the instance's) or a global one (the class's) is
    # registered: step() then takes the path that runs the hooks, which resets the flags once
    # the hooks are removed
    _step_hooked: bool = False
    # inside a hooked step (a subclass's step calling super().step() runs the hooks once)
    _in_hooked_step: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every step() a subclass defines runs the step hooks (torch wraps step likewise)."""
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if callable(step) and not getattr(step, "_dg_step_hooks", False):
            cls.step = _with_step_hooks(step)  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = (
            OrderedDict()
        )
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = (
            OrderedDict()
        )
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params: expected an iterable of Tensors or of dicts "
                "(e.g. model.parameters()), got a single Tensor"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: params: expected an ordered iterable of Tensors or dicts, got a set "
                "(its order changes between runs)"
            )
        given = {k: v for k, v in defaults.items() if v is not required}
        self._check_group(given, name, partial=True)
        if len(given) == len(defaults):
            self._check_combination(given, name)
        self.defaults = {**defaults, **given}
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: params: the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for i, group in enumerate(groups):
            self._add_group(group, name if len(groups) == 1 else f"{name}: param_groups[{i}]")

    # ---- the hyper-parameters of a group ---------------------------------------------------

    # hyper-parameter -> check (where, name, value) -> normalized value; subclasses fill it
    _checks: dict[str, Callable[[str, str, Any], Any]] = {}

    def _check_group(self, group: dict[str, Any], where: str, partial: bool = False) -> None:
        """Check and normalize (in place) the hyper-parameters of a group present in
        _checks; then, unless partial (the defaults alone), _check_combination."""
        for k, check in self._checks.items():
            if k in group:
                group[k] = check(where, k, group[k])
        if not partial:
            self._check_combination(group, where)

    def _check_combination(self, group: dict[str, Any], where: str) -> None:
        """Checks across hyper-parameters of one group (SGD's nesterov)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with "params" and optional hyper-parameters;
        the missing ones come from `defaults`), as torch.optim.Optimizer.add_param_group."""
        self._add_group(param_group, f"{type(self).__name__}.add_param_group")

    def _add_group(self, param_group: dict[str, Any], where: str) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"{where}: param_group: expected a dict, got {type(param_group)}")
        if "params" not in param_group:
            raise ValueError(f"{where}: param_group: a param group needs the key 'params'")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{where}: params: expected an ordered iterable of Tensors, got a set "
                "(its order changes between runs)"
            )
        else:
            params = list(params)
        named = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params]
        if any(named):  # model.named_parameters(), as torch 2.x: the names go to "param_names"
            if not all(named):
                raise ValueError(
                    f"{where}: params: give every parameter with a name (named_parameters()) "
                    "or none"
                )
            param_group = {**param_group, "param_names": [n for n, _ in params]}
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}: params[{i}] is a {type(p).__name__}, expected a Tensor")
            if not p.is_leaf:
                raise ValueError(
                    f"{where}: params[{i}] (shape {p.shape}) is not a leaf tensor: "
                    "can't optimize a non-leaf Tensor"
                )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(
                f"{where}: params: a parameter appears more than once (it would be "
                "updated twice per step)"
            )
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(
                f"{where}: params: some parameters appear in more than one parameter group"
            )
        group = {k: v for k, v in param_group.items() if k != "params"}
        for k, default in self.defaults.items():
            if k not in group:
                if default is required:
                    raise ValueError(
                        f"{where}: param_group: no value of the required hyper-parameter '{k}'"
                    )
                group[k] = default
        self._check_group(group, where)
        group["params"] = params
        self.param_groups.append(group)

    # ---- torch's attributes and methods ----------------------------------------------------

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group (deltagrad's own; dg.train.fit reads it)."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> float:
        """The first group's lr (deltagrad's own shortcut; torch has only param_groups)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        value = _nonneg(type(self).__name__, "lr", value)
        for g in self.param_groups:
            g["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: set_to_none=True (the default, as torch) drops them;
        False fills the existing gradient arrays with zeros in place."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        grad_array(p).fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError

    # ---- hooks (torch's register_*_hook; each returns a handle whose remove() drops it) ----

    def _hooks(self, attr: str) -> OrderedDict[int, Callable[..., Any]]:
        """The hook dict `attr` of this optimizer (made here for one built without __init__)."""
        d = self.__dict__.get(attr)
        if d is None:
            d = self.__dict__[attr] = OrderedDict()
        return d

    def _register(self, attr: str, method: str, hook: Any, prepend: bool) -> RemovableHandle:
        _callable_hook(f"{type(self).__name__}.{method}", hook)
        hooks = self._hooks(attr)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), called before each
        step() with step's positional arguments (the optimizer first, as torch) and keyword
        arguments; a returned pair replaces them for step() and the later hooks."""
        handle = self._register("_optimizer_step_pre_hooks", "register_step_pre_hook", hook, False)
        self._step_hooked = True
        return handle

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """hook(optimizer, args, kwargs) -> None, called after each step() with the arguments
        step() got (those of the pre-hooks, if they replaced them)."""
        handle = self._register(
            "_optimizer_step_post_hooks", "register_step_post_hook", hook, False
        )
        self._step_hooked = True
        return handle

    def register_state_dict_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(optimizer) -> None, called at the start of state_dict(); prepend=True runs it
        before the hooks registered already."""
        return self._register(
            "_optimizer_state_dict_pre_hooks", "register_state_dict_pre_hook", hook, prepend
        )

    def register_state_dict_post_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(optimizer, state_dict) -> state_dict or None, called at the end of
        state_dict(): it may change the dict in place or return the one to use instead."""
        return self._register(
            "_optimizer_state_dict_post_hooks", "register_state_dict_post_hook", hook, prepend
        )

    def register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(optimizer, state_dict) -> state_dict or None, called at the start of
        load_state_dict() with a shallow copy of the given dict: it may change that copy in
        place or return the dict to load instead."""
        return self._register(
            "_optimizer_load_state_dict_pre_hooks",
            "register_load_state_dict_pre_hook",
            hook,
            prepend,
        )

    def register_load_state_dict_post_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """hook(optimizer) -> None, called at the end of a load_state_dict() that loaded."""
        return self._register(
            "_optimizer_load_state_dict_post_hooks",
            "register_load_state_dict_post_hook",
            hook,
            prepend,
        )

    def _hooked_step(self, step: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """step(self, *args, **kwargs) with the step hooks around it, as torch: the global
        pre-hooks, this optimizer's pre-hooks, step, this optimizer's post-hooks, the global
        post-hooks."""
        if self._in_hooked_step:  # a subclass's step calling super().step(): hooks ran already
            return step(self, *args, **kwargs)
        full: tuple = (self, *args)
        pre = self.__dict__.get("_optimizer_step_pre_hooks") or {}
        for hook in (*_global_optimizer_pre_hooks.values(), *pre.values()):
            result = hook(self, full, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{type(self).__name__}.step: a step pre-hook must return None or a "
                        f"tuple (new_args, new_kwargs), got {result!r}"
                    )
                full, kwargs = result
        self._in_hooked_step = True
        try:
            out = step(*full, **kwargs)
        finally:
            self._in_hooked_step = False
        post = self.__dict__.get("_optimizer_step_post_hooks") or {}
        for hook in (*post.values(), *_global_optimizer_post_hooks.values()):
            hook(self, full, kwargs)
        # every hook removed again: back to the plain path (the class flag tracks the globals)
        if not (_global_optimizer_pre_hooks or _global_optimizer_post_hooks):
            Optimizer._step_hooked = False
            if not (pre or post):
                self.__dict__.pop("_step_hooked", None)
        return out

    @staticmethod
    def _closure(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: array or number}}, 'param_groups': [{hyper-parameters...,
        'params': [indices]}]} as torch: parameters are numbered across the groups in order.
        Arrays are copies; tuples (betas) are lists. The state_dict hooks run around it."""
        for hook in list(self._hooks("_optimizer_state_dict_pre_hooks").values()):
            hook(self)
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: _plain(v) for k, v in g.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in g["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: _plain(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        out = {"state": state, "param_groups": groups}
        for hook in list(self._hooks("_optimizer_state_dict_post_hooks").values()):
            result = hook(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict() of the same optimizer class on parameters of the same groups
        and shapes (checked first: on any mismatch a ValueError names the key and nothing
        changes). Buffers are copied onto each parameter's device and dtype. The load hooks
        run around it: the pre-hooks get a shallow copy of state_dict and may replace it.
        Hyper-parameters of _load_defaults the dict lacks (foreach...) get torch's values."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{where}: state_dict: expected a dict, got {type(state_dict)}")
        state_dict = dict(state_dict)  # a shallow copy, as torch: the hooks may change it
        for hook in list(self._hooks("_optimizer_load_state_dict_pre_hooks").values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"{where}: a load_state_dict pre-hook returned a {type(state_dict).__name__}, "
                "expected a dict"
            )
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"{where}: state_dict: no key '{key}'")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)):
            raise TypeError(f"{where}: param_groups: expected a list, got {type(saved_groups)}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: param_groups: the state_dict has {len(saved_groups)} parameter "
                f"groups, this optimizer {len(self.param_groups)}"
            )
        new_groups, by_index = [], {}
        for gi, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            at = f"{where}: param_groups[{gi}]"
            if not isinstance(sg, dict) or "params" not in sg:
                raise ValueError(f"{at}: expected a dict with the key 'params'")
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(
                    f"{at}['params']: the state_dict's group has {len(sg['params'])} "
                    f"parameters, this optimizer's {len(g['params'])}"
                )
            ng = {k: v for k, v in sg.items() if k != "params"}
            for key in self.defaults:
                if key not in ng and key in self._load_defaults:
                    ng[key] = self._load_defaults[key]
                if key not in ng:
                    raise ValueError(
                        f"{at}: no key '{key}', which {name} needs (a state_dict of another "
                        f"optimizer class? {name} has {sorted(self.defaults)})"
                    )
            self._check_group(ng, at)
            ng["params"] = g["params"]
            new_groups.append(ng)
            for i, p in zip(sg["params"], g["params"]):
                by_index[int(i)] = p
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise TypeError(f"{where}: state: expected a dict, got {type(saved_state)}")
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for k, st in saved_state.items():
            at = f"{where}: state[{k!r}]"
            try:
                p = by_index[int(k)]
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{at}: no parameter has the index {k!r}") from None
            if not isinstance(st, dict):
                raise TypeError(f"{at}: expected a dict, got {type(st)}")
            new_state[p] = {key: self._load_value(p, key, v, at) for key, v in st.items()}
            new_state[p] = {key: v for key, v in new_state[p].items() if v is not None}
        for g, ng in zip(self.param_groups, new_groups):
            g.clear()
            g.update(ng)
        self.state = new_state
        for hook in list(self._hooks("_optimizer_load_state_dict_post_hooks").values()):
            hook(self)

    def _load_value(self, p: Tensor, key: str, v: Any, at: str) -> Any:
        name = type(self).__name__
        if key not in self._state_keys:
            raise ValueError(
                f"{at}: the key '{key}' is no state of {name} (a state_dict of another "
                f"optimizer class? {name} keeps {sorted(self._state_keys)})"
            )
        if v is None:
            return None
        if key == "step":
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"{at}['step']: expected a number, got {v!r}") from None
            if not (f >= 0 and math.isfinite(f)):
                raise ValueError(f"{at}['step']: expected a number >= 0, got {f}")
            return int(f) if f.is_integer() else f
        shape = tuple(getattr(v, "shape", ()))
        if not hasattr(v, "shape") or shape != tuple(p.data.shape):
            raise ValueError(
                f"{at}['{key}']: expected an array of the parameter's shape "
                f"{tuple(p.data.shape)}, got {type(v).__name__} of shape {shape}"
            )
        xp = get_array_module(p.data)
        if xp is np and not isinstance(v, np.ndarray):
            # a foreign host array (a torch tensor of torch's state_dict): numpy 2 warns when
            # np.array(copy=True) meets an __array__ without a copy argument
            v = np.asarray(v)
        return xp.array(v, dtype=p.data.dtype, copy=True)

    def __repr__(self) -> str:
        out = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"
