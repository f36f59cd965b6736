"""Build and runtime facts (dg.info) and thread control, shared by the CPU and CUDA backends."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _cpu, backends
from ._random import initial_seed, manual_seed, seed
from ._version import __version__

__all__ = ["info", "set_num_threads", "get_num_threads", "manual_seed", "seed", "initial_seed"]


# Upper bound of dg.set_num_threads: 4 x the CPUs this process may run on (its affinity mask),
# at least 4. OpenMP creates every requested thread, and libgomp ends the whole process when it
# cannot create one, so an absurd count fails here, cleanly; OMP_NUM_THREADS above the bound is
# clamped at import (with a RuntimeWarning). docs/RELIABILITY.md, "Threads (kernels)".
MAX_THREADS = int(_cpu.max_threads())

if _cpu.requested_threads > MAX_THREADS:
    warnings.warn(
        f"deltagrad: OMP_NUM_THREADS asks for {_cpu.requested_threads} threads, more than the "
        f"bound of {MAX_THREADS} (4 x the CPUs this process may run on): using {MAX_THREADS}",
        RuntimeWarning,
        stacklevel=2,
    )

# DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES override the cache sizes the GEMM blocks for (read
# once, by the C++ side); a value that is not a size is ignored with this warning.
if _cpu.cache_env_warning():
    warnings.warn(f"deltagrad: {_cpu.cache_env_warning()}", RuntimeWarning, stacklevel=2)


def set_num_threads(n: int) -> None:
    """Set how many threads the CPU kernels use (1 <= n <= MAX_THREADS, 4 x the CPUs this
    process may run on; any Python or NumPy integer; ValueError naming the bound above it).
    Takes effect for the next kernel call, from any Python thread.

    Fewer threads are set, with a RuntimeWarning, when the process cannot create n threads now
    (an address-space or process limit) and in a process forked after a parallel region ran
    (libgomp's threads do not survive fork: such a child runs the kernels on 1 thread)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n: expected an int, got {type(n).__name__} {n!r}")
    n = int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"set_num_threads: n: expected n >= 1 and <= {MAX_THREADS}, got {n} (the bound is "
            "4 x the CPUs this process may run on)"
        )
    got, why = _cpu.set_num_threads(n)
    if got < n:
        reason = (
            "this process was forked after a parallel region ran (libgomp's threads do not "
            "survive fork)"
            if why == "forked"
            else "the process cannot create more threads now (an address-space or process limit)"
        )
        warnings.warn(
            f"set_num_threads: using {got} threads, not {n}: {reason}", RuntimeWarning, stacklevel=2
        )


def get_num_threads() -> int:
    """The number of threads the CPU kernels use."""
    return int(_cpu.get_num_threads())


def info() -> dict[str, Any]:
    """What this build of deltagrad is and what it runs on."""
    cuda_compiled = backends.cuda_ops() is not None
    cuda_available = False
    cuda_device = None
    cuda_index = None
    cuda_reason = "deltagrad was built without CUDA (nvcc was not found at build time)"
    if cuda_compiled:
        from .backends import cuda  # noqa: PLC0415  (imported by cuda_ops() above)

        cuda_available, cuda_reason = cuda.availability()
        if cuda_available:
            cuda_index = cuda.current_device()
            cuda_device = cuda.device_name(cuda_index)
    return {
        "version": __version__,
        "cpu_isa": _cpu.active_isa(),
        "cpu_isa_detected": _cpu.detected_isa(),
        "num_threads": get_num_threads(),
        "cache_sizes": dict(_cpu.cache_sizes()),
        "cache_sizes_detected": dict(_cpu.detected_cache_sizes()),
        "cache_source": _cpu.cache_source(),
        # glibc's malloc thresholds, raised at import so results' buffers are reused without
        # page faults (csrc/common/host_memory.h; DG_MALLOC_TUNE=0 leaves glibc's defaults)
        "host_malloc": dict(_cpu.host_malloc()),
        "compiler": _cpu.compiler,
        "build": dict(_cpu.build),
        "cuda_compiled": cuda_compiled,
        "cuda_available": bool(cuda_available),
        "cuda_device": cuda_device,
        "cuda_device_index": cuda_index,  # the current device (dg.info() asks it each call)
        "cuda_status": "available" if cuda_available else cuda_reason,
    }
