"""The device and runtime switches a torch script touches first: dg.device, dg.compile and
dg.use_deterministic_algorithms.

dg.device is a ``str`` subclass whose value is torch's canonical string ("cpu", "cuda",
"cuda:0"), so it passes unchanged everywhere deltagrad takes a device string today (Tensor(...,
device=), dg.zeros(..., device=), .to(), Module.to(), dg.load(map_location=)): a dg.device is
accepted exactly where its string is. Two deliberate differences from torch follow from that:
a device equals its string (torch: ``torch.device("cpu") == "cpu"`` is False), and str's methods
(``.split``, ``<``) exist on it.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .backends import canonical_device as canonical  # noqa: F401  (tensor.py's name for it)
from .backends import cuda_unavailable_reason

__all__ = [
    "device",
    "compile",
    "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled",
]

# torch 2.13's device types, in the order of its "Expected one of ..." message.
_TYPES = (
    "cpu",
    "cuda",
    "ipu",
    "xpu",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "hip",
    "ve",
    "fpga",
    "maia",
    "xla",
    "lazy",
    "vulkan",
    "mps",
    "meta",
    "hpu",
    "mtia",
    "privateuseone",
)
# torch's device-string grammar: letters / underscores, then optionally ':' and an index
# without sign, spaces or leading zeros (ASCII digits only).
_DEVICE_RE = re.compile(r"([a-zA-Z_]+)(?::(0|[1-9][0-9]*))?", re.ASCII)
# torch stores the index as a c10::DeviceIndex (int8) and silently wraps larger ones;
# deltagrad raises instead.
_MAX_INDEX = 127


def _check_index(index: int) -> int:
    if index < 0:
        raise RuntimeError("Device index must not be negative")
    if index > _MAX_INDEX:
        raise RuntimeError(f"device: index: expected at most {_MAX_INDEX}, got {index}")
    return index


def _parse(s: str) -> tuple[str, int | None]:
    """(type, index) of a device string, with torch's errors (RuntimeError)."""
    if not s:
        raise RuntimeError("Device string must not be empty")
    m = _DEVICE_RE.fullmatch(s)
    if m is None:
        raise RuntimeError(f"Invalid device string: '{s}'")
    kind, idx = m.group(1), m.group(2)
    if kind not in _TYPES:
        raise RuntimeError(
            f"Expected one of {', '.join(_TYPES)} device type at start of device string: {s}"
        )
    if idx is None:
        return kind, None
    if len(idx) > 18:  # past int64: torch's own message
        raise RuntimeError(f"Could not parse device index '{idx}' in device string '{s}'")
    return kind, _check_index(int(idx))


class device(str):  # noqa: N801  (torch's name)
    """torch.device: ``device("cuda:0")``, ``device("cuda", 0)``, ``device(type="cpu")``,
    ``device(other_device)``; an int i is the accelerator's device i ("cuda:i"; RuntimeError
    when CUDA is not available, as torch). Attributes ``type`` and ``index`` (None when not
    given); ``str()`` is torch's string, ``repr()`` torch's ``device(type='cuda', index=0)``.

    A ``str`` subclass (see the module docstring): equality and hash are those of the string,
    so ``device("cuda") == "cuda"`` and ``device("cuda:0") != device("cuda")`` (as torch).
    A torch.device is accepted and converted."""

    __slots__ = ()

    def __new__(cls, type: Any, index: Any = None) -> device:  # noqa: A002  (torch's name)
        if isinstance(type, device):
            if index is not None:
                raise TypeError(
                    "device(): argument 'type' (position 1) must be str, not deltagrad.device"
                )
            return type
        if isinstance(type, builtins.int) and not isinstance(type, builtins.bool):
            if index is not None:
                raise TypeError("device(): argument 'type' (position 1) must be str, not int")
            return cls._from_int(type)
        if not isinstance(type, str) and isinstance(getattr(type, "type", None), str):
            if index is not None:  # a torch.device (or another object with .type / .index)
                raise TypeError(
                    "device(): argument 'type' (position 1) must be str, "
                    f"not {builtins.type(type).__name__}"
                )
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(
                "device(): argument 'type' (position 1) must be str, "
                f"not {builtins.type(type).__name__}"
            )
        kind, parsed = _parse(str(type))
        if index is not None:
            if isinstance(index, (builtins.bool, np.bool_)) or not isinstance(
                index, (builtins.int, np.integer)
            ):
                raise TypeError(
                    "device(): argument 'index' (position 2) must be int, "
                    f"not {builtins.type(index).__name__}"
                )
            if parsed is not None:
                raise RuntimeError(
                    "type (string) must not include an index because index was passed "
                    f"explicitly: {type}"
                )
            parsed = _check_index(builtins.int(index))
        return str.__new__(cls, kind if parsed is None else f"{kind}:{parsed}")

    @classmethod
    def _from_int(cls, index: int) -> device:
        """torch.device(i): the current accelerator's device i."""
        if cuda_unavailable_reason() is not None:  # (dg.cuda.is_available's test)
            raise RuntimeError("Cannot access accelerator device when none is available.")
        return cls("cuda", index)

    @property
    def type(self) -> str:
        # a plain str: str.partition hands back self (a device) when there is no ":"
        return str.__str__(self).partition(":")[0]

    @property
    def index(self) -> int | None:
        idx = str.partition(self, ":")[2]
        return builtins.int(idx) if idx else None

    def __repr__(self) -> str:
        idx = self.index
        tail = "" if idx is None else f", index={idx}"
        return f"device(type='{self.type}'{tail})"

    def __str__(self) -> str:
        return str.__str__(self)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return device, (str.__str__(self),)


# ---- compile: a documented no-op ------------------------------------------------------------

_COMPILE_MODES = (
    "default",
    "lite",
    "reduce-overhead",
    "max-autotune-no-cudagraphs",
    "max-autotune",
)


def compile(  # noqa: A001  (torch's name)
    model: Callable[..., Any] | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable[..., Any] | None = None,
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    name: str | None = None,
    disable: bool = False,
    recompile_limit: int | None = None,
    isolate_recompiles: bool = False,
    shapes_spec: Any = None,
) -> Any:
    """torch.compile's signature, as a no-op: returns `model` (a Module or function) itself.
    deltagrad runs eagerly; its hot paths are already compiled kernels, and there is no graph
    capture to do. Without `model` it returns a decorator (``@dg.compile(mode=...)``), as torch.

    Arguments are checked as torch checks them (a mode outside torch's list, or mode together
    with options: RuntimeError; a model that is not callable: AssertionError); `backend` is not
    looked up (any name is accepted). Differences: torch wraps a Module in an OptimizedModule;
    here the Module itself comes back."""
    if mode is not None and options is not None:
        raise RuntimeError(
            "Either mode or options can be specified, but both can't be specified at the same time."
        )
    if mode is not None and mode not in _COMPILE_MODES:
        raise RuntimeError(
            f"Unrecognized mode={mode}, should be one of: {', '.join(_COMPILE_MODES)}"
        )

    def _identity(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise AssertionError(
                f"A callable function is expected, but {builtins.type(fn)} is provided."
            )
        return fn

    return _identity if model is None else _identity(model)


# ---- deterministic algorithms: a flag --------------------------------------------------------

_deterministic = False
_deterministic_warn_only = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms: records the flag (are_deterministic_algorithms_
    enabled() reads it). deltagrad's own kernels are deterministic for a fixed thread count
    whatever the flag: the CPU kernels reduce with a static OpenMP schedule and the CUDA
    reductions in two passes over fixed segments, without atomics. The exception, which this
    flag does not yet change: on a GPU, the backward of indexing / gather / scatter_add /
    embedding adds with cupyx.scatter_add (atomics: the order of float additions varies)."""
    global _deterministic, _deterministic_warn_only
    for arg, v in (("mode", mode), ("warn_only", warn_only)):
        if not isinstance(v, builtins.bool):
            where = "(position 1)" if arg == "mode" else ""
            raise TypeError(
                f"use_deterministic_algorithms(): argument '{arg}' {where} must be bool, "
                f"not {builtins.type(v).__name__}".replace("  ", " ")
            )
    _deterministic, _deterministic_warn_only = mode, warn_only


def are_deterministic_algorithms_enabled() -> bool:
    """Whether use_deterministic_algorithms(True) is in effect."""
    return _deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether use_deterministic_algorithms(True, warn_only=True) is in effect."""
    return _deterministic_warn_only
