"""deltagrad.functional: every function against NumPy float64 (forward, gradients, gradcheck),
float32 paths, extreme inputs, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
from deltagrad.testing import assert_close, check_op

_erf = np.vectorize(math.erf)


def np_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def np_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def np_silu(x):
    return x * np_sigmoid(x)


def np_gelu(x):
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


ACTS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "sigmoid": (F.sigmoid, np_sigmoid),
    "tanh": (F.tanh, np.tanh),
    "gelu": (F.gelu, np_gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), np_gelu_tanh),
    "softplus": (F.softplus, np_softplus),
    "silu": (F.silu, np_silu),
    "elu": (lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    "selu": (
        lambda x: F.selu(x),
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    ),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7))),
    "relu6": (lambda x: F.relu6(x), lambda x: np.clip(x, 0, 6)),
    "hardsigmoid": (lambda x: F.hardsigmoid(x), lambda x: np.clip((x + 3) / 6, 0, 1)),
    "hardswish": (lambda x: F.hardswish(x), lambda x: x * np.clip((x + 3) / 6, 0, 1)),
    "mish": (lambda x: F.mish(x), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    "logsigmoid": (lambda x: F.logsigmoid(x), lambda x: -np.logaddexp(0, -x)),
    "softsign": (lambda x: F.softsign(x), lambda x: x / (1 + np.abs(x))),
}
# torch's selu constants (Klambauer et al. 2017)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def test_every_activation_is_tested_here():
    # a new activation in dg.ops needs its NumPy formula in ACTS (and so a check_op test)
    assert set(F.ACTIVATIONS) - {"identity"} == set(ACTS)


@pytest.mark.parametrize("name", sorted(ACTS))
@pytest.mark.parametrize("shape", [(7, 13), (1,), (), (2, 3, 5)])
def test_activation(name, shape):
    dg_fn, ref = ACTS[name]
    # keep the kinked activations away from their kink for the finite differences
    rng = np.random.default_rng(7)
    x = rng.uniform(0.1, 3, shape) * rng.choice([-1, 1], shape)
    check_op(dg_fn, ref, [shape], inputs=[x])


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_float32(name):
    dg_fn, ref = ACTS[name]
    check_op(
        dg_fn,
        ref,
        [(33, 17)],
        dtype=np.float32,
        atol=1e-5,
        rtol=1e-5,
        grad_atol=2e-3,
        grad_rtol=2e-3,
        low=-4,
        high=4,
        gradcheck_op=False,
    )


def test_activations_at_extremes_stay_finite():
    x = dg.tensor(np.array([-400.0, -300.0, -30.0, 0.0, 30.0, 300.0, 400.0]), requires_grad=True)
    for name, (dg_fn, ref) in ACTS.items():
        x.grad = None
        y = dg_fn(x)
        assert np.all(np.isfinite(y.data)), name
        assert_close(y.data, ref(x.data), rtol=1e-12, atol=1e-15, equal_nan=True, name=name)
        y.sum().backward()
        assert np.all(np.isfinite(x.grad)), name
    s = F.sigmoid(dg.tensor(np.array([-400.0, 400.0])))
    np.testing.assert_array_equal(s.data, [np_sigmoid(-400.0), 1.0])


def test_silu_check_op_and_swish_alias():
    check_op(F.silu, lambda x: x / (1 + np.exp(-x)), [(7, 5)])
    check_op(F.silu, np_silu, [(3, 1, 4)], low=-40, high=40)  # both saturated tails
    assert F.swish is F.silu
    x = dg.tensor(np.random.default_rng(3).standard_normal((4, 3)))
    w = dg.tensor(np.random.default_rng(4).standard_normal((2, 3)))
    np.testing.assert_array_equal(
        F.linear(x, w, activation="swish").data, F.linear(x, w, activation="silu").data
    )
    assert_close(
        F.linear(x, w, activation="swish").data,
        np_silu(x.data @ w.data.T),
        rtol=1e-12,
        atol=0.0,
        equal_nan=True,
    )


def test_silu_extremes_float64():
    x = dg.tensor(
        np.array(
            [
                -np.inf,
                -1e30,
                -800.0,
                -40.0,
                -1.2784645,
                0.0,
                40.0,
                800.0,
                1e30,
                np.inf,
                np.nan,
                3e-310,
                -3e-310,
            ]
        ),
        requires_grad=True,
    )
    y = F.silu(x)
    want = [
        0.0,
        0.0,
        0.0,
        -40.0 / (1 + np.exp(40.0)),
        -1.2784645 / (1 + np.exp(1.2784645)),
        0.0,
        40.0 / (1 + np.exp(-40.0)),
        800.0,
        1e30,
        np.inf,
        np.nan,
        1.5e-310,
        -1.5e-310,
    ]
    assert_close(y.data, want, rtol=1e-14, atol=1e-320, equal_nan=True)
    assert np.signbit(y.data[0]) and np.signbit(y.data[1])  # -0 from the negative side
    y.backward(np.ones(13))
    sp, sm = 1 / (1 + np.exp(-40.0)), 1 / (1 + np.exp(40.0))  # sigmoid(40), sigmoid(-40)
    dwant = [
        0.0,
        0.0,
        0.0,
        sm * (1 - 40 * sp),
        0.0,
        0.5,
        sp * (1 + 40 * sm),
        1.0,
        1.0,
        1.0,
        np.nan,
        0.5,
        0.5,
    ]
    # -1.2784645 is near the minimum of silu, where the derivative crosses 0
    assert_close(x.grad, dwant, rtol=1e-12, atol=1e-7, equal_nan=True)


def test_relu_gradient_at_zero_is_zero():
    x = dg.tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_activation_of_broadcast_gradient_view():
    # sum's backward hands the activation a zero-stride view: it must be read correctly
    x = dg.tensor(np.random.default_rng(1).standard_normal((4, 5)), requires_grad=True)
    F.tanh(x).sum().backward()
    assert_close(x.grad, 1 - np.tanh(x.data) ** 2, rtol=1e-7, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("shape", [(4, 7), (1, 5), (3, 1)])
def test_softmax_log_softmax(axis, shape):
    check_op(lambda x: F.log_softmax(x, axis=axis), lambda x: np_log_softmax(x, axis), [shape])
    check_op(lambda x: F.softmax(x, axis=axis), lambda x: np.exp(np_log_softmax(x, axis)), [shape])


def test_softmax_3d_middle_axis_and_large_logits():
    check_op(lambda x: F.softmax(x, axis=1), lambda x: np.exp(np_log_softmax(x, 1)), [(2, 3, 4)])
    z = dg.tensor(np.array([[1000.0, 0.0, -1000.0]]))
    assert_close(F.softmax(z, -1).data, [[1.0, 0.0, 0.0]], rtol=1e-7, atol=0.0, equal_nan=True)
    assert_close(
        F.log_softmax(z, -1).data, [[0.0, -1000.0, -2000.0]], rtol=1e-7, atol=0.0, equal_nan=True
    )


# ---- linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize("act", [None, *sorted(ACTS)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fused(act, bias):
    ref_act = {None: lambda z: z, **{k: v[1] for k, v in ACTS.items()}}
    ref_act["leaky_relu"] = lambda z: np.where(z > 0, z, 0.01 * z)
    ref_act["elu"] = lambda z: np.where(z > 0, z, np.expm1(z))  # F.linear's alpha: 1.0
    ref_act["celu"] = ref_act["elu"]
    shapes = [(5, 3), (4, 3)] + ([(4,)] if bias else [])

    def dg_fn(x, w, b=None):
        return F.linear(x, w, b, activation=act)

    def ref(x, w, b=None):
        z = x @ w.T + (b if b is not None else 0)
        return ref_act[act](z)

    check_op(dg_fn, ref, shapes, seed=3)


def test_linear_edge_shapes_and_constant_input():
    ref = lambda x, w, b: np.tanh(x @ w.T + b)  # noqa: E731
    fn = lambda x, w, b: F.linear(x, w, b, "tanh")  # noqa: E731
    check_op(fn, ref, [(1, 1), (1, 1), (1,)])
    check_op(fn, ref, [(2, 4, 3), (5, 3), (5,)])  # leading batch dims
    check_op(fn, ref, [(6, 3), (2, 3), (2,)], grad=[False, True, True])  # no dx needed


def test_linear_float32_matches_reference():
    check_op(
        lambda x, w, b: F.linear(x, w, b, "relu"),
        lambda x, w, b: np.maximum(x @ w.T + b, 0),
        [(37, 19), (23, 19), (23,)],
        dtype=np.float32,
        atol=1e-4,
        rtol=1e-4,
        grad_atol=5e-3,
        grad_rtol=5e-3,
        gradcheck_op=False,
        low=-1,
        high=1,
    )


def test_linear_bad_input():
    x, w = dg.tensor(np.ones((2, 3))), dg.tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(4, 3\)"):
        F.linear(dg.tensor(np.ones((2, 5))), w)
    with pytest.raises(ValueError, match="b has shape"):
        F.linear(x, w, dg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="activation"):
        F.linear(x, w, activation="squareplus")
    with pytest.raises(TypeError, match="float"):
        F.linear(dg.tensor(np.ones((2, 3), dtype=np.int64)), w)
    with pytest.raises(TypeError, match="Tensor or an array"):
        F.linear([[1.0, 2.0, 3.0]], w)


# ---- losses ---------------------------------------------------------------------------------

REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 3), (5,), (1, 1)])
def test_mse_loss(reduction, shape):
    check_op(
        lambda y, t: F.mse_loss(y, t, reduction),
        lambda y, t: REDUCE[reduction]((y - t) ** 2),
        [shape, shape],
    )


def test_sum_of_squares():
    check_op(F.sum_of_squares, lambda y, t: 0.5 * np.sum((y - t) ** 2), [(7, 2), (7, 2)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    rng = np.random.default_rng(4)
    p, t = rng.uniform(0.05, 0.95, (6, 2)), rng.uniform(0, 1, (6, 2))
    check_op(
        lambda p, t: F.binary_cross_entropy(p, t, reduction),
        lambda p, t: REDUCE[reduction](-(t * np.log(p) + (1 - t) * np.log1p(-p))),
        [None, None],
        inputs=[p, t],
        grad=[True, False],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(8,), (5, 3)])  # binary and multi-label
def test_binary_cross_entropy_with_logits(reduction, shape):
    rng = np.random.default_rng(5)
    z, t = rng.uniform(-4, 4, shape), (rng.uniform(0, 1, shape) > 0.5).astype(float)
    check_op(
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction),
        lambda z, t: REDUCE[reduction](np_softplus(z) - z * t),
        [None, None],
        inputs=[z, t],
        grad=[True, False],
    )


def test_bce_with_logits_extreme_logits():
    z = dg.tensor(np.array([-500.0, 500.0, 0.0]), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0, 1.0]), "sum")
    assert_close(loss.item(), 1000.0 + math.log(2), rtol=1e-7, atol=0.0, equal_nan=True)
    loss.backward()
    assert_close(z.grad, [-1.0, 1.0, -0.5], rtol=1e-7, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,c", [(9, 5), (1, 1), (1, 4), (7, 2)])
def test_cross_entropy(reduction, n, c):
    target = np.random.default_rng(n * c).integers(0, c, n)

    def ref(z):
        return REDUCE[reduction](-np_log_softmax(z)[np.arange(n), target])

    check_op(lambda z: F.cross_entropy(z, target, reduction), ref, [(n, c)])
    check_op(
        lambda z: F.cross_entropy(z, dg.tensor(target.astype(np.int32)), reduction),
        ref,
        [(n, c)],
        gradcheck_op=False,
    )


def test_cross_entropy_float32_and_large_logits():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((64, 10)) * 50
    t = rng.integers(0, 10, 64)
    loss = F.cross_entropy(dg.tensor(z.astype(np.float32)), t)
    ref = np.mean(-np_log_softmax(z)[np.arange(64), t])
    assert_close(loss.item(), ref, rtol=1e-5, atol=0.0, equal_nan=True)


def test_losses_reject_bad_input():
    y = dg.tensor(np.ones((3, 2)))
    # (3,) does not broadcast against (3, 2): torch's size warning, then its error
    with pytest.warns(UserWarning, match="target size"):
        with pytest.raises(ValueError, match=r"target has shape \(3,\).*\(3, 2\)"):
            F.mse_loss(y, np.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(y, np.ones((3, 2)), reduction="avg")
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(y, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        F.cross_entropy(y, np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="2-D"):
        F.cross_entropy(dg.tensor(np.ones(3)), np.array([0]))
    with pytest.raises(ValueError):
        F.cross_entropy(y, np.array([0, 2, 1]))  # class 2 of 2 is out of range


def test_mse_gradient_flows_to_the_target_too():
    rng = np.random.default_rng(8)
    y = dg.tensor(rng.standard_normal(5), requires_grad=True)
    t = dg.tensor(rng.standard_normal(5), requires_grad=True)
    assert dg.gradcheck(F.mse_loss, (y, t))
    assert dg.gradcheck(F.sum_of_squares, (y, t))


# ---- the losses and layers torch's options added (NumPy float64 references) ------------------


def np_ce_rows(z, t, w, ignore, eps):
    """Per-row smoothed, weighted cross-entropy and the torch mean denominator."""
    c = z.shape[1]
    lp = np_log_softmax(z)
    w = np.ones(c) if w is None else w
    valid = t != ignore
    tv = np.where(valid, t, 0)
    nll = np.where(valid, -w[tv] * lp[np.arange(len(t)), tv], 0.0)
    smooth = np.where(valid, -(lp * w).sum(1), 0.0)
    return (1 - eps) * nll + eps / c * smooth, np.where(valid, w[tv], 0.0).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_weight_ignore_smoothing(reduction, eps):
    rng = np.random.default_rng(21)
    n, c = 9, 4
    t = rng.integers(0, c, n)
    t[[1, 5]] = -1
    w = rng.uniform(0.3, 2, c)

    def ref(z):
        rows, denom = np_ce_rows(z, t, w, -1, eps)
        return {"mean": rows.sum() / denom, "sum": rows.sum(), "none": rows}[reduction]

    check_op(
        lambda z: F.cross_entropy(
            z, t, weight=w, ignore_index=-1, reduction=reduction, label_smoothing=eps
        ),
        ref,
        [(n, c)],
        empty=False,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_numpy(reduction):
    rng = np.random.default_rng(22)
    p = rng.uniform(0.1, 1, (6, 5))
    p /= p.sum(1, keepdims=True)

    def ref(z, q):
        rows = -(np_log_softmax(z) * q).sum(1)
        return {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]

    check_op(
        lambda z, q: F.cross_entropy(z, q, reduction=reduction),
        ref,
        [None, None],
        inputs=[rng.standard_normal((6, 5)), p],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_numpy(reduction):
    rng = np.random.default_rng(23)
    t = rng.integers(0, 3, (4, 5))
    t[0, 0] = -100
    w = rng.uniform(0.5, 1.5, 3)

    def ref(x):
        valid = t != -100
        tv = np.where(valid, t, 0)
        picked = np.take_along_axis(x, tv[:, None, :], axis=1)[:, 0]
        rows = np.where(valid, -w[tv] * picked, 0.0)
        denom = np.where(valid, w[tv], 0.0).sum()
        return {"mean": rows.sum() / denom, "sum": rows.sum(), "none": rows}[reduction]

    check_op(lambda x: F.nll_loss(x, t, weight=w, reduction=reduction), ref, [(4, 3, 5)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_and_huber_numpy(reduction):
    rng = np.random.default_rng(24)
    y, t = rng.uniform(-3, 3, (7, 3)), rng.uniform(-3, 3, (7, 3))
    d = np.abs(y - t)
    assert (np.abs(d - 0.6) > 1e-3).all()  # away from the seam, for the finite differences
    for fn, kw, f in (
        (F.smooth_l1_loss, {"beta": 0.6}, lambda d: np.where(d < 0.6, 0.5 * d * d / 0.6, d - 0.3)),
        (F.huber_loss, {"delta": 0.6}, lambda d: np.where(d < 0.6, 0.5 * d * d, 0.6 * (d - 0.3))),
        (F.l1_loss, {}, lambda d: d),
    ):
        check_op(
            lambda a, b, fn=fn, kw=kw: fn(a, b, reduction, **kw),
            lambda a, b, f=f: REDUCE[reduction](f(np.abs(a - b))),
            [None, None],
            inputs=[y, t],
        )


def test_layer_norm_and_batch_norm_numpy():
    rng = np.random.default_rng(25)
    w, b = rng.uniform(0.5, 2, 6), rng.standard_normal(6)

    def ln_ref(x, w, b):
        m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * w + b

    check_op(
        lambda x, w, b: F.layer_norm(x, (6,), w, b), ln_ref, [("n", 6), (6,), (6,)], empty=False
    )

    def bn_ref(x, w, b):
        m, v = x.mean(0), x.var(0)
        return (x - m) / np.sqrt(v + 1e-5) * w + b

    check_op(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        bn_ref,
        [None, None, None],
        inputs=[rng.standard_normal((5, 6)) * 2, w, b],
    )
