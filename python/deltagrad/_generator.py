"""dg.Generator: torch.Generator's API over a NumPy Generator.

It *is* a ``numpy.random.Generator`` (a subclass, over a PCG64 bit generator), so it is taken
unchanged wherever deltagrad takes ``generator=`` (dg.rand / randn / randint / randperm / ...,
nn.init, DataLoader, RandomSampler, random_split) and draws through numpy's methods there."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._device import device as _device

__all__ = ["Generator"]

# torch's default seed (c10::default_rng_seed_val): a fresh torch.Generator() starts from it.
DEFAULT_SEED = 67280421310721
# get_state()'s layout: PCG64's 128-bit state and increment, has_uint32, uinteger, initial seed.
_FIELDS = (("state", 16), ("inc", 16), ("has_uint32", 8), ("uinteger", 8), ("seed", 8))
STATE_SIZE = sum(n for _, n in _FIELDS)


def _check_seed(seed: Any) -> int:
    """torch.Generator.manual_seed's rules: an int in [-2**63, 2**64); a negative one is taken
    modulo 2**64, as torch (-1 is 2**64 - 1)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: seed: expected an int in [-2**63, 2**64), got {seed}")
    return seed % 2**64  # as dg.manual_seed


class Generator(np.random.Generator):
    """torch.Generator(device="cpu"): manual_seed(s) (returns self), seed(), initial_seed(),
    get_state() / set_state(state), device. A fresh one starts from torch's default seed, so two
    fresh generators draw alike; manual_seed(s) with s >= 0 gives the stream dg.manual_seed(s)
    gives the global generator. The draws themselves are numpy's (PCG64), not torch's
    (Philox / mt19937): the same seed does not give torch's numbers.

    device "cuda" is accepted when CUDA is available (deltagrad draws on the host and moves the
    result, so the generator is the same object); other device types raise, as torch."""

    def __init__(self, device: Any = "cpu") -> None:
        dev = _device(device)
        if dev.type not in ("cpu", "cuda"):
            raise RuntimeError(f"{dev.type.upper()} device type not an accelerator.")
        if dev.type == "cuda":
            from .backends import cuda_unavailable_reason  # noqa: PLC0415

            reason = cuda_unavailable_reason()
            if reason is not None:
                raise RuntimeError(f"Generator: device 'cuda': CUDA is not available: {reason}")
        super().__init__(np.random.PCG64(DEFAULT_SEED))
        self._device = _device("cpu") if dev.type == "cpu" else dev  # torch drops a CPU index
        self._initial_seed = DEFAULT_SEED

    @property
    def device(self) -> _device:
        return self._device

    def manual_seed(self, seed: Any) -> Generator:
        """Reseed from seed (an int in [-2**63, 2**64)); returns self, as torch."""
        seed = _check_seed(seed)
        self.bit_generator.state = np.random.PCG64(seed).state
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Reseed from a nondeterministic 64-bit seed (os.urandom) and return it."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed of the last manual_seed / seed (torch's default seed for a fresh one)."""
        return self._initial_seed

    def get_state(self) -> Any:
        """The generator's state (its initial seed included) as a 1-D uint8 Tensor, as torch's
        ByteTensor; set_state takes it back."""
        from .tensor import Tensor  # noqa: PLC0415  (tensor imports much; keep this light)

        st = self.bit_generator.state
        vals = {
            "state": st["state"]["state"],
            "inc": st["state"]["inc"],
            "has_uint32": st["has_uint32"],
            "uinteger": st["uinteger"],
            "seed": self._initial_seed,
        }
        raw = b"".join(int(vals[k]).to_bytes(n, "little") for k, n in _FIELDS)
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state from get_state() (a uint8 Tensor of STATE_SIZE bytes); returns
        self. TypeError for anything but a uint8 Tensor, RuntimeError for a wrong size or a
        state PCG64 rejects; the generator is unchanged on error."""
        from .tensor import Tensor  # noqa: PLC0415

        if not isinstance(new_state, Tensor):
            raise TypeError(
                f"set_state: expected a uint8 Tensor (from get_state()), got "
                f"{type(new_state).__name__}"
            )
        if new_state.dtype != np.uint8:
            raise TypeError(f"set_state: RNG state must be a uint8 Tensor, got {new_state.dtype}")
        raw = np.ascontiguousarray(new_state.detach().cpu().numpy()).reshape(-1).tobytes()
        if new_state.ndim != 1 or len(raw) != STATE_SIZE:
            raise RuntimeError(
                f"set_state: expected a PCG64 state of size {STATE_SIZE} but found the input "
                f"RNG state size to be {new_state.numel()}"
            )
        vals, at = {}, 0
        for k, n in _FIELDS:
            vals[k], at = int.from_bytes(raw[at : at + n], "little"), at + n
        if vals["has_uint32"] > 1 or vals["uinteger"] >= 2**32 or vals["inc"] % 2 == 0:
            raise RuntimeError("set_state: not a valid PCG64 state (from get_state())")
        self.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": vals["state"], "inc": vals["inc"]},
            "has_uint32": vals["has_uint32"],
            "uinteger": vals["uinteger"],
        }
        self._initial_seed = vals["seed"]
        return self

    def __repr__(self) -> str:
        return f"<deltagrad.Generator device='{self._device}' (numpy PCG64)>"

    __str__ = __repr__  # numpy's Generator defines its own __str__

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _rebuild, (str(self._device), self.get_state().numpy().tobytes())


def _rebuild(device: str, raw: bytes) -> Generator:
    """Unpickle a Generator (its device and get_state() bytes)."""
    from .tensor import Tensor  # noqa: PLC0415

    g = Generator("cpu")
    g._device = _device(device)  # "cuda" is not re-checked: the draws are on the host anyway
    return g.set_state(Tensor(np.frombuffer(raw, dtype=np.uint8).copy()))
