"""dg.save / dg.load (deltagrad.serialization) and atomic writes (deltagrad._files).

Round trips of nested objects, the exact path, atomicity under SIGKILL at a paused moment of
the write, hostile and corrupt headers (checked before any tensor is allocated), old .npz
files, and interop with the safetensors package and torch.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import tracemalloc
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import deltagrad
from deltagrad import _files
from deltagrad.serialization import load, save
from deltagrad.tensor import Tensor

RNG = np.random.default_rng(1234)


def _arrays():
    return {
        "f32": RNG.standard_normal((3, 5)).astype(np.float32),
        "f64": RNG.standard_normal(7),
        "i64": RNG.integers(-(2**62), 2**62, size=(2, 3), dtype=np.int64),
        "i32": RNG.integers(-1000, 1000, size=4, dtype=np.int32),
        "u8": RNG.integers(0, 255, size=(1, 1, 3), dtype=np.uint8),
        "f16": RNG.standard_normal(3).astype(np.float16),
        "bool": RNG.random(5) > 0.5,
        "zero_d": np.array(RNG.standard_normal()),
        "empty": np.empty((0, 4), dtype=np.float32),
        "empty_i": np.empty(0, dtype=np.int64),
    }


def _assert_same(a, b, where="obj"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, Tensor):
        assert a.requires_grad == b.requires_grad, where
        a, b = a.data, b.data
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
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"
        if isinstance(a, np.generic):
            assert a.dtype == b.dtype, where


def _raw(path, header, data=b"", pad=True):
    """Write a safetensors file by hand: header dict, then data."""
    raw = json.dumps(header).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    Path(path).write_bytes(len(raw).to_bytes(8, "little") + raw + data)


# ---- round trips ---------------------------------------------------------------------------


def test_round_trip_of_every_dtype_and_shape(tmp_path):
    obj = _arrays()
    p = tmp_path / "arrays.safetensors"
    save(obj, p)
    _assert_same(obj, load(p))


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    w = Tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    rng_state = np.random.default_rng(7).bit_generator.state
    obj = {
        "model": OrderedDict([("fc1.weight", w), ("fc1.bias", Tensor(np.zeros(4)))]),
        "optimizer": {
            "state": {0: {"step": np.int64(12), "exp_avg": RNG.standard_normal((4, 3))}, 1: {}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "name": None}],
        },
        "epoch": 5,
        "history": {"loss": [0.5, 0.25, float("nan"), float("inf")], "big": 2**100},
        "rng": rng_state,
        "flags": (True, False),
        "arrays": [np.arange(3), [np.ones(2, np.float32), "x"]],
        "scalars": [np.float32(0.1), np.bool_(True), np.uint64(2**64 - 1)],
        "empty": {},
        "text": "héllo",
    }
    p = tmp_path / "ckpt"
    save(obj, p)
    back = load(p)
    _assert_same(obj, back)
    assert isinstance(back["model"], OrderedDict) and back["model"]["fc1.weight"].requires_grad
    g = np.random.default_rng()
    g.bit_generator.state = back["rng"]
    np.testing.assert_array_equal(g.random(3), np.random.default_rng(7).random(3))


def test_non_native_byte_order_and_strided_arrays(tmp_path):
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    strided = np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2].T
    p = tmp_path / "x.st"
    save({"big": big, "strided": strided}, p)
    back = load(p)
    np.testing.assert_array_equal(back["big"], big)
    np.testing.assert_array_equal(back["strided"], strided)
    assert back["big"].dtype == np.float64 and back["big"].dtype.isnative
    assert back["big"].flags.writeable and back["strided"].flags.c_contiguous


def test_exact_path_no_suffix_and_no_litter(tmp_path):
    p = tmp_path / "model.bin"
    save({"w": np.ones(3)}, str(p))
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    np.testing.assert_array_equal(load(str(p))["w"], np.ones(3))
    save({"w": np.zeros(2)}, p)  # overwrite, pathlib
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    np.testing.assert_array_equal(load(p)["w"], np.zeros(2))


def test_new_file_gets_ordinary_permissions_and_symlinks_are_kept(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    p = tmp_path / "m.st"
    save({"w": np.ones(1)}, p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~mask
    link = tmp_path / "link.st"
    link.symlink_to(p)
    save({"w": np.full(2, 3.0)}, link)
    assert link.is_symlink()
    np.testing.assert_array_equal(load(p)["w"], np.full(2, 3.0))


def test_flat_state_dict_is_plain_safetensors_with_the_same_names(tmp_path):
    sd = {"fc1.weight": RNG.standard_normal((2, 3)), "fc1.bias": np.zeros(2, np.float32)}
    p = tmp_path / "sd.safetensors"
    save(sd, p)
    n = int.from_bytes(p.read_bytes()[:8], "little")
    header = json.loads(p.read_bytes()[8 : 8 + n])
    assert set(header) == {"__metadata__", "fc1.weight", "fc1.bias"}
    assert header["fc1.weight"]["dtype"] == "F64" and header["fc1.bias"]["dtype"] == "F32"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    assert n % 8 == 0


def test_file_without_deltagrad_metadata_loads_as_flat_arrays(tmp_path):
    a = RNG.standard_normal(3).astype(np.float32)
    p = tmp_path / "foreign.safetensors"
    _raw(p, {"b.x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, a.tobytes())
    back = load(p)
    assert list(back) == ["b.x"] and isinstance(back["b.x"], np.ndarray)
    np.testing.assert_array_equal(back["b.x"], a)


def test_old_npz_files_still_load_without_pickle(tmp_path):
    sd = {"fc.weight": RNG.standard_normal((2, 2)), "fc.bias": np.ones(2, np.float32)}
    p = tmp_path / "old.npz"
    np.savez(p, **sd)
    _assert_same(sd, load(p))
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    assert load(empty) == {}
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"load: .*pickled.npz.*without pickle"):
        load(pickled)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"load: .*broken.npz.*corrupt .npz"):
        load(broken)


# ---- atomicity -----------------------------------------------------------------------------


def test_an_error_inside_the_write_leaves_the_target_and_no_temp_file(tmp_path, monkeypatch):
    p = tmp_path / "m.st"
    save({"w": np.ones(3)}, p)
    before = p.read_bytes()

    def boom(path):
        assert path == str(p)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(_files, "_before_replace", boom)
    with pytest.raises(OSError, match="simulated"):
        save({"w": np.zeros(3)}, p)
    monkeypatch.setattr(_files, "_before_replace", None)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m.st"]
    with pytest.raises(RuntimeError, match="inside"):
        with _files.atomic_write(p) as f:
            f.write(b"partial")
            raise RuntimeError("inside the block")
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m.st"]
    with pytest.raises(TypeError, match="save: key 'w'"):  # bad value: nothing is written
        save({"w": {1, 2}}, p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m.st"]


def test_atomic_write_text_mode_and_bad_mode(tmp_path):
    p = tmp_path / "notes.txt"
    with _files.atomic_write(p, "w") as f:
        f.write("héllo\n")
    assert p.read_text(encoding="utf-8") == "héllo\n"
    with pytest.raises(ValueError, match="atomic_write: mode: expected 'wb' or 'w', got 'a'"):
        with _files.atomic_write(p, "a"):
            pass


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    from deltagrad import _files
    from deltagrad.serialization import save

    def pause(*args):
        print("paused", flush=True)
        time.sleep(120)

    moment = sys.argv[3]
    if moment == "before_fsync":  # the data is written but not yet on disk
        real = os.fsync
        def fsync(fd):
            pause()
            real(fd)
        os.fsync = fsync
    elif moment == "before_replace":  # fsynced, not yet renamed
        _files._before_replace = pause
    else:  # renamed, the directory not yet fsynced
        _files._fsync_dir = pause
    save({"w": np.full(50_000, 2.0), "epoch": 2}, sys.argv[1])
    """
)


@pytest.mark.parametrize("moment", ["before_fsync", "before_replace", "after_replace"])
def test_sigkill_inside_the_write_keeps_a_whole_file(tmp_path, moment):
    p = tmp_path / "ckpt.safetensors"
    old = {"w": np.full(50_000, 1.0), "epoch": 1}
    save(old, p)
    pkg_root = str(Path(deltagrad.__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(p), pkg_root, moment],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = proc.stdout.readline()
        assert line == b"paused\n", proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    back = load(p)
    if moment == "after_replace":
        assert back["epoch"] == 2 and np.all(back["w"] == 2.0)
        assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    else:
        _assert_same(old, back)
        litter = [n for n in os.listdir(tmp_path) if n != "ckpt.safetensors"]
        assert len(litter) == 1 and litter[0].startswith(".ckpt.safetensors.")
        assert re.fullmatch(rf"\.ckpt\.safetensors\.{proc.pid}\.[0-9a-f]{{8}}\.dgtmp", litter[0])
        save({"w": np.zeros(1), "epoch": 3}, p)  # the next write removes the dead process's file
        assert os.listdir(tmp_path) == ["ckpt.safetensors"]
        assert load(p)["epoch"] == 3


def test_temp_files_of_live_processes_are_left_alone(tmp_path):
    live = tmp_path / f".m.st.{os.getppid()}.abcd1234.dgtmp"
    live.write_bytes(b"x")
    other = tmp_path / ".m.st.notapid.dgtmp"
    other.write_bytes(b"x")
    save({"w": np.ones(1)}, tmp_path / "m.st")
    assert live.exists() and other.exists()


# ---- bad files -----------------------------------------------------------------------------


def _good(tmp_path):
    p = tmp_path / "good.st"
    save({"a": np.arange(4, dtype=np.float32), "b": {"c": np.ones(2)}, "n": 1}, p)
    return p


def test_truncated_file_names_the_key(tmp_path):
    p = _good(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[:-4])
    with pytest.raises(ValueError, match=r"load: .*good.st.*key 'a': data_offsets .* past the end"):
        load(p)
    p.write_bytes(data[:5])
    with pytest.raises(ValueError, match=r"load: .*shorter than the 8-byte header length"):
        load(p)
    p.write_bytes(data[:20])
    with pytest.raises(ValueError, match=r"load: .*header length \d+ exceeds the file size 20"):
        load(p)


@pytest.mark.parametrize(
    "header,match",
    [
        ("not json", "not valid UTF-8 JSON"),
        ("[1, 2]", "JSON list, expected an object"),
        ("[" * 100_000, "not valid UTF-8 JSON"),
        ('{"x": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}', "shape must be"),
        ('{"x": 3}', "key 'x': expected {dtype, shape, data_offsets}"),
        (
            '{"x": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}',
            "key 'x': unsupported dtype",
        ),
        (
            '{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
            "key 'x': shape must be",
        ),
        (
            '{"x": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}',
            "key 'x': shape must be",
        ),
        (
            '{"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}',
            "key 'x': data_offsets must",
        ),
        (
            '{"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 8]}}',
            r"key 'x': shape \(2, 3\) of dtype F32 needs 24 bytes but data_offsets \[0, 8\] hold 8",
        ),
        (
            '{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
            '"y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
            "keys 'x' and 'y': their data_offsets overlap",
        ),
        ('{"__metadata__": {"a": 1}}', "key '__metadata__': expected an object of string values"),
        (
            '{"__metadata__": {"deltagrad": "{"}}',
            "key '__metadata__': the deltagrad structure is not JSON",
        ),
        (
            '{"__metadata__": {"deltagrad": "{\\"version\\": 99, \\"tree\\": 1}"}}',
            "unsupported deltagrad structure",
        ),
        (
            '{"__metadata__": {"deltagrad": "{\\"version\\": 1, \\"tree\\": {\\"zz\\": 1}}"}}',
            "key '<root>': unknown node",
        ),
        (  # -1 as uint8 was NumPy's bare OverflowError
            '{"__metadata__": {"deltagrad": "{\\"version\\": 1, \\"tree\\": {\\"d\\": '
            '[[\\"epoch\\", {\\"s\\": -1, \\"dt\\": \\"uint8\\"}]]}}"}}',
            "key 'epoch': numpy scalar -1 does not fit its dtype uint8",
        ),
    ],
)
def test_corrupt_or_hostile_header_is_a_clear_error(tmp_path, header, match):
    p = tmp_path / "bad.st"
    raw = header.encode()
    p.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(8))
    with pytest.raises(ValueError, match=match):
        load(p)


def test_huge_shape_in_a_tiny_file_allocates_nothing(tmp_path):
    p = tmp_path / "hostile.st"
    big = 2**40
    _raw(p, {"w": {"dtype": "F64", "shape": [big, big], "data_offsets": [0, 8]}}, bytes(8))
    q = tmp_path / "hostile2.st"
    _raw(q, {"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, bytes(8))
    r = tmp_path / "hostile3.st"
    r.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"key 'w': shape \(1099511627776, 1099511627776\)"):
            load(p)
        with pytest.raises(ValueError, match="key 'w': data_offsets .* past the end"):
            load(q)
        with pytest.raises(ValueError, match="header length"):
            load(r)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def _rewrite(p, edit):
    """Apply edit(header, structure) to a deltagrad file's header, keeping the data."""
    data = Path(p).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    tree = json.loads(header["__metadata__"]["deltagrad"])
    edit(header, tree)
    header["__metadata__"]["deltagrad"] = json.dumps(tree)
    _raw(p, header, data[8 + n :])


def test_missing_or_unlisted_tensor_is_an_error_naming_the_key(tmp_path):
    p = _good(tmp_path)
    _rewrite(p, lambda h, t: h.pop("b.c"))
    with pytest.raises(ValueError, match=r"load: .*good.st.*key 'b.c': tensor 'b.c' is missing"):
        load(p)
    p = _good(tmp_path)
    _rewrite(p, lambda h, t: t["tree"]["d"].pop(0))
    with pytest.raises(ValueError, match="key 'a': a tensor the deltagrad structure does not list"):
        load(p)
    p = _good(tmp_path)

    def twice(h, t):
        t["tree"]["d"][2][1] = {"a": "a", "k": "n"}

    _rewrite(p, twice)
    with pytest.raises(ValueError, match="key 'n': tensor 'a' is referenced twice"):
        load(p)


def test_mis_shaped_tensor_is_an_error_naming_the_key(tmp_path):
    p = _good(tmp_path)

    def reshape(h, t):
        h["a"]["shape"] = [5]

    _rewrite(p, reshape)
    with pytest.raises(ValueError, match=r"key 'a': shape \(5,\) of dtype F32 needs 20 bytes"):
        load(p)


# ---- bad input to save / load --------------------------------------------------------------


@pytest.mark.parametrize(
    "obj,exc,match",
    [
        (np.ones(2), TypeError, "save: obj: expected a dict"),
        ({1.5: np.ones(1)}, TypeError, "save: key '1.5': dict keys must be str or int"),
        ({"a": {"b": object()}}, TypeError, "save: key 'a.b': cannot save a object"),
        ({"a": np.array(["s"])}, TypeError, "save: key 'a': arrays of dtype <U1 cannot be saved"),
        ({"a": np.ones(2, complex)}, TypeError, "save: key 'a': arrays of dtype complex128"),
        ({"a": np.complex64(1)}, TypeError, "save: key 'a': numpy scalars of dtype complex64"),
        (
            {"a.b": np.ones(1), "a": {"b": np.ones(1)}},
            ValueError,
            "both flatten to the tensor name 'a.b'",
        ),
        ({"__metadata__": np.ones(1)}, ValueError, "'__metadata__' is reserved"),
    ],
)
def test_save_bad_input(tmp_path, obj, exc, match):
    p = tmp_path / "x.st"
    with pytest.raises(exc, match=match):
        save(obj, p)
    assert not p.exists() and os.listdir(tmp_path) == []


def test_save_cycle_and_bad_paths(tmp_path):
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match="save: key 'a.0': the object contains itself"):
        save(loop, tmp_path / "x")
    with pytest.raises(TypeError, match="save: path: expected a str or os.PathLike, got int"):
        save({}, 3)
    with pytest.raises(TypeError, match="load: path: expected a str or os.PathLike, got NoneType"):
        load(None)
    with pytest.raises(FileNotFoundError):
        save({"a": np.ones(1)}, tmp_path / "no" / "such" / "dir.st")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.st")


# ---- interop with safetensors and torch ----------------------------------------------------


def test_dg_save_loads_in_safetensors_numpy_and_torch(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = _arrays()
    sd = {f"layer.{k}": v for k, v in arrays.items()}
    sd["layer.tensor"] = Tensor(RNG.standard_normal((2, 2)))
    p = tmp_path / "dg.safetensors"
    save(sd, p)
    got = st_numpy.load_file(str(p))
    assert set(got) == set(sd)
    for k, v in sd.items():
        ref = v.data if isinstance(v, Tensor) else v
        assert got[k].dtype == ref.dtype and got[k].shape == ref.shape, k
        np.testing.assert_array_equal(got[k], ref)
    pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    got_t = st_torch.load_file(str(p))
    for k, v in sd.items():
        ref = v.data if isinstance(v, Tensor) else v
        np.testing.assert_array_equal(got_t[k].numpy(), ref)
        assert got_t[k].numpy().dtype == ref.dtype, k


def test_torch_model_saved_by_safetensors_loads_with_dg_load(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    extra = {
        "f64": torch.randn(3, 1, dtype=torch.float64),
        "i64": torch.arange(4),
        "bool": torch.tensor([True, False]),
        "bf16": torch.randn(3).to(torch.bfloat16),
        "scalar": torch.tensor(2.5),
    }
    sd = {**model.state_dict(), **extra}
    p = tmp_path / "torch.safetensors"
    st_torch.save_file(sd, str(p), metadata={"format": "pt"})
    back = load(p)
    assert set(back) == set(sd)
    for k, v in sd.items():
        ref = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        assert isinstance(back[k], np.ndarray) and back[k].dtype == ref.dtype, k
        np.testing.assert_array_equal(back[k], ref)


# ---- Module.load checks the file's header against the module before reading ------------------


def _npz_with_member(path, name, shape, dtype="<f8"):
    """A small .npz (deflated zeros) whose member `name` holds an array of `shape`: np.load
    would allocate all of it before anyone compared the name or shape with the model."""
    import zipfile

    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name + ".npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": dtype, "fortran_order": False, "shape": shape}
            )
            chunk = bytes(1 << 20)
            for _ in range(nbytes >> 20):
                fh.write(chunk)
            fh.write(bytes(nbytes & ((1 << 20) - 1)))
    return path


@pytest.mark.parametrize(
    "name,shape,match",
    [
        ("file", (4000, 4000), "Unexpected key"),  # a name the model does not have
        ("weight", (4000, 4000), "size mismatch"),  # the right name, a huge wrong shape
    ],
)
def test_module_load_checks_the_header_before_reading(tmp_path, name, shape, match):
    path = _npz_with_member(str(tmp_path / "m.npz"), name, shape)
    assert os.path.getsize(path) < 1 << 20  # 128 MB of data in a file under 1 MB
    model = deltagrad.nn.Linear(3, 2)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    tracemalloc.start()
    try:
        with pytest.raises((RuntimeError, KeyError, ValueError), match=match):
            model.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"allocated {peak} bytes before refusing"
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_module_load_refuses_a_lying_npz_header(tmp_path):
    path = _npz_with_member(str(tmp_path / "m.npz"), "weight", (2, 3))
    import zipfile

    with zipfile.ZipFile(path) as zf:
        data = zf.read("weight.npy")
    bad = str(tmp_path / "bad.npz")
    with zipfile.ZipFile(bad, "w") as zf:  # header says (2, 3), the member holds (1, 3)
        zf.writestr("weight.npy", data[: len(data) - 24])
    with pytest.raises(ValueError, match="'weight'.*header says"):
        deltagrad.nn.Linear(3, 2).load(bad)


def test_module_load_safetensors_checked_before_reading(tmp_path):
    path = str(tmp_path / "w.safetensors")
    save({"weight": np.zeros((5, 3)), "bias": np.zeros(5)}, path)
    model = deltagrad.nn.Linear(3, 2)
    before = model.weight.data.copy()
    seen = []
    orig = deltagrad.serialization._read_into

    def spy(*a, **k):
        seen.append(a[-1])
        return orig(*a, **k)

    deltagrad.serialization._read_into = spy
    try:
        with pytest.raises(RuntimeError, match="size mismatch"):
            model.load(path)
    finally:
        deltagrad.serialization._read_into = orig
    assert seen == []  # no tensor was read
    np.testing.assert_array_equal(model.weight.data, before)
