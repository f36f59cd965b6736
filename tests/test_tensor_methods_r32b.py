"""dg.Tensor methods against torch.Tensor's (round 32b): 0-d results keep an ndarray in .data;
the unary / binary math (log1p ... erfinv, round(decimals), logit(eps), xlogy, atan2, fmod)
and their in-place forms; sort / argsort / topk / kthvalue / median / mode / cummax / cummin /
logcumsumexp; nansum / nanmean; trace / diag / diagonal / diag_embed; nonzero / take /
take_along_dim / repeat_interleave / tile / unfold / tensor_split / hsplit / vsplit / select /
ravel / rot90 / heaviside / unique; and their dg.<name> function forms. Forward values and
gradients in float64, sizes 0 and 1, negative dims, and the error cases."""

from __future__ import annotations

from operator import methodcaller

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3202)
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rand(*shape, lo=-2.0, hi=2.0):
    a = RNG.uniform(lo, hi, shape)
    return np.where(a == 0, 0.5, a)


def _pair(*arrays):
    d = [dg.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    t = [torch.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    return d, t


def _np(x):
    if isinstance(x, torch.Tensor):
        return np.zeros(x.shape) if x._is_zerotensor() else x.detach().numpy()
    return np.asarray(x.data)


def _close(d, t, **tol):
    if isinstance(t, (tuple, list)):
        assert isinstance(d, tuple) and len(d) == len(t)
        for a, b in zip(d, t):
            _close(a, b, **tol)
        return
    a, b = _np(d), _np(t)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, **(tol or TOL))


def _check_m(x, name, *args, **kwargs):
    """_check of the method call x.name(*args, **kwargs) on both sides."""
    f = methodcaller(name, *args, **kwargs)
    _check(f, f, x)


def _check(fd, ft, *arrays, grad=True, values_only=False, **tol):
    """fd(*dg) vs ft(*torch): the values (the first output when values_only), then the
    gradients of sum(out * w) for a random w."""
    d, t = _pair(*arrays)
    od, ot = fd(*d), ft(*t)
    if values_only:
        od, ot = od[0], ot[0]
    _close(od, ot, **tol)
    if not grad:
        return
    if isinstance(ot, (tuple, list)):
        od, ot = od[0], ot[0]
    w = RNG.standard_normal(ot.shape)
    (od * dg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for a, b in zip(d, t):
        if b.requires_grad:
            _close(a.grad if a.grad is not None else np.zeros(b.shape), b.grad, **tol)


# ---- 0-d results keep an ndarray in .data ------------------------------------------------

S = dg.tensor(np.float64(2.5))
S2 = dg.tensor(np.float64(1.5))
V = dg.tensor(np.array([1.5, -2.0, 3.0]))
ZERO_D = {
    "add": lambda: S + S2,
    "radd": lambda: 1.0 + S,
    "sub": lambda: S - S2,
    "mul": lambda: S * S2,
    "div": lambda: S / S2,
    "floordiv": lambda: S // S2,
    "mod": lambda: S % S2,
    "pow": lambda: S**S2,
    "neg": lambda: -S,
    "exp": lambda: S.exp(),
    "abs": lambda: S.abs(),
    "sign": lambda: S.sign(),
    "clamp": lambda: S.clamp(0, 1),
    "maximum": lambda: S.maximum(S2),
    "log1p": lambda: S.log1p(),
    "erf": lambda: S.erf(),
    "floor": lambda: S.floor(),
    "atan2": lambda: S.atan2(S2),
    "fmod": lambda: S.fmod(S2),
    "gt": lambda: S > S2,
    "eq": lambda: S == S2,
    "and": lambda: (S > 0) & (S2 > 0),
    "logical_not": lambda: (S > 0).logical_not(),
    "isnan": lambda: S.isnan(),
    "int_add": lambda: dg.tensor(np.int64(3)) + dg.tensor(np.int64(4)),
    "int_mul": lambda: dg.tensor(np.int64(3)) * 2,
    "sum": lambda: V.sum(),
    "mean": lambda: V.mean(),
    "max": lambda: V.max(),
    "prod": lambda: V.prod(),
    "norm": lambda: V.norm(),
    "dot": lambda: V.dot(V),
    "median": lambda: V.median(),
    "nansum": lambda: V.nansum(),
    "trace": lambda: dg.tensor(np.eye(3)).trace(),
    "index": lambda: V[1],
    "index2": lambda: dg.tensor(np.ones((2, 3)))[1, 2],
    "select": lambda: V.select(0, -1),
    "take": lambda: V.take(dg.tensor(np.int64(2))),
    "kthvalue": lambda: V.kthvalue(2).values,
}


@pytest.mark.parametrize("name", sorted(ZERO_D))
def test_zero_d_result_data_is_an_ndarray(name):
    out = ZERO_D[name]()
    assert out.shape == ()
    assert type(out.data) is np.ndarray, type(out.data)
    new = (not out.item()) if out.dtype == np.bool_ else 7
    out.data[...] = new  # in place into the 0-d result
    assert out.item() == new and out.data.shape == ()


def test_zero_d_result_with_grad_is_an_ndarray():
    a = dg.tensor(np.float64(2.5), requires_grad=True)
    b = dg.tensor(np.float64(1.5), requires_grad=True)
    for out in (a + b, a * b, a / b, -a, a.exp(), a.tanh(), a**2, a.log1p(), a.atan2(b)):
        assert type(out.data) is np.ndarray and out.requires_grad
    (a * b + a.sin()).backward()
    np.testing.assert_allclose(a.grad, 1.5 + np.cos(2.5), rtol=1e-14)


def test_zero_d_grads_are_ndarrays():
    a = dg.tensor(np.float64(2.5), requires_grad=True)
    mid = a * a
    mid.retain_grad()
    (mid * 2 + mid * 3).backward()
    for g in (a.grad, mid.grad):
        assert type(g) is np.ndarray and g.shape == ()
    assert a.grad == 25.0 and mid.grad == 5.0
    a.zero_grad(set_to_none=False)  # in place: a numpy scalar would stay 25
    assert a.grad == 0.0
    (a * 3).backward()
    (a * 4).backward()
    assert type(a.grad) is np.ndarray and a.grad == 7.0


# ---- unary math -------------------------------------------------------------------------

# name: (low, high) of the random inputs (inside the function's domain)
UNARY = {
    "log1p": (-0.9, 3),
    "expm1": (-3, 3),
    "tan": (-1.2, 1.2),
    "atan": (-4, 4),
    "asin": (-0.95, 0.95),
    "acos": (-0.95, 0.95),
    "sinh": (-3, 3),
    "cosh": (-3, 3),
    "asinh": (-4, 4),
    "acosh": (1.05, 5),
    "atanh": (-0.95, 0.95),
    "arcsin": (-0.95, 0.95),
    "arccos": (-0.95, 0.95),
    "arctan": (-4, 4),
    "arcsinh": (-4, 4),
    "arccosh": (1.05, 5),
    "arctanh": (-0.95, 0.95),
    "absolute": (-2, 2),
    "log2": (0.1, 5),
    "log10": (0.1, 5),
    "exp2": (-3, 3),
    "erf": (-3, 3),
    "erfc": (-3, 3),
    "erfinv": (-0.95, 0.95),
    "logit": (0.05, 0.95),
    "floor": (-5, 5),
    "ceil": (-5, 5),
    "trunc": (-5, 5),
    "fix": (-5, 5),
    "round": (-5, 5),
    "frac": (-5, 5),
    "sgn": (-2, 2),
    "square": (-2, 2),
    "rsqrt": (0.1, 4),
}


@pytest.mark.parametrize("shape", [(3, 5), (0, 2), (), (1,)], ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_matches_torch(name, shape):
    x = _rand(*shape, lo=UNARY[name][0], hi=UNARY[name][1])
    tol = {"rtol": 1e-12, "atol": 1e-12} if name.startswith("erf") else TOL
    _check(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), x, **tol)
    # the in-place form, on a tensor outside any graph
    d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
    assert getattr(d, name + "_")() is d
    getattr(t, name + "_")()
    _close(d, t, **tol)
    assert getattr(dg, name)(dg.tensor(x)).shape == shape


@pytest.mark.parametrize("name", ["log1p", "erf", "tan", "exp2", "logit", "asinh"])
def test_unary_math_int_and_float32(name):
    ti = torch.tensor([0, 1, 2, -1]) if name != "logit" else torch.tensor([0, 1])
    _close(getattr(dg.tensor(ti.numpy()), name)(), getattr(ti, name)(), rtol=1e-6, atol=1e-6)
    x = _rand(7, lo=0.1, hi=0.9).astype(np.float32)
    out = getattr(dg.tensor(x), name)()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, getattr(torch.tensor(x), name)().numpy(), rtol=2e-6)


def test_unary_extremes():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e300, -1e-300])
    for name in ("log1p", "expm1", "atan", "sinh", "asinh", "erf", "erfc", "floor", "sgn"):
        _close(getattr(dg.tensor(x), name)(), getattr(torch.tensor(x), name)())
    y = np.array([1.0, -1.0, 1.5, np.nan, 0.0])
    _close(dg.tensor(y).erfinv(), torch.tensor(y).erfinv())
    _close(dg.tensor(y).atanh(), torch.tensor(y).atanh())
    _close(dg.tensor(x).signbit(), torch.tensor(x).signbit())


def test_round_decimals_and_integers():
    x = np.array([0.5, 1.5, 2.5, -0.5, 1.2345, -1.2355, 12345.678, 0.125])
    for dec in (0, 1, 2, 3, -1, -2):
        _close(dg.tensor(x).round(decimals=dec), torch.tensor(x).round(decimals=dec))
    i = np.array([3, -4, 5])
    for name in ("floor", "ceil", "trunc", "round", "sgn"):
        _close(getattr(dg.tensor(i), name)(), getattr(torch.tensor(i), name)())
    _check_m(_rand(4), "round", decimals=2)
    with pytest.raises(TypeError, match="decimals"):
        dg.tensor(i).round(decimals=1)
    with pytest.raises(TypeError, match="decimals"):
        dg.tensor(x).round(decimals=1.5)
    with pytest.raises(TypeError, match="frac"):
        dg.tensor(i).frac()


@pytest.mark.parametrize("eps", [None, 0.0, 0.1, 0.3])
def test_logit_eps(eps):
    x = np.array([-0.5, 0.0, 0.05, 0.2, 0.5, 0.75, 0.95, 1.0, 1.5])
    _check_m(x, "logit", eps)


def test_clamp_min_max_and_inplace_activations():
    x = _rand(3, 4)
    _check_m(x, "clamp_min", -0.5)
    _check_m(x, "clamp_max", 0.5)
    for name, args in (
        ("relu_", ()),
        ("sigmoid_", ()),
        ("exp_", ()),
        ("abs_", ()),
        ("neg_", ()),
        ("tanh_", ()),
        ("clamp_", (-0.5, 0.5)),
        ("clamp_min_", (0.1,)),
        ("clamp_max_", (0.1,)),
    ):
        d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
        assert getattr(d, name)(*args) is d
        getattr(t, name)(*args)
        _close(d, t)
    d, t = dg.tensor(np.abs(x)), torch.tensor(np.abs(x))
    d.sqrt_(), t.sqrt_()
    _close(d, t)
    with pytest.raises(TypeError, match="can't be cast"):
        dg.tensor(np.array([1, 2])).exp_()
    leaf = dg.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.relu_()


# ---- binary math ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shapes", [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((), (3,)), ((0, 2), (2,))], ids=str
)
@pytest.mark.parametrize("name", ["xlogy", "atan2", "arctan2", "fmod", "remainder"])
def test_binary_math_matches_torch(name, shapes):
    a = _rand(*shapes[0], lo=-3, hi=3)
    b = _rand(*shapes[1], lo=0.2, hi=3) * (1 if name == "xlogy" else RNG.choice([-1, 1]))
    _check(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), a, b)
    _close(getattr(dg, name)(dg.tensor(a), dg.tensor(b)), getattr(torch, name)(*_pair(a, b)[1]))
    if "tan" not in name:  # torch's atan2 takes tensors only (deltagrad's numbers too)
        _check(lambda x: getattr(x, name)(1.5), lambda x: getattr(x, name)(1.5), a)


def test_binary_math_special_values():
    a = np.array([0.0, 0.0, 0.0, 1.0, -2.0, np.nan, 2.0])
    b = np.array([0.0, np.nan, 3.0, np.inf, 2.0, 1.0, -0.0])
    for name in ("xlogy", "atan2", "fmod"):
        _close(
            getattr(dg.tensor(a), name)(dg.tensor(b)),
            getattr(torch.tensor(a), name)(torch.tensor(b)),
        )
    # ints: fmod stays int (and raises on zero), xlogy / atan2 give float32
    i, j = np.array([7, -7, 5]), np.array([3, 3, -2])
    for name in ("fmod", "xlogy", "atan2"):
        _close(
            getattr(dg.tensor(i), name)(dg.tensor(j)),
            getattr(torch.tensor(i), name)(torch.tensor(j)),
            rtol=1e-6,
        )
    with pytest.raises(ZeroDivisionError):
        dg.tensor(i).fmod(0)
    with pytest.raises(ValueError, match="broadcast"):
        dg.tensor(_rand(3)).atan2(dg.tensor(_rand(4)))
    d = dg.tensor(a.copy())
    d.xlogy_(2.0)
    _close(d, torch.tensor(a).xlogy(2.0))


def test_heaviside():
    x = np.array([-1.5, 0.0, 2.0, np.nan, -0.0])
    v = np.array([0.5, 0.25, 0.5, 0.5, 0.75])
    _close(dg.tensor(x).heaviside(dg.tensor(v)), torch.tensor(x).heaviside(torch.tensor(v)))
    _close(
        dg.heaviside(dg.tensor(x), dg.tensor(np.float64(0.5))),
        torch.heaviside(torch.tensor(x), torch.tensor(0.5, dtype=torch.float64)),
    )
    with pytest.raises(TypeError, match="values"):
        dg.tensor(x).heaviside(0.5)
    with pytest.raises(TypeError, match="dtype"):
        dg.tensor(x).heaviside(dg.tensor(np.array([1])))


# ---- sorting and selection --------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,dim",
    [
        ((4, 7), -1),
        ((4, 7), 0),
        ((2, 3, 5), 1),
        ((6,), 0),
        ((0, 3), 1),
        ((3, 0), 1),
        ((), 0),
        ((1,), -1),
    ],
    ids=str,
)
def test_sort_family_matches_torch(shape, dim):
    x = _rand(*shape)  # no ties
    for desc in (False, True):
        _check_m(x, "sort", dim, desc)
        _close(dg.tensor(x).argsort(dim, descending=desc), torch.tensor(x).argsort(dim, desc))
    n = x.shape[dim] if x.ndim else 1
    for k in {0, n // 2, n} | ({1} if n else set()):
        for largest in (True, False):
            _check_m(x, "topk", k, dim, largest)
    if n:
        for keep in (False, True):
            for k in {1, n, (n + 1) // 2}:
                _check_m(x, "kthvalue", k, dim, keep)
            _check_m(x, "median", dim, keep)
            _check_m(x, "mode", dim, keep)
    _check_m(x, "cummax", dim)
    _check_m(x, "cummin", dim)
    _check_m(x, "logcumsumexp", dim)
    _check_m(x, "median")


def test_sort_ties_and_nan():
    x = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.nan, 2.0]])
    for desc in (False, True):
        _close(
            dg.tensor(x).sort(dim=1, descending=desc, stable=True),
            torch.tensor(x).sort(dim=1, descending=desc, stable=True),
        )
    _close(dg.tensor(x).topk(3).values, torch.tensor(x).topk(3).values)
    _close(dg.tensor(x).median(1), torch.tensor(x).median(1))  # the first NaN
    _close(dg.tensor(x).median(), torch.tensor(x).median())
    _close(dg.tensor(x).cummax(1), torch.tensor(x).cummax(1))
    _close(dg.tensor(x).cummin(1), torch.tensor(x).cummin(1))
    i = np.array([[3, 1, 3, 2, 3, 1, 1], [5, 5, 4, 4, 2, 2, 9]])
    _close(dg.tensor(i).cummax(1), torch.tensor(i).cummax(1))
    _close(dg.tensor(i).cummin(1), torch.tensor(i).cummin(1))
    _close(dg.tensor(i).mode(1), torch.tensor(i).mode(1))  # the smallest mode, its last index
    _close(dg.tensor(i).sort(dim=1, stable=True), torch.tensor(i).sort(dim=1, stable=True))
    b = np.array([True, False, True])
    _close(dg.tensor(b).sort(descending=True), torch.tensor(b).sort(descending=True, stable=True))
    _close(dg.tensor(np.array([])).median(), torch.tensor([], dtype=torch.float64).median())


def test_median_all_shares_the_gradient_among_ties():
    x = np.array([[1.0, 2.0, 2.0], [3.0, 2.0, 0.5]])
    _check_m(x, "median")


def test_logcumsumexp_large_range():
    x = np.array([-1000.0, 0.0, 800.0, -50.0, 800.0])
    _check_m(x, "logcumsumexp", 0)


def test_sort_family_errors():
    x = dg.tensor(_rand(3, 4))
    with pytest.raises(ValueError, match="k"):
        x.topk(5)
    with pytest.raises(ValueError, match="k"):
        x.topk(-1)
    with pytest.raises(ValueError, match="k"):
        x.kthvalue(0)
    with pytest.raises(IndexError, match="out of range"):
        x.sort(2)
    with pytest.raises(IndexError, match="non-zero size"):
        dg.tensor(np.zeros((2, 0))).mode(1)
    with pytest.raises(IndexError, match="non-zero size"):
        dg.tensor(np.zeros((2, 0))).median(1)
    with pytest.raises(TypeError, match="floating"):
        dg.tensor(np.array([1, 2])).logcumsumexp(0)
    with pytest.raises(TypeError, match="k"):
        x.topk(1.5)


# ---- NaN reductions, diagonals ----------------------------------------------------------


@pytest.mark.parametrize("dim", [None, 0, -1, (0, 1)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_nansum_nanmean(dim, keepdim):
    x = _rand(3, 4)
    x[0, 1] = x[2, 3] = np.nan
    x[:, 2] = np.nan
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    _check_m(x, "nansum", **kw)
    _check_m(x, "nanmean", **kw)
    _close(
        dg.tensor(np.array([[1, 2], [3, 4]])).nansum(**kw),
        torch.tensor([[1, 2], [3, 4]]).nansum(**kw),
    )
    with pytest.raises(TypeError, match="floating"):
        dg.tensor(np.array([1, 2])).nanmean()


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2), (0, 3), (2, 3, 4)], ids=str)
def test_diagonal_family(shape):
    x = _rand(*shape)
    for off in (0, 1, -1, 3, -4):
        for d1, d2 in ((0, 1), (1, 0), (-1, 0)):
            _check_m(x, "diagonal", off, d1, d2)
        _check_m(x, "diag_embed", off)
        _check_m(x, "diag_embed", off, 0, -1)
        if len(shape) == 2:
            _check_m(x, "diag", off)
        _check_m(x.reshape(-1)[:3], "diag", off)
    if len(shape) == 2:
        _check_m(x, "trace")
        i = np.arange(12).reshape(3, 4)
        _close(dg.tensor(i).trace(), torch.tensor(i).trace())
    with pytest.raises(ValueError, match="trace"):
        dg.tensor(_rand(3)).trace()
    with pytest.raises(ValueError, match="identical"):
        dg.tensor(x).diagonal(0, 1, 1 - x.ndim)
    with pytest.raises(ValueError, match="diag"):
        dg.tensor(np.float64(1.0)).diag()


# ---- gathers, splits and rearrangements -------------------------------------------------


def test_nonzero_take_take_along_dim():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    for v in (x, x[0], np.float64(0.0), np.float64(2.0), np.zeros((0, 3))):
        _close(dg.tensor(v).nonzero(), torch.tensor(v).nonzero())
        _close(dg.tensor(v).nonzero(as_tuple=True), torch.tensor(v).nonzero(as_tuple=True))
        _close(dg.tensor(v).argwhere(), torch.tensor(v).argwhere())
    y = _rand(3, 4)
    idx = np.array([[0, -1, 5], [11, 2, -12]])
    _check(lambda a: a.take(dg.tensor(idx)), lambda a: a.take(torch.tensor(idx)), y)
    _check(lambda a: a.take(dg.tensor(np.int64(3))), lambda a: a.take(torch.tensor(3)), y)
    j = np.array([[2, 0, 0], [1, 1, 3]]).T  # (3, 2), repeats accumulate in the gradient
    _check(
        lambda a: a.take_along_dim(dg.tensor(j), 1),
        lambda a: a.take_along_dim(torch.tensor(j), 1),
        y,
    )
    jb = np.array([[0], [2], [1]])
    _check(
        lambda a: a.take_along_dim(dg.tensor(jb), -1),
        lambda a: a.take_along_dim(torch.tensor(jb), -1),
        y,
    )
    jc = np.array([[1, 0, 2, 2]])  # broadcast along dim 1 of the indices
    _check(
        lambda a: a.take_along_dim(dg.tensor(jc), 0),
        lambda a: a.take_along_dim(torch.tensor(jc), 0),
        y,
    )
    _check(
        lambda a: a.take_along_dim(dg.tensor(idx % 12)),
        lambda a: a.take_along_dim(torch.tensor(idx % 12)),
        y,
    )
    with pytest.raises(IndexError, match="out of range"):
        dg.tensor(y).take(dg.tensor(np.array([12])))
    with pytest.raises(TypeError, match="index"):
        dg.tensor(y).take(dg.tensor(np.array([1.0])))
    with pytest.raises(TypeError, match="index"):
        dg.tensor(y).take([1])
    with pytest.raises(ValueError, match="number of dimensions"):
        dg.tensor(y).take_along_dim(dg.tensor(np.array([1])), 0)


def test_repeat_interleave_tile_unfold():
    x = _rand(3, 2)
    for args in ((2,), (2, 0), (2, -1), (3, 1), (0, 0)):
        _check_m(x, "repeat_interleave", *args)
    r = np.array([1, 0, 3])
    _check(
        lambda a: a.repeat_interleave(dg.tensor(r), 0),
        lambda a: a.repeat_interleave(torch.tensor(r), 0),
        x,
    )
    _check(
        lambda a: a.repeat_interleave(dg.tensor(np.array([2])), 1),
        lambda a: a.repeat_interleave(torch.tensor([2]), 1),
        x,
    )
    with pytest.raises(ValueError, match="negative"):
        dg.tensor(x).repeat_interleave(dg.tensor(np.array([1, -1, 1])), 0)
    with pytest.raises(ValueError, match="same size"):
        dg.tensor(x).repeat_interleave(dg.tensor(np.array([1, 1])), 0)
    for dims in ((2,), (2, 3), (2, 1, 2), ((1, 2),), (0, 1)):
        _check_m(x, "tile", *dims)
    y = _rand(7, 3)
    for args in ((0, 2, 1), (0, 3, 2), (0, 7, 1), (-1, 2, 2), (1, 0, 1), (0, 1, 5), (-2, 4, 3)):
        _check_m(y, "unfold", *args)
    _check_m(np.float64(2.0), "unfold", 0, 1, 1)
    with pytest.raises(ValueError, match="size"):
        dg.tensor(y).unfold(0, 8, 1)
    with pytest.raises(ValueError, match="step"):
        dg.tensor(y).unfold(0, 2, 0)
    with pytest.raises(IndexError, match="out of range"):
        dg.tensor(y).unfold(2, 2, 1)


def test_splits_select_ravel_rot90():
    x = _rand(7, 4)
    for ios, dim in ((3, 0), (7, 0), (9, 0), ([1, 5], 0), ([2, 1, 9], 1), ([-2], 0), ((), 1)):
        _check_m(x, "tensor_split", ios, dim)
        _close(dg.tensor(x).tensor_split(ios, dim), torch.tensor(x).tensor_split(ios, dim))
    _close(
        dg.tensor(x).tensor_split(dg.tensor(np.array([1, 3])), 1),
        torch.tensor(x).tensor_split(torch.tensor([1, 3]), 1),
    )
    _close(dg.tensor(x).hsplit(2), torch.tensor(x).hsplit(2))
    _close(dg.tensor(x).hsplit([1, 3]), torch.tensor(x).hsplit([1, 3]))
    _close(dg.tensor(x).vsplit([2]), torch.tensor(x).vsplit([2]))
    _close(dg.tensor(x[0]).hsplit(2), torch.tensor(x[0]).hsplit(2))
    z = _rand(2, 3, 4)
    _close(dg.tensor(z).dsplit(2), torch.tensor(z).dsplit(2))
    with pytest.raises(ValueError, match="divisible"):
        dg.tensor(x).vsplit(2)
    with pytest.raises(ValueError, match="at least 2"):
        dg.tensor(x[0]).vsplit(2)
    with pytest.raises(ValueError, match="sections"):
        dg.tensor(x).tensor_split(0)
    with pytest.raises(ValueError, match="1-dimensional"):
        dg.tensor(np.float64(1.0)).tensor_split(1)
    for dim, i in ((0, 0), (0, -1), (1, 3), (-1, -4)):
        _check_m(x, "select", dim, i)
    with pytest.raises(IndexError, match="out of range"):
        dg.tensor(x).select(1, 4)
    with pytest.raises(IndexError, match="0-dim"):
        dg.tensor(np.float64(1.0)).select(0, 0)
    _check_m(z, "ravel")
    for k in (0, 1, 2, 3, -1, 5):
        for dims in ((0, 1), (1, 0), (2, 0), (-1, 1)):
            _check_m(z, "rot90", k, dims)
    with pytest.raises(ValueError, match="different"):
        dg.tensor(z).rot90(1, (1, -2))
    with pytest.raises(ValueError, match="total dims"):
        dg.tensor(x[0]).rot90()
    with pytest.raises(ValueError, match="2 dims"):
        dg.tensor(z).rot90(1, (0, 1, 2))


@pytest.mark.parametrize("dim", [None, 0, 1, -1], ids=str)
def test_unique(dim):
    x = np.array([[3, 1, 3], [2, 1, 2], [3, 1, 3]])
    for inv in (False, True):
        for cnt in (False, True):
            kw = {"return_inverse": inv, "return_counts": cnt, "dim": dim}
            _close(dg.tensor(x).unique(**kw), torch.tensor(x).unique(**kw))
    f = np.array([2.5, np.nan, -1.0, 2.5, np.nan])
    _close(dg.tensor(f).unique(return_counts=True), torch.tensor(f).unique(return_counts=True))
    _close(
        dg.tensor(np.float64(2.0)).unique(return_inverse=True),
        torch.tensor(2.0, dtype=torch.float64).unique(return_inverse=True),
    )
    _close(dg.unique(dg.tensor(x)), torch.unique(torch.tensor(x)))


# ---- function forms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args",
    [
        ("flip", ((0, 1),)),
        ("roll", (2, 1)),
        ("tril", (-1,)),
        ("triu", (1,)),
        ("cumsum", (1,)),
        ("cumprod", (0,)),
        ("diff", ()),
        ("index_select", (1, "idx")),
        ("nan_to_num", ()),
        ("count_nonzero", ()),
        ("sort", (0,)),
        ("argsort", ()),
        ("topk", (2,)),
        ("kthvalue", (2, 0)),
        ("median", (1,)),
        ("mode", ()),
        ("cummax", (1,)),
        ("logcumsumexp", (0,)),
        ("nansum", ()),
        ("trace", ()),
        ("diagonal", (1,)),
        ("diag_embed", ()),
        ("take", ("idx",)),
        ("repeat_interleave", (2,)),
        ("tile", ((2, 1),)),
        ("tensor_split", (2,)),
        ("hsplit", (2,)),
        ("select", (1, 2)),
        ("ravel", ()),
        ("rot90", ()),
        ("movedim", (0, 1)),
        ("erf", ()),
        ("round", ()),
        ("atan2", ("y",)),
        ("xlogy", ("y",)),
        ("fmod", ("y",)),
        ("hypot", ("y",)),
        ("logaddexp", ("y",)),
        ("isclose", ("y",)),
        ("outer", ("v",)),
        ("lerp", ("y", 0.3)),
        ("aminmax", ()),
        ("masked_select", ("m",)),
        ("softmax", (1,)),
        ("log_softmax", (0,)),
        ("clamp_min", (0.1,)),
    ],
)
def test_function_forms(name, args):
    x = _rand(4, 4)
    extra = {"idx": np.array([3, 0, 1]), "y": _rand(4, 4), "v": _rand(3), "m": x > 0}

    def conv(lib):
        out = []
        for a in args:
            if isinstance(a, str):
                v = extra[a] if name != "outer" else extra[a]
                out.append(dg.tensor(v) if lib is dg else torch.tensor(v))
            else:
                out.append(a)
        return out

    inp = x[0] if name == "outer" else x
    d = getattr(dg, name)(dg.tensor(inp), *conv(dg))
    t = getattr(torch, name)(torch.tensor(inp), *conv(torch))
    if name in ("sort", "topk", "kthvalue", "median", "mode", "cummax", "aminmax"):
        d, t = tuple(d), tuple(t)
    _close(d, t)
    assert getattr(dg, name).__name__ == name


def test_function_forms_inplace_and_arrays():
    x = _rand(3)
    d = dg.tensor(x.copy())
    assert dg.exp_(d) is d
    _close(d, torch.exp_(torch.tensor(x)))
    _close(dg.log1p(np.abs(x)), torch.log1p(torch.tensor(np.abs(x))))  # a numpy array input
    with pytest.raises(TypeError, match="input"):
        dg.sort([3, 1])


def test_special_functions_without_scipy():
    from deltagrad.tensor import _special_fallback

    x = np.array([-0.99, -0.5, -1e-8, 0.0, 0.3, 0.9, 0.999])
    for name in ("erf", "erfc", "erfinv"):
        np.testing.assert_allclose(
            _special_fallback(name, x),
            getattr(torch, name)(torch.tensor(x)).numpy(),
            rtol=1e-12,
            atol=1e-14,
        )
    edge = np.array([1.0, -1.0, 2.0, np.nan])
    _close(dg.tensor(_special_fallback("erfinv", edge)), torch.tensor(edge).erfinv())
    f32 = _special_fallback("erf", x.astype(np.float32))
    assert f32.dtype == np.float32
