"""rdesktop 1.9 and FreeRDP 2.11 licensed by ``rdplic serve`` over loopback.

What each client does at the end of a connection the server will not host (both keep a
session forever otherwise): xfreerdp 2.11 fails any connection that ends before its session
is active with exit status 131 (XF_EXIT_CONN_FAILED), whatever Set Error Info said; rdesktop
1.9 likewise exits 76 (EX_PROTOCOL) when the connection ends before a Demand Active.  With
``--demand-active`` the server goes through the capability exchange and finalization first,
and both then exit with the Set Error Info code: 7 (server denied the connection) after a
licensed connection, and rdesktop 18 (EXRD_LIC_NOLICENSE) after ERRINFO_LICENSE_NO_LICENSE.
xfreerdp 2.11 aborts as soon as it reads a licensing error with ST_TOTAL_ABORT (exit 131);
it logs the ERRINFO_LICENSE_* code the server sent before the error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rdp_clients import ClientRun, license_file, run_client
from serve_process import Server, rdplic, require

CLIENT_TIMEOUT = 20.0
EXIT_XFREERDP_CONN_FAILED = 131
EXIT_RDESKTOP_PROTOCOL = 76
EXIT_DENIED = 7  # ERRINFO_SERVER_DENIED_CONNECTION, same number in both clients
EXIT_RDESKTOP_LIC_NOLICENSE = 18

# (client, security asked by the test, serve options): rdesktop always offers TLS, so its
# Standard RDP Security case is a server that offers nothing else.
CASES = [
    ("xfreerdp", "rdp", ()),
    ("xfreerdp", "tls", ()),
    ("rdesktop", "rdp", ("--security", "rdp")),
    ("rdesktop", "tls", ()),
]
IDS = [f"{client}-{security}" for client, security, _ in CASES]


def _connect(client: str, security: str, server: Server, home: Path, display: str) -> ClientRun:
    run = run_client(
        client,
        server.port,
        security,
        home,
        display=display,
        timeout=CLIENT_TIMEOUT,
        log_path=home.parent / f"{home.name}-{client}.log",
    )
    assert not run.timed_out, str(run)
    return run


def _licenses(server: Server) -> list[dict[str, Any]]:
    listed = json.loads(rdplic(server.state_dir, "license", "list", "--json").stdout)
    assert isinstance(listed, list)
    return listed


def _outcomes(server: Server, count: int) -> list[dict[str, Any]]:
    """The first ``count`` summary lines, waiting for them: the server writes a connection's
    line when it has closed the socket, which can be after the client has exited (up to
    ``close_grace`` for a TLS client that does not answer close_notify)."""
    deadline = time.monotonic() + 10
    while True:
        outcomes = server.outcomes()
        if len(outcomes) >= count or time.monotonic() > deadline:
            assert len(outcomes) >= count, f"{len(outcomes)} of {count} connections logged"
            return outcomes[:count]
        time.sleep(0.05)


@pytest.mark.parametrize(("client", "security", "options"), CASES, ids=IDS)
def test_temporary_then_permanent_then_valid(
    client: str,
    security: str,
    options: tuple[str, ...],
    start_server: Callable[..., Server],
    display: str,
    tmp_path: Path,
) -> None:
    """First connection: temporary CAL stored by the client; second: upgraded to a permanent
    CAL; third: valid client; the license server's history shows exactly that."""
    require(client)
    server = start_server(*options)
    rdplic(server.state_dir, "keypack", "add", "--type", "per-device", "--count", "5")
    home = tmp_path / "home"
    store = license_file(client, home, "LABCLIENT")
    expected_exit = EXIT_XFREERDP_CONN_FAILED if client == "xfreerdp" else EXIT_RDESKTOP_PROTOCOL

    run = _connect(client, security, server, home, display)
    assert run.returncode == expected_exit, str(run)
    first = _outcomes(server, 1)[-1]
    assert first["outcome"] == "new-license" and first["temporary"] is True, first
    assert first["security"] == security
    assert store.exists(), f"{client} did not store its license"
    temporary_blob = store.read_bytes()

    run = _connect(client, security, server, home, display)
    second = _outcomes(server, 2)[-1]
    assert second["outcome"] == "upgraded" and second["temporary"] is False, second
    assert store.read_bytes() != temporary_blob, "the permanent CAL did not replace the temporary"

    run = _connect(client, security, server, home, display)
    third = _outcomes(server, 3)[-1]
    assert third["outcome"] == "valid-client", third
    assert third["license_id"] == second["license_id"]

    licenses = _licenses(server)
    assert [(lic["temporary"], lic["status"]) for lic in licenses] == [
        (True, "upgraded"),
        (False, "active"),
    ], licenses
    temporary, permanent = licenses
    assert temporary["upgraded_to"] == permanent["license_id"]
    assert temporary["hwid"] == permanent["hwid"] == first["hwid"]
    assert permanent["client_name"] == "LABCLIENT"
    assert [e["outcome"] for e in _outcomes(server, 3)] == [
        "new-license",
        "upgraded",
        "valid-client",
    ]


def test_deleting_the_license_file_makes_a_new_request(
    start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """Without its stored CAL the client asks for a new license again, and the server's
    history keeps the license it issued before (KB 315262: removing the CAL)."""
    require("xfreerdp")
    server = start_server()
    home = tmp_path / "home"
    store = license_file("xfreerdp", home, "LABCLIENT")
    _connect("xfreerdp", "tls", server, home, display)
    assert store.exists()
    before = _licenses(server)
    assert len(before) == 1

    store.unlink()
    _connect("xfreerdp", "tls", server, home, display)
    assert store.exists(), "the client did not store the license it got"
    outcomes = _outcomes(server, 2)
    assert [e["outcome"] for e in outcomes] == ["new-license", "new-license"]
    after = _licenses(server)
    assert before[0]["license_id"] in [lic["license_id"] for lic in after]


@pytest.mark.parametrize("client", ["xfreerdp", "rdesktop"])
def test_refused_after_the_temporary_license_expires(
    client: str, start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """Without CALs a device keeps its temporary license; 91 days later it is refused with
    ERR_INVALID_CLIENT and Set Error Info ERRINFO_LICENSE_NO_LICENSE, which the client
    reports (rdesktop's exit status 18; xfreerdp's log, exit status 131)."""
    require(client)
    server = start_server("--demand-active")
    home = tmp_path / "home"
    security = "tls"

    run = _connect(client, security, server, home, display)
    assert run.returncode == EXIT_DENIED, str(run)  # licensed, then disconnected
    assert _outcomes(server, 1)[-1]["temporary"] is True

    run = _connect(client, security, server, home, display)
    second = _outcomes(server, 2)[-1]
    assert second["outcome"] in ("reissued", "upgraded", "valid-client"), second
    assert second["temporary"] is True, "no CAL is installed: still temporary"

    rdplic(server.state_dir, "clock", "advance", "91d")
    run = _connect(client, security, server, home, display)
    refused = _outcomes(server, 3)[-1]
    assert refused["outcome"] == "refused", refused
    if client == "rdesktop":
        assert run.returncode == EXIT_RDESKTOP_LIC_NOLICENSE, str(run)
        assert "License error alert from server: Invalid client" in run.log
    else:
        assert run.returncode == EXIT_XFREERDP_CONN_FAILED, str(run)
        assert "ERRINFO_LICENSE_NO_LICENSE" in run.log
        assert "license connection sequence aborted" in run.log
    licenses = _licenses(server)
    assert all(lic["temporary"] for lic in licenses), licenses
