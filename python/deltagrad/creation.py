"""Tensor creation as torch names it (zeros, ones, full, arange, rand, ...) and the dtypes.

The dtypes are numpy dtypes under torch's names (dg.float32 is np.dtype("float32")), so
`t.dtype == dg.float32` and `t.dtype == np.float32` both hold. Every function takes torch's
keywords dtype=, device= ("cpu" / "cuda") and requires_grad=; the float default is float32,
as in torch. The random ones draw from deltagrad's generator (dg.manual_seed), or from the
numpy Generator passed as generator=; on "cuda" they draw on the host and copy, so one seed
gives the same numbers on either device.
"""

from __future__ import annotations

import builtins
import math
import operator
from typing import Any

import numpy as np

from ._functional_spatial import _BadArgument, _check_alloc
from ._random import get_rng
from .backends import canonical_device
from .backends._args import check_device_array, is_device_array
from .tensor import Tensor, _fit_scalar, _KernelDtypeError, _ShapeError, as_dtype

__all__ = [
    "float16",
    "half",
    "float32",
    "float",
    "float64",
    "double",
    "int8",
    "uint8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "randperm",
    "rand_like",
    "randn_like",
    "randint_like",
    "from_numpy",
    "as_tensor",
    "from_dlpack",
    "is_tensor",
    "numel",
    "get_default_dtype",
]

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001  (torch.float is float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001  (torch.int is int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001

_DEFAULT = float32


def get_default_dtype() -> np.dtype:
    """float32, torch's default float dtype (deltagrad's is fixed)."""
    return _DEFAULT


def _size(size: tuple[Any, ...], op: str) -> tuple[builtins.int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for n in size:
        if isinstance(n, (builtins.bool, np.bool_)) or not isinstance(
            n, (builtins.int, np.integer)
        ):
            raise TypeError(
                f"{op}: size: expected a sequence of ints, got {type(n).__name__} {n!r}"
            )
        if n < 0:
            raise _ShapeError(f"{op}: size: negative dimension {n} in {tuple(size)}")
        out.append(builtins.int(n))
    return tuple(out)


def _dtype(dtype: Any, op: str, default: np.dtype = _DEFAULT) -> np.dtype:
    return default if dtype is None else as_dtype(dtype, op)


def _make(arr: np.ndarray, device: Any, requires_grad: Any, op: str) -> Tensor:
    device = canonical_device(device)
    if device is not None and device not in ("cpu", "cuda"):
        raise ValueError(f"{op}: device: expected 'cpu' or 'cuda', got {device!r}")
    if requires_grad and arr.dtype.kind != "f":
        raise TypeError(
            f"{op}: requires_grad: only float tensors can require grad, got dtype {arr.dtype}"
        )
    return Tensor(arr, requires_grad=builtins.bool(requires_grad), device=device)


def _generator(generator: Any, op: str) -> np.random.Generator:
    if generator is None:
        return get_rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{op}: generator: expected a numpy.random.Generator (or dg.Generator) or None, got "
            f"{type(generator).__module__}.{type(generator).__name__}"
        )
    return generator


# ---- filled ---------------------------------------------------------------------------------


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: Any = False) -> Tensor:
    shape = _size(size, "zeros")
    return _make(np.zeros(shape, _dtype(dtype, "zeros")), device, requires_grad, "zeros")


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: Any = False) -> Tensor:
    shape = _size(size, "ones")
    return _make(np.ones(shape, _dtype(dtype, "ones")), device, requires_grad, "ones")


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: Any = False) -> Tensor:
    """Uninitialized memory, as torch.empty."""
    shape = _size(size, "empty")
    return _make(np.empty(shape, _dtype(dtype, "empty")), device, requires_grad, "empty")


def _fill_number(value: Any) -> Any:
    """A 0-d tensor fill_value as its number (torch takes one as a Scalar), else value."""
    if isinstance(value, Tensor) and value.ndim == 0:
        return value.item()
    return value


def _fill_dtype(value: Any, op: str) -> np.dtype:
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return _DEFAULT
    raise TypeError(f"{op}: fill_value: expected a number, got {type(value).__name__}")


def full(
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """size filled with fill_value; the dtype follows the value (bool, int64, float32) as
    torch's."""
    shape = _size((size,), "full")
    fill_value = _fill_number(fill_value)
    dt = _fill_dtype(fill_value, "full") if dtype is None else as_dtype(dtype, "full")
    fill = _fit_scalar(fill_value, dt, "full", "fill_value")  # 1e300 as float32 raises, as torch
    return _make(np.full(shape, fill, dt), device, requires_grad, "full")


def _like(t: Any, op: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: input: expected a Tensor, got {type(t).__name__}")
    return t


def _like_make(t: Tensor, arr: np.ndarray, device: Any, requires_grad: Any, op: str) -> Tensor:
    return _make(arr, t.device if device is None else device, requires_grad, op)


def zeros_like(
    input: Any,  # noqa: A002
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "zeros_like")
    arr = np.zeros(t.shape, _dtype(dtype, "zeros_like", t.dtype))
    return _like_make(t, arr, device, requires_grad, "zeros_like")


def ones_like(
    input: Any,  # noqa: A002
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "ones_like")
    arr = np.ones(t.shape, _dtype(dtype, "ones_like", t.dtype))
    return _like_make(t, arr, device, requires_grad, "ones_like")


def empty_like(
    input: Any,  # noqa: A002
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "empty_like")
    arr = np.empty(t.shape, _dtype(dtype, "empty_like", t.dtype))
    return _like_make(t, arr, device, requires_grad, "empty_like")


def full_like(
    input: Any,  # noqa: A002
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "full_like")
    fill_value = _fill_number(fill_value)
    _fill_dtype(fill_value, "full_like")
    dt = _dtype(dtype, "full_like", t.dtype)
    arr = np.full(t.shape, _fit_scalar(fill_value, dt, "full_like", "fill_value"), dt)
    return _like_make(t, arr, device, requires_grad, "full_like")


# ---- ranges ---------------------------------------------------------------------------------


def _number(v: Any, op: str, name: str) -> Any:
    if isinstance(v, Tensor) and v.data.size == 1:
        v = v.data.item()
    if isinstance(v, (builtins.bool, np.bool_)) or not isinstance(
        v, (builtins.int, builtins.float, np.integer, np.floating)
    ):
        raise TypeError(f"{op}: {name}: expected a number, got {type(v).__name__} {v!r}")
    return v


_I64_MAX = 2**63 - 1


def _range_dtype(dt: np.dtype, op: str) -> np.dtype:
    """The dtype torch computes a range of dtype dt in (its acc_type: int64 for the integer
    dtypes, float32 for float16, float64 for float32 / float64); bool has no kernel."""
    if dt.kind == "b":
        raise _KernelDtypeError(f"{op}: dtype: \"{op}_cpu\" not implemented for 'Bool'")
    return int64 if dt.kind in "iu" else float32 if dt.itemsize < 4 else float64


def _range_array(n: builtins.int, dt: np.dtype, op: str) -> np.ndarray:
    """np.arange(n) as float64 (int64 for an integer dtype dt), after torch's check that n
    elements of dt have a byte size int64 holds."""
    if n * dt.itemsize > _I64_MAX:
        raise _BadArgument(f"{op}: Storage size calculation overflowed with sizes=[{n}]")
    _check_alloc((n,), np.float64, op)  # the 8-byte positions, before they are allocated
    return np.arange(n, dtype=np.int64 if dt.kind in "iu" else np.float64)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """[start, end) in steps, as torch.arange: int64 when every bound is an int, else
    float32 (or dtype). As torch: a zero or NaN step, a non-finite bound, a step of the wrong
    sign, a length beyond int64 are RuntimeErrors (also ValueErrors, as deltagrad's were);
    the length is ceil((end - start) / step) in double, or for int64 exact from the bounds
    truncated to int64; the values are start + i * step in int64 (an integer dtype, which
    then wraps as a C cast) or double, rounded to dtype (1e300 in float32 is inf, as torch).
    Deliberate difference: an int64 range whose span overflows int64 (arange(-2**63,
    2**63 - 1, 2**62)) has its exact length here; torch's int64 arithmetic wraps there."""
    if end is None:
        start, end = 0, start
    args = ((start, "start"), (end, "end"), (step, "step"))
    start, end, step = (_number(v, "arange", n) for v, n in args)
    args = ((start, "start"), (end, "end"), (step, "step"))
    all_int = all(isinstance(v, (builtins.int, np.integer)) for v in (start, end, step))
    dt = _dtype(dtype, "arange", int64 if all_int else _DEFAULT)
    acc = _range_dtype(dt, "arange")
    ds, de, dst = (builtins.float(_fit_scalar(v, float64, "arange", n)) for v, n in args)
    if not (dst > 0 or dst < 0):
        raise _BadArgument(f"arange: step: must be nonzero, got {step}")
    if not (math.isfinite(ds) and math.isfinite(de)):
        raise _BadArgument(f"arange: unsupported range: {start} -> {end}")
    if not ((dst > 0 and de >= ds) or (dst < 0 and de <= ds)):
        raise _BadArgument(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    xs = _fit_scalar(start, acc, "arange", "start")
    if dt == int64:  # exact in Python ints: -((start - end) // step) is ceil((end - start) / step)
        xe = builtins.int(_fit_scalar(end, acc, "arange", "end"))
    xst = _fit_scalar(step, acc, "arange", "step")
    if dt == int64:
        if xst == 0:
            raise _BadArgument(f"arange: step: must be nonzero, got {step} (0 as int64)")
        size: Any = -((builtins.int(xs) - xe) // builtins.int(xst))
    else:  # in double, from the arguments themselves (not truncated to an integer dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            size = np.ceil((np.float64(de) - ds) / dst)
    if not 0 <= size <= builtins.float(_I64_MAX):
        raise _BadArgument(f"arange: invalid size, possible overflow? (got {size} elements)")
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as torch
        arr = (xs + _range_array(builtins.int(size), acc, "arange") * xst).astype(dt)
    return _make(arr, device, requires_grad, "arange")


def linspace(
    start: Any,
    end: Any,
    steps: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """steps evenly spaced values from start to end inclusive, as torch.linspace: start and
    end converted (checked) to dtype, step = (end - start) / (steps - 1) in dtype (float64 for
    an integer dtype), the first half start + i * step and the second end - (steps - 1 - i) *
    step, truncated to an integer dtype. Hence torch's NaN / inf where end - start overflows
    (linspace(-3e38, 3e38, 5) in float32), and NaN everywhere for a NaN or infinite bound."""
    start, end = _number(start, "linspace", "start"), _number(end, "linspace", "end")
    if isinstance(steps, (builtins.bool, np.bool_)) or not isinstance(
        steps, (builtins.int, np.integer)
    ):
        raise TypeError(f"linspace: steps: expected an int, got {type(steps).__name__}")
    if steps < 0:
        raise _BadArgument(f"linspace: steps: number of steps must be non-negative, got {steps}")
    dt = _dtype(dtype, "linspace")
    _range_dtype(dt, "linspace")
    n = builtins.int(steps)
    if n <= 1:  # torch fills with start: end is not converted
        arr = np.full(n, _fit_scalar(start, dt, "linspace", "start") if n else 0, dt)
        return _make(arr, device, requires_grad, "linspace")
    xs, xe = _fit_scalar(start, dt, "linspace", "start"), _fit_scalar(end, dt, "linspace", "end")
    st = dt if dt.kind == "f" else float64
    with np.errstate(over="ignore", invalid="ignore"):
        step = (st.type(xe) - st.type(xs)) / st.type(n - 1)
        i = _range_array(n, dt, "linspace").astype(st)
        half = n // 2
        y = np.where(i < half, st.type(xs) + step * i, st.type(xe) - step * (st.type(n - 1) - i))
    return _make(y.astype(dt), device, requires_grad, "linspace")


def eye(
    n: Any,
    m: Any = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """The n x m identity (m defaults to n)."""
    n, m = _size((n,), "eye")[0], _size((n if m is None else m,), "eye")[0]
    return _make(np.eye(n, m, dtype=_dtype(dtype, "eye")), device, requires_grad, "eye")


# ---- random ---------------------------------------------------------------------------------


def _float_dtype(dtype: Any, op: str, default: np.dtype = _DEFAULT) -> np.dtype:
    dt = _dtype(dtype, op, default)
    if dt.kind != "f":
        raise TypeError(f"{op}: dtype: expected a float dtype, got {dt}")
    return dt


def _draw(kind: str, shape: Any, dt: np.dtype, rng: np.random.Generator) -> np.ndarray:
    draw_dt = dt if dt in (float32, float64) else float64
    if kind == "rand":
        arr = rng.random(shape, dtype=draw_dt)
    else:
        arr = rng.standard_normal(shape, dtype=draw_dt)
    return arr.astype(dt, copy=False)


def rand(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """Uniform on [0, 1)."""
    shape = _size(size, "rand")
    dt = _float_dtype(dtype, "rand")
    arr = _draw("rand", shape, dt, _generator(generator, "rand"))
    return _make(arr, device, requires_grad, "rand")


def randn(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """Standard normal."""
    shape = _size(size, "randn")
    dt = _float_dtype(dtype, "randn")
    arr = _draw("randn", shape, dt, _generator(generator, "randn"))
    return _make(arr, device, requires_grad, "randn")


def _int_arg(v: Any, op: str, name: str) -> builtins.int:
    if isinstance(v, (builtins.bool, np.bool_)) or not isinstance(v, (builtins.int, np.integer)):
        raise TypeError(f"{op}: {name}: expected an int, got {type(v).__name__} {v!r}")
    return builtins.int(v)


def _randint(low: Any, high: Any, shape: Any, generator: Any, dtype: Any, op: str) -> np.ndarray:
    low, high = _int_arg(low, op, "low"), _int_arg(high, op, "high")
    if high <= low:
        raise ValueError(f"{op}: high: expected high > low, got low={low}, high={high}")
    dt = _dtype(dtype, op, int64)
    arr = _generator(generator, op).integers(low, high, size=shape, dtype=np.int64)
    return arr.astype(dt, copy=False)


def randint(
    *args: Any,
    size: Any = None,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size), as
    torch.randint; int64 unless dtype says otherwise."""
    if size is None:
        if not args:
            raise TypeError("randint: size: missing (randint(high, size) or (low, high, size))")
        *args, size = args
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size: expected a tuple of ints, got {type(size).__name__}")
    shape = _size((size,), "randint")
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError(
            f"randint: expected (high, size) or (low, high, size), got {len(args) + 1} arguments"
        )
    arr = _randint(low, high, shape, generator, dtype, "randint")
    return _make(arr, device, requires_grad, "randint")


# randperm's largest n per float dtype (by itemsize), and torch's words for it in its error
_RANDPERM_FLOAT_MAX = {2: 2**11 + 1, 4: 2**24 + 1, 8: 2**53 + 1}
_RANDPERM_FLOAT_MAX_TEXT = {2: ("Half", "2049"), 4: ("Float", "2^24+1"), 8: ("Double", "2^53+1")}


def randperm(
    n: Any,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """A random permutation of 0 .. n - 1, as torch.randperm (int64 unless dtype says
    otherwise), drawn from deltagrad's generator or `generator`. A dtype too narrow for n - 1
    is a RuntimeError, as torch's."""
    n = _int_arg(n, "randperm", "n")
    if n < 0:
        raise RuntimeError(f"randperm: n: trying to create a tensor with negative dimension {n}")
    dt = _dtype(dtype, "randperm", int64)
    if n and dt.kind in "iu" and n - 1 > np.iinfo(dt).max:
        raise RuntimeError(f"randperm: n: {n - 1} cannot be converted to {dt} without overflow")
    if dt.kind == "f" and n > _RANDPERM_FLOAT_MAX.get(dt.itemsize, n):
        # every integer up to 2**(mantissa bits + 1) is exact; n - 1 past it would round
        name, limit = _RANDPERM_FLOAT_MAX_TEXT[dt.itemsize]
        raise RuntimeError(f"randperm: n: n cannot be greater than {limit} for {name} type.")
    arr = _generator(generator, "randperm").permutation(n).astype(dt, copy=False)
    return _make(arr, device, requires_grad, "randperm")


def rand_like(
    input: Any,  # noqa: A002
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "rand_like")
    dt = _float_dtype(dtype, "rand_like", t.dtype if t.dtype.kind == "f" else _DEFAULT)
    arr = _draw("rand", t.shape, dt, _generator(generator, "rand_like"))
    return _like_make(t, arr, device, requires_grad, "rand_like")


def randn_like(
    input: Any,  # noqa: A002
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    t = _like(input, "randn_like")
    dt = _float_dtype(dtype, "randn_like", t.dtype if t.dtype.kind == "f" else _DEFAULT)
    arr = _draw("randn", t.shape, dt, _generator(generator, "randn_like"))
    return _like_make(t, arr, device, requires_grad, "randn_like")


def randint_like(
    input: Any,  # noqa: A002
    low: Any = 0,
    high: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: Any = False,
) -> Tensor:
    """randint_like(input, high) or randint_like(input, low, high); input's dtype."""
    t = _like(input, "randint_like")
    if high is None:
        low, high = 0, low
    arr = _randint(low, high, t.shape, generator, dtype or t.dtype, "randint_like")
    return _like_make(t, arr, device, requires_grad, "randint_like")


# ---- sharing memory -------------------------------------------------------------------------


def from_numpy(ndarray: Any) -> Tensor:
    """A tensor sharing ndarray's memory (changes show through both), as torch.from_numpy."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(
            f"from_numpy: ndarray: expected a numpy.ndarray, got {type(ndarray).__name__}"
        )
    as_dtype(ndarray.dtype, "from_numpy")
    if not ndarray.dtype.isnative:  # sharing needs this CPU's byte order (torch raises too)
        raise ValueError(
            f"from_numpy: ndarray: has non-native byte order ({ndarray.dtype.str}); share a "
            "native copy (ndarray.astype(ndarray.dtype.newbyteorder('='))) or use dg.tensor"
        )
    return Tensor(ndarray)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """data as a tensor, sharing memory when it already is an array (or Tensor) of that
    dtype and device, as torch.as_tensor; other data is converted (Python floats: float32)."""
    if dtype is not None:
        dtype = as_dtype(dtype, "as_tensor")
    device = canonical_device(device)
    if device is not None and device not in ("cpu", "cuda"):
        raise ValueError(f"as_tensor: device: expected 'cpu' or 'cuda', got {device!r}")
    if isinstance(data, Tensor):
        return data.to(device, dtype) if (device or dtype is not None) else data
    if isinstance(data, np.ndarray) or is_device_array(data):
        if not isinstance(data, np.ndarray):
            check_device_array(data, "as_tensor", "data")
        if dtype is not None and data.dtype != dtype:
            data = data.astype(dtype)
        as_dtype(data.dtype, "as_tensor")
        return Tensor(data, device=device)
    return Tensor(data, dtype=dtype, device=device)


def from_dlpack(ext_tensor: Any) -> Tensor:
    """A tensor sharing the memory of any DLPack producer (torch, cupy, jax, numpy), no copy:
    host memory becomes a numpy array, CUDA memory a cupy array."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    if not hasattr(ext_tensor, "__dlpack__") or not hasattr(ext_tensor, "__dlpack_device__"):
        raise TypeError(
            f"from_dlpack: ext_tensor: expected an object with __dlpack__ and "
            f"__dlpack_device__, got {type(ext_tensor).__name__}"
        )
    kind = operator.index(ext_tensor.__dlpack_device__()[0])
    if kind in (1, 3):  # kDLCPU, kDLCUDAHost
        arr = np.from_dlpack(ext_tensor)
    elif kind == 2:  # kDLCUDA
        import cupy

        arr = cupy.from_dlpack(ext_tensor)
    else:
        raise TypeError(
            f"from_dlpack: ext_tensor: lives on DLPack device type {kind}; deltagrad takes "
            "CPU (1) and CUDA (2) memory"
        )
    as_dtype(arr.dtype, "from_dlpack")
    return Tensor(arr)


def is_tensor(obj: Any) -> builtins.bool:
    return isinstance(obj, Tensor)


def numel(input: Any) -> builtins.int:  # noqa: A002
    """The number of elements of a tensor (or array)."""
    return input.numel() if isinstance(input, Tensor) else builtins.int(np.size(input))
