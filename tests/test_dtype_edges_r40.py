"""Dtype edges found in round 39, against torch 2.13: argmax / argmin refuse a bool tensor
(max / min / amax / amin take one), and einsum / tensordot of bool and int operands give
torch's result dtype (int64 where torch sums a letter out), its narrow-int wrap-around and
its errors."""

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402

rng = np.random.default_rng(40)


def _both(fn, *arrays):
    """fn on deltagrad's tensors and on torch's: (dtype name, values) or the exception."""
    out = []
    for lib in (dg, torch):
        try:
            v = fn(lib, *[lib.tensor(a) for a in arrays])
        except Exception as e:  # noqa: BLE001 - the kind is compared below
            out.append(e)
            continue
        out.append(v)
    return out


def _same_result(d, t, what: str) -> None:
    if isinstance(t, Exception):
        assert isinstance(d, type(t)), f"{what}: torch raised {t!r}, deltagrad gave {d!r}"
        return
    assert not isinstance(d, Exception), f"{what}: deltagrad raised {d!r}, torch did not"
    assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], what
    np.testing.assert_array_equal(np.asarray(d.data), t.numpy(), err_msg=what)


# ---- argmax / argmin / max / min on bool ------------------------------------------------


BOOLS = [
    np.array([[True, False, True], [False, False, True]]),
    np.array(True),
    np.zeros((0, 3), bool),
    np.array([False, True, True, False]),
]


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("a", BOOLS, ids=lambda a: str(a.shape))
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"keepdim": True}])
def test_argmax_argmin_refuse_bool_as_torch(op, a, kw):
    if a.ndim == 0 and "dim" in kw:
        kw = {"dim": 0}
    for call in (lambda t: getattr(t, op)(**kw), lambda t: getattr(dg, op)(t, **kw)):
        with pytest.raises(RuntimeError, match=f"{op}\\(\\): does not support bool input"):
            call(dg.tensor(a))
    with pytest.raises(RuntimeError, match="does not support bool input"):
        getattr(torch.tensor(a), op)(**kw)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dt", [np.int8, np.uint8, np.int32, np.float32])
def test_argmax_argmin_other_dtypes_unchanged(op, dt):
    a = rng.integers(0, 3, (4, 5)).astype(dt)  # ties: the first index, as torch
    for kw in ({}, {"dim": 0}, {"dim": 1, "keepdim": True}):
        d, t = _both(lambda lib, x, kw=kw: getattr(x, op)(**kw), a)
        _same_result(d, t, f"{op}{kw} {np.dtype(dt)}")


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
@pytest.mark.parametrize("a", BOOLS[:2] + BOOLS[3:], ids=lambda a: str(a.shape))
def test_max_min_amax_amin_take_bool_as_torch(op, a):
    d, t = _both(lambda lib, x: getattr(x, op)(), a)
    _same_result(d, t, f"{op}()")
    d, t = _both(lambda lib, x: getattr(x, op)(0), a)
    if op in ("max", "min"):  # (values, indices)
        _same_result(d[0], t[0], f"{op}(0) values")
        _same_result(d[1], t[1], f"{op}(0) indices")
    else:
        _same_result(d, t, f"{op}(0)")


# ---- einsum of bool / int operands ------------------------------------------------------


@pytest.mark.parametrize(
    "eq,shapes,dt,want",
    [
        ("i,i->", [(3,), (3,)], np.int32, "int32"),  # a pair contracted: bmm keeps the dtype
        ("i,i", [(5,), (5,)], np.int32, "int32"),
        ("ij,ij->", [(2, 3), (2, 3)], np.int32, "int32"),
        ("ij,jk->ik", [(2, 3), (3, 4)], np.int16, "int16"),
        ("i,j->ij", [(2,), (3,)], np.int8, "int8"),  # a product alone
        ("ij->", [(2, 3)], np.int32, "int64"),  # one operand summed: torch's sum is int64
        ("ij->i", [(2, 3)], np.uint8, "int64"),
        ("ii->", [(3, 3)], np.int32, "int64"),
        ("ii->i", [(3, 3)], np.int32, "int32"),  # a diagonal, no sum
        ("i->", [(0,)], np.int32, "int64"),
        ("ab,cd->", [(2, 3), (3, 2)], np.int8, "int64"),  # both summed first, then multiplied
        ("...,...->", [(), ()], np.bool_, "bool"),
        ("i,j->ij", [(2,), (3,)], np.bool_, "bool"),
        ("ij->", [(2, 3)], np.bool_, "int64"),
        ("ij,k->", [(2, 3), (4,)], np.bool_, "int64"),
    ],
)
def test_einsum_int_and_bool_dtypes_as_torch(eq, shapes, dt, want):
    arrays = [rng.integers(0, 3, s).astype(dt) for s in shapes]
    d, t = _both(lambda lib, *xs: lib.einsum(eq, *xs), *arrays)
    _same_result(d, t, eq)
    assert str(d.dtype).split(".")[-1] == want


@pytest.mark.parametrize(
    "eq,shapes,dt,kind",
    [
        ("ij,j->", [(2, 3), (3,)], np.int32, RuntimeError),  # bmm of int64 (a sum) and int32
        ("j,ij->", [(3,), (2, 3)], np.int32, RuntimeError),
        ("i,i->", [(3,), (3,)], np.bool_, NotImplementedError),  # no bool bmm
        ("ij,jk->ik", [(2, 3), (3, 2)], np.bool_, NotImplementedError),
        ("i,i->", [(3,), (3,)], np.uint16, NotImplementedError),
    ],
)
def test_einsum_int_and_bool_errors_as_torch(eq, shapes, dt, kind):
    arrays = [np.ones(s, dt) for s in shapes]
    d, t = _both(lambda lib, *xs: lib.einsum(eq, *xs), *arrays)
    assert isinstance(t, kind) and isinstance(d, kind), (d, t)


def _random_equation(r: random.Random, repeat: bool):
    n = r.choice([1, 1, 2, 2, 2, 3, 3, 4])
    if repeat:  # letters may repeat within an operand (diagonals)
        subs = ["".join(r.choices("abc", k=r.randint(0, 3))) for _ in range(n)]
    else:
        subs = ["".join(r.sample("abcde", r.randint(0, 3))) for _ in range(n)]
    size = {c: r.choice([1, 2, 3]) for c in "abcde"}
    letters = sorted(set("".join(subs)))
    eq = ",".join(subs)
    if r.random() < 0.8:
        eq += "->" + "".join(r.sample(letters, r.randint(0, len(letters))))
    shapes = [tuple(size[c] if repeat or r.random() < 0.8 else 1 for c in s) for s in subs]
    return eq, shapes


@pytest.mark.parametrize("repeat", [False, True])
@pytest.mark.parametrize(
    "dt,lo,hi",
    [
        (np.int32, -3, 3),
        (np.int64, -3, 3),
        (np.int8, -120, 120),  # products wrap around in int8 where torch's do
        (np.uint8, 0, 250),
        (np.int16, -300, 300),
        (np.bool_, 0, 2),
    ],
)
def test_einsum_int_random_equations_match_torch(repeat, dt, lo, hi):
    """Random equations (1-4 operands, size-1 dims, implicit outputs, repeated letters): the
    dtype, every value and the kind of error are torch's."""
    r = random.Random(f"{np.dtype(dt)}{repeat}")
    for _ in range(150):
        eq, shapes = _random_equation(r, repeat)
        arrays = [rng.integers(lo, hi, s).astype(dt) for s in shapes]
        d, t = _both(lambda lib, *xs, eq=eq: lib.einsum(eq, *xs), *arrays)
        _same_result(d, t, f"{eq} {shapes} {np.dtype(dt)}")


def test_einsum_float_unchanged():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    d, t = _both(lambda lib, x, y: lib.einsum("ij,jk->", x, y), a, b)
    assert d.dtype == dg.float64
    np.testing.assert_allclose(np.asarray(d.data), t.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dt", [np.bool_, np.uint16])
@pytest.mark.parametrize("dims", [0, 1])
def test_tensordot_bool_refused_as_torch(dt, dims):
    a, b = np.ones((2, 3), dt), np.ones((3, 2), dt)
    d, t = _both(lambda lib, x, y: lib.tensordot(x, y, dims), a, b)
    assert isinstance(t, NotImplementedError) and isinstance(d, NotImplementedError), (d, t)


@pytest.mark.parametrize("dt", [np.int8, np.int32, np.int64])
@pytest.mark.parametrize("dims", [0, 1, 2])
def test_tensordot_ints_keep_their_dtype_as_torch(dt, dims):
    a = rng.integers(-50, 50, (2, 3)).astype(dt)
    b = rng.integers(-50, 50, (2, 3) if dims == 2 else (3, 2)).astype(dt)
    d, t = _both(lambda lib, x, y: lib.tensordot(x, y, dims), a, b)
    _same_result(d, t, f"tensordot dims={dims}")
