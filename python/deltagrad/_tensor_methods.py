"""torch.Tensor methods deltagrad lacked (round 38): predicates, comparison aliases, more
elementwise / matrix math, statistics, bitwise ops and the linalg methods.

Each is a plain function set on Tensor at import (deltagrad._tensor_functions imports this
module, then builds the function forms dg.copysign, dg.quantile, ... from the same methods).
The differentiable ones are built from differentiable Tensor ops (where, gather, sort, norm,
matmul, ...), so their gradients -- and higher-order gradients where those ops have them -- come
for free and match torch's composite formulas. scatter_reduce (and index_reduce through it)
has a hand-written backward, torch's formula term by term, on arrays for a plain backward and
from Tensor ops for create_graph=True (so torch's second derivatives too). The rest
(bitwise, counting, random draws, frexp's exponent) are outside any graph, as torch defines
no gradient for them.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import namedtuple
from typing import Any

import numpy as np

from . import _linalg_more as _la
from . import _tensor_math as _tm
from . import creation as _creation
from . import ops as _ops
from ._cpu import IndexRangeError
from .tensor import (
    _NO_BOOL_HINT,
    Tensor,
    _dim,
    _index_backward,
    _index_range,
    _inplace_method,
    _int_tensor_arg,
    _kernel_dtype_error,
    _no_graph,
    _promote,
    _ShapeError,
    cat,
    get_array_module,
    stack,
    where,
)

_FrexpResult = namedtuple("frexp", ["mantissa", "exponent"])  # torch.return_types.frexp
_NanmedianResult = namedtuple("nanmedian", ["values", "indices"])
_QRResult = namedtuple("qr", ["Q", "R"])
_SVDResult = namedtuple("svd", ["U", "S", "V"])
_SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
_TriangularSolveResult = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])

_METHODS: dict[str, Any] = {}


class _DtypeError(RuntimeError, TypeError):
    """A wrong dtype: torch's RuntimeError, and a TypeError as deltagrad's dtype errors."""


_PROPERTIES: dict[str, Any] = {}


def _method(fn: Any) -> Any:
    _METHODS[fn.__name__] = fn
    return fn


def _property(fn: Any) -> Any:
    _PROPERTIES[fn.__name__] = property(fn, doc=fn.__doc__)
    return fn


def _tensor_arg(x: Any, op: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _float(t: Tensor) -> Tensor:
    """t, or t as float32 when it holds bools / ints (torch's float ops on int tensors)."""
    return t if t.data.dtype.kind == "f" else t.to(np.float32)


def _xp(t: Tensor) -> Any:
    return get_array_module(t.data)


# ---- predicates and storage info --------------------------------------------------------


@_method
def is_floating_point(self: Tensor) -> bool:
    """True for a float dtype, as torch.is_floating_point."""
    return self.data.dtype.kind == "f"


@_method
def is_complex(self: Tensor) -> bool:
    """False: deltagrad has no complex dtypes."""
    return False


@_method
def is_signed(self: Tensor) -> bool:
    """True for signed int and float dtypes (bool and uint8 are unsigned), as torch."""
    return self.data.dtype.kind in "if"


@_property
def is_cuda(self: Tensor) -> bool:
    """True when the tensor lives on a GPU."""
    return self.device.type == "cuda"


@_property
def is_cpu(self: Tensor) -> bool:
    """True when the tensor lives on the CPU."""
    return self.device.type == "cpu"


@_method
def is_nonzero(self: Tensor) -> bool:
    """Whether the single element is nonzero; RuntimeError for 0 or several elements (torch)."""
    n = self.data.size
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(self.data.reshape(-1)[0] != 0)


@_method
def is_same_size(self: Tensor, other: Any) -> bool:
    """Whether other has self's shape."""
    return self.shape == _tensor_arg(other, "is_same_size", "other").shape


@_method
def is_inference(self: Tensor) -> bool:
    """False: deltagrad's inference_mode makes ordinary tensors (torch's no_grad ones)."""
    return False


@_method
def get_device(self: Tensor) -> int:
    """-1 on the CPU, else the GPU's ordinal, as torch.Tensor.get_device."""
    if self.device.type == "cpu":
        return -1
    return int(self.device.index or 0)


@_property
def nbytes(self: Tensor) -> int:
    """numel * element size, in bytes."""
    return int(self.data.nbytes)


@_property
def itemsize(self: Tensor) -> int:
    """The size of one element, in bytes."""
    return int(self.data.dtype.itemsize)


@_method
def stride(self: Tensor, dim: Any = None) -> Any:
    """The strides in elements (from the array's byte strides), or the one of dim."""
    st = tuple(int(s) // self.data.dtype.itemsize for s in self.data.strides)
    if dim is None:
        return st
    return st[_dim(dim, self.data.ndim, "stride")] if self.data.ndim else 1


def _ptr(a: Any) -> int:
    if isinstance(a, np.ndarray):
        return int(a.__array_interface__["data"][0])
    return int(a.data.ptr)  # cupy


def _root(a: Any) -> Any:
    while getattr(a, "base", None) is not None and hasattr(a.base, "dtype"):
        a = a.base
    return a


@_method
def data_ptr(self: Tensor) -> int:
    """The address of the first element."""
    return _ptr(self.data)


@_method
def storage_offset(self: Tensor) -> int:
    """The first element's offset, in elements, into the array the tensor views."""
    root = _root(self.data)
    return (_ptr(self.data) - _ptr(root)) // self.data.dtype.itemsize


@_method
def is_set_to(self: Tensor, tensor: Any) -> bool:
    """Whether both view the same memory with one offset, shape and strides."""
    t = _tensor_arg(tensor, "is_set_to", "tensor")
    a, b = self.data, t.data
    return (
        _root(a) is _root(b)
        and _ptr(a) == _ptr(b)
        and a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
    )


@_method
def dim_order(self: Tensor, *, ambiguity_check: Any = False) -> tuple[int, ...]:
    """The dims from outermost to innermost in memory (by stride, stable), as torch."""
    st = self.stride()
    return tuple(sorted(range(len(st)), key=lambda i: -st[i]))


@_method
def equal(self: Tensor, other: Any) -> bool:
    """One shape and equal elements, as torch.equal."""
    return _tm.equal(self, _tensor_arg(other, "equal", "other"))


# ---- aliases: comparisons, conjugation, views ---------------------------------------------

for _alias, _target in (
    ("greater", "gt"),
    ("greater_equal", "ge"),
    ("less", "lt"),
    ("less_equal", "le"),
    ("not_equal", "ne"),
):
    _METHODS[_alias] = getattr(Tensor, _target)


@_method
def positive(self: Tensor) -> Tensor:
    """self (a view), as torch.positive; a bool tensor raises as torch."""
    if self.data.dtype.kind == "b":
        raise _DtypeError(
            "The `+` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return self.view(self.shape)


for _alias in ("conj", "resolve_conj", "resolve_neg"):
    _fn = lambda self: self  # noqa: E731  (real tensors: nothing to conjugate or negate)
    _fn.__name__ = _fn.__qualname__ = _alias
    _fn.__doc__ = f"self, as torch.Tensor.{_alias} on a real tensor."
    _METHODS[_alias] = _fn


@_method
def conj_physical(self: Tensor) -> Tensor:
    """A copy (a real tensor's conjugate), as torch.conj_physical."""
    return self.clone()


@_method
def is_conj(self: Tensor) -> bool:
    """False: real tensors have no conjugate bit."""
    return False


@_method
def is_neg(self: Tensor) -> bool:
    """False: real tensors have no negative bit."""
    return False


@_property
def H(self: Tensor) -> Tensor:  # noqa: N802  (torch's name)
    """The conjugate transpose of a 0-d or 2-d tensor (a transpose, for real ones)."""
    if self.data.ndim == 0:
        return self
    if self.data.ndim != 2:
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {self.data.ndim}-D tensor."
        )
    return self.transpose(0, 1)


@_property
def mH(self: Tensor) -> Tensor:  # noqa: N802
    """The conjugate transpose of the last two dims (mT, for real tensors)."""
    if self.data.ndim < 2:
        raise RuntimeError(
            "tensor.mH is only supported on matrices or batches of matrices. "
            f"Got {self.data.ndim}-D tensor."
        )
    return self.transpose(-2, -1)


@_method
def adjoint(self: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims, as torch.adjoint."""
    if self.data.ndim < 2:
        raise RuntimeError(
            f"tensor.adjoint() is only supported on matrices or batches of matrices. Got "
            f"{self.data.ndim}-D tensor."
        )
    return self.transpose(-2, -1)


@_method
def isreal(self: Tensor) -> Tensor:
    """All True (a real tensor), as torch.isreal."""
    return _no_graph(_xp(self).ones(self.shape, dtype=bool), "isreal")


@_method
def isposinf(self: Tensor) -> Tensor:
    """Where the elements are +inf."""
    return _no_graph(_xp(self).isposinf(self.data), "isposinf")


@_method
def isneginf(self: Tensor) -> Tensor:
    """Where the elements are -inf."""
    return _no_graph(_xp(self).isneginf(self.data), "isneginf")


# ---- elementwise math -------------------------------------------------------------------


def _with_zero_grad(out: Tensor, *consts: Tensor) -> Tensor:
    """out, also a graph node of consts with zero gradient (torch's for copysign's sign)."""
    live = [c for c in consts if isinstance(c, Tensor) and c.requires_grad]
    if not live:
        return out
    xp = _xp(out)

    def _backward(g: Any) -> None:
        if out.requires_grad:
            out._accumulate(g)
        for c in live:
            c._accumulate(xp.zeros(c.shape, dtype=c.data.dtype))

    def _dbackward(g: Tensor) -> Any:
        return (g, *[Tensor(xp.zeros(c.shape, dtype=c.data.dtype)) for c in live])

    return Tensor._make(out.data, (out, *live), _backward, out._op or "copysign", (), _dbackward)


def _operand(self: Tensor, other: Any, op: str) -> Tensor:
    """other as a Tensor next to self (a number / array lifted into self's dtype)."""
    return self._lift(other, op)


@_method
def copysign(self: Tensor, other: Any) -> Tensor:
    """|self| with other's sign bit, as torch.copysign (float; gradient sign(self) * sign
    of the result, zero for other)."""
    o = _operand(self, other, "copysign")
    xp = _xp(self)
    a = _float(self)
    od = o.data
    dt = np.result_type(a.data.dtype, od.dtype if od.dtype.kind == "f" else a.data.dtype)
    neg = xp.signbit(od)
    sign = Tensor(xp.where(neg, -1, 1).astype(dt))
    out = a.abs().to(dt) * sign
    return _with_zero_grad(out, o)


def _nan_pick(self: Tensor, other: Any, op: str, cmp: str) -> Tensor:
    o = _tensor_arg(other, op, "other")
    a, b = self, self._lift(o, op)
    xp = _xp(a)
    keep_a = getattr(xp, cmp)(*_promote(a.data, b.data)) | xp.isnan(b.data)
    return where(keep_a, a, b)


@_method
def fmax(self: Tensor, other: Any) -> Tensor:
    """The elementwise maximum, ignoring NaN (NaN only where both are), as torch.fmax."""
    return _nan_pick(self, other, "fmax", "greater_equal")


@_method
def fmin(self: Tensor, other: Any) -> Tensor:
    """The elementwise minimum, ignoring NaN (NaN only where both are), as torch.fmin."""
    return _nan_pick(self, other, "fmin", "less_equal")


@_method
def float_power(self: Tensor, exponent: Any) -> Tensor:
    """self ** exponent computed in float64 (the result's dtype), as torch.float_power."""
    base = self.to(np.float64)
    if isinstance(exponent, Tensor):
        return base ** exponent.to(np.float64)
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float, np.number)):
        raise TypeError(
            f"float_power(): argument 'exponent' must be Tensor or Number, not "
            f"{type(exponent).__name__}"
        )
    return base ** float(exponent)


@_method
def float_power_(self: Tensor, exponent: Any) -> Tensor:
    """float_power, in place (self must be float64, as torch)."""
    if self.data.dtype != np.float64:
        raise RuntimeError(
            f"the base given to float_power_ has dtype {self.dtype} but the operation's "
            "result requires dtype Double"
        )
    return self._inplace_from(
        "float_power_", lambda: float_power(self.detach(), exponent), exponent
    )


@_method
def frexp(self: Tensor) -> Any:
    """(mantissa, exponent) with self = mantissa * 2 ** exponent, |mantissa| in [0.5, 1),
    as torch.frexp; exponent is int32 and has no gradient, mantissa's is g / 2 ** exponent."""
    if self.data.dtype.kind != "f":
        raise RuntimeError(
            "torch.frexp() only supports floating-point dtypes, but got " + str(self.dtype)
        )
    xp = _xp(self)
    mant, e = xp.frexp(self.data)
    with np.errstate(over="ignore"):  # a subnormal's 2 ** -e overflows, as torch's (inf)
        scale = xp.ldexp(xp.ones((), self.data.dtype), -e).astype(self.data.dtype)

    def _grad(g: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            return g * scale

    mant = self._unary(mant, _grad, "frexp", saves=(), dbackward=lambda g: (g * Tensor(scale),))
    return _FrexpResult(mant, _no_graph(e.astype(np.int32), "frexp"))


@_method
def ldexp(self: Tensor, other: Any) -> Tensor:
    """self * 2 ** other, as torch.ldexp (int operands give float32)."""
    o = _tensor_arg(other, "ldexp", "other")
    return self * (2.0**o)


@_method
def logaddexp2(self: Tensor, other: Any) -> Tensor:
    """log2(2 ** self + 2 ** other), without overflow, as torch.logaddexp2."""
    ln2 = math.log(2.0)
    o = _operand(self, other, "logaddexp2")
    a, _ = _promote(self.data[:0], o.data[:0]) if self.data.ndim else _promote(self.data, o.data)
    if a.dtype.kind != "f":
        raise _kernel_dtype_error("logaddexp2", "logaddexp2_cpu", a.dtype)
    return (self * ln2).logaddexp(o * ln2) / ln2


@_method
def deg2rad(self: Tensor) -> Tensor:
    """Degrees to radians (int tensors give float32), as torch.deg2rad."""
    return _float(self) * (math.pi / 180.0)


@_method
def rad2deg(self: Tensor) -> Tensor:
    """Radians to degrees (int tensors give float32), as torch.rad2deg."""
    return _float(self) * (180.0 / math.pi)


@_method
def sinc(self: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0, as torch.sinc: torch's formula in x's dtype (its values bit
    for bit), with dg.special.sinc's derivatives (a series near 0, so the second derivative
    there is -pi^2 / 3, not the 0 / 0 of differentiating the formula)."""
    from . import special as _sp  # noqa: PLC0415  (special imports this module's Tensor)

    x = _float(self)
    xp = _xp(x)
    zero = x.data == 0
    px = xp.where(zero, 1.0, x.data * math.pi).astype(x.data.dtype, copy=False)
    with np.errstate(all="ignore"):
        out = xp.where(zero, 1.0, xp.sin(px) / px).astype(x.data.dtype, copy=False)

    def _backward(g: Any) -> None:
        x._accumulate((g * _sp._sinc_df(x.data.astype(np.float64))).astype(g.dtype))

    db = functools.partial(_sp._d_elementwise, _sp._dsinc, x)
    return Tensor._make(out, (x,), _backward, "sinc", saves=(x,), dbackward=db)


@_method
def hardshrink(self: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0, as torch.Tensor.hardshrink."""
    from . import functional as F

    return F.hardshrink(self, lambd)


@_method
def prelu(self: Tensor, weight: Any) -> Tensor:
    """max(0, x) + weight * min(0, x), weight per channel (dim 1), as torch.prelu."""
    from . import functional as F

    return F.prelu(self, _tensor_arg(weight, "prelu", "weight"))


def _integer_pair(self: Tensor, other: Any, op: str) -> tuple[Any, Any]:
    o = self._lift(other, op)
    a, b = _promote(self.data, o.data)
    if a.dtype.kind not in "iu" or (op in ("gcd", "lcm") and a.dtype.kind == "b"):
        raise _kernel_dtype_error(op, f"{op}_cpu", a.dtype)
    return a, b


@_method
def gcd(self: Tensor, other: Any) -> Tensor:
    """The greatest common divisor (>= 0) of integer tensors, as torch.gcd."""
    a, b = _integer_pair(self, other, "gcd")
    return _no_graph(_xp(self).gcd(a, b), "gcd")


@_method
def lcm(self: Tensor, other: Any) -> Tensor:
    """The least common multiple (>= 0) of integer tensors, as torch.lcm."""
    a, b = _integer_pair(self, other, "lcm")
    return _no_graph(_xp(self).lcm(a, b), "lcm")


@_method
def nextafter(self: Tensor, other: Any) -> Tensor:
    """The next float after self towards other, as torch.nextafter; torch's gradient: g to
    self (a one-ulp step) except where self == other (no step: 0 there, also for an inf / NaN
    g), zeros to other."""
    o = self._lift(_tensor_arg(other, "nextafter", "other"), "nextafter")
    a, b = _promote(self.data, o.data)
    if a.dtype.kind != "f":
        raise _kernel_dtype_error("nextafter", "nextafter_cpu", a.dtype)
    xp = _xp(self)

    def _backward(g: Any) -> None:
        if self.requires_grad:
            self._accumulate(xp.where(a == b, g.dtype.type(0), g))
        if o.requires_grad:
            o._accumulate(xp.zeros(o.shape, o.data.dtype))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return where(a == b, 0.0, g), Tensor(xp.zeros(o.shape, o.data.dtype))

    out = xp.nextafter(a, b)
    return Tensor._make(
        out, (self, o), _backward, "nextafter", saves=(self, o), dbackward=_dbackward
    )


# ---- bitwise ----------------------------------------------------------------------------


def _bitwise_op(name: str, fn: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        if self.data.dtype.kind not in "biu":
            raise _kernel_dtype_error(name, f"{name}_cpu", self.data.dtype)
        if isinstance(other, Tensor) and other.data.dtype.kind not in "biu":
            raise _kernel_dtype_error(name, f"{name}_cpu", other.data.dtype)
        if isinstance(other, (float, np.floating)):
            raise _kernel_dtype_error(name, f"{name}_cpu", np.dtype(np.float32))
        return self._compare(other, fn)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"The elementwise {fn} of bool / integer tensors, as torch.{name}."
    return method


for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _METHODS[_name] = _bitwise_op(_name, _name)


@_method
def bitwise_not(self: Tensor) -> Tensor:
    """~self for bool / integer tensors, as torch.bitwise_not."""
    if self.data.dtype.kind not in "biu":
        raise _kernel_dtype_error("bitwise_not", "bitwise_not_cpu", self.data.dtype)
    return _no_graph(_xp(self).invert(self.data), "bitwise_not")


def _shift(self: Tensor, other: Any, op: str, left: bool) -> Tensor:
    o = self._lift(other, op)
    a, b = _promote(self.data, o.data)
    if a.dtype.kind not in "iu":
        raise _kernel_dtype_error(op, "lshift_cpu" if left else "rshift_cpu", a.dtype)
    xp = _xp(self)
    bits = a.dtype.itemsize * 8
    bad = (b < 0) | (b >= bits)
    safe = xp.where(bad, 0, b).astype(a.dtype)
    if left:  # torch: 0 for a shift out of [0, bits)
        out = xp.where(bad, 0, xp.left_shift(a, safe))
    else:  # torch: the sign fill (0 or -1) for a shift out of [0, bits)
        fill = xp.right_shift(a, a.dtype.type(bits - 1)) if a.dtype.kind == "i" else 0
        out = xp.where(bad, fill, xp.right_shift(a, safe))
    return _no_graph(out.astype(a.dtype), op)


@_method
def bitwise_left_shift(self: Tensor, other: Any) -> Tensor:
    """self << other for integer tensors (0 past the width), as torch."""
    return _shift(self, other, "bitwise_left_shift", True)


@_method
def bitwise_right_shift(self: Tensor, other: Any) -> Tensor:
    """self >> other for integer tensors (arithmetic for signed ones), as torch."""
    return _shift(self, other, "bitwise_right_shift", False)


# ---- products and matrices --------------------------------------------------------------


@_method
def inner(self: Tensor, other: Any) -> Tensor:
    """The sum over the last dims of self[..., None..., :] * other, as torch.inner (a 0-d
    operand multiplies)."""
    o = _tensor_arg(other, "inner", "other")
    if self.data.ndim == 0 or o.data.ndim == 0:
        return self * o
    if self.shape[-1] != o.shape[-1]:
        raise _ShapeError(
            f"inner() the last dimension must match on both input tensors but got shapes "
            f"{list(self.shape)} and {list(o.shape)}"
        )
    return _tm.tensordot(self, o, dims=([self.data.ndim - 1], [o.data.ndim - 1]))


@_method
def vdot(self: Tensor, other: Any) -> Tensor:
    """The dot product of two 1-d tensors of one dtype, as torch.vdot (real: dot)."""
    o = _tensor_arg(other, "vdot", "other")
    if self.data.ndim != 1 or o.data.ndim != 1:
        raise _ShapeError(
            f"1D tensors expected, but got {self.data.ndim}D and {o.data.ndim}D tensors"
        )
    return self.dot(o)


@_method
def mv(self: Tensor, vec: Any) -> Tensor:
    """The matrix-vector product of a 2-d self and a 1-d vec, as torch.mv."""
    v = _tensor_arg(vec, "mv", "vec")
    if self.data.ndim != 2 or v.data.ndim != 1:
        raise _ShapeError(f"vector + matrix @ vector expected, got {self.data.ndim}, {v.data.ndim}")
    if self.shape[1] != v.shape[0]:
        raise _ShapeError(
            f"size mismatch, got input ({self.shape[0]}), mat ({self.shape[0]}x"
            f"{self.shape[1]}), vec ({v.shape[0]})"
        )
    if self.data.dtype != v.data.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {self.dtype} != {v.dtype}"
        )
    return self @ v


@_method
def addr(self: Tensor, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * self + alpha * outer(vec1, vec2), as torch.addr (beta 0 ignores self)."""
    v1 = _tensor_arg(vec1, "addr", "vec1")
    v2 = _tensor_arg(vec2, "addr", "vec2")
    if v1.data.ndim != 1 or v2.data.ndim != 1:
        raise _ShapeError(f"addr: expected 1-D vectors, got {v1.data.ndim}-D and {v2.data.ndim}-D")
    return self._add_product(v1.outer(v2), beta, alpha, "addr")


@_method
def dist(self: Tensor, other: Any, p: Any = 2) -> Tensor:
    """The p-norm of self - other (broadcast), as torch.dist."""
    o = _tensor_arg(other, "dist", "other")
    if self.data.dtype.kind != "f":
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{self.dtype}"
        )
    from . import linalg

    return linalg.vector_norm(self - o, float(p))


@_method
def cross(self: Tensor, other: Any, dim: Any = None) -> Tensor:
    """The 3-vector cross product along dim (None: the first dim of size 3, with torch's
    deprecation warning), operands broadcast, as torch.cross."""
    o = _tensor_arg(other, "cross", "other")
    if self.data.ndim != o.data.ndim:
        raise _ShapeError(
            f"linalg.cross: inputs must have the same number of dimensions. Got "
            f"{self.data.ndim} and {o.data.ndim}"
        )
    try:
        shape = np.broadcast_shapes(self.shape, o.shape)
    except ValueError:
        raise _ShapeError(
            f"cross: shapes {list(self.shape)} and {list(o.shape)} do not broadcast"
        ) from None
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either "
            "pass the dim explicitly or simply use torch.linalg.cross.\nThe default value of "
            "dim will change to agree with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        sizes3 = [i for i, n in enumerate(shape) if n == 3]
        if not sizes3:
            raise _ShapeError(f"no dimension of size 3 in input (shape {list(shape)})")
        d = sizes3[0]
    else:
        d = _dim(dim, len(shape), "cross")
        if shape[d] != 3:
            raise _ShapeError(
                f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                f"{self.shape[d]} and {o.shape[d]}"
            )
    a, b = self.expand(shape), o.expand(shape)
    a0, a1, a2 = (a.select(d, i) for i in range(3))
    b0, b1, b2 = (b.select(d, i) for i in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


@_method
def kron(self: Tensor, other: Any) -> Tensor:
    """The Kronecker product, as torch.kron."""
    return _tm.kron(self, _tensor_arg(other, "kron", "other"))


@_method
def histc(self: Tensor, bins: int = 100, min: Any = 0, max: Any = 0) -> Tensor:  # noqa: A002
    """A histogram of the elements, as torch.histc."""
    return _tm.histc(self, bins, min, max)


@_method
def renorm(self: Tensor, p: Any, dim: int, maxnorm: Any) -> Tensor:
    """Each slice along dim with p-norm above maxnorm scaled to maxnorm / (norm + 1e-7), as
    torch.renorm (the gradient includes the norm's, as torch's)."""
    if self.data.dtype.kind != "f":
        raise _kernel_dtype_error("renorm", "renorm_out", self.data.dtype)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (p={p})")
    if isinstance(maxnorm, bool) or not isinstance(maxnorm, (int, float, np.number)):
        raise TypeError(f"renorm(): argument 'maxnorm' must be Number, not {type(maxnorm)}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    nd = self.data.ndim
    if nd < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {nd} dimensions")
    d = _dim(dim, nd, "renorm")
    from . import linalg

    rest = tuple(i for i in range(nd) if i != d)
    norm = linalg.vector_norm(self, float(p), dim=rest, keepdim=True)
    big = norm.data > maxnorm
    factor = where(big, maxnorm / (norm + 1e-7), 1.0)
    return self * factor


@_method
def diagflat(self: Tensor, offset: int = 0) -> Tensor:
    """A matrix with the flattened self on diagonal offset, as torch.diagflat."""
    return self.reshape(-1).diag(offset)


@_method
def sum_to_size(self: Tensor, *size: Any) -> Tensor:
    """self summed down to size (to which it must expand), as torch.sum_to_size."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    ok = len(shape) <= self.data.ndim and all(
        s == n or s == 1 for s, n in zip(shape[::-1], self.shape[::-1])
    )
    if not ok:
        raise RuntimeError(f"size {list(shape)} is not expandable to size {list(self.shape)}")
    return Tensor._sum_to(self, shape)


@_method
def split_with_sizes(self: Tensor, split_sizes: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the given sizes (summing to the dim's size) along dim, as torch."""
    d = _dim(dim, self.data.ndim, "split_with_sizes")
    sizes = [int(s) for s in split_sizes]
    n = self.shape[d] if self.data.ndim else 1
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            f"split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={sizes}"
        )
    if sum(sizes) != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
            f"at dimension {d}), but got split_sizes={sizes}"
        )
    return tuple(self.split(sizes, d))


@_method
def narrow_copy(self: Tensor, dim: int, start: int, length: int) -> Tensor:
    """narrow, as a copy."""
    return self.narrow(dim, start, length).clone()


def _scatter_mask(self: Tensor, key: tuple[Any, ...], src: Tensor, op: str) -> Tensor:
    """self with src at self[key] (a basic index): out of place, differentiable in both."""
    xp = _xp(self)
    mask = xp.zeros(self.shape, dtype=bool)
    mask[key] = True
    view_shape = mask[key].shape
    if src.shape != view_shape:
        raise RuntimeError(
            f"{op}: expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(view_shape)}"
        )
    if src.data.dtype != self.data.dtype:
        raise RuntimeError(f"{op}: expected src ({src.dtype}) to have self's dtype {self.dtype}")
    # src placed into a zero tensor of self's shape: index the mask's positions with src
    order = xp.arange(mask.size).reshape(self.shape)[key].reshape(-1)
    placed = xp.zeros(mask.size, dtype=np.int64)
    placed[order] = xp.arange(order.size)
    spread = src.reshape(-1)[Tensor(placed)].reshape(self.shape) if src.data.size else None
    if spread is None:
        return self.clone()
    return where(mask, spread, self)


@_method
def select_scatter(self: Tensor, src: Any, dim: int, index: int) -> Tensor:
    """A copy of self with src at select(dim, index), as torch.select_scatter."""
    s = _tensor_arg(src, "select_scatter", "src")
    d = _dim(dim, self.data.ndim, "select_scatter")
    n = self.shape[d]
    if not -n <= index < n:
        raise IndexRangeError(
            f"select(): index {index} out of range for tensor of size {list(self.shape)} at "
            f"dimension {d}"
        )
    return _scatter_mask(self, (slice(None),) * d + (index % n,), s, "select_scatter")


@_method
def slice_scatter(
    self: Tensor, src: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
) -> Tensor:
    """A copy of self with src at the slice start:end:step of dim, as torch.slice_scatter."""
    s = _tensor_arg(src, "slice_scatter", "src")
    d = _dim(dim, self.data.ndim, "slice_scatter")
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    return _scatter_mask(self, (slice(None),) * d + (slice(start, end, step),), s, "slice_scatter")


@_method
def diagonal_scatter(
    self: Tensor, src: Any, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """A copy of self with src on diagonal(offset, dim1, dim2), as torch.diagonal_scatter."""
    s = _tensor_arg(src, "diagonal_scatter", "src")
    xp = _xp(self)
    pos = xp.arange(self.data.size).reshape(self.shape)
    diag_pos = xp.diagonal(
        pos,
        offset,
        _dim(dim1, self.data.ndim, "diagonal_scatter"),
        _dim(dim2, self.data.ndim, "diagonal_scatter"),
    )
    if s.shape != diag_pos.shape:
        raise RuntimeError(
            f"diagonal_scatter: expected src to have a size equal to the diagonal of self. "
            f"src size = {list(s.shape)}, diagonal size = {list(diag_pos.shape)}"
        )
    mask = xp.zeros(self.data.size, dtype=bool)
    mask[diag_pos.reshape(-1)] = True
    placed = xp.zeros(self.data.size, dtype=np.int64)
    placed[diag_pos.reshape(-1)] = xp.arange(diag_pos.size)
    if not diag_pos.size:
        return self.clone()
    spread = s.reshape(-1)[Tensor(placed)].reshape(self.shape)
    return where(mask.reshape(self.shape), spread, self)


# ---- scatter / index reductions and index_put ---------------------------------------------

_SCATTER_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def _reduce_grids(self: Tensor, dim: Any, index: Any, src: Any, op: str) -> tuple[Any, ...]:
    """(d, index array, src Tensor, src's array cut to index's shape, self's array at least
    1-d) of a scatter op, validated as torch's scatter."""
    d = _dim(dim, self.data.ndim, op)
    if not isinstance(index, Tensor) or index.data.dtype.kind not in "iu":
        raise _DtypeError(f"{op}(): Expected dtype int64 for index")
    s = _tensor_arg(src, op, "src")
    if s.data.dtype != self.data.dtype:
        raise _DtypeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
    idx = index.data.astype(np.int64, copy=False)
    nd = max(self.data.ndim, 1)  # torch's ensure_nonempty_dim: a 0-d tensor counts as 1-d
    for what, k in (("self", idx.ndim), ("src", s.data.ndim)):
        if max(k, 1) != nd and (idx.size or what == "src"):  # an empty index: any shape
            raise RuntimeError(
                f"{op}(): Index tensor must have the same number of dimensions as {what} tensor"
            )
    x = self.data.reshape(-1) if self.data.ndim == 0 else self.data
    idx = idx.reshape(-1) if idx.ndim == 0 else idx
    if not idx.size and idx.ndim != nd:
        idx = idx.reshape((0,) * nd)
    sd = s.data.reshape(-1) if s.data.ndim == 0 else s.data
    for k in range(idx.ndim):
        if idx.shape[k] > sd.shape[k] or (k != d and idx.shape[k] > x.shape[k]):
            raise RuntimeError(
                f"{op}(): Expected index {list(idx.shape)} to be no larger than self "
                f"{list(self.shape)} apart from dimension {d} and to be no larger than src "
                f"{list(s.shape)}"
            )
    n = x.shape[d]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise IndexRangeError(f"index {bad} is out of bounds for dimension {d} with size {n}")
    cut = sd[tuple(slice(0, m) for m in idx.shape)]
    return d, idx, s, cut, x


class _Sites:
    """Where scatter_reduce / index_reduce reduce src's elements into self, for the forward and
    both backwards. The node works on x (self's array, at least 1-d) and cut (src's array cut
    to the reduced elements: index's shape, or src's for index_reduce); the sites are along
    dim d at idx: index_reduce's 1-d idx names whole slices (by_slice), scatter_reduce's has
    one index per element of cut. x_key cuts x to the block a scatter index covers; s_key
    cuts src (as s_full, its shape at least 1-d) to cut (None: src is cut, up to a reshape);
    s_shape is src's own shape. The array methods serve the forward and the plain backward,
    the _t ones (Tensor ops with their own double backward) create_graph=True."""

    def __init__(
        self,
        xp: Any,
        d: int,
        idx: Any,
        by_slice: bool,
        x_key: Any,
        s_key: Any,
        s_shape: tuple[int, ...],
        s_full: tuple[int, ...],
    ) -> None:
        self.xp, self.d, self.idx, self.by_slice, self.x_key = xp, d, idx, by_slice, x_key
        self.s_key, self.s_shape, self.s_full = s_key, s_shape, s_full

    def inner(self, cut_shape: tuple[int, ...]) -> _Sites:
        """The same sites for a src that is cut already (the double backward's forwards)."""
        return _Sites(
            self.xp, self.d, self.idx, self.by_slice, self.x_key, None, cut_shape, cut_shape
        )

    def at(self, reduce: str, out: Any, vals: Any) -> Any:  # out[sites] reduce= vals, in place
        if self.by_slice:
            return _ops.index_reduce_(out, self.d, self.idx, vals, reduce)
        _ops.scatter_reduce_(out, self.d, self.idx, vals, reduce)
        return out

    def take(self, a: Any) -> Any:  # a's values at the sites, in cut's shape
        if self.by_slice:
            return self.xp.take(a, self.idx, axis=self.d)
        return self.xp.take_along_axis(a[self.x_key], self.idx, self.d)

    def place(self, g: Any) -> Any:  # src's gradient from cut's: zeros past index's block
        if self.s_key is None:
            return g.reshape(self.s_shape)
        full = self.xp.zeros(self.s_full, g.dtype)
        full[self.s_key] = g
        return full.reshape(self.s_shape)

    def take_t(self, t: Tensor) -> Tensor:
        if self.by_slice:
            return t.index_select(self.d, Tensor(self.idx))
        return t.gather(self.d, Tensor(self.idx))  # torch's gather: index may be smaller

    def place_t(self, g: Tensor) -> Tensor:
        if self.s_key is None:
            return g if g.shape == self.s_shape else g.reshape(self.s_shape)
        full = _index_backward(g, self.s_key, _ShapeOnly(self.s_full))
        return full.reshape(self.s_shape)

    def cut_t(self, s: Tensor) -> Tensor:
        c = s if s.shape == self.s_full else s.reshape(self.s_full)
        return c if self.s_key is None else c[self.s_key]


_ShapeOnly = namedtuple("_ShapeOnly", ["shape"])  # the `like` _index_backward reads


@_method
def scatter_reduce(
    self: Tensor,
    dim: int,
    index: Any,
    src: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """src's elements reduced (sum, prod, mean, amax, amin) into a copy of self at index
    along dim, self's own value included unless include_self=False, as torch.scatter_reduce.
    Gradients and second derivatives as torch's formulas (amax / amin share it evenly among
    the elements equal to the result; prod takes exclusive products at zeros)."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch's forward takes them
    if reduce not in _SCATTER_REDUCES:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    d, idx, s, cut, x = _reduce_grids(self, dim, index, src, "scatter_reduce")
    x_key = tuple(slice(None) if k == d else slice(0, m) for k, m in enumerate(idx.shape))
    s_full = (1,) if s.data.ndim == 0 else s.shape
    s_key = None if cut.shape == s_full else tuple(slice(0, m) for m in idx.shape)
    sites = _Sites(_xp(self), d, idx, False, x_key, s_key, s.shape, s_full)
    return _reduce_node(self, s, x, cut, reduce, include_self, sites, "scatter_reduce")


def _reduce_node(
    self: Tensor,
    s: Tensor,
    x: Any,
    cut: Any,
    reduce: str,
    include_self: bool,
    sites: _Sites,
    op: str,
) -> Tensor:
    """scatter_reduce's and index_reduce's node: x (self's array) with cut (src's array, in
    the shape of the reduced elements) reduced in at sites. Gradients as torch's formulas
    (amax / amin share it evenly among the elements equal to the result; prod takes exclusive
    products at zeros): by array ops, and by Tensor ops for create_graph=True, where the
    shares, counts and masks are constants (as torch's) and prod's formula reads self and src
    again (so its second derivatives mix them), through this node's forward redone."""
    xp = _xp(self)
    at, take = sites.at, sites.take
    hit = drop = cnt = None  # where something lands, self's values left out, the counts
    if reduce == "mean" or not include_self:
        count = at("sum", xp.zeros(x.shape), xp.ones(cut.shape))  # float64: exact to 2**53
        hit = count > 0
        drop = None if include_self else hit
        cnt = count + (1 if include_self else 0)

    def forward(x: Any, cut: Any) -> Any:
        dt = x.dtype
        if reduce in ("sum", "mean"):
            start: Any = 0
        elif reduce == "prod":
            start = 1
        elif dt.kind == "f":
            start = -np.inf if reduce == "amax" else np.inf
        elif dt.kind == "b":
            start = reduce == "amin"
        else:
            info = np.iinfo(dt)
            start = info.min if reduce == "amax" else info.max
        out = x.copy() if drop is None else xp.where(drop, xp.asarray(start, dt), x)
        with np.errstate(all="ignore"):
            at("sum" if reduce == "mean" else reduce, out, cut)
            if reduce == "mean":
                safe = xp.maximum(cnt, 1).astype(dt if dt.kind == "f" else np.int64)
                avg = out / safe if dt.kind == "f" else xp.floor_divide(out, safe)
                out = xp.where(hit, avg, x).astype(dt)
        return out

    res = forward(x, cut)
    out = res.reshape(self.shape)

    def _backward(g: Any) -> None:  # torch's scatter_reduce_backward, term by term
        g = g.reshape(x.shape)
        with np.errstate(all="ignore"):
            if reduce in ("sum", "mean"):
                gg = g / xp.maximum(cnt, 1) if reduce == "mean" else g
                g_self, g_src = gg, take(gg)
            elif reduce == "prod":  # zeros: the exclusive products, as torch
                masked_self = xp.where(x == 0, 1, x)
                g_self = g * forward(masked_self, cut) / masked_self
                src_zero = cut == 0
                n_zero = at("sum", xp.zeros(x.shape), src_zero.astype(np.float64))
                single = src_zero & (take(n_zero) == 1)
                masked_src_res = forward(x, xp.where(single, 1, cut))
                g_src = xp.where(
                    single,
                    take(g * masked_src_res),
                    take(g * res) / xp.where(src_zero, 1, cut),
                )
            else:  # shared evenly among the equal elements (self's counted even when left out)
                eq_self, eq_src, n_eq = ties()
                share = g / n_eq
                g_self = xp.where(eq_self, share, 0)
                g_src = xp.where(eq_src, take(share), 0)
            if drop is not None:
                g_self = xp.where(drop, 0, g_self)
        if self.requires_grad:
            self._accumulate(g_self.astype(g.dtype).reshape(self.shape))
        if s.requires_grad:
            s._accumulate(sites.place(g_src.astype(g.dtype)))

    def ties() -> tuple[Any, Any, Any]:  # amax / amin: who equals the result, how many per site
        eq_self = x == res
        eq_src = cut == take(res)
        return eq_self, eq_src, at("sum", eq_self.astype(np.float64), eq_src.astype(np.float64))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:  # the same formulas from Tensor ops
        gx = g if g.shape == x.shape else g.reshape(x.shape)
        const = functools.partial(_const_as, dt=g.data.dtype)
        g_self = g_src = None
        if reduce in ("sum", "mean"):
            gg = gx / const(xp.maximum(cnt, 1)) if reduce == "mean" else gx
            g_self, g_src = gg, sites.take_t(gg) if s.requires_grad else None
        elif reduce == "prod":
            g_self, g_src = _prod_dbackward(self, s, x, cut, gx, sites, include_self, op)
        else:
            eq_self, eq_src, n_eq = ties()
            share = gx / const(xp.where(n_eq == 0, 1, n_eq))  # 0 shares: no 0 / 0 upstream
            g_self = where(eq_self, share, 0.0)
            if s.requires_grad:
                g_src = where(eq_src, sites.take_t(share), 0.0)
        if g_self is not None and drop is not None:
            g_self = where(drop, 0.0, g_self)
        return (
            g_self.reshape(self.shape) if self.requires_grad and g_self is not None else None,
            sites.place_t(g_src) if g_src is not None else None,
        )

    return Tensor._make(out, (self, s), _backward, op, saves=(self, s), dbackward=_dbackward)


def _const_as(a: Any, dt: Any) -> Tensor:
    """A constant of the formula (a count, a share) as a Tensor of the gradient's dtype."""
    return Tensor(a.astype(dt, copy=False))


def _prod_dbackward(
    self: Tensor,
    s: Tensor,
    x: Any,
    cut: Any,
    gx: Tensor,
    sites: _Sites,
    include_self: bool,
    op: str,
) -> tuple[Any, Any]:
    """prod's (g_self, g_src) as torch's scatter_reduce_backward writes them, from Tensor ops:
    the products self and src make (masked at zeros) recomputed by _reduce_node itself, so
    the second derivatives in self and src come out (and every higher order). Where two or
    more zeros of src meet at one site, the formula's derivative in src is wrong (the
    exclusive products are 0 there): g_src then raises on differentiation, as torch's."""
    xp = _xp(self)
    inner = sites.inner(cut.shape)

    def redo(a: Tensor, c: Tensor) -> Tensor:  # the forward again, with a graph
        return _reduce_node(a, c, a.data, c.data, "prod", include_self, inner, op)

    def views() -> tuple[Tensor, Tensor]:  # self and src as the node sees them; one pair per
        # gradient, so the two graphs share no node (a backward through one frees its nodes)
        return self if self.shape == x.shape else self.reshape(x.shape), sites.cut_t(s)

    g_self = g_src = None
    with np.errstate(all="ignore"):
        if self.requires_grad:
            xt, ct = views()
            masked_self = xt.masked_fill(x == 0, 1.0)
            g_self = gx * redo(masked_self, ct) / masked_self
        if s.requires_grad:
            xt, ct = views()
            src_zero = cut == 0
            n_zero = sites.at("sum", xp.zeros(x.shape), src_zero.astype(np.float64))
            single = src_zero & (sites.take(n_zero) == 1)
            g_src = where(
                single,
                sites.take_t(gx * redo(xt, ct.masked_fill(single, 1.0))),
                sites.take_t(gx * redo(xt, ct)) / ct.masked_fill(src_zero, 1.0),
            )
            if bool((n_zero > 1).any()):
                which = "source" if sites.by_slice else "src"
                g_src = _delayed_error(
                    g_src,
                    f"{op}(): Double backward is unsupported for {which} when >1 zeros in "
                    f"{which} are scattered to the same position in self",
                )
    return g_self, g_src


def _delayed_error(t: Tensor, msg: str) -> Tensor:
    """t as a node whose backward raises RuntimeError(msg) (torch's DelayedError): a value
    that is right, with a derivative that is not."""

    def _raise(*_: Any) -> Any:
        raise RuntimeError(msg)

    return Tensor._make(t.data, (t,), _raise, "DelayedError", saves=(), dbackward=_raise)


@_method
def index_reduce(
    self: Tensor,
    dim: int,
    index: Any,
    source: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """source's slices reduced (prod, mean, amax, amin) into a copy of self at index (1-d)
    along dim, as torch.index_reduce: scatter_reduce's node with the index naming slices.
    Gradients and second derivatives as torch's formulas."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(
            f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got "
            f"{reduce}."
        )
    src = _tensor_arg(source, "index_reduce", "source")
    d = _dim(dim, self.data.ndim, "index_reduce")
    if not isinstance(index, Tensor) or index.data.dtype.kind not in "iu":
        raise _DtypeError("index_reduce_(): Expected dtype int32/int64 for index")
    idx = index.data.reshape(-1)
    if index.data.ndim > 1:
        raise _ShapeError("index_reduce_(): Index is supposed to be a vector")
    sshape = (1,) if src.data.ndim == 0 else src.shape
    xshape = (1,) if self.data.ndim == 0 else self.shape
    if sshape[d] != idx.size or any(
        a != b for k, (a, b) in enumerate(zip(sshape, xshape)) if k != d
    ):
        raise _ShapeError(
            f"index_reduce_(): Source/destination tensor must have the same shape apart from "
            f"dimension {d}; index length must equal the source's size there (source "
            f"{list(src.shape)}, self {list(self.shape)}, index {idx.size})"
        )
    n = xshape[d]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):  # torch's IndexError
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise IndexRangeError(
            f"index out of range in self (index {bad}, dimension {d} of size {n})"
        )
    idx = idx.astype(np.int64, copy=False)
    x = self.data.reshape(xshape)
    cut = src.data.reshape(sshape)
    sites = _Sites(_xp(self), d, idx, True, None, None, src.shape, sshape)
    return _reduce_node(self, src, x, cut, reduce, include_self, sites, "index_reduce")


def _index_positions(self: Tensor, indices: Any, op: str) -> Any:
    """The flat positions in self that self[indices] (a tuple of index tensors) selects."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"{op}(): argument 'indices' must be tuple of Tensors")
    arrs = []
    for i, t in enumerate(indices):
        if t is None:
            arrs.append(slice(None))
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): indices[{i}] must be a Tensor or None")
        if t.data.dtype.kind not in "iub":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        arrs.append(t.data)
    if len(arrs) > max(self.data.ndim, 1):
        raise IndexError(
            f"too many indices for tensor of dimension {self.data.ndim} (got {len(arrs)})"
        )
    xp = _xp(self)
    pos = xp.arange(self.data.size, dtype=np.int64).reshape(self.shape)
    try:
        return pos[tuple(arrs)]
    except IndexError as e:
        err = _index_range(e)
        raise type(err)(f"{op}: {err}") from None


@_method
def index_put(self: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """A copy of self with values (broadcast) at self[indices], added there when accumulate,
    as torch.index_put. Differentiable in self and values."""
    v = _tensor_arg(values, "index_put", "values")
    if v.data.dtype != self.data.dtype:
        raise _DtypeError(
            f"Index put requires the source and destination dtypes match, got {self.dtype} "
            f"for the destination and {v.dtype} for the source."
        )
    pos = _index_positions(self, indices, "index_put")
    try:
        vals = v.expand(pos.shape) if v.shape != pos.shape else v
    except Exception:
        raise _ShapeError(
            f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to "
            f"indexing result of shape {list(pos.shape)}"
        ) from None
    flat_pos = pos.reshape(-1)
    flat_vals = vals.reshape(-1)
    if accumulate:
        return self.reshape(-1).index_add(0, Tensor(flat_pos), flat_vals).reshape(self.shape)
    xp = _xp(self)
    mask = xp.zeros(self.data.size, dtype=bool)
    mask[flat_pos] = True
    placed = xp.zeros(self.data.size, dtype=np.int64)
    placed[flat_pos] = xp.arange(flat_pos.size)  # a repeated position: its last value
    if not flat_pos.size:
        return self.clone()
    spread = flat_vals[Tensor(placed)].reshape(self.shape)
    return where(mask.reshape(self.shape), spread, self)


@_method
def put(self: Tensor, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """A copy of self with source's elements at the flat positions index (of any shape; negative
    ones count from the end), added there when accumulate, as torch.put. Differentiable in self
    and source; with a repeated position and accumulate=False the last value wins here (torch
    leaves it undefined)."""
    idx = _int_tensor_arg(index, "put", "index", self)
    s = _tensor_arg(source, "put", "source")
    if s.data.dtype != self.data.dtype:
        raise _DtypeError(
            f"put(): self and source expected to have the same dtype, but got self.dtype = "
            f"{self.dtype} and source.dtype = {s.dtype}"
        )
    if s.data.size != idx.size:  # torch's IndexError
        raise IndexError(
            f"put(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {s.data.size}, index.numel() = {idx.size}"
        )
    n = self.data.size
    flat = idx.reshape(-1).astype(np.int64, copy=False)
    if flat.size and (int(flat.min()) < -n or int(flat.max()) >= n):
        bad = int(flat.max()) if int(flat.max()) >= n else int(flat.min())
        raise IndexRangeError(
            f"put(): index: out of range: tried to access index {bad} on a tensor of {n} elements"
        )
    flat = _xp(self).where(flat < 0, flat + n, flat)
    # no position at all: the accumulate path, which keeps source (empty) in the graph as torch
    add = bool(accumulate) or not flat.size
    out = index_put(self.reshape(-1), (Tensor(flat),), s.reshape(-1), add)
    return out.reshape(self.shape)


@_method
def put_(self: Tensor, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """put, in place."""
    return self._inplace_from("put_", lambda: put(self.detach(), index, source, accumulate), source)


@_method
def index_put_(self: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """index_put, in place."""
    return self._inplace_from(
        "index_put_", lambda: index_put(self.detach(), indices, values, accumulate), values
    )


@_method
def scatter_reduce_(
    self: Tensor, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True
) -> Tensor:
    """scatter_reduce, in place."""
    return self._inplace_from(
        "scatter_reduce_",
        lambda: scatter_reduce(self.detach(), dim, index, src, reduce, include_self=include_self),
        src,
    )


@_method
def index_reduce_(
    self: Tensor, dim: int, index: Any, source: Any, reduce: str, *, include_self: bool = True
) -> Tensor:
    """index_reduce, in place."""
    return self._inplace_from(
        "index_reduce_",
        lambda: index_reduce(self.detach(), dim, index, source, reduce, include_self=include_self),
        source,
    )


# ---- statistics -------------------------------------------------------------------------


@_method
def bincount(self: Tensor, weights: Any = None, minlength: int = 0) -> Tensor:
    """Counts (or summed weights) of each value of a 1-d non-negative int tensor, as
    torch.bincount; no gradient."""
    x = self.data
    if x.ndim != 1 or x.dtype.kind not in "iu" or x.dtype.kind == "b":
        if x.dtype.kind not in "iu":
            raise _kernel_dtype_error("bincount", "bincount_cpu", x.dtype)
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if isinstance(minlength, bool) or not isinstance(minlength, (int, np.integer)):
        raise TypeError(f"bincount(): argument 'minlength' must be int, not {type(minlength)}")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    xp = get_array_module(x)
    neg = RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if xp is not np and x.size and int(x.min()) < 0:
        raise neg
    if weights is None:
        try:  # numpy's bincount refuses negatives itself (no separate min pass)
            out = xp.bincount(x, minlength=minlength)
        except ValueError:
            raise neg from None
        return _no_graph(out.astype(np.int64, copy=False), "bincount")
    w = _tensor_arg(weights, "bincount", "weights").data
    if w.ndim != 1 or w.shape[0] != x.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    dt = np.float32 if w.dtype == np.float32 else np.float64
    try:
        out = xp.bincount(x, weights=w, minlength=minlength)
    except ValueError:
        raise neg from None
    return _no_graph(out.astype(dt, copy=False), "bincount")


@_method
def cov(self: Tensor, *, correction: int = 1, fweights: Any = None, aweights: Any = None) -> Tensor:
    """The covariance of the variables in self's rows (observations in columns), with
    optional frequency / importance weights, as torch.cov. Differentiable."""
    if self.data.ndim > 2:
        raise _ShapeError(
            f"cov(): expected input to have two or fewer dimensions but got an "
            f"input with {self.data.ndim} dimensions"
        )
    x = self.reshape(1, -1) if self.data.ndim < 2 else self
    if x.data.dtype.kind != "f":
        x = x.to(np.float32)
    nobs = x.shape[1]
    w: Tensor | None = None
    for name, v in (("fweights", fweights), ("aweights", aweights)):
        if v is None:
            continue
        v = _tensor_arg(v, "cov", name)
        if v.data.ndim > 1:
            raise _ShapeError(
                f"cov(): expected {name} to have one or fewer dimensions but got "
                f"{name} with {v.data.ndim} dimensions"
            )
        if v.data.size != nobs:
            raise _ShapeError(
                f"cov(): expected {name} to have the same numel as there are "
                f"observations in the input but got {v.data.size} != {nobs}"
            )
        if name == "fweights":
            if v.data.dtype.kind not in "iu":
                raise _DtypeError(
                    f"cov(): expected fweights to have integral dtype but got "
                    f"fweights with {v.dtype} dtype"
                )
            if v.data.size and int(v.data.min()) < 0:
                raise RuntimeError("cov(): fweights cannot be negative")
        else:
            if v.data.dtype.kind != "f":
                raise _DtypeError(
                    f"cov(): expected aweights to have floating point dtype but "
                    f"got aweights with {v.dtype} dtype"
                )
            if v.data.size and float(v.data.min()) < 0:
                raise RuntimeError("cov(): aweights cannot be negative")
        w = v if w is None else w * v
    if w is None:
        w_sum = Tensor(_xp(x).asarray(nobs, dtype=x.data.dtype))
        avg = x.mean(1) if nobs else x.sum(1) / 0.0
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
    if w is None:
        norm = w_sum - correction
    elif correction == 0:
        norm = w_sum
    elif aweights is None:
        norm = w_sum - correction
    else:
        norm = w_sum - correction * (w * aweights).sum() / w_sum
    norm = norm.to(x.data.dtype) if norm.data.dtype != x.data.dtype else norm
    if float(norm.data) <= 0:
        warnings.warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less "
            "than the number of observations.",
            UserWarning,
            stacklevel=2,
        )
        norm = norm.clamp(min=0)
    xc = x - avg.unsqueeze(1)
    c = xc @ (xc if w is None else xc * w).t()
    out = c / norm
    return out.squeeze()  # torch's: one variable gives a 0-d tensor


@_method
def corrcoef(self: Tensor) -> Tensor:
    """The Pearson correlation of self's rows, clipped to [-1, 1], as torch.corrcoef."""
    c = cov(self)
    if c.data.ndim == 0:
        return c / c
    d = c.diagonal()
    sd = d.sqrt()
    c = c / sd.unsqueeze(1)
    c = c / sd.unsqueeze(0)
    return c.clamp(-1, 1)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(
    self: Tensor, q: Any, dim: Any, keepdim: bool, interpolation: str, ignore_nan: bool
) -> Tensor:
    op = "nanquantile" if ignore_nan else "quantile"
    if self.data.dtype.kind != "f":
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
            f"Got {interpolation}"
        )
    xp = _xp(self)
    if isinstance(q, Tensor):
        if q.data.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q.data.dtype != self.data.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        qa = q.data.astype(self.data.dtype)
        q_scalar = q.data.ndim == 0
    elif isinstance(q, (float, int, np.floating)) and not isinstance(q, bool):
        qa = xp.asarray(q, dtype=np.float64).astype(self.data.dtype)
        q_scalar = True
    else:
        raise TypeError(f"{op}(): argument 'q' must be Tensor or float, not {type(q).__name__}")
    if self.data.size == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if qa.size and (float(qa.min()) < 0 or float(qa.max()) > 1):
        raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    qa = qa.reshape(-1)
    if dim is None:
        x = self.reshape(-1)
        d = 0
    else:
        d = _dim(dim, self.data.ndim, op)
        x = self.reshape(1) if self.data.ndim == 0 else self
    xm = x.movedim(d, -1)  # (..., n)
    n = xm.shape[-1]
    lead = xm.shape[:-1]
    srt = xm.sort(-1).values  # NaN last
    nan_count = xp.isnan(xm.data).sum(-1, keepdims=True)
    if ignore_nan:
        last = (n - nan_count - 1).astype(self.data.dtype)
    else:
        last = xp.full(nan_count.shape, n - 1, dtype=self.data.dtype)
    qb = qa.reshape((-1,) + (1,) * (len(lead) + 1))  # (nq, ..., 1)
    ranks = qb * last  # (nq, ..., 1)
    if not ignore_nan:
        ranks = xp.where(nan_count > 0, last, ranks)
    else:
        ranks = xp.where(last < 0, 0, ranks)  # all-NaN rows: NaN (the first sorted)
    if interpolation == "lower":
        ranks = xp.floor(ranks)
    elif interpolation == "higher":
        ranks = xp.ceil(ranks)
    elif interpolation == "nearest":
        ranks = xp.round(ranks)
    below = ranks.astype(np.int64)
    full = (qa.size, *lead, 1)
    below = xp.broadcast_to(below, full)
    srt_b = srt.unsqueeze(0).expand(qa.size, *srt.shape)
    v_below = srt_b.gather(-1, Tensor(xp.ascontiguousarray(below)))
    if interpolation in ("linear", "midpoint"):
        above = xp.broadcast_to(xp.ceil(ranks).astype(np.int64), full)
        v_above = srt_b.gather(-1, Tensor(xp.ascontiguousarray(above)))
        wts = xp.broadcast_to(
            xp.asarray(0.5, self.data.dtype)
            if interpolation == "midpoint"
            else (ranks - xp.floor(ranks)).astype(self.data.dtype),
            full,
        )
        v_below = v_below.lerp(v_above, Tensor(xp.ascontiguousarray(wts)))
    vals = v_below.squeeze(-1)
    # vals: (nq, *lead); put the reduced dim back where keepdim asks
    if keepdim:
        if dim is None:
            vals = vals.reshape((qa.size,) + (1,) * self.data.ndim)
        else:
            vals = vals.unsqueeze(d + 1) if self.data.ndim else vals
    return vals.squeeze(0) if q_scalar else vals


@_method
def quantile(
    self: Tensor, q: Any, dim: Any = None, keepdim: bool = False, *, interpolation: str = "linear"
) -> Tensor:
    """The q-th quantiles along dim (all elements when None), as torch.quantile (NaN where
    a reduced row holds NaN). A 1-d q adds a leading dim. Differentiable."""
    return _quantile(self, q, dim, keepdim, interpolation, False)


@_method
def nanquantile(
    self: Tensor, q: Any, dim: Any = None, keepdim: bool = False, *, interpolation: str = "linear"
) -> Tensor:
    """quantile ignoring NaN (NaN for an all-NaN row), as torch.nanquantile."""
    return _quantile(self, q, dim, keepdim, interpolation, True)


@_method
def nanmedian(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The lower median of the non-NaN values (NaN for an all-NaN row), as torch.nanmedian;
    with dim, (values, indices)."""
    xp = _xp(self)
    if dim is None:  # the gradient is shared by the elements equal to the median (torch)
        flat = self.reshape(-1)
        x = flat.data
        if x.size == 0:
            if x.dtype.kind != "f":  # as median (torch gives NaN cast to the dtype)
                raise IndexError("nanmedian: cannot compute the median of an empty int tensor")
            nan = xp.asarray(np.nan, dtype=x.dtype)
            return self._unary(nan, lambda g: xp.zeros(self.shape, g.dtype), "nanmedian", ())
        if x.dtype.kind == "b":  # torch's kernel names: nanmedian shares median's
            raise _kernel_dtype_error("nanmedian", "median_cpu", x.dtype, _NO_BOOL_HINT)
        v = nanmedian(flat, 0).values.data
        same = xp.isnan(x) if xp.isnan(v) else x == v
        share = same / same.sum()

        def _grad(g: Any) -> Any:
            return (g * share).astype(g.dtype).reshape(self.shape)

        return self._unary(v, _grad, "nanmedian", saves=())
    d = _dim(dim, self.data.ndim, "nanmedian")
    x = self.reshape(1) if self.data.ndim == 0 else self
    if x.shape[d] == 0:
        raise IndexError(f"nanmedian(): Expected reduction dim {d} to have non-zero size.")
    if x.data.dtype.kind == "b":
        raise _kernel_dtype_error("nanmedian", "median_out", x.data.dtype, _NO_BOOL_HINT)
    order = xp.argsort(x.data, axis=d, kind="stable")  # NaN last
    k = (~xp.isnan(x.data)).sum(axis=d, keepdims=True)
    pos = xp.where(k > 0, (k - 1) // 2, 0)
    idx = xp.take_along_axis(order, pos, axis=d).astype(np.int64)
    vals = x.gather(d, Tensor(idx))
    if not keepdim or self.data.ndim == 0:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    if self.data.ndim == 0:
        vals, idx = vals.reshape(()), idx.reshape(())
    return _NanmedianResult(vals, _no_graph(idx, "nanmedian"))


@_method
def unique_consecutive(
    self: Tensor, return_inverse: bool = False, return_counts: bool = False, dim: Any = None
) -> Any:
    """The tensor with runs of equal consecutive elements (or slices along dim) collapsed,
    as torch.unique_consecutive; optional inverse indices and run lengths. No gradient."""
    xp = _xp(self)
    x = self.data
    if dim is None:
        flat = x.reshape(-1)
        if flat.size:
            starts = xp.concatenate([xp.ones(1, bool), flat[1:] != flat[:-1]])
        else:
            starts = xp.zeros(0, bool)
        out = flat[starts]
        inv_shape = x.shape
    else:
        d = _dim(dim, x.ndim, "unique_consecutive")
        m = xp.moveaxis(x, d, 0).reshape(x.shape[d], -1)
        if m.shape[0]:
            diff = (m[1:] != m[:-1]).any(axis=1) if m.shape[1] else xp.zeros(m.shape[0] - 1, bool)
            starts = xp.concatenate([xp.ones(1, bool), diff])
        else:
            starts = xp.zeros(0, bool)
        out = xp.moveaxis(xp.moveaxis(x, d, 0)[starts], 0, d)
        inv_shape = (x.shape[d],)
    res = [_no_graph(xp.ascontiguousarray(out), "unique_consecutive")]
    if return_inverse:
        inv = (xp.cumsum(starts) - 1).astype(np.int64).reshape(inv_shape)
        res.append(_no_graph(inv, "unique_consecutive"))
    if return_counts:
        first = xp.flatnonzero(starts)
        counts = xp.diff(xp.concatenate([first, xp.asarray([starts.size])])).astype(np.int64)
        res.append(_no_graph(counts, "unique_consecutive"))
    return res[0] if len(res) == 1 else tuple(res)


# ---- random draws -----------------------------------------------------------------------


@_method
def bernoulli(self: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:
    """1 with probability self (or p), else 0, in self's dtype, as torch.bernoulli; draws
    from deltagrad's generator (or generator=). No gradient."""
    rng = _creation._generator(generator, "bernoulli")
    if self.data.dtype.kind != "f" and p is None:
        raise _kernel_dtype_error("bernoulli", "bernoulli_tensor_cpu_self_", self.data.dtype)
    prob = self.data if p is None else p
    pa = np.asarray(_host(prob.data if isinstance(prob, Tensor) else prob), dtype=np.float64)
    if pa.size and (np.isnan(pa).any() or pa.min() < 0 or pa.max() > 1):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    draw = rng.random(self.shape) < pa
    from .tensor import to_device

    out = draw.astype(self.data.dtype)
    return _no_graph(
        to_device(out, self.device.type) if self.device.type != "cpu" else out, "bernoulli"
    )


@_method
def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Fill self with 0 / 1 draws with probability p, in place."""
    return self._inplace_from(
        "bernoulli_",
        lambda: bernoulli(
            Tensor(_xp(self).zeros(self.shape, self.data.dtype)), p, generator=generator
        ),
        p,
    )


@_method
def multinomial(
    self: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None
) -> Tensor:
    """num_samples category indices per row of the (unnormalized) weights in self, with or
    without replacement, as torch.multinomial; int64, no gradient."""
    x = self.data
    if x.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if x.dtype.kind != "f":
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {self.dtype}"
        )
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(
            f"multinomial(): argument 'num_samples' must be int, not {type(num_samples).__name__}"
        )
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    rows = np.asarray(x.get() if hasattr(x, "get") else x, dtype=np.float64).reshape(
        -1, x.shape[-1]
    )
    n = rows.shape[1]
    if not replacement and num_samples > n:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    sums = rows.sum(1)
    if (sums <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = _creation._generator(generator, "multinomial")
    if replacement:
        cdf = np.cumsum(rows / sums[:, None], axis=1)
        u = rng.random((rows.shape[0], num_samples))
        out = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
        out = np.minimum(out, n - 1)
    else:  # torch's: the num_samples largest p / Exp(1) draws (zero weights come last)
        with np.errstate(divide="ignore"):
            keys = rows / rng.exponential(size=rows.shape)
        out = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64)
    out = out.reshape(x.shape[:-1] + (num_samples,))
    if self.device.type != "cpu":
        from .tensor import to_device

        out = to_device(out, self.device.type)
    return _no_graph(out, "multinomial")


# ---- linear algebra: dg.linalg ----------------------------------------------------------


@_method
def det(self: Tensor) -> Tensor:
    """The determinant, as torch.det."""
    return _la.det(self)


@_method
def logdet(self: Tensor) -> Tensor:
    """log(det), as torch.logdet (NaN for a negative determinant)."""
    return _la.logdet(self)


@_method
def slogdet(self: Tensor) -> Any:
    """(sign, log|det|), as torch.slogdet."""
    r = _la.slogdet(self)
    return _SlogdetResult(r[0], r[1])


@_method
def inverse(self: Tensor) -> Tensor:
    """The matrix inverse, as torch.inverse."""
    return _la.inverse(self)


@_method
def pinverse(self: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, as torch.pinverse."""
    return _la.pinverse(self, rcond)


@_method
def cholesky(self: Tensor, upper: bool = False) -> Tensor:
    """The Cholesky factor (lower, or upper), as torch.cholesky."""
    return _la.cholesky(self, upper=upper)


@_method
def qr(self: Tensor, some: bool = True) -> Any:
    """(Q, R), reduced when some, as torch.qr."""
    r = _la.qr(self, "reduced" if some else "complete")
    return _QRResult(r[0], r[1])


@_method
def svd(self: Tensor, some: bool = True, compute_uv: bool = True) -> Any:
    """(U, S, V) with self = U diag(S) V^T (V, not Vh), as torch.svd; compute_uv False
    gives zero U (m x m) and V (n x n)."""
    if not compute_uv:
        s = _la.svdvals(self)
        xp = _xp(self)
        m, n = self.shape[-2], self.shape[-1]
        lead = self.shape[:-2]
        return _SVDResult(
            Tensor(xp.zeros((*lead, m, m), self.data.dtype)),
            s,
            Tensor(xp.zeros((*lead, n, n), self.data.dtype)),
        )
    u, s, vh = _la.svd(self, full_matrices=not some)
    return _SVDResult(u, s, vh.transpose(-2, -1))


@_method
def matrix_power(self: Tensor, n: int) -> Tensor:
    """self multiplied by itself n times (n < 0: of the inverse; 0: identity), as
    torch.matrix_power, by repeated squaring."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if self.data.ndim < 2 or self.shape[-1] != self.shape[-2]:
        raise _ShapeError(
            f"linalg.matrix_power: A must be batches of square matrices, but they are "
            f"{self.shape[-2] if self.data.ndim >= 2 else ''} by "
            f"{self.shape[-1] if self.data.ndim else ''} matrices"
        )
    if n == 0:
        xp = _xp(self)
        eye = xp.broadcast_to(xp.eye(self.shape[-1], dtype=self.data.dtype), self.shape)
        return Tensor(xp.ascontiguousarray(eye))
    a = self.inverse() if n < 0 else self
    k = abs(int(n))
    result: Tensor | None = None
    while k:
        if k & 1:
            result = a if result is None else result @ a
        k >>= 1
        if k:
            a = a @ a
    assert result is not None
    return result


def _mT(a: Any) -> Any:
    return get_array_module(a).swapaxes(a, -1, -2)


def _check_factor(a: Tensor, op: str, name: str, kernel: str) -> None:
    """torch's checks on a batch (*, n, n) of Cholesky factors."""
    if a.data.ndim < 2:
        raise _ShapeError(
            f"{op}: {name} should have at least 2 dimensions, but has {a.data.ndim} dimensions "
            "instead"
        )
    if a.shape[-1] != a.shape[-2]:
        raise _ShapeError(
            f"{op}: {name} must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )
    if a.data.dtype.kind != "f":
        raise _kernel_dtype_error(op, kernel, a.data.dtype, "pass a float32 or float64 tensor")


def _lower_factor(a: Any, upper: bool) -> Any:
    """The lower Cholesky factor L that a batch of matrices a holds: its lower triangle, or
    its upper triangle's transpose (upper); the other triangle is not read, as LAPACK's."""
    xp = get_array_module(a)
    return xp.ascontiguousarray(xp.tril(_mT(a) if upper else a))


def _raise_zero_diagonal(low: Any, op: str, what: str) -> None:
    """torch's LinAlgError for a factor with a zero on its diagonal (the first one); what:
    the step that could not be completed."""
    xp = get_array_module(low)
    n = low.shape[-1]
    if low.size == 0:
        return
    zero = (xp.diagonal(low, 0, -2, -1) == 0).reshape(-1, n)
    rows = xp.flatnonzero(zero.any(axis=-1))
    if rows.size:
        i = int(rows[0])
        k = int(xp.flatnonzero(zero[i])[0]) + 1
        where_ = f"(Batch element {i}): " if low.ndim > 2 else ""
        raise _la.LinAlgError(
            f"{op}: {where_}The diagonal element {k} is zero, the {what} could not be "
            "completed because the input matrix is singular."
        )


def _cholesky_inverse_node(a: Tensor, upper: bool, out: Any = None) -> Tensor:
    """(L L^T)^-1 from the factor's triangle; the gradient is torch's cholesky_inverse_backward,
    -(C A) (-(A C) when upper), C = out (G + G^T) out, from the whole input A (so the unread
    triangle gets one too), as torch; out: the result already computed."""
    if out is None:
        low = _lower_factor(a.data, upper)
        _raise_zero_diagonal(low, "cholesky_inverse", "inversion")
        linv = _la._tri_inv(low, lower=True)
        with np.errstate(all="ignore"):
            out = _mT(linv) @ linv
        out = (out + _mT(out)) / 2  # exactly symmetric, as LAPACK's potri

    def _backward(g: Any) -> None:
        c = out @ (g + _mT(g)) @ out
        a._accumulate(-(a.data @ c) if upper else -(c @ a.data))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        inv = _cholesky_inverse_node(a, upper, out)
        c = inv @ (g + g.mT) @ inv
        return (-(a @ c) if upper else -(c @ a),)

    return Tensor._make(out, (a,), _backward, "cholesky_inverse", dbackward=_dbackward)


@_method
def cholesky_inverse(self: Tensor, upper: bool = False) -> Tensor:
    """The inverse of L L^T (U^T U when upper) from its Cholesky factor, as torch: only the
    factor's triangle is read (its gradient, torch's formula, reaches the whole input)."""
    if self.data.ndim < 2:
        raise _ShapeError("cholesky_inverse: The input tensor A must have at least 2 dimensions.")
    _check_factor(self, "cholesky_inverse", "A", "cholesky_inverse_out_cpu")
    return _cholesky_inverse_node(self, bool(upper))


def _cholesky_solve_array(b: Any, low: Any) -> Any:
    """X with L L^T X = b for the lower factors low (*, n, n), batches broadcast."""
    xp = get_array_module(b)
    batch = np.broadcast_shapes(b.shape[:-2], low.shape[:-2])
    bb = xp.broadcast_to(b, (*batch, *b.shape[-2:]))
    lb = xp.broadcast_to(low, (*batch, *low.shape[-2:]))
    if bb.size == 0 or lb.size == 0:
        return xp.zeros(bb.shape, b.dtype)
    # a zero on the diagonal: an error (torch's potrs returns inf / NaN), checked first as
    # an LU solve may not meet an exact zero pivot
    _raise_zero_diagonal(low, "cholesky_solve", "solve")
    with np.errstate(all="ignore"):
        return xp.linalg.solve(_mT(lb), xp.linalg.solve(lb, bb))


def _cholesky_solve_node(b: Tensor, a: Tensor, upper: bool, out: Any = None) -> Tensor:
    """X with (L L^T) X = b, L from a's triangle; the gradients are torch's
    cholesky_solve_backward: gB = cholesky_solve(G, A), gA = -(S A) (-(A S) when upper),
    S = gB X^T + X gB^T, from the whole input A, as torch."""
    if out is None:
        out = _cholesky_solve_array(b.data, _lower_factor(a.data, upper))

    def _backward(g: Any) -> None:
        gb = _cholesky_solve_array(g, _lower_factor(a.data, upper))
        if b.requires_grad:
            b._accumulate(gb)
        if a.requires_grad:
            s = gb @ _mT(out)
            s = s + _mT(s)
            a._accumulate(-(a.data @ s) if upper else -(s @ a.data))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        gb = _cholesky_solve_node(g, a, upper)
        ga = None
        if a.requires_grad:
            s = gb @ _cholesky_solve_node(b, a, upper, out).mT
            s = s + s.mT
            ga = -(a @ s) if upper else -(s @ a)
        return gb, ga

    return Tensor._make(out, (b, a), _backward, "cholesky_solve", dbackward=_dbackward)


@_method
def cholesky_solve(self: Tensor, input2: Any, upper: bool = False) -> Tensor:
    """X with (L L^T) X = self, L = input2 (U^T U when upper), as torch.cholesky_solve: only
    the factor's triangle is read (its gradient, torch's formula, reaches the whole input2);
    batch dimensions broadcast. LinAlgError for a zero on the factor's diagonal."""
    op = "cholesky_solve"
    a = _tensor_arg(input2, op, "input2")
    if self.data.ndim < 2:
        raise _ShapeError(
            f"{op}: b should have at least 2 dimensions, but has {self.data.ndim} dimensions "
            "instead"
        )
    _check_factor(a, op, "A", "cholesky_solve_cpu")
    if self.data.dtype != a.data.dtype:
        raise RuntimeError(
            f"{op}: Expected b and A to have the same dtype, but found b of type {self.dtype} "
            f"and A of type {a.dtype} instead."
        )
    if self.shape[-2] != a.shape[-1]:
        raise _ShapeError(
            f"Incompatible matrix sizes for {op}: each A matrix is {a.shape[-2]} by "
            f"{a.shape[-1]} but each b matrix is {self.shape[-2]} by {self.shape[-1]}"
        )
    try:
        np.broadcast_shapes(self.shape[:-2], a.shape[:-2])
    except ValueError:
        raise _ShapeError(
            f"{op}: the batch dimensions of b {self.shape} and A {a.shape} do not broadcast"
        ) from None
    return _cholesky_solve_node(self, a, bool(upper))


@_method
def triangular_solve(
    self: Tensor,
    A: Any,
    upper: bool = True,
    transpose: bool = False,  # noqa: N803
    unitriangular: bool = False,
) -> Any:
    """(X, A clone) with op(A) X = self, A's upper (or lower) triangle used, as the
    deprecated torch.triangular_solve (gradient to A's triangle only)."""
    a = _tensor_arg(A, "triangular_solve", "A")
    tri = a.triu(1 if unitriangular else 0) if upper else a.tril(-1 if unitriangular else 0)
    if unitriangular:
        xp = _xp(a)
        tri = tri + Tensor(xp.eye(a.shape[-1], dtype=a.data.dtype))
    if transpose:
        tri = tri.transpose(-2, -1)
    return _TriangularSolveResult(_la.solve(tri, self), a.clone())


# ---- the gamma family: dg.special's functions as methods (torch.Tensor.lgamma, ...) --------


@_method
def lgamma(self: Tensor) -> Tensor:
    from .special import gammaln  # noqa: PLC0415  (special imports this package's ops)

    return gammaln(self)


@_method
def digamma(self: Tensor) -> Tensor:
    from .special import digamma as _digamma  # noqa: PLC0415

    return _digamma(self)


@_method
def polygamma(self: Tensor, n: int) -> Tensor:
    from .special import polygamma as _polygamma  # noqa: PLC0415

    return _polygamma(n, self)


@_method
def mvlgamma(self: Tensor, p: int) -> Tensor:
    from .special import multigammaln  # noqa: PLC0415

    return multigammaln(self, p)


@_method
def igamma(self: Tensor, other: Any) -> Tensor:
    from .special import gammainc  # noqa: PLC0415

    return gammainc(self, other)


@_method
def igammac(self: Tensor, other: Any) -> Tensor:
    from .special import gammaincc  # noqa: PLC0415

    return gammaincc(self, other)


@_method
def i0(self: Tensor) -> Tensor:
    from .special import i0 as _i0  # noqa: PLC0415

    return _i0(self)


# ---- in-place forms ---------------------------------------------------------------------

_INPLACE = (
    "eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and "
    "logical_or logical_xor logical_not copysign ldexp gcd lcm nextafter deg2rad rad2deg "
    "sinc bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift "
    "bitwise_right_shift renorm addr lgamma digamma polygamma mvlgamma igamma igammac i0 "
    "pow floor_divide"
).split()


def install() -> None:
    """Set the methods (and their in-place forms) on Tensor; torch's existing ones stay."""
    for name, fn in _METHODS.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
    for name, prop in _PROPERTIES.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, prop)
    for name in _INPLACE:
        if not hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _inplace_method(name))


install()

_ = cat
