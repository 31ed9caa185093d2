"""What one simulated connection came to, in the project's vocabulary (`rdplic.vocabulary`).

`ConnectionResult.from_outcome` reads the events a `rdplic.net.client.ClientOutcome`
collected: the security layer the server selected, what it sent (SC_CORE version,
encryption, the License Request's product and certificate), and how licensing ended:
a New License (temporary or permanent, read from the license itself), an Upgrade License
(``reissued`` when the license that came back is the one presented: R40), Valid Client,
a licensing error (its dwErrorCode and dwStateTransition), or a failure of the transport
or the protocol.  ``rdplic client`` prints it and ``rdplic load`` counts it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from rdplic.core import events as lic
from rdplic.core.client_store import ClientLicenseStore, LicenseKey
from rdplic.core.connection_events import (
    ConnectionEnded,
    ErrorInfoReceived,
    SecurityNegotiated,
    ServerDataReceived,
)
from rdplic.crypto.license import parse_license
from rdplic.net.client import ClientOutcome
from rdplic.pdu.licensing import ErrorCode, StateTransition
from rdplic.vocabulary import Outcome, rfc3339

__all__ = ["ConnectionResult", "PresentingStore", "outcome_kind"]

_ENCRYPTION_BITS = {0x01: 40, 0x02: 128, 0x08: 56}


def _name(enum_type: Any, value: int) -> str:
    try:
        return str(enum_type(value).name)
    except ValueError:
        return f"0x{value:08X}"


class PresentingStore:
    """A `ClientLicenseStore` that remembers the license it handed out for presenting, so
    that an Upgrade License bringing the same bytes back reads as ``reissued`` (R40)."""

    def __init__(self, inner: ClientLicenseStore) -> None:
        self.inner = inner
        self.presented: bytes | None = None

    def find(self, wanted: LicenseKey) -> tuple[LicenseKey, bytes] | None:
        found = self.inner.find(wanted)
        self.presented = None if found is None else found[1]
        return found

    def store(self, key: LicenseKey, license_info: bytes) -> None:
        self.inner.store(key, license_info)


@dataclasses.dataclass(slots=True)
class ConnectionResult:
    """One connection, client side.  ``to_json`` gives it in the vocabulary's keys."""

    outcome: Outcome
    error: str = ""
    duration_seconds: float = 0.0
    security: str | None = None
    encryption: int | None = None
    server_version: int | None = None
    certificate: str | None = None
    product: LicenseKey | None = None
    presented: bool = False
    temporary: bool | None = None
    version: str | None = None
    serial: str | None = None
    expires: datetime | None = None
    error_code: str | None = None
    state_transition: str | None = None
    error_info: int | None = None
    negotiation_failure: int | None = None
    """The server's RDP_NEG_FAILURE code when negotiation failed (not in the JSON: the
    client retries on SSL_NOT_ALLOWED_BY_SERVER, `rdplic.simclient.session`)."""

    @property
    def kind(self) -> str:
        """The report's finer kind: ``new_license_temporary`` / ``_permanent``,
        ``refused:ERR_NO_LICENSE``... or the outcome itself."""
        if self.outcome is Outcome.NEW_LICENSE and self.temporary is not None:
            return f"new_license_{'temporary' if self.temporary else 'permanent'}"
        if self.outcome is Outcome.UPGRADED and self.temporary is not None:
            return f"upgraded_{'temporary' if self.temporary else 'permanent'}"
        if self.outcome is Outcome.REFUSED and self.error_code:
            return f"refused:{self.error_code}"
        return self.outcome.value

    @classmethod
    def from_outcome(
        cls, outcome: ClientOutcome, presented: bytes | None = None
    ) -> ConnectionResult:
        result = cls(Outcome.ENDED, outcome.error, round(outcome.elapsed, 6))
        license_info: bytes | None = None
        decided: Outcome | None = None
        for event in outcome.events:
            if isinstance(event, SecurityNegotiated):
                result.security = "tls" if event.selected_protocol == 1 else "rdp"
            elif isinstance(event, ServerDataReceived):
                result.server_version = event.version
                result.encryption = _ENCRYPTION_BITS.get(event.encryption_method)
            elif isinstance(event, lic.LicenseRequestReceived):
                result.certificate = event.certificate
                result.product = event.wanted
                result.presented = event.presenting is not None
            elif isinstance(event, lic.NewLicenseReceived):
                decided, license_info = Outcome.NEW_LICENSE, event.license_info
            elif isinstance(event, lic.UpgradedLicenseReceived):
                license_info = event.license_info
                same = presented is not None and license_info == presented
                decided = Outcome.REISSUED if same else Outcome.UPGRADED
            elif isinstance(event, lic.ValidClient):
                decided = Outcome.VALID_CLIENT
            elif isinstance(event, lic.LicensingFailed):
                result.error_code = _name(ErrorCode, event.error_code)
                result.state_transition = _name(StateTransition, event.state_transition)
                timed_out = event.origin is lic.FailureOrigin.TIMEOUT
                refused = event.origin is lic.FailureOrigin.PEER
                decided = (
                    Outcome.TIMEOUT
                    if timed_out
                    else Outcome.REFUSED
                    if refused
                    else Outcome.PROTOCOL_ERROR
                )
                result.error = result.error or event.reason
            elif isinstance(event, ErrorInfoReceived):
                result.error_info = event.error_info
            elif (
                isinstance(event, ConnectionEnded)
                and not event.licensed
                and outcome.failure is None  # the machine's reason says more than the socket's
            ):
                result.error = event.reason
                result.negotiation_failure = event.negotiation_failure
        if decided is not None and (decided.licensed or outcome.failure is None):
            result.outcome = decided
        elif outcome.failure is not None:
            result.outcome = outcome.failure
        if result.outcome.licensed:
            result.error = ""
        if license_info is not None:
            result._read_license(license_info)
        return result

    def _read_license(self, blob: bytes) -> None:
        try:
            parsed = parse_license(blob)
        except Exception:  # a foreign server's license we cannot read: say so, no more
            return
        self.temporary = parsed.temporary
        self.version = f"{parsed.product_major}.{parsed.product_minor}"
        self.serial = f"{parsed.license_id:x}"
        self.expires = parsed.expires

    def to_json(self) -> dict[str, Any]:
        """The vocabulary's keys (rdplic.vocabulary.KEYS), plus ``kind`` and the server's
        own fields under ``server``."""
        product = self.product
        return {
            "outcome": self.outcome.value,
            "kind": self.kind,
            "licensed": self.outcome.licensed,
            "security": self.security,
            "encryption": self.encryption,
            "temporary": self.temporary,
            "version": self.version,
            "serial": self.serial,
            "expires": rfc3339(self.expires),
            "error_code": self.error_code,
            "state_transition": self.state_transition,
            "error": self.error,
            "duration_seconds": self.duration_seconds,
            "server": {
                "rdp_version": None
                if self.server_version is None
                else f"0x{self.server_version:08x}",
                "certificate": self.certificate,
                "scope": None if product is None else product.scope,
                "company_name": None if product is None else product.company_name,
                "product_id": None if product is None else product.product_id,
                "dw_version": None if product is None else product.version,
                "error_info": self.error_info,
            },
            "presented_license": self.presented,
        }


def outcome_kind(result: ConnectionResult) -> str:
    """The key ``rdplic load`` counts a connection under (`ConnectionResult.kind`)."""
    return result.kind
