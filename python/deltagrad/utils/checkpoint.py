"""deltagrad.utils.checkpoint: activation checkpointing, as torch.utils.checkpoint.

    y = checkpoint(block, x, use_reentrant=False)      # block's activations are not kept
    y = checkpoint_sequential(model, 3, x, use_reentrant=False)

checkpoint(function, *args) runs function(*args) and keeps its inputs, not its intermediate
results: when the backward reaches the output, function is run again (under enable_grad, with
deltagrad's random state as it was in the forward, so dropout draws the same masks) and the
gradient is backpropagated through that recomputation with dg.autograd.grad. The gradients
are the un-checkpointed ones, bit for bit where the recomputation does the same arithmetic.

How: the forward runs with grad mode on (as torch's non-reentrant variant); its graph is
walked once to find the tensors outside function it reaches (parameters and other leaves
that require grad), then dropped: the output becomes one graph node whose parents are the
Tensor arguments and those leaves. So parameters used inside function get their .grad from
a backward, and dg.autograd.grad(out, params) works, with either use_reentrant (torch's
reentrant variant refuses autograd.grad). Peak memory is one function's activations at a time
(in the forward as in the backward), plus the saved inputs.

Limits: a tensor with a graph that function captures from outside (not passed as an
argument) is backpropagated through by the recomputation's own grad, to its leaves (as in
torch's reentrant variant): pass such tensors as arguments. create_graph=True through a
checkpoint works for a function with one Tensor output.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, Callable

from .._engine import mark_multi_output
from .._random import get_rng_state, set_rng_state
from ..autograd import grad as _grad
from ..func import _flatten
from ..tensor import Tensor, enable_grad, get_array_module, is_grad_enabled, no_grad

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "CheckpointError",
    "check_backward_validity",
    "detach_variable",
    "noop_context_fn",
]

_OP = "CheckpointFunctionBackward"
_DETERMINISM_CHECKS = ("default", "none")


class CheckpointError(RuntimeError):
    """The recomputation did not produce what the forward did (torch's CheckpointError)."""


def noop_context_fn() -> tuple[Any, Any]:
    """The default context_fn: no context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def check_backward_validity(inputs: Any) -> None:
    """Warn, as torch, when no Tensor among inputs requires grad."""
    if not any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None", stacklevel=3
        )


def detach_variable(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Each Tensor of inputs detached, keeping its requires_grad (torch's helper)."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            f"Only tuple of tensors is supported. Got Unsupported input type: "
            f"{type(inputs).__name__}"
        )
    return tuple(_detach(a) for a in inputs)


def _detach(a: Any) -> Any:
    if not isinstance(a, Tensor):
        return a
    d = a.detach()
    if a.requires_grad:
        d.requires_grad_(True)
    return d


@contextlib.contextmanager
def _rng_at(state: Any) -> Iterator[None]:
    """deltagrad's generator at `state` (None: untouched) inside, as it was outside after."""
    if state is None:
        yield
        return
    outer = get_rng_state()
    set_rng_state(state)
    try:
        yield
    finally:
        set_rng_state(outer)


def _flat(out: Any, nested: bool) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """function's output as a list of items and the function that puts new items back in its
    structure. nested (the non-reentrant variant, which sees every Tensor function returns,
    as torch's saved-tensor hooks): every Tensor in nested tuples / lists / dicts is an item.
    Else (reentrant, as the outputs of a torch autograd.Function) a tuple / list is unpacked
    one level only."""
    if nested:
        return _flatten(out)
    if isinstance(out, (tuple, list)):
        kind = type(out)
        return list(out), lambda items: items if kind is list else tuple(items)
    return [out], lambda items: items[0]


def _outside_leaves(outs: list[Tensor], inputs: set[int]) -> list[Tensor]:
    """The leaves requiring grad that outs' graph reaches (not through the detached inputs):
    the parameters function used. Iterative (deep graphs)."""
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack = list(outs)
    while stack:
        t = stack.pop()
        k = id(t)
        if k in seen or k in inputs:
            continue
        seen.add(k)
        if t._backward is None:
            if t.requires_grad:
                found[k] = t
            continue
        stack.extend(t._prev)
    return list(found.values())


def _check_callable(fn: str, function: Any) -> None:
    if not callable(function):
        raise TypeError(f"{fn}: function: expected a callable, got {type(function).__name__}")


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """function(*args, **kwargs), with its intermediate results recomputed in the backward
    instead of kept (torch.utils.checkpoint.checkpoint; see the module docstring).

    As torch 2.13: use_reentrant not passed warns and means True; use_reentrant=True refuses
    keyword arguments for function, context_fn and debug (ValueError), warns when no Tensor
    argument requires grad and then returns outputs without a graph (parameters inside get no
    gradient, as torch's reentrant variant). use_reentrant=False: kwargs are passed to
    function; context_fn() gives two context managers, entered around the forward and the
    recomputation; determinism_check 'default' checks that the recomputed outputs have the
    forward's shapes and dtypes (CheckpointError otherwise), 'none' does not.
    preserve_rng_state=True restores deltagrad's generator for the recomputation (and the
    generator continues after the backward where it was). debug and early_stop are accepted
    and have no effect.
    """
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise an "
            "exception. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    _check_callable("checkpoint", function)
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError(
                "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
            )
        check_backward_validity(args)
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            with no_grad():  # torch's reentrant forward: no input requires grad, no graph
                return function(*args)
    elif determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(
            f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, but got "
            f"{determinism_check}"
        )
    if use_reentrant or context_fn is noop_context_fn:
        fwd_ctx, rec_ctx = contextlib.nullcontext(), contextlib.nullcontext()
    else:
        fwd_ctx, rec_ctx = context_fn()
    state = get_rng_state() if preserve_rng_state else None
    if not is_grad_enabled():
        with fwd_ctx:
            return function(*args, **kwargs)
    return _checkpointed(
        function,
        args,
        kwargs,
        state,
        rec_ctx,
        fwd_ctx,
        determinism_check == "default",
        not use_reentrant,
    )


def _checkpointed(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    state: Any,
    rec_ctx: Any,
    fwd_ctx: Any,
    check_meta: bool,
    nested: bool,
) -> Any:
    """The forward (graph recorded, walked, dropped) and the node whose backward recomputes.
    nested: every Tensor of the output's nested tuples / lists / dicts gets the gradient (the
    non-reentrant variant); else only a tuple / list's top level (see _flat)."""
    keys = list(kwargs)
    originals = [*args, *(kwargs[k] for k in keys)]  # the Tensor ones are function's inputs

    def detached(linked: bool = False) -> tuple[tuple[Any, ...], dict[str, Any], list[Any]]:
        """The inputs for function: detached copies, or with linked (a create_graph=True
        backward) views of those requiring grad, so the gradients keep their graph to them."""
        d = [
            a.view_as(a) if linked and isinstance(a, Tensor) and a.requires_grad else _detach(a)
            for a in originals
        ]
        return tuple(d[: len(args)]), dict(zip(keys, d[len(args) :])), d

    d_args, d_kwargs, d_all = detached()
    with fwd_ctx:
        out = function(*d_args, **d_kwargs)
    items, rebuild = _flat(out, nested)
    graphed = [k for k, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
    inputs_req = [k for k, a in enumerate(originals) if isinstance(a, Tensor) and a.requires_grad]
    input_ids = {id(d) for d in d_all if isinstance(d, Tensor)}
    params = _outside_leaves([items[k] for k in graphed], input_ids)
    if not graphed or not (inputs_req or params):
        return out
    meta = [(tuple(items[k].shape), items[k].data.dtype) for k in graphed]
    arrays = [items[k].data for k in graphed]
    del out, d_args, d_kwargs, d_all  # the forward's graph goes with them
    for k in graphed:
        items[k] = None

    # the parents: each input requiring grad once, then the parameters
    parents: list[Tensor] = []
    pos: dict[int, int] = {}
    for t in [originals[k] for k in inputs_req] + params:
        if id(t) not in pos:
            pos[id(t)] = len(parents)
            parents.append(t)

    def recompute(gs: list[Any], create_graph: bool) -> list[Any]:
        """d loss / d parent for each parent (None where none reaches it), from the output
        gradients gs (one per graphed output, None for one that got none)."""
        with _rng_at(state):
            r_args, r_kwargs, r_all = detached(create_graph)
            with enable_grad(), rec_ctx:
                again = function(*r_args, **r_kwargs)
        r_items, _ = _flat(again, nested)
        if len(r_items) < len(items):
            raise CheckpointError(
                f"torch.utils.checkpoint: the recomputation returned {len(r_items)} outputs, "
                f"the forward {len(items)}"
            )
        roots, grads = [], []
        for j, k in enumerate(graphed):
            r = r_items[k]
            if check_meta and (
                not isinstance(r, Tensor) or (tuple(r.shape), r.data.dtype) != meta[j]
            ):
                got = (tuple(r.shape), r.data.dtype) if isinstance(r, Tensor) else type(r)
                raise CheckpointError(
                    "torch.utils.checkpoint: Recomputed values for the following tensors have "
                    f"different metadata than during the forward pass.\noutput {k}: saved "
                    f"{meta[j]}, recomputed {got}"
                )
            if gs[j] is not None and isinstance(r, Tensor) and r.requires_grad:
                roots.append(r)
                grads.append(gs[j])
        if not roots:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        targets = [r_all[k] for k in inputs_req] + params
        res = _grad(
            roots,
            targets,
            grads,
            retain_graph=True,  # a captured outside tensor's graph stays for the outer backward
            create_graph=create_graph,
            allow_unused=True,
        )
        out_g: list[Any] = [None] * len(parents)
        for t, g in zip([originals[k] for k in inputs_req] + params, res):
            if g is None:
                continue
            i = pos[id(t)]
            out_g[i] = g if out_g[i] is None else out_g[i] + g
        return out_g

    def run_backward(gs: list[Any]) -> None:
        for p, g in zip(parents, recompute(gs, False)):
            if g is not None:
                p._accumulate(g.data)

    saves = tuple(a for a in originals if isinstance(a, Tensor))  # version-checked
    if len(graphed) == 1:

        def dbackward(g: Tensor) -> list[Any]:
            return recompute([g], True)

        node = Tensor._make(
            arrays[0],
            tuple(parents),
            lambda g: run_backward([g]),
            _OP,
            saves=saves,
            dbackward=dbackward,
        )
        items[graphed[0]] = node
    else:
        # several outputs: each sends its gradient to its slot of one hidden node, whose
        # backward (one recomputation) runs after every output's (as autograd.Function's)
        def run_hidden(slots: list[Any]) -> None:
            run_backward(slots)

        hidden = Tensor._make(
            get_array_module(arrays[0]).zeros(()), tuple(parents), run_hidden, _OP, saves=saves
        )
        mark_multi_output(hidden)
        for j, (k, a) in enumerate(zip(graphed, arrays)):

            def send(g: Any, j: int = j) -> None:
                if hidden._g is None:
                    hidden._g = [None] * len(arrays)
                hidden._g[j] = g if hidden._g[j] is None else hidden._g[j] + g

            items[k] = Tensor._make(a, (hidden,), send, f"{_OP}[{j}]", saves=())
    return rebuild(items)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Any,
    use_reentrant: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Run functions (an nn.Sequential or a list of modules / callables) in order on input,
    in `segments` chunks, every chunk but the last checkpointed (as torch: each chunk has
    len(functions) // segments functions, the last the rest). kwargs: preserve_rng_state
    only (anything else is torch's ValueError)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should "
            "be passed explicitly. In version 2.9 we will raise an exception if use_reentrant "
            "is not passed. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True. Refer to docs for "
            "more details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    from ..nn.container import Sequential

    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"checkpoint_sequential: segments: expected an int >= 1, got {segments!r}")

    def run_function(start: int, end: int) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    segment_size = len(functions) // segments
    if segment_size == 0 and segments > 1:
        raise ValueError(
            f"checkpoint_sequential: segments: {segments} segments for {len(functions)} "
            "functions; expected at most one segment per function"
        )
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(
            run_function(start, end),
            input,
            use_reentrant=use_reentrant,
            preserve_rng_state=preserve,
        )
    return run_function(end + 1, len(functions) - 1)(input)
