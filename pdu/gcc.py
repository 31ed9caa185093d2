"""GCC Conference Create Request / Response and the RDP settings blocks they carry.

The ``userData`` of the MCS Connect-Initial / Connect-Response (`pdu.mcs`) is a T.124
ConnectData ([T124] sections 8.7, 9.5, 9.6; aligned PER) whose ConnectGCCPDU carries one
H.221 non-standard user data set: the concatenated RDP blocks of MS-RDPBCGR 2.2.1.3
(client: CS_CORE, CS_SECURITY, CS_NET, CS_CLUSTER, ...) and 2.2.1.4 (server: SC_CORE,
SC_SECURITY, SC_NET, ...).  Blocks of other types are kept as `UnknownBlock` (type, bytes).

Every real client sends the same T.124 header (conference name "1", key "Duca"; the server
answers with key "McDn"), differing only in the PER length forms: rdesktop writes every length
in the two-byte form.  Windows servers put a bogus connectPDU length in the response (0x2A,
whatever the real length); it is kept in ``connect_pdu_length`` (None when the length is
right).  The server certificate inside SC_SECURITY is kept as raw bytes; `pdu.certificates`
decodes it.

The blocks are decoded once per connection, on the path of every handshake: their fixed-size
parts have a struct path (precompiled `struct` formats) beside the construct definitions, which
take whatever it declines and report every error.  Every decoder and encoder here takes
``engine=``; with ``engine="construct"`` the construct definitions run alone.  The parts
without a construct definition (TS_UD_HEADER, CS_NET's channelCount, SC_NET, the T.124 PER
around the blocks) are read and written by hand on both engines.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import Any

import construct
from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct

from pdu._types import Ansi, Engine, Utf16, check_engine, fits_uint, spec
from pdu.errors import PduError, guarded
from pdu.framing import (
    OptionalField,
    Protocol,
    build_checked,
    build_optional_tail,
    enum_or_int,
    need,
    parse_exact,
    parse_optional_tail,
)

__all__ = [
    "ChannelDef",
    "ChannelOption",
    "ClientBlock",
    "ClientClusterData",
    "ClientCoreData",
    "ClientNetworkData",
    "ClientSecurityData",
    "ClusterFlag",
    "ColorDepth",
    "ConferenceCreateRequest",
    "ConferenceCreateResponse",
    "ConnectionType",
    "EarlyCapabilityFlag",
    "EncryptionLevel",
    "EncryptionMethod",
    "HighColorDepth",
    "RdpVersion",
    "ServerBlock",
    "ServerCoreData",
    "ServerEarlyCapabilityFlag",
    "ServerNetworkData",
    "ServerSecurityData",
    "SupportedColorDepth",
    "UnknownBlock",
    "UserDataType",
    "decode_client_blocks",
    "decode_conference_create_request",
    "decode_conference_create_response",
    "decode_server_blocks",
    "encode_client_blocks",
    "encode_conference_create_request",
    "encode_conference_create_response",
    "encode_server_blocks",
]


# --------------------------------------------------------------------------------------------
# Enumerations


class UserDataType(enum.IntEnum):
    """TS_UD_HEADER type (MS-RDPBCGR 2.2.1.3.1)."""

    CS_CORE = 0xC001
    CS_SECURITY = 0xC002
    CS_NET = 0xC003
    CS_CLUSTER = 0xC004
    CS_MONITOR = 0xC005
    CS_MCS_MSGCHANNEL = 0xC006
    CS_MONITOR_EX = 0xC008
    CS_MULTITRANSPORT = 0xC00A
    CS_UNUSED1 = 0xC00C
    SC_CORE = 0x0C01
    SC_SECURITY = 0x0C02
    SC_NET = 0x0C03
    SC_MCS_MSGCHANNEL = 0x0C04
    SC_MULTITRANSPORT = 0x0C08


class RdpVersion(enum.IntEnum):
    """The version field of CS_CORE / SC_CORE (MS-RDPBCGR 2.2.1.3.2)."""

    RDP_VERSION_4 = 0x00080001
    RDP_VERSION_5_PLUS = 0x00080004
    RDP_VERSION_10_0 = 0x00080005
    RDP_VERSION_10_1 = 0x00080006
    RDP_VERSION_10_2 = 0x00080007
    RDP_VERSION_10_3 = 0x00080008
    RDP_VERSION_10_4 = 0x00080009
    RDP_VERSION_10_5 = 0x0008000A
    RDP_VERSION_10_6 = 0x0008000B
    RDP_VERSION_10_7 = 0x0008000C
    RDP_VERSION_10_8 = 0x0008000D
    RDP_VERSION_10_9 = 0x0008000E
    RDP_VERSION_10_10 = 0x0008000F
    RDP_VERSION_10_11 = 0x00080010
    RDP_VERSION_10_12 = 0x00080011


class ColorDepth(enum.IntEnum):
    """colorDepth / postBeta2ColorDepth of CS_CORE."""

    RNS_UD_COLOR_4BPP = 0xCA00
    RNS_UD_COLOR_8BPP = 0xCA01
    RNS_UD_COLOR_16BPP_555 = 0xCA02
    RNS_UD_COLOR_16BPP_565 = 0xCA03
    RNS_UD_COLOR_24BPP = 0xCA04


class HighColorDepth(enum.IntEnum):
    """highColorDepth of CS_CORE."""

    HIGH_COLOR_4BPP = 0x0004
    HIGH_COLOR_8BPP = 0x0008
    HIGH_COLOR_15BPP = 0x000F
    HIGH_COLOR_16BPP = 0x0010
    HIGH_COLOR_24BPP = 0x0018


class SupportedColorDepth(enum.IntFlag):
    """supportedColorDepths of CS_CORE."""

    RNS_UD_24BPP_SUPPORT = 0x0001
    RNS_UD_16BPP_SUPPORT = 0x0002
    RNS_UD_15BPP_SUPPORT = 0x0004
    RNS_UD_32BPP_SUPPORT = 0x0008


class EarlyCapabilityFlag(enum.IntFlag):
    """earlyCapabilityFlags of CS_CORE (the server sends Set Error Info only with the first)."""

    RNS_UD_CS_SUPPORT_ERRINFO_PDU = 0x0001
    RNS_UD_CS_WANT_32BPP_SESSION = 0x0002
    RNS_UD_CS_SUPPORT_STATUSINFO_PDU = 0x0004
    RNS_UD_CS_STRONG_ASYMMETRIC_KEYS = 0x0008
    RNS_UD_CS_RELATIVE_MOUSE_INPUT = 0x0010
    RNS_UD_CS_VALID_CONNECTION_TYPE = 0x0020
    RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU = 0x0040
    RNS_UD_CS_SUPPORT_NETCHAR_AUTODETECT = 0x0080
    RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL = 0x0100
    RNS_UD_CS_SUPPORT_DYNAMIC_TIME_ZONE = 0x0200
    RNS_UD_CS_SUPPORT_HEARTBEAT_PDU = 0x0400
    RNS_UD_CS_SUPPORT_SKIP_CHANNELJOIN = 0x0800


class ConnectionType(enum.IntEnum):
    """connectionType of CS_CORE."""

    CONNECTION_TYPE_MODEM = 0x01
    CONNECTION_TYPE_BROADBAND_LOW = 0x02
    CONNECTION_TYPE_SATELLITE = 0x03
    CONNECTION_TYPE_BROADBAND_HIGH = 0x04
    CONNECTION_TYPE_WAN = 0x05
    CONNECTION_TYPE_LAN = 0x06
    CONNECTION_TYPE_AUTODETECT = 0x07


class ServerEarlyCapabilityFlag(enum.IntFlag):
    """earlyCapabilityFlags of SC_CORE (MS-RDPBCGR 2.2.1.4.2)."""

    RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V1 = 0x00000001
    RNS_UD_SC_DYNAMIC_DST_SUPPORTED = 0x00000002
    RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V2 = 0x00000004
    RNS_UD_SC_SKIP_CHANNELJOIN_SUPPORTED = 0x00000008


class EncryptionMethod(enum.IntFlag):
    """encryptionMethods (CS_SECURITY) / encryptionMethod (SC_SECURITY), 2.2.1.3.3."""

    ENCRYPTION_METHOD_NONE = 0x00000000
    ENCRYPTION_METHOD_40BIT = 0x00000001
    ENCRYPTION_METHOD_128BIT = 0x00000002
    ENCRYPTION_METHOD_56BIT = 0x00000008
    ENCRYPTION_METHOD_FIPS = 0x00000010


class EncryptionLevel(enum.IntEnum):
    """encryptionLevel of SC_SECURITY (MS-RDPBCGR 2.2.1.4.3)."""

    ENCRYPTION_LEVEL_NONE = 0
    ENCRYPTION_LEVEL_LOW = 1
    ENCRYPTION_LEVEL_CLIENT_COMPATIBLE = 2
    ENCRYPTION_LEVEL_HIGH = 3
    ENCRYPTION_LEVEL_FIPS = 4


class ChannelOption(enum.IntFlag):
    """CHANNEL_DEF options (MS-RDPBCGR 2.2.1.3.4.1)."""

    CHANNEL_OPTION_REMOTE_CONTROL_PERSISTENT = 0x00100000
    CHANNEL_OPTION_SHOW_PROTOCOL = 0x00200000
    CHANNEL_OPTION_COMPRESS = 0x00400000
    CHANNEL_OPTION_COMPRESS_RDP = 0x00800000
    CHANNEL_OPTION_PRI_LOW = 0x02000000
    CHANNEL_OPTION_PRI_MED = 0x04000000
    CHANNEL_OPTION_PRI_HIGH = 0x08000000
    CHANNEL_OPTION_ENCRYPT_CS = 0x10000000
    CHANNEL_OPTION_ENCRYPT_SC = 0x20000000
    CHANNEL_OPTION_ENCRYPT_RDP = 0x40000000
    CHANNEL_OPTION_INITIALIZED = 0x80000000


class ClusterFlag(enum.IntFlag):
    """CS_CLUSTER flags (MS-RDPBCGR 2.2.1.3.5); bits 2-5 are the redirection version."""

    REDIRECTION_SUPPORTED = 0x00000001
    REDIRECTED_SESSIONID_FIELD_VALID = 0x00000002
    REDIRECTED_SMARTCARD = 0x00000040


# --------------------------------------------------------------------------------------------
# Blocks


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownBlock:
    """A settings block this module does not decode: its TS_UD_HEADER type and its body."""

    type: UserDataType | int = spec("type")
    data: bytes = spec("data")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientCoreData:
    """TS_UD_CS_CORE (MS-RDPBCGR 2.2.1.3.2).

    Every field from postBeta2ColorDepth on is optional: a client may end the block after any
    of them (None from the first absent one).  ``trailing`` keeps bytes after the last field
    read (a partial field, or fields newer than this module).  Text fields are raw bytes:
    clientName (32 bytes), imeFileName and clientDigProductId (64 bytes), UTF-16LE.
    """

    version: RdpVersion | int = spec("version")
    desktop_width: int = spec("desktopWidth")
    desktop_height: int = spec("desktopHeight")
    color_depth: ColorDepth | int = spec("colorDepth")
    sas_sequence: int = spec("SASSequence")
    keyboard_layout: int = spec("keyboardLayout")
    client_build: int = spec("clientBuild")
    client_name: Utf16 = spec("clientName")
    keyboard_type: int = spec("keyboardType")
    keyboard_sub_type: int = spec("keyboardSubType")
    keyboard_function_key: int = spec("keyboardFunctionKey")
    ime_file_name: Utf16 = spec("imeFileName")
    post_beta2_color_depth: ColorDepth | int | None = spec("postBeta2ColorDepth", default=None)
    client_product_id: int | None = spec("clientProductId", default=None)
    serial_number: int | None = spec("serialNumber", default=None)
    high_color_depth: HighColorDepth | int | None = spec("highColorDepth", default=None)
    supported_color_depths: SupportedColorDepth | None = spec("supportedColorDepths", default=None)
    early_capability_flags: EarlyCapabilityFlag | None = spec("earlyCapabilityFlags", default=None)
    client_dig_product_id: Utf16 | None = spec("clientDigProductId", default=None)
    connection_type: ConnectionType | int | None = spec("connectionType", default=None)
    pad1octet: int | None = spec("pad1octet", default=None)
    server_selected_protocol: Protocol | None = spec("serverSelectedProtocol", default=None)
    desktop_physical_width: int | None = spec("desktopPhysicalWidth", default=None)
    desktop_physical_height: int | None = spec("desktopPhysicalHeight", default=None)
    desktop_orientation: int | None = spec("desktopOrientation", default=None)
    desktop_scale_factor: int | None = spec("desktopScaleFactor", default=None)
    device_scale_factor: int | None = spec("deviceScaleFactor", default=None)
    trailing: bytes = spec("trailing", default=b"")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientSecurityData:
    """TS_UD_CS_SEC (MS-RDPBCGR 2.2.1.3.3)."""

    encryption_methods: EncryptionMethod = spec("encryptionMethods")
    ext_encryption_methods: int = spec("extEncryptionMethods", default=0)


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelDef:
    """CHANNEL_DEF (MS-RDPBCGR 2.2.1.3.4.1); name is the 8 raw bytes (NUL-padded ANSI)."""

    name: Ansi = spec("name")
    options: ChannelOption = spec("options")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientNetworkData:
    """TS_UD_CS_NET (MS-RDPBCGR 2.2.1.3.4); channelCount is derived."""

    channels: tuple[ChannelDef, ...] = spec("channelDefArray", default=())


@dataclasses.dataclass(frozen=True, slots=True)
class ClientClusterData:
    """TS_UD_CS_CLUSTER (MS-RDPBCGR 2.2.1.3.5)."""

    flags: ClusterFlag = spec("Flags")
    redirected_session_id: int = spec("RedirectedSessionID", default=0)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerCoreData:
    """TS_UD_SC_CORE (MS-RDPBCGR 2.2.1.4.2); the last two fields are optional."""

    version: RdpVersion | int = spec("version")
    client_requested_protocols: Protocol | None = spec("clientRequestedProtocols", default=None)
    early_capability_flags: ServerEarlyCapabilityFlag | None = spec(
        "earlyCapabilityFlags", default=None
    )
    trailing: bytes = spec("trailing", default=b"")


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSecurityData:
    """TS_UD_SC_SEC1 (MS-RDPBCGR 2.2.1.4.3).

    ``server_random`` and ``server_certificate`` are None when the block ends after
    encryptionLevel (no encryption: method and level 0).  The certificate stays raw bytes
    (SERVER_CERTIFICATE, decoded by `pdu.certificates`).
    """

    encryption_method: EncryptionMethod = spec("encryptionMethod")
    encryption_level: EncryptionLevel | int = spec("encryptionLevel")
    server_random: bytes | None = spec("serverRandom", default=None)
    server_certificate: bytes | None = spec("serverCertificate", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerNetworkData:
    """TS_UD_SC_NET (MS-RDPBCGR 2.2.1.4.4).

    ``padding`` is None when the block is padded as the spec says (two zero bytes after an
    odd channel count, none after an even one); otherwise it holds the bytes actually sent.
    """

    mcs_channel_id: int = spec("MCSChannelId")
    channel_ids: tuple[int, ...] = spec("channelIdArray", default=())
    padding: bytes | None = spec("Pad", default=None)


ClientBlock = (
    ClientCoreData | ClientSecurityData | ClientNetworkData | ClientClusterData | UnknownBlock
)
ServerBlock = ServerCoreData | ServerSecurityData | ServerNetworkData | UnknownBlock

_CS_CORE_FIXED = Struct(
    "version" / Int32ul,
    "desktopWidth" / Int16ul,
    "desktopHeight" / Int16ul,
    "colorDepth" / Int16ul,
    "SASSequence" / Int16ul,
    "keyboardLayout" / Int32ul,
    "clientBuild" / Int32ul,
    "clientName" / Bytes(32),
    "keyboardType" / Int32ul,
    "keyboardSubType" / Int32ul,
    "keyboardFunctionKey" / Int32ul,
    "imeFileName" / Bytes(64),
)
_CS_CORE_FIXED_SIZE = _CS_CORE_FIXED.sizeof()
_CS_CORE_FIXED_FIELDS = tuple(
    f.name for f in dataclasses.fields(ClientCoreData)[: len(_CS_CORE_FIXED.subcons)]
)
_CS_CORE_OPTIONAL: tuple[OptionalField, ...] = (
    ("post_beta2_color_depth", Int16ul),
    ("client_product_id", Int16ul),
    ("serial_number", Int32ul),
    ("high_color_depth", Int16ul),
    ("supported_color_depths", Int16ul),
    ("early_capability_flags", Int16ul),
    ("client_dig_product_id", Bytes(64)),
    ("connection_type", Int8ul),
    ("pad1octet", Int8ul),
    ("server_selected_protocol", Int32ul),
    ("desktop_physical_width", Int32ul),
    ("desktop_physical_height", Int32ul),
    ("desktop_orientation", Int16ul),
    ("desktop_scale_factor", Int32ul),
    ("device_scale_factor", Int32ul),
)
_CS_CORE_TYPES: dict[str, Any] = {
    "post_beta2_color_depth": lambda v: enum_or_int(ColorDepth, v),
    "high_color_depth": lambda v: enum_or_int(HighColorDepth, v),
    "supported_color_depths": SupportedColorDepth,
    "early_capability_flags": EarlyCapabilityFlag,
    "connection_type": lambda v: enum_or_int(ConnectionType, v),
    "server_selected_protocol": Protocol,
}
_CS_SECURITY = Struct("encryptionMethods" / Int32ul, "extEncryptionMethods" / Int32ul)
_CS_CLUSTER = Struct("Flags" / Int32ul, "RedirectedSessionID" / Int32ul)
_CHANNEL_DEF = Struct("name" / Bytes(8), "options" / Int32ul)
_SC_CORE_OPTIONAL: tuple[OptionalField, ...] = (
    ("client_requested_protocols", Int32ul),
    ("early_capability_flags", Int32ul),
)
_SC_SECURITY_HEAD = Struct("encryptionMethod" / Int32ul, "encryptionLevel" / Int32ul)
_SC_SECURITY_KEYS = Struct(
    "serverRandomLen" / Int32ul,
    "serverCertLen" / Int32ul,
)


# The struct path: precompiled `struct` formats equivalent to the construct definitions above
# (which decode what it declines, build most blocks, and which tests compare it with).


def _struct_of(con: Any) -> struct.Struct | None:
    """The `struct` format of a fixed-size little-endian field, None for anything else."""
    if isinstance(con, construct.FormatField):
        return struct.Struct(con.fmtstr)
    if isinstance(con, construct.Bytes) and isinstance(con.length, int):
        return struct.Struct(f"{con.length}s")
    return None


def _optional_struct(
    fields: tuple[OptionalField, ...],
) -> tuple[tuple[str, struct.Struct], ...] | None:
    formats = tuple((name, _struct_of(con)) for name, con in fields)
    if any(fmt is None for _, fmt in formats):
        return None
    return tuple((name, fmt) for name, fmt in formats if fmt is not None)


def _optional_tail(
    structure: str,
    data: bytes,
    fields: tuple[OptionalField, ...],
    formats: tuple[tuple[str, struct.Struct], ...] | None,
    engine: Engine,
) -> tuple[dict[str, Any], bytes]:
    """`parse_optional_tail`, with `struct` on the struct engine when every field has a
    fixed size (``formats``, from `_optional_struct`): same values, same rest."""
    if engine != "struct" or formats is None:
        return parse_optional_tail(structure, data, fields)
    values: dict[str, Any] = {}
    offset = 0
    for name, fmt in formats:
        if len(data) - offset < fmt.size:
            break
        values[name] = fmt.unpack_from(data, offset)[0]
        offset += fmt.size
    return values, data[offset:]


def _limits(con: Any) -> tuple[tuple[bool, int], ...]:
    """Per field of a Struct of fixed-size fields: (False, largest integer) for an integer,
    (True, exact length) for ``Bytes``."""
    limits = []
    for field in con.subcons:
        if isinstance(field.subcon, construct.FormatField):
            limits.append((False, 2 ** (8 * field.subcon.length) - 1))
        else:
            limits.append((True, field.subcon.length))
    return tuple(limits)


_CS_CORE_FIXED_STRUCT = struct.Struct("<IHHHHII32sIII64s")
assert _CS_CORE_FIXED_STRUCT.size == _CS_CORE_FIXED_SIZE  # INVARIANT: same layout
_CS_CORE_FIXED_LIMITS = _limits(_CS_CORE_FIXED)
_CS_CORE_OPTIONAL_STRUCT = _optional_struct(_CS_CORE_OPTIONAL)
_SC_CORE_OPTIONAL_STRUCT = _optional_struct(_SC_CORE_OPTIONAL)
_TWO_UINT32 = struct.Struct("<II")
_CHANNEL_DEF_STRUCT = struct.Struct("<8sI")


def _decode_cs_core(body: bytes, engine: Engine) -> ClientCoreData:
    if len(body) < _CS_CORE_FIXED_SIZE:
        raise PduError(
            "TS_UD_CS_CORE", f"{len(body)} bytes, the fixed part needs {_CS_CORE_FIXED_SIZE}"
        )
    if engine == "struct":
        fixed = _CS_CORE_FIXED_STRUCT.unpack_from(body)
    else:
        parsed = parse_exact("TS_UD_CS_CORE", _CS_CORE_FIXED, body[:_CS_CORE_FIXED_SIZE])
        fixed = tuple(parsed[con.name] for con in _CS_CORE_FIXED.subcons)
    values, trailing = _optional_tail(
        "TS_UD_CS_CORE",
        body[_CS_CORE_FIXED_SIZE:],
        _CS_CORE_OPTIONAL,
        _CS_CORE_OPTIONAL_STRUCT,
        engine,
    )
    for name, convert in _CS_CORE_TYPES.items():
        if name in values:
            values[name] = convert(values[name])
    return ClientCoreData(
        enum_or_int(RdpVersion, fixed[0]),
        fixed[1],
        fixed[2],
        enum_or_int(ColorDepth, fixed[3]),
        fixed[4],
        fixed[5],
        fixed[6],
        fixed[7],
        fixed[8],
        fixed[9],
        fixed[10],
        fixed[11],
        trailing=trailing,
        **values,
    )


def _encode_cs_core(block: ClientCoreData, engine: Engine) -> bytes:
    fixed = _cs_core_fixed_struct(block) if engine == "struct" else None
    if fixed is None:
        fixed = build_checked(
            "TS_UD_CS_CORE",
            _CS_CORE_FIXED,
            {
                con.name: getattr(block, name)
                for con, name in zip(_CS_CORE_FIXED.subcons, _CS_CORE_FIXED_FIELDS, strict=True)
            },
        )
    tail = build_optional_tail("TS_UD_CS_CORE", block, _CS_CORE_OPTIONAL, block.trailing)
    return fixed + tail


def _cs_core_fixed_struct(block: ClientCoreData) -> bytes | None:
    """The fixed part with `struct` when every value fits as construct would write it (an
    int in range, the two byte strings of exactly their size); None to let construct write
    or refuse it."""
    values = [getattr(block, name) for name in _CS_CORE_FIXED_FIELDS]
    for value, (is_bytes, limit) in zip(values, _CS_CORE_FIXED_LIMITS, strict=True):
        if is_bytes:
            if not (isinstance(value, bytes) and len(value) == limit):
                return None
        elif not fits_uint(value, limit):
            return None
    return _CS_CORE_FIXED_STRUCT.pack(*values)


def _decode_cs_net(body: bytes, engine: Engine) -> ClientNetworkData:
    if len(body) < 4:
        raise PduError("TS_UD_CS_NET", "shorter than channelCount", field="channelCount")
    count = int.from_bytes(body[:4], "little")
    if len(body) != 4 + 12 * count:
        raise PduError(
            "TS_UD_CS_NET",
            f"channelCount {count} needs {4 + 12 * count} bytes, the block has {len(body)}",
            field="channelCount",
        )
    channels = []
    for offset in range(4, len(body), 12):
        if engine == "struct":
            name, options = _CHANNEL_DEF_STRUCT.unpack_from(body, offset)
        else:
            item = parse_exact("CHANNEL_DEF", _CHANNEL_DEF, body[offset : offset + 12])
            name, options = item.name, item.options
        channels.append(ChannelDef(name, ChannelOption(options)))
    return ClientNetworkData(tuple(channels))


def _encode_cs_net(block: ClientNetworkData) -> bytes:
    parts = [len(block.channels).to_bytes(4, "little")]
    for channel in block.channels:
        parts.append(
            build_checked(
                "CHANNEL_DEF", _CHANNEL_DEF, {"name": channel.name, "options": channel.options}
            )
        )
    return b"".join(parts)


def _decode_sc_core(body: bytes, engine: Engine) -> ServerCoreData:
    if len(body) < 4:
        raise PduError("TS_UD_SC_CORE", "shorter than version", field="version")
    values, trailing = _optional_tail(
        "TS_UD_SC_CORE", body[4:], _SC_CORE_OPTIONAL, _SC_CORE_OPTIONAL_STRUCT, engine
    )
    protocols = values.get("client_requested_protocols")
    flags = values.get("early_capability_flags")
    return ServerCoreData(
        enum_or_int(RdpVersion, int.from_bytes(body[:4], "little")),
        None if protocols is None else Protocol(protocols),
        None if flags is None else ServerEarlyCapabilityFlag(flags),
        trailing,
    )


def _uint32_pair_struct(first: object, second: object) -> bytes | None:
    """Two UINT32 little-endian with `struct` when both fit (else None: construct decides)."""
    if fits_uint(first, 0xFFFFFFFF) and fits_uint(second, 0xFFFFFFFF):
        return _TWO_UINT32.pack(first, second)
    return None


def _encode_sc_core(block: ServerCoreData, engine: Engine) -> bytes:
    value = block.version
    if engine == "struct" and fits_uint(value, 0xFFFFFFFF):
        version = value.to_bytes(4, "little")
    else:
        version = build_checked("TS_UD_SC_CORE", Int32ul, value)
    return version + build_optional_tail("TS_UD_SC_CORE", block, _SC_CORE_OPTIONAL, block.trailing)


def _decode_sc_security(body: bytes, engine: Engine) -> ServerSecurityData:
    if len(body) < 8:
        raise PduError("TS_UD_SC_SEC1", "shorter than encryptionMethod and encryptionLevel")
    if engine == "struct":
        encryption_method, encryption_level = _TWO_UINT32.unpack_from(body)
    else:
        head = parse_exact("TS_UD_SC_SEC1", _SC_SECURITY_HEAD, body[:8])
        encryption_method, encryption_level = head.encryptionMethod, head.encryptionLevel
    method = EncryptionMethod(encryption_method)
    level = enum_or_int(EncryptionLevel, encryption_level)
    if len(body) == 8:
        return ServerSecurityData(method, level)
    if len(body) < 16:
        raise PduError("TS_UD_SC_SEC1", "shorter than serverRandomLen and serverCertLen")
    if engine == "struct":
        random_length, certificate_length = _TWO_UINT32.unpack_from(body, 8)
    else:
        keys = parse_exact("TS_UD_SC_SEC1", _SC_SECURITY_KEYS, body[8:16])
        random_length, certificate_length = keys.serverRandomLen, keys.serverCertLen
    if 16 + random_length + certificate_length != len(body):
        raise PduError(
            "TS_UD_SC_SEC1",
            f"serverRandomLen {random_length} and serverCertLen {certificate_length}"
            f" do not fill the {len(body) - 16} bytes left",
            field="serverRandomLen",
        )
    random_end = 16 + random_length
    return ServerSecurityData(method, level, body[16:random_end], body[random_end:])


def _encode_sc_security(block: ServerSecurityData, engine: Engine) -> bytes:
    head = None
    if engine == "struct":
        head = _uint32_pair_struct(block.encryption_method, block.encryption_level)
    if head is None:
        head = build_checked(
            "TS_UD_SC_SEC1",
            _SC_SECURITY_HEAD,
            {
                "encryptionMethod": block.encryption_method,
                "encryptionLevel": block.encryption_level,
            },
        )
    if block.server_random is None and block.server_certificate is None:
        return head
    need(
        "TS_UD_SC_SEC1",
        block.server_random is not None and block.server_certificate is not None,
        "serverRandom and serverCertificate go together",
        field="serverRandom",
    )
    random = block.server_random or b""
    certificate = block.server_certificate or b""
    keys = None
    if engine == "struct":
        keys = _uint32_pair_struct(len(random), len(certificate))
    if keys is None:
        keys = build_checked(
            "TS_UD_SC_SEC1",
            _SC_SECURITY_KEYS,
            {"serverRandomLen": len(random), "serverCertLen": len(certificate)},
        )
    return head + keys + random + certificate


def _decode_sc_net(body: bytes) -> ServerNetworkData:
    if len(body) < 4:
        raise PduError("TS_UD_SC_NET", "shorter than MCSChannelId and channelCount")
    channel = int.from_bytes(body[:2], "little")
    count = int.from_bytes(body[2:4], "little")
    end = 4 + 2 * count
    if end > len(body):
        raise PduError(
            "TS_UD_SC_NET",
            f"channelCount {count} needs {end} bytes, the block has {len(body)}",
            field="channelCount",
        )
    ids = tuple(int.from_bytes(body[i : i + 2], "little") for i in range(4, end, 2))
    padding = body[end:]
    if len(padding) > 2:
        raise PduError("TS_UD_SC_NET", f"{len(padding)} bytes after channelIdArray", offset=end)
    return ServerNetworkData(
        channel, ids, None if padding == _sc_net_default_padding(count) else padding
    )


def _sc_net_default_padding(count: int) -> bytes:
    return b"\x00\x00" if count % 2 else b""


def _encode_sc_net(block: ServerNetworkData) -> bytes:
    count = len(block.channel_ids)
    need("TS_UD_SC_NET", count <= 0xFFFF, "too many channels", field="channelCount")
    need(
        "TS_UD_SC_NET",
        0 <= block.mcs_channel_id <= 0xFFFF,
        "bad MCSChannelId",
        field="MCSChannelId",
    )
    need(
        "TS_UD_SC_NET",
        all(0 <= i <= 0xFFFF for i in block.channel_ids),
        "a channel id is not 16 bits",
        field="channelIdArray",
    )
    padding = block.padding
    if padding is None:
        padding = _sc_net_default_padding(count)
    need("TS_UD_SC_NET", len(padding) <= 2, "padding longer than 2 bytes", field="Pad")
    return (
        block.mcs_channel_id.to_bytes(2, "little")
        + count.to_bytes(2, "little")
        + b"".join(i.to_bytes(2, "little") for i in block.channel_ids)
        + padding
    )


def _split_blocks(structure: str, data: bytes) -> list[tuple[int, bytes]]:
    blocks = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise PduError(structure, "truncated TS_UD_HEADER", offset=offset)
        block_type = int.from_bytes(data[offset : offset + 2], "little")
        length = int.from_bytes(data[offset + 2 : offset + 4], "little")
        if length < 4 or offset + length > len(data):
            raise PduError(
                structure,
                f"block 0x{block_type:04x} length {length} does not fit the"
                f" {len(data) - offset} bytes left",
                field="TS_UD_HEADER.length",
                offset=offset + 2,
            )
        blocks.append((block_type, data[offset + 4 : offset + length]))
        offset += length
    return blocks


def _join_block(structure: str, block_type: int, body: bytes) -> bytes:
    need(structure, 0 <= block_type <= 0xFFFF, "block type is not 16 bits", field="type")
    need(structure, len(body) + 4 <= 0xFFFF, "block longer than 65535 bytes", field="length")
    return block_type.to_bytes(2, "little") + (len(body) + 4).to_bytes(2, "little") + body


def decode_client_blocks(data: bytes, *, engine: Engine = "struct") -> tuple[ClientBlock, ...]:
    """Decode the concatenated client settings blocks (MS-RDPBCGR 2.2.1.3), in wire order."""
    if engine != "struct":
        check_engine(engine)
    blocks: list[ClientBlock] = []
    for block_type, body in _split_blocks("ClientData", data):
        if block_type == UserDataType.CS_CORE:
            blocks.append(_decode_cs_core(body, engine))
        elif block_type == UserDataType.CS_SECURITY:
            if engine == "struct" and len(body) == 8:
                methods, ext_methods = _TWO_UINT32.unpack(body)
            else:
                sec = parse_exact("TS_UD_CS_SEC", _CS_SECURITY, body)
                methods, ext_methods = sec.encryptionMethods, sec.extEncryptionMethods
            blocks.append(ClientSecurityData(EncryptionMethod(methods), ext_methods))
        elif block_type == UserDataType.CS_NET:
            blocks.append(_decode_cs_net(body, engine))
        elif block_type == UserDataType.CS_CLUSTER:
            if engine == "struct" and len(body) == 8:
                flags, session_id = _TWO_UINT32.unpack(body)
            else:
                cluster = parse_exact("TS_UD_CS_CLUSTER", _CS_CLUSTER, body)
                flags, session_id = cluster.Flags, cluster.RedirectedSessionID
            blocks.append(ClientClusterData(ClusterFlag(flags), session_id))
        else:
            blocks.append(UnknownBlock(enum_or_int(UserDataType, block_type), body))
    return tuple(blocks)


def encode_client_blocks(blocks: tuple[ClientBlock, ...], *, engine: Engine = "struct") -> bytes:
    """Encode client settings blocks, each with its TS_UD_HEADER."""
    if engine != "struct":
        check_engine(engine)
    parts = []
    for block in blocks:
        if isinstance(block, ClientCoreData):
            body = _encode_cs_core(block, engine)
            parts.append(_join_block("ClientData", UserDataType.CS_CORE, body))
        elif isinstance(block, ClientSecurityData):
            body = build_checked(
                "TS_UD_CS_SEC",
                _CS_SECURITY,
                {
                    "encryptionMethods": block.encryption_methods,
                    "extEncryptionMethods": block.ext_encryption_methods,
                },
            )
            parts.append(_join_block("ClientData", UserDataType.CS_SECURITY, body))
        elif isinstance(block, ClientNetworkData):
            parts.append(_join_block("ClientData", UserDataType.CS_NET, _encode_cs_net(block)))
        elif isinstance(block, ClientClusterData):
            body = build_checked(
                "TS_UD_CS_CLUSTER",
                _CS_CLUSTER,
                {"Flags": block.flags, "RedirectedSessionID": block.redirected_session_id},
            )
            parts.append(_join_block("ClientData", UserDataType.CS_CLUSTER, body))
        elif isinstance(block, UnknownBlock):
            need(
                "ClientData",
                block.type not in _CLIENT_KNOWN,
                f"type 0x{block.type:04x} must be encoded from its own class",
                field="type",
            )
            parts.append(_join_block("ClientData", block.type, block.data))
        else:
            raise PduError("ClientData", f"cannot encode {type(block).__name__}")
    return b"".join(parts)


_CLIENT_KNOWN = frozenset(
    (UserDataType.CS_CORE, UserDataType.CS_SECURITY, UserDataType.CS_NET, UserDataType.CS_CLUSTER)
)
_SERVER_KNOWN = frozenset((UserDataType.SC_CORE, UserDataType.SC_SECURITY, UserDataType.SC_NET))


def decode_server_blocks(data: bytes, *, engine: Engine = "struct") -> tuple[ServerBlock, ...]:
    """Decode the concatenated server settings blocks (MS-RDPBCGR 2.2.1.4), in wire order."""
    if engine != "struct":
        check_engine(engine)
    blocks: list[ServerBlock] = []
    for block_type, body in _split_blocks("ServerData", data):
        if block_type == UserDataType.SC_CORE:
            blocks.append(_decode_sc_core(body, engine))
        elif block_type == UserDataType.SC_SECURITY:
            blocks.append(_decode_sc_security(body, engine))
        elif block_type == UserDataType.SC_NET:
            blocks.append(_decode_sc_net(body))
        else:
            blocks.append(UnknownBlock(enum_or_int(UserDataType, block_type), body))
    return tuple(blocks)


def encode_server_blocks(blocks: tuple[ServerBlock, ...], *, engine: Engine = "struct") -> bytes:
    """Encode server settings blocks, each with its TS_UD_HEADER."""
    if engine != "struct":
        check_engine(engine)
    parts = []
    for block in blocks:
        if isinstance(block, ServerCoreData):
            body = _encode_sc_core(block, engine)
            parts.append(_join_block("ServerData", UserDataType.SC_CORE, body))
        elif isinstance(block, ServerSecurityData):
            body = _encode_sc_security(block, engine)
            parts.append(_join_block("ServerData", UserDataType.SC_SECURITY, body))
        elif isinstance(block, ServerNetworkData):
            parts.append(_join_block("ServerData", UserDataType.SC_NET, _encode_sc_net(block)))
        elif isinstance(block, UnknownBlock):
            need(
                "ServerData",
                block.type not in _SERVER_KNOWN,
                f"type 0x{block.type:04x} must be encoded from its own class",
                field="type",
            )
            parts.append(_join_block("ServerData", block.type, block.data))
        else:
            raise PduError("ServerData", f"cannot encode {type(block).__name__}")
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# T.124 ConnectData / ConnectGCCPDU (aligned PER)

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
