"""rdplic replay --target: a recorded client acted out against a live rdplic serve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rdplic.capture.replay import structural_diff
from rdplic.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures" / "rdplic-serve"


@pytest.fixture
def serve(rdplic_serve: Any) -> int:
    """rdplic serve on a free loopback port, in a child process (both security layers)."""
    return int(rdplic_serve().port)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", "replay", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_recorded_new_devices_meet_a_live_server_with_the_same_structure(serve: int) -> None:
    """A new device's recorded session, over both security layers, against a fresh server:
    same messages and fields; the server's randoms, certificates and encrypted blobs are
    named as compared by structure; exit 0."""
    result = _run(
        "--target",
        f"127.0.0.1:{serve}",
        str(CAPTURES / "rdplic-client-rdp-new-device.client.pcapng"),
        str(CAPTURES / "rdplic-client-tls-new-device.client.pcapng"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("same-structure") == 2
    assert "serverRandom" in result.stdout
    assert "licensing.fields.message.ServerRandom" in result.stdout  # TLS: licensing in clear


def test_target_must_be_loopback_and_a_client_recording() -> None:
    """A remote target without --allow-remote, or captures with no client recording, are one
    line and exit status 2."""
    client = str(CAPTURES / "rdplic-client-rdp-new-device.client.pcapng")
    assert main(["replay", "--target", "192.0.2.1:3389", client]) == 2
    assert (
        main(
            ["replay", "--target", "127.0.0.1:9", str(CAPTURES / "xfreerdp-rdp-new-device.pcapng")]
        )
        == 2
    )


def test_structural_diff_names_random_fields_and_stops_at_real_differences() -> None:
    """Randomness-dependent fields are listed, anything else is the difference."""
    a = [{"layer": "licensing", "fields": {"ServerRandom": "00", "dwVersion": 3}}]
    b = [{"layer": "licensing", "fields": {"ServerRandom": "11", "dwVersion": 3}}]
    assert structural_diff(a, b) == (None, ["licensing.fields.ServerRandom"])
    c = [{"layer": "licensing", "fields": {"ServerRandom": "11", "dwVersion": 4}}]
    assert structural_diff(a, c)[0] == ("licensing.fields.dwVersion", 3, 4)


def test_rdplic_client_capture_replays_from_the_client_side(serve: int, tmp_path: Path) -> None:
    """rdplic client --capture records a replayable client: a new device, then the same
    device presenting its stored license over TLS, both identical from the client's side."""
    machine = tmp_path / "machine"
    for name, security in (("first", "rdp"), ("second", "tls")):
        capture = tmp_path / f"{name}.pcapng"
        result = subprocess.run(
            [sys.executable, "-m", "rdplic.cli.main", "client", "--machine-dir", str(machine),
             "--capture", str(capture), "--security", security, f"127.0.0.1:{serve}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        replay = _run(str(capture))
        assert replay.returncode == 0, replay.stdout
        assert "(client): identical" in replay.stdout
