"""Readers for the known-answer files of tests/data (provenance in their READMEs)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
CRYPTO = DATA / "crypto"
RDPELE = DATA / "rdpele"
WINDOWS = DATA / "windows"
BCGR = DATA / "bcgr"


def hex_file(path: Path) -> bytes:
    """The bytes of a hex dump file (whitespace ignored)."""
    return bytes.fromhex("".join(path.read_text(encoding="ascii").split()))


def json_file(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _blob(data: bytes, offset: int) -> tuple[bytes, int]:
    """A LICENSE_BINARY_BLOB at ``offset``: its data and the offset after it."""
    _, length = struct.unpack_from("<HH", data, offset)
    start = offset + 4
    return data[start : start + length], start + length


def spec_41_server_certificate() -> bytes:
    """The ServerCertificate blob data of MS-RDPELE 4.1 (SERVER_CERTIFICATE, X.509 chain)."""
    pdu = hex_file(RDPELE / "4.1-server-license-request.hex")
    offset = 4 + 32 + 4  # preamble, ServerRandom, ProductInfo.dwVersion
    for _ in range(2):  # cbCompanyName/pbCompanyName, cbProductId/pbProductId
        (length,) = struct.unpack_from("<I", pdu, offset)
        offset += 4 + length
    _, offset = _blob(pdu, offset)  # KeyExchangeList
    certificate, _ = _blob(pdu, offset)
    return certificate


def spec_43_license() -> bytes:
    """The LicenseInfo (pbLicenseInfo) that MS-RDPELE 4.3 sends back: a Windows license."""
    pdu = hex_file(RDPELE / "4.3-client-license-info.hex")
    offset = 4 + 4 + 4 + 32  # preamble, PreferredKeyExchangeAlg, PlatformId, ClientRandom
    _, offset = _blob(pdu, offset)  # EncryptedPreMasterSecret
    license_info, _ = _blob(pdu, offset)
    return license_info


def new_license_info_license(info: bytes) -> bytes:
    """pbLicenseInfo of a NEW_LICENSE_INFO (MS-RDPELE 2.2.2.6.1)."""
    offset = 4
    for _ in range(3):  # scope, company name, product id
        (length,) = struct.unpack_from("<I", info, offset)
        offset += 4 + length
    (length,) = struct.unpack_from("<I", info, offset)
    return info[offset + 4 : offset + 4 + length]


def windows_proprietary_certificate() -> bytes:
    """The SERVER_CERTIFICATE of the Windows Server capture (SC_SECURITY of frame 13)."""
    return _connect_response_certificate(hex_file(WINDOWS / "stdsec-conn2-frame13-s2c.hex"))


def spec_414_proprietary_certificate() -> bytes:
    """The SERVER_CERTIFICATE of MS-RDPBCGR 4.1.4 (Server MCS Connect Response, SC_SECURITY)."""
    return _connect_response_certificate(hex_file(BCGR / "4.1.4-server-mcs-connect-response.hex"))


def _connect_response_certificate(frame: bytes) -> bytes:
    """serverCertificate of the SC_SECURITY block (type 0x0C02) inside an MCS Connect Response."""
    offset = frame.find(b"\x02\x0c")
    while offset != -1:
        _, length = struct.unpack_from("<HH", frame, offset)
        if offset + length <= len(frame) and length > 20:
            _, _, random_len, cert_len = struct.unpack_from("<IIII", frame, offset + 4)
            start = offset + 20 + random_len
            if start + cert_len == offset + length:
                return frame[start : start + cert_len]
        offset = frame.find(b"\x02\x0c", offset + 1)
    raise AssertionError("no SC_SECURITY block in the frame")


def sc_security_certificate(block: bytes) -> bytes:
    """The serverCertificate of a Server Security Data block (MS-RDPBCGR 2.2.1.4.3)."""
    _, _, _, _, random_len, cert_len = struct.unpack_from("<HHIIII", block)
    start = 20 + random_len
    return block[start : start + cert_len]
