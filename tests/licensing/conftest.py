"""Fixtures for the license service: a real SQLite store, a fixed clock, a fake signer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from ls_helpers import T0, FakeSigner, Harness, HarnessFactory

from rdplic.licensing import FixedClock, HostConfig, LicensePolicy
from rdplic.store import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh store; every test ends with the store passing its integrity check."""
    s = SqliteStore(tmp_path / "licenses.sqlite3")
    yield s
    assert s.check_integrity() == []
    s.close()


@pytest.fixture
def make_harness(store: SqliteStore) -> HarnessFactory:
    """``make_harness(windows_version="2019", ...)``: a policy with that HostConfig at T0."""

    def factory(seed: int = 7, **config: object) -> Harness:
        signer = FakeSigner()
        host = HostConfig(**config)  # type: ignore[arg-type]
        policy = LicensePolicy(store, signer, random.Random(seed), config=host)
        return Harness(policy, FixedClock(T0), signer)

    return factory
