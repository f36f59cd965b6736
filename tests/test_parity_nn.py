"""dg.nn against torch.nn in float64 (rtol = atol = 1e-10): module outputs and gradients,
running statistics over several steps, init bounds and fan math, gradient clipping, the loss
options (weights, ignore_index, label smoothing, probability targets) and hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = {"rtol": 1e-10, "atol": 1e-10}


def close(a, b):
    a = a.data if isinstance(a, dg.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert_close(np.asarray(a), np.asarray(b), equal_nan=True, **TOL)


def pair(a, grad=True):
    """The same float64 data as a deltagrad leaf and a torch leaf."""
    a = np.asarray(a, dtype=np.float64)
    return dg.tensor(a.copy(), requires_grad=grad), torch.tensor(a.copy(), requires_grad=grad)


def copy_params(dg_mod, t_mod):
    with torch.no_grad():
        for (n1, p1), (n2, p2) in zip(dg_mod.named_parameters(), t_mod.named_parameters()):
            assert n1 == n2
            p2.copy_(torch.from_numpy(np.asarray(p1.data)))


# ---- modules --------------------------------------------------------------------------------


def test_linear_forward_backward():
    dg.manual_seed(0)
    lin = nn.Linear(7, 5, dtype=np.float64)
    tlin = torch.nn.Linear(7, 5).double()
    copy_params(lin, tlin)
    x, tx = pair(np.random.default_rng(0).standard_normal((4, 7)))
    g = np.random.default_rng(1).standard_normal((4, 5))
    lin(x).backward(g)
    tlin(tx).backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    close(lin.weight.grad, tlin.weight.grad)
    close(lin.bias.grad, tlin.bias.grad)


@pytest.mark.parametrize("shape", [(8, 3), (5, 3, 4), (2, 3), (7, 3, 1)])
@pytest.mark.parametrize("momentum", [0.1, None, 0.7])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_training_steps_and_eval(shape, momentum, affine):
    rng = np.random.default_rng(sum(shape))
    bn = nn.BatchNorm1d(3, momentum=momentum, affine=affine, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine).double()
    if affine:
        w, b = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
        for p, v in ((bn.weight, w), (bn.bias, b)):
            p.data[...] = v
        with torch.no_grad():
            tbn.weight.copy_(torch.from_numpy(w))
            tbn.bias.copy_(torch.from_numpy(b))
    for step in range(4):
        x, tx = pair(rng.standard_normal(shape) * (step + 1) + step)
        g = rng.standard_normal(shape)
        y, ty = bn(x), tbn(tx)
        close(y, ty)
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        close(x.grad, tx.grad)
        if affine:
            close(bn.weight.grad, tbn.weight.grad)
            close(bn.bias.grad, tbn.bias.grad)
        close(bn.running_mean, tbn.running_mean)
        close(bn.running_var, tbn.running_var)
        assert bn.num_batches_tracked.item() == tbn.num_batches_tracked.item() == step + 1
    bn.eval()
    tbn.eval()
    x, tx = pair(rng.standard_normal(shape))
    g = rng.standard_normal(shape)
    y, ty = bn(x), tbn(tx)
    close(y, ty)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    if affine:
        close(bn.weight.grad, tbn.weight.grad)
    assert bn.num_batches_tracked.item() == 4
    assert list(bn.state_dict()) == list(tbn.state_dict())


def test_batchnorm1d_without_running_stats_and_empty_batch():
    rng = np.random.default_rng(3)
    bn = nn.BatchNorm1d(4, track_running_stats=False, dtype=np.float64).eval()
    tbn = torch.nn.BatchNorm1d(4, track_running_stats=False).double().eval()
    x, tx = pair(rng.standard_normal((6, 4)))
    y, ty = bn(x), tbn(tx)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, tx.grad)
    assert list(bn.state_dict()) == list(tbn.state_dict()) == ["weight", "bias"]
    # an empty batch in training: an empty output, running statistics untouched
    bn2 = nn.BatchNorm1d(4, dtype=np.float64)
    tbn2 = torch.nn.BatchNorm1d(4).double()
    x, tx = pair(np.zeros((0, 4)))
    y, ty = bn2(x), tbn2(tx)
    assert y.shape == tuple(ty.shape) == (0, 4)
    close(bn2.running_mean, tbn2.running_mean)
    close(bn2.running_var, tbn2.running_var)
    assert bn2.num_batches_tracked.item() == tbn2.num_batches_tracked.item() == 1


@pytest.mark.parametrize(
    "shape,norm",
    [((5, 7), (7,)), ((3, 4, 5), (4, 5)), ((2, 1), (1,)), ((6,), (6,)), ((0, 3), (3,))],
)
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
def test_layernorm(shape, norm, affine, bias):
    rng = np.random.default_rng(len(shape) + sum(norm))
    ln = nn.LayerNorm(norm, elementwise_affine=affine, bias=bias, dtype=np.float64)
    tln = torch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias).double()
    if affine:
        for p in ln.parameters():
            p.data[...] = rng.standard_normal(p.shape)
        copy_params(ln, tln)
    x, tx = pair(rng.standard_normal(shape) * 3 + 1)
    g = rng.standard_normal(shape)
    y, ty = ln(x), tln(tx)
    close(y, ty)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    for p, tp in zip(ln.parameters(), tln.parameters()):
        close(p.grad, tp.grad)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_forward_and_padding_gradient(padding_idx):
    dg.manual_seed(1)
    emb = nn.Embedding(6, 3, padding_idx=padding_idx, dtype=np.float64)
    temb = torch.nn.Embedding(6, 3, padding_idx=padding_idx).double()
    if padding_idx is not None:
        assert not emb.weight.data[padding_idx].any()
    copy_params(emb, temb)
    idx = np.array([[0, 2, 5, 2], [5, 5, 1, 3]])
    g = np.random.default_rng(2).standard_normal((2, 4, 3))
    y, ty = emb(idx), temb(torch.from_numpy(idx))
    close(y, ty)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    close(emb.weight.grad, temb.weight.grad)


def test_flatten_unflatten():
    x, tx = pair(np.random.default_rng(4).standard_normal((2, 3, 4, 5)))
    for m, tm in [
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
        (nn.Flatten(-2), torch.nn.Flatten(-2)),
        (nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1))),
        (nn.Unflatten(-1, (-1, 5)), torch.nn.Unflatten(-1, (-1, 5))),
    ]:
        y, ty = m(x), tm(tx)
        assert y.shape == tuple(ty.shape)
        close(y, ty)
        g = np.random.default_rng(5).standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        close(x.grad, tx.grad)


# ---- losses ---------------------------------------------------------------------------------


def _targets(rng, n, c, ignore):
    t = rng.integers(0, c, n)
    if ignore is not None:
        t[::3] = ignore
    return t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, -100, 1])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("shape", [(7, 4), (4,), (3, 4, 5)])
def test_cross_entropy_class_targets(reduction, weighted, ignore, smoothing, shape):
    rng = np.random.default_rng(hash((reduction, weighted, ignore, smoothing, shape)) % 2**32)
    c = shape[0] if len(shape) == 1 else shape[1]
    bshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = _targets(rng, int(np.prod(bshape)), c, ignore).reshape(bshape)
    if len(shape) == 1 and ignore is not None:
        t = np.array(ignore if ignore >= 0 else 0)
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    kw = {"ignore_index": -100 if ignore is None else ignore, "reduction": reduction}
    x, tx = pair(rng.standard_normal(shape) * 2)
    loss = F.cross_entropy(x, t, weight=w, label_smoothing=smoothing, **kw)
    tloss = torch.nn.functional.cross_entropy(
        tx,
        torch.from_numpy(t),
        weight=None if w is None else torch.from_numpy(w),
        label_smoothing=smoothing,
        **kw,
    )
    close(loss, tloss)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    tloss.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    # the module gives the same
    mod = nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing, **kw)
    close(mod(x, t), tloss)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3), (5,)])
def test_cross_entropy_probability_targets(reduction, weighted, smoothing, shape):
    rng = np.random.default_rng(hash((reduction, weighted, smoothing, shape)) % 2**32)
    c = shape[0] if len(shape) == 1 else shape[1]
    p = rng.uniform(0.1, 1, shape)
    p = p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    x, tx = pair(rng.standard_normal(shape))
    t, tt = pair(p)
    loss = F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=smoothing)
    tloss = torch.nn.functional.cross_entropy(
        tx,
        tt,
        weight=None if w is None else torch.from_numpy(w),
        reduction=reduction,
        label_smoothing=smoothing,
    )
    close(loss, tloss)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    tloss.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)
    close(t.grad, tt.grad)


def test_cross_entropy_every_target_ignored_and_empty_batch():
    x, tx = pair(np.random.default_rng(6).standard_normal((4, 3)))
    t = np.full(4, -100)
    loss = F.cross_entropy(x, t, label_smoothing=0.2, weight=np.array([1.0, 2.0, 3.0]))
    tloss = torch.nn.functional.cross_entropy(
        tx, torch.from_numpy(t), label_smoothing=0.2, weight=torch.tensor([1.0, 2.0, 3.0]).double()
    )
    close(loss, tloss)  # nan, as torch
    loss.backward()
    tloss.backward()
    close(x.grad, tx.grad)  # zeros, as torch
    x, tx = pair(np.zeros((0, 3)))
    close(F.cross_entropy(x, np.zeros(0, np.int64)), torch.nn.functional.cross_entropy(
        tx, torch.zeros(0, dtype=torch.long)))  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [-100, 2])
@pytest.mark.parametrize("shape", [(9, 4), (3, 4, 2), (4,)])
def test_nll_loss(reduction, weighted, ignore, shape):
    rng = np.random.default_rng(hash((reduction, weighted, ignore, shape)) % 2**32)
    c = shape[0] if len(shape) == 1 else shape[1]
    bshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = rng.integers(0, c, bshape)
    if t.ndim:
        t.reshape(-1)[::4] = ignore
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    logp = rng.standard_normal(shape) - 2
    x, tx = pair(logp)
    loss = nn.NLLLoss(weight=w, ignore_index=ignore, reduction=reduction)(x, t)
    tloss = torch.nn.NLLLoss(
        weight=None if w is None else torch.from_numpy(w),
        ignore_index=ignore,
        reduction=reduction,
    )(tx, torch.from_numpy(t))
    close(loss, tloss)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    tloss.backward(torch.from_numpy(g))
    close(x.grad, tx.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "make",
    [
        (lambda r: nn.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r)),
        (lambda r: nn.SmoothL1Loss(reduction=r), lambda r: torch.nn.SmoothL1Loss(reduction=r)),
        (
            lambda r: nn.SmoothL1Loss(reduction=r, beta=0.4),
            lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.4),
        ),
        (
            lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0),
            lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0),
        ),
        (lambda r: nn.HuberLoss(reduction=r), lambda r: torch.nn.HuberLoss(reduction=r)),
        (
            lambda r: nn.HuberLoss(reduction=r, delta=0.3),
            lambda r: torch.nn.HuberLoss(reduction=r, delta=0.3),
        ),
    ],
)
@pytest.mark.parametrize("shape", [(5, 3), (1,), (0, 2)])
def test_regression_losses(reduction, make, shape):
    rng = np.random.default_rng(len(shape))
    y, ty = pair(rng.standard_normal(shape) * 2)
    t, tt = pair(rng.standard_normal(shape))
    loss, tloss = make[0](reduction)(y, t), make[1](reduction)(ty, tt)
    close(loss, tloss)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    tloss.backward(torch.from_numpy(g))
    close(y.grad, ty.grad)
    close(t.grad, tt.grad)


# ---- init -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("linear",),
        ("conv2d",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("leaky_relu", 3),
        ("selu",),
    ],
)
def test_calculate_gain(args):
    assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)


@pytest.mark.parametrize("shape", [(3, 4), (5, 3, 2, 2), (1, 1), (7, 2, 3)])
def test_fan_in_and_fan_out(shape):
    got = nn.init._calculate_fan_in_and_fan_out(dg.tensor(np.zeros(shape)))
    assert got == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def _uniform_bound(fn, shape, **kw):
    """torch's bound for a uniform init, read off its own formula by drawing from it: the
    largest magnitude it can reach is its bound (within sampling) - instead compute it the
    way torch's source does, through its fan and gain helpers."""
    t = torch.zeros(shape)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    if fn == "xavier_uniform_":
        return kw.get("gain", 1.0) * math.sqrt(6.0 / (fan_in + fan_out))
    fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
    gain = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))
    return math.sqrt(3.0) * gain / math.sqrt(fan)


@pytest.mark.parametrize(
    "fn,kw",
    [
        ("xavier_uniform_", {}),
        ("xavier_uniform_", {"gain": 2.5}),
        ("kaiming_uniform_", {}),
        ("kaiming_uniform_", {"a": math.sqrt(5)}),
        ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
        ("kaiming_uniform_", {"a": 0.1, "mode": "fan_out"}),
    ],
)
@pytest.mark.parametrize("shape", [(300, 200), (40, 30, 3, 3)])
def test_uniform_inits_bounds_and_statistics(fn, kw, shape):
    dg.manual_seed(11)
    w = getattr(nn.init, fn)(dg.tensor(np.zeros(shape)), **kw)
    bound = _uniform_bound(fn, shape, **kw)
    tw = getattr(torch.nn.init, fn)(torch.zeros(shape, dtype=torch.float64), **kw)
    assert np.abs(w.data).max() <= bound and tw.abs().max().item() <= bound
    assert np.abs(w.data).max() > 0.99 * bound  # the whole range is used
    n = w.numel()
    # mean 0 and variance bound**2 / 3 within 5 standard errors
    assert abs(w.data.mean()) < 5 * bound / math.sqrt(3 * n)
    assert abs(w.data.var() - bound**2 / 3) < 5 * bound**2 * math.sqrt(4 / 45 / n)


@pytest.mark.parametrize(
    "fn,kw,std",
    [
        ("xavier_normal_", {"gain": 0.7}, lambda fi, fo: 0.7 * math.sqrt(2 / (fi + fo))),
        ("kaiming_normal_", {}, lambda fi, fo: math.sqrt(2 / (1 + 0.0)) / math.sqrt(fi)),
        (
            "kaiming_normal_",
            {"mode": "fan_out", "nonlinearity": "tanh"},
            lambda fi, fo: 5 / 3 / math.sqrt(fo),
        ),
        ("normal_", {"mean": 0.5, "std": 0.2}, lambda fi, fo: 0.2),
    ],
)
def test_normal_inits_statistics(fn, kw, std):
    shape = (250, 120, 2)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    s = std(fan_in, fan_out)
    dg.manual_seed(12)
    w = getattr(nn.init, fn)(dg.tensor(np.zeros(shape)), **kw).data
    n = w.size
    mean = kw.get("mean", 0.0)
    assert abs(w.mean() - mean) < 5 * s / math.sqrt(n)
    assert abs(w.std() - s) < 5 * s / math.sqrt(2 * n)


def test_linear_default_init_bound_is_torchs():
    dg.manual_seed(13)
    lin = nn.Linear(50, 400, dtype=np.float64)
    tlin = torch.nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    for p, tp in ((lin.weight, tlin.weight), (lin.bias, tlin.bias)):
        assert np.abs(p.data).max() <= bound and tp.abs().max().item() <= bound
        assert np.abs(p.data).max() > 0.95 * bound


# ---- clipping -------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.5, "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.3, 1e6])
def test_clip_grad_norm(norm_type, max_norm):
    rng = np.random.default_rng(14)
    shapes = [(3, 4), (5,), (1,), (2, 2, 2)]
    ps, tps = [], []
    for s in shapes:
        p, tp = pair(rng.standard_normal(s))
        g = rng.standard_normal(s)
        p.grad = g.copy()
        tp.grad = torch.from_numpy(g.copy())
        ps.append(p)
        tps.append(tp)
    extra, textra = pair(np.ones(3))  # no gradient: skipped
    total = nn.utils.clip_grad_norm_([*ps, extra], max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_([*tps, textra], max_norm, norm_type)
    assert isinstance(total, dg.Tensor) and total.shape == ()
    close(total, ttotal)
    for p, tp in zip(ps, tps):
        close(p.grad, tp.grad)


def test_clip_grad_value():
    rng = np.random.default_rng(15)
    p, tp = pair(rng.standard_normal((4, 5)))
    g = rng.standard_normal((4, 5)) * 3
    p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
    assert nn.utils.clip_grad_value_(p, 0.8) is None
    torch.nn.utils.clip_grad_value_(tp, 0.8)
    close(p.grad, tp.grad)


# ---- hooks and module bookkeeping ------------------------------------------------------------


def test_forward_hooks_match_torch():
    dg.manual_seed(16)
    lin = nn.Linear(4, 3, dtype=np.float64)
    tlin = torch.nn.Linear(4, 3).double()
    copy_params(lin, tlin)
    seen, tseen = [], []
    for m, log in ((lin, seen), (tlin, tseen)):
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
        m.register_forward_hook(lambda mod, args, out, log=log: log.append(out.sum().item()))
        m.register_forward_pre_hook(lambda mod, args: args[0] - 1, prepend=True)
        m._h = (h1, h2)
    x, tx = pair(np.random.default_rng(17).standard_normal((2, 4)))
    y, ty = lin(x), tlin(tx)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, tx.grad)
    assert_close(np.array(seen), np.array(tseen), **TOL)
    for m in (lin, tlin):
        for h in m._h:
            h.remove()
    close(lin(x), tlin(tx))


def test_state_dict_keys_and_to_double_match_torch():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.LayerNorm(4))
    tnet = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.LayerNorm(4)
    )
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in tnet.named_buffers()]
    net.double()
    tnet.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    copy_params(net, tnet)
    x, tx = pair(np.random.default_rng(18).standard_normal((5, 3)))
    close(net(x), tnet(tx))


def test_state_dicts_cross_between_deltagrad_and_torch():
    def dg_net():
        return nn.Sequential(
            nn.Linear(3, 4, dtype=np.float64),
            nn.BatchNorm1d(4, dtype=np.float64),
            nn.ReLU(),
            nn.LayerNorm(4, dtype=np.float64),
            nn.Linear(4, 2, dtype=np.float64),
        )

    def torch_net():
        return torch.nn.Sequential(
            torch.nn.Linear(3, 4),
            torch.nn.BatchNorm1d(4),
            torch.nn.ReLU(),
            torch.nn.LayerNorm(4),
            torch.nn.Linear(4, 2),
        ).double()

    rng = np.random.default_rng(19)
    a, ta = dg_net(), torch_net()
    for _ in range(3):  # move the running statistics
        a(dg.tensor(rng.standard_normal((6, 3))))
    ta.load_state_dict({k: torch.from_numpy(v) for k, v in a.state_dict().items()})
    a.eval()
    ta.eval()
    x = rng.standard_normal((5, 3))
    close(a(dg.tensor(x)), ta(torch.from_numpy(x)))
    b = dg_net()
    res = b.load_state_dict({k: v.numpy() for k, v in ta.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    b.eval()
    close(b(dg.tensor(x)), ta(torch.from_numpy(x)))
    assert b[1].num_batches_tracked.item() == 3


# ---- softmax along a dim ------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,dim", [((3, 5), 0), ((3, 5), 1), ((2, 3, 4), -2), ((1, 1), 1), ((0, 4), 1), ((4,), 0)]
)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_modules_and_dim(shape, dim, log):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 3
    a, b = pair(x)
    ours = (nn.LogSoftmax if log else nn.Softmax)(dim=dim)(a)
    theirs = (torch.nn.LogSoftmax if log else torch.nn.Softmax)(dim=dim)(b)
    close(ours, theirs)
    w = rng.standard_normal(shape)
    (ours * dg.tensor(w)).sum().backward()
    (theirs * torch.from_numpy(w)).sum().backward()
    close(a.grad, b.grad)
    fn = F.log_softmax if log else F.softmax
    close(fn(a.detach(), dim=dim), fn(a.detach(), axis=dim))  # axis: the older alias


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_softmax_dim_out_of_range_raises_as_torch(dim):
    x = dg.tensor(np.ones((2, 3)))
    for fn in (F.softmax, F.log_softmax):
        with pytest.raises(IndexError, match="dim: Dimension out of range"):
            fn(x, dim)  # it used to wrap: dim 5 of a 2-D tensor was taken as dim 1
        with pytest.raises(IndexError):
            getattr(torch.nn.functional, fn.__name__)(torch.ones(2, 3), dim)
    with pytest.raises(TypeError, match="softmax: dim"):
        F.softmax(x, True)
