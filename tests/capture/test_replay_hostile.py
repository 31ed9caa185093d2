"""Captures of ``rdplic serve --hostile``: replayed offline and served again with their
mutations re-applied (same profile, seed and connection number) after re-encryption.

Each case runs ``rdplic serve --hostile P --hostile-seed 7 --capture --capture-secrets`` and
``rdplic client --capture`` (rdplic's client core) once; then ``rdplic replay FILE`` (the
machine's bytes again, identical) and ``rdplic replay --serve 0 FILE`` with a second
``rdplic client --capture``.  The server PDUs both clients received are decoded (licensing
decrypted with the recorded keys) and must agree field by field, the fields that depend on
the client's randomness (encrypted blobs, MACs) by structure.  About 10 s per case.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rdplic.capture.decode import SessionKeys, decode_connection
from rdplic.capture.pcap import read_capture
from rdplic.capture.replay import recordings, replay_file, structural_diff
from rdplic.testing.replay import ServedRecording
from rdplic.testing.serve import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
RDPLIC = [sys.executable, "-m", "rdplic.cli.main"]


def _client(tmp_path: Path, port: int, security: str, capture: Path) -> None:
    """rdplic's client core once against 127.0.0.1:port, recorded from its side."""
    subprocess.run(
        [
            *RDPLIC,
            "client",
            f"127.0.0.1:{port}",
            "--machine-dir",
            str(tmp_path / "machine"),
            "--name",
            "PC7",
            "--security",
            security,
            "--timeout",
            "15",
            "--capture",
            str(capture),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _received(capture: Path, keys: SessionKeys) -> list[list[dict[str, Any]]]:
    """The decoded layers of every server PDU the recorded client received."""
    (connection,) = read_capture(capture)
    return [f.layers for f in decode_connection(connection, keys) if not f.from_client]


@pytest.mark.parametrize(
    ("profile", "security"),
    [("cve-2014-0791", "tls"), ("cve-2017-2839", "rdp"), ("wrong-mac", "rdp")],
)
def test_hostile_capture_serves_the_same_mutations_again(
    tmp_path: Path, profile: str, security: str
) -> None:
    """Served again from its capture, a hostile connection sends the client the same
    mutated PDUs (decoded, field by field) as the original run, re-encrypted for it."""
    server_capture = tmp_path / "hostile.pcapng"
    options = ("--security", security, "--hostile", profile, "--hostile-seed", "7")
    capture = ("--capture", str(server_capture), "--capture-secrets", "--shutdown-grace", "1")
    with ServeProcess(tmp_path / "state", *options, *capture) as server:
        _client(tmp_path, server.port, security, tmp_path / "first.pcapng")
    (connection,) = read_capture(server_capture)
    recording = recordings(connection)
    assert recording is not None and recording.hostile == {
        "profile": profile,
        "seed": 7,
        "connection": 0,
    }
    assert [r.status for r in replay_file(server_capture)] == ["identical"]

    with ServedRecording(server_capture, report="text") as served:
        _client(tmp_path, served.port, security, tmp_path / "again.pcapng")
        served.wait(60)

    proprietary = recording.private_key("proprietary_key")
    licensing_key = recording.private_key("licensing_key")
    assert proprietary is not None and licensing_key is not None
    keys = SessionKeys(proprietary, (licensing_key, proprietary))
    first = _received(tmp_path / "first.pcapng", keys)
    again = _received(tmp_path / "again.pcapng", keys)
    licensing = [layers for layers in first if any(x["layer"] == "licensing" for x in layers)]
    assert licensing, "the client received no licensing PDU"
    assert len(first) == len(again)
    for one, other in zip(first, again, strict=True):
        found_diff, _ = structural_diff(one, other)
        assert found_diff is None, json.dumps(found_diff)[:2000]
    mutated = json.dumps(licensing)
    assert {"cve-2014-0791": "536870913", "cve-2017-2839": "EncryptedPlatformChallenge"}.get(
        profile, '"valid": false'
    ) in mutated
