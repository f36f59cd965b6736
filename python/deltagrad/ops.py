"""Stateless array ops backed by the compiled kernels.

numpy arrays in -> numpy arrays out (CPU kernels); cupy arrays in -> cupy arrays out (CUDA
kernels). Every op validates its arguments in the binding and raises TypeError / ValueError
naming the argument; the GIL is released while a kernel runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _cpu
from ._backend import backend_for, is_cuda_array

__all__ = ["matmul"]


def _operand(x: Any, name: str) -> Any:
    """An input the kernels can read through its strides: device arrays pass through; other
    array-likes become numpy arrays; views the kernels cannot address (byte strides that are not
    a multiple of the item size, misaligned data) are copied explicitly."""
    if is_cuda_array(x):
        return x
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype in (np.float32, np.float64) and (
        not x.flags.aligned or any(s % x.itemsize for s in x.strides)
    ):
        x = np.array(x, order="C")
    return x


def matmul(
    a: Any,
    b: Any,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    out: Any = None,
) -> Any:
    """C = alpha * op(a) @ op(b) + beta * C, where op(x) is x or x.T and C is ``out``.

    a, b: 2-D float32 or float64 arrays of one dtype, any strides. out: None (a new array;
    beta must then be 0) or a writable array of shape (m, n) and the same dtype, which may
    share memory with a or b. With beta == 0 the values in out are not read.
    """
    if type(a) is np.ndarray and type(b) is np.ndarray and (out is None or type(out) is np.ndarray):
        # the common case, straight to the CPU kernel (which copies misaligned views itself)
        return _cpu.matmul(a, b, trans_a, trans_b, alpha, beta, out)  # positional: faster
    a = _operand(a, "a")
    b = _operand(b, "b")
    backend = backend_for(a, b, out)
    return backend.matmul(
        a, b, trans_a=bool(trans_a), trans_b=bool(trans_b), alpha=float(alpha),
        beta=float(beta), out=out,
    )
