"""One MPI rank of tests/test_distributed_r30.py: `mpiexec -n 2 python distributed_worker_r30.py`.

Checks dg.distributed and DistributedDataParallel against torch.distributed's semantics (each
raises on a mismatch; the job then aborts with a non-zero exit): every ReduceOp on float32,
float64, int64, int8, bool and complex arrays, results in place (Tensors, non-contiguous views,
size-0 and 0-d arrays), reduce, async_op's Work, torch's exception types; DDP's gradients
against one process with the global batch (float64, 1e-12) on both reduction paths,
broadcast_buffers, find_unused_parameters, no_sync, torch's attributes and state_dict keys.
Prints "worker ok <rank>" at the end.
"""

from __future__ import annotations

import numpy as np

import deltagrad as dg
import deltagrad.distributed as dist
from deltagrad import nn, optim
from deltagrad.nn.parallel import DistributedDataParallel as DDP


def raises(types: tuple[type, ...], fn, *args, **kwargs) -> BaseException:
    """fn(*args) raises an instance of every type in `types` (torch's and deltagrad's)."""
    try:
        fn(*args, **kwargs)
    except Exception as e:
        if not all(isinstance(e, t) for t in types):
            raise AssertionError(f"{fn.__name__} raised {type(e).__name__}, not {types}") from e
        return e
    raise AssertionError(f"{fn.__name__}{args} did not raise")


# ---- collectives ----------------------------------------------------------------------------


def check_all_reduce_ops() -> None:
    """Every op on every dtype torch (gloo) takes, against numpy's reduction of every rank's
    values; bool as torch: SUM and MAX are or, PRODUCT and MIN are and."""
    rank, n = dist.get_rank(), dist.get_world_size()
    values = [np.array([r + 1, 2 * r + 3, 5 - r, 6]) for r in range(n)]
    numeric = {
        "sum": lambda v: np.sum(v, axis=0),
        "product": lambda v: np.prod(v, axis=0),
        "max": lambda v: np.max(v, axis=0),
        "min": lambda v: np.min(v, axis=0),
        "avg": lambda v: np.mean(v, axis=0),
        "band": lambda v: np.bitwise_and.reduce(v, axis=0),
        "bor": lambda v: np.bitwise_or.reduce(v, axis=0),
        "bxor": lambda v: np.bitwise_xor.reduce(v, axis=0),
    }
    for dtype in (np.float32, np.float64, np.int64, np.int8, np.complex128):
        dt = np.dtype(dtype)
        for name, ref in numeric.items():
            op = getattr(dist.ReduceOp, name.upper())
            x = values[rank].astype(dt)
            if name == "avg" and dt.kind in "iu":
                raises((TypeError,), dist.all_reduce, x, op=op)
                continue
            if dt.kind == "c" and name not in ("sum", "avg", "product"):
                raises((ValueError,), dist.all_reduce, x, op=op)  # torch: ValueError
                continue
            if name in ("band", "bor", "bxor") and dt.kind not in "iu":
                raises((RuntimeError, ValueError), dist.all_reduce, x, op=op)  # gloo: Runtime
                continue
            want = ref(np.stack([v.astype(dt) for v in values])).astype(dt)
            assert dist.all_reduce(x, op=op) is None
            assert x.dtype == dt and np.array_equal(x, want), (dt, name, x, want)
    flags = [np.array([True, False, r == 0, False]) for r in range(n)]
    logic = {
        "sum": np.logical_or,
        "max": np.logical_or,
        "bor": np.logical_or,
        "product": np.logical_and,
        "min": np.logical_and,
        "band": np.logical_and,
        "bxor": np.logical_xor,
    }
    for name, ufunc in logic.items():
        x = flags[rank].copy()
        dist.all_reduce(x, op=getattr(dist.ReduceOp, name.upper()))
        want = ufunc.reduce(np.stack(flags), axis=0)
        assert x.dtype == np.bool_ and np.array_equal(x, want), (name, x, want)
    raises((TypeError,), dist.all_reduce, flags[rank].copy(), op=dist.ReduceOp.AVG)


def check_in_place() -> None:
    """torch's collectives work in place: a Tensor keeps its array, a view writes through to
    its base (non-contiguous too), size-0 and 0-d tensors work."""
    rank, n = dist.get_rank(), dist.get_world_size()
    total = n * (n - 1) // 2  # sum of the ranks
    t = dg.tensor(np.arange(6.0) + rank)
    arr = t.data
    dist.all_reduce(t)
    assert t.data is arr and np.array_equal(arr, n * np.arange(6.0) + total)
    base = np.zeros((4, 3), np.float32) + rank
    view = base[:, 1]  # non-contiguous
    dist.all_reduce(view, op=dist.ReduceOp.MAX)
    assert np.array_equal(base[:, 1], np.full(4, n - 1.0)) and np.all(base[:, [0, 2]] == rank)
    tv = dg.tensor(np.arange(8.0) + rank)
    half = tv[::2]
    dist.all_reduce(half)
    assert np.array_equal(half.data, n * np.arange(0.0, 8.0, 2) + total)
    assert np.array_equal(tv.data[1::2], np.arange(1.0, 8.0, 2) + rank)  # untouched
    for dtype in (np.float32, np.float64, np.int64):
        z = dg.tensor(np.zeros((0, 3), dtype))
        dist.all_reduce(z)
        dist.broadcast(z, 1)
        outs = [np.zeros((0, 3), dtype) for _ in range(n)]
        dist.all_gather(outs, z)
        assert z.data.shape == (0, 3) and z.data.dtype == dtype
    s = dg.tensor(np.array(2.0 + rank))
    dist.all_reduce(s, op=dist.ReduceOp.PRODUCT)
    assert s.data.shape == () and float(s.data) == float(np.prod([2.0 + r for r in range(n)]))
    b = np.full((3, 2), rank, np.int64)
    dist.broadcast(b[:, 0], src=n - 1)  # non-contiguous
    assert np.array_equal(b[:, 0], np.full(3, n - 1)) and np.all(b[:, 1] == rank)


def check_reduce() -> None:
    """reduce: the result on dst only (the others keep their tensor), every op, any dst."""
    rank, n = dist.get_rank(), dist.get_world_size()
    for dst in range(n):
        x = dg.tensor(np.array([1.0, 2.0, 3.0]) * (rank + 1))
        before = x.data.copy()
        assert dist.reduce(x, dst=dst) is None
        want = np.array([1.0, 2.0, 3.0]) * sum(r + 1 for r in range(n))
        assert np.array_equal(x.data, want if rank == dst else before), (dst, x.data)
    y = np.array([rank + 1, 7], np.int64)
    dist.reduce(y, 0, op=dist.ReduceOp.MAX)
    assert np.array_equal(y, [n, 7] if rank == 0 else [rank + 1, 7])
    f = np.array([rank == 0, True])
    dist.reduce(f, n - 1, op=dist.ReduceOp.MIN)
    assert np.array_equal(f, [False, True] if rank == n - 1 else [rank == 0, True])
    raises((RuntimeError, ValueError), dist.reduce, np.ones(2), n)
    raises((RuntimeError, ValueError), dist.reduce, np.ones(2), -1)


def check_async_and_errors() -> None:
    """async_op=True returns a (completed) Work whose wait() is True, as torch's; torch's
    exception types for misuse."""
    rank, n = dist.get_rank(), dist.get_world_size()
    t = np.ones(3)
    works = [
        dist.all_reduce(t, async_op=True),
        dist.broadcast(t, 0, async_op=True),
        dist.all_gather([np.empty(3) for _ in range(n)], t, async_op=True),
        dist.reduce(t, 0, async_op=True),
        dist.barrier(async_op=True),
    ]
    for w in works:
        assert w is not None and w.wait() is True and w.is_completed() and w.is_success()
    assert dist.barrier() is None and dist.broadcast(t, 0) is None
    raises((RuntimeError, ValueError), dist.broadcast, t, n)
    raises((RuntimeError, ValueError), dist.all_gather, [t], t)
    raises((RuntimeError, ValueError), dist.all_gather, [np.ones(4)] * n, t)
    raises((RuntimeError, ValueError), dist.init_process_group, "mpi")  # twice
    raises((ValueError,), dist.all_reduce, t, op="nope")
    assert dist.is_initialized() and dist.get_rank() == rank and dist.get_world_size() == n
    assert dist.get_backend() == "mpi"


def check_destroy_and_init_again() -> None:
    rank = dist.get_rank()
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    raises((RuntimeError, ValueError), dist.get_rank)
    raises((RuntimeError, ValueError), dist.all_reduce, np.ones(2))
    raises((RuntimeError, ValueError), DDP, nn.Linear(2, 2))
    dist.init_process_group("mpi")
    assert dist.is_initialized() and dist.get_rank() == rank


# ---- DistributedDataParallel ----------------------------------------------------------------


def build(seed: int) -> nn.Module:
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def check_gradients_are_the_global_batch(reduction: str) -> None:
    """Different initial weights and data per rank: after construction every rank holds rank
    0's weights, after backward the gradient of the global batch (one process), to 1e-12."""
    rank, n = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(7)
    B = 3
    X, Y = rng.standard_normal((n * B, 5)), rng.standard_normal((n * B, 3))
    ref = build(0)
    nn.MSELoss()(ref(dg.tensor(X)), dg.tensor(Y)).backward()
    model = build(rank)  # rank 0's weights must win
    ddp = DDP(model, reduction=reduction, bucket_cap_mb=0.0001)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert np.array_equal(p.data, q.data), f"{name}: not rank 0's weights"
    rows = slice(rank * B, (rank + 1) * B)
    nn.MSELoss()(ddp(dg.tensor(X[rows])), dg.tensor(Y[rows])).backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        err = float(np.max(np.abs(p.grad - q.grad)))
        assert err <= 1e-12, f"{reduction}: {name}'s gradient differs by {err:g}"


def check_buffers(reduction: str) -> None:
    """broadcast_buffers=True: rank 0's buffers at construction and before every forward;
    False: each rank keeps its own buffers (torch does not broadcast them at construction
    either); the parameters come from rank 0 both ways."""
    rank = dist.get_rank()
    for broadcast_buffers in (True, False):
        dg.manual_seed(rank)
        model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        bn = model[1]
        bn.running_mean.data[:] = float(rank)
        ddp = DDP(model, broadcast_buffers=broadcast_buffers, reduction=reduction)
        mine = 0.0 if broadcast_buffers else float(rank)
        assert np.all(bn.running_mean.data == mine), (broadcast_buffers, bn.running_mean)
        w = model[0].weight.data.copy()
        dist.broadcast(w, 0)
        assert np.array_equal(w, model[0].weight.data)  # parameters: rank 0's
        x = dg.tensor(np.random.default_rng(rank).standard_normal((4, 2)).astype(np.float32))
        for _ in range(2):
            bn.running_mean.data[:] += 1.0 + rank  # the ranks' buffers drift apart
            expect = bn.running_mean.data.copy()
            if broadcast_buffers:
                dist.broadcast(expect, 0)
            seen: list[np.ndarray] = []
            hook = bn.register_forward_pre_hook(
                lambda m, args, seen=seen: seen.append(m.running_mean.data.copy())
            )
            ddp(x).sum().backward()
            hook.remove()
            assert np.array_equal(seen[0], expect), (broadcast_buffers, seen[0], expect)


class Branches(nn.Module):
    """`used` on every rank, `half` on rank 0 only, `never` on no rank. The buckets go in
    reverse order (head, half, never, used): rank 0 starts half's during the backward, rank 1
    only at its end."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.never = nn.Linear(4, 3)
        self.half = nn.Linear(4, 3)
        self.head = nn.Linear(3, 1)

    def forward(self, x: dg.Tensor) -> dg.Tensor:
        h = self.used(x)
        if dist.get_rank() == 0:
            h = h + self.half(x)
        return self.head(h.tanh())


def check_unused_parameters(reduction: str) -> None:
    """find_unused_parameters=True: a parameter no rank used keeps .grad None (as torch and
    one process), so weight decay leaves it alone; one used on some ranks is averaged with
    zeros. Small buckets: rank 0 starts buckets during backward that rank 1 starts only at
    the end; the extra all-reduce must come after them (several steps: no mismatch)."""
    rank, n = dist.get_rank(), dist.get_world_size()
    for progress in ("test", "thread"):
        if progress == "thread" and reduction == "shm":
            continue
        dg.manual_seed(4)
        net = Branches()
        ddp = DDP(
            net,
            find_unused_parameters=True,
            reduction=reduction,
            bucket_cap_mb=0.00005,
            progress=progress,
        )
        assert ddp.find_unused_parameters is True
        opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
        never = net.never.weight.data.copy()
        for step in range(3):
            opt.zero_grad(set_to_none=step != 1)
            x = np.random.default_rng(10 * step + rank).standard_normal((2, 4)).astype(np.float32)
            ddp(dg.tensor(x)).sum().backward()
            assert net.never.weight.grad is None and net.never.bias.grad is None, step
            g = net.half.weight.grad
            assert g is not None
            gs = [np.empty_like(g) for _ in range(n)]
            dist.all_gather(gs, np.ascontiguousarray(g))
            assert all(np.array_equal(h, g) for h in gs)
            opt.step()
        assert np.array_equal(net.never.weight.data, never)  # no decay, no momentum
    # without it: zeros (deltagrad's documented default; torch would raise)
    dg.manual_seed(4)
    net = Branches()
    ddp = DDP(net, reduction=reduction)
    ddp(dg.tensor(np.ones((2, 4), np.float32))).sum().backward()
    assert np.array_equal(net.never.weight.grad, np.zeros((3, 4)))


def check_no_sync(reduction: str) -> None:
    """no_sync: the local gradient only; the next synchronized backward averages the sum."""
    rank, n = dist.get_rank(), dist.get_world_size()
    lin = nn.Linear(2, 1, bias=False).double()
    ddp = DDP(lin, reduction=reduction)
    x = dg.tensor(np.full((1, 2), rank + 1.0))
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert np.array_equal(lin.weight.grad, np.full((1, 2), rank + 1.0))
    ddp(x).sum().backward()
    avg = sum(2 * (r + 1.0) for r in range(n)) / n
    assert np.array_equal(lin.weight.grad, np.full((1, 2), avg)), lin.weight.grad


def check_module_api(reduction: str) -> None:
    """torch's attributes, "module."-prefixed state_dict keys, train / eval forwarding."""
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ddp = DDP(model, reduction=reduction, gradient_as_bucket_view=True, static_graph=True)
    assert ddp.module is model
    assert ddp.gradient_as_bucket_view is True and ddp.static_graph is True
    assert ddp.device_ids is None and ddp.output_device is None and ddp.dim == 0
    assert ddp.broadcast_buffers is True and ddp.find_unused_parameters is False
    keys = list(ddp.state_dict())
    assert keys == ["module." + k for k in model.state_dict()], keys
    assert [k for k, _ in ddp.named_parameters()] == [
        "module.0.weight",
        "module.0.bias",
        "module.1.weight",
        "module.1.bias",
    ]
    ddp.load_state_dict(ddp.state_dict())
    raises((RuntimeError,), ddp.load_state_dict, model.state_dict())  # keys without prefix
    ddp.eval()
    assert not ddp.training and not model.training and not model[1].training
    ddp.train()
    assert ddp.training and model.training and model[1].training


def main() -> None:
    dg.set_num_threads(1)
    dist.init_process_group("mpi")
    check_all_reduce_ops()
    check_in_place()
    check_reduce()
    check_async_and_errors()
    check_destroy_and_init_again()
    for reduction in ("iallreduce", "shm"):
        check_gradients_are_the_global_batch(reduction)
        check_buffers(reduction)
        check_unused_parameters(reduction)
        check_no_sync(reduction)
        check_module_api(reduction)
    dist.barrier()
    print(f"worker ok {dist.get_rank()}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
