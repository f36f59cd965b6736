"""The "simt" device, for tests: the csrc/cuda kernels run by the SIMT emulator on numpy arrays.

Same ops, names and validation as the CUDA backend (``backends.cuda.KernelOps``); each launch
registers the arrays it was given, so a kernel that reads or writes outside them raises
``SimtFault`` (a RuntimeError) instead of corrupting memory. Not part of the public API: tests
run dg.ops on it with ``backends.use_host_backend(simt.ops)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _simt
from .cuda import KernelOps

__all__ = ["SimtFault", "SimtOps", "ops", "set_reverse_schedule", "set_race_check", "selftest"]

SimtFault = _simt.SimtFault


class SimtOps(KernelOps):
    device = "simt"
    array_type_name = "numpy.ndarray"
    check_targets_on_host = True

    def xp(self) -> Any:
        return np

    def _is_array(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def _as_array(self, x: Any) -> Any:
        return x

    def _ptr(self, x: Any) -> int:
        return int(x.__array_interface__["data"][0])

    def _stream(self) -> int:
        return 0

    def _call(self, name: str, arrays: list[Any], *args: Any) -> None:
        # Overlapping arrays (inputs that are views of one buffer, as x[:, :d] and x[:, d:])
        # are registered as one buffer: the emulator gives a pointer the first registered
        # buffer that holds it, and would fault on an element past that one's end.
        spans: list[list[int]] = []
        for lo, hi in sorted(self._extent(a) for a in arrays):
            if spans and lo < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        _simt.clear_buffers()
        try:
            for lo, hi in spans:
                _simt.register_buffer(lo, hi - lo)
            getattr(self._raw, name)(*args)
        finally:
            _simt.clear_buffers()


ops = SimtOps(_simt)


def set_reverse_schedule(reverse: bool) -> None:
    """Run each block's threads last-first (exposes races the default order hides)."""
    _simt.set_reverse_schedule(bool(reverse))


def set_race_check(on: bool) -> None:
    """Turn the shared-memory race / uninitialized-read detector on (default) or off."""
    _simt.set_race_check(bool(on))


def selftest(name: str, x: np.ndarray, threads: int = 64) -> np.ndarray:
    """Run one of the deliberately broken (or fixed) kernels of csrc/simt/selftest.cuh."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.zeros(max(x.size, 1), dtype=np.float32)
    _simt.clear_buffers()
    try:
        for a in (x, y):
            _simt.register_buffer(a.__array_interface__["data"][0], a.nbytes)
        _simt.selftest(
            name,
            x.size,
            x.__array_interface__["data"][0],
            y.__array_interface__["data"][0],
            threads,
        )
    finally:
        _simt.clear_buffers()
    return y
