"""``rdplic license list|show|revoke|transfer`` through rdplic.cli.main.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from admin_helpers import dump, issue, run

from rdplic.cli.main import build_parser

REQUIRED = {
    "license_id",
    "status",
    "client_name",
    "user_name",
    "hwid",
    "version",
    "issued",
    "expires",
}


def test_license_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """license list --json: one object per issued license with the keys scripts rely on."""
    issued = issue(tmp_path, "pc1", "pc2", cals=1)
    r = run(capsys, "license", "list", "--json", "--state-dir", str(tmp_path))
    rows = json.loads(r.out)
    assert len(rows) == 2 and all(set(row) >= REQUIRED for row in rows)
    first = rows[0]
    lic = issued[0].license
    assert lic is not None
    assert first["license_id"] == lic.license_id and first["status"] == "active"
    assert (first["client_name"], first["user_name"]) == ("pc1", "alice")
    assert first["hwid"] == lic.hwid.hex() and first["version"] == "10.1"
    assert first["issued"].endswith("Z") and first["expires"] > first["issued"]
    assert rows[1]["status"] == "temporary" and rows[1]["temporary"] is True


def test_license_list_filters_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--status / --client / --hwid filter the list; the table has one row per license."""
    issued = issue(tmp_path, "pc1", "pc2", "pc3", cals=1)
    d = str(tmp_path)
    temporary = json.loads(
        run(capsys, "license", "list", "--status", "temporary", "--json", "--state-dir", d).out
    )
    assert [row["client_name"] for row in temporary] == ["pc2", "pc3"]
    by_client = json.loads(
        run(capsys, "license", "list", "--client", "PC3", "--json", "--state-dir", d).out
    )
    assert [row["client_name"] for row in by_client] == ["pc3"]
    hwid = issued[0].license.hwid.hex()  # type: ignore[union-attr]
    by_hwid = json.loads(
        run(capsys, "license", "list", "--hwid", hwid, "--json", "--state-dir", d).out
    )
    assert [row["client_name"] for row in by_hwid] == ["pc1"]
    table = run(capsys, "license", "list", "--state-dir", d).out.splitlines()
    assert table[0].split()[:4] == ["ID", "STATUS", "CAL", "TYPE"] and len(table) == 5


def test_license_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """license show: the record, its blob's size and hash, its history; --blob writes the blob."""
    [decision] = issue(tmp_path, "pc1")
    lic = decision.license
    assert lic is not None
    out_file = tmp_path / "pc1.lic"
    r = run(
        capsys,
        "license",
        "show",
        str(lic.license_id),
        "--json",
        "--blob",
        str(out_file),
        "--state-dir",
        str(tmp_path),
    )
    shown = json.loads(r.out)
    assert shown["license_id"] == lic.license_id and shown["blob_size"] == len(decision.blob)
    assert [e["event"] for e in shown["history"]] == ["issued"]
    assert out_file.read_bytes() == decision.blob
    table = run(capsys, "license", "show", str(lic.license_id), "--state-dir", str(tmp_path)).out
    assert "license_id: 1" in table and "issued" in table


def test_license_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """license revoke: the CAL is revoked and back in the pool; over the quota, exit 2 (R50)."""
    issued = issue(tmp_path, "pc1", "pc2", cals=2)
    ids = [str(d.license.license_id) for d in issued]  # type: ignore[union-attr]
    r = run(capsys, "license", "revoke", ids[0], "--json", "--state-dir", str(tmp_path))
    result = json.loads(r.out)
    assert result["license"]["revoked"] and result["license"]["status"] == "revoked"
    assert result["revokable_cals"] == 0 and result["next_revoke_allowed"] is not None
    packs = json.loads(run(capsys, "keypack", "list", "--json", "--state-dir", str(tmp_path)).out)
    assert packs[0]["available"] == 1
    before = dump(tmp_path)
    r = run(capsys, "license", "revoke", ids[1], "--json", "--state-dir", str(tmp_path))
    assert r.status == 2 and "R50" in r.err and len(r.err.splitlines()) == 1
    refused = json.loads(r.out)
    assert refused["error"] and refused["next_revoke_allowed"]
    assert dump(tmp_path) == before
    text = run(capsys, "license", "revoke", "1", "--state-dir", str(tmp_path))
    assert text.status == 2 and "only active per-device CALs" in text.err


def test_license_transfer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """license transfer: revoke-and-reissue once (KB 315262); a second transfer is refused."""
    [decision] = issue(tmp_path, "old-pc", cals=1)
    lid = str(decision.license.license_id)  # type: ignore[union-attr]
    r = run(
        capsys, "license", "transfer", lid, "--to", "NEW-PC", "--json", "--state-dir", str(tmp_path)
    )
    moved = json.loads(r.out)
    assert moved["license"]["transferred"] is True and moved["license"]["status"] == "revoked"
    assert (
        moved["reissued_key_pack"]["reissued"] is True and moved["reissued_key_pack"]["total"] == 1
    )
    history = json.loads(
        run(capsys, "history", "--license", lid, "--json", "--state-dir", str(tmp_path)).out
    )
    assert history[-1]["event"] == "transferred" and "NEW-PC" in history[-1]["detail"]
    before = dump(tmp_path)
    again = run(capsys, "license", "transfer", lid, "--state-dir", str(tmp_path))
    assert again.status == 2 and "R54" in again.err and dump(tmp_path) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["license", "revoke", "999"], "no license 999"),
        (["license", "revoke", "x1"], "must be a number"),
        (["license", "revoke", "-3"], "must be positive"),
        (["license", "transfer", "2"], "only active per-device CALs"),
        (["license", "show", "77"], "no license 77"),
        (["license", "list", "--status", "happy"], "--status"),
        (["license", "list", "--hwid", "abc"], "--hwid"),
        (["license", "list", "--type", "x"], "--type"),
    ],
)
def test_license_bad_input_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad input: exit status 2, one line on stderr, the store unchanged."""
    issue(tmp_path, "pc1", "pc2", cals=1)
    before = dump(tmp_path)
    r = run(capsys, *argv, "--state-dir", str(tmp_path))
    assert r.status == 2 and len(r.err.splitlines()) == 1 and message in r.err
    assert dump(tmp_path) == before


def test_license_inspect_is_an_action_of_license() -> None:
    """``rdplic license inspect`` (rdplic.cli.license_inspect) hangs under ``license``."""
    args = build_parser().parse_args(["license", "inspect", "some.lic"])
    assert args.action == "inspect" and callable(args.func)
