"""One MPI rank of tests/test_distributed.py: `mpiexec -n N python distributed_worker.py CASE`.

Cases: "all FOLDER REDUCTION" (every equivalence check in one job, DistributedDataParallel
on reduction="iallreduce" or "shm"), "crash" (rank 1 raises mid-training).
Each check raises on a mismatch: the excepthook of init_process_group then aborts the job
with a non-zero exit and the traceback. Prints "worker ok <rank>" at the end.
"""

from __future__ import annotations

import gc
import os
import sys

import numpy as np

import deltagrad as dg
import deltagrad.distributed as dist
from deltagrad import nn, optim
from deltagrad.data import DistributedSampler
from deltagrad.nn.parallel import DistributedDataParallel as DDP

TOL = 1e-10
STEPS = 5
B = 4  # rows per rank per step


def build(seed: int) -> nn.Module:
    dg.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(7, 13), nn.Tanh(), nn.Linear(13, 11), nn.ReLU(), nn.Linear(11, 3)
    )
    return model.double()


def make_opt(name: str, params: list) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def data(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    return rng.standard_normal((n_rows, 7)), rng.standard_normal((n_rows, 3))


def loss_fn(out: dg.Tensor, y: np.ndarray) -> dg.Tensor:
    return nn.MSELoss()(out, dg.tensor(y))


def weights(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: np.array(v.data if hasattr(v, "data") else v) for k, v in model.state_dict().items()}


def check_close(a: dict, b: dict, what: str) -> None:
    for k in a:
        ka = k[len("module.") :] if k.startswith("module.") else k
        x, y = a[k], b[ka]
        err = float(np.max(np.abs(x - y))) if x.size else 0.0
        scale = 1.0 + float(np.max(np.abs(y))) if y.size else 1.0
        tol = TOL if x.dtype == np.float64 else 1e-5  # a float32 parameter: float32 rounding
        if not err <= tol * scale:
            raise AssertionError(f"{what}: {ka} differs by {err:g} (rank {dist.get_rank()})")


def same_on_every_rank(model: nn.Module, what: str) -> None:
    mine = np.concatenate([p.data.ravel() for p in model.parameters()])
    got = [np.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(got, mine)
    for r, g in enumerate(got):
        if not np.array_equal(g, mine):
            raise AssertionError(f"{what}: rank {r}'s weights differ from rank {dist.get_rank()}'s")


def reference(opt_name: str, init: dict, n_rows: int, steps: int, X, Y) -> dict:
    """One process, batch n_rows per step, from rank 0's initial weights."""
    model = build(0)
    model.load_state_dict(init)
    opt = make_opt(opt_name, model.parameters())
    for s in range(steps):
        xb, yb = X[s * n_rows : (s + 1) * n_rows], Y[s * n_rows : (s + 1) * n_rows]
        opt.zero_grad()
        loss_fn(model(dg.tensor(xb)), yb).backward()
        opt.step()
    return weights(model)


REDUCTION = "iallreduce"  # the path under test (main sets it from the command line)


def check_equivalence(opt_name: str, different_init: bool, bucket_cap_mb: float, progress: str):
    rank, n = dist.get_rank(), dist.get_world_size()
    model = build(100 + rank if different_init else 0)
    init0 = weights(model)
    init0 = dist_bcast_dict(init0)  # rank 0's initial weights: the reference starts there
    ddp = DDP(model, bucket_cap_mb=bucket_cap_mb, progress=progress, reduction=REDUCTION)
    assert ddp.reduction == REDUCTION
    assert list(ddp.state_dict()) == [f"module.{k}" for k in model.state_dict()]  # torch's keys
    assert ddp.module is model
    check_close(weights(model), init0, "broadcast at construction")
    opt = make_opt(opt_name, ddp.parameters())
    X, Y = data(STEPS * n * B)
    for s in range(STEPS):
        lo = s * n * B + rank * B
        opt.zero_grad()
        loss_fn(ddp(dg.tensor(X[lo : lo + B])), Y[lo : lo + B]).backward()
        opt.step()
    ref = reference(opt_name, init0, n * B, STEPS, X, Y)
    what = f"{opt_name}, {n} ranks, different_init={different_init}, bucket {bucket_cap_mb}"
    check_close(weights(ddp), ref, what)
    same_on_every_rank(model, what)


def dist_bcast_dict(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        a = np.ascontiguousarray(v).copy()
        dist.broadcast(a, 0)
        out[k] = a
    return out


def check_no_sync(opt_name: str) -> None:
    """Two micro-batches per step, the first under no_sync, each loss halved: equals one
    process with the batch of both micro-batches of every rank."""
    rank, n = dist.get_rank(), dist.get_world_size()
    model = build(7 + rank)
    ddp = DDP(model, bucket_cap_mb=0.0002, reduction=REDUCTION)
    init0 = weights(ddp.module)
    opt = make_opt(opt_name, ddp.parameters())
    X, Y = data(STEPS * 2 * n * B)
    for s in range(STEPS):
        base = s * 2 * n * B
        opt.zero_grad()
        with ddp.no_sync():
            lo = base + rank * B
            (loss_fn(ddp(dg.tensor(X[lo : lo + B])), Y[lo : lo + B]) * 0.5).backward()
        lo = base + (n + rank) * B
        (loss_fn(ddp(dg.tensor(X[lo : lo + B])), Y[lo : lo + B]) * 0.5).backward()
        opt.step()
    ref = reference(opt_name, init0, 2 * n * B, STEPS, X, Y)
    check_close(weights(ddp), ref, f"no_sync accumulation, {opt_name}, {n} ranks")
    same_on_every_rank(model, "no_sync")


def check_collectives() -> None:
    rank, n = dist.get_rank(), dist.get_world_size()
    a = np.arange(5, dtype=np.float64) + rank
    t = dg.tensor(a.copy())
    dist.all_reduce(t)  # SUM, in place on a Tensor
    assert np.array_equal(t.data, sum(np.arange(5.0) + r for r in range(n)))
    b = a.copy()
    dist.all_reduce(b, op=dist.ReduceOp.AVG)
    assert np.allclose(b, np.arange(5.0) + (n - 1) / 2, rtol=0, atol=1e-15)
    c = a.copy()
    dist.all_reduce(c, op=dist.ReduceOp.MAX)
    assert np.array_equal(c, np.arange(5.0) + n - 1)
    d = a[::2].copy()[::-1]  # non-contiguous view
    v = np.arange(6.0)[::2] + rank
    dist.all_reduce(v, op=dist.ReduceOp.MIN)
    assert np.array_equal(v, np.arange(6.0)[::2]), v
    del d
    e = np.full(3, float(rank))
    dist.broadcast(e, src=n - 1)
    assert np.array_equal(e, np.full(3, n - 1.0))
    out = [np.empty(2, np.int64) for _ in range(n)]
    dist.all_gather(out, np.array([rank, 10 * rank]))
    assert [list(o) for o in out] == [[r, 10 * r] for r in range(n)]
    dist.barrier()


def check_mismatch() -> None:
    rank = dist.get_rank()
    width = 13 if rank == 0 else 14
    model = nn.Sequential(nn.Linear(7, width), nn.Tanh(), nn.Linear(width, 3))
    try:
        DDP(model)
    except RuntimeError as e:
        msg = str(e)
        assert "rank 0" in msg and "0.weight" in msg and "(13, 7)" in msg, msg
        return
    raise AssertionError("DistributedDataParallel accepted ranks with different models")


def check_unused_and_buffers() -> None:
    """A parameter used on rank 0 only: the others contribute zeros; buffers come from rank 0."""
    rank, n = dist.get_rank(), dist.get_world_size()
    dg.manual_seed(3)
    model = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 2)}).double()
    model.register_buffer("stat", dg.tensor(np.full(3, float(rank))))

    class Net(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: dg.Tensor) -> dg.Tensor:
            out = self.inner["a"](x)
            if dist.get_rank() == 0:
                out = out + self.inner["b"](x)
            return out

    net = Net(model)
    ddp = DDP(net, reduction=REDUCTION)
    assert np.array_equal(model.stat.data, np.zeros(3))
    model.stat.data[:] = 5.0 + rank  # rank 0's value wins again at the next forward
    x = np.random.default_rng(rank).standard_normal((3, 4))
    ddp(dg.tensor(x)).sum().backward()
    assert np.array_equal(model.stat.data, np.full(3, 5.0))
    gb = model["b"].weight.grad
    assert gb is not None
    mine = np.ones((3, 2)).T @ x if rank == 0 else np.zeros((2, 4))
    total = mine.copy()
    dist.all_reduce(total)
    # every rank holds the average; rank 0's own share is recovered from it
    assert np.allclose(gb, total / n, rtol=0, atol=1e-12)


def same_grads_on_every_rank(params: list, what: str) -> None:
    for i, p in enumerate(params):
        if p.grad is None:
            continue
        got = [np.empty_like(p.grad) for _ in range(dist.get_world_size())]
        dist.all_gather(got, np.ascontiguousarray(p.grad))
        for r, g in enumerate(got):
            if not np.array_equal(g, p.grad):
                raise AssertionError(f"{what}: parameter #{i}'s .grad differs on rank {r}")


def check_bitwise_float32() -> None:
    """float32, every rank its own data, 8 steps: every rank's averaged gradients and weights
    are bitwise the same after every step (else the replicas drift)."""
    rank = dist.get_rank()
    dg.manual_seed(5)
    model = nn.Sequential(nn.Linear(37, 29), nn.ReLU(), nn.Linear(29, 5))
    ddp = DDP(model, reduction=REDUCTION, bucket_cap_mb=0.001)
    opt = optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(50 + rank)
    for _ in range(8):
        opt.zero_grad()
        x = dg.tensor(rng.standard_normal((6, 37)).astype(np.float32))
        y = rng.standard_normal((6, 5)).astype(np.float32)
        nn.MSELoss()(ddp(x), dg.tensor(y)).backward()
        same_grads_on_every_rank(list(model.parameters()), "float32 gradients")
        opt.step()
    same_on_every_rank(model, "float32 weights")


class Mixed(nn.Module):
    """float64 and float32 parameters in one model, a frozen weight (no gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(7, 5).double()
        self.frozen = nn.Linear(5, 4).double()
        self.frozen.weight.requires_grad_(False)
        self.b = nn.Linear(7, 3)  # float32

    def forward(self, x: dg.Tensor) -> dg.Tensor:
        h = self.frozen(nn.Tanh()(self.a(x)))
        o = self.b(x.float()).double()
        return (h * h).mean() + (o * o).mean()


def check_grad_storage() -> None:
    """The gradient storage model under DDP, against one process with the global batch:
    zero_grad(set_to_none=False) (backward accumulates into the kept arrays), a gradient hook
    that returns a new gradient, a post-accumulate hook that replaces .grad (shm: read at the
    end of backward; Iallreduce: a packed bucket may already be sent), a frozen parameter,
    float32 and float64 parameters in one model, retain_graph."""
    rank, n = dist.get_rank(), dist.get_world_size()
    X, _ = data(STEPS * n * B)

    def run(distributed: bool) -> dict:
        dg.manual_seed(21 + (rank if distributed else 0))
        model = Mixed()
        if distributed:
            net = DDP(model, reduction=REDUCTION, bucket_cap_mb=0.0001)
            assert len(list(net.parameters())) == 6
        else:
            net = model
            model.load_state_dict(init0)
        model.a.weight.register_hook(lambda g: g * 2.0)
        if REDUCTION == "shm":

            def triple(t: dg.Tensor) -> None:
                t.grad = t.grad * 3.0  # a new array: DDP copies it into its window

            model.b.bias.register_post_accumulate_grad_hook(triple)
        opt = optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.01)
        for s in range(STEPS):
            rows = slice(s * n * B + rank * B, s * n * B + (rank + 1) * B)
            if not distributed:
                rows = slice(s * n * B, (s + 1) * n * B)
            opt.zero_grad(set_to_none=s % 2 == 0)
            loss = net(dg.tensor(X[rows]))
            loss.backward(retain_graph=s == 1)
            if distributed:
                same_grads_on_every_rank(list(model.parameters()), "mixed gradients")
            assert model.frozen.weight.grad is None
            opt.step()
        return weights(model)

    ref = None
    if True:
        dg.manual_seed(21)
        init0 = dist_bcast_dict(weights(Mixed()))  # rank 0's initial weights
        ref = run(False)
    check_close(run(True), ref, f"gradient storage, {REDUCTION}")


def check_window_lifetime() -> None:
    """shm: a window is freed (collectively) once its model is gone and nobody holds a view:
    at the next DDP construction or destroy_process_group; a kept .grad stays readable."""
    from deltagrad.nn.parallel import _shm

    rank = dist.get_rank()

    def step(ddp: DDP) -> None:
        x = np.random.default_rng(rank).standard_normal((B, 7))
        loss_fn(ddp(dg.tensor(x)), np.ones((B, 3))).backward()

    model = build(3)
    ddp = DDP(model, reduction="shm")
    w = ddp._shm
    step(ddp)
    g = model[0].weight
    assert np.shares_memory(g.grad, w._raw[rank])  # .grad is a view into the window
    expect = g.grad.copy()
    del ddp
    gc.collect()
    ddp2 = DDP(build(4), reduction="shm")  # the construction frees the first window
    assert w.freed
    assert g.grad.flags.owndata and np.array_equal(g.grad, expect)  # a private copy now
    w2 = ddp2._shm
    step(ddp2)
    held = ddp2.module[2].bias.grad  # the user keeps a view
    value = held.copy()
    del ddp2
    dist.destroy_process_group()
    dist.init_process_group("mpi")
    assert not w2.freed and np.array_equal(held, value)  # still mapped: still readable
    del held
    dist.destroy_process_group()
    dist.init_process_group("mpi")
    assert w2.freed
    assert not [x for x in _shm._windows if x is w or x is w2]


def check_fork() -> None:
    """shm: a fork()ed child gets private .grad copies and may not use the parent's window."""
    rank = dist.get_rank()
    model = build(6)
    ddp = DDP(model, reduction="shm")
    x = np.random.default_rng(rank).standard_normal((B, 7))
    loss_fn(ddp(dg.tensor(x)), np.ones((B, 3))).backward()
    before = [p.grad.copy() for p in model.parameters()]
    raw = ddp._shm._raw[rank]
    pid = os.fork()
    if pid == 0:  # the child: no MPI here
        code = 0
        try:
            for p, b in zip(model.parameters(), before):
                if np.shares_memory(p.grad, raw) or not np.array_equal(p.grad, b):
                    code = 3
            try:
                ddp(dg.tensor(x))
                code = 4
            except RuntimeError as e:
                if "fork" not in str(e):
                    code = 5
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    for p, b in zip(model.parameters(), before):  # the parent's window is untouched
        assert np.shares_memory(p.grad, raw) and np.array_equal(p.grad, b)
    loss_fn(ddp(dg.tensor(x)), np.ones((B, 3))).backward()  # and still works


def check_sampler() -> None:
    rank, n = dist.get_rank(), dist.get_world_size()
    for size, drop_last in ((23, False), (23, True), (n * 5, False)):
        s = DistributedSampler(range(size), shuffle=True, seed=4, drop_last=drop_last)
        assert s.num_replicas == n and s.rank == rank
        for epoch in range(3):
            s.set_epoch(epoch)
            mine = np.array(list(s), dtype=np.int64)
            parts = [np.empty(len(s), np.int64) for _ in range(n)]
            dist.all_gather(parts, mine)
            allidx = np.concatenate(parts)
            if drop_last:
                assert len(set(allidx.tolist())) == len(allidx) == (size // n) * n
            else:
                assert set(allidx.tolist()) == set(range(size))
                assert len(allidx) == -(-size // n) * n


def check_fit(folder: str) -> None:
    """dg.train.fit on N ranks (every global batch split over them, the last one uneven)
    equals fit in one process; rank 0 alone writes the checkpoint."""
    import os

    from deltagrad.train import _read_checkpoint, fit

    def run(path: str | None) -> tuple[nn.Module, object]:
        dg.manual_seed(11)
        m = nn.Sequential(nn.Linear(5, 9), nn.Tanh(), nn.Linear(9, 3)).double()
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((37, 5)), rng.integers(0, 3, 37)
        opt = optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        h = fit(
            m,
            nn.CrossEntropyLoss(),
            opt,
            X,
            y,
            epochs=3,
            batch_size=8,
            seed=5,
            progress=False,
            validation_data=(X[:10], y[:10]),
            checkpoint=path,
        )
        return m, h

    rank = dist.get_rank()
    path = os.path.join(folder, "fit.ckpt")
    m, h = run(path)
    dist.destroy_process_group()  # the reference: one process, fit not data-parallel
    ref, href = run(None)
    dist.init_process_group("mpi")
    check_close(weights(m), weights(ref), "fit on N ranks vs one process")
    for key in ("loss", "val_loss"):
        a, b = np.array(h.history[key]), np.array(href.history[key])
        assert np.allclose(a, b, rtol=1e-12, atol=0), (key, a, b)
    if rank == 0:
        saved = _read_checkpoint(path)
        assert saved["epoch"] == 3
        check_close({k: np.asarray(v) for k, v in saved["model"].items()}, weights(m), "ckpt")


def crash() -> None:
    rank = dist.get_rank()
    ddp = DDP(build(0))
    opt = make_opt("sgd", ddp.parameters())
    X, Y = data(100)
    for step in range(1000):
        if rank == 1 and step == 3:
            raise RuntimeError("worker: rank 1 fails on purpose at step 3")
        opt.zero_grad()
        loss_fn(ddp(dg.tensor(X[:B])), Y[:B]).backward()
        opt.step()


def main() -> None:
    global REDUCTION
    dg.set_num_threads(1)
    dist.init_process_group("mpi")
    case = sys.argv[1]
    if case == "crash":
        crash()
    elif case == "all":
        REDUCTION = sys.argv[3] if len(sys.argv) > 3 else "iallreduce"
        check_collectives()
        check_sampler()
        check_mismatch()
        for opt_name in ("sgd", "adam"):
            for different_init in (False, True):
                check_equivalence(opt_name, different_init, 0.0003, "test")
            check_no_sync(opt_name)
        check_unused_and_buffers()
        check_bitwise_float32()
        check_grad_storage()
        if REDUCTION == "shm":
            check_window_lifetime()
            check_fork()
            check_fit(sys.argv[2])  # DDP's default "auto": the shared window on one node
            dist.barrier()
            print(f"worker ok {dist.get_rank()}", flush=True)
            dist.destroy_process_group()
            return
        check_equivalence("adam", True, 25, "thread")
        # parameters reduced in place in their .grad (no packing): every one (0), or the
        # weights only (200 bytes: the biases stay packed), as large parameters are by default
        import deltagrad.nn.parallel.distributed as ddp_module

        default = ddp_module._DIRECT_BYTES
        for direct in (0, 200):
            ddp_module._DIRECT_BYTES = direct
            for opt_name in ("sgd", "adam"):
                check_equivalence(opt_name, True, 0.0003, "test")
                check_no_sync(opt_name)
            check_equivalence("sgd", True, 25, "thread")
            check_unused_and_buffers()
        ddp_module._DIRECT_BYTES = default
        check_fit(sys.argv[2])
    else:
        raise SystemExit(f"unknown case {case!r}")
    dist.barrier()
    print(f"worker ok {dist.get_rank()}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
