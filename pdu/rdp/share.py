"""Share Control Header (MS-RDPBCGR 2.2.8.1.1.1.1) and Share Data Header (2.2.8.1.1.1.2):
the headers of every slow-path PDU after the security header, with the data PDU body as bytes.

`encode_share_data_pdu` has a struct path (a precompiled `struct` format) for the usual
values; the construct definition `_SHARE_DATA` takes whatever it declines, decodes, reports
every error, and runs alone with ``engine="construct"``.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct, this

from rdplic.pdu._types import Engine, check_engine, fits_uint, pdu_dataclass, spec
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.framing import build_checked, enum_or_int, need, parse_exact

__all__ = [
    "TS_PROTOCOL_VERSION",
    "PduType",
    "PduType2",
    "ShareControlHeader",
    "ShareDataPdu",
    "StreamId",
    "decode_share_control_header",
    "decode_share_data_pdu",
    "encode_share_control_header",
    "encode_share_data_pdu",
]


TS_PROTOCOL_VERSION = 0x0010
"""The version bits of every pduType (versionLow = 1)."""


class PduType(enum.IntEnum):
    """The type nibble of TS_SHARECONTROLHEADER pduType."""

    PDUTYPE_DEMANDACTIVEPDU = 0x1
    PDUTYPE_CONFIRMACTIVEPDU = 0x3
    PDUTYPE_DEACTIVATEALLPDU = 0x6
    PDUTYPE_DATAPDU = 0x7
    PDUTYPE_SERVER_REDIR_PKT = 0xA


class PduType2(enum.IntEnum):
    """TS_SHAREDATAHEADER pduType2 (MS-RDPBCGR 2.2.8.1.1.1.2)."""

    PDUTYPE2_UPDATE = 0x02
    PDUTYPE2_CONTROL = 0x14
    PDUTYPE2_POINTER = 0x1B
    PDUTYPE2_INPUT = 0x1C
    PDUTYPE2_SYNCHRONIZE = 0x1F
    PDUTYPE2_REFRESH_RECT = 0x21
    PDUTYPE2_PLAY_SOUND = 0x22
    PDUTYPE2_SUPPRESS_OUTPUT = 0x23
    PDUTYPE2_SHUTDOWN_REQUEST = 0x24
    PDUTYPE2_SHUTDOWN_DENIED = 0x25
    PDUTYPE2_SAVE_SESSION_INFO = 0x26
    PDUTYPE2_FONTLIST = 0x27
    PDUTYPE2_FONTMAP = 0x28
    PDUTYPE2_SET_KEYBOARD_INDICATORS = 0x29
    PDUTYPE2_BITMAPCACHE_PERSISTENT_LIST = 0x2B
    PDUTYPE2_BITMAPCACHE_ERROR_PDU = 0x2C
    PDUTYPE2_SET_KEYBOARD_IME_STATUS = 0x2D
    PDUTYPE2_OFFSCRCACHE_ERROR_PDU = 0x2E
    PDUTYPE2_SET_ERROR_INFO_PDU = 0x2F
    PDUTYPE2_DRAWNINEGRID_ERROR_PDU = 0x30
    PDUTYPE2_DRAWGDIPLUS_ERROR_PDU = 0x31
    PDUTYPE2_ARC_STATUS_PDU = 0x32
    PDUTYPE2_STATUS_INFO_PDU = 0x36
    PDUTYPE2_MONITOR_LAYOUT_PDU = 0x37


class StreamId(enum.IntEnum):
    """TS_SHAREDATAHEADER streamId."""

    STREAM_UNDEFINED = 0x00
    STREAM_LOW = 0x01
    STREAM_MED = 0x02
    STREAM_HI = 0x04


@pdu_dataclass
class ShareControlHeader:
    """TS_SHARECONTROLHEADER (MS-RDPBCGR 2.2.8.1.1.1.1); totalLength is derived.

    ``pdu_type`` is the type nibble of pduType, ``version`` its other bits (0x10).
    """

    pdu_type: PduType | int = spec("pduType")
    pdu_source: int = spec("pduSource")
    version: int = spec("pduType.version", default=TS_PROTOCOL_VERSION)


_SHARE_CONTROL = Struct("totalLength" / Int16ul, "pduType" / Int16ul, "pduSource" / Int16ul)


def decode_share_control_header(data: bytes) -> tuple[ShareControlHeader, bytes]:
    """Decode the TS_SHARECONTROLHEADER that starts ``data`` (whose length it must give)."""
    name = "TS_SHARECONTROLHEADER"
    head = guarded(name, data[:6], _SHARE_CONTROL.parse_stream)
    if head.totalLength != len(data):
        raise PduError(
            name, f"totalLength {head.totalLength} but {len(data)} bytes", field="totalLength"
        )
    header = ShareControlHeader(
        enum_or_int(PduType, head.pduType & 0x000F), head.pduSource, head.pduType & 0xFFF0
    )
    return header, data[6:]


def encode_share_control_header(header: ShareControlHeader, body: bytes) -> bytes:
    """Encode a TS_SHARECONTROLHEADER followed by ``body`` (totalLength = 6 + len(body))."""
    name = "TS_SHARECONTROLHEADER"
    need(name, 0 <= header.pdu_type <= 0xF, "pduType is not 4 bits", field="pduType")
    need(name, header.version & 0x000F == 0, "version overlaps the type", field="pduType")
    return (
        build_checked(
            name,
            _SHARE_CONTROL,
            {
                "totalLength": 6 + len(body),
                "pduType": int(header.pdu_type) | header.version,
                "pduSource": header.pdu_source,
            },
        )
        + body
    )


_SHARE_DATA = Struct(
    "totalLength" / Int16ul,
    "pduType" / Int16ul,
    "pduSource" / Int16ul,
    "shareId" / Int32ul,
    "pad1" / Int8ul,
    "streamId" / Int8ul,
    "uncompressedLength" / Int16ul,
    "pduType2" / Int8ul,
    "compressedType" / Int8ul,
    "compressedLength" / Int16ul,
    "data" / Bytes(this.totalLength - 18),
)
"""TS_SHARECONTROLHEADER + TS_SHAREDATAHEADER + the data PDU body."""
_HEADER_SIZE = 18
_SHARE_DATA_STRUCT = struct.Struct("<HHHIBBHBBH")
"""`_SHARE_DATA` without its data, for `encode_share_data_pdu`'s struct path."""
_SHARE_DATA_LIMITS = tuple(
    2 ** (8 * struct.calcsize(code)) - 1 for code in _SHARE_DATA_STRUCT.format[1:]
)
"""The largest value of each field of `_SHARE_DATA_STRUCT`."""


@pdu_dataclass
class ShareDataPdu:
    """A slow-path data PDU (MS-RDPBCGR 2.2.8.1.1.1.2) with its body as bytes.

    ``uncompressed_length`` is None when it is what Windows writes: the body length plus 4
    (pduType2, compressedType and compressedLength count, as in every spec example).
    """

    pdu_type2: PduType2 | int = spec("pduType2")
    data: bytes = spec("data")
    share_id: int = spec("shareId", default=0)
    pdu_source: int = spec("pduSource", default=1002)
    stream_id: StreamId | int = spec("streamId", default=StreamId.STREAM_LOW)
    pad1: int = spec("pad1", default=0)
    compressed_type: int = spec("compressedType", default=0)
    compressed_length: int = spec("compressedLength", default=0)
    version: int = spec("pduType.version", default=TS_PROTOCOL_VERSION)
    uncompressed_length: int | None = spec("uncompressedLength", default=None)


def decode_share_data_pdu(data: bytes) -> ShareDataPdu:
    """Decode a data PDU (share control header included; after any security header)."""
    name = "TS_SHAREDATAHEADER"
    if len(data) < _HEADER_SIZE:
        raise PduError(name, f"{len(data)} bytes is shorter than the headers", offset=len(data))
    parsed = parse_exact(name, _SHARE_DATA, data)
    if parsed.pduType & 0x000F != PduType.PDUTYPE_DATAPDU:
        raise PduError(name, "pduType is not PDUTYPE_DATAPDU", field="pduType", offset=2)
    uncompressed = parsed.uncompressedLength
    return ShareDataPdu(
        enum_or_int(PduType2, parsed.pduType2),
        parsed.data,
        parsed.shareId,
        parsed.pduSource,
        enum_or_int(StreamId, parsed.streamId),
        parsed.pad1,
        parsed.compressedType,
        parsed.compressedLength,
        parsed.pduType & 0xFFF0,
        None if uncompressed == len(parsed.data) + 4 else uncompressed,
    )


def _share_data_struct(fields: tuple[Any, ...], data: bytes) -> bytes | None:
    """`_SHARE_DATA` written with `struct`, or None when a value does not fit (construct
    then reports which)."""
    if type(data) is not bytes:
        return None
    for value, limit in zip(fields, _SHARE_DATA_LIMITS, strict=True):
        if not fits_uint(value, limit):
            return None
    return _SHARE_DATA_STRUCT.pack(*fields) + data


def encode_share_data_pdu(pdu: ShareDataPdu, *, engine: Engine = "struct") -> bytes:
    """Encode a data PDU with both headers; totalLength and uncompressedLength are derived."""
    name = "TS_SHAREDATAHEADER"
    need(name, pdu.version & 0x000F == 0, "version overlaps the type", field="pduType")
    total = _HEADER_SIZE + len(pdu.data)
    need(name, total <= 0xFFFF, "PDU longer than 65535 bytes", field="totalLength")
    uncompressed = pdu.uncompressed_length
    fields = (
        total,
        PduType.PDUTYPE_DATAPDU | pdu.version,
        pdu.pdu_source,
        pdu.share_id,
        pdu.pad1,
        pdu.stream_id,
        len(pdu.data) + 4 if uncompressed is None else uncompressed,
        pdu.pdu_type2,
        pdu.compressed_type,
        pdu.compressed_length,
    )
    if engine == "struct":
        packed = _share_data_struct(fields, pdu.data)
        if packed is not None:
            return packed
    else:
        check_engine(engine)
    return build_checked(
        name,
        _SHARE_DATA,
        {
            "totalLength": total,
            "pduType": PduType.PDUTYPE_DATAPDU | pdu.version,
            "pduSource": pdu.pdu_source,
            "shareId": pdu.share_id,
            "pad1": pdu.pad1,
            "streamId": pdu.stream_id,
            "uncompressedLength": len(pdu.data) + 4 if uncompressed is None else uncompressed,
            "pduType2": pdu.pdu_type2,
            "compressedType": pdu.compressed_type,
            "compressedLength": pdu.compressed_length,
            "data": pdu.data,
        },
    )
