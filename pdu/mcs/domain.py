"""The aligned-PER DomainMCSPDUs that RDP uses ([T125] section 7 parts 3-7 and 10).

Erect Domain Request (MS-RDPBCGR 2.2.1.5), Attach User Request / Confirm (2.2.1.6, 2.2.1.7),
Channel Join Request / Confirm (2.2.1.8, 2.2.1.9), Send Data Request / Indication ([T125]
11.32, 11.33: every later slow-path PDU) and Disconnect Provider Ultimatum (2.2.2.3).

Byte-exact re-encoding of what real encoders send needs a little more than the values:

* rdesktop 1.9 and aardwolf send the Erect Domain Request as ``04 00 01 00 01``: two
  big-endian 16-bit values instead of two PER length-prefixed integers.  FreeRDP's server
  rejects it ("1 bytes too long"); Windows accepts it, and so do we (`ErectDomainForm.UINT16`).
* rdesktop always writes the Send Data userData length in the two-byte PER form
  (``80 1E`` for 30 bytes); ``long_length`` records that.

Speed: Send Data is on the path of every licensing frame and the other PDUs on the path of
every connection, so `decode_domain_pdu` and `encode_domain_pdu` have a struct path
(precompiled `struct` formats) for their usual form.  The construct definitions below take
whatever it declines, report every error, and run alone with ``engine="construct"``.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import Any

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

from rdplic.pdu._types import Engine, check_engine, fits_uint, spec
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import build_checked, enum_or_int, need, parse_exact
from rdplic.pdu.mcs._per import _PerLength, _PerUnsigned
from rdplic.pdu.mcs.constants import (
    MCS_BASE_CHANNEL_ID,
    DataPriority,
    McsResult,
    Reason,
    Segmentation,
)

__all__ = [
    "CHOICE_ATTACH_USER_CONFIRM",
    "CHOICE_ATTACH_USER_REQUEST",
    "CHOICE_CHANNEL_JOIN_CONFIRM",
    "CHOICE_CHANNEL_JOIN_REQUEST",
    "CHOICE_DISCONNECT_PROVIDER_ULTIMATUM",
    "CHOICE_ERECT_DOMAIN_REQUEST",
    "CHOICE_SEND_DATA_INDICATION",
    "CHOICE_SEND_DATA_REQUEST",
    "AttachUserConfirm",
    "AttachUserRequest",
    "ChannelJoinConfirm",
    "ChannelJoinRequest",
    "DisconnectProviderUltimatum",
    "DomainMcsPdu",
    "ErectDomainForm",
    "ErectDomainRequest",
    "SendDataIndication",
    "SendDataRequest",
    "decode_domain_pdu",
    "encode_domain_pdu",
]


class ErectDomainForm(enum.Enum):
    """How an Erect Domain Request carries its two integers."""

    PER = "per"
    """Two PER semi-constrained integers, length-prefixed (T.125; mstsc, FreeRDP)."""
    UINT16 = "uint16"
    """Two big-endian 16-bit values without length (rdesktop 1.9, aardwolf)."""


_PRIORITIES = tuple(DataPriority)
_SEGMENTATIONS = tuple(Segmentation(value) for value in range(4))


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
