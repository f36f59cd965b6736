"""Bad input at dg.ops found by the round-33 sweep (every public op, every array argument in
turn: dtypes, views, sizes, NaN, aliasing and overlapping out=, flags, huge broadcast views).

Each case gets a clear exception naming the op and the argument, or the answer of
deltagrad.reference (NumPy float64):
- flags (keepdims, trans_a, ceil_mode, need_dx, ...): a bool, a numpy bool or an int, as the
  optimizers' flags; None, a str, a float or a list was read by bool() as True or False;
- class labels given as a broadcast view of gigabytes: a ValueError, not a MemoryError from
  the copy (as every float input already);
- max_pool2d_backward's indices: None / a str are a TypeError naming indices, a 0-d array is
  reported as 0-d, a huge broadcast view is refused, views are copied and right;
- numpy masked arrays with masked elements: a TypeError (the kernels read .data, so the mask
  was dropped without a word: dg.ops.sum(masked) != numpy.sum(masked)); without masked
  elements they are plain arrays and give the right answer.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import reference as R

O = dg.ops


def rn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


def close(got: Any, exp: Any) -> None:
    np.testing.assert_allclose(np.asarray(got), np.asarray(exp), rtol=1e-12, atol=1e-12)


def raises(exc: type[BaseException], op: str, arg: str, fn: Callable[[], Any]) -> str:
    """fn() raises exc with a message "<op>: <arg>: ..."; returns the message."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    assert msg.startswith(f"{op}: {arg}: "), msg
    return msg


# ---- flags --------------------------------------------------------------------------------------

X4 = rn(2, 3, 6, 6)
SQ = rn(4, 4)


def _pool_geo() -> tuple[np.ndarray, np.ndarray]:
    y, idx = R.max_pool2d(X4, 2, return_indices=True)
    return rn(*y.shape, seed=1), idx.astype(np.int64)


def _lin() -> tuple[np.ndarray, ...]:
    x, w = rn(3, 4), rn(5, 4, seed=1)
    y = np.tanh(x @ w.T)
    return rn(3, 5, seed=2), x, w, y


def _dy5(ceil_mode: Any) -> np.ndarray:
    """dy of a 2x2 pooling of 5x5 planes: 3x3 with ceil_mode, 2x2 without (a bad flag is
    refused before the shape is looked at)."""
    return rn(2, 3, 3, 3) if ceil_mode is True or ceil_mode == 1 else rn(2, 3, 2, 2)


def _sgd(**kw: Any) -> tuple[np.ndarray, ...]:
    p, g, b = rn(3, 5), rn(3, 5, seed=1), rn(3, 5, seed=2)
    O.sgd_update(p, g, b, lr=0.1, momentum=0.9, **kw)
    return p, b


def _adam(**kw: Any) -> tuple[np.ndarray, ...]:
    p, g, m, v = rn(3, 5), rn(3, 5, seed=1), rn(3, 5, seed=2), rn(3, 5, seed=3) ** 2
    O.adam_update(p, g, m, v, step=2, lr=0.01, weight_decay=0.01, **kw)
    return p, m, v


# (op as named in messages, flag name, call(value) -> result, reference(bool) -> result)
FLAGS: list[tuple[str, str, Callable[[Any], Any], Callable[[bool], Any]]] = [
    (
        "matmul",
        "trans_a",
        lambda v: O.matmul(SQ, SQ.T, trans_a=v),
        lambda v: R.matmul(SQ, SQ.T, trans_a=v),
    ),
    (
        "matmul",
        "trans_b",
        lambda v: O.matmul(SQ, SQ.T, trans_b=v),
        lambda v: R.matmul(SQ, SQ.T, trans_b=v),
    ),
    (
        "sum",
        "keepdims",
        lambda v: O.sum(X4, axis=1, keepdims=v),
        lambda v: R.sum(X4, axis=1, keepdims=v),
    ),
    (
        "mean",
        "keepdims",
        lambda v: O.mean(X4, axis=(0, 2), keepdims=v),
        lambda v: R.mean(X4, axis=(0, 2), keepdims=v),
    ),
    (
        "linear_backward",
        "need_dx",
        lambda v: O.linear_backward(*_lin(), "tanh", need_dx=v),
        lambda v: R.linear_backward(*_lin(), "tanh", need_dx=v),
    ),
    (
        "linear_backward",
        "has_bias",
        lambda v: O.linear_backward(*_lin(), "tanh", has_bias=v),
        lambda v: R.linear_backward(*_lin(), "tanh", has_bias=v),
    ),
    (
        "sgd_update",
        "nesterov",
        lambda v: _sgd(nesterov=v),
        lambda v: _sgd(nesterov=v),  # the bool itself: checked against the reference below
    ),
    ("sgd_update", "first_step", lambda v: _sgd(first_step=v), lambda v: _sgd(first_step=v)),
    ("adam_update", "decoupled", lambda v: _adam(decoupled=v), lambda v: _adam(decoupled=v)),
    (
        "conv2d_backward",
        "need_dx",
        lambda v: O.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_dx=v),
        lambda v: R.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_dx=v),
    ),
    (
        "conv2d_backward",
        "need_dw",
        lambda v: O.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_dw=v),
        lambda v: R.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_dw=v),
    ),
    (
        "conv2d_backward",
        "need_db",
        lambda v: O.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_db=v),
        lambda v: R.conv2d_backward(rn(2, 3, 4, 4), X4, rn(3, 3, 3, 3), need_db=v),
    ),
    (
        "max_pool2d",
        "ceil_mode",
        lambda v: O.max_pool2d(X4[..., :5, :5], 2, ceil_mode=v),
        lambda v: R.max_pool2d(X4[..., :5, :5], 2, ceil_mode=v),
    ),
    (
        "max_pool2d",
        "return_indices",
        lambda v: O.max_pool2d(X4, 2, return_indices=v),
        lambda v: R.max_pool2d(X4, 2, return_indices=v),
    ),
    (
        "max_pool2d_backward",
        "ceil_mode",
        lambda v: O.max_pool2d_backward(*_pool_geo(), X4.shape, 2, ceil_mode=v),
        lambda v: R.max_pool2d_backward(*_pool_geo(), X4.shape, 2, ceil_mode=v),
    ),
    (
        "avg_pool2d",
        "ceil_mode",
        lambda v: O.avg_pool2d(X4[..., :5, :5], 2, ceil_mode=v),
        lambda v: R.avg_pool2d(X4[..., :5, :5], 2, ceil_mode=v),
    ),
    (
        "avg_pool2d",
        "count_include_pad",
        lambda v: O.avg_pool2d(X4, 3, 2, 1, count_include_pad=v),
        lambda v: R.avg_pool2d(X4, 3, 2, 1, count_include_pad=v),
    ),
    (
        "avg_pool2d_backward",
        "ceil_mode",
        lambda v: O.avg_pool2d_backward(_dy5(v), (2, 3, 5, 5), 2, ceil_mode=v),
        lambda v: R.avg_pool2d_backward(_dy5(v), (2, 3, 5, 5), 2, ceil_mode=v),
    ),
    (
        "avg_pool2d_backward",
        "count_include_pad",
        lambda v: O.avg_pool2d_backward(rn(2, 3, 3, 3), X4.shape, 3, 2, 1, count_include_pad=v),
        lambda v: R.avg_pool2d_backward(rn(2, 3, 3, 3), X4.shape, 3, 2, 1, count_include_pad=v),
    ),
]
FLAG_IDS = [f"{op}-{arg}" for op, arg, _, _ in FLAGS]


def _results(r: Any) -> list[Any]:
    return list(r) if isinstance(r, tuple) else [r]


@pytest.mark.parametrize("bad", [None, "x", "", 1.5, float("nan"), [1], (), {}], ids=repr)
@pytest.mark.parametrize("op,arg,call,ref", FLAGS, ids=FLAG_IDS)
def test_flag_that_is_not_a_bool_is_a_type_error(op, arg, call, ref, bad) -> None:
    msg = raises(TypeError, op, arg, lambda: call(bad))
    assert "expected a bool" in msg and type(bad).__name__ in msg


@pytest.mark.parametrize("value", [True, False, 1, 0, np.bool_(True), np.int64(0)], ids=repr)
@pytest.mark.parametrize("op,arg,call,ref", FLAGS, ids=FLAG_IDS)
def test_bool_numpy_bool_and_int_flags_give_the_reference(op, arg, call, ref, value) -> None:
    got, exp = _results(call(value)), _results(ref(bool(value)))
    assert len(got) == len(exp)
    for g, e in zip(got, exp):
        assert (g is None) == (e is None)
        if g is not None:
            close(g, e)


def test_optimizer_flags_match_the_reference_update() -> None:
    """The in-place optimizer cases above compare the op with itself; here their bool answers
    against the reference (so the flag is not only accepted but obeyed)."""
    for nesterov in (True, False):
        p, g, b = rn(3, 5), rn(3, 5, seed=1), rn(3, 5, seed=2)
        R.sgd_update(p, g, b, lr=0.1, momentum=0.9, nesterov=nesterov)
        for got, exp in zip(_sgd(nesterov=np.bool_(nesterov)), (p, b)):
            close(got, exp)
    for decoupled in (True, False):
        p, g, m, v = rn(3, 5), rn(3, 5, seed=1), rn(3, 5, seed=2), rn(3, 5, seed=3) ** 2
        R.adam_update(p, g, m, v, step=2, lr=0.01, weight_decay=0.01, decoupled=decoupled)
        for got, exp in zip(_adam(decoupled=int(decoupled)), (p, m, v)):
            close(got, exp)


def test_a_bad_flag_changes_nothing_in_place() -> None:
    p, g, b = rn(3, 5), rn(3, 5, seed=1), rn(3, 5, seed=2)
    p0, b0 = p.copy(), b.copy()
    raises(
        TypeError, "sgd_update", "nesterov", lambda: O.sgd_update(p, g, b, lr=0.1, nesterov="no")
    )
    assert (p == p0).all() and (b == b0).all()


# ---- huge broadcast views of labels and indices: refused, never copied --------------------------

HUGE = (1 << 20, 1 << 14)  # 2**34 elements: 128 GiB as int64, 0 bytes as a broadcast view


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_huge_broadcast_labels_are_a_value_error(dtype, reduction) -> None:
    target = np.broadcast_to(np.zeros(1, dtype), HUGE)
    logits = np.broadcast_to(np.zeros(1), (*HUGE, 3))
    msg = raises(
        ValueError,
        "softmax_cross_entropy",
        "target",
        lambda: O.softmax_cross_entropy(logits[:2, 0], target, reduction),
    )
    assert "broadcast" in msg and "MiB" in msg


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16])
def test_moderate_broadcast_and_strided_labels_give_the_reference(dtype) -> None:
    logits = rn(300, 7)
    target = np.broadcast_to(np.array([3], dtype), (300,))
    for t in (
        target,
        (np.arange(600, dtype=dtype) % 7)[::2],
        np.arange(300, dtype=dtype)[::-1] % 7,
    ):
        for red in ("mean", "sum", "none"):
            got, exp = (
                O.softmax_cross_entropy(logits, t, red),
                R.softmax_cross_entropy(logits, t.astype(np.int64), red),
            )
            close(got[0], exp[0])
            close(got[1], exp[1])


def test_huge_broadcast_indices_are_a_value_error() -> None:
    dy, _ = _pool_geo()
    idx = np.broadcast_to(np.zeros(1, np.int64), HUGE)
    msg = raises(
        ValueError,
        "max_pool2d_backward",
        "indices",
        lambda: O.max_pool2d_backward(dy, idx, X4.shape, 2),
    )
    assert "broadcast" in msg


@pytest.mark.parametrize("bad", [None, "abc", b"abc"], ids=repr)
def test_indices_that_are_not_an_array_are_a_type_error(bad) -> None:
    dy, _ = _pool_geo()
    msg = raises(
        TypeError,
        "max_pool2d_backward",
        "indices",
        lambda: O.max_pool2d_backward(dy, bad, X4.shape, 2),
    )
    assert "expected an array" in msg


def test_zero_d_indices_are_reported_as_zero_d() -> None:
    dy, _ = _pool_geo()
    msg = raises(
        ValueError,
        "max_pool2d_backward",
        "indices",
        lambda: O.max_pool2d_backward(dy, np.asarray(0, np.int64), X4.shape, 2),
    )
    assert re.search(r"got \(\)", msg), msg


def _views(a: np.ndarray) -> dict[str, np.ndarray]:
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    buf = np.empty(a.nbytes + 1, np.uint8)
    mis = buf[1:].view(a.dtype).reshape(a.shape)
    mis[...] = a
    return {
        "strided": wide[..., ::2],
        "fortran": np.asfortranarray(a),
        "reversed": np.ascontiguousarray(a[::-1])[::-1],
        "misaligned": mis,
        "list": a.tolist(),
    }


@pytest.mark.parametrize("view", ["strided", "fortran", "reversed", "misaligned", "list"])
def test_index_views_give_the_reference(view) -> None:
    dy, idx = _pool_geo()
    got = O.max_pool2d_backward(dy, _views(idx)[view], X4.shape, 2)
    close(got, R.max_pool2d_backward(dy, idx, X4.shape, 2))
    # unbatched (C, H, W): the same through the 3-D path
    got3 = O.max_pool2d_backward(dy[0], _views(idx[0])[view], X4.shape[1:], 2)
    close(got3, R.max_pool2d_backward(dy[:1], idx[:1], (1, *X4.shape[1:]), 2)[0])


# ---- masked arrays -----------------------------------------------------------------------------


def _masked(a: np.ndarray, k: int = 1) -> np.ma.MaskedArray:
    mask = np.zeros(a.shape, bool)
    mask.flat[:k] = True
    return np.ma.masked_array(a, mask=mask)


# (op, argument, call(masked array) with the other arguments valid)
MASKED: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("sum", "x", lambda m: O.sum(m)),
    ("mean", "x", lambda m: O.mean(m, axis=0)),
    ("sum_to_shape", "g", lambda m: O.sum_to_shape(m, (5,))),
    ("matmul", "a", lambda m: O.matmul(m, rn(5, 2))),
    ("matmul", "b", lambda m: O.matmul(rn(2, 3), m)),
    ("activation", "x", lambda m: O.activation(m, "relu")),
    ("activation_backward", "saved", lambda m: O.activation_backward(rn(3, 5), m, "relu")),
    ("softmax", "x", lambda m: O.softmax(m)),
    ("log_softmax_backward", "dy", lambda m: O.log_softmax_backward(m, rn(3, 5))),
    ("mse_loss", "t", lambda m: O.mse_loss(rn(3, 5), m)),
    ("linear_forward", "x", lambda m: O.linear_forward(m.T, rn(2, 3))),
    ("sgd_update", "grad", lambda m: O.sgd_update(rn(3, 5), m, None, lr=0.1)),
    ("conv2d", "input", lambda m: O.conv2d_forward(m.reshape(1, 1, 3, 5), rn(1, 1, 2, 2))),
    ("avg_pool2d", "x", lambda m: O.avg_pool2d(m.reshape(1, 1, 3, 5), 2)),
]


@pytest.mark.parametrize("op,arg,call", MASKED, ids=[f"{o}-{a}" for o, a, _ in MASKED])
def test_masked_elements_are_a_type_error(op, arg, call) -> None:
    msg = raises(TypeError, op, arg, lambda: call(_masked(rn(3, 5), 2)))
    assert "MaskedArray with 2 masked" in msg


@pytest.mark.parametrize("op,arg,call", MASKED, ids=[f"{o}-{a}" for o, a, _ in MASKED])
def test_masked_array_without_masked_elements_is_a_plain_array(op, arg, call) -> None:
    a = rn(3, 5)
    got, exp = call(_masked(a, 0)), call(a)
    for g, e in zip(_results(got), _results(exp)):
        if e is not None:
            close(np.asarray(g), e)


def test_masked_labels_are_a_type_error() -> None:
    t = np.ma.masked_array(np.array([0, 2, 1]), mask=[False, True, False])
    raises(
        TypeError, "softmax_cross_entropy", "target", lambda: O.softmax_cross_entropy(rn(3, 4), t)
    )
    unmasked = np.ma.masked_array(np.array([0, 2, 1]), mask=False)
    close(
        O.softmax_cross_entropy(rn(3, 4), unmasked)[0],
        R.softmax_cross_entropy(rn(3, 4), [0, 2, 1])[0],
    )
