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

Both clients derive their HWID from the client name (rdesktop ``-n``: PlatformId 2 and the
name's bytes; xfreerdp ``/client-hostname``: 0x04010000 and MD5 of the name) and keep the
HWID nowhere else, so deleting the license file alone keeps the device known to the server
(R23), while a Windows client that loses its MSLicensing key also gets a new ClientHWID
(R72, R73): the tests show that case by changing the client name as well.

Every client run has a hard timeout (CLIENT_TIMEOUT), and all the runs of a session share
MODULE_BUDGET; the module takes about a minute.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rdp_clients import CLIENTS, ClientRun, license_file, run_client
from serve_process import Server, rdplic, require

CLIENT_TIMEOUT = 20.0  # hard limit of one client run (each takes 0.1-2.5 s)
MODULE_BUDGET = 180.0  # hard limit of all the client runs of a session (about 50 s in all)
CLIENT_NAME = "LABCLIENT"
NEW_CLIENT_NAME = "LABCLIENT2"  # the same machine after its MSLicensing key was deleted
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

_RDESKTOP_LICENSING = re.compile(r"(sending|processing) licensing PDU \(message type (0x..)\)")
_budget_ends: list[float] = []  # set by the first client run


def _connect(
    client: str,
    security: str,
    server: Server,
    home: Path,
    display: str,
    client_name: str = CLIENT_NAME,
) -> ClientRun:
    """One client run, killed after CLIENT_TIMEOUT or when the module's budget is spent."""
    if not _budget_ends:
        _budget_ends.append(time.monotonic() + MODULE_BUDGET)
    remaining = _budget_ends[0] - time.monotonic()
    if remaining <= 0:
        pytest.fail(f"the interop tests' client runs took more than {MODULE_BUDGET:.0f} s")
    run = run_client(
        client,
        server.port,
        security,
        home,
        display=display,
        timeout=min(CLIENT_TIMEOUT, remaining),
        client_name=client_name,
        log_path=_next_log(home, client),
    )
    assert not run.timed_out, str(run)
    return run


def _next_log(home: Path, client: str) -> Path:
    """home-CLIENT-1.log, -2.log, ...: one log per run, kept for a failing test's report."""
    runs = len(list(home.parent.glob(f"{home.name}-{client}-*.log")))
    return home.parent / f"{home.name}-{client}-{runs + 1}.log"


def _rdesktop_licensing(run: ClientRun) -> list[str]:
    """The licensing message types rdesktop sent (">0x13") and processed ("<0x03"), in order;
    only rdesktop logs them (RDESKTOP_DEBUG=Protocol)."""
    return [
        (">" if match.group(1) == "sending" else "<") + match.group(2)
        for match in _RDESKTOP_LICENSING.finditer(run.log)
    ]


def _json(server: Server, *command: str) -> Any:
    return json.loads(rdplic(server.state_dir, *command, "--json").stdout)


def _licenses(server: Server) -> list[dict[str, Any]]:
    listed = _json(server, "license", "list")
    assert isinstance(listed, list)
    return listed


def _history(server: Server, *filters: str) -> list[tuple[str, int | None, str]]:
    """``rdplic history``: (event, license id, hwid) of the licensing events."""
    events = _json(server, "history", *filters)
    return [
        (e["event"], e["license_id"], e["hwid"])
        for e in events
        if e["event"] not in ("keypack-installed", "clock-changed", "config-changed")
    ]


def _add_cals(server: Server, count: int = 5) -> int:
    """Install ``count`` per-device CALs; the key pack's id."""
    pack = _json(server, "keypack", "add", "--type", "per-device", "--count", str(count))
    return int(pack["key_pack_id"])


def _key_pack(server: Server, key_pack_id: int) -> dict[str, Any]:
    packs = _json(server, "keypack", "list")
    return next(p for p in packs if p["key_pack_id"] == key_pack_id)


def _temporary_then_permanent(
    client: str, server: Server, home: Path, display: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Connections 1 and 2 of a device (CALs installed): its temporary and permanent CAL."""
    _connect(client, "tls", server, home, display)
    _connect(client, "tls", server, home, display)
    outcomes = _outcomes(server, 2)
    assert [e["outcome"] for e in outcomes] == ["new_license", "upgraded"], outcomes
    return outcomes[0], outcomes[1]


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
    assert first["outcome"] == "new_license" and first["temporary"] is True, first
    assert first["security"] == security
    assert store.exists(), f"{client} did not store its license"
    temporary_blob = store.read_bytes()

    run = _connect(client, security, server, home, display)
    second = _outcomes(server, 2)[-1]
    assert second["outcome"] == "upgraded" and second["temporary"] is False, second
    assert store.read_bytes() != temporary_blob, "the permanent CAL did not replace the temporary"

    run = _connect(client, security, server, home, display)
    third = _outcomes(server, 3)[-1]
    assert third["outcome"] == "valid_client", third
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
        "new_license",
        "upgraded",
        "valid_client",
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_deleted_license_file_gets_the_devices_cal_back(
    client: str, start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """Deleted CAL file, same HWID: a New License Request gets the same permanent CAL (R23)."""
    require(client)
    server = start_server()
    _add_cals(server)
    home = tmp_path / "home"
    store = license_file(client, home, CLIENT_NAME)
    first, second = _temporary_then_permanent(client, server, home, display)
    permanent_blob = store.read_bytes()

    store.unlink()  # KB 315262's "physically removing the TS CAL" from this client
    run = _connect(client, "tls", server, home, display)
    if client == "rdesktop":  # License Request, New License Request, challenge, New License
        assert _rdesktop_licensing(run) == ["<0x01", ">0x13", "<0x02", "<0x03"], str(run)
    third = _outcomes(server, 3)[-1]
    # Server New License answers only a Client New License Request (MS-RDPELE 3.2.5.5 case 6).
    assert third["outcome"] == "new_license", third
    assert third["hwid"] == first["hwid"], "the client's HWID did not survive the deletion"
    assert (third["license_id"], third["temporary"]) == (second["license_id"], False), third
    assert store.read_bytes() == permanent_blob, "R23: the same license bits come back"

    licenses = _licenses(server)
    assert [(lic["license_id"], lic["status"]) for lic in licenses] == [
        (int(first["license_id"]), "upgraded"),
        (int(second["license_id"]), "active"),
    ], licenses  # not listed twice
    assert _history(server) == [
        ("issued", int(first["license_id"]), first["hwid"]),
        ("issued", int(second["license_id"]), first["hwid"]),
        ("upgraded", int(first["license_id"]), first["hwid"]),
        ("resent", int(second["license_id"]), first["hwid"]),
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_deleted_license_file_and_new_hwid_is_a_new_device(
    client: str, start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """Deleted CAL and new HWID: a new temporary license; the old CAL stays issued (R73)."""
    require(client)
    server = start_server()
    key_pack_id = _add_cals(server)
    home = tmp_path / "home"
    old_store = license_file(client, home, CLIENT_NAME)
    first, second = _temporary_then_permanent(client, server, home, display)

    # Both clients derive the HWID from the client name (rdesktop -n, xfreerdp
    # /client-hostname): a new name is what a regenerated ClientHWID looks like.
    old_store.unlink()
    _connect(client, "tls", server, home, display, client_name=NEW_CLIENT_NAME)
    third = _outcomes(server, 3)[-1]
    assert third["outcome"] == "new_license" and third["temporary"] is True, third
    assert third["hwid"] != first["hwid"]
    assert third["license_id"] not in (first["license_id"], second["license_id"])
    assert license_file(client, home, NEW_CLIENT_NAME).exists()
    assert not old_store.exists()

    licenses = _licenses(server)
    assert [(lic["client_name"], lic["status"], lic["hwid"]) for lic in licenses] == [
        (CLIENT_NAME, "upgraded", first["hwid"]),
        (CLIENT_NAME, "active", first["hwid"]),  # still allocated until it expires
        (NEW_CLIENT_NAME, "temporary", third["hwid"]),
    ], licenses
    pack = _key_pack(server, key_pack_id)
    assert (pack["issued_count"], pack["available"]) == (1, 4), pack
    assert [event for event, _, _ in _history(server, "--hwid", first["hwid"])] == [
        "issued",
        "issued",
        "upgraded",
    ]
    assert _history(server, NEW_CLIENT_NAME) == [
        ("issued", int(third["license_id"]), third["hwid"])
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_without_cals_the_temporary_license_is_kept_then_refused_after_90_days(
    client: str, start_server: Callable[..., Server], display: str, tmp_path: Path
) -> None:
    """No CALs: the temporary license comes back each time; 91 days later a refusal (R30)."""
    require(client)
    server = start_server("--demand-active")
    home = tmp_path / "home"
    store = license_file(client, home, CLIENT_NAME)

    run = _connect(client, "tls", server, home, display)
    assert run.returncode == EXIT_DENIED, str(run)  # licensed, then disconnected
    first = _outcomes(server, 1)[-1]
    assert first["outcome"] == "new_license" and first["temporary"] is True, first
    temporary_blob = store.read_bytes()

    for count in (2, 3):
        run = _connect(client, "tls", server, home, display)
        assert run.returncode == EXIT_DENIED, str(run)
        again = _outcomes(server, count)[-1]
        # MS-RDPELE 3.2.5.5 case 4 (R30): the temporary license needs an upgrade, no CAL
        # can be issued, so the Server Upgrade License carries the old license back.
        assert again["outcome"] == "reissued", again
        if client == "rdesktop":  # License Information, challenge, Upgrade License
            assert _rdesktop_licensing(run) == ["<0x01", ">0x12", "<0x02", "<0x04"], str(run)
        assert (again["license_id"], again["temporary"]) == (first["license_id"], True)
        assert store.read_bytes() == temporary_blob
    license_id = int(first["license_id"])
    assert [(lic["license_id"], lic["status"]) for lic in _licenses(server)] == [
        (license_id, "temporary")
    ]
    assert _history(server) == [("issued", license_id, first["hwid"])]

    rdplic(server.state_dir, "clock", "advance", "91d")
    run = _connect(client, "tls", server, home, display)
    refused = _outcomes(server, 4)[-1]
    assert refused["outcome"] == "refused", refused
    assert "error 0x8" in refused["error"], refused  # ERR_INVALID_CLIENT
    if client == "rdesktop":
        assert run.returncode == EXIT_RDESKTOP_LIC_NOLICENSE, str(run)
        assert "License error alert from server: Invalid client" in run.log
    else:
        assert run.returncode == EXIT_XFREERDP_CONN_FAILED, str(run)
        assert "ERRINFO_LICENSE_NO_LICENSE" in run.log
        assert "license connection sequence aborted" in run.log
    assert [(lic["license_id"], lic["status"]) for lic in _licenses(server)] == [
        (license_id, "expired")
    ]
    assert _history(server) == [
        ("issued", license_id, first["hwid"]),
        ("expired", license_id, first["hwid"]),
        ("refused", None, first["hwid"]),
    ]
