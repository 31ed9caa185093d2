"""GCC Conference Create Request / Response: the T.124 ConnectData around the settings blocks
([T124] sections 8.7, 9.5, 9.6; aligned PER), MS-RDPBCGR 2.2.1.3 ``gccCCrq`` and 2.2.1.4
``gccCCrsp``.

The ``userData`` of the MCS Connect-Initial / Connect-Response (`pdu.mcs`) is a ConnectData
whose ConnectGCCPDU carries one H.221 non-standard user data set: the concatenated client
(`pdu.gcc.client`) or server (`pdu.gcc.server`) blocks.  Every real client sends the same
T.124 header (conference name "1", key "Duca"; the server answers with key "McDn"), differing
only in the PER length forms: rdesktop writes every length in the two-byte form.  Windows
servers put a bogus connectPDU length in the response (0x2A, whatever the real length); it is
kept in ``connect_pdu_length`` (None when the length is right).  The T.124 PER here has no
construct definition and is read and written by hand; ``engine=`` is passed on to the blocks.
"""

from __future__ import annotations

import dataclasses

from rdplic.pdu._types import Engine, spec
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.framing import need
from rdplic.pdu.gcc.client import ClientBlock, decode_client_blocks, encode_client_blocks
from rdplic.pdu.gcc.server import ServerBlock, decode_server_blocks, encode_server_blocks

__all__ = [
    "T124_IDENTIFIER",
    "WINDOWS_NODE_ID",
    "ConferenceCreateRequest",
    "ConferenceCreateResponse",
    "decode_conference_create_request",
    "decode_conference_create_response",
    "encode_conference_create_request",
    "encode_conference_create_response",
]


T124_IDENTIFIER = b"\x00\x05\x00\x14\x7c\x00\x01"
"""Key CHOICE object (0), OBJECT IDENTIFIER length 5, { itu-t(0) recommendation(0) t(20)
t124(124) version(0) 1 }."""

_CREATE_REQUEST_CHOICE = 0x00  # ConnectGCCPDU conferenceCreateRequest (0), no extension
_CREATE_REQUEST_SELECTION = 0x08  # only userData among the optional fields
_CREATE_RESPONSE_CHOICE = 0x14  # conferenceCreateResponse (1), userData present
_USER_DATA_CHOICE = 0xC0  # UserData value present, key CHOICE h221NonStandard (1)

WINDOWS_NODE_ID = 0x760A + 1001
"""nodeID of every Windows Conference Create Response (``76 0A`` on the wire)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ConferenceCreateRequest:
    """T.124 ConnectData with a Conference Create Request (MS-RDPBCGR 2.2.1.3 ``gccCCrq``).

    ``conference_name`` is the NumericString as ASCII digits.  ``connect_pdu_length`` is None
    when the connectPDU length is right, else the value sent; the two ``*_long_length`` flags
    record a length below 128 sent in the two-byte PER form.
    """

    client_blocks: tuple[ClientBlock, ...] = spec("userData")
    conference_name: bytes = spec("conferenceName", default=b"1")
    h221_key: bytes = spec("h221NonStandard", default=b"Duca")
    connect_pdu_length: int | None = spec("connectPDU.length", default=None)
    connect_pdu_long_length: bool = spec("connectPDU.lengthForm", default=False)
    user_data_long_length: bool = spec("userData.value.lengthForm", default=False)


@dataclasses.dataclass(frozen=True, slots=True)
class ConferenceCreateResponse:
    """T.124 ConnectData with a Conference Create Response (MS-RDPBCGR 2.2.1.4 ``gccCCrsp``).

    ``connect_pdu_length`` is None when the connectPDU length is right; Windows always sends
    0x2A there, whatever the length.
    """

    server_blocks: tuple[ServerBlock, ...] = spec("userData")
    node_id: int = spec("nodeID", default=WINDOWS_NODE_ID)
    tag: int = spec("tag", default=1)
    result: int = spec("result", default=0)
    h221_key: bytes = spec("h221NonStandard", default=b"McDn")
    connect_pdu_length: int | None = spec("connectPDU.length", default=None)
    connect_pdu_long_length: bool = spec("connectPDU.lengthForm", default=False)
    user_data_long_length: bool = spec("userData.value.lengthForm", default=False)


class _PerReader:
    def __init__(self, structure: str, data: bytes) -> None:
        self.structure = structure
        self.data = data
        self.pos = 0

    def fail(self, reason: str, field: str) -> PduError:
        return PduError(self.structure, reason, field=field, offset=self.pos)

    def take(self, count: int, field: str) -> bytes:
        if count > len(self.data) - self.pos:
            raise self.fail(f"needs {count} bytes, {len(self.data) - self.pos} left", field)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self, field: str, expected: int | None = None) -> int:
        value = self.take(1, field)[0]
        if expected is not None and value != expected:
            self.pos -= 1
            raise self.fail(f"0x{value:02x} instead of 0x{expected:02x}", field)
        return value

    def length(self, field: str) -> tuple[int, bool]:
        first = self.byte(field)
        if first < 0x80:
            return first, False
        if first & 0xC0 == 0xC0:
            self.pos -= 1
            raise self.fail("fragmented PER length is not supported", field)
        value = ((first & 0x3F) << 8) | self.byte(field)
        return value, value < 0x80


def _per_length(structure: str, value: int, long_form: bool, field: str) -> bytes:
    need(structure, 0 <= value < 0x4000, f"length {value} needs PER fragmentation", field=field)
    if long_form or value >= 0x80:
        return bytes((0x80 | (value >> 8), value & 0xFF))
    return bytes((value,))


def _read_header(reader: _PerReader) -> tuple[int, bool]:
    identifier = reader.take(len(T124_IDENTIFIER), "t124Identifier")
    if identifier != T124_IDENTIFIER:
        reader.pos -= len(T124_IDENTIFIER)
        raise reader.fail(
            f"t124Identifier {identifier.hex()} is not T.124 0.0.20.124.0.1", "t124Identifier"
        )
    return reader.length("connectPDU.length")


def _read_user_data(reader: _PerReader) -> tuple[bytes, bytes, bool]:
    reader.byte("userData.count", 1)
    reader.byte("userData.key", _USER_DATA_CHOICE)
    key_length = reader.byte("h221NonStandard.length") + 4
    key = reader.take(key_length, "h221NonStandard")
    value_length, long_form = reader.length("userData.value.length")
    value = reader.take(value_length, "userData.value")
    if reader.pos != len(reader.data):
        raise reader.fail(f"{len(reader.data) - reader.pos} trailing bytes", "userData.value")
    return key, value, long_form


def _write_user_data(structure: str, key: bytes, value: bytes, long_form: bool) -> bytes:
    need(structure, 4 <= len(key) <= 255, "h221NonStandard key is not 4..255 bytes")
    return (
        bytes((1, _USER_DATA_CHOICE, len(key) - 4))
        + key
        + _per_length(structure, len(value), long_form, "userData.value.length")
        + value
    )


def _connect_data(structure: str, gcc: bytes, length: int | None, long_form: bool) -> bytes:
    value = len(gcc) if length is None else length
    return T124_IDENTIFIER + _per_length(structure, value, long_form, "connectPDU.length") + gcc


def _decode_numeric(reader: _PerReader) -> bytes:
    count = reader.byte("conferenceName.length") + 1
    packed = reader.take((count + 1) // 2, "conferenceName")
    digits = bytearray()
    for index in range(count):
        nibble = (packed[index // 2] >> (4 if index % 2 == 0 else 0)) & 0x0F
        if nibble > 9:
            raise reader.fail(f"conferenceName nibble {nibble} is not a digit", "conferenceName")
        digits.append(0x30 + nibble)
    if count % 2 and packed[-1] & 0x0F:
        raise reader.fail("conferenceName padding nibble is not 0", "conferenceName")
    return bytes(digits)


def _encode_numeric(name: bytes) -> bytes:
    need(
        "ConferenceCreateRequest",
        1 <= len(name) <= 256 and all(0x30 <= c <= 0x39 for c in name),
        "conferenceName must be 1..256 ASCII digits",
        field="conferenceName",
    )
    nibbles = [c - 0x30 for c in name] + ([0] if len(name) % 2 else [])
    packed = bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))
    return bytes((len(name) - 1,)) + packed


def decode_conference_create_request(
    data: bytes, *, engine: Engine = "struct"
) -> ConferenceCreateRequest:
    """Decode the GCC Conference Create Request held in the Connect-Initial userData."""
    return guarded("ConferenceCreateRequest", data, lambda _stream: _decode_request(data, engine))


def _decode_request(data: bytes, engine: Engine) -> ConferenceCreateRequest:
    reader = _PerReader("ConferenceCreateRequest", data)
    connect_length, connect_long = _read_header(reader)
    gcc_start = reader.pos
    reader.byte("ConnectGCCPDU.choice", _CREATE_REQUEST_CHOICE)
    reader.byte("ConferenceCreateRequest.optionals", _CREATE_REQUEST_SELECTION)
    name = _decode_numeric(reader)
    reader.byte("ConferenceCreateRequest.flags", 0)
    key, value, value_long = _read_user_data(reader)
    blocks = decode_client_blocks(value, engine=engine)
    real_length = len(data) - gcc_start
    return ConferenceCreateRequest(
        blocks,
        name,
        key,
        None if connect_length == real_length else connect_length,
        connect_long,
        value_long,
    )


def encode_conference_create_request(
    pdu: ConferenceCreateRequest, *, engine: Engine = "struct"
) -> bytes:
    """Encode a GCC Conference Create Request (the Connect-Initial userData)."""
    name = "ConferenceCreateRequest"
    gcc = (
        bytes((_CREATE_REQUEST_CHOICE, _CREATE_REQUEST_SELECTION))
        + _encode_numeric(pdu.conference_name)
        + b"\x00"
        + _write_user_data(
            name,
            pdu.h221_key,
            encode_client_blocks(pdu.client_blocks, engine=engine),
            pdu.user_data_long_length,
        )
    )
    return _connect_data(name, gcc, pdu.connect_pdu_length, pdu.connect_pdu_long_length)


def decode_conference_create_response(
    data: bytes, *, engine: Engine = "struct"
) -> ConferenceCreateResponse:
    """Decode the GCC Conference Create Response held in the Connect-Response userData."""
    return guarded("ConferenceCreateResponse", data, lambda _stream: _decode_response(data, engine))


def _decode_response(data: bytes, engine: Engine) -> ConferenceCreateResponse:
    reader = _PerReader("ConferenceCreateResponse", data)
    connect_length, connect_long = _read_header(reader)
    gcc_start = reader.pos
    reader.byte("ConnectGCCPDU.choice", _CREATE_RESPONSE_CHOICE)
    node_id = int.from_bytes(reader.take(2, "nodeID"), "big") + 1001
    tag_size = reader.byte("tag.length")
    if not 1 <= tag_size <= 4:
        raise reader.fail(f"{tag_size}-byte tag", "tag")
    tag = int.from_bytes(reader.take(tag_size, "tag"), "big", signed=True)
    if tag_size != _signed_size(tag):
        raise reader.fail("tag is not minimally encoded", "tag")
    result = reader.byte("result")
    key, value, value_long = _read_user_data(reader)
    blocks = decode_server_blocks(value, engine=engine)
    real_length = len(data) - gcc_start
    return ConferenceCreateResponse(
        blocks,
        node_id,
        tag,
        result,
        key,
        None if connect_length == real_length else connect_length,
        connect_long,
        value_long,
    )


def _signed_size(value: int) -> int:
    return (value + (value < 0)).bit_length() // 8 + 1


def encode_conference_create_response(
    pdu: ConferenceCreateResponse, *, engine: Engine = "struct"
) -> bytes:
    """Encode a GCC Conference Create Response (the Connect-Response userData)."""
    name = "ConferenceCreateResponse"
    need(name, 1001 <= pdu.node_id <= 1001 + 0xFFFF, "nodeID is not 1001..66536", field="nodeID")
    need(name, -(2**31) <= pdu.tag < 2**31, "tag does not fit 4 bytes", field="tag")
    need(name, 0 <= pdu.result <= 0xFF, "result is not a byte", field="result")
    tag_size = _signed_size(pdu.tag)
    gcc = (
        bytes((_CREATE_RESPONSE_CHOICE,))
        + (pdu.node_id - 1001).to_bytes(2, "big")
        + bytes((tag_size,))
        + pdu.tag.to_bytes(tag_size, "big", signed=True)
        + bytes((pdu.result,))
        + _write_user_data(
            name,
            pdu.h221_key,
            encode_server_blocks(pdu.server_blocks, engine=engine),
            pdu.user_data_long_length,
        )
    )
    return _connect_data(name, gcc, pdu.connect_pdu_length, pdu.connect_pdu_long_length)
