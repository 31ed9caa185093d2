"""A simulated machine's license handed to a real client and back (``rdplic client export``
and ``import``): it only works because the ``freerdp`` and ``rdesktop`` presets derive
their hardware ids as the real clients do (docs: README "rdplic client")."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rdp_clients import license_file, run_client
from serve_process import ROOT, Server, rdplic, require

NAME = "SIMPC"


def _client(*args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "rdplic.cli.main", "client", *args, "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _outcomes(server: Server, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(server.outcomes()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.outcomes()


@pytest.mark.parametrize(("client", "fmt"), [("xfreerdp", "freerdp"), ("rdesktop", "rdesktop")])
def test_license_goes_to_the_real_client_and_back(
    client: str, fmt: str, start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """Exported: the real client presents it and is upgraded; imported back: valid client."""
    require(client)
    # rdesktop offers TLS whatever it is told: an RDP-only server keeps both on RDP security
    server = start_server("--security", "rdp")
    rdplic(server.state_dir, "keypack", "add", "--type", "per-device", "--count", "2")
    target = f"127.0.0.1:{server.port}"
    security = ("--security", "rdp")
    machine = tmp_path / "machine"
    issued = _client(
        target, *security, "--machine-dir", str(machine), "--name", NAME, "--platform", fmt
    )
    assert (issued["outcome"], issued["temporary"]) == ("new_license", True)

    home = tmp_path / "home"
    cal = license_file(client, home, NAME)
    _client("export", "--format", fmt, "--machine-dir", str(machine), "--to", str(cal.parent))
    assert cal.exists()
    exported = cal.read_bytes()
    run = run_client(
        client, server.port, "rdp", home, display=display, client_name=NAME, timeout=30
    )
    assert cal.read_bytes() != exported, str(run)
    real = _outcomes(server, 2)[1]
    assert (real["outcome"], real["temporary"]) == ("upgraded", False), real
    assert real["hwid"] == issued["hwid"]  # the same device, as the server sees it

    back = tmp_path / "back"
    _client("import", str(cal), "--format", fmt, "--machine-dir", str(back))
    again = _client(target, *security, "--machine-dir", str(back))
    assert again["presented_license"] and again["outcome"] == "valid_client", again
    assert again["hwid"] == issued["hwid"]
