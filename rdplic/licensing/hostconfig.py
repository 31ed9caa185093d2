"""The emulated session host and license server: which Windows, which mode, which policies.

Everything a tester may want to vary is one key of `HostConfig`; the keys are what
``rdplic config set KEY VALUE`` accepts, and the configuration is persisted in the
store so that ``rdplic serve`` and the administration commands agree.

Where docs/license-server-behavior.md marks a rule as uncertain, the default is the
documented Windows behaviour and the alternative is a key here (R29, R39/R69, R28).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rdplic.core.decisions import HostLicensing, ProductInfo, ProductVersion

__all__ = [
    "RELEASES",
    "FirstLicensePolicy",
    "GraceEnd",
    "HostConfig",
    "InvalidLicenseAction",
    "LicensingMode",
    "PlatformPattern",
    "RefusalStyle",
    "WindowsRelease",
    "release",
]


class GraceEnd(enum.StrEnum):
    """What ends the host's licensing grace period before its days run out (R44)."""

    DAYS_ONLY = "days-only"
    """[2000]: only the 90 days."""
    LICENSE_SERVER_CONTACT = "license-server-contact"
    """[2003], and current guidance for 2012+: as soon as a license server is reached."""
    FIRST_PERMANENT_CAL = "first-permanent-cal"
    """[2008, 2008 R2]: when the first permanent CAL is issued through the host."""


@dataclass(frozen=True, slots=True)
class WindowsRelease:
    """One Windows Server release as a session host and license server.

    ``dw_version`` is ProductInfo.dwVersion (R42): 2008/2008 R2/2012 hosts all send
    0x00060000 (docs/protocol.md), a 2019 CAL carries 0x000A0001 (observed); the values for
    2012 R2, 2016, 2022 and 2025 follow that pattern [D] and can be overridden.
    """

    name: str
    title: str
    dw_version: int
    cal_version: ProductVersion
    grace_days: int
    grace_end: GraceEnd
    can_revoke: bool
    """Revocation exists from 2008 on (R49, R53)."""
    builtin_pool: bool
    """Windows 2000 hosts give Windows 2000 / XP Professional clients built-in CALs (R19)."""
    cal_prefix: str
    """"TS" before 2008 R2, "TS or RDS" for 2008 R2, "RDS" from 2012 (R77 CALType strings)."""


def _release(
    name: str,
    title: str,
    dw_version: int,
    version: str,
    grace_end: GraceEnd,
    cal_prefix: str,
) -> WindowsRelease:
    v = ProductVersion.parse(version)
    return WindowsRelease(
        name=name,
        title=title,
        dw_version=dw_version,
        cal_version=v,
        grace_days=90 if name == "2000" else 120,  # R43
        grace_end=grace_end,
        can_revoke=v >= ProductVersion(6, 0),
        builtin_pool=name == "2000",
        cal_prefix=cal_prefix,
    )


_C = GraceEnd.LICENSE_SERVER_CONTACT
RELEASES: dict[str, WindowsRelease] = {
    r.name: r
    for r in (
        _release("2000", "Windows 2000 Server", 0x00050000, "5.0", GraceEnd.DAYS_ONLY, "TS"),
        _release("2003", "Windows Server 2003", 0x00050002, "5.2", _C, "TS"),
        _release(
            "2008", "Windows Server 2008", 0x00060000, "6.0", GraceEnd.FIRST_PERMANENT_CAL, "TS"
        ),
        _release(
            "2008R2",
            "Windows Server 2008 R2",
            0x00060000,
            "6.1",
            GraceEnd.FIRST_PERMANENT_CAL,
            "TS or RDS",
        ),
        _release("2012", "Windows Server 2012", 0x00060000, "6.2", _C, "RDS"),
        _release("2012R2", "Windows Server 2012 R2", 0x00060000, "6.3", _C, "RDS"),
        _release("2016", "Windows Server 2016", 0x000A0000, "10.0", _C, "RDS"),
        _release("2019", "Windows Server 2019", 0x000A0001, "10.1", _C, "RDS"),
        _release("2022", "Windows Server 2022", 0x000A0002, "10.2", _C, "RDS"),
        _release("2025", "Windows Server 2025", 0x000A0003, "10.3", _C, "RDS"),
    )
}


def release(name: str) -> WindowsRelease:
    key = name.strip().upper().replace(" ", "").replace("WINDOWSSERVER", "")
    if key in RELEASES:
        return RELEASES[key]
    raise ValueError(f"Windows version {name!r} is not one of {', '.join(RELEASES)}")


class LicensingMode(enum.StrEnum):
    """How the host licenses clients (R2, R4), plus what xrdp and most servers do."""

    PER_DEVICE = "per-device"
    PER_USER = "per-user"
    PERSONAL = "personal"
    """Personal terminal server (client SKUs): full exchange, always STATUS_VALID_CLIENT (R4)."""
    REMOTE_ADMIN = "remote-admin"
    """Remote Desktop for Administration: as personal (R4)."""
    VALID_CLIENT_ONLY = "valid-client-only"
    """No licensing at all: the Valid Client PDU instead of a License Request (R60)."""

    @property
    def wmi_value(self) -> int | None:
        """Win32_TerminalServiceSetting.ChangeMode value (R2); None for valid-client-only."""
        return {"personal": 0, "remote-admin": 1, "per-device": 2, "per-user": 4}.get(self.value)

    @property
    def issues_licenses(self) -> bool:
        return self in {LicensingMode.PER_DEVICE, LicensingMode.PER_USER}


class FirstLicensePolicy(enum.StrEnum):
    """What a device gets on first contact (R27, R29)."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class InvalidLicenseAction(enum.StrEnum):
    """What a licensing host does with a presented license that fails its checks.

    MS-RDPELE 3.2.5.3 / R39: an invalid license needs an upgrade (platform challenge,
    then a new license). R69 notes Windows might instead abort; selectable.
    """

    UPGRADE = "upgrade"
    REFUSE = "refuse"


class RefusalStyle(enum.StrEnum):
    """How "no license for this client" goes on the wire (R33, R69 - not documented).

    ``error-alert``: ERR_INVALID_CLIENT + ST_TOTAL_ABORT, then Set Error Info 0x102.
    ``valid-client-then-disconnect``: STATUS_VALID_CLIENT + ST_NO_TRANSITION, then
    Set Error Info 0x102 and a disconnect.
    """

    ERROR_ALERT = "error-alert"
    VALID_CLIENT_THEN_DISCONNECT = "valid-client-then-disconnect"


@dataclass(frozen=True, slots=True)
class PlatformPattern:
    """``value/mask`` over a PlatformId (MS-RDPELE 2.2.2.2): matches when id & mask == value."""

    value: int
    mask: int

    def matches(self, platform_id: int) -> bool:
        return platform_id & self.mask == self.value

    def __str__(self) -> str:
        return f"0x{self.value:08X}/0x{self.mask:08X}"

    @classmethod
    def parse(cls, text: str) -> PlatformPattern:
        value_text, _, mask_text = text.strip().partition("/")
        try:
            value = int(value_text, 0)
            mask = int(mask_text, 0) if mask_text else 0xFFFFFFFF
        except ValueError:
            raise ValueError(
                f"platform pattern {text!r} is not VALUE[/MASK] (e.g. 0x03000000/0xFF000000)"
            ) from None
        if not (0 <= value <= 0xFFFFFFFF and 0 <= mask <= 0xFFFFFFFF):
            raise ValueError(f"platform pattern {text!r} does not fit 32 bits")
        return cls(value & mask, mask)


# R19 (KB 315262): Windows 2000 Professional (0x03010000) and Windows XP Professional
# (0x03010001) clients get built-in CALs from a Windows 2000 host; XP Home does not.  No
# public source gives XP Home's PlatformId: rdplic's simulated XP Home sends 0x03010002, its
# own choice (rdplic.core.platforms.WINDOWS_XP_HOME_PLATFORM_ID), which this set leaves out.
# Widen or narrow it to what a lab capture shows with ``rdplic config set builtin_platforms``.
DEFAULT_BUILTIN_PLATFORMS = (
    PlatformPattern(0x03010000, 0xFFFFFFFF),
    PlatformPattern(0x03010001, 0xFFFFFFFF),
)


def _parse_bool(text: str) -> bool:
    key = text.strip().lower()
    if key in {"1", "true", "yes", "on", "y"}:
        return True
    if key in {"0", "false", "no", "off", "n"}:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _parse_days(text: str) -> int:
    try:
        days = int(text.strip().lower().removesuffix("d"))
    except ValueError:
        raise ValueError(f"{text!r} is not a number of days") from None
    if not 0 <= days <= 3650:
        raise ValueError(f"{days} days is outside 0-3650")
    return days


@dataclass(frozen=True, slots=True)
class HostConfig:
    """The emulated host. Every field is a ``rdplic config set`` key (underscores or dashes)."""

    windows_version: str = "2019"
    licensing_mode: LicensingMode = LicensingMode.PER_DEVICE
    first_license: FirstLicensePolicy = FirstLicensePolicy.TEMPORARY
    grace_period_days: int | None = None
    """None: the release's own (120 days, 90 for Windows 2000; R43)."""
    grace_ends_early: bool = True
    """Apply the release's early end of grace (R44); off: only the days count."""
    license_server_reachable: bool = True
    """Off emulates a host that cannot reach any license server (R45, R46)."""
    license_server_activated: bool = True
    """Off: an unactivated license server issues temporary licenses only (R13)."""
    license_server_version: str | None = None
    """The license server's release (R14, R53); None: the same as the host."""
    prevent_license_upgrade: bool = False
    """"Prevent License Upgrade" policy (R40)."""
    auto_validate_temporary: bool = True
    """Mark temporary licenses validated when issued; off: only `mark_validated` does (R28)."""
    invalid_license: InvalidLicenseAction = InvalidLicenseAction.UPGRADE
    refusal_style: RefusalStyle = RefusalStyle.ERROR_ALERT
    temporary_license_days: int = 90
    """R27."""
    per_user_cal_days: int = 60
    """R57."""
    builtin_platforms: tuple[PlatformPattern, ...] = DEFAULT_BUILTIN_PLATFORMS
    dw_version: int | None = None
    """Override of ProductInfo.dwVersion; None: the release's."""
    scope: str = "microsoft.com"
    company_name: str = "Microsoft Corporation"
    product_id: str = "A02"

    # ----- derived

    @property
    def release(self) -> WindowsRelease:
        return release(self.windows_version)

    @property
    def server_release(self) -> WindowsRelease:
        return release(self.license_server_version or self.windows_version)

    @property
    def cal_version(self) -> ProductVersion:
        """The CAL version this host asks the license server for: its own (R40)."""
        return self.release.cal_version

    @property
    def grace_days(self) -> int:
        return self.release.grace_days if self.grace_period_days is None else self.grace_period_days

    @property
    def product_info(self) -> ProductInfo:
        dw = self.release.dw_version if self.dw_version is None else self.dw_version
        return ProductInfo(dw, self.company_name, self.product_id, (self.scope,))

    @property
    def licensing(self) -> HostLicensing:
        """What the licensing core needs of this configuration (R42, R60)."""
        return HostLicensing(
            self.product_info, self.licensing_mode is not LicensingMode.VALID_CLIENT_ONLY
        )

    def builtin_eligible(self, platform_id: int) -> bool:
        """R19: only a Windows 2000 host, only Windows 2000 / XP Professional clients."""
        return self.release.builtin_pool and any(
            p.matches(platform_id) for p in self.builtin_platforms
        )

    # ----- persistence and ``rdplic config set``

    def to_settings(self) -> dict[str, str]:
        """Every key as text (the store keeps them as settings)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            out[f.name] = _format_value(getattr(self, f.name))
        return out

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> HostConfig:
        """Build from stored settings (all keys at once, then checked).

        Unknown keys are ignored: a newer rdplic may have written them.
        """
        changes = dict(_parse(key, value) for key, value in settings.items() if key in _PARSERS)
        config = dataclasses.replace(cls(), **changes)
        config.check()
        return config

    def with_setting(self, key: str, value: str) -> HostConfig:
        """A copy with one key changed; `ValueError` with a one-line message on bad input."""
        name, parsed = _parse(key, value)
        candidate = dataclasses.replace(self, **{name: parsed})
        candidate.check()
        return candidate

    def check(self) -> None:
        """Cross-field rules: the license server must be at least the host's release (R14)."""
        host, server = self.release, self.server_release
        if server.cal_version.generation < host.cal_version.generation:
            raise ValueError(
                f"a {server.title} license server cannot license a {host.title} host (R14)"
            )


def _parse(key: str, value: str) -> tuple[str, Any]:
    name = key.strip().lower().replace("-", "_")
    parser = _PARSERS.get(name)
    if parser is None:
        raise ValueError(f"unknown setting {key!r} (one of {', '.join(sorted(_PARSERS))})")
    return name, parser(value)


def _format_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _optional(parse: Callable[[str], object]) -> Callable[[str], object]:
    def inner(text: str) -> object:
        if text.strip().lower() in {"", "default", "none"}:
            return None
        return parse(text)

    return inner


def _enum_parser(kind: type[enum.StrEnum]) -> Callable[[str], object]:
    def inner(text: str) -> object:
        key = text.strip().lower().replace("_", "-")
        for member in kind:
            if member.value == key:
                return member
        raise ValueError(f"{text!r} is not one of {', '.join(m.value for m in kind)}")

    return inner


def _version_name(text: str) -> str:
    return release(text).name


def _text(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise ValueError(f"{text!r} must be 1-255 printable characters")
    return value


def _dw_version(text: str) -> int:
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise ValueError(f"dwVersion {text!r} is not a number (e.g. 0x000A0001)") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"dwVersion {text!r} does not fit 32 bits")
    return value


def _platforms(text: str) -> tuple[PlatformPattern, ...]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    return tuple(PlatformPattern.parse(p) for p in parts)


def _positive_days(text: str) -> int:
    days = _parse_days(text)
    if days == 0:
        raise ValueError("a license must last at least one day")
    return days


_PARSERS: dict[str, Callable[[str], object]] = {
    "windows_version": _version_name,
    "licensing_mode": _enum_parser(LicensingMode),
    "first_license": _enum_parser(FirstLicensePolicy),
    "grace_period_days": _optional(_parse_days),
    "grace_ends_early": _parse_bool,
    "license_server_reachable": _parse_bool,
    "license_server_activated": _parse_bool,
    "license_server_version": _optional(_version_name),
    "prevent_license_upgrade": _parse_bool,
    "auto_validate_temporary": _parse_bool,
    "invalid_license": _enum_parser(InvalidLicenseAction),
    "refusal_style": _enum_parser(RefusalStyle),
    "temporary_license_days": _positive_days,
    "per_user_cal_days": _positive_days,
    "builtin_platforms": _platforms,
    "dw_version": _optional(_dw_version),
    "scope": _text,
    "company_name": _text,
    "product_id": _text,
}
