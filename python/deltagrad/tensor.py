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

# Grad mode is per thread (deltagrad._engine._state, a threading.local): a thread evaluating
# under no_grad() never switches recording off for another thread.
from . import _engine  # noqa: E402
from ._engine import _state as _autograd_state  # noqa: E402


def is_grad_enabled() -> bool:
    """False inside `no_grad()` (in this thread): ops then record nothing."""
    return _autograd_state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager / decorator that switches graph recording off (or on) in this thread.
    The mode to restore is kept on the thread's own stack, so one instance (a decorator) may
    be entered by several threads at once."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        st = _autograd_state
        st.mode_stack.append(st.grad_enabled)
        st.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        st = _autograd_state
        st.grad_enabled = st.mode_stack.pop()


def no_grad() -> _GradMode:
    """`with dg.no_grad(): ...` (or `@dg.no_grad()`): ops inside build no graph."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Switch graph recording back on inside a `no_grad()` block."""
    return _GradMode(True)


class set_grad_enabled(_GradMode):
    """`dg.set_grad_enabled(mode)`, as torch: called, sets this thread's grad mode at once;
    as a context manager, restores the previous mode on exit; as a decorator, runs the
    function with `mode`."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: mode: expected a bool, got {type(mode).__name__}")
        self.enabled = bool(mode)
        st = _autograd_state
        self._prev = st.grad_enabled
        st.grad_enabled = self.enabled

    def __enter__(self) -> None:
        pass  # the mode was set when the object was made

    def __exit__(self, *exc: object) -> None:
        _autograd_state.grad_enabled = self._prev

    def __call__(self, fn: Any) -> Any:  # as a decorator: the mode applies inside fn only
        _autograd_state.grad_enabled = self._prev
        return super().__call__(fn)

    def _recreate_cm(self) -> _GradMode:  # a fresh block per call of the decorated function
        return _GradMode(self.enabled)


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
        "_g",  # the gradient an interior node collects while a backward runs (_engine)
        "_hooks",  # None, or the tensor's hooks and retain_grad flag (_engine._Hooks)
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
        self._saved: tuple[tuple[Tensor | None, int, Any], ...] = ()
        self._g: Any = None
        self._hooks: Any = None
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
        out._g = None
        out._hooks = None
        for p in parents:
            if p.requires_grad:
                if _autograd_state.grad_enabled:
                    break
                parents = ()
                break
        else:
            parents = ()
        if parents:
            out.requires_grad = True
            out._prev = tuple([p for p in parents if p.requires_grad])
            out._backward = backward
            # (tensor, its version, its array): backward raises if either changed. The output
            # is saved as None (not as itself: no reference cycle); its version is 0.
            out._saved = tuple(
                [
                    (None, 0, data) if t is None else (t, t._version[0], t.data)
                    for t in ((*parents, None) if saves is None else saves)
                ]
            )
        else:
            out.requires_grad = False
            out._prev = ()
            out._backward = None
            out._saved = ()
        return out

    def _check_saved(self) -> None:
        """Raise if a tensor this node's backward reads was changed in place, or had its
        .data replaced, since the forward."""
        for saved, version, arr in self._saved:
            t = self if saved is None else saved
            if t._version[0] != version or t.data is not arr:
                self._saved_changed(saved, t, version)

    def _saved_changed(self, saved: Tensor | None, t: Tensor, version: int) -> None:
        what = "its output" if saved is None else f"an input of shape {t.shape}"
        if t._version[0] != version:
            raise RuntimeError(
                f"one of the tensors needed to compute the gradient of '{self._op}' "
                f"({what}) was modified by an in-place operation: it is at version "
                f"{t._version[0]}, expected version {version}. Do the in-place change "
                "(e.g. optimizer.step()) after backward(), or use an out-of-place op."
            )
        raise RuntimeError(
            f"one of the tensors needed to compute the gradient of '{self._op}' "
            f"({what}) had its .data replaced (t.data = ...; load_state_dict, "
            "Module.to) after the forward: the gradient would use the new values. "
            "Replace the data before the forward, or run the forward again."
        )

    def _accumulate(self, g: Any) -> None:
        """Send g (d loss / d self) to self while a backward runs: an interior node adds it to
        the gradient it collects (a new array, never written in place); a leaf hands it to the
        engine, which sums it and accumulates it into .grad on the leaf's turn."""
        data = self.data
        if g.dtype != data.dtype:
            g = g.astype(data.dtype)
        if g.shape != data.shape:
            g = _unbroadcast(g, data.shape)
        if self._backward is None:  # a leaf: summed in this thread's running backward
            task = _autograd_state.task
            if task is None:  # called outside a backward: straight into .grad
                _engine.add_leaf_grad(self, g)
                return
            buf = task[0]
            prev = buf.get(id(self))
            buf[id(self)] = (self, g) if prev is None else (self, prev[1] + g)
        else:
            prev = self._g
            self._g = g if prev is None else prev + g

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

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Backpropagate: accumulate d(self)/d(leaf) into the .grad of every leaf that requires
        grad (as torch). gradient is d(loss)/d(self) (defaults to 1 for a one-element tensor).
        retain_graph keeps the graph for another backward; inputs (a Tensor or a sequence of
        them) limits the accumulation to those tensors. See docs/ARCHITECTURE.md, "Gradients"."""
        if create_graph:
            raise NotImplementedError(
                "backward: create_graph=True (higher-order gradients) is not supported"
            )
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no graph "
                "(no input had requires_grad=True, or it was made under no_grad)"
            )
        if gradient is None and self.data.size == 1:
            grad = get_array_module(self.data).ones(self.data.shape, dtype=self.data.dtype)
        else:
            grad = _root_grad(self, gradient, "backward()")
        if inputs is not None:
            inputs = _check_inputs(inputs, "backward")
        if inputs is None:
            _engine.backward(self, grad, retain_graph, _graph_freed)
        else:
            _engine.run_backward([self], [grad], retain_graph, _graph_freed, inputs, True)

    def register_hook(self, hook: Callable[[Tensor], Any]) -> _engine.RemovableHandle:
        """hook(grad) runs each time the gradient of self is computed (once per backward, on
        the complete gradient, a Tensor); it may return a replacement (Tensor or array) or None.
        Returns a handle whose .remove() unregisters it (as torch)."""
        if not callable(hook):
            raise TypeError(f"register_hook: hook: expected a callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError(
                "register_hook: cannot register a hook on a tensor that does not require grad"
            )
        return _engine.add_hook(self, hook, post=False)

    def register_post_accumulate_grad_hook(
        self, hook: Callable[[Tensor], Any]
    ) -> _engine.RemovableHandle:
        """hook(tensor) runs after backward accumulated into this leaf's .grad (once per
        backward; not for dg.autograd.grad). It returns None. As torch's."""
        if not callable(hook):
            raise TypeError(
                "register_post_accumulate_grad_hook: hook: expected a callable, got "
                f"{type(hook).__name__}"
            )
        if not self.requires_grad:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                "does not require grad"
            )
        if self._backward is not None:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                "registered on non-leaf tensors"
            )
        return _engine.add_hook(self, hook, post=True)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf in .grad after backward (accumulated like a
        leaf's). A no-op on a leaf, as torch."""
        if not self.requires_grad:
            raise RuntimeError(
                "retain_grad: cannot retain the gradient of a tensor that does not require grad"
            )
        if self._backward is not None:
            _engine.hooks_of(self).retain = True

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf whose .grad backward fills (after retain_grad())."""
        return self._backward is not None and self._hooks is not None and self._hooks.retain

    def detach(self) -> Tensor:
        """The same data, cut from the graph (it shares the version counter too, so an in-place
        change through the detached tensor is still caught)."""
        out = Tensor._make(self.data, (), _graph_freed, "detach")
        out._version = self._version
        return out

    # ---- in-place ops (torch semantics) ------------------------------------------------------

    @contextlib.contextmanager
    def _inplace(self, op: str) -> Any:
        """`with self._inplace(op) as d: d[...] = ...`: checks that self may be changed in place,
        yields its array, and bumps the version once the change went through (an op that
        raises, e.g. on a shape mismatch, writes nothing and leaves the version alone)."""
        if self.requires_grad and _autograd_state.grad_enabled:
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

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop .grad (set_to_none=True, the default, as torch) or fill the existing buffer
        with zeros in place (set_to_none=False: backward then accumulates into it)."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            self.grad.fill(0)

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
                if p == 2:
                    self._accumulate(g * 2 * self.data)
                elif p == 0:  # d x**0 / dx = 0 everywhere, also at x = 0 (not 0 * inf = nan)
                    self._accumulate(get_array_module(g).zeros_like(g))
                elif p < 1:  # x**(p-1) is inf at 0: the derivative's value there (as torch)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        self._accumulate(g * (p * self.data ** (p - 1)))
                else:
                    self._accumulate(g * (p * self.data ** (p - 1)))

            return Tensor._make(self.data**p, (self,), _backward, "pow")
        other = self._lift(exponent)
        out_data = self.data**other.data

        def _backward_t(g: Any) -> None:
            # torch's masks: d/dx is 0 where the exponent is 0 (x**0 = 1, even at x = 0), and
            # d/de is 0 where x = 0 and e >= 0 (0**e is flat there), not 0 * inf = nan
            xp = get_array_module(g)
            x, e = self.data, other.data
            with np.errstate(divide="ignore", invalid="ignore"):
                if self.requires_grad:
                    dx = xp.where(e == 0, 0, e * x ** (e - 1))
                    self._accumulate(_unbroadcast(g * dx, self.shape))
                if other.requires_grad:
                    de = xp.where((x == 0) & (e >= 0), 0, out_data * xp.log(x))
                    other._accumulate(_unbroadcast(g * de, other.shape))

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
        other = self._lift(other)
        a, b = self, other
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least 1 dimension, got shapes "
                f"{a.shape} and {b.shape}"
            )
        if a.ndim > 2 or b.ndim > 2:
            raise ValueError(
                f"matmul: batched (>2-D) operands are not supported, got shapes "
                f"{a.shape} and {b.shape}"
            )
        if a.ndim == 1 or b.ndim == 1:  # vectors as 1-row / 1-column matrices, as numpy does
            out_shape = a.shape[:-1] + b.shape[1:]
            a2 = a.reshape(1, -1) if a.ndim == 1 else a
            b2 = b.reshape(-1, 1) if b.ndim == 1 else b
            return (a2 @ b2).reshape(out_shape)
        if a.shape[1] != b.shape[0]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not line up "
                f"({a.shape[1]} != {b.shape[0]})"
            )
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: operands have different dtypes {a.dtype} and {b.dtype}")

        def _backward(g: Any) -> None:
            if a.requires_grad:
                a._accumulate(ops.matmul(g, b.data, trans_b=True))
            if b.requires_grad:
                b._accumulate(ops.matmul(a.data, g, trans_a=True))

        return Tensor._make(ops.matmul(a.data, b.data), (a, b), _backward, "matmul")

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


_engine.Tensor = Tensor  # what hooks receive; the engine imports nothing from the package


def _root_grad(t: Tensor, gradient: Any, fn: str) -> Any:
    """d(loss)/d(t) for a backward from t: a fresh array of t's shape and dtype (a copy: the
    engine may hand it to a .grad, which must never alias the caller's array)."""
    xp = get_array_module(t.data)
    if gradient is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"{fn}: grad can be implied only for a one-element output, got shape "
                f"{t.shape}; pass the gradient (backward(gradient), grad_outputs)"
            )
        return xp.ones(t.data.shape, dtype=t.data.dtype)
    gradient = gradient.data if isinstance(gradient, Tensor) else gradient
    if is_cuda_array(gradient) != is_cuda_array(t.data):
        raise RuntimeError(
            f"{fn}: grad is on {'cuda' if is_cuda_array(gradient) else 'cpu'}, the output on "
            f"{t.device}"
        )
    grad = xp.array(gradient, dtype=t.data.dtype)  # a copy: never alias the caller's
    if grad.shape != t.shape:
        raise ValueError(
            f"{fn}: grad has shape {grad.shape}, expected the output's shape {t.shape}"
        )
    return grad


def _check_inputs(inputs: Any, fn: str) -> list[Tensor]:
    """inputs (a Tensor or a sequence of them), each requiring grad."""
    items = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not items:
        raise ValueError(f"{fn}: inputs: expected at least one Tensor, got an empty sequence")
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}: inputs[{i}] is a {type(t).__name__}, expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"{fn}: inputs[{i}] (shape {t.shape}) does not require grad")
    return items


def tensor(
    data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
) -> Tensor:
    """A new leaf Tensor. numpy / cupy arrays keep their dtype (and share memory when no
    conversion is needed); Python floats become float32, as in torch. device: "cpu" or
    "cuda" (copies there when needed); None keeps the data where it is (lists: the CPU)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)
