"""Matrix products with torch's names and semantics: dg.matmul and dg.bmm.

Both are ``Tensor.__matmul__`` (the ``@`` operator): one strided-batched GEMM forward and
backward (dg.ops.matmul), broadcast batch dimensions read in place through zero strides.
Also householder_product (Tensor ops) and solve_triangular (LAPACK's trtrs through scipy when
it imports, numpy's solver else); the decompositions and the other solvers are in
deltagrad._linalg_more.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from .autograd import Function
from .tensor import _FLOAT_DTYPES, Tensor, _ShapeError, cat, get_array_module

__all__ = ["matmul", "bmm", "householder_product", "solve_triangular"]


def _tensor(x: Any, op: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        got = "None" if x is None else type(x).__name__
        raise TypeError(f"{op}: {name}: expected a Tensor, got {got}")
    return x


def matmul(input: Any, other: Any) -> Tensor:  # noqa: A002  (torch's argument name)
    """torch.matmul: the matrix product of two tensors.

    - 1-D @ 1-D: the dot product (a 0-d tensor);
    - 2-D @ 2-D: the matrix product;
    - 1-D @ N-D: the vector is a row (1, k), its dimension dropped from the result; N-D @ 1-D:
      a column (k, 1), likewise;
    - otherwise batches of matrices: (..., m, k) @ (..., k, n) -> (*batch, m, n), the batch
      dimensions broadcast as NumPy broadcasts them.
    ValueError naming matmul and both shapes when they do not fit; TypeError for two dtypes.
    """
    return _tensor(input, "matmul", "input") @ _tensor(other, "matmul", "other")


def bmm(input: Any, mat2: Any) -> Tensor:  # noqa: A002  (torch's argument name)
    """torch.bmm: (b, n, m) @ (b, m, p) -> (b, n, p), both 3-D with the same batch size b
    (no broadcasting, as torch; use matmul for that)."""
    input = _tensor(input, "bmm", "input")  # noqa: A001
    mat2 = _tensor(mat2, "bmm", "mat2")
    for t, name in ((input, "input"), (mat2, "mat2")):
        if t.ndim != 3:
            raise _ShapeError(f"bmm: {name}: expected a 3-D tensor, got shape {t.shape}")
    if input.shape[0] != mat2.shape[0]:
        raise _ShapeError(
            f"bmm: mat2: expected batch size {input.shape[0]} (that of input), got shape "
            f"{mat2.shape} for input shape {input.shape}"
        )
    if input.shape[2] != mat2.shape[1]:
        raise _ShapeError(
            f"bmm: shapes {input.shape} and {mat2.shape} cannot be multiplied "
            f"({input.shape[2]} != {mat2.shape[1]})"
        )
    return input @ mat2


def householder_product(input: Any, tau: Any) -> Tensor:  # noqa: A002  (torch's argument name)
    """torch.linalg.householder_product: the first n columns of H_1 H_2 ... H_k for input
    (*, m, n), m >= n, and tau (*, k), k <= n, with H_i = I - tau_i v_i v_i^T, v_i the i-th
    column of input below the diagonal with a 1 on it (LAPACK's orgqr convention; the
    diagonal and the upper triangle are not read). Built from Tensor ops (the reflections
    applied right to left, each a rank-1 update), so it has gradients for input and tau on
    any device. RuntimeError (torch's) for shapes that do not fit, TypeError for a non-float
    dtype or two dtypes."""
    op = "torch.linalg.householder_product"
    a = _tensor(input, op, "input")
    tau = _tensor(tau, op, "tau")
    if a.ndim < 2:
        raise _ShapeError(f"{op}: input must have at least 2 dimensions.")
    m, n = a.shape[-2], a.shape[-1]
    if m < n:
        raise _ShapeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if tau.ndim != a.ndim - 1:
        raise _ShapeError(
            f"{op}: Expected tau to have one dimension less than input, but got tau.ndim equal "
            f"to {tau.ndim} and input.ndim is equal to {a.ndim}"
        )
    if n < tau.shape[-1]:
        raise _ShapeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tuple(tau.shape[:-1]) != tuple(a.shape[:-2]):
        raise _ShapeError(
            f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
            f"{list(tau.shape[:-1])}"
        )
    if a.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: input: expected float32 or float64, got {a.dtype}")
    if tau.dtype != a.dtype:
        raise TypeError(f"{op}: tau dtype {tau.dtype} does not match input dtype {a.dtype}")
    xp = get_array_module(a.data)
    k, batch, dt = tau.shape[-1], tuple(a.shape[:-2]), a.dtype
    if k == 0 or a.data.size == 0:
        # no reflection (the identity) or an empty result: as torch, the output is in the graph
        # but sends no gradient (input.grad and tau.grad stay None)
        eye = xp.ascontiguousarray(xp.broadcast_to(xp.eye(m, n, dtype=dt), a.shape))
        return Tensor._make(eye, (a, tau), lambda g: None, "householder_product", saves=())
    # as LAPACK's org2r: H_i touches rows and columns i: only, so the product is grown from the
    # trailing block Q_i+1 = (H_i+1 ... H_k E)[i+1:, i+1:], r x c: with v_i = (1, l) (l the
    # r entries of input below the diagonal in column i) and w = l^T Q_i+1,
    #   Q_i = [[1 - tau_i, -tau_i w], [-tau_i l, Q_i+1 - tau_i l w]]
    # -- the unit column is never multiplied through, so a non-finite l spoils what it touches
    # only, as in torch
    q = Tensor(
        xp.ascontiguousarray(
            xp.broadcast_to(xp.eye(m - k, n - k, dtype=dt), (*batch, m - k, n - k))
        )
    )
    for i in reversed(range(k)):
        t = tau[..., i : i + 1].unsqueeze(-1)  # (*, 1, 1)
        low = a[..., i + 1 :, i : i + 1]  # l, (*, r, 1)
        first = cat([1.0 - t, -(t * low)], dim=-2)
        if q.shape[-1] == 0:  # the last column: nothing to the right
            q = first
            continue
        w = low.mT.matmul(q)  # (*, 1, c)
        rest = cat([-(t * w), q - (low * t).matmul(w)], dim=-2)
        q = cat([first, rest], dim=-1)
    return q


# ---- solve_triangular -------------------------------------------------------------------------


def _triangle(a: Any, upper: bool, unit: bool) -> Any:
    """The triangle of a batch (*, n, n) that a triangular solve reads: the other one zero (by
    a select: an inf or NaN there does not leak in), the diagonal 1 when unit."""
    xp = get_array_module(a)
    n = a.shape[-1]
    rows, cols = xp.arange(n)[:, None], xp.arange(n)[None, :]
    keep = (
        (cols > rows if unit else cols >= rows)
        if upper
        else (cols < rows if unit else cols <= rows)
    )
    t = xp.where(keep, a, xp.zeros((), a.dtype))
    return xp.where(rows == cols, xp.ones((), a.dtype), t) if unit else t


def _back_substitute(t: Any, b: Any, unit: bool) -> Any:
    """X with T X = B for upper triangular T (*, n, n) (the triangle already taken) and B
    (*, n, k), row by row from the last, vectorized over the batch and the columns: as BLAS's
    trsm, a zero on the diagonal gives inf / NaN (torch's result), it does not raise."""
    xp = get_array_module(t)
    n = t.shape[-1]
    x = xp.empty(b.shape, t.dtype)
    with _fp_quiet(xp):
        for i in range(n - 1, -1, -1):
            r = b[..., i, :]
            if i + 1 < n:
                r = r - (t[..., i : i + 1, i + 1 :] @ x[..., i + 1 :, :])[..., 0, :]
            x[..., i, :] = r if unit else r / t[..., i, i, None]
    return x


def _trtrs(a: Any, b: Any, upper: bool, unit: bool) -> Any:
    """X with A X = B for a (*, n, n) and b (*, n, k) of one batch shape (numpy): LAPACK's
    trtrs per matrix through scipy (torch's trsm: reads the triangle only), None when scipy
    does not import. A matrix with a zero on the diagonal (trtrs' info > 0): substitution."""
    lapack = _scipy_lapack()
    if lapack is None:
        return None
    trtrs = lapack.get_lapack_funcs("trtrs", dtype=a.dtype)
    n, k = a.shape[-1], b.shape[-1]
    flat_a, flat_b = a.reshape(-1, n, n), b.reshape(-1, n, k)
    out = np.empty(flat_b.shape, a.dtype)
    for i in range(flat_a.shape[0]):
        # a C-ordered A read as Fortran's is A^T, the other triangle: solve (A^T)^T X = B
        x, info = trtrs(flat_a[i].T, flat_b[i], lower=int(upper), trans=1, unitdiag=int(unit))
        if info > 0:
            x = _back_substitute(*_upper_form(flat_a[i], flat_b[i], upper, unit), unit)
            x = x if upper else x[::-1]
        elif info < 0:  # pragma: no cover  (an argument LAPACK rejects: a bug here)
            raise RuntimeError(f"linalg.solve_triangular: trtrs: illegal argument {-info}")
        out[i] = x
    return out.reshape(b.shape)


def _upper_form(a: Any, b: Any, upper: bool, unit: bool) -> tuple[Any, Any]:
    """T X' = B' with T upper triangular: A's triangle, a lower one reversed in both axes
    (J L J is upper, J the reversal) with B's rows reversed (X = J X')."""
    t = _triangle(a, upper, unit)
    if upper:
        return t, b
    return t[..., ::-1, ::-1], b[..., ::-1, :]


def _tri_solve(a: Any, b: Any, upper: bool, left: bool, unit: bool) -> Any:
    """The solution X (*batch, n, k) of A X = B (left) or X A = B of a triangular batch
    (*, n, n) and b (*, n, k) / (*, k, n), the batch dimensions broadcast. Reads only A's
    triangle (not its diagonal when unit). LAPACK's trtrs (scipy) on numpy arrays, else the
    batched solve of the triangle (an upper one: Gaussian elimination then takes no pivot and
    does the back substitution a triangular solve does) or, for a singular or non-finite
    triangle, substitution (inf / NaN as torch's, no error)."""
    if not left:  # X A = B  <=>  A^T X^T = B^T, A^T of the other triangle
        return _tri_solve(a.swapaxes(-1, -2), b.swapaxes(-1, -2), not upper, True, unit).swapaxes(
            -1, -2
        )
    xp = get_array_module(a)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    n, k = a.shape[-1], b.shape[-1]
    shape = (*batch, n, k)
    if 0 in shape:
        return xp.zeros(shape, a.dtype)
    if all(s == 1 for s in a.shape[:-2]) and len(batch) and math.prod(batch) > 1:
        # one A for every B: one solve with the batch as columns, (n, batch * k)
        bb = xp.moveaxis(xp.broadcast_to(b, shape).reshape(-1, n, k), 0, -2).reshape(n, -1)
        x = _tri_solve(a.reshape(n, n), bb, upper, True, unit)
        return xp.moveaxis(x.reshape(n, -1, k), -2, 0).reshape(shape)
    a = xp.broadcast_to(a, (*batch, n, n))
    b = xp.broadcast_to(b, shape)
    if xp is np and (n > _SMALL_N or math.prod(batch) < _MANY):  # many tiny ones: batched
        x = _trtrs(a, b, upper, unit)
        if x is not None:
            return x
    t, bu = _upper_form(a, b, upper, unit)
    diag = xp.diagonal(t, axis1=-2, axis2=-1)
    if bool(xp.isfinite(t).all()) and bool((diag != 0).all()):
        x = _blocked_solve(t, bu)
    else:
        x = _back_substitute(t, bu, unit)
    return x if upper else x[..., ::-1, :]


_SMALL_N, _MANY = 8, 32  # a batch of >= _MANY matrices n x n, n <= _SMALL_N: one batched solve
_BLOCK = 64


def _blocked_solve(t: Any, b: Any) -> Any:
    """X with T X = B, T (*, n, n) upper triangular with no zero on the diagonal: blocked back
    substitution (as BLAS's trsm), each diagonal block by the batched solver (Gaussian
    elimination of an upper triangular block takes no pivot: it is back substitution), the
    rest a matrix product per block row, so about n^2 k flops, not the LU's n^3 / 3."""
    xp = get_array_module(t)
    n = t.shape[-1]
    if n <= _BLOCK:
        return xp.linalg.solve(t, b)
    x = xp.empty(b.shape, t.dtype)
    for start in range((n - 1) // _BLOCK * _BLOCK, -1, -_BLOCK):
        stop = min(start + _BLOCK, n)
        r = b[..., start:stop, :]
        if stop < n:
            r = r - t[..., start:stop, stop:] @ x[..., stop:, :]
        x[..., start:stop, :] = xp.linalg.solve(t[..., start:stop, start:stop], r)
    return x


def _tri_mask(g: Any, upper: bool, unit: bool) -> Any:
    """A triangular solve's gradient for A: g's triangle, without the diagonal when unit."""
    xp = get_array_module(g)
    d = int(unit)
    return xp.triu(g, d) if upper else xp.tril(g, -d)


class _LinalgSolveTriangular(Function):
    @staticmethod
    def forward(
        ctx: Any, a: Any, b: Any, upper: bool, left: bool, unit: bool, cached: Any = None
    ) -> Any:
        x = cached
        if x is None:
            x = _tri_solve(a, b, upper, left, unit)
            x = get_array_module(x).ascontiguousarray(x)
        ctx.save_for_backward(a, x)
        ctx.flags = (upper, left, unit)
        ctx.shapes = (a.shape, b.shape)
        return x

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        # torch's linalg_solve_triangular_backward: gB = A^-T g (left; g A^-T right),
        # gA = -gB X^T (left; -X^T gB right), A's triangle (no diagonal when unitriangular)
        a, x = ctx.saved_tensors
        upper, left, unit = ctx.flags
        a_shape, b_shape = ctx.shapes
        gb = _tri_solve(a.swapaxes(-1, -2), g, not upper, left, unit)
        ga = None
        if ctx.needs_input_grad[0]:
            xt = x.swapaxes(-1, -2)
            ga = _sum_to(_tri_mask(-(gb @ xt) if left else -(xt @ gb), upper, unit), a_shape)
        gb = _sum_to(gb, b_shape) if ctx.needs_input_grad[1] else None
        return ga, gb, None, None, None


def _solve_triangular(
    a: Tensor, b: Tensor, upper: bool, left: bool, unit: bool, cached: Any = None
) -> Tensor:
    """The solve as a node with a double backward; cached: its solution already computed."""
    out = _LinalgSolveTriangular.apply(a, b, upper, left, unit, cached=cached)
    return _with_dbackward(
        out, partial(_solve_triangular_dbackward, a, b, upper, left, unit, out.data)
    )


def _solve_triangular_dbackward(
    a: Tensor, b: Tensor, upper: bool, left: bool, unit: bool, x: Any, g: Tensor
) -> tuple[Any, ...]:
    # the backward above as Tensor ops: gB a solve node (differentiable in A and g), X a node
    # of this solve re-made from the saved solution, so every order follows by recursion
    gb = _solve_triangular(a.mT, g, not upper, left, unit)
    ga = None
    if a.requires_grad:
        xt = _solve_triangular(a, b, upper, left, unit, x).mT
        prod = -(gb @ xt) if left else -(xt @ gb)
        ga = Tensor._sum_to(
            prod.triu(int(unit)) if upper else prod.tril(-int(unit)), tuple(a.shape)
        )
    gbo = Tensor._sum_to(gb, tuple(b.shape)) if b.requires_grad else None
    return ga, gbo


def _bool_arg(v: Any, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(
            f"linalg_solve_triangular(): argument '{name}' must be bool, not {type(v).__name__}"
        )
    return bool(v)


def solve_triangular(
    A: Any,  # noqa: N803  (torch's argument names)
    B: Any,  # noqa: N803
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
) -> Tensor:
    """torch.linalg.solve_triangular: X with A X = B (left) or X A = B (left=False) for a
    batch A (*, n, n) of upper (lower) triangular matrices and B (*, n, k) ((*, k, n) when
    not left), the batch dimensions broadcast. Only A's triangle is read, and not its diagonal
    when unitriangular (taken as ones). A zero on the diagonal gives inf / NaN, as torch's (no
    error). The result has A's dtype (B is cast to it, as torch); gradients for A (its
    triangle) and B, and every higher order (create_graph=True). RuntimeError (torch's) for
    shapes that do not fit, NotImplementedError for an A that is not float32 / float64."""
    op = "linalg.solve_triangular"
    a = _tensor(A, op, "A")
    b = _tensor(B, op, "B")
    upper = _bool_arg(upper, "upper")
    left = _bool_arg(left, "left")
    unit = _bool_arg(unitriangular, "unitriangular")
    for t, name in ((a, "A"), (b, "B")):
        if t.ndim < 2:
            raise _ShapeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    n = a.shape[-1]
    if a.shape[-2] != n:
        raise _ShapeError(
            f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by {n} "
            "matrices"
        )
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise _ShapeError(
            f"{op}: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {b.shape[-2]}x{b.shape[-1]})"
        )
    _check_batches(tuple(b.shape[:-2]), tuple(a.shape[:-2]))
    if a.dtype not in _FLOAT_DTYPES:
        raise NotImplementedError(f'{op}: "triangular_solve_cpu" not implemented for {a.dtype}')
    if b.dtype != a.dtype:
        b = b.to(a.dtype)  # torch: the result has A's dtype
    return _solve_triangular(a, b, upper, left, unit)


def _check_batches(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    """torch's error for batch shapes (B's, A's) that do not broadcast."""
    m = max(len(sa), len(sb))
    pa, pb = (1,) * (m - len(sa)) + sa, (1,) * (m - len(sb)) + sb
    for d, (x, y) in enumerate(zip(pa, pb)):
        if x != y and x != 1 and y != 1:
            raise _ShapeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {d}"
            )


# decompositions, solvers and norms (torch.linalg's), with gradients: deltagrad._linalg_more
from ._linalg_more import (  # noqa: E402
    LinAlgError,
    _fp_quiet,
    _scipy_lapack,
    _sum_to,
    _with_dbackward,
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matrix_norm,
    matrix_rank,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    svd,
    svdvals,
    vector_norm,
)

__all__ += [
    "LinAlgError",
    "det",
    "slogdet",
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
