"""pdu.rdp: security headers, Security Exchange, Client Info, Set Error Info, Demand Active."""

from __future__ import annotations

import contextlib
import dataclasses
import timeit
from typing import Any

import pytest
from connection_strategies import (
    bcgr,
    client_infos,
    demand_actives,
    hostile,
    security_exchanges,
    security_headers,
    send_data,
    set_error_infos,
    windows,
)
from hypothesis import given, settings

from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import decode_tpkt, decode_x224
from rdplic.pdu.mcs import decode_domain_pdu
from rdplic.pdu.rdp import (
    SECURITY_HEADER,
    CapabilitySet,
    CapabilitySetType,
    ClientAddressFamily,
    ClientInfo,
    DemandActive,
    ErrorInfo,
    ExtendedInfo,
    InfoFlag,
    PduType,
    PerformanceFlag,
    SecurityExchange,
    SecurityFlag,
    SecurityHeader,
    SetErrorInfo,
    ShareControlHeader,
    StreamId,
    decode_client_info,
    decode_demand_active,
    decode_security_exchange,
    decode_security_header,
    decode_set_error_info,
    decode_share_control_header,
    encode_client_info,
    encode_demand_active,
    encode_security_exchange,
    encode_security_header,
    encode_set_error_info,
    encode_share_control_header,
)

PROPERTY = settings(max_examples=200, deadline=None)


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


# -------------------------------------------------------------------------------------------
# Security headers


def test_spec_4_1_9_basic_header_and_security_exchange() -> None:
    """MS-RDPBCGR 4.1.9: basic header SEC_EXCHANGE_PKT | SEC_LICENSE_ENCRYPT_SC, then a
    72-byte encryptedClientRandom (64 bytes of RSA output and 8 zero bytes)."""
    user_data = send_data(bcgr("4.1.9-client-security-exchange")).user_data
    header, body = decode_security_header(user_data)
    assert header == SecurityHeader(
        SecurityFlag.SEC_EXCHANGE_PKT | SecurityFlag.SEC_LICENSE_ENCRYPT_SC, 0
    )
    exchange = decode_security_exchange(body)
    assert len(exchange.encrypted_client_random) == 72
    assert exchange.encrypted_client_random[:8] == bytes.fromhex("91ac0c8f648c39f4")
    assert exchange.encrypted_client_random[-8:] == bytes(8)
    assert encode_security_header(header) + encode_security_exchange(exchange) == user_data


def test_spec_4_1_10_non_fips_header() -> None:
    """MS-RDPBCGR 4.1.10: SEC_INFO_PKT | SEC_ENCRYPT carries the 8-byte dataSignature."""
    user_data = send_data(bcgr("4.1.10-client-info")).user_data
    header, body = decode_security_header(user_data)
    assert header == SecurityHeader(
        SecurityFlag.SEC_INFO_PKT | SecurityFlag.SEC_ENCRYPT, 0, bytes.fromhex("45ca46fa5ea7bebc")
    )
    assert body[:4] == bytes.fromhex("7421d365")
    assert len(body) == 400
    assert encode_security_header(header) + body == user_data


def test_spec_4_1_11_licensing_header() -> None:
    """MS-RDPBCGR 4.1.11: the encrypted valid-client licensing PDU has flags 0x0288."""
    user_data = send_data(bcgr("4.1.11-server-license-error-valid-client")).user_data
    header, body = decode_security_header(user_data)
    assert header.flags == (
        SecurityFlag.SEC_LICENSE_PKT
        | SecurityFlag.SEC_ENCRYPT
        | SecurityFlag.SEC_LICENSE_ENCRYPT_CS
    )
    assert header.flags_hi == 0x0302
    assert header.data_signature == bytes.fromhex("8d439aabd52a3139")
    assert len(body) == 16


def test_windows_licensing_headers() -> None:
    """Windows licensing PDUs: 0x0288 with a MAC under Standard RDP Security (stdsec frame 35),
    a bare 0x0080 under TLS (TLS frame 32, decrypted)."""
    header, body = decode_security_header(send_data(windows("stdsec-conn2-frame35-s2c")).user_data)
    assert header.flags == 0x0288 and header.data_signature is not None and len(body) == 16
    header, body = decode_security_header(send_data(windows("tls-frame32-s2c-decrypted")).user_data)
    assert header == SecurityHeader(SecurityFlag.SEC_LICENSE_PKT, 0)
    assert body == bytes.fromhex("ff031000070000000200000004000000")


def test_flags_hi_garbage_is_kept() -> None:
    """Windows (mstsc, TLS frame 31) fills flagsHi with garbage (0xC700): kept verbatim."""
    user_data = send_data(windows("tls-frame31-c2s-decrypted")).user_data
    header, _body = decode_security_header(user_data)
    assert header == SecurityHeader(SecurityFlag.SEC_INFO_PKT, 0xC700)
    assert encode_security_header(header) == user_data[:4]


def test_fips_header() -> None:
    """With the FIPS method in force an encrypted PDU carries TS_SECURITY_HEADER2."""
    data = bytes.fromhex("0800 0000 1000 01 05") + bytes(range(8)) + b"body"
    header, body = decode_security_header(data, fips=True)
    assert header == SecurityHeader(SecurityFlag.SEC_ENCRYPT, 0, bytes(range(8)), 5)
    assert body == b"body"
    assert encode_security_header(header) + body == data
    with pytest.raises(PduError):
        decode_security_header(bytes.fromhex("0800 0000 1100 01 05") + bytes(8), fips=True)
    assert decode_security_header(data)[0].data_signature == data[4:12]


def test_truncated_headers() -> None:
    """A header shorter than its flags say: PduError."""
    for data, fips in ((b"\x80\x00\x00", False), (b"\x08\x00\x00\x00\x01", False), (b"", True)):
        with pytest.raises(PduError):
            decode_security_header(data, fips=fips)


def test_header_fields_must_match_flags() -> None:
    """dataSignature exactly when SEC_ENCRYPT; padlen only with it."""
    for bad in (
        SecurityHeader(SecurityFlag.SEC_ENCRYPT),
        SecurityHeader(SecurityFlag.SEC_INFO_PKT, 0, bytes(8)),
        SecurityHeader(SecurityFlag.SEC_INFO_PKT, 0, None, 1),
        SecurityHeader(SecurityFlag.SEC_ENCRYPT, 0, bytes(7)),
    ):
        with pytest.raises(PduError):
            encode_security_header(bad)


def test_whole_licensing_frame_and_its_cost() -> None:
    """A licensing frame goes TPKT -> X.224 -> Send Data -> security header; the four decoders
    take a few microseconds together (printed, not asserted: benchmarks are not unit tests)."""
    frame = bcgr("4.1.11-server-license-error-valid-client")

    def decode() -> tuple[SecurityHeader, bytes]:
        tpdu = decode_x224(decode_tpkt(frame).payload)
        pdu = decode_domain_pdu(tpdu.payload)  # type: ignore[union-attr]
        return decode_security_header(pdu.user_data)  # type: ignore[union-attr]

    header, _body = decode()
    assert header.flags & SecurityFlag.SEC_LICENSE_PKT
    runs = 2000
    seconds = timeit.timeit(decode, number=runs)
    print(f"licensing frame through four layers: {seconds / runs * 1e6:.1f} us")


# -------------------------------------------------------------------------------------------
# Client Info


def test_spec_4_1_10_client_info() -> None:
    """MS-RDPBCGR 4.1.10, decrypted: NTDEV\\eltons, client 157.59.242.156, Pacific time,
    compression 64K, performance flags PERF_DISABLE_WALLPAPER, no autoreconnect cookie."""
    data = bcgr("4.1.10-client-info-decrypted-ts-info-packet")
    info = decode_client_info(data)
    assert info.code_page == 0x04090409
    assert info.flags == InfoFlag(0x000043B3)
    assert info.compression_type == 1
    assert info.domain == _utf16z("NTDEV")
    assert info.user_name == _utf16z("eltons")
    assert info.password == info.alternate_shell == info.working_dir == b"\x00\x00"
    extra = info.extra_info
    assert extra is not None
    assert extra.client_address_family == ClientAddressFamily.AF_INET
    assert extra.client_address == _utf16z("157.59.242.156")
    assert extra.client_dir.startswith("C:\\depots".encode("utf-16-le"))
    assert extra.client_time_zone is not None
    assert extra.client_time_zone.bias == 480
    assert extra.client_time_zone.daylight_bias == -60
    assert extra.client_time_zone.standard_date.month == 10
    assert extra.client_session_id == 0
    assert extra.performance_flags == PerformanceFlag.PERF_DISABLE_WALLPAPER
    assert extra.auto_reconnect_cookie == b""
    assert extra.reserved1 is None
    assert encode_client_info(info) == data


def test_windows_client_info() -> None:
    """mstsc under TLS (TLS frame 31, decrypted): user name only, every optional field up to
    dynamicDaylightTimeDisabled, the dynamic DST key name without NUL."""
    _header, body = decode_security_header(
        send_data(windows("tls-frame31-c2s-decrypted")).user_data
    )
    info = decode_client_info(body)
    assert info.user_name == _utf16z("Administrator@ad.it-help.ninja")
    assert info.password == b"\x00\x00"
    assert info.flags & InfoFlag.INFO_UNICODE
    extra = info.extra_info
    assert extra is not None
    assert extra.client_address == _utf16z("10.10.0.131")
    assert extra.client_session_id == 1
    assert extra.reserved1 == 100
    assert extra.dynamic_dst_time_zone_key_name == "Eastern Standard Time".encode("utf-16-le")
    assert extra.dynamic_daylight_time_disabled == 0
    assert extra.trailing == b""
    assert encode_client_info(info) == body


def test_extended_info_may_end_after_any_optional_field() -> None:
    """TS_EXTENDED_INFO_PACKET cut after any optional field decodes and re-encodes exactly."""
    _header, body = decode_security_header(
        send_data(windows("tls-frame31-c2s-decrypted")).user_data
    )
    full = decode_client_info(body)
    assert full.extra_info is not None
    names = [
        "client_time_zone",
        "client_session_id",
        "performance_flags",
        "auto_reconnect_cookie",
        "reserved1",
        "reserved2",
        "dynamic_dst_time_zone_key_name",
        "dynamic_daylight_time_disabled",
    ]
    for kept in range(len(names) + 1):
        extra = dataclasses.replace(full.extra_info, **{name: None for name in names[kept:]})
        info = dataclasses.replace(full, extra_info=extra)
        data = encode_client_info(info)
        assert decode_client_info(data) == info
    no_extra = dataclasses.replace(full, extra_info=None)
    assert decode_client_info(encode_client_info(no_extra)) == no_extra


def test_ansi_client_info() -> None:
    """Without INFO_UNICODE the strings are ANSI with a one-byte terminator."""
    info = ClientInfo(
        0,
        InfoFlag.INFO_MOUSE | InfoFlag.INFO_AUTOLOGON,
        b"LAB\x00",
        b"labuser\x00",
        b"labpass\x00",
        b"\x00",
        b"\x00",
    )
    data = encode_client_info(info)
    assert data[8:18] == bytes.fromhex("0300 0700 0700 0000 0000")
    assert decode_client_info(data) == info
    with pytest.raises(PduError, match="terminator"):
        encode_client_info(dataclasses.replace(info, domain=b""))


def test_autoreconnect_cookie() -> None:
    """A 28-byte ARC_CS_PRIVATE_PACKET is kept as raw bytes behind cbAutoReconnectCookie."""
    cookie = bytes.fromhex("1c000000 01000000 02000000") + bytes(range(16))
    extra = ExtendedInfo(
        ClientAddressFamily.AF_INET6,
        _utf16z("::1"),
        _utf16z("C:\\mstscax.dll"),
        None,
    )
    info = ClientInfo(0, InfoFlag.INFO_UNICODE, *([b"\x00\x00"] * 5), extra)
    data = encode_client_info(info)
    assert decode_client_info(data) == info
    tz = decode_client_info(bcgr("4.1.10-client-info-decrypted-ts-info-packet")).extra_info
    assert tz is not None
    with_cookie = dataclasses.replace(tz, auto_reconnect_cookie=cookie, reserved1=0, reserved2=0)
    info = dataclasses.replace(info, extra_info=with_cookie)
    data = encode_client_info(info)
    assert b"\x1c\x00" + cookie in data
    assert decode_client_info(data) == info


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("00000000 10000000 ffff 0000 0000 0000 0000") + bytes(10),  # cbDomain
        bytes.fromhex("00000000 10000000 0000 0000 0000 0000 0000") + bytes(10) + b"\x02",
        bytes.fromhex("00000000 10000000 0000 0000 0000 0000 0000")
        + bytes(10)
        + bytes.fromhex("0200 ffff 00"),  # cbClientAddress past the end
        bytes.fromhex("00000000 10000000 0000 0000 0000 0000 0000")
        + bytes(10)
        + bytes.fromhex("0200 0000 0000")
        + bytes(172 + 8)
        + bytes.fromhex("ff7f"),  # cbAutoReconnectCookie past the end
        bytes.fromhex("00000000 10000000 0000"),
    ],
)
def test_hostile_client_info(data: bytes) -> None:
    """Lengths past the end of the data end in PduError at once."""
    with pytest.raises(PduError):
        decode_client_info(data)


# -------------------------------------------------------------------------------------------
# Set Error Info, share control header, Demand Active


SET_ERROR_INFO = bytes.fromhex("1600 1700 ea03 ea030100 00 01 0800 2f 00 0000 0a010000")
"""A Set Error Info PDU laid out as MS-RDPBCGR 2.2.5.1.1 says (the spec prints no example):
totalLength 22, PDUTYPE_DATAPDU | TS_PROTOCOL_VERSION, source 1002, shareId 0x103EA,
STREAM_LOW, uncompressedLength 8, PDUTYPE2_SET_ERROR_INFO_PDU,
ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS."""


def test_set_error_info() -> None:
    """Set Error Info with a licensing code decodes to its fields and re-encodes exactly."""
    pdu = decode_set_error_info(SET_ERROR_INFO)
    assert pdu == SetErrorInfo(
        ErrorInfo.ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS, pdu_source=1002, share_id=0x103EA
    )
    assert pdu.stream_id == StreamId.STREAM_LOW
    assert pdu.uncompressed_length is None
    assert encode_set_error_info(pdu) == SET_ERROR_INFO
    header, rest = decode_share_control_header(SET_ERROR_INFO)
    assert header == ShareControlHeader(PduType.PDUTYPE_DATAPDU, 1002)
    assert encode_share_control_header(header, rest) == SET_ERROR_INFO


def test_licensing_error_codes() -> None:
    """ERRINFO_LICENSE_* are 0x100-0x10A, in the order of MS-RDPBCGR 2.2.5.1.1."""
    licensing = [code for code in ErrorInfo if code.name.startswith("ERRINFO_LICENSE_")]
    assert [int(code) for code in licensing] == list(range(0x100, 0x10B))
    assert ErrorInfo.ERRINFO_LICENSE_INTERNAL == 0x100
    assert ErrorInfo.ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS == 0x10A


def test_set_error_info_rejects_other_pdus() -> None:
    """Another pduType2, another pduType, or another length is not a Set Error Info PDU."""
    for bad in (
        SET_ERROR_INFO[:14] + b"\x1f" + SET_ERROR_INFO[15:],
        SET_ERROR_INFO[:2] + b"\x11\x00" + SET_ERROR_INFO[4:],
        SET_ERROR_INFO + b"\x00",
        SET_ERROR_INFO[:-1],
    ):
        with pytest.raises(PduError):
            decode_set_error_info(bad)


def test_spec_4_1_13_demand_active() -> None:
    """MS-RDPBCGR 4.1.13, decrypted: shareId 0x103EA, "RDP", 13 capability sets, sessionId 0."""
    data = bcgr("4.1.13-server-demand-active-decrypted")
    pdu = decode_demand_active(data)
    assert pdu.pdu_source == 1002
    assert pdu.share_id == 0x000103EA
    assert pdu.source_descriptor == b"RDP\x00"
    assert len(pdu.capability_sets) == 13
    assert pdu.capability_sets[0] == CapabilitySet(
        CapabilitySetType.CAPSTYPE_SHARE, bytes(4)[:0] + b"\xea\x03\xdc\xe2"
    )
    assert pdu.session_id == 0
    assert encode_demand_active(pdu) == data


def test_windows_demand_active() -> None:
    """Windows Server (TLS frame 33, decrypted): 17 capability sets kept as (type, bytes)."""
    user_data = send_data(windows("tls-frame33-s2c-decrypted")).user_data
    pdu = decode_demand_active(user_data)
    assert len(pdu.capability_sets) == 17
    assert pdu.capability_sets[-1].type == CapabilitySetType.CAPSSETTYPE_FRAME_ACKNOWLEDGE
    assert encode_demand_active(pdu) == user_data


def test_minimal_demand_active() -> None:
    """A minimal Demand Active can be built from scratch and read back."""
    pdu = DemandActive(
        0x103EA,
        b"RDP\x00",
        (CapabilitySet(CapabilitySetType.CAPSTYPE_GENERAL, bytes(20)),),
    )
    data = encode_demand_active(pdu)
    assert data[:6] == bytes.fromhex("3200 1100 ea03")  # 6 + 16 + 24 + 4 bytes
    assert decode_demand_active(data) == pdu
    without_session = dataclasses.replace(pdu, session_id=None)
    assert decode_demand_active(encode_demand_active(without_session)) == without_session


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("1400 1100 ea03 ea030100 0400 0400 52445000 ffff 0000"),  # 0xFFFF sets
        bytes.fromhex("1800 1100 ea03 ea030100 0400 0800 52445000 0100 0000 0900 ffff"),
        bytes.fromhex("1400 1100 ea03 ea030100 ffff 0400 52445000 0000 0000"),  # source length
        bytes.fromhex("1400 1700 ea03 ea030100 0400 0400 52445000 0000 0000"),  # DATAPDU
        bytes.fromhex("1500 1100 ea03 ea030100 0400 0400 52445000 0000 0000"),  # totalLength
        bytes.fromhex("1600 1100 ea03 ea030100 0400 0400 52445000 0000 0000 0000"),  # 2 bytes
        bytes.fromhex("1400 1100 ea03 ea030100 0400 0200 52445000 0000 0000"),
    ],
)
def test_hostile_demand_active(data: bytes) -> None:
    """Giant counts and inconsistent lengths end in PduError."""
    with pytest.raises(PduError):
        decode_demand_active(data)


def test_security_exchange_lengths() -> None:
    """Security Exchange: Windows' 2048-bit client random (stdsec frame 32) is 256 + 8 bytes;
    a length past the end or short of it is refused."""
    header, body = decode_security_header(send_data(windows("stdsec-conn2-frame32-c2s")).user_data)
    assert header.flags == SecurityFlag.SEC_EXCHANGE_PKT | SecurityFlag.SEC_LICENSE_ENCRYPT_SC
    exchange = decode_security_exchange(body)
    assert len(exchange.encrypted_client_random) == 264
    for bad in (b"\xff\xff\xff\xff" + bytes(8), b"\x08\x00\x00\x00" + bytes(9), b"\x01"):
        with pytest.raises(PduError):
            decode_security_exchange(bad)


# -------------------------------------------------------------------------------------------
# Properties


@PROPERTY
@given(security_headers(), hostile([b"abc"]))
def test_security_header_round_trip(header: SecurityHeader, body: bytes) -> None:
    """decode(encode(x) + body) == (x, body), FIPS headers decoded with fips=True."""
    data = encode_security_header(header) + body
    assert decode_security_header(data, fips=header.fips_padlen is not None) == (header, body)


@PROPERTY
@given(security_exchanges)
def test_security_exchange_round_trip(pdu: SecurityExchange) -> None:
    """decode(encode(x)) == x for Security Exchange data."""
    assert decode_security_exchange(encode_security_exchange(pdu)) == pdu


@PROPERTY
@given(client_infos())
def test_client_info_round_trip(info: ClientInfo) -> None:
    """decode(encode(x)) == x for TS_INFO_PACKET with any optional fields."""
    assert decode_client_info(encode_client_info(info)) == info


@PROPERTY
@given(set_error_infos)
def test_set_error_info_round_trip(pdu: SetErrorInfo) -> None:
    """decode(encode(x)) == x for Set Error Info."""
    assert decode_set_error_info(encode_set_error_info(pdu)) == pdu


@PROPERTY
@given(demand_actives)
def test_demand_active_round_trip(pdu: DemandActive) -> None:
    """decode(encode(x)) == x for Demand Active."""
    assert decode_demand_active(encode_demand_active(pdu)) == pdu


_SEEDS = [
    send_data(bcgr("4.1.9-client-security-exchange")).user_data,
    send_data(bcgr("4.1.10-client-info")).user_data,
    bcgr("4.1.10-client-info-decrypted-ts-info-packet"),
    bcgr("4.1.13-server-demand-active-decrypted")[:120],
    SET_ERROR_INFO,
]


@PROPERTY
@given(hostile(_SEEDS))
def test_hostile_bytes_raise_only_pdu_error(data: bytes) -> None:
    """Random and mutated bytes end in a value or PduError in every decoder; what decodes
    re-encodes to the same bytes."""
    for fips in (False, True):
        with contextlib.suppress(PduError):
            header, body = decode_security_header(data, fips=fips)
            assert encode_security_header(header) + body == data
    pairs: list[tuple[Any, Any]] = [
        (decode_security_exchange, encode_security_exchange),
        (decode_client_info, encode_client_info),
        (decode_set_error_info, encode_set_error_info),
        (decode_demand_active, encode_demand_active),
    ]
    for decode, encode in pairs:
        with contextlib.suppress(PduError):
            assert encode(decode(data)) == data
    with contextlib.suppress(PduError):
        header, body = decode_share_control_header(data)
        assert encode_share_control_header(header, body) == data


@PROPERTY
@given(hostile(_SEEDS[:2]))
def test_security_header_struct_path_agrees_with_construct(data: bytes) -> None:
    """The struct path and the construct definition accept the same headers."""
    for fips in (False, True):
        try:
            parsed = SECURITY_HEADER.parse(data, fips=fips)
        except Exception:
            parsed = None
        try:
            header, _body = decode_security_header(data, fips=fips)
        except PduError:
            assert parsed is None
            continue
        assert parsed is not None
        assert (parsed.flags, parsed.flagsHi) == (header.flags, header.flags_hi)
