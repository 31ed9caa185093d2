"""What CI checks on captures/ (captures/README.md says it for each file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from capture_helpers import require_tshark

from rdplic.app import build_client
from rdplic.capture.decode import SessionKeys, decode_connection, split_frames
from rdplic.capture.pcap import read_capture
from rdplic.capture.replay import _keys, recordings, replay_file
from rdplic.core import CLIENT_PLATFORMS, ClientConfig, LicensingClient, MemoryLicenseStore
from rdplic.core import events as lic
from rdplic.core.platforms import hardware_id
from rdplic.pdu.framing import decode_tpkt, decode_x224
from rdplic.pdu.mcs import AttachUserRequest, ErectDomainRequest, McsConnectInitial, decode_mcs_pdu

ROOT = Path(__file__).resolve().parents[2]
ALL = sorted((ROOT / "captures" / "rdplic-serve").glob("*.pcapng"))
SERVE = [p for p in ALL if not p.name.endswith(".client.pcapng")]
CLIENT = [p for p in ALL if p.name.endswith(".client.pcapng")]
WINDOWS = ROOT / "captures" / "windows"
NOW = datetime(2026, 12, 5, tzinfo=UTC)

OUTCOMES = {
    "new-device": "new_license",
    "no-cal-left": "reissued",
    "lapsed-new-device": "new_license",
    "lapsed-temporary": "refused",
    "upgrade": "upgraded",
    "valid-client": "valid_client",
    "tampered-license": "upgraded",
    "deleted-license": "new_license",
}


def test_every_capture_has_a_readme_line() -> None:
    """captures/README.md has a line for every capture of the directory."""
    readme = (ROOT / "captures" / "README.md").read_text()
    assert (len(SERVE), len(CLIENT)) == (48, 16)
    for path in [*ALL, *WINDOWS.glob("*.pcapng")]:
        assert f"`{path.relative_to(ROOT / 'captures')}`" in readme, path.name


@pytest.mark.parametrize("path", SERVE, ids=[p.stem for p in SERVE])
def test_serve_capture_replays_and_decodes(path: Path) -> None:
    """The server side replays byte for byte; every frame decodes with the recorded keys,
    every licensing MAC checks out, and the outcome is the scenario's."""
    results = replay_file(path)
    assert [r.status for r in results] == ["identical"] * len(results), results
    connections = read_capture(path)
    last = connections[-1]
    recording = recordings(last)
    assert recording is not None and recording.secrets
    session = recording.secrets["session"]
    assert len(bytes.fromhex(session["licensing"]["licensing_encryption_key"])) == 16
    assert ("rdp_security" in session) == ("-rdp-" in path.name)
    scenario = next(s for s in OUTCOMES if path.stem.endswith(s))
    assert recording.outcome == OUTCOMES[scenario]
    frames = decode_connection(last, _keys(recording))
    for frame in frames:
        inner = frame.layers[-1].get("decrypted", {})
        if path.stem.startswith("rdesktop") and "EncryptedPlatformChallengeResponse" in inner:
            # rdesktop echoes the challenge token ("TEST") instead of the response structure
            echo = inner.pop("EncryptedPlatformChallengeResponse")
            assert echo["hex"] == "TEST\0".encode("utf-16-le").hex()
        text = json.dumps(frame.layers)
        assert '"error"' not in text, (frame.frame, text)
        assert '"valid": false' not in text, (frame.frame, text)
    licensing = [f.layers[-1] for f in frames if f.layers[-1]["layer"] == "licensing"]
    assert licensing[0]["fields"]["bMsgType"]["name"] == "LICENSE_REQUEST"


@pytest.mark.parametrize("path", CLIENT, ids=[p.name.split(".")[0] for p in CLIENT])
def test_client_side_capture_replays(path: Path) -> None:
    """rdplic client's own recording of a session replays byte for byte from its side, and
    its outcome is the scenario's as the client saw it."""
    results = replay_file(path, build_client=build_client)
    assert [(r.side, r.status) for r in results] == [("client", "identical")], results
    (connection,) = read_capture(path)
    recording = recordings(connection, "client")
    assert recording is not None
    scenario = next(s for s in OUTCOMES if path.name.split(".")[0].endswith(s))
    expected = {"reissued": "upgraded"}.get(OUTCOMES[scenario], OUTCOMES[scenario])
    assert recording.outcome == expected


def test_windows_tls_capture_decodes_fully_and_our_client_accepts_its_licensing() -> None:
    """Every frame of the TLS capture decodes (through its embedded secrets); the server's
    STATUS_VALID_CLIENT makes rdplic's client core complete as a valid client."""
    require_tshark()
    (connection,) = read_capture(WINDOWS / "win-tls-valid-client.pcapng")
    frames = decode_connection(connection, SessionKeys())
    assert all("error" not in json.dumps(f.layers) for f in frames)
    assert not any(layer["layer"] == "tls" for f in frames for layer in f.layers)
    (valid,) = [f for f in frames if f.layers[-1]["layer"] == "licensing"]
    assert valid.frame == 32 and not valid.from_client
    platform = CLIENT_PLATFORMS["windows-10"]
    client = LicensingClient(
        ClientConfig(
            platform=platform,
            hwid=hardware_id(platform, "PC1"),
            user_name="u",
            machine_name="PC1",
            store=MemoryLicenseStore(),
        ),
        random_bytes=lambda n: bytes(n),
    )
    client.start(NOW)
    body = bytes.fromhex(valid.layers[-1]["fields"] and _licensing_bytes(valid.data))
    client.receive_pdu(body, NOW)
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    assert any(isinstance(e, lic.ValidClient) for e in events), events


def _licensing_bytes(frame: bytes) -> str:
    """The licensing PDU of a TLS-era frame: after TPKT, X.224, Send Data and the 4-byte
    basic security header."""
    mcs = decode_mcs_pdu(decode_x224(decode_tpkt(frame).payload).payload)
    return bytes(mcs.user_data)[4:].hex()  # type: ignore[union-attr]


def test_windows_stdsec_capture_decodes_to_its_encrypted_layer_and_our_client_answers() -> None:
    """The Standard RDP Security capture decodes up to the encrypted payloads (no key for
    them); rdplic's client core answers its Connection Confirm and MCS Connect Response."""
    refused, second = read_capture(WINDOWS / "win-stdsec-valid-client.pcapng")
    assert "SSL_NOT_ALLOWED_BY_SERVER" in json.dumps([f.layers for f in decode_connection(refused)])
    frames = decode_connection(second, SessionKeys())
    assert all("error" not in json.dumps(f.layers) for f in frames)
    encrypted = [
        f for f in frames if f.layers[-1].get("payload") and f.layers[-1]["layer"] == "security"
    ]
    assert encrypted, "the encrypted PDUs are shown as payload"
    server = split_frames(second.data(False), second.frame_map(False))
    core = build_client(security="rdp", platform="windows-10")
    core.start()
    core.data_to_send()
    answers = []
    for _frame, pdu in server[:2]:  # Connection Confirm, MCS Connect Response
        core.receive_data(pdu, NOW)
        out = core.data_to_send()
        answers += [
            type(decode_mcs_pdu(decode_x224(decode_tpkt(p).payload).payload))
            for _f, p in split_frames(out, [(len(out), 0)])
        ]
    assert answers == [McsConnectInitial, ErectDomainRequest, AttachUserRequest]
