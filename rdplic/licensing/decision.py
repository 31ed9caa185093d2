"""What the license service tells the licensing protocol core to put on the wire."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rdplic.licensing.model import (
    ErrorInfo,
    IssuedLicense,
    LicensingErrorCode,
    StateTransition,
)

__all__ = ["Decision", "DecisionKind"]


class DecisionKind(enum.Enum):
    """The licensing message the host sends next (MS-RDPELE 3.2.5)."""

    ISSUE_NEW = "issue-new"
    """SERVER_NEW_LICENSE (2.2.2.7) carrying ``Decision.blob``."""
    UPGRADE = "upgrade"
    """SERVER_UPGRADE_LICENSE (2.2.2.6) carrying ``Decision.blob`` (new, renewed or resent)."""
    UPGRADE_WITH_OLD = "upgrade-with-old"
    """SERVER_UPGRADE_LICENSE carrying back the presented license (3.2.5.5 case 1, R45)."""
    VALID_CLIENT = "valid-client"
    """Licensing Error Message STATUS_VALID_CLIENT / ST_NO_TRANSITION: done, nothing to store."""
    PLATFORM_CHALLENGE = "platform-challenge"
    """The presented license needs an upgrade: send SERVER_PLATFORM_CHALLENGE (2.2.2.4),
    then call `LicenseService.present_license` with the challenge response's HWID."""
    REFUSE = "refuse"
    """Licensing Error Message ``error_code`` / ``state_transition``, then (if the client
    supports it) Set Error Info ``error_info``, then disconnect (R33, R46, R69, R70)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One licensing decision, complete enough to encode without asking again.

    ``license`` is the store's record of what ``blob`` is (None for VALID_CLIENT,
    PLATFORM_CHALLENGE, REFUSE and UPGRADE_WITH_OLD). ``rule`` names the behaviour rule of
    docs/license-server-behavior.md that produced the decision.
    """

    kind: DecisionKind
    reason: str
    rule: str = ""
    license: IssuedLicense | None = None
    blob: bytes = b""
    error_code: LicensingErrorCode = LicensingErrorCode.STATUS_VALID_CLIENT
    state_transition: StateTransition = StateTransition.ST_NO_TRANSITION
    error_info: ErrorInfo | None = None

    @property
    def sends_license(self) -> bool:
        """A NEW_LICENSE or UPGRADE_LICENSE goes to the client."""
        return self.kind in {
            DecisionKind.ISSUE_NEW,
            DecisionKind.UPGRADE,
            DecisionKind.UPGRADE_WITH_OLD,
        }

    @property
    def disconnects(self) -> bool:
        """The host ends the connection after the licensing message."""
        return self.kind is DecisionKind.REFUSE
