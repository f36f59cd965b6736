"""dg.nn.init: fill a parameter in place, as torch.nn.init.

Every function draws from deltagrad's generator (dg.manual_seed; deltagrad._random.get_rng())
unless a numpy Generator is passed as `generator`, writes into the tensor in place under
no_grad (the version counter is bumped) and returns the tensor. The fans and gains are
torch's: fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the
receptive field is the product of the dimensions after the first two.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .._random import get_rng
from ..tensor import Tensor, get_array_module, no_grad

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def calculate_gain(nonlinearity: str, param: Any = None) -> float:
    """The recommended gain for a nonlinearity (torch's table): 1 for linear / conv / sigmoid,
    5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + negative_slope**2)) for leaky_relu
    (negative_slope = param, default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif _is_number(param):
            negative_slope = param
        else:
            raise ValueError(f"calculate_gain: param: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: nonlinearity: unsupported nonlinearity {nonlinearity!r}")


def _check_tensor(tensor: Any, fn: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: tensor: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{fn}: tensor: expected a floating tensor, got dtype {tensor.dtype}")
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    dimensions = tensor.ndim
    if dimensions < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    num_input_fmaps = tensor.shape[1]
    num_output_fmaps = tensor.shape[0]
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str, fn: str = "init") -> int:
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _rng(generator: Any, fn: str) -> np.random.Generator:
    if generator is None:
        return get_rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{fn}: generator: expected None or a numpy Generator, got {type(generator).__name__}"
        )
    return generator


def _write(tensor: Tensor, values: Any) -> Tensor:
    """Copy host values into the tensor in place, under no_grad (bumps its version)."""
    xp = get_array_module(tensor.data)
    with no_grad():
        tensor.copy_(xp.asarray(values, dtype=tensor.dtype))
    return tensor


def _real(v: Any, fn: str, name: str) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise ValueError(f"{fn}: {name}: expected a finite number, got {v!r}")
    return float(v)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from U(a, b)."""
    _check_tensor(tensor, "uniform_")
    a, b = _real(a, "uniform_", "a"), _real(b, "uniform_", "b")
    if a > b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _write(tensor, _rng(generator, "uniform_").uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from N(mean, std**2)."""
    _check_tensor(tensor, "normal_")
    mean, std = _real(mean, "normal_", "mean"), _real(std, "normal_", "std")
    if std < 0:
        raise ValueError(f"normal_: std: expected a number >= 0, got {std}")
    return _write(tensor, _rng(generator, "normal_").normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with val."""
    _check_tensor(tensor, "constant_")
    if not _is_number(val):
        raise TypeError(f"constant_: val: expected a number, got {type(val).__name__}")
    return _write(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    _check_tensor(tensor, "zeros_")
    return _write(tensor, np.zeros(tensor.shape))


def ones_(tensor: Tensor) -> Tensor:
    _check_tensor(tensor, "ones_")
    return _write(tensor, np.ones(tensor.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = _real(gain, "xavier_uniform_", "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return _write(tensor, _rng(generator, "xavier_uniform_").uniform(-a, a, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = _real(gain, "xavier_normal_", "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(tensor, _rng(generator, "xavier_normal_").normal(0.0, std, tensor.shape))


def _kaiming_std(tensor: Tensor, a: Any, mode: str, nonlinearity: str, fn: str) -> float | None:
    _check_tensor(tensor, fn)
    if 0 in tensor.shape:
        warnings.warn(f"{fn}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode, fn)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain from
    calculate_gain(nonlinearity, a) and fan from mode ("fan_in" or "fan_out")."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _write(tensor, _rng(generator, "kaiming_uniform_").uniform(-bound, bound, tensor.shape))


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return _write(tensor, _rng(generator, "kaiming_normal_").normal(0.0, std, tensor.shape))
