"""The server settings blocks (MS-RDPBCGR 2.2.1.4): TS_UD_SC_CORE (2.2.1.4.2), TS_UD_SC_SEC1
(2.2.1.4.3) and TS_UD_SC_NET (2.2.1.4.4).

Blocks of other types are kept as `UnknownBlock`; the server certificate inside SC_SECURITY
is kept as raw bytes (`pdu.certificates` decodes it).  SC_CORE's fields and SC_SEC1's fixed
part have a struct path; their construct definitions take what it declines and run alone
with ``engine="construct"``.  SC_NET has no construct definition: it is read and written by
hand on both engines.
"""

from __future__ import annotations

import dataclasses
import enum

from construct import Int32ul, Struct

from rdplic.pdu._types import Engine, check_engine, fits_uint, spec
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
    "EncryptionLevel",
    "ServerBlock",
    "ServerCoreData",
    "ServerEarlyCapabilityFlag",
    "ServerNetworkData",
    "ServerSecurityData",
    "decode_server_blocks",
    "encode_server_blocks",
]


class ServerEarlyCapabilityFlag(enum.IntFlag):
    """earlyCapabilityFlags of SC_CORE (MS-RDPBCGR 2.2.1.4.2)."""

    RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V1 = 0x00000001
    RNS_UD_SC_DYNAMIC_DST_SUPPORTED = 0x00000002
    RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V2 = 0x00000004
    RNS_UD_SC_SKIP_CHANNELJOIN_SUPPORTED = 0x00000008


class EncryptionLevel(enum.IntEnum):
    """encryptionLevel of SC_SECURITY (MS-RDPBCGR 2.2.1.4.3)."""

    ENCRYPTION_LEVEL_NONE = 0
    ENCRYPTION_LEVEL_LOW = 1
    ENCRYPTION_LEVEL_CLIENT_COMPATIBLE = 2
    ENCRYPTION_LEVEL_HIGH = 3
    ENCRYPTION_LEVEL_FIPS = 4


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


ServerBlock = ServerCoreData | ServerSecurityData | ServerNetworkData | UnknownBlock

_SC_CORE_OPTIONAL: tuple[OptionalField, ...] = (
    ("client_requested_protocols", Int32ul),
    ("early_capability_flags", Int32ul),
)
_SC_SECURITY_HEAD = Struct("encryptionMethod" / Int32ul, "encryptionLevel" / Int32ul)
_SC_SECURITY_KEYS = Struct(
    "serverRandomLen" / Int32ul,
    "serverCertLen" / Int32ul,
)
_SC_CORE_OPTIONAL_STRUCT = _optional_struct(_SC_CORE_OPTIONAL)


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


_SERVER_KNOWN = frozenset((UserDataType.SC_CORE, UserDataType.SC_SECURITY, UserDataType.SC_NET))
