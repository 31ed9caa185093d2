"""The client's license store: an interface, and a dictionary that satisfies it.

MS-RDPELE 3.3.5.6 and 3.3.5.7: a client MAY keep the license a server sends
and index it by the NEW_LICENSE_INFO's dwVersion, pbScope, pbCompanyName and
pbProductId, replacing any license kept under the same index; 3.3.5.1 (and
its footnote): on a License Request it looks for a license issued for the
same scope, company and product, of the same version or a later one, and
presents it in a License Info.  Windows keeps them as
``HKLM\\SOFTWARE\\Microsoft\\MSLicensing\\Store\\LICENSE00n``; FreeRDP as one
file per server.  The core only needs `ClientLicenseStore`; file-backed
stores belong to the application, because the core does no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

__all__ = ["ClientLicenseStore", "LicenseKey", "MemoryLicenseStore"]


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class LicenseKey:
    """The index of a stored license (MS-RDPELE 3.3.5.6).

    Text is kept decoded, without its NUL terminator: the scope is ANSI on
    the wire, the company name and product id UTF-16LE, and they compare
    equal however the peer terminated them.

    :ivar version: dwVersion (high word: major version, low word: minor)
    :ivar scope: pbScope, e.g. ``"microsoft.com"``
    :ivar company_name: pbCompanyName, e.g. ``"Microsoft Corporation"``
    :ivar product_id: pbProductId, e.g. ``"A02"``
    """

    version: int
    scope: str
    company_name: str
    product_id: str

    def matches(self, other: LicenseKey) -> bool:
        """Whether a license under ``self`` may be presented for ``other`` (same or later)."""
        return (
            self.scope.casefold() == other.scope.casefold()
            and self.company_name == other.company_name
            and self.product_id == other.product_id
            and self.version >= other.version
        )


@runtime_checkable
class ClientLicenseStore(Protocol):
    """Where a client keeps the licenses servers issued to it."""

    def find(self, wanted: LicenseKey) -> tuple[LicenseKey, bytes] | None:
        """A stored license that may be presented for ``wanted``, with the key it is stored under.

        Returns the license of exactly ``wanted.version`` when there is one,
        otherwise the closest later version, otherwise None.
        """
        ...

    def store(self, key: LicenseKey, license_info: bytes) -> None:
        """Keep ``license_info`` (pbLicenseInfo) under ``key``, replacing what was there."""
        ...


class MemoryLicenseStore:
    """A `ClientLicenseStore` in a dictionary, for tests and short-lived simulated clients."""

    def __init__(self, licenses: dict[LicenseKey, bytes] | None = None) -> None:
        self.licenses: dict[LicenseKey, bytes] = dict(licenses or {})

    def find(self, wanted: LicenseKey) -> tuple[LicenseKey, bytes] | None:
        candidates = sorted(key for key in self.licenses if key.matches(wanted))
        if not candidates:
            return None
        key = candidates[0]
        return key, self.licenses[key]

    def store(self, key: LicenseKey, license_info: bytes) -> None:
        self.licenses[key] = license_info

    def __len__(self) -> int:
        return len(self.licenses)
