"""RMSprop on its C++ update (round 43, csrc/cpu/optim.h `rmsprop_update`) against torch's
RMSprop over several steps, every option, float32 / float64, odd and tiny sizes, and the numpy
path where the kernel does not apply."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.optim import rmsprop as rms

torch = pytest.importorskip("torch")

SHAPES = [(3, 5), (1,), (0,), (70001,), (2, 1, 4)]  # 70001: more than one thread's chunk
OPTIONS = [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.3, weight_decay=0.05),
    dict(centered=True),
    dict(centered=True, momentum=0.9, weight_decay=0.1),
    dict(centered=True, maximize=True, momentum=1.5),
    dict(weight_decay=0.1, maximize=True),
    dict(maximize=True, momentum=0.5),
    dict(momentum=0.7, weight_decay=0.2, maximize=True),
    dict(alpha=0.0, eps=0.0),
    dict(foreach=True, momentum=0.9, alpha=0.9),
    dict(momentum=1.0),
    dict(momentum=2.0),
]


def _run(lib, inits, grads, kw):
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in inits]
    opt = lib.optim.RMSprop(ps, lr=1e-2, **kw)
    for g in grads:
        for p, gi in zip(ps, g):
            p.grad = lib.tensor(gi.copy())
        opt.step()
    return ps, opt


@pytest.mark.parametrize("kw", OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmsprop_matches_torch(kw, dtype):
    rng = np.random.default_rng(len(str(kw)))
    inits = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) * 3 for s in SHAPES] for _ in range(4)]
    pd, od = _run(dg, inits, grads, kw)
    pt, ot = _run(torch, inits, grads, kw)
    eps = 2e-6 if dtype == np.float32 else 1e-13

    def close(x, y):  # relative to the array's scale (a momentum buffer sums both signs)
        scale = max(1.0, float(np.abs(y).max())) if y.size else 1.0
        np.testing.assert_allclose(x, y, rtol=10 * eps, atol=eps * scale)

    for a, b in zip(pd, pt):
        assert a.data.dtype == dtype
        close(a.data, b.detach().numpy())
    for a, b in zip(pd, pt):
        sd, st = od.state[a], ot.state[b]
        assert sd["step"] == int(st["step"])
        for key in ("square_avg", "momentum_buffer", "grad_avg"):
            assert (key in sd) == (key in st)
            if key in st:
                close(sd[key], st[key].numpy())


def test_kernel_path_taken_and_fallbacks(monkeypatch):
    """The kernel runs for plain host arrays; a gradient sharing the parameter's memory goes
    to numpy."""
    calls = []

    class Spy:
        def __getattr__(self, name):
            return getattr(rms._cpu, name)

        def rmsprop_update(self, *a, **k):
            calls.append(1)
            return real.rmsprop_update(*a, **k)

    real = rms._cpu
    monkeypatch.setattr(rms, "_cpu", Spy())
    p = dg.tensor(np.ones(5, np.float32), requires_grad=True)
    p.grad = dg.tensor(np.full(5, 0.5, np.float32))
    dg.optim.RMSprop([p]).step()
    dg.optim.RMSprop([p], centered=True, momentum=0.5).step()
    assert len(calls) == 2
    q = dg.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    q.grad = q.data  # the gradient is the parameter itself: the kernel refuses, numpy steps
    dg.optim.RMSprop([q]).step()
    assert len(calls) == 2
    assert np.all(q.data < 1)


def test_nonfinite_gradient_does_not_leak_into_other_parameters():
    """An inf gradient makes its own element NaN (as torch) and nothing else."""
    for centered in (False, True):
        a = dg.tensor(np.ones(4, np.float32), requires_grad=True)
        b = dg.tensor(np.ones(4, np.float32), requires_grad=True)
        ta = torch.ones(4, requires_grad=True)
        tb = torch.ones(4, requires_grad=True)
        opt = dg.optim.RMSprop([a, b], centered=centered)
        topt = torch.optim.RMSprop([ta, tb], centered=centered)
        for step in range(3):
            ga = np.array([np.inf if step == 0 else 1.0, 1.0, np.nan, 2.0], np.float32)
            gb = np.full(4, 0.25, np.float32)
            a.grad, b.grad = dg.tensor(ga), dg.tensor(gb)
            ta.grad, tb.grad = torch.tensor(ga), torch.tensor(gb)
            opt.step()
            topt.step()
        np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-6)
        assert np.isfinite(b.data).all()


def test_huge_gradient_centered_is_inf_not_nan():
    """g**2 overflows float32: torch's square_avg is inf and the step finite (no inf - inf)."""
    p = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    tp = torch.ones(3, requires_grad=True)
    g = np.array([3e38, 1.0, -2e30], np.float32)
    p.grad, tp.grad = dg.tensor(g), torch.tensor(g)
    dg.optim.RMSprop([p], centered=True).step()
    torch.optim.RMSprop([tp], centered=True).step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-6)


def test_noncontiguous_grad_and_state_dict_roundtrip():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    g = rng.standard_normal((4, 6)).astype(np.float32)
    p = dg.tensor(w.copy(), requires_grad=True)
    tp = torch.tensor(w.copy(), requires_grad=True)
    opt = dg.optim.RMSprop([p], momentum=0.9, centered=True)
    topt = torch.optim.RMSprop([tp], momentum=0.9, centered=True)
    for _ in range(2):
        p.grad = dg.tensor(g).T
        tp.grad = torch.tensor(g).T
        opt.step()
        topt.step()
    opt2 = dg.optim.RMSprop([p], momentum=0.9, centered=True)
    opt2.load_state_dict(opt.state_dict())
    topt.step()
    opt2.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=2e-5, atol=2e-6)
