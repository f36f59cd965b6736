"""Autograd graph introspection and anomaly mode against torch 2.13 (round 37):
grad_fn.next_functions (AccumulateGrad nodes for leaves), metadata, register_prehook, and
dg.autograd.detect_anomaly / set_detect_anomaly: the NaN check in backward, the forward's
stack shown when a backward fails, the mode's flags and their restoration.

Op names differ by design (deltagrad's "mul", torch's "MulBackward0"): messages are compared
with the name put in. An input that needs no gradient is no graph edge, but next_functions
lists it as (None, 0) in the op's input order, as torch does."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")

ANOMALY_WARNING = (
    "Anomaly Detection has been enabled. This mode will increase the runtime and should only "
    "be enabled for debugging."
)
rng = np.random.default_rng(37)


@pytest.fixture(autouse=True)
def _anomaly_off():
    """Every test starts and ends with anomaly mode off, in both libraries."""
    dg.autograd.set_anomaly_enabled(False)
    torch.set_anomaly_enabled(False)
    yield
    dg.autograd.set_anomaly_enabled(False)
    torch.set_anomaly_enabled(False)


def _pair(a, requires_grad=True):
    return (
        dg.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )


def _kinds(fn):
    """next_functions as kinds, one per input: "acc" (AccumulateGrad), "node", or None (an
    input that needs no gradient, torch's (None, 0))."""
    out = []
    for node, idx in fn.next_functions:
        assert idx == 0
        if node is None:
            out.append(None)
        else:
            out.append("acc" if node.name() == "torch::autograd::AccumulateGrad" else "node")
    return out


def _input(lib, a, kind):
    """a as an input of `kind`: "leaf" (requires grad), "node" (an op's output), "const" (a
    leaf without requires_grad), "detached" (a detached op output)."""
    t = lib.tensor(a, requires_grad=kind != "const")
    if kind in ("node", "detached"):
        t = t * 1.0
    return t.detach() if kind == "detached" else t


# ---- next_functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a * b,
        lambda a, b: a @ b,
        lambda a, b: a - b.T.T,
        lambda a, b: (a * b) / (a + b),
    ],
    ids=["add", "mul", "matmul", "sub_of_nonleaf", "div_of_nonleaves"],
)
@pytest.mark.parametrize("b_grad", [True, False], ids=["b_grad", "b_const"])
def test_next_functions_kinds_match_torch(op, b_grad):
    a = rng.standard_normal((3, 3)) + 5
    b = rng.standard_normal((3, 3)) + 5
    xd, xt = _pair(a)
    yd, yt = _pair(b, b_grad)
    od, ot = op(xd, yd), op(xt, yt)
    assert _kinds(od.grad_fn) == _kinds(ot.grad_fn)
    assert len(od.grad_fn.next_functions) == len(ot.grad_fn.next_functions) == 2


KINDS = ["leaf", "node", "const", "detached"]
OPS3 = {
    "add": lambda m, a, b, c: a + b,
    "mul": lambda m, a, b, c: a * b,
    "matmul": lambda m, a, b, c: a @ b,
    "sub": lambda m, a, b, c: a - b,
    "div": lambda m, a, b, c: a / b,
    "maximum": lambda m, a, b, c: m.maximum(a, b),
    "where": lambda m, a, b, c: m.where(c > 0, a, b),
    "where_scalar": lambda m, a, b, c: m.where(c > 0, a, 0.0),
    "cat": lambda m, a, b, c: m.cat([a, b, c]),
    "scalar_mul": lambda m, a, b, c: a * 2.0,
    "scalar_add": lambda m, a, b, c: a + 1,
}


@pytest.mark.parametrize("op", list(OPS3.values()), ids=list(OPS3))
@pytest.mark.parametrize("ka", ["leaf", "node"])
@pytest.mark.parametrize("kb", KINDS)
@pytest.mark.parametrize("kc", ["leaf", "const"])
def test_next_functions_none_entries_in_input_order_match_torch(op, ka, kb, kc):
    """(None, 0) for a constant, a detached tensor or a leaf without requires_grad, at its
    place among the inputs; the inputs that require grad keep their nodes."""
    a, b, c = (rng.standard_normal((3, 3)) + 5 for _ in range(3))
    od = op(dg, _input(dg, a, ka), _input(dg, b, kb), _input(dg, c, kc))
    ot = op(torch, _input(torch, a, ka), _input(torch, b, kb), _input(torch, c, kc))
    assert _kinds(od.grad_fn) == _kinds(ot.grad_fn)  # (node or None, 0) each


def test_next_functions_none_entry_is_exactly_none_0_and_positions_match():
    xd, xt = _pair(rng.standard_normal(4))
    for lib, x in ((dg, xd), (torch, xt)):
        c = lib.tensor(rng.standard_normal(4))
        y = lib.cat([c, x, c.detach(), x * 2.0])
        nf = y.grad_fn.next_functions
        assert nf[0] == (None, 0) and nf[2] == (None, 0)
        assert nf[1][0].variable is x and nf[3][0].name() != "torch::autograd::AccumulateGrad"


def test_grad_mask_is_kept_only_when_an_input_was_dropped():
    """The common case (every input requires grad) stores nothing more: the slot is None."""
    x, _ = _pair(rng.standard_normal(3))
    w, _ = _pair(rng.standard_normal(3))
    assert (x * w)._grad_mask is None and (x * 2.0)._grad_mask == (True, False)
    assert (x - 2.0)._grad_mask == (True, False) and (2.0 - x)._grad_mask is None  # torch's
    c = dg.tensor(rng.standard_normal(3))
    assert dg.cat([x, c, w])._grad_mask == (True, False, True)
    assert dg.cat([x, w, x])._grad_mask is None
    with dg.no_grad():
        assert (x * 2.0)._grad_mask is None
    assert dg.tensor([1.0])._grad_mask is None and (dg.tensor([1.0]) * 2)._grad_mask is None


def test_next_functions_records_the_inputs_as_they_were():
    """A constant that requires grad later stays (None, 0) in a graph built before (torch
    too: the edge is made by the op)."""
    xd, xt = _pair(rng.standard_normal(3))
    for lib, x in ((dg, xd), (torch, xt)):
        c = lib.tensor(rng.standard_normal(3))
        y = x * c
        c.requires_grad_(True)
        assert y.grad_fn.next_functions[1] == (None, 0)
        assert y.grad_fn.next_functions[0][0].variable is x


def test_reflected_scalar_ops_have_one_input():
    """2 - x and 2 ** x: torch's RsubBackward1 / PowBackward2 have x alone (no (None, 0) for
    the number); so do ours."""
    xd, xt = _pair(rng.standard_normal(3))
    for op in (lambda x: 2 - x, lambda x: 2**x):
        assert _kinds(op(xd).grad_fn) == _kinds(op(xt).grad_fn) == ["acc"]


def test_anomaly_error_survives_warnings_as_errors():
    """The backward's error propagates even where the anomaly warning is an error (torch's
    warning never replaces it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cm = dg.autograd.detect_anomaly()
    x = dg.tensor([-1.0], dtype=dg.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="returned nan values"), cm:
            x.sqrt().sum().backward()
    assert not dg.is_anomaly_enabled()


def test_anomaly_nan_index_counts_every_input_as_torch():
    """c / x with a constant c: the NaN gradient is the op's second input's (torch: 1th)."""
    msgs = []
    for lib in (dg, torch):
        c = lib.tensor([0.0], dtype=lib.float64)
        x = lib.tensor([0.0], dtype=lib.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly(), pytest.raises(RuntimeError) as e:
                (c / x).sum().backward()
        msgs.append(str(e.value))
    assert "in its 1th output" in msgs[0] and "in its 1th output" in msgs[1]


def test_traced_make_survives_the_mode_turned_off():
    """A thread that resolved Tensor._make while the mode was on may call it after another
    thread turned the mode off: it still makes the tensor."""
    from deltagrad import _engine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dg.autograd.detect_anomaly():
            traced = dg.Tensor._make
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = traced(x.data * 2, (x,), lambda g: x._accumulate(2 * g), "mul")
    assert traced is _engine._traced_make and np.array_equal(y.data, [2.0, 4.0])


def test_prehook_on_a_multi_output_function_node_is_refused():
    class Two(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 3

    a = dg.tensor([1.0], requires_grad=True)
    o1, _ = Two.apply(a)
    hidden = o1.grad_fn.next_functions[0][0]
    with pytest.raises(NotImplementedError, match="multi-output"):
        hidden.register_prehook(lambda g: None)


def test_next_functions_with_a_constant_input_after_backward_is_empty():
    x, _ = _pair(rng.standard_normal(3))
    y = (x * dg.tensor(rng.standard_normal(3))).sum()
    z = x * dg.tensor(rng.standard_normal(3))
    y.backward()
    assert len(z.grad_fn.next_functions) == 2  # another graph: untouched
    z.sum().backward()
    assert z.grad_fn.next_functions == ()


def test_next_functions_walk_the_graph_to_the_leaves():
    xd, xt = _pair(rng.standard_normal(4))
    wd, wt = _pair(rng.standard_normal(4))
    for x, w in ((xd, wd), (xt, wt)):
        y = x * w
        z = (y + x).sum()
        ((add, i0),) = z.grad_fn.next_functions
        assert i0 == 0
        (mul, _), (acc_x, _) = add.next_functions
        assert mul == y.grad_fn and mul.name() == y.grad_fn.name()
        assert acc_x.name() == "torch::autograd::AccumulateGrad"
        assert acc_x.variable is x and acc_x.next_functions == ()
        (ax, _), (aw, _) = mul.next_functions
        assert ax.variable is x and aw.variable is w
        assert ax == acc_x  # one node per leaf (torch: the same object; here equal views)


def test_next_functions_detached_and_constant_inputs_are_none():
    xd, xt = _pair(rng.standard_normal(3))
    for x in (xd, xt):
        y = x * 2.0 + x.detach()
        nf = y.grad_fn.next_functions
        assert len(nf) == 2 and nf[1] == (None, 0)
        mul = nf[0][0]
        assert mul.name() != "torch::autograd::AccumulateGrad"
        assert mul.next_functions[1] == (None, 0)  # the 2.0, wrapped as a tensor (torch too)
        assert mul.next_functions[0][0].variable is x


def test_leaf_and_no_grad_results_have_no_grad_fn():
    x, _ = _pair(rng.standard_normal(2))
    assert x.grad_fn is None
    with dg.no_grad():
        assert (x * 2).grad_fn is None
    assert dg.tensor([1.0]).grad_fn is None


def test_multi_output_ops_and_functions_point_to_their_input():
    xd, xt = _pair(rng.standard_normal(5))
    assert _kinds(xd.max(0).values.grad_fn) == _kinds(xt.max(0).values.grad_fn) == ["acc"]
    assert _kinds(xd[1:].grad_fn) == _kinds(xt[1:].grad_fn) == ["acc"]


def test_next_functions_after_backward_is_empty():
    """The graph is freed by backward (no retain_graph): torch keeps the edges, deltagrad
    drops them (documented difference); name() still works, as torch's."""
    x, _ = _pair(rng.standard_normal(3))
    y = (x * x).sum()
    y.backward()
    assert y.grad_fn is not None and y.grad_fn.name() == "sum"
    assert y.grad_fn.next_functions == ()


def test_grad_fn_views_compare_equal_and_hash_alike():
    x, _ = _pair(rng.standard_normal(3))
    y = x * 3
    assert y.grad_fn == y.grad_fn and hash(y.grad_fn) == hash(y.grad_fn)
    assert y.grad_fn != (x * 3).grad_fn
    assert len({y.grad_fn, y.grad_fn}) == 1
    assert repr(y.grad_fn) == "<mul>"
    assert repr(y.grad_fn.next_functions[0][0]) == "<AccumulateGrad>"


# ---- metadata -------------------------------------------------------------------------------


def test_metadata_is_one_dict_per_node():
    xd, xt = _pair(rng.standard_normal(3))
    for x in (xd, xt):
        y = x.exp()
        md = y.grad_fn.metadata
        assert md == {} and isinstance(md, dict)
        md["k"] = 1
        assert y.grad_fn.metadata is md and y.grad_fn.metadata["k"] == 1
        assert (x.exp()).grad_fn.metadata == {}
        acc = y.grad_fn.next_functions[0][0]
        acc.metadata["a"] = 2
        assert y.grad_fn.next_functions[0][0].metadata == {"a": 2}


# ---- register_prehook -----------------------------------------------------------------------


def test_register_prehook_replaces_the_nodes_gradient_as_torch():
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    seen = {}
    res = {}
    for lib, (x, w) in (("dg", (_pair(a)[0], _pair(b)[0])), ("torch", (_pair(a)[1], _pair(b)[1]))):
        y = x * w
        z = y.exp()

        def pre(grads, lib=lib):
            (g,) = grads
            seen[lib] = np.asarray(g.detach().numpy() if lib == "torch" else g.numpy())
            return (g * 3,)

        h = y.grad_fn.register_prehook(pre)
        z.sum().backward(retain_graph=True)
        res[lib] = (x.grad.copy() if lib == "dg" else x.grad.numpy().copy(),)
        h.remove()
        x.grad = None
        z.sum().backward()
        res[lib] += (x.grad if lib == "dg" else x.grad.numpy(),)
    np.testing.assert_allclose(seen["dg"], seen["torch"], rtol=1e-12, atol=1e-12)
    for got, want in zip(res["dg"], res["torch"]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_accumulate_grad_prehook_runs_before_grad_is_set():
    a = rng.standard_normal(3)
    xd, xt = _pair(a)
    for x in (xd, xt):
        acc = (x * 2).grad_fn.next_functions[0][0]
        calls = []
        acc.register_prehook(lambda gs, calls=calls: calls.append(gs) or (gs[0] + 1,))
        (x * 2).sum().backward()
        assert len(calls) == 1 and len(calls[0]) == 1
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xd.grad, np.full(3, 3.0), rtol=0, atol=0)


def test_register_prehook_errors():
    x, _ = _pair(rng.standard_normal(3))
    y = x * 2
    with pytest.raises(TypeError, match="register_prehook: fn"):
        y.grad_fn.register_prehook(3)
    y.grad_fn.register_prehook(lambda gs: (gs[0], gs[0]))
    with pytest.raises(RuntimeError, match="register_prehook: the hook returned 2 values"):
        y.sum().backward()
    z = x * 3
    z.grad_fn.register_prehook(lambda gs: gs[0])
    with pytest.raises(RuntimeError, match="returned a Tensor"):
        z.sum().backward()
    with pytest.raises(TypeError, match="register_hook: fn"):  # post-hooks: round 39
        z.grad_fn.register_hook(3)


# ---- anomaly mode: flags and context managers ----------------------------------------------


def test_anomaly_flags_default_and_set():
    for lib, is_on, is_nan, setter in (
        (
            "dg",
            dg.autograd.is_anomaly_enabled,
            dg.autograd.is_anomaly_check_nan_enabled,
            dg.autograd.set_anomaly_enabled,
        ),
        (
            "torch",
            torch.is_anomaly_enabled,
            torch.is_anomaly_check_nan_enabled,
            torch.set_anomaly_enabled,
        ),
    ):
        assert (is_on(), is_nan()) == (False, True), lib
        setter(True, False)
        assert (is_on(), is_nan()) == (True, False), lib
        setter(False)
        assert (is_on(), is_nan()) == (False, True), lib


ANOMALY_FLAGS = ["is_anomaly_enabled", "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]


@pytest.mark.parametrize("name", ANOMALY_FLAGS)
def test_anomaly_flags_at_the_top_level_as_torch(name):
    """torch.is_anomaly_enabled & co. are top-level names too: dg's are dg.autograd's."""
    assert hasattr(torch, name)
    assert getattr(dg, name) is getattr(dg.autograd, name)
    assert name in dg.__all__ and name in dir(dg)


def test_top_level_anomaly_flags_behave_as_torchs():
    for lib in (dg, torch):
        assert (lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()) == (False, True)
        lib.set_anomaly_enabled(True, check_nan=False)
        assert (lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()) == (True, False)
        assert lib.autograd.is_anomaly_enabled() if lib is dg else torch.is_anomaly_enabled()
        lib.set_anomaly_enabled(enabled=False)
        assert (lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()) == (False, True)
        for bad in ((1,), ("on",), (True, 0)):
            with pytest.raises(TypeError):
                lib.set_anomaly_enabled(*bad)
        with pytest.raises(TypeError, match="enabled"):
            lib.set_anomaly_enabled()
        assert not lib.is_anomaly_enabled()
    with pytest.raises(TypeError, match="set_anomaly_enabled: enabled: expected a bool"):
        dg.set_anomaly_enabled(1)
    x = dg.tensor([-1.0], requires_grad=True)
    dg.set_anomaly_enabled(True)  # the top-level switch turns the engine's check on
    with (
        pytest.raises(RuntimeError, match="Function 'sqrt' returned nan values"),
        pytest.warns(UserWarning, match="Traceback of forward call"),
    ):
        x.sqrt().sum().backward()


@pytest.mark.parametrize("lib", ["dg", "torch"])
def test_detect_anomaly_warns_and_nested_blocks_restore(lib):
    ag = dg.autograd if lib == "dg" else torch.autograd
    on = dg.autograd.is_anomaly_enabled if lib == "dg" else torch.is_anomaly_enabled
    nan = (
        dg.autograd.is_anomaly_check_nan_enabled
        if lib == "dg"
        else torch.is_anomaly_check_nan_enabled
    )
    with pytest.warns(UserWarning, match=re.escape(ANOMALY_WARNING)):
        outer = ag.detect_anomaly()
    with outer:
        assert (on(), nan()) == (True, True)
        with pytest.warns(UserWarning, match="Anomaly Detection"):
            inner = ag.detect_anomaly(check_nan=False)
        with inner:
            assert (on(), nan()) == (True, False)
            with ag.set_detect_anomaly(False):
                assert (on(), nan()) == (False, True)
            assert (on(), nan()) == (True, False)
        assert (on(), nan()) == (True, True)
    assert (on(), nan()) == (False, True)
    ag.set_detect_anomaly(True, check_nan=False)  # a plain call sets it
    assert (on(), nan()) == (True, False)
    ag.set_detect_anomaly(False)
    assert (on(), nan()) == (False, True)


def test_anomaly_mode_errors_match_torch():
    bad = [("yes",), (1,), (None,), (True, "x"), (True, 0)]
    for args in bad:
        with pytest.raises(
            TypeError, match="set_detect_anomaly: (mode|check_nan): expected a bool"
        ):
            dg.autograd.set_detect_anomaly(*args)
        with pytest.raises(TypeError):
            torch.autograd.set_detect_anomaly(*args)
        with pytest.raises(TypeError, match="set_anomaly_enabled"):
            dg.autograd.set_anomaly_enabled(*args)
    with pytest.raises(TypeError, match="detect_anomaly: check_nan"):
        dg.autograd.detect_anomaly(check_nan=1)
    assert not dg.autograd.is_anomaly_enabled()


def test_anomaly_mode_off_swaps_nothing_in():
    """Node creation is instrumented only while the mode is on (zero cost off)."""
    make = dg.Tensor.__dict__["_make"]
    with dg.autograd.set_detect_anomaly(True):
        assert dg.Tensor.__dict__["_make"] is not make
        with dg.autograd.set_detect_anomaly(True):
            pass
        assert dg.Tensor.__dict__["_make"] is not make
    assert dg.Tensor.__dict__["_make"] is make
    x, _ = _pair(rng.standard_normal(2))
    assert "traceback_" not in (x * 2).grad_fn.metadata


# ---- anomaly mode: the NaN check -----------------------------------------------------------


def _anomaly_error(lib, build, backward=None):
    """Run build() -> output and its backward with anomaly mode on; return the RuntimeError's
    message and the "Error detected" warning's."""
    ag = dg.autograd if lib == "dg" else torch.autograd
    with ag.set_detect_anomaly(True):
        out = build()
        with pytest.warns(UserWarning, match="Error detected in") as rec:
            with pytest.raises(RuntimeError) as ei:
                (backward or (lambda o: o.sum().backward()))(out)
    msgs = [str(w.message) for w in rec if "Error detected" in str(w.message)]
    assert len(msgs) == 1
    return str(ei.value), msgs[0]


def _same_error(ours, theirs, our_name, torch_name):
    assert ours[0] == theirs[0].replace(torch_name, our_name), (ours[0], theirs[0])
    assert ours[0].startswith(f"Function '{our_name}' returned nan values in its ")
    assert ours[1].startswith(f"Error detected in {our_name}. Traceback of forward call")
    assert theirs[1].startswith(f"Error detected in {torch_name}. Traceback of forward call")
    assert "test_parity_autograd_r37.py" in ours[1]  # the forward's stack: this file's line


def test_nan_from_sqrt_of_negative_raises_naming_the_op():
    a = -np.abs(rng.standard_normal(5)) - 0.5
    xd, xt = _pair(a)
    ours = _anomaly_error("dg", lambda: (xd * 1.0).sqrt())
    theirs = _anomaly_error("torch", lambda: (xt * 1.0).sqrt())
    _same_error(ours, theirs, "sqrt", "SqrtBackward0")


def test_nan_from_zero_over_zero_names_the_output_index():
    """x / y at x = y = 0: dy = -g x / y^2 = NaN (its 1th output); dx = g / y = inf (not
    NaN: no error when y needs no gradient), in both libraries."""
    xd, xt = _pair(np.zeros(3))
    yd, yt = _pair(np.zeros(3))
    ours = _anomaly_error("dg", lambda: xd / yd)
    theirs = _anomaly_error("torch", lambda: xt / yt)
    _same_error(ours, theirs, "div", "DivBackward0")
    assert ours[0].endswith("in its 1th output.")
    for x, y, ag in ((xd, yd.detach(), dg.autograd), (xt, yt.detach(), torch.autograd)):
        with ag.set_detect_anomaly(True):
            (x / y).sum().backward()
    np.testing.assert_array_equal(xd.grad, xt.grad.numpy())
    assert np.isposinf(xd.grad).all()


def test_custom_function_returning_nan():
    class NanGrad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g, g * np.nan

    class TNanGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g, g * float("nan")

    a, b = rng.standard_normal(3), rng.standard_normal(3)
    xd, xt = _pair(a)
    wd, wt = _pair(b)
    ours = _anomaly_error("dg", lambda: NanGrad.apply(xd, wd))
    theirs = _anomaly_error("torch", lambda: TNanGrad.apply(xt, wt))
    _same_error(ours, theirs, "NanGrad", "TNanGradBackward")
    assert ours[0].endswith("1th output.")


def test_multi_output_function_nan_in_one_output():
    class Split2(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0, x * 2.0

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 + 2 * g2 + np.sqrt(-1.0 - np.abs(g1))

    x, _ = _pair(rng.standard_normal(4))
    with dg.autograd.set_detect_anomaly(True):
        a, b = Split2.apply(x)
        with pytest.warns(UserWarning, match="Error detected in Split2"):
            with pytest.raises(RuntimeError, match=r"Function 'Split2' returned nan values in"):
                with np.errstate(invalid="ignore"):
                    (a + b).sum().backward()


def test_nan_through_autograd_grad_and_linear():
    x, _ = _pair(rng.standard_normal((2, 3)))
    w, _ = _pair(rng.standard_normal((4, 3)))
    with dg.autograd.set_detect_anomaly(True):
        y = F.linear(x, w).sqrt()  # some outputs negative: NaN in sqrt's backward
        with pytest.warns(UserWarning, match="Error detected in sqrt"):
            with pytest.raises(RuntimeError, match="Function 'sqrt' returned nan"):
                dg.autograd.grad(y.sum(), [w])
        # NaN in the input data: linear's weight gradient (its GEMM) is NaN
        xn = dg.tensor(np.array([[np.nan, 1.0, 2.0]]))
        w.grad = np.zeros((4, 3))  # a kept .grad: linear's dW would accumulate into it
        out = F.linear(xn, w)
        with pytest.warns(UserWarning, match="Error detected in"):
            with pytest.raises(RuntimeError, match="returned nan values in its 1th output"):
                out.sum().backward()  # (the weight: linear's second input, as torch counts)
    assert w.grad.tolist() == np.zeros((4, 3)).tolist()  # the error came before accumulation


def test_no_error_when_off_or_without_check_nan_and_grads_match_torch():
    a = -np.abs(rng.standard_normal(4)) - 0.5
    for mode in ("off", "no_check_nan"):
        xd, xt = _pair(a)
        if mode == "off":
            xd.sqrt().sum().backward()
            xt.sqrt().sum().backward()
        else:
            with dg.autograd.set_detect_anomaly(True, check_nan=False):
                xd.sqrt().sum().backward()
            with torch.autograd.set_detect_anomaly(True, check_nan=False):
                xt.sqrt().sum().backward()
        assert np.isnan(xd.grad).all() and np.isnan(xt.grad.numpy()).all()


def test_inf_is_not_an_anomaly():
    xd, xt = _pair(np.zeros(3))
    with dg.autograd.set_detect_anomaly(True):
        (1.0 / xd).sum().backward()
    with torch.autograd.set_detect_anomaly(True):
        (1.0 / xt).sum().backward()
    np.testing.assert_array_equal(xd.grad, xt.grad.numpy())


def test_error_in_backward_without_forward_trace_warns_as_torch():
    class Boom(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom")

    x, _ = _pair(rng.standard_normal(2))
    y = Boom.apply(x)  # made with the mode off: no trace
    with dg.autograd.set_detect_anomaly(True):
        with pytest.warns(
            UserWarning,
            match=re.escape(
                "Error detected in Boom. No forward pass information available. Enable detect "
                "anomaly during forward pass for more information."
            ),
        ):
            with pytest.raises(ValueError, match="boom"):
                y.sum().backward()
    with pytest.raises(ValueError, match="boom"):  # mode off: no warning (warnings are errors)
        Boom.apply(x).sum().backward()


def test_anomaly_mode_records_the_forward_stack_in_metadata():
    x, xt = _pair(rng.standard_normal(2))
    for lib, t in (("dg", x), ("torch", xt)):
        ag = dg.autograd if lib == "dg" else torch.autograd
        with ag.set_detect_anomaly(True):
            y = t * 2
        tb = y.grad_fn.metadata["traceback_"]
        assert isinstance(tb, list) and all(isinstance(s, str) for s in tb)
        assert "test_parity_autograd_r37.py" in tb[-1] and "y = t * 2" in tb[-1]


def test_float32_nan_check():
    a = (-np.abs(rng.standard_normal(3)) - 0.5).astype(np.float32)
    xd, xt = _pair(a)
    ours = _anomaly_error("dg", lambda: xd.sqrt())
    theirs = _anomaly_error("torch", lambda: xt.sqrt())
    _same_error(ours, theirs, "sqrt", "SqrtBackward0")
