"""The torch-style Tensor API without torch: gradients of the new ops against NumPy float64
references (forward, analytic and numerical gradients), the dtype rules, the silent-bug
regressions of issue 14, random creation (shape, dtype, seed, distribution) and bad input
(each error names the function and the argument)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close, check_op

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- gradients against NumPy references (float64 and float32, gradcheck) --------------------


def _np_var(a, axis, ddof):
    n = a.shape[axis] if axis is not None else a.size
    return (
        np.var(a, axis=axis, ddof=ddof)
        if n - ddof > 0
        else np.full(np.var(a, axis=axis).shape, np.nan)
    )


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True) if a.size else 0.0
    return np.log(np.sum(np.exp(a - m), axis=axis)) + np.squeeze(m, axis=axis)


OPS = [
    ("var", lambda x: x.var(1), lambda a: _np_var(a, 1, 1), [("n", 4)]),
    ("std", lambda x: x.std(0, unbiased=False), lambda a: np.std(a, axis=0), [("n", 4)]),
    ("logsumexp", lambda x: x.logsumexp(1), lambda a: _logsumexp(a, 1), [(2, "n")]),
    ("prod", lambda x: x.prod(0), lambda a: np.prod(a, axis=0), [("n", 3)]),
    ("norm", lambda x: x.norm(dim=1), lambda a: np.linalg.norm(a, axis=1), [(3, "n")]),
    ("norm1", lambda x: x.norm(1), lambda a: np.abs(a).sum(), [("n", 2)]),
    ("max_dim", lambda x: x.max(1).values, lambda a: a.max(1), [(2, "n")]),
    ("min_dim", lambda x: dg.min(x, 0)[0], lambda a: a.min(0), [("n", 3)]),
    ("amax", lambda x: x.amax(0), lambda a: a.max(0), [("n", 2)]),
    ("abs", lambda x: x.abs(), np.abs, [("n", 2)]),
    ("sin", lambda x: x.sin(), np.sin, [("n",)]),
    ("cos", lambda x: dg.cos(x), np.cos, [("n",)]),
    ("clamp", lambda x: x.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), [("n", 3)]),
    ("maximum", lambda x, y: dg.maximum(x, y), np.maximum, [("n", 3), (3,)]),
    ("minimum", lambda x, y: x.minimum(y), np.minimum, [("n", 1), (1, 4)]),
    (
        "where",
        lambda x, y: dg.where(x > y, x, y * 2),
        lambda a, b: np.where(a > b, a, 2 * b),
        [("n", 2), (2,)],
    ),
    (
        "masked_fill",
        lambda x: x.masked_fill(x > 0.5, 3.0),
        lambda a: np.where(a > 0.5, 3.0, a),
        [("n", 2)],
    ),
    ("remainder", lambda x: x % 0.75, lambda a: np.remainder(a, 0.75), [("n", 2)]),
    ("permute", lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), [(2, "n", 3)]),
    ("transpose", lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), [(2, 1, "n")]),
    ("flatten", lambda x: x.flatten(1), lambda a: a.reshape(a.shape[0], -1), [(2, "n", 3)]),
    ("squeeze", lambda x: x.squeeze(1), lambda a: a[:, 0], [("n", 1, 3)]),
    ("unsqueeze", lambda x: x.unsqueeze(-1), lambda a: a[..., None], [("n", 2)]),
    (
        "expand",
        lambda x: x.expand(4, -1, 3),
        lambda a: np.broadcast_to(a, (4, a.shape[0], 3)),
        [("n", 1)],
    ),
    (
        "cat",
        lambda x, y: dg.cat([x, y, x], 1),
        lambda a, b: np.concatenate([a, b, a], 1),
        [(2, "n"), (2, 3)],
    ),
    (
        "stack",
        lambda x, y: dg.stack([x, y], -1),
        lambda a, b: np.stack([a, b], -1),
        [("n", 2), ("n", 2)],
    ),
    ("split", lambda x: x.split(2, 1)[1] * 3, lambda a: a[:, 2:4] * 3, [("n", 5)]),
    ("chunk", lambda x: x.chunk(2, 0)[0], lambda a: a[: -(-a.shape[0] // 2)], [(5, 3)]),
    (
        "gather",
        lambda x: x.gather(1, dg.tensor(np.array([[0, 2, 2], [1, 0, 2]]))),
        lambda a: np.take_along_axis(a, np.array([[0, 2, 2], [1, 0, 2]]), 1),
        [(2, 3)],
    ),
]


@pytest.mark.parametrize(("name", "op", "ref", "shapes"), OPS, ids=[o[0] for o in OPS])
def test_op_against_numpy(name, op, ref, shapes):
    check_op(op, ref, shapes, extremes=(), name=name)


def test_sqrt_rsqrt_log_on_positive_input():
    check_op(lambda x: x.sqrt(), np.sqrt, [("n", 2)], low=0.5, high=3.0, extremes=())
    check_op(
        lambda x: dg.rsqrt(x), lambda a: 1 / np.sqrt(a), [("n",)], low=0.5, high=3.0, extremes=()
    )


def test_scatter_add_accumulates_repeated_indices():
    x = _rng(1).standard_normal((3, 2))
    idx = np.array([[0, 1], [0, 1], [2, 0]])
    src = _rng(2).standard_normal((3, 2))
    want = x.copy()
    for i in range(3):
        for j in range(2):
            want[idx[i, j], j] += src[i, j]
    xt, st = dg.tensor(x, requires_grad=True), dg.tensor(src, requires_grad=True)
    out = xt.scatter_add(0, dg.tensor(idx), st)
    assert_close(out.numpy(), want, **TOL)
    g = _rng(3).standard_normal((3, 2))
    out.backward(g)
    assert_close(xt.grad, g, **TOL)
    assert_close(st.grad, np.take_along_axis(g, idx, 0), **TOL)


def test_max_gradient_goes_to_the_selected_index_and_even_among_ties_without_dim():
    x = dg.tensor(np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 2.0]]), requires_grad=True)
    x.max().backward()
    assert_close(x.grad, [[0.5, 0, 0.5], [0, 0, 0]], **TOL)
    x.grad = None
    v, i = x.max(1)
    v.sum().backward()
    assert i.tolist() == [0, 1]  # the first of the ties, as torch on the CPU
    assert_close(x.grad, [[1, 0, 0], [0, 1, 0]], **TOL)


# ---- silent bugs of issue 14 (regressions) -------------------------------------------------


def test_comparisons_are_elementwise_bool_tensors_without_grad():
    a = dg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = dg.tensor(np.array([1.0, 0.0, 5.0]))
    for got, want in [
        (a == b, [True, False, False]),
        (a != b, [False, True, True]),
        (a > b, [False, True, False]),
        (a >= b, [True, True, False]),
        (a < 2, [True, False, False]),
        (np.array([1.0, 2.0, 0.0]) == a, [True, True, False]),
        (np.array([2.0, 2.0, 2.0]) > a, [True, False, False]),
    ]:
        assert isinstance(got, dg.Tensor) and got.dtype == dg.bool and not got.requires_grad
        assert got.tolist() == want
    assert (a == None) is False and (a != "x") is True  # noqa: E711  (as torch: identity)


def test_hash_stays_identity():
    a = dg.tensor([1.0])
    b = dg.tensor([1.0])
    assert hash(a) == id(a) or hash(a) == object.__hash__(a)
    assert {a: 1, b: 2}[b] == 2


def test_bool_of_one_element_and_larger_tensors():
    assert bool(dg.tensor([3.0])) and not bool(dg.tensor(0)) and bool(dg.tensor([[True]]))
    with pytest.raises(RuntimeError, match="bool: .*ambiguous"):
        bool(dg.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dg.tensor(np.zeros(0)))
    if dg.tensor([1.0, 0.0]).any():
        pass
    else:
        pytest.fail("any() of a tensor with a nonzero element is False")


def test_tensor_copies_from_numpy_and_as_tensor_share():
    a = np.arange(4.0)
    t = dg.tensor(a)
    t.data[0] = 100.0
    assert a[0] == 0.0  # the caller's array is untouched
    s = dg.from_numpy(a)
    s.data[1] = -1.0
    assert a[1] == -1.0
    assert dg.as_tensor(a).data is a
    assert dg.as_tensor(a, dtype=dg.float32).dtype == np.float32  # a conversion copies
    c = dg.tensor(t)
    assert c is not t and not np.shares_memory(c.data, t.data)
    with dg.no_grad():
        p = dg.tensor(a, requires_grad=True)
        p.add_(1.0)  # an optimizer-like step does not reach the caller's array
    assert a[2] == 2.0


def test_python_floats_are_float32_and_arrays_keep_dtype():
    assert dg.tensor(1.5).dtype == dg.float32 and dg.tensor([1, 2.5]).dtype == dg.float32
    assert dg.tensor(np.ones(2)).dtype == dg.float64
    assert dg.tensor([1, 2]).dtype == dg.int64 and dg.tensor([True]).dtype == dg.bool
    assert dg.tensor([1.0], dtype=dg.float64).dtype == dg.float64


PROMOTE = [
    (np.int64, np.float32, "dims", np.float32),
    (np.int32, np.int64, "dims", np.int64),
    (np.bool_, np.int64, "dims", np.int64),
    (np.bool_, np.float64, "dims", np.float64),
    (np.float32, np.float64, "dims", np.float64),
    (np.float32, np.float64, "0d", np.float32),  # a dimensioned tensor wins its category
    (np.int64, np.float64, "0d", np.float64),  # a higher category wins even when 0-d
    (np.uint8, np.int8, "dims", np.int16),
]


@pytest.mark.parametrize(("da", "db", "kind", "want"), PROMOTE)
def test_type_promotion(da, db, kind, want):
    a = dg.tensor(np.ones((2, 3), da))
    b = dg.tensor(np.ones((2, 3) if kind == "dims" else (), db))
    assert (a + b).dtype == want and (b * a).dtype == want
    if np.dtype(want).kind != "b":
        assert (a - b).dtype == want


def test_scalar_operands_follow_torch():
    i = dg.tensor([1, 2, 3])
    assert (i + 1).dtype == dg.int64 and (i * 2.5).dtype == dg.float32
    assert (i / 2).dtype == dg.float32 and (i / i).dtype == dg.float32
    assert_close((i * 2.5).numpy(), [2.5, 5.0, 7.5], **TOL)
    assert (dg.tensor([True]) + 1).dtype == dg.int64
    f = dg.tensor([1.0], dtype=dg.float32)
    assert (f + 1e-3).dtype == dg.float32 and (2 ** dg.tensor([1, 2])).dtype == dg.int64


def test_size_is_torchs_method():
    t = dg.zeros(2, 3, 4)
    assert t.size() == (2, 3, 4) and t.size(-1) == 4 and t.numel() == 24 and t.dim() == 3
    assert dg.numel(t) == 24


def test_dlpack_round_trip_shares_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = dg.from_numpy(a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    u = dg.from_dlpack(back)
    u.data[0, 0] = 5.0
    assert a[0, 0] == 5.0
    assert t.__dlpack_device__()[0] == 1  # kDLCPU


def test_dtype_conversions():
    x = dg.tensor(np.array([1.7, -2.2]), requires_grad=True)
    assert x.float().dtype == dg.float32 and x.double().dtype == dg.float64
    assert x.long().tolist() == [1, -2] and x.int().dtype == dg.int32
    assert x.bool().dtype == dg.bool and x.half().dtype == dg.float16
    assert not x.long().requires_grad and x.float().requires_grad
    assert x.to(dg.float32).dtype == dg.float32 and x.to("cpu", dg.int64).dtype == dg.int64
    assert x.to(dtype="float32").dtype == dg.float32 and x.type() == "float64"
    assert x.to(dg.tensor([1])).dtype == dg.int64
    y = x.float() * 3
    y.sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [3.0, 3.0]


# ---- creation -------------------------------------------------------------------------------


def test_creation_shapes_dtypes_and_defaults():
    assert dg.zeros(2, 3).shape == (2, 3) and dg.zeros((2, 3)).dtype == dg.float32
    assert dg.ones([4], dtype=dg.int64).tolist() == [1, 1, 1, 1]
    assert dg.full((2,), 7).dtype == dg.int64 and dg.full((2,), 0.5).dtype == dg.float32
    assert dg.full((1,), True).dtype == dg.bool
    assert dg.empty(3, 0).shape == (3, 0)
    assert dg.arange(4).tolist() == [0, 1, 2, 3] and dg.arange(4).dtype == dg.int64
    assert dg.arange(1, 2, 0.25).dtype == dg.float32
    assert_close(dg.arange(1, 2, 0.25, dtype=dg.float64).numpy(), [1, 1.25, 1.5, 1.75], **TOL)
    assert_close(dg.linspace(0, 1, 5, dtype=dg.float64).numpy(), np.linspace(0, 1, 5), **TOL)
    assert_close(dg.eye(2, 3).numpy(), np.eye(2, 3), **TOL)
    z = dg.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    t = dg.ones(2, 3, dtype=dg.float64)
    for like in (dg.zeros_like(t), dg.ones_like(t), dg.empty_like(t), dg.full_like(t, 2)):
        assert like.shape == (2, 3) and like.dtype == dg.float64
    assert dg.full_like(t, 2).tolist() == [[2.0] * 3] * 2


@pytest.mark.parametrize(
    ("fn", "dtype"),
    [
        (lambda **k: dg.rand(3, 4, **k), dg.float32),
        (lambda **k: dg.rand((3, 4), dtype=dg.float64, **k), dg.float64),
        (lambda **k: dg.randn(5, **k), dg.float32),
        (lambda **k: dg.randn(2, 2, dtype=dg.float64, **k), dg.float64),
        (lambda **k: dg.randint(10, (4, 2), **k), dg.int64),
        (lambda **k: dg.randint(-3, 3, size=(7,), dtype=dg.int32, **k), dg.int32),
        (lambda **k: dg.rand_like(dg.zeros(2, 3, dtype=dg.float64), **k), dg.float64),
        (lambda **k: dg.randn_like(dg.zeros(4), **k), dg.float32),
        (lambda **k: dg.randint_like(dg.zeros(3), 5, **k), dg.float32),
    ],
)
def test_random_creation_dtype_and_seed_reproducibility(fn, dtype):
    dg.manual_seed(123)
    a = fn()
    b = fn()
    dg.manual_seed(123)
    c = fn()
    assert a.dtype == dtype
    np.testing.assert_array_equal(a.numpy(), c.numpy())  # same seed, same draws
    assert a.numel() < 4 or not np.array_equal(a.numpy(), b.numpy())  # the state advances
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(fn(generator=g1).numpy(), fn(generator=g2).numpy())


def _ks_stat(sample, cdf):
    x = np.sort(sample)
    n = x.size
    f = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def test_rand_and_randn_distributions():
    """Kolmogorov-Smirnov at the 0.1% level (critical value 1.95 / sqrt(n)): a wrong
    distribution (a shifted mean, a scale off by 5%) fails it at this n."""
    n = 40000
    crit = 1.95 / math.sqrt(n)
    dg.manual_seed(7)
    u = dg.rand(n, dtype=dg.float64).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert _ks_stat(u, lambda x: np.clip(x, 0, 1)) < crit
    z = dg.randn(n, dtype=dg.float64).numpy()
    phi = np.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))
    assert _ks_stat(z, phi) < crit
    assert _ks_stat(z * 1.05, phi) > crit  # the test can fail: a 5% wider normal is rejected
    z32 = dg.randn(n).numpy().astype(np.float64)
    assert abs(z32.mean()) < 5 / math.sqrt(n) and abs(z32.var() - 1) < 5 * math.sqrt(2 / n)


def test_randint_range_and_uniformity():
    dg.manual_seed(8)
    r = dg.randint(-2, 5, (70000,)).numpy()
    assert r.min() == -2 and r.max() == 4
    counts = np.bincount(r + 2, minlength=7)
    expected = r.size / 7
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 22.46  # chi-square, 6 degrees of freedom, 0.1% level


# ---- bad input: the function and the argument are named ----------------------------------

x23 = dg.tensor(np.ones((2, 3)))

BAD = [
    ("zeros float size", lambda: dg.zeros(2.5), TypeError, "zeros: size"),
    ("ones negative", lambda: dg.ones(-1), ValueError, "ones: size"),
    ("full fill", lambda: dg.full((2,), "a"), TypeError, "full: fill_value"),
    ("zeros dtype", lambda: dg.zeros(2, dtype="complex128"), TypeError, "zeros: dtype"),
    ("zeros dtype name", lambda: dg.zeros(2, dtype="nope"), TypeError, "zeros: dtype"),
    ("zeros device", lambda: dg.zeros(2, device="tpu"), ValueError, "zeros: device"),
    (
        "zeros int grad",
        lambda: dg.zeros(2, dtype=dg.int64, requires_grad=True),
        TypeError,
        "requires_grad",
    ),
    ("arange step", lambda: dg.arange(0, 5, 0), ValueError, "arange: step"),
    ("arange sign", lambda: dg.arange(5, 0, 1), ValueError, "arange"),
    ("arange type", lambda: dg.arange("5"), TypeError, "arange: end"),
    ("linspace steps", lambda: dg.linspace(0, 1, 2.5), TypeError, "linspace: steps"),
    ("eye n", lambda: dg.eye(2.0), TypeError, "eye: size"),
    ("rand size", lambda: dg.rand(2, 1.5), TypeError, "rand: size"),
    ("rand dtype", lambda: dg.rand(2, dtype=dg.int64), TypeError, "rand: dtype"),
    ("randn generator", lambda: dg.randn(2, generator=3), TypeError, "randn: generator"),
    ("randint size", lambda: dg.randint(3, (2.5,)), TypeError, "randint: size"),
    ("randint size int", lambda: dg.randint(3, 4), TypeError, "randint: size"),
    ("randint high", lambda: dg.randint(3, 3, (2,)), ValueError, "randint: high"),
    ("randint float high", lambda: dg.randint(3.5, (2,)), TypeError, "randint: high"),
    ("zeros_like input", lambda: dg.zeros_like([1, 2]), TypeError, "zeros_like: input"),
    ("from_numpy list", lambda: dg.from_numpy([1.0]), TypeError, "from_numpy: ndarray"),
    ("from_numpy dtype", lambda: dg.from_numpy(np.array(["a"])), TypeError, "from_numpy: dtype"),
    ("as_tensor device", lambda: dg.as_tensor([1.0], device="x"), ValueError, "as_tensor: device"),
    ("from_dlpack obj", lambda: dg.from_dlpack([1]), TypeError, "from_dlpack: ext_tensor"),
    ("tensor dtype", lambda: dg.tensor([1.0], dtype="nope"), TypeError, "tensor: dtype"),
    ("to dtype", lambda: x23.to("nope"), TypeError, "to: dtype"),
    ("to device", lambda: x23.to(device="tpu"), ValueError, "to: device"),
    ("view", lambda: x23.view(4), ValueError, "view: shape"),
    ("view strides", lambda: x23.T.view(6), RuntimeError, "view: .*reshape"),
    ("view float", lambda: x23.view(2.0, 3), TypeError, "view: shape"),
    ("reshape", lambda: x23.reshape(4, 2), ValueError, "reshape"),
    ("permute len", lambda: x23.permute(1), ValueError, "permute: dims"),
    ("permute repeat", lambda: x23.permute(1, 1), ValueError, "permute: dims"),
    ("permute range", lambda: x23.permute(0, 2), IndexError, "permute: dim"),
    ("transpose", lambda: x23.transpose(0, 3), IndexError, "transpose: dim"),
    ("t", lambda: dg.zeros(1, 2, 3).t(), ValueError, "t: "),
    ("squeeze", lambda: x23.squeeze(2), IndexError, "squeeze: dim"),
    ("unsqueeze", lambda: x23.unsqueeze(-4), IndexError, "unsqueeze: dim"),
    ("flatten order", lambda: dg.zeros(1, 2, 3).flatten(2, 1), ValueError, "flatten: start_dim"),
    ("expand", lambda: x23.expand(2, 4), ValueError, "expand: sizes"),
    ("expand fewer", lambda: x23.expand(3), ValueError, "expand: sizes"),
    ("split sizes", lambda: x23.split([1, 1], 1), ValueError, "split: split_size"),
    ("split type", lambda: x23.split(1.5), TypeError, "split: split_size"),
    ("chunk", lambda: x23.chunk(0), ValueError, "chunk: chunks"),
    ("cat empty", lambda: dg.cat([]), ValueError, "cat: tensors"),
    ("cat tensor", lambda: dg.cat(x23), TypeError, "cat: tensors"),
    (
        "cat shapes",
        lambda: dg.cat([x23, dg.zeros(3, 3, dtype=dg.float64)], 1),
        ValueError,
        "cat: tensors: sizes must match",
    ),
    ("cat ndim", lambda: dg.cat([x23, dg.zeros(3)]), ValueError, "cat: tensors"),
    ("cat dim", lambda: dg.cat([x23, x23], 2), IndexError, "cat: dim"),
    ("stack shapes", lambda: dg.stack([x23, x23.T]), ValueError, "stack: tensors"),
    ("stack dim", lambda: dg.stack([x23, x23], 4), IndexError, "stack: dim"),
    ("sum dim", lambda: x23.sum(2), IndexError, "sum: dim"),
    ("sum dim type", lambda: x23.sum(1.0), TypeError, "sum: dim"),
    ("sum both", lambda: x23.sum(0, axis=1), TypeError, "sum: pass dim or its alias"),
    ("mean repeated", lambda: x23.mean((0, 0)), ValueError, "mean: dim"),
    ("mean int", lambda: dg.arange(3).mean(), TypeError, "mean: input"),
    ("max dim", lambda: x23.max(2), IndexError, "max: dim"),
    ("max empty", lambda: dg.zeros(0).max(), IndexError, "max: "),
    ("argmax empty", lambda: dg.zeros(0).argmax(), IndexError, "argmax"),
    ("var both", lambda: x23.var(0, True, correction=1), TypeError, "var: pass unbiased"),
    ("var int", lambda: dg.arange(3).var(), TypeError, "var: input"),
    ("std dim", lambda: x23.std(5), IndexError, "std: dim"),
    ("logsumexp dim", lambda: x23.logsumexp(2), IndexError, "logsumexp: dim"),
    ("prod dim", lambda: x23.prod((0, 1)), TypeError, "prod: dim"),
    ("norm p", lambda: x23.norm("nuc"), ValueError, "norm: p"),
    ("norm p neg", lambda: x23.norm(-1), ValueError, "norm: p"),
    ("size dim", lambda: x23.size(2), IndexError, "size: dim"),
    ("clamp none", lambda: x23.clamp(), ValueError, "clamp: at least one"),
    ("clamp type", lambda: x23.clamp("a"), TypeError, "clamp: min"),
    ("masked_fill mask", lambda: x23.masked_fill(x23, 1.0), TypeError, "masked_fill: mask"),
    (
        "masked_fill shape",
        lambda: x23.masked_fill(dg.zeros(3, 3) > 0, 1.0),
        ValueError,
        "masked_fill: mask",
    ),
    ("masked_fill value", lambda: x23.masked_fill(x23 > 0, x23), ValueError, "masked_fill: value"),
    ("where cond", lambda: dg.where(x23, x23, x23), TypeError, "where: condition"),
    ("where shapes", lambda: dg.where(x23 > 0, x23, dg.zeros(4)), ValueError, "where: "),
    ("gather index", lambda: x23.gather(1, x23), TypeError, "gather: index"),
    ("gather ndim", lambda: x23.gather(1, dg.tensor([0])), ValueError, "gather: index"),
    ("gather range", lambda: x23.gather(1, dg.tensor([[0, 5]])), IndexError, "gather: index"),
    ("gather dim", lambda: x23.gather(2, dg.tensor([[0]])), IndexError, "gather: dim"),
    (
        "scatter_add src",
        lambda: x23.scatter_add(0, dg.tensor([[0, 1]]), dg.zeros(1, 1)),
        ValueError,
        "scatter_add: src",
    ),
    (
        "scatter_add dtype",
        lambda: x23.scatter_add(0, dg.tensor([[0]]), dg.zeros(1, 1)),
        TypeError,
        "scatter_add: src",
    ),
    ("sub bool", lambda: (x23 > 0) - (x23 > 1), TypeError, "sub: "),
    ("neg bool", lambda: -(x23 > 0), TypeError, "neg: "),
    ("and float", lambda: x23 & x23, TypeError, "and: "),
    ("invert float", lambda: ~x23, TypeError, "invert: "),
    ("eq type", lambda: x23.eq("a"), TypeError, "eq: other"),
    ("float multi", lambda: float(x23), ValueError, "float: "),
    ("int multi", lambda: int(x23), ValueError, "int: "),
    ("index float", lambda: [1][dg.tensor(0.0)], TypeError, "index"),
    ("fn input", lambda: dg.sum([1, 2]), TypeError, "sum: input"),
]


@pytest.mark.parametrize(("name", "fn", "exc", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_function_and_argument(name, fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_dim_errors_are_index_errors_like_torch():
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        x23.sum(2)


def test_star_import_leaves_builtins_alone():
    ns: dict = {}
    exec("from deltagrad import *", ns)  # noqa: S102
    assert "zeros" in ns and "cat" in ns and "float32" in ns
    for name in ("float", "int", "bool", "sum", "max", "min", "abs", "all", "any"):
        assert name not in ns and hasattr(dg, name)


def test_float64_input_to_float32_linear_names_the_input():
    """It used to say 'linear_forward: w: expected dtype float64', blaming the weights."""
    layer = dg.nn.Linear(3, 2)
    for x in (np.ones((4, 3)), dg.tensor(np.ones((4, 3)))):
        with pytest.raises(TypeError, match=r"linear: x has dtype float64 but the weights w are"):
            layer(x)
