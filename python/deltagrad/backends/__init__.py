"""Which backend runs an op, and the one path that moves arrays between devices.

Backends (each an object or module with the ops contract, ``backends.cuda.OPS``):
- ``backends.cpu``: the compiled ``_cpu`` kernels, for numpy arrays;
- ``backends.cuda``: ``CudaOps`` over the compiled ``_cuda`` kernels, for cupy arrays (imported
  on first use; ``cuda_ops()`` is None when this build has no CUDA);
- ``backends.simt``: the CUDA kernels in the SIMT emulator, for numpy arrays, used by tests
  through ``use_host_backend(simt.ops)``.

dg.ops picks one with ``backend_for(*arrays)``; Tensor.to and every other move between "cpu"
(numpy) and "cuda" (cupy) go through ``to_device``. Nothing here imports the layers above
(ops, tensor, functional, nn).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import cpu
from ._args import is_device_array

__all__ = [
    "DEVICES",
    "device_of",
    "to_device",
    "canonical_device",
    "backend_for",
    "use_host_backend",
    "host_backend_override",
    "cuda_unavailable_reason",
    "require_cuda",
    "cuda_ops",
]

DEVICES = ("cpu", "cuda")

_cuda_backend: Any = False  # the backends.cuda module once looked for; None: import failed
_cuda_import_error = ""


def _cuda_module() -> Any:
    """backends.cuda, or None when it cannot be imported (the reason in _cuda_import_error)."""
    global _cuda_backend, _cuda_import_error
    if _cuda_backend is False:
        try:
            _cuda_backend = importlib.import_module(".cuda", __name__)
        except ImportError as e:  # pragma: no cover - depends on the build
            _cuda_backend, _cuda_import_error = None, str(e)
    return _cuda_backend


def cuda_ops() -> Any:
    """The CUDA ops object (backends.cuda.ops), or None when this build has no CUDA."""
    mod = _cuda_module()
    if mod is None or mod._cuda is None:
        return None
    return mod.ops


def cuda_unavailable_reason() -> str | None:
    """None when CUDA can be used, else why not (for error messages and dg.info())."""
    mod = _cuda_module()
    if mod is None or mod._cuda is None:
        err = _cuda_import_error or (mod.CUDA_IMPORT_ERROR if mod is not None else "")
        return "deltagrad was built without CUDA (nvcc was not found at build time" + (
            f"; importing it failed: {err})" if err else ")"
        )
    ok, reason = mod.availability()
    if not ok:
        return reason
    try:
        import cupy  # noqa: F401, PLC0415
    except ImportError:
        return "cupy is not installed (pip install 'deltagrad[gpu]' or cupy-cuda13x)"
    return None


def require_cuda() -> None:
    """RuntimeError saying why when CUDA cannot be used."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device 'cuda' was requested, but CUDA is not available: {reason}")


def device_of(x: Any) -> str:
    """The device of x: "cuda" for device arrays (cupy, anything with
    __cuda_array_interface__), else "cpu"."""
    return "cuda" if is_device_array(x) else "cpu"


def canonical_device(dev: Any) -> Any:
    """The device name deltagrad's arrays live on, "cpu" or "cuda", for a device given as a
    string, a dg.device or a torch.device: "cuda:0" is "cuda", "cpu:N" is "cpu"; anything
    else comes back unchanged, for the caller's check to refuse ("cuda:1": deltagrad runs on
    the current CUDA device, which is not picked by index)."""
    if dev is None or type(dev) is str and dev in ("cpu", "cuda"):
        return dev
    if not isinstance(dev, str):
        kind = getattr(dev, "type", None)
        if not isinstance(kind, str):
            return dev
        dev = str(dev)  # a torch.device: "cuda:0", "cpu"
    kind, sep, idx = str(dev).partition(":")
    if kind == "cpu" and (not sep or idx.isdigit()):
        return "cpu"
    if kind == "cuda" and (not sep or idx == "0"):
        return "cuda"
    return dev


def to_device(x: Any, device: str) -> Any:
    """x as a numpy array ("cpu") or a cupy array ("cuda"); no copy when already there.
    RuntimeError saying why when "cuda" cannot be used; ValueError for another device name."""
    device = canonical_device(device)
    if device not in DEVICES:
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        if is_device_array(x):
            import cupy  # noqa: PLC0415

            return cupy.asnumpy(x)
        return x
    if is_device_array(x):
        return x
    require_cuda()
    import cupy  # noqa: PLC0415

    return cupy.asarray(x)


# A per-thread override of the backend that numpy arrays go to (None: the CPU kernels). Tests
# set it to the SIMT emulator's ops (`use_host_backend(simt.ops)`), so that the whole stack
# above dg.ops -- Tensor, functional, nn -- runs the csrc/cuda kernels on host arrays.
class _Override(threading.local):
    # The default as a class attribute: a thread that never set one finds it without the
    # AttributeError that getattr(..., None) would raise and swallow (about 0.4 us per op).
    backend: Any = None


_override = _Override()


def host_backend_override() -> Any:
    """The backend numpy arrays are sent to on this thread, or None for the CPU kernels."""
    return getattr(_override, "backend", None)


# How many use_host_backend blocks are open, on all threads: while none is (always, outside
# tests), backend_for skips the thread-local lookup (about 0.1 us per op).
_open_overrides = 0
_open_overrides_lock = threading.Lock()


def _count_override(delta: int) -> None:
    global _open_overrides
    with _open_overrides_lock:
        _open_overrides += delta


@contextlib.contextmanager
def use_host_backend(backend: Any) -> Iterator[None]:
    """Within the block (on this thread), ops on numpy arrays run on `backend` (an object with
    the ops contract, e.g. backends.simt.ops) instead of the CPU kernels."""
    prev = host_backend_override()
    _count_override(1)
    _override.backend = backend
    # the CPU binding's per-thread flag: its fast entries (dg.ops's common case) decline
    cpu.set_host_override(backend is not None)
    try:
        yield
    finally:
        _override.backend = prev
        cpu.set_host_override(prev is not None)
        _count_override(-1)


def backend_for(*arrays: Any) -> Any:
    """backends.cpu (or this thread's host override) when no argument is a device array, the
    CUDA ops when all are; TypeError when mixed, RuntimeError in a build without CUDA."""
    for a in arrays:  # the common case first: numpy arrays (and None) only
        if a is not None and type(a) is not np.ndarray:
            break
    else:
        if not _open_overrides:
            return cpu
        forced = _override.backend
        return cpu if forced is None else forced
    on_gpu = [is_device_array(a) for a in arrays if a is not None]
    if not any(on_gpu):
        forced = host_backend_override()
        return cpu if forced is None else forced
    if not all(on_gpu):
        raise TypeError(
            "arguments are on different devices: some are numpy (cpu), "
            "some are device (cuda) arrays; move them to one device first"
        )
    cuda = cuda_ops()
    if cuda is None:
        raise RuntimeError(
            "got a CUDA array, but deltagrad was built without CUDA "
            "(nvcc was not found at build time)"
        )
    return cuda
