# temporary shim: removed at integration
"""Old name of deltagrad.backends.simt, kept only so the tests written against it run unchanged:
its ``ops`` also has sum / mean / sum_to_shape (now dg.ops's, built on reduce_sum), run on the
emulator."""

from __future__ import annotations

from typing import Any

from . import _simt
from . import ops as _dg_ops
from .backends import use_host_backend
from .backends.simt import (  # noqa: F401
    SimtFault,
    SimtOps,
    selftest,
    set_race_check,
    set_reverse_schedule,
)

ACTIVATIONS = _dg_ops.ACTIVATIONS
NEEDS_INPUT = frozenset(a for a in ACTIVATIONS if _dg_ops.saves_input(a))


class _SimtOpsWithReductions(SimtOps):
    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        with use_host_backend(self):
            return _dg_ops.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        with use_host_backend(self):
            return _dg_ops.mean(x, axis=axis, keepdims=keepdims)

    def sum_to_shape(self, g: Any, shape: Any) -> Any:
        with use_host_backend(self):
            return _dg_ops.sum_to_shape(g, shape)


ops = _SimtOpsWithReductions(_simt)
