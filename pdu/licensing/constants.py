"""Enumerated values of the licensing PDUs (MS-RDPBCGR 2.2.1.12, MS-RDPELE 2.2.2).

Names and values are the spec's.  Fields that carry these values are typed
``Enum | int``: a value the spec does not list decodes to a plain ``int`` and
re-encodes unchanged, because Windows does send such values (junk blob types,
MS-RDPELE 2.2.2.4 and footnotes 12-13).
"""

from __future__ import annotations

import enum

__all__ = [
    "CLIENT_IMAGE_ID_MASK",
    "CLIENT_OS_ID_MASK",
    "LICENSE_PROTOCOL_VERSION_MASK",
    "PLATFORM_CHALLENGE_RESPONSE_VERSION",
    "BlobType",
    "ClientImageId",
    "ClientOsId",
    "ClientType",
    "ErrorCode",
    "KeyExchangeAlg",
    "LicenseDetailLevel",
    "MsgType",
    "PreambleFlags",
    "PreambleVersion",
    "StateTransition",
]


class MsgType(enum.IntEnum):
    """LICENSE_PREAMBLE.bMsgType (MS-RDPBCGR 2.2.1.12.1.1)."""

    # Sent by the server.
    LICENSE_REQUEST = 0x01
    PLATFORM_CHALLENGE = 0x02
    NEW_LICENSE = 0x03
    UPGRADE_LICENSE = 0x04
    # Sent by the client.
    LICENSE_INFO = 0x12
    NEW_LICENSE_REQUEST = 0x13
    PLATFORM_CHALLENGE_RESPONSE = 0x15
    # Sent by either.
    ERROR_ALERT = 0xFF


LICENSE_PROTOCOL_VERSION_MASK = 0x0F
"""LICENSE_PREAMBLE.flags: the low nibble is the license protocol version."""


class PreambleVersion(enum.IntEnum):
    """LicenseProtocolVersionMask values of LICENSE_PREAMBLE.flags (MS-RDPBCGR 2.2.1.12.1.1)."""

    PREAMBLE_VERSION_2_0 = 0x2  # RDP 4.0
    PREAMBLE_VERSION_3_0 = 0x3  # RDP 5.0 and later


class PreambleFlags(enum.IntFlag):
    """High nibble of LICENSE_PREAMBLE.flags (MS-RDPBCGR 2.2.1.12.1.1).

    Windows clients set EXTENDED_ERROR_MSG_SUPPORTED (0x83); servers must not
    (FreeRDP found that it crashed mstsc).  Undefined bits are kept as decoded.
    """

    EXTENDED_ERROR_MSG_SUPPORTED = 0x80


class BlobType(enum.IntEnum):
    """LICENSE_BINARY_BLOB.wBlobType (MS-RDPBCGR 2.2.1.12.1.2).

    The type is not validated anywhere: the spec's own examples use 0xF750
    (MS-RDPELE 4.4) and 0x0001 where the text says 0x0009 (4.5), and empty
    blobs carry garbage types (0x1428, 0x99F3).
    """

    BB_DATA_BLOB = 0x0001
    BB_RANDOM_BLOB = 0x0002
    BB_CERTIFICATE_BLOB = 0x0003
    BB_ERROR_BLOB = 0x0004
    BB_RSA_KEY_BLOB = 0x0006
    BB_RSA_SIGNATURE_BLOB = 0x0008
    BB_ENCRYPTED_DATA_BLOB = 0x0009
    BB_KEY_EXCHG_ALG_BLOB = 0x000D
    BB_SCOPE_BLOB = 0x000E
    BB_CLIENT_USER_NAME_BLOB = 0x000F
    BB_CLIENT_MACHINE_NAME_BLOB = 0x0010


class KeyExchangeAlg(enum.IntEnum):
    """KeyExchangeList entries and PreferredKeyExchangeAlg (MS-RDPELE 2.2.2.1, 2.2.2.2)."""

    KEY_EXCHANGE_ALG_RSA = 0x00000001


class ErrorCode(enum.IntEnum):
    """LICENSE_ERROR_MESSAGE.dwErrorCode (MS-RDPBCGR 2.2.1.12.1.3)."""

    ERR_INVALID_SERVER_CERTIFICATE = 0x00000001
    ERR_NO_LICENSE = 0x00000002
    ERR_INVALID_MAC = 0x00000003
    ERR_INVALID_SCOPE = 0x00000004
    ERR_NO_LICENSE_SERVER = 0x00000006
    STATUS_VALID_CLIENT = 0x00000007
    ERR_INVALID_CLIENT = 0x00000008
    ERR_INVALID_PRODUCTID = 0x0000000B
    ERR_INVALID_MESSAGE_LEN = 0x0000000C


class StateTransition(enum.IntEnum):
    """LICENSE_ERROR_MESSAGE.dwStateTransition (MS-RDPBCGR 2.2.1.12.1.3, MS-RDPELE 3.1.5.3)."""

    ST_TOTAL_ABORT = 0x00000001
    ST_NO_TRANSITION = 0x00000002
    ST_RESET_PHASE_TO_START = 0x00000003
    ST_RESEND_LAST_MESSAGE = 0x00000004


PLATFORM_CHALLENGE_RESPONSE_VERSION = 0x0100
"""PLATFORM_CHALLENGE_RESPONSE_DATA.wVersion "MUST be set to 0x0100" (MS-RDPELE 2.2.2.5.1)."""


class ClientType(enum.IntEnum):
    """PLATFORM_CHALLENGE_RESPONSE_DATA.wClientType (MS-RDPELE 2.2.2.5.1)."""

    WIN32_PLATFORMCHALLENGE_TYPE = 0x0100
    WIN16_PLATFORMCHALLENGE_TYPE = 0x0200
    WINCE_PLATFORMCHALLENGE_TYPE = 0x0300
    OTHER_PLATFORMCHALLENGE_TYPE = 0xFF00


class LicenseDetailLevel(enum.IntEnum):
    """PLATFORM_CHALLENGE_RESPONSE_DATA.wLicenseDetailLevel (MS-RDPELE 2.2.2.5.1)."""

    LICENSE_DETAIL_SIMPLE = 0x0001
    LICENSE_DETAIL_MODERATE = 0x0002
    LICENSE_DETAIL_DETAIL = 0x0003


CLIENT_OS_ID_MASK = 0xFF000000
"""PlatformId: the most significant byte is the client's operating system (MS-RDPELE 2.2.2.2)."""

CLIENT_IMAGE_ID_MASK = 0x00FF0000
"""PlatformId: the second byte names the vendor of the client image (MS-RDPELE 2.2.2.2)."""


class ClientOsId(enum.IntEnum):
    """OS identifiers of PlatformId's top byte (MS-RDPELE 2.2.2.2, footnote 9)."""

    CLIENT_OS_ID_WINNT_351 = 0x01000000
    CLIENT_OS_ID_WINNT_40 = 0x02000000
    CLIENT_OS_ID_WINNT_50 = 0x03000000
    CLIENT_OS_ID_WINNT_POST_52 = 0x04000000  # Windows 5.2 to 6.3
    CLIENT_OS_ID_WINNT_POST_100 = 0x08000000  # Windows 10.0 and later


class ClientImageId(enum.IntEnum):
    """ISV identifiers of PlatformId's second byte (MS-RDPELE 2.2.2.2, footnote 10)."""

    CLIENT_IMAGE_ID_MICROSOFT = 0x00010000
    CLIENT_IMAGE_ID_CITRIX = 0x00020000
