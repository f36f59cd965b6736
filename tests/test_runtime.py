"""dg.__version__, dg.info(), thread control and seeding."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import deltagrad as dg


def test_version_in_one_place():
    """_version.py is the one source: the compiled module and the installed metadata agree."""
    from importlib import metadata

    from deltagrad import _cpu

    assert _cpu.__version__ == dg.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", dg.__version__)
    try:
        dist = metadata.distribution("deltagrad")
    except metadata.PackageNotFoundError:
        return  # imported from the source tree, nothing installed
    installed = pathlib.Path(dist.locate_file("deltagrad/__init__.py")).resolve()
    if installed == pathlib.Path(dg.__file__).resolve():
        assert dist.version == dg.__version__


def test_info_keys_and_types():
    facts = dg.info()
    for key in (
        "version",
        "cpu_isa",
        "num_threads",
        "cuda_compiled",
        "cuda_available",
        "cuda_device",
    ):
        assert key in facts
    assert facts["version"] == dg.__version__
    assert facts["cpu_isa"] in ("generic", "avx2", "avx512")
    assert facts["num_threads"] == dg.get_num_threads() >= 1
    assert isinstance(facts["cuda_compiled"], bool)
    assert facts["build"]["build_type"] and "-O" in facts["build"]["cxx_flags"]
    if not facts["cuda_available"]:
        assert facts["cuda_device"] is None


def test_set_num_threads_roundtrip():
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(1)
        assert dg.get_num_threads() == 1
        dg.set_num_threads(3)
        assert dg.get_num_threads() == 3
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize("bad", [0, -1])
def test_set_num_threads_rejects_below_one(bad):
    with pytest.raises(ValueError, match="n >= 1"):
        dg.set_num_threads(bad)


def test_set_num_threads_rejects_non_int():
    with pytest.raises(TypeError):
        dg.set_num_threads(2.5)


def test_manual_seed_reproducible():
    from deltagrad._random import get_rng

    dg.manual_seed(7)
    first = get_rng().random(5)
    dg.manual_seed(7)
    np.testing.assert_array_equal(first, get_rng().random(5))
    dg.manual_seed(8)
    assert not np.array_equal(first, get_rng().random(5))


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError):
        dg.this_does_not_exist  # noqa: B018


def test_cli_info_runs(capsys):
    from deltagrad.cli import main

    assert main(["info"]) == 0
    assert "cpu_isa" in capsys.readouterr().out
