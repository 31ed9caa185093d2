"""Versions (R38-R42), host modes (R2, R4, R60), grace period and unreachable server (R43-R46)."""

from __future__ import annotations

import pytest
from ls_helpers import DAY, Device, HarnessFactory

from rdplic.errors import UsageError
from rdplic.licensing import (
    CalType,
    DecisionKind,
    FirstLicensePolicy,
    HostConfig,
    LicensingMode,
    PresentedLicense,
    ProductVersion,
    ValidationStatus,
)
from rdplic.licensing.hostconfig import RELEASES
from rdplic.pdu.licensing import ErrorCode, StateTransition
from rdplic.pdu.rdp import ErrorInfo

V = ProductVersion.parse


def test_r38_a_cal_serves_hosts_of_its_version_or_older() -> None:
    """R38: 2025 CAL -> 2016..2025 hosts; 2016 CAL not on 2019; R2 releases share the CAL."""
    assert V("2025").serves(V("2016")) and V("2025").serves(V("2025"))
    assert V("2019").serves(V("2016")) and not V("2016").serves(V("2019"))
    assert V("2008R2").serves(V("2008")) and V("2008").serves(V("2008R2"))
    assert not V("2008R2").serves(V("2012"))
    assert V("2012").serves(V("2012R2")) and V("2012").serves(V("2008"))
    assert not V("2003").serves(V("2008"))


def test_r38_cal_version_matching_in_issuance(make_harness: HarnessFactory) -> None:
    """R38, R40: a 2019 host ignores 2016 CALs and uses a 2019 CAL."""
    h = make_harness(first_license=FirstLicensePolicy.PERMANENT)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5, version=V("2016"))
    wanted = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5, version=V("2019"))
    decision = h.connect(Device.named("pc1"))
    assert decision.license is not None and decision.license.key_pack_id == wanted.key_pack_id


def test_r40_newer_cal_when_none_of_the_host_version_is_left(make_harness: HarnessFactory) -> None:
    """R40: own version first, then the oldest newer version when none is left."""
    h = make_harness(
        first_license=FirstLicensePolicy.PERMANENT,
        windows_version="2016",
        license_server_version="2025",
    )
    p2022 = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2022"))
    p2019 = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2019"))
    p2016 = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2016"))
    got = [h.connect(Device.named(f"pc{n}")).license for n in range(4)]
    assert [g.key_pack_id for g in got if g] == [
        p2016.key_pack_id,
        p2019.key_pack_id,
        p2022.key_pack_id,
        got[3].key_pack_id,  # type: ignore[union-attr]
    ]
    assert got[3] is not None and got[3].temporary


def test_r40_prevent_license_upgrade(make_harness: HarnessFactory) -> None:
    """R40: with Prevent License Upgrade, no newer CAL: a temporary license, then refusal."""
    h = make_harness(
        prevent_license_upgrade=True, windows_version="2016", license_server_version="2022"
    )
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5, version=V("2022"))
    device = Device.named("pc1")
    assert h.connect(device).license.temporary  # type: ignore[union-attr]
    h.advance(91)
    refused = h.connect(device)
    assert refused.kind is DecisionKind.REFUSE and "Prevent License Upgrade" in refused.reason


def test_r40_prevent_license_upgrade_in_grace_period(make_harness: HarnessFactory) -> None:
    """R40: ... unless the host is still in its grace period (2008: until the first CAL, R44)."""
    h = make_harness(
        prevent_license_upgrade=True, windows_version="2008", license_server_version="2012"
    )
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5, version=V("2012"))
    device = Device.named("pc1")
    h.connect(device)
    h.advance(91)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.VALID_CLIENT and decision.rule == "R40"
    h.advance(30)  # day 121: grace over
    assert h.connect(device).kind is DecisionKind.REFUSE


def test_r39_lower_version_cal_is_upgraded_and_the_old_one_kept(
    make_harness: HarnessFactory,
) -> None:
    """R39, R41: a 2016 CAL presented to a 2019 host is upgraded; the 2016 CAL stays issued."""
    h = make_harness(
        first_license=FirstLicensePolicy.PERMANENT,
        windows_version="2016",
        license_server_version="2019",
    )
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2016"))
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2019"))
    device = Device.named("pc1")
    old = h.connect(device).license
    assert old is not None and old.product_version == V("2016")
    h.admin.update_config("windows_version", "2019", h.now)
    h.advance(1)
    upgraded = h.connect(device)
    assert upgraded.kind is DecisionKind.UPGRADE and upgraded.license is not None
    assert upgraded.license.product_version == V("2019")
    assert [p.issued for p in h.admin.list_key_packs(h.now)] == [1, 1]


def test_r42_product_info_of_each_release() -> None:
    """R42: dwVersion = OS major.minor; "Microsoft Corporation", "A02", one scope."""
    info = HostConfig(windows_version="2019").product_info
    assert (info.dw_version, info.company_name, info.product_id, info.scopes) == (
        0x000A0001,
        "Microsoft Corporation",
        "A02",
        ("microsoft.com",),
    )
    assert HostConfig(windows_version="2008").product_info.dw_version == 0x00060000
    assert HostConfig(windows_version="2003").product_info.dw_version == 0x00050002
    assert (
        HostConfig(windows_version="2019", dw_version=0x00060000).product_info.dw_version == 0x60000
    )
    assert HostConfig(windows_version="2019", scope="example.org").product_info.scopes == (
        "example.org",
    )
    assert set(RELEASES) == {
        "2000",
        "2003",
        "2008",
        "2008R2",
        "2012",
        "2012R2",
        "2016",
        "2019",
        "2022",
        "2025",
    }


def test_r14_license_server_version_limits_cals(make_harness: HarnessFactory) -> None:
    """R14: a license server holds CALs of its own version or older only."""
    h = make_harness(windows_version="2016")
    with pytest.raises(UsageError, match="R14"):
        h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2019"))
    h.admin.update_config("license_server_version", "2022", h.now)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1, version=V("2019"))
    with pytest.raises(UsageError, match="R14"):
        h.admin.update_config("license_server_version", "2012", h.now)


@pytest.mark.parametrize(
    "mode", [LicensingMode.PERSONAL, LicensingMode.REMOTE_ADMIN, LicensingMode.VALID_CLIENT_ONLY]
)
def test_r4_non_licensing_hosts_always_send_valid_client(
    make_harness: HarnessFactory, mode: LicensingMode
) -> None:
    """R4, R60: personal / admin / valid-client-only hosts: STATUS_VALID_CLIENT, nothing stored."""
    h = make_harness(licensing_mode=mode)
    device = Device.named("pc1")
    d1 = h.connect(device)
    assert d1.kind is DecisionKind.VALID_CLIENT and d1.rule == "R4"
    assert d1.error_code is ErrorCode.STATUS_VALID_CLIENT
    assert d1.state_transition is StateTransition.ST_NO_TRANSITION
    assert h.admin.list_licenses(h.now) == []
    assert h.policy.host().licenses_clients is (mode is not LicensingMode.VALID_CLIENT_ONLY)
    # Whatever the client presents (here: an expired, old, invalid license) is not checked.
    junk = PresentedLicense(
        license_id=1,
        hwid=device.identity.hwid,
        product_version=V("5.0"),
        temporary=True,
        issued=h.now - 9 * DAY,
        expires=h.now - DAY,
        validation=ValidationStatus.BAD_SIGNATURE,
    )
    assert h.policy.present_license(device.identity, junk, h.now).kind is DecisionKind.VALID_CLIENT
    assert (
        h.policy.evaluate_presented(device.identity, junk, h.now).kind is DecisionKind.VALID_CLIENT
    )


def test_r2_modes_carry_their_wmi_values() -> None:
    """R2: ChangeMode 0 personal, 1 remote admin, 2 per device, 4 per user."""
    assert [m.wmi_value for m in LicensingMode] == [2, 4, 0, 1, None]


def test_r43_grace_period_length_per_release() -> None:
    """R43: 120 days, 90 for Windows 2000; configurable."""
    assert HostConfig().grace_days == 120
    assert HostConfig(windows_version="2000").grace_days == 90
    assert HostConfig(grace_period_days=10).grace_days == 10


def test_r46_unreachable_server_inside_and_after_grace(make_harness: HarnessFactory) -> None:
    """R46: no license server: licensed in grace; then ERR_NO_LICENSE_SERVER + ERRINFO 0x101."""
    h = make_harness(license_server_reachable=False)
    device = Device.named("pc1")
    inside = h.connect(device)
    assert inside.kind is DecisionKind.VALID_CLIENT and inside.rule == "R46"
    h.advance(119)
    assert h.connect(device).kind is DecisionKind.VALID_CLIENT
    h.advance(2)
    after = h.connect(device)
    assert after.kind is DecisionKind.REFUSE and after.rule == "R46"
    assert after.error_code is ErrorCode.ERR_NO_LICENSE_SERVER
    assert after.state_transition is StateTransition.ST_TOTAL_ABORT
    assert after.error_info is ErrorInfo.ERRINFO_LICENSE_NO_LICENSE_SERVER == 0x101
    assert h.admin.list_licenses(h.now) == []
    # The license server was never reached: its history has nothing of this device (README).
    assert h.admin.history() == []


def test_r45_unreachable_server_returns_the_old_license(make_harness: HarnessFactory) -> None:
    """R45: a still-valid license that needs renewal comes back unchanged when no server answers."""
    h = make_harness()
    device = Device.named("pc1")
    first = h.connect(device)
    h.admin.update_config("license_server_reachable", "no", h.now)
    h.advance(10)
    decision = h.connect(device)
    assert decision.kind is DecisionKind.UPGRADE_WITH_OLD and decision.rule == "R45"
    assert decision.blob == first.blob


def test_r44_grace_ends_at_license_server_contact_on_2019(make_harness: HarnessFactory) -> None:
    """R44: (2003, current guidance) grace ends once a license server was reached."""
    h = make_harness()
    device = Device.named("pc1")
    h.connect(device)
    h.admin.update_config("license_server_reachable", "no", h.now)
    device.stored = None
    h.advance(1)
    assert h.connect(device).kind is DecisionKind.REFUSE
    h.admin.update_config("grace_ends_early", "no", h.now)
    assert h.connect(device).kind is DecisionKind.VALID_CLIENT


def test_r44_grace_ends_at_the_first_permanent_cal_on_2008(make_harness: HarnessFactory) -> None:
    """R44: (2003-2008 R2) grace ends when the first permanent CAL is issued through the host."""
    h = make_harness(windows_version="2008", first_license=FirstLicensePolicy.PERMANENT)
    h.connect(Device.named("pc1"))
    h.admin.update_config("license_server_reachable", "no", h.now)
    assert h.connect(Device.named("pc2")).kind is DecisionKind.VALID_CLIENT  # no CAL yet
    h.admin.update_config("license_server_reachable", "yes", h.now)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    assert h.connect(Device.named("pc3")).license.temporary is False  # type: ignore[union-attr]
    h.admin.update_config("license_server_reachable", "no", h.now)
    assert h.connect(Device.named("pc4")).kind is DecisionKind.REFUSE


def test_r44_windows_2000_grace_is_90_days_only(make_harness: HarnessFactory) -> None:
    """R44: [2000] grace is 90 days, whatever happens."""
    h = make_harness(windows_version="2000", license_server_reachable=False)
    assert h.connect(Device.named("pc1")).kind is DecisionKind.VALID_CLIENT
    h.advance(90)
    assert h.connect(Device.named("pc1")).kind is DecisionKind.REFUSE
