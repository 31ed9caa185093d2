"""The data PDUs of the connection finalization phase (MS-RDPBCGR 1.3.1.1, 2.2.1.14-2.2.1.22).

After the capability exchange both sides send Synchronize (2.2.1.14 / 2.2.1.19), Control
(Cooperate, Request Control / Granted Control; 2.2.1.15-16 / 2.2.1.20-21) and the client its
Font List (2.2.1.18), answered by the server's Font Map (2.2.1.22).  Each is a data PDU:
TS_SHARECONTROLHEADER, TS_SHAREDATAHEADER (2.2.8.1.1.1.2), then a small body.  A server
that hosts no session still has to send its four PDUs for the clients to call the session
active: rdesktop 1.9 waits for Synchronize and both Controls before it sends its Font List,
FreeRDP 2.11 for all four before it leaves its finalization state.

`ShareDataPdu` is the generic envelope (its body kept as bytes; defined in `pdu.rdp` with
the other share headers and re-exported here); the bodies have their own classes.  Lengths
(totalLength, uncompressedLength) are derived on encode.
"""

from __future__ import annotations

import enum

from construct import GreedyBytes, Int16ul, Int32ul, Struct

from rdplic.pdu._types import pdu_dataclass, spec
from rdplic.pdu.framing import build_checked, enum_or_int, parse_exact
from rdplic.pdu.rdp import ShareDataPdu, decode_share_data_pdu, encode_share_data_pdu

__all__ = [
    "ControlAction",
    "ControlPdu",
    "FontListPdu",
    "FontMapPdu",
    "ShareDataPdu",
    "SynchronizePdu",
    "decode_control",
    "decode_font_list",
    "decode_share_data_pdu",
    "decode_synchronize",
    "encode_control",
    "encode_font_map",
    "encode_share_data_pdu",
    "encode_synchronize",
]

# --------------------------------------------------------------------------------------------
# Bodies

SYNCMSGTYPE_SYNC = 1

_SYNCHRONIZE = Struct("messageType" / Int16ul, "targetUser" / Int16ul)


@pdu_dataclass
class SynchronizePdu:
    """TS_SYNCHRONIZE_PDU body (2.2.1.14.1): targetUser is the peer's MCS channel."""

    target_user: int = spec("targetUser")
    message_type: int = spec("messageType", default=SYNCMSGTYPE_SYNC)


def decode_synchronize(data: bytes) -> SynchronizePdu:
    parsed = parse_exact("TS_SYNCHRONIZE_PDU", _SYNCHRONIZE, data)
    return SynchronizePdu(parsed.targetUser, parsed.messageType)


def encode_synchronize(pdu: SynchronizePdu) -> bytes:
    return build_checked(
        "TS_SYNCHRONIZE_PDU",
        _SYNCHRONIZE,
        {"messageType": pdu.message_type, "targetUser": pdu.target_user},
    )


class ControlAction(enum.IntEnum):
    """TS_CONTROL_PDU action (2.2.1.15.1)."""

    CTRLACTION_REQUEST_CONTROL = 0x0001
    CTRLACTION_GRANTED_CONTROL = 0x0002
    CTRLACTION_DETACH = 0x0003
    CTRLACTION_COOPERATE = 0x0004


_CONTROL = Struct("action" / Int16ul, "grantId" / Int16ul, "controlId" / Int32ul)


@pdu_dataclass
class ControlPdu:
    """TS_CONTROL_PDU body (2.2.1.15.1; Granted Control carries the grantee's channel and
    the server's id in grantId / controlId, 2.2.1.21.1)."""

    action: ControlAction | int = spec("action")
    grant_id: int = spec("grantId", default=0)
    control_id: int = spec("controlId", default=0)


def decode_control(data: bytes) -> ControlPdu:
    parsed = parse_exact("TS_CONTROL_PDU", _CONTROL, data)
    return ControlPdu(enum_or_int(ControlAction, parsed.action), parsed.grantId, parsed.controlId)


def encode_control(pdu: ControlPdu) -> bytes:
    return build_checked(
        "TS_CONTROL_PDU",
        _CONTROL,
        {"action": pdu.action, "grantId": pdu.grant_id, "controlId": pdu.control_id},
    )


FONTLIST_FIRST = 0x0001
FONTLIST_LAST = 0x0002

_FONT = Struct(
    "numberEntries" / Int16ul,
    "totalNumEntries" / Int16ul,
    "flags" / Int16ul,
    "entrySize" / Int16ul,
    "trailing" / GreedyBytes,
)


@pdu_dataclass
class FontListPdu:
    """TS_FONT_LIST_PDU body (2.2.1.18.1): every client sends zero entries, 0x32 bytes each."""

    number_entries: int = spec("numberFonts", default=0)
    total_num_entries: int = spec("totalNumFonts", default=0)
    flags: int = spec("listFlags", default=FONTLIST_FIRST | FONTLIST_LAST)
    entry_size: int = spec("entrySize", default=0x32)


@pdu_dataclass
class FontMapPdu:
    """TS_FONT_MAP_PDU body (2.2.1.22.1): the server's empty answer to the Font List."""

    number_entries: int = spec("numberEntries", default=0)
    total_num_entries: int = spec("totalNumEntries", default=0)
    flags: int = spec("mapFlags", default=FONTLIST_FIRST | FONTLIST_LAST)
    entry_size: int = spec("entrySize", default=4)


def decode_font_list(data: bytes) -> FontListPdu:
    """Decode a Font List body (entries, which no client sends, are ignored)."""
    parsed = parse_exact("TS_FONT_LIST_PDU", _FONT, data)
    return FontListPdu(parsed.numberEntries, parsed.totalNumEntries, parsed.flags, parsed.entrySize)


def encode_font_map(pdu: FontMapPdu) -> bytes:
    return build_checked(
        "TS_FONT_MAP_PDU",
        _FONT,
        {
            "numberEntries": pdu.number_entries,
            "totalNumEntries": pdu.total_num_entries,
            "flags": pdu.flags,
            "entrySize": pdu.entry_size,
            "trailing": b"",
        },
    )
