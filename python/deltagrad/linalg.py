"""Matrix products with torch's names and semantics: dg.matmul and dg.bmm.

Both are ``Tensor.__matmul__`` (the ``@`` operator): one strided-batched GEMM forward and
backward (dg.ops.matmul), broadcast batch dimensions read in place through zero strides.
"""

from __future__ import annotations

from typing import Any

from .tensor import Tensor, _ShapeError

__all__ = ["matmul", "bmm"]


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
