"""deltagrad.distributed (dg.distributed): collectives over MPI, torch.distributed's names.

    # mpiexec -n 4 python train.py
    import deltagrad.distributed as dist
    dist.init_process_group("mpi")          # rank and world size come from mpiexec / srun
    dist.all_reduce(t, op=dist.ReduceOp.AVG) # in place, on a Tensor or an array
    model = dg.nn.parallel.DistributedDataParallel(model)

MPI through mpi4py (any MPI: MPICH, Open MPI, Intel MPI; `pip install "deltagrad[distributed]"`
brings mpi4py and MPICH's wheel, whose mpiexec runs a job on one machine). Importing this module
needs nothing; init_process_group imports mpi4py, which initializes MPI. `group` arguments take
an mpi4py communicator (None: every rank, MPI.COMM_WORLD).

Faults: init_process_group installs a sys.excepthook that prints the failing rank's traceback
and calls MPI_Abort, so an exception on one rank ends the whole job (non-zero exit) instead of
leaving the others waiting in a collective. GPU (cupy) arrays are staged through host memory,
unless mpi4py reports a CUDA-aware MPI (then they go to MPI directly). See docs/DISTRIBUTED.md.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import numpy as np

__all__ = [
    "ReduceOp",
    "is_available",
    "is_initialized",
    "init_process_group",
    "destroy_process_group",
    "abort",
    "get_rank",
    "get_world_size",
    "get_backend",
    "barrier",
    "all_reduce",
    "broadcast",
    "all_gather",
    "reduce",
    "cuda_aware",
]

_INSTALL = (
    'pip install "deltagrad[distributed]" (mpi4py, and MPICH as the MPI for a laptop or CI; on '
    "a cluster install mpi4py against the system MPI: "
    "env MPICC=mpicc pip install --no-binary mpi4py mpi4py)"
)


class ReduceOp:
    """The reductions all_reduce and reduce know (torch.distributed.ReduceOp's names). AVG:
    floating point only; BAND, BOR, BXOR: integers and bool; complex: SUM, AVG, PRODUCT."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


_OPS = ("sum", "avg", "product", "max", "min", "band", "bor", "bxor")


class _DistError(ValueError, RuntimeError):
    """Misuse of the process group or of a collective's arguments: a ValueError, as torch
    raises for a missing or doubly initialized process group, and a RuntimeError, as gloo
    raises for a bad root rank or output list (and deltagrad raised before)."""


class _Work:
    """What a collective returns with async_op=True (torch's Work): deltagrad's collectives
    run to completion before returning, so it is already complete."""

    def __init__(self, result: list[Any]) -> None:
        self._result = result

    def wait(self, timeout: Any = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True

    def is_success(self) -> bool:
        return True

    def exception(self) -> None:
        return None

    def result(self) -> list[Any]:
        return self._result

    def synchronize(self) -> None:
        return None


def _done(async_op: bool, *tensors: Any) -> _Work | None:
    """None, as torch's collectives return; a completed _Work when async_op is set."""
    return _Work(list(tensors)) if async_op else None


# the process group: the communicator, and the excepthook it replaced
_comm: Any = None
_prev_excepthook: Any = None


def _mpi() -> Any:
    """mpi4py's MPI module (importing it initializes MPI), or an ImportError naming the extra."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            f"deltagrad.distributed needs mpi4py and an MPI library: {_INSTALL}"
        ) from e
    return MPI


def is_available() -> bool:
    """True when mpi4py can be imported (does not initialize anything)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return _comm is not None


def _world(where: str, group: Any = None) -> Any:
    if group is not None:
        return group
    if _comm is None:
        raise _DistError(
            f"deltagrad.distributed.{where}: the default process group has not been "
            "initialized; call deltagrad.distributed.init_process_group() first"
        )
    return _comm


def _abort_hook(exc_type: Any, exc: Any, tb: Any) -> None:
    """sys.excepthook while a process group exists: report the rank, then MPI_Abort the job."""
    comm = _comm
    rank = comm.Get_rank() if comm is not None else "?"
    size = comm.Get_size() if comm is not None else "?"
    try:
        sys.stderr.write(f"deltagrad.distributed: rank {rank} of {size} raised an exception:\n")
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        sys.stderr.write(
            f"deltagrad.distributed: rank {rank} aborts the job (MPI_Abort) so no rank waits "
            "forever\n"
        )
        sys.stderr.flush()
        sys.stdout.flush()
        # The process manager forwards our stderr through a pipe; MPI_Abort has it kill every
        # rank, and a message still in that pipe can be lost (the likely cause of one failure in
        # ~20 runs of the crash test on a loaded machine). A quarter second lets it through.
        time.sleep(0.25)
    finally:
        if comm is not None and not issubclass(exc_type, KeyboardInterrupt):
            abort(1)
        elif _prev_excepthook is not None:
            _prev_excepthook(exc_type, exc, tb)


def abort(code: int = 1) -> None:
    """End the whole job now (MPI_Abort) with exit status `code`: for an error on one rank that
    the others cannot know about. Does not return (MPICH's MPI_Abort may return once the
    process manager was told: the process then leaves with os._exit)."""
    comm = _comm
    try:
        if comm is not None:
            comm.Abort(int(code))
        else:
            _mpi().COMM_WORLD.Abort(int(code))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))


def init_process_group(
    backend: str | None = "mpi",
    init_method: str | None = None,
    timeout: Any = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    *,
    abort_on_exception: bool = True,
) -> None:
    """Join the job: MPI gives the rank and the world size (mpiexec, srun, or a single
    process). backend: "mpi" (None means "mpi"); world_size / rank, when given, must be what
    MPI says. init_method, timeout, store, group_name, pg_options are accepted for torch's
    signature and ignored (MPI's launcher does the rendezvous). abort_on_exception (not in
    torch): install the excepthook that MPI_Aborts the job when a rank raises."""
    global _comm, _prev_excepthook
    if backend is None:
        backend = "mpi"
    if not isinstance(backend, str) or backend.lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not supported; deltagrad runs on "
            "backend='mpi' (NCCL and Gloo are not implemented: see docs/DISTRIBUTED.md)"
        )
    if _comm is not None:
        raise _DistError(
            "init_process_group: the default process group is already initialized (trying "
            "to initialize it twice; destroy_process_group() first)"
        )
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    for value, actual, name in (
        (world_size, comm.Get_size(), "world_size"),
        (rank, comm.Get_rank(), "rank"),
    ):
        if value is not None and int(value) != -1 and int(value) != actual:
            raise ValueError(
                f"init_process_group: {name}={value} but MPI says {actual} (mpiexec -n sets "
                "the world size; leave world_size and rank at -1)"
            )
    _comm = comm
    if abort_on_exception:
        _prev_excepthook = sys.excepthook
        sys.excepthook = _abort_hook


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group (MPI itself is finalized by mpi4py at exit); restores the
    excepthook. Collective when a DistributedDataParallel used shared memory: the windows
    of the models that are gone are freed (MPI_Win_free), their .grad arrays copied out."""
    global _comm, _prev_excepthook
    if group is not None:
        return
    shm = sys.modules.get("deltagrad.nn.parallel._shm")
    if shm is not None and _comm is not None and any(not w.freed for w in shm._windows):
        import gc

        gc.collect()  # models in reference cycles (their hooks hold them) are gone now
        shm.collect(_comm)
    if _prev_excepthook is not None and sys.excepthook is _abort_hook:
        sys.excepthook = _prev_excepthook
    _prev_excepthook = None
    _comm = None


def get_rank(group: Any = None) -> int:
    return int(_world("get_rank", group).Get_rank())


def get_world_size(group: Any = None) -> int:
    return int(_world("get_world_size", group).Get_size())


def get_backend(group: Any = None) -> str:
    _world("get_backend", group)
    return "mpi"


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> _Work | None:
    _world("barrier", group).Barrier()
    return _done(async_op)


# ---- buffers: arrays in, MPI buffers out ----------------------------------------------------


_cuda_aware: bool | None = None


def cuda_aware() -> bool:
    """True when the MPI library takes device (CUDA) buffers: DG_MPI_CUDA_AWARE=1 / 0 decides,
    else the library's MPIX_Query_cuda_support() (Open MPI's and MPICH's extension; mpi4py does
    not wrap it, so it is looked up in the MPI library mpi4py loaded). False when unknown."""
    global _cuda_aware
    env = os.environ.get("DG_MPI_CUDA_AWARE")
    if env in ("0", "1"):
        return env == "1"
    if _cuda_aware is None:
        MPI = _mpi()
        try:
            import ctypes

            fn = getattr(ctypes.CDLL(MPI.__file__), "MPIX_Query_cuda_support", None)
            if fn is not None:
                fn.restype = ctypes.c_int
            _cuda_aware = bool(fn()) if fn is not None else False
        except OSError:  # mpi4py's extension cannot be opened by ctypes (a static build)
            _cuda_aware = False
    return _cuda_aware


def _array(x: Any, where: str, what: str = "tensor") -> Any:
    from .tensor import Tensor

    a = x.data if isinstance(x, Tensor) else x
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise TypeError(
            f"deltagrad.distributed.{where}: {what} must be a Tensor or an array, got "
            f"{type(x).__name__}"
        )
    return a


class _Staged:
    """An MPI-ready buffer for array `a`: `a` itself (a contiguous host array, or a device
    array with a CUDA-aware MPI) or a contiguous host copy written back by `done()`."""

    __slots__ = ("a", "buf", "copy")

    def __init__(self, a: Any, read: bool = True) -> None:
        self.a = a
        host = isinstance(a, np.ndarray)
        if host and a.flags.c_contiguous and a.flags.writeable:
            self.buf, self.copy = a, False
        elif not host and a.flags.c_contiguous and cuda_aware():
            self.buf, self.copy = a, False
        else:
            if host:
                self.buf = np.ascontiguousarray(a) if read else np.empty(a.shape, a.dtype)
                if self.buf is a:
                    self.buf = a.copy()
            else:  # cupy: device -> host
                self.buf = a.get() if read else np.empty(a.shape, a.dtype)
            self.copy = True

    def done(self) -> None:
        if not self.copy:
            return
        if isinstance(self.a, np.ndarray):
            self.a[...] = self.buf
        else:  # host -> device
            import cupy

            self.a[...] = cupy.asarray(self.buf)


def _mpi_op(op: Any, dtype: Any, where: str) -> tuple[Any, bool, bool]:
    """(the MPI op, whether it is AVG, whether a bool array goes as uint8) for `op` on an array
    of `dtype`; a clear error, before any communication, for a pair MPI cannot reduce."""
    name = getattr(op, "name", op)
    name = name.lower() if isinstance(name, str) else name
    if name not in _OPS:
        raise ValueError(
            f"deltagrad.distributed.{where}: op must be one of ReduceOp.SUM, AVG, PRODUCT, MAX, "
            f"MIN, BAND, BOR, BXOR, got {op!r}"
        )
    dt = np.dtype(dtype)
    if name == "avg" and not np.issubdtype(dt, np.inexact):
        raise TypeError(
            f"deltagrad.distributed.{where}: ReduceOp.AVG needs a floating-point tensor, got {dt}"
        )
    if np.issubdtype(dt, np.complexfloating) and name not in ("sum", "avg", "product"):
        raise ValueError(
            f"deltagrad.distributed.{where}: ReduceOp.{name.upper()} is not defined on complex "
            f"tensors ({dt})"
        )
    if name in ("band", "bor", "bxor") and dt.kind not in "biu":
        raise _DistError(
            f"deltagrad.distributed.{where}: ReduceOp.{name.upper()} needs an integer or bool "
            f"tensor, got {dt}"
        )
    MPI = _mpi()
    if dt == np.bool_:  # as 0 / 1 bytes; as torch, SUM and MAX are or, PRODUCT and MIN are and
        or_, and_ = MPI.MAX, MPI.MIN
        ops = {"sum": or_, "max": or_, "bor": or_, "product": and_, "min": and_, "band": and_}
        return ops.get(name, MPI.BXOR), False, True
    ops = {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}
    ops.update({"band": MPI.BAND, "bor": MPI.BOR, "bxor": MPI.BXOR})
    return ops[name], name == "avg", False


def all_reduce(
    tensor: Any, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> _Work | None:
    """Reduce `tensor` (a Tensor or an array) over every rank, in place: the result is on
    every rank. ReduceOp.AVG is the sum divided by the world size (floating point only).
    async_op=True returns a completed Work (the reduction has run)."""
    comm = _world("all_reduce", group)
    a = _array(tensor, "all_reduce")
    mop, avg, as_bytes = _mpi_op(op, a.dtype, "all_reduce")
    if a.size == 0:
        return _done(async_op, tensor)
    MPI = _mpi()
    s = _Staged(a)
    comm.Allreduce(MPI.IN_PLACE, s.buf.view(np.uint8) if as_bytes else s.buf, op=mop)
    if avg:
        s.buf /= comm.Get_size()
    s.done()
    return _done(async_op, tensor)


def reduce(
    tensor: Any, dst: int = 0, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> _Work | None:
    """Reduce `tensor` over every rank into rank `dst`'s `tensor`, in place (torch's reduce);
    the other ranks' tensors are left as they were."""
    comm = _world("reduce", group)
    a = _array(tensor, "reduce")
    mop, avg, as_bytes = _mpi_op(op, a.dtype, "reduce")
    root = _root(dst, comm, "reduce", "dst")
    if a.size == 0:
        return _done(async_op, tensor)
    MPI = _mpi()
    if comm.Get_rank() == root:
        s = _Staged(a)
        comm.Reduce(MPI.IN_PLACE, s.buf.view(np.uint8) if as_bytes else s.buf, op=mop, root=root)
        if avg:
            s.buf /= comm.Get_size()
        s.done()
    else:
        send = np.ascontiguousarray(a.get() if not isinstance(a, np.ndarray) else a)
        comm.Reduce(send.view(np.uint8) if as_bytes else send, None, op=mop, root=root)
    return _done(async_op, tensor)


def _root(rank: Any, comm: Any, where: str, what: str) -> int:
    size = comm.Get_size()
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < size:
        raise _DistError(
            f"deltagrad.distributed.{where}: {what} must be a rank in [0, {size}), got {rank!r}"
        )
    return int(rank)


def broadcast(tensor: Any, src: int = 0, group: Any = None, async_op: bool = False) -> _Work | None:
    """Copy rank `src`'s `tensor` into every rank's `tensor` (same shape and dtype), in place."""
    comm = _world("broadcast", group)
    a = _array(tensor, "broadcast")
    src = _root(src, comm, "broadcast", "src")
    if a.size == 0:
        return _done(async_op, tensor)
    s = _Staged(a, read=comm.Get_rank() == src)
    comm.Bcast(s.buf, root=src)
    s.done()
    return _done(async_op, tensor)


def all_gather(
    tensor_list: list[Any], tensor: Any, group: Any = None, async_op: bool = False
) -> _Work | None:
    """tensor_list[r] = rank r's `tensor`, on every rank (torch's all_gather): tensor_list
    holds world-size tensors (or arrays) of tensor's shape and dtype, written in place."""
    comm = _world("all_gather", group)
    a = _array(tensor, "all_gather")
    size = comm.Get_size()
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != size:
        raise _DistError(
            f"deltagrad.distributed.all_gather: tensor_list must be a list of {size} tensors "
            f"(the world size), got {type(tensor_list).__name__} of length "
            f"{len(tensor_list) if hasattr(tensor_list, '__len__') else '?'}"
        )
    outs = [_array(t, "all_gather", "tensor_list[i]") for t in tensor_list]
    for i, o in enumerate(outs):
        if tuple(o.shape) != tuple(a.shape) or o.dtype != a.dtype:
            raise _DistError(
                f"deltagrad.distributed.all_gather: tensor_list[{i}] has shape "
                f"{tuple(o.shape)} and dtype {o.dtype}; expected tensor's {tuple(a.shape)}, "
                f"{a.dtype}"
            )
    send = np.ascontiguousarray(a.get() if not isinstance(a, np.ndarray) else a)
    recv = np.empty((size, *a.shape), dtype=send.dtype)
    comm.Allgather(send, recv)
    for o, r in zip(outs, recv):
        if isinstance(o, np.ndarray):
            o[...] = r
        else:
            o.set(np.ascontiguousarray(r))
    return _done(async_op, *tensor_list)
