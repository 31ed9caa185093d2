"""Known-answer tests: the worked examples of MS-RDPELE section 4 and MS-RDPBCGR 4.1.11.

Bytes come from tests/data/rdpele/ (provenance in its README).  Each test
decodes an example, checks the fields the spec annotates, and re-encodes it
byte for byte.
"""

from __future__ import annotations

import pytest
from licensing_strategies import example

from rdplic.pdu.licensing import (
    BlobType,
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ClientType,
    ErrorCode,
    KeyExchangeAlg,
    LicenseBinaryBlob,
    LicenseDetailLevel,
    LicenseErrorMessage,
    LicensingPdu,
    MsgType,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    PreambleFlags,
    PreambleVersion,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    StateTransition,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_client_hardware_id,
    encode_licensing_pdu,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)
from rdplic.pdu.licensing.messages import LICENSING_PDU

EXAMPLES = {
    "4.1": "4.1-server-license-request.hex",
    "4.2": "4.2-client-new-license-request.hex",
    "4.3": "4.3-client-license-info.hex",
    "4.4": "4.4-server-platform-challenge.hex",
    "4.5": "4.5-client-platform-challenge-response.hex",
    "4.6": "4.6-server-new-license.hex",
    "bcgr-4.1.11": "bcgr-4.1.11-valid-client.hex",
}


def utf16(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


@pytest.mark.parametrize("section", sorted(EXAMPLES))
def test_example_round_trips_byte_for_byte(section: str) -> None:
    """Every spec example re-encodes to exactly its own bytes (MS-RDPELE 4.x, MS-RDPBCGR 4.1.11)."""
    data = example(EXAMPLES[section])
    pdu = decode_licensing_pdu(data)
    assert encode_licensing_pdu(pdu) == data
    assert pdu.msg_size is None
    assert decode_licensing_pdu(encode_licensing_pdu(pdu)) == pdu


@pytest.mark.parametrize("section", sorted(EXAMPLES))
def test_engines_agree_on_examples(section: str) -> None:
    """The generated struct engine and the construct definitions give the same objects and
    bytes for every spec example."""
    data = example(EXAMPLES[section])
    default = decode_licensing_pdu(data, engine="struct")
    other = decode_licensing_pdu(data, engine="construct")
    assert other == default
    assert encode_licensing_pdu(other, engine="construct") == data
    assert encode_licensing_pdu(other, engine="struct") == data


@pytest.mark.parametrize("section", sorted(EXAMPLES))
def test_whole_pdu_construct_agrees(section: str) -> None:
    """The one-construct definition LICENSING_PDU (preamble + Switch) parses each example to the
    same message and builds it back, plain and through construct's compile() (which
    benchmarks/pdu.py times)."""
    data = example(EXAMPLES[section])
    for definition in (LICENSING_PDU, _COMPILED):
        parsed = definition.parse(data)
        assert parsed.message == decode_licensing_pdu(data).message
        assert definition.build(parsed) == data


_COMPILED = LICENSING_PDU.compile()


def test_4_1_server_license_request() -> None:
    """MS-RDPELE 4.1: License Request with product "A02", an X.509 certificate blob and the
    "microsoft.com" scope."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.1"]))
    assert pdu.msg_type is MsgType.LICENSE_REQUEST
    assert pdu.version is PreambleVersion.PREAMBLE_VERSION_3_0
    assert pdu.flags == PreambleFlags(0)
    msg = pdu.message
    assert isinstance(msg, ServerLicenseRequest)
    assert msg.server_random == bytes.fromhex(
        "84efae20b1d59e36491ae82e0a9989ac49a6474f339b5ab99503a6c6c23c3f61"
    )
    assert msg.product_info.version == 0x00060000
    assert msg.product_info.company_name == utf16("Microsoft Corporation")
    assert msg.product_info.product_id == utf16("A02")
    assert msg.key_exchange_list.blob_type is BlobType.BB_KEY_EXCHG_ALG_BLOB
    assert msg.key_exchange_list.algorithms == (KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA,)
    assert msg.server_certificate.blob_type is BlobType.BB_CERTIFICATE_BLOB
    assert len(msg.server_certificate.blob_data) == 0x812
    # dwVersion 0x80000002: X.509 chain, permanently issued (MS-RDPELE 2.2.1.4).
    assert msg.server_certificate.blob_data[:4] == bytes.fromhex("02000080")
    assert [s.issuer for s in msg.scope_list.scopes] == [b"microsoft.com\0"]
    assert msg.scope_list.scopes[0].blob_type is BlobType.BB_SCOPE_BLOB


def test_4_2_client_new_license_request() -> None:
    """MS-RDPELE 4.2: New License Request from user "Administrator" on machine "RODENT"."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.2"]))
    assert pdu.msg_type is MsgType.NEW_LICENSE_REQUEST
    assert pdu.version is PreambleVersion.PREAMBLE_VERSION_3_0
    assert pdu.flags is PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED
    msg = pdu.message
    assert isinstance(msg, ClientNewLicenseRequest)
    assert msg.preferred_key_exchange_alg is KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA
    assert msg.platform_id == 0x04010000
    assert msg.client_random[:4] == bytes.fromhex("dc73a0c8")
    assert msg.encrypted_pre_master_secret.blob_type is BlobType.BB_RANDOM_BLOB
    assert len(msg.encrypted_pre_master_secret.blob_data) == 0x108  # 2048-bit key + 8
    assert msg.client_user_name.blob_type is BlobType.BB_CLIENT_USER_NAME_BLOB
    assert msg.client_user_name.blob_data == b"Administrator\0"
    assert msg.client_machine_name.blob_type is BlobType.BB_CLIENT_MACHINE_NAME_BLOB
    assert msg.client_machine_name.blob_data == b"RODENT\0"


def test_4_3_client_license_info() -> None:
    """MS-RDPELE 4.3: License Info carrying a 0x799-byte CAL; the Windows client types the
    encrypted HWID BB_DATA_BLOB, not the 0x0009 of the text."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.3"]))
    msg = pdu.message
    assert isinstance(msg, ClientLicenseInfo)
    assert pdu.flags is PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED
    assert msg.platform_id == 0x04010000
    assert msg.license_info.blob_type is BlobType.BB_DATA_BLOB
    assert len(msg.license_info.blob_data) == 0x799
    assert msg.encrypted_hwid.blob_type is BlobType.BB_DATA_BLOB
    assert len(msg.encrypted_hwid.blob_data) == 20
    assert msg.mac_data == bytes.fromhex("42a213c754aeb5d5246654f31baf8dfb")


def test_4_4_server_platform_challenge() -> None:
    """MS-RDPELE 4.4: ConnectFlags 0xFFFFFFFF and the junk blob type 0xF750 survive decoding."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.4"]))
    msg = pdu.message
    assert isinstance(msg, ServerPlatformChallenge)
    assert msg.connect_flags == 0xFFFFFFFF
    assert msg.encrypted_platform_challenge.blob_type == 0xF750
    assert type(msg.encrypted_platform_challenge.blob_type) is int
    assert msg.encrypted_platform_challenge.blob_data == bytes.fromhex("463785548ec59134975d")
    assert msg.mac_data == bytes.fromhex("7894ad3b81da8818560f3ad1f103ef35")


def test_4_5_client_platform_challenge_response() -> None:
    """MS-RDPELE 4.5: an 18-byte encrypted response and a 20-byte encrypted HWID."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.5"]))
    msg = pdu.message
    assert isinstance(msg, ClientPlatformChallengeResponse)
    assert msg.encrypted_platform_challenge_response.blob_type is BlobType.BB_DATA_BLOB
    assert msg.encrypted_platform_challenge_response.blob_data == bytes.fromhex(
        "fab4e824cf56b24e8002bdb661fcdfe96c44"
    )
    assert msg.encrypted_hwid.blob_data == bytes.fromhex("f8b5e8253d0f3f701dda601916fe731a457e0271")
    assert msg.mac_data == bytes.fromhex("3823625d108b93c3f1e4671f4ab6000a")


def test_4_6_server_new_license() -> None:
    """MS-RDPELE 4.6: New License with a 0x7EF-byte BB_ENCRYPTED_DATA_BLOB."""
    pdu = decode_licensing_pdu(example(EXAMPLES["4.6"]))
    msg = pdu.message
    assert isinstance(msg, ServerNewLicense)
    assert msg.encrypted_license_info.blob_type is BlobType.BB_ENCRYPTED_DATA_BLOB
    assert len(msg.encrypted_license_info.blob_data) == 0x7EF
    assert msg.mac_data == bytes.fromhex("ede8bfd613a0f5804ae5ff8516facb1f")


def test_bcgr_valid_client() -> None:
    """MS-RDPBCGR 4.1.11 / 2.2.1.12.1: the valid-client error alert decodes and is built from
    its parts."""
    data = example(EXAMPLES["bcgr-4.1.11"])
    expected = LicensingPdu(
        LicenseErrorMessage(
            ErrorCode.STATUS_VALID_CLIENT,
            StateTransition.ST_NO_TRANSITION,
            LicenseBinaryBlob(BlobType.BB_ERROR_BLOB, b""),
        )
    )
    assert decode_licensing_pdu(data) == expected
    assert encode_licensing_pdu(expected) == data
    assert data == bytes.fromhex("ff031000070000000200000004000000")


def test_4_4_decrypted_challenge_is_test() -> None:
    """MS-RDPELE 4.4: the decrypted challenge is UTF-16LE "TEST" with its NUL."""
    assert example("4.4-platform-challenge-decrypted.hex") == utf16("TEST")


def test_4_5_decrypted_platform_challenge_response_data() -> None:
    """MS-RDPELE 4.5 / 2.2.2.5.1: wVersion 0x0100, WIN32, LICENSE_DETAIL_DETAIL, echoed "TEST"
    — wire order wVersion, wClientType, wLicenseDetailLevel, cbChallenge."""
    data = example("4.5-platform-challenge-response-data-decrypted.hex")
    response = decode_platform_challenge_response_data(data)
    assert response == PlatformChallengeResponseData(
        version=0x0100,
        client_type=ClientType.WIN32_PLATFORMCHALLENGE_TYPE,
        license_detail_level=LicenseDetailLevel.LICENSE_DETAIL_DETAIL,
        challenge=utf16("TEST"),
    )
    assert encode_platform_challenge_response_data(response) == data


def test_4_5_decrypted_client_hardware_id() -> None:
    """MS-RDPELE 4.5 / 2.2.2.3.1: the decrypted HWID has PlatformId 2 (not the request's)."""
    data = example("4.5-client-hardware-id-decrypted.hex")
    hwid = decode_client_hardware_id(data)
    assert hwid == ClientHardwareId(2, 0x3E8759F1, 0xAF98D8C9, 0xF3F80224, 0x26F03A29)
    assert encode_client_hardware_id(hwid) == data


def test_4_5_encrypted_fields_share_a_keystream_prefix() -> None:
    """MS-RDPELE 4.5 / 5.1.3: response data and HWID are each RC4-encrypted from keystream
    offset 0, so ciphertext XOR plaintext agrees on their common prefix."""
    msg = decode_licensing_pdu(example(EXAMPLES["4.5"])).message
    assert isinstance(msg, ClientPlatformChallengeResponse)
    response = example("4.5-platform-challenge-response-data-decrypted.hex")
    hwid = example("4.5-client-hardware-id-decrypted.hex")
    encrypted_response = msg.encrypted_platform_challenge_response.blob_data
    ks1 = bytes(a ^ b for a, b in zip(encrypted_response, response, strict=True))
    ks2 = bytes(a ^ b for a, b in zip(msg.encrypted_hwid.blob_data, hwid, strict=True))
    assert ks1[:18] == ks2[:18]


def test_4_6_decrypted_new_license_info() -> None:
    """MS-RDPELE 4.6 / 2.2.2.6.1: NEW_LICENSE_INFO for "microsoft.com", "Microsoft
    Corporation", "A02"; the CAL is the one 4.3 presents back."""
    data = example("4.6-new-license-info-decrypted.hex")
    info = decode_new_license_info(data)
    assert isinstance(info, NewLicenseInfo)
    assert info.version == 0x00060000
    assert info.scope == b"microsoft.com\0"
    assert info.company_name == utf16("Microsoft Corporation")
    assert info.product_id == utf16("A02")
    assert len(info.license_info) == 0x799
    license_info = decode_licensing_pdu(example(EXAMPLES["4.3"])).message
    assert isinstance(license_info, ClientLicenseInfo)
    assert info.license_info == license_info.license_info.blob_data
    assert encode_new_license_info(info) == data
