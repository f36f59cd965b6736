"""Tensor and autograd semantics where deltagrad differed from torch 2.13 (a differential run,
round 30): indices torch reads another way than NumPy (uint8, lists of sequences), mixed-dtype
comparisons, result dtypes (prod, pow, square, tensor() of numpy float64), chunk of an empty
dim, cat of legacy empty tensors, activations of int tensors; requires_grad_ on a graph node,
bare and generator grad-mode decorators, grad_fn, detach_. Each test states torch's result;
the direct torch comparisons run where torch is installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import functional as F


def _same(d, t):
    """A deltagrad result equals a torch one: dtype, shape and values."""
    if isinstance(d, tuple):
        assert len(d) == len(t)
        for a, b in zip(d, t):
            _same(a, b)
        return
    assert str(d.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)
    assert d.shape == tuple(t.shape)


def _m(L):
    return L.tensor(np.arange(6.0).reshape(2, 3))


# ---- indices torch reads another way than NumPy: refused, never silently different ---------


def test_a_short_list_holding_sequences_is_an_ambiguous_index():
    """torch reads x[[[0, 1], [1, 0]]] as x[[0, 1], [1, 0]] (a tuple; deprecated), NumPy as one
    (2, 2) index array: deltagrad gave NumPy's (2, 2, 3) result silently."""
    x = _m(dg)
    for idx in ([[0, 1], [1, 0]], [np.array([0, 1]), [1, 0]], [dg.tensor(1), dg.tensor(0)]):
        with pytest.raises(IndexError, match="ambiguous"):
            x[idx]
        with pytest.raises(IndexError, match="ambiguous"):
            x[idx] = 9.0
    np.testing.assert_array_equal(x[tuple([[0, 1], [1, 0]])].numpy(), [1.0, 3.0])  # torch's
    assert x[dg.tensor([[0, 1], [1, 0]])].shape == (2, 2, 3)  # NumPy's
    assert x[[1, 0]].shape == (2, 3)  # a list of ints: one index array in both
    assert x[[[0]] * 32].shape == (32, 1, 3)  # 32 items or more: an array index in torch too
    # a list holding a slice, None or ... has torch's reading only (NumPy refuses it)
    np.testing.assert_array_equal(x[[slice(None), [0, 2]]].numpy(), [[0.0, 2.0], [3.0, 5.0]])
    assert x[[None, 1]].shape == (1, 3)
    y = _m(dg)
    y[[slice(None), [0]]] = -1.0
    np.testing.assert_array_equal(y.numpy()[:, 0], [-1.0, -1.0])


def test_a_uint8_index_is_refused():
    """torch reads a uint8 index tensor as a boolean mask (deprecated; t[uint8([1, 0])] is
    t[[True, False]]), NumPy as integer indices: deltagrad gave t[[1, 0]] silently."""
    t = dg.tensor([10.0, 20.0])
    u = dg.tensor([1, 0], dtype=dg.uint8)
    for idx in (u, (u,), (Ellipsis, u), [u]):
        with pytest.raises(IndexError, match="uint8|ambiguous"):
            t[idx]
    with pytest.raises(IndexError, match="uint8"):
        t[u] = 0.0
    np.testing.assert_array_equal(t[u.bool()].numpy(), [10.0])
    np.testing.assert_array_equal(t[u.long()].numpy(), [20.0, 10.0])
    assert t[np.uint8(1)].item() == 20.0  # a numpy scalar is an int index, as in torch
    # a uint8 numpy array keeps NumPy's reading (integer indices): a NumPy object
    np.testing.assert_array_equal(t[u.numpy()].numpy(), [20.0, 10.0])


def test_negative_slice_steps_stay_a_differentiable_reversed_view():
    """torch refuses a negative step (ValueError 'step must be greater than zero'; torch.flip
    is its form); deltagrad keeps NumPy's reading, which is right: kept, documented."""
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[::-1]
    np.testing.assert_array_equal(y.numpy(), [3.0, 2.0, 1.0])
    (y * dg.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [100.0, 10.0, 1.0])


# ---- comparisons and result dtypes ----------------------------------------------------------


def test_mixed_dtype_comparisons_use_torchs_promotion():
    """torch compares in the promoted dtype, as its arithmetic: int64 vs float32 in float32,
    an int tensor vs a Python float in float32, a numpy scalar as a plain number. deltagrad
    compared exactly (in float64) and disagreed."""
    big = dg.tensor([16777217])  # not a float32: rounds to 16777216
    assert (big == dg.tensor([16777216.0])).item()
    assert (big == 16777216.0).item()
    assert not (big != np.float64(16777216.0)).item()
    assert (big >= dg.tensor([16777216.0])).item()
    f = dg.tensor([0.1])
    assert (f == np.float64(0.1)).item()
    assert (f == dg.tensor(0.1, dtype=dg.float64)).item()  # a 0-d float64 does not promote
    assert not (f == dg.tensor([0.1], dtype=dg.float64)).item()  # a 1-d one does: float64
    assert (dg.tensor([16777216.0]) == np.int64(16777217)).item()
    np.testing.assert_array_equal((dg.tensor([True, False]) < 0.5).numpy(), [False, True])
    # a Python int beside an int tensor compares exactly (torch wraps it into the dtype first:
    # uint8 > -1 is False there): deliberately kept
    np.testing.assert_array_equal((dg.tensor([0, 255], dtype=dg.uint8) > -1).numpy(), [1, 1])
    # logical ops are not comparisons: a tiny float64 stays nonzero
    assert dg.tensor([1.0]).logical_and(dg.tensor(1e-50, dtype=dg.float64)).item()


def test_result_dtypes_as_torch():
    """torch: prod of uint8 is int64; a numpy scalar exponent is a plain number (float32 **
    np.float64(2) is float32, int ** np.float64(0.5) float32); bool.square() and bool ** 2
    are int64. deltagrad gave uint64, float64, float64, bool and int8."""
    assert dg.tensor([20, 20], dtype=dg.uint8).prod().dtype == np.int64
    assert dg.tensor([[20, 20]], dtype=dg.uint8).prod(1).item() == 400
    x = dg.tensor([2.0, 3.0], requires_grad=True)
    y = x ** np.float64(2)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [4.0, 6.0])
    assert (dg.tensor([4, 9]) ** np.float64(0.5)).dtype == np.float32
    assert (dg.tensor([4.0], dtype=dg.float64) ** np.float32(2)).dtype == np.float64
    b = dg.tensor([True, False])
    for r in (b.square(), b**2, dg.square(b)):
        assert r.dtype == np.int64
        np.testing.assert_array_equal(r.numpy(), [1, 0])
    assert (b**2.5).dtype == np.float32


def test_tensor_keeps_the_float64_of_numpy_scalars_in_a_list():
    """torch.tensor([np.float64(1.5)]) is float64 (a numpy float64 keeps its dtype; Python
    floats alone become float32); deltagrad made it float32."""
    for data in (
        [np.float64(1.5)],
        [np.float64(1.5), 2.0],
        [[2.0], [np.float64(1.5)]],
        [dg.tensor(1.5, dtype=dg.float64)],
        [np.array([1.5])],
        np.float64(1.5),
    ):
        assert dg.tensor(data).dtype == np.float64, data
    for data in ([1.5], [[1.5, 2]], [np.float32(1.5)], 1.5, [dg.tensor(1.5)], [True, 2.0]):
        assert dg.tensor(data).dtype == np.float32, data


# ---- shape ops ------------------------------------------------------------------------------


def test_chunk_of_an_empty_dim_gives_chunks_pieces():
    """torch.zeros(0).chunk(3) is three empty tensors; deltagrad gave one."""
    assert [c.shape for c in dg.zeros(0).chunk(3)] == [(0,)] * 3
    assert [c.shape for c in dg.zeros(2, 0).chunk(2, 1)] == [(2, 0)] * 2
    assert len(dg.zeros(0).split(2)) == 1  # split keeps one piece, as torch


def test_cat_skips_legacy_empty_1d_tensors():
    """torch.cat skips shape-(0,) tensors beside others of any shape (the `out =
    torch.cat([out, x])` idiom from `torch.tensor([])`); deltagrad raised."""
    out = dg.tensor([])
    for _ in range(2):
        out = dg.cat([out, dg.ones(1, 3)])
    assert out.shape == (2, 3)
    assert dg.cat([dg.ones(2, 1), dg.zeros(0), dg.ones(2, 2)], 1).shape == (2, 3)
    assert dg.cat([dg.zeros(0), dg.ones(2, 2)], -1).shape == (2, 2)
    assert dg.cat([dg.zeros(0), dg.ones(2, 0)]).shape == (2, 0)
    assert dg.cat([dg.zeros(0), dg.zeros(0)]).shape == (0,)
    # the skipped tensor's dtype still promotes, as torch
    assert dg.cat([dg.zeros(0, dtype=dg.float64), dg.ones(2, 3)]).dtype == np.float64
    e = dg.zeros(0, requires_grad=True)
    w = dg.ones(2, 3, requires_grad=True)
    (dg.cat([e, w]) * 2).sum().backward()
    assert e.grad.shape == (0,)
    np.testing.assert_array_equal(w.grad, np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="zero-dimensional"):
        dg.cat([dg.zeros(0), dg.tensor(1.0)])
    with pytest.raises(IndexError, match="Dimension out of range"):
        dg.cat([dg.zeros(0), dg.ones(2, 2)], 2)
    with pytest.raises(ValueError, match="sizes must match"):
        dg.cat([dg.zeros(0, 3), dg.zeros(2, 4)])


def test_activations_of_int_tensors_as_torch():
    """torch: relu keeps an int dtype (bools refused), sigmoid / tanh / logsumexp of int or
    bool input are float32; gelu and the others refuse ints. deltagrad refused them all."""
    i = dg.tensor([-1, 2])
    for r in (i.relu(), F.relu(i), dg.relu(i)):
        assert r.dtype == np.int64
        np.testing.assert_array_equal(r.numpy(), [0, 2])
    assert dg.tensor([1, 2], dtype=dg.uint8).relu().dtype == np.uint8
    assert dg.tensor([-1, 2], dtype=dg.int32).relu().dtype == np.int32
    with pytest.raises(TypeError):
        dg.tensor([True]).relu()
    sig = 1 / (1 + np.exp(-np.array([-1.0, 2.0])))
    for r in (i.sigmoid(), F.sigmoid(i)):
        assert r.dtype == np.float32
        np.testing.assert_allclose(r.numpy(), sig, rtol=1e-6)
    np.testing.assert_allclose(i.tanh().numpy(), np.tanh([-1.0, 2.0]), rtol=1e-6)
    assert dg.tensor([True, False]).sigmoid().dtype == np.float32
    lse = dg.tensor([1, 2]).logsumexp(0)
    assert lse.dtype == np.float32
    assert lse.item() == pytest.approx(np.log(np.exp(1) + np.exp(2)), rel=1e-6)
    assert dg.tensor([True, False]).logsumexp(0).item() == pytest.approx(1.3132616, rel=1e-6)
    with pytest.raises(TypeError):
        F.gelu(i)


def test_the_fixed_cases_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        lambda L: _m(L)[tuple([[0, 1], [1, 0]])],
        lambda L: _m(L)[[slice(None), [0, 2]]],
        lambda L: L.tensor([16777217]) == L.tensor([16777216.0]),
        lambda L: L.tensor([16777217]) == 16777216.0,
        lambda L: L.tensor([0.1]) == np.float64(0.1),
        lambda L: L.tensor([0.1]) == L.tensor(0.1, dtype=L.float64),
        lambda L: L.tensor([0.1]) == L.tensor([0.1], dtype=L.float64),
        lambda L: L.tensor([20, 20], dtype=L.uint8).prod(),
        lambda L: L.tensor([2.0, 3.0]) ** np.float64(2),
        lambda L: L.tensor([4, 9]) ** np.float64(0.5),
        lambda L: L.tensor([True, False]).square(),
        lambda L: L.tensor([True, False]) ** 2,
        lambda L: L.tensor([np.float64(1.5), 2.0]),
        lambda L: L.zeros(0).chunk(3),
        lambda L: L.cat([L.zeros(0), L.ones(2, 3)]),
        lambda L: L.cat([L.zeros(0, dtype=L.float64), L.ones(2, 3)]),
        lambda L: L.tensor([-1, 2]).relu(),
        lambda L: L.tensor([-1, 2]).sigmoid(),
        lambda L: L.tensor([True, False]).tanh(),
        lambda L: L.tensor([1, 2]).logsumexp(0),
    ]
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation of the list-with-slice index
            expected = case(torch)
        _same(case(dg), expected)


# ---- autograd --------------------------------------------------------------------------------


def test_requires_grad_true_on_a_graph_node_is_a_no_op():
    """torch: y.requires_grad_() on a non-leaf is allowed (it requires grad already);
    requires_grad_(False) there raises. deltagrad raised for both."""
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.requires_grad_() is y
    assert y.requires_grad and not y.is_leaf
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)


def test_no_grad_and_enable_grad_as_bare_decorators():
    """torch 2 allows @torch.no_grad and @torch.enable_grad without the call; deltagrad raised
    a TypeError."""
    x = dg.tensor([1.0], requires_grad=True)

    @dg.no_grad
    def off(t):
        return t * 2

    @dg.enable_grad
    def on(t):
        return t * 2

    assert not off(x).requires_grad
    assert off.__name__ == "off"
    with dg.no_grad():
        assert on(x).requires_grad
    assert dg.is_grad_enabled()
    with pytest.raises(TypeError, match="no_grad"):
        dg.no_grad(3)


def test_grad_mode_decorators_apply_inside_a_generator():
    """torch runs a decorated generator under the mode each time it resumes, and gives the
    caller's mode back at each yield; deltagrad's decorator covered only the call that made
    the generator, so the body recorded graphs under @no_grad()."""
    x = dg.tensor([1.0], requires_grad=True)

    def body():
        got = yield (x * 2).requires_grad
        yield (x * got).requires_grad
        return "done"

    for deco in (lambda f: dg.no_grad()(f), dg.no_grad, lambda f: dg.set_grad_enabled(False)(f)):
        gen = deco(body)()
        assert next(gen) is False
        assert dg.is_grad_enabled()  # the caller's mode between the yields
        assert gen.send(3) is False
        with pytest.raises(StopIteration) as stop:
            next(gen)
        assert stop.value.value == "done"
        assert dg.is_grad_enabled()

    @dg.enable_grad()
    def recording():
        yield (x * 2).requires_grad

    with dg.no_grad():
        assert list(recording()) == [True]
        assert not dg.is_grad_enabled()

    closed = []

    @dg.no_grad()
    def cleanup():
        try:
            yield 1
        finally:
            closed.append(dg.is_grad_enabled())

    gen = cleanup()
    next(gen)
    gen.close()
    assert closed == [False] and dg.is_grad_enabled()

    @dg.no_grad()
    def catches():
        try:
            yield 1
        except ValueError:
            yield (x * 2).requires_grad

    gen = catches()
    next(gen)
    assert gen.throw(ValueError("x")) is False


def test_grad_fn_is_none_for_leaves_and_names_a_nodes_op():
    """torch's t.grad_fn: None for a leaf (and what no_grad / detach made), a node otherwise;
    deltagrad had no grad_fn (AttributeError)."""
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert x.grad_fn is None and dg.tensor([1.0]).grad_fn is None
    assert y.grad_fn is not None and y.grad_fn.name() == "mul"
    assert repr(y.grad_fn) == "<mul>"
    assert y.detach().grad_fn is None
    with dg.no_grad():
        assert (x * 3).grad_fn is None
    y.sum().backward()
    assert y.grad_fn is not None  # as torch: still there after backward


def test_detach__makes_a_leaf_in_place():
    """torch's detach_(): the tensor becomes a leaf that does not require grad, sharing its
    data. deltagrad had none; it refuses a live graph node (graphs built from it would lose
    their gradient path through it, which torch keeps)."""
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert x.detach_() is x
    assert not x.requires_grad and x.is_leaf
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    with pytest.raises(RuntimeError, match="detach_.*detach\\(\\)"):
        h.detach_()
    (h * h).sum().backward()  # frees h's graph: the truncated-backprop use of detach_
    data = h.data
    h.detach_()
    assert h.is_leaf and not h.requires_grad and h.grad_fn is None and h.data is data
    np.testing.assert_array_equal((h * 3).numpy(), [6.0, 12.0])
    h2 = w * 2
    h2.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="live"):
        h2.detach_()  # a retained graph is live


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (lambda x: x * dg.tensor([3.0, 4.0]), [3.0, 4.0]),
        (lambda x: x.reshape(1, 2) @ dg.tensor([[1.0], [2.0]]), [1.0, 2.0]),
        (lambda x: x.reshape(1, 1, 2) @ dg.tensor([[1.0], [2.0]]), [1.0, 2.0]),
        (lambda x: x**2, [2.0, -4.0]),
        (lambda x: dg.maximum(x, dg.zeros(2)), [1.0, 0.0]),
        (lambda x: x % 3, [1.0, 1.0]),
        (lambda x: F.leaky_relu(x, 0.1), [1.0, 0.1]),
    ],
)
def test_an_output_its_backward_does_not_read_may_change_in_place(op, expected):
    """torch saves what each backward reads: mul, matmul, pow by a number, maximum, remainder
    and leaky_relu read their inputs, not their output, so changing the output in place (under
    no_grad) before backward is fine there; deltagrad raised 'modified by an in-place
    operation'. An op that reads its output (exp, relu, sigmoid) still raises, as torch."""
    x = dg.tensor([1.0, -2.0], requires_grad=True)
    y = op(x)
    with dg.no_grad():
        y.add_(1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6)
    for op in (dg.exp, dg.relu, dg.sigmoid):
        y = op(x)
        with dg.no_grad():
            y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            y.sum().backward()


def test_a_tensor_assigned_to_grad_is_read_as_its_array():
    """torch users write `p.grad = torch.zeros_like(p)`: every reader of .grad (backward, the
    optimizers, clipping, zero_grad) takes the Tensor's array (SGD raised AttributeError)."""
    w = np.array([1.0, -2.0, 3.0], np.float32)
    for step in (
        lambda p: dg.optim.SGD([p], lr=0.5, momentum=0.9).step(),
        lambda p: dg.optim.Adam([p], lr=0.5).step(),
        lambda p: dg.nn.utils.clip_grad_value_([p], 0.5),
        lambda p: dg.nn.utils.clip_grad_norm_([p], 0.5),
        lambda p: dg.optim.SGD([p], lr=0.5).zero_grad(set_to_none=False),
        lambda p: (p * 2).sum().backward(),
    ):
        p, q = dg.nn.Parameter(w.copy()), dg.nn.Parameter(w.copy())
        p.grad = dg.tensor(np.ones(3, np.float32))
        q.grad = np.ones(3, np.float32)
        step(p)
        step(q)
        assert isinstance(p.grad, np.ndarray)
        np.testing.assert_array_equal(p.grad, q.grad)
        np.testing.assert_array_equal(p.data, q.data)


def test_inference_mode_is_no_grad():
    x = dg.tensor(np.ones(2, np.float32), requires_grad=True)
    with dg.inference_mode():
        assert not (x * 2).requires_grad
    with dg.inference_mode(False):
        assert (x * 2).requires_grad

    @dg.inference_mode
    def f(t):
        return t * 2

    @dg.inference_mode()
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    with dg.no_grad(), dg.inference_mode(False):
        assert not (x * 2).requires_grad  # False leaves the mode as it is
    with pytest.raises(TypeError, match="inference_mode"):
        dg.inference_mode("yes")
