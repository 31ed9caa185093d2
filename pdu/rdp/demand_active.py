"""The Demand Active PDU (MS-RDPBCGR 2.2.1.13.1.1 TS_DEMAND_ACTIVE_PDU) with its share control
header, its capability sets (2.2.1.13.1.1.1 TS_CAPS_SET) kept as (type, bytes).
"""

from __future__ import annotations

import enum
from typing import Any

import construct
from construct import Bytes, Int16ul, Int32ul, Struct, this

from rdplic.pdu._types import Ansi, pdu_dataclass, spec
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.framing import build_checked, enum_or_int, need
from rdplic.pdu.rdp.share import (
    TS_PROTOCOL_VERSION,
    PduType,
    ShareControlHeader,
    decode_share_control_header,
    encode_share_control_header,
)

__all__ = [
    "CapabilitySet",
    "CapabilitySetType",
    "DemandActive",
    "decode_demand_active",
    "encode_demand_active",
]


class CapabilitySetType(enum.IntEnum):
    """capabilitySetType of TS_CAPS_SET (MS-RDPBCGR 2.2.1.13.1.1.1)."""

    CAPSTYPE_GENERAL = 0x0001
    CAPSTYPE_BITMAP = 0x0002
    CAPSTYPE_ORDER = 0x0003
    CAPSTYPE_BITMAPCACHE = 0x0004
    CAPSTYPE_CONTROL = 0x0005
    CAPSTYPE_ACTIVATION = 0x0007
    CAPSTYPE_POINTER = 0x0008
    CAPSTYPE_SHARE = 0x0009
    CAPSTYPE_COLORCACHE = 0x000A
    CAPSTYPE_SOUND = 0x000C
    CAPSTYPE_INPUT = 0x000D
    CAPSTYPE_FONT = 0x000E
    CAPSTYPE_BRUSH = 0x000F
    CAPSTYPE_GLYPHCACHE = 0x0010
    CAPSTYPE_OFFSCREENCACHE = 0x0011
    CAPSTYPE_BITMAPCACHE_HOSTSUPPORT = 0x0012
    CAPSTYPE_BITMAPCACHE_REV2 = 0x0013
    CAPSTYPE_VIRTUALCHANNEL = 0x0014
    CAPSTYPE_DRAWNINEGRIDCACHE = 0x0015
    CAPSTYPE_DRAWGDIPLUS = 0x0016
    CAPSTYPE_RAIL = 0x0017
    CAPSTYPE_WINDOW = 0x0018
    CAPSETTYPE_COMPDESK = 0x0019
    CAPSETTYPE_MULTIFRAGMENTUPDATE = 0x001A
    CAPSETTYPE_LARGE_POINTER = 0x001B
    CAPSETTYPE_SURFACE_COMMANDS = 0x001C
    CAPSETTYPE_BITMAP_CODECS = 0x001D
    CAPSSETTYPE_FRAME_ACKNOWLEDGE = 0x001E


@pdu_dataclass
class CapabilitySet:
    """One TS_CAPS_SET: its type and its data after the 4-byte header (lengthCapability
    is derived)."""

    type: CapabilitySetType | int = spec("capabilitySetType")
    data: bytes = spec("capabilityData")


_DEMAND_ACTIVE_FIXED = Struct(
    "shareId" / Int32ul,
    "lengthSourceDescriptor" / Int16ul,
    "lengthCombinedCapabilities" / Int16ul,
    "sourceDescriptor" / Bytes(this.lengthSourceDescriptor),
    "numberCapabilities" / Int16ul,
    "pad2Octets" / Int16ul,
)
"""TS_DEMAND_ACTIVE_PDU up to the capability sets (after its TS_SHARECONTROLHEADER)."""


@pdu_dataclass
class DemandActive:
    """TS_DEMAND_ACTIVE_PDU (MS-RDPBCGR 2.2.1.13.1.1) with its TS_SHARECONTROLHEADER.

    The lengths and numberCapabilities are derived; the capability sets are kept as
    (type, bytes) in wire order.  ``session_id`` is None when the PDU ends before it.
    """

    share_id: int = spec("shareId")
    source_descriptor: Ansi = spec("sourceDescriptor")
    capability_sets: tuple[CapabilitySet, ...] = spec("capabilitySets")
    pdu_source: int = spec("pduSource", default=1002)
    session_id: int | None = spec("sessionId", default=0)
    pad2_octets: int = spec("pad2Octets", default=0)
    version: int = spec("pduType.version", default=TS_PROTOCOL_VERSION)


def _decode_capability_sets(data: bytes, count: int) -> tuple[CapabilitySet, ...]:
    sets: list[CapabilitySet] = []
    offset = 0
    for _ in range(count):
        if len(data) - offset < 4:
            raise PduError(
                "TS_DEMAND_ACTIVE_PDU",
                f"numberCapabilities {count} but only {len(sets)} sets fit",
                field="numberCapabilities",
            )
        set_type = int.from_bytes(data[offset : offset + 2], "little")
        length = int.from_bytes(data[offset + 2 : offset + 4], "little")
        if length < 4 or offset + length > len(data):
            raise PduError(
                "TS_DEMAND_ACTIVE_PDU",
                f"capability set 0x{set_type:04x} length {length} does not fit",
                field="lengthCapability",
            )
        sets.append(
            CapabilitySet(
                enum_or_int(CapabilitySetType, set_type), data[offset + 4 : offset + length]
            )
        )
        offset += length
    if offset != len(data):
        raise PduError(
            "TS_DEMAND_ACTIVE_PDU",
            f"{len(data) - offset} bytes after the capability sets",
            field="lengthCombinedCapabilities",
        )
    return tuple(sets)


def decode_demand_active(data: bytes) -> DemandActive:
    """Decode a Demand Active PDU, from its TS_SHARECONTROLHEADER on."""
    name = "TS_DEMAND_ACTIVE_PDU"
    header, body = decode_share_control_header(data)
    if header.pdu_type != PduType.PDUTYPE_DEMANDACTIVEPDU:
        raise PduError(name, f"pduType {header.pdu_type} is not PDUTYPE_DEMANDACTIVEPDU")

    def parse(stream: Any) -> DemandActive:
        fixed = _DEMAND_ACTIVE_FIXED.parse_stream(stream)
        if fixed.lengthCombinedCapabilities < 4:
            raise PduError(name, "lengthCombinedCapabilities below 4")
        caps = construct.stream_read(stream, fixed.lengthCombinedCapabilities - 4, "caps")
        rest = stream.read()
        if len(rest) not in (0, 4):
            raise PduError(name, f"{len(rest)} bytes after the capability sets", field="sessionId")
        return DemandActive(
            fixed.shareId,
            fixed.sourceDescriptor,
            _decode_capability_sets(caps, fixed.numberCapabilities),
            header.pdu_source,
            int.from_bytes(rest, "little") if rest else None,
            fixed.pad2Octets,
            header.version,
        )

    return guarded(name, body, parse)


def encode_demand_active(pdu: DemandActive) -> bytes:
    """Encode a Demand Active PDU, TS_SHARECONTROLHEADER included."""
    name = "TS_DEMAND_ACTIVE_PDU"
    caps = b""
    for cap in pdu.capability_sets:
        need(name, 0 <= cap.type <= 0xFFFF, "capabilitySetType is not 16 bits")
        need(name, len(cap.data) + 4 <= 0xFFFF, "capability set too long")
        caps += (
            int(cap.type).to_bytes(2, "little")
            + (len(cap.data) + 4).to_bytes(2, "little")
            + cap.data
        )
    need(name, len(pdu.capability_sets) <= 0xFFFF, "too many capability sets")
    need(name, len(caps) + 4 <= 0xFFFF, "capability sets too long")
    need(name, len(pdu.source_descriptor) <= 0xFFFF, "sourceDescriptor too long")
    body = build_checked(
        name,
        _DEMAND_ACTIVE_FIXED,
        {
            "shareId": pdu.share_id,
            "lengthSourceDescriptor": len(pdu.source_descriptor),
            "lengthCombinedCapabilities": len(caps) + 4,
            "sourceDescriptor": pdu.source_descriptor,
            "numberCapabilities": len(pdu.capability_sets),
            "pad2Octets": pdu.pad2_octets,
        },
    )
    body += caps
    if pdu.session_id is not None:
        body += build_checked(name, Int32ul, pdu.session_id)
    header = ShareControlHeader(PduType.PDUTYPE_DEMANDACTIVEPDU, pdu.pdu_source, pdu.version)
    need(name, len(body) + 6 <= 0xFFFF, "Demand Active longer than 65535 bytes")
    return encode_share_control_header(header, body)
