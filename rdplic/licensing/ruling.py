"""What the policy returns: the core's `Decision` and the store's record of its license."""

from __future__ import annotations

from dataclasses import dataclass

from rdplic.core.decisions import Decision, DecisionKind, LicenseSummary
from rdplic.licensing.model import IssuedLicense
from rdplic.pdu.licensing import ErrorCode, StateTransition

__all__ = ["Ruling", "summary_of"]


def summary_of(lic: IssuedLicense) -> LicenseSummary:
    """An issued license as the licensing core describes it (dwVersion: major << 16 | minor)."""
    version = lic.product_version
    return LicenseSummary(
        lic.license_id, lic.temporary, lic.expires, (version.major << 16) | version.minor
    )


@dataclass(frozen=True, slots=True)
class Ruling:
    """One decision of the license server: ``decision`` goes to the licensing core (and into
    a capture), ``license`` is the store's record of the license it sends or keeps (None
    for VALID_CLIENT, PLATFORM_CHALLENGE, REFUSE and UPGRADE_WITH_OLD).

    The decision's fields are readable here too (``ruling.kind``, ``ruling.rule``...).
    """

    decision: Decision
    license: IssuedLicense | None = None

    @classmethod
    def of(
        cls,
        kind: DecisionKind,
        reason: str,
        rule: str = "",
        *,
        license: IssuedLicense | None = None,
        blob: bytes = b"",
        error_code: ErrorCode = ErrorCode.STATUS_VALID_CLIENT,
        state_transition: StateTransition = StateTransition.ST_NO_TRANSITION,
        error_info: int | None = None,
    ) -> Ruling:
        """The ruling for ``kind``, its decision describing ``license`` (if any)."""
        decision = Decision(
            kind,
            reason,
            rule,
            None if license is None else summary_of(license),
            blob,
            error_code,
            state_transition,
            error_info,
        )
        return cls(decision, license)

    @property
    def kind(self) -> DecisionKind:
        return self.decision.kind

    @property
    def reason(self) -> str:
        return self.decision.reason

    @property
    def rule(self) -> str:
        return self.decision.rule

    @property
    def blob(self) -> bytes:
        return self.decision.blob

    @property
    def error_code(self) -> int:
        return self.decision.error_code

    @property
    def state_transition(self) -> int:
        return self.decision.state_transition

    @property
    def error_info(self) -> int | None:
        return self.decision.error_info

    @property
    def sends_license(self) -> bool:
        """A NEW_LICENSE or UPGRADE_LICENSE goes to the client."""
        return self.decision.sends_license

    @property
    def disconnects(self) -> bool:
        """The host ends the connection after the licensing message (a refusal)."""
        return self.decision.disconnects
