"""deltagrad.optim: torch.optim's optimizers (param groups, per-parameter state,
state_dict), learning-rate schedulers (deltagrad.optim.lr_scheduler) and weight averaging
(deltagrad.optim.swa_utils: AveragedModel, SWALR, update_bn).

SGD and Adam/AdamW update each parameter with one fused in-place kernel
(dg.ops.sgd_update / dg.ops.adam_update); RMSprop, Adagrad, Adam's amsgrad, Adadelta, Adamax,
NAdam, RAdam, ASGD, Rprop and LBFGS are array code (numpy or cupy)."""

from __future__ import annotations

from . import lr_scheduler, swa_utils
from ._more import ASGD, Adadelta, Adamax, NAdam, RAdam, Rprop
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "ASGD",
    "Rprop",
    "LBFGS",
    "lr_scheduler",
    "swa_utils",
]
