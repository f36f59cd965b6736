"""The backward engine: topological order, gradient accumulation, hooks and capture.

Tensor.backward() calls `backward` (the hot path of training); dg.autograd.grad() and
backward(inputs=...) call `run_backward` (only the nodes on a path to an input run). The model
(see docs/ARCHITECTURE.md, "Gradients"):

- While a backward runs, an interior node collects the gradients its consumers send it in its
  `_g` slot (out of place: `_g + g` is a new array, so an array sent to two nodes is never
  written). A leaf's gradients go into a buffer of the running backward (per call, hence per
  thread), so a leaf shared by two threads' graphs never mixes their partial sums.
- Interior nodes run in reverse topological order: when a node's turn comes every consumer
  has sent its part, so its gradient is complete; its hooks run (once, on the sum, as torch),
  a retained non-leaf stores it, then its backward runs. Once the graph was walked every
  leaf's gradient is complete too: the leaves (in the order they first received a gradient,
  the output side first) run their hooks, accumulate into `.grad`, then run their
  post-accumulate hooks.
- `.grad` is an array deltagrad owns. The first time, a leaf takes the gradient over by
  reference when the array is fresh: not a view (or a contiguous view of a fresh array that
  no other leaf's kept view overlaps: stack's and cat's pieces, as torch), contiguous,
  writable, and not handed out before in this backward (an `add` sends one array to both of
  its inputs) nor shown to user code (a hook, a Function.backward's return value); otherwise
  it takes a copy (so the caller's backward(gradient) array, which comes uncopied as a
  read-only view, is never kept). Once `.grad` exists, backward adds into it in place
  (zero_grad(set_to_none=False) keeps the buffers); a kernel that can accumulate itself
  (F.linear's dW: a GEMM with beta = 1) writes into it directly during the walk instead
  (kept_grad: leaves without hooks, in backward() only).
- Pieces (split, chunk, unbind, x[i] in a loop) send their gradients with
  Tensor._accumulate_at: a node or a leaf adds them into one zero array it allocated in this
  backward (its _g_own, while nobody else was shown it), not a full-size array per piece.
- A leaf with post-accumulate hooks (DistributedDataParallel's gradient-ready hooks) is
  finished as soon as its gradient is complete, right after the last node sending it one ran
  (torch's AccumulateGrad), not after the whole graph; queue_callback(fn) runs fn once the
  running backward has finished (torch's queue_callback), before backward() returns.
- All state is per thread: grad mode (`_state.grad_enabled`), the running backward's buffers
  and handed-out set. Two threads may run backward at once over graphs that share leaves (the
  in-place add into a shared `.grad` is serialized by a lock); one graph is backpropagated by
  one thread at a time.

A 0-d gradient is a 0-d array, never a numpy scalar (numpy's arithmetic on 0-d arrays gives
scalars, which `+=` would rebind instead of writing into): `_array` turns one back wherever a
gradient enters from outside an op (a hook's return value, an assigned .grad, a direct sum).

Anomaly mode (dg.autograd.detect_anomaly / set_detect_anomaly, see "anomaly mode" below):
with NaN checking on, each node's gradients are checked for NaN right after its backward ran;
while the mode is on, the nodes created record their forward's stack, shown when their
backward fails. Off, it costs one local flag test per node.

This module imports nothing from the package at import time (tensor.py imports it).
"""

from __future__ import annotations

import itertools
import os
import threading
import traceback
import warnings
import weakref
from typing import Any, Callable

import numpy as np

__all__ = [
    "RemovableHandle",
    "backward",
    "kept_grad",
    "node_metadata",
    "queue_callback",
    "run_backward",
    "run_create_graph",
    "set_anomaly",
]


class _ThreadState(threading.local):
    """Autograd state of one thread. The class attributes are every new thread's defaults."""

    grad_enabled = True  # recording on: a new thread records, whatever another one does
    # the backward running in this thread: (leaf_grads, handed), or None outside one.
    # leaf_grads: id(leaf) -> (leaf, its summed gradient so far); handed: ids of the arrays
    # this backward gave to a .grad or showed to user code (never taken over by reference)
    task: tuple[dict[int, tuple[Any, Any]], set[int]] | None = None

    # the callbacks queued (queue_callback) for the end of the running backward, or None
    callbacks: list[Callable[[], Any]] | None = None

    # True while a plain backward() runs in this thread (not dg.autograd.grad nor
    # backward(inputs=...)): a kernel may then accumulate into a leaf's kept .grad (kept_grad)
    direct = False

    def __init__(self) -> None:
        self.mode_stack: list[bool] = []  # the modes no_grad / enable_grad blocks restore


_state = _ThreadState()
_grad_lock = threading.Lock()  # serializes the in-place add into a .grad two threads share
_hook_ids = itertools.count()


class _Hooks:
    """A tensor's hooks: pre (fn(grad) -> grad | None), post (fn(tensor)), retain_grad flag,
    node_post (its grad_fn's post-hooks, torch's Node.register_hook: fn(grad_inputs,
    grad_outputs) -> grad_inputs | None; a leaf's: its AccumulateGrad node's)."""

    __slots__ = ("pre", "post", "retain", "node_post")

    def __init__(self) -> None:
        self.pre: dict[int, Callable[[Any], Any]] = {}
        self.post: dict[int, Callable[[Any], Any]] = {}
        self.retain = False
        self.node_post: dict[int, Callable[[Any, Any], Any]] = {}


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


# set once a post-accumulate hook was registered: until then backward() skips the scan for
# leaves to finish early (_early_leaves)
_post_hooks_seen = False


def add_node_post_hook(t: Any, fn: Callable[[Any, Any], Any]) -> RemovableHandle:
    """Register fn as a post-hook of t's graph node (t.grad_fn.register_hook)."""
    table = hooks_of(t).node_post
    key = next(_hook_ids)
    table[key] = fn
    return RemovableHandle(table, key)


def add_hook(t: Any, fn: Callable[[Any], Any], post: bool) -> RemovableHandle:
    global _post_hooks_seen
    if post:
        _post_hooks_seen = True
    h = hooks_of(t)
    table = h.post if post else h.pre
    key = next(_hook_ids)
    table[key] = fn
    return RemovableHandle(table, key)


# ---- ownership ----------------------------------------------------------------------------


def _array(g: Any) -> Any:
    """g, or a 0-d array of g when it is a numpy scalar (np.float32 ...)."""
    return np.asarray(g) if isinstance(g, np.generic) else g


def _own(g: Any, handed: set[int]) -> Any:
    """g as an array a .grad may keep: g itself when nobody else holds it, else a copy."""
    base = g.base
    flags = g.flags
    if (
        id(g) in handed
        or (base is not None and isinstance(base, type(g)))  # a view of another array
        or not flags.c_contiguous
        or not getattr(flags, "writeable", True)
    ):
        g = g.copy()
    handed.add(id(g))
    return g


def _take(g: Any, handed: set[int], claims: dict[int, list[tuple[int, int]]]) -> Any:
    """g as a leaf's first .grad (_finish_leaves): g itself when nobody else holds it (_own's
    rule), else a copy. A C-contiguous writable view of a fresh numpy array is kept by
    reference too, as torch's AccumulateGrad keeps the views that stack's, cat's or unbind's
    backward hands its inputs (1 MiB a piece not copied): when no view of that array kept in
    this call overlaps it (claims: id(array) -> the byte spans kept) and the array itself was
    not handed out. The array is marked handed then, so that nothing takes it whole."""
    base = g.base
    if base is None or type(g) is not np.ndarray:
        return _own(g, handed)
    flags = g.flags
    k = id(base)
    spans = claims.get(k)
    if (
        type(base) is not np.ndarray
        or base.base is not None
        or id(g) in handed
        or (spans is None and k in handed)
        or -k in handed  # shown to user code (_show)
        or not flags.c_contiguous
        or not flags.writeable
    ):
        return _own(g, handed)
    lo = g.__array_interface__["data"][0]
    hi = lo + g.nbytes
    if spans is None:
        spans = claims[k] = []
        handed.add(k)
    elif any(lo < e and s < hi for s, e in spans):
        return _own(g, handed)
    spans.append((lo, hi))
    handed.add(id(g))
    return g


def _show(g: Any, handed: set[int]) -> None:
    """Mark g as shown to user code (a hook, a Function.backward's result), which may keep it:
    neither g nor any view of the array g is or views is taken by reference afterwards. That
    array is recorded as -id(array), apart from _take's own claims (id(array)): a hook that
    keeps a view W[1:3] of its own W must not find a stack backward's pieces of it, views of
    W, kept as .grad (round 45's review: zero_grad(set_to_none=False) then zeroed the user's
    W)."""
    handed.add(id(g))
    base = getattr(g, "base", None)
    handed.add(-id(g if base is None else base))


def disown(g: Any) -> None:
    """Mark g as held by user code (a Function.backward's result): never taken by reference."""
    task = _state.task
    if task is not None:
        _show(g, task[1])


def grad_array(t: Any) -> Any:
    """t.grad as the array it holds (None if none). A Tensor assigned to .grad (torch's habit:
    `p.grad = torch.zeros_like(p)`) is replaced by its array, shared as torch shares the
    assigned tensor: every reader of .grad (backward, the optimizers, clipping, zero_grad)
    goes through here."""
    g = t.grad
    if isinstance(g, Tensor):
        g = t.grad = g.data
    if isinstance(g, np.generic):  # a numpy scalar assigned: a 0-d array, written in place
        g = t.grad = np.asarray(g)
    return g


def _add_into(t: Any, g: Any, handed: set[int], what: str) -> None:
    """t.grad += g: in place into an existing buffer, else g (owned) becomes t.grad."""
    g = _array(g)
    grad = grad_array(t)
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
    buf = task[0]
    k = id(t)
    prev = buf.get(k)
    buf[k] = (t, _array(g if prev is None else prev[1] + g))  # 0-d + 0-d: a numpy scalar


def kept_grad(t: Any) -> Any:
    """The .grad array of leaf t that a backward kernel may accumulate into directly (dW with
    beta = 1 into the buffer zero_grad(set_to_none=False) kept, instead of a temporary added
    afterwards), or None: then send the gradient with t._accumulate as usual.

    Only inside a plain backward() in this thread (dg.autograd.grad and backward(inputs=...)
    change no .grad, or only their inputs'), for a leaf that requires grad, has no hooks (a
    hook must see the gradient alone, and a post-accumulate hook runs once on the complete
    one) and whose .grad is a writable C-contiguous array. The caller checks its type, shape
    and dtype, and holds grad_lock while it writes (two threads' backwards may share the leaf).
    The sum is the same: .grad ends as old + every contribution, whichever way each arrived."""
    if not _state.direct or t._backward is not None or t._hooks is not None:
        return None
    g = grad_array(t)  # a Tensor assigned to .grad (or left by create_graph=True): its array
    if g is None or not t.requires_grad:
        return None
    flags = g.flags
    if not flags.c_contiguous or not getattr(flags, "writeable", True):
        return None
    return g


grad_lock = _grad_lock  # for the callers of kept_grad


# ---- hooks ---------------------------------------------------------------------------------


# deltagrad.tensor.Tensor, set by tensor.py once the class exists (this module imports
# nothing from the package: tensor.py imports it, and the package has no import cycle)
Tensor: Any = None


def _wrap(g: Any) -> Any:
    """g as a Tensor without a graph (what a hook receives, as in torch)."""
    return Tensor._make(g, (), None, "")


def _run_pre_hooks(t: Any, g: Any, hooks: _Hooks, handed: set[int]) -> Any:
    """Run t's hooks on its complete gradient g; a hook may return a replacement. A read-only
    g (the caller's backward(gradient) array, or a view of it; sum's broadcast gradient) is
    shown as a copy, which a hook may change in place as any gradient it sees."""
    if not getattr(g.flags, "writeable", True):
        g = g.copy()
    for fn in list(hooks.pre.values()):
        _show(g, handed)  # shown to user code, which may keep it: never taken by reference
        r = fn(_wrap(g))
        if r is None:
            continue
        if isinstance(r, Tensor):
            r = r.data
        r = _array(r)  # a numpy scalar returned for a 0-d gradient: a 0-d array
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
    _show(g, handed)
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
    _grad_lock.acquire()
    try:
        _add_into(leaf, g, handed, "leaf")
    finally:
        _grad_lock.release()
    if hooks.post:
        _run_post_hooks(leaf, hooks)
    if hooks.node_post:
        _show(g, handed)
        run_accumulate_hooks(leaf, _wrap(g), hooks)


def run_accumulate_hooks(leaf: Any, g: Any, hooks: _Hooks) -> None:
    """The post-hooks of a leaf's AccumulateGrad node, after .grad was accumulated: as torch's,
    fn((), (grad,)); they have no gradient to replace."""
    for fn in list(hooks.node_post.values()):
        r = fn((), (g,))
        if r is not None:
            _check_hook_result(fn, r, 0)


def _check_hook_result(fn: Any, r: Any, n: int) -> None:
    """A node post-hook's return value: a tuple of n gradients (torch's errors)."""
    if not isinstance(r, (tuple, list)):
        raise TypeError(f"expected tuple, but hook returned '{type(r).__name__}'")
    if len(r) != n:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise RuntimeError(
            f"hook '{name}' has returned an incorrect number of values (got {len(r)}, but "
            f"expected {n})"
        )


def _post_hook_grads(node: Any, gi: list[Any], go: Any, hooks: _Hooks) -> list[Any]:
    """Run node's post-hooks on grad_inputs gi (one Tensor or None per input of the op) and
    grad_outputs go (a 1-tuple): the grad_inputs they leave (Tensors or None)."""
    for fn in list(hooks.node_post.values()):
        r = fn(tuple(gi), go)
        if r is None:
            continue
        _check_hook_result(fn, r, len(gi))
        new = []
        for i, (old, v) in enumerate(zip(gi, r)):
            if v is not None:
                if old is None:
                    raise RuntimeError("can't replace a None gradient with a non-None value")
                if not isinstance(v, Tensor):
                    v = _array(v)
                    if not hasattr(v, "shape") or not hasattr(v, "dtype"):
                        raise TypeError(
                            f"grad_fn.register_hook: the hook returned a {type(v).__name__} "
                            f"at index {i}; expected a Tensor, an array or None"
                        )
                    v = Tensor._make(v, (), None, "")
                if tuple(v.shape) != tuple(old.shape):
                    raise RuntimeError(
                        f"hook '{getattr(fn, '__name__', type(fn).__name__)}' returned an "
                        f"invalid gradient at index {i} - got {list(v.shape)} but expected "
                        f"shape compatible with {list(old.shape)}"
                    )
                if type(v.data) is not type(old.data):
                    raise RuntimeError(
                        f"grad_fn.register_hook: the hook returned a gradient on another "
                        f"device at index {i}"
                    )
                if v.data.dtype != old.data.dtype:
                    v = v.astype(old.data.dtype)
            new.append(v)
        gi = new
    return gi


def _slots(node: Any) -> list[int]:
    """For each input of node's op (torch's grad_inputs), the index of its graph edge in
    node._prev, or -1 for an input that needed no gradient."""
    mask = node._grad_mask
    if mask is None:
        return list(range(len(node._prev)))
    it = iter(range(len(node._prev)))
    return [next(it) if m else -1 for m in mask]


def _run_node(
    node: Any, g: Any, hooks: _Hooks | None, handed: set[int], needed: set[int] | None = None
) -> None:
    """node._backward(g); with post-hooks, the gradients it sends its inputs are caught
    apart from what they hold already, shown to the hooks (which may replace them), then
    sent on. needed: the ids of the inputs on a path to a wanted tensor (grad(), backward(
    inputs=...)); the others show as None, as torch's (which does not compute them)."""
    if hooks is None or not hooks.node_post:
        node._backward(g)
        return
    st = _state
    buf = st.task[0]  # type: ignore[index]
    prev = node._prev
    old: dict[int, Any] = {}
    for p in prev:  # set aside what the inputs hold: the node's part is then all they get
        k = id(p)
        if p._backward is None:
            e = buf.pop(k, None)
            old[k] = None if e is None else e[1]
        else:
            old[k] = p._g
            p._g = None
    direct = st.direct
    st.direct = False  # no kernel may accumulate into a .grad past the hooks
    try:
        node._backward(g)
    finally:
        st.direct = direct
    got: dict[int, Any] = {}
    for p in prev:
        k = id(p)
        if p._backward is None:
            e = buf.pop(k, None)
            got[k] = None if e is None else e[1]
        else:
            got[k] = p._g
            p._g = None
            if isinstance(got[k], list):
                raise NotImplementedError(
                    f"grad_fn.register_hook: the node '{node._op}' feeds a node that gathers "
                    "one gradient per output; its gradients cannot be shown to a post-hook"
                )
    gi: list[Any] = []
    for j in _slots(node):
        a = None if j < 0 else got[id(prev[j])]
        if a is not None and (needed is None or id(prev[j]) in needed):
            _show(a, handed)
            gi.append(_wrap(a))
        else:
            gi.append(None)
    _show(g, handed)
    gi = _post_hook_grads(node, gi, (_wrap(g),), hooks)
    for j, v in zip(_slots(node), gi):
        if j < 0:
            continue
        p = prev[j]
        k = id(p)
        if needed is not None and k not in needed:
            a = got[k]  # not wanted: passed on as computed (nothing reads it)
        else:
            a = None if v is None else _array(v.data)
        if a is not None:
            _show(a, handed)
        o = old[k]
        a = o if a is None else a if o is None else _array(o + a)
        if a is None:
            continue
        if p._backward is None:
            buf[k] = (p, a)
        else:
            p._g = a


def _run_post_hooks(t: Any, hooks: _Hooks) -> None:
    for fn in list(hooks.post.values()):
        if fn(t) is not None:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: the hook returned a value; post "
                "accumulate grad hooks must return None (they read or change tensor.grad)"
            )


# ---- the engine ----------------------------------------------------------------------------


def _topo(root: Any, more: list[Any] | None = None) -> list[Any]:
    """The interior nodes reachable from root (and more roots), each after every node it
    depends on, by an iterative depth-first search (deep graphs must not hit Python's
    recursion limit). Leaves are not listed: their gradients wait in the backward's buffer."""
    topo: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    if more:
        stack += [(r, False) for r in more]
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
    return topo


def graph_leaves(roots: list[Any]) -> list[Any]:
    """The leaves that require grad reachable from roots (a root that is such a leaf too),
    each once, in depth-first order from the first root: what backward() accumulates into."""
    leaves: list[Any] = []
    seen: set[int] = set()
    stack = list(reversed(roots))
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._backward is None:
            if t.requires_grad:
                leaves.append(t)
            continue
        stack.extend(reversed(t._prev))
    return leaves


def _clear(topo: list[Any]) -> None:
    """After an error mid-way: leave no partial sums on the nodes for a later backward."""
    for node in topo:
        node._g = None


def backward(root: Any, grad: Any, retain_graph: bool, graph_freed: Callable[[Any], None]) -> None:
    """root.backward(grad): every leaf that requires grad accumulates into its .grad. The hot
    path of training, kept lean: see run_backward for the general one."""
    topo = _topo(root)
    leaf_grads: dict[int, tuple[Any, Any]] = {}
    handed: set[int] = set()
    st = _state
    outer = st.task  # a backward started from a hook keeps the outer one's state intact
    outer_cbs = st.callbacks
    st.callbacks = cbs = []
    early = _early_leaves(topo) if _post_hooks_seen else None
    outer_direct = st.direct
    st.task = (leaf_grads, handed)
    nan = _nan_check  # anomaly mode's NaN check (every gradient through _accumulate then)
    st.direct = not nan
    node = None
    try:
        root._accumulate(grad)
        for node in reversed(topo):  # every consumer of a node runs before the node
            g = node._g
            if g is not None:
                node._g = None
                hooks = node._hooks
                if hooks is not None:
                    g = _node_hooks(node, g, hooks, handed)
                node._check_saved()
                _run_node(node, g, hooks, handed)
                if nan:
                    _check_nan(node, leaf_grads)
            if early is not None and id(node) in early:
                _finish_early(early.pop(id(node)), leaf_grads, handed)
            if not retain_graph:
                node._backward = graph_freed
                node._prev = ()
                node._saved = ()
                node._dbackward = None
    except BaseException:
        _clear(topo)
        st.callbacks = outer_cbs
        if anomaly_enabled and node is not None:
            _anomaly_report(node)
        raise
    finally:
        st.task = outer
        st.direct = outer_direct
    try:
        if leaf_grads:
            _finish_leaves(leaf_grads, handed)
        if cbs:
            _run_callbacks(cbs)
    finally:
        st.callbacks = outer_cbs


def _finish_leaves(leaf_grads: dict[int, tuple[Any, Any]], handed: set[int]) -> None:
    """Every leaf's gradient is complete once the graph was walked: accumulate each into its
    .grad, in the order the leaves first received a gradient (the output side first). A leaf
    with hooks runs them (once, on its summed gradient) and its post-accumulate hooks."""
    hooked = None
    claims: dict[int, list[tuple[int, int]]] = {}
    for leaf, g in leaf_grads.values():
        # a hooked leaf's gradient is shown to its hooks after the others are taken: marked
        # first, so that no other leaf keeps a view of it that a hook may keep too
        h = leaf._hooks
        if h is not None and (h.pre or h.node_post):
            _show(g, handed)
    _grad_lock.acquire()  # one acquisition for all leaves (cheaper than a `with` per leaf)
    try:
        for leaf, g in leaf_grads.values():
            if leaf._hooks is not None:
                if hooked is None:
                    hooked = []
                hooked.append((leaf, g))
            elif leaf.requires_grad:
                if leaf.grad is None:  # the first time: take g over when nobody else holds it
                    leaf.grad = _take(g, handed, claims)
                else:
                    _add_into(leaf, g, handed, "leaf")
    finally:
        _grad_lock.release()
    if hooked is not None:
        for leaf, g in hooked:
            if leaf.requires_grad:
                _leaf_with_hooks(leaf, g, leaf._hooks, handed)


def run_backward(
    roots: list[Any],
    grads: list[Any],
    retain_graph: bool,
    graph_freed: Callable[[Any], None],
    inputs: list[Any],
    accumulate: bool,
) -> dict[int, Any] | None:
    """Backpropagate grads (arrays, one per root: the caller's as a read-only view, see
    tensor._root_grad) from roots to inputs only: the nodes
    on a path to an input run, the others are left as they are.

    accumulate False (dg.autograd.grad): no .grad changes except retained non-leaves'; the
    complete gradient of each input is returned in a dict id(input) -> array (missing when
    no gradient reaches it). accumulate True (backward(inputs=...)): the inputs accumulate
    into their .grad (a non-leaf input as if retained).
    """
    topo = _topo(roots[0], roots[1:])
    want = {id(t) for t in inputs}
    needed = set(want)  # the inputs and every node an input is upstream of
    for node in topo:  # parents before children
        if node._backward is graph_freed:  # its edges are gone: whether it leads to an input
            needed.add(id(node))  # is unknown, so a gradient reaching it raises (not None)
            continue
        for p in node._prev:
            if id(p) in needed:
                needed.add(id(node))
                break
    captured: dict[int, Any] = {}
    leaf_grads: dict[int, tuple[Any, Any]] = {}
    handed: set[int] = set()
    st = _state
    outer = st.task
    outer_cbs = st.callbacks
    st.callbacks = cbs = []
    outer_direct = st.direct
    st.task = (leaf_grads, handed)
    st.direct = False  # only the inputs' .grad may change (or none): no direct accumulation
    nan = _nan_check
    node = None
    try:
        for r, g in zip(roots, grads):
            r._accumulate(g)
        for node in reversed(topo):
            g = node._g
            node._g = None
            if g is not None and node._backward is graph_freed:
                graph_freed(g)  # raises: its graph (and whether it leads to an input) is gone
            if id(node) not in needed:
                continue  # not on a path to an input: left as it is (not freed)
            if g is not None:
                hooks = node._hooks
                if hooks is not None:
                    g = _node_hooks(node, g, hooks, handed)
                if id(node) in want:
                    if not accumulate:
                        captured[id(node)] = g
                    elif hooks is None or not hooks.retain:
                        _add_into(node, g, handed, "input")
                for p in node._prev:
                    if id(p) in needed:  # an input is upstream: run the node's backward
                        node._check_saved()
                        _run_node(node, g, hooks, handed, needed)
                        if nan:
                            _check_nan(node, leaf_grads)
                        break
            if not retain_graph:
                node._backward = graph_freed
                node._prev = ()
                node._saved = ()
                node._dbackward = None
    except BaseException:
        _clear(topo)
        st.callbacks = outer_cbs
        if anomaly_enabled and node is not None:
            _anomaly_report(node)
        raise
    finally:
        st.task = outer
        st.direct = outer_direct
    try:
        _finish_inputs(inputs, leaf_grads, handed, accumulate, captured)
        if cbs:
            _run_callbacks(cbs)
    finally:
        st.callbacks = outer_cbs
    if accumulate:
        return None
    for k, g in captured.items():  # returned to the caller: each one its own array
        captured[k] = _own(g, handed)
    return captured


def _finish_inputs(
    inputs: list[Any],
    leaf_grads: dict[int, tuple[Any, Any]],
    handed: set[int],
    accumulate: bool,
    captured: dict[int, Any],
) -> None:
    """run_backward's end: the leaf inputs' gradients are complete; accumulated or captured."""
    for t in inputs:  # the leaf inputs: their gradients are complete now
        entry = leaf_grads.pop(id(t), None)
        if entry is None or t._backward is not None:
            continue
        g = entry[1]
        hooks = t._hooks
        if accumulate:
            if hooks is not None:
                _leaf_with_hooks(t, g, hooks, handed)
            else:
                with _grad_lock:
                    _add_into(t, g, handed, "leaf")
        else:
            if hooks is not None and hooks.pre:
                g = _run_pre_hooks(t, g, hooks, handed)
            captured[id(t)] = g


# ---- create_graph=True: gradients as Tensors, with a graph (higher-order gradients) ----------
#
# A separate walk, used only by dg.autograd.grad(create_graph=True): the plain backward above
# (training's hot path) is untouched but for one store per freed node. Each node's gradient
# is a Tensor, summed with Tensor add; the node's `_dbackward(g)` (set by ops that have one,
# see Tensor._make) returns one gradient Tensor (or None) per parent it was made from, built
# from differentiable Tensor ops, so the result carries a graph back to the saved tensors
# and to g. Grad mode is on while they run.


def _no_double_backward(node: Any) -> NotImplementedError:
    return NotImplementedError(
        f"create_graph=True: no double backward for '{node._op}' yet (deltagrad computes "
        "higher-order gradients through the ops that define one; see docs/TORCH_PARITY.md)"
    )


def _cg_topo(roots: list[Any], stop: set[int]) -> list[Any]:
    """As _topo, but a node in stop is listed without descending past it (its inputs are
    not walked)."""
    topo: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            topo.append(node)
            continue
        if node._backward is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if id(node) in stop:
            continue
        for p in node._prev:
            if p._backward is not None and id(p) not in seen:
                stack.append((p, False))
    return topo


def _tensor_hooks(t: Any, g: Any, hooks: _Hooks) -> Any:
    """t's pre-hooks on its complete gradient g (a Tensor, with its graph, as torch's)."""
    for fn in list(hooks.pre.values()):
        r = fn(g)
        if r is None:
            continue
        if not isinstance(r, Tensor):
            r = Tensor._make(_array(r), (), None, "")
        if tuple(r.shape) != tuple(g.shape):
            raise ValueError(
                f"register_hook: the hook returned a gradient of shape {tuple(r.shape)}; "
                f"expected the tensor's gradient shape {tuple(g.shape)}"
            )
        g = r
    return g


def _fit_grad(p: Any, g: Any) -> Any:
    """g as the gradient of parent p: p's dtype, p's shape (summed over broadcast dims)."""
    if g.data.dtype != p.data.dtype:
        g = g.astype(p.data.dtype)
    if tuple(g.shape) != tuple(p.data.shape):
        g = Tensor._sum_to(g, tuple(p.data.shape))
    return g


class Slot:
    """run_create_graph: what output `index` of a multi-output autograd.Function sends its
    node (the node gathers one gradient per output, a dict index -> Tensor)."""

    __slots__ = ("index", "grad")

    def __init__(self, index: int, grad: Any) -> None:
        self.index = index
        self.grad = grad


def _post_hook_grads_graph(
    node: Any, outs: list[Any], g: Any, hooks: _Hooks, needed: set[int]
) -> list[Any]:
    """run_create_graph: node's post-hooks on its dbackward's results (Tensors with a
    graph, fitted to the inputs; None for an input not needed), one per edge in node._prev
    returned."""
    prev = node._prev
    gi: list[Any] = []
    for j, o in zip(_slots(node), outs):
        skip = j < 0 or o is None or id(prev[j]) not in needed
        gi.append(None if skip else _fit_grad(prev[j], o))
    gi = _post_hook_grads(node, gi, (g,), hooks)
    res: list[Any] = [None] * len(prev)
    for j, v in zip(_slots(node), gi):
        if j >= 0:
            res[j] = v
    return res


def run_create_graph(
    roots: list[Any],
    grads: list[Any],
    retain_graph: bool,
    graph_freed: Callable[[Any], None],
    inputs: list[Any],
    stop_at_inputs: bool = False,
) -> dict[int, Any]:
    """Backpropagate grads (Tensors, one per root) from roots to inputs with a graph: returns
    id(input) -> its gradient (a Tensor), missing when none reaches it. No .grad changes
    except retained non-leaves' (their .grad is an array: the values, as deltagrad's .grad
    always is). stop_at_inputs: do not walk past the inputs (their partial gradient alone).
    A node on the way without a double backward raises NotImplementedError."""
    want = {id(t) for t in inputs}
    topo = _cg_topo(roots, want if stop_at_inputs else set())
    needed = set(want)
    for node in topo:  # parents before children
        if stop_at_inputs and id(node) in want:
            continue
        if node._backward is graph_freed:  # as run_backward: unknown, so a gradient raises
            needed.add(id(node))
            continue
        for p in node._prev:
            if id(p) in needed:
                needed.add(id(node))
                break
    gs: dict[int, Any] = {}
    leaves: dict[int, Any] = {}

    def send(p: Any, g: Any) -> None:
        k = id(p)
        if isinstance(g, Slot):  # to a multi-output Function's node: {output index: grad}
            slots = gs.setdefault(k, {})
            prev = slots.get(g.index)
            slots[g.index] = g.grad if prev is None else prev + g.grad
            return
        g = _fit_grad(p, g)
        prev = gs.get(k)
        gs[k] = g if prev is None else prev + g
        if p._backward is None:
            leaves[k] = p

    st = _state
    outer_mode = st.grad_enabled
    st.grad_enabled = True  # the gradients are recorded (torch: grad mode on in backward)
    captured: dict[int, Any] = {}
    node = None
    try:
        for r, g in zip(roots, grads):
            send(r, g)
        for node in reversed(topo):
            g = gs.pop(id(node), None)
            if g is not None and node._backward is graph_freed:
                graph_freed(None)  # raises: its graph is gone
            if id(node) not in needed:
                continue
            if g is None:
                continue
            hooks = node._hooks
            if hooks is not None:
                if hooks.pre:
                    g = _tensor_hooks(node, g, hooks)
                if hooks.retain:
                    with _grad_lock:
                        _add_into(node, g.data.copy(), set(), "retained non-leaf")
            if id(node) in want:
                captured[id(node)] = g
                if stop_at_inputs:
                    continue
            if not any(id(p) in needed for p in node._prev):
                continue
            db = getattr(node, "_dbackward", None)
            if db is None:
                raise _no_double_backward(node)
            node._check_saved()
            outs = db(g)
            mask = node._grad_mask
            if hooks is not None and hooks.node_post:
                outs = _post_hook_grads_graph(node, list(outs), g, hooks, needed)
            elif mask is not None:
                outs = [o for o, m in zip(outs, mask) if m]
            for p, gp in zip(node._prev, outs):
                if gp is not None and id(p) in needed:
                    send(p, gp)
            if _nan_check:
                for p in node._prev:
                    gp = gs.get(id(p))
                    if isinstance(gp, Tensor) and _has_nan(gp.data):
                        raise RuntimeError(
                            f"Function '{node._op}' returned nan values in its 0th output."
                        )
        if not retain_graph:
            for n in topo:
                if id(n) in needed:
                    n._backward = graph_freed
                    n._prev = ()
                    n._saved = ()
                    n._dbackward = None
    except BaseException:
        if anomaly_enabled and node is not None:
            _anomaly_report(node)
        raise
    finally:
        st.grad_enabled = outer_mode
    for t in inputs:  # the leaf inputs: their gradients are complete now
        k = id(t)
        if k in leaves:
            g = gs.pop(k)
            hooks = t._hooks
            if hooks is not None and hooks.pre:
                st.grad_enabled = True
                try:
                    g = _tensor_hooks(t, g, hooks)
                finally:
                    st.grad_enabled = outer_mode
            captured[k] = g
    return captured


# ---- end-of-backward callbacks and early leaves (what DistributedDataParallel builds on) -----


def queue_callback(fn: Callable[[], Any]) -> None:
    """Run fn() once the running backward (in this thread) has finished: after every leaf
    accumulated into its .grad and ran its hooks, before backward() returns (torch's
    Variable._execution_engine.queue_callback). Called from a hook; callbacks run in the
    order queued, and may queue more. Not run when the backward raises."""
    cbs = _state.callbacks
    if cbs is None:
        raise RuntimeError(
            "queue_callback: no backward is running in this thread (call it from a hook)"
        )
    cbs.append(fn)


def _run_callbacks(cbs: list[Callable[[], Any]]) -> None:
    i = 0
    while i < len(cbs):  # a callback may queue another one
        cbs[i]()
        i += 1


def _early_leaves(topo: list[Any]) -> dict[int, list[Any]] | None:
    """The leaves with post-accumulate hooks (DistributedDataParallel's gradient-ready hooks)
    are finished as soon as their gradient is complete, as torch's AccumulateGrad: right after
    the last node sending them a gradient ran, not after the whole graph (so a hook can start
    communication that overlaps the rest of the backward). Returns id(that node) -> its
    leaves, or None when no leaf has such a hook (the common case: one cheap scan)."""
    last: dict[int, tuple[Any, Any]] | None = None
    for node in topo:  # parents first: the first consumer seen is the last one to run
        for p in node._prev:
            if p._backward is None and p._hooks is not None and p._hooks.post:
                if last is None:
                    last = {}
                if id(p) not in last:
                    last[id(p)] = (p, node)
    if last is None:
        return None
    early: dict[int, list[Any]] = {}
    for leaf, node in last.values():
        early.setdefault(id(node), []).append(leaf)
    return early


def _finish_early(
    leaves: list[Any], leaf_grads: dict[int, tuple[Any, Any]], handed: set[int]
) -> None:
    for leaf in leaves:
        entry = leaf_grads.pop(id(leaf), None)
        if entry is not None and leaf.requires_grad and leaf._hooks is not None:
            _leaf_with_hooks(leaf, entry[1], leaf._hooks, handed)


# ---- anomaly mode (torch.autograd.detect_anomaly) ------------------------------------------

# Global, as torch's (not per thread). _nan_check: both on, read once per backward.
anomaly_enabled = False
anomaly_check_nan = True
_nan_check = False

# id -> weakref of the hidden nodes of multi-output autograd.Functions (their gradient is a
# list of slots); by id, as Tensor's == is elementwise
_multi_output: dict[int, Any] = {}


def mark_multi_output(node: Any) -> None:
    k = id(node)
    _multi_output[k] = weakref.ref(node)
    weakref.finalize(node, _multi_output.pop, k, None).atexit = False


def is_multi_output(node: Any) -> bool:
    r = _multi_output.get(id(node))
    return r is not None and r() is node


# id(node) -> its metadata dict (torch's Node.metadata), made on first use; a finalizer drops
# the entry when the node dies. Anomaly mode keeps the forward's stack there ("traceback_").
_metadata: dict[int, dict[str, Any]] = {}
_TRACE_KEY = "traceback_"  # torch's key


def node_metadata(t: Any) -> dict[str, Any]:
    """The metadata dict of the graph node (or leaf) t: the same dict on every call."""
    k = id(t)
    d = _metadata.get(k)
    if d is None:
        d = _metadata[k] = {}
        weakref.finalize(t, _metadata.pop, k, None).atexit = False
    return d


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_anomaly_lock = threading.Lock()  # the mode's flags and the _make swap change together
# Tensor._make (a staticmethod), kept from the first swap on and never reset: a thread that
# resolved Tensor._make to _traced_make before another thread swapped it back still finds it
_plain_make: Any = None
_make_swapped = False


def _traced_make(
    data: Any, parents: Any, backward: Any, op: str, saves: Any = None, dbackward: Any = None
) -> Any:
    """Tensor._make while anomaly mode is on: a graph node also records the forward's stack,
    down to the call into deltagrad (torch's ops are C++, not in its stack either). Swapped
    in and out by set_anomaly, so that recording costs nothing at all when the mode is off."""
    out = _plain_make.__func__(data, parents, backward, op, saves, dbackward)
    if out._backward is not None:
        stack = traceback.extract_stack()
        n = len(stack) - 1
        while n > 1 and stack[n - 1].filename.startswith(_PACKAGE_DIR):
            n -= 1  # deltagrad's own frames (the op's code) end the stack: left out
        node_metadata(out)[_TRACE_KEY] = traceback.format_list(stack[:n])
    return out


def set_anomaly(enabled: bool, check_nan: bool) -> None:
    """Turn anomaly mode on or off (torch.set_anomaly_enabled); the caller checked the types."""
    global anomaly_enabled, anomaly_check_nan, _nan_check, _plain_make, _make_swapped
    with _anomaly_lock:
        anomaly_enabled = enabled
        anomaly_check_nan = check_nan
        _nan_check = enabled and check_nan
        if _plain_make is None:
            _plain_make = Tensor.__dict__["_make"]
        if enabled and not _make_swapped:
            Tensor._make = staticmethod(_traced_make)
            _make_swapped = True
        elif not enabled and _make_swapped:
            Tensor._make = _plain_make
            _make_swapped = False


def _has_nan(a: Any) -> bool:
    if a is None or a.dtype.kind not in "fc":
        return False
    return bool((a != a).any())  # numpy and cupy alike (NaN is the one value != itself)


def _check_nan(node: Any, leaf_grads: dict[int, tuple[Any, Any]]) -> None:
    """After node's backward: raise if a gradient it sent to one of its inputs holds a NaN.
    An input's gradient is checked as summed so far; an earlier consumer's NaN would have
    been caught at that consumer, so a NaN found now came from this node (or from its
    finite part summed with another's: inf + -inf)."""
    mask = node._grad_mask  # the inputs' positions (torch counts every input of the op)
    where = range(len(node._prev)) if mask is None else [j for j, m in enumerate(mask) if m]
    for i, p in zip(where, node._prev):
        if p._backward is None:
            entry = leaf_grads.get(id(p))
            g = None if entry is None else entry[1]
        else:
            g = p._g
        if g is None:
            continue
        # a multi-output Function's hidden node collects a list of slots
        for a in g if isinstance(g, list) else (g,):
            if _has_nan(a):
                raise RuntimeError(
                    f"Function '{node._op}' returned nan values in its {i}th output."
                )


def _anomaly_report(node: Any) -> None:
    """The backward of node raised in anomaly mode: warn with its forward's stack (torch's
    UserWarning), then the error propagates."""
    d = _metadata.get(id(node))
    trace = None if d is None else d.get(_TRACE_KEY)
    if trace is None:
        msg = (
            f"Error detected in {node._op}. No forward pass information available. Enable "
            "detect anomaly during forward pass for more information."
        )
    else:
        msg = (
            f"Error detected in {node._op}. Traceback of forward call that caused the "
            "error:\n" + "".join(trace)
        )
    try:  # the backward's own error must propagate, even where warnings are errors
        warnings.warn(msg, UserWarning, stacklevel=4)
    except Warning:
        pass
