"""The array optimizers' update loop: each step's elementwise ops run chunk by chunk.

An optimizer step is 6-12 elementwise ops over the parameter, its gradient and its state.
Written as whole-array numpy expressions, each op is a pass over memory and most allocate a
temporary of the parameter's size. Here a step is a kernel of in-place ufuncs (out=) run over
matching chunks of the (flattened) arrays, with a few chunk-sized scratch buffers reused across
chunks, parameters and steps: the chunk's working set stays in the cache, so the parameter,
gradient and state go through memory once per step, and nothing is allocated. The ops and their
order are the whole-array ones, so the results are bit for bit the same.

On a GPU (cupy) or with an array that is not C-contiguous the kernel runs once over the whole
arrays with whole-size scratch buffers (cupy's memory pool makes those cheap)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor import get_array_module

__all__ = ["run_chunked", "eff_grad", "kernel_ok"]

# bytes of one array's chunk: measured best of 16 KiB - 1 MiB (smaller chunks pay the ufunc calls'
# overhead, larger ones leave the cache); a kernel's ~6 arrays x 256 KiB stay in L2 / L3
_CHUNK_BYTES = 1 << 18


class _Scratch(threading.local):
    """Per-thread chunk-sized buffers, by dtype (two threads may step two optimizers)."""

    def __init__(self) -> None:
        self.bufs: dict[Any, list[Any]] = {}


_SCRATCH = _Scratch()


def _buffers(dtype: Any, n: int) -> list[Any]:
    """n chunk-sized 1-D buffers of dtype (the first ones of a cached list)."""
    dtype = np.dtype(dtype)
    lst = _SCRATCH.bufs.get(dtype)
    if lst is None or len(lst) < n:
        size = max(1, _CHUNK_BYTES // max(dtype.itemsize, 4))
        lst = [np.empty(size, dtype) for _ in range(n)]
        _SCRATCH.bufs[dtype] = lst
    return lst[:n]


def run_chunked(
    kernel: Callable[..., None],
    arrays: Sequence[Any],
    nscratch: int,
    *args: Any,
    nbool: int = 0,
) -> None:
    """kernel(xp, arrays, scratch, bools, *args) over matching chunks of `arrays` (all of the
    first one's shape; they are updated in place by the kernel), with `nscratch` scratch
    buffers of arrays[0]'s dtype and `nbool` boolean ones, each of the chunk's size."""
    w = arrays[0]
    xp = get_array_module(w)
    if xp is np and all(a.flags.c_contiguous for a in arrays):
        flat = [a.reshape(-1) for a in arrays]
        scratch = _buffers(w.dtype, nscratch)
        bools = _buffers(np.bool_, nbool)
        n = w.size
        step = _CHUNK_BYTES // max(w.dtype.itemsize, 4)
        for i in range(0, n, step):
            j = min(n, i + step)
            m = j - i
            chunks = [f[i:j] for f in flat]
            kernel(np, chunks, [s[:m] for s in scratch], [b[:m] for b in bools], *args)
        return
    scratch = [xp.empty_like(w) for _ in range(nscratch)]
    bools = [xp.empty(w.shape, dtype=bool) for _ in range(nbool)]
    kernel(xp, list(arrays), scratch, bools, *args)


def eff_grad(xp: Any, w: Any, g: Any, t: Any, neg: bool, wd: float) -> Any:
    """The gradient the update uses: g, negated with maximize (neg), plus wd * w where wd != 0,
    written into the scratch t where it is not g itself. wd * w - g is bit for bit
    (-g) + wd * w (IEEE subtraction is addition of the negation, and addition commutes)."""
    if wd != 0:
        xp.multiply(w, wd, out=t)
        if neg:
            xp.subtract(t, g, out=t)
        else:
            xp.add(t, g, out=t)
        return t
    if neg:
        xp.negative(g, out=t)
        return t
    return g


def kernel_ok(*arrays: Any) -> bool:
    """Whether the C++ updates (cpu/optim.h, one pass instead of a chunked ufunc kernel) take
    these arrays: numpy, C-contiguous, aligned, writable where updated, one float dtype, no two
    sharing memory (the kernels refuse what they cannot do; this keeps those to the array
    path instead of raising)."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype not in (np.float32, np.float64):
        return False
    for i, a in enumerate(arrays):
        if not (
            isinstance(a, np.ndarray)
            and a.dtype == first.dtype
            and a.shape == first.shape
            and a.flags.c_contiguous
            and a.flags.aligned
            and (i == 1 or a.flags.writeable)
            and a.dtype.isnative
        ):
            return False
    return not any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])
