"""dg.autograd.Function: a differentiable op written as a forward and a backward on arrays.

The same shape as torch.autograd.Function:

    class SmoothL1(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x, beta=1.0):           # arrays in (numpy on the CPU, cupy on a GPU)
            ctx.save_for_backward(x)
            ctx.beta = beta
            a = abs(x)
            return np.where(a < beta, 0.5 * x * x / beta, a - 0.5 * beta)

        @staticmethod
        def backward(ctx, g):                     # d loss / d output in, one grad per input out
            (x,) = ctx.saved_tensors
            return g * np.clip(x / ctx.beta, -1, 1), None   # None: beta gets no gradient

    y = SmoothL1.apply(t, 0.5)                    # Tensors in, Tensors out, graph recorded

apply() unwraps every Tensor argument to its array, runs forward without recording, wraps the
output array(s) in Tensors and, when an input requires grad, records one graph node whose
backward calls `backward(ctx, *grad_outputs)`. backward must return one value per forward
argument (a bare value when there is one argument; extra trailing Nones are allowed): an
array of that input's shape, or None.
Mistakes there are exceptions that name the Function, the argument and what was wrong. Saved
inputs are version-checked, so an in-place change between forward and backward raises.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _engine
from .backends._args import is_device_array as is_cuda_array
from .gradcheck import gradcheck, gradgradcheck
from .tensor import (
    Tensor,
    _check_inputs,
    _fp_silent_block,
    _graph_freed,
    _root_grad,
    enable_grad,
    get_array_module,
    is_grad_enabled,
    no_grad,
)

__all__ = [
    "Function",
    "FunctionCtx",
    "backward",
    "detect_anomaly",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "set_anomaly_enabled",
    "set_detect_anomaly",
]


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of outputs with respect to inputs, as torch.autograd.grad: a tuple of
    Tensors (None for an input no output depends on, with allow_unused=True; zeros with
    materialize_grads=True). No .grad changes (except retained non-leaves', as torch);
    hooks on the inputs and on the nodes between run, post-accumulate hooks do not.

    outputs, inputs: a Tensor or a sequence of them. grad_outputs: d(loss)/d(output) per
    output (None: 1, for a one-element output). retain_graph (default create_graph) keeps the
    graph for another backward. create_graph=True records the gradients' own graph (higher
    order: the results are Tensors that can be differentiated again, requiring grad where
    torch's do; grad_outputs that require grad take part too). Every op on the way needs a
    double backward (most Tensor ops and functional's common layers, activations and losses
    have one); one without raises NotImplementedError naming it.
    """
    if retain_graph is None:
        retain_graph = create_graph
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if not outs:
        raise ValueError("autograd.grad: outputs: expected at least one Tensor, got none")
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(
                f"autograd.grad: outputs[{i}] is a {type(o).__name__}, expected a Tensor"
            )
        if not o.requires_grad:
            raise RuntimeError(
                f"autograd.grad: outputs[{i}] does not require grad and has no graph (no "
                "input had requires_grad=True, or it was made under no_grad)"
            )
    if grad_outputs is None:
        gos: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        gos = [grad_outputs]
    else:
        gos = list(grad_outputs)
    if len(gos) != len(outs):
        raise ValueError(
            f"autograd.grad: grad_outputs has {len(gos)} entries, outputs {len(outs)}; expected "
            "one per output"
        )
    grads = [
        _root_grad(o, g, f"autograd.grad: grad_outputs[{i}]")
        for i, (o, g) in enumerate(zip(outs, gos))
    ]
    ins = _check_inputs(inputs, "autograd.grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    if create_graph:
        return _grad_with_graph(
            outs, gos, grads, ins, retain_graph, allow_unused, materialize_grads
        )
    with _fp_silent_block():  # the closures' inf / nan silent, as in Tensor.backward
        captured = _engine.run_backward(outs, grads, bool(retain_graph), _graph_freed, ins, False)
    assert captured is not None
    result: list[Tensor | None] = []
    given: set[int] = set()
    for i, t in enumerate(ins):
        g = captured.get(id(t))
        if g is None:
            if materialize_grads:
                g = get_array_module(t.data).zeros_like(t.data)
            elif allow_unused:
                result.append(None)
                continue
            else:
                raise RuntimeError(
                    f"autograd.grad: inputs[{i}] (shape {t.shape}) was not used in the graph "
                    "of the outputs; pass allow_unused=True to get None for it"
                )
        if id(g) in given:  # an input listed twice: each result its own array
            g = g.copy()
        given.add(id(g))
        result.append(Tensor._make(g, (), _graph_freed, ""))
    return tuple(result)


def _grad_with_graph(
    outs: list[Tensor],
    gos: list[Any],
    grads: list[Any],
    ins: list[Tensor],
    retain_graph: bool,
    allow_unused: bool,
    materialize_grads: bool,
) -> tuple[Tensor | None, ...]:
    """grad(create_graph=True): the create_graph walk (_engine.run_create_graph)."""
    roots = []
    for go, g in zip(gos, grads):
        if isinstance(go, Tensor) and go.requires_grad and go.data.shape == g.shape:
            if go.data.dtype != g.dtype:
                go = go.astype(g.dtype)
            roots.append(go)  # a grad_output with a graph: differentiated through (as torch)
        else:
            roots.append(Tensor._make(g, (), None, ""))
    retained, old_grads = _take_retained_grads(outs, ins)
    with _fp_silent_block():
        captured = _run_create_graph_retained(outs, roots, retain_graph, ins, retained, old_grads)
        done: set[int] = set()
        with enable_grad(), _restoring(retained, old_grads, done):
            for t in retained:
                _accumulate_graph_grad(t, captured.get(id(t)), old_grads[id(t)])
                done.add(id(t))
    result: list[Tensor | None] = []
    for i, t in enumerate(ins):
        g = captured.get(id(t))
        if g is None:
            if materialize_grads:
                g = Tensor._make(get_array_module(t.data).zeros_like(t.data), (), None, "")
            elif allow_unused:
                result.append(None)
                continue
            else:
                raise RuntimeError(
                    f"autograd.grad: inputs[{i}] (shape {t.shape}) was not used in the graph "
                    "of the outputs; pass allow_unused=True to get None for it"
                )
        result.append(g)
    return tuple(result)


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: Any = None,
    inputs: Any = None,
) -> None:
    """Accumulate the gradients of tensors (a Tensor or a sequence of them) into the leaves'
    .grad, as torch.autograd.backward: sum_i grad_tensors[i] . d tensors[i] / d leaf.
    grad_tensors: one per tensor (None: 1, for a one-element tensor); grad_variables is its
    deprecated alias. inputs limits the accumulation to those tensors. create_graph=True
    records the gradients' graph: every .grad it accumulates into (a retained non-leaf's too)
    is then a Tensor with a graph (as torch's, so `loss.backward(create_graph=True);
    (p.grad ** 2).sum().backward()` works); the engine and the optimizers read such a .grad as
    its array, as an assigned Tensor (a later plain backward turns it back into an array)."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError(
                "'grad_tensors' and 'grad_variables' (deprecated) arguments both passed to "
                "backward(). Please only use 'grad_tensors'."
            )
        warnings.warn(
            "'grad_variables' is deprecated. Use 'grad_tensors' instead.",
            FutureWarning,
            stacklevel=2,
        )
        grad_tensors = grad_variables
    outs = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not outs:
        raise RuntimeError("backward: tensors: expected at least one Tensor, got none")
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"backward: tensors[{i}] is a {type(o).__name__}, expected a Tensor")
        if not o.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
    if grad_tensors is None:
        gos: list[Any] = [None] * len(outs)
    elif isinstance(grad_tensors, Tensor) or not isinstance(grad_tensors, (list, tuple)):
        gos = [grad_tensors]
    else:
        gos = list(grad_tensors)
    if len(gos) != len(outs):
        raise RuntimeError(
            f"backward: grad_tensors has {len(gos)} entries, tensors {len(outs)}; expected one "
            "per tensor"
        )
    grads = [
        _root_grad(o, g, f"backward: grad_tensors[{i}]") for i, (o, g) in enumerate(zip(outs, gos))
    ]
    if retain_graph is None:
        retain_graph = create_graph
    ins = None if inputs is None else _check_inputs(inputs, "backward")
    if create_graph:
        _backward_with_graph(outs, gos, grads, bool(retain_graph), ins)
        return
    with _fp_silent_block():
        if ins is None and len(outs) == 1:
            _engine.backward(outs[0], grads[0], bool(retain_graph), _graph_freed)
        else:
            if ins is None:
                ins = _engine.graph_leaves(outs)
            _engine.run_backward(outs, grads, bool(retain_graph), _graph_freed, ins, True)


def _backward_with_graph(
    outs: list[Tensor],
    gos: list[Any],
    grads: list[Any],
    retain_graph: bool,
    ins: list[Tensor] | None,
) -> None:
    """backward(create_graph=True): the create_graph walk to every leaf (or to ins), then each
    one's .grad becomes a Tensor with a graph: the gradient (a copy, as torch's clone), or the
    old .grad plus it (out of place, as torch's AccumulateGrad in grad mode). Retained
    non-leaves on the way get theirs the same way (_take_retained_grads)."""
    if ins is None:
        ins = _engine.graph_leaves(outs)
    roots = []
    for go, g in zip(gos, grads):
        if isinstance(go, Tensor) and go.requires_grad and go.data.shape == g.shape:
            roots.append(go if go.data.dtype == g.dtype else go.astype(g.dtype))
        else:
            roots.append(Tensor._make(g, (), None, ""))
    retained, old_grads = _take_retained_grads(outs, ins)
    with _fp_silent_block():
        captured = _run_create_graph_retained(outs, roots, retain_graph, ins, retained, old_grads)
        done: set[int] = set()
        with enable_grad(), _restoring(retained, old_grads, done):
            want = {id(t) for t in ins}
            for t in retained:
                if id(t) not in want:  # an input: its turn comes below, with its old .grad
                    _accumulate_graph_grad(t, captured.get(id(t)), old_grads[id(t)])
                    done.add(id(t))
            for t in ins:
                g = captured.get(id(t))
                old = old_grads.get(id(t), t.grad)
                _accumulate_graph_grad(t, g, old)
                done.add(id(t))
                if g is None:
                    continue
                hooks = t._hooks
                if hooks is not None and t._backward is None:
                    if hooks.post:
                        _engine._run_post_hooks(t, hooks)
                    if hooks.node_post:
                        _engine.run_accumulate_hooks(t, g, hooks)


def _take_retained_grads(
    outs: list[Tensor], ins: list[Tensor]
) -> tuple[list[Tensor], dict[int, Any]]:
    """The retained non-leaves (retain_grad()) the create_graph walk from outs to ins passes
    (the nodes on a path to an input, as the engine's walk chooses them), with their .grad
    taken out (id -> the old .grad; theirs is None meanwhile). The engine stores a retained
    node's gradient as an array; with create_graph=True torch's retained .grad is a Tensor with
    a graph, so the walk also captures theirs and _accumulate_graph_grad sets it. Taking the
    old .grad out first keeps the engine from writing into it (a Tensor's array, shared)."""
    want = {id(t) for t in ins}
    topo = _engine._cg_topo(outs, set())
    needed = set(want)
    for node in topo:  # parents before children
        if any(id(p) in needed for p in node._prev):
            needed.add(id(node))
    retained = [
        n
        for n in topo
        if id(n) in needed and n._hooks is not None and n._hooks.retain and n._backward is not None
    ]
    old_grads = {}
    for n in retained:
        old_grads[id(n)] = n.grad
        n.grad = None
    return retained, old_grads


def _run_create_graph_retained(
    outs: list[Tensor],
    roots: list[Tensor],
    retain_graph: bool,
    ins: list[Tensor],
    retained: list[Tensor],
    old_grads: dict[int, Any],
) -> dict[int, Any]:
    """_engine.run_create_graph to ins, capturing the retained non-leaves' gradients too; on an
    error their old .grad is put back."""
    want = {id(t) for t in ins}
    targets = ins + [t for t in retained if id(t) not in want]
    with _restoring(retained, old_grads, set()):
        return _engine.run_create_graph(outs, roots, retain_graph, _graph_freed, targets)


@contextlib.contextmanager
def _restoring(retained: list[Tensor], old_grads: dict[int, Any], done: set[int]) -> Iterator[None]:
    """On an error inside: the retained non-leaves whose id is not in done (not given their new
    .grad yet; the engine's walk may have stored an array there) get their old .grad back."""
    try:
        yield
    except BaseException:
        for t in retained:
            if id(t) not in done:
                t.grad = old_grads[id(t)]
        raise


def _accumulate_graph_grad(t: Tensor, g: Tensor | None, old: Any) -> None:
    """t.grad = g.clone() (old None) or old + g, out of place and recorded (torch's
    AccumulateGrad in grad mode); old stays t's .grad when g is None (no gradient reached t)."""
    if g is None:
        t.grad = old
        return
    if old is None:
        t.grad = g.clone()
        return
    t.grad = old
    if not isinstance(old, Tensor):
        old = Tensor._make(_engine.grad_array(t), (), None, "")
    if tuple(old.shape) != tuple(g.shape):
        raise RuntimeError(
            f"backward: the existing .grad has shape {tuple(old.shape)}; "
            f"expected the tensor's shape {tuple(g.shape)}"
        )
    t.grad = old + g


def _once_differentiable(a: Any, g: Tensor, name: str) -> Tensor:
    """A Function's input gradient a under create_graph=True: a constant when the output
    gradient g has no graph, else a node of g whose backward raises (torch's DelayedError
    for a @once_differentiable backward): deltagrad's Function.backward works on arrays."""
    if not g.requires_grad:
        return Tensor(a)
    op = f"{name}Backward"

    def _raise(*_: Any) -> Any:
        raise RuntimeError(
            f"trying to differentiate twice the Function {name}: its backward works on arrays "
            "(as one marked @once_differentiable in torch), so it has no derivative of its "
            "own; write the op from differentiable Tensor ops to get higher-order gradients"
        )

    return Tensor._make(a, (g,), _raise, op, saves=(), dbackward=_raise)


class FunctionCtx:
    """The `ctx` a Function's forward and backward share. Set any attribute on it; keep arrays
    the backward needs with save_for_backward (read them back as ctx.saved_tensors)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: tuple[Any, ...] = ()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays (or Tensors, kept as their arrays) for backward. An input saved here
        must not be changed in place before backward runs (checked)."""
        self._saved = tuple(a.data if isinstance(a, Tensor) else a for a in arrays)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return self._saved


class _FunctionMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{cls.__name__} is a Function: call {cls.__name__}.apply(...), not {cls.__name__}(...)"
        )


class Function(metaclass=_FunctionMeta):
    """Subclass with static forward(ctx, *args) and backward(ctx, *grad_outputs); use
    Sub.apply(*args). See the module docstring."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "a Function subclass must define a static backward(ctx, ...) to be differentiated"
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        name = cls.__name__
        tensors = [a if isinstance(a, Tensor) else None for a in args]
        devices = {t.device for t in tensors if t is not None}
        if len(devices) > 1:
            raise RuntimeError(
                f"{name}.apply: expected all Tensor arguments on the same device, "
                f"got {sorted(devices)}"
            )
        needs = tuple(bool(t is not None and t.requires_grad) for t in tensors)
        record = is_grad_enabled() and any(needs)
        ctx = FunctionCtx(needs)
        raw = [t.data if t is not None else a for t, a in zip(tensors, args)]
        with no_grad():
            result = cls.forward(ctx, *raw, **kwargs)
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        if not outs:
            raise TypeError(
                f"{name}.forward returned an empty tuple; expected an array or a tuple of arrays"
            )
        arrays = []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor):
                o = o.data
            elif not (isinstance(o, np.ndarray) or is_cuda_array(o)):
                if isinstance(o, (int, float, np.number)) and not isinstance(o, bool):
                    xp = get_array_module(raw[needs.index(True)]) if any(needs) else np
                    o = xp.asarray(o)
                else:
                    raise TypeError(
                        f"{name}.forward: output {i} is a {type(o).__name__}; "
                        "expected an array (numpy or cupy) or a Tensor"
                    )
            arrays.append(o)
        if not record or not any(a.dtype.kind == "f" for a in arrays):
            wrapped = [Tensor._make(a, (), _no_backward, name) for a in arrays]
            return wrapped[0] if single else tuple(wrapped)

        parents = tuple(t for t in tensors if t is not None)
        # the inputs whose arrays the backward reads (version-checked when backward runs)
        saved_ids = {id(a) for a in ctx._saved}
        saves: list[Tensor | None] = [t for t in parents if id(t.data) in saved_ids]

        def run_backward(grads: list[Any]) -> None:
            for t, g in input_grads(grads):
                t._accumulate(g)

        def input_grads(grads: list[Any]) -> list[tuple[Tensor, Any]]:
            """backward(ctx, *grads), checked: (input, its gradient array) per input that
            requires grad and got one."""
            got: list[tuple[Tensor, Any]] = []
            for i, (g, a) in enumerate(zip(grads, arrays)):
                if g is None:  # an output that did not reach the loss: zero gradient
                    grads[i] = get_array_module(a).zeros(a.shape, dtype=a.dtype)
                elif getattr(getattr(g, "flags", None), "writeable", True):  # (cupy: no flag)
                    # shown to user code, which may keep it: never becomes a .grad as is
                    _engine.disown(g)
                else:  # a read-only view (the caller's root gradient, a broadcast sum's):
                    grads[i] = g.copy()  # torch lets a backward write into what it gets
            result = cls.backward(ctx, *grads)
            if not isinstance(result, tuple):
                result = (result,)
            if len(result) > len(args) and all(r is None for r in result[len(args) :]):
                result = result[: len(args)]  # trailing Nones for defaulted arguments (as torch)
            if len(result) != len(args):
                raise ValueError(
                    f"{name}.backward returned {len(result)} gradient(s); "
                    f"expected {len(args)}, one per argument of forward (None for "
                    "an argument that gets no gradient)"
                )
            for i, (t, g) in enumerate(zip(tensors, result)):
                if t is None or not t.requires_grad:
                    continue
                if g is None:
                    continue
                if isinstance(g, Tensor):
                    g = g.data
                if not (isinstance(g, np.ndarray) or is_cuda_array(g)):
                    if isinstance(g, (int, float, np.number)) and not isinstance(g, bool):
                        g = get_array_module(t.data).asarray(g, dtype=t.data.dtype)
                    else:
                        raise TypeError(
                            f"{name}.backward: the gradient of argument {i} is a "
                            f"{type(g).__name__}; expected an array or None"
                        )
                if is_cuda_array(g) != is_cuda_array(t.data):
                    raise RuntimeError(
                        f"{name}.backward: the gradient of argument {i} is on "
                        f"{'cuda' if is_cuda_array(g) else 'cpu'}, the argument "
                        f"on {t.device}"
                    )
                if g.shape != t.shape:
                    raise ValueError(
                        f"{name}.backward: the gradient of argument {i} has shape "
                        f"{tuple(g.shape)}; expected the argument's shape "
                        f"{tuple(t.shape)}"
                    )
                _engine.disown(g)  # the user's array (it may keep it): a .grad copies it
                if g.dtype.kind != "f":
                    raise TypeError(
                        f"{name}.backward: the gradient of argument {i} has dtype "
                        f"{g.dtype}; expected a floating dtype"
                    )
                got.append((t, g))
            return got

        def dbackward(g: Tensor) -> tuple[Any, ...]:
            # create_graph=True: backward runs on arrays, so its result cannot carry a graph
            # back to the inputs. As torch's @once_differentiable: the gradients are computed,
            # and a further backward through them raises (only when g itself has a graph)
            by_id = {id(t): ga for t, ga in input_grads([g.data.copy()])}
            return tuple(
                _once_differentiable(by_id[id(t)], g, name) if id(t) in by_id else None
                for t in parents
            )

        if single:
            if any(o is arrays[0] for o in ctx._saved):
                saves.append(None)  # the output itself was saved: check its version too
            return Tensor._make(
                arrays[0],
                parents,
                lambda g: run_backward([g]),
                name,
                saves=tuple(saves),
                dbackward=dbackward,
            )

        # Several outputs: each output node puts its gradient in its slot of a shared hidden
        # node, whose backward runs once, after every output's (the topological order
        # guarantees it). The hidden node collects that list of slots as its gradient (_g).
        def dbackward_multi(slots: dict[int, Tensor]) -> tuple[Any, ...]:
            # create_graph=True: as the single-output dbackward (@once_differentiable), on
            # the gradients the outputs sent (None for an output that got none)
            grads = [slots[k].data.copy() if k in slots else None for k in range(len(arrays))]
            g = next((t for t in slots.values() if t.requires_grad), None)
            by_id = {id(t): ga for t, ga in input_grads(grads)}
            return tuple(
                None
                if id(t) not in by_id
                else Tensor(by_id[id(t)])
                if g is None
                else _once_differentiable(by_id[id(t)], g, name)
                for t in parents
            )

        node = Tensor._make(
            np.zeros(()), parents, run_backward, name, saves=tuple(saves), dbackward=dbackward_multi
        )
        _engine.mark_multi_output(node)
        wrapped = []
        for k, a in enumerate(arrays):

            def send(g: Any, k: int = k) -> None:
                if node._g is None:
                    node._g = [None] * len(arrays)
                node._g[k] = g if node._g[k] is None else node._g[k] + g

            saves_out = (None,) if any(o is a for o in ctx._saved) else ()
            out = Tensor._make(
                a,
                (node,),
                send,
                f"{name}[{k}]",
                saves=saves_out,
                dbackward=lambda g, k=k: (_engine.Slot(k, g),),
            )
            if a.dtype.kind != "f":  # an integer output (an index, a count): no gradient
                out = Tensor._make(a, (), _no_backward, name)
            wrapped.append(out)
        return tuple(wrapped)


# ---- anomaly mode (torch.autograd.anomaly_mode) -------------------------------------------


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on (torch.is_anomaly_enabled). Global, not per thread."""
    return _engine.anomaly_enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks gradients for NaN when on (torch's; True by default)."""
    return _engine.anomaly_check_nan


def _check_bool(fn: str, name: str, value: Any) -> None:
    if type(value) is not bool:  # torch refuses 1 / 0 too
        raise TypeError(f"{fn}: {name}: expected a bool, got {type(value).__name__}")


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly mode on or off (torch.set_anomaly_enabled). On: every graph node made
    records the stack of its forward, shown (a UserWarning) when its backward raises; with
    check_nan, a backward that produces a NaN gradient raises RuntimeError naming the op
    ("Function 'mul' returned nan values in its 0th output."; torch's names are
    "MulBackward0"). Off, it costs nothing. For debugging: it slows the forward down a lot."""
    _check_bool("set_anomaly_enabled", "enabled", enabled)
    _check_bool("set_anomaly_enabled", "check_nan", check_nan)
    _engine.set_anomaly(enabled, check_nan)


class detect_anomaly:
    """Context manager: anomaly mode on inside (see set_anomaly_enabled), the previous mode
    restored on exit, as torch.autograd.detect_anomaly. Warns when made, as torch."""

    def __init__(self, check_nan: bool = True) -> None:
        _check_bool("detect_anomaly", "check_nan", check_nan)
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and "
            "should only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __enter__(self) -> None:
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


class set_detect_anomaly:
    """Set anomaly mode on or off now (a function call), or for a with block, whose exit
    restores the previous mode, as torch.autograd.set_detect_anomaly."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        _check_bool("set_detect_anomaly", "mode", mode)
        _check_bool("set_detect_anomaly", "check_nan", check_nan)
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


def _no_backward(g: Any) -> None:  # pragma: no cover - never called (no graph is recorded)
    raise RuntimeError("internal error: a Function output without a graph was backpropagated")


# deltagrad.autograd is a module, not a package: torch.autograd.functional's counterpart lives
# in autograd_functional.py, bound here as `functional` and registered under the dotted name,
# so `dg.autograd.functional`, `import deltagrad.autograd.functional` and
# `from deltagrad.autograd.functional import vjp` all work. Imported last: it imports grad.
import sys as _sys  # noqa: E402

from . import autograd_functional as functional  # noqa: E402

_sys.modules[__name__ + ".functional"] = functional
