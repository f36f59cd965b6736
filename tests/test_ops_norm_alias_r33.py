"""The norm ops' outputs against the small arrays they read (round 33's robustness sweep): an
out= that partly overlapped weight, bias or the statistics, and running statistics sharing
memory with each other or the affine parameters, gave silently wrong results; now ValueError
naming the op and both arrays. Also x=None and non-bool flags: a TypeError naming the op."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops, reference

N, C, L = 3, 4, 5


@pytest.fixture
def rng():
    return np.random.default_rng(33)


def _x(rng):
    return rng.standard_normal((N, C, L))


def _forward_cases(rng):
    """(op name, call(out, weight, bias)) for the three forwards, on (N, C, L) float64 data;
    the affine parameters have C entries for batch and group norm and L for layer norm."""
    x = _x(rng)
    return {
        "batch_norm_forward": (C, lambda out, w, b: ops.batch_norm_forward(x, w, b, out=out)),
        "group_norm_forward": (C, lambda out, w, b: ops.group_norm_forward(x, 2, w, b, out=out)),
        "layer_norm_forward": (L, lambda out, w, b: ops.layer_norm_forward(x, (L,), w, b, out=out)),
    }


@pytest.mark.parametrize("op", ["batch_norm_forward", "group_norm_forward", "layer_norm_forward"])
@pytest.mark.parametrize("which", ["weight", "bias"])
def test_forward_out_overlapping_a_parameter_raises(rng, op, which):
    size, call = _forward_cases(rng)[op]
    buf = rng.standard_normal(N * C * L + 1)
    out = buf[1:].reshape(N, C, L)  # overlaps buf[:size] from its second element
    p = buf[:size]
    other = rng.standard_normal(size)
    w, b = (p, other) if which == "weight" else (other, p)
    with pytest.raises(ValueError, match=rf"{op}: out: shares memory with {which}"):
        call(out, w, b)


def _backward_setup(rng, op):
    x = _x(rng)
    dy = rng.standard_normal(x.shape)
    w = rng.standard_normal(L if op.startswith("layer") else C)
    if op == "batch_norm_backward":
        _, mean, inv = ops.batch_norm_forward(x, w, None)
        return (
            ("weight", "mean", "invstd"),
            lambda out, a: ops.batch_norm_backward(dy, x, *a, out=out),
            (w, mean, inv),
        )
    if op == "group_norm_backward":
        _, mean, rstd = ops.group_norm_forward(x, 2, w, None)
        return (
            ("weight", "mean", "rstd"),
            lambda out, a: ops.group_norm_backward(dy, x, 2, *a, out=out),
            (w, mean, rstd),
        )
    _, mean, rstd = ops.layer_norm_forward(x, (L,), w, None)
    return (
        ("weight", "mean", "rstd"),
        lambda out, a: ops.layer_norm_backward(dy, x, (L,), *a, out=out),
        (w, mean, rstd),
    )


@pytest.mark.parametrize(
    "op", ["batch_norm_backward", "group_norm_backward", "layer_norm_backward"]
)
@pytest.mark.parametrize("slot", [0, 1, 2])
def test_backward_out_overlapping_a_read_array_raises(rng, op, slot):
    names, call, arrays = _backward_setup(rng, op)
    expected = call(None, arrays)[0]
    a = list(arrays)
    buf = np.empty(N * C * L + a[slot].size)
    buf[: a[slot].size] = a[slot].ravel()
    a[slot] = buf[: a[slot].size].reshape(a[slot].shape)
    out = buf[1 : 1 + N * C * L].reshape(N, C, L)  # overlaps the array from its second element
    with pytest.raises(ValueError, match=rf"{op}: out: shares memory with {names[slot]}"):
        call(out, a)
    # disjoint memory (the rest of the same buffer) is fine, and gives the same dx
    out_ok = np.empty((N, C, L))
    np.testing.assert_array_equal(call(out_ok, a)[0], expected)


def test_running_statistics_sharing_memory_raise(rng):
    x = _x(rng)
    rs = np.ones(C)
    with pytest.raises(ValueError, match="running_mean: shares memory with running_var"):
        ops.batch_norm_forward(x, None, None, rs, rs)
    w = np.ones(C)
    with pytest.raises(ValueError, match="running_var: shares memory with weight"):
        ops.batch_norm_forward(x, w, None, np.zeros(C), w)
    buf = np.zeros(2 * C)  # halves of one buffer: disjoint, allowed, and right
    rm, rv = buf[:C], buf[C:]
    rv[:] = 1.0
    ops.batch_norm_forward(x, None, None, rm, rv, momentum=0.5)
    m = x.mean(axis=(0, 2))
    v = x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(rm, 0.5 * m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rv, 0.5 + 0.5 * v, rtol=1e-12)


def test_in_place_and_disjoint_out_still_right(rng):
    x = _x(rng)
    w, b = rng.standard_normal(L), rng.standard_normal(L)
    ref = reference.layer_norm_forward(x, (L,), w, b)[0]
    y = x.copy()
    ops.layer_norm_forward(y, (L,), w, b, out=y)  # exactly in place
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    out = np.empty_like(x)
    ops.layer_norm_forward(x, (L,), w, b, out=out)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ops.layer_norm_forward(None, (L,)),
        lambda: ops.group_norm_forward(None, 2),
        lambda: ops.batch_norm_forward(None),
        lambda: ops.layer_norm_backward(np.ones((2, L)), None, (L,), None, np.ones(2), np.ones(2)),
    ],
)
def test_missing_x_is_a_type_error_naming_the_op(call):
    with pytest.raises(TypeError, match=r"_norm_(forward|backward): (x|dy)"):
        call()


@pytest.mark.parametrize("bad", [None, "no", 0.5, [1]])
def test_norm_flags_must_be_bools(rng, bad):
    x = _x(rng)
    with pytest.raises(TypeError, match="batch_norm_forward: training: expected a bool"):
        ops.batch_norm_forward(x, training=bad)
    _, mean, rstd = ops.layer_norm_forward(x, (L,))
    with pytest.raises(TypeError, match="layer_norm_backward: need_dweight: expected a bool"):
        ops.layer_norm_backward(x, x, (L,), None, mean, rstd, need_dweight=bad)
    ops.layer_norm_backward(x, x, (L,), None, mean, rstd, need_dweight=np.bool_(False))
