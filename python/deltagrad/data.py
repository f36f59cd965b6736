"""deltagrad.data: DataLoader for batch, online and mini-batch gradient descent (Bishop ch. 7)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._random import get_rng
from .backends import device_of, to_device
from .backends._args import is_device_array
from .tensor import Tensor

__all__ = ["DataLoader"]


def _array(x: Any, name: str) -> Any:
    if isinstance(x, Tensor):
        return x.data
    if is_device_array(x) or isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - numpy says why
        raise TypeError(f"DataLoader: {name} is not array-like ({type(x).__name__})") from e


class DataLoader:
    """Iterate over (Xb, yb) batches of the rows of X and y.

    batch_size: None = the full data set as one batch (batch gradient descent), 1 = one
    example at a time (online / stochastic GD), n = mini-batches of n (the last may be
    smaller unless drop_last). shuffle draws a new permutation every epoch (every `iter()`),
    from np.random.default_rng(seed) when a seed is given, else from deltagrad's generator
    (dg.manual_seed). Batches are arrays of the same kind as X and y (numpy stays numpy, cupy
    stays cupy; a Tensor's array is used); wrap them with dg.tensor where a Tensor is needed.
    y may be None: batches are then (Xb, None).
    """

    def __init__(
        self,
        X: Any,
        y: Any = None,
        batch_size: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.X = _array(X, "X")
        self.y = None if y is None else _array(y, "y")
        if self.X.ndim == 0:
            raise ValueError("DataLoader: X must have at least 1 dimension (rows = examples)")
        n = self.X.shape[0]
        if self.y is not None and (self.y.ndim == 0 or self.y.shape[0] != n):
            raise ValueError(f"DataLoader: X has {n} rows but y has shape {self.y.shape}")
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(
                f"DataLoader: batch_size must be None or a positive int, got {batch_size!r}"
            )
        self.n = n
        self.batch_size = n if batch_size is None else min(int(batch_size), max(n, 1))
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.n == 0:
            return 0
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n, bs = self.n, self.batch_size
        if self.shuffle:
            order = to_device((self._rng or get_rng()).permutation(n), device_of(self.X))
        for b in range(len(self)):
            if self.shuffle:
                idx = order[b * bs : (b + 1) * bs]
                yield self.X[idx], (None if self.y is None else self.y[idx])
            else:  # contiguous slices: views, no copy
                sl = slice(b * bs, (b + 1) * bs)
                yield self.X[sl], (None if self.y is None else self.y[sl])

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={self.n}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"batches={len(self)})"
        )
