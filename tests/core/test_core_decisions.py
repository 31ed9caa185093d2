"""Decisions are inputs: the server machine driven with decisions written by hand, with no
license server at all, sends the same bytes as when the license server's policy decides.

Each scenario runs twice with the same keys, seeds and clock: once with the policy over a
SQLite store answering the machine's questions, once with a fresh machine whose questions
are answered from a list of `Decision` values built here (the licenses in them signed here
with the license server's key, field by field).  The wire must be identical, and the
questions the machine asked must be the ones expected.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core_helpers import DAY, T0, Device, Lab, LabFactory, Session, pump, seeded_bytes

from rdplic.core import Decision, DecisionKind, DecisionNeeded, LicensingServer, Question
from rdplic.core.decisions import LicenseSummary
from rdplic.crypto import issue_license
from rdplic.crypto.license import LicenseFields
from rdplic.pdu.licensing import ErrorCode, StateTransition
from rdplic.pdu.rdp import ErrorInfo

SERVER_SEED, CLIENT_SEED = 41, 42
VERSION_2019 = 0x000A0001


def by_hand(lab: Lab, device: Device, now: datetime, decisions: list[Decision]) -> Session:
    """A session whose server machine gets ``decisions`` in turn and nothing else."""
    answers = list(decisions)

    def decide(question: DecisionNeeded, at: object) -> Decision:
        return answers.pop(0)

    session = lab.session(device, server_seed=SERVER_SEED, client_seed=CLIENT_SEED)
    scripted = Session(
        LicensingServer(
            lab.server_config(),
            lab.policy.host(),
            random_bytes=seeded_bytes(SERVER_SEED),
        ),
        session.client,
        decide,
    )
    scripted.server.start(now)
    scripted.client.start(now)
    pump(scripted, now)
    assert answers == [], "the machine asked fewer questions than expected"
    return scripted


def by_policy(lab: Lab, device: Device, now: datetime) -> Session:
    return lab.connect(device, now, server_seed=SERVER_SEED, client_seed=CLIENT_SEED)


def signed(lab: Lab, device: Device, license_id: int, temporary: bool, days: int) -> bytes:
    """The CAL the license server signs for ``device`` at T0 (fields as rdplic fills them)."""
    fields = LicenseFields(
        license_id=license_id,
        hwid=device.hwid,
        client_machine_name=device.machine_name,
        client_user_name=device.user_name,
        product_major=10,
        product_minor=1,
        temporary=temporary,
        issued=T0,
        expires=T0 + timedelta(days=days),
    )
    return issue_license(lab.keys.license_server, fields)


def questions(session: Session) -> list[Question]:
    return [question.question for question, _ in session.decisions]


def test_new_device_gets_the_same_bytes_from_a_handwritten_decision(
    make_lab: LabFactory,
) -> None:
    """New License Request -> a temporary license: the handwritten ISSUE_NEW gives the wire the
    policy gives."""
    lab = make_lab()
    device = Device()
    policy = by_policy(lab, device, T0)
    decision = Decision(
        DecisionKind.ISSUE_NEW,
        "temporary license for 90 days",
        "R27",
        LicenseSummary(1, True, T0 + 90 * DAY, VERSION_2019),
        signed(lab, device, 1, True, 90),
    )
    hand = by_hand(make_lab(), Device(), T0, [decision])
    assert questions(hand) == [Question.CHALLENGE_RESPONSE]
    assert hand.wire == policy.wire
    assert [d for _, d in policy.decisions] == [decision]


def test_upgrade_and_valid_client_by_hand_match_the_policy(make_lab: LabFactory) -> None:
    """A presented temporary license upgraded to a permanent CAL (PLATFORM_CHALLENGE, then
    UPGRADE), then the CAL accepted (VALID_CLIENT): the same bytes by hand as by policy."""
    lab = make_lab()
    lab.add_cals(1)
    device = Device()
    by_policy(lab, device, T0)  # the temporary license, now in the device's store
    upgrade = by_policy(lab, device, T0)
    valid = by_policy(lab, device, T0)
    (_, issued) = upgrade.decisions[1]
    assert issued.license is not None and not issued.license.temporary
    days = (issued.license.expires_at - T0).days if issued.license.expires_at else 0

    again = make_lab()
    again.add_cals(1)
    twin = Device()
    by_policy(again, twin, T0)  # the same temporary license for the twin device
    upgrade_by_hand = by_hand(
        again,
        twin,
        T0,
        [
            Decision(DecisionKind.PLATFORM_CHALLENGE, "license needs upgrade: temporary", "R39"),
            Decision(
                DecisionKind.UPGRADE,
                f"permanent per-device CAL 10.1 for {days} days",
                "R29",
                LicenseSummary(2, False, T0 + timedelta(days=days), VERSION_2019),
                signed(again, twin, 2, False, days),
            ),
        ],
    )
    assert questions(upgrade_by_hand) == [Question.LICENSE_INFO, Question.CHALLENGE_RESPONSE]
    assert upgrade_by_hand.wire == upgrade.wire
    valid_by_hand = by_hand(
        again,
        twin,
        T0,
        [Decision(DecisionKind.VALID_CLIENT, "license valid for this host", "R65")],
    )
    assert questions(valid_by_hand) == [Question.LICENSE_INFO]
    assert valid_by_hand.wire == valid.wire


def test_refusal_by_hand_matches_the_policy(make_lab: LabFactory) -> None:
    """A device whose temporary license lapsed, with no CAL left: the handwritten refusal
    (ERR_INVALID_CLIENT / ST_TOTAL_ABORT, Set Error Info 0x102) is the policy's, byte for byte."""
    lab = make_lab()
    device = Device()
    by_policy(lab, device, T0)
    later = T0 + 91 * DAY
    refused = by_policy(lab, device, later)
    (_, decision) = refused.decisions[-1]
    assert decision.kind is DecisionKind.REFUSE

    again = make_lab()
    twin = Device()
    by_policy(again, twin, T0)
    hand = by_hand(
        again,
        twin,
        later,
        [
            Decision(DecisionKind.PLATFORM_CHALLENGE, "license needs upgrade", "R39"),
            Decision(
                DecisionKind.REFUSE,
                "no permanent CAL available and the device already had its temporary license",
                "R33",
                error_code=ErrorCode.ERR_INVALID_CLIENT,
                state_transition=StateTransition.ST_TOTAL_ABORT,
                error_info=ErrorInfo.ERRINFO_LICENSE_NO_LICENSE,
            ),
        ],
    )
    assert hand.wire == refused.wire
    assert hand.wire[-1][1][:2] == b"\xff\x03"  # the licensing error message
