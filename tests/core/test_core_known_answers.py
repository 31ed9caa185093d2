"""Known-answer tests: the cores against the messages of MS-RDPELE section 4 and real Windows bytes.

Sources (see tests/data/rdpele/README.md and captures/windows/README.md):

* MS-RDPELE 4.1 SERVER LICENSE REQUEST (a Windows Server 2008 host "RODENT",
  X.509 chain with the 1.3.14.3.2.15 key OID), 4.2 CLIENT NEW LICENSE REQUEST,
  4.3 CLIENT LICENSE INFO, 4.4 SERVER PLATFORM CHALLENGE and its decrypted
  token, 4.5 CLIENT PLATFORM CHALLENGE RESPONSE and its decrypted response data
  and HWID, 4.6 SERVER NEW LICENSE's decrypted NEW_LICENSE_INFO;
* MS-RDPBCGR 4.1.11, the valid-client licensing packet;
* captures/windows/win-tls-valid-client.pcapng frame 32 (a Windows Server's
  valid-client PDU), as tests/data/windows/tls-frame32-s2c-decrypted.hex.

The spec's examples come from different sessions and publish no keys, so a
core can be driven by them only up to the first message that needs the
session keys; past that point the tests check what a Windows peer would see
(a MAC mismatch), and the plaintexts are compared field by field with what our
cores produce.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from core_helpers import T0, Device, Lab, LabFactory, drain, seeded_bytes

from rdplic.core import (
    CLIENT_PLATFORMS,
    WINDOWS_PLATFORM_CHALLENGE,
    ClientConfig,
    ClientState,
    InvalidMac,
    LicenseKey,
    LicenseRequested,
    LicensingClient,
    LicensingServer,
    MemoryLicenseStore,
    ServerState,
    UnexpectedMessage,
)
from rdplic.core.presented import read_presented_license
from rdplic.crypto import (
    RsaPrivateKey,
    decrypt_premaster,
    derive_licensing_keys,
    generate_rsa_key,
    parse_license,
    rc4,
)
from rdplic.licensing import LicensingMode
from rdplic.licensing.model import ProductInfo, ProductVersion, ValidationStatus
from rdplic.pdu.certificates import decode_server_certificate
from rdplic.pdu.licensing import (
    ErrorCode,
    LicenseErrorMessage,
    StateTransition,
    decode_licensing_pdu,
    decode_new_license_info,
)

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str) -> bytes:
    """A hex fixture of tests/data (whitespace ignored)."""
    return bytes.fromhex("".join((DATA / name).read_text().split()))


SPEC_HWID = load("rdpele/4.5-client-hardware-id-decrypted.hex")
"""The client's CLIENT_HARDWARE_ID in MS-RDPELE 4.5 (PlatformId 2)."""
SPEC_LICENSE = decode_new_license_info(load("rdpele/4.6-new-license-info-decrypted.hex"))
"""The NEW_LICENSE_INFO of MS-RDPELE 4.6; its pbLicenseInfo is the CAL 4.3 presents."""
SPEC_KEY = LicenseKey(0x00060000, "microsoft.com", "Microsoft Corporation", "A02")
"""Where a client files the 4.6 license (3.3.5.6)."""
JULY_2007 = datetime(2007, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def key_2048() -> RsaPrivateKey:
    """A 2048-bit server key, as Windows uses; 4.2's and 4.3's ciphertexts are below its modulus."""
    return generate_rsa_key(2048, random.Random(1).randbytes)


def spec_client(store: MemoryLicenseStore, platform: str = "windows-7") -> LicensingClient:
    """A Windows client with the spec example's identity (RODENT / Administrator)."""
    client = LicensingClient(
        ClientConfig(
            platform=CLIENT_PLATFORMS[platform],
            hwid=SPEC_HWID,
            user_name="Administrator",
            machine_name="RODENT",
            store=store,
        ),
        random_bytes=seeded_bytes(3),
    )
    client.start(JULY_2007)
    return client


# -- the client core against Windows' messages ----------------------------------------------


def test_client_verifies_the_windows_chain_and_sends_a_new_license_request() -> None:
    """4.1's real Windows X.509 chain verifies; the answer has 4.2's exact layout and fields."""
    client = spec_client(MemoryLicenseStore())
    client.receive_pdu(load("rdpele/4.1-server-license-request.hex"), JULY_2007)
    (ours,) = client.data_to_send()
    spec = load("rdpele/4.2-client-new-license-request.hex")
    assert len(ours) == len(spec) == 0x155
    # Preamble (0x13, 0x83, wMsgSize), PreferredKeyExchangeAlg, PlatformId 0x04010000:
    assert ours[:12] == spec[:12]
    # EncryptedPreMasterSecret header (BB_RANDOM_BLOB, 0x108), then random bytes until
    # the 8 zero bytes of padding; ClientUserName and ClientMachineName as in the spec.
    assert ours[44:48] == spec[44:48]
    assert ours[-37:] == spec[-37:]
    assert ours[12:44] != spec[12:44]  # our own ClientRandom
    assert client.state is ClientState.AWAIT_SERVER_REPLY


def test_client_presents_the_spec_license_in_4_3_s_layout() -> None:
    """With 4.6's license in its store the client sends a License Info like 4.3 (same CAL)."""
    store = MemoryLicenseStore({SPEC_KEY: SPEC_LICENSE.license_info})
    client = spec_client(store)
    client.receive_pdu(load("rdpele/4.1-server-license-request.hex"), JULY_2007)
    (ours,) = client.data_to_send()
    spec = load("rdpele/4.3-client-license-info.hex")
    assert len(ours) == len(spec) == 0x8FD
    assert ours[:12] == spec[:12]  # 0x12 0x83 0x08FD, RSA, PlatformId 0x04010000
    info = decode_licensing_pdu(ours).message
    windows = decode_licensing_pdu(spec).message
    assert info.license_info == windows.license_info  # type: ignore[union-attr]
    assert info.encrypted_hwid.blob_type == windows.encrypted_hwid.blob_type == 1  # type: ignore[union-attr]
    assert len(info.encrypted_pre_master_secret.blob_data) == 264  # type: ignore[union-attr]


def test_client_refuses_a_challenge_from_another_session() -> None:
    """4.4 belongs to another session: its MAC cannot verify, so ERR_INVALID_MAC (3.3.5.9)."""
    client = spec_client(MemoryLicenseStore())
    client.receive_pdu(load("rdpele/4.1-server-license-request.hex"), JULY_2007)
    client.data_to_send()
    with pytest.raises(InvalidMac):
        client.receive_pdu(load("rdpele/4.4-server-platform-challenge.hex"), JULY_2007)
    (alert,) = client.data_to_send()
    message = decode_licensing_pdu(alert).message
    assert isinstance(message, LicenseErrorMessage)
    assert (message.error_code, message.state_transition) == (
        ErrorCode.ERR_INVALID_MAC,
        StateTransition.ST_TOTAL_ABORT,
    )


def test_client_accepts_the_windows_valid_client_pdu() -> None:
    """MS-RDPBCGR 4.1.11's valid-client packet completes licensing."""
    client = spec_client(MemoryLicenseStore())
    client.receive_pdu(load("rdpele/bcgr-4.1.11-valid-client.hex"), JULY_2007)
    assert client.state is ClientState.COMPLETED


# -- the server core against Windows' messages ----------------------------------------------


def spec_server(lab: Lab, key: RsaPrivateKey) -> LicensingServer:
    server = LicensingServer(
        lab.server_config(private_key=key), lab.policy.host(), random_bytes=seeded_bytes(4)
    )
    server.start(T0)
    server.data_to_send()
    return server


def test_server_accepts_the_windows_new_license_request(lab: Lab, key_2048: RsaPrivateKey) -> None:
    """4.2 decodes, its 264-byte premaster decrypts under a 2048-bit key, a challenge follows."""
    server = spec_server(lab, key_2048)
    server.receive_pdu(load("rdpele/4.2-client-new-license-request.hex"), T0)
    (challenge,) = server.data_to_send()
    assert challenge[:4] == bytes.fromhex("02032600")  # 4.4's preamble: version 3, 0x26 bytes
    assert server.state is ServerState.AWAIT_CHALLENGE_RESPONSE
    (requested,) = drain(server)
    assert isinstance(requested, LicenseRequested)
    assert requested.client.platform_id == 0x04010000
    assert (requested.client.user_name, requested.client.machine_name) == (
        "Administrator",
        "RODENT",
    )


def test_server_answers_a_license_info_of_another_session_with_err_invalid_mac(
    lab: Lab, key_2048: RsaPrivateKey
) -> None:
    """4.3 decodes, but with other keys its HWID MAC fails: ERR_INVALID_MAC / ST_TOTAL_ABORT."""
    server = spec_server(lab, key_2048)
    with pytest.raises(InvalidMac):
        server.receive_pdu(load("rdpele/4.3-client-license-info.hex"), T0)
    (alert,) = server.data_to_send()
    assert alert == bytes.fromhex("ff03100003000000010000000400" + "0000")
    assert server.state is ServerState.ABORTED


def test_server_refuses_a_challenge_response_out_of_sequence(
    lab: Lab, key_2048: RsaPrivateKey
) -> None:
    """4.5 before any request is out of sequence: ERR_INVALID_CLIENT / ST_TOTAL_ABORT."""
    server = spec_server(lab, key_2048)
    with pytest.raises(UnexpectedMessage):
        server.receive_pdu(load("rdpele/4.5-client-platform-challenge-response.hex"), T0)
    (alert,) = server.data_to_send()
    assert alert == bytes.fromhex("ff031000080000000100000004000000")


def test_windows_cal_reads_as_a_valid_temporary_license_of_its_issuer() -> None:
    """The 4.3 CAL, checked against the license server that issued it, is valid and temporary."""
    parsed = parse_license(SPEC_LICENSE.license_info)
    assert parsed.issuer_certificate is not None
    product = ProductInfo(0x00060000)
    read = read_presented_license(
        SPEC_LICENSE.license_info, SPEC_HWID, product, parsed.issuer_certificate, JULY_2007
    )
    presented = read.license
    assert presented.validation is ValidationStatus.VALID
    assert presented.temporary and presented.product_version == ProductVersion(6, 0)
    assert presented.expires == datetime(2007, 9, 18, 14, 51, 35, tzinfo=UTC)
    assert (read.machine_name, read.user_name) == ("RODENT", "Administrator")
    other = read_presented_license(
        SPEC_LICENSE.license_info, bytes(20), product, parsed.issuer_certificate, JULY_2007
    )
    assert other.license.validation is ValidationStatus.HWID_MISMATCH


def test_windows_cal_is_foreign_to_our_license_server(lab: Lab) -> None:
    """To this emulator's license server the 4.3 CAL is someone else's (bad signature)."""
    read = read_presented_license(
        SPEC_LICENSE.license_info,
        SPEC_HWID,
        ProductInfo(0x00060000),
        lab.keys.license_server.certificate,
        JULY_2007,
    )
    assert read.license.validation is ValidationStatus.BAD_SIGNATURE
    assert not read.license.issuer_matches


def test_windows_4_1_chain_is_a_two_certificate_chain() -> None:
    """4.1's ServerCertificate: license server RODENT first, terminal server last (2.2.1.4.2)."""
    request = decode_licensing_pdu(load("rdpele/4.1-server-license-request.hex")).message
    chain = decode_server_certificate(request.server_certificate.blob_data)  # type: ignore[union-attr]
    assert chain.permanent and len(chain.certificate.certificates) == 2  # type: ignore[union-attr]


# -- our plaintexts against the spec's ------------------------------------------------------


def test_default_challenge_is_the_4_4_token() -> None:
    """The server's challenge is the decrypted token of 4.4: UTF-16LE "TEST" and a NUL."""
    assert load("rdpele/4.4-platform-challenge-decrypted.hex") == WINDOWS_PLATFORM_CHALLENGE


def test_windows_client_response_data_is_the_4_5_plaintext(lab: Lab) -> None:
    """Our Windows client's PLATFORM_CHALLENGE_RESPONSE_DATA is byte for byte 4.5's."""
    device = Device(platform="windows-7", hwid=SPEC_HWID)
    session = lab.connect(device)
    request = decode_licensing_pdu(session.wire[0][1]).message
    new = decode_licensing_pdu(session.wire[1][1]).message
    response = decode_licensing_pdu(session.wire[3][1]).message
    premaster = decrypt_premaster(
        lab.keys.terminal_server_key,
        new.encrypted_pre_master_secret.blob_data,  # type: ignore[union-attr]
    )
    keys = derive_licensing_keys(
        premaster,
        new.client_random,  # type: ignore[union-attr]
        request.server_random,  # type: ignore[union-attr]
    )
    key = keys.licensing_encryption_key
    data = rc4(key, response.encrypted_platform_challenge_response.blob_data)  # type: ignore[union-attr]
    assert data == load("rdpele/4.5-platform-challenge-response-data-decrypted.hex")
    assert rc4(key, response.encrypted_hwid.blob_data) == SPEC_HWID  # type: ignore[union-attr]
    spec = load("rdpele/4.5-client-platform-challenge-response.hex")
    assert len(session.wire[3][1]) == len(spec) == 0x42
    assert session.wire[3][1][:8] == spec[:8]  # 0x15 0x83 0x0042, BB_DATA_BLOB of 0x12 bytes


def test_valid_client_pdu_is_windows_byte_for_byte(make_lab: LabFactory) -> None:
    """Valid-client-only mode sends MS-RDPBCGR 4.1.11's packet, as a real Windows server did."""
    host = make_lab(licensing_mode=LicensingMode.VALID_CLIENT_ONLY)
    session = host.connect(Device())
    (sent,) = [pdu for _, pdu in session.wire]
    assert sent == load("rdpele/bcgr-4.1.11-valid-client.hex")
    windows_frame = load("windows/tls-frame32-s2c-decrypted.hex")
    assert windows_frame.endswith(sent)  # after TPKT, X.224, MCS and the 0x0080 security header
