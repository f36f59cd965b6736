"""The hook-based spectral_norm / remove_spectral_norm, as torch.nn.utils.spectral_norm:
parameter <name>_orig, buffers <name>_u and <name>_v, and a forward pre-hook that sets
module.<name> = <name>_orig / sigma before each forward (one more power iteration step on u
and v first, in training mode)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from ...tensor import Tensor, get_array_module, no_grad
from ..module import Module
from ..parameter import Parameter
from .parametrizations import _is_convtranspose, _normal, _normalized

__all__ = [
    "SpectralNorm",
    "SpectralNormLoadStateDictPreHook",
    "SpectralNormStateDictHook",
    "spectral_norm",
    "remove_spectral_norm",
]


class SpectralNorm:
    """The forward pre-hook. Invariant after each training forward: u = normalize(W_orig v)."""

    _version: int = 1
    name: str
    dim: int
    n_power_iterations: int
    eps: float

    def __init__(
        self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """weight_orig / sigma, sigma = u . (W v). do_power_iteration: first v =
        normalize(W^T u), u = normalize(W v), n_power_iterations times, written into the
        buffers in place (outside the graph)."""
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                w, ua = weight_mat.data, u.data
                for _ in range(self.n_power_iterations):
                    va = _normalized(w.T @ ua, self.eps)
                    ua = _normalized(w @ va, self.eps)
                u.copy_(Tensor(ua))
                v.copy_(Tensor(va))
            u = u.detach().clone()  # copies: a later step does not touch this graph
            v = v.detach().clone()
        sigma = u.dot(weight_mat.matmul(v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))

    def _solve_v_and_rescale(self, weight_mat: Any, u: Any, target_sigma: Any) -> Any:
        """v with u = normalize(W v) and u . W v = sigma (arrays; pinv for a singular W^T W)."""
        xp = get_array_module(weight_mat)
        v = xp.linalg.pinv(weight_mat.T @ weight_mat) @ weight_mat.T @ u
        return v * (target_sigma / (u @ (weight_mat @ v)))

    @staticmethod
    def apply(
        module: Module, name: str, n_power_iterations: int, dim: int, eps: float
    ) -> SpectralNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two spectral_norm hooks on the same parameter {name}"
                )
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        if name not in module._parameters:
            raise KeyError(name)  # torch's module._parameters[name]
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            u = Tensor(_normalized(_normal(h, weight), fn.eps))
            v = Tensor(_normalized(_normal(w, weight), fn.eps))
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        # module.<name> stays readable (weight initializers use it): the values, outside the
        # graph, as a plain attribute
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        module.register_state_dict_post_hook(SpectralNormStateDictHook(fn))
        module.register_load_state_dict_pre_hook(SpectralNormLoadStateDictPreHook(fn))
        return fn


class SpectralNormLoadStateDictPreHook:
    """Loads a state dict of torch's version-0 spectral_norm (which saved <name> and no
    <name>_v): v is solved from u, W_orig and W."""

    def __init__(self, fn: SpectralNorm) -> None:
        self.fn = fn

    def __call__(
        self,
        module: Module,
        state_dict: Any,
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        fn = self.fn
        version = local_metadata.get("spectral_norm", {}).get(fn.name + ".version", None)
        if version is not None and version >= 1:
            return
        weight_key = prefix + fn.name
        if (
            version is None
            and all(weight_key + s in state_dict for s in ("_orig", "_u", "_v"))
            and weight_key not in state_dict
        ):
            return  # a current state dict without its metadata
        missing = [weight_key + s for s in ("_orig", "", "_u") if weight_key + s not in state_dict]
        if missing:
            if strict:
                missing_keys.extend(missing)
            return
        with no_grad():
            arr = {
                k: np.asarray(v.numpy() if isinstance(v, Tensor) else v)
                for k, v in state_dict.items()
                if k in (weight_key + "_orig", weight_key, weight_key + "_u")
            }
            weight_orig = arr[weight_key + "_orig"]
            state_dict.pop(weight_key)
            sigma = (weight_orig / arr[weight_key]).mean()
            weight_mat = fn.reshape_weight_to_matrix(Tensor(weight_orig)).data
            state_dict[weight_key + "_v"] = fn._solve_v_and_rescale(
                weight_mat, arr[weight_key + "_u"], sigma
            )


class SpectralNormStateDictHook:
    """Records the spectral_norm format version in the state dict's metadata, as torch."""

    def __init__(self, fn: SpectralNorm) -> None:
        self.fn = fn

    def __call__(self, module: Module, state_dict: Any, prefix: str, local_metadata: Any) -> None:
        if "spectral_norm" not in local_metadata:
            local_metadata["spectral_norm"] = {}
        key = self.fn.name + ".version"
        if key in local_metadata["spectral_norm"]:
            raise RuntimeError(f"Unexpected key in metadata['spectral_norm']: {key}")
        local_metadata["spectral_norm"][key] = self.fn._version


T_module = TypeVar("T_module", bound=Module)


def spectral_norm(
    module: T_module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> T_module:
    """Spectral normalization through a forward pre-hook, as torch.nn.utils.spectral_norm:
    module.<name> = <name>_orig / sigma before each forward; u and v (buffers <name>_u,
    <name>_v, random at first) take n_power_iterations steps per training forward. dim:
    default 1 for ConvTranspose, else 0."""
    if dim is None:
        dim = 1 if _is_convtranspose(module) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo spectral_norm: module.<name> becomes a Parameter of the current normalized value
    (computed without a power iteration step)."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            break
    else:
        raise ValueError(f"spectral_norm of '{name}' not found in {module}")
    for k, hook in module._state_dict_hooks.items():
        if isinstance(hook, SpectralNormStateDictHook) and hook.fn.name == name:
            del module._state_dict_hooks[k]
            break
    for k, hook in module._load_state_dict_pre_hooks.items():
        if isinstance(hook, SpectralNormLoadStateDictPreHook) and hook.fn.name == name:
            del module._load_state_dict_pre_hooks[k]
            break
    return module
