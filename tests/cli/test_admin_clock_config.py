"""``rdplic clock`` and ``rdplic config`` through rdplic.cli.main.main."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from admin_helpers import client, dump, issue, run

from rdplic.licensing import DecisionKind, DigestSigner, LicensePolicy, SystemClock
from rdplic.store import open_store, read_clock_offset


def test_clock_advance_show_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """clock advance 91d moves the server time; show reports it; reset returns to real time."""
    d = str(tmp_path)
    advanced = json.loads(run(capsys, "clock", "advance", "91d", "--json", "--state-dir", d).out)
    assert advanced["offset"] == "91d" and advanced["offset_seconds"] == 91 * 86400
    run(capsys, "clock", "advance", "12h", "--state-dir", d)
    shown = json.loads(run(capsys, "clock", "show", "--json", "--state-dir", d).out)
    assert shown["offset"] == "91d12h" and shown["now"] > shown["real_time"]
    assert run(capsys, "clock", "show", "--state-dir", d).out.startswith("server time ")
    reset = json.loads(run(capsys, "clock", "reset", "--json", "--state-dir", d).out)
    assert reset["offset_seconds"] == 0


def test_clock_offset_is_seen_by_another_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The offset lives in the store: a server with its own store object sees it at once."""
    store = open_store(tmp_path)  # what `rdplic serve` holds open
    clock = SystemClock(offset=lambda: read_clock_offset(store))
    before = clock.now()
    run(capsys, "clock", "advance", "30d", "--state-dir", str(tmp_path))
    assert (clock.now() - before).days == 30
    store.close()


def test_clock_advance_expires_temporary_licenses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After clock advance 91d a temporary license is expired and the device is refused (R33)."""
    issue(tmp_path, "pc1", permanent=False)
    d = str(tmp_path)
    run(capsys, "clock", "advance", "91d", "--state-dir", d)
    [row] = json.loads(run(capsys, "license", "list", "--json", "--state-dir", d).out)
    assert row["status"] == "expired"
    store = open_store(tmp_path)
    policy = LicensePolicy(store, DigestSigner(), random.Random(1))
    now = SystemClock(offset=lambda: read_clock_offset(store)).now()
    assert policy.request_new_license(client("pc1"), now).kind is DecisionKind.REFUSE
    store.close()


@pytest.mark.parametrize("duration", ["", "0d", "soon", "1y", "1.5d", "40000d"])
def test_clock_bad_durations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    """Only positive durations like 91d / 12h / 30m; exit 2, one line, nothing changed."""
    issue(tmp_path, "pc1")
    before = dump(tmp_path)
    r = run(capsys, "clock", "advance", duration, "--state-dir", str(tmp_path))
    assert r.status == 2 and len(r.err.splitlines()) == 1
    assert dump(tmp_path) == before


def test_config_show_and_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config set changes one key for every process; config show lists keys and derived values."""
    d = str(tmp_path)
    r = run(capsys, "config", "set", "windows_version", "2008R2", "--state-dir", d)
    assert r.out == "windows_version = 2008R2\n"
    run(capsys, "config", "set", "first-license", "permanent", "--state-dir", d)
    shown = json.loads(run(capsys, "config", "show", "--json", "--state-dir", d).out)
    assert shown["windows_version"] == "2008R2" and shown["first_license"] == "permanent"
    assert shown["derived"]["dw_version"] == 0x00060000 and shown["derived"]["cal_version"] == "6.1"
    store = open_store(tmp_path)
    assert (
        LicensePolicy(store, DigestSigner(), random.Random(1)).config().windows_version == "2008R2"
    )
    store.close()
    table = run(capsys, "config", "show", "--state-dir", d).out
    assert "licensing_mode" in table and "(dw_version)" in table


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("windows_version", "95"),
        ("colour", "blue"),
        ("grace_period_days", "many"),
        ("licensing_mode", "x"),
    ],
)
def test_config_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str
) -> None:
    """A bad key or value: exit 2, one line, nothing changed."""
    issue(tmp_path, "pc1")
    before = dump(tmp_path)
    r = run(capsys, "config", "set", key, value, "--state-dir", str(tmp_path))
    assert r.status == 2 and len(r.err.splitlines()) == 1
    assert dump(tmp_path) == before
