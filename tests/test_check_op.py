"""deltagrad.testing: check_op passes for every built-in differentiable op on every available
device (cpu, the SIMT emulator, cuda when present), and catches what it must catch; assert_close
never lets a NaN pass."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import reference as R
from deltagrad import testing
from deltagrad.testing import (
    Ints,
    OpCheckError,
    assert_close,
    available_devices,
    check_op,
)

DEVICES = available_devices()


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _act(name, **kw):
    return lambda x: R.activation(x, name, **kw)


def _first(fn):
    """The loss of a reference that returns (loss, gradient)."""
    return lambda *a: fn(*a)[0]


# (id, op on Tensors, reference on float64 arrays, input specs, extra check_op kwargs)
BUILTINS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [("n", "m"), ("m",)], {}),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, [("n", "m"), ("n", 1)], {}),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, [("n", "m"), ("n", "m")], {}),
    (
        "div",
        lambda a, b: a / b,
        lambda a, b: a / b,
        [("n", "m"), ("n", "m")],
        {"low": 0.5, "high": 2.0},
    ),
    ("pow_scalar", lambda a: a**3, lambda a: a**3, [("n", "m")], {}),
    ("neg", lambda a: -a, lambda a: -a, [("n",)], {}),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [("n", "k"), ("k", "m")], {}),
    ("matmul_vec", lambda a, b: a @ b, lambda a, b: a @ b, [("n", "k"), ("k",)], {}),
    ("transpose", lambda a: a.T, lambda a: a.T, [("n", "m")], {}),
    ("reshape", lambda a: a.reshape(-1), lambda a: a.reshape(-1), [("n", "m")], {}),
    ("index", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [("n", "m")], {}),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), [("n", "m")], {}),
    ("sum_axis0", lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), [("n", "m", 3)], {}),
    (
        "mean_axis1",
        lambda a: a.mean(axis=1, keepdims=True),
        lambda a: a.mean(axis=1, keepdims=True),
        [("n", "m")],
        {"empty": False},
    ),
    ("exp", lambda a: a.exp(), np.exp, [("n", "m")], {}),
    ("log", lambda a: a.log(), np.log, [("n", "m")], {"low": 0.2, "high": 3.0}),
    ("sigmoid_vs_tanh_form", F.sigmoid, _sig, [("n", "m")], {}),
    ("tanh_vs_numpy", F.tanh, np.tanh, [("n", "m")], {}),
    ("softmax", lambda x: F.softmax(x, -1), R.softmax, [("n", "c")], {}),
    ("log_softmax", lambda x: F.log_softmax(x, -1), R.log_softmax, [("n", "c")], {}),
    ("softmax_axis0", lambda x: F.softmax(x, axis=0), lambda x: R.softmax(x.T).T, [("n", "c")], {}),
    ("linear", F.linear, lambda x, w, b: x @ w.T + b, [("n", "k"), ("m", "k"), ("m",)], {}),
    (
        "linear_nobias",
        lambda x, w: F.linear(x, w),
        lambda x, w: x @ w.T,
        [("n", "k"), ("m", "k")],
        {},
    ),
    ("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), lambda x: x, [("n", "m")], {}),
    ("sum_of_squares", F.sum_of_squares, _first(R.sum_of_squares), [("n", "m"), ("n", "m")], {}),
    *[
        (
            f"mse_{r}",
            lambda y, t, r=r: F.mse_loss(y, t, r),
            lambda y, t, r=r: R.mse_loss(y, t, r)[0],
            [("n", "m"), ("n", "m")],
            {"empty": r != "mean"},
        )
        for r in ("mean", "sum", "none")
    ],
    *[
        (
            f"bce_{r}",
            lambda p, t, r=r: F.binary_cross_entropy(p, t, r),
            lambda p, t, r=r: R.binary_cross_entropy(p, t, r)[0],
            [("n", "m"), ("n", "m")],
            {"low": 0.05, "high": 0.95, "grad": [True, False], "empty": r != "mean"},
        )
        for r in ("mean", "sum", "none")
    ],
    *[
        (
            f"bce_logits_{r}",
            lambda z, t, r=r: F.binary_cross_entropy_with_logits(z, t, r),
            lambda z, t, r=r: R.binary_cross_entropy_with_logits(z, t, r)[0],
            [("n", "m"), ("n", "m")],
            {"grad": [True, False], "empty": r != "mean"},
        )
        for r in ("mean", "sum", "none")
    ],
    *[
        (
            f"cross_entropy_{r}",
            lambda z, t, r=r: F.cross_entropy(z, t, r),
            lambda z, t, r=r: R.softmax_cross_entropy(z, t, r)[0],
            [("n", "c"), Ints(("n",), high="c")],
            {"empty": r != "mean"},
        )
        for r in ("mean", "sum", "none")
    ],
]
# Every activation the kernels know (a new one is covered here without editing this file):
# the elementwise op F.<name> and the fused F.linear(..., activation=name) (GEMM epilogue and
# fused backward), each against deltagrad.reference.activation.
_F_ACT = {
    "identity": F.identity,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
for _name in dg.ops.ACTIVATIONS:
    # the F function's param: leaky_relu's slope below, elu's and celu's default alpha
    _param = (
        {"param": 0.1}
        if _name == "leaky_relu"
        else {"param": 1.0}
        if _name in ("elu", "celu")
        else {}
    )
    BUILTINS.append(
        (_name, _F_ACT.get(_name) or getattr(F, _name), _act(_name, **_param), [("n", "m")], {})
    )
    BUILTINS.append(
        (
            f"linear_{_name}",
            lambda x, w, b, a=_name: F.linear(x, w, b, activation=a, negative_slope=0.1),
            lambda x, w, b, a=_name, p=_param: R.activation(x @ w.T + b, a, **p),
            [("n", "k"), ("m", "k"), ("m",)],
            {},
        )
    )


@pytest.mark.parametrize("case", BUILTINS, ids=[c[0] for c in BUILTINS])
def test_check_op_passes_for_every_builtin(case, device):
    name, op, ref, specs, kw = case
    report = check_op(op, ref, specs, devices=[device], name=name, seed=7, **kw)
    assert report.ok
    # every (dtype, shape draw) ran, and the non-empty float64 draws ran the gradient checks
    assert len(report.lines) >= 6
    assert any("gradients" in ln and "float64" in ln for ln in report.lines), str(report)


def test_check_op_runs_on_simt_through_the_emulator_kernels(monkeypatch):
    """The "simt" device really runs the csrc/cuda kernels: break the emulator's activation
    and check_op on simt fails while cpu still passes."""
    if "simt" not in DEVICES:
        pytest.skip("the _simt module is not built")
    simt = testing.simt_module().ops
    real = simt.activation

    def broken(x, act, **kw):
        return real(x, act, **kw) * 1.001

    monkeypatch.setattr(simt, "activation", broken)
    check_op(F.tanh, np.tanh, [("n", "m")], devices=["cpu"])
    with pytest.raises(OpCheckError, match="device 'simt'.*forward"):
        check_op(F.tanh, np.tanh, [("n", "m")], devices=["simt"])


# ---- catching mistakes -------------------------------------------------------------------------


class WrongBackward(dg.autograd.Function):
    """x * y with the gradient of y deliberately wrong at one index."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gy = g * x
        gy.flat[2] += 0.5  # the bug
        return g * y, gy


def test_wrong_backward_is_caught_by_check_op_naming_input_and_index():
    with pytest.raises(OpCheckError) as err:
        check_op(WrongBackward.apply, lambda x, y: x * y, [(2, 3), (2, 3)], devices=["cpu"])
    msg = str(err.value)
    assert msg.startswith("check_op(WrongBackward.apply) failed"), msg
    assert "gradient of input 1" in msg and "index (0, 2)" in msg, msg


def test_wrong_backward_is_caught_by_gradcheck_naming_input_and_index():
    x = dg.tensor(np.random.default_rng(0).normal(size=(2, 3)), requires_grad=True)
    y = dg.tensor(np.random.default_rng(1).normal(size=(2, 3)), requires_grad=True)
    with pytest.raises(dg.GradcheckError, match=r"input 1\[0, 2\]"):
        dg.gradcheck(WrongBackward.apply, (x, y))
    assert not dg.gradcheck(WrongBackward.apply, (x, y), raise_exception=False)


def test_check_op_catches_a_wrong_forward_and_reports_it():
    report = check_op(
        lambda x: x * 1.0001, lambda x: x, [(3, 4)], devices=["cpu"], raise_exception=False
    )
    assert not report.ok
    assert "forward" in str(report) and "FAIL" in str(report)


def test_check_op_catches_a_forward_that_differs_from_the_reference_backward_too():
    """A backward consistent with a wrong forward passes gradcheck but not check_op, whose
    gradients come from the reference."""
    op = lambda x: x * 2.0  # noqa: E731
    with pytest.raises(OpCheckError, match="forward"):
        check_op(op, lambda x: 2.0 * x + 1e-3, [(3,)], devices=["cpu"])


def test_check_op_catches_nan_at_extremes():
    class Unstable(dg.autograd.Function):  # log(1 + exp(x)) computed naively
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            with np.errstate(over="ignore"):
                return np.log1p(np.exp(x))

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with np.errstate(over="ignore", invalid="ignore"):
                return g * np.exp(x) / (1 + np.exp(x))

    with pytest.raises(OpCheckError, match="extreme"):
        check_op(Unstable.apply, _act("softplus"), [(4, 3)], devices=["cpu"])


def test_check_op_reports_what_it_checked():
    report = check_op(F.tanh, np.tanh, [("n", "m")], devices=["cpu"], trials=2)
    text = str(report)
    assert text.startswith("check_op(tanh): ok")
    assert "float32" in text and "float64" in text and "gradcheck" in text
    assert "(0, 1)" in text  # the empty case ran


def test_check_op_validates_its_arguments():
    with pytest.raises(ValueError, match="grad has 1 entries for 2 inputs"):
        check_op(lambda a, b: a + b, lambda a, b: a + b, [(2,), (2,)], grad=[True])
    with pytest.raises(ValueError, match="dtypes"):
        check_op(F.tanh, np.tanh, [(2,)], dtypes=[np.int32])
    with pytest.raises(ValueError, match="device"):
        check_op(F.tanh, np.tanh, [(2,)], devices=["tpu"])


# ---- assert_close ------------------------------------------------------------------------------


def test_assert_close_is_atol_plus_rtol_times_expected():
    assert_close(np.array([1.0, 100.0]), np.array([1.0 + 1.5e-5, 100.001]), rtol=1e-5, atol=1e-5)
    with pytest.raises(AssertionError, match=r"1 of 2 elements differ; worst at index \(1,\)"):
        assert_close(np.array([1.0, 100.0]), np.array([1.0, 100.01]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "actual,expected",
    [
        (np.array([np.nan]), np.array([1.0])),
        (np.array([1.0]), np.array([np.nan])),
        (np.array([np.nan]), np.array([np.nan])),
    ],
)
def test_assert_close_never_lets_nan_pass(actual, expected):
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(actual, expected, rtol=1e30, atol=1e30)


def test_assert_close_equal_nan_only_matches_nan_with_nan():
    assert_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), equal_nan=True)
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(np.array([np.nan, 1.0]), np.array([1.0, 1.0]), equal_nan=True, rtol=1e9)


def test_assert_close_infinities_must_match_exactly():
    assert_close(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]))
    with pytest.raises(AssertionError, match="infinity"):
        assert_close(np.array([np.inf]), np.array([-np.inf]), rtol=1e30, atol=1e30)
    with pytest.raises(AssertionError, match="infinity"):
        assert_close(np.array([1e300]), np.array([np.inf]), rtol=1.0, atol=1e30)


def test_assert_close_shapes_must_match():
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros(3) + 1, np.ones((3, 1)))
