"""Revocation, reclaim and transfer (R49-R54), per-user mode (R55-R59), reports (R76, R77)."""

from __future__ import annotations

import pytest
from ls_helpers import DAY, Device, Harness, HarnessFactory

from rdplic.errors import UsageError
from rdplic.licensing import (
    CalType,
    DecisionKind,
    FirstLicensePolicy,
    HistoryKind,
    LicenseStatus,
    LicensingMode,
    ProductVersion,
    RevocationQuotaExceeded,
)
from rdplic.store import HistoryQuery, LicenseQuery


def _cals(h: Harness, count: int, n: int, version: str | None = None) -> list[int]:
    """Install ``count`` per-device CALs and give permanent ones to ``n`` devices."""
    v = None if version is None else ProductVersion.parse(version)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=count, version=v)
    ids = []
    for i in range(n):
        decision = h.connect(Device.named(f"dev-{version}-{i}"))
        assert decision.license is not None and not decision.license.temporary
        ids.append(decision.license.license_id)
    return ids


def test_r51_revoked_cal_is_back_in_the_pool_at_once(make_harness: HarnessFactory) -> None:
    """R51: revoking moves the record to Revoked and the CAL back to Available immediately."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    [lid] = _cals(h, 5, 1)
    assert h.admin.list_key_packs(h.now)[0].available == 4
    result = h.admin.revoke(lid, h.now)
    assert result.license.status is LicenseStatus.REVOKED and result.license.revoked == h.now
    assert h.admin.list_key_packs(h.now)[0].available == 5
    events = h.admin.history(HistoryQuery(license_id=lid))
    assert events[-1].kind is HistoryKind.REVOKED


def test_r50_revocation_quota_is_20_percent_or_1(make_harness: HarnessFactory) -> None:
    """R50: at most max(1, 20 % of installed) revoked CALs per version; then a date is given."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    ids = _cals(h, 10, 4)
    first = h.admin.revoke(ids[0], h.now)
    assert first.revokable_cals == 1 and first.next_revoke_allowed_on is None
    second = h.admin.revoke(ids[1], h.now)
    assert second.revokable_cals == 0 and second.next_revoke_allowed_on is not None
    with pytest.raises(RevocationQuotaExceeded, match="R50") as caught:
        h.admin.revoke(ids[2], h.now)
    assert caught.value.revokable_cals == 0
    next_on = caught.value.next_revoke_allowed_on
    assert next_on == min(h.admin.get_license(i)[0].expires for i in ids[:2])
    # The slot is freed at the revoked CAL's original expiration date (R51).
    h.clock.set(next_on)  # type: ignore[arg-type]
    assert h.admin.revoke(ids[2], h.now).license.status is LicenseStatus.REVOKED


def test_r50_small_installations_may_revoke_one(make_harness: HarnessFactory) -> None:
    """R50: with fewer than 10 CALs installed the quota is still 1."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    ids = _cals(h, 3, 2)
    h.admin.revoke(ids[0], h.now)
    with pytest.raises(RevocationQuotaExceeded):
        h.admin.revoke(ids[1], h.now)


def test_r50_quotas_are_independent_per_version(make_harness: HarnessFactory) -> None:
    """R50: the quota of one CAL version does not consume another's."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT, windows_version="2016")
    old = _cals(h, 5, 2, "2016")
    h.admin.update_config("windows_version", "2019", h.now)
    new = _cals(h, 5, 2, "2019")
    h.admin.revoke(old[0], h.now)
    h.admin.revoke(new[0], h.now)
    with pytest.raises(RevocationQuotaExceeded):
        h.admin.revoke(old[1], h.now)


def test_r49_only_active_per_device_cals_can_be_revoked(make_harness: HarnessFactory) -> None:
    """R49: temporary licenses and per-user CALs cannot be revoked; the store is unchanged."""
    h = make_harness()
    temp = h.connect(Device.named("pc1")).license
    assert temp is not None
    with pytest.raises(UsageError, match="R49"):
        h.admin.revoke(temp.license_id, h.now)
    with pytest.raises(UsageError, match="no license 404"):
        h.admin.revoke(404, h.now)
    h.admin.update_config("licensing_mode", "per-user", h.now)
    h.connect(Device.named("pc2", user="bob"))
    [user_cal] = h.admin.list_licenses(
        h.now,
        LicenseQuery(user_name="bob", cal_type=CalType.PER_USER, statuses=(LicenseStatus.ACTIVE,)),
    )
    with pytest.raises(UsageError, match="per-user"):
        h.admin.revoke(user_cal.license_id, h.now)
    assert [e.kind for e in h.admin.history(HistoryQuery(kinds=(HistoryKind.REVOKED,)))] == []


def test_r53_windows_2003_license_server_cannot_revoke(make_harness: HarnessFactory) -> None:
    """R53: 2000/2003 license servers have no revoke function."""
    h = make_harness(windows_version="2003", first_license=FirstLicensePolicy.PERMANENT)
    [lid] = _cals(h, 2, 1)
    with pytest.raises(UsageError, match="R53"):
        h.admin.revoke(lid, h.now)


def test_r52_revoked_client_keeps_working_until_renewal(make_harness: HarnessFactory) -> None:
    """R52: a revoked CAL still validates on the host; at renewal the device is a new requester."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    device = Device.named("pc1")
    lic = h.connect(device).license
    assert lic is not None
    h.admin.revoke(lic.license_id, h.now)
    thief = Device.named("pc2")
    assert h.connect(thief).license.temporary is False  # type: ignore[union-attr]
    h.advance(10)
    assert h.connect(device).kind is DecisionKind.VALID_CLIENT  # checked locally only
    h.clock.set(lic.expires - 3 * DAY)
    assert h.connect(thief).kind is not DecisionKind.REFUSE  # the thief still holds the only CAL
    decision = h.connect(device)
    # No CAL left and the device never had a temporary: it gets one now (R52 -> R27).
    assert decision.kind is DecisionKind.UPGRADE and decision.license and decision.license.temporary


def test_r54_one_time_transfer_is_revoke_and_reissue(make_harness: HarnessFactory) -> None:
    """R54, R17: a transfer revokes the old device's CAL and reissues it as a key pack of one."""
    h = make_harness()
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    old_device = Device.named("old-pc")
    h.connect(old_device)
    h.advance(1)
    cal = h.connect(old_device).license
    assert cal is not None and not cal.temporary
    result = h.admin.transfer(cal.license_id, h.now, to="NEW-PC")
    assert result.license.status is LicenseStatus.REVOKED and result.license.transferred
    new_pack = result.reissued_key_pack
    assert new_pack.reissued and new_pack.total == 1 and new_pack.transferred_from == cal.license_id
    packs = {p.key_pack_id: p for p in h.admin.list_key_packs(h.now)}
    assert (packs[pack.key_pack_id].total, packs[pack.key_pack_id].issued) == (0, 0)
    # The new device bridges with a temporary license, then gets the reissued CAL.
    new_device = Device.named("new-pc")
    assert h.connect(new_device).license.temporary  # type: ignore[union-attr]
    h.advance(1)
    moved = h.connect(new_device).license
    assert moved is not None and moved.key_pack_id == new_pack.key_pack_id
    events = h.admin.history(HistoryQuery(license_id=cal.license_id))
    assert events[-1].kind is HistoryKind.TRANSFERRED and "NEW-PC" in events[-1].detail
    # Only once, and neither can the reissued CAL move again.
    with pytest.raises(UsageError, match="R54"):
        h.admin.transfer(cal.license_id, h.now)
    with pytest.raises(UsageError, match="already transferred"):
        h.admin.transfer(moved.license_id, h.now)
    # Transfers do not use the revocation quota (R50).
    assert h.admin.revoke(moved.license_id, h.now).license.status is LicenseStatus.REVOKED


def test_r55_per_user_mode_consumes_no_device_cal(make_harness: HarnessFactory) -> None:
    """R55, R59: per-user mode: normal exchange, a never-upgraded blob, no device CAL used."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    device_pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    user_pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_USER, count=5)
    device = Device.named("pc1", user="carol")
    first = h.connect(device)
    assert first.kind is DecisionKind.ISSUE_NEW and first.rule == "R59"
    assert first.license is not None and first.license.temporary
    h.advance(1)
    second = h.connect(device)
    assert second.kind is DecisionKind.VALID_CLIENT  # temporary, yet not upgraded (R59)
    packs = {p.key_pack_id: p for p in h.admin.list_key_packs(h.now)}
    assert packs[device_pack.key_pack_id].issued == 0
    assert packs[user_pack.key_pack_id].issued == 1  # one per-user CAL for carol (R56)


def test_r55_a_user_may_connect_from_any_number_of_devices(make_harness: HarnessFactory) -> None:
    """R55: a user connecting from many devices holds one per-user CAL."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_USER, count=1)
    for n in range(4):
        assert h.connect(Device.named(f"pc{n}", user="dave")).kind is DecisionKind.ISSUE_NEW
    cals = h.admin.list_licenses(
        h.now, LicenseQuery(user_name="dave", statuses=(LicenseStatus.ACTIVE,))
    )
    assert len(cals) == 1 and cals[0].cal_type is CalType.PER_USER


def test_r16_per_user_cals_can_be_over_allocated(make_harness: HarnessFactory) -> None:
    """R16: per-user CALs come from the pack or, when none is left, from the over-used pool."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_USER, count=1)
    for user in ("u1", "u2", "u3"):
        assert h.connect(Device.named(f"pc-{user}", user=user)).kind is DecisionKind.ISSUE_NEW
    cals = h.admin.list_licenses(
        h.now, LicenseQuery(cal_type=CalType.PER_USER, statuses=(LicenseStatus.ACTIVE,))
    )
    assert [c.key_pack_id is None for c in cals] == [False, True, True]
    summary = h.admin.report(h.now).to_dict()["summary"]
    row = next(r for r in summary if r["TSCALType"] == "Per User")
    assert (row["InstalledLicenses"], row["IssuedLicenses"], row["OverUsedLicenses"]) == (1, 1, 2)
    assert row["TSCALAvailability"] == "Limited"


def test_r57_per_user_cal_lasts_60_days_and_is_extended(make_harness: HarnessFactory) -> None:
    """R57: per-user CALs expire 60 days after issue, extended 60 days at a sign-in near expiry."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    device = Device.named("pc1", user="erin")
    h.connect(device)
    query = LicenseQuery(
        user_name="erin", cal_type=CalType.PER_USER, statuses=(LicenseStatus.ACTIVE,)
    )
    [cal] = h.admin.list_licenses(h.now, query)
    assert cal.expires - cal.issued == 60 * DAY
    h.advance(30)
    h.connect(device)
    assert h.admin.list_licenses(h.now, query)[0].expires == cal.expires  # not yet
    h.advance(25)
    h.connect(device)
    [extended] = h.admin.list_licenses(h.now, query)
    assert extended.license_id == cal.license_id and extended.expires == h.now + 60 * DAY
    # Not signing in before expiry: it drops off and comes back with a new date.
    h.advance(61)
    assert h.admin.list_licenses(h.now, query) == []
    h.connect(device)
    [again] = h.admin.list_licenses(h.now, query)
    assert again.license_id != cal.license_id and again.issued == h.now


def test_r58_per_user_cal_is_not_stored_on_the_client(make_harness: HarnessFactory) -> None:
    """R58: the per-user CAL record has no blob; only the device's per-user-mode license does."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    decision = h.connect(Device.named("pc1", user="fay"))
    assert decision.license is not None
    [cal] = h.admin.list_licenses(
        h.now, LicenseQuery(user_name="fay", statuses=(LicenseStatus.ACTIVE,))
    )
    assert h.admin.get_license(cal.license_id)[1] is None
    assert h.admin.get_license(decision.license.license_id)[1] == decision.blob


def test_r59_per_user_device_license_is_renewed_when_expiring(make_harness: HarnessFactory) -> None:
    """R59, R39: the per-user-mode device license is replaced near expiry, never upgraded."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    device = Device.named("pc1", user="gus")
    first = h.connect(device).license
    assert first is not None
    h.advance(85)
    replaced = h.connect(device)
    assert replaced.kind is DecisionKind.UPGRADE and replaced.license is not None
    assert replaced.license.temporary and replaced.license.license_id != first.license_id
    assert h.admin.get_license(first.license_id)[0].status is LicenseStatus.UPGRADED


def test_r46_per_user_mode_refuses_only_without_a_license_server(
    make_harness: HarnessFactory,
) -> None:
    """R55: the only check in per-user mode is a reachable license server (after grace, R46)."""
    h = make_harness(licensing_mode=LicensingMode.PER_USER)
    h.connect(Device.named("pc1"))
    h.admin.update_config("license_server_reachable", "no", h.now)
    assert h.connect(Device.named("pc2")).kind is DecisionKind.REFUSE


def test_r77_report_rows(make_harness: HarnessFactory) -> None:
    """R77: summary, per-device and per-user rows with Windows' column names and CALType strings."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    _cals(h, 3, 2)
    h.connect(Device.named("late"))  # third CAL
    h.connect(Device.named("later"))  # temporary
    report = h.admin.report(h.now).to_dict()
    [summary] = report["summary"]
    assert summary == {
        "ProductVersion": "Windows Server 2019",
        "ProductVersionID": 6,
        "TSCALType": "Per Device",
        "InstalledLicenses": 3,
        "IssuedLicenses": 3,
        "AvailableLicenses": 0,
        "OverUsedLicenses": 0,
        "TSCALAvailability": "None",
    }
    cal_types = [r["CALType"] for r in report["per_device"]]
    assert cal_types == ["RDS Per Device CAL"] * 3 + ["Temporary RDS Per Device CAL"]
    assert report["per_user_usage"] == {"Per User CALs Installed": 0, "Per User CALs Issued": 0}
    csv_text = h.admin.report(h.now).to_csv("per-device")
    assert csv_text.splitlines()[0].startswith(
        "LicenseId,sIssuedToComputer,sIssuedToUser,sHardwareId"
    )
    assert len(csv_text.splitlines()) == 5


def test_r77_cal_type_strings_by_version() -> None:
    """R77: "TS ... CAL" before 2008 R2, "TS or RDS ... CAL" for 2008 R2, "RDS ... CAL" after."""
    from rdplic.licensing.model import KeyPackType
    from rdplic.licensing.report import cal_type_string

    v = ProductVersion.parse
    assert cal_type_string(CalType.PER_DEVICE, v("2003"), KeyPackType.RETAIL) == "TS Per Device CAL"
    assert (
        cal_type_string(CalType.PER_USER, v("2008R2"), KeyPackType.RETAIL)
        == "TS or RDS Per User CAL"
    )
    assert cal_type_string(CalType.PER_USER, v("2012"), KeyPackType.VOLUME) == "RDS Per User CAL"
    assert (
        cal_type_string(CalType.PER_DEVICE, v("2000"), KeyPackType.BUILT_IN)
        == "Built-in TS Per Device CAL"
    )
