"""rdplic.testing: the installed strategies give what they promise, and the README's example of
a user's property test runs as written."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdplic.pdu import framing
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import BlobType, MsgType, decode_licensing_pdu, encode_licensing_pdu
from rdplic.testing import connection
from rdplic.testing.licensing import (
    ALMOST_VALID_KINDS,
    almost_valid_licensing_pdus,
    licensing_pdu_bytes,
    pdus,
)

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(almost_valid_licensing_pdus())
def test_my_parser_never_crashes(data: bytes) -> None:
    """The README's example: a parser meets almost-valid PDUs with PduError or a value."""
    with contextlib.suppress(PduError):
        decode_licensing_pdu(data)


@PROPERTY
@given(pdus)
def test_valid_pdus_round_trip(pdu: object) -> None:
    """Every generated licensing PDU encodes and decodes back to itself."""
    assert decode_licensing_pdu(encode_licensing_pdu(pdu)) == pdu  # type: ignore[arg-type]


@PROPERTY
@given(licensing_pdu_bytes)
def test_valid_bytes_decode(data: bytes) -> None:
    """licensing_pdu_bytes are wire bytes that decode."""
    decode_licensing_pdu(data)


@PROPERTY
@given(almost_valid_licensing_pdus("unknown-msg-type"))
def test_unknown_message_type(data: bytes) -> None:
    """An unknown bMsgType is refused with PduError."""
    assert data[0] not in set(MsgType)
    try:
        decode_licensing_pdu(data)
    except PduError:
        return
    raise AssertionError("decoded an unknown bMsgType")


@PROPERTY
@given(almost_valid_licensing_pdus("msg-size-lies"))
def test_msg_size_lies(data: bytes) -> None:
    """wMsgSize disagrees with the PDU's real length (decoded as Windows' quirk, kept)."""
    assert struct.unpack_from("<H", data, 2)[0] != len(data)
    assert decode_licensing_pdu(data).msg_size == struct.unpack_from("<H", data, 2)[0]


@PROPERTY
@given(almost_valid_licensing_pdus("unknown-blob-type"))
def test_unknown_blob_type(data: bytes) -> None:
    """A blob type outside the spec still decodes (the spec's own examples have some)."""
    known = {int(t) for t in BlobType}
    pdu = decode_licensing_pdu(data)
    blob_types = [
        getattr(pdu.message, f.name).blob_type
        for f in pdu.message.__dataclass_fields__.values()
        if hasattr(getattr(pdu.message, f.name), "blob_type")
    ]
    assert any(t not in known for t in blob_types)


@PROPERTY
@given(almost_valid_licensing_pdus("blob-length-lies", "truncated-encrypted"))
def test_lying_lengths_and_short_encrypted_fields(data: bytes) -> None:
    """Lying blob lengths give PduError or a value; short encrypted fields still frame."""
    with contextlib.suppress(PduError):
        decode_licensing_pdu(data)


def test_unknown_kind_is_refused() -> None:
    """Asking for a kind that does not exist is a ValueError naming the kinds."""
    try:
        almost_valid_licensing_pdus("nonsense")
    except ValueError as error:
        assert all(kind in str(error) for kind in ALMOST_VALID_KINDS)
    else:
        raise AssertionError("no error")


@PROPERTY
@given(connection.tpkts)
def test_connection_strategies_encode(tpkt: framing.Tpkt) -> None:
    """The connection strategies are installed too: a generated TPKT round-trips."""
    assert framing.decode_tpkt(framing.encode_tpkt(tpkt)) == tpkt


@PROPERTY
@given(st.data())
def test_hostile_bytes_are_bytes(data: st.DataObject) -> None:
    """connection.hostile mutates the given seeds into other byte strings."""
    out = data.draw(connection.hostile([b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00"]))
    assert isinstance(out, bytes)
