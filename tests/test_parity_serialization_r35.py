"""dg.save / dg.load with torch.save / torch.load's arguments (round 35).

File objects (io.BytesIO, open(..., "wb"/"rb")) read and written at their current position,
map_location, weights_only / pickle arguments (accepted, nothing is unpickled), mmap=True
(copy-on-write views of the file), truncated and corrupted streams, model / optimizer state
dicts, and a file written before these arguments existed.
"""

from __future__ import annotations

import base64
import io
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
from deltagrad.backends import cuda_unavailable_reason
from deltagrad.serialization import load, save
from deltagrad.tensor import Tensor

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(35)
HAS_CUDA = cuda_unavailable_reason() is None

# written by the serialization.py before this round (git HEAD), for the dict in _old_obj()
OLD_FILE = base64.b64decode(
    "YAIAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCIsImRlbHRhZ3JhZCI6IntcInZlcnNpb25cIjoxLFwidHJlZVwiOntcImRcIjpbW1wid1wiLHtcImFcIjpcIndcIixcImtcIjpcInRcIixcImdcIjp0cnVlfV0sW1wiblwiLHtcImFcIjpcIm5cIixcImtcIjpcIm5cIn1dLFtcImVcIix7XCJhXCI6XCJlXCIsXCJrXCI6XCJuXCJ9XSxbXCJ6XCIse1wiYVwiOlwielwiLFwia1wiOlwiblwifV0sW1wic3RlcFwiLHtcInZcIjo3fV0sW1wibHJcIix7XCJ2XCI6MC41fV0sW1wibmFtZVwiLHtcInZcIjpcInhcIn1dLFtcIm5vbmVcIix7XCJ2XCI6bnVsbH1dLFtcInRcIix7XCJ1dlwiOlsxLFwiYVwiXX1dLFtcInNcIix7XCJzXCI6Mi41LFwiZHRcIjpcImZsb2F0MzJcIn1dXX19In0sIm4iOnsiZHR5cGUiOiJJNjQiLCJzaGFwZSI6WzNdLCJkYXRhX29mZnNldHMiOlswLDI0XX0sInciOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsMl0sImRhdGFfb2Zmc2V0cyI6WzI0LDQwXX0sImUiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzAsM10sImRhdGFfb2Zmc2V0cyI6WzQwLDQwXX0sInoiOnsiZHR5cGUiOiJCT09MIiwic2hhcGUiOltdLCJkYXRhX29mZnNldHMiOls0MCw0MV19fQEAAAAAAAAAAgAAAAAAAAADAAAAAAAAAAAAwD8AAADAAACAPgAAQEAB"
)


def _old_obj():
    return {
        "w": Tensor(np.array([[1.5, -2.0], [0.25, 3.0]], np.float32), requires_grad=True),
        "n": np.array([1, 2, 3], np.int64),
        "e": np.empty((0, 3), np.float16),
        "z": np.array(True),
        "step": 7,
        "lr": 0.5,
        "name": "x",
        "none": None,
        "t": (1, "a"),
        "s": np.float32(2.5),
    }


DTYPES = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?"]


def _random(dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (RNG.standard_normal(shape) * 100).astype(dt)
    if dt.kind == "b":
        return RNG.random(shape) > 0.5
    info = np.iinfo(dt)
    return RNG.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def _obj():
    """Nested dicts / lists / tuples of Tensors and arrays of every dtype, 0-d and empty."""
    arrays = {f"a_{d}": _random(d, (3, 5)) for d in DTYPES}
    return {
        "arrays": arrays,
        "zero_d": {d: _random(d, ()) for d in ("f8", "i4", "?")},
        "empty": [np.empty((0, 4), np.float32), np.empty(0, np.int64), np.empty((2, 0, 3), "u1")],
        "tensors": (
            Tensor(_random("f4", (2, 3)), requires_grad=True),
            Tensor(_random("f8", (7,))),
            Tensor(_random("i8", ())),
            Tensor(np.empty((0, 2), np.float64)),
        ),
        "mixed": [1, 2.5, "s", None, True, {"x": Tensor(_random("f2", (1, 1)))}],
        7: OrderedDict(b=np.float64(math.pi), a=np.int16(-3)),
    }


def _assert_same(a, b, where="obj"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, Tensor):
        assert a.requires_grad == b.requires_grad, where
        a, b = a.numpy(), b.numpy()
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape}"
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"
        if isinstance(a, np.generic):
            assert a.dtype == b.dtype, where


def _bytes(obj):
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()


def _arrays_of(x):
    if isinstance(x, Tensor):
        yield x.data
    elif isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _arrays_of(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _arrays_of(v)


def _is_mapped(arr):
    while arr is not None:
        if isinstance(arr, np.memmap):
            return True
        arr = arr.base
    return False


# ---- file objects -----------------------------------------------------------------------------


def test_round_trip_through_bytesio_real_files_and_paths(tmp_path):
    obj = _obj()
    data = _bytes(obj)
    _assert_same(obj, load(io.BytesIO(data)))
    with open(tmp_path / "a.st", "wb") as f:
        save(obj, f)
        assert not f.closed
    with open(tmp_path / "a.st", "rb") as f:
        _assert_same(obj, load(f))
        assert f.tell() == len(data)
    save(obj, tmp_path / "b.st")  # a path: the very same bytes as a file object gets
    save(obj, str(tmp_path / "c.st"))
    assert (tmp_path / "a.st").read_bytes() == data == (tmp_path / "b.st").read_bytes()
    _assert_same(obj, load(tmp_path / "b.st"))
    _assert_same(obj, load(str(tmp_path / "c.st")))


def test_a_file_written_before_this_round_loads_unchanged(tmp_path):
    _assert_same(_old_obj(), load(io.BytesIO(OLD_FILE)))
    (tmp_path / "old.st").write_bytes(OLD_FILE)
    _assert_same(_old_obj(), load(tmp_path / "old.st"))
    _assert_same(_old_obj(), load(tmp_path / "old.st", mmap=True))
    assert _bytes(_old_obj()) == OLD_FILE  # and the format written is the same


def test_file_object_positioned_after_other_data_as_torch():
    a, b = {"a": Tensor(_random("f4", (3,)))}, {"b": [np.arange(4), "x"]}
    buf = io.BytesIO()
    buf.write(b"prefix-junk")
    save(a, buf)
    mid = buf.tell()
    save(b, buf)
    end = buf.tell()
    buf.write(b"trailing")
    buf.seek(len(b"prefix-junk"))
    _assert_same(a, load(buf))
    assert buf.tell() == mid  # left just after the record: the next one follows
    _assert_same(b, load(buf))
    assert buf.tell() == end and buf.read() == b"trailing"
    # torch.load also reads from the current position
    tbuf = io.BytesIO()
    tbuf.write(b"prefix-junk")
    torch.save({"a": torch.ones(2)}, tbuf)
    tbuf.seek(len(b"prefix-junk"))
    assert torch.equal(torch.load(tbuf)["a"], torch.ones(2))


def test_old_npz_through_a_file_object(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, w=np.arange(6.0).reshape(2, 3), b=np.ones(2, np.int32))
    buf.seek(0)
    out = load(buf)
    assert list(out) == ["w", "b"]
    np.testing.assert_array_equal(out["w"], np.arange(6.0).reshape(2, 3))
    seen = []
    buf.seek(0)
    load(buf, check=lambda head: seen.append({k: v.shape for k, v in head.items()}))
    assert seen == [{"w": (2, 3), "b": (2,)}]
    buf.seek(0)
    with pytest.raises(ValueError, match=r"load: '<file object>': corrupt .npz"):
        load(io.BytesIO(buf.getvalue()[:40]))


def test_file_object_errors(tmp_path):
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match=r"save: f: '.*t.txt' is open in text mode"):
            save({"a": np.ones(1)}, f)
    (tmp_path / "t.txt").write_bytes(_bytes({"a": np.ones(1)}))
    with open(tmp_path / "t.txt") as f:
        with pytest.raises(TypeError, match=r"load: f: '.*t.txt' is open in text mode"):
            load(f)
    with pytest.raises(TypeError, match=r"load: f: .*text mode"):
        load(io.StringIO("abc"))
    with pytest.raises(TypeError, match=r"save: f: '<file object>' is open in text mode"):
        save({}, io.StringIO())
    with pytest.raises(TypeError, match="save: path: expected a str or os.PathLike, got int"):
        save({}, 3)
    with pytest.raises(TypeError, match="load: path: expected a str or os.PathLike, got list"):
        load([])

    class Unseekable:
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def read(self, n=-1):
            return self.b.read(n)

        def seekable(self):
            return False

    with pytest.raises(io.UnsupportedOperation, match="not seekable; read it into an io.BytesIO"):
        load(Unseekable(_bytes({"a": np.ones(1)})))

    class StrReader(io.BytesIO):  # claims binary but read() gives str
        def read(self, n=-1):
            return super().read(n).decode("latin-1")

    with pytest.raises(TypeError, match=r"read\(\) returned str, not bytes"):
        load(StrReader(b"12345678"))
    # a bad object is refused before anything is written to the stream
    buf = io.BytesIO()
    with pytest.raises(TypeError, match="save: key 'x'"):
        save({"a": np.ones(2), "x": object()}, buf)
    assert buf.getvalue() == b""


def test_truncated_streams_are_value_errors_naming_the_file(tmp_path):
    data = _bytes({"w": Tensor(_random("f8", (3, 2))), "n": [np.arange(3), 1]})
    for cut in range(len(data)):
        with pytest.raises(ValueError, match=r"^load: '<file object>': "):
            load(io.BytesIO(data[:cut]))
    (tmp_path / "cut.st").write_bytes(data[:-1])
    with open(tmp_path / "cut.st", "rb") as f:
        with pytest.raises(ValueError, match=r"load: '.*cut.st': key '.*': .* past the end"):
            load(f)
    with pytest.raises(ValueError, match=r"load: '.*cut.st': key '.*': .* past the end"):
        load(tmp_path / "cut.st", mmap=True)
    buf = io.BytesIO(data)
    buf.seek(len(data) + 10)  # positioned past the end: nothing to read
    with pytest.raises(ValueError, match="0 bytes, shorter than the 8-byte header"):
        load(buf)


def test_corrupted_bytes_are_value_errors_or_load_never_a_crash():
    data = bytearray(_bytes({"w": Tensor(_random("f4", (2, 3))), "i": np.arange(5), "s": "x"}))
    n = int.from_bytes(data[:8], "little")
    errors = 0
    for pos in range(8 + n):  # every byte of the header, set to a few values
        for v in (0x00, 0x22, 0x7B, 0xFF, data[pos] ^ 0x01):
            bad = bytearray(data)
            bad[pos] = v
            try:
                load(io.BytesIO(bytes(bad)))
            except ValueError:
                errors += 1
    assert errors > 4 * (8 + n)  # nearly every corruption is detected
    with pytest.raises(ValueError, match="header is not valid UTF-8 JSON"):
        load(io.BytesIO(bytes(data[:8]) + b"\xff" * n + bytes(data[8 + n :])))


# ---- model and optimizer state dicts ----------------------------------------------------------


def _model():
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def _train(model, opt, xs, ys):
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = ((model(Tensor(x)) - Tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


@pytest.mark.parametrize("how", ["bytesio", "file", "mmap"])
def test_model_and_adam_state_dicts_resume_identically(tmp_path, how):
    xs = [RNG.standard_normal((4, 3)).astype(np.float32) for _ in range(6)]
    ys = [RNG.standard_normal((4, 2)).astype(np.float32) for _ in range(6)]
    model = _model()
    opt = dg.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    _train(model, opt, xs[:3], ys[:3])
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}
    if how == "bytesio":
        buf = io.BytesIO()
        save(ckpt, buf)
        buf.seek(0)
        back = load(buf)
    else:
        with open(tmp_path / "ckpt.st", "wb") as f:
            save(ckpt, f)
        if how == "file":
            with open(tmp_path / "ckpt.st", "rb") as f:
                back = load(f, map_location="cpu", weights_only=True)
        else:
            back = load(tmp_path / "ckpt.st", mmap=True)
            assert all(_is_mapped(a) for a in _arrays_of(back))
    assert back["epoch"] == 3
    model2 = _model()
    opt2 = dg.optim.Adam(model2.parameters(), lr=0.5)
    model2.load_state_dict(back["model"])
    opt2.load_state_dict(back["optimizer"])
    assert _train(model, opt, xs[3:], ys[3:]) == _train(model2, opt2, xs[3:], ys[3:])
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    if how == "mmap":  # training the copy-on-write arrays never changes the file
        again = load(tmp_path / "ckpt.st")
        _assert_same(ckpt["model"], again["model"])


# ---- map_location, weights_only, pickle arguments -------------------------------------------


def test_map_location_cpu_forms_and_dict():
    obj = _obj()
    data = _bytes(obj)
    for ml in (None, "cpu", "cpu:0", torch.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"}, {}):
        _assert_same(obj, load(io.BytesIO(data), ml))
        _assert_same(obj, load(io.BytesIO(data), map_location=ml))


def test_map_location_callable_gets_each_tensor_array():
    obj = {"t": Tensor(_random("f4", (2, 3))), "a": _random("i8", (4,)), "u": [Tensor(np.ones(2))]}
    data = _bytes(obj)
    calls = []

    def keep(storage, location):
        calls.append((storage.shape, location))

    _assert_same(obj, load(io.BytesIO(data), lambda storage, loc: storage))
    _assert_same(obj, load(io.BytesIO(data), keep))
    assert sorted(calls) == [((2,), "cpu"), ((2, 3), "cpu")]  # Tensors only, not the array
    out = load(io.BytesIO(data), lambda s, loc: s * 2)
    np.testing.assert_array_equal(out["t"].numpy(), obj["t"].numpy() * 2)
    np.testing.assert_array_equal(out["a"], obj["a"])
    with pytest.raises(TypeError, match=r"map_location: the callable returned ndarray float32\(3,"):
        load(io.BytesIO(data), lambda s, loc: s[0])
    with pytest.raises(TypeError, match="the callable returned str"):
        load(io.BytesIO(data), lambda s, loc: "cpu")


def test_map_location_cuda():
    data = _bytes({"t": Tensor(_random("f4", (2, 3))), "a": np.arange(3)})
    for ml in ("cuda", "cuda:0", {"cpu": "cuda"}):
        if HAS_CUDA:
            out = load(io.BytesIO(data), ml)
            assert out["t"].device == "cuda" and isinstance(out["a"], np.ndarray)
        else:  # torch's RuntimeError without CUDA, before anything is read
            buf = io.BytesIO(data)
            with pytest.raises(RuntimeError, match="CUDA is not available.*map_location='cpu'"):
                load(buf, ml)
            assert buf.tell() == 0
    if not HAS_CUDA:
        with pytest.raises(RuntimeError):
            torch.load(io.BytesIO(_torch_bytes()), map_location="cuda")


def _torch_bytes():
    buf = io.BytesIO()
    torch.save({"a": torch.ones(2)}, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    "ml, exc, match",
    [
        ("foo", RuntimeError, "don't know how to restore data to device 'foo'"),
        ("meta", RuntimeError, "device 'meta'"),
        ("cuda:x", RuntimeError, "device 'cuda:x'"),
        (3, TypeError, "map_location: expected a device .* got int"),
        ({1: "cpu"}, TypeError, "dict keys must be location strings"),
        ({"cpu": "tpu"}, RuntimeError, r"map_location\['cpu'\]: .* device 'tpu'"),
        ({"cuda": 5}, TypeError, r"map_location\['cuda'\]: expected a device"),
    ],
)
def test_bad_map_location(ml, exc, match):
    with pytest.raises(exc, match=match):
        load(io.BytesIO(_bytes({"a": np.ones(1)})), ml)


def test_bad_device_strings_are_runtime_errors_in_torch_too():
    with pytest.raises(RuntimeError):
        torch.load(io.BytesIO(_torch_bytes()), map_location="foo")


def test_weights_only_and_pickle_arguments_change_nothing():
    obj = _obj()
    data = _bytes(obj)
    for kw in (
        {"weights_only": True},
        {"weights_only": False},
        {"weights_only": None},
        {"pickle_module": pickle},
        {"encoding": "latin1"},
        {"errors": "strict", "fix_imports": True},
        {"mmap": False},
        {"mmap": None},
    ):
        _assert_same(obj, load(io.BytesIO(data), **kw))
    _assert_same(obj, load(io.BytesIO(data), None, pickle))
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        load(io.BytesIO(data), foo=1)
    with pytest.raises(TypeError), warnings.catch_warnings():  # torch: a TypeError as well
        warnings.simplefilter("ignore")  # "pickle_load_args only works if weights_only=False"
        torch.load(io.BytesIO(_torch_bytes()), foo=1)
    with pytest.raises(TypeError, match="weights_only: expected a bool or None, got str"):
        load(io.BytesIO(data), weights_only="yes")
    with pytest.raises(TypeError, match="mmap: expected a bool or None, got int"):
        load(io.BytesIO(data), mmap=1)


# ---- mmap -------------------------------------------------------------------------------------


def test_mmap_gives_copy_on_write_views_of_the_file(tmp_path):
    obj = _obj()
    save(obj, tmp_path / "m.st")
    out = load(tmp_path / "m.st", mmap=True)
    _assert_same(obj, out)
    arrays = [a for a in _arrays_of(out) if a.size]
    assert arrays and all(_is_mapped(a) for a in arrays)
    assert all(a.flags.aligned and a.flags.writeable for a in arrays)
    assert all(type(a) is np.ndarray for a in _arrays_of(out))
    for a in arrays:
        a[...] = a.reshape(-1)[-1]  # writes go to private pages
    out["tensors"][0].data[...] = 0
    _assert_same(obj, load(tmp_path / "m.st"))  # the file is unchanged
    # torch's mmap=True is copy-on-write as well
    torch.save({"a": torch.arange(3.0)}, tmp_path / "t.pt")
    t = torch.load(tmp_path / "t.pt", mmap=True)["a"]
    t.add_(1)
    assert torch.equal(torch.load(tmp_path / "t.pt")["a"], torch.arange(3.0))


def test_mmap_copies_what_cannot_be_a_view(tmp_path):
    # a file from another tool: a BF16 tensor and a misaligned float64 (offset 2)
    import json

    bf16 = np.array([0x3F80, 0xC000], np.uint16)  # 1.0, -2.0
    f64 = np.array([1.5, -0.25])
    header = {
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
        "d": {"dtype": "F64", "shape": [2], "data_offsets": [4, 20]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    (tmp_path / "x.st").write_bytes(
        len(raw).to_bytes(8, "little") + raw + bf16.astype("<u2").tobytes() + f64.tobytes()
    )
    out = load(tmp_path / "x.st", mmap=True)
    np.testing.assert_array_equal(out["b"], np.array([1.0, -2.0], np.float32))
    np.testing.assert_array_equal(out["d"], f64)
    assert out["d"].flags.aligned and not _is_mapped(out["d"])
    _assert_same(load(tmp_path / "x.st"), out)


def test_mmap_refusals(tmp_path):
    save({"a": np.ones(2)}, tmp_path / "a.st")
    with open(tmp_path / "a.st", "rb") as f:  # torch's ValueError and text
        with pytest.raises(ValueError, match="f must be a file path in order to use the mmap"):
            load(f, mmap=True)
    with pytest.raises(ValueError, match="f must be a file path in order to use the mmap"):
        torch.load(io.BytesIO(_torch_bytes()), mmap=True)
    np.savez(tmp_path / "old.npz", w=np.ones(3))
    with pytest.raises(RuntimeError, match=r"load: '.*old.npz': mmap=True needs a safetensors"):
        load(tmp_path / "old.npz", mmap=True)
    # only empty tensors (nothing to map) and no tensors at all
    save({"e": np.empty((0, 3)), "v": 1}, tmp_path / "e.st")
    _assert_same({"e": np.empty((0, 3)), "v": 1}, load(tmp_path / "e.st", mmap=True))
    save({}, tmp_path / "n.st")
    assert load(tmp_path / "n.st", mmap=True) == {}
