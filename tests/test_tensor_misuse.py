"""Tensor misuse is a Python exception, never a wrong gradient: in-place changes to saved
tensors (version counter), in-place ops on leaves that require grad, a second backward through a
freed graph, operands on different devices; and numerically stable losses at |logit| = 1e4."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad.testing import assert_close

DTYPES = (np.float32, np.float64)


def _t(a, grad=False, dtype=np.float64):
    return dg.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


# ---- version counter ---------------------------------------------------------------------------


def test_in_place_change_of_a_saved_input_raises_on_backward():
    w = _t([1.0, 2.0], grad=True)
    x = _t([3.0, 4.0])
    y = (w * x).sum()
    x.add_(1.0)  # mul saved x
    with pytest.raises(
        RuntimeError,
        match=r"gradient of 'mul'.*modified by an in-place "
        r"operation.*version 1, expected version 0",
    ):
        y.backward()


def test_in_place_change_of_an_unsaved_input_is_fine():
    """add's backward reads no data, so changing its input afterwards is allowed (as torch)."""
    w = _t([1.0, 2.0], grad=True)
    x = _t([3.0, 4.0])
    y = (w + x).sum()
    x.add_(1.0)
    y.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])


def test_optimizer_step_between_forward_and_backward_raises():
    dg.manual_seed(0)
    model = dg.nn.Linear(3, 2, dtype=np.float64)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    x = _t(np.random.default_rng(0).normal(size=(4, 3)))
    loss1 = model(x).sum()
    loss1.backward()
    loss2 = model(x).sum()  # a graph that saved the weights
    opt.step()  # changes them in place
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss2.backward()


def test_in_place_change_of_an_op_output_that_its_backward_reads():
    x = _t([0.5, -1.0], grad=True)
    y = F.sigmoid(x)  # backward reads y
    with dg.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="'sigmoid' \\(its output\\)"):
        y.sum().backward()


def test_detach_shares_the_version_counter():
    w = _t([1.0, 2.0], grad=True)
    y = (w * w).sum()
    w.detach()[0] = 5.0  # writes w's data through the detached tensor
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_setitem_and_augmented_assignment_bump_the_version():
    x = _t([1.0, 2.0, 3.0])
    v0 = x._version[0]
    x[1] = 7.0
    x += 1.0
    x *= 2.0
    x -= 1.0
    x /= 2.0
    assert x._version[0] == v0 + 5
    np.testing.assert_array_equal(x.numpy(), (np.array([1.0, 7.0, 3.0]) + 1) * 2 / 2 - 0.5)


# ---- in-place ops, torch semantics -------------------------------------------------------------


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = _t([1.0, 2.0], grad=True)
    for op in (
        lambda: w.add_(1.0),
        lambda: w.mul_(2.0),
        lambda: w.zero_(),
        lambda: w.__setitem__(0, 3.0),
        lambda: w.copy_(np.zeros(2)),
    ):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            op()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


def test_in_place_on_a_graph_node_raises():
    w = _t([1.0, 2.0], grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match="part of a graph"):
        y.add_(1.0)


def test_manual_sgd_update_under_no_grad_changes_the_parameter_itself():
    """`p -= lr * p.grad` must update the model's parameter, not rebind a local name (a silent
    no-op would be a wrong answer)."""
    dg.manual_seed(1)
    model = dg.nn.Linear(2, 1, dtype=np.float64)
    before = model.weight.numpy().copy()
    x = _t([[1.0, 2.0]])
    model(x).sum().backward()
    with dg.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert_close(
        model.weight.numpy(),
        before - 0.1 * np.array([[1.0, 2.0]]),
        rtol=1e-7,
        atol=0.0,
        equal_nan=True,
    )
    assert model.weight.requires_grad and model.weight.is_leaf


def test_in_place_ops_keep_the_dtype_and_check_shapes():
    x = _t([1.0, 2.0], dtype=np.float32)
    x.add_(np.array([0.5, 0.25]))  # float64 operand, float32 tensor
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), np.array([1.5, 2.25], np.float32))
    v = x._version[0]
    with pytest.raises(ValueError):
        x.add_(np.ones(3))
    assert x._version[0] == v  # nothing was written: the version is unchanged


# ---- freed graphs, devices --------------------------------------------------------------------


def test_second_backward_through_a_freed_graph_raises():
    x = _t([1.0, 2.0], grad=True)
    y = (F.tanh(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = _t([1.0, 2.0], grad=True)
    y = (F.tanh(x) * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.copy()
    y.backward()
    assert_close(x.grad, 2 * g1, rtol=1e-7, atol=0.0, equal_nan=True)


class _FakeDeviceArray:
    """Looks like a CUDA array to deltagrad's device test (no GPU on the CI machine)."""

    dtype = np.dtype(np.float64)

    def __init__(self, shape):
        self.shape, self.ndim = shape, len(shape)
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": "<f8",
            "data": (0, False),
            "version": 3,
        }


def _fake_cuda_tensor(shape=(2,)):
    t = dg.tensor(np.zeros(shape))
    t.data = _FakeDeviceArray(shape)
    return t


@pytest.mark.parametrize("op", ["add", "mul", "sub", "matmul"])
def test_operands_on_different_devices_raise(op):
    cpu = _t([1.0, 2.0], grad=True)
    gpu = _fake_cuda_tensor()
    fn = {
        "add": lambda a, b: a + b,
        "mul": lambda a, b: a * b,
        "sub": lambda a, b: a - b,
        "matmul": lambda a, b: a @ b,
    }[op]
    with pytest.raises(RuntimeError, match="same device, got cpu and cuda"):
        fn(cpu, gpu)
    with pytest.raises(RuntimeError, match="same device"):
        fn(cpu, gpu.data)  # a raw device array operand


def test_functional_ops_on_mixed_devices_raise_a_clear_error():
    x = _t(np.ones((2, 2)))
    w = _fake_cuda_tensor((2, 2))
    with pytest.raises((TypeError, RuntimeError), match="different devices|same device"):
        F.linear(x, w)


def test_unknown_device_names_raise():
    with pytest.raises(ValueError, match="device: expected 'cpu' or 'cuda', got 'gpu'"):
        dg.tensor([1.0], device="gpu")


# ---- numerical safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_logit_losses_finite_with_finite_gradients_at_large_logits(dtype, scale):
    rng = np.random.default_rng(3)
    z = rng.choice([-1.0, 1.0], size=(6, 5)) * scale
    z[:, 0] = scale  # ties and extremes in every row
    labels = rng.integers(0, 5, 6)
    for loss_fn in (
        lambda t: F.cross_entropy(t, labels),
        lambda t: F.binary_cross_entropy_with_logits(t, (rng.random((6, 5)) > 0.5).astype(dtype)),
        lambda t: F.log_softmax(t, -1).sum(),
        lambda t: (F.softmax(t, -1) * t).sum(),
    ):
        t = dg.tensor(z.astype(dtype), requires_grad=True)
        loss = loss_fn(t)
        assert np.isfinite(loss.item())
        loss.backward()
        assert np.isfinite(t.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_at_1e4_matches_the_exact_value(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4 + 1.0]], dtype=dtype)
    loss = F.cross_entropy(dg.tensor(z), np.array([1, 2]), reduction="none").numpy()
    # row 0: log-sum-exp = 1e4, loss = 1e4 - (-1e4) = 2e4; row 1: log(2 e^-1e4 + e^(-1e4+1))
    want = np.array([2e4, np.log(2 * np.exp(-1.0) + 1.0)])
    assert_close(loss, want, rtol=1e-6, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_on_probabilities_is_finite_at_0_and_1(dtype):
    p = dg.tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = F.binary_cross_entropy(p, t, reduction="sum")
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(200.0)  # log clamped at -100
    loss.backward()
    assert np.isfinite(p.grad).all()
