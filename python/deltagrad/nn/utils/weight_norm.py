"""The hook-based weight_norm / remove_weight_norm, as torch.nn.utils.weight_norm (deprecated
there in favour of parametrizations.weight_norm, with the same FutureWarning): parameters
<name>_g and <name>_v, and a forward pre-hook that recomputes module.<name> before each
forward."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from ..module import Module
from ..parameter import Parameter
from .parametrizations import _check_weight_norm_dim, _norm_except_dim, _weight_norm

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


class WeightNorm:
    """The forward pre-hook: module.<name> = g * v / ||v||."""

    name: str
    dim: int

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Any:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        warnings.warn(
            "`torch.nn.utils.weight_norm` is deprecated in favor of "
            "`torch.nn.utils.parametrizations.weight_norm`.",
            FutureWarning,
            stacklevel=3,
        )
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        weight = getattr(module, name)
        if name not in module._parameters:
            raise KeyError(name)  # torch's `del module._parameters[name]`
        fn = WeightNorm(name, _check_weight_norm_dim("weight_norm", weight, dim))
        del module._parameters[name]  # the attribute stays until the computed one replaces it
        g = _norm_except_dim(weight.detach(), fn.dim)
        module.register_parameter(name + "_g", Parameter(g))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        for n in (self.name + "_g", self.name + "_v"):
            module.__dict__.pop(n, None)
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


T_module = TypeVar("T_module", bound=Module)


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Replace module.<name> by <name>_g (the norms: size 1 but along dim; dim=None: one
    norm, 0-d) and <name>_v (the direction), recomputed as g * v / ||v|| before every forward
    (a forward pre-hook). Deprecated in torch (FutureWarning): use
    parametrizations.weight_norm."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo weight_norm: module.<name> becomes a Parameter again, of the current value."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
