"""Flatten and Unflatten: reshapes as modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor
from .module import Module

__all__ = ["Flatten", "Unflatten"]


def _int(v: Any, owner: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{owner}: {name}: expected an int, got {v!r}")
    return int(v)


def _dim(d: int, ndim: int, owner: str, name: str) -> int:
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(
            f"{owner}: {name}: dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {d})"
        )
    return d % n


def _input(x: Any, owner: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: input: expected a Tensor, got {type(x).__name__}")
    return x


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim (inclusive) into one: (N, *) -> (N, prod)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = _int(start_dim, "Flatten", "start_dim")
        self.end_dim = _int(end_dim, "Flatten", "end_dim")

    def forward(self, x: Any) -> Tensor:
        x = _input(x, "Flatten")
        if x.ndim == 0:
            return x.reshape(1)
        s = _dim(self.start_dim, x.ndim, "Flatten", "start_dim")
        e = _dim(self.end_dim, x.ndim, "Flatten", "end_dim")
        if s > e:
            raise ValueError(
                f"Flatten: start_dim ({self.start_dim}) cannot come after end_dim "
                f"({self.end_dim}) for an input of {x.ndim} dimensions"
            )
        shape = x.shape
        return x.reshape(*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension dim into unflattened_size (a tuple of ints; one may be -1)."""

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        self.dim = _int(dim, "Unflatten", "dim")
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size:
            raise TypeError(
                f"Unflatten: unflattened_size: expected a non-empty tuple of ints, got "
                f"{unflattened_size!r}"
            )
        size = tuple(_int(s, "Unflatten", "unflattened_size") for s in unflattened_size)
        if sum(s == -1 for s in size) > 1 or any(s < -1 for s in size):
            raise ValueError(
                f"Unflatten: unflattened_size: expected sizes >= 0 and at most one -1, got {size}"
            )
        self.unflattened_size = size

    def forward(self, x: Any) -> Tensor:
        x = _input(x, "Unflatten")
        d = _dim(self.dim, x.ndim, "Unflatten", "dim")
        n = x.shape[d]
        size = list(self.unflattened_size)
        known = math.prod(s for s in size if s != -1)
        if -1 in size:
            if known == 0 or n % known:
                raise ValueError(
                    f"Unflatten: unflattened_size {self.unflattened_size} does not divide "
                    f"dimension {d} of size {n}"
                )
            size[size.index(-1)] = n // known
        elif known != n:
            raise ValueError(
                f"Unflatten: unflattened_size {self.unflattened_size} (product {known}) does "
                f"not match dimension {d} of the input, of size {n}"
            )
        return x.reshape(*x.shape[:d], *size, *x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
