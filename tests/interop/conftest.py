"""Fixtures of the interop tests: a shared Xvfb, and ``rdplic serve`` in its own process.

The tests need rdesktop, xfreerdp and Xvfb from Debian (``.ci/run`` installs them).  They are
skipped when one is missing, except under CI (``CI=true``), where a missing client fails.
Every server listens on 127.0.0.1 on a port the kernel picks, with its own state directory
copied from one made once per session (making the server's keys takes a few seconds).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rdp_clients import Xvfb
from serve_process import Server, require


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """One Xvfb display for every client of the session."""
    require("Xvfb")
    xvfb = Xvfb()
    try:
        yield xvfb.start()
    finally:
        xvfb.stop()


@pytest.fixture(scope="session")
def state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with the server's keys and certificates, made once."""
    template = tmp_path_factory.mktemp("state-template")
    server = Server(template / "state", template / "serve.log", ())
    server.stop()
    assert server.process.returncode == 0
    return template / "state"


@pytest.fixture
def start_server(tmp_path: Path, state_template: Path) -> Iterator[Callable[..., Server]]:
    """Start ``rdplic serve`` with extra options on a copy of the template state."""
    servers: list[Server] = []

    def start(*extra: str) -> Server:
        state_dir = tmp_path / f"state{len(servers)}"
        shutil.copytree(state_template, state_dir)
        server = Server(state_dir, tmp_path / f"serve{len(servers)}.log", extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
