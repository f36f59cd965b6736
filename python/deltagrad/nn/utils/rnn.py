"""dg.nn.utils.rnn: PackedSequence and its helpers, as torch.nn.utils.rnn.

A PackedSequence holds a batch of variable-length sequences, sorted by decreasing length, time
step by time step: `data` (sum(lengths), *) holds step 0 of every sequence, then step 1 of every
sequence still running, ...; `batch_sizes[t]` (int64, always on the CPU) is how many sequences
are running at step t, so the running ones are a prefix of the sorted batch. `sorted_indices`
(None when the input was already sorted) maps that order to the caller's and
`unsorted_indices` back. The recurrent layers (nn.RNN, nn.LSTM, nn.GRU) accept one.

Every function moves rows with one index op (_Rows), so gradients flow between the padded and
the packed form both ways, on any device the data is on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from ...autograd import Function
from ...backends import to_device
from ...backends._args import is_device_array
from ...tensor import Tensor, cat, get_array_module

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _Rows(Function):
    """out[i...] = x[idx[i...]] (rows of x along dim 0), fill where idx < 0. Every row of x is
    used at most once, so the backward assigns (no accumulation)."""

    @staticmethod
    def forward(ctx: Any, x: Any, idx: Any, fill: Any) -> Any:
        xp = get_array_module(x)
        idx = xp.asarray(idx)
        ctx.shape, ctx.idx = x.shape, idx
        out = xp.full(idx.shape + x.shape[1:], fill, dtype=x.dtype)
        hit = idx >= 0
        out[hit] = x[idx[hit]]
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        xp = get_array_module(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        hit = ctx.idx >= 0
        gx[ctx.idx[hit]] = g[hit]
        return gx, None, None


def _tensor(x: Any, fn: str, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or is_device_array(x):
        return Tensor(x)
    raise TypeError(f"{fn}: {name}: expected a Tensor, got {type(x).__name__}")


def _host_ints(x: Any, fn: str, name: str) -> np.ndarray:
    """x (a list, tuple, array or Tensor of integers, or of floats holding whole numbers) as a
    1-D int64 numpy array."""
    a = x.data if isinstance(x, Tensor) else x
    if is_device_array(a):
        a = to_device(a, "cpu")
    if isinstance(a, (bool, int, float, np.number)):
        a = np.asarray(a)
    elif not isinstance(a, np.ndarray):
        if not isinstance(a, (list, tuple)):
            raise TypeError(
                f"{fn}: {name}: expected a 1-D Tensor, list or array of integers, got "
                f"{type(x).__name__}"
            )
        if any(isinstance(v, (bool, np.bool_)) for v in a):
            raise TypeError(f"{fn}: {name}: expected integers, got a bool")
        try:
            a = np.asarray(a)
        except ValueError as e:
            raise TypeError(f"{fn}: {name}: expected a 1-D sequence of integers ({e})") from e
    if a.ndim != 1:
        raise RuntimeError(
            f"{fn}: '{name}' argument should be a 1D CPU int64 tensor, but got {a.ndim}D"
        )
    if a.dtype.kind in "fc" or a.dtype == object:
        try:
            f = a.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{fn}: {name}: expected integers, got {a.dtype}") from e
        if not np.all(np.isfinite(f) & (f == np.trunc(f))):
            raise ValueError(f"{fn}: {name}: expected whole numbers, got {a.tolist()}")
        a = f
    elif a.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name}: expected integers, got {a.dtype}")
    return a.astype(np.int64)


def _index_tensor(a: np.ndarray, like: Tensor) -> Tensor:
    """The int64 index array a as a Tensor on like's device."""
    return Tensor(to_device(a.astype(np.int64), like.device))


def _check_bool(v: Any, fn: str, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}(): argument '{name}' must be bool, not {type(v).__name__}")
    return bool(v)


def _check_number(v: Any, fn: str, name: str) -> Any:
    if not isinstance(v, (int, float, np.number)):
        raise TypeError(f"{fn}(): argument '{name}' must be a number, not {type(v).__name__}")
    return v


class _PackedSequence(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequence):
    """The tuple (data, batch_sizes, sorted_indices, unsorted_indices) of a packed batch (see
    the module docstring). Make one with pack_padded_sequence or pack_sequence, as torch;
    PackedSequence(data, batch_sizes, sorted_indices=None, unsorted_indices=None) also takes a
    (data, batch_sizes) pair as its first argument. unsorted_indices defaults to the inverse
    of sorted_indices."""

    def __new__(
        cls,
        data: Any,
        batch_sizes: Any = None,
        sorted_indices: Any = None,
        unsorted_indices: Any = None,
    ) -> PackedSequence:
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if isinstance(batch_sizes, Tensor) and batch_sizes.device != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never "
                "be created manually. They should be instantiated by functions like "
                "pack_sequence and pack_padded_sequences in nn.utils.rnn."
            )
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """data.to(*args, **kwargs), the indices moved to its device (batch_sizes stays on the
        CPU); self when data does not change."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(data.device)

        return type(self)(
            data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices)
        )

    def cuda(self) -> PackedSequence:
        return self.to("cuda")

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    def half(self) -> PackedSequence:
        return self.to(np.float16)

    def long(self) -> PackedSequence:
        return self.to(np.int64)

    def int(self) -> PackedSequence:
        return self.to(np.int32)

    def short(self) -> PackedSequence:
        return self.to(np.int16)

    def char(self) -> PackedSequence:
        return self.to(np.int8)

    def byte(self) -> PackedSequence:
        return self.to(np.uint8)

    @property
    def is_cuda(self) -> bool:
        """Whether data is on a GPU."""
        return self.data.device == "cuda"

    def is_pinned(self) -> bool:
        """False: deltagrad has no pinned host memory."""
        return False


def invert_permutation(permutation: Any) -> Tensor | None:
    """The inverse permutation (None for None): out[permutation[i]] = i."""
    if permutation is None:
        return None
    p = _tensor(permutation, "invert_permutation", "permutation")
    xp = get_array_module(p.data)
    out = xp.empty_like(p.data)
    out[p.data] = xp.arange(p.data.size, dtype=p.data.dtype)
    return Tensor(out)


def pack_padded_sequence(
    input: Any,  # noqa: A002
    lengths: Any,
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack the padded batch input (T, B, *) ((B, T, *) with batch_first) of sequences of the
    given lengths (a list, array or Tensor; each in 1..T). enforce_sorted=True needs lengths in
    decreasing order (sorted_indices None); False sorts them (stable: ties keep their order)."""
    fn = "pack_padded_sequence"
    x = _tensor(input, fn, "input")
    lens = _host_ints(lengths, fn, "lengths")
    batch_first = _check_bool(batch_first, fn, "batch_first")
    enforce_sorted = bool(enforce_sorted)  # torch's test is Python truth (0, 1, None ...)
    if x.ndim < 2:
        raise IndexError(f"{fn}: input: expected at least 2 dims (time, batch, *), got {x.ndim}-D")
    t_dim, b_dim = (1, 0) if batch_first else (0, 1)
    steps, batch = x.shape[t_dim], x.shape[b_dim]
    if x.numel() == 0 or lens.size == 0:
        raise RuntimeError(f"{fn}: Cannot pack empty tensors.")
    if lens.size != batch:
        raise RuntimeError(
            f"{fn}: Expected `len(lengths)` to be equal to batch_size, but got {lens.size} "
            f"(batch_size={batch})"
        )
    if lens.min() <= 0:
        raise RuntimeError(
            f"{fn}: Length of all samples has to be greater than 0, but found an element in "
            "'lengths' that is <= 0"
        )
    if enforce_sorted:
        if np.any(lens[1:] > lens[:-1]):
            raise RuntimeError(
                f"{fn}: `lengths` array must be sorted in decreasing order when "
                "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you "
                "do not need ONNX exportability."
            )
        order = None
    else:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
    if lens[0] > steps:
        raise ValueError(
            f"{fn}: lengths: a sequence of length {int(lens[0])} does not fit the padded "
            f"input's {steps} time steps"
        )
    running = lens[None, :] > np.arange(lens[0])[:, None]  # (steps, batch), sorted order
    ts, bs = np.nonzero(running)  # row-major: step by step, the packed order
    src_b = bs if order is None else order[bs]
    src = src_b * steps + ts if batch_first else ts * batch + src_b
    flat = x.reshape((steps * batch, *x.shape[2:]))
    data = _Rows.apply(flat, src, 0)
    batch_sizes = Tensor(running.sum(1).astype(np.int64))
    sorted_indices = None if order is None else _index_tensor(order, x)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def _packed_parts(sequence: Any, fn: str) -> tuple[Tensor, np.ndarray, Tensor | None]:
    """(data, batch_sizes as a numpy int64 array, unsorted_indices) of a PackedSequence."""
    if not all(hasattr(sequence, a) for a in ("data", "batch_sizes", "unsorted_indices")):
        raise TypeError(f"{fn}: sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = _tensor(sequence.data, fn, "sequence.data")
    bs = _host_ints(sequence.batch_sizes, fn, "sequence.batch_sizes")
    if bs.size == 0 or bs.min() <= 0 or np.any(bs[1:] > bs[:-1]) or bs.sum() != data.shape[0]:
        raise ValueError(
            f"{fn}: sequence: batch_sizes {bs.tolist()} are not positive and non-increasing, "
            f"summing to data's {data.shape[0]} rows"
        )
    return data, bs, sequence.unsorted_indices


def pad_packed_sequence(
    sequence: Any,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of pack_padded_sequence: (padded (T, B, *) ((B, T, *) with batch_first) in
    the caller's batch order, lengths (int64, CPU)). T is the longest length, or total_length
    when given (not less than it)."""
    fn = "pad_packed_sequence"
    data, bs, unsorted = _packed_parts(sequence, fn)
    batch_first = _check_bool(batch_first, fn, "batch_first")
    _check_number(padding_value, fn, "padding_value")
    steps = bs.size
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, (int, np.integer)):
            raise TypeError(
                f"{fn}(): argument 'total_length' must be int, not {type(total_length).__name__}"
            )
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}"
            )
        steps = int(total_length)
    batch = int(bs[0])
    lens = (bs[None, :] > np.arange(batch)[:, None]).sum(1)  # per sorted sequence
    order = np.arange(batch) if unsorted is None else _host_ints(unsorted, fn, "unsorted")
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]])  # where each step's rows start
    t = np.arange(steps)[:, None]  # (steps, batch) below; column j is sorted sequence order[j]
    row = offsets[np.minimum(t, bs.size - 1)] + order[None, :]
    idx = np.where(t < lens[order][None, :], row, -1)
    out = _Rows.apply(data, idx.T if batch_first else idx, padding_value)
    return out, Tensor(lens[order].astype(np.int64))


def pad_sequence(
    sequences: Any,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack the sequences (each (L_i, *), the same *) into (T, B, *) ((B, T, *) with
    batch_first), T the longest L_i, padding_value after (padding_side='right') or before
    ('left') each. The result has the first sequence's dtype."""
    fn = "pad_sequence"
    if isinstance(sequences, Tensor):
        seqs = list(sequences.unbind(0))
    elif not isinstance(sequences, Iterable):
        raise RuntimeError(
            f"{fn}: Expected iterable for input sequences, but got arg of type: {type(sequences)}"
        )
    else:
        seqs = [_tensor(s, fn, f"sequences[{i}]") for i, s in enumerate(sequences)]
    batch_first = _check_bool(batch_first, fn, "batch_first")
    _check_number(padding_value, fn, "padding_value")
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"{fn}: Expected padding_side to be one of left or right, but got {padding_side}."
        )
    if not seqs:
        raise RuntimeError(f"{fn}: received an empty list of sequences")
    rest = tuple(seqs[0].shape[1:]) if seqs[0].ndim else None
    for i, s in enumerate(seqs):
        if s.ndim == 0 or tuple(s.shape[1:]) != rest:
            raise RuntimeError(
                f"{fn}: sequences[{i}] has shape {tuple(s.shape)}; every sequence must be "
                f"(L, *) with the same * as sequences[0]'s {tuple(seqs[0].shape)}"
            )
    dtype = seqs[0].dtype
    seqs = [s if s.dtype == dtype else s.to(dtype) for s in seqs]
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    steps = int(lens.max())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    t = np.arange(steps)[None, :]  # (batch, steps) below
    pos = t if padding_side == "right" else t - (steps - lens[:, None])
    idx = np.where((pos >= 0) & (pos < lens[:, None]), starts[:, None] + pos, -1)
    flat = seqs[0] if len(seqs) == 1 else cat(seqs, 0)
    return _Rows.apply(flat, idx if batch_first else idx.T, padding_value)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The inverse of pad_sequence (right padding): the list of the B sequences of padded
    (T, B, *) ((B, T, *) with batch_first), the i-th its first lengths[i] steps."""
    fn = "unpad_sequence"
    x = _tensor(padded_sequences, fn, "padded_sequences")
    lens = _host_ints(lengths, fn, "lengths")
    batch_first = _check_bool(batch_first, fn, "batch_first")
    if x.ndim < 2:
        raise IndexError(f"{fn}: padded_sequences: expected at least 2 dims, got {x.ndim}-D")
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
    if lens.size != batch:
        raise ValueError(f"{fn}: got {lens.size} lengths for a batch of {batch} sequences")
    if lens.size and (lens.min() < 0 or lens.max() > steps):
        raise ValueError(
            f"{fn}: lengths: expected each in [0, {steps}] (the padded length), got {lens.tolist()}"
        )
    if batch_first:
        return [x[b, : int(n)] for b, n in enumerate(lens)]
    return [x[: int(n), b] for b, n in enumerate(lens)]


def pack_sequence(sequences: Any, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (each (L_i, *)): pack_padded_sequence(pad_sequence(...))."""
    if isinstance(sequences, Iterable) and not isinstance(sequences, Tensor):
        sequences = list(sequences)
    padded = pad_sequence(sequences)
    lens = [s.shape[0] for s in sequences]
    return pack_padded_sequence(padded, lens, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: Any) -> list[Tensor]:
    """The inverse of pack_sequence: the list of the sequences, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
