"""deltagrad.autograd.functional: torch.autograd.functional (vjp, jvp, jacobian, hessian, hvp,
vhp).

    from deltagrad.autograd.functional import jacobian, vjp
    J = jacobian(lambda x, w: (x @ w).tanh(), (x, w))      # ((out x in0), (out x in1))
    out, g = vjp(lambda x: x.exp().sum(1), x, v)

vjp and jacobian return what torch's return: the same nesting (a bare Tensor where the argument
was a bare Tensor, tuples where it was a tuple, a tuple of tuples for the Jacobian of several
outputs by several inputs), shapes out.shape + in.shape, the input's dtype, nothing attached
to a graph. As torch, the inputs are detached copies made to require grad (the caller's tensors
never get a graph), `func` runs with grad mode on, and an output no input reaches gets zeros
(or, with strict=True, the error torch raises).

jvp is computed without torch's double-backward trick: one reverse pass per output element
builds the Jacobian, and J @ v is exact; that costs out.numel() backward passes, fine for small
outputs. jvp(create_graph=True) uses torch's trick (through ops with a double backward).
hessian, hvp, vhp and create_graph=True of vjp / jacobian differentiate through the backward
(dg.autograd.grad(create_graph=True)); as torch, with create_graph=True the inputs keep their
graph (a view of each) and the results have one.
hvp is computed as vhp (v^T H = (H v)^T for the symmetric Hessian of a scalar function), which
torch's double-backward trick also equals up to rounding.

deltagrad.autograd is a module, not a package: this file is registered as its `functional`
submodule (deltagrad/autograd.py binds it and puts it in sys.modules under that name).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from .autograd import grad as _grad
from .backends._args import is_device_array as _is_cuda_array
from .tensor import Tensor, _graph_freed, enable_grad, get_array_module, set_grad_enabled, stack

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

_MODES = ("forward-mode", "reverse-mode")


# ---- argument handling (torch's checks and messages) -------------------------------------


def _as_tuple(x: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(whether x was a tuple, x as a tuple of Tensors), as torch's: only a tuple counts as a
    sequence (a list is refused), every element must be a Tensor."""
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(
                f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of "
                f"Tensors but {where} has type {type(el)}."
            )
    return is_tuple, items


def _postprocess(res: Any, to_unpack: bool | tuple[bool, bool]) -> Any:
    """Undo _as_tuple on a result: a bare value where the argument was bare (torch's
    _tuple_postprocess; a pair unpacks the outer (outputs) and inner (inputs) levels)."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _leaves(
    inputs: tuple[Tensor, ...], fn_name: str, create_graph: bool = False
) -> tuple[Tensor, ...]:
    """Fresh leaves sharing the inputs' data, requiring grad (torch's _grad_preprocess): the
    graph func builds hangs off them, never off the caller's tensors, and a tensor func
    captures from outside is told apart from the argument. With create_graph, an input that
    requires grad is a view of itself instead (the results keep their graph to it)."""
    res = []
    for i, t in enumerate(inputs):
        if t.data.dtype.kind != "f":
            raise RuntimeError(
                f"{fn_name}: inputs[{i}] has dtype {t.data.dtype}: only Tensors of floating "
                "point dtype can require gradients"
            )
        if create_graph and t.requires_grad:
            res.append(t.view_as(t))
        else:
            res.append(t.detach().requires_grad_(True))
    return tuple(res)


def _post(ts: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
    """torch's _grad_postprocess: detached unless create_graph."""
    return ts if create_graph else tuple(t.detach() for t in ts)


def _grads(
    outs: tuple[Tensor, ...],
    inputs: tuple[Tensor, ...],
    gos: Any = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> tuple[Any, ...]:
    """torch's _autograd_grad: grad of the outputs that require grad (None per input when
    none does), allow_unused."""
    gos = (None,) * len(outs) if gos is None else gos
    pairs = [(o, g) for o, g in zip(outs, gos) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _grad(
        [o for o, _ in pairs],
        inputs,
        [g for _, g in pairs],
        retain_graph=retain_graph,
        create_graph=create_graph,
        allow_unused=True,
    )


def _call(func: Callable[..., Any], inputs: tuple[Tensor, ...], fn_name: str) -> Any:
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "outputs of the user-provided function", fn_name)


def _check_outputs(outputs: tuple[Tensor, ...], strict: bool) -> None:
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"Output {i} of the user-provided function does not require gradients. The "
                "outputs must be computed in a differentiable manner from the input when "
                "running in strict mode."
            )


def _validate_v(v: tuple[Tensor, ...], other: tuple[Tensor, ...], is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}."
            )
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        prepend = f"Entry {idx} in " if is_other_tuple else ""
        if tuple(el_v.shape) != tuple(el_other.shape):
            raise RuntimeError(
                f"{prepend}v has invalid size: should be {tuple(el_other.shape)} but got "
                f"{tuple(el_v.shape)}."
            )
        if _is_cuda_array(el_v.data) != _is_cuda_array(el_other.data):
            raise RuntimeError(
                f"{prepend}v is on {el_v.device}, expected {el_other.device} (where the "
                "Tensor it pairs with is)"
            )


def _strict_requires_grad(ts: tuple[Any, ...], kind: str, strict: bool) -> None:
    """torch's _check_requires_grad for the second-order functions (strict mode only)."""
    if not strict:
        return
    for i, t in enumerate(ts):
        if t is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}. This "
                "is not allowed in strict mode."
            )
        if not t.requires_grad:
            if kind == "outputs":
                raise RuntimeError(
                    f"Output {i} of the user-provided function does not require gradients. The "
                    "outputs must be computed in a differentiable manner from the input when "
                    "running in strict mode."
                )
            raise RuntimeError(
                "While computing the hessian, found that the jacobian of the user-provided "
                f"function with respect to input {i} is independent of the input. This is not "
                "allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example)."
            )


def _wrap(a: Any) -> Tensor:
    return Tensor._make(a, (), _graph_freed, "")


def _zeros(t: Tensor, shape: tuple[int, ...] | None = None, dtype: Any = None) -> Tensor:
    shape = tuple(t.shape) if shape is None else shape
    dtype = t.data.dtype if dtype is None else dtype
    return _wrap(get_array_module(t.data).zeros(shape, dtype=dtype))


# ---- the Jacobian of one output, row by row -----------------------------------------------


def _jacobian_rows(out: Tensor, inputs: tuple[Tensor, ...]) -> list[Any]:
    """d out / d inputs[k] as an (out.numel(), inputs[k].numel()) array per input, in that
    input's dtype, or None where no path leads from the input to out (structurally, as torch
    tells an unused input: not by the values). One reverse pass per element of out."""
    if not out.requires_grad:
        return [None] * len(inputs)
    xp = get_array_module(out.data)
    n = out.data.size
    if n == 0:  # no rows: one pass with an empty gradient only tells which inputs are reached
        g = _grad(out, inputs, xp.zeros(out.shape, out.data.dtype), True, allow_unused=True)
        return [
            None if gk is None else xp.zeros((0, t.data.size), gk.data.dtype)
            for gk, t in zip(g, inputs)
        ]
    seed = xp.zeros(out.shape, dtype=out.data.dtype)
    flat = seed.reshape(-1)  # a view: setting one element of it sets seed's
    mats: list[Any] = [None] * len(inputs)
    for j in range(n):
        flat[j] = 1
        g = _grad(out, inputs, seed, retain_graph=True, allow_unused=True)
        flat[j] = 0
        for k, gk in enumerate(g):
            if gk is None:
                continue
            if mats[k] is None:
                mats[k] = xp.zeros((n, inputs[k].data.size), dtype=gk.data.dtype)
            mats[k][j] = gk.data.reshape(-1)
    return mats


# ---- public API ---------------------------------------------------------------------------


def vjp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """(func(*inputs), v^T J): the vector-Jacobian product, as torch.autograd.functional.vjp.

    inputs: a Tensor or a tuple of Tensors; v: one Tensor per output, of its shape (None for a
    single one-element output: 1). The products have the inputs' shapes and dtypes; an input no
    output depends on gets zeros (strict=True: RuntimeError). Nothing returned has a graph,
    unless create_graph=True (then the outputs and products keep theirs, as torch's)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    inputs = _leaves(inputs, "vjp", create_graph)
    is_outputs_tuple, outputs = _call(func, inputs, "vjp")
    _check_outputs(outputs, strict)
    if v is not None:
        _, v = _as_tuple(v, "v", "vjp")
        _validate_v(v, outputs, is_outputs_tuple)
        v = tuple(el if create_graph and el.requires_grad else el.detach() for el in v)
    elif len(outputs) != 1 or outputs[0].data.size != 1:
        raise RuntimeError(
            "The vector v can only be None if the user-provided function returns a single "
            "Tensor with a single element."
        )
    else:
        v = (None,)
    grads = _grads(outputs, inputs, v, create_graph)
    res = []
    for i, (g, t) in enumerate(zip(grads, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"The output of the user-provided function is independent of input {i}. "
                    "This is not allowed in strict mode."
                )
            g = _zeros(t)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(
                "The jacobian of the user-provided function is independent of input "
                f"{i}. This is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    outputs = _post(outputs, create_graph)
    res = list(_post(tuple(res), create_graph))
    return _postprocess(outputs, is_outputs_tuple), _postprocess(tuple(res), is_inputs_tuple)


def jacobian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of func at inputs, as torch.autograd.functional.jacobian: J[i][j] of shape
    outputs[i].shape + inputs[j].shape (a bare Tensor for a bare output and a bare input, one
    level of tuple where either was a tuple, two where both were), in the input's dtype
    (strategy="forward-mode": the output's). An input output i does not depend on gives zeros
    (strict=True: RuntimeError).

    Always reverse mode, one pass per output element: vectorize=True (torch's batched grad)
    gives the same values the same way; strategy="forward-mode" is accepted where torch accepts
    it (vectorize=True) and computed the same way too (the values are the same; the nesting
    is torch's forward-mode one, lists where a tuple of inputs was given)."""
    if strategy not in _MODES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    forward = strategy == "forward-mode"
    if forward:
        if create_graph:
            raise NotImplementedError(
                "autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`create_graph=False` or `strategy="reverse-mode"`.'
            )
        if strict:
            raise RuntimeError(
                'autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are '
                "not supported together (yet). Please either set `strict=False` or "
                '`strategy="reverse-mode"`.'
            )
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if forward and not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is only "
            "implemented for `vectorize=True`."
        )
    inputs = _leaves(inputs, "jacobian", create_graph)
    is_outputs_tuple, outputs = _call(func, inputs, "jacobian")
    _check_outputs(outputs, strict)
    if vectorize and strict:
        raise RuntimeError(
            "autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
            "supported together. Please either set `strict=False` or `vectorize=False`."
        )
    if create_graph:
        return _postprocess(
            _jacobian_graph(outputs, inputs, strict), (is_outputs_tuple, is_inputs_tuple)
        )
    jac = []
    for i, out in enumerate(outputs):
        mats = _jacobian_rows(out, inputs)
        row = []
        for k, (m, t) in enumerate(zip(mats, inputs)):
            shape = tuple(out.shape) + tuple(t.shape)
            dtype = out.data.dtype if forward else t.data.dtype
            if m is None:
                if strict:
                    raise RuntimeError(
                        f"Output {i} of the user-provided function is independent of input "
                        f"{k}. This is not allowed in strict mode."
                    )
                row.append(_zeros(t, shape, dtype))
            else:
                row.append(_wrap(m.reshape(shape).astype(dtype, copy=False)))
        jac.append(row if forward else tuple(row))
    # torch's forward-mode path nests lists where the reverse-mode one nests tuples: the same
    return _postprocess(jac if forward else tuple(jac), (is_outputs_tuple, is_inputs_tuple))


def _jacobian_graph(
    outputs: tuple[Tensor, ...], inputs: tuple[Tensor, ...], strict: bool
) -> tuple[tuple[Tensor, ...], ...]:
    """jacobian(create_graph=True), as torch's: one grad(create_graph=True) per output element,
    stacked with Tensor ops, so the Jacobian keeps its graph to the inputs."""
    jac = []
    for i, out in enumerate(outputs):
        rows: list[list[Tensor]] = [[] for _ in inputs]
        flat = out.reshape(-1)
        for j in range(out.data.size):
            vj = _grads((flat[j],), inputs, create_graph=True, retain_graph=True)
            for k, (g, t) in enumerate(zip(vj, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(
                            f"Output {i} of the user-provided function is independent of "
                            f"input {k}. This is not allowed in strict mode."
                        )
                    g = _zeros(t)
                elif strict and not g.requires_grad:
                    raise RuntimeError(
                        "The jacobian of the user-provided function is independent of input "
                        f"{k}. This is not allowed in strict mode when create_graph=True."
                    )
                rows[k].append(g)
        row = []
        for k, t in enumerate(inputs):
            shape = tuple(out.shape) + tuple(t.shape)
            if rows[k]:
                row.append(stack(rows[k], 0).reshape(shape))
            else:  # an empty output: no rows
                row.append(_zeros(t, shape))
        jac.append(tuple(row))
    return tuple(jac)


def jvp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """(func(*inputs), J v): the Jacobian-vector product, as torch.autograd.functional.jvp.

    v: one Tensor per input, of its shape (None for a single one-element input: 1). The
    products have the outputs' shapes and dtypes; an output no input reaches gets zeros.
    Without create_graph the Jacobian is built (one reverse pass per output element) and
    multiplied by v: exact, O(out.numel()) passes, for small outputs, through any op. With
    create_graph=True it is torch's double-backward trick (two grad calls, the results keep
    their graph), which needs every op on the way to have a double backward. strict=True
    raises where torch's does (an input no output depends on, an output that depends on no
    input)."""
    if create_graph:
        return _jvp_graph(func, inputs, v, strict)
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    inputs = _leaves(inputs, "jvp")
    if v is not None:
        _, v = _as_tuple(v, "v", "jvp")
        _validate_v(v, inputs, is_inputs_tuple)
        vs = [el.data for el in v]
    elif len(inputs) != 1 or inputs[0].data.size != 1:
        raise RuntimeError(
            "The vector v can only be None if the input to the user-provided function is a "
            "single Tensor with a single element."
        )
    else:
        vs = [get_array_module(inputs[0].data).ones_like(inputs[0].data)]
    is_outputs_tuple, outputs = _call(func, inputs, "jvp")
    _check_outputs(outputs, strict)
    mats = [_jacobian_rows(out, inputs) for out in outputs]
    if strict:
        for k in range(len(inputs)):
            if all(m[k] is None for m in mats):
                raise RuntimeError(
                    f"The output of the user-provided function is independent of input {k}. "
                    "This is not allowed in strict mode."
                )
    res = []
    for i, (out, m) in enumerate(zip(outputs, mats)):
        if all(mk is None for mk in m):
            if strict:
                raise RuntimeError(
                    "The gradient with respect to the input is independent of entry "
                    f"{i} in the grad_outputs when using the double backward trick to compute "
                    "forward mode gradients. This is not allowed in strict mode."
                )
            res.append(_zeros(out))
            continue
        xp = get_array_module(out.data)
        acc = None
        for mk, vk in zip(m, vs):
            if mk is not None:
                p = mk @ vk.reshape(-1)
                acc = p if acc is None else acc + p
        res.append(_wrap(xp.asarray(acc).astype(out.data.dtype).reshape(out.shape)))
    outputs = tuple(o.detach() for o in outputs)
    return _postprocess(outputs, is_outputs_tuple), _postprocess(tuple(res), is_outputs_tuple)


def _jvp_graph(func: Callable[..., Any], inputs: Any, v: Any, strict: bool) -> tuple[Any, Any]:
    """jvp(create_graph=True), as torch's: J v = d/du (u^T J)^T v, with u zeros that require
    grad (the backward is linear in u, so its value does not matter)."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _leaves(inputs, "jvp", True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = tuple(el.view_as(el) if el.requires_grad else el.detach() for el in v)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].data.size != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a "
                "single Tensor with a single element."
            )
        is_outputs_tuple, outputs = _call(func, inputs, "jvp")
        _check_outputs(outputs, strict)
        grad_outputs = tuple(
            Tensor(get_array_module(o.data).zeros_like(o.data), requires_grad=True) for o in outputs
        )
        grad_inputs = _grads(outputs, inputs, grad_outputs, create_graph=True)
        if strict:
            for i, gi in enumerate(grad_inputs):
                if gi is None:
                    raise RuntimeError(
                        f"The output of the user-provided function is independent of input {i}."
                        " This is not allowed in strict mode."
                    )
                if not gi.requires_grad:
                    raise RuntimeError(
                        f"The gradient with respect to input {i} is independent of the inputs "
                        "of the user-provided function. This is not allowed in strict mode."
                    )
        grad_res = _grads(grad_inputs, grad_outputs, v, create_graph=True)
        res = []
        for i, (g, out) in enumerate(zip(grad_res, outputs)):
            if g is None:
                if strict:
                    raise RuntimeError(
                        "The gradient with respect to the input is independent of entry "
                        f"{i} in the grad_outputs when using the double backward trick to "
                        "compute forward mode gradients. This is not allowed in strict mode."
                    )
                g = _zeros(out)
            res.append(g)
    return _postprocess(outputs, is_outputs_tuple), _postprocess(tuple(res), is_outputs_tuple)


def hessian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a scalar func at inputs, as torch.autograd.functional.hessian: the
    Jacobian (outer_jacobian_strategy, vectorize, strict as jacobian's) of func's gradient
    (computed with create_graph=True). H[i][j] has shape inputs[i].shape + inputs[j].shape
    (a bare Tensor for a bare input, a tuple of tuples for a tuple of inputs)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _MODES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def ensure_single_output_function(*inp: Tensor) -> Tensor:
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _strict_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.data.size != 1:
            raise RuntimeError(
                "The Tensor returned by the function given to hessian should contain a single "
                "element"
            )
        return out.squeeze()

    def jac_func(*inp: Tensor) -> Any:
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _strict_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(
        jac_func,
        inputs,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    return _postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _second_order_product(
    fn_name: str, func: Callable[..., Any], inputs: Any, v: Any, create_graph: bool, strict: bool
) -> tuple[Any, Any]:
    """vhp and hvp: (func(*inputs), v^T H) for a scalar func, as torch's (the argument checks,
    strict mode and the create_graph handling)."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
        inputs = _leaves(inputs, fn_name, create_graph)
        if v is not None:
            _, v = _as_tuple(v, "v", fn_name)
            v = tuple(el if create_graph and el.requires_grad else el.detach() for el in v)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].data.size != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a "
                "single Tensor with a single element."
            )
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(
            outputs, "outputs of the user-provided function", fn_name
        )
        _strict_requires_grad(outputs, "outputs", strict)
        if is_outputs_tuple or not isinstance(outputs[0], Tensor):
            raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
        if outputs[0].data.size != 1:
            raise RuntimeError(
                f"The Tensor returned by the function given to {fn_name} should contain a "
                "single element"
            )
        jac = _grads(outputs, inputs, create_graph=True)
        _strict_requires_grad(jac, "jacobian", strict)
    with set_grad_enabled(True) if create_graph else contextlib.nullcontext():
        grad_res = _grads(jac, inputs, v, create_graph=create_graph)
    res = []
    for i, (g, t) in enumerate(zip(grad_res, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(
                    "The jacobian of the user-provided function is independent of "
                    f"input {i}. This is not allowed in strict mode."
                )
            g = _zeros(t)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(
                "The hessian of the user-provided function is independent of "
                f"input {i}. This is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    outputs = _post(outputs, create_graph)
    out_res = _post(tuple(res), create_graph)
    return _postprocess(outputs, is_outputs_tuple), _postprocess(out_res, is_inputs_tuple)


def vhp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """(func(*inputs), v^T H): the vector-Hessian product of a scalar func, as
    torch.autograd.functional.vhp; v one Tensor per input, of its shape (None for a single
    one-element input)."""
    return _second_order_product("vhp", func, inputs, v, create_graph, strict)


def hvp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """(func(*inputs), H v): the Hessian-vector product of a scalar func, as
    torch.autograd.functional.hvp (computed as v^T H: the Hessian is symmetric)."""
    return _second_order_product("hvp", func, inputs, v, create_graph, strict)
