"""What the licensing core and the license server exchange: the value types of a decision.

The server machine never calls the license server (architecture invariant 2).  When it
needs a decision it emits `DecisionNeeded` with what it learnt from the wire (the client's
identity, the license it presented, which question) and waits; the caller answers with
``decide(Decision, now)``, possibly much later.  These types are the whole of that
conversation, so they belong to the core: `rdplic.licensing` imports them, never the other
way round.  A `Decision` is complete enough to put on the wire without asking again (the
license blob and what describes it are in it, the license server's randomness included),
so recording the decisions of a session is enough to replay it byte for byte.

The host's side of the exchange is `HostLicensing`: the ProductInfo and scope the License
Request carries (MS-RDPELE 2.2.2.1) and whether the host licenses clients at all (R60).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from datetime import datetime

from rdplic.pdu.licensing import ErrorCode, StateTransition

__all__ = [
    "HWID_LENGTH",
    "ClientIdentity",
    "Decision",
    "DecisionKind",
    "HostLicensing",
    "LicenseSummary",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "Question",
    "ValidationStatus",
]

HWID_LENGTH = 20
"""CLIENT_HARDWARE_ID is PlatformId plus four DWORDs (MS-RDPELE 2.2.2.3.1)."""


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
# What the core learnt from the wire


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
    verdict: str = ""
    """What `rdplic.crypto.validate_license` said (``valid``, ``foreign``, ``tampered``,
    ``malformed``), finer than ``validation`` for logs and refusals (R69); '' when unknown."""

    def reason(self) -> str:
        """The validation failure in words: the crypto verdict for a bad signature or
        format (``foreign``, ``tampered``, ``malformed``), else the host check's name."""
        bad_bytes = (ValidationStatus.BAD_SIGNATURE, ValidationStatus.BAD_FORMAT)
        if self.validation in bad_bytes and self.verdict:
            return self.verdict
        return self.validation.name.lower()

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
# The host


@dataclass(frozen=True, slots=True)
class HostLicensing:
    """What the licensing exchange needs of the emulated host's configuration.

    :ivar product: the ProductInfo and scopes of the Server License Request (MS-RDPELE
        2.2.2.1) and of New License Information (2.2.2.6.1)
    :ivar licenses_clients: False for a host that licenses nobody: licensing ends at once
        with the valid-client PDU (MS-RDPBCGR 2.2.1.12.1; what xrdp does, R60)
    """

    product: ProductInfo
    licenses_clients: bool = True


# ---------------------------------------------------------------------------------------------
# The question and the answer


@dataclasses.dataclass(frozen=True, slots=True)
class LicenseSummary:
    """A license the server sent, or found valid, as the license service described it.

    :ivar license_id: the license service's id for it (the issuance record)
    :ivar temporary: True for a temporary license (TEMPORARY_LICENSE flag, 2.2.2.9.1)
    :ivar expires_at: end of validity, None when the service does not say
    :ivar version: dwVersion of the NEW_LICENSE_INFO (or of the presented license)
    """

    license_id: int | str | None
    temporary: bool
    expires_at: datetime | None
    version: int


class Question(enum.Enum):
    """What the server machine asks the license server (MS-RDPELE 3.2.5.3, 3.2.5.5)."""

    LICENSE_INFO = "license-info"
    """A license was presented and its MAC checked (3.2.5.3): accept it (VALID_CLIENT),
    upgrade it (PLATFORM_CHALLENGE), or refuse."""
    CHALLENGE_RESPONSE = "challenge-response"
    """The Platform Challenge Response proved the hardware id (3.2.5.5): what to send to
    finish (a new or upgraded license, VALID_CLIENT, or a refusal)."""


class DecisionKind(enum.Enum):
    """The licensing message the host sends next (MS-RDPELE 3.2.5)."""

    ISSUE_NEW = "issue-new"
    """SERVER_NEW_LICENSE (2.2.2.7) carrying ``Decision.blob``."""
    UPGRADE = "upgrade"
    """SERVER_UPGRADE_LICENSE (2.2.2.6) carrying ``Decision.blob`` (new, renewed or resent)."""
    UPGRADE_WITH_OLD = "upgrade-with-old"
    """SERVER_UPGRADE_LICENSE carrying back the presented license (3.2.5.5 case 1, R45)."""
    VALID_CLIENT = "valid-client"
    """Licensing Error Message STATUS_VALID_CLIENT / ST_NO_TRANSITION: done, nothing stored."""
    PLATFORM_CHALLENGE = "platform-challenge"
    """The presented license needs an upgrade: send SERVER_PLATFORM_CHALLENGE (2.2.2.4),
    then ask again with the challenge response's proven hardware id."""
    REFUSE = "refuse"
    """Licensing Error Message ``error_code`` / ``state_transition``, then (if the client
    supports it) Set Error Info ``error_info``, then disconnect (R33, R46, R69, R70)."""


_ANSWERS: dict[Question, frozenset[DecisionKind]] = {
    Question.LICENSE_INFO: frozenset(
        {DecisionKind.VALID_CLIENT, DecisionKind.PLATFORM_CHALLENGE, DecisionKind.REFUSE}
    ),
    Question.CHALLENGE_RESPONSE: frozenset(
        {
            DecisionKind.ISSUE_NEW,
            DecisionKind.UPGRADE,
            DecisionKind.UPGRADE_WITH_OLD,
            DecisionKind.VALID_CLIENT,
            DecisionKind.REFUSE,
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """One licensing decision, complete enough to put on the wire without asking again.

    :ivar kind: the message to send
    :ivar reason: why, for logs (lower case)
    :ivar rule: the rule of docs/license-server-behavior.md that decided it ("R27")
    :ivar license: for ISSUE_NEW and UPGRADE, what ``blob`` is (its id in the license
        server's records, temporary or not, expiry, version); None otherwise
    :ivar blob: the license sent (pbLicenseInfo of NEW_LICENSE_INFO, MS-RDPELE 2.2.2.6.1)
    :ivar error_code: for REFUSE, the dwErrorCode sent
    :ivar state_transition: for REFUSE, the dwStateTransition sent
    :ivar error_info: for REFUSE, the Set Error Info code (MS-RDPBCGR 2.2.5.1.1), if any
    """

    kind: DecisionKind
    reason: str
    rule: str = ""
    license: LicenseSummary | None = None
    blob: bytes = b""
    error_code: int = ErrorCode.STATUS_VALID_CLIENT
    state_transition: int = StateTransition.ST_NO_TRANSITION
    error_info: int | None = None

    def answers(self, question: Question) -> bool:
        """Whether this kind of decision is an answer to ``question`` (3.2.5.3, 3.2.5.5)."""
        if self.kind not in _ANSWERS[question]:
            return False
        sends_new = self.kind in (DecisionKind.ISSUE_NEW, DecisionKind.UPGRADE)
        return not sends_new or self.license is not None

    @property
    def disconnects(self) -> bool:
        """The host ends the connection after the licensing message (a refusal)."""
        return self.kind is DecisionKind.REFUSE

    @property
    def sends_license(self) -> bool:
        """A NEW_LICENSE or UPGRADE_LICENSE goes to the client."""
        return self.kind in (
            DecisionKind.ISSUE_NEW,
            DecisionKind.UPGRADE,
            DecisionKind.UPGRADE_WITH_OLD,
        )
