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

import fcntl
import os
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
        "with I = 0..N-1 share one run between them, a fixed split",
    )
    parser.addoption(
        "--share",
        default=None,
        metavar="FILE",
        help="take the collected tests one at a time from a counter in FILE (an empty file, or "
        "missing): pytest processes given the same FILE and arguments share one run, each "
        "running the next test no other has taken (dev/sanitize.sh runs its tests this way)",
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


class _Tickets:
    """A counter shared by the pytest processes of one --share FILE: next() hands out 0, 1, 2...
    across all of them, each number once (an exclusive flock around read-increment-write). The
    file also holds the collection's size and a hash of its ids, so a process that collected
    different tests (other arguments) stops with an error instead of skipping or repeating."""

    def __init__(self, path: str, items: list[pytest.Item]):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.key = f"{len(items)} {zlib.crc32(chr(10).join(t.nodeid for t in items).encode())}"

    def next(self) -> int:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            text = os.pread(self.fd, 256, 0).decode().strip()
            key, _, count = text.rpartition(" ") if text else (self.key, "", "0")
            if key != self.key:
                raise pytest.UsageError(
                    f"--share: this process collected {self.key.split()[0]} tests, another "
                    f"sharing the file {key.split()[0]} (or different ones): same arguments?"
                )
            out = f"{self.key} {int(count) + 1}".encode()
            os.pwrite(self.fd, out, 0)
            return int(count)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """With --share FILE: pytest's own run loop, except that each test is the next one no other
    process has taken, so N processes finish within about one test of each other (a fixed split
    by hash left one shard 30% behind under ASan). Setup and teardown of the scoped fixtures
    follow pytest's rule: the next test this process will run is known before this one runs."""
    path = session.config.getoption("--share")
    if path is None or session.config.option.collectonly:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
    items = session.items
    tickets = _Tickets(path, items)
    j = tickets.next()
    while j < len(items):
        k = tickets.next()
        nextitem = items[k] if k < len(items) else None
        items[j].config.hook.pytest_runtest_protocol(item=items[j], nextitem=nextitem)
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        j = k
    return True


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
