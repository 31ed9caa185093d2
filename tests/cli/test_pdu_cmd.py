"""``rdplic pdu decode`` / ``rdplic pdu encode``, driven through rdplic.cli.main.main.

Bytes: the MS-RDPELE section 4 and MS-RDPBCGR 4.1.11 examples of tests/data/rdpele/
(provenance in its README), the bundled sample (rdplic/data/README.md), and one Windows
frame quoted below.  PDUs with known keys are built here with rdplic.crypto.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from rdplic.cli.main import main
from rdplic.pdu.licensing import (
    BlobType,
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ClientType,
    LicenseBinaryBlob,
    LicenseDetailLevel,
    LicensingPdu,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    PreambleFlags,
    ServerNewLicense,
    ServerPlatformChallenge,
    TextBlob,
    encode_client_hardware_id,
    encode_licensing_pdu,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "rdpele"
EXAMPLES = sorted(
    path.name
    for path in DATA.glob("*.hex")
    if not path.name.endswith("-decrypted.hex") and "frame" not in path.name
)
SAMPLE = Path(__file__).resolve().parents[2] / "rdplic" / "data" / "license-request.hex"

# captures/windows/win-tls-valid-client.pcapng, frame 32 (server to client, TLS decrypted):
# the valid-client PDU as Windows frames it over TLS (basic security header, flags 0x0080).
WINDOWS_VALID_CLIENT_FRAME = bytes.fromhex(
    "0300002202f08068000103eb701480000000ff031000070000000200000004000000"
)


def example(name: str) -> bytes:
    """The bytes of one example file (hex, whitespace ignored)."""
    return bytes.fromhex((DATA / name).read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``rdplic ARGV``; return the exit status, stdout and stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def decode_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    status, out, err = run(capsys, "pdu", "decode", *argv)
    assert status == 0, err
    layers: list[dict[str, Any]] = json.loads(out)
    return layers


def encode_hex(capsys: pytest.CaptureFixture[str], tmp_path: Path, layers: Any) -> bytes:
    path = tmp_path / "layers.json"
    path.write_text(json.dumps(layers))
    status, out, err = run(capsys, "pdu", "encode", str(path))
    assert status == 0, err
    return bytes.fromhex(out.strip())


WINDOWS_FRAMES = sorted((DATA.parent / "windows").glob("*.hex"))


@pytest.mark.parametrize("path", WINDOWS_FRAMES, ids=lambda p: p.name)
def test_every_windows_frame_decodes_and_encodes_back(
    path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Every frame of the Windows captures (tests/data/windows, see its README) decodes as far
    as its layers go (X.224 connection, MCS connect and domain PDUs, encrypted payloads,
    licensing) and encodes back to the same bytes."""
    data = bytes.fromhex(path.read_text())
    layers = decode_json(capsys, str(path))
    assert layers[0]["layer"] == "tpkt"
    assert encode_hex(capsys, tmp_path, layers) == data


def test_windows_frame_is_what_the_comment_says() -> None:
    """The quoted Windows frame is 34 bytes: TPKT, X.224, SDin, flags 0x0080, valid client."""
    assert len(WINDOWS_VALID_CLIENT_FRAME) == 0x22
    assert WINDOWS_VALID_CLIENT_FRAME.endswith(example("bcgr-4.1.11-valid-client.hex"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_decode_and_encode_back(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """decode then encode gives back every spec example exactly (MS-RDPELE 4.x)."""
    data = example(name)
    layers = decode_json(capsys, "--hex", data.hex())
    assert [layer["layer"] for layer in layers] == ["licensing"]
    assert encode_hex(capsys, tmp_path, layers) == data


def test_sample_decodes_every_layer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--sample decodes the bundled 4.1 frame from TPKT down to the License Request."""
    layers = decode_json(capsys, "--sample")
    assert [layer["layer"] for layer in layers] == ["tpkt", "x224", "mcs", "security", "licensing"]
    mcs = layers[2]["fields"]
    assert mcs["type"] == "SendDataIndication"
    assert (mcs["initiator"], mcs["channelId"]) == (1002, 1003)
    assert layers[3]["fields"]["flags"] == {"value": 0x80, "name": "SEC_LICENSE_PKT"}
    licensing = layers[4]
    assert licensing["fields"]["bMsgType"]["name"] == "LICENSE_REQUEST"
    assert licensing["fields"]["message"]["ProductInfo"]["pbProductId"]["text"] == "A02\0"
    certificate = licensing["decoded"]["ServerCertificate"]
    assert certificate["certData"]["type"] == "X509CertificateChain"
    assert len(certificate["certData"]["CertBlobArray"]) == 2
    sample = bytes.fromhex("".join(SAMPLE.read_text().split()))
    assert encode_hex(capsys, tmp_path, layers) == sample


def test_whole_windows_frame(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A whole TPKT frame is detected and decoded down to the licensing PDU."""
    layers = decode_json(capsys, "--hex", WINDOWS_VALID_CLIENT_FRAME.hex())
    assert [layer["layer"] for layer in layers] == ["tpkt", "x224", "mcs", "security", "licensing"]
    message = layers[-1]["fields"]["message"]
    assert message["dwErrorCode"]["name"] == "STATUS_VALID_CLIENT"
    assert encode_hex(capsys, tmp_path, layers) == WINDOWS_VALID_CLIENT_FRAME


def test_security_header_then_licensing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A security header with SEC_LICENSE_PKT followed by a licensing PDU is detected."""
    data = WINDOWS_VALID_CLIENT_FRAME[14:]
    assert data[:4] == b"\x80\x00\x00\x00"
    layers = decode_json(capsys, "--hex", data.hex())
    assert [layer["layer"] for layer in layers] == ["security", "licensing"]
    assert encode_hex(capsys, tmp_path, layers) == data


def test_encrypted_frame_stops_at_the_security_layer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """MS-RDPBCGR 4.1.11 (SEC_ENCRYPT): the encrypted licensing bytes are shown as payload."""
    data = example("bcgr-4.1.11-valid-client-frame.hex")
    layers = decode_json(capsys, "--hex", data.hex())
    assert [layer["layer"] for layer in layers] == ["tpkt", "x224", "mcs", "security"]
    security = layers[-1]
    assert security["fields"]["flags"]["value"] == 0x0288
    assert security["fields"]["flagsHi"] == 0x0302
    assert security["fields"]["dataSignature"] == "8d439aabd52a3139"
    assert security["payload"] == "624dc1ec0d9988e6daab2c02724d4990"
    assert encode_hex(capsys, tmp_path, layers) == data


def test_forced_layer(capsys: pytest.CaptureFixture[str]) -> None:
    """--layer overrides detection: a valid-client PDU read as a security header is refused."""
    data = example("bcgr-4.1.11-valid-client.hex")
    assert [x["layer"] for x in decode_json(capsys, "--layer", "licensing", "--hex", data.hex())]
    status, out, err = run(capsys, "pdu", "decode", "--layer", "tpkt", "--hex", data.hex())
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1


def test_file_binary_and_hex_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A FILE argument may hold raw bytes or hex text; both decode the same."""
    data = example("4.4-server-platform-challenge.hex")
    binary = tmp_path / "pdu.bin"
    binary.write_bytes(data)
    text = tmp_path / "pdu.hex"
    text.write_text((DATA / "4.4-server-platform-challenge.hex").read_text())
    assert decode_json(capsys, str(binary)) == decode_json(capsys, str(text))


@pytest.mark.parametrize("as_hex", [False, True])
def test_stdin(
    as_hex: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without FILE, decode reads stdin, binary or hex text."""
    data = example("4.5-client-platform-challenge-response.hex")
    raw = data.hex().encode() + b"\n" if as_hex else data
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    layers = decode_json(capsys)
    assert layers[0]["fields"]["bMsgType"]["name"] == "PLATFORM_CHALLENGE_RESPONSE"


def test_encode_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """encode without FILE reads the JSON from stdin."""
    data = example("bcgr-4.1.11-valid-client.hex")
    layers = decode_json(capsys, "--hex", data.hex())
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(layers).encode())))
    status, out, _ = run(capsys, "pdu", "encode")
    assert status == 0
    assert out.strip() == data.hex()


def test_encode_derives_lengths_after_an_edit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Editing a field in the JSON re-derives every length, TPKT to wBlobLen."""
    layers = decode_json(capsys, "--hex", WINDOWS_VALID_CLIENT_FRAME.hex())
    layers[-1]["fields"]["message"]["bbErrorInfo"]["blobData"] = "00112233"
    frame = encode_hex(capsys, tmp_path, layers)
    assert len(frame) == len(WINDOWS_VALID_CLIENT_FRAME) + 4
    assert int.from_bytes(frame[2:4], "big") == len(frame)
    assert frame[13] == WINDOWS_VALID_CLIENT_FRAME[13] + 4  # MCS userData length
    assert frame[20:22] == (0x14).to_bytes(2, "little")  # wMsgSize
    assert frame[-4:] == bytes.fromhex("00112233")


@pytest.mark.parametrize(
    "argv",
    [
        ["pdu", "decode", "--hex", "0103980884"],
        ["pdu", "decode", "--hex", "77031000"],
        ["pdu", "decode", "--hex", "zz"],
        ["pdu", "decode", "--hex", WINDOWS_VALID_CLIENT_FRAME[:-1].hex()],
        ["pdu", "decode", "--hex", "0300000702f080"],
        ["pdu", "decode", "/nonexistent/file.bin"],
        ["pdu", "decode", "--hex", "ff031000", "--sample"],
    ],
)
def test_malformed_input_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed input: exit status 2, nothing on stdout, one line on stderr, no traceback."""
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("rdplic: error: ")
    assert "Traceback" not in err


def test_malformed_pdu_error_names_structure_field_and_offset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The error line is PduError's: structure, field path and offset."""
    data = example("4.1-server-license-request.hex")[:100]
    status, _, err = run(capsys, "pdu", "decode", "--hex", data.hex())
    assert status == 2
    assert err.strip() == (
        "rdplic: error: SERVER_LICENSE_REQUEST.KeyExchangeList.wBlobType at offset 100: "
        "stream read less than specified amount, expected 2, found 0"
    )


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '[{"layer": "nope"}]',
        '[{"layer": "licensing", "fields": {"message": {"type": "Nope"}}}]',
        '[{"layer": "licensing", "fields": {"message": {"type": "LicenseErrorMessage"}}}]',
    ],
)
def test_malformed_json_exits_2_with_one_line(
    text: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """encode of bad JSON: exit 2 and a one-line reason."""
    path = tmp_path / "bad.json"
    path.write_text(text)
    status, out, err = run(capsys, "pdu", "encode", str(path))
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1


def test_unencodable_json_value_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A value out of range for its wire field fails with the PduError line."""
    layers = decode_json(capsys, "--hex", example("bcgr-4.1.11-valid-client.hex").hex())
    layers[0]["fields"]["message"]["dwErrorCode"] = 1 << 40
    path = tmp_path / "big.json"
    path.write_text(json.dumps(layers))
    status, _, err = run(capsys, "pdu", "encode", str(path))
    assert status == 2
    assert "LICENSE_ERROR_MESSAGE" in err


# -- decryption ------------------------------------------------------------

crypto = pytest.importorskip("rdplic.crypto")

PREMASTER = bytes(range(48))
CLIENT_RANDOM = bytes(range(100, 132))
SERVER_RANDOM = bytes(range(200, 232))
CHALLENGE = "TEST\0".encode("utf-16-le")
HWID = ClientHardwareId(2, 0x11111111, 0x22222222, 0x33333333, 0x44444444)


def keys() -> Any:
    return crypto.derive_licensing_keys(PREMASTER, CLIENT_RANDOM, SERVER_RANDOM)


def encrypted_pdus() -> dict[str, bytes]:
    """A challenge, a response, a License Info and a New License under one set of keys."""
    k = keys()

    def rc4(data: bytes) -> bytes:
        return bytes(crypto.rc4(k.licensing_encryption_key, data))

    def mac(data: bytes) -> bytes:
        return bytes(crypto.mac_data(k.mac_salt_key, data))

    hwid = encode_client_hardware_id(HWID)
    response = encode_platform_challenge_response_data(
        PlatformChallengeResponseData(
            0x0100,
            ClientType.WIN32_PLATFORMCHALLENGE_TYPE,
            LicenseDetailLevel.LICENSE_DETAIL_DETAIL,
            CHALLENGE,
        )
    )
    info = encode_new_license_info(
        NewLicenseInfo(
            0x00060000,
            b"microsoft.com\0",
            "Microsoft Corporation\0".encode("utf-16-le"),
            "A02\0".encode("utf-16-le"),
            b"\x30\x00",
        )
    )
    blob = LicenseBinaryBlob
    client = PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED
    return {
        "challenge": encode_licensing_pdu(
            LicensingPdu(ServerPlatformChallenge(0, blob(0xF750, rc4(CHALLENGE)), mac(CHALLENGE)))
        ),
        "response": encode_licensing_pdu(
            LicensingPdu(
                ClientPlatformChallengeResponse(
                    blob(BlobType.BB_DATA_BLOB, rc4(response)),
                    blob(BlobType.BB_DATA_BLOB, rc4(hwid)),
                    mac(response + hwid),
                ),
                flags=client,
            )
        ),
        "license_info": encode_licensing_pdu(
            LicensingPdu(
                ClientLicenseInfo(
                    1,
                    0x04010000,
                    CLIENT_RANDOM,
                    blob(BlobType.BB_RANDOM_BLOB, bytes(72)),
                    blob(BlobType.BB_DATA_BLOB, b"\x30\x00"),
                    blob(BlobType.BB_DATA_BLOB, rc4(hwid)),
                    mac(hwid),
                ),
                flags=client,
            )
        ),
        "new_license": encode_licensing_pdu(
            LicensingPdu(
                ServerNewLicense(blob(BlobType.BB_ENCRYPTED_DATA_BLOB, rc4(info)), mac(info))
            )
        ),
    }


def key_args() -> list[str]:
    k = keys()
    return [
        "--licensing-key",
        k.licensing_encryption_key.hex(),
        "--mac-salt-key",
        k.mac_salt_key.hex(),
    ]


def premaster_args() -> list[str]:
    return [
        "--premaster",
        PREMASTER.hex(),
        "--client-random",
        CLIENT_RANDOM.hex(),
        "--server-random",
        SERVER_RANDOM.hex(),
    ]


@pytest.mark.parametrize("how", [key_args, premaster_args])
def test_decrypts_challenge_and_checks_mac(how: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With keys, the challenge is shown decrypted ("TEST") and its MAC is valid."""
    data = encrypted_pdus()["challenge"]
    layers = decode_json(capsys, "--hex", data.hex(), *how())
    decrypted = layers[-1]["decrypted"]
    assert decrypted["EncryptedPlatformChallenge"] == {"hex": CHALLENGE.hex(), "text": "TEST\0"}
    assert decrypted["MACData"] == {"valid": True}


def test_decrypts_challenge_response(capsys: pytest.CaptureFixture[str]) -> None:
    """Response data and HWID are decoded after decryption; the MAC covers both."""
    data = encrypted_pdus()["response"]
    decrypted = decode_json(capsys, "--hex", data.hex(), *key_args())[-1]["decrypted"]
    response = decrypted["EncryptedPlatformChallengeResponse"]
    assert response["wClientType"]["name"] == "WIN32_PLATFORMCHALLENGE_TYPE"
    assert response["pbChallenge"] == CHALLENGE.hex()
    assert decrypted["EncryptedHWID"]["Data4"] == 0x44444444
    assert decrypted["MACData"] == {"valid": True}


def test_decrypts_license_info_with_its_own_client_random(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """License Info carries ClientRandom, so --premaster needs only --server-random."""
    data = encrypted_pdus()["license_info"]
    args = ["--premaster", PREMASTER.hex(), "--server-random", SERVER_RANDOM.hex()]
    decrypted = decode_json(capsys, "--hex", data.hex(), *args)[-1]["decrypted"]
    assert decrypted["EncryptedHWID"]["PlatformId"] == 2
    assert decrypted["MACData"] == {"valid": True}
    assert decrypted["PreMasterSecret"] == PREMASTER.hex()


def test_decrypts_new_license(capsys: pytest.CaptureFixture[str]) -> None:
    """NEW_LICENSE_INFO is shown decoded after decryption."""
    data = encrypted_pdus()["new_license"]
    decrypted = decode_json(capsys, "--hex", data.hex(), *key_args())[-1]["decrypted"]
    info = decrypted["EncryptedLicenseInfo"]
    assert info["pbScope"]["text"] == "microsoft.com\0"
    assert info["pbLicenseInfo"] == "3000"
    assert decrypted["MACData"] == {"valid": True}


def test_wrong_keys_show_invalid_mac(capsys: pytest.CaptureFixture[str]) -> None:
    """With the wrong keys the MAC is reported invalid and undecodable plaintext is shown raw."""
    data = encrypted_pdus()["new_license"]
    args = ["--licensing-key", "00" * 16, "--mac-salt-key", "00" * 16]
    decrypted = decode_json(capsys, "--hex", data.hex(), *args)[-1]["decrypted"]
    assert decrypted["MACData"] == {"valid": False}
    assert "error" in decrypted["EncryptedLicenseInfo"]


def test_server_key_decrypts_the_premaster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--server-key recovers the premaster from a New License Request's EncryptedPreMasterSecret
    and derives the keys with that PDU's ClientRandom."""
    rng = random.Random(7)
    private = crypto.generate_rsa_key(512, lambda n: rng.randbytes(n))
    key_file = tmp_path / "server.pem"
    key_file.write_bytes(crypto.dump_private_key(private))
    request = LicensingPdu(
        ClientNewLicenseRequest(
            1,
            0x04010000,
            CLIENT_RANDOM,
            LicenseBinaryBlob(
                BlobType.BB_RANDOM_BLOB, crypto.encrypt_premaster(private.public, PREMASTER)
            ),
            TextBlob(BlobType.BB_CLIENT_USER_NAME_BLOB, b"user\0"),
            TextBlob(BlobType.BB_CLIENT_MACHINE_NAME_BLOB, b"host\0"),
        ),
        flags=PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED,
    )
    data = encode_licensing_pdu(request)
    args = ["--server-key", str(key_file), "--server-random", SERVER_RANDOM.hex()]
    decrypted = decode_json(capsys, "--hex", data.hex(), *args)[-1]["decrypted"]
    assert decrypted == {"PreMasterSecret": PREMASTER.hex()}


@pytest.mark.parametrize(
    "args",
    [
        ["--licensing-key", "00" * 16],
        ["--premaster", "00" * 48],
        ["--premaster", "00" * 48, "--server-random", "00" * 32],
        ["--server-key", "/nonexistent.pem", "--server-random", "00" * 32],
        ["--client-random", "00" * 32],
        ["--licensing-key", "xyz", "--mac-salt-key", "00"],
    ],
)
def test_bad_key_options_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Incomplete or malformed key options are a usage error on one line."""
    data = encrypted_pdus()["challenge"]
    status, out, err = run(capsys, "pdu", "decode", "--hex", data.hex(), *args)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
