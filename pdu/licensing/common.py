"""Building blocks shared by the licensing messages.

* LICENSE_BINARY_BLOB — MS-RDPBCGR 2.2.1.12.1.2
* PRODUCT_INFO — MS-RDPELE 2.2.2.1.1
* KeyExchangeList — MS-RDPELE 2.2.2.1 (a BB_KEY_EXCHG_ALG_BLOB of 32-bit algorithm ids)
* SCOPE_LIST and Scope — MS-RDPELE 2.2.2.1.2

Blob types are kept as decoded, whatever they are: Windows fills the type of
empty blobs with garbage (0x1428, 0x99F3) and uses undocumented types on
non-empty ones (0xF750 in MS-RDPELE 4.4), and the spec says to ignore them.
"""

from __future__ import annotations

from construct import Int16ul, Int32ul, Rebuild, Struct, len_, this

from rdplic.pdu._types import Ansi, Utf16, pdu_dataclass, spec
from rdplic.pdu.licensing._codec import CheckedPrefixedArray, ExactBytes, Record, UInt32Array
from rdplic.pdu.licensing.constants import BlobType, KeyExchangeAlg

__all__ = [
    "KEY_EXCHANGE_LIST",
    "LICENSE_BINARY_BLOB",
    "PRODUCT_INFO",
    "SCOPE",
    "SCOPE_LIST",
    "TEXT_BLOB",
    "KeyExchangeList",
    "LicenseBinaryBlob",
    "ProductInfo",
    "Scope",
    "ScopeList",
    "TextBlob",
]


@pdu_dataclass
class LicenseBinaryBlob:
    """LICENSE_BINARY_BLOB (MS-RDPBCGR 2.2.1.12.1.2): a typed, length-prefixed byte string.

    ``blob_type`` is whatever the peer sent (see the module docstring);
    wBlobLen is derived from ``blob_data``.
    """

    blob_type: BlobType | int = spec("wBlobType")
    blob_data: bytes = spec("blobData")


LICENSE_BINARY_BLOB = Record(
    LicenseBinaryBlob,
    Struct(
        "wBlobType" / Int16ul,
        "wBlobLen" / Rebuild(Int16ul, len_(this.blobData)),
        "blobData" / ExactBytes(this.wBlobLen),
    ),
)


@pdu_dataclass
class TextBlob:
    """A LICENSE_BINARY_BLOB holding NUL-terminated ANSI text.

    Used for ClientUserName (BB_CLIENT_USER_NAME_BLOB) and ClientMachineName
    (BB_CLIENT_MACHINE_NAME_BLOB) of MS-RDPELE 2.2.2.2; the bytes are kept
    as sent, NUL included.
    """

    blob_type: BlobType | int = spec("wBlobType")
    blob_data: Ansi = spec("blobData")


TEXT_BLOB = Record(TextBlob, LICENSE_BINARY_BLOB.subcon)


@pdu_dataclass
class ProductInfo:
    """PRODUCT_INFO (MS-RDPELE 2.2.2.1.1): what the server licenses.

    dwVersion: high word = major, low word = minor OS version of the terminal
    server (0x00060000 for Windows 2008-2012).  The names are UTF-16LE with
    their NUL terminator, as sent ("Microsoft Corporation", "A02").
    """

    version: int = spec("dwVersion")
    company_name: Utf16 = spec("pbCompanyName")
    product_id: Utf16 = spec("pbProductId")


PRODUCT_INFO = Record(
    ProductInfo,
    Struct(
        "dwVersion" / Int32ul,
        "cbCompanyName" / Rebuild(Int32ul, len_(this.pbCompanyName)),
        "pbCompanyName" / ExactBytes(this.cbCompanyName),
        "cbProductId" / Rebuild(Int32ul, len_(this.pbProductId)),
        "pbProductId" / ExactBytes(this.cbProductId),
    ),
)


@pdu_dataclass
class KeyExchangeList:
    """KeyExchangeList of SERVER_LICENSE_REQUEST (MS-RDPELE 2.2.2.1).

    A BB_KEY_EXCHG_ALG_BLOB whose data is an array of 32-bit algorithm ids;
    only KEY_EXCHANGE_ALG_RSA exists.  A blob length that is not a multiple of
    four is malformed.
    """

    blob_type: BlobType | int = spec("wBlobType")
    algorithms: tuple[KeyExchangeAlg | int, ...] = spec("dwKeyExchangeAlg")


KEY_EXCHANGE_LIST = Record(
    KeyExchangeList,
    Struct(
        "wBlobType" / Int16ul,
        "wBlobLen" / Rebuild(Int16ul, len_(this.dwKeyExchangeAlg) * 4),
        "dwKeyExchangeAlg" / UInt32Array(ExactBytes(this.wBlobLen)),
    ),
)


@pdu_dataclass
class Scope:
    """Scope (MS-RDPELE 2.2.2.1.2.1): a BB_SCOPE_BLOB naming the license issuer.

    The name is NUL-terminated ANSI; Windows sends "microsoft.com" (footnote 7).
    """

    blob_type: BlobType | int = spec("wBlobType")
    issuer: Ansi = spec("blobData")


SCOPE = Record(Scope, LICENSE_BINARY_BLOB.subcon)


@pdu_dataclass
class ScopeList:
    """SCOPE_LIST (MS-RDPELE 2.2.2.1.2): ScopeCount then that many Scope blobs.

    ScopeCount is derived; a count the remaining bytes cannot hold (each
    Scope takes at least 4) fails before any Scope is parsed.
    """

    scopes: tuple[Scope, ...] = spec("ScopeArray")


SCOPE_LIST = Record(
    ScopeList,
    Struct("ScopeArray" / CheckedPrefixedArray(Int32ul, SCOPE, min_size=4)),
)
