"""What the license server's policy and its administration share: settings, history,
the return of CALs to their packs, the reclaiming of expired licenses, the grace period.

Both `rdplic.licensing.policy` (what a client gets) and `rdplic.licensing.admin` (key
packs, revoke, transfer, reports) change the store through these, inside one transaction
of their own (architecture invariant 6).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
from datetime import UTC, datetime, timedelta

from rdplic.licensing.hostconfig import GraceEnd, HostConfig
from rdplic.licensing.model import (
    ClientIdentity,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    LicenseStatus,
)
from rdplic.licensing.store import LicenseQuery, StoreError, StoreTransaction

__all__ = [
    "CONFIG_PREFIX",
    "DECIDING_HOST",
    "GRACE_FIRST_PERMANENT",
    "GRACE_LS_CONTACT",
    "GRACE_STARTED",
    "MAX_KEY_PACK_COUNT",
    "OUTSTANDING",
    "PERMANENT_CAL_DAYS",
    "RENEWAL_WINDOW",
    "REVOCATION_SHARE_PERCENT",
    "append_history",
    "fmt",
    "grace_ends",
    "host_config_from_settings",
    "load_host_config",
    "reclaim",
    "retire",
    "save_host_config",
]

PERMANENT_CAL_DAYS = (52, 89)
"""A permanent per-device CAL lasts a random whole number of days in this range (R31)."""
RENEWAL_WINDOW = timedelta(days=7)
"""A CAL presented this close to its expiry is renewed (R32, R39)."""
REVOCATION_SHARE_PERCENT = 20
"""At most 20 % of a version's installed CALs (or 1) may be in the revoked state (R50)."""
MAX_KEY_PACK_COUNT = 1_000_000

CONFIG_PREFIX = "host."
GRACE_STARTED = "grace.started_at"
GRACE_LS_CONTACT = "grace.license_server_contact_at"
GRACE_FIRST_PERMANENT = "grace.first_permanent_cal_at"
OUTSTANDING = (LicenseStatus.TEMPORARY, LicenseStatus.ACTIVE)
DECIDING_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("rdplic_host", default="")
"""The session host (terminal server name) whose decision is running: the server's decider
sets it around each decision, so that every history event the policy records says which
host it came through (history.host) without the policy passing it along; '' for the
administration commands."""


def load_host_config(tx: StoreTransaction) -> HostConfig:
    """The host configuration persisted in the store (defaults where never set)."""
    stored = tx.settings(CONFIG_PREFIX)
    return host_config_from_settings(tuple((k[len(CONFIG_PREFIX) :], v) for k, v in stored.items()))


def host_config_from_settings(settings: tuple[tuple[str, str], ...]) -> HostConfig:
    """The `HostConfig` of the stored ``host.*`` settings (prefix removed).

    :raises StoreError: a stored value that no longer parses
    """
    try:
        return _host_config(settings)
    except ValueError as error:
        raise StoreError(f"stored host configuration is not usable: {error}") from None


@functools.lru_cache(maxsize=16)
def _host_config(settings: tuple[tuple[str, str], ...]) -> HostConfig:
    """`HostConfig.from_settings`, parsed once per distinct set of stored settings (every
    decision reads them; they rarely change, and a HostConfig is immutable)."""
    return HostConfig.from_settings(dict(settings))


def save_host_config(tx: StoreTransaction, config: HostConfig) -> None:
    for key, value in config.to_settings().items():
        tx.set_setting(CONFIG_PREFIX + key, value)


def fmt(moment: datetime) -> str:
    """A moment as messages show it."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def append_history(
    tx: StoreTransaction,
    kind: HistoryKind,
    at: datetime,
    lic: IssuedLicense | None,
    detail: str,
    *,
    client: ClientIdentity | None = None,
    key_pack_id: int | None = None,
    rule: str = "",
    host: str = "",
) -> None:
    """One line of the append-only history (R24), about a license, a client or neither.

    ``rule`` names the rule of docs/license-server-behavior.md that decided the event
    (``R12``), ``host`` the session host it came through (default `DECIDING_HOST`)."""
    host = host or DECIDING_HOST.get()
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
            rule=rule,
            host=host,
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
            rule=rule,
            host=host,
        )
    else:
        event = HistoryEvent(
            0, at, kind, key_pack_id=key_pack_id, detail=detail, rule=rule, host=host
        )
    tx.append_history(event)


def retire(tx: StoreTransaction, lic: IssuedLicense) -> None:
    """Write a license that stopped being outstanding and give its CAL back (R15)."""
    tx.update_license(lic)
    if lic.key_pack_id is not None:
        tx.return_to_key_pack(lic.key_pack_id)


def reclaim(tx: StoreTransaction, now: datetime) -> int:
    """R25: expired licenses leave the outstanding count; CALs go back to their pool."""
    expired = tx.find_licenses(LicenseQuery(statuses=OUTSTANDING, expires_at_or_before=now))
    for lic in expired:
        done = dataclasses.replace(lic, status=LicenseStatus.EXPIRED)
        retire(tx, done)
        append_history(
            tx, HistoryKind.EXPIRED, now, done, f"expired {fmt(lic.expires)}", rule="R25"
        )
        if not lic.temporary and lic.key_pack_id is not None:
            pack = tx.get_key_pack(lic.key_pack_id)
            if pack is not None and pack.key_pack_type.purchased:
                append_history(
                    tx,
                    HistoryKind.RECLAIMED,
                    now,
                    done,
                    f"CAL back in key pack {pack.key_pack_id}",
                    rule="R25",
                )
    return len(expired)


def grace_ends(tx: StoreTransaction, cfg: HostConfig) -> datetime:
    """When the host's grace period ends (or ended), per the emulated release (R44)."""
    started_text = tx.get_setting(GRACE_STARTED)
    if started_text is None:
        return datetime.max.replace(tzinfo=UTC)  # not started: no decision was ever made
    end = datetime.fromisoformat(started_text) + timedelta(days=cfg.grace_days)
    if cfg.grace_ends_early:
        early = {
            GraceEnd.LICENSE_SERVER_CONTACT: GRACE_LS_CONTACT,
            GraceEnd.FIRST_PERMANENT_CAL: GRACE_FIRST_PERMANENT,
        }.get(cfg.release.grace_end)
        marker = tx.get_setting(early) if early else None
        if marker is not None:
            end = min(end, datetime.fromisoformat(marker))
    return end
