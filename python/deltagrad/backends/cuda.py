"""The CUDA backend of ``dg.ops``: validates device arrays and launches the csrc/cuda kernels.

``KernelOps`` implements the ops contract of docs/ARCHITECTURE.md once, over a raw kernel
module with the launch API of csrc/bindings/cuda_raw_ops.h: ``_cuda`` (kernels on the GPU,
cupy arrays, ``CudaOps`` here) or ``_simt`` (the same kernels in the SIMT emulator on numpy
arrays, backends/simt.py). It checks dtypes, shapes, contiguity and aliasing, allocates outputs, and
passes addresses, element strides and the current stream to the kernels. The activation, loss
and reduction codes are the raw module's ACTIVATIONS / LOSSES / REDUCTIONS (csrc/common/
op_names.h). cupy is imported on first use, so this module imports (and ``availability()``
answers) on machines without cupy or a GPU.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .. import _cpu
from ._args import (
    check_copy,
    choice,
    has_internal_overlap,
    hyper,
    is_device_array,
    real,
)
from ._args import precision as check_precision
from ._args import step as check_step

try:  # the compiled CUDA module: absent in builds without nvcc (the emulator still works)
    from .. import _cuda
except ImportError as _e:  # pragma: no cover - depends on the build
    _cuda = None
    CUDA_IMPORT_ERROR = str(_e)
else:
    CUDA_IMPORT_ERROR = ""

__all__ = [
    "KernelOps",
    "CudaOps",
    "ops",
    "OPS",
    "availability",
    "device_name",
    "device_count",
    "set_allow_tf32",
    "get_allow_tf32",
]

# The ops contract: the methods every backend (the _cpu module, KernelOps) provides under these
# names, with dg.ops's signatures. sum / mean / sum_to_shape are built by dg.ops on reduce_sum.
OPS = (
    "matmul",
    "linear_forward",
    "linear_backward",
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
    "reduce_sum",
    "sgd_update",
    "adam_update",
)
_TILES = {"auto": 0, "large": 1, "small": 2}
_SEGMENT = 4096  # csrc/cuda/launch.cuh kSegment
_MAX_PARTIALS = 1 << 16
_COL_BLOCKS, _COL_MIN_ROWS = 512, 64  # csrc/cuda/launch.cuh kColBlocks, kColMinRows

_allow_tf32 = False


def set_allow_tf32(flag: bool) -> None:
    """Let float32 matmuls on the GPU use TF32 tensor cores when precision=None (like torch's
    allow_tf32; default off). No effect on the CPU, on float64, or in a build without CUDA."""
    global _allow_tf32
    _allow_tf32 = bool(flag)


def get_allow_tf32() -> bool:
    return _allow_tf32


class KernelOps:
    """The ops contract over one raw kernel module and one array library."""

    device = "cuda"
    array_type_name = "cupy.ndarray"
    check_targets_on_host = False  # see softmax_cross_entropy

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # The kernels' codes: a name's index in the raw module's tuple (csrc/common/op_names.h).
        # No raw module (a build without CUDA): the CPU module's names (the same header), so
        # arguments are checked as everywhere else; every op raises before a launch.
        names = raw if raw is not None else _cpu
        self.activations: tuple[str, ...] = tuple(names.ACTIVATIONS)
        self.saves_input = frozenset(names.SAVES_INPUT)
        self.reductions: tuple[str, ...] = tuple(names.REDUCTIONS)
        self._act_codes = {a: i for i, a in enumerate(self.activations)}
        self._loss_codes = {k: i for i, k in enumerate(names.LOSSES)}

    # ---- hooks: what differs between the GPU and the emulator --------------------------------
    def xp(self) -> Any:
        import cupy  # noqa: PLC0415  (lazy: cupy is optional and slow to import)

        return cupy

    def _is_array(self, x: Any) -> bool:
        return is_device_array(x)

    def _as_array(self, x: Any) -> Any:
        xp = self.xp()
        return x if isinstance(x, xp.ndarray) else xp.asarray(x)  # zero-copy for CAI objects

    def _ptr(self, x: Any) -> int:
        return int(x.data.ptr)

    def _stream(self) -> int:
        return int(self.xp().cuda.get_current_stream().ptr)

    def _call(self, name: str, arrays: list[Any], *args: Any) -> None:
        getattr(self._raw, name)(*args)

    # ---- validation --------------------------------------------------------------------------
    def _input(self, x: Any, name: str, dtype: Any = None, contiguous: bool = True) -> Any:
        """A float32/float64 device array; non-contiguous (when contiguous), misaligned and
        byte-swapped views are copied explicitly; a broadcast view too large to copy is a
        ValueError."""
        if not self._is_array(x):
            got = "None" if x is None else type(x).__name__
            raise TypeError(
                f"{name}: expected a {self.array_type_name}, got {got}"
                f" (move it to the {self.device} device first)"
            )
        x = self._as_array(x)
        xp = self.xp()
        swapped = x.dtype.kind == "f" and not x.dtype.isnative
        if x.dtype not in (xp.float32, xp.float64) and not swapped:
            raise TypeError(f"{name}: expected dtype float32 or float64, got {x.dtype}")
        if (
            dtype is not None
            and x.dtype != dtype
            and not (swapped and x.dtype.itemsize == xp.dtype(dtype).itemsize)
        ):
            raise TypeError(
                f"{name}: expected dtype {xp.dtype(dtype).name} (the dtype of the "
                f"first argument), got {x.dtype}"
            )
        if (
            swapped
            or (contiguous and not x.flags.c_contiguous)
            or self._ptr(x) % x.itemsize
            or any(s % x.itemsize for s in x.strides)
        ):
            check_copy(x, name)
            # a real copy: ascontiguousarray would return a misaligned contiguous x unchanged
            x = xp.array(x, dtype=x.dtype.newbyteorder("=") if swapped else None, order="C")
        return x

    def _output(
        self,
        out: Any,
        shape: tuple[int, ...],
        dtype: Any,
        name: str = "out",
        contiguous: bool = True,
    ) -> Any:
        """A caller's output buffer: right type, dtype, shape, writable. Never copied."""
        xp = self.xp()
        if out is None:
            return xp.empty(shape, dtype=dtype)
        if not self._is_array(out):
            raise TypeError(f"{name}: expected a {self.array_type_name}, got {type(out).__name__}")
        out = self._as_array(out)
        if out.dtype != dtype:
            raise TypeError(f"{name}: expected dtype {xp.dtype(dtype).name}, got {out.dtype}")
        if tuple(out.shape) != tuple(shape):
            raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
        if not getattr(out.flags, "writeable", True):
            raise ValueError(f"{name}: expected a writable array, got a read-only one")
        if contiguous and not out.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous array")
        if any(s % out.itemsize for s in out.strides) or self._ptr(out) % out.itemsize:
            raise ValueError(
                f"{name}: expected an aligned array (address and strides multiples of the item "
                f"size {out.itemsize}), got strides {tuple(out.strides)}"
            )
        if has_internal_overlap(out):
            raise ValueError(
                f"{name}: expected an array whose elements do not overlap, got a view with "
                f"strides {tuple(out.strides)} that maps several elements to one address"
            )
        return out

    def _check_inplace(self, out: Any, *inputs: Any) -> None:
        """An elementwise output may be exactly one of its inputs (in place) or disjoint."""
        for x in inputs:
            if self._overlap(out, x) and not (
                self._ptr(out) == self._ptr(x) and x.flags.c_contiguous
            ):
                raise ValueError(
                    "out: shares memory with an input without being exactly that input; "
                    "elementwise ops may only write in place (out is the input) or to disjoint "
                    "memory"
                )

    def _check_disjoint(self, *named: tuple[str, Any]) -> None:
        for i, (an, a) in enumerate(named):
            for bn, b in named[i + 1 :]:
                if a is not None and b is not None and self._overlap(a, b):
                    raise ValueError(f"{an} and {bn}: must not share memory")

    def _extent(self, x: Any) -> tuple[int, int]:
        lo = hi = self._ptr(x)
        if x.size == 0:
            return lo, lo
        for n, s in zip(x.shape, x.strides):
            span = (n - 1) * s
            if span < 0:
                lo += span
            else:
                hi += span
        return lo, hi + x.itemsize

    def _overlap(self, a: Any, b: Any) -> bool:
        (alo, ahi), (blo, bhi) = self._extent(a), self._extent(b)
        return alo < bhi and blo < ahi and alo != ahi and blo != bhi

    @staticmethod
    def _dtype_code(x: Any) -> int:
        return 0 if x.itemsize == 4 else 1

    def _act_code(self, act: str, op: str, param: Any) -> int:
        code = self._act_codes[choice(act, self.activations, op, "act")]
        if act == "celu" and isinstance(param, (int, float)) and param == 0:
            raise ValueError(f"{op}: param: celu's alpha cannot be 0")  # the CPU binding's check
        return code

    def _reduction(self, reduction: str, op: str) -> str:
        return choice(reduction, self.reductions, op, "reduction")

    def _estride(self, x: Any, dim: int) -> int:
        return int(x.strides[dim] // x.itemsize)

    # ---- GEMM and the fused linear layer -----------------------------------------------------
    def _gemm(
        self,
        a: Any,
        trans_a: bool,
        b: Any,
        trans_b: bool,
        c: Any,
        alpha: float,
        beta: float,
        *,
        bias: Any = None,
        act: str = "identity",
        param: float = 0.0,
        z: Any = None,
        precision: Any = None,
        tile: str = "auto",
        extra: tuple[Any, ...] = (),
    ) -> None:
        ia, ib = (1, 0) if trans_a else (0, 1), (1, 0) if trans_b else (0, 1)
        m, k = a.shape[ia[0]], a.shape[ia[1]]
        n = b.shape[ib[1]]
        prec = precision  # a code (check_precision), or None: the global flag
        if prec is None:
            prec = 1 if _allow_tf32 else 0
        if tile not in _TILES:
            raise ValueError(f"tile: expected one of {sorted(_TILES)}, got {tile!r}")
        arrays = [a, b, c, *(x for x in (bias, z) if x is not None), *extra]
        self._call(
            "gemm",
            arrays,
            self._dtype_code(c),
            m,
            n,
            k,
            self._ptr(a),
            self._estride(a, ia[0]),
            self._estride(a, ia[1]),
            self._ptr(b),
            self._estride(b, ib[0]),
            self._estride(b, ib[1]),
            self._ptr(c),
            self._estride(c, 0),
            self._estride(c, 1),
            float(alpha),
            float(beta),
            self._ptr(bias) if bias is not None else 0,
            self._act_code(act, "linear_forward", param),
            float(param),
            self._ptr(z) if z is not None else 0,
            prec if c.itemsize == 4 else 0,
            _TILES[tile],
            self._stream(),
        )

    def matmul(
        self,
        a: Any,
        b: Any,
        *,
        trans_a: bool = False,
        trans_b: bool = False,
        alpha: float = 1.0,
        beta: float = 0.0,
        out: Any = None,
        precision: Any = None,
        tile: str = "auto",
    ) -> Any:
        """C = alpha * op(a) @ op(b) + beta * C (C is out); any strides. a (..., m, k) and
        b (..., k, n) may carry NumPy-broadcast batch dimensions (one launch per product for
        now). precision="tf32" lets float32 use TF32 tensor cores (sm_80 and up, else FP32; the
        emulator models them, TF32 rounding included)."""
        prec = check_precision(precision, "matmul")
        a = self._input(a, "a", contiguous=False)
        b = self._input(b, "b", dtype=a.dtype, contiguous=False)
        for arr, name in ((a, "a"), (b, "b")):
            if arr.ndim < 2:
                raise ValueError(
                    f"{name}: expected an array with at least 2 dimensions (a matrix or a "
                    f"batch of them), got shape {tuple(arr.shape)}"
                )
        ra, rb = a.ndim - (1 if trans_a else 2), b.ndim - (1 if trans_b else 2)
        ca, cb = (a.ndim - 2 if trans_a else a.ndim - 1), (b.ndim - 2 if trans_b else b.ndim - 1)
        m, k = a.shape[ra], a.shape[ca]
        kb, n = b.shape[rb], b.shape[cb]
        if k != kb:
            raise ValueError(
                f"matmul: inner dimensions differ: op(a) is {m}x{k} (a has shape "
                f"{tuple(a.shape)}{', trans_a=True' if trans_a else ''}), op(b) is "
                f"{kb}x{n} (b has shape {tuple(b.shape)}"
                f"{', trans_b=True' if trans_b else ''})"
            )
        batched = a.ndim > 2 or b.ndim > 2
        batch: tuple[int, ...] = ()
        if batched:
            nbat = max(a.ndim, b.ndim) - 2
            ba = (1,) * (nbat - a.ndim + 2) + tuple(a.shape[:-2])
            bb = (1,) * (nbat - b.ndim + 2) + tuple(b.shape[:-2])
            if any(x != y and x != 1 and y != 1 for x, y in zip(ba, bb)):
                raise ValueError(
                    f"matmul: batch dimensions do not broadcast: a has shape {tuple(a.shape)}, "
                    f"b has shape {tuple(b.shape)} (batch {tuple(a.shape[:-2])} vs "
                    f"{tuple(b.shape[:-2])})"
                )
            batch = tuple(y if x == 1 else x for x, y in zip(ba, bb))
        alpha, beta = real(alpha, "matmul", "alpha"), real(beta, "matmul", "beta")
        if out is None and beta != 0.0:
            raise ValueError(
                f"beta: must be 0 when out is None (beta scales the values in out), got {beta}"
            )
        out = self._output(out, (*batch, m, n), a.dtype, contiguous=False)
        if out.size == 0:
            return out
        c = out
        if self._overlap(out, a) or self._overlap(out, b):
            c = self.xp().array(out, order="C")  # scratch C, keeping out's values for beta
        if not batched:
            self._gemm(a, trans_a, b, trans_b, c, alpha, beta, precision=prec, tile=tile)
        else:
            self._gemm_batched(a, (ra, ca), b, (rb, cb), c, batch, alpha, beta, prec, tile)
        if c is not out:
            out[...] = c
        return out

    def _gemm_batched(
        self,
        a: Any,
        a_dims: tuple[int, int],
        b: Any,
        b_dims: tuple[int, int],
        c: Any,
        batch: tuple[int, ...],
        alpha: float,
        beta: float,
        prec: Any,
        tile: str,
    ) -> None:
        """The strided-batched GEMM: a_dims / b_dims are the dimensions of a / b that are
        op()'s rows and columns; a batch dimension an operand lacks or has as 1 is stride 0."""
        if prec is None:
            prec = 1 if _allow_tf32 else 0
        if tile not in _TILES:
            raise ValueError(f"tile: expected one of {sorted(_TILES)}, got {tile!r}")
        nbat = len(batch)

        def strides(x: Any) -> list[int]:
            lead = nbat - (x.ndim - 2)
            return [
                0 if d < lead or x.shape[d - lead] == 1 else self._estride(x, d - lead)
                for d in range(nbat)
            ]

        self._call(
            "gemm_batched",
            [a, b, c],
            self._dtype_code(c),
            c.shape[-2],
            c.shape[-1],
            a.shape[a_dims[1]],
            self._ptr(a),
            self._estride(a, a_dims[0]),
            self._estride(a, a_dims[1]),
            self._ptr(b),
            self._estride(b, b_dims[0]),
            self._estride(b, b_dims[1]),
            self._ptr(c),
            self._estride(c, c.ndim - 2),
            self._estride(c, c.ndim - 1),
            float(alpha),
            float(beta),
            list(batch),
            strides(a),
            strides(b),
            [0 if s == 1 else self._estride(c, d) for d, s in enumerate(batch)],
            prec if c.itemsize == 4 else 0,
            _TILES[tile],
            self._stream(),
        )

    def linear_forward(
        self,
        x: Any,
        w: Any,
        b: Any = None,
        act: str = "identity",
        param: float = 0.0,
        *,
        precision: Any = None,
        tile: str = "auto",
    ) -> tuple[Any, Any]:
        """(y, z): y = act(x @ w.T + b) in one GEMM with a fused epilogue; z = x @ w.T + b
        only when the activation's backward needs it, else None."""
        self._act_code(act, "linear_forward", param)
        param = real(param, "linear_forward", "param")
        prec = check_precision(precision, "linear_forward")
        x = self._input(x, "x", contiguous=False)
        w = self._input(w, "w", dtype=x.dtype, contiguous=False)
        if x.ndim != 2:
            raise ValueError(
                f"x: expected a 2-D array (batch, in_features), got shape {tuple(x.shape)}"
            )
        if w.ndim != 2 or w.shape[1] != x.shape[1]:
            raise ValueError(
                f"w: expected shape (out_features, {x.shape[1]}), got {tuple(w.shape)}"
            )
        if b is not None:
            b = self._input(b, "b", dtype=x.dtype)
            if tuple(b.shape) != (w.shape[0],):
                raise ValueError(f"b: expected shape ({w.shape[0]},), got {tuple(b.shape)}")
        xp = self.xp()
        y = xp.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
        z = xp.empty_like(y) if act in self.saves_input else None
        if y.size:
            self._gemm(
                x,
                False,
                w,
                True,
                y,
                1.0,
                0.0,
                bias=b,
                act=act,
                param=param,
                z=z,
                precision=prec,
                tile=tile,
            )
        return y, z

    def linear_backward(
        self,
        dy: Any,
        x: Any,
        w: Any,
        saved: Any,
        act: str,
        param: float = 0.0,
        need_dx: bool = True,
        has_bias: bool = True,
    ) -> tuple[Any, Any, Any]:
        """(dx or None, dw, db or None) of y = act(x @ w.T + b); saved is z for the
        activations in saves_input and y for the others (ignored for identity)."""
        self._act_code(act, "linear_backward", param)
        dy = self._input(dy, "dy")
        x = self._input(x, "x", dtype=dy.dtype, contiguous=False)
        w = self._input(w, "w", dtype=dy.dtype, contiguous=False)
        for name, arr in (("x", x), ("w", w), ("dy", dy)):
            if arr.ndim != 2:
                raise ValueError(f"{name}: expected a 2-D array, got shape {tuple(arr.shape)}")
        if w.shape[1] != x.shape[1]:
            raise ValueError(
                f"w: expected shape (out_features, {x.shape[1]}) to match x of shape "
                f"{tuple(x.shape)}, got {tuple(w.shape)}"
            )
        mb, nout = x.shape[0], w.shape[0]
        if tuple(dy.shape) != (mb, nout):
            raise ValueError(f"dy: expected shape {(mb, nout)}, got {tuple(dy.shape)}")
        if act != "identity" and saved is None:
            need = "z (the pre-activation)" if act in self.saves_input else "y (the output)"
            raise ValueError(f"saved: activation {act!r} needs {need}, got None")
        dz = dy if act == "identity" else self.activation_backward(dy, saved, act, param=param)
        xp = self.xp()
        dx = xp.empty((mb, x.shape[1]), dtype=dy.dtype) if need_dx else None
        if dx is not None and dx.size:
            self._gemm(dz, False, w, False, dx, 1.0, 0.0)
        dw = xp.empty(w.shape, dtype=dy.dtype)
        if dw.size:
            self._gemm(dz, True, x, False, dw, 1.0, 0.0)
        db = None
        if has_bias:
            db = xp.empty((nout,), dtype=dy.dtype)
            self._reduce(dz, 1, mb, nout, db, 1.0)
        return dx, dw, db

    # ---- elementwise -------------------------------------------------------------------------
    def activation(self, x: Any, act: str, *, param: float = 0.0, out: Any = None) -> Any:
        code = self._act_code(act, "activation", param)
        param = real(param, "activation", "param")
        x = self._input(x, "x")
        out = self._output(out, x.shape, x.dtype)
        self._check_inplace(out, x)
        self._call(
            "activation",
            [x, out],
            self._dtype_code(x),
            x.size,
            self._ptr(x),
            self._ptr(out),
            code,
            float(param),
            self._stream(),
        )
        return out

    def activation_backward(
        self, dy: Any, saved: Any, act: str, *, param: float = 0.0, out: Any = None
    ) -> Any:
        code = self._act_code(act, "activation_backward", param)
        param = real(param, "activation_backward", "param")
        dy = self._input(dy, "dy")
        saved = self._input(saved, "saved", dtype=dy.dtype)
        if saved.shape != dy.shape:
            raise ValueError(
                f"saved: expected shape {tuple(dy.shape)} (the shape of dy), got "
                f"{tuple(saved.shape)}"
            )
        out = self._output(out, dy.shape, dy.dtype)
        self._check_inplace(out, dy, saved)
        self._call(
            "activation_backward",
            [dy, saved, out],
            self._dtype_code(dy),
            dy.size,
            self._ptr(dy),
            self._ptr(saved),
            self._ptr(out),
            code,
            float(param),
            self._stream(),
        )
        return out

    # ---- softmax family ----------------------------------------------------------------------
    def _rows(self, x: Any, name: str) -> tuple[int, int]:
        if x.ndim < 1:
            raise ValueError(f"{name}: expected at least 1 dimension, got a 0-d array")
        cols = x.shape[-1]
        return (x.size // cols if cols else 0), cols

    def _softmax(self, x: Any, out: Any, log: bool) -> Any:
        x = self._input(x, "x")
        rows, cols = self._rows(x, "x")
        out = self._output(out, x.shape, x.dtype)
        self._check_inplace(out, x)
        self._call(
            "softmax",
            [x, out],
            self._dtype_code(x),
            rows,
            cols,
            self._ptr(x),
            self._ptr(out),
            log,
            self._stream(),
        )
        return out

    def softmax(self, x: Any, out: Any = None) -> Any:
        return self._softmax(x, out, False)

    def log_softmax(self, x: Any, out: Any = None) -> Any:
        return self._softmax(x, out, True)

    def _softmax_backward(self, dy: Any, y: Any, out: Any, log: bool) -> Any:
        dy = self._input(dy, "dy")
        y = self._input(y, "y", dtype=dy.dtype)
        if y.shape != dy.shape:
            raise ValueError(f"y: expected shape {tuple(dy.shape)}, got {tuple(y.shape)}")
        rows, cols = self._rows(dy, "dy")
        out = self._output(out, dy.shape, dy.dtype)
        self._check_inplace(out, dy, y)
        self._call(
            "softmax_backward",
            [dy, y, out],
            self._dtype_code(dy),
            rows,
            cols,
            self._ptr(dy),
            self._ptr(y),
            self._ptr(out),
            log,
            self._stream(),
        )
        return out

    def softmax_backward(self, dy: Any, y: Any, out: Any = None) -> Any:
        return self._softmax_backward(dy, y, out, False)

    def log_softmax_backward(self, dy: Any, y: Any, out: Any = None) -> Any:
        return self._softmax_backward(dy, y, out, True)

    # ---- losses ------------------------------------------------------------------------------
    def _reduce_loss(self, per: Any, reduction: str) -> Any:
        if reduction == "none":
            return per
        xp = self.xp()
        loss = xp.empty((), dtype=per.dtype)
        n = per.size
        scale = 1.0 if reduction == "sum" else (1.0 / n if n else math.nan)
        self._reduce(per, 1, n, 1, loss, scale)
        return loss

    def softmax_cross_entropy(
        self, logits: Any, target: Any, reduction: str = "mean"
    ) -> tuple[Any, Any]:
        """(loss, dlogits) in one fused pass; target holds int class indices.

        Out-of-range targets: ValueError where checking is free (host arrays, the emulator);
        on the GPU the check would cost a device synchronization per call, so instead the
        kernel writes NaN into that row's loss and dlogits (torch raises a device-side assert).
        """
        reduction = self._reduction(reduction, "softmax_cross_entropy")
        logits = self._input(logits, "logits")
        if logits.ndim != 2:
            raise ValueError(
                f"logits: expected a 2-D array (batch, classes), got shape {tuple(logits.shape)}"
            )
        xp = self.xp()
        if not self._is_array(target):
            got = "None" if target is None else type(target).__name__
            raise TypeError(
                f"target: expected a {self.array_type_name} of class indices, got {got}"
            )
        target = self._as_array(target)
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"target: expected an integer dtype (class indices), got {target.dtype}"
            )
        rows, cols = logits.shape
        if tuple(target.shape) != (rows,):
            raise ValueError(f"target: expected shape ({rows},), got {tuple(target.shape)}")
        if (
            target.dtype.kind == "u"
            and target.dtype.itemsize == 8
            and rows
            and self.check_targets_on_host
            and int(target.max()) > 2**63 - 1
        ):
            raise ValueError(  # the int64 cast below would wrap it to a negative index
                f"target: class index {int(target.max())} is out of range [0, {cols})"
            )
        target = xp.ascontiguousarray(target, dtype=xp.int64)
        if rows and cols == 0:
            raise ValueError(
                f"logits: expected at least one class, got shape {tuple(logits.shape)}"
            )
        if rows and self.check_targets_on_host:
            lo, hi = int(target.min()), int(target.max())
            if lo < 0 or hi >= cols:
                bad = lo if lo < 0 else hi
                raise ValueError(f"target: class index {bad} is out of range [0, {cols})")
        per = xp.empty((rows,), dtype=logits.dtype)
        dlogits = xp.empty_like(logits)
        scale = 1.0 / rows if (reduction == "mean" and rows) else 1.0
        self._call(
            "softmax_xent",
            [logits, target, per, dlogits],
            self._dtype_code(logits),
            rows,
            cols,
            self._ptr(logits),
            self._ptr(target),
            self._ptr(per),
            self._ptr(dlogits),
            scale,
            self._stream(),
        )
        return self._reduce_loss(per, reduction), dlogits

    def _pointwise_loss(self, kind: str, y: Any, t: Any, reduction: str, yname: str) -> Any:
        y = self._input(y, yname)
        xp = self.xp()
        if self._is_array(t):
            t = self._as_array(t)
        elif t is not None and not isinstance(t, (str, bytes)):
            t = xp.asarray(t)  # a list or a scalar
        t = self._input(t, "t")
        if t.dtype != y.dtype:  # one dtype per call, as the CPU ops
            raise TypeError(
                f"t: expected dtype {y.dtype.name} (the dtype of {yname}), got {t.dtype}"
            )
        if t.shape != y.shape:
            raise ValueError(
                f"t: expected shape {tuple(y.shape)} (the shape of {yname}), got {tuple(t.shape)}"
            )
        per = xp.empty_like(y)
        grad = xp.empty_like(y)
        n = y.size
        scale = 1.0 / n if (reduction == "mean" and n) else 1.0
        self._call(
            "pointwise_loss",
            [y, t, per, grad],
            self._dtype_code(y),
            n,
            self._loss_codes[kind],
            self._ptr(y),
            self._ptr(t),
            self._ptr(per),
            self._ptr(grad),
            scale,
            self._stream(),
        )
        return self._reduce_loss(per, reduction), grad

    def sum_of_squares(self, y: Any, t: Any) -> tuple[Any, Any]:
        """(0.5 * sum((y - t)**2), y - t)."""
        return self._pointwise_loss("sum_of_squares", y, t, "sum", "y")

    def mse_loss(self, y: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
        return self._pointwise_loss("mse", y, t, self._reduction(reduction, "mse_loss"), "y")

    def binary_cross_entropy(self, p: Any, t: Any, reduction: str = "mean") -> tuple[Any, Any]:
        reduction = self._reduction(reduction, "binary_cross_entropy")
        loss, grad = self._pointwise_loss("bce", p, t, reduction, "p")
        # torch refuses probabilities and targets outside [0, 1] (NaN included), as the CPU op
        # does; one fused pass over each and a sync (the CPU op looks only when its total is NaN)
        xp = self.xp()
        for a, what in ((self._as_array(p), "p"), (self._as_array(t), "t")):
            bad = ~((a >= 0) & (a <= 1))
            if bool(bad.any()):
                i = int(xp.argmax(bad.ravel()))
                raise ValueError(
                    f"{what}: expected {'probabilities' if what == 'p' else 'targets'} in "
                    f"[0, 1], got {float(a.ravel()[i])!r} at flat index {i}"
                    + (" (use binary_cross_entropy_with_logits for logits)" if what == "p" else "")
                )
        return loss, grad

    def binary_cross_entropy_with_logits(
        self, z: Any, t: Any, reduction: str = "mean"
    ) -> tuple[Any, Any]:
        reduction = self._reduction(reduction, "binary_cross_entropy_with_logits")
        return self._pointwise_loss("bce_with_logits", z, t, reduction, "z")

    # ---- reductions --------------------------------------------------------------------------
    def _reduce(self, x: Any, outer: int, n: int, inner: int, y: Any, scale: float) -> None:
        # Scratch for the kernel's two-pass reduction: long rows (one partial per 4096), or few
        # column tiles split into row segments; reduce_parts in csrc/cuda/launch.cuh. At most
        # _MAX_PARTIALS partials: the kernel then uses fewer, longer segments.
        if outer <= 0 or inner <= 0:
            parts = 0  # nothing to write: the kernel returns before a launch
        elif inner == 1:
            parts = -(-n // _SEGMENT)
        else:
            tiles = outer * -(-inner // 32)
            parts = min(-(-_COL_BLOCKS // tiles), n // _COL_MIN_ROWS)
        work = None
        if parts >= 2 and outer * inner * 2 <= _MAX_PARTIALS:
            size = min(outer * inner * parts, _MAX_PARTIALS)
            work = self.xp().empty((size,), dtype=x.dtype)
        arrays = [x, y] if work is None else [x, y, work]
        self._call(
            "reduce_sum",
            arrays,
            self._dtype_code(x),
            outer,
            n,
            inner,
            self._ptr(x),
            self._ptr(y),
            float(scale),
            0 if work is None else self._ptr(work),
            0 if work is None else work.size,
            self._stream(),
        )

    def reduce_sum(self, x: Any, start: int, stop: int, scale: float = 1.0) -> Any:
        """scale * x summed over the consecutive axes [start, stop): the primitive dg.ops
        builds sum / mean from. Returns shape x.shape[:start] + x.shape[stop:]."""
        x = self._input(x, "x")
        if not isinstance(start, int) or not isinstance(stop, int):
            raise TypeError(f"start, stop: expected ints, got {start!r}, {stop!r}")
        if not 0 <= start <= stop <= x.ndim:
            raise ValueError(f"reduce_sum: axes [{start}, {stop}) out of range for {x.ndim}-D x")
        shape = tuple(x.shape)
        y = self.xp().empty(shape[:start] + shape[stop:], dtype=x.dtype)
        outer, inner = math.prod(shape[:start]), math.prod(shape[stop:])
        if y.size:
            self._reduce(x, outer, math.prod(shape[start:stop]), inner, y, scale)
        return y

    # ---- optimizers --------------------------------------------------------------------------
    def _state(self, x: Any, like: Any, name: str) -> Any:
        """An optimizer buffer updated in place: same shape and dtype, contiguous, writable.
        Never None: _output would allocate a fresh (uninitialized) one, and the step would
        read garbage state and write its result where the caller cannot see it."""
        if x is None:
            raise TypeError(f"{name}: expected a {self.array_type_name}, got None")
        return self._output(x, like.shape, like.dtype, name=name)

    def sgd_update(
        self,
        param: Any,
        grad: Any,
        buf: Any,
        *,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
        first_step: bool = False,
    ) -> None:
        """torch.optim.SGD's step for one parameter, in place (buf may be None when
        momentum is 0; first_step=True sets buf = g, as torch's first momentum step)."""
        param = self._state(param, self._input(param, "param", contiguous=False), "param")
        grad = self._input(grad, "grad", dtype=param.dtype)
        if grad.shape != param.shape:
            raise ValueError(f"grad: expected shape {tuple(param.shape)}, got {tuple(grad.shape)}")
        op = "sgd_update"
        lr, momentum = real(lr, op, "lr"), real(momentum, op, "momentum")
        weight_decay, dampening = (
            real(weight_decay, op, "weight_decay"),
            real(dampening, op, "dampening"),
        )
        hyper(lr, op, "lr", "a learning rate >= 0")
        hyper(momentum, op, "momentum", "momentum >= 0")
        hyper(weight_decay, op, "weight_decay", "weight_decay >= 0")
        if math.isnan(dampening):
            raise ValueError(f"dampening: expected a number, got {dampening}")
        if buf is None and momentum != 0.0:
            raise ValueError("buf: momentum != 0 needs a momentum buffer, got None")
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("nesterov: requires momentum > 0 and dampening == 0 (as torch)")
        arrays = [param, grad]
        if buf is not None:
            buf = self._state(buf, param, "buf") if momentum != 0.0 else None
        if buf is not None:
            arrays.append(buf)
        self._check_disjoint(("param", param), ("grad", grad), ("buf", buf))
        self._call(
            "sgd_update",
            arrays,
            self._dtype_code(param),
            param.size,
            self._ptr(param),
            self._ptr(grad),
            self._ptr(buf) if buf is not None else 0,
            float(lr),
            float(momentum),
            float(weight_decay),
            bool(nesterov),
            float(dampening),
            bool(first_step),
            self._stream(),
        )

    def adam_update(
        self,
        param: Any,
        grad: Any,
        m: Any,
        v: Any,
        *,
        step: int,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        """torch.optim.Adam's step (AdamW when decoupled) for one parameter, in place."""
        op = "adam_update"
        step = check_step(step, op)
        lr, eps = real(lr, op, "lr"), real(eps, op, "eps")
        beta1, beta2 = real(beta1, op, "beta1"), real(beta2, op, "beta2")
        weight_decay = real(weight_decay, op, "weight_decay")
        hyper(lr, op, "lr", "a learning rate >= 0")
        hyper(beta1, op, "beta1", "a value in [0, 1)", hi=1.0)
        hyper(beta2, op, "beta2", "a value in [0, 1)", hi=1.0)
        hyper(eps, op, "eps", "eps >= 0")
        hyper(weight_decay, op, "weight_decay", "weight_decay >= 0")
        param = self._state(param, self._input(param, "param", contiguous=False), "param")
        grad = self._input(grad, "grad", dtype=param.dtype)
        if grad.shape != param.shape:
            raise ValueError(f"grad: expected shape {tuple(param.shape)}, got {tuple(grad.shape)}")
        m = self._state(m, param, "m")
        v = self._state(v, param, "v")
        self._check_disjoint(("param", param), ("grad", grad), ("m", m), ("v", v))
        self._call(
            "adam_update",
            [param, grad, m, v],
            self._dtype_code(param),
            param.size,
            self._ptr(param),
            self._ptr(grad),
            self._ptr(m),
            self._ptr(v),
            int(step),
            float(lr),
            float(beta1),
            float(beta2),
            float(eps),
            float(weight_decay),
            bool(decoupled),
            self._stream(),
        )


def _named(fn: Any) -> Any:
    """fn, with its name put in front of the TypeError / ValueError messages it raises:
    "matmul: out: expected ..., got ..." (as the CPU bindings do)."""
    op = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as e:
            if type(e) in (TypeError, ValueError) and e.args and isinstance(e.args[0], str):
                if not e.args[0].startswith(op + ":"):
                    e.args = (f"{op}: {e.args[0]}", *e.args[1:])
            raise

    return wrapper


for _op in OPS:
    setattr(KernelOps, _op, _named(getattr(KernelOps, _op)))


class CudaOps(KernelOps):
    """KernelOps on the GPU (cupy arrays); raises RuntimeError, saying why, without a GPU."""

    _available = False  # once a device answered, it stays usable for the process

    def xp(self) -> Any:
        if not self._available:  # before cupy is imported: say why CUDA cannot be used
            ok, reason = availability()
            if not ok:
                raise RuntimeError(f"CUDA is not available: {reason}")
            try:
                import cupy  # noqa: F401, PLC0415
            except ImportError as e:
                raise RuntimeError(
                    f"CUDA is not available: cupy is not installed ({e}); pip install "
                    "'deltagrad[gpu]' or cupy-cuda13x"
                ) from None
            CudaOps._available = True
        return super().xp()

    def _call(self, name: str, arrays: list[Any], *args: Any) -> None:
        if not self._available:
            ok, reason = availability()
            if not ok:
                raise RuntimeError(f"CUDA is not available: {reason}")
            CudaOps._available = True
        dev = _array_device(name, arrays)
        cupy = self.xp()
        if dev is None or dev == cupy.cuda.runtime.getDevice():
            getattr(self._raw, name)(*args)
            return
        # The arrays live on another device than the current one: launch there (a device
        # guard), on that device's current stream (the last argument of every raw launch).
        with cupy.cuda.Device(dev):
            stream = int(cupy.cuda.get_current_stream().ptr)
            getattr(self._raw, name)(*args[:-1], stream)


def _array_device(name: str, arrays: list[Any]) -> int | None:
    """The device id all of an op's arrays are on (None without arrays); a ValueError naming
    the op when they are on different devices."""
    dev = None
    for a in arrays:
        d = a.device.id
        if dev is None:
            dev = d
        elif d != dev:
            ids = sorted({x.device.id for x in arrays})
            raise ValueError(f"{name}: the arrays are on different CUDA devices {ids}")
    return dev


def _on_device(fn: Any) -> Any:
    """The op run with its first argument's device current (allocations, the stream and the
    launch all on it), when that is a cupy array on another device than the current one."""

    @functools.wraps(fn)
    def op(self: CudaOps, *args: Any, **kwargs: Any) -> Any:
        dev = getattr(getattr(args[0] if args else None, "device", None), "id", None)
        if dev is None or not self._available:
            return fn(self, *args, **kwargs)
        cupy = self.xp()
        if dev == cupy.cuda.runtime.getDevice():
            return fn(self, *args, **kwargs)
        with cupy.cuda.Device(dev):
            return fn(self, *args, **kwargs)

    return op


for _op in OPS:
    setattr(CudaOps, _op, _on_device(getattr(KernelOps, _op)))


ops = CudaOps(_cuda)  # with _cuda None, every op raises before touching it


def availability() -> tuple[bool, str]:
    """(True, "") when a CUDA device can be used, else (False, the reason)."""
    if _cuda is None:
        return False, f"deltagrad was built without CUDA ({CUDA_IMPORT_ERROR})"
    ok, reason = _cuda.availability()
    return bool(ok), str(reason)


def device_name(index: int | None = None) -> str:
    """The name of CUDA device `index` (default: the current device)."""
    return str(_cuda.device_name(current_device() if index is None else index))


def current_device() -> int:
    """The current CUDA device of this thread (the one cupy allocates on)."""
    return int(_cuda.current_device())


def device_count() -> int:
    return int(_cuda.device_count())
