"""deltagrad.nn.parallel: DistributedDataParallel (torch.nn.parallel's name), data-parallel
training over MPI ranks. Importing it needs no MPI: mpi4py is imported when a
DistributedDataParallel is built (after dg.distributed.init_process_group)."""

from __future__ import annotations

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
