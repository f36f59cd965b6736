"""One exception class for an index value out of range (round 45): _cpu.IndexRangeError, an
IndexError and a RuntimeError, raised by the C++ bindings (gather, scatter_add, index_add,
scatter_reduce, ctc_loss's labels) and by the Python layer (index_select, take, embedding,
getitem, ...). torch raises RuntimeError for some of these ops and IndexError for others; code
written against torch catches ours either way. Each op against torch's own exception type, a
value too large and one too negative, float32 / float64 sources, with and without grad."""

import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import _cpu, ops

E = _cpu.IndexRangeError
RNG = np.random.default_rng(45)
DTYPES = [np.float32, np.float64]


def test_the_class():
    assert issubclass(E, IndexError) and issubclass(E, RuntimeError)
    assert E.__name__ == "IndexRangeError" and E.__module__ == "deltagrad._cpu"
    for mod in ("tensor", "ops", "functional", "_tensor_methods", "_functional_extra"):
        assert importlib.import_module(f"deltagrad.{mod}").IndexRangeError is E
    # multi_margin_loss's class, now the one class
    assert importlib.import_module("deltagrad._functional_losses")._LossIndexError is E
    try:
        raise E("x")
    except RuntimeError as e:  # torch-style code
        assert isinstance(e, IndexError)


# op name -> f(lib, T, Fn, x, bad): lib is torch or dg, T its tensor constructor (a numpy
# array in), Fn its functional module; bad an index value out of range for dim 0 (size 3)
CASES = {
    "gather": lambda m, T, Fn, x, b: x.gather(0, T(np.array([[0, b], [1, 0]]))),
    "gather_dim1": lambda m, T, Fn, x, b: x.gather(1, T(np.array([[0, b + 1], [1, 0]]))),
    "scatter": lambda m, T, Fn, x, b: x.scatter(0, T(np.array([[0, b], [1, 0]])), x[:2, :2]),
    "scatter_value": lambda m, T, Fn, x, b: x.scatter(0, T(np.array([[0, b]])), 1.5),
    "scatter_add": lambda m, T, Fn, x, b: x.scatter_add(0, T(np.array([[b, 0]])), x[:1, :2]),
    "scatter_reduce": lambda m, T, Fn, x, b: x.scatter_reduce(
        0, T(np.array([[0, b]])), x[:1, :2], "amax"
    ),
    "scatter_reduce_sum": lambda m, T, Fn, x, b: x.scatter_reduce(
        1, T(np.array([[0, b + 1]])), x[:1, :2], "sum", include_self=False
    ),
    "index_add": lambda m, T, Fn, x, b: x.index_add(0, T(np.array([0, b])), x[:2]),
    "index_select": lambda m, T, Fn, x, b: x.index_select(0, T(np.array([b, 0]))),
    "index_copy": lambda m, T, Fn, x, b: x.index_copy(0, T(np.array([0, b])), x[:2]),
    "index_fill": lambda m, T, Fn, x, b: x.index_fill(0, T(np.array([0, b])), 2.0),
    "index_reduce": lambda m, T, Fn, x, b: x.index_reduce(0, T(np.array([b])), x[:1], "amax"),
    "index_put": lambda m, T, Fn, x, b: x.index_put((T(np.array([0, b])),), x[0]),
    "index_put_acc": lambda m, T, Fn, x, b: x.index_put((T(np.array([b])),), x[0], accumulate=True),
    "take": lambda m, T, Fn, x, b: x.take(T(np.array([0, 4 * b]))),
    "getitem": lambda m, T, Fn, x, b: x[T(np.array([0, b]))],
    "getitem_2d": lambda m, T, Fn, x, b: x[T(np.array([0, 1])), T(np.array([0, 4 * b]))],
    "setitem": lambda m, T, Fn, x, b: x.detach().clone().__setitem__(T(np.array([b])), 1.0),
    "select": lambda m, T, Fn, x, b: x.select(0, b),
    "embedding": lambda m, T, Fn, x, b: Fn.embedding(T(np.array([[0, b]])), x),
    "embedding_bag": lambda m, T, Fn, x, b: Fn.embedding_bag(
        T(np.array([0, b])), x, T(np.array([0]))
    ),
    "nll_loss": lambda m, T, Fn, x, b: Fn.nll_loss(x.T[:3], T(np.array([0, b + 1, 1]))),
    "cross_entropy": lambda m, T, Fn, x, b: Fn.cross_entropy(x, T(np.array([0, b + 1, 1]))),
    "multi_margin_loss": lambda m, T, Fn, x, b: Fn.multi_margin_loss(x, T(np.array([0, b + 1, 1]))),
    "searchsorted_sorter": lambda m, T, Fn, x, b: m.searchsorted(
        x[0].detach(), x[1].detach(), sorter=T(np.array([0, 1, 2, b + 1]))
    ),
}


def _torch_type(case, x, bad):
    t = torch.tensor(x, requires_grad=False)
    try:
        case(torch, torch.tensor, TF, t, bad)
    except Exception as e:  # noqa: BLE001 (the type is the point)
        return type(e)
    pytest.fail("torch raised nothing")


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [3, -4, 10**6, -(10**6)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name, bad, dtype, grad):
    case = CASES[name]
    x = RNG.standard_normal((3, 4)).astype(dtype)
    want = _torch_type(case, x, bad)
    assert issubclass(want, (IndexError, RuntimeError)), want
    xd = dg.tensor(x, requires_grad=grad)
    with pytest.raises(IndexError) as info:
        case(dg, dg.tensor, F, xd, bad)
    got = info.value
    assert isinstance(got, E), (name, type(got), got)  # the loss targets' too (_ClassIndexError)
    if issubclass(want, RuntimeError):
        assert isinstance(got, RuntimeError), (name, type(got), got)
    assert str(got)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [3, -4, 10**6, -(10**6)])
def test_take_along_dim(bad, dtype, grad):
    """torch 2.13 (CPU) takes any index there modulo the size, undocumented (no error, not even
    for 10**6); deltagrad refuses it as gather does: IndexRangeError."""
    x = dg.tensor(RNG.standard_normal((3, 4)).astype(dtype), requires_grad=grad)
    with pytest.raises(E, match="out of range"):
        dg.take_along_dim(x, dg.tensor(np.array([[0, bad, 1, 0]])), 0)
    with pytest.raises(E, match="out of range"):
        dg.take_along_dim(x, dg.tensor(np.array([0, 4 * bad])))


@pytest.mark.parametrize("itype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [7, -1, -8])
def test_kernel_bindings(bad, dtype, itype):
    """The C++ raise sites: ops.index_add_, ops.scatter_reduce_ (contiguous float outs go to
    the kernels), gather / scatter_add with int32 and int64 indices, and torch's type."""
    x = RNG.standard_normal((4, 7)).astype(dtype)
    idx = RNG.integers(0, 7, (4, 5)).astype(itype)
    idx[2, 3] = bad
    for f in (
        lambda: dg.tensor(x).gather(1, dg.tensor(idx)),
        lambda: dg.tensor(x).scatter_add(1, dg.tensor(idx), dg.tensor(x[:, :5])),
    ):
        with pytest.raises(RuntimeError, match=f"index: {bad} is out of range") as info:
            f()
        assert isinstance(info.value, E)
    with pytest.raises(RuntimeError):
        torch.tensor(x).gather(1, torch.tensor(idx.astype(np.int64)))
    out = np.zeros((4, 7), dtype)
    with pytest.raises(E, match=f"index_add: index: {bad} is out of range"):
        ops.index_add_(out, 1, np.array([0, bad]), np.ones((4, 2), dtype))
    with pytest.raises(E, match="scatter_reduce: index: .* is out of range"):
        ops.scatter_reduce_(out, 1, idx.astype(np.int64), x[:, :5].copy(), "amax")
    strided = np.zeros((7, 4), dtype).T  # the Python (ufunc.at) path
    with pytest.raises(E, match="out of range"):
        ops.index_add_(strided, 1, np.array([bad]), np.ones((4, 1), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [4, -1])
def test_ctc_labels(bad, dtype):
    """ctc_loss's labels (torch reads out of range memory there; deltagrad refuses)."""
    t, n, c = 6, 2, 4
    lp = RNG.standard_normal((t, n, c)).astype(dtype)
    tg = np.array([[1, 2], [bad, 1]], np.int64)
    args = (dg.tensor(lp, requires_grad=True), dg.tensor(tg), [t, t], [2, 2])
    with pytest.raises(E, match="a label is out of range"):
        F.ctc_loss(*args)
    flat = np.array([1, 2, bad, 1], np.int64)
    with pytest.raises(E, match="out of range"):
        F.ctc_loss(args[0], dg.tensor(flat), [t, t], [2, 2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_range_still_works(dtype):
    """The edge values (0, n - 1, -n where negatives are allowed) still pass, as torch."""
    x = RNG.standard_normal((3, 4)).astype(dtype)
    xt, xd = torch.tensor(x), dg.tensor(x)
    i = np.array([[2, 0, 1, 2]])
    np.testing.assert_array_equal(xd.gather(0, dg.tensor(i)).numpy(), xt.gather(0, torch.tensor(i)))
    j = np.array([-3, 2])
    np.testing.assert_array_equal(xd[dg.tensor(j)].numpy(), xt[torch.tensor(j)].numpy())
    np.testing.assert_array_equal(
        xd.take(dg.tensor(np.array([-12, 11]))).numpy(), xt.take(torch.tensor([-12, 11])).numpy()
    )
    np.testing.assert_array_equal(xd.select(0, -3).numpy(), xt.select(0, -3).numpy())


# ---- put / put_ (added in round 45) ---------------------------------------------------------


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (7,), (), (2, 1, 3), (0, 4)])
def test_put_against_torch(shape, dtype, accumulate):
    """torch.put / Tensor.put / put_: values and both gradients (repeated positions only
    with accumulate, where torch defines the result), negative positions, size 0 and 0-d."""
    n = int(np.prod(shape))
    x = RNG.standard_normal(shape).astype(dtype)
    k = min(n, 4) if not accumulate else 2 * n
    if accumulate:
        idx = RNG.integers(-n, n, (k,)) if n else np.zeros(0, np.int64)
    else:
        idx = RNG.permutation(n)[:k] - RNG.integers(0, 2, k) * n  # distinct, some negative
    idx = idx.reshape(-1, 2) if idx.size % 2 == 0 and idx.size else idx
    src = RNG.standard_normal(idx.shape).astype(dtype)
    w = RNG.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    st = torch.tensor(src, requires_grad=True)
    want = torch.put(xt, torch.tensor(idx), st, accumulate=accumulate)
    (want * torch.tensor(w)).sum().backward()
    xd = dg.tensor(x, requires_grad=True)
    sd = dg.tensor(src, requires_grad=True)
    got = dg.put(xd, dg.tensor(idx), sd, accumulate=accumulate)
    (got * dg.tensor(w)).sum().backward()
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    assert got.dtype == np.dtype(dtype) and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **tol)
    np.testing.assert_allclose(np.asarray(xd.grad), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(np.asarray(sd.grad), st.grad.numpy(), **tol)
    m = xd.detach().clone()
    assert m.put_(dg.tensor(idx), dg.tensor(src), accumulate) is m
    want_ = torch.tensor(x).put_(torch.tensor(idx), torch.tensor(src), accumulate)
    np.testing.assert_allclose(m.numpy(), want_.numpy(), **tol)
    np.testing.assert_allclose(
        xd.detach().put(dg.tensor(idx), dg.tensor(src), accumulate).numpy(), want_.numpy(), **tol
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_put_errors(dtype):
    x = RNG.standard_normal((2, 3)).astype(dtype)
    src = np.ones(2, dtype)
    for bad in (6, -7, 10**9):
        i = np.array([0, bad])
        with pytest.raises(IndexError) as t_info:
            torch.tensor(x).put(torch.tensor(i), torch.tensor(src))
        with pytest.raises(E, match=f"index {bad} on a tensor of 6 elements"):
            dg.tensor(x).put(dg.tensor(i), dg.tensor(src))
        with pytest.raises(E):
            dg.tensor(x).put_(dg.tensor(i), dg.tensor(src), accumulate=True)
        assert not isinstance(t_info.value, RuntimeError)  # torch: IndexError, ours is both
    with pytest.raises(IndexError, match="same number of elements"):  # torch's IndexError too
        dg.tensor(x).put(dg.tensor(np.array([0, 1])), dg.tensor(np.ones(3, dtype)))
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.tensor(x).put(dg.tensor(np.array([0, 1])), dg.tensor(np.ones(2, other)))
    with pytest.raises(TypeError):
        dg.tensor(x).put(dg.tensor(np.array([0.0, 1.0])), dg.tensor(src))
    with pytest.raises(TypeError):
        dg.tensor(x).put([0, 1], dg.tensor(src))
    leaf = dg.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError):  # an in-place write into a leaf that requires grad
        leaf.put_(dg.tensor(np.array([0, 1])), dg.tensor(src))
