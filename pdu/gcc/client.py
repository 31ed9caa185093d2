"""The client settings blocks (MS-RDPBCGR 2.2.1.3): TS_UD_CS_CORE (2.2.1.3.2), TS_UD_CS_SEC
(2.2.1.3.3), TS_UD_CS_NET with its CHANNEL_DEFs (2.2.1.3.4), TS_UD_CS_CLUSTER (2.2.1.3.5).

Blocks of other types are kept as `UnknownBlock`.  The fixed-size parts of CS_CORE,
CS_SEC, CS_CLUSTER and CHANNEL_DEF have a struct path; their construct definitions take what
it declines and run alone with ``engine="construct"``.  CS_NET's channelCount has no
construct definition: it is checked by hand on both engines.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import Any

import construct
from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct

from rdplic.pdu._types import Ansi, Engine, Utf16, check_engine, fits_uint, spec
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    OptionalField,
    Protocol,
    build_checked,
    build_optional_tail,
    enum_or_int,
    need,
    parse_exact,
)
from rdplic.pdu.gcc._blocks import (
    _TWO_UINT32,
    _join_block,
    _optional_struct,
    _optional_tail,
    _split_blocks,
)
from rdplic.pdu.gcc.common import EncryptionMethod, RdpVersion, UnknownBlock, UserDataType

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
    "ConnectionType",
    "EarlyCapabilityFlag",
    "HighColorDepth",
    "SupportedColorDepth",
    "decode_client_blocks",
    "encode_client_blocks",
]


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


ClientBlock = (
    ClientCoreData | ClientSecurityData | ClientNetworkData | ClientClusterData | UnknownBlock
)

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
