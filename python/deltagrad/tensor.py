"""Tensor: an array (numpy or cupy) with reverse-mode autodiff, micrograd-style.

Each op builds its output and attaches a `_backward(g)` closure that sends the error signal g
(d loss / d output) back to its inputs, accumulating into their gradients. `backward()` sorts the
graph topologically and walks it in reverse (Bishop, *Deep Learning*, Algorithm 8.1). Gradients
are treated as values: accumulation makes a new array (`a.grad = a.grad + g`) rather than writing
in place, which lets a leaf take over an upstream gradient by reference instead of copying it.

Misuse is an exception, never a wrong gradient:
- every Tensor carries a version counter, bumped by each in-place change (`add_`, `t[i] = v`,
  `+=`, an optimizer step). A graph node remembers the versions of the tensors its backward
  reads; backward() raises if one of them changed since (torch's "modified by an inplace
  operation").
- a second backward() through a graph whose saved values were freed raises.
- operands on different devices raise.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import numpy as np

from . import ops
from .backends import to_device
from .backends._args import is_device_array as is_cuda_array
from .backends._args import norm_axes

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "get_array_module"]

_grad_enabled = True


def is_grad_enabled() -> bool:
    """False inside `no_grad()`: ops then record nothing."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager / decorator that switches graph recording off (or on)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev.append(_grad_enabled)
        _grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._prev.pop()


def no_grad() -> _GradMode:
    """`with dg.no_grad(): ...` (or `@dg.no_grad()`): ops inside build no graph."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Switch graph recording back on inside a `no_grad()` block."""
    return _GradMode(True)


def get_array_module(x: Any) -> Any:
    """numpy for host arrays, cupy (imported on first need) for device arrays."""
    if is_cuda_array(x):
        import cupy

        return cupy
    return np


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _graph_freed(g: Any) -> None:
    raise RuntimeError(
        "trying to backward through the graph a second time: its saved values were freed by "
        "the first backward(); call backward(retain_graph=True) the first time to keep them"
    )


def _unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """The gradient of broadcasting an array of `shape` to g.shape: sum over broadcast axes."""
    if g.shape == shape:
        return g
    return ops.sum_to_shape(g, shape)


def _is_basic_index(idx: Any) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(
        i is None
        or i is Ellipsis
        or isinstance(i, (slice, int, np.integer))
        and not isinstance(i, bool)
        for i in items
    )


class Tensor:
    """An n-d array that records the ops applied to it, for reverse-mode autodiff.

    Build one with `dg.tensor(data, requires_grad=...)`. Arithmetic (+ - * / @ ** neg),
    `.T`, `.reshape`, `.sum`, `.mean`, indexing and every function of deltagrad.functional
    build a graph when an input requires grad; `loss.backward()` fills `.grad` of the leaves.
    """

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "_backward",
        "_prev",
        "_op",
        "_version",
        "_saved",
        "__weakref__",
    )
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
        if is_cuda_array(data):
            xp = get_array_module(data)
            arr = data if dtype is None else xp.asarray(data, dtype=dtype)
        else:
            arr = np.asarray(data, dtype=dtype)
            if dtype is None and not isinstance(data, np.ndarray) and arr.dtype == np.float64:
                arr = arr.astype(np.float32)  # Python floats default to float32, as in torch
        if device is not None:
            arr = to_device(arr, device)
        self.data = arr
        self.grad: Any = None
        self.requires_grad = False
        self._backward: Callable[[Any], None] | None = None
        self._prev: tuple[Tensor, ...] = ()
        self._op = ""
        self._version = [0]  # a box: detach() shares it, as it shares the data
        self._saved: tuple[tuple[Tensor | None, int], ...] = ()
        if requires_grad:
            self.requires_grad_(True)

    # ---- construction of graph nodes ------------------------------------------------------

    @staticmethod
    def _make(
        data: Any,
        parents: tuple[Tensor, ...],
        backward: Callable[[Any], None],
        op: str,
        saves: tuple[Tensor, ...] | None = None,
    ) -> Tensor:
        """The output of an op: a graph node when recording and some parent requires grad.

        saves: the tensors whose data `backward` reads (default: every parent and the output
        itself; pass () for ops like add whose backward reads no data). Their versions are
        recorded now and checked when backward runs."""
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out._op = op
        out._version = [0]
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._prev = tuple(p for p in parents if p.requires_grad)
            out._backward = backward
            # the output is saved as None (not as itself: no reference cycle); its version is 0
            saved = (*parents, None) if saves is None else saves
            out._saved = tuple((t, 0 if t is None else t._version[0]) for t in saved)
        else:
            out.requires_grad = False
            out._prev = ()
            out._backward = None
            out._saved = ()
        return out

    def _check_saved(self) -> None:
        """Raise if a tensor this node's backward reads was changed in place since the forward."""
        for saved, version in self._saved:
            t = self if saved is None else saved
            if t._version[0] != version:
                what = "its output" if saved is None else f"an input of shape {t.shape}"
                raise RuntimeError(
                    f"one of the tensors needed to compute the gradient of '{self._op}' "
                    f"({what}) was modified by an in-place operation: it is at version "
                    f"{t._version[0]}, expected version {version}. Do the in-place change "
                    "(e.g. optimizer.step()) after backward(), or use an out-of-place op."
                )

    def _accumulate(self, g: Any) -> None:
        """Add g to self.grad. A leaf takes g over by reference the first time when it owns a
        fresh, writable, contiguous array nobody else was given; otherwise it gets a copy."""
        data = self.data
        if g.dtype != data.dtype:
            g = g.astype(data.dtype)
        if g.shape != data.shape:
            g = _unbroadcast(g, data.shape)
        if self.grad is None:
            if self._backward is None:  # a leaf: its .grad is user-visible, so never alias
                if (
                    id(g) in _handed
                    or not g.flags.c_contiguous
                    or not getattr(g.flags, "writeable", True)
                    or isinstance(g.base, type(g))
                ):  # a view of another gradient
                    g = g.copy()
                _handed.add(id(g))
            self.grad = g
        else:
            self.grad = self.grad + g

    def _lift(self, other: Any) -> Tensor:
        """A constant operand (number, array) as a Tensor of self's dtype and device."""
        if isinstance(other, Tensor):
            if is_cuda_array(other.data) != is_cuda_array(self.data):
                raise RuntimeError(
                    f"expected all tensors to be on the same device, got "
                    f"{self.device} and {other.device}; move one with .to()"
                )
            return other
        xp = get_array_module(self.data)
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            return Tensor(xp.asarray(other, dtype=self.data.dtype))
        if is_cuda_array(other) or isinstance(other, np.ndarray):
            if is_cuda_array(other) != is_cuda_array(self.data):
                raise RuntimeError(
                    f"expected all operands on the same device: a {self.device} "
                    f"tensor and a {'cuda' if is_cuda_array(other) else 'cpu'} "
                    "array; move one with .to() first"
                )
            return Tensor(other)
        if isinstance(other, (list, tuple, bool)):
            return Tensor(xp.asarray(other, dtype=self.data.dtype))
        raise TypeError(f"unsupported operand type for a Tensor op: {type(other).__name__}")

    # ---- properties -----------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements (as numpy's .size; torch's .size() is .shape here)."""
        return self.data.size

    @property
    def device(self) -> str:
        return "cuda" if is_cuda_array(self.data) else "cpu"

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as a variable to differentiate with respect to (in place)."""
        if self._backward is not None:
            raise RuntimeError(
                "requires_grad can only be changed on a leaf tensor; use .detach() to get one"
            )
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"only float32 / float64 tensors can require grad, got dtype {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shares memory on the CPU; copied from a GPU)."""
        return self.data.get() if is_cuda_array(self.data) else self.data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a Python number, "
                f"got shape {self.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", precision=4, prefix="tensor(")
        extra = [] if self.dtype == np.float32 else [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self._backward is not None:
            extra.append(f"grad_fn=<{self._op}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"

    # ---- autodiff --------------------------------------------------------------------------

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate: accumulate d(self)/d(leaf) into the .grad of every leaf that requires
        grad. grad is d(loss)/d(self) (defaults to 1 for a one-element tensor)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no graph "
                "(no input had requires_grad=True, or it was made under no_grad)"
            )
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implied only for a one-element "
                    f"output, got shape {self.shape}; pass grad="
                )
            grad = xp.ones(self.data.shape, dtype=self.data.dtype)
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            grad = xp.array(grad, dtype=self.data.dtype)  # a copy: never alias the caller's
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): grad has shape {grad.shape}, expected the "
                    f"output's shape {self.shape}"
                )

        # Topological order of the interior nodes (leaves just receive gradients), by an
        # iterative depth-first search: deep graphs must not hit Python's recursion limit.
        topo: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                topo.append(node)
                continue
            if node._backward is None or id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node._prev:
                if p._backward is not None and id(p) not in seen:
                    stack.append((p, False))

        _handed.clear()
        try:
            self._accumulate(grad)
            for node in reversed(topo):  # every consumer of a node runs before the node
                g, node.grad = node.grad, None  # interior nodes keep no gradient (as torch)
                if g is not None:
                    node._check_saved()
                    node._backward(g)
                if not retain_graph:
                    node._backward = _graph_freed
                    node._prev = ()
                    node._saved = ()
        finally:
            _handed.clear()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (it shares the version counter too, so an in-place
        change through the detached tensor is still caught)."""
        out = Tensor(self.data)
        out._version = self._version
        return out

    # ---- in-place ops (torch semantics) ------------------------------------------------------

    @contextlib.contextmanager
    def _inplace(self, op: str) -> Any:
        """`with self._inplace(op) as d: d[...] = ...`: checks that self may be changed in place,
        yields its array, and bumps the version once the change went through (an op that
        raises, e.g. on a shape mismatch, writes nothing and leaves the version alone)."""
        if _grad_enabled and self.requires_grad:
            if self._backward is None:
                raise RuntimeError(
                    f"{op}: a leaf tensor that requires grad cannot be changed in place while "
                    "the graph is being recorded; wrap the update in `with dg.no_grad():`"
                )
            raise RuntimeError(
                f"{op}: in-place changes to a tensor that is part of a graph are not supported; "
                "use the out-of-place op"
            )
        yield self.data
        self._version[0] += 1

    def _operand_data(self, other: Any) -> Any:
        return self._lift(other).data

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * other, in place (broadcasting other to self's shape)."""
        o = self._operand_data(other)
        with self._inplace("add_") as d:
            d += o if alpha == 1.0 else alpha * o
        return self

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self.add_(other, -alpha)

    def mul_(self, other: Any) -> Tensor:
        o = self._operand_data(other)
        with self._inplace("mul_") as d:
            d *= o
        return self

    def div_(self, other: Any) -> Tensor:
        o = self._operand_data(other)
        with self._inplace("div_") as d:
            d /= o
        return self

    def copy_(self, src: Any) -> Tensor:
        o = self._operand_data(src)
        with self._inplace("copy_") as d:
            d[...] = o
        return self

    def fill_(self, value: float) -> Tensor:
        with self._inplace("fill_") as d:
            d.fill(value)
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __setitem__(self, idx: Any, value: Any) -> None:
        if isinstance(idx, Tensor):
            idx = idx.data
        v = value.data if isinstance(value, Tensor) else value
        if isinstance(value, Tensor) and value.device != self.device:
            raise RuntimeError(
                f"__setitem__: value is on {value.device}, the tensor on {self.device}"
            )
        with self._inplace("__setitem__") as d:
            d[idx] = v

    def zero_grad(self) -> None:
        self.grad = None

    # ---- devices / dtypes ------------------------------------------------------------------

    def to(self, device: Any = None, dtype: Any = None) -> Tensor:
        """A copy on `device` ("cpu" / "cuda") and/or of `dtype`; differentiable."""
        if device is not None and not isinstance(device, str):
            device, dtype = None, device
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None and device != out.device:
            src = out.device
            a = to_device(out.data, device)

            def _backward(g: Any) -> None:
                parent._accumulate(to_device(g, src))

            parent = out
            out = Tensor._make(a, (parent,), _backward, "to", saves=())
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype: Any) -> Tensor:
        src = self.data.dtype

        def _backward(g: Any) -> None:
            self._accumulate(g.astype(src))

        return Tensor._make(self.data.astype(dtype), (self,), _backward, "astype", saves=())

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # ---- arithmetic ------------------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(g, other.shape))

        return Tensor._make(self.data + other.data, (self, other), _backward, "add", saves=())

    def __sub__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(-g, other.shape))

        return Tensor._make(self.data - other.data, (self, other), _backward, "sub", saves=())

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g * other.data, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(g * self.data, other.shape))

        return Tensor._make(self.data * other.data, (self, other), _backward, "mul")

    def __truediv__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out_data = self.data / other.data

        def _backward(g: Any) -> None:
            gb = g / other.data
            if self.requires_grad:
                self._accumulate(_unbroadcast(gb, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(-gb * out_data, other.shape))

        return Tensor._make(out_data, (self, other), _backward, "div")

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (int, float, np.number)) and not isinstance(exponent, bool):
            p = exponent

            def _backward(g: Any) -> None:
                self._accumulate(g * (p * self.data ** (p - 1)) if p != 2 else g * 2 * self.data)

            return Tensor._make(self.data**p, (self,), _backward, "pow")
        other = self._lift(exponent)
        out_data = self.data**other.data

        def _backward_t(g: Any) -> None:
            xp = get_array_module(g)
            if self.requires_grad:
                self._accumulate(
                    _unbroadcast(g * other.data * self.data ** (other.data - 1), self.shape)
                )
            if other.requires_grad:
                other._accumulate(_unbroadcast(g * out_data * xp.log(self.data), other.shape))

        return Tensor._make(out_data, (self, other), _backward_t, "pow")

    def __neg__(self) -> Tensor:
        def _backward(g: Any) -> None:
            self._accumulate(-g)

        return Tensor._make(-self.data, (self,), _backward, "neg", saves=())

    def __radd__(self, other: Any) -> Tensor:
        return self + other

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self * other

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __rpow__(self, other: Any) -> Tensor:
        return self._lift(other) ** self

    def __matmul__(self, other: Any) -> Tensor:
        """torch.matmul: 1-D @ 1-D is the dot product, a 1-D operand is a row (left) or a
        column (right) vector whose dimension is dropped from the result, and >2-D operands
        are batches of matrices with broadcast batch dimensions, all through one
        strided-batched GEMM forward and backward (nothing broadcast is copied)."""
        other = self._lift(other)
        a, b = self, other
        ad, bd = a.data, b.data
        if ad.ndim == 2 and bd.ndim == 2:  # the hot path
            if ad.shape[1] != bd.shape[0]:
                raise ValueError(
                    f"matmul: shapes {a.shape} and {b.shape} do not line up "
                    f"({ad.shape[1]} != {bd.shape[0]})"
                )
            if ad.dtype != bd.dtype:
                raise TypeError(f"matmul: operands have different dtypes {a.dtype} and {b.dtype}")

            def _backward(g: Any) -> None:
                if a.requires_grad:
                    a._accumulate(ops.matmul(g, bd, trans_b=True))
                if b.requires_grad:
                    b._accumulate(ops.matmul(ad, g, trans_a=True))

            return Tensor._make(ops.matmul(ad, bd), (a, b), _backward, "matmul")

        if ad.ndim == 0 or bd.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least 1 dimension, got shapes "
                f"{a.shape} and {b.shape}"
            )
        if ad.dtype != bd.dtype:
            raise TypeError(f"matmul: operands have different dtypes {a.dtype} and {b.dtype}")
        a_vec, b_vec = ad.ndim == 1, bd.ndim == 1
        if a_vec:
            ad = ad.reshape(1, -1)  # a row vector
        if b_vec:
            bd = bd.reshape(-1, 1)  # a column vector
        if ad.shape[-1] != bd.shape[-2]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not line up "
                f"({ad.shape[-1]} != {bd.shape[-2]})"
            )
        ba, bb = ad.shape[:-2], bd.shape[:-2]
        nbat = max(len(ba), len(bb))
        pa, pb = (1,) * (nbat - len(ba)) + ba, (1,) * (nbat - len(bb)) + bb
        if any(x != y and x != 1 and y != 1 for x, y in zip(pa, pb)):
            raise ValueError(
                f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} do not "
                f"broadcast ({ba} vs {bb})"
            )
        y = ops.matmul(ad, bd)  # (*batch, m, n)
        full = y.shape
        if a_vec or b_vec:  # drop the vectors' dimensions
            y = y.reshape(full[:-2] + full[-2:-1] * (not a_vec) + full[-1:] * (not b_vec))

        def _backward_nd(g: Any) -> None:
            g = g.reshape(full)
            if a.requires_grad:
                ga = ops.matmul(g, bd, trans_b=True)  # (*batch, m, k)
                if ga.shape != ad.shape:  # summed over the batch dimensions a was broadcast on
                    ga = ops.sum_to_shape(ga, ad.shape)
                a._accumulate(ga.reshape(a.shape))
            if b.requires_grad:
                if ad.ndim > 2 and math.prod(bd.shape[:-2]) == 1:  # one b for all: one GEMM
                    rows = math.prod(full[:-1])
                    gb = ops.matmul(
                        ad.reshape(rows, ad.shape[-1]), g.reshape(rows, full[-1]), trans_a=True
                    ).reshape(bd.shape)
                else:
                    gb = ops.matmul(ad, g, trans_a=True)
                    if gb.shape != bd.shape:
                        gb = ops.sum_to_shape(gb, bd.shape)
                b._accumulate(gb.reshape(b.shape))

        return Tensor._make(y, (a, b), _backward_nd, "matmul")

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # ---- shape ops -------------------------------------------------------------------------

    @property
    def T(self) -> Tensor:
        def _backward(g: Any) -> None:
            self._accumulate(g.T)

        return Tensor._make(self.data.T, (self,), _backward, "transpose", saves=())

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out_data = self.data.reshape(shape)
        except ValueError as e:
            raise ValueError(f"reshape: cannot reshape shape {self.shape} into {shape}") from e

        def _backward(g: Any) -> None:
            self._accumulate(g.reshape(self.shape))

        return Tensor._make(out_data, (self,), _backward, "reshape", saves=())

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    def __getitem__(self, idx: Any) -> Tensor:
        if isinstance(idx, Tensor):
            idx = idx.data
        elif isinstance(idx, tuple):
            idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)

        def _backward(g: Any) -> None:
            xp = get_array_module(g)
            gx = xp.zeros_like(self.data)
            if _is_basic_index(idx):
                gx[idx] = g
            elif xp is np:
                np.add.at(gx, idx, g)  # advanced indices may repeat: accumulate
            else:
                import cupyx

                cupyx.scatter_add(gx, idx, g)
            self._accumulate(gx)

        return Tensor._make(self.data[idx], (self,), _backward, "index", saves=())

    # ---- reductions ------------------------------------------------------------------------

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axes = norm_axes(axis, self.ndim, "sum")
        out_data = ops.sum(self.data, axis=axes, keepdims=keepdims)

        def _backward(g: Any) -> None:
            xp = get_array_module(g)
            if not keepdims:
                g = g.reshape([1 if i in axes else n for i, n in enumerate(self.shape)])
            self._accumulate(xp.broadcast_to(g, self.shape))

        return Tensor._make(out_data, (self,), _backward, "sum", saves=())

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axes = norm_axes(axis, self.ndim, "mean")
        count = math.prod(self.shape[i] for i in axes) if self.ndim else 1
        out_data = ops.mean(self.data, axis=axes, keepdims=keepdims)

        def _backward(g: Any) -> None:
            xp = get_array_module(g)
            if not keepdims:
                g = g.reshape([1 if i in axes else n for i, n in enumerate(self.shape)])
            self._accumulate(xp.broadcast_to(g / count, self.shape))

        return Tensor._make(out_data, (self,), _backward, "mean", saves=())

    # ---- elementwise math (the other activations are in deltagrad.functional) --------------

    def exp(self) -> Tensor:
        xp = get_array_module(self.data)
        out_data = xp.exp(self.data)

        def _backward(g: Any) -> None:
            self._accumulate(g * out_data)

        return Tensor._make(out_data, (self,), _backward, "exp")

    def log(self) -> Tensor:
        xp = get_array_module(self.data)

        def _backward(g: Any) -> None:
            self._accumulate(g / self.data)

        return Tensor._make(xp.log(self.data), (self,), _backward, "log")

    def relu(self) -> Tensor:
        return activate(self, "relu")

    def sigmoid(self) -> Tensor:
        return activate(self, "sigmoid")

    def tanh(self) -> Tensor:
        return activate(self, "tanh")


def activate(x: Tensor, act: str, param: float = 0.0) -> Tensor:
    """act(x) (one of ops.ACTIVATIONS) as a graph node: one kernel forward, and a backward
    that saves x or y as ops.saves_input(act) says. functional's activations are built on it."""
    y = ops.activation(x.data, act, param=param)
    saved = x.data if ops.saves_input(act) else y

    def _backward(g: Any) -> None:
        x._accumulate(ops.activation_backward(g, saved, act, param=param))

    return Tensor._make(y, (x,), _backward, act)


# ids of the gradient arrays leaves took over during the current backward(), so that two
# leaves never share one array (an `add` sends the same g to both of its inputs).
_handed: set[int] = set()


def tensor(
    data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
) -> Tensor:
    """A new leaf Tensor. numpy / cupy arrays keep their dtype (and share memory when no
    conversion is needed); Python floats become float32, as in torch. device: "cpu" or
    "cuda" (copies there when needed); None keeps the data where it is (lists: the CPU)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)
