"""How the license service gets the bytes of a license: an injected signer.

The service decides *what* to issue; producing the CAL certificate (an X.509 leaf
signed by the license server, protocol.md "CAL") is rdplic/crypto's job. The service
builds `LicenseFields` and calls ``signer.sign(fields)`` inside the store transaction
that records the license, so the blob a client receives is always in the store.

`LicenseFields` has the same field names as ``rdplic.crypto.license.LicenseFields``;
`CryptoLicenseSigner` adapts ``rdplic.crypto.license.issue_license`` to the protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["CryptoLicenseSigner", "DigestSigner", "LicenseFields", "LicenseSigner"]


@dataclass(frozen=True, slots=True)
class LicenseFields:
    """Everything a CAL says about itself (MS-RDPELE 2.2.2.9.1, protocol.md "CAL")."""

    license_id: int
    hwid: bytes
    client_machine_name: str
    client_user_name: str
    platform_id: int
    product_major: int
    product_minor: int
    temporary: bool
    issued: datetime
    expires: datetime
    product_id: str = "A02"
    company: str = "Microsoft Corporation"


class LicenseSigner(Protocol):
    """Turns license fields into the license blob the client stores (pbLicenseInfo)."""

    def sign(self, fields: LicenseFields) -> bytes: ...


class DigestSigner:
    """A deterministic stand-in signer: a readable header plus a SHA-256 of the fields.

    Not a CAL a Windows client would accept; useful where only the issuance logic
    matters (tests, dry runs of the administration commands).
    """

    def sign(self, fields: LicenseFields) -> bytes:
        data: dict[str, Any] = dataclasses.asdict(fields)
        data["hwid"] = fields.hwid.hex()
        data["issued"] = fields.issued.isoformat()
        data["expires"] = fields.expires.isoformat()
        text = json.dumps(data, sort_keys=True).encode()
        return b"RDPLIC-TEST-LICENSE\x00" + hashlib.sha256(text).digest() + text


class CryptoLicenseSigner:
    """Adapts ``rdplic.crypto.license.issue_license(issuer, fields)`` to `LicenseSigner`."""

    def __init__(self, issuer: object) -> None:
        self._issuer = issuer
        # Imported here so that the licensing package does not need the crypto helper's
        # module to exist (or be importable) to be used with another signer.
        self._crypto = importlib.import_module("rdplic.crypto.license")

    def sign(self, fields: LicenseFields) -> bytes:
        crypto_fields = self._crypto.LicenseFields(**_as_kwargs(fields))
        blob = self._crypto.issue_license(self._issuer, crypto_fields)
        return bytes(blob)


def _as_kwargs(fields: LicenseFields) -> dict[str, Any]:
    return {f.name: getattr(fields, f.name) for f in dataclasses.fields(fields)}
