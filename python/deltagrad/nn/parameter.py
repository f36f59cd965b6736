"""Parameter: the leaf Tensor a Module registers as something to train."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends._args import is_device_array
from ..tensor import Tensor, get_array_module

__all__ = ["Parameter"]


def _float_dtype(dtype: Any, owner: str) -> Any:
    """A module's dtype argument as a NumPy dtype, float32 or float64, else a TypeError naming
    the module (Conv2d, Linear, BatchNorm2d, ...) and the argument. None is the default dtype,
    float32, as in torch (np.dtype(None) would be float64)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{owner}: dtype: expected float32 or float64, got {dt}")
    return dt


class Parameter(Tensor):
    """A leaf Tensor that requires grad (requires_grad=True by default), as torch.nn.Parameter.

    The data is always COPIED into an array the parameter owns: an optimizer step then never
    writes into the caller's array, and two parameters built from one array are not tied
    (torch shares the storage of a Tensor passed in; deltagrad does not). dtype: an optional
    cast (Python numbers and lists become float32, as everywhere in deltagrad)."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True, *, dtype: Any = None) -> None:
        if data is None:
            data = np.zeros(0, dtype=np.float32 if dtype is None else dtype)
        src = data.data if isinstance(data, Tensor) else data
        if isinstance(src, np.ndarray) or is_device_array(src):
            # C order, as dg.tensor: Parameter(W.T) of a ported (in, out) kernel is a Fortran
            # array, which the optimizers' fused updates refused
            arr = get_array_module(src).array(src, dtype=dtype, copy=True, order="C")
        else:
            arr = Tensor(src, dtype=dtype).data  # a fresh array (numbers, lists)
            if not arr.flags.owndata:
                arr = arr.copy()
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"Parameter: data: only float32 / float64 data can require grad, got dtype "
                f"{arr.dtype}"
            )
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
