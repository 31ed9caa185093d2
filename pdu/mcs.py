"""MCS (T.125) PDUs of the RDP connection sequence.

- Connect-Initial and Connect-Response, BER-encoded ([T125] section 7 part 2 and section 11.1,
  11.2; MS-RDPBCGR 2.2.1.3 ``mcsCi`` and 2.2.1.4 ``mcsCrsp``).  Their ``userData`` holds the
  GCC Conference Create Request / Response (`pdu.gcc`).
- The aligned-PER DomainMCSPDUs that RDP uses ([T125] section 7 parts 3-7 and 10):
  Erect Domain Request (MS-RDPBCGR 2.2.1.5), Attach User Request / Confirm (2.2.1.6, 2.2.1.7),
  Channel Join Request / Confirm (2.2.1.8, 2.2.1.9), Send Data Request / Indication (every
  later slow-path PDU) and Disconnect Provider Ultimatum (2.2.2.3).

Byte-exact re-encoding of what real encoders send needs a little more than the values:

* BER lets an encoder pick the size of every length and INTEGER.  mstsc writes 65535 as
  ``02 02 FF FF`` (unsigned), a Windows server as ``02 03 00 FF F8`` (DER), rdesktop every
  INTEGER in two bytes, FreeRDP and asn1tools short lengths as ``81 xx``.  Decoding records
  those sizes in a `BerLayout` (None when they are what `encode_*` writes by default, which is
  DER: the shortest length and the shortest two's-complement INTEGER).  INTEGER contents are
  read as unsigned, which is how Windows reads ``02 02 FF FF``.
* rdesktop 1.9 and aardwolf send the Erect Domain Request as ``04 00 01 00 01``: two
  big-endian 16-bit values instead of two PER length-prefixed integers.  FreeRDP's server
  rejects it ("1 bytes too long"); Windows accepts it, and so do we (`ErectDomainForm.UINT16`).
* rdesktop always writes the Send Data userData length in the two-byte PER form
  (``80 1E`` for 30 bytes); ``long_length`` records that.

Speed: Send Data is on the path of every licensing frame and the other PDUs on the path of
every connection, so each decoder and encoder has a shortcut for the usual input (the "struct
path", not RDP's Fast-Path): precompiled `struct` formats for the PER PDUs, and for
Connect-Initial / Connect-Response a direct DER reader and writer (what every client and
Windows send) checked by re-encoding.  The construct definitions of the PER PDUs, and the
general BER reader and writer (`_BerReader`, `_BerWriter`) of the connect PDUs, stay the
reference: they take whatever the shortcut declines, report every error, and run alone with
``engine="construct"``, which the tests compare with the default ``engine="struct"``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import io
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import construct
from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    If,
    Int8ub,
    Int16ub,
    OneOf,
    Struct,
    this,
)

from pdu._types import Engine, check_engine, fits_uint, spec
from pdu.errors import PduError, guarded
from pdu.framing import build_checked, enum_or_int, need, parse_exact

__all__ = [
    "MAXIMUM_PARAMETERS",
    "MCS_BASE_CHANNEL_ID",
    "MCS_GLOBAL_CHANNEL",
    "MINIMUM_PARAMETERS",
    "TARGET_PARAMETERS",
    "AttachUserConfirm",
    "AttachUserRequest",
    "BerLayout",
    "ChannelJoinConfirm",
    "ChannelJoinRequest",
    "DataPriority",
    "DisconnectProviderUltimatum",
    "DomainMcsPdu",
    "DomainParameters",
    "ErectDomainForm",
    "ErectDomainRequest",
    "McsConnectInitial",
    "McsConnectResponse",
    "McsResult",
    "Reason",
    "Segmentation",
    "SendDataIndication",
    "SendDataRequest",
    "decode_domain_pdu",
    "decode_mcs_connect_initial",
    "decode_mcs_connect_response",
    "decode_mcs_pdu",
    "encode_domain_pdu",
    "encode_mcs_connect_initial",
    "encode_mcs_connect_response",
]

MCS_BASE_CHANNEL_ID = 1001
"""UserId ::= DynamicChannelId (1001..65535): PER sends a user id as ``id - 1001``."""

MCS_GLOBAL_CHANNEL = 1003
"""The MCS I/O channel of every Windows server (SC_NET MCSChannelId)."""


# --------------------------------------------------------------------------------------------
# Enumerations


class McsResult(enum.IntEnum):
    """T.125 Result (used by Connect-Response, Attach User Confirm, Channel Join Confirm)."""

    RT_SUCCESSFUL = 0
    RT_DOMAIN_MERGING = 1
    RT_DOMAIN_NOT_HIERARCHICAL = 2
    RT_NO_SUCH_CHANNEL = 3
    RT_NO_SUCH_DOMAIN = 4
    RT_NO_SUCH_USER = 5
    RT_NOT_ADMITTED = 6
    RT_OTHER_USER_ID = 7
    RT_PARAMETERS_UNACCEPTABLE = 8
    RT_TOKEN_NOT_AVAILABLE = 9
    RT_TOKEN_NOT_POSSESSED = 10
    RT_TOO_MANY_CHANNELS = 11
    RT_TOO_MANY_TOKENS = 12
    RT_TOO_MANY_USERS = 13
    RT_UNSPECIFIED_FAILURE = 14
    RT_USER_REJECTED = 15


class Reason(enum.IntEnum):
    """T.125 Reason of Disconnect Provider Ultimatum."""

    RN_DOMAIN_DISCONNECTED = 0
    RN_PROVIDER_INITIATED = 1
    RN_TOKEN_PURGED = 2
    RN_USER_REQUESTED = 3
    RN_CHANNEL_PURGED = 4


class DataPriority(enum.IntEnum):
    """T.125 DataPriority of Send Data (RDP uses HIGH)."""

    TOP = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Segmentation(enum.IntFlag):
    """T.125 Segmentation BIT STRING {begin(0), end(1)} as a 2-bit value (RDP: both)."""

    END = 0x1
    BEGIN = 0x2


class ErectDomainForm(enum.Enum):
    """How an Erect Domain Request carries its two integers."""

    PER = "per"
    """Two PER semi-constrained integers, length-prefixed (T.125; mstsc, FreeRDP)."""
    UINT16 = "uint16"
    """Two big-endian 16-bit values without length (rdesktop 1.9, aardwolf)."""


_PRIORITIES = tuple(DataPriority)
_SEGMENTATIONS = tuple(Segmentation(value) for value in range(4))


# --------------------------------------------------------------------------------------------
# BER (Connect-Initial / Connect-Response)

TAG_CONNECT_INITIAL = b"\x7f\x65"
TAG_CONNECT_RESPONSE = b"\x7f\x66"
TAG_BOOLEAN = b"\x01"
TAG_INTEGER = b"\x02"
TAG_OCTET_STRING = b"\x04"
TAG_ENUMERATED = b"\x0a"
TAG_SEQUENCE = b"\x30"

_MAX_LENGTH_OCTETS = 4
"""Longest BER long-form length accepted: 4 octets already exceed any TPKT frame."""

_MAX_INTEGER_OCTETS = 8
"""Longest INTEGER content accepted (DomainParameters fit in 5 octets)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BerLayout:
    """The sizes a BER encoder chose, when they differ from what `encode_*` writes by default.

    ``sizes`` lists, in wire order, the size in bytes of every length field (1 for the short
    form, 1 + n for ``8n`` followed by n octets) and the content size of every INTEGER and
    ENUMERATED; ``true_octet`` is the content of a BOOLEAN TRUE (0xFF unless a peer sent
    another non-zero octet).
    """

    sizes: tuple[int, ...] = spec("sizes")
    true_octet: int = spec("trueOctet", default=0xFF)


def _length_size(length: int) -> int:
    return 1 if length < 0x80 else 1 + (length.bit_length() + 7) // 8


def _integer_size(value: int) -> int:
    return value.bit_length() // 8 + 1


class _BerReader:
    """Reads BER TLVs from a buffer and records every size it meets (see `BerLayout`)."""

    def __init__(self, structure: str, data: bytes) -> None:
        self.structure = structure
        self.data = data
        self.pos = 0
        self.sizes: list[int] = []
        self.true_octet = 0xFF

    def fail(self, reason: str, field: str) -> PduError:
        return PduError(self.structure, reason, field=field, offset=self.pos)

    def _take(self, count: int, field: str) -> bytes:
        if self.pos + count > len(self.data):
            raise self.fail(f"needs {count} bytes, {len(self.data) - self.pos} left", field)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def open(self, tag: bytes, field: str, end: int) -> int:
        """Read a tag and a definite length; return where the contents end."""
        got = self._take(len(tag), field)
        if got != tag:
            self.pos -= len(tag)
            raise self.fail(f"tag {got.hex()} instead of {tag.hex()}", field)
        first = self._take(1, field)[0]
        if first < 0x80:
            length = first
            self.sizes.append(1)
        else:
            count = first & 0x7F
            if count == 0:
                raise self.fail("indefinite length", field)
            if count > _MAX_LENGTH_OCTETS:
                raise self.fail(f"{count}-byte length", field)
            length = int.from_bytes(self._take(count, field), "big")
            self.sizes.append(1 + count)
        if self.pos + length > end:
            raise self.fail(f"length {length} exceeds the {end - self.pos} bytes left", field)
        return self.pos + length

    def close(self, end: int, field: str) -> None:
        if self.pos != end:
            raise self.fail(f"{end - self.pos} unexpected bytes at the end", field)

    def octets(self, tag: bytes, field: str, end: int) -> bytes:
        stop = self.open(tag, field, end)
        return self._take(stop - self.pos, field)

    def integer(self, tag: bytes, field: str, end: int) -> int:
        stop = self.open(tag, field, end)
        size = stop - self.pos
        if not 1 <= size <= _MAX_INTEGER_OCTETS:
            raise self.fail(f"{size}-byte INTEGER", field)
        self.sizes.append(size)
        return int.from_bytes(self._take(size, field), "big")

    def boolean(self, field: str, end: int) -> bool:
        stop = self.open(TAG_BOOLEAN, field, end)
        if stop - self.pos != 1:
            raise self.fail("BOOLEAN is not one byte", field)
        octet = self._take(1, field)[0]
        if octet:
            self.true_octet = octet
        return octet != 0


class _BerWriter:
    """Writes BER TLVs, taking each size from a layout in wire order or choosing DER's."""

    def __init__(self, structure: str, layout: BerLayout | None) -> None:
        self.structure = structure
        self.layout = layout
        self.index = 0
        self.sizes: list[int] = []

    def _size(self, minimum: int, field: str) -> int:
        if self.layout is None:
            self.sizes.append(minimum)
            return minimum
        if self.index >= len(self.layout.sizes):
            raise PduError(self.structure, "layout has too few sizes", field=field)
        size = self.layout.sizes[self.index]
        self.index += 1
        self.sizes.append(size)
        return size

    def _length(self, slot: int, length: int, field: str) -> bytes:
        size = self.sizes[slot]
        if size == 1:
            need(self.structure, length < 0x80, f"length {length} needs the long form", field=field)
            return bytes((length,))
        need(self.structure, 2 <= size <= 1 + _MAX_LENGTH_OCTETS, "bad length size", field=field)
        need(self.structure, length < 256 ** (size - 1), f"length {length} too big", field=field)
        return bytes((0x80 | (size - 1),)) + length.to_bytes(size - 1, "big")

    def tlv(self, tag: bytes, field: str, content: bytes | Callable[[], bytes]) -> bytes:
        """``content`` is the bytes, or a callable building them (sizes stay in wire order)."""
        slot = len(self.sizes)
        self._size(0, field)  # placeholder: the real minimum depends on the content
        body = content() if callable(content) else content
        if self.layout is None:
            self.sizes[slot] = _length_size(len(body))
        return tag + self._length(slot, len(body), field) + body

    def integer(self, tag: bytes, field: str, value: int) -> bytes:
        need(self.structure, value >= 0, f"{field} is negative", field=field)
        slot = len(self.sizes)
        self._size(0, field)
        size = self._size(_integer_size(value), field)
        need(self.structure, 1 <= size <= _MAX_INTEGER_OCTETS, "bad INTEGER size", field=field)
        need(self.structure, value < 256**size, f"{field} does not fit", field=field)
        if self.layout is None:
            self.sizes[slot] = 1
        return tag + self._length(slot, size, field) + value.to_bytes(size, "big")

    def boolean(self, field: str, value: bool, true_octet: int) -> bytes:
        slot = len(self.sizes)
        self._size(1, field)
        need(self.structure, 1 <= true_octet <= 0xFF, "true octet is not a non-zero byte")
        return TAG_BOOLEAN + self._length(slot, 1, field) + bytes((true_octet if value else 0,))

    def finish(self) -> None:
        if self.layout is not None and self.index != len(self.layout.sizes):
            raise PduError(self.structure, "layout has too many sizes")


@dataclasses.dataclass(frozen=True, slots=True)
class DomainParameters:
    """T.125 DomainParameters."""

    max_channel_ids: int = spec("maxChannelIds")
    max_user_ids: int = spec("maxUserIds")
    max_token_ids: int = spec("maxTokenIds")
    num_priorities: int = spec("numPriorities")
    min_throughput: int = spec("minThroughput")
    max_height: int = spec("maxHeight")
    max_mcspdu_size: int = spec("maxMCSPDUsize")
    protocol_version: int = spec("protocolVersion")


TARGET_PARAMETERS = DomainParameters(34, 2, 0, 1, 0, 1, 0xFFFF, 2)
"""targetParameters of MS-RDPBCGR 3.2.5.3.3 (what mstsc sends)."""
MINIMUM_PARAMETERS = DomainParameters(1, 1, 1, 1, 0, 1, 0x420, 2)
"""minimumParameters of MS-RDPBCGR 3.2.5.3.3."""
MAXIMUM_PARAMETERS = DomainParameters(0xFFFF, 0xFC17, 0xFFFF, 1, 0, 1, 0xFFFF, 2)
"""maximumParameters as mstsc sends them (MS-RDPBCGR 4.1.3; maxUserIds 64535)."""

_DOMAIN_FIELDS = tuple(f.name for f in dataclasses.fields(DomainParameters))


def _read_domain_parameters(reader: _BerReader, field: str, end: int) -> DomainParameters:
    stop = reader.open(TAG_SEQUENCE, field, end)
    values = [reader.integer(TAG_INTEGER, f"{field}.{name}", stop) for name in _DOMAIN_FIELDS]
    reader.close(stop, field)
    return DomainParameters(*values)


def _write_domain_parameters(writer: _BerWriter, field: str, params: DomainParameters) -> bytes:
    def content() -> bytes:
        return b"".join(
            writer.integer(TAG_INTEGER, f"{field}.{name}", getattr(params, name))
            for name in _DOMAIN_FIELDS
        )

    return writer.tlv(TAG_SEQUENCE, field, content)


@dataclasses.dataclass(frozen=True, slots=True)
class McsConnectInitial:
    """T.125 Connect-Initial (MS-RDPBCGR 2.2.1.3 ``mcsCi``); user_data is the GCC PDU."""

    target_parameters: DomainParameters = spec("targetParameters")
    minimum_parameters: DomainParameters = spec("minimumParameters")
    maximum_parameters: DomainParameters = spec("maximumParameters")
    user_data: bytes = spec("userData")
    calling_domain_selector: bytes = spec("callingDomainSelector", default=b"\x01")
    called_domain_selector: bytes = spec("calledDomainSelector", default=b"\x01")
    upward_flag: bool = spec("upwardFlag", default=True)
    ber_layout: BerLayout | None = spec("berLayout", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class McsConnectResponse:
    """T.125 Connect-Response (MS-RDPBCGR 2.2.1.4 ``mcsCrsp``); user_data is the GCC PDU."""

    domain_parameters: DomainParameters = spec("domainParameters")
    user_data: bytes = spec("userData")
    result: McsResult | int = spec("result", default=McsResult.RT_SUCCESSFUL)
    called_connect_id: int = spec("calledConnectId", default=0)
    ber_layout: BerLayout | None = spec("berLayout", default=None)


def _write_connect_initial(pdu: McsConnectInitial, layout: BerLayout | None) -> tuple[bytes, Any]:
    writer = _BerWriter("MCS_CONNECT_INITIAL", layout)

    def content() -> bytes:
        return b"".join(
            (
                writer.tlv(TAG_OCTET_STRING, "callingDomainSelector", pdu.calling_domain_selector),
                writer.tlv(TAG_OCTET_STRING, "calledDomainSelector", pdu.called_domain_selector),
                writer.boolean(
                    "upwardFlag", pdu.upward_flag, layout.true_octet if layout else 0xFF
                ),
                _write_domain_parameters(writer, "targetParameters", pdu.target_parameters),
                _write_domain_parameters(writer, "minimumParameters", pdu.minimum_parameters),
                _write_domain_parameters(writer, "maximumParameters", pdu.maximum_parameters),
                writer.tlv(TAG_OCTET_STRING, "userData", pdu.user_data),
            )
        )

    encoded = writer.tlv(TAG_CONNECT_INITIAL, "Connect-Initial", content)
    writer.finish()
    return encoded, writer.sizes


def _write_connect_response(pdu: McsConnectResponse, layout: BerLayout | None) -> tuple[bytes, Any]:
    writer = _BerWriter("MCS_CONNECT_RESPONSE", layout)

    def content() -> bytes:
        return b"".join(
            (
                writer.integer(TAG_ENUMERATED, "result", int(pdu.result)),
                writer.integer(TAG_INTEGER, "calledConnectId", pdu.called_connect_id),
                _write_domain_parameters(writer, "domainParameters", pdu.domain_parameters),
                writer.tlv(TAG_OCTET_STRING, "userData", pdu.user_data),
            )
        )

    encoded = writer.tlv(TAG_CONNECT_RESPONSE, "Connect-Response", content)
    writer.finish()
    return encoded, writer.sizes


def _der_tlv(tag: bytes, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return tag + bytes((length,)) + content
    size = (length.bit_length() + 7) // 8
    return tag + bytes((0x80 | size,)) + length.to_bytes(size, "big") + content


def _der_integer(tag: bytes, value: int) -> bytes:
    size = value.bit_length() // 8 + 1
    return tag + bytes((size,)) + value.to_bytes(size, "big")


@functools.lru_cache(maxsize=64)
def _der_domain_parameters(params: DomainParameters) -> bytes:
    """DomainParameters as DER (cached: every client sends the same few sets)."""
    return _der_tlv(
        TAG_SEQUENCE,
        b"".join(_der_integer(TAG_INTEGER, getattr(params, name)) for name in _DOMAIN_FIELDS),
    )


def _der_connect_initial(pdu: McsConnectInitial) -> bytes | None:
    """What `_write_connect_initial` writes without a layout, for values it accepts as
    they are (non-negative INTEGERs of at most 8 octets); None for any other."""
    parameters = (pdu.target_parameters, pdu.minimum_parameters, pdu.maximum_parameters)
    if not all(_plain_parameters(p) for p in parameters):
        return None
    content = b"".join(
        (
            _der_tlv(TAG_OCTET_STRING, pdu.calling_domain_selector),
            _der_tlv(TAG_OCTET_STRING, pdu.called_domain_selector),
            TAG_BOOLEAN + (b"\x01\xff" if pdu.upward_flag else b"\x01\x00"),
            *(_der_domain_parameters(p) for p in parameters),
            _der_tlv(TAG_OCTET_STRING, pdu.user_data),
        )
    )
    return _der_tlv(TAG_CONNECT_INITIAL, content)


def _der_connect_response(pdu: McsConnectResponse) -> bytes | None:
    """What `_write_connect_response` writes without a layout (None: not plain values)."""
    result, connect_id = int(pdu.result), pdu.called_connect_id
    if not (_plain_parameters(pdu.domain_parameters) and _plain(result) and _plain(connect_id)):
        return None
    content = b"".join(
        (
            _der_integer(TAG_ENUMERATED, result),
            _der_integer(TAG_INTEGER, connect_id),
            _der_domain_parameters(pdu.domain_parameters),
            _der_tlv(TAG_OCTET_STRING, pdu.user_data),
        )
    )
    return _der_tlv(TAG_CONNECT_RESPONSE, content)


def _plain(value: int) -> bool:
    return value >= 0 and _integer_size(value) <= _MAX_INTEGER_OCTETS


@functools.lru_cache(maxsize=64)
def _plain_parameters(params: DomainParameters) -> bool:
    return all(_plain(getattr(params, name)) for name in _DOMAIN_FIELDS)


def _layout(reader: _BerReader, default_sizes: list[int]) -> BerLayout | None:
    if reader.sizes == default_sizes and reader.true_octet == 0xFF:
        return None
    return BerLayout(tuple(reader.sizes), reader.true_octet)


def _layout_of(
    reader: _BerReader, data: bytes, der: bytes | None, write: Callable[[], tuple[bytes, Any]]
) -> BerLayout | None:
    """The layout of what ``reader`` read from ``data``.

    None exactly when the sizes read are the ones the writer picks by default: when
    ``data`` is the DER encoding ``der`` of the decoded values (every size the shortest,
    TRUE as 0xFF).  Values `_der_*` does not write (``der`` None) go through ``write``,
    the writer without a layout, which also refuses them the same way.
    """
    if der is None:
        return _layout(reader, write()[1])
    if der == data:
        return None
    return BerLayout(tuple(reader.sizes), reader.true_octet)


class _NotDer(Exception):
    """Raised by the DER reader for bytes it does not take (another tag, the end of the
    data); the general BER reader then decodes them or says what is wrong."""


def _der_element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the contents of the element with one-byte ``tag`` at ``pos``: short
    or long definite length, nothing checked beyond what indexing needs (see below)."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise _NotDer
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    size = first & 0x7F
    start = pos + 2 + size
    return start, start + int.from_bytes(data[pos + 2 : start], "big")


def _read_der_domain_parameters(data: bytes, pos: int) -> tuple[DomainParameters, int]:
    """The DomainParameters SEQUENCE of eight INTEGERs at ``pos``, and where it ends (the
    DER readers below; unchecked, like `_der_element`)."""
    start, stop = _der_element(data, pos, 0x30)
    values = []
    for _ in range(8):
        value_start, start = _der_element(data, start, 0x02)
        values.append(int.from_bytes(data[value_start:start], "big"))
    return DomainParameters(*values), stop


def _connect_initial_from_der(data: bytes) -> McsConnectInitial | None:
    """The Connect-Initial in ``data`` when ``data`` is its DER encoding, else None.

    Clients send DER (mstsc, FreeRDP, rdplic's own): the values are read without checks
    and kept only if writing them as DER gives ``data`` back, so the result is what
    `decode_mcs_connect_initial`'s general path gives (layout None) and anything else
    goes that way.
    """
    if len(data) < 3 or data[:2] != TAG_CONNECT_INITIAL:
        return None
    try:
        first = data[2]
        pos = 3 if first < 0x80 else 3 + (first & 0x7F)
        start, pos = _der_element(data, pos, 0x04)
        calling = data[start:pos]
        start, pos = _der_element(data, pos, 0x04)
        called = data[start:pos]
        start, pos = _der_element(data, pos, 0x01)
        upward = data[start:pos] != b"\x00"
        target, pos = _read_der_domain_parameters(data, pos)
        minimum, pos = _read_der_domain_parameters(data, pos)
        maximum, pos = _read_der_domain_parameters(data, pos)
        start, pos = _der_element(data, pos, 0x04)
        pdu = McsConnectInitial(target, minimum, maximum, data[start:pos], calling, called, upward)
    except _NotDer:
        return None
    return pdu if _der_connect_initial(pdu) == data else None


def decode_mcs_connect_initial(data: bytes, *, engine: Engine = "struct") -> McsConnectInitial:
    """Decode a Connect-Initial (the payload of the X.224 Data TPDU)."""
    if engine == "struct":
        pdu = _connect_initial_from_der(data)
        if pdu is not None:
            return pdu
    else:
        check_engine(engine)
    reader = _BerReader("MCS_CONNECT_INITIAL", data)

    def parse(_stream: io.BytesIO) -> McsConnectInitial:
        end = reader.open(TAG_CONNECT_INITIAL, "Connect-Initial", len(data))
        calling = reader.octets(TAG_OCTET_STRING, "callingDomainSelector", end)
        called = reader.octets(TAG_OCTET_STRING, "calledDomainSelector", end)
        upward = reader.boolean("upwardFlag", end)
        target = _read_domain_parameters(reader, "targetParameters", end)
        minimum = _read_domain_parameters(reader, "minimumParameters", end)
        maximum = _read_domain_parameters(reader, "maximumParameters", end)
        user_data = reader.octets(TAG_OCTET_STRING, "userData", end)
        reader.close(end, "Connect-Initial")
        if end != len(data):
            raise PduError(reader.structure, f"{len(data) - end} trailing bytes", offset=end)
        pdu = McsConnectInitial(target, minimum, maximum, user_data, calling, called, upward)
        der = _der_connect_initial(pdu) if engine == "struct" else None
        layout = _layout_of(reader, data, der, lambda: _write_connect_initial(pdu, None))
        return pdu if layout is None else dataclasses.replace(pdu, ber_layout=layout)

    return guarded("MCS_CONNECT_INITIAL", data, parse)


def encode_mcs_connect_initial(pdu: McsConnectInitial, *, engine: Engine = "struct") -> bytes:
    """Encode a Connect-Initial, with the sizes of ``pdu.ber_layout`` when it has one."""
    if engine == "struct":
        if pdu.ber_layout is None:
            der = _der_connect_initial(pdu)
            if der is not None:
                return der
    else:
        check_engine(engine)
    return _write_connect_initial(pdu, pdu.ber_layout)[0]


def _connect_response_from_der(data: bytes) -> McsConnectResponse | None:
    """The Connect-Response in ``data`` when ``data`` is its DER encoding (as Windows and
    rdplic send it), else None; see `_connect_initial_from_der`."""
    if len(data) < 3 or data[:2] != TAG_CONNECT_RESPONSE:
        return None
    try:
        first = data[2]
        pos = 3 if first < 0x80 else 3 + (first & 0x7F)
        start, pos = _der_element(data, pos, 0x0A)
        result = int.from_bytes(data[start:pos], "big")
        start, pos = _der_element(data, pos, 0x02)
        connect_id = int.from_bytes(data[start:pos], "big")
        parameters, pos = _read_der_domain_parameters(data, pos)
        start, pos = _der_element(data, pos, 0x04)
        pdu = McsConnectResponse(
            parameters,
            data[start:pos],
            enum_or_int(McsResult, result),
            connect_id,
        )
    except _NotDer:
        return None
    return pdu if _der_connect_response(pdu) == data else None


def decode_mcs_connect_response(data: bytes, *, engine: Engine = "struct") -> McsConnectResponse:
    """Decode a Connect-Response (the payload of the X.224 Data TPDU)."""
    if engine == "struct":
        pdu = _connect_response_from_der(data)
        if pdu is not None:
            return pdu
    else:
        check_engine(engine)
    reader = _BerReader("MCS_CONNECT_RESPONSE", data)

    def parse(_stream: io.BytesIO) -> McsConnectResponse:
        end = reader.open(TAG_CONNECT_RESPONSE, "Connect-Response", len(data))
        result = reader.integer(TAG_ENUMERATED, "result", end)
        connect_id = reader.integer(TAG_INTEGER, "calledConnectId", end)
        params = _read_domain_parameters(reader, "domainParameters", end)
        user_data = reader.octets(TAG_OCTET_STRING, "userData", end)
        reader.close(end, "Connect-Response")
        if end != len(data):
            raise PduError(reader.structure, f"{len(data) - end} trailing bytes", offset=end)
        pdu = McsConnectResponse(params, user_data, enum_or_int(McsResult, result), connect_id)
        der = _der_connect_response(pdu) if engine == "struct" else None
        layout = _layout_of(reader, data, der, lambda: _write_connect_response(pdu, None))
        return pdu if layout is None else dataclasses.replace(pdu, ber_layout=layout)

    return guarded("MCS_CONNECT_RESPONSE", data, parse)


def encode_mcs_connect_response(pdu: McsConnectResponse, *, engine: Engine = "struct") -> bytes:
    """Encode a Connect-Response, with the sizes of ``pdu.ber_layout`` when it has one."""
    if engine == "struct":
        if pdu.ber_layout is None:
            der = _der_connect_response(pdu)
            if der is not None:
                return der
    else:
        check_engine(engine)
    return _write_connect_response(pdu, pdu.ber_layout)[0]


# --------------------------------------------------------------------------------------------
# PER primitives

if TYPE_CHECKING:
    _LengthConstruct = construct.Construct[tuple[int, bool], tuple[int, bool]]
    _IntConstruct = construct.Construct[int, int]
else:  # construct's classes are not subscriptable at run time
    _LengthConstruct = _IntConstruct = construct.Construct


class _PerLength(_LengthConstruct):
    """An aligned-PER length determinant below 16384: (value, two-byte form used below 128)."""

    def _parse(self, stream: Any, context: Any, path: Any) -> tuple[int, bool]:
        first = construct.stream_read(stream, 1, path)[0]
        if first < 0x80:
            return first, False
        if first & 0xC0 == 0xC0:
            raise construct.ExplicitError("fragmented PER length is not supported", path=path)
        value = ((first & 0x3F) << 8) | construct.stream_read(stream, 1, path)[0]
        return value, value < 0x80

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        value, long_form = obj
        if not 0 <= value < 0x4000:
            raise construct.ExplicitError(f"PER length {value} out of range", path=path)
        if long_form or value >= 0x80:
            construct.stream_write(stream, bytes((0x80 | (value >> 8), value & 0xFF)), 2, path)
        else:
            construct.stream_write(stream, bytes((value,)), 1, path)
        return obj


class _PerUnsigned(_IntConstruct):
    """A semi-constrained whole number (INTEGER (0..MAX)): length octet, minimal octets."""

    def _parse(self, stream: Any, context: Any, path: Any) -> int:
        size = construct.stream_read(stream, 1, path)[0]
        if not 1 <= size <= 4:
            raise construct.ExplicitError(f"{size}-byte PER integer", path=path)
        value = int.from_bytes(construct.stream_read(stream, size, path), "big")
        if size != max(1, (value.bit_length() + 7) // 8):
            raise construct.ExplicitError("PER integer is not minimal", path=path)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> int:
        value = int(obj)
        if not 0 <= value < 2**32:
            raise construct.ExplicitError(f"PER integer {value} out of range", path=path)
        size = max(1, (value.bit_length() + 7) // 8)
        construct.stream_write(stream, bytes((size,)) + value.to_bytes(size, "big"), 1 + size, path)
        return value


# --------------------------------------------------------------------------------------------
# DomainMCSPDU choices (the top six bits of the first byte)

CHOICE_ERECT_DOMAIN_REQUEST = 1
CHOICE_DISCONNECT_PROVIDER_ULTIMATUM = 8
CHOICE_ATTACH_USER_REQUEST = 10
CHOICE_ATTACH_USER_CONFIRM = 11
CHOICE_CHANNEL_JOIN_REQUEST = 14
CHOICE_CHANNEL_JOIN_CONFIRM = 15
CHOICE_SEND_DATA_REQUEST = 25
CHOICE_SEND_DATA_INDICATION = 26

_ERECT_DOMAIN_PER = Struct(
    "choice" / Const(CHOICE_ERECT_DOMAIN_REQUEST << 2, Int8ub),
    "subHeight" / _PerUnsigned(),
    "subInterval" / _PerUnsigned(),
)
_ERECT_DOMAIN_UINT16 = Struct(
    "choice" / Const(CHOICE_ERECT_DOMAIN_REQUEST << 2, Int8ub),
    "subHeight" / Int16ub,
    "subInterval" / Int16ub,
)
_ATTACH_USER_REQUEST = Struct("choice" / Const(CHOICE_ATTACH_USER_REQUEST << 2, Int8ub))
_ATTACH_USER_CONFIRM = Struct(
    "header"
    / BitStruct(
        "choice" / Const(CHOICE_ATTACH_USER_CONFIRM, BitsInteger(6)),
        "initiatorPresent" / Flag,
        "result" / BitsInteger(4),
        "padding" / Const(0, BitsInteger(5)),
    ),
    "initiator" / If(this.header.initiatorPresent, Int16ub),
)
_CHANNEL_JOIN_REQUEST = Struct(
    "choice" / Const(CHOICE_CHANNEL_JOIN_REQUEST << 2, Int8ub),
    "initiator" / Int16ub,
    "channelId" / Int16ub,
)
_CHANNEL_JOIN_CONFIRM = Struct(
    "header"
    / BitStruct(
        "choice" / Const(CHOICE_CHANNEL_JOIN_CONFIRM, BitsInteger(6)),
        "channelIdPresent" / Flag,
        "result" / BitsInteger(4),
        "padding" / Const(0, BitsInteger(5)),
    ),
    "initiator" / Int16ub,
    "requested" / Int16ub,
    "channelId" / If(this.header.channelIdPresent, Int16ub),
)
_DISCONNECT_PROVIDER_ULTIMATUM = BitStruct(
    "choice" / Const(CHOICE_DISCONNECT_PROVIDER_ULTIMATUM, BitsInteger(6)),
    "reason" / BitsInteger(3),
    "padding" / Const(0, BitsInteger(7)),
)
_SEND_DATA = Struct(
    "choice" / OneOf(Int8ub, [CHOICE_SEND_DATA_REQUEST << 2, CHOICE_SEND_DATA_INDICATION << 2]),
    "initiator" / Int16ub,
    "channelId" / Int16ub,
    "flags"
    / BitStruct(
        "dataPriority" / BitsInteger(2),
        "segmentation" / BitsInteger(2),
        "padding" / Const(0, BitsInteger(4)),
    ),
    "length" / _PerLength(),
    "userData" / Bytes(lambda ctx: ctx.length[0]),
)
_SEND_DATA_STRUCT = struct.Struct(">BHHBB")
"""`_SEND_DATA` up to the first length octet, for the struct path."""


@dataclasses.dataclass(frozen=True, slots=True)
class ErectDomainRequest:
    """Erect Domain Request (MS-RDPBCGR 2.2.1.5); RDP sends 0 and 0 (rdesktop 1 and 1)."""

    sub_height: int = spec("subHeight", default=0)
    sub_interval: int = spec("subInterval", default=0)
    form: ErectDomainForm = spec("encoding", default=ErectDomainForm.PER)


@dataclasses.dataclass(frozen=True, slots=True)
class AttachUserRequest:
    """Attach User Request (MS-RDPBCGR 2.2.1.6): no fields."""


@dataclasses.dataclass(frozen=True, slots=True)
class AttachUserConfirm:
    """Attach User Confirm (MS-RDPBCGR 2.2.1.7); initiator is the user channel id (1007)."""

    result: McsResult | int = spec("result", default=McsResult.RT_SUCCESSFUL)
    initiator: int | None = spec("initiator", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelJoinRequest:
    """Channel Join Request (MS-RDPBCGR 2.2.1.8)."""

    initiator: int = spec("initiator")
    channel_id: int = spec("channelId")


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelJoinConfirm:
    """Channel Join Confirm (MS-RDPBCGR 2.2.1.9)."""

    initiator: int = spec("initiator")
    requested: int = spec("requested")
    channel_id: int | None = spec("channelId", default=None)
    result: McsResult | int = spec("result", default=McsResult.RT_SUCCESSFUL)


@dataclasses.dataclass(frozen=True, slots=True)
class SendDataRequest:
    """Send Data Request, client to server ([T125] 11.32; MS-RDPBCGR ``mcsSDrq``).

    ``initiator`` is the user channel id (the wire value + 1001).  ``long_length`` records
    that a userData length below 128 was sent in the two-byte PER form (rdesktop does).
    """

    initiator: int = spec("initiator")
    channel_id: int = spec("channelId")
    user_data: bytes = spec("userData")
    data_priority: DataPriority = spec("dataPriority", default=DataPriority.HIGH)
    segmentation: Segmentation = spec("segmentation", default=Segmentation.BEGIN | Segmentation.END)
    long_length: bool = spec("userDataLengthForm", default=False)


@dataclasses.dataclass(frozen=True, slots=True)
class SendDataIndication:
    """Send Data Indication, server to client ([T125] 11.33; MS-RDPBCGR ``mcsSDin``).

    Windows servers send licensing PDUs with initiator 1002 on channel 1003.
    """

    initiator: int = spec("initiator")
    channel_id: int = spec("channelId")
    user_data: bytes = spec("userData")
    data_priority: DataPriority = spec("dataPriority", default=DataPriority.HIGH)
    segmentation: Segmentation = spec("segmentation", default=Segmentation.BEGIN | Segmentation.END)
    long_length: bool = spec("userDataLengthForm", default=False)


@dataclasses.dataclass(frozen=True, slots=True)
class DisconnectProviderUltimatum:
    """Disconnect Provider Ultimatum (MS-RDPBCGR 2.2.2.3)."""

    reason: Reason | int = spec("reason", default=Reason.RN_USER_REQUESTED)


DomainMcsPdu = (
    ErectDomainRequest
    | AttachUserRequest
    | AttachUserConfirm
    | ChannelJoinRequest
    | ChannelJoinConfirm
    | SendDataRequest
    | SendDataIndication
    | DisconnectProviderUltimatum
)


def _decode_erect_domain(data: bytes) -> ErectDomainRequest:
    if len(data) == 5 and data[1] == 0 and data[0] == CHOICE_ERECT_DOMAIN_REQUEST << 2:
        # A PER length octet is never 0: this is rdesktop's / aardwolf's 16-bit form.
        parsed = parse_exact("ErectDomainRequest", _ERECT_DOMAIN_UINT16, data)
        return ErectDomainRequest(parsed.subHeight, parsed.subInterval, ErectDomainForm.UINT16)
    parsed = parse_exact("ErectDomainRequest", _ERECT_DOMAIN_PER, data)
    return ErectDomainRequest(parsed.subHeight, parsed.subInterval, ErectDomainForm.PER)


def _decode_send_data(data: bytes) -> SendDataRequest | SendDataIndication:
    parsed = parse_exact("SendData", _SEND_DATA, data)
    cls = SendDataRequest if parsed.choice == CHOICE_SEND_DATA_REQUEST << 2 else SendDataIndication
    return cls(
        parsed.initiator + MCS_BASE_CHANNEL_ID,
        parsed.channelId,
        parsed.userData,
        _PRIORITIES[parsed.flags.dataPriority],
        _SEGMENTATIONS[parsed.flags.segmentation],
        parsed.length[1],
    )


def decode_domain_pdu(data: bytes, *, engine: Engine = "struct") -> DomainMcsPdu:
    """Decode one aligned-PER DomainMCSPDU (the payload of an X.224 Data TPDU)."""
    if engine == "struct":
        pdu = _domain_pdu_struct(data)
        if pdu is not None:
            return pdu
    else:
        check_engine(engine)
    if not data:
        raise PduError("DomainMCSPDU", "empty", offset=0)
    choice = data[0] >> 2
    if choice in (CHOICE_SEND_DATA_REQUEST, CHOICE_SEND_DATA_INDICATION):
        return _decode_send_data(data)
    if choice == CHOICE_ERECT_DOMAIN_REQUEST:
        return _decode_erect_domain(data)
    if choice == CHOICE_ATTACH_USER_REQUEST:
        parse_exact("AttachUserRequest", _ATTACH_USER_REQUEST, data)
        return AttachUserRequest()
    if choice == CHOICE_ATTACH_USER_CONFIRM:
        parsed = parse_exact("AttachUserConfirm", _ATTACH_USER_CONFIRM, data)
        initiator = parsed.initiator
        return AttachUserConfirm(
            enum_or_int(McsResult, parsed.header.result),
            None if initiator is None else initiator + MCS_BASE_CHANNEL_ID,
        )
    if choice == CHOICE_CHANNEL_JOIN_REQUEST:
        parsed = parse_exact("ChannelJoinRequest", _CHANNEL_JOIN_REQUEST, data)
        return ChannelJoinRequest(parsed.initiator + MCS_BASE_CHANNEL_ID, parsed.channelId)
    if choice == CHOICE_CHANNEL_JOIN_CONFIRM:
        parsed = parse_exact("ChannelJoinConfirm", _CHANNEL_JOIN_CONFIRM, data)
        return ChannelJoinConfirm(
            parsed.initiator + MCS_BASE_CHANNEL_ID,
            parsed.requested,
            parsed.channelId,
            enum_or_int(McsResult, parsed.header.result),
        )
    if choice == CHOICE_DISCONNECT_PROVIDER_ULTIMATUM:
        parsed = parse_exact("DisconnectProviderUltimatum", _DISCONNECT_PROVIDER_ULTIMATUM, data)
        return DisconnectProviderUltimatum(enum_or_int(Reason, parsed.reason))
    raise PduError("DomainMCSPDU", f"unsupported choice {choice}", field="choice", offset=0)


def _domain_pdu_struct(data: bytes) -> DomainMcsPdu | None:
    """Send Data, and the PDUs of the channel connection phase, in their usual form read
    with `struct`; None for anything else (the construct definitions then decode it or say
    what is wrong)."""
    size = len(data)
    if not size:
        return None
    first = data[0]
    if size >= 7 and (first == 0x64 or first == 0x68):  # Send Data Request / Indication
        _choice, initiator, channel_id, flags, length = _SEND_DATA_STRUCT.unpack_from(data)
        if flags & 0x0F:
            return None
        header = 7
        long_length = False
        if length >= 0x80:
            if length & 0x40 or size < 8:
                return None
            length = ((length & 0x3F) << 8) | data[7]
            header = 8
            long_length = length < 0x80
        if header + length != size:
            return None
        cls = SendDataRequest if first == 0x64 else SendDataIndication
        return cls(
            initiator + MCS_BASE_CHANNEL_ID,
            channel_id,
            data[header:],
            _PRIORITIES[flags >> 6],
            _SEGMENTATIONS[(flags >> 4) & 0x3],
            long_length,
        )
    if size < 2:
        return AttachUserRequest() if first == CHOICE_ATTACH_USER_REQUEST << 2 else None
    if first == CHOICE_CHANNEL_JOIN_REQUEST << 2 and size == 5:
        initiator, channel_id = _TWO_UINT16.unpack_from(data, 1)
        return ChannelJoinRequest(initiator + MCS_BASE_CHANNEL_ID, channel_id)
    if first == CHOICE_ERECT_DOMAIN_REQUEST << 2 and size == 5 and data[1] == data[3] == 1:
        return ErectDomainRequest(data[2], data[4], ErectDomainForm.PER)
    if first >> 2 == CHOICE_CHANNEL_JOIN_CONFIRM and not data[1] & 0x1F:
        present = bool(first & 0x02)
        if size == (8 if present else 6):
            result = enum_or_int(McsResult, ((first & 0x01) << 3) | (data[1] >> 5))
            initiator, requested = _TWO_UINT16.unpack_from(data, 2)
            channel = int.from_bytes(data[6:8], "big") if present else None
            return ChannelJoinConfirm(initiator + MCS_BASE_CHANNEL_ID, requested, channel, result)
    if first >> 2 == CHOICE_ATTACH_USER_CONFIRM and not data[1] & 0x1F:
        present = bool(first & 0x02)
        if size == (4 if present else 2):
            result = enum_or_int(McsResult, ((first & 0x01) << 3) | (data[1] >> 5))
            user = int.from_bytes(data[2:4], "big") + MCS_BASE_CHANNEL_ID if present else None
            return AttachUserConfirm(result, user)
    return None


def _confirm_header(choice: int, present: bool, result: int) -> bytes:
    """The 2-byte PER header of Attach User / Channel Join Confirm: choice (6 bits), the
    optional field's presence bit, result (4 bits), 5 zero bits."""
    return bytes(((choice << 2) | (present << 1) | (result >> 3), (result & 0x07) << 5))


_TWO_UINT16 = struct.Struct(">HH")


def _user_id(structure: str, value: int, field: str) -> int:
    need(
        structure,
        MCS_BASE_CHANNEL_ID <= value <= MCS_BASE_CHANNEL_ID + 0xFFFF,
        f"{field} {value} is not a user id (1001..66536)",
        field=field,
    )
    return value - MCS_BASE_CHANNEL_ID


def encode_domain_pdu(pdu: DomainMcsPdu, *, engine: Engine = "struct") -> bytes:
    """Encode one DomainMCSPDU."""
    if engine != "struct":
        check_engine(engine)
    if isinstance(pdu, SendDataRequest | SendDataIndication):
        name = type(pdu).__name__
        first = 0x64 if isinstance(pdu, SendDataRequest) else 0x68
        initiator = _user_id(name, pdu.initiator, "initiator")
        need(name, 0 <= pdu.channel_id <= 0xFFFF, "channelId is not 16 bits", field="channelId")
        need(name, 0 <= pdu.data_priority <= 3, "dataPriority is not 2 bits", field="dataPriority")
        need(name, 0 <= pdu.segmentation <= 3, "segmentation is not 2 bits", field="segmentation")
        length = len(pdu.user_data)
        need(name, length < 0x4000, f"userData of {length} bytes needs fragmentation")
        if not (
            engine == "struct"
            and fits_uint(pdu.channel_id, 0xFFFF)
            and isinstance(pdu.user_data, bytes | bytearray | memoryview)
        ):  # construct writes it, or says why not
            return build_checked(
                name,
                _SEND_DATA,
                {
                    "choice": first,
                    "initiator": initiator,
                    "channelId": pdu.channel_id,
                    "flags": {
                        "dataPriority": int(pdu.data_priority),
                        "segmentation": int(pdu.segmentation),
                    },
                    "length": (length, pdu.long_length),
                    "userData": pdu.user_data,
                },
            )
        flags = (int(pdu.data_priority) << 6) | (int(pdu.segmentation) << 4)
        if pdu.long_length or length >= 0x80:
            tail = bytes((0x80 | (length >> 8), length & 0xFF))
        else:
            tail = bytes((length,))
        return struct.pack(">BHHB", first, initiator, pdu.channel_id, flags) + tail + pdu.user_data
    if isinstance(pdu, ErectDomainRequest):
        if pdu.form is ErectDomainForm.UINT16:
            need(
                "ErectDomainRequest",
                0 <= pdu.sub_height <= 0xFF,
                "the 16-bit form needs subHeight below 256 to be told from PER",
                field="subHeight",
            )
            con: Any = _ERECT_DOMAIN_UINT16
        else:
            con = _ERECT_DOMAIN_PER
        return build_checked(
            "ErectDomainRequest",
            con,
            {"subHeight": pdu.sub_height, "subInterval": pdu.sub_interval},
        )
    if isinstance(pdu, AttachUserRequest):
        return build_checked("AttachUserRequest", _ATTACH_USER_REQUEST, {})
    if isinstance(pdu, AttachUserConfirm):
        user = pdu.initiator
        result = int(pdu.result)
        if engine == "struct" and 0 <= result <= 0x0F:
            header = _confirm_header(CHOICE_ATTACH_USER_CONFIRM, user is not None, result)
            if user is None:
                return header
            return header + _user_id("AttachUserConfirm", user, "initiator").to_bytes(2, "big")
        return build_checked(
            "AttachUserConfirm",
            _ATTACH_USER_CONFIRM,
            {
                "header": {"initiatorPresent": user is not None, "result": int(pdu.result)},
                "initiator": None
                if user is None
                else _user_id("AttachUserConfirm", user, "initiator"),
            },
        )
    if isinstance(pdu, ChannelJoinRequest):
        return build_checked(
            "ChannelJoinRequest",
            _CHANNEL_JOIN_REQUEST,
            {
                "initiator": _user_id("ChannelJoinRequest", pdu.initiator, "initiator"),
                "channelId": pdu.channel_id,
            },
        )
    if isinstance(pdu, ChannelJoinConfirm):
        result, channel = int(pdu.result), pdu.channel_id
        if (
            engine == "struct"
            and 0 <= result <= 0x0F
            and fits_uint(pdu.requested, 0xFFFF)
            and (channel is None or fits_uint(channel, 0xFFFF))
        ):
            initiator = _user_id("ChannelJoinConfirm", pdu.initiator, "initiator")
            return (
                _confirm_header(CHOICE_CHANNEL_JOIN_CONFIRM, channel is not None, result)
                + _TWO_UINT16.pack(initiator, pdu.requested)
                + (b"" if channel is None else channel.to_bytes(2, "big"))
            )
        return build_checked(
            "ChannelJoinConfirm",
            _CHANNEL_JOIN_CONFIRM,
            {
                "header": {
                    "channelIdPresent": pdu.channel_id is not None,
                    "result": int(pdu.result),
                },
                "initiator": _user_id("ChannelJoinConfirm", pdu.initiator, "initiator"),
                "requested": pdu.requested,
                "channelId": pdu.channel_id,
            },
        )
    if isinstance(pdu, DisconnectProviderUltimatum):
        reason = int(pdu.reason)
        if engine == "struct" and 0 <= reason <= 7:  # choice, reason (3 bits), 7 zero bits
            first = (CHOICE_DISCONNECT_PROVIDER_ULTIMATUM << 2) | (reason >> 1)
            return bytes((first, (reason & 1) << 7))
        return build_checked(
            "DisconnectProviderUltimatum",
            _DISCONNECT_PROVIDER_ULTIMATUM,
            {"reason": int(pdu.reason)},
        )
    raise PduError("DomainMCSPDU", f"cannot encode {type(pdu).__name__}")


def decode_mcs_pdu(
    data: bytes, *, engine: Engine = "struct"
) -> McsConnectInitial | McsConnectResponse | DomainMcsPdu:
    """Decode whichever MCS PDU an X.224 Data payload holds (by its first bytes)."""
    if data[:2] == TAG_CONNECT_INITIAL:
        return decode_mcs_connect_initial(data, engine=engine)
    if data[:2] == TAG_CONNECT_RESPONSE:
        return decode_mcs_connect_response(data, engine=engine)
    return decode_domain_pdu(data, engine=engine)
