"""deltagrad: a small deep-learning library whose hot paths are hand-written kernels.

AVX2/FMA (and AVX-512) C++ on the CPU, CUDA C++ on NVIDIA GPUs, bound with pybind11; above
them reverse-mode autodiff, layers, losses, optimizers, a training loop and the classical
curve-fitting / regularization / cross-validation toolkit (Bishop, *Deep Learning*, ch. 1-8).

    import deltagrad as dg
    dg.info()
    c = dg.ops.matmul(a, b, trans_b=True)
"""

from __future__ import annotations

import importlib
from typing import Any

# creation: torch's creation functions and dtypes (dg.zeros, dg.float32, ...);
# _tensor_functions: the function forms of the Tensor methods (dg.sum(x, dim), dg.cat, ...).
# They shadow builtins (float, int, bool, sum, max, min, abs, all, any) in this namespace
# only, as torch's do (nothing in this file uses those builtins), and stay out of __all__.
from . import _tensor_functions, creation, ops
from ._runtime import get_num_threads, info, initial_seed, manual_seed, seed, set_num_threads
from ._tensor_functions import *  # noqa: F403
from ._version import __version__
from .creation import *  # noqa: F403

# Imported eagerly: the submodules deltagrad.tensor and deltagrad.gradcheck share their names
# with the functions they define, and importing a submodule binds it as a package attribute.
# Importing them here, once, leaves the functions bound (a later import finds the cached module
# and rebinds nothing).
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .linalg import bmm, matmul  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import (  # noqa: E402
    Tensor,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    tensor,
)

# isort: split
# torch's top-level anomaly-mode flags (torch.is_anomaly_enabled, ...): dg.autograd's (a module
# `import deltagrad` loads anyway, so this costs nothing).
from .autograd import (  # noqa: E402
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
)

# isort: split
# torch's top-level linear algebra (torch.det, torch.logdet, ...): dg.linalg's.
from ._linalg_more import det, inverse, logdet, pinverse, slogdet  # noqa: E402

# isort: split
# torch's device / runtime switches (torch.device, torch.Generator, torch.compile -- a no-op --
# and the deterministic-algorithms flag); dg.cuda is torch.cuda's runtime queries (lazy).
# dg.compile shadows the builtin in this namespace only and stays out of __all__.
from ._device import (  # noqa: E402
    are_deterministic_algorithms_enabled,
    compile,  # noqa: F401  (dg.compile; out of __all__, see above)
    device,
    is_deterministic_algorithms_warn_only_enabled,
    use_deterministic_algorithms,
)
from ._generator import Generator  # noqa: E402

# dg.random (torch.random's API) is bound by this import; it stays out of __all__, as torch's.
from .random import default_generator, get_rng_state, set_rng_state  # noqa: E402

# isort: split
# torch's tensor-math functions (dg.einsum, dg.tensordot, dg.cdist, dg.searchsorted, ...).
from ._tensor_math import (  # noqa: E402
    block_diag,
    broadcast_shapes,
    broadcast_tensors,
    bucketize,
    cartesian_prod,
    cdist,
    einsum,
    equal,
    histc,
    kron,
    meshgrid,
    searchsorted,
    tensordot,
)

# isort: split
# torch's top-level gamma-family names (torch.lgamma, torch.mvlgamma, torch.igamma, ...):
# dg.special's functions.
from .special import digamma, i0, polygamma  # noqa: E402
from .special import gammainc as igamma  # noqa: E402
from .special import gammaincc as igammac  # noqa: E402
from .special import gammaln as lgamma  # noqa: E402
from .special import multigammaln as mvlgamma  # noqa: E402

# Submodules imported on first use, so `import deltagrad` stays fast and a layer is only
# loaded when something asks for it.
_LAZY_MODULES = (
    "functional",
    "nn",
    "optim",
    "data",
    "train",
    "models",
    "metrics",
    "model_selection",
    "datasets",
    "reference",
    "cli",
    "experiments",
    "backends",
    "autograd",
    "testing",
    "distributed",
    "distributions",
    "cuda",
    "special",
    "fft",
    "utils",
    "func",
)

__all__ = [
    "__version__",
    "info",
    "set_num_threads",
    "get_num_threads",
    "manual_seed",
    "seed",
    "initial_seed",
    "ops",
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "inference_mode",
    "is_grad_enabled",
    "set_grad_enabled",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "set_anomaly_enabled",
    "gradcheck",
    "GradcheckError",
    "save",
    "load",
    "matmul",
    "bmm",
    "einsum",
    "tensordot",
    "cdist",
    "meshgrid",
    "broadcast_tensors",
    "broadcast_shapes",
    "searchsorted",
    "bucketize",
    "kron",
    "equal",
    "histc",
    "cartesian_prod",
    "block_diag",
    "lgamma",
    "digamma",
    "polygamma",
    "mvlgamma",
    "igamma",
    "igammac",
    "i0",
    "det",
    "logdet",
    "slogdet",
    "inverse",
    "pinverse",
    "device",
    "Generator",
    "default_generator",
    "get_rng_state",
    "set_rng_state",
    "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled",
    *_LAZY_MODULES,
]
# `from deltagrad import *` leaves the caller's builtins alone: dg.float, dg.sum, dg.max, ...
# are reached through the module only.
__all__ += [
    n
    for n in (*creation.__all__, *_tensor_functions.__all__)
    if n not in ("float", "int", "bool", "sum", "max", "min", "abs", "all", "any", "round", "pow")
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'deltagrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
