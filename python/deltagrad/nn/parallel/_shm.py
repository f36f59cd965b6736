"""Gradient averaging through an MPI-3 shared-memory window, for ranks that share one node.

The intra-node fast path of DistributedDataParallel (reduction="shm"; "auto" picks it when
every rank of the process group is on one node), as NCCL's and torch's intra-node transports
use shared memory where a ring over the network is not needed. It is still MPI, not a
home-made transport: the memory is an MPI-3 shared window (MPI_Win_allocate_shared on the
communicator MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) gives), the peers' segments come from
MPI_Win_shared_query, and the ranks synchronize with MPI_Win_sync + MPI_Barrier in a passive
epoch (MPI_Win_lock_all), the standard's recipe for the unified memory model.

Each rank's segment holds its gradients, one region per dtype (each parameter's .grad is made
a view into it, as torch's gradient_as_bucket_view=True). At the end of backward:

    sync                                    every segment is complete
    rank r: for its 1/N slice of every region, sum = seg[0] + seg[1] + ... + seg[N-1]
            (always in rank order), avg = sum * (1/N), written to every rank's segment
    sync                                    every .grad holds the average

Every slice is computed by one rank and copied to all, so every rank ends with bitwise the
same gradients. Per rank: (N-1)/N of the gradient read from peers and written to peers,
against MPICH's shared-memory all-reduce's copies in and out of its own buffers.

Lifetime: MPI_Win_free is collective, so a window is never freed from a destructor. A window
whose DistributedDataParallel is gone (and whose arrays nobody else holds: the .grad views
are replaced by private copies first) is freed at the next collective point where every rank
agrees: the construction of another DistributedDataParallel on the same group, or
destroy_process_group(). A fork()ed child gets private copies of the .grad views and may not
use the window (it is the parent's shared memory).
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import Any

import numpy as np

_ALIGN = 64  # bytes: each dtype region starts on a cache line
# the reduction runs over chunks of this many bytes (the partial sum stays in L2 between the
# add and the scaled writes to every rank's segment; 2 ranks, 2.68 MB: 16 KiB 0.39 ms of CPU,
# 64 KiB 0.28, 256 KiB 0.24, 1 MiB 0.36, measured under load)
_CHUNK_BYTES = 256 * 1024

# every window this process made, in creation order (the same order on every rank)
_windows: list[_Window] = []


def node_comm(comm: Any) -> Any:
    """The shared-memory communicator of `comm` when every rank of `comm` is on one node, else
    None (collective over comm). Its ranks are comm's, in the same order."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    if node.Get_size() == comm.Get_size():
        return node
    node.Free()
    return None


class _Window:
    """One DistributedDataParallel's shared window: layout, views, the averaging pass."""

    def __init__(self, comm: Any, node: Any, params: list[Any], owner: Any) -> None:
        from mpi4py import MPI

        self.comm = comm  # the process group (freeing is agreed over it)
        self.node = node
        self.rank = rank = int(node.Get_rank())
        self.size = n = int(node.Get_size())
        # layout: one region per dtype, the parameters in the given (bucket) order
        regions: dict[str, list[int]] = {}  # dtype -> [byte offset, elements]
        offsets: list[tuple[str, int]] = []  # per parameter: (dtype, element offset)
        for p in params:
            key = np.dtype(p.data.dtype).str
            reg = regions.setdefault(key, [0, 0])
            offsets.append((key, reg[1]))
            reg[1] += int(p.data.size)
        total = 0
        for key, reg in regions.items():
            reg[0] = total
            total += -(-reg[1] * np.dtype(key).itemsize // _ALIGN) * _ALIGN
        total = max(-(-total // 4096) * 4096, 4096)  # whole pages (no false sharing)
        info = MPI.Info.Create()
        info.Set("alloc_shared_noncontig", "true")
        self.win = MPI.Win.Allocate_shared(total, 1, info=info, comm=node)
        info.Free()
        self._bufs = [self.win.Shared_query(r)[0] for r in range(n)]
        # every array made from a segment has its raw array as .base (numpy collapses views)
        self._raw = raw = [np.frombuffer(b, dtype=np.uint8, count=total) for b in self._bufs]
        typed = [
            {
                k: raw[r][reg[0] : reg[0] + reg[1] * np.dtype(k).itemsize].view(k)
                for k, reg in regions.items()
            }
            for r in range(n)
        ]
        self.inv = 1.0 / n
        self.views = []  # this rank's .grad views, one per parameter
        # the parts of each parameter outside this rank's slice (the peers read them from the
        # window); a parameter with nothing inside is copied whole (whole_outside)
        self.whole_outside: list[bool] = []
        self.pieces: list[list[tuple[Any, int, int]]] = []
        # this rank's 1/N slice of each region, in chunks within one parameter: (parameter,
        # its flat range, every rank's segment there in rank order, scratch)
        self.chunks: list[tuple[int, int, int, list[Any], Any]] = []
        scratch = {
            k: np.empty(max(_CHUNK_BYTES // np.dtype(k).itemsize, 1), dtype=k) for k in regions
        }
        for i, (p, (key, off)) in enumerate(zip(params, offsets)):
            size = int(p.data.size)
            v = typed[rank][key][off : off + size].reshape(p.data.shape)
            v.fill(0)
            self.views.append(v)
            ne = regions[key][1]
            lo, hi = rank * ne // n - off, (rank + 1) * ne // n - off  # local to the parameter
            lo, hi = min(max(lo, 0), size), min(max(hi, 0), size)
            self.whole_outside.append(hi <= lo)
            flat = v.reshape(-1)
            self.pieces.append([(flat[a:b], a, b) for a, b in ((0, lo), (hi, size)) if b > a])
            step = len(scratch[key])
            for a in range(lo, hi, step):
                b = min(a + step, hi)
                segs = [typed[r][key][off + a : off + b] for r in range(n)]
                self.chunks.append((i, a, b, segs, scratch[key][: b - a]))
        self.priv: list[Any] = [None] * len(params)  # this step's private sources (gather)
        self.params = [weakref.ref(p) for p in params]
        self.owner = weakref.ref(owner)
        self.released = False  # the owner let go of it (DDP._detach)
        self.forked = False  # this process is a fork()ed child of the window's process
        self.freed = False
        self.win.Lock_all(MPI.MODE_NOCHECK)
        # the references to the shared memory this object holds itself: more means someone
        # kept a .grad view (or an array made from one), and the window must stay mapped
        typed = raw = segs = v = flat = None  # noqa: F841 (this frame's references go)
        self._baseline = self._refs()
        _windows.append(self)

    def sync(self) -> None:
        """Every rank's writes to the window are visible to every rank (MPI_Win_sync around a
        barrier of the node communicator: the unified memory model's recipe)."""
        self.win.Sync()
        self.node.Barrier()
        self.win.Sync()

    def gather(self, params: list[Any]) -> None:
        """The end of a backward: each parameter's gradient into the window (zeros where none
        came), and .grad = its view. A parameter with a part in this rank's slice copies only
        what lies outside; average() reads the inside from its array (saved in priv)."""
        views, priv, copyto = self.views, self.priv, np.copyto
        for i, p in enumerate(params):
            v = views[i]
            g = p.grad
            if g is v:
                continue
            if g is None:
                v.fill(0)
            elif self.whole_outside[i]:
                copyto(v, g)
            else:
                flat = g.reshape(-1)
                for dst, a, b in self.pieces[i]:
                    copyto(dst, flat[a:b])
                priv[i] = flat
            p.grad = v

    def average(self) -> None:
        """Every rank's segment = the average of all segments (each one's slice by one rank,
        summed in rank order, times 1/N, written to every rank's segment)."""
        self.sync()
        add, mul = np.add, np.multiply
        inv, me, priv = self.inv, self.rank, self.priv
        for i, a, b, segs, t in self.chunks:
            src = segs
            g = priv[i]
            if g is not None:  # this rank's own part, from its gradient array
                src = list(segs)
                src[me] = g[a:b]
            add(src[0], src[1], out=t)
            for s in src[2:]:
                add(t, s, out=t)
            for d in segs:
                mul(t, inv, out=d)
        for i in range(len(priv)):
            priv[i] = None
        self.sync()

    def detach(self) -> None:
        """Each parameter whose .grad is a view into the window gets a private copy."""
        for wp, v in zip(self.params, self.views):
            p = wp()
            if p is not None and p.grad is v:
                p.grad = v.copy()

    def releasable(self) -> bool:
        if self.freed or (not self.released and self.owner() is not None):
            return False
        self.detach()
        return self._refs() <= self._baseline

    def _refs(self) -> int:
        """References to the shared memory: to each raw segment (every array made from it has
        it as .base) and to each .grad view (a held view is one array, counted once in its
        segment's count)."""
        raw, views = self._raw, self.views
        return sum(sys.getrefcount(raw[i]) for i in range(len(raw))) + sum(
            sys.getrefcount(views[i]) for i in range(len(views))
        )

    def free(self) -> None:
        self.views = []
        self.chunks = []
        self.params = []
        self.win.Unlock_all()
        self._raw = []
        self._bufs = []
        self.win.Free()
        self.node.Free()
        self.freed = True


def collect(comm: Any) -> int:
    """Free the windows of process group `comm` that every rank of it can let go of
    (collective over comm: called where every rank is anyway). Returns how many were freed."""
    mine = [w for w in _windows if not w.freed and not w.forked and w.comm == comm]
    if not mine:
        flags: list[bool] = []
    else:
        flags = [w.releasable() for w in mine]
    every = comm.allgather(flags)
    if any(len(f) != len(flags) for f in every):  # the ranks disagree on the windows: keep all
        return 0
    freed = 0
    for i, w in enumerate(mine):
        if all(f[i] for f in every):
            w.free()
            freed += 1
    _windows[:] = [w for w in _windows if not w.freed]
    return freed


def _after_fork_in_child() -> None:
    """A fork()ed child: the window is the parent's shared memory; give every .grad view a
    private copy and mark the windows unusable here."""
    for w in _windows:
        if not w.freed:
            w.forked = True
            w.detach()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
