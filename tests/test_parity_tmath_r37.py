"""Tensor-math functions against torch 2.13 (round 37): einsum, tensordot, cdist, meshgrid,
broadcast_tensors / broadcast_shapes, searchsorted, bucketize, kron, equal, histc,
cartesian_prod, block_diag -- forward, gradients, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(37)
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}


def _pair(*shapes, dtype="float64"):
    arrs = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    return (
        [dg.tensor(a, requires_grad=True) for a in arrs],
        [torch.tensor(a, requires_grad=True) for a in arrs],
    )


def _close(d, t, dtype="float64"):
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    d = d.numpy() if isinstance(d, dg.Tensor) else np.asarray(d)
    assert d.shape == t.shape
    assert d.dtype == t.dtype
    np.testing.assert_allclose(d, t, **TOL[dtype])


def _check_grads(fd, ft, ds, ts, dtype="float64"):
    """Forward of fd / ft and the gradients of a random weighting of the output."""
    od, ot = fd(*ds), ft(*ts)
    _close(od, ot, dtype)
    w = RNG.standard_normal(tuple(ot.shape)).astype(dtype)
    (od * dg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for a, b in zip(ds, ts):
        _close(a.grad, b.grad, dtype)


# ---- einsum ---------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),  # matmul
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),  # batched matmul
    ("i,j->ij", [(3,), (4,)]),  # outer
    ("ii->", [(4, 4)]),  # trace
    ("ii->i", [(4, 4)]),  # diagonal
    ("ij->", [(3, 4)]),  # sum
    ("ij->ji", [(3, 4)]),  # transpose
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # broadcast ellipsis
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),  # bilinear
    ("iij->j", [(2, 2, 3)]),
    ("iji->j", [(3, 2, 3)]),
    ("ij,ij->ij", [(2, 1), (2, 3)]),  # a size-1 dim broadcast against its letter
    ("...i,i->...", [(2, 1), (3,)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("bA,aC", [(2, 3), (3, 4)]),  # implicit: ASCII order, uppercase first
    ("ij,k->", [(2, 3), (4,)]),  # a letter summed in one operand alone
    ("i...j,j->...", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),  # size 0
    ("ij,jk->ik", [(2, 0), (0, 2)]),
    (" i j , j k -> i k ", [(1, 1), (1, 1)]),  # spaces; size 1
    ("ii", [(3, 3)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_forward_and_grads(eq, shapes):
    ds, ts = _pair(*shapes)
    _check_grads(lambda *a: dg.einsum(eq, *a), lambda *a: torch.einsum(eq, *a), ds, ts)


def test_einsum_float32_list_and_sublist_forms():
    ds, ts = _pair((3, 4), (4, 5), dtype="float32")
    _check_grads(
        lambda a, b: dg.einsum("ij,jk->ik", [a, b]),
        lambda a, b: torch.einsum("ij,jk->ik", [a, b]),
        ds,
        ts,
        "float32",
    )
    ds, ts = _pair((3, 4), (4, 5))
    _close(
        dg.einsum(ds[0], [0, 1], ds[1], [1, 2], [0, 2]),
        torch.einsum(ts[0], [0, 1], ts[1], [1, 2], [0, 2]),
    )
    _close(dg.einsum(ds[0], [0, Ellipsis]), torch.einsum(ts[0], [0, Ellipsis]))


def test_einsum_int_and_gradcheck():
    a = np.arange(6).reshape(2, 3)
    out = dg.einsum("ij,kj->ik", dg.tensor(a), dg.tensor(a))
    _close(out, torch.einsum("ij,kj->ik", torch.tensor(a), torch.tensor(a)))
    x = dg.tensor(RNG.standard_normal((3, 3, 2)), requires_grad=True)
    y = dg.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    assert dg.gradcheck(lambda x, y: dg.einsum("iij,jk->ik", x, y), (x, y))


@pytest.mark.parametrize(
    "args,err,match",
    [
        (("ij->ii", (2, 3)), RuntimeError, "more than once"),
        (("ij,jk->ik", (2, 3)), RuntimeError, "fewer operands"),
        (("ij->ik", (2, 3)), RuntimeError, "does not appear"),
        (("ijk->ij", (2, 3)), RuntimeError, "number of subscripts"),
        (("ii->i", (2, 3)), RuntimeError, "repeated"),
        (("i1", (2, 3)), RuntimeError, "invalid subscript"),
        (("..ij", (2, 3)), RuntimeError, "ellipsis"),
    ],
)
def test_einsum_errors(args, err, match):
    eq, shape = args
    with pytest.raises(err, match=match):
        dg.einsum(eq, dg.ones(shape))
    with pytest.raises(err):
        torch.einsum(eq, torch.ones(shape))


def test_einsum_more_errors():
    with pytest.raises(RuntimeError, match="more operands"):
        dg.einsum("ij", dg.ones((2, 3)), dg.ones(2))
    with pytest.raises(RuntimeError, match="broadcast"):
        dg.einsum("ij,jk->ik", dg.ones((2, 3)), dg.ones((4, 4)))
    with pytest.raises(RuntimeError, match="dtype"):
        dg.einsum("ij,jk->ik", dg.ones((2, 3)), dg.ones((3, 4), dtype=dg.float64))
    with pytest.raises(TypeError, match="equation"):
        dg.einsum(5, dg.ones(2))
    with pytest.raises(ValueError, match="at least one operand"):
        dg.einsum("i->i")
    with pytest.raises(TypeError, match="operands"):
        dg.einsum("i", 5)
    with pytest.raises(NotImplementedError):
        dg.einsum("ij,jk", dg.ones((2, 2), dtype=dg.bool), dg.ones((2, 2), dtype=dg.bool))


# ---- tensordot ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sa,sb,dims",
    [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3, 4), (4, 5), 1),
        ((2, 3), (4, 5), 0),
        ((2, 3, 4), (3, 4, 5), ([1, 2], [0, 1])),
        ((2, 3, 4), (4, 5, 3), [[1, 2], [2, 0]]),
        ((2, 3, 4), (3, 4, 5), ([-2, -1], [0, 1])),
        ((3,), (3,), 1),
        ((0, 3), (3, 2), 1),
    ],
)
def test_tensordot(sa, sb, dims):
    ds, ts = _pair(sa, sb)
    _check_grads(
        lambda a, b: dg.tensordot(a, b, dims=dims),
        lambda a, b: torch.tensordot(a, b, dims=dims),
        ds,
        ts,
    )


def test_tensordot_tensor_dims_and_errors():
    ds, ts = _pair((2, 3, 4), (3, 4, 5))
    _close(dg.tensordot(*ds, dims=dg.tensor(2)), torch.tensordot(*ts, dims=torch.tensor(2)))
    d2 = dg.tensor([[1, 2], [0, 1]])
    _close(dg.tensordot(*ds, dims=d2), torch.tensordot(*ts, dims=torch.tensor([[1, 2], [0, 1]])))
    a, b = ds
    with pytest.raises(RuntimeError, match="dims >= 0"):
        dg.tensordot(a, b, dims=-1)
    with pytest.raises(RuntimeError, match="ndim"):
        dg.tensordot(a, b, dims=4)
    with pytest.raises(RuntimeError, match="need to match"):
        dg.tensordot(a, b, dims=1)
    with pytest.raises(RuntimeError, match="same length"):
        dg.tensordot(a, b, dims=([1, 2], [0]))
    with pytest.raises(RuntimeError, match="multiple times"):
        dg.tensordot(a, b, dims=([1, 1], [0, 0]))
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.tensordot(a, b.float(), dims=2)
    with pytest.raises(RuntimeError, match="dims to be int"):
        dg.tensordot(a, b, dims=2.0)
    with pytest.raises(TypeError):
        dg.tensordot(a, b, dims=(1, 0))
    with pytest.raises(IndexError):
        dg.tensordot(a, b, dims=([5], [0]))


# ---- cdist ----------------------------------------------------------------------------

P_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, float("inf")]


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cdist(p, dtype):
    ds, ts = _pair((2, 1, 4, 3), (3, 5, 3), dtype=dtype)
    _check_grads(
        lambda a, b: dg.cdist(a, b, p=p),
        lambda a, b: torch.cdist(a, b, p=p, compute_mode="donot_use_mm_for_euclid_dist"),
        ds,
        ts,
        dtype,
    )


@pytest.mark.parametrize("p", P_VALUES)
def test_cdist_zero_distance_and_ties(p):
    x = np.array([[1.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    y = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    ds = [dg.tensor(x, requires_grad=True), dg.tensor(y, requires_grad=True)]
    ts = [torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)]
    _check_grads(
        lambda a, b: dg.cdist(a, b, p=p),
        lambda a, b: torch.cdist(a, b, p=p),
        ds,
        ts,
    )


def test_cdist_sizes_and_modes():
    for sa, sb in [((3, 0), (5, 0)), ((0, 4), (2, 4)), ((1, 1), (1, 1))]:
        ds, ts = _pair(sa, sb)
        _close(dg.cdist(*ds), torch.cdist(*ts))
    ds, ts = _pair((30, 3), (27, 3))  # torch's matrix-product route: close, not bit-equal
    np.testing.assert_allclose(dg.cdist(*ds).numpy(), torch.cdist(*ts).detach().numpy(), 1e-9)
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        _close(dg.cdist(*ds, compute_mode=mode), torch.cdist(*ts, compute_mode=mode).detach())
    x = dg.tensor(RNG.standard_normal((2, 3, 2)), requires_grad=True)
    y = dg.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    assert dg.gradcheck(lambda a, b: dg.cdist(a, b, p=3.0), (x, y))


def test_cdist_errors():
    x, y = dg.ones((3, 4)), dg.ones((5, 4))
    with pytest.raises(RuntimeError, match="non-negative"):
        dg.cdist(x, y, p=-1)
    with pytest.raises(RuntimeError, match="non-negative"):
        dg.cdist(x, y, p=float("nan"))
    with pytest.raises(ValueError, match="compute_mode"):
        dg.cdist(x, y, compute_mode="foo")
    with pytest.raises(RuntimeError, match="floating-point"):
        dg.cdist(x.long(), y.long())
    with pytest.raises(RuntimeError, match="dtype"):
        dg.cdist(x, y.double())
    with pytest.raises(RuntimeError, match="2D"):
        dg.cdist(x[0], y)
    with pytest.raises(RuntimeError, match="columns"):
        dg.cdist(x, y[:, :3])
    with pytest.raises(RuntimeError, match="broadcast"):
        dg.cdist(dg.ones((2, 3, 4)), dg.ones((3, 5, 4)))


# ---- meshgrid, broadcast_tensors, cartesian_prod, kron, block_diag -------------------


@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize(
    "shapes", [[(2,), (3,)], [(2,), (3,), (4,)], [(3,)], [(), (3,)], [(0,), (2,)]]
)
def test_meshgrid(indexing, shapes):
    ds, ts = _pair(*shapes)
    od = dg.meshgrid(*ds, indexing=indexing)
    ot = torch.meshgrid(*ts, indexing=indexing)
    assert len(od) == len(ot)
    for a, b in zip(od, ot):
        _close(a, b)
    ws = [RNG.standard_normal(tuple(b.shape)) for b in ot]
    sum((a * dg.tensor(w)).sum() for a, w in zip(od, ws)).backward()
    sum((b * torch.tensor(w)).sum() for b, w in zip(ot, ws)).backward()
    for a, b in zip(ds, ts):
        _close(a.grad, b.grad)


def test_meshgrid_warning_list_form_and_errors():
    with pytest.warns(UserWarning, match="indexing"):
        out = dg.meshgrid(dg.ones(2), dg.ones(3))
    assert out[0].shape == (2, 3)
    assert dg.meshgrid([dg.ones(2), dg.ones(3)], indexing="xy")[0].shape == (3, 2)
    with pytest.raises(RuntimeError, match="indexing must be"):
        dg.meshgrid(dg.ones(2), indexing="foo")
    with pytest.raises(RuntimeError, match="0D or 1D"):
        dg.meshgrid(dg.ones((2, 2)), indexing="ij")
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.meshgrid(dg.ones(2), dg.ones(3, dtype=dg.float64), indexing="ij")
    with pytest.raises(RuntimeError, match="non-empty"):
        dg.meshgrid(indexing="ij")


def test_broadcast_tensors_and_shapes():
    ds, ts = _pair((2, 1), (3,), (1, 1))
    od, ot = dg.broadcast_tensors(*ds), torch.broadcast_tensors(*ts)
    for a, b in zip(od, ot):
        _close(a, b)
    sum(a.sum() * (i + 1) for i, a in enumerate(od)).backward()
    sum(b.sum() * (i + 1) for i, b in enumerate(ot)).backward()
    for a, b in zip(ds, ts):
        _close(a.grad, b.grad)
    assert dg.broadcast_tensors() == ()
    with pytest.raises(RuntimeError):
        dg.broadcast_tensors(dg.ones((2, 1)), dg.ones((3, 2)))
    with pytest.raises(TypeError):
        dg.broadcast_tensors([dg.ones(2)])
    assert dg.broadcast_shapes((2, 1), (3,), 1) == tuple(torch.broadcast_shapes((2, 1), (3,), 1))
    assert dg.broadcast_shapes() == ()
    with pytest.raises(RuntimeError):
        dg.broadcast_shapes((2, 1), (3, 2))
    with pytest.raises(ValueError, match="negative"):
        dg.broadcast_shapes((2, -1))


def test_cartesian_prod():
    for shapes in [[(2,), (3,)], [(2,), (1,), (3,)], [(2,), (0,)]]:
        ds, ts = _pair(*shapes)
        _check_grads(dg.cartesian_prod, torch.cartesian_prod, ds, ts)
    a = dg.ones(3)
    assert dg.cartesian_prod(a) is a
    with pytest.raises(RuntimeError, match="non-empty"):
        torch.cartesian_prod()
    with pytest.raises(RuntimeError, match="1D"):
        dg.cartesian_prod(dg.ones(2), dg.ones((2, 2)))
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.cartesian_prod(dg.ones(2), dg.ones(3, dtype=dg.float64))


@pytest.mark.parametrize(
    "sa,sb", [((2, 3), (3, 2)), ((2, 2), (3,)), ((), (3,)), ((2, 1, 3), (2, 2)), ((2, 0), (3,))]
)
def test_kron(sa, sb):
    ds, ts = _pair(sa, sb)
    _check_grads(dg.kron, torch.kron, ds, ts)


def test_kron_dtypes():
    a, b = np.array([[1, 2], [3, 4]]), np.array([1.0, 10.0], np.float32)
    _close(dg.kron(dg.tensor(a), dg.tensor(b)), torch.kron(torch.tensor(a), torch.tensor(b)))


def test_block_diag():
    ds, ts = _pair((2, 2), (3,), (), (1, 3), (2, 0))
    _check_grads(dg.block_diag, torch.block_diag, ds, ts)
    ints = [np.array([[1, 2], [3, 4]]), np.array([5.0, 6.0], np.float32), np.array(7)]
    _close(dg.block_diag(*map(dg.tensor, ints)), torch.block_diag(*map(torch.tensor, ints)))
    _close(dg.block_diag(), torch.block_diag())
    b = [np.ones((2, 2), bool), np.ones(1, np.int8)]
    _close(dg.block_diag(*map(dg.tensor, b)), torch.block_diag(*map(torch.tensor, b)))
    with pytest.raises(RuntimeError, match="2 or fewer"):
        dg.block_diag(dg.ones((2, 2, 2)))
    with pytest.raises(TypeError):
        dg.block_diag([dg.ones((2, 2))])


# ---- searchsorted, bucketize, equal, histc ---------------------------------------------

NAN = float("nan")


def _both(fn, *args, **kw):
    conv = lambda lib, a: lib.tensor(a) if isinstance(a, np.ndarray) else a  # noqa: E731
    d = getattr(dg, fn)(*[conv(dg, a) for a in args], **{k: conv(dg, v) for k, v in kw.items()})
    t = getattr(torch, fn)(
        *[conv(torch, a) for a in args], **{k: conv(torch, v) for k, v in kw.items()}
    )
    _close(d, t)


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("int32", [False, True])
def test_searchsorted(right, int32):
    kw = dict(right=right, out_int32=int32)
    s = np.array([1.0, 2.0, 2.0, 3.0, NAN])
    v = np.array([[2.0, 0.0, NAN, 5.0, 2.5, 1.0]])
    _both("searchsorted", s, v, **kw)
    _both("searchsorted", s, 2.5, **kw)
    _both("searchsorted", s, np.array(2.0), **kw)
    seq = np.sort(RNG.standard_normal((3, 2, 7)), axis=-1)
    vals = RNG.standard_normal((3, 2, 5))
    vals[0, 0, :2] = seq[0, 0, 3]  # exact hits
    _both("searchsorted", seq, vals, **kw)
    _both("searchsorted", np.sort(RNG.standard_normal(11)), RNG.standard_normal((4, 3)), **kw)
    _both("searchsorted", np.array([1.0]), np.zeros((0,)), **kw)
    _both("searchsorted", np.zeros((0,)), np.array([2.5]), **kw)
    _both("searchsorted", np.array([1, 3, 5]), np.array([0.5, 3.0, 6.0]), **kw)
    u = RNG.standard_normal(9)
    _both("searchsorted", u, RNG.standard_normal(4), sorter=np.argsort(u), **kw)
    u2 = RNG.standard_normal((2, 6))
    _both("searchsorted", u2, RNG.standard_normal((2, 3)), sorter=np.argsort(u2, -1), **kw)
    _both("searchsorted", s, v, side="right" if right else "left", out_int32=int32)


def test_searchsorted_errors():
    s = dg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="opposites"):
        dg.searchsorted(s, s, side="left", right=True)
    with pytest.raises(RuntimeError, match="side can only"):
        dg.searchsorted(s, s, side="foo")
    with pytest.raises(RuntimeError, match="first N-1"):
        dg.searchsorted(dg.ones((2, 2)), dg.ones(3))
    with pytest.raises(RuntimeError, match="scalar only"):
        dg.searchsorted(dg.ones((2, 2)), 2.0)
    with pytest.raises(RuntimeError, match="positive dimension"):
        dg.searchsorted(dg.tensor(3.0), s)
    with pytest.raises(RuntimeError, match="same size"):
        dg.searchsorted(s, s, sorter=dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="long dtype"):
        dg.searchsorted(s, s, sorter=dg.tensor([1, 2, 0], dtype=dg.int32))
    with pytest.raises(IndexError, match="out of range"):
        dg.searchsorted(s, s, sorter=dg.tensor([1, 2, 5]))
    with pytest.raises(NotImplementedError):
        dg.searchsorted(dg.tensor([False, True]), dg.tensor([True]))
    with pytest.raises(TypeError):
        dg.searchsorted([1.0, 2.0], s)


@pytest.mark.parametrize("right", [False, True])
def test_bucketize(right):
    b = np.array([1.0, 2.0, 2.0, 3.0])
    x = np.array([[2.0, 0.0, NAN, 5.0], [1.0, 3.0, 2.5, -1.0]])
    _both("bucketize", x, b, right=right)
    _both("bucketize", x, b, right=right, out_int32=True)
    _both("bucketize", 2.5, b, right=right)
    _both("bucketize", RNG.standard_normal((3, 0)), b, right=right)
    with pytest.raises(RuntimeError, match="1 dimension"):
        dg.bucketize(dg.tensor(x), dg.ones((2, 2)))
    with pytest.raises(RuntimeError, match="1 dimension"):
        dg.bucketize(dg.tensor(x), dg.tensor(1.0))


def test_equal():
    cases = [
        ([1.0, 2.0], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, 2.5]),
        ([1.0, NAN], [1.0, NAN]),
        ([1.0, 2.0], [[1.0, 2.0]]),
        ([], []),
        (0.0, -0.0),
    ]
    for a, b in cases:
        r = dg.equal(dg.tensor(a), dg.tensor(b))
        assert r is torch.equal(torch.tensor(a), torch.tensor(b))
    assert dg.equal(dg.tensor([1.0, 2.0]), dg.tensor([1, 2])) is True
    with pytest.raises(TypeError):
        dg.equal(dg.tensor([1.0]), [1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histc(dtype):
    x = np.array([1.0, 2.0, 1.0, 4.0, 2.5, 0.0], dtype)
    for kw in [
        dict(bins=4),
        dict(bins=4, min=1, max=3),
        dict(bins=3, min=1, max=1),
        dict(bins=1),
        dict(bins=7, min=-1.5, max=2.25),
    ]:
        _both("histc", x, **kw)
    r = RNG.standard_normal((13, 7)).astype(dtype) * 1e6
    _both("histc", r)
    _both("histc", r, bins=17, min=-1e6, max=2e5)
    _both("histc", np.array([2.0, 2.0], dtype), bins=4)
    _both("histc", np.array([5.0], dtype), bins=3, min=2, max=2)
    _both("histc", np.array(5.0, dtype), bins=3)
    _both("histc", np.zeros((0,), dtype), bins=4)
    _both("histc", np.array([1.0, NAN, float("inf"), -float("inf")], dtype), bins=4, min=0, max=2)
    xt = dg.tensor(x, requires_grad=True)
    assert not dg.histc(xt, bins=3).requires_grad


def test_histc_errors():
    x = dg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        dg.histc(x, bins=0)
    with pytest.raises(RuntimeError, match="max must be larger"):
        dg.histc(x, bins=4, min=3, max=1)
    with pytest.raises(RuntimeError, match="not finite"):
        dg.histc(dg.tensor([1.0, NAN]), bins=4)
    with pytest.raises(RuntimeError, match="not finite"):
        dg.histc(dg.tensor([1.0, float("inf")]), bins=4)
    with pytest.raises(RuntimeError, match="not finite"):
        dg.histc(x, bins=4, min=0, max=float("inf"))
    with pytest.raises(NotImplementedError):
        dg.histc(dg.tensor([1, 2]), bins=4)
    with pytest.raises(TypeError, match="bins"):
        dg.histc(x, bins=2.5)
