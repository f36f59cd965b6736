"""nn.init against torch 2.13 (round 35): trunc_normal_, orthogonal_, eye_, dirac_, sparse_
and the deprecated non-underscore aliases, plus calculate_gain over its whole table.

The deterministic initializers (eye_, dirac_, orthogonal_ given the same normal draw, sparse_'s
zero count per column) are compared exactly with torch; the random ones, whose draws cannot
match torch's generator, statistically (scipy's truncnorm moments and CDF) and for
reproducibility with one numpy generator.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad import testing

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")
tinit = torch.nn.init
dinit = dnn.init

NEW = ["trunc_normal_", "orthogonal_", "eye_", "dirac_", "sparse_"]
ALIASES = [
    "uniform",
    "normal",
    "constant",
    "eye",
    "dirac",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "sparse",
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dg(shape, dtype=np.float64):
    """A tensor of non-zero values, so that a missed write shows."""
    return dg.tensor(np.full(shape, 7, dtype=dtype))


def _torch(shape, dtype=torch.float64):
    return torch.full(shape, 7, dtype=dtype)


# ---- the API: names, signatures, __all__ ---------------------------------------------------


def test_all_matches_torch():
    assert set(dinit.__all__) == set(tinit.__all__)
    for name in dinit.__all__:
        assert callable(getattr(dinit, name))


@pytest.mark.parametrize("name", NEW)
def test_signature_matches_torch(name):
    def params(fn):
        return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]

    assert params(getattr(dinit, name)) == params(getattr(tinit, name))


# ---- calculate_gain: every nonlinearity and param --------------------------------------------

NONLINEARITIES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]
PARAMS = [None, 0, 0.2, 3, -0.5, math.sqrt(5), 1e-300, 10**100, math.inf, np.float64(0.3)]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", PARAMS, ids=lambda p: repr(p)[:12])
def test_calculate_gain_table(nonlinearity, param):
    got = dinit.calculate_gain(nonlinearity, param)
    want = tinit.calculate_gain(nonlinearity, param)
    assert got == want and type(got) is type(want)


def test_calculate_gain_values():
    assert dinit.calculate_gain("selu") == 0.75
    assert dinit.calculate_gain("tanh") == 5.0 / 3
    assert dinit.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert math.isnan(dinit.calculate_gain("leaky_relu", math.nan))
    assert math.isnan(tinit.calculate_gain("leaky_relu", math.nan))


@pytest.mark.parametrize(
    "args",
    [
        ("foo",),
        ("ReLU",),
        ("",),
        (None,),
        ("leaky_relu", True),
        ("leaky_relu", False),
        ("leaky_relu", "0.2"),
        ("leaky_relu", [0.1]),
    ],
    ids=repr,
)
def test_calculate_gain_errors(args):
    with pytest.raises(ValueError):
        tinit.calculate_gain(*args)
    with pytest.raises(ValueError, match="calculate_gain"):
        dinit.calculate_gain(*args)


@pytest.mark.parametrize("param", [1e300, 10**200], ids=["float", "int"])
def test_calculate_gain_overflowing_slope_is_torchs_overflow_error(param):
    with pytest.raises(OverflowError):
        tinit.calculate_gain("leaky_relu", param)
    with pytest.raises(OverflowError):
        dinit.calculate_gain("leaky_relu", param)


# ---- eye_ ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3), (1, 1), (1, 7), (7, 1), (0, 3), (4, 0)])
@pytest.mark.parametrize(
    "dt,tdt",
    [
        (np.float64, torch.float64),
        (np.float32, torch.float32),
        (np.int64, torch.int64),
        (np.bool_, torch.bool),
    ],
    ids=["f64", "f32", "i64", "bool"],
)
def test_eye_exact(shape, dt, tdt):
    w = dg.tensor(np.ones(shape, dtype=dt))
    out = dinit.eye_(w)
    t = tinit.eye_(torch.ones(shape, dtype=tdt))
    assert out is w and w.dtype == dt
    np.testing.assert_array_equal(w.data, t.numpy())


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4), (1, 1, 1, 1)])
def test_eye_needs_2d(shape):
    with pytest.raises(ValueError, match="2 dimensions"):
        tinit.eye_(_torch(shape))
    with pytest.raises(ValueError, match="eye_: tensor: Only tensors with 2 dimensions"):
        dinit.eye_(_dg(shape))


def test_eye_type_error():
    with pytest.raises(TypeError, match="eye_: tensor"):
        dinit.eye_(np.zeros((2, 2)))


# ---- dirac_ ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,groups",
    [
        ((3, 3, 5), 1),
        ((2, 5, 4), 1),  # out < in, even kernel
        ((6, 2, 3), 1),  # out > in: the extra output channels stay zero
        ((6, 2, 3), 3),
        ((6, 4, 3), 2),  # per group 3 out, 4 in
        ((8, 1, 1), 4),
        ((4, 3, 3, 3), 1),
        ((6, 2, 4, 5), 2),
        ((1, 1, 1, 1), 1),
        ((9, 3, 2, 3), 3),
        ((4, 4, 3, 3, 3), 1),
        ((6, 3, 2, 1, 4), 3),
        ((0, 3, 3), 2),
        ((3, 0, 3), 1),
    ],
)
@pytest.mark.parametrize("dt,tdt", [(np.float64, torch.float64), (np.int64, torch.int64)])
def test_dirac_exact(shape, groups, dt, tdt):
    w = dg.tensor(np.full(shape, 7, dtype=dt))
    assert dinit.dirac_(w, groups) is w
    t = tinit.dirac_(torch.full(shape, 7, dtype=tdt), groups)
    np.testing.assert_array_equal(w.data, t.numpy())
    assert w.dtype == dt


def test_dirac_keyword_and_identity_convolution():
    """A dirac_ kernel makes conv2d the identity on the first channels (its purpose)."""
    w = dinit.dirac_(_dg((4, 4, 3, 3)), groups=1)
    x = np.random.default_rng(1).standard_normal((2, 4, 6, 5))
    y = dnn.functional.conv2d(dg.tensor(x), w, padding=1)
    np.testing.assert_allclose(y.data, x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (3, 3), (1, 1, 1, 1, 1, 1)])
def test_dirac_dims(shape):
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        tinit.dirac_(_torch(shape))
    with pytest.raises(ValueError, match="dirac_: tensor: Only tensors with 3, 4, or 5"):
        dinit.dirac_(_dg(shape))


def test_dirac_groups_must_divide_dim0():
    with pytest.raises(ValueError, match="divisible by groups"):
        tinit.dirac_(_torch((4, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="dirac_: dim 0 must be divisible by groups"):
        dinit.dirac_(_dg((4, 3, 3)), groups=3)


@pytest.mark.parametrize(
    "groups,err", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_dirac_bad_groups(groups, err):
    # torch: 0 is a ZeroDivisionError, -2 silently fills zeros, 2.0 a TypeError from range()
    with pytest.raises(err, match="dirac_: groups"):
        dinit.dirac_(_dg((4, 3, 3)), groups=groups)


def test_dirac_zero_sized_kernel_is_a_no_op():
    # torch raises an IndexError writing the centre of an empty kernel dimension
    with pytest.raises(IndexError):
        tinit.dirac_(_torch((2, 3, 0)))
    w = dinit.dirac_(_dg((2, 3, 0)))
    assert w.shape == (2, 3, 0)


# ---- orthogonal_ -----------------------------------------------------------------------------

ORTHO_SHAPES = [(5, 5), (7, 3), (3, 7), (4, 3, 2, 2), (2, 12), (12, 2, 1), (1, 5), (5, 1), (1, 1)]


def _torch_orthogonal_from(flat: np.ndarray, gain: float) -> np.ndarray:
    """torch.nn.init.orthogonal_'s algorithm run on a given (rows, cols) normal draw."""
    rows, cols = flat.shape
    f = torch.from_numpy(flat.copy())
    if rows < cols:
        f = f.t()
    q, r = torch.linalg.qr(f)
    q = q * torch.diag(r, 0).sign()
    if rows < cols:
        q = q.t()
    return (q * gain).numpy()


@pytest.mark.parametrize("shape", ORTHO_SHAPES)
@pytest.mark.parametrize("gain", [1, 2.5, -0.5])
def test_orthogonal_is_torchs_q_for_the_same_draw(shape, gain):
    """The draw is rng.normal(0, 1, (rows, cols)); on it, the result is torch's Q (QR of the
    draw or of its transpose) with the columns signed by R's diagonal, times gain."""
    w = _dg(shape)
    assert dinit.orthogonal_(w, gain=gain, generator=_rng(3)) is w
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = _rng(3).normal(0.0, 1.0, (rows, cols))
    want = _torch_orthogonal_from(flat, gain).reshape(shape)
    np.testing.assert_allclose(w.data, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", ORTHO_SHAPES)
@pytest.mark.parametrize("dt,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_orthogonal_is_semi_orthogonal(shape, dt, tol):
    gain = 1.7
    w = dinit.orthogonal_(_dg(shape, dt), gain=gain, generator=_rng(4))
    assert w.dtype == dt
    q = w.data.reshape(shape[0], -1).astype(np.float64) / gain
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), rtol=0, atol=tol)
    # torch's result has the same property
    t = tinit.orthogonal_(_torch(shape), gain=gain).reshape(rows, cols).double() / gain
    tg = t @ t.T if rows <= cols else t.T @ t
    np.testing.assert_allclose(tg.numpy(), np.eye(min(rows, cols)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4)], ids=["tall", "wide"])
def test_orthogonal_statistics(shape):
    """Haar-distributed: every entry has mean 0 and variance 1 / max(rows, cols); without the
    sign correction the (0, 0) entry of a Householder QR would always be negative."""
    g = _rng(5)
    n = 4000
    draws = np.stack([dinit.orthogonal_(_dg(shape), generator=g).data for _ in range(n)])
    big = max(shape)
    se = math.sqrt(1 / big / n)
    assert np.abs(draws.mean(axis=0)).max() < 5 * se
    np.testing.assert_allclose(draws.var(axis=0), 1 / big, rtol=0.12)
    frac_positive = (draws[:, 0, 0] > 0).mean()
    assert abs(frac_positive - 0.5) < 5 * math.sqrt(0.25 / n)


def test_orthogonal_reproducible_and_seeded():
    a = dinit.orthogonal_(_dg((6, 4)), generator=_rng(9)).data
    b = dinit.orthogonal_(_dg((6, 4)), generator=_rng(9)).data
    c = dinit.orthogonal_(_dg((6, 4)), generator=_rng(10)).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    dg.manual_seed(21)
    d = dinit.orthogonal_(_dg((6, 4))).data
    dg.manual_seed(21)
    np.testing.assert_array_equal(d, dinit.orthogonal_(_dg((6, 4))).data)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 4)])
def test_orthogonal_zero_size_is_a_no_op(shape):
    g = _rng(1)
    state = g.bit_generator.state
    w = _dg(shape)
    assert dinit.orthogonal_(w, generator=g) is w and w.shape == shape
    assert g.bit_generator.state == state
    assert tinit.orthogonal_(_torch(shape)).shape == shape


@pytest.mark.parametrize("shape", [(), (4,)])
def test_orthogonal_needs_2d(shape):
    with pytest.raises(ValueError, match="2 or more dimensions"):
        tinit.orthogonal_(_torch(shape))
    with pytest.raises(ValueError, match="orthogonal_: tensor: Only tensors with 2 or more"):
        dinit.orthogonal_(_dg(shape))


def test_orthogonal_bad_arguments():
    with pytest.raises(TypeError, match="orthogonal_: tensor"):
        dinit.orthogonal_(dg.tensor(np.zeros((3, 3), np.int64)))
    with pytest.raises(ValueError, match="orthogonal_: gain"):
        dinit.orthogonal_(_dg((3, 3)), gain=math.nan)
    with pytest.raises(TypeError, match="orthogonal_: generator"):
        dinit.orthogonal_(_dg((3, 3)), generator=np.random.RandomState(0))


# ---- sparse_ ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows,cols,sparsity",
    [
        (10, 7, 0.7),  # 0.7 * 10 = 7.000000000000001: ceil gives 8, in both
        (10, 5, 0.3),
        (3, 9, 0.1),
        (8, 4, 0.0),
        (8, 4, 1.0),
        (1, 6, 0.5),
        (13, 1, 0.5),
        (1, 1, 1e-9),
    ],
)
def test_sparse_zero_count_per_column(rows, cols, sparsity):
    w = dinit.sparse_(_dg((rows, cols)), sparsity, std=0.5, generator=_rng(6))
    t = tinit.sparse_(_torch((rows, cols)), sparsity, std=0.5)
    want = (t == 0).sum(dim=0).numpy()
    np.testing.assert_array_equal((w.data == 0).sum(axis=0), want)
    assert (want == math.ceil(sparsity * rows)).all()


def test_sparse_statistics():
    """Non-zeros are N(0, std**2); each row is a zero equally often."""
    rows, cols, sparsity, std = 20, 20000, 0.25, 0.3
    w = dinit.sparse_(_dg((rows, cols)), sparsity, std=std, generator=_rng(7)).data
    nz = w[w != 0]
    assert nz.size == rows * cols - 5 * cols
    assert abs(nz.mean()) < 5 * std / math.sqrt(nz.size)
    assert abs(nz.std() - std) < 5 * std / math.sqrt(2 * nz.size)
    per_row = (w == 0).mean(axis=1)  # each row zero in 5 of 20 slots: p = 0.25
    assert np.abs(per_row - 0.25).max() < 5 * math.sqrt(0.25 * 0.75 / cols)


def test_sparse_default_std_and_reproducible():
    a = dinit.sparse_(_dg((50, 40)), 0.1, generator=_rng(8)).data
    b = dinit.sparse_(_dg((50, 40)), 0.1, generator=_rng(8)).data
    np.testing.assert_array_equal(a, b)
    assert 0.005 < a[a != 0].std() < 0.015  # std=0.01 by default
    zeros_per_col = [tuple(np.flatnonzero(a[:, j] == 0)) for j in range(a.shape[1])]
    assert len(set(zeros_per_col)) > 1  # the zero rows differ between columns


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_sparse_empty(shape):
    assert dinit.sparse_(_dg(shape), 0.5).shape == tinit.sparse_(_torch(shape), 0.5).shape


def test_sparse_std_zero_gives_zeros_as_torch():
    np.testing.assert_array_equal(dinit.sparse_(_dg((4, 3)), 0.5, std=0).data, 0)
    assert (tinit.sparse_(_torch((4, 3)), 0.5, std=0) == 0).all()


@pytest.mark.parametrize("shape", [(4,), (4, 3, 2)])
def test_sparse_needs_2d(shape):
    with pytest.raises(ValueError, match="2 dimensions"):
        tinit.sparse_(_torch(shape), 0.5)
    with pytest.raises(ValueError, match="sparse_: tensor: Only tensors with 2 dimensions"):
        dinit.sparse_(_dg(shape), 0.5)


@pytest.mark.parametrize("sparsity", [-0.5, 1.5, math.nan, "0.5", None, True])
def test_sparse_bad_sparsity(sparsity):
    # torch: -0.5 zeroes rows - ceil(0.5 * rows) entries, 1.5 every entry (silently)
    with pytest.raises(ValueError, match="sparse_: sparsity"):
        dinit.sparse_(_dg((4, 3)), sparsity)


def test_sparse_bad_std_and_dtype():
    with pytest.raises(RuntimeError, match="std >= 0"):
        tinit.sparse_(_torch((4, 3)), 0.5, std=-1)
    with pytest.raises(RuntimeError, match="sparse_: normal expects std >= 0.0"):
        dinit.sparse_(_dg((4, 3)), 0.5, std=-1)
    with pytest.raises(TypeError, match="sparse_: tensor"):
        dinit.sparse_(dg.tensor(np.zeros((4, 3), np.int64)), 0.5)


# ---- trunc_normal_ ---------------------------------------------------------------------------

# (mean, std, a, b, torch_draw): in the bulk, lopsided, far in a tail, narrow, infinite;
# torch_draw: compare with a torch draw too (torch fails on an infinite bound in a tail, and
# takes ~30 s on [20, 30], where its uniform proposals are accepted 0.5% of the time)
WINDOWS = [
    (0.0, 1.0, -2.0, 2.0, True),
    (0.5, 2.0, -1.0, 0.3, True),
    (1.0, 0.1, 0.95, 1.02, True),
    (0.0, 1.0, -0.1, 0.2, True),
    (0.0, 1.0, 0.6, 1.5, True),
    (0.0, 1.0, -1.5, -0.6, True),
    (-3.0, 0.5, -10.0, 10.0, True),
    (0.0, 1.0, -math.inf, math.inf, True),
    (0.0, 1.0, 8.0, 9.0, True),
    (0.0, 1.0, 20.0, 30.0, False),
    (2.0, 0.5, -9.0, -8.0, True),
    (0.0, 1.0, 3.0, math.inf, False),
    (0.0, 1.0, -math.inf, -5.0, False),
    (0.0, 1.0, 0.0, math.inf, True),
]


def _far(mean, std, a, b):
    return mean < a - 2 * std or mean > b + 2 * std


def _trunc(fn, t, mean, std, a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(t, mean, std, a, b, **kw)


@pytest.mark.parametrize("mean,std,a,b,torch_draw", WINDOWS)
def test_trunc_normal_statistics(mean, std, a, b, torch_draw):
    n = 40000
    w = _trunc(dinit.trunc_normal_, _dg((n // 8, 8)), mean, std, a, b, generator=_rng(11))
    x = w.data.ravel()
    assert x.min() >= a and x.max() <= b
    ref = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    sd = ref.std()
    assert abs(x.mean() - ref.mean()) < 5 * sd / math.sqrt(n)
    assert abs(x.std() - sd) < 0.03 * sd
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3
    if torch_draw:  # torch's own sampler draws the same distribution
        tx = _trunc(tinit.trunc_normal_, _torch((n,)), mean, std, a, b).numpy()
        assert tx.min() >= a and tx.max() <= b
        assert abs(tx.mean() - ref.mean()) < 5 * sd / math.sqrt(n)
        assert abs(tx.std() - sd) < 0.03 * sd


@pytest.mark.parametrize("mean,std,a,b,torch_draw", WINDOWS)
def test_trunc_normal_warns_as_torch(mean, std, a, b, torch_draw):
    def call(fn, t, **kw):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            try:
                fn(t, mean, std, a, b, **kw)
            except RuntimeError:  # torch's uniform_ on an infinite tail window
                assert math.isinf(a) or math.isinf(b)
        return [(r.category, str(r.message)) for r in rec]

    got = call(dinit.trunc_normal_, _dg((5,)), generator=_rng(0))
    assert got == call(tinit.trunc_normal_, _torch((5,)))
    assert bool(got) == _far(mean, std, a, b)
    if got:
        assert got[0][0] is UserWarning and "more than 2 std from [a, b]" in got[0][1]


def test_trunc_normal_defaults_float32_and_reproducible():
    w = dinit.trunc_normal_(_dg((300, 100), np.float32), generator=_rng(12))
    assert w.dtype == np.float32
    assert w.data.min() >= -2 and w.data.max() <= 2  # mean 0, std 1, [-2, 2]
    assert abs(w.data.std() - stats.truncnorm(-2, 2).std()) < 0.01
    # a bound that float32 cannot hold: the values stay within its float32 rounding, as torch
    v = dinit.trunc_normal_(_dg((10000,), np.float32), 0.0, 0.05, -0.1, 0.1, generator=_rng(1))
    assert v.data.min() >= np.float32(-0.1) and v.data.max() <= np.float32(0.1)
    a = dinit.trunc_normal_(_dg((7, 3)), 0.2, 3.0, -1.0, 4.0, generator=_rng(13)).data
    b = dinit.trunc_normal_(_dg((7, 3)), 0.2, 3.0, -1.0, 4.0, generator=_rng(13)).data
    np.testing.assert_array_equal(a, b)
    dg.manual_seed(5)
    c = dinit.trunc_normal_(_dg((7, 3))).data
    dg.manual_seed(5)
    np.testing.assert_array_equal(c, dinit.trunc_normal_(_dg((7, 3))).data)


def test_trunc_normal_point_window_and_empty():
    np.testing.assert_array_equal(dinit.trunc_normal_(_dg((3, 2)), a=1.0, b=1.0).data, 1.0)
    np.testing.assert_array_equal(tinit.trunc_normal_(_torch((3, 2)), a=1.0, b=1.0).numpy(), 1)
    assert dinit.trunc_normal_(_dg((0, 4))).shape == (0, 4)
    assert dinit.trunc_normal_(_dg(())).shape == ()


@pytest.mark.parametrize(
    "mean,std,a,b,near",
    [
        (0.0, 1e-300, 1.0, 2.0, 1.0),  # 1e300 std away: the window's standardized ends
        (0.0, 1e-320, -2.0, -1.0, -1.0),  # overflow (both inf here), yet the draw finishes
        (0.0, 1e-155, 1e-5, 2e-5, 1e-5),  # lo**2 overflows in the tail sampler
    ],
)
def test_trunc_normal_window_absurdly_far_in_a_tail(mean, std, a, b, near):
    with pytest.warns(UserWarning, match="more than 2 std"):
        w = dinit.trunc_normal_(_dg((100,)), mean, std, a, b, generator=_rng(3))
    np.testing.assert_allclose(w.data, near, rtol=1e-12)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        ({"std": 0.0}, ValueError, "trunc_normal_: std"),  # torch: ZeroDivisionError
        ({"std": -1.0}, ValueError, "trunc_normal_: std"),  # torch: samples as std=1
        ({"std": math.inf}, ValueError, "trunc_normal_: std"),
        ({"mean": math.nan}, ValueError, "trunc_normal_: mean"),
        ({"mean": math.inf}, ValueError, "trunc_normal_: mean"),
        ({"a": 2.0, "b": -2.0}, RuntimeError, r"uniform_ expects to return a \[from, to\)"),
        ({"a": math.nan}, ValueError, "trunc_normal_: a"),  # torch: RuntimeError
        ({"b": "1"}, ValueError, "trunc_normal_: b"),
        ({"a": math.inf, "b": math.inf}, ValueError, "a <= b"),
        ({"generator": 3}, TypeError, "trunc_normal_: generator"),
    ],
)
def test_trunc_normal_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        dinit.trunc_normal_(_dg((3,)), **kw)


def test_trunc_normal_integer_tensor():
    with pytest.raises(NotImplementedError):
        tinit.trunc_normal_(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="trunc_normal_: tensor"):
        dinit.trunc_normal_(dg.tensor(np.zeros(3, np.int64)))


# ---- no_grad semantics, the deprecated aliases, devices --------------------------------------

CALLS = {
    "trunc_normal_": lambda w: dinit.trunc_normal_(w, generator=_rng(0)),
    "orthogonal_": lambda w: dinit.orthogonal_(w, generator=_rng(0)),
    "sparse_": lambda w: dinit.sparse_(w, 0.3, generator=_rng(0)),
    "eye_": dinit.eye_,
    "dirac_": dinit.dirac_,
}


@pytest.mark.parametrize("name", NEW)
def test_in_place_under_no_grad_on_a_parameter(name):
    p = dnn.Parameter(np.full((4, 4), 7.0))
    if name == "dirac_":
        p = dnn.Parameter(np.full((4, 2, 2), 7.0))
    version = p._version[0]
    with dg.enable_grad():
        out = CALLS[name](p)
    assert out is p and p.requires_grad and p.is_leaf and p.grad_fn is None
    assert p._version[0] > version
    assert not np.any(p.data == 7.0)  # every entry written (eye_'s zeros included)


ALIAS_ARGS = {
    "uniform": ((3, 4), (), True),
    "normal": ((3, 4), (), True),
    "constant": ((3, 4), (0.5,), False),
    "eye": ((3, 4), (), False),
    "dirac": ((4, 2, 3), (2,), False),
    "xavier_uniform": ((3, 4), (), True),
    "xavier_normal": ((3, 4), (), True),
    "kaiming_uniform": ((3, 4), (), True),
    "kaiming_normal": ((3, 4), (), True),
    "orthogonal": ((3, 4), (), True),
    "sparse": ((3, 4), (0.5,), True),
}


@pytest.mark.parametrize("old", ALIASES)
def test_deprecated_alias(old):
    shape, args, random = ALIAS_ARGS[old]
    kw = {"generator": _rng(2)} if random else {}
    msg = f"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`."
    with pytest.warns(FutureWarning) as rec:
        getattr(tinit, old)(_torch(shape), *args)
    assert str(rec[0].message) == msg
    with pytest.warns(FutureWarning) as rec:
        got = getattr(dinit, old)(_dg(shape), *args, **kw)
    assert str(rec[0].message) == msg and rec[0].filename == __file__
    kw = {"generator": _rng(2)} if random else {}
    want = getattr(dinit, old + "_")(_dg(shape), *args, **kw)
    np.testing.assert_array_equal(got.data, want.data)
    assert getattr(dinit, old).__name__ == getattr(tinit, old).__name__ == old


@pytest.mark.skipif("cuda" not in testing.available_devices(), reason="needs a GPU")
@pytest.mark.parametrize("name", NEW)
def test_on_cuda_same_values_as_cpu(name):
    shape = (4, 2, 2) if name == "dirac_" else (4, 4)
    host = np.full(shape, 7.0)
    w = dg.Tensor(host, device="cuda")
    CALLS[name](w)
    assert w.device == "cuda"
    want = CALLS[name](dg.tensor(host.copy())).data
    np.testing.assert_allclose(testing.to_numpy(w.data), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("fn, args", [("constant_", (2.7,)), ("zeros_", ()), ("ones_", ())])
def test_fills_take_integer_and_bool_tensors_as_torch(fn, args, dtype):
    t = torch.zeros(3, dtype=getattr(torch, dtype))
    want = getattr(torch.nn.init, fn)(t, *args)
    d = dg.tensor(np.zeros(3, dtype=dtype))
    got = getattr(dg.nn.init, fn)(d, *args)
    assert got is d and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_constant_out_of_an_integer_range_raises_as_torch():
    with pytest.raises(RuntimeError):
        torch.nn.init.constant_(torch.zeros(3, dtype=torch.int8), 300)
    with pytest.raises(RuntimeError, match="overflow"):
        dg.nn.init.constant_(dg.tensor(np.zeros(3, dtype=np.int8)), 300)
