"""dg.nn.utils: gradient clipping and parameter <-> vector conversion, as torch.nn.utils;
dg.nn.utils.rnn: PackedSequence and its helpers (rnn.py); dg.nn.utils.parametrize and
parametrizations (weight_norm, spectral_norm, orthogonal), and the hook-based weight_norm /
spectral_norm; dg.nn.utils.stateless.functional_call (deltagrad.func's).

Gradients are arrays (p.grad); clipping scales them in place."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..._engine import grad_array
from ...tensor import Tensor, get_array_module, no_grad
from . import parametrizations, parametrize, rnn, stateless
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "parametrizations",
    "parametrize",
    "spectral_norm",
    "remove_spectral_norm",
    "weight_norm",
    "remove_weight_norm",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "clip_grads_with_norm_",
    "parameters_to_vector",
    "vector_to_parameters",
    "rnn",
    "stateless",
]


def _params(parameters: Any, fn: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(
            f"{fn}: parameters: expected a Tensor or an iterable of Tensors, got "
            f"{type(parameters).__name__}"
        )
    out = list(parameters)
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: parameters[{i}] is a {type(p).__name__}, expected a Tensor")
    return out


def _norm_type(norm_type: Any, fn: str) -> float:
    if isinstance(norm_type, str) and norm_type in ("inf", "-inf"):
        return float(norm_type)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.number)):
        raise TypeError(f"{fn}: norm_type: expected a number or 'inf', got {norm_type!r}")
    p = float(norm_type)
    if math.isnan(p):
        raise ValueError(f"{fn}: norm_type: expected a number or 'inf', got nan")
    return p


def _vector_norm(a: Any, p: float, fn: str = "get_total_norm") -> Any:
    """torch.linalg.vector_norm(a, p) of an array as a 0-d array of a's dtype. float16 is
    computed in float32 and rounded once at the end (torch's opmath), so a sum of squares past
    float16's range does not overflow a norm that fits. An empty array has no inf / -inf /
    negative-p norm (those reductions have no identity): RuntimeError, as torch."""
    xp = get_array_module(a)
    if p == 2 and a.size and a.dtype in (np.float32, np.float64):
        # the common case on its own: no |a| pass, no errstate (BLAS's dot overflows to inf
        # silently); clip_grad_norm_ calls this once per parameter on every step
        flat = a.reshape(-1)
        return xp.asarray(xp.sqrt(xp.dot(flat, flat)), dtype=a.dtype)
    if a.size == 0 and (p < 0 or p == math.inf):
        raise RuntimeError(
            f"{fn}: linalg.vector_norm cannot compute the {p:g} norm on an empty tensor "
            "because the operation does not have an identity"
        )
    dtype = a.dtype
    x = xp.abs(a.reshape(-1))
    if dtype == np.float16:
        x = x.astype(np.float32)
    # overflow to inf, 0 ** -p = inf: IEEE results, silent as torch's
    with np.errstate(over="ignore", divide="ignore"):
        if p == math.inf:
            r = x.max()
        elif p == -math.inf:
            r = x.min()
        elif p == 0:
            r = xp.count_nonzero(x)
        elif p == 1:
            r = x.sum()
        elif p == 2:
            r = xp.sqrt(xp.dot(x, x)) if x.size else 0
        else:
            r = (x**p).sum() ** (1.0 / p)
        return xp.asarray(r, dtype=dtype)


def get_total_norm(
    tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: Any = None
) -> Tensor:
    """The norm of the norms of the arrays (or Tensors) given, as torch: each array's norm in
    its own dtype, then stacked and reduced in the promoted dtype of all of them (float32 and
    float64 gradients give a float64 total)."""
    fn = "get_total_norm"
    p = _norm_type(norm_type, fn)
    arrays = [t.data if isinstance(t, Tensor) else t for t in tensors]
    arrays = [a for a in arrays if a is not None]
    if not arrays:
        return Tensor(np.zeros((), dtype=np.float32))
    xp = get_array_module(arrays[0])
    dtype = np.result_type(*(a.dtype for a in arrays))
    norms = xp.stack([_vector_norm(a, p, fn).astype(dtype) for a in arrays])
    total = _vector_norm(norms, p, fn)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so "
            "it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor(total)


def clip_grads_with_norm_(
    parameters: Any, max_norm: float, total_norm: Any, foreach: Any = None
) -> None:
    """Scale every gradient in place by min(1, max_norm / (total_norm + 1e-6))."""
    fn = "clip_grads_with_norm_"
    params = _params(parameters, fn)
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.number)):
        raise TypeError(f"{fn}: max_norm: expected a number, got {max_norm!r}")
    grads = [grad_array(p) for p in params if p.grad is not None]
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else total_norm
    coef = float(max_norm) / (total + 1e-6)
    xp = get_array_module(grads[0])
    coef = xp.minimum(coef, 1.0)
    if xp is np and bool(coef == 1.0):
        return  # g * 1.0 is g to the bit (NaN and -0.0 included): no pass over the gradients
    by_dtype: dict[Any, Any] = {}
    # inf * 0 (an infinite gradient under an infinite total norm) is NaN silently, as torch's
    with no_grad(), np.errstate(invalid="ignore", over="ignore"):
        for g in grads:
            c = by_dtype.get(g.dtype)
            if c is None:
                c = by_dtype[g.dtype] = coef.astype(g.dtype)
            g *= c


def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Any = None,
) -> Tensor:
    """Scale the gradients of `parameters` in place so that their total norm (the
    norm_type-norm of the per-parameter norms; 'inf' for the largest absolute value) is at
    most max_norm: each is multiplied by min(1, max_norm / (total_norm + 1e-6)), as torch.
    Returns the total norm before clipping as a 0-d Tensor (of the gradients' dtype).
    error_if_nonfinite=True: a nan / inf total norm raises RuntimeError (nothing scaled).
    foreach is accepted and ignored."""
    fn = "clip_grad_norm_"
    params = _params(parameters, fn)
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.number)):
        raise TypeError(f"{fn}: max_norm: expected a number, got {max_norm!r}")
    if math.isnan(float(max_norm)):
        raise ValueError(f"{fn}: max_norm: expected a number, got nan")
    _norm_type(norm_type, fn)
    grads = [grad_array(p) for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total.data)
    return total


def clip_grad_value_(parameters: Any, clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    fn = "clip_grad_value_"
    params = _params(parameters, fn)
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float, np.number)):
        raise TypeError(f"{fn}: clip_value: expected a number, got {clip_value!r}")
    v = float(clip_value)
    if math.isnan(v):
        raise ValueError(f"{fn}: clip_value: expected a number, got nan")
    for p in params:
        if p.grad is not None:
            g = grad_array(p)
            get_array_module(g).clip(g, -v, v, out=g)


def parameters_to_vector(parameters: Any) -> Tensor:
    """The parameters' data concatenated into one 1-D Tensor (a copy, no graph)."""
    params = _params(parameters, "parameters_to_vector")
    if not params:
        return Tensor(np.zeros(0, dtype=np.float32))
    xp = get_array_module(params[0].data)
    return Tensor(xp.concatenate([p.data.reshape(-1) for p in params]))


def vector_to_parameters(vec: Any, parameters: Any) -> None:
    """Copy consecutive slices of the 1-D vec into the parameters (in place, under no_grad)."""
    fn = "vector_to_parameters"
    params = _params(parameters, fn)
    v = vec.data if isinstance(vec, Tensor) else vec
    if getattr(v, "ndim", None) != 1:
        raise TypeError(f"{fn}: vec: expected a 1-D Tensor, got {type(vec).__name__}")
    n = sum(p.numel() for p in params)
    if v.shape[0] != n:
        raise ValueError(f"{fn}: vec: has {v.shape[0]} elements, the parameters {n}")
    i = 0
    with no_grad():
        for p in params:
            p.copy_(v[i : i + p.numel()].reshape(p.shape))
            i += p.numel()
