"""What a Windows RD license server knows, independent of how it is stored.

The enumerations reproduce the values of the Windows licensing WMI classes
(``Win32_TSLicenseKeyPack``, ``Win32_TSIssuedLicense``; docs/license-server-behavior.md
R8, R9, R21) so that reports read like Windows' own; values Windows does not define
(the built-in pool as a key pack type, the "expired" license status, product
versions newer than Windows Server 2012) are extensions marked as such.

The wire-level codes the host sends (MS-RDPBCGR 2.2.1.12.1.3, MS-RDPBCGR 2.2.5.1.1)
are plain IntEnums here so that this package does not depend on ``pdu/``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "CalType",
    "ClientIdentity",
    "ErrorInfo",
    "HistoryEvent",
    "HistoryKind",
    "IssuedLicense",
    "KeyPack",
    "KeyPackType",
    "LicenseStatus",
    "LicensingErrorCode",
    "LicensingProgram",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "StateTransition",
    "ValidationStatus",
    "format_hwid",
    "parse_hwid",
    "to_utc",
]

HWID_LENGTH = 20
"""CLIENT_HARDWARE_ID is PlatformId plus four DWORDs (MS-RDPELE 2.2.2.3.1)."""


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
# Product versions


_VERSION_TITLES: dict[tuple[int, int], str] = {
    (5, 0): "Windows 2000 Server",
    (5, 2): "Windows Server 2003",
    (6, 0): "Windows Server 2008",
    (6, 1): "Windows Server 2008 R2",
    (6, 2): "Windows Server 2012",
    (6, 3): "Windows Server 2012 R2",
    (10, 0): "Windows Server 2016",
    (10, 1): "Windows Server 2019",
    (10, 2): "Windows Server 2022",
    (10, 3): "Windows Server 2025",
}

# The R2 releases share the CAL of the release before them: a "2008 R2 and earlier" CAL
# serves 2008 and 2008 R2 hosts, a 2012 CAL serves 2012 and 2012 R2 hosts (R38).
_GENERATION: dict[tuple[int, int], tuple[int, int]] = {(6, 1): (6, 0), (6, 3): (6, 2)}

# WMI ProductVersionID (R9): 2 = 2008, 3 = 2008 R2, 4 = 2012. 0/1 are "not supported" there;
# the emulator uses them for 2000/2003 and extends the enum for 2016+ (R9 [D]).
_PRODUCT_VERSION_ID: dict[tuple[int, int], int] = {
    (5, 0): 0,
    (5, 2): 1,
    (6, 0): 2,
    (6, 1): 3,
    (6, 2): 4,
    (6, 3): 4,
    (10, 0): 5,
    (10, 1): 6,
    (10, 2): 7,
    (10, 3): 8,
}

# Windows release names accepted wherever a version is typed ("--version 2019").
_RELEASE_NAMES: dict[str, tuple[int, int]] = {
    "2000": (5, 0),
    "2003": (5, 2),
    "2008": (6, 0),
    "2008r2": (6, 1),
    "2012": (6, 2),
    "2012r2": (6, 3),
    "2016": (10, 0),
    "2019": (10, 1),
    "2022": (10, 2),
    "2025": (10, 3),
}


@dataclass(frozen=True, slots=True, order=True)
class ProductVersion:
    """A CAL product version, major.minor as in LICENSED_VERSION_INFO (MS-RDPELE 2.2.2.9.1).

    Windows CALs carry the release they license: "A02-6.00-S" is a 2008 CAL, "A02-10.01-S"
    a 2019 CAL (docs/protocol.md, observed). Versions of 2022 and 2025 CALs are not documented;
    the emulator continues the series (10.2, 10.3) [D].
    """

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ProductVersion:
        """ "10.1", "6.0", or a release name such as "2019" or "2008R2"."""
        key = text.strip().lower().replace(" ", "").replace("windowsserver", "")
        if key in _RELEASE_NAMES:
            return cls(*_RELEASE_NAMES[key])
        match = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", key)
        if not match:
            raise ValueError(
                f"product version {text!r} is neither MAJOR.MINOR (e.g. 10.1) "
                f"nor a release ({', '.join(sorted(_RELEASE_NAMES))})"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def generation(self) -> tuple[int, int]:
        """The CAL family this version belongs to, for the compatibility rule of R38."""
        key = (self.major, self.minor)
        return _GENERATION.get(key, key)

    def serves(self, host: ProductVersion) -> bool:
        """A CAL works on hosts of its own version or older, never on newer ones (R38)."""
        return self.generation >= host.generation

    @property
    def title(self) -> str:
        """The Windows release this version licenses, e.g. "Windows Server 2019"."""
        return _VERSION_TITLES.get((self.major, self.minor), f"Windows {self}")

    @property
    def product_version_id(self) -> int:
        """WMI ProductVersionID (R9); -1 for a version the table does not know."""
        return _PRODUCT_VERSION_ID.get((self.major, self.minor), -1)


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


# ---------------------------------------------------------------------------------------------
# What the protocol core hands in


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who is asking, as the licensing core learnt it from the wire.

    ``hwid`` is the decrypted 20-byte CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1), the
    server's lookup key (R22). Names come from the New License Request blobs (R75)
    or, for a client that presented a license, from the Client Info PDU.
    ``platform_id`` is the request's PlatformId (MS-RDPELE 2.2.2.2), which decides the
    Windows 2000 built-in pool (R19).
    """

    hwid: bytes
    machine_name: str = ""
    user_name: str = ""
    platform_id: int = 0

    def __post_init__(self) -> None:
        if len(self.hwid) != HWID_LENGTH:
            raise ValueError(f"CLIENT_HARDWARE_ID is {HWID_LENGTH} bytes, got {len(self.hwid)}")


class ValidationStatus(enum.IntEnum):
    """What the host's local checks of a presented license found (MS-RDPELE 3.2.5.3, R65)."""

    VALID = 0
    BAD_SIGNATURE = 1
    """Not signed by a license server this host trusts, or altered."""
    HWID_MISMATCH = 2
    """Issued to another CLIENT_HARDWARE_ID (ERRINFO 0x104 territory, R70)."""
    BAD_FORMAT = 3
    """The blob does not parse as a CAL (ERRINFO 0x105, R70)."""
    WRONG_PRODUCT = 4
    """Product id or scope do not match this host's ProductInfo."""


@dataclass(frozen=True, slots=True)
class PresentedLicense:
    """What the host read from the license a client presented in LICENSE_INFO (R65).

    The licensing core builds it from the crypto helper's parsed license; nothing here
    depends on storage. ``blob`` is the CAL exactly as the client sent it, so that it can
    be handed back unchanged when the license server cannot be reached (R45).
    """

    license_id: int
    hwid: bytes
    product_version: ProductVersion
    temporary: bool
    issued: datetime
    expires: datetime
    issuer_matches: bool = True
    validation: ValidationStatus = ValidationStatus.VALID
    blob: bytes = b""

    def usable_on(self, host: ProductVersion, now: datetime) -> bool:
        """Still a valid license for this host as it stands (for R30 / R45)."""
        return (
            self.validation is ValidationStatus.VALID
            and now < self.expires
            and self.product_version.serves(host)
        )


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """What the host puts in the Server License Request and in New License Information.

    MS-RDPELE 2.2.2.1.1 and 2.2.2.6.1: dwVersion (high word OS major, low word minor),
    company "Microsoft Corporation", product id "A02", and one scope (R42).
    """

    dw_version: int
    company_name: str = "Microsoft Corporation"
    product_id: str = "A02"
    scopes: tuple[str, ...] = ("microsoft.com",)


# ---------------------------------------------------------------------------------------------
# Codes the host sends


class LicensingErrorCode(enum.IntEnum):
    """dwErrorCode of LICENSE_ERROR_MESSAGE (MS-RDPBCGR 2.2.1.12.1.3, R68)."""

    ERR_INVALID_SERVER_CERTIFICATE = 0x01
    ERR_NO_LICENSE = 0x02
    ERR_INVALID_MAC = 0x03
    ERR_INVALID_SCOPE = 0x04
    ERR_NO_LICENSE_SERVER = 0x06
    STATUS_VALID_CLIENT = 0x07
    ERR_INVALID_CLIENT = 0x08
    ERR_INVALID_PRODUCTID = 0x0B
    ERR_INVALID_MESSAGE_LEN = 0x0C


class StateTransition(enum.IntEnum):
    """dwStateTransition of LICENSE_ERROR_MESSAGE (MS-RDPBCGR 2.2.1.12.1.3, R68)."""

    ST_TOTAL_ABORT = 1
    ST_NO_TRANSITION = 2
    ST_RESET_PHASE_TO_START = 3
    ST_RESEND_LAST_MESSAGE = 4


class ErrorInfo(enum.IntEnum):
    """Licensing codes of the Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1, R70)."""

    ERRINFO_LICENSE_INTERNAL = 0x100
    ERRINFO_LICENSE_NO_LICENSE_SERVER = 0x101
    ERRINFO_LICENSE_NO_LICENSE = 0x102
    ERRINFO_LICENSE_BAD_CLIENT_MSG = 0x103
    ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE = 0x104
    ERRINFO_LICENSE_BAD_CLIENT_LICENSE = 0x105
    ERRINFO_LICENSE_CANT_FINISH_PROTOCOL = 0x106
    ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL = 0x107
    ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION = 0x108
    ERRINFO_LICENSE_CANT_UPGRADE_LICENSE = 0x109
    ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS = 0x10A
