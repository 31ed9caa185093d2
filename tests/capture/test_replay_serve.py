"""rdplic replay --serve: the recorded server met again by a live client."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from rdplic.app import build_client
from rdplic.core import events as lic
from rdplic.core.connection_events import ConnectionEnded

ROOT = Path(__file__).resolve().parents[2]
NEW_DEVICE = ROOT / "captures/rdplic-serve/rdplic-client-rdp-new-device.pcapng"


def _licence_over_socket(port: int) -> list[object]:
    """rdplic's client core (as the recorded one: PC1, alice) over a blocking socket."""
    core = build_client(
        machine_name="PC1", user_name="alice", platform="windows-10", security="rdp"
    )
    events: list[object] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        core.start()
        sock.sendall(core.data_to_send())
        while not any(isinstance(e, ConnectionEnded) for e in events):
            data = sock.recv(65536)
            if not data:
                core.connection_lost()
            else:
                core.receive_data(data, datetime.now(UTC))
            while (event := core.next_event()) is not None:
                events.append(event)
            out = core.data_to_send()
            if out:
                sock.sendall(out)
            if not data:
                break
    return events


def test_a_new_client_gets_the_recorded_license_re_encrypted_and_is_compared() -> None:
    """A client connecting to the served recording gets the recorded New License under its
    own keys; its messages match the recorded client's by structure (exit 0)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rdplic.cli.main", "replay", "--serve", "0", str(NEW_DEVICE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found, line
        events = _licence_over_socket(int(found.group(1)))
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    assert process.returncode == 0, out + err
    assert "(client): same-structure" in out
    assert "ClientRandom" in out


def test_serve_needs_a_recording_with_secrets(tmp_path: Path) -> None:
    """A capture without the server's keys cannot be served: one line, exit status 2."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "replay",
            "--serve",
            "0",
            str(ROOT / "captures/windows/win-tls-valid-client.pcapng"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no server recording" in result.stderr
