"""Secrets stay with their owner: files that hold them are 0600 whatever the umask, the state
directory's mode is warned about, and no log line carries received bytes or a password."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from test_serve_process import Serve, client, run_client

from rdplic.core import events as lic

PASSWORD = "Debug-S3cret-Pass"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_files_with_secrets_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """Key log, capture, log file and the license database with its WAL and shared-memory
    files are created 0600 under umask 000 and 022, in a state directory left 0755; the
    server warns once about the directory."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    keylog, capture = tmp_path / "keys.log", tmp_path / "sessions.pcapng"
    serve = Serve(state, "--tls-keylog", str(keylog), "--capture", str(capture), umask=umask)
    try:
        for requested in (1, 0):
            events = run_client(serve.port, client(requested, f"MODES{requested}"))
            assert any(isinstance(e, lic.NewLicenseReceived) for e in events)
        database = state / "licenses.sqlite3"
        files = [keylog, capture, serve.log_path, database, Path(f"{database}-wal")]
        files.append(Path(f"{database}-shm"))
        for path in files:
            assert path.exists(), path
            assert _mode(path) == 0o600, f"{path.name}: {_mode(path):o}"
    finally:
        assert serve.stop() == 0
    warnings = [line for line in serve.log_text().splitlines() if "open to other" in line]
    assert len(warnings) == 1 and "0755" in warnings[0]


def test_existing_files_with_secrets_are_narrowed(tmp_path: Path) -> None:
    """A key log or log file that already exists, readable by others, is made 0600 before
    anything is written to it."""
    state = tmp_path / "state"
    keylog, log = tmp_path / "keys.log", tmp_path / "serve.log"
    for path in (keylog, log):
        path.write_text("")
        path.chmod(0o644)
    serve = Serve(state, "--tls-keylog", str(keylog), "--security", "tls", log_path=log)
    try:
        assert serve.log_path == log
        assert _mode(keylog) == 0o600
        assert _mode(log) == 0o600
    finally:
        assert serve.stop() == 0


def test_debug_log_carries_no_bytes_and_no_password(tmp_path: Path) -> None:
    """At --log-level debug the events are logged, but neither the bytes received or sent
    nor the Client Info password, over either security layer."""
    serve = Serve(tmp_path / "state", "--log-level", "debug")
    try:
        for requested in (0, 1):
            core = client(requested, f"DEBUG{requested}", password=PASSWORD)
            events = run_client(serve.port, core)
            assert any(isinstance(e, lic.NewLicenseReceived) for e in events)
    finally:
        assert serve.stop() == 0
    log = serve.log_text()
    assert "ClientInfoReceived" in log  # debug lines are there
    assert PASSWORD not in log
    assert PASSWORD.encode("utf-16-le").hex() not in log
    # Nothing longer than a hardware id (40 hex digits) is dumped as hex.
    assert not re.search(r"[0-9a-f]{64,}", log), re.search(r"[0-9a-f]{64,}", log)
