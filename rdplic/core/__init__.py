"""The sans-IO cores: MS-RDPBCGR's connection sequence and MS-RDPELE's licensing, server
and client, as state machines.

Bytes, clock values and the license server's decisions go in; events and bytes come out.
No sockets, reactor, clock or randomness of their own, and no call out (architecture
invariants 2-5): the random source is injected, and when the server machine needs the
license server it emits `DecisionNeeded` and waits for ``decide``.  See
`licensing_server`, `licensing_client`, `connection_server`, `connection_client`, and
`decisions` for the values exchanged with the license server.
"""

from __future__ import annotations

from rdplic.core._common import PduFramer
from rdplic.core.client_store import ClientLicenseStore, LicenseKey, MemoryLicenseStore
from rdplic.core.decisions import (
    ClientIdentity,
    Decision,
    DecisionKind,
    HostLicensing,
    PresentedLicense,
    ProductInfo,
    ProductVersion,
    Question,
    ValidationStatus,
)
from rdplic.core.errors import (
    ConnectionProtocolError,
    InvalidMac,
    InvalidMessageLength,
    InvalidServerCertificate,
    LocalProtocolError,
    MalformedMessage,
    ProtocolError,
    RemoteProtocolError,
    UnexpectedMessage,
)
from rdplic.core.events import (
    ClientSummary,
    DecisionNeeded,
    Event,
    FailureOrigin,
    LicensePresented,
    LicenseRequested,
    LicenseRequestReceived,
    LicenseSummary,
    LicenseUpgraded,
    LicensingFailed,
    LicensingRestarted,
    NewLicenseIssued,
    NewLicenseReceived,
    PlatformChallengeAnswered,
    PlatformChallengeReceived,
    UpgradedLicenseReceived,
    ValidClient,
)
from rdplic.core.licensing_client import ClientConfig, LicensingClient
from rdplic.core.licensing_server import WINDOWS_PLATFORM_CHALLENGE, LicensingServer, ServerConfig
from rdplic.core.platforms import (
    CLIENT_PLATFORMS,
    RDESKTOP_QUIRKS,
    ClientPlatform,
    ClientQuirks,
    hardware_id,
)
from rdplic.core.states import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientInput,
    ClientState,
    ServerInput,
    ServerState,
)

__all__ = [
    "CLIENT_PLATFORMS",
    "CLIENT_TRANSITIONS",
    "RDESKTOP_QUIRKS",
    "SERVER_TRANSITIONS",
    "WINDOWS_PLATFORM_CHALLENGE",
    "ClientConfig",
    "ClientIdentity",
    "ClientInput",
    "ClientLicenseStore",
    "ClientPlatform",
    "ClientQuirks",
    "ClientState",
    "ClientSummary",
    "ConnectionProtocolError",
    "Decision",
    "DecisionKind",
    "DecisionNeeded",
    "Event",
    "FailureOrigin",
    "HostLicensing",
    "InvalidMac",
    "InvalidMessageLength",
    "InvalidServerCertificate",
    "LicenseKey",
    "LicensePresented",
    "LicenseRequestReceived",
    "LicenseRequested",
    "LicenseSummary",
    "LicenseUpgraded",
    "LicensingClient",
    "LicensingFailed",
    "LicensingRestarted",
    "LicensingServer",
    "LocalProtocolError",
    "MalformedMessage",
    "MemoryLicenseStore",
    "NewLicenseIssued",
    "NewLicenseReceived",
    "PduFramer",
    "PlatformChallengeAnswered",
    "PlatformChallengeReceived",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "ProtocolError",
    "Question",
    "RemoteProtocolError",
    "ServerConfig",
    "ServerInput",
    "ServerState",
    "UnexpectedMessage",
    "UpgradedLicenseReceived",
    "ValidClient",
    "ValidationStatus",
    "hardware_id",
]
