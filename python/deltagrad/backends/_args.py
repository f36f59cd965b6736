"""The argument helpers dg.ops and every backend share (a leaf module: it imports numpy only).

Each helper checks one kind of argument and raises TypeError / ValueError with the message
"<op>: <argument>: expected ..., got ...". The CPU binding (csrc/bindings) stays the authority
for what reaches the CPU kernels; these helpers serve the Python side: dg.ops before it picks a
backend, and the CUDA / SIMT backends (backends.cuda.KernelOps) before they launch a kernel.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

# A copy of an input view is explicit and bounded: a view whose elements overlap (np.broadcast_to,
# as_strided windows) can stand for far more bytes than it occupies, and copying a large one
# would silently allocate and touch gigabytes. Above this size such a view is a ValueError.
MAX_VIEW_COPY_BYTES = 1 << 30

# matmul's precision name -> 1 when float32 GPU products may use TF32, 0 when not, None: the
# global flag (backends.cuda.set_allow_tf32). torch's "highest" / "high" are aliases.
MATMUL_PRECISIONS = {
    None: None,
    "fp32": 0,
    "float32": 0,
    "highest": 0,
    "ieee": 0,
    "tf32": 1,
    "high": 1,
}


def precision(v: Any, op: str) -> int | None:
    """matmul's precision argument as its code (MATMUL_PRECISIONS); ValueError otherwise."""
    if not isinstance(v, (str, type(None))) or v not in MATMUL_PRECISIONS:
        raise ValueError(
            f"{op}: precision: expected None (the global set_allow_tf32 flag) or one of "
            f"{sorted(k for k in MATMUL_PRECISIONS if k)}, got {v!r}"
        )
    return MATMUL_PRECISIONS[v]


def is_device_array(x: Any) -> bool:
    """True for device arrays (cupy and anything with __cuda_array_interface__)."""
    return hasattr(x, "__cuda_array_interface__")


def _valid_interface(ai: Any) -> bool:
    """True for a dict shaped as the CUDA Array Interface asks (version 3): shape a tuple of
    ints >= 0, typestr a str, data a (pointer, read-only) pair (or None), version an int."""
    if not isinstance(ai, dict):
        return False
    shape, data = ai.get("shape"), ai.get("data", 0)
    return (
        isinstance(shape, tuple)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        and isinstance(ai.get("typestr"), str)
        and (data is None or isinstance(data, tuple) and len(data) == 2)
        and isinstance(ai.get("version"), int)
    )


def check_device_array(x: Any, op: str, name: str) -> Any:
    """x (an is_device_array object) when its __cuda_array_interface__ describes an array
    (cupy's are taken as they are); else a TypeError naming op and the argument, where the
    object would otherwise reach cupy (or its absence) and fail there naming neither."""
    if type(x).__module__.partition(".")[0] == "cupy":
        return x
    try:
        ai = x.__cuda_array_interface__
    except Exception as e:  # a property that raises: no array either
        raise TypeError(
            f"{op}: {name}: expected an array, got {type(x).__name__} whose "
            f"__cuda_array_interface__ could not be read ({type(e).__name__}: {e})"
        ) from e
    if not _valid_interface(ai):
        raise TypeError(
            f"{op}: {name}: expected an array, got {type(x).__name__} whose "
            f"__cuda_array_interface__ is not a CUDA array interface (a dict with shape, "
            f"typestr, data and version): {repr(ai)[:80]}"
        )
    return x


def has_internal_overlap(x: Any) -> bool:
    """True when two index tuples of x may address the same bytes (conservative, as the
    binding's check: the dimensions sorted by |stride| must each step past the smaller ones)."""
    if x.size == 0:
        return False
    span = x.itemsize
    for stride, n in sorted((abs(s), n) for s, n in zip(x.strides, x.shape) if n > 1):
        if stride < span:
            return True
        span += stride * (n - 1)
    return False


def check_copy(x: Any, what: str) -> None:
    """Refuse to copy a broadcast view above MAX_VIEW_COPY_BYTES (numpy or cupy x); `what`
    names the argument ("<op>: <name>", or "<name>" inside a backend op that adds the op)."""
    if x.nbytes > MAX_VIEW_COPY_BYTES and has_internal_overlap(x):
        raise ValueError(
            f"{what}: expected an array this op can read in place, got a broadcast "
            f"(overlapping-stride) view of shape {tuple(x.shape)} whose copy would take "
            f"{x.nbytes >> 20} MiB; materialize it explicitly if that is intended"
        )


def as_ndarray(x: Any, op: str, name: str) -> np.ndarray:
    """x as a numpy array: lists and scalars are converted; None, strings and other objects
    that do not make a numeric array are a TypeError."""
    if isinstance(x, np.ndarray):
        if isinstance(x, np.ma.MaskedArray) and np.ma.is_masked(x):
            # the kernels read x.data: the mask would be dropped without a word
            raise TypeError(
                f"{op}: {name}: expected an array without masked elements, got a "
                f"numpy.ma.MaskedArray with {int(np.ma.count_masked(x))} masked; pass "
                "x.filled(value) (or x.data to ignore the mask)"
            )
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(
            f"{op}: {name}: expected an array (numpy.ndarray), got "
            f"{type(x).__name__ if x is not None else 'None'}"
        )
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise TypeError(
            f"{op}: {name}: expected an array of float32 or float64 numbers, got "
            f"{type(x).__name__} (converted to dtype {a.dtype})"
        )
    return a


def operand(x: Any, op: str, name: str) -> Any:
    """An input the kernels can read through its strides: device arrays pass through; other
    array-likes become numpy arrays (the binding copies misaligned / byte-swapped views)."""
    if is_device_array(x):
        return check_device_array(x, op, name)
    return as_ndarray(x, op, name)


def dense(x: Any, op: str, name: str) -> Any:
    """An input for the kernels that read memory linearly: a C-contiguous, aligned,
    native-byte-order copy is made explicitly when x is anything else (never read wrongly);
    a broadcast view too large to copy is a ValueError. Device arrays pass through (their
    backend makes the same checks)."""
    if type(x) is np.ndarray:  # the common case first: nothing to do for a dense array
        flags = x.flags
        if flags.c_contiguous and flags.aligned and x.dtype.isnative:
            return x
    elif is_device_array(x):
        return check_device_array(x, op, name)
    x = as_ndarray(x, op, name)
    dt = x.dtype
    if dt.kind == "f" and not dt.isnative:
        check_copy(x, f"{op}: {name}")
        return np.array(x, dtype=dt.newbyteorder("="), order="C")  # 0-d stays 0-d
    if not x.flags.c_contiguous or not x.flags.aligned:
        check_copy(x, f"{op}: {name}")
        x = np.array(x, order="C")  # a real copy (ascontiguousarray keeps a misaligned x)
    return x


def float_input(x: Any, op: str, name: str) -> Any:
    """dense(x) of dtype float32 or float64 (TypeError naming op and argument otherwise), for
    the ops built in Python on other kernels (which would name the kernel instead)."""
    x = dense(x, op, name)
    if not is_device_array(x) and x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name}: expected dtype float32 or float64, got {x.dtype}")
    return x


def real(v: Any, op: str, name: str) -> float:
    """A real-number argument (alpha, lr, param, ...) as a float; TypeError otherwise (a bool
    too: True as a learning rate or a slope is a misplaced flag, not the number 1)."""
    if type(v) is float:
        return v
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v)
    raise TypeError(f"{op}: {name}: expected a real number, got {type(v).__name__} {v!r}")


def flag(v: Any, op: str, name: str) -> bool:
    """A boolean argument (keepdims, trans_a, ceil_mode, need_dx, ...): a bool, a numpy bool
    or an int, as the optimizers' flags; anything else (None, a str, a float, a list) is a
    TypeError where bool() would silently read it as True or False."""
    if v is True or v is False:
        return v
    if isinstance(v, (int, np.integer, np.bool_)):
        return bool(v)
    raise TypeError(f"{op}: {name}: expected a bool, got {type(v).__name__} {v!r}")


def name(v: Any, op: str, arg: str) -> str:
    """A name argument (act, reduction): a str, or TypeError (the value is checked by
    choice() or by the binding)."""
    if isinstance(v, str):
        return v
    raise TypeError(f"{op}: {arg}: expected a str, got {type(v).__name__} {v!r}")


def choice(v: Any, choices: tuple[str, ...], op: str, arg: str) -> str:
    """A name argument that must be one of `choices` (TypeError / ValueError otherwise)."""
    v = name(v, op, arg)
    if v not in choices:
        names = [repr(c) for c in choices]
        expected = (
            f"one of {', '.join(names)}"
            if len(names) > 3
            else " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        )
        raise ValueError(f"{op}: {arg}: expected {expected}, got {v!r}")
    return v


def labels(target: Any, op: str) -> Any:
    """Class indices as int64 (other integer dtypes are converted explicitly); floats and
    bools are a TypeError (a float label is almost always a bug upstream)."""
    if is_device_array(target):
        return target
    if target is None or isinstance(target, (str, bytes)):
        raise TypeError(
            f"{op}: target: expected an integer array of class indices, got "
            f"{type(target).__name__ if target is not None else 'None'}"
        )
    if isinstance(target, np.ndarray):
        t = as_ndarray(target, op, "target")  # (refuses a masked array with masked labels)
    else:
        t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target: expected an integer array of class indices, got dtype {t.dtype}"
        )
    if t.dtype != np.int64 or not t.flags.c_contiguous or not t.flags.aligned:
        check_copy(t, f"{op}: target")  # a broadcast view of gigabytes: refused, not copied
    if t.dtype != np.int64:
        if t.dtype.kind == "u" and t.size and int(t.max()) > np.iinfo(np.int64).max:
            raise ValueError(
                f"{op}: target: expected class indices in [0, classes), got "
                f"{int(t.max())}, which is out of range"
            )
        t = t.astype(np.int64)
    if not t.flags.c_contiguous or not t.flags.aligned:
        t = np.array(t, order="C")  # not ascontiguousarray: a 0-d target must stay 0-d
    return t


def norm_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """The axes `axis` names (None: all; an int or a sequence of ints, negative counting from
    the end), sorted; an axis out of range or repeated is a ValueError, as in numpy."""
    if axis is None:
        return tuple(range(ndim))
    bad = TypeError(f"{op}: axis: expected an int, a tuple of ints or None, got {axis!r}")
    if isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    elif isinstance(axis, (int, np.integer)):
        axes = (axis,)
    else:
        raise bad
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)):
            raise bad
        try:
            a = operator.index(a)
        except TypeError:
            raise bad from None
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{op}: axis: {a} is out of bounds for an array of dimension {ndim} "
                f"(out of range: expected an axis in [{-ndim}, {ndim}), got {a})"
            )
        a %= ndim
        if a in out:
            raise ValueError(f"{op}: axis: {a} is repeated")
        out.append(a)
    return tuple(sorted(out))


def shape_arg(shape: Any, op: str) -> tuple[int, ...]:
    """A shape argument: an int or a sequence of non-negative ints, as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"{op}: shape: expected a tuple of ints, got {type(shape).__name__} {shape!r}"
        )
    out = []
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: shape: expected a tuple of ints, got {shape!r}")
        if s < 0:
            raise ValueError(f"{op}: shape: expected non-negative dimensions, got {shape!r}")
        out.append(int(s))
    return tuple(out)


def step(v: Any, op: str) -> int:
    """Adam's step count: an int in [1, 2**63) (an integral float is accepted)."""
    if type(v) is int and 1 <= v < 2**63:
        return v
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: step: expected an int >= 1, got {type(v).__name__} {v!r}")
    if not 1 <= v < 2**63:
        raise ValueError(f"{op}: step: expected step >= 1 and < 2**63 (it counts from 1), got {v}")
    return int(v)


def hyper(v: float, op: str, arg: str, expected: str, hi: float = math.inf) -> None:
    """torch.optim's checks of a hyper-parameter: v >= 0 (and v < hi when hi is finite);
    NaN is rejected too."""
    if not (v >= 0.0 and (v < hi or hi == math.inf)):
        raise ValueError(f"{op}: {arg}: expected {expected}, got {v}")
