"""What the client and server settings blocks share (MS-RDPBCGR 2.2.1.3, 2.2.1.4).

The TS_UD_HEADER block types (2.2.1.3.1), the RDP version of CS_CORE and SC_CORE (2.2.1.3.2,
2.2.1.4.2), the encryption methods of CS_SECURITY and SC_SECURITY (2.2.1.3.3, 2.2.1.4.3), and
`UnknownBlock`, the type and bytes of a block that `pdu.gcc` does not decode.
"""

from __future__ import annotations

import dataclasses
import enum

from rdplic.pdu._types import spec

__all__ = [
    "EncryptionMethod",
    "RdpVersion",
    "UnknownBlock",
    "UserDataType",
]


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


class EncryptionMethod(enum.IntFlag):
    """encryptionMethods (CS_SECURITY) / encryptionMethod (SC_SECURITY), 2.2.1.3.3."""

    ENCRYPTION_METHOD_NONE = 0x00000000
    ENCRYPTION_METHOD_40BIT = 0x00000001
    ENCRYPTION_METHOD_128BIT = 0x00000002
    ENCRYPTION_METHOD_56BIT = 0x00000008
    ENCRYPTION_METHOD_FIPS = 0x00000010


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownBlock:
    """A settings block this module does not decode: its TS_UD_HEADER type and its body."""

    type: UserDataType | int = spec("type")
    data: bytes = spec("data")
