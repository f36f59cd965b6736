"""Higher-order gradients, round 38 part 3: the reductions, scans and norms that lacked a
double backward, the relu-like masks with a graph back to their input (zeros, as torch), and
dg.autograd.Function under create_graph=True (once differentiable). Against torch 2.13,
float64 to 1e-9."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402

TF = torch.nn.functional
TOL = {"rtol": 1e-9, "atol": 1e-9}
rng = np.random.default_rng(3838)


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


def _close(d, t) -> None:
    assert d is not None and t is not None
    np.testing.assert_allclose(_np(d), _np(t), **TOL)


def _second(fd, ft, x0: np.ndarray) -> None:
    """y, dy/dx (with a graph) and d <dy/dx, w> / dx, deltagrad against torch."""
    a, t = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    yd, yt = fd(a), ft(t)
    _close(yd, yt)
    v = rng.standard_normal(tuple(yt.shape))
    (gd,) = dg.autograd.grad(yd, a, dg.tensor(v), create_graph=True)
    (gt,) = torch.autograd.grad(yt, t, torch.tensor(v), create_graph=True)
    _close(gd, gt)
    assert gd.requires_grad == gt.requires_grad
    w = rng.standard_normal(x0.shape)
    if not gt.requires_grad:
        return
    (hd,) = dg.autograd.grad((gd * dg.tensor(w)).sum(), a, materialize_grads=True)
    (ht,) = torch.autograd.grad((gt * torch.tensor(w)).sum(), t, materialize_grads=True)
    _close(hd, ht)


X = rng.standard_normal((3, 5))
XZ = X.copy()
XZ[1, 2] = 0.0  # one zero in a row
XZ[2, 0] = XZ[2, 3] = 0.0  # two zeros in a row

REDUCTIONS = {
    "var": (lambda a: a.var(), lambda t: t.var()),
    "var_dim1": (lambda a: a.var(1), lambda t: t.var(1)),
    "var_dims_c0_keep": (
        lambda a: a.var((0, 1), correction=0, keepdim=True),
        lambda t: t.var((0, 1), correction=0, keepdim=True),
    ),
    "var_unbiased_false": (lambda a: a.var(0, False), lambda t: t.var(0, False)),
    "std": (lambda a: a.std(), lambda t: t.std()),
    "std_dim0": (lambda a: a.std(0), lambda t: t.std(0)),
    "std_c2_keep": (
        lambda a: a.std(1, correction=2, keepdim=True),
        lambda t: t.std(1, correction=2, keepdim=True),
    ),
    "prod": (lambda a: a.prod(), lambda t: t.prod()),
    "prod_dim1": (lambda a: a.prod(1), lambda t: t.prod(1)),
    "prod_dim0_keep": (lambda a: a.prod(0, keepdim=True), lambda t: t.prod(0, keepdim=True)),
    "cumsum": (lambda a: a.cumsum(1) ** 2, lambda t: t.cumsum(1) ** 2),
    "cumprod1": (lambda a: a.cumprod(1), lambda t: t.cumprod(1)),
    "cumprod0": (lambda a: a.cumprod(0), lambda t: t.cumprod(0)),
    "flip_roll_tril_triu": (
        lambda a: a.flip(1).roll(2, 1).tril(1).triu(-1) ** 3,
        lambda t: t.flip(1).roll(2, 1).tril(1).triu(-1) ** 3,
    ),
    "amax": (lambda a: a.amax(1) ** 2, lambda t: t.amax(1) ** 2),
    "amin_all": (lambda a: a.amin() ** 3, lambda t: t.amin() ** 3),
    "max": (lambda a: a.max() ** 2, lambda t: t.max() ** 2),
    "max_dim": (lambda a: a.max(1).values ** 2, lambda t: t.max(1).values ** 2),
    "min_dim_keep": (
        lambda a: a.min(0, keepdim=True).values ** 2,
        lambda t: t.min(0, keepdim=True).values ** 2,
    ),
    "median": (lambda a: a.median() ** 2, lambda t: t.median() ** 2),
    "median_dim": (lambda a: a.median(1).values ** 2, lambda t: t.median(1).values ** 2),
    "sort": (lambda a: a.sort(1).values ** 2, lambda t: t.sort(1).values ** 2),
    "topk": (lambda a: a.topk(2, 0).values ** 3, lambda t: t.topk(2, 0).values ** 3),
    "kthvalue": (lambda a: a.kthvalue(2, 1).values ** 2, lambda t: t.kthvalue(2, 1).values ** 2),
    "cummax": (lambda a: a.cummax(1).values ** 2, lambda t: t.cummax(1).values ** 2),
    "logcumsumexp": (lambda a: a.logcumsumexp(1), lambda t: t.logcumsumexp(1)),
    "logcumsumexp_big": (
        lambda a: (a * 40).logcumsumexp(0) * 0.01,
        lambda t: (t * 40).logcumsumexp(0) * 0.01,
    ),
    "norm3": (lambda a: a.norm(3, 1), lambda t: t.norm(3, 1)),
    "norm2.5_all": (lambda a: a.norm(2.5), lambda t: t.norm(2.5)),
    "norm_inf": (lambda a: a.norm(math.inf, 1) ** 2, lambda t: t.norm(math.inf, 1) ** 2),
    "norm_-inf": (lambda a: a.norm(-math.inf) ** 2, lambda t: t.norm(-math.inf) ** 2),
    "vector_norm4": (
        lambda a: dg.linalg.vector_norm(a, 4, 0),
        lambda t: torch.linalg.vector_norm(t, 4, 0),
    ),
    "dist3": (lambda a: dg.dist(a, a[0] * 2, 3), lambda t: torch.dist(t, t[0] * 2, 3)),
    "logaddexp": (lambda a: a.logaddexp(a[0] * 2), lambda t: t.logaddexp(t[0] * 2)),
    "hypot": (lambda a: a.hypot(a[1] * 2 + 1), lambda t: t.hypot(t[1] * 2 + 1)),
    "clamp_tensor": (
        lambda a: a.clamp(a[0] * 0.5, a[1].abs() + 0.2) ** 2,
        lambda t: t.clamp(t[0] * 0.5, t[1].abs() + 0.2) ** 2,
    ),
}


XP = np.abs(X) + 0.3  # the gamma family's domain
U = 1 / (1 + np.exp(-X))  # logit's
XN = X.copy()
XN[0, 1], XN[1, 1], XN[2, 4] = np.nan, np.inf, -np.inf

ELEMENTWISE = {
    "lgamma": (lambda a: a.lgamma(), lambda t: t.lgamma(), XP),
    "digamma": (lambda a: a.digamma(), lambda t: t.digamma(), XP),
    "special.gammaln": (dg.special.gammaln, torch.special.gammaln, XP),
    "special.digamma": (dg.special.digamma, torch.special.digamma, XP),
    "special.polygamma2": (
        lambda a: dg.special.polygamma(2, a),
        lambda t: torch.special.polygamma(2, t),
        XP,
    ),
    "special.erfcx": (dg.special.erfcx, torch.special.erfcx, X),
    "special.entr": (dg.special.entr, torch.special.entr, XP),
    "special.ndtr": (dg.special.ndtr, torch.special.ndtr, X),
    "logit": (lambda a: a.logit(), lambda t: t.logit(), U),
    "logit_eps": (lambda a: a.logit(0.2) ** 2, lambda t: t.logit(0.2) ** 2, U),
    "remainder": (
        lambda a: a.remainder(a[0].abs() + 0.5) ** 2,
        lambda t: t.remainder(t[0].abs() + 0.5) ** 2,
        X,
    ),
    "nan_to_num": (  # (finite replacements: torch's g * isfinite(x) is NaN at an inf g)
        lambda a: a.nan_to_num(0.0, 5.0, -5.0) ** 2,
        lambda t: t.nan_to_num(0.0, 5.0, -5.0) ** 2,
        XN,
    ),
    "nansum": (lambda a: a.nansum(1) ** 2, lambda t: t.nansum(1) ** 2, XN),
    "hardswish": (
        lambda a: F.hardswish(a) ** 2,
        lambda t: TF.hardswish(t) ** 2,
        np.array([-4.0, -3.0, -1.5, 0.0, 2.0, 3.0, 3.5, 10.0]),
    ),
    "hardswish_random": (F.hardswish, TF.hardswish, X * 3),
    "einsum_mm": (
        lambda a: dg.einsum("ij,jk->ik", a, a.T.exp()),
        lambda t: torch.einsum("ij,jk->ik", t, t.T.exp()),
        X,
    ),
    "einsum_rowdot": (
        lambda a: dg.einsum("ij,ij->i", a, a * a),
        lambda t: torch.einsum("ij,ij->i", t, t * t),
        X,
    ),
    "einsum_summed_letter": (
        lambda a: dg.einsum("ij,k->ik", a, a.sum(0).sin()),
        lambda t: torch.einsum("ij,k->ik", t, t.sum(0).sin()),
        X,
    ),
    "einsum_three": (
        lambda a: dg.einsum("ij,jk,kl->il", a, dg.tensor(X.T[:, :2]), a[:2] ** 2),
        lambda t: torch.einsum("ij,jk,kl->il", t, torch.tensor(X.T[:, :2]), t[:2] ** 2),
        X,
    ),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_second_derivative_elementwise(name: str) -> None:
    fd, ft, x0 = ELEMENTWISE[name]
    _second(fd, ft, x0)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_second_derivative(name: str) -> None:
    fd, ft = REDUCTIONS[name]
    _second(fd, ft, X)


@pytest.mark.parametrize(
    "name", ["prod", "prod_dim1", "prod_dim0_keep", "cumprod1", "cumprod0", "norm3", "var"]
)
def test_second_derivative_with_zeros(name: str) -> None:
    """prod / cumprod exact where the input holds zeros (one and two per slice)."""
    fd, ft = REDUCTIONS[name]
    _second(fd, ft, XZ)


@pytest.mark.parametrize("shape", [(1,), (1, 4), (4, 1), (2, 3, 2)])
def test_odd_shapes(shape: tuple) -> None:
    x0 = rng.standard_normal(shape) + 0.5
    names = ["prod", "cumprod0", "amin_all", "max", "median", "norm2.5_all"]
    if len(shape) > 1:
        names += ["prod_dim1", "cumprod1", "logcumsumexp", "amax", "max_dim", "sort", "norm3"]
    if len(shape) > 1 and shape[1] > 1:
        names += ["var_dim1", "std_c2_keep"] if shape[1] > 2 else ["var_dim1"]
    for nm in names:
        fd, ft = REDUCTIONS[nm]
        _second(fd, ft, x0)


def test_third_order_var_prod() -> None:
    """Every order: the first gradient's own dbackward is built from the same ops."""
    for fd, ft in (REDUCTIONS["var_dim1"], REDUCTIONS["prod_dim1"], REDUCTIONS["cumprod1"]):
        a, t = dg.tensor(XZ, requires_grad=True), torch.tensor(XZ, requires_grad=True)
        (gd,) = dg.autograd.grad(fd(a).sum(), a, create_graph=True)
        (gt,) = torch.autograd.grad(ft(t).sum(), t, create_graph=True)
        (hd,) = dg.autograd.grad((gd * gd).sum(), a, create_graph=True)
        (ht,) = torch.autograd.grad((gt * gt).sum(), t, create_graph=True)
        _close(hd, ht)
        (kd,) = dg.autograd.grad(hd.sum(), a, materialize_grads=True)
        (kt,) = torch.autograd.grad(ht.sum(), t, materialize_grads=True)
        _close(kd, kt)


# ---- relu-like masks: a graph back to x, with a zero derivative -----------------------------

MASKED = {
    "relu": (F.relu, TF.relu),
    "relu_inplace": (lambda x: F.relu(x * 1, inplace=True), lambda x: TF.relu(x * 1)),
    "relu_module": (dg.nn.ReLU(), torch.nn.ReLU()),
    "relu6": (F.relu6, TF.relu6),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "threshold": (lambda x: F.threshold(x, 0.1, 20.0), lambda x: TF.threshold(x, 0.1, 20.0)),
    "hardshrink": (F.hardshrink, TF.hardshrink),
    "softshrink": (F.softshrink, TF.softshrink),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_mask_keeps_a_graph(name: str) -> None:
    fd, ft = MASKED[name]
    v = np.array([1.0, -2.0, 3.0, 0.3, -0.45])
    a, b = dg.tensor(v, requires_grad=True), dg.tensor([0.5], requires_grad=True)
    ta, tb = torch.tensor(v, requires_grad=True), torch.tensor([0.5], requires_grad=True)
    (g,) = dg.autograd.grad(fd(a + b).sum(), a, create_graph=True)
    (gt,) = torch.autograd.grad(ft(ta + tb).sum(), ta, create_graph=True)
    _close(g, gt)
    assert g.requires_grad and gt.requires_grad
    (hb,) = dg.autograd.grad(g.sum(), b)
    (htb,) = torch.autograd.grad(gt.sum(), tb)
    _close(hb, htb)
    assert not np.any(_np(hb))
    # backward(): .grad zeros (not None), as torch
    (g,) = dg.autograd.grad(fd(a + b).sum(), a, create_graph=True)
    (gt,) = torch.autograd.grad(ft(ta + tb).sum(), ta, create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    assert b.grad is not None and tb.grad is not None
    _close(b.grad, tb.grad)
    _close(a.grad, ta.grad)


def test_relu_mask_reproducer() -> None:
    a = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = dg.tensor([0.5], requires_grad=True)
    (g,) = dg.autograd.grad(F.relu(a + b).sum(), a, create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), b)
    np.testing.assert_array_equal(_np(h), [0.0])


def test_mask_gradient_in_g_and_third_order() -> None:
    """The mask node is linear in g: d/dg is the mask, and so on at every order."""
    v = np.array([1.5, -2.0, 0.7, -0.1])
    a, ta = dg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (g,) = dg.autograd.grad((F.relu(a) ** 3).sum(), a, create_graph=True)
    (gt,) = torch.autograd.grad((TF.relu(ta) ** 3).sum(), ta, create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), a, create_graph=True)
    (ht,) = torch.autograd.grad(gt.sum(), ta, create_graph=True)
    _close(h, ht)
    (k,) = dg.autograd.grad(h.sum(), a)
    (kt,) = torch.autograd.grad(ht.sum(), ta)
    _close(k, kt)


def test_mask_never_nan_at_inf() -> None:
    v = np.array([np.inf, -np.inf, 1.0, -1.0])
    a = dg.tensor(v, requires_grad=True)
    for fn in (F.relu, F.relu6, lambda x: F.leaky_relu(x, 0.2), F.hardtanh):
        (g,) = dg.autograd.grad(fn(a).sum(), a, create_graph=True)
        (h,) = dg.autograd.grad((g * g).sum(), a)
        assert np.all(_np(h) == 0.0)
    # g itself inf / NaN where the mask is 0: 0 there (as torch's threshold_backward)
    x = dg.tensor([1.0, -1.0], requires_grad=True)
    gi = dg.tensor([np.inf, np.inf], requires_grad=True)
    y = F.relu(x)
    (g,) = dg.autograd.grad(y, x, gi, create_graph=True)
    np.testing.assert_array_equal(_np(g), [np.inf, 0.0])


@pytest.mark.parametrize(
    "fd, ft",
    [
        (lambda x: x.clamp(-1, 2), lambda x: x.clamp(-1, 2)),
        (lambda x: dg.maximum(x, x.detach() * 0 + 0.3), lambda x: torch.maximum(x, x * 0 + 0.3)),
        (lambda x: x.masked_fill(x.data > 1, 0.0), lambda x: x.masked_fill(x > 1, 0.0)),
    ],
)
def test_linear_masks_without_a_graph_as_torch(fd, ft) -> None:
    """clamp / maximum / minimum / masked_fill: torch's first gradient has no graph back to
    x (its masks are plain comparisons), so neither does deltagrad's."""
    v = np.array([1.5, -2.0, 0.7, -0.1])
    a, ta = dg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (g,) = dg.autograd.grad(fd(a).sum(), a, create_graph=True)
    (gt,) = torch.autograd.grad(ft(ta).sum(), ta, create_graph=True)
    _close(g, gt)
    assert g.requires_grad == gt.requires_grad


def test_gradient_penalty_mlp_relu() -> None:
    """A gradient penalty through Linear-ReLU-Linear: the first bias is reached only through
    the ReLU mask (its .grad zeros, as torch), the last bias not at all (None, as torch)."""
    w1, b1 = rng.standard_normal((4, 6)), rng.standard_normal(6)
    w2, b2 = rng.standard_normal((6, 2)), rng.standard_normal(2)
    x0 = rng.standard_normal((5, 4))
    dp = [dg.tensor(p, requires_grad=True) for p in (w1, b1, w2, b2)]
    tp = [torch.tensor(p, requires_grad=True) for p in (w1, b1, w2, b2)]

    def run(lib, F_, ps):
        x = lib.tensor(x0, requires_grad=True)
        out = F_.relu(x @ ps[0] + ps[1]) @ ps[2] + ps[3]
        (gx,) = lib.autograd.grad(out.sum(), x, create_graph=True)
        ((gx * gx).sum(1).sqrt() - 1).pow(2).mean().backward()

    run(dg, F, dp)
    run(torch, TF, tp)
    for d, t in zip(dp, tp):
        assert (d.grad is None) == (t.grad is None)
        if t.grad is not None:
            _close(d.grad, t.grad)
    assert tp[1].grad is not None and not tp[1].grad.any()


# ---- dg.autograd.Function: once differentiable -------------------------------------------


class _Cube(dg.autograd.Function):
    @staticmethod
    def forward(ctx, x, k=1.0):
        ctx.save_for_backward(x)
        ctx.k = k
        return k * x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * ctx.k * x * x * g, None


def test_function_create_graph_once_differentiable() -> None:
    a = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (g,) = dg.autograd.grad(_Cube.apply(a, 2.0).sum(), a, create_graph=True)
    np.testing.assert_allclose(_np(g), 6 * _np(a) ** 2)
    assert not g.requires_grad  # the output gradient had no graph: a constant, as torch
    y = _Cube.apply(a * 1.0, 2.0)
    (g,) = dg.autograd.grad((y * y).sum(), a, create_graph=True)
    np.testing.assert_allclose(_np(g), 2 * 2 * _np(a) ** 3 * 6 * _np(a) ** 2)
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="differentiate twice the Function _Cube"):
        dg.autograd.grad(g.sum(), a)
    _Cube.apply(a, 2.0).sum().backward()  # the plain backward is unchanged
    np.testing.assert_allclose(_np(a.grad), 6 * _np(a) ** 2)
