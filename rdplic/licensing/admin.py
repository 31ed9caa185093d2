"""Administration of the license server: key packs, revoke, transfer, reports, the
host's configuration and the server's clock, as RD Licensing Manager and its WMI classes
offer them (docs/license-server-behavior.md).

`LicenseAdmin` works on the same store as `rdplic.licensing.policy.LicensePolicy`, so
``rdplic`` commands and ``rdplic serve`` always agree.  Each change is one transaction;
a refused change (`UsageError`) leaves the store as it was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from rdplic.errors import UsageError
from rdplic.licensing.clock import format_duration, parse_duration
from rdplic.licensing.hostconfig import HostConfig
from rdplic.licensing.model import (
    CalType,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    LicensingProgram,
    ProductVersion,
    format_hwid,
    to_utc,
)
from rdplic.licensing.records import (
    MAX_KEY_PACK_COUNT,
    OUTSTANDING,
    REVOCATION_SHARE_PERCENT,
    append_history,
    fmt,
    grace_ends,
    load_host_config,
    reclaim,
    retire,
    save_host_config,
)
from rdplic.licensing.report import LicenseReport, build_report
from rdplic.licensing.store import (
    CLOCK_OFFSET_SETTING,
    HistoryQuery,
    LicenseQuery,
    LicenseStore,
    StoreTransaction,
)

__all__ = ["LicenseAdmin", "RevocationQuotaExceeded", "RevokeResult", "TransferResult"]


MAX_CLOCK_OFFSET = timedelta(days=100 * 365)
"""Beyond a century the dates stop meaning anything (and datetime arithmetic may overflow)."""


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


class LicenseAdmin:
    """What an administrator does to a license server (and what RD Licensing Manager shows)."""

    def __init__(self, store: LicenseStore) -> None:
        self._store = store

    @property
    def store(self) -> LicenseStore:
        return self._store

    def config(self) -> HostConfig:
        """The host configuration as stored now."""
        with self._store.snapshot() as tx:
            return load_host_config(tx)

    def grace_ends(self) -> datetime:
        """When the host's grace period ends (or ended), per the emulated release (R44)."""
        with self._store.snapshot() as tx:
            return grace_ends(tx, load_host_config(tx))

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
            append_history(
                tx,
                HistoryKind.CONFIG_CHANGED,
                now,
                None,
                f"{name} = {cfg.to_settings()[name]}",
                rule="R3",
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
            append_history(tx, HistoryKind.CLOCK_CHANGED, to_utc(now), None, detail)

    def advance_clock(self, duration: str, wall: datetime) -> timedelta:
        """``rdplic clock advance DURATION`` (``91d``, ``12h``, ``1d12h``): the clock only moves
        forward, by at most a century in all; ``wall`` is real time.  Returns the new offset."""
        try:
            delta = parse_duration(duration)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if delta <= timedelta(0):
            raise UsageError("the clock only moves forward: give a positive duration")
        offset = self.clock_offset() + delta
        if offset > MAX_CLOCK_OFFSET:
            raise UsageError("the clock offset would exceed 100 years")
        self.set_clock_offset(offset, to_utc(wall) + offset)
        return offset

    def reclaim(self, now: datetime) -> int:
        """Reclaim expired licenses now (admin listings do this first, R25)."""
        with self._store.transaction() as tx:
            return reclaim(tx, to_utc(now))

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
            raise UsageError(f"key pack expiry {fmt(to_utc(expires))} is not in the future")
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
            detail = f"{count} {cal_type.label} {_cals(count)} {version} ({program.value}{note})"
            append_history(
                tx,
                HistoryKind.KEYPACK_INSTALLED,
                now,
                None,
                detail,
                key_pack_id=pack.key_pack_id,
                rule="R17" if reissued else "R12",
            )
            return pack

    def remove_key_pack(self, key_pack_id: int, now: datetime, count: int | None = None) -> KeyPack:
        """Uninstall a pack, or remove ``count`` unissued CALs from it (R12)."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            reclaim(tx, now)
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
                detail = f"removed {count} {_cals(count)}"
            tx.update_key_pack(pack)
            append_history(
                tx,
                HistoryKind.KEYPACK_REMOVED,
                now,
                None,
                detail,
                key_pack_id=key_pack_id,
                rule="R12",
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
            licenses = tx.find_licenses(LicenseQuery(statuses=OUTSTANDING))
            return build_report(load_host_config(tx), packs, licenses, now)

    def revoke(self, license_id: int, now: datetime) -> RevokeResult:
        """R49-R51: revoke an active per-device CAL; it is back in the pool at once."""
        now = to_utc(now)
        with self._store.transaction() as tx:
            reclaim(tx, now)
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
                    f"next revoke allowed on {fmt(next_on)} (R50)",
                    0,
                    next_on,
                )
            done = dataclasses.replace(lic, status=LicenseStatus.REVOKED, revoked=now)
            retire(tx, done)
            append_history(
                tx,
                HistoryKind.REVOKED,
                now,
                done,
                f"CAL back in key pack {pack.key_pack_id} (R51)",
                rule="R51",
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
            reclaim(tx, now)
            lic = tx.get_license(license_id)
            if lic is None:
                raise UsageError(f"no license {license_id}")
            if lic.cal_type is not CalType.PER_DEVICE or lic.status is not LicenseStatus.ACTIVE:
                raise UsageError(
                    f"license {license_id} ({lic.cal_type.label}) is {lic.status.label}; "
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
            append_history(
                tx,
                HistoryKind.TRANSFERRED,
                now,
                done,
                f"revoked from {lic.machine_name or format_hwid(lic.hwid)}{target}; "
                f"reissued as key pack {new_pack.key_pack_id}",
                key_pack_id=new_pack.key_pack_id,
                rule="R54",
            )
            append_history(
                tx,
                HistoryKind.KEYPACK_INSTALLED,
                now,
                None,
                f"1 reissued CAL {new_pack.product_version} (transfer of license {license_id})",
                key_pack_id=new_pack.key_pack_id,
                rule="R17",
            )
            return TransferResult(done, new_pack)

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
            append_history(
                tx, HistoryKind.VALIDATED, now, lic, "client logged on (R28)", rule="R28"
            )
            return lic


def _cals(count: int) -> str:
    """ "CAL" or "CALs" after a count (history details are read by people)."""
    return "CAL" if count == 1 else "CALs"
