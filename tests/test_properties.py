"""Property-based tests (hypothesis) of every op of deltagrad.ops that computes something,
against its NumPy float64 reference (deltagrad.reference, same names and signatures).

Hypothesis draws the shapes (0, 1 and odd sizes, kept small so the file runs in about a
minute), the dtype (float32, float64), the memory layout of every input (C, Fortran,
transposed, sliced with steps, negative strides, misaligned; strided views live in a buffer
filled with NaN, so reading outside the view cannot pass), the values (normal floats,
extremes such as +-1e4 and +-1e30, denormals, and +-inf / NaN wherever the op's contract
defines the result) and the op's options. Each property runs on the CPU kernels (on an
instruction set drawn among those this CPU has) and, for small shapes, on the "simt" device:
the CUDA kernels run by the SIMT emulator (testing.simt_ops(), the CUDA ops contract).

Tolerances are those the example-based tests justified (tests/test_ops_*.py,
tests/test_matmul.py), through tests/_opcheck.py's assert_close; where a property needs
another one, the comment at that assertion says why.

Profiles: "deltagrad-properties" (the default: a fixed number of derandomized examples, so
CI is reproducible) and "deltagrad-properties-long" (many random examples, for a hunt):
DG_PROPERTIES_PROFILE=deltagrad-properties-long pytest tests/test_properties.py
(DG_PROPERTIES_EXAMPLES=n sets the number of examples per test of either profile).
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

import numpy as np
import pytest

# hypothesis is a test extra: without it (the lent GPU machine) this module is skipped, saying so
# (not importorskip: it warns, an error here, when the import fails with a plain ImportError).
try:
    import hypothesis  # noqa: F401
except ImportError as e:
    pytest.skip(
        f"hypothesis is not installed ({e}): property tests skipped", allow_module_level=True
    )
import hypothesis.extra.numpy as hnp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from deltagrad import _cpu, ops
from deltagrad import reference as ref
from deltagrad.testing import RTOL, TINY, assert_close, simt_ops

SIMT = simt_ops()  # None when the _simt module is not built (every configuration builds it)

settings.register_profile(
    "deltagrad-properties",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
settings.register_profile(
    "deltagrad-properties-long",
    parent=settings.get_profile("deltagrad-properties"),
    max_examples=1000,
    derandomize=False,
)
PROFILE = settings.get_profile(os.environ.get("DG_PROPERTIES_PROFILE", "deltagrad-properties"))
if os.environ.get("DG_PROPERTIES_EXAMPLES"):  # e.g. a longer hunt with the default profile
    PROFILE = settings(PROFILE, max_examples=int(os.environ["DG_PROPERTIES_EXAMPLES"]))

F32, F64 = np.float32, np.float64
DTYPES = st.sampled_from([F32, F64])
EPS = {F32: float(np.finfo(F32).eps), F64: float(np.finfo(F64).eps)}
_ORDER = {"generic": 0, "avx2": 1, "avx512": 2}
ISAS = [i for i in _ORDER if _ORDER[i] <= _ORDER[_cpu.detected_isa()]]

# The hypothesis plugin touches mypy_extensions while it reports a failure; under the project's
# filterwarnings = error that deprecation would hide the failure behind an INTERNALERROR.
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

BACKENDS = [
    "cpu",
    pytest.param(
        "simt",
        marks=[
            pytest.mark.simt,
            pytest.mark.skipif(SIMT is None, reason="the _simt module is not built"),
        ],
    ),
]
# The largest side of a drawn shape: the emulator runs every GPU thread as a fiber, so its
# shapes stay smaller. Matrices get a smaller side than vectors (drawn element by element).
SIDE = {"cpu": 13, "simt": 7}
VEC = {"cpu": 70, "simt": 40}

LAYOUTS = ("C", "F", "transposed", "strided", "negative", "misaligned")
# The CUDA ops (and so the simt device) copy an input whose data pointer is misaligned for its
# dtype (test_simt_misaligned_input_is_copied); they used to fault in the emulator
SIMT_LAYOUTS = LAYOUTS
OUT_LAYOUTS = ("C", "F", "transposed", "strided", "negative")  # outputs must be aligned
PARAMS = (0.01, 0.1, 0.2, 1.0, -0.5, 0.0)  # leaky_relu's slope, elu's and celu's alpha


def _act_param(act: str, param: float) -> float:
    """celu's alpha: 1 for the drawn 0 (refused) and -0.5 (a slope e^(x / alpha) without bound,
    which these tests' error bounds do not cover; test_ops_activation.py tests it)."""
    return 1.0 if act == "celu" and param <= 0 else param


REDUCTIONS = ("mean", "sum", "none")

INF, NAN = math.inf, math.nan
DENORMALS = {F32: (1e-40, -1e-40, 1.4e-45, -3e-39), F64: (3e-310, -3e-310, 5e-324, -1e-315)}
NONFINITE = (INF, -INF, NAN)


# ---- strategies ----------------------------------------------------------------------------


def _elements(dtype, scale, extremes=(), nonfinite=False, full_range=False):
    """Floats of dtype: uniform-ish in [-scale, scale] (denormals included), or any float
    (full_range), mixed with zeros, the given extremes, denormals and (nonfinite) +-inf, NaN."""
    width = 32 if dtype is F32 else 64
    specials = [0.0, -0.0, *extremes, *DENORMALS[dtype], *(NONFINITE if nonfinite else ())]
    specials = [float(dtype(v)) for v in specials]  # exactly representable in dtype
    if full_range:
        body = st.floats(width=width, allow_nan=nonfinite, allow_infinity=nonfinite)
    else:
        body = st.floats(-scale, scale, width=width)
    return st.one_of(body, st.sampled_from(specials))


def _array(dtype, shape, elements):
    # fill=nothing: every element is drawn on its own (not one fill value with a few others)
    return hnp.arrays(dtype, shape, elements=elements, fill=st.nothing())


def _shape(draw, min_dims, max_dims, side, min_side=0):
    return draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=side)
    )


def _vec_shape(draw, backend, min_dims=0, max_dims=3):
    """Any shape up to max_dims whose size stays small: one long axis or a few short ones."""
    ndim = draw(st.integers(min_dims, max_dims))
    if ndim == 1:
        return (draw(st.integers(0, VEC[backend])),)
    return _shape(draw, ndim, ndim, max(2, SIDE[backend] // (ndim - 1 or 1)))


def _steps(ndim):
    return tuple(2 + i % 2 for i in range(ndim))


def layout(x, kind):
    """(view, base, index): a view holding x's values in the memory layout `kind`. base is the
    buffer the view lives in (NaN outside the view, or None) and index(b) takes the same view
    of any array shaped like base."""
    x = np.asarray(x)
    shape = x.shape
    if kind in ("strided", "negative") and x.ndim == 0:
        kind = "C"
    if kind == "C":
        v = np.array(x, order="C")
        return v, None, None
    if kind == "F":
        v = np.array(x, order="F")
        return v, None, None
    if kind == "transposed":
        perm = tuple(reversed(range(x.ndim)))
        base = np.array(x.transpose(perm), order="C")
        return base.transpose(perm), None, None
    if kind == "misaligned":
        raw = np.zeros(x.nbytes + x.itemsize, np.uint8)
        v = raw[1 : 1 + x.nbytes].view(x.dtype).reshape(shape)
        v[...] = x
        return v, None, None
    steps = _steps(x.ndim)
    if kind == "strided":
        base_shape = tuple(s * k + 1 for s, k in zip(shape, steps))

        def index(b):
            return b[tuple(slice(1, 1 + s * k, k) for s, k in zip(shape, steps))]
    else:  # negative strides
        base_shape = tuple(max(s * k, 1) for s, k in zip(shape, steps))

        def index(b):
            return b[tuple(slice(None, None, -k) for k in steps)][tuple(slice(0, s) for s in shape)]

    base = np.full(base_shape, np.nan, dtype=x.dtype)
    v = index(base)
    v[...] = x
    assert v.shape == shape and (x.size == 0 or not v.flags.c_contiguous or x.size == 1)
    return v, base, index


def _outside_untouched(base, index, name):
    """The NaN garbage around a strided output view is still there."""
    if base is None:
        return
    mask = np.ones(base.shape, bool)
    index(mask)[...] = False
    assert np.isnan(base[mask]).all(), f"{name}: an element outside the view was written"


def _unchanged(view, original, name):
    """An input the op must only read still holds its values."""
    assert np.array_equal(view, original, equal_nan=True), f"{name}: the op modified its input"


@contextmanager
def _device(backend, isa):
    """The ops object of `backend`; on the CPU, with the kernels capped at `isa`."""
    if backend == "simt":
        yield SIMT
        return
    old = _cpu.active_isa()
    _cpu.set_active_isa(isa)
    try:
        yield ops
    finally:
        _cpu.set_active_isa(old)


def _abs64(x):
    return np.abs(np.asarray(x, dtype=np.float64))


def _given(**kw):
    """@given with the file's settings profile, for a test parametrized by backend."""

    def wrap(fn):
        return pytest.mark.parametrize("backend", BACKENDS)(PROFILE(given(**kw)(fn)))

    return wrap


ISA = st.sampled_from(ISAS)


def _layouts(backend):
    return st.sampled_from(SIMT_LAYOUTS if backend == "simt" else LAYOUTS)


# ---- matmul --------------------------------------------------------------------------------


@_given(data=st.data(), isa=ISA)
def test_matmul(backend, data, isa):
    draw, side = data.draw, SIDE[backend]
    dtype = draw(DTYPES)
    m, n, k = (draw(st.integers(0, side), label=lbl) for lbl in "mnk")
    ta, tb = draw(st.booleans(), label="trans_a"), draw(st.booleans(), label="trans_b")
    alpha = draw(st.sampled_from([1.0, -1.0, 0.5, -2.5, 0.0]), label="alpha")
    use_out = draw(st.booleans(), label="out")
    beta = draw(st.sampled_from([0.0, 1.0, -0.5, 2.5]), label="beta") if use_out else 0.0
    # alpha == 0: A and B are not read (BLAS), so NaN in them is not part of the contract
    nonfinite = alpha != 0.0 and draw(st.booleans(), label="nonfinite")
    ext = (1e4, -1e4) + ((1e30, -1e30) if dtype is F64 else ())  # products stay in range
    el = _elements(dtype, 2.0, ext, nonfinite)
    a0 = draw(_array(dtype, (k, m) if ta else (m, k), el), label="a")
    b0 = draw(_array(dtype, (n, k) if tb else (k, n), el), label="b")
    # out's values: anything (with beta == 0 they must not be read, NaN included)
    c0 = (
        draw(_array(dtype, (m, n), _elements(dtype, 2.0, ext, True)), label="c")
        if use_out
        else None
    )
    la, lb = draw(_layouts(backend)), draw(_layouts(backend))
    a, _, _ = layout(a0, la)
    b, _, _ = layout(b0, lb)
    out = base = index = None
    alias = draw(st.sampled_from(["a", "b", None]), label="out is") if use_out else None
    if alias == "a" and a0.shape == (m, n) and la != "misaligned":
        out, c0 = a, a0  # out may be an input itself (then C = alpha A B + beta A)
    elif alias == "b" and b0.shape == (m, n) and lb != "misaligned":
        out, c0 = b, b0
    elif use_out:
        alias = None
        out, base, index = layout(c0, draw(st.sampled_from(OUT_LAYOUTS)))
    with _device(backend, isa) as dev:
        got = dev.matmul(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    if use_out:
        assert got is out
        _outside_untouched(base, index, "out")
    if alias != "a":
        _unchanged(a, a0, "a")
    if alias != "b":
        _unchanged(b, b0, "b")
    with np.errstate(all="ignore"):
        want = ref.matmul(a0, b0, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=c0)
        A, B = (a0.T if ta else a0), (b0.T if tb else b0)
        mag = abs(alpha) * (_abs64(A) @ _abs64(B))
        if beta != 0.0:
            mag = mag + abs(beta) * _abs64(c0)
    # test_matmul.expect's bound: |error| <= 4 (k + 2) eps (|alpha| |A| |B| + |beta| |C|)
    assert_close(got, want, dtype, rtol=0.0, atol=4 * (k + 2) * EPS[dtype] * mag, name="C")


# ---- activations ---------------------------------------------------------------------------


@_given(data=st.data(), isa=ISA)
def test_activation(backend, data, isa):
    draw = data.draw
    dtype = draw(DTYPES)
    act = draw(st.sampled_from(ops.ACTIVATIONS), label="act")  # read at run time: new ones too
    param = _act_param(act, draw(st.sampled_from(PARAMS), label="param"))
    shape = _vec_shape(draw, backend)
    x0 = draw(
        _array(
            dtype,
            shape,
            _elements(dtype, 8.0, (1e4, -1e4, 1e30, -1e30), True, full_range=draw(st.booleans())),
        ),
        label="x",
    )
    lx = draw(_layouts(backend), label="layout")
    x, _, _ = layout(x0, lx)
    mode = draw(st.sampled_from(["new", "out", "in place"]), label="out")
    with _device(backend, isa) as dev:
        if mode == "in place":
            x = np.array(x0, order="C")
            got = dev.activation(x, act, param=param, out=x)
            assert got is x
        elif mode == "out":
            out = np.full(shape, np.nan, dtype)
            got = dev.activation(x, act, param=param, out=out)
            assert got is out
        else:
            got = dev.activation(x, act, param=param)
            _unchanged(x, x0, "x")
    assert_close(got, ref.activation(x0, act, param=param), dtype, name=f"{act}(x)")


@_given(data=st.data(), isa=ISA)
def test_activation_backward(backend, data, isa):
    draw = data.draw
    dtype = draw(DTYPES)
    act = draw(st.sampled_from(ops.ACTIVATIONS), label="act")
    param = _act_param(act, draw(st.sampled_from(PARAMS), label="param"))
    shape = _vec_shape(draw, backend)
    x0 = draw(
        _array(
            dtype,
            shape,
            _elements(dtype, 8.0, (1e4, -1e4, 1e30, -1e30), True, full_range=draw(st.booleans())),
        ),
        label="x",
    )
    # dy: finite (dy = inf times act'(x) = 0 has no defined result), NaN included
    dy0 = draw(
        _array(dtype, shape, st.one_of(_elements(dtype, 2.0, (1e4, -1e4)), st.just(NAN))),
        label="dy",
    )
    in_place = draw(st.booleans(), label="in place")
    with _device(backend, isa) as dev:
        saved0 = x0 if ops.saves_input(act) else dev.activation(x0, act, param=param)
        dy, _, _ = layout(dy0, "C" if in_place else draw(_layouts(backend)))
        saved, _, _ = layout(saved0, draw(_layouts(backend), label="saved layout"))
        if in_place:
            got = dev.activation_backward(dy, saved, act, param=param, out=dy)
            assert got is dy
        else:
            got = dev.activation_backward(dy, saved, act, param=param)
            _unchanged(dy, dy0, "dy")
        _unchanged(saved, saved0, "saved")
    want = ref.activation_backward(dy0, saved0, act, param=param)
    # near a root of act' (gelu at x ~ -0.75) the result cancels: rtol * |dy| (as the op tests)
    assert_close(got, want, dtype, atol=RTOL[dtype] * _abs64(dy0) * 4, name=f"{act}'(x)")


# ---- softmax family ------------------------------------------------------------------------


def _softmax_input(draw, backend, dtype, nonfinite):
    shape = (
        _shape(draw, 1, 3, SIDE[backend])
        if draw(st.booleans())
        else (draw(st.integers(0, 3)), draw(st.integers(0, VEC[backend])))
    )
    ext = (1e4, -1e4, 1000.0, -1000.0) + ((1e30, -1e30) if dtype is F64 else ())
    return draw(_array(dtype, shape, _elements(dtype, 10.0, ext, nonfinite)), label="x")


@_given(data=st.data(), isa=ISA, log=st.booleans())
def test_softmax(backend, data, isa, log):
    draw = data.draw
    dtype = draw(DTYPES)
    # NaN anywhere in a row makes the row NaN; +inf in a row makes it NaN (inf - inf), -inf
    # gives 0 (log: -inf) there: the reference's (and torch's) semantics
    x0 = _softmax_input(draw, backend, dtype, draw(st.booleans(), label="nonfinite"))
    x, _, _ = layout(x0, draw(_layouts(backend), label="layout"))
    in_place = draw(st.booleans(), label="in place")
    name = "log_softmax" if log else "softmax"
    with _device(backend, isa) as dev:
        fn = dev.log_softmax if log else dev.softmax
        if in_place:
            x = np.array(x0, order="C")
            got = fn(x, out=x)
            assert got is x
        else:
            got = fn(x)
            _unchanged(x, x0, "x")
    want = getattr(ref, name)(x0)
    with np.errstate(all="ignore"):
        if log:  # x - max - log(sum): an absolute error ~ eps |x - max| (test_ops_softmax)
            x64 = x0.astype(np.float64)
            mx = x64.max(axis=-1, keepdims=True) if x0.shape[-1] else 0.0
            atol = RTOL[dtype] * (1.0 + np.abs(x64 - mx))
        else:
            atol = RTOL[dtype] * 1e-3
    assert_close(got, want, dtype, atol=atol, name=name)


@_given(data=st.data(), isa=ISA, log=st.booleans())
def test_softmax_backward(backend, data, isa, log):
    draw = data.draw
    dtype = draw(DTYPES)
    x0 = _softmax_input(draw, backend, dtype, False)
    dy0 = draw(_array(dtype, x0.shape, _elements(dtype, 2.0, (1e4, -1e4))), label="dy")
    with _device(backend, isa) as dev:
        y0 = dev.log_softmax(x0) if log else dev.softmax(x0)
        dy, _, _ = layout(dy0, draw(_layouts(backend), label="dy layout"))
        y, _, _ = layout(y0, draw(_layouts(backend), label="y layout"))
        got = dev.log_softmax_backward(dy, y) if log else dev.softmax_backward(dy, y)
    _unchanged(dy, dy0, "dy")
    _unchanged(y, y0, "y")
    want = ref.log_softmax_backward(dy0, y0) if log else ref.softmax_backward(dy0, y0)
    # as test_ops_softmax: the row sum carries an error ~ eps sum |dy|
    scale = _abs64(dy0).sum(axis=-1, keepdims=True) + 1
    assert_close(got, want, dtype, atol=RTOL[dtype] * scale * 4, name="softmax backward")


@_given(data=st.data(), isa=ISA, reduction=st.sampled_from(REDUCTIONS))
def test_softmax_cross_entropy(backend, data, isa, reduction):
    draw = data.draw
    dtype = draw(DTYPES)
    n = draw(st.integers(0, SIDE[backend]), label="N")
    c = draw(st.integers(1, VEC[backend] // 2), label="C")
    ext = (1e4, -1e4, 1000.0, -1000.0)
    z0 = draw(_array(dtype, (n, c), _elements(dtype, 12.0, ext)), label="logits")
    tdtype = draw(st.sampled_from([np.int64, np.int32, np.uint8] if c <= 256 else [np.int64]))
    t = draw(_array(tdtype, (n,), st.integers(0, c - 1)), label="target")
    z, _, _ = layout(z0, draw(_layouts(backend), label="layout"))
    with _device(backend, isa) as dev:
        loss, d = dev.softmax_cross_entropy(z, t, reduction)
    _unchanged(z, z0, "logits")
    want_loss, want_d = ref.softmax_cross_entropy(z0, t, reduction)
    # dlogits: the tolerance of test_ops_softmax.test_softmax_cross_entropy
    nn = max(n, 1)
    row_scale = 1.0 / nn if reduction == "mean" else 1.0
    assert np.isfinite(d).all()
    assert_close(d, want_d, dtype, atol=RTOL[dtype] * row_scale * 2, name="dlogits")
    # loss: each row's log(s) - (x_t - max) errs by ~ eps (1 + |x_t - max|), the bound the op
    # tests state (they apply it with max |x| for a whole batch; per row it is tighter, and
    # it caught x - (max + log s) losing log s to the rounding of max at logits ~1e4)
    z64 = z0.astype(np.float64)
    rows = (
        RTOL[dtype] * (1.0 + np.abs(z64[np.arange(n), t] - z64.max(axis=1))) if n else np.zeros(0)
    )
    if reduction == "none":
        assert np.shape(loss) == (n,)
        atol = rows
    else:
        assert np.shape(loss) == ()
        atol = rows.sum() / (nn if reduction == "mean" else 1)
    if n == 0 and reduction == "mean":
        assert np.isnan(loss)
        return
    assert_close(loss, want_loss, dtype, atol=atol, name="loss")


# ---- pointwise losses ----------------------------------------------------------------------


def _pair(draw, backend, dtype, el_y, el_t):
    shape = _vec_shape(draw, backend, min_dims=1)
    y0 = draw(_array(dtype, shape, el_y), label="y")
    t0 = draw(_array(dtype, shape, el_t), label="t")
    y, _, _ = layout(y0, draw(_layouts(backend), label="y layout"))
    t, _, _ = layout(t0, draw(_layouts(backend), label="t layout"))
    return y0, t0, y, t


def _loss_call(dev, name, y, t, reduction):
    if name == "sum_of_squares":
        return dev.sum_of_squares(y, t)
    return getattr(dev, name)(y, t, reduction)


def _check_loss(name, got, want, y0, dtype, reduction, atol_loss=0.0, atol_grad=0.0):
    (loss, g), (want_loss, want_g) = got, want
    assert np.shape(g) == y0.shape
    assert_close(g, want_g, dtype, atol=atol_grad, name=f"{name} gradient")
    if reduction == "none":
        assert np.shape(loss) == y0.shape
    else:
        assert np.shape(loss) == ()
    if y0.size == 0 and reduction == "mean":
        assert np.isnan(loss)
        return
    assert_close(loss, want_loss, dtype, atol=atol_loss, name=f"{name} loss")


@_given(
    data=st.data(),
    isa=ISA,
    reduction=st.sampled_from(REDUCTIONS),
    name=st.sampled_from(["sum_of_squares", "mse_loss"]),
)
def test_squared_error_losses(backend, data, isa, reduction, name):
    draw = data.draw
    dtype = draw(DTYPES)
    # squares stay in range (float32: +-1e4); NaN and inf give NaN / inf where the reference does
    ext = (1e4, -1e4) + ((1e30, -1e30) if dtype is F64 else ())
    el = _elements(dtype, 3.0, ext, draw(st.booleans(), label="nonfinite"))
    y0, t0, y, t = _pair(draw, backend, dtype, el, el)
    if name == "sum_of_squares":
        reduction = "sum"
    with _device(backend, isa) as dev:
        got = _loss_call(dev, name, y, t, reduction)
    _unchanged(y, y0, "y")
    _unchanged(t, t0, "t")
    with np.errstate(all="ignore"):
        want = _loss_call(ref, name, y0, t0, reduction)
    # a sum of squares has no cancellation: the default relative tolerance (test_ops_loss)
    _check_loss(name, got, want, y0, dtype, reduction)


@_given(data=st.data(), isa=ISA, reduction=st.sampled_from(REDUCTIONS))
def test_binary_cross_entropy(backend, data, isa, reduction):
    draw = data.draw
    dtype = draw(DTYPES)
    p_el = st.one_of(
        st.floats(0.0, 1.0, width=32 if dtype is F32 else 64),
        st.sampled_from(
            [float(dtype(v)) for v in (0.0, 1.0, 1e-30, 1 - 1e-7, 0.5, *DENORMALS[dtype][:1])]
        ),
    )
    t_el = st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, width=32 if dtype is F32 else 64)
    )
    p0, t0, p, t = _pair(draw, backend, dtype, p_el, t_el)
    with _device(backend, isa) as dev:
        got = dev.binary_cross_entropy(p, t, reduction)
    _unchanged(p, p0, "p")
    want = ref.binary_cross_entropy(p0, t0, reduction)
    # test_ops_loss: the loss near p ~ t is a difference of logs: eps (|log p| + 100 [p = 0])
    p64 = p0.astype(np.float64)
    with np.errstate(all="ignore"):
        scale = np.abs(np.log(np.maximum(p64, 1e-44))) + 100 * (p64 == 0)
    _check_loss(
        "binary_cross_entropy",
        got,
        want,
        p0,
        dtype,
        reduction,
        atol_loss=RTOL[dtype] * (scale if reduction == "none" else scale.sum()),
    )


@_given(data=st.data(), isa=ISA, reduction=st.sampled_from(REDUCTIONS))
def test_binary_cross_entropy_with_logits(backend, data, isa, reduction):
    draw = data.draw
    dtype = draw(DTYPES)
    z_el = _elements(dtype, 8.0, (1e4, -1e4, 1000.0, -1000.0))
    t_el = st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, width=32 if dtype is F32 else 64)
    )
    z0, t0, z, t = _pair(draw, backend, dtype, z_el, t_el)
    with _device(backend, isa) as dev:
        got = dev.binary_cross_entropy_with_logits(z, t, reduction)
    _unchanged(z, z0, "z")
    want = ref.binary_cross_entropy_with_logits(z0, t0, reduction)
    # test_ops_loss: the loss max(z, 0) - z t + log1p(exp(-|z|)) errs by ~ eps (|z| + 1)
    scale = _abs64(z0) + 1
    # dz = (1 - t) sigmoid(z) - t sigmoid(-z): with a fractional t near sigmoid(z) the two
    # terms cancel, and the error is relative to the terms, not to dz (test_ops_loss checks
    # mostly 0/1 targets, where dz does not cancel, with the relative tolerance alone)
    z64, t64 = z0.astype(np.float64), t0.astype(np.float64)
    with np.errstate(all="ignore"):
        sig = 1.0 / (1.0 + np.exp(-z64))
        terms = np.abs(1.0 - t64) * sig + np.abs(t64) * (1.0 - sig)
    grad_scale = 1.0 / max(z0.size, 1) if reduction == "mean" else 1.0
    _check_loss(
        "binary_cross_entropy_with_logits",
        got,
        want,
        z0,
        dtype,
        reduction,
        atol_loss=RTOL[dtype] * (scale if reduction == "none" else scale.sum()),
        atol_grad=RTOL[dtype] * 2 * terms * grad_scale,
    )


# ---- fused linear layer --------------------------------------------------------------------


@_given(
    data=st.data(),
    isa=ISA,
    act=st.sampled_from(ops.ACTIVATIONS),
    param=st.sampled_from(PARAMS),
    bias=st.booleans(),
)
def test_linear_forward(backend, data, isa, act, param, bias):
    param = _act_param(act, param)
    draw, side = data.draw, SIDE[backend]
    dtype = draw(DTYPES)
    m, k, n = (draw(st.integers(0, side), label=lbl) for lbl in ("N", "in", "out"))
    nonfinite = draw(st.booleans(), label="nonfinite")  # NaN / inf propagate through z and y
    el = _elements(dtype, 2.0, (1e4, -1e4, 100.0), nonfinite)
    x0 = draw(_array(dtype, (m, k), el), label="x")
    w0 = draw(_array(dtype, (n, k), _elements(dtype, 1.0, (1e4, -1e4))), label="w")
    b0 = draw(_array(dtype, (n,), _elements(dtype, 3.0, (1e4,))), label="b") if bias else None
    x, _, _ = layout(x0, draw(_layouts(backend), label="x layout"))
    w, _, _ = layout(w0, draw(_layouts(backend), label="w layout"))
    b = layout(b0, draw(_layouts(backend), label="b layout"))[0] if bias else None
    with _device(backend, isa) as dev:
        y, z = dev.linear_forward(x, w, b, act, param)
    _unchanged(x, x0, "x")
    _unchanged(w, w0, "w")
    with np.errstate(all="ignore"):
        want_y, want_z = ref.linear_forward(x0, w0, b0, act, param)
        # test_ops_linear: a dot product of length k errs by ~ k eps sum |x| |w|
        bound = RTOL[dtype] * (_abs64(x0) @ _abs64(w0).T + (_abs64(b0) if bias else 0)) * 2
    assert (z is None) == (want_z is None) == (not ops.saves_input(act))
    if z is not None:
        assert_close(z, want_z, dtype, atol=bound, name="z")
    # the activation's slope is at most 1.76 (selu's; hardswish's 1.5, gelu's ~1.13) or |param|:
    # the bound carries over to y
    assert_close(y, want_y, dtype, atol=bound * max(1.8, abs(param)), name="y")


@_given(
    data=st.data(),
    isa=ISA,
    act=st.sampled_from(ops.ACTIVATIONS),
    param=st.sampled_from(PARAMS),
    need_dx=st.booleans(),
    has_bias=st.booleans(),
)
def test_linear_backward(backend, data, isa, act, param, need_dx, has_bias):
    param = _act_param(act, param)
    draw, side = data.draw, SIDE[backend]
    dtype = draw(DTYPES)
    m, k, n = (draw(st.integers(0, side), label=lbl) for lbl in ("N", "in", "out"))
    x0 = draw(_array(dtype, (m, k), _elements(dtype, 2.0, (100.0, -100.0))), label="x")
    w0 = draw(_array(dtype, (n, k), _elements(dtype, 1.0, (30.0,))), label="w")
    b0 = draw(_array(dtype, (n,), _elements(dtype, 3.0)), label="b")
    dy0 = draw(_array(dtype, (m, n), _elements(dtype, 2.0, (1e4, -1e4))), label="dy")
    with _device(backend, isa) as dev:
        y, z = dev.linear_forward(x0, w0, b0, act, param)
        saved0 = z if ops.saves_input(act) else y
        dy, _, _ = layout(dy0, draw(_layouts(backend), label="dy layout"))
        x, _, _ = layout(x0, draw(_layouts(backend), label="x layout"))
        w, _, _ = layout(w0, draw(_layouts(backend), label="w layout"))
        saved, _, _ = layout(saved0, draw(_layouts(backend), label="saved layout"))
        dx, dw, db = dev.linear_backward(dy, x, w, saved, act, param, need_dx, has_bias)
    for v, v0, nm in ((dy, dy0, "dy"), (x, x0, "x"), (w, w0, "w"), (saved, saved0, "saved")):
        _unchanged(v, v0, nm)
    rdx, rdw, rdb = ref.linear_backward(dy0, x0, w0, saved0, act, param, need_dx, has_bias)
    # test_ops_linear: each output is a sum of products of dz with x (or w)
    dz = _abs64(ref.activation_backward(dy0, saved0, act, param=param)) + _abs64(dy0) * 0.1
    tol = RTOL[dtype] * 4
    assert_close(dw, rdw, dtype, atol=tol * (dz.T @ _abs64(x0)), name="dw")
    if need_dx:
        assert_close(dx, rdx, dtype, atol=tol * (dz @ _abs64(w0)), name="dx")
    else:
        assert dx is None
    if has_bias:
        assert_close(db, rdb, dtype, atol=tol * dz.sum(axis=0), name="db")
    else:
        assert db is None


# ---- reductions ----------------------------------------------------------------------------


def _reduce_values(draw, dtype, nonfinite):
    # +-1e30 stays far from overflow in a small sum, even in float32
    return _elements(dtype, 3.0, (1e4, -1e4, 1e30, -1e30), nonfinite)


@_given(data=st.data(), isa=ISA, op=st.sampled_from(["sum", "mean"]), keepdims=st.booleans())
def test_sum_mean(backend, data, isa, op, keepdims):
    draw = data.draw
    dtype = draw(DTYPES)
    ndim = draw(st.integers(0, 4), label="ndim")
    shape = _shape(draw, ndim, ndim, {0: 1, 1: VEC[backend], 2: SIDE[backend]}.get(ndim, 5))
    x0 = draw(_array(dtype, shape, _reduce_values(draw, dtype, draw(st.booleans()))), label="x")
    kind = draw(st.sampled_from(["none", "int", "tuple"]), label="axis kind")
    if kind == "none" or ndim == 0:
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1), label="axis")
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    x, _, _ = layout(x0, draw(_layouts(backend), label="layout"))
    with _device(backend, isa) as dev:
        got = getattr(dev, op)(x, axis=axis, keepdims=keepdims)
    _unchanged(x, x0, "x")
    with np.errstate(all="ignore"):
        want = getattr(ref, op)(x0, axis=axis, keepdims=keepdims)
        mag = np.sum(_abs64(x0), axis=axis, keepdims=keepdims)
        if op == "mean":
            mag = mag / max(1, x0.size // max(1, np.asarray(want).size))
    assert np.shape(got) == np.shape(want)
    # test_ops_reduce: a sum errs by ~ eps sum |x|
    assert_close(got, want, dtype, atol=RTOL[dtype] * mag * 2, name=op)


@_given(data=st.data(), isa=ISA)
def test_sum_to_shape(backend, data, isa):
    draw = data.draw
    dtype = draw(DTYPES)
    ndim = draw(st.integers(0, 4), label="ndim")
    gshape = _shape(draw, ndim, ndim, {0: 1, 1: VEC[backend], 2: SIDE[backend]}.get(ndim, 5))
    lead = draw(st.integers(0, ndim), label="leading axes summed")
    shape = tuple(1 if draw(st.booleans()) else s for s in gshape[lead:])
    g0 = draw(_array(dtype, gshape, _reduce_values(draw, dtype, draw(st.booleans()))), label="g")
    g, _, _ = layout(g0, draw(_layouts(backend), label="layout"))
    with _device(backend, isa) as dev:
        got = dev.sum_to_shape(g, shape)
    _unchanged(g, g0, "g")
    assert np.shape(got) == shape
    with np.errstate(all="ignore"):
        want = ref.sum_to_shape(g0, shape)
        mag = ref.sum_to_shape(_abs64(g0), shape)
    assert_close(got, want, dtype, atol=RTOL[dtype] * mag * 2, name="sum_to_shape")


# ---- index_add (CPU kernel; dg.ops runs cupyx's scatter-add on a GPU) -------------------------


@PROFILE
@given(data=st.data(), isa=ISA)
def test_index_add(data, isa):
    """index_add / index_add_ equal np.add.at in the array's dtype, bit for bit (the kernel adds
    each destination's rows in increasing j, as np.add.at), for any dim, repeated and absent
    indices, any source layout, on every ISA."""
    draw = data.draw
    dtype = draw(DTYPES)
    ndim = draw(st.integers(1, 3), label="ndim")
    shape = list(_shape(draw, ndim, ndim, 6))
    dim = draw(st.integers(-ndim, ndim - 1), label="dim")
    n = shape[dim]
    m = draw(st.integers(0, 12), label="m") if n else 0
    src_shape = list(shape)
    src_shape[dim] = m
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(-3, 3, shape).astype(dtype)
    src0 = rng.uniform(-3, 3, src_shape).astype(dtype)
    idx = rng.integers(0, max(n, 1), m)
    src, _, _ = layout(src0, draw(_layouts("cpu"), label="layout"))
    want = x.copy()
    np.add.at(want, (slice(None),) * (dim % ndim) + (idx,), src0)
    with _device("cpu", isa) as dev:
        got = dev.index_add(x, dim, idx, src)
        inplace = x.copy()
        assert dev.index_add_(inplace, dim, idx, src) is inplace
    _unchanged(src, src0, "source")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(inplace, want)
    assert_close(got, ref.index_add(x, dim, idx, src0), dtype, atol=RTOL[dtype] * 16, name="ia")


@PROFILE
@given(data=st.data(), isa=ISA)
def test_flip(data, isa):
    """flip equals numpy's flipped copy bit for bit (the kernel moves elements: float32 /
    float64 and the other 4- and 8-byte dtypes), for any subset of dims (negative ones too)
    and input layout, on every ISA; the result is a new C-contiguous array."""
    draw = data.draw
    dtype = draw(st.sampled_from([F32, F64, np.int32, np.int64, np.int16]), label="dtype")
    ndim = draw(st.integers(1, 4), label="ndim")
    shape = _shape(draw, ndim, ndim, 9)
    picked = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim), label="dims")
    dims = tuple(d - ndim if draw(st.booleans(), label="neg") else d
                 for d, p in enumerate(picked) if p)  # fmt: skip
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x0 = (rng.uniform(-100, 100, shape)).astype(dtype)
    x = x0  # (layout's guard bands are NaN: float dtypes only)
    if dtype in (F32, F64):
        x, _, _ = layout(x0, draw(_layouts("cpu"), label="layout"))
    with _device("cpu", isa) as dev:
        got = dev.flip(x, dims)
    _unchanged(x, x0, "x")
    np.testing.assert_array_equal(got, ref.flip(x0, dims))
    assert got.dtype == x0.dtype and got.flags.c_contiguous
    assert not np.shares_memory(got, x)


@PROFILE
@given(data=st.data(), isa=ISA)
def test_cumulative(data, isa):
    """cumsum / cumprod (forward and reverse) equal the float64 reference rounded to the
    dtype, bit for bit (the kernel accumulates in double in the reference's order), for any
    axis and input layout, on every ISA."""
    draw = data.draw
    dtype = draw(DTYPES)
    prod = draw(st.booleans(), label="prod")
    reverse = draw(st.booleans(), label="reverse")
    ndim = draw(st.integers(1, 3), label="ndim")
    shape = _shape(draw, ndim, ndim, 7)
    axis = draw(st.integers(-ndim, ndim - 1), label="axis")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x0 = (rng.uniform(0.5, 1.5, shape) if prod else rng.uniform(-3, 3, shape)).astype(dtype)
    x, _, _ = layout(x0, draw(_layouts("cpu"), label="layout"))
    fn = "cumprod" if prod else "cumsum"
    want = getattr(ref, fn)(x0, axis, reverse=reverse).astype(dtype)
    with _device("cpu", isa) as dev:
        got = getattr(dev, fn)(x, axis, reverse=reverse)
    _unchanged(x, x0, "x")
    np.testing.assert_array_equal(got, want)


@PROFILE
@given(data=st.data(), isa=ISA)
def test_index_reduce(data, isa):
    """index_reduce_ (prod / amax / amin; sum is index_add_) equals np.<ufunc>.at in the
    array's dtype, bit for bit, for any dim, repeated and absent indices, any source layout,
    on every ISA."""
    draw = data.draw
    dtype = draw(DTYPES)
    reduce = draw(st.sampled_from(["sum", "prod", "amax", "amin"]), label="reduce")
    ndim = draw(st.integers(1, 3), label="ndim")
    shape = list(_shape(draw, ndim, ndim, 6))
    dim = draw(st.integers(-ndim, ndim - 1), label="dim")
    m = draw(st.integers(0, 12), label="m") if shape[dim] else 0
    src_shape = list(shape)
    src_shape[dim] = m
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(-3, 3, shape).astype(dtype)
    src0 = rng.uniform(-3, 3, src_shape).astype(dtype)
    idx = rng.integers(0, max(shape[dim], 1), m)
    src, _, _ = layout(src0, draw(_layouts("cpu"), label="layout"))
    want = ref.index_reduce_(x.copy(), dim, idx, src0, reduce)
    with _device("cpu", isa) as dev:
        got = x.copy()
        assert dev.index_reduce_(got, dim, idx, src, reduce) is got
    _unchanged(src, src0, "source")
    np.testing.assert_array_equal(got, want)


@PROFILE
@given(data=st.data(), isa=ISA)
def test_scatter_reduce(data, isa):
    """scatter_reduce_ equals np.<ufunc>.at in the array's dtype, bit for bit (each destination
    takes its elements in index order), for any dim and reduce, an index smaller than out in
    the other axes, repeated and absent indices, any src layout, on every ISA."""
    draw = data.draw
    dtype = draw(DTYPES)
    reduce = draw(st.sampled_from(["sum", "prod", "amax", "amin"]), label="reduce")
    ndim = draw(st.integers(1, 3), label="ndim")
    shape = list(_shape(draw, ndim, ndim, 6))
    dim = draw(st.integers(-ndim, ndim - 1), label="dim")
    ishape = [draw(st.integers(0, a), label="ishape") for a in shape]
    ishape[dim] = draw(st.integers(0, 12), label="m") if shape[dim] else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(-3, 3, shape).astype(dtype)
    src0 = rng.uniform(-3, 3, ishape).astype(dtype)
    idx = rng.integers(0, max(shape[dim], 1), ishape)
    src, _, _ = layout(src0, draw(_layouts("cpu"), label="layout"))
    want = ref.scatter_reduce_(x.copy(), dim, idx, src0, reduce)
    with _device("cpu", isa) as dev:
        got = x.copy()
        assert dev.scatter_reduce_(got, dim, idx, src, reduce) is got
    _unchanged(src, src0, "src")
    np.testing.assert_array_equal(got, want)


# ---- optimizer updates ---------------------------------------------------------------------


def _state_shape(draw, backend):
    return _vec_shape(draw, backend, min_dims=0, max_dims=2)


@_given(data=st.data(), isa=ISA)
def test_sgd_update(backend, data, isa):
    draw = data.draw
    dtype = draw(DTYPES)
    shape = _state_shape(draw, backend)
    el = _elements(dtype, 3.0, (1e4, -1e4))
    lr = draw(st.sampled_from([1e-3, 0.1, 0.5, 1.0]), label="lr")
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]), label="momentum")
    wd = draw(st.sampled_from([0.0, 1e-3, 0.1]), label="weight_decay")
    dampening = draw(st.sampled_from([0.0, 0.3]), label="dampening") if momentum else 0.0
    nesterov = momentum > 0 and dampening == 0 and draw(st.booleans(), label="nesterov")
    steps = draw(st.integers(1, 3), label="steps")
    p = draw(_array(dtype, shape, el), label="param")
    # the first momentum step sets buf = g: buf's values must not be read (NaN garbage)
    buf = np.full(shape, np.nan, dtype) if momentum else None
    p64 = p.astype(np.float64)
    b64 = np.zeros(shape) if momentum else None
    # magnitude run: the same recurrences on |values| with every term added (lr -> -lr): the
    # float error of each result is ~ eps times the sum of the magnitudes that formed it
    pmag, bmag = _abs64(p), (np.zeros(shape) if momentum else None)
    kw = dict(momentum=momentum, weight_decay=wd, nesterov=nesterov, dampening=dampening)
    for step in range(steps):
        g = draw(_array(dtype, shape, el), label=f"grad {step}")
        with _device(backend, isa) as dev:
            dev.sgd_update(p, g, buf, lr=lr, first_step=step == 0, **kw)
        ref.sgd_update(p64, g.astype(np.float64), b64, lr=lr, first_step=step == 0, **kw)
        ref.sgd_update(pmag, _abs64(g), bmag, lr=-lr, first_step=step == 0, **kw)
        assert_close(p, p64, dtype, atol=RTOL[dtype] * 4 * pmag, name=f"param after step {step}")
        if momentum:
            assert_close(
                buf, b64, dtype, atol=RTOL[dtype] * 4 * bmag, name=f"buf after step {step}"
            )


@_given(data=st.data(), isa=ISA)
def test_adam_update(backend, data, isa):
    draw = data.draw
    dtype = draw(DTYPES)
    shape = _state_shape(draw, backend)
    el = _elements(dtype, 3.0, (1e4, -1e4))
    lr = draw(st.sampled_from([1e-3, 1e-2, 0.1]), label="lr")
    beta1 = draw(st.sampled_from([0.9, 0.5, 0.0]), label="beta1")
    beta2 = draw(st.sampled_from([0.999, 0.9]), label="beta2")
    eps = draw(st.sampled_from([1e-8, 1e-3]), label="eps")
    wd = draw(st.sampled_from([0.0, 1e-2, 0.1]), label="weight_decay")
    decoupled = draw(st.booleans(), label="decoupled")
    steps = draw(st.integers(1, 3), label="steps")
    p = draw(_array(dtype, shape, el), label="param")
    m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
    p64, m64, v64 = p.astype(np.float64), np.zeros(shape), np.zeros(shape)
    pmag, mmag, vmag = _abs64(p), np.zeros(shape), np.zeros(shape)
    kw = dict(beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd, decoupled=decoupled)
    for step in range(1, steps + 1):
        g = draw(_array(dtype, shape, el), label=f"grad {step}")
        with _device(backend, isa) as dev:
            dev.adam_update(p, g, m, v, step=step, lr=lr, **kw)
        ref.adam_update(p64, g.astype(np.float64), m64, v64, step=step, lr=lr, **kw)
        # magnitudes of m and v: their recurrences on |g| + wd |p| (no cancellation), with
        # |p| the bound on param's magnitude (an error in a cancelled param feeds m and v)
        ref.adam_update(pmag.copy(), _abs64(g), mmag, vmag, step=step, lr=0.0, **kw)
        # param: |p| (times 1 + lr wd, AdamW) plus the size of the step, taken with m's
        # magnitude (an error in a cancelling m is divided by the same denominator)
        bc1, bc2 = 1 - beta1**step, math.sqrt(1 - beta2**step)
        grow = 1 + lr * wd if decoupled else 1.0
        denom = np.sqrt(v64) / bc2 + eps
        tol = RTOL[dtype] * 4
        # Widened for subnormal intermediates (the last term): the CUDA kernel forms
        # lr * (m / bc1) before it divides by the denominator, and when that product is
        # subnormal its rounding error (up to one subnormal ulp) is then divided by a
        # denominator as small as eps. Counted as magnitude, so that it also reaches m and v
        # through the weight decay. Tested exactly by test_adam_tiny_gradient_keeps_precision.
        pmag = pmag * grow + lr / bc1 * mmag / denom + TINY[dtype] * EPS[dtype] / denom / tol
        assert_close(m, m64, dtype, atol=tol * mmag, name=f"m after step {step}")
        assert_close(v, v64, dtype, atol=tol * vmag, name=f"v after step {step}")
        assert_close(p, p64, dtype, atol=tol * pmag, name=f"param after step {step}")


# ---- regressions: what the properties found, pinned on minimal inputs ----------------------


def _misaligned(values, dtype):
    """values (any shape, 0-d included) in a buffer one byte off the dtype's alignment."""
    values = np.asarray(values, dtype=dtype)
    raw = np.zeros(values.nbytes + 1, np.uint8)[1:]
    x = raw.view(dtype).reshape(values.shape)
    x[...] = values
    assert not x.flags.aligned
    return x


@pytest.mark.parametrize("dtype", [F32, F64])
def test_misaligned_0d_input_stays_0d(dtype):
    # dg.ops copied misaligned views with np.ascontiguousarray, which returns at least 1-d:
    # a 0-d input gave a (1,) result (and `out` of shape () was rejected)
    x = _misaligned(-2.5, dtype)
    y = ops.activation(x, "leaky_relu", param=0.1)
    assert y.shape == () and y == dtype(-0.25)
    out = np.zeros((), dtype)
    assert ops.activation(x, "relu", out=out) is out and out == 0
    assert ops.sum(x, keepdims=True).shape == ()
    loss, grad = ops.mse_loss(x, np.ones((), dtype), "none")
    assert loss.shape == () and grad.shape == () and loss == 12.25 and grad == -7.0


@pytest.mark.simt
@pytest.mark.skipif(SIMT is None, reason="the _simt module is not built")
@pytest.mark.parametrize("dtype", [F32, F64])
def test_simt_misaligned_input_is_copied(dtype):
    x = _misaligned(np.linspace(-3, 3, 11), dtype)
    assert_close(SIMT.activation(x, "tanh"), ref.activation(x, "tanh"), dtype, name="tanh")


@pytest.mark.parametrize(
    "backend",
    [
        "cpu",
        pytest.param(
            "simt",
            marks=[
                pytest.mark.simt,
                pytest.mark.skipif(SIMT is None, reason="the _simt module is not built"),
            ],
        ),
    ],
)
def test_adam_tiny_gradient_keeps_precision(backend):
    # A float32 gradient of 1e-40 gives m = 1e-41 and v = 0 (both as stored); the step
    # lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps) ~ 1e-35 is a normal float32 and must be
    # right to float32 accuracy given the stored m and v (it was 0.5% off on simt).
    p, g = np.zeros(3, F32), np.array([1e-40, -3e-41, 1e-39], F32)
    m, v = np.zeros(3, F32), np.zeros(3, F32)
    with _device(backend, ISAS[-1]) as dev:
        dev.adam_update(p, g, m, v, step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    m64, v64 = m.astype(np.float64), v.astype(np.float64)
    bc1, bc2 = 1 - 0.9, math.sqrt(1 - 0.999)
    want = -1e-3 / bc1 * m64 / (np.sqrt(v64) / bc2 + 1e-8)
    assert np.all(m != 0)
    assert_close(p, want, F32, name="param")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_log_softmax_and_cross_entropy_at_large_logits(backend, dtype):
    # the CUDA kernels computed x - (max + log s) and max + log s - x_t: at logits ~1e4 the
    # float32 sum rounds log s to the ulp of 1e4 (2^-10), an error of 2e-4 in a result ~0.7
    z = np.array([[1e4, 1e4, -3.0], [1e4 - 1, 1e4, 0.0], [-1e4, -1e4 + 2, -1e4]], dtype)
    t = np.array([0, 0, 2])
    with _device(backend, ISAS[-1]) as dev:
        ls = dev.log_softmax(z)
        loss, _ = dev.softmax_cross_entropy(z, t, "none")
    want = ref.log_softmax(z)
    assert_close(ls, want, dtype, atol=RTOL[dtype] * (1 + np.abs(want)), name="log_softmax")
    assert_close(
        loss, ref.softmax_cross_entropy(z, t, "none")[0], dtype, atol=RTOL[dtype] * 3, name="loss"
    )


@pytest.mark.parametrize(
    "backend",
    [
        "cpu",
        pytest.param(
            "simt",
            marks=[
                pytest.mark.simt,
                pytest.mark.skipif(SIMT is None, reason="the _simt module is not built"),
            ],
        ),
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_over_empty_axes_is_nan(backend, keepdims):
    # x of shape (3, 0, 0): reducing axis 2 first leaves a (3, 0) array, then axis 1 sums
    # nothing into (3,); numpy's mean over axes (1, 2) is NaN there
    x = np.zeros((3, 0, 0), F64)
    with _device(backend, ISAS[-1]) as dev:
        got = dev.mean(x, axis=(1, 2), keepdims=keepdims)
    assert got.shape == ((3, 1, 1) if keepdims else (3,))
    assert np.isnan(got).all(), got


# every op of dg.ops that computes something, and the test of this file that covers it
COVERED = {
    "matmul": test_matmul,
    "activation": test_activation,
    "activation_backward": test_activation_backward,
    "softmax": test_softmax,
    "log_softmax": test_softmax,
    "softmax_backward": test_softmax_backward,
    "log_softmax_backward": test_softmax_backward,
    "softmax_cross_entropy": test_softmax_cross_entropy,
    "sum_of_squares": test_squared_error_losses,
    "mse_loss": test_squared_error_losses,
    "binary_cross_entropy": test_binary_cross_entropy,
    "binary_cross_entropy_with_logits": test_binary_cross_entropy_with_logits,
    "linear_forward": test_linear_forward,
    "linear_backward": test_linear_backward,
    "sum": test_sum_mean,
    "mean": test_sum_mean,
    "sum_to_shape": test_sum_to_shape,
    "index_add": test_index_add,
    "index_add_": test_index_add,
    "scatter_reduce_": test_scatter_reduce,
    "cumsum": test_cumulative,
    "cumprod": test_cumulative,
    "flip": test_flip,
    "index_reduce_": test_index_reduce,
    "sgd_update": test_sgd_update,
    "adam_update": test_adam_update,
}
NOT_COMPUTING = {"ACTIVATIONS", "saves_input", "set_allow_tf32"}


def test_every_op_has_a_property():
    missing = set(ops.__all__) - NOT_COMPUTING - set(COVERED)
    assert not missing, f"ops without a property test in this file: {sorted(missing)}"
    assert set(ref.__all__) >= set(COVERED), "every covered op has a reference"


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_rejects_a_0d_target(backend):
    # dg.ops made the labels contiguous with np.ascontiguousarray, which turned a 0-d target
    # into shape (1,): a one-row batch then passed, where the reference and CUDA reject it
    z = np.zeros((1, 3), F32)
    with _device(backend, ISAS[-1]) as dev, pytest.raises(ValueError, match=r"target.*\(\)"):
        dev.softmax_cross_entropy(z, np.array(0), "none")
    with pytest.raises(ValueError, match=r"target.*\(\)"):
        ref.softmax_cross_entropy(z, np.array(0), "none")


# ---- conv2d (CPU only: no CUDA kernel yet) ---------------------------------------------------


@PROFILE
@given(data=st.data(), isa=ISA)
def test_conv2d_forward_backward(data, isa):
    """conv2d_forward matches the reference, and conv2d_backward is its adjoint:
    <dy, conv(x, w)> = <dx, x> = <dw, w> (no bias), db = the sums of dy."""
    draw = data.draw
    g, cg, og = (draw(st.integers(1, 3), label=lbl) for lbl in ("groups", "cg", "og"))
    kh, kw = draw(st.integers(1, 4), label="kh"), draw(st.integers(1, 4), label="kw")
    s, p, d = (draw(st.integers(lo, 2), label=lbl) for lo, lbl in ((1, "s"), (0, "p"), (1, "d")))
    n = draw(st.integers(0, 3), label="N")
    h = draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), 10), label="H")
    wd = draw(st.integers(max(1, d * (kw - 1) + 1 - 2 * p), 10), label="W")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(-2, 2, (n, g * cg, h, wd))
    w = rng.uniform(-1, 1, (g * og, cg, kh, kw))
    with _device("cpu", isa) as dev:
        y = dev.conv2d_forward(x, w, None, s, p, d, g)
        dy = rng.uniform(-1, 1, y.shape)
        dx, dw, db = dev.conv2d_backward(dy, x, w, s, p, d, g)
    assert_close(y, ref.conv2d_forward(x, w, None, s, p, d, g), rtol=1e-12, atol=1e-12)
    inner = float(np.sum(dy * y))
    scale = 1e-12 * (1.0 + float(np.abs(dy).sum() * np.abs(y).max(initial=0.0)))
    assert abs(inner - float(np.sum(dx * x))) <= scale
    assert abs(inner - float(np.sum(dw * w))) <= scale
    assert_close(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)


COVERED.update(conv2d_forward=test_conv2d_forward_backward)
COVERED.update(conv2d_backward=test_conv2d_forward_backward)


# ---- 2-D pooling (CPU only): adjoint backward passes, linearity, shift invariance


@pytest.mark.parametrize("cap", ISAS)
def test_pooling(cap):
    rng = np.random.default_rng(17)
    x = rng.normal(size=(2, 3, 11, 12))
    with _device("cpu", cap) as dev:
        for k, s, p in [(2, None, 0), (3, 2, 1), (3, 1, 1)]:
            y, idx = dev.max_pool2d(x, k, s, p, return_indices=True)
            y2, idx2 = dev.max_pool2d(x + 3.0, k, s, p, return_indices=True)
            np.testing.assert_array_equal(idx2, idx)  # shift invariant
            np.testing.assert_allclose(y2, y + 3.0, rtol=1e-14)
            dy = rng.normal(size=y.shape)  # the backward is the adjoint: <dy, Jx> = <J'dy, x>
            dx = dev.max_pool2d_backward(dy, idx, x.shape, k, s, p)
            np.testing.assert_allclose((dy * y).sum(), (dx * x).sum(), rtol=1e-12)
            yt, saved = dev.max_pool2d_train(x, k, s, p)  # codes (2x2/2) or indices: same dx
            np.testing.assert_array_equal(yt, y)
            dxt = dev.max_pool2d_train_backward(dy, saved, x.shape, k, s, p)
            np.testing.assert_array_equal(dxt, dx)
            a = dev.avg_pool2d(x, k, s, p)
            np.testing.assert_allclose(
                dev.avg_pool2d(2.0 * x - x[::-1], k, s, p),
                2.0 * a - a[::-1],
                rtol=1e-12,
                atol=1e-14,
            )
            dx = dev.avg_pool2d_backward(dy, x.shape, k, s, p)
            np.testing.assert_allclose((dy * a).sum(), (dx * x).sum(), rtol=1e-12)
            if p == 0:
                assert (y >= a - 1e-15).all()  # the maximum bounds the mean
        for o in [(1, 1), (4, 5), (11, 12)]:
            a = dev.adaptive_avg_pool2d(x, o)
            dy = rng.normal(size=a.shape)
            dx = dev.adaptive_avg_pool2d_backward(dy, x.shape)
            np.testing.assert_allclose((dy * a).sum(), (dx * x).sum(), rtol=1e-12)
        np.testing.assert_allclose(dev.adaptive_avg_pool2d(x, (11, 12)), x, rtol=1e-15)
        for o in [(1, 1), (4, 5), (11, 12), (15, 13)]:
            m, idx = dev.adaptive_max_pool2d(x, o)
            dy = rng.normal(size=m.shape)
            dx = dev.adaptive_max_pool2d_backward(dy, idx, x.shape)
            np.testing.assert_allclose((dy * m).sum(), (dx * x).sum(), rtol=1e-12)
            assert (m >= dev.adaptive_avg_pool2d(x, o) - 1e-15).all()  # max bounds the mean
        m, idx = dev.adaptive_max_pool2d(x, (11, 12))
        np.testing.assert_array_equal(m, x)  # one element a window: the identity
        np.testing.assert_array_equal(
            idx.reshape(-1, 132), np.broadcast_to(np.arange(132), (6, 132))
        )


COVERED.update(
    {
        name: test_pooling
        for name in (
            "max_pool2d",
            "max_pool2d_backward",
            "max_pool2d_train",
            "max_pool2d_train_backward",
            "avg_pool2d",
            "avg_pool2d_backward",
            "adaptive_avg_pool2d",
            "adaptive_avg_pool2d_backward",
            "adaptive_max_pool2d",
            "adaptive_max_pool2d_backward",
        )
    }
)
