"""deltagrad.optim.swa_utils: torch.optim.swa_utils -- stochastic weight averaging (SWA) and
exponential moving averages (EMA) of a model's weights.

AveragedModel keeps a deep copy of a model whose parameters (and, with use_buffers=True, its
buffers) are the running average of the model's after each update_parameters(model): the
equal-weight average (SWA) by default, or what avg_fn / multi_avg_fn compute (the get_*
factories: SWA and EMA). update_bn(loader, model) recomputes the BatchNorm running statistics
of a model (an averaged one) with one pass over the data. SWALR anneals each group's lr to its
swa_lr in anneal_epochs steps ("cos" or "linear"), then keeps it there.

As torch: the averaging runs outside autograd; the built-in functions are Tensor ops (so they
run on any device), the in-place ones write through detached Tensors that share the
parameters' arrays."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..nn.module import Module
from ..nn.normalization import BatchNorm1d
from ..tensor import Tensor, no_grad, tensor
from .lr_scheduler import LRScheduler, _check_optimizer, _warn_get_lr_called_within_step
from .optimizer import Optimizer

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
]

ParamList = list[Tensor] | tuple[Tensor, ...]


def _check_decay(where: str, decay: Any) -> float:
    """torch's check of an EMA decay: a number in [0, 1] (ValueError otherwise)."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: decay: expected a number in [0, 1], got {decay!r}")
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"{where}: decay: invalid decay value {decay} provided. Please provide a value "
            "in [0,1] range."
        )
    return decay


def _is_float(t: Tensor) -> bool:
    return t.data.dtype.kind in "fc"


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """EMA for AveragedModel(multi_avg_fn=...): each averaged tensor (in place) moves to
    decay * averaged + (1 - decay) * current (torch's lerp with weight 1 - decay; integer
    tensors, such as num_batches_tracked, through the product rounded toward zero)."""
    decay = _check_decay("get_ema_multi_avg_fn", decay)

    @no_grad()
    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        _check_lists("ema_update", ema_param_list, current_param_list)
        if _is_float(ema_param_list[0]):
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                p_ema.lerp_(p_model, 1 - decay)
        else:
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """SWA for AveragedModel(multi_avg_fn=...): each averaged tensor (in place) moves to
    averaged + (current - averaged) / (num_averaged + 1), torch's lerp with weight
    1 / (num_averaged + 1) (a float32 0-dim Tensor when num_averaged is an int64 Tensor, as
    torch computes it). Integer tensors are refused (a RuntimeError, as torch's)."""

    @no_grad()
    def swa_update(
        averaged_param_list: ParamList, current_param_list: ParamList, num_averaged: Any
    ) -> None:
        _check_lists("swa_update", averaged_param_list, current_param_list)
        if not _is_float(averaged_param_list[0]):
            raise RuntimeError(
                "get_swa_multi_avg_fn: swa_update: integer tensors "
                f"({averaged_param_list[0].dtype}) cannot be averaged in place (torch's "
                "foreach kernels refuse integer division too); use the default averaging "
                "or get_swa_avg_fn (AveragedModel(avg_fn=...))"
            )
        weight = 1 / (num_averaged + 1)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            p_avg.lerp_(p_model, weight)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """EMA for AveragedModel(avg_fn=...): returns decay * averaged + (1 - decay) * current."""
    decay = _check_decay("get_ema_avg_fn", decay)

    @no_grad()
    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """SWA for AveragedModel(avg_fn=...): returns averaged + (current - averaged) /
    (num_averaged + 1), the mean of the num_averaged + 1 models seen."""

    @no_grad()
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _check_lists(where: str, averaged: Any, current: Any) -> None:
    """The two lists of a multi_avg_fn: Tensors, as many in each, at least one."""
    if not isinstance(averaged, (list, tuple)) or not isinstance(current, (list, tuple)):
        raise TypeError(f"{where}: expected two lists of Tensors")
    if len(averaged) != len(current):
        raise ValueError(
            f"{where}: {len(averaged)} averaged tensors and {len(current)} current ones"
        )
    if not averaged:
        raise ValueError(f"{where}: expected at least one tensor, got empty lists")


class AveragedModel(Module):
    """torch.optim.swa_utils.AveragedModel: `module` is a deep copy of model (moved to device,
    when given) and `n_averaged` (an int64 buffer) counts the update_parameters() calls. The
    first update copies the model's parameters; each later one averages them in: with
    avg_fn(averaged, current, n_averaged) -> Tensor per tensor, or multi_avg_fn(averaged_list,
    current_list, n_averaged) in place per (device, dtype) group, or by default the equal
    mean (SWA; as torch, the per-tensor form on the CPU and the lerp form of
    get_swa_multi_avg_fn on a GPU). use_buffers=True averages the buffers too (iterated
    after the parameters); False copies the model's buffers at every update. forward()
    calls module; state_dict holds 'n_averaged' and 'module.*'."""

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
        multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError(
                "AveragedModel: only one of avg_fn and multi_avg_fn should be provided"
            )
        if not isinstance(model, Module):
            raise TypeError(
                f"AveragedModel: model: expected a deltagrad.nn.Module, got {type(model).__name__}"
            )
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"AveragedModel: {name}: expected a callable or None, got {fn!r}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average model's current parameters (and buffers, with use_buffers) into this
        one's, then n_averaged += 1. As torch, tensors are paired in order (extra ones of
        either model are left out); without use_buffers the buffers are copied, and a
        different number of them is a ValueError (raised before anything changes)."""
        if not isinstance(model, Module):
            raise TypeError(
                "AveragedModel.update_parameters: model: expected a deltagrad.nn.Module, got "
                f"{type(model).__name__}"
            )
        if self.use_buffers:
            self_param = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            model_param = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            self_param = list(self.parameters())
            model_param = list(model.parameters())
            own_bufs, model_bufs = list(self.module.buffers()), list(model.buffers())
            if len(own_bufs) != len(model_bufs):
                raise ValueError(
                    f"AveragedModel.update_parameters: model has {len(model_bufs)} buffers, "
                    f"the averaged model {len(own_bufs)} (not the same architecture?)"
                )
        with no_grad():
            self._average(self_param, model_param)
            if not self.use_buffers:
                # the buffers follow the source model's (BatchNorm statistics: see update_bn)
                for b_swa, b_model in zip(own_bufs, model_bufs):
                    b_swa.detach().copy_(b_model.detach().to(b_swa.device))
            self.n_averaged.add_(1)

    def _average(self, self_param: list[Tensor], model_param: list[Tensor]) -> None:
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        copy_param = int(self.n_averaged.item()) == 0
        for p_averaged, p_model in zip(self_param, model_param):
            p_model_ = p_model.detach().to(p_averaged.device)
            averaged.append(p_averaged.detach())
            current.append(p_model_)
            if copy_param:
                p_averaged.detach().copy_(p_model_)
        if copy_param:
            return
        if self.multi_avg_fn is not None or self.avg_fn is None:
            # grouped by (device, dtype), as torch's foreach grouping
            groups: dict[tuple[str, Any], tuple[list[Tensor], list[Tensor]]] = {}
            for a, c in zip(averaged, current):
                ga, gc = groups.setdefault((a.device, a.data.dtype), ([], []))
                ga.append(a)
                gc.append(c)
            for (device, dtype), (avg_list, cur_list) in groups.items():
                n = self.n_averaged.to(device)
                if self.multi_avg_fn:
                    self.multi_avg_fn(avg_list, cur_list, n)
                elif device == "cuda" and dtype.kind in "fc":
                    get_swa_multi_avg_fn()(avg_list, cur_list, n)
                else:
                    avg_fn = get_swa_avg_fn()
                    for a, c in zip(avg_list, cur_list):
                        a.copy_(avg_fn(a, c, n))
        else:
            for a, c in zip(averaged, current):
                a.copy_(self.avg_fn(a, c, self.n_averaged.to(a.device)))


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the running statistics of model's BatchNorm layers (torch's _BatchNorm:
    BatchNorm1d, BatchNorm2d) with one pass over loader, in train mode, without gradients:
    the statistics are reset and accumulated as the cumulative average (momentum None), then
    each layer gets its momentum back and the model its mode. A batch that is a list or a
    tuple gives its first element (the input); device moves each input there. A model
    without BatchNorm is left as it is."""
    if not isinstance(model, Module):
        raise TypeError(f"update_bn: model: expected a deltagrad.nn.Module, got {type(model)}")
    momenta: dict[Module, Any] = {}
    for module in model.modules():
        if isinstance(module, BatchNorm1d):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for input in loader:
                if isinstance(input, (list, tuple)):
                    input = input[0]
                if device is not None:
                    input = input.to(device)
                model(input)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """torch.optim.swa_utils.SWALR: each group's lr goes from its current value to its
    swa_lr (group["swa_lr"], one for all or one per group) over anneal_epochs steps, with
    the "cos" or "linear" anneal, then stays at swa_lr. As torch, every step re-derives the
    lr the anneal started from out of the group's current lr (so a change made to the lr in
    between is followed)."""

    _transient = ("optimizer", "anneal_func")

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        name = "SWALR"
        _check_optimizer(name, optimizer)
        n = len(optimizer.param_groups)
        if isinstance(swa_lr, (list, tuple)):
            if len(swa_lr) != n:
                raise ValueError(
                    f"{name}: swa_lr must have the same length as optimizer.param_groups: "
                    f"swa_lr has {len(swa_lr)} values, param_groups has {n}"
                )
            swa_lrs = list(swa_lr)
        else:
            swa_lrs = [swa_lr] * n
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{name}: anneal_strategy must be one of 'cos' or 'linear', instead got "
                f"{anneal_strategy!r}"
            )
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(
                f"{name}: anneal_epochs must be equal or greater than 0, got {anneal_epochs!r}"
            )
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        """The lr the anneal started from, given the lr at anneal fraction alpha."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[float]:
        _warn_get_lr_called_within_step(self)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict() of SWALR, deltagrad's or torch's; the anneal function follows
        the loaded _anneal_strategy."""
        super().load_state_dict(state_dict)
        self._set_anneal_func(self._anneal_strategy)
