"""dg.save / dg.load: (nested) dicts of Tensors, arrays and plain values in the safetensors format.

The file is a safetensors file written by numpy alone (no pickle, nothing executed on load):

    8 bytes    little-endian uint64 N, the length of the header
    N bytes    UTF-8 JSON: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
               ..., "__metadata__": {str: str}} (padded with spaces to a multiple of 8)
    the rest   the tensors' raw little-endian bytes, C order, at data_offsets

Nested containers are flattened: the array at obj["model"]["fc1.weight"] is the tensor named
"model.fc1.weight" (list and tuple positions are index keys: "history.0"). The structure --
dict keys (str or int) and their order, lists, tuples, whether an array was a Tensor or a
numpy array, and every non-array value (numbers, strings, bools, None, numpy scalars) -- is
JSON in __metadata__["deltagrad"], so load() rebuilds the same object. A flat state dict of
Tensors or arrays is therefore a plain safetensors file that safetensors.torch.load_file
reads; a file written by another tool (no deltagrad metadata) loads as a flat dict of arrays.

save() writes a path atomically at exactly that path (deltagrad._files.atomic_write), or a
binary file object at its position; load() reads a path or a binary file object from its
position (torch.save / torch.load's `f`). load() validates the whole header (JSON, names,
dtypes, shapes against byte sizes, offsets within the file, no overlap) before it reads or
allocates any tensor; every error names the file (or "<file object>") and the key. Old .npz
files (Module.save's former format) still load, without pickle. load() takes torch.load's
arguments: map_location ('cpu' by default, 'cuda', a dict or a callable: Tensors only),
mmap=True (copy-on-write views of the file), and weights_only / pickle_module / pickle
arguments, which change nothing (nothing is unpickled).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, Any, Callable

import numpy as np

from ._files import atomic_write
from .backends import DEVICES, cuda_unavailable_reason, to_device
from .backends._args import is_device_array
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT_VERSION = 1
_META_KEY = "deltagrad"
_MAX_HEADER = 100_000_000  # bytes, as the safetensors reference implementation

# safetensors dtype name -> little-endian numpy dtype
_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # read as raw bits, widened to float32 (numpy has no bfloat16)
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_NAMES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items() if k != "BF16"}
_SCALAR_DTYPES = {str(d) for d in _NAMES}  # numpy scalar dtypes recorded in the metadata
_PLAIN = (type(None), bool, int, float, str)
_NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


# ---- save -----------------------------------------------------------------------------------


def _key_str(path: tuple[Any, ...]) -> str:
    return ".".join(str(k) for k in path) if path else "<root>"


class _Flattener:
    def __init__(self) -> None:
        self.arrays: list[tuple[str, np.ndarray]] = []
        self.names: dict[str, tuple[Any, ...]] = {}
        self.active: set[int] = set()

    def array(self, arr: Any, path: tuple[Any, ...]) -> str:
        if is_device_array(arr):
            arr = arr.get()
        arr = np.asarray(arr)
        name = ".".join(str(k) for k in path)
        dt = arr.dtype.newbyteorder("=") if arr.dtype.byteorder not in ("=", "|") else arr.dtype
        if dt not in _NAMES:
            raise TypeError(
                f"save: key {_key_str(path)!r}: arrays of dtype {arr.dtype} cannot be saved "
                f"(supported: bool, int8-64, uint8-64, float16/32/64)"
            )
        if name == "__metadata__":
            raise ValueError("save: key '__metadata__' is reserved by the safetensors format")
        if name in self.names:
            raise ValueError(
                f"save: keys {_key_str(self.names[name])!r} and {_key_str(path)!r} both "
                f"flatten to the tensor name {name!r}"
            )
        self.names[name] = path
        self.arrays.append((name, arr))
        return name

    def node(self, x: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(x, Tensor):
            node = {"a": self.array(x.numpy(), path), "k": "t"}
            if x.requires_grad:
                node["g"] = True
            return node
        if isinstance(x, np.ndarray) or is_device_array(x):
            return {"a": self.array(x, path), "k": "n"}
        if isinstance(x, np.generic):
            dt = str(x.dtype)
            if dt not in _SCALAR_DTYPES:
                raise TypeError(
                    f"save: key {_key_str(path)!r}: numpy scalars of dtype {x.dtype} cannot be "
                    "saved"
                )
            return {"s": x.item(), "dt": dt}
        if isinstance(x, _PLAIN):
            return {"v": x}
        if isinstance(x, (Mapping, list, tuple)):
            if id(x) in self.active:
                raise ValueError(f"save: key {_key_str(path)!r}: the object contains itself")
            self.active.add(id(x))
            try:
                return self._container(x, path)
            finally:
                self.active.discard(id(x))
        raise TypeError(
            f"save: key {_key_str(path)!r}: cannot save a {type(x).__name__}; dg.save takes "
            "Tensors, arrays, numbers, strings, bools, None and dicts / lists / tuples of them"
        )

    def _container(self, x: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(x, Mapping):
            items = []
            for k, v in x.items():
                if isinstance(k, bool) or not isinstance(k, (str, int, np.integer)):
                    raise TypeError(
                        f"save: key {_key_str((*path, k))!r}: dict keys must be str or int, got "
                        f"{type(k).__name__}"
                    )
                k = k if isinstance(k, str) else int(k)
                items.append([k, self.node(v, (*path, k))])
            node: dict[str, Any] = {"d": items}
            if isinstance(x, OrderedDict):
                node["o"] = True
            return node
        tag = "u" if isinstance(x, tuple) else "l"
        if all(isinstance(v, _PLAIN) for v in x):
            return {tag + "v": list(x)}
        return {tag: [self.node(v, (*path, i)) for i, v in enumerate(x)]}


def _text_mode(f: Any) -> bool:
    mode = getattr(f, "mode", None)
    return isinstance(f, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode)


def _file_label(f: Any) -> str:
    """What error messages call a file object: its name when open() gave it one, else
    "<file object>"."""
    name = getattr(f, "name", None)
    return name if isinstance(name, str) else "<file object>"


def _write(f: Any, raw: bytes, order: list[tuple[str, np.ndarray]]) -> None:
    f.write(len(raw).to_bytes(8, "little"))
    f.write(raw)
    for _, arr in order:
        le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        if le.size:
            f.write(le.reshape(-1).view(np.uint8).data)


def save(obj: Mapping[str, Any], f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write obj -- a dict (state dict, optimizer state, checkpoint), possibly nested, of
    Tensors, numpy arrays, numbers, strings, bools, None, numpy scalars and lists / tuples of
    them -- in the safetensors format. Tensors on a GPU are copied to the host.

    f: a path (str or os.PathLike): the file at exactly that path is replaced atomically (the
    previous file survives a crash); or a binary file object (open(..., "wb"), io.BytesIO):
    the record is written at its current position and the object is left open there, after
    the record, as torch.save does (not atomic: a failing write leaves part of a record). obj
    is checked completely before anything is written."""
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"save: obj: expected a dict (a state dict or a checkpoint), got {type(obj).__name__}"
        )
    is_path = isinstance(f, (str, os.PathLike))
    if not is_path:
        if not callable(getattr(f, "write", None)):
            raise TypeError(
                "save: path: expected a str or os.PathLike, got "
                f"{type(f).__name__} (f may also be a binary file object)"
            )
        if _text_mode(f):
            raise TypeError(
                f"save: f: {_file_label(f)!r} is open in text mode; open it in binary mode "
                "('wb') or pass an io.BytesIO"
            )
    flat = _Flattener()
    tree = flat.node(obj, ())
    meta = json.dumps({"version": FORMAT_VERSION, "tree": tree}, separators=(",", ":"))
    header: dict[str, Any] = {"__metadata__": {"format": "pt", _META_KEY: meta}}
    # widest items first: with the header padded to 8 bytes, every tensor is aligned
    order = sorted(flat.arrays, key=lambda na: -na[1].dtype.itemsize)
    offset = 0
    for name, arr in order:
        dt = arr.dtype.newbyteorder("=") if arr.dtype.byteorder not in ("=", "|") else arr.dtype
        nbytes = arr.size * arr.dtype.itemsize
        header[name] = {
            "dtype": _NAMES[dt],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    if is_path:
        with atomic_write(f, "wb") as fh:
            _write(fh, raw, order)
    else:
        _write(f, raw, order)


# ---- load -----------------------------------------------------------------------------------


class _Bad(ValueError):
    """A file load() refuses (a ValueError naming the file and the key)."""


def _err(path: str, msg: str) -> ValueError:
    return _Bad(f"load: {path!r}: {msg}")


def _is_nonneg_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _parse_header(path: str, raw: bytes, data_len: int) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _err(path, f"the header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise _err(path, f"the header is a JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise _err(path, "key '__metadata__': expected an object of string values")
    entries = {}
    for name, info in header.items():
        where = f"key {name!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise _err(path, f"{where}: expected {{dtype, shape, data_offsets}}, got {info!r:.200}")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            raise _err(path, f"{where}: unsupported dtype {dtype!r:.50}")
        if not isinstance(shape, list) or not all(_is_nonneg_int(d) for d in shape):
            raise _err(
                path, f"{where}: shape must be a list of non-negative ints, got {shape!r:.200}"
            )
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(_is_nonneg_int(o) for o in offs)
            or offs[0] > offs[1]
        ):
            raise _err(path, f"{where}: data_offsets must be [begin, end], got {offs!r:.200}")
        nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
        if offs[1] - offs[0] != nbytes:
            raise _err(
                path,
                f"{where}: shape {tuple(shape)} of dtype {dtype} needs {nbytes} bytes but "
                f"data_offsets {offs} hold {offs[1] - offs[0]}",
            )
        if offs[1] > data_len:
            raise _err(
                path,
                f"{where}: data_offsets {offs} reach past the end of the data ({data_len} bytes; "
                "the file is truncated or the header is wrong)",
            )
        entries[name] = (dtype, tuple(shape), offs[0], offs[1])
    spans = sorted((e[2], e[3], n) for n, e in entries.items() if e[3] > e[2])
    end, last = 0, ""
    for b, e, name in spans:
        if b < end:
            raise _err(path, f"keys {last!r} and {name!r}: their data_offsets overlap")
        if e > end:
            end, last = e, name
    return entries, meta


def _check_tree(path: str, node: Any, where: tuple[Any, ...], refs: dict[str, tuple]) -> None:
    """Validate the structure recorded in the metadata; collect the tensor names it uses."""

    def bad(msg: str) -> ValueError:
        return _err(path, f"key {_key_str(where)!r}: {msg}")

    if not isinstance(node, dict) or len(node) == 0:
        raise bad("malformed structure in the deltagrad metadata")
    if "a" in node:
        name = node["a"]
        if not isinstance(name, str) or node.get("k") not in ("t", "n"):
            raise bad("malformed tensor reference in the deltagrad metadata")
        if name in refs:
            raise bad(f"tensor {name!r} is referenced twice in the deltagrad metadata")
        refs[name] = where
    elif "v" in node:
        if not isinstance(node["v"], _PLAIN):
            raise bad("malformed value in the deltagrad metadata")
    elif "s" in node:
        if node.get("dt") not in _SCALAR_DTYPES or not isinstance(node["s"], (bool, int, float)):
            raise bad("malformed numpy scalar in the deltagrad metadata")
        try:  # the value must fit its dtype (-1 as uint8 is NumPy's OverflowError)
            np.dtype(node["dt"]).type(node["s"])
        except (OverflowError, ValueError, TypeError):
            raise bad(f"numpy scalar {node['s']!r} does not fit its dtype {node['dt']}") from None
    elif "d" in node:
        items = node["d"]
        if not isinstance(items, list):
            raise bad("malformed dict in the deltagrad metadata")
        for item in items:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or isinstance(item[0], bool)
                or not isinstance(item[0], (str, int))
            ):
                raise bad("malformed dict item in the deltagrad metadata")
            _check_tree(path, item[1], (*where, item[0]), refs)
    elif "l" in node or "u" in node:
        items = node.get("l", node.get("u"))
        if not isinstance(items, list):
            raise bad("malformed list in the deltagrad metadata")
        for i, item in enumerate(items):
            _check_tree(path, item, (*where, i), refs)
    elif "lv" in node or "uv" in node:
        items = node.get("lv", node.get("uv"))
        if not isinstance(items, list) or not all(isinstance(v, _PLAIN) for v in items):
            raise bad("malformed list in the deltagrad metadata")
    else:
        raise bad("unknown node in the deltagrad metadata")


def _build(node: dict[str, Any], arrays: dict[str, np.ndarray], place: Any) -> Any:
    if "a" in node:
        arr = arrays[node["a"]]
        if node["k"] == "t":
            return Tensor(place(arr, node["a"]), requires_grad=bool(node.get("g", False)))
        return arr
    if "v" in node:
        return node["v"]
    if "s" in node:
        return np.dtype(node["dt"]).type(node["s"])
    if "d" in node:
        out = OrderedDict() if node.get("o") else {}
        for k, v in node["d"]:
            out[k] = _build(v, arrays, place)
        return out
    if "l" in node:
        return [_build(v, arrays, place) for v in node["l"]]
    if "u" in node:
        return tuple(_build(v, arrays, place) for v in node["u"])
    if "lv" in node:
        return list(node["lv"])
    return tuple(node["uv"])


def _placeholder(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """An array of this dtype and shape that owns no memory (a broadcast 0-d array): what a
    load(check=...) callback sees of a tensor before its data is read."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def _npz_header(fh: IO[bytes], start: int, label: str) -> dict[str, np.ndarray]:
    """The .npy headers of an .npz's members (name -> placeholder), each checked against the
    member's size in the zip directory, without reading any array."""
    import zipfile

    out: dict[str, np.ndarray] = {}
    fh.seek(start)
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[: -len(".npy")]
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }.get(version)
                if read is None:
                    raise _err(label, f"key {name!r}: unsupported .npy version {version}")
                shape, _fortran, dtype = read(member)
                if dtype.hasobject:
                    raise _err(label, f"key {name!r}: object arrays need pickle; refused")
                nbytes = math.prod(shape) * dtype.itemsize
                if member.tell() + nbytes != info.file_size:
                    raise _err(
                        label,
                        f"key {name!r}: the header says shape {shape} of {dtype} "
                        f"({nbytes} bytes) but the member holds {info.file_size - member.tell()}",
                    )
            out[name] = _placeholder(dtype, shape)
    return out


def _load_npz(fh: IO[bytes], start: int, label: str, check: Any) -> dict[str, np.ndarray]:
    if check is not None:
        try:
            header = _npz_header(fh, start, label)
        except _Bad:
            raise
        except Exception as e:  # zipfile.BadZipFile, a bad .npy header, ...
            raise _err(label, f"corrupt .npz file ({type(e).__name__}: {e})") from None
        check(header)  # its error propagates: nothing was read
    try:
        fh.seek(start)
        with np.load(fh, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        raise _err(label, f"cannot read the .npz file without pickle ({e})") from None
    except Exception as e:  # zipfile.BadZipFile, EOFError, ...
        raise _err(label, f"corrupt .npz file ({type(e).__name__}: {e})") from None


def _read_into(f: Any, arr: np.ndarray, path: str, name: str) -> None:
    view = arr.reshape(-1).view(np.uint8)
    got = f.readinto(view.data) if view.size else 0
    if got != view.size:
        raise _err(
            path, f"key {name!r}: the file ended inside the tensor's data (changed while read?)"
        )


# ---- load's torch arguments -------------------------------------------------------------------

# the keyword arguments torch.load passes on to pickle: accepted, and ignored (nothing is unpickled)
_PICKLE_LOAD_ARGS = frozenset({"encoding", "errors", "fix_imports", "buffers"})

_Place = Callable[[np.ndarray, str], Any]


def _device(v: Any, arg: str) -> str:
    """'cpu' or 'cuda' for a torch-style device: 'cpu', 'cuda', 'cuda:1', a torch.device.
    'cuda' without a usable GPU is torch's RuntimeError, raised before anything is read."""
    if not isinstance(v, str):
        if not isinstance(getattr(v, "type", None), str):  # torch.device has .type
            raise TypeError(
                f"load: {arg}: expected a device ('cpu', 'cuda', 'cuda:0', a torch.device), a "
                f"dict or a callable, got {type(v).__name__}"
            )
        v = str(v)
    kind, colon, index = v.partition(":")
    if kind not in DEVICES or (colon and not index.isdigit()):
        raise RuntimeError(
            f"load: {arg}: don't know how to restore data to device {v!r} (deltagrad has 'cpu' "
            "and 'cuda')"
        )
    if kind == "cuda" and cuda_unavailable_reason() is not None:
        raise RuntimeError(
            f"load: {arg}: attempting to load tensors onto {v!r} but CUDA is not available "
            f"({cuda_unavailable_reason()}); use map_location='cpu'"
        )
    return kind


def _placer(map_location: Any) -> _Place:
    """place(array, tensor name) -> the Tensor's array where map_location puts it. Every tensor
    in a deltagrad file was saved from the host (dg.save copies GPU arrays there): its
    location tag is 'cpu', which is what a dict is looked up with and a callable is given."""
    if map_location is None:
        return lambda arr, name: arr
    if isinstance(map_location, Mapping):
        for k, v in map_location.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"load: map_location: dict keys must be location strings ('cpu', "
                    f"'cuda:0'), got {type(k).__name__}"
                )
            _device(v, f"map_location[{k!r}]")
        target = _device(map_location.get("cpu", "cpu"), "map_location['cpu']")
    elif isinstance(map_location, str) or hasattr(map_location, "type"):
        target = _device(map_location, "map_location")
    elif callable(map_location):
        fn = map_location

        def place(arr: np.ndarray, name: str) -> Any:
            out = fn(arr, "cpu")
            if out is None:
                return arr
            if not (isinstance(out, np.ndarray) or is_device_array(out)) or (
                out.shape != arr.shape or out.dtype != arr.dtype
            ):
                raise TypeError(
                    f"load: map_location: the callable returned {type(out).__name__} "
                    f"{getattr(out, 'dtype', '')}{tuple(getattr(out, 'shape', ()))} for "
                    f"tensor {name!r}; expected None or an array of dtype {arr.dtype} and shape "
                    f"{arr.shape}"
                )
            return out

        return place
    else:
        _device(map_location, "map_location")  # a TypeError naming the type
    if target == "cpu":
        return lambda arr, name: arr
    return lambda arr, name: to_device(arr, target)


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    check: Any = None,
    **pickle_load_args: Any,
) -> Any:
    """Read a file written by save() (the same nested object back: Tensors as Tensors,
    arrays as arrays), a safetensors file from another tool (a flat dict name -> numpy array;
    BF16 widened to float32), or an old Module.save .npz (a flat dict of arrays). The header
    is validated before any tensor is read; errors name the file (or "<file object>") and the
    key; a truncated or corrupt file is a ValueError.

    f: a path, or a binary file object with read / seek / tell (open(..., "rb"), io.BytesIO):
    the record is read from its current position, as torch.load does, and the object is left
    just after the record (so records saved one after another load one after another).

    map_location (torch's): None or 'cpu' -- Tensors on the CPU (the file records no device:
    dg.save copies GPU tensors to the host, so None is 'cpu', where torch would restore the
    saved device); 'cuda' / 'cuda:N' / a torch.device -- Tensors on the GPU (RuntimeError,
    before anything is read, when CUDA cannot be used); a dict -- looked up with the location
    'cpu' (every tensor's location), e.g. {'cpu': 'cuda'}; a callable -- called as
    fn(array, 'cpu') per Tensor (a numpy array where torch passes a storage), returning None
    (keep) or an array of the same dtype and shape. It places Tensors only: numpy arrays in the
    object and the arrays of a flat file stay numpy arrays, as torch leaves numpy arrays alone.

    weights_only, pickle_module, pickle_load_args (encoding, errors, fix_imports, buffers):
    accepted and change nothing -- nothing is ever unpickled and no code runs, so every load
    is what torch calls weights_only=True, whatever is passed.

    mmap: True (f must be a path, as torch's ValueError says) maps the file copy-on-write, as
    torch's mmap=True: arrays are views of the mapping, not read into memory, and writing to
    them changes the arrays, never the file. dg.save aligns every tensor, so all of them map;
    a tensor that cannot be a view (BF16, big-endian data, misaligned offsets in a file from
    another tool) is copied. An old .npz cannot be mapped: RuntimeError, as torch for its
    legacy format.

    check: None, or a callable given {tensor name: an array of the tensor's dtype and shape
    that owns no memory} once the header is validated and before any tensor is read; an
    exception it raises propagates and nothing is read (Module.load checks the names,
    shapes and dtypes against the module this way)."""
    is_path = isinstance(f, (str, os.PathLike))
    if not is_path and not callable(getattr(f, "read", None)):
        raise TypeError(
            f"load: path: expected a str or os.PathLike, got {type(f).__name__} (f may also be "
            "a binary file object)"
        )
    place = _placer(map_location)
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(
            f"load: weights_only: expected a bool or None, got {type(weights_only).__name__}"
        )
    if mmap is not None and not isinstance(mmap, bool):
        raise TypeError(f"load: mmap: expected a bool or None, got {type(mmap).__name__}")
    unknown = sorted(set(pickle_load_args) - _PICKLE_LOAD_ARGS)
    if unknown:
        raise TypeError(f"load() got an unexpected keyword argument {unknown[0]!r}")
    if is_path:
        p = os.fspath(f)
        with open(p, "rb") as fh:
            return _load_from(fh, p, 0, os.fstat(fh.fileno()).st_size, bool(mmap), check, place)
    if mmap:
        raise ValueError("load: f must be a file path in order to use the mmap argument")
    label = _file_label(f)
    if _text_mode(f):
        raise TypeError(
            f"load: f: {label!r} is open in text mode; open it in binary mode ('rb') or pass an "
            "io.BytesIO"
        )
    seekable = getattr(f, "seekable", None)
    if (
        not callable(getattr(f, "seek", None))
        or not callable(getattr(f, "tell", None))
        or (callable(seekable) and not seekable())
    ):
        raise io.UnsupportedOperation(
            f"load: {label!r}: the file object is not seekable; read it into an io.BytesIO "
            "and load from that"
        )
    start = f.tell()
    f.seek(0, os.SEEK_END)
    size = max(f.tell() - start, 0)
    f.seek(start)
    return _load_from(f, label, start, size, False, check, place)


def _load_from(f: Any, p: str, start: int, size: int, mmap: bool, check: Any, place: _Place) -> Any:
    """load() from the open binary file f, its record starting at `start` and `size` bytes
    long at most; p: the file's name in errors."""
    head = f.read(8)
    if not isinstance(head, (bytes, bytearray)):
        raise TypeError(
            f"load: f: {p!r}.read() returned {type(head).__name__}, not bytes; open it in "
            "binary mode ('rb')"
        )
    if head[:4] in _NPZ_MAGIC:
        if mmap:
            raise RuntimeError(
                f"load: {p!r}: mmap=True needs a safetensors file; this is an old .npz "
                "(load it without mmap and dg.save it again)"
            )
        return _load_npz(f, start, p, check)
    if len(head) < 8:
        raise _err(
            p, f"not a safetensors file: {size} bytes, shorter than the 8-byte header length"
        )
    n = int.from_bytes(head, "little")
    if n > size - 8 or n > _MAX_HEADER:
        raise _err(
            p,
            f"not a safetensors file, or truncated: the header length {n} exceeds "
            f"{'the file size ' + str(size) if n > size - 8 else 'the 100 MB limit'}",
        )
    raw = f.read(n)
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != n:
        raise _err(p, "the file ended inside the header (changed while read?)")
    entries, meta = _parse_header(p, raw, size - 8 - n)
    tree = None
    if _META_KEY in meta:
        try:
            doc = json.loads(meta[_META_KEY])
        except (ValueError, RecursionError) as e:
            raise _err(
                p, f"key '__metadata__': the deltagrad structure is not JSON ({e})"
            ) from None
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION or "tree" not in doc:
            raise _err(
                p,
                f"key '__metadata__': unsupported deltagrad structure ({str(doc)[:80]})",
            )
        tree, refs = doc["tree"], {}
        try:
            _check_tree(p, tree, (), refs)
        except RecursionError:
            raise _err(
                p, "key '__metadata__': the deltagrad structure is nested too deeply"
            ) from None
        for name, where in refs.items():
            if name not in entries:
                raise _err(p, f"key {_key_str(where)!r}: tensor {name!r} is missing from the file")
        for name in entries:
            if name not in refs:
                raise _err(p, f"key {name!r}: a tensor the deltagrad structure does not list")
    if check is not None:
        check(
            {
                name: _placeholder(
                    np.dtype("<f4") if dtype == "BF16" else _DTYPES[dtype], tuple(shape)
                )
                for name, (dtype, shape, _b, _e) in entries.items()
            }
        )
    # everything checked: now read (or map) the data, in file order
    base = start + 8 + n
    data_end = max((e[3] for e in entries.values()), default=0)
    mapped = None
    if mmap and data_end:
        mapped = np.memmap(f, dtype=np.uint8, mode="c")  # copy-on-write: the file never changes
        if mapped.size < base + data_end:
            raise _err(p, "the file became shorter while it was read")
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in sorted(entries.items(), key=lambda e: e[1][2]):
        if mapped is not None:
            arr = mapped[base + begin : base + end].view(_DTYPES[dtype]).reshape(shape)
            arr = arr.view(np.ndarray) if arr.flags.aligned else np.array(arr)
        else:
            arr = np.empty(shape, dtype=_DTYPES[dtype])
            f.seek(base + begin)
            _read_into(f, arr, p, name)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arrays[name] = arr
    f.seek(base + data_end)  # a file object is left just after this record
    if tree is None:
        return {name: arrays[name] for name in entries}
    return _build(tree, arrays, place)
