"""Fixtures of the scale-out tests: a real PostgreSQL 15 cluster for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pgcluster import PgCluster, pg_available
from serving import Serve


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway cluster for the whole session (stopped and removed at its end)."""
    if not pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL 15 is not installed (.ci/run installs postgresql-15)")
        pytest.skip("PostgreSQL 15 is not installed")
    cluster = PgCluster.create()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return pg_cluster.new_database()


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    """Every `Serve` a test appends is stopped at its end, whatever happened."""
    started: list[Serve] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=30)
