"""``rdplic load`` against ``rdplic serve``: its numbers agree with the server's own lists,
its options are checked, and ``--procs`` merges its workers' reports.  Every run is bounded
by its client count and each connection's time-out."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sim_helpers import assert_vocabulary, rdplic, rdplic_json

from rdplic.simclient.load import LoadReport
from rdplic.simclient.results import ConnectionResult
from rdplic.vocabulary import Outcome


def test_load_numbers_match_license_list_and_report(serve: Any) -> None:
    """300 connections, half by returning devices, 20 CALs: the report matches the server's."""
    server = serve()
    state = ("--state-dir", str(server.state_dir))
    rdplic("keypack", "add", "--type", "per-device", "--count", "20", *state)
    report = rdplic_json(
        "load",
        f"127.0.0.1:{server.port}",
        "--clients",
        "300",
        "--returning",
        "0.5",
        "--concurrency",
        "16",
        "--seed",
        "7",
        "--platform-mix",
        "freerdp=2,windows-10=1",
    )
    assert_vocabulary(report, "load")
    kinds = report["kinds"]
    assert report["connections"] == 300 == sum(kinds.values()) == report["licensed"], report
    assert report["failed"] == 0 and report["errors"] == {}

    licenses = rdplic_json("license", "list", *state)
    assert len({entry["hwid"] for entry in licenses}) == report["devices"]
    temporary = [entry for entry in licenses if entry["temporary"]]
    permanent = [entry for entry in licenses if not entry["temporary"]]
    assert len(temporary) == kinds["new_license_temporary"] == report["devices"]
    assert len(permanent) == kinds["upgraded_permanent"] == 20
    assert Counter(entry["status"] for entry in permanent) == {"active": 20}
    returning = 300 - report["devices"]
    assert (
        kinds["upgraded_permanent"] + kinds.get("reissued", 0) + kinds.get("valid_client", 0)
        == returning
    )

    summary = json.loads(rdplic("report", "--format", "json", *state).stdout)
    per_device = [entry for entry in summary["per_device"] if entry["LicenseStatus"] == "active"]
    assert len(per_device) == kinds["upgraded_permanent"]
    purchased = [row for row in summary["summary"] if row["TSCALType"] == "Per Device"]
    assert sum(row["IssuedLicenses"] for row in purchased) == kinds["upgraded_permanent"]


def test_load_repeats_with_the_same_seed_and_merges_procs(serve: Any) -> None:
    """The same seed gives the same devices; --procs 2 merges two workers' reports."""
    server = serve()
    target = f"127.0.0.1:{server.port}"
    merged = rdplic_json("load", target, "--clients", "40", "--procs", "2", "--seed", "3")
    assert_vocabulary(merged, "load")
    assert merged["procs"] == 2 and merged["connections"] == 40 == merged["devices"]
    assert merged["kinds"] == {"new_license_temporary": 40}
    again = rdplic_json("load", target, "--clients", "40", "--procs", "2", "--seed", "3")
    assert again["kinds"] == {"new_license_temporary": 40}  # the server resends their licenses
    licenses = rdplic_json("license", "list", "--state-dir", str(server.state_dir))
    assert len(licenses) == 40  # the same 40 devices both times


def test_load_refuses_remote_targets_and_bad_options() -> None:
    """Loopback only unless --allow-remote; bad numbers are one line and exit 2."""
    for bad in (
        ["192.0.2.1:3389"],
        ["127.0.0.1:1", "--returning", "1.5"],
        ["127.0.0.1:1", "--clients", "0"],
        ["127.0.0.1:1", "--platform-mix", "amiga"],
    ):
        result = rdplic("load", *bad, status=2)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("rdplic: error:")
    assert "--allow-remote" in rdplic("load", "192.0.2.1:3389", status=2).stderr


def test_load_plain_progress_lines_when_not_a_terminal(serve: Any) -> None:
    """Without a terminal the progress is plain lines and the report follows."""
    server = serve()
    result = rdplic("load", f"127.0.0.1:{server.port}", "--clients", "30", "--think", "0.05")
    assert result.stdout.splitlines()[0].startswith("load: ")
    assert "30 connections" in result.stdout and "handshakes/s" in result.stdout
    assert "own CPU" in result.stdout


def test_load_report_merges_and_counts_by_kind() -> None:
    """LoadReport.merge adds counts and CPU and keeps the longest elapsed time."""
    a, b = LoadReport(), LoadReport()
    a.add(ConnectionResult(Outcome.VALID_CLIENT, duration_seconds=0.1))
    b.add(ConnectionResult(Outcome.REFUSED, "no", error_code="ERR_NO_LICENSE"))
    b.add(ConnectionResult(Outcome.TIMEOUT, "no end after 1 s"))
    a.elapsed, b.elapsed, a.cpu_seconds, b.cpu_seconds = 1.0, 2.0, 0.5, 0.25
    merged = LoadReport.merge([a, b])
    assert merged.connections == 3 and merged.licensed == 1 and merged.elapsed == 2.0
    assert merged.cpu_seconds == 0.75 and merged.procs == 2
    assert merged.kinds == {"valid_client": 1, "refused:ERR_NO_LICENSE": 1, "timeout": 1}
    assert LoadReport.from_json(merged.to_json(latencies=True)).to_json() == merged.to_json()


def test_load_stops_by_itself_at_its_duration(serve: Any) -> None:
    """--duration without --clients: it stops launching after the duration and reports."""
    server = serve()
    report = rdplic_json(
        "load",
        f"127.0.0.1:{server.port}",
        "--duration",
        "1",
        "--concurrency",
        "2",
        "--think",
        "0.05",
        timeout=60,
    )
    assert report["connections"] > 0 and report["failed"] == 0
    assert 1.0 <= report["duration_seconds"] < 30
