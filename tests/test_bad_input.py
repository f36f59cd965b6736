"""Bad input at the binding edge: every case gets a clear exception or the right answer.

One table of bad-input cases (CASES), run on the CPU ops (dg.ops) and, where the op exists,
on the SIMT emulator's ops (the CUDA ops contract, KernelOps). Each case names the
exception type and a regex that the message must match: the op, the argument, what was
expected and what came ("<op>: <argument>: expected ..., got ..."). A case that raised
nothing, the wrong type, or an unclear message fails.

Then "correct answer" cases: views (negative strides, Fortran order, broadcast, misaligned,
byte-swapped), aliasing / in-place outputs, sizes past int32 through zero-stride views, NaN and
inf, each compared with deltagrad.reference (NumPy float64). docs/RELIABILITY.md lists every
case by category with the test that covers it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _cpu
from deltagrad import reference as R
from deltagrad.testing import assert_close, cuda_module, simt_ops

SIMT = simt_ops()  # None when the _simt module is not built (every configuration builds it)

CPU = dg.ops
GIB = 1 << 30


def f32(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


def readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def misaligned(a: np.ndarray) -> np.ndarray:
    """A copy of a whose data pointer is one byte past an aligned address."""
    buf = np.empty(a.nbytes + 1, np.uint8)
    m = buf[1:].view(a.dtype).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned
    return m


def labels(*v: int, dtype: Any = np.int64) -> np.ndarray:
    return np.array(v, dtype=dtype)


class FakeCudaArray:
    """An object that says it lives on a CUDA device (has __cuda_array_interface__)."""

    __cuda_array_interface__ = {"shape": (3, 4), "typestr": "<f4", "data": (0, False), "version": 3}


@dataclass
class Case:
    id: str
    category: str
    call: Callable[[Any], Any]  # call(ops) performs the bad call on that backend
    exc: type[BaseException]
    match: str  # regex the message must match (re.search)
    simt: str | None | bool = True  # True: same regex on simt; a str: simt's regex; None: CPU only
    simt_exc: type[BaseException] | None = None


def adam(o: Any, **kw: Any) -> Any:
    p = f32(3, 4)
    args = dict(step=1)
    args.update(kw)
    return o.adam_update(p, f32(3, 4, seed=1), np.zeros_like(p), np.zeros_like(p), **args)


def sgd(o: Any, **kw: Any) -> Any:
    p = f32(3, 4)
    return o.sgd_update(p, f32(3, 4, seed=1), np.zeros_like(p), **kw)


X34 = "(3, 4)"
CASES: list[Case] = [
    # ---- dtype --------------------------------------------------------------------------------
    Case(
        "matmul-int32",
        "dtype",
        lambda o: o.matmul(f32(3, 4).astype(np.int32), f32(4, 5)),
        TypeError,
        r"matmul: a: expected dtype float32 or float64, got int32",
    ),
    Case(
        "matmul-float16",
        "dtype",
        lambda o: o.matmul(f32(3, 4), f32(4, 5).astype(np.float16)),
        TypeError,
        r"matmul: b: expected dtype float32 or float64, got float16",
    ),
    Case(
        "activation-complex",
        "dtype",
        lambda o: o.activation(f32(3, 4).astype(np.complex64), "relu"),
        TypeError,
        r"activation: x: expected dtype float32 or float64, got complex64",
    ),
    Case(
        "softmax-bool",
        "dtype",
        lambda o: o.softmax(f32(3, 4) > 0),
        TypeError,
        r"softmax: x: expected dtype float32 or float64, got bool",
    ),
    Case(
        "sum-int64",
        "dtype",
        lambda o: o.sum(np.arange(6).reshape(2, 3)),
        TypeError,
        r"sum: x: expected dtype float32 or float64, got int64",
    ),
    Case(
        "sum-0d-int",
        "dtype",
        lambda o: o.sum(np.array(3, dtype=np.int32)),
        TypeError,
        r"sum: x: expected dtype float32 or float64, got int32",
    ),
    Case(
        "mse-object",
        "dtype",
        lambda o: o.mse_loss(f32(3).astype(object), f32(3)),
        TypeError,
        r"mse_loss: y: expected dtype float32 or float64, got object",
    ),
    Case(
        "sgd-param-int",
        "dtype",
        lambda o: o.sgd_update(np.ones(3, np.int32), np.ones(3, np.int32), None, lr=0.1),
        TypeError,
        r"sgd_update: param: expected dtype float32 or float64, got int32",
    ),
    Case(
        "matmul-mixed",
        "dtype",
        lambda o: o.matmul(f32(3, 4), f64(4, 5)),
        TypeError,
        r"matmul: b: expected dtype float32 \(the dtype of .*\), got float64",
    ),
    Case(
        "mse-mixed",
        "dtype",
        lambda o: o.mse_loss(f32(3, 4), f64(3, 4)),
        TypeError,
        r"mse_loss: t: expected dtype float32 \(the dtype of y\), got float64",
    ),
    Case(
        "act-bwd-mixed",
        "dtype",
        lambda o: o.activation_backward(f64(3, 4), f32(3, 4), "tanh"),
        TypeError,
        r"activation_backward: saved: expected dtype float64 .*got float32",
    ),
    Case(
        "linear-bias-mixed",
        "dtype",
        lambda o: o.linear_forward(f32(3, 4), f32(5, 4), f64(5)),
        TypeError,
        r"linear_forward: b: expected dtype float32 .*got float64",
    ),
    Case(
        "adam-m-mixed",
        "dtype",
        lambda o: o.adam_update(f32(3), f32(3), np.zeros(3), np.zeros(3, np.float32), step=1),
        TypeError,
        r"adam_update: m: expected dtype float32.*got float64",
    ),
    Case(
        "sgd-param-byteswapped",
        "dtype",
        lambda o: o.sgd_update(f32(3).astype(">f4"), f32(3), None, lr=0.1),
        TypeError,
        r"sgd_update: param: expected dtype float32.*got .*>f4",
    ),
    Case(
        "matmul-out-byteswapped",
        "dtype",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), out=np.zeros((3, 5), ">f4")),
        TypeError,
        r"matmul: out: expected dtype float32.*got .*>f4",
    ),
    # ---- shape / ndim -------------------------------------------------------------------------
    Case(
        "matmul-1d",
        "shape",
        lambda o: o.matmul(f32(4), f32(4, 5)),
        ValueError,
        r"matmul: a: expected an array with at least 2 dimensions.*got shape \(4,\)",
    ),
    Case(
        "matmul-batch",
        "shape",
        lambda o: o.matmul(f32(3, 3, 4), f32(2, 4, 5)),
        ValueError,
        r"matmul: batch dimensions do not broadcast: a has shape \(3, 3, 4\), b has shape "
        r"\(2, 4, 5\)",
    ),
    Case(
        "matmul-0d",
        "shape",
        lambda o: o.matmul(np.array(1.0, np.float32), f32(4, 5)),
        ValueError,
        r"matmul: a: expected an array with at least 2 dimensions.*got shape \(\)",
    ),
    Case(
        "matmul-inner",
        "shape",
        lambda o: o.matmul(f32(3, 4), f32(5, 5)),
        ValueError,
        r"matmul: inner dimensions differ: op\(a\) is 3x4 .*op\(b\) is 5x5",
    ),
    Case(
        "matmul-inner-trans",
        "shape",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), trans_b=True),
        ValueError,
        r"matmul: inner dimensions differ: .*trans_b=True",
    ),
    Case(
        "softmax-0d",
        "shape",
        lambda o: o.softmax(np.array(1.0)),
        ValueError,
        r"softmax: x: expected at least 1 dimension, got a 0-d array",
    ),
    Case(
        "xent-logits-1d",
        "shape",
        lambda o: o.softmax_cross_entropy(f32(4), labels(0)),
        ValueError,
        r"softmax_cross_entropy: logits: expected a 2-D array.*got shape \(4,\)",
    ),
    Case(
        "xent-logits-3d",
        "shape",
        lambda o: o.softmax_cross_entropy(f32(2, 3, 4), labels(0, 1)),
        ValueError,
        r"softmax_cross_entropy: logits: expected a 2-D array.*got shape \(2, 3, 4\)",
    ),
    Case(
        "mse-shape",
        "shape",
        lambda o: o.mse_loss(f32(3, 4), f32(4, 3)),
        ValueError,
        r"mse_loss: t: expected shape \(3, 4\).*got \(4, 3\)",
    ),
    Case(
        "bce-shape",
        "shape",
        lambda o: o.binary_cross_entropy(f32(3), f32(4)),
        ValueError,
        r"binary_cross_entropy: t: expected shape \(3,\).*got \(4,\)",
    ),
    Case(
        "act-bwd-shape",
        "shape",
        lambda o: o.activation_backward(f32(3, 4), f32(4, 3), "relu"),
        ValueError,
        r"activation_backward: saved: expected shape \(3, 4\).*got \(4, 3\)",
    ),
    Case(
        "softmax-bwd-shape",
        "shape",
        lambda o: o.softmax_backward(f32(3, 4), f32(3, 5)),
        ValueError,
        r"softmax_backward: y: expected shape \(3, 4\).*got \(3, 5\)",
    ),
    Case(
        "linear-w-shape",
        "shape",
        lambda o: o.linear_forward(f32(3, 4), f32(5, 3)),
        ValueError,
        r"linear_forward: w: expected shape \(out_features, 4\).*got \(5, 3\)",
    ),
    Case(
        "linear-x-1d",
        "shape",
        lambda o: o.linear_forward(f32(4), f32(5, 4)),
        ValueError,
        r"linear_forward: x: expected a 2-D array.*got shape \(4,\)",
    ),
    Case(
        "linear-b-shape",
        "shape",
        lambda o: o.linear_forward(f32(3, 4), f32(5, 4), f32(4)),
        ValueError,
        r"linear_forward: b: expected shape \(5,\), got \(4,\)",
    ),
    Case(
        "linear-bwd-dy-shape",
        "shape",
        lambda o: o.linear_backward(f32(3, 4), f32(3, 4), f32(5, 4), f32(3, 5), "relu"),
        ValueError,
        r"linear_backward: dy: expected shape \(3, 5\), got \(3, 4\)",
    ),
    Case(
        "linear-bwd-saved-shape",
        "shape",
        lambda o: o.linear_backward(f32(3, 5), f32(3, 4), f32(5, 4), f32(3, 4), "gelu"),
        ValueError,
        r"linear_backward: .*saved: expected shape \(3, 5\).*got \(3, 4\)",
    ),
    Case(
        "linear-bwd-saved-none",
        "shape",
        lambda o: o.linear_backward(f32(3, 5), f32(3, 4), f32(5, 4), None, "relu"),
        ValueError,
        r"linear_backward: saved: activation 'relu' needs y \(the output\), got None",
    ),
    Case(
        "sgd-grad-shape",
        "shape",
        lambda o: o.sgd_update(f32(3, 4), f32(4, 3), None, lr=0.1),
        ValueError,
        r"sgd_update: grad: expected shape \(3, 4\), got \(4, 3\)",
    ),
    Case(
        "adam-v-shape",
        "shape",
        lambda o: o.adam_update(
            f32(3, 4), f32(3, 4), np.zeros((3, 4), np.float32), np.zeros(12, np.float32), step=1
        ),
        ValueError,
        r"adam_update: v: expected shape \(3, 4\), got \(12,\)",
    ),
    Case(
        "sgd-buf-missing",
        "shape",
        lambda o: o.sgd_update(f32(3), f32(3), None, lr=0.1, momentum=0.9),
        ValueError,
        r"sgd_update: buf: momentum != 0 needs a momentum buffer, got None",
    ),
    Case(
        "sum-axis-out-of-range",
        "shape",
        lambda o: o.sum(f32(3, 4), axis=2),
        ValueError,
        r"sum: axis: 2 is out of bounds for an array of dimension 2",
    ),
    Case(
        "mean-axis-negative",
        "shape",
        lambda o: o.mean(f32(3, 4), axis=-3),
        ValueError,
        r"(mean|sum): axis: -3 is out of bounds for an array of dimension 2",
    ),
    Case(
        "sum-axis-repeated",
        "shape",
        lambda o: o.sum(f32(3, 4), axis=(1, -1)),
        ValueError,
        r"sum: axis: 1 is repeated",
    ),
    Case(
        "sum-axis-float",
        "shape",
        lambda o: o.sum(f32(3, 4), axis=1.0),
        TypeError,
        r"sum: axis: expected an int, a tuple of ints or None, got 1\.0",
    ),
    Case(
        "sum-axis-str",
        "shape",
        lambda o: o.sum(f32(3, 4), axis="0"),
        TypeError,
        r"sum: axis: expected an int, a tuple of ints or None, got '0'",
    ),
    Case(
        "sum-to-shape-impossible",
        "shape",
        lambda o: o.sum_to_shape(f32(3, 4), (2, 4)),
        ValueError,
        r"sum_to_shape: shape: expected a shape that broadcasts to the gradient "
        r"\(3, 4\), got \(2, 4\)",
    ),
    Case(
        "sum-to-shape-more-dims",
        "shape",
        lambda o: o.sum_to_shape(f32(3, 4), (2, 3, 4)),
        ValueError,
        r"sum_to_shape: shape: .*\(2, 3, 4\)",
    ),
    Case(
        "sum-to-shape-negative",
        "shape",
        lambda o: o.sum_to_shape(f32(3, 4), (-1, 4)),
        ValueError,
        r"sum_to_shape: shape: expected non-negative dimensions, got \(-1, 4\)",
    ),
    Case(
        "sum-to-shape-str",
        "shape",
        lambda o: o.sum_to_shape(f32(3, 4), "ab"),
        TypeError,
        r"sum_to_shape: shape: expected a tuple of ints, got str 'ab'",
    ),
    Case(
        "sum-to-shape-none",
        "shape",
        lambda o: o.sum_to_shape(f32(3, 4), None),
        TypeError,
        r"sum_to_shape: shape: expected a tuple of ints, got NoneType",
    ),
    Case(
        "xent-no-classes",
        "shape",
        lambda o: o.softmax_cross_entropy(f32(3, 0), labels(0, 0, 0)),
        ValueError,
        r"softmax_cross_entropy: logits: expected at least one class, got shape "
        r"\(3, 0\)",
    ),
    # ---- strides (in-place buffers are never copied) ------------------------------------------
    Case(
        "sgd-param-strided",
        "strides",
        lambda o: o.sgd_update(f32(3, 8)[:, ::2], f32(3, 4), None, lr=0.1),
        ValueError,
        r"sgd_update: param: expected a C-contiguous array",
    ),
    Case(
        "adam-m-fortran",
        "strides",
        lambda o: o.adam_update(
            f32(3, 4),
            f32(3, 4),
            np.zeros((3, 4), np.float32, order="F"),
            np.zeros((3, 4), np.float32),
            step=1,
        ),
        ValueError,
        r"adam_update: m: expected a C-contiguous array",
    ),
    Case(
        "activation-out-strided",
        "strides",
        lambda o: o.activation(f32(3, 4), "relu", out=np.zeros((3, 8), np.float32)[:, ::2]),
        ValueError,
        r"activation: out: expected a C-contiguous array",
    ),
    Case(
        "softmax-out-negative-stride",
        "strides",
        lambda o: o.softmax(f32(3, 4), out=np.zeros((3, 4), np.float32)[::-1]),
        ValueError,
        r"softmax: out: expected a C-contiguous array",
    ),
    Case(
        "activation-out-misaligned",
        "strides",
        lambda o: o.activation(f32(3, 4), "relu", out=misaligned(np.zeros((3, 4), np.float32))),
        ValueError,
        r"activation: out: expected an aligned array",
    ),
    Case(
        "matmul-out-zero-stride",
        "strides",
        lambda o: o.matmul(
            f32(3, 4),
            f32(4, 5),
            out=np.lib.stride_tricks.as_strided(np.zeros(5, np.float32), (3, 5), (0, 4)),
        ),
        ValueError,
        r"matmul: out: expected an array whose elements do not overlap",
    ),
    # ---- outputs ------------------------------------------------------------------------------
    Case(
        "matmul-out-readonly",
        "outputs",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), out=readonly(np.zeros((3, 5), np.float32))),
        ValueError,
        r"matmul: out: expected a writable array, got a read-only one",
    ),
    Case(
        "matmul-out-dtype",
        "outputs",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), out=np.zeros((3, 5))),
        TypeError,
        r"matmul: out: expected dtype float32, got float64",
    ),
    Case(
        "matmul-out-shape",
        "outputs",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), out=np.zeros((5, 3), np.float32)),
        ValueError,
        r"matmul: out: expected shape \(3, 5\), got \(5, 3\)",
    ),
    Case(
        "matmul-out-list",
        "outputs",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), out=[[0.0] * 5]),
        TypeError,
        r"matmul: out: expected a numpy.ndarray, got list",
    ),
    Case(
        "matmul-beta-without-out",
        "outputs",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), beta=1.0),
        ValueError,
        r"matmul: beta: must be 0 when out is None .*got 1(\.0)?",
    ),
    Case(
        "activation-out-readonly",
        "outputs",
        lambda o: o.activation(f32(3, 4), "relu", out=readonly(np.zeros((3, 4), np.float32))),
        ValueError,
        r"activation: out: expected a writable array, got a read-only one",
    ),
    Case(
        "activation-out-dtype",
        "outputs",
        lambda o: o.activation(f32(3, 4), "relu", out=np.zeros((3, 4))),
        TypeError,
        r"activation: out: expected dtype float32, got float64",
    ),
    Case(
        "activation-out-shape",
        "outputs",
        lambda o: o.activation(f32(3, 4), "relu", out=np.zeros((4, 3), np.float32)),
        ValueError,
        r"activation: out: expected shape \(3, 4\), got \(4, 3\)",
    ),
    Case(
        "activation-out-partial-overlap",
        "outputs",
        lambda o: (lambda buf: o.activation(buf[:8], "gelu", out=buf[2:]))(f32(10)),
        ValueError,
        r"activation: out: shares memory with an input without being exactly that",
    ),
    Case(
        "softmax-out-partial-overlap",
        "outputs",
        lambda o: (lambda buf: o.log_softmax(buf[:6].reshape(2, 3), out=buf[1:7].reshape(2, 3)))(
            f32(8)
        ),
        ValueError,
        r"log_softmax: out: shares memory with an input",
    ),
    Case(
        "act-bwd-out-overlaps-saved",
        "outputs",
        lambda o: (lambda buf: o.activation_backward(f32(6), buf[:6], "tanh", out=buf[1:7]))(
            f32(8)
        ),
        ValueError,
        r"activation_backward: out: shares memory with an input",
    ),
    Case(
        "softmax-out-readonly",
        "outputs",
        lambda o: o.softmax(f32(3, 4), out=readonly(np.zeros((3, 4), np.float32))),
        ValueError,
        r"softmax: out: expected a writable array, got a read-only one",
    ),
    Case(
        "sgd-param-readonly",
        "outputs",
        lambda o: o.sgd_update(readonly(f32(3)), f32(3), None, lr=0.1),
        ValueError,
        r"sgd_update: param: expected a writable array, got a read-only one",
    ),
    Case(
        "adam-v-readonly",
        "outputs",
        lambda o: o.adam_update(
            f32(3), f32(3), np.zeros(3, np.float32), readonly(np.zeros(3, np.float32)), step=1
        ),
        ValueError,
        r"adam_update: v: expected a writable array, got a read-only one",
    ),
    Case(
        "sgd-param-is-grad",
        "outputs",
        lambda o: (lambda p: o.sgd_update(p, p, None, lr=0.1))(f32(3)),
        ValueError,
        r"sgd_update: param and grad: must not share memory",
    ),
    Case(
        "adam-m-is-v",
        "outputs",
        lambda o: (lambda m: o.adam_update(f32(3), f32(3), m, m, step=1))(np.zeros(3, np.float32)),
        ValueError,
        r"adam_update: m and v: must not share memory",
    ),
    Case(
        "sgd-buf-overlaps-param",
        "outputs",
        lambda o: (lambda w: o.sgd_update(w[:4], f32(4), w[2:], lr=0.1, momentum=0.9))(f32(6)),
        ValueError,
        r"sgd_update: param and buf: must not share memory",
    ),
    # ---- types: None, strings, lists, scalars where arrays are expected ---------------------
    Case(
        "matmul-none",
        "types",
        lambda o: o.matmul(None, f32(4, 5)),
        TypeError,
        r"matmul: a: expected a(n array \(numpy.ndarray\)| numpy.ndarray), got None",
    ),
    Case(
        "activation-str",
        "types",
        lambda o: o.activation("abc", "relu"),
        TypeError,
        r"activation: x: expected a(n array \(numpy.ndarray\)| numpy.ndarray), got str",
    ),
    Case(
        "sum-none",
        "types",
        lambda o: o.sum(None),
        TypeError,
        r"sum: x: expected a(n array \(numpy.ndarray\)| numpy.ndarray), got None",
    ),
    Case(
        "linear-x-none",
        "types",
        lambda o: o.linear_forward(None, f32(5, 4)),
        TypeError,
        r"linear_forward: x: expected a.*got None",
    ),
    Case(
        "sgd-param-list",
        "types",
        lambda o: o.sgd_update([1.0, 2.0], [0.1, 0.1], None, lr=0.1),
        TypeError,
        r"sgd_update: param: expected a numpy.ndarray, got list",
    ),
    Case(
        "activation-list-of-str",
        "types",
        lambda o: o.activation(["a", "b"], "relu"),
        TypeError,
        r"activation: x: expected an array of float32 or float64 numbers, got list",
        simt=r"activation: x: expected a numpy.ndarray, got list",
    ),
    Case(
        "activation-list-of-ints",
        "types",
        lambda o: o.activation([1, 2], "relu"),
        TypeError,
        r"activation: x: expected dtype float32 or float64, got int64",
        simt=r"activation: x: expected a numpy.ndarray, got list",
    ),
    Case(
        "matmul-alpha-str",
        "types",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), alpha="2"),
        TypeError,
        r"matmul: alpha: expected a real number, got str '2'",
    ),
    Case(
        "matmul-beta-none",
        "types",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), beta=None, out=np.zeros((3, 5), np.float32)),
        TypeError,
        r"matmul: beta: expected a real number, got NoneType",
    ),
    Case(
        "activation-param-str",
        "types",
        lambda o: o.activation(f32(3), "leaky_relu", param="x"),
        TypeError,
        r"activation: param: expected a real number, got str",
    ),
    Case(
        "act-name-none",
        "types",
        lambda o: o.activation(f32(3), None),
        TypeError,
        r"activation: act: expected a str, got NoneType",
    ),
    Case(
        "reduction-none",
        "types",
        lambda o: o.mse_loss(f32(3), f32(3), None),
        TypeError,
        r"mse_loss: reduction: expected a str, got NoneType",
    ),
    # ---- names ---------------------------------------------------------------------------------
    Case(
        "act-unknown",
        "names",
        lambda o: o.activation(f32(3), "swish"),
        ValueError,
        r"activation: act: expected one of .*'relu'.*got 'swish'",
    ),
    Case(
        "act-wrong-case",
        "names",
        lambda o: o.linear_forward(f32(3, 4), f32(5, 4), None, "ReLU"),
        ValueError,
        r"linear_forward: act: expected one of .*got 'ReLU'",
    ),
    Case(
        "act-bwd-unknown",
        "names",
        lambda o: o.activation_backward(f32(3), f32(3), "squareplus"),
        ValueError,
        r"activation_backward: act: expected one of .*got 'squareplus'",
    ),
    Case(
        "reduction-unknown",
        "names",
        lambda o: o.mse_loss(f32(3), f32(3), "avg"),
        ValueError,
        r"mse_loss: reduction: expected 'mean', 'sum' or 'none', got 'avg'",
    ),
    Case(
        "xent-reduction-case",
        "names",
        lambda o: o.softmax_cross_entropy(f32(2, 3), labels(0, 1), "MEAN"),
        ValueError,
        r"softmax_cross_entropy: reduction: expected 'mean', 'sum' or 'none', "
        r"got 'MEAN'",
    ),
    Case(
        "bce-logits-reduction",
        "names",
        lambda o: o.binary_cross_entropy_with_logits(f32(3), f32(3), "elementwise"),
        ValueError,
        r"binary_cross_entropy_with_logits: reduction: expected .*got 'elementwise'",
    ),
    Case(
        "matmul-precision",
        "names",
        lambda o: o.matmul(f32(2, 2), f32(2, 2), precision="fp16"),
        ValueError,
        r"matmul: precision: expected .*'tf32'.*got 'fp16'",
    ),
    Case(
        "saves-input-unknown",
        "names",
        lambda o: CPU.saves_input("swish"),
        ValueError,
        r"saves_input: act: expected one of .*got 'swish'",
        simt=None,
    ),
    # ---- labels --------------------------------------------------------------------------------
    Case(
        "labels-too-big",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), labels(0, 1, 4)),
        ValueError,
        r"softmax_cross_entropy: target: class index 4 .*out of range \[0, 4\)",
    ),
    Case(
        "labels-negative",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), labels(0, -1, 2)),
        ValueError,
        r"softmax_cross_entropy: target: class index -1 .*out of range \[0, 4\)",
    ),
    Case(
        "labels-int32-out-of-range",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), labels(0, 1, 7, dtype=np.int32)),
        ValueError,
        r"softmax_cross_entropy: target: class index 7 .*out of range \[0, 4\)",
    ),
    Case(
        "labels-uint64-huge",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(2, 4), np.array([0, 2**64 - 1], np.uint64)),
        ValueError,
        r"softmax_cross_entropy: target: .*18446744073709551615.*out of range",
    ),
    Case(
        "labels-float",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), np.zeros(3)),
        TypeError,
        r"softmax_cross_entropy: target: expected an integer .*got (dtype )?float64",
    ),
    Case(
        "labels-bool",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(2, 4), np.array([True, False])),
        TypeError,
        r"softmax_cross_entropy: target: expected an integer .*got (dtype )?bool",
    ),
    Case(
        "labels-wrong-length",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), labels(0, 1)),
        ValueError,
        r"softmax_cross_entropy: target: expected shape \(3,\), got \(2,\)",
    ),
    Case(
        "labels-2d",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), np.zeros((3, 1), np.int64)),
        ValueError,
        r"softmax_cross_entropy: target: expected shape \(3,\), got \(3, 1\)",
    ),
    Case(
        "labels-none",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), None),
        TypeError,
        r"softmax_cross_entropy: target: expected an? .*class indices, got None",
    ),
    Case(
        "labels-scalar",
        "labels",
        lambda o: o.softmax_cross_entropy(f32(3, 4), np.int64(1)),
        ValueError,
        r"softmax_cross_entropy: target: expected shape \(3,\), got \(\)",
        simt=r"softmax_cross_entropy: target: expected a numpy.ndarray of class indices, "
        r"got int64",
        simt_exc=TypeError,
    ),
    # ---- sizes ---------------------------------------------------------------------------------
    Case(
        "activation-huge-broadcast",
        "sizes",
        lambda o: o.activation(np.broadcast_to(np.float32(1), (1 << 20, 1 << 20)), "relu"),
        ValueError,
        r"activation: x: expected an array this op can read in place, got a "
        r"broadcast .*view of shape \(1048576, 1048576\)",
    ),
    Case(
        "sum-broadcast-past-int64-bytes",
        "sizes",
        lambda o: o.sum(np.broadcast_to(np.float32(1), (1 << 30, 1 << 30))),
        ValueError,
        r"sum: x: expected an array this op can read in place, got a broadcast",
    ),
    Case(
        "softmax-huge-broadcast",
        "sizes",
        lambda o: o.softmax(np.broadcast_to(f32(1 << 16), (1 << 16, 1 << 16))),
        ValueError,
        r"softmax: x: expected an array this op can read in place",
    ),
    Case(
        "mse-huge-broadcast-target",
        "sizes",
        lambda o: o.mse_loss(f32(1, 1 << 10), np.broadcast_to(np.float32(0), (1 << 20, 1 << 10))),
        ValueError,
        r"mse_loss: t: expected an array this op can read in place",
    ),
    Case(
        "xent-huge-sliding-window",
        "sizes",
        lambda o: o.softmax_cross_entropy(
            np.lib.stride_tricks.as_strided(
                f32(1 << 16), (1 << 16, 1 << 16), (4, 4), writeable=False
            ),
            np.zeros(1 << 16, np.int64),
        ),
        ValueError,
        r"softmax_cross_entropy: logits: expected an array this op can read in",
    ),
    Case(
        "matmul-output-too-big",
        "sizes",
        lambda o: o.matmul(
            np.broadcast_to(np.float32(1), (1 << 22, 1)),
            np.broadcast_to(np.float32(1), (1, 1 << 22)),
        ),
        MemoryError,
        r"(64\.0 TiB|allocate)",
    ),
    Case(
        "adam-step-huge",
        "sizes",
        lambda o: adam(o, step=2**70),
        ValueError,
        r"adam_update: step: expected step >= 1 and < 2\*\*63.*got 1180591620717411303424",
    ),
    # ---- devices -------------------------------------------------------------------------------
    Case(
        "mixed-devices",
        "devices",
        lambda o: CPU.matmul(FakeCudaArray(), f32(4, 5)),
        TypeError,
        r"matmul: arguments are on different devices",
        simt=None,
    ),
    Case(
        "cuda-array-without-gpu",
        "devices",
        lambda o: CPU.activation(FakeCudaArray(), "relu"),
        RuntimeError,
        r"CUDA is not available|built without CUDA",
        simt=None,
    ),
    Case(
        "numpy-to-cuda-ops",
        "devices",
        lambda o: cuda_module().ops.activation(f32(3), "relu"),
        TypeError,
        r"activation: x: expected a cupy.ndarray, got ndarray \(move it to the cuda "
        r"device first\)",
        simt=None,
    ),
    # ---- hyper-parameters ----------------------------------------------------------------------
    Case(
        "matmul-alpha-bool",
        "hyper-parameters",
        lambda o: o.matmul(f32(3, 4), f32(4, 5), alpha=True),
        TypeError,
        r"matmul: alpha: expected a real number, got bool True",
    ),
    Case(
        "sgd-lr-negative",
        "hyper-parameters",
        lambda o: sgd(o, lr=-0.1),
        ValueError,
        r"sgd_update: lr: expected a learning rate >= 0, got -0\.1",
    ),
    Case(
        "sgd-lr-nan",
        "hyper-parameters",
        lambda o: sgd(o, lr=float("nan")),
        ValueError,
        r"sgd_update: lr: expected a learning rate >= 0, got nan",
    ),
    Case(
        "sgd-momentum-negative",
        "hyper-parameters",
        lambda o: sgd(o, lr=0.1, momentum=-0.9),
        ValueError,
        r"sgd_update: momentum: expected momentum >= 0, got -0\.9",
    ),
    Case(
        "sgd-weight-decay-nan",
        "hyper-parameters",
        lambda o: sgd(o, lr=0.1, weight_decay=float("nan")),
        ValueError,
        r"sgd_update: weight_decay: expected weight_decay >= 0, got nan",
    ),
    Case(
        "sgd-nesterov-without-momentum",
        "hyper-parameters",
        lambda o: sgd(o, lr=0.1, nesterov=True),
        ValueError,
        r"sgd_update: nesterov: requires momentum > 0 and dampening == 0",
    ),
    Case(
        "sgd-lr-str",
        "hyper-parameters",
        lambda o: sgd(o, lr="0.1"),
        TypeError,
        r"sgd_update: lr: expected a real number, got str",
    ),
    Case(
        "adam-lr-nan",
        "hyper-parameters",
        lambda o: adam(o, lr=float("nan")),
        ValueError,
        r"adam_update: lr: expected a learning rate >= 0, got nan",
    ),
    Case(
        "adam-beta1-one",
        "hyper-parameters",
        lambda o: adam(o, beta1=1.0),
        ValueError,
        r"adam_update: beta1: expected a value in \[0, 1\), got 1\.0",
    ),
    Case(
        "adam-beta2-negative",
        "hyper-parameters",
        lambda o: adam(o, beta2=-0.5),
        ValueError,
        r"adam_update: beta2: expected a value in \[0, 1\), got -0\.5",
    ),
    Case(
        "adam-eps-negative",
        "hyper-parameters",
        lambda o: adam(o, eps=-1e-8),
        ValueError,
        r"adam_update: eps: expected eps >= 0, got -1e-08",
    ),
    Case(
        "adam-step-zero",
        "hyper-parameters",
        lambda o: adam(o, step=0),
        ValueError,
        r"adam_update: step: expected step >= 1 and < 2\*\*63.*got 0",
    ),
    Case(
        "adam-step-fraction",
        "hyper-parameters",
        lambda o: adam(o, step=1.5),
        TypeError,
        r"adam_update: step: expected an int >= 1, got float 1\.5",
    ),
    Case(
        "adam-step-bool",
        "hyper-parameters",
        lambda o: adam(o, step=True),
        TypeError,
        r"adam_update: step: expected an int >= 1, got bool",
    ),
    # ---- threads (process-wide settings) -------------------------------------------------------
    Case(
        "threads-zero",
        "threads",
        lambda o: dg.set_num_threads(0),
        ValueError,
        r"set_num_threads: n: expected n >= 1 .*got 0",
        simt=None,
    ),
    Case(
        "threads-negative",
        "threads",
        lambda o: dg.set_num_threads(-1),
        ValueError,
        r"set_num_threads: n: expected n >= 1 .*got -1",
        simt=None,
    ),
    Case(
        "threads-float",
        "threads",
        lambda o: dg.set_num_threads(1.5),
        TypeError,
        r"set_num_threads: n: expected an int, got float 1\.5",
        simt=None,
    ),
    Case(
        "threads-bool",
        "threads",
        lambda o: dg.set_num_threads(True),
        TypeError,
        r"set_num_threads: n: expected an int, got bool",
        simt=None,
    ),
    Case(
        "threads-str",
        "threads",
        lambda o: dg.set_num_threads("2"),
        TypeError,
        r"set_num_threads: n: expected an int, got str",
        simt=None,
    ),
    Case(
        "threads-huge",
        "threads",
        lambda o: dg.set_num_threads(2**31),
        ValueError,
        r"set_num_threads: n: expected n >= 1 and <= \d+, got 2147483648",
        simt=None,
    ),
    Case(
        "threads-past-int64",
        "threads",
        lambda o: dg.set_num_threads(2**70),
        ValueError,
        r"set_num_threads: n: expected n >= 1 and <= \d+, got 1180591620717411303424",
        simt=None,
    ),
    Case(
        "seed-past-int64",
        "threads",
        lambda o: dg.manual_seed(-(2**63) - 1),
        ValueError,
        r"manual_seed: seed: expected an int in \[-2\*\*63, 2\*\*64\), got -9223372036854775809",
        simt=None,
    ),
    Case(
        "seed-float",
        "threads",
        lambda o: dg.manual_seed(1.5),
        TypeError,
        r"seed: expected an int, got float",
        simt=None,
    ),
]


def _params() -> list[Any]:
    out = []
    for c in CASES:
        out.append(pytest.param(c, "cpu", id=f"{c.category}-{c.id}-cpu"))
        if c.simt is not None and SIMT is not None:
            out.append(
                pytest.param(c, "simt", id=f"{c.category}-{c.id}-simt", marks=pytest.mark.simt)
            )
    return out


@pytest.fixture(autouse=True)
def _keep_threads():
    n = dg.get_num_threads()
    yield
    _cpu.set_num_threads(n)


def test_case_table_is_large_and_unique():
    ids = [(c.category, c.id) for c in CASES]
    assert len(set(ids)) == len(ids)
    assert len(CASES) >= 60
    cats = {c.category for c in CASES}
    assert {
        "dtype",
        "shape",
        "strides",
        "outputs",
        "sizes",
        "labels",
        "devices",
        "threads",
        "hyper-parameters",
        "names",
        "types",
    } <= cats


@contextlib.contextmanager
def _memory_cap(extra: int = 2 * GIB):
    """Cap this process's address space at its current size + extra while a "sizes" case runs:
    should a size check regress, the op's silent multi-gigabyte copy fails with MemoryError
    (and the case fails) instead of exhausting the machine's memory."""
    try:
        import resource  # noqa: PLC0415

        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration):
        yield
        return
    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + extra if old[1] == resource.RLIM_INFINITY else min(vm + extra, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


@pytest.mark.parametrize(("case", "device"), _params())
def test_bad_input(case: Case, device: str) -> None:
    ops = CPU if device == "cpu" else SIMT
    match = case.match if device == "cpu" or case.simt is True else case.simt
    exc = case.simt_exc if device == "simt" and case.simt_exc else case.exc
    cap = _memory_cap() if case.category == "sizes" else contextlib.nullcontext()
    with cap, pytest.raises(exc) as info:
        case.call(ops)
    msg = str(info.value)
    assert type(info.value) is exc or exc is MemoryError, f"got {type(info.value).__name__}: {msg}"
    assert re.search(match, msg), f"unclear message for {case.id} on {device}: {msg!r}"


def test_failed_checks_leave_state_alone():
    """A rejected call changes nothing: the thread count, param and its buffers."""
    n = dg.get_num_threads()
    for bad in (0, -3, 2**40, 1.0):
        with pytest.raises((TypeError, ValueError)):
            dg.set_num_threads(bad)
    assert dg.get_num_threads() == n
    p, g = f32(5), f32(5, seed=1)
    p0 = p.copy()
    buf = np.zeros_like(p)
    with pytest.raises(ValueError):
        CPU.sgd_update(p, g, buf, lr=float("nan"), momentum=0.9)
    with pytest.raises(ValueError):
        CPU.adam_update(p, g, buf, np.zeros_like(p), step=1, beta2=1.0)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(buf, 0.0)


def test_threads_accept_numpy_ints():
    dg.set_num_threads(np.int64(1))
    assert dg.get_num_threads() == 1
    x = f32(70_000)  # above the OpenMP threshold
    assert_close(
        CPU.activation(x, "tanh"),
        np.tanh(x.astype(np.float64)),
        rtol=1e-5,
        atol=1e-6,
        equal_nan=True,
    )


# ---- correct answers ---------------------------------------------------------------------------

BACKENDS = ["cpu"] + ([pytest.param("simt", marks=pytest.mark.simt)] if SIMT is not None else [])


def _ops(device: str) -> Any:
    return CPU if device == "cpu" else SIMT


# the tolerance of a result computed from an unusual view (a copy made for the kernel)
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _views() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "negative-stride": lambda a: np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1],
        "fortran": np.asfortranarray,
        "column-slice": lambda a: np.concatenate([a, a], axis=1)[:, ::2],
        "misaligned": misaligned,
        "byteswapped": lambda a: a.astype(a.dtype.newbyteorder(">")),
        "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
    }


VIEWS = list(_views())


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_give_the_right_answer(device: str, view: str, dtype: Any) -> None:
    """Every kind of input view: read through its strides or copied explicitly, never wrong."""
    o, mk = _ops(device), _views()[view]
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 7)).astype(dtype)
    b = rng.standard_normal((7, 3)).astype(dtype)
    va, vb = mk(a), mk(b)
    fa, fb = np.asarray(va, np.float64), np.asarray(vb, np.float64)  # what the view holds
    assert_close(o.matmul(va, vb), R.matmul(fa, fb), dtype, rtol=TOL, scale=1)
    assert_close(
        o.matmul(va, va, trans_b=True), R.matmul(fa, fa, trans_b=True), dtype, rtol=TOL, scale=1
    )
    for act in ("relu", "gelu", "softplus"):
        assert_close(o.activation(va, act), R.activation(fa, act), dtype, rtol=TOL, scale=1)
        assert_close(
            o.activation_backward(vb, vb, act),
            R.activation_backward(fb, fb, act),
            dtype,
            rtol=TOL,
            scale=1,
        )
    assert_close(o.softmax(va), R.softmax(fa), dtype, rtol=TOL, scale=1)
    assert_close(
        o.log_softmax_backward(va, va), R.log_softmax_backward(fa, fa), dtype, rtol=TOL, scale=1
    )
    t = np.array([0, 6, 3, 2, 1])
    loss, d = o.softmax_cross_entropy(va, t, "sum")
    rl, rd = R.softmax_cross_entropy(fa, t, "sum")
    assert_close(loss, rl, dtype, rtol=TOL, scale=1)
    assert_close(d, rd, dtype, rtol=TOL, scale=1)
    loss, d = o.mse_loss(va, mk(a[::-1].copy()), "mean")
    rl, rd = R.mse_loss(fa, np.asarray(mk(a[::-1].copy()), np.float64), "mean")
    assert_close(loss, rl, dtype, rtol=TOL, scale=1)
    assert_close(d, rd, dtype, rtol=TOL, scale=1)
    w = rng.standard_normal((4, 7)).astype(dtype)
    y, z = o.linear_forward(va, mk(w), None, "gelu")
    ry, rz = R.linear_forward(fa, np.asarray(mk(w), np.float64), None, "gelu")
    assert_close(y, ry, dtype, rtol=TOL, scale=1)
    assert_close(z, rz, dtype, rtol=TOL, scale=1)
    assert_close(o.sum(va, axis=0), R.sum(fa, axis=0), dtype, rtol=TOL, scale=1)
    assert_close(o.mean(va, axis=(0, 1)), R.mean(fa, axis=(0, 1)), dtype, rtol=TOL, scale=1)
    assert_close(o.sum_to_shape(va, (1, 7)), R.sum_to_shape(fa, (1, 7)), dtype, rtol=TOL, scale=1)
    # an optimizer's grad is an input: a view of it is copied, the parameter is updated in place
    p = rng.standard_normal((5, 7)).astype(dtype)
    want = p.astype(np.float64) - 0.1 * fa
    o.sgd_update(p, va, None, lr=0.1)
    assert_close(p, want, dtype, rtol=TOL, scale=1)


@pytest.mark.parametrize("device", BACKENDS)
def test_label_dtypes_give_the_right_answer(device: str) -> None:
    o = _ops(device)
    x = f64(6, 5)
    want = R.softmax_cross_entropy(x, np.array([4, 0, 1, 2, 3, 4]), "none")
    for t in (
        np.array([4, 0, 1, 2, 3, 4], np.int32),
        np.array([4, 0, 1, 2, 3, 4], np.uint8),
        np.array([4, 0, 1, 2, 3, 4], np.uint64),
        np.array([4, 0, 1, 2, 3, 4], ">i8"),
        np.array([4, 9, 0, 9, 1, 9, 2, 9, 3, 9, 4, 9])[::2],
    ):
        loss, d = o.softmax_cross_entropy(x, t, "none")
        assert_close(loss, want[0], np.float64, rtol=TOL, scale=1)
        assert_close(d, want[1], np.float64, rtol=TOL, scale=1)


@pytest.mark.parametrize("device", BACKENDS)
def test_aliased_outputs_give_the_right_answer(device: str) -> None:
    o = _ops(device)
    rng = np.random.default_rng(3)
    # matmul: out is an input (computed into scratch, then copied over), with beta
    a = rng.standard_normal((6, 6))
    want = R.matmul(a, a, alpha=0.5, beta=2.0, out=a)
    got = o.matmul(a, a, alpha=0.5, beta=2.0, out=a)
    assert got is a
    assert_close(a, want, np.float64, rtol=TOL, scale=1)
    # out overlapping part of b
    buf = rng.standard_normal((8, 6))
    b = buf[:6]
    want = R.matmul(a, b.copy())
    o.matmul(a, b, out=buf[2:])
    assert_close(buf[2:], want, np.float64, rtol=TOL, scale=1)
    # a strided out (every other column) is written through its strides
    wide = np.full((6, 12), 7.0)
    o.matmul(a, a, out=wide[:, ::2])
    assert_close(wide[:, ::2], R.matmul(a, a), np.float64, rtol=TOL, scale=1)
    np.testing.assert_array_equal(wide[:, 1::2], 7.0)
    # elementwise in place: out is x
    x = rng.standard_normal((4, 9))
    want = R.activation(x, "gelu_tanh")
    assert o.activation(x, "gelu_tanh", out=x) is x
    assert_close(x, want, np.float64, rtol=TOL, scale=1)
    y = rng.standard_normal((4, 9))
    want = R.softmax(y)
    o.softmax(y, out=y)
    assert_close(y, want, np.float64, rtol=TOL, scale=1)
    dy = rng.standard_normal((4, 9))
    s = np.tanh(rng.standard_normal((4, 9)))
    want = R.activation_backward(dy, s, "tanh")
    o.activation_backward(dy, s, "tanh", out=dy)
    assert_close(dy, want, np.float64, rtol=TOL, scale=1)


@pytest.mark.parametrize("device", BACKENDS)
def test_empty_and_single_sizes(device: str) -> None:
    o = _ops(device)
    for m, k, n in ((0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 1, 1), (0, 0, 0)):
        a, b = f64(m, k), f64(k, n)
        c = o.matmul(a, b)
        assert c.shape == (m, n)
        assert_close(c, R.matmul(a, b), np.float64, rtol=TOL, scale=1)
    for shape in ((0,), (0, 5), (5, 0), (1,), (1, 1)):
        x = f64(*shape)
        assert_close(
            o.activation(x, "softplus"), R.activation(x, "softplus"), np.float64, rtol=TOL, scale=1
        )
        assert_close(o.softmax(x), R.softmax(x), np.float64, rtol=TOL, scale=1)
        loss, d = o.mse_loss(x, x + 1.0, "sum")
        assert_close(loss, R.mse_loss(x, x + 1.0, "sum")[0], np.float64, rtol=TOL, scale=1)
    empty_mean = o.mean(f64(0))
    assert np.isnan(empty_mean)  # as numpy: the mean of nothing is NaN
    loss, d = o.softmax_cross_entropy(f64(0, 3), np.zeros(0, np.int64), "sum")
    assert float(loss) == 0.0 and d.shape == (0, 3)
    y, z = o.linear_forward(f64(3, 0), f64(4, 0), f64(4), "gelu")  # k = 0: bias only
    assert_close(
        y, R.linear_forward(f64(3, 0), f64(4, 0), f64(4), "gelu")[0], np.float64, rtol=TOL, scale=1
    )


@pytest.mark.parametrize("device", BACKENDS)
def test_nan_and_inf_propagate(device: str) -> None:
    o = _ops(device)
    x = np.array([[np.nan, 1.0, -2.0], [np.inf, 0.0, 1.0], [-np.inf, -np.inf, 3.0]])
    for act in ("relu", "sigmoid", "tanh", "gelu", "softplus"):
        got, want = o.activation(x, act), R.activation(x, act)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=act)
        fin = np.isfinite(want)
        assert_close(got[fin], want[fin], np.float64, rtol=TOL, scale=1)
        np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    # a NaN logit poisons only its own row
    loss, d = o.softmax_cross_entropy(x[:1].copy(), np.array([1]), "none")
    assert np.isnan(loss[0]) and np.isnan(d).all()
    row = np.array([[1e4, -1e4, 0.0]])
    loss, d = o.softmax_cross_entropy(row, np.array([1]), "sum")
    assert_close(
        loss, R.softmax_cross_entropy(row, np.array([1]), "sum")[0], np.float64, rtol=TOL, scale=1
    )
    # matmul: alpha NaN / inf scale the product as IEEE arithmetic says
    a, b = f64(3, 4), f64(4, 2)
    assert np.isnan(o.matmul(a, b, alpha=float("nan"))).all()
    c = np.ones((3, 2))
    got = o.matmul(a, b, alpha=1.0, beta=float("inf"), out=c)
    assert np.isposinf(got).all()
    # BCE: probabilities or targets outside [0, 1] or NaN are a ValueError, as torch's
    # RuntimeError ("all elements of input / target should be between 0 and 1"), for every
    # reduction; they made NaN losses (a target of 2 a finite one). 0 and 1 are fine (the logs
    # are clamped at -100, as torch).
    t = np.array([1.0, 0.0, 1.0])
    for bad, val in (
        ([0.3, 1.5, 0.2], "1.5"),
        ([-0.5, 0.5, 0.3], "-0.5"),
        ([0.2, 0.4, np.nan], "nan"),
    ):
        for red in ("mean", "sum", "none"):
            with pytest.raises(
                ValueError, match=rf"binary_cross_entropy: p: .*\[0, 1\], got {val} at"
            ):
                o.binary_cross_entropy(np.array(bad), t, red)
    p = np.array([0.0, 1.0, 0.5], np.float32)
    for bad, val in (
        ([0.0, np.nan, 1.0], "nan"),
        ([2.0, 0.0, 1.0], "2"),
        ([1, 0, -1e-30], "-1.0000000031710769e-30 at flat index 2"),
    ):
        for red in ("mean", "sum", "none"):
            with pytest.raises(
                ValueError, match=rf"binary_cross_entropy: t: .*\[0, 1\], got {val}"
            ):
                o.binary_cross_entropy(p, np.array(bad, np.float32), red)
    assert float(o.binary_cross_entropy(np.array([1.0, 0.0]), np.array([0.0, 1.0]))[0]) == 100.0


def test_sizes_past_int32_via_zero_stride_views() -> None:
    """matmul reads a zero-stride (broadcast) view through its strides: k > 2**31 works and is
    exact (sums of 1.0 in float64), without allocating the 16 GiB the view stands for. B is one
    row of 16 broadcast down k (row stride 0): the row form (gemm_axpy) takes it in 6 s on a
    Zen 1, where a single column (the packed path, padded to a whole tile) took 42-67 s."""
    k = (1 << 31) + 3
    a = np.broadcast_to(np.float64(1.0), (1, k))
    b = np.broadcast_to(np.ones(16), (k, 16))
    c = CPU.matmul(a, b)
    assert c.shape == (1, 16) and (c == float(k)).all()


def test_moderate_broadcast_views_are_copied_and_right() -> None:
    """A broadcast view below MAX_VIEW_COPY_BYTES is copied explicitly and gives the right
    answer; the limit only stops multi-gigabyte silent copies."""
    assert CPU.MAX_VIEW_COPY_BYTES == GIB
    row = f32(1, 300)
    x = np.broadcast_to(row, (2000, 300))
    assert_close(
        CPU.softmax(x), R.softmax(np.asarray(x, np.float64)), np.float32, rtol=TOL, scale=1
    )
    assert_close(
        CPU.sum(x, axis=0), 2000 * row[0].astype(np.float64), rtol=1e-4, atol=0.0, equal_nan=True
    )


# ---- the audit of issue 16: bools taken as numbers, axes, empty losses ---------------------------


def _x(*shape: int) -> np.ndarray:
    return f64(*shape) if shape else f64(3)


BOOL_AS_NUMBER = {
    "activation-param": lambda o, v: o.activation(_x(4), "leaky_relu", param=v),
    "activation_backward-param": lambda o, v: o.activation_backward(
        _x(4), _x(4), "leaky_relu", param=v
    ),
    "linear_forward-param": lambda o, v: o.linear_forward(
        _x(2, 3), _x(4, 3), None, "leaky_relu", v
    ),
    "linear_backward-param": lambda o, v: o.linear_backward(
        _x(2, 4), _x(2, 3), _x(4, 3), _x(2, 4), "leaky_relu", v
    ),
    "sgd_update-lr": lambda o, v: o.sgd_update(_x(3), _x(3), None, lr=v),
    "sgd_update-momentum": lambda o, v: o.sgd_update(_x(3), _x(3), _x(3), lr=0.1, momentum=v),
    "sgd_update-weight_decay": lambda o, v: o.sgd_update(
        _x(3), _x(3), None, lr=0.1, weight_decay=v
    ),
    "sgd_update-dampening": lambda o, v: o.sgd_update(
        _x(3), _x(3), _x(3), lr=0.1, momentum=0.5, dampening=v
    ),
    "adam_update-lr": lambda o, v: o.adam_update(_x(3), _x(3), _x(3), _x(3), step=1, lr=v),
    "adam_update-beta1": lambda o, v: o.adam_update(_x(3), _x(3), _x(3), _x(3), step=1, beta1=v),
    "adam_update-beta2": lambda o, v: o.adam_update(_x(3), _x(3), _x(3), _x(3), step=1, beta2=v),
    "adam_update-eps": lambda o, v: o.adam_update(_x(3), _x(3), _x(3), _x(3), step=1, eps=v),
    "adam_update-weight_decay": lambda o, v: o.adam_update(
        _x(3), _x(3), _x(3), _x(3), step=1, weight_decay=v
    ),
    "adam_update-step": lambda o, v: o.adam_update(_x(3), _x(3), _x(3), _x(3), step=v),
    "sum-axis": lambda o, v: o.sum(_x(2, 3), axis=v),
    "mean-axis": lambda o, v: o.mean(_x(2, 3), axis=(0, v)),
    "sum_to_shape-shape": lambda o, v: o.sum_to_shape(_x(2, 3), (v, 3)),
    "raw-adam_update-step": lambda o, v: _cpu.adam_update(_x(3), _x(3), _x(3), _x(3), step=v),
    "raw-reduce_sum-start": lambda o, v: _cpu.reduce_sum(_x(2, 3), v, 2),
    "raw-reduce_sum-stop": lambda o, v: _cpu.reduce_sum(_x(2, 3), 0, v),
    "raw-set_num_threads-n": lambda o, v: _cpu.set_num_threads(v),
}


def _bool_params() -> list[Any]:
    out = []
    for case in sorted(BOOL_AS_NUMBER):
        out.append(pytest.param(case, "cpu", id=f"{case}-cpu"))
        if SIMT is not None and not case.startswith("raw-"):  # raw: a _cpu binding
            out.append(pytest.param(case, "simt", id=f"{case}-simt", marks=pytest.mark.simt))
    return out


@pytest.mark.parametrize("value", [True, False, np.bool_(True)], ids=["True", "False", "np.True_"])
@pytest.mark.parametrize(("case", "device"), _bool_params())
def test_bool_is_not_a_number(case: str, device: str, value: Any) -> None:
    """A bool where a number or a count is expected is a TypeError naming the op and the
    argument (it used to be taken as 1 or 0). On the SIMT emulator: its ops (not _cpu's)."""
    op, arg = case.removeprefix("raw-").split("-")
    with pytest.raises(TypeError) as info:
        BOOL_AS_NUMBER[case](_ops(device), value)
    msg = str(info.value)
    assert op in msg and arg in msg, msg


@pytest.mark.parametrize(
    ("axis", "exc"),
    [
        (2, ValueError),
        (-3, ValueError),
        ((0, 2), ValueError),
        ((0, -3), ValueError),
        (1.0, TypeError),
    ],
)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_axis_out_of_range_raises_never_wraps(op: str, axis: Any, exc: type) -> None:
    with pytest.raises(exc, match=rf"{op}: axis: "):
        getattr(CPU, op)(_x(2, 3), axis=axis)


@pytest.mark.parametrize(("start", "stop"), [(-1, 1), (0, 3), (2, 1), (2**63 - 1, 2**63 - 1)])
def test_raw_reduce_sum_axes_out_of_range(start: int, stop: int) -> None:
    with pytest.raises(ValueError, match=r"reduce_sum: axes: expected 0 <= start <= stop <= 2"):
        _cpu.reduce_sum(_x(2, 3), start, stop)
    with pytest.raises(ValueError, match=r"reduce_sum: start: expected an int64, got \d+, which"):
        _cpu.reduce_sum(_x(2, 3), 2**70, 1)


EMPTY_LOSSES = {
    "mse_loss": lambda o, r: o.mse_loss(f64(0), f64(0), r),
    "binary_cross_entropy": lambda o, r: o.binary_cross_entropy(f64(0), f64(0), r),
    "binary_cross_entropy_with_logits": lambda o, r: o.binary_cross_entropy_with_logits(
        f64(0, 4), f64(0, 4), r
    ),
    "softmax_cross_entropy": lambda o, r: o.softmax_cross_entropy(
        f64(0, 3), np.zeros(0, np.int64), r
    ),
}


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("loss", sorted(EMPTY_LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_losses_as_torch(device: str, loss: str, reduction: str) -> None:
    """An empty batch: mean -> NaN (0 / 0, as torch), sum -> 0, none -> an empty array; never a
    mean reported as a loss of 0."""
    value, grad = EMPTY_LOSSES[loss](_ops(device), reduction)
    value = np.asarray(value)
    assert grad.size == 0
    if reduction == "mean":
        assert value.shape == () and np.isnan(value)
    elif reduction == "sum":
        assert value.shape == () and float(value) == 0.0
    else:
        assert value.size == 0


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_losses_match_torch(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    e, e2 = torch.zeros(0, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64)
    want = {
        "mse_loss": F.mse_loss(e, e, reduction=reduction),
        "binary_cross_entropy": F.binary_cross_entropy(e, e, reduction=reduction),
        "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits(
            e2, e2, reduction=reduction
        ),
        "softmax_cross_entropy": F.cross_entropy(
            e2, torch.zeros(0, dtype=torch.long), reduction=reduction
        ),
    }
    for name, fn in EMPTY_LOSSES.items():
        got = float(np.asarray(fn(CPU, reduction)[0]))
        np.testing.assert_equal(got, float(want[name]), err_msg=name)
