"""The license server's policy: what each client gets, decided as a Windows RD Session
Host and its license server decide it (docs/license-server-behavior.md, rules R1-R84).

`LicensePolicy.decide` answers the licensing core's `DecisionNeeded` (MS-RDPELE 3.2.5.3,
3.2.5.5) with a `Ruling`: the core's `Decision` (what goes on the wire, the signed license
blob and the CAL lifetime drawn included) and the store's record of the license it is
about.  Each decision is one store transaction: the key pack chosen, the CAL taken, the
license signed and stored, the history appended, all or nothing (architecture invariant 6).

* A License Info (`Question.LICENSE_INFO`) gets VALID_CLIENT (a good license, done),
  PLATFORM_CHALLENGE (it needs an upgrade, R39) or a refusal (R69).
* After the Platform Challenge Response (`Question.CHALLENGE_RESPONSE`): for a New License
  Request, `request_new_license`; for a presented license, `present_license`.

The policy reads the host configuration inside each decision's transaction, so ``rdplic
config set`` from another process takes effect at the next connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from rdplic.core.decisions import DecisionKind, HostLicensing, Question
from rdplic.core.events import DecisionNeeded
from rdplic.licensing.hostconfig import (
    FirstLicensePolicy,
    HostConfig,
    InvalidLicenseAction,
    LicensingMode,
    RefusalStyle,
)
from rdplic.licensing.model import (
    CalType,
    ClientIdentity,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    LicensingProgram,
    PresentedLicense,
    ProductVersion,
    ValidationStatus,
    to_utc,
)
from rdplic.licensing.records import (
    CONFIG_PREFIX,
    GRACE_FIRST_PERMANENT,
    GRACE_LS_CONTACT,
    GRACE_STARTED,
    OUTSTANDING,
    PERMANENT_CAL_DAYS,
    RENEWAL_WINDOW,
    append_history,
    fmt,
    grace_ends,
    host_config_from_settings,
    load_host_config,
    reclaim,
    retire,
    save_host_config,
)
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.signer import LicenseFields, LicenseSigner
from rdplic.licensing.store import LicenseQuery, LicenseStore, StoreTransaction
from rdplic.pdu.licensing import ErrorCode, StateTransition
from rdplic.pdu.rdp import ErrorInfo

__all__ = ["LicensePolicy", "RandomSource"]


class RandomSource(Protocol):
    """What the policy draws from: ``random.Random`` (seeded in tests) satisfies it."""

    def randint(self, a: int, b: int) -> int: ...


@dataclass(frozen=True, slots=True)
class _Settings:
    """What a decision reads of the stored settings: the host configuration and which
    grace-period moments (R43, R44) are recorded already."""

    cfg: HostConfig
    recorded: frozenset[str]


def _load_settings(tx: StoreTransaction) -> _Settings:
    stored = tx.settings()
    host = tuple(
        (k[len(CONFIG_PREFIX) :], v) for k, v in stored.items() if k.startswith(CONFIG_PREFIX)
    )
    grace = (GRACE_STARTED, GRACE_LS_CONTACT, GRACE_FIRST_PERMANENT)
    return _Settings(host_config_from_settings(host), frozenset(n for n in grace if n in stored))


@dataclass(slots=True)
class _Ctx:
    """One decision: its transaction, the settings read inside it, the time, the client."""

    tx: StoreTransaction
    settings: _Settings
    now: datetime
    client: ClientIdentity

    @property
    def cfg(self) -> HostConfig:
        return self.settings.cfg

    def record_once(self, name: str) -> None:
        """Write the setting ``name`` = now unless it was there when the decision began."""
        if name not in self.settings.recorded:
            self.tx.set_setting(name, self.now.isoformat())


class LicensePolicy:
    """The license server and the session host's licensing policy over a `LicenseStore`.

    ``signer`` produces license blobs (`rdplic.licensing.signer`); ``rng`` draws the
    52-89-day CAL lifetimes (R31), and what it drew is in the `Decision` (the license
    blob and its expiry), so a recorded decision replays without it. With ``config`` the
    host configuration is written to the store first; otherwise the stored one (or the
    defaults) applies.
    """

    def __init__(
        self,
        store: LicenseStore,
        signer: LicenseSigner,
        rng: RandomSource,
        *,
        config: HostConfig | None = None,
    ) -> None:
        self._store = store
        self._signer = signer
        self._rng = rng
        self._config_read: tuple[Hashable, HostConfig] | None = None
        self._settings_read: tuple[Hashable, _Settings] | None = None
        if config is not None:
            config.check()
            with store.transaction() as tx:
                save_host_config(tx, config)

    @property
    def store(self) -> LicenseStore:
        return self._store

    # =========================================================================================
    # Host identity

    def config(self) -> HostConfig:
        """The host configuration as stored now (another process may have changed it)."""
        # A store that can tell cheaply whether the settings may have changed (SQLite's
        # PRAGMA data_version and its own writes) lets this skip its read transaction.
        token = self._store.settings_token()
        read = self._config_read
        if token is not None and read is not None and read[0] == token:
            return read[1]
        with self._store.snapshot() as tx:
            config = load_host_config(tx)
        if token is not None:
            # Taken before the read: a change in between shows as a new token next time.
            self._config_read = (token, config)
        return config

    def _ctx(self, tx: StoreTransaction, now: datetime, client: ClientIdentity) -> _Ctx:
        """A decision's context; the settings are read again only when the store's change
        token says they may have changed (one PRAGMA instead of four queries)."""
        token = self._store.settings_token()
        read = self._settings_read
        if token is not None and read is not None and read[0] == token:
            return _Ctx(tx, read[1], now, client)
        settings = _load_settings(tx)
        if token is not None:
            self._settings_read = (token, settings)
        return _Ctx(tx, settings, now, client)

    def host(self) -> HostLicensing:
        """What the licensing core puts in its License Request (R42), and whether the host
        licenses clients at all (R60)."""
        return self.config().licensing

    # =========================================================================================
    # Decisions the licensing core asks for

    def decide(self, question: DecisionNeeded, now: datetime) -> Ruling:
        """The answer to the licensing core's `DecisionNeeded`."""
        if question.question is Question.LICENSE_INFO:
            assert question.presented is not None  # INVARIANT: a License Info presents one
            return self.evaluate_presented(question.client, question.presented, now)
        return self.present_license(question.client, question.presented, now)

    def needs_upgrade(
        self, presented: PresentedLicense, now: datetime, config: HostConfig | None = None
    ) -> bool:
        """R39 / MS-RDPELE 3.2.5.3: temporary, expired, within 7 days of expiry, of a lower
        version than the host, or invalid. In per-user mode the temporary flag alone does
        not call for an upgrade (R59)."""
        cfg = self.config() if config is None else config
        now = to_utc(now)
        if presented.validation is not ValidationStatus.VALID:
            return True
        if presented.expires - now <= RENEWAL_WINDOW:
            return True
        if not presented.product_version.serves(cfg.cal_version):
            return True
        return presented.temporary and cfg.licensing_mode is not LicensingMode.PER_USER

    def evaluate_presented(
        self, client: ClientIdentity, presented: PresentedLicense, now: datetime
    ) -> Ruling:
        """Step 1 of the License Information flow, before any platform challenge.

        Returns VALID_CLIENT (license accepted as is; protocol complete), PLATFORM_CHALLENGE
        (send the challenge, then call `present_license`), or REFUSE when the host is
        configured to abort on an invalid license (``invalid_license = refuse``, R69).
        """
        now = to_utc(now)
        cfg = self.config()
        if not cfg.licensing_mode.issues_licenses:
            return Ruling.of(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
        if presented.validation is not ValidationStatus.VALID and (
            cfg.invalid_license is InvalidLicenseAction.REFUSE
        ):
            return self._invalid_refusal(presented)
        if self.needs_upgrade(presented, now, cfg):
            return Ruling.of(
                DecisionKind.PLATFORM_CHALLENGE, _upgrade_reason(presented, cfg, now), "R39"
            )
        if cfg.licensing_mode is LicensingMode.PER_USER:
            with self._store.transaction() as tx:
                self._touch_user_cal(self._ctx(tx, now, client))
        return Ruling.of(DecisionKind.VALID_CLIENT, "license valid for this host", "R65")

    def present_license(
        self, client: ClientIdentity, presented: PresentedLicense | None, now: datetime
    ) -> Ruling:
        """Step 2: the final decision once the challenge response proved the HWID.

        ``presented`` None means the client sent a New License Request
        (= `request_new_license`). A license that needs no upgrade gets VALID_CLIENT.
        """
        if presented is None:
            return self.request_new_license(client, now)
        now = to_utc(now)
        with self._store.transaction() as tx:
            ctx = self._ctx(tx, now, client)
            cfg = ctx.cfg
            if not cfg.licensing_mode.issues_licenses:
                return Ruling.of(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
            if presented.validation is not ValidationStatus.VALID and (
                cfg.invalid_license is InvalidLicenseAction.REFUSE
            ):
                return self._invalid_refusal(presented)
            if not self.needs_upgrade(presented, now, cfg):
                if cfg.licensing_mode is LicensingMode.PER_USER:
                    self._touch_user_cal(ctx)
                return Ruling.of(DecisionKind.VALID_CLIENT, "license valid for this host", "R65")
            unreachable = self._reach_license_server(ctx, presented)
            if unreachable is not None:
                return unreachable
            if cfg.licensing_mode is LicensingMode.PER_USER:
                return self._per_user(ctx, DecisionKind.UPGRADE)
            return self._per_device_presented(ctx, presented)

    def request_new_license(self, client: ClientIdentity, now: datetime) -> Ruling:
        """A client without a license (Client New License Request), after the challenge.

        Per device: the device's existing license again (R23), a built-in CAL (R19), a
        temporary license on first contact (R27) or a permanent CAL (R29 policy, R40),
        or a refusal when the device used its temporary license and no CAL is left (R33).
        """
        now = to_utc(now)
        with self._store.transaction() as tx:
            ctx = self._ctx(tx, now, client)
            cfg = ctx.cfg
            if not cfg.licensing_mode.issues_licenses:
                return Ruling.of(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
            unreachable = self._reach_license_server(ctx, None)
            if unreachable is not None:
                return unreachable
            if cfg.licensing_mode is LicensingMode.PER_USER:
                return self._per_user(ctx, DecisionKind.ISSUE_NEW)
            return self._for_device(
                ctx, DecisionKind.ISSUE_NEW, fallback=None, presented_temporary=False
            )

    def _reach_license_server(self, ctx: _Ctx, presented: PresentedLicense | None) -> Ruling | None:
        """What every issuing decision does first: the grace period starts (R43); an
        unreachable license server decides here (R45, R46); otherwise the contact is recorded
        and expired licenses are reclaimed (R25) before the policy runs."""
        self._start_grace(ctx)
        if not ctx.cfg.license_server_reachable:
            return self._unreachable(ctx, presented)
        self._license_server_contacted(ctx)
        reclaim(ctx.tx, ctx.now)
        return None

    # =========================================================================================
    # Per-device policy

    def _per_device_presented(self, ctx: _Ctx, presented: PresentedLicense) -> Ruling:
        """A license that needs an upgrade was presented and the challenge proved the HWID."""
        host = ctx.cfg.cal_version
        record: IssuedLicense | None = None
        if presented.issuer_matches and presented.validation is ValidationStatus.VALID:
            found = ctx.tx.get_license(presented.license_id)
            if found and found.hwid == ctx.client.hwid and found.cal_type is CalType.PER_DEVICE:
                record = found
        fallback = presented if presented.usable_on(host, ctx.now) else None
        if record is not None:
            if record.status is LicenseStatus.ACTIVE and record.product_version.serves(host):
                return self._renew_or_resend(ctx, record, DecisionKind.UPGRADE)
            if record.status is LicenseStatus.TEMPORARY:
                return self._upgrade_temporary(ctx, record, fallback)
            # Revoked, expired or of an older version: the device is treated like any
            # other requester (R52, R31, R39).
        return self._for_device(
            ctx, DecisionKind.UPGRADE, fallback=fallback, presented_temporary=presented.temporary
        )

    def _for_device(
        self,
        ctx: _Ctx,
        kind: DecisionKind,
        *,
        fallback: PresentedLicense | None,
        presented_temporary: bool,
    ) -> Ruling:
        cfg, host = ctx.cfg, ctx.cfg.cal_version
        # One query for the device's licenses of every status: the outstanding ones here,
        # all of them for R27's one temporary license per device below.
        device_licenses = ctx.tx.find_licenses(
            LicenseQuery(hwid=ctx.client.hwid, cal_type=CalType.PER_DEVICE)
        )
        outstanding = [lic for lic in device_licenses if lic.status in OUTSTANDING]
        permanent = [
            lic
            for lic in outstanding
            if lic.status is LicenseStatus.ACTIVE and lic.product_version.serves(host)
        ]
        if permanent:
            # A known device gets its own license back and is not listed twice (R23).
            best = min(permanent, key=lambda lic: (lic.product_version, lic.license_id))
            return self._renew_or_resend(ctx, best, kind)
        temporary = [
            lic
            for lic in outstanding
            if lic.status is LicenseStatus.TEMPORARY
            and lic.product_version.generation == host.generation
        ]
        if temporary:
            if kind is DecisionKind.ISSUE_NEW:
                return self._resend(
                    ctx, temporary[-1], kind, "the device's temporary license again (R23)", "R23"
                )
            return self._upgrade_temporary(ctx, temporary[-1], fallback)
        if cfg.builtin_eligible(ctx.client.platform_id):
            return self._issue_builtin(ctx, kind)
        had_temporary = presented_temporary or self._had_temporary(ctx, device_licenses)
        if cfg.first_license is FirstLicensePolicy.PERMANENT or had_temporary:
            issued = self._issue_permanent(ctx, kind, replacing=None)
            if issued is not None:
                return issued
            if not had_temporary:
                return self._issue_temporary(ctx, kind, CalType.PER_DEVICE)
            return self._no_license(ctx, fallback)
        return self._issue_temporary(ctx, kind, CalType.PER_DEVICE)

    def _upgrade_temporary(
        self, ctx: _Ctx, temp: IssuedLicense, fallback: PresentedLicense | None
    ) -> Ruling:
        """R29: a validated temporary license becomes a permanent CAL when one is available;
        otherwise it keeps working until its 90 days are up (R30)."""
        if not temp.validated:
            return self._keep_temporary(
                ctx, temp, fallback, "temporary license not validated yet (R28)", "R28"
            )
        issued = self._issue_permanent(ctx, DecisionKind.UPGRADE, replacing=temp)
        if issued is not None:
            return issued
        return self._keep_temporary(
            ctx, temp, fallback, "no permanent CAL available; temporary license kept (R30)", "R30"
        )

    def _keep_temporary(
        self,
        ctx: _Ctx,
        temp: IssuedLicense,
        fallback: PresentedLicense | None,
        reason: str,
        rule: str,
    ) -> Ruling:
        if fallback is not None and fallback.license_id == temp.license_id:
            return Ruling.of(DecisionKind.UPGRADE_WITH_OLD, reason, rule, blob=fallback.blob)
        return self._resend(ctx, temp, DecisionKind.UPGRADE, reason, rule)

    def _no_license(self, ctx: _Ctx, fallback: PresentedLicense | None) -> Ruling:
        """No CAL for a device that already had its temporary license (R33, R40)."""
        if fallback is not None:
            return Ruling.of(
                DecisionKind.UPGRADE_WITH_OLD,
                "no CAL available; the presented license stays valid until it expires",
                "R30",
                blob=fallback.blob,
            )
        if self._in_grace(ctx):
            return Ruling.of(
                DecisionKind.VALID_CLIENT, "no CAL, but the host is in its grace period", "R40"
            )
        why = "no permanent CAL available and the device already had its temporary license"
        if ctx.cfg.prevent_license_upgrade:
            why += " (Prevent License Upgrade on)"
        append_history(
            ctx.tx, HistoryKind.REFUSED, ctx.now, None, why, client=ctx.client, rule="R33"
        )
        return _refusal(ctx.cfg, why, "R33")

    def _invalid_refusal(self, presented: PresentedLicense) -> Ruling:
        info = (
            ErrorInfo.ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE
            if presented.validation is ValidationStatus.HWID_MISMATCH
            else ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_LICENSE
        )
        return Ruling.of(
            DecisionKind.REFUSE,
            f"presented license failed validation ({presented.reason()})",
            "R69",
            error_code=ErrorCode.ERR_INVALID_CLIENT,
            state_transition=StateTransition.ST_TOTAL_ABORT,
            error_info=info,
        )

    def _unreachable(self, ctx: _Ctx, presented: PresentedLicense | None) -> Ruling:
        """R45 / R46 (MS-RDPELE 3.2.5.5 cases 1 and 2): no license server to ask."""
        if presented is not None and presented.usable_on(ctx.cfg.cal_version, ctx.now):
            return Ruling.of(
                DecisionKind.UPGRADE_WITH_OLD,
                "license server unreachable; the old license is returned",
                "R45",
                blob=presented.blob,
            )
        if self._in_grace(ctx):
            return Ruling.of(
                DecisionKind.VALID_CLIENT,
                "license server unreachable; host in its grace period",
                "R46",
            )
        return Ruling.of(
            DecisionKind.REFUSE,
            "no license server available and the grace period is over",
            "R46",
            error_code=ErrorCode.ERR_NO_LICENSE_SERVER,
            state_transition=StateTransition.ST_TOTAL_ABORT,
            error_info=ErrorInfo.ERRINFO_LICENSE_NO_LICENSE_SERVER,
        )

    # =========================================================================================
    # Per-user policy (R55-R59)

    def _per_user(self, ctx: _Ctx, kind: DecisionKind) -> Ruling:
        """R59: the normal exchange with a license blob that is never upgraded; no device CAL
        is consumed; the per-user CAL is recorded against the user (R56, R57)."""
        host = ctx.cfg.cal_version
        tokens = [
            lic
            for lic in ctx.tx.find_licenses(
                LicenseQuery(
                    hwid=ctx.client.hwid,
                    statuses=(LicenseStatus.TEMPORARY,),
                    cal_type=CalType.PER_USER,
                )
            )
            if lic.product_version.generation == host.generation
        ]
        current = tokens[-1] if tokens else None
        if current is not None and current.expires - ctx.now > RENEWAL_WINDOW:
            decision = self._resend(
                ctx, current, kind, "the device's per-user-mode license again", "R59"
            )
        else:
            decision = self._issue_temporary(ctx, kind, CalType.PER_USER)
            if current is not None and decision.license is not None:
                replaced = dataclasses.replace(
                    current, status=LicenseStatus.UPGRADED, upgraded_to=decision.license.license_id
                )
                retire(ctx.tx, replaced)
                append_history(
                    ctx.tx,
                    HistoryKind.RENEWED,
                    ctx.now,
                    replaced,
                    f"replaced by license {decision.license.license_id}",
                    rule="R59",
                )
        self._touch_user_cal(ctx)
        return decision

    def _touch_user_cal(self, ctx: _Ctx) -> None:
        """Issue, or extend near expiry, the user's per-user CAL (R16, R57)."""
        if not ctx.cfg.license_server_reachable:
            return  # nobody to record it with; the host still lets the user in (R55)
        reclaim(ctx.tx, ctx.now)
        host = ctx.cfg.cal_version
        user = ctx.client.user_name
        cals = [
            lic
            for lic in ctx.tx.find_licenses(
                LicenseQuery(
                    user_name=user, statuses=(LicenseStatus.ACTIVE,), cal_type=CalType.PER_USER
                )
            )
            if lic.product_version.serves(host)
        ]
        lifetime = timedelta(days=ctx.cfg.per_user_cal_days)
        if cals:
            cal = cals[0]
            if cal.expires - ctx.now <= RENEWAL_WINDOW:
                cal = dataclasses.replace(cal, expires=ctx.now + lifetime, renewed=ctx.now)
                ctx.tx.update_license(cal)
                append_history(
                    ctx.tx,
                    HistoryKind.RENEWED,
                    ctx.now,
                    cal,
                    f"per-user CAL until {fmt(cal.expires)} (R57)",
                    rule="R57",
                )
            return
        pack = self._allocate(ctx, CalType.PER_USER)
        lic = IssuedLicense(
            license_id=ctx.tx.next_id("license"),
            key_pack_id=None if pack is None else pack.key_pack_id,
            cal_type=CalType.PER_USER,
            hwid=ctx.client.hwid,
            platform_id=ctx.client.platform_id,
            machine_name=ctx.client.machine_name,
            user_name=user,
            product_version=host if pack is None else pack.product_version,
            status=LicenseStatus.ACTIVE,
            temporary=False,
            issued=ctx.now,
            expires=ctx.now + lifetime,
        )
        # Per-user CALs live with the user (AD), never on the client (R56, R58): no blob.
        ctx.tx.insert_license(lic, None)
        source = "over-used pool (R16)" if pack is None else f"key pack {pack.key_pack_id}"
        append_history(
            ctx.tx,
            HistoryKind.ISSUED,
            ctx.now,
            lic,
            f"per-user CAL from {source}",
            rule="R16" if pack is None else "R57",
        )

    # =========================================================================================
    # Issuing

    def _allocate(self, ctx: _Ctx, cal_type: CalType) -> KeyPack | None:
        """Take one CAL for this host (R38, R40, R14, R16), or None if none is available.

        The host's own version first, then (unless Prevent License Upgrade) the oldest newer
        version; within a version the oldest installation first.
        """
        cfg, host = ctx.cfg, ctx.cfg.cal_version
        ceiling = cfg.server_release.cal_version.generation
        candidates = [
            p
            for p in ctx.tx.list_key_packs()
            if p.key_pack_type.purchased
            and p.cal_type is cal_type
            and p.usable(ctx.now)
            and p.product_version.serves(host)
            and p.product_version.generation <= ceiling
            and (not cfg.prevent_license_upgrade or p.product_version.generation == host.generation)
        ]
        candidates.sort(
            key=lambda p: (p.product_version.generation, p.product_version != host, p.key_pack_id)
        )
        for pack in candidates:
            if (pack.available or 0) > 0 and ctx.tx.take_from_key_pack(pack.key_pack_id):
                return pack
        return None

    def _issue_permanent(
        self, ctx: _Ctx, kind: DecisionKind, *, replacing: IssuedLicense | None
    ) -> Ruling | None:
        if not ctx.cfg.license_server_activated:
            return None  # an unactivated license server issues temporary licenses only (R13)
        pack = self._allocate(ctx, CalType.PER_DEVICE)
        if pack is None:
            return None
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        lic = self._new_license(ctx, pack, temporary=False, lifetime=timedelta(days=days))
        blob = self._sign(ctx, lic)
        ctx.tx.insert_license(lic, blob)
        append_history(
            ctx.tx,
            HistoryKind.ISSUED,
            ctx.now,
            lic,
            f"permanent CAL from key pack {pack.key_pack_id}, {days} days",
            rule="R31" if replacing is None else "R29",
        )
        rule = "R31"
        if replacing is not None:
            old = dataclasses.replace(
                replacing, status=LicenseStatus.UPGRADED, upgraded_to=lic.license_id
            )
            retire(ctx.tx, old)
            append_history(
                ctx.tx,
                HistoryKind.UPGRADED,
                ctx.now,
                old,
                f"to permanent CAL {lic.license_id}",
                rule="R29",
            )
            rule = "R29"
        ctx.record_once(GRACE_FIRST_PERMANENT)
        reason = f"permanent {pack.cal_type.label} CAL {lic.product_version} for {days} days"
        return Ruling.of(kind, reason, rule, license=lic, blob=blob)

    def _issue_temporary(self, ctx: _Ctx, kind: DecisionKind, cal_type: CalType) -> Ruling:
        pack = self._system_pack(ctx, KeyPackType.TEMPORARY, cal_type, ctx.cfg.cal_version)
        if not ctx.tx.take_from_key_pack(pack.key_pack_id):  # pragma: no cover - unlimited pack
            raise RuntimeError("temporary pool refused a license")
        days = ctx.cfg.temporary_license_days
        lic = self._new_license(
            ctx,
            pack,
            temporary=True,
            lifetime=timedelta(days=days),
            validated=ctx.cfg.auto_validate_temporary,
        )
        blob = self._sign(ctx, lic)
        ctx.tx.insert_license(lic, blob)
        what = "per-user-mode license" if cal_type is CalType.PER_USER else "temporary license"
        append_history(
            ctx.tx,
            HistoryKind.ISSUED,
            ctx.now,
            lic,
            f"{what}, {days} days",
            rule="R59" if cal_type is CalType.PER_USER else "R27",
        )
        rule = "R59" if cal_type is CalType.PER_USER else "R27"
        return Ruling.of(kind, f"{what} for {days} days", rule, license=lic, blob=blob)

    def _issue_builtin(self, ctx: _Ctx, kind: DecisionKind) -> Ruling:
        """R19: Windows 2000 / XP Professional clients of a Windows 2000 host."""
        pack = self._system_pack(ctx, KeyPackType.BUILT_IN, CalType.PER_DEVICE, ctx.cfg.cal_version)
        if not ctx.tx.take_from_key_pack(pack.key_pack_id):  # pragma: no cover - unlimited pack
            raise RuntimeError("built-in pool refused a license")
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        lic = self._new_license(ctx, pack, temporary=False, lifetime=timedelta(days=days))
        blob = self._sign(ctx, lic)
        ctx.tx.insert_license(lic, blob)
        append_history(
            ctx.tx, HistoryKind.ISSUED, ctx.now, lic, f"built-in CAL, {days} days (R19)", rule="R19"
        )
        return Ruling.of(kind, "built-in CAL (Windows 2000 host)", "R19", license=lic, blob=blob)

    def _renew_or_resend(self, ctx: _Ctx, lic: IssuedLicense, kind: DecisionKind) -> Ruling:
        """R32: renew within 7 days of expiry for a fresh 52-89 days; otherwise the same bits."""
        if lic.expires - ctx.now > RENEWAL_WINDOW:
            return self._resend(ctx, lic, kind, "the device's permanent CAL again (R23)", "R23")
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        renewed = dataclasses.replace(lic, expires=ctx.now + timedelta(days=days), renewed=ctx.now)
        blob = self._sign(ctx, renewed, issued=ctx.now)
        ctx.tx.update_license(renewed, blob)
        append_history(
            ctx.tx,
            HistoryKind.RENEWED,
            ctx.now,
            renewed,
            f"until {fmt(renewed.expires)}",
            rule="R32",
        )
        return Ruling.of(kind, f"CAL renewed for {days} days", "R32", license=renewed, blob=blob)

    def _resend(
        self, ctx: _Ctx, lic: IssuedLicense, kind: DecisionKind, reason: str, rule: str
    ) -> Ruling:
        blob = ctx.tx.get_license_blob(lic.license_id) or b""
        append_history(
            ctx.tx, HistoryKind.RESENT, ctx.now, lic, reason, client=ctx.client, rule=rule
        )
        return Ruling.of(kind, reason, rule, license=lic, blob=blob)

    def _new_license(
        self,
        ctx: _Ctx,
        pack: KeyPack,
        *,
        temporary: bool,
        lifetime: timedelta,
        validated: bool = True,
    ) -> IssuedLicense:
        return IssuedLicense(
            license_id=ctx.tx.next_id("license"),
            key_pack_id=pack.key_pack_id,
            cal_type=pack.cal_type,
            hwid=ctx.client.hwid,
            platform_id=ctx.client.platform_id,
            machine_name=ctx.client.machine_name,
            user_name=ctx.client.user_name,
            product_version=pack.product_version,
            status=LicenseStatus.TEMPORARY if temporary else LicenseStatus.ACTIVE,
            temporary=temporary,
            issued=ctx.now,
            expires=ctx.now + lifetime,
            validated=validated,
        )

    def _sign(self, ctx: _Ctx, lic: IssuedLicense, issued: datetime | None = None) -> bytes:
        # LICENSED_PRODUCT_INFO.PlatformId stays 0xFF as in Windows' CALs; the client's own
        # PlatformId is the first DWORD of the HWID (docs/protocol.md, "CAL").
        fields = LicenseFields(
            license_id=lic.license_id,
            hwid=lic.hwid,
            client_machine_name=lic.machine_name,
            client_user_name=lic.user_name,
            product_major=lic.product_version.major,
            product_minor=lic.product_version.minor,
            temporary=lic.temporary,
            issued=lic.issued if issued is None else issued,
            expires=lic.expires,
            product_id=ctx.cfg.product_id,
            company=ctx.cfg.company_name,
        )
        return self._signer.sign(fields)

    def _system_pack(
        self, ctx: _Ctx, pack_type: KeyPackType, cal_type: CalType, version: ProductVersion
    ) -> KeyPack:
        """The uncapped pool of temporary (R18) or built-in (R19) licenses, made on first use."""
        for pack in ctx.tx.list_key_packs():
            if (
                pack.key_pack_type is pack_type
                and pack.cal_type is cal_type
                and pack.product_version == version
            ):
                return pack
        what = "Temporary" if pack_type is KeyPackType.TEMPORARY else "Built-in"
        pack = KeyPack(
            key_pack_id=ctx.tx.next_id("key_pack"),
            product_version=version,
            cal_type=cal_type,
            key_pack_type=pack_type,
            program=LicensingProgram.SYSTEM,
            total=None,
            issued=0,
            installed=ctx.now,
            description=f"{what} {cal_type.label} licenses for {version.title}",
        )
        ctx.tx.insert_key_pack(pack)
        return pack

    def _had_temporary(self, ctx: _Ctx, device_licenses: Iterable[IssuedLicense]) -> bool:
        """R27: one temporary license per device (per HWID, R73) and CAL version."""
        generation = ctx.cfg.cal_version.generation
        return any(
            lic.temporary and lic.product_version.generation == generation
            for lic in device_licenses
        )

    # =========================================================================================
    # Grace period (R43, R44)

    def _start_grace(self, ctx: _Ctx) -> None:
        ctx.record_once(GRACE_STARTED)

    def _license_server_contacted(self, ctx: _Ctx) -> None:
        ctx.record_once(GRACE_LS_CONTACT)

    def _in_grace(self, ctx: _Ctx) -> bool:
        return grace_ends(ctx.tx, ctx.cfg) > ctx.now


def _refusal(cfg: HostConfig, reason: str, rule: str) -> Ruling:
    """ "No CAL for this computer" in the configured style (R33, R69)."""
    if cfg.refusal_style is RefusalStyle.VALID_CLIENT_THEN_DISCONNECT:
        code, transition = ErrorCode.STATUS_VALID_CLIENT, StateTransition.ST_NO_TRANSITION
    else:
        code, transition = ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_TOTAL_ABORT
    return Ruling.of(
        DecisionKind.REFUSE,
        reason,
        rule,
        error_code=code,
        state_transition=transition,
        error_info=ErrorInfo.ERRINFO_LICENSE_NO_LICENSE,
    )


def _upgrade_reason(presented: PresentedLicense, cfg: HostConfig, now: datetime) -> str:
    reasons: Iterable[tuple[bool, str]] = (
        (presented.validation is not ValidationStatus.VALID, "invalid"),
        (presented.expires <= now, "expired"),
        (now < presented.expires <= now + RENEWAL_WINDOW, "within 7 days of expiry"),
        (not presented.product_version.serves(cfg.cal_version), "older version than the host"),
        (presented.temporary, "temporary"),
    )
    return "license needs upgrade: " + ", ".join(text for hit, text in reasons if hit)
