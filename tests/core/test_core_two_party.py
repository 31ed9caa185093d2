"""Two-party tests: our client core against our server core, over the real license service.

Every licensing path of the issue is run whole and byte by byte (``feed``):
new device, temporary-to-permanent upgrade, renewal, no CALs left, expired
temporary license, revoked CAL, foreign license, tampered license, wrong
HWID and valid-client-only mode.  Each test checks the messages on the wire,
both machines' final states, the events, and what the client stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from core_helpers import DAY, T0, Device, Feed, Keys, Lab, LabFactory, Session

from rdplic.core import (
    ClientState,
    FailureOrigin,
    LicenseKey,
    LicensePresented,
    LicenseRequested,
    LicenseRequestReceived,
    LicenseUpgraded,
    LicensingFailed,
    NewLicenseIssued,
    NewLicenseReceived,
    PlatformChallengeAnswered,
    ServerState,
    UpgradedLicenseReceived,
    ValidClient,
)
from rdplic.crypto import issue_license, parse_license
from rdplic.crypto.license import LicenseFields
from rdplic.licensing import InvalidLicenseAction, LicensingMode
from rdplic.pdu.licensing import ErrorCode, StateTransition

FEEDS: tuple[Feed, ...] = ("whole", "bytes")

NEW = ["s2c:0x01", "c2s:0x13", "s2c:0x02", "c2s:0x15", "s2c:0x03"]
"""License Request, New License Request, Platform Challenge, Response, New License."""
UPGRADE = ["s2c:0x01", "c2s:0x12", "s2c:0x02", "c2s:0x15", "s2c:0x04"]
"""License Request, License Info, Platform Challenge, Response, Upgrade License."""
VALID = ["s2c:0x01", "c2s:0x12", "s2c:0xFF"]
"""License Request, License Info, STATUS_VALID_CLIENT."""
WINDOWS_2019_KEY = LicenseKey(0x000A0001, "microsoft.com", "Microsoft Corporation", "A02")
"""Where a client files a license from a Windows Server 2019 host (MS-RDPELE 3.3.5.6)."""


def completed(session: Session) -> None:
    assert session.server.state is ServerState.COMPLETED
    assert session.client.state is ClientState.COMPLETED


def stored(device: Device) -> bytes:
    """The one license ``device`` keeps."""
    assert len(device.store) == 1
    return next(iter(device.store.licenses.values()))


@pytest.mark.parametrize("feed", FEEDS)
def test_new_device_gets_a_temporary_license(lab: Lab, feed: Feed) -> None:
    """A device without a license gets a 90-day temporary license in a New License (R27)."""
    device = Device()
    session = lab.connect(device, feed=feed)
    assert session.message_types() == NEW
    completed(session)
    requested = session.server_event(LicenseRequested)
    assert requested.client.machine_name == "PC1" and requested.client.user_name == "alice"
    issued = session.server_event(NewLicenseIssued)
    assert issued.license.temporary and issued.license.expires_at == T0 + 90 * DAY
    assert issued.client.hwid == device.hwid
    received = session.client_event(NewLicenseReceived)
    assert received.key.scope == "microsoft.com" and received.key.product_id == "A02"
    assert received.key.version == 0x000A0001  # Windows Server 2019
    license = parse_license(stored(device))
    assert license.temporary and license.hwid == device.hwid
    assert license.license_id == issued.license.license_id
    assert session.client_event(LicenseRequestReceived).certificate == "x509"


@pytest.mark.parametrize("feed", FEEDS)
def test_temporary_license_is_upgraded_to_a_permanent_cal(lab: Lab, feed: Feed) -> None:
    """The next connection presents the temporary license and gets a permanent CAL (R29)."""
    device = Device()
    lab.connect(device)
    session = lab.connect(device, T0 + DAY, feed=feed)
    assert session.message_types() == UPGRADE
    completed(session)
    assert session.server_event(LicensePresented).verdict == "valid"
    upgraded = session.server_event(LicenseUpgraded)
    assert not upgraded.license.temporary and not upgraded.reissued_old
    assert timedelta(days=52) <= upgraded.license.expires_at - (T0 + DAY) <= timedelta(days=89)
    assert isinstance(session.client_events[-1], UpgradedLicenseReceived)
    license = parse_license(stored(device))  # replaced under the same key
    assert not license.temporary and license.license_id == upgraded.license.license_id


@pytest.mark.parametrize("feed", FEEDS)
def test_valid_permanent_license_gets_status_valid_client(lab: Lab, feed: Feed) -> None:
    """A valid permanent CAL is accepted with STATUS_VALID_CLIENT, no challenge (3.2.5.3)."""
    device = Device()
    lab.connect(device)
    lab.connect(device, T0 + DAY)
    before = stored(device)
    session = lab.connect(device, T0 + 2 * DAY, feed=feed)
    assert session.message_types() == VALID
    completed(session)
    valid = session.server_event(ValidClient)
    assert valid.license is not None and not valid.license.temporary
    assert valid.client.machine_name == "PC1"  # from the license: a License Info names nobody
    assert isinstance(session.client_events[-1], ValidClient)
    assert stored(device) == before


@pytest.mark.parametrize("feed", FEEDS)
def test_permanent_license_expiring_within_7_days_is_renewed(lab: Lab, feed: Feed) -> None:
    """A CAL presented within 7 days of expiry is renewed in an Upgrade License (R32)."""
    device = Device()
    lab.connect(device)
    lab.connect(device, T0 + DAY)
    old = parse_license(stored(device))
    later = old.expires - 3 * DAY
    session = lab.connect(device, later, feed=feed)
    assert session.message_types() == UPGRADE
    completed(session)
    upgraded = session.server_event(LicenseUpgraded)
    assert upgraded.license.license_id == old.license_id
    assert upgraded.license.expires_at is not None and upgraded.license.expires_at > old.expires
    renewed = parse_license(stored(device))
    assert renewed.expires == upgraded.license.expires_at and not renewed.temporary


@pytest.mark.parametrize("feed", FEEDS)
def test_no_cals_left_keeps_the_temporary_license(make_lab: LabFactory, feed: Feed) -> None:
    """With no CAL to upgrade to, the presented temporary license is sent back (R30, R45)."""
    host = make_lab()  # no key pack installed
    device = Device()
    lab_session = host.connect(device)
    first = stored(device)
    assert lab_session.server_event(NewLicenseIssued).license.temporary
    session = host.connect(device, T0 + DAY, feed=feed)
    assert session.message_types() == UPGRADE
    completed(session)
    upgraded = session.server_event(LicenseUpgraded)
    assert upgraded.reissued_old and upgraded.license.temporary
    assert stored(device) == first


@pytest.mark.parametrize("feed", FEEDS)
def test_expired_temporary_license_without_cal_is_refused(make_lab: LabFactory, feed: Feed) -> None:
    """An expired temporary license and no CAL: ERR_INVALID_CLIENT / ST_TOTAL_ABORT (R33)."""
    host = make_lab()
    device = Device()
    host.connect(device)
    session = host.connect(device, T0 + 91 * DAY, feed=feed)
    assert session.message_types() == [*UPGRADE[:-1], "s2c:0xFF"]
    assert session.server.state is ServerState.ABORTED
    assert session.client.state is ClientState.ABORTED
    failed = session.server_event(LicensingFailed)
    assert failed.origin is FailureOrigin.REFUSED and failed.error_sent
    assert (failed.error_code, failed.state_transition) == (
        ErrorCode.ERR_INVALID_CLIENT,
        StateTransition.ST_TOTAL_ABORT,
    )
    assert failed.error_info == 0x102  # ERRINFO_LICENSE_NO_LICENSE, for Set Error Info
    seen = session.client_event(LicensingFailed)
    assert seen.origin is FailureOrigin.PEER and seen.error_code == ErrorCode.ERR_INVALID_CLIENT


@pytest.mark.parametrize("feed", FEEDS)
def test_revoked_cal_is_replaced_at_renewal_time(lab: Lab, feed: Feed) -> None:
    """A revoked CAL still validates locally (R52), and is replaced when due for renewal."""
    device = Device()
    lab.connect(device)
    lab.connect(device, T0 + DAY)
    old = parse_license(stored(device))
    lab.admin.revoke(old.license_id, T0 + 2 * DAY)
    session = lab.connect(device, T0 + 3 * DAY, feed=feed)
    assert session.message_types() == VALID
    session = lab.connect(device, old.expires - 2 * DAY, feed=feed)
    assert session.message_types() == UPGRADE
    completed(session)
    upgraded = session.server_event(LicenseUpgraded)
    assert upgraded.license.license_id != old.license_id and not upgraded.license.temporary
    assert parse_license(stored(device)).license_id == upgraded.license.license_id


@pytest.mark.parametrize("feed", FEEDS)
def test_foreign_license_is_treated_as_a_new_client(lab: Lab, other_keys: Keys, feed: Feed) -> None:
    """A license from another license server needs an upgrade: challenge, then a license of ours."""
    device = Device(machine_name="PC9")  # a device this host has never seen
    foreign = issue_license(
        other_keys.license_server,
        LicenseFields(
            license_id=78,
            hwid=device.hwid,
            client_machine_name="PC9",
            client_user_name="bob",
            product_major=10,
            product_minor=1,
            temporary=False,
            issued=T0 - 10 * DAY,
            expires=T0 + 50 * DAY,
        ),
    )
    device.store.store(WINDOWS_2019_KEY, foreign)
    session = lab.connect(device, T0 + DAY, feed=feed)
    assert session.message_types() == UPGRADE
    completed(session)
    assert session.server_event(LicensePresented).verdict == "foreign"
    upgraded = session.server_event(LicenseUpgraded)
    mine = parse_license(stored(device))
    assert mine.license_id == upgraded.license.license_id != 78
    assert mine.issuer_name == lab.keys.license_server.name


@pytest.mark.parametrize("feed", FEEDS)
def test_tampered_license_is_replaced(lab: Lab, feed: Feed) -> None:
    """A license whose bytes were altered fails its signature and is treated as invalid."""
    device = Device()
    lab.connect(device)
    lab.connect(device, T0 + DAY)
    key, blob = next(iter(device.store.licenses.items()))
    device.store.store(key, blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:])  # in the signature
    session = lab.connect(device, T0 + 2 * DAY, feed=feed)
    assert session.server_event(LicensePresented).verdict == "tampered"
    assert session.message_types() == UPGRADE
    completed(session)
    # A known device gets its own license back, intact (R23).
    assert stored(device) == blob
    assert (
        session.server_event(LicenseUpgraded).license.license_id == parse_license(blob).license_id
    )


def test_tampered_license_is_refused_when_the_host_refuses_invalid_licenses(
    make_lab: LabFactory,
) -> None:
    """With ``invalid_license = refuse`` an invalid license is refused at once (R69)."""
    host = make_lab(invalid_license=InvalidLicenseAction.REFUSE)
    host.add_cals(2)
    device = Device()
    host.connect(device)
    key, blob = next(iter(device.store.licenses.items()))
    device.store.store(key, blob[:-1] + bytes([blob[-1] ^ 1]))
    session = host.connect(device, T0 + DAY)
    assert session.message_types() == ["s2c:0x01", "c2s:0x12", "s2c:0xFF"]
    failed = session.server_event(LicensingFailed)
    assert failed.error_code == ErrorCode.ERR_INVALID_CLIENT and failed.error_info == 0x105
    # What validate_license said (the last byte cut the DER short), not bad_format (issue 12).
    assert failed.reason.endswith("(malformed)")
    assert session.server.state is ServerState.ABORTED


@pytest.mark.parametrize("feed", FEEDS)
def test_license_of_another_hwid_is_treated_as_a_new_client(lab: Lab, feed: Feed) -> None:
    """A valid license presented with another HWID needs an upgrade (HWID check, R65)."""
    first = Device(machine_name="PC1")
    lab.connect(first)
    lab.connect(first, T0 + DAY)
    copy = Device(machine_name="PC2", store=first.store)  # the license copied to another PC
    session = lab.connect(copy, T0 + 2 * DAY, feed=feed)
    assert session.server_event(LicensePresented).verdict == "hwid_mismatch"
    assert session.message_types() == UPGRADE
    completed(session)
    upgraded = session.server_event(LicenseUpgraded)
    assert upgraded.client.hwid == copy.hwid
    assert parse_license(stored(copy)).hwid == copy.hwid


@pytest.mark.parametrize("feed", FEEDS)
def test_valid_client_only_mode_sends_one_valid_client_pdu(
    make_lab: LabFactory, feed: Feed
) -> None:
    """Valid-client-only: the single STATUS_VALID_CLIENT / ST_NO_TRANSITION PDU (R60)."""
    host = make_lab(licensing_mode=LicensingMode.VALID_CLIENT_ONLY)
    device = Device()
    session = host.connect(device, feed=feed)
    assert session.wire == [("s2c", bytes.fromhex("ff031000070000000200000004000000"))]
    completed(session)
    assert session.server_event(ValidClient).reason == "valid-client-only mode"
    assert isinstance(session.client_events[-1], ValidClient)
    assert len(device.store) == 0


def test_personal_host_answers_valid_client_after_the_challenge(make_lab: LabFactory) -> None:
    """A host that licenses nobody (personal, R4) ends with STATUS_VALID_CLIENT, storing nothing."""
    host = make_lab(licensing_mode=LicensingMode.PERSONAL)
    device = Device()
    session = host.connect(device)
    assert session.message_types() == [*NEW[:-1], "s2c:0xFF"]
    completed(session)
    assert len(device.store) == 0


def test_platform_challenge_answered_event_reports_the_client(lab: Lab) -> None:
    """The challenge response's client type and detail level reach the server's events."""
    session = lab.connect(Device(platform="freerdp"))
    answered = session.server_event(PlatformChallengeAnswered)
    assert (answered.client_type, answered.license_detail_level) == (0xFF00, 3)


@pytest.mark.parametrize(
    ("platform", "built_in"),
    [
        ("windows-2000-professional", True),
        ("windows-xp-professional", True),
        ("windows-10", False),
        ("macos", False),
    ],
)
def test_windows_2000_host_gives_built_in_cals_by_platform(
    make_lab: LabFactory, platform: str, built_in: bool
) -> None:
    """Windows 2000 host: a built-in permanent CAL for 2000/XP clients, else temporary (R19)."""
    host = make_lab(windows_version="2000")
    device = Device(platform=platform)
    session = host.connect(device)
    assert session.message_types() == NEW
    issued = session.server_event(NewLicenseIssued)
    assert issued.license.temporary is not built_in
    assert session.client_event(NewLicenseReceived).key.version == 0x00050000
