"""pdu.mcs: BER Connect-Initial / Connect-Response and the aligned-PER domain PDUs."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from connection_strategies import (
    bcgr,
    connect_initials,
    connect_responses,
    domain_pdus,
    hostile,
    send_data_pdus,
    windows,
    windows_frames,
    x224_payload,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import parse_exact
from rdplic.pdu.mcs import (
    MAXIMUM_PARAMETERS,
    MINIMUM_PARAMETERS,
    TARGET_PARAMETERS,
    AttachUserConfirm,
    AttachUserRequest,
    BerLayout,
    ChannelJoinConfirm,
    ChannelJoinRequest,
    DataPriority,
    DisconnectProviderUltimatum,
    DomainParameters,
    ErectDomainForm,
    ErectDomainRequest,
    McsConnectInitial,
    McsConnectResponse,
    McsResult,
    Reason,
    Segmentation,
    SendDataIndication,
    SendDataRequest,
    decode_domain_pdu,
    decode_mcs_connect_initial,
    decode_mcs_connect_response,
    decode_mcs_pdu,
    encode_domain_pdu,
    encode_mcs_connect_initial,
    encode_mcs_connect_response,
)
from rdplic.pdu.mcs.connect import _write_connect_initial, _write_connect_response
from rdplic.pdu.mcs.domain import _SEND_DATA

PROPERTY = settings(max_examples=200, deadline=None)

# -------------------------------------------------------------------------------------------
# Known answers: MS-RDPBCGR 4.1.3 - 4.1.8, 4.2.3


def test_spec_4_1_3_connect_initial() -> None:
    """MS-RDPBCGR 4.1.3: selectors 1/1, upwardFlag TRUE, the 3.2.5.3.3 domain parameters, a
    307-byte userData; INTEGERs such as 65535 are written unsigned (02 02 FF FF)."""
    mcs_pdu = x224_payload(bcgr("4.1.3-client-mcs-connect-initial"))
    ci = decode_mcs_connect_initial(mcs_pdu)
    assert ci.calling_domain_selector == b"\x01"
    assert ci.called_domain_selector == b"\x01"
    assert ci.upward_flag is True
    assert ci.target_parameters == TARGET_PARAMETERS
    assert ci.minimum_parameters == MINIMUM_PARAMETERS
    assert ci.maximum_parameters == MAXIMUM_PARAMETERS
    assert len(ci.user_data) == 307
    assert ci.user_data[:7] == bytes.fromhex("00050014 7c0001")
    assert ci.ber_layout is not None  # 02 02 ff ff is not DER's 02 03 00 ff ff
    assert encode_mcs_connect_initial(ci) == mcs_pdu
    der = encode_mcs_connect_initial(dataclasses.replace(ci, ber_layout=None))
    assert len(der) == len(mcs_pdu) + 5  # five INTEGERs of 0xFFFF / 0xFC17 get a 00 octet
    assert decode_mcs_connect_initial(der) == dataclasses.replace(ci, ber_layout=None)


def test_spec_4_1_4_connect_response() -> None:
    """MS-RDPBCGR 4.1.4: rt-successful, calledConnectId 0, DER as the default layout."""
    mcs_pdu = x224_payload(bcgr("4.1.4-server-mcs-connect-response"))
    cr = decode_mcs_connect_response(mcs_pdu)
    assert cr.result == McsResult.RT_SUCCESSFUL
    assert cr.called_connect_id == 0
    assert cr.domain_parameters == DomainParameters(34, 3, 0, 1, 0, 1, 0xFFF8, 2)
    assert len(cr.user_data) == 0x11F
    assert cr.ber_layout is None
    assert encode_mcs_connect_response(cr) == mcs_pdu


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("4.1.5-client-mcs-erect-domain-request", ErectDomainRequest(0, 0)),
        ("4.1.6-client-mcs-attach-user-request", AttachUserRequest()),
        ("4.1.7-server-mcs-attach-user-confirm", AttachUserConfirm(McsResult.RT_SUCCESSFUL, 1007)),
        ("4.1.8.1.1-client-join-request-channel-1007", ChannelJoinRequest(1007, 1007)),
        ("4.1.8.1.2-server-join-confirm-channel-1007", ChannelJoinConfirm(1007, 1007, 1007)),
        ("4.1.8.2.1-client-join-request-channel-1003", ChannelJoinRequest(1007, 1003)),
        ("4.2.3-mcs-disconnect-provider-ultimatum", DisconnectProviderUltimatum(3)),
    ],
)
def test_spec_domain_pdus(name: str, expected: Any) -> None:
    """MS-RDPBCGR 4.1.5 - 4.1.8 and 4.2.3: each domain PDU decodes to its annotated fields."""
    payload = x224_payload(bcgr(name))
    assert decode_domain_pdu(payload) == expected
    assert decode_mcs_pdu(payload) == expected
    assert encode_domain_pdu(expected) == payload


def test_spec_send_data_request() -> None:
    """MS-RDPBCGR 4.1.9: SDrq initiator 1007 (wire 6), channel 1003, high, begin|end, 80 bytes."""
    pdu = decode_domain_pdu(x224_payload(bcgr("4.1.9-client-security-exchange")))
    assert isinstance(pdu, SendDataRequest)
    assert pdu.initiator == 1007
    assert pdu.channel_id == 1003
    assert pdu.data_priority == DataPriority.HIGH
    assert pdu.segmentation == Segmentation.BEGIN | Segmentation.END
    assert len(pdu.user_data) == 0x50
    assert pdu.long_length is False


def test_spec_send_data_indication_two_byte_length() -> None:
    """MS-RDPBCGR 4.1.10: a 412-byte userData uses the two-byte PER length 81 9C."""
    payload = x224_payload(bcgr("4.1.10-client-info"))
    pdu = decode_domain_pdu(payload)
    assert isinstance(pdu, SendDataRequest)
    assert len(pdu.user_data) == 0x19C
    assert encode_domain_pdu(pdu) == payload


def test_spec_licensing_send_data_indication() -> None:
    """MS-RDPBCGR 4.1.11: the server sends licensing PDUs as SDin from 1002 on channel 1003."""
    pdu = decode_domain_pdu(x224_payload(bcgr("4.1.11-server-license-error-valid-client")))
    assert isinstance(pdu, SendDataIndication)
    assert (pdu.initiator, pdu.channel_id, len(pdu.user_data)) == (1002, 1003, 0x1C)


# -------------------------------------------------------------------------------------------
# Known answers: the Windows captures


def test_windows_connect_initial_and_response() -> None:
    """mstsc's Connect-Initial (stdsec frame 12) writes INTEGERs unsigned, the server's
    Connect-Response (frame 13) is DER; both re-encode exactly."""
    ci = decode_mcs_connect_initial(x224_payload(windows("stdsec-conn2-frame12-c2s")))
    assert ci.target_parameters == TARGET_PARAMETERS
    assert ci.ber_layout is not None
    cr = decode_mcs_connect_response(x224_payload(windows("stdsec-conn2-frame13-s2c")))
    assert cr.domain_parameters == DomainParameters(34, 3, 0, 1, 0, 1, 0xFFF8, 2)
    assert cr.ber_layout is None


def test_windows_channel_joins() -> None:
    """stdsec frames 17-31: user channel 1009, joins of 1009, 1003 and 1004-1008 confirmed."""
    confirm = decode_domain_pdu(x224_payload(windows("stdsec-conn2-frame17-s2c")))
    assert confirm == AttachUserConfirm(McsResult.RT_SUCCESSFUL, 1009)
    joined = []
    for frame in range(19, 32, 2):
        pdu = decode_domain_pdu(x224_payload(windows(f"stdsec-conn2-frame{frame}-s2c")))
        assert isinstance(pdu, ChannelJoinConfirm)
        assert pdu.initiator == 1009 and pdu.requested == pdu.channel_id
        joined.append(pdu.channel_id)
    assert joined == [1009, 1003, 1008, 1004, 1005, 1006, 1007]


def test_every_windows_mcs_pdu_round_trips() -> None:
    """Every MCS PDU of both captures (TLS ones decrypted) decodes and re-encodes exactly."""
    count = 0
    for name, frame in windows_frames():
        if name.startswith("tls-") and not name.endswith("-decrypted"):
            continue
        if name.endswith(("frame4-c2s", "frame5-s2c", "frame10-c2s", "frame11-s2c")):
            continue  # the X.224 CR / CC
        payload = x224_payload(frame)
        pdu = decode_mcs_pdu(payload)
        if isinstance(pdu, McsConnectInitial):
            assert encode_mcs_connect_initial(pdu) == payload, name
        elif isinstance(pdu, McsConnectResponse):
            assert encode_mcs_connect_response(pdu) == payload, name
        else:
            assert encode_domain_pdu(pdu) == payload, name
        count += 1
    assert count == 53


# -------------------------------------------------------------------------------------------
# What other encoders send


def test_rdesktop_and_aardwolf_erect_domain_request() -> None:
    """rdesktop 1.9 (mcs.c mcs_send_edrq) and aardwolf send 04 00 01 00 01: two 16-bit values
    without PER lengths, which FreeRDP's server rejects and Windows accepts; so do we."""
    data = bytes.fromhex("0400010001")
    pdu = decode_domain_pdu(data)
    assert pdu == ErectDomainRequest(1, 1, ErectDomainForm.UINT16)
    assert encode_domain_pdu(pdu) == data
    assert encode_domain_pdu(ErectDomainRequest()) == bytes.fromhex("0401000100")
    with pytest.raises(PduError, match="16-bit form"):
        encode_domain_pdu(ErectDomainRequest(256, 1, ErectDomainForm.UINT16))


def test_rdesktop_send_data_two_byte_length() -> None:
    """rdesktop (mcs_send) always writes the userData length as 0x8000 | length."""
    data = bytes.fromhex("64000603eb708005") + b"hello"
    pdu = decode_domain_pdu(data)
    assert pdu == SendDataRequest(1007, 1003, b"hello", long_length=True)
    assert encode_domain_pdu(pdu) == data
    assert encode_domain_pdu(dataclasses.replace(pdu, long_length=False)) == (
        bytes.fromhex("64000603eb7005") + b"hello"
    )


def _length(length: int, rdesktop: bool) -> bytes:
    if length < 0x80:
        return bytes((length,))
    if rdesktop:  # ber_out_header: 82 xx xx for every long length
        return b"\x82" + length.to_bytes(2, "big")
    size = (length.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def _connect_initial(
    user_data: bytes,
    integer: Any,
    selector: bytes,
    rdesktop: bool,
    params: tuple[tuple[int, ...], ...] = (
        (2, 2, 0, 1, 0, 1, 0xFFFF, 2),
        (1, 1, 1, 1, 0, 1, 0x420, 2),
        (0xFFFF, 0xFC17, 0xFFFF, 1, 0, 1, 0xFFFF, 2),
    ),
) -> bytes:
    """A Connect-Initial written by hand: ``integer(value)`` gives each INTEGER's encoding."""

    def tlv(tag: bytes, body: bytes) -> bytes:
        return tag + _length(len(body), rdesktop) + body

    body = (
        tlv(b"\x04", selector)
        + tlv(b"\x04", selector)
        + tlv(b"\x01", b"\xff")
        + b"".join(tlv(b"\x30", b"".join(integer(v) for v in values)) for values in params)
        + tlv(b"\x04", user_data)
    )
    return tlv(b"\x7f\x65", body)


def test_rdesktop_connect_initial_layout() -> None:
    """rdesktop's mcs_send_connect_initial: empty domain selectors, every INTEGER in two
    octets (ber_out_integer), lengths of 0x80 and more as 82 xx xx; decoded and re-encoded."""
    data = _connect_initial(
        bytes(200), lambda v: b"\x02\x02" + v.to_bytes(2, "big"), b"", rdesktop=True
    )
    ci = decode_mcs_connect_initial(data)
    assert ci.calling_domain_selector == b""
    assert ci.target_parameters == DomainParameters(2, 2, 0, 1, 0, 1, 0xFFFF, 2)
    assert ci.maximum_parameters == MAXIMUM_PARAMETERS
    assert ci.ber_layout is not None
    assert encode_mcs_connect_initial(ci) == data


def test_aardwolf_signed_integers() -> None:
    """aardwolf (connection.py, asn1tools BER) sends maxMCSPDUsize -1 and maxUserIds -1001:
    02 01 FF and 02 02 FC 17.  Windows reads INTEGER (0..MAX) unsigned, so do we (255 and
    64535), and the bytes re-encode as sent."""

    def signed(value: int) -> bytes:
        content = value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)
        return b"\x02" + bytes((len(content),)) + content

    data = _connect_initial(
        b"x" * 300,
        signed,
        b"\x01",
        rdesktop=False,
        params=(
            (34, 2, 0, 1, 0, 1, -1, 2),
            (1, 1, 1, 1, 0, 1, 1056, 2),
            (-1, -1001, -1, 1, 0, 1, -1, 2),
        ),
    )
    assert b"\x02\x01\xff\x02\x02\xfc\x17" in data
    ci = decode_mcs_connect_initial(data)
    assert ci.target_parameters.max_mcspdu_size == 0xFF
    assert ci.maximum_parameters.max_user_ids == 0xFC17
    assert ci.ber_layout is not None
    assert encode_mcs_connect_initial(ci) == data


def test_short_lengths_in_long_form() -> None:
    """A BER length below 0x80 in the long form (81 05) is kept by the layout."""
    data = (
        bytes.fromhex("7f66 25 0a0100 020100 3018")
        + bytes.fromhex("020101") * 8
        + bytes.fromhex("04 81 02 abcd")
    )
    response = decode_mcs_connect_response(data)
    assert response.user_data == b"\xab\xcd"
    assert response.ber_layout is not None
    assert encode_mcs_connect_response(response) == data


# -------------------------------------------------------------------------------------------
# Hostile lengths and counts


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("7f65 84ffffffff 040101"),  # giant outer length
        bytes.fromhex("7f65 85ffffffffff"),  # five-byte length
        bytes.fromhex("7f65 80 040101"),  # indefinite length
        bytes.fromhex("7f65 08 0401 01 0401 01 0101 ff"),  # truncated
        bytes.fromhex("7f65 0d 0401 01 0401 01 0101 ff 30 84ffffffff"),
        bytes.fromhex("7f65 0a 0401 01 0401 01 0101 ff 3000 00"),  # trailing
        bytes.fromhex("7f65 07 0401 01 0401 01 0102 ffff"),  # 2-byte BOOLEAN
        bytes.fromhex("7f66 05 0a09 0000000000"),  # 9-byte INTEGER
        bytes.fromhex("7f66 84ffffffff"),
        bytes.fromhex("7f67 00"),
    ],
)
def test_ber_rejects_impossible_lengths(data: bytes) -> None:
    """Giant, indefinite, inconsistent BER lengths end in PduError at once."""
    with pytest.raises(PduError):
        decode_mcs_pdu(data)


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("64000603eb70bfff") + bytes(10),  # two-byte length 0x3fff, 10 bytes
        bytes.fromhex("64000603eb70c001") + bytes(10),  # fragmented length
        bytes.fromhex("64000603eb7005") + bytes(6),  # trailing byte
        bytes.fromhex("64000603eb7105") + bytes(5),  # padding bits set
        bytes.fromhex("64000603eb"),
        bytes.fromhex("2e0000"),  # AUcf with initiator flag but no initiator
        bytes.fromhex("2c0100"),  # AUcf padding bits
        bytes.fromhex("0402000101"),  # non-minimal PER integer
        bytes.fromhex("040500000000010100"),  # 5-byte PER integer
        bytes.fromhex("2181"),  # DPUM padding bit
        bytes.fromhex("30"),  # detachUserRequest: unsupported
        b"",
    ],
)
def test_per_rejects_malformed_pdus(data: bytes) -> None:
    """Bad PER lengths, set padding bits, missing fields and unknown choices: PduError."""
    with pytest.raises(PduError):
        decode_domain_pdu(data)


def test_user_ids_are_checked_on_encode() -> None:
    """A user id outside 1001..66536 cannot be encoded."""
    with pytest.raises(PduError, match="user id"):
        encode_domain_pdu(ChannelJoinRequest(1000, 1003))
    with pytest.raises(PduError):
        encode_domain_pdu(SendDataRequest(1007, 1003, bytes(0x4000)))


def test_unknown_result_and_reason_stay_ints() -> None:
    """Result and reason values outside the enums decode to plain ints."""
    pdu = decode_domain_pdu(bytes.fromhex("2280"))
    assert pdu == DisconnectProviderUltimatum(5)
    assert not isinstance(pdu.reason, Reason)  # type: ignore[union-attr]


# -------------------------------------------------------------------------------------------
# Properties


@PROPERTY
@given(connect_initials())
def test_connect_initial_round_trip(pdu: McsConnectInitial) -> None:
    """decode(encode(x)) == x for Connect-Initial (DER layout)."""
    assert decode_mcs_connect_initial(encode_mcs_connect_initial(pdu)) == pdu


@PROPERTY
@given(connect_responses)
def test_connect_response_round_trip(pdu: McsConnectResponse) -> None:
    """decode(encode(x)) == x for Connect-Response (DER layout)."""
    assert decode_mcs_connect_response(encode_mcs_connect_response(pdu)) == pdu


@PROPERTY
@given(st.one_of(connect_initials(), connect_responses), st.data())
def test_other_layouts_round_trip(pdu: Any, data: st.DataObject) -> None:
    """Any legal choice of BER sizes (longer length forms, wider INTEGERs, another TRUE octet)
    is recorded by decoding and reproduced by encoding."""
    is_initial = isinstance(pdu, McsConnectInitial)
    encode: Any = encode_mcs_connect_initial if is_initial else encode_mcs_connect_response
    decode: Any = decode_mcs_connect_initial if is_initial else decode_mcs_connect_response
    writer = _write_connect_initial if is_initial else _write_connect_response
    _der, der_sizes = writer(pdu, None)
    # Widening any size by up to two octets is legal while it stays within five octets
    # (a four-octet long-form length; INTEGERs may take eight).
    sizes = [max(size, min(size + data.draw(st.integers(0, 2)), 5)) for size in der_sizes]
    # The outer length grows with the others: give it room (82 xx xx) when they grow.
    if sizes != der_sizes:
        sizes[0] = max(sizes[0], 3)
    true_octet = data.draw(st.sampled_from((0xFF, 0x01, 0x80))) if is_initial else 0xFF
    encoded = encode(dataclasses.replace(pdu, ber_layout=BerLayout(tuple(sizes), true_octet)))
    decoded = decode(encoded)
    assert encode(decoded) == encoded
    assert dataclasses.replace(decoded, ber_layout=None) == pdu
    assert (decoded.ber_layout is None) == (sizes == der_sizes and true_octet == 0xFF)


@PROPERTY
@given(domain_pdus)
def test_domain_pdu_round_trip(pdu: Any) -> None:
    """decode(encode(x)) == x for every domain PDU."""
    assert decode_domain_pdu(encode_domain_pdu(pdu)) == pdu


@PROPERTY
@given(send_data_pdus())
def test_send_data_struct_path_agrees_with_construct(pdu: Any) -> None:
    """The struct path and the construct definition decode Send Data alike."""
    data = encode_domain_pdu(pdu)
    parsed = parse_exact("SendData", _SEND_DATA, data)
    assert parsed.initiator + 1001 == pdu.initiator
    assert parsed.userData == pdu.user_data
    assert parsed.length == (len(pdu.user_data), pdu.long_length)


_SEEDS = [x224_payload(frame) for name, frame in windows_frames() if frame[5:7] == b"\xf0\x80"][:30]
_SEEDS += [
    x224_payload(bcgr("4.1.3-client-mcs-connect-initial")),
    x224_payload(bcgr("4.1.4-server-mcs-connect-response")),
]


@PROPERTY
@given(hostile([s for s in _SEEDS if s[:1] != b"\x7f"][:20] + _SEEDS[-2:]))
def test_hostile_bytes_raise_only_pdu_error(data: bytes) -> None:
    """Random and mutated MCS PDUs end in a value or PduError; what decodes re-encodes."""
    for decode, encode in (
        (decode_domain_pdu, encode_domain_pdu),
        (decode_mcs_connect_initial, encode_mcs_connect_initial),
        (decode_mcs_connect_response, encode_mcs_connect_response),
    ):
        with contextlib.suppress(PduError):
            assert encode(decode(data)) == data  # type: ignore[operator]


@PROPERTY
@given(hostile([s for s in _SEEDS if s[:1] == b"\x64"][:5]))
def test_send_data_struct_path_rejects_what_construct_rejects(data: bytes) -> None:
    """For any bytes starting like Send Data, the struct path and construct agree."""
    try:
        parsed = parse_exact("SendData", _SEND_DATA, data)
    except PduError:
        parsed = None
    try:
        pdu = decode_domain_pdu(data)
    except PduError:
        assert parsed is None or data[0] >> 2 not in (25, 26)
        return
    if isinstance(pdu, SendDataRequest | SendDataIndication):
        assert parsed is not None
        assert parsed.userData == pdu.user_data
