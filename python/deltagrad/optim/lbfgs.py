"""deltagrad.optim.LBFGS: torch.optim.LBFGS in array code (numpy or cupy), step for step
torch 2.13's implementation: one flat view of every parameter and gradient, the two-loop
recursion over the last history_size (s, y) pairs, torch's first-step scaling
lr * min(1, 1 / |g|_1), its stopping rules and its strong-Wolfe line search (_strong_wolfe and
_cubic_interpolate, ported from torch's lbfgs.py, itself from torch7's lswolfe.lua).

The scalars torch keeps as 0-d tensors (ys, ro, H_diag, al, gtd, the step t once computed from
the gradient) are 0-d array scalars of the flat gradient's dtype here, and those torch keeps as
Python numbers (lr, the loss, t = lr) stay Python numbers: numpy's promotion of the one with
the other is torch's, so float32 parameters round as torch's do."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor, get_array_module
from .optimizer import Optimizer, _grad_of, _nonneg

__all__ = ["LBFGS"]


# ---- argument checks (where, name, value) -> normalized value -------------------------------


def _count(where: str, name: str, value: Any, low: int) -> int:
    """An integer >= low (an integral float is accepted, as torch's loops compare numbers)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name}: expected an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        v = int(value)
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        v = int(value)
    else:
        raise TypeError(f"{where}: {name}: expected an integer, got {value!r}")
    if v < low:
        raise ValueError(f"{where}: {name}: expected an integer >= {low}, got {v}")
    return v


def _iterations(where: str, name: str, value: Any) -> int:
    """max_iter and max_eval: >= 0 (0 iterations: step() only evaluates the closure)."""
    return _count(where, name, value, 0)


def _history(where: str, name: str, value: Any) -> int:
    """history_size: >= 1 (torch's 0 fails with an IndexError popping an empty history)."""
    return _count(where, name, value, 1)


# ---- the strong-Wolfe line search (torch's, with its Python-number / 0-d tensor mix) ---------


def _cubic_interpolate(
    x1: Any,
    f1: Any,
    g1: Any,
    x2: Any,
    f2: Any,
    g2: Any,
    bounds: tuple[Any, Any] | None = None,
) -> Any:
    """The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to bounds
    (default: [min(x1, x2), max(x1, x2)]); the middle of the bounds when the cubic has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = get_array_module(d2_square).sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(
    obj_func: Callable[[Any, Any, Any], tuple[float, Any]],
    x: list[Any],
    t: Any,
    d: Any,
    f: float,
    g: Any,
    gtd: Any,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Any, Any, int]:
    """torch's _strong_wolfe: (loss, flat gradient, step, closure evaluations) at a step t
    along d from x meeting the strong Wolfe conditions (c1, c2), found by bracketing then
    zooming with cubic interpolation, in at most max_ls evaluations after the first."""
    d_norm = abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    # out of evaluations (torch tests ==: a negative max_ls, max_eval=0, leaves its bracket
    # unbound and fails with an UnboundLocalError; here it is the same as 0)
    if ls_iter >= max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point meets the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # a t too close to an end of the bracket (twice in a row, or on / past it) moves to
        # 0.1 of the bracket's length from the nearest end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not met, or not lower than the lowest point: the new high
            bracket[high_pos] = t
            bracket_f[high_pos] = f_new
            bracket_g[high_pos] = g_new.copy()
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high becomes the new low
                bracket[high_pos] = bracket[low_pos]
                bracket_f[high_pos] = bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos] = t
            bracket_f[low_pos] = f_new
            bracket_g[low_pos] = g_new.copy()
            bracket_gtd[low_pos] = gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


# ---- the optimizer ----------------------------------------------------------------------------

# state keys: counters, Python-or-0-d scalars, flat vectors, lists of flat vectors / of scalars
_COUNTERS = frozenset({"func_evals", "n_iter"})
_SCALARS = frozenset({"t", "H_diag", "prev_loss"})
_VECTORS = frozenset({"d", "prev_flat_grad"})
_VECTOR_LISTS = frozenset({"old_dirs", "old_stps"})
_SCALAR_LISTS = frozenset({"ro", "al"})


class LBFGS(Optimizer):
    """torch.optim.LBFGS: L-BFGS over all parameters as one flat vector, one param group only.

    step(closure) runs up to max_iter iterations (max_eval closure evaluations, default
    max_iter * 5 // 4) and returns the loss of the first evaluation; closure() must zero the
    gradients, compute the loss, call backward() and return the loss (it runs with gradients
    enabled). line_search_fn: None (fixed steps of lr; the first step of all is scaled by
    min(1, 1 / |g|_1)) or 'strong_wolfe'. The state (func_evals, n_iter, d, t, old_dirs,
    old_stps, ro, H_diag, prev_flat_grad, prev_loss, al) is kept, as torch keeps it, as the
    state of the first parameter. Memory: 2 * history_size + 4 flat copies of the parameters."""

    _state_keys = _COUNTERS | _SCALARS | _VECTORS | _VECTOR_LISTS | _SCALAR_LISTS
    _checks = {
        "lr": _nonneg,
        "max_iter": _iterations,
        "max_eval": _iterations,
        "tolerance_grad": _nonneg,
        "tolerance_change": _nonneg,
        "history_size": _history,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        lr = _nonneg("LBFGS", "lr", lr)  # first, as torch checks lr before anything
        max_iter = _iterations("LBFGS", "max_iter", max_iter)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Refused: LBFGS has one param group (torch adds it, then fails in step())."""
        raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    @property
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    # ---- the flat views ------------------------------------------------------------------

    def _flat_dtype(self) -> Any:
        return np.result_type(*(p.data.dtype for p in self._params))

    def _gather_flat_grad(self) -> Any:
        """Every gradient, flattened and concatenated (zeros for a parameter without one)."""
        xp = get_array_module(self._params[0].data)
        views = [
            xp.zeros(p.data.size, dtype=p.data.dtype) if p.grad is None else _grad_of(p).reshape(-1)
            for p in self._params
        ]
        return xp.concatenate(views)

    def _add_grad(self, step_size: Any, update: Any) -> None:
        """Every parameter += step_size * its slice of update, in place."""
        offset = 0
        for p in self._params:
            w = p.data
            n = w.size
            w += (step_size * update[offset : offset + n]).reshape(w.shape)
            p._version[0] += 1  # changed in place: a graph that saved p refuses backward
            offset += n

    def _clone_param(self) -> list[Any]:
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data: list[Any]) -> None:
        for p, x in zip(self._params, params_data):
            p.data[...] = x
            p._version[0] += 1

    def _directional_evaluate(
        self, closure: Callable[[], float], x: list[Any], t: Any, d: Any
    ) -> tuple[float, Any]:
        """(loss, flat gradient) at x + t * d; the parameters are x again after."""
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---- step ----------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to max_iter L-BFGS iterations; returns the first closure() result."""
        if closure is None or not callable(closure):
            raise TypeError(
                "LBFGS.step: closure: expected a callable that re-evaluates the model and "
                f"returns the loss, got {closure!r}"
            )
        if len(self.param_groups) != 1:
            raise ValueError(
                f"LBFGS.step: expected exactly one param_group, got {len(self.param_groups)}"
            )
        group = self.param_groups[0]
        line_search_fn = group["line_search_fn"]
        if line_search_fn is not None and line_search_fn != "strong_wolfe":
            raise RuntimeError(
                f"LBFGS.step: line_search_fn: only 'strong_wolfe' is supported, got "
                f"{line_search_fn!r}"
            )
        # torch's scalar arithmetic never warns (a zero division is an inf); the closure runs
        # with the caller's numpy error settings
        outer = np.geterr()

        def evaluate() -> Any:
            with np.errstate(**outer):
                return self._closure(closure)

        with np.errstate(all="ignore"):
            return self._step(evaluate, group)

    def _step(self, closure: Callable[[], Any], group: dict[str, Any]) -> Any:
        lr = group["lr"]
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        # LBFGS's state is global; torch keeps it as the first parameter's
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        opt_cond = abs(flat_grad).max() <= tolerance_grad
        if opt_cond:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:  # the history is full: drop the oldest
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # the scale of the initial inverse Hessian
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # the two-loop recursion: d = -H g
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # the step length: the very first step is scaled down by the gradient's 1-norm
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction (to the tolerance)
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x: list[Any], t: Any, d: Any) -> tuple[float, Any]:
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # not re-evaluated after the last iteration (the next step() does it)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # the stopping rules
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                break
            if abs(d * t).max() <= tolerance_change:  # no progress in the parameters
                break
            if abs(loss - prev_loss) < tolerance_change:  # nor in the loss
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    # ---- load_state_dict -------------------------------------------------------------------

    def _load_value(self, p: Tensor, key: str, v: Any, at: str) -> Any:
        """The state of a state_dict (ours or torch's): counters as ints, flat vectors (and
        lists of them) as arrays of the flat gradient's dtype and length, scalars torch keeps as
        0-d tensors as 0-d array scalars of that dtype, Python numbers as they are."""
        if key not in self._state_keys:
            return super()._load_value(p, key, v, at)
        if v is None:
            return None
        at = f"{at}['{key}']"
        if key in _COUNTERS:
            return _count(at, key, v, 0)
        if key in _SCALARS:
            return self._load_scalar(v, at)
        if key in _VECTORS:
            return self._load_vector(v, at)
        if not isinstance(v, (list, tuple)):
            raise TypeError(f"{at}: expected a list, got {type(v).__name__}")
        if key in _VECTOR_LISTS:
            return [self._load_vector(x, f"{at}[{i}]") for i, x in enumerate(v)]
        return [None if x is None else self._load_scalar(x, f"{at}[{i}]") for i, x in enumerate(v)]

    def _load_scalar(self, v: Any, at: str) -> Any:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{at}: expected a number, got {v!r}")
        if isinstance(v, (int, float)):
            return v
        shape = tuple(getattr(v, "shape", (None,)))
        if shape != ():
            raise ValueError(f"{at}: expected a number (a 0-d array), got {type(v).__name__}")
        xp = get_array_module(self._params[0].data)
        return xp.asarray(np.asarray(v) if xp is np else v, dtype=self._flat_dtype())[()]

    def _load_vector(self, v: Any, at: str) -> Any:
        n = sum(p.data.size for p in self._params)
        shape = tuple(getattr(v, "shape", (None,)))
        if shape != (n,):
            raise ValueError(
                f"{at}: expected a flat array of the {n} parameter elements, got "
                f"{type(v).__name__} of shape {shape}"
            )
        xp = get_array_module(self._params[0].data)
        if xp is np and not isinstance(v, np.ndarray):
            v = np.asarray(v)  # a torch tensor of torch's state_dict
        return xp.array(v, dtype=self._flat_dtype(), copy=True)
