"""``rdplic store export`` / ``import``: a license database moved from SQLite to
PostgreSQL and back with nothing lost (R80-R83), checked by comparing exports."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from serving import ROOT, Serve, drive, rdplic

from rdplic.identity import ServerIdentity
from rdplic.store import open_store
from rdplic.store.deployment import LICENSE_SERVER_SETTING, license_server_from_text
from rdplic.vocabulary import COMMAND_KEYS, KEYS


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlite_to_postgresql_and_back_exports_identically(
    pg_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    """A served SQLite store (key packs, licenses with blobs, history, settings, clock
    offset, identity) exported, imported into PostgreSQL, exported again: the same bytes;
    and back into a new SQLite store: the same bytes again.  The file is 0600."""
    source = tmp_path / "source"
    server = Serve(source, "--first-license", "permanent")
    servers.append(server)
    rdplic("keypack", "add", "--state-dir", str(source), "--type", "per-device", "--count", "3")
    drive([server.port], 5)
    assert server.stop() == 0
    rdplic("clock", "advance", "3d", "--state-dir", str(source))
    first = tmp_path / "first.json"
    assert _run("store", "export", str(first), "--state-dir", str(source)).returncode == 0
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    document = json.loads(first.read_text())
    assert len(document["licenses"]) == 5 and all(r["license_blob"] for r in document["licenses"])
    assert document["settings"]["clock.offset_seconds"]
    shipped = license_server_from_text(document["settings"][LICENSE_SERVER_SETTING])
    assert shipped.certificate == ServerIdentity.load(source).license_server.certificate

    done = _run("store", "import", str(first), "--db", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)  # the vocabulary's keys (rdplic.vocabulary)
    assert set(counts) <= set(KEYS) | set(COMMAND_KEYS["store"])
    assert counts["licenses"] == 5 and counts["key_packs"] == 2
    second = tmp_path / "second.json"
    assert _run("store", "export", str(second), "--db", pg_url).returncode == 0
    assert second.read_bytes() == first.read_bytes()

    back = tmp_path / "back"
    assert _run("store", "import", str(second), "--state-dir", str(back)).returncode == 0
    third = tmp_path / "third.json"
    assert _run("store", "export", str(third), "--state-dir", str(back)).returncode == 0
    assert third.read_bytes() == first.read_bytes()
    store = open_store(back)
    assert store.check_integrity() == []
    store.close()


def test_import_refuses_a_store_that_is_not_empty_and_changes_nothing(tmp_path: Path) -> None:
    """Import into a store holding data, or of a file that is not an export: exit status 2,
    one line, the store unchanged."""
    state = str(tmp_path / "s")
    rdplic("keypack", "add", "--state-dir", state, "--type", "per-device", "--count", "3")
    export = tmp_path / "e.json"
    assert _run("store", "export", str(export), "--state-dir", state).returncode == 0
    again = _run("store", "import", str(export), "--state-dir", state)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "not empty" in again.stderr
    garbage = tmp_path / "g.json"
    garbage.write_text('{"format": "something else"}')
    bad = _run("store", "import", str(garbage), "--state-dir", str(tmp_path / "new"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    after = tmp_path / "after.json"
    assert _run("store", "export", str(after), "--state-dir", state).returncode == 0
    assert after.read_bytes() == export.read_bytes()
