"""Double backward (create_graph=True) of Tensor.scatter_reduce (sum, mean, amax, amin, prod)
and Tensor.index_reduce (prod, mean, amax, amin), include_self True and False, against torch
2.13 in float64: gradgradcheck on smooth data, and the first gradients and Hessian-vector
products compared with torch's where the data ties (amax / amin: torch's even split) or holds
zeros (prod), with repeated indices, odd sizes, dim 0 and the last dim."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
from deltagrad.gradcheck import gradgradcheck  # noqa: E402

TOL = {"rtol": 1e-9, "atol": 1e-9}
SCATTER = ("sum", "mean", "amax", "amin", "prod")
INDEX = ("prod", "mean", "amax", "amin")
rng = np.random.default_rng(40)

pytestmark = pytest.mark.filterwarnings("ignore:index_reduce")  # torch: "in beta"


# ---- the cases: (self, index, src) arrays for a dim ----------------------------------------


def _scatter_case(dim: int, kind: str = "smooth", wide_src: bool = False):
    """self (5, 4) or (3, 2, 7); an index with repeated targets, smaller than self in the
    other dims (dim 0) or in one of them (last dim); src of index's shape, or larger
    (wide_src: its tail gets no gradient; torch's backward refuses that shape). kind: smooth
    (values away from 0), ties (small integers: equal values everywhere) or zeros."""
    if dim == 0:
        xs, index_shape, ss, n = (5, 4), (7, 3), (8, 4), 5
    else:
        xs, index_shape, ss, n = (3, 2, 7), (2, 2, 9), (3, 2, 11), 7
    idx = rng.integers(0, n, index_shape)
    ss = ss if wide_src else index_shape
    x, s = _values(xs, kind), _values(ss, kind)
    return x, idx, s


def _index_case(dim: int, kind: str = "smooth"):
    """index_reduce's self, 1-d index (repeats, one slot never hit) and source along dim."""
    if dim == 0:
        xs, ss, n = (5, 3), (7, 3), 5
    else:
        xs, ss, n = (2, 3, 5), (2, 3, 8), 5
    idx = rng.integers(0, n - 1, ss[dim])  # slot n-1 never reached
    return _values(xs, kind), idx, _values(ss, kind)


def _values(shape, kind):
    if kind == "ties":
        return rng.integers(-1, 2, shape).astype(np.float64)
    if kind == "zeros":  # away from zero, then a few exact zeros
        v = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        v.reshape(-1)[rng.choice(v.size, max(1, v.size // 9), replace=False)] = 0.0
        return v
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _fns(op, dim, idx, reduce, include_self):
    if op == "scatter":
        return (
            lambda x, s: x.scatter_reduce(
                dim, dg.tensor(idx), s, reduce, include_self=include_self
            ),
            lambda x, s: x.scatter_reduce(
                dim, torch.tensor(idx), s, reduce, include_self=include_self
            ),
        )
    return (
        lambda x, s: x.index_reduce(dim, dg.tensor(idx), s, reduce, include_self=include_self),
        lambda x, s: x.index_reduce(dim, torch.tensor(idx), s, reduce, include_self=include_self),
    )


def _close(d, t, what: str) -> None:
    if d is None or t is None:  # unused: a zero gradient on one side
        d_arr = np.zeros(t.shape) if d is None and t is not None else None
        t_arr = np.zeros(d.shape) if t is None and d is not None else None
        if d_arr is None and t_arr is None:
            return
        d_arr = np.asarray(d.data) if d is not None else d_arr
        t_arr = t.detach().numpy() if t is not None else t_arr
    else:
        d_arr, t_arr = np.asarray(d.data), t.detach().numpy()
    np.testing.assert_allclose(d_arr, t_arr, err_msg=what, **TOL)


def _second(fd, ft, x, s, dtype=np.float64, tol=TOL):
    """y = f(x, s); the first gradients g = d<u, y>/d(x, s) with a graph (u requires grad);
    then d<w, g>/d(x, s, u): deltagrad's against torch's."""
    u = rng.standard_normal(ft(torch.tensor(x), torch.tensor(s)).shape).astype(dtype)
    w = [rng.standard_normal(x.shape).astype(dtype), rng.standard_normal(s.shape).astype(dtype)]
    res = []
    for lib, f in ((dg, fd), (torch, ft)):
        xt = lib.tensor(x.astype(dtype), requires_grad=True)
        st = lib.tensor(s.astype(dtype), requires_grad=True)
        ut = lib.tensor(u, requires_grad=True)
        y = f(xt, st)
        g = lib.autograd.grad(y, (xt, st), ut, create_graph=True)
        inner = sum((gi * lib.tensor(wi)).sum() for gi, wi in zip(g, w))
        h = lib.autograd.grad(inner, (xt, st, ut), allow_unused=True)
        res.append((y, g, h))
    (yd, gd, hd), (yt, gt, ht) = res
    for name, a, b in zip(
        ("y", "g_self", "g_src", "d/dself", "d/dsrc", "d/dgrad"),
        (yd, *gd, *hd),
        (yt, *gt, *ht),
    ):
        if a is None or b is None:
            _close(a, b, name)
        else:
            np.testing.assert_allclose(np.asarray(a.data), b.detach().numpy(), err_msg=name, **tol)


# ---- gradgradcheck (numerical second derivatives) on smooth data --------------------------


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", SCATTER)
@pytest.mark.parametrize("dim", [0, -1])
def test_scatter_reduce_gradgradcheck(dim, reduce, include_self):
    x, idx, s = _scatter_case(dim, wide_src=True)
    fd, _ = _fns("scatter", dim, idx, reduce, include_self)
    xt, st = dg.tensor(x, requires_grad=True), dg.tensor(s, requires_grad=True)
    assert gradgradcheck(fd, (xt, st))


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", INDEX)
@pytest.mark.parametrize("dim", [0, -1])
def test_index_reduce_gradgradcheck(dim, reduce, include_self):
    x, idx, s = _index_case(dim)
    fd, _ = _fns("index", dim, idx, reduce, include_self)
    xt, st = dg.tensor(x, requires_grad=True), dg.tensor(s, requires_grad=True)
    assert gradgradcheck(fd, (xt, st))


# ---- second derivatives against torch's: smooth data, ties, zeros -------------------------


@pytest.mark.parametrize("kind", ["smooth", "ties", "zeros"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", SCATTER)
@pytest.mark.parametrize("dim", [0, -1])
def test_scatter_reduce_second_derivatives_match_torch(dim, reduce, include_self, kind):
    x, idx, s = _scatter_case(dim, kind)
    if reduce == "prod" and kind == "ties":
        kind = "zeros"  # prod's ties are its zeros: below
    if reduce == "prod" and kind == "zeros":
        x, idx, s = _single_zero_case(x, idx, s, dim)
    _second(*_fns("scatter", dim, idx, reduce, include_self), x, s)


@pytest.mark.parametrize("kind", ["smooth", "ties", "zeros"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", INDEX)
@pytest.mark.parametrize("dim", [0, -1])
def test_index_reduce_second_derivatives_match_torch(dim, reduce, include_self, kind):
    x, idx, s = _index_case(dim, kind)
    if reduce == "prod":
        x, s = _values(x.shape, "zeros"), _values(s.shape, "smooth")
        x.reshape(-1)[0] = 0.0
        s[(slice(None),) * (dim % s.ndim) + (0,)] = 0.0  # one zero slice: one zero per site
        idx[0] = idx[-1] = 0 if idx[0] != 0 else 1  # ... and another slice onto that site
    _second(*_fns("index", dim, idx, reduce, include_self), x, s)


def _single_zero_case(x, idx, s, dim):
    """Zeros in self and src, at most one src zero per site (where torch's formula holds)."""
    s = np.where(s == 0, 0.7, s)
    x = x.copy()
    x.reshape(-1)[::3] = 0.0
    d = dim % x.ndim
    cut = tuple(slice(0, m) for m in idx.shape)
    seen = set()
    for pos in zip(*np.nonzero(np.ones(idx.shape, bool))):
        if rng.random() < 0.3:
            site = pos[:d] + (int(idx[pos]),) + pos[d + 1 :]
            if site not in seen:
                seen.add(site)
                s[cut][pos] = 0.0
    return x, idx, s


def test_ties_split_evenly_and_the_second_derivative_in_grad_is_that_split():
    """amax with self and two src elements equal at one site: a third each, in the first
    gradient and in its derivative in the output gradient; none in self or src (as torch)."""
    x = np.array([1.0, 5.0, 2.0])
    s = np.array([5.0, 5.0, 0.0, 2.0])
    idx = np.array([1, 1, 0, 2])
    for inc in (True, False):
        fd, ft = _fns("scatter", 0, idx, "amax", inc)
        _second(fd, ft, x, s)
    xt = dg.tensor(x, requires_grad=True)
    st = dg.tensor(s, requires_grad=True)
    u = dg.tensor(np.ones(3), requires_grad=True)
    gx, gs = dg.autograd.grad(
        xt.scatter_reduce(0, dg.tensor(idx), st, "amax"), (xt, st), u, create_graph=True
    )
    np.testing.assert_allclose(gx.data, [1.0, 1 / 3, 0.5])
    np.testing.assert_allclose(gs.data, [1 / 3, 1 / 3, 0.0, 0.5])
    (du,) = dg.autograd.grad(gs.sum(), (u,))
    np.testing.assert_allclose(du.data, [0.0, 2 / 3, 0.5])


@pytest.mark.parametrize("op", ["scatter", "index"])
def test_prod_two_zeros_at_a_site_refuse_the_double_backward_in_src(op):
    """Two zeros of src at one site: the first gradients are right, their derivative through
    src's is not defined by torch's formula: both raise that, and self's path still works."""
    x = rng.uniform(0.5, 1.5, (4, 3))
    if op == "scatter":
        idx = np.array([[0, 1, 2], [0, 3, 2], [1, 1, 3]])
        s = rng.uniform(0.5, 1.5, (3, 3))
        s[0, 0] = s[1, 0] = 0.0  # both at x[0, 0]
    else:
        idx = np.array([2, 0, 2])
        s = rng.uniform(0.5, 1.5, (3, 3))
        s[0, 1] = s[2, 1] = 0.0  # both at x[2, 1]
    fd, ft = _fns(op, 0, idx, "prod", True)
    outs = []
    for lib, f in ((dg, fd), (torch, ft)):
        xt = lib.tensor(x, requires_grad=True)
        st = lib.tensor(s, requires_grad=True)
        gx, gs = lib.autograd.grad(f(xt, st).sum(), (xt, st), create_graph=True)
        with pytest.raises(RuntimeError, match="Double backward is unsupported"):
            lib.autograd.grad(gs.sum(), (xt, st), allow_unused=True)
        h = lib.autograd.grad((gx * gx).sum(), (xt, st), allow_unused=True)
        outs.append((gx, gs, *h))
    for a, b in zip(*outs):
        _close(a, b, "prod with two zeros")


def test_prod_third_derivative_matches_torch():
    x, idx, s = _scatter_case(0)
    fd, ft = _fns("scatter", 0, idx, "prod", True)
    res = []
    for lib, f in ((dg, fd), (torch, ft)):
        xt = lib.tensor(x, requires_grad=True)
        st = lib.tensor(s, requires_grad=True)
        (gx,) = lib.autograd.grad(f(xt, st).sum(), (xt,), create_graph=True)
        (hs,) = lib.autograd.grad(gx.sum(), (st,), create_graph=True)
        res.append(lib.autograd.grad((hs * hs).sum(), (xt, st)))
    for a, b in zip(*res):
        _close(a, b, "third order")


@pytest.mark.parametrize("reduce", SCATTER)
def test_create_graph_first_gradients_equal_the_plain_ones(reduce):
    """The Tensor-op formulas (create_graph=True) give the plain backward's values, also
    where nothing is scattered (an empty index) and for one element."""
    for x, idx, s in (
        _scatter_case(0, "ties"),
        (np.array([2.0]), np.array([0]), np.array([3.0])),
        (rng.standard_normal((3, 2)), np.zeros((0, 2), np.int64), rng.standard_normal((2, 2))),
    ):
        fd, _ = _fns("scatter", 0, idx, reduce, False)
        plain, graph = [], []
        for create, into in ((False, plain), (True, graph)):
            xt = dg.tensor(x, requires_grad=True)
            st = dg.tensor(s, requires_grad=True)
            u = dg.tensor(np.linspace(-1, 1, x.size).reshape(x.shape))
            into.extend(dg.autograd.grad(fd(xt, st), (xt, st), u, create_graph=create))
        for a, b in zip(plain, graph):
            np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))


@pytest.mark.parametrize("reduce", ["mean", "prod", "amax"])
def test_float32_second_derivatives_match_torch(reduce):
    x, idx, s = _scatter_case(-1)
    fd, ft = _fns("scatter", -1, idx, reduce, True)
    _second(fd, ft, x, s, dtype=np.float32, tol={"rtol": 1e-5, "atol": 1e-5})


def test_only_self_or_only_src_requires_grad():
    """One input requiring grad: its gradient has a graph exactly where torch's has (prod's,
    which reads the inputs; the others' are constants for a constant output gradient)."""
    x, idx, s = _scatter_case(0, "zeros")
    x, idx, s = _single_zero_case(x, idx, s, 0)
    for reduce in SCATTER:
        fd, ft = _fns("scatter", 0, idx, reduce, True)
        for which in (0, 1):
            res = []
            for lib, f in ((dg, fd), (torch, ft)):
                xt = lib.tensor(x, requires_grad=which == 0)
                st = lib.tensor(s, requires_grad=which == 1)
                leaf = (xt, st)[which]
                (g,) = lib.autograd.grad(f(xt, st).sum(), (leaf,), create_graph=True)
                res.append(g)
                if g.requires_grad:
                    res.append(lib.autograd.grad((g * g).sum(), (leaf,))[0])
            assert len(res) == (4 if reduce == "prod" else 2)
            for a, b in zip(res[: len(res) // 2], res[len(res) // 2 :]):
                _close(a, b, f"{reduce}, only input {which}")


@pytest.mark.parametrize("reduce", SCATTER)
@pytest.mark.parametrize(
    "x,idx,s",
    [
        (np.array(2.0), np.array(0), np.array(3.0)),  # all 0-d: torch counts them as 1-d
        (np.array(2.0), np.array([0, 0]), np.array([3.0, -4.0])),
        (np.array([2.0]), np.array(0), np.array(3.0)),  # (a 1-d src: torch fails)
        (np.array([[1.5, -2.0, 0.5]]), np.zeros((0, 3), np.int64), np.ones((0, 3))),  # empty
        (np.array([[1.5, -2.0, 0.5]]), np.array([[0, 0, 0]]), np.array([[-0.5, 2.5, 3.0]])),
    ],
    ids=["0d", "0d-self", "0d-index", "empty", "one-row"],
)
def test_scatter_reduce_small_and_0d_shapes_match_torch(reduce, x, idx, s):
    for inc in (True, False):
        _second(*_fns("scatter", 0, idx, reduce, inc), x, s)


@pytest.mark.parametrize("reduce", INDEX)
def test_index_reduce_0d_and_empty_match_torch(reduce):
    for x, idx, s in (
        (np.array(2.0), np.array([0]), np.array(3.0)),
        (np.array([[1.5, -2.0]]), np.zeros(0, np.int64), np.ones((0, 2))),
    ):
        for inc in (True, False):
            _second(*_fns("index", 0, idx, reduce, inc), x, s)
