"""dg.Tensor methods against torch.Tensor's (round 32): softmax / log_softmax, the index_* and
scatter / masked_* families (and their in-place forms), addcmul / addcdiv / lerp / hypot /
logaddexp / nan_to_num, cumsum / cumprod / diff / flip / roll / tril / triu, the products
(mm, bmm, dot, outer, addmm, baddbmm, addmv), aminmax / count_nonzero / isclose, new_* and
the shape helpers. Forward values and gradients in float64, sizes 0 and 1, negative dims,
and the error cases."""

from __future__ import annotations

from operator import methodcaller

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(32)
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rand(*shape):
    return RNG.standard_normal(shape) + 0.1  # never exactly zero


def _pair(*arrays, grad=True):
    """The same float64 data as dg and torch leaves."""
    d = [dg.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    t = [torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return d, t


def _close(a, b, **kw):
    a = a.numpy() if isinstance(a, dg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, equal_nan=True, **(kw or TOL))


def check(fd, ft, *arrays, grad=True):
    """fd(*dg tensors) and ft(*torch tensors): equal values, and equal gradients of
    sum(out * w) for a random w."""
    d, t = _pair(*arrays, grad=grad)
    od, ot = fd(*d), ft(*t)
    _close(od, ot)
    if not grad or not ot.requires_grad:
        return od
    w = _rand(*ot.shape)
    (od * dg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for a, b in zip(d, t):
        if b.requires_grad:
            if b.grad is None:
                assert a.grad is None or not np.any(a.grad)
            else:
                _close(a.grad, b.grad)
    return od


def _idx(*v):
    return np.array(v, dtype=np.int64)


# ---- softmax / log_softmax ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), [((3, 5), 1), ((2, 3, 4), -2), ((4,), 0), ((0, 3), 1)])
def test_softmax_methods(name, shape, dim):
    check(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), _rand(*shape))


def test_softmax_dtype_and_missing_dim():
    x = _rand(2, 3).astype(np.float32)
    out = dg.tensor(x).softmax(1, dtype=dg.float64)
    _close(out, torch.tensor(x).softmax(1, dtype=torch.float64))
    with pytest.raises(TypeError):
        dg.tensor(x).softmax()
    with pytest.raises(IndexError):
        dg.tensor(x).log_softmax(2)


# ---- masked_fill_ / index_fill -----------------------------------------------------------


def test_masked_fill_in_place():
    x = _rand(3, 4)
    m = RNG.random(4) > 0.5
    d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
    assert d.masked_fill_(dg.tensor(m), -2.5) is d
    t.masked_fill_(torch.tensor(m), -2.5)
    _close(d, t)
    assert d._version[0] == 1
    d.masked_fill_(dg.tensor(m), dg.tensor(7.0, dtype=dg.float64))
    t.masked_fill_(torch.tensor(m), torch.tensor(7.0, dtype=torch.float64))
    _close(d, t)
    with pytest.raises(ValueError):  # a mask that would broadcast self
        d.masked_fill_(dg.tensor(np.ones((2, 3, 4), bool)), 1.0)
    assert d._version[0] == 2  # a failed op leaves the version alone
    with pytest.raises(TypeError):
        d.masked_fill_(dg.tensor(np.ones(4)), 1.0)
    leaf = dg.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.masked_fill_(dg.tensor(m), 0.0)
    with pytest.raises(RuntimeError, match="graph"):
        (leaf * 2).masked_fill_(dg.tensor(m), 0.0)
    with dg.no_grad():
        leaf.masked_fill_(dg.tensor(m), 0.0)
    assert not np.any(leaf.numpy()[:, m])


def test_in_place_after_save_is_caught():
    a = dg.tensor(_rand(3), requires_grad=True)
    b = dg.tensor(_rand(3))
    y = (a * b).sum()
    b.masked_fill_(dg.tensor(np.array([True, False, True])), 0.0)
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y.backward()


@pytest.mark.parametrize(
    ("shape", "dim", "index"),
    [((3, 4), 1, [0, 3]), ((3, 4), 0, [2, 2]), ((5,), -1, []), ((2, 0), 0, [1]), ((1, 3), 0, [0])],
)
def test_index_fill(shape, dim, index):
    i = _idx(*index)
    check(
        lambda x: x.index_fill(dim, dg.tensor(i), 1.5),
        lambda x: x.index_fill(dim, torch.tensor(i), 1.5),
        _rand(*shape),
    )
    check(  # a 0-d value tensor that requires grad
        lambda x, v: x.index_fill(dim, dg.tensor(i), v.reshape(())),
        lambda x, v: x.index_fill(dim, torch.tensor(i), v.reshape(())),
        _rand(*shape),
        _rand(1),
    )
    d, t = dg.tensor(_rand(*shape)), None
    t = torch.tensor(d.numpy().copy())
    d.index_fill_(dim, dg.tensor(i), -3.0)
    t.index_fill_(dim, torch.tensor(i), -3.0)
    _close(d, t)


def test_index_errors():
    x = dg.tensor(_rand(3, 4))
    i = _idx(-1, 1)  # negative indices count from the end (forward only: torch's backward fails)
    _close(
        x.index_fill(1, dg.tensor(i), 0.5),
        torch.tensor(x.numpy()).index_fill(1, torch.tensor(i), 0.5),
    )
    with pytest.raises(IndexError):
        x.index_fill(1, dg.tensor(_idx(4)), 0.0)
    with pytest.raises(IndexError):
        x.index_select(0, dg.tensor(_idx(-1)))  # torch: no negative indices here
    with pytest.raises(IndexError):
        x.index_fill(0, dg.tensor(_idx(-4)), 0.0)
    with pytest.raises(ValueError):
        x.index_fill(1, dg.tensor(np.zeros((1, 1), np.int64)), 0.0)
    with pytest.raises(TypeError):
        x.index_fill(1, dg.tensor(np.zeros(1)), 0.0)
    with pytest.raises(IndexError):
        x.index_add(2, dg.tensor(_idx(0)), dg.tensor(_rand(3, 1)))
    with pytest.raises(ValueError):
        x.index_add(1, dg.tensor(_idx(0)), dg.tensor(_rand(3, 2)))
    with pytest.raises(TypeError):
        x.index_add(1, dg.tensor(_idx(0)), dg.tensor(_rand(3, 1).astype(np.float32)))
    with pytest.raises(ValueError):
        x.index_copy(0, dg.tensor(_idx(0, 1)), dg.tensor(_rand(1, 4)))


# ---- index_select / index_add / index_copy ------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "dim", "index"),
    [((3, 4), 1, [3, 0, 0]), ((2, 3, 5), -1, [4, 0]), ((4,), 0, []), ((0, 2), 1, [1])],
)
def test_index_select(shape, dim, index):
    i = _idx(*index)
    check(
        lambda x: x.index_select(dim, dg.tensor(i)),
        lambda x: x.index_select(dim, torch.tensor(i)),
        _rand(*shape),
    )


@pytest.mark.parametrize(
    ("shape", "dim", "index"),
    [((4, 3), 0, [3, 0, 3]), ((2, 5, 3), 1, [4, 0]), ((2, 3), -1, []), ((0, 3), 1, [2])],
)
@pytest.mark.parametrize("alpha", [1, -2.5])
def test_index_add(shape, dim, index, alpha):
    i = _idx(*index)
    sshape = list(shape)
    sshape[dim] = len(index)
    check(
        lambda x, s: x.index_add(dim, dg.tensor(i), s, alpha=alpha),
        lambda x, s: x.index_add(dim, torch.tensor(i), s, alpha=alpha),
        _rand(*shape),
        _rand(*sshape),
    )
    x, s = _rand(*shape), _rand(*sshape)
    d = dg.tensor(x.copy())
    t = torch.tensor(x.copy())
    d.index_add_(dim, dg.tensor(i), dg.tensor(s), alpha=alpha)
    t.index_add_(dim, torch.tensor(i), torch.tensor(s), alpha=alpha)
    _close(d, t)


@pytest.mark.parametrize(("shape", "dim", "index"), [((4, 3), 0, [3, 1]), ((2, 5), -1, [0, 4, 2])])
def test_index_copy(shape, dim, index):
    i = _idx(*index)
    sshape = list(shape)
    sshape[dim] = len(index)
    check(
        lambda x, s: x.index_copy(dim, dg.tensor(i), s),
        lambda x, s: x.index_copy(dim, torch.tensor(i), s),
        _rand(*shape),
        _rand(*sshape),
    )
    d, t = dg.tensor(_rand(*shape)), None
    t = torch.tensor(d.numpy().copy())
    s = _rand(*sshape)
    d.index_copy_(dim, dg.tensor(i), dg.tensor(s))
    t.index_copy_(dim, torch.tensor(i), torch.tensor(s))
    _close(d, t)


# ---- scatter / masked_select / masked_scatter --------------------------------------------


def _perm_index(shape, dim, n):
    """An index of shape `shape` whose entries along dim are distinct values in [0, n)."""
    out = np.empty(shape, np.int64)
    moved = np.moveaxis(out, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = RNG.permutation(n)[: moved.shape[-1]]
    return out


@pytest.mark.parametrize(
    ("shape", "ishape", "sshape", "dim"),
    [((4, 5), (3, 5), (3, 6), 0), ((3, 6), (2, 4), (3, 4), -1), ((2, 3, 4), (2, 3, 2), None, 2)],
)
def test_scatter(shape, ishape, sshape, dim):
    idx = _perm_index(ishape, dim, shape[dim])
    sshape = sshape or ishape
    check(  # torch's backward fails for a src larger than the index: forward only there
        lambda x, s: x.scatter(dim, dg.tensor(idx), s),
        lambda x, s: x.scatter(dim, torch.tensor(idx), s),
        _rand(*shape),
        _rand(*sshape),
        grad=sshape == ishape,
    )
    if sshape != ishape:  # the gradient of the used part of src against torch's
        check(
            lambda x, s: x.scatter(dim, dg.tensor(idx), s),
            lambda x, s: x.scatter(dim, torch.tensor(idx), s),
            _rand(*shape),
            _rand(*ishape),
        )
    check(
        lambda x: x.scatter(dim, dg.tensor(idx), value=2.5),
        lambda x: x.scatter(dim, torch.tensor(idx), value=2.5),
        _rand(*shape),
    )
    check(
        lambda x: x.scatter(dim, dg.tensor(idx), -1.0),
        lambda x: x.scatter(dim, torch.tensor(idx), -1.0),
        _rand(*shape),
    )
    x, s = _rand(*shape), _rand(*sshape)
    d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
    d.scatter_(dim, dg.tensor(idx), dg.tensor(s))
    t.scatter_(dim, torch.tensor(idx), torch.tensor(s))
    _close(d, t)
    d.scatter_add_(dim, dg.tensor(idx), dg.tensor(s))
    t.scatter_add_(dim, torch.tensor(idx), torch.tensor(s))
    _close(d, t)


def test_scatter_errors():
    x = dg.tensor(_rand(3, 4))
    with pytest.raises(IndexError):
        x.scatter(1, dg.tensor(np.array([[4]])), dg.tensor(_rand(1, 1)))
    with pytest.raises(IndexError):
        x.scatter(1, dg.tensor(np.array([[-1]])), 1.0)
    with pytest.raises(ValueError):
        x.scatter(1, dg.tensor(np.array([[0]])), dg.tensor(_rand(1, 1)), reduce="add")
    with pytest.raises(TypeError):
        x.scatter(1, dg.tensor(np.array([[0]])))
    with pytest.raises(TypeError):
        x.scatter(1, dg.tensor(np.array([[0]])), dg.tensor(_rand(1, 1).astype(np.float32)))


@pytest.mark.parametrize(
    ("shape", "mshape"), [((3, 4), (3, 4)), ((3, 1), (2, 1, 5)), ((0, 2), (2,))]
)
def test_masked_select_and_scatter(shape, mshape):
    m = RNG.random(mshape) > 0.4
    check(
        lambda x: x.masked_select(dg.tensor(m)),
        lambda x: x.masked_select(torch.tensor(m)),
        _rand(*shape),
    )
    n = int(np.broadcast_to(m, np.broadcast_shapes(shape, mshape)).sum())
    check(
        lambda x, s: x.masked_scatter(dg.tensor(m), s),
        lambda x, s: x.masked_scatter(torch.tensor(m), s),
        _rand(*shape),
        _rand(n + 2),
    )


def test_masked_scatter_in_place_and_errors():
    m = np.array([[True, False, True], [False, True, True]])
    x, s = _rand(2, 3), _rand(2, 3)
    d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
    d.masked_scatter_(dg.tensor(m), dg.tensor(s))
    t.masked_scatter_(torch.tensor(m), torch.tensor(s))
    _close(d, t)
    with pytest.raises(ValueError, match="fewer"):
        d.masked_scatter(dg.tensor(m), dg.tensor(_rand(3)))
    with pytest.raises(TypeError):
        d.masked_select(dg.tensor(np.ones(3)))
    with pytest.raises(ValueError):
        d.masked_select(dg.tensor(np.ones(4, bool)))


# ---- elementwise -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 0.5])
def test_addcmul_addcdiv(value):
    a, b, c = _rand(3, 4), _rand(4), _rand(3, 1)
    for name in ("addcmul", "addcdiv"):
        check(
            lambda x, y, z, n=name: getattr(x, n)(y, z, value=value),
            lambda x, y, z, n=name: getattr(x, n)(y, z, value=value),
            a,
            b,
            c,
        )
        d, t = dg.tensor(a.copy()), torch.tensor(a.copy())
        getattr(d, name + "_")(dg.tensor(b), dg.tensor(c), value=value)
        getattr(t, name + "_")(torch.tensor(b), torch.tensor(c), value=value)
        _close(d, t)
    with pytest.raises(TypeError, match="integer"):
        dg.tensor(a).addcdiv(dg.tensor(np.arange(4)), dg.tensor(np.arange(1, 5)))
    with pytest.raises(RuntimeError):  # an operand that requires grad, written in place
        dg.tensor(a).addcmul_(dg.tensor(b, requires_grad=True), dg.tensor(c))


@pytest.mark.parametrize("weight", [0.3, 0.8, 1.0, "tensor"])
def test_lerp(weight):
    a, b = _rand(3, 4), _rand(4)
    if weight == "tensor":
        w = RNG.uniform(-0.5, 1.5, (3, 1))
        check(lambda x, y, v: x.lerp(y, v), lambda x, y, v: x.lerp(y, v), a, b, w)
    else:
        check(lambda x, y: x.lerp(y, weight), lambda x, y: x.lerp(y, weight), a, b)
        d, t = dg.tensor(a.copy()), torch.tensor(a.copy())
        d.lerp_(dg.tensor(b), weight)
        t.lerp_(torch.tensor(b), weight)
        _close(d, t)
    with pytest.raises(TypeError):
        dg.tensor(np.arange(3)).lerp(dg.tensor(np.arange(3)), 0.5)


@pytest.mark.parametrize("name", ["hypot", "logaddexp"])
def test_hypot_logaddexp(name):
    a, b = _rand(3, 4) * 3, _rand(4) * 3
    check(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), a, b)
    big = np.array([1e300, -1e300, 0.0, np.inf, -np.inf, np.nan])
    other = np.array([1e300, 2.0, 0.0, 1.0, -np.inf, 1.0])
    check(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), big, other)
    f32 = _rand(5).astype(np.float32)
    _close(
        getattr(dg.tensor(f32), name)(dg.tensor(f32 * 2)),
        getattr(torch.tensor(f32), name)(torch.tensor(f32 * 2)),
        rtol=1e-6,
    )
    with pytest.raises(TypeError):
        getattr(dg.tensor(np.arange(3)), name)(dg.tensor(np.arange(3)))
    with pytest.raises(ValueError):
        getattr(dg.tensor(_rand(3)), name)(dg.tensor(_rand(4)))


@pytest.mark.parametrize("kw", [{}, {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}])
def test_nan_to_num(kw):
    x = np.array([1.5, np.nan, np.inf, -np.inf, -2.0])
    check(lambda v: v.nan_to_num(**kw), lambda v: v.nan_to_num(**kw), x)
    f32 = x.astype(np.float32)
    _close(dg.tensor(f32).nan_to_num(**kw), torch.tensor(f32).nan_to_num(**kw))
    d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
    d.nan_to_num_(**kw)
    t.nan_to_num_(**kw)
    _close(d, t)
    _close(dg.tensor(np.arange(3)).nan_to_num(), torch.arange(3).nan_to_num())


def test_arithmetic_method_forms():
    a, b = _rand(3, 4), _rand(4) + 3
    check(lambda x, y: x.add(y, alpha=2.0), lambda x, y: x.add(y, alpha=2.0), a, b)
    check(lambda x, y: x.sub(y, alpha=-1.5), lambda x, y: x.sub(y, alpha=-1.5), a, b)
    check(lambda x, y: x.mul(y), lambda x, y: x.mul(y), a, b)
    check(lambda x, y: x.div(y), lambda x, y: x.div(y), a, b)
    check(lambda x: x.pow(3), lambda x: x.pow(3), a)
    check(lambda x: x.neg(), lambda x: x.neg(), a)
    check(lambda x: x.reciprocal(), lambda x: x.reciprocal(), a)
    for mode in ("trunc", "floor"):
        _close(
            dg.tensor(a).div(dg.tensor(b), rounding_mode=mode),
            torch.tensor(a).div(torch.tensor(b), rounding_mode=mode),
        )
        ia, ib = np.arange(-5, 5), np.array([3])
        _close(
            dg.tensor(ia).div(dg.tensor(ib), rounding_mode=mode),
            torch.tensor(ia).div(torch.tensor(ib), rounding_mode=mode),
        )
    with pytest.raises(ValueError):
        dg.tensor(a).div(2.0, rounding_mode="round")


# ---- scans, flips, triangles -------------------------------------------------------------


@pytest.mark.parametrize(("shape", "dim"), [((3, 5), 1), ((4, 2, 3), 0), ((7,), -1), ((0, 3), 0)])
def test_cumsum_cumprod(shape, dim):
    for name in ("cumsum", "cumprod"):
        check(methodcaller(name, dim), methodcaller(name, dim), _rand(*shape))
    ints = RNG.integers(-3, 4, shape)
    for name in ("cumsum", "cumprod"):
        _close(
            getattr(dg.tensor(ints.astype(np.int32)), name)(dim),
            getattr(torch.tensor(ints.astype(np.int32)), name)(dim),
        )
    _close(dg.tensor(ints > 0).cumsum(dim), torch.tensor(ints > 0).cumsum(dim))


def test_cumprod_gradient_with_zeros():
    x = _rand(3, 6)
    x[0, 2] = 0.0
    x[1, 1] = x[1, 4] = 0.0
    x[2, 5] = 0.0
    for dim in (1, 0):
        check(methodcaller("cumprod", dim), methodcaller("cumprod", dim), x)


@pytest.mark.parametrize(
    ("shape", "n", "dim"), [((3, 5), 1, -1), ((4, 3), 2, 0), ((3,), 4, 0), ((2, 3), 0, 1)]
)
def test_diff(shape, n, dim):
    check(lambda x: x.diff(n, dim), lambda x: x.diff(n, dim), _rand(*shape))
    pshape = list(shape)
    pshape[dim] = 2
    check(
        lambda x, p, q: x.diff(n, dim, prepend=p, append=q),
        lambda x, p, q: x.diff(n, dim, prepend=p, append=q),
        _rand(*shape),
        _rand(*pshape),
        _rand(*pshape),
    )


def test_diff_bool_and_errors():
    m = np.array([True, False, False, True])
    _close(dg.tensor(m).diff(), torch.tensor(m).diff())
    with pytest.raises(ValueError):
        dg.tensor(_rand(3)).diff(-1)
    with pytest.raises(ValueError):
        dg.tensor(np.float64(1.0)).diff()
    with pytest.raises(ValueError):
        dg.tensor(_rand(2, 3)).diff(prepend=dg.tensor(_rand(2)))


@pytest.mark.parametrize("dims", [(0,), (1, -1 + 3), (-1,), (0, 1, 2), ()])
def test_flip(dims):
    check(lambda x: x.flip(dims), lambda x: x.flip(dims), _rand(2, 3, 4))


def test_flip_variants_and_errors():
    check(lambda x: x.flip(0, 1), lambda x: x.flip(0, 1), _rand(2, 3))
    check(lambda x: x.fliplr(), lambda x: x.fliplr(), _rand(2, 3))
    check(lambda x: x.flipud(), lambda x: x.flipud(), _rand(2, 3))
    with pytest.raises(ValueError):
        dg.tensor(_rand(2, 3)).flip((0, -2))
    with pytest.raises(IndexError):
        dg.tensor(_rand(2, 3)).flip(2)


@pytest.mark.parametrize(
    ("shifts", "dims"), [(1, None), (-7, None), (2, 1), ((1, -2), (0, -1)), ((5, 1), (1, 1))]
)
def test_roll(shifts, dims):
    check(lambda x: x.roll(shifts, dims), lambda x: x.roll(shifts, dims), _rand(3, 4))


def test_roll_errors_and_empty():
    check(lambda x: x.roll(2, 1), lambda x: x.roll(2, 1), _rand(0, 3))
    with pytest.raises(ValueError):
        dg.tensor(_rand(2, 3)).roll((1, 2), (0,))
    with pytest.raises(IndexError):
        dg.tensor(_rand(2, 3)).roll(1, 2)
    with pytest.raises(IndexError):
        dg.tensor(np.float64(1.0)).roll(1, 0)


@pytest.mark.parametrize("diagonal", [0, 1, -2, 5])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (0, 2)])
def test_tril_triu(diagonal, shape):
    for name in ("tril", "triu"):
        check(methodcaller(name, diagonal), methodcaller(name, diagonal), _rand(*shape))
        x = _rand(*shape)
        d, t = dg.tensor(x.copy()), torch.tensor(x.copy())
        getattr(d, name + "_")(diagonal)
        getattr(t, name + "_")(diagonal)
        _close(d, t)
    with pytest.raises(ValueError):
        dg.tensor(_rand(3)).tril()


# ---- products ----------------------------------------------------------------------------


def test_products():
    check(lambda a, b: a.mm(b), lambda a, b: a.mm(b), _rand(3, 4), _rand(4, 2))
    check(lambda a, b: a.bmm(b), lambda a, b: a.bmm(b), _rand(2, 3, 4), _rand(2, 4, 5))
    check(lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), _rand(2, 3, 4), _rand(4))
    check(lambda a, b: a.dot(b), lambda a, b: a.dot(b), _rand(5), _rand(5))
    check(lambda a, b: a.outer(b), lambda a, b: a.outer(b), _rand(3), _rand(4))
    check(lambda a, b: a.outer(b), lambda a, b: a.outer(b), _rand(0), _rand(4))
    with pytest.raises(ValueError):
        dg.tensor(_rand(3)).mm(dg.tensor(_rand(3, 2)))
    with pytest.raises(ValueError):
        dg.tensor(_rand(2, 2)).outer(dg.tensor(_rand(2)))
    with pytest.raises(ValueError):
        dg.tensor(_rand(2, 3, 4)).bmm(dg.tensor(_rand(3, 4, 2)))
    with pytest.raises(TypeError):
        dg.tensor(_rand(3)).dot(dg.tensor(_rand(3).astype(np.float32)))


@pytest.mark.parametrize(("beta", "alpha"), [(1, 1), (0.5, -2.0), (0, 1.5)])
def test_addmm_baddbmm_addmv(beta, alpha):
    kw = {"beta": beta, "alpha": alpha}
    check(
        lambda s, a, b: s.addmm(a, b, **kw),
        lambda s, a, b: s.addmm(a, b, **kw),
        _rand(3, 1),
        _rand(3, 4),
        _rand(4, 2),
    )
    check(
        lambda s, a, b: s.baddbmm(a, b, **kw),
        lambda s, a, b: s.baddbmm(a, b, **kw),
        _rand(2, 3, 5),
        _rand(2, 3, 4),
        _rand(2, 4, 5),
    )
    check(
        lambda s, a, b: s.addmv(a, b, **kw),
        lambda s, a, b: s.addmv(a, b, **kw),
        _rand(3),
        _rand(3, 4),
        _rand(4),
    )
    nan = np.full((3, 2), np.nan)
    if beta == 0:  # beta 0 ignores self's NaN, as torch
        out = dg.tensor(nan).addmm(dg.tensor(_rand(3, 4)), dg.tensor(_rand(4, 2)), **kw)
        assert np.isfinite(out.numpy()).all()
    with pytest.raises(ValueError):
        dg.tensor(_rand(4, 2)).addmm(dg.tensor(_rand(3, 4)), dg.tensor(_rand(4, 2)))


# ---- reductions and tests ----------------------------------------------------------------


def test_aminmax_and_count_nonzero():
    x = _rand(3, 4)
    for kw in ({}, {"dim": 1}, {"dim": -2, "keepdim": True}):
        d, t = _pair(x)
        rd, rt = d[0].aminmax(**kw), t[0].aminmax(**kw)
        _close(rd.min, rt.min)
        _close(rd.max, rt.max)
        (rd.min.sum() + 2 * rd.max.sum()).backward()
        (rt.min.sum() + 2 * rt.max.sum()).backward()
        _close(d[0].grad, t[0].grad)
    with pytest.raises(IndexError):
        dg.tensor(np.zeros(0)).aminmax()
    z = x.copy()
    z[0, 1] = z[2, 2] = 0.0
    for dim in (None, 0, (0, 1), -1):
        _close(dg.tensor(z).count_nonzero(dim), torch.tensor(z).count_nonzero(dim))


def test_isclose_allclose():
    a = np.array([1.0, np.nan, np.inf, 2.0, -np.inf, 1e-9])
    b = np.array([1.0 + 1e-7, np.nan, np.inf, 2.1, np.inf, 0.0])
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.1, "atol": 0.0}):
        _close(
            dg.tensor(a).isclose(dg.tensor(b), **kw), torch.tensor(a).isclose(torch.tensor(b), **kw)
        )
        assert dg.tensor(a).allclose(dg.tensor(b), **kw) == torch.tensor(a).allclose(
            torch.tensor(b), **kw
        )
    with pytest.raises(TypeError):
        dg.tensor(a).isclose(dg.tensor(np.arange(6)))


# ---- new_* and shape helpers -------------------------------------------------------------


def test_new_tensors():
    d, t = dg.tensor(_rand(2)), torch.tensor(_rand(2))
    for name in ("new_zeros", "new_ones", "new_empty"):
        for size in ((2, 3), ((2, 3),), ((),), (0,)):
            od, ot = getattr(d, name)(*size), getattr(t, name)(*size)
            assert od.shape == tuple(ot.shape) and str(od.dtype) == "float64"
            if name != "new_empty":
                _close(od, ot)
    _close(d.new_full((2, 1), 3.5), t.new_full((2, 1), 3.5))
    _close(d.new_ones(3, dtype=dg.int64), t.new_ones(3, dtype=torch.int64))
    _close(d.new_tensor([1, 2]), t.new_tensor([1, 2]))
    assert d.new_zeros(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError):
        d.new_full(2, 1.0)
    with pytest.raises(ValueError):
        d.new_zeros(-1)
    _close(dg.tensor(np.arange(3)).type_as(d), torch.arange(3).type_as(t))


@pytest.mark.parametrize(
    ("src", "dst"), [(0, 2), (-1, 0), ((0, 1), (2, 0)), ((), ()), ((0, 2), (-1, -3))]
)
def test_movedim(src, dst):
    check(lambda x: x.movedim(src, dst), lambda x: x.movedim(src, dst), _rand(2, 3, 4))
    check(lambda x: x.moveaxis(src, dst), lambda x: x.moveaxis(src, dst), _rand(2, 3, 4))


def test_movedim_errors_and_shape_helpers():
    x = dg.tensor(_rand(2, 3, 4))
    with pytest.raises(ValueError):
        x.movedim((0, 1), (1,))
    with pytest.raises(ValueError):
        x.movedim((0, 0), (1, 2))
    with pytest.raises(IndexError):
        x.movedim(3, 0)
    check(lambda v: v.repeat(2, 1, 3), lambda v: v.repeat(2, 1, 3), _rand(3, 2))
    check(lambda v: v.repeat(0, 2), lambda v: v.repeat(0, 2), _rand(3, 2))
    check(lambda v: v.repeat((2,)), lambda v: v.repeat((2,)), _rand(3))
    with pytest.raises(ValueError):
        x.repeat(2)
    with pytest.raises(TypeError):
        x.repeat()
    check(lambda v: v.squeeze((0, 2)), lambda v: v.squeeze((0, 2)), _rand(1, 3, 1, 1))
    check(lambda v: v.swapaxes(0, -1), lambda v: v.swapaxes(0, -1), _rand(2, 3))
    check(lambda v: v.unflatten(1, (2, -1)), lambda v: v.unflatten(1, (2, -1)), _rand(3, 4))


def test_gradcheck_composites():
    x = dg.tensor(_rand(3, 4), requires_grad=True)
    s = dg.tensor(_rand(2, 4), requires_grad=True)
    idx = dg.tensor(_idx(2, 0))
    assert dg.gradcheck(lambda a, b: a.index_add(0, idx, b, alpha=0.5), (x, s))
    assert dg.gradcheck(lambda a: a.cumprod(1), (x,))
    assert dg.gradcheck(lambda a, b: a.logaddexp(b), (x, s[0]))
