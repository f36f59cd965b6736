"""Tensor: an array (numpy or cupy) with reverse-mode autodiff, micrograd-style.

Each op builds its output and attaches a `_backward(g)` closure that sends the error signal g
(d loss / d output) back to its inputs, accumulating into their gradients. `backward()` sorts the
graph topologically and walks it in reverse (Bishop, *Deep Learning*, Algorithm 8.1); the walk
itself is in _engine.py. A leaf's `.grad` is an array deltagrad owns: taken over by reference
the first time when nobody else holds it, then accumulated into in place (docs/ARCHITECTURE.md,
"Gradients").

Misuse is an exception, never a wrong gradient:
- every Tensor carries a version counter, bumped by each in-place change (`add_`, `t[i] = v`,
  `+=`, an optimizer step). A graph node remembers the versions (and arrays) of the tensors its
  backward reads; backward() raises if one of them changed or its `.data` was replaced since
  (torch's "modified by an inplace operation").
- a second backward() through a graph whose saved values were freed raises.
- operands on different devices raise.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import weakref
from collections import namedtuple
from typing import Any, Callable

import numpy as np

from . import _cpu, ops
from ._cpu import IndexRangeError
from .backends import to_device
from .backends._args import check_device_array
from .backends._args import is_device_array as is_cuda_array

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "inference_mode",
    "is_grad_enabled",
    "set_grad_enabled",
    "get_array_module",
    "cat",
    "stack",
    "where",
]

# Grad mode is per thread (deltagrad._engine._state, a threading.local): a thread evaluating
# under no_grad() never switches recording off for another thread.
from . import _device as _devices  # noqa: E402
from . import _engine  # noqa: E402
from ._engine import _state as _autograd_state  # noqa: E402

_NDARRAY = np.ndarray  # the fast test (_make, _accumulate) that a result is already an array
_CPU_DEVICE, _CUDA_DEVICE = _devices.device("cpu"), _devices.device("cuda")  # Tensor.device
_KEEP_FIRST, _KEEP_SECOND = (True, False), (False, True)  # _make's shared _grad_mask values

# ---- numpy's floating-point warnings off, as torch ------------------------------------------
# torch returns inf / nan silently (exp(800), log(0), 0 / 0, sqrt(-1), float32 overflow) where
# numpy warns (a RuntimeWarning, an error under `-W error`). The ops that do float math on
# numpy arrays run with numpy's error state "ignore" (_fp_silent); so does backward() (its
# closures, and the hooks and autograd.Function backwards it calls). numpy >= 2 keeps that state
# in a context variable: setting and resetting it costs ~0.15 us (the wrapper ~0.3 us per op),
# where a `with np.errstate(all="ignore")` costs ~1.6 us. The saved state also fixes numpy's
# buffer size (np.setbufsize) inside the ops at its value at import (the default). The user's
# own numpy error state holds everywhere else.
try:  # numpy >= 2
    from numpy._core._ufunc_config import _extobj_contextvar as _np_extobj
except ImportError:  # numpy 1.x: np.errstate, entered and left by hand
    _np_extobj = None

if _np_extobj is not None:
    with np.errstate(all="ignore"):
        _FP_QUIET: Any = _np_extobj.get()
    _fp_set: Callable[[Any], Any] = _np_extobj.set
    _fp_reset: Callable[[Any], None] = _np_extobj.reset
else:
    _FP_QUIET = None

    def _fp_set(_: Any) -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _fp_reset(state: Any) -> None:
        state.__exit__(None, None, None)


class _fp_silent_block:  # a context manager, named as one
    """`with _fp_silent_block():` numpy's floating-point warnings off inside (see _fp_silent):
    for a block that runs once (a backward), where a decorator per op would not fit."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _fp_set(_FP_QUIET)

    def __exit__(self, *exc: object) -> None:
        _fp_reset(self._token)


class _ShapeError(RuntimeError, ValueError):
    """A bad shape, size or geometry (operands that do not broadcast or multiply, a reshape to
    another size, a pooling window or padding that does not fit): torch's RuntimeError, still
    the ValueError deltagrad raised before. deltagrad's one such class: the functional modules
    raise it too (as _functional_spatial's _BadArgument)."""


class _ShapeIndexError(IndexError, ValueError):
    """A shape error torch reports as an IndexError (avg_pool2d of a tensor with fewer than 3
    dims looks up dim -3); still the ValueError deltagrad raised before."""


class _ShapeTypeError(TypeError, ValueError):
    """A size of the wrong type (nn.Linear(2.0, 3)): torch's TypeError, still the ValueError
    deltagrad raised before."""


def _is_broadcast_error(e: BaseException) -> bool:
    """numpy's (cupy's) plain ValueError for operands that do not broadcast."""
    return type(e) is ValueError and "broadcast" in str(e)


def _raise_broadcast_error(e: ValueError) -> None:
    """Raise numpy's broadcasting ValueError e as a _ShapeError with its message (torch's
    RuntimeError); return for any other error (the caller re-raises it)."""
    if _is_broadcast_error(e):
        raise _ShapeError(*e.args) from None


def _fp_silent(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn with numpy's floating-point warnings off while it runs (torch's silent inf / nan).
    The wrapper takes fn's own positional parameters when fn has one or two and no defaults
    (the arithmetic dunders, the unary math methods): ~0.1 us less than *args, **kwargs.
    numpy's ValueError for operands that do not broadcast leaves as a _ShapeError (torch's
    RuntimeError); a try costs nothing until something raises."""
    params = list(inspect.signature(fn).parameters.values())
    plain = all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params)
    set_, reset, quiet = _fp_set, _fp_reset, _FP_QUIET  # closure cells: cheaper than globals
    if plain and len(params) == 1:

        def silent(a: Any) -> Any:
            token = set_(quiet)
            try:
                return fn(a)
            except ValueError as e:
                _raise_broadcast_error(e)
                raise
            finally:
                reset(token)

    elif plain and len(params) == 2:

        def silent(a: Any, b: Any) -> Any:
            token = set_(quiet)
            try:
                return fn(a, b)
            except ValueError as e:
                _raise_broadcast_error(e)
                raise
            finally:
                reset(token)

    else:

        def silent(*args: Any, **kwargs: Any) -> Any:
            token = set_(quiet)
            try:
                return fn(*args, **kwargs)
            except ValueError as e:
                _raise_broadcast_error(e)
                raise
            finally:
                reset(token)

    return functools.wraps(fn)(silent)


def is_grad_enabled() -> bool:
    """False inside `no_grad()` (in this thread): ops then record nothing."""
    return _autograd_state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager / decorator that switches graph recording off (or on) in this thread.
    The mode to restore is kept on the thread's own stack, so one instance (a decorator) may
    be entered by several threads at once."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = enabled  # None: leave the mode as it is (inference_mode(False))

    def __enter__(self) -> None:
        st = _autograd_state
        st.mode_stack.append(st.grad_enabled)
        if self.enabled is not None:
            st.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        st = _autograd_state
        st.grad_enabled = st.mode_stack.pop()

    def __call__(self, fn: Any) -> Any:
        """As a decorator. A generator function runs under the mode each time it resumes (and
        the caller's mode is back at each yield), as torch's; ContextDecorator alone would
        cover only the call that creates the generator."""
        if not inspect.isgeneratorfunction(fn):
            return super().__call__(fn)

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            gen = fn(*args, **kwargs)
            try:
                with self._recreate_cm():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self._recreate_cm():
                            gen.close()
                        raise
                    except BaseException as e:
                        with self._recreate_cm():
                            response = gen.throw(e)
                    else:
                        with self._recreate_cm():
                            response = gen.send(request)
            except StopIteration as e:  # fn returned: so does this generator, with its value
                return e.value

        return generator


def _grad_mode(enabled: bool, fn: Any) -> Any:
    if fn is None:
        return _GradMode(enabled)
    if not callable(fn):
        raise TypeError(
            f"{'enable_grad' if enabled else 'no_grad'}: expected no argument or a function "
            f"to decorate, got {type(fn).__name__}"
        )
    return _GradMode(enabled)(fn)  # used bare, as torch allows: @dg.no_grad


def no_grad(fn: Any = None) -> Any:
    """`with dg.no_grad(): ...`, `@dg.no_grad()` or `@dg.no_grad`: ops inside build no graph."""
    return _grad_mode(False, fn)


def inference_mode(mode: Any = True) -> Any:
    """torch.inference_mode: deltagrad has no separate inference mode, so inference_mode() is
    no_grad() (as a context manager, `@dg.inference_mode()` or `@dg.inference_mode`);
    inference_mode(False) leaves the grad mode as it is."""
    if callable(mode) and not isinstance(mode, bool):
        return _GradMode(False)(mode)
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"inference_mode: mode: expected a bool, got {type(mode).__name__}")
    return _GradMode(False if mode else None)


def enable_grad(fn: Any = None) -> Any:
    """Switch graph recording back on inside a `no_grad()` block (`@dg.enable_grad` too)."""
    return _grad_mode(True, fn)


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


def _pow_scalar(x: Any, p: Any) -> Any:
    """x ** p for a number p, with torch's bits. A float32 / float64 array raised to 3, -2 or
    -0.5 is x*x*x, 1 / (x*x) and 1 / sqrt(x), as torch's pow_tensor_scalar kernels compute
    them (not a correctly rounded power; NumPy already gives torch's 0, 1, 2, 0.5 and -1). A
    float32 array raised to any other exponent goes through float64 and is rounded once
    (NumPy's float32 power is SIMD code 1 ulp off on some CPUs: on a Zen 4 0.75 ** -3 was
    2.3703701 for torch's correctly rounded 2.3703704)."""
    if (
        x.dtype.kind == "f"
        and x.dtype.itemsize >= 4
        and isinstance(p, (int, float, np.floating))
        and not isinstance(p, bool)
    ):
        if p == 3:
            t = x * x
            if type(t) is np.ndarray and t.ndim:
                return np.multiply(t, x, out=t)
            return t * x
        if p == -2 or p == -0.5:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                t = x * x if p == -2 else get_array_module(x).sqrt(x)
                if type(t) is np.ndarray and t.ndim:
                    return np.divide(1, t, out=t)
                return 1 / t
        if type(x) is np.ndarray and x.dtype == np.float32 and p not in (0, 1, 2, 0.5, -1):
            with np.errstate(all="ignore"):
                return np.power(x.astype(np.float64), float(p)).astype(np.float32)
    return x**p


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


def _int_first(idx: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """torch's rule for ints beside advanced indices: an index tuple holding both an int (or a
    0-d integer array) and an array / list index is applied as the ints first (a basic
    select), then the rest. NumPy counts the ints among the advanced indices instead, which
    moves the result's dims when a slice separates them: x[0, :, [0, 1]] of a (2, 3, 4) x is
    (3, 2) in torch, (2, 3) in NumPy. Returns (the ints' key, the rest's key), or None when
    the index has no such mix."""
    if not isinstance(idx, tuple):
        return None

    def is_int(i: Any) -> bool:
        if isinstance(i, (bool, np.bool_)):
            return False
        if isinstance(i, (int, np.integer)):
            return True
        return getattr(i, "ndim", None) == 0 and getattr(i, "dtype", np.dtype(bool)).kind in "iu"

    def is_array(i: Any) -> bool:
        return isinstance(i, list) or getattr(i, "ndim", 0) > 0

    if not any(is_int(i) for i in idx) or not any(is_array(i) for i in idx):
        return None
    first: list[Any] = []
    rest: list[Any] = []
    for i in idx:
        if is_int(i):
            first.append(int(i))
        elif i is None:
            rest.append(None)
        elif i is Ellipsis:
            first.append(Ellipsis)
            rest.append(Ellipsis)
        else:  # a slice, or an array index over as many dims as a bool mask has
            n = getattr(i, "ndim", 1) if getattr(i, "dtype", None) == np.bool_ else 1
            first.extend([slice(None)] * n)
            rest.append(i)
    return tuple(first), tuple(rest)


class _DefaultZero(int):
    """0 as a default that is told apart (by identity) from an explicit 0: torch's round()
    and round(decimals=0) are different overloads (the second has no integer kernel)."""


_ROUND_DEFAULT = _DefaultZero(0)


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
        "_grad_mask",  # None, or per input of the op whether it required grad (some did not)
        "_op",
        "_version",
        "_saved",
        "_g",  # the gradient an interior node collects while a backward runs (_engine)
        "_g_own",  # None, or a weak reference to the _g this node allocated (_accumulate_at)
        "_hooks",  # None, or the tensor's hooks and retain_grad flag (_engine._Hooks)
        # a graph node's differentiable backward (create_graph=True), set by _make for the ops
        # that have one; unset otherwise (read with getattr(node, "_dbackward", None))
        "_dbackward",
        "__weakref__",
    )
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        device = _devices.canonical(device)
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
        if is_cuda_array(data):
            xp = get_array_module(check_device_array(data, "Tensor", "data"))
            arr = data if dtype is None else xp.asarray(data, dtype=dtype)
        else:
            try:
                arr = np.asarray(data) if dtype is None else _cast_array(data, dtype)
            except OverflowError as e:  # [300] as int8: torch's RuntimeError
                raise _ScalarOverflowError(
                    f"tensor: value cannot be converted to type {np.dtype(dtype)} without "
                    f"overflow ({e})"
                ) from None
            if arr.dtype.kind == "O":
                _no_object_data(arr)
            if (
                dtype is None
                and not isinstance(data, np.ndarray)
                and arr.dtype == np.float64
                and not _holds_float64(data)
            ):
                arr = _cast_array(arr, np.float32)  # Python floats default to float32 (torch)
            if not arr.dtype.isnative:  # big-endian data: the same values in this CPU's order
                arr = arr.astype(arr.dtype.newbyteorder("="))
        if device is not None:
            arr = to_device(arr, device)
        self.data = arr
        self.grad: Any = None
        self.requires_grad = False
        self._backward: Callable[[Any], None] | None = None
        self._prev: tuple[Tensor, ...] = ()
        self._grad_mask: tuple[bool, ...] | None = None
        self._op = ""
        self._version = [0]  # a box: detach() shares it, as it shares the data
        self._saved: tuple[tuple[Tensor | None, int, Any], ...] = ()
        self._g: Any = None
        self._g_own: Any = None
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
        dbackward: Callable[[Tensor], Any] | None = None,
    ) -> Tensor:
        """The output of an op: a graph node when recording and some parent requires grad.

        saves: the tensors whose data `backward` reads (default: every parent and the output
        itself; pass () for ops like add whose backward reads no data). Their versions are
        recorded now and checked when backward runs.
        dbackward: the op's differentiable backward, for create_graph=True (higher-order
        gradients, _engine.run_create_graph): dbackward(g), g a Tensor, returns one entry per
        parent (a Tensor or None), computed with differentiable Tensor ops so the result has a
        graph back to the saved tensors and to g. Without one, create_graph=True through the
        node raises NotImplementedError naming the op."""
        if type(data) is not _NDARRAY and isinstance(data, np.generic):
            data = np.asarray(data)  # numpy ops on 0-d arrays give scalars: .data is an array
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out._op = op
        out._version = [0]
        # a view (x[1:], x.T, reshape, expand...) shares its base's version counter, as in
        # torch: an in-place change through either is then caught by a graph that saved the
        # other (only views have a base, so the overlap test runs for them alone)
        if getattr(data, "base", None) is not None:
            for p in parents:
                if get_array_module(data).may_share_memory(data, p.data):
                    out._version = p._version
                    break
        out._g = None
        out._g_own = None
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
            prev = tuple([p for p in parents if p.requires_grad])
            out._prev = prev
            # only the inputs that require grad are graph edges; which ones were left out is
            # kept for grad_fn.next_functions ((None, 0) there, as torch), as flags and not as
            # the tensors (which the graph would then keep alive), and only when some were.
            # A binary op with one constant (x * 2.0, x - y.detach()) takes a shared tuple.
            n, k = len(parents), len(prev)
            if k == n:
                out._grad_mask = None
            elif n == 2:
                out._grad_mask = _KEEP_FIRST if prev[0] is parents[0] else _KEEP_SECOND
            else:
                out._grad_mask = tuple([p.requires_grad for p in parents])
            out._backward = backward
            if dbackward is not None:
                out._dbackward = dbackward
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
            out._grad_mask = None
            out._backward = None
            out._saved = ()
        return out

    @staticmethod
    def _sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
        """g summed to shape (the gradient of broadcasting to g's shape), differentiably."""
        if tuple(g.shape) == tuple(shape):
            return g
        lead = g.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(
            i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
        )
        if dims:
            g = g.sum(dims, keepdim=True)
        return g.reshape(shape)

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
        if type(g) is not _NDARRAY and isinstance(g, np.generic):
            g = np.asarray(g)  # a 0-d .grad is an array, as .data (numpy's 0-d math: scalars)
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
            if prev is not None:
                g = prev[1] + g
                if type(g) is not _NDARRAY and isinstance(g, np.generic):
                    g = np.asarray(g)
            buf[id(self)] = (self, g)
        else:
            prev = self._g
            if prev is not None:
                g = prev + g
                if type(g) is not _NDARRAY and isinstance(g, np.generic):
                    g = np.asarray(g)
            self._g = g

    def _accumulate_at(self, idx: Any, g: Any) -> None:
        """_accumulate of a gradient that is zero but at self[idx], idx a basic index (no
        element twice), g the gradient of self[idx]. A node or a leaf adds g into its slice of
        one zero array it allocates per backward and hands to nobody while it collects, not a
        full-size array per piece: a split, chunk or unbind into k pieces, or a loop over a
        sequence's steps, is O(n) in backward instead of O(n k) (the recurrent layers' chunk
        per step). The array is the node's _g (a leaf's: its entry in the running backward's
        buffer); _g_own, a weak reference, says that this node allocated it, and the array is
        written only while it is still that entry and was shown to nobody (not in the
        backward's handed set): otherwise it is copied first. A call outside a backward takes
        the full-size array, as _accumulate."""
        data = self.data
        task = _autograd_state.task
        if task is None:
            gx = get_array_module(data).zeros_like(data)
            gx[idx] = g
            self._accumulate(gx)
            return
        leaf = self._backward is None
        if leaf:  # in this thread's backward buffer (a leaf may be shared by two threads)
            e = task[0].get(id(self))
            buf = None if e is None else e[1]
        else:
            buf = self._g
        own = self._g_own
        if buf is None or own is None or own() is not buf or id(buf) in task[1]:
            xp = get_array_module(data)
            fresh = xp.zeros_like(data) if buf is None else xp.array(buf, dtype=data.dtype)
            try:
                self._g_own = weakref.ref(fresh)
            except TypeError:  # an array type without weak references: no reuse
                self._g_own = None
            buf = fresh
            if leaf:
                task[0][id(self)] = (self, buf)
            else:
                self._g = buf
        buf[idx] += g

    def _lift(self, other: Any, op: str = "Tensor op") -> Tensor:
        """A constant operand (number, array) as a Tensor of self's dtype and device. A Python
        int out of an integer dtype's range wraps into it, as torch's arithmetic (int8 + 300
        is int8 + 44); one beyond 64 bits is torch's OverflowError, whatever the dtype."""
        if isinstance(other, Tensor):
            if is_cuda_array(other.data) != is_cuda_array(self.data):
                raise RuntimeError(
                    f"expected all tensors to be on the same device, got "
                    f"{self.device} and {other.device}; move one with .to()"
                )
            return other
        xp = get_array_module(self.data)
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            dt = self.data.dtype
            if dt.kind != "f":  # a Python float with an int tensor: float32, as torch
                dt = _scalar_dtype(dt, other)
            elif type(other) is int and not _I64_MIN <= other < _U64_END:
                raise _int_too_big(other, op, "other")
            try:
                return Tensor(xp.asarray(other, dtype=dt))
            except OverflowError:  # NumPy 2 refuses an int out of dt's range: torch wraps it
                if self.data.dtype.kind == "b":  # bool + 2**63: torch refuses uint64 too
                    _fit_scalar(other, dt, op, "other")
                return Tensor(xp.asarray(_wrap_int(other, dt, op), dtype=dt))
        if is_cuda_array(other) or isinstance(other, np.ndarray):
            if is_cuda_array(other):
                check_device_array(other, op, "other")
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
    def device(self) -> _devices.device:
        """torch.device("cpu") or ("cuda"): a dg.device, which is also the plain string (so
        comparisons with "cpu" / "cuda" keep working)."""
        return _CUDA_DEVICE if is_cuda_array(self.data) else _CPU_DEVICE

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def grad_fn(self) -> _GradFn | None:
        """The node that made this tensor (None for a leaf), as torch's grad_fn: its name()
        is the op's (e.g. "mul"); next_functions, metadata, register_prehook (_GradFn)."""
        return None if self._backward is None else _GradFn(self)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as a variable to differentiate with respect to (in place)."""
        if self._backward is not None:
            if requires_grad:  # a graph node requires grad already: a no-op, as torch
                return self
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
        them) limits the accumulation to those tensors. create_graph=True records the
        gradients' graph: each .grad it fills is then a Tensor with a graph, as torch's (see
        dg.autograd.backward). See docs/ARCHITECTURE.md, "Gradients"."""
        if create_graph:
            from .autograd import backward as _backward_graph  # autograd imports this module

            _backward_graph(self, gradient, retain_graph, True, inputs=inputs)
            return
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no graph "
                "(no input had requires_grad=True, or it was made under no_grad)"
            )
        if gradient is None and self.data.size == 1:
            d = self.data
            if type(d) is np.ndarray and d.ndim == 0:  # a loss: np.array is ~5x np.ones here
                grad = np.array(1, dtype=d.dtype)
            else:
                grad = get_array_module(d).ones(d.shape, dtype=d.dtype)
        else:
            grad = _root_grad(self, gradient, "backward()")
        if inputs is not None:
            inputs = _check_inputs(inputs, "backward")
        with _fp_silent_block():  # the closures' inf / nan silent, as torch (hooks run here too)
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

    def detach_(self) -> Tensor:
        """Make this tensor a leaf that does not require grad, in place (as torch). Refused
        while its graph is live (not yet backpropagated, or retained): a graph recorded from it
        would then stop sending gradients through it; use `t = t.detach()` there."""
        if self._backward is not None and self._backward is not _graph_freed:
            raise RuntimeError(
                "detach_: this tensor's graph is still live (not backpropagated, or retained), "
                "and graphs built from it would stop sending gradients through it; use "
                "t = t.detach() instead"
            )
        self._backward = None
        self._prev = ()
        self._saved = ()
        self._hooks = None
        self.requires_grad = False
        return self

    # ---- in-place ops (torch semantics) ------------------------------------------------------

    @contextlib.contextmanager
    def _inplace(self, op: str, operand: Any = None) -> Any:
        """`with self._inplace(op) as d: d[...] = ...`: checks that self may be changed in place,
        yields its array, and bumps the version once the change went through (an op that
        raises, e.g. on a shape mismatch, writes nothing and leaves the version alone).
        operand: the value written or combined in; one that requires grad is refused while
        recording (no graph goes through an in-place op here, so its gradient would be lost
        silently, where torch records it)."""
        if isinstance(operand, Tensor) and operand.requires_grad and _autograd_state.grad_enabled:
            raise RuntimeError(
                f"{op}: the value written in place requires grad, and deltagrad records no "
                "graph through in-place ops (its gradient would be lost); build the result "
                "out of place (e.g. dg.where, dg.cat), or detach() the value"
            )
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

    def _operand_data(self, other: Any, op: str = "Tensor op") -> Any:
        return self._lift(other, op).data

    @_fp_silent
    def _combine_(self, other: Any, op: str, ufunc: str, alpha: Any = 1) -> Tensor:
        """self = self (ufunc) alpha * other, in place (other broadcast to self's shape), as
        torch: a Python int wraps into an integer dtype, alpha is checked (_check_alpha), and a
        result of a higher dtype category than self's (int += float) is refused."""
        o = self._operand_data(other, op)
        d = self.data
        if ufunc == "subtract" and d.dtype.kind == "b" and o.dtype.kind == "b":
            raise _BoolOpError(f"{op}: subtraction with bool tensors is not supported (as torch)")
        rdt = np.dtype(np.float32) if ufunc == "divide" and d.dtype.kind != "f" else None
        _inplace_result(d, rdt or _result_dtype(d, o), op)
        if alpha.__class__ is not int or alpha != 1:
            if ufunc == "subtract":  # torch: self + (-alpha) * other (-alpha is checked)
                ufunc, alpha = "add", _negated(alpha)
            o = o * _check_alpha(alpha, rdt or _result_dtype(d, o), op)
        with self._inplace(op, other) as d:
            getattr(get_array_module(d), ufunc)(d, o, out=d, casting="unsafe")
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """self += alpha * other, in place (broadcasting other to self's shape)."""
        return self._combine_(other, "add_", "add", alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """self -= alpha * other, in place."""
        return self._combine_(other, "sub_", "subtract", alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._combine_(other, "mul_", "multiply")

    def div_(self, other: Any) -> Tensor:
        return self._combine_(other, "div_", "divide")

    @_fp_silent
    def copy_(self, src: Any) -> Tensor:
        o = self._operand_data(src)
        with self._inplace("copy_", src) as d:
            d[...] = o
        return self

    @_fp_silent
    def fill_(self, value: float) -> Tensor:
        """Every element = value (a number or a 0-d tensor, as torch)."""
        if isinstance(value, Tensor):
            if value.data.ndim != 0:
                raise RuntimeError(
                    f"fill_: value: expected a number or a 0-d tensor, got shape {value.shape}"
                )
        else:  # a number is checked against the dtype, as torch (a 0-d tensor is cast)
            value = _fit_scalar(value, self.dtype, "fill_")
        with self._inplace("fill_", value) as d:
            d.fill(value.item() if isinstance(value, Tensor) else value)
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

    # the other augmented assignments write in place too, as torch's (without these Python
    # fell back to rebinding: `b = a; b **= 2` left a unchanged)
    def __ipow__(self, other: Any) -> Tensor:
        return self.pow_(other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self.floor_divide_(other)

    def __imod__(self, other: Any) -> Tensor:
        return self.remainder_(other)

    def __iand__(self, other: Any) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self, other: Any) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self, other: Any) -> Tensor:
        return self.bitwise_xor_(other)

    def __ilshift__(self, other: Any) -> Tensor:
        return self.bitwise_left_shift_(other)

    def __irshift__(self, other: Any) -> Tensor:
        return self.bitwise_right_shift_(other)

    def __lshift__(self, other: Any) -> Tensor:
        return self.bitwise_left_shift(other)

    def __rshift__(self, other: Any) -> Tensor:
        return self.bitwise_right_shift(other)

    def __rlshift__(self, other: Any) -> Tensor:
        return self._lift(other, "bitwise_left_shift").bitwise_left_shift(self)

    def __rrshift__(self, other: Any) -> Tensor:
        return self._lift(other, "bitwise_right_shift").bitwise_right_shift(self)

    @_fp_silent
    def __setitem__(self, idx: Any, value: Any) -> None:
        idx = _index_key(idx)
        v = value.data if isinstance(value, Tensor) else value
        if isinstance(v, (int, np.integer)) and not -(2**63) <= int(v) < 2**63:
            raise _Int64RangeError(
                f"__setitem__: value: Overflow when unpacking long long ({v} is not an int64)"
            )
        # a number is checked against the dtype, as torch; not into float16, where torch's
        # indexing writes inf (its masked_fill / fill_ / full check float16 too)
        if isinstance(v, (int, float, np.number)) and self.dtype != np.float16:
            v = _fit_scalar(v, self.dtype, "__setitem__")
        if isinstance(value, Tensor) and value.device != self.device:
            raise RuntimeError(
                f"__setitem__: value is on {value.device}, the tensor on {self.device}"
            )
        split = _int_first(idx)
        with self._inplace("__setitem__", value) as d:
            try:
                if split is None:
                    d[idx] = v
                else:  # torch's order (see __getitem__): a view by the ints, then the rest
                    d[split[0]][split[1]] = v
            except IndexError as e:
                raise _index_range(e) from None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop .grad (set_to_none=True, the default, as torch) or fill the existing buffer
        with zeros in place (set_to_none=False: backward then accumulates into it)."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            _engine.grad_array(self).fill(0)  # an assigned Tensor or number: its array

    # ---- devices / dtypes ------------------------------------------------------------------

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """A copy on `device` ("cpu" / "cuda") and/or of `dtype`; differentiable. As torch:
        .to(dtype), .to(device), .to(device, dtype), .to(other_tensor), keywords too."""
        device, dtype = _to_args(args, kwargs)
        out = self
        if dtype is not None and dtype != self.data.dtype:
            out = out.astype(dtype)
        if device is not None and device != out.device:
            src = out.device
            a = to_device(out.data, device)

            def _backward(g: Any) -> None:
                parent._accumulate(to_device(g, src))

            def _dbackward(g: Tensor) -> tuple[Any, ...]:
                return (g.to(src),)

            parent = out
            out = Tensor._make(a, (parent,), _backward, "to", saves=(), dbackward=_dbackward)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    @_fp_silent
    def astype(self, dtype: Any) -> Tensor:
        """A copy of dtype; differentiable into float dtypes (ints and bools carry no grad)."""
        dtype = as_dtype(dtype, "to")
        if dtype.kind != "f":
            return _no_graph(self.data.astype(dtype), "astype")
        src = self.data.dtype

        def _backward(g: Any) -> None:
            self._accumulate(g.astype(src))

        return Tensor._make(
            self.data.astype(dtype), (self,), _backward, "astype", saves=(), dbackward=_d_same
        )

    def type(self, dtype: Any = None) -> Any:
        """The dtype's name with no argument, else .to(dtype)."""
        return str(self.data.dtype) if dtype is None else self.to(dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def short(self) -> Tensor:
        return self.to(np.int16)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    # ---- arithmetic ------------------------------------------------------------------------
    # Mixed dtypes promote as torch does (_promote); equal dtypes, the common case, skip it.

    @_fp_silent
    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other, "add")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(g, other.shape))

        return Tensor._make(a + b, (self, other), _backward, "add", saves=(), dbackward=_d_add)

    @_fp_silent
    def __sub__(self, other: Any) -> Tensor:
        other = self._lift(other, "sub")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        try:
            out_data = a - b
        except TypeError:  # bool - bool (torch also refuses bool - int, which is kept here)
            raise _BoolOpError(
                "sub: subtraction with bool tensors is not supported (as in torch); to invert "
                "a mask use ~ or logical_not(), to compare two masks use ^ or logical_xor()"
            ) from None

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(-g, other.shape))

        return Tensor._make(out_data, (self, other), _backward, "sub", saves=(), dbackward=_d_sub)

    @_fp_silent
    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other, "mul")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g * other.data, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(g * self.data, other.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return g * other, g * self

        return Tensor._make(
            a * b, (self, other), _backward, "mul", saves=(self, other), dbackward=_dbackward
        )

    @_fp_silent
    def __truediv__(self, other: Any) -> Tensor:
        if isinstance(other, (int, np.integer)) and self.data.dtype.kind != "f":
            other = _exact_float(other, "div")  # torch divides by 300, not by int8's wrapped 44
        other = self._lift(other, "div")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        if a.dtype.kind != "f":  # int / int is a float32 true division, as in torch
            a, b = a.astype(np.float32), b.astype(np.float32)
        out_data = a / b

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g / b, self.shape))
            if other.requires_grad:
                # torch's order, -g * ((a / b) / b): g / b first overflows for a subnormal b
                # where the gradient is finite (0 where a == 0)
                other._accumulate(_unbroadcast(-g * (out_data / b), other.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return g / other, -g * (self / other) / other

        return Tensor._make(out_data, (self, other), _backward, "div", dbackward=_dbackward)

    @_fp_silent
    def __floordiv__(self, other: Any) -> Tensor:
        """Floor division, as torch.floor_divide; not differentiable (torch has no derivative)."""
        other = self._lift(other, "floor_divide")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        _no_int_zero(b, "floor_divide")
        xp = get_array_module(a)
        return _no_graph(xp.floor_divide(a, b), "floor_divide")

    @_fp_silent
    def __mod__(self, other: Any) -> Tensor:
        """Remainder with the divisor's sign (Python's %), as torch.remainder."""
        other = self._lift(other, "remainder")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        _no_int_zero(b, "remainder")
        xp = get_array_module(a)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(_unbroadcast(g, self.shape))
            if other.requires_grad:
                other._accumulate(_unbroadcast(-g * xp.floor_divide(a, b), other.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:  # floor(a / b): a zero gradient, as torch
            return g, g * _zero_grad_node(-xp.floor_divide(a, b), (self, other), "div")

        out_data = xp.remainder(a, b)
        if out_data.dtype.kind == "f":  # a zero result keeps a's sign, as torch's fmod-based
            out_data = xp.where(out_data == 0, xp.copysign(out_data, a), out_data)  # kernel
        return Tensor._make(
            out_data, (self, other), _backward, "remainder", saves=(self, other),
            dbackward=_dbackward,
        )  # fmt: skip

    @_fp_silent
    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (int, float, np.number)) and not isinstance(exponent, bool):
            # a numpy scalar is a plain number, as torch (float32 ** np.float64(2) is float32)
            p = exponent.item() if isinstance(exponent, np.number) else exponent
            x = self.data
            if x.dtype.kind != "f" and isinstance(p, float):
                x = x.astype(np.float32)  # int tensor ** float: float32, as in torch
            elif x.dtype.kind == "b":
                x = x.astype(np.int64)  # bool ** int: int64, as in torch
            if isinstance(p, int):  # torch checks an int exponent: 64 bits, then int64, then
                if not _I64_MIN <= p < _U64_END:  # an int tensor's dtype; never negative there
                    raise _int_too_big(p, "pow", "exponent")
                if x.dtype.kind != "f":
                    _fit_scalar(p, np.int64, "pow", "exponent")
                    if p < 0:
                        raise _NegativeIntPowerError(
                            "pow: exponent: Integers to negative integer powers are not allowed "
                            f"(got {p}; as torch, use a float tensor or exponent)"
                        )
                    p = int(_fit_scalar(p, x.dtype, "pow", "exponent"))

            def _backward(g: Any) -> None:
                if p == 2:
                    self._accumulate(g * 2 * self.data)
                elif p == 0:  # d x**0 / dx = 0 everywhere, also at x = 0 (not 0 * inf = nan)
                    self._accumulate(get_array_module(g).zeros_like(g))
                else:  # x**(p-1) is inf at 0 for p < 1: the derivative's value there (torch)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        self._accumulate(g * (p * _pow_scalar(self.data, p - 1)))

            def _dbackward(g: Tensor) -> tuple[Any, ...]:
                if p == 0:
                    return (_zeros_as(g),)
                return (g * (p * self ** (p - 1)),)

            return Tensor._make(
                _pow_scalar(x, p), (self,), _backward, "pow", saves=(self,), dbackward=_dbackward
            )
        other = self._lift(exponent, "pow")
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        if b.dtype.kind == "i" and a.dtype.kind in "iu" and bool((b < 0).any()):
            out_data = _int_pow(a, b)  # NumPy refuses a negative int exponent; torch does not
        else:
            out_data = a**b

        def _backward_t(g: Any) -> None:
            # torch's masks: d/dx is 0 where the exponent is 0 (x**0 = 1, even at x = 0), and
            # d/de is 0 where x = 0 and e >= 0 (0**e is flat there), not 0 * inf = nan
            xp = get_array_module(g)
            x, e = self.data, other.data
            # (masked after the product with g, so an inf / NaN g gives 0 there too, as torch)
            with np.errstate(divide="ignore", invalid="ignore"):
                if self.requires_grad:
                    dx = xp.where(e == 0, 0, g * (e * x ** (e - 1))).astype(g.dtype)
                    self._accumulate(_unbroadcast(dx, self.shape))
                if other.requires_grad:
                    zero = (x == 0) & (e >= 0)
                    de = xp.where(zero, 0, g * (out_data * xp.log(x))).astype(g.dtype)
                    other._accumulate(_unbroadcast(de, other.shape))

        def _dbackward_t(g: Tensor) -> tuple[Any, ...]:
            x, e = self, other
            dx = de = None
            if x.requires_grad:
                dx = where(e.data == 0, 0.0, g * (e * x ** (e - 1)))
            if e.requires_grad:
                zero = (x.data == 0) & (e.data >= 0)
                de = where(zero, 0.0, g * (x**e * x.log()))
            return dx, de

        return Tensor._make(out_data, (self, other), _backward_t, "pow", dbackward=_dbackward_t)

    def __neg__(self) -> Tensor:
        def _backward(g: Any) -> None:
            self._accumulate(-g)

        try:
            out_data = -self.data
        except TypeError:
            raise _BoolOpError(
                "neg: negation of a bool tensor is not supported (as in torch); use ~ or "
                "logical_not()"
            ) from None
        return Tensor._make(out_data, (self,), _backward, "neg", saves=(), dbackward=_d_neg)

    def __pos__(self) -> Tensor:
        return self

    def __radd__(self, other: Any) -> Tensor:
        return self + other

    @_fp_silent
    def __rsub__(self, other: Any) -> Tensor:
        return _scalar_first(self._lift(other, "sub") - self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self * other

    @_fp_silent
    def __rtruediv__(self, other: Any) -> Tensor:
        if isinstance(other, (int, np.integer)) and self.data.dtype.kind != "f":
            other = _exact_float(other, "div")  # 300 / int8: torch's 300, not a wrapped 44
        return self._lift(other, "div") / self

    @_fp_silent
    def __rfloordiv__(self, other: Any) -> Tensor:
        return self._lift(other, "floor_divide") // self

    @_fp_silent
    def __rmod__(self, other: Any) -> Tensor:
        return self._lift(other, "remainder") % self

    @_fp_silent
    def __rpow__(self, other: Any) -> Tensor:
        return _scalar_first(self._lift(other, "pow") ** self, other)

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
                raise _ShapeError(
                    f"matmul: shapes {a.shape} and {b.shape} do not line up "
                    f"({ad.shape[1]} != {bd.shape[0]})"
                )
            _same_dtype(a, b, "matmul")

            def _backward(g: Any) -> None:
                if a.requires_grad:
                    a._accumulate(ops.matmul(g, bd, trans_b=True))
                if b.requires_grad:
                    b._accumulate(ops.matmul(ad, g, trans_a=True))

            def _dbackward(g: Tensor) -> tuple[Any, ...]:
                return (
                    g @ b.T if a.requires_grad else None,
                    a.T @ g if b.requires_grad else None,
                )

            y = _matmul_forward(ad, bd)
            return Tensor._make(y, (a, b), _backward, "matmul", saves=(a, b), dbackward=_dbackward)

        if ad.ndim == 0 or bd.ndim == 0:
            raise _ShapeError(
                f"matmul: both operands need at least 1 dimension, got shapes "
                f"{a.shape} and {b.shape}"
            )
        _same_dtype(a, b, "matmul")
        a_vec, b_vec = ad.ndim == 1, bd.ndim == 1
        if a_vec:
            ad = ad.reshape(1, -1)  # a row vector
        if b_vec:
            bd = bd.reshape(-1, 1)  # a column vector
        if ad.shape[-1] != bd.shape[-2]:
            raise _ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} do not line up "
                f"({ad.shape[-1]} != {bd.shape[-2]})"
            )
        ba, bb = ad.shape[:-2], bd.shape[:-2]
        nbat = max(len(ba), len(bb))
        pa, pb = (1,) * (nbat - len(ba)) + ba, (1,) * (nbat - len(bb)) + bb
        if any(x != y and x != 1 and y != 1 for x, y in zip(pa, pb)):
            raise _ShapeError(
                f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} do not "
                f"broadcast ({ba} vs {bb})"
            )
        y = _matmul_forward(ad, bd)  # (*batch, m, n)
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

        def _dbackward_nd(g: Tensor) -> tuple[Any, ...]:
            a2 = a.unsqueeze(0) if a_vec else a  # the operands as matrices, as the forward
            b2 = b.unsqueeze(-1) if b_vec else b
            g2 = g.reshape(full)
            ga = gb = None
            if a.requires_grad:
                ga = Tensor._sum_to(g2 @ b2.mT, a2.shape).reshape(a.shape)
            if b.requires_grad:
                gb = Tensor._sum_to(a2.mT @ g2, b2.shape).reshape(b.shape)
            return ga, gb

        return Tensor._make(
            y, (a, b), _backward_nd, "matmul", saves=(a, b), dbackward=_dbackward_nd
        )

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # ---- shape ops -------------------------------------------------------------------------

    @property
    def T(self) -> Tensor:
        def _backward(g: Any) -> None:
            self._accumulate(g.T)

        return Tensor._make(
            self.data.T, (self,), _backward, "transpose", saves=(), dbackward=_d_transpose
        )

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def _reshaped(self, out_data: Any, op: str) -> Tensor:
        shape = self.data.shape

        def _backward(g: Any) -> None:
            self._accumulate(g.reshape(shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.reshape(shape),)

        return Tensor._make(out_data, (self,), _backward, op, saves=(), dbackward=_dbackward)

    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_args(shape, "reshape", allow_minus_one=True)
        try:
            out_data = self.data.reshape(shape)
        except ValueError as e:
            raise _ShapeError(f"reshape: cannot reshape shape {self.shape} into {shape}") from e
        return self._reshaped(out_data, "reshape")

    def view(self, *shape: Any, dtype: Any = None, size: Any = None) -> Tensor:
        """reshape that never copies: a RuntimeError (as torch) when the strides forbid it.
        view(dtype) (or view(dtype=...)) reads the same memory as another dtype instead
        (_view_dtype)."""
        if dtype is not None or size is not None:
            if shape or (dtype is not None and size is not None):
                raise TypeError("view: expected one of (*shape), (size=shape), (dtype=dtype)")
            if dtype is not None:
                return self._view_dtype(dtype)
            shape = (size,)
        if len(shape) == 1 and _is_dtype_arg(shape[0]):
            return self._view_dtype(shape[0])
        if not shape:
            raise TypeError("view: expected a shape (ints or one tuple of ints) or a dtype")
        shape = _shape_args(shape, "view", allow_minus_one=True)
        try:
            out_data = self.data.reshape(shape)
        except ValueError as e:
            raise _ShapeError(f"view: shape: cannot view shape {self.shape} as {shape}") from e
        if out_data.size and not _shares_base(out_data, self.data):
            raise RuntimeError(
                f"view: the strides of this tensor (shape {self.shape}) do not allow a view "
                f"of shape {shape}; use .reshape(...) (which copies) instead"
            )
        return self._reshaped(out_data, "view")

    def _view_dtype(self, dtype: Any) -> Tensor:
        """torch's view(dtype): self's memory read as dtype, a view outside any graph (torch's
        is not differentiable: the result never requires grad). Equal element sizes keep the
        shape; otherwise the last dim scales by the size ratio, with torch's checks and
        messages (not 0-d, last dim contiguous; when growing, its size, the other strides and
        the offset into the base divisible by the ratio)."""
        dt = as_dtype(dtype, "view")
        x = self.data
        old, new = x.dtype.itemsize, dt.itemsize
        if old != new:
            _check_view_dtype(x, dt)
        if x.size == 0:
            shape = x.shape[:-1] + (x.shape[-1] * old // new,) if x.ndim else ()
            out = get_array_module(x).empty(shape, dtype=dt)
        else:
            out = x.view(dt)
        t = Tensor._make(out, (), None, "view")
        t._version = self._version  # a view: an in-place change through either shows in both
        return t

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.data.ndim == 0:
            _dim(start_dim, 0, "flatten")
            _dim(end_dim, 0, "flatten")
            return self.reshape(1)
        s = _dim(start_dim, self.data.ndim, "flatten")
        e = _dim(end_dim, self.data.ndim, "flatten")
        if s > e:
            raise ValueError(
                f"flatten: start_dim: {start_dim} comes after end_dim {end_dim} "
                f"(shape {self.shape})"
            )
        shape = self.shape
        return self.reshape(*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        d = _dim(dim, self.data.ndim, "unflatten")
        sizes = _shape_args((sizes,), "unflatten", allow_minus_one=True)
        return self.reshape(*self.shape[:d], *sizes, *self.shape[d + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        dims = _shape_args(dims, "permute", what="dims", signed=True)
        n = self.data.ndim
        if len(dims) != n:
            raise ValueError(
                f"permute: dims: expected {n} dims for a tensor of shape {self.shape}, "
                f"got {len(dims)}: {dims}"
            )
        perm = tuple(_dim(d, n, "permute") for d in dims)
        if len(set(perm)) != n:
            raise ValueError(f"permute: dims: repeated dim in {dims}")
        inv = tuple(np.argsort(perm).tolist())

        def _backward(g: Any) -> None:
            self._accumulate(g.transpose(inv))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.permute(*inv),)

        return Tensor._make(
            self.data.transpose(perm), (self,), _backward, "permute", saves=(), dbackward=_dbackward
        )

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.data.ndim
        if n == 0:
            _dim(dim0, 0, "transpose")
            _dim(dim1, 0, "transpose")
            return self.reshape(())
        perm = list(range(n))
        a, b = _dim(dim0, n, "transpose"), _dim(dim1, n, "transpose")
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(*perm)

    swapaxes = transpose
    swapdims = transpose

    def t(self) -> Tensor:
        if self.data.ndim > 2:
            raise ValueError(
                f"t: expects a tensor with <= 2 dimensions, got shape {self.shape}; use "
                "transpose(dim0, dim1) or permute"
            )
        return self.T if self.data.ndim == 2 else self.reshape(self.shape)

    def squeeze(self, dim: Any = None) -> Tensor:
        shape = self.shape
        if dim is None:
            new = tuple(n for n in shape if n != 1)
        else:
            dims = _dims(dim, self.data.ndim, "squeeze", empty_is_all=False)
            new = tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1))
        return self.reshape(new)

    def unsqueeze(self, dim: int) -> Tensor:
        d = _dim(dim, self.data.ndim + 1, "unsqueeze")
        shape = self.shape
        return self.reshape(*shape[:d], 1, *shape[d:])

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast view of sizes (-1 keeps a dimension), as torch.expand; read-only."""
        sizes = _shape_args(sizes, "expand", allow_minus_one=True, what="sizes")
        shape = self.shape
        lead = len(sizes) - len(shape)
        if lead < 0:
            raise _ShapeError(
                f"expand: sizes: {sizes} has fewer dimensions than the tensor's shape {shape}"
            )
        target = []
        for i, n in enumerate(sizes):
            if i < lead:
                if n == -1:
                    raise _ShapeError("expand: sizes: -1 is not allowed in a new leading dim")
                target.append(n)
                continue
            cur = shape[i - lead]
            if n == -1:
                n = cur
            elif cur != 1 and n != cur:
                raise _ShapeError(
                    f"expand: sizes: the expanded size {n} must match the existing size "
                    f"{cur} at non-singleton dimension {i} (shape {shape}, sizes {sizes})"
                )
            target.append(n)
        xp = get_array_module(self.data)

        def _backward(g: Any) -> None:
            self._accumulate(_unbroadcast(g, shape))

        out = xp.broadcast_to(self.data, tuple(target))
        return Tensor._make(out, (self,), _backward, "expand", saves=(), dbackward=_d_same)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return self.expand(shape)

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        """self when already C-contiguous (as torch), else a contiguous copy."""
        if self.data.flags.c_contiguous:
            return self
        return self.clone()

    def clone(self) -> Tensor:
        """A copy with its own memory; differentiable (the gradient passes through)."""

        def _backward(g: Any) -> None:
            self._accumulate(g)

        xp = get_array_module(self.data)
        out = xp.array(self.data, copy=True, order="C")
        return Tensor._make(out, (self,), _backward, "clone", saves=(), dbackward=_d_same)

    def _narrow(self, d: int, start: int, stop: int) -> Tensor:
        return self[(slice(None),) * d + (slice(start, stop),)]

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """Elements start .. start + length - 1 along dim (a view); a negative start counts
        from the end; the range must lie within the dim (IndexError / ValueError), as torch."""
        d = _dim(dim, self.data.ndim, "narrow")
        n = self.shape[d]
        for v, name in ((start, "start"), (length, "length")):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"narrow: {name}: expected an int, got {v!r}")
        if not -n <= start <= n:
            raise IndexError(f"narrow: start {start} out of range for dim {dim} of size {n}")
        start = int(start) + n if start < 0 else int(start)
        if length < 0 or start + length > n:
            raise ValueError(
                f"narrow: start ({start}) + length ({length}) exceeds the size {n} of dim {dim}"
                if length >= 0
                else f"narrow: length must be >= 0, got {length}"
            )
        return self._narrow(d, start, start + int(length))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along dim: of split_size each (the last may be smaller), or of the listed
        sizes (which must add up to the dim's size), as torch.split."""
        d = _dim(dim, self.data.ndim, "split")
        n = self.shape[d]
        s = split_size_or_sections
        if isinstance(s, (list, tuple)):
            sizes = list(_shape_args((s,), "split", what="split_size_or_sections"))
            if sum(sizes) != n:
                raise ValueError(
                    f"split: split_size_or_sections: sizes {sizes} add up to {sum(sizes)}, "
                    f"expected the size {n} of dim {dim}"
                )
        else:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
                raise TypeError(
                    f"split: split_size_or_sections: expected an int or a list of ints, got "
                    f"{type(s).__name__}"
                )
            if s <= 0 and not (s == 0 and n == 0):
                raise ValueError(f"split: split_size_or_sections: expected > 0, got {s}")
            sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
        pre = (slice(None),) * d
        keys, start = [], 0
        for k in sizes:
            keys.append(pre + (slice(start, start + k),))
            start += k
        return _pieces(self, keys, "split", functools.partial(_join_cat, d))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most `chunks` pieces of ceil(size / chunks) each along dim, as torch.chunk."""
        if isinstance(chunks, (bool, np.bool_)) or not isinstance(chunks, (int, np.integer)):
            raise TypeError(f"chunk: chunks: expected an int, got {type(chunks).__name__}")
        if chunks <= 0:
            raise ValueError(f"chunk: chunks: expected > 0, got {chunks}")
        d = _dim(dim, self.data.ndim, "chunk")
        n = self.shape[d]
        if n == 0:  # `chunks` empty pieces, as torch
            keys = [(slice(None),) * d + (slice(0, 0),)] * chunks
            return _pieces(self, keys, "split", functools.partial(_join_cat, d))
        return self.split(max(-(-n // chunks), 1), d)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The slices along dim, that dim removed (views), as torch.unbind."""
        d = _dim(dim, self.data.ndim, "unbind")
        pre = (slice(None),) * d
        keys = [pre + (i,) for i in range(self.shape[d])]
        return _pieces(self, keys, "unbind", functools.partial(_join_stack, d))

    def __getitem__(self, idx: Any) -> Tensor:
        """NumPy's indexing with torch's rules where the two differ (ints beside array indices,
        _int_first; uint8 and list-of-sequence indices are refused, _index_key). A negative
        slice step is allowed (NumPy's reversed view; torch raises ValueError, torch.flip is its
        form), and differentiable."""
        if isinstance(idx, tuple):
            idx = tuple(_tensor_index(i) if isinstance(i, Tensor) else i for i in idx)
            split = _int_first(idx)
            if split is not None:  # torch's order: the ints, then the array indices
                return self[split[0]][split[1]]
        elif isinstance(idx, Tensor):
            idx = _tensor_index(idx)
        elif type(idx) is list:
            key = _index_key(idx)
            if key is not idx:  # a list read as a tuple
                return self[key]

        def _backward(g: Any) -> None:
            if _is_basic_index(idx):
                self._accumulate_at(idx, g)
                return
            gx = get_array_module(g).zeros_like(self.data)
            if getattr(idx, "dtype", None) == np.bool_:
                gx[idx] = g  # a boolean mask picks each element at most once
            else:
                _add_at(gx, idx, g)  # advanced indices may repeat: accumulate
            self._accumulate(gx)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (_index_backward(g, idx, self.data),)

        try:
            out = self.data[idx]
        except IndexError as e:
            raise _index_range(e) from None
        return Tensor._make(out, (self,), _backward, "index", saves=(), dbackward=_dbackward)

    def gather(self, dim: int, index: Any) -> Tensor:
        """out[i][j][k] = self[index[i][j][k]][j][k] (dim 0), as torch.gather. A numpy self of
        a numeric dtype takes the kernel (_cpu.gather, csrc/cpu/gather.h): self and index (int32
        or int64) read through their strides, the range checked in the same pass; the backward
        is _cpu.scatter_add into zeros (np.add.at's sums, bit for bit)."""
        d = _dim(dim, self.data.ndim, "gather")
        idx = _index_arg(index, self, d, "gather")
        x = self.data
        if (
            type(x) is np.ndarray
            and x.ndim
            and x.dtype.kind in "biufc"
            and x.dtype.itemsize <= 16
            and x.flags.aligned
        ):
            if idx.dtype not in (np.int64, np.int32) or not idx.flags.aligned:
                idx = np.require(idx, np.int64, ["A"])  # uint64 beyond 2**63: negative, refused
            out = _cpu.gather(x, d, idx)
            kernel_grad = x.dtype in (np.float32, np.float64)

            def _backward(g: Any) -> None:
                if kernel_grad and type(g) is np.ndarray and g.dtype == x.dtype and g.flags.aligned:
                    zero = np.broadcast_to(np.zeros((), x.dtype), x.shape)
                    gx = _cpu.scatter_add(zero, d, idx, g)
                else:
                    gx = np.zeros(x.shape, x.dtype)
                    _scatter_add_into(gx, d, idx, g)
                self._accumulate(gx)

            def _dbackward(g: Tensor) -> tuple[Any, ...]:
                return (Tensor(np.zeros_like(x)).scatter_add(d, idx, g),)

            return Tensor._make(out, (self,), _backward, "gather", saves=(), dbackward=_dbackward)
        xp = get_array_module(self.data)
        _check_index_range(idx, self.shape[d] if self.data.ndim else 1, "gather", xp)
        if xp is np:  # int64 once: the forward's flat positions and the backward's kernel
            idx = np.require(idx, np.int64, ["C", "A"])
        if self.data.ndim == 0:
            out = self.data.reshape(()).copy()
        else:
            out = _take_along(self.data, idx, d)

        def _backward(g: Any) -> None:
            gx = xp.zeros(self.data.shape, self.data.dtype)
            if (  # the kernel straight away: index and g of gx's shape, one float dtype
                xp is np
                and idx.shape == gx.shape
                and g.dtype == gx.dtype
                and gx.dtype in (np.float32, np.float64)
                and g.flags.c_contiguous
            ):
                _cpu.scatter_reduce_(gx, d, idx, g, "sum")
            else:
                _scatter_add_into(gx, d, idx, g)
            self._accumulate(gx)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (Tensor(xp.zeros_like(self.data)).scatter_add(d, idx, g),)

        db = _dbackward if self.data.ndim else None
        return Tensor._make(out, (self,), _backward, "gather", saves=(), dbackward=db)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy of self with out[index[i][j][k]][j][k] += src[i][j][k] (dim 0), as
        torch.scatter_add; differentiable in self and src."""
        d = _dim(dim, self.data.ndim, "scatter_add")
        idx = _index_arg(index, self, d, "scatter_add")
        src_t = self._lift(src) if isinstance(src, Tensor) else _wrap(src, "scatter_add", "src")
        if src_t.data.ndim != idx.ndim or any(i > s for i, s in zip(idx.shape, src_t.shape)):
            raise ValueError(
                f"scatter_add: src: expected a shape at least the index's {idx.shape} in "
                f"every dim, got {src_t.shape}"
            )
        if src_t.data.dtype != self.data.dtype:
            raise TypeError(
                f"scatter_add: src: expected dtype {self.dtype} (self's), got {src_t.dtype}"
            )
        xp = get_array_module(self.data)
        x, s = self.data, src_t.data
        if (  # the kernels (csrc/cpu/gather.h): operands read through their strides
            type(x) is np.ndarray
            and type(s) is np.ndarray
            and x.ndim
            and x.dtype in (np.float32, np.float64)
            and x.flags.aligned
            and s.flags.aligned
        ):
            if idx.dtype not in (np.int64, np.int32) or not idx.flags.aligned:
                idx = np.require(idx, np.int64, ["A"])  # uint64 beyond 2**63: negative, refused
            out = _cpu.scatter_add(x, d, idx, s)  # range-checked in the kernel's pass

            def take(g: Any) -> Any:
                if type(g) is np.ndarray and g.dtype == x.dtype and g.flags.aligned:
                    return _cpu.gather(g, d, idx)
                return _take_along(g, idx, d)

        else:
            n = self.shape[d] if self.data.ndim else 1
            out = self.data.copy()
            part = src_t.data[_leading_slices(idx.shape, 0, all_dims=True)]
            _check_index_range(idx, n, "scatter_add", xp)
            if xp is np and out.ndim:
                idx = np.require(idx, np.int64, ["C", "A"])  # once, for the forward and backward
            _scatter_add_into(out, d, idx, part)
            take = _Taker(idx, d)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(g)
            if src_t.requires_grad:
                picked = take(g) if g.ndim else g
                if src_t.shape == idx.shape and g.ndim:
                    src_t._accumulate(picked)
                    return
                gs = xp.zeros_like(src_t.data)
                gs[_leading_slices(idx.shape, 0, all_dims=True)] = picked
                src_t._accumulate(gs)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return g, g.gather(d, idx) if src_t.requires_grad else None

        db = _dbackward if src_t.shape == idx.shape and idx.ndim else None
        return Tensor._make(out, (self, src_t), _backward, "scatter_add", saves=(), dbackward=db)

    # ---- reductions ------------------------------------------------------------------------
    # dim/keepdim are torch's names; axis/keepdims (numpy's, the old ones) stay as aliases.

    def sum(
        self,
        dim: Any = None,
        keepdim: bool = False,
        *,
        dtype: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        if axis is not None or keepdims is not None:
            dim, keepdim = _alias_dims(dim, keepdim, axis, keepdims, "sum")
        x = self if dtype is None else self.to(as_dtype(dtype, "sum"))
        axes = _dims(dim, x.data.ndim, "sum")
        data = x.data
        if data.dtype.kind != "f":  # ints and bools sum to int64, as in torch; no grad
            xp = get_array_module(data)
            kind = np.int64 if data.dtype.kind in "bi" or data.dtype.itemsize < 8 else None
            out = xp.asarray(xp.sum(data, axis=axes, keepdims=keepdim, dtype=kind))
            if dtype is not None:  # torch sums in the dtype asked for (wrapping; bool: any)
                out = out.astype(data.dtype)
            return _no_graph(out, "sum")
        out_data = ops.sum(data, axis=axes, keepdims=keepdim)
        shape = data.shape

        def _backward(g: Any) -> None:
            xp = get_array_module(g)
            if not keepdim:
                g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
            x._accumulate(xp.broadcast_to(g, shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.reshape([1 if i in axes else n for i, n in enumerate(shape)]).expand(shape),)

        return Tensor._make(out_data, (x,), _backward, "sum", saves=(), dbackward=_dbackward)

    def mean(
        self,
        dim: Any = None,
        keepdim: bool = False,
        *,
        dtype: Any = None,
        axis: Any = None,
        keepdims: Any = None,
    ) -> Tensor:
        if axis is not None or keepdims is not None:
            dim, keepdim = _alias_dims(dim, keepdim, axis, keepdims, "mean")
        x = self if dtype is None else self.to(as_dtype(dtype, "mean"))
        _float_only(x, "mean")
        axes = _dims(dim, x.data.ndim, "mean")
        shape = x.data.shape
        count = math.prod(shape[i] for i in axes) if x.data.ndim else 1
        out_data = ops.mean(x.data, axis=axes, keepdims=keepdim)

        def _backward(g: Any) -> None:
            xp = get_array_module(g)
            if not keepdim:
                g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
            # count 0: the input is empty (so is its gradient); no division by zero
            x._accumulate(xp.broadcast_to(g / count if count else g, shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            gk = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
            return ((gk / count if count else gk).expand(shape),)

        return Tensor._make(out_data, (x,), _backward, "mean", saves=(), dbackward=_dbackward)

    def _extreme(self, dim: Any, keepdim: bool, op: str, spread_nan: bool = False) -> Tensor:
        """amax / amin over dims; the gradient is spread evenly among ties, as torch.

        spread_nan: torch's evenly_distribute_backward (max() / min() without dim, and
        norm(+-inf)): a NaN extreme sends the gradient to the NaN elements, and the others get
        exactly 0. Without it (amax / amin, as torch's amax_backward) a NaN extreme matches no
        element, and its slice's gradient is NaN."""
        axes = _dims(dim, self.data.ndim, op)
        x = self.data
        if any(x.shape[a] == 0 for a in axes) or (x.size == 0 and dim is None):
            raise IndexError(
                f"{op}: Expected reduction dim to have non-zero size (input shape {self.shape})"
            )
        xp = get_array_module(x)
        fn = xp.amax if op in ("max", "amax") else xp.amin
        out_k = fn(x, axis=axes, keepdims=True)
        out = (
            out_k if keepdim else out_k.reshape([n for i, n in enumerate(x.shape) if i not in axes])
        )

        def _backward(g: Any) -> None:
            mask = x == out_k
            if spread_nan:
                mask |= xp.isnan(x) & xp.isnan(out_k)
                count = mask.sum(axis=axes, keepdims=True)
                share = g.reshape(out_k.shape) / count
                self._accumulate(xp.where(mask, share, 0).astype(g.dtype))
                return
            count = mask.sum(axis=axes, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):  # a NaN slice: 0 / 0, as torch
                self._accumulate(mask * (g.reshape(out_k.shape) / count))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            # linear in g, the share of each element a constant (torch's mask has no graph)
            mask = x == out_k
            if spread_nan:
                mask |= xp.isnan(x) & xp.isnan(out_k)
            count = mask.sum(axis=axes, keepdims=True)
            gk = g.reshape(*out_k.shape)
            if spread_nan:
                return (where(mask, gk / Tensor(count.astype(x.dtype)), 0.0),)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (gk * Tensor((mask / count).astype(x.dtype)),)

        return Tensor._make(out, (self,), _backward, op, saves=(self,), dbackward=_dbackward)

    def _extreme_dim(self, dim: Any, keepdim: bool, op: str) -> Any:
        x = self.data
        n = x.ndim
        d = _dim(dim, n, op)
        xp = get_array_module(x)
        xx = x.reshape(1) if n == 0 else x
        if xx.shape[d] == 0:
            raise IndexError(
                f"{op}: Expected reduction dim {dim} to have non-zero size (shape {self.shape})"
            )
        if xp is np and d < xx.ndim - 1 and xx.shape[d] > 2 * _ARG_BLOCK and xx.size:
            idx_k = _arg_blocked(xx, d, op)
        else:
            arg = xp.argmax if op == "max" else xp.argmin
            idx_k = arg(xx, axis=d, keepdims=True)
        val_k = xp.take_along_axis(xx, idx_k, axis=d)
        if n == 0:
            out_shape: Any = ()
        else:
            out_shape = idx_k.shape if keepdim else x.shape[:d] + x.shape[d + 1 :]
        values_data = val_k.reshape(out_shape)
        indices = _no_graph(idx_k.reshape(out_shape).astype(np.int64), op)
        shape = xx.shape

        def _backward(g: Any) -> None:
            if xp is np:  # one index per slice: zeros and g written at the flat positions
                gx = np.zeros(shape, dtype=g.dtype)
                gx.reshape(-1)[_flat_index(shape, d, idx_k)] = g.reshape(idx_k.shape)
            else:
                pos = xp.arange(shape[d]).reshape([-1 if i == d else 1 for i in range(len(shape))])
                gx = xp.where(pos == idx_k, g.reshape(idx_k.shape), 0).astype(g.dtype, copy=False)
            self._accumulate(gx.reshape(x.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            pos = xp.arange(shape[d]).reshape([-1 if i == d else 1 for i in range(len(shape))])
            return (where(pos == idx_k, g.reshape(*idx_k.shape), 0.0).reshape(*x.shape),)

        values = Tensor._make(values_data, (self,), _backward, op, saves=(), dbackward=_dbackward)
        return (_MaxResult if op == "max" else _MinResult)(values, indices)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """max(): the largest element (0-d); max(dim): (values, indices); max(other): the
        elementwise maximum, as torch."""
        if isinstance(dim, Tensor) or _is_array(dim):
            return self.maximum(dim)
        if dim is None:
            return self._extreme(None, False, "max", spread_nan=True)
        return self._extreme_dim(dim, keepdim, "max")

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, Tensor) or _is_array(dim):
            return self.minimum(dim)
        if dim is None:
            return self._extreme(None, False, "min", spread_nan=True)
        return self._extreme_dim(dim, keepdim, "min")

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return self._extreme(dim, keepdim, "amax")  # () / []: every dim (_dims)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return self._extreme(dim, keepdim, "amin")

    def _arg(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        x = self.data
        if x.dtype.kind == "b":  # torch refuses bool here (max / min / amax take it)
            raise _BoolOpError(f"{op}(): does not support bool input")
        xp = get_array_module(x)
        fn = xp.argmax if op == "argmax" else xp.argmin
        if dim is None:
            if x.size == 0:
                raise IndexError(f"{op}: Expected reduction on a non-empty tensor")
            out = fn(x.reshape(-1))
            if keepdim:
                out = out.reshape((1,) * x.ndim)
        else:
            return self._extreme_dim(dim, keepdim, "max" if op == "argmax" else "min")[1]
        return _no_graph(xp.asarray(out, dtype=np.int64), op)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return self._arg(dim, keepdim, "argmax")

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return self._arg(dim, keepdim, "argmin")

    def _var(self, dim: Any, unbiased: Any, keepdim: bool, correction: Any, op: str) -> Any:
        _float_only(self, op)
        if unbiased is not None and correction is not None:
            raise TypeError(f"{op}: pass unbiased or correction, not both")
        if isinstance(dim, (bool, np.bool_)):  # var(True): the old positional unbiased
            dim, unbiased = None, dim
        c = correction if correction is not None else (1 if unbiased in (None, True) else 0)
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, np.number)):
            raise TypeError(f"{op}: correction: expected a number, got {c!r}")
        axes = _dims(dim, self.data.ndim, op)
        x = self.data
        xp = get_array_module(x)
        n = math.prod(x.shape[a] for a in axes) if x.ndim else 1
        denom = max(0, n - c)

        # The plain formula first, redone scaled where it overflowed or underflowed
        # (_pow2_scales): float32 [3e38, 0, 1, 2] has std 1.5e38. d_s = (x - mean) / inv,
        # var_s = var / inv**2 (inv = 2**e per slice, or 1).
        def moments(x: Any) -> tuple[Any, Any]:
            mu = (
                xp.mean(x, axis=axes, keepdims=True)
                if n
                else xp.zeros_like(x.sum(axis=axes, keepdims=True))
            )
            d = x - mu
            return d, (d * d).sum(axis=axes, keepdims=True) / x.dtype.type(denom)

        d_s, var_s = moments(x)  # (var and std run under _fp_silent: overflow is inf)
        inv = xp.ones(var_s.shape, x.dtype)
        diff = d_s
        scales = _pow2_scales(x, axes, var_s) if n else None
        if scales is not None:
            s, inv = scales
            d_s, var_s = moments(x * s)
            diff = d_s * inv
        out_shape = var_s.shape if keepdim else [s for i, s in enumerate(x.shape) if i not in axes]
        return x, diff, d_s, var_s, inv, denom, out_shape, xp, axes, c

    @_fp_silent
    def var(
        self,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
    ) -> Tensor:
        """Variance over dim with Bessel's correction (default 1; unbiased=False is 0)."""
        x, diff, _, var_s, inv, denom, out_shape, xp, axes, _c = self._var(
            dim, unbiased, keepdim, correction, "var"
        )
        var_k = (var_s * inv) * inv  # past the dtype's range: inf

        def _backward(g: Any) -> None:
            with np.errstate(divide="ignore", invalid="ignore"):
                self._accumulate(g.reshape(var_k.shape) * (2 / x.dtype.type(denom)) * diff)

        db = functools.partial(_d_var, self, axes, denom, var_k.shape)
        return Tensor._make(
            var_k.reshape(out_shape), (self,), _backward, "var", saves=(self,), dbackward=db
        )

    @_fp_silent
    def std(
        self,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
    ) -> Tensor:
        x, _, d_s, var_s, inv, denom, out_shape, xp, axes, c = self._var(
            dim, unbiased, keepdim, correction, "std"
        )
        std_s = xp.sqrt(var_s)
        std_k = std_s * inv

        def _backward(g: Any) -> None:
            # (x - mean) / (denom * std) in the scaled units (the same value): denom * std
            # itself can overflow where the gradient is finite
            with np.errstate(divide="ignore", invalid="ignore"):
                gx = g.reshape(std_k.shape) * (d_s / (x.dtype.type(denom) * std_s))
            self._accumulate(xp.where(std_s == 0, 0, gx).astype(gx.dtype))  # as torch: 0 at 0

        db = functools.partial(_d_std, self, axes, c, denom, std_k.shape)
        return Tensor._make(
            std_k.reshape(out_shape), (self,), _backward, "std", saves=(self,), dbackward=db
        )

    @_fp_silent
    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))) over dim, computed stably (in float32 for int / bool input, as
        torch)."""
        if self.data.dtype.kind != "f":
            return self.to(np.float32).logsumexp(dim, keepdim)
        axes = _dims(dim, self.data.ndim, "logsumexp")
        if self.data.ndim == 0:  # a 0-d tensor: its one element (numpy's 0-d steps give scalars)
            return self.reshape(1).logsumexp(0)
        x = self.data
        xp = get_array_module(x)
        if (
            type(x) is np.ndarray
            and axes
            and sorted(axes) == list(range(min(axes), min(axes) + len(axes)))
            and x.flags.c_contiguous
            and x.dtype in (np.float32, np.float64)
        ):
            return self._logsumexp_rows(axes, keepdim)
        if x.size:
            m = xp.amax(x, axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
        else:
            m = xp.zeros([1 if i in axes else s for i, s in enumerate(x.shape)], dtype=x.dtype)
        e = xp.subtract(x, m)
        xp.exp(e, out=e)  # in place: one temporary (the values as exp(x - m))
        out_k = xp.log(e.sum(axis=axes, keepdims=True)) + m
        del e
        out = (
            out_k if keepdim else out_k.reshape([s for i, s in enumerate(x.shape) if i not in axes])
        )

        def _backward(g: Any) -> None:
            gk = g.reshape(out_k.shape)
            gx = xp.subtract(x, out_k)
            xp.exp(gx, out=gx)
            if gx.dtype == gk.dtype:
                self._accumulate(xp.multiply(gk, gx, out=gx))  # g * exp(x - out), in place
            else:
                self._accumulate(gk * gx)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.reshape(out_k.shape) * (self - self.logsumexp(axes, True)).exp(),)

        return Tensor._make(
            out, (self,), _backward, "logsumexp", saves=(self,), dbackward=_dbackward
        )

    def _logsumexp_rows(self, axes: tuple[int, ...], keepdim: bool) -> Tensor:
        """logsumexp over a run of neighbouring axes of a C-contiguous float32 / float64 numpy
        array, viewed as (outer, c, inner) with the run as c: the kernel (dg.ops.logsumexp:
        each slice's max and sum of exp from one read of it from memory; over a middle axis,
        blocks of neighbouring slices read at their stride) and its one-pass backward
        g * exp(x - out)."""
        x = self.data
        a0, a1 = min(axes), max(axes) + 1
        lead, trail = x.shape[:a0], x.shape[a1:]
        x3 = x.reshape(math.prod(lead), math.prod(x.shape[a0:a1]), math.prod(trail))
        lse = ops.logsumexp(x3, dim=1)  # (outer, inner)
        out_k = lse.reshape(lead + (1,) * len(axes) + trail)
        out = out_k if keepdim else lse.reshape(lead + trail)

        def _backward(g: Any) -> None:
            g = np.ascontiguousarray(g, dtype=x.dtype).reshape(lse.shape)
            self._accumulate(ops.logsumexp_backward(g, x3, lse, dim=1).reshape(x.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.reshape(out_k.shape) * (self - self.logsumexp(axes, True)).exp(),)

        return Tensor._make(
            out, (self,), _backward, "logsumexp", saves=(self,), dbackward=_dbackward
        )

    @_fp_silent
    def prod(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        """The product over dim (one int, or None for all), as torch.prod; its gradient is
        exact when elements are zero (products of the others, no division)."""
        x_t = self if dtype is None else self.to(as_dtype(dtype, "prod"))
        if dim is not None and not isinstance(dim, (int, np.integer)):
            raise TypeError(f"prod: dim: expected an int or None, got {dim!r}")
        x = x_t.data
        xp = get_array_module(x)
        if dim is None:
            flat, d, keep_shape = x.reshape(-1), 0, (1,) * x.ndim
        else:
            d = _dim(dim, x.ndim, "prod")
            flat = x.reshape(1) if x.ndim == 0 else x
            keep_shape = tuple(1 if i == d else s for i, s in enumerate(x.shape))
        if x.dtype.kind != "f":
            kind = np.int64 if x.dtype.kind in "biu" else None  # torch: int64 (uint8 too)
            out = xp.asarray(xp.prod(flat, axis=d, dtype=kind))
            out = (
                out.reshape(keep_shape)
                if keepdim
                else out.reshape(() if dim is None else x.shape[:d] + x.shape[d + 1 :])
            )
            if dtype is not None:  # torch multiplies in the dtype asked for (wrapping)
                out = out.astype(x.dtype)
            return _no_graph(out, "prod")
        out_k = xp.prod(flat, axis=d, keepdims=True)
        if dim is None:
            out = out_k.reshape(keep_shape) if keepdim else out_k.reshape(())
        else:
            out = (
                out_k.reshape(keep_shape)
                if keepdim
                else out_k.reshape(x.shape[:d] + x.shape[d + 1 :])
            )

        def _backward(g: Any) -> None:
            others = _exclusive_prod(flat, d, xp)
            x_t._accumulate((others * g.reshape(out_k.shape)).reshape(x.shape))

        db = functools.partial(_d_prod, x_t, dim is None, d, out_k.shape)
        return Tensor._make(out, (x_t,), _backward, "prod", saves=(x_t,), dbackward=db)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        """The vector p-norm over dim (all elements by default): p = 'fro' / 2, 1, inf, -inf
        or any p > 0, as torch.norm (matrix norms other than 'fro' are not offered)."""
        _float_only(self, "norm")
        if p == "fro" or p == 2:
            return _p_norm(self, 2, dim, keepdim)
        if isinstance(p, str) or not isinstance(p, (int, float, np.number)):
            raise ValueError(f"norm: p: expected 'fro' or a number, got {p!r}")
        if p == math.inf or p == -math.inf:
            # torch's norm_backward: a NaN norm sends the gradient to the NaN (where abs's
            # sgn(NaN) = 0 zeroes it), not NaN over the slice as amax's would
            op = "amax" if p > 0 else "amin"
            return self.abs()._extreme(dim, keepdim, op, spread_nan=True)
        if p == 1:
            return _one_norm(self, dim, keepdim)
        if p == 0:  # torch's: the count of non-zero elements (NaN counts); no gradient flows
            with no_grad():
                count = (self != 0).to(self.dtype).sum(dim, keepdim).data
            # torch's norm_backward returns an undefined gradient for p = 0, with a graph too
            return Tensor._make(count, (self,), lambda g: None, "norm", saves=(), dbackward=_d_none)
        if p < 0:
            raise ValueError(f"norm: p: expected p >= 0, 'fro' or +-inf, got {p!r}")
        return _p_norm(self, p, dim, keepdim)

    def numel(self) -> int:
        return self.data.size

    nelement = numel

    def dim(self) -> int:
        return self.data.ndim

    ndimension = dim

    def size(self, dim: Any = None) -> Any:
        """The shape (a tuple, torch.Size's role), or the size of one dim, as torch."""
        if dim is None:
            return self.data.shape
        if self.data.ndim == 0:
            raise IndexError(f"size: dim: {dim!r} given, but the tensor has no dimensions")
        return self.data.shape[_dim(dim, self.data.ndim, "size")]

    def element_size(self) -> int:
        return self.data.itemsize

    # ---- elementwise math (the other activations are in deltagrad.functional) --------------

    def _unary(
        self, out_data: Any, grad_fn: Any, op: str, saves: Any = None, dbackward: Any = None
    ) -> Tensor:
        def _backward(g: Any) -> None:
            self._accumulate(grad_fn(g))

        return Tensor._make(out_data, (self,), _backward, op, saves=saves, dbackward=dbackward)

    @_fp_silent
    def exp(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        out_data = xp.exp(x)
        return self._unary(
            out_data, lambda g: g * out_data, "exp", dbackward=lambda g: (g * self.exp(),)
        )

    @_fp_silent
    def log(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        return self._unary(xp.log(x), lambda g: g / x, "log", dbackward=lambda g: (g / self,))

    @_fp_silent
    def sqrt(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        out_data = xp.sqrt(x)
        return self._unary(
            out_data,
            lambda g: g / (2 * out_data),
            "sqrt",
            dbackward=lambda g: (g / (2 * self.sqrt()),),
        )

    @_fp_silent
    def rsqrt(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        out_data = 1 / xp.sqrt(x)
        return self._unary(
            out_data,
            lambda g: g * (-0.5) * _pow_scalar(out_data, 3),  # torch's result.pow(3)
            "rsqrt",
            dbackward=lambda g: (g * (-0.5) * self.rsqrt() ** 3,),
        )

    @_fp_silent
    def sin(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        return self._unary(
            xp.sin(x), lambda g: g * xp.cos(x), "sin", dbackward=lambda g: (g * self.cos(),)
        )

    @_fp_silent
    def cos(self) -> Tensor:
        x = _as_float(self.data)
        xp = get_array_module(x)
        return self._unary(
            xp.cos(x), lambda g: -g * xp.sin(x), "cos", dbackward=lambda g: (-g * self.sin(),)
        )

    def abs(self) -> Tensor:
        x = self.data
        xp = get_array_module(x)
        return self._unary(
            xp.abs(x), lambda g: g * _sgn(x), "abs", dbackward=lambda g: (g * self.sign(),)
        )

    __abs__ = absolute = abs

    def sign(self) -> Tensor:
        x = self.data
        xp = get_array_module(x)
        # torch's sign: 0 at NaN (NumPy's is NaN)
        out = _sgn(x) if x.dtype.kind == "f" else xp.sign(x) if x.dtype.kind != "b" else x.copy()
        return self._unary(out, lambda g: xp.zeros_like(g), "sign", saves=(), dbackward=_d_zero)

    def square(self) -> Tensor:
        if self.data.dtype.kind == "b":
            return self**2  # int64, as torch (bool * bool stays bool)
        return self * self

    @_fp_silent
    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """min(max(x, min), max), as torch.clamp; min/max are numbers or tensors. The gradient
        passes where min <= x <= max."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must not be None")
        if any(
            isinstance(v, Tensor) or (_is_array(v) and not isinstance(v, np.generic))
            for v in (min, max)
        ):  # a numpy scalar is a number here, as torch (checked against the dtype below)
            return _clamp_tensor(self, min, max)
        for v, nm in ((min, "min"), (max, "max")):
            if v is not None and not isinstance(v, (int, float, np.number, np.bool_)):
                raise TypeError(f"clamp: {nm}: expected a number or a tensor, got {v!r}")
            if isinstance(v, (bool, np.bool_)) and self.dtype.kind == "b":  # True is 1 elsewhere
                raise TypeError(f"clamp: {nm}: a bool tensor has no clamp by a bool, as torch")
        x = self.data
        if x.dtype.kind != "f":  # torch's dtype: float32 by a float bound, else bool -> int64
            if any(isinstance(v, (float, np.floating)) for v in (min, max)):
                x = x.astype(np.float32)
            elif x.dtype.kind == "b":
                x = x.astype(np.int64)
        # each bound checked against that dtype, as torch (1e300 on float32 raises)
        if min is not None:
            min = _fit_scalar(min, x.dtype, "clamp", "min")
        if max is not None:
            max = _fit_scalar(max, x.dtype, "clamp", "max")
        xp = get_array_module(x)
        out = x
        if min is not None:
            out = xp.maximum(out, min)
        if max is not None:
            out = xp.minimum(out, max)
        if out is x:
            out = x.copy()

        def _grad(g: Any) -> Any:
            # 0 where x is NaN (or a bound is: no comparison holds), as torch's mask
            keep = xp.ones(x.shape, dtype=bool)
            if min is not None:
                keep &= x >= min
            if max is not None:
                keep &= x <= max
            return xp.where(keep, g, 0).astype(g.dtype)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            keep = xp.ones(x.shape, dtype=bool)
            if min is not None:
                keep &= x >= min
            if max is not None:
                keep &= x <= max
            return (where(keep, g, 0.0),)

        return self._unary(out, _grad, "clamp", saves=(self,), dbackward=_dbackward)

    clip = clamp

    def _minmax2(self, other: Any, op: str) -> Tensor:
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            # a number (deltagrad's extension: torch takes tensors only) is checked against
            # the dtype, as clamp's bounds: int8.maximum(300) raises, it is never wrapped
            dt = self.data.dtype
            other = _fit_scalar(
                other, dt if dt.kind == "f" else _scalar_dtype(dt, other), op, "other"
            )
        other = self._lift(other, op)
        a, b = self.data, other.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        xp = get_array_module(a)
        try:
            out = xp.maximum(a, b) if op == "maximum" else xp.minimum(a, b)
        except ValueError as e:
            _raise_broadcast_error(e)
            raise

        def _backward(g: Any) -> None:
            # torch's formula: ties split the gradient in halves, the losing side gets 0, and
            # where a or b is NaN (no comparison holds) both sides get the whole gradient
            gs = xp.where(a == b, g / 2, g).astype(g.dtype)
            zero = g.dtype.type(0)
            if self.requires_grad:
                loses = (a < b) if op == "maximum" else (a > b)
                self._accumulate(_unbroadcast(xp.where(loses, zero, gs), self.shape))
            if other.requires_grad:
                loses = (a > b) if op == "maximum" else (a < b)
                other._accumulate(_unbroadcast(xp.where(loses, zero, gs), other.shape))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            gs = where(a == b, g / 2, g)
            lose_a = (a < b) if op == "maximum" else (a > b)
            lose_b = (a > b) if op == "maximum" else (a < b)
            return where(lose_a, 0.0, gs), where(lose_b, 0.0, gs)

        return Tensor._make(
            out, (self, other), _backward, op, saves=(self, other), dbackward=_dbackward
        )

    def maximum(self, other: Any) -> Tensor:
        return self._minmax2(other, "maximum")

    def minimum(self, other: Any) -> Tensor:
        return self._minmax2(other, "minimum")

    def where(self, condition: Any, other: Any) -> Tensor:
        """self where condition, else other (torch's Tensor.where)."""
        return where(condition, self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """A copy with value where mask (a bool tensor broadcastable to self) is True."""
        m = mask.data if isinstance(mask, Tensor) else mask
        if getattr(m, "dtype", None) is None or m.dtype.kind != "b":
            raise TypeError(
                f"masked_fill: mask: expected a bool tensor, got "
                f"{getattr(m, 'dtype', type(m).__name__)}"
            )
        vt = None
        if isinstance(value, Tensor):
            if value.data.ndim != 0:
                raise ValueError(
                    f"masked_fill: value: expected a number or a 0-d tensor, got shape "
                    f"{value.shape}"
                )
            vt, value = value, value.data
        xp = get_array_module(self.data)
        try:
            b = np.broadcast_shapes(tuple(m.shape), self.shape)
        except ValueError:
            b = None
        if b != self.shape:
            raise ValueError(
                f"masked_fill: mask: shape {tuple(m.shape)} does not broadcast to the "
                f"tensor's shape {self.shape}"
            )
        # torch checks the value against the dtype (1e300 into float32 raises, not inf)
        fill = _fit_scalar(value.item() if vt is not None else value, self.dtype, "masked_fill")
        out = xp.where(m, xp.asarray(fill), self.data)
        if vt is None or not vt.requires_grad:
            return self._unary(
                out,
                lambda g: xp.where(m, 0, g).astype(g.dtype),
                "masked_fill",
                (),
                dbackward=lambda g: (where(m, 0.0, g),),
            )

        def _backward(g: Any) -> None:  # a 0-d value that requires grad: the masked sum
            if self.requires_grad:
                self._accumulate(xp.where(m, 0, g).astype(g.dtype))
            vt._accumulate(xp.where(m, g, 0).sum().astype(vt.data.dtype))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return where(m, 0.0, g), where(m, g, 0.0).sum()

        return Tensor._make(
            out, (self, vt), _backward, "masked_fill", saves=(), dbackward=_dbackward
        )

    def floor_divide(self, other: Any) -> Tensor:
        return self // other

    def remainder(self, other: Any) -> Tensor:
        return self % other

    def relu(self) -> Tensor:
        return activate(self, "relu")

    def sigmoid(self) -> Tensor:
        return activate(self, "sigmoid")

    def tanh(self) -> Tensor:
        return activate(self, "tanh")

    # ---- comparisons and logical ops: bool tensors, no grad ------------------------------

    def _compare(self, other: Any, fn: str) -> Any:
        a = self.data
        if isinstance(other, Tensor):
            o = self._lift(other).data
            if o.dtype != a.dtype and fn in _COMPARISONS:
                a, o = _promote(a, o)  # torch compares in the promoted dtype, as arithmetic
        elif isinstance(other, (int, float, np.number, np.bool_)):  # bool is an int
            # as torch (and _lift): a numpy scalar is a plain number (in a float tensor's
            # dtype), a float scalar next to an int / bool tensor compares in float32. A
            # Python int next to an int tensor compares exactly (torch wraps it into the
            # tensor's dtype first: uint8 > -1 is False there). An int beyond 64 bits is
            # torch's OverflowError
            o = other
            if type(other) is int and not _I64_MIN <= other < _U64_END:
                raise _int_too_big(other, fn, "other")
            if a.dtype.kind == "f":
                if isinstance(other, np.number) and fn in _COMPARISONS:
                    o = other.item()
            elif isinstance(other, (float, np.floating)) and fn in _COMPARISONS:
                a, o = a.astype(np.float32), float(other)
        elif isinstance(other, (np.ndarray, list, tuple)) or is_cuda_array(other):
            xp = get_array_module(self.data)
            o = other if not isinstance(other, (list, tuple)) else xp.asarray(other)
            if is_cuda_array(o) != is_cuda_array(self.data):
                self._lift(o)  # raises the device error
        else:
            return NotImplemented
        xp = get_array_module(a)
        try:
            if type(o) is float and a.dtype.itemsize < 8:  # 1e300 as float32: inf, silently
                out = _quiet(getattr(xp, fn), a, o)
            else:
                out = getattr(xp, fn)(a, o)
        except (TypeError, ValueError) as e:
            kind = _ShapeError if _is_broadcast_error(e) else type(e)
            raise kind(f"{fn}: other: {e}") from None
        except OverflowError:  # int8 & 300: a bitwise / logical op wraps the int, as torch
            out = getattr(xp, fn)(a, _wrap_int(o, a.dtype, fn))
        return _no_graph(out, fn)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, "equal")

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, "not_equal")

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, "less")

    def __le__(self, other: Any) -> Any:
        return self._compare(other, "less_equal")

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, "greater")

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, "greater_equal")

    __hash__ = object.__hash__  # identity, as torch: tensors stay usable as dict keys

    def eq(self, other: Any) -> Tensor:
        return _must(self._compare(other, "equal"), "eq", other)

    def ne(self, other: Any) -> Tensor:
        return _must(self._compare(other, "not_equal"), "ne", other)

    def lt(self, other: Any) -> Tensor:
        return _must(self._compare(other, "less"), "lt", other)

    def le(self, other: Any) -> Tensor:
        return _must(self._compare(other, "less_equal"), "le", other)

    def gt(self, other: Any) -> Tensor:
        return _must(self._compare(other, "greater"), "gt", other)

    def ge(self, other: Any) -> Tensor:
        return _must(self._compare(other, "greater_equal"), "ge", other)

    def logical_and(self, other: Any) -> Tensor:
        return _must(self._compare(other, "logical_and"), "logical_and", other)

    def logical_or(self, other: Any) -> Tensor:
        return _must(self._compare(other, "logical_or"), "logical_or", other)

    def logical_xor(self, other: Any) -> Tensor:
        return _must(self._compare(other, "logical_xor"), "logical_xor", other)

    def logical_not(self) -> Tensor:
        xp = get_array_module(self.data)
        return _no_graph(xp.logical_not(self.data), "logical_not")

    def _bitwise(self, other: Any, fn: str, op: str) -> Any:
        if self.data.dtype.kind not in "biu":
            raise TypeError(f"{op}: expected a bool or integer tensor, got dtype {self.dtype}")
        return self._compare(other, fn)

    def __and__(self, other: Any) -> Any:
        return self._bitwise(other, "bitwise_and", "and")

    def __or__(self, other: Any) -> Any:
        return self._bitwise(other, "bitwise_or", "or")

    def __xor__(self, other: Any) -> Any:
        return self._bitwise(other, "bitwise_xor", "xor")

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self) -> Tensor:
        if self.data.dtype.kind not in "biu":
            raise TypeError(f"invert: expected a bool or integer tensor, got dtype {self.dtype}")
        xp = get_array_module(self.data)
        return _no_graph(xp.invert(self.data), "invert")

    def isnan(self) -> Tensor:
        return _no_graph(get_array_module(self.data).isnan(self.data), "isnan")

    def isinf(self) -> Tensor:
        return _no_graph(get_array_module(self.data).isinf(self.data), "isinf")

    def isfinite(self) -> Tensor:
        xp = get_array_module(self.data)
        return _no_graph(xp.isfinite(self.data), "isfinite")

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        axes = _dims(dim, self.data.ndim, "any", empty_is_all=False)
        xp = get_array_module(self.data)
        out = xp.any(self.data, axis=axes, keepdims=keepdim)
        return _no_graph(xp.asarray(out), "any")

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        axes = _dims(dim, self.data.ndim, "all", empty_is_all=False)
        xp = get_array_module(self.data)
        out = xp.all(self.data, axis=axes, keepdims=keepdim)
        return _no_graph(xp.asarray(out), "all")

    # ---- Python protocols ------------------------------------------------------------------

    def _scalar(self, op: str) -> Any:
        if self.data.size != 1:
            raise ValueError(
                f"{op}: only a one-element tensor converts to a Python scalar, got shape "
                f"{self.shape}"
            )
        return self.data.item()

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"bool: the truth value of a tensor with {self.data.size} elements is "
                f"ambiguous (shape {self.shape}); use .any() or .all()"
            )
        return bool(self.data.item())

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(
                "index: only integer tensors of a single element can be converted to an index"
            )
        return int(self.data.item())

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        return object.__format__(self, spec)

    # ---- DLPack: torch, cupy, jax take our data without a copy -----------------------------

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    # ---- torch.Tensor method parity (r32): composed of the ops above where possible, so the
    # gradient comes for free and any device the ops run on works -----------------------------

    def _inplace_from(self, op: str, result: Callable[[], Tensor], operand: Any = None) -> Tensor:
        """An in-place op as its out-of-place twin: result() is computed on a detached self
        inside self._inplace (which refuses a graph through self, and bumps the version only
        once the write went through), then written into self's array."""
        with self._inplace(op, operand) as d:
            out = result().data
            if out.shape != d.shape:
                raise ValueError(
                    f"{op}: the result's shape {tuple(out.shape)} does not match the "
                    f"tensor's shape {tuple(d.shape)} (an in-place op cannot broadcast self)"
                )
            if out.dtype != d.dtype and _KIND_RANK.get(out.dtype.kind, 3) > _KIND_RANK.get(
                d.dtype.kind, 3
            ):
                raise TypeError(
                    f"{op}: result type {out.dtype} can't be cast to the desired output "
                    f"type {d.dtype}"
                )
            d[...] = out
        return self

    # softmax / log_softmax: set in _tensor_functions (deltagrad.functional imports this
    # module, so this module does not import it)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """masked_fill, in place."""
        return self._inplace_from(
            "masked_fill_", lambda: self.detach().masked_fill(mask, value), value
        )

    def _dim_index(self, dim: Any, index: Any, op: str, negative: bool = False) -> tuple[int, Any]:
        """(dim, index) of the index_* ops: index a 0-d or 1-d integer tensor of in-range
        values (negative ones count from the end where `negative`: torch's index_fill takes
        them, its index_select / index_add / index_copy raise)."""
        d = _dim(dim, self.data.ndim, op)
        idx = index.data if isinstance(index, Tensor) else index
        if not _is_array(idx) or idx.dtype.kind not in "iu":
            raise TypeError(
                f"{op}: index: expected an int64 tensor, got "
                f"{getattr(idx, 'dtype', type(index).__name__)}"
            )
        if is_cuda_array(idx) != is_cuda_array(self.data):
            raise RuntimeError(f"{op}: index: expected it on the tensor's device {self.device}")
        if idx.ndim > 1:
            raise ValueError(f"{op}: index: expected a 0-d or 1-d tensor, got shape {idx.shape}")
        n = self.shape[d] if self.data.ndim else 1
        lo = -n if negative else 0
        if idx.size and (int(idx.min()) < lo or int(idx.max()) >= n):
            raise IndexRangeError(f"{op}: index: values out of range [{lo}, {n}) for dim {d}")
        return d, idx.reshape(-1) % max(n, 1)

    def index_select(self, dim: int, index: Any) -> Tensor:
        """The slices at index (0-d or 1-d) along dim, as torch.index_select."""
        d, idx = self._dim_index(dim, index, "index_select")
        if self.data.ndim == 0:
            if idx.size != 1:
                raise IndexError(
                    f"index_select: index: a 0-d tensor takes exactly 1 index, got {idx.size}"
                )
            return self.reshape(())
        if type(self.data) is np.ndarray:
            return _index_select_node(self, d, idx)
        return self[(slice(None),) * d + (idx,)]

    def index_fill(self, dim: int, index: Any, value: Any) -> Tensor:
        """A copy with value in the slices at index along dim, as torch.index_fill."""
        d, idx = self._dim_index(dim, index, "index_fill", negative=True)
        xp = get_array_module(self.data)
        n = self.shape[d] if self.data.ndim else 1
        hit = xp.zeros(n, dtype=bool)
        hit[idx] = True
        shape = [1] * self.data.ndim
        if shape:
            shape[d] = n
        if not isinstance(value, Tensor):  # checked as torch, under this op's name
            _fit_scalar(value, self.dtype, "index_fill")
        return self.masked_fill(hit.reshape(shape), value)

    def index_fill_(self, dim: int, index: Any, value: Any) -> Tensor:
        return self._inplace_from(
            "index_fill_", lambda: self.detach().index_fill(dim, index, value), value
        )

    def _index_source(self, dim: int, index: Any, source: Any, op: str) -> tuple[Any, Tensor]:
        """(index as a scatter index of source's shape, source) for index_add / index_copy."""
        d, idx = self._dim_index(dim, index, op)
        src = self._lift(source) if isinstance(source, Tensor) else _wrap(source, op, "source")
        if src.dtype != self.dtype:
            raise TypeError(
                f"{op}: self ({self.dtype}) and source ({src.dtype}) must have the same dtype"
            )
        want = list(self.shape)
        if want:
            want[d] = idx.size
        if src.data.ndim != self.data.ndim and not (
            self.data.ndim == 0 and src.data.size == idx.size
        ):
            raise ValueError(
                f"{op}: source: expected shape {tuple(want)} (self's, with {idx.size} "
                f"indices along dim {d}), got {src.shape}"
            )
        if want and tuple(want) != src.shape:
            raise ValueError(
                f"{op}: source: expected shape {tuple(want)} (self's, with {idx.size} "
                f"indices along dim {d}), got {src.shape}"
            )
        if not want:
            return idx.reshape(idx.shape), src.reshape(idx.shape)
        xp = get_array_module(self.data)
        view = [1] * len(want)
        view[d] = idx.size
        return xp.broadcast_to(idx.reshape(view), tuple(want)), src

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """A copy with alpha * source's slices added at index along dim (repeated indices
        accumulate), as torch.index_add."""
        idx, src = self._index_source(dim, index, source, "index_add")
        if alpha != 1:
            src = src * alpha
        if self.data.ndim == 0:
            return self + src.sum()
        d = _dim(dim, self.data.ndim, "index_add")
        if type(self.data) is np.ndarray and self.data.dtype in (np.float32, np.float64):
            flat = (index.data if isinstance(index, Tensor) else np.asarray(index)).reshape(-1)
            return _index_add_node(self, d, flat, src)
        return self.scatter_add(d, idx, src)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return self._inplace_from(
            "index_add_", lambda: self.detach().index_add(dim, index, source, alpha=alpha), source
        )

    def index_copy(self, dim: int, index: Any, source: Any) -> Tensor:
        """A copy with source's slices written at index along dim, as torch.index_copy
        (with a repeated index, the last write wins here; torch leaves it undefined)."""
        idx, src = self._index_source(dim, index, source, "index_copy")
        if self.data.ndim == 0:
            return src.reshape(()) if idx.size else self.clone()
        return self.scatter(_dim(dim, self.data.ndim, "index_copy"), idx, src)

    def index_copy_(self, dim: int, index: Any, source: Any) -> Tensor:
        return self._inplace_from(
            "index_copy_", lambda: self.detach().index_copy(dim, index, source), source
        )

    def scatter(
        self, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None
    ) -> Tensor:
        """A copy with out[index[i][j]][j] = src[i][j] (dim 0), or = value (a number), as
        torch.scatter; differentiable in self and src. reduce (torch's deprecated 'add' /
        'multiply') is not supported: use scatter_add."""
        if reduce is not None:
            raise ValueError(
                f"scatter: reduce={reduce!r} is not supported (deprecated in torch); use "
                "scatter_add"
            )
        if src is None and value is None:
            raise TypeError("scatter: expected src (a tensor) or value (a number)")
        if src is not None and value is not None:
            raise TypeError("scatter: pass src or value, not both")
        if value is None and not isinstance(src, Tensor) and not _is_array(src):
            value, src = src, None  # scatter(dim, index, 1.5): torch's value overload
        d = _dim(dim, self.data.ndim, "scatter")
        idx = _index_arg(index, self, d, "scatter")
        xp = get_array_module(self.data)
        _check_index_range(idx, self.shape[d] if self.data.ndim else 1, "scatter", xp)
        hit = xp.zeros(self.shape, dtype=bool)
        if src is None:
            if isinstance(value, Tensor):
                raise TypeError("scatter: value: expected a number; pass a tensor as src")
            _scatter_set(hit, d, idx, True)
            _fit_scalar(value, self.dtype, "scatter")  # checked as torch, under this op's name
            return self.masked_fill(hit, value)
        src_t = self._lift(src) if isinstance(src, Tensor) else _wrap(src, "scatter", "src")
        if src_t.data.ndim != idx.ndim or any(i > s for i, s in zip(idx.shape, src_t.shape)):
            raise ValueError(
                f"scatter: src: expected a shape at least the index's {idx.shape} in every "
                f"dim, got {src_t.shape}"
            )
        if src_t.dtype != self.dtype:
            raise TypeError(
                f"scatter: src: expected dtype {self.dtype} (self's), got {src_t.dtype}"
            )
        lead = _leading_slices(idx.shape, 0, all_dims=True)
        out = self.data.copy()
        _scatter_set(out, d, idx, src_t.data[lead])
        _scatter_set(hit, d, idx, True)

        def _backward(g: Any) -> None:
            if self.requires_grad:
                self._accumulate(xp.where(hit, 0, g).astype(g.dtype))
            if src_t.requires_grad:
                gs = xp.zeros_like(src_t.data)
                gs[lead] = (
                    xp.take_along_axis(g[_leading_slices(idx.shape, d)], idx, axis=d)
                    if g.ndim
                    else g
                )
                src_t._accumulate(gs)

        from ._functional_dgrad import scatter_dbackward  # noqa: PLC0415  (imports tensor)

        db = scatter_dbackward(hit, d, idx, src_t.shape)
        return Tensor._make(out, (self, src_t), _backward, "scatter", saves=(), dbackward=db)

    def scatter_(
        self, dim: int, index: Any, src: Any = None, value: Any = None, *, reduce: Any = None
    ) -> Tensor:
        return self._inplace_from(
            "scatter_",
            lambda: self.detach().scatter(dim, index, src, value, reduce=reduce),
            src,
        )

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        return self._inplace_from(
            "scatter_add_", lambda: self.detach().scatter_add(dim, index, src), src
        )

    def _mask_arg(self, mask: Any, op: str) -> Any:
        m = mask.data if isinstance(mask, Tensor) else mask
        if getattr(m, "dtype", None) is None or m.dtype.kind != "b":
            raise TypeError(
                f"{op}: mask: expected a bool tensor, got {getattr(m, 'dtype', type(m).__name__)}"
            )
        if is_cuda_array(m) != is_cuda_array(self.data):
            raise RuntimeError(f"{op}: mask: expected it on the tensor's device {self.device}")
        return m

    def masked_select(self, mask: Any) -> Tensor:
        """The elements where mask (broadcast with self) is True, as a 1-d tensor."""
        m = self._mask_arg(mask, "masked_select")
        try:
            shape = np.broadcast_shapes(tuple(m.shape), self.shape)
        except ValueError:
            raise ValueError(
                f"masked_select: mask: shape {tuple(m.shape)} does not broadcast with the "
                f"tensor's shape {self.shape}"
            ) from None
        xp = get_array_module(self.data)
        if not shape:  # 0-d self and mask
            return self.reshape(1)[m.reshape(1)]
        return self.expand(shape)[xp.broadcast_to(m, shape)]

    def masked_scatter(self, mask: Any, source: Any) -> Tensor:
        """A copy with source's first elements (in order) written where mask (broadcast with
        self) is True, as torch.masked_scatter; differentiable in self and source."""
        m = self._mask_arg(mask, "masked_scatter")
        try:
            shape = np.broadcast_shapes(tuple(m.shape), self.shape)
        except ValueError:
            raise ValueError(
                f"masked_scatter: mask: shape {tuple(m.shape)} does not broadcast with the "
                f"tensor's shape {self.shape}"
            ) from None
        if isinstance(source, Tensor):
            src = self._lift(source)
        else:
            src = _wrap(source, "masked_scatter", "source")
        if src.dtype != self.dtype:
            raise TypeError(
                f"masked_scatter: source: expected dtype {self.dtype} (self's), got {src.dtype}"
            )
        xp = get_array_module(self.data)
        pos = xp.flatnonzero(xp.broadcast_to(m, shape))
        if pos.size > src.data.size:
            raise ValueError(
                f"masked_scatter: source: has {src.data.size} elements, fewer than the "
                f"{pos.size} True elements of the mask"
            )
        flat = self.expand(shape).reshape(-1)
        return flat.scatter(0, pos, src.reshape(-1)[: pos.size]).reshape(shape)

    def masked_scatter_(self, mask: Any, source: Any) -> Tensor:
        return self._inplace_from(
            "masked_scatter_", lambda: self.detach().masked_scatter(mask, source), source
        )

    # ---- arithmetic method forms ----------------------------------------------------------

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self + alpha * other, as torch.add (alpha checked as torch: _check_alpha)."""
        if alpha.__class__ is int and alpha == 1:
            return self + other
        return self + self._scaled(other, alpha, "add")

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self - alpha * other, as torch.sub."""
        if alpha.__class__ is int and alpha == 1:
            return self - other
        return self + self._scaled(other, _negated(alpha), "sub")  # torch's -alpha, checked

    def _scaled(self, other: Any, alpha: Any, op: str) -> Tensor:
        """alpha * other in the dtype of self (op) other, alpha checked against it as torch."""
        o = self._lift(other, op)
        dt = _result_dtype(self.data, o.data)
        a = _check_alpha(alpha, dt, op).item()
        return (o if o.data.dtype == dt else o.to(dt)) * a

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return self * other

    multiply = mul

    def div(self, other: Any, *, rounding_mode: Any = None) -> Tensor:
        """self / other; rounding_mode "floor" is floor_divide, "trunc" rounds toward zero;
        both with torch's gradient there: zeros (a float result stays in the graph)."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            out = self.floor_divide(other)  # outside any graph
            if out.data.dtype.kind != "f":
                return out
            return _zero_grad_node(out.data, (self, self._lift(other)), "div")
        if rounding_mode == "trunc":
            o = self._lift(other)
            dt = _result_dtype(self.data, o.data)
            if dt.kind in "biu":
                _no_int_zero(o.data, "div")
            q = (self.detach() / o.detach()).data
            out = get_array_module(q).trunc(q)
            if dt.kind in "biu":
                return _no_graph(out.astype(dt), "div")
            return _zero_grad_node(out, (self, o), "div")
        raise ValueError(
            f"div: rounding_mode: expected None, 'trunc' or 'floor', got {rounding_mode!r}"
        )

    divide = div
    true_divide = __truediv__

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def neg(self) -> Tensor:
        return -self

    negative = neg

    def reciprocal(self) -> Tensor:
        return 1.0 / (self if self.data.dtype.kind == "f" else self.float())

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 * tensor2, as torch.addcmul (value is checked against the
        result dtype, as torch: 1e300 with float32 raises, 2.5 with int tensors is 2)."""
        t1 = self._lift(tensor1)
        t2 = t1._lift(tensor2, "addcmul")
        if value == 1:
            return self + t1 * t2
        v, dt = self._coef(value, "addcmul", "value", t1, t2)
        t1 = t1 if t1.data.dtype == dt else t1.to(dt)  # computed in the result dtype, as torch
        return self + (t1 * v) * t2  # torch's order: (value * tensor1) * tensor2

    def _coef(self, value: Any, op: str, name: str, *others: Tensor) -> tuple[Any, Any]:
        """A number multiplying others in `self + value * others...` as torch takes it:
        converted (checked, _fit_scalar) to the dtype of the whole expression; with it."""
        dt = self.data
        for t in others:  # _result_dtype's rules, left to right (0-d ones lose ties)
            dt = np.empty((0,) * max(dt.ndim, t.data.ndim), _result_dtype(dt, t.data))
        return _fit_scalar(value, dt.dtype, op, name).item(), dt.dtype

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 / tensor2, as torch.addcdiv (integer tensor1 and tensor2
        are refused, as torch)."""
        t1, t2 = self._lift(tensor1), self._lift(tensor2)
        if t1.data.dtype.kind in "biu" and t2.data.dtype.kind in "biu":
            raise TypeError(
                "addcdiv: integer division of tensor1 by tensor2 is not supported (as torch); "
                "use (tensor1 / tensor2) or convert one to float"
            )
        if value == 1:
            return self + t1 / t2
        v, dt = self._coef(value, "addcdiv", "value", t1, t2)  # a float dtype
        t1 = t1 if t1.data.dtype == dt else t1.to(dt)
        return self + (t1 * v) / t2  # torch's order: (value * tensor1) / tensor2

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._inplace_from(
            "addcmul_",
            lambda: self.detach().addcmul(tensor1, tensor2, value=value),
            _first_grad(tensor1, tensor2),
        )

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._inplace_from(
            "addcdiv_",
            lambda: self.detach().addcdiv(tensor1, tensor2, value=value),
            _first_grad(tensor1, tensor2),
        )

    def lerp(self, end: Any, weight: Any) -> Tensor:
        """self + weight * (end - self), as torch.lerp (torch's two-sided formula, exact at
        weight 1)."""
        e = self._lift(end)
        for name, t in (("input", self), ("end", e)):
            if t.data.dtype.kind != "f":
                raise TypeError(f"lerp: {name}: expected a floating point tensor, got {t.dtype}")
        if e.dtype != self.dtype:
            raise TypeError(f"lerp: expected dtype {self.dtype} for end but got dtype {e.dtype}")
        diff = e - self
        if not isinstance(weight, Tensor):
            w = float(_fit_scalar(weight, self.dtype, "lerp", "weight"))
            return self + diff * w if abs(w) < 0.5 else e - diff * (1.0 - w)
        w = self._lift(weight)
        low = w.detach().abs() < 0.5
        return where(low, self + diff * w, e - diff * (1 - w))

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        return self._inplace_from(
            "lerp_", lambda: self.detach().lerp(end, weight), _first_grad(end, weight)
        )

    @_fp_silent
    def _binary_float(self, other: Any, op: str) -> tuple[Tensor, Tensor, Any, Any]:
        o = self._lift(other)
        a, b = self.data, o.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        if a.dtype.kind != "f":
            raise TypeError(
                f"{op}: expected floating point tensors, got {self.dtype} and {o.dtype}"
            )
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _ShapeError(f"{op}: shapes {self.shape} and {o.shape} do not broadcast") from None
        return self, o, a, b

    @_fp_silent
    def hypot(self, other: Any) -> Tensor:
        """sqrt(self**2 + other**2) without overflow, as torch.hypot."""
        x, y, a, b = self._binary_float(other, "hypot")
        xp = get_array_module(a)
        out = xp.hypot(a, b)

        def _backward(g: Any) -> None:
            with np.errstate(divide="ignore", invalid="ignore"):
                if x.requires_grad:
                    x._accumulate(g * (a / out))
                if y.requires_grad:
                    y._accumulate(g * (b / out))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            h = x.hypot(y)
            return g * (x / h), g * (y / h)

        return Tensor._make(out, (x, y), _backward, "hypot", saves=(), dbackward=_dbackward)

    @_fp_silent
    def logaddexp(self, other: Any) -> Tensor:
        """log(exp(self) + exp(other)) without overflow, as torch.logaddexp."""
        x, y, a, b = self._binary_float(other, "logaddexp")
        xp = get_array_module(a)
        out = xp.logaddexp(a, b)

        def _backward(g: Any) -> None:
            with np.errstate(invalid="ignore", over="ignore"):  # torch's formula, exact at inf
                if x.requires_grad:
                    x._accumulate(g / (1 + xp.exp(b - a)))
                if y.requires_grad:
                    y._accumulate(g / (1 + xp.exp(a - b)))

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return g / (1 + (y - x).exp()), g / (1 + (x - y).exp())

        return Tensor._make(out, (x, y), _backward, "logaddexp", saves=(), dbackward=_dbackward)

    @_fp_silent
    def nan_to_num(self, nan: Any = 0.0, posinf: Any = None, neginf: Any = None) -> Tensor:
        """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest / lowest
        finite value), as torch.nan_to_num; the gradient is 0 at the replaced elements."""
        x = self.data
        if x.dtype.kind != "f":
            return self.clone()
        xp = get_array_module(x)
        fin = xp.isfinite(x)
        out = xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
        return self._unary(
            out,
            lambda g: xp.where(fin, g, 0).astype(g.dtype),
            "nan_to_num",
            (),
            dbackward=lambda g: (where(fin, g, 0.0),),
        )

    def nan_to_num_(self, nan: Any = 0.0, posinf: Any = None, neginf: Any = None) -> Tensor:
        return self._inplace_from(
            "nan_to_num_", lambda: self.detach().nan_to_num(nan, posinf, neginf)
        )

    # ---- scans, flips, triangles ----------------------------------------------------------

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        """Running sums along dim, as torch.cumsum (bool / int inputs sum in int64)."""
        d = _dim(dim, self.data.ndim, "cumsum")
        x = self.data if dtype is None else _scan_dtype(self.data, dtype, "cumsum")
        if x.dtype.kind in "biu":  # summed in int64 (bool / int inputs stay so, as torch)
            out = ops.cumsum(x.astype(np.int64), d) if x.ndim else x.astype(np.int64)
            return _no_graph(out if dtype is None else out.astype(x.dtype), "cumsum")
        out = ops.cumsum(x, d) if x.ndim else x.copy()

        def _grad(g: Any) -> Any:
            if not g.ndim:
                return g
            return ops.cumsum(g, d, reverse=True)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.flip(d).cumsum(d).flip(d) if g.ndim else g,)

        return self._unary(out, _grad, "cumsum", (), dbackward=_dbackward)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        """Running products along dim, as torch.cumprod; the gradient is exact where the
        input holds zeros."""
        d = _dim(dim, self.data.ndim, "cumprod")
        x = self.data if dtype is None else _scan_dtype(self.data, dtype, "cumprod")
        if x.dtype.kind in "biu":  # multiplied in int64 (bool / int inputs stay so, as torch)
            out = ops.cumprod(x.astype(np.int64), d) if x.ndim else x.astype(np.int64)
            return _no_graph(out if dtype is None else out.astype(x.dtype), "cumprod")
        xp = get_array_module(x)
        out = ops.cumprod(x, d) if x.ndim else x.copy()

        def _grad(g: Any) -> Any:
            if not g.ndim:
                return g
            return _cumprod_grad(x, out, g, d, xp)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            if x.size <= 1 or x.shape[d] == 1:  # torch: g itself (no graph to x)
                return (g,)
            xt = self if self.data.dtype == x.dtype else self.to(x.dtype)
            return (_cumprod_dgrad(xt, g, d),)

        return self._unary(out, _grad, "cumprod", (), dbackward=_dbackward)

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
        """The n-th forward difference along dim (prepend / append joined first), as
        torch.diff; bool tensors take logical_xor, as torch."""
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"diff: n: expected an int, got {n!r}")
        if n < 0:
            raise ValueError(f"diff: n: order must be non-negative but got {n}")
        if self.data.ndim == 0:
            raise ValueError("diff: expects input to be at least one-dimensional")
        d = _dim(dim, self.data.ndim, "diff")
        if n == 0:  # torch returns the input as is (prepend / append unused)
            return self.clone()
        parts = [p if isinstance(p, Tensor) else self._lift(p) for p in (prepend,) if p is not None]
        for p in parts:
            if p.data.ndim != self.data.ndim:
                raise ValueError(
                    f"diff: prepend / append: expected {self.data.ndim} dimensions (as the "
                    f"input), got shape {p.shape}"
                )
        parts.append(self)
        parts += [p if isinstance(p, Tensor) else self._lift(p) for p in (append,) if p is not None]
        x = cat(parts, d) if len(parts) > 1 else self
        for _ in range(n):
            m = x.shape[d]
            if m == 0:
                break
            hi, lo = x.narrow(d, 1, m - 1), x.narrow(d, 0, m - 1)
            x = hi.logical_xor(lo) if x.data.dtype.kind == "b" else hi - lo
        return x

    def flip(self, *dims: Any) -> Tensor:
        """The elements in reverse order along dims (a new tensor, as torch.flip)."""
        axes = _shape_args(dims, "flip", what="dims", signed=True)
        nd = self.data.ndim
        norm = [_dim(a, nd, "flip") for a in axes]
        if len(set(norm)) != len(norm):
            raise ValueError(f"flip: dims: a dim appears multiple times in {axes}")
        axes_t = tuple(norm) if nd else ()
        # a copy, as torch (an xp.flip view would let in-place ops change self): one pass of
        # dg.ops.flip, which the backward's g takes too (a view there would be copied again
        # by the engine for a leaf's .grad)
        out = ops.flip(self.data, axes_t)
        return self._unary(
            out,
            lambda g: ops.flip(g, axes_t) if axes_t else g,
            "flip",
            (),
            dbackward=lambda g: (g.flip(axes_t) if axes_t else g,),
        )

    def fliplr(self) -> Tensor:
        if self.data.ndim < 2:
            raise ValueError("fliplr: input must be >= 2-d")
        return self.flip(1)

    def flipud(self) -> Tensor:
        if self.data.ndim < 1:
            raise ValueError("flipud: input must be >= 1-d")
        return self.flip(0)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """Elements shifted cyclically by shifts along dims (the flattened tensor when dims
        is None), as torch.roll."""
        sh = _shape_args((shifts,), "roll", what="shifts", signed=True)
        if dims is None or (isinstance(dims, (tuple, list)) and not dims):
            if len(sh) != 1:
                raise ValueError(f"roll: shifts: {sh} needs dims of the same length")
            flat = self.reshape(-1)
            return flat.roll(sh[0], 0).reshape(self.shape)
        ds = _shape_args((dims,), "roll", what="dims", signed=True)
        if self.data.ndim == 0:
            raise IndexError("roll: dims: a 0-d tensor has no dimensions")
        if len(ds) != len(sh):
            raise ValueError(f"roll: shifts and dims must align: shifts {len(sh)}, dims {len(ds)}")
        axes = tuple(_dim(a, self.data.ndim, "roll") for a in ds)
        xp = get_array_module(self.data)
        if self.data.ndim == 0:
            return self.clone()
        out = xp.roll(self.data, sh, axes)
        back = tuple(-s for s in sh)
        return self._unary(
            out,
            lambda g: xp.roll(g, back, axes),
            "roll",
            (),
            dbackward=lambda g: (g.roll(back, axes),),
        )

    def _triangle(self, diagonal: int, op: str) -> Tensor:
        if self.data.ndim < 2:
            raise ValueError(f"{op}: input tensor must have at least 2 dimensions")
        if isinstance(diagonal, (bool, np.bool_)) or not isinstance(diagonal, (int, np.integer)):
            raise TypeError(f"{op}: diagonal: expected an int, got {diagonal!r}")
        k = int(diagonal)
        upper = not op.startswith("tril")
        return self._unary(
            _triangle_array(self.data, k, upper),
            lambda g: _triangle_array(g, k, upper),
            op,
            (),
            dbackward=lambda g: (g.triu(k) if upper else g.tril(k),),
        )

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle (elements with col - row <= diagonal) of the last two dims."""
        return self._triangle(diagonal, "tril")

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle (elements with col - row >= diagonal) of the last two dims."""
        return self._triangle(diagonal, "triu")

    def tril_(self, diagonal: int = 0) -> Tensor:
        return self._inplace_from("tril_", lambda: self.detach().tril(diagonal))

    def triu_(self, diagonal: int = 0) -> Tensor:
        return self._inplace_from("triu_", lambda: self.detach().triu(diagonal))

    # ---- products -------------------------------------------------------------------------

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def _ndim_is(self, other: Any, nd: tuple[int, int], op: str) -> Tensor:
        o = self._lift(other)
        for name, t, want in (("self", self, nd[0]), ("other", o, nd[1])):
            if t.data.ndim != want:
                raise _ShapeError(f"{op}: {name}: expected a {want}-d tensor, got shape {t.shape}")
        return o

    def mm(self, mat2: Any) -> Tensor:
        """The matrix product of two 2-d tensors, as torch.mm."""
        return self @ _same_dtype(self, self._ndim_is(mat2, (2, 2), "mm"), "mm")

    def bmm(self, mat2: Any) -> Tensor:
        """The batched matrix product of two 3-d tensors, as torch.bmm."""
        o = self._ndim_is(mat2, (3, 3), "bmm")
        if self.shape[0] != o.shape[0]:
            raise _ShapeError(f"bmm: batch sizes differ: {self.shape} and {o.shape}")
        return self @ _same_dtype(self, o, "bmm")

    def dot(self, other: Any) -> Tensor:
        """The inner product of two 1-d tensors of one dtype, as torch.dot."""
        o = self._ndim_is(other, (1, 1), "dot")
        if o.dtype != self.dtype:
            raise _MatmulDtypeError(
                f"dot: expected both vectors to have same dtype, but found {self.dtype} and "
                f"{o.dtype}"
            )
        return self @ o

    def outer(self, vec2: Any) -> Tensor:
        """self[i] * vec2[j], as torch.outer."""
        o = self._ndim_is(vec2, (1, 1), "outer")
        return self.reshape(-1, 1) * o.reshape(1, -1)

    ger = outer

    def _add_product(self, prod: Tensor, beta: Any, alpha: Any, op: str) -> Tensor:
        """beta * self + alpha * prod, self broadcast to prod's shape; beta 0 ignores self's
        values (NaN included), as torch."""
        try:
            shape = np.broadcast_shapes(self.shape, prod.shape)
        except ValueError:
            shape = None
        if shape != prod.shape:
            raise _ShapeError(f"{op}: input: shape {self.shape} does not broadcast to {prod.shape}")
        scaled = prod if alpha == 1 else prod * self._coef(alpha, op, "alpha", prod)[0]
        if beta == 0:
            xp = get_array_module(prod.data)
            return where(xp.zeros(prod.shape, dtype=bool), self.expand(prod.shape), scaled)
        return (self if beta == 1 else self * self._coef(beta, op, "beta", prod)[0]) + scaled

    def _operands(self, op: str, **named: Any) -> list[Tensor]:
        """op's matrix operands as Tensors (_lift), each of self's dtype, else torch's
        RuntimeError (deltagrad promotes nothing here; _MatmulDtypeError, a TypeError too)
        with op's message: addmm / addbmm name the first pair that differs (self and the
        second matrix first, as torch), addmv and baddbmm all three dtypes."""
        ts = []
        for name, x in named.items():
            if not isinstance(x, Tensor) and is_cuda_array(x):
                check_device_array(x, op, name)
            ts.append(self._lift(x, op))
        d0, d1, d2 = (str(t.data.dtype) for t in (self, *ts))
        if d0 == d1 == d2:
            return ts
        n1, n2 = named
        if op == "addmv":
            msg = f"input tensors must have the same dtype, but got {d0}, {d1}, and {d2}"
        elif op == "baddbmm":
            msg = f"Input dtypes must be the same, got: input {d0}, {n1}: {d1}, {n2}: {d2}"
        elif d0 != d2:
            msg = f"self and {n2} must have the same dtype, but got {d0} and {d2}"
        else:
            msg = f"{n1} and {n2} must have the same dtype, but got {d1} and {d2}"
        raise _MatmulDtypeError(f"{op}: {msg}")

    def addmm(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (mat1 @ mat2), as torch.addmm."""
        m1, m2 = self._operands("addmm", mat1=mat1, mat2=mat2)
        return self._add_product(m1.mm(m2), beta, alpha, "addmm")

    def baddbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (batch1 @ batch2) (3-d batches), as torch.baddbmm."""
        b1, b2 = self._operands("baddbmm", batch1=batch1, batch2=batch2)
        return self._add_product(b1.bmm(b2), beta, alpha, "baddbmm")

    def addbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (the sum over the batch of batch1[i] @ batch2[i]) (3-d
        batches (b, n, m) and (b, m, p); self broadcasts to (n, p)), as torch.addbmm. One GEMM:
        (n, b * m) @ (b * m, p), batch1's batch moved beside its columns."""
        b1, b2 = self._operands("addbmm", batch1=batch1, batch2=batch2)
        for name, t in (("batch1", b1), ("batch2", b2)):
            if t.ndim != 3:
                raise _ShapeError(f"addbmm: {name}: expected a 3-d tensor, got shape {t.shape}")
        (b, n, m), (b_, m_, p) = b1.shape, b2.shape
        if b != b_:
            raise _ShapeError(
                f"addbmm: batch1 and batch2 must have same number of batches, got {b} and {b_}"
            )
        if m != m_:
            raise _ShapeError(
                f"addbmm: Incompatible matrix sizes for bmm ({n}x{m} and {m_}x{p}): shapes "
                f"{b1.shape} and {b2.shape}"
            )
        prod = b1.permute(1, 0, 2).reshape(n, b * m) @ b2.reshape(b * m, p)
        return self._add_product(prod, beta, alpha, "addbmm")

    def addbmm_(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """addbmm, in place (self keeps its shape: it must be (n, p))."""
        return self._inplace_from(
            "addbmm_",
            lambda: self.detach().addbmm(batch1, batch2, beta=beta, alpha=alpha),
            _first_grad(batch1, batch2),
        )

    def addmm_(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """addmm, in place (self keeps its shape)."""
        return self._inplace_from(
            "addmm_",
            lambda: self.detach().addmm(mat1, mat2, beta=beta, alpha=alpha),
            _first_grad(mat1, mat2),
        )

    def baddbmm_(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """baddbmm, in place (self keeps its shape)."""
        return self._inplace_from(
            "baddbmm_",
            lambda: self.detach().baddbmm(batch1, batch2, beta=beta, alpha=alpha),
            _first_grad(batch1, batch2),
        )

    def addmv_(self, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """addmv, in place (self keeps its shape)."""
        return self._inplace_from(
            "addmv_",
            lambda: self.detach().addmv(mat, vec, beta=beta, alpha=alpha),
            _first_grad(mat, vec),
        )

    def addmv(self, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (mat @ vec), as torch.addmv."""
        m, v = self._operands("addmv", mat=mat, vec=vec)
        m._ndim_is(v, (2, 1), "addmv")
        return self._add_product(m @ v, beta, alpha, "addmv")

    # ---- reductions and tests ---------------------------------------------------------------

    def aminmax(self, *, dim: Any = None, keepdim: bool = False) -> Any:
        """(min, max) over all elements or along dim, as torch.aminmax."""
        if self.data.size == 0 and (
            dim is None or self.shape[_dim(dim, self.ndim, "aminmax")] == 0
        ):
            raise IndexError("aminmax(): cannot compute aminmax over an empty dimension")
        if dim is None:
            return _AminmaxResult(self.amin(), self.amax())
        d = _dim(dim, self.data.ndim, "aminmax")
        return _AminmaxResult(self.amin(d, keepdim), self.amax(d, keepdim))

    def count_nonzero(self, dim: Any = None) -> Tensor:
        """The number of nonzero elements (over dim), as an int64 tensor."""
        axes = _dims(dim, self.data.ndim, "count_nonzero")
        xp = get_array_module(self.data)
        out = (self.data != 0).sum(axis=axes, dtype=np.int64)
        return _no_graph(xp.asarray(out, dtype=np.int64), "count_nonzero")

    def isclose(
        self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> Tensor:
        """|self - other| <= atol + rtol * |other| elementwise, as torch.isclose."""
        o = self._lift(other)
        if o.dtype != self.dtype:
            raise TypeError(f"isclose: expected both of one dtype, got {self.dtype} and {o.dtype}")
        if rtol < 0 or atol < 0:
            raise ValueError(f"isclose: rtol and atol must be >= 0, got {rtol} and {atol}")
        xp = get_array_module(self.data)
        a, b = self.data, o.data
        if a.dtype.kind == "b":
            return _no_graph(xp.asarray(a == b), "isclose")
        with np.errstate(invalid="ignore", over="ignore"):
            out = xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=bool(equal_nan))
        return _no_graph(xp.asarray(out), "isclose")

    def allclose(
        self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> bool:
        """Whether isclose holds everywhere, as torch.allclose."""
        return bool(self.isclose(other, rtol, atol, equal_nan).data.all())

    # ---- new tensors like self, and shape helpers -------------------------------------------

    def _new(self, op: str, fill: Any, size: Any, dtype: Any, device: Any, rg: bool) -> Tensor:
        """A new leaf of size, self's dtype and device unless given (fill None: empty)."""
        shape = _shape_args(size, op, what="size")
        dt = self.dtype if dtype is None else as_dtype(dtype, op)
        if isinstance(fill, Tensor) and fill.data.ndim == 0:
            fill = fill.item()
        xp = get_array_module(self.data) if device is None else np
        if fill is None:
            arr = xp.empty(shape, dt)
        else:
            arr = xp.full(shape, _fit_scalar(fill, dt, op, "fill_value"), dt)
        return Tensor(arr, requires_grad=rg, device=device)

    def new_zeros(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """zeros of size, with self's dtype and device unless given, as torch."""
        return self._new("new_zeros", 0, size, dtype, device, requires_grad)

    def new_ones(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new("new_ones", 1, size, dtype, device, requires_grad)

    def new_empty(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new("new_empty", None, size, dtype, device, requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"new_full: size: expected a tuple of ints, got {type(size).__name__}")
        return self._new("new_full", fill_value, (size,), dtype, device, requires_grad)

    def new_tensor(
        self, data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """A copy of data as a new leaf, with self's dtype and device unless given (data's
        own dtype is not kept, as torch)."""
        out = tensor(
            data,
            dtype=self.dtype if dtype is None else dtype,
            device=self.device if device is None else device,
        )
        return out.requires_grad_(True) if requires_grad else out

    def type_as(self, other: Tensor) -> Tensor:
        """self cast to other's dtype."""
        return self.to(other.dtype)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        """Dims source moved to destination (the others keep their order), as torch.movedim."""
        nd = self.data.ndim
        src = _shape_args((source,), "movedim", what="source", signed=True)
        dst = _shape_args((destination,), "movedim", what="destination", signed=True)
        if len(src) != len(dst):
            raise ValueError(
                f"movedim: source ({len(src)} dims) and destination ({len(dst)} dims) must "
                "have the same number of dims"
            )
        s = [_dim(a, nd, "movedim") for a in src]
        t = [_dim(a, nd, "movedim") for a in dst]
        if len(set(s)) != len(s) or len(set(t)) != len(t):
            raise ValueError(f"movedim: repeated dim in source {src} or destination {dst}")
        if nd == 0:
            return self.reshape(())
        order = [i for i in range(nd) if i not in s]
        for a, b in sorted(zip(t, s)):
            order.insert(a, b)
        return self.permute(order)

    moveaxis = movedim

    def repeat(self, *sizes: Any) -> Tensor:
        """self tiled sizes[i] times along dim i (leading sizes add dims), as torch.repeat."""
        if not sizes:
            raise TypeError("repeat: missing the required argument sizes (torch's repeats)")
        reps = _shape_args(sizes, "repeat", what="sizes")
        if len(reps) < self.data.ndim:
            raise ValueError(
                f"repeat: sizes: {len(reps)} sizes, fewer than the tensor's {self.data.ndim} dims"
            )
        shape = (1,) * (len(reps) - self.data.ndim) + self.shape
        final = tuple(r * n for r, n in zip(reps, shape))
        # the (rep, size) pairs that are not (1, 1): the output is x broadcast over the reps
        pairs = [(r, n) for r, n in zip(reps, shape) if r != 1 or n != 1]
        inter = tuple(v for r, n in pairs for v in (1, n))
        big = tuple(v for r, n in pairs for v in (r, n))
        xp = get_array_module(self.data)
        # one copy (a new tensor, as torch), straight from the broadcast view
        out = xp.empty(final, dtype=self.data.dtype)
        out.reshape(big)[...] = self.data.reshape(inter)
        axes = tuple(2 * i for i, (r, _) in enumerate(pairs) if r != 1)
        lead = 0  # how many pairs, from the first, are (r, 1): the tiles are then whole blocks
        while lead < len(pairs) and pairs[lead][1] == 1:
            lead += 1
        rest = all(r == 1 for r, _ in pairs[lead:])
        in_shape = self.shape

        def _back(g: Any) -> Any:
            """The tiles of g summed (torch: the sum over the rep dims of g viewed as big)."""
            if not axes:
                return g.reshape(in_shape)
            if g.size == 0:  # a zero rep or an empty input: nothing to add up
                return xp.zeros(in_shape, dtype=g.dtype)
            if rest and lead:  # the tiles are the rows of g as (tiles, size): add them up
                rows = g.reshape(-1, int(np.prod(in_shape, dtype=np.int64)))
                if 1 < rows.shape[0] <= 16 and rows.shape[1]:
                    acc = xp.add(rows[0], rows[1])
                    for k in range(2, rows.shape[0]):
                        acc += rows[k]
                    return acc.reshape(in_shape)
                return rows.sum(0).reshape(in_shape)
            return g.reshape(big).sum(axis=axes).reshape(in_shape)

        def _dback(g: Tensor) -> tuple[Tensor]:
            if not axes:
                return (g.reshape(in_shape),)
            return (g.reshape(big).sum(axes).reshape(in_shape),)

        return self._unary(out, _back, "repeat", (), dbackward=_dback)

    # ---- more elementwise math (round 32): floats in, int tensors computed in float32 ------

    @_fp_silent
    def _math(self, op: str, f: Any, df: Any) -> Tensor:
        """f(xp, x) elementwise on self (bool / int as float32, as torch), with gradient
        g * df(xp, x, out) (df None: zero, for the step functions)."""
        x = _as_float(self.data)
        xp = get_array_module(x)
        out = f(xp, x)
        if df is None:
            return self._unary(out, lambda g: xp.zeros_like(g), op, saves=(), dbackward=_d_zero)
        d = _MATH_D.get(op)
        db = None if d is None else (lambda g: (g * d(self),))
        return self._unary(out, lambda g: g * df(xp, x, out), op, dbackward=db)

    def log1p(self) -> Tensor:
        return self._math("log1p", lambda xp, x: xp.log1p(x), lambda xp, x, y: 1 / (1 + x))

    def expm1(self) -> Tensor:
        return self._math("expm1", lambda xp, x: xp.expm1(x), lambda xp, x, y: y + 1)

    def tan(self) -> Tensor:
        return self._math("tan", lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y)

    def atan(self) -> Tensor:
        return self._math("atan", lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x))

    def asin(self) -> Tensor:
        return self._math(
            "asin", lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x)
        )

    def acos(self) -> Tensor:
        return self._math(
            "acos", lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x)
        )

    def sinh(self) -> Tensor:
        return self._math("sinh", lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x))

    def cosh(self) -> Tensor:
        return self._math("cosh", lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x))

    def asinh(self) -> Tensor:
        return self._math(
            "asinh", lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1)
        )

    @_fp_silent
    def acosh(self) -> Tensor:
        """acosh, with torch's gradient g * rsqrt(x*x - 1) (+inf at x = +-1; a value, not
        NaN, for x < -1, as torch)."""
        x = _as_float(self.data)
        xp = get_array_module(x)

        def grad(g: Any) -> Any:
            with np.errstate(all="ignore"):
                return g * (1 / xp.sqrt(x * x - 1))

        return self._unary(
            xp.arccosh(x), grad, "acosh", dbackward=lambda g: (g * (self * self - 1).rsqrt(),)
        )

    @_fp_silent
    def atanh(self) -> Tensor:
        """atanh, with torch's gradient g / (1 - x*x) (so its derivative at +-1 is +-inf)."""
        x = _as_float(self.data)
        xp = get_array_module(x)

        def grad(g: Any) -> Any:
            with np.errstate(all="ignore"):
                return g / (1 - x * x)

        return self._unary(
            xp.arctanh(x), grad, "atanh", dbackward=lambda g: (g / (1 - self * self),)
        )

    arcsin, arccos, arctan = asin, acos, atan  # numpy's names, torch's aliases
    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def log2(self) -> Tensor:
        return self._math("log2", lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * _LN2))

    def log10(self) -> Tensor:
        return self._math("log10", lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * _LN10))

    def exp2(self) -> Tensor:
        return self._math("exp2", lambda xp, x: xp.exp2(x), lambda xp, x, y: y * _LN2)

    def erf(self) -> Tensor:
        return self._math(
            "erf", lambda xp, x: _special("erf", x), lambda xp, x, y: _2_SQRTPI * xp.exp(-x * x)
        )

    def erfc(self) -> Tensor:
        return self._math(
            "erfc",
            lambda xp, x: _special("erfc", x),
            lambda xp, x, y: -_2_SQRTPI * xp.exp(-x * x),
        )

    def erfinv(self) -> Tensor:
        return self._math(
            "erfinv",
            lambda xp, x: _special("erfinv", x),
            lambda xp, x, y: xp.exp(y * y) / _2_SQRTPI,
        )

    def logit(self, eps: Any = None) -> Tensor:
        """log(x / (1 - x)), x clamped to [eps, 1 - eps] first when eps is given (the gradient
        is then 0 outside that range), as torch.logit."""
        if eps is not None:
            x = _as_float(self.data)
            e = float(_fit_scalar(eps, x.dtype, "logit", "eps"))  # 1e300 raises, as torch
            xp = get_array_module(x)
            inside = (x >= e) & (x <= 1 - e)
            z = xp.clip(x, e, 1 - e)
            with np.errstate(all="ignore"):
                out = xp.log(z / (1 - z))
                return self._unary(
                    out,
                    lambda g: xp.where(inside, g / (z * (1 - z)), 0).astype(g.dtype),
                    "logit",
                    dbackward=functools.partial(_d_logit_eps, self, inside),
                )

        def dlogit(xp: Any, x: Any, y: Any) -> Any:  # NaN outside [0, 1], as torch
            return xp.where((x < 0) | (x > 1), xp.nan, 1 / (x * (1 - x)))

        return self._math("logit", lambda xp, x: xp.log(x / (1 - x)), dlogit)

    def _rounding(self, op: str, fn: str) -> Tensor:
        if self.data.dtype.kind == "b":  # torch has no bool kernel
            hint = "convert the tensor to an integer or float dtype first"
            raise _kernel_dtype_error(op, f"{op}_vml_cpu", self.data.dtype, hint)
        if self.data.dtype.kind in "iu":  # ints are already whole: a copy, as torch
            return _no_graph(self.data.copy(), op)
        return self._math(op, lambda xp, x: getattr(xp, fn)(x), None)

    def floor(self) -> Tensor:
        return self._rounding("floor", "floor")

    def ceil(self) -> Tensor:
        return self._rounding("ceil", "ceil")

    def trunc(self) -> Tensor:
        return self._rounding("trunc", "trunc")

    fix = trunc

    def round(self, *, decimals: int = _ROUND_DEFAULT) -> Tensor:
        """Round half to even (to `decimals` decimal places), as torch.round; gradient 0. As
        torch, an integer tensor's round() is a copy, but round(decimals=...) (0 included)
        raises: torch has no integer kernel for it."""
        if isinstance(decimals, (bool, np.bool_)) or not isinstance(decimals, (int, np.integer)):
            raise TypeError(f"round: decimals: expected an int, got {decimals!r}")
        if decimals is _ROUND_DEFAULT or (decimals == 0 and self.data.dtype.kind == "f"):
            return self._rounding("round", "rint")
        if not -(2**63) <= int(decimals) < 2**63:
            raise _Int64RangeError(
                f"round: decimals: Overflow when unpacking long long ({decimals} does not fit "
                "int64, as torch)"
            )
        if self.data.dtype.kind != "f":
            kernel = "round_vml_cpu" if decimals == 0 else "round_cpu"
            hint = "decimals needs a float tensor; round() without decimals copies an int one"
            raise _kernel_dtype_error("round", kernel, self.data.dtype, hint)
        # as torch: 10**|decimals| in double, then in the type it computes in (float32 for
        # float16); inf beyond its range, which makes every result NaN (x * inf / inf)
        ct = np.dtype(np.float32) if self.data.dtype.itemsize < 4 else self.data.dtype
        with np.errstate(over="ignore"):
            p = ct.type(np.float64(10.0) ** abs(int(decimals)))

        def _round(xp: Any, x: Any) -> Any:
            with np.errstate(over="ignore", invalid="ignore"):
                xc = x.astype(ct, copy=False)
                y = xp.rint(xc * p) / p if decimals > 0 else xp.rint(xc / p) * p
                return y.astype(x.dtype, copy=False)

        return self._math("round", _round, None)

    def frac(self) -> Tensor:
        """x - trunc(x) (the sign of x), as torch.frac; float tensors only."""
        _float_only(self, "frac")
        return self._math("frac", lambda xp, x: x - xp.trunc(x), lambda xp, x, y: 1)

    def sgn(self) -> Tensor:
        """sign(x) for real tensors (torch's sgn is x / |x| for complex ones)."""
        return self.sign()

    def signbit(self) -> Tensor:
        """True where the sign bit is set (-0.0 included), as torch.signbit; no gradient."""
        x = self.data
        xp = get_array_module(x)
        return _no_graph(xp.signbit(x) if x.dtype.kind != "b" else xp.zeros_like(x), "signbit")

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    # ---- binary math: int operands computed in float32 (not fmod), as torch ----------------

    @_fp_silent
    def _float_pair(self, other: Any, op: str) -> tuple[Tensor, Any, Any]:
        if isinstance(other, (int, np.integer)) and self.data.dtype.kind != "f":
            other = _exact_float(other, op)  # float math on the int's value, as torch
        o = self._lift(other, op)
        a, b = self.data, o.data
        if a.dtype != b.dtype:
            a, b = _promote(a, b)
        if a.dtype.kind != "f":
            a, b = a.astype(np.float32), b.astype(np.float32)
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _ShapeError(f"{op}: shapes {self.shape} and {o.shape} do not broadcast") from None
        return o, a, b

    def _binary_math(
        self, other: Any, op: str, f: Any, dfa: Any, dfb: Any, dd: Any = None
    ) -> Tensor:
        """f(xp, a, b) with gradients g * dfa(xp, a, b) and g * dfb(xp, a, b); dd(x, y, g):
        the two gradients as Tensor ops (the double backward; None: none)."""
        o, a, b = self._float_pair(other, op)
        xp = get_array_module(a)
        with np.errstate(all="ignore"):
            out = f(xp, a, b)

        def _backward(g: Any) -> None:
            with np.errstate(all="ignore"):
                if self.requires_grad:
                    self._accumulate(g * dfa(xp, a, b))
                if o.requires_grad:
                    o._accumulate(g * dfb(xp, a, b))

        db = None if dd is None else functools.partial(_d_binary_math, dd, self, o)
        return Tensor._make(out, (self, o), _backward, op, saves=(), dbackward=db)

    def xlogy(self, other: Any) -> Tensor:
        """x * log(y), 0 where x == 0 (unless y is NaN), as torch.xlogy."""

        def f(xp: Any, a: Any, b: Any) -> Any:
            return xp.where((a == 0) & ~xp.isnan(b), 0, a * xp.log(b)).astype(a.dtype)

        def da(xp: Any, a: Any, b: Any) -> Any:  # torch's: log(y), 0 where x == 0 and y <= 0
            return xp.where((a == 0) & (b <= 0), 0, xp.log(b)).astype(a.dtype)

        return self._binary_math(other, "xlogy", f, da, lambda xp, a, b: a / b, _d_xlogy)

    def atan2(self, other: Any) -> Tensor:
        """The angle of (other, self), as torch.atan2 (self is y). torch's gradients, in its
        order: g * x * r and g * -y * r, r = 1 / (y^2 + x^2) set to 0 where it is inf (so 0,
        not NaN, at (0, 0) and where the squares underflow)."""
        o, a, b = self._float_pair(other, "atan2")
        xp = get_array_module(a)
        with np.errstate(all="ignore"):
            out = xp.arctan2(a, b)

        def _backward(g: Any) -> None:
            with np.errstate(all="ignore"):
                r = 1 / (a * a + b * b)
                r = xp.where(xp.isinf(r), r.dtype.type(0), r)
                if self.requires_grad:
                    self._accumulate(g * b * r)
                if o.requires_grad:
                    o._accumulate(g * -a * r)

        db = functools.partial(_d_binary_math, _d_atan2, self, o)
        return Tensor._make(out, (self, o), _backward, "atan2", saves=(), dbackward=db)

    arctan2 = atan2

    def fmod(self, other: Any) -> Tensor:
        """The C remainder (the sign of self), as torch.fmod; int tensors stay int (and raise
        on a zero divisor)."""
        o = _quiet(self._lift, other, "fmod")
        if self.data.dtype.kind != "f" and o.data.dtype.kind != "f":
            a, b = _promote(self.data, o.data)
            _no_int_zero(b, "fmod")
            return _no_graph(get_array_module(a).fmod(a, b), "fmod")
        return self._binary_math(
            o,
            "fmod",
            lambda xp, a, b: xp.fmod(a, b),
            lambda xp, a, b: 1,
            lambda xp, a, b: -xp.trunc(a / b),
            _d_fmod,
        )

    def heaviside(self, values: Tensor) -> Tensor:
        """0 where x < 0, values where x == 0, 1 where x > 0 (0 at NaN), as torch.heaviside;
        no gradient (torch defines none)."""
        if not isinstance(values, Tensor):
            raise TypeError(
                f"heaviside: values: expected a Tensor, got {type(values).__name__} (as torch)"
            )
        v = self._lift(values)
        if v.dtype != self.dtype:
            raise TypeError(
                f"heaviside: input ({self.dtype}) and values ({v.dtype}) must have one dtype"
            )
        x = self.data
        xp = get_array_module(x)
        out = xp.where(x == 0, v.data, (x > 0).astype(x.dtype)).astype(x.dtype)
        return _no_graph(out, "heaviside")

    # ---- sorting and selection: indices by numpy / cupy, values by gather (its gradient) ----

    def _select_at(self, d: int, idx: Any, keepdim: bool, op: str, result: Any) -> Any:
        """(values, indices) of the elements at idx (int64, shape of self but 1 along d)."""
        t = self.reshape(1) if self.data.ndim == 0 else self
        # cummax / cummin repeat an index along d; the other selections never do
        values = t.gather(d, idx) if op in _CUM_RESULTS else _gather_distinct(t, d, idx)
        if self.data.ndim == 0:
            values, idx = values.reshape(()), idx.reshape(())
        elif not keepdim:
            values, idx = values.squeeze(d), idx.squeeze(d)
        return result(values, _no_graph(idx, op))

    def _sort_setup(self, dim: Any, op: str) -> tuple[int, Any, int]:
        d = _dim(dim, self.data.ndim, op)
        x = self.data.reshape(1) if self.data.ndim == 0 else self.data
        return d, x, x.shape[d]

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
        """(values, indices) sorted along dim, as torch.sort. Always stable (equal elements
        keep their order, as torch's stable=True); NaN sorts as the largest value."""
        d, x, _ = self._sort_setup(dim, "sort")
        idx = _argsort(x, d, bool(descending))
        return self._select_at(d, idx, True, "sort", _SortResult)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """The indices that sort self along dim (stable), as torch.argsort."""
        return self.sort(dim, descending, stable=stable).indices

    def msort(self) -> Tensor:
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        """(values, indices) of the k largest (largest=False: smallest) elements along dim, in
        order, as torch.topk (ties: the earlier element first)."""
        d, x, n = self._sort_setup(dim, "topk")
        k = _int_arg(k, "topk", "k")
        if not 0 <= k <= n:
            raise _ShapeError(f"topk: k: selected index k out of range ({k} for size {n})")
        if x.dtype.kind == "b":  # torch's check, after k's (also for an empty tensor)
            raise _BoolOpError(
                "topk: topk does not support bool dtypes on CPU (as torch; use an integer or "
                "float dtype)"
            )
        if self.data.ndim == 0:  # torch: k 0 or 1 both give the element
            k = 1
        idx = _topk_index(x, d, k, bool(largest))
        return self._select_at(d, idx, True, "topk", _TopkResult)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        """(values, indices) of the k-th smallest element (k from 1) along dim, as
        torch.kthvalue."""
        d, x, n = self._sort_setup(dim, "kthvalue")
        k = _int_arg(k, "kthvalue", "k")
        if not 1 <= k <= n:
            raise _ShapeError(f"kthvalue: k: selected number {k} out of range for size {n}")
        if x.dtype.kind == "b" and self.data.ndim:  # torch copies a 0-d tensor's element
            raise _kernel_dtype_error("kthvalue", "kthvalue_cpu", x.dtype, _NO_BOOL_HINT)
        idx = _argsort(x, d, False)[(slice(None),) * d + (slice(k - 1, k),)]
        return self._select_at(d, idx, keepdim, "kthvalue", _KthvalueResult)

    def median(self, dim: Any = None, keepdim: bool = False) -> Any:
        """median(): the lower median of all elements (NaN if any is NaN; the gradient is
        shared by the elements equal to it, as torch); median(dim): (values, indices), the
        first NaN where a slice holds one."""
        if dim is None:
            flat = self.reshape(-1)
            x = flat.data
            xp = get_array_module(x)
            if x.size == 0:
                if x.dtype.kind != "f":
                    raise IndexError("median: cannot compute the median of an empty int tensor")
                nan = xp.asarray(xp.nan, dtype=x.dtype)
                return self._unary(nan, lambda g: xp.zeros(self.shape, g.dtype), "median", ())
            if x.dtype.kind == "b":
                raise _kernel_dtype_error("median", "median_cpu", x.dtype, _NO_BOOL_HINT)
            v = flat.median(0).values
            same = (
                (x == v.data) | (xp.isnan(x) & xp.isnan(v.data))
                if x.dtype.kind == "f"
                else (x == v.data)
            )
            share = same / same.sum()

            def _grad(g: Any) -> Any:
                return (g * share).astype(g.dtype).reshape(self.shape)

            wt = share.astype(x.dtype).reshape(self.shape)
            return self._unary(
                v.data, _grad, "median", saves=(), dbackward=lambda g: (g * Tensor(wt),)
            )
        d, x, n = self._sort_setup(dim, "median")
        if n == 0:
            raise IndexError(f"median: Expected reduction dim {dim} to have non-zero size")
        if x.dtype.kind == "b":
            raise _kernel_dtype_error("median", "median_out", x.dtype, _NO_BOOL_HINT)
        xp = get_array_module(x)
        order = _argsort(x, d, False)
        pos = xp.full(x.shape[:d] + (1,) + x.shape[d + 1 :], (n - 1) // 2, dtype=np.int64)
        if x.dtype.kind == "f":
            nans = xp.isnan(x).sum(axis=d, keepdims=True)
            pos = xp.where(nans > 0, n - nans, pos)
        idx = xp.take_along_axis(order, pos, axis=d)
        return self._select_at(d, idx, keepdim, "median", _MedianResult)

    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        """(values, indices): the most frequent value along dim (the smallest on a tie) and
        the last index holding it, as torch.mode."""
        d, x, n = self._sort_setup(dim, "mode")
        if n == 0:
            raise IndexError(f"mode: Expected reduction dim {dim} to have non-zero size")
        xp = get_array_module(x)
        order = _argsort(x, d, False)
        s = xp.moveaxis(xp.take_along_axis(x, order, axis=d), d, -1)
        start = xp.ones(s.shape, dtype=bool)
        start[..., 1:] = s[..., 1:] != s[..., :-1]
        ar = xp.arange(n)
        first = _accumulate("maximum", xp.where(start, ar, 0), -1)
        count = ar - first + 1
        best = xp.argmax(count == count.max(axis=-1, keepdims=True), axis=-1)
        idx = xp.take_along_axis(xp.moveaxis(order, d, -1), best[..., None], axis=-1)
        return self._select_at(d, xp.moveaxis(idx, -1, d), keepdim, "mode", _ModeResult)

    def _cum_extreme(self, dim: int, op: str) -> Any:
        d, x, _ = self._sort_setup(dim, op)
        xp = get_array_module(x)
        run = _accumulate("maximum" if op == "cummax" else "minimum", x, d)
        at = x == run  # where the running extreme was (re)attained; ties take the later index
        if x.dtype.kind == "f":
            at |= xp.isnan(x)
        shape = [-1 if i == d else 1 for i in range(x.ndim)]
        ar = xp.arange(x.shape[d]).reshape(shape)
        idx = _accumulate("maximum", xp.where(at, ar, 0), d).astype(np.int64)
        return self._select_at(d, idx, True, op, _CUM_RESULTS[op])

    def cummax(self, dim: int) -> Any:
        """(values, indices) of the running maximum along dim, as torch.cummax (a tie or a NaN
        moves the index to the later element)."""
        return self._cum_extreme(dim, "cummax")

    def cummin(self, dim: int) -> Any:
        """(values, indices) of the running minimum along dim, as torch.cummin."""
        return self._cum_extreme(dim, "cummin")

    @_fp_silent
    def logcumsumexp(self, dim: int) -> Tensor:
        """log(cumsum(exp(x))) along dim without overflow, as torch.logcumsumexp."""
        _float_only(self, "logcumsumexp")
        d, x, _ = self._sort_setup(dim, "logcumsumexp")
        xp = get_array_module(x)
        if x.dtype == np.float16:  # accumulated in float32, as torch
            out = _log_cumsum(x.astype(np.float32), d).astype(np.float16)
        else:
            out = _log_cumsum(x, d)

        def _grad(g: Any) -> Any:  # sum_{j >= i} g_j exp(x_i - out_j), by the sign of g
            g = g.reshape(x.shape)
            lg = xp.log(xp.abs(g)) - out
            ninf = x.dtype.type(-np.inf)
            parts = []
            for keep in (g > 0, g < 0):
                r = xp.flip(_log_cumsum(xp.flip(xp.where(keep, lg, ninf), d), d), d)
                parts.append(xp.exp(r + x))
            return (parts[0] - parts[1]).reshape(self.shape)

        return self._unary(
            out.reshape(self.shape),
            _grad,
            "logcumsumexp",
            dbackward=functools.partial(_d_logcumsumexp, self, d, x.shape),
        )

    # ---- NaN-ignoring reductions, diagonals ------------------------------------------------

    def nansum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        """sum treating NaN as 0 (the gradient is 0 there), as torch.nansum."""
        x = self.data
        if x.dtype.kind != "f":
            return self.sum(dim, keepdim, dtype=dtype)
        xp = get_array_module(x)
        keep = ~xp.isnan(x)
        # torch's gradient g * (x == x): NaN where g is (an all-NaN slice of nanmean), else 0
        filled = self._unary(
            xp.where(keep, x, 0).astype(x.dtype),
            lambda g: g * keep,
            "nansum",
            dbackward=lambda g: (g * Tensor(keep.astype(x.dtype)),),
        )
        return filled.sum(dim, keepdim, dtype=dtype)

    def nanmean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        """The mean of the non-NaN elements, as torch.nanmean (float tensors only, dtype=
        or not)."""
        _float_only(self, "nanmean")
        x = self if dtype is None else self.to(as_dtype(dtype, "nanmean"))
        _float_only(x, "nanmean")
        axes = _dims(dim, x.data.ndim, "nanmean")
        xp = get_array_module(x.data)
        n = (~xp.isnan(x.data)).sum(axis=axes, keepdims=keepdim)
        if n.size == 1 and x.data.dtype == np.float16:  # torch divides by one exact count
            return (x.nansum(dim, keepdim).to(np.float32) / float(n.reshape(-1)[0])).to(
                np.float16
            )  # (a float16 count of 70000 is inf)
        with np.errstate(over="ignore"):  # a float16 count past 65504 is inf, as torch's
            n = n.astype(x.data.dtype)
        return x.nansum(dim, keepdim) / _no_graph(xp.asarray(n), "nanmean")

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The diagonal (offset above it when > 0) of the dims dim1, dim2, as the last dim,
        as torch.diagonal (a copy, not a view)."""
        nd = self.data.ndim
        if nd < 2:
            raise ValueError(f"diagonal: expected a tensor of 2 or more dims, got {nd}")
        d1, d2 = _dim(dim1, nd, "diagonal"), _dim(dim2, nd, "diagonal")
        if d1 == d2:
            raise ValueError(f"diagonal: dim1 and dim2 cannot be identical, got {dim1}, {dim2}")
        p = self.movedim((d1, d2), (-2, -1))
        rows, cols = _diag_index(p.shape[-2], p.shape[-1], _int_arg(offset, "diagonal", "offset"))
        xp = get_array_module(self.data)
        return p[..., xp.asarray(rows), xp.asarray(cols)]

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """Matrices (in dims dim1, dim2 of the result) with the last dim on their diagonal
        (offset above it when > 0), zero elsewhere, as torch.diag_embed."""
        nd = self.data.ndim + 1
        d1, d2 = _dim(dim1, nd, "diag_embed"), _dim(dim2, nd, "diag_embed")
        if d1 == d2:
            raise ValueError(f"diag_embed: dim1 and dim2 cannot be identical, got {dim1}, {dim2}")
        k = _int_arg(offset, "diag_embed", "offset")
        x = self.data.reshape(1) if self.data.ndim == 0 else self.data
        m = x.shape[-1] + abs(k)
        xp = get_array_module(x)
        rows, cols = (xp.asarray(a) for a in _diag_index(m, m, k))
        out = xp.zeros(x.shape[:-1] + (m, m), dtype=x.dtype)
        out[..., rows, cols] = x
        out = xp.moveaxis(out, (-2, -1), (d1, d2))

        def _grad(g: Any) -> Any:
            return xp.moveaxis(g, (d1, d2), (-2, -1))[..., rows, cols].reshape(self.shape)

        def _dbackward(g: Tensor) -> tuple[Any, ...]:
            return (g.diagonal(k, d1, d2).reshape(self.shape),)

        return self._unary(out, _grad, "diag_embed", saves=(), dbackward=_dbackward)

    def diag(self, diagonal: int = 0) -> Tensor:
        """A 1-d tensor as a square matrix's diagonal, or a matrix's diagonal, as torch.diag."""
        if self.data.ndim == 1:
            return self.diag_embed(diagonal, 0, 1)
        if self.data.ndim == 2:
            return self.diagonal(diagonal)
        raise ValueError(f"diag: supports 1-d or 2-d tensors, got {self.data.ndim}-d")

    def trace(self) -> Tensor:
        """The sum of a matrix's diagonal, as torch.trace (ints sum to int64)."""
        if self.data.ndim != 2:
            raise ValueError(f"trace: expected a matrix, got a {self.data.ndim}-d tensor")
        return self.diagonal().sum()

    # ---- gathers, splits and rearrangements ------------------------------------------------

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        """The indices of the nonzero elements: an (N, ndim) int64 tensor, or (as_tuple) one
        1-d tensor per dim, as torch.nonzero."""
        x = self.data
        xp = get_array_module(x)
        if as_tuple:
            idx = xp.nonzero(x.reshape(1) if x.ndim == 0 else x)
            return tuple(_no_graph(i.astype(np.int64, copy=False), "nonzero") for i in idx)
        if x.ndim == 0:
            return _no_graph(xp.zeros((int(bool(x)), 0), dtype=np.int64), "nonzero")
        if xp is np:
            return _no_graph(_argwhere(x), "nonzero")
        return _no_graph(xp.argwhere(x).astype(np.int64, copy=False), "nonzero")

    def argwhere(self) -> Tensor:
        return self.nonzero()

    def take(self, index: Tensor) -> Tensor:
        """The elements of the flattened tensor at index (negative ones count from the end),
        in index's shape, as torch.take."""
        idx = _int_tensor_arg(index, "take", "index", self)
        n = self.data.size
        xp = get_array_module(idx)
        if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise IndexRangeError(f"take: index: out of range for a tensor of {n} elements")
        return self.reshape(-1)[xp.where(idx < 0, idx + n, idx)]

    def take_along_dim(self, indices: Tensor, dim: Any = None) -> Tensor:
        """gather along dim after broadcasting self and indices in the other dims (dim None:
        along the flattened tensor), as torch.take_along_dim."""
        idx = _int_tensor_arg(indices, "take_along_dim", "indices", self)
        if dim is None:
            return self.reshape(-1).gather(0, idx.reshape(-1))
        nd = self.data.ndim
        d = _dim(dim, nd, "take_along_dim")
        if idx.ndim != nd:
            raise ValueError(
                f"take_along_dim: input ({nd} dims) and indices ({idx.ndim} dims) should have "
                "the same number of dimensions"
            )
        if nd == 0:
            return self.reshape(1).gather(0, idx.reshape(1)).reshape(())
        ones = [list(self.shape), list(idx.shape)]
        for s in ones:
            s[d] = 1
        try:
            bs = list(np.broadcast_shapes(tuple(ones[0]), tuple(ones[1])))
        except ValueError:
            raise _ShapeError(
                f"take_along_dim: shapes {self.shape} and {tuple(idx.shape)} do not broadcast "
                f"outside dim {dim}"
            ) from None
        xs, js = bs.copy(), bs.copy()
        xs[d], js[d] = self.shape[d], idx.shape[d]
        x = self if list(self.shape) == xs else self.expand(xs)
        return x.gather(d, get_array_module(idx).broadcast_to(idx, js))

    def repeat_interleave(
        self, repeats: Any, dim: Any = None, *, output_size: Any = None
    ) -> Tensor:
        """Each element (slice along dim; dim None: of the flattened tensor) repeated repeats
        times (an int, or one count per element), as torch.repeat_interleave."""
        t = self.reshape(-1) if dim is None else self
        if t.data.ndim == 0:
            t = t.reshape(1)
        d = 0 if dim is None else _dim(dim, t.data.ndim, "repeat_interleave")
        n = t.shape[d]
        xp = get_array_module(t.data)
        if isinstance(repeats, Tensor):
            r = _int_tensor_arg(repeats, "repeat_interleave", "repeats", self)
            if r.ndim > 1:
                raise ValueError(f"repeat_interleave: repeats: must be 0-d or 1-d, got {r.ndim}-d")
            if r.size != 1 and r.size != n:
                raise ValueError(
                    f"repeat_interleave: repeats must have the same size as input along dim, "
                    f"got {r.size} and {n}"
                )
            r = r.reshape(-1)
        else:
            r = xp.asarray([_int_arg(repeats, "repeat_interleave", "repeats")])
        if r.size and int(r.min()) < 0:
            raise ValueError("repeat_interleave: repeats can not be negative")
        counts = np.asarray(r.tolist(), dtype=np.int64)  # on the host: cupy.repeat takes lists
        idx = xp.asarray(np.repeat(np.arange(n), counts if counts.size != 1 else int(counts[0])))
        if output_size is not None and int(output_size) != idx.size:
            raise ValueError(
                f"repeat_interleave: output_size {output_size} does not match the "
                f"repeated size {idx.size}"
            )
        return t[(slice(None),) * d + (idx,)]

    def tile(self, *dims: Any) -> Tensor:
        """self repeated dims[i] times along dim i (dims padded with leading 1s to self's
        number of dims), as torch.tile."""
        reps = _shape_args(dims, "tile", what="dims")
        reps = (1,) * (self.data.ndim - len(reps)) + reps
        return self.repeat(reps) if reps else self.clone()

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """The windows of `size` elements every `step` along `dimension`, as a new last dim
        (a copy, not torch's view)."""
        nd = self.data.ndim
        d = _dim(dimension, nd, "unfold")
        size, step = _int_arg(size, "unfold", "size"), _int_arg(step, "unfold", "step")
        n = self.shape[d] if nd else 1
        if step <= 0:
            raise ValueError(f"unfold: step is {step} but must be > 0")
        if not 0 <= size <= n:
            raise ValueError(f"unfold: maximum size for dimension {d} is {n} but size is {size}")
        if nd == 0:
            return self.reshape(1)[:size]
        count = (n - size) // step + 1
        if type(self.data) is np.ndarray and size:
            return _unfold_node(self, d, size, step, count)
        xp = get_array_module(self.data)
        idx = (xp.arange(count)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
        out = self[(slice(None),) * d + (idx,)]
        out = out.reshape(self.shape[:d] + (count, size) + self.shape[d + 1 :])
        return out.movedim(d + 1, -1)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Splits along dim: into n near-equal parts (an int; the first n % size ones one
        longer) or at the given indices, as torch.tensor_split."""
        nd = self.data.ndim
        if nd == 0:
            raise ValueError("tensor_split: expected at least a 1-dimensional tensor")
        d = _dim(dim, nd, "tensor_split")
        ios = indices_or_sections
        if isinstance(ios, Tensor):
            if ios.data.dtype.kind not in "iu" or ios.data.ndim > 1:
                raise TypeError(
                    "tensor_split: indices_or_sections: expected a 0-d or 1-d int64 tensor"
                )
            ios = int(ios.data) if ios.data.ndim == 0 else [int(v) for v in ios.data.tolist()]
        n = self.shape[d]
        lead = (slice(None),) * d
        if isinstance(ios, (list, tuple)):
            cuts = [None, *(_int_arg(i, "tensor_split", "indices") for i in ios), None]
            return tuple(self[lead + (slice(a, b),)] for a, b in zip(cuts[:-1], cuts[1:]))
        s = _int_arg(ios, "tensor_split", "sections")
        if s <= 0:
            raise ValueError(f"tensor_split: number of sections must be larger than 0, got {s}")
        q, r = divmod(n, s)
        bounds = [0]
        for i in range(s):
            bounds.append(bounds[-1] + q + (i < r))
        return tuple(self[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:]))

    def _split_at(self, ios: Any, dim: int, need: int, op: str) -> tuple[Tensor, ...]:
        if self.data.ndim < need:
            raise ValueError(
                f"{op}: requires a tensor with at least {need} dimension(s), got {self.data.ndim}"
            )
        if not isinstance(ios, (list, tuple, Tensor)):
            s = _int_arg(ios, op, "sections")
            if s <= 0 or self.shape[dim] % s:
                raise ValueError(
                    f"{op}: the size {self.shape[dim]} of dimension {dim} is not divisible "
                    f"by the split_size {s}"
                )
        return self.tensor_split(ios, dim)

    def hsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        """tensor_split along dim 1 (dim 0 for a 1-d tensor); sections must divide evenly."""
        d = 1 if self.data.ndim > 1 else 0
        return self._split_at(indices_or_sections, d, 1, "hsplit")

    def vsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return self._split_at(indices_or_sections, 0, 2, "vsplit")

    def dsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return self._split_at(indices_or_sections, 2, 3, "dsplit")

    def select(self, dim: int, index: int) -> Tensor:
        """The slice at index along dim (dim removed), as torch.select (a copy)."""
        nd = self.data.ndim
        if nd == 0:
            raise IndexError("select: cannot be applied to a 0-dim tensor")
        d = _dim(dim, nd, "select")
        i, n = _int_arg(index, "select", "index"), self.shape[d]
        if not -n <= i < n:
            raise IndexRangeError(f"select: index {i} out of range for dim {d} of size {n}")
        return self[(slice(None),) * d + (i % n,)]

    def ravel(self) -> Tensor:
        return self.reshape(-1)

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        """Rotated by k * 90 degrees in the plane of dims (from dims[0] toward dims[1]), as
        torch.rot90."""
        nd = self.data.ndim
        ds = _shape_args((dims,), "rot90", what="dims", signed=True)
        if len(ds) != 2:
            raise ValueError(f"rot90: dims: expected 2 dims, got {len(ds)}")
        if nd < 2:
            raise ValueError(f"rot90: expected total dims >= 2, got {nd}")
        a, b = _dim(ds[0], nd, "rot90"), _dim(ds[1], nd, "rot90")
        if a == b:
            raise ValueError(f"rot90: expected rotation dims to be different, got {a} and {b}")
        k = _int_arg(k, "rot90", "k") % 4
        if k == 1:
            return self.flip(b).transpose(a, b)
        if k == 2:
            return self.flip(a, b)
        if k == 3:
            return self.flip(a).transpose(a, b)
        return self.clone()

    def unique(
        self,
        sorted: bool = True,  # noqa: A002
        return_inverse: bool = False,
        return_counts: bool = False,
        dim: Any = None,
    ) -> Any:
        """The distinct elements (slices along dim), sorted, and optionally the inverse
        indices and the counts, as torch.unique (no gradient; NaNs stay distinct)."""
        x = self.data
        xp = get_array_module(x)
        kw: dict[str, Any] = {"return_inverse": True, "return_counts": True}
        if xp is np and x.dtype.kind == "f":
            kw["equal_nan"] = False
        fast = _unique_small_range(x, return_inverse) if dim is None and xp is np else None
        if fast is not None:
            vals, inv, counts = fast
        elif dim is None:
            vals, inv, counts = xp.unique(x.reshape(-1), **kw)
            inv = inv.reshape(x.shape)
        else:
            d = _dim(dim, x.ndim, "unique")
            vals, inv, counts = xp.unique(x.reshape(1) if x.ndim == 0 else x, axis=d, **kw)
            inv = inv.reshape(-1)
        out = [_no_graph(vals, "unique")]
        if return_inverse:
            out.append(_no_graph(inv.astype(np.int64, copy=False), "unique"))
        if return_counts:
            out.append(_no_graph(counts.astype(np.int64, copy=False), "unique"))
        return out[0] if len(out) == 1 else tuple(out)


def activate(x: Tensor, act: str, param: float = 0.0) -> Tensor:
    """act(x) (one of ops.ACTIVATIONS) as a graph node: one kernel forward, and a backward
    that saves x or y as ops.saves_input(act) says. functional's activations are built on it."""
    try:
        y = ops.activation(x.data, act, param=param)
    except TypeError:  # not a float array: torch's rules for ints and bools, else the error
        kind = x.data.dtype.kind
        if act == "relu" and kind == "b":  # torch's RuntimeError (_BoolOpError)
            raise _BoolOpError("relu: Boolean inputs not supported for relu") from None
        if act == "relu" and kind in "iu":  # relu keeps an int dtype (ints carry no graph)
            return _no_graph(get_array_module(x.data).maximum(x.data, 0), "relu")
        if act in ("sigmoid", "tanh") and kind in "biu":  # float32 for int / bool input
            return activate(x.to(np.float32), act, param)
        raise
    saves_x = ops.saves_input(act)
    saved = x.data if saves_x else y

    def _backward(g: Any) -> None:
        x._accumulate(ops.activation_backward(g, saved, act, param=param))

    d = _ACT_GRAD.get(act)
    db = None if d is None else (lambda g: (d(g, x, param),))
    return Tensor._make(y, (x,), _backward, act, saves=(x,) if saves_x else (None,), dbackward=db)


_engine.Tensor = Tensor  # what hooks receive; the engine imports nothing from the package


class _GradFn:
    """What Tensor.grad_fn returns: torch's autograd Node for the graph node t (the tensor an
    op made, which holds the op's backward and inputs). A light view made on each access, so
    that recording a graph costs nothing more: two views of one node compare equal (torch
    returns one object). It keeps t, hence t's data, alive while it is held."""

    __slots__ = ("_t",)

    def __init__(self, t: Tensor) -> None:
        self._t = t

    def name(self) -> str:
        return self._t._op

    @property
    def next_functions(self) -> tuple[tuple[_GradFn | None, int], ...]:
        """One (node, 0) per tensor input of the op, in the op's order, as torch: the input's
        grad_fn, an AccumulateGrad node for a leaf that requires grad, or None for an input
        that needed no gradient (a constant, a detached tensor); the index is 0 (each output
        of a multi-output op is its own node here). () once backward freed the graph (torch
        keeps the edges)."""
        t = self._t
        prev, mask = t._prev, t._grad_mask
        if mask is None or not prev:  # every input required grad, or the graph was freed
            return tuple([(_next_node(p), 0) for p in prev])
        it = iter(prev)
        return tuple([(_next_node(next(it)), 0) if m else (None, 0) for m in mask])

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict kept with the node (the same one on each access), as torch's; anomaly mode
        stores the forward's stack under "traceback_"."""
        return _engine.node_metadata(self._t)

    def register_prehook(self, fn: Callable[[tuple[Tensor, ...]], Any]) -> _engine.RemovableHandle:
        """fn(grad_outputs) runs before the node's backward, on the complete gradient of its
        output (a 1-tuple of Tensors); it may return a 1-tuple to replace it, or None. Runs
        with the tensor's register_hook hooks, in the order registered (torch: those first)."""
        if not callable(fn):
            raise TypeError(f"register_prehook: fn: expected a callable, got {type(fn).__name__}")
        if _engine.is_multi_output(self._t):
            raise NotImplementedError(
                f"register_prehook: the node of the multi-output autograd.Function "
                f"'{self._t._op}' gathers one gradient per output, which a prehook cannot "
                "see or replace here; register a hook on the outputs (Tensor.register_hook)"
            )
        return _engine.add_hook(self._t, functools.partial(_run_prehook, fn), post=False)

    def register_hook(self, fn: Callable[..., Any]) -> _engine.RemovableHandle:
        """A post-hook, as torch's Node.register_hook: fn(grad_inputs, grad_outputs) runs
        after the node's backward, with one gradient per input of the op (a Tensor, or None
        for an input that needs or got none) and the 1-tuple of its output's gradient; it may
        return a tuple of as many to replace grad_inputs (None keeps them). On a leaf's
        AccumulateGrad node it runs after .grad was accumulated, as fn((), (grad,))."""
        if not callable(fn):
            raise TypeError(f"register_hook: fn: expected a callable, got {type(fn).__name__}")
        t = self._t
        if t._backward is not None:
            prev = t._prev
            if _engine.is_multi_output(t) or any(_engine.is_multi_output(p) for p in prev):
                raise NotImplementedError(
                    f"grad_fn.register_hook: the node '{t._op}' is (or feeds) the node of a "
                    "multi-output autograd.Function, which gathers one gradient per output; "
                    "register a hook on the tensors instead (Tensor.register_hook)"
                )
            if len({id(p) for p in prev}) != len(prev):
                raise NotImplementedError(
                    f"grad_fn.register_hook: the node '{t._op}' has the same tensor as two of "
                    "its inputs (x * x), whose gradients deltagrad sums as they arrive: a "
                    "post-hook could not see them apart"
                )
        return _engine.add_node_post_hook(t, fn)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._t is self._t  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return id(self._t)

    def __repr__(self) -> str:
        return f"<{self._t._op}>"


class _AccumulateGrad(_GradFn):
    """The node of a leaf that requires grad, in next_functions (torch's AccumulateGrad):
    .variable is the leaf; its prehooks run on the leaf's complete gradient, before .grad."""

    __slots__ = ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    @property
    def variable(self) -> Tensor:
        return self._t

    @property
    def next_functions(self) -> tuple[tuple[_GradFn | None, int], ...]:
        return ()

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def _next_node(p: Tensor) -> _GradFn | None:
    if p._backward is not None:
        return _GradFn(p)
    return _AccumulateGrad(p) if p.requires_grad else None


def _scalar_first(out: Tensor, other: Any) -> Tensor:
    """2 - x, 2 ** x: torch's node has x as its one input (RsubBackward1, PowBackward2), not
    the lifted number too, so grad_fn.next_functions lists no (None, 0) for it."""
    if not isinstance(other, Tensor):
        out._grad_mask = None
        db = getattr(out, "_dbackward", None)
        if db is not None:  # its parents were (the lifted number, x): x's entry alone
            out._dbackward = lambda g: db(g)[1:]
    return out


def _run_prehook(fn: Callable[[tuple[Tensor, ...]], Any], grad: Tensor) -> Any:
    """A node prehook as a tensor hook: fn sees (grad,) and returns None or a 1-tuple."""
    r = fn((grad,))
    if r is None:
        return None
    if not isinstance(r, (tuple, list)) or len(r) != 1:
        what = f"{len(r)} values" if isinstance(r, (tuple, list)) else f"a {type(r).__name__}"
        raise RuntimeError(
            f"register_prehook: the hook returned {what}; expected None or a tuple of 1 "
            "gradient (one per output of the node)"
        )
    return r[0]


def _root_grad(t: Tensor, gradient: Any, fn: str) -> Any:
    """d(loss)/d(t) for a backward from t: an array of t's shape and dtype.

    A numpy array of t's dtype (or a Tensor's) is not copied (as torch): the caller's array
    comes back as a read-only view, so nothing in the backward can write into it (an op's
    backward writing into its gradient, a hook changing it in place raise rather than change
    the caller's array), and no .grad keeps it: the engine takes only a writable array that
    is not a view over as a .grad, and copies any other (_engine._own, _finish_leaves; a
    retained non-leaf's, a hook's and dg.autograd.grad's results alike). Anything else
    (another dtype, a list, a cupy array) is copied into a new array, as before."""
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
    if type(gradient) is _NDARRAY and gradient.dtype == t.data.dtype and xp is np:
        if gradient.shape != t.shape:
            raise ValueError(
                f"{fn}: grad has shape {gradient.shape}, expected the output's shape {t.shape}"
            )
        grad = gradient.view()
        grad.flags.writeable = False
        return grad
    grad = xp.array(gradient, dtype=t.data.dtype)  # a new array: never alias the caller's
    if grad.shape != t.shape:
        raise ValueError(
            f"{fn}: grad has shape {grad.shape}, expected the output's shape {t.shape}"
        )
    return grad


_TRI_MASKS: dict[tuple[int, int, int, bool], Any] = {}  # (rows, cols, diagonal, upper) -> mask


def _tri_mask(r: int, c: int, d: int, upper: bool) -> Any:
    """The (r, c) bool mask of the elements with col - row >= d (upper) or <= d (lower)."""
    key = (r, c, d, upper)
    m = _TRI_MASKS.get(key)
    if m is None:
        if len(_TRI_MASKS) >= 256:
            _TRI_MASKS.clear()
        j_i = np.arange(c)[None, :] - np.arange(r)[:, None]
        m = _TRI_MASKS[key] = j_i >= d if upper else j_i <= d
    return m


def _triangle_array(x: Any, k: int, upper: bool) -> Any:
    """np.triu(x, k) (upper) or np.tril(x, k) over the last two dims, as a new C-contiguous
    array, exactly (an inf or nan outside the triangle becomes 0 too). np.triu builds a bool
    mask of the whole matrix and selects with np.where; here each block of rows is copied
    where it is wholly kept and zeroed where it is wholly cut, and only its B x B staircase
    along the diagonal is selected through a cached mask (2-4x faster from 128 x 128 on).
    Batches of small matrices (under 32 rows) keep np.triu, where the per-block calls of
    strided slices cost more."""
    xp = get_array_module(x)
    m, n = x.shape[-2:]
    batch = x.size // (m * n) if m * n else 0
    if xp is not np or x.size == 0 or (batch > 1 and m < 32):
        return xp.triu(x, k) if upper else xp.tril(x, k)
    out = np.empty(x.shape, x.dtype)
    b = 64 if batch == 1 else 32
    for r0 in range(0, m, b):
        r1 = min(r0 + b, m)
        rows = (Ellipsis, slice(r0, r1))
        if upper:  # row i keeps cols >= i + k: [c1, n) kept by every row, [0, c0) by none
            c0, c1 = min(max(r0 + k, 0), n), min(max(r1 - 1 + k, 0), n)
            out[rows + (slice(0, c1),)] = 0
            out[rows + (slice(c1, n),)] = x[rows + (slice(c1, n),)]
        else:  # row i keeps cols <= i + k: [0, c0) kept by every row, [c1, n) by none
            c0, c1 = min(max(r0 + k + 1, 0), n), min(max(r1 + k, 0), n)
            out[rows + (slice(0, c0),)] = x[rows + (slice(0, c0),)]
            out[rows + (slice(c0, n),)] = 0
        if c1 > c0:  # the staircase: (r0 + i, c0 + j) kept when j - i >= (<=) r0 + k - c0
            mask = _tri_mask(r1 - r0, c1 - c0, r0 + k - c0, upper)
            np.copyto(out[rows + (slice(c0, c1),)], x[rows + (slice(c0, c1),)], where=mask)
    return out


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


@_fp_silent
def tensor(
    data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
) -> Tensor:
    """A new leaf Tensor holding a COPY of data, as torch.tensor (dg.from_numpy and
    dg.as_tensor share memory instead). numpy / cupy arrays keep their dtype; Python floats
    become float32, as in torch. The copy is C-contiguous (a Fortran-order or strided array
    too), as torch's: the fused kernels (optimizer updates among them) read memory linearly.
    device: "cpu" or "cuda"; None keeps the data where it is (lists: the CPU)."""
    if dtype is not None:
        dtype = as_dtype(dtype, "tensor")
    if isinstance(data, Tensor):
        data = data.data
    if is_cuda_array(data):
        check_device_array(data, "tensor", "data")
        data = get_array_module(data).array(data, dtype=dtype, copy=True, order="C")
        dtype = None
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        data = np.array(data, dtype=dtype, copy=True, order="C")
        dtype = None
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


# ---- helpers of the ops above ----------------------------------------------------------------

_COMPARISONS = frozenset(("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"))
_MaxResult = namedtuple("max", ["values", "indices"])  # torch.return_types.max
_MinResult = namedtuple("min", ["values", "indices"])
_AminmaxResult = namedtuple("aminmax", ["min", "max"])  # torch.return_types.aminmax
_SortResult = namedtuple("sort", ["values", "indices"])  # torch.return_types.sort, ...
_TopkResult = namedtuple("topk", ["values", "indices"])
_KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
_MedianResult = namedtuple("median", ["values", "indices"])
_ModeResult = namedtuple("mode", ["values", "indices"])
_CUM_RESULTS = {
    "cummax": namedtuple("cummax", ["values", "indices"]),
    "cummin": namedtuple("cummin", ["values", "indices"]),
}
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_2_SQRTPI = 2.0 / math.sqrt(math.pi)  # d/dx erf(x) = _2_SQRTPI * exp(-x^2)


def _int_arg(v: Any, op: str, name: str) -> int:
    if isinstance(v, Tensor) and v.data.ndim == 0 and v.data.dtype.kind in "iu":
        v = int(v.data)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {name}: expected an int, got {type(v).__name__} {v!r}")
    return int(v)


def _gather_distinct(t: Tensor, d: int, idx: Any) -> Tensor:
    """t.gather(d, idx) for an idx whose entries along d are distinct in each slice (the
    selections of sort / topk / kthvalue / median / mode): the backward writes the gradient in
    place (a permutation's inverse, as torch's value_selecting_reduction_backward) instead of
    accumulating it; the double backward is gather's."""
    xp = get_array_module(t.data)
    out = _take_along(t.data, idx, d)

    def _backward(g: Any) -> None:
        gx = xp.zeros(t.data.shape, t.data.dtype)  # C order (zeros_like keeps a view's order)
        if xp is np:
            gx.reshape(-1)[_flat_index(gx.shape, d, idx)] = g
        elif hasattr(xp, "put_along_axis"):
            xp.put_along_axis(gx, idx, g, axis=d)
        else:
            _scatter_add_into(gx, d, idx, g)
        t._accumulate(gx)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return (Tensor(xp.zeros_like(t.data)).scatter_add(d, idx, g),)

    return Tensor._make(out, (t,), _backward, "gather", saves=(), dbackward=_dbackward)


def _unique_small_range(x: Any, inverse: bool) -> Any:
    """(values, inverse or None, counts) of np.unique(x) for a numpy integer x whose range
    max - min is below 4 x.size: one bincount of x - min (O(n), no sort); else None."""
    if x.dtype.kind not in "iu" or not x.size:
        return None
    lo, hi = int(x.min()), int(x.max())
    if hi - lo >= 4 * x.size or lo < -(2**62) or hi >= 2**62:
        return None
    off = np.subtract(x.reshape(-1), lo, dtype=np.int64)
    cnt = np.bincount(off, minlength=hi - lo + 1)
    pos = np.flatnonzero(cnt)
    vals = (pos + lo).astype(x.dtype)
    inv = None
    if inverse:  # the rank of each value among the present ones
        rank = np.cumsum(cnt > 0) - 1
        inv = rank[off].reshape(x.shape)
    return vals, inv, cnt[pos]


def _argwhere(x: Any) -> Any:
    """np.argwhere(x) as a C-contiguous int64 (N, ndim) array (x: numpy, ndim >= 1), faster:
    np.flatnonzero (a 1-d scan) and the counts per last-dim row, the leading indices repeated
    from them and the last one the flat position less its row's start (no division)."""
    shape, nd = x.shape, x.ndim
    flat = np.flatnonzero(x)
    out = np.empty((flat.size, nd), np.int64)
    if not flat.size:
        return out
    c = shape[-1]
    cnt = np.count_nonzero(x.reshape(-1, c), axis=1)
    rows = np.arange(cnt.size)
    np.subtract(flat, np.repeat(rows * c, cnt), out=out[:, -1])
    for k in range(nd - 2, -1, -1):  # cnt: the counts per index of dims 0..k together
        out[:, k] = np.repeat(rows % shape[k], cnt)
        if k:
            cnt = cnt.reshape(-1, shape[k]).sum(axis=1)
            rows = np.arange(cnt.size)
    return out


_ARG_BLOCK = 64  # rows per step of _arg_blocked


def _arg_blocked(x: Any, d: int, op: str) -> Any:
    """numpy's argmax / argmin (op "max" / "min") of x along a dim d that is not the last, with
    keepdims: numpy copies x to bring d last; this runs over blocks of _ARG_BLOCK slices along
    d instead: the block's max (a contiguous reduction), and numpy's arg only for the positions
    the block improves (strictly: the first index among ties wins; a NaN is the extreme and
    its first index wins, as torch and numpy), so a few blocks past the first usually cost
    one reduction each."""
    pre, n = math.prod(x.shape[:d]), x.shape[d]
    x3 = x.reshape(pre, n, -1)
    arg, red = (np.argmax, np.amax) if op == "max" else (np.argmin, np.amin)
    better = np.greater if op == "max" else np.less
    idx = arg(x3[:, :_ARG_BLOCK], axis=1)
    best = np.take_along_axis(x3, idx[:, None], axis=1)[:, 0]
    nan = x.dtype.kind == "f"
    for s in range(_ARG_BLOCK, n, _ARG_BLOCK):
        b = x3[:, s : s + _ARG_BLOCK]
        m = red(b, axis=1)
        upd = better(m, best)
        if nan:  # NaN compares false: a block's first NaN wins unless one is already best
            upd |= np.isnan(m) & ~np.isnan(best)
        if upd.any():
            idx[upd] = arg(b.transpose(1, 0, 2)[:, upd], axis=0) + s
            best[upd] = m[upd]
    return idx.reshape(x.shape[:d] + (1,) + x.shape[d + 1 :])


def _flat_index(shape: tuple[int, ...], d: int, idx: Any) -> Any:
    """The int64 positions in a C-contiguous array of `shape` of the elements
    take_along_axis(., idx, d) reads (idx: in range, no larger than shape apart from d)."""
    st = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        st[k] = st[k + 1] * shape[k + 1]
    base = 0
    for k, m in enumerate(idx.shape):
        if k != d and m > 1:
            base = base + (np.arange(m) * st[k]).reshape([-1] + [1] * (idx.ndim - 1 - k))
    idx = idx.astype(np.int64, copy=False)
    return idx * st[d] + base if st[d] != 1 else idx + base


def _take_along(x: Any, idx: Any, d: int) -> Any:
    """take_along_axis(x[the block idx covers], idx, d) (idx of x's ndim); on a C-contiguous
    numpy x one np.take of flat positions (~2x numpy's take_along_axis, which builds
    fancy-index grids)."""
    if type(x) is np.ndarray and x.flags.c_contiguous:
        return np.take(x.reshape(-1), _flat_index(x.shape, d, idx))
    return get_array_module(x).take_along_axis(x[_leading_slices(idx.shape, d)], idx, axis=d)


class _Taker:
    """_take_along(., idx, d) for the arrays of one shape a backward reads (g), the flat
    positions of a C-contiguous numpy one built on the first call and reused after."""

    def __init__(self, idx: Any, d: int) -> None:
        self.idx, self.d, self.flat, self.shape = idx, d, None, None

    def __call__(self, x: Any) -> Any:
        if type(x) is np.ndarray and x.flags.c_contiguous:
            if self.flat is None or self.shape != x.shape:
                self.flat, self.shape = _flat_index(x.shape, self.d, self.idx), x.shape
            return np.take(x.reshape(-1), self.flat)
        return _take_along(x, self.idx, self.d)


def _index_select_node(x: Tensor, d: int, idx: Any) -> Tensor:
    """x.index_select(d, idx) of a numpy x (idx 1-D, in range) by np.take along d (~3x
    x[:, idx]'s fancy indexing along the last dim). Backward: g's slices added at idx by
    dg.ops.index_add_'s kernel (np.add.at's sums)."""
    flat = np.require(idx, np.int64, ["C", "A"])
    out = np.take(x.data, flat, axis=d)

    def _backward(g: Any) -> None:
        gx = np.zeros(x.data.shape, g.dtype)
        ops.index_add_(gx, d, flat, g)
        x._accumulate(gx)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return (Tensor(np.zeros(x.data.shape, g.data.dtype)).index_add(d, Tensor(flat), g),)

    return Tensor._make(out, (x,), _backward, "index_select", saves=(), dbackward=_dbackward)


def _unfold_node(x: Tensor, d: int, size: int, step: int, count: int) -> Tensor:
    """x.unfold(d, size, step) of a numpy x (size >= 1): a copy of numpy's sliding-window
    view (~16x the fancy-indexed gather). Backward: each window's gradient added back at its
    place, one add per window (per offset in the window when windows are many and short)."""
    lead = (slice(None),) * d
    win = np.lib.stride_tricks.sliding_window_view(x.data, size, axis=d)
    out = np.ascontiguousarray(win[lead + (slice(None, None, step),)])
    span = step * (count - 1) + 1

    def _backward(g: Any) -> None:
        gx = np.zeros(x.data.shape, g.dtype)
        gv = np.moveaxis(g, -1, d + 1)  # (..., count, size, ...)
        if count <= 8 * size:  # a window's gradient is contiguous in g: the fast reads
            for j in range(count):
                gx[lead + (slice(j * step, j * step + size),)] += gv[lead + (j,)]
        else:  # many short windows: an offset's values sit `size` apart in g
            for k in range(size):
                gx[lead + (slice(k, k + span, step),)] += gv[lead + (slice(None), k)]
        x._accumulate(gx)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        idx = (np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
        gm = g.movedim(-1, d + 1).reshape(x.shape[:d] + (count * size,) + x.shape[d + 1 :])
        return (_index_backward(gm, lead + (idx,), x.data),)

    return Tensor._make(out, (x,), _backward, "unfold", saves=(), dbackward=_dbackward)


def _int_tensor_arg(v: Any, op: str, name: str, like: Tensor) -> Any:
    """The array of an integer index Tensor on like's device (TypeError otherwise)."""
    if not isinstance(v, Tensor):
        raise TypeError(f"{op}: {name}: expected a Tensor, got {type(v).__name__}")
    if v.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name}: expected an integer (int64) tensor, got {v.dtype}")
    if is_cuda_array(v.data) != is_cuda_array(like.data):
        raise RuntimeError(f"{op}: {name}: expected it on the tensor's device {like.device}")
    return v.data


# dtypes whose order fits a 32-bit key (see _sort_key32); the narrower integers keep numpy's
# stable argsort, a radix sort for them.
_KEY32_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float16, np.int32, np.uint32))


def _sort_key32(x: Any, descending: bool) -> Any:
    """uint32 keys whose unsigned order is x's order (descending: reversed): a float's bits with
    the sign bit set for positives and all bits flipped for negatives, -0.0 read as 0.0 (torch:
    equal) and every NaN the largest key (NaN sorts as the largest value)."""
    if x.dtype.kind == "f":
        xf = x.astype(np.float32, copy=False) + np.float32(0)  # -0.0 + 0.0 is +0.0
        u = xf.view(np.uint32)
        key = np.where(u >= np.uint32(1 << 31), ~u, u | np.uint32(1 << 31))
        key[np.isnan(xf)] = np.uint32(0xFFFFFFFF)
    elif x.dtype.kind == "i":
        key = x.view(np.uint32) ^ np.uint32(1 << 31)
    else:
        key = x.astype(np.uint32, copy=True)
    if descending:
        np.invert(key, out=key)
    return key


def _argsort(x: Any, d: int, descending: bool) -> Any:
    """Stable int64 sorting indices along d; NaN is the largest value (first when
    descending), and equal elements keep their order both ways. float32 / int32 (and float16,
    uint32) on numpy: one np.sort of uint64 (key << 32 | position), keys unique and in the
    stable order, ~3x faster than numpy's stable (tim)sort."""
    xp = get_array_module(x)
    n = x.shape[d] if x.ndim else 1
    if xp is np and x.dtype in _KEY32_DTYPES and x.ndim and 1 < n < 1 << 32:
        pos = np.arange(n, dtype=np.uint64).reshape([n if k == d else 1 for k in range(x.ndim)])
        packed = _sort_key32(x, descending).astype(np.uint64) << np.uint64(32)
        packed |= pos
        packed.sort(axis=d)
        return (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
    if not descending:
        return xp.argsort(x, axis=d, kind="stable").astype(np.int64)
    back = xp.flip(xp.argsort(xp.flip(x, d), axis=d, kind="stable"), d)
    return (x.shape[d] - 1 - back).astype(np.int64)


def _topk_index(x: Any, d: int, k: int, largest: bool) -> Any:
    """The int64 indices of topk along d: the first k of _argsort's order (ties: the earliest
    index; NaN the largest value). On numpy with 2k <= n, one np.partition finds each slice's
    k-th value t, the k elements that come before it or tie with it (the earliest of the ties)
    are picked in index order, and only those are sorted: O(n) rather than a sort of n."""
    xp = get_array_module(x)
    n = x.shape[d]
    if xp is np and x.dtype in (np.float32, np.float64) and 0 < k <= 64:
        # the kernel (csrc/cpu/select.h): each row scanned once against the k-th best so far
        rows = np.ascontiguousarray(np.moveaxis(x, d, -1))
        lead = rows.shape[:-1]
        _, pick = _cpu.topk(rows.reshape(-1, n), k, largest)
        return np.moveaxis(pick.reshape(lead + (k,)), -1, d)
    if xp is not np or not 0 < 2 * k <= n or x.dtype.kind not in "fiu" or x.dtype.itemsize < 4:
        # (8- and 16-bit integers: numpy's radix argsort is faster than the partition there)
        return _argsort(x, d, largest)[(slice(None),) * d + (slice(0, k),)]
    rows = np.moveaxis(x, d, -1)
    lead = rows.shape[:-1]
    rows = rows.reshape(-1, n)
    at = n - k if largest else k - 1
    t = np.partition(rows, at, axis=-1)[:, at : at + 1]  # numpy's partition: NaN the largest
    first = (rows > t) if largest else (rows < t)
    tie = rows == t
    if x.dtype.kind == "f":
        nan, t_nan = np.isnan(rows), np.isnan(t)
        if t_nan.any() or (largest and nan.any()):
            first |= (nan & ~t_nan) if largest else (~nan & t_nan)
            tie |= nan & t_nan
    take = first | tie  # at least k in each row
    pos = np.flatnonzero(take)
    if pos.size != take.shape[0] * k:  # more ties than places: the earliest of them
        over = np.flatnonzero(np.count_nonzero(take, axis=-1) != k)
        room = k - np.count_nonzero(first[over], axis=-1)[:, None]
        take[over] = first[over] | (tie[over] & (np.cumsum(tie[over], axis=-1) <= room))
        pos = np.flatnonzero(take)
    pick = (pos % n).reshape(-1, k)  # each row's k positions, increasing
    vals = np.take_along_axis(rows, pick, axis=-1)
    pick = np.take_along_axis(pick, _argsort(vals, 1, largest), axis=-1)
    return np.moveaxis(pick.reshape(lead + (k,)), -1, d)


def _diag_index(n1: int, n2: int, k: int) -> tuple[Any, Any]:
    """(rows, cols) of the k-th diagonal of an n1 x n2 matrix (numpy int64 arrays)."""
    m = max(0, min(n1, n2 - k) if k >= 0 else min(n1 + k, n2))
    ar = np.arange(m, dtype=np.int64)
    return (ar, ar + k) if k >= 0 else (ar - k, ar)


def _accumulate(fn: str, x: Any, d: int) -> Any:
    """The running fn (a binary ufunc's name: maximum, logaddexp...) along d: numpy's
    ufunc.accumulate; a loop over d on other array modules (cupy has accumulate for a few
    ufuncs only)."""
    xp = get_array_module(x)
    f = getattr(xp, fn)
    if xp is np:
        return f.accumulate(x, axis=d)
    out = x.copy()
    y = xp.moveaxis(out, d, 0)
    for i in range(1, y.shape[0]):
        y[i] = f(y[i - 1], y[i])
    return out


def _log_cumsum(x: Any, d: int) -> Any:
    """log(cumsum(exp(x))) along d, without overflow."""
    return _accumulate("logaddexp", x, d)


def _special(name: str, x: Any) -> Any:
    """erf / erfc / erfinv of x: scipy.special (cupyx.scipy.special on a GPU) when it can be
    imported (scipy is no dependency of deltagrad's), else a float64 fallback on numpy: the
    kernels' float64 erf / erfc (_cpu.math_fn: vector erf within 2 ulp on AVX2 / AVX-512,
    libm's erfc lane by lane), rounded once to x's dtype, and Newton's method on it for
    erfinv."""
    xp = get_array_module(x)
    if xp is not np:
        from cupyx.scipy import special as cusp

        return getattr(cusp, name)(x)
    try:
        from scipy import special
    except ImportError:
        return _special_fallback(name, x)
    return getattr(special, name)(x)


@_fp_silent
def _special_fallback(name: str, x: Any) -> Any:
    # float64 through the kernels' math functions: erf of 1M float64 in 2.5 ms, where math.erf
    # through np.vectorize took 137 (round 45, Zen 4)
    x64 = np.asarray(x, dtype=np.float64, order="C")  # (ascontiguousarray makes 0-d 1-d)
    if name != "erfinv":
        return _cpu.math_fn(x64, name).astype(x.dtype) if x.size else x.copy()

    def erf(z: Any) -> Any:  # (numpy gives scalars for a 0-d x below: math_fn takes arrays)
        return _cpu.math_fn(np.asarray(z, dtype=np.float64, order="C"), "erf")

    inside = np.abs(x64) < 1
    y = np.where(inside, x64, 0.0)
    ln = np.log((1 - y) * (1 + y))  # Winitzki's approximation to start, then Newton's steps
    t = 2 / (np.pi * 0.147) + ln / 2
    z = np.sign(y) * np.sqrt(np.sqrt(t * t - ln / 0.147) - t)
    for _ in range(8):
        z = z - (erf(z) - y) / (_2_SQRTPI * np.exp(-z * z))
    out = np.where(inside, z, np.where(np.abs(x64) == 1, np.sign(x64) * np.inf, np.nan))
    out = np.where(x64 == 0, x64, out)  # erfinv(-0.0) = -0.0
    return np.asarray(out).astype(x.dtype)


def _inplace_method(name: str) -> Callable[..., Tensor]:
    """Tensor.<name>_: <name> computed out of place, then written into self's array."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace_from(
            name + "_",
            lambda: getattr(self.detach(), name)(*args, **kwargs),
            _first_grad(*args, *kwargs.values()),
        )

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"{name}, in place."
    return method


# torch's in-place forms of the elementwise ops (the others: add_, mul_, clamp_... above)
_INPLACE = (
    "log1p expm1 tan atan asin acos sinh cosh asinh acosh atanh log2 log10 exp2 erf erfc erfinv "
    "logit floor ceil trunc fix round frac sgn square rsqrt xlogy atan2 arctan2 fmod remainder "
    "relu sigmoid tanh exp log sqrt sin cos abs neg reciprocal sign clamp clip clamp_min "
    "clamp_max heaviside arcsin arccos arctan arcsinh arccosh arctanh absolute"
).split()
for _name in _INPLACE:
    if not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _inplace_method(_name))
del _name


def _first_grad(*operands: Any) -> Any:
    """The first operand that requires grad (what _inplace refuses), else None."""
    for o in operands:
        if isinstance(o, Tensor) and o.requires_grad:
            return o
    return None


def _scatter_set(out: Any, d: int, idx: Any, src: Any) -> None:
    """out[..., idx[...], ...] = src along dim d (index shape may be smaller than out's)."""
    xp = get_array_module(out)
    if out.ndim == 0:
        if idx.size:
            out[...] = src.reshape(-1)[idx.size - 1] if getattr(src, "ndim", 0) else src
        return
    nd = idx.ndim
    grids = [
        idx if k == d else xp.arange(n).reshape([n if j == k else 1 for j in range(nd)])
        for k, n in enumerate(idx.shape)
    ]
    out[tuple(grids)] = src


def _cumprod_grad(x: Any, out: Any, g: Any, d: int, xp: Any) -> Any:
    """d sum(g * cumprod(x)) / dx along d: sum_{j >= i} g_j * out_j / x_i, computed without
    dividing by x where x holds zeros (there: prefix product times a scan of the rest)."""
    rev_cumsum = lambda a: ops.cumsum(a, d, reverse=True)  # noqa: E731
    zero = x == 0
    if not bool(zero.any()):
        return rev_cumsum(g * out) / x
    xm, gm = xp.moveaxis(x, d, -1), xp.moveaxis(g, d, -1)
    n = xm.shape[-1]
    res = xp.empty(gm.shape, dtype=g.dtype)
    prefix = xp.ones(xm.shape[:-1], dtype=x.dtype)
    for i in range(n):  # O(n^2) only along the scanned dim, vectorized over the others
        tail = ops.cumprod(xm[..., i + 1 :], -1)
        res[..., i] = prefix * (gm[..., i] + (gm[..., i + 1 :] * tail).sum(axis=-1))
        prefix = prefix * xm[..., i]
    return xp.moveaxis(res, -1, d)


# torch's promotion categories: bool < integer < float
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}
_DTYPE_KINDS = "biuf"


def as_dtype(dtype: Any, op: str) -> np.dtype:
    """dtype (dg.float32, np.float32, "float32", Python float/int/bool) as a numpy dtype;
    a TypeError naming op for what is not a dtype or is one deltagrad has no tensors of."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{op}: dtype: expected a dtype such as dg.float32, got {dtype!r}"
        ) from None
    if dt.kind not in _DTYPE_KINDS:
        raise TypeError(f"{op}: dtype: {dt} is not supported (bool, integer and float dtypes are)")
    return dt


def _scan_dtype(x: Any, dtype: Any, op: str) -> Any:
    """x cast to cumsum's / cumprod's dtype= (torch has no bool kernel for them, which it
    reaches only for an input with >= 1 dims and >= 1 element: a 0-d or empty one is cast)."""
    dt = as_dtype(dtype, op)
    if dt.kind == "b" and x.ndim and x.size:
        raise _kernel_dtype_error(op, f"{op}_out_cpu", dt, "pass an integer or float dtype")
    return x.astype(dt)


class _ScalarOverflowError(RuntimeError, OverflowError):
    """A number that does not fit the dtype it is written as: torch's RuntimeError ("value
    cannot be converted to type float without overflow"); an OverflowError too, the error
    numpy gave here before."""


class _Int64RangeError(ValueError, OverflowError):
    """An int beyond int64 written by indexing: torch's ValueError ("Overflow when unpacking
    long long"); an OverflowError too, as numpy's was."""


# torch's C type names in _ScalarOverflowError's message
_C_TYPE_NAMES = {
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int",
    "int64": "int64_t",
    "uint8": "uint8_t",
    "uint16": "uint16_t",
    "uint32": "uint32_t",
    "uint64": "uint64_t",
}


def _fit_scalar(value: Any, dt: Any, op: str, name: str = "value") -> Any:
    """A Python / numpy number as a scalar of dtype dt under torch's checked conversion
    (c10::overflows): a Python int must fit 64 bits (int64 or uint64; else torch's
    OverflowError), and a number out of dt's range is an error where numpy would give inf,
    wrap silently or refuse with its own error. As torch: inf and NaN fit any float dtype
    and no integer one; a float fits an integer dtype when in [min, max] (the fraction is
    dropped); a negative int fits an unsigned dtype when -value <= max, and wraps (-1 as
    uint8 is 255); a bool dtype takes any number."""
    dt = np.dtype(dt)
    if isinstance(value, (bool, np.bool_)):
        return dt.type(value)
    if isinstance(value, (int, np.integer)):
        v = int(value)
        if not -(2**63) <= v < 2**64:
            raise OverflowError(f"{op}: {name}: int too big to convert ({v} does not fit 64 bits)")
        if dt.kind == "b":
            return dt.type(v != 0)
        if dt.kind == "f":
            ok = abs(v) <= float(np.finfo(dt).max)
        else:
            lo, hi = int(np.iinfo(dt).min), int(np.iinfo(dt).max)
            ok = v <= hi and (v >= lo or (lo == 0 and -v <= hi))
            v = v % (hi + 1) if ok and v < 0 and lo == 0 else v
    elif not isinstance(value, (float, np.floating)):
        raise TypeError(f"{op}: {name}: expected a number, got {type(value).__name__}")
    else:
        v = float(value)
        if dt.kind == "b":
            return dt.type(v)
        if dt.kind == "f":
            ok = not math.isfinite(v) or abs(v) <= float(np.finfo(dt).max)
        else:  # exact comparisons: 2.0**63 does not fit int64 (torch's wraps it)
            info = np.iinfo(dt)
            ok = math.isfinite(v) and int(info.min) <= v <= int(info.max)
            v = math.trunc(v) if ok else v
    if not ok:
        raise _ScalarOverflowError(
            f"{op}: {name}: value cannot be converted to type "
            f"{_C_TYPE_NAMES.get(dt.name, dt.name)} without overflow (got {value!r})"
        )
    return dt.type(v)


_I64_MIN, _U64_END = -(2**63), 2**64  # torch's Python-int scalars: int64 or uint64


def _int_too_big(value: int, op: str, name: str) -> OverflowError:
    return OverflowError(
        f"{op}: {name}: int too big to convert ({value} does not fit 64 bits, the range of "
        "torch's integer scalars)"
    )


def _wrap_int(value: Any, dt: Any, op: str, name: str = "other") -> int:
    """A Python int operand of integer dtype dt as torch's arithmetic takes it: wrapped modulo
    2**bits, as a C cast (int8 + 300 is int8 + 44, uint8 - 1 is uint8 + 255), where NumPy 2
    raises OverflowError; an int beyond 64 bits is torch's OverflowError."""
    v = int(value)
    if not _I64_MIN <= v < _U64_END:
        raise _int_too_big(v, op, name)
    bits = 8 * dt.itemsize
    v &= (1 << bits) - 1
    return v - (1 << bits) if dt.kind == "i" and v >> (bits - 1) else v


class _CastError(RuntimeError, TypeError):
    """An in-place op whose result dtype would not fit the tensor's (float into int, int into
    bool): torch's RuntimeError ("result type Float can't be cast to the desired output type
    Char"); a TypeError too, as numpy's UFuncTypeError was."""


class _KernelDtypeError(NotImplementedError, TypeError):
    """An op with no kernel for the input's dtype (softmax of an int tensor): torch's
    NotImplementedError ("softmax_lastdim_kernel_impl" not implemented for 'Long'); a
    TypeError too, as deltagrad's was."""


_DTYPE_HINT = "pass dtype=dg.float32 to compute in a float dtype"
_CAST_HINT = "expected a float32 or float64 tensor: convert it first, e.g. x.float()"


_NO_BOOL_HINT = "use an integer or float dtype"


def _kernel_dtype_error(
    op: str, kernel: str, dt: Any, hint: str = _DTYPE_HINT
) -> _KernelDtypeError:
    return _KernelDtypeError(
        f"{op}: \"{kernel}\" not implemented for '{_TORCH_TYPE_NAMES.get(dt.name, dt.name)}' "
        f"(as torch; {hint})"
    )


class _MatmulDtypeError(RuntimeError, TypeError):
    """The operands of a matrix product (matmul, mm, bmm, dot, addmm, ...) of different
    dtypes (float32 @ float64): torch's RuntimeError, which promotes nothing here; a TypeError
    too, as deltagrad's was."""


class _BoolOpError(RuntimeError, TypeError):
    """Subtraction or negation of a bool tensor, or relu / hardtanh of one: torch's
    RuntimeError; a TypeError too, as deltagrad's (and numpy's) was."""


# int tensor ** negative int: torch's RuntimeError; a ValueError too, as numpy's was
_NegativeIntPowerError = _ShapeError


def _inplace_result(d: Any, rdt: Any, op: str) -> None:
    """Raise torch's error when an in-place op on array d has result dtype rdt of a higher
    category (bool < integer < float) than d's own: an in-place op keeps the tensor's dtype."""
    if _KIND_RANK.get(rdt.kind, 3) > _KIND_RANK.get(d.dtype.kind, 3):
        raise _CastError(
            f"{op}: result type {rdt} can't be cast to the desired output type {d.dtype} (an "
            "in-place op keeps the tensor's dtype); use the out-of-place op"
        )


def _check_alpha(alpha: Any, dt: Any, op: str, name: str = "alpha") -> Any:
    """alpha of add / sub (and their in-place forms) in the result dtype dt, checked as torch:
    a bool alpha only for a bool result, no float alpha for an integer or bool result, and a
    value that fits dt (_fit_scalar)."""
    if isinstance(alpha, (bool, np.bool_)):
        if dt.kind != "b":
            raise RuntimeError(f"{op}: {name}: Boolean alpha only supported for Boolean results")
    elif isinstance(alpha, (float, np.floating)) and dt.kind in "biu":
        raise RuntimeError(
            f"{op}: {name}: For integral input tensors, argument alpha must not be a floating "
            f"point number (got {alpha!r})"
        )
    return _fit_scalar(alpha, dt, op, name)


def _scalar_dtype(dt: Any, value: Any) -> Any:
    """The dtype of a Python scalar operand next to a bool / int tensor of dtype dt."""
    if isinstance(value, (float, np.floating)):
        return np.dtype(np.float32)
    if isinstance(value, complex):
        raise TypeError("complex operands are not supported")
    if dt.kind == "b":
        return np.dtype(np.int64)
    return dt


def _result_dtype(a: Any, b: Any) -> Any:
    """torch's result dtype of an op on arrays a and b: the higher category wins (bool <
    int < float); within one, a tensor with dimensions wins over a 0-d one, else numpy's
    promotion (float32 + float64 -> float64, int32 + int64 -> int64)."""
    ra, rb = _KIND_RANK.get(a.dtype.kind, 3), _KIND_RANK.get(b.dtype.kind, 3)
    if ra != rb:
        return a.dtype if ra > rb else b.dtype
    if (a.ndim == 0) != (b.ndim == 0):
        return b.dtype if a.ndim == 0 else a.dtype
    return np.promote_types(a.dtype, b.dtype)


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    dt = _result_dtype(a, b)
    return (a if a.dtype == dt else a.astype(dt)), (b if b.dtype == dt else b.astype(dt))


def _to_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(device, dtype) of Tensor.to's torch signatures."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("copy", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
    if len(args) > 2:
        raise TypeError(f"to: expected at most (device, dtype), got {len(args)} arguments")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif a is None:
            pass
        elif isinstance(a, str) and (a.startswith("cuda") or a.startswith("cpu")):
            device = a
        elif not isinstance(a, str) and isinstance(getattr(a, "type", None), str):
            device = a  # a torch.device
        else:
            dtype = a
    device = _devices.canonical(device)
    if device is not None and device not in ("cpu", "cuda"):
        raise ValueError(f"to: device: expected 'cpu' or 'cuda', got {device!r}")
    if dtype is not None:
        dtype = as_dtype(dtype, "to")
    return device, dtype


def _is_dtype_arg(v: Any) -> bool:
    """v, the one argument of view(v), is a dtype (dg.float32, np.int8, "int32", float), not a
    shape (an int, a tuple / list of ints, a 0-d int tensor)."""
    if isinstance(v, (int, np.integer, tuple, list, Tensor)) or v is None:
        return False
    return isinstance(v, (np.dtype, str, type))


# torch's names of the dtypes in view(dtype)'s messages
_TORCH_TYPE_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
}


def _check_view_dtype(x: Any, dt: Any) -> None:
    """torch's checks of view(dtype) between element sizes old and new (its messages, in
    torch's element strides and storage offset; an empty array has torch's contiguous
    strides, where NumPy gives 0)."""
    old, new = x.dtype.itemsize, dt.itemsize
    what = (
        f"to view {_TORCH_TYPE_NAMES.get(x.dtype.name, x.dtype.name)} as "
        f"{_TORCH_TYPE_NAMES.get(dt.name, dt.name)} (different element sizes)"
    )
    if x.ndim == 0:
        raise RuntimeError(f"view: self.dim() cannot be 0 {what}")
    if x.size == 0:
        strides, acc = [], 1
        for n in reversed(x.shape):
            strides.insert(0, acc)
            acc *= max(n, 1)
        offset = 0
    else:
        strides = [s // old for s in x.strides]
        base = x
        while isinstance(base.base, type(x)):
            base = base.base
        offset = (_data_ptr(x) - _data_ptr(base)) // old
    ratio = new // old if new > old else old // new
    if new > old:
        if x.shape[-1] % ratio:
            raise RuntimeError(
                f"view: self.size(-1) must be divisible by {ratio} {what}, but got {x.shape[-1]}"
            )
        if offset % ratio:
            raise RuntimeError(
                f"view: self.storage_offset() must be divisible by {ratio} {what}, but got {offset}"
            )
    if strides[-1] != 1:
        raise RuntimeError(f"view: self.stride(-1) must be 1 {what}, but got {strides[-1]}")
    if new > old:
        for k, st in enumerate(strides[:-1]):
            if st % ratio:
                raise RuntimeError(
                    f"view: self.stride({k}) must be divisible by {ratio} {what}, but got {st}"
                )


def _data_ptr(a: Any) -> int:
    """The address of a's first element (NumPy or CuPy)."""
    if isinstance(a, np.ndarray):
        return a.__array_interface__["data"][0]
    return int(a.data.ptr)


def _no_object_data(arr: Any) -> None:
    """Python ints beyond int64 (NumPy keeps them as objects): torch's ValueError."""
    for v in arr.flat:
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise _Int64RangeError(
                f"tensor: data: Overflow when unpacking long long ({v} is not an int64)"
            )


@_fp_silent
def _quiet(f: Callable[..., Any], *args: Any) -> Any:
    """f(*args) with NumPy's floating-point warnings off (torch's silent casts)."""
    return f(*args)


@_fp_silent
def _cast_array(data: Any, dtype: Any) -> Any:
    """np.asarray(data, dtype) with torch's silent casts (1e300 into float32 is inf)."""
    return np.asarray(data, dtype=dtype)


def _int_pow(a: Any, b: Any) -> Any:
    """a ** b for integer arrays with negative exponents, as torch: 1 ** e is 1, (-1) ** e is
    +-1 by e's parity, any other base to a negative power is 0 (the truncated quotient)."""
    xp = get_array_module(a)
    a, b = xp.broadcast_arrays(a, b)
    neg = b < 0
    out = a ** xp.where(neg, 0, b)
    odd = (b & 1).astype(bool)
    small = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0)).astype(out.dtype)
    return xp.where(neg, small, out)


def _negated(alpha: Any) -> Any:
    """-alpha for sub's alpha, as torch: it subtracts by adding -alpha, negated in int64 for
    an int (int32's alpha may be 2**31, -(-2**63) is -2**63, 2**64 - 1 is -1 and so 1). A
    bool, a non-number or an int beyond 64 bits is returned as it is, for _check_alpha."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.number)):
        return alpha
    if isinstance(alpha, (int, np.integer)):
        v = int(alpha)
        return v if not _I64_MIN <= v < _U64_END else (-v - _I64_MIN) % _U64_END + _I64_MIN
    return -alpha


def _exact_float(value: Any, op: str) -> float:
    """An int (Python or numpy) beside an integer tensor in a float op (true division, xlogy)
    as torch takes it: its exact value in float (torch computes in float32), not wrapped into
    the tensor's dtype."""
    v = int(value)
    if not _I64_MIN <= v < _U64_END:
        raise _int_too_big(v, op, "other")
    return float(v)


def _no_int_zero(b: Any, op: str) -> None:
    """Integer division by zero raises, as torch (NumPy gives 0 with a warning)."""
    if b.dtype.kind in "iub" and bool((b == 0).any()):
        raise ZeroDivisionError(f"{op}: integer division by zero")


def _shape_args(
    shape: tuple[Any, ...],
    op: str,
    allow_minus_one: bool = False,
    what: str = "shape",
    signed: bool = False,
) -> tuple[int, ...]:
    """Sizes given as ints or as one tuple / list of ints (torch accepts both); signed: dims,
    which may be negative (the caller checks their range)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for n in shape:
        if isinstance(n, Tensor) and n.data.ndim == 0 and n.data.dtype.kind in "iu":
            n = int(n.data)
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(
                f"{op}: {what}: expected a sequence of ints, got {type(n).__name__} {n!r}"
            )
        if n < 0 and not signed and not (allow_minus_one and n == -1):
            raise _ShapeError(f"{op}: {what}: expected sizes >= 0, got {n}")
        out.append(int(n))
    return tuple(out)


def _shares_base(view: Any, arr: Any) -> bool:
    """True when view is arr or a view of arr's memory (no copy was made)."""
    if view is arr:
        return True
    base_v = view
    while base_v.base is not None:
        base_v = base_v.base
    base_a = arr
    while base_a.base is not None:
        base_a = base_a.base
    return base_v is base_a


def _dim(dim: Any, ndim: int, op: str) -> int:
    """One dim in [-ndim, ndim) (a 0-d tensor takes -1 and 0), as a non-negative int; an
    IndexError as torch's "Dimension out of range" otherwise."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim: expected an int, got {type(dim).__name__} {dim!r}")
    n = ndim if ndim else 1
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: dim: Dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})"
        )
    return int(dim) % n


def _dims(dim: Any, ndim: int, op: str, empty_is_all: bool = True) -> tuple[int, ...]:
    """dim None (all), an int or a tuple of ints, as sorted non-negative ints. An empty tuple
    or list is every dim too, as torch's reductions take it (sum(()), mean([])); any / all /
    squeeze pass empty_is_all=False (torch: no dim)."""
    if dim is None or (empty_is_all and isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(ndim))
    items = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in items:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: dim: expected an int, a tuple of ints or None, got {dim!r}")
        d = _dim(d, ndim, op)
        if d in out:
            raise ValueError(f"{op}: dim: dim {d} appears multiple times in {dim!r}")
        out.append(d)
    return () if ndim == 0 else tuple(sorted(out))


def _alias_dims(dim: Any, keepdim: Any, axis: Any, keepdims: Any, op: str) -> tuple[Any, Any]:
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: pass dim or its alias axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim


def _float_only(t: Tensor, op: str) -> None:
    if t.data.dtype.kind != "f":
        raise TypeError(
            f"{op}: input: expected a floating point tensor, got dtype {t.dtype} "
            "(as torch; convert with .float() first)"
        )


def _as_float(x: Any) -> Any:
    """x, or x as float32 when it holds bools / ints (torch's float ops on int tensors)."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _same_dtype(a: Tensor, b: Tensor, op: str) -> Tensor:
    """b, when it has a's dtype; else torch's RuntimeError (_MatmulDtypeError, a TypeError
    too): a matrix product promotes nothing."""
    if a.data.dtype != b.data.dtype:
        raise _MatmulDtypeError(
            f"{op}: operands have different dtypes {a.dtype} and {b.dtype}: expected m1 and m2 "
            "to have the same dtype (as torch: a matrix product promotes nothing)"
        )
    return b


def _matmul_forward(ad: Any, bd: Any) -> Any:
    """ad @ bd (one dtype; batch dims broadcast): the GEMM kernels for a float dtype; for an
    integer dtype the array module's matmul, exact and wrapping modulo 2**bits as torch's CPU
    kernel (ints carry no gradient); bool has no kernel, as torch."""
    if ad.dtype.kind == "f":
        return ops.matmul(ad, bd)
    if ad.dtype.kind == "b":
        raise _kernel_dtype_error("matmul", "addmm_impl_cpu_", ad.dtype)
    return get_array_module(ad).matmul(ad, bd)


def _no_graph(data: Any, op: str) -> Tensor:
    """The result of an op with no gradient (comparisons, indices, int results): a tensor
    outside any graph."""
    return Tensor._make(data, (), None, op)


def _zero_grad_node(data: Any, parents: tuple[Tensor, ...], op: str) -> Tensor:
    """data as a graph node whose gradient to each parent is zeros, also when differentiated
    again: torch's derivative of the rounding divisions (div with a rounding_mode), defined
    and 0, where differentiating through trunc(x / y) would give 0 / 0 = NaN at y == 0."""

    def zeros(p: Tensor) -> Any:
        return get_array_module(p.data).zeros(p.shape, p.data.dtype)

    def _backward(g: Any) -> None:
        for p in parents:
            if p.requires_grad:
                p._accumulate(zeros(p))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return tuple([Tensor(zeros(p)) for p in parents])

    return Tensor._make(data, parents, _backward, op, saves=(), dbackward=_dbackward)


# what makes a short list index ambiguous: NumPy reads it as one array index, torch as a tuple
_SEQUENCE_ITEMS = (list, tuple, np.ndarray, Tensor)


def _index_range(e: IndexError) -> IndexError:
    """NumPy's (or CuPy's) IndexError for an index value out of bounds as IndexRangeError in
    torch's words ("index 5 is out of bounds for dimension 0 with size 3"); others as they are."""
    msg = str(e)
    if isinstance(e, IndexRangeError) or "out of bounds" not in msg:
        return e
    return IndexRangeError(msg.replace(" for axis ", " for dimension "))


def _index_key(idx: Any) -> Any:
    """An index as NumPy takes it (Tensors as their arrays). An IndexError for the forms torch
    reads another way than NumPy (both deprecated in torch, which warns): a uint8 tensor
    (torch: a boolean mask; NumPy: integer indices, which a uint8 numpy array keeps) and a
    list of fewer than 32 items holding a list, tuple, array or tensor (torch: a tuple of
    indices; NumPy: one array index). Such a list holding a slice, None or ... is a tuple,
    as torch reads it (NumPy has no reading of it)."""
    if isinstance(idx, Tensor):
        return _tensor_index(idx)
    if isinstance(idx, tuple):
        return tuple(_tensor_index(i) if isinstance(i, Tensor) else i for i in idx)
    if type(idx) is list and len(idx) < 32:
        for i in idx:
            if type(i) is not int and (
                i is None or i is Ellipsis or isinstance(i, (slice, *_SEQUENCE_ITEMS))
            ):
                return _list_index(idx)
    return idx


def _tensor_index(t: Tensor) -> Any:
    """A Tensor index's array; a uint8 one is refused (see _index_key)."""
    if t.data.dtype.char == "B":
        raise IndexError(
            "indexing with a uint8 tensor is ambiguous: torch reads it as a boolean mask "
            "(deprecated), NumPy as integer indices; convert it with .bool() (a mask) or "
            ".long() (indices)"
        )
    return t.data


def _list_index(idx: list[Any]) -> tuple[Any, ...]:
    """A short list index holding a slice, None or ... as the tuple torch reads (NumPy refuses
    it); one holding a sequence (ambiguous, see _index_key) an IndexError."""
    if any(i is None or i is Ellipsis or isinstance(i, slice) for i in idx):
        return _index_key(tuple(idx))
    kind = next(type(i).__name__ for i in idx if isinstance(i, _SEQUENCE_ITEMS))
    raise IndexError(
        f"indexing with a list that holds a {kind} is ambiguous: torch reads it as a tuple of "
        "indices (deprecated), NumPy as one array index; write x[tuple(idx)] or "
        "x[dg.tensor(idx)]"
    )


def _holds_float64(data: Any) -> bool:
    """True when data (a number, or nested lists / tuples) holds a numpy float64 scalar or a
    float64 array or Tensor: torch.tensor keeps float64 then (Python floats become float32)."""
    if isinstance(data, (list, tuple)):
        if set(map(type, data)) <= {float, int, bool}:  # plain Python numbers: the usual case
            return False
        return any(_holds_float64(v) for v in data)
    return getattr(data, "dtype", None) == np.float64


def _is_array(x: Any) -> bool:
    """numpy / cupy arrays, and the numpy scalars that numpy's ufuncs return for 0-d input."""
    return isinstance(x, (np.ndarray, np.generic)) or is_cuda_array(x)


def _must(out: Any, op: str, other: Any) -> Tensor:
    if out is NotImplemented:
        raise TypeError(
            f"{op}: other: expected a tensor, an array or a number, got {type(other).__name__}"
        )
    return out


def _sgn(x: Any) -> Any:
    """torch's sgn for real x: sign(x), but 0 at NaN (abs's derivative, x / |x| masked)."""
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def _pow2_scales(x: Any, axes: tuple[int, ...], result: Any) -> tuple[Any, Any] | None:
    """For a reduction (var, norm) computed plainly into `result` (keepdims shape): None where
    every slice's result is finite and at least tiny / eps, the usual case; else, per slice,
    (2**-e, 2**e), e the exponent of the slice's largest |x| clipped to keep both normal, so
    the caller redoes the reduction on x * 2**-e (|x| < 2 there: no power overflows, few
    underflow) and scales the result back. Powers of two scale exactly: the bits are the
    plain formula's wherever it did not overflow or underflow. Slices of inf / NaN / zeros are
    left unscaled. torch accumulates such reductions in double instead."""
    xp = get_array_module(x)
    fi = np.finfo(x.dtype)
    tiny = x.dtype.type(float(fi.tiny) / float(fi.eps))
    if not bool(xp.any(~xp.isfinite(result) | (result < tiny))):
        return None
    big = xp.maximum(xp.amax(x, axis=axes, keepdims=True), -xp.amin(x, axis=axes, keepdims=True))
    fin = xp.isfinite(big) & (big > 0)
    e = xp.clip(xp.frexp(xp.where(fin, big, 1))[1] - 1, fi.minexp + 1, fi.maxexp - 1)
    one = xp.ones(big.shape, x.dtype)  # the small reduced arrays only
    return xp.ldexp(one, -e), xp.ldexp(one, e)


def _sum_squares(x: Any, axes: tuple[int, ...]) -> Any:
    """sum(x * x) over axes (keepdims) for a C-contiguous numpy x reduced over its trailing
    axes, else None: einsum over blocks of 128 elements, then numpy's pairwise sum of the
    block sums -- no temporary the size of x, and the accuracy of numpy's pairwise sum."""
    nd = x.ndim
    if type(x) is not np.ndarray or not axes or not x.size or not x.flags.c_contiguous:
        return None
    if axes != tuple(range(nd - len(axes), nd)):
        return None
    lead = x.shape[: nd - len(axes)]
    rows = x.reshape(math.prod(lead), -1)
    m, n = rows.shape
    k = n - n % 128
    head = rows[:, :k].reshape(m, k // 128, 128)
    out = np.einsum("ijk,ijk->ij", head, head).sum(axis=1)
    if k < n:
        out += np.einsum("ij,ij->i", rows[:, k:], rows[:, k:])
    return out.reshape(lead + (1,) * len(axes))


def _p_norm_grad(x: Any, nrm: Any, gk: Any, p: Any) -> Any:
    """torch's norm_backward, g sgn(x) (|x| / norm)**(p - 1), formed so that no power
    overflows where the gradient is finite; gk, nrm: keepdims shape. Its masks as torch's:
    0 on an all-zero slice (p = 2: before the product with g), and for p < 1 the factor
    |x|**(p - 1) is 0 at x == 0 (torch's masked_fill; here 0 * norm**(1 - p)). Elsewhere NaN
    spreads as torch's: x == 0 gives NaN where the norm is NaN or g is not finite."""
    xp = get_array_module(x)
    r = xp.abs(x, out=xp.empty_like(x))  # (an array for 0-d x too)
    r /= nrm
    if p != 2:
        xp.power(r, p - 1, out=r)
    xp.copysign(r, x, out=r)  # sgn(x) r: r is NaN where x is NaN
    zero = nrm == 0  # (0 / 0 = NaN in r there)
    if p < 1:
        r = xp.where(x == 0, 0 * nrm ** (1 - p), r)
    elif p == 2 and bool(zero.any()):
        r[xp.broadcast_to(zero, r.shape)] = 0
    r *= gk
    if 1 <= p != 2 and bool(zero.any()):
        r[xp.broadcast_to(zero, r.shape)] = 0
    return r


def _p_norm(t: Tensor, p: Any, dim: Any, keepdim: bool) -> Tensor:
    """sum(|x|**p)**(1/p) over dim for p > 0 other than 1 and inf (2: 'fro'), as torch.norm.
    Forward: the plain formula first, redone scaled where its powers overflowed or
    underflowed (_pow2_scales: float32 [3e20] gave inf, [1e-30] 0); p = 2 sums squares
    without a temporary (_sum_squares). Backward: torch's norm_backward, for p = 2 in one
    pass, g x / norm, where g / norm is finite; else _p_norm_grad (no power overflows)."""
    x = t.data
    xp = get_array_module(x)
    axes = _dims(dim, x.ndim, "norm")
    keep_shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
    out_shape = keep_shape if keepdim else [s for i, s in enumerate(x.shape) if i not in axes]

    def plain(v: Any) -> Any:
        if p == 2:
            s = _sum_squares(v, axes)
            return xp.sqrt(s if s is not None else (v * v).sum(axis=axes, keepdims=True))
        return (xp.abs(v) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        nrm = plain(x)
        scales = _pow2_scales(x, axes, nrm) if x.size else None
        if scales is not None:
            nrm = plain(x * scales[0]) * scales[1]
    nrm = nrm.astype(x.dtype, copy=False)

    def _backward(g: Any) -> None:
        gk = g.reshape(keep_shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 2:
                s = xp.where(nrm == 0, 0 * gk, gk / nrm)  # the small reduced shape
                if bool(xp.isfinite(s).all()):  # torch's g x / norm, one pass over x
                    t._accumulate((x * s).astype(x.dtype, copy=False))
                    return
            t._accumulate(_p_norm_grad(x, nrm, gk, p))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        zero = nrm == 0
        safe = where(zero, 1.0, _p_norm(t, 2, axes, True))  # no 0 / 0 in the masked branch
        # only an all-zero slice is masked: at a zero entry g x / norm is 0 by itself, and a
        # mask there would cut the graph (the second derivative there is g / norm, as torch)
        return (where(zero, 0.0, g.reshape(keep_shape) * t / safe),)

    def _dbackward_p(g: Tensor) -> tuple[Any, ...]:
        # g sgn(x) (|x| / norm)**(p - 1), the norm recomputed as a node; the masked elements
        # (x == 0, an all-zero slice) read 1 in both factors, so no inf * 0 reaches the graph
        off = (nrm == 0) | (x == 0)
        safe = where(nrm == 0, 1.0, _p_norm(t, p, axes, True))
        r = where(off, 1.0, t.abs()) / safe
        sg = Tensor(_sgn(x).astype(x.dtype, copy=False))
        return (where(off, 0.0, g.reshape(keep_shape) * sg * r ** (p - 1)),)

    db = _dbackward if p == 2 else _dbackward_p
    return Tensor._make(nrm.reshape(out_shape), (t,), _backward, "norm", saves=(t,), dbackward=db)


def _one_norm(t: Tensor, dim: Any, keepdim: bool) -> Tensor:
    """sum(|x|) over dim, as torch.norm(x, 1): torch's gradient g sgn(x) (0 at NaN) in one
    node (not abs then sum: fewer passes over x)."""
    x = t.data
    xp = get_array_module(x)
    axes = _dims(dim, x.ndim, "norm")
    keep_shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
    out_shape = keep_shape if keepdim else [s for i, s in enumerate(x.shape) if i not in axes]
    nrm = xp.abs(x).sum(axis=axes, keepdims=True)

    def _backward(g: Any) -> None:
        gx = xp.sign(x, out=xp.empty_like(x))  # (an array for 0-d x too)
        if bool(xp.isnan(nrm).any()):  # a NaN in x: sgn(NaN) is 0
            gx[xp.isnan(x)] = 0
        gx *= g.reshape(keep_shape)
        t._accumulate(gx)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return (g.reshape(keep_shape) * t.sign(),)

    return Tensor._make(
        nrm.reshape(out_shape), (t,), _backward, "norm", saves=(t,), dbackward=_dbackward
    )


def _clamp_tensor(t: Tensor, lo: Any, hi: Any) -> Tensor:
    """clamp with tensor bounds, as torch: min(max(x, lo), hi), NaN where x or a bound is NaN
    (hi where lo > hi); x's gradient passes where lo <= x <= hi, lo's where x < lo < hi, hi's
    where x > hi or hi < lo (torch's clamp_backward_min_max). NaN fails every comparison, so
    a NaN sends no gradient anywhere."""
    lo_t = None if lo is None else t._lift(lo)
    hi_t = None if hi is None else t._lift(hi)
    x = t.data
    bounds = [b.data for b in (lo_t, hi_t) if b is not None]
    dt = x.dtype
    for b in bounds:
        dt = _result_dtype(np.empty((0,) * x.ndim, dt), b)  # only its ndim and dtype count
    x = x.astype(dt, copy=False)
    la, ha = (None if b is None else b.data.astype(dt, copy=False) for b in (lo_t, hi_t))
    xp = get_array_module(x)
    out = x
    if la is not None:
        out = xp.maximum(out, la)  # maximum / minimum propagate NaN from either side
    if ha is not None:
        out = xp.minimum(out, ha)
    if out is x:
        out = x.copy()

    def _backward(g: Any) -> None:
        zero = g.dtype.type(0)
        if t.requires_grad:
            keep = xp.ones(x.shape, dtype=bool)
            if la is not None:
                keep = keep & (x >= la)
            if ha is not None:
                keep = keep & (x <= ha)
            t._accumulate(_unbroadcast(xp.where(keep, g, zero), t.shape))
        if lo_t is not None and lo_t.requires_grad:
            m = x < la
            if ha is not None:
                m = m & (la < ha)
            lo_t._accumulate(_unbroadcast(xp.where(m, g, zero), lo_t.shape))
        if hi_t is not None and hi_t.requires_grad:
            m = x > ha
            if la is not None:
                m = m | (ha < la)
            hi_t._accumulate(_unbroadcast(xp.where(m, g, zero), hi_t.shape))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        # linear in g (the masks are constants: torch's gradient has no graph to x either)
        keep = xp.ones(x.shape, dtype=bool)
        if la is not None:
            keep = keep & (x >= la)
        if ha is not None:
            keep = keep & (x <= ha)
        outs: list[Any] = [where(keep, g, 0.0)]
        if la is not None:
            outs.append(where((x < la) & (la < ha) if ha is not None else x < la, g, 0.0))
        if ha is not None:
            outs.append(where((x > ha) | (ha < la) if la is not None else x > ha, g, 0.0))
        return tuple(outs)

    parents = tuple(b for b in (t, lo_t, hi_t) if b is not None)
    return Tensor._make(out, parents, _backward, "clamp", saves=parents, dbackward=_dbackward)


def _var_grad(g: Tensor, x: Tensor, axes: Any, denom: Any, kshape: Any) -> Tensor:
    """var's gradient 2 / denom * g * (x - mean(x)), as Tensor ops (torch's var_backward)."""
    if x.data.size == 0:
        return Tensor(get_array_module(x.data).zeros_like(x.data))
    scale = 2.0 / denom if denom else math.inf
    return (g.reshape(*kshape) * (x - x.mean(axes, keepdim=True))) * scale


def _d_var(x: Tensor, axes: Any, denom: Any, kshape: Any, g: Tensor) -> tuple[Any, ...]:
    return (_var_grad(g, x, axes, denom, kshape),)


def _d_std(x: Tensor, axes: Any, c: Any, denom: Any, kshape: Any, g: Tensor) -> tuple[Any, ...]:
    # torch's std_backward: var_backward(g / (2 std), masked to 0 where std is 0), std itself
    # recomputed as a node so the result has its graph back to x
    if x.data.size == 0:
        return (Tensor(get_array_module(x.data).zeros_like(x.data)),)
    std = x.std(axes, keepdim=True, correction=c)
    gs = (g.reshape(*kshape) / (2 * std)).masked_fill(std.data == 0, 0.0)
    return (_var_grad(gs, x, axes, denom, kshape),)


def _but_one(xm: Tensor) -> Tensor:
    """xm (the scanned dim last, size n) as (..., n, n): row k is xm with its k-th element
    replaced by 1 (so that a product along the last dim leaves x_k out), as Tensor ops: the
    gradients of prod / cumprod where the input holds zeros, differentiable (n^2 memory)."""
    n = xm.shape[-1]
    eye = get_array_module(xm.data).eye(n, dtype=bool)
    return where(eye, 1.0, xm.unsqueeze(-2).expand(*xm.shape[:-1], n, n))


def _d_prod(x: Tensor, flat: bool, d: int, kshape: Any, g: Tensor) -> tuple[Any, ...]:
    # prod's gradient g * (the product of the others), those as Tensor ops: out / x where no
    # element is zero, else the products of _but_one (exact at zeros, as torch)
    gk = g.reshape(*kshape)
    if x.ndim == 0:  # torch: the gradient is g itself (no graph to x)
        return (gk,)
    if x.data.size == 0:
        return (Tensor(get_array_module(x.data).zeros_like(x.data)),)
    if not bool((x.data == 0).any()):
        if flat:
            return (gk * (x.prod().reshape(*kshape) / x),)
        return (gk * (x.prod(d, keepdim=True) / x),)
    xm = x.reshape(-1) if flat else (x.reshape(1) if x.ndim == 0 else x).movedim(d, -1)
    others = _but_one(xm).prod(-1)
    others = others.reshape(*x.shape) if flat else others.movedim(-1, d).reshape(*x.shape)
    return (gk * others,)


def _cumprod_dgrad(x: Tensor, g: Tensor, d: int) -> Tensor:
    """cumprod's gradient sum_{i >= k} g_i * out_i / x_k as Tensor ops (with zeros in x:
    sum_{i >= k} g_i * prod_{j <= i, j != k} x_j, from _but_one, n^2 memory)."""
    if x.data.size == 0:
        return Tensor(get_array_module(x.data).zeros_like(x.data))
    if not bool((x.data == 0).any()):
        return (g * x.cumprod(d)).flip(d).cumsum(d).flip(d) / x
    xm, gm = x.movedim(d, -1), g.movedim(d, -1)
    n = xm.shape[-1]
    t = _but_one(xm).cumprod(-1)  # t[..., k, i] = prod_{j <= i, j != k} x_j
    upper = get_array_module(x.data).triu(get_array_module(x.data).ones((n, n), dtype=bool))
    res = where(upper, t * gm.unsqueeze(-2), 0.0).sum(-1)
    return res.movedim(-1, d)


def _d_logcumsumexp(t: Tensor, d: int, shape: Any, g: Tensor) -> tuple[Any, ...]:
    """logcumsumexp's gradient as Tensor ops (torch's logcumsumexp_backward: the positive and
    negative parts of g summed in log space, so that nothing overflows)."""
    x, g = t.reshape(*shape), g.reshape(*shape)
    if x.data.size == 0:
        return (Tensor(get_array_module(x.data).zeros_like(t.data)),)
    res = x.logcumsumexp(d)
    low = float(np.finfo(x.data.dtype).min)
    lg = g.abs().log()
    parts = []
    for keep in (g.data > 0, g.data < 0):
        r = where(keep, lg, low) - res
        parts.append((r.flip(d).logcumsumexp(d).flip(d) + x).exp())
    return ((parts[0] - parts[1]).reshape(*t.shape),)


def _exclusive_prod(x: Any, d: int, xp: Any) -> Any:
    """For every element along axis d of x, the product of the others (no division, so
    exact when some are zero)."""
    n = x.shape[d]
    if n == 0:
        return xp.zeros_like(x)
    xm = xp.moveaxis(x, d, -1)
    ones = xp.ones(xm.shape[:-1] + (1,), dtype=x.dtype)
    left = xp.cumprod(xp.concatenate([ones, xm[..., :-1]], axis=-1), axis=-1)
    rev = xp.flip(xm, axis=-1)
    right = xp.flip(xp.cumprod(xp.concatenate([ones, rev[..., :-1]], axis=-1), axis=-1), -1)
    return xp.moveaxis(left * right, -1, d)


def _index_arg(index: Any, t: Tensor, d: int, op: str) -> Any:
    idx = index.data if isinstance(index, Tensor) else index
    if not _is_array(idx):
        raise TypeError(f"{op}: index: expected an int64 tensor, got {type(index).__name__}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index: expected an integer (int64) tensor, got dtype {idx.dtype}")
    if is_cuda_array(idx) != is_cuda_array(t.data):
        raise RuntimeError(f"{op}: index: expected it on the tensor's device {t.device}")
    nd = t.data.ndim
    if idx.ndim != max(nd, 1) and not (nd == 0 and idx.ndim <= 1):
        raise ValueError(
            f"{op}: index: expected {nd} dimensions (as the input), got shape {idx.shape}"
        )
    if nd and any(i > s for k, (i, s) in enumerate(zip(idx.shape, t.shape)) if k != d):
        raise ValueError(
            f"{op}: index: shape {idx.shape} is larger than the input's {t.shape} in a dim "
            f"other than dim {d}"
        )
    return idx


def _check_index_range(idx: Any, n: int, op: str, xp: Any) -> None:
    """IndexError unless every value of the integer array idx lies in [0, n), in one pass: the
    max of idx read as unsigned (a negative value reads as one above 2**63)."""
    if not idx.size:
        return
    top = idx.view(idx.dtype.str.replace("i", "u")) if idx.dtype.kind == "i" else idx
    if int(top.max()) >= n:
        raise IndexRangeError(f"{op}: index: values out of range [0, {n}) for dim of size {n}")


def _leading_slices(shape: tuple[int, ...], d: int, all_dims: bool = False) -> tuple[Any, ...]:
    """The slices that cut an array down to `shape` in every dim except d (all of them
    when all_dims)."""
    return tuple(
        slice(None) if (k == d and not all_dims) else slice(0, n) for k, n in enumerate(shape)
    )


def _scatter_add_into(out: Any, d: int, idx: Any, src: Any) -> None:
    """out[..., idx[...], ...] += src along dim d (repeated indices accumulate, in index order:
    np.add.at's sums). A float32 / float64 numpy out of src's dtype takes dg.ops'
    scatter_reduce_ kernel (the same bits, ~3x faster)."""
    xp = get_array_module(out)
    if out.ndim == 0:
        out[...] += src.reshape(-1)[: idx.size].sum() if idx.size else 0
        return
    if (
        xp is np
        and out.dtype in (np.float32, np.float64)
        and getattr(src, "dtype", None) == out.dtype
        and idx.ndim == out.ndim
    ):
        ops.scatter_reduce_(out, d, idx, src, "sum")
        return
    nd = idx.ndim
    grids = [
        idx if k == d else xp.arange(n).reshape([n if j == k else 1 for j in range(nd)])
        for k, n in enumerate(idx.shape)
    ]
    if xp is np:
        np.add.at(out, tuple(grids), src)
    else:
        import cupyx

        cupyx.scatter_add(out, tuple(grids), src)


def _wrap(x: Any, op: str, name: str) -> Tensor:
    """Tensor(x) for a raw operand x of op (an array), a malformed device array reported
    as op's argument `name` rather than as "Tensor: data"."""
    return Tensor(check_device_array(x, op, name) if is_cuda_array(x) else x)


def _lift_any(x: Any, like: Tensor | None) -> Tensor:
    if isinstance(x, Tensor):
        return x if like is None else like._lift(x)
    if like is None:
        return Tensor(x)
    return like._lift(x)


def _where_scalars(input: Any, other: Any, base: Tensor | None) -> tuple[Any, Any]:  # noqa: A002
    """torch.where's number operands in the result dtype, checked as torch (c10's checked
    conversion, _fit_scalar): a number beside a tensor takes the tensor's dtype (float32 for a
    float beside a bool / int tensor, int64 for an int beside a bool one); two numbers give
    float32, int64 or bool. 1e300 into float32 and 300 into int8 raise; float16 is not
    checked (torch writes inf there, as for indexing)."""
    nums = [
        isinstance(v, (int, float, np.number, np.bool_)) and not isinstance(v, Tensor)
        for v in (input, other)
    ]
    if not any(nums):
        return input, other
    xp = np
    if base is not None:
        dt = base.data.dtype
        xp = get_array_module(base.data)
        pick = [
            dt if dt.kind == "f" or isinstance(v, (bool, np.bool_)) else _scalar_dtype(dt, v)
            for v in (input, other)
        ]
    else:  # two numbers: float32 if either is a float, else int64 unless both are bools
        flt = any(isinstance(v, (float, np.floating)) for v in (input, other))
        bools = all(isinstance(v, (bool, np.bool_)) for v in (input, other))
        dt = np.dtype(np.float32 if flt else np.bool_ if bools else np.int64)
        pick = [dt, dt]
    out = []
    for v, is_num, d, name in zip((input, other), nums, pick, ("input", "other")):
        if is_num and d != np.float16:
            v = xp.asarray(_fit_scalar(v, d, "where", name))
        elif is_num and type(v) is int and not _I64_MIN <= v < _U64_END:
            raise _int_too_big(v, "where", name)
        out.append(v)
    return out[0], out[1]


@_fp_silent
def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    """input where condition (a bool tensor) is True, else other, broadcast together, as
    torch.where; differentiable in input and other (numbers allowed for either, checked
    against the result dtype as torch: _where_scalars)."""
    for name, v in (("condition", condition), ("input", input), ("other", other)):
        if not isinstance(v, Tensor) and is_cuda_array(v):  # named here, not as "Tensor op"
            check_device_array(v, "where", name)
    c = condition.data if isinstance(condition, Tensor) else condition
    if not _is_array(c) or c.dtype.kind != "b":
        raise TypeError(
            f"where: condition: expected a bool tensor, got {getattr(c, 'dtype', type(c).__name__)}"
        )
    base = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    input, other = _where_scalars(input, other, base)  # noqa: A001
    if base is None:
        base = Tensor(np.asarray(input, dtype=np.float32) if isinstance(input, float) else input)
    x = _lift_any(input, base)
    y = _lift_any(other, base)
    a, b = x.data, y.data
    if a.dtype != b.dtype:
        a, b = _promote(a, b)
    xp = get_array_module(a)
    try:
        out = xp.where(c, a, b)
    except ValueError:
        raise _ShapeError(
            f"where: condition, input and other do not broadcast: shapes {tuple(c.shape)}, "
            f"{x.shape}, {y.shape}"
        ) from None

    def _backward(g: Any) -> None:
        zero = g.dtype.type(0)
        if x.requires_grad:
            x._accumulate(_unbroadcast(xp.where(c, g, zero), x.shape))
        if y.requires_grad:
            y._accumulate(_unbroadcast(xp.where(c, zero, g), y.shape))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return where(c, g, 0.0), where(c, 0.0, g)

    return Tensor._make(out, (x, y), _backward, "where", saves=(), dbackward=_dbackward)


def _tensor_list(tensors: Any, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{op}: tensors: expected a list or tuple of tensors, got {type(tensors).__name__}"
        )
    if not tensors:
        kind = ValueError if op == "cat" else _ShapeError  # torch's kinds: cat, stack
        raise kind(f"{op}: tensors: expected a non-empty list of tensors")
    ts = [
        t if isinstance(t, Tensor) else _wrap(t, op, f"tensors[{i}]") for i, t in enumerate(tensors)
    ]
    dev = ts[0].device
    for i, t in enumerate(ts):
        if t.device != dev:
            raise RuntimeError(
                f"{op}: tensors: expected all tensors on the same device, got {dev} and "
                f"{t.device} (tensor {i})"
            )
    return ts


def _joined(ts: list[Tensor], xp: Any) -> list[Any]:
    """The arrays of ts, cast to torch's common dtype when they differ."""
    arrays = [t.data for t in ts]
    dt = arrays[0].dtype
    if any(a.dtype != dt for a in arrays):
        dt = arrays[0]
        for a in arrays[1:]:
            dt = xp.empty((1,), dtype=_result_dtype(dt, a))
        arrays = [a.astype(dt.dtype) for a in arrays]
    return arrays


def _join_cat(d: int, xp: Any, arrays: list[Any]) -> Any:
    return xp.concatenate(arrays, axis=d)


def _join_stack(d: int, xp: Any, arrays: list[Any]) -> Any:
    return xp.stack(arrays, axis=d)


def _no_piece_backward(g: Any) -> None:  # pragma: no cover - no graph is recorded
    raise RuntimeError("internal error: a piece made without a graph was backpropagated")


def _pieces(
    x: Tensor, keys: list[tuple[Any, ...]], op: str, join: Callable[[Any, list[Any]], Any]
) -> tuple[Tensor, ...]:
    """x[key] for each key: views, one graph node each (split, chunk, unbind). The keys are
    basic indices along one dim that tile it in order without overlap; join(xp, arrays) puts
    one array per piece back together (concatenate or stack along that dim).

    Backward: a piece sends its gradient into x's. The first piece to run in a plain
    backward() also takes its siblings' gradients that are waiting (not those with hooks,
    which must see their own), so that when x has none yet and every piece's is there they
    are joined into x's gradient at once, as torch's split_backward (one pass, where a zero
    array that each part is added into takes three); otherwise the parts are written into a
    zero array, and a sibling that receives more later, or a piece that finds x's gradient
    begun, adds into it (Tensor._accumulate_at). A sibling's gradient taken early is the
    same sum: the backward of a piece is linear, whichever node sends its part into x."""
    data = x.data
    if not (x.requires_grad and _autograd_state.grad_enabled):
        return tuple([Tensor._make(data[k], (x,), _no_piece_backward, op) for k in keys])
    n = len(keys)
    refs: list[Any] = []
    hint = [0, 0]  # (id of a backward's handed set, its scans that found nothing): skip after 2

    def send(i: int, g: Any) -> None:
        if n == 1 and g.shape == data.shape:  # the whole of x: its gradient as it is
            x._accumulate(g)
            return
        st = _autograd_state
        task = st.task
        if task is None:  # called outside a backward: straight into .grad
            x._accumulate_at(keys[i], g)
            return
        parts = None
        if st.direct and n > 1 and (hint[0] != id(task[1]) or hint[1] < 2):
            for j in range(n):
                p = refs[j]() if j != i else None
                if p is not None and p._g is not None and p._hooks is None:
                    if parts is None:
                        parts = {i: g}
                    parts[j] = p._g
                    p._g = None
            if parts is None:
                if hint[0] != id(task[1]):
                    hint[0], hint[1] = id(task[1]), 0
                hint[1] += 1
        leaf = x._backward is None
        if leaf:
            e = task[0].get(id(x))
            begun = e is not None
        else:
            begun = x._g is not None
        if begun:  # added into x's gradient, in place where it is x's own (_accumulate_at)
            if parts is None:
                x._accumulate_at(keys[i], g)
            else:
                for j, gj in parts.items():
                    x._accumulate_at(keys[j], gj)
            return
        xp = get_array_module(data)
        if parts is not None and len(parts) == n:  # every piece's: one join, as the forward's
            buf = join(xp, [parts[j] for j in range(n)])
        else:
            buf = xp.zeros(data.shape, data.dtype)
            for j, gj in (parts or {i: g}).items():
                buf[keys[j]] = gj
        x._accumulate(buf)
        held = task[0][id(x)][1] if leaf else x._g
        if held is buf:  # x's own array now: later parts add into it in place
            try:
                x._g_own = weakref.ref(buf)
            except TypeError:  # an array type without weak references: copied then
                pass

    out = []
    traced = _engine.anomaly_enabled  # Tensor._make records the forward's stack then
    prev = (x,)
    for i, key in enumerate(keys):

        def _dbackward(g: Tensor, key: tuple[Any, ...] = key) -> tuple[Any, ...]:
            return (_index_backward(g, key, data),)

        if traced:
            t = Tensor._make(
                data[key], prev, functools.partial(send, i), op, saves=(), dbackward=_dbackward
            )
        else:  # what Tensor._make makes of a view of one parent that requires grad, in 1/3
            t = Tensor.__new__(Tensor)  # of its time (an unbind into many pieces: an RNN's)
            t.data = data[key]
            t.grad = None
            t.requires_grad = True
            t._backward = functools.partial(send, i)
            t._prev = prev
            t._grad_mask = None
            t._op = op
            t._version = x._version  # a view: its base's version counter, as torch
            t._saved = ()
            t._g = None
            t._g_own = None
            t._hooks = None
            t._dbackward = _dbackward
        refs.append(weakref.ref(t))
        out.append(t)
    return tuple(out)


def _cat_shape_error(ts: list[Tensor], skip: list[bool], nd: int, d: int) -> None:
    """Raise torch's error for the first tensor of ts whose shape does not fit cat's."""
    ref = next(t.shape for t, s in zip(ts, skip) if not s)
    for i, t in enumerate(ts):
        if skip[i]:
            continue
        if t.data.ndim != nd:
            raise _ShapeError(
                f"cat: tensors: expected all tensors with {nd} dimensions, got shape "
                f"{t.shape} for tensor {i}"
            )
        for k in range(nd):
            if k != d and t.shape[k] != ref[k]:
                raise _ShapeError(
                    f"cat: tensors: sizes must match except in dim {d}: expected size "
                    f"{ref[k]} but got {t.shape[k]} in dim {k} for tensor {i} (shapes "
                    f"{ref} and {t.shape})"
                )


def cat(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (their other sizes must match), as torch.cat. As
    torch too, a 1-d empty tensor (shape (0,)) is skipped beside others of any shape (its
    dtype still takes part in the promotion): the idiom `out = dg.cat([out, x])` from
    `out = dg.tensor([])`.

    One concatenate (a strided copy per input along a later dim); backward hands each input
    its slice of the gradient, a view (a leaf keeps it as its .grad when no other kept view
    overlaps it and no user code was shown the gradient, as torch: _engine._take)."""
    ts = _tensor_list(tensors, "cat")
    shapes = [t.data.shape for t in ts]
    skip = [s == (0,) for s in shapes] if (0,) in shapes else None
    if skip is not None and all(skip):
        skip = None
    kept = ts if skip is None else [t for t, s in zip(ts, skip) if not s]
    nd = kept[0].data.ndim
    if nd == 0:
        raise _ShapeError("cat: tensors: zero-dimensional tensors cannot be concatenated")
    d = _dim(dim, nd, "cat")
    ref = kept[0].data.shape
    rest = ref[:d] + ref[d + 1 :]
    pre = (slice(None),) * d
    keys = []  # each kept input's slice of the output
    lo = 0
    for t in kept:
        s = t.data.shape
        if len(s) != nd or s[:d] + s[d + 1 :] != rest:
            _cat_shape_error(ts, skip or [False] * len(ts), nd, d)
        keys.append(pre + (slice(lo, lo + s[d]),))
        lo += s[d]
    xp = get_array_module(ts[0].data)
    arrays = _joined(ts, xp)
    if skip is not None:
        arrays = [a for a, s in zip(arrays, skip) if not s]
    out = xp.concatenate(arrays, axis=d)

    def _backward(g: Any) -> None:
        for t, key in zip(kept, keys):
            if t.requires_grad:
                t._accumulate(g[key])
        if skip is not None:
            for t, s in zip(ts, skip):
                if s and t.requires_grad:  # a skipped empty tensor: its (empty) gradient
                    t._accumulate(xp.zeros((0,), dtype=g.dtype))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        res: list[Any] = []
        k = 0
        for i, t in enumerate(ts):
            if skip is not None and skip[i]:
                res.append(Tensor(xp.zeros((0,), dtype=g.data.dtype)))
                continue
            res.append(g[keys[k]] if t.requires_grad else None)
            k += 1
        return tuple(res)

    return Tensor._make(out, tuple(ts), _backward, "cat", saves=(), dbackward=_dbackward)


concat = cat
concatenate = cat


def stack(tensors: Any, dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dim, as torch.stack: one concatenate of the
    inputs each seen with the new dim (xp.stack's work without its per-input checks)."""
    ts = _tensor_list(tensors, "stack")
    ref = ts[0].data.shape
    for i, t in enumerate(ts):
        if t.data.shape != ref:
            raise _ShapeError(
                f"stack: tensors: expected each tensor to be equal size, got {ref} for tensor "
                f"0 and {t.shape} for tensor {i}"
            )
    d = _dim(dim, len(ref) + 1, "stack")
    xp = get_array_module(ts[0].data)
    pre = (slice(None),) * d
    new_dim = pre + (None,)
    out = xp.concatenate([a[new_dim] for a in _joined(ts, xp)], axis=d)
    need = [t.requires_grad for t in ts]

    def _backward(g: Any) -> None:  # each input its slice of g, a view (as torch's unbind)
        for i, t in enumerate(ts):
            if need[i]:
                t._accumulate(g[pre + (i,)])

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return tuple([g[pre + (i,)] if need[i] else None for i in range(len(ts))])

    return Tensor._make(out, tuple(ts), _backward, "stack", saves=(), dbackward=_dbackward)


# ---- double backward (create_graph=True): the helpers the ops' dbackwards share ------------
# Module-level where an op's differentiable backward needs nothing of the op (no closure made
# per call); _engine.run_create_graph fits each result to its parent's shape and dtype.


def _d_add(g: Tensor) -> tuple[Any, ...]:
    return g, g


def _d_sub(g: Tensor) -> tuple[Any, ...]:
    return g, -g


def _d_neg(g: Tensor) -> tuple[Any, ...]:
    return (-g,)


def _d_same(g: Tensor) -> tuple[Any, ...]:  # clone, astype, expand (summed back by the engine)
    return (g,)


def _d_transpose(g: Tensor) -> tuple[Any, ...]:
    return (g.T,)


def _zeros_as(g: Tensor) -> Tensor:
    """A zero gradient without a graph (torch's zeros_like(grad) for the step functions)."""
    return Tensor(get_array_module(g.data).zeros_like(g.data))


def _d_zero(g: Tensor) -> tuple[Any, ...]:
    return (_zeros_as(g),)


def _d_none(g: Tensor) -> tuple[Any, ...]:  # torch's undefined gradient (norm with p = 0)
    return (None,)


def _index_add_node(x: Tensor, d: int, idx: Any, src: Tensor) -> Tensor:
    """x.index_add(d, idx, src) (idx 1-D, in range) by dg.ops.index_add's kernel: np.add.at's
    sums, without the scatter's broadcast index. Backward: g to x, g's slices at idx to src."""
    flat = np.ascontiguousarray(idx, dtype=np.int64)
    out = ops.index_add(x.data, d, flat, src.data)

    def _backward(g: Any) -> None:
        if x.requires_grad:
            x._accumulate(g)
        if src.requires_grad:
            src._accumulate(np.take(g, flat, axis=d))

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        return g, g.index_select(d, Tensor(flat))

    return Tensor._make(out, (x, src), _backward, "index_add", saves=(), dbackward=_dbackward)


def _one_array_key(idx: Any, ndim: int) -> tuple[int, Any]:
    """(d, arr) when the index key idx reads one integer numpy array along dim d, every other
    dim whole: arr itself (d = 0) or a tuple of full slices around arr (x[:, arr],
    index_select); (0, None) otherwise."""
    key = idx if isinstance(idx, tuple) else (idx,)
    at = [k for k, i in enumerate(key) if type(i) is np.ndarray]
    if len(at) != 1 or len(key) > ndim or not ndim:
        return 0, None
    arr = key[at[0]]
    if arr.dtype.kind not in "iu" or any(
        not (type(i) is slice and i == slice(None)) for k, i in enumerate(key) if k != at[0]
    ):
        return 0, None
    return at[0], arr


def _add_at(gx: Any, idx: Any, g: Any) -> None:
    """gx[idx] += g with repeated indices accumulating (np.add.at's sums): one integer array
    indexing one dim, the others whole (x[idx], x[:, idx], index_select: the common advanced
    indices) takes dg.ops.index_add's kernel; other keys np.add.at (cupyx.scatter_add on a
    GPU)."""
    xp = get_array_module(gx)
    d, arr = _one_array_key(idx, gx.ndim)
    if xp is np and arr is not None and gx.dtype in (np.float32, np.float64):
        n = gx.shape[d]
        flat = arr.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            flat = flat % n  # numpy's negative indices (the forward already checked the range)
        sh = gx.shape
        ops.index_add_(gx, d, flat, g.reshape(sh[:d] + (flat.size,) + sh[d + 1 :]))
    elif xp is np:
        np.add.at(gx, idx, g)
    else:
        import cupyx

        cupyx.scatter_add(gx, idx, g)


def _index_backward(g: Tensor, idx: Any, like: Any) -> Tensor:
    """The gradient of x[idx] as a differentiable op: zeros of x's shape (like) with g added at
    idx; its own backward reads gg[idx] (so it is linear in g, with a double backward)."""
    xp = get_array_module(g.data)
    gx = xp.zeros(like.shape, dtype=g.data.dtype)
    if _is_basic_index(idx):
        gx[idx] = g.data
    else:
        _add_at(gx, idx, g.data)

    def _backward(gg: Any) -> None:
        g._accumulate(gg[idx])

    def _dbackward(gg: Tensor) -> tuple[Any, ...]:
        return (gg[idx],)

    return Tensor._make(gx, (g,), _backward, "index_backward", saves=(), dbackward=_dbackward)


def masked_grad(g: Tensor, x: Tensor, scale: Any) -> Tensor:
    """g * scale as a node of (g, x): the gradient of a piecewise-linear op of x (relu,
    leaky_relu, hardtanh, threshold, the shrinks), scale being its slope per element (a bool
    mask or a float array, a constant: no graph). As torch's threshold_backward & co, the
    result depends on x (requires_grad when x does, with the derivative zeros there -- never
    NaN, even where x is inf), so a parameter reached only through the mask gets a zero
    gradient, not None; its gradient in g is gg * scale, and its double backward the same
    node again (every order). 0 where scale is 0, even where g is inf or NaN."""
    xp = get_array_module(g.data)
    gd = g.data
    if scale.dtype.kind == "b":
        out = xp.where(scale, gd, gd.dtype.type(0))
    else:
        scale = scale.astype(gd.dtype, copy=False)
        out = xp.where(scale == 0, gd.dtype.type(0), gd * scale)
    if out.shape != gd.shape:  # scale broadcast g: never here (x's shape is g's)
        raise ValueError(f"masked_grad: mask shape {scale.shape} vs gradient {gd.shape}")

    def _backward(gg: Any) -> None:
        if g.requires_grad:
            if scale.dtype.kind == "b":
                g._accumulate(xp.where(scale, gg, gg.dtype.type(0)))
            else:
                g._accumulate(xp.where(scale == 0, gg.dtype.type(0), gg * scale))
        if x.requires_grad:
            x._accumulate(xp.zeros(x.data.shape, x.data.dtype))

    db = functools.partial(_d_masked, x, scale)
    return Tensor._make(out, (g, x), _backward, "masked_grad", saves=(), dbackward=db)


def _d_masked(x: Tensor, scale: Any, gg: Tensor) -> tuple[Any, ...]:
    return masked_grad(gg, x, scale), Tensor(get_array_module(x.data).zeros_like(x.data))


_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_K = 0.7978845608028654  # sqrt(2 / pi)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _gelu_tanh_grad(g: Tensor, x: Tensor) -> Tensor:
    t = (_GELU_K * (x + 0.044715 * x * x * x)).tanh()
    dinner = _GELU_K * (1 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)


def _below0(x: Tensor) -> Tensor:
    """x where x < 0, else the constant 0 (no gradient to x there)."""
    return where(x.data < 0, x, 0.0)


def _mish_grad(g: Tensor, x: Tensor) -> Tensor:
    """g * mish'(x) as Tensor ops, torch's infinitely_differentiable_mish_backward
    (tanh(softplus(x)) + x sigmoid(x) sech^2(softplus(x))), with the kernel's limits at
    +-inf (1 and 0; torch: NaN)."""
    inf = get_array_module(x.data).isinf(x.data)
    xf = where(inf, 0.0, x)
    t = activate(xf, "softplus").tanh()
    d = t + xf * xf.sigmoid() * (1 - t * t)
    return g * where(inf, (x.data > 0).astype(x.data.dtype), d)


def _gelu_grad(g: Tensor, x: Tensor) -> Tensor:
    cdf = 0.5 * (1 + (x * _SQRT1_2).erf())
    return g * (cdf + x * ((-0.5 * x * x).exp() * _INV_SQRT_2PI))


# activate()'s double backward: act -> (g, x, param) -> d act(x) / dx * g, as Tensor ops
_ACT_GRAD: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    "identity": lambda g, x, p: g,
    # (NaN passes the gradient of relu / relu6, as torch's threshold_backward: ~(x <= 0))
    "relu": lambda g, x, p: masked_grad(g, x, ~(x.data <= 0)),
    "relu6": lambda g, x, p: masked_grad(g, x, ~((x.data <= 0) | (x.data >= 6))),
    "leaky_relu": lambda g, x, p: masked_grad(
        g, x, get_array_module(x.data).where(x.data > 0, 1.0, p)
    ),
    "sigmoid": lambda g, x, p: g * x.sigmoid() * (1 - x.sigmoid()),
    "tanh": lambda g, x, p: g * (1 - x.tanh() * x.tanh()),
    "silu": lambda g, x, p: g * (x.sigmoid() * (1 + x * (1 - x.sigmoid()))),
    "softplus": lambda g, x, p: g * x.sigmoid(),
    # torch's elu_backward: the exp branch where x <= 0 (NaN takes the linear one), and its
    # x-derivative only where x < 0 (elu_double_backward's mask): 0 at the kink, none at inf
    "elu": lambda g, x, p: where(x.data <= 0, g * p * _below0(x).exp(), g),
    "celu": lambda g, x, p: where(x.data <= 0, g * (_below0(x) / p).exp(), g),
    "selu": lambda g, x, p: where(
        x.data <= 0, g * _SELU_SCALE * _SELU_ALPHA * _below0(x).exp(), g * _SELU_SCALE
    ),
    "mish": lambda g, x, p: _mish_grad(g, x),
    "gelu": lambda g, x, p: _gelu_grad(g, x),
    "gelu_tanh": lambda g, x, p: _gelu_tanh_grad(g, x),
    "logsigmoid": lambda g, x, p: g * (1 - x.sigmoid()),
    "softsign": lambda g, x, p: g / ((1 + x.abs()) * (1 + x.abs())),
    "hardswish": lambda g, x, p: where(  # torch's boundaries: 0 at -3, 1 at 3
        x.data <= -3, 0.0, where(x.data < 3, g * (x / 3 + 0.5), g)
    ),
}

# _math()'s double backward: op -> x -> d op(x) / dx, as Tensor ops
_MATH_D: dict[str, Callable[[Tensor], Any]] = {
    "log1p": lambda x: 1 / (1 + x),
    "expm1": lambda x: x.exp(),
    "tan": lambda x: 1 + x.tan() * x.tan(),
    "atan": lambda x: 1 / (1 + x * x),
    "sinh": lambda x: x.cosh(),
    "cosh": lambda x: x.sinh(),
    "erf": lambda x: (2 / math.sqrt(math.pi)) * (-x * x).exp(),
    "erfc": lambda x: (-2 / math.sqrt(math.pi)) * (-x * x).exp(),
    "erfinv": lambda x: (math.sqrt(math.pi) / 2) * x.erfinv().square().exp(),
    "log2": lambda x: 1 / (x * math.log(2)),
    "log10": lambda x: 1 / (x * math.log(10)),
    "exp2": lambda x: x.exp2() * _LN2,
    "asin": lambda x: 1 / (1 - x * x).sqrt(),
    "acos": lambda x: -1 / (1 - x * x).sqrt(),
    "asinh": lambda x: 1 / (x * x + 1).sqrt(),
    "frac": lambda x: 1.0,  # x - trunc(x): the gradient passes as is, as torch's
    # NaN outside [0, 1], as torch's logit_backward
    "logit": lambda x: where((x.data < 0) | (x.data > 1), math.nan, 1 / (x * (1 - x))),
}


def _d_binary_math(dd: Any, x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    with np.errstate(all="ignore"):
        return dd(x, y, g)


def _d_xlogy(x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    # torch's: xlogy(g, y) zeroed where x == 0 and y <= 0; g * x / y
    gx = where((x.data == 0) & (y.data <= 0), 0.0, g.xlogy(y)) if x.requires_grad else None
    return gx, (g * x / y if y.requires_grad else None)


def _d_atan2(x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    # torch's: g * y * r, g * -x * r, r = 1 / (x^2 + y^2) zeroed where inf (its own gradient
    # stays NaN there, as torch's second derivative at (0, 0))
    r = 1 / (x * x + y * y)
    r = where(get_array_module(r.data).isinf(r.data), 0.0, r)
    return g * y * r, g * -x * r


def _d_fmod(x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    # torch's: g, -g * div(x, y, rounding_mode="trunc"), a quotient whose own gradient is 0 (so
    # zeros, not NaN through x / y, where y == 0)
    return g, -g * x.div(y, rounding_mode="trunc")


def _d_logit_eps(x: Tensor, inside: Any, g: Tensor) -> tuple[Any, ...]:
    # g / (x (1 - x)) inside [eps, 1 - eps], 0 outside (x read as 1/2 there: no inf * 0)
    z = where(inside, x, 0.5)
    return (where(inside, g / (z * (1 - z)), 0.0),)
