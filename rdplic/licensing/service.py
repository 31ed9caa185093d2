"""The license server: decides what each client gets, and remembers it.

`LicenseService` is what the licensing protocol core calls, synchronously, with
everything as arguments (the client's identity, what it presented, the time). It
decides as a Windows session host and license server do (docs/license-server-behavior.md,
rules R1-R84) and records each decision in one store transaction: the key pack
chosen, the CAL taken, the license blob signed and stored, the history appended -
all or nothing (architecture invariant 6).

How the core uses it (MS-RDPELE 3.2.5):

* Before licensing, `product_info` gives the Server License Request's ProductInfo and
  `sends_license_request` says whether to send one at all (False: the Valid Client PDU
  at once, R60 - what xrdp and most non-Windows servers do).
* Client New License Request -> platform challenge -> challenge response (now the
  HWID is known) -> `request_new_license`.
* Client License Information -> `evaluate_presented` (no challenge yet): either
  VALID_CLIENT (a good license, done) or PLATFORM_CHALLENGE (it needs an upgrade, R39);
  after the challenge response -> `present_license`, whose decision goes on the wire.

Administration (key packs, revocation, transfer, reports) uses the same store, so
``rdplic`` commands and ``rdplic serve`` always agree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from rdplic.errors import UsageError
from rdplic.licensing.clock import format_duration
from rdplic.licensing.decision import Decision, DecisionKind
from rdplic.licensing.hostconfig import (
    FirstLicensePolicy,
    GraceEnd,
    HostConfig,
    InvalidLicenseAction,
    LicensingMode,
    RefusalStyle,
)
from rdplic.licensing.model import (
    CalType,
    ClientIdentity,
    ErrorInfo,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    LicensingErrorCode,
    LicensingProgram,
    PresentedLicense,
    ProductInfo,
    ProductVersion,
    StateTransition,
    ValidationStatus,
    format_hwid,
    to_utc,
)
from rdplic.licensing.report import LicenseReport, build_report
from rdplic.licensing.signer import LicenseFields, LicenseSigner
from rdplic.store.base import (
    CLOCK_OFFSET_SETTING,
    HistoryQuery,
    LicenseQuery,
    LicenseStore,
    StoreError,
    StoreTransaction,
)

__all__ = [
    "PERMANENT_CAL_DAYS",
    "RENEWAL_WINDOW",
    "LicenseService",
    "RandomSource",
    "RevocationQuotaExceeded",
    "RevokeResult",
    "TransferResult",
    "load_host_config",
    "save_host_config",
]

PERMANENT_CAL_DAYS = (52, 89)
"""A permanent per-device CAL lasts a random whole number of days in this range (R31)."""
RENEWAL_WINDOW = timedelta(days=7)
"""A CAL presented this close to its expiry is renewed (R32, R39)."""
REVOCATION_SHARE_PERCENT = 20
"""At most 20 % of a version's installed CALs (or 1) may be in the revoked state (R50)."""
MAX_KEY_PACK_COUNT = 1_000_000

_CONFIG_PREFIX = "host."
_GRACE_STARTED = "grace.started_at"
_GRACE_LS_CONTACT = "grace.license_server_contact_at"
_GRACE_FIRST_PERMANENT = "grace.first_permanent_cal_at"
_OUTSTANDING = (LicenseStatus.TEMPORARY, LicenseStatus.ACTIVE)


class RandomSource(Protocol):
    """What the service draws from: ``random.Random`` (seeded in tests) satisfies it."""

    def randint(self, a: int, b: int) -> int: ...


class RevocationQuotaExceeded(UsageError):
    """Revoke refused: the version's revoked CALs are at their quota (R50)."""

    def __init__(self, message: str, revokable_cals: int, next_revoke_allowed_on: datetime | None):
        super().__init__(message)
        self.revokable_cals = revokable_cals
        self.next_revoke_allowed_on = next_revoke_allowed_on


@dataclass(frozen=True, slots=True)
class RevokeResult:
    """Like Win32_TSIssuedLicense.Revoke's out parameters (R50)."""

    license: IssuedLicense
    revokable_cals: int
    next_revoke_allowed_on: datetime | None


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The one-time transfer of KB 315262: the old license and the reissued key pack."""

    license: IssuedLicense
    reissued_key_pack: KeyPack


def load_host_config(tx: StoreTransaction) -> HostConfig:
    """The host configuration persisted in the store (defaults where never set)."""
    stored = tx.settings(_CONFIG_PREFIX)
    try:
        return _host_config(tuple((k[len(_CONFIG_PREFIX) :], v) for k, v in stored.items()))
    except ValueError as error:
        raise StoreError(f"stored host configuration is not usable: {error}") from None


@functools.lru_cache(maxsize=16)
def _host_config(settings: tuple[tuple[str, str], ...]) -> HostConfig:
    """`HostConfig.from_settings`, parsed once per distinct set of stored settings (every
    decision reads them; they rarely change, and a HostConfig is immutable)."""
    return HostConfig.from_settings(dict(settings))


def save_host_config(tx: StoreTransaction, config: HostConfig) -> None:
    for key, value in config.to_settings().items():
        tx.set_setting(_CONFIG_PREFIX + key, value)


@dataclass(frozen=True, slots=True)
class _Settings:
    """What a decision reads of the stored settings: the host configuration and which
    grace-period moments (R43, R44) are recorded already."""

    cfg: HostConfig
    recorded: frozenset[str]


def _load_settings(tx: StoreTransaction) -> _Settings:
    stored = tx.settings()
    host = tuple(
        (k[len(_CONFIG_PREFIX) :], v) for k, v in stored.items() if k.startswith(_CONFIG_PREFIX)
    )
    try:
        cfg = _host_config(host)
    except ValueError as error:
        raise StoreError(f"stored host configuration is not usable: {error}") from None
    grace = (_GRACE_STARTED, _GRACE_LS_CONTACT, _GRACE_FIRST_PERMANENT)
    return _Settings(cfg, frozenset(name for name in grace if name in stored))


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


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class LicenseService:
    """The license server and the session host's licensing policy over a `LicenseStore`.

    ``signer`` produces license blobs (`rdplic.licensing.signer`); ``rng`` draws the
    52-89-day CAL lifetimes (R31). With ``config`` the host configuration is written
    to the store first; otherwise the stored one (or the defaults) applies. Each
    decision reads the configuration inside its own transaction, so ``rdplic config
    set`` from another process takes effect at the next connection.
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

    def product_info(self) -> ProductInfo:
        """ProductInfo and scope for the Server License Request (R42)."""
        return self.config().product_info

    def sends_license_request(self) -> bool:
        """False in valid-client-only mode: send the Valid Client PDU instead (R60)."""
        return self.config().licensing_mode is not LicensingMode.VALID_CLIENT_ONLY

    # =========================================================================================
    # Decisions the protocol core asks for

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
    ) -> Decision:
        """Step 1 of the License Information flow, before any platform challenge.

        Returns VALID_CLIENT (license accepted as is; protocol complete), PLATFORM_CHALLENGE
        (send the challenge, then call `present_license`), or REFUSE when the host is
        configured to abort on an invalid license (``invalid_license = refuse``, R69).
        """
        now = to_utc(now)
        cfg = self.config()
        if not cfg.licensing_mode.issues_licenses:
            return Decision(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
        if presented.validation is not ValidationStatus.VALID and (
            cfg.invalid_license is InvalidLicenseAction.REFUSE
        ):
            return self._invalid_refusal(presented)
        if self.needs_upgrade(presented, now, cfg):
            return Decision(
                DecisionKind.PLATFORM_CHALLENGE, _upgrade_reason(presented, cfg, now), "R39"
            )
        if cfg.licensing_mode is LicensingMode.PER_USER:
            with self._store.transaction() as tx:
                self._touch_user_cal(self._ctx(tx, now, client))
        return Decision(DecisionKind.VALID_CLIENT, "license valid for this host", "R65")

    def present_license(
        self, client: ClientIdentity, presented: PresentedLicense | None, now: datetime
    ) -> Decision:
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
                return Decision(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
            if presented.validation is not ValidationStatus.VALID and (
                cfg.invalid_license is InvalidLicenseAction.REFUSE
            ):
                return self._invalid_refusal(presented)
            if not self.needs_upgrade(presented, now, cfg):
                if cfg.licensing_mode is LicensingMode.PER_USER:
                    self._touch_user_cal(ctx)
                return Decision(DecisionKind.VALID_CLIENT, "license valid for this host", "R65")
            unreachable = self._reach_license_server(ctx, presented)
            if unreachable is not None:
                return unreachable
            if cfg.licensing_mode is LicensingMode.PER_USER:
                return self._per_user(ctx, DecisionKind.UPGRADE)
            return self._per_device_presented(ctx, presented)

    def request_new_license(self, client: ClientIdentity, now: datetime) -> Decision:
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
                return Decision(DecisionKind.VALID_CLIENT, "host does not license clients", "R4")
            unreachable = self._reach_license_server(ctx, None)
            if unreachable is not None:
                return unreachable
            if cfg.licensing_mode is LicensingMode.PER_USER:
                return self._per_user(ctx, DecisionKind.ISSUE_NEW)
            return self._for_device(
                ctx, DecisionKind.ISSUE_NEW, fallback=None, presented_temporary=False
            )

    def _reach_license_server(
        self, ctx: _Ctx, presented: PresentedLicense | None
    ) -> Decision | None:
        """What every issuing decision does first: the grace period starts (R43); an
        unreachable license server decides here (R45, R46); otherwise the contact is recorded
        and expired licenses are reclaimed (R25) before the policy runs."""
        self._start_grace(ctx)
        if not ctx.cfg.license_server_reachable:
            return self._unreachable(ctx, presented)
        self._license_server_contacted(ctx)
        self._reclaim(ctx.tx, ctx.now)
        return None

    def mark_validated(self, license_id: int, now: datetime) -> IssuedLicense:
        """The client logged on with this temporary license (R28): it may now be upgraded."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            lic = tx.get_license(license_id)
            if lic is None:
                raise UsageError(f"no license {license_id}")
            if lic.validated:
                return lic
            lic = dataclasses.replace(lic, validated=True)
            tx.update_license(lic)
            self._history(tx, HistoryKind.VALIDATED, now, lic, "client logged on (R28)")
            return lic

    # =========================================================================================
    # Per-device policy

    def _per_device_presented(self, ctx: _Ctx, presented: PresentedLicense) -> Decision:
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
    ) -> Decision:
        cfg, host = ctx.cfg, ctx.cfg.cal_version
        # One query for the device's licenses of every status: the outstanding ones here,
        # all of them for R27's one temporary license per device below.
        device_licenses = ctx.tx.find_licenses(
            LicenseQuery(hwid=ctx.client.hwid, cal_type=CalType.PER_DEVICE)
        )
        outstanding = [lic for lic in device_licenses if lic.status in _OUTSTANDING]
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
    ) -> Decision:
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
    ) -> Decision:
        if fallback is not None and fallback.license_id == temp.license_id:
            return Decision(DecisionKind.UPGRADE_WITH_OLD, reason, rule, blob=fallback.blob)
        return self._resend(ctx, temp, DecisionKind.UPGRADE, reason, rule)

    def _no_license(self, ctx: _Ctx, fallback: PresentedLicense | None) -> Decision:
        """No CAL for a device that already had its temporary license (R33, R40)."""
        if fallback is not None:
            return Decision(
                DecisionKind.UPGRADE_WITH_OLD,
                "no CAL available; the presented license stays valid until it expires",
                "R30",
                blob=fallback.blob,
            )
        if self._in_grace(ctx):
            return Decision(
                DecisionKind.VALID_CLIENT, "no CAL, but the host is in its grace period", "R40"
            )
        why = "no permanent CAL available and the device already had its temporary license"
        if ctx.cfg.prevent_license_upgrade:
            why += " (Prevent License Upgrade on)"
        self._history(ctx.tx, HistoryKind.REFUSED, ctx.now, None, why, client=ctx.client)
        return _refusal(ctx.cfg, why, "R33")

    def _invalid_refusal(self, presented: PresentedLicense) -> Decision:
        info = (
            ErrorInfo.ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE
            if presented.validation is ValidationStatus.HWID_MISMATCH
            else ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_LICENSE
        )
        return Decision(
            DecisionKind.REFUSE,
            f"presented license failed validation ({presented.validation.name.lower()})",
            "R69",
            error_code=LicensingErrorCode.ERR_INVALID_CLIENT,
            state_transition=StateTransition.ST_TOTAL_ABORT,
            error_info=info,
        )

    def _unreachable(self, ctx: _Ctx, presented: PresentedLicense | None) -> Decision:
        """R45 / R46 (MS-RDPELE 3.2.5.5 cases 1 and 2): no license server to ask."""
        if presented is not None and presented.usable_on(ctx.cfg.cal_version, ctx.now):
            return Decision(
                DecisionKind.UPGRADE_WITH_OLD,
                "license server unreachable; the old license is returned",
                "R45",
                blob=presented.blob,
            )
        if self._in_grace(ctx):
            return Decision(
                DecisionKind.VALID_CLIENT,
                "license server unreachable; host in its grace period",
                "R46",
            )
        return Decision(
            DecisionKind.REFUSE,
            "no license server available and the grace period is over",
            "R46",
            error_code=LicensingErrorCode.ERR_NO_LICENSE_SERVER,
            state_transition=StateTransition.ST_TOTAL_ABORT,
            error_info=ErrorInfo.ERRINFO_LICENSE_NO_LICENSE_SERVER,
        )

    # =========================================================================================
    # Per-user policy (R55-R59)

    def _per_user(self, ctx: _Ctx, kind: DecisionKind) -> Decision:
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
                self._retire(ctx.tx, replaced)
                self._history(
                    ctx.tx,
                    HistoryKind.RENEWED,
                    ctx.now,
                    replaced,
                    f"replaced by license {decision.license.license_id}",
                )
        self._touch_user_cal(ctx)
        return decision

    def _touch_user_cal(self, ctx: _Ctx) -> None:
        """Issue, or extend near expiry, the user's per-user CAL (R16, R57)."""
        if not ctx.cfg.license_server_reachable:
            return  # nobody to record it with; the host still lets the user in (R55)
        self._reclaim(ctx.tx, ctx.now)
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
                self._history(
                    ctx.tx,
                    HistoryKind.RENEWED,
                    ctx.now,
                    cal,
                    f"per-user CAL until {_fmt(cal.expires)} (R57)",
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
        self._history(ctx.tx, HistoryKind.ISSUED, ctx.now, lic, f"per-user CAL from {source}")

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
    ) -> Decision | None:
        if not ctx.cfg.license_server_activated:
            return None  # an unactivated license server issues temporary licenses only (R13)
        pack = self._allocate(ctx, CalType.PER_DEVICE)
        if pack is None:
            return None
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        lic = self._new_license(ctx, pack, temporary=False, lifetime=timedelta(days=days))
        blob = self._sign(ctx, lic)
        ctx.tx.insert_license(lic, blob)
        self._history(
            ctx.tx,
            HistoryKind.ISSUED,
            ctx.now,
            lic,
            f"permanent CAL from key pack {pack.key_pack_id}, {days} days",
        )
        rule = "R31"
        if replacing is not None:
            old = dataclasses.replace(
                replacing, status=LicenseStatus.UPGRADED, upgraded_to=lic.license_id
            )
            self._retire(ctx.tx, old)
            self._history(
                ctx.tx, HistoryKind.UPGRADED, ctx.now, old, f"to permanent CAL {lic.license_id}"
            )
            rule = "R29"
        ctx.record_once(_GRACE_FIRST_PERMANENT)
        reason = f"permanent {pack.cal_type.label} CAL {lic.product_version} for {days} days"
        return Decision(kind, reason, rule, license=lic, blob=blob)

    def _issue_temporary(self, ctx: _Ctx, kind: DecisionKind, cal_type: CalType) -> Decision:
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
        self._history(ctx.tx, HistoryKind.ISSUED, ctx.now, lic, f"{what}, {days} days")
        rule = "R59" if cal_type is CalType.PER_USER else "R27"
        return Decision(kind, f"{what} for {days} days", rule, license=lic, blob=blob)

    def _issue_builtin(self, ctx: _Ctx, kind: DecisionKind) -> Decision:
        """R19: Windows 2000 / XP Professional clients of a Windows 2000 host."""
        pack = self._system_pack(ctx, KeyPackType.BUILT_IN, CalType.PER_DEVICE, ctx.cfg.cal_version)
        if not ctx.tx.take_from_key_pack(pack.key_pack_id):  # pragma: no cover - unlimited pack
            raise RuntimeError("built-in pool refused a license")
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        lic = self._new_license(ctx, pack, temporary=False, lifetime=timedelta(days=days))
        blob = self._sign(ctx, lic)
        ctx.tx.insert_license(lic, blob)
        self._history(ctx.tx, HistoryKind.ISSUED, ctx.now, lic, f"built-in CAL, {days} days (R19)")
        return Decision(kind, "built-in CAL (Windows 2000 host)", "R19", license=lic, blob=blob)

    def _renew_or_resend(self, ctx: _Ctx, lic: IssuedLicense, kind: DecisionKind) -> Decision:
        """R32: renew within 7 days of expiry for a fresh 52-89 days; otherwise the same bits."""
        if lic.expires - ctx.now > RENEWAL_WINDOW:
            return self._resend(ctx, lic, kind, "the device's permanent CAL again (R23)", "R23")
        days = self._rng.randint(*PERMANENT_CAL_DAYS)
        renewed = dataclasses.replace(lic, expires=ctx.now + timedelta(days=days), renewed=ctx.now)
        blob = self._sign(ctx, renewed, issued=ctx.now)
        ctx.tx.update_license(renewed, blob)
        self._history(
            ctx.tx, HistoryKind.RENEWED, ctx.now, renewed, f"until {_fmt(renewed.expires)}"
        )
        return Decision(kind, f"CAL renewed for {days} days", "R32", license=renewed, blob=blob)

    def _resend(
        self, ctx: _Ctx, lic: IssuedLicense, kind: DecisionKind, reason: str, rule: str
    ) -> Decision:
        blob = ctx.tx.get_license_blob(lic.license_id) or b""
        self._history(ctx.tx, HistoryKind.RESENT, ctx.now, lic, reason, client=ctx.client)
        return Decision(kind, reason, rule, license=lic, blob=blob)

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

    def _retire(self, tx: StoreTransaction, lic: IssuedLicense) -> None:
        """Write a license that stopped being outstanding and give its CAL back (R15)."""
        tx.update_license(lic)
        if lic.key_pack_id is not None:
            tx.return_to_key_pack(lic.key_pack_id)

    def _reclaim(self, tx: StoreTransaction, now: datetime) -> int:
        """R25: expired licenses leave the outstanding count; CALs go back to their pool."""
        expired = tx.find_licenses(LicenseQuery(statuses=_OUTSTANDING, expires_at_or_before=now))
        for lic in expired:
            done = dataclasses.replace(lic, status=LicenseStatus.EXPIRED)
            self._retire(tx, done)
            self._history(tx, HistoryKind.EXPIRED, now, done, f"expired {_fmt(lic.expires)}")
            if not lic.temporary and lic.key_pack_id is not None:
                pack = tx.get_key_pack(lic.key_pack_id)
                if pack is not None and pack.key_pack_type.purchased:
                    self._history(
                        tx,
                        HistoryKind.RECLAIMED,
                        now,
                        done,
                        f"CAL back in key pack {pack.key_pack_id}",
                    )
        return len(expired)

    # =========================================================================================
    # Grace period (R43, R44)

    def _start_grace(self, ctx: _Ctx) -> None:
        ctx.record_once(_GRACE_STARTED)

    def _license_server_contacted(self, ctx: _Ctx) -> None:
        ctx.record_once(_GRACE_LS_CONTACT)

    def _in_grace(self, ctx: _Ctx) -> bool:
        return self.grace_ends(ctx.tx, ctx.cfg) > ctx.now

    @staticmethod
    def grace_ends(tx: StoreTransaction, cfg: HostConfig) -> datetime:
        """When the host's grace period ends (or ended), per the emulated release (R44)."""
        started_text = tx.get_setting(_GRACE_STARTED)
        if started_text is None:
            return datetime.max.replace(tzinfo=UTC)  # not started: no decision was ever made
        end = datetime.fromisoformat(started_text) + timedelta(days=cfg.grace_days)
        if cfg.grace_ends_early:
            early = {
                GraceEnd.LICENSE_SERVER_CONTACT: _GRACE_LS_CONTACT,
                GraceEnd.FIRST_PERMANENT_CAL: _GRACE_FIRST_PERMANENT,
            }.get(cfg.release.grace_end)
            marker = tx.get_setting(early) if early else None
            if marker is not None:
                end = min(end, datetime.fromisoformat(marker))
        return end

    # =========================================================================================
    # Administration

    def update_config(self, key: str, value: str, now: datetime) -> HostConfig:
        """``rdplic config set``: one key, validated; `UsageError` leaves the store unchanged."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            try:
                cfg = load_host_config(tx).with_setting(key, value)
            except ValueError as error:
                raise UsageError(str(error)) from None
            save_host_config(tx, cfg)
            name = key.strip().lower().replace("-", "_")
            self._history(
                tx, HistoryKind.CONFIG_CHANGED, now, None, f"{name} = {cfg.to_settings()[name]}"
            )
            return cfg

    def clock_offset(self) -> timedelta:
        with self._store.snapshot() as tx:
            value = tx.get_setting(CLOCK_OFFSET_SETTING)
        return timedelta(seconds=float(value)) if value else timedelta(0)

    def set_clock_offset(self, offset: timedelta, now: datetime) -> None:
        """Persist the administrator's clock offset (seen by every process using the store)."""
        with self._store.transaction() as tx:
            tx.set_setting(CLOCK_OFFSET_SETTING, repr(offset.total_seconds()))
            detail = f"offset {format_duration(offset)}"
            self._history(tx, HistoryKind.CLOCK_CHANGED, to_utc(now), None, detail)

    def reclaim(self, now: datetime) -> int:
        """Reclaim expired licenses now (admin listings do this first, R25)."""
        with self._store.transaction() as tx:
            return self._reclaim(tx, to_utc(now))

    def add_key_pack(
        self,
        now: datetime,
        *,
        cal_type: CalType,
        count: int,
        version: ProductVersion | None = None,
        program: LicensingProgram = LicensingProgram.RETAIL,
        key_pack_type: KeyPackType | None = None,
        reissued: bool = False,
        agreement_number: str = "",
        expires: datetime | None = None,
        description: str = "",
    ) -> KeyPack:
        """Install CALs (R11, R12); a reissued pack is just another installation (R17)."""
        now = to_utc(now)
        if not 1 <= count <= MAX_KEY_PACK_COUNT:
            raise UsageError(f"--count must be between 1 and {MAX_KEY_PACK_COUNT}, got {count}")
        pack_type = program.default_key_pack_type if key_pack_type is None else key_pack_type
        if not pack_type.purchased:
            raise UsageError(
                f"key pack type {pack_type.label} cannot be installed (the server makes those)"
            )
        if program is LicensingProgram.SYSTEM:
            raise UsageError("the 'system' program is reserved for temporary and built-in pools")
        if agreement_number and not (agreement_number.isdigit() and len(agreement_number) == 7):
            raise UsageError(
                f"agreement number {agreement_number!r} must be 7 digits without hyphens (R11)"
            )
        if expires is not None and to_utc(expires) <= now:
            raise UsageError(f"key pack expiry {_fmt(to_utc(expires))} is not in the future")
        with self._store.transaction() as tx:
            cfg = load_host_config(tx)
            version = cfg.cal_version if version is None else version
            server = cfg.server_release
            if version.generation > server.cal_version.generation:
                raise UsageError(
                    f"a {server.title} license server cannot hold {version.title} CALs (R14; "
                    "see rdplic config set license_server_version)"
                )
            pack = KeyPack(
                key_pack_id=tx.next_id("key_pack"),
                product_version=version,
                cal_type=cal_type,
                key_pack_type=pack_type,
                program=program,
                total=count,
                issued=0,
                installed=now,
                expires=None if expires is None else to_utc(expires),
                reissued=reissued,
                agreement_number=agreement_number,
                description=description or f"{version.title} {cal_type.label} CALs",
            )
            tx.insert_key_pack(pack)
            note = ", reissued" if reissued else ""
            detail = f"{count} {cal_type.label} CALs {version} ({program.value}{note})"
            self._history(
                tx, HistoryKind.KEYPACK_INSTALLED, now, None, detail, key_pack_id=pack.key_pack_id
            )
            return pack

    def remove_key_pack(self, key_pack_id: int, now: datetime, count: int | None = None) -> KeyPack:
        """Uninstall a pack, or remove ``count`` unissued CALs from it (R12)."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            self._reclaim(tx, now)
            pack = tx.get_key_pack(key_pack_id)
            if pack is None or pack.removed is not None:
                raise UsageError(f"no key pack {key_pack_id}")
            if not pack.key_pack_type.purchased or pack.total is None:
                raise UsageError(
                    f"key pack {key_pack_id} is the server's {pack.key_pack_type.label} pool"
                )
            total = pack.total
            available = total - pack.issued
            if count is None:
                if pack.issued:
                    raise UsageError(
                        f"key pack {key_pack_id} has {pack.issued} issued licenses; "
                        f"remove only the {available} available ones with --count, or revoke first"
                    )
                pack = dataclasses.replace(pack, removed=now)
                detail = "uninstalled"
            else:
                if not 1 <= count <= available:
                    raise UsageError(
                        f"--count must be between 1 and {available} "
                        f"(the available CALs of key pack {key_pack_id})"
                    )
                pack = dataclasses.replace(pack, total=total - count)
                detail = f"removed {count} CALs"
            tx.update_key_pack(pack)
            self._history(
                tx, HistoryKind.KEYPACK_REMOVED, now, None, detail, key_pack_id=key_pack_id
            )
            return pack

    def list_key_packs(self, now: datetime, *, include_removed: bool = False) -> list[KeyPack]:
        self.reclaim(now)
        with self._store.snapshot() as tx:
            return tx.list_key_packs(include_removed=include_removed)

    def list_licenses(
        self, now: datetime, query: LicenseQuery | None = None
    ) -> list[IssuedLicense]:
        self.reclaim(now)
        with self._store.snapshot() as tx:
            return tx.find_licenses(query or LicenseQuery())

    def get_license(
        self, license_id: int
    ) -> tuple[IssuedLicense, bytes | None, list[HistoryEvent]]:
        with self._store.snapshot() as tx:
            lic = tx.get_license(license_id)
            if lic is None:
                raise UsageError(f"no license {license_id}")
            return (
                lic,
                tx.get_license_blob(license_id),
                tx.list_history(HistoryQuery(license_id=license_id)),
            )

    def history(self, query: HistoryQuery | None = None) -> list[HistoryEvent]:
        with self._store.snapshot() as tx:
            return tx.list_history(query or HistoryQuery())

    def report(self, now: datetime) -> LicenseReport:
        """Summary, per-device and per-user rows as Windows' license report (R76, R77)."""
        now = to_utc(now)
        self.reclaim(now)
        with self._store.snapshot() as tx:
            packs = tx.list_key_packs()
            licenses = tx.find_licenses(LicenseQuery(statuses=_OUTSTANDING))
            return build_report(load_host_config(tx), packs, licenses, now)

    def revoke(self, license_id: int, now: datetime) -> RevokeResult:
        """R49-R51: revoke an active per-device CAL; it is back in the pool at once."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            self._reclaim(tx, now)
            cfg = load_host_config(tx)
            lic = tx.get_license(license_id)
            if lic is None:
                raise UsageError(f"no license {license_id}")
            server = cfg.server_release
            if not server.can_revoke:
                raise UsageError(f"a {server.title} license server cannot revoke CALs (R53)")
            if lic.cal_type is CalType.PER_USER:
                raise UsageError(
                    f"license {license_id} is a per-user CAL; those cannot be revoked (R49)"
                )
            if lic.status is not LicenseStatus.ACTIVE:
                raise UsageError(
                    f"license {license_id} is {lic.status.label}; "
                    "only active per-device CALs can be revoked (R49)"
                )
            pack = tx.get_key_pack(lic.key_pack_id) if lic.key_pack_id is not None else None
            if pack is None or not pack.key_pack_type.purchased:
                raise UsageError(f"license {license_id} is a built-in CAL; it cannot be revoked")
            allowed, revoked_now = self._revocation_quota(tx, lic.product_version, now)
            if len(revoked_now) >= allowed:
                next_on = min(r.expires for r in revoked_now)
                raise RevocationQuotaExceeded(
                    f"revocation quota reached for {lic.product_version} CALs "
                    f"({len(revoked_now)} of {allowed} revoked); "
                    f"next revoke allowed on {_fmt(next_on)} (R50)",
                    0,
                    next_on,
                )
            done = dataclasses.replace(lic, status=LicenseStatus.REVOKED, revoked=now)
            self._retire(tx, done)
            self._history(
                tx, HistoryKind.REVOKED, now, done, f"CAL back in key pack {pack.key_pack_id} (R51)"
            )
            left = allowed - len(revoked_now) - 1
            pending = [r.expires for r in revoked_now] + [done.expires]
            return RevokeResult(done, left, min(pending) if left == 0 else None)

    def _revocation_quota(
        self, tx: StoreTransaction, version: ProductVersion, now: datetime
    ) -> tuple[int, list[IssuedLicense]]:
        installed = sum(
            p.total or 0
            for p in tx.list_key_packs()
            if p.key_pack_type.purchased
            and p.cal_type is CalType.PER_DEVICE
            and p.product_version == version
        )
        allowed = max(1, installed * REVOCATION_SHARE_PERCENT // 100)
        # A revoked CAL counts until its original expiration date (R51); transfers are the
        # Clearinghouse's business and do not count.
        revoked = [
            lic
            for lic in tx.find_licenses(
                LicenseQuery(statuses=(LicenseStatus.REVOKED,), cal_type=CalType.PER_DEVICE)
            )
            if lic.product_version == version and not lic.transferred and lic.expires > now
        ]
        return allowed, revoked

    def transfer(self, license_id: int, now: datetime, *, to: str = "") -> TransferResult:
        """KB 315262 (R54): move a per-device CAL to another device, once.

        The CAL leaves its device and its pack (the old license is revoked, the pack's
        total drops by one) and comes back as a reissued key pack of one CAL - another
        installation (R17) - from which the new device gets it once its temporary
        license bridge (R27) is upgraded. Not subject to the revocation quota.
        """
        now = to_utc(now)
        with self._store.transaction() as tx:
            self._reclaim(tx, now)
            lic = tx.get_license(license_id)
            if lic is None:
                raise UsageError(f"no license {license_id}")
            if lic.cal_type is not CalType.PER_DEVICE or lic.status is not LicenseStatus.ACTIVE:
                raise UsageError(
                    f"license {license_id} is {lic.status.label} {lic.cal_type.label}; "
                    "only active per-device CALs can be transferred (R54)"
                )
            pack = tx.get_key_pack(lic.key_pack_id) if lic.key_pack_id is not None else None
            if pack is None or not pack.key_pack_type.purchased or pack.total is None:
                raise UsageError(
                    f"license {license_id} is a built-in CAL; it needs no transfer (R19, R54)"
                )
            if lic.transferred or pack.transferred_from is not None:
                raise UsageError(f"license {license_id}'s CAL was already transferred once (R54)")
            tx.update_key_pack(
                dataclasses.replace(pack, total=pack.total - 1, issued=pack.issued - 1)
            )
            done = dataclasses.replace(
                lic, status=LicenseStatus.REVOKED, revoked=now, transferred=True
            )
            tx.update_license(done)
            new_pack = KeyPack(
                key_pack_id=tx.next_id("key_pack"),
                product_version=pack.product_version,
                cal_type=pack.cal_type,
                key_pack_type=pack.key_pack_type,
                program=pack.program,
                total=1,
                issued=0,
                installed=now,
                expires=pack.expires,
                reissued=True,
                agreement_number=pack.agreement_number,
                description=f"Reissued CAL of license {license_id} (KB 315262 transfer)",
                transferred_from=license_id,
            )
            tx.insert_key_pack(new_pack)
            target = f" to {to}" if to else ""
            self._history(
                tx,
                HistoryKind.TRANSFERRED,
                now,
                done,
                f"revoked from {lic.machine_name or format_hwid(lic.hwid)}{target}; "
                f"reissued as key pack {new_pack.key_pack_id}",
                key_pack_id=new_pack.key_pack_id,
            )
            self._history(
                tx,
                HistoryKind.KEYPACK_INSTALLED,
                now,
                None,
                f"1 reissued CAL {new_pack.product_version} (transfer of license {license_id})",
                key_pack_id=new_pack.key_pack_id,
            )
            return TransferResult(done, new_pack)

    # =========================================================================================

    @staticmethod
    def _history(
        tx: StoreTransaction,
        kind: HistoryKind,
        at: datetime,
        lic: IssuedLicense | None,
        detail: str,
        *,
        client: ClientIdentity | None = None,
        key_pack_id: int | None = None,
    ) -> None:
        if lic is not None:
            event = HistoryEvent(
                0,
                at,
                kind,
                license_id=lic.license_id,
                key_pack_id=lic.key_pack_id if key_pack_id is None else key_pack_id,
                hwid=lic.hwid,
                machine_name=lic.machine_name,
                user_name=lic.user_name,
                detail=detail,
            )
        elif client is not None:
            event = HistoryEvent(
                0,
                at,
                kind,
                key_pack_id=key_pack_id,
                hwid=client.hwid,
                machine_name=client.machine_name,
                user_name=client.user_name,
                detail=detail,
            )
        else:
            event = HistoryEvent(0, at, kind, key_pack_id=key_pack_id, detail=detail)
        tx.append_history(event)


def _refusal(cfg: HostConfig, reason: str, rule: str) -> Decision:
    """ "No CAL for this computer" in the configured style (R33, R69)."""
    if cfg.refusal_style is RefusalStyle.VALID_CLIENT_THEN_DISCONNECT:
        code, transition = LicensingErrorCode.STATUS_VALID_CLIENT, StateTransition.ST_NO_TRANSITION
    else:
        code, transition = LicensingErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_TOTAL_ABORT
    return Decision(
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
