"""dg.device, dg.cuda, dg.compile, the deterministic-algorithms flag and dg.Generator against
torch 2.13 (round 37)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
from deltagrad.data import DataLoader, RandomSampler, TensorDataset, random_split

torch = pytest.importorskip("torch")

NO_CUDA = not dg.cuda.is_available()

# ---- dg.device ---------------------------------------------------------------------------------

GOOD = ["cpu", "cuda", "cuda:0", "cuda:7", "cpu:0", "cpu:1", "mps", "meta", "xpu:3", "cuda:127"]
BAD = ["", "cud", "CPU", "Cuda", "cuda:-1", "cuda:x", "cuda:0:1", " cpu", "cpu ", "cuda: 0",
       "cuda:01", "cuda:+1", "cuda:-0", "cuda:0x1", "cuda:1_0", "cuda:\u0661", "cuda:", ":0",
       "cuda:1.0", "cuda:99999999999999999999"]  # fmt: skip


@pytest.mark.parametrize("s", GOOD)
def test_device_parses_as_torch(s: str) -> None:
    d, t = dg.device(s), torch.device(s)
    assert (d.type, d.index) == (t.type, t.index)
    assert str(d) == str(t) and repr(d) == repr(t) and f"{d}" == f"{t}"
    assert torch.device(d) == t  # torch takes a dg.device (a str)
    assert dg.device(t) == d  # and deltagrad a torch.device


@pytest.mark.parametrize("s", BAD)
def test_device_string_errors_as_torch(s: str) -> None:
    with pytest.raises(RuntimeError) as want:
        torch.device(s)
    with pytest.raises(RuntimeError) as got:
        dg.device(s)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    "args", [("cuda", 0), ("cuda", 3), ("cpu", 0), ("cuda", None), ("cuda", 127)]
)
def test_device_type_and_index(args: tuple) -> None:
    d, t = dg.device(*args), torch.device(*args)
    assert (d.type, d.index, repr(d)) == (t.type, t.index, repr(t))
    kw = dg.device(type=args[0], index=args[1])
    assert kw == d


@pytest.mark.parametrize(
    "args, exc",
    [
        ((1.5,), TypeError),
        ((None,), TypeError),
        (("cpu", -1), RuntimeError),
        (("cuda:0", 1), RuntimeError),
        (("cuda", "1"), TypeError),
        (("cpu", True), TypeError),
        ((None, 0), TypeError),
        (("cuda", 1.0), TypeError),
        ((torch.device("cuda:0"), 1), TypeError),
    ],
)
def test_device_argument_errors_as_torch(args: tuple, exc: type) -> None:
    with pytest.raises(exc):
        torch.device(*args)
    with pytest.raises(exc, match="device|Device|type"):
        dg.device(*args)


def test_device_index_beyond_int8_raises() -> None:
    """torch wraps an index above 127 (its DeviceIndex is an int8); deltagrad raises."""
    for args in (("cuda:128",), ("cuda", 128), ("cuda", 2**40)):
        with pytest.raises(RuntimeError, match="at most 127"):
            dg.device(*args)


def test_device_from_int_without_accelerator() -> None:
    if not NO_CUDA:
        assert dg.device(0) == "cuda:0"
        return
    with pytest.raises(RuntimeError) as want:
        torch.device(0)
    with pytest.raises(RuntimeError) as got:
        dg.device(0)
    assert str(got.value) == str(want.value)


def test_device_equality_and_hash() -> None:
    cpu, cuda, cuda0 = dg.device("cpu"), dg.device("cuda"), dg.device("cuda:0")
    # as torch between devices
    pairs = [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda", 0), ("cpu", "cpu:0")]
    for p in pairs:
        a, b = dg.device(p[0]), dg.device(*p[1:]) if len(p) > 2 else dg.device(p[1])
        ta, tb = torch.device(p[0]), torch.device(*p[1:]) if len(p) > 2 else torch.device(p[1])
        assert (a == b) == (ta == tb) and (a != b) == (ta != tb)
        assert (hash(a) == hash(b)) == (ta == tb)
    # deltagrad's difference: a device equals its string (torch: False), both ways
    assert cpu == "cpu" and "cpu" == cpu and cuda == "cuda" and cuda0 == "cuda:0"
    assert cuda0 != "cuda" and cpu != "cuda" and cpu != 1 and cpu is not None
    assert {cpu: 1}["cpu"] == 1 and {"cuda:0": 2}[cuda0] == 2
    assert cpu in ("cpu", "cuda") and cuda in ("cpu", "cuda") and cuda0 not in ("cpu", "cuda")
    assert dg.device(cpu) is cpu  # immutable: the same object back
    with pytest.raises(AttributeError):
        cpu.type = "cuda"  # type: ignore[misc]


def test_device_pickles_and_copies() -> None:
    for s in ("cpu", "cuda:1"):
        d = dg.device(s)
        for e in (pickle.loads(pickle.dumps(d)), copy.copy(d), copy.deepcopy(d)):
            assert type(e) is dg.device and e == d and repr(e) == repr(d)


def test_device_is_accepted_where_its_string_is() -> None:
    cpu = dg.device("cpu")
    x = dg.tensor([1.0, 2.0], device=cpu)
    assert x.device == "cpu" and x.device == cpu
    for t in (
        dg.zeros(2, device=cpu),
        dg.randn(2, device=cpu),
        dg.as_tensor(np.ones(2), device=cpu),
        dg.Tensor(np.ones(2), device=cpu),
        x.to(cpu),
        x.to(cpu, dg.float64),
        x.to(device=cpu),
        x.to(dg.device("cpu", 0)),  # .to takes "cpu:0" strings, so their device too
        x.new_zeros(2, device=cpu),
    ):
        assert t.device == cpu
    m = nn.Linear(2, 3).to(cpu)
    assert m.weight.device == cpu and m.to(device=cpu) is m
    out = m(x.to(dg.float32))
    assert out.device == "cpu"


def test_torch_script_preamble() -> None:
    """The first line of most torch training scripts, with deltagrad."""
    device = dg.device("cuda" if dg.cuda.is_available() else "cpu")
    model = nn.Linear(3, 2).to(device)
    x = dg.randn(4, 3).to(device)
    assert model(x).device == device


def test_bad_device_to_site_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="device"):
        dg.zeros(2, device=dg.device("meta"))


# ---- dg.cuda without a GPU ---------------------------------------------------------------------


@pytest.mark.skipif(not NO_CUDA, reason="checks the behaviour without CUDA")
def test_cuda_without_gpu_matches_torch_cpu_build() -> None:
    assert dg.cuda.is_available() is torch.cuda.is_available() is False
    assert dg.cuda.device_count() == torch.cuda.device_count() == 0
    assert dg.cuda.is_initialized() is False
    for fn, args in [
        ("current_device", ()),
        ("get_device_name", ()),
        ("get_device_name", (0,)),
        ("synchronize", ()),
        ("synchronize", ("cuda",)),
        ("init", ()),
    ]:
        with pytest.raises(AssertionError):  # torch's CPU build
            getattr(torch.cuda, fn)(*args)
        with pytest.raises(AssertionError, match="not available"):
            getattr(dg.cuda, fn)(*args)
        with pytest.raises(RuntimeError, match="not available"):  # a CUDA build without GPU
            getattr(dg.cuda, fn)(*args)
    with pytest.raises(dg.cuda.CudaUnavailableError):
        dg.cuda.set_device(0)
    for fn in ("manual_seed", "manual_seed_all"):
        for seed in (3, -1, 2**70, 1.5, "7"):
            assert getattr(torch.cuda, fn)(seed) is None
            assert getattr(dg.cuda, fn)(seed) is None
        with pytest.raises(ValueError):
            getattr(torch.cuda, fn)("x")
        with pytest.raises(ValueError, match="seed"):
            getattr(dg.cuda, fn)("x")
    assert dg.cuda.empty_cache() is None and torch.cuda.empty_cache() is None
    assert dg.cuda.is_initialized() is False


def test_cuda_manual_seed_leaves_the_global_stream_alone() -> None:
    dg.manual_seed(5)
    a = dg.rand(3)
    dg.manual_seed(5)
    dg.cuda.manual_seed(123)
    dg.cuda.manual_seed_all(123)
    np.testing.assert_array_equal(dg.rand(3).numpy(), a.numpy())


@pytest.mark.skipif(NO_CUDA, reason="needs a GPU")
def test_cuda_with_gpu() -> None:  # pragma: no cover - runs on a GPU machine only
    n = dg.cuda.device_count()
    assert n >= 1 and 0 <= dg.cuda.current_device() < n
    assert isinstance(dg.cuda.get_device_name(), str) and dg.cuda.get_device_name(0)
    assert dg.cuda.get_device_name("cuda:0") == dg.cuda.get_device_name(dg.device("cuda"))
    with pytest.raises(ValueError, match="Expected a cuda device"):
        dg.cuda.get_device_name("cpu")
    with pytest.raises(AssertionError, match="Invalid device id"):
        dg.cuda.synchronize(n)
    x = dg.randn(1000, 100).to(dg.device("cuda"))
    y = (x * 2).sum()
    dg.cuda.synchronize()
    dg.cuda.set_device(0)
    assert dg.cuda.is_initialized() and x.device == "cuda"
    del x
    dg.cuda.empty_cache()
    assert np.isfinite(y.item())


# ---- dg.compile ----------------------------------------------------------------------------


def test_compile_returns_its_argument() -> None:
    m = nn.Linear(2, 2)

    def f(x: int) -> int:
        return x + 1

    assert dg.compile(m) is m and dg.compile(f) is f
    assert dg.compile(f, fullgraph=True, dynamic=False, backend="eager", mode="max-autotune") is f
    assert dg.compile(f, options={"a": 1}, disable=True, name="n", recompile_limit=3) is f

    @dg.compile
    def g(x: int) -> int:
        return 2 * x

    @dg.compile(mode="reduce-overhead")
    def h(x: int) -> int:
        return 3 * x

    assert g(2) == 4 and h(2) == 6 and h.__name__ == "h"
    assert "compile" not in dg.__all__  # `from deltagrad import *` keeps the builtin


# torch.compile's messages, copied from torch 2.13 (calling it loads dynamo: seconds, and
# DeprecationWarnings).
COMPILE_ERRORS = [
    (
        {"mode": "bogus"},
        "Unrecognized mode=bogus, should be one of: default, lite, reduce-overhead, "
        "max-autotune-no-cudagraphs, max-autotune",
    ),
    (
        {"mode": "max-autotune", "options": {"a": 1}},
        "Either mode or options can be specified, but both can't be specified at the same time.",
    ),
]


def test_compile_errors_as_torch() -> None:
    def f(x: int) -> int:
        return x

    for kw, msg in COMPILE_ERRORS:
        with pytest.raises(RuntimeError) as got:
            dg.compile(f, **kw)
        assert str(got.value) == msg
    with pytest.raises(AssertionError) as got:
        dg.compile(5)
    assert str(got.value) == "A callable function is expected, but <class 'int'> is provided."


# ---- deterministic algorithms ------------------------------------------------------------------


def test_deterministic_flag() -> None:
    assert dg.are_deterministic_algorithms_enabled() is False
    try:
        dg.use_deterministic_algorithms(True)
        assert dg.are_deterministic_algorithms_enabled() is True
        assert dg.is_deterministic_algorithms_warn_only_enabled() is False
        dg.use_deterministic_algorithms(True, warn_only=True)
        assert dg.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        dg.use_deterministic_algorithms(False)
    assert dg.are_deterministic_algorithms_enabled() is False
    assert dg.is_deterministic_algorithms_warn_only_enabled() is False
    for bad in (1, "x", None, 1.0):
        with pytest.raises(TypeError):
            torch.use_deterministic_algorithms(bad)
        with pytest.raises(TypeError, match="mode"):
            dg.use_deterministic_algorithms(bad)
    with pytest.raises(TypeError, match="warn_only"):
        dg.use_deterministic_algorithms(True, warn_only=1)
    assert dg.are_deterministic_algorithms_enabled() is False


# ---- dg.Generator ------------------------------------------------------------------------------


def test_global_seed_functions_as_torch() -> None:
    """dg.manual_seed / dg.seed / dg.initial_seed report the seeds torch's do; the global
    generator starts from an OS-drawn 64-bit seed (torch 2.13's default generator too), which
    initial_seed() names: reseeding with it replays the stream."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = "import deltagrad as dg; print(dg.initial_seed())"
    env_seeds = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(env_seeds) == 2  # two fresh processes, two seeds (as torch)
    for s in (-1, -(2**63), 0, 5, 2**64 - 1, np.int64(-7)):
        dg.manual_seed(s)
        torch.manual_seed(int(s))
        assert dg.initial_seed() == torch.initial_seed()
    s = dg.seed()
    assert 0 <= s < 2**64 and dg.initial_seed() == s
    first = dg.rand(5).numpy()
    dg.manual_seed(s)
    np.testing.assert_array_equal(dg.rand(5).numpy(), first)
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError, match="manual_seed"):
            dg.manual_seed(bad)


def test_generator_api_as_torch() -> None:
    g, t = dg.Generator(), torch.Generator()
    assert g.initial_seed() == t.initial_seed() == 67280421310721
    assert g.device == "cpu" and g.device.type == t.device.type
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    for seed in (-1, -(2**63), 2**64 - 1, 0, np.int64(9)):
        assert g.manual_seed(seed).initial_seed() == t.manual_seed(int(seed)).initial_seed()
    for bad in (1.5, "x", True, None):
        with pytest.raises(RuntimeError) as want:
            t.manual_seed(bad)
        with pytest.raises(RuntimeError) as got:
            g.manual_seed(bad)
        assert str(got.value) == str(want.value)
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError):
            t.manual_seed(bad)
        with pytest.raises(ValueError, match="seed"):
            g.manual_seed(bad)
    s = g.seed()
    assert isinstance(s, int) and 0 <= s < 2**64 and g.initial_seed() == s
    assert dg.Generator(device="cpu").device == dg.Generator("cpu:0").device == "cpu"
    assert dg.Generator(dg.device("cpu")).device == "cpu"


def test_generator_device_errors() -> None:
    with pytest.raises(RuntimeError, match="accelerator"):
        dg.Generator("meta")
    with pytest.raises(RuntimeError, match="Expected one of"):
        dg.Generator("bogus")
    if NO_CUDA:
        with pytest.raises(RuntimeError, match="CUDA"):
            dg.Generator("cuda")
    else:  # pragma: no cover
        assert dg.Generator("cuda").device == "cuda"


def test_generators_with_one_seed_draw_alike() -> None:
    a, b = dg.Generator().manual_seed(42), dg.Generator().manual_seed(42)
    x1, x2 = dg.randn(3, 5, generator=a), dg.randn(3, 5, generator=b)
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    np.testing.assert_array_equal(dg.rand(7, generator=a).numpy(), dg.rand(7, generator=b).numpy())
    np.testing.assert_array_equal(
        dg.randint(0, 10, (6,), generator=a).numpy(), dg.randint(0, 10, (6,), generator=b).numpy()
    )
    c = dg.Generator().manual_seed(43)
    assert not np.array_equal(dg.randn(3, 5, generator=c).numpy(), x1.numpy())
    # two fresh generators start alike (torch's default seed), the global stream is untouched
    dg.manual_seed(0)
    ref = dg.rand(4).numpy()
    dg.manual_seed(0)
    f1, f2 = dg.Generator(), dg.Generator()
    np.testing.assert_array_equal(f1.random(4), f2.random(4))
    np.testing.assert_array_equal(dg.rand(4).numpy(), ref)
    # a non-negative seed gives dg.manual_seed's stream
    np.testing.assert_array_equal(
        dg.Generator().manual_seed(11).random(5), dg.manual_seed(11).random(5)
    )


def test_generator_taken_by_every_generator_site() -> None:
    def draws(g: dg.Generator) -> list[np.ndarray]:
        w = dg.zeros(4, 3)
        nn.init.normal_(w, generator=g)
        ds = TensorDataset(dg.arange(10.0))
        order = list(RandomSampler(ds, generator=g))
        loader = [b[0].numpy() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g)]
        parts = [list(p.indices) for p in random_split(ds, [3, 7], generator=g)]
        return [w.numpy(), np.array(order), np.concatenate(loader), np.array(parts[0])]

    for a, b in zip(draws(dg.Generator().manual_seed(3)), draws(dg.Generator().manual_seed(3))):
        np.testing.assert_array_equal(a, b)


def test_generator_state_round_trip() -> None:
    g = dg.Generator().manual_seed(7)
    g.normal()  # mid-stream, and with a cached 32-bit half
    g.integers(0, 2**31, dtype=np.int32)
    st = g.get_state()
    assert st.dtype == np.uint8 and st.ndim == 1
    ahead = dg.randn(9, generator=g).numpy()
    g.manual_seed(100)
    assert g.set_state(st) is g and g.initial_seed() == 7
    np.testing.assert_array_equal(dg.randn(9, generator=g).numpy(), ahead)
    h = dg.Generator().set_state(st)
    np.testing.assert_array_equal(dg.randn(9, generator=h).numpy(), ahead)
    for other in (pickle.loads(pickle.dumps(h)), copy.deepcopy(h)):
        assert type(other) is dg.Generator and other.initial_seed() == 7
        np.testing.assert_array_equal(other.random(5), copy.deepcopy(h).random(5))


def test_generator_set_state_errors() -> None:
    g = dg.Generator().manual_seed(1)
    before = g.get_state().numpy().copy()
    with pytest.raises(TypeError, match="uint8 Tensor"):
        g.set_state([1, 2])
    with pytest.raises(TypeError, match="uint8"):
        g.set_state(dg.zeros(before.size))
    with pytest.raises(RuntimeError, match="size"):
        g.set_state(dg.tensor(np.zeros(3, np.uint8)))
    with pytest.raises(RuntimeError, match="size"):
        g.set_state(dg.tensor(before.reshape(2, -1)))
    bad = before.copy()
    bad[16] = 0  # an even PCG64 increment
    with pytest.raises(RuntimeError, match="PCG64"):
        g.set_state(dg.tensor(bad))
    np.testing.assert_array_equal(g.get_state().numpy(), before)
    for bad_arg in (None, 1.5):
        with pytest.raises(TypeError):
            torch.Generator().set_state(bad_arg)
        with pytest.raises(TypeError):
            g.set_state(bad_arg)
