"""Round 39's faster reductions and selections against torch 2.13: flip / fliplr / flipud /
rot90 return copies; max / min / argmax / argmin with dim (the blocked arg along a non-last dim,
the scatter backward), masked_select / x[mask] (a plain write backward), nonzero (flatnonzero
and row counts), logsumexp (in-place passes), unique (the bincount path for a small integer
range), searchsorted (np.searchsorted), einsum (two operands through matmul), bincount."""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
from deltagrad.gradcheck import gradcheck  # noqa: E402

T = sys.modules["deltagrad.tensor"]
TOL = {"rtol": 1e-12, "atol": 1e-12}
rng = np.random.default_rng(3939)


def _special(shape, dtype, ties=5):
    """Values with many ties; floats also hold NaN, +-0.0 and +-inf."""
    a = rng.integers(-ties, ties, size=shape).astype(dtype)
    if a.dtype.kind == "f":
        f = rng.random(shape)
        a[f < 0.01] = np.nan
        a[(f > 0.1) & (f < 0.2)] = -0.0
        a[(f > 0.2) & (f < 0.3)] = 0.0
        a[(f > 0.3) & (f < 0.32)] = np.inf
        a[(f > 0.35) & (f < 0.37)] = -np.inf
    return a


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _np(t):
    if isinstance(t, dg.Tensor):
        return np.asarray(t.data)
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# ---- flip: copies ---------------------------------------------------------------------------

FLIPS = [
    ("flip0", lambda L, x: x.flip(0)),
    ("flip01", lambda L, x: L.flip(x, [0, 1])),
    ("flip-1", lambda L, x: L.flip(x, (-1,))),
    ("fliplr", lambda L, x: x.fliplr()),
    ("fliplr_fn", lambda L, x: L.fliplr(x)),
    ("flipud", lambda L, x: x.flipud()),
    ("flipud_fn", lambda L, x: L.flipud(x)),
    ("rot90", lambda L, x: x.rot90()),
    ("rot90_fn2", lambda L, x: L.rot90(x, 2, [0, 1])),
    ("rot90_3", lambda L, x: x.rot90(3, (1, 0))),
    ("rot90_0", lambda L, x: x.rot90(0)),
]


@pytest.mark.parametrize("name,f", FLIPS, ids=[n for n, _ in FLIPS])
def test_flip_family_returns_a_copy(name, f):
    a = rng.standard_normal((4, 5))
    x = dg.tensor(a.copy())
    y = f(dg, x)
    _same(_np(y), f(torch, torch.tensor(a)).numpy())
    y.add_(1.0)
    y.mul_(3.0)
    _same(_np(x), a)  # x is left alone
    assert not np.shares_memory(_np(y), _np(x))
    xg = dg.tensor(a, requires_grad=True)
    tg = torch.tensor(a, requires_grad=True)
    g = rng.standard_normal(tuple(f(torch, tg).shape))
    f(dg, xg).backward(dg.tensor(g))
    f(torch, tg).backward(torch.tensor(g))
    _same(_np(xg.grad), tg.grad.numpy())


def test_flip_0d_and_empty():
    x = dg.tensor(np.float64(2.5))
    y = x.flip(())
    y.add_(1.0)
    assert float(x) == 2.5
    e = dg.tensor(np.zeros((0, 3)))
    assert e.flip(0).shape == (0, 3)


# ---- max / min / argmax / argmin with dim ------------------------------------------------------

# shapes with a dim > 128 before the last take the blocked path (_arg_blocked)
EXT_SHAPES = [((300, 7), 0), ((2, 257, 3), 1), ((129, 1), 0), ((6, 37), 1), ((1, 1), 0), ((7,), 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim_values_indices_bitwise(dtype, op):
    for shape, d in EXT_SHAPES:
        for keepdim in (False, True):
            a = _special(shape, dtype) if dtype != np.uint8 else rng.integers(0, 4, shape, dtype)
            v, i = getattr(dg.tensor(a), op)(d, keepdim)
            tv, ti = getattr(torch.tensor(a), op)(d, keepdim)
            _same(_np(v), tv.numpy())
            _same(_np(i), ti.numpy())
            ai = getattr(dg.tensor(a), "arg" + op)(d, keepdim)
            _same(_np(ai), getattr(torch.tensor(a), "arg" + op)(d, keepdim).numpy())


@pytest.mark.parametrize("op", ["max", "min"])
def test_arg_blocked_nan_first_index_and_ties(op):
    """NaN is the extreme and its first index wins; among ties the first index wins, also when
    the extreme recurs in later blocks and when the column grows block after block."""
    a = rng.standard_normal((700, 6))
    a[[150, 400], 0] = np.nan
    a[650, 1] = np.nan
    a[[3, 200, 699], 2] = 9.0 if op == "max" else -9.0
    a[:, 3] = np.arange(700.0) * (1 if op == "max" else -1)  # improves in every block
    a[:, 4] = 1.0  # all ties
    a[[0, 699], 5] = np.nan
    for d, arr in ((0, a), (1, np.ascontiguousarray(a.T)), (0, a[:, None, :])):
        v, i = getattr(dg.tensor(arr), op)(d)
        tv, ti = getattr(torch.tensor(arr), op)(d)
        _same(_np(i), ti.numpy())
        _same(_np(v), tv.numpy())


def test_arg_blocked_matches_numpy_random():
    for _ in range(40):
        nd = int(rng.integers(2, 4))
        shape = [int(s) for s in rng.integers(1, 4, nd)]
        d = int(rng.integers(0, nd - 1))
        shape[d] = int(rng.integers(129, 300))
        a = _special(shape, np.float64, ties=3)
        for op, f in (("max", np.argmax), ("min", np.argmin)):
            _same(T._arg_blocked(a, d, op), f(a, axis=d, keepdims=True))


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("shape,d", [((300, 5), 0), ((5, 300), -1), ((3, 4, 2), 1), ((1,), 0)])
def test_max_min_dim_grad(op, shape, d):
    a = rng.standard_normal(shape)
    for keepdim in (False, True):
        x = dg.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        v = getattr(x, op)(d, keepdim)[0]
        tv = getattr(t, op)(d, keepdim)[0]
        g = rng.standard_normal(tuple(tv.shape))
        v.backward(dg.tensor(g))
        tv.backward(torch.tensor(g))
        _same(_np(x.grad), t.grad.numpy())
    x32 = dg.tensor(a.astype(np.float32), requires_grad=True)
    getattr(x32, op)(d)[0].sum().backward()
    assert x32.grad.dtype == dg.float32
    assert gradcheck(lambda x: getattr(x, op)(d)[0], (dg.tensor(a, requires_grad=True),))


def test_max_dim_errors_and_0d():
    with pytest.raises(IndexError):
        dg.tensor(np.zeros((0, 3))).max(0)
    with pytest.raises(IndexError):
        dg.tensor(np.zeros((3, 4))).argmin(2)
    v, i = dg.tensor(np.float64(3.0)).max(0)
    tv, ti = torch.tensor(3.0, dtype=torch.float64).max(0)
    _same(_np(v), tv.numpy())
    _same(_np(i), ti.numpy())
    e = dg.tensor(np.zeros((0, 300, 2)))
    _same(_np(e.max(1)[1]), torch.zeros((0, 300, 2)).max(1)[1].numpy())


# ---- masked_select / boolean indexing ------------------------------------------------------------

MASKS = [((6, 7), (6, 7)), ((6, 7), (6, 1)), ((1, 7), (6, 7)), ((6, 7), (7,)), ((3, 0), (3, 0))]


@pytest.mark.parametrize("xs,ms", MASKS)
def test_masked_select_and_grad(xs, ms):
    a = rng.standard_normal(xs)
    m = rng.random(ms) < 0.5
    x = dg.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y = x.masked_select(dg.tensor(m))
    ty = t.masked_select(torch.tensor(m))
    _same(_np(y), ty.detach().numpy())
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    # a broadcast self sums its gradient (torch's order of summation may differ)
    np.testing.assert_allclose(_np(x.grad), t.grad.numpy(), **TOL)
    if xs == ms:
        _same(_np(x.grad), t.grad.numpy())


def test_bool_index_grad():
    a = rng.standard_normal((5, 4, 3))
    for m in (rng.random((5, 4, 3)) < 0.4, rng.random((5, 4)) < 0.4, rng.random(5) < 0.5):
        x = dg.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        y, ty = x[dg.tensor(m)], t[torch.tensor(m)]
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(dg.tensor(g))
        ty.backward(torch.tensor(g))
        _same(_np(x.grad), t.grad.numpy())
    assert gradcheck(lambda x: x[dg.tensor(a > 0)] * 2.0, (dg.tensor(a, requires_grad=True),))


# ---- nonzero --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(4096 // 8, 17), (3, 4, 5), (2, 0, 3), (1, 1), (7,), (0,), (5, 6, 1, 3), ()]
)
@pytest.mark.parametrize("dtype", [np.bool_, np.float32, np.int64])
def test_nonzero(shape, dtype):
    for p in (0.0, 0.4, 1.0):
        f = rng.random(shape) < p
        a = (f * rng.integers(1, 5, shape)).astype(dtype)
        if dtype == np.float32 and a.size:
            a.reshape(-1)[0] = np.nan  # NaN is nonzero
        n = dg.tensor(a).nonzero()
        tn = torch.tensor(a).nonzero()
        _same(_np(n), tn.numpy())
        assert _np(n).flags.c_contiguous
        tup = torch.tensor(a).nonzero(as_tuple=True)
        for u, v in zip(dg.tensor(a).nonzero(as_tuple=True), tup):
            _same(_np(u), v.numpy())
        _same(_np(dg.tensor(a).argwhere()), torch.tensor(a).argwhere().numpy())


# ---- logsumexp ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,dim", [((6, 37), -1), ((6, 37), 0), ((3, 4, 5), (0, 2)), ((1,), 0)])
def test_logsumexp_fwd_bwd(shape, dim):
    a = rng.standard_normal(shape) * 30
    for keepdim in (False, True):
        x = dg.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        y = x.logsumexp(dim, keepdim)
        ty = t.logsumexp(dim, keepdim)
        np.testing.assert_allclose(_np(y), ty.detach().numpy(), **TOL)
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(dg.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(_np(x.grad), t.grad.numpy(), **TOL)
    # the previous formula's bits
    m = np.amax(a, axis=dim, keepdims=True)
    old = np.log(np.exp(a - m).sum(axis=dim, keepdims=True)) + m
    _same(_np(dg.tensor(a).logsumexp(dim, True)), old)
    assert gradcheck(lambda x: x.logsumexp(dim), (dg.tensor(a / 30, requires_grad=True),))


def test_logsumexp_extremes_float32_int_empty():
    a = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 0.0], [1e30, 1e30]], np.float32)
    _same(_np(dg.tensor(a).logsumexp(1)), torch.tensor(a).logsumexp(1).numpy())
    b = rng.standard_normal((5, 9)).astype(np.float32)
    x = dg.tensor(b, requires_grad=True)
    t = torch.tensor(b, requires_grad=True)
    x.logsumexp(0).sum().backward()
    t.logsumexp(0).sum().backward()
    np.testing.assert_allclose(_np(x.grad), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    i = rng.integers(-3, 3, (4, 5))
    np.testing.assert_allclose(
        _np(dg.tensor(i).logsumexp(1)), torch.tensor(i).logsumexp(1).numpy(), rtol=1e-6
    )
    e = np.zeros((0, 3))
    _same(_np(dg.tensor(e).logsumexp(0)), torch.tensor(e).logsumexp(0).numpy())


# ---- unique ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.int16])
@pytest.mark.parametrize("shape,hi", [((1000,), 50), ((30, 40), 7), ((1,), 3), ((0,), 3), ((), 5)])
def test_unique_small_range_matches_torch(dtype, shape, hi):
    lo = 0 if np.dtype(dtype).kind == "u" else -hi // 2 - 1
    a = rng.integers(lo, hi, shape).astype(dtype)
    for ri in (False, True):
        for rc in (False, True):
            u = dg.tensor(a).unique(return_inverse=ri, return_counts=rc)
            tu = torch.tensor(a).unique(return_inverse=ri, return_counts=rc)
            u, tu = (u, tu) if ri or rc else ((u,), (tu,))
            for p, q in zip(u, tu):
                _same(_np(p), q.numpy())


def test_unique_wide_range_and_floats():
    a = np.concatenate([rng.integers(-(2**40), 2**40, 50), [2**62 + 5, -(2**63)]]).astype(np.int64)
    b = rng.integers(-3, 3, 40).astype(np.float64)
    b[[1, 5]] = np.nan
    for arr in (a, b, np.repeat(a, 3)):
        u = dg.tensor(arr).unique(return_inverse=True, return_counts=True)
        tu = torch.tensor(arr).unique(return_inverse=True, return_counts=True)
        for p, q in zip(u, tu):
            _same(_np(p), q.numpy())
    assert T._unique_small_range(a, True) is None  # the sort path


# ---- searchsorted ---------------------------------------------------------------------------


def _ss_case(batched, n, m, dtype):
    shp = (70, n) if batched else (n,)
    seq = np.sort(rng.integers(-5, 5, shp), axis=-1).astype(dtype)
    vals = rng.integers(-6, 6, (70, m) if batched else (m,)) + 0.5 * (rng.random() < 0.5)
    vals = vals.astype(dtype)
    if np.dtype(dtype).kind == "f" and m > 1:
        vals[..., :2] = np.nan
    return seq, vals


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize(
    "batched,n,m",
    [(False, 17, 200), (False, 0, 5), (True, 9, 100), (True, 9, 5), (True, 1, 70), (False, 3, 0)],
)
def test_searchsorted_matches_torch(dtype, batched, n, m):
    seq, vals = _ss_case(batched, n, m, dtype)
    nan_seq = seq.copy()
    if np.dtype(dtype).kind == "f" and n:
        nan_seq[..., -1] = np.nan  # NaN in the boundaries: the bisection path
    for s in (seq, nan_seq):
        for right in (False, True):
            for use_sorter in (False, True):
                kw, tkw = {}, {}
                sq = s
                if use_sorter:
                    perm = np.argsort(rng.random(s.shape), axis=-1)
                    sq = np.take_along_axis(s, perm, -1)
                    inv = np.argsort(perm, axis=-1)
                    kw, tkw = {"sorter": dg.tensor(inv)}, {"sorter": torch.tensor(inv)}
                r = dg.searchsorted(dg.tensor(sq), dg.tensor(vals), right=right, **kw)
                tr = torch.searchsorted(torch.tensor(sq), torch.tensor(vals), right=right, **tkw)
                _same(_np(r), tr.numpy())
    r = dg.searchsorted(dg.tensor(seq), dg.tensor(vals), side="right", out_int32=True)
    tr = torch.searchsorted(torch.tensor(seq), torch.tensor(vals), side="right", out_int32=True)
    _same(_np(r), tr.numpy())


def test_searchsorted_scalar_and_bucketize():
    s = np.array([1.0, 2.0, 2.0, 3.0])
    for v in (2.0, 0, 5, 2):
        for right in (False, True):
            _same(
                _np(dg.searchsorted(dg.tensor(s), v, right=right)),
                torch.searchsorted(torch.tensor(s), v, right=right).numpy(),
            )
    v = rng.standard_normal(50) * 3
    _same(
        _np(dg.bucketize(dg.tensor(v), dg.tensor(s), right=True)),
        torch.bucketize(torch.tensor(v), torch.tensor(s), right=True).numpy(),
    )


# ---- einsum ---------------------------------------------------------------------------------

EINSUMS = [
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 7), (2, 3, 6, 7)]),
    ("ij,jk->ik", [(5, 6), (6, 7)]),
    ("ij,jk->ki", [(5, 6), (6, 7)]),
    ("bij,jk->bik", [(3, 5, 6), (6, 7)]),
    ("iaj,jkb->ik", [(5, 2, 6), (6, 7, 3)]),
    ("ij,kj->", [(5, 6), (7, 6)]),
    ("i,j->ij", [(5,), (6,)]),
    ("ij,ij->i", [(5, 6), (5, 6)]),
    ("abc,cd->dba", [(4, 5, 6), (6, 7)]),
    ("...ij,...jk->...ik", [(2, 1, 5, 6), (3, 6, 4)]),
    ("ii,ij->j", [(5, 5), (5, 6)]),
    ("ij,jk->ik", [(0, 6), (6, 7)]),
    ("ij,jk->ik", [(5, 1), (1, 7)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[f"{e}-{s}" for e, s in EINSUMS])
def test_einsum_two_operands(eq, shapes):
    xs = [rng.standard_normal(s) for s in shapes]
    d = [dg.tensor(x, requires_grad=True) for x in xs]
    t = [torch.tensor(x, requires_grad=True) for x in xs]
    o, to = dg.einsum(eq, *d), torch.einsum(eq, *t)
    np.testing.assert_allclose(_np(o), to.detach().numpy(), **TOL)
    g = rng.standard_normal(tuple(to.shape))
    o.backward(dg.tensor(g))
    to.backward(torch.tensor(g))
    for a, b in zip(d, t):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), **TOL)
    x32 = [x.astype(np.float32) for x in xs]
    np.testing.assert_allclose(
        _np(dg.einsum(eq, *[dg.tensor(x) for x in x32])),
        torch.einsum(eq, *[torch.tensor(x) for x in x32]).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_einsum_int_and_gradcheck():
    a = rng.integers(-5, 5, (4, 5, 6)).astype(np.int32)
    b = rng.integers(-5, 5, (6, 7)).astype(np.int32)
    _same(_np(dg.einsum("abc,cd->abd", dg.tensor(a), dg.tensor(b))), np.einsum("abc,cd->abd", a, b))
    q = dg.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    k = dg.tensor(rng.standard_normal((2, 6, 4)), requires_grad=True)
    assert gradcheck(lambda q, k: dg.einsum("bqd,bkd->bqk", q, k), (q, k))


# ---- bincount -------------------------------------------------------------------------------


def test_bincount():
    for dt in (np.int64, np.int32, np.uint8):
        a = rng.integers(0, 20, 300).astype(dt)
        w = rng.standard_normal(300)
        for ml in (0, 30):
            _same(
                _np(dg.tensor(a).bincount(minlength=ml)),
                torch.tensor(a).bincount(minlength=ml).numpy(),
            )
            _same(
                _np(dg.tensor(a).bincount(dg.tensor(w), ml)),
                torch.tensor(a).bincount(torch.tensor(w), ml).numpy(),
            )
        w32 = w.astype(np.float32)  # summed in float64 here, in float32 by torch
        r = _np(dg.tensor(a).bincount(dg.tensor(w32)))
        assert r.dtype == np.float32
        np.testing.assert_allclose(
            r, torch.tensor(a).bincount(torch.tensor(w32)).numpy(), rtol=1e-5, atol=1e-5
        )
    e = np.zeros(0, np.int64)
    _same(_np(dg.tensor(e).bincount()), torch.tensor(e).bincount().numpy())
    with pytest.raises(RuntimeError, match="non-negative"):
        dg.tensor(np.array([1, -1])).bincount()
    with pytest.raises(RuntimeError, match="non-negative"):
        dg.tensor(np.array([1, -1])).bincount(dg.tensor(np.ones(2)))
    with pytest.raises(RuntimeError):
        torch.tensor(np.array([1, -1])).bincount()
