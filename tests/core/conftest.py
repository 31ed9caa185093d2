"""Fixtures of the licensing core tests: keys from fixed seeds, a licensing host per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from core_helpers import Keys, Lab, LabFactory, make_keys


@pytest.fixture(scope="session")
def keys() -> Keys:
    """The license server, terminal server and proprietary keys (512-bit, seeded)."""
    return make_keys()


@pytest.fixture(scope="session")
def other_keys() -> Keys:
    """Another license server's keys (licenses it issued are foreign to ``keys``)."""
    return make_keys(seed=200, name="WIN-ELSEWHERE01")


@pytest.fixture
def make_lab(tmp_path: Path, keys: Keys) -> Iterator[LabFactory]:
    """``make_lab(**host_config)``: a licensing host on a fresh SQLite store."""
    labs: list[Lab] = []

    def factory(**host: object) -> Lab:
        lab = Lab(tmp_path / f"lab{len(labs)}", keys, **host)
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(make_lab: LabFactory) -> Lab:
    """A Windows Server 2019 per-device host with five permanent CALs."""
    host = make_lab()
    host.add_cals(5)
    return host
