"""torch 2.13 parity (round 33): numbers beside tensors as torch takes them (where's scalars
are checked against the result dtype; alpha / value / weight / beta / eps too; a Python int out
of an integer dtype's range wraps in arithmetic; ints beyond 64 bits are an OverflowError),
in-place ops that keep the dtype, softmax of integer tensors, 0-d gradients that stay arrays,
and Tensor.view(dtype)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]
INTS = [300, -300, 256, -1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]
FLOATS = [1e300, -1e300, 1e39, 3.5e38, 70000.0, 2.5, -0.5, np.inf, -np.inf, np.nan]
SCALARS = INTS + FLOATS + [True, False, 0, 127, np.float64(1e300), np.int64(-5)]


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


def _pair(dt, values=(1, 0, 1, 1, 0)):
    x = np.array(values).astype(dt)
    return dg.tensor(x), torch.tensor(x)


# torch's error -> the one deltagrad raises instead, where it deliberately differs
_KEPT = {ZeroDivisionError: RuntimeError}  # integer division by zero: Python's own error


def _same(fd, ft, rtol=0.0):
    """fd and ft (deltagrad's and torch's form of one call) raise the same exception type (and
    torch's "without overflow" type name), or agree in dtype and values (within rtol)."""
    try:
        want = ft()
    except Exception as e:  # noqa: BLE001 (any of torch's errors is compared)
        with pytest.raises(Exception) as got:  # noqa: PT011 (the type is checked below)
            fd()
        assert isinstance(got.value, type(e)) or _KEPT.get(type(got.value)) is type(e), (
            f"torch: {type(e).__name__}: {e}; deltagrad: {type(got.value).__name__}: {got.value}"
        )
        if "without overflow" in str(e):
            assert str(e).split("type ")[1] in str(got.value)
        return
    got = fd()
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", "")), (got.dtype, want.dtype)
    if rtol:
        np.testing.assert_allclose(_np(got), _np(want), rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(_np(got), _np(want))


# ---- where: a number operand is checked against the result dtype ---------------------------


@pytest.mark.parametrize("dt", DTYPES)
def test_where_checks_number_operands_as_torch(dt):
    m = np.array([True, False, True, False, True])
    for v in SCALARS:
        if isinstance(v, np.generic):
            continue  # torch.where refuses numpy scalars (deltagrad takes them: below)
        if dt == "bool" and isinstance(v, int) and v >= 2**63 and not isinstance(v, bool):
            continue  # torch: "Promotion for uint64"; here int64's overflow (both RuntimeError)
        xd, xt = _pair(dt)
        md, mt = dg.tensor(m), torch.tensor(m)
        for fd, ft in (
            (lambda: dg.where(md, xd, v), lambda: torch.where(mt, xt, v)),  # noqa: B023
            (lambda: dg.where(md, v, xd), lambda: torch.where(mt, v, xt)),  # noqa: B023
            (lambda: xd.where(md, v), lambda: xt.where(mt, v)),  # noqa: B023
        ):
            _same(fd, ft)


def test_where_two_numbers_and_numpy_scalars():
    m = np.array([True, False])
    md, mt = dg.tensor(m), torch.tensor(m)
    pairs = [(1, 2), (1.0, 2), (True, False), (1e300, 1), (300, 1), (True, 2.5), (2**62, 2.5)]
    pairs += [(2**64, 1), (1, -(2**63) - 1), (np.inf, 0), (1e39, 0.5)]
    for a, b in pairs:
        _same(lambda a=a, b=b: dg.where(md, a, b), lambda a=a, b=b: torch.where(mt, a, b))
    x = dg.tensor(np.ones(2, np.float32))
    with pytest.raises(RuntimeError, match="where: other: value cannot be converted to type float"):
        dg.where(md, x, np.float64(1e300))
    with pytest.raises(RuntimeError, match="where: input: .* type int8_t"):
        dg.where(md, np.int64(300), dg.tensor(np.ones(2, np.int8)))
    with pytest.raises(OverflowError, match="where: other: int too big to convert"):
        dg.where(md, x.half(), 2**64)


def test_where_zero_d_tensor_operand_is_cast_silently_as_torch():
    m = np.array([True, False])
    got = dg.where(dg.tensor(m), dg.tensor([1.0, 2.0]), dg.tensor(np.array(1e300)))
    want = torch.where(torch.tensor(m), torch.tensor([1.0, 2.0]), torch.tensor(1e300))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(_np(got), _np(want))


def test_where_gradients_with_number_operands():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    m = x > 0.2
    g = rng.standard_normal((3, 4))
    for other in (2.5, -7, 1e300, True):
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yd, yt = dg.where(dg.tensor(m), xd, other), torch.where(torch.tensor(m), xt, other)
        yd.backward(dg.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(_np(yd), _np(yt), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(_np(xd.grad), _np(xt.grad), rtol=1e-10, atol=1e-10)
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        dg.where(dg.tensor(m), other, xd).backward(dg.tensor(g))
        torch.where(torch.tensor(m), other, xt).backward(torch.tensor(g))
        np.testing.assert_allclose(_np(xd.grad), _np(xt.grad), rtol=1e-10, atol=1e-10)


# ---- the other number arguments of float ops: checked where torch checks them --------------


def _number_arg_cases(xd, xt):
    """(name, deltagrad call, torch call) with one number argument v, for float tensors."""
    e2d, e2t = dg.tensor(np.eye(2, dtype=xd.dtype)), torch.tensor(np.eye(2, dtype=xd.dtype))
    b3d, b3t = e2d.reshape(1, 2, 2), e2t.reshape(1, 2, 2)
    return [
        ("add alpha", lambda v: xd.add(xd, alpha=v), lambda v: xt.add(xt, alpha=v)),
        ("sub alpha", lambda v: xd.sub(xd, alpha=v), lambda v: xt.sub(xt, alpha=v)),
        ("add_ alpha", lambda v: xd.clone().add_(xd, v), lambda v: xt.clone().add_(xt, alpha=v)),
        ("addcmul", lambda v: xd.addcmul(xd, xd, value=v), lambda v: xt.addcmul(xt, xt, value=v)),
        ("addcdiv", lambda v: xd.addcdiv(xd, xd, value=v), lambda v: xt.addcdiv(xt, xt, value=v)),
        ("lerp", lambda v: xd.lerp(xd * 2, v), lambda v: xt.lerp(xt * 2, v)),
        ("addmm a", lambda v: e2d.addmm(e2d, e2d, alpha=v), lambda v: e2t.addmm(e2t, e2t, alpha=v)),
        ("addmm b", lambda v: e2d.addmm(e2d, e2d, beta=v), lambda v: e2t.addmm(e2t, e2t, beta=v)),
        (
            "baddbmm",
            lambda v: b3d.baddbmm(b3d, b3d, alpha=v),
            lambda v: b3t.baddbmm(b3t, b3t, alpha=v),
        ),
        ("add", lambda v: xd + v, lambda v: xt + v),
        ("mul", lambda v: xd * v, lambda v: xt * v),
        ("rdiv", lambda v: v / xd, lambda v: v / xt),
        ("pow", lambda v: xd.abs() ** v, lambda v: xt.abs() ** v),
        ("eq", lambda v: xd == v, lambda v: xt == v),
        ("lt", lambda v: xd < v, lambda v: xt < v),
        ("fmod", lambda v: xd.fmod(v), lambda v: xt.fmod(v)),
        ("remainder", lambda v: xd.remainder(v), lambda v: xt.remainder(v)),
        ("xlogy", lambda v: xd.xlogy(v), lambda v: xt.xlogy(v)),
        ("nan_to_num", lambda v: xd.nan_to_num(v, v, v), lambda v: xt.nan_to_num(v, v, v)),
        ("mul_", lambda v: xd.clone().mul_(v), lambda v: xt.clone().mul_(v)),
        ("clamp_min", lambda v: xd.clamp_min(v), lambda v: xt.clamp_min(v)),
    ]


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_number_arguments_of_float_ops_as_torch(dt):
    values = [1e300, -1e300, 1e39, 2.5, -3, 0, 2**40, 2**64 - 1, 2**64, -(2**63) - 1, np.inf]
    xd, xt = _pair(dt, [0.5, -1.5, 2.0, np.inf, np.nan])
    for name, fd, ft in _number_arg_cases(xd, xt):
        for v in values:
            if name in ("addmm a", "addmm b", "baddbmm") and v == np.inf:
                continue  # inf * 0 where torch's GEMM skips the zero terms
            # torch's float64 addcmul / addcdiv kernels fuse a multiply-add, and its v / x is
            # v * x.reciprocal(): 1 ulp apart
            rtol = {"addcmul": 1e-15, "addcdiv": 1e-15, "rdiv": 2e-7}.get(name, 0.0)
            try:
                _same(lambda fd=fd, v=v: fd(v), lambda ft=ft, v=v: ft(v), rtol)
            except AssertionError as e:
                raise AssertionError(f"{name}({v!r}): {e}") from None


def test_index_fill_and_scatter_values_checked_under_their_names():
    x = dg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="index_fill: value: value cannot be converted"):
        x.index_fill(0, dg.tensor([0]), 1e300)
    with pytest.raises(RuntimeError, match="scatter: value: value cannot be converted"):
        x.scatter(0, dg.tensor([0]), 1e300)
    with pytest.raises(RuntimeError, match="value cannot be converted"):
        torch.tensor([1.0, 2.0]).index_fill(0, torch.tensor([0]), 1e300)
    _same(
        lambda: x.index_fill(0, dg.tensor([0, 2]), 2.5),
        lambda: torch.tensor([1.0, 2.0, 3.0]).index_fill(0, torch.tensor([0, 2]), 2.5),
    )


def test_logit_eps_checked_as_torch():
    x = dg.tensor([0.2, 0.7])
    with pytest.raises(RuntimeError, match="logit: eps: value cannot be converted to type float"):
        x.logit(1e300)
    with pytest.raises(RuntimeError, match="value cannot be converted"):
        torch.tensor([0.2, 0.7]).logit(1e300)
    _same(lambda: x.logit(0.25), lambda: torch.tensor([0.2, 0.7]).logit(0.25), rtol=1e-6)


def test_alpha_and_value_rules_and_messages():
    i8 = dg.tensor(np.array([1, 2], np.int8))
    f = dg.tensor([1.0, 2.0])
    b = dg.tensor(np.array([True, False]))
    with pytest.raises(RuntimeError, match="add: alpha: For integral input tensors"):
        i8.add(i8, alpha=1.0)
    with pytest.raises(RuntimeError, match="sub_: alpha: For integral input tensors"):
        i8.clone().sub_(i8, 2.5)
    with pytest.raises(RuntimeError, match="add: alpha: Boolean alpha only supported"):
        f.add(f, alpha=True)
    with pytest.raises(RuntimeError, match="add: alpha: value cannot be converted to type int8_t"):
        i8.add(i8, alpha=300)
    with pytest.raises(TypeError, match="add: alpha: expected a number"):
        f.add(f, alpha="a")
    for alpha in (2, 0, True, -1):  # a bool result takes any int alpha as a bool, as torch
        _same(
            lambda a=alpha: b.add(b, alpha=a),
            lambda a=alpha: torch.tensor([True, False]).add(torch.tensor([True, False]), alpha=a),
        )
    # an int tensor beside a float tensor: alpha scales in the float result dtype
    _same(
        lambda: f.add(i8, alpha=300),
        lambda: torch.tensor([1.0, 2.0]).add(torch.tensor([1, 2], dtype=torch.int8), alpha=300),
    )
    # addcmul's value is truncated into an integer result, as torch (2.5 is 2)
    ti8 = torch.tensor([1, 2], dtype=torch.int8)
    _same(lambda: i8.addcmul(i8, i8, value=2.5), lambda: ti8.addcmul(ti8, ti8, value=2.5))
    with pytest.raises(RuntimeError, match="addcmul: value: value cannot be converted"):
        i8.addcmul(i8, i8, value=300)
    with pytest.raises(OverflowError, match="lerp: weight: int too big to convert"):
        f.lerp(f, 2**70)


def test_alpha_and_value_gradients_as_torch():
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal((3, 5)) for _ in range(3))
    g = rng.standard_normal((3, 5))
    calls = [
        (lambda x, y, z: x.add(y, alpha=2.5), lambda x, y, z: x.add(y, alpha=2.5)),
        (lambda x, y, z: x.sub(y, alpha=-3), lambda x, y, z: x.sub(y, alpha=-3)),
        (lambda x, y, z: x.addcmul(y, z, value=0.3), lambda x, y, z: x.addcmul(y, z, value=0.3)),
        (lambda x, y, z: x.addcdiv(y, z, value=-2), lambda x, y, z: x.addcdiv(y, z, value=-2)),
        (lambda x, y, z: x.lerp(y, 0.7), lambda x, y, z: x.lerp(y, 0.7)),
        (lambda x, y, z: x.lerp(y, 0.2), lambda x, y, z: x.lerp(y, 0.2)),
    ]
    for fd, ft in calls:
        ins_d = [dg.tensor(v, requires_grad=True) for v in (a, b, c)]
        ins_t = [torch.tensor(v, requires_grad=True) for v in (a, b, c)]
        yd, yt = fd(*ins_d), ft(*ins_t)
        yd.backward(dg.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(_np(yd), _np(yt), rtol=1e-10, atol=1e-10)
        for d, t in zip(ins_d, ins_t):
            if t.grad is None:
                assert d.grad is None
            else:
                np.testing.assert_allclose(_np(d.grad), _np(t.grad), rtol=1e-10, atol=1e-10)
    x = dg.tensor(a, requires_grad=True)
    x.add(x.detach().float(), alpha=2).sum().backward()  # float32 other: scaled in float64
    np.testing.assert_array_equal(_np(x.grad), np.ones_like(a))


# ---- a Python int beside an integer tensor: torch's wrap-around ----------------------------

_INT_OPS = {
    "add": (lambda x, s: x + s),
    "radd": (lambda x, s: s + x),
    "sub": (lambda x, s: x - s),
    "rsub": (lambda x, s: s - x),
    "mul": (lambda x, s: x * s),
    "rmul": (lambda x, s: s * x),
    "div": (lambda x, s: x / s),
    "rdiv": (lambda x, s: s / x),
    "floordiv": (lambda x, s: x // s),
    "mod": (lambda x, s: x % s),
    "pow": (lambda x, s: x**s),
    "rpow": (lambda x, s: s**x),
    "add_": (lambda x, s: x.clone().add_(s)),
    "sub_": (lambda x, s: x.clone().sub_(s)),
    "mul_": (lambda x, s: x.clone().mul_(s)),
    "add()": (lambda x, s: x.add(s)),
    "sub()": (lambda x, s: x.sub(s)),
    "sub alpha": (lambda x, s: x.sub(1, alpha=s)),
    "and": (lambda x, s: x & s),
    "or": (lambda x, s: x | s),
    "xor": (lambda x, s: x ^ s),
    "fmod": (lambda x, s: x.fmod(s)),
    "remainder": (lambda x, s: x.remainder(s)),
    "xlogy": (lambda x, s: x.xlogy(s)),
    "div trunc": (lambda x, s: x.div(s, rounding_mode="trunc")),
}


@pytest.mark.parametrize("dt", ["int8", "uint8", "int16", "int32", "int64", "bool"])
def test_out_of_range_python_ints_wrap_as_torch(dt):
    values = [True, False, True, False, True] if dt == "bool" else [-100, 0, 5, 100, 127]
    if dt == "uint8":
        values = [0, 5, 100, 127, 3]
    for s in INTS + [5, 0]:
        for name, f in _INT_OPS.items():
            if name == "rpow" and abs(s) > 64:
                continue  # huge ** x: both sides compute it, torch slowly
            if dt == "bool" and name in ("sub", "rsub", "sub_", "sub()", "sub alpha"):
                continue  # torch refuses bool - int; deltagrad keeps NumPy's int result
            if dt == "bool" and 2**63 <= s < 2**64:
                continue  # torch: "Promotion for uint64"; here int64's overflow or a result
            xd, xt = _pair(dt, values)
            rtol = 2e-7 if name == "rdiv" else 0.0  # torch's v / x is v * x.reciprocal()
            try:
                _same(lambda f=f, s=s, x=xd: f(x, s), lambda f=f, s=s, x=xt: f(x, s), rtol)
            except AssertionError as e:
                raise AssertionError(f"{dt} {name} {s}: {e}") from None


def test_int_wrap_examples_and_messages():
    x = dg.tensor(np.array([1, 100, -100], np.int8))
    np.testing.assert_array_equal((x + 300).numpy(), [45, -112, -56])
    assert (x + 300).dtype == np.int8
    np.testing.assert_array_equal((x / 300).numpy(), np.float32([1, 100, -100]) / np.float32(300))
    with pytest.raises(OverflowError, match="add: other: int too big to convert"):
        x + 2**64
    with pytest.raises(OverflowError, match="div: other: int too big to convert"):
        x / (-(2**63) - 1)
    with pytest.raises(RuntimeError, match="pow: exponent: value cannot be converted to type int8"):
        x**300
    with pytest.raises(RuntimeError, match="pow: exponent: Integers to negative integer powers"):
        x**-1
    # a tensor exponent: computed as torch (1 ** -e is 1, (-1) ** -e is +-1, else 0)
    b, e = np.array([0, 1, -1, 2, -2, 3, 5]), np.array([-1, -3, -3, -1, -2, 0, 2])
    _same(lambda: dg.tensor(b) ** dg.tensor(e), lambda: torch.tensor(b) ** torch.tensor(e))
    _same(
        lambda: 5 ** dg.tensor(np.int8([-1, 2, -100])),
        lambda: 5 ** torch.tensor(np.int8([-1, 2, -100])),
    )
    with pytest.raises(ZeroDivisionError, match="floor_divide: integer division by zero"):
        x // 256


def test_comparisons_with_python_ints():
    """deltagrad compares an int tensor with a Python int exactly (a deliberate difference:
    torch wraps the int first, so int8 < 300 is x < 44 there); a float scalar out of float32's
    range compares as inf, silently, as torch; an int beyond 64 bits raises as torch's."""
    x = dg.tensor(np.array([-100, 0, 5, 100, 127], np.int8))
    assert (x < 300).numpy().all() and not (x > 300).numpy().any()
    assert (x > -300).numpy().all()
    for s in (2**64, -(2**63) - 1):
        with pytest.raises(OverflowError):
            _ = torch.tensor([1]) < s
        for f in (lambda s: x < s, lambda s: x == s, lambda s: dg.tensor([1.0]) >= s):
            with pytest.raises(OverflowError, match="int too big to convert"):
                f(s)
    for dt in ("float16", "float32", "int8", "bool"):
        xd, xt = _pair(dt, [1, 0, 1, 1, 0])
        for v in (1e300, -1e300, 1e39, np.inf):
            for op in ("__eq__", "__ne__", "__lt__", "__ge__"):
                _same(
                    lambda op=op, v=v, x=xd: getattr(x, op)(v),
                    lambda op=op, v=v, x=xt: getattr(x, op)(v),
                )
    inf = dg.tensor([np.inf], dtype=dg.float32)
    assert (inf == 1e300).item() and (torch.tensor([np.inf]) == 1e300).item()


def test_inplace_ops_keep_the_dtype_as_torch():
    pairs = [
        ("int8", [1, 2, -3], lambda x: x.sub_(1)),  # broken before: a float alpha of -1.0
        ("int8", [1, 2, -3], lambda x: x.sub_(2, 3)),
        ("int64", [1, 2, -3], lambda x: x.__isub__(5)),
        ("uint8", [1, 2, 3], lambda x: x.add_(np.array([-1, 1, 2], np.int8))),
        ("int16", [1, 2, 3], lambda x: x.mul_(np.array([300, 2, 1], np.int64))),
        ("float32", [1, 2, 3], lambda x: x.div_(np.array([1e300, 2, 0], np.float64))),
        ("bool", [1, 0, 1], lambda x: x.add_(True)),
        ("bool", [1, 0, 1], lambda x: x.mul_(False)),
    ]
    for dt, v, f in pairs:
        xd, xt = _pair(dt, v)

        def ft(t, f=f):
            return f(_TorchArgs(t))

        _same(lambda f=f, xd=xd: f(xd), lambda xt=xt, ft=ft: ft(xt))
    bad = [
        ("int8", lambda x: x.add_(2.5), "add_: result type float32 can't be cast to"),
        ("int8", lambda x: x.mul_(dg.tensor([1.0, 2.0, 3.0])), "mul_: result type float32"),
        ("int32", lambda x: x.div_(2), "div_: result type float32 can't be cast to"),
        ("bool", lambda x: x.add_(1), "add_: result type int64 can't be cast to"),
        ("int8", lambda x: x.add_(1, 2.5), "add_: alpha: For integral input tensors"),
        ("float32", lambda x: x.add_(1, 1e300), "add_: alpha: value cannot be converted"),
    ]
    for dt, f, msg in bad:
        xd = dg.tensor(np.array([1, 0, 1]).astype(dt))
        before = xd.numpy().copy()
        with pytest.raises(RuntimeError, match=msg) as e:
            f(xd)
        np.testing.assert_array_equal(xd.numpy(), before)  # nothing written
        if "cast" in msg:
            assert isinstance(e.value, TypeError)  # what NumPy's error was
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        torch.tensor([1, 2], dtype=torch.int8).add_(2.5)
    with pytest.raises(RuntimeError, match="bool"):
        dg.tensor(np.array([True])).sub_(True)


class _TorchArgs:
    """A torch tensor whose in-place methods take numpy arrays as deltagrad's do (and sub_'s
    positional alpha)."""

    def __init__(self, t):
        self.t = t

    def __getattr__(self, name):
        meth = getattr(self.t, name)

        def call(*args):
            args = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
            if name in ("sub_", "add_") and len(args) == 2:
                return meth(args[0], alpha=args[1])
            return meth(*args)

        return call


def test_bool_subtraction_and_negation_errors():
    b = dg.tensor(np.array([True, False]))
    for f in (lambda: b - b, lambda: b - True, lambda: -b, lambda: b.sub(b)):
        with pytest.raises(RuntimeError, match="bool") as e:
            f()
        assert isinstance(e.value, TypeError)  # deltagrad's error type before
    with pytest.raises(RuntimeError, match="Subtraction"):
        torch.tensor([True]) - torch.tensor([True])


def test_tensor_creation_out_of_range_as_torch():
    with pytest.raises(RuntimeError, match="tensor: value cannot be converted to type int8"):
        dg.tensor([300], dtype=dg.int8)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int8"):
        torch.tensor([300], dtype=torch.int8)
    for v in ([2**64], 2**64, [1, -(2**63) - 1], [[1], [2**70]]):
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            dg.tensor(v)
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            torch.tensor(v)


# ---- softmax family on integer tensors ------------------------------------------------------

SOFT = {
    "softmax": (F.softmax, TF.softmax),
    "log_softmax": (F.log_softmax, TF.log_softmax),
    "softmin": (F.softmin, TF.softmin),
}


@pytest.mark.parametrize("name", sorted(SOFT))
@pytest.mark.parametrize("dt", ["int64", "int32", "int8", "uint8", "bool"])
def test_softmax_of_int_tensor_is_torchs_error_and_dtype_works(name, dt):
    ours, theirs = SOFT[name]
    x = np.array([[1, 0, 3], [2, 2, 0]]).astype(dt)
    for dim in (0, 1, -1):
        try:
            theirs(torch.tensor(x), dim)
        except Exception as e:  # noqa: BLE001
            want = e
        with pytest.raises(type(want)) as got:
            ours(dg.tensor(x), dim)
        if isinstance(want, NotImplementedError):
            assert str(want) in str(got.value) and str(got.value).startswith(name + ":")
            assert isinstance(got.value, TypeError)  # deltagrad's error before
    if name == "softmin" and dt == "bool":
        return  # bool negation: torch's RuntimeError, checked above
    for odt, tdt in ((dg.float32, torch.float32), (np.float64, torch.float64)):
        for dim in (0, 1):
            yd, yt = ours(dg.tensor(x), dim, dtype=odt), theirs(torch.tensor(x), dim, dtype=tdt)
            assert yd.dtype == np.dtype(odt)
            tol = 1e-10 if odt == np.float64 else 1e-6
            np.testing.assert_allclose(_np(yd), _np(yt), rtol=tol, atol=tol)
    with pytest.raises(NotImplementedError, match=f"{name}: \".*\" not implemented for 'Long'"):
        ours(dg.tensor(np.ones((2, 3))), 1, dtype=dg.int64)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_softmax_dtype_gradients_and_float16_as_torch(name):
    ours, theirs = SOFT[name]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5)) * 3
    g = rng.standard_normal((3, 5))
    xd, xt = (
        dg.tensor(x, dtype=dg.float32, requires_grad=True),
        torch.tensor(x, dtype=torch.float32, requires_grad=True),
    )
    yd, yt = ours(xd, 1, dtype=dg.float64), theirs(xt, 1, dtype=torch.float64)
    yd.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    assert yd.dtype == np.float64 and xd.grad.dtype == np.float32
    np.testing.assert_allclose(_np(yd), _np(yt), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_np(xd.grad), _np(xt.grad), rtol=1e-5, atol=1e-6)
    h = x.astype(np.float16)  # float16: computed in float32 and rounded, as torch's CPU
    for dim in (0, 1):
        yd, yt = ours(dg.tensor(h), dim), theirs(torch.tensor(h), dim)
        assert yd.dtype == np.float16
        # torch's log_softmax subtracts a float16-rounded logsumexp (an error up to half an
        # ulp of it, ~4e-3 here); deltagrad rounds once, at the end
        atol = 5e-3 if name == "log_softmax" else 0.0
        np.testing.assert_allclose(
            _np(yd).astype(float), _np(yt).astype(float), rtol=1e-3, atol=atol
        )


def test_softmax_of_empty_int_tensor_as_torch():
    x = np.zeros((2, 0), np.int64)
    for ours, theirs in SOFT.values():
        yd, yt = ours(dg.tensor(x), 1), theirs(torch.tensor(x), 1)
        assert yd.shape == tuple(yt.shape) and yd.dtype == np.int64
        with pytest.raises(IndexError):
            ours(dg.tensor(x), 2)


# ---- 0-d gradients stay 0-d arrays ----------------------------------------------------------

A = np.random.default_rng(4).standard_normal((3, 4))
ZERO_D_OPS = {
    "sum": lambda w, a: w.sum(),
    "mean": lambda w, a: w.mean(),
    "mul": lambda w, a: a * w,
    "add": lambda w, a: w + a,
    "div": lambda w, a: a / w,
    "pow": lambda w, a: a.abs() ** w,
    "expand": lambda w, a: w.expand(3, 4) * a,
    "twice": lambda w, a: w * w + w,
    "matmul": lambda w, a: (a * w) @ a.T,
    "where": lambda w, a: a.where(a > 0, w),
    "maximum": lambda w, a: a.maximum(w),
    "clamp": lambda w, a: a.clamp(min=w),
    "masked_fill": lambda w, a: a.masked_fill(a > 0, w),
    "lerp": lambda w, a: a.lerp(a * 0, w),
    "reshape": lambda w, a: w.reshape(1, 1) * a,
    "unsqueeze": lambda w, a: (w.unsqueeze(0) * a.sum(1)).sum() + w.exp(),
    "softmax": lambda w, a: (
        (F.softmax if isinstance(a, dg.Tensor) else torch.softmax)(a * w, 1) * a
    ),
    "prod": lambda w, a: w.prod() * a,
}


@pytest.mark.parametrize("name", sorted(ZERO_D_OPS))
def test_zero_d_leaf_gradient_is_an_array_zeroed_in_place(name):
    f = ZERO_D_OPS[name]
    w = dg.tensor(np.array(0.7), requires_grad=True)
    wt = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    for _ in range(2):  # the second backward accumulates into the first's array
        f(w, dg.tensor(A)).sum().backward()
        f(wt, torch.tensor(A)).sum().backward()
    assert type(w.grad) is np.ndarray and w.grad.ndim == 0
    np.testing.assert_allclose(w.grad, _np(wt.grad), rtol=1e-10, atol=1e-10)
    g = w.grad
    w.zero_grad(set_to_none=False)
    assert w.grad is g and g == 0
    f(w, dg.tensor(A)).sum().backward()
    assert w.grad is g and type(g) is np.ndarray


def test_zero_d_gradients_entering_from_outside_an_op():
    w = dg.tensor(np.array(1.5), requires_grad=True)
    w.register_hook(lambda g: np.float64(3.0))  # a hook returning a numpy scalar
    (w * 2).backward()
    assert type(w.grad) is np.ndarray and w.grad == 3.0
    w = dg.tensor(np.array(1.5), requires_grad=True)
    w.grad = np.float64(1.0)  # an assigned numpy scalar: accumulated into, as an array
    (w * 2).backward()
    assert type(w.grad) is np.ndarray and w.grad == 3.0
    w.grad = dg.tensor(np.array(4.0))  # an assigned Tensor: zero_grad fills its array
    w.zero_grad(set_to_none=False)
    assert type(w.grad) is np.ndarray and w.grad == 0
    w = dg.tensor(np.array(1.5), requires_grad=True)
    w._accumulate(np.float64(1.0))
    w._accumulate(np.float64(2.0))
    assert type(w.grad) is np.ndarray and w.grad == 3.0
    (gd,) = dg.autograd.grad(w * w, [w])
    assert type(gd.data) is np.ndarray and gd.data.ndim == 0
    w = dg.tensor(np.array(2.0, np.float32), requires_grad=True)
    opt = dg.optim.Adam([w], lr=0.1)
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        (w * w).backward()
        opt.step()
    assert type(w.grad) is np.ndarray and type(w.data) is np.ndarray


# ---- Tensor.view(dtype) ---------------------------------------------------------------------


def _T(t):
    return t.T


_M = np.arange(24, dtype=np.float32).reshape(4, 6) * 1.25
_B = np.arange(16, dtype=np.uint8)
# (a contiguous base array, the view of it taken on both sides, the dtype to view it as)
VIEW_CASES = [
    (_M, None, d) for d in ("int32", "float16", "float64", "int8", "uint8", "bool", "int16")
] + [
    (_M, None, "float32"),
    (_M, _T, "int32"),
    (_M, _T, "float16"),
    (_M, _T, "float64"),
    (_M, (slice(None), slice(2, 6)), "float64"),
    (_M, (slice(None), slice(1, 5)), "float64"),
    (_M, (slice(1, None), slice(1, None)), "float64"),
    (_M, (slice(None), slice(None, 5)), "float64"),
    (_M, (slice(None, None, 2),), "float64"),
    (_M, (slice(None), slice(None, None, 2)), "int8"),
    (_M, (slice(1, 3), slice(0, 4)), "float64"),
    (np.array(1.5, np.float32), None, "int32"),
    (np.array(1.5, np.float32), None, "float64"),
    (np.array(1.5, np.float64), None, "float32"),
    (np.zeros((2, 0), np.float32), None, "float64"),
    (np.zeros((3, 0), np.float32), None, "float16"),
    (np.zeros((0, 2), np.float32), None, "float64"),
    (np.zeros((0, 3), np.float32), None, "float64"),
    (np.arange(4), None, "float64"),
    (np.arange(2), None, "int8"),
    (np.array([True, False]), None, "uint8"),
    (np.array([2, 0], np.uint8), None, "bool"),
    (np.zeros(3, np.uint8), None, "int16"),
    (_B, (slice(1, 3),), "int16"),
    (_B, (slice(2, 4),), "int16"),
    (_B, (slice(4, 12),), "int64"),
    (_B.reshape(2, 8), (slice(None), slice(None, None, 2)), "int16"),
    (_B.reshape(4, 4), (slice(None), slice(0, 2)), "int16"),
    (_B.reshape(4, 4), (slice(None), slice(0, 2)), "int64"),
]


def _torch_copy(a):
    """a as a torch tensor with torch's own (contiguous) strides, empty ones included."""
    t = torch.empty(a.shape, dtype=getattr(torch, a.dtype.name))
    return t.copy_(torch.from_numpy(a)) if a.size else t


@pytest.mark.parametrize("case", range(len(VIEW_CASES)))
def test_view_dtype_as_torch(case):
    arr, how, dt = VIEW_CASES[case]
    xd, xt = dg.tensor(arr), _torch_copy(arr)
    if how is not None:
        xd, xt = (how(xd), how(xt)) if callable(how) else (xd[how], xt[how])
    try:
        want = xt.view(getattr(torch, dt))
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as got:
            xd.view(np.dtype(dt))
        assert str(got.value) == "view: " + str(e)
        return
    got = xd.view(getattr(dg, dt) if hasattr(dg, dt) else np.dtype(dt))
    assert got.dtype == np.dtype(dt) and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    if got.data.size:
        assert np.shares_memory(got.data, xd.data)
        assert [s // got.data.itemsize for s in got.data.strides] == list(want.stride())


def test_view_dtype_forms_no_grad_and_shared_version():
    x = dg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    want = x.data.view(np.int32)
    for v in (x.view(dg.int32), x.view(np.int32), x.view("int32"), x.view(dtype=dg.int32)):
        assert v.dtype == np.int32 and not v.requires_grad and v.grad_fn is None
        np.testing.assert_array_equal(v.numpy(), want)
    same = x.view(dg.float32)  # torch's view(dtype) is not differentiable, same dtype too
    assert not same.requires_grad and same.is_leaf
    assert x.view(4, 3).shape == (4, 3) and x.view((2, 6)).shape == (2, 6)
    assert x.view(-1).shape == (12,) and x.view(size=(6, 2)).shape == (6, 2)
    assert x.view(4, 3).requires_grad  # view(*shape) keeps its gradient
    y = dg.tensor(np.ones(4, np.float32))
    bits = y.view(dg.int32)
    bits[0] = 0  # writes through: the same memory, the same version counter
    assert y.numpy()[0] == 0 and y._version[0] == 1
    z = dg.tensor(np.ones(3), requires_grad=True)
    h = z * 1
    out = h * h  # saves h (torch's mul too: its backward raises the same way)
    with dg.no_grad():
        h.view(dg.int64)[0] = 0  # an in-place change through the dtype view
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()
    for bad, exc in ((1.5, TypeError), (None, TypeError), ("nope", TypeError)):
        with pytest.raises(exc):
            x.view(bad)
    with pytest.raises(TypeError, match="view: dtype: complex64 is not supported"):
        x.view(np.complex64)
    with pytest.raises(TypeError, match="view: expected a shape"):
        x.view()
    with pytest.raises(TypeError, match="view: expected one of"):
        x.view(3, 4, dtype=dg.int32)
    with pytest.raises(TypeError):
        torch.ones(2).view()
