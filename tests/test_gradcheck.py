"""gradcheck and check_op: they pass correct ops and catch wrong backward passes."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad.tensor import Tensor
from deltagrad.testing import check_op


def _square(x: Tensor, factor: float = 2.0) -> Tensor:
    """x**2 with a backward of factor * x (factor 2 is right, anything else is a bug)."""

    def _backward(g):
        x._accumulate(g * factor * x.data)

    return Tensor._make(x.data**2, (x,), _backward, "square")


def _rand(*shape, seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_passes_a_correct_backward():
    assert dg.gradcheck(_square, _rand(3, 4))
    assert dg.gradcheck(_square, (_rand(5),), fast_mode=True)


def test_wrong_backward_fails_and_names_the_worst_entry():
    x = _rand(3, 4)
    with pytest.raises(dg.GradcheckError) as err:
        dg.gradcheck(lambda t: _square(t, 1.0), x)
    msg = str(err.value)
    assert "output 0" in msg and "input 0" in msg and "numerical" in msg and "analytical" in msg
    # the worst entry is the largest |x| (error |x| there); its index is named
    worst = np.unravel_index(np.argmax(np.abs(x.data)), x.shape)
    assert f"input 0{[int(i) for i in worst]}" in msg
    assert isinstance(err.value, RuntimeError)


def test_wrong_backward_returns_false_without_raising():
    assert dg.gradcheck(lambda t: _square(t, 2.1), _rand(4), raise_exception=False) is False


def test_fast_mode_catches_a_wrong_backward():
    with pytest.raises(dg.GradcheckError, match="fast mode"):
        dg.gradcheck(lambda t: _square(t, 1.5), _rand(6), fast_mode=True)


def test_wrong_gradient_of_one_input_among_several():
    a, b = _rand(3, seed=1), _rand(3, seed=2)

    def f(a, b):
        def _backward(g):
            a._accumulate(g * b.data)
            b._accumulate(g * b.data)  # should be g * a

        return Tensor._make(a.data * b.data, (a, b), _backward, "bad_mul")

    with pytest.raises(dg.GradcheckError, match="input 1"):
        dg.gradcheck(f, (a, b))


def test_multiple_outputs_constants_and_float32_inputs():
    a = dg.tensor(
        np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32), requires_grad=True
    )  # checked through a float64 copy
    c = dg.tensor(np.arange(3.0))  # a constant: not checked
    assert dg.gradcheck(lambda a, c, k: (a * c * k, (a * a).sum()), (a, c, 2.0))
    assert a.grad is None


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        dg.gradcheck(lambda t: t * 2, dg.tensor(np.ones(2)))


def test_output_must_be_a_tensor():
    with pytest.raises(TypeError, match="Tensor"):
        dg.gradcheck(lambda t: 1.0, _rand(2))


def test_check_op_catches_a_wrong_forward_and_a_wrong_gradient():
    with pytest.raises(AssertionError, match="forward"):
        check_op(F.tanh, lambda x: np.tanh(x) + 1e-3, [(3, 2)])
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_op(lambda t: _square(t, 1.0), lambda x: x**2, [(4,)])


def test_check_op_one_liners():
    check_op(F.tanh, np.tanh, [(7, 3)])
    check_op(lambda a, b: a * b, lambda a, b: a * b, [(5, 1), (1, 4)])
    check_op(lambda a, b: a * b, lambda a, b: a * b, [(2, 2), (2, 2)], grad=[True, False])
    check_op(F.relu, lambda x: np.maximum(x, 0), [(9,)], dtype=np.float32, atol=1e-6)
