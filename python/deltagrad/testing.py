"""Test helpers for kernel authors: check a differentiable op against its NumPy float64 reference
in one call, on every device this build can run.

    from deltagrad.testing import check_op, assert_close
    check_op(F.tanh, np.tanh, [("n", "m")])                 # symbolic dims: odd sizes drawn
    check_op(F.linear, ref_linear, [("n", "k"), ("m", "k"), ("m",)])
    check_op(F.cross_entropy, ref_ce, [("n", "c"), Ints(("n",), high="c")])

For each device ("cpu"; "simt": the csrc/cuda kernels run by the SIMT emulator; "cuda" when a GPU
is there), each dtype (float64, float32) and each draw of the shapes, check_op

1. compares the forward value with the reference (computed in float64 on the same inputs),
2. compares the gradients backward() gives (for a random output cotangent v) with central
   differences of the *reference*, in float64, so a backward that matches a wrong forward fails,
3. runs dg.gradcheck on the op itself (float64),
4. plants extreme values (default +-1e4) in the inputs and checks the forward again, and that
   no gradient is NaN where the reference is finite,
5. runs the empty case (a symbolic dim set to 0): the op must give the reference's answer, or
   raise a Python exception where the reference raises.

It returns an OpCheckReport (what was checked) or raises OpCheckError, an AssertionError whose
message names the device, dtype, shapes, input, index, the two values and the tolerance.

assert_close(actual, expected, dtype=None, rtol=None, atol=None, *, scale, equal_nan, name) is
the llm.c-style comparison every check and every test uses: |actual - expected| <= atol + rtol *
|expected| elementwise; a NaN never passes unless equal_nan and both are NaN at that position;
infinities must match exactly. With a dtype (a kernel's output against the float64 reference)
rtol defaults to RTOL[dtype] (1e-5 float32, 1e-12 float64), the output must have that dtype,
and NaN where the reference is NaN passes.

For the test suite: available_devices() and device_context(device) (tests/conftest.py's `device`
fixture), to_device / to_numpy / call_on to move test data, sample / SPECIALS / DTYPES, and the
backends' modules (simt_module, simt_ops, cuda_module, cuda_ops, backend_module): the one place
the tests name them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from .gradcheck import GradcheckError, _host, gradcheck
from .tensor import Tensor

__all__ = [
    "check_op",
    "assert_close",
    "available_devices",
    "device_context",
    "to_device",
    "backend_module",
    "simt_module",
    "simt_ops",
    "cuda_module",
    "cuda_ops",
    "to_numpy",
    "call_on",
    "GPU_RTOL",
    "sample",
    "DTYPES",
    "RTOL",
    "TINY",
    "SPECIALS",
    "Ints",
    "OpCheckError",
    "OpCheckReport",
]


# ---- the backends' modules: the one place the tests name them ---------------------------------


def backend_module() -> Any:
    """deltagrad.backends: device routing (use_host_backend, to_device, cuda_ops)."""
    from . import backends

    return backends


def simt_module() -> Any:
    """The SIMT emulator's backend module (ops, SimtOps, SimtFault, selftest, schedules, the
    race detector), or None when the _simt extension is not built."""
    try:
        from .backends import simt
    except ImportError:
        return None
    return simt


class _OpsWithReductions:
    """A backend's ops object plus dg.ops's sum / mean / sum_to_shape (which dg.ops builds on
    the backend's reduce_sum) run on that backend, so that a test can call every op of dg.ops
    on one backend directly, without dg.ops's copies of the inputs for the other ops."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def _via_ops(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from . import backends, ops

        with backends.use_host_backend(self.backend):
            return getattr(ops, name)(*args, **kwargs)

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self._via_ops("sum", x, axis=axis, keepdims=keepdims)

    def mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self._via_ops("mean", x, axis=axis, keepdims=keepdims)

    def sum_to_shape(self, g: Any, shape: Any) -> Any:
        return self._via_ops("sum_to_shape", g, shape)


def simt_ops() -> Any:
    """The SIMT emulator's ops (the CUDA ops contract on host arrays, plus dg.ops's reductions
    run on it), or None when the _simt extension is not built."""
    m = simt_module()
    return None if m is None else _OpsWithReductions(m.ops)


def cuda_module() -> Any:
    """The CUDA backend module, deltagrad.backends.cuda (it imports without a GPU or a CUDA
    build; its ops then raise saying why)."""
    from .backends import cuda

    return cuda


def cuda_ops() -> Any:
    """The CUDA ops object dg.ops sends cupy arrays to (plus dg.ops's reductions run on it), or
    None in a build without CUDA."""
    ops = backend_module().cuda_ops()
    return None if ops is None else _OpsWithReductions(ops)


# ---- devices ---------------------------------------------------------------------------------


def available_devices() -> list[str]:
    """["cpu"], then "simt" when the SIMT emulator module is built, then "cuda" when this build
    has CUDA, cupy is installed and a GPU is present."""
    devices = ["cpu"]
    if simt_module() is not None:
        devices.append("simt")
    try:
        if backend_module().cuda_unavailable_reason() is None:
            devices.append("cuda")
    except Exception:
        pass
    return devices


@contextlib.contextmanager
def device_context(device: str) -> Iterator[str]:
    """Run the block's ops on `device`; yields the Tensor device to create inputs on ("simt"
    tensors are host tensors whose ops run on the SIMT emulator's kernels)."""
    if device == "simt":
        with backend_module().use_host_backend(simt_module().ops):
            yield "cpu"
    elif device in ("cpu", "cuda"):
        yield device
    else:
        raise ValueError(f"device: expected 'cpu', 'simt' or 'cuda', got {device!r}")


# ---- moving test data ------------------------------------------------------------------------


def to_device(x: Any, device: str) -> Any:
    """A numpy array as the array type ops take on `device`: itself on "cpu" and "simt" (the
    emulator runs on host arrays inside device_context("simt")), a cupy array on "cuda"."""
    if device in ("cpu", "simt"):
        return x
    if device == "cuda":
        return backend_module().to_device(x, "cuda")
    raise ValueError(f"device: expected 'cpu', 'simt' or 'cuda', got {device!r}")


def to_numpy(x: Any) -> Any:
    """A result brought back to the host: a numpy array (or number) from a numpy / cupy array,
    a Tensor, or a tuple / list of them (None stays None). Keeps the dtype."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(v) for v in x)
    if x is None:
        return None
    if isinstance(x, Tensor):
        x = x.data
    if hasattr(x, "get") and not isinstance(x, np.ndarray):  # cupy
        return x.get()
    return x


# ---- comparison ------------------------------------------------------------------------------


# Per-dtype default relative tolerances of a kernel against the float64 reference: float32 to
# 1e-5 relative (~84 ulp), float64 to 1e-12. Without a dtype, llm.c's defaults (1e-5, 1e-8).
class _ByDtype(dict):
    """A dict keyed by dtype that takes np.float32, np.dtype("float32") or "float32" alike."""

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, np.dtype(key))

    def __contains__(self, key: object) -> bool:
        try:
            return dict.__contains__(self, np.dtype(key))  # type: ignore[arg-type]
        except TypeError:
            return False


RTOL = _ByDtype({np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12})
TINY = _ByDtype({np.dtype(d): float(np.finfo(d).tiny) for d in (np.float32, np.float64)})
_F32_MAX = float(np.finfo(np.float32).max) * (1 + 2**-24)  # beyond this float64 rounds to inf


def _mismatch(
    actual: Any,
    expected: Any,
    *,
    atol: Any,
    rtol: float,
    equal_nan: bool,
    dtype: Any = None,
) -> str | None:
    """None when actual matches expected, else a one-line description of the worst element.
    atol may be an array broadcast to expected's shape (a per-element error bound)."""
    a, e = _host(actual), _host(expected)
    if a.shape != e.shape:
        return f"shape {a.shape}, expected {e.shape}"
    if a.size == 0:
        return None
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    bad_nan = (nan_a | nan_e) if not equal_nan else (nan_a != nan_e)
    if bad_nan.any():
        k = int(np.flatnonzero(bad_nan)[0])
        idx = tuple(int(i) for i in np.unravel_index(k, a.shape))
        return (
            f"{int(bad_nan.sum())} of {a.size} elements are NaN on one side; first at index "
            f"{idx}: actual {a.flat[k]!r}, expected {e.flat[k]!r}"
        )
    inf_e = np.isinf(e)
    if dtype is not None and dtype == np.float32:  # a float64 value beyond float32 rounds to inf
        inf_e = inf_e | (np.abs(e) > _F32_MAX)
    inf = (np.isinf(a) | inf_e) & ~nan_e
    bad_inf = inf & ~(np.isinf(a) & inf_e & (np.sign(a) == np.sign(e)))
    if bad_inf.any():
        k = int(np.flatnonzero(bad_inf)[0])
        idx = tuple(int(i) for i in np.unravel_index(k, a.shape))
        return (
            f"{int(bad_inf.sum())} of {a.size} elements differ in an infinity; first at "
            f"index {idx}: actual {a.flat[k]!r}, expected {e.flat[k]!r}"
        )
    fin = ~(nan_e | inf)
    err = np.abs(np.where(fin, a, 0.0) - np.where(fin, e, 0.0))
    atol_arr = np.broadcast_to(np.asarray(atol, dtype=np.float64), e.shape)
    tol = atol_arr + rtol * np.abs(np.where(fin, e, 0.0))
    if dtype is not None:  # results in the denormal range: relative error means nothing
        tol = tol + 2 * TINY[dtype]
    excess = np.where(fin, err - tol, 0.0)
    if not (excess > 0).any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1.0), np.where(err > 0, np.inf, 0))
    ratio = np.where(fin, ratio, 0.0)
    k = int(np.argmax(ratio))
    idx = tuple(int(i) for i in np.unravel_index(k, a.shape))
    return (
        f"{int((excess > 0).sum())} of {a.size} elements differ; worst at index {idx}: "
        f"actual {a.flat[k]:.10g}, expected {e.flat[k]:.10g}, |diff| {err.flat[k]:.3g} > "
        f"atol + rtol*|expected| = {tol.flat[k]:.3g} (atol {atol_arr.flat[k]:.3g}, rtol {rtol:g})"
    )


def assert_close(
    actual: Any,
    expected: Any,
    dtype: Any = None,
    rtol: float | dict[Any, float] | None = None,
    atol: Any = None,
    *,
    scale: float | None = None,
    equal_nan: bool | None = None,
    name: str = "value",
    what: str | None = None,
) -> None:
    """Assert |actual - expected| <= atol + rtol * |expected| elementwise (llm.c's check).

    Arrays, Tensors, cupy arrays or numbers; shapes must match exactly; infinities must match
    exactly (sign included); a NaN passes only with equal_nan, and then only where expected is
    NaN too.

    dtype: the dtype the kernel computed in, `expected` being the float64 reference. Then rtol
    defaults to RTOL[dtype] (1e-5 float32, 1e-12 float64), atol to 0, equal_nan to True, an
    `actual` array must have that dtype, a reference beyond the float32 range counts as an
    infinity, and 2 * tiny(dtype) is added to the bound (denormal results). Without a dtype:
    rtol 1e-5, atol 1e-8, equal_nan False.
    atol may be an array (broadcast to expected's shape): a per-element error bound, e.g.
    rtol * |x| @ |w| for a dot product; an element of it that is inf or NaN (a bound formed
    from an infinite input) counts as 0, so it never waves a result through. With a dtype,
    rtol and atol may be dicts {dtype: value} (per-dtype overrides). scale: adds rtol * scale to
    atol, llm.c's form tol = rtol * (scale + |expected|) for a sum of about `scale` terms.
    Raises AssertionError naming `name` (or `what`), the count of bad elements, the worst
    index and both values."""
    label = what if what is not None else name
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in RTOL:
            raise ValueError(f"assert_close: dtype must be float32 or float64, got {dtype}")
        if isinstance(rtol, dict):
            rtol = _ByDtype({np.dtype(k): v for k, v in rtol.items()})[dtype]
        if isinstance(atol, dict):
            atol = _ByDtype({np.dtype(k): v for k, v in atol.items()})[dtype]
        rtol = RTOL[dtype] if rtol is None else rtol
        atol = 0.0 if atol is None else atol
        equal_nan = True if equal_nan is None else equal_nan
        host = to_numpy(actual)
        if isinstance(host, (np.ndarray, np.generic)) and host.size and host.dtype != dtype:
            raise AssertionError(f"{label}: dtype {host.dtype}, expected {dtype}")
    else:
        rtol = 1e-5 if rtol is None else rtol
        atol = 1e-8 if atol is None else atol
        equal_nan = False if equal_nan is None else equal_nan
    if isinstance(rtol, dict) or isinstance(atol, dict):
        raise TypeError("assert_close: per-dtype rtol / atol need a dtype")
    if scale is not None:
        atol = atol + rtol * scale
    if np.ndim(atol):  # a bound formed from an infinite or NaN input must not wave a result
        with np.errstate(invalid="ignore"):  # through: such an element counts as exact
            atol = np.where(np.isfinite(atol), atol, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        msg = _mismatch(actual, expected, atol=atol, rtol=rtol, equal_nan=equal_nan, dtype=dtype)
    if msg is not None:
        raise AssertionError(f"{label}: {msg}")


# The tolerance the CUDA kernels' tests hold every device to (llm.c's): relative rtol, plus
# rtol * scale absolute for a result summed over about `scale` terms.
GPU_RTOL = {np.float32: 1.6e-5, np.float64: 8e-13}


def call_on(device: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) with every numpy array argument moved to `device` (to_device), the
    result brought back to numpy (to_numpy). For ops that return their result; an op that
    updates an argument in place must be given device arrays and read back explicitly."""
    args = tuple(to_device(a, device) if isinstance(a, np.ndarray) else a for a in args)
    kwargs = {
        k: to_device(v, device) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    return to_numpy(fn(*args, **kwargs))


# ---- test data ---------------------------------------------------------------------------------

DTYPES = (np.float32, np.float64)

# Values every elementwise kernel must survive: signed zeros, huge, infinities, NaN, denormals.
SPECIALS = (
    0.0,
    -0.0,
    1000.0,
    -1000.0,
    1e4,
    -1e4,
    np.inf,
    -np.inf,
    np.nan,
    1e-40,
    -1e-40,
    3e-310,
    1e30,
    -1e30,
)


def sample(
    rng: np.random.Generator,
    shape: Sequence[int],
    dtype: Any,
    scale: float = 3.0,
    extremes: Sequence[float] = (),
) -> np.ndarray:
    """Normal data times `scale`, with the given extreme values planted at random positions
    (when the array is large enough to hold them)."""
    x = rng.standard_normal(shape) * scale
    flat = x.reshape(-1)
    if extremes and flat.size >= 4 * len(extremes):
        pos = rng.choice(flat.size, size=len(extremes), replace=False)
        flat[pos] = extremes
    return x.astype(dtype)


# ---- check_op --------------------------------------------------------------------------------


class Ints:
    """An integer input for check_op (class labels, indices): uniform in [low, high), where high
    (and any dim of shape) may be a symbolic dim name. Passed to op and reference as an array."""

    def __init__(
        self, shape: Sequence[int | str], high: int | str, low: int = 0, dtype: Any = np.int64
    ) -> None:
        self.shape, self.high, self.low, self.dtype = tuple(shape), high, low, dtype

    def __repr__(self) -> str:
        return f"Ints({self.shape}, high={self.high!r})"


class OpCheckError(AssertionError):
    """check_op found a mismatch; the message is the readable report."""


class OpCheckReport:
    """What check_op checked: `.lines` (one per device, dtype and shape draw), `.ok`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.ok = True

    def __str__(self) -> str:
        head = f"check_op({self.name}): {'ok' if self.ok else 'FAILED'}"
        return "\n".join([head, *("  " + ln for ln in self.lines)])

    __repr__ = __str__


def _numerical_vjp(
    ref_fn: Callable[..., Any], arrays: list[Any], i: int, vs: list[np.ndarray], eps: float
) -> np.ndarray:
    """d(sum_k sum(v_k * ref_fn(...)_k)) / d(arrays[i]) by central differences, in float64."""
    x = arrays[i]
    grad = np.zeros_like(x)

    def value() -> float:
        outs = _as_list(ref_fn(*arrays))
        return float(sum(np.sum(v * np.asarray(o, dtype=np.float64)) for v, o in zip(vs, outs)))

    for k in range(x.size):
        orig = x.flat[k]
        x.flat[k] = orig + eps
        plus = value()
        x.flat[k] = orig - eps
        minus = value()
        x.flat[k] = orig
        grad.flat[k] = (plus - minus) / (2 * eps)
    return grad


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _resolve(shape: Sequence[int | str], dims: dict[str, int]) -> tuple[int, ...]:
    return tuple(dims[d] if isinstance(d, str) else int(d) for d in shape)


def _symbols(specs: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for s in specs:
        parts = list(s.shape) + [s.high] if isinstance(s, Ints) else list(s)
        for d in parts:
            if isinstance(d, str) and d not in names:
                names.append(d)
    return names


def _draws(names: list[str], trials: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """Symbol values per trial: all 1 first, then odd sizes (3..13) drawn at random."""
    if not names:
        return [{}]
    out = [dict.fromkeys(names, 1)]
    for _ in range(max(trials - 1, 0)):
        out.append({n: int(rng.choice([3, 5, 7, 9, 11, 13])) for n in names})
    return out


def _shape_str(specs: Sequence[Any], dims: dict[str, int]) -> str:
    return ", ".join(
        f"int{_resolve(s.shape, dims)}" if isinstance(s, Ints) else str(_resolve(s, dims))
        for s in specs
    )


def check_op(
    op: Callable[..., Any],
    reference: Callable[..., Any],
    input_shapes: Sequence[Any],
    *,
    inputs: Sequence[Any] | None = None,
    low: float = -2.0,
    high: float = 2.0,
    grad: Sequence[bool] | bool = True,
    dtype: Any = None,
    dtypes: Sequence[Any] | None = None,
    atol: float = 1e-7,
    rtol: float = 1e-6,
    grad_atol: float = 1e-5,
    grad_rtol: float = 1e-4,
    f32_atol: float = 1e-5,
    f32_rtol: float = 1e-4,
    f32_grad_atol: float = 2e-3,
    f32_grad_rtol: float = 2e-3,
    eps: float = 1e-6,
    gradcheck_op: bool = True,
    devices: Sequence[str] | None = None,
    seed: int = 0,
    trials: int = 3,
    extremes: Sequence[float] | None = None,
    empty: bool = True,
    name: str | None = None,
    raise_exception: bool = True,
) -> OpCheckReport:
    """Check op (on Tensors) against reference (on float64 numpy arrays): forward, gradients
    and gradcheck, on every device, for float64 and float32, over several shape draws.

    input_shapes: one entry per input: a shape whose dims are ints or symbolic names (each
    name is drawn consistently across inputs: 1 in the first trial, odd sizes 3..13 in the
    next `trials - 1`, and 0 in an extra empty-case trial when `empty`), or an Ints(...) spec
    for an integer input. Float inputs are drawn from U(low, high); pass `inputs` (arrays) to
    fix them instead. grad: which inputs to differentiate (one bool for all).
    dtype: check only that dtype (default: float64, then float32; or pass `dtypes`).
    Tolerances: atol/rtol (float64 forward), grad_atol/grad_rtol (float64 gradients), and the
    f32_* ones for float32 (compared with the float64 reference). extremes: values planted in
    the float inputs for a forward check (default (-1e4, 1e4) when low < 0 < high, else
    none). devices: default available_devices().
    """
    owner = getattr(op, "__self__", None)  # e.g. MyFunction.apply: name it by its class
    label = name or (
        f"{owner.__name__}.{op.__name__}"
        if isinstance(owner, type)
        else getattr(op, "__name__", None) or type(op).__name__
    )
    report = OpCheckReport(label)
    rng = np.random.default_rng(seed)
    specs = list(input_shapes)
    if inputs is not None:  # fixed inputs: their shapes replace input_shapes
        fixed = [np.asarray(a) for a in inputs]
        specs = [Ints(a.shape, 1) if a.dtype.kind in "iub" else a.shape for a in fixed]
    wants = [grad] * len(specs) if isinstance(grad, bool) else list(grad)
    if len(wants) != len(specs):
        raise ValueError(f"check_op: grad has {len(wants)} entries for {len(specs)} inputs")
    wants = [w and not isinstance(s, Ints) for w, s in zip(wants, specs)]
    if dtypes is None:
        dtypes = [dtype] if dtype is not None else [np.float64, np.float32]
    dtypes = [np.dtype(d) for d in dtypes]
    for d in dtypes:
        if d not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"check_op: dtypes must be float32 / float64, got {d}")
    if extremes is None:
        extremes = (-1e4, 1e4) if low < 0 < high else ()
    names = _symbols(specs)
    draws = _draws(names, trials if inputs is None else 1, rng)
    if empty and names and inputs is None:
        draws.append({**dict.fromkeys(names, 1), names[0]: 0})
    devices = list(devices) if devices is not None else available_devices()

    def fail(msg: str) -> OpCheckReport:
        report.ok = False
        report.lines.append("FAIL " + msg)
        if raise_exception:
            raise OpCheckError(f"check_op({label}) failed\n  {msg}")
        return report

    for dims in draws:
        is_empty = any(v == 0 for v in dims.values())
        if inputs is not None:
            arrays = [
                np.array(a, dtype=np.float64) if a.dtype.kind == "f" else a.copy() for a in fixed
            ]
        else:
            arrays = []
            for s in specs:
                if isinstance(s, Ints):
                    hi = dims[s.high] if isinstance(s.high, str) else int(s.high)
                    arrays.append(
                        rng.integers(s.low, max(hi, s.low + 1), _resolve(s.shape, dims)).astype(
                            s.dtype
                        )
                    )
                else:
                    arrays.append(rng.uniform(low, high, _resolve(s, dims)))
        shapes = _shape_str(specs, dims)
        try:
            expected = [
                np.asarray(o, dtype=np.float64)
                for o in _as_list(reference(*[a.copy() for a in arrays]))
            ]
        except Exception as e:  # the reference rejects this case (e.g. an empty reduction)
            if not is_empty:
                raise
            expected, ref_error = None, e
        for device in devices:
            for dt in dtypes:
                where = f"device {device!r}, {dt.name}, shapes [{shapes}]"
                f64 = dt == np.float64
                fa, fr = (atol, rtol) if f64 else (f32_atol, f32_rtol)
                ga, gr = (grad_atol, grad_rtol) if f64 else (f32_grad_atol, f32_grad_rtol)
                with device_context(device) as tdev:

                    def make(arrs: list[Any], dt: np.dtype = dt, tdev: str = tdev) -> list[Any]:
                        out = []
                        for a, w in zip(arrs, wants):
                            if a.dtype.kind == "f":
                                out.append(Tensor(a.astype(dt), requires_grad=w, device=tdev))
                            else:
                                out.append(Tensor(a, device=tdev).data)
                        return out

                    ts = make(arrays)
                    if expected is None:  # empty case the reference rejects: a clean error
                        try:
                            op(*ts)
                        except Exception:
                            report.lines.append(
                                f"ok   {where}: raises where the reference "
                                f"raises ({type(ref_error).__name__})"
                            )
                            continue
                        report.lines.append(
                            f"ok   {where}: returns where the reference raises "
                            f"({type(ref_error).__name__})"
                        )
                        continue
                    try:
                        outs = _as_list(op(*ts))
                    except Exception as e:
                        return fail(f"{where}: forward raised {type(e).__name__}: {e}")
                    if len(outs) != len(expected):
                        return fail(
                            f"{where}: op returned {len(outs)} outputs, the reference "
                            f"{len(expected)}"
                        )
                    for k, (o, e) in enumerate(zip(outs, expected)):
                        out_name = "forward" if len(outs) == 1 else f"forward output {k}"
                        if isinstance(o, Tensor) and o.dtype != dt and o.dtype.kind == "f":
                            return fail(
                                f"{where}: {out_name} has dtype {o.dtype}, expected {dt.name}"
                            )
                        msg = _mismatch(o, e, atol=fa, rtol=fr, equal_nan=False)
                        if msg is not None:
                            return fail(f"{where}: {out_name}: {msg}")
                    checked = ["forward"]
                    if any(wants) and not is_empty:
                        vs = [rng.standard_normal(e.shape) for e in expected]
                        ref_grads = [
                            _numerical_vjp(reference, [a.copy() for a in arrays], i, vs, eps)
                            if w
                            else None
                            for i, w in enumerate(wants)
                        ]
                        loss = None
                        for o, v in zip(outs, vs):
                            if isinstance(o, Tensor) and o.requires_grad:
                                term = (o * Tensor(v.astype(o.dtype), device=tdev)).sum()
                                loss = term if loss is None else loss + term
                        if loss is None:
                            return fail(
                                f"{where}: no output requires grad although inputs "
                                f"{[i for i, w in enumerate(wants) if w]} do"
                            )
                        loss.backward()
                        for i, (t, rg) in enumerate(zip(ts, ref_grads)):
                            if rg is None:
                                continue
                            if t.grad is None:
                                return fail(f"{where}: input {i} got no gradient")
                            msg = _mismatch(t.grad, rg, atol=ga, rtol=gr, equal_nan=False)
                            if msg is not None:
                                return fail(
                                    f"{where}: gradient of input {i} vs the "
                                    f"reference's central differences: {msg}"
                                )
                        checked.append("gradients")
                        if gradcheck_op and f64:
                            fresh = make(arrays)
                            n_in = sum(a.size for a, w in zip(arrays, wants) if w)
                            try:
                                gradcheck(op, fresh, eps=eps, atol=ga, rtol=gr, fast_mode=n_in > 64)
                            except GradcheckError as e:
                                return fail(f"{where}: gradcheck of the op: {e}")
                            checked.append("gradcheck")
                    if extremes and not is_empty:
                        msg = _check_extremes(
                            op, reference, arrays, wants, extremes, make, rng, fa, fr
                        )
                        if msg is not None:
                            return fail(f"{where}: with extreme inputs {list(extremes)}: {msg}")
                        checked.append("extremes")
                report.lines.append(f"ok   {where}: {', '.join(checked)}")
    return report


def _check_extremes(
    op: Callable[..., Any],
    reference: Callable[..., Any],
    arrays: list[Any],
    wants: list[bool],
    extremes: Sequence[float],
    make: Callable[..., Any],
    rng: np.random.Generator,
    atol: float,
    rtol: float,
) -> str | None:
    """Plant the extreme values in every float input; the forward must match the reference
    (NaN where it is NaN, the same infinities), and no gradient may be NaN when every reference
    output is finite. This stage is about stability (overflow, NaN, inf), not precision: atol
    is scaled by the largest input magnitude, since sums over +-1e4 cancel."""
    planted = []
    for a in arrays:
        a = a.copy()
        if a.dtype.kind == "f" and a.size:
            k = min(len(extremes), max(a.size // 2, 1))
            pos = rng.choice(a.size, size=k, replace=False)
            a.flat[pos] = np.asarray(extremes[:k], dtype=np.float64)
        planted.append(a)
    try:
        expected = [
            np.asarray(o, dtype=np.float64)
            for o in _as_list(reference(*[a.copy() for a in planted]))
        ]
    except Exception:
        return None  # the reference itself cannot take these values: nothing to compare
    scale = max(
        [1.0] + [float(np.max(np.abs(a))) for a in planted if a.dtype.kind == "f" and a.size]
    )
    atol = atol * scale
    ts = make(planted)
    outs = _as_list(op(*ts))
    for k, (o, e) in enumerate(zip(outs, expected)):
        with np.errstate(all="ignore"):
            msg = _mismatch(o, e, atol=atol, rtol=rtol, equal_nan=True)
        if msg is not None:
            return f"forward output {k}: {msg}"
    if any(wants) and all(np.isfinite(e).all() for e in expected):
        loss = None
        for o in outs:
            if isinstance(o, Tensor) and o.requires_grad:
                loss = o.sum() if loss is None else loss + o.sum()
        if loss is not None:
            loss.backward()
            for i, t in enumerate(ts):
                if isinstance(t, Tensor) and t.grad is not None:
                    g = _host(t.grad)
                    if np.isnan(g).any():
                        k = int(np.flatnonzero(np.isnan(g))[0])
                        idx = tuple(int(j) for j in np.unravel_index(k, g.shape))
                        return (
                            f"gradient of input {i} is NaN at index {idx} although every "
                            "reference output is finite"
                        )
    return None
