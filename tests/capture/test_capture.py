"""Captures: written and read with scapy, decoded frame by frame, replayed offline."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from capture_helpers import require_tshark
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import CookedLinux, Ether
from scapy.utils import PcapNgWriter

from rdplic.app import build_client
from rdplic.capture.pcap import CaptureWriter, read_capture
from rdplic.capture.replay import field_diff, recordings, replay_file
from rdplic.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = ROOT / "captures" / "windows"
# Recorded by scripts/make_captures.py (rdplic client against rdplic serve, Standard RDP
# Security, --capture-secrets): a device upgraded from its temporary license to a CAL.
UPGRADE = ROOT / "tests" / "data" / "captures" / "rdplic-client-rdp-upgrade.pcapng"


def _foreign(path: Path, packets: list[object]) -> None:
    writer = PcapNgWriter(str(path))
    for packet in packets:
        writer.write(packet)
    writer.close()


def test_writer_makes_a_private_file_that_reads_back(tmp_path: Path) -> None:
    """CaptureWriter's file is 0600 and read_capture gives back each side's bytes."""
    path = tmp_path / "c.pcapng"
    writer = CaptureWriter(path)
    stream = writer.open_stream(("10.0.0.2", 50000), ("10.0.0.1", 3389))
    writer.record(stream, True, b"hello" * 5000)
    writer.record(stream, False, b"world")
    writer.close_stream(stream, "rdplic-connection {}")
    writer.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (connection,) = read_capture(path)
    assert connection.data(True) == b"hello" * 5000
    assert connection.data(False) == b"world"
    assert connection.comments == ["{}"]


def test_reassembly_copes_with_retransmission_reordering_and_interleaving(tmp_path: Path) -> None:
    """Out-of-order and retransmitted segments of interleaved connections come out in order."""
    a = ("10.0.0.2", 40000, "10.0.0.1", 3389)
    b = ("10.0.0.3", 40001, "10.0.0.1", 3389)

    def seg(conn: tuple[str, int, str, int], seq: int, data: bytes, flags: str = "PA") -> object:
        return (
            Ether()
            / IP(src=conn[0], dst=conn[2])
            / TCP(sport=conn[1], dport=conn[3], seq=seq, flags=flags)
            / data
        )

    packets = [
        seg(a, 99, b"", "S"),
        seg(b, 499, b"", "S"),
        seg(a, 100, b"AAAA"),
        seg(b, 500, b"1111"),
        seg(a, 108, b"CCCC"),  # out of order
        seg(a, 104, b"BBBB"),
        seg(a, 104, b"BBBB"),  # retransmitted
        seg(b, 502, b"1122"),  # overlapping retransmission
    ]
    path = tmp_path / "foreign.pcapng"
    _foreign(path, packets)
    first, second = read_capture(path)
    assert first.data(True) == b"AAAABBBBCCCC"
    assert second.data(True) == b"111122"
    assert [c.frame for c in first.chunks] == [3, 6, 5]


def test_linux_cooked_framing_is_read(tmp_path: Path) -> None:
    """A Linux cooked (SLL) capture, as tcpdump -i any writes, gives its TCP stream."""
    packet = (
        CookedLinux(proto=0x0800)
        / IP(src="1.2.3.4", dst="5.6.7.8")
        / TCP(sport=1, dport=3389, seq=1, flags="PA")
        / b"\x03\x00\x00\x04"
    )
    path = tmp_path / "sll.pcapng"
    writer = PcapNgWriter(str(path))
    writer.linktype = 113
    writer.write(packet)
    writer.close()
    (connection,) = read_capture(path)
    assert connection.data(True) == b"\x03\x00\x00\x04"


def test_windows_tls_capture_decrypts_through_its_embedded_secrets() -> None:
    """The Windows TLS capture's frame 32 is the STATUS_VALID_CLIENT licensing PDU in clear."""
    require_tshark()
    (connection,) = read_capture(WINDOWS / "win-tls-valid-client.pcapng")
    assert connection.tls == "decrypted"
    hex_32 = ROOT / "tests/data/windows/tls-frame32-s2c-decrypted.hex"
    chunk = next(c for c in connection.chunks if c.frame == 32)
    assert chunk.data == bytes.fromhex("".join(hex_32.read_text().split()))


def test_pdu_decode_of_a_capture_decrypts_standard_rdp_security(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pdu decode FILE.pcapng follows RC4 and the licensing keys of a capture with secrets."""
    assert main(["pdu", "decode", str(UPGRADE)]) == 0
    frames = json.loads(capsys.readouterr().out)
    licensing = [f["layers"][-1] for f in frames if f["layers"][-1]["layer"] == "licensing"]
    names = [layer["fields"]["bMsgType"]["name"] for layer in licensing]
    assert names == [
        "LICENSE_REQUEST",
        "LICENSE_INFO",
        "PLATFORM_CHALLENGE",
        "PLATFORM_CHALLENGE_RESPONSE",
        "UPGRADE_LICENSE",
    ]
    upgrade = licensing[-1]["decrypted"]
    assert upgrade["MACData"] == {"valid": True}
    assert "pbLicenseInfo" in json.dumps(upgrade["EncryptedLicenseInfo"])


def test_pdu_decode_frame_and_connection_pick_one(capsys: pytest.CaptureFixture[str]) -> None:
    """--connection and --frame select; a frame that holds no PDU is one error line, status 2."""
    assert (
        main(
            [
                "pdu",
                "decode",
                str(WINDOWS / "win-stdsec-valid-client.pcapng"),
                "--connection",
                "2",
                "--frame",
                "13",
            ]
        )
        == 0
    )
    (frame,) = json.loads(capsys.readouterr().out)
    assert frame["connection_id"] == 2 and frame["direction"] == "server-to-client"
    assert main(["pdu", "decode", str(UPGRADE), "--frame", "1"]) == 2
    assert "no RDP PDU ends in that frame" in capsys.readouterr().err


def test_offline_replay_is_byte_for_byte(capsys: pytest.CaptureFixture[str]) -> None:
    """A capture recorded with secrets replays identically: exit 0."""
    assert main(["replay", str(UPGRADE)]) == 0
    assert "identical" in capsys.readouterr().out


def _changed_capture(path: Path) -> Path:
    """UPGRADE with one byte of the license the decision carried changed: what a change to
    the license server's output looks like to a replay."""
    from rdplic.capture import pcap

    (connection,) = read_capture(UPGRADE)
    recording = recordings(connection)
    assert recording is not None
    for item in recording.inputs:
        if item["op"] == "decide" and item["decision"]["blob"]:
            blob = bytearray.fromhex(item["decision"]["blob"])
            blob[-1] ^= 0xFF
            item["decision"]["blob"] = blob.hex()
    writer = pcap.CaptureWriter(path)
    stream = writer.open_stream(connection.client, connection.server)
    for chunk in connection.chunks:
        writer.record(stream, chunk.from_client, chunk.data)
    writer.close_stream(stream, pcap.COMMENT_PREFIX + recording.to_json())
    writer.close()
    return path


def test_replay_names_the_field_that_differs_and_update_rewrites(tmp_path: Path) -> None:
    """A changed decision shows the field path of the first differing PDU; --update fixes it."""
    changed = _changed_capture(tmp_path / "changed.pcapng")
    (result,) = replay_file(changed)
    assert result.status == "differs"
    assert result.path.startswith("licensing.decrypted.EncryptedLicenseInfo")
    replay_file(changed, update=True)
    (again,) = replay_file(changed)
    assert again.status == "identical"


def test_field_diff_paths() -> None:
    """field_diff names layers by their name and keys by their path."""
    a = [{"layer": "tpkt", "fields": {"x": 1}}, {"layer": "licensing", "fields": {"y": [1, 2]}}]
    b = [{"layer": "tpkt", "fields": {"x": 1}}, {"layer": "licensing", "fields": {"y": [1, 3]}}]
    assert field_diff(a, b) == ("licensing.fields.y.1", 2, 3)
    assert field_diff(a, a) is None


def test_replay_json_summary_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints a summary for CI; a missing file is one line and status 2."""
    assert main(["replay", "--json", str(UPGRADE.parent)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdicts"] == {"identical": summary["connections"]}
    assert main(["replay", str(tmp_path / "nothing.pcapng")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_serve_capture_records_a_session_that_replays(tmp_path: Path) -> None:
    """scripts/make_captures.py (rdplic serve --capture --capture-secrets with rdplic's client
    over TLS) writes sessions that rdplic replay finds identical."""
    out = tmp_path / "captures"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/make_captures.py"), str(out), "--security", "tls"],
        check=True,
        timeout=120,
        env=env,
        capture_output=True,
    )
    files = sorted(out.glob("*.pcapng"))
    assert len(files) == 16  # each session from the server's side and from the client's
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        results = replay_file(path, build_client=build_client)
        side = "client" if path.name.endswith(".client.pcapng") else "server"
        assert [(r.side, r.status) for r in results] == [(side, "identical")]


def test_pytest_plugin_gives_one_test_per_capture_with_the_diff(tmp_path: Path) -> None:
    """pytest --rdplic-captures DIR: a test per file; the failing one shows the field path."""
    captures = tmp_path / "captures"
    captures.mkdir()
    shutil.copy(UPGRADE, captures / "good.pcapng")
    _changed_capture(captures / "changed.pcapng")
    empty = tmp_path / "project"
    empty.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--rdplic-captures",
            str(captures),
            str(empty),
        ],
        cwd=empty,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed" in result.stdout
    assert "licensing.decrypted.EncryptedLicenseInfo" in result.stdout


def _without_secrets(path: Path) -> tuple[Path, dict[str, str]]:
    """UPGRADE rewritten without its recorded keys; the keys returned by name."""
    from rdplic.capture import pcap

    (connection,) = read_capture(UPGRADE)
    recording = recordings(connection)
    assert recording is not None and recording.secrets is not None
    keys = {name: recording.secrets[name] for name in ("proprietary_key", "licensing_key")}
    recording.secrets = None
    writer = pcap.CaptureWriter(path)
    stream = writer.open_stream(connection.client, connection.server)
    for chunk in connection.chunks:
        writer.record(stream, chunk.from_client, chunk.data)
    writer.close_stream(stream, pcap.COMMENT_PREFIX + recording.to_json())
    writer.close()
    return path, keys


def test_without_secrets_decode_needs_the_state_dir_or_the_two_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture without secrets decodes to its encrypted layer; --state-dir, or
    --proprietary-key with --server-key, decrypt Standard RDP Security and licensing."""
    capture, keys = _without_secrets(tmp_path / "plain.pcapng")

    def licensing_views(*options: str) -> list[dict[str, object]]:
        assert main(["pdu", "decode", str(capture), *options]) == 0
        frames = json.loads(capsys.readouterr().out)
        return [f["layers"][-1] for f in frames if f["layers"][-1]["layer"] == "licensing"]

    assert licensing_views() == []  # every licensing PDU is still RC4 ciphertext
    identity = tmp_path / "state" / "identity"
    identity.mkdir(parents=True)
    (identity / "proprietary-key.pem").write_text(keys["proprietary_key"])
    (identity / "terminal-server-key.pem").write_text(keys["licensing_key"])
    by_state_dir = licensing_views("--state-dir", str(tmp_path / "state"))
    assert by_state_dir[-1]["decrypted"]["MACData"] == {"valid": True}
    by_keys = licensing_views(
        "--proprietary-key",
        str(identity / "proprietary-key.pem"),
        "--server-key",
        str(identity / "terminal-server-key.pem"),
    )
    assert by_keys == by_state_dir
    assert main(["pdu", "decode", str(capture), "--state-dir", str(tmp_path)]) == 2


def test_without_secrets_replay_is_partial(tmp_path: Path) -> None:
    """Recorded without --capture-secrets, a session replays as far as the keys are not
    needed: "partial", which does not fail rdplic replay."""
    capture, _keys = _without_secrets(tmp_path / "plain.pcapng")
    (result,) = replay_file(capture)
    assert result.status == "partial"
    assert "--capture-secrets" in result.detail
    assert main(["replay", str(capture)]) == 0


def test_recorder_hands_the_tls_bytes_after_the_connection_request_to_the_adapter(
    tmp_path: Path,
) -> None:
    """A ClientHello in the same write as the Connection Request reaches the adapter (the
    machine hands it over once) and is not recorded as RDP bytes."""
    from datetime import UTC, datetime

    from rdplic.app import build_server
    from rdplic.capture.recorder import CaptureRecorder

    app = build_server(tmp_path / "state", security="tls")
    recorder = CaptureRecorder(tmp_path / "c.pcapng")
    core = app.make_recorded_connection(recorder)
    stream = recorder.open_stream(("127.0.0.1", 50000), ("127.0.0.1", 3389), core)
    client = build_client(security="tls")
    client.start()
    request = client.data_to_send()
    hello = b"\x16\x03\x01\x00\x05hello"
    core.receive_data(request + hello, datetime.now(UTC))
    while core.next_event() is not None:
        pass
    core.data_to_send()
    assert core.awaiting_tls
    assert core.trailing_data == hello
    assert core.trailing_data == b""
    recorder.close_stream(stream)
    recorder.close()
    app.close()
    (connection,) = read_capture(tmp_path / "c.pcapng")
    assert connection.data(True) == request
    recording = recordings(connection)
    assert recording is not None and recording.inputs[0]["length"] == len(request)


def test_tls_capture_without_embedded_secrets_decrypts_with_a_key_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Windows TLS capture stripped of its secrets (editcap) stays encrypted, and
    decrypts again with the same secrets given as a key log (--keylog)."""
    require_tshark()
    import re

    source = WINDOWS / "win-tls-valid-client.pcapng"
    keylog = tmp_path / "keys.log"
    lines = re.findall(rb"CLIENT_RANDOM [0-9a-fA-F]+ [0-9a-fA-F]+", source.read_bytes())
    assert lines
    keylog.write_bytes(b"\n".join(lines) + b"\n")
    stripped = tmp_path / "stripped.pcapng"
    subprocess.run(
        ["editcap", "--discard-all-secrets", str(source), str(stripped)], check=True, timeout=60
    )
    (connection,) = read_capture(stripped)
    assert connection.tls == "encrypted"
    (connection,) = read_capture(stripped, keylog=keylog)
    assert connection.tls == "decrypted"
    assert main(["pdu", "decode", str(stripped), "--keylog", str(keylog), "--frame", "32"]) == 0
    (frame,) = json.loads(capsys.readouterr().out)
    assert frame["layers"][-1]["fields"]["bMsgType"]["name"] == "ERROR_ALERT"
    assert main(["pdu", "decode", str(stripped), "--frame", "32"]) == 0
    (frame,) = json.loads(capsys.readouterr().out)
    assert frame["layers"] == [
        {"layer": "tls", "encrypted": True, "payload": frame["layers"][0]["payload"]}
    ]


def test_client_side_replay_names_what_the_client_sends_differently(tmp_path: Path) -> None:
    """A client recording whose stored license changed: the client side differs at the
    License Info it presents, field path named; --update makes the capture identical."""
    from rdplic.capture import pcap

    client_capture = UPGRADE.with_name("rdplic-client-rdp-upgrade.client.pcapng")
    (connection,) = read_capture(client_capture)
    recording = recordings(connection, "client")
    assert recording is not None and recording.client_licenses
    blob = bytearray.fromhex(recording.client_licenses[0]["blob"])
    blob[-1] ^= 0xFF
    recording.connection_config["licenses"][0]["blob"] = blob.hex()
    changed = tmp_path / "changed.client.pcapng"
    writer = pcap.CaptureWriter(changed)
    stream = writer.open_stream(connection.client, connection.server)
    for chunk in connection.chunks:
        writer.record(stream, chunk.from_client, chunk.data)
    writer.close_stream(stream, pcap.COMMENT_PREFIX + recording.to_json())
    writer.close()
    (result,) = replay_file(changed, build_client=build_client)
    assert (result.side, result.status) == ("client", "differs")
    assert result.path  # the first client PDU that differs, decoded
    replay_file(changed, update=True, build_client=build_client)
    (again,) = replay_file(changed, build_client=build_client)
    assert again.status == "identical"


def test_decode_follows_rc4_across_the_key_update_after_4096_packets() -> None:
    """4,100 more encrypted client PDUs appended to a recorded session still decrypt with
    valid MACs: the decoder updates the RC4 key every 4,096 packets ([MS-RDPBCGR] 5.3.7)."""
    import dataclasses

    from rdplic.capture.decode import decode_connection
    from rdplic.capture.pcap import Chunk
    from rdplic.capture.replay import _keys
    from rdplic.crypto.rdp_security import EncryptionMethod, RdpCipher, derive_session_keys
    from rdplic.pdu.framing import tpkt_data_frame
    from rdplic.pdu.mcs import SendDataRequest, encode_domain_pdu
    from rdplic.pdu.rdp import SecurityFlag, security_header_bytes

    (connection,) = read_capture(UPGRADE)
    recording = recordings(connection)
    assert recording is not None and recording.secrets is not None
    rdp = recording.secrets["session"]["rdp_security"]
    keys = derive_session_keys(
        bytes.fromhex(rdp["client_random"]),
        bytes.fromhex(rdp["server_random"]),
        EncryptionMethod[rdp["method"]],
        server=False,
    )
    client = RdpCipher(keys)
    frames = decode_connection(connection, _keys(recording))
    for frame in frames:  # bring the client's RC4 stream to where the session left it
        security = next((x for x in frame.layers if x["layer"] == "security"), None)
        if frame.from_client and security and security["fields"]["dataSignature"]:
            encrypted = (
                len(frame.data)
                - frame.data.index(bytes.fromhex(security["fields"]["dataSignature"]))
                - 8
            )
            client.protect(bytes(encrypted))
    extra = []
    for number in range(4100):
        plaintext = number.to_bytes(4, "little") * 4
        signature, ciphertext = client.protect(plaintext)
        user_data = security_header_bytes(int(SecurityFlag.SEC_ENCRYPT), signature) + ciphertext
        pdu = SendDataRequest(initiator=1007, channel_id=1003, user_data=user_data)
        extra.append(Chunk(10_000 + number, True, tpkt_data_frame(encode_domain_pdu(pdu))))
    longer = dataclasses.replace(connection, chunks=[*connection.chunks, *extra])
    decoded = [f for f in decode_connection(longer, _keys(recording)) if f.frame >= 10_000]
    assert len(decoded) == 4100
    for number, frame in enumerate(decoded):
        security = frame.layers[-1]
        assert security["decrypted"] == {"MAC": {"valid": True}}, number
        assert security["payload"] == (number.to_bytes(4, "little") * 4).hex()


def test_replay_json_speaks_the_vocabulary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """replay --json: every key in KEYS or COMMAND_KEYS['replay'] (the decoded PDU values
    under recorded/replayed keep the specifications' names)."""
    from rdplic.vocabulary import COMMAND_KEYS, KEYS

    allowed = set(KEYS) | set(COMMAND_KEYS["replay"])
    changed = _changed_capture(tmp_path / "changed.pcapng")
    assert main(["replay", "--json", str(changed), str(UPGRADE)]) == 1
    summary = json.loads(capsys.readouterr().out)

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                assert key in allowed, key
                if key not in ("recorded", "replayed", "verdicts"):
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(summary)
    assert summary["verdicts"] == {"differs": 1, "identical": 1}
    assert isinstance(summary["results"][0]["connection_id"], int)


def test_client_side_replay_decrypts_the_field_that_differs(tmp_path: Path) -> None:
    """A recorded client replayed with another hardware ID: the difference is named inside
    the decrypted EncryptedHWID (the client's premaster found in its own randomness), with
    both values, not as opaque ciphertext."""
    from rdplic.capture import pcap

    client_capture = UPGRADE.with_name("rdplic-client-rdp-upgrade.client.pcapng")
    (connection,) = read_capture(client_capture)
    recording = recordings(connection, "client")
    assert recording is not None
    recording.connection_config["client"]["hwid"] = (bytes(4) + bytes(range(16))).hex()
    changed = tmp_path / "hwid.client.pcapng"
    writer = pcap.CaptureWriter(changed)
    stream = writer.open_stream(connection.client, connection.server)
    for chunk in connection.chunks:
        writer.record(stream, chunk.from_client, chunk.data)
    writer.close_stream(stream, pcap.COMMENT_PREFIX + recording.to_json())
    writer.close()
    (result,) = replay_file(changed, build_client=build_client)
    assert (result.side, result.status) == ("client", "differs")
    assert "decrypted.EncryptedHWID" in result.path, result.path
    assert result.replayed != result.recorded
    assert isinstance(result.replayed, int | str)


TLS_NEW_DEVICE = ROOT / "captures" / "rdplic-serve" / "rdplic-client-tls-new-device.pcapng"


def _stripped(source: Path, path: Path, *, longer_license: bool = False) -> Path:
    """``source`` without its recorded keys; with ``longer_license``, the recorded decision's
    license four bytes longer (the change a CI user must hear about)."""
    from rdplic.capture import pcap

    writer = pcap.CaptureWriter(path)
    for connection in read_capture(source):
        recording = recordings(connection)
        assert recording is not None
        recording.secrets = None
        for item in recording.inputs:
            if longer_license and item["op"] == "decide":
                item["decision"]["blob"] += "00000000"
        stream = writer.open_stream(connection.client, connection.server)
        for chunk in connection.chunks:
            writer.record(stream, chunk.from_client, chunk.data)
        writer.close_stream(stream, pcap.COMMENT_PREFIX + recording.to_json())
    writer.close()
    return path


def test_without_secrets_the_rest_of_a_tls_session_is_compared_by_structure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the premaster secret, a session without secrets runs again with a stand-in
    client under stand-in keys: every later server PDU has the recorded shape, the encrypted
    licensing fields named as compared by length; the verdict stays "partial" (exit 0)."""
    capture = _stripped(TLS_NEW_DEVICE, tmp_path / "plain.pcapng")
    (result,) = replay_file(capture)
    assert result.status == "partial"
    structure = result.structure
    assert structure is not None and structure["verdict"] == "same-structure", structure
    assert structure["compared"] == result.pdus
    assert any(name.endswith("EncryptedLicenseInfo") for name in structure["by_length"])
    assert "EncryptedPreMasterSecret" in structure["detail"]
    assert main(["replay", str(capture)]) == 0
    capsys.readouterr()
    assert main(["replay", "--json", str(capture)]) == 0
    (shown,) = json.loads(capsys.readouterr().out)["results"]
    from rdplic.vocabulary import COMMAND_KEYS, KEYS

    assert set(shown["structure"]) <= set(KEYS) | set(COMMAND_KEYS["replay"])


def test_without_secrets_a_change_in_shape_is_found_and_fails(tmp_path: Path) -> None:
    """A recording whose license grew by four bytes: the New License's encrypted blob is
    longer than recorded, which the structural comparison reports with both lengths; the
    replay fails (exit 1) though its verdict is "partial"."""
    capture = _stripped(TLS_NEW_DEVICE, tmp_path / "grown.pcapng", longer_license=True)
    (result,) = replay_file(capture)
    assert result.status == "partial"
    structure = result.structure
    assert structure is not None and structure["verdict"] == "differs", structure
    assert structure["path"].endswith("EncryptedLicenseInfo")
    recorded, replayed = structure["recorded"], structure["replayed"]
    assert replayed["length"]["blobData"] == recorded["length"]["blobData"] + 8  # hex digits
    assert main(["replay", str(capture)]) == 1
    from rdplic.cli.pytest_plugin import _describe, _misshapen

    assert _misshapen(result)  # the pytest plugin fails it too, showing where
    assert "EncryptedLicenseInfo" in _describe(result)


def test_without_secrets_standard_rdp_security_is_followed_with_a_stand_in_client(
    tmp_path: Path,
) -> None:
    """Under Standard RDP Security the stand-in client encrypts under its own client random:
    a new device's session keeps its shape to the end (the RC4 payloads by length); a
    client presenting its license stops the comparison there, said so."""
    rdp_new = ROOT / "captures" / "rdplic-serve" / "rdplic-client-rdp-new-device.pcapng"
    (result,) = replay_file(_stripped(rdp_new, tmp_path / "new.pcapng"))
    structure = result.structure
    assert structure is not None and structure["verdict"] == "same-structure", structure
    assert structure["compared"] == result.pdus
    assert any(name.endswith("security.payload") for name in structure["by_length"])
    (upgrade,) = replay_file(_stripped(UPGRADE, tmp_path / "upgrade.pcapng"))
    assert upgrade.structure is not None
    assert upgrade.structure["verdict"] == "same-structure"
    assert "License Info" in upgrade.structure["detail"]
    assert "not compared" in upgrade.structure["detail"]
