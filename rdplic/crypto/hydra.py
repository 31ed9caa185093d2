"""Microsoft's licensing certificate extensions ("Hydra", OID 1.3.6.1.4.1.311.18.*).

MS-RDPELE 2.2.2.9 defines the two structures a license server writes into
its certificates, as raw little-endian bytes inside the extension's OCTET
STRING; the other values below are as observed in Windows-issued licenses
(MS-RDPELE 4.1, 4.3/4.6; a Windows Server 2019 license in IronRDP's tests; a
Windows license in redemption's tests):

=====================  ==========================================================
1.3.6.1.4.1.311.18.4   certificate version, 4 bytes ``01 00 05 00``
1.3.6.1.4.1.311.18.2   manufacturer, UTF-16LE "Microsoft Corporation" + NUL
1.3.6.1.4.1.311.18.5   LICENSED_PRODUCT_INFO (2.2.2.9.1)
1.3.6.1.4.1.311.18.6   MS_LICENSE_SERVER_INFO (2.2.2.9.2)
1.3.6.1.4.1.311.18.9   4 bytes ``07 00 00 00`` in licenses from Windows Server 2019
=====================  ==========================================================

Windows appends zero bytes after both structures (4 after the version
information of LICENSED_PRODUCT_INFO, 2 after MS_LICENSE_SERVER_INFO); the
encoders do the same and the decoders follow the offsets, ignoring them.

The subject serialNumber of a client license (and of a terminal-server
certificate) is ``base64(HWID XOR mask) + CRLF`` where HWID is the 20-byte
CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1) and the mask a fixed 20-byte string.
The mask was recovered from redemption's Windows-issued license, whose
hardware id is known (``02000000`` + "CLT02", zero-padded), and checked
against two independent licenses: the MS-RDPELE 4.3 license decodes to the
hardware id MS-RDPELE 4.5 shows decrypted (``02000000 f159873e c9d898af
2402f8f3 293af026``), and the Windows Server 2019 license issued to FreeRDP
client "ubuntu2" decodes to FreeRDP's hardware id (``00000104`` +
MD5("ubuntu2")).
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

__all__ = [
    "HWID_SIZE",
    "HYDRA_CERT_VERSION",
    "LICENSE_ENFORCED",
    "MANUFACTURER",
    "OID_CERT_VERSION",
    "OID_LICENSED_PRODUCT_INFO",
    "OID_LICENSE_SERVER_INFO",
    "OID_LICENSE_SERVER_ROOT",
    "OID_MANUFACTURER",
    "OID_PRODUCT_SPECIFIC_9",
    "RTM_LICENSE",
    "TEMPORARY_LICENSE",
    "TERMINAL_SERVER_PRODUCT_ID",
    "LicenseServerInfo",
    "LicensedProductInfo",
    "LicensedVersionInfo",
    "decode_hwid_serial",
    "encode_hwid_serial",
    "utf16z",
]

OID_LICENSE_SERVER_ROOT = "1.3.6.1.4.1.311.18"
OID_MANUFACTURER = "1.3.6.1.4.1.311.18.2"
OID_CERT_VERSION = "1.3.6.1.4.1.311.18.4"
OID_LICENSED_PRODUCT_INFO = "1.3.6.1.4.1.311.18.5"
OID_LICENSE_SERVER_INFO = "1.3.6.1.4.1.311.18.6"
OID_PRODUCT_SPECIFIC_9 = "1.3.6.1.4.1.311.18.9"

HYDRA_CERT_VERSION = 0x00050001
"""Value of the 1.3.6.1.4.1.311.18.4 extension in every Windows sample."""
MANUFACTURER = "Microsoft Corporation"
TERMINAL_SERVER_PRODUCT_ID = "3d267954-eeb7-11d1-b94e-00c04fa3080d"
"""Product id in the LICENSED_PRODUCT_INFO of terminal-server certificates (MS-RDPELE 4.1)."""

LICENSE_ENFORCED = 0x00008000
RTM_LICENSE = 0x00800000
TEMPORARY_LICENSE = 0x80000000
"""ProductLicenseFlags of LICENSED_VERSION_INFO (MS-RDPELE 2.2.2.9.1.1)."""

_PRODUCT_INFO_VERSION = 0x00003000
_SERVER_INFO_V1 = 0x00001000
_SERVER_INFO_V2 = 0x00003000
_HWID_MASK = bytes.fromhex("d6170a792def158d7124582c088fb8eebe35798d")
HWID_SIZE = 20


def utf16z(text: str) -> bytes:
    """``text`` as UTF-16LE with a 2-byte NUL terminator."""
    return text.encode("utf-16-le") + b"\x00\x00"


def _read_utf16z(data: bytes, offset: int, byte_count: int | None = None) -> str:
    if offset < 0 or offset > len(data):
        raise ValueError("string offset outside the structure")
    if byte_count is None:
        end = offset
        while True:
            if end + 2 > len(data):
                raise ValueError("unterminated UTF-16 string")
            if data[end : end + 2] == b"\x00\x00":
                break
            end += 2
        raw = data[offset:end]
    else:
        if offset + byte_count > len(data) or byte_count % 2:
            raise ValueError("string runs past the structure")
        raw = data[offset : offset + byte_count]
        if raw.endswith(b"\x00\x00"):
            raw = raw[:-2]
    return raw.decode("utf-16-le")


@dataclass(frozen=True, slots=True)
class LicensedVersionInfo:
    """LICENSED_VERSION_INFO (MS-RDPELE 2.2.2.9.1.1)."""

    major: int
    minor: int
    flags: int

    @property
    def temporary(self) -> bool:
        """Whether TEMPORARY_LICENSE is set."""
        return bool(self.flags & TEMPORARY_LICENSE)


@dataclass(frozen=True, slots=True)
class LicensedProductInfo:
    """LICENSED_PRODUCT_INFO (MS-RDPELE 2.2.2.9.1), the 1.3.6.1.4.1.311.18.5 extension."""

    platform_id: int
    language_id: int
    requested_product_id: str
    adjusted_product_id: str
    version_info: tuple[LicensedVersionInfo, ...]
    license_count: int = 1
    version: int = _PRODUCT_INFO_VERSION

    def encode(self) -> bytes:
        """The structure followed by the 4 zero bytes Windows appends."""
        requested = utf16z(self.requested_product_id)
        adjusted = utf16z(self.adjusted_product_id)
        header = 28
        versions = b"".join(
            struct.pack("<HHI", v.major, v.minor, v.flags) for v in self.version_info
        )
        return (
            struct.pack(
                "<IIIIHHHHHH",
                self.version,
                self.license_count,
                self.platform_id,
                self.language_id,
                header,
                len(requested),
                header + len(requested),
                len(adjusted),
                header + len(requested) + len(adjusted),
                len(self.version_info),
            )
            + requested
            + adjusted
            + versions
            + bytes(4)
        )

    @classmethod
    def decode(cls, data: bytes) -> LicensedProductInfo:
        """Parse by the offsets in the header; raises ValueError when they do not fit."""
        if len(data) < 28:
            raise ValueError("LICENSED_PRODUCT_INFO shorter than its header")
        (
            version,
            count,
            platform_id,
            language_id,
            req_off,
            req_len,
            adj_off,
            adj_len,
            ver_off,
            ver_count,
        ) = struct.unpack_from("<IIIIHHHHHH", data)
        if ver_off + 8 * ver_count > len(data):
            raise ValueError("LICENSED_VERSION_INFO array runs past the structure")
        versions = tuple(
            LicensedVersionInfo(*struct.unpack_from("<HHI", data, ver_off + 8 * i))
            for i in range(ver_count)
        )
        return cls(
            version=version,
            license_count=count,
            platform_id=platform_id,
            language_id=language_id,
            requested_product_id=_read_utf16z(data, req_off, req_len),
            adjusted_product_id=_read_utf16z(data, adj_off, adj_len),
            version_info=versions,
        )


@dataclass(frozen=True, slots=True)
class LicenseServerInfo:
    """MS_LICENSE_SERVER_INFO (MS-RDPELE 2.2.2.9.2), the 1.3.6.1.4.1.311.18.6 extension.

    ``issuer_id`` is the license server's product id (e.g. "78440-006-5867045-70347");
    it is empty in the version 1 layout, which has no such field.
    """

    issuer_name: str
    issuer_id: str
    scope: str
    version: int = _SERVER_INFO_V2

    def encode(self) -> bytes:
        """The version 2 layout (the only one Windows was seen to write) plus 2 zero bytes."""
        name = utf16z(self.issuer_name)
        issuer_id = utf16z(self.issuer_id)
        scope = utf16z(self.scope)
        return (
            struct.pack("<IHHH", _SERVER_INFO_V2, 0, len(name), len(name) + len(issuer_id))
            + name
            + issuer_id
            + scope
            + bytes(2)
        )

    @classmethod
    def decode(cls, data: bytes) -> LicenseServerInfo:
        """Parse either layout; raises ValueError when offsets do not fit."""
        if len(data) < 8:
            raise ValueError("MS_LICENSE_SERVER_INFO shorter than its header")
        (version,) = struct.unpack_from("<I", data)
        if version == _SERVER_INFO_V2:
            if len(data) < 10:
                raise ValueError("MS_LICENSE_SERVER_INFO shorter than its header")
            name_off, id_off, scope_off = struct.unpack_from("<HHH", data, 4)
            body = data[10:]
            return cls(
                version=version,
                issuer_name=_read_utf16z(body, name_off),
                issuer_id=_read_utf16z(body, id_off),
                scope=_read_utf16z(body, scope_off),
            )
        name_off, scope_off = struct.unpack_from("<HH", data, 4)
        body = data[8:]
        return cls(
            version=version,
            issuer_name=_read_utf16z(body, name_off),
            issuer_id="",
            scope=_read_utf16z(body, scope_off),
        )


def encode_hwid_serial(hwid: bytes) -> str:
    """The subject serialNumber text for a 20-byte CLIENT_HARDWARE_ID."""
    if len(hwid) != HWID_SIZE:
        raise ValueError(f"hardware id must be {HWID_SIZE} bytes, got {len(hwid)}")
    masked = bytes(a ^ b for a, b in zip(hwid, _HWID_MASK, strict=True))
    return base64.b64encode(masked).decode("ascii") + "\r\n"


def decode_hwid_serial(text: str) -> bytes:
    """The 20-byte CLIENT_HARDWARE_ID from a subject serialNumber; ValueError if it is not one."""
    try:
        masked = base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("subject serialNumber is not base64") from None
    if len(masked) != HWID_SIZE:
        raise ValueError(f"subject serialNumber holds {len(masked)} bytes, not {HWID_SIZE}")
    return bytes(a ^ b for a, b in zip(masked, _HWID_MASK, strict=True))
