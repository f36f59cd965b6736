"""deltagrad.utils.data: torch.utils.data's names, re-exported from deltagrad.data (the same
objects: ``dg.utils.data.DataLoader is dg.data.DataLoader``), so that torch scripts'
``from torch.utils.data import DataLoader, TensorDataset, random_split`` port as
``from deltagrad.utils.data import ...``. See deltagrad.data for the implementation."""

from __future__ import annotations

# Every public name of deltagrad.data (its __all__: a name added there appears here too).
from ..data import *  # noqa: F403
from ..data import __all__  # noqa: F401
