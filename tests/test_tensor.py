"""Tensor: forward values and gradients of every op against NumPy float64, graph semantics
(accumulation, retain_graph, no_grad, detach), and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.testing import assert_close, check_op


def leaf(a, requires_grad=True):
    return dg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- ops against NumPy (forward, gradients vs the reference's, gradcheck) ------------------


@pytest.mark.parametrize(
    "shapes",
    [
        [(3, 4), (3, 4)],
        [(3, 4), (4,)],
        [(5, 1), (1, 6)],
        [(1,), (7,)],
        [(), (2, 3)],
        [(2, 1, 3), (4, 1)],
    ],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_broadcast(op, shapes):
    fn = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
    }[op]
    # keep divisors away from 0
    rng = np.random.default_rng(1)
    a = rng.uniform(-2, 2, shapes[0])
    b = rng.uniform(0.5, 2, shapes[1]) * rng.choice([-1, 1], shapes[1])
    check_op(fn, fn, shapes, inputs=[a, b])


@pytest.mark.parametrize("scalar", [2.5, -3, 0.5])
def test_scalar_operands_both_sides(scalar):
    for fn in (
        lambda a: a + scalar,
        lambda a: scalar + a,
        lambda a: a - scalar,
        lambda a: scalar - a,
        lambda a: a * scalar,
        lambda a: scalar * a,
        lambda a: a / scalar,
        lambda a: scalar / a,
        lambda a: -a,
    ):
        check_op(fn, fn, [(3, 5)], low=0.5, high=2.0)


def test_numpy_array_operands_defer_to_tensor():
    rng = np.random.default_rng(2)
    b = rng.standard_normal((3, 4))
    check_op(lambda a: b * a, lambda a: b * a, [(3, 4)], dtype=np.float64)  # b is float64
    check_op(lambda a: b - a, lambda a: b - a, [(4,)], dtype=np.float64)
    assert isinstance(b * leaf(b), dg.Tensor)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 1])
def test_pow_scalar_exponent(p):
    check_op(lambda a: a**p, lambda a: a**p, [(4, 3)], low=0.3, high=2.0)


def test_pow_tensor_exponent_and_rpow():
    check_op(lambda a, b: a**b, lambda a, b: a**b, [(3, 4), (4,)], low=0.3, high=2.0)
    check_op(lambda a: 2.0**a, lambda a: 2.0**a, [(5,)])


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((1, 1), (1, 1)),
        ((7, 1), (1, 3)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((5,), (5,)),
    ],
)
def test_matmul(sa, sb):
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, [sa, sb])


def test_matmul_on_transposed_views():
    check_op(lambda a, b: a.T @ b, lambda a, b: a.T @ b, [(4, 3), (4, 5)])
    check_op(lambda a, b: a @ b.T, lambda a, b: a @ b.T, [(2, 6), (3, 6)])


def test_matmul_errors():
    a, b = leaf(np.ones((3, 4))), leaf(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        a @ b
    with pytest.raises(ValueError, match="batch dimensions"):
        leaf(np.ones((2, 3, 4))) @ leaf(np.ones((3, 4, 2)))
    with pytest.raises(TypeError, match="dtype"):
        a @ dg.tensor(np.ones((4, 2), dtype=np.float32))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_mean(axis, keepdims):
    check_op(
        lambda a: a.sum(axis=axis, keepdims=keepdims),
        lambda a: np.sum(a, axis=axis, keepdims=keepdims),
        [(3, 1, 5)],
    )
    check_op(
        lambda a: a.mean(axis=axis, keepdims=keepdims),
        lambda a: np.mean(a, axis=axis, keepdims=keepdims),
        [(3, 1, 5)],
    )


def test_sum_of_0d_and_size_1():
    check_op(lambda a: a.sum(), np.sum, [()])
    check_op(lambda a: a.mean(axis=0), lambda a: a.mean(axis=0), [(1,)])
    with pytest.raises(IndexError, match="sum: dim"):  # torch's error for a bad dim
        leaf(np.ones((2, 3))).sum(axis=2)


def test_reshape_transpose_flatten():
    check_op(lambda a: a.reshape(6, 2) * 2, lambda a: a.reshape(6, 2) * 2, [(3, 4)])
    check_op(lambda a: a.reshape((2, -1)), lambda a: a.reshape((2, -1)), [(3, 4)])
    check_op(lambda a: a.T, lambda a: a.T, [(3, 4)])
    check_op(lambda a: a.flatten(), lambda a: a.ravel(), [(2, 3)])
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        leaf(np.ones((3, 4))).reshape(5, 2)


def test_indexing_rows_slices_and_repeats():
    idx = np.array([2, 0, 2, 4])  # repeated rows accumulate
    check_op(lambda a: a[idx], lambda a: a[idx], [(5, 3)])
    check_op(lambda a: a[1:4], lambda a: a[1:4], [(5, 3)])
    check_op(lambda a: a[:, 1], lambda a: a[:, 1], [(5, 3)])
    check_op(lambda a: a[2], lambda a: a[2], [(5, 3)])
    check_op(lambda a: a[dg.tensor(idx)], lambda a: a[idx], [(5, 3)])
    check_op(lambda a: a[np.array([True, False, True])], lambda a: a[[0, 2]], [(3, 2)])


def test_exp_log():
    check_op(lambda a: a.exp(), np.exp, [(4, 3)])
    check_op(lambda a: a.log(), np.log, [(4, 3)], low=0.2, high=3.0)


# ---- graph semantics ------------------------------------------------------------------------


def test_diamond_graph_accumulates():
    # y = x*x + 3*x: x feeds two paths; dy/dx = 2x + 3
    x = leaf([1.5, -2.0, 0.25])
    y = (x * x + 3 * x).sum()
    y.backward()
    assert_close(x.grad, 2 * x.data + 3, rtol=1e-7, atol=0.0, equal_nan=True)


def test_same_tensor_twice_in_one_op():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    (x @ x).sum().backward()
    g = np.ones((2, 2))
    assert_close(x.grad, g @ x.data.T + x.data.T @ g, rtol=1e-7, atol=0.0, equal_nan=True)


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    first = x.grad.copy()
    (x * x).sum().backward()
    assert_close(x.grad, 2 * first, rtol=1e-7, atol=0.0, equal_nan=True)
    x.grad = None
    (x * 2).sum().backward()
    assert_close(x.grad, [2.0, 2.0, 2.0], rtol=1e-7, atol=0.0, equal_nan=True)


def test_graph_freed_unless_retained():
    x = leaf([1.0, -2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 4 * x.data, rtol=1e-7, atol=0.0, equal_nan=True)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_leaves_never_share_a_gradient_array():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad += 1.0
    assert_close(b.grad, [1.0, 1.0], rtol=1e-7, atol=0.0, equal_nan=True)


def test_backward_grad_argument_is_copied_and_checked():
    x = leaf([1.0, 2.0])
    g = np.array([3.0, 5.0])
    (x * 1.0).backward(g)
    assert_close(x.grad, g, rtol=1e-7, atol=0.0, equal_nan=True)
    x.grad[0] = 100.0
    assert g[0] == 3.0
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        (x * 1.0).backward(np.ones(3))


def test_nonscalar_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="one-element"):
        (leaf([1.0, 2.0]) * 2).backward()


def test_backward_on_a_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        leaf([1.0], requires_grad=False).backward()


def test_interior_nodes_keep_no_grad_and_leaf_root_works():
    x = leaf([2.0, 3.0])
    h = x * 2
    h.sum().backward()
    assert h.grad is None
    s = leaf(4.0)
    s.backward()
    assert s.grad == 1.0


def test_requires_grad_propagates_and_no_grad():
    a, c = leaf([1.0]), leaf([2.0], requires_grad=False)
    assert (a * c).requires_grad and not (c * c).requires_grad
    with dg.no_grad():
        y = a * c
        assert not y.requires_grad and y.is_leaf
    assert (a * c).requires_grad

    @dg.no_grad()
    def f(t):
        return t * 2

    assert not f(a).requires_grad
    from deltagrad.tensor import enable_grad

    with dg.no_grad(), enable_grad():
        assert (a * 2).requires_grad


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 3).detach() * x
    y.sum().backward()
    assert_close(
        x.grad, 3 * x.data, rtol=1e-7, atol=0.0, equal_nan=True
    )  # only the non-detached path
    d = x.detach()
    assert not d.requires_grad and d.data is x.data


def test_deep_chain_has_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, [1.0001**5000], rtol=1e-9, atol=0.0, equal_nan=True)


def test_mixed_dtypes_promote_and_grads_keep_leaf_dtype():
    a = dg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = leaf(np.full(3, 2.0))
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


# ---- construction, properties, errors -------------------------------------------------------


def test_construction_and_properties():
    t = dg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32  # Python floats default to float32, as in torch
    assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and len(t) == 2
    assert t.size() == (2, 2) and t.size(1) == 2  # torch's size(), a method
    assert t.device == "cpu" and not t.requires_grad and t.grad is None
    a = np.arange(3.0)
    assert dg.as_tensor(a).data is a and dg.from_numpy(a).data is a  # these share memory
    assert not np.shares_memory(dg.tensor(a).data, a)  # dg.tensor copies, as torch.tensor
    assert dg.tensor(a, dtype=np.float32).dtype == np.float32
    assert dg.tensor(np.array([1, 2])).dtype == np.int64
    assert dg.tensor(3.5).item() == 3.5
    assert isinstance(dg.Tensor(a), dg.Tensor) and isinstance(dg.tensor(a), dg.Tensor)
    np.testing.assert_array_equal(np.asarray(dg.tensor(a)), a)
    assert dg.tensor(a).tolist() == [0.0, 1.0, 2.0]


def test_repr_and_errors():
    t = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert "requires_grad=True" in repr(t) and "float64" in repr(t)
    assert "grad_fn=<mul>" in repr(t * 2)
    with pytest.raises(TypeError, match="0-d"):
        len(dg.tensor(1.0))
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    with pytest.raises(TypeError, match="float"):
        dg.tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (t * 2).requires_grad_(False)
    with pytest.raises(TypeError, match="unsupported operand"):
        t + "a"
    with pytest.raises(ValueError, match="device"):
        dg.tensor([1.0], device="tpu")


def test_to_cuda_without_a_gpu_raises_runtime_error():
    if dg.info()["cuda_available"]:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="cuda"):
        dg.tensor([1.0]).to("cuda")


def test_astype_and_to_dtype_are_differentiable():
    x = dg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.to(np.float64) * 3
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert_close(x.grad, [3.0, 3.0], rtol=1e-7, atol=0.0, equal_nan=True)
    assert x.to("cpu") is x


# ---- property: broadcasting gradients for any pair of broadcastable shapes -----------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import mutually_broadcastable_shapes
except ImportError:  # pragma: no cover
    given = None

if given is not None:

    @settings(max_examples=60, deadline=None)
    @given(
        shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
        op=st.sampled_from(["add", "sub", "mul", "div"]),
    )
    def test_broadcast_gradients_property(shapes, op):
        sa, sb = shapes.input_shapes
        rng = np.random.default_rng(0)
        a = rng.uniform(0.5, 2.0, sa)
        b = rng.uniform(0.5, 2.0, sb)
        ta, tb = leaf(a), leaf(b)
        f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op]
        y = {"add": ta + tb, "sub": ta - tb, "mul": ta * tb, "div": ta / tb}[op]
        g = rng.standard_normal(shapes.result_shape)
        y.backward(g)
        # d/da sum(g * f(a, b)) reduced over the broadcast axes, by NumPy's own rules
        da = {"add": g, "sub": g, "mul": g * b, "div": g / b}[op]
        db = {"add": g, "sub": -g, "mul": g * a, "div": -g * a / b**2}[op]

        def reduce_to(x, shape):
            x = np.broadcast_to(x, shapes.result_shape)
            lead = x.ndim - len(shape)
            x = x.sum(axis=tuple(range(lead)))
            axes = tuple(i for i, n in enumerate(shape) if n == 1)
            return x.sum(axis=axes, keepdims=True).reshape(shape)

        assert_close(y.data, f(a, b), rtol=1e-12, atol=0.0, equal_nan=True)
        assert_close(ta.grad, reduce_to(da, sa), rtol=1e-10, atol=1e-12, equal_nan=True)
        assert_close(tb.grad, reduce_to(db, sb), rtol=1e-10, atol=1e-12, equal_nan=True)
        assert ta.grad.shape == sa and tb.grad.shape == sb


@pytest.mark.cuda
def test_to_cuda_and_back_is_differentiable():
    if not dg.info()["cuda_available"]:
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("cupy")
    x = leaf([1.0, -2.0, 3.0])
    y = x.to("cuda")
    assert y.device == "cuda" and y.requires_grad
    z = (y * y).to("cpu")
    assert z.device == "cpu"
    z.sum().backward()
    assert_close(x.grad, 2 * x.data, rtol=1e-7, atol=0.0, equal_nan=True)
