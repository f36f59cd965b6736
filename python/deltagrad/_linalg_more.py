"""dg.linalg's decompositions, solvers and norms with torch.linalg's names and semantics.

Forwards run numpy.linalg / cupy.linalg (the array module of the input) on batches (..., m, n)
of float32 / float64 matrices, except solve on numpy arrays: deltagrad's batched LU
(_cpu.lu_factor / lu_solve), whose factors its backward reuses for A^-T G (as torch's does).
eigh and svd run LAPACK on float32 in float32, as torch's (numpy.linalg computes in float64).
Each decomposition is a dg.autograd.Function whose backward is torch's formula
(FunctionsManual.cpp): det (the adjugate: det(A) A^-T where A is well conditioned, through the
SVD elsewhere, so singular matrices get the right gradient too), inv, solve, cholesky (Murray),
qr, eigh, svd, pinv. The norms are built from differentiable Tensor ops (and svdvals) and get
their gradients for free.

Double backward (create_graph=True): a Function's backward works on arrays (the fast path a
plain backward takes), so each decomposition's node also gets a `_dbackward`: the same formula
from differentiable Tensor ops, as torch's (whose formulas are ATen ops with derivatives of
their own). Its terms read the op's outputs as Tensors with a graph back to the input: those
are re-made as nodes of the same op from the saved arrays (`cached`: no second factorization),
whose own `_dbackward` is the same, so derivatives of every order follow by recursion.
"""

from __future__ import annotations

from collections import namedtuple
from functools import partial
from typing import Any, NoReturn

import numpy as np

from . import _cpu
from .autograd import Function
from .tensor import (
    _FLOAT_DTYPES,
    Tensor,
    _ShapeError,
    cat,
    get_array_module,
    is_grad_enabled,
    where,
)

__all__ = [
    "LinAlgError",
    "det",
    "slogdet",
    "logdet",
    "inv",
    "solve",
    "cholesky",
    "qr",
    "eigh",
    "eigvalsh",
    "svd",
    "svdvals",
    "vector_norm",
    "matrix_norm",
    "norm",
    "pinv",
    "matrix_rank",
    "lstsq",
]


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a singular matrix to invert or solve with, a Cholesky
    factorization of a matrix that is not positive-definite. A RuntimeError, as torch's."""


# the result types, named and with the fields torch.return_types gives them
SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


# ---- argument checks ------------------------------------------------------------------------


def _tensor(x: Any, op: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        got = "None" if x is None else type(x).__name__
        raise TypeError(f"{op}: {name}: expected a Tensor, got {got}")
    return x


def _matrix(x: Any, op: str, name: str = "A", square: bool = False) -> Tensor:
    """x checked as a float32 / float64 batch of (square) matrices, with torch's errors."""
    x = _tensor(x, op, name)
    if x.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(
            f"{op}: Expected a floating point tensor as input ({name}). Got {x.dtype}"
        )
    if x.ndim < 2:
        raise _ShapeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if square and x.shape[-1] != x.shape[-2]:
        raise _ShapeError(
            f"{op}: {name} must be batches of square matrices, but they are "
            f"{x.shape[-2]} by {x.shape[-1]} matrices"
        )
    return x


def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def _sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """g summed over the dimensions that broadcasting added to (or expanded in) shape."""
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, (s, gs) in enumerate(zip(shape, g.shape)) if s == 1 and gs != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _batch_prefix(a: Any, index: int) -> str:
    if a.ndim == 2:
        return ""
    return f"(Batch element {index}): "


def _fp_quiet(xp: Any) -> Any:
    return np.errstate(all="ignore") if xp is np else _NullCtx()


class _NullCtx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _finite_matrices(a: Any) -> Any:
    """The mask (*) of the matrices of a batch (*, m, n) whose entries are all finite."""
    xp = get_array_module(a)
    return xp.isfinite(a).all(axis=(-2, -1))


def _raise_no_convergence(op: str, a: Any, what: str, fn: Any, index: Any = None) -> NoReturn:
    """torch's LinAlgError for an eigen / singular value decomposition that failed (numpy's
    LinAlgError): batch element index, else the first with a non-finite entry, else the first
    that fn (the decomposition of one matrix) fails on. what: 'eigenvalues' or 'singular
    values'."""
    xp = get_array_module(a)
    flat = a.reshape(-1, *a.shape[-2:])
    bad = xp.flatnonzero(~_finite_matrices(flat))
    if index is None and bad.size:
        index = int(bad[0])
    if index is None:
        for i in range(flat.shape[0]):
            try:
                fn(flat[i])
            except Exception as e:
                if type(e).__name__ != "LinAlgError":
                    raise
                index = i
                break
    prefix = "" if index is None else _batch_prefix(a, index)
    if what == "singular values" and bad.size:
        reason = "contained non-finite values"  # torch's words for an SVD
    else:
        reason = f"is ill-conditioned or has too many repeated {what}"
    raise LinAlgError(
        f"{op}: {prefix}The algorithm failed to converge because the input matrix {reason}."
    )


def _raise_not_converged(err: Any, flag: Any) -> NoReturn:
    raise np.linalg.LinAlgError("LAPACK did not converge")


def _float32_lapack(a: Any, name: str, outs: int) -> Any:
    """numpy.linalg's LAPACK loop `name` (a gufunc of numpy.linalg._umath_linalg) run in
    float32 on a non-empty numpy float32 batch a, as a function of the batch; None elsewhere
    (float64, cupy, a numpy without the loop). numpy.linalg computes a float32 batch in float64
    and casts the results back: twice LAPACK's work where torch's call stays in float32 (eigh
    and svd of 64 x 64 float32 matrices ran at 0.6x - 0.75x torch). A failure to converge
    raises numpy's LinAlgError, as numpy.linalg's (its NaN flag set by LAPACK's info)."""
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.size):
        return None
    gufunc = getattr(getattr(np.linalg, "_umath_linalg", None), name, None)
    signature = "f->" + "f" * outs
    if gufunc is None or signature not in getattr(gufunc, "types", ()):
        return None

    def run(x: Any) -> Any:
        with np.errstate(
            call=_raise_not_converged,
            invalid="call",
            over="ignore",
            divide="ignore",
            under="ignore",
        ):
            return gufunc(x, signature=signature)

    return run


def _lapack_eigh(a: Any, uplo: str = "L", values_only: bool = False) -> Any:
    """xp.linalg.eigh (eigvalsh with values_only) with torch's LinAlgError when it fails
    (numpy's for a NaN: one bad matrix fails the batch, as torch's); float32 in float32."""
    xp = get_array_module(a)
    loop = f"{'eigvalsh' if values_only else 'eigh'}_{'lo' if uplo == 'L' else 'up'}"
    fn = _float32_lapack(a, loop, 1 if values_only else 2) or partial(
        xp.linalg.eigvalsh if values_only else xp.linalg.eigh, UPLO=uplo
    )
    try:
        return fn(a)
    except Exception as e:
        if type(e).__name__ != "LinAlgError":
            raise
        _raise_no_convergence("linalg.eigh", a, "eigenvalues", fn)


def _lapack_svd(a: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """xp.linalg.svd with torch's behaviour on non-finite input: a matrix with a NaN raises
    torch's LinAlgError (one fails the batch, as torch's); one with an inf (and no NaN) gets
    NaN singular values and vectors, the others their SVD. LAPACK never sees a non-finite
    matrix: numpy's gesdd does not return on some matrices holding an inf."""
    xp = get_array_module(a)
    loop = ("svd_f" if full_matrices else "svd_s") if compute_uv else "svd"
    fn = _float32_lapack(a, loop, 3 if compute_uv else 1) or partial(
        xp.linalg.svd, full_matrices=full_matrices, compute_uv=compute_uv
    )
    finite = _finite_matrices(a) if a.size else None
    if finite is not None and not bool(finite.all()):
        return _svd_non_finite(a, finite, fn, full_matrices, compute_uv)
    try:
        return fn(a)
    except Exception as e:
        if type(e).__name__ != "LinAlgError":
            raise
        _raise_no_convergence("linalg.svd", a, "singular values", fn)


def _svd_non_finite(a: Any, finite: Any, fn: Any, full_matrices: bool, compute_uv: bool) -> Any:
    """_lapack_svd for a batch with a non-finite matrix (see there)."""
    xp = get_array_module(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    flat = a.reshape(-1, m, n)
    has_nan = xp.isnan(flat).any(axis=(-2, -1))
    if bool(has_nan.any()):
        _raise_no_convergence("linalg.svd", a, "singular values", fn, int(xp.argmax(has_nan)))
    batch = a.shape[:-2]
    s = xp.full((flat.shape[0], k), np.nan, dtype=a.dtype)
    good = xp.flatnonzero(finite.reshape(-1))
    if not compute_uv:
        if good.size:
            s[good] = fn(flat[good])
        return s.reshape(*batch, k)
    ucols, vrows = (m, n) if full_matrices else (k, k)
    u = xp.full((flat.shape[0], m, ucols), np.nan, dtype=a.dtype)
    vh = xp.full((flat.shape[0], vrows, n), np.nan, dtype=a.dtype)
    if good.size:
        u[good], s[good], vh[good] = fn(flat[good])
    return u.reshape(*batch, m, ucols), s.reshape(*batch, k), vh.reshape(*batch, vrows, n)


_LAPACK: list[Any] = []  # scipy.linalg.lapack once looked up (None: scipy is not installed)


def _scipy_lapack() -> Any:
    """scipy.linalg.lapack when scipy imports (an optional dependency), else None."""
    if not _LAPACK:
        try:
            from scipy.linalg import lapack  # noqa: PLC0415
        except ImportError:
            lapack = None
        _LAPACK.append(lapack)
    return _LAPACK[0]


def _tri_inv(t: Any, lower: bool) -> Any:
    """T^-1 of a batch (*, n, n) of lower (upper) triangular matrices: LAPACK's trtri per
    matrix through scipy when it imports and n >= 16 (a call per matrix repays itself; about
    a third of the LU inverse's flops, and torch's backwards use triangular solves too); else
    (cupy, no scipy, small n) the batched inverse. A singular T raises numpy's LinAlgError."""
    xp = get_array_module(t)
    n = t.shape[-1]
    lapack = _scipy_lapack() if xp is np and n >= 16 and t.dtype.kind == "f" else None
    if lapack is None or t.size == 0:
        return xp.linalg.inv(t)
    trtri = lapack.get_lapack_funcs("trtri", dtype=t.dtype)
    flat = t.reshape(-1, n, n)
    out = np.empty(flat.shape, dtype=t.dtype)
    for i in range(flat.shape[0]):
        # the transpose of a C-ordered matrix is Fortran-ordered: no copy, the other triangle
        inv, info = trtri(flat[i].T, lower=0 if lower else 1)
        if info != 0:  # a zero on the diagonal: the general inverse's error
            return xp.linalg.inv(t)
        out[i] = inv.T
    return out.reshape(t.shape)


def _adjugate_svd(a: Any) -> Any:
    """adj(A)^T = d det(A) / dA for every A, singular or not, from the SVD A = U S V^T:
    det(U) det(V) U diag(prod_{j != i} s_j) V^T (products of the others, no division).
    Finite matrices only (LAPACK's SVD does not converge on a NaN)."""
    xp = get_array_module(a)
    u, s, vh = _lapack_svd(a)
    ones = xp.ones((*s.shape[:-1], 1), dtype=s.dtype)
    left = xp.cumprod(xp.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    right = xp.cumprod(xp.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = left * right
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return (sign[..., None, None] * (u * others[..., None, :])) @ vh


def _stable_inv_t(a: Any, good: Any) -> tuple[Any, Any]:
    """A^-T for the batch entries (*, n, n) where good (*) and A is well conditioned (1-norm
    condition number at most 1 / sqrt(eps), from the inverse itself), zeros elsewhere; and
    the mask of the entries it covers. One batched LU inverse: the cheap route to the
    gradients of det and slogdet, torch's (an LU solve) for the matrices it takes."""
    xp = get_array_module(a)
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    ok = good.reshape(-1).copy()
    inv_t = xp.zeros_like(flat)
    idx = xp.flatnonzero(ok)
    if idx.size:
        sub = flat if idx.size == flat.shape[0] else flat[idx]
        try:
            with _fp_quiet(xp):
                inv = xp.linalg.inv(sub)
        except Exception as e:  # numpy's LinAlgError: an exact zero pivot (det underflowed)
            if type(e).__name__ != "LinAlgError":
                raise
            return inv_t.reshape(a.shape), xp.zeros(good.shape, dtype=bool)
        with _fp_quiet(xp):
            cond = xp.abs(sub).sum(axis=-2).max(axis=-1) * xp.abs(inv).sum(axis=-2).max(axis=-1)
        ok[idx] = cond <= 1 / np.sqrt(np.finfo(a.dtype).eps)  # NaN / inf: not covered
        inv_t[idx] = _mT(inv)
    return inv_t.reshape(a.shape), ok.reshape(good.shape)


def _split_rest(ok: Any, finite: Any) -> tuple[Any, Any]:
    """The flat indices of the batch entries the LU inverse did not cover (not ok): the
    finite ones (for the SVD) and the non-finite ones (NaN gradients)."""
    xp = get_array_module(ok)
    ok, finite = ok.reshape(-1), finite.reshape(-1)
    return xp.flatnonzero(~ok & finite), xp.flatnonzero(~finite)


def _adjugate_t(a: Any, d: Any) -> Any:
    """adj(A)^T = d det(A) / dA for every A (*, n, n) with determinants d (*): det(A) A^-T
    where A is well conditioned (_stable_inv_t), the SVD formula (_adjugate_svd) for the
    finite (near-)singular rest, NaN for a matrix with a NaN or inf entry (as torch's, whose
    LU gives NaN there; one such matrix does not fail the batch)."""
    xp = get_array_module(a)
    n = a.shape[-1]
    if a.size == 0 or n == 0:
        return xp.zeros(a.shape, dtype=a.dtype)
    if n == 1:  # the adjugate of a 1 x 1 matrix is 1, whatever its entry (torch's too)
        return xp.ones(a.shape, dtype=a.dtype)
    finite = _finite_matrices(a)
    inv_t, ok = _stable_inv_t(a, (d != 0) & finite)
    with _fp_quiet(xp):
        adj = xp.asarray(d, dtype=a.dtype)[..., None, None] * inv_t
    if not bool(ok.all()):
        svd_idx, nan_idx = _split_rest(ok, finite)
        flat = adj.reshape(-1, n, n)  # a view: adj is new and contiguous
        if svd_idx.size:
            flat[svd_idx] = _adjugate_svd(a.reshape(-1, n, n)[svd_idx])
        flat[nan_idx] = np.nan
    return adj


# ---- double backward: the backward formulas as Tensor ops ------------------------------------


def _with_dbackward(out: Any, fn: Any) -> Any:
    """out (what a Function's apply returned: a Tensor, or a tuple of them) with fn as its
    node's differentiable backward for create_graph=True (see the module docstring): fn(g), g
    a Tensor, for one output; fn(slots), slots {output index: Tensor} (the outputs that got a
    gradient), for several. fn returns one entry per Tensor argument of apply (None: no
    gradient). Nothing to do when no graph was recorded."""
    first = out[0] if isinstance(out, tuple) else out
    if first.requires_grad and first._backward is not None:
        node = first._prev[0] if isinstance(out, tuple) else first  # several: their shared node
        node._dbackward = fn
    return out


def _zeros(t: Any, shape: Any = None) -> Tensor:
    """A constant zero Tensor of t's (an array or a Tensor) dtype and device, t's shape or
    shape."""
    a = t.data if isinstance(t, Tensor) else t
    xp = get_array_module(a)
    return Tensor(xp.zeros(a.shape if shape is None else shape, a.dtype))


def _eye(k: int, like: Any) -> Tensor:
    """The constant k x k identity Tensor of like's (an array) dtype and device."""
    return Tensor(get_array_module(like).eye(k, dtype=like.dtype))


def _contig(a: Any) -> Any:
    return get_array_module(a).ascontiguousarray(a)


# ---- det / slogdet / inv --------------------------------------------------------------------


class _LinalgDet(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, cached: Any = None) -> Any:
        xp = get_array_module(a)
        if cached is None:
            with _fp_quiet(xp):  # a NaN matrix: NaN, without numpy's RuntimeWarning
                cached = xp.asarray(xp.linalg.det(a), dtype=a.dtype)
        out = cached
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, d = ctx.saved_tensors
        return g[..., None, None] * _adjugate_t(a, d)


def _det(a: Tensor, cached: Any = None) -> Tensor:
    out = _LinalgDet.apply(a, cached=cached)
    return _with_dbackward(out, partial(_det_dbackward, a, out.data))


def _det_dbackward(a: Tensor, d: Any, g: Tensor) -> tuple[Any, ...]:
    """torch's linalg_det_backward in grad mode: g det(A) A^-T for the matrices the first-order
    path inverts (well conditioned), the SVD formula (_det_grad_svd) for the finite rest, NaN
    (times g) for a matrix with a NaN or inf entry: the first-order path's values."""
    xp = get_array_module(d)
    n = a.shape[-1]
    if a.data.size == 0 or n == 0:
        return (_zeros(a),)
    if n == 1:  # adj = 1: a gradient through g alone (torch's has no path to A either)
        return (g.unsqueeze(-1).unsqueeze(-1) * Tensor(xp.ones(a.shape, dtype=a.dtype)),)
    finite = _finite_matrices(a.data)
    inv_t, ok = _stable_inv_t(a.data, (d != 0) & finite)
    gd = g * _det(a, d)
    if bool(ok.all()):
        x = _inv(a, _contig(_mT(inv_t)))
        return (gd.unsqueeze(-1).unsqueeze(-1) * x.mT,)
    flat = a.reshape(-1, n, n)
    good = xp.flatnonzero(ok.reshape(-1))
    svd_idx, nan_idx = _split_rest(ok, finite)
    parts = []
    if good.size:
        x = _inv(flat[good], _contig(_mT(inv_t.reshape(-1, n, n)[good])))
        parts.append(gd.reshape(-1)[good].unsqueeze(-1).unsqueeze(-1) * x.mT)
    if svd_idx.size:
        parts.append(_det_grad_svd(flat[svd_idx], g.reshape(-1)[svd_idx]))
    if nan_idx.size:
        nan = Tensor(xp.full((nan_idx.size, n, n), np.nan, dtype=a.dtype))
        parts.append(g.reshape(-1)[nan_idx].unsqueeze(-1).unsqueeze(-1) * nan)
    order = xp.argsort(xp.concatenate([good, svd_idx, nan_idx]))
    return (cat(parts, 0)[order].reshape(*a.shape),)


def _det_grad_svd(a: Tensor, g: Tensor) -> Tensor:
    """g adj(A)^T for a batch (b, n, n) and g (b,), from the SVD (torch's singular branch,
    differentiable where the singular values are distinct): alpha U diag(prod_{j != i} s_j)
    V^T, alpha = det(U) det(V) = +-1 (piecewise constant: no derivative)."""
    u, s, vh = _svd(a, True)
    xp = get_array_module(a.data)
    alpha = Tensor(xp.linalg.det(u.data) * xp.linalg.det(vh.data))
    n = a.shape[-1]
    left, right = [_zeros(a, (a.shape[0], 1)) + 1.0], [_zeros(a, (a.shape[0], 1)) + 1.0]
    for i in range(1, n):  # the products of the s_j before (after) each i
        left.append(left[-1] * s[:, i - 1 : i])
        right.append(right[-1] * s[:, n - i : n - i + 1])
    others = cat([lo * ro for lo, ro in zip(left, reversed(right))], -1)
    return (u * ((g * alpha).unsqueeze(-1) * others).unsqueeze(-2)) @ vh


def det(A: Any) -> Tensor:  # noqa: N803  (torch's argument name)
    """torch.linalg.det: the determinants of a batch (*, n, n); differentiable everywhere
    (the gradient is the transposed adjugate, also for singular matrices), twice too."""
    a = _matrix(A, "linalg.det", square=True)
    return _det(a)


def _slogdet_inv_t(a: Any, sign: Any) -> Any:
    """d log|det A| / dA = A^-T: the LU inverse where A is well conditioned, adj(A)^T / det(A)
    from the SVD for the finite rest (inf / NaN where det A = 0), NaN for a matrix with a NaN
    or inf entry (one such matrix does not fail the batch)."""
    xp = get_array_module(a)
    if a.shape[-1] == 1:  # 1 / a, inf and NaN entries too (torch's values)
        with _fp_quiet(xp):
            return 1.0 / a
    finite = _finite_matrices(a)
    inv_t, ok = _stable_inv_t(a, (sign != 0) & finite)
    if not bool(ok.all()):
        n = a.shape[-1]
        svd_idx, nan_idx = _split_rest(ok, finite)
        flat = inv_t.reshape(-1, n, n)  # a view: inv_t is new and contiguous
        if svd_idx.size:
            sub = a.reshape(-1, n, n)[svd_idx]
            with _fp_quiet(xp):
                flat[svd_idx] = _adjugate_svd(sub) / xp.linalg.det(sub)[..., None, None]
        flat[nan_idx] = np.nan
    return inv_t


class _LinalgSlogdet(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, cached: Any = None) -> Any:
        xp = get_array_module(a)
        if cached is None:
            with _fp_quiet(xp):  # a NaN matrix: without numpy's RuntimeWarning
                sign, logabs = xp.linalg.slogdet(a)
            sign = xp.asarray(sign, dtype=a.dtype)
            logabs = xp.asarray(logabs, dtype=a.dtype)
            # torch's sign is 0 where logabsdet is NaN (numpy's is +-1 there)
            sign = xp.where(xp.isnan(logabs), xp.zeros((), a.dtype), sign)
            cached = sign, logabs
        ctx.save_for_backward(a)
        ctx.sign = cached[0]
        return cached

    @staticmethod
    def backward(ctx: Any, g_sign: Any, g_logabs: Any) -> Any:
        # d log|det A| / dA = A^-T (the sign is piecewise constant: no gradient)
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        if a.shape[-1] == 0:
            return xp.zeros(a.shape, dtype=a.dtype)
        return g_logabs[..., None, None] * _slogdet_inv_t(a, ctx.sign)


def _slogdet(a: Tensor, cached: Any = None) -> Any:
    out = _LinalgSlogdet.apply(a, cached=cached)
    return _with_dbackward(out, partial(_slogdet_dbackward, a, (out[0].data, out[1].data)))


def _slogdet_dbackward(a: Tensor, cached: Any, slots: dict[int, Tensor]) -> tuple[Any, ...]:
    # torch's slogdet_backward in grad mode: solve(A^T, g I), here g A^-T with A^-T an inverse
    # node (its values the first-order path's)
    g = slots.get(1)
    if g is None or a.shape[-1] == 0:
        return (_zeros(a),)
    x = _inv(a, _contig(_mT(_slogdet_inv_t(a.data, cached[0]))))
    return (g.unsqueeze(-1).unsqueeze(-1) * x.mT,)


def slogdet(A: Any) -> Any:  # noqa: N803
    """torch.linalg.slogdet: (sign, logabsdet) of a batch (*, n, n); gradient through
    logabsdet (A^-T), and its own gradient."""
    a = _matrix(A, "linalg.slogdet", square=True)
    return SlogdetResult(*_slogdet(a))


def logdet(input: Any) -> Tensor:  # noqa: A002
    """torch.logdet: log det A; NaN where det A < 0, -inf where it is 0."""
    a = _matrix(input, "logdet", "input", square=True)
    sign, logabs = _slogdet(a)
    xp = get_array_module(sign.data)
    with _fp_quiet(xp):
        shift = xp.where(sign.data == 0, -xp.inf, 0.0).astype(a.dtype)
    # det < 0: NaN, with a zero gradient (as torch's), not logabsdet's
    return where(Tensor(sign.data < 0), float("nan"), logabs + Tensor(shift))


def _raise_singular(op: str, a: Any, what: str) -> None:
    xp = get_array_module(a)
    flat = a.reshape(-1, *a.shape[-2:])
    for i in range(flat.shape[0]):
        if float(xp.linalg.matrix_rank(flat[i])) < a.shape[-1]:
            raise LinAlgError(f"{op}: {_batch_prefix(a, i)}{what}")
    raise LinAlgError(f"{op}: {what}")


class _LinalgInv(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, cached: Any = None) -> Any:
        xp = get_array_module(a)
        out = cached
        if out is None:
            try:
                out = xp.linalg.inv(a)
            except Exception as e:  # numpy's / cupy's LinAlgError
                if type(e).__name__ != "LinAlgError":
                    raise
                _raise_singular(
                    "linalg.inv",
                    a,
                    "The input matrix is singular, the inversion could not be completed.",
                )
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (inv_a,) = ctx.saved_tensors
        inv_t = _mT(inv_a)
        return -(inv_t @ g @ inv_t)  # -A^-T G A^-T


def _inv(a: Tensor, cached: Any = None) -> Tensor:
    """inv(a) as a node with a double backward; cached: a^-1 already computed (the inverse of
    a triangular factor, of a well-conditioned matrix in det's backward)."""
    out = _LinalgInv.apply(a, cached=cached)
    return _with_dbackward(out, partial(_inv_dbackward, a, out.data))


def _inv_dbackward(a: Tensor, x: Any, g: Tensor) -> tuple[Any, ...]:
    xt = _inv(a, x).mT
    return (-(xt @ g @ xt),)


def inv(A: Any) -> Tensor:  # noqa: N803
    """torch.linalg.inv: the inverses of a batch (*, n, n); LinAlgError for a singular one."""
    a = _matrix(A, "linalg.inv", square=True)
    return _inv(a)


def inverse(input: Any) -> Tensor:  # noqa: A002
    """torch.inverse: linalg.inv."""
    return inv(input)


# ---- solve ----------------------------------------------------------------------------------


def _shared_axes(a_shape: Any, batch: Any) -> tuple[list[int], list[int]]:
    """The batch axes (of batch, A's batch dimensions left-padded to its length) along which
    A is broadcast (A's size 1, the batch's more) and the others."""
    pad = (1,) * (len(batch) - len(a_shape)) + tuple(a_shape)
    shared = [i for i, (s, t) in enumerate(zip(pad, batch)) if s == 1 and t != 1]
    return shared, [i for i in range(len(batch)) if i not in shared]


def _to_columns(b: Any, batch: Any, shared: list[int], own: list[int]) -> Any:
    """b (*batch, n, k) as (*own, n, shared * k): the right-hand sides of a matrix A shared
    along the shared axes, side by side as the columns of one solve."""
    xp = get_array_module(b)
    nb = len(batch)
    bt = xp.broadcast_to(b, (*batch, *b.shape[-2:])).transpose(*own, nb, *shared, nb + 1)
    return bt.reshape(*(batch[i] for i in own), b.shape[-2], -1)


def _from_columns(x: Any, batch: Any, shared: list[int], own: list[int], k: int) -> Any:
    """_to_columns' inverse: x (*own, n, shared * k) as (*batch, n, k) (a view)."""
    nb = len(batch)
    x = x.reshape(*x.shape[:-1], *(batch[i] for i in shared), k)
    order = own + [nb] + shared + [nb + 1]  # x's axes: the batch axes in this order, n, k
    return x.transpose(*np.argsort(order))


def _lu_kernel(a: Any) -> bool:
    """Whether deltagrad's batched LU (_cpu.lu_factor / lu_solve) takes a: a numpy float32 /
    float64 array (cupy's keeps cupy.linalg; a module built before the kernel, numpy's)."""
    return isinstance(a, np.ndarray) and a.dtype in _LU_DTYPES and hasattr(_cpu, "lu_factor")


_LU_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_SINGULAR = "The solver failed because the input matrix is singular."


def _lu_factor(a: Any, op: str, where: Any) -> tuple[Any, Any]:
    """(lu, piv) of the matrices of a (*, n, n) (flattened to (M, n, n)): LAPACK getrf's
    factors in the input's precision (numpy.linalg computes a float32 batch in float64).
    torch's LinAlgError for an exact zero pivot, indexed in the batch of where (A as given)."""
    n = a.shape[-1]
    lu, piv, info = _cpu.lu_factor(np.ascontiguousarray(a).reshape(-1, n, n))
    if info.any():
        raise LinAlgError(f"{op}: {_batch_prefix(where, int(np.flatnonzero(info)[0]))}{_SINGULAR}")
    return lu, piv


def _solve_arrays(
    a: Any, b: Any, batch: Any, op: str, trans: bool = False, factors: Any = None
) -> tuple[Any, Any]:
    """(X, factors): X (*batch, n, k) with A X = B (A^T X = B when trans) for A (*, n, n),
    B (*, n, k) whose batch dimensions broadcast to batch; one LU per distinct matrix of A:
    the right-hand sides of a matrix that the batch shares (A broadcast along batch axes) are
    the columns of one solve. factors: the (lu, piv) of A's distinct matrices from an earlier
    call (the forward's, for the backward's A^-T G), returned for the next (None where
    xp.linalg solves: cupy). torch's LinAlgError for a singular A."""
    xp = get_array_module(a)
    n, k = b.shape[-2:]
    if a.size == 0 or b.size == 0 or not batch:
        shared, own = [], list(range(len(batch)))
    else:
        shared, own = _shared_axes(a.shape[:-2], batch)
    own_shape = tuple(batch[i] for i in own)
    if shared:
        ab = a.reshape(*[1] * (len(batch) - a.ndim + 2), *a.shape)  # left-padded
        ab = ab.reshape(*(ab.shape[i] for i in own), n, n)  # without the shared axes (size 1)
        ab = xp.broadcast_to(ab, (*own_shape, n, n))
        bb = _to_columns(b, batch, shared, own)
    else:
        ab = xp.broadcast_to(a, (*batch, n, n))
        bb = xp.broadcast_to(b, (*batch, n, k))
    if not (ab.size and bb.size):
        x = xp.zeros(bb.shape, a.dtype)
    elif _lu_kernel(ab):
        lu, piv = factors if factors is not None else _lu_factor(ab, op, a)
        factors = (lu, piv)
        cols = np.ascontiguousarray(bb).reshape(lu.shape[0], n, -1)
        x = _cpu.lu_solve(lu, piv, cols, trans).reshape(bb.shape)
    else:
        try:
            x = xp.linalg.solve(_mT(ab) if trans else ab, bb)
        except Exception as e:
            if type(e).__name__ != "LinAlgError":
                raise
            _raise_singular(op, a, _SINGULAR)  # torch's index: of A's own batch (factored once)
    return (_contig(_from_columns(x, batch, shared, own, k)) if shared else x), factors


class _LinalgSolve(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, vector: bool = False, cached: Any = None) -> Any:
        x, factors = cached, None  # the solution as a batch of matrices (*, n, k)
        if x is None:
            bb = b[..., None] if vector else b
            batch = np.broadcast_shapes(a.shape[:-2], bb.shape[:-2])
            x, factors = _solve_arrays(a, bb, batch, "torch.linalg.solve")
        ctx.save_for_backward(a, x)
        ctx.factors = factors  # A's LU, for the backward's solve with A^T (torch's too)
        ctx.vector = vector
        ctx.shapes = (a.shape, b.shape)
        return x[..., 0] if vector else x

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        # torch's solve_backward: gB = A^-T G, gA = -gB X^T (summed over A's broadcast axes)
        a, x = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        gg = g[..., None] if ctx.vector else g
        batch = x.shape[:-2]
        gb, _ = _solve_arrays(a, gg, batch, "torch.linalg.solve", trans=True, factors=ctx.factors)
        ga = None
        if ctx.needs_input_grad[0]:
            shared, own = _shared_axes(a_shape[:-2], batch) if gb.size else ([], [])
            if shared:  # the sum over the shared axes inside one product
                gbc = _to_columns(gb, batch, shared, own)
                xc = _to_columns(x, batch, shared, own)
                ga = -(gbc @ _mT(xc))  # (*own, n, n): size 1 back on the shared axes
                ga = ga.reshape(
                    *(1 if i in shared else t for i, t in enumerate(batch)), *ga.shape[-2:]
                )
            else:
                ga = -(gb @ _mT(x))
            ga = _sum_to(ga, a_shape)
        gb = gb[..., 0] if ctx.vector else gb
        return ga, _sum_to(gb, b_shape) if ctx.needs_input_grad[1] else None, None


def _solve(a: Tensor, b: Tensor, vector: bool, cached: Any = None) -> Tensor:
    out = _LinalgSolve.apply(a, b, vector, cached=cached)
    x = out.data[..., None] if vector else out.data
    return _with_dbackward(out, partial(_solve_dbackward, a, b, vector, x))


def _solve_dbackward(a: Tensor, b: Tensor, vector: bool, x: Any, g: Tensor) -> tuple[Any, ...]:
    # torch's solve_backward: gB = A^-T g (a solve node: differentiable in A and g),
    # gA = -gB X^T (X a node of this solve, from the saved solution)
    gg = g.unsqueeze(-1) if vector else g
    gb = _solve(a.mT, gg, False)
    ga = None
    if a.requires_grad:
        xn = _solve(a, b, vector, x)
        xn = xn.unsqueeze(-1) if vector else xn
        ga = Tensor._sum_to(-(gb @ xn.mT), tuple(a.shape))
    gbo = None
    if b.requires_grad:
        gbo = Tensor._sum_to(gb.squeeze(-1) if vector else gb, tuple(b.shape))
    return ga, gbo


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:  # noqa: N803
    """torch.linalg.solve: X with A X = B (left) or X A = B (left=False) for A (*, n, n) and
    B (*, n, k), or B (*, n) (a batch of vectors: B 1-D or of A's shape without the last
    dimension); batch dimensions broadcast. LinAlgError for a singular A."""
    op = "torch.linalg.solve"
    a = _matrix(A, op, square=True)
    b = _tensor(B, op, "B")
    if b.dtype != a.dtype:
        raise RuntimeError(
            f"{op}: Expected A and B to have the same dtype, but found A of type {a.dtype} "
            f"and B of type {b.dtype} instead"
        )
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))
    if not left:
        if vector:  # torch: B must be a matrix for XA = B
            raise _ShapeError(
                f"{op}: Incompatible shapes of A and B for the equation XA = B "
                f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[-1]}x1)"
            )
        if b.ndim < 2:
            raise _ShapeError(f"{op}: The input tensor B must have at least 2 dimensions.")
        return solve(a.mT, b.mT).mT
    n = a.shape[-1]
    rows = b.shape[-1] if vector else (b.shape[-2] if b.ndim >= 2 else -1)
    if rows != n:
        raise _ShapeError(
            f"{op}: Incompatible shapes of A and B for the equation AX = B "
            f"({a.shape[-2]}x{n} and {'x'.join(str(s) for s in b.shape[-2:])})"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[: -1 if vector else -2])
    except ValueError:
        raise _ShapeError(
            f"{op}: the batch dimensions of A {a.shape} and B {b.shape} do not broadcast"
        ) from None
    return _solve(a, b, vector)


# ---- cholesky -------------------------------------------------------------------------------


def _raise_not_pd(op: str, a: Any) -> None:
    """torch's message: the first failing batch element and the order of its leading minor
    that is not positive-definite (found by factorizing the leading blocks, on failure only)."""
    xp = get_array_module(a)
    flat = a.reshape(-1, *a.shape[-2:])
    for i in range(flat.shape[0]):
        for k in range(1, a.shape[-1] + 1):
            try:
                c = xp.linalg.cholesky(flat[i, :k, :k])
                bad = bool(xp.isnan(c).any())
            except Exception:
                bad = True
            if bad:
                raise LinAlgError(
                    f"{op}: {_batch_prefix(a, i)}The factorization could not be completed "
                    f"because the input is not positive-definite (the leading minor of order "
                    f"{k} is not positive-definite)."
                )
    raise LinAlgError(
        f"{op}: The factorization could not be completed because the input is not "
        "positive-definite."
    )


class _LinalgCholesky(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, upper: bool = False, cached: Any = None) -> Any:
        xp = get_array_module(a)
        low = cached  # the lower factor
        if low is None:
            # the upper factor is read from the upper triangle (LAPACK's 'U'): A^T's lower
            src = _mT(a) if upper else a
            try:
                low = xp.linalg.cholesky(src) if a.size else xp.zeros(a.shape, a.dtype)
            except Exception as e:
                if type(e).__name__ != "LinAlgError":
                    raise
                _raise_not_pd("linalg.cholesky", src)
            # cupy, and numpy's OpenBLAS on a NaN: a NaN factor where LAPACK's potrf fails
            if bool(xp.isnan(low).any()):
                _raise_not_pd("linalg.cholesky", src)
            low = xp.ascontiguousarray(low)
        ctx.save_for_backward(low)
        ctx.upper = upper
        return xp.ascontiguousarray(_mT(low)) if upper else low

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        # Murray (2016): Phi = sym(tril(L^T gL)) with half the diagonal; gA = L^-T Phi L^-1
        (low,) = ctx.saved_tensors
        xp = get_array_module(low)
        gl = _mT(g) if ctx.upper else g
        p = xp.tril(_mT(low) @ gl)
        p = 0.5 * (p + _mT(xp.tril(p, -1)))
        if low.size == 0:
            return xp.zeros(low.shape, low.dtype), None
        linv = _tri_inv(low, lower=True)
        return _mT(linv) @ p @ linv, None


def _cholesky(a: Tensor, upper: bool, cached: Any = None) -> Tensor:
    out = _LinalgCholesky.apply(a, upper, cached=cached)
    return _with_dbackward(out, partial(_cholesky_dbackward, a, upper, out.data))


def _cholesky_dbackward(a: Tensor, upper: bool, factor: Any, g: Tensor) -> tuple[Any, ...]:
    # torch's cholesky_backward: L^-T Phi L^-1, Phi = sym(tril(L^T gL)) with half the diagonal,
    # with L a node of this factorization and L^-1 an inverse node of L (from the saved
    # triangular inverse; L^-1's gradient to L's upper triangle is ignored by L's backward)
    if factor.size == 0:
        return (_zeros(a),)
    low = _contig(_mT(factor)) if upper else factor
    ln = _cholesky(a, upper, low)
    ln = ln.mT if upper else ln
    gl = g.mT if upper else g
    p = (ln.mT @ gl).tril()
    p = 0.5 * (p + p.tril(-1).mT)
    linv = _inv(ln, _tri_inv(low, lower=True))
    return (linv.mT @ p @ linv,)


def cholesky(A: Any, *, upper: bool = False) -> Tensor:  # noqa: N803
    """torch.linalg.cholesky: L (lower) with A = L L^T, or U = L^T with upper=True, for a
    symmetric positive-definite batch (*, n, n); only A's lower (upper) triangle is read.
    LinAlgError (torch's message) when a matrix is not positive-definite."""
    a = _matrix(A, "linalg.cholesky", square=True)
    return _cholesky(a, bool(upper))


# ---- qr -------------------------------------------------------------------------------------


class _LinalgQR(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, mode: str = "reduced", cached: Any = None) -> Any:
        xp = get_array_module(a)
        m, n = a.shape[-2:]
        k = min(m, n)
        if cached is not None:
            q, r = cached
        elif a.size == 0:
            qcols = m if mode == "complete" else k
            q = xp.broadcast_to(xp.eye(m, qcols, dtype=a.dtype), (*a.shape[:-2], m, qcols))
            r = xp.zeros((*a.shape[:-2], m if mode == "complete" else k, n), a.dtype)
            q = xp.ascontiguousarray(q)
        else:
            q, r = xp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        if mode == "r" and cached is None:
            q = xp.zeros((0,), a.dtype)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        ctx.mn = (m, n)
        return q, r

    @staticmethod
    def backward(ctx: Any, gq: Any, gr: Any) -> Any:
        q, r = ctx.saved_tensors
        m, n = ctx.mn
        xp = get_array_module(r)
        _qr_check_differentiable(ctx.mode, m, n)
        if q.size == 0 or r.size == 0:
            return xp.zeros((*r.shape[:-2], m, n), r.dtype), None
        mm = gr @ _mT(r) - _mT(q) @ gq
        if m >= n:
            t = xp.triu(mm)
            sym = t + _mT(t)
            idx = xp.arange(n)
            sym[..., idx, idx] *= 0.5  # syminvadj: X + X^T with the diagonal once
            rhs = q @ sym + gq
            return rhs @ _mT(_tri_inv(r, lower=False)), None  # rhs R^-T
        x = -mm
        lead = q @ xp.tril(x - _mT(x))
        lead = lead @ _mT(_tri_inv(r[..., :, :m], lower=False))
        ga = xp.concatenate([lead, xp.zeros((*r.shape[:-2], m, n - m), r.dtype)], axis=-1)
        return ga + q @ gr, None


def _qr_check_differentiable(mode: str, m: int, n: int) -> None:
    if mode == "r":
        raise RuntimeError(
            "The derivative of linalg.qr depends on Q, which is not computed when "
            "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
            "differentiate through linalg.qr."
        )
    if mode == "complete" and m > n:
        raise RuntimeError(
            "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
        )


def _qr(a: Tensor, mode: str, cached: Any = None) -> Any:
    out = _LinalgQR.apply(a, mode, cached=cached)
    return _with_dbackward(out, partial(_qr_dbackward, a, mode, (out[0].data, out[1].data)))


def _qr_dbackward(a: Tensor, mode: str, cached: Any, slots: dict[int, Tensor]) -> tuple[Any, ...]:
    # torch's linalg_qr_backward, as _LinalgQR.backward, with Q, R nodes of this factorization
    # and R^-1 an inverse node of R's square block (from the saved triangular inverse)
    q, r = cached
    m, n = a.shape[-2:]
    _qr_check_differentiable(mode, m, n)
    if q.size == 0 or r.size == 0:
        return (_zeros(a),)
    qn, rn = _qr(a, mode, cached)
    gq = slots[0] if 0 in slots else _zeros(q)
    gr = slots[1] if 1 in slots else _zeros(r)
    mm = gr @ rn.mT - qn.mT @ gq
    if m >= n:
        sym = mm.triu() + mm.triu(1).mT  # X + X^T with the diagonal once
        rinv = _inv(rn, _tri_inv(r, lower=False))
        return ((qn @ sym + gq) @ rinv.mT,)
    x = -mm
    rinv = _inv(rn[..., :, :m], _tri_inv(r[..., :, :m], lower=False))
    lead = (qn @ (x - x.mT).tril()) @ rinv.mT
    zero = _zeros(r, (*r.shape[:-2], m, n - m))
    return (cat([lead, zero], -1) + qn @ gr,)


def qr(A: Any, mode: str = "reduced") -> Any:  # noqa: N803
    """torch.linalg.qr: (Q, R) with A = QR, mode 'reduced' (Q (*, m, k), R (*, k, n),
    k = min(m, n)), 'complete' (Q (*, m, m), R (*, m, n)) or 'r' (Q empty, R as reduced)."""
    op = "linalg.qr"
    a = _matrix(A, op)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' "
            "(default), 'r', or 'complete'"
        )
    return QRResult(*_qr(a, mode))


# ---- eigh / eigvalsh ------------------------------------------------------------------------


def _check_uplo(uplo: Any, op: str) -> str:
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U") or len(uplo) != 1:
        raise RuntimeError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {uplo}")
    return uplo.upper()


def _eigh_arrays(a: Any, uplo: str) -> tuple[Any, Any]:
    xp = get_array_module(a)
    if a.size == 0:
        return xp.zeros(a.shape[:-1], a.dtype), xp.zeros(a.shape, a.dtype)
    return _lapack_eigh(a, uplo)


class _LinalgEigh(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, uplo: str = "L", cached: Any = None) -> Any:
        w, v = _eigh_arrays(a, uplo) if cached is None else cached
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx: Any, gw: Any, gv: Any) -> Any:
        # torch's linalg_eig_backward, Hermitian case:
        #   gA = V (skew(V^T gV) / E + diag(gw)) V^T,  E_ij = w_j - w_i (1 on the diagonal)
        w, v = ctx.saved_tensors
        xp = get_array_module(w)
        if v.size == 0:
            return xp.zeros(v.shape, v.dtype), None
        vgv = _mT(v) @ gv
        vgv = 0.5 * (vgv - _mT(vgv))
        e = w[..., None, :] - w[..., :, None]
        n = w.shape[-1]
        idx = xp.arange(n)
        e[..., idx, idx] = 1.0
        with _fp_quiet(xp):
            inner = vgv / e
        inner[..., idx, idx] = gw
        return v @ inner @ _mT(v), None


def _eigh(a: Tensor, uplo: str, cached: Any = None) -> Any:
    out = _LinalgEigh.apply(a, uplo, cached=cached)
    return _with_dbackward(out, partial(_eigh_dbackward, a, uplo, (out[0].data, out[1].data)))


def _eigh_dbackward(a: Tensor, uplo: str, cached: Any, slots: dict[int, Tensor]) -> tuple[Any, ...]:
    # as _LinalgEigh.backward, with w, V nodes of this decomposition; with no gradient for V,
    # V diag(gw) V^T (torch's: no 0 / E, so repeated eigenvalues are no NaN)
    w, v = cached
    if v.size == 0:
        return (_zeros(a),)
    wn, vn = _eigh(a, uplo, cached)
    gw, gv = slots.get(0), slots.get(1)
    if gv is None:
        return ((vn * gw.unsqueeze(-2)) @ vn.mT,)
    vgv = vn.mT @ gv
    vgv = 0.5 * (vgv - vgv.mT)
    e = wn.unsqueeze(-2) - wn.unsqueeze(-1) + _eye(w.shape[-1], w)  # 1 on the diagonal
    inner = vgv / e
    if gw is not None:
        inner = inner + gw.diag_embed()
    return (vn @ inner @ vn.mT,)


class _LinalgEigvalsh(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, uplo: str = "L", cached: Any = None) -> Any:
        w, v = _eigh_arrays(a, uplo) if cached is None else cached
        ctx.save_for_backward(v)
        return w

    @staticmethod
    def backward(ctx: Any, gw: Any) -> Any:
        (v,) = ctx.saved_tensors  # gA = V diag(gw) V^T: defined for repeated eigenvalues too
        return (v * gw[..., None, :]) @ _mT(v), None


def _eigvalsh_dbackward(a: Tensor, uplo: str, cached: Any, g: Tensor) -> tuple[Any, ...]:
    # V diag(g) V^T with V a node of the decomposition (differentiable for distinct eigenvalues)
    if cached[1].size == 0:
        return (_zeros(a),)
    vn = _eigh(a, uplo, cached)[1]
    return ((vn * g.unsqueeze(-2)) @ vn.mT,)


def eigh(A: Any, UPLO: str = "L") -> Any:  # noqa: N803
    """torch.linalg.eigh: (eigenvalues ascending, eigenvectors as columns) of a symmetric batch
    (*, n, n), only the UPLO triangle read. The eigenvectors' signs are LAPACK's; their
    gradient is defined for distinct eigenvalues and gauge-invariant losses, as torch's."""
    op = "linalg.eigh"
    a = _matrix(A, op, square=True)
    return EighResult(*_eigh(a, _check_uplo(UPLO, op)))


def eigvalsh(A: Any, UPLO: str = "L") -> Tensor:  # noqa: N803
    """torch.linalg.eigvalsh: the eigenvalues (ascending) of a symmetric batch (*, n, n)."""
    op = "linalg.eigvalsh"
    a = _matrix(A, op, square=True)
    uplo = _check_uplo(UPLO, op)
    if not _records(a):  # no gradient: the eigenvalues alone (LAPACK skips the vectors)
        xp = get_array_module(a.data)
        if a.data.size == 0:
            w = xp.zeros(a.shape[:-1], a.dtype)
        else:
            w = _lapack_eigh(a.data, uplo, values_only=True)
        return _LinalgEigvalsh.apply(a, uplo, cached=(w, None))
    cached = _eigh_arrays(a.data, uplo)
    out = _LinalgEigvalsh.apply(a, uplo, cached=cached)
    return _with_dbackward(out, partial(_eigvalsh_dbackward, a, uplo, cached))


# ---- svd / svdvals --------------------------------------------------------------------------


def _records(a: Tensor) -> bool:
    """Whether an op on a records a graph node (grad mode on and a requires grad): else
    its backward's factors (eigenvectors, singular vectors) need not be computed."""
    return a.requires_grad and is_grad_enabled()


def _svd_arrays(a: Any, full: bool) -> tuple[Any, Any, Any]:
    xp = get_array_module(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    if a.size == 0:
        batch = a.shape[:-2]
        ucols, vrows = (m, n) if full else (k, k)
        u = xp.ascontiguousarray(
            xp.broadcast_to(xp.eye(m, ucols, dtype=a.dtype), (*batch, m, ucols))
        )
        vh = xp.ascontiguousarray(
            xp.broadcast_to(xp.eye(vrows, n, dtype=a.dtype), (*batch, vrows, n))
        )
        return u, xp.zeros((*batch, k), a.dtype), vh
    return _lapack_svd(a, full)


class _LinalgSVD(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, full: bool = True, cached: Any = None) -> Any:
        u, s, vh = _svd_arrays(a, full) if cached is None else cached
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx: Any, gu: Any, gs: Any, gvh: Any) -> Any:
        # torch's svd_backward (only the leading k = min(m, n) singular vectors count)
        u, s, vh = ctx.saved_tensors
        xp = get_array_module(s)
        m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
        if k == 0:
            return xp.zeros((*s.shape[:-1], m, n), s.dtype), None
        u, gu = u[..., :, :k], gu[..., :, :k]
        vh, gvh = vh[..., :k, :], gvh[..., :k, :]
        v, gv = _mT(vh), _mT(gvh)
        uhgu = _mT(u) @ gu
        uhgu = uhgu - _mT(uhgu)
        vhgv = _mT(v) @ gv
        vhgv = vhgv - _mT(vhgv)
        s2 = s * s
        e = s2[..., None, :] - s2[..., :, None]
        idx = xp.arange(k)
        e[..., idx, idx] = 1.0
        with _fp_quiet(xp):
            ga = (uhgu * s[..., None, :] + s[..., :, None] * vhgv) / e
            ga[..., idx, idx] = gs
            if m > n:
                ga = u @ ga
                gus = gu / s[..., None, :]
                ga = ga + gus - u @ (_mT(u) @ gus)
                ga = ga @ vh
            elif m < n:
                ga = ga @ vh
                sgvh = gvh / s[..., :, None]
                ga = ga + sgvh - (sgvh @ v) @ vh
                ga = u @ ga
            else:
                ga = u @ ga @ vh
        return ga, None


def _svd(a: Tensor, full: bool, cached: Any = None) -> Any:
    out = _LinalgSVD.apply(a, full, cached=cached)
    cached = tuple(o.data for o in out)
    return _with_dbackward(out, partial(_svd_dbackward, a, full, cached))


def _svd_dbackward(a: Tensor, full: bool, cached: Any, slots: dict[int, Tensor]) -> tuple[Any, ...]:
    # torch's svd_backward, as _LinalgSVD.backward, with U, S, Vh nodes of this decomposition
    u, s, vh = cached
    k = s.shape[-1]
    m, n = a.shape[-2:]
    if k == 0:
        return (_zeros(a),)
    un, sn, vhn = _svd(a, full, cached)
    un, vhn = un[..., :, :k], vhn[..., :k, :]
    gu, gs, gvh = slots.get(0), slots.get(1), slots.get(2)
    gu = None if gu is None else gu[..., :, :k]
    gvh = None if gvh is None else gvh[..., :k, :]
    if gu is None and gvh is None:  # torch's svdvals path: U diag(gS) Vh
        return ((un * gs.unsqueeze(-2)) @ vhn,)
    terms = []
    if gu is not None:
        uhgu = un.mT @ gu
        terms.append((uhgu - uhgu.mT) * sn.unsqueeze(-2))
    if gvh is not None:
        vhgv = vhn @ gvh.mT
        terms.append(sn.unsqueeze(-1) * (vhgv - vhgv.mT))
    s2 = sn * sn
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1) + _eye(k, s)  # 1 on the diagonal
    inner = (terms[0] if len(terms) == 1 else terms[0] + terms[1]) / e
    if gs is not None:
        inner = inner + gs.diag_embed()
    if m > n and gu is not None:
        gus = gu / sn.unsqueeze(-2)
        ga = (un @ inner + gus - un @ (un.mT @ gus)) @ vhn
    elif m < n and gvh is not None:
        sgvh = gvh / sn.unsqueeze(-1)
        ga = un @ (inner @ vhn + sgvh - (sgvh @ vhn.mT) @ vhn)
    else:
        ga = un @ inner @ vhn
    return (ga,)


class _LinalgSvdvals(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, cached: Any = None) -> Any:
        u, s, vh = _svd_arrays(a, False) if cached is None else cached
        ctx.save_for_backward(u, vh)
        return s

    @staticmethod
    def backward(ctx: Any, gs: Any) -> Any:
        u, vh = ctx.saved_tensors  # gA = U diag(gS) V^T: defined for repeated values too
        return (u * gs[..., None, :]) @ vh


def _svdvals_dbackward(a: Tensor, cached: Any, g: Tensor) -> tuple[Any, ...]:
    # U diag(g) Vh with U, Vh nodes of the reduced SVD (differentiable for distinct values)
    if cached[1].shape[-1] == 0:
        return (_zeros(a),)
    un, _, vhn = _svd(a, False, cached)
    return ((un * g.unsqueeze(-2)) @ vhn,)


def svd(A: Any, full_matrices: bool = True, *, driver: Any = None) -> Any:  # noqa: N803
    """torch.linalg.svd: (U, S, Vh) with A = U diag(S) Vh, S descending; full_matrices=False
    gives the reduced U (*, m, k), Vh (*, k, n). The singular vectors' signs are LAPACK's;
    their gradient is defined for distinct singular values and gauge-invariant losses."""
    op = "linalg.svd"
    a = _matrix(A, op)
    if driver is not None:
        raise RuntimeError(
            f"{op}: keyword argument `driver=` is only supported on CUDA inputs with cuSOLVER "
            "backend."
        )
    return SVDResult(*_svd(a, bool(full_matrices)))


def svdvals(A: Any, *, driver: Any = None) -> Tensor:  # noqa: N803
    """torch.linalg.svdvals: the singular values (descending) of a batch (*, m, n)."""
    a = _matrix(A, "linalg.svdvals")
    if driver is not None:
        raise RuntimeError(
            "linalg.svdvals: keyword argument `driver=` is only supported on CUDA inputs with "
            "cuSOLVER backend."
        )
    if not _records(a):  # no gradient: the values alone (LAPACK skips U and Vh)
        return _LinalgSvdvals.apply(a, cached=(None, _svdvals_array(a.data), None))
    cached = _svd_arrays(a.data, False)
    out = _LinalgSvdvals.apply(a, cached=cached)
    return _with_dbackward(out, partial(_svdvals_dbackward, a, cached))


def _svdvals_array(a: Any) -> Any:
    """The singular values (*, k) of a batch (*, m, n), without the vectors."""
    if a.size == 0:
        return get_array_module(a).zeros((*a.shape[:-2], min(a.shape[-2:])), a.dtype)
    return _lapack_svd(a, compute_uv=False)


# ---- pinv / matrix_rank / lstsq -------------------------------------------------------------


def _tolerance(s: Any, shape: Any, atol: Any, rtol: Any, dtype: Any) -> Any:
    """torch's cutoff max(atol, rtol * s_max) (s: (*, k) magnitudes); rtol defaults to
    eps * max(m, n) when neither is given and to 0 when only atol is."""
    xp = get_array_module(s)
    atol = atol.data if isinstance(atol, Tensor) else atol
    rtol = rtol.data if isinstance(rtol, Tensor) else rtol
    if rtol is None:
        rtol = np.finfo(dtype).eps * max(shape[-2:]) if atol is None else 0.0
    atol = 0.0 if atol is None else atol
    smax = s.max(axis=-1) if s.shape[-1] else xp.zeros(s.shape[:-1], s.dtype)
    return xp.maximum(xp.asarray(atol, dtype=dtype), xp.asarray(rtol, dtype=dtype) * smax)


def _pinv_arrays(a: Any, atol: Any, rtol: Any, herm: bool) -> tuple[Any, Any]:
    """(pinv(a), factors): factors (U, S, 1 / S with the cut values 0, Vh) of the reduced SVD
    that made it (None for an empty batch or hermitian=True, which uses eigh)."""
    xp = get_array_module(a)
    m, n = a.shape[-2:]
    if a.size == 0:
        return xp.zeros((*a.shape[:-2], n, m), a.dtype), None
    if herm:
        w, v = _lapack_eigh(a)
        cut = _tolerance(xp.abs(w), a.shape, atol, rtol, a.dtype)
        keep = xp.abs(w) > cut[..., None]
        with _fp_quiet(xp):
            winv = xp.where(keep, 1.0 / xp.where(keep, w, 1.0), 0.0).astype(a.dtype)
        return (v * winv[..., None, :]) @ _mT(v), None
    u, s, vh = _lapack_svd(a, False)
    cut = _tolerance(s, a.shape, atol, rtol, a.dtype)
    keep = s > cut[..., None]
    with _fp_quiet(xp):
        sinv = xp.where(keep, 1.0 / xp.where(keep, s, 1.0), 0.0).astype(a.dtype)
    return (_mT(vh) * sinv[..., None, :]) @ _mT(u), (u, s, sinv, vh)


class _LinalgPinv(Function):
    @staticmethod
    def forward(
        ctx: Any,
        a: Any,
        atol: Any = None,
        rtol: Any = None,
        herm: bool = False,
        cached: Any = None,
    ) -> Any:
        out, factors = _pinv_arrays(a, atol, rtol, herm) if cached is None else cached
        ctx.save_for_backward(a, out)
        ctx.factors = factors
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, p = ctx.saved_tensors
        if ctx.factors is not None:
            return _pinv_grad_svd(ctx.factors, g), None, None, None
        return _pinv_grad(a, p, g, _mT), None, None, None


def _pinv_grad_svd(factors: Any, g: Any) -> Any:
    """torch's pinv_backward (see _pinv_grad) from the SVD A = U S Vh that made P = pinv(A) =
    V S+ U^T (S+: 1 / S on the kept values, 0 on the cut ones; D: their 0 / 1 mask). With
    A P = U D U^T, P A = V D V^T, P P^T = V S+^2 V^T and H = V^T G U, torch's
    -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A) is
    U (S+^2 U^T G^T - M V^T) + G^T V S+^2 V^T,  M = S+ H S+ + D H^T S+^2 + S+^2 H^T D:
    six matmuls with the inner dimension k = min(m, n), in place of torch's eight."""
    u, _, sinv, vh = factors
    d = (sinv != 0).astype(sinv.dtype)
    s2 = sinv * sinv
    gu = g @ u  # (*, n, k): (U^T G^T)^T
    h = vh @ gu  # (*, k, k): V^T G U
    ht = _mT(h)
    mm = (sinv[..., :, None] * h * sinv[..., None, :]) + d[..., :, None] * ht * s2[..., None, :]
    mm = mm + s2[..., :, None] * ht * d[..., None, :]
    inner = _mT(gu) * s2[..., :, None] - mm @ vh
    gv = _mT(g) @ _mT(vh)  # (*, m, k): G^T V
    return u @ inner + (gv * s2[..., None, :]) @ vh


def _pinv_grad(a: Any, p: Any, g: Any, mt: Any) -> Any:
    """torch's pinv_backward (valid where the rank is locally constant) for arrays or Tensors
    (mt: their transpose of the last two dimensions)."""
    m, n = a.shape[-2:]
    ph, gh = mt(p), mt(g)
    if m <= n:
        kk = gh @ p
        kph = kk @ ph
        return -mt(p @ kk) + kph - (a @ p) @ kph + (ph @ p) @ (gh - kk @ a)
    kk = p @ gh  # the products grouped to keep the inner dimensions n (no m x m matrices)
    phk = ph @ kk
    return -mt(kk @ p) + (gh - a @ kk) @ (p @ ph) + phk - phk @ (p @ a)


def _pinv(a: Tensor, atol: Any, rtol: Any, herm: bool, cached: Any = None) -> Tensor:
    """pinv(a) as a node with a double backward; cached: (pinv, factors), _pinv_arrays'."""
    out = _LinalgPinv.apply(a, atol, rtol, herm, cached=cached)
    factors = None if cached is None else cached[1]
    return _with_dbackward(out, partial(_pinv_dbackward, a, atol, rtol, herm, (out.data, factors)))


def _pinv_dbackward(
    a: Tensor, atol: Any, rtol: Any, herm: bool, cached: Any, g: Tensor
) -> tuple[Any, ...]:
    pn = _pinv(a, atol, rtol, herm, cached)
    ga = _pinv_grad(a, pn, g, lambda t: t.mT)
    return (ga, *(None for t in (atol, rtol) if isinstance(t, Tensor)))


def _tol_arg(x: Any, op: str, name: str) -> Any:
    if x is None or isinstance(x, (int, float, Tensor)) and not isinstance(x, bool):
        return x
    raise TypeError(f"{op}: {name}: expected a float, a Tensor or None, got {type(x).__name__}")


def pinv(
    A: Any,  # noqa: N803
    *,
    atol: Any = None,
    rtol: Any = None,
    hermitian: bool = False,
) -> Tensor:
    """torch.linalg.pinv: the Moore-Penrose pseudo-inverse (*, n, m) of a batch (*, m, n),
    singular values at or below max(atol, rtol * s_max) treated as zero (rtol defaults to
    eps * max(m, n)); hermitian=True uses eigh on the lower triangle. Differentiable where the
    rank does not change (torch's formula)."""
    op = "linalg.pinv"
    a = _matrix(A, op)
    return _pinv(a, _tol_arg(atol, op, "atol"), _tol_arg(rtol, op, "rtol"), bool(hermitian))


def pinverse(input: Any, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """torch.pinverse: linalg.pinv with rtol=rcond."""
    return pinv(input, rtol=rcond)


def matrix_rank(
    A: Any,  # noqa: N803
    *,
    atol: Any = None,
    rtol: Any = None,
    hermitian: bool = False,
) -> Tensor:
    """torch.linalg.matrix_rank: the number of singular values (|eigenvalues| with
    hermitian=True) above max(atol, rtol * s_max); int64, no gradient."""
    op = "linalg.matrix_rank"
    a = _matrix(A, op)
    xp = get_array_module(a.data)
    if a.data.size == 0:
        return Tensor(xp.zeros(a.shape[:-2], np.int64))
    if hermitian:
        s = xp.abs(_lapack_eigh(a.data, values_only=True))
    else:
        s = _lapack_svd(a.data, compute_uv=False)
    cut = _tolerance(s, a.shape, _tol_arg(atol, op, "atol"), _tol_arg(rtol, op, "rtol"), a.dtype)
    return Tensor((s > cut[..., None]).sum(axis=-1).astype(np.int64))


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")

# the normal-equations route of lstsq (_lstsq_normal) takes a batch only when every matrix
# has s_min^2 >= floor * ||A||_F^2 (so cond(A) <= floor^-1/2): float32 solves in float64
# (error ~ cond^2 eps64 <= 1e-8, below float32's rounding), float64 by QR
_LSTSQ_FLOOR = {np.dtype(np.float32): 1e-8, np.dtype(np.float64): 1e-4}


def _lstsq_normal(a: Any, b: Any, rtol: float) -> Any:
    """The minimum-norm least-squares solution (*, n, k) of A X = B (A (*, m, n), B (*, m, k))
    from the normal equations, or None where that is not safe: where it cannot prove (one
    Cholesky factorization of G - tau I, G = A^T A for m >= n, A A^T else) that every matrix
    has full rank, every singular value above the cut rtol * s_max (rtol * ||A||_F bounds it)
    and a condition number of at most _LSTSQ_FLOOR^-1/2; tau also covers the rounding of G and
    of the factorization (|dG| <= (m + n + 1) eps ||A||_F^2; tau takes twice that), for G
    above the subnormal range (a smaller ||A||_F^2 goes to the SVD). Then X = pinv(A) B (rank
    min(m, n)): G^-1 A^T B for m >= n, A^T G^-1 B else in float64 for float32 input; by an
    unpivoted QR for float64 (the normal equations' cond^2 error shows there). Several times
    cheaper than the SVD (numpy has no pivoted QR): the route of a least-squares solve that
    records no graph."""
    floor = _LSTSQ_FLOOR.get(a.dtype)
    m, n = a.shape[-2:]
    if floor is None or get_array_module(a) is not np or a.size == 0 or b.size == 0:
        return None
    a64 = a.astype(np.float64, copy=False)
    b64 = b.astype(np.float64, copy=False)
    at = _mT(a64)
    g = at @ a64 if m >= n else a64 @ at
    k = g.shape[-1]
    idx = np.arange(k)
    with _fp_quiet(np):
        fro2 = g[..., idx, idx].sum(axis=-1)  # ||A||_F^2 (>= s_max^2)
        if not bool(np.isfinite(fro2).all()):  # a NaN / inf (OpenBLAS' potrf passes a NaN)
            return None
        eps = np.finfo(np.float64).eps
        if not bool((fro2 >= np.finfo(np.float64).tiny / eps).all()):
            return None  # G near or below the subnormals: its rounding is no longer relative
            # (tau would underflow with it; a zero matrix, rank 0, goes to the SVD too)
        tau = fro2 * (max(rtol * rtol, floor) + 2.0 * (m + n + 1) * eps)
        shifted = g.copy()
        shifted[..., idx, idx] -= tau[..., None]
        try:
            np.linalg.cholesky(shifted)  # raises unless every G - tau I is positive-definite
        except np.linalg.LinAlgError:
            return None  # rank-deficient, ill-conditioned, or not finite: the SVD decides
        if a.dtype == np.float64:
            # float64: QR, not the normal equations (whose cond^2 error a refinement step does
            # not remove where the residual is large: 5000 x 2, cond 32, 3.7e-7 against torch's
            # 4.8e-9); the factorization above only proved the full rank
            if m >= n:
                q, r = np.linalg.qr(a64)
                x = np.linalg.solve(r, _mT(q) @ b64)
            else:  # A = R^T Q^T: the minimum-norm X = Q R^-T B
                q, r = np.linalg.qr(at)
                x = q @ np.linalg.solve(_mT(r), b64)
        elif m >= n:  # float32, solved in float64: cond^2 eps64 <= 1e-8, below float32's rounding
            x = np.linalg.solve(g, at @ b64)
        else:
            x = at @ np.linalg.solve(g, b64)
    return x.astype(a.dtype, copy=False)


def lstsq(A: Any, B: Any, rcond: Any = None, *, driver: Any = None) -> Any:  # noqa: N803
    """torch.linalg.lstsq: the minimum-norm least-squares solution X of A X = B for A (*, m, n)
    and B (*, m, k) (or (*, m)), as (solution, residuals, rank, singular_values) with torch's
    CPU conventions: rank for every driver but 'gels', singular_values for 'gelsd' / 'gelss',
    residuals (squared, summed over m) for drivers other than 'gelsy' when m > n and every
    matrix has full rank; otherwise those are empty. The solution is pinv(A, rtol=rcond) @ B:
    differentiable in A and B where A's rank is locally constant. Where no graph is recorded
    and one Cholesky factorization proves every matrix of full rank and well conditioned
    (cond(A) <= 1e4 for float32, 1e2 for float64), the same solution comes from the normal
    equations (in float64; float64 input by QR) with no SVD: see _lstsq_normal."""
    op = "torch.linalg.lstsq"
    a = _matrix(A, op)
    b = _tensor(B, op, "B")
    if b.dtype != a.dtype:
        raise RuntimeError(
            f"{op}: Expected input and other to have the same dtype, but got input's dtype "
            f"{a.dtype} and other's dtype {b.dtype}"
        )
    if driver is None:
        driver = "gelsy"
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    if not 0 <= a.ndim - b.ndim <= 1:
        raise _ShapeError(
            f"{op}: input.dim() must be greater or equal to other.dim() and "
            "(input.dim() - other.dim()) <= 1"
        )
    # torch's rule (linalg.solve's): B is a (batch of) vector(s) where it has A's shape
    # without the last dimension
    vector = b.ndim == a.ndim - 1 and (b.ndim == 1 or tuple(b.shape) == tuple(a.shape[:-1]))
    if b.ndim == a.ndim - 1 and not vector:
        # torch's batch rule for a B one dimension short that is not a vector batch: A's batch
        # dims broadcast against B's dims but its last, and both take the result
        try:
            batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-1]))
        except ValueError:
            da, db = tuple(a.shape[:-2]), tuple(b.shape[:-1])
            k = next(
                i for i in range(1, len(da) + 1) if da[-i] != db[-i] and 1 not in (da[-i], db[-i])
            )
            raise _ShapeError(
                f"{op}: The size of tensor a ({da[-k]}) must match the size of tensor b "
                f"({db[-k]}) at non-singleton dimension {len(da) - k}"
            ) from None
        a = a.expand(*batch, *a.shape[-2:])
        b = b.expand(*batch, *b.shape[-2:])
    m, n = a.shape[-2:]
    rows = b.shape[-1] if vector else (b.shape[-2] if b.ndim >= 2 else -1)
    if rows != m:
        raise _ShapeError(f"{op}: input.size(-2) should match other.size(-{1 if vector else 2})")
    bm = b.unsqueeze(-1) if vector else b
    rtol = rcond if rcond is not None and rcond >= 0 else None
    if rtol is None:
        rtol = float(np.finfo(a.dtype).eps * max(m, n))
    xp = get_array_module(a.data)
    fast = None
    if not (_records(a) or _records(bm)):  # no graph: no pinv(A), no singular vectors
        fast = _lstsq_normal(a.data, bm.data, rtol)
    if fast is not None:  # every matrix has full rank
        rank = Tensor(xp.full(a.shape[:-2], min(m, n), np.int64))
        if driver == "gels":
            rank = Tensor(xp.zeros((0,), np.int64))
        s = _svdvals_array(a.data) if driver in ("gelsd", "gelss") else None
        return _lstsq_result(a, Tensor(fast), bm, rank, s, driver, vector, True)
    cached = _pinv_arrays(a.data, None, rtol, False)
    factors = cached[1]
    if _records(a) or factors is None:
        x = _pinv(a, None, rtol, False, cached) @ bm
    else:  # no gradient for A: V (S+ (U^T B)), without forming pinv(A)
        u, _, sinv, vh = factors
        x = Tensor(_mT(vh) * sinv[..., None, :]) @ (Tensor(_mT(u)) @ bm)
    rank = Tensor(xp.zeros((0,), np.int64))
    if factors is None:  # an empty A (torch's): rank 0, no singular values to a matrix
        s = xp.zeros((*a.shape[:-2], min(m, n)), a.dtype)
        if driver != "gels":
            rank = Tensor(xp.zeros(a.shape[:-2], np.int64))
    else:
        s = factors[1]  # the SVD's that made pinv(A)
        if driver != "gels":
            cut = rtol * s.max(axis=-1)
            rank = Tensor((s > cut[..., None]).sum(axis=-1).astype(np.int64))
    full = bool((rank.data == n).all())  # (true for 'gels', whose rank is empty)
    return _lstsq_result(a, x, bm, rank, s, driver, vector, full)


def _lstsq_result(
    a: Tensor, x: Tensor, bm: Tensor, rank: Tensor, s: Any, driver: str, vector: bool, full: bool
) -> Any:
    """lstsq's LstsqResult from the solution x (*, n, k) of A X = bm (*, m, k), the ranks and
    the singular values s (None: not computed); full: no matrix has a rank below n (the
    residuals are those of a full-rank tall A)."""
    xp = get_array_module(a.data)
    m, n = a.shape[-2:]
    empty = Tensor(xp.zeros((0,), a.dtype))
    svals = Tensor(s) if driver in ("gelsd", "gelss") and s is not None else empty
    residuals = empty
    if driver != "gelsy" and m > n and full:  # (*, k), k = 1 for vectors (torch's)
        r = a @ x - bm
        residuals = (r * r).sum(-2)
    return LstsqResult(x.squeeze(-1) if vector else x, residuals, rank, svals)


# ---- norms ----------------------------------------------------------------------------------


def _norm_input(x: Any, op: str, dtype: Any) -> Tensor:
    x = _tensor(x, op, "input")
    if dtype is not None:
        if np.dtype(dtype) not in _FLOAT_DTYPES:
            raise RuntimeError(f"{op}: dtype should be floating point, but got {dtype}")
        x = x.to(np.dtype(dtype))
    if x.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(
            f"{op}: Expected a floating point or complex tensor as input. Got {x.dtype}"
        )
    return x


def vector_norm(
    x: Any,
    ord: Any = 2,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """torch.linalg.vector_norm: (sum |x|^ord)^(1/ord) over dim (all by default), ord any
    real number or +-inf (0: the count of non-zeros, -inf / inf: the min / max of |x|)."""
    op = "linalg.vector_norm"
    x = _norm_input(x, op, dtype)
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.number)):
        raise TypeError(f"{op}: ord: expected a number, got {type(ord).__name__}")
    if isinstance(dim, list):
        dim = tuple(dim)
    ordf = float(ord)
    if ordf < 0 and ordf != -np.inf:
        # a zero element makes the norm 0 (|0|^ord = inf): those reductions are 0 with a zero
        # gradient, as torch's, computed on 1 in place of the zeros (no inf * 0 = NaN)
        xp = get_array_module(x.data)
        ax = x.abs()
        zero = ax.data == 0
        axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
        hit = xp.any(zero, axis=axis, keepdims=keepdim)
        safe = where(Tensor(zero), 1.0, ax)
        with _fp_quiet(xp):
            norm = safe.pow(ordf).sum(dim, keepdim).pow(1.0 / ordf)
        return where(Tensor(hit), 0.0, norm) if hit.any() else norm
    if ordf in (np.inf, -np.inf) and x.numel() == 0:
        raise RuntimeError(
            f"{op}: Expected a non-empty tensor for the reduction of ord={ord} (the max / "
            "min of an empty set)"
        )
    return x.norm(ordf if ordf != 2 else 2, dim, keepdim)


def _valid_matrix_ord(ord: Any) -> bool:  # noqa: A002
    if isinstance(ord, str):
        return ord in ("fro", "nuc")
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.number)):
        return False
    return float(ord) in (np.inf, -np.inf, 1.0, -1.0, 2.0, -2.0)


def matrix_norm(
    A: Any,  # noqa: N803
    ord: Any = "fro",  # noqa: A002
    dim: Any = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """torch.linalg.matrix_norm over the two dimensions dim: 'fro', 'nuc' (the sum of the
    singular values), 2 / -2 (the largest / smallest), 1 / -1 (the max / min column sum of
    |A|), inf / -inf (the max / min row sum)."""
    op = "linalg.matrix_norm"
    a = _norm_input(A, op, dtype)
    if a.ndim < 2:
        raise _ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if not _valid_matrix_ord(ord):
        raise RuntimeError(f"{op}: Order {ord} not supported.")
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else None
    if dims is None or len(dims) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (d % a.ndim if -a.ndim <= d < a.ndim else None for d in dims)
    if d0 is None or d1 is None:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{-a.ndim}, "
            f"{a.ndim - 1}], but got {dims})"
        )
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different. Got ({dims[0]}, {dims[1]})")
    if ord == "fro":
        return a.norm(2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(a.movedim((d0, d1), (-2, -1)))
        if s.numel() == 0 and ord != "nuc":
            raise RuntimeError(f"{op}: Expected a non-empty matrix for ord={ord}")
        out = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    # 1 / -1: sum over rows (d0), extreme over columns (d1); inf / -inf the other way round
    sum_dim, ext_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
    sums = a.abs().sum(sum_dim, True)
    if sums.numel() == 0:
        raise RuntimeError(f"{op}: Expected a non-empty matrix for ord={ord}")
    out = sums.amax(ext_dim, True) if ord > 0 else sums.amin(ext_dim, True)
    if not keepdim:
        out = out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    return out


def norm(
    A: Any,  # noqa: N803
    ord: Any = None,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """torch.linalg.norm: a vector norm (dim an int or 1-tuple, or dim and ord None: over
    everything, 2-norm) or a matrix norm (dim a 2-tuple, or dim None and A 2-D with ord
    given)."""
    op = "linalg.norm"
    a = _tensor(A, op, "A")
    if isinstance(dim, list):
        dim = tuple(dim)
    if isinstance(dim, int) or (isinstance(dim, tuple) and len(dim) == 1):
        if isinstance(ord, str):
            raise RuntimeError(f"{op}: ord='{ord}' only supported for matrix norms")
        return vector_norm(a, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if isinstance(dim, tuple) and len(dim) == 2:
        return matrix_norm(a, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is not None:
        raise RuntimeError(f"{op}: If dim is specified, it must be of length 1 or 2. Got {dim}")
    if ord is None:
        return vector_norm(a, 2, None, keepdim, dtype=dtype)
    if a.ndim == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"{op}: ord='{ord}' only supported for matrix norms")
        return vector_norm(a, ord, None, keepdim, dtype=dtype)
    if a.ndim == 2:
        return matrix_norm(a, ord, (-2, -1), keepdim, dtype=dtype)
    raise RuntimeError(
        f"{op}: If dim is not specified but ord is, the input must be 1D or 2D. Got {a.ndim}D."
    )
