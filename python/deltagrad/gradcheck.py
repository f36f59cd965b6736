"""gradcheck: compare backward() with central differences of the forward, in float64."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .tensor import Tensor, get_array_module, no_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """An analytical gradient disagrees with the numerical one."""


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[Tensor]:
    outs = _as_tuple(fn(*inputs))
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(
                f"gradcheck: output {i} of fn is a {type(o).__name__}, expected a Tensor"
            )
    return list(outs)


def _flat_outputs(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[np.ndarray]:
    with no_grad():
        return [np.array(o.numpy(), dtype=np.float64).ravel() for o in _outputs(fn, inputs)]


def _host(a: Any) -> np.ndarray:
    """A Tensor, numpy or cupy array (or number) as a float64 numpy array."""
    if isinstance(a, Tensor):
        a = a.data
    return np.asarray(a.get() if hasattr(a, "get") else a, dtype=np.float64)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    fast_mode: bool = False,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check the gradients of fn at inputs against central differences (f(x+e) - f(x-e)) / 2e.

    fn maps the inputs (a Tensor or a tuple of them; other values pass through) to a Tensor or a
    tuple of Tensors. Every floating input with requires_grad=True is checked, as a float64
    copy. An entry passes when |analytical - numerical| <= atol + rtol * |numerical|.
    fast_mode checks v^T J u for random u, v instead of the full Jacobian J (one backward and
    two forwards per input instead of one per element).

    On failure: raises GradcheckError naming the worst (output, input, index) with the
    numerical and analytical values, or returns False when raise_exception=False.
    """
    raw = _as_tuple(inputs)
    args: list[Any] = []
    checked: list[int] = []
    for i, x in enumerate(raw):
        if isinstance(x, Tensor) and x.requires_grad:
            xp = get_array_module(x.data)
            args.append(Tensor(xp.array(x.data, dtype=np.float64), requires_grad=True))
            checked.append(i)
        else:
            args.append(x)
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")
    args_t = tuple(args)

    outs = _outputs(fn, args_t)
    rng = np.random.default_rng(seed)
    worst: tuple[float, str] | None = None  # (excess over the tolerance, message)

    def judge(numerical: float, analytical: float, where: str) -> None:
        nonlocal worst
        excess = abs(analytical - numerical) - (atol + rtol * abs(numerical))
        if not np.isfinite(analytical) and not np.isfinite(numerical) and analytical == numerical:
            return
        if not np.isfinite(excess):
            excess = np.inf
        if excess > 0 and (worst is None or excess > worst[0]):
            worst = (
                excess,
                f"{where}: numerical {numerical:.10g}, analytical "
                f"{analytical:.10g} (|diff| {abs(analytical - numerical):.3g} > "
                f"atol + rtol*|numerical| = {atol + rtol * abs(numerical):.3g})",
            )

    def perturbed(i: int, delta: Any) -> list[np.ndarray]:
        x = args_t[i]
        orig = x.data
        xp = get_array_module(orig)
        x.data = orig + xp.asarray(delta)
        try:
            return _flat_outputs(fn, args_t)
        finally:
            x.data = orig

    def analytical_vjp(o: int, v: Any) -> list[np.ndarray]:
        """Gradients of sum(v * outputs[o]) with respect to every checked input."""
        for i in checked:
            args_t[i].grad = None
        out = _outputs(fn, args_t)[o]
        if not out.requires_grad:
            return [np.zeros(args_t[i].data.size) for i in checked]
        xp = get_array_module(out.data)
        out.backward(xp.asarray(v.reshape(out.shape)))
        return [
            np.zeros(args_t[i].data.size)
            if args_t[i].grad is None
            else _host(args_t[i].grad).ravel()
            for i in checked
        ]

    if fast_mode:
        for o, out in enumerate(outs):
            v = rng.standard_normal(out.data.size)
            grads = analytical_vjp(o, v)
            for k, i in enumerate(checked):
                u = rng.standard_normal(args_t[i].shape)
                plus, minus = perturbed(i, eps * u)[o], perturbed(i, -eps * u)[o]
                numerical = float(v @ ((plus - minus) / (2 * eps)))
                analytical = float(grads[k] @ u.ravel())
                judge(numerical, analytical, f"output {o}, input {i}, v^T J u (fast mode)")
    else:
        # the Jacobian's rows by backward (one per output element), its columns by differences
        rows = [
            [analytical_vjp(o, np.eye(1, out.data.size, j).ravel()) for j in range(out.data.size)]
            for o, out in enumerate(outs)
        ]
        for k, i in enumerate(checked):
            x = args_t[i]
            for flat in range(x.data.size):
                delta = np.zeros(x.data.size)
                delta[flat] = eps
                delta = delta.reshape(x.shape)
                plus, minus = perturbed(i, delta), perturbed(i, -delta)
                idx = [int(v) for v in np.unravel_index(flat, x.shape)]
                for o, out in enumerate(outs):
                    col = (plus[o] - minus[o]) / (2 * eps)
                    for j in range(out.data.size):
                        oidx = [int(v) for v in np.unravel_index(j, out.shape)]
                        judge(
                            float(col[j]),
                            float(rows[o][j][k][flat]),
                            f"output {o}{oidx}, input {i}{idx}",
                        )
    for i in checked:
        args_t[i].grad = None
    if worst is None:
        return True
    if raise_exception:
        raise GradcheckError(f"gradcheck failed; worst mismatch at {worst[1]}")
    return False


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
    seed: int = 0,
) -> bool:
    """Check second derivatives, as torch.autograd.gradgradcheck: gradcheck of the function
    (inputs, grad_outputs) -> dg.autograd.grad(func(inputs), inputs, grad_outputs,
    create_graph=True) (the first gradients, with their graph), so both the inputs' and the
    grad_outputs' derivatives are checked.

    grad_outputs: one Tensor per output of func that requires grad; None draws them uniform
    in [-1, 1) (from numpy's generator seeded with seed, a deltagrad argument: torch draws from
    its global generator), requiring grad. gen_non_contig_grad_outputs is accepted (the check
    runs on contiguous float64 copies either way). check_batched_grad and check_fwd_over_rev
    need vmap / forward-mode AD, which deltagrad lacks: True raises NotImplementedError.
    nondet_tol, check_undefined_grad, check_grad_dtypes and masked are accepted and have no
    effect (deltagrad's backwards are deterministic and dense)."""
    from .autograd import grad as _grad  # autograd imports this module
    from .tensor import enable_grad

    if check_batched_grad or check_fwd_over_rev:
        what = "check_batched_grad" if check_batched_grad else "check_fwd_over_rev"
        raise NotImplementedError(
            f"gradgradcheck: {what}=True needs "
            + ("vmap" if check_batched_grad else "forward-mode AD")
            + ", which deltagrad does not have"
        )
    if not check_rev_over_rev:
        return True  # torch: nothing left to check
    tupled_inputs = _as_tuple(inputs)
    if grad_outputs is None:
        with enable_grad():
            outs = [o for o in _outputs(func, tupled_inputs) if o.requires_grad]
        rng = np.random.default_rng(seed)
        tupled_grads: tuple[Any, ...] = tuple(
            Tensor(
                get_array_module(o.data).asarray(
                    rng.uniform(-1.0, 1.0, o.shape), dtype=o.data.dtype
                ),
                requires_grad=True,
            )
            for o in outs
        )
    else:
        tupled_grads = _as_tuple(grad_outputs)
    n_out = len(tupled_grads)
    if n_out == 0:
        raise ValueError("gradgradcheck: func has no output that requires grad")
    diff_in = [i for i, x in enumerate(tupled_inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_grads(*args: Any) -> tuple[Tensor, ...]:
        ins, gos = args[:-n_out], args[-n_out:]
        with enable_grad():  # gradcheck's numerical pass runs fn under no_grad
            outs = [o for o in _outputs(func, ins) if o.requires_grad]
            if len(outs) != n_out:
                raise ValueError(
                    f"gradgradcheck: grad_outputs has {n_out} entries, func has {len(outs)} "
                    "outputs that require grad"
                )
            gs = _grad(
                outs, [ins[i] for i in diff_in], list(gos), create_graph=True, allow_unused=True
            )
        return tuple(g for g in gs if g is not None)

    return gradcheck(
        first_grads,
        tupled_inputs + tupled_grads,
        eps=eps,
        atol=atol,
        rtol=rtol,
        fast_mode=fast_mode,
        raise_exception=raise_exception,
        seed=seed,
    )
