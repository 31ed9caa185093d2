"""pdu.gcc: GCC Conference Create Request / Response and the settings blocks they carry."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from connection_strategies import (
    WINDOWS,
    bcgr,
    client_blocks,
    conference_create_requests,
    conference_create_responses,
    hostile,
    normalise_gcc,
    server_blocks,
    windows,
    x224_payload,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import Protocol
from rdplic.pdu.gcc import (
    ChannelDef,
    ChannelOption,
    ClientClusterData,
    ClientCoreData,
    ClientNetworkData,
    ClientSecurityData,
    ClusterFlag,
    ColorDepth,
    ConferenceCreateRequest,
    ConferenceCreateResponse,
    ConnectionType,
    EarlyCapabilityFlag,
    EncryptionLevel,
    EncryptionMethod,
    HighColorDepth,
    RdpVersion,
    ServerCoreData,
    ServerNetworkData,
    ServerSecurityData,
    SupportedColorDepth,
    UnknownBlock,
    UserDataType,
    decode_client_blocks,
    decode_conference_create_request,
    decode_conference_create_response,
    decode_server_blocks,
    encode_client_blocks,
    encode_conference_create_request,
    encode_conference_create_response,
    encode_server_blocks,
)
from rdplic.pdu.mcs import decode_mcs_connect_initial, decode_mcs_connect_response

PROPERTY = settings(max_examples=200, deadline=None)


def _request(frame: bytes) -> tuple[bytes, ConferenceCreateRequest]:
    user_data = decode_mcs_connect_initial(x224_payload(frame)).user_data
    return user_data, decode_conference_create_request(user_data)


def _response(frame: bytes) -> tuple[bytes, ConferenceCreateResponse]:
    user_data = decode_mcs_connect_response(x224_payload(frame)).user_data
    return user_data, decode_conference_create_response(user_data)


def _utf16(text: str, size: int) -> bytes:
    return text.encode("utf-16-le").ljust(size, b"\x00")


# -------------------------------------------------------------------------------------------
# Known answers: MS-RDPBCGR 4.1.3 and 4.1.4


SPEC_CLIENT_CORE = ClientCoreData(
    version=RdpVersion.RDP_VERSION_5_PLUS,
    desktop_width=1280,
    desktop_height=1024,
    color_depth=ColorDepth.RNS_UD_COLOR_8BPP,
    sas_sequence=0xAA03,
    keyboard_layout=0x409,
    client_build=3790,
    client_name=_utf16("ELTONS-DEV2", 32),
    keyboard_type=4,
    keyboard_sub_type=0,
    keyboard_function_key=12,
    ime_file_name=bytes(64),
    post_beta2_color_depth=ColorDepth.RNS_UD_COLOR_8BPP,
    client_product_id=1,
    serial_number=0,
    high_color_depth=HighColorDepth.HIGH_COLOR_24BPP,
    supported_color_depths=SupportedColorDepth(7),
    early_capability_flags=EarlyCapabilityFlag.RNS_UD_CS_SUPPORT_ERRINFO_PDU,
    client_dig_product_id=_utf16("69712-783-0357974-42714", 64),
    connection_type=0,
    pad1octet=0,
    server_selected_protocol=Protocol.PROTOCOL_RDP,
)


def test_spec_4_1_3_conference_create_request() -> None:
    """MS-RDPBCGR 4.1.3: CS_CORE (216 bytes, up to serverSelectedProtocol), CS_CLUSTER,
    CS_SECURITY with every method, CS_NET with rdpdr, cliprdr, rdpsnd."""
    user_data, request = _request(bcgr("4.1.3-client-mcs-connect-initial"))
    assert request.conference_name == b"1"
    assert request.h221_key == b"Duca"
    assert request.connect_pdu_length is None
    assert request.client_blocks == (
        SPEC_CLIENT_CORE,
        ClientClusterData(
            ClusterFlag.REDIRECTION_SUPPORTED | ClusterFlag(0x0C), redirected_session_id=0
        ),
        ClientSecurityData(EncryptionMethod(0x1B), 0),
        ClientNetworkData(
            (
                ChannelDef(b"rdpdr\x00\x00\x00", ChannelOption(0x80800000)),
                ChannelDef(b"cliprdr\x00", ChannelOption(0xC0A00000)),
                ChannelDef(b"rdpsnd\x00\x00", ChannelOption(0xC0000000)),
            )
        ),
    )
    assert encode_conference_create_request(request) == user_data


def test_spec_4_1_4_conference_create_response() -> None:
    """MS-RDPBCGR 4.1.4: the bogus connectPDU length 0x2A, SC_CORE, SC_NET (three channels and
    the two padding bytes), SC_SECURITY with a 32-byte random and a 184-byte certificate."""
    user_data, response = _response(bcgr("4.1.4-server-mcs-connect-response"))
    assert response.connect_pdu_length == 0x2A
    assert response.node_id == 0x760A + 1001
    assert (response.tag, response.result, response.h221_key) == (1, 0, b"McDn")
    core, net, security = response.server_blocks
    assert core == ServerCoreData(RdpVersion.RDP_VERSION_5_PLUS, Protocol.PROTOCOL_RDP)
    assert net == ServerNetworkData(1003, (1004, 1005, 1006))
    assert encode_server_blocks((net,)).endswith(b"\xee\x03\x00\x00")
    assert isinstance(security, ServerSecurityData)
    assert security.encryption_method == EncryptionMethod.ENCRYPTION_METHOD_128BIT
    assert security.encryption_level == EncryptionLevel.ENCRYPTION_LEVEL_CLIENT_COMPATIBLE
    assert security.server_random is not None and len(security.server_random) == 32
    assert security.server_random[:4] == bytes.fromhex("10117720")
    assert security.server_certificate is not None and len(security.server_certificate) == 184
    assert security.server_certificate[:4] == b"\x01\x00\x00\x00"
    assert encode_conference_create_response(response) == user_data


# -------------------------------------------------------------------------------------------
# Known answers: the Windows captures


def test_windows_conference_create_request() -> None:
    """mstsc (stdsec frame 12): CS_CORE with every field up to deviceScaleFactor, blocks in the
    order core, cluster, security, network, message channel, multitransport."""
    user_data, request = _request(windows("stdsec-conn2-frame12-c2s"))
    core, cluster, security, network, message, multitransport = request.client_blocks
    assert isinstance(core, ClientCoreData)
    assert core.version == RdpVersion.RDP_VERSION_10_11
    assert core.client_name == _utf16("IT-HELP-CLIENT", 32)
    assert core.client_build == 22621
    assert core.connection_type == ConnectionType.CONNECTION_TYPE_LAN
    assert core.server_selected_protocol == Protocol.PROTOCOL_RDP
    assert core.device_scale_factor is not None
    assert core.trailing == b""
    assert core.early_capability_flags is not None
    assert core.early_capability_flags & EarlyCapabilityFlag.RNS_UD_CS_SUPPORT_ERRINFO_PDU
    assert isinstance(cluster, ClientClusterData)
    assert security == ClientSecurityData(EncryptionMethod(0x1B))
    assert isinstance(network, ClientNetworkData)
    assert [c.name.rstrip(b"\x00") for c in network.channels] == [
        b"rdpdr",
        b"rdpsnd",
        b"cliprdr",
        b"drdynvc",
    ]
    assert message == UnknownBlock(UserDataType.CS_MCS_MSGCHANNEL, bytes(4))
    assert multitransport == UnknownBlock(UserDataType.CS_MULTITRANSPORT, bytes(4))
    assert encode_conference_create_request(request) == user_data


def test_windows_conference_create_response_with_certificate() -> None:
    """Windows' response (stdsec frame 13): SC_SECURITY 128-bit / client compatible with the
    proprietary certificate kept as raw bytes (the .bin fixture), message channel 1008."""
    user_data, response = _response(windows("stdsec-conn2-frame13-s2c"))
    assert response.connect_pdu_length == 0x2A
    security = next(b for b in response.server_blocks if isinstance(b, ServerSecurityData))
    certificate = (WINDOWS / "stdsec-conn2-frame13-server-certificate.bin").read_bytes()
    assert security.server_certificate == certificate
    assert security.server_random is not None and len(security.server_random) == 32
    assert UnknownBlock(UserDataType.SC_MCS_MSGCHANNEL, b"\xf0\x03") in response.server_blocks
    assert encode_conference_create_response(response) == user_data


def test_windows_tls_response_has_no_keys() -> None:
    """Under TLS (TLS frame 12, decrypted) SC_SECURITY ends after method 0 and level 0."""
    user_data, response = _response(windows("tls-frame12-s2c-decrypted"))
    security = next(b for b in response.server_blocks if isinstance(b, ServerSecurityData))
    assert security == ServerSecurityData(
        EncryptionMethod.ENCRYPTION_METHOD_NONE, EncryptionLevel.ENCRYPTION_LEVEL_NONE
    )
    core = response.server_blocks[0]
    assert isinstance(core, ServerCoreData)
    assert core.client_requested_protocols == Protocol.PROTOCOL_SSL
    assert encode_conference_create_response(response) == user_data


# -------------------------------------------------------------------------------------------
# Shorter, odd and hostile blocks


def _cs_core_body() -> bytes:
    """The body of the 4.1.3 CS_CORE block, after its TS_UD_HEADER (212 bytes)."""
    return encode_client_blocks((SPEC_CLIENT_CORE,))[4:]


FIELD_ENDS = [132, 134, 136, 140, 142, 144, 146, 210, 211, 212, 216, 220, 224, 226, 230, 234]
"""Where each CS_CORE field ends, counting the 4-byte header (fixed part: 132)."""


def test_cs_core_may_end_after_any_optional_field() -> None:
    """A CS_CORE cut after any optional field decodes with the later fields None and
    re-encodes to the same bytes (RDP 4.0 clients send only the 128-byte fixed part)."""
    full = dataclasses.replace(
        SPEC_CLIENT_CORE,
        desktop_physical_width=300,
        desktop_physical_height=200,
        desktop_orientation=90,
        desktop_scale_factor=100,
        device_scale_factor=100,
    )
    body = encode_client_blocks((full,))[4:]
    assert len(body) == FIELD_ENDS[-1] - 4
    for end in FIELD_ENDS:
        block = (0xC001).to_bytes(2, "little") + end.to_bytes(2, "little") + body[: end - 4]
        (core,) = decode_client_blocks(block)
        assert isinstance(core, ClientCoreData)
        assert core.trailing == b""
        assert encode_client_blocks((core,)) == block
    (rdp4,) = decode_client_blocks(b"\x01\xc0\x84\x00" + body[:128])
    assert isinstance(rdp4, ClientCoreData)
    assert rdp4.post_beta2_color_depth is None


def test_cs_core_partial_field_is_kept() -> None:
    """Bytes that do not fill the next field (or follow the last known one) stay in trailing."""
    body = _cs_core_body()
    block = b"\x01\xc0" + (4 + 129).to_bytes(2, "little") + body[:129]
    (core,) = decode_client_blocks(block)
    assert isinstance(core, ClientCoreData)
    assert core.post_beta2_color_depth is None
    assert core.trailing == body[128:129]
    assert encode_client_blocks((core,)) == block
    with pytest.raises(PduError, match="trailing bytes would be read"):
        encode_client_blocks((dataclasses.replace(core, trailing=b"\x01\xca"),))
    with pytest.raises(PduError, match="present but"):
        encode_client_blocks((dataclasses.replace(core, serial_number=5),))


def test_sc_net_padding_variants() -> None:
    """SC_NET: two padding bytes after an odd channel count by default; a server that omits
    them (or pads an even count) is kept byte-exact."""
    unpadded = b"\x03\x0c\x0a\x00\xeb\x03\x01\x00\xec\x03"
    (net,) = decode_server_blocks(unpadded)
    assert net == ServerNetworkData(1003, (1004,), padding=b"")
    assert encode_server_blocks((net,)) == unpadded
    padded_even = b"\x03\x0c\x0a\x00\xeb\x03\x00\x00\xab\xcd"
    (net,) = decode_server_blocks(padded_even)
    assert net == ServerNetworkData(1003, (), padding=b"\xab\xcd")
    assert encode_server_blocks((net,)) == padded_even


def test_rdesktop_long_length_forms() -> None:
    """rdesktop (sec_out_mcs_data) writes both GCC lengths as 0x8000 | length: a short block
    list keeps its two-byte forms through decode and encode."""
    request = ConferenceCreateRequest(
        (ClientSecurityData(EncryptionMethod(3)),),
        connect_pdu_long_length=True,
        user_data_long_length=True,
    )
    data = encode_conference_create_request(request)
    assert data[7:9] == b"\x80\x1a"  # 14 header bytes + 12 bytes of CS_SECURITY
    assert data[-14:-12] == b"\x80\x0c"
    assert decode_conference_create_request(data) == request


@pytest.mark.parametrize(
    ("decode", "blocks"),
    [
        (decode_client_blocks, b"\x03\xc0\x10\x00\xff\xff\xff\xff" + bytes(8)),  # channelCount
        (decode_server_blocks, b"\x03\x0c\x08\x00\xeb\x03\xff\xff"),  # SC_NET count 0xFFFF
        (decode_server_blocks, b"\x02\x0c\x18\x00" + bytes(8) + b"\xff" * 4 + bytes(8)),
        (decode_server_blocks, b"\x02\x0c\x14\x00" + bytes(12) + b"\xff" * 4),  # serverCertLen
        (decode_server_blocks, b"\x02\x0c\x0a\x00" + bytes(6)),  # SC_SECURITY too short
        (decode_server_blocks, b"\x01\x0c\x06\x00\x04\x00"),  # SC_CORE too short
        (decode_client_blocks, b"\x01\xc0\xff\xff" + bytes(10)),  # block past the end
        (decode_server_blocks, b"\x01\xc0\x03\x00"),  # block length below 4
        (decode_client_blocks, b"\x01\xc0\x08\x00" + bytes(4)),  # CS_CORE below fixed part
        (decode_client_blocks, b"\x02\xc0\x0c\x00" + bytes(8) + b"\x04\xc0"),  # cut header
        (decode_client_blocks, b"\x02\xc0\x10\x00" + bytes(12)),  # CS_SECURITY too long
        (decode_server_blocks, b"\x03\x0c\x10\x00\xeb\x03\x01\x00\xec\x03" + bytes(6)),
    ],
)
def test_hostile_blocks(decode: Any, blocks: bytes) -> None:
    """Giant counts and lengths, and blocks of the wrong size, fail at once with PduError."""
    with pytest.raises(PduError):
        decode(blocks)


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("0005001478000100"),  # wrong OID
        bytes.fromhex("00050014 7c0001 c0"),  # fragmented length
        bytes.fromhex("00050014 7c0001 0a 01 08 0010 00 01 c0 00 4475 6361"),  # wrong choice
        bytes.fromhex("00050014 7c0001 0a 00 08 00a0 00 01 c0 00 4475 6361"),  # digit A
        bytes.fromhex("00050014 7c0001 0c 00 08 0010 00 01 c0 00 4475 6361 8fff"),  # value len
        bytes.fromhex("00050014 7c0001 0c 00 08 0010 00 02 c0 00 4475 6361 00"),  # two sets
    ],
)
def test_hostile_request_headers(data: bytes) -> None:
    """Malformed T.124 headers end in PduError."""
    with pytest.raises(PduError):
        decode_conference_create_request(data)


# -------------------------------------------------------------------------------------------
# Properties


@PROPERTY
@given(st.lists(client_blocks, max_size=6).map(tuple))
def test_client_blocks_round_trip(blocks: tuple[Any, ...]) -> None:
    """decode(encode(x)) == x for client settings blocks."""
    assert decode_client_blocks(encode_client_blocks(blocks)) == blocks


@PROPERTY
@given(st.lists(server_blocks, max_size=6).map(tuple))
def test_server_blocks_round_trip(blocks: tuple[Any, ...]) -> None:
    """decode(encode(x)) == x for server settings blocks."""
    assert decode_server_blocks(encode_server_blocks(blocks)) == blocks


@PROPERTY
@given(conference_create_requests)
def test_conference_create_request_round_trip(request: ConferenceCreateRequest) -> None:
    """decode(encode(x)) == x, once the connectPDU length is written as decoding reads it."""
    data = encode_conference_create_request(request)
    expected = normalise_gcc(request, data)
    assert decode_conference_create_request(data) == expected
    assert encode_conference_create_request(expected) == data


@PROPERTY
@given(conference_create_responses)
def test_conference_create_response_round_trip(response: ConferenceCreateResponse) -> None:
    """decode(encode(x)) == x, once the connectPDU length is written as decoding reads it."""
    data = encode_conference_create_response(response)
    expected = normalise_gcc(response, data)
    assert decode_conference_create_response(data) == expected
    assert encode_conference_create_response(expected) == data


_SEEDS = [
    _request(bcgr("4.1.3-client-mcs-connect-initial"))[0],
    _response(bcgr("4.1.4-server-mcs-connect-response"))[0],
    _request(windows("stdsec-conn2-frame12-c2s"))[0],
    _response(windows("tls-frame12-s2c-decrypted"))[0],
]


@PROPERTY
@given(hostile(_SEEDS))
def test_hostile_bytes_raise_only_pdu_error(data: bytes) -> None:
    """Random and mutated GCC PDUs and block lists end in a value or PduError; what decodes
    re-encodes to the same bytes."""
    for decode, encode in (
        (decode_conference_create_request, encode_conference_create_request),
        (decode_conference_create_response, encode_conference_create_response),
        (decode_client_blocks, encode_client_blocks),
        (decode_server_blocks, encode_server_blocks),
    ):
        with contextlib.suppress(PduError):
            assert encode(decode(data)) == data  # type: ignore[operator]
    with contextlib.suppress(PduError):
        assert encode_client_blocks(decode_client_blocks(data[23:])) == data[23:]
