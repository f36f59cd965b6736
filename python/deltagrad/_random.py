"""The library's random state: one NumPy Generator, reseeded by dg.manual_seed.

get_rng_state() / set_rng_state() save and restore it (dg.train.fit's checkpoints use them,
so a resumed run draws the same dropout masks as an uninterrupted one)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng", "get_rng_state", "set_rng_state"]

# As torch 2.13's default generator, the global one starts from a 64-bit seed drawn from the OS,
# which initial_seed() reports (a fresh dg.Generator() starts from torch's fixed default seed).
_initial_seed = int.from_bytes(os.urandom(8), "little")  # the last manual_seed / seed
_rng = np.random.default_rng(_initial_seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed deltagrad's generator (weight init, shuffling, dropout) and return it. As torch's
    manual_seed, seed may be any int in [-2**63, 2**64): a negative one is taken modulo 2**64
    (-1 is 2**64 - 1, as torch's initial_seed() then reports); outside that range, a
    ValueError. The stream is dg.Generator().manual_seed(seed)'s."""
    global _rng, _initial_seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: seed: expected an int in [-2**63, 2**64), got {seed}")
    seed %= 2**64
    _rng = np.random.default_rng(seed)
    _initial_seed = seed
    return _rng


def seed() -> int:
    """Reseed deltagrad's generator from a nondeterministic 64-bit seed and return it (torch's
    torch.seed())."""
    s = int.from_bytes(os.urandom(8), "little")
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of the last manual_seed / seed (before either, the OS-drawn seed the generator
    started from, as torch's)."""
    return _initial_seed


def get_rng() -> np.random.Generator:
    """The generator every random draw in deltagrad uses."""
    return _rng


def get_rng_state() -> dict[str, Any]:
    """A copy of the global generator's state (numpy's ``bit_generator.state`` dict: plain
    strings and ints, JSON-serializable); set_rng_state(state) puts it back."""
    return copy.deepcopy(_rng.bit_generator.state)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global generator to a state from get_rng_state(). The state is checked
    (and the generator left unchanged) before anything is set."""
    global _rng
    if not isinstance(state, Mapping) or not isinstance(state.get("bit_generator"), str):
        raise TypeError(
            "set_rng_state: state: expected a dict from get_rng_state() "
            f"(with a 'bit_generator' name), got {type(state).__name__}"
        )
    name = state["bit_generator"]
    cls = getattr(np.random, name, None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise ValueError(f"set_rng_state: state: unknown bit generator {name!r}")
    bit_generator = cls()
    try:
        bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: state: not a valid {name} state ({e})") from None
    if type(_rng.bit_generator) is cls:
        _rng.bit_generator.state = bit_generator.state  # same object: holders of get_rng() see it
    else:
        _rng = np.random.Generator(bit_generator)
