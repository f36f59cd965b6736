"""Embedding: a lookup table of learned vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor, no_grad
from .init import normal_
from .module import Module
from .parameter import Parameter, _float_dtype

__all__ = ["Embedding"]


class Embedding(Module):
    """weight (num_embeddings, embedding_dim) drawn from N(0, 1); forward(indices) returns the
    rows the integer indices pick, shape (*indices.shape, embedding_dim). padding_idx: that
    row is zero at construction and gets no gradient (as torch). max_norm, norm_type and
    scale_grad_by_freq as torch (see deltagrad.functional.embedding); sparse=True builds, but
    a forward that records weight's gradient raises NotImplementedError (deltagrad has no
    sparse gradients)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise ValueError(f"Embedding: {name}: expected an int >= 0, got {n!r}")
        if max_norm is not None:
            F._number(max_norm, "Embedding", "max_norm")
        F._number(norm_type, "Embedding", "norm_type")
        F._flag(scale_grad_by_freq, "Embedding", "scale_grad_by_freq")
        F._flag(sparse, "Embedding", "sparse")
        dtype = _float_dtype(dtype, "Embedding")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(
                    f"Embedding: padding_idx: expected an int or None, got {padding_idx!r}"
                )
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx: must be within num_embeddings "
                    f"[-{self.num_embeddings}, {self.num_embeddings}), got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.zeros(shape), dtype=dtype, requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = Parameter(_weight, requires_grad=not _freeze)
            if w.shape != shape:
                raise ValueError(f"Embedding: _weight: expected shape {shape}, got {w.shape}")
            self.weight = w
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding a copy of the 2-D embeddings (frozen unless freeze=False)."""
        data = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if data.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings: expected a 2-D tensor, got shape "
                f"{tuple(data.shape)}"
            )
        return cls(
            data.shape[0],
            data.shape[1],
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=data,
            _freeze=freeze,
        )

    def forward(self, input: Any) -> Tensor:  # noqa: A002  (torch's name)
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        """torch's: the arguments that differ from their defaults, as given."""
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s
