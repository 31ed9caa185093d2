"""Several session hosts, one license server: two state directories on one PostgreSQL
database (as RD Session Hosts share an RD License Server)."""

from __future__ import annotations

from pathlib import Path

from serving import Serve, drive, history_kinds, rdplic, stored_licenses

from rdplic.identity import ServerIdentity


def test_a_cal_issued_through_one_host_is_accepted_by_the_other(
    pg_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    """Hosts A and B (their own identities) share the database's license server: a
    device's temporary license from A is upgraded to a permanent CAL by B (R29), which A
    then accepts as a valid client; the history names the host of each event.  A host
    with a license server of its own (SQLite) does not accept that CAL."""
    rdplic("keypack", "add", "--db", pg_url, "--type", "per-device", "--count", "5")
    a = Serve(tmp_path / "a", "--db", pg_url)
    servers.append(a)
    b = Serve(tmp_path / "b", "--db", pg_url)
    servers.append(b)
    alone = Serve(tmp_path / "alone")
    servers.append(alone)
    alone_dir = str(tmp_path / "alone")
    rdplic("keypack", "add", "--state-dir", alone_dir, "--type", "per-device", "--count", "5")
    try:
        report = drive([a.port, b.port, a.port, alone.port], 3)
    finally:
        for server in (a, b, alone):
            assert server.stop() == 0
    name_a = ServerIdentity.load(tmp_path / "a").terminal_server_name
    name_b = ServerIdentity.load(tmp_path / "b").terminal_server_name
    assert name_a != name_b
    stored = {sha for *_, sha in stored_licenses(pg_url)}
    for device in report["devices"]:
        first, on_b, again_a, on_alone = device["connections"]
        assert "NewLicenseReceived" in first["kinds"] and first["received"][0] in stored
        assert "UpgradedLicenseReceived" in on_b["kinds"], on_b
        assert on_b["received"][0] in stored and on_b["received"] != first["received"]
        assert again_a["valid_client"] and again_a["received"] == [], again_a
        assert "UpgradedLicenseReceived" in on_alone["kinds"] and not on_alone["valid_client"]
    issued = sorted(host for kind, _, host in history_kinds(pg_url) if kind == "issued")
    assert issued == sorted([name_a] * 3 + [name_b] * 3)
    history = rdplic("history", "--db", pg_url)
    assert {e["host"] for e in history if e["event"] == "issued"} == {name_a, name_b}
    licenses = rdplic("license", "list", "--db", pg_url)
    assert sorted(lic["status"] for lic in licenses) == ["active"] * 3 + ["upgraded"] * 3
