"""Matrix products with torch's names and semantics: dg.matmul and dg.bmm.

Both are ``Tensor.__matmul__`` (the ``@`` operator): one strided-batched GEMM forward and
backward (dg.ops.matmul), broadcast batch dimensions read in place through zero strides.
"""

from __future__ import annotations

from typing import Any

from .tensor import _FLOAT_DTYPES, Tensor, _ShapeError, cat, get_array_module

__all__ = ["matmul", "bmm", "householder_product"]


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


# decompositions, solvers and norms (torch.linalg's), with gradients: deltagrad._linalg_more
from ._linalg_more import (  # noqa: E402
    LinAlgError,
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
