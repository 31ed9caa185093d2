"""Several session hosts, one license server: two state directories on one PostgreSQL
database (as RD Session Hosts share an RD License Server)."""

from __future__ import annotations

from pathlib import Path

from serving import Serve, drive, history_kinds, rdplic, stored_licenses

from rdplic.identity import ServerIdentity


def test_a_cal_issued_through_one_host_is_valid_on_the_other(
    pg_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    """Hosts A and B (their own identities) share the database's license server: a device
    licensed through A is a valid client on B, and the history names A; a host with a
    license server of its own (SQLite) does not accept that CAL (it upgrades it)."""
    rdplic("keypack", "add", "--db", pg_url, "--type", "per-device", "--count", "5")
    a = Serve(tmp_path / "a", "--db", pg_url, "--first-license", "permanent")
    servers.append(a)
    b = Serve(tmp_path / "b", "--db", pg_url)
    servers.append(b)
    alone = Serve(tmp_path / "alone", "--first-license", "permanent")
    servers.append(alone)
    alone_dir = str(tmp_path / "alone")
    rdplic("keypack", "add", "--state-dir", alone_dir, "--type", "per-device", "--count", "5")
    try:
        report = drive([a.port, b.port, alone.port], 3)
    finally:
        for server in (a, b, alone):
            assert server.stop() == 0
    id_a = ServerIdentity.load(tmp_path / "a")
    id_b = ServerIdentity.load(tmp_path / "b")
    assert id_a.terminal_server_name != id_b.terminal_server_name
    stored = {sha for *_, sha in stored_licenses(pg_url)}
    for device in report["devices"]:
        on_a, on_b, on_alone = device["connections"]
        assert on_a["licensed"] and len(on_a["received"]) == 1, on_a
        assert on_a["received"][0] in stored  # what the client got is what was stored
        assert on_b["valid_client"] and on_b["received"] == [], on_b
        assert on_alone["licensed"] and "UpgradedLicenseReceived" in on_alone["kinds"], on_alone
    issued = [(kind, host) for kind, _, host in history_kinds(pg_url) if kind == "issued"]
    assert issued == [("issued", id_a.terminal_server_name)] * 3
    history = rdplic("history", "--db", pg_url)
    assert {e["session_host"] for e in history if e["event"] == "issued"} == {
        id_a.terminal_server_name
    }
    assert len(rdplic("license", "list", "--db", pg_url)) == 3
