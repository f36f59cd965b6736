"""deltagrad.utils: torch.utils's checkpoint (activation checkpointing) and data (an alias of
deltagrad.data: the same Dataset, DataLoader, ... objects), so that
``from deltagrad.utils.data import DataLoader`` and ``dg.utils.checkpoint.checkpoint`` read
as torch's."""

from __future__ import annotations

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
