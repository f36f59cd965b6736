"""Shared fixtures: seeded random data and the devices available to this build."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


ISAS = ("avx512", "avx2", "generic")


@pytest.fixture(params=ISAS)
def isa(request: pytest.FixtureRequest):
    """Run the test with the CPU kernels capped at each ISA in turn (skipped where the CPU lacks
    it), restoring the previous cap afterwards."""
    from deltagrad import _cpu

    old = _cpu.active_isa()
    order = {"generic": 0, "avx2": 1, "avx512": 2}
    if order[request.param] > order[_cpu.detected_isa()]:
        pytest.skip(f"this CPU has no {request.param}")
    _cpu.set_active_isa(request.param)
    try:
        yield request.param
    finally:
        _cpu.set_active_isa(old)
