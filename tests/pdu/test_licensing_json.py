"""The JSON codec of rdplic.pdujson over the licensing PDUs.

encode(from_json(to_json(decode(b)))) == b for every spec example (tests/data/rdpele/,
provenance in its README) and for generated PDUs; the JSON uses the spec's field names.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from licensing_strategies import RDPELE_PDUS, example, hwids, license_infos, pdus, responses

from rdplic.pdu.licensing import (
    BlobType,
    ClientHardwareId,
    ErrorCode,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    Scope,
    StateTransition,
    TextBlob,
    decode_licensing_pdu,
    encode_licensing_pdu,
)
from rdplic.pdujson import PduJsonError, from_json, to_json


def through_text(value: Any) -> Any:
    """The value as it comes back from json.dumps / json.loads."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("name", RDPELE_PDUS)
def test_examples_round_trip_through_json(name: str) -> None:
    """Every MS-RDPELE section 4 example survives decode -> JSON text -> encode unchanged."""
    data = example(name)
    pdu = decode_licensing_pdu(data)
    rebuilt = from_json(LicensingPdu, through_text(to_json(pdu)))
    assert rebuilt == pdu
    assert encode_licensing_pdu(rebuilt) == data


@settings(max_examples=200, deadline=None)
@given(pdus)
def test_generated_pdus_round_trip_through_json(pdu: LicensingPdu) -> None:
    """Any licensing PDU (junk blob types, odd preambles, wrong wMsgSize) survives JSON."""
    rebuilt = from_json(LicensingPdu, through_text(to_json(pdu)))
    assert rebuilt == pdu
    assert encode_licensing_pdu(rebuilt) == encode_licensing_pdu(pdu)


@settings(max_examples=100, deadline=None)
@given(hwids, responses, license_infos)
def test_inner_structures_round_trip_through_json(
    hwid: ClientHardwareId, response: PlatformChallengeResponseData, info: NewLicenseInfo
) -> None:
    """The decrypted inner structures survive JSON too."""
    for obj in (hwid, response, info):
        assert from_json(type(obj), through_text(to_json(obj))) == obj


def test_json_uses_spec_names_and_shapes() -> None:
    """Keys are the spec's field names; enums, junk enums, bytes and text have their forms."""
    pdu = decode_licensing_pdu(example("4.2-client-new-license-request.hex"))
    value = to_json(pdu)
    assert value["bMsgType"] == {"value": 0x13, "name": "NEW_LICENSE_REQUEST"}
    assert value["flags"] == {"value": 0x80, "name": "EXTENDED_ERROR_MSG_SUPPORTED"}
    assert value["wMsgSize"] is None
    message = value["message"]
    assert message["type"] == "ClientNewLicenseRequest"
    assert message["PlatformId"] == 0x04010000
    assert message["ClientUserName"] == {
        "wBlobType": {"value": 0x0F, "name": "BB_CLIENT_USER_NAME_BLOB"},
        "blobData": {"hex": b"Administrator\0".hex(), "text": "Administrator\0"},
    }
    assert message["ClientRandom"] == pdu.message.client_random.hex()  # type: ignore[union-attr]
    challenge = to_json(decode_licensing_pdu(example("4.4-server-platform-challenge.hex")))
    blob = challenge["message"]["EncryptedPlatformChallenge"]
    assert blob["wBlobType"] == {"value": 0xF750, "name": None}


def valid_client_json() -> dict[str, Any]:
    pdu = LicensingPdu(
        LicenseErrorMessage(
            ErrorCode.STATUS_VALID_CLIENT,
            StateTransition.ST_NO_TRANSITION,
            LicenseBinaryBlob(BlobType.BB_ERROR_BLOB, b""),
        )
    )
    value: dict[str, Any] = to_json(pdu)
    return value


def test_from_json_accepts_hand_written_forms() -> None:
    """Enums as plain numbers or names, text as {"text": ...}, bMsgType omitted: all accepted."""
    value = {
        "message": {
            "type": "LicenseErrorMessage",
            "dwErrorCode": "STATUS_VALID_CLIENT",
            "dwStateTransition": 2,
            "bbErrorInfo": {"wBlobType": 4, "blobData": ""},
        }
    }
    pdu = from_json(LicensingPdu, value)
    assert encode_licensing_pdu(pdu) == example("bcgr-4.1.11-valid-client.hex")
    scope = from_json(Scope, {"wBlobType": 14, "blobData": {"text": "microsoft.com\0"}})
    assert scope.issuer == b"microsoft.com\0"
    name = from_json(TextBlob, {"wBlobType": {"value": 15}, "blobData": "41 42 00"})
    assert name.blob_data == b"AB\0"
    unknown = from_json(
        LicenseBinaryBlob, {"wBlobType": {"value": 0x1428, "name": None}, "blobData": ""}
    )
    assert unknown.blob_type == 0x1428


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda v: v["message"].pop("type"), '"type"'),
        (lambda v: v["message"].update(type="Nope"), "unknown type"),
        (lambda v: v["message"].update(extra=1), "unknown field 'extra'"),
        (lambda v: v["message"].pop("dwErrorCode"), "message.dwErrorCode: missing"),
        (lambda v: v["message"].update(dwErrorCode="NOT_A_CODE"), "message.dwErrorCode"),
        (lambda v: v["message"]["bbErrorInfo"].update(blobData="zz"), "not valid hex"),
        (lambda v: v.update(flags={"value": "x"}), "flags"),
        (lambda v: v["message"]["bbErrorInfo"].update(wBlobType=True), "wBlobType"),
        (lambda v: v.update(wMsgSize="12"), "wMsgSize"),
    ],
)
def test_from_json_rejects_bad_input_with_a_path(edit: Any, message: str) -> None:
    """Malformed JSON raises PduJsonError naming the path of the bad value."""
    value = valid_client_json()
    edit(value)
    with pytest.raises(PduJsonError) as raised:
        from_json(LicensingPdu, value)
    assert message in str(raised.value)


def test_unknown_enum_value_in_a_closed_enum_is_rejected() -> None:
    """A field typed with an enum alone (no int) refuses values the enum lacks."""
    from rdplic.pdu.licensing import MsgType

    with pytest.raises(PduJsonError):
        from_json(MsgType, 0x77)
    assert from_json(MsgType, {"value": 1, "name": "LICENSE_REQUEST"}) is MsgType.LICENSE_REQUEST
