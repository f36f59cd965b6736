"""F.conv1d, F.conv_transpose1d / conv_transpose2d and nn.Conv1d / ConvTranspose1d /
ConvTranspose2d against torch 2.13 (round 35): forward and the input, weight and bias gradients
in float64 (rtol = atol = 1e-10) over strides 1 / 2 / 3, paddings 0 / 1 / 2, output_padding,
dilation 1 / 2, groups 1 / 2 / depthwise, kernels 1 / 3 / non-square, odd sizes, batch 1 and 0,
unbatched inputs; float32; gradcheck; the modules' init, repr, state_dict and output_size; and
each bad argument against torch's exception type."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional

TOL = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-4, atol=1e-4)


def _run(dg_fn, t_fn, arrays, seed=0, tol=TOL):
    """fn(*arrays) here and in torch: the results and every array's gradient for a random
    output gradient."""
    rng = np.random.default_rng(seed)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = t_fn(*ts)
    gy = rng.uniform(-1, 1, size=tuple(ty.shape)).astype(arrays[0].dtype)
    ty.backward(torch.tensor(gy))
    ds = [dg.tensor(a, requires_grad=True) for a in arrays]
    y = dg_fn(*ds)
    assert y.shape == tuple(ty.shape)
    assert y.data.dtype == arrays[0].dtype
    y.backward(dg.tensor(gy))
    assert_close(y.data, ty.detach().numpy(), **tol, name="y")
    for i, (d, t) in enumerate(zip(ds, ts)):
        assert_close(d.grad, t.grad.numpy(), **tol, name=f"grad of argument {i}")


# ---- conv_transpose2d ------------------------------------------------------------------------

KERNELS = [(1, 1), (3, 3), (2, 3)]
# (dilation, groups, output_padding) cycled over stride x padding x kernel
_DGO = [(1, 1, 0), (2, 2, 1), (1, 4, 0), (2, 1, 0), (1, 2, 1), (2, 4, 1)]
_SPK = list(itertools.product([1, 2, 3], [0, 1, 2], KERNELS))
GRID_T2 = [(s, p, k, *_DGO[(i + i // 6) % 6]) for i, (s, p, k) in enumerate(_SPK)]


def _ids_t(c):
    s, p, k, d, g, o = c
    return f"s{s}p{p}k{k[0]}x{k[1]}d{d}g{g}op{o}"


@pytest.mark.parametrize("case", GRID_T2, ids=[_ids_t(c) for c in GRID_T2])
def test_conv_transpose2d_matches_torch(case):
    s, p, (kh, kw), d, g, op = case
    if op >= max(s, d):
        op = max(s, d) - 1
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    cin, cout = 4, 6 if g != 4 else 8  # groups 4: depthwise, 2 outputs per channel
    x = rng.uniform(-2, 2, size=(2, cin, 5, 7))
    w = rng.uniform(-1, 1, size=(cin, cout // g, kh, kw))
    b = rng.uniform(-1, 1, size=cout)
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k in ((5, kh), (7, kw))]
    if min(out) < 1:  # torch refuses, so do we
        with pytest.raises(RuntimeError):
            TF.conv_transpose2d(*map(torch.tensor, (x, w, b)), s, p, op, g, d)
        with pytest.raises(RuntimeError):
            F.conv_transpose2d(x, w, b, s, p, op, g, d)
        return
    _run(
        lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, s, p, op, g, d),
        [x, w, b],
    )


@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation",
    [
        ((2, 3), (1, 0), (1, 2), (1, 1)),
        ((1, 2), (2, 1), (0, 1), (2, 1)),
        (1, 2, 2, 3),  # output_padding >= stride (allowed: < dilation)
        ((1, 2), 0, (1, 2), (2, 3)),  # output_padding >= stride on both axes
        (2, 3, 2, 3),
    ],
)
def test_conv_transpose2d_asymmetric_args(stride, padding, output_padding, dilation):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 6, 5))
    w = rng.normal(size=(3, 2, 3, 2))
    b = rng.normal(size=2)
    args = (stride, padding, output_padding, 1, dilation)
    _run(
        lambda x, w, b: F.conv_transpose2d(x, w, b, *args),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, *args),
        [x, w, b],
    )


def test_conv_transpose2d_no_bias_unbatched_and_kwargs():
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 3, 3, 3))
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    w = w[:, :3]
    _run(
        lambda x, w: F.conv_transpose2d(x, w, **kw),
        lambda x, w: TF.conv_transpose2d(x, w, **kw),
        [x, np.ascontiguousarray(w)],
    )


def test_conv_transpose2d_batch_zero():
    rng = np.random.default_rng(5)
    x, w, b = np.zeros((0, 4, 5, 5)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=3)
    _run(
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, 2),
        [x, w, b],
    )


def test_conv_transpose2d_size_one_and_float32():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 1, 1, 1))
    w = rng.normal(size=(1, 1, 1, 1))
    _run(F.conv_transpose2d, TF.conv_transpose2d, [x, w])
    x = rng.normal(size=(3, 4, 9, 8)).astype(np.float32)
    w = rng.normal(size=(4, 5, 3, 3)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    _run(
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, 2, 1, 1),
        [x, w, b],
        tol=TOL32,
    )


def test_conv_transpose_gradcheck():
    rng = np.random.default_rng(7)
    x = dg.tensor(rng.normal(size=(2, 2, 3, 4)), requires_grad=True)
    w = dg.tensor(rng.normal(size=(2, 3, 2, 3)), requires_grad=True)
    b = dg.tensor(rng.normal(size=3), requires_grad=True)
    assert dg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1), (x, w, b))
    x1 = dg.tensor(rng.normal(size=(2, 2, 5)), requires_grad=True)
    w1 = dg.tensor(rng.normal(size=(2, 1, 3)), requires_grad=True)
    assert dg.gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 2, 0, 1, 2, 2), (x1, w1))
    w2 = dg.tensor(rng.normal(size=(3, 2, 3)), requires_grad=True)
    assert dg.gradcheck(lambda x, w: F.conv1d(x, w, None, 1, "same", 2), (x1, w2))


# ---- 1-D -------------------------------------------------------------------------------------

GRID_1 = [
    (s, p, k, d, g)
    for i, (s, p, k) in enumerate(itertools.product([1, 2, 3], [0, 1, 2], [1, 3, 4]))
    for (d, g) in [[(1, 1), (2, 2), (1, 4), (2, 1), (1, 2), (2, 4)][i % 6]]
]


@pytest.mark.parametrize(
    "case", GRID_1, ids=[f"s{c[0]}p{c[1]}k{c[2]}d{c[3]}g{c[4]}" for c in GRID_1]
)
def test_conv1d_and_conv_transpose1d_match_torch(case):
    s, p, k, d, g = case
    rng = np.random.default_rng(sum(case))
    x = rng.uniform(-2, 2, size=(2, 4, 9))
    o = 6 if g != 4 else 8
    w = rng.uniform(-1, 1, size=(o, 4 // g, k))
    b = rng.uniform(-1, 1, size=o)
    _run(
        lambda x, w, b: F.conv1d(x, w, b, s, p, d, g),
        lambda x, w, b: TF.conv1d(x, w, b, s, p, d, g),
        [x, w, b],
    )
    op = (s + d) % max(s, d)  # some output_padding < max(stride, dilation)
    wt = rng.uniform(-1, 1, size=(4, o // g, k))
    _run(
        lambda x, w, b: F.conv_transpose1d(x, w, b, s, p, op, g, d),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, s, p, op, g, d),
        [x, wt, b],
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's copy
@pytest.mark.parametrize("padding", ["same", "valid", (2,)])
def test_conv1d_string_padding_unbatched_float32(padding):
    rng = np.random.default_rng(8)
    x, w, b = rng.normal(size=(3, 8)), rng.normal(size=(5, 3, 4)), rng.normal(size=5)
    _run(
        lambda x, w, b: F.conv1d(x, w, b, padding=padding, dilation=2),
        lambda x, w, b: TF.conv1d(x, w, b, padding=padding, dilation=2),
        [x, w, b],
    )
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    _run(
        lambda x, w, b: F.conv1d(x, w, b, padding=padding),
        lambda x, w, b: TF.conv1d(x, w, b, padding=padding),
        f32,
        tol=TOL32,
    )


def test_conv_transpose1d_unbatched_batch_zero_and_float32():
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(2, 7)), rng.normal(size=(2, 3, 3)), rng.normal(size=3)
    _run(
        lambda x, w, b: F.conv_transpose1d(x, w, b, 3, 1, 2),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, 3, 1, 2),
        [x, w, b],
    )
    _run(F.conv_transpose1d, TF.conv_transpose1d, [np.zeros((0, 2, 7)), w, b])
    _run(F.conv1d, TF.conv1d, [np.zeros((0, 3, 7)), rng.normal(size=(2, 3, 3))])
    _run(
        lambda x, w, b: F.conv_transpose1d(x, w, b, 2),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, 2),
        [a.astype(np.float32) for a in (rng.normal(size=(3, 2, 11)), w, b)],
        tol=TOL32,
    )


# ---- modules ---------------------------------------------------------------------------------

MODULE_CASES = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (3, 4, 9)),
    ("Conv1d", (4, 6, 3), dict(padding="same", dilation=2, padding_mode="reflect"), (4, 9)),
    ("Conv1d", (4, 6, 4), dict(padding="same", padding_mode="circular", bias=False), (2, 4, 9)),
    ("Conv1d", (4, 6, 2), dict(padding=2, padding_mode="replicate"), (2, 4, 9)),
    ("Conv1d", (4, 6, 3), dict(padding="valid"), (2, 4, 9)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 7)),
    ("ConvTranspose1d", (4, 8, 3), dict(groups=4, dilation=2, bias=False), (4, 7)),
    ("ConvTranspose2d", (4, 6, (3, 2)), dict(stride=(2, 3), padding=(1, 0)), (2, 4, 5, 6)),
    (
        "ConvTranspose2d",
        (4, 6, 3),
        dict(stride=2, output_padding=1, groups=2, dilation=2, padding=2),
        (4, 5, 6),
    ),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name, args, kw, shape", MODULE_CASES)
def test_module_matches_torch(name, args, kw, shape):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args, **kw).double()
    m = getattr(nn, name)(*args, **kw, dtype=np.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert m.weight.shape == tuple(tm.weight.shape)
    assert repr(m) == repr(tm)
    for a in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"):
        assert getattr(m, a) == getattr(tm, a), a
    assert (m.groups, m.padding_mode) == (tm.groups, tm.padding_mode)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    m.load_state_dict(sd)
    for k, v in sd.items():  # loaded unchanged
        assert np.array_equal(m.state_dict()[k].data if hasattr(m.state_dict()[k], "data")
                              else m.state_dict()[k], v)  # fmt: skip
    x = np.random.default_rng(1).normal(size=shape)
    ps = [m.weight] + ([m.bias] if m.bias is not None else [])
    tps = [tm.weight] + ([tm.bias] if tm.bias is not None else [])
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    gy = np.random.default_rng(2).normal(size=tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    dx = dg.tensor(x, requires_grad=True)
    y = m(dx)
    y.backward(dg.tensor(gy))
    assert_close(y.data, ty.detach().numpy(), **TOL, name="y")
    assert_close(dx.grad, tx.grad.numpy(), **TOL, name="input grad")
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad.numpy(), **TOL, name="parameter grad")


@pytest.mark.parametrize(
    "name, args, kw, bound_fan",
    [
        ("Conv1d", (6, 9, 5), dict(groups=3), 2 * 5),
        ("ConvTranspose1d", (6, 9, 5), dict(groups=3), 3 * 5),
        ("ConvTranspose2d", (4, 10, (3, 2)), dict(groups=2), 5 * 6),
    ],
)
def test_module_init_and_default_dtype(name, args, kw, bound_fan):
    """torch's bounds: kaiming_uniform(a=sqrt(5)) and bias 1/sqrt(fan_in), the fan from the
    weight's layout (for the transposed ones: out_channels / groups * prod(kernel))."""
    tm, m = getattr(torch.nn, name)(*args, **kw), getattr(nn, name)(*args, **kw)
    bound = 1 / math.sqrt(bound_fan)
    assert m.weight.data.dtype == np.float32 and m.weight.shape == tuple(tm.weight.shape)
    assert tm.weight.abs().max().item() <= bound and np.abs(m.weight.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.5 * bound
    assert tm.bias.abs().max().item() <= bound and np.abs(m.bias.data).max() <= bound


@pytest.mark.parametrize(
    "name, shape, output_size",
    [
        ("ConvTranspose2d", (1, 2, 4, 4), (9, 10)),
        ("ConvTranspose2d", (1, 2, 4, 4), (1, 2, 10, 9)),
        ("ConvTranspose2d", (2, 4, 4), (2, 10, 10)),
        ("ConvTranspose2d", (2, 4, 4), [9, 9]),
        ("ConvTranspose1d", (1, 2, 4), (10,)),
        ("ConvTranspose1d", (2, 4), (2, 9)),
    ],
)
def test_convtranspose_output_size(name, shape, output_size):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(2, 3, 3, stride=2).double()
    m = getattr(nn, name)(2, 3, 3, stride=2, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).normal(size=shape)
    ty = tm(torch.tensor(x), output_size=output_size)
    y = m(dg.tensor(x), output_size=output_size)
    assert y.shape == tuple(ty.shape)
    assert_close(y.data, ty.detach().numpy(), **TOL)


@pytest.mark.parametrize(
    "name, shape, output_size",
    [
        ("ConvTranspose2d", (1, 2, 4, 4), (1, 2)),  # below the valid range
        ("ConvTranspose2d", (1, 2, 4, 4), (11, 10)),  # above it
        ("ConvTranspose2d", (2, 4, 4), (10,)),  # wrong length
        ("ConvTranspose1d", (1, 2, 4), (1, 1, 2, 9)),
    ],
)
def test_convtranspose_bad_output_size(name, shape, output_size):
    tm, m = getattr(torch.nn, name)(2, 3, 3, stride=2), getattr(nn, name)(2, 3, 3, stride=2)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    with pytest.raises(ValueError):
        tm(torch.tensor(x), output_size=output_size)
    with pytest.raises(ValueError):
        m(dg.tensor(x), output_size=output_size)


# ---- bad arguments: torch's exception type ---------------------------------------------------


def _both_raise(call, exc=RuntimeError):
    """call(F-like module, array maker) raises exc in torch and here."""
    with pytest.raises(exc):
        call(TF, lambda *s: torch.randn(*s, dtype=torch.float64))
    with pytest.raises(exc):
        call(F, lambda *s: dg.tensor(np.random.default_rng(0).normal(size=s)))


BAD_FUNCTIONAL = {
    # conv_transpose2d
    "t2 output_padding >= stride and dilation": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), output_padding=1
    ),
    "t2 output_padding >= both (2)": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), stride=2, dilation=2, output_padding=(0, 2)
    ),
    "t2 channels": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(3, 3, 3, 3)),
    "t2 groups divide weight": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), groups=3
    ),
    "t2 output too small": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), None, 1, 5
    ),
    "t2 negative padding": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), padding=-1
    ),
    "t2 zero stride": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), stride=0),
    "t2 zero dilation": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), dilation=0),
    "t2 negative output_padding": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), output_padding=-1
    ),
    "t2 zero groups": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), groups=0),
    "t2 3-D weight": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3)),
    "t2 2-D input": lambda f, r: f.conv_transpose2d(r(4, 5), r(4, 3, 3, 3)),
    "t2 bias length": lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), r(5)),
    "t2 stride of 3": lambda f, r: f.conv_transpose2d(
        r(2, 4, 5, 5), r(4, 3, 3, 3), stride=(1, 2, 3)
    ),
    "t2 empty spatial": lambda f, r: f.conv_transpose2d(r(2, 4, 0, 5), r(4, 3, 3, 3)),
    # conv_transpose1d
    "t1 output_padding": lambda f, r: f.conv_transpose1d(
        r(2, 4, 5), r(4, 3, 3), output_padding=2, stride=2
    ),
    "t1 channels": lambda f, r: f.conv_transpose1d(r(2, 4, 5), r(3, 3, 3)),
    "t1 4-D input": lambda f, r: f.conv_transpose1d(r(2, 4, 5, 5), r(4, 3, 3)),
    "t1 stride pair": lambda f, r: f.conv_transpose1d(r(2, 4, 5), r(4, 3, 3), stride=(1, 1)),
    # conv1d
    "c1 kernel larger": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 7)),
    "c1 channels": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 3, 3)),
    "c1 same strided": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), padding="same", stride=2),
    "c1 bad padding string": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), padding="foo"),
    "c1 stride pair": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), stride=(1, 1)),
    "c1 zero groups": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), groups=0),
    "c1 groups divide": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 2, 3), groups=2),
    "c1 4-D input": lambda f, r: f.conv1d(r(2, 4, 5, 1), r(3, 4, 3)),
    "c1 2-D weight": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4)),
    "c1 negative padding": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), padding=-1),
    "c1 bias length": lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), r(2)),
}


@pytest.mark.parametrize("call", BAD_FUNCTIONAL.values(), ids=list(BAD_FUNCTIONAL))
def test_bad_functional_arguments_raise_as_torch(call):
    _both_raise(call)


@pytest.mark.parametrize(
    "call",
    [
        lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), stride=1.5),
        lambda f, r: f.conv_transpose2d(r(2, 4, 5, 5), r(4, 3, 3, 3), padding="same"),
        lambda f, r: f.conv_transpose1d(r(2, 4, 5), r(4, 3, 3), dilation=(1.0,)),
        lambda f, r: f.conv1d(r(2, 4, 5), r(3, 4, 3), stride=None),
    ],
)
def test_bad_argument_types_are_type_errors(call):
    _both_raise(call, TypeError)


def test_dtype_mismatch():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(2, 2, 3, 3)).astype(np.float32)
    with pytest.raises(RuntimeError):
        TF.conv_transpose2d(torch.tensor(x), torch.tensor(w))
    with pytest.raises(TypeError):  # deltagrad's kind (a RuntimeError too)
        F.conv_transpose2d(x, w)
    with pytest.raises(RuntimeError):
        F.conv1d(x[0], w[0])


@pytest.mark.parametrize(
    "name, args, kw",
    [
        ("ConvTranspose2d", (2, 2, 3), dict(padding_mode="reflect")),
        ("ConvTranspose1d", (2, 2, 3), dict(padding_mode="circular")),
        ("ConvTranspose2d", (2, 2, 3), dict(groups=3)),
        ("ConvTranspose1d", (3, 2, 3), dict(groups=3)),
        ("Conv1d", (2, 3, 3), dict(groups=2)),
        ("Conv1d", (2, 2, 3), dict(padding="foo")),
        ("Conv1d", (2, 2, 3), dict(padding_mode="foo")),
        ("Conv1d", (2, 2, 3), dict(padding="same", stride=2)),
        ("ConvTranspose1d", (2, 2, 3), dict(groups=0)),
    ],
)
def test_bad_module_arguments_are_value_errors(name, args, kw):
    with pytest.raises(ValueError):
        getattr(torch.nn, name)(*args, **kw)
    with pytest.raises(ValueError):
        getattr(nn, name)(*args, **kw)


def test_module_forward_output_padding_error_is_torch_kind():
    tm = torch.nn.ConvTranspose2d(2, 2, 3, output_padding=2)
    m = nn.ConvTranspose2d(2, 2, 3, output_padding=2)
    with pytest.raises(RuntimeError):
        tm(torch.randn(1, 2, 4, 4))
    with pytest.raises(RuntimeError):
        m(dg.tensor(np.ones((1, 2, 4, 4), np.float32)))


def test_deliberate_differences_from_torch():
    """Refused here at construction where torch accepts and fails later (or never): a
    zero stride, zero channels, a padding string for a transposed convolution."""
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(2, 2, 3, stride=0)
    with pytest.raises(ValueError):
        nn.Conv1d(0, 2, 3)
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(2, 2, 3, padding="same")


@pytest.mark.parametrize(
    "case",
    [
        ("conv_transpose2d", (1, 0, 3, 3), (0, 2, 2, 2), {}),  # a weight without input channels
        ("conv_transpose1d", (1, 0, 3), (0, 2, 2), {}),
        ("conv_transpose2d", (0, 3, 1, 1), (3, 2, 2, 2), {"padding": 3}),  # empty, size -4
        ("conv_transpose1d", (0, 3, 1), (3, 2, 2), {"padding": 3}),
    ],
    ids=str,
)
def test_transposed_refuses_what_torch_refuses(case):
    """conv_transpose1d / 2d share conv_transpose3d's checks (round 36): a weight with no input
    channels and an empty batch whose output size is negative are torch's RuntimeError (they
    returned zeros / an empty tensor)."""
    name, xs, ws, kw = case
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, name)(torch.zeros(xs), torch.ones(ws), **kw)
    with pytest.raises(RuntimeError, match=f"^{name}: "):
        getattr(F, name)(dg.tensor(np.zeros(xs)), dg.tensor(np.ones(ws)), **kw)
    # an empty batch with a valid output size still gives the empty output
    if xs[0] == 0:
        y = getattr(F, name)(dg.tensor(np.zeros(xs)), dg.tensor(np.ones(ws)))
        t = getattr(torch.nn.functional, name)(torch.zeros(xs), torch.ones(ws))
        assert tuple(y.shape) == tuple(t.shape)
