"""Shared fixtures: seeded random data, the devices available to this build and the CPU's ISAs.

`device`: a test that takes it runs once per deltagrad.testing.available_devices() ("cpu",
"simt": the CUDA kernels run by the SIMT emulator, "cuda" with a GPU and cupy), inside
testing.device_context(device): dg.ops / Tensor ops on testing.to_device(x, device) inputs run
there; testing.to_numpy brings results back. simt cases carry the `simt` marker, cuda ones `cuda`.

`isa`: the CPU kernels capped at each ISA in turn (avx512, avx2, generic; skipped where the CPU
lacks it). A test taking both runs every ISA on "cpu" and once (isa None) on the other devices.

`@pytest.mark.per_device(shape={"cpu": [...], "simt": [...]})`: per-device values of an
argument (the emulator is slow: small shapes there); "cuda" takes "cpu"'s list unless given.
Several arguments at once: `@pytest.mark.per_device("shape,axis", {"cpu": [(s, a), ...], ...})`.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from deltagrad import testing

ISAS = ("avx512", "avx2", "generic")
_ORDER = {"generic": 0, "avx2": 1, "avx512": 2}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "per_device(**lists): per-device values of test arguments (see conftest)"
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only the collected tests whose id hashes to I mod N (0 <= I < N): N processes "
        "with I = 0..N-1 share one run between them (dev/sanitize.sh runs its tests this way)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.getoption("--shard")
    if spec is None:
        return
    try:
        i, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard: expected I/N (two integers), got {spec!r}") from None
    if not 0 <= i < n:
        raise pytest.UsageError(f"--shard: expected 0 <= I < N, got {spec!r}")
    # by a hash of the test's id, not every N-th test: a parametrized test's last axis often
    # has N values (two dtypes, two thread counts), and every N-th test put all the float64 or
    # all the 2-thread cases in one shard (seen: 702 s against 443 s under ASan)
    shard = [zlib.crc32(t.nodeid.encode()) % n for t in items]
    config.hook.pytest_deselected(items=[t for t, s in zip(items, shard) if s != i])
    items[:] = [t for t, s in zip(items, shard) if s == i]


def _parametrized(metafunc: pytest.Metafunc) -> set[str]:
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0]
        if isinstance(argnames, str):
            argnames = [a.strip() for a in argnames.split(",")]
        names.update(argnames)
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fixtures = metafunc.fixturenames
    if "device" not in fixtures:
        if "isa" in fixtures and "isa" not in _parametrized(metafunc):
            metafunc.parametrize("isa", ISAS, indirect=True)
        return
    if "device" in _parametrized(metafunc):
        return
    lists: list[tuple[list[str], dict[str, list]]] = []
    for mark in metafunc.definition.iter_markers("per_device"):
        lists += [([name], per_dev) for name, per_dev in mark.kwargs.items()]
        if mark.args:
            lists.append(([a.strip() for a in mark.args[0].split(",")], mark.args[1]))
    with_isa = "isa" in fixtures
    argnames = ["device"] + (["isa"] if with_isa else []) + [n for names, _ in lists for n in names]
    rows = []
    for dev in testing.available_devices():
        marks = [getattr(pytest.mark, dev)] if dev in ("simt", "cuda") else []
        combos: list[list] = [[dev]]
        if with_isa:
            combos = [c + [isa] for c in combos for isa in (ISAS if dev == "cpu" else (None,))]
        for names, per_dev in lists:
            values = per_dev.get(dev, per_dev["cpu"] if dev == "cuda" else None)
            if values is None:
                raise ValueError(f"per_device({','.join(names)}): no list for device {dev!r}")
            combos = [c + (list(v) if len(names) > 1 else [v]) for c in combos for v in values]
        for c in combos:
            ids = [str(v) for v in c if v is not None]
            rows.append(pytest.param(*c, marks=marks, id="-".join(ids)))
    metafunc.parametrize(argnames, rows, indirect=["device"] + (["isa"] if with_isa else []))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def device(request: pytest.FixtureRequest):
    """The device the test runs on, with testing.device_context(device) entered."""
    with testing.device_context(request.param):
        yield request.param


@pytest.fixture
def isa(request: pytest.FixtureRequest):
    """Run the test with the CPU kernels capped at request.param (skipped where the CPU lacks
    it), restoring the previous cap afterwards; None (a non-CPU device): nothing to cap."""
    if request.param is None:
        yield None
        return
    from deltagrad import _cpu

    old = _cpu.active_isa()
    if _ORDER[request.param] > _ORDER[_cpu.detected_isa()]:
        pytest.skip(f"this CPU has no {request.param}")
    _cpu.set_active_isa(request.param)
    try:
        yield request.param
    finally:
        _cpu.set_active_isa(old)
