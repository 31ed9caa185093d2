"""rdplic replay --serve: the recorded server met again by a live client."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capture_helpers import require_tshark

from rdplic.app import build_client
from rdplic.capture import pcap
from rdplic.capture.pcap import read_capture
from rdplic.capture.replay import recordings
from rdplic.core import events as lic
from rdplic.core.connection_events import ConnectionEnded
from rdplic.testing.replay import ServedRecording

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
    with ServedRecording(capture, report="text") as served:
        events = _licence_over_socket(served.port, **changes)
        returncode = served.wait(60)
    return events, returncode, served.output, served.errors


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


def _rewritten(source: Path, path: Path, *, keep_recording: bool, secrets: bool = True) -> Path:
    """``source`` written again: without its recording (a capture of "another server"), or
    with its recording but without the server's keys."""
    (connection,) = read_capture(source)
    recording = recordings(connection)
    assert recording is not None
    if not secrets:
        recording.secrets = None
    writer = pcap.CaptureWriter(path)
    stream = writer.open_stream(connection.client, connection.server)
    for chunk in connection.chunks:
        writer.record(stream, chunk.from_client, chunk.data)
    comment = pcap.COMMENT_PREFIX + recording.to_json() if keep_recording else None
    writer.close_stream(stream, comment)
    writer.close()
    return path


def test_serve_needs_secrets_for_an_rdplic_recording(tmp_path: Path) -> None:
    """An rdplic recording made without --capture-secrets cannot run its server again: one
    line, exit status 2."""
    capture = _rewritten(NEW_DEVICE, tmp_path / "plain.pcapng", keep_recording=True, secrets=False)
    result = subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", "replay", "--serve", "0", str(capture)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--capture-secrets" in result.stderr


def _json_serve(capture: Path, connect: Any = _licence_over_socket) -> tuple[Any, dict[str, Any]]:
    """``rdplic replay --serve 0 --json CAPTURE`` met by ``connect(port)``: what it returns
    and the one result."""
    with ServedRecording(capture) as served:
        events = connect(served.port)
        (result,) = served.results(60)
    return events, result


def test_a_windows_standard_rdp_security_capture_is_served_with_rdplic_s_key() -> None:
    """The Windows Standard RDP Security capture served to rdplic's client core: rdplic's
    proprietary key stands in (modulus and signature changed, same length), the licensing
    PDU nobody can decrypt becomes STATUS_VALID_CLIENT, and the connection ends at the next
    encrypted PDU; each change is reported with its frame."""
    capture = ROOT / "captures/windows/win-stdsec-valid-client.pcapng"
    events, result = _json_serve(capture)
    assert any(isinstance(e, lic.ValidClient) for e in events), events
    changes = {c["path"]: c for c in result["substituted"]}
    certificate = changes["gcc.SC_SECURITY.serverCertificate"]
    assert certificate["frame"] == 13
    assert "PublicKeyBlob.modulus, SignatureBlob" in certificate["reason"]
    assert "376 bytes recorded, 376 sent" in certificate["reason"]
    assert changes["licensing"]["frame"] == 35
    assert changes["licensing"]["sent"] == "STATUS_VALID_CLIENT / ST_NO_TRANSITION"
    assert (
        changes["security.payload"]["frame"] == 36 and changes["security.payload"]["sent"] is None
    )
    assert result["side"] == "client" and result["verdict"] == "differs"
    assert result["path"] == "x224.fields.routingToken/cookie"  # mstsc's, not ours


def test_licensing_of_another_server_is_re_encrypted_for_the_new_client(tmp_path: Path) -> None:
    """A TLS capture whose server nobody has the keys of (an rdplic capture stripped of its
    recording): the License Request carries rdplic's X.509 chain, the Platform Challenge
    Windows' token under this client's licensing keys, and the New License, which nobody can
    decrypt, becomes STATUS_VALID_CLIENT; this client's encrypted answers are decrypted and
    compared field by field with the recorded ones where they can be read."""
    source = ROOT / "captures/rdplic-serve/rdplic-client-tls-new-device.pcapng"
    capture = _rewritten(source, tmp_path / "foreign.pcapng", keep_recording=False)

    def rdplic_client(port: int) -> str:
        command = ["client", f"127.0.0.1:{port}", "--security", "tls", "--name", "PC1"]
        command += ["--user", "alice", "--machine-dir", str(tmp_path / "machine")]
        return subprocess.run(
            [sys.executable, "-m", "rdplic.cli.main", *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    said, result = _json_serve(capture, rdplic_client)
    assert "valid client" in said
    changes = {c["path"]: c for c in result["substituted"]}
    assert "X.509 chain" in changes["licensing.LICENSE_REQUEST.serverCertificate"]["reason"]
    assert changes["licensing.EncryptedPlatformChallenge"]["sent"] == "TEST\u0000"
    assert changes["licensing.NEW_LICENSE"]["sent"] == "STATUS_VALID_CLIENT / ST_NO_TRANSITION"


def test_the_windows_tls_capture_is_served_with_rdplic_s_tls_certificate(tmp_path: Path) -> None:
    """The Windows TLS capture (decrypted through its embedded secrets) served to `rdplic
    client`: rdplic's TLS certificate stands in, the recorded valid-client message goes out as
    recorded and the client completes licensing."""
    require_tshark()
    capture = ROOT / "captures/windows/win-tls-valid-client.pcapng"

    def rdplic_client(port: int) -> str:
        command = ["client", f"127.0.0.1:{port}", "--security", "tls", "--name", "PC1"]
        command += ["--user", "alice", "--machine-dir", str(tmp_path / "machine")]
        return subprocess.run(
            [sys.executable, "-m", "rdplic.cli.main", *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    said, result = _json_serve(capture, rdplic_client)
    assert "valid client" in said
    paths = [c["path"] for c in result["substituted"]]
    assert "tls.certificate" in paths
    assert not any(path.startswith("licensing") for path in paths)  # sent as recorded


def test_a_capture_whose_tls_stays_encrypted_is_not_played_back() -> None:
    """Without the TLS plaintext (no tshark, no secrets) there is nothing to play back: one
    line naming what is missing, before anything listens."""
    import pytest

    from rdplic.cli.replay_serve import serve_stand_in
    from rdplic.errors import UsageError

    capture = ROOT / "captures/windows/win-tls-valid-client.pcapng"
    connections = read_capture(capture, decrypt_tls=False)
    with pytest.raises(UsageError, match="TLS records could not be decrypted"):
        serve_stand_in(capture, 0, connections)
