"""Which compiled module runs an op: numpy arrays go to _cpu, cupy arrays to _cuda."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from . import _cpu

_cuda: ModuleType | None | bool = False  # False: not looked for yet


def cuda_module() -> ModuleType | None:
    """The compiled CUDA module, or None when this build has none."""
    global _cuda
    if _cuda is False:
        try:
            _cuda = importlib.import_module("deltagrad._cuda")
        except ImportError:
            _cuda = None
    return _cuda  # type: ignore[return-value]


def is_cuda_array(x: Any) -> bool:
    """True for device arrays (cupy and anything with __cuda_array_interface__)."""
    return hasattr(x, "__cuda_array_interface__")


def backend_for(*arrays: Any) -> ModuleType:
    """_cpu when no argument is a device array, _cuda when all are; TypeError when mixed."""
    on_gpu = [is_cuda_array(a) for a in arrays if a is not None]
    if not any(on_gpu):
        return _cpu
    if not all(on_gpu):
        raise TypeError("arguments are on different devices: some are numpy (cpu), "
                        "some are device (cuda) arrays; move them to one device first")
    cuda = cuda_module()
    if cuda is None:
        raise RuntimeError("got a CUDA array, but deltagrad was built without CUDA "
                           "(nvcc was not found at build time)")
    return cuda
