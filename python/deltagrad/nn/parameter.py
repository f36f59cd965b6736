"""Parameter: the leaf Tensor a Module registers as something to train."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends._args import is_device_array
from ..tensor import Tensor, get_array_module

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"]


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


class Buffer(Tensor):
    """A Tensor that, assigned as a Module attribute, registers as a buffer (persistent: in
    state_dict), as torch.nn.Buffer: `self.running = nn.Buffer(dg.zeros(3))` is
    `self.register_buffer("running", dg.zeros(3))`. It shares data's array (torch: a detached
    alias); requires_grad is data's."""

    __slots__ = ("persistent",)

    def __init__(self, data: Any = None, *, persistent: bool = True) -> None:
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        if not isinstance(persistent, (bool, np.bool_)):
            raise TypeError(f"Buffer: persistent: expected a bool, got {persistent!r}")
        if isinstance(data, Tensor):
            arr, rg = data.data, data.requires_grad
        elif isinstance(data, np.ndarray) or is_device_array(data):
            arr, rg = data, False
        else:
            raise TypeError(f"Buffer: data: expected a Tensor, got {type(data).__name__}")
        super().__init__(arr, requires_grad=rg)
        self.data = arr  # the same array, as torch's detached alias
        self.persistent = bool(persistent)


class _Uninitialized:
    """torch's UninitializedTensorMixin: a placeholder (an empty array of the dtype and device
    to come) until materialize(shape) gives it an array of that shape (zeros; torch's are
    uninitialized memory) and turns it into cls_to_become in place, so modules, optimizers and
    hooks holding it keep the same object."""

    __slots__ = ()
    cls_to_become: type = Tensor

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        from ..backends import to_device

        dt = self.data.dtype if dtype is None else np.dtype(dtype)
        xp = get_array_module(self.data)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        arr = xp.zeros(shape, dtype=dt)
        self.data = arr if device is None else to_device(arr, device)
        self.__class__ = self.cls_to_become  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A Parameter whose shape a lazy module infers at its first forward (torch's)."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(np.zeros(0, dtype=_float_dtype(dtype, "UninitializedParameter")),
                         requires_grad)  # fmt: skip


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape a lazy module infers at its first forward (torch's)."""

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(
            np.zeros(0, dtype=_float_dtype(dtype, "UninitializedBuffer")),
            requires_grad=requires_grad,
        )
