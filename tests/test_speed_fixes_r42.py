"""Round 42 speed fixes against torch 2.13: Tensor.repeat / tile as one node (one copy forward,
the tiles summed in backward), flip / fliplr / flipud / roll, and Adamax / ASGD with the SGD
kernel's fused multiply-add (Adamax's lerp, ASGD's w -= eta * g) on the host: values, gradients,
double backward, parameters and optimizer state over several steps, every option."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.optim._more as more

torch = pytest.importorskip("torch")

TOL64 = dict(rtol=1e-10, atol=1e-12)
TOL32 = dict(rtol=2e-6, atol=1e-6)

# (input shape, repeat sizes): leading tiles (the row-sum path, few and many tiles), inner
# tiles, new leading dims, 0-d input, size-1 dims, zero reps, an empty input, all-ones reps
REPEATS = [
    ((7, 5), (4, 1)),
    ((7, 5), (20, 1)),
    ((3,), (2, 3, 2)),
    ((2, 3), (1, 1)),
    ((2, 1, 3), (2, 3, 1, 2)),
    ((3, 4), (1, 3)),
    ((3, 4), (2, 1, 3)),
    ((), (3,)),
    ((), (2, 2)),
    ((), ()),
    ((1,), (5,)),
    ((0, 3), (2, 2)),
    ((2, 3), (0, 2)),
    ((5,), (5,)),
    ((1, 4), (3, 1)),
    ((2, 1), (1, 4)),
]


def _pair(shape, dtype, seed=0):
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    return dg.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True)


def _grad(t):
    return np.asarray(t.grad.data if hasattr(t.grad, "data") else t.grad)


@pytest.mark.parametrize("dtype,tol", [(np.float64, TOL64), (np.float32, TOL32)])
@pytest.mark.parametrize("shape,reps", REPEATS)
def test_repeat_values_and_grads_match_torch(shape, reps, dtype, tol):
    x, xt = _pair(shape, dtype)
    y = x.repeat(*reps) if reps else x.repeat(())
    yt = xt.repeat(*reps) if reps else xt.repeat(())
    assert y.shape == tuple(yt.shape)
    assert y.data.dtype == dtype
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(dtype)
    y.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **tol)
    assert _grad(x).shape == x.shape and _grad(x).dtype == dtype


@pytest.mark.parametrize("shape,reps", [s for s in REPEATS if s[1]])
def test_tile_matches_torch(shape, reps):
    x, xt = _pair(shape, np.float64, seed=2)
    dims = reps[1:] if len(reps) > 1 else reps  # fewer dims than the input: padded with 1s
    y, yt = x.tile(dims), xt.tile(dims)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **TOL64)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **TOL64)


def test_repeat_is_a_new_tensor_and_int_bool_dtypes():
    a = np.arange(6).reshape(2, 3)
    x = dg.tensor(a.copy())
    y = x.repeat(2, 2)
    assert not np.shares_memory(y.data, x.data)
    y.data[0, 0] = 100
    assert x.data[0, 0] == 0
    for arr in (a.astype(np.int32), a % 2 == 0, a.astype(np.int64)):
        got = dg.tensor(arr).repeat(3, 1, 2).data
        want = torch.tensor(arr).repeat(3, 1, 2).numpy()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_repeat_double_backward_matches_torch():
    x, xt = _pair((3, 4), np.float64, seed=3)
    w = np.random.default_rng(4).standard_normal((2, 6, 8))
    (g,) = dg.autograd.grad((x.repeat(2, 2, 2) ** 3 * dg.tensor(w)).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(
        (xt.repeat(2, 2, 2) ** 3 * torch.tensor(w)).sum(), xt, create_graph=True
    )
    np.testing.assert_allclose(g.data, gt.detach().numpy(), **TOL64)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **TOL64)


def test_repeat_errors():
    x = dg.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="repeat"):
        x.repeat(2)
    with pytest.raises(TypeError, match="repeat"):
        x.repeat()
    with pytest.raises((ValueError, RuntimeError)):
        x.repeat(-1, 2)


def test_repeat_through_a_chain_and_twice():
    """repeat inside a graph (a non-leaf input), and a leaf used by two repeats."""
    x, xt = _pair((4, 3), np.float64, seed=5)
    y = (x * 2).repeat(3, 1) + x.repeat(1, 2).sum(1, keepdim=True).repeat(3, 3)[:, :3]
    yt = (xt * 2).repeat(3, 1) + xt.repeat(1, 2).sum(1, keepdim=True).repeat(3, 3)[:, :3]
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **TOL64)
    y.exp().sum().backward()
    yt.exp().sum().backward()
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **TOL64)


FLIPS = [
    ((5, 7), (1,)),
    ((5, 7), (0,)),
    ((5, 7), (0, 1)),
    ((5, 7), (-1,)),
    ((2, 3, 4), (-1, 0)),
    ((2, 3, 4), (1, -1)),
    ((2, 3, 4), ()),
    ((6,), (0,)),
    ((), ()),
    ((0, 3), (1,)),
    ((1, 9), (-2, -1)),
]


@pytest.mark.parametrize("dtype,tol", [(np.float64, TOL64), (np.float32, TOL32)])
@pytest.mark.parametrize("shape,dims", FLIPS)
def test_flip_values_and_grads_match_torch(shape, dims, dtype, tol):
    x, xt = _pair(shape, dtype, seed=6)
    y, yt = x.flip(dims), xt.flip(dims)
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    assert y.data.flags.c_contiguous and not np.shares_memory(y.data, x.data)
    g = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    y.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **tol)


def test_fliplr_flipud_roll_match_torch():
    x, xt = _pair((4, 5, 3), np.float64, seed=8)
    w = np.random.default_rng(9).standard_normal((4, 5, 3))
    outs = [x.fliplr(), x.flipud(), x.roll(2, 1), x.roll((-1, 3), (0, -1)), x.roll(7)]
    touts = [xt.fliplr(), xt.flipud(), xt.roll(2, 1), xt.roll((-1, 3), (0, -1)), xt.roll(7)]
    for o, ot in zip(outs, touts):
        np.testing.assert_array_equal(o.data, ot.detach().numpy())
    sum((o * dg.tensor(w * (i + 1))).sum() for i, o in enumerate(outs)).backward()
    sum((o * torch.tensor(w * (i + 1))).sum() for i, o in enumerate(touts)).backward()
    np.testing.assert_allclose(_grad(x), xt.grad.numpy(), **TOL64)
    with pytest.raises(ValueError, match="flip"):
        x.flip(0, -3)
    with pytest.raises(ValueError, match="fliplr"):
        dg.tensor(np.ones(3)).fliplr()


# ---- Adamax / ASGD -----------------------------------------------------------------------------

SHAPES = [(13, 7), (5,), (), (0, 2), (3, 4)]
STEPS = 7

OPTS = {
    "adamax": ("Adamax", dict(lr=1e-2)),
    "adamax_all": (
        "Adamax",
        dict(lr=2e-2, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1, maximize=True, foreach=True),
    ),
    "adamax_wd": ("Adamax", dict(lr=1e-2, weight_decay=0.05, foreach=False)),
    "adamax_big_weight": ("Adamax", dict(lr=1e-2, betas=(0.3, 0.5))),  # 1 - b1 >= 0.5
    "adamax_max": ("Adamax", dict(lr=1e-2, maximize=True, differentiable=False)),
    "asgd": ("ASGD", dict(lr=0.05)),
    "asgd_averaging": ("ASGD", dict(lr=0.05, t0=2, lambd=0.1, alpha=0.5)),
    "asgd_no_decay": ("ASGD", dict(lr=0.05, lambd=0.0, t0=0)),
    "asgd_wd_max": ("ASGD", dict(lr=0.03, weight_decay=0.1, maximize=True, t0=3)),
    "asgd_wd": ("ASGD", dict(lr=0.03, weight_decay=0.2, foreach=False)),
    # (not foreach=True: torch's foreach ASGD computes eta in float32, see test_parity_optim_r35)
    "asgd_max": ("ASGD", dict(lr=0.03, maximize=True, t0=1)),
}


def _state_num(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().numpy()
    return np.asarray(v, dtype=np.float64)


def _run_opt(case, dtype, fortran=False, steps=STEPS):
    kind, kw = OPTS[case]
    rng = np.random.default_rng(10)
    arrs = [np.asarray(rng.standard_normal(s)).astype(dtype) for s in SHAPES]
    ours = [dg.tensor(a.copy(), requires_grad=True) for a in arrs]
    if fortran:
        for p in ours:
            p.data = np.array(p.data, order="F")
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrs]
    opt, topt = getattr(dg.optim, kind)(ours, **kw), getattr(torch.optim, kind)(theirs, **kw)
    for step in range(steps):
        grng = np.random.default_rng([11, step])
        for i, (p, pt) in enumerate(zip(ours, theirs)):
            g = np.asarray(grng.standard_normal(SHAPES[i])).astype(dtype)
            if i == 1 and step % 3 == 1:
                p.grad, pt.grad = None, None
                continue
            p.grad = g.copy()
            pt.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    return ours, theirs, opt, topt


def _compare(ours, theirs, opt, topt, tol):
    for p, pt in zip(ours, theirs):
        assert p.data.dtype == pt.detach().numpy().dtype
        np.testing.assert_allclose(p.data, pt.detach().numpy(), **tol)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for k, st in sd["state"].items():
        tst = tsd["state"][k]
        assert set(st) == set(tst), (st.keys(), tst.keys())
        for key in st:
            np.testing.assert_allclose(_state_num(st[key]), _state_num(tst[key]), **tol)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert set(g) == set(tg)


@pytest.mark.parametrize("case", sorted(OPTS))
def test_optimizer_float64_matches_torch(case):
    _compare(*_run_opt(case, np.float64), TOL64)


@pytest.mark.parametrize("case", sorted(OPTS))
def test_optimizer_float32_matches_torch(case):
    _compare(*_run_opt(case, np.float32), dict(rtol=1e-5, atol=1e-6))


@pytest.mark.parametrize("case", ["adamax", "adamax_all", "asgd", "asgd_averaging"])
def test_fortran_order_params_take_the_array_path_and_agree(case):
    """Non-contiguous parameters skip the kernel (the numpy ops): the same numbers to 1e-12."""
    ours, theirs, opt, topt = _run_opt(case, np.float64, fortran=True)
    _compare(ours, theirs, opt, topt, TOL64)
    c_ours = _run_opt(case, np.float64)[0]
    for a, b in zip(ours, c_ours):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "case,expect",
    [
        ("adamax", True),
        ("adamax_all", True),
        ("adamax_big_weight", True),  # round 43: Adamax's own kernel takes either lerp
        ("asgd", True),
        ("asgd_averaging", True),
        ("asgd_wd", False),
        ("asgd_max", False),
    ],
)
def test_kernel_path_taken_where_expected(case, expect, monkeypatch):
    calls = []
    real = more._sub_scaled

    def spy(x, d, c):
        calls.append(c)
        real(x, d, c)

    monkeypatch.setattr(more, "_sub_scaled", spy)
    real_cpu = more._cpu

    class CpuSpy:  # round 43: Adamax runs its own kernel (_cpu.adamax_update)
        def __getattr__(self, name):
            return getattr(real_cpu, name)

        def adamax_update(self, *a, **k):
            calls.append("adamax")
            return real_cpu.adamax_update(*a, **k)

    monkeypatch.setattr(more, "_cpu", CpuSpy())
    _compare(*_run_opt(case, np.float64, steps=3), TOL64)
    assert bool(calls) is expect


@pytest.mark.parametrize("kind", ["Adamax", "ASGD"])
def test_grad_untouched_and_version_bumped(kind):
    p = dg.nn.Parameter(np.linspace(-1, 1, 300).reshape(20, 15))
    g = np.cos(np.arange(300.0)).reshape(20, 15)
    p.grad = g.copy()
    opt = getattr(dg.optim, kind)([p], lr=0.1)
    before = p._version[0]
    opt.step()
    opt.step()
    np.testing.assert_array_equal(_grad(p), g)
    assert p._version[0] == before + 2


def test_asgd_grad_sharing_param_memory_matches_torch():
    """A gradient that is the parameter's own array: the kernel refuses it, the numpy ops run."""
    a = np.random.default_rng(12).standard_normal((4, 5))
    p, pt = dg.nn.Parameter(a.copy()), torch.nn.Parameter(torch.tensor(a.copy()))
    opt, topt = dg.optim.ASGD([p], lr=0.1), torch.optim.ASGD([pt], lr=0.1)
    for _ in range(3):
        p.grad = p.data
        pt.grad = pt.data
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.data, pt.detach().numpy(), **TOL64)


def test_extreme_values_match_torch():
    """inf / nan / huge gradients and an infinite parameter: the kernel path as torch."""
    vals = np.array([np.inf, -np.inf, np.nan, 1e300, -1e-300, 0.0, 3.0])
    for kind, kw in (("ASGD", dict(lr=0.1, lambd=0.5)), ("Adamax", dict(lr=0.1))):
        w = np.array([1.0, 2.0, -1.0, 0.5, np.inf, -np.inf, 2.0])
        p, pt = dg.nn.Parameter(w.copy()), torch.nn.Parameter(torch.tensor(w.copy()))
        opt, topt = getattr(dg.optim, kind)([p], **kw), getattr(torch.optim, kind)([pt], **kw)
        for s in range(3):
            g = np.roll(vals, s)
            p.grad, pt.grad = g.copy(), torch.tensor(g.copy())
            opt.step()
            topt.step()
            np.testing.assert_allclose(p.data, pt.detach().numpy(), equal_nan=True, **TOL64)


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512")
    or dg._cpu.active_isa() not in ("avx2", "avx512"),
    reason="bit-for-bit needs fused multiply-adds in both libraries' vector code",
)
@pytest.mark.parametrize("kind,key", [("Adamax", "exp_avg"), ("ASGD", "ax")])
def test_float32_kernel_path_bit_for_bit_with_torch(kind, key):
    """The kernel's one-rounding lerp / add are torch's vectorized ones: float32 parameters
    and state equal to the bit over several steps (the numpy ops differed by an ulp)."""
    rng = np.random.default_rng(13)
    w0 = rng.standard_normal(10_003).astype(np.float32)
    p, pt = dg.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    opt, topt = getattr(dg.optim, kind)([p], lr=1e-2), getattr(torch.optim, kind)([pt], lr=1e-2)
    for _ in range(5):
        g = rng.standard_normal(w0.size).astype(np.float32)
        p.grad, pt.grad = g.copy(), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_array_equal(p.data, pt.detach().numpy())
    np.testing.assert_array_equal(opt.state[p][key], topt.state[pt][key].numpy())
