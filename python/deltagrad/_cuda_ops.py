# temporary shim: removed at integration
"""Old name of deltagrad.backends.cuda, kept only so the tests written against it run unchanged:
the module-level ops of the CUDA backend, and sum / mean / sum_to_shape (now dg.ops's, built on
reduce_sum) run on it."""

from __future__ import annotations

from typing import Any

from . import ops as _dg_ops
from .backends import use_host_backend
from .backends.cuda import (  # noqa: F401
    CUDA_IMPORT_ERROR,
    CudaOps,
    KernelOps,
    _cuda,
    availability,
    device_count,
    device_name,
    get_allow_tf32,
    ops,
    set_allow_tf32,
)

ACTIVATIONS = _dg_ops.ACTIVATIONS
NEEDS_INPUT = frozenset(a for a in ACTIVATIONS if _dg_ops.saves_input(a))


def _on(backend: Any, name: str) -> Any:
    """dg.ops's `name`, with host arrays sent to `backend` (the old per-backend reductions)."""

    def op(*args: Any, **kwargs: Any) -> Any:
        with use_host_backend(backend):
            return getattr(_dg_ops, name)(*args, **kwargs)

    op.__name__ = name
    return op


matmul = ops.matmul
activation = ops.activation
activation_backward = ops.activation_backward
softmax = ops.softmax
log_softmax = ops.log_softmax
softmax_backward = ops.softmax_backward
log_softmax_backward = ops.log_softmax_backward
softmax_cross_entropy = ops.softmax_cross_entropy
sum_of_squares = ops.sum_of_squares
mse_loss = ops.mse_loss
binary_cross_entropy = ops.binary_cross_entropy
binary_cross_entropy_with_logits = ops.binary_cross_entropy_with_logits
linear_forward = ops.linear_forward
linear_backward = ops.linear_backward
reduce_sum = ops.reduce_sum
sgd_update = ops.sgd_update
adam_update = ops.adam_update
sum = _on(ops, "sum")  # noqa: A001
mean = _on(ops, "mean")
sum_to_shape = _on(ops, "sum_to_shape")
