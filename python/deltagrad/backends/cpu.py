"""The CPU backend of ``dg.ops``: the compiled ``_cpu`` module (AVX2 / AVX-512 kernels).

Its bindings validate every argument themselves (csrc/bindings, the authority for the CPU) and
release the GIL while a kernel runs; this module re-exports them under the ops contract's names
(backends.cuda.OPS), adding only matmul's ``precision`` keyword, which the CPU ignores (it always
computes in full precision).
"""

from __future__ import annotations

from typing import Any

from .._cpu import (
    ACTIVATIONS,
    LOSSES,
    REDUCTIONS,
    SAVES_INPUT,
    activation,
    activation_backward,
    adam_update,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    index_add_,
    linear_backward,
    linear_forward,
    log_softmax,
    log_softmax_backward,
    mse_loss,
    reduce_sum,
    sgd_update,
    softmax,
    softmax_backward,
    softmax_cross_entropy,
    sum_of_squares,
)

# The fast entries (csrc/bindings/fastcall.h): dg.ops's common case (numpy arrays and Python
# scalars, all arguments positional) past pybind11's dispatcher, straight to the same binding
# code; NotImplemented for anything else, and on a thread with a host-backend override (the flag
# use_host_backend sets with set_host_override), so that dg.ops takes its general path.
from .._cpu import _fast_activation as fast_activation  # noqa: F401
from .._cpu import _fast_activation_backward as fast_activation_backward  # noqa: F401
from .._cpu import _fast_linear_backward as fast_linear_backward  # noqa: F401
from .._cpu import _fast_linear_forward as fast_linear_forward  # noqa: F401
from .._cpu import _fast_matmul as fast_matmul  # noqa: F401
from .._cpu import _set_host_override as set_host_override  # noqa: F401
from .._cpu import matmul as matmul_positional  # (a, b, trans_a, trans_b, alpha, beta, out)

__all__ = [
    "ACTIVATIONS",
    "SAVES_INPUT",
    "LOSSES",
    "REDUCTIONS",
    "matmul",
    "activation",
    "activation_backward",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "softmax_cross_entropy",
    "sum_of_squares",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "linear_forward",
    "linear_backward",
    "reduce_sum",
    "index_add_",
    "sgd_update",
    "adam_update",
]


def matmul(
    a: Any,
    b: Any,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    out: Any = None,
    precision: Any = None,
) -> Any:
    """The binding's matmul; precision is accepted (checked by dg.ops) and ignored."""
    return matmul_positional(a, b, trans_a, trans_b, alpha, beta, out)


# Conv2d (csrc/bindings/cpu_conv.cpp): CPU only until the CUDA kernels exist.
from .._cpu import conv2d_backward, conv2d_forward  # noqa: E402

__all__ += ["conv2d_forward", "conv2d_backward"]
