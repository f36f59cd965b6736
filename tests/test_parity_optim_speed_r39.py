"""The array optimizers' chunked step (round 39: deltagrad.optim._chunked runs each step's
in-place ufuncs chunk by chunk with reused scratch buffers) against torch 2.13: float64
trajectories and state to 1e-12 over several steps for every optimizer without a fused kernel
(RMSprop, Adagrad, Adam / AdamW amsgrad, Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) and their
options, with parameters that span several chunks (the chunk size made small), a Fortran-order
parameter (the whole-array path), 0-d and size-0 parameters, float32, extreme gradients, and the
user's gradient left untouched. The whole-array and chunked paths agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.optim._chunked as chunked

torch = pytest.importorskip("torch")

# (37, 29) spans several chunks at the small chunk size below; (4, 6) is made Fortran-order
SHAPES = [(37, 29), (5,), (), (0, 3), (4, 6)]
STEPS = 6

CASES = {
    "rmsprop": ("RMSprop", dict(lr=1e-2)),
    "rmsprop_all": (
        "RMSprop",
        dict(lr=1e-2, alpha=0.3, weight_decay=0.1, momentum=0.9, centered=True, maximize=True),
    ),
    "rmsprop_centered": ("RMSprop", dict(lr=1e-2, centered=True, foreach=False)),
    "rmsprop_momentum_wd": ("RMSprop", dict(lr=1e-2, momentum=0.5, weight_decay=0.05)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_all": (
        "Adagrad",
        dict(
            lr=0.1,
            lr_decay=0.01,
            weight_decay=0.1,
            initial_accumulator_value=0.5,
            eps=1e-3,
            maximize=True,
            foreach=True,
        ),
    ),
    "adam_amsgrad": ("Adam", dict(lr=1e-2, amsgrad=True)),
    "adam_amsgrad_wd_max": ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1, maximize=True)),
    "adam_amsgrad_decoupled": (
        "Adam",
        dict(lr=1e-2, amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    "adamw_amsgrad": ("AdamW", dict(lr=1e-2, amsgrad=True, maximize=True, capturable=False)),
    "adadelta": ("Adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.1)),
    "adadelta_max": ("Adadelta", dict(maximize=True)),
    "adamax": ("Adamax", dict(lr=2e-2, weight_decay=0.1)),
    "adamax_low_beta": ("Adamax", dict(lr=2e-2, betas=(0.3, 0.5), maximize=True)),
    "nadam": ("NAdam", dict(lr=2e-2, weight_decay=0.1)),
    "nadam_decoupled": (
        "NAdam",
        dict(
            lr=2e-2, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.3, 0.6), maximize=True
        ),
    ),
    "radam": ("RAdam", dict(lr=1e-2)),
    "radam_rectified": ("RAdam", dict(lr=1e-2, betas=(0.9, 0.5), weight_decay=0.1)),
    "radam_decoupled": (
        "RAdam",
        dict(
            lr=1e-2, betas=(0.3, 0.6), weight_decay=0.1, decoupled_weight_decay=True, maximize=True
        ),
    ),
    "asgd": ("ASGD", dict(lr=1e-2, t0=2, lambd=0.1, weight_decay=0.1)),
    "asgd_max": ("ASGD", dict(lr=1e-2, maximize=True)),
    "rprop": ("Rprop", dict(lr=1e-2)),
    "rprop_clip_max": ("Rprop", dict(lr=1e-2, step_sizes=(1e-3, 0.02), maximize=True)),
}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 64 bytes (8 float64): every parameter but the tiny ones spans several."""
    monkeypatch.setattr(chunked, "_CHUNK_BYTES", 64)
    monkeypatch.setattr(chunked, "_SCRATCH", chunked._Scratch())


def _params(dtype, seed=0):
    rg = np.random.default_rng(seed)
    inits = [rg.standard_normal(s).astype(dtype) for s in SHAPES]
    inits[-1] = np.asfortranarray(inits[-1])
    return inits


def _grads(dtype, step, extreme=False):
    rg = np.random.default_rng(100 + step)
    gs = [rg.standard_normal(s).astype(dtype) for s in SHAPES]
    if extreme:
        f = gs[0].reshape(-1)
        f[:5] = [np.inf, -np.inf, 1e30, -1e-30, 0.0]
    return gs


def _run(kind, kw, dtype, extreme=False, steps=STEPS):
    """(deltagrad params, deltagrad optimizer, torch params, torch optimizer) after `steps`."""
    inits = _params(dtype)
    dp = [dg.nn.Parameter(a.copy(order="K")) for a in inits]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in inits]
    dopt = getattr(dg.optim, kind)(dp, **kw)
    topt = getattr(torch.optim, kind)(tp, **kw)
    for step in range(steps):
        gs = _grads(dtype, step, extreme)
        for i, (a, b, g) in enumerate(zip(dp, tp, gs)):
            none = i == 1 and step % 2 == 1  # a parameter without a gradient on some steps
            a.grad = None if none else dg.tensor(g.copy())
            b.grad = None if none else torch.tensor(g)
        with np.errstate(all="raise"):  # the step itself keeps numpy's warnings off
            dopt.step()
        topt.step()
    return dp, dopt, tp, topt


def _assert_state(dopt, topt, dp, tp, rtol, atol):
    for a, b in zip(dp, tp):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=rtol, atol=atol)
        ds, ts = dopt.state[a], topt.state.get(b, {})
        assert set(ds) == set(ts)
        for k, v in ts.items():
            want = v.detach().numpy() if torch.is_tensor(v) else v
            np.testing.assert_allclose(np.asarray(ds[k]), want, rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float64_matches_torch(case, small_chunks):
    kind, kw = CASES[case]
    dp, dopt, tp, topt = _run(kind, kw, np.float64)
    _assert_state(dopt, topt, dp, tp, 1e-12, 1e-14)


@pytest.mark.parametrize(
    "case",
    [
        "rmsprop_momentum_wd",
        "adagrad_all",
        "adam_amsgrad_wd_max",
        "nadam",
        "radam_rectified",
        "adadelta",
        "adamax",
        "rprop",
    ],
)
def test_float32_matches_torch(case):
    kind, kw = CASES[case]
    dp, dopt, tp, topt = _run(kind, kw, np.float32)
    _assert_state(dopt, topt, dp, tp, 1e-5, 1e-6)


@pytest.mark.parametrize(
    "case",
    [
        "rmsprop_centered",
        "adagrad",
        "adam_amsgrad",
        "adamax",
        "nadam",
        "radam",
        "adadelta",
        "asgd",
        "rprop",
    ],
)
def test_extreme_gradients_match_torch(case, small_chunks):
    kind, kw = CASES[case]
    dp, dopt, tp, topt = _run(kind, kw, np.float64, extreme=True, steps=3)
    for a, b in zip(dp, tp):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunked_and_whole_array_agree_bit_for_bit(case, monkeypatch):
    """The default chunk, 64-byte chunks and the whole-array path (as on a GPU): same bits."""
    kind, kw = CASES[case]
    results = []
    for chunk in (None, 64, 1 << 30):
        if chunk is not None:
            monkeypatch.setattr(chunked, "_CHUNK_BYTES", chunk)
            monkeypatch.setattr(chunked, "_SCRATCH", chunked._Scratch())
        dp, dopt, _, _ = _run(kind, kw, np.float32, extreme=True, steps=3)
        results.append([a.data.copy() for a in dp])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["RMSprop", "Adagrad", "Adadelta", "NAdam", "Rprop"])
def test_gradient_left_untouched_and_version_bumped(kind):
    p = dg.nn.Parameter(np.linspace(-1, 1, 300).reshape(20, 15))
    g = np.cos(np.arange(300.0)).reshape(20, 15)
    p.grad = dg.tensor(g.copy())
    opt = (
        getattr(dg.optim, kind)([p], maximize=True, weight_decay=0.1)
        if kind not in ("Rprop",)
        else dg.optim.Rprop([p], maximize=True)
    )
    before = p._version[0]
    opt.step()
    opt.step()
    np.testing.assert_array_equal(np.asarray(p.grad.data if hasattr(p.grad, "data") else p.grad), g)
    assert p._version[0] == before + 2


def test_mixed_dtypes_share_no_scratch(small_chunks):
    """float32 and float64 parameters in one optimizer: each uses scratch of its own dtype."""
    a = dg.nn.Parameter(np.linspace(-1, 1, 50, dtype=np.float32))
    b = dg.nn.Parameter(np.linspace(-1, 1, 50))
    ta, tb = (torch.nn.Parameter(torch.tensor(x.data)) for x in (a, b))
    dopt = dg.optim.RMSprop([a, b], lr=1e-2, centered=True)
    topt = torch.optim.RMSprop([ta, tb], lr=1e-2, centered=True)
    for step in range(3):
        g = np.sin(np.arange(50.0) + step)
        a.grad, b.grad = dg.tensor(g.astype(np.float32)), dg.tensor(g)
        ta.grad, tb.grad = torch.tensor(g.astype(np.float32)), torch.tensor(g)
        dopt.step()
        topt.step()
    assert a.data.dtype == np.float32 and b.data.dtype == np.float64
    np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-12, atol=1e-14)
