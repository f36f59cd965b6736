"""deltagrad.nn: Module and the layers, containers and losses built on it, as torch.nn.

    import deltagrad as dg
    import deltagrad.nn as nn

    model = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)

Where things are: module.py (Module, hooks, state_dict), parameter.py (Parameter),
linear.py (Identity, Linear, MLP), activation.py, dropout.py, flatten.py (Flatten,
Unflatten), normalization.py (BatchNorm1d, LayerNorm), sparse.py (Embedding), container.py
(Sequential, ModuleList, ModuleDict, ParameterList), loss.py, init.py (dg.nn.init),
utils.py (dg.nn.utils: gradient clipping). The arithmetic lives in deltagrad.functional.
"""

from __future__ import annotations

from . import init, parallel, utils
from .activation import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Swish,
    Tanh,
)
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import MLP, Identity, Linear
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SumOfSquaresLoss,
)
from .module import Module, RemovableHandle, load, save
from .normalization import BatchNorm1d, LayerNorm
from .parameter import Parameter
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .sparse import Embedding

__all__ = [
    "Module",
    "Parameter",
    "RemovableHandle",
    "Linear",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "SiLU",
    "Swish",
    "Dropout",
    "Flatten",
    "Unflatten",
    "BatchNorm1d",
    "LayerNorm",
    "Embedding",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "MLP",
    "MSELoss",
    "SumOfSquaresLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "init",
    "utils",
    "save",
    "load",
    "parallel",
    "functional",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "MaxPool1d",
    "AvgPool1d",
    "AdaptiveAvgPool1d",
]

from . import functional  # noqa: E402 - deltagrad.nn.functional is deltagrad.functional
from .normalization import BatchNorm2d  # noqa: E402

__all__ += ["BatchNorm2d"]
