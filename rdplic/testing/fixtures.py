"""pytest fixtures that start ``rdplic serve`` for a test (plugin ``rdplic-serve``, registered
as a pytest11 entry point: installing rdplic is enough, no conftest).

- ``rdplic_serve(*options)``: a `ServeProcess` on a fresh state directory, stopped after the
  test. Every server of a session starts from a copy of one template directory, so the
  server's RSA keys and certificates are made once per session (a few seconds), and each
  server still has its own empty license store.
- ``rdplic_state_template``: that template (a state directory whose identity exists and
  whose store has never licensed anyone).

Example (README "A real server in your tests")::

    def test_my_client(rdplic_serve):
        server = rdplic_serve("--security", "rdp")
        run_my_client("127.0.0.1", server.port)
        assert server.outcomes()[0]["outcome"] == "new_license"
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rdplic.testing.serve import ServeProcess

__all__ = ["rdplic_serve", "rdplic_state_template"]


@pytest.fixture(scope="session")
def rdplic_state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with the server's keys and certificates, made once per session."""
    template = tmp_path_factory.mktemp("rdplic-state-template") / "state"
    server = ServeProcess(template)
    status = server.stop()
    if status != 0:
        raise RuntimeError(f"rdplic serve stopped with status {status}: {server.log_text()}")
    return template


@pytest.fixture
def rdplic_serve(
    tmp_path: Path, rdplic_state_template: Path
) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``rdplic serve OPTIONS...`` on a copy of the template; all stop after the test."""
    servers: list[ServeProcess] = []

    def start(*options: str, **keywords: Any) -> ServeProcess:
        state_dir = tmp_path / f"rdplic-state{len(servers)}"
        shutil.copytree(rdplic_state_template, state_dir)
        server = ServeProcess(state_dir, *options, **keywords)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
