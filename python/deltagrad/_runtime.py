"""Build and runtime facts (dg.info) and thread control, shared by the CPU and CUDA backends."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _cpu, backends
from ._random import manual_seed
from ._version import __version__

__all__ = ["info", "set_num_threads", "get_num_threads", "manual_seed"]


# Upper bound of dg.set_num_threads: OpenMP creates every requested thread, and libgomp aborts
# the whole process when it cannot create one, so an absurd count must fail here, cleanly.
MAX_THREADS = max(1024, os.cpu_count() or 1)


def set_num_threads(n: int) -> None:
    """Set how many threads the CPU kernels use (1 <= n <= MAX_THREADS; any Python or NumPy
    integer). Takes effect for the next kernel call, from any Python thread."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n: expected an int, got {type(n).__name__} {n!r}")
    n = int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: n: expected n >= 1 and <= {MAX_THREADS}, got {n}")
    _cpu.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the CPU kernels use."""
    return int(_cpu.get_num_threads())


def info() -> dict[str, Any]:
    """What this build of deltagrad is and what it runs on."""
    cuda_compiled = backends.cuda_ops() is not None
    cuda_available = False
    cuda_device = None
    cuda_reason = "deltagrad was built without CUDA (nvcc was not found at build time)"
    if cuda_compiled:
        from .backends import cuda  # noqa: PLC0415  (imported by cuda_ops() above)

        cuda_available, cuda_reason = cuda.availability()
        if cuda_available:
            cuda_device = cuda.device_name(0)
    return {
        "version": __version__,
        "cpu_isa": _cpu.active_isa(),
        "cpu_isa_detected": _cpu.detected_isa(),
        "num_threads": get_num_threads(),
        "compiler": _cpu.compiler,
        "build": dict(_cpu.build),
        "cuda_compiled": cuda_compiled,
        "cuda_available": bool(cuda_available),
        "cuda_device": cuda_device,
        "cuda_status": "available" if cuda_available else cuda_reason,
    }
