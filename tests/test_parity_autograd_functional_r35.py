"""deltagrad.autograd.functional against torch.autograd.functional (round 35): vjp, jacobian
(vectorize, strategy) and jvp in float64 to 1e-12 -- result nesting, shapes, dtypes, values --,
strict-mode errors, argument errors, no graph leaking into the caller's tensors, and the
second-order functions and create_graph=True refused with NotImplementedError."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad.autograd import functional as AF
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

TOL = {"rtol": 1e-12, "atol": 1e-12}


def arr(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def same(ours, theirs, what="result", tol=TOL):
    """Same nesting (bare Tensor / tuple / tuple of tuples), shapes, dtypes and values."""
    if isinstance(theirs, (tuple, list)):  # list: torch's forward-mode jacobian nests lists
        assert type(ours) is type(theirs), f"{what}: {type(ours).__name__}, {type(theirs)}"
        assert len(ours) == len(theirs), what
        for k, (o, t) in enumerate(zip(ours, theirs)):
            same(o, t, f"{what}[{k}]", tol)
        return
    assert isinstance(ours, dg.Tensor), f"{what}: expected a Tensor, got {type(ours).__name__}"
    assert tuple(ours.shape) == tuple(theirs.shape), what
    assert ours.numpy().dtype == arr(theirs).dtype, what
    assert not ours.requires_grad and ours.grad_fn is None, f"{what} carries a graph"
    assert_close(ours.numpy(), arr(theirs), name=what, equal_nan=True, **tol)


def pair(a, requires_grad=False):
    return (
        dg.tensor(a.copy(), requires_grad=requires_grad),
        torch.tensor(a.copy(), requires_grad=requires_grad),
    )


# ---- the functions: each written once, for either library (lib: deltagrad or torch) ----------


def f_elementwise(lib):
    return lambda x: x.exp() * x.sin() + x * x


def f_matmul(lib):
    return lambda x, w: x @ w


def f_reductions(lib):
    return lambda x: (x.sum(1), x.mean(), (x * x).sum(dim=0, keepdim=True), x.logsumexp(1))


def f_two_by_two(lib):
    return lambda x, w: ((x @ w).tanh(), x.exp().sum(1) * w.sum())


def f_linear_tanh(lib):
    """A small nn.Linear + tanh (same weights in both), differentiated w.r.t. x only: the
    layer's parameters require grad but are captured, not inputs."""
    rng = np.random.default_rng(35)
    w, b = rng.standard_normal((3, 5)), rng.standard_normal(3)
    if lib is dg:
        lin = dnn.Linear(5, 3, dtype=dg.float64)
        lin.weight.data[...] = w
        lin.bias.data[...] = b
    else:
        lin = torch.nn.Linear(5, 3, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
    f_linear_tanh.layers[lib.__name__] = lin
    return lambda x: lin(x).tanh()


f_linear_tanh.layers = {}


def f_functional_linear(lib):
    F = dg.nn.functional if lib is dg else torch.nn.functional
    return lambda x, w, b: F.linear(x, w, b).tanh()


# name -> (function factory, input shapes, whether inputs is a tuple)
CASES = {
    "elementwise": (f_elementwise, [(3, 4)], False),
    "elementwise_size1": (f_elementwise, [(1,)], False),
    "matmul": (f_matmul, [(3, 5), (5, 2)], True),
    "matmul_one_in_tuple": (lambda lib: lambda x: x @ x.T, [(2, 3)], True),
    "reductions": (f_reductions, [(4, 3)], False),
    "two_by_two": (f_two_by_two, [(2, 3), (3, 3)], True),
    "linear_tanh": (f_linear_tanh, [(4, 5)], False),
    "functional_linear": (f_functional_linear, [(2, 5), (3, 5), (3,)], True),
}


def make(name, seed=0, requires_grad=False):
    factory, shapes, as_tuple = CASES[name]
    rng = np.random.default_rng(seed + len(name))
    pairs = [pair(rng.standard_normal(s), requires_grad) for s in shapes]
    ours = tuple(p[0] for p in pairs)
    theirs = tuple(p[1] for p in pairs)
    if not as_tuple:
        ours, theirs = ours[0], theirs[0]
    return factory(dg), factory(torch), ours, theirs, rng


def like(x, rng, lib):
    """Random Tensors with x's nesting and shapes (the v of vjp / jvp)."""
    if isinstance(x, tuple):
        vs = [rng.standard_normal(tuple(t.shape)) for t in x]
        return tuple(dg.tensor(v) for v in vs), tuple(torch.tensor(v) for v in vs)
    v = rng.standard_normal(tuple(x.shape))
    return dg.tensor(v), torch.tensor(v)


# ---- values, nesting, shapes -------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_vjp_matches_torch(name):
    f, tf, x, tx, rng = make(name)
    tout = tf(*tx) if isinstance(tx, tuple) else tf(tx)
    v, tv = like(tout, rng, torch)
    out, res = AF.vjp(f, x, v)
    tout, tres = TF.vjp(tf, tx, tv)
    same(out, tout, "output")
    same(res, tres, "vjp")


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_jacobian_matches_torch(name, vectorize):
    f, tf, x, tx, _ = make(name, seed=1)
    same(AF.jacobian(f, x, vectorize=vectorize), TF.jacobian(tf, tx, vectorize=vectorize), "J")


# torch's forward-mode jacobian goes through torch.jit.script, which warns it is deprecated
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", ["elementwise", "matmul", "two_by_two", "reductions"])
def test_jacobian_forward_mode_vectorized_matches_torch(name):
    f, tf, x, tx, _ = make(name, seed=2)
    ours = AF.jacobian(f, x, vectorize=True, strategy="forward-mode")
    same(ours, TF.jacobian(tf, tx, vectorize=True, strategy="forward-mode"), "J")


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_torch(name):
    f, tf, x, tx, rng = make(name, seed=3)
    v, tv = like(x, rng, dg)
    out, res = AF.jvp(f, x, v)
    tout, tres = TF.jvp(tf, tx, tv)
    same(out, tout, "output")
    same(res, tres, "jvp")


def test_jvp_is_jacobian_times_v():
    f, _, x, _, rng = make("matmul", seed=4)
    v, _ = like(x, rng, dg)
    _, res = AF.jvp(f, x, v)
    J = AF.jacobian(f, x)
    want = sum(np.tensordot(J[k].numpy(), v[k].numpy(), axes=v[k].ndim) for k in range(2))
    assert_close(res.numpy(), want, **TOL)


def test_defaults_v_none_one_element():
    rng = np.random.default_rng(5)
    x, tx = pair(rng.standard_normal((2, 3)))
    out, res = AF.vjp(lambda t: (t * t).sum(), x)
    same((out, res), TF.vjp(lambda t: (t * t).sum(), tx))
    s, ts = pair(rng.standard_normal(()))
    same(AF.jvp(lambda t: t.exp() * 2, s), TF.jvp(lambda t: t.exp() * 2, ts))
    one, tone = pair(rng.standard_normal((1, 1)))
    same(AF.jvp(lambda t: t.tanh(), one), TF.jvp(lambda t: t.tanh(), tone))
    same(AF.jacobian(lambda t: t.sum(), s), TF.jacobian(lambda t: t.sum(), ts))


def test_extreme_values():
    a = np.array([800.0, -800.0, 1e300, -1e-300, 0.5, np.inf])
    x, tx = pair(a)
    f = lambda t: t.exp() * 2  # noqa: E731 - inf, 0 and 0 * inf = nan off the diagonal
    same(AF.jacobian(f, x), TF.jacobian(f, tx))
    v, tv = pair(np.linspace(-1, 1, 6))
    same(AF.vjp(f, x, v), TF.vjp(f, tx, tv))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_float32_and_mixed_dtypes():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    x, tx = pair(a)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    f = lambda t: (t.exp() * t).sum(0)  # noqa: E731
    same(AF.jacobian(f, x), TF.jacobian(f, tx), tol=tol)
    v, tv = pair(rng.standard_normal(4).astype(np.float32))
    same(AF.vjp(f, x, v), TF.vjp(f, tx, tv), tol=tol)
    # float64 in, float32 out: the Jacobian is in the input's dtype (forward-mode: the
    # output's), the vjp in the input's, the jvp in the output's
    y, ty = pair(rng.standard_normal(3))
    g = lambda t: t.float() * 2  # noqa: E731
    same(AF.jacobian(g, y), TF.jacobian(g, ty))
    same(
        AF.jacobian(g, y, vectorize=True, strategy="forward-mode"),
        TF.jacobian(g, ty, vectorize=True, strategy="forward-mode"),
    )
    w, tw = pair(rng.standard_normal(3))
    same(AF.vjp(g, y, w.float()), TF.vjp(g, ty, tw.float()), tol=tol)
    same(AF.jvp(g, y, w), TF.jvp(g, ty, tw), tol=tol)


def test_outputs_without_grad_and_unused_inputs_give_zeros():
    rng = np.random.default_rng(7)
    x, tx = pair(rng.standard_normal(3))
    y, ty = pair(rng.standard_normal(2))
    both = (x, y)
    tboth = (tx, ty)

    def f(lib):
        const = lib.ones(2, dtype=lib.float64)
        return lambda a, b: (a * 2, a.argmax(), const)

    same(AF.jacobian(f(dg), both), TF.jacobian(f(torch), tboth))
    same(AF.jacobian(f(dg), both, vectorize=True), TF.jacobian(f(torch), tboth, vectorize=True))
    v = (dg.ones(3, dtype=dg.float64), None, dg.ones(2, dtype=dg.float64))
    tv = (torch.ones(3, dtype=torch.float64), None, torch.ones(2, dtype=torch.float64))
    # torch's vjp wants a Tensor for every output: give the argmax one a float Tensor too
    v = (v[0], dg.zeros((), dtype=dg.float64), v[2])
    tv = (tv[0], torch.zeros((), dtype=torch.float64), tv[2])
    same(AF.vjp(f(dg), both, v), TF.vjp(f(torch), tboth, tv))
    # jvp (torch's fails on the integer output: zeros_like(argmax, requires_grad=True))
    u, tu = pair(rng.standard_normal(3))
    w, tw = pair(rng.standard_normal(2))

    def g(lib):
        const = lib.ones(2, dtype=lib.float64)
        return lambda a, b: (a * 2, const)

    same(AF.jvp(g(dg), both, (u, w)), TF.jvp(g(torch), tboth, (tu, tw)))
    # nothing differentiable at all
    h = lambda a: a.argmax()  # noqa: E731
    same(AF.jacobian(h, x), TF.jacobian(h, tx))


def test_same_tensor_twice_and_identity():
    rng = np.random.default_rng(8)
    x, tx = pair(rng.standard_normal(4))
    f = lambda a, b: a * b  # noqa: E731
    same(AF.jacobian(f, (x, x)), TF.jacobian(f, (tx, tx)))
    same(AF.jacobian(lambda a: a, x), TF.jacobian(lambda a: a, tx))
    v, tv = pair(rng.standard_normal(4))
    dup = lambda a: (a * 3, a * 3)  # noqa: E731
    same(AF.vjp(dup, x, (v, v)), TF.vjp(dup, tx, (tv, tv)))


def test_size_zero():
    rng = np.random.default_rng(9)
    e, te = pair(np.zeros((0, 3)))
    v, tv = pair(np.zeros((0, 3)))
    same(AF.vjp(lambda t: t * 2, e, v), TF.vjp(lambda t: t * 2, te, tv))
    x, tx = pair(rng.standard_normal(3))
    w, tw = pair(rng.standard_normal(3))
    same(AF.jvp(lambda t: t[:0] * 3, x, w), TF.jvp(lambda t: t[:0] * 3, tx, tw))
    # torch's jacobian fails on an empty output or input (torch.stack of no rows); ours gives
    # the empty Jacobian of shape out.shape + in.shape
    J = AF.jacobian(lambda t: t[:0] * 2, x)
    assert J.shape == (0, 3) and J.numpy().dtype == np.float64
    J = AF.jacobian(lambda t: t * 2, e)
    assert J.shape == (0, 3, 0, 3)
    J = AF.jacobian(lambda a, t: (a * 2, t.sum(1)), (x, e))
    assert [[j.shape for j in r] for r in J] == [[(3, 3), (3, 0, 3)], [(0, 3), (0, 0, 3)]]
    assert not J[0][1].numpy().any()


# ---- no graph leaks, grad mode -----------------------------------------------------------


@pytest.mark.parametrize("fn", ["vjp", "jacobian", "jvp"])
def test_inputs_requiring_grad_get_no_graph(fn):
    f, tf, x, tx, rng = make("linear_tanh", seed=10, requires_grad=True)
    lin = f_linear_tanh.layers["deltagrad"]
    if fn == "vjp":
        v, tv = like(tf(tx), rng, torch)
        out, res = AF.vjp(f, x, v)
        same((out, res), TF.vjp(tf, tx, tv))
    elif fn == "jvp":
        v, tv = like(x, rng, dg)
        out, res = AF.jvp(f, x, v)
        same((out, res), TF.jvp(tf, tx, tv))
    else:
        res = AF.jacobian(f, x)
        same(res, TF.jacobian(tf, tx))
    assert x.requires_grad and x.grad is None and x.grad_fn is None
    assert lin.weight.grad is None and lin.bias.grad is None
    # the caller's x can still be differentiated as usual afterwards
    f(x).sum().backward()
    tf(tx).sum().backward()
    assert_close(np.asarray(x.grad), tx.grad.numpy(), **TOL)


def test_runs_func_with_grad_enabled_under_no_grad():
    rng = np.random.default_rng(11)
    x, tx = pair(rng.standard_normal(3))
    f = lambda t: t.exp()  # noqa: E731
    with dg.no_grad():
        ours = AF.jacobian(f, x)
        assert not dg.is_grad_enabled()
    with torch.no_grad():
        theirs = TF.jacobian(f, tx)
    same(ours, theirs)


def test_submodule_is_importable_and_registered():
    assert dg.autograd.functional is AF
    assert set(AF.__all__) == {"vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"}
    code = (
        "import deltagrad.autograd.functional as f\n"
        "from deltagrad.autograd.functional import vjp\n"
        "from deltagrad.autograd import Function, FunctionCtx, grad, functional\n"
        "import deltagrad as dg\n"
        "assert f is functional is dg.autograd.functional and vjp is f.vjp\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- errors ------------------------------------------------------------------------------


def raises_as_torch(ours, theirs, match=None):
    """Both raise the same exception type (and, given match, both messages contain it)."""
    with pytest.raises(Exception) as tinfo:
        theirs()
    with pytest.raises(tinfo.type) as info:
        ours()
    if match is not None:
        assert match in str(tinfo.value), str(tinfo.value)
        assert match in str(info.value), str(info.value)


@pytest.fixture
def xy():
    rng = np.random.default_rng(12)
    return pair(rng.standard_normal(3)), pair(rng.standard_normal(2))


def test_strict_errors_match_torch(xy):
    (x, tx), (y, ty) = xy
    c, tc = pair(np.ones(2), requires_grad=True)
    only_a = lambda a, b: a * 2  # noqa: E731
    # jacobian: an output independent of an input; an output that does not require grad
    raises_as_torch(
        lambda: AF.jacobian(only_a, (x, y), strict=True),
        lambda: TF.jacobian(only_a, (tx, ty), strict=True),
        "Output 0 of the user-provided function is independent of input 1",
    )
    raises_as_torch(
        lambda: AF.jacobian(lambda a: dg.ones(2, dtype=dg.float64), x, strict=True),
        lambda: TF.jacobian(lambda a: torch.ones(2, dtype=torch.float64), tx, strict=True),
        "Output 0 of the user-provided function does not require gradients",
    )
    raises_as_torch(
        lambda: AF.jacobian(lambda a: c * 2, x, strict=True),
        lambda: TF.jacobian(lambda a: tc * 2, tx, strict=True),
        "Output 0 of the user-provided function is independent of input 0",
    )
    raises_as_torch(
        lambda: AF.jacobian(lambda a: a * 2, x, strict=True, vectorize=True),
        lambda: TF.jacobian(lambda a: a * 2, tx, strict=True, vectorize=True),
        "`strict=True` and `vectorized=True` are not supported together",
    )
    # vjp
    v, tv = pair(np.ones(3))
    raises_as_torch(
        lambda: AF.vjp(only_a, (x, y), v, strict=True),
        lambda: TF.vjp(only_a, (tx, ty), tv, strict=True),
        "The output of the user-provided function is independent of input 1",
    )
    raises_as_torch(
        lambda: AF.vjp(lambda a: c * 2, x, dg.ones(2, dtype=dg.float64), strict=True),
        lambda: TF.vjp(lambda a: tc * 2, tx, torch.ones(2, dtype=torch.float64), strict=True),
        "The output of the user-provided function is independent of input 0",
    )
    # jvp: an input no output uses, an output no input reaches
    raises_as_torch(
        lambda: AF.jvp(only_a, (x, y), (x, y), strict=True),
        lambda: TF.jvp(only_a, (tx, ty), (tx, ty), strict=True),
        "The output of the user-provided function is independent of input 1",
    )
    raises_as_torch(
        lambda: AF.jvp(lambda a: (a * 2, c * 3), x, x, strict=True),
        lambda: TF.jvp(lambda a: (a * 2, tc * 3), tx, tx, strict=True),
        "independent of entry 1 in the grad_outputs",
    )
    raises_as_torch(
        lambda: AF.jvp(lambda a: (a * 2, c[:0] * 3), x, x, strict=True),
        lambda: TF.jvp(lambda a: (a * 2, tc[:0] * 3), tx, tx, strict=True),
        "independent of entry 1 in the grad_outputs",
    )
    raises_as_torch(
        lambda: AF.jvp(lambda a: dg.ones(2, dtype=dg.float64), x, x, strict=True),
        lambda: TF.jvp(lambda a: torch.ones(2, dtype=torch.float64), tx, tx, strict=True),
        "does not require gradients",
    )
    # non-strict: the same calls give zeros
    same(AF.jvp(lambda a: (a * 2, c * 3), x, x), TF.jvp(lambda a: (a * 2, tc * 3), tx, tx))
    assert c.grad is None


def test_argument_errors_match_torch(xy):
    (x, tx), (y, ty) = xy
    f = lambda a: a * 2  # noqa: E731
    cases = [
        # inputs / outputs / v: a Tensor or a tuple of Tensors (a list is refused)
        (lambda m, a: m.jacobian(f, [a]), "must be either a Tensor or a tuple of Tensors"),
        (lambda m, a: m.vjp(lambda t: [t * 2], a, a), "must be either a Tensor or a tuple"),
        (lambda m, a: m.jacobian(lambda t: 3.0, a), "must be either a Tensor or a tuple"),
        (lambda m, a: m.vjp(f, (a, 1.0), a), "the value at index 1 has type"),
        (lambda m, a: m.vjp(f, a, [a]), "The v given to vjp must be either a Tensor"),
        (lambda m, a: m.jvp(f, a, 1.0), "The v given to jvp must be either a Tensor"),
        # v's size and count
        (lambda m, a: m.vjp(f, a, a[:2]), "v has invalid size"),
        (lambda m, a: m.jvp(f, a, a[None]), "v has invalid size"),
        (lambda m, a: m.vjp(f, a, (a, a)), "The given v should contain a single Tensor"),
        (lambda m, a: m.vjp(lambda t: (t, t), a, (a,)), "v is a tuple of invalid length"),
        (lambda m, a: m.vjp(lambda t: (t, t), a, (a, a[:1])), "Entry 1 in v has invalid size"),
        (lambda m, a: m.jvp(lambda s, t: s, (a, a), (a, a[:1])), "Entry 1 in v has invalid"),
        # v=None only for one one-element output (vjp) / input (jvp)
        (lambda m, a: m.vjp(f, a), "The vector v can only be None"),
        (lambda m, a: m.jvp(f, a), "The vector v can only be None"),
        # strategy
        (lambda m, a: m.jacobian(f, a, strategy="fwd"), "Expected strategy to be either"),
        (lambda m, a: m.jacobian(f, a, strategy="forward-mode"), "only implemented for"),
        (
            lambda m, a: m.jacobian(f, a, strategy="forward-mode", vectorize=True, strict=True),
            '`strict=True` and `strategy="forward-mode"` are not supported together',
        ),
        (
            lambda m, a: m.jacobian(f, a, strategy="forward-mode", create_graph=True),
            '`create_graph=True` and `strategy="forward-mode"` are not supported together',
        ),
    ]
    for call, match in cases:
        raises_as_torch(lambda c=call: c(AF, x), lambda c=call: c(TF, tx), match)
    # an integer input cannot require grad
    i, ti = dg.tensor(np.arange(3)), torch.arange(3)
    for name in ("vjp", "jacobian", "jvp"):
        v, tv = ((i,), (ti,)) if name != "jacobian" else ((), ())
        raises_as_torch(
            lambda n=name, v=v: getattr(AF, n)(f, i, *v),
            lambda n=name, tv=tv: getattr(TF, n)(f, ti, *tv),
            "floating point dtype can require gradients",
        )


@pytest.mark.parametrize("fn", ["hessian", "hvp", "vhp"])
def test_second_order_through_an_op_without_double_backward(fn, xy):
    """Second-order functions work since round 38 (tests/test_parity_higher_order_r38.py); an
    op on the path without a double backward is a NotImplementedError naming it, never a
    graph-less (silently zero) second derivative."""
    (x, _), _ = xy
    with pytest.raises(NotImplementedError, match="no double backward for 'custom_op'"):
        getattr(AF, fn)(lambda a: _no_dgrad_rows(a).sum(), x, *([x] if fn != "hessian" else []))


def _no_dgrad_rows(a):
    """A node made without a double backward, shape (n,) in and out."""
    return dg.Tensor._make(a.data * 2, (a,), lambda g: a._accumulate(2 * g), "custom_op")


@pytest.mark.parametrize("fn", ["vjp", "jacobian", "jvp"])
def test_create_graph_not_implemented(fn, xy):
    (x, _), _ = xy
    args = () if fn == "jacobian" else (x,)  # jvp(create_graph=True): round 39's trick
    with pytest.raises(NotImplementedError, match="no double backward for 'custom_op'"):
        getattr(AF, fn)(_no_dgrad_rows, x, *args, create_graph=True)
