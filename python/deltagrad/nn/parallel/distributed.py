"""DistributedDataParallel: torch's DDP (Li et al., VLDB 2020) on MPI.

Every rank holds a replica of the module and trains on its own share of the batch; gradients
are averaged over the ranks during backward, so after backward every replica holds the
gradient of the global batch and the optimizers take the same step.

- Construction: every rank's parameter names, shapes and dtypes are compared (one allgather
  of a small signature: a clear error naming the first mismatch), then rank 0's parameters
  (and, with broadcast_buffers, its buffers) are broadcast (the ranks may start from
  different random weights).
- Buckets (torch's layout): the parameters in reverse order of registration (the order their
  gradients become ready in backward), grouped up to bucket_cap_mb (the first bucket 1 MB, as
  torch's, so communication starts early), one dtype per bucket.
- Backward: each parameter's post-accumulate-grad hook marks it ready; a bucket whose
  parameters are all ready is packed into one flat buffer and its non-blocking all-reduce
  (MPI Iallreduce, SUM) starts, in bucket order (the same collective order on every rank),
  while the backward carries on with the earlier layers. A callback at the end of the backward
  (dg's engine queue_callback) starts the buckets left (parameters that got no gradient
  contribute zeros), waits for every request and writes sum / world_size into each p.grad, in
  place (deltagrad's gradient storage model), before backward() returns.
- Reduction: on one node (reduction="auto" or "shm") the buckets above are replaced by an
  MPI-3 shared-memory window (module _shm): the gradients are averaged at the end of the
  backward by every rank for its 1/N slice, directly in every rank's segment.
- Progress: MPICH advances a non-blocking collective only inside MPI calls. progress="test"
  (the default, measured faster here: docs/DISTRIBUTED.md) calls MPI_Testall from every
  gradient-ready hook, i.e. between layers; progress="thread" hands each request to a
  helper thread that waits on it (MPI_THREAD_MULTIPLE).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES
# A parameter this large is a bucket of its own, all-reduced in place in its .grad: packing
# and unpacking copy every byte twice, which costs more than the all-reduce itself on one
# machine (784-512-512-10 MLP, 2 ranks: 7.7 ms per step packed, 7.2 in place, 6.4 without
# communication); below it, the latency of one more MPI call costs more than the copies.
_DIRECT_BYTES = 64 * 1024


class _Bucket:
    """A group of parameters whose gradients are all-reduced by one call. A bucket of one
    large parameter is reduced in place in its own .grad (`direct`: no copy in, no copy out);
    the others are packed into one flat host buffer and unpacked after."""

    __slots__ = (
        "params",
        "offsets",
        "numel",
        "dtype",
        "_flat",
        "pending",
        "req",
        "launched",
        "direct",
    )

    def __init__(self, params: list[Any], dtype: Any) -> None:
        self.params = params
        self.dtype = dtype
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += int(p.data.size)
        self.numel = n
        self._flat: Any = None  # the packing buffer, made on first use and reused every step
        self.pending = len(params)
        self.req: Any = None
        self.launched = False
        self.direct: Any = None  # the .grad array reduced in place this step, or None

    @property
    def flat(self) -> Any:
        if self._flat is None:
            self._flat = np.empty(self.numel, dtype=self.dtype)
        return self._flat


class _ProgressThread:
    """Drives the requests it is handed while the main thread runs the backward: MPI_Test,
    then a short sleep (off the CPU and the GIL; the GEMMs release the GIL too), until each
    is complete. A busy MPI_Wait would take a core from the compute."""

    poll = 50e-6  # seconds between two MPI_Test calls

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.queue: list[Any] = []
        self.done = 0
        self.handed = 0
        self.thread = threading.Thread(target=self._run, name="ddp-progress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.queue:
                    self.lock.wait()
                req = self.queue.pop(0)
            if req is None:
                return
            while not req.Test():
                time.sleep(self.poll)
            with self.lock:
                self.done += 1
                self.lock.notify_all()

    def hand(self, req: Any) -> None:
        with self.lock:
            self.handed += 1
            self.queue.append(req)
            self.lock.notify_all()

    def wait_all(self) -> None:
        with self.lock:
            while self.done < self.handed:
                self.lock.wait()

    def stop(self) -> None:
        with self.lock:
            self.queue.append(None)
            self.lock.notify_all()


class DistributedDataParallel(Module):
    """Data parallelism over MPI ranks, torch.nn.parallel.DistributedDataParallel's API.

        dist.init_process_group("mpi")
        model = DistributedDataParallel(model)   # rank 0's weights everywhere
        loss_fn(model(x_local), y_local).backward()   # .grad: the average over the ranks
        opt.step()

    module: the replica (`.module`; state_dict keys carry torch's "module." prefix).
    broadcast_buffers: rank 0's buffers (BatchNorm's running statistics) are broadcast at
    construction and before every forward (False: each rank keeps its own, as torch).
    bucket_cap_mb: the bucket size (MB). process_group: an mpi4py communicator (None: the
    default group). no_sync(): a context in which backward accumulates the local gradients
    without communication (gradient accumulation; the next synchronized backward averages the
    sum). find_unused_parameters: a parameter that gets no gradient on a rank contributes zeros
    to the average either way (torch with find_unused_parameters=False would raise); with
    True, as torch, a parameter whose .grad is None on every rank after the backward keeps
    .grad None (one more small all-reduce per backward; with False it gets zeros). device_ids,
    output_device, dim, check_reduction, gradient_as_bucket_view, static_graph: accepted for
    torch's signature (kept as attributes), no effect. progress ("test" or "thread", not in
    torch): how the non-blocking all-reduces progress during backward (see the module's
    docstring). reduction (not in torch): "auto" (default: "shm" when every rank of the group
    is on one node and the parameters are host arrays, else "iallreduce"), "shm" (an MPI-3
    shared-memory window: .grad becomes a view into it, as torch's
    gradient_as_bucket_view=True; module _shm) or "iallreduce" (the bucketed non-blocking
    all-reduces); `.reduction` is the path taken.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        *,
        progress: str = "test",
        reduction: str = "auto",
    ) -> None:
        super().__init__()
        from ... import distributed as dist

        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: module must be a deltagrad.nn.Module, got "
                f"{type(module).__name__}"
            )
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if isinstance(bucket_cap_mb, bool) or not (
            isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0
        ):
            raise ValueError(
                f"DistributedDataParallel: bucket_cap_mb must be a positive number, got "
                f"{bucket_cap_mb!r}"
            )
        if progress not in ("test", "thread"):
            raise ValueError(
                f"DistributedDataParallel: progress must be 'test' or 'thread', got {progress!r}"
            )
        if reduction not in ("auto", "shm", "iallreduce"):
            raise ValueError(
                "DistributedDataParallel: reduction must be 'auto', 'shm' or 'iallreduce', got "
                f"{reduction!r}"
            )
        self.module = module
        comm = dist._world("DistributedDataParallel", process_group)
        if progress == "thread":
            from mpi4py import MPI

            if MPI.Query_thread() != MPI.THREAD_MULTIPLE:
                raise RuntimeError(
                    "DistributedDataParallel: progress='thread' needs MPI initialized with "
                    "MPI_THREAD_MULTIPLE (mpi4py's default); this MPI gives level "
                    f"{MPI.Query_thread()}: use progress='test'"
                )
        object.__setattr__(self, "_comm", comm)
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.progress = progress
        self.world_size = int(comm.Get_size())
        self.rank = int(comm.Get_rank())
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_same_parameters(named)
        self._sync_params_and_buffers()
        self._params = [p for _, p in named]
        self._buckets = self._make_buckets(self._params, float(bucket_cap_mb) * 1024 * 1024)
        self._where: dict[int, tuple[int, int]] = {}  # id(param) -> (bucket, index)
        for b, bucket in enumerate(self._buckets):
            for i, p in enumerate(bucket.params):
                self._where[id(p)] = (b, i)
        self._ready: list[list[bool]] = [[False] * len(b.params) for b in self._buckets]
        self._next = 0  # the next bucket to launch (buckets launch in order)
        self._armed = False  # a synchronized backward is expected (set by forward)
        self._queued = False  # the end-of-backward callback is queued
        self._thread: _ProgressThread | None = None
        self._shm: Any = None  # the shared-memory window (reduction "shm")
        self.reduction = self._choose_reduction(reduction)
        if self.reduction == "shm":
            hooks = [self._make_shm_hook(i) for i in range(len(self._params))]
        else:
            hooks = [self._make_hook(p) for p in self._params]
        self._handles = [
            p.register_post_accumulate_grad_hook(h) for p, h in zip(self._params, hooks)
        ]
        # when the DDP goes: its hooks go, its window is freed at the next collective point
        weakref.finalize(self, _release, self._handles, self._shm)

    # ---- construction ----------------------------------------------------------------------

    def _check_same_parameters(self, named: list[tuple[str, Any]]) -> None:
        sig = [(n, tuple(int(s) for s in p.data.shape), str(p.data.dtype)) for n, p in named]
        sigs = self._comm.allgather(sig)
        ref = sigs[0]
        for r, other in enumerate(sigs):
            if other == ref:
                continue
            for i in range(max(len(ref), len(other))):
                a = ref[i] if i < len(ref) else None
                b = other[i] if i < len(other) else None
                if a != b:
                    raise RuntimeError(
                        "DistributedDataParallel: the ranks' models differ: parameter "
                        f"#{i} is {_describe(a)} on rank 0 but {_describe(b)} on rank {r} "
                        "(every rank must build the same model)"
                    )
        return None

    def _sync_params_and_buffers(self) -> None:
        if self.world_size == 1:
            return
        from ... import distributed as dist

        for _, p in self.module.named_parameters():
            dist.broadcast(p.data, 0, group=self._comm)
        if self.broadcast_buffers:  # torch leaves the buffers alone without it
            self._sync_buffers()

    def _sync_buffers(self) -> None:
        from ... import distributed as dist

        for _, b in self.module.named_buffers():
            if b is not None and b.data is not None:
                dist.broadcast(b.data, 0, group=self._comm)

    def _choose_reduction(self, reduction: str) -> str:
        """'shm' when asked for or ('auto') when every rank of the group is on one node and
        every parameter is a host array; else 'iallreduce'. Collective (every rank decides
        the same)."""
        from ._shm import _Window, collect, node_comm

        if self.world_size == 1 or reduction == "iallreduce":
            return "iallreduce"
        host = all(isinstance(p.data, np.ndarray) for p in self._params)
        if not self._comm.allreduce(int(host), op=_mpi_min()):
            if reduction == "shm":
                raise ValueError(
                    "DistributedDataParallel: reduction='shm' needs host (numpy) parameters on "
                    "every rank; device arrays go through reduction='iallreduce'"
                )
            return "iallreduce"
        collect(self._comm)  # free the windows of models gone (collective)
        node = node_comm(self._comm)
        if node is None:
            if reduction == "shm":
                raise RuntimeError(
                    "DistributedDataParallel: reduction='shm' needs every rank of the process "
                    "group on one node (MPI_COMM_TYPE_SHARED); use 'auto' or 'iallreduce'"
                )
            return "iallreduce"
        params = [p for b in self._buckets for p in b.params]  # the buckets' order
        self._shm = _Window(self._comm, node, params, self)
        self._params = params
        return "shm"

    @staticmethod
    def _make_buckets(params: list[Any], cap: float) -> list[_Bucket]:
        """Reverse registration order, one dtype per bucket, the first one capped at 1 MB."""
        buckets: list[_Bucket] = []
        open_: dict[Any, list[Any]] = {}
        size: dict[Any, int] = {}
        for p in reversed(params):
            if int(p.data.nbytes) >= _DIRECT_BYTES:  # its own bucket, reduced in place
                buckets.append(_Bucket([p], p.data.dtype))
                continue
            key = (str(p.data.dtype), type(p.data).__module__)
            cur = open_.setdefault(key, [])
            cur.append(p)
            size[key] = size.get(key, 0) + int(p.data.nbytes)
            limit = _FIRST_BUCKET_BYTES if not buckets else cap
            if size[key] >= min(limit, cap):
                buckets.append(_Bucket(cur, p.data.dtype))
                open_[key], size[key] = [], 0
        for _key, cur in open_.items():
            if cur:
                buckets.append(_Bucket(cur, cur[0].data.dtype))
        return buckets

    # ---- forward -----------------------------------------------------------------------------

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        from ...tensor import is_grad_enabled

        if self._armed or self._queued:
            if self._shm is not None:  # nothing in flight: the reduction runs at the end
                self._armed = self._queued = False
            else:
                self._finish(discard=True)  # a backward that never ran or raised: start clean
        if self.broadcast_buffers and self.world_size > 1 and self.require_forward_param_sync:
            self._sync_buffers()
        if is_grad_enabled() and self.require_backward_grad_sync and self.world_size > 1:
            self._arm()
        return self.module(*inputs, **kwargs)

    def _arm(self) -> None:
        if self._shm is not None:
            if self._shm.forked:
                raise RuntimeError(
                    "DistributedDataParallel: used in a fork()ed child process; its "
                    "shared-memory window belongs to the parent (build the model in the "
                    "child, or use reduction='iallreduce')"
                )
            self._armed = True
            self._queued = False
            return
        for b, bucket in enumerate(self._buckets):
            bucket.pending = len(bucket.params)
            bucket.launched = False
            bucket.req = None
            bucket.direct = None
            r = self._ready[b]
            for i in range(len(r)):
                r[i] = False
        self._next = 0
        self._armed = True
        self._queued = False

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes in this context accumulate local gradients, no communication."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # ---- backward ----------------------------------------------------------------------------

    def _make_hook(self, p: Any) -> Any:
        key = id(p)
        me = weakref.ref(self)  # the parameters must not keep their DDP alive

        def hook(_t: Any) -> None:
            self = me()
            if self is not None and self._armed:
                self._mark_ready(key)

        return hook

    def _make_shm_hook(self, i: int) -> Any:
        """The shared-memory path's hook: a gradient this rank does not average itself goes
        into its segment while it is hot in the cache, and .grad becomes the view (later
        backwards accumulate there); the others are gathered at the end (_Window.gather)."""
        me = weakref.ref(self)  # the parameters must not keep their DDP alive
        view = self._shm.views[i]
        whole = self._shm.whole_outside[i]

        def hook(t: Any) -> None:
            self = me()
            if self is not None and self._armed:
                if not self._queued:
                    from ..._engine import queue_callback

                    queue_callback(self._finalize_shm)
                    self._queued = True
                if whole:
                    g = t.grad
                    if g is not view and g is not None:
                        np.copyto(view, g)
                        t.grad = view

        return hook

    def _finalize_shm(self) -> None:
        """End of the backward: every .grad into the window (zeros where no gradient came;
        a hook may have replaced an array), then the average (module _shm)."""
        if not self._armed:
            return
        self._armed = False
        self._queued = False
        used = self._has_grad()
        self._shm.gather(self._params)
        self._shm.average()
        self._keep_unused_none(used)

    def _mark_ready(self, key: int) -> None:
        if not self._queued:
            from ..._engine import queue_callback

            queue_callback(self._finalize)
            self._queued = True
        b, i = self._where[key]
        ready = self._ready[b]
        if not ready[i]:
            ready[i] = True
            self._buckets[b].pending -= 1
            if b == self._next and self._buckets[b].pending == 0:
                self._launch_ready()
        if self.progress == "test":
            self._test()

    def _launch_ready(self) -> None:
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            self._launch(buckets[self._next])
            self._next += 1

    def _launch(self, bucket: _Bucket) -> None:
        from mpi4py import MPI

        if len(bucket.params) == 1:  # in place in .grad when it is a plain host array
            p = bucket.params[0]
            g = p.grad
            if g is None and isinstance(p.data, np.ndarray):
                g = p.grad = np.zeros_like(p.data)  # no gradient: it contributes zeros
            if (
                isinstance(g, np.ndarray)
                and g.flags.c_contiguous
                and g.flags.writeable
                and g.dtype == bucket.dtype
            ):
                bucket.direct = g
                self._start(bucket, self._comm.Iallreduce(MPI.IN_PLACE, g, op=MPI.SUM))
                return
        flat = bucket.flat
        for p, o in zip(bucket.params, bucket.offsets):
            g = p.grad
            n = int(p.data.size)
            if g is None:
                flat[o : o + n] = 0
            elif isinstance(g, np.ndarray):
                flat[o : o + n] = g.reshape(-1)
            else:  # a device array: staged through the host buffer
                flat[o : o + n] = g.reshape(-1).get()
        self._start(bucket, self._comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM))

    def _start(self, bucket: Any, req: Any) -> None:
        """Record a bucket's all-reduce request; with progress="thread", hand it over."""
        bucket.req = req
        bucket.launched = True
        if self.progress == "thread":
            if self._thread is None:
                self._thread = _ProgressThread()
            self._thread.hand(req)

    def _test(self) -> None:
        reqs = [b.req for b in self._buckets if b.req is not None]
        if reqs:
            from mpi4py import MPI

            MPI.Request.Testall(reqs)

    def _finalize(self) -> None:
        """End of the backward: start the buckets left, wait, average into every .grad."""
        if not self._armed:
            return
        used = self._has_grad()
        for b in self._buckets:
            b.pending = 0  # parameters without a gradient contribute zeros
        self._launch_ready()
        self._finish(discard=False)
        self._keep_unused_none(used)

    def _has_grad(self) -> Any:
        """With find_unused_parameters: per parameter, whether this rank has a .grad at the
        end of the backward (before the reduction fills in zeros); else None."""
        if not self.find_unused_parameters:
            return None
        return np.array([p.grad is not None for p in self._params], dtype=np.uint8)

    def _keep_unused_none(self, used: Any) -> None:
        """A parameter no rank had a gradient for keeps .grad None (torch's
        find_unused_parameters=True; one process would leave it None too), not zeros, which
        an optimizer's weight decay or momentum would act on. The flags are all-reduced after
        the gradients' collectives, so every rank issues them in the same order."""
        if used is None:
            return
        from mpi4py import MPI

        self._comm.Allreduce(MPI.IN_PLACE, used, op=MPI.MAX)
        for p, u in zip(self._params, used):
            if not u:
                p.grad = None

    def _finish(self, discard: bool) -> None:
        self._armed = False
        self._queued = False
        reqs = [b.req for b in self._buckets if b.req is not None]
        if reqs:
            if self._thread is not None:
                self._thread.wait_all()
            else:
                from mpi4py import MPI

                MPI.Request.Waitall(reqs)
        if discard:
            if any(b.launched for b in self._buckets) and not all(
                b.launched for b in self._buckets
            ):
                # another rank may have started the rest: match them so the collectives stay
                # in step (the result is dropped)
                for b in self._buckets:
                    b.pending = 0
                self._launch_ready()
                self._finish(discard=True)
            for b in self._buckets:
                if b.direct is not None:  # already reduced in place: leave the average
                    np.multiply(b.direct, 1.0 / self.world_size, out=b.direct)
                b.req = None
                b.launched = False
                b.direct = None
            return
        inv = 1.0 / self.world_size  # the sum times 1/N, in the pass that unpacks it
        for b in self._buckets:
            b.req = None
            if b.direct is not None:  # reduced in place: only the 1/N is left
                np.multiply(b.direct, inv, out=b.direct)
                b.direct = None
                continue
            flat = b.flat
            for p, o in zip(b.params, b.offsets):
                n = int(p.data.size)
                src = flat[o : o + n].reshape(p.data.shape)
                g = p.grad
                if isinstance(g, np.ndarray) and g.flags.writeable:
                    np.multiply(src, inv, out=g)  # in place: the gradient storage model
                elif g is None and isinstance(p.data, np.ndarray) or isinstance(g, np.ndarray):
                    p.grad = src * inv
                else:  # a device array: host -> device
                    import cupy

                    avg = cupy.asarray(src * inv)
                    if g is None:
                        p.grad = avg
                    else:
                        g[...] = avg

    # ---- the rest of the API --------------------------------------------------------------

    def _detach(self) -> None:
        """Unregister the gradient hooks (fit's own wrapper, when the run ends)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._armed = False
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._shm is not None:
            self._shm.released = True  # freed at the next collective point (module _shm)

    def __del__(self) -> None:
        t = self.__dict__.get("_thread")
        if t is not None:
            t.stop()

    def extra_repr(self) -> str:
        return (
            f"world_size={self.world_size}, buckets={len(self.__dict__.get('_buckets', []))}, "
            f"bucket_cap_mb={self.bucket_cap_mb}, reduction={self.__dict__.get('reduction')!r}"
        )


def _release(handles: list[Any], shm: Any) -> None:
    for h in handles:
        h.remove()
    if shm is not None:
        shm.released = True


def _mpi_min() -> Any:
    from mpi4py import MPI

    return MPI.MIN


def _describe(sig: Any) -> str:
    if sig is None:
        return "missing"
    name, shape, dtype = sig
    return f"{name!r} of shape {shape} and dtype {dtype}"
