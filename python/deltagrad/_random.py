"""The library's random state: one dg.Generator (numpy PCG64), reseeded by dg.manual_seed.

default_generator is that generator, the same object for the whole session (as
torch.default_generator): manual_seed reseeds it in place and returns it. get_rng_state() /
set_rng_state() save and restore its state as a plain dict (dg.train.fit's checkpoints use
them, so a resumed run draws the same dropout masks as an uninterrupted one); deltagrad.random
has torch's get_rng_state / set_rng_state (a uint8 Tensor) and fork_rng."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._generator import Generator

__all__ = [
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng",
    "get_rng_state",
    "set_rng_state",
]

# As torch 2.13's default generator, the global one starts from a 64-bit seed drawn from the OS,
# which initial_seed() reports (a fresh dg.Generator() starts from torch's fixed default seed).
default_generator = Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))


def manual_seed(seed: int) -> Generator:
    """Reseed deltagrad's generator (weight init, shuffling, dropout) and return it: always
    the same object, default_generator (as torch returns torch.default_generator). As torch's
    manual_seed, seed may be any int in [-2**63, 2**64): a negative one is taken modulo 2**64
    (-1 is 2**64 - 1, as torch's initial_seed() then reports); outside that range, a
    ValueError. The stream is dg.Generator().manual_seed(seed)'s."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: seed: expected an int in [-2**63, 2**64), got {seed}")
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Reseed deltagrad's generator from a nondeterministic 64-bit seed and return it (torch's
    torch.seed())."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the last manual_seed / seed (before either, the OS-drawn seed the generator
    started from, as torch's)."""
    return default_generator.initial_seed()


def get_rng() -> Generator:
    """The generator every random draw in deltagrad uses (default_generator)."""
    return default_generator


def get_rng_state() -> dict[str, Any]:
    """A copy of the global generator's state (numpy's ``bit_generator.state`` dict: plain
    strings and ints, JSON-serializable); set_rng_state(state) puts it back."""
    return copy.deepcopy(default_generator.bit_generator.state)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global generator to a state from get_rng_state(), in place (holders of
    get_rng() see it). The state is checked (and the generator left unchanged) before
    anything is set; it must be a PCG64 state, the only kind get_rng_state() gives."""
    if not isinstance(state, Mapping) or not isinstance(state.get("bit_generator"), str):
        raise TypeError(
            "set_rng_state: state: expected a dict from get_rng_state() "
            f"(with a 'bit_generator' name), got {type(state).__name__}"
        )
    name = state["bit_generator"]
    if name != "PCG64":
        raise ValueError(
            f"set_rng_state: state: deltagrad's generator is a PCG64, got a {name!r} state"
        )
    bit_generator = np.random.PCG64()
    try:
        bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: state: not a valid {name} state ({e})") from None
    default_generator.bit_generator.state = bit_generator.state
