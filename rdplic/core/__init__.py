"""The sans-IO licensing core: MS-RDPELE's server and client as state machines.

Bytes (licensing PDUs, from LICENSE_PREAMBLE on) and clock values go in;
events and bytes come out.  No sockets, reactor, clock or randomness of its
own (architecture invariants 2-5); the license service and the random
source are injected.  See `licensing_server` and `licensing_client`.
"""

from __future__ import annotations

from rdplic.core._common import PduFramer
from rdplic.core.client_store import ClientLicenseStore, LicenseKey, MemoryLicenseStore
from rdplic.core.errors import (
    InvalidMac,
    InvalidMessageLength,
    InvalidServerCertificate,
    LicenseServiceError,
    LicensingProtocolError,
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
    UnexpectedMessage,
)
from rdplic.core.events import (
    ClientSummary,
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
from rdplic.core.service import LicenseServiceInterface
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
    "ClientInput",
    "ClientLicenseStore",
    "ClientPlatform",
    "ClientQuirks",
    "ClientState",
    "ClientSummary",
    "Event",
    "FailureOrigin",
    "InvalidMac",
    "InvalidMessageLength",
    "InvalidServerCertificate",
    "LicenseKey",
    "LicensePresented",
    "LicenseRequestReceived",
    "LicenseRequested",
    "LicenseServiceError",
    "LicenseServiceInterface",
    "LicenseSummary",
    "LicenseUpgraded",
    "LicensingClient",
    "LicensingFailed",
    "LicensingProtocolError",
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
    "RemoteProtocolError",
    "ServerConfig",
    "ServerInput",
    "ServerState",
    "UnexpectedMessage",
    "UpgradedLicenseReceived",
    "ValidClient",
    "hardware_id",
]
