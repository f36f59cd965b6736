"""The fast entries of dg.ops (csrc/bindings/fastcall.h): the common case -- plain numpy arrays,
Python scalars -- goes straight to the CPU binding; everything else, and every call under a
host-backend override, takes the general path. Both must give the same bits and raise the same
errors: each case here runs once as is and once with the general path forced (a host override
that is the CPU backend itself), and compares."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu, backends, ops
from deltagrad.backends import cpu

DTYPES = [np.float32, np.float64]


def general(fn, *args, **kwargs):
    """fn on the general path: under an override the fast entries decline every call."""
    with backends.use_host_backend(cpu):
        return fn(*args, **kwargs)


def outcome(fn, *args, **kwargs):
    """('ok', result) or ('error', exception type, message)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except (TypeError, ValueError) as e:
        return ("error", type(e), str(e))


def same(fast, slow):
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "error":
        assert fast[1:] == slow[1:]
        return
    a, b = fast[1], slow[1]
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype and x.shape == y.shape
                assert np.array_equal(x, y, equal_nan=True)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True)


def check(fn, make):
    """make() builds fresh arguments (an out= is written); fast path vs general path."""
    args, kwargs = make()
    fast = outcome(fn, *args, **kwargs)
    args, kwargs = make()
    slow = outcome(general, fn, *args, **kwargs)
    same(fast, slow)
    return fast


class _Sub(np.ndarray):
    pass


def test_the_fast_entries_take_plain_arrays_and_decline_the_rest():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    got = cpu.fast_matmul(a, b, False, False, 1.0, 0.0, None)
    assert got.shape == (2, 4) and np.all(got == 3)
    for args in [
        (a.tolist(), b, False, False, 1.0, 0.0, None),  # a list
        (a, b, 1, False, 1.0, 0.0, None),  # a flag that is not a bool: bool() on the general path
        (a, b, False, False, True, 0.0, None),  # a bool is not a number
        (a, b, False, False, np.float32(1.0), 0.0, None),  # converted by the general path
        (a, b, False, False, 1.0, 0.0, [0.0]),  # out: the general path names it
        (a.view(_Sub), b, False, False, 1.0, 0.0, None),  # a subclass
    ]:
        assert cpu.fast_matmul(*args) is NotImplemented
    x = np.ones(5, np.float32)
    assert cpu.fast_activation(x, "relu", 0.0, None).shape == (5,)
    assert cpu.fast_activation(x[::2], "relu", 0.0, None) is NotImplemented  # copied first
    assert cpu.fast_activation(x.astype(">f4"), "relu", 0.0, None) is NotImplemented
    assert cpu.fast_activation(x, 3, 0.0, None) is NotImplemented
    with pytest.raises(TypeError, match=r"_fast_matmul\(\) takes exactly 7"):
        cpu.fast_matmul(a, b)


def test_override_flag_is_per_thread_and_restored():
    a = np.ones((2, 2), np.float32)
    seen = []
    with backends.use_host_backend(cpu):
        assert cpu.fast_matmul(a, a, False, False, 1.0, 0.0, None) is NotImplemented

        def other():  # another thread has no override: its fast entries answer
            seen.append(cpu.fast_matmul(a, a, False, False, 1.0, 0.0, None) is not NotImplemented)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        with backends.use_host_backend(None):  # nested: None is "the CPU kernels" again
            assert cpu.fast_matmul(a, a, False, False, 1.0, 0.0, None) is not NotImplemented
        assert cpu.fast_matmul(a, a, False, False, 1.0, 0.0, None) is NotImplemented
    assert seen == [True]
    assert cpu.fast_matmul(a, a, False, False, 1.0, 0.0, None) is not NotImplemented
    assert backends._open_overrides == 0
    assert _cpu._set_host_override(False) is False


def _matmul_operands(rng, kind, dtype, ta, tb):
    m, n, k = 5, 7, 6
    sa, sb = ((k, m) if ta else (m, k)), ((n, k) if tb else (k, n))
    if kind == "contiguous":
        return rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    if kind == "strided":  # every other row and column of a bigger array
        big_a = rng.standard_normal((2 * sa[0], 2 * sa[1])).astype(dtype)
        big_b = rng.standard_normal((2 * sb[0], 2 * sb[1])).astype(dtype)
        return big_a[::2, ::2], big_b[::-2, ::2]
    if kind == "transposed":
        return (
            np.ascontiguousarray(rng.standard_normal(sa[::-1]).astype(dtype)).T,
            np.asfortranarray(rng.standard_normal(sb).astype(dtype)),
        )
    if kind == "broadcast":  # zero strides
        return (
            np.broadcast_to(rng.standard_normal((1, sa[1])).astype(dtype), sa),
            np.broadcast_to(rng.standard_normal((sb[0], 1)).astype(dtype), sb),
        )
    if kind == "batched":
        return (
            rng.standard_normal((3, *sa)).astype(dtype),
            rng.standard_normal((1, *sb)).astype(dtype),
        )
    if kind == "byteswapped":
        return (
            rng.standard_normal(sa).astype(np.dtype(dtype).newbyteorder(">")),
            rng.standard_normal(sb).astype(dtype),
        )
    if kind == "misaligned":
        buf = np.zeros(np.prod(sa) * np.dtype(dtype).itemsize + 1, np.uint8)
        a = buf[1:].view(dtype).reshape(sa)
        a[...] = rng.standard_normal(sa)
        return a, rng.standard_normal(sb).astype(dtype)
    raise AssertionError(kind)


KINDS = ["contiguous", "strided", "transposed", "broadcast", "batched", "byteswapped", "misaligned"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("use_out", [False, True], ids=["new", "out"])
def test_matmul_fast_equals_general(kind, dtype, ta, tb, use_out):
    def make():
        rng = np.random.default_rng(7)
        a, b = _matmul_operands(rng, kind, dtype, ta, tb)
        kwargs = {"trans_a": ta, "trans_b": tb}
        if use_out:
            shape = np.matmul(a.swapaxes(-1, -2) if ta else a, b.swapaxes(-1, -2) if tb else b)
            kwargs.update(out=rng.standard_normal(shape.shape).astype(dtype), alpha=0.5, beta=2)
        return (a, b), kwargs

    r = check(ops.matmul, make)
    assert r[0] == "ok"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_matmul_fast_equals_general_out_aliasing_and_nan(dtype):
    def aliased():
        a = np.random.default_rng(3).standard_normal((4, 4)).astype(dtype)
        a[1, 2] = np.nan
        return (a, a), {"out": a, "beta": 1.0}

    check(ops.matmul, aliased)

    def beta_zero_nan_out():
        a = np.random.default_rng(4).standard_normal((3, 3)).astype(dtype)
        return (a, a), {"out": np.full((3, 3), np.nan, dtype)}

    assert not np.isnan(check(ops.matmul, beta_zero_nan_out)[1]).any()


def _bad_matmul_calls():
    f32 = np.ones((3, 4), np.float32)
    g32 = np.ones((4, 5), np.float32)
    yield "int", (f32.astype(np.int32), g32), {}
    yield "mixed", (f32, g32.astype(np.float64)), {}
    yield "1-d", (np.ones(4, np.float32), g32), {}
    yield "inner", (f32, f32), {}
    yield "inner-trans", (f32, g32), {"trans_b": True}
    yield "batch", (np.ones((3, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)), {}
    yield "out-shape", (f32, g32), {"out": np.zeros((5, 3), np.float32)}
    yield "out-dtype", (f32, g32), {"out": np.zeros((3, 5))}
    yield "out-list", (f32, g32), {"out": [[0.0] * 5]}
    ro = np.zeros((3, 5), np.float32)
    ro.flags.writeable = False
    yield "out-readonly", (f32, g32), {"out": ro}
    yield "out-overlap", (f32, g32), {"out": np.broadcast_to(np.zeros(5, np.float32), (3, 5))}
    yield "beta-no-out", (f32, g32), {"beta": 1.0}
    yield "alpha-str", (f32, g32), {"alpha": "2"}
    yield "alpha-bool", (f32, g32), {"alpha": True}
    yield "beta-none", (f32, g32), {"beta": None, "out": np.zeros((3, 5), np.float32)}
    yield "a-none", (None, g32), {}
    yield "precision", (f32, g32), {"precision": "fp16"}


@pytest.mark.parametrize("case", list(_bad_matmul_calls()), ids=lambda c: c[0])
def test_matmul_errors_are_the_general_paths(case):
    _, args, kwargs = case
    fast = outcome(ops.matmul, *args, **kwargs)
    assert fast[0] == "error" and fast[2].startswith("matmul: ")
    same(fast, outcome(general, ops.matmul, *args, **kwargs))


def _dense(rng, shape, dtype, kind):
    x = rng.standard_normal(shape).astype(dtype)
    if kind == "contiguous":
        return x
    if kind == "strided":
        return np.repeat(x, 2, axis=-1)[..., ::2]
    if kind == "byteswapped":
        return x.astype(np.dtype(dtype).newbyteorder(">"))
    if kind == "list":
        return x.tolist()
    raise AssertionError(kind)


DENSE_KINDS = ["contiguous", "strided", "byteswapped", "list"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", DENSE_KINDS)
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "gelu", "tanh", "sigmoid"])
@pytest.mark.parametrize("use_out", [False, True], ids=["new", "out"])
def test_activation_fast_equals_general(dtype, kind, act, use_out):
    def make():
        rng = np.random.default_rng(11)
        x = _dense(rng, (3, 17), dtype, kind)
        kwargs = {"param": 0.1}
        if use_out:
            kwargs["out"] = np.empty((3, 17), dtype)
        return (x, act), kwargs

    check(ops.activation, make)

    def make_bwd():
        rng = np.random.default_rng(12)
        dy, saved = _dense(rng, (3, 17), dtype, kind), _dense(rng, (3, 17), dtype, "contiguous")
        kwargs = {"param": 0.1}
        if use_out:
            kwargs["out"] = np.empty((3, 17), dtype)
        return (dy, saved, act), kwargs

    check(ops.activation_backward, make_bwd)


def _bad_activation_calls():
    x = np.ones(6, np.float32)
    yield "name", (ops.activation, x, "nope"), {}
    yield "name-type", (ops.activation, x, 3), {}
    yield "int", (ops.activation, x.astype(np.int32), "relu"), {}
    yield "param", (ops.activation, x, "relu"), {"param": "a"}
    yield "param-bool", (ops.activation, x, "relu"), {"param": True}
    yield "out-shape", (ops.activation, x, "relu"), {"out": np.empty(5, np.float32)}
    yield "out-overlap", (ops.activation, x, "relu"), {"out": np.empty(12, np.float32)[::2]}
    yield "out-partial", (ops.activation, np.ones(8, np.float32)[:6], "relu"), {"out": None}
    yield "bwd-shape", (ops.activation_backward, x, np.ones(5, np.float32), "relu"), {}
    yield "bwd-dtype", (ops.activation_backward, x, np.ones(6), "relu"), {}


@pytest.mark.parametrize("case", list(_bad_activation_calls()), ids=lambda c: c[0])
def test_activation_errors_are_the_general_paths(case):
    _, (fn, *args), kwargs = case
    same(outcome(fn, *args, **kwargs), outcome(general, fn, *args, **kwargs))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", DENSE_KINDS)
@pytest.mark.parametrize("act", ["identity", "relu", "gelu"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fast_equals_general(dtype, kind, act, bias):
    def make_fwd():
        rng = np.random.default_rng(21)
        x = _dense(rng, (9, 13), dtype, kind)
        w = _dense(rng, (11, 13), dtype, "contiguous")
        b = _dense(rng, (11,), dtype, kind) if bias else None
        return (x, w, b, act, 0.0), {}

    r = check(ops.linear_forward, make_fwd)
    if r[0] == "error":  # a float32 list is float64 for NumPy: both paths refuse it alike
        assert kind == "list" and dtype == np.float32
        return
    y, z = r[1]

    for accumulate in (False, True):

        def make_bwd(accumulate=accumulate):
            rng = np.random.default_rng(22)
            dy = _dense(rng, (9, 11), dtype, kind)
            x = _dense(rng, (9, 13), dtype, "contiguous")
            w = _dense(rng, (11, 13), dtype, kind)
            saved = z if ops.saves_input(act) else y
            kwargs = {}
            if accumulate:
                kwargs["dw"] = rng.standard_normal((11, 13)).astype(dtype)
                kwargs["db"] = rng.standard_normal(11).astype(dtype) if bias else None
            return (dy, x, w, saved, act, 0.0, True, bias), kwargs

        check(ops.linear_backward, make_bwd)


def _bad_linear_calls():
    x, w = np.ones((4, 3), np.float32), np.ones((5, 3), np.float32)
    dy, y = np.ones((4, 5), np.float32), np.ones((4, 5), np.float32)
    yield "w-shape", (ops.linear_forward, x, np.ones((5, 2), np.float32)), {}
    yield "b-shape", (ops.linear_forward, x, w, np.ones(4, np.float32)), {}
    yield "dtype", (ops.linear_forward, x, w.astype(np.float64)), {}
    yield "act", (ops.linear_forward, x, w, None, "nope"), {}
    yield "bwd-saved", (ops.linear_backward, dy, x, w, None, "relu"), {}
    yield "bwd-dy", (ops.linear_backward, dy[:, :4], x, w, y, "relu"), {}
    yield (
        "bwd-db-alone",
        (ops.linear_backward, dy, x, w, y, "relu"),
        {"db": np.zeros(5, np.float32)},
    )
    yield "bwd-dw-list", (ops.linear_backward, dy, x, w, y, "relu"), {"dw": [0.0]}
    yield "bwd-dw-alias", (ops.linear_backward, dy, x, w, y, "relu"), {"dw": w, "db": None}


@pytest.mark.parametrize("case", list(_bad_linear_calls()), ids=lambda c: c[0])
def test_linear_errors_are_the_general_paths(case):
    _, (fn, *args), kwargs = case
    same(outcome(fn, *args, **kwargs), outcome(general, fn, *args, **kwargs))


def test_tensor_layer_still_runs_on_an_override():
    """The override (the SIMT emulator in the tests) still receives every numpy-array call."""
    calls = []

    class Spy:
        def __getattr__(self, name):
            fn = getattr(cpu, name)

            def wrapped(*args, **kwargs):
                calls.append(name)
                return fn(*args, **kwargs)

            return wrapped

    a = np.ones((2, 2), np.float32)
    with backends.use_host_backend(Spy()):
        ops.matmul(a, a)
        ops.activation(a, "relu")
        ops.activation_backward(a, a, "relu")
        ops.linear_forward(a, a, None, "relu")
        ops.linear_backward(a, a, a, a, "relu")
        dg.ops.matmul(a, a, trans_a=True)
    assert calls == [
        "matmul",
        "activation",
        "activation_backward",
        "linear_forward",
        "linear_backward",
        "matmul",
    ]
