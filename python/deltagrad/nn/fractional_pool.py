"""FractionalMaxPool2d and FractionalMaxPool3d, as torch.nn: max pooling over windows at
pseudo-random starts to a given output size or ratio. The arithmetic is
deltagrad.functional's fractional_max_pool2d / fractional_max_pool3d."""

from __future__ import annotations

import numbers
from typing import Any

from .. import functional as F
from .module import Module

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d"]


def _tuple(v: Any, n: int) -> tuple[Any, ...]:
    """torch's _pair / _triple: a sequence as a tuple, else v repeated n times."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _FractionalMaxPoolNd(Module):
    """kernel_size, output_size / output_ratio (exactly one; a ratio in (0, 1) on each axis)
    and return_indices stored as torch's tuples; _random_samples a buffer (None: fresh samples
    at every call). torch gives these modules no extra_repr, nor does deltagrad."""

    _nd = 2

    def __init__(
        self,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Any = None,
    ) -> None:
        super().__init__()
        nd, name = self._nd, type(self).__name__
        if nd == 3 and any(
            isinstance(k, numbers.Real) and k <= 0 for k in _tuple(kernel_size, nd)
        ):  # torch checks this for the 3-D module only; the 2-D one fails at its call
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = _tuple(kernel_size, nd)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _tuple(output_size, nd) if output_size is not None else None
        self.output_ratio = _tuple(output_ratio, nd) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"{name} requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None:
            ratios = self.output_ratio[:nd]
            if any(not isinstance(r, numbers.Real) for r in ratios):
                raise TypeError(f"{name}: output_ratio: expected numbers, got {output_ratio!r}")
            if not all(0 < r < 1 for r in ratios):
                raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Any) -> Any:  # noqa: A002
        fn = F.fractional_max_pool2d if self._nd == 2 else F.fractional_max_pool3d
        return fn(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """2-D fractional max pooling over (N, C, H, W) / (C, H, W): the maximum of each
    kernel_size window at torch's pseudo-random starts, to output_size (oH, oW) or
    int(input size * output_ratio); with return_indices, also each maximum's flat H*W index
    (for MaxUnpool2d)."""

    _nd = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """3-D fractional max pooling over (N, C, D, H, W) / (C, D, H, W), as FractionalMaxPool2d
    with triples; indices flat in each D*H*W volume."""

    _nd = 3
