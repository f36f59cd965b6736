"""Test helpers: check a differentiable op against its NumPy float64 reference in one line.

    from deltagrad.testing import check_op
    check_op(F.tanh, np.tanh, [(7, 3)])
    check_op(lambda a, b: a * b, lambda a, b: a * b, [(5, 1), (1, 4)])

check_op draws random inputs, then on every available device compares (1) the forward value
with the reference, (2) the gradients backward() gives with central differences of the
*reference* (float64), and (3) runs dg.gradcheck on the op itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .gradcheck import gradcheck
from .tensor import Tensor

__all__ = ["check_op", "available_devices", "assert_close"]


def available_devices() -> list[str]:
    """["cpu"], plus "cuda" when this build has CUDA and a GPU is present."""
    devices = ["cpu"]
    try:
        from . import info

        if info()["cuda_available"]:
            import cupy  # noqa: F401

            devices.append("cuda")
    except Exception:
        pass
    return devices


def _host(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.data
    return np.asarray(x.get() if hasattr(x, "get") else x, dtype=np.float64)


def assert_close(actual: Any, expected: Any, *, atol: float, rtol: float, what: str) -> None:
    """np.testing.assert_allclose with a message naming `what`; shapes must match."""
    a, e = _host(actual), _host(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape}, expected {e.shape}")
    np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=what)


def _numerical_vjp(ref_fn: Callable[..., Any], arrays: list[np.ndarray], i: int,
                   v: np.ndarray, eps: float) -> np.ndarray:
    """d(sum(v * ref_fn(...)))/d(arrays[i]) by central differences, in float64."""
    x = arrays[i]
    grad = np.zeros_like(x)
    for k in range(x.size):
        orig = x.flat[k]
        x.flat[k] = orig + eps
        plus = np.array(ref_fn(*arrays), dtype=np.float64)  # a copy: may be a view of x
        x.flat[k] = orig - eps
        minus = np.array(ref_fn(*arrays), dtype=np.float64)
        x.flat[k] = orig
        grad.flat[k] = np.sum(v * (plus - minus)) / (2 * eps)
    return grad


def check_op(dg_fn: Callable[..., Tensor], ref_fn: Callable[..., Any],
             shapes: Sequence[tuple[int, ...]], *, inputs: Sequence[np.ndarray] | None = None,
             low: float = -2.0, high: float = 2.0, grad: Sequence[bool] | bool = True,
             dtype: Any = np.float64, atol: float = 1e-7, rtol: float = 1e-6,
             grad_atol: float = 1e-5, grad_rtol: float = 1e-4, eps: float = 1e-6,
             gradcheck_op: bool = True, devices: Sequence[str] | None = None,
             seed: int = 0) -> None:
    """Compare dg_fn (on Tensors) with ref_fn (on float64 numpy arrays): forward, gradients
    and gradcheck, on every device in `devices` (default: all available).

    shapes: one shape per input, drawn from U(low, high) (or pass `inputs` explicitly).
    grad: which inputs to differentiate (one bool for all). Raises AssertionError naming the
    device, the input and the mismatch.
    """
    rng = np.random.default_rng(seed)
    if inputs is None:
        arrays = [rng.uniform(low, high, s) for s in shapes]
    else:
        arrays = [np.array(a, dtype=np.float64) for a in inputs]
    wants = [grad] * len(arrays) if isinstance(grad, bool) else list(grad)
    if len(wants) != len(arrays):
        raise ValueError(f"check_op: grad has {len(wants)} entries for {len(arrays)} inputs")
    expected = np.asarray(ref_fn(*[a.copy() for a in arrays]), dtype=np.float64)
    v = rng.standard_normal(expected.shape)
    ref_grads = [_numerical_vjp(ref_fn, [a.copy() for a in arrays], i, v, eps) if w else None
                 for i, (a, w) in enumerate(zip(arrays, wants))]
    for device in devices or available_devices():
        ts = [Tensor(a.astype(dtype), requires_grad=w, device=device)
              for a, w in zip(arrays, wants)]
        out = dg_fn(*ts)
        assert_close(out, expected, atol=atol, rtol=rtol, what=f"{device}: forward")
        if not any(wants):
            continue
        out.backward(Tensor(v.astype(out.dtype), device=device))
        for i, (t, rg) in enumerate(zip(ts, ref_grads)):
            if rg is None:
                continue
            if t.grad is None:
                raise AssertionError(f"{device}: input {i} got no gradient")
            assert_close(t.grad, rg, atol=grad_atol, rtol=grad_rtol,
                         what=f"{device}: gradient of input {i} vs the reference's")
        if gradcheck_op and np.dtype(dtype) == np.float64:
            fresh = [Tensor(a, requires_grad=w, device=device) for a, w in zip(arrays, wants)]
            gradcheck(dg_fn, fresh, eps=eps, atol=grad_atol, rtol=grad_rtol)
