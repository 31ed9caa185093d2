"""Per-device issuance life cycle (docs/license-server-behavior.md section 4), rule by rule."""

from __future__ import annotations

from datetime import timedelta

from ls_helpers import DAY, T0, Device, HarnessFactory, presented

from rdplic.licensing import (
    CalType,
    ClientIdentity,
    DecisionKind,
    FirstLicensePolicy,
    HistoryKind,
    KeyPackType,
    LicenseStatus,
    ProductVersion,
    RefusalStyle,
)
from rdplic.pdu.licensing import ErrorCode, StateTransition
from rdplic.pdu.rdp import ErrorInfo
from rdplic.store import HistoryQuery, LicenseQuery


def test_r27_first_contact_gets_a_90_day_temporary_license(make_harness: HarnessFactory) -> None:
    """R27: a device without a license gets a temporary per-device license valid 90 days."""
    h = make_harness()
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    device = Device.named("pc1")
    decision = h.connect(device)
    assert decision.kind is DecisionKind.ISSUE_NEW
    assert decision.rule == "R27"
    lic = decision.license
    assert lic is not None and lic.temporary and lic.status is LicenseStatus.TEMPORARY
    assert lic.expires - lic.issued == timedelta(days=90)
    assert lic.product_version == ProductVersion(10, 1)  # a 2019 host asks for 2019 (R40)
    with h.policy.store.snapshot() as tx:
        assert tx.get_license_blob(lic.license_id) == decision.blob  # stored with the record
        pack = tx.get_key_pack(lic.key_pack_id or 0)
    assert pack is not None and pack.key_pack_type is KeyPackType.TEMPORARY


def test_r18_temporary_pool_is_an_uncapped_type_4_key_pack(make_harness: HarnessFactory) -> None:
    """R18: temporary licenses are accounted in a KeyPackType 4 pack with no cap."""
    h = make_harness()
    for n in range(30):
        assert h.connect(Device.named(f"pc{n}")).kind is DecisionKind.ISSUE_NEW
    packs = h.admin.list_key_packs(h.now)
    assert [(p.key_pack_type, p.total, p.issued) for p in packs] == [
        (KeyPackType.TEMPORARY, None, 30)
    ]
    assert packs[0].key_pack_type == 4


def test_r29_validated_temporary_is_upgraded_to_a_permanent_cal(
    make_harness: HarnessFactory,
) -> None:
    """R29: the next connection with a validated temporary license gets UPGRADE_LICENSE."""
    h = make_harness()
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    device = Device.named("pc1")
    first = h.connect(device)
    h.advance(1)
    evaluated = h.policy.evaluate_presented(device.identity, device.stored, h.now)  # type: ignore[arg-type]
    assert evaluated.kind is DecisionKind.PLATFORM_CHALLENGE
    second = h.connect(device)
    assert second.kind is DecisionKind.UPGRADE and second.rule == "R29"
    assert second.license is not None and not second.license.temporary
    assert (
        second.license.status is LicenseStatus.ACTIVE
        and second.license.key_pack_id == pack.key_pack_id
    )
    assert first.license is not None
    old, _, _ = h.admin.get_license(first.license.license_id)
    assert old.status is LicenseStatus.UPGRADED and old.upgraded_to == second.license.license_id
    assert [p.issued for p in h.admin.list_key_packs(h.now)] == [1, 0]  # CAL taken, temp returned
    # The third connection presents a good permanent CAL: nothing more to do (R65).
    h.advance(1)
    assert h.connect(device).kind is DecisionKind.VALID_CLIENT


def test_r29_permanent_first_policy_issues_a_cal_at_once(make_harness: HarnessFactory) -> None:
    """R29: with first_license=permanent a new device gets a permanent CAL straight away."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    first = h.connect(Device.named("pc1"))
    assert first.kind is DecisionKind.ISSUE_NEW and first.license and not first.license.temporary
    # No CAL left: the next new device still gets its temporary license.
    second = h.connect(Device.named("pc2"))
    assert second.license is not None and second.license.temporary


def test_r28_unvalidated_temporary_is_not_upgraded(make_harness: HarnessFactory) -> None:
    """R28: a temporary license is upgraded only after the host marked it validated (logon)."""
    h = make_harness(auto_validate_temporary=False)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    device = Device.named("pc1")
    first = h.connect(device)
    assert first.license is not None and not first.license.validated
    h.advance(1)
    kept = h.connect(device)
    assert kept.kind is DecisionKind.UPGRADE_WITH_OLD and kept.rule == "R28"
    assert kept.blob == first.blob
    h.admin.mark_validated(first.license.license_id, h.now)
    assert h.connect(device).kind is DecisionKind.UPGRADE


def test_r30_no_cal_at_upgrade_time_keeps_the_temporary_license(
    make_harness: HarnessFactory,
) -> None:
    """R30: with no CAL available the temporary license keeps working until its 90 days end."""
    h = make_harness()
    device = Device.named("pc1")
    first = h.connect(device)
    for _ in range(8):
        h.advance(10)
        decision = h.connect(device)
        assert decision.kind is DecisionKind.UPGRADE_WITH_OLD and decision.rule == "R30"
        assert decision.blob == first.blob


def test_r33_expired_temporary_and_no_cal_is_refused(make_harness: HarnessFactory) -> None:
    """R33: temporary license expired and no CAL: refused, ERRINFO_LICENSE_NO_LICENSE (0x102)."""
    h = make_harness()
    device = Device.named("pc1")
    h.connect(device)
    h.advance(91)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.REFUSE and decision.rule == "R33"
    assert decision.error_code is ErrorCode.ERR_INVALID_CLIENT
    assert decision.state_transition is StateTransition.ST_TOTAL_ABORT
    assert decision.error_info is ErrorInfo.ERRINFO_LICENSE_NO_LICENSE == 0x102
    kinds = [e.kind for e in h.admin.history(HistoryQuery(hwid=device.identity.hwid))]
    assert kinds == [HistoryKind.ISSUED, HistoryKind.EXPIRED, HistoryKind.REFUSED]


def test_r33_refusal_style_is_configurable(make_harness: HarnessFactory) -> None:
    """R69: "valid client then disconnect" style sends STATUS_VALID_CLIENT, then Set Error Info."""
    h = make_harness(refusal_style=RefusalStyle.VALID_CLIENT_THEN_DISCONNECT)
    device = Device.named("pc1")
    h.connect(device)
    h.advance(91)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.REFUSE and decision.disconnects
    assert decision.error_code is ErrorCode.STATUS_VALID_CLIENT
    assert decision.state_transition is StateTransition.ST_NO_TRANSITION
    assert decision.error_info is ErrorInfo.ERRINFO_LICENSE_NO_LICENSE


def test_r33_expired_temporary_gets_a_cal_when_one_is_available(
    make_harness: HarnessFactory,
) -> None:
    """R27: after the temporary license lapses the device connects only with a permanent CAL."""
    h = make_harness()
    device = Device.named("pc1")
    h.connect(device)
    h.advance(95)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    decision = h.connect(device)
    assert (
        decision.kind is DecisionKind.UPGRADE
        and decision.license
        and not decision.license.temporary
    )


def test_r27_a_device_gets_a_temporary_license_only_once(make_harness: HarnessFactory) -> None:
    """R27: a device that lost its license file but kept its HWID gets no second temporary."""
    h = make_harness()
    device = Device.named("pc1")
    h.connect(device)
    h.advance(91)
    device.stored = None  # LICENSE000 deleted, HardwareID kept (R73 first case)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.REFUSE
    temporaries = h.admin.list_licenses(h.now, LicenseQuery(hwid=device.identity.hwid))
    assert len(temporaries) == 1 and temporaries[0].status is LicenseStatus.EXPIRED


def test_r23_same_hwid_gets_the_same_license_bits_back(make_harness: HarnessFactory) -> None:
    """R23: a device asking again with the same HWID gets its license back, listed once."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    device = Device.named("pc1")
    first = h.connect(device)
    h.advance(3)
    device.stored = None
    again = h.connect(device)
    assert again.kind is DecisionKind.ISSUE_NEW and again.rule == "R23"
    assert again.blob == first.blob and again.license == first.license
    assert len(h.admin.list_licenses(h.now)) == 1
    assert h.admin.list_key_packs(h.now)[0].issued == 1
    # Also for a temporary license.
    other = Device.named("pc2")
    t1 = h.connect(other)
    other.stored = None
    assert h.connect(other).blob == t1.blob


def test_r31_permanent_cal_lasts_52_to_89_days(make_harness: HarnessFactory) -> None:
    """R31: a permanent CAL expires after a random whole number of days in [52, 89]."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=60)
    days = set()
    for n in range(60):
        decision = h.connect(Device.named(f"pc{n}"))
        assert decision.license is not None
        lifetime = decision.license.expires - decision.license.issued
        assert lifetime.seconds == 0 and 52 <= lifetime.days <= 89
        days.add(lifetime.days)
    assert len(days) > 10  # drawn, not fixed


def test_r25_r31_a_cal_not_renewed_returns_to_the_pool(make_harness: HarnessFactory) -> None:
    """R31, R25: a device that does not come back loses its CAL, which is reclaimed to the pool."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    first = h.connect(Device.named("pc1"))
    assert first.license is not None
    assert h.connect(Device.named("pc2")).license.temporary  # type: ignore[union-attr]
    h.advance(90)
    packs = {p.key_pack_id: p for p in h.admin.list_key_packs(h.now)}  # reclaims lazily
    assert packs[pack.key_pack_id].available == 1
    lic, _, events = h.admin.get_license(first.license.license_id)
    assert lic.status is LicenseStatus.EXPIRED
    assert [e.kind for e in events][-2:] == [HistoryKind.EXPIRED, HistoryKind.RECLAIMED]


def test_r32_cal_presented_within_7_days_of_expiry_is_renewed(make_harness: HarnessFactory) -> None:
    """R32: within 7 days of expiry the CAL is renewed for a fresh 52-89 days (upgrade license)."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    device = Device.named("pc1")
    first = h.connect(device)
    assert first.license is not None
    h.clock.set(first.license.expires - 8 * DAY)
    assert h.connect(device).kind is DecisionKind.VALID_CLIENT  # 8 days left: as is
    h.clock.set(first.license.expires - 6 * DAY)
    renewed = h.connect(device)
    assert renewed.kind is DecisionKind.UPGRADE and renewed.rule == "R32"
    assert renewed.license is not None and renewed.license.license_id == first.license.license_id
    assert 52 <= (renewed.license.expires - h.now).days <= 89
    assert renewed.blob != first.blob
    with h.policy.store.snapshot() as tx:
        assert tx.get_license_blob(first.license.license_id) == renewed.blob
    assert h.admin.list_key_packs(h.now)[0].issued == 1  # still one CAL


def test_r39_what_needs_an_upgrade(make_harness: HarnessFactory) -> None:
    """R39: temporary, expired, within 7 days, older version or invalid needs upgrade; else not."""
    from rdplic.licensing import ValidationStatus

    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    decision = h.connect(Device.named("pc1"))
    assert decision.license is not None
    good = presented(decision.license, decision.blob)
    now = h.now
    assert not h.policy.needs_upgrade(good, now)
    assert h.policy.needs_upgrade(presented(decision.license, b"", temporary=True), now)
    assert h.policy.needs_upgrade(good, good.expires + DAY)
    assert h.policy.needs_upgrade(good, good.expires - 7 * DAY)
    assert not h.policy.needs_upgrade(good, good.expires - 7 * DAY - timedelta(seconds=1))
    assert h.policy.needs_upgrade(
        presented(decision.license, b"", product_version=ProductVersion(10, 0)), now
    )
    assert not h.policy.needs_upgrade(
        presented(decision.license, b"", product_version=ProductVersion(10, 2)), now
    )
    for bad in (
        ValidationStatus.BAD_SIGNATURE,
        ValidationStatus.HWID_MISMATCH,
        ValidationStatus.BAD_FORMAT,
    ):
        assert h.policy.needs_upgrade(presented(decision.license, b"", validation=bad), now)


def test_r73_r24_lost_store_is_a_new_device_and_the_old_cal_stays(
    make_harness: HarnessFactory,
) -> None:
    """R73, R24: a wiped client store means a new HWID, a new temporary, and the old CAL kept."""
    h = make_harness()
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=2)
    device = Device.named("pc1")
    h.connect(device)
    h.advance(1)
    upgraded = h.connect(device)
    assert upgraded.license is not None
    old_hwid = device.identity.hwid
    device.wipe_store()
    h.advance(1)
    fresh = h.connect(device)
    assert fresh.kind is DecisionKind.ISSUE_NEW and fresh.license and fresh.license.temporary
    old, _, _ = h.admin.get_license(upgraded.license.license_id)
    assert old.status is LicenseStatus.ACTIVE  # still allocated until it expires
    assert h.admin.list_key_packs(h.now)[0].issued == 1
    history = h.admin.history(HistoryQuery(hwid=old_hwid))
    assert [e.kind for e in history] == [
        HistoryKind.ISSUED,
        HistoryKind.ISSUED,
        HistoryKind.UPGRADED,
    ]
    h.advance(90)
    h.admin.reclaim(h.now)
    old, _, _ = h.admin.get_license(upgraded.license.license_id)
    assert old.status is LicenseStatus.EXPIRED


def test_r13_unactivated_license_server_issues_temporary_licenses_only(
    make_harness: HarnessFactory,
) -> None:
    """R13: a license server that is not activated hands out temporary licenses, no CALs."""
    h = make_harness(license_server_activated=False, first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=3)
    decision = h.connect(Device.named("pc1"))
    assert decision.license is not None and decision.license.temporary


def test_r35_per_device_host_with_only_per_user_cals(make_harness: HarnessFactory) -> None:
    """R35: per-device host, only per-user CALs on the server: temporaries, then refusal."""
    h = make_harness()
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_USER, count=50)
    device = Device.named("pc1")
    assert h.connect(device).license.temporary  # type: ignore[union-attr]
    h.advance(1)
    assert h.connect(device).kind is DecisionKind.UPGRADE_WITH_OLD
    h.advance(90)
    assert h.connect(device).kind is DecisionKind.REFUSE


def test_r16_per_device_cals_are_never_over_allocated(make_harness: HarnessFactory) -> None:
    """R16, R15: no permanent CAL is issued when Available = 0; counters add up."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=3)
    kinds = [h.connect(Device.named(f"pc{n}")).license.temporary for n in range(6)]  # type: ignore[union-attr]
    assert kinds == [False, False, False, True, True, True]
    current = next(p for p in h.admin.list_key_packs(h.now) if p.key_pack_id == pack.key_pack_id)
    assert (current.total, current.issued, current.available) == (3, 3, 0)


def test_r17_reissued_cals_are_another_key_pack_installation(make_harness: HarnessFactory) -> None:
    """R17: a reissued pack is a separate installation, otherwise used like the original."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    original = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    reissued = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, reissued=True)
    assert reissued.key_pack_id != original.key_pack_id and reissued.reissued
    first = h.connect(Device.named("pc1"))
    second = h.connect(Device.named("pc2"))
    assert first.license and first.license.key_pack_id == original.key_pack_id
    assert second.license and second.license.key_pack_id == reissued.key_pack_id
    assert not second.license.temporary


def test_r19_builtin_cal_for_windows_2000_clients_of_a_windows_2000_host(
    make_harness: HarnessFactory,
) -> None:
    """R19: a Windows 2000 host gives 2000 / XP Pro clients a built-in CAL, no pack used."""
    h = make_harness(windows_version="2000")
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    w2k = Device.named("w2kpro", platform_id=0x03010000)  # CLIENT_OS_ID_WINNT_50 | Microsoft
    decision = h.connect(w2k)
    assert decision.rule == "R19" and decision.license and not decision.license.temporary
    packs = {p.key_pack_id: p for p in h.admin.list_key_packs(h.now)}
    assert packs[pack.key_pack_id].issued == 0
    assert packs[decision.license.key_pack_id or 0].key_pack_type is KeyPackType.BUILT_IN
    report = h.admin.report(h.now)
    assert report.per_device[0]["CALType"] == "Built-in TS Per Device CAL"
    # Another OS (NT 4, non-Windows, ...) needs a purchased CAL: temporary first.
    nt4 = Device.named("nt4", platform_id=0x02010000)
    assert h.connect(nt4).license.temporary  # type: ignore[union-attr]


def test_r19_xp_home_needs_a_cal_when_the_builtin_set_is_narrowed(
    make_harness: HarnessFactory,
) -> None:
    """R19: only the configured built-in platforms (XP Pro) get built-in CALs, not XP Home."""
    from rdplic.licensing.hostconfig import PlatformPattern

    xp_pro, xp_home = 0x03010A28, 0x03010A29  # lab-chosen ids standing for the two editions
    h = make_harness(
        windows_version="2000", builtin_platforms=(PlatformPattern(xp_pro, 0xFFFFFFFF),)
    )
    assert h.connect(Device.named("pro", platform_id=xp_pro)).rule == "R19"
    home = h.connect(Device.named("home", platform_id=xp_home))
    assert home.rule == "R27" and home.license and home.license.temporary


def test_r19_windows_2003_hosts_do_not_honour_builtin_cals(make_harness: HarnessFactory) -> None:
    """R19: from Windows Server 2003 on, XP Pro / 2000 clients need a CAL like any other."""
    h = make_harness(windows_version="2003")
    decision = h.connect(Device.named("xppro", platform_id=0x03010000))
    assert decision.rule == "R27" and decision.license and decision.license.temporary


def test_r69_invalid_license_is_upgraded_by_default(make_harness: HarnessFactory) -> None:
    """R39, MS-RDPELE 3.2.5.3: a tampered license (HWID mismatch) goes through the upgrade path."""
    from rdplic.licensing import ValidationStatus

    h = make_harness()
    device = Device.named("pc1")
    first = h.connect(device)
    assert device.stored is not None
    device.stored = presented(first.license, first.blob, validation=ValidationStatus.HWID_MISMATCH)  # type: ignore[arg-type]
    decision = h.connect(device)
    # The device's own temporary license (by HWID) is sent back, not a second one.
    assert decision.kind is DecisionKind.UPGRADE and decision.blob == first.blob


def test_r69_invalid_license_refusal_is_configurable(make_harness: HarnessFactory) -> None:
    """R69: invalid_license=refuse: a tampered CAL gets ERR_INVALID_CLIENT + ERRINFO 0x104."""
    from rdplic.licensing import InvalidLicenseAction, ValidationStatus

    h = make_harness(invalid_license=InvalidLicenseAction.REFUSE)
    device = Device.named("pc1")
    first = h.connect(device)
    device.stored = presented(first.license, first.blob, validation=ValidationStatus.HWID_MISMATCH)  # type: ignore[arg-type]
    decision = h.connect(device)
    assert decision.kind is DecisionKind.REFUSE
    assert decision.error_code is ErrorCode.ERR_INVALID_CLIENT
    assert decision.error_info is ErrorInfo.ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE


def test_r69_refusal_names_what_validation_found(make_harness: HarnessFactory) -> None:
    """R69 with invalid_license=refuse: the refusal says foreign (validate_license's verdict),
    not the coarser bad_signature (issue 12)."""
    from rdplic.licensing import InvalidLicenseAction, ValidationStatus

    h = make_harness(invalid_license=InvalidLicenseAction.REFUSE)
    device = Device.named("pc1")
    first = h.connect(device)
    device.stored = presented(
        first.license,  # type: ignore[arg-type]
        first.blob,
        validation=ValidationStatus.BAD_SIGNATURE,
        verdict="foreign",
    )
    decision = h.connect(device)
    assert decision.kind is DecisionKind.REFUSE
    assert decision.reason == "presented license failed validation (foreign)"


def test_foreign_license_is_treated_as_a_new_device(make_harness: HarnessFactory) -> None:
    """R22: a presented license this server does not know is upgraded from the HWID's own record."""
    h = make_harness()
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    device = Device.named("pc1")
    first = h.connect(device)
    assert first.license is not None
    device.stored = presented(first.license, b"other", license_id=999_999, issuer_matches=False)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.UPGRADE and decision.license is not None
    assert not decision.license.temporary  # its temporary (validated) was upgraded


def test_client_identity_needs_a_20_byte_hwid() -> None:
    """MS-RDPELE 2.2.2.3.1: CLIENT_HARDWARE_ID is exactly 20 bytes."""
    import pytest

    with pytest.raises(ValueError, match="20 bytes"):
        ClientIdentity(b"\x00" * 19)
    assert ClientIdentity(b"\x00" * 20).hwid == bytes(20)


def test_history_survives_everything_the_client_does(make_harness: HarnessFactory) -> None:
    """R24: the issuance history is server-side; the client store is irrelevant to it."""
    h = make_harness()
    device = Device.named("pc1")
    h.connect(device)
    device.wipe_store()
    h.connect(device)
    events = h.admin.history(HistoryQuery(machine_name="PC1"))
    assert [e.kind for e in events] == [HistoryKind.ISSUED, HistoryKind.ISSUED]
    assert events[0].hwid != events[1].hwid
    assert h.now == T0
