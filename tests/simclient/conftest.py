"""Fixtures of the simulated-client tests: ``rdplic serve`` in its own process (the interop
tests' `Server`), on copies of one state directory made once per session, and the ``rdplic``
command run as a child process (the real entry point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from serve_process import ROOT, Server  # noqa: E402


def rdplic(*args: str, status: int | None = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``rdplic ARGS`` (``python -m rdplic.cli.main``); check its exit status."""
    command = [sys.executable, "-m", "rdplic.cli.main", *args]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if status is not None:
        assert result.returncode == status, f"{' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def rdplic_json(*args: str, status: int | None = 0) -> Any:
    """``rdplic ARGS --json``, parsed."""
    return json.loads(rdplic(*args, "--json", status=status).stdout)


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
