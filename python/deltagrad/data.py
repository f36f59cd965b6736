"""deltagrad.data: torch.utils.data's Dataset, TensorDataset, samplers and DataLoader.

Names, signatures, defaults and batching semantics are torch's (``torch.utils.data``):
``DataLoader(dataset, batch_size=1, shuffle=False, ...)`` takes items ``dataset[i]`` in the
order of its sampler and stacks them with ``default_collate`` into deltagrad Tensors
(tuples become lists, dicts stay dicts, as in torch). Differences: ``generator`` is a
``numpy.random.Generator`` (the loader's shuffle state is ``generator.bit_generator.state``;
without one, every epoch draws a fresh seed from deltagrad's generator, which
``dg.manual_seed`` reseeds, as torch draws one from its default generator); ``pin_memory``
does nothing.

``num_workers > 0`` fetches and collates batches in worker processes (multiprocessing, fork
by default on Linux as torch), returned in sampler order: the same batches as
``num_workers=0``. Batches cross the process boundary pickled, Tensors as numpy arrays,
rebuilt as Tensors. Each worker seeds Python's ``random`` and deltagrad's generator with
``base_seed + worker_id`` and numpy's global generator with torch's
``_generate_state(base_seed, worker_id)``; ``base_seed`` is a hash of the state of
``generator`` (or deltagrad's generator) and of the epoch count, not a draw from it (torch
draws it), so workers change neither the batches nor the main process's random stream.

Batches of a TensorDataset (or a Subset of one) with the default collate are taken by
indexing each array once with the batch's indices instead of collating item by item.

The old ``DataLoader(X, y, batch_size=None, shuffle=True, seed=None)`` is gone: write
``DataLoader(TensorDataset(X, y), batch_size=..., shuffle=True)``, or let
``dg.train.fit`` (which takes arrays and a batch_size) build its loader.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import itertools
import math
import multiprocessing
import multiprocessing.context
import os
import pickle
import queue
import random
import sys
import time
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable

import numpy as np

from ._random import get_rng, manual_seed
from .backends import device_of, to_device
from .backends._args import is_device_array
from .tensor import Tensor

__all__ = [
    "Dataset",
    "IterableDataset",
    "TensorDataset",
    "StackDataset",
    "Subset",
    "ConcatDataset",
    "ChainDataset",
    "random_split",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "default_collate",
    "default_convert",
    "DataLoader",
    "DistributedSampler",
    "get_worker_info",
]


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or is_device_array(x)


def _wrap(arr: Any) -> Tensor:
    """A leaf Tensor holding arr as it is (numpy scalars become 0-d arrays of their dtype)."""
    if not _is_array(arr):
        arr = np.asarray(arr)
    return Tensor(arr)


# ---- datasets -------------------------------------------------------------------------------


class Dataset:
    """A map-style data set: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Item i is ``tuple(t[i] for t in tensors)``; every tensor has the same first dimension.

    tensors: deltagrad Tensors or arrays (numpy or cupy); ``self.tensors`` holds them as
    Tensors (an array is wrapped without a copy). Items are Tensors without grad."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: tensors: expected at least one Tensor or array")
        arrays = []
        for i, t in enumerate(tensors):
            if isinstance(t, Tensor):
                arrays.append(t.data)
            elif _is_array(t):
                arrays.append(t)
            else:
                raise TypeError(
                    f"TensorDataset: tensors[{i}]: expected a Tensor or an array, got "
                    f"{type(t).__name__}"
                )
            if arrays[-1].ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensors[{i}] is 0-d; every tensor needs a first dimension "
                    "(the examples)"
                )
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(
                f"TensorDataset: tensors: size mismatch in the first dimension: shapes {shapes}"
            )
        self._arrays = tuple(arrays)
        self.tensors = tuple(
            t if isinstance(t, Tensor) else Tensor(a) for t, a in zip(tensors, arrays)
        )

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(_wrap(a[index]) for a in self._arrays)

    def __len__(self) -> int:
        return int(self._arrays[0].shape[0])


class IterableDataset(Dataset):
    """A data set read as a stream: subclasses define ``__iter__`` (and may define
    ``__len__``). DataLoader batches consecutive items; shuffle and samplers do not apply."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: Any) -> ChainDataset:
        return ChainDataset([self, other])


class StackDataset(Dataset):
    """Item i of several data sets of one length side by side: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])``, ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}``."""

    datasets: tuple[Any, ...] | dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError(
                "StackDataset: datasets: supported either tuple- (via args) or dict- (via "
                "kwargs) like input/output, but both types are given"
            )
        if not args and not kwargs:
            raise ValueError("StackDataset: datasets: at least one dataset should be passed")
        parts = list(args) if args else list(kwargs.values())
        names = [str(i) for i in range(len(args))] if args else list(kwargs)
        lengths = [len(d) for d in parts]
        if any(k != lengths[0] for k in lengths):
            sizes = ", ".join(f"{n}: {k}" for n, k in zip(names, lengths))
            raise ValueError(f"StackDataset: size mismatch between datasets ({sizes})")
        self._length = lengths[0]
        self.datasets = args if args else kwargs

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list[Any]) -> list[Any]:
        """The items at ``indices`` (DataLoader's batched fetch), each part taken with the
        part's own ``__getitems__`` where it has one."""
        named = (
            list(self.datasets.items())
            if isinstance(self.datasets, dict)
            else list(enumerate(self.datasets))
        )
        columns = []
        for _, d in named:
            if callable(getattr(d, "__getitems__", None)):
                items = d.__getitems__(indices)
                if len(items) != len(indices):
                    raise ValueError(
                        "StackDataset: nested dataset's output size mismatch. Expected "
                        f"{len(indices)}, got {len(items)}"
                    )
                columns.append(list(items))
            else:
                columns.append([d[i] for i in indices])
        if isinstance(self.datasets, dict):
            keys = [k for k, _ in named]
            return [dict(zip(keys, row)) for row in zip(*columns)]
        return [tuple(row) for row in zip(*columns)]

    def __len__(self) -> int:
        return self._length


class ChainDataset(IterableDataset):
    """The items of several IterableDatasets, one stream after the other (read lazily)."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets

    @staticmethod
    def _check(d: Any) -> None:
        # torch: an AssertionError; deltagrad raises TypeError for an argument of a wrong type
        if not isinstance(d, IterableDataset):
            raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            self._check(d)
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            self._check(d)
            total += len(d)
        return total


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order.

    A subclass that overrides ``__getitem__`` must override ``__getitems__`` too (as in
    torch): DataLoader fetches a batch with ``__getitems__``, which would bypass it."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        cls = type(self)
        if cls.__getitem__ is not Subset.__getitem__ and cls.__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{cls.__name__} overrides __getitem__ but not __getitems__. When subclassing "
                "Subset and overriding __getitem__, you must also override __getitems__ to "
                "ensure DataLoader works correctly with your custom logic. A simple "
                "implementation:\n\ndef __getitems__(self, indices):\n"
                "    return [self.__getitem__(idx) for idx in indices]"
            )

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[Any]) -> list[Any]:
        """The items at ``indices`` (DataLoader's batched fetch)."""
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The items of several data sets, one after the other."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets: expected a non-empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):  # torch: an AssertionError
                raise TypeError(
                    f"ConcatDataset does not support IterableDataset (got {type(d).__name__} at "
                    f"datasets[{i}]; chain streams with ChainDataset)"
                )
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError("ConcatDataset: absolute value of index should not exceed length")
            idx += n
        d = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        if d >= len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


def _check_generator(generator: Any, where: str) -> None:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{where}: generator: expected a numpy.random.Generator or None, got "
            f"{type(generator).__name__}"
        )


def _epoch_rng(generator: np.random.Generator | None) -> np.random.Generator:
    """The generator itself, or (as torch with its default generator) a fresh one seeded by
    a draw from deltagrad's generator (dg.manual_seed)."""
    if generator is not None:
        return generator
    return np.random.default_rng(int(get_rng().integers(0, 2**63 - 1, dtype=np.int64)))


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: np.random.Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping Subsets of the given lengths (or fractions
    summing to 1, the remainder spread one by one from the first, as torch; a split of
    fractions that comes out empty gives a UserWarning, as in torch)."""
    _check_generator(generator, "random_split")
    n = len(dataset)
    lengths = list(lengths)
    if any(isinstance(x, bool) or not isinstance(x, (int, float, np.number)) for x in lengths):
        raise TypeError(f"random_split: lengths: expected ints or fractions, got {lengths!r}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: lengths: fraction at index {i} is not in [0, 1]")
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
        for i, k in enumerate(lengths):
            if k == 0:
                warnings.warn(
                    f"random_split: length of split at index {i} is 0. This might result in an "
                    "empty dataset.",
                    UserWarning,
                    stacklevel=2,
                )
    if any(not _is_int(x) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths: expected non-negative ints, got {lengths!r}")
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: lengths: sum {sum(lengths)} does not equal the data set's length {n}"
        )
    rng = generator if generator is not None else get_rng()
    perm = rng.permutation(n).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start : start + int(k)]))
        start += int(k)
    return out


# ---- samplers -------------------------------------------------------------------------------


class Sampler:
    """Iterates over indices (or lists of indices) of a data set."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError


class _InfiniteConstantSampler(Sampler):
    """None forever: the sampler of a loader over an IterableDataset."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def _order(self) -> Any:
        return None  # arange: the loader's fast path slices instead of indexing

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices every pass (or num_samples draws with replacement).

    generator: a numpy Generator (its state advances); None: each pass seeds a new one from
    deltagrad's generator, as torch does from its default generator. Unlike torch, an empty
    data set with num_samples=None is accepted (no samples) rather than refused; num_samples
    > 0 from an empty data set raises a ValueError when iterated."""

    def __init__(
        self,
        data_source: Any,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                f"RandomSampler: replacement should be a boolean value, but got "
                f"replacement={replacement!r}"
            )
        _check_generator(generator, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (not _is_int(num_samples) or num_samples <= 0):
            raise ValueError(
                f"RandomSampler: num_samples should be a positive integer value, but got "
                f"num_samples={num_samples!r}"
            )
        if num_samples is None:
            len(data_source)  # as torch: a data source without __len__ is a TypeError now

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _order(self) -> np.ndarray:
        """This pass's indices, as an int64 array (draws from the generator)."""
        n = len(self.data_source)
        rng = _epoch_rng(self.generator)
        k = self.num_samples
        if self.replacement:
            if n == 0 and k:
                raise ValueError(
                    "RandomSampler: cannot draw samples with replacement from an empty data set"
                )
            return rng.integers(0, n, size=k, dtype=np.int64)
        if n == 0:
            if k:  # torch: a ZeroDivisionError
                raise ValueError(
                    f"RandomSampler: cannot draw num_samples={k} samples from an empty data set"
                )
            return np.empty(0, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n)[: k % n])
        return (
            np.concatenate(parts).astype(np.int64, copy=False) if parts else np.empty(0, np.int64)
        )

    def __iter__(self) -> Iterator[int]:
        yield from self._order().tolist()

    def __len__(self) -> int:
        return self.num_samples


def _host_indices(indices: Any) -> np.ndarray | None:
    """indices as a 1-d int64 numpy array, or None where they are not integers."""
    if isinstance(indices, Tensor):
        indices = indices.data
    if _is_array(indices):
        indices = to_device(indices, "cpu")
        return (
            indices.astype(np.int64) if indices.ndim == 1 and indices.dtype.kind in "iu" else None
        )
    if isinstance(indices, range):
        return np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    if not all(_is_int(i) for i in indices):
        return None
    return np.asarray(list(indices), dtype=np.int64).reshape(-1)


class SubsetRandomSampler(Sampler):
    """The elements of ``indices`` in a random order (a new permutation every pass).

    generator: a numpy Generator (its state advances); None: deltagrad's generator
    (dg.manual_seed), as torch draws from its default generator. Indices held in an array or
    a Tensor are yielded as Python ints (torch yields 0-d tensors)."""

    def __init__(
        self, indices: Sequence[int], generator: np.random.Generator | None = None
    ) -> None:
        _check_generator(generator, "SubsetRandomSampler")
        self.indices = indices
        self.generator = generator

    def _perm(self) -> np.ndarray:
        rng = self.generator if self.generator is not None else get_rng()
        return rng.permutation(len(self.indices))

    def _order(self) -> np.ndarray:
        """This pass's indices as an int64 array (DataLoader's fast path: integer indices)."""
        idx = _host_indices(self.indices)
        if idx is None:
            raise TypeError("SubsetRandomSampler: indices: expected integers")
        return idx[self._perm()]

    def __iter__(self) -> Iterator[Any]:
        perm = self._perm()
        idx = self.indices
        if isinstance(idx, Tensor) or _is_array(idx):
            host = to_device(idx.data if isinstance(idx, Tensor) else idx, "cpu")
            yield from host[perm].tolist()
            return
        for i in perm.tolist():
            yield idx[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices of ``range(len(weights))`` drawn with probabilities proportional to
    ``weights`` (torch.multinomial's semantics): with replacement, independent draws; without,
    successive draws from the indices not drawn yet (an index of weight 0 comes only after
    every positive one). weights are checked when iterated, as torch: NaN, infinite or
    negative weights, or all zero, raise a RuntimeError; so does num_samples > len(weights)
    without replacement.

    self.weights is a float64 Tensor. generator: a numpy Generator (its state advances); None:
    deltagrad's generator (dg.manual_seed), as torch draws from its default generator."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: np.random.Generator | None = None,
    ) -> None:
        if not _is_int(num_samples) or num_samples <= 0:
            raise ValueError(
                "WeightedRandomSampler: num_samples should be a positive integer value, but got "
                f"num_samples={num_samples!r}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                "WeightedRandomSampler: replacement should be a boolean value, but got "
                f"replacement={replacement!r}"
            )
        _check_generator(generator, "WeightedRandomSampler")
        w = weights.data if isinstance(weights, Tensor) else weights
        w = to_device(w, "cpu") if _is_array(w) else w
        try:
            arr = np.asarray(w)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"dtype {arr.dtype}")
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"WeightedRandomSampler: weights: expected a sequence of real numbers ({e})"
            ) from None
        if arr.ndim != 1:
            raise ValueError(
                "WeightedRandomSampler: weights should be a 1d sequence but given weights have "
                f"shape {tuple(arr.shape)}"
            )
        self.weights = Tensor(arr)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _order(self) -> np.ndarray:
        """This pass's indices, as an int64 array (draws from the generator)."""
        w = np.asarray(self.weights.data, dtype=np.float64)
        n, k = w.shape[0], self.num_samples
        where = "WeightedRandomSampler: weights"
        if not self.replacement and k > n:
            raise RuntimeError(
                f"WeightedRandomSampler: cannot sample num_samples={k} > len(weights)={n} "
                "samples without replacement"
            )
        if not np.isfinite(w).all():
            raise RuntimeError(
                f"{where}: invalid multinomial distribution (encountering probability entry = "
                "infinity or NaN)"
            )
        if (w < 0).any():
            raise RuntimeError(
                f"{where}: invalid multinomial distribution (encountering probability entry < 0)"
            )
        if n == 0 or not (w > 0).any():
            raise RuntimeError(
                f"{where}: invalid multinomial distribution (sum of probabilities <= 0)"
            )
        w = w / w.max()  # the sum cannot overflow (weights near the float64 maximum)
        rng = self.generator if self.generator is not None else get_rng()
        if self.replacement:
            cdf = np.cumsum(w)
            cdf /= cdf[-1]
            # u < 1 = cdf[-1], and a zero weight's empty interval [cdf[i-1], cdf[i]) is never hit
            return np.searchsorted(cdf, rng.random(k), side="right").astype(np.int64)
        # successive sampling as torch: the k smallest Exp(1) / w (w = 0 gives inf, or NaN for
        # a zero draw, both sorted last), i.e. the top k of the Gumbel-max keys log w + Gumbel
        with np.errstate(divide="ignore", invalid="ignore"):
            keys = rng.standard_exponential(n) / w
        return np.argsort(keys, kind="stable")[:k].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        yield from self._order().tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from ``sampler`` (the last shorter unless drop_last)."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(
                f"BatchSampler: batch_size should be a positive integer value, but got "
                f"batch_size={batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(
                "BatchSampler: drop_last should be a boolean value, but got "
                f"drop_last={drop_last!r}"
            )
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        bs, batch = self.batch_size, []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return (
            n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
        )


# ---- collate --------------------------------------------------------------------------------

_NUMERIC_KINDS = "biufc"


def _where(path: str) -> str:
    return f" at {path}" if path else ""


def _collate_arrays(arrays: list[Any], path: str) -> Tensor:
    shape0 = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(
                f"default_collate: batch item {i}{_where(path)} is an array of dtype {a.dtype}; "
                "only numeric and bool arrays can be collated"
            )
        if a.shape != shape0:
            raise RuntimeError(
                f"default_collate: batch item {i}{_where(path)} has shape {tuple(a.shape)} but "
                f"item 0 has shape {tuple(shape0)}: items must have equal shapes to be "
                "stacked (pass a collate_fn to batch ragged items)"
            )
    on_gpu = [is_device_array(a) for a in arrays]
    if any(on_gpu) and not all(on_gpu):
        raise TypeError(
            f"default_collate: batch{_where(path)} mixes CPU and GPU arrays (item "
            f"{on_gpu.index(not on_gpu[0])} is on another device than item 0)"
        )
    if on_gpu[0]:
        import cupy  # noqa: PLC0415

        return Tensor(cupy.stack(arrays))
    return Tensor(np.stack(arrays))


def _inferred_dtype(batch: Sequence[Any]) -> np.dtype:
    """The dtype torch.tensor(batch) infers for a list of numbers: Python bools bool, ints
    int64, floats float32 (torch's default dtype), numpy scalars their own dtype; any float
    makes the result the widest float present, else the types promote as in NumPy."""
    dtypes = [
        b.dtype
        if isinstance(b, np.generic)
        else np.dtype(bool)
        if isinstance(b, bool)
        else np.dtype(np.int64)
        if isinstance(b, int)
        else np.dtype(np.float32)
        for b in batch
    ]
    inexact = [d for d in dtypes if d.kind in "fc"]
    return np.result_type(*(inexact or dtypes))


def _collate(batch: Sequence[Any], path: str) -> Any:
    elem = batch[0]
    if isinstance(elem, (str, bytes)):
        return batch  # as torch: the list (or, inside a tuple item, the tuple) of strings
    if isinstance(elem, Tensor) or _is_array(elem):
        arrays = []
        for i, b in enumerate(batch):
            if isinstance(b, Tensor):
                arrays.append(b.data)
            elif _is_array(b):
                arrays.append(b)
            else:
                raise TypeError(
                    f"default_collate: batch item {i}{_where(path)} is a {type(b).__name__}, "
                    f"item 0 is a {type(elem).__name__}"
                )
        return _collate_arrays(arrays, path)
    if isinstance(elem, np.generic) or isinstance(elem, (bool, int, float)):
        for i, b in enumerate(batch):
            if not isinstance(b, (np.generic, bool, int, float)):
                raise TypeError(
                    f"default_collate: batch item {i}{_where(path)} is a {type(b).__name__}, "
                    f"item 0 is a number ({type(elem).__name__})"
                )
        if isinstance(elem, float) and not isinstance(elem, np.generic):
            return Tensor(np.asarray(batch, dtype=np.float64))  # torch.tensor(batch, float64)
        arr = np.asarray(batch, dtype=_inferred_dtype(batch))
        if arr.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(
                f"default_collate: batch{_where(path)} holds numpy scalars of dtype {arr.dtype}; "
                "only numbers and bools can be collated"
            )
        return Tensor(arr)
    if isinstance(elem, Mapping):
        keys = list(elem.keys())
        for i, b in enumerate(batch):
            if not isinstance(b, Mapping) or set(b.keys()) != set(keys):
                got = sorted(map(str, b.keys())) if isinstance(b, Mapping) else type(b).__name__
                raise RuntimeError(
                    f"default_collate: batch item {i}{_where(path)} has keys {got} but item 0 "
                    f"has keys {sorted(map(str, keys))}"
                )
        out = {k: _collate([b[k] for b in batch], f"{path}[{k!r}]") for k in keys}
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(_collate(s, f"{path}.{f}") for f, s in zip(elem._fields, zip(*batch))))
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        for i, b in enumerate(batch):
            if not isinstance(b, (tuple, list)) or len(b) != n:
                got = f"length {len(b)}" if isinstance(b, (tuple, list)) else type(b).__name__
                raise RuntimeError(
                    f"default_collate: batch item {i}{_where(path)} has {got} but item 0 has "
                    f"length {n}: each element in the batch should be of equal size"
                )
        return [_collate(tuple(b[j] for b in batch), f"{path}[{j}]") for j in range(n)]
    raise TypeError(
        f"default_collate: batch item 0{_where(path)} is a {type(elem).__name__}; batch must "
        "contain Tensors, arrays, numbers, strings, dicts or lists"
    )


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of items into a batch, as torch's default_collate: Tensors, arrays and
    numbers become one Tensor with a new first dimension (arrays keep their dtype). Numbers
    follow torch's rule, which looks at the first item: a Python float makes the batch
    float64; otherwise the dtype is torch.tensor(batch)'s (ints int64, bools bool, numpy
    scalars their dtype, and a Python float among ints float32, torch's default dtype:
    [1, 2.5] is float32, [2.5, 1] float64); dicts collate per key, tuples and lists per
    position (a tuple becomes a list, as in torch), strings stay a list. Items of unequal
    shapes raise a RuntimeError naming the batch index, the position and the shapes."""
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(
            f"default_collate: batch: expected a list of items, got {type(batch).__name__}"
        )
    if len(batch) == 0:
        raise ValueError("default_collate: batch: expected at least one item, got an empty batch")
    return _collate(list(batch), "")


def default_convert(data: Any) -> Any:
    """What DataLoader(batch_size=None) applies to each item: arrays and numpy scalars
    become Tensors, dicts / tuples / lists are converted element-wise (tuples become lists,
    as in torch), anything else is returned as it is."""
    if isinstance(data, Tensor):
        return data
    if _is_array(data):
        return data if data.dtype.kind not in _NUMERIC_KINDS else Tensor(data)
    if isinstance(data, np.generic):
        return Tensor(np.asarray(data)) if data.dtype.kind in _NUMERIC_KINDS else data
    if isinstance(data, Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


# ---- DataLoader -----------------------------------------------------------------------------

_OLD_API = (
    "DataLoader(X, y, ...) is the old API and is gone; DataLoader now takes torch's arguments "
    "(dataset, batch_size=1, shuffle=False, ...): write "
    "DataLoader(TensorDataset(X, y), batch_size=..., shuffle=...) (or pass arrays and "
    "batch_size to dg.train.fit)"
)

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


def _tensor_arrays(dataset: Any) -> tuple[tuple[Any, ...], Any] | None:
    """(arrays, index map or None) when dataset is a TensorDataset (or a Subset of one) whose
    items the fast path can take by indexing the arrays directly."""
    if type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset._arrays, None
    if type(dataset) is Subset and type(dataset.dataset).__getitem__ is TensorDataset.__getitem__:
        try:
            idx = np.asarray(dataset.indices, dtype=np.int64)
        except (TypeError, ValueError):
            return None
        if idx.ndim != 1:
            return None
        return dataset.dataset._arrays, idx
    return None


# ---- worker processes -----------------------------------------------------------------------

# How often (seconds) the main process checks that its workers are alive while it waits for a
# batch, and a worker that its parent is; and how long shutdown waits for a worker to exit.
_POLL_INTERVAL = 0.1
_WORKER_POLL_INTERVAL = 1.0
_JOIN_TIMEOUT = 2.0


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """What get_worker_info() returns in a DataLoader worker process (as torch's)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its WorkerInfo -- ``id`` (0 to num_workers - 1),
    ``num_workers``, ``seed`` (base_seed + id, the seed of this worker's generators) and
    ``dataset`` (this process's copy of the data set, e.g. for an IterableDataset to read only
    its share); None in the main process."""
    return _worker_info


def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """torch's _generate_state: the 4 x 32-bit seed of numpy's legacy global generator in a
    worker (SeedSequence's hashing of [worker_id, base_seed low, base_seed high, 0])."""
    mask = 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]
    const_a = 0x43B0D7E5

    def hash_a(value: int) -> int:
        nonlocal const_a
        value = (value ^ const_a) & mask
        const_a = (const_a * 0x931E8875) & mask
        value = (value * const_a) & mask
        return (value ^ (value >> 16)) & mask

    def mix(x: int, y: int) -> int:
        r = ((0xCA01F9DD * x) & mask) - ((0x4973F715 * y) & mask)
        r &= mask
        return (r ^ (r >> 16)) & mask

    pool = [hash_a(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_a(pool[i_src]))
    const_b = 0x8B51F9DD
    state = []
    for value in pool:
        value = (value ^ const_b) & mask
        const_b = (const_b * 0x58F38DED) & mask
        value = (value * const_b) & mask
        state.append((value ^ (value >> 16)) & mask)
    return state


def _base_seed(generator: np.random.Generator | None, count: int) -> int:
    """The workers' base seed, in [0, 2**63): a hash of the state of ``generator`` (or of
    deltagrad's generator) and of the loader's iterator count. Nothing is drawn, so the batches
    and the main process's random stream are those of num_workers=0 (torch draws the seed from
    the generator in both cases)."""
    rng = generator if generator is not None else get_rng()
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, Mapping):
            for k in sorted(value, key=str):
                h.update(str(k).encode())
                feed(value[k])
        elif isinstance(value, np.ndarray):
            h.update(value.tobytes())
        else:
            h.update(repr(value).encode())

    feed(rng.bit_generator.state)
    h.update(count.to_bytes(8, "little"))
    return int.from_bytes(h.digest()[:8], "little") >> 1


class _PackedTensor:
    """A deltagrad Tensor on its way between processes: its data as a numpy array."""

    __slots__ = ("array", "device", "requires_grad")

    def __init__(self, t: Tensor) -> None:
        self.device = device_of(t.data)
        self.array = to_device(t.data, "cpu")
        self.requires_grad = bool(t.requires_grad)

    def __getstate__(self) -> tuple[Any, str, bool]:
        return self.array, self.device, self.requires_grad

    def __setstate__(self, state: tuple[Any, str, bool]) -> None:
        self.array, self.device, self.requires_grad = state

    def unpack(self) -> Tensor:
        return Tensor(self.array, requires_grad=self.requires_grad, device=self.device)


def _map_structure(obj: Any, leaf: Callable[[Any], Any]) -> Any:
    """obj with leaf() applied inside lists, tuples (named ones too) and dicts."""
    if isinstance(obj, (Tensor, _PackedTensor)):
        return leaf(obj)
    t = type(obj)
    if t is list:
        return [_map_structure(o, leaf) for o in obj]
    if t is tuple:
        return tuple(_map_structure(o, leaf) for o in obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return t(*(_map_structure(o, leaf) for o in obj))
    if t is dict or t is OrderedDict:
        return t((k, _map_structure(v, leaf)) for k, v in obj.items())
    return obj


def _pack(batch: Any) -> bytes:
    """batch pickled with its Tensors as numpy arrays (in the worker, so that an object that
    cannot be pickled is an error of this batch, not a batch lost in the queue's thread)."""
    packed = _map_structure(batch, lambda t: _PackedTensor(t) if isinstance(t, Tensor) else t)
    return pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(payload: bytes) -> Any:
    return _map_structure(
        pickle.loads(payload), lambda p: p.unpack() if isinstance(p, _PackedTensor) else p
    )


class _KeyErrorMessage(str):
    """A KeyError's message printed as it is (KeyError shows repr() of its argument)."""

    def __repr__(self) -> str:
        return str(self)


class _WorkerError:
    """The exception being handled in a worker, for the main process to raise (as torch's
    ExceptionWrapper): its type (if it can be pickled) and its formatted traceback."""

    def __init__(self, worker_id: int) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.name = exc_type.__name__ if exc_type is not None else "Exception"
        self.msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = f"in DataLoader worker process {worker_id}"
        try:
            pickle.loads(pickle.dumps(exc_type))
            self.exc_type: Any = exc_type
        except Exception:  # a class that cannot be pickled (defined in a function)
            self.exc_type = None

    def reraise(self) -> None:
        msg = f"Caught {self.name} {self.where}.\nOriginal {self.msg}"
        cls = self.exc_type
        if cls is None:
            raise RuntimeError(msg)
        if cls is KeyError:
            msg = _KeyErrorMessage(msg)
        elif getattr(cls, "message", None):
            raise cls(message=msg)
        try:
            exception = cls(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


@dataclasses.dataclass(frozen=True)
class _StreamEnd:
    """A worker's IterableDataset copy is exhausted."""

    worker_id: int


@dataclasses.dataclass(frozen=True)
class _Resume:
    """A new epoch of persistent workers (the worker answers with it once it is ready)."""


class _StreamFetcher:
    """A worker's batches of its own iterator over an IterableDataset (torch's fetcher)."""

    def __init__(self, dataset: Any, auto: bool, collate: Callable, drop_last: bool) -> None:
        self.it = iter(dataset)
        self.auto, self.collate, self.drop_last = auto, collate, drop_last
        self.ended = False

    def __call__(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto:
            return self.collate(next(self.it))
        data = []
        for _ in index:
            try:
                data.append(next(self.it))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate(data)


class _MapFetcher:
    """A worker's batches of a map-style data set, from the index lists it is sent."""

    def __init__(self, dataset: Any, auto: bool, collate: Callable, fast: bool) -> None:
        self.dataset, self.auto, self.collate = dataset, auto, collate
        self.arrays = _tensor_arrays(dataset) if fast else None

    def __call__(self, index: Any) -> Any:
        ds = self.dataset
        if not self.auto:
            return self.collate(ds[index])
        if self.arrays is not None:  # default_collate's batch, by indexing each array once
            idx = _host_indices(index)
            if idx is not None and idx.size:
                arrays, index_map = self.arrays
                if index_map is not None:
                    idx = index_map[idx]
                return [Tensor(a[to_device(idx, device_of(a))]) for a in arrays]
        getitems = getattr(ds, "__getitems__", None)
        return self.collate(getitems(index) if getitems else [ds[i] for i in index])


def _worker_loop(
    iterable: bool,
    dataset: Any,
    index_queue: Any,
    data_queue: Any,
    done_event: Any,
    auto_collation: bool,
    collate_fn: Callable,
    drop_last: bool,
    fast: bool,
    base_seed: int,
    init_fn: Callable[[int], None] | None,
    worker_id: int,
    num_workers: int,
) -> None:
    """A worker process: seeds its generators, runs init_fn, then answers (task, indices) with
    (task, pickled batch / _WorkerError / _StreamEnd) until it is sent None, its parent exits,
    or (after shutdown began) it finds done_event set."""
    global _worker_info
    try:
        seed = base_seed + worker_id
        random.seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        manual_seed(seed)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)

        def make_fetcher() -> Callable[[Any], Any]:
            if iterable:
                return _StreamFetcher(dataset, auto_collation, collate_fn, drop_last)
            return _MapFetcher(dataset, auto_collation, collate_fn, fast)

        fetcher: Callable[[Any], Any] | None = None
        init_error: _WorkerError | None = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher()
        except Exception:
            init_error = _WorkerError(worker_id)
        ended = False
        parent = os.getppid()
        while os.getppid() == parent:
            try:
                r = index_queue.get(timeout=_WORKER_POLL_INTERVAL)
            except queue.Empty:
                if done_event.is_set():  # shutdown began, and its None did not come
                    break
                continue
            if isinstance(r, _Resume):
                ended = False
                try:
                    fetcher, init_error = make_fetcher(), None
                except Exception:
                    fetcher, init_error = None, _WorkerError(worker_id)
                data_queue.put((r, None))
                continue
            if r is None:
                break
            if done_event.is_set() or ended:
                continue
            task, index = r
            data: Any
            if fetcher is None:
                data = init_error
            else:
                try:
                    data = _pack(fetcher(index))
                except StopIteration:
                    if not iterable:
                        data = _WorkerError(worker_id)
                    else:
                        data, ended = _StreamEnd(worker_id), True
                except Exception:
                    data = _WorkerError(worker_id)
            data_queue.put((task, data))
            del data, r, index
    except KeyboardInterrupt:
        pass
    if done_event.is_set():  # the main process may read no more: exit without flushing
        data_queue.cancel_join_thread()
        data_queue.close()


class _WorkerPool:
    """A loader iterator's worker processes and queues. Live pools are held by _live_pools, so
    that an iterator collected in a reference cycle (one held by an exception's traceback)
    cannot take its queues with it: the queues' own finalizers would stop their feeder threads
    before the iterator's __del__ sends the workers their stop message."""

    def __init__(self, ctx: Any, num_workers: int) -> None:
        self.owner = os.getpid()
        self.ctx = ctx
        self.workers: list[Any] = []
        self.index_queues = [ctx.Queue() for _ in range(num_workers)]
        for q in self.index_queues:
            q.cancel_join_thread()
        self.result_queue = ctx.Queue()
        self.done_event = ctx.Event()
        self.stopped = [False] * num_workers  # sent None: expected to exit
        self.closed = False
        _live_pools.add(self)

    def start(self, args: Callable[[int], tuple[Any, ...]]) -> None:
        """Start the workers (worker i runs _worker_loop(*args(i))); on a failure, stop the
        ones started and raise."""
        try:
            for i in range(len(self.index_queues)):
                w = self.ctx.Process(target=_worker_loop, args=args(i), daemon=True)
                w.start()
                self.workers.append(w)
        except BaseException:
            self.shutdown()
            raise

    def stop_worker(self, worker: int) -> None:
        if not self.stopped[worker]:
            self.stopped[worker] = True
            self.index_queues[worker].put(None)

    def dead_workers(self) -> list[tuple[int, Any]]:
        return [
            (i, w) for i, w in enumerate(self.workers) if not self.stopped[i] and not w.is_alive()
        ]

    def shutdown(self, wait: float = _JOIN_TIMEOUT) -> None:
        """Stop the workers (each is sent None, then terminated if it has not exited within
        ``wait`` seconds) and close the queues. Safe to call twice, at exit and from __del__."""
        if self.closed or os.getpid() != self.owner:  # a forked child's copy is not its own
            return
        self.closed = True
        try:
            self.done_event.set()
            for i in range(len(self.workers)):
                self.stop_worker(i)
            deadline = time.monotonic() + wait
            for w in self.workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
            for q in self.index_queues:
                q.close()
        finally:
            for w in self.workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=_JOIN_TIMEOUT)
                    if w.is_alive():
                        w.kill()
                        w.join()
            self.result_queue.cancel_join_thread()
            self.result_queue.close()
            _live_pools.discard(self)


_live_pools: set[_WorkerPool] = set()


@atexit.register
def _shutdown_live_pools() -> None:
    """At interpreter exit, stop every loader's workers (persistent ones, or those of an
    iterator still referenced) before multiprocessing's own exit handler runs."""
    for pool in list(_live_pools):
        pool.shutdown()


class _MultiProcessingIter:
    """A DataLoader's iterator over batches fetched by worker processes (torch's
    _MultiProcessingDataLoaderIter, in order): task i (the i-th entry of the index sampler) goes
    to the next active worker round-robin, at most prefetch_factor * num_workers tasks are
    outstanding, and batches are returned in task order."""

    def __init__(self, loader: DataLoader) -> None:
        self._iterable = isinstance(loader.dataset, IterableDataset)
        self._index_sampler = loader._index_sampler
        self._num_workers = nw = loader.num_workers
        self._prefetch_factor = int(loader.prefetch_factor)
        self._persistent = bool(loader.persistent_workers)
        self._timeout = loader.timeout
        loader._base_seed_count += 1
        self._base_seed = _base_seed(loader.generator, loader._base_seed_count)
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        fast = not loader._user_collate and loader._auto_collation
        pool = _WorkerPool(ctx, nw)
        pool.start(
            lambda i: (
                self._iterable,
                loader.dataset,
                pool.index_queues[i],
                pool.result_queue,
                pool.done_event,
                loader._auto_collation,
                loader.collate_fn,
                loader.drop_last,
                fast,
                self._base_seed,
                loader.worker_init_fn,
                i,
                nw,
            )
        )
        self._pool = pool
        self._workers = pool.workers
        self._reset(loader, first_iter=True)

    @property
    def _shutdown(self) -> bool:
        return self._pool.closed

    def __iter__(self) -> _MultiProcessingIter:
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        self._index_sampler = loader._index_sampler
        self._sampler_iter = iter(self._index_sampler)
        self._send_idx = 0  # the next task to send
        self._rcvd_idx = 0  # the next task to return
        self._task_info: dict[int, tuple[Any, ...]] = {}  # task: (worker,) or (worker, data)
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            for q in self._pool.index_queues:
                q.put(_Resume())
            waiting = self._num_workers
            while waiting > 0:  # results of the last epoch's unfinished tasks are dropped
                task, _ = self._get_data()
                if isinstance(task, _Resume):
                    waiting -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self) -> None:
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker = next(self._worker_cycle)
            if self._workers_status[worker]:
                break
        else:
            return
        self._pool.index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _fail(self, message: str) -> None:
        self._pool.shutdown(wait=0.0)  # a worker stuck or dead: no use waiting for the others
        raise RuntimeError(message)

    def _try_get_data(self, timeout: float) -> tuple[bool, Any]:
        try:
            return True, self._pool.result_queue.get(timeout=timeout)
        except queue.Empty:
            dead = self._pool.dead_workers()
            if dead:
                pids = ", ".join(str(w.pid) for _, w in dead)
                codes = ", ".join(f"worker {i}: exit code {w.exitcode}" for i, w in dead)
                self._fail(f"DataLoader worker (pid(s) {pids}) exited unexpectedly ({codes})")
            return False, None

    def _get_data(self) -> Any:
        if self._shutdown:
            raise RuntimeError(
                "DataLoader: the worker processes of this iterator were shut down (after an "
                "earlier error); start a new iteration"
            )
        if self._timeout > 0:
            deadline = time.monotonic() + self._timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail(f"DataLoader timed out after {self._timeout} seconds")
                ok, data = self._try_get_data(min(_POLL_INTERVAL, left))
                if ok:
                    return data
        while True:
            ok, data = self._try_get_data(_POLL_INTERVAL)
            if ok:
                return data

    def __next__(self) -> Any:
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)  # its worker's stream ended
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._pool.shutdown()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data)
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _StreamEnd):
                self._workers_status[data.worker_id] = False
                if not self._persistent:
                    self._pool.stop_worker(data.worker_id)
                self._try_put_index()
                continue
            if not isinstance(task, int) or task not in self._task_info:
                continue  # a _Resume answer, or a task of an epoch left unfinished
            if task != self._rcvd_idx:
                self._task_info[task] += (data,)
            else:
                self._task_info.pop(task)
                self._rcvd_idx += 1
                return self._process_data(data)

    def _process_data(self, data: Any) -> Any:
        self._try_put_index()
        if isinstance(data, _WorkerError):
            data.reraise()
        return _unpack(data)

    def _shutdown_workers(self) -> None:
        self._pool.shutdown()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()

    def __getstate__(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} cannot be pickled")


def _check_worker_number(num_workers: int) -> None:
    """torch's warning when there are more workers than CPUs this process may run on."""
    if not num_workers:
        return
    cpuset = hasattr(os, "sched_getaffinity")
    suggest = len(os.sched_getaffinity(0)) if cpuset else os.cpu_count()
    if suggest is not None and num_workers <= suggest:
        return
    if suggest is None:
        tail = (
            "DataLoader is not able to compute a suggested max number of worker in current system."
        )
    else:
        tail = (
            f"Our suggested max number of worker in current system is {suggest}"
            f"{'' if cpuset else ' (`cpuset` is not taken into account)'}, which is smaller "
            "than what this DataLoader is going to create."
        )
    warnings.warn(
        f"This DataLoader will create {num_workers} worker processes in total. {tail} Please be "
        "aware that excessive worker creation might get DataLoader running slow or even freeze, "
        "lower the worker number to avoid potential slowness/freeze if necessary.",
        UserWarning,
        stacklevel=3,
    )


class DataLoader:
    """Batches of a data set, as torch.utils.data.DataLoader (same signature and defaults).

    Items ``dataset[i]`` are taken in the order of ``sampler`` (SequentialSampler, or
    RandomSampler when shuffle=True) and grouped by a BatchSampler(sampler, batch_size,
    drop_last) into lists that ``collate_fn`` (default: default_collate) turns into a batch.
    batch_size=None disables batching: every item goes through default_convert.
    generator: the numpy Generator RandomSampler draws from (``generator.bit_generator.state``
    is the loader's shuffle state); None: a fresh seed from deltagrad's generator per epoch.
    num_workers > 0: worker processes fetch and collate the batches (see the module
    docstring and get_worker_info); prefetch_factor (default 2) batches per worker are
    requested ahead; persistent_workers keeps the workers across epochs; timeout > 0 bounds
    the wait for a batch (RuntimeError). An exception in a worker is raised again in the main
    process with the worker's traceback; a worker that dies is a RuntimeError. pin_memory has
    no effect.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: np.random.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
    ) -> None:
        if (
            isinstance(batch_size, Tensor)
            or _is_array(batch_size)
            or isinstance(batch_size, (list, tuple))
        ):
            raise TypeError(_OLD_API)
        if batch_size is not None and (not _is_int(batch_size) or batch_size <= 0):
            raise ValueError(
                f"DataLoader: batch_size should be a positive integer value or None, but got "
                f"batch_size={batch_size!r}"
            )
        if not _is_int(num_workers):
            raise TypeError(f"DataLoader: num_workers: expected an int, got {num_workers!r}")
        if num_workers < 0:
            raise ValueError(
                "DataLoader: num_workers option should be non-negative; use num_workers=0 to "
                "disable multiprocessing."
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified in multiprocessing. "
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to "
                "None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None:
            if not _is_int(prefetch_factor):
                raise TypeError(
                    f"DataLoader: prefetch_factor: expected an int, got {prefetch_factor!r}"
                )
            if prefetch_factor < 0:
                raise ValueError("DataLoader: prefetch_factor option should be non-negative")
            if prefetch_factor == 0:  # torch: an AssertionError when iterated
                raise ValueError(
                    "DataLoader: prefetch_factor must be greater than 0 for multi-process "
                    "loading, got prefetch_factor=0"
                )
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(
                f"DataLoader: worker_init_fn: expected a callable, got {worker_init_fn!r}"
            )
        if shuffle is None:
            shuffle = False
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"DataLoader: shuffle: expected a bool, got {shuffle!r}")
        shuffle = bool(shuffle)
        _check_generator(generator, "DataLoader")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn: expected a callable, got {collate_fn!r}")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler)):
                if value not in (None, False):
                    raise ValueError(
                        f"DataLoader with IterableDataset: expected unspecified {name} option, "
                        f"but got {name}={value!r}"
                    )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler!r}"
                )
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )
        if not iterable and not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"DataLoader: dataset: expected a map-style data set (with __getitem__ and "
                f"__len__) or an IterableDataset, got {type(dataset).__name__}"
            )
        if iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None:
            if not isinstance(drop_last, bool):  # torch's BatchSampler check and text
                raise ValueError(
                    "DataLoader: drop_last should be a boolean value, but got "
                    f"drop_last={drop_last!r}"
                )
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        drop_last = bool(drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = bool(persistent_workers)
        self._iterator: _MultiProcessingIter | None = None
        self._base_seed_count = 0
        self._user_collate = collate_fn is not None
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.__initialized = True
        _check_worker_number(self.num_workers)

    @property
    def multiprocessing_context(self) -> Any:
        """The multiprocessing context of the workers (None: multiprocessing's default, fork
        on Linux before Python 3.14, as torch). Set as a start method name or a context."""
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context: Any) -> None:
        if context is not None:
            if self.num_workers == 0:
                raise ValueError(
                    "DataLoader: multiprocessing_context can only be used with multi-process "
                    f"loading (num_workers > 0), but got num_workers={self.num_workers}"
                )
            if isinstance(context, str):
                methods = multiprocessing.get_all_start_methods()
                if context not in methods:
                    raise ValueError(
                        f"DataLoader: multiprocessing_context option should specify a valid "
                        f"start method in {methods!r}, but got multiprocessing_context={context!r}"
                    )
                context = multiprocessing.get_context(context)
            if not isinstance(context, multiprocessing.context.BaseContext):
                raise TypeError(
                    "DataLoader: multiprocessing_context option should be a valid context object "
                    "or a string specifying the start method, but got "
                    f"multiprocessing_context={context!r}"
                )
        self.__multiprocessing_context = context

    def __setattr__(self, attr: str, val: Any) -> None:
        if self.__dict__.get("_DataLoader__initialized") and attr in _FROZEN:
            raise ValueError(
                f"{attr} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers > 0:
            if not self.persistent_workers:
                _check_worker_number(self.num_workers)
                return _MultiProcessingIter(self)
            if self._iterator is None or self._iterator._shutdown:
                _check_worker_number(self.num_workers)
                self._iterator = _MultiProcessingIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        if isinstance(self.dataset, IterableDataset):
            return self._iter_stream()
        fast = self._fast_plan()
        if fast is not None:
            return self._iter_fast(*fast)
        return self._iter_items()

    def _iter_items(self) -> Iterator[Any]:
        ds, collate = self.dataset, self.collate_fn
        if self._auto_collation:
            # as torch's fetcher: a data set's __getitems__ (if any) fetches the whole batch
            getitems = getattr(ds, "__getitems__", None)
            for indices in self.batch_sampler:
                yield collate(getitems(indices) if getitems else [ds[i] for i in indices])
        else:
            for i in self.sampler:
                yield collate(ds[i])

    def _iter_stream(self) -> Iterator[Any]:
        it, collate = iter(self.dataset), self.collate_fn
        if not self._auto_collation:
            for item in it:
                yield collate(item)
            return
        size, drop_last = self.batch_size, self.drop_last
        while True:
            batch = []
            for item in it:
                batch.append(item)
                if len(batch) == size:
                    break
            if not batch or (drop_last and len(batch) < size):
                return
            yield collate(batch)
            if len(batch) < size:
                return

    def _fast_plan(self) -> tuple[Any, ...] | None:
        """(arrays, index map, batch sampler) for the TensorDataset fast path, else None."""
        if self._user_collate or not self._auto_collation:
            return None
        bs = self.batch_sampler
        if type(bs) is not BatchSampler:
            return None
        sampler = bs.sampler
        if type(sampler) in (SequentialSampler, RandomSampler, DistributedSampler):
            if sampler.data_source is not self.dataset:
                return None
        elif type(sampler) is SubsetRandomSampler:
            if _host_indices(sampler.indices) is None:
                return None
        elif type(sampler) is not WeightedRandomSampler:
            return None
        found = _tensor_arrays(self.dataset)
        if found is None:
            return None
        return (*found, bs)

    def _iter_fast(
        self, arrays: tuple[Any, ...], index_map: Any, bs: BatchSampler
    ) -> Iterator[list[Tensor]]:
        """The batches default_collate would build from the items, made by indexing each array
        once per batch (the same indices, in the same order, from the same random draws)."""
        order = bs.sampler._order()  # draws from the generator now, as the first next() would
        n = len(bs.sampler) if order is None else len(order)
        size = bs.batch_size
        count = n // size if bs.drop_last else (n + size - 1) // size
        if order is None and index_map is None:
            for b in range(count):
                sl = slice(b * size, min((b + 1) * size, n))
                yield [Tensor(a[sl].copy()) for a in arrays]
            return
        if order is None:
            order = index_map
        elif index_map is not None:
            order = index_map[order]
        devices = [device_of(a) for a in arrays]
        orders = {d: to_device(order, d) for d in set(devices)}
        pairs = [(a, orders[d]) for a, d in zip(arrays, devices)]
        for b in range(count):
            sl = slice(b * size, (b + 1) * size)
            yield [Tensor(a[o[sl]]) for a, o in pairs]

    def __repr__(self) -> str:
        try:
            batches: Any = len(self)
        except TypeError:  # a data set without __len__
            batches = "?"
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={isinstance(self.sampler, RandomSampler)}, drop_last={self.drop_last}, "
            f"batches={batches})"
        )


class DistributedSampler(Sampler):
    """This rank's share of the indices, torch.utils.data.distributed.DistributedSampler's
    partition: the indices (a permutation seeded with seed + epoch when shuffle=True, the same
    on every rank) are padded by repeating the first ones up to a multiple of num_replicas
    (drop_last=False) or cut down to one (drop_last=True); rank r takes every num_replicas-th
    index from r. Call set_epoch(epoch) before each epoch for a new shuffle. num_replicas /
    rank default to dg.distributed's world size / rank. The permutation is numpy's
    (np.random.default_rng(seed + epoch)), not torch's randperm: the same partition structure,
    other random orders."""

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from . import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: num_replicas and rank default to the process group's "
                    "world size and rank: call deltagrad.distributed.init_process_group() or "
                    "pass them"
                )
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if not _is_int(num_replicas) or num_replicas < 1:
            raise ValueError(
                f"DistributedSampler: num_replicas must be an int >= 1, got {num_replicas!r}"
            )
        if not _is_int(rank) or rank >= num_replicas or rank < 0:
            raise ValueError(
                f"DistributedSampler: Invalid rank {rank}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        if not _is_int(seed):
            raise TypeError(f"DistributedSampler: seed must be an int, got {seed!r}")
        self.dataset = self.data_source = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            # torch's manual_seed takes a negative seed, numpy's default_rng only one >= 0
            indices = np.random.default_rng((self.seed + self.epoch) % 2**64).permutation(n)
        else:
            indices = np.arange(n)
        indices = indices.astype(np.int64, copy=False)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0 and n > 0:
                indices = np.concatenate([indices, np.resize(indices, pad)])
        else:
            indices = indices[: self.total_size]
        return indices[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        yield from self._order().tolist()

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch seeds the shuffle (seed + epoch): every rank must set the same one."""
        self.epoch = int(epoch)
