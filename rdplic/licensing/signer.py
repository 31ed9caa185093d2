"""How the license service gets the bytes of a license: an injected signer.

The service decides *what* to issue; producing the CAL (a PKCS#7 bundle holding the
client license certificate signed by the license server, `rdplic.crypto.license`)
is crypto's job. The service builds ``rdplic.crypto.license.LicenseFields`` and
calls ``signer.sign(fields)`` inside the store transaction that records the license,
so the blob a client receives is always in the store (architecture invariant 6).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Protocol

from rdplic.crypto.license import LicenseFields, LicenseServerIdentity, issue_license

__all__ = ["CryptoLicenseSigner", "DigestSigner", "LicenseFields", "LicenseSigner"]


class LicenseSigner(Protocol):
    """Turns license fields into the license blob the client stores (pbLicenseInfo)."""

    def sign(self, fields: LicenseFields) -> bytes: ...


class CryptoLicenseSigner:
    """Licenses as Windows issues them, signed by the license server's key."""

    def __init__(self, issuer: LicenseServerIdentity) -> None:
        self._issuer = issuer

    def sign(self, fields: LicenseFields) -> bytes:
        return issue_license(self._issuer, fields)


class DigestSigner:
    """A deterministic stand-in: a readable header, a SHA-256 and the fields as JSON.

    Not a CAL a client would accept; for tests and dry runs where only the issuance
    logic matters.
    """

    def sign(self, fields: LicenseFields) -> bytes:
        data: dict[str, Any] = {f.name: getattr(fields, f.name) for f in dataclasses.fields(fields)}
        data["hwid"] = fields.hwid.hex()
        data["issued"] = fields.issued.isoformat()
        data["expires"] = fields.expires.isoformat()
        text = json.dumps(data, sort_keys=True).encode()
        return b"RDPLIC-TEST-LICENSE\x00" + hashlib.sha256(text).digest() + text
