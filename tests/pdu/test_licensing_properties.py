"""Property tests for pdu.licensing: round trips, engine agreement, and hostile bytes.

* decode(encode(x)) == x for generated objects of every structure;
* encode(decode(b)) == b for every byte string that decodes at all;
* the generated struct engine and the construct definitions agree (same
  object, same bytes, or both fail with PduError);
* random and mutated bytes end in PduError and nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from licensing_strategies import RDPELE_PDUS, example, hwids, license_infos, pdus, responses

from rdplic.pdu import ENGINES, Engine
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    ClientHardwareId,
    LicensingPdu,
    MsgType,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_client_hardware_id,
    encode_licensing_pdu,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)

EXAMPLES = [example(name) for name in RDPELE_PDUS]

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@BOUNDED
@given(pdus)
def test_licensing_pdu_round_trips(pdu: LicensingPdu) -> None:
    """decode(encode(x)) == x and encode(decode(b)) == b for any licensing PDU."""
    wire = encode_licensing_pdu(pdu)
    assume(pdu.msg_size != len(wire))  # a matching wMsgSize is reported as None
    assert decode_licensing_pdu(wire) == pdu
    assert encode_licensing_pdu(decode_licensing_pdu(wire)) == wire


@BOUNDED
@given(pdus)
def test_engines_encode_alike(pdu: LicensingPdu) -> None:
    """Both engines encode any PDU to the same bytes, and decode them to the same object."""
    wire = encode_licensing_pdu(pdu)
    for engine in ENGINES:
        assert encode_licensing_pdu(pdu, engine=engine) == wire
        assert decode_licensing_pdu(wire, engine=engine) == decode_licensing_pdu(wire)


@BOUNDED
@given(hwids, responses, license_infos)
def test_inner_structures_round_trip(
    hwid: ClientHardwareId, response: PlatformChallengeResponseData, info: NewLicenseInfo
) -> None:
    """The encrypted inner structures round-trip both ways, with every engine agreeing."""
    assert decode_client_hardware_id(encode_client_hardware_id(hwid)) == hwid
    assert (
        decode_platform_challenge_response_data(encode_platform_challenge_response_data(response))
        == response
    )
    assert decode_new_license_info(encode_new_license_info(info)) == info
    cases: list[tuple[Any, Any, Any]] = [
        (decode_client_hardware_id, encode_client_hardware_id, hwid),
        (
            decode_platform_challenge_response_data,
            encode_platform_challenge_response_data,
            response,
        ),
        (decode_new_license_info, encode_new_license_info, info),
    ]
    for decode, encode, obj in cases:
        wire = encode(obj)
        for engine in ENGINES:
            assert encode(obj, engine=engine) == wire
            assert decode(wire, engine=engine) == obj


def _decode_all_ways(data: bytes) -> None:
    """Decode with every engine: all fail with PduError, or all give the same object, which
    re-encodes to exactly ``data``."""
    outcomes: list[LicensingPdu | None] = []
    for engine in ENGINES:
        try:
            outcomes.append(decode_licensing_pdu(data, engine=engine))
        except PduError:
            outcomes.append(None)
    assert outcomes.count(None) in (0, len(outcomes)), outcomes
    if outcomes[0] is not None:
        assert all(o == outcomes[0] for o in outcomes)
        assert encode_licensing_pdu(outcomes[0]) == data


@BOUNDED
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_pdu_error(data: bytes) -> None:
    """Arbitrary bytes either decode (and re-encode exactly) or raise PduError."""
    _decode_all_ways(data)


@BOUNDED
@given(st.sampled_from(list(MsgType)), st.binary(max_size=200))
def test_random_bodies_raise_only_pdu_error(msg_type: MsgType, body: bytes) -> None:
    """Arbitrary bytes behind every valid preamble reach each message decoder and end in
    PduError or an exact round trip."""
    size = (4 + len(body)) & 0xFFFF
    _decode_all_ways(bytes([msg_type, 0x03]) + size.to_bytes(2, "little") + body)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A spec example with a few bytes overwritten, inserted, deleted or cut off."""
    data = bytearray(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[position:]
    return bytes(data)


@BOUNDED
@given(mutations())
def test_mutated_examples_raise_only_pdu_error(data: bytes) -> None:
    """Spec examples with corrupted bytes end in PduError or an exact round trip."""
    _decode_all_ways(data)


@BOUNDED
@given(st.binary(max_size=120))
def test_inner_decoders_raise_only_pdu_error(data: bytes) -> None:
    """Random bytes into the decrypted-structure decoders: PduError on both engines, or the
    same object on both and an exact round trip."""
    pairs: list[tuple[Any, Any]] = [
        (decode_client_hardware_id, encode_client_hardware_id),
        (decode_platform_challenge_response_data, encode_platform_challenge_response_data),
        (decode_new_license_info, encode_new_license_info),
    ]
    for decode, encode in pairs:
        outcomes = [_outcome(decode, data, engine) for engine in ENGINES]
        assert outcomes[0] == outcomes[1]
        if outcomes[0] is not None:
            assert encode(outcomes[0]) == data


def _outcome(call: Any, value: Any, engine: Engine) -> Any:
    """``call(value, engine=engine)``, or None when it raises PduError."""
    try:
        return call(value, engine=engine)
    except PduError:
        return None


@BOUNDED
@given(pdus, st.data())
def test_wrong_field_types_raise_only_pdu_error(pdu: LicensingPdu, data: st.DataObject) -> None:
    """Replacing a message field by a value of the wrong type fails to encode with PduError."""
    message: Any = pdu.message
    field = data.draw(st.sampled_from(dataclasses.fields(message)))
    bad = data.draw(st.sampled_from([None, "text", -1, 2**40, object(), (1, 2)]))
    broken = dataclasses.replace(pdu, message=dataclasses.replace(message, **{field.name: bad}))
    outcomes = [_outcome(encode_licensing_pdu, broken, engine) for engine in ENGINES]
    assert outcomes[0] == outcomes[1]
