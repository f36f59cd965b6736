"""torch.distributions.utils: parameter broadcasting, probs <-> logits, lazy_property."""

from __future__ import annotations

import functools
from numbers import Number
from typing import Any

import numpy as np

from ..creation import get_default_dtype, randn
from ..tensor import Tensor, get_array_module

__all__ = [
    "broadcast_all",
    "clamp_probs",
    "lazy_property",
    "logits_to_probs",
    "probs_to_logits",
    "tril_matrix_to_vec",
    "vec_to_tril_matrix",
]


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """Broadcast tensors and numbers to one shape; numbers become tensors of the first tensor's
    dtype (the default dtype when all are numbers), on its device."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError(
            "Input arguments must all be instances of Number, "
            "torch.Tensor or objects implementing __torch_function__."
        )
    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None:
        dt = get_default_dtype()
        return tuple(Tensor(np.asarray(v, dtype=dt)) for v in values)
    dt = like.dtype
    xp = get_array_module(like.data)
    tensors = [v if isinstance(v, Tensor) else Tensor(xp.asarray(v, dtype=dt)) for v in values]
    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t if t.shape == shape else t.expand(*shape) for t in tensors)


def _standard_normal(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Standard-normal draws of like's dtype and device, from deltagrad's generator."""
    return randn(*shape, dtype=like.dtype, device=like.device)


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the dim rightmost dimensions of value."""
    if dim == 0:
        return value
    lead = value.shape[: value.dim() - dim]
    return value.reshape(*lead, int(np.prod(value.shape[len(lead) :], dtype=np.int64))).sum(-1)


def _finfo(t: Tensor) -> Any:
    return np.finfo(t.dtype)


def clamp_probs(probs: Tensor) -> Tensor:
    """probs clamped to [eps, 1 - eps] of its dtype."""
    eps = float(_finfo(probs).eps)
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) if is_binary, else softmax over the last dimension."""
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log(p) - log1p(-p) if is_binary, else log(p), with p clamped away from 0 and 1."""
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return ps_clamped.log() - (-ps_clamped).log1p()
    return ps_clamped.log()


class lazy_property:  # noqa: N801 - torch's name
    """A property computed on first access and then stored on the instance."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)

    def __get__(self, instance: Any, obj_type: Any = None) -> Any:
        if instance is None:
            return self
        value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class _BinaryParams:
    """The probs / logits pair of a distribution with a binary event probability (Bernoulli,
    Binomial, NegativeBinomial, LogitRelaxedBernoulli): the one given is stored, the other
    derived on first access (torch's is_binary conversions); param_shape is the given one's."""

    _param: Tensor

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._param.shape


def _host_draw(like: Tensor, draw: Any, *params: Tensor) -> Tensor:
    """A non-differentiable draw draw(rng, *arrays) from deltagrad's generator on the host
    (float64 parameter arrays), returned as a Tensor of like's dtype and device."""
    from .._random import get_rng

    xp = get_array_module(like.data)
    host = [np.asarray(p.data if xp is np else p.data.get(), dtype=np.float64) for p in params]
    out = np.asarray(draw(get_rng(), *host)).astype(like.dtype)
    return Tensor(out if xp is np else xp.asarray(out))


def _clamp_by_zero(x: Tensor) -> Tensor:
    """max(x, 0) with gradient 1/2 at 0 (torch's _clamp_by_zero, used by Binomial)."""
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


def _tril_flat_index(n: int, diag: int) -> Any:
    """The flat (row-major) positions of the entries of an n x n matrix on or below diagonal
    diag, in row order."""
    arange = np.arange(n)
    mask = arange < arange.reshape(-1, 1) + (diag + 1)
    return np.flatnonzero(mask)


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    """The entries of a (batched) D x D matrix on or below diagonal diag, in row order."""
    n = mat.shape[-1]
    if diag < -n or diag >= n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    xp = get_array_module(mat.data)
    idx = Tensor(xp.asarray(_tril_flat_index(n, diag), dtype=np.int64))
    flat = mat.reshape(*mat.shape[:-2], mat.shape[-2] * n)
    return flat.index_select(-1, idx)


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    """A (batched) D x D lower-triangular matrix (below diagonal diag) filled in row order
    from the last dimension of vec; the other entries are zero."""
    m = vec.shape[-1]
    n = (-(1 + 2 * diag) + ((1 + 2 * diag) ** 2 + 8 * m + 4 * abs(diag) * (diag + 1)) ** 0.5) / 2
    eps = float(_finfo(vec).eps) if vec.dtype.kind == "f" else 0.0
    if round(n) - n > eps:
        raise ValueError(
            f"The size of last dimension is {m} which cannot be expressed as "
            + "the lower triangular part of a square D x D matrix."
        )
    n = round(n)
    xp = get_array_module(vec.data)
    where_from = np.full(n * n, m, dtype=np.int64)  # position m: an appended zero
    where_from[_tril_flat_index(n, diag)] = np.arange(m)
    padded = vec.new_zeros(*vec.shape[:-1], m + 1)
    padded = padded.index_add(-1, Tensor(xp.arange(m, dtype=np.int64)), vec)
    flat = padded.index_select(-1, Tensor(xp.asarray(where_from)))
    return flat.reshape(*vec.shape[:-1], n, n)
