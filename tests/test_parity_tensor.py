"""Tensor parity with torch (issue 14, items 1-6 and gather / scatter_add): the same code runs
on dg and on torch in float64 and must give the same values, dtypes and gradients
(rtol = atol = 1e-10), on random data with odd shapes, size-0 and size-1 dims.

Each row is `fn(m, *xs)` where m is the module (dg or torch): the API is torch's, so one
lambda serves both. Tuple outputs (max(dim), split, chunk) are compared piece by piece."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _data(shape, seed, domain="real"):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    a = np.where(np.abs(a) < 1e-3, 0.5, a)  # random, never zero
    if domain == "pos":
        a = np.abs(a) + 0.25
    elif domain == "unit":
        a = np.tanh(a) * 0.9
    return a


def _outs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def run_both(fn, arrays, grad=True, seed=0):
    """fn on dg and on torch tensors built from the same arrays; values, dtypes, shapes and
    the gradients of a random weighted sum of the float outputs must agree."""
    wants = [grad and a.dtype.kind == "f" for a in arrays]
    xd = [dg.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    xt = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    od = _outs(fn(dg, *xd))
    with warnings.catch_warnings():  # torch warns where var's degrees of freedom are <= 0
        warnings.simplefilter("ignore", UserWarning)
        ot = _outs(fn(torch, *xt))
    assert len(od) == len(ot)
    rng = np.random.default_rng(seed + 1000)
    loss_d = loss_t = None
    for d, t in zip(od, ot):
        assert isinstance(d, dg.Tensor)
        assert d.shape == tuple(t.shape), (d.shape, t.shape)
        assert str(d.dtype) == _dtype_name(t), (d.dtype, t.dtype)
        assert_close(d.numpy(), t.detach().numpy(), **TOL, equal_nan=True)
        assert d.requires_grad == t.requires_grad
        if t.requires_grad:
            g = rng.standard_normal(t.shape)
            ld, lt = (d * dg.tensor(g)).sum(), (t * torch.tensor(g)).sum()
            loss_d = ld if loss_d is None else loss_d + ld
            loss_t = lt if loss_t is None else loss_t + lt
    if loss_t is None:
        return od
    loss_d.backward()
    loss_t.backward()
    for d, t in zip(xd, xt):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert d.grad is None or not np.any(d.grad), "dg has a gradient where torch has none"
        else:
            assert d.grad is not None
            assert_close(d.grad, t.grad.numpy(), **TOL, equal_nan=True, name="grad")
    return od


# ---- reductions ------------------------------------------------------------------------------

REDUCE_ANY = [(3, 5), (2, 1, 4), (1, 1), (7,), ()]  # includes 0-d
REDUCE_2D = [(3, 5), (2, 1, 4), (1, 1), (4, 1), (0, 3)]  # ndim >= 2, size-0 too

REDUCTIONS = {
    "sum": (lambda m, x: x.sum(), REDUCE_ANY + [(0, 3)]),
    "sum_dim": (lambda m, x: x.sum(1), REDUCE_2D),
    "sum_dims_keepdim": (lambda m, x: x.sum(dim=(0, -1), keepdim=True), REDUCE_2D),
    "fn_sum": (lambda m, x: m.sum(x, -1), REDUCE_2D),
    "mean": (lambda m, x: x.mean(), REDUCE_ANY),
    "mean_dim": (lambda m, x: x.mean(0, keepdim=True), REDUCE_2D),
    "max": (lambda m, x: x.max(), REDUCE_ANY),
    "min": (lambda m, x: x.min(), REDUCE_ANY),
    "max_dim": (lambda m, x: x.max(1), REDUCE_2D),
    "min_dim_keepdim": (lambda m, x: x.min(0, keepdim=True), REDUCE_2D[:-1]),
    "fn_max_dim": (lambda m, x: m.max(x, dim=-1), REDUCE_2D),
    "max_0d_dim": (lambda m, x: x.max(0), [()]),
    "amax": (lambda m, x: x.amax(dim=(0, 1)), REDUCE_2D[:-1]),
    "amin": (lambda m, x: x.amin(1, keepdim=True), REDUCE_2D),
    "argmax": (lambda m, x: x.argmax(), REDUCE_ANY),
    "argmax_dim": (lambda m, x: x.argmax(1), REDUCE_2D),
    "argmin_dim_keepdim": (lambda m, x: x.argmin(0, keepdim=True), REDUCE_2D[:-1]),
    "var": (lambda m, x: x.var(), REDUCE_ANY[:3]),
    "var_dim": (lambda m, x: x.var(1), REDUCE_2D),
    "var_biased": (lambda m, x: x.var(0, unbiased=False), REDUCE_2D[:-1]),
    "var_correction": (lambda m, x: x.var(dim=1, correction=0, keepdim=True), REDUCE_2D),
    "std": (lambda m, x: x.std(), REDUCE_ANY[:3]),
    "std_dim": (lambda m, x: x.std(-1, keepdim=True), [(3, 5), (2, 3, 4)]),
    "std_correction2": (lambda m, x: x.std(1, correction=2), [(3, 5), (2, 4)]),
    "std_zero": (lambda m, x: x.std(1, correction=0), [(4, 1), (3, 5)]),
    "fn_var": (lambda m, x: m.var(x, 0), [(5, 2)]),
    "logsumexp": (lambda m, x: x.logsumexp(1), REDUCE_2D),
    "logsumexp_dims": (lambda m, x: m.logsumexp(x, (0, 1), keepdim=True), REDUCE_2D[:-1]),
    "prod": (lambda m, x: x.prod(), REDUCE_ANY),
    "prod_dim": (lambda m, x: x.prod(1), REDUCE_2D),
    "prod_keepdim": (lambda m, x: x.prod(0, keepdim=True), REDUCE_2D),
    "norm": (lambda m, x: x.norm(), REDUCE_ANY),
    "norm_dim": (lambda m, x: x.norm(dim=1), REDUCE_2D),
    "norm_p1": (lambda m, x: x.norm(p=1, dim=1), REDUCE_2D),
    "norm_p3": (lambda m, x: x.norm(3, 1, keepdim=True), REDUCE_2D[:-1]),
    "norm_inf": (lambda m, x: x.norm(p=math.inf, dim=0), REDUCE_2D[:-1]),
    "norm_neginf": (lambda m, x: x.norm(p=-math.inf), REDUCE_2D[:-1]),
}

REDUCE_CASES = [(k, s) for k, (_, shapes) in REDUCTIONS.items() for s in shapes]


@pytest.mark.parametrize(("op", "shape"), REDUCE_CASES, ids=[f"{k}-{s}" for k, s in REDUCE_CASES])
def test_reductions(op, shape):
    run_both(REDUCTIONS[op][0], [_data(shape, 1)])


def test_sum_mean_keep_numpy_aliases():
    x = _data((3, 4, 2), 2)
    t = dg.tensor(x)
    assert_close(t.sum(axis=(0, 2), keepdims=True).numpy(), x.sum((0, 2), keepdims=True), **TOL)
    assert_close(t.mean(axis=1).numpy(), x.mean(1), **TOL)


def test_max_ties_spread_the_gradient_evenly_and_dim_picks_one():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]])
    run_both(lambda m, x: x.max(), [a])
    run_both(lambda m, x: x.amax(1), [a])
    run_both(lambda m, x: m.maximum(x, x.flip(1) if m is torch else x[:, ::-1]), [a])


def test_prod_gradient_is_exact_with_zeros():
    a = _data((3, 4), 3)
    a[0, 1] = 0.0
    a[1, :2] = 0.0
    run_both(lambda m, x: x.prod(1), [a])
    run_both(lambda m, x: x.prod(), [a])


def test_max_dim_returns_values_indices_namedtuple():
    x = dg.tensor(_data((3, 4), 4))
    r = x.max(1)
    assert r.values is r[0] and r.indices is r[1]
    assert r.indices.dtype == np.int64
    assert type(r).__name__ == "max" and type(x.min(0)).__name__ == "min"


# ---- elementwise, comparisons, logical ops -------------------------------------------------

UNARY = {
    "abs": (lambda m, x: x.abs(), "real"),
    "fn_abs": (lambda m, x: m.abs(x), "real"),
    "abs_builtin": (lambda m, x: abs(x), "real"),
    "sqrt": (lambda m, x: x.sqrt(), "pos"),
    "rsqrt": (lambda m, x: m.rsqrt(x), "pos"),
    "sin": (lambda m, x: x.sin(), "real"),
    "cos": (lambda m, x: m.cos(x), "real"),
    "exp": (lambda m, x: x.exp(), "real"),
    "log": (lambda m, x: m.log(x), "pos"),
    "sign": (lambda m, x: x.sign(), "real"),
    "square": (lambda m, x: x.square(), "real"),
    "neg": (lambda m, x: -x, "real"),
    "clamp": (lambda m, x: x.clamp(-0.5, 0.5), "real"),
    "clamp_min": (lambda m, x: m.clamp(x, min=-0.3), "real"),
    "clamp_max": (lambda m, x: x.clamp(max=0.2), "real"),
    "clip": (lambda m, x: x.clip(-0.1, 0.7), "real"),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0.3, 1.5), "real"),
    "masked_fill_fn": (lambda m, x: m.masked_fill(x, x < 0, -2.0), "real"),
    "pow_scalar": (lambda m, x: x**3, "real"),
    "rpow": (lambda m, x: 2.0**x, "real"),
    "relu": (lambda m, x: x.relu(), "real"),
    "sigmoid": (lambda m, x: x.sigmoid(), "real"),
    "tanh": (lambda m, x: m.tanh(x), "real"),
    "remainder_scalar": (lambda m, x: x % 0.7, "real"),
    "rsub_scalar": (lambda m, x: 1.5 - x, "real"),
    "rdiv_scalar": (lambda m, x: 1.5 / x, "pos"),
}
ELEM_SHAPES = [(3, 5), (1,), (), (0, 4), (2, 1, 3)]
UNARY_CASES = [(k, s) for k in UNARY for s in ELEM_SHAPES]


@pytest.mark.parametrize(("op", "shape"), UNARY_CASES, ids=[f"{k}-{s}" for k, s in UNARY_CASES])
def test_unary(op, shape):
    fn, domain = UNARY[op]
    run_both(fn, [_data(shape, 5, domain)])


BINARY = {
    "add": (lambda m, x, y: x + y, "real"),
    "sub": (lambda m, x, y: x - y, "real"),
    "mul": (lambda m, x, y: x * y, "real"),
    "div": (lambda m, x, y: x / y, "pos"),
    "pow": (lambda m, x, y: x**y, "pos"),
    "maximum": (lambda m, x, y: m.maximum(x, y), "real"),
    "minimum": (lambda m, x, y: x.minimum(y), "real"),
    "max_other": (lambda m, x, y: x.max(y), "real"),
    "min_other": (lambda m, x, y: m.min(x, y), "real"),
    "where": (lambda m, x, y: m.where(x > y, x, y), "real"),
    "where_method": (lambda m, x, y: x.where(x < 0, y), "real"),
    "where_scalar": (lambda m, x, y: m.where(y > 0, x, 0.5), "real"),
    "clamp_tensors": (lambda m, x, y: x.clamp(min=y - 0.5, max=y + 0.5), "real"),
    "remainder": (lambda m, x, y: m.remainder(x, y), "pos"),
    "mod": (lambda m, x, y: x % (y + 0.5), "pos"),
}
BIN_SHAPES = [
    [(3, 5), (3, 5)],
    [(3, 5), (5,)],
    [(2, 1, 4), (3, 1)],
    [(0, 4), (1, 4)],
    [(), (3,)],
    [(1,), (1, 1)],
]
BIN_CASES = [(k, i) for k in BINARY for i in range(len(BIN_SHAPES))]


@pytest.mark.parametrize(
    ("op", "case"), BIN_CASES, ids=[f"{k}-{BIN_SHAPES[i]}" for k, i in BIN_CASES]
)
def test_binary(op, case):
    fn, domain = BINARY[op]
    sa, sb = BIN_SHAPES[case]
    run_both(fn, [_data(sa, 6, domain), _data(sb, 7, domain)])


CMP = {
    "eq": lambda m, x, y: x == y,
    "ne": lambda m, x, y: x != y,
    "lt": lambda m, x, y: x < y,
    "le": lambda m, x, y: x <= y,
    "gt": lambda m, x, y: x > y,
    "ge": lambda m, x, y: x >= y,
    "eq_m": lambda m, x, y: m.eq(x, y),
    "ge_m": lambda m, x, y: x.ge(y),
    "lt_scalar": lambda m, x, y: x < 0.25,
    "rgt_scalar": lambda m, x, y: 0.25 > x,
    "logical_and": lambda m, x, y: m.logical_and(x > 0, y > 0),
    "logical_or": lambda m, x, y: (x > 0).logical_or(y > 0),
    "logical_xor": lambda m, x, y: m.logical_xor(x > 0, y > 0),
    "logical_not": lambda m, x, y: m.logical_not(x > 0),
    "and": lambda m, x, y: (x > 0) & (y > 0),
    "or": lambda m, x, y: (x > 0) | (y > 0),
    "xor": lambda m, x, y: (x > 0) ^ (y > 0),
    "invert": lambda m, x, y: ~(x > 0),
    "isfinite": lambda m, x, y: m.isfinite(x.where(x > 0, math.inf)),
    "isnan": lambda m, x, y: x.where(y > 0, math.nan).isnan(),
    "isinf": lambda m, x, y: m.isinf(x.where(y > 0, -math.inf)),
    "any": lambda m, x, y: (x > 1).any(),
    "all_dim": lambda m, x, y: (x > -3).all(-1),
}
CMP_CASES = [(k, i) for k in CMP for i in range(len(BIN_SHAPES))]


@pytest.mark.parametrize(
    ("op", "case"), CMP_CASES, ids=[f"{k}-{BIN_SHAPES[i]}" for k, i in CMP_CASES]
)
def test_comparisons_and_logical_ops_are_bool_and_carry_no_grad(op, case):
    sa, sb = BIN_SHAPES[case]
    x, y = _data(sa, 8), _data(sb, 9)
    if x.size and y.size:  # some exact ties, so == and <= are tested on equal elements
        x.reshape(-1)[0] = y.reshape(-1)[0]
    (out,) = run_both(CMP[op], [x, y])
    assert not out.requires_grad


@pytest.mark.parametrize("case", range(len(BIN_SHAPES)))
def test_floor_divide_values(case):
    """torch records floor_divide in the graph but has no derivative for it; deltagrad
    records nothing (see docs/TORCH_PARITY.md), so only values and dtypes are compared."""
    sa, sb = BIN_SHAPES[case]
    run_both(lambda m, x, y: x // y, [_data(sa, 8), _data(sb, 9)], grad=False)
    run_both(lambda m, x, y: m.floor_divide(x, 0.3), [_data(sa, 8), _data(sb, 9)], grad=False)


def test_numpy_array_on_the_left_compares_elementwise():
    a = _data((3, 4), 10)
    t = dg.tensor(a)
    b = a.copy()
    b[0, 0] += 1
    for got, want in [
        (b == t, torch.tensor(b) == torch.tensor(a)),
        (b < t, torch.tensor(b) < torch.tensor(a)),
        (b >= t, torch.tensor(b) >= torch.tensor(a)),
    ]:
        assert isinstance(got, dg.Tensor) and got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- shape ops ------------------------------------------------------------------------------

SHAPE_OPS = {
    "view": (lambda m, x: x.view(5, 3) * 2, [(3, 5)]),
    "view_tuple": (lambda m, x: x.view((-1,)), [(3, 5), (0, 2), ()]),
    "reshape": (lambda m, x: m.reshape(x, (2, -1)), [(3, 4), (2, 1, 3)]),
    "reshape_T": (lambda m, x: x.T.reshape(-1), [(3, 4)]),
    "permute": (lambda m, x: x.permute(2, 0, 1), [(2, 3, 4), (1, 0, 3)]),
    "permute_tuple": (lambda m, x: m.permute(x, (1, 2, 0)), [(2, 3, 4)]),
    "transpose": (lambda m, x: x.transpose(0, -1), [(2, 3, 4), (3, 5)]),
    "t": (lambda m, x: x.t(), [(3, 5), (4,), ()]),
    "mT": (lambda m, x: x.mT, [(2, 3, 4)]),
    "squeeze": (lambda m, x: x.squeeze(), [(3, 1, 4, 1), (1,), (1, 1)]),
    "squeeze_dim": (lambda m, x: x.squeeze(1), [(3, 1, 4), (3, 2)]),
    "squeeze_dims": (lambda m, x: m.squeeze(x, (0, 2)), [(1, 3, 1)]),
    "unsqueeze": (lambda m, x: x.unsqueeze(0), [(3, 4), ()]),
    "unsqueeze_neg": (lambda m, x: m.unsqueeze(x, -1), [(3, 4), (0,)]),
    "flatten": (lambda m, x: x.flatten(), [(2, 3, 4), (), (0, 3)]),
    "flatten_1": (lambda m, x: m.flatten(x, 1), [(2, 3, 4)]),
    "flatten_0_1": (lambda m, x: x.flatten(0, 1), [(2, 3, 4)]),
    "unflatten": (lambda m, x: x.unflatten(1, (2, 3)), [(4, 6)]),
    "expand": (lambda m, x: x.expand(2, 3, 4), [(3, 1), (1, 4), (4,)]),
    "expand_keep": (lambda m, x: x.expand(-1, 5), [(3, 1)]),
    "expand_as": (lambda m, x: x.expand_as(m.ones(2, 3, dtype=m.float64)), [(1, 3)]),
    "contiguous": (lambda m, x: x.T.contiguous(), [(3, 4)]),
    "clone": (lambda m, x: x.clone(), [(3, 4), ()]),
    "split": (lambda m, x: x.split(2, dim=1), [(3, 5), (2, 4), (3, 0)]),
    "split_sizes": (lambda m, x: m.split(x, [1, 3, 1], dim=1), [(2, 5)]),
    "chunk": (lambda m, x: x.chunk(3, 1), [(3, 5), (2, 6), (2, 2)]),
    "chunk_fn": (lambda m, x: m.chunk(x, 2), [(5, 2), (1, 3)]),
    "narrow": (lambda m, x: x.narrow(1, 1, 2), [(3, 5)]),
    "unbind": (lambda m, x: x.unbind(1), [(3, 4)]),
    "index": (lambda m, x: x[1:, ::2], [(3, 5)]),
}
SHAPE_CASES = [(k, s) for k, (_, shapes) in SHAPE_OPS.items() for s in shapes]


@pytest.mark.parametrize(("op", "shape"), SHAPE_CASES, ids=[f"{k}-{s}" for k, s in SHAPE_CASES])
def test_shape_ops(op, shape):
    run_both(SHAPE_OPS[op][0], [_data(shape, 11)])


CAT_CASES = [
    ("cat0", lambda m, a, b, c: m.cat([a, b, c]), [(2, 3), (1, 3), (4, 3)]),
    ("cat1", lambda m, a, b, c: m.cat((a, b, c), dim=1), [(2, 3), (2, 1), (2, 0)]),
    ("cat_neg", lambda m, a, b, c: m.cat([a, b, c], -1), [(2, 1, 3), (2, 1, 2), (2, 1, 1)]),
    ("stack0", lambda m, a, b, c: m.stack([a, b, c]), [(2, 3)] * 3),
    ("stack_last", lambda m, a, b, c: m.stack([a, b, c], dim=-1), [(2, 3)] * 3),
    ("stack_0d", lambda m, a, b, c: m.stack([a, b, c], 0), [()] * 3),
    ("stack_empty", lambda m, a, b, c: m.stack([a, b, c], 1), [(0, 2)] * 3),
]


@pytest.mark.parametrize(("name", "fn", "shapes"), CAT_CASES, ids=[c[0] for c in CAT_CASES])
def test_cat_stack(name, fn, shapes):
    run_both(fn, [_data(s, 12 + i) for i, s in enumerate(shapes)])


def test_cat_promotes_dtypes_as_torch():
    a, b = np.ones((2, 2), np.float32), np.arange(4).reshape(2, 2)
    got = dg.cat([dg.tensor(a), dg.tensor(b)])
    want = torch.cat([torch.tensor(a), torch.tensor(b)])
    assert str(got.dtype) == _dtype_name(want)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


GATHER_CASES = [
    ("gather0", 0, (4, 3), (5, 3), (4, 3)),
    ("gather1", 1, (3, 5), (3, 7), (3, 5)),
    ("gather_small", 1, (2, 2), (3, 4), (3, 4)),
    ("gather_3d", -1, (2, 3, 2), (2, 3, 4), (2, 3, 2)),
    ("gather_empty", 0, (0, 3), (2, 3), (2, 3)),
]


@pytest.mark.parametrize(
    ("name", "dim", "ishape", "xshape", "sshape"), GATHER_CASES, ids=[c[0] for c in GATHER_CASES]
)
def test_gather_and_scatter_add(name, dim, ishape, xshape, sshape):
    rng = np.random.default_rng(13)
    n = xshape[dim]
    idx = rng.integers(0, n, size=ishape).astype(np.int64)  # repeats: scatter_add accumulates
    x = _data(xshape, 14)
    src = _data(sshape, 15)
    run_both(lambda m, x, i: x.gather(dim, i), [x, idx])
    run_both(lambda m, x, i: m.gather(x, dim, i), [x, idx])
    if idx.shape == sshape and idx.size:
        run_both(lambda m, x, i, s: x.scatter_add(dim, i, s), [x, idx, src])
        run_both(lambda m, x, i, s: m.scatter_add(x, dim, i, s) * 2, [x, idx, src])
    else:  # torch's backward returns a wrong-shaped src gradient here: values only
        run_both(lambda m, x, i, s: x.scatter_add(dim, i, s), [x, idx, src], grad=False)
        xd, sd = dg.tensor(x, requires_grad=True), dg.tensor(src, requires_grad=True)
        g = _data(xshape, 16)
        xd.scatter_add(dim, dg.tensor(idx), sd).backward(g)
        assert_close(xd.grad, g, **TOL)
        want = np.zeros(sshape)  # src elements the index does not reach get no gradient
        region = tuple(slice(0, n) for n in ishape)
        want[region] = np.take_along_axis(
            g[
                tuple(
                    slice(None) if k == dim % len(xshape) else slice(0, n)
                    for k, n in enumerate(ishape)
                )
            ],
            idx,
            axis=dim,
        )
        assert_close(sd.grad, want, **TOL)


# ---- dtypes and promotion -------------------------------------------------------------------

PROMOTION = {
    "int+float32": (lambda m, a, b, f: a + f, None),
    "float32+int": (lambda m, a, b, f: f * a, None),
    "int+pyfloat": (lambda m, a, b, f: a + 2.5, None),
    "int*pyint": (lambda m, a, b, f: a * 3, None),
    "int/int": (lambda m, a, b, f: a / (b + 10), None),
    "int//int": (lambda m, a, b, f: a // (b + 10), None),
    "int%int": (lambda m, a, b, f: a % (b + 10), None),
    "bool+int": (lambda m, a, b, f: (a > 0) + 1, None),
    "bool+bool": (lambda m, a, b, f: (a > 0) + (b > 0), None),
    "bool*float": (lambda m, a, b, f: (a > 0) * f, None),
    "float32+0d64": (lambda m, a, b, f: f + m.tensor(1.5, dtype=m.float64), None),
    "int+0dfloat64": (lambda m, a, b, f: a + m.tensor(1.5, dtype=m.float64), None),
    "float32+64": (lambda m, a, b, f: f + f.double(), None),
    "sum_int": (lambda m, a, b, f: a.sum(1), None),
    "sum_bool": (lambda m, a, b, f: (a > 0).sum(), None),
    "prod_int": (lambda m, a, b, f: (b % 3 + 1).prod(1), None),
    "sqrt_int": (lambda m, a, b, f: (b + 20).sqrt(), None),
    "exp_int": (lambda m, a, b, f: m.exp(a % 3), None),
    "max_int": (lambda m, a, b, f: a.max(1), None),
    "abs_int": (lambda m, a, b, f: a.abs(), None),
    "clamp_int": (lambda m, a, b, f: a.clamp(-2, 3), None),
    "long": (lambda m, a, b, f: f.long(), None),
    "int_method": (lambda m, a, b, f: f.int(), None),
    "bool_method": (lambda m, a, b, f: a.bool(), None),
    "double": (lambda m, a, b, f: a.double(), None),
    "float": (lambda m, a, b, f: a.float(), None),
    "to_dtype": (lambda m, a, b, f: a.to(m.float64), None),
    "to_dtype_kw": (lambda m, a, b, f: f.to(dtype=m.int64), None),
    "to_tensor": (lambda m, a, b, f: a.to(f), None),
    "where_int_float": (lambda m, a, b, f: m.where(a > 0, a, f), None),
    "maximum_int_float": (lambda m, a, b, f: m.maximum(a, f), None),
}


@pytest.mark.parametrize("name", list(PROMOTION))
def test_type_promotion_matches_torch(name):
    fn = PROMOTION[name][0]
    rng = np.random.default_rng(16)
    a = rng.integers(-5, 6, size=(3, 4))
    b = rng.integers(-5, 6, size=(3, 4))
    f = (rng.standard_normal((3, 4)) * 3).astype(np.float32)
    gd = fn(dg, dg.tensor(a), dg.tensor(b), dg.tensor(f))
    gt = fn(torch, torch.tensor(a), torch.tensor(b), torch.tensor(f))
    for d, t in zip(_outs(gd), _outs(gt)):
        assert str(d.dtype) == _dtype_name(t), (name, d.dtype, t.dtype)
        tol = 1e-6 if d.dtype == np.float32 else 1e-10
        assert_close(d.numpy(), t.numpy(), rtol=tol, atol=tol)


def test_float32_gradient_through_int_promotion_keeps_the_leaf_dtype():
    a = np.arange(6).reshape(2, 3)
    f = _data((2, 3), 17).astype(np.float32)
    fd, ft = dg.tensor(f, requires_grad=True), torch.tensor(f, requires_grad=True)
    (fd * dg.tensor(a) + 1.5).sum().backward()
    (ft * torch.tensor(a) + 1.5).sum().backward()
    assert fd.grad.dtype == np.float32
    assert_close(fd.grad, ft.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_python_floats_make_float32_and_arrays_keep_their_dtype():
    for data in ([1.5, 2.0], 3.0, [[1, 2.5]]):
        assert str(dg.tensor(data).dtype) == _dtype_name(torch.tensor(data))
    for data in (np.ones(2), np.ones(2, np.float32), np.arange(3), np.array([True])):
        assert str(dg.tensor(data).dtype) == _dtype_name(torch.tensor(data))
        assert str(dg.as_tensor(data).dtype) == _dtype_name(torch.as_tensor(data))
        assert str(dg.from_numpy(data).dtype) == _dtype_name(torch.from_numpy(data))


# ---- creation -------------------------------------------------------------------------------

CREATION = {
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((0, 4), dtype=m.int64),
    "ones": lambda m: m.ones([3], dtype=m.float64),
    "ones_0d": lambda m: m.ones(()),
    "full_float": lambda m: m.full((2, 2), 1.5),
    "full_int": lambda m: m.full((2,), 7),
    "full_bool": lambda m: m.full((2,), True),
    "full_dtype": lambda m: m.full((1, 3), 2, dtype=m.float64),
    "arange_int": lambda m: m.arange(5),
    "arange_start_step": lambda m: m.arange(2, 11, 3),
    "arange_neg": lambda m: m.arange(5, -4, -2),
    "arange_float": lambda m: m.arange(0, 1, 0.1, dtype=m.float64),
    "arange_float_default": lambda m: m.arange(0.5, 3),
    "arange_empty": lambda m: m.arange(0),
    "linspace": lambda m: m.linspace(-1, 2, 7, dtype=m.float64),
    "linspace_default": lambda m: m.linspace(0, 1, 5),
    "linspace_1": lambda m: m.linspace(3, 4, 1),
    "linspace_0": lambda m: m.linspace(3, 4, 0),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 4, dtype=m.float64),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3, dtype=m.float64)),
    "ones_like_dtype": lambda m: m.ones_like(m.ones(2), dtype=m.int64),
    "full_like": lambda m: m.full_like(m.arange(4), 3),
    "empty_shape": lambda m: m.empty(2, 5).shape,
    "empty_like_shape": lambda m: m.empty_like(m.ones(3, dtype=m.int32)).dtype,
}


@pytest.mark.parametrize("name", list(CREATION))
def test_creation_matches_torch(name):
    gd, gt = CREATION[name](dg), CREATION[name](torch)
    if not isinstance(gt, torch.Tensor):  # a shape or a dtype
        assert str(gd).replace("(", "").replace(")", "").replace(",", "") in str(gt).replace(
            "torch.Size([", ""
        ).replace("])", "").replace(",", "").replace("torch.", "")
        return
    assert gd.shape == tuple(gt.shape)
    assert str(gd.dtype) == _dtype_name(gt)
    tol = 1e-6 if gd.dtype == np.float32 else 1e-10
    assert_close(gd.numpy(), gt.numpy(), rtol=tol, atol=tol)
    assert gd.requires_grad == gt.requires_grad


def test_random_creation_shapes_and_dtypes_match_torch():
    cases = [
        lambda m: m.rand(2, 3),
        lambda m: m.rand((4,), dtype=m.float64),
        lambda m: m.randn(3, 1),
        lambda m: m.randn(0, 2, dtype=m.float64),
        lambda m: m.randint(5, (2, 3)),
        lambda m: m.randint(-3, 3, (4,)),
        lambda m: m.randint(0, 2, size=(3,), dtype=m.float32),
        lambda m: m.rand_like(m.ones(2, 2, dtype=m.float64)),
        lambda m: m.randn_like(m.ones(3)),
        lambda m: m.randint_like(m.ones(2, 2), 4),
        lambda m: m.randint_like(m.ones(2, dtype=m.int64), 1, 4),
        lambda m: m.rand(2, requires_grad=True),
    ]
    for fn in cases:
        d, t = fn(dg), fn(torch)
        assert d.shape == tuple(t.shape) and str(d.dtype) == _dtype_name(t)
        assert d.requires_grad == t.requires_grad


# ---- protocols ------------------------------------------------------------------------------


def test_protocols_match_torch():
    a = _data((2, 3), 18)
    d, t = dg.tensor(a), torch.tensor(a)
    assert d.size() == tuple(t.size()) and d.size(1) == t.size(1) and d.size(-2) == t.size(-2)
    assert d.numel() == t.numel() and d.dim() == t.dim() and d.ndim == t.ndim
    assert d.tolist() == t.tolist()
    one = np.array([2.75])
    for cast in (float, int, bool):
        assert cast(dg.tensor(one)) == cast(torch.tensor(one))
        assert cast(dg.tensor(-0.0)) == cast(torch.tensor(-0.0))
    assert dg.tensor(one).item() == torch.tensor(one).item()
    assert f"{dg.tensor(3.14159):.2f}" == f"{torch.tensor(3.14159):.2f}"
    assert f"{dg.tensor(7)}" == f"{torch.tensor(7)}"
    assert bool(dg.tensor([0.0])) is False
    assert [1, 2, 3][dg.tensor(1)] == [1, 2, 3][torch.tensor(1)]
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(d)
    with pytest.raises(RuntimeError):
        bool(t)
    with pytest.raises(TypeError):
        f"{d:.2f}"  # noqa: B018  (torch raises for a spec on a non-0-d tensor too)
    with pytest.raises(TypeError):
        f"{t:.2f}"  # noqa: B018


def test_hash_is_identity_so_tensors_are_dict_keys():
    a, b = dg.tensor([1.0, 2.0]), dg.tensor([1.0, 2.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2
    assert hash(a) != hash(b)


# ---- DLPack ---------------------------------------------------------------------------------


def test_torch_takes_our_tensor_through_dlpack_without_a_copy():
    d = dg.tensor(_data((3, 4), 19))
    t = torch.from_dlpack(d)
    assert t.dtype == torch.float64 and tuple(t.shape) == (3, 4)
    d.data[1, 2] = 42.0  # the same memory
    assert t[1, 2].item() == 42.0
    assert t.data_ptr() == d.data.ctypes.data


def test_we_take_torch_and_numpy_through_dlpack_without_a_copy():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    d = dg.from_dlpack(t)
    assert d.dtype == np.float32 and d.shape == (2, 3)
    t[0, 1] = -7.0
    assert d.data[0, 1] == -7.0
    a = np.arange(4.0)
    d2 = dg.from_dlpack(a)
    a[0] = 9.0
    assert d2.data[0] == 9.0
    assert np.from_dlpack(d2) is not None and np.shares_memory(np.from_dlpack(d2), a)
    assert d.__dlpack_device__() == t.__dlpack_device__()


# ---- errors: torch raises, so do we (with the function and the argument named) --------------

ERRORS = [
    ("sum_dim", lambda m, x: x.sum(2), IndexError, "sum: dim"),
    ("max_dim", lambda m, x: x.max(-3), IndexError, "max: dim"),
    ("argmax_dim", lambda m, x: x.argmax(5), IndexError, "dim"),
    ("var_dim", lambda m, x: x.var(3), IndexError, "var: dim"),
    ("softsize_dim", lambda m, x: x.size(2), IndexError, "size: dim"),
    ("squeeze_dim", lambda m, x: x.squeeze(4), IndexError, "squeeze: dim"),
    ("unsqueeze_dim", lambda m, x: x.unsqueeze(4), IndexError, "unsqueeze: dim"),
    ("transpose_dim", lambda m, x: x.transpose(0, 2), IndexError, "transpose: dim"),
    ("flatten_dim", lambda m, x: x.flatten(0, 5), IndexError, "flatten: dim"),
    ("cat_dim", lambda m, x: m.cat([x, x], 2), IndexError, "cat: dim"),
    ("gather_dim", lambda m, x: x.gather(2, m.zeros(2, 3, dtype=m.int64)), IndexError, "gather"),
    ("view_shape", lambda m, x: x.view(4, 2), (RuntimeError, ValueError), "view: shape"),
    ("reshape_shape", lambda m, x: x.reshape(5), (RuntimeError, ValueError), "reshape"),
    ("cat_shapes", lambda m, x: m.cat([x, x.T]), (RuntimeError, ValueError), "cat: tensors"),
    ("stack_shapes", lambda m, x: m.stack([x, x[:1]]), (RuntimeError, ValueError), "stack"),
    ("expand_size", lambda m, x: x.expand(3, 3), (RuntimeError, ValueError), "expand: sizes"),
    ("max_empty", lambda m, x: x[:0].max(), (IndexError, RuntimeError), "max"),
    ("max_empty_dim", lambda m, x: x[:0].max(0), IndexError, "max"),
    ("bool_sub", lambda m, x: (x > 0) - (x > 1), (TypeError, RuntimeError), "sub"),
    ("bool_neg", lambda m, x: -(x > 0), (TypeError, RuntimeError), "neg"),
    ("mean_int", lambda m, x: m.arange(3).mean(), (TypeError, RuntimeError), "mean"),
    ("masked_fill_mask", lambda m, x: x.masked_fill(x, 0.0), (TypeError, RuntimeError), "mask"),
    ("where_cond", lambda m, x: m.where(x, x, x), (TypeError, RuntimeError), "condition"),
    ("gather_index_dtype", lambda m, x: x.gather(1, x), (TypeError, RuntimeError), "index"),
    ("float_multi", lambda m, x: float(x), (ValueError, RuntimeError, TypeError), "float"),
    ("randint_float_size", lambda m, x: m.randint(3, (2.5,)), TypeError, "randint: size"),
    ("zeros_float_size", lambda m, x: m.zeros(2.0), TypeError, "zeros: size"),
    ("and_float", lambda m, x: x & x, (TypeError, RuntimeError), "and"),
    ("clamp_none", lambda m, x: x.clamp(), (ValueError, RuntimeError), "clamp"),
    ("t_3d", lambda m, x: x.unsqueeze(0).t(), (ValueError, RuntimeError), "t:"),
    ("permute_len", lambda m, x: x.permute(0), (ValueError, RuntimeError), "permute: dims"),
    ("split_sizes", lambda m, x: x.split([1, 1], 1), (ValueError, RuntimeError), "split"),
]


@pytest.mark.parametrize(("name", "fn", "exc", "match"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn, exc, match):
    a = _data((2, 3), 20)
    with pytest.raises(exc):
        fn(torch, torch.tensor(a))
    with pytest.raises(exc, match=match):
        fn(dg, dg.tensor(a))
