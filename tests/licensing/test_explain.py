"""`rdplic.licensing.explain`: for each kind of outcome, what explain predicts for a device's
next connection is what the license server then decides, and the history it shows carries
the rule of each recorded decision."""

from __future__ import annotations

import dataclasses

from ls_helpers import DAY, Device, Harness, HarnessFactory

from rdplic.licensing import CalType, DecisionKind, Ruling
from rdplic.licensing.explain import Explanation, Prediction, explain
from rdplic.licensing.hostconfig import PlatformPattern
from rdplic.licensing.store import HistoryQuery, LicenseQuery
from rdplic.vocabulary import Outcome


def _explain(h: Harness, device: Device) -> Explanation:
    return explain(h.policy.store, device.identity.machine_name, h.now)


def check_next(h: Harness, device: Device) -> tuple[Prediction, Ruling, list[str]]:
    """Explain the device, connect it, and check that the prediction is the decision made
    and (when the decision is recorded) the rule in the new history events."""
    found = [d for d in _explain(h, device).devices if d.hwid == device.identity.hwid]
    assert len(found) == 1
    dev = found[0]
    scenario = "new-license-request" if device.stored is None else "presents-license"
    prediction = next(p for p in dev.predictions if p.scenario == scenario)
    if device.stored is not None:
        assert dev.held is not None and dev.held.license_id == device.stored.license_id
    before = {e.event_id for e in h.admin.history(HistoryQuery(hwid=device.identity.hwid))}
    ruling = h.connect(device)
    assert (prediction.kind, prediction.rule) == (ruling.kind, ruling.rule)
    assert prediction.license_id == (None if ruling.license is None else ruling.license.license_id)
    recorded = [
        e.rule
        for e in h.admin.history(HistoryQuery(hwid=device.identity.hwid))
        if e.event_id not in before and e.rule != "R25"  # reclaiming comes first (R25)
    ]
    if recorded:
        assert ruling.rule in recorded
    return prediction, ruling, list(dev.remedies)


def test_explain_new_device_gets_a_temporary_license(make_harness: HarnessFactory) -> None:
    """R27: explain predicts a new device's temporary license; its history then shows R27."""
    h = make_harness()
    pc = Device.named("pc1")
    before = _explain(h, pc)
    assert before.devices == () and before.first_contact is not None
    assert (before.first_contact.outcome, before.first_contact.rule) == (Outcome.NEW_LICENSE, "R27")
    ruling = h.connect(pc)
    assert ruling.rule == "R27" and ruling.license is not None
    after = _explain(h, pc)
    (dev,) = after.devices
    assert [(e.kind.value, e.rule) for e in dev.history] == [("issued", "R27")]
    assert dev.held is not None and dev.held.license_id == ruling.license.license_id
    pc.stored = None  # the client lost its license store but keeps its HWID
    resent, _, _ = check_next(h, pc)
    assert (resent.outcome, resent.rule, resent.license_id) == (
        Outcome.NEW_LICENSE,
        "R23",
        ruling.license.license_id,
    )


def test_explain_upgraded_valid_and_renewed(make_harness: HarnessFactory) -> None:
    """R29, R65, R32: upgrade, valid client and renewal each as explain predicted them."""
    h = make_harness()
    pc = Device.named("pc2")
    h.connect(pc)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=5)
    upgraded, ruling, _ = check_next(h, pc)
    assert (upgraded.outcome, upgraded.rule) == (Outcome.UPGRADED, "R29")
    valid, _, _ = check_next(h, pc)
    assert (valid.outcome, valid.rule) == (Outcome.VALID_CLIENT, "R65")
    assert ruling.license is not None
    h.clock.set(ruling.license.expires - 3 * DAY)
    renewed, _, _ = check_next(h, pc)
    assert (renewed.outcome, renewed.rule) == (Outcome.UPGRADED, "R32")
    (dev,) = _explain(h, pc).devices
    rules = [(e.kind.value, e.rule) for e in dev.history]
    assert ("issued", "R27") in rules and ("upgraded", "R29") in rules
    assert ("renewed", "R32") in rules


def test_explain_refused_without_cal_says_to_install_a_pack(make_harness: HarnessFactory) -> None:
    """R40, R33: let in during grace, then refused as predicted; the remedy names the pack."""
    h = make_harness(grace_ends_early=False)  # 2019 would end the grace at first contact (R44)
    pc = Device.named("pc3")
    h.connect(pc)
    h.advance(91)
    kept, _, remedies = check_next(h, pc)
    assert (kept.outcome, kept.rule) == (Outcome.VALID_CLIENT, "R40")
    assert any("install a per-device key pack of version 10.1" in r for r in remedies)
    h.advance(30)
    refused, _, remedies = check_next(h, pc)
    assert (refused.outcome, refused.rule, refused.error_code) == (
        Outcome.REFUSED,
        "R33",
        "ERR_INVALID_CLIENT",
    )
    assert any("rdplic keypack add --type per-device" in r for r in remedies)
    (dev,) = _explain(h, pc).devices
    assert ("refused", "R33") in [(e.kind.value, e.rule) for e in dev.history]


def test_explain_refused_in_the_valid_client_style(make_harness: HarnessFactory) -> None:
    """R33 with refusal_style valid-client-then-disconnect: STATUS_VALID_CLIENT, still refused."""
    from rdplic.licensing.hostconfig import RefusalStyle

    h = make_harness(refusal_style=RefusalStyle.VALID_CLIENT_THEN_DISCONNECT)
    pc = Device.named("pc4")
    h.connect(pc)
    h.advance(121)
    refused, ruling, _ = check_next(h, pc)
    assert ruling.kind is DecisionKind.REFUSE
    assert (refused.outcome, refused.error_code) == (Outcome.REFUSED, "STATUS_VALID_CLIENT")


def test_explain_refused_names_the_revocation_quota(make_harness: HarnessFactory) -> None:
    """R33, R50: the remedy names a CAL to revoke, then the date the quota allows one."""
    h = make_harness()
    a, b, c = Device.named("pca"), Device.named("pcb"), Device.named("pcc")
    for device in (a, b, c):
        h.connect(device)
    h.admin.add_key_pack(h.now, cal_type=CalType.PER_DEVICE, count=1)
    h.advance(121)
    got = h.connect(a)
    assert got.rule == "R31" and got.license is not None
    _, _, remedies = check_next(h, b)
    assert any(f"rdplic license revoke {got.license.license_id}" in r for r in remedies)
    h.admin.revoke(got.license.license_id, h.now)
    assert h.connect(c).rule == "R31"  # the revoked CAL went to another device (R51)
    refused, _, remedies = check_next(h, b)
    assert refused.rule == "R33"
    assert any("when the revocation quota allows a revoke" in r for r in remedies)


def test_explain_refused_without_license_server(make_harness: HarnessFactory) -> None:
    """R46: no license server after grace: refusal predicted and made; remedy names the key."""
    h = make_harness(license_server_reachable=False)
    h.connect(Device.named("first"))  # starts the grace period (R43)
    h.advance(121)
    pc = Device.named("pc5")
    ex = _explain(h, pc)
    assert ex.first_contact is not None and not ex.in_grace
    assert (ex.first_contact.outcome, ex.first_contact.rule) == (Outcome.REFUSED, "R46")
    assert ex.first_contact.error_code == "ERR_NO_LICENSE_SERVER"
    assert any("license_server_reachable yes" in r for r in ex.remedies)
    ruling = h.connect(pc)
    assert (ruling.kind, ruling.rule) == (DecisionKind.REFUSE, "R46")


def test_explain_builtin_cal_on_a_windows_2000_host(make_harness: HarnessFactory) -> None:
    """R19: a Windows 2000 client of a 2000 host has a built-in CAL and is valid next."""
    h = make_harness(windows_version="2000")
    pc = Device.named("w2k", platform_id=0x03010000)
    assert h.connect(pc).rule == "R19"
    (dev,) = _explain(h, pc).devices
    assert ("issued", "R19") in [(e.kind.value, e.rule) for e in dev.history]
    assert any("gets a built-in CAL" in n for n in dev.notes)
    valid, _, _ = check_next(h, pc)
    assert (valid.outcome, valid.rule) == (Outcome.VALID_CLIENT, "R65")


def test_explain_xp_home_needs_a_cal(make_harness: HarnessFactory) -> None:
    """R19, R30: XP Home needs a purchased CAL; its temporary license is kept until one."""
    xp_pro, xp_home = 0x03010A28, 0x03010A29  # lab-chosen ids, as tests/licensing do
    h = make_harness(
        windows_version="2000", builtin_platforms=(PlatformPattern(xp_pro, 0xFFFFFFFF),)
    )
    home = Device.named("home", platform_id=xp_home)
    assert h.connect(home).rule == "R27"
    kept, _, remedies = check_next(h, home)
    assert (kept.outcome, kept.rule) == (Outcome.REISSUED, "R30")
    assert any("install a per-device key pack" in r for r in remedies)
    (dev,) = _explain(h, home).devices
    assert any("needs a purchased CAL" in n for n in dev.notes)


def test_explain_reads_without_writing(make_harness: HarnessFactory) -> None:
    """explain runs the policy in transactions that are rolled back: the store is unchanged."""
    h = make_harness()
    pc = Device.named("pc6")
    h.connect(pc)
    h.advance(121)
    store = h.policy.store
    h.admin.reclaim(h.now)
    before = (h.admin.history(), h.admin.list_key_packs(h.now, include_removed=True))
    with store.snapshot() as tx:
        licenses = tx.find_licenses(LicenseQuery())
    explain(store, "PC6", h.now)
    explain(store, pc.identity.hwid.hex(), h.now)
    with store.snapshot() as tx:
        assert tx.find_licenses(LicenseQuery()) == licenses
    after = (h.admin.history(), h.admin.list_key_packs(h.now, include_removed=True))
    assert after[0] == before[0]
    assert after[1] == before[1]


def test_explain_names_the_invalid_license_refusal(make_harness: HarnessFactory) -> None:
    """R69: explain states that invalid licenses are refused, and a tampered one then is."""
    from rdplic.licensing import ValidationStatus
    from rdplic.licensing.hostconfig import InvalidLicenseAction

    h = make_harness(invalid_license=InvalidLicenseAction.REFUSE)
    pc = Device.named("pc7")
    h.connect(pc)
    ex = _explain(h, pc)
    assert any("refused (invalid_license refuse, R69)" in fact for fact in ex.facts)
    assert pc.stored is not None
    pc.stored = dataclasses.replace(pc.stored, validation=ValidationStatus.BAD_SIGNATURE)
    ruling = h.connect(pc)
    assert (ruling.kind, ruling.rule) == (DecisionKind.REFUSE, "R69")
