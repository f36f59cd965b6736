"""deltagrad.optim.lr_scheduler: torch.optim.lr_scheduler's schedulers with torch's step()
semantics (the recursive form step() computes, the closed form for step(epoch)) and
state_dict: LRScheduler, LambdaLR, MultiplicativeLR, StepLR, MultiStepLR, ConstantLR,
LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
OneCycleLR, CyclicLR, ReduceLROnPlateau, and the combinators SequentialLR and
ChainedScheduler.

A scheduler changes group["lr"] (and OneCycleLR / CyclicLR group["momentum"] /
group["betas"]) of its optimizer's param groups; call it after optimizer.step(), as in torch.
State dicts hold numbers, strings, lists and dicts with torch's keys; a function is not
saved, as torch (LambdaLR / MultiplicativeLR write {} where torch writes None; CyclicLR's
scale_fn None, as torch, whose load_state_dict needs it).

As torch, get_lr() called outside step() warns (UserWarning: use get_last_lr()), and the
state_dict carries torch's private flags _is_initial and _get_lr_called_within_step (every
scheduler that LRScheduler.__init__ builds; not ReduceLROnPlateau, SequentialLR and
ChainedScheduler, whose own state has none in torch either).

As torch, a scheduler wraps its optimizer's step (an instance attribute that marks
optimizer._opt_called) and its first step() after construction warns (UserWarning) when the
optimizer has not stepped yet, or when optimizer.step was replaced after the scheduler was
made. swa_utils.SWALR is torch.optim.swa_utils's."""

from __future__ import annotations

import functools
import math
import numbers
import types
import warnings
import weakref
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .optimizer import Optimizer, _plain

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "MultiplicativeLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "SequentialLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "CyclicLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
]

# torch's message for step(epoch) (a UserWarning there and here)
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available."
)


# torch's messages of the first scheduler.step() after construction (UserWarnings)
_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)
_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)


_GET_LR_WARNING = (
    "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."
)


def _warn_get_lr_called_within_step(scheduler: LRScheduler) -> None:
    """torch's warning of a get_lr() called by the user: get_lr computes the next step's lr
    (and some schedulers' get_lr change state); the current one is get_last_lr()."""
    if not scheduler._get_lr_called_within_step:
        warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=2)


class _StepTracker:
    """optimizer.step as torch's LRScheduler wraps it (an attribute of the optimizer object,
    whose _wrapped_by_lr_sched marks it): each call sets optimizer._opt_called and runs the
    class's step (with its step hooks). An object rather than torch's closure so that a
    deepcopy or pickle of the optimizer gets a tracker of the copy, not of the original."""

    _wrapped_by_lr_sched = True

    def __init__(self, optimizer: Optimizer, func: Callable[..., Any]) -> None:
        functools.update_wrapper(self, func)
        self._func = func
        self._optimizer = weakref.ref(optimizer)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        opt = self._optimizer()
        opt._opt_called = True  # type: ignore[union-attr]
        return self._func.__get__(opt, type(opt))(*args, **kwargs)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # the optimizer being copied is in memo already (copy registers it before its state)
        copied = memo.get(id(self._optimizer()))
        return self if copied is None else _StepTracker(copied, self._func)

    def __reduce__(self) -> tuple[Any, ...]:
        return _StepTracker, (self._optimizer(), self._func)


def _track_step_called(optimizer: Optimizer) -> None:
    """Wrap optimizer.step to record that it ran (once per optimizer, as torch)."""
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    optimizer.step = _StepTracker(optimizer, optimizer.step.__func__)  # type: ignore[method-assign]


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{name}: optimizer: expected a deltagrad.optim.Optimizer, "
            f"got {type(optimizer).__name__}"
        )


def _need_key(name: str, optimizer: Optimizer, key: str, why: str = "") -> None:
    """Every param group must hold `key` (KeyError naming the scheduler, the group, the key)."""
    for i, group in enumerate(optimizer.param_groups):
        if key not in group:
            raise KeyError(
                f"{name}: param_groups[{i}] of {type(optimizer).__name__} has no '{key}'{why}"
            )


def _positive_int(name: str, arg: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: {arg}: expected a positive integer, got {value!r}")
    return value


def _positive_number(name: str, arg: str, value: Any) -> float:
    """A finite real > 0, int or float (CosineAnnealingLR's T_max: torch takes a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < math.inf):
        raise ValueError(f"{name}: {arg}: expected a positive number, got {value!r}")
    return value


def _lambdas(name: str, optimizer: Optimizer, lr_lambda: Any) -> list[Callable[[int], float]]:
    """One function for every group, or a list / tuple of one per group (torch's rule)."""
    _check_optimizer(name, optimizer)
    n = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != n:
            raise ValueError(f"{name}: lr_lambda: expected {n} functions, got {len(lr_lambda)}")
        fns = list(lr_lambda)
    else:
        fns = [lr_lambda] * n
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"{name}: lr_lambda[{i}]: expected a callable, got {fn!r}")
    return fns


def _fn_state(fn: Any) -> dict[str, Any]:
    """What torch saves of a function in a state_dict: a callable object's attributes; a
    plain function or lambda is not saved ({} here, None in torch)."""
    if fn is None or isinstance(fn, types.FunctionType):
        return {}
    return {k: _plain(v) for k, v in getattr(fn, "__dict__", {}).items()}


class LRScheduler:
    """Base of the schedulers, as torch.optim.lr_scheduler.LRScheduler: at construction
    (last_epoch=-1) each group gets "initial_lr" (its lr, unless present) and the scheduler
    takes its first step (last_epoch 0); base_lrs are the groups' initial_lr; step() advances
    last_epoch and writes get_lr() into the groups; get_last_lr() returns what it wrote."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        if last_epoch == -1:
            _need_key(name, optimizer, "lr")
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            _need_key(
                name,
                optimizer,
                "initial_lr",
                f" (resuming with last_epoch={last_epoch} needs the optimizer's loaded state)",
            )
        self.optimizer = optimizer
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        # as torch (pytorch/pytorch#20124): step() warns when it comes before optimizer.step()
        _track_step_called(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates of the step being taken (called by step())."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step() wrote into the groups."""
        return self._last_lr

    def _group_lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (epoch=None, the usual call) or jump to `epoch` (deprecated in
        torch, a UserWarning: the closed form where the scheduler has one). The first call
        after construction warns, as torch, if optimizer.step() has not run yet (or was
        replaced after the scheduler was made)."""
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn(_OVERRIDDEN_WARNING, UserWarning, stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """step() without the count and the warning (SequentialLR restarts a scheduler at its
        milestone with _update_lr(0), as torch)."""
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)

    def _write_lrs(self, values: list[float]) -> None:
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(
                f"{type(self).__name__}.step: the optimizer has {len(groups)} param groups, "
                f"the scheduler {len(values)} (a group added after the scheduler was made?)"
            )
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = self._group_lrs()

    # ---- state -------------------------------------------------------------------------------

    # torch's flags (class defaults; step() sets them on the instance, so they are saved)
    _is_initial = False
    _get_lr_called_within_step = False
    _transient: tuple[str, ...] = ("optimizer",)

    def _saved_keys(self) -> list[str]:
        """The attributes state_dict saves: all but the _transient ones."""
        return [k for k in self.__dict__ if k not in self._transient]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as torch (tuples as lists, Counters as dicts)."""
        return {k: _plain(self.__dict__[k]) for k in self._saved_keys()}

    # keys a state_dict may lack: derived from the constructor's arguments (this object keeps its
    # own), and absent from torch's state_dict of the same scheduler, which loads here too
    _optional: tuple[str, ...] = ()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict() of the same scheduler class, deltagrad's or torch's (a missing key
        is a ValueError naming it, and nothing changes; private keys may be missing)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: state_dict: expected a dict")
        for key in self.state_dict():
            if key not in state_dict and not key.startswith("_") and key not in self._optional:
                raise ValueError(
                    f"{name}.load_state_dict: state_dict: no key '{key}' (a state_dict of "
                    "another scheduler class?)"
                )
        base = state_dict.get("base_lrs")
        if base is not None and len(base) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: base_lrs: {len(base)} learning rates for "
                f"{len(self.optimizer.param_groups)} param groups"
            )
        self.__dict__.update(
            {k: _plain(v) for k, v in state_dict.items() if k not in self._transient}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class _LambdaScheduler(LRScheduler):
    """LambdaLR's and MultiplicativeLR's lr_lambda (one function, or one per group) and
    state_dict: as torch, a function is not saved ({} here, None in torch), a callable
    object's attributes are, and load_state_dict puts them back on this scheduler's objects."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.lr_lambdas = _lambdas(type(self).__name__, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        del out["lr_lambdas"]  # the last key, as torch's
        out["lr_lambdas"] = [_fn_state(fn) for fn in self.lr_lambdas]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: state_dict: expected a dict")
        state_dict = dict(state_dict)
        saved = state_dict.get("lr_lambdas")
        if saved is not None and len(saved) != len(self.lr_lambdas):
            raise ValueError(
                f"{name}.load_state_dict: lr_lambdas: {len(saved)} entries for "
                f"{len(self.lr_lambdas)} functions"
            )
        state_dict["lr_lambdas"] = self.lr_lambdas
        super().load_state_dict(state_dict)
        for fn, attrs in zip(self.lr_lambdas, saved or []):
            if attrs:
                fn.__dict__.update(attrs)


class LambdaLR(_LambdaScheduler):
    """lr = base_lr * lr_lambda(last_epoch); one function, or one per group."""

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """lr *= lr_lambda(last_epoch) at every step (not at construction); one function, or one
    per group. No closed form: step(epoch) multiplies by lr_lambda(epoch), as torch."""

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return self._group_lrs()
        return [
            g["lr"] * fn(self.last_epoch)
            for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)
        ]


class StepLR(LRScheduler):
    """lr *= gamma every step_size steps."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr *= gamma at each milestone (a milestone listed twice multiplies by gamma twice)."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        # torch's form, {milestone: count}: torch's MultiStepLR indexes it by epoch (a list,
        # loaded there, gave wrong learning rates)
        out["milestones"] = {int(k): int(c) for k, c in sorted(self.milestones.items())}
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        m = state_dict.get("milestones", [])
        if isinstance(m, dict):
            m = [int(k) for k, c in m.items() for _ in range(int(c))]
        state_dict["milestones"] = [int(x) for x in m]
        super().load_state_dict(state_dict)
        self.milestones = Counter(state_dict["milestones"])

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [
            g["lr"] * self.gamma ** self.milestones[self.last_epoch]
            for g in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        ms = sorted(self.milestones.elements())
        return [b * self.gamma ** bisect_right(ms, self.last_epoch) for b in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = factor * base_lr for the first total_iters steps, then base_lr (torch's
    recursive form: the lr is multiplied by factor at step 0 and by 1 / factor at step
    total_iters, so a change made to the lr in between is kept)."""

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 <= factor <= 1.0:
            raise ValueError(f"ConstantLR: factor: expected a number in [0, 1], got {factor!r}")
        self.factor = factor
        self.total_iters = _positive_int("ConstantLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        if self.factor == 0:
            raise ZeroDivisionError(
                "ConstantLR.step: factor=0: the learning rates, 0 since step 0, cannot be "
                f"scaled back at total_iters={self.total_iters} (torch fails here too)"
            )
        return [g["lr"] * (1.0 / self.factor) for g in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            b * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
            for b in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """lr goes linearly from start_factor * base_lr to end_factor * base_lr in total_iters
    steps (torch's recursive form)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                f"LinearLR: start_factor: expected a number in (0, 1], got {start_factor}"
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: end_factor: expected a number in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        d = self.end_factor - self.start_factor
        return [
            g["lr"] * (1.0 + d / (self.total_iters * self.start_factor + (self.last_epoch - 1) * d))
            for g in groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            b
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for b in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """lr *= gamma every step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return self._group_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(t, total_iters) / total_iters) ** power: 0 from step
    total_iters on (torch's recursive form: each step multiplies the lr by the ratio of two
    consecutive values, so a change made to the lr in between is kept)."""

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = _positive_int("PolynomialLR", "total_iters", total_iters)
        if isinstance(power, bool) or not isinstance(power, numbers.Real):
            raise TypeError(f"PolynomialLR: power: expected a real number, got {power!r}")
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        t, T = self.last_epoch, self.total_iters
        if self._is_initial or t > T:
            return self._group_lrs()
        decay = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [g["lr"] * decay for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        T = self.total_iters
        return [b * (1.0 - min(T, self.last_epoch) / T) ** self.power for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max steps (SGDR without restarts),
    with torch's recursive form in step() (it follows a changed lr) and the closed form
    eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2 for step(epoch)."""

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: float,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.T_max = _positive_number("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        groups, t, T, lo = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and t > 0:
            return [lo + (b - lo) * (1 + math.cos(t * math.pi / T)) / 2 for b in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [
                g["lr"] + (b - lo) * (1 - math.cos(math.pi / T)) / 2
                for b, g in zip(self.base_lrs, groups)
            ]
        return [
            (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (g["lr"] - lo)
            + lo
            for g in groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        lo = self.eta_min
        return [
            lo + (b - lo) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for b in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur /
    T_i)) / 2, where T_cur counts the epochs since the last restart and T_i, first T_0, is
    multiplied by T_mult at each restart. As torch: step() advances T_cur by one (a restart
    when it reaches T_i); step(epoch), a float epoch too (epoch + i / iters per batch), puts
    T_cur and T_i where that epoch falls, without a warning, and last_epoch = floor(epoch)."""

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = _positive_int(name, "T_0", T_0)
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"{name}: T_mult: expected an integer >= 1, got {T_mult!r}")
        if isinstance(eta_min, bool) or not isinstance(eta_min, (float, int)):
            raise ValueError(
                f"{name}: eta_min: expected a float or int, got {eta_min!r} of type "
                f"{type(eta_min).__name__}"
            )
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        lo = self.eta_min
        return [
            lo + (b - lo) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
            for b in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        """One step (epoch=None: T_cur + 1, a restart at T_i), or go to `epoch` (a float
        allowed: the fraction of an epoch done, for a step per batch). As torch's own step():
        no deprecation warning, and _step_count is not advanced."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(
                    f"CosineAnnealingWarmRestarts.step: epoch: expected a non-negative "
                    f"number, got {epoch!r}"
                )
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # the restart n with T_0 * (T_mult**n - 1) / (T_mult - 1) <= epoch
                    n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** (n)
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)


def _per_group(name: str, arg: str, optimizer: Optimizer, value: Any) -> list[float]:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name}: {arg}: expected {n} values (one per group), got {len(value)}"
            )
        return list(value)
    return [value] * n


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), as torch: lr from max_lr / div_factor up to max_lr
    (pct_start of total_steps) then down to initial_lr / final_div_factor (three_phase: back
    to initial_lr first), cos or linear annealing; with cycle_momentum the momentum (SGD,
    RMSprop: group["momentum"]; Adam: betas[0]) moves the opposite way between
    base_momentum and max_momentum."""

    _optional = ("use_beta1",)  # torch sets it only with cycle_momentum

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        name = "OneCycleLR"
        _check_optimizer(name, optimizer)
        if total_steps is not None:
            total = _positive_int(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            total = _positive_int(name, "epochs", epochs) * _positive_int(
                name, "steps_per_epoch", steps_per_epoch
            )
        else:
            raise ValueError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{name}: pct_start: expected a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{name}: anneal_strategy: expected 'cos' or 'linear', got {anneal_strategy!r}"
            )
        max_lrs = _per_group(name, "max_lr", optimizer, max_lr)
        use_beta1 = False
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{name}: cycle_momentum=True needs an optimizer with the group key "
                    f"'momentum' or 'betas'; {type(optimizer).__name__} has neither "
                    "(pass cycle_momentum=False)"
                )
            use_beta1 = "betas" in optimizer.defaults
            max_ms = _per_group(name, "max_momentum", optimizer, max_momentum)
            base_ms = _per_group(name, "base_momentum", optimizer, base_momentum)
        if last_epoch != -1:
            keys = ["initial_lr", "max_lr", "min_lr"]
            keys += ["max_momentum", "base_momentum"] if cycle_momentum else []
            for key in keys:
                _need_key(name, optimizer, key, f" (resuming with last_epoch={last_epoch})")
        self.total_steps = total
        first_end = float(pct_start * total) - 1
        if three_phase:
            self._schedule_phases = [
                dict(
                    end_step=first_end,
                    start_lr="initial_lr",
                    end_lr="max_lr",
                    start_momentum="max_momentum",
                    end_momentum="base_momentum",
                ),
                dict(
                    end_step=float(2 * pct_start * total) - 2,
                    start_lr="max_lr",
                    end_lr="initial_lr",
                    start_momentum="base_momentum",
                    end_momentum="max_momentum",
                ),
                dict(
                    end_step=total - 1,
                    start_lr="initial_lr",
                    end_lr="min_lr",
                    start_momentum="max_momentum",
                    end_momentum="max_momentum",
                ),
            ]
        else:
            self._schedule_phases = [
                dict(
                    end_step=first_end,
                    start_lr="initial_lr",
                    end_lr="max_lr",
                    start_momentum="max_momentum",
                    end_momentum="base_momentum",
                ),
                dict(
                    end_step=total - 1,
                    start_lr="max_lr",
                    end_lr="min_lr",
                    start_momentum="base_momentum",
                    end_momentum="max_momentum",
                ),
            ]
        self._anneal_func_type = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = use_beta1
        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    if use_beta1:
                        group["betas"] = (max_ms[i], *group["betas"][1:])
                    else:
                        group["momentum"] = max_ms[i]
                    group["max_momentum"] = max_ms[i]
                    group["base_momentum"] = base_ms[i]
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR.step: tried to step {step} times, total_steps is {self.total_steps}"
            )
        lrs = []
        phases = self._schedule_phases
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(phases):
                end = phase["end_step"]
                if step <= end or i == len(phases) - 1:
                    pct = (step - start) / (end - start)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        mom = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (mom, *group["betas"][1:])
                else:
                    group["momentum"] = mom
        return lrs


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), as torch: each cycle of total_size =
    step_size_up + step_size_down steps takes the lr from base_lr up to max_lr and back, the
    amplitude scaled by mode "triangular" (1), "triangular2" (halved each cycle), "exp_range"
    (gamma ** step), or by scale_fn of the cycle number or of the step (scale_mode). With
    cycle_momentum the momentum (SGD, RMSprop: group["momentum"]; Adam: betas[0]) moves the
    opposite way, between max_momentum and base_momentum. Meant to be stepped per batch."""

    _modes = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        name = "CyclicLR"
        _check_optimizer(name, optimizer)
        base_lrs = _per_group(name, "base_lr", optimizer, base_lr)
        max_lrs = _per_group(name, "max_lr", optimizer, max_lr)
        up = _positive_number(name, "step_size_up", step_size_up)
        down = up
        if step_size_down is not None:
            if (
                isinstance(step_size_down, bool)
                or not isinstance(step_size_down, numbers.Real)
                or not 0 <= step_size_down < math.inf
            ):
                raise ValueError(
                    f"{name}: step_size_down: expected a number >= 0 or None, "
                    f"got {step_size_down!r}"
                )
            down = step_size_down
        if scale_fn is None and mode not in self._modes:
            raise ValueError(
                f"{name}: mode: expected 'triangular', 'triangular2' or 'exp_range' (or a "
                f"scale_fn), got {mode!r}"
            )
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{name}: scale_fn: expected a callable or None, got {scale_fn!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"{name}: scale_mode: expected 'cycle' or 'iterations', got {scale_mode!r}"
            )
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{name}: cycle_momentum=True needs an optimizer with the group key "
                    f"'momentum' or 'betas'; {type(optimizer).__name__} has neither "
                    "(pass cycle_momentum=False)"
                )
            base_ms = _per_group(name, "base_momentum", optimizer, base_momentum)
            max_ms = _per_group(name, "max_momentum", optimizer, max_momentum)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = max_lrs
        self.total_size = float(up) + float(down)
        self.step_ratio = float(up) / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = bool(cycle_momentum)
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = base_ms
            self.max_momentums = max_ms
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_ms, base_ms, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_max, *group["betas"][1:])
                    else:
                        group["momentum"] = m_max
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        # as torch: the first step runs with base_lrs = the groups' initial_lr (base_lr,
        # unless a scheduler before this one set initial_lr), then base_lr takes over
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """A built-in mode fixes scale_mode (torch ignores the argument then)."""
        if self._scale_fn_custom is None:
            self.scale_mode = self._modes[self.mode]

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at x (the cycle number or the step, per scale_mode)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [b + (m - b) * scale_factor * scale for b, m in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, b, m in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                momentum = m - (m - b) * scale_factor * scale
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """As torch: scale_fn is saved only as a callable object's attributes (None for no
        scale_fn or a function, as torch, whose load_state_dict needs None there)."""
        out = super().state_dict()
        del out["_scale_fn_custom"]  # the last key, as torch's
        fn = self._scale_fn_custom
        out["_scale_fn_custom"] = (
            None if fn is None or isinstance(fn, types.FunctionType) else _fn_state(fn)
        )
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise TypeError("CyclicLR.load_state_dict: state_dict: expected a dict")
        state_dict = dict(state_dict)
        attrs = state_dict.pop("_scale_fn_custom", None)
        state_dict.pop("_scale_fn_ref", None)
        super().load_state_dict(state_dict)
        if attrs and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(attrs)
        self._init_scale_fn()


class ReduceLROnPlateau(LRScheduler):
    """lr *= factor (not below min_lr) when the metric given to step(metric) has not improved
    (mode "min" or "max", by threshold, "rel" or "abs") for more than patience steps; then
    cooldown steps of rest. Changes smaller than eps are skipped."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        name = "ReduceLROnPlateau"
        if not factor < 1.0:
            raise ValueError(f"{name}: factor: expected a number < 1.0, got {factor}")
        _check_optimizer(name, optimizer)
        _need_key(name, optimizer, "lr")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{name}: threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}"
            )
        # torch's attributes, in torch's order (the state_dict's keys): default_min_lr is None
        # when min_lr is given per group (a group added later then has no min_lr: step()
        # raises), else min_lr (min_lrs grows to a group added later)
        self.factor = factor
        self.optimizer = optimizer
        per_group = isinstance(min_lr, (list, tuple))
        self.default_min_lr = None if per_group else min_lr
        self.min_lrs = _per_group(name, "min_lr", optimizer, min_lr)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
        """One step on the metric of this epoch (a validation loss, an accuracy); an
        explicit epoch is deprecated (a UserWarning, as torch)."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau.step: the optimizer has {len(groups)} param groups, "
                    f"min_lrs {len(self.min_lrs)} values (a param group added after the "
                    "scheduler was made? set the scheduler's min_lrs to one per group)"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[i])
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict() of ReduceLROnPlateau, torch's or deltagrad's (one of before
        round 36 too: its _min_lr_per_group becomes default_min_lr None, its _step_count is
        dropped)."""
        if not isinstance(state_dict, dict):
            raise TypeError("ReduceLROnPlateau.load_state_dict: state_dict: expected a dict")
        state_dict = dict(state_dict)
        state_dict.pop("_step_count", None)
        if state_dict.pop("_min_lr_per_group", False):
            state_dict["default_min_lr"] = None
        super().load_state_dict(state_dict)
        self.mode_worse = math.inf if self.mode == "min" else -math.inf


def _check_schedulers(name: str, schedulers: Any, optimizer: Any) -> list[LRScheduler]:
    """torch's checks of SequentialLR's and ChainedScheduler's schedulers: at least one, each
    with an `optimizer` (TypeError), none a ReduceLROnPlateau, all on `optimizer` (ValueError)."""
    if isinstance(schedulers, LRScheduler) or not isinstance(schedulers, (list, tuple)):
        raise TypeError(
            f"{name}: schedulers: expected a list of schedulers, got {type(schedulers).__name__}"
        )
    if len(schedulers) < 1:
        raise ValueError(f"{name}: schedulers: expected at least one scheduler, got none")
    for i, sched in enumerate(schedulers):
        if not hasattr(sched, "optimizer"):
            raise TypeError(
                f"{name}: schedulers[{i}]: a {type(sched).__name__} has no `optimizer` "
                "attribute (not a scheduler?)"
            )
        if isinstance(sched, ReduceLROnPlateau):
            raise ValueError(
                f"{name}: schedulers[{i}]: ReduceLROnPlateau is not supported (its step() "
                "needs the metric)"
            )
        if sched.optimizer is not optimizer:
            raise ValueError(
                f"{name}: schedulers[{i}]: the {type(sched).__name__} belongs to another "
                f"optimizer than the {type(optimizer).__name__} given"
            )
    return list(schedulers)


class _Combinator(LRScheduler):
    """SequentialLR's and ChainedScheduler's state_dict: its own attributes plus the state
    dicts of its schedulers under "_schedulers", as torch."""

    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        out = {
            k: _plain(v)
            for k, v in self.__dict__.items()
            if k not in self._transient and k != "_schedulers"
        }
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: state_dict: expected a dict")
        subs = state_dict.get("_schedulers")
        if not isinstance(subs, (list, tuple)) or len(subs) != len(self._schedulers):
            raise ValueError(
                f"{name}.load_state_dict: state_dict: '_schedulers' must hold "
                f"{len(self._schedulers)} state dicts, one per scheduler"
            )
        own = {k: v for k, v in state_dict.items() if k != "_schedulers"}
        for key in self.state_dict():
            if key not in own and key != "_schedulers" and not key.startswith("_"):
                raise ValueError(f"{name}.load_state_dict: state_dict: no key '{key}'")
        self.__dict__.update({k: _plain(v) for k, v in own.items() if k not in self._transient})
        for sched, sd in zip(self._schedulers, subs):
            sched.load_state_dict(sd)


class SequentialLR(_Combinator):
    """Runs schedulers one after the other: schedulers[i] from step milestones[i - 1] on, as
    torch. At construction the lrs go back to initial_lr, every scheduler's own first step is
    undone (last_epoch - 1) and schedulers[0] takes its first step again; at a milestone the
    next scheduler restarts at its epoch 0 (its closed form where it has one, else get_lr),
    from the lr the previous one left. last_epoch counts SequentialLR's own steps."""

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        name = "SequentialLR"
        schedulers = _check_schedulers(name, schedulers, optimizer)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise TypeError(f"{name}: milestones: expected a list of ints, got {milestones!r}")
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{name}: milestones: expected {len(schedulers) - 1} milestones (one fewer than "
                f"the {len(schedulers)} schedulers), got {len(milestones)}"
            )
        for i, m in enumerate(milestones):
            if isinstance(m, bool) or not isinstance(m, numbers.Integral):
                raise TypeError(f"{name}: milestones[{i}]: expected an int, got {m!r}")
        if any(a > b for a, b in zip(milestones, milestones[1:])):
            raise ValueError(
                f"{name}: milestones: expected a non-decreasing list, got {milestones}"
            )
        _need_key(name, optimizer, "initial_lr")
        self._schedulers = schedulers
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Take back the first step every (nested) scheduler took at its construction."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """One step of the scheduler whose turn it is (no epoch argument, as torch)."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()


class ChainedScheduler(_Combinator):
    """Steps every scheduler of a list at each step(), in order, so their changes compose
    (e.g. a ConstantLR warm-up times an ExponentialLR decay), as torch. `optimizer` defaults to
    the first scheduler's; get_last_lr() is the groups' lrs after the last step."""

    def __init__(self, schedulers: list[LRScheduler], optimizer: Optimizer | None = None) -> None:
        name = "ChainedScheduler"
        if optimizer is None and isinstance(schedulers, (list, tuple)) and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        self._schedulers = _check_schedulers(name, schedulers, optimizer)
        self.optimizer = optimizer
        self._last_lr = self._group_lrs()

    def step(self) -> None:  # type: ignore[override]
        """One step of every scheduler, in order (no epoch argument, as torch)."""
        for sched in self._schedulers:
            sched.step()
        self._last_lr = self._group_lrs()

    def __repr__(self) -> str:
        inner = ", ".join(type(s).__name__ for s in self._schedulers)
        return f"ChainedScheduler([{inner}], lr={self.get_last_lr()})"
