"""The backward engine: topological order, gradient accumulation, hooks and capture.

Tensor.backward() and dg.autograd.grad() are thin callers of `run_backward`. The model (see
docs/ARCHITECTURE.md, "Gradients"):

- While a backward runs, an interior node collects the gradients its consumers send it in its
  `_g` slot (out of place: `_g + g` is a new array, so an array sent to two nodes is never
  written). A leaf's gradients go into a buffer of the running backward (per call, hence per
  thread), so a leaf shared by two threads' graphs never mixes their partial sums.
- Nodes run in reverse topological order, leaves included: when a node's turn comes every
  consumer has sent its part, so its gradient is complete. Then its hooks run (once, on the
  sum, as torch), a retained non-leaf stores it, and a leaf accumulates it into `.grad`.
- `.grad` is an array deltagrad owns. The first time, a leaf takes the gradient over by
  reference when the array is fresh: not a view, contiguous, writable, and not handed out
  before in this backward (an `add` sends one array to both of its inputs) nor shown to user
  code (a hook, a Function.backward's return value); otherwise it takes a copy. Once `.grad`
  exists, backward adds into it in place (zero_grad(set_to_none=False) keeps the buffers).
- All state is per thread: grad mode (`_state.grad_enabled`), the running backward's buffers
  and handed-out set. Two threads may run backward at once over graphs that share leaves (the
  in-place add into a shared `.grad` is serialized by a lock); one graph is backpropagated by
  one thread at a time.

This module imports nothing from the package at import time (tensor.py imports it).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable

__all__ = ["RemovableHandle", "run_backward"]


class _ThreadState(threading.local):
    """Autograd state of one thread. The class attributes are every new thread's defaults."""

    grad_enabled = True  # recording on: a new thread records, whatever another one does
    task: _Task | None = None  # the backward running in this thread (None: none)

    def __init__(self) -> None:
        self.mode_stack: list[bool] = []  # the modes no_grad / enable_grad blocks restore


_state = _ThreadState()
_grad_lock = threading.Lock()  # serializes the in-place add into a .grad two threads share
_hook_ids = itertools.count()


class _Task:
    """One backward call: the leaves' pending gradients and the arrays it may not take over."""

    __slots__ = ("leaf_grads", "handed")

    def __init__(self) -> None:
        self.leaf_grads: dict[int, tuple[Any, Any]] = {}  # id(leaf) -> (leaf, summed gradient)
        self.handed: set[int] = set()  # ids of arrays owned elsewhere / already handed out


class _Hooks:
    """A tensor's hooks: pre (fn(grad) -> grad | None), post (fn(tensor)), retain_grad flag."""

    __slots__ = ("pre", "post", "retain")

    def __init__(self) -> None:
        self.pre: dict[int, Callable[[Any], Any]] = {}
        self.post: dict[int, Callable[[Any], Any]] = {}
        self.retain = False


class RemovableHandle:
    """What register_hook returns: handle.remove() unregisters the hook (as torch's)."""

    __slots__ = ("_table", "_key")

    def __init__(self, table: dict[int, Any], key: int) -> None:
        self._table = table
        self._key = key

    def remove(self) -> None:
        self._table.pop(self._key, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def hooks_of(t: Any) -> _Hooks:
    h = t._hooks
    if h is None:
        h = t._hooks = _Hooks()
    return h


def add_hook(t: Any, fn: Callable[[Any], Any], post: bool) -> RemovableHandle:
    h = hooks_of(t)
    table = h.post if post else h.pre
    key = next(_hook_ids)
    table[key] = fn
    return RemovableHandle(table, key)


# ---- ownership ----------------------------------------------------------------------------


def _own(g: Any, handed: set[int]) -> Any:
    """g as an array a .grad may keep: g itself when nobody else holds it, else a copy."""
    base = g.base
    if (
        id(g) in handed
        or (base is not None and isinstance(base, type(g)))  # a view of another array
        or not g.flags.c_contiguous
        or not getattr(g.flags, "writeable", True)
    ):
        g = g.copy()
    handed.add(id(g))
    return g


def disown(g: Any) -> None:
    """Mark g as held by user code (a Function.backward's result): never taken by reference."""
    task = _state.task
    if task is not None:
        task.handed.add(id(g))


def _add_into(t: Any, g: Any, handed: set[int], what: str) -> None:
    """t.grad += g: in place into an existing buffer, else g (owned) becomes t.grad."""
    grad = t.grad
    if grad is None:
        t.grad = _own(g, handed)
        return
    if isinstance(grad, type(g)) and grad.shape == g.shape and grad.dtype == g.dtype:
        if getattr(grad.flags, "writeable", True):
            grad += g
        else:
            t.grad = grad + g  # a read-only array the user assigned: replaced, not written
        return
    raise RuntimeError(
        f"backward: the {what}'s existing .grad is a {type(grad).__name__} of shape "
        f"{getattr(grad, 'shape', None)} and dtype {getattr(grad, 'dtype', None)}; expected "
        f"an array of the tensor's shape {tuple(g.shape)} and dtype {g.dtype} (set .grad to "
        "None or zero it with zero_grad() instead of assigning another array)"
    )


def add_leaf_grad(t: Any, g: Any) -> None:
    """A leaf receives g (Tensor._accumulate): kept in the running backward's buffer until the
    leaf's turn comes. Outside a backward (a direct call) it goes straight into t.grad."""
    task = _state.task
    if task is None:
        with _grad_lock:
            _add_into(t, g, set(), "leaf")
        return
    buf = task.leaf_grads
    k = id(t)
    prev = buf.get(k)
    buf[k] = (t, g) if prev is None else (t, prev[1] + g)


# ---- hooks ---------------------------------------------------------------------------------


# deltagrad.tensor.Tensor, set by tensor.py once the class exists (this module imports
# nothing from the package: tensor.py imports it, and the package has no import cycle)
Tensor: Any = None


def _wrap(g: Any) -> Any:
    """g as a Tensor without a graph (what a hook receives, as in torch)."""
    return Tensor._make(g, (), None, "")


def _run_pre_hooks(t: Any, g: Any, hooks: _Hooks, handed: set[int]) -> Any:
    """Run t's hooks on its complete gradient g; a hook may return a replacement."""
    for fn in list(hooks.pre.values()):
        handed.add(id(g))  # shown to user code, which may keep it: never taken by reference
        r = fn(_wrap(g))
        if r is None:
            continue
        if isinstance(r, Tensor):
            r = r.data
        if not hasattr(r, "shape") or not hasattr(r, "dtype"):
            raise TypeError(
                f"register_hook: the hook returned a {type(r).__name__}; expected a Tensor, an "
                "array or None"
            )
        if tuple(r.shape) != tuple(g.shape):
            raise ValueError(
                f"register_hook: the hook returned a gradient of shape {tuple(r.shape)}; "
                f"expected the tensor's gradient shape {tuple(g.shape)}"
            )
        if type(r) is not type(g):
            raise RuntimeError(
                f"register_hook: the hook returned a {type(r).__name__}, the gradient is a "
                f"{type(g).__name__} (same device expected)"
            )
        g = r if r.dtype == g.dtype else r.astype(g.dtype)
    handed.add(id(g))
    return g


def _node_hooks(node: Any, g: Any, hooks: _Hooks, handed: set[int]) -> Any:
    """A non-leaf's turn: its hooks may replace g; a retained one adds g into its .grad."""
    if hooks.pre:
        g = _run_pre_hooks(node, g, hooks, handed)
    if hooks.retain:
        _add_into(node, g, handed, "retained non-leaf")
    return g


def _leaf_with_hooks(leaf: Any, g: Any, hooks: _Hooks, handed: set[int]) -> None:
    """A leaf's turn in backward(): hooks, accumulation into .grad, post-accumulate hooks."""
    if hooks.pre:
        g = _run_pre_hooks(leaf, g, hooks, handed)
    with _grad_lock:
        _add_into(leaf, g, handed, "leaf")
    if hooks.post:
        _run_post_hooks(leaf, hooks)


def _run_post_hooks(t: Any, hooks: _Hooks) -> None:
    for fn in list(hooks.post.values()):
        if fn(t) is not None:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: the hook returned a value; post "
                "accumulate grad hooks must return None (they read or change tensor.grad)"
            )


# ---- the engine ----------------------------------------------------------------------------


def _topo(roots: list[Any]) -> list[Any]:
    """Every node reachable from roots (leaves included), each after all nodes it depends on,
    by an iterative depth-first search: deep graphs must not hit Python's recursion limit."""
    topo: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            topo.append(node)
            continue
        k = id(node)
        if k in seen:
            continue
        seen.add(k)
        if node._backward is None:  # a leaf: no inputs of its own
            topo.append(node)
            continue
        stack.append((node, True))
        for p in node._prev:
            if id(p) not in seen:
                if p._backward is None:  # a leaf goes before its consumers at once
                    seen.add(id(p))
                    topo.append(p)
                else:
                    stack.append((p, False))
    return topo


def _free(node: Any, graph_freed: Callable[[Any], None]) -> None:
    node._backward = graph_freed
    node._prev = ()
    node._saved = ()


def run_backward(
    roots: list[Any],
    grads: list[Any],
    retain_graph: bool,
    graph_freed: Callable[[Any], None],
    inputs: list[Any] | None = None,
    accumulate: bool = True,
) -> dict[int, Any] | None:
    """Backpropagate grads (fresh arrays, one per root) from roots.

    inputs None: every leaf that requires grad accumulates into .grad (backward()).
    inputs given, accumulate False: nothing's .grad changes except retained non-leaves; the
    complete gradient of each input is returned in a dict id(input) -> array (or missing when
    no path reaches it): autograd.grad. accumulate True: only the inputs accumulate into
    .grad (backward(inputs=...)). With inputs, only the nodes on a path to an input run.
    """
    topo = _topo(roots)
    run_ids: set[int] | None = None
    want: set[int] | None = None
    if inputs is not None:
        want = {id(t) for t in inputs}
        needed: set[int] = set()
        run_ids = set()
        for node in topo:  # a node is needed when an input is at or upstream of it
            for p in node._prev:
                if id(p) in needed:
                    needed.add(id(node))
                    run_ids.add(id(node))
                    break
            if id(node) in want:
                needed.add(id(node))
    captured: dict[int, Any] = {}
    task = _Task()
    handed = task.handed
    outer = _state.task  # a backward started from a hook keeps the outer one's state intact
    _state.task = task
    finished = False
    try:
        for r, g in zip(roots, grads):
            r._accumulate(g)
        leaf_grads = task.leaf_grads
        if want is None:  # backward(): the common case, kept lean
            for node in reversed(topo):  # every consumer of a node runs before the node
                if node._backward is None:  # a leaf: its gradient is complete now
                    entry = leaf_grads.pop(id(node), None)
                    if entry is not None and node.requires_grad:
                        hooks = node._hooks
                        if hooks is None:
                            with _grad_lock:
                                if node.grad is None:  # the first time: take g over
                                    node.grad = _own(entry[1], handed)
                                else:
                                    _add_into(node, entry[1], handed, "leaf")
                        else:
                            _leaf_with_hooks(node, entry[1], hooks, handed)
                    continue
                g = node._g
                if g is not None:
                    node._g = None
                    hooks = node._hooks
                    if hooks is not None:
                        g = _node_hooks(node, g, hooks, handed)
                    node._check_saved()
                    node._backward(g)
                if not retain_graph:
                    node._backward = graph_freed
                    node._prev = ()
                    node._saved = ()
            finished = True
            return None
        for node in reversed(topo):
            if node._backward is None:  # a leaf: its gradient is complete now
                entry = leaf_grads.pop(id(node), None)
                if entry is None or not node.requires_grad:
                    continue
                if id(node) not in want:
                    continue
                g = entry[1]
                hooks = node._hooks
                if hooks is not None and hooks.pre:
                    g = _run_pre_hooks(node, g, hooks, handed)
                if not accumulate:
                    captured[id(node)] = g
                    continue
                with _grad_lock:
                    _add_into(node, g, handed, "leaf")
                if hooks is not None and hooks.post:
                    _run_post_hooks(node, hooks)
                continue
            g = node._g
            node._g = None
            if g is not None and node._backward is graph_freed:
                graph_freed(g)  # raises: its graph (and whether it leads to an input) is gone
            if id(node) not in run_ids and id(node) not in want:  # type: ignore[operator]
                continue  # not on a path to an input: left as it is (not freed)
            if g is not None:
                hooks = node._hooks
                if hooks is not None:
                    g = _node_hooks(node, g, hooks, handed)
                if id(node) in want:
                    if accumulate:
                        if hooks is None or not hooks.retain:
                            _add_into(node, g, handed, "input")
                    else:
                        captured[id(node)] = g
                if id(node) in run_ids:  # type: ignore[operator]
                    node._check_saved()
                    node._backward(g)
            if not retain_graph:
                _free(node, graph_freed)
        finished = True
    finally:
        _state.task = outer
        if not finished:  # an error mid-way: leave no partial sums for a later backward
            for node in topo:
                node._g = None
    if accumulate:
        return None
    for k, g in captured.items():  # returned to the caller: each one its own array
        captured[k] = _own(g, handed)
    return captured
