"""The Tensor methods of round 38 (deltagrad._tensor_methods) and their function forms against
torch 2.13: values, dtypes, shapes, float64 gradients to 1e-10, float32, odd / size-0 / size-1
shapes, broadcasting and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg

torch = pytest.importorskip("torch")

_RNG = np.random.default_rng(38)
A = _RNG.standard_normal((3, 4))
B = _RNG.standard_normal((3, 4))
SQ = _RNG.standard_normal((3, 3))
SPD = SQ @ SQ.T + 3 * np.eye(3)
LOW = np.linalg.cholesky(SPD)
AN = A.copy()
AN[0, 1] = np.nan
AN[2, :] = np.nan


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.numpy() if isinstance(x, dg.Tensor) else x)  # dg's .grad: an array


def _check(f, *arrays, grad=True, rtol=1e-10, quiet=False):
    """f(torch, *tensors) against f(dg, *tensors): value, dtype, shape and (float64) the
    gradients of sum(w * out) for a fixed random w."""
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ds = [dg.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    with warnings.catch_warnings():
        if quiet:  # torch's deprecation warnings (torch.qr, torch.cholesky, ...)
            warnings.simplefilter("ignore", UserWarning)
        to = f(torch, *ts)
        do = f(dg, *ds)
    assert tuple(to.shape) == tuple(do.shape)
    assert _dtype_name(to) == _dtype_name(do)
    np.testing.assert_allclose(_np(do), _np(to), rtol=rtol, atol=rtol, equal_nan=True)
    if not grad:
        return
    w = np.random.default_rng(1).standard_normal(tuple(to.shape))
    diff = [t for t in ts if t.requires_grad]
    gt = torch.autograd.grad((to * torch.tensor(w)).sum(), diff, allow_unused=True)
    (do * dg.tensor(w)).sum().backward()
    for g, d in zip(gt, [d for d in ds if d.requires_grad]):
        if g is None or d.grad is None:  # no gradient in one: zero in the other
            assert not np.any(_np(d.grad if g is None else g))
        else:
            np.testing.assert_allclose(_np(d.grad), g.numpy(), rtol=rtol, atol=rtol)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# ---- differentiable ops, float64 -------------------------------------------------------

_DIFF = {
    "copysign": (lambda m, x, y: m.copysign(x, y), A, B),
    "copysign_scalar": (lambda m, x: x.copysign(-1.0), A),
    "copysign_zero": (
        lambda m, x, y: m.copysign(x, y),
        _f64([0.0, 1.5, -2.0, 3.0]),
        _f64([-0.0, 1.0, -1.0, 0.0]),
    ),
    "copysign_broadcast": (lambda m, x, y: m.copysign(x, y), A, B[:1]),
    "fmax": (lambda m, x, y: m.fmax(x, y), A, B),
    "fmin": (lambda m, x, y: x.fmin(y), A, B[:, :1]),
    "fmax_nan": (
        lambda m, x, y: m.fmax(x, y),
        _f64([1.0, np.nan, np.nan, 2.0]),
        _f64([np.nan, 2.0, np.nan, 2.0]),
    ),
    "fmin_nan": (
        lambda m, x, y: m.fmin(x, y),
        _f64([1.0, np.nan, np.nan, 2.0]),
        _f64([np.nan, 2.0, np.nan, 2.0]),
    ),
    "float_power": (lambda m, x, y: m.float_power(x.abs(), y), A, B),
    "float_power_scalar": (lambda m, x: x.float_power(3), A),
    "float_power_f32": (lambda m, x: m.float_power(x.float(), 2), A),
    "float_power_int_exp": (lambda m, x: x.float_power(m.tensor([1, 2, 3, 0])), A),
    "logaddexp2": (lambda m, x, y: m.logaddexp2(x, y), A * 30, B),
    "ldexp": (lambda m, x: m.ldexp(x, m.tensor([1, 2, 3, 0])), A),
    "ldexp_float": (lambda m, x, y: x.ldexp(y), A, B),
    "frexp_mantissa": (lambda m, x: m.frexp(x * 100).mantissa, A),
    "deg2rad": (lambda m, x: m.deg2rad(x), A),
    "rad2deg": (lambda m, x: x.rad2deg(), A),
    "sinc": (lambda m, x: m.sinc(x), _f64([0.0, 0.5, -1.3, 2.0, 0.01])),
    "hardshrink": (lambda m, x: x.hardshrink(0.7), A),
    "prelu": (lambda m, x, w: m.prelu(x, w), A.T.copy(), _f64([0.2, 0.1, 0.3])),
    "inner": (lambda m, x, y: m.inner(x, y), A, B),
    "inner_3d": (lambda m, x, y: x.reshape(3, 2, 2).inner(y), A, B[:, :2]),
    "inner_0d": (lambda m, x, y: m.inner(x[0, 0], y), A, B),
    "vdot": (lambda m, x, y: m.vdot(x[0], y[1]), A, B),
    "mv": (lambda m, x, y: x.mv(y[0]), A, B),
    "addr": (lambda m, x, y: m.addr(x, y[:, 0], y[0], beta=0.5, alpha=2), A, B),
    "addr_beta0": (lambda m, x, y: x.addr(y[:, 0], y[0], beta=0), A, B),
    "dist": (lambda m, x, y: m.dist(x, y), A, B),
    "dist_p3": (lambda m, x, y: x.dist(y, 3), A, B),
    "dist_inf": (lambda m, x, y: x.dist(y[:1], float("inf")), A, B),
    "cross": (lambda m, x, y: m.cross(x, y, dim=0), A, B),
    "cross_broadcast": (lambda m, x, y: x.cross(y, dim=-2), A[:, :1], B),
    "kron": (lambda m, x, y: x.kron(y), A[:2], B[:1, :3]),
    "renorm": (lambda m, x: m.renorm(x, 2, 0, 1.5), A),
    "renorm_p1_dim1": (lambda m, x: x.renorm(1, 1, 1.0), A),
    "renorm_inf": (lambda m, x: x.renorm(float("inf"), 0, 0.5), A),
    "renorm_none_big": (lambda m, x: x.renorm(3, -1, 100.0), A),
    "diagflat": (lambda m, x: m.diagflat(x, 1), A),
    "diagflat_neg": (lambda m, x: x[0].diagflat(-2), A),
    "sum_to_size": (lambda m, x: x.sum_to_size(1, 4), A),
    "sum_to_size_tuple": (lambda m, x: x.reshape(3, 1, 4).sum_to_size((3, 1, 1)), A),
    "cov": (lambda m, x: m.cov(x), A),
    "cov_1d": (lambda m, x: m.cov(x[0]), A),
    "cov_correction0": (lambda m, x: x.cov(correction=0), A),
    "cov_weights": (
        lambda m, x, y: m.cov(x, correction=2, fweights=m.tensor([1, 2, 3, 1]), aweights=y[0]),
        A,
        np.abs(B) + 0.1,
    ),
    "cov_aweights0": (lambda m, x, y: x.cov(correction=0, aweights=y[1]), A, np.abs(B)),
    "corrcoef": (lambda m, x: m.corrcoef(x), A),
    "corrcoef_1d": (lambda m, x: x[0].corrcoef(), A),
    "quantile_all": (lambda m, x: m.quantile(x, 0.3), A),
    "quantile_dimneg": (lambda m, x: x.quantile(0.25, dim=-2), A),
    "quantile_0d": (lambda m, x: x[0, 0].quantile(0.5, dim=0, keepdim=True), A),
    "quantile_keepdim_none": (
        lambda m, x: x.quantile(m.tensor([0.25, 0.0], dtype=m.float64), keepdim=True),
        A,
    ),
    "quantile_nan": (lambda m, x: m.quantile(x, 0.4, dim=1), AN),
    "nanquantile": (
        lambda m, x: m.nanquantile(x, m.tensor([0.1, 0.5], dtype=m.float64), dim=1),
        AN,
    ),
    "nanquantile_all": (lambda m, x: x.nanquantile(0.5), AN),
    "nanmedian_dim": (lambda m, x: m.nanmedian(x[:2], 1, keepdim=True).values, AN),
    "nanmedian_all": (lambda m, x: x.nanmedian(), AN),
    "nanmedian_ties": (lambda m, x: x.nanmedian(), _f64([1.0, 2.0, 2.0, np.nan, 3.0])),
    "select_scatter": (lambda m, x, y: m.select_scatter(x, y[1], 0, 1), A, B),
    "select_scatter_neg": (lambda m, x, y: x.select_scatter(y[:, 0], -1, -1), A, B),
    "slice_scatter": (lambda m, x, y: m.slice_scatter(x, y[:, :2], 1, 1, 4, 2), A, B),
    "slice_scatter_default": (lambda m, x, y: x.slice_scatter(y), A, B),
    "diagonal_scatter": (lambda m, x, y: m.diagonal_scatter(x, y[0, :2], 2), A, B),
    "diagonal_scatter_neg": (lambda m, x, y: x.diagonal_scatter(y[0, :2], -1), A, B),
    "split_with_sizes": (lambda m, x: x.split_with_sizes([1, 3], 1)[1], A),
    "narrow_copy": (lambda m, x: m.narrow_copy(x, 1, 1, 2), A),
    "positive": (lambda m, x: x.positive(), A),
    "H": (lambda m, x: x.H, A),
    "mH": (lambda m, x: x.reshape(2, 3, 2).mH, A),
    "adjoint": (lambda m, x: m.adjoint(x), A),
    "conj": (lambda m, x: x.conj().resolve_conj().resolve_neg(), A),
    "conj_physical": (lambda m, x: m.conj_physical(x), A),
    "matrix_power3": (lambda m, x: m.matrix_power(x, 3), SQ),
    "matrix_power_neg": (lambda m, x: x.matrix_power(-2), SQ),
    "matrix_power_batch": (lambda m, x: x.expand(2, 3, 3).matrix_power(5), SQ),
    "det": (lambda m, x: x.det(), SQ),
    "logdet": (lambda m, x: x.logdet(), SPD),
    "slogdet": (lambda m, x: x.slogdet().logabsdet, SQ),
    "inverse": (lambda m, x: x.inverse(), SQ),
    "pinverse": (lambda m, x: x.pinverse(), A),
    "cholesky_solve": (lambda m, x, y: m.cholesky_solve(y, x), LOW, B[:, :2]),
    "cholesky_solve_upper": (lambda m, x, y: y.cholesky_solve(x.T, upper=True), LOW, B[:, :2]),
    "cholesky_inverse": (lambda m, x: m.cholesky_inverse(x), LOW),
    "cholesky_inverse_upper": (lambda m, x: x.T.cholesky_inverse(upper=True), LOW),
}

_QUIET = {
    "cholesky": (lambda m, x: m.cholesky(x), SPD),
    "cholesky_upper": (lambda m, x: x.cholesky(upper=True), SPD),
    "qr_R": (lambda m, x: m.qr(x).R, A.T.copy()),
    "qr_Q": (lambda m, x: x.qr(some=True).Q, A.T.copy()),
    "svd_S": (lambda m, x: m.svd(x).S, A),
    "svd_V": (lambda m, x: x.svd().V.abs(), A),
    "triangular_solve": (lambda m, x, y: m.triangular_solve(y, x, upper=False)[0], SPD, B[:, :2]),
    "triangular_solve_t_unit": (
        lambda m, x, y: y.triangular_solve(x, transpose=True, unitriangular=True).solution,
        SPD,
        B[:, :2],
    ),
    "triangular_solve_coef": (
        lambda m, x, y: y.triangular_solve(x).cloned_coefficient,
        SPD,
        B[:, :2],
    ),
}
for _q in range(5):
    _it = ("linear", "lower", "higher", "midpoint", "nearest")[_q]
    _DIFF[f"quantile_{_it}"] = (
        lambda m, x, it=_it: m.quantile(
            x, m.tensor([0.1, 0.5, 0.77, 1.0], dtype=m.float64), 1, True, interpolation=it
        ),
        A,
    )
    _DIFF[f"nanquantile_{_it}"] = (
        lambda m, x, it=_it: x.nanquantile(0.35, dim=0, interpolation=it),
        AN,
    )


_X = _RNG.standard_normal((4, 3))
_S = _RNG.standard_normal((5, 3))
_I = np.array([[0, 1, 2], [0, 1, 0], [3, 3, 3], [0, 2, 1], [1, 1, 1]])
for _red in ("sum", "prod", "mean", "amax", "amin"):
    for _inc in (True, False):
        _DIFF[f"scatter_reduce_{_red}_{_inc}"] = (
            lambda m, x, y, r=_red, i=_inc: x.scatter_reduce(0, m.tensor(_I), y, r, include_self=i),
            _X,
            _S,
        )
        _DIFF[f"scatter_reduce_dim1_{_red}_{_inc}"] = (
            lambda m, x, y, r=_red, i=_inc: m.scatter_reduce(
                x,
                1,
                m.tensor([[0, 2, 0], [1, 1, 1], [2, 0, 2], [0, 0, 0]]),
                y[:4],
                r,
                include_self=i,
            ),
            _X,
            _S,
        )
        _DIFF[f"scatter_reduce_ties_{_red}_{_inc}"] = (
            lambda m, x, y, r=_red, i=_inc: x.scatter_reduce(
                0, m.tensor([[0, 1], [1, 1], [0, 1]]), y, r, include_self=i
            ),
            _f64([[1.0, 0.0], [2.0, 3.0]]),
            _f64([[0.0, 2.0], [0.0, 0.0], [1.0, 3.0]]),
        )
        if _red != "sum":
            _DIFF[f"index_reduce_{_red}_{_inc}"] = (
                lambda m, x, y, r=_red, i=_inc: x.index_reduce(
                    0, m.tensor([0, 3, 0, 1, 0]), y, r, include_self=i
                ),
                _X,
                _S,
            )
            _DIFF[f"index_reduce_dim1_{_red}_{_inc}"] = (
                lambda m, x, y, r=_red, i=_inc: x.index_reduce(
                    1, m.tensor([2, 2, 0]), y[:4], r, include_self=i
                ),
                _X,
                _S,
            )
_DIFF["index_put"] = (
    lambda m, x, y: x.index_put((m.tensor([0, 2]), m.tensor([1, 0])), y[0, :2]),
    _X,
    _S,
)
_DIFF["index_put_broadcast"] = (lambda m, x, y: x.index_put((m.tensor([0, 2]),), y[0]), _X, _S)
_DIFF["index_put_0d_value"] = (lambda m, x, y: x.index_put((m.tensor([3]),), y[0, 0]), _X, _S)
_DIFF["index_put_bool"] = (lambda m, x, y: x.index_put((m.tensor(_X > 0),), y[0, 0]), _X, _S)
_DIFF["index_put_accumulate"] = (
    lambda m, x, y: x.index_put((m.tensor([0, 2, 0]), m.tensor([1, 0, 1])), y[0], accumulate=True),
    _X,
    _S,
)
_DIFF["index_put_fn_accumulate"] = (
    lambda m, x, y: m.index_put(x, (m.tensor([0, 0]),), y[:2], True),
    _X,
    _S,
)


@pytest.mark.parametrize("name", sorted(_DIFF))
@pytest.mark.filterwarnings("ignore:index_reduce")  # torch: "in beta"
def test_differentiable_float64(name):
    f, *arrays = _DIFF[name]
    _check(f, *arrays)


@pytest.mark.parametrize("name", sorted(_QUIET))
def test_deprecated_linalg_forms(name):
    f, *arrays = _QUIET[name]
    _check(f, *arrays, quiet=True)


@pytest.mark.parametrize(
    "name",
    ["copysign", "fmax", "logaddexp2", "sinc", "cross", "renorm", "cov", "quantile_all"],
)
def test_float32(name):
    f, *arrays = _DIFF[name]
    _check(f, *[a.astype(np.float32) for a in arrays], rtol=2e-5)


def test_ldexp_negative_int_exponent_gradient_is_the_true_one():
    # torch's LdexpBackward computes 2 ** other in the int dtype (0 for other < 0): a torch bug;
    # deltagrad's gradient is d(x * 2**e)/dx = 2**e
    x = dg.tensor([1.5, 2.0], dtype=dg.float64, requires_grad=True)
    x.ldexp(dg.tensor([-1, 2])).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [0.5, 4.0])


def test_copysign_gives_other_a_zero_gradient():
    x = dg.tensor(A, requires_grad=True)
    y = dg.tensor(B, requires_grad=True)
    (gx, gy) = dg.autograd.grad(x.copysign(y).sum(), (x, y))
    assert not np.any(gy.numpy())
    np.testing.assert_array_equal(
        np.asarray(gx.numpy()), np.sign(A) * np.where(np.signbit(B), -1, 1)
    )


def test_gradcheck_composites():
    for f, arrs in (
        (lambda x, y: x.cross(y, dim=1), (A[:, :3], B[:, :3])),
        (lambda x: x.renorm(2, 1, 1.0), (A,)),
        (lambda x: x.quantile(0.3, dim=0), (A,)),
        (lambda x, y: x.cov(aweights=y[0]), (A, np.abs(B))),
    ):
        assert dg.gradcheck(f, tuple(dg.tensor(a, requires_grad=True) for a in arrs))


@pytest.mark.filterwarnings(r"ignore:cov\(\)")  # both warn: degrees of freedom <= 0
def test_size_zero_and_size_one():
    _check(lambda m, x: x.cov(), np.zeros((2, 0)) + 1.0, grad=False)
    _check(lambda m, x: x.nanmedian(1).values, np.ones((0, 3)), grad=False)
    _check(lambda m, x: x.fmax(x), np.ones((0, 3)))
    _check(lambda m, x: x.sinc(), np.ones((0,)))
    _check(lambda m, x, y: x.inner(y), A[:, :0], B[:, :0])
    _check(lambda m, x: x.diagflat(), np.ones((0,)))
    _check(lambda m, x: x.quantile(0.7), _f64([2.5]))
    _check(lambda m, x: x.nanmedian(0).values, _f64([2.5]))
    _check(lambda m, x: x.cov(), _f64([[2.5]]), grad=False)
    _check(lambda m, x: x.matrix_power(0), SQ, grad=False)
    _check(lambda m, x: x.matrix_power(4), _f64([[1.5]]))
    _check(lambda m, x: x.renorm(2, 0, 1.0), np.ones((0, 3)))
    _check(lambda m, x: x.select_scatter(x[:, 0], 1, 0), np.ones((0, 3)))
    for m in (torch, dg):
        with pytest.warns(UserWarning, match="degrees of freedom"):
            assert m.cov(m.tensor([[1.0, 2.0]]), correction=2).isinf().all()


# ---- no-gradient ops: values and dtypes --------------------------------------------------


def _same(f):
    to, do = f(torch), f(dg)
    if isinstance(to, tuple):
        assert len(to) == len(do)
        for a, b in zip(to, do):
            _same_tensor(a, b)
    elif isinstance(to, torch.Tensor):
        _same_tensor(to, do)
    else:
        assert to == do


def _same_tensor(a, b):
    assert tuple(a.shape) == tuple(b.shape) and _dtype_name(a) == _dtype_name(b)
    np.testing.assert_array_equal(_np(b), a.numpy())


_I8 = np.array([5, -3, 12, 7, -128, 0], np.int8)
_J8 = np.array([3, 6, 9, 0, 2, 0], np.int8)
_SH = np.array([1, 2, 8, 9, -1, 3], np.int8)


@pytest.mark.parametrize(
    "f",
    [
        lambda m: m.tensor(_I8).gcd(m.tensor(_J8)),
        lambda m: m.lcm(m.tensor(_I8), m.tensor(_J8)),
        lambda m: m.gcd(m.tensor(_I8), m.tensor(_J8.astype(np.int64))),
        lambda m: m.tensor(_I8).bitwise_and(m.tensor(_J8)),
        lambda m: m.bitwise_or(m.tensor(_I8), 3),
        lambda m: m.tensor(_I8).bitwise_xor(m.tensor(_J8)),
        lambda m: m.tensor(_I8).bitwise_not(),
        lambda m: m.tensor([True, False]).bitwise_not(),
        lambda m: m.tensor([True, False]).bitwise_xor(m.tensor([True, True])),
        lambda m: m.tensor(_I8).bitwise_left_shift(m.tensor(_SH)),
        lambda m: m.tensor(_I8).bitwise_right_shift(m.tensor(_SH)),
        lambda m: m.bitwise_right_shift(m.tensor(_I8.astype(np.int64)), 2),
        lambda m: m.tensor(_I8.astype(np.uint8)).bitwise_right_shift(m.tensor(_SH)),
        lambda m: m.tensor([1.0, 2.0, -0.0]).nextafter(m.tensor([2.0, 1.0, 1.0])),
        lambda m: m.frexp(m.tensor([8.0, -0.3, 0.0, 1e-310, np.inf], dtype=m.float64)),
        lambda m: m.frexp(m.tensor([8.0, -0.3])),
        lambda m: m.tensor([1, 2]).deg2rad(),
        lambda m: m.tensor([True]).rad2deg(),
        lambda m: m.tensor([0.0, 1, 0, 2]).sinc(),
        lambda m: m.tensor([np.inf, -np.inf, 1.0, np.nan]).isposinf(),
        lambda m: m.tensor([np.inf, -np.inf, 1.0, np.nan]).isneginf(),
        lambda m: m.isposinf(m.tensor([1, 2])),
        lambda m: m.tensor([[1, 2]]).isreal(),
        lambda m: m.tensor([1.0, 2.0]).greater(1.5),
        lambda m: m.greater_equal(m.tensor([1, 2]), m.tensor([2, 2])),
        lambda m: m.tensor([1.0, 2.0]).less(m.tensor([2.0])),
        lambda m: m.less_equal(m.tensor([1.0, 2.0]), 1),
        lambda m: m.not_equal(m.tensor([1.0, 2.0]), 1),
        lambda m: m.bincount(m.tensor([1, 3, 1, 0])),
        lambda m: m.tensor([1, 3, 1, 0]).bincount(minlength=6),
        lambda m: m.tensor([1, 3, 1]).bincount(m.tensor([0.5, 1.0, 2.0])),
        lambda m: m.tensor([1, 3]).bincount(m.tensor([0.5, 1.0], dtype=m.float64)),
        lambda m: m.tensor([1, 3]).bincount(m.tensor([5, 1])),
        lambda m: m.bincount(m.tensor([], dtype=m.int64)),
        lambda m: m.unique_consecutive(
            m.tensor([1, 1, 2, 2, 3, 1, 1, 2]), return_inverse=True, return_counts=True
        ),
        lambda m: m.tensor([[1, 1, 2], [1, 1, 2], [3, 1, 2]]).unique_consecutive(
            dim=0, return_counts=True
        ),
        lambda m: m.tensor([[1, 1, 2], [1, 1, 2]]).unique_consecutive(dim=1, return_inverse=True),
        lambda m: m.unique_consecutive(m.tensor([], dtype=m.int64), return_counts=True),
        lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]).histc(bins=4),
        lambda m: m.tensor([1.0, 2.0, 2.0]).nanmedian(0).indices,
        lambda m: m.tensor([2.0, 1.0, 2.0, 1.0]).nanmedian(0),
        lambda m: m.tensor([np.nan, 3.0, 1.0, 2.0, np.nan, 0.0]).nanmedian(0),
        lambda m: m.tensor([[3, 1], [2, 5]]).cov(),
        lambda m: m.svd(m.tensor(A), compute_uv=False).U,
        lambda m: m.tensor(A).svd(compute_uv=False).V,
        lambda m: m.zeros(2, 3).split_with_sizes([0, 3], dim=-1),
        lambda m: m.tensor(3.0).diagflat(-1),
        lambda m: m.tensor([[1, 2], [3, 4]]).kron(m.tensor([[1, -1]])),
        lambda m: m.tensor([[1, 2], [3, 4]]).matrix_power(3),
        lambda m: m.tensor([[1, 2], [3, 4]]).sum_to_size(2, 1),
        lambda m: m.tensor([1.0, 2.0]).equal(m.tensor([1.0, 2.0])),
        lambda m: m.equal(m.tensor([1.0, np.nan]), m.tensor([1.0, np.nan])),
        lambda m: m.tensor([1.0, 2.0]).equal(m.tensor([1.0])),
        lambda m: m.tensor([[1, 2], [3, 4]]).scatter_reduce(
            0, m.tensor([[0, 0], [0, 0]]), m.tensor([[2, 3], [5, 7]]), "mean"
        ),
        lambda m: m.tensor([[1, 2], [3, 4]]).scatter_reduce(
            0, m.tensor([[0, 0], [0, 0]]), m.tensor([[-2, 3], [5, -7]]), "mean", include_self=False
        ),
        lambda m: m.tensor([[1, 2], [3, 4]]).scatter_reduce(
            0, m.tensor([[0, 1], [0, 0]]), m.tensor([[-2, 3], [5, -7]]), "amin", include_self=False
        ),
        lambda m: m.tensor([[1, 2], [3, 4]], dtype=m.int8).scatter_reduce(
            1, m.tensor([[1], [0]]), m.tensor([[9], [9]], dtype=m.int8), "prod"
        ),
        lambda m: m.tensor([5, 6, 7]).index_put((m.tensor([0, 0]),), m.tensor(1), True),
        lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0, 1]]), m.ones(1, 2), "max"),
        lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0, 1]]), -m.ones(1, 2), "min"),
    ],
)
def test_values(f):
    _same(f)


def test_inplace_forms():
    for m in (torch, dg):
        x = m.tensor([1.0, -2.0, 3.0])
        assert x.gt_(0) is x
    for f in (
        lambda m: m.tensor([1.0, -2.0, 3.0]).gt_(0),
        lambda m: m.tensor([1.0, -2.0, 3.0]).less_equal_(m.tensor([1.0, 1.0, 1.0])),
        lambda m: m.tensor([1, 0, 3]).logical_not_(),
        lambda m: m.tensor([1.0, -2.0, 3.0]).copysign_(m.tensor([-1.0, 1.0, -0.0])),
        lambda m: m.tensor([1.0, 2.0]).ldexp_(m.tensor([3, 1])),
        lambda m: m.gcd_(m.tensor([4, 6]), m.tensor([6, 4])),
        lambda m: m.tensor([12, 6]).lcm_(m.tensor([8, 4])),
        lambda m: m.tensor([5, 6]).bitwise_and_(3),
        lambda m: m.tensor([5, 6]).bitwise_left_shift_(2),
        lambda m: m.tensor([5, 6]).bitwise_not_(),
        lambda m: m.tensor([30.0, 90.0]).deg2rad_(),
        lambda m: m.tensor([0.5, 2.0]).sinc_(),
        lambda m: m.tensor([1.0, 2.0], dtype=m.float64).float_power_(2),
        lambda m: m.tensor([1.0, 2.0]).nextafter_(m.tensor([0.0, 3.0])),
        lambda m: m.tensor([[3.0, 4.0], [0.3, 0.4]]).renorm_(2, 0, 1.0),
        lambda m: m.ones(2, 2).addr_(m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0]), alpha=2),
        lambda m: m.ones(2, 2).index_put_((m.tensor([1]),), m.tensor([3.0, 4.0])),
        lambda m: m.ones(2, 2).scatter_reduce_(
            0, m.tensor([[1, 0]]), m.tensor([[3.0, 4.0]]), "sum"
        ),
    ):
        _same(f)
    x = dg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.sinc_()


def test_predicates_and_storage_info():
    for m in (torch, dg):
        x = m.tensor([[1.0, 2.0], [3.0, 4.0]])
        i8 = m.tensor([1, 2, 3], dtype=m.uint8)
        got = [
            x.is_floating_point(),
            i8.is_floating_point(),
            m.is_floating_point(x),
            x.is_signed(),
            i8.is_signed(),
            m.tensor([True]).is_signed(),
            m.tensor([1]).is_signed(),
            x.is_complex(),
            m.is_complex(x),
            x.is_cuda,
            x.is_cpu,
            x.get_device(),
            m.get_device(x),
            x.nbytes,
            x.itemsize,
            i8.nbytes,
            i8.itemsize,
            x.stride(),
            x.stride(-1),
            x.t().stride(),
            x.t().stride(0),
            m.tensor(1.0).stride(),
            x[1:].storage_offset(),
            x[:, 1].stride(),
            x[:, 1].storage_offset(),
            x.storage_offset(),
            x.t().dim_order(),
            x.dim_order(),
            m.zeros(2, 3, 4).permute(2, 0, 1).dim_order(),
            m.tensor(1.0).dim_order(),
            x.is_set_to(x),
            x.is_set_to(x.clone()),
            x.is_set_to(x.t()),
            x[0].is_set_to(x[1]),
            m.tensor([3]).is_nonzero(),
            m.tensor([[0.0]]).is_nonzero(),
            m.is_nonzero(m.tensor([True])),
            x.is_same_size(x.t()),
            x.is_same_size(x[:1]),
            m.is_same_size(x, x),
            x.is_inference(),
            x.is_conj(),
            x.is_neg(),
            x.conj() is x,
            x.resolve_conj() is x,
            x.resolve_neg() is x,
        ]
        if m is torch:
            expected = got
        else:
            assert got == expected
    d = dg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert d.data_ptr() == d.numpy().ctypes.data
    assert d[1:].data_ptr() == d.data_ptr() + 8
    assert d.positive().data_ptr() == d.data_ptr()


def test_random_draws():
    dg.manual_seed(0)
    s = dg.tensor([0.2, 0.3, 0.5]).multinomial(4000, True)
    assert s.dtype == dg.int64 and s.shape == (4000,) and not s.requires_grad
    np.testing.assert_allclose(np.bincount(s.numpy()) / 4000, [0.2, 0.3, 0.5], atol=0.04)
    s = dg.multinomial(dg.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 2.0]]), 2)
    assert s.shape == (2, 2)
    assert s.numpy()[1, 0] == 2 and sorted(s.numpy()[0]) == [0, 1]
    assert sorted(dg.tensor([0.0, 1.0]).multinomial(2).tolist()) == [0, 1]  # torch: zeros last
    g = np.random.default_rng(5)
    a = dg.tensor([0.1, 0.9, 0.4]).multinomial(3, generator=g)
    assert sorted(a.tolist()) == [0, 1, 2]
    p = dg.full((4000,), 0.3, dtype=dg.float64, requires_grad=True)
    b = p.bernoulli()
    assert b.dtype == dg.float64 and not b.requires_grad and set(np.unique(b.numpy())) <= {0, 1}
    assert abs(float(b.mean()) - 0.3) < 0.04
    b = dg.bernoulli(dg.zeros(4000), 0.8, generator=np.random.default_rng(2))
    assert abs(float(b.mean()) - 0.8) < 0.04
    z = dg.zeros(4000)
    assert z.bernoulli_(0.25) is z and abs(float(z.mean()) - 0.25) < 0.04
    dg.manual_seed(3)
    x1 = dg.full((50,), 0.5).bernoulli()
    dg.manual_seed(3)
    np.testing.assert_array_equal(dg.full((50,), 0.5).bernoulli().numpy(), x1.numpy())


def test_cross_without_dim_warns_as_torch():
    for m in (torch, dg):
        with pytest.warns(UserWarning, match="without specifying the dim"):
            out = m.cross(m.ones(2, 3), m.ones(2, 3))
        assert tuple(out.shape) == (2, 3)


# ---- errors: the exception type torch raises ---------------------------------------------

_ERRORS = [
    lambda m: m.tensor([1.0, 2]).is_nonzero(),
    lambda m: m.tensor([]).is_nonzero(),
    lambda m: m.zeros(2, 2, 2).H,
    lambda m: m.zeros(2).mH,
    lambda m: m.zeros(2).adjoint(),
    lambda m: m.tensor([True]).positive(),
    lambda m: m.tensor([1.0]).gcd(m.tensor([2.0])),
    lambda m: m.tensor([1.0]).bitwise_and(m.tensor([2.0])),
    lambda m: m.tensor([1.0]).bitwise_not(),
    lambda m: m.tensor([1.0]).bitwise_left_shift(1),
    lambda m: m.tensor([1]).frexp(),
    lambda m: m.tensor([1]).nextafter(m.tensor([2])),
    lambda m: m.tensor([1.0]).fmax(2.0),
    lambda m: m.tensor([1.0]).ldexp(2),
    lambda m: m.zeros(3).cross(m.zeros(3), dim=1),
    lambda m: m.zeros(2, 3).cross(m.zeros(3), dim=1),
    lambda m: m.zeros(2, 4).cross(m.zeros(2, 4), dim=1),
    lambda m: m.zeros(2, 3).vdot(m.zeros(2, 3)),
    lambda m: m.zeros(2, 3).mv(m.zeros(2)),
    lambda m: m.zeros(2, 3).mv(m.zeros(3, 1)),
    lambda m: m.zeros(2, 3).inner(m.zeros(2)),
    lambda m: m.zeros(2, 3).sum_to_size(3, 2),
    lambda m: m.zeros(2, 3).sum_to_size(2),
    lambda m: m.zeros(4).split_with_sizes([1, 2]),
    lambda m: m.zeros(4).split_with_sizes([-1, 5]),
    lambda m: m.tensor([1, -1]).bincount(),
    lambda m: m.tensor([1.0]).bincount(),
    lambda m: m.tensor([[1]]).bincount(),
    lambda m: m.tensor([1]).bincount(minlength=-1),
    lambda m: m.tensor([1]).bincount(m.tensor([1.0, 2.0])),
    lambda m: m.zeros(2, 2, 2).cov(),
    lambda m: m.zeros(2, 3).cov(fweights=m.tensor([1.0, 2.0, 3.0])),
    lambda m: m.zeros(2, 3).cov(fweights=m.tensor([1, -2, 3])),
    lambda m: m.zeros(2, 3).cov(aweights=m.tensor([1, 2, 3])),
    lambda m: m.zeros(2, 3).cov(aweights=m.tensor([1.0, 2.0])),
    lambda m: m.zeros(2, 3).cov(aweights=m.tensor([1.0, -2.0, 1.0])),
    lambda m: m.tensor([1, 2]).quantile(0.5),
    lambda m: m.tensor([1.0, 2]).quantile(1.5),
    lambda m: m.tensor([1.0, 2]).quantile(0.5, interpolation="foo"),
    lambda m: m.tensor([1.0, 2]).quantile(m.tensor([[0.5]])),
    lambda m: m.tensor([1.0, 2]).quantile(m.tensor([0.5], dtype=m.float64)),
    lambda m: m.tensor([]).quantile(0.5),
    lambda m: m.zeros(0, 2).nanquantile(0.5, dim=1),
    lambda m: m.tensor([1.0, 2]).nanmedian(2),
    lambda m: m.zeros(0, 2).nanmedian(0),
    lambda m: m.zeros(1, 2).renorm(-1, 0, 1),
    lambda m: m.zeros(1, 2).renorm(2, 0, -1),
    lambda m: m.tensor([1.0, 2]).renorm(2, 0, 1),
    lambda m: m.zeros(2, 3).matrix_power(2),
    lambda m: m.zeros(2, 2).matrix_power(1.5),
    lambda m: m.tensor([0.0, -1]).multinomial(1),
    lambda m: m.tensor([0.0, 0]).multinomial(1),
    lambda m: m.tensor([1.0, np.nan]).multinomial(1),
    lambda m: m.tensor([1.0, 1]).multinomial(3),
    lambda m: m.tensor([1.0, 1]).multinomial(0),
    lambda m: m.zeros(2, 2, 2).multinomial(1),
    lambda m: m.tensor([2.0]).bernoulli(),
    lambda m: m.zeros(2, 3).select_scatter(m.zeros(2), 1, 5),
    lambda m: m.zeros(2, 3).select_scatter(m.zeros(3), 1, 0),
    lambda m: m.zeros(2, 3).slice_scatter(m.zeros(2, 3), 1, 0, 2),
    lambda m: m.zeros(2, 3).diagonal_scatter(m.zeros(3)),
    lambda m: m.zeros(2).float_power_(2),
    lambda m: m.zeros(2).float_power(m.tensor([1.0]), 2),
    lambda m: m.tensor([1, 2]).logaddexp2(m.tensor([1, 2])),
    lambda m: m.tensor([1.0, 2]).unique_consecutive(dim=3),
    lambda m: m.tensor([1.0, 2]).equal([1.0, 2]),
    lambda m: m.tensor([1.0, 2]).kron(2),
    lambda m: m.zeros(2, 3).stride(2),
    lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0]]), m.zeros(1, 1), "foo"),
    lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[2]]), m.zeros(1, 1), "sum"),
    lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0]]), m.zeros(1, 1, 1), "sum"),
    lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0]]), m.zeros(1, 1).double(), "sum"),
    lambda m: m.zeros(2, 2).scatter_reduce(0, m.tensor([[0.0]]), m.zeros(1, 1), "sum"),
    lambda m: m.zeros(2, 2).index_reduce(0, m.tensor([0]), m.zeros(1, 2), "sum"),
    lambda m: m.zeros(2, 2).index_reduce(0, m.tensor([0, 1]), m.zeros(1, 2), "prod"),
    lambda m: m.zeros(2, 2).index_put((m.tensor([0]),), m.zeros(2).long()),
    lambda m: m.zeros(2, 2).index_put((m.tensor([5]),), m.zeros(2)),
    lambda m: m.zeros(2, 2).index_put((m.tensor([0]),), m.zeros(3)),
    lambda m: m.zeros(2, 2).index_put((m.tensor([0.5]),), m.zeros(2)),
]


@pytest.mark.parametrize("i", range(len(_ERRORS)))
@pytest.mark.filterwarnings("ignore:index_reduce")
def test_errors_as_torch(i):
    f = _ERRORS[i]
    with pytest.raises(Exception) as te:  # noqa: PT011  (the type is torch's, read below)
        f(torch)
    with pytest.raises(te.type):
        f(dg)
