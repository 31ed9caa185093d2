"""What a Windows RD license server knows, independent of how it is stored.

The enumerations reproduce the values of the Windows licensing WMI classes
(``Win32_TSLicenseKeyPack``, ``Win32_TSIssuedLicense``; docs/license-server-behavior.md
R8, R9, R21) so that reports read like Windows' own; values Windows does not define
(the built-in pool as a key pack type, the "expired" license status, product
versions newer than Windows Server 2012) are extensions marked as such.

The value types the licensing core and the license server exchange (`ClientIdentity`,
`PresentedLicense`, `ProductVersion`, ...) belong to the core (`rdplic.core.decisions`) and
are re-exported here; the wire-level codes are pdu's (`pdu.licensing.ErrorCode`,
`StateTransition`, `pdu.rdp.ErrorInfo`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from rdplic.core.decisions import (
    HWID_LENGTH,
    ClientIdentity,
    PresentedLicense,
    ProductInfo,
    ProductVersion,
    ValidationStatus,
)

__all__ = [
    "CalType",
    "ClientIdentity",
    "HistoryEvent",
    "HistoryKind",
    "IssuedLicense",
    "KeyPack",
    "KeyPackType",
    "LicenseStatus",
    "LicensingProgram",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "ValidationStatus",
    "format_hwid",
    "parse_hwid",
    "to_utc",
]


def to_utc(moment: datetime) -> datetime:
    """`moment` as a timezone-aware UTC datetime; naive datetimes are refused (clock bugs)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every licensing time is timezone-aware UTC")
    return moment.astimezone(UTC)


def format_hwid(hwid: bytes) -> str:
    """The 20-byte CLIENT_HARDWARE_ID as 40 lower-case hex digits (how it is stored and shown)."""
    return hwid.hex()


def parse_hwid(text: str) -> bytes:
    """Hex (any case, optional ``0x``, spaces, colons or dashes) back to the 20-byte HWID."""
    cleaned = re.sub(r"[\s:\-]", "", text.strip())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"hardware id {text!r} is not hexadecimal") from None
    if len(raw) != HWID_LENGTH:
        raise ValueError(f"hardware id must be {HWID_LENGTH} bytes, got {len(raw)}")
    return raw


# ---------------------------------------------------------------------------------------------
# Key packs


class CalType(enum.IntEnum):
    """Win32_TSLicenseKeyPack.ProductType (R9)."""

    PER_DEVICE = 0
    PER_USER = 1

    @property
    def label(self) -> str:
        return "per-device" if self is CalType.PER_DEVICE else "per-user"

    @classmethod
    def parse(cls, text: str) -> CalType:
        """``per-device`` (also ``device``, and ``per-seat``: Windows 2000's name for
        per-device CALs, R19) or ``per-user`` (``user``)."""
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        if key in {"per-device", "device", "per-seat"}:
            return cls.PER_DEVICE
        if key in {"per-user", "user"}:
            return cls.PER_USER
        raise ValueError(f"CAL type {text!r} is not per-device or per-user")


class KeyPackType(enum.IntEnum):
    """Win32_TSLicenseKeyPack.KeyPackType (R9), plus the Windows 2000 built-in pool (R19).

    Windows shows the built-in pool as its own pool in the Licensing console but has no
    KeyPackType value for it; 7 is the emulator's [D].
    """

    UNKNOWN = 0
    RETAIL = 1
    VOLUME = 2
    CONCURRENT = 3
    TEMPORARY = 4
    OPEN = 5
    NOT_SUPPORTED = 6
    BUILT_IN = 7

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def purchased(self) -> bool:
        """Packs an administrator installs, whose CALs are counted and never over-issued (R16)."""
        return self in {
            KeyPackType.RETAIL,
            KeyPackType.VOLUME,
            KeyPackType.CONCURRENT,
            KeyPackType.OPEN,
        }

    @classmethod
    def parse(cls, text: str) -> KeyPackType:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {"retail_purchase": "retail", "volume_purchase": "volume", "open_license": "open"}
        key = aliases.get(key, key)
        for member in cls:
            if member.name.lower() == key:
                return member
        raise ValueError(f"key pack type {text!r} is not one of retail, volume, concurrent, open")


class LicensingProgram(enum.StrEnum):
    """How the CALs were bought (R11): retail license code, Open License, or an agreement.

    The agreement programs map to Windows' AgreementType 0-5.
    """

    RETAIL = "retail"
    OPEN = "open"
    SELECT = "select"
    ENTERPRISE_AGREEMENT = "enterprise-agreement"
    CAMPUS = "campus"
    SCHOOL = "school"
    SERVICE_PROVIDER = "service-provider"
    OTHER = "other"
    SYSTEM = "system"
    """Pools the server creates itself: temporary and built-in licenses."""

    @property
    def agreement_type(self) -> int | None:
        """AgreementType of InstallAgreementLicenseKeyPack (R11), None for retail/open."""
        order = [
            LicensingProgram.SELECT,
            LicensingProgram.ENTERPRISE_AGREEMENT,
            LicensingProgram.CAMPUS,
            LicensingProgram.SCHOOL,
            LicensingProgram.SERVICE_PROVIDER,
            LicensingProgram.OTHER,
        ]
        return order.index(self) if self in order else None

    @property
    def default_key_pack_type(self) -> KeyPackType:
        if self is LicensingProgram.RETAIL:
            return KeyPackType.RETAIL
        if self is LicensingProgram.OPEN:
            return KeyPackType.OPEN
        return KeyPackType.VOLUME

    @classmethod
    def parse(cls, text: str) -> LicensingProgram:
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        aliases = {
            "ea": "enterprise-agreement",
            "enterprise": "enterprise-agreement",
            "spla": "service-provider",
            "services-provider": "service-provider",
            "open-license": "open",
        }
        key = aliases.get(key, key)
        for member in cls:
            if member.value == key and member is not cls.SYSTEM:
                return member
        names = ", ".join(m.value for m in cls if m is not cls.SYSTEM)
        raise ValueError(f"licensing program {text!r} is not one of {names}")


@dataclass(frozen=True, slots=True)
class KeyPack:
    """One installation of CALs (R8, R10). Reissued CALs are another installation (R17).

    ``total`` is None for the pools without a cap: temporary licenses (R18) and the
    Windows 2000 built-in pool (R19). ``issued`` counts the licenses of this pack that
    are outstanding (temporary or active); revoked and reclaimed ones are back in
    ``available`` at once (R15).
    """

    key_pack_id: int
    product_version: ProductVersion
    cal_type: CalType
    key_pack_type: KeyPackType
    program: LicensingProgram
    total: int | None
    issued: int
    installed: datetime
    expires: datetime | None = None
    reissued: bool = False
    agreement_number: str = ""
    description: str = ""
    transferred_from: int | None = None
    """License id whose one-time transfer (KB 315262) produced this reissued pack."""
    removed: datetime | None = None

    @property
    def available(self) -> int | None:
        """AvailableLicenses = TotalLicenses - IssuedLicenses (R15); None when unlimited."""
        return None if self.total is None else self.total - self.issued

    def usable(self, now: datetime) -> bool:
        """Installed, not removed and (for programs with an end date) not expired."""
        return self.removed is None and (self.expires is None or now < self.expires)


# ---------------------------------------------------------------------------------------------
# Issued licenses and history


class LicenseStatus(enum.IntEnum):
    """Win32_TSIssuedLicense.LicenseStatus (R21), plus EXPIRED for reclaimed records [D]."""

    UNKNOWN = 0
    TEMPORARY = 1
    ACTIVE = 2
    UPGRADED = 3
    REVOKED = 4
    PENDING = 5
    CONCURRENT = 6
    EXPIRED = 7

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def outstanding(self) -> bool:
        """Counted in its key pack's IssuedLicenses (R15)."""
        return self in {LicenseStatus.TEMPORARY, LicenseStatus.ACTIVE}

    @classmethod
    def parse(cls, text: str) -> LicenseStatus:
        key = text.strip().lower()
        for member in cls:
            if member.name.lower() == key:
                return member
        names = ", ".join(m.name.lower() for m in cls)
        raise ValueError(f"license status {text!r} is not one of {names}")


@dataclass(frozen=True, slots=True)
class IssuedLicense:
    """One license the server handed out (R21), or a per-user CAL recorded against a user.

    ``key_pack_id`` is None only for a per-user CAL issued from the "over-used" pool
    when no per-user pack had one left (R16). ``temporary`` is the flag in the license
    blob the client holds; ``validated`` is R28's mark that the client logged on.
    """

    license_id: int
    key_pack_id: int | None
    cal_type: CalType
    hwid: bytes
    platform_id: int
    machine_name: str
    user_name: str
    product_version: ProductVersion
    status: LicenseStatus
    temporary: bool
    issued: datetime
    expires: datetime
    validated: bool = True
    revoked: datetime | None = None
    renewed: datetime | None = None
    upgraded_to: int | None = None
    transferred: bool = False

    def expired(self, now: datetime) -> bool:
        return self.expires <= now


class HistoryKind(enum.StrEnum):
    """Events of the append-only issuance history (nothing on the client side erases it, R24)."""

    ISSUED = "issued"
    RESENT = "resent"
    """A known device asked again and got the same license bits back (R23)."""
    VALIDATED = "validated"
    UPGRADED = "upgraded"
    RENEWED = "renewed"
    REVOKED = "revoked"
    EXPIRED = "expired"
    RECLAIMED = "reclaimed"
    TRANSFERRED = "transferred"
    REFUSED = "refused"
    KEYPACK_INSTALLED = "keypack-installed"
    KEYPACK_REMOVED = "keypack-removed"
    CLOCK_CHANGED = "clock-changed"
    CONFIG_CHANGED = "config-changed"


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of the issuance history."""

    event_id: int
    at: datetime
    kind: HistoryKind
    license_id: int | None = None
    key_pack_id: int | None = None
    hwid: bytes = b""
    machine_name: str = ""
    user_name: str = ""
    detail: str = ""
    rule: str = ""
    """The rule of docs/license-server-behavior.md that decided it (``R12``), or ''."""
    host: str = ""
    """The session host (terminal server name) it came through, '' for administration."""
