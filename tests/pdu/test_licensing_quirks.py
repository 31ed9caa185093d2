"""Windows' quirks (docs/protocol.md section 7) round-trip byte for byte; malformed PDUs
fail cleanly.

Known-answer bytes are the spec examples of tests/data/rdpele/ (see its
README); the quirky variants are derived from them or built field by field.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from licensing_strategies import example

from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    BlobType,
    ErrorCode,
    KeyExchangeList,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
    PreambleFlags,
    PreambleVersion,
    ProductInfo,
    Scope,
    ScopeList,
    ServerLicenseRequest,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    StateTransition,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_licensing_pdu,
)

VALID_CLIENT = example("bcgr-4.1.11-valid-client.hex")
LICENSE_REQUEST = example("4.1-server-license-request.hex")
CHALLENGE = example("4.4-server-platform-challenge.hex")


def valid_client(error_blob_type: int, data: bytes = b"") -> LicensingPdu:
    return LicensingPdu(
        LicenseErrorMessage(
            ErrorCode.STATUS_VALID_CLIENT,
            StateTransition.ST_NO_TRANSITION,
            LicenseBinaryBlob(error_blob_type, data),
        )
    )


@pytest.mark.parametrize("blob_type", [0x1428, 0x99F3, 0xF750, 0x0000, 0xFFFF])
@pytest.mark.parametrize("data", [b"", b"\x01\x02\x03"])
def test_junk_blob_types_round_trip(blob_type: int, data: bytes) -> None:
    """Blob types outside BlobType (garbage on empty blobs from xrdp/Windows 2000, 0xF750 on
    the 4.4 challenge) decode to the same int and re-encode unchanged."""
    pdu = valid_client(blob_type, data)
    wire = encode_licensing_pdu(pdu)
    assert wire[12:14] == blob_type.to_bytes(2, "little")
    decoded = decode_licensing_pdu(wire)
    assert decoded == pdu
    assert type(decoded.message.error_info.blob_type) is int  # type: ignore[union-attr]
    assert encode_licensing_pdu(decoded) == wire


def test_known_blob_type_decodes_to_enum() -> None:
    """A listed wBlobType comes back as its BlobType member."""
    pdu = decode_licensing_pdu(VALID_CLIENT)
    assert pdu.message.error_info.blob_type is BlobType.BB_ERROR_BLOB  # type: ignore[union-attr]


def test_rdp4_preamble_round_trips() -> None:
    """An RDP 4.0 server's License Request (preamble version 2, xrdp's historic "236" product,
    dwVersion 0x00040000, empty certificate) decodes with PREAMBLE_VERSION_2_0."""
    request = ServerLicenseRequest(
        server_random=bytes(range(32)),
        product_info=ProductInfo(
            0x00040000, "Microsoft Corporation\0".encode("utf-16-le"), "236\0".encode("utf-16-le")
        ),
        key_exchange_list=KeyExchangeList(BlobType.BB_KEY_EXCHG_ALG_BLOB, (1,)),
        server_certificate=LicenseBinaryBlob(BlobType.BB_CERTIFICATE_BLOB, b""),
        scope_list=ScopeList((Scope(BlobType.BB_SCOPE_BLOB, b"microsoft.com\0"),)),
    )
    pdu = LicensingPdu(request, version=PreambleVersion.PREAMBLE_VERSION_2_0)
    wire = encode_licensing_pdu(pdu)
    assert wire[:2] == b"\x01\x02"
    decoded = decode_licensing_pdu(wire)
    assert decoded.version is PreambleVersion.PREAMBLE_VERSION_2_0
    assert decoded == pdu
    assert encode_licensing_pdu(decoded) == wire


def test_rdp4_valid_client_bytes() -> None:
    """The valid-client PDU with an RDP 4 preamble (ff 02 ...) round-trips."""
    wire = b"\xff\x02" + VALID_CLIENT[2:]
    pdu = decode_licensing_pdu(wire)
    assert pdu.version == 2
    assert encode_licensing_pdu(pdu) == wire


@pytest.mark.parametrize("flags_byte", [0x00, 0x05, 0x43, 0x83, 0xF3, 0xFF])
def test_every_preamble_flags_byte_round_trips(flags_byte: int) -> None:
    """Undefined version values and flag bits are kept as decoded (MS-RDPBCGR 2.2.1.12.1.1)."""
    wire = VALID_CLIENT[:1] + bytes([flags_byte]) + VALID_CLIENT[2:]
    pdu = decode_licensing_pdu(wire)
    assert pdu.version == flags_byte & 0x0F
    assert int(pdu.flags) == flags_byte & 0xF0
    assert bool(pdu.flags & PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED) == bool(flags_byte & 0x80)
    assert encode_licensing_pdu(pdu) == wire


@pytest.mark.parametrize("size", [0, 4, 0x26 + 4, 0x25, 0x27, 0xFFFF])
def test_inconsistent_wmsgsize_is_kept(size: int) -> None:
    """A wMsgSize that disagrees with the PDU (e.g. counting the security header as IronRDP's
    test buffers did) decodes, is reported in msg_size, and re-encodes exactly."""
    wire = CHALLENGE[:2] + size.to_bytes(2, "little") + CHALLENGE[4:]
    pdu = decode_licensing_pdu(wire)
    assert pdu.msg_size == size
    assert encode_licensing_pdu(pdu) == wire
    assert dataclasses.replace(pdu, msg_size=None) == decode_licensing_pdu(CHALLENGE)


def test_consistent_wmsgsize_is_derived() -> None:
    """wMsgSize counts preamble + message, not the security header (MS-RDPBCGR 2.2.1.12.1.1)."""
    pdu = decode_licensing_pdu(CHALLENGE)
    assert pdu.msg_size is None
    assert encode_licensing_pdu(pdu)[2:4] == (len(CHALLENGE)).to_bytes(2, "little")


def test_connect_flags_kept_verbatim() -> None:
    """ConnectFlags is reserved; any value is kept (MS-RDPELE 2.2.2.4)."""
    pdu = decode_licensing_pdu(CHALLENGE)
    assert isinstance(pdu.message, ServerPlatformChallenge)
    for flags in (0, 0x12345678, 0xFFFFFFFF):
        changed = dataclasses.replace(
            pdu, message=dataclasses.replace(pdu.message, connect_flags=flags)
        )
        assert decode_licensing_pdu(encode_licensing_pdu(changed)) == changed


def test_upgrade_license_has_new_license_layout() -> None:
    """SERVER_UPGRADE_LICENSE (MS-RDPELE 2.2.2.6) is SERVER_NEW_LICENSE with bMsgType 0x04."""
    new_license = example("4.6-server-new-license.hex")
    wire = b"\x04" + new_license[1:]
    pdu = decode_licensing_pdu(wire)
    assert isinstance(pdu.message, ServerUpgradeLicense)
    assert encode_licensing_pdu(pdu) == wire


def test_unknown_msg_type_is_a_pdu_error() -> None:
    """An unknown bMsgType fails at offset 0 naming the field."""
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(b"\x77" + VALID_CLIENT[1:])
    assert raised.value.field == "bMsgType"
    assert raised.value.offset == 0
    assert "0x77" in str(raised.value)


def test_huge_scope_count_fails_at_once() -> None:
    """ScopeCount 0xFFFFFFFF fails at the count's offset before any Scope is parsed."""
    wire = bytearray(LICENSE_REQUEST)
    count_offset = len(wire) - 22
    assert wire[count_offset : count_offset + 4] == b"\x01\x00\x00\x00"
    wire[count_offset : count_offset + 4] = b"\xff\xff\xff\xff"
    started = time.perf_counter()
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(bytes(wire))
    assert time.perf_counter() - started < 0.5
    assert raised.value.structure == "SERVER_LICENSE_REQUEST"
    assert raised.value.field == "ScopeList.ScopeArray"
    assert raised.value.offset == count_offset


def test_truncated_pdu_names_field_and_offset() -> None:
    """A PDU cut short names the field being read and where the bytes ran out."""
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(LICENSE_REQUEST[:100])
    assert str(raised.value) == (
        "SERVER_LICENSE_REQUEST.KeyExchangeList.wBlobType at offset 100: "
        "stream read less than specified amount, expected 2, found 0"
    )


def test_blob_longer_than_data_fails() -> None:
    """A wBlobLen past the end fails without reading further."""
    wire = bytearray(VALID_CLIENT)
    wire[14:16] = b"\xff\xff"
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(bytes(wire))
    assert raised.value.field == "bbErrorInfo.blobData"


def test_trailing_bytes_fail() -> None:
    """Bytes after the message are malformed, reported at the message's end."""
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(VALID_CLIENT + b"\x00")
    assert raised.value.offset == len(VALID_CLIENT)


def test_short_preamble_fails() -> None:
    """Fewer than 4 bytes cannot hold LICENSE_PREAMBLE."""
    for n in range(4):
        with pytest.raises(PduError) as raised:
            decode_licensing_pdu(VALID_CLIENT[:n])
        assert raised.value.structure == "LICENSE_PREAMBLE"


def test_key_exchange_list_not_whole_u32s_fails() -> None:
    """A KeyExchangeList blob of 5 bytes is malformed."""
    wire = bytearray(LICENSE_REQUEST)
    wire[0x66:0x68] = b"\x05\x00"
    with pytest.raises(PduError) as raised:
        decode_licensing_pdu(bytes(wire))
    assert raised.value.field == "KeyExchangeList.dwKeyExchangeAlg"


def test_decoders_accept_bytearray_and_memoryview() -> None:
    """Any bytes-like input decodes like bytes."""
    expected = decode_licensing_pdu(CHALLENGE)
    assert decode_licensing_pdu(bytearray(CHALLENGE)) == expected
    assert decode_licensing_pdu(memoryview(CHALLENGE)) == expected


@pytest.mark.parametrize(
    ("decode", "size"),
    [
        (decode_client_hardware_id, 20),
        (decode_platform_challenge_response_data, 8),
        (decode_new_license_info, 20),
    ],
)
def test_inner_structures_reject_short_and_long_input(decode: object, size: int) -> None:
    """The decrypted-structure decoders fail on truncation and on trailing bytes."""
    assert callable(decode)
    with pytest.raises(PduError):
        decode(bytes(size - 1))
    with pytest.raises(PduError):
        decode(bytes(size) + b"\x00")
    decode(bytes(size))


def test_encode_errors_name_the_field() -> None:
    """An object that cannot be encoded raises PduError naming the field."""
    pdu = decode_licensing_pdu(LICENSE_REQUEST)
    message = pdu.message
    assert isinstance(message, ServerLicenseRequest)
    bad_random = dataclasses.replace(pdu, message=dataclasses.replace(message, server_random=b"x"))
    with pytest.raises(PduError) as raised:
        encode_licensing_pdu(bad_random)
    assert raised.value.field == "ServerRandom"
    bad_alg = dataclasses.replace(
        pdu,
        message=dataclasses.replace(message, key_exchange_list=KeyExchangeList(13, (2**33,))),
    )
    with pytest.raises(PduError) as raised:
        encode_licensing_pdu(bad_alg)
    assert raised.value.field == "KeyExchangeList.dwKeyExchangeAlg"
    with pytest.raises(PduError):
        encode_licensing_pdu(dataclasses.replace(pdu, version=16))
    with pytest.raises(PduError):
        encode_licensing_pdu(dataclasses.replace(pdu, flags=PreambleFlags(0x01)))
    with pytest.raises(PduError):
        encode_licensing_pdu(dataclasses.replace(pdu, msg_size=0x10000))
    with pytest.raises(PduError):
        encode_licensing_pdu(valid_client(0x10000))


def test_message_must_be_a_licensing_message() -> None:
    """LicensingPdu refuses a body that is not one of the eight messages."""
    with pytest.raises(TypeError):
        LicensingPdu(LicenseBinaryBlob(1, b""))  # type: ignore[arg-type]
