"""RDP-layer structures of the connection sequence, inside the MCS Send Data userData.

- Security headers (MS-RDPBCGR 2.2.8.1.1.2): basic TS_SECURITY_HEADER, non-FIPS
  TS_SECURITY_HEADER1 (with the 8-byte MAC) and FIPS TS_SECURITY_HEADER2.
- Security Exchange PDU data (2.2.1.10.1 TS_SECURITY_PACKET).
- Client Info PDU data (2.2.1.11.1.1 TS_INFO_PACKET with 2.2.1.11.1.1.1
  TS_EXTENDED_INFO_PACKET and 2.2.1.11.1.1.1.1 TS_TIME_ZONE_INFORMATION).
- Share Control Header (2.2.8.1.1.1.1), Share Data Header (2.2.8.1.1.1.2) with its body
  as bytes, Set Error Info PDU (2.2.5.1.1) with the ERRINFO_* codes, and the Demand Active
  PDU (2.2.1.13.1.1) with its capability sets kept as (type, bytes).

Which security header a PDU carries is decided by its flags: with SEC_ENCRYPT the basic header
is followed by the MAC (and, with FIPS encryption, by the FIPS fields); without it the header
is the 4-byte basic one.  That holds for SEC_REDIRECTION_PKT too: the Standard Security Server
Redirection PDU (2.2.13.2.1) is always encrypted, so it always carries SEC_ENCRYPT.  The
flagsHi half is kept verbatim: Windows fills it with garbage unless SEC_FLAGSHI_VALID is set.

The security header is on the path of every licensing frame, and the Client Info and Security
Exchange on the path of every connection: their decoders and encoders have a struct path
(precompiled `struct` formats) for the usual input, as does the encoder of the share data
headers (Set Error Info).  The construct definitions (`SECURITY_HEADER`, `_SECURITY_EXCHANGE`,
`_INFO_PACKET` with `TIME_ZONE_INFORMATION` and the extended info, `_SHARE_DATA`) take
whatever it declines and report every error; ``engine="construct"`` runs them alone, and the
tests compare both engines.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import TYPE_CHECKING, Any

import construct
from construct import (
    Bytes,
    Const,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32sl,
    Int32ul,
    Prefixed,
    Struct,
    this,
)

from pdu._types import Ansi, Engine, Utf16, check_engine, fits_uint, pdu_dataclass, spec
from pdu.errors import PduError, guarded
from pdu.framing import (
    OptionalField,
    build_checked,
    build_optional_tail,
    enum_or_int,
    need,
    parse_exact,
    parse_optional_tail,
)

__all__ = [
    "SECURITY_HEADER",
    "TS_PROTOCOL_VERSION",
    "CapabilitySet",
    "CapabilitySetType",
    "ClientAddressFamily",
    "ClientInfo",
    "DemandActive",
    "ErrorInfo",
    "ExtendedInfo",
    "InfoFlag",
    "PduType",
    "PduType2",
    "PerformanceFlag",
    "SecurityExchange",
    "SecurityFlag",
    "SecurityHeader",
    "SetErrorInfo",
    "ShareControlHeader",
    "ShareDataPdu",
    "StreamId",
    "SystemTime",
    "TimeZoneInformation",
    "decode_client_info",
    "decode_demand_active",
    "decode_security_exchange",
    "decode_security_header",
    "decode_set_error_info",
    "decode_share_control_header",
    "decode_share_data_pdu",
    "encode_client_info",
    "encode_demand_active",
    "encode_security_exchange",
    "encode_security_header",
    "encode_set_error_info",
    "encode_share_control_header",
    "encode_share_data_pdu",
    "security_header_bytes",
]


# --------------------------------------------------------------------------------------------
# Security headers (MS-RDPBCGR 2.2.8.1.1.2.1 - 2.2.8.1.1.2.3)


class SecurityFlag(enum.IntFlag):
    """TS_SECURITY_HEADER flags (MS-RDPBCGR 2.2.8.1.1.2.1)."""

    SEC_EXCHANGE_PKT = 0x0001
    SEC_TRANSPORT_REQ = 0x0002
    SEC_TRANSPORT_RSP = 0x0004
    SEC_ENCRYPT = 0x0008
    SEC_RESET_SEQNO = 0x0010
    SEC_IGNORE_SEQNO = 0x0020
    SEC_INFO_PKT = 0x0040
    SEC_LICENSE_PKT = 0x0080
    SEC_LICENSE_ENCRYPT_CS = 0x0200
    SEC_LICENSE_ENCRYPT_SC = 0x0200
    """Same bit as SEC_LICENSE_ENCRYPT_CS: the client sets it in its Security Exchange PDU."""
    SEC_REDIRECTION_PKT = 0x0400
    SEC_SECURE_CHECKSUM = 0x0800
    SEC_AUTODETECT_REQ = 0x1000
    SEC_AUTODETECT_RSP = 0x2000
    SEC_HEARTBEAT = 0x4000
    SEC_FLAGSHI_VALID = 0x8000


SECURITY_HEADER = Struct(
    "flags" / Int16ul,
    "flagsHi" / Int16ul,
    "dataSignature"
    / construct.If(
        lambda ctx: ctx.flags & SecurityFlag.SEC_ENCRYPT and not ctx._params.get("fips"),
        Bytes(8),
    ),
    "fips"
    / construct.If(
        lambda ctx: ctx.flags & SecurityFlag.SEC_ENCRYPT and ctx._params.get("fips"),
        Struct(
            "length" / Const(0x10, Int16ul),
            "version" / Const(1, Int8ul),
            "padlen" / Int8ul,
            "dataSignature" / Bytes(8),
        ),
    ),
)
"""TS_SECURITY_HEADER / TS_SECURITY_HEADER1 / TS_SECURITY_HEADER2, chosen by SEC_ENCRYPT and
the ``fips`` parameter (FIPS encryption method in force)."""

_SEC_BASIC = struct.Struct("<HH")
_SEC_FIPS = struct.Struct("<HBB")
_SEC_ENCRYPT = int(SecurityFlag.SEC_ENCRYPT)
_FLAG_CACHE: dict[int, SecurityFlag] = {}


def _security_flag(value: int) -> SecurityFlag:
    flag = _FLAG_CACHE.get(value)
    if flag is None:
        flag = _FLAG_CACHE[value] = SecurityFlag(value)
    return flag


@pdu_dataclass
class SecurityHeader:
    """A security header: basic, non-FIPS (``data_signature``) or FIPS (also ``fips_padlen``).

    ``data_signature`` is present exactly when ``flags`` has SEC_ENCRYPT; ``fips_padlen`` only
    in a FIPS header (TS_SECURITY_HEADER2, whose length and version are the constants 0x10
    and 1).
    """

    flags: SecurityFlag = spec("flags")
    flags_hi: int = spec("flagsHi", default=0)
    data_signature: bytes | None = spec("dataSignature", default=None)
    fips_padlen: int | None = spec("padlen", default=None)


def security_header_bytes(
    flags: int, data_signature: bytes | None, flags_hi: int = 0, *, engine: Engine = "struct"
) -> bytes:
    """``encode_security_header(SecurityHeader(flags, flags_hi, data_signature))`` without
    the object: a basic or non-FIPS header (TS_SECURITY_HEADER, TS_SECURITY_HEADER1)."""
    return _encode_security_header(flags, flags_hi, data_signature, None, engine)


def decode_security_header(
    data: bytes, *, fips: bool = False, engine: Engine = "struct"
) -> tuple[SecurityHeader, bytes]:
    """Decode the security header at the start of ``data``; return it and the bytes after it.

    ``fips`` says that the FIPS encryption method is in force, so that an encrypted PDU
    carries TS_SECURITY_HEADER2 instead of TS_SECURITY_HEADER1.
    """
    if engine == "struct":
        if len(data) >= 4:
            flags, flags_hi = _SEC_BASIC.unpack_from(data)
            if not flags & _SEC_ENCRYPT:
                return SecurityHeader(_security_flag(flags), flags_hi), data[4:]
            if not fips and len(data) >= 12:
                return SecurityHeader(_security_flag(flags), flags_hi, data[4:12]), data[12:]
            if fips and len(data) >= 16:
                length, version, padlen = _SEC_FIPS.unpack_from(data, 4)
                if length == 0x10 and version == 1:
                    header = SecurityHeader(_security_flag(flags), flags_hi, data[8:16], padlen)
                    return header, data[16:]
    else:
        check_engine(engine)
    name = "TS_SECURITY_HEADER2" if fips else "TS_SECURITY_HEADER1"

    def parse(stream: Any) -> tuple[Any, int]:
        return SECURITY_HEADER.parse_stream(stream, fips=fips), stream.tell()

    parsed, end = guarded(name, data, parse)
    flag = _security_flag(parsed.flags)
    if parsed.fips is not None:
        header = SecurityHeader(flag, parsed.flagsHi, parsed.fips.dataSignature, parsed.fips.padlen)
    else:
        header = SecurityHeader(flag, parsed.flagsHi, parsed.dataSignature)
    return header, data[end:]


def encode_security_header(header: SecurityHeader, *, engine: Engine = "struct") -> bytes:
    """Encode a security header (its kind follows from its flags and fields)."""
    return _encode_security_header(
        int(header.flags), header.flags_hi, header.data_signature, header.fips_padlen, engine
    )


def _encode_security_header(
    flags: int,
    flags_hi: int,
    data_signature: bytes | None,
    fips_padlen: int | None,
    engine: Engine,
) -> bytes:
    name = "TS_SECURITY_HEADER"
    need(name, 0 <= flags <= 0xFFFF, "flags is not 16 bits", field="flags")
    need(name, 0 <= flags_hi <= 0xFFFF, "flagsHi is not 16 bits", field="flagsHi")
    if engine != "struct":
        check_engine(engine)
    need(
        name,
        bool(flags & _SEC_ENCRYPT) == (data_signature is not None),
        "dataSignature goes with SEC_ENCRYPT",
        field="dataSignature",
    )
    if data_signature is None:
        need(name, fips_padlen is None, "padlen needs SEC_ENCRYPT", field="padlen")
    else:
        need(name, len(data_signature) == 8, "dataSignature is not 8 bytes")
        if fips_padlen is not None:
            need(name, 0 <= fips_padlen <= 0xFF, "padlen is not a byte", field="padlen")
    if (
        engine == "struct"
        and fits_uint(flags_hi, 0xFFFF)
        and (data_signature is None or isinstance(data_signature, bytes | bytearray | memoryview))
        and (fips_padlen is None or fits_uint(fips_padlen, 0xFF))
    ):
        basic = _SEC_BASIC.pack(flags, flags_hi)
        if data_signature is None:
            return basic
        if fips_padlen is None:
            return basic + data_signature
        return basic + _SEC_FIPS.pack(0x10, 1, fips_padlen) + data_signature
    fips = fips_padlen is not None
    value = {
        "flags": flags,
        "flagsHi": flags_hi,
        "dataSignature": None if fips else data_signature,
        "fips": {"padlen": fips_padlen, "dataSignature": data_signature} if fips else None,
    }
    return build_checked(name, SECURITY_HEADER, value, fips=fips)


# --------------------------------------------------------------------------------------------
# Security Exchange PDU data (MS-RDPBCGR 2.2.1.10.1)

_SECURITY_EXCHANGE = Struct(
    "length" / construct.Rebuild(Int32ul, construct.len_(this.encryptedClientRandom)),
    "encryptedClientRandom" / Bytes(this.length),
)


@pdu_dataclass
class SecurityExchange:
    """TS_SECURITY_PACKET after its basic security header (SEC_EXCHANGE_PKT).

    ``encrypted_client_random`` is the whole field: the little-endian RSA ciphertext followed
    by its 8 zero bytes of padding (72 bytes for a 512-bit server key).
    """

    encrypted_client_random: bytes = spec("encryptedClientRandom")


def decode_security_exchange(data: bytes, *, engine: Engine = "struct") -> SecurityExchange:
    """Decode the Security Exchange PDU data that follows the basic security header."""
    if engine == "struct":
        if len(data) >= 4 and _U32.unpack_from(data)[0] == len(data) - 4:
            return SecurityExchange(data[4:])  # the usual input; construct reports errors
    else:
        check_engine(engine)
    parsed = parse_exact("TS_SECURITY_PACKET", _SECURITY_EXCHANGE, data)
    return SecurityExchange(parsed.encryptedClientRandom)


def encode_security_exchange(pdu: SecurityExchange) -> bytes:
    """Encode the Security Exchange PDU data (without its security header)."""
    return build_checked(
        "TS_SECURITY_PACKET",
        _SECURITY_EXCHANGE,
        {"encryptedClientRandom": pdu.encrypted_client_random},
    )


# --------------------------------------------------------------------------------------------
# Client Info PDU data (MS-RDPBCGR 2.2.1.11.1.1)


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


# --------------------------------------------------------------------------------------------
# Share Control and Share Data headers, Set Error Info, Demand Active (MS-RDPBCGR
# 2.2.8.1.1.1, 2.2.5.1, 2.2.1.13.1)

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


class ErrorInfo(enum.IntEnum):
    """errorInfo of the Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1): the licensing codes
    0x100-0x10A that a license server's refusals map to, and the common others."""

    ERRINFO_NONE = 0x00000000
    ERRINFO_RPC_INITIATED_DISCONNECT = 0x00000001
    ERRINFO_RPC_INITIATED_LOGOFF = 0x00000002
    ERRINFO_IDLE_TIMEOUT = 0x00000003
    ERRINFO_LOGON_TIMEOUT = 0x00000004
    ERRINFO_DISCONNECTED_BY_OTHERCONNECTION = 0x00000005
    ERRINFO_OUT_OF_MEMORY = 0x00000006
    ERRINFO_SERVER_DENIED_CONNECTION = 0x00000007
    ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES = 0x00000009
    ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED = 0x0000000A
    ERRINFO_RPC_INITIATED_DISCONNECT_BYUSER = 0x0000000B
    ERRINFO_LOGOFF_BY_USER = 0x0000000C
    ERRINFO_LICENSE_INTERNAL = 0x00000100
    ERRINFO_LICENSE_NO_LICENSE_SERVER = 0x00000101
    ERRINFO_LICENSE_NO_LICENSE = 0x00000102
    ERRINFO_LICENSE_BAD_CLIENT_MSG = 0x00000103
    ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE = 0x00000104
    ERRINFO_LICENSE_BAD_CLIENT_LICENSE = 0x00000105
    ERRINFO_LICENSE_CANT_FINISH_PROTOCOL = 0x00000106
    ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL = 0x00000107
    ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION = 0x00000108
    ERRINFO_LICENSE_CANT_UPGRADE_LICENSE = 0x00000109
    ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS = 0x0000010A
    ERRINFO_UNKNOWNPDUTYPE2 = 0x000010C9
    ERRINFO_UNKNOWNPDUTYPE = 0x000010CA
    ERRINFO_DATAPDUSEQUENCE = 0x000010CB
    ERRINFO_CONTROLPDUSEQUENCE = 0x000010CD
    ERRINFO_INVALIDCONTROLPDUACTION = 0x000010CE
    ERRINFO_INVALIDINPUTPDUTYPE = 0x000010CF
    ERRINFO_INVALIDINPUTPDUMOUSE = 0x000010D0
    ERRINFO_INVALIDREFRESHRECTPDU = 0x000010D1
    ERRINFO_CREATEUSERDATAFAILED = 0x000010D2
    ERRINFO_CONNECTFAILED = 0x000010D3
    ERRINFO_CONFIRMACTIVEWRONGSHAREID = 0x000010D4
    ERRINFO_CONFIRMACTIVEWRONGORIGINATOR = 0x000010D5
    ERRINFO_SECURITYDATATOOSHORT = 0x000010E0
    ERRINFO_DECRYPTFAILED = 0x00001192
    ERRINFO_ENCRYPTFAILED = 0x00001193
    ERRINFO_ENCPKGMISMATCH = 0x00001194
    ERRINFO_DECRYPTFAILED2 = 0x00001195


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


@pdu_dataclass
class SetErrorInfo:
    """TS_SET_ERROR_INFO_PDU (MS-RDPBCGR 2.2.5.1.1) with its share headers.

    Sent by the server before it disconnects; ``pdu_source`` is the server channel (1002).
    ``uncompressed_length`` is None when it is 8 (the value the spec examples use).  On the
    wire it is a `ShareDataPdu` of pduType2 PDUTYPE2_SET_ERROR_INFO_PDU whose data is errorInfo.
    """

    error_info: ErrorInfo | int = spec("errorInfo")
    pdu_source: int = spec("pduSource", default=1002)
    share_id: int = spec("shareId", default=0)
    stream_id: StreamId | int = spec("streamId", default=StreamId.STREAM_LOW)
    pad1: int = spec("pad1", default=0)
    compressed_type: int = spec("compressedType", default=0)
    compressed_length: int = spec("compressedLength", default=0)
    version: int = spec("pduType.version", default=TS_PROTOCOL_VERSION)
    uncompressed_length: int | None = spec("uncompressedLength", default=None)


def decode_set_error_info(data: bytes) -> SetErrorInfo:
    """Decode a Set Error Info PDU data (after its security header, if any)."""
    name = "TS_SET_ERROR_INFO_PDU"
    pdu = decode_share_data_pdu(data)
    if pdu.pdu_type2 != PduType2.PDUTYPE2_SET_ERROR_INFO_PDU:
        raise PduError(name, "pduType2 is not PDUTYPE2_SET_ERROR_INFO_PDU", field="pduType2")
    if len(pdu.data) != 4:
        raise PduError(name, f"errorInfo is 4 bytes, not {len(pdu.data)}", field="errorInfo")
    return SetErrorInfo(
        enum_or_int(ErrorInfo, int.from_bytes(pdu.data, "little")),
        pdu.pdu_source,
        pdu.share_id,
        pdu.stream_id,
        pdu.pad1,
        pdu.compressed_type,
        pdu.compressed_length,
        pdu.version,
        pdu.uncompressed_length,
    )


def encode_set_error_info(pdu: SetErrorInfo, *, engine: Engine = "struct") -> bytes:
    """Encode a Set Error Info PDU data (without security header)."""
    name = "TS_SET_ERROR_INFO_PDU"
    error_info = pdu.error_info
    in_range = isinstance(error_info, int) and 0 <= error_info <= 0xFFFFFFFF
    need(name, in_range, "errorInfo is not 32 bits", field="errorInfo")
    return encode_share_data_pdu(
        ShareDataPdu(
            PduType2.PDUTYPE2_SET_ERROR_INFO_PDU,
            int(error_info).to_bytes(4, "little"),
            pdu.share_id,
            pdu.pdu_source,
            pdu.stream_id,
            pdu.pad1,
            pdu.compressed_type,
            pdu.compressed_length,
            pdu.version,
            pdu.uncompressed_length,
        ),
        engine=engine,
    )


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
