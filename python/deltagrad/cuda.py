"""deltagrad.cuda: torch.cuda's runtime queries (is_available, device_count, current_device,
get_device_name, synchronize, manual_seed, empty_cache, ...), safe to call without a GPU.

CUDA is available when this build has the CUDA kernels, a device is present and cupy imports
(``deltagrad.backends.cuda_unavailable_reason()``, which dg.info() and Tensor.to("cuda") use
too). Without it, is_available() is False, device_count() 0, manual_seed / manual_seed_all /
empty_cache do nothing and is_initialized() is False, as torch's; the functions that need a
device raise CudaUnavailableError, a RuntimeError (torch's error in a CUDA build without a GPU)
that is also an AssertionError (torch's "Torch not compiled with CUDA enabled")."""

from __future__ import annotations

import sys
from typing import Any

from . import backends
from ._device import device

__all__ = [
    "CudaUnavailableError",
    "is_available",
    "device_count",
    "current_device",
    "set_device",
    "get_device_name",
    "synchronize",
    "manual_seed",
    "manual_seed_all",
    "empty_cache",
    "is_initialized",
    "init",
]


class CudaUnavailableError(RuntimeError, AssertionError):
    """CUDA was needed but cannot be used (the message says why)."""


_initialized = False


def is_available() -> bool:
    """True when deltagrad can run on a CUDA device (built with CUDA, a device present, cupy
    importable)."""
    return backends.cuda_unavailable_reason() is None


def _require(fn: str) -> Any:
    """backends.cuda (the compiled module's wrapper), or CudaUnavailableError saying why."""
    global _initialized
    reason = backends.cuda_unavailable_reason()
    if reason is not None:
        raise CudaUnavailableError(f"cuda.{fn}: CUDA is not available: {reason}")
    _initialized = True
    from .backends import cuda as cuda_backend  # noqa: PLC0415  (imported by the check)

    return cuda_backend


def device_count() -> int:
    """The number of CUDA devices deltagrad can use (0 when CUDA is not available)."""
    if not is_available():
        return 0
    from .backends import cuda as cuda_backend  # noqa: PLC0415

    return int(cuda_backend.device_count())


def current_device() -> int:
    """The index of this thread's current CUDA device (the one cupy and the kernels use)."""
    return int(_require("current_device").current_device())


def _index(dev: Any, fn: str) -> int:
    """The device index of an int, a "cuda[:i]" string, a dg.device or None (the current one);
    ValueError for a device of another type, torch's AssertionError ("Invalid device id") out
    of range."""
    backend = _require(fn)
    if dev is None:
        return int(backend.current_device())
    if isinstance(dev, int) and not isinstance(dev, bool):
        idx = int(dev)
    else:
        d = device(dev)  # a string, dg.device or torch.device; TypeError for anything else
        if d.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {d}")
        idx = int(backend.current_device()) if d.index is None else d.index
    if not 0 <= idx < int(backend.device_count()):
        raise AssertionError(f"cuda.{fn}: Invalid device id {idx}")
    return idx


def set_device(dev: Any) -> None:
    """Make `dev` (an int, "cuda:i" or a dg.device) this thread's current CUDA device."""
    idx = _index(dev, "set_device")
    import cupy  # noqa: PLC0415

    cupy.cuda.Device(idx).use()


def get_device_name(device: Any = None) -> str:  # noqa: A002  (torch's name)
    """The name of CUDA device `device` (default: the current one)."""
    from .backends import cuda as cuda_backend  # noqa: PLC0415

    return str(cuda_backend.device_name(_index(device, "get_device_name")))


def synchronize(device: Any = None) -> None:  # noqa: A002
    """Wait until every kernel queued on `device` (default: the current one) has finished."""
    idx = _index(device, "synchronize")
    import cupy  # noqa: PLC0415

    cupy.cuda.Device(idx).synchronize()


def _seed(seed: Any, fn: str) -> int:
    """torch.cuda.manual_seed's conversion: int(seed) (so '3' and 2.5 are taken, 'x' is a
    ValueError)."""
    try:
        return int(seed)
    except (TypeError, ValueError) as e:
        raise type(e)(f"cuda.{fn}: seed: {e}") from None


def manual_seed(seed: Any) -> None:
    """torch.cuda.manual_seed: nothing to seed in deltagrad, so a no-op (after torch's int()
    check of seed). Every random draw for a GPU tensor (rand / randn / dropout / init on
    "cuda") is made from deltagrad's one host generator and then moved to the device, so
    dg.manual_seed already seeds them."""
    _seed(seed, "manual_seed")


def manual_seed_all(seed: Any) -> None:
    """torch.cuda.manual_seed_all: a no-op, as manual_seed (see there)."""
    _seed(seed, "manual_seed_all")


def empty_cache() -> None:
    """Return the cached, unused blocks of cupy's memory pools to the driver (deltagrad's GPU
    arrays are cupy's). Nothing to do when cupy was never loaded."""
    if "cupy" not in sys.modules or not is_available():
        return
    cupy = sys.modules["cupy"]
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def init() -> None:
    """torch.cuda.init: make CUDA ready (CudaUnavailableError when it cannot be used)."""
    _require("init")
    import cupy  # noqa: PLC0415

    cupy.cuda.Device(current_device()).use()


def is_initialized() -> bool:
    """Whether CUDA has been set up in this process: by a dg.cuda call that needed a device, or
    by deltagrad putting an array on the GPU (which loads cupy)."""
    return _initialized or ("cupy" in sys.modules and is_available())
