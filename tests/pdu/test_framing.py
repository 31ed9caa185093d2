"""pdu.framing: TPKT, X.224 TPDUs with the RDP negotiation structures, fast-path, frame_size."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from connection_strategies import (
    CAPTURES,
    bcgr,
    fast_path_pdus,
    hostile,
    tpkts,
    windows,
    windows_frames,
    x224_tpdus,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.capture.pcap import read_capture
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    _TPKT,
    MAX_FRAME_SIZE,
    X224_DATA_HEADER,
    FastPathFlag,
    FastPathPdu,
    NegotiationFailureCode,
    NegotiationRequestFlag,
    NegotiationResponseFlag,
    Protocol,
    RdpCorrelationInfo,
    RdpNegotiationFailure,
    RdpNegotiationRequest,
    RdpNegotiationResponse,
    Tpkt,
    X224ConnectionConfirm,
    X224ConnectionRequest,
    X224Data,
    X224DisconnectRequest,
    decode_fast_path,
    decode_tpkt,
    decode_x224,
    encode_fast_path,
    encode_tpkt,
    encode_x224,
    frame_size,
)

PROPERTY = settings(max_examples=200, deadline=None)

# -------------------------------------------------------------------------------------------
# Known answers: MS-RDPBCGR 4.1.1 and 4.1.2


def test_spec_4_1_1_connection_request() -> None:
    """MS-RDPBCGR 4.1.1: cookie "Cookie: mstshash=eltons", RDP_NEG_REQ PROTOCOL_RDP."""
    frame = bcgr("4.1.1-client-x224-connection-request")
    tpkt = decode_tpkt(frame)
    assert tpkt == Tpkt(frame[4:])
    cr = decode_x224(tpkt.payload)
    assert cr == X224ConnectionRequest(
        cookie=b"Cookie: mstshash=eltons",
        rdp_neg_req=RdpNegotiationRequest(Protocol.PROTOCOL_RDP, NegotiationRequestFlag(0)),
    )
    assert isinstance(cr, X224ConnectionRequest)
    assert cr.mstshash == b"eltons"
    assert encode_tpkt(Tpkt(encode_x224(cr))) == frame


def test_spec_4_1_2_connection_confirm() -> None:
    """MS-RDPBCGR 4.1.2: bogus source reference 0x1234, RDP_NEG_RSP PROTOCOL_RDP."""
    frame = bcgr("4.1.2-server-x224-connection-confirm")
    cc = decode_x224(decode_tpkt(frame).payload)
    assert cc == X224ConnectionConfirm(
        RdpNegotiationResponse(Protocol.PROTOCOL_RDP, NegotiationResponseFlag(0)),
        dst_ref=0,
        src_ref=0x1234,
    )
    assert encode_tpkt(Tpkt(encode_x224(cc))) == frame


# -------------------------------------------------------------------------------------------
# Known answers: the Windows captures


def test_windows_connection_request() -> None:
    """mstsc (stdsec capture frame 10) asks for PROTOCOL_SSL with a truncated mstshash cookie."""
    frame = windows("stdsec-conn2-frame10-c2s")
    cr = decode_x224(decode_tpkt(frame).payload)
    assert isinstance(cr, X224ConnectionRequest)
    assert cr.mstshash == b"Administr"
    assert cr.rdp_neg_req == RdpNegotiationRequest(Protocol.PROTOCOL_RDP)
    assert encode_tpkt(Tpkt(encode_x224(cr))) == frame


def test_windows_first_request_asks_for_tls() -> None:
    """stdsec capture frame 4 and TLS capture frame 4: requestedProtocols PROTOCOL_SSL."""
    for name in ("stdsec-conn1-frame4-c2s", "tls-frame4-c2s"):
        cr = decode_x224(decode_tpkt(windows(name)).payload)
        assert isinstance(cr, X224ConnectionRequest)
        assert cr.rdp_neg_req is not None
        assert cr.rdp_neg_req.requested_protocols == Protocol.PROTOCOL_SSL


def test_windows_negotiation_failure() -> None:
    """stdsec capture frame 5: Windows refuses TLS with SSL_NOT_ALLOWED_BY_SERVER."""
    frame = windows("stdsec-conn1-frame5-s2c")
    cc = decode_x224(decode_tpkt(frame).payload)
    assert cc == X224ConnectionConfirm(
        RdpNegotiationFailure(NegotiationFailureCode.SSL_NOT_ALLOWED_BY_SERVER)
    )
    assert encode_tpkt(Tpkt(encode_x224(cc))) == frame


def test_windows_negotiation_response_flags() -> None:
    """stdsec frame 11 / TLS frame 5: flags 0x1F, PROTOCOL_RDP / PROTOCOL_SSL selected."""
    for name, protocol in (
        ("stdsec-conn2-frame11-s2c", Protocol.PROTOCOL_RDP),
        ("tls-frame5-s2c", Protocol.PROTOCOL_SSL),
    ):
        frame = windows(name)
        cc = decode_x224(decode_tpkt(frame).payload)
        assert isinstance(cc, X224ConnectionConfirm)
        assert cc.rdp_neg_data == RdpNegotiationResponse(protocol, NegotiationResponseFlag(0x1F))
        assert cc.src_ref == 0x1234
        assert encode_tpkt(Tpkt(encode_x224(cc))) == frame


def test_every_windows_frame_round_trips_at_x224() -> None:
    """Every TPKT frame of both captures decodes through TPKT and X.224 and re-encodes exactly."""
    frames = windows_frames()
    assert len(frames) == 59
    for name, frame in frames:
        tpdu = decode_x224(decode_tpkt(frame).payload)
        assert encode_tpkt(Tpkt(encode_x224(tpdu))) == frame, name


def test_fixtures_match_the_capture() -> None:
    """The stdsec fixtures are exactly the TPKT frames rdplic.capture reassembles."""
    streams = read_capture(CAPTURES / "win-stdsec-valid-client.pcapng")
    assert len(streams) == 2
    for number, stream in enumerate(streams, start=1):
        for from_client, tag in ((True, "c2s"), (False, "s2c")):
            data = stream.data(from_client)
            ends = stream.frame_map(from_client)
            offset = 0
            while offset < len(data):
                size = frame_size(data[offset:])
                assert size is not None
                frame = next(f for end, f in ends if end > offset)  # the PDU's first byte
                name = f"stdsec-conn{number}-frame{frame}-{tag}"
                assert windows(name) == data[offset : offset + size]
                offset += size


def test_tls_capture_starts_with_plain_x224() -> None:
    """In the TLS capture only the X.224 CR and CC are plaintext; both fixtures match it."""
    (stream,) = read_capture(CAPTURES / "win-tls-valid-client.pcapng", decrypt_tls=False)
    client, server = stream.data(True), stream.data(False)
    assert windows("tls-frame4-c2s") == client[: frame_size(client)]
    assert windows("tls-frame5-s2c") == server[: frame_size(server)]
    assert client[47] == 0x16  # a TLS handshake record follows


# -------------------------------------------------------------------------------------------
# X.224 details


def test_connection_request_without_cookie_or_negotiation() -> None:
    """An RDP 4.0-style CR (no cookie, no RDP_NEG_REQ) is the bare 7-byte TPDU."""
    cr = X224ConnectionRequest()
    assert encode_x224(cr) == bytes.fromhex("06e00000000000")
    assert decode_x224(bytes.fromhex("06e00000000000")) == cr


def test_connection_request_without_negotiation() -> None:
    """xfreerdp /sec:rdp sends the cookie line and no RDP_NEG_REQ."""
    data = bytes.fromhex("20e00000000000") + b"Cookie: mstshash=labuser\r\n"
    cr = decode_x224(data)
    assert cr == X224ConnectionRequest(cookie=b"Cookie: mstshash=labuser")
    assert encode_x224(cr) == data


def test_routing_token_and_correlation_info() -> None:
    """A load-balancer routing token and RDP_NEG_CORRELATION_INFO round-trip (2.2.1.1.2)."""
    cr = X224ConnectionRequest(
        cookie=b"Cookie: msts=3640205228.15629.0000",
        rdp_neg_req=RdpNegotiationRequest(
            Protocol.PROTOCOL_SSL | Protocol.PROTOCOL_HYBRID,
            NegotiationRequestFlag.CORRELATION_INFO_PRESENT,
        ),
        rdp_correlation_info=RdpCorrelationInfo(bytes(range(16))),
    )
    data = encode_x224(cr)
    assert data[0] == len(data) - 1
    assert data.endswith(b"\x06\x00\x24\x00" + bytes(range(16)) + bytes(16))
    assert decode_x224(data) == cr
    assert cr.mstshash is None


def test_cookie_without_terminator_is_rejected() -> None:
    """A cookie line without CR LF cannot be told from what follows it: PduError."""
    with pytest.raises(PduError, match="CR LF"):
        decode_x224(bytes.fromhex("1ae00000000000") + b"Cookie: mstshash=abc")


def test_disconnect_request() -> None:
    """X.224 Disconnect Request (13.5) round-trips with its reason."""
    dr = X224DisconnectRequest(reason=1, dst_ref=0x1234)
    data = encode_x224(dr)
    assert data == bytes.fromhex("0680123400000" + "1")
    assert decode_x224(data) == dr


def test_data_tpdu_header() -> None:
    """The Data TPDU is 02 F0 80 + payload; an EOT-less header is kept, a bad LI rejected."""
    assert decode_x224(b"\x02\xf0\x80abc") == X224Data(b"abc")
    assert decode_x224(b"\x02\xf0\x00abc") == X224Data(b"abc", eot=False)
    assert encode_x224(X224Data(b"abc", eot=False)) == b"\x02\xf0\x00abc"
    for bad in (b"\x03\xf0\x80abc", b"\x02\xf0\x81abc", b"\x02", b""):
        with pytest.raises(PduError):
            decode_x224(bad)


def test_tpkt_rejects_wrong_length_and_version() -> None:
    """TPKT: version 3, length = frame size, at least 7."""
    for bad in (
        bytes.fromhex("0300000802f080"),  # length 8, 7 bytes
        bytes.fromhex("0300000702f08000"),  # trailing byte
        bytes.fromhex("0400000702f080"),  # version 4
        bytes.fromhex("0300000402f080")[:4],  # length 4
        b"\x03\x00",
    ):
        with pytest.raises(PduError):
            decode_tpkt(bad)


# -------------------------------------------------------------------------------------------
# frame_size


def test_frame_size_byte_by_byte() -> None:
    """Fed one byte at a time, frame_size says None until the header is complete, then the
    frame's length, so a whole frame is seen exactly when its last byte arrives; every Windows
    frame and spec example is delimited exactly."""
    frames = [frame for _name, frame in windows_frames()]
    frames += [bcgr("4.1.3-client-mcs-connect-initial"), bcgr("4.1.4-server-mcs-connect-response")]
    for frame in frames:
        buffer = bytearray()
        for index, byte in enumerate(frame):
            buffer.append(byte)
            size = frame_size(buffer)
            assert size is None if len(buffer) < 4 else size == len(frame)
            whole = size is not None and len(buffer) >= size
            assert whole == (index == len(frame) - 1)
        stream = frame + b"\x03\x00"
        assert frame_size(stream) == len(frame)
        assert frame_size(bytearray(stream)) == len(frame)
        assert frame_size(memoryview(stream)) == len(frame)


def test_frame_size_fast_path() -> None:
    """Fast-path headers: one length byte below 0x80, two bytes (0x80 | high, low) above."""
    assert frame_size(b"") is None
    assert frame_size(b"\x00") is None
    assert frame_size(b"\x44\x05abc") == 5
    assert frame_size(b"\xc4\x81") is None
    assert frame_size(b"\xc4\x81\x2c") == 0x12C
    assert frame_size(b"\x00\x80\x03") == 3


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\x07\x00\x00\x10", "version"),
        (b"\x13", "version"),
        (b"\x01\x05", "neither"),
        (b"\x02\x05", "neither"),
        (b"\x03\x00\x00\x06", "below"),
        (b"\x03\x00\x00\x00", "below"),
        (b"\x00\x01", "shorter"),
        (b"\x00\x80\x02", "shorter"),
    ],
)
def test_frame_size_rejects_impossible_headers(header: bytes, reason: str) -> None:
    """An action of 1 or 2, a TPKT version other than 3, a too short length: PduError."""
    with pytest.raises(PduError, match=reason):
        frame_size(header)


def test_frame_size_cap() -> None:
    """A length above max_size is refused; the default cap is the TPKT maximum."""
    assert MAX_FRAME_SIZE == 0xFFFF
    assert frame_size(b"\x03\x00\xff\xff") == 0xFFFF
    with pytest.raises(PduError, match="exceeds 8192"):
        frame_size(b"\x03\x00\x20\x01", max_size=8192)
    with pytest.raises(PduError, match="exceeds 1000"):
        frame_size(b"\x00\x83\xe9", max_size=1000)


@PROPERTY
@given(st.binary(max_size=8))
def test_frame_size_raises_only_pdu_error(data: bytes) -> None:
    """Any bytes give None, a length within bounds, or PduError."""
    with contextlib.suppress(PduError):
        size = frame_size(data)
        assert size is None or 2 <= size <= MAX_FRAME_SIZE


# -------------------------------------------------------------------------------------------
# Fast-path frames


def test_fast_path_frames() -> None:
    """A fast-path frame keeps its flags, numEvents, payload and length form."""
    pdu = decode_fast_path(b"\x84\x81\x00" + bytes(253))
    assert pdu.flags == FastPathFlag.FASTPATH_ENCRYPTED
    assert pdu.num_events == 1
    assert len(pdu.payload) == 253
    assert encode_fast_path(pdu) == b"\x84\x81\x00" + bytes(253)
    short = FastPathPdu(b"ab", num_events=2, long_length=True)
    assert encode_fast_path(short) == b"\x08\x80\x05ab"
    assert decode_fast_path(b"\x08\x80\x05ab") == short
    with pytest.raises(PduError):
        decode_fast_path(b"\x08\x06ab")


# -------------------------------------------------------------------------------------------
# Properties


@PROPERTY
@given(tpkts)
def test_tpkt_round_trip(tpkt: Tpkt) -> None:
    """decode(encode(x)) == x for TPKT frames."""
    data = encode_tpkt(tpkt)
    assert decode_tpkt(data) == tpkt
    assert frame_size(data) == len(data)


@PROPERTY
@given(x224_tpdus)
def test_x224_round_trip(tpdu: Any) -> None:
    """decode(encode(x)) == x for every X.224 TPDU."""
    assert decode_x224(encode_x224(tpdu)) == tpdu


@PROPERTY
@given(fast_path_pdus())
def test_fast_path_round_trip(pdu: FastPathPdu) -> None:
    """decode(encode(x)) == x for fast-path frames, and frame_size delimits them."""
    data = encode_fast_path(pdu)
    assert decode_fast_path(data) == pdu
    assert frame_size(data) == len(data)


_SEEDS = [frame for _name, frame in windows_frames()[:20]] + [
    bcgr("4.1.1-client-x224-connection-request"),
    bcgr("4.1.2-server-x224-connection-confirm"),
]


@PROPERTY
@given(hostile(_SEEDS))
def test_hostile_bytes_raise_only_pdu_error(data: bytes) -> None:
    """Random and mutated frames end in a value or PduError, never another exception, and
    whatever decodes re-encodes to the same bytes."""
    with contextlib.suppress(PduError):
        assert encode_tpkt(decode_tpkt(data)) == data
    with contextlib.suppress(PduError):
        assert encode_x224(decode_x224(data[4:])) == data[4:]
    with contextlib.suppress(PduError):
        assert encode_fast_path(decode_fast_path(data)) == data
    with contextlib.suppress(PduError):
        frame_size(data)


@PROPERTY
@given(hostile(_SEEDS))
def test_tpkt_struct_path_agrees_with_construct(data: bytes) -> None:
    """The struct path of decode_tpkt accepts exactly what the construct definition does."""
    try:
        reference = _TPKT.parse(data)
        reference_ok = len(data) == reference.length
    except Exception:
        reference_ok = False
    try:
        tpkt = decode_tpkt(data)
    except PduError:
        assert not reference_ok
    else:
        assert reference_ok
        assert tpkt.payload == reference.payload
    if len(data) >= 3:
        try:
            X224_DATA_HEADER.parse(data[:3])
            header_ok = True
        except Exception:
            header_ok = False
        assert header_ok == (data[:3] in (b"\x02\xf0\x80", b"\x02\xf0\x00"))
