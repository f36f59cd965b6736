"""Interleaved timing for speed claims: ours and the peer alternate (A B A B ...) in one process,
and each side keeps its best round, because interference on a shared machine only ever slows a
round down. Every benchmark in bench/ reports its ratio this way."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator


def _calibrate(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one round last at least min_time seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 20:
            return n
        n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.2))


# After a call, OpenBLAS keeps its worker threads spinning for about 100 ms (its THREAD_TIMEOUT,
# 2^28 cycles); on a 2-core machine they take a core from whichever library runs next and halve
# its 2-thread speed (measured: ours 340 -> 150-220 GFLOP/s at 1024^3 for the first ~100 ms
# after numpy.matmul; numpy after ours loses only its first call, libgomp parks within ~1 ms).
# Each side's round therefore starts after `settle` seconds, when every pool has parked.
SETTLE_SECONDS = 0.15


def interleaved(
    fns: dict[str, Callable[[], object]],
    rounds: int = 15,
    min_time: float = 0.02,
    settle: float = SETTLE_SECONDS,
) -> dict[str, dict[str, float]]:
    """Seconds per call of each function: {'name': {'best': s, 'median': s}}.

    Rounds alternate the order of the functions so neither side always runs first; before each
    side's round the machine is left idle for `settle` seconds (see SETTLE_SECONDS).
    """
    for fn in fns.values():  # warm up caches, thread pools, packing buffers
        fn()
    reps = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            fn, n = fns[name], reps[name]
            if settle > 0 and len(fns) > 1:
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    out = {}
    for name, s in samples.items():
        s = sorted(s)
        out[name] = {"best": s[0], "median": s[len(s) // 2]}
    return out


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run deltagrad, NumPy's BLAS and torch (when installed) on n threads."""
    import deltagrad as dg

    old = dg.get_num_threads()
    dg.set_num_threads(n)
    limits = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=n)
    except ImportError:
        pass
    torch_old = None
    try:
        import torch

        torch_old = torch.get_num_threads()
        torch.set_num_threads(n)
    except ImportError:
        torch = None
    try:
        with limits:
            yield
    finally:
        dg.set_num_threads(old)
        if torch_old is not None:
            torch.set_num_threads(torch_old)
