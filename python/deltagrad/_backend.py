"""Which compiled module runs an op: numpy arrays go to _cpu, cupy arrays to _cuda.

The CUDA side is ``_cuda_ops`` (the ops contract over the compiled ``_cuda`` module); it is
imported on first use and is None when this build has no CUDA. ``to_device`` moves arrays
between numpy ("cpu") and cupy ("cuda") for Tensor.to().
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from . import _cpu

_cuda: ModuleType | None | bool = False  # False: not looked for yet
_cuda_import_error: str = ""

DEVICES = ("cpu", "cuda")


def cuda_module() -> ModuleType | None:
    """The CUDA ops module (availability(), device_name(i) and every op of dg.ops), or None
    when this build has no CUDA."""
    global _cuda, _cuda_import_error
    if _cuda is False:
        try:
            ops = importlib.import_module("deltagrad._cuda_ops")
        except ImportError as e:
            ops, _cuda_import_error = None, str(e)
        if ops is not None and ops._cuda is None:  # built without nvcc: no compiled _cuda
            ops, _cuda_import_error = None, ops.CUDA_IMPORT_ERROR
        _cuda = ops
    return _cuda  # type: ignore[return-value]


def cuda_unavailable_reason() -> str | None:
    """None when CUDA can be used, else why not (for error messages and dg.info())."""
    cuda = cuda_module()
    if cuda is None:
        return (
            "deltagrad was built without CUDA (nvcc was not found at build time"
            + (f"; importing it failed: {_cuda_import_error}" if _cuda_import_error else "")
            + ")"
        )
    ok, reason = cuda.availability()
    if not ok:
        return reason
    try:
        import cupy  # noqa: F401, PLC0415
    except ImportError:
        return "cupy is not installed (pip install 'deltagrad[gpu]' or cupy-cuda13x)"
    return None


def require_cuda() -> ModuleType:
    """The CUDA ops module, or RuntimeError saying why CUDA cannot be used."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device 'cuda' was requested, but CUDA is not available: {reason}")
    return cuda_module()  # type: ignore[return-value]


def set_allow_tf32(flag: bool) -> None:
    """Let float32 matmuls on the GPU use TF32 tensor cores (torch's allow_tf32). No effect
    on the CPU, or in a build without CUDA."""
    cuda = cuda_module()
    if cuda is not None:
        cuda.set_allow_tf32(flag)


def get_allow_tf32() -> bool:
    cuda = cuda_module()
    return bool(cuda.get_allow_tf32()) if cuda is not None else False


def is_cuda_array(x: Any) -> bool:
    """True for device arrays (cupy and anything with __cuda_array_interface__)."""
    return hasattr(x, "__cuda_array_interface__")


def device_of(x: Any) -> str:
    return "cuda" if is_cuda_array(x) else "cpu"


def to_device(x: Any, device: str) -> Any:
    """x as a numpy array ("cpu") or a cupy array ("cuda"); no copy when already there."""
    if device not in DEVICES:
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        if is_cuda_array(x):
            import cupy  # noqa: PLC0415

            return cupy.asnumpy(x)
        return x
    require_cuda()
    import cupy  # noqa: PLC0415

    return cupy.asarray(x)


# A per-thread override of the backend that numpy arrays go to (None: the CPU kernels). Tests
# set it to the SIMT emulator's ops (`use_host_backend(_simt_ops.ops)`), so that the whole stack
# above dg.ops -- Tensor, functional, nn -- runs the csrc/cuda kernels on host arrays.
_override = threading.local()


def host_backend_override() -> Any:
    """The backend numpy arrays are sent to on this thread, or None for the CPU kernels."""
    return getattr(_override, "backend", None)


@contextlib.contextmanager
def use_host_backend(backend: Any) -> Iterator[None]:
    """Within the block (on this thread), ops on numpy arrays run on `backend` (an object with
    the ops contract of _cuda_ops.KernelOps, e.g. deltagrad._simt_ops.ops) instead of _cpu."""
    prev = host_backend_override()
    _override.backend = backend
    try:
        yield
    finally:
        _override.backend = prev


def backend_for(*arrays: Any) -> Any:
    """_cpu when no argument is a device array, _cuda when all are; TypeError when mixed."""
    on_gpu = [is_cuda_array(a) for a in arrays if a is not None]
    if not any(on_gpu):
        forced = host_backend_override()
        return _cpu if forced is None else forced
    if not all(on_gpu):
        raise TypeError(
            "arguments are on different devices: some are numpy (cpu), "
            "some are device (cuda) arrays; move them to one device first"
        )
    cuda = cuda_module()
    if cuda is None:
        raise RuntimeError(
            "got a CUDA array, but deltagrad was built without CUDA "
            "(nvcc was not found at build time)"
        )
    return cuda
