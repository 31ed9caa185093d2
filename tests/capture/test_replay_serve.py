"""rdplic replay --serve: the recorded server met again by a live client."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.app import build_client
from rdplic.core import events as lic
from rdplic.core.connection_events import ConnectionEnded

ROOT = Path(__file__).resolve().parents[2]
NEW_DEVICE = ROOT / "captures/rdplic-serve/rdplic-client-rdp-new-device.pcapng"


def _licence_over_socket(port: int, **changes: Any) -> list[object]:
    """rdplic's client core (as the recorded one: PC1, alice, unless ``changes``) over a
    blocking socket."""
    arguments: dict[str, Any] = dict(
        machine_name="PC1", user_name="alice", platform="windows-10", security="rdp"
    )
    core = build_client(**{**arguments, **changes})
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


def _serve(capture: Path, **changes: Any) -> tuple[list[object], int, str, str]:
    """``rdplic replay --serve 0 CAPTURE`` met by rdplic's client core: its events, the
    exit status, stdout and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rdplic.cli.main", "replay", "--serve", "0", str(capture)],
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
        events = _licence_over_socket(int(found.group(1)), **changes)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return events, process.returncode, out, line + err


def test_a_new_client_gets_the_recorded_license_re_encrypted_and_is_compared() -> None:
    """A client connecting to the served recording gets the recorded New License under its
    own keys; its messages match the recorded client's by structure (exit 0)."""
    events, returncode, out, err = _serve(NEW_DEVICE)
    assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    assert returncode == 0, out + err
    assert "(client): same-structure" in out
    assert "ClientRandom" in out


def test_a_client_with_another_hardware_id_is_reported_inside_the_decrypted_field() -> None:
    """A client whose hardware ID differs from the recorded client's: --serve decrypts its
    EncryptedHWID with this session's licensing keys and names the field with both values
    (exit 1)."""
    events, returncode, out, err = _serve(NEW_DEVICE, hwid=bytes(4) + bytes(range(16)))
    assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    assert returncode == 1, out + err
    assert "(client): differs" in out
    assert "licensing.decrypted.EncryptedHWID.PlatformId" in out


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
