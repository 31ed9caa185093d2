"""The struct paths of pdu.rdp and pdu.framing decode and encode as construct does.

TS_INFO_PACKET (with TS_EXTENDED_INFO_PACKET) is read with `struct`, the share data headers
(Set Error Info) written with it, and the X.224 Connection Request / Confirm and their
negotiation structures read and written with it; anything unusual goes to the construct
definitions, which stay the reference.  Each struct path is compared here with
``engine="construct"`` (the construct definitions alone) on generated PDUs, spec examples and
hostile bytes, and the object-free writers the connection core uses
(`rdp.security_header_bytes`, `framing.tpkt_payload`, `encode_licensing_message`) with the
encoders they short-cut.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from connection_strategies import (
    bcgr,
    client_infos,
    hostile,
    outcome,
    security_headers,
    send_data,
    set_error_infos,
    windows,
    x224_tpdus,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from licensing_strategies import pdus as licensing_pdus

from rdplic.pdu import ENGINES, framing, rdp
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import LicensingPdu, encode_licensing_message, encode_licensing_pdu
from rdplic.pdu.rdp.client_info import _client_info_struct

PROPERTY = settings(max_examples=200, deadline=None)


def both(call: Any, *args: Any) -> tuple[Any, Any]:
    """``call(*args)`` with ``engine="struct"``, and again with ``engine="construct"``."""
    return (
        outcome(lambda *a: call(*a, engine="struct"), *args),
        outcome(lambda *a: call(*a, engine="construct"), *args),
    )


_INFO_SEEDS = [
    bcgr("4.1.10-client-info-decrypted-ts-info-packet"),
    rdp.encode_client_info(
        rdp.ClientInfo(0, rdp.InfoFlag.INFO_UNICODE, b"\0\0", b"u\0\0\0", b"\0\0", b"\0\0", b"\0\0")
    ),
]


def test_spec_client_info_takes_the_struct_path() -> None:
    """The MS-RDPBCGR 4.1.10 TS_INFO_PACKET is read by the struct path, as construct reads it."""
    data = _INFO_SEEDS[0]
    assert _client_info_struct(data) is not None
    struct_path, construct_path = both(rdp.decode_client_info, data)
    assert struct_path == construct_path
    assert rdp.encode_client_info(struct_path) == data


def test_windows_client_info_engines() -> None:
    """The Windows capture's Client Info (tls-frame31) decodes alike on both engines."""
    frame = send_data(windows("tls-frame31-c2s-decrypted"))
    user_data = rdp.decode_security_header(frame.user_data)[1]
    assert _client_info_struct(user_data) is not None
    struct_path, construct_path = both(rdp.decode_client_info, user_data)
    assert struct_path == construct_path
    assert not isinstance(struct_path, tuple)


@PROPERTY
@given(client_infos())
def test_client_info_engines_decode(info: rdp.ClientInfo) -> None:
    """Every encodable TS_INFO_PACKET is read by the struct path, to the same object on both
    engines."""
    data = rdp.encode_client_info(info)
    assert _client_info_struct(data) == info
    struct_path, construct_path = both(rdp.decode_client_info, data)
    assert struct_path == construct_path == info


@PROPERTY
@given(
    st.one_of(hostile(_INFO_SEEDS), client_infos().map(rdp.encode_client_info)).flatmap(
        lambda data: st.tuples(st.just(data), st.integers(0, len(data)), st.binary(max_size=6))
    )
)
def test_client_info_engines_hostile(case: tuple[bytes, int, bytes]) -> None:
    """Mutated, cut or extended packets: the same object or the same PduError on both engines."""
    data, cut, extra = case
    for candidate in (data, data[:cut], data + extra):
        struct_path, construct_path = both(rdp.decode_client_info, candidate)
        assert struct_path == construct_path


@PROPERTY
@given(set_error_infos, st.sampled_from([None, -1, 2**32, "x", 1.5]), st.integers(0, 9))
def test_set_error_info_engines_encode(pdu: rdp.SetErrorInfo, bad: Any, where: int) -> None:
    """Set Error Info: the same bytes on both engines, and the same PduError for a bad field."""
    struct_path, construct_path = both(rdp.encode_set_error_info, pdu)
    assert struct_path == construct_path
    names = ("pdu_source", "share_id", "stream_id", "pad1", "compressed_type")
    if bad is not None and where < len(names):
        broken = dataclasses.replace(pdu, **{names[where]: bad})
        struct_path, construct_path = both(rdp.encode_set_error_info, broken)
        assert struct_path == construct_path
        assert isinstance(struct_path, tuple)


@PROPERTY
@given(x224_tpdus)
def test_x224_engines(tpdu: framing.X224Tpdu) -> None:
    """Every TPDU encodes to the same bytes on both engines, and decodes back alike."""
    struct_path, construct_path = both(framing.encode_x224, tpdu)
    assert struct_path == construct_path
    if isinstance(struct_path, bytes):
        decoded, decoded_construct = both(framing.decode_x224, struct_path)
        assert decoded == decoded_construct == tpdu


_X224_SEEDS = [
    framing.decode_tpkt(bcgr("4.1.1-client-x224-connection-request")).payload,
    framing.decode_tpkt(bcgr("4.1.2-server-x224-connection-confirm")).payload,
]


@PROPERTY
@given(hostile(_X224_SEEDS))
def test_x224_engines_decode_hostile(data: bytes) -> None:
    """Mutated Connection Request / Confirm bytes: the same TPDU or PduError on both engines."""
    struct_path, construct_path = both(framing.decode_x224, data)
    assert struct_path == construct_path


@PROPERTY
@given(
    st.sampled_from([-1, 0x100, 2**32, "x"]),
    st.sampled_from(["flags", "dst_ref", "src_ref", "class_option"]),
)
def test_x224_engines_encode_refuse_alike(bad: Any, field: str) -> None:
    """A value that does not fit its field: the same PduError on both engines."""
    confirm = framing.X224ConnectionConfirm(
        framing.RdpNegotiationResponse(
            framing.Protocol.PROTOCOL_RDP, framing.NegotiationResponseFlag(0)
        )
    )
    if field == "flags":
        assert confirm.rdp_neg_data is not None
        broken = dataclasses.replace(
            confirm, rdp_neg_data=dataclasses.replace(confirm.rdp_neg_data, flags=bad)
        )
    else:
        broken = dataclasses.replace(confirm, **{field: bad})
    struct_path, construct_path = both(framing.encode_x224, broken)
    assert struct_path == construct_path


def test_tpkt_data_frame_is_the_objects() -> None:
    """`tpkt_data_frame` writes what TPKT(X.224 Data(payload)) writes on both engines, and
    refuses alike."""
    for payload in (b"", b"\x01" * 300, b"\x00" * (0xFFFF - 7)):
        expected = framing.encode_tpkt(framing.Tpkt(framing.encode_x224(framing.X224Data(payload))))
        assert framing.tpkt_data_frame(payload) == expected
        assert framing.tpkt_data_frame(payload, engine="construct") == expected
    too_long = b"\x00" * (0xFFFF - 6)
    for engine in ENGINES:
        with pytest.raises(PduError):
            framing.tpkt_data_frame(too_long, engine=engine)


@PROPERTY
@given(security_headers(), st.sampled_from([None, -1, 0x10000]), st.booleans())
def test_security_header_bytes_is_the_encoder(
    header: rdp.SecurityHeader, bad: Any, on_flags_hi: bool
) -> None:
    """`security_header_bytes` writes what `encode_security_header` writes, and refuses alike."""
    if bad is not None:
        header = dataclasses.replace(header, **{"flags_hi" if on_flags_hi else "flags": bad})
    if header.fips_padlen is None:
        direct = outcome(
            rdp.security_header_bytes, int(header.flags), header.data_signature, header.flags_hi
        )
        assert direct == outcome(rdp.encode_security_header, header)
        assert both(
            lambda flags, signature, flags_hi, engine: rdp.security_header_bytes(
                flags, signature, flags_hi, engine=engine
            ),
            int(header.flags),
            header.data_signature,
            header.flags_hi,
        ) == (direct, direct)


@PROPERTY
@given(hostile([bcgr("4.1.1-client-x224-connection-request")]))
def test_tpkt_payload_is_the_decoder(data: bytes) -> None:
    """`tpkt_payload` returns the payload `decode_tpkt` reads, or the same PduError, on both
    engines."""
    expected = outcome(lambda d: framing.decode_tpkt(d).payload, data)
    assert both(framing.tpkt_payload, data) == (expected, expected)


@PROPERTY
@given(licensing_pdus)
def test_encode_licensing_message_is_the_pdu_encoder(pdu: LicensingPdu) -> None:
    """`encode_licensing_message` writes what `encode_licensing_pdu` writes for the same PDU."""
    plain = dataclasses.replace(pdu, msg_size=None)
    expected = outcome(encode_licensing_pdu, plain)
    assert outcome(encode_licensing_message, pdu.message, pdu.version, pdu.flags) == expected


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=80).map(lambda b: rdp.encode_security_exchange(rdp.SecurityExchange(b))),
        hostile([rdp.encode_security_exchange(rdp.SecurityExchange(bytes(72)))]),
    )
)
def test_security_exchange_engines_decode(data: bytes) -> None:
    """TS_SECURITY_PACKET: the struct path reads what construct reads, or construct refuses."""
    struct_path, construct_path = both(rdp.decode_security_exchange, data)
    assert struct_path == construct_path
