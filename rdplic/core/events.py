"""What the licensing machines report to the code that drives them.

Events are frozen, slotted dataclasses, as in h11's ``_events.py`` and
aioquic's ``quic/events.py``: the machine queues them while it handles a
message, and the driver pops them with ``next_event()``.  They carry what
the network layer needs to log one line per connection (the client's
machine and user names, its hardware id, what was issued and until when)
without reaching into the machine; they never carry keys.

Server and client share `ValidClient` and `LicensingFailed`, the two ways
licensing ends that both sides see in the same message; everything else
belongs to one role.
"""

from __future__ import annotations

import dataclasses
import enum

from rdplic.core.client_store import LicenseKey
from rdplic.core.decisions import ClientIdentity, LicenseSummary, PresentedLicense, Question

__all__ = [
    "ClientSummary",
    "DecisionNeeded",
    "Event",
    "FailureOrigin",
    "LicensePresented",
    "LicenseRequestReceived",
    "LicenseRequested",
    "LicenseSummary",
    "LicenseUpgraded",
    "LicensingFailed",
    "LicensingRestarted",
    "NewLicenseIssued",
    "NewLicenseReceived",
    "PlatformChallengeAnswered",
    "PlatformChallengeReceived",
    "UpgradedLicenseReceived",
    "ValidClient",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ClientSummary:
    """What the server has learnt about the client so far (for logs and reports).

    :ivar platform_id: PlatformId of the New License Request or License Info, None before
    :ivar user_name: ClientUserName (MS-RDPELE 2.2.2.2), decoded; empty when not sent
        (a License Info carries no names)
    :ivar machine_name: ClientMachineName, decoded; empty when not sent
    :ivar hwid: the 20-byte CLIENT_HARDWARE_ID (2.2.2.3.1) as decrypted, None before
    """

    platform_id: int | None = None
    user_name: str = ""
    machine_name: str = ""
    hwid: bytes | None = None


class FailureOrigin(enum.Enum):
    """Why licensing failed, as `LicensingFailed.origin`."""

    #: The peer's message was malformed, out of sequence or had a bad MAC.
    PROTOCOL = "protocol"
    #: The license service would not license this client (server only).
    REFUSED = "refused"
    #: The peer sent an error message that ends licensing.
    PEER = "peer"
    #: The peer said nothing for too long.
    TIMEOUT = "timeout"
    #: The license service failed (not the peer's fault: log it as a server error).
    SERVICE = "service"


# -- server side -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LicenseRequested:
    """The server received a Client New License Request (MS-RDPELE 3.2.5.2)."""

    client: ClientSummary


@dataclasses.dataclass(frozen=True, slots=True)
class LicensePresented:
    """The server received a Client License Info and checked its MAC (3.2.5.3).

    :ivar license_info_size: cbLicenseInfo of the presented license
    :ivar verdict: the license service's reading of it, e.g. ``"valid"``,
        ``"temporary"``, ``"foreign"`` (free text for logs)
    """

    client: ClientSummary
    license_info_size: int
    verdict: str


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformChallengeAnswered:
    """The server decrypted a Platform Challenge Response whose MAC is right (3.2.5.5).

    :ivar client_type: wClientType of PLATFORM_CHALLENGE_RESPONSE_DATA, None when the
        client echoed the challenge instead (rdesktop)
    :ivar license_detail_level: wLicenseDetailLevel, None likewise
    """

    client: ClientSummary
    client_type: int | None
    license_detail_level: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionNeeded:
    """The server machine waits for the license server (MS-RDPELE 3.2.5.3, 3.2.5.5).

    The driver asks whoever decides (the license service, a recorded session, a test)
    and hands the answer to ``decide(decision, now)``, now or later; until then the
    machine sends nothing and accepts no message from the client.  If the license server
    fails, the driver calls ``decision_failed(reason)`` and the client is told
    ERR_NO_LICENSE_SERVER (R46).

    :ivar question: what is asked (`rdplic.core.decisions.Question`)
    :ivar client: the client as the server knows it now (its hardware id is decrypted
        and its MAC checked)
    :ivar presented: the license the client presented (`rdplic.core.decisions.
        PresentedLicense`), None after a New License Request
    """

    question: Question
    client: ClientIdentity
    presented: PresentedLicense | None


@dataclasses.dataclass(frozen=True, slots=True)
class NewLicenseIssued:
    """The server sent a Server New License (3.2.5.5 case 6, 3.2.5.6): licensing completed."""

    client: ClientSummary
    license: LicenseSummary


@dataclasses.dataclass(frozen=True, slots=True)
class LicenseUpgraded:
    """The server sent a Server Upgrade License (3.2.5.5 cases 1, 4, 5; 3.2.5.7): completed.

    :ivar reissued_old: True when the client's own license was sent back
        unchanged (cases 1 and 4: the license server could not upgrade it)
    """

    client: ClientSummary
    license: LicenseSummary
    reissued_old: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class LicensingRestarted:
    """An error message with ST_RESET_PHASE_TO_START or ST_RESEND_LAST_MESSAGE was handled.

    :ivar state_transition: the dwStateTransition applied
    :ivar sent_by_peer: True when the peer asked for it, False when we did
    """

    state_transition: int
    sent_by_peer: bool


# -- client side -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LicenseRequestReceived:
    """The client received a Server License Request and verified its certificate (3.3.5.1).

    :ivar wanted: the index built from ProductInfo and the first scope
    :ivar certificate: ``"proprietary"``, ``"x509"`` or ``"none"`` (empty blob)
    :ivar presenting: the key of the stored license the client presents, None when
        it asks for a new one
    """

    wanted: LicenseKey
    scopes: tuple[str, ...]
    certificate: str
    presenting: LicenseKey | None


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformChallengeReceived:
    """The client decrypted a Server Platform Challenge whose MAC is right (3.3.5.4)."""

    challenge: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class NewLicenseReceived:
    """The client decrypted and stored a Server New License (3.3.5.6): completed."""

    key: LicenseKey
    license_info: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class UpgradedLicenseReceived:
    """The client decrypted and stored a Server Upgrade License (3.3.5.7): completed."""

    key: LicenseKey
    license_info: bytes


# -- both sides --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ValidClient:
    """STATUS_VALID_CLIENT / ST_NO_TRANSITION was sent (server) or received (client).

    Licensing is complete without a license being sent (MS-RDPBCGR 2.2.1.12.1).

    :ivar reason: why (server: ``"license valid"``, ``"valid-client-only mode"``,
        ``"grace period"``...; client: ``"server"``)
    :ivar license: on the server, the presented license the service accepted, if any
    """

    client: ClientSummary
    reason: str
    license: LicenseSummary | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LicensingFailed:
    """Licensing ended in the Aborted state.

    :ivar error_code: dwErrorCode sent or received (for a timeout or a client's
        disconnect: the code that describes it, see ``error_sent``)
    :ivar state_transition: dwStateTransition sent or received
    :ivar reason: lower-case text for logs
    :ivar origin: who or what ended licensing
    :ivar error_sent: True when this machine queued a LICENSE_ERROR_MESSAGE for it
    :ivar error_info: on the server, the Set Error Info code (MS-RDPBCGR 2.2.5.1.1) the
        connection layer should send after the licensing message, if the client supports
        it, before disconnecting (docs/license-server-behavior.md R70); None when there is none
    """

    error_code: int
    state_transition: int
    reason: str
    origin: FailureOrigin
    error_sent: bool
    client: ClientSummary = dataclasses.field(default_factory=ClientSummary)
    error_info: int | None = None


Event = (
    DecisionNeeded
    | LicenseRequested
    | LicensePresented
    | PlatformChallengeAnswered
    | NewLicenseIssued
    | LicenseUpgraded
    | LicensingRestarted
    | LicenseRequestReceived
    | PlatformChallengeReceived
    | NewLicenseReceived
    | UpgradedLicenseReceived
    | ValidClient
    | LicensingFailed
)
"""Every event either machine may return from ``next_event()``."""
