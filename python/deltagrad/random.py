"""deltagrad.random: torch.random's API over deltagrad's one global generator.

    state = dg.get_rng_state()         # a uint8 Tensor, as torch's ByteTensor
    with dg.random.fork_rng():         # draws inside leave the global stream untouched
        dg.manual_seed(0); noise = dg.randn(3)
    dg.set_rng_state(state)

The state Tensor is dg.Generator.get_state()'s (PCG64's state and increment, the buffered
word, and the initial seed: 56 bytes, not torch's 5056-byte mt19937 state), so a state from
torch is refused and the draws are numpy's, not torch's. deltagrad._random.get_rng_state /
set_rng_state give the same state as a plain dict (JSON-serializable; dg.train.fit's
checkpoints use it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ._generator import Generator
from ._random import default_generator, initial_seed, manual_seed, seed

__all__ = [
    "Generator",
    "default_generator",
    "fork_rng",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
]


def get_rng_state() -> Any:
    """The global generator's state as a 1-D uint8 Tensor (torch.get_rng_state)."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the global generator (and its initial_seed) from get_rng_state()'s Tensor
    (torch.set_rng_state): TypeError for anything but a uint8 Tensor, RuntimeError for a
    wrong size (torch's own state included); the generator is unchanged on error."""
    from .tensor import Tensor  # noqa: PLC0415  (tensor imports much; keep this light)

    if not isinstance(new_state, Tensor):
        raise TypeError(
            f"set_rng_state: expected a uint8 Tensor (from get_rng_state()), but got "
            f"{type(new_state).__name__}"
        )
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(
    devices: Any = None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str | None = None,
) -> Iterator[None]:
    """Inside, draw freely; on exit the global generator's state (and initial_seed) is what
    it was on entry, also when the body raises (torch.random.fork_rng). enabled=False does
    nothing. devices / device_type are accepted for torch's signature: deltagrad draws every
    random number on the host from the one global generator, so forking it covers every
    device."""
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)
