# temporary shim: removed at integration
"""Old name of deltagrad.backends, kept only so the tests written against it run unchanged.

``cuda_module()`` returns the old ``deltagrad._cuda_ops`` module (itself a shim over
backends.cuda); replacing ``cuda_module`` on this module (as tests/test_simt.py's monkeypatch
does) replaces ``backends.cuda_ops``, which is what dg.ops consults now.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from . import backends
from .backends import (  # noqa: F401
    DEVICES,
    backend_for,
    cuda_unavailable_reason,
    device_of,
    host_backend_override,
    to_device,
    use_host_backend,
)
from .backends import _require_cuda as require_cuda  # noqa: F401
from .backends._args import is_device_array as is_cuda_array  # noqa: F401
from .backends.cuda import get_allow_tf32, set_allow_tf32  # noqa: F401

_original_cuda_ops = backends.cuda_ops


def cuda_module() -> Any:
    """The old _cuda_ops module, or None when this build has no CUDA."""
    if backends.cuda_ops() is None:
        return None
    from . import _cuda_ops as mod

    return mod


_legacy_cuda_module = cuda_module


class _Shim(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "cuda_module":
            if value is _legacy_cuda_module:
                backends.cuda_ops = _original_cuda_ops
            else:
                backends.cuda_ops = value
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Shim
