"""Why a client got what it got, and what it will get next: RD Licensing Diagnoser for rdplic.

`explain` reads the store and the host configuration only (never a client, never the
network).  For each device of the client (a machine name may have had several hardware
ids, R22, R73) it gathers the licenses and their state, the history with the rule that
decided each step (history.rule, docs/license-server-behavior.md), the configuration that
mattered, and what the device will get on its next connection and why.

The prediction is not a second copy of the policy: it *is* the policy.  `LicensePolicy` is
run on a view of the store whose every transaction is rolled back (`_DryRunStore`) and with
a signer that signs nothing of value (`DigestSigner`), so the answer is exactly what
`LicensePolicy.decide` would answer at this moment, and nothing is written.  Two
connections are considered, as a Windows client can make either: presenting the license
the server last sent the device (License Info, MS-RDPELE 3.2.5.3), and asking for a new
one (New License Request, 3.2.5.5: a client that lost its license store).

For a refusal, `Remedy` lines say what would change the answer: install a key pack of the
right version (R14, R38, R40), activate the license server (R13), revoke a CAL while the
quota allows it (R50), make the license server reachable (R45, R46), accept invalid
licenses for upgrade (R69).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from rdplic.core.decisions import DecisionKind, PresentedLicense, ValidationStatus
from rdplic.core.platforms import CLIENT_PLATFORMS
from rdplic.errors import UsageError
from rdplic.licensing.hostconfig import HostConfig, LicensingMode
from rdplic.licensing.model import (
    CalType,
    ClientIdentity,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    LicenseStatus,
    parse_hwid,
    to_utc,
)
from rdplic.licensing.policy import LicensePolicy
from rdplic.licensing.records import (
    OUTSTANDING,
    REVOCATION_SHARE_PERCENT,
    fmt,
    grace_ends,
    load_host_config,
)
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.signer import DigestSigner
from rdplic.licensing.store import HistoryQuery, LicenseQuery, LicenseStore
from rdplic.pdu.licensing import ErrorCode
from rdplic.vocabulary import Outcome

__all__ = [
    "Device",
    "Explanation",
    "Prediction",
    "explain",
    "outcome_of",
    "platform_name",
]

DEVICE_EVENTS = frozenset(
    {
        HistoryKind.ISSUED,
        HistoryKind.RESENT,
        HistoryKind.VALIDATED,
        HistoryKind.UPGRADED,
        HistoryKind.RENEWED,
        HistoryKind.REVOKED,
        HistoryKind.EXPIRED,
        HistoryKind.RECLAIMED,
        HistoryKind.TRANSFERRED,
        HistoryKind.REFUSED,
    }
)
"""The history events that belong to a device's timeline."""


def outcome_of(ruling: Ruling) -> Outcome:
    """The connection outcome (rdplic.vocabulary) a final decision leads to."""
    return {
        DecisionKind.ISSUE_NEW: Outcome.NEW_LICENSE,
        DecisionKind.UPGRADE: Outcome.UPGRADED,
        DecisionKind.UPGRADE_WITH_OLD: Outcome.REISSUED,
        DecisionKind.VALID_CLIENT: Outcome.VALID_CLIENT,
        DecisionKind.REFUSE: Outcome.REFUSED,
    }[ruling.kind]


def platform_name(platform_id: int) -> str:
    """The client preset (rdplic.core.platforms) whose PlatformId this is; '' if none or if
    several presets send it (XP Home and XP Professional, Vista to 8.1 and FreeRDP...)."""
    names = [n for n, preset in CLIENT_PLATFORMS.items() if preset.platform_id == platform_id]
    return names[0] if len(names) == 1 else ""


@dataclass(frozen=True, slots=True)
class Prediction:
    """What one kind of next connection gets: the policy's own final ruling."""

    scenario: str
    """``presents-license`` or ``new-license-request``."""
    presented_license_id: int | None
    outcome: Outcome
    kind: DecisionKind
    rule: str
    reason: str
    license_id: int | None
    temporary: bool | None
    error_code: str
    """The licensing error's name for a refusal, '' otherwise."""


@dataclass(frozen=True, slots=True)
class Device:
    """One hardware id of the client and everything the store knows of it."""

    hwid: bytes
    machine_names: tuple[str, ...]
    user_names: tuple[str, ...]
    platform_id: int
    licenses: tuple[IssuedLicense, ...]
    held: IssuedLicense | None
    """The license the server last sent the device (what it presents next), None if none."""
    history: tuple[HistoryEvent, ...]
    predictions: tuple[Prediction, ...]
    remedies: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def platform(self) -> str:
        return platform_name(self.platform_id)

    def status_of(self, lic: IssuedLicense, now: datetime) -> LicenseStatus:
        """The license's status now: outstanding ones past their expiry are expired (R25)."""
        if lic.status in OUTSTANDING and lic.expires <= now:
            return LicenseStatus.EXPIRED
        return lic.status


@dataclass(frozen=True, slots=True)
class Explanation:
    """`explain`'s answer."""

    client: str
    now: datetime
    config: HostConfig
    grace_ends: datetime | None
    """None: the grace period has not started (no decision was ever made, R43)."""
    in_grace: bool
    builtin_pool: bool
    devices: tuple[Device, ...]
    first_contact: Prediction | None
    """For a client the store does not know: what a new device of that name gets."""
    remedies: tuple[str, ...] = ()
    """For ``first_contact``: what would change the answer."""
    facts: tuple[str, ...] = field(default=())
    """The host configuration that matters, in sentences."""


# =============================================================================================
# The dry run


class _DryRun(Exception):
    """Raised inside every transaction of `_DryRunStore` so that the store rolls it back."""


class _DryRunStore:
    """A `LicenseStore` whose transactions are all rolled back: the policy runs, nothing
    stays.  Settings are never cached (``settings_token`` None)."""

    def __init__(self, store: LicenseStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def settings_token(self) -> None:
        return None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        try:
            with self._store.transaction() as tx:
                yield tx
                raise _DryRun
        except _DryRun:
            pass


def _dry_policy(store: LicenseStore) -> LicensePolicy:
    return LicensePolicy(cast(LicenseStore, _DryRunStore(store)), DigestSigner(), random.Random(0))


def _presented(lic: IssuedLicense, blob: bytes) -> PresentedLicense:
    """The license as the host would read it back from the client: ours, for its HWID."""
    return PresentedLicense(
        license_id=lic.license_id,
        hwid=lic.hwid,
        product_version=lic.product_version,
        temporary=lic.temporary,
        issued=lic.issued,
        expires=lic.expires,
        issuer_matches=True,
        validation=ValidationStatus.VALID,
        blob=blob,
    )


def _predict(scenario: str, ruling: Ruling, presented: int | None) -> Prediction:
    lic = ruling.license
    error = ErrorCode(ruling.error_code).name if ruling.kind is DecisionKind.REFUSE else ""
    return Prediction(
        scenario=scenario,
        presented_license_id=presented,
        outcome=outcome_of(ruling),
        kind=ruling.kind,
        rule=ruling.rule,
        reason=ruling.reason,
        license_id=None if lic is None else lic.license_id,
        temporary=None if lic is None else lic.temporary,
        error_code=error,
    )


def next_connection(
    store: LicenseStore, client: ClientIdentity, held: IssuedLicense | None, now: datetime
) -> list[Prediction]:
    """The policy's answers to the device's possible next connections, nothing written."""
    policy = _dry_policy(store)
    out: list[Prediction] = []
    if held is not None:
        with store.snapshot() as tx:
            blob = tx.get_license_blob(held.license_id) or b""
        presented = _presented(held, blob)
        first = policy.evaluate_presented(client, presented, now)
        ruling = first
        if first.kind is DecisionKind.PLATFORM_CHALLENGE:
            ruling = policy.present_license(client, presented, now)
        out.append(_predict("presents-license", ruling, held.license_id))
    ruling = policy.request_new_license(client, now)
    out.append(_predict("new-license-request", ruling, None))
    return out


# =============================================================================================
# Finding the client


_UNKNOWN_HWID = bytes(20)
"""Stands for a device the store has never seen (no record has an all-zero HWID)."""


def _is_hwid(text: str) -> bytes | None:
    compact = re.sub(r"[\s:\-]", "", text.removeprefix("0x"))
    if re.fullmatch(r"[0-9a-fA-F]{40}", compact):
        return parse_hwid(text)
    return None


def _devices(store: LicenseStore, client: str) -> list[bytes]:
    """The hardware ids of ``client`` (a machine name, case-insensitive as NetBIOS names
    are, or a HWID), the most recently seen first."""
    hwid = _is_hwid(client)
    if hwid is not None:
        return [hwid]
    seen: dict[bytes, int] = {}
    with store.snapshot() as tx:
        for lic in tx.find_licenses(LicenseQuery()):
            if lic.machine_name.lower() == client.lower():
                seen[lic.hwid] = max(seen.get(lic.hwid, 0), lic.license_id * 2)
        for event in tx.list_history(HistoryQuery()):
            if event.hwid and event.machine_name.lower() == client.lower():
                seen[event.hwid] = max(seen.get(event.hwid, 0), event.event_id * 2 + 1)
    return sorted(seen, key=lambda h: seen[h], reverse=True)


def _held(licenses: list[IssuedLicense]) -> IssuedLicense | None:
    """The license the device holds: the newest one the server sent it (per-user CALs live
    with the user, not on the device, R56, R58)."""
    sent = [
        lic
        for lic in licenses
        if not (lic.cal_type is CalType.PER_USER and not lic.temporary)
        and lic.status is not LicenseStatus.UPGRADED
    ]
    if not sent:
        return None
    return max(sent, key=lambda lic: (lic.renewed or lic.issued, lic.license_id))


# =============================================================================================
# Remedies


def _cal_packs(packs: list[KeyPack], cfg: HostConfig, now: datetime) -> list[KeyPack]:
    """Purchased per-device packs the host could take a CAL from (R14, R38, R40)."""
    host = cfg.cal_version
    ceiling = cfg.server_release.cal_version.generation
    return [
        p
        for p in packs
        if p.key_pack_type.purchased
        and p.cal_type is CalType.PER_DEVICE
        and p.usable(now)
        and p.product_version.serves(host)
        and p.product_version.generation <= ceiling
        and (not cfg.prevent_license_upgrade or p.product_version.generation == host.generation)
    ]


def _remedies(
    store: LicenseStore, cfg: HostConfig, predictions: list[Prediction], now: datetime
) -> list[str]:
    rules = {p.rule for p in predictions}
    kinds = {p.kind for p in predictions}
    lacks_cal = bool(rules & {"R33", "R30"}) or (
        "R40" in rules and DecisionKind.VALID_CLIENT in kinds
    )
    out: list[str] = []
    with store.snapshot() as tx:
        packs = tx.list_key_packs()
        licenses = tx.find_licenses(LicenseQuery(cal_type=CalType.PER_DEVICE))
    if "R46" in rules or "R45" in rules:
        out.append(
            "make the license server reachable: rdplic config set license_server_reachable yes "
            "(R45, R46)"
        )
    if "R69" in rules:
        out.append(
            "let the host upgrade licenses that fail validation instead of refusing them: "
            "rdplic config set invalid_license upgrade (R69)"
        )
    if "R28" in rules:
        out.append(
            "the temporary license is upgraded once the client has logged on with it: "
            "rdplic license validate ID (R28), or rdplic config set auto_validate_temporary yes"
        )
    if not lacks_cal:
        return out
    if not cfg.license_server_activated:
        out.append(
            "activate the license server: rdplic config set license_server_activated yes (R13)"
        )
    usable = _cal_packs(packs, cfg, now)
    if not any((p.available or 0) > 0 for p in usable):
        host = cfg.cal_version
        server = cfg.server_release.cal_version
        versions = str(host) if host == server else f"{host} to {server}"
        out.append(
            f"install a per-device key pack of version {versions} (R14, R38, R40): "
            f"rdplic keypack add --type per-device --count 1 --version {host}"
        )
        if cfg.prevent_license_upgrade and any(
            p.key_pack_type.purchased
            and p.cal_type is CalType.PER_DEVICE
            and (p.available or 0) > 0
            and p.product_version.generation > host.generation
            for p in packs
        ):
            out.append("or allow newer CALs: rdplic config set prevent_license_upgrade no (R40)")
    if cfg.server_release.can_revoke:
        version = cfg.cal_version
        installed = sum(
            p.total or 0
            for p in packs
            if p.key_pack_type.purchased
            and p.cal_type is CalType.PER_DEVICE
            and p.product_version == version
        )
        active = [
            lic
            for lic in licenses
            if lic.status is LicenseStatus.ACTIVE
            and lic.expires > now
            and lic.product_version == version
            and lic.key_pack_id is not None
        ]
        if installed and active:
            allowed = max(1, installed * REVOCATION_SHARE_PERCENT // 100)
            revoked = [
                lic
                for lic in licenses
                if lic.status is LicenseStatus.REVOKED
                and not lic.transferred
                and lic.product_version == version
                and lic.expires > now
            ]
            if len(revoked) < allowed:
                out.append(
                    f"or revoke an active {version} CAL of another device "
                    f"(rdplic license revoke {active[0].license_id}): "
                    f"{allowed - len(revoked)} of {allowed} revocations left (R49-R51)"
                )
            else:
                next_on = min(lic.expires for lic in revoked)
                out.append(
                    f"or wait until {fmt(next_on)}, when the revocation quota allows a revoke "
                    f"({len(revoked)} of {allowed} revoked, R50)"
                )
    return out


# =============================================================================================
# explain


def explain(store: LicenseStore, client: str, now: datetime) -> Explanation:
    """What the store and the host configuration say about ``client`` (machine name or
    40-digit hardware id) at ``now``; `UsageError` for an empty name."""
    client = client.strip()
    if not client or len(client) > 255 or not client.isprintable():
        raise UsageError("CLIENT must be a machine name or a 40-digit hardware id")
    now = to_utc(now)
    with store.snapshot() as tx:
        cfg = load_host_config(tx)
        ends = grace_ends(tx, cfg)
    started = ends.year < 9999
    facts = _facts(cfg, ends if started else None, now)
    devices: list[Device] = []
    for hwid in _devices(store, client):
        with store.snapshot() as tx:
            licenses = tx.find_licenses(LicenseQuery(hwid=hwid))
            history = [
                e for e in tx.list_history(HistoryQuery(hwid=hwid)) if e.kind in DEVICE_EVENTS
            ]
        seen = [(x.machine_name, x.user_name) for x in licenses] + [
            (e.machine_name, e.user_name) for e in history
        ]
        names = tuple(dict.fromkeys(name for name, _ in seen if name))
        users = tuple(dict.fromkeys(user for _, user in seen if user))
        platform_id = licenses[-1].platform_id if licenses else 0
        held = _held(licenses)
        identity = ClientIdentity(
            hwid=hwid,
            machine_name=names[-1] if names else client,
            user_name=users[-1] if users else "",
            platform_id=platform_id,
        )
        predictions = next_connection(store, identity, held, now)
        notes = _device_notes(cfg, platform_id, licenses)
        devices.append(
            Device(
                hwid=hwid,
                machine_names=names,
                user_names=users,
                platform_id=platform_id,
                licenses=tuple(licenses),
                held=held,
                history=tuple(history),
                predictions=tuple(predictions),
                remedies=tuple(_remedies(store, cfg, predictions, now)),
                notes=tuple(notes),
            )
        )
    first_contact = None
    remedies: list[str] = []
    if not devices:
        unknown = ClientIdentity(hwid=_UNKNOWN_HWID, machine_name=client[:15], platform_id=0)
        first_contact = next_connection(store, unknown, None, now)[0]
        remedies = _remedies(store, cfg, [first_contact], now)
    return Explanation(
        client=client,
        now=now,
        config=cfg,
        grace_ends=ends if started else None,
        in_grace=(not started) or ends > now,
        builtin_pool=cfg.release.builtin_pool,
        devices=tuple(devices),
        first_contact=first_contact,
        remedies=tuple(remedies),
        facts=tuple(facts),
    )


def _facts(cfg: HostConfig, ends: datetime | None, now: datetime) -> list[str]:
    release = cfg.release
    out = [
        f"host: Windows Server {cfg.windows_version}, {cfg.licensing_mode.value} mode "
        f"(R2), asks for {cfg.cal_version.title} CALs ({cfg.cal_version}, R40)",
        f"license server: {cfg.server_release.title}"
        + ("" if cfg.license_server_activated else ", not activated (temporary only, R13)")
        + (", reachable" if cfg.license_server_reachable else ", NOT reachable (R45, R46)"),
        f"first license of a new device: {cfg.first_license.value} (R27, R29)",
    ]
    if ends is None:
        out.append(f"grace period: {cfg.grace_days} days, not started yet (R43)")
    elif ends > now:
        out.append(f"grace period: {cfg.grace_days} days, ends {fmt(ends)} (R43, R44)")
    else:
        out.append(f"grace period: {cfg.grace_days} days, ended {fmt(ends)} (R43, R44)")
    if release.builtin_pool:
        patterns = ", ".join(str(p) for p in cfg.builtin_platforms) or "none"
        out.append(f"built-in CALs for platforms {patterns} (Windows 2000 host, R19)")
    if cfg.prevent_license_upgrade:
        out.append("Prevent License Upgrade is on: only CALs of the host's version (R40)")
    if cfg.licensing_mode is LicensingMode.PER_USER:
        out.append("per-user CALs are recorded against the user, not enforced (R55-R59)")
    elif not cfg.licensing_mode.issues_licenses:
        out.append("this host does not license clients: every client is valid (R4)")
    if cfg.invalid_license.value == "refuse":
        out.append("a license that fails validation is refused (invalid_license refuse, R69)")
    return out


def _device_notes(cfg: HostConfig, platform_id: int, licenses: list[IssuedLicense]) -> list[str]:
    out: list[str] = []
    if not licenses:
        out.append("no license was ever issued to this device")
    name = platform_name(platform_id)
    label = f"0x{platform_id:08x}" + (f" ({name})" if name else "")
    if cfg.release.builtin_pool and licenses:
        if cfg.builtin_eligible(platform_id):
            out.append(f"platform {label} gets a built-in CAL from this Windows 2000 host (R19)")
        else:
            out.append(
                f"platform {label} is not among the built-in platforms: it needs a purchased "
                "CAL like any other client (R19)"
            )
    return out
