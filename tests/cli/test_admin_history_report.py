"""``rdplic history`` and ``rdplic report`` through rdplic.cli.main.main."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from admin_helpers import dump, issue, run


def test_history_all_and_one_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """history lists every event; with a machine name or an HWID, one client's (R24)."""
    issued = issue(tmp_path, "pc1", "pc2", cals=1)
    d = str(tmp_path)
    everything = json.loads(run(capsys, "history", "--json", "--state-dir", d).out)
    assert [e["event"] for e in everything] == ["keypack-installed", "issued", "issued"]
    one = json.loads(run(capsys, "history", "pc2", "--json", "--state-dir", d).out)
    assert [(e["event"], e["client_name"]) for e in one] == [("issued", "pc2")]
    hwid = issued[0].license.hwid.hex()  # type: ignore[union-attr]
    by_hwid = json.loads(run(capsys, "history", hwid, "--json", "--state-dir", d).out)
    assert [e["client_name"] for e in by_hwid] == ["pc1"] and by_hwid[0]["hwid"] == hwid
    table = run(capsys, "history", "--state-dir", d).out.splitlines()
    assert table[0].split() == [
        "TIME",
        "EVENT",
        "LICENSE",
        "PACK",
        "CLIENT",
        "USER",
        "HOST",
        "DETAIL",
    ]


def test_history_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown event kinds or ids: exit 2, one line, nothing changed."""
    issue(tmp_path, "pc1")
    before = dump(tmp_path)
    for argv in (["--event", "partied"], ["--license", "zero"], ["--hwid", "12"]):
        r = run(capsys, "history", *argv, "--state-dir", str(tmp_path))
        assert r.status == 2 and len(r.err.splitlines()) == 1
    assert dump(tmp_path) == before


def test_report_csv_per_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report --format csv --kind per-device: one row per device license, WMI column names."""
    issue(tmp_path, "pc1", "pc2", cals=1)
    r = run(
        capsys, "report", "--format", "csv", "--kind", "per-device", "--state-dir", str(tmp_path)
    )
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [(row["sIssuedToComputer"], row["CALType"]) for row in rows] == [
        ("pc1", "RDS Per Device CAL"),
        ("pc2", "Temporary RDS Per Device CAL"),
    ]
    assert rows[0]["ProductVersion"] == "Windows Server 2019" and len(rows[0]["sHardwareId"]) == 40


def test_report_csv_is_one_table_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --format csv without --kind is refused (naming the kinds); -o DIR writes one
    csv.DictReader-loadable file per kind (issue 12)."""
    issue(tmp_path, "pc1", cals=2)
    r = run(capsys, "report", "--format", "csv", "--state-dir", str(tmp_path))
    assert r.status == 2 and r.out == "" and len(r.err.splitlines()) == 1
    assert "summary, per-device, per-user" in r.err
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    r = run(capsys, "report", "--format", "csv", "-o", str(out_dir), "--state-dir", str(tmp_path))
    assert r.status == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "per-device.csv",
        "per-user.csv",
        "summary.csv",
    ]
    with (out_dir / "summary.csv").open(newline="") as stream:
        [row] = list(csv.DictReader(stream))
    assert row["TSCALType"] == "Per Device" and row["IssuedLicenses"] == "1"
    with (out_dir / "per-device.csv").open(newline="") as stream:
        assert [row["sIssuedToComputer"] for row in csv.DictReader(stream)] == ["pc1"]


def test_report_json_one_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format table --json is a contradiction, refused; --json alone means JSON."""
    issue(tmp_path, "pc1", cals=1)
    r = run(capsys, "report", "--format", "table", "--json", "--state-dir", str(tmp_path))
    assert r.status == 2 and "--json" in r.err and len(r.err.splitlines()) == 1
    r = run(capsys, "report", "--format", "json", "--json", "--state-dir", str(tmp_path))
    assert r.status == 0 and json.loads(r.out)["host"]


def test_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report --format json: summary, per-device and per-user parts (R77, R76)."""
    issue(tmp_path, "pc1", cals=2)
    data = json.loads(run(capsys, "report", "--format", "json", "--state-dir", str(tmp_path)).out)
    assert set(data) >= {"generated", "host", "scope", "summary", "per_device", "per_user"}
    [row] = data["summary"]
    assert (row["TSCALType"], row["InstalledLicenses"], row["IssuedLicenses"]) == (
        "Per Device",
        2,
        1,
    )
    only_users = json.loads(
        run(capsys, "report", "--json", "--kind", "per-user", "--state-dir", str(tmp_path)).out
    )
    assert "per_device" not in only_users and only_users["per_user"] == []


def test_report_table_and_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default format is a table; --output writes the report to a file instead."""
    issue(tmp_path, "pc1", cals=1)
    table = run(capsys, "report", "--state-dir", str(tmp_path)).out
    assert "[summary]" in table and "Windows Server 2019" in table
    target = tmp_path / "report.csv"
    argv = ["--format", "csv", "--kind", "summary", "-o", str(target)]
    r = run(capsys, "report", *argv, "--state-dir", str(tmp_path))
    assert r.out == "" and target.read_text().startswith("ProductVersion,")


@pytest.mark.parametrize("argv", [["--format", "xml"], ["--kind", "per-everything"]])
def test_report_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Unknown format or kind: exit 2 with one line."""
    r = run(capsys, "report", *argv, "--state-dir", str(tmp_path))
    assert r.status == 2 and len(r.err.splitlines()) == 1
