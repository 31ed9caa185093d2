"""Client Info PDU data (MS-RDPBCGR 2.2.1.11.1.1 TS_INFO_PACKET), with 2.2.1.11.1.1.1
TS_EXTENDED_INFO_PACKET and 2.2.1.11.1.1.1.1 TS_TIME_ZONE_INFORMATION.

The Client Info PDU is on the path of every connection: `decode_client_info` has a struct
path (precompiled `struct` formats) for the usual packet.  The construct definitions
(`_INFO_PACKET`, `_EXTENDED_INFO_HEAD` and the optional fields with `TIME_ZONE_INFORMATION`)
take whatever it declines, report every error, encode, and run alone with
``engine="construct"``.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import TYPE_CHECKING, Any

import construct
from construct import Bytes, GreedyBytes, Int16ul, Int32sl, Int32ul, Prefixed, Struct

from rdplic.pdu._types import Engine, Utf16, check_engine, pdu_dataclass, spec
from rdplic.pdu.errors import guarded
from rdplic.pdu.framing import (
    OptionalField,
    build_checked,
    build_optional_tail,
    enum_or_int,
    need,
    parse_exact,
    parse_optional_tail,
)

__all__ = [
    "TIME_ZONE_INFORMATION",
    "ClientAddressFamily",
    "ClientInfo",
    "ExtendedInfo",
    "InfoFlag",
    "PerformanceFlag",
    "SystemTime",
    "TimeZoneInformation",
    "decode_client_info",
    "encode_client_info",
]


class InfoFlag(enum.IntFlag):
    """TS_INFO_PACKET flags; bits 9-12 are the compression type (see `ClientInfo`)."""

    INFO_MOUSE = 0x00000001
    INFO_DISABLECTRLALTDEL = 0x00000002
    INFO_AUTOLOGON = 0x00000008
    INFO_UNICODE = 0x00000010
    INFO_MAXIMIZESHELL = 0x00000020
    INFO_LOGONNOTIFY = 0x00000040
    INFO_COMPRESSION = 0x00000080
    INFO_ENABLEWINDOWSKEY = 0x00000100
    INFO_COMPRESSION_TYPE_MASK = 0x00001E00
    INFO_REMOTECONSOLEAUDIO = 0x00002000
    INFO_FORCE_ENCRYPTED_CS_PDU = 0x00004000
    INFO_RAIL = 0x00008000
    INFO_LOGONERRORS = 0x00010000
    INFO_MOUSE_HAS_WHEEL = 0x00020000
    INFO_PASSWORD_IS_SC_PIN = 0x00040000
    INFO_NOAUDIOPLAYBACK = 0x00080000
    INFO_USING_SAVED_CREDS = 0x00100000
    INFO_AUDIOCAPTURE = 0x00200000
    INFO_VIDEO_DISABLE = 0x00400000
    INFO_RESERVED1 = 0x00800000
    INFO_RESERVED2 = 0x01000000
    INFO_HIDEF_RAIL_SUPPORTED = 0x02000000


class ClientAddressFamily(enum.IntEnum):
    """clientAddressFamily of TS_EXTENDED_INFO_PACKET."""

    AF_INET = 0x0002
    AF_INET6 = 0x0017


class PerformanceFlag(enum.IntFlag):
    """performanceFlags of TS_EXTENDED_INFO_PACKET."""

    PERF_DISABLE_WALLPAPER = 0x00000001
    PERF_DISABLE_FULLWINDOWDRAG = 0x00000002
    PERF_DISABLE_MENUANIMATIONS = 0x00000004
    PERF_DISABLE_THEMING = 0x00000008
    PERF_RESERVED1 = 0x00000010
    PERF_DISABLE_CURSOR_SHADOW = 0x00000020
    PERF_DISABLE_CURSORSETTINGS = 0x00000040
    PERF_ENABLE_FONT_SMOOTHING = 0x00000080
    PERF_ENABLE_DESKTOP_COMPOSITION = 0x00000100
    PERF_RESERVED2 = 0x80000000


@pdu_dataclass
class SystemTime:
    """TS_SYSTEMTIME (MS-RDPBCGR 2.2.1.11.1.1.1.1.1)."""

    year: int = spec("wYear", default=0)
    month: int = spec("wMonth", default=0)
    day_of_week: int = spec("wDayOfWeek", default=0)
    day: int = spec("wDay", default=0)
    hour: int = spec("wHour", default=0)
    minute: int = spec("wMinute", default=0)
    second: int = spec("wSecond", default=0)
    milliseconds: int = spec("wMilliseconds", default=0)


@pdu_dataclass
class TimeZoneInformation:
    """TS_TIME_ZONE_INFORMATION (MS-RDPBCGR 2.2.1.11.1.1.1.1); names are 64 raw bytes."""

    bias: int = spec("Bias")
    standard_name: Utf16 = spec("StandardName")
    standard_date: SystemTime = spec("StandardDate")
    standard_bias: int = spec("StandardBias")
    daylight_name: Utf16 = spec("DaylightName")
    daylight_date: SystemTime = spec("DaylightDate")
    daylight_bias: int = spec("DaylightBias")


_SYSTEM_TIME_FIELDS = tuple(f.name for f in dataclasses.fields(SystemTime))
_SYSTEM_TIME = Struct(*(name / Int16ul for name in _SYSTEM_TIME_FIELDS))


if TYPE_CHECKING:
    _AdapterBase = construct.Adapter[Any, Any, Any, Any]
else:  # construct's classes are not subscriptable at run time
    _AdapterBase = construct.Adapter


class _SystemTimeAdapter(_AdapterBase):
    def _decode(self, obj: Any, context: Any, path: Any) -> SystemTime:
        return SystemTime(*(obj[name] for name in _SYSTEM_TIME_FIELDS))

    def _encode(self, obj: Any, context: Any, path: Any) -> dict[str, int]:
        return {name: getattr(obj, name) for name in _SYSTEM_TIME_FIELDS}


class _TimeZoneAdapter(_AdapterBase):
    def _decode(self, obj: Any, context: Any, path: Any) -> TimeZoneInformation:
        return TimeZoneInformation(
            obj.Bias,
            obj.StandardName,
            obj.StandardDate,
            obj.StandardBias,
            obj.DaylightName,
            obj.DaylightDate,
            obj.DaylightBias,
        )

    def _encode(self, obj: Any, context: Any, path: Any) -> dict[str, Any]:
        return {
            "Bias": obj.bias,
            "StandardName": obj.standard_name,
            "StandardDate": obj.standard_date,
            "StandardBias": obj.standard_bias,
            "DaylightName": obj.daylight_name,
            "DaylightDate": obj.daylight_date,
            "DaylightBias": obj.daylight_bias,
        }


TIME_ZONE_INFORMATION = _TimeZoneAdapter(
    Struct(
        "Bias" / Int32sl,
        "StandardName" / Bytes(64),
        "StandardDate" / _SystemTimeAdapter(_SYSTEM_TIME),
        "StandardBias" / Int32sl,
        "DaylightName" / Bytes(64),
        "DaylightDate" / _SystemTimeAdapter(_SYSTEM_TIME),
        "DaylightBias" / Int32sl,
    )
)
"""TS_TIME_ZONE_INFORMATION, 172 bytes; the biases are signed minutes (-60 = C4 FF FF FF)."""


@pdu_dataclass
class ExtendedInfo:
    """TS_EXTENDED_INFO_PACKET (MS-RDPBCGR 2.2.1.11.1.1.1).

    clientAddress and clientDir are raw UTF-16LE with their NUL (cb* are derived).  Every
    field from clientTimeZone on is optional: a client may stop after any of them (None from
    the first absent one).  ``auto_reconnect_cookie`` and ``dynamic_dst_time_zone_key_name``
    are their raw bytes (b"" when the length field is 0).  ``trailing`` keeps bytes after the
    last field read.
    """

    client_address_family: ClientAddressFamily | int = spec("clientAddressFamily")
    client_address: Utf16 = spec("clientAddress")
    client_dir: Utf16 = spec("clientDir")
    client_time_zone: TimeZoneInformation | None = spec("clientTimeZone", default=None)
    client_session_id: int | None = spec("clientSessionId", default=None)
    performance_flags: PerformanceFlag | None = spec("performanceFlags", default=None)
    auto_reconnect_cookie: bytes | None = spec("autoReconnectCookie", default=None)
    reserved1: int | None = spec("reserved1", default=None)
    reserved2: int | None = spec("reserved2", default=None)
    dynamic_dst_time_zone_key_name: Utf16 | None = spec("dynamicDSTTimeZoneKeyName", default=None)
    dynamic_daylight_time_disabled: int | None = spec("dynamicDaylightTimeDisabled", default=None)
    trailing: bytes = spec("trailing", default=b"")


@pdu_dataclass
class ClientInfo:
    """TS_INFO_PACKET (MS-RDPBCGR 2.2.1.11.1.1), the decrypted Client Info PDU data.

    Each string is its raw bytes including the mandatory NUL terminator: two bytes with
    INFO_UNICODE (UTF-16LE), one byte without (ANSI); the cb* fields are derived from them.
    ``extra_info`` is None for an RDP 4.0 client, which stops after WorkingDir.
    """

    code_page: int = spec("CodePage")
    flags: InfoFlag = spec("flags")
    domain: bytes = spec("Domain")
    user_name: bytes = spec("UserName")
    password: bytes = spec("Password")
    alternate_shell: bytes = spec("AlternateShell")
    working_dir: bytes = spec("WorkingDir")
    extra_info: ExtendedInfo | None = spec("extraInfo", default=None)

    @property
    def compression_type(self) -> int:
        """PACKET_COMPR_TYPE_8K (0), 64K (1), RDP6 (2) or RDP61 (3), from bits 9-12."""
        return (int(self.flags) & 0x1E00) >> 9


def _nul_size(ctx: Any) -> int:
    return 2 if ctx.flags & InfoFlag.INFO_UNICODE else 1


def _info_string(name: str) -> Any:
    return name / Bytes(lambda ctx: ctx[f"cb{name}"] + _nul_size(ctx))


def _info_length(name: str) -> Any:
    return f"cb{name}" / construct.Rebuild(Int16ul, lambda ctx: len(ctx[name]) - _nul_size(ctx))


_INFO_STRINGS = ("Domain", "UserName", "Password", "AlternateShell", "WorkingDir")
_INFO_PACKET = Struct(
    "CodePage" / Int32ul,
    "flags" / Int32ul,
    *(_info_length(name) for name in _INFO_STRINGS),
    *(_info_string(name) for name in _INFO_STRINGS),
    "extraInfo" / GreedyBytes,
)
_EXTENDED_INFO_HEAD = Struct(
    "clientAddressFamily" / Int16ul,
    "clientAddress" / Prefixed(Int16ul, GreedyBytes),
    "clientDir" / Prefixed(Int16ul, GreedyBytes),
)
_EXTENDED_INFO_OPTIONAL: tuple[OptionalField, ...] = (
    ("client_time_zone", TIME_ZONE_INFORMATION),
    ("client_session_id", Int32ul),
    ("performance_flags", Int32ul),
    ("auto_reconnect_cookie", Prefixed(Int16ul, GreedyBytes)),
    ("reserved1", Int16ul),
    ("reserved2", Int16ul),
    ("dynamic_dst_time_zone_key_name", Prefixed(Int16ul, GreedyBytes)),
    ("dynamic_daylight_time_disabled", Int16ul),
)


def _decode_extended_info(data: bytes) -> ExtendedInfo:
    name = "TS_EXTENDED_INFO_PACKET"

    def head_then_rest(stream: Any) -> tuple[Any, int]:
        head = _EXTENDED_INFO_HEAD.parse_stream(stream)
        return head, stream.tell()

    head, end = guarded(name, data, head_then_rest)
    values, trailing = parse_optional_tail(name, data[end:], _EXTENDED_INFO_OPTIONAL)
    if "performance_flags" in values:
        values["performance_flags"] = PerformanceFlag(values["performance_flags"])
    return ExtendedInfo(
        enum_or_int(ClientAddressFamily, head.clientAddressFamily),
        head.clientAddress,
        head.clientDir,
        trailing=trailing,
        **values,
    )


def _encode_extended_info(info: ExtendedInfo) -> bytes:
    name = "TS_EXTENDED_INFO_PACKET"
    head = build_checked(
        name,
        _EXTENDED_INFO_HEAD,
        {
            "clientAddressFamily": info.client_address_family,
            "clientAddress": info.client_address,
            "clientDir": info.client_dir,
        },
    )
    return head + build_optional_tail(name, info, _EXTENDED_INFO_OPTIONAL, info.trailing)


_INFO_FIXED = struct.Struct("<II5H")
_INFO_UNICODE = int(InfoFlag.INFO_UNICODE)
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_EXTENDED_HEAD = struct.Struct("<HH")
_TIME_ZONE = struct.Struct("<i64s8Hi64s8Hi")
_OPTIONAL_KINDS = ("tz", "u32", "u32", "prefixed", "u16", "u16", "prefixed", "u16")
"""How each of `_EXTENDED_INFO_OPTIONAL` is laid out, for `_extended_info_struct`."""


def _extended_info_struct(data: bytes) -> ExtendedInfo | None:
    """TS_EXTENDED_INFO_PACKET read with `struct`, as `_decode_extended_info` reads it.

    None for anything the construct path would refuse (a length running past the end):
    that path then reports the error.
    """
    size = len(data)
    if size < 4:
        return None
    family, cb_address = _EXTENDED_HEAD.unpack_from(data)
    offset = 4 + cb_address
    if offset + 2 > size:
        return None
    address = data[4:offset]
    (cb_dir,) = _U16.unpack_from(data, offset)
    start = offset + 2
    offset = start + cb_dir
    if offset > size:
        return None
    client_dir = data[start:offset]
    values: list[Any] = []
    for kind in _OPTIONAL_KINDS:
        left = size - offset
        if kind == "tz":
            if left < 172:
                break
            f = _TIME_ZONE.unpack_from(data, offset)
            values.append(
                TimeZoneInformation(
                    f[0], f[1], SystemTime(*f[2:10]), f[10], f[11], SystemTime(*f[12:20]), f[20]
                )
            )
            offset += 172
        elif kind == "u32":
            if left < 4:
                break
            values.append(_U32.unpack_from(data, offset)[0])
            offset += 4
        elif kind == "u16":
            if left < 2:
                break
            values.append(_U16.unpack_from(data, offset)[0])
            offset += 2
        else:
            if left < 2:
                break
            (length,) = _U16.unpack_from(data, offset)
            if length > left - 2:
                return None
            values.append(data[offset + 2 : offset + 2 + length])
            offset += 2 + length
    if len(values) > 2:
        values[2] = PerformanceFlag(values[2])
    values.extend([None] * (8 - len(values)))
    return ExtendedInfo(
        enum_or_int(ClientAddressFamily, family),
        address,
        client_dir,
        values[0],
        values[1],
        values[2],
        values[3],
        values[4],
        values[5],
        values[6],
        values[7],
        data[offset:],
    )


def _client_info_struct(data: bytes) -> ClientInfo | None:
    """TS_INFO_PACKET read with `struct` on the usual input; None sends it to construct."""
    size = len(data)
    if size < 18:
        return None
    code_page, flags, *lengths = _INFO_FIXED.unpack_from(data)
    nul = 2 if flags & _INFO_UNICODE else 1
    offset = 18
    strings = []
    for length in lengths:
        end = offset + length + nul
        if end > size:
            return None
        strings.append(data[offset:end])
        offset = end
    extra = None
    if offset < size:
        extra = _extended_info_struct(data[offset:])
        if extra is None:
            return None
    domain, user_name, password, shell, working_dir = strings
    return ClientInfo(
        code_page, InfoFlag(flags), domain, user_name, password, shell, working_dir, extra
    )


def decode_client_info(data: bytes, *, engine: Engine = "struct") -> ClientInfo:
    """Decode TS_INFO_PACKET: the Client Info PDU data after its (decrypted) security header.

    `_client_info_struct` reads the usual packet with `struct`; the construct definition
    (`_INFO_PACKET`) reads the rest and reports every error.
    """
    if engine == "struct":
        info = _client_info_struct(data)
        if info is not None:
            return info
    else:
        check_engine(engine)
    parsed = parse_exact("TS_INFO_PACKET", _INFO_PACKET, data)
    extra = parsed.extraInfo
    return ClientInfo(
        parsed.CodePage,
        InfoFlag(parsed.flags),
        parsed.Domain,
        parsed.UserName,
        parsed.Password,
        parsed.AlternateShell,
        parsed.WorkingDir,
        _decode_extended_info(extra) if extra else None,
    )


def encode_client_info(info: ClientInfo) -> bytes:
    """Encode TS_INFO_PACKET (the Client Info PDU data, without its security header)."""
    nul = 2 if info.flags & InfoFlag.INFO_UNICODE else 1
    strings = {
        "Domain": info.domain,
        "UserName": info.user_name,
        "Password": info.password,
        "AlternateShell": info.alternate_shell,
        "WorkingDir": info.working_dir,
    }
    for field, value in strings.items():
        need(
            "TS_INFO_PACKET",
            nul <= len(value) <= 0xFFFF + nul,
            f"{field} must hold its {nul}-byte terminator",
            field=field,
        )
    extra = b"" if info.extra_info is None else _encode_extended_info(info.extra_info)
    return build_checked(
        "TS_INFO_PACKET",
        _INFO_PACKET,
        {"CodePage": info.code_page, "flags": info.flags, "extraInfo": extra, **strings},
    )
