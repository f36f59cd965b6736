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
from collections.abc import Callable
from typing import Any

import numpy as np

from .._random import get_rng
from ..tensor import Tensor, get_array_module, no_grad

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    # deprecated aliases (torch's, for backward compatibility): they warn and forward
    "uniform",
    "normal",
    "constant",
    "eye",
    "dirac",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "sparse",
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


def _check_tensor(tensor: Any, fn: str, floating: bool = True) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: tensor: expected a Tensor, got {type(tensor).__name__}")
    if floating and tensor.dtype.kind != "f":
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


def _check_range(a: float, b: float, fn: str) -> None:
    """a > b: torch's Tensor.uniform_ error (RuntimeError, numbers printed as C++ does)."""
    if a > b:
        prefix = "" if fn == "uniform_" else f"{fn}: "
        raise RuntimeError(
            f"{prefix}uniform_ expects to return a [from, to) range, but found "
            f"from={a:g} > to={b:g}"
        )


def _check_std(std: float, fn: str) -> None:
    """std < 0: torch's Tensor.normal_ error (RuntimeError, numbers printed as C++ does)."""
    if std < 0:
        raise RuntimeError(f"{fn}: normal expects std >= 0.0, but found std {std:g}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from U(a, b); a > b raises RuntimeError, as torch."""
    _check_tensor(tensor, "uniform_")
    a, b = _real(a, "uniform_", "a"), _real(b, "uniform_", "b")
    _check_range(a, b, "uniform_")
    return _write(tensor, _rng(generator, "uniform_").uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from N(mean, std**2); std < 0 raises RuntimeError, as torch."""
    _check_tensor(tensor, "normal_")
    mean, std = _real(mean, "normal_", "mean"), _real(std, "normal_", "std")
    _check_std(std, "normal_")
    return _write(tensor, _rng(generator, "normal_").normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with val; an integer or bool tensor as torch fills it (Tensor.fill_: a float
    truncated toward zero, a value out of the dtype's range a RuntimeError)."""
    _check_tensor(tensor, "constant_", floating=False)
    if not _is_number(val):
        raise TypeError(f"constant_: val: expected a number, got {type(val).__name__}")
    if tensor.dtype.kind != "f":
        with no_grad():
            tensor.fill_(val)
        return tensor
    return _write(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros (any dtype, as torch)."""
    _check_tensor(tensor, "zeros_", floating=False)
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones (any dtype, as torch)."""
    _check_tensor(tensor, "ones_", floating=False)
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = _real(gain, "xavier_uniform_", "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    _check_range(-a, a, "xavier_uniform_")  # a negative gain, as torch
    return _write(tensor, _rng(generator, "xavier_uniform_").uniform(-a, a, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = _real(gain, "xavier_normal_", "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    _check_std(std, "xavier_normal_")  # a negative gain, as torch
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


# ---- truncated normal ----------------------------------------------------------------------


def _norm_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z, accurate in the upper tail."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _draw_until_accepted(
    n: int, propose: Callable[[int], np.ndarray], accept: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """n draws by rejection: propose(k) gives k candidates, accept(z) a mask of the kept ones;
    only the still-missing entries are redrawn."""
    out = np.empty(n)
    pending = np.arange(n)
    while pending.size:
        z = propose(pending.size)
        ok = accept(z)
        out[pending[ok]] = z[ok]
        pending = pending[~ok]
    return out


def _std_trunc_normal(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n exact draws of a standard normal truncated to [lo, hi] (lo < hi, may be infinite)."""
    p = _norm_sf(lo) - _norm_sf(hi)
    if p > 0.3:  # the bulk: plain rejection of normal draws (torch's rule)
        return _draw_until_accepted(n, rng.standard_normal, lambda z: (z >= lo) & (z <= hi))
    if lo < 0.0 < hi:  # a narrow window around 0: uniform proposals, accepted by the density
        return _draw_until_accepted(
            n, lambda k: rng.uniform(lo, hi, k), lambda z: rng.random(z.size) < np.exp(-0.5 * z * z)
        )
    sign = 1.0
    if hi <= 0.0:  # the lower tail: draw from the mirrored upper tail
        lo, hi, sign = -hi, -lo, -1.0
    if (hi - lo) * lo <= 1.0:  # short window: the density falls by < e across it
        # accepted with density(z) / density(lo), written so that a huge lo does not overflow
        z = _draw_until_accepted(
            n,
            lambda k: rng.uniform(lo, hi, k),
            lambda z: np.log(rng.random(z.size)) < -0.5 * (z - lo) * (z + lo),
        )
    else:  # long tail window: Robert's (1995) shifted-exponential proposal
        lam = 0.5 * lo + math.hypot(0.5 * lo, 1.0)  # (lo + sqrt(lo**2 + 4)) / 2
        z = _draw_until_accepted(
            n,
            lambda k: lo + rng.exponential(1.0 / lam, k),
            lambda z: (z <= hi) & (np.log(rng.random(z.size)) < -0.5 * (z - lam) ** 2),
        )
    return sign * z


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill with draws from N(mean, std**2) truncated to [a, b]. The sampler is exact for any
    window, in the bulk or far in a tail, and a and b may be infinite. As torch, a window whose
    mean is more than 2 std away warns (torch's text); a > b then raises RuntimeError, as torch."""
    fn = "trunc_normal_"
    _check_tensor(tensor, fn)
    mean, std = _real(mean, fn, "mean"), _real(std, fn, "std")
    if std <= 0:
        raise ValueError(f"{fn}: std: expected a number > 0, got {std}")
    for name, v in (("a", a), ("b", b)):
        if not _is_number(v) or math.isnan(v):
            raise ValueError(f"{fn}: {name}: expected a number (infinite allowed), got {v!r}")
    a, b = float(a), float(b)
    if a == b and math.isinf(a):
        raise ValueError(f"{fn}: expected a <= b with a finite window, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    _check_range(a, b, fn)  # after the warning, as torch (its uniform_(a, b) raises)
    rng = _rng(generator, fn)
    if a == b:
        return _write(tensor, np.full(tensor.shape, a))
    lo, hi = (a - mean) / std, (b - mean) / std
    if lo == hi:  # both overflowed: a window ~1e308 std away, where every draw is its near end
        return _write(tensor, np.full(tensor.shape, a if lo > 0 else b))
    z = _std_trunc_normal(rng, math.prod(tensor.shape), lo, hi)
    # the clip only absorbs the last-bit rounding of mean + std * z
    return _write(tensor, np.clip(mean + std * z, a, b).reshape(tensor.shape))


# ---- structured initializers ---------------------------------------------------------------


def _check_any_tensor(tensor: Any, fn: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: tensor: expected a Tensor, got {type(tensor).__name__}")
    return tensor


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the main diagonal of a possibly
    non-square matrix). Any dtype, as torch."""
    _check_any_tensor(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(
            f"eye_: tensor: Only tensors with 2 dimensions are supported, got {tensor.ndim}"
        )
    return _write(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: for each of the groups,
    output channel d of the group takes input channel d at the kernel's centre (size // 2),
    for d < min(out_channels // groups, in_channels), so the convolution keeps as many input
    channels as it can. Any dtype, as torch."""
    _check_any_tensor(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(
            "dirac_: tensor: Only tensors with 3, 4, or 5 dimensions are supported, "
            f"got {tensor.ndim}"
        )
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"dirac_: groups: expected an int, got {type(groups).__name__}")
    if groups < 1:
        raise ValueError(f"dirac_: groups: expected a positive int, got {groups}")
    shape = tensor.shape
    if shape[0] % groups != 0:
        raise ValueError(
            f"dirac_: dim 0 must be divisible by groups, got size {shape[0]} and groups {groups}"
        )
    values = np.zeros(shape)
    if values.size:
        per_group = shape[0] // groups
        d = np.arange(min(per_group, shape[1]))
        centre = tuple(s // 2 for s in shape[2:])
        for g in range(int(groups)):
            values[(g * per_group + d, d) + centre] = 1
    return _write(tensor, values)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix scaled by gain (Saxe et al. 2013): the trailing
    dimensions are flattened to a (rows, cols) matrix, whose rows (rows <= cols) or columns are
    orthonormal. As torch: the Q of the QR factorization of a (rows, cols) standard-normal draw
    (of its transpose when rows < cols), each column multiplied by the sign of R's diagonal
    entry, which makes Q Haar-distributed (Mezzadri 2006)."""
    fn = "orthogonal_"
    _check_tensor(tensor, fn)
    if tensor.ndim < 2:
        raise ValueError(
            f"{fn}: tensor: Only tensors with 2 or more dimensions are supported, got {tensor.ndim}"
        )
    gain = _real(gain, fn, "gain")
    rng = _rng(generator, fn)
    if 0 in tensor.shape:
        return tensor
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape) // rows
    flattened = rng.normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (gain * q).reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Fill a 2-D tensor as a sparse matrix (Martens 2010): N(0, std**2) draws, then in every
    column ceil(sparsity * rows) entries at random rows set to zero. The zero rows come from
    generator too (torch draws them from its global generator whatever generator is)."""
    fn = "sparse_"
    _check_tensor(tensor, fn)
    if tensor.ndim != 2:
        raise ValueError(
            f"{fn}: tensor: Only tensors with 2 dimensions are supported, got {tensor.ndim}"
        )
    if not _is_number(sparsity) or not 0 <= sparsity <= 1:
        raise ValueError(f"{fn}: sparsity: expected a number in [0, 1], got {sparsity!r}")
    std = _real(std, fn, "std")
    _check_std(std, fn)
    rng = _rng(generator, fn)
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)  # torch's count, float rounding included
    values = rng.normal(0.0, std, (rows, cols))
    # a uniformly random set of num_zeros rows in each column: the first of a random ordering
    zero_rows = np.argsort(rng.random((rows, cols)), axis=0)[:num_zeros]
    values[zero_rows, np.arange(cols)] = 0.0
    return _write(tensor, values)


# ---- deprecated aliases ----------------------------------------------------------------------


def _make_deprecate(meth: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch's old names without the trailing underscore: a FutureWarning, then the new one."""
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"{old_name}(...): deprecated, use nn.init.{new_name}."
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
