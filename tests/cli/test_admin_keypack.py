"""``rdplic keypack add|list|remove`` through rdplic.cli.main.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from admin_helpers import dump, issue, run

ADD = ["keypack", "add", "--type", "per-device", "--count", "2"]


def test_keypack_add_and_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keypack add --type/--count/--version/--program/--reissued; list --json shows the packs."""
    r = run(
        capsys,
        "keypack",
        "add",
        "--type",
        "per-device",
        "--count",
        "25",
        "--state-dir",
        str(tmp_path),
    )
    assert r.status == 0 and r.out.startswith("installed key pack 1: 25 per-device CALs")
    r = run(
        capsys,
        "keypack", "add", "--type", "per-user", "--count", "10", "--version", "2016",
        "--program", "enterprise-agreement", "--agreement", "1234567", "--reissued",
        "--json", "--state-dir", str(tmp_path),
    )  # fmt: skip
    added = json.loads(r.out)
    assert (added["key_pack_id"], added["cal_type"], added["version"]) == (2, "per-user", "10.0")
    assert added["program"] == "enterprise-agreement" and added["key_pack_type"] == "volume"
    assert added["reissued"] is True and added["agreement_number"] == "1234567"
    r = run(capsys, "keypack", "list", "--json", "--state-dir", str(tmp_path))
    packs = json.loads(r.out)
    assert [(p["key_pack_id"], p["total"], p["issued_count"], p["available"]) for p in packs] == [
        (1, 25, 0, 25),
        (2, 10, 0, 10),
    ]
    assert packs[0]["version"] == "10.1" and packs[0]["product_version"] == "Windows Server 2019"


def test_keypack_list_table_and_options_before_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table lists each pack; --state-dir may also come before the action."""
    run(capsys, "keypack", "--state-dir", str(tmp_path), "add", "--type", "device", "--count", "3")
    issue(tmp_path, "pc1")
    r = run(capsys, "keypack", "--state-dir", str(tmp_path), "list")
    lines = r.out.splitlines()
    assert lines[0].split()[:7] == ["ID", "VERSION", "CAL", "TYPE", "PACK", "TYPE", "PROGRAM"]
    assert lines[2].split()[:8] == ["1", "10.1", "per-device", "retail", "retail", "3", "1", "2"]


def test_keypack_default_state_dir_is_the_serve_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --state-dir the commands use rdplic.statedir's directory ($RDPLIC_STATE_DIR)."""
    monkeypatch.setenv("RDPLIC_STATE_DIR", str(tmp_path / "xdg"))
    assert run(capsys, "keypack", "add", "--type", "per-user", "--count", "1").status == 0
    assert (tmp_path / "xdg" / "licenses.sqlite3").exists()
    assert json.loads(run(capsys, "keypack", "list", "--json").out)[0]["total"] == 1


def test_keypack_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """remove --count takes unissued CALs out; remove uninstalls a pack without issued CALs."""
    d = str(tmp_path)
    run(capsys, "keypack", "add", "--type", "per-device", "--count", "5", "--state-dir", d)
    issue(tmp_path, "pc1")
    r = run(capsys, "keypack", "remove", "1", "--count", "4", "--json", "--state-dir", d)
    assert r.status == 0 and json.loads(r.out)["total"] == 1
    run(capsys, "keypack", "add", "--type", "per-device", "--count", "2", "--state-dir", d)
    assert run(capsys, "keypack", "remove", "2", "--state-dir", d).out == "removed key pack 2\n"
    listed = json.loads(run(capsys, "keypack", "list", "--json", "--state-dir", d).out)
    assert [p["key_pack_id"] for p in listed] == [1]
    every = json.loads(run(capsys, "keypack", "list", "--all", "--json", "--state-dir", d).out)
    assert every[1]["removed"] is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keypack", "add", "--count", "3"], "--type is required"),
        (["keypack", "add", "--type", "per-seat-x", "--count", "3"], "--type"),
        (["keypack", "add", "--type", "per-device"], "--count is required"),
        (["keypack", "add", "--type", "per-device", "--count", "0"], "between 1 and"),
        (["keypack", "add", "--type", "per-device", "--count", "ten"], "whole number"),
        ([*ADD, "--version", "11"], "--version"),
        ([*ADD, "--version", "2025"], "R14"),
        ([*ADD, "--program", "x"], "--program"),
        ([*ADD, "--agreement", "12-34"], "7 digits"),
        ([*ADD, "--expires", "2001-01-01"], "future"),
        ([*ADD, "--key-pack-type", "temporary"], "cannot be installed"),
        (["keypack", "remove", "9"], "no key pack 9"),
        (["keypack", "remove", "abc"], "must be a number"),
        (["keypack", "remove", "1"], "issued licenses"),
        (["keypack", "remove", "1", "--count", "5"], "between 1 and 4"),
        (["keypack", "remove", "2"], "temporary pool"),
    ],
)  # fmt: skip
def test_keypack_bad_input_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad input: exit status 2, one line on stderr, the store unchanged."""
    run(
        capsys,
        "keypack",
        "add",
        "--type",
        "per-device",
        "--count",
        "5",
        "--state-dir",
        str(tmp_path),
    )
    issue(tmp_path, "pc1", "pc2", permanent=False)
    issue(tmp_path, "pc3")
    before = dump(tmp_path)
    r = run(capsys, *argv, "--state-dir", str(tmp_path))
    assert r.status == 2 and r.out == ""
    assert len(r.err.splitlines()) == 1 and r.err.startswith("rdplic: error: ")
    assert message in r.err
    assert dump(tmp_path) == before
