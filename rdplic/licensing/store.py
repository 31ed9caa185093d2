"""The store contract: what the license server needs from a database, declared once.

The license server's policy and administration (`rdplic.licensing`) are written against
these protocols; `rdplic.store` implements them (SQLite by default) and imports this
module, never the other way round.

A `LicenseStore` hands out transactions. `LicenseStore.transaction` is a *write*
transaction that is serialised against every other writer (SQLite ``BEGIN IMMEDIATE``),
so that each licensing decision - read the key packs, pick one, take a CAL, sign, record -
is atomic: no key pack is over-issued (architecture invariant 6).
`LicenseStore.snapshot` is a read-only view.

Durability is part of the contract (`Durability`): whether a transaction is durable when
it ends, or only at the store's next `LicenseStore.commit_group`.  Whoever puts a PDU
on the wire that depends on a decision (the network adapter) must not send it before the
decision's change is durable: a license a client received is always in the store.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from rdplic.errors import RdplicError
from rdplic.licensing.model import (
    CalType,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    LicenseStatus,
)

__all__ = [
    "CLOCK_OFFSET_SETTING",
    "Durability",
    "HistoryQuery",
    "LicenseQuery",
    "LicenseStore",
    "StoreError",
    "StoreRetry",
    "StoreTransaction",
    "read_clock_offset",
]

CLOCK_OFFSET_SETTING = "clock.offset_seconds"
"""Setting holding the administrator's clock offset (``rdplic clock advance``)."""


class StoreError(RdplicError):
    """The store cannot be used (newer schema, corrupt file, unwritable directory)."""


class StoreRetry(StoreError):
    """The database aborted a transaction to keep transactions serialisable (PostgreSQL's
    serialization failure or deadlock): nothing of it was kept, and running the whole
    decision again is safe.  Deciders retry it; a client never sees it."""


class Durability(enum.Enum):
    """When a committed transaction's changes survive a crash."""

    AT_COMMIT = "at-commit"
    """Durable when `LicenseStore.transaction` returns (each commit is synced)."""
    GROUPED = "grouped"
    """Durable only once `LicenseStore.commit_group` has returned: transactions are
    savepoints of one open write transaction, so that many decisions share one commit
    and one fsync (group commit).  `LicenseStore.uncommitted` says whether anything
    waits for it."""


@dataclass(frozen=True, slots=True)
class LicenseQuery:
    """Filters for `StoreTransaction.find_licenses`; every given filter must match."""

    hwid: bytes | None = None
    machine_name: str | None = None
    user_name: str | None = None
    statuses: Collection[LicenseStatus] | None = None
    cal_type: CalType | None = None
    key_pack_id: int | None = None
    expires_at_or_before: datetime | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Filters for `StoreTransaction.list_history`; every given filter must match."""

    hwid: bytes | None = None
    machine_name: str | None = None
    user_name: str | None = None
    license_id: int | None = None
    key_pack_id: int | None = None
    kinds: Collection[HistoryKind] | None = None
    limit: int | None = None


class StoreTransaction(Protocol):
    """Operations inside one transaction. Nothing is visible to others before commit."""

    # ----- ids and settings

    def next_id(self, counter: str) -> int:
        """The next value of a monotonically increasing counter ("license", "key_pack")."""
        ...

    def get_setting(self, name: str) -> str | None: ...

    def set_setting(self, name: str, value: str) -> None: ...

    def delete_setting(self, name: str) -> None: ...

    def settings(self, prefix: str = "") -> dict[str, str]:
        """All settings whose name starts with ``prefix`` (prefix included in the keys)."""
        ...

    # ----- key packs

    def insert_key_pack(self, pack: KeyPack) -> None: ...

    def update_key_pack(self, pack: KeyPack) -> None:
        """Rewrite a pack's administrative fields (total, expiry, removal); ``issued`` too."""
        ...

    def get_key_pack(self, key_pack_id: int) -> KeyPack | None: ...

    def list_key_packs(self, *, include_removed: bool = False) -> list[KeyPack]:
        """In installation order (key pack id)."""
        ...

    def take_from_key_pack(self, key_pack_id: int) -> bool:
        """IssuedLicenses += 1 if the pack has one available (always for unlimited packs).

        The check and the increment are one statement, and the schema forbids
        ``issued > total``: a second line of defence against over-issue (R16).
        """
        ...

    def return_to_key_pack(self, key_pack_id: int) -> None:
        """IssuedLicenses -= 1 (revoke, reclaim, upgrade of a temporary license; R15)."""
        ...

    # ----- issued licenses

    def insert_license(self, issued: IssuedLicense, blob: bytes | None) -> None: ...

    def update_license(self, issued: IssuedLicense, blob: bytes | None = None) -> None:
        """Rewrite a license record; ``blob`` None keeps the stored blob."""
        ...

    def get_license(self, license_id: int) -> IssuedLicense | None: ...

    def get_license_blob(self, license_id: int) -> bytes | None: ...

    def find_licenses(self, query: LicenseQuery) -> list[IssuedLicense]:
        """Matching licenses in license id order."""
        ...

    # ----- history (append-only)

    def append_history(self, event: HistoryEvent) -> int:
        """Record an event; the store assigns and returns its id (``event.event_id`` ignored)."""
        ...

    def list_history(self, query: HistoryQuery) -> list[HistoryEvent]:
        """Matching events in the order they were recorded."""
        ...


class LicenseStore(Protocol):
    """A database of key packs, issued licenses, history and settings."""

    @property
    def durability(self) -> Durability:
        """When a transaction's changes become durable (see `Durability`)."""
        ...

    @property
    def uncommitted(self) -> bool:
        """Changes that are not durable yet wait for `commit_group` (GROUPED stores; always
        False for AT_COMMIT ones)."""
        ...

    def commit_group(self) -> None:
        """Make every change so far durable (one commit; nothing to do for AT_COMMIT).

        :raises StoreError: the commit failed; the changes since the last one are lost
        """
        ...

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A write transaction, serialised against all other writers; commits on success."""
        ...

    def snapshot(self) -> AbstractContextManager[StoreTransaction]:
        """A read-only transaction giving a consistent view."""
        ...

    def schema_version(self) -> int: ...

    def settings_token(self) -> Hashable | None:
        """A value that changes whenever the stored settings may have changed, or None when
        the store cannot tell cheaply (the license service then re-reads them every time)."""
        ...

    def check_integrity(self) -> list[str]:
        """Problems found (empty when consistent): counts match rows, blobs and history exist."""
        ...

    def close(self) -> None: ...


def read_clock_offset(store: LicenseStore) -> timedelta:
    """The administrator's clock offset persisted in the store (0 when never set)."""
    with store.snapshot() as tx:
        value = tx.get_setting(CLOCK_OFFSET_SETTING)
    return timedelta(seconds=float(value)) if value else timedelta(0)
