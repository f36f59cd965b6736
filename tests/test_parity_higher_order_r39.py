"""Higher-order gradients (create_graph=True) of the round-39 ops against torch 2.13, float64:
Tensor.scatter, max_unpool1d / 2d / 3d, diag_embed, xlogy / xlog1py, erfinv, sinc, the i0
family, zeta / gammainc / gammaincc (in their second argument), cdist, einsum with a repeated
index, grid_sample."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402
import deltagrad.special as S  # noqa: E402

TF = torch.nn.functional
TOL = {"rtol": 1e-9, "atol": 1e-9}
rng = np.random.default_rng(39)


def _close(d, t) -> None:
    assert d is not None and t is not None
    np.testing.assert_allclose(np.asarray(d.data), t.detach().numpy(force=True), **TOL)


def _hvp(fd, ft, arrays, nograd=()) -> None:
    """For L = <u, y> + <u2, y * y> / 2 (y = f(x...)): y, dL/dx (with a graph) and the
    Hessian-vector products d <w, dL/dx> / dx, deltagrad's against torch's."""
    ds = [dg.tensor(a, requires_grad=i not in nograd) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i not in nograd) for i, a in enumerate(arrays)]
    dins = [x for i, x in enumerate(ds) if i not in nograd]
    tins = [x for i, x in enumerate(ts) if i not in nograd]
    yd, yt = fd(*ds), ft(*ts)
    _close(yd, yt)
    u, u2 = (rng.standard_normal(tuple(yt.shape)) for _ in range(2))
    ld = (yd * dg.tensor(u)).sum() + (yd * yd * dg.tensor(u2)).sum() / 2
    lt = (yt * torch.tensor(u)).sum() + (yt * yt * torch.tensor(u2)).sum() / 2
    gd = dg.autograd.grad(ld, dins, create_graph=True)
    gt = torch.autograd.grad(lt, tins, create_graph=True)
    sd, st = 0, 0
    for a, b in zip(gd, gt):
        _close(a, b)
        w = rng.standard_normal(tuple(b.shape))
        sd = sd + (a * dg.tensor(w)).sum()
        st = st + (b * torch.tensor(w)).sum()
    hd = dg.autograd.grad(sd, dins, allow_unused=True, materialize_grads=True)
    ht = torch.autograd.grad(st, tins, allow_unused=True, materialize_grads=True)
    for a, b in zip(hd, ht):
        _close(a, b)


def r(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


# ---- scatter and max_unpool (linear: the double backward is the op's adjoint pair) ---------


def _perm_index(rows: int, n: int, k: int) -> np.ndarray:
    return np.stack([rng.permutation(n)[:k] for _ in range(rows)])


@pytest.mark.parametrize(
    "xs, ss, dim, idx",
    [
        ((3, 5), (3, 4), 1, _perm_index(3, 5, 2)),  # src larger than the index
        ((5, 3), (2, 3), 0, _perm_index(3, 5, 2).T.copy()),
        ((1, 1), (1, 1), 1, np.zeros((1, 1), np.int64)),
        ((2, 3), (2, 2), 1, np.zeros((2, 0), np.int64)),
        ((2, 4, 3), (2, 2, 3), 1, np.stack([_perm_index(2, 4, 2).T for _ in range(3)], -1)),
    ],
)
def test_scatter(xs, ss, dim, idx):
    def fd(x, s):
        return x.scatter(dim, dg.tensor(idx), s)

    def ft(x, s):  # (torch's backward fails for a src larger than the index: its corner)
        return x.scatter(dim, torch.tensor(idx), s[tuple(slice(0, n) for n in idx.shape)])

    _hvp(fd, ft, [r(*xs), r(*ss)])
    _hvp(fd, ft, [r(*xs), r(*ss)], nograd=(0,))


def test_scatter_value_and_duplicates():
    idx = np.array([[0, 0, 2], [1, 3, 3]])  # repeated: the src gradient is still a gather
    _hvp(
        lambda x: x.scatter(1, dg.tensor(idx), 1.5),
        lambda x: x.scatter(1, torch.tensor(idx), 1.5),
        [r(2, 4)],
    )
    s = r(2, 3)
    s[:, :] = s[:, :1]  # equal values at the repeated positions: the forward is defined
    s[1, 2] = s[1, 1]
    _hvp(
        lambda x: (x * 2).scatter(1, dg.tensor(idx), x[:, :3] * 0 + dg.tensor(s)),
        lambda x: (x * 2).scatter(1, torch.tensor(idx), x[:, :3] * 0 + torch.tensor(s)),
        [r(2, 4)],
    )


@pytest.mark.parametrize("nd, shape", [(1, (2, 3, 7)), (2, (1, 2, 5, 4)), (3, (1, 1, 4, 3, 5))])
def test_max_unpool(nd, shape):
    pool_d = getattr(F, f"max_pool{nd}d")
    pool_t = getattr(TF, f"max_pool{nd}d")
    unpool_d = getattr(F, f"max_unpool{nd}d")
    unpool_t = getattr(TF, f"max_unpool{nd}d")

    def fd(x):
        y, i = pool_d(x, 2, return_indices=True)
        return unpool_d(y.sin(), i, 2, output_size=x.shape[2:])

    def ft(x):
        y, i = pool_t(x, 2, return_indices=True)
        return unpool_t(y.sin(), i, 2, output_size=x.shape[2:])

    _hvp(fd, ft, [r(*shape)])


# ---- diag_embed and einsum's repeated index (linear) -----------------------------------------


@pytest.mark.parametrize(
    "shape, offset, d1, d2",
    [
        ((2, 3), 0, -2, -1),
        ((3, 4), 1, 0, 2),
        ((2, 1, 3), -2, 1, 3),
        ((1,), 0, 0, 1),
        ((2, 0), 1, 0, 1),
    ],
)
def test_diag_embed(shape, offset, d1, d2):
    _hvp(
        lambda x: x.diag_embed(offset, d1, d2).exp(),
        lambda x: x.diag_embed(offset, d1, d2).exp(),
        [r(*shape)],
    )
    _hvp(lambda x: dg.diag(x, offset).exp(), lambda x: torch.diag(x, offset).exp(), [r(shape[-1])])


@pytest.mark.parametrize(
    "eq, shapes",
    [
        ("ii->i", [(3, 3)]),
        ("ii", [(4, 4)]),
        ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
        ("bii,bi->b", [(2, 3, 3), (2, 3)]),
        ("iji->j", [(2, 5, 2)]),
        ("ii->i", [(1, 1)]),
        ("ii->i", [(0, 0)]),
    ],
)
def test_einsum_repeated_index(eq, shapes):
    arrays = [r(*s) for s in shapes]
    _hvp(lambda *xs: dg.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), arrays)


# ---- elementwise special functions -----------------------------------------------------------


def test_xlogy():
    x, y = r(3, 4), pos(3, 4)
    x[0, :2] = 0.0
    _hvp(lambda a, b: a.xlogy(b), lambda a, b: a.xlogy(b), [x, y])
    _hvp(lambda a, b: S.xlogy(a, b), lambda a, b: torch.special.xlogy(a, b), [r(3, 1), pos(4)])
    _hvp(lambda b: S.xlogy(2.5, b), lambda b: torch.special.xlogy(2.5, b), [pos(5)])
    _hvp(lambda a: S.xlogy(a, 3.0), lambda a: torch.special.xlogy(a, 3.0), [r(5)])
    _hvp(lambda a, b: a.xlogy(b), lambda a, b: a.xlogy(b), [r(0), pos(0)])


def test_xlog1py():
    x, y = r(3, 4), rng.uniform(-0.9, 2.0, (3, 4))
    x[0, :2] = 0.0
    _hvp(lambda a, b: S.xlog1py(a, b), lambda a, b: torch.special.xlog1py(a, b), [x, y])
    _hvp(lambda a, b: S.xlog1py(a, b), lambda a, b: torch.special.xlog1py(a, b), [r(1), pos(1)])
    _hvp(lambda b: S.xlog1py(-1.5, b), lambda b: torch.special.xlog1py(-1.5, b), [pos(4)])


def test_xlog1py_first_gradient_at_zero():
    # torch's gradient in x is log1p(y) at x == 0 too (0 only where y <= -1)
    x = np.array([0.0, 0.0, 0.0, 1.0])
    y = np.array([0.5, -1.0, -2.0, np.nan])
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    S.xlog1py(xd, dg.tensor(y)).sum().backward()
    torch.special.xlog1py(xt, torch.tensor(y)).sum().backward()
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), **TOL)


def _sinc_at_zero(fd, ft):
    """sinc's second derivative at 0 is -pi^2 / 3 here, NaN in torch (its masked_fill does not
    stop the NaN of the masked branch's gradient): compared away from 0, checked at 0."""
    _hvp(fd, ft, [np.append(r(7), 0.5)])
    x = dg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    (g,) = dg.autograd.grad(fd(x).sum(), [x], create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), [x])
    assert g.data[0] == 0 and h.data[0] == pytest.approx(-(math.pi**2) / 3)


def test_sinc():
    # Tensor.sinc: torch's formula for the values (bit for bit in float32), dg.special.sinc's
    # derivatives (a series near 0)
    _sinc_at_zero(lambda x: x.sinc(), lambda x: x.sinc())
    _sinc_at_zero(S.sinc, torch.special.sinc)
    x = dg.tensor(np.array([1e-6, 1e-20], np.float32), requires_grad=True)
    (g,) = dg.autograd.grad(x.sinc().sum(), [x], create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), [x])  # float32 near 0: no 0 / 0 blow-up
    np.testing.assert_allclose(h.data, -(math.pi**2) / 3, rtol=1e-6)


UNARY = [
    ("erfinv", lambda x: x.erfinv(), lambda x: x.erfinv(), rng.uniform(-0.9, 0.9, (3, 5))),
    ("special.erfinv", S.erfinv, torch.special.erfinv, rng.uniform(-0.9, 0.9, (1,))),
    ("special.sinc", S.sinc, torch.special.sinc, r(2, 3) * 2),
    ("i0", S.i0, torch.special.i0, np.append(r(7) * 3, 0.0)),
    ("Tensor.i0", lambda x: x.i0(), lambda x: x.i0(), r(2, 3)),
    ("i0e", S.i0e, torch.special.i0e, np.append(r(7) * 3, 0.0)),
    ("i1", S.i1, torch.special.i1, np.append(r(7) * 3, 0.0)),
    ("i1e", S.i1e, torch.special.i1e, np.append(r(7) * 3, 0.0)),
    ("i1 size 0", S.i1, torch.special.i1, r(0)),
]


@pytest.mark.parametrize("name, fd, ft, x", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fd, ft, x):
    _hvp(fd, ft, [x])


def test_zeta_and_incomplete_gamma():
    s = rng.uniform(1.5, 4.0, (2, 3))
    _hvp(lambda a, q: S.zeta(a, q), lambda a, q: torch.special.zeta(a, q), [s, pos(2, 3)], (0,))
    _hvp(lambda q: S.zeta(2.5, q), lambda q: torch.special.zeta(2.5, q), [pos(4)])
    a = rng.uniform(0.5, 3.0, (2, 3))
    for fd, ft in ((S.gammainc, torch.special.gammainc), (S.gammaincc, torch.special.gammaincc)):
        _hvp(fd, ft, [a, pos(2, 3)], nograd=(0,))
        _hvp(fd, ft, [a[:1, :1], pos(1, 1)], nograd=(0,))


@pytest.mark.parametrize(
    "fn, msg",
    [
        (lambda a, x: S.zeta(a, x), "zeta"),
        (lambda a, x: S.gammainc(a, x), "igamma: input"),
        (lambda a, x: S.gammaincc(a, x), "igammac: input"),
    ],
)
def test_no_derivative_in_the_first_argument(fn, msg):
    # torch defines none (not_implemented): neither at first nor at second order
    a = dg.tensor(rng.uniform(1.5, 3.0, 3), requires_grad=True)
    x = dg.tensor(pos(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match=msg):
        dg.autograd.grad(fn(a, x).sum(), [a, x], create_graph=True)
    # differs: torch computes x's gradient alone when only x is asked for; deltagrad's
    # backward raises whenever the first argument requires grad (at either order)
    with pytest.raises(NotImplementedError, match=msg):
        dg.autograd.grad(fn(a, x).sum(), [x], create_graph=True)


# ---- cdist -----------------------------------------------------------------------------------


def _cdist_ref(p):
    """torch's cdist has a double backward only on its matrix-product route (p = 2); the
    other p are compared with the same distance written from torch's differentiable ops."""

    def ft(a, b):
        if p == 2 and a.shape[-1] > 1 and a.numel():
            return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")
        d = (a.unsqueeze(-2) - b.unsqueeze(-3)).abs()
        if p == math.inf:
            return d.amax(-1)
        return d.pow(p).sum(-1).pow(1 / p)

    return ft


@pytest.mark.parametrize(
    "p, s1, s2",
    [
        (2.0, (3, 5), (4, 5)),
        (2.0, (2, 3, 4), (1, 5, 4)),
        (1.0, (3, 5), (4, 5)),
        (3.0, (4, 3), (2, 3)),
        (0.5, (3, 2), (3, 2)),
        (1.5, (3, 4), (5, 4)),
        (math.inf, (3, 5), (4, 5)),
        (2.0, (1, 1), (1, 1)),
        (2.0, (0, 3), (2, 3)),
    ],
)
def test_cdist(p, s1, s2):
    _hvp(lambda a, b: dg.cdist(a, b, p), _cdist_ref(p), [r(*s1), r(*s2)])


def test_cdist_p0_and_zero_distance():
    a, b = r(3, 2), r(2, 2)
    x1, x2 = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    g1, g2 = dg.autograd.grad((dg.cdist(x1, x2, 0.0) ** 2).sum(), [x1, x2], create_graph=True)
    assert not g1.data.any() and not g2.data.any()
    # a zero distance: the first gradient 0 (as torch's), the second derivative 0 too
    x1 = dg.tensor(np.repeat(a[:1], 2, 0), requires_grad=True)
    (g,) = dg.autograd.grad(dg.cdist(x1, x1.detach()).sum(), [x1], create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), [x1])
    assert np.isfinite(h.data).all()


# ---- grid_sample -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, padding_mode, align, xs, gs",
    [
        ("bilinear", "zeros", False, (2, 3, 4, 5), (2, 3, 2, 2)),
        ("bilinear", "border", True, (1, 2, 3, 4), (1, 2, 3, 2)),
        ("bilinear", "reflection", False, (1, 2, 3, 4), (1, 2, 3, 2)),
        ("bicubic", "zeros", True, (1, 2, 4, 5), (1, 2, 3, 2)),
        ("bicubic", "reflection", False, (1, 2, 4, 5), (1, 3, 2, 2)),
        ("bicubic", "border", False, (1, 1, 3, 3), (1, 2, 2, 2)),
        ("nearest", "zeros", False, (1, 2, 3, 4), (1, 2, 3, 2)),
        ("bilinear", "border", False, (1, 2, 3, 2, 4), (1, 2, 1, 2, 3)),
        ("bilinear", "zeros", True, (1, 1, 1, 1), (1, 1, 1, 2)),
    ],
)
def test_grid_sample(mode, padding_mode, align, xs, gs):
    grid = rng.uniform(-1.3, 1.3, gs)

    def fd(x, g):
        return F.grid_sample(x, g, mode=mode, padding_mode=padding_mode, align_corners=align)

    def ft(x, g):
        return TF.grid_sample(x, g, mode=mode, padding_mode=padding_mode, align_corners=align)

    _hvp(fd, ft, [r(*xs), grid])
    _hvp(fd, ft, [r(*xs), grid], nograd=(0,))


def test_grid_sample_size0():
    x = dg.tensor(r(0, 2, 3, 4), requires_grad=True)
    g = dg.tensor(rng.uniform(-1, 1, (0, 2, 2, 2)), requires_grad=True)
    y = F.grid_sample(x, g, align_corners=False)
    gx, gg = dg.autograd.grad((y * y).sum(), [x, g], create_graph=True)
    assert gx.shape == x.shape and gg.shape == g.shape
