"""deltagrad.func: torch.func's function transforms, built on dg.autograd.grad.

    from deltagrad.func import functional_call, grad, vmap, jacrev, hessian
    loss = lambda params, x, y: F.mse_loss(functional_call(model, params, (x,)), y)
    g = grad(loss)(dict(model.named_parameters()), x, y)      # a dict of gradients
    per_example = vmap(grad(f), in_dims=(None, 0))(w, xs)

Names, signatures, argument checks and result structures are torch.func's: arguments may be
pytrees (nested tuples, lists and dicts of Tensors), argnums picks the differentiated
positional arguments, has_aux lets func return (output, aux).

How they differ from torch's (functorch's) implementation:
- grad / vjp / jacrev differentiate with dg.autograd.grad on fresh leaves (views of the
  arguments where those require grad). When the output also depends on a tensor that
  requires grad outside the transform (an outer transform's argument, a parameter), the
  gradient is computed with create_graph=True, so it can be differentiated again: grad of
  grad, hessian, and a .backward() through a transform's result work for every op with a
  double backward (dg.autograd.grad's create_graph=True).
- jacfwd is jacrev (reverse mode, one backward pass per output element): the same values,
  forward-mode cost is not imitated. hessian(f) is jacfwd(jacrev(f)), i.e. reverse over reverse.
- vmap is a Python loop over the mapped dimension, each slice given to func, the results
  stacked: correct (any func that works on one example works), not fast, and func's side
  effects happen once per example. randomness='error' raises if func draws from deltagrad's
  generator, 'same' gives every example the same draws, 'different' independent ones.
  A mapped dimension of size 0 runs func once on zeros to learn the output shapes.
"""

from __future__ import annotations

from typing import Any, Callable

from ._random import get_rng_state, set_rng_state
from .autograd import grad as _autograd_grad
from .tensor import Tensor, enable_grad, get_array_module, is_grad_enabled, stack

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "vjp",
    "jacrev",
    "jacfwd",
    "hessian",
    "vmap",
]


# ---- pytrees: nested tuples / lists / dicts with leaves ------------------------------------


def _flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """(leaves in order, a function that rebuilds tree's structure from new leaves)."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(c) for c in tree]
        kind = type(tree)

        def rebuild_seq(leaves: list[Any]) -> Any:
            out, i = [], 0
            for ls, rb in parts:
                out.append(rb(leaves[i : i + len(ls)]))
                i += len(ls)
            if kind is list:
                return out
            return kind(*out) if _is_namedtuple(tree) else tuple(out)

        return [leaf for ls, _ in parts for leaf in ls], rebuild_seq
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [_flatten(tree[k]) for k in keys]

        def rebuild_dict(leaves: list[Any]) -> Any:
            out, i = {}, 0
            for k, (ls, rb) in zip(keys, parts):
                out[k] = rb(leaves[i : i + len(ls)])
                i += len(ls)
            return type(tree)(out) if type(tree) is not dict else out

        return [leaf for ls, _ in parts for leaf in ls], rebuild_dict
    return [tree], lambda leaves: leaves[0]


def _is_namedtuple(t: Any) -> bool:
    return isinstance(t, tuple) and hasattr(t, "_fields")


def _map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, rebuild = _flatten(tree)
    return rebuild([fn(x) for x in leaves])


def _detach_tree(tree: Any) -> Any:
    return _map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


# ---- functional_call ------------------------------------------------------------------------


def _submodule(module: Any, path: list[str]) -> Any:
    m = module
    for name in path:
        sub = m._modules.get(name) if hasattr(m, "_modules") else None
        if sub is None:
            if hasattr(m, name):
                raise TypeError(
                    f"submodule `{name}`: {getattr(m, name)} is not an instance of Module"
                )
            raise AttributeError(f"{type(m).__name__} has no attribute `{name}`")
        m = sub
    return m


def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """module(*args, **kwargs) with its parameters and buffers replaced, for this call only,
    by the Tensors in parameter_and_buffer_dicts (a dict, or a tuple / list of dicts with
    disjoint keys, keyed by the names of named_parameters / named_buffers), as
    torch.func.functional_call. The module is restored afterwards (also when it raises).
    tie_weights: a value given for one name of a tied (shared) tensor applies to all its names.
    strict: missing or unexpected names are a RuntimeError. A name that is neither a parameter
    nor a buffer is set as a plain attribute for the call. args that is not a tuple is one
    positional argument."""
    from .nn.module import Module

    if not isinstance(module, Module):
        raise TypeError(
            f"functional_call: module: expected an nn.Module, got {type(module).__name__}"
        )
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        all_keys = [k for d in parameter_and_buffer_dicts for k in d]
        repeated = sorted({k for k in all_keys if all_keys.count(k) > 1})
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call "
                "is ambiguous"
            )
        merged = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
            f"got {type(parameter_and_buffer_dicts)}"
        )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)

    # every name of every parameter / buffer (tied ones under each of their names)
    names: dict[str, Any] = {}
    for n, t in module.named_parameters(remove_duplicate=False):
        names[n] = t
    for n, t in module.named_buffers(remove_duplicate=False):
        names[n] = t
    if tie_weights:
        by_id: dict[int, list[str]] = {}
        for n, t in names.items():
            by_id.setdefault(id(t), []).append(n)
        for group in by_id.values():
            if len(group) < 2:
                continue
            given = [n for n in group if n in merged]
            if not given:
                continue
            values = {id(merged[n]) for n in given}
            if len(values) > 1:
                raise ValueError(
                    f"functional_call got multiple values for keys {sorted(given)}, which are "
                    "tied. Consider using tie_weights=False"
                )
            for n in group:
                merged[n] = merged[given[0]]
    if strict:
        missing = [n for n in names if n not in merged]
        unexpected = [n for n in merged if n not in names]
        if missing or unexpected:
            msgs = []
            if unexpected:
                msgs.append("Unexpected key(s): " + ", ".join(repr(k) for k in unexpected) + ".")
            if missing:
                msgs.append("Missing key(s): " + ", ".join(repr(k) for k in missing) + ".")
            raise RuntimeError(
                f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(msgs)
            )

    _absent = object()
    undo: list[tuple[Any, str, str, Any]] = []  # (submodule, where, name, old value)
    try:
        for full, value in merged.items():
            *path, name = full.split(".")
            sub = _submodule(module, path)
            d = sub.__dict__
            # a registered tensor lives in its table and (for attribute reads) in __dict__
            for where in ("_parameters", "_buffers"):
                if name in d[where]:
                    undo.append((sub, where, name, d[where][name]))
                    d[where][name] = value
                    break
            undo.append((sub, "attr", name, d.get(name, _absent)))
            d[name] = value
        return module(*args, **kwargs)
    finally:
        for sub, where, name, old in reversed(undo):
            if where == "attr":
                if old is _absent:
                    sub.__dict__.pop(name, None)
                else:
                    sub.__dict__[name] = old
            else:
                sub.__dict__[where][name] = old


# ---- grad, grad_and_value, vjp, jacrev, jacfwd, hessian -------------------------------------


def _check_argnums(argnums: Any, n: int) -> tuple[int, ...]:
    if isinstance(argnums, tuple):
        if not argnums:
            raise RuntimeError("argnums must be non-empty")
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in argnums):
            raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
        nums = argnums
    elif isinstance(argnums, int) and not isinstance(argnums, bool):
        nums = (argnums,)
    else:
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    out = []
    for a in nums:
        if not -n <= a < n:
            raise RuntimeError(f"Got argnum={a}, but only {n} positional inputs")
        out.append(a % n)
    if len(set(out)) != len(out):
        raise RuntimeError(f"argnums must be unique, got {argnums}")
    return tuple(out)


def _check_leaf(x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if x.data.dtype.kind not in "fc":
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    return x


def _fresh(x: Tensor) -> Tensor:
    """A leaf the transform differentiates with respect to: a view of x where x requires grad
    (the result keeps its graph to x, as a transform nested in another's), else a detached
    copy made to require grad."""
    if x.requires_grad and is_grad_enabled():
        return x.view_as(x)
    return x.detach().requires_grad_(True)


def _reaches_outside(outs: list[Any], own: set[int]) -> bool:
    """Whether outs' graph reaches a tensor requiring grad other than the transform's own
    leaves: then the result must keep a graph (create_graph=True)."""
    seen: set[int] = set()
    stack_ = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
    while stack_:
        t = stack_.pop()
        k = id(t)
        if k in seen or k in own:
            continue
        seen.add(k)
        if t._backward is None:
            if t.requires_grad:
                return True
            continue
        stack_.extend(t._prev)
    return False


class _Prepared:
    """The differentiated arguments of one call: leaves, structure, new argument tuple."""

    def __init__(self, args: tuple[Any, ...], argnums: Any) -> None:
        self.nums = _check_argnums(argnums, len(args))
        self.single = not isinstance(argnums, tuple)
        new_args = list(args)
        self.leaves: list[Tensor] = []
        self.rebuilds = []
        self.counts = []
        for a in self.nums:
            leaves, rebuild = _flatten(args[a])
            fresh = [_fresh(_check_leaf(x)) for x in leaves]
            new_args[a] = rebuild(fresh)
            self.leaves += fresh
            self.rebuilds.append(rebuild)
            self.counts.append(len(fresh))
        self.args = tuple(new_args)
        # the walk of _reaches_outside stops at the detached leaves, not at the views
        self.own = {id(t) for t in self.leaves if t._backward is None}

    def structure(self, flat: list[Any]) -> Any:
        """Per-leaf values back in the arguments' structure (a bare one for an int argnums)."""
        out, i = [], 0
        for rebuild, n in zip(self.rebuilds, self.counts):
            out.append(rebuild(flat[i : i + n]))
            i += n
        return out[0] if self.single else tuple(out)


def _zeros_like(t: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
    xp = get_array_module(t.data)
    return Tensor(xp.zeros(tuple(t.shape) if shape is None else shape, dtype=t.data.dtype))


def _grads_of(
    outs: list[Tensor], leaves: list[Tensor], gos: list[Any], create_graph: bool
) -> list[Tensor]:
    """d(sum_k <gos[k], outs[k]>)/d leaf for each leaf (zeros where none reaches it)."""
    pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    if not pairs:
        return [_zeros_like(t) for t in leaves]
    res = _autograd_grad(
        [o for o, _ in pairs],
        leaves,
        [g for _, g in pairs],
        retain_graph=True,
        create_graph=create_graph,
        allow_unused=True,
    )
    return [_zeros_like(t) if g is None else g for g, t in zip(res, leaves)]


def _split_aux(out: Any, has_aux: bool, api: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def grad_and_value(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning (the gradient of func's scalar output with respect to the
    argnums arguments, the output) -- ((grad, (output, aux)) with has_aux), as
    torch.func.grad_and_value."""
    api = "grad_and_value(f)(*args)"

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prep = _Prepared(args, argnums)
        with enable_grad():
            out = func(*prep.args, **kwargs)
        out, aux = _split_aux(out, has_aux, api)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
        if out.ndim != 0:
            raise RuntimeError(
                f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{out.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        nest = is_grad_enabled() and _reaches_outside([out], prep.own)
        gs = _grads_of([out], prep.leaves, [None], nest)
        if not nest:
            out = out.detach()
            aux = _detach_tree(aux)
        g = prep.structure(gs)
        return (g, (out, aux)) if has_aux else (g, out)

    return wrapper


def grad(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the gradient of func's scalar output with respect to the argnums
    positional arguments (a pytree of Tensors each; a tuple of them for a tuple argnums), as
    torch.func.grad; with has_aux, func returns (output, aux) and this (grad, aux)."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """(func(*primals), vjp_fn[, aux]) as torch.func.vjp: vjp_fn(cotangents) (one per output
    leaf, in the output's structure) returns a tuple with the vector-Jacobian product for each
    primal (each in that primal's structure). vjp_fn may be called several times."""
    prep = _Prepared(primals, tuple(range(len(primals)))) if primals else None
    if prep is None:
        raise RuntimeError("vjp: expected at least one primal")
    with enable_grad():
        out = func(*prep.args)
    out, aux = _split_aux(out, has_aux, "vjp(f, *primals)")
    out_leaves, _ = _flatten(out)
    for o in out_leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"vjp(f, *primals): Expected f to be a function that has non-empty output "
                f"pytree of Tensors only, got a {type(o)}"
            )
    nest = is_grad_enabled() and _reaches_outside(out_leaves, prep.own)

    def vjp_fn(*cotangents: Any) -> tuple[Any, ...]:
        cts = cotangents[0] if len(cotangents) == 1 else cotangents
        ct_leaves, _ = _flatten(cts)
        if len(ct_leaves) != len(out_leaves):
            raise RuntimeError(
                f"Expected pytree structure of cotangents to be the same as pytree structure "
                f"of outputs to the function: got {len(ct_leaves)} cotangent(s) for "
                f"{len(out_leaves)} output(s)"
            )
        for i, (c, o) in enumerate(zip(ct_leaves, out_leaves)):
            if not isinstance(c, Tensor):
                raise RuntimeError(f"vjp_fn: cotangent {i} is a {type(c)}, expected a Tensor")
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(c.shape)} and "
                    f"output[{i}] has a shape of {tuple(o.shape)}."
                )
        cg = nest or (is_grad_enabled() and any(c.requires_grad for c in ct_leaves))
        gs = _grads_of(out_leaves, prep.leaves, ct_leaves, cg)
        if not cg:
            gs = [g.detach() for g in gs]
        res = prep.structure(gs)
        return res if isinstance(res, tuple) else (res,)

    shown = out if nest else _detach_tree(out)
    if has_aux:
        return shown, vjp_fn, (aux if nest else _detach_tree(aux))
    return shown, vjp_fn


def jacrev(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
    _preallocate_and_copy: bool = False,
) -> Callable[..., Any]:
    """A function returning the Jacobian of func with respect to the argnums arguments, as
    torch.func.jacrev: for each output leaf (in the output's structure) the Jacobian with
    respect to each argument leaf (in the arguments' structure), of shape out.shape +
    in.shape. One backward pass per output element (chunk_size is checked and ignored)."""
    _check_chunk(chunk_size, "jacrev")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prep = _Prepared(args, argnums)
        with enable_grad():
            out = func(*prep.args, **kwargs)
        out, aux = _split_aux(out, has_aux, "jacrev(f, ...)(*args)")
        out_leaves, out_rebuild = _flatten(out)
        for o in out_leaves:
            if not isinstance(o, Tensor):
                raise RuntimeError(
                    "jacrev(f, ...)(*args): Expected f to be a function that has non-empty "
                    f"output pytree of Tensors only, got a {type(o)}"
                )
        nest = is_grad_enabled() and _reaches_outside(out_leaves, prep.own)
        jacs = []
        for o in out_leaves:
            per_in = _jacobian(o, prep.leaves, nest)
            jacs.append(prep.structure(per_in))
        res = out_rebuild(jacs)
        if has_aux:
            return res, (aux if nest else _detach_tree(aux))
        return res

    return wrapper


def _jacobian(o: Tensor, leaves: list[Tensor], nest: bool) -> list[Tensor]:
    """d o / d leaf for each leaf, shaped o.shape + leaf.shape (reverse mode, row by row)."""
    shapes = [tuple(o.shape) + tuple(t.shape) for t in leaves]
    n = o.data.size
    if n == 0 or not o.requires_grad:
        return [_zeros_like(t, s).astype(o.data.dtype) for t, s in zip(leaves, shapes)]
    xp = get_array_module(o.data)
    rows: list[list[Tensor]] = [[] for _ in leaves]
    for j in range(n):
        seed = xp.zeros(n, dtype=o.data.dtype)
        seed[j] = 1
        gs = _grads_of([o], leaves, [seed.reshape(o.shape)], nest)
        for k, g in enumerate(gs):
            rows[k].append(g if nest else g.detach())
    return [stack(r).reshape(s) for r, s in zip(rows, shapes)]


def jacfwd(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable[..., Any]:
    """torch.func.jacfwd's result, computed in reverse mode (jacrev): the same Jacobian."""
    _check_randomness(randomness)
    return jacrev(func, argnums, has_aux=has_aux)


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """torch.func.hessian: jacfwd(jacrev(func, argnums), argnums) -- here reverse over
    reverse. Needs a double backward for every op func uses."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---- vmap ---------------------------------------------------------------------------------

_RANDOMNESS = ("error", "different", "same")


def _check_randomness(randomness: Any) -> None:
    if randomness not in _RANDOMNESS:
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. Got "
            f"{randomness}"
        )


def _check_chunk(chunk_size: Any, api: str) -> None:
    if chunk_size is not None and not (
        isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and chunk_size > 0
    ):
        raise ValueError(f"{api}: chunk_size should be None or greater than 0. (got {chunk_size})")


def _broadcast_dims(dims: Any, tree: Any, what: str, err: Callable[[str], Exception]) -> list[Any]:
    """dims (an int / None for all of tree, or a tree matching tree's structure) as one
    entry per leaf of tree."""
    if dims is None or (isinstance(dims, int) and not isinstance(dims, bool)):
        return [dims] * len(_flatten(tree)[0])
    # a tuple matches a tuple and a list a list (torch's pytree specs: list != tuple)
    if (isinstance(dims, tuple) and isinstance(tree, tuple)) or (
        isinstance(dims, list) and isinstance(tree, list)
    ):
        if len(dims) != len(tree):
            raise err(what)
        return [d for dd, t in zip(dims, tree) for d in _broadcast_dims(dd, t, what, err)]
    if isinstance(dims, dict) and isinstance(tree, dict):
        if set(dims) != set(tree):
            raise err(what)
        return [d for k in tree for d in _broadcast_dims(dims[k], tree[k], what, err)]
    raise err(what)


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """torch.func.vmap as a loop: for i in range(batch), func gets the i-th slice of every
    argument leaf mapped by in_dims (an int / None for a whole argument, or a tuple with one
    entry per positional argument, nesting into its tuples / lists / dicts; None: passed
    whole; keyword arguments are never mapped), and each output leaf is the stack of the
    results along its out_dims entry (None: the first result, not stacked). Correct, not fast:
    func runs once per example (see the module docstring); chunk_size is checked and ignored."""
    _check_randomness(randomness)
    _check_chunk(chunk_size, "vmap")
    name = getattr(func, "__name__", repr(func))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        head = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"
        if not (
            isinstance(in_dims, tuple)
            or (isinstance(in_dims, int) and not isinstance(in_dims, bool))
        ):  # a list too is torch's ValueError: in_dims matches the tuple of arguments
            raise ValueError(
                f"{head}: expected `in_dims` to be int or a (potentially nested) tuple matching "
                f"the structure of inputs, got: {type(in_dims)}."
            )

        def in_err(_: str) -> Exception:
            return ValueError(
                f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims "
                f"is {in_dims!r}, inputs are {len(args)} positional argument(s)"
            )

        dims = _broadcast_dims(in_dims, args, "in", in_err)
        leaves, rebuild = _flatten(args)
        sizes = []
        norm: list[int | None] = []
        for x, d in zip(leaves, dims):
            if d is None:
                norm.append(None)
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"{head}: Got in_dim={d} for an input but the input is of type {type(x)}. "
                    "We cannot vmap over non-Tensor arguments, please use None as the "
                    "respective in_dim"
                )
            if not -x.ndim <= d < max(x.ndim, 1) or x.ndim == 0:
                raise ValueError(
                    f"{head}: Got in_dim={d} for some input, but that input is a Tensor of "
                    f"dimensionality {x.ndim} so expected in_dim to satisfy "
                    f"-{x.ndim} <= in_dim < {x.ndim}."
                )
            norm.append(d % x.ndim)
            sizes.append(x.shape[d % x.ndim])
        if not sizes:
            raise ValueError(
                f"{head}: at least one input must be a Tensor with an in_dim that is not None "
                "(there is nothing to map over)"
            )
        if len(set(sizes)) > 1:
            raise ValueError(
                "vmap: Expected all tensors to have the same size in the mapped dimension, got "
                f"sizes {sizes} for the mapped dimension"
            )
        batch = sizes[0]
        start = get_rng_state()
        examples: dict[int, Tensor] = {}  # the slices given to func, kept alive (_batched)

        def call(i: int | None) -> Any:
            sliced = []
            for x, d in zip(leaves, norm):
                if d is None:
                    sliced.append(x)
                elif i is None:  # size 0: a zero example, only for the output shapes
                    shape = tuple(x.shape[:d]) + tuple(x.shape[d + 1 :])
                    sliced.append(Tensor(get_array_module(x.data).zeros(shape, x.data.dtype)))
                else:
                    sliced.append(x.select(d, i))
                    examples[id(sliced[-1])] = sliced[-1]
            if randomness == "same" or i is None:
                set_rng_state(start)
            before = get_rng_state() if randomness == "error" else None
            out = func(*rebuild(sliced), **kwargs)
            if before is not None and get_rng_state() != before:
                set_rng_state(before)
                raise RuntimeError(
                    "vmap: called random operation while in randomness error mode. Please "
                    "either use the 'same' or 'different' randomness flags on vmap or perform "
                    "the randomness operation out of vmap"
                )
            return out

        if batch == 0:
            results = [call(None)]
            set_rng_state(start)
        else:
            results = [call(i) for i in range(batch)]
        return _stack_outputs(results, batch, out_dims, name, examples)

    return wrapper


def _batched(per: list[list[Any]], k: int, sliced: dict[int, Tensor]) -> bool:
    """Whether output leaf k depends on the mapped examples (torch: it is a BatchedTensor):
    its value differs between examples, or its graph reaches one of them (x.select(d, i) of a
    mapped input with a graph). A Tensor with the same value for every example and no graph to
    them (a constant, an outer tensor) is not: torch returns it unbatched."""
    first = per[0][k]
    if not isinstance(first, Tensor):
        return False
    xp = get_array_module(first.data)
    for p in per[1:]:
        o = p[k]
        if o is first:
            continue
        if not isinstance(o, Tensor) or o.shape != first.shape or o.dtype != first.dtype:
            return True
        if not bool(xp.array_equal(o.data, first.data, equal_nan=first.data.dtype.kind in "fc")):
            return True
    seen: set[int] = set()
    for p in per:
        stack = [p[k]]
        while stack:
            t = stack.pop()
            if id(t) in sliced:
                return True
            if id(t) in seen:
                continue
            seen.add(id(t))
            stack.extend(t._prev)
    return False


def _stack_outputs(
    results: list[Any], batch: int, out_dims: Any, name: str, sliced: dict[int, Tensor]
) -> Any:
    head = f"vmap({name}, ..., out_dims={out_dims})(<inputs>)"

    def out_err(_: str) -> Exception:
        return ValueError(
            f"{head}: out_dims is not compatible with the structure of `outputs`. out_dims is "
            f"{out_dims!r}"
        )

    first, rebuild = _flatten(results[0])
    # a single output with a one-entry out_dims tuple is torch's too
    od = out_dims
    if isinstance(od, tuple) and len(od) == 1 and not isinstance(results[0], (tuple, list)):
        od = od[0]
    dims = _broadcast_dims(od, results[0], "out", out_err)
    per = [_flatten(r)[0] for r in results]
    stacked = []
    for k, (x, d) in enumerate(zip(first, dims)):
        if d is None:
            if _batched(per, k, sliced):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim "
                    "is None"
                )
            stacked.append(x)
            continue
        if not isinstance(x, Tensor):
            raise ValueError(
                f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(x)}. "
                "Did you mean to set out_dims= to None for output?"
            )
        nd = x.ndim + 1
        if not -nd <= d < nd:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but "
                f"got {d})"
            )
        if batch == 0:
            shape = list(x.shape)
            shape.insert(d % nd, 0)
            stacked.append(_zeros_like(x, tuple(shape)))
        else:
            stacked.append(stack([p[k] for p in per], d % nd))
    return rebuild(stacked)
