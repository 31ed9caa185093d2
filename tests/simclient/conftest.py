"""Fixtures of the simulated-client tests: ``rdplic serve`` in its own process on copies of
one state directory made once per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sim_helpers import Server


@pytest.fixture(scope="session")
def sim_state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with the server's keys and certificates, made once."""
    template = tmp_path_factory.mktemp("sim-state-template")
    server = Server(template / "state", template / "serve.log", ())
    server.stop()
    assert server.process.returncode == 0
    return template / "state"


@pytest.fixture
def serve(tmp_path: Path, sim_state_template: Path) -> Iterator[Callable[..., Server]]:
    """Start ``rdplic serve`` with extra options on a copy of the template state."""
    servers: list[Server] = []

    def start(*extra: str) -> Server:
        state_dir = tmp_path / f"state{len(servers)}"
        shutil.copytree(sim_state_template, state_dir)
        server = Server(state_dir, tmp_path / f"serve{len(servers)}.log", extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
