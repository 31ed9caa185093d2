"""The founding use case: KB 315262, transferring a TS CAL between client computers, end to end."""

from __future__ import annotations

from ls_helpers import Device, HarnessFactory

from rdplic.licensing import CalType, DecisionKind, HistoryKind, LicenseStatus
from rdplic.store import HistoryQuery


def test_kb315262_transfer_story(make_harness: HarnessFactory) -> None:
    """R54, R17, R27, R24, R73: one CAL moves from an old computer to a new one, history intact."""
    h = make_harness(windows_version="2003", license_server_version="2003")
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)

    # The old computer is licensed: temporary first (R27), then the only CAL (R29).
    old_pc = Device.named("accounting-1")
    h.connect(old_pc)
    h.advance(1)
    cal = h.connect(old_pc).license
    assert cal is not None and not cal.temporary

    # A replacement computer arrives: no CAL left, it runs on its 90-day temporary license.
    new_pc = Device.named("accounting-2")
    bridge = h.connect(new_pc)
    assert bridge.license is not None and bridge.license.temporary
    h.advance(5)
    assert h.connect(new_pc).kind is DecisionKind.UPGRADE_WITH_OLD

    # The Clearinghouse reissues the CAL (a 2003 server cannot revoke, R53): another key pack.
    result = h.admin.transfer(cal.license_id, h.now, to="ACCOUNTING-2")
    assert result.reissued_key_pack.reissued
    # The old computer's license is removed by hand from its registry (R73)...
    old_pc.wipe_store()
    h.advance(1)
    # ...and the new computer's next connection gets the reissued CAL.
    upgraded = h.connect(new_pc)
    assert upgraded.kind is DecisionKind.UPGRADE and upgraded.license is not None
    assert upgraded.license.key_pack_id == result.reissued_key_pack.key_pack_id

    # The server remembers everything, whatever the clients deleted (R24).
    old_history = h.admin.history(HistoryQuery(machine_name="ACCOUNTING-1"))
    assert [e.kind for e in old_history] == [
        HistoryKind.ISSUED,
        HistoryKind.ISSUED,
        HistoryKind.UPGRADED,
        HistoryKind.TRANSFERRED,
    ]
    assert h.admin.get_license(cal.license_id)[0].status is LicenseStatus.REVOKED


def test_kb315262_windows_2000_host_builtin_vs_xp_home(make_harness: HarnessFactory) -> None:
    """R19, R54: Windows 2000 / XP Pro clients of a 2000 server need no CAL; others (XP Home) do."""
    from rdplic.licensing.hostconfig import PlatformPattern

    xp_pro, xp_home = 0x03010A28, 0x03010A29
    patterns = (PlatformPattern(0x03000000, 0xFFFFFF00), PlatformPattern(xp_pro, 0xFFFFFFFF))
    h = make_harness(windows_version="2000", builtin_platforms=patterns)
    pack = h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    for name, platform in (("w2k", 0x03000000), ("xppro", xp_pro)):
        decision = h.connect(Device.named(name, platform_id=platform))
        assert decision.rule == "R19", name
    home = Device.named("xphome", platform_id=xp_home)
    assert h.connect(home).license.temporary  # type: ignore[union-attr]
    h.advance(1)
    cal = h.connect(home).license
    assert cal is not None and cal.key_pack_id == pack.key_pack_id and not cal.temporary


def test_kb315262_default_builtin_set_tells_the_xp_presets_apart(
    make_harness: HarnessFactory,
) -> None:
    """R19 by default: on a 2000 host 2000 Pro and XP Pro presets are built-in, XP Home not."""
    from rdplic.core.platforms import CLIENT_PLATFORMS

    h = make_harness(windows_version="2000")
    for preset in ("windows-2000-professional", "windows-xp-professional"):
        platform_id = CLIENT_PLATFORMS[preset].platform_id
        assert h.connect(Device.named(preset[:15], platform_id=platform_id)).rule == "R19"
    home_id = CLIENT_PLATFORMS["windows-xp-home"].platform_id
    home = h.connect(Device.named("xphome", platform_id=home_id))
    assert home.rule == "R27" and home.license is not None and home.license.temporary
