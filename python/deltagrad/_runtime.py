"""Build and runtime facts (dg.info) and thread control, shared by the CPU and CUDA backends."""

from __future__ import annotations

from typing import Any

from . import _cpu
from ._backend import cuda_module
from ._random import manual_seed
from ._version import __version__

__all__ = ["info", "set_num_threads", "get_num_threads", "manual_seed"]


def set_num_threads(n: int) -> None:
    """Set how many threads the CPU kernels use (n >= 1)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    _cpu.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the CPU kernels use."""
    return int(_cpu.get_num_threads())


def info() -> dict[str, Any]:
    """What this build of deltagrad is and what it runs on."""
    cuda = cuda_module()
    cuda_available = False
    cuda_device = None
    cuda_reason = "deltagrad was built without CUDA (nvcc was not found at build time)"
    if cuda is not None:
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
        "cuda_compiled": cuda is not None,
        "cuda_available": bool(cuda_available),
        "cuda_device": cuda_device,
        "cuda_status": "available" if cuda_available else cuda_reason,
    }
