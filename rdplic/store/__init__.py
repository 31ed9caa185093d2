"""Where the license server keeps its key packs, issued licenses and history.

`open_store` opens the embedded SQLite store of a state directory (the same one
``rdplic serve`` and every administration command use), or with ``db`` a PostgreSQL
database shared by several processes and hosts (`rdplic.store.postgres`).  The contract every store
implements is the license server's own, `rdplic.licensing.store`, re-exported here.
"""

from __future__ import annotations

import os

from rdplic.licensing.store import (
    CLOCK_OFFSET_SETTING,
    Durability,
    HistoryQuery,
    LicenseQuery,
    LicenseStore,
    StoreError,
    StoreTransaction,
    read_clock_offset,
)
from rdplic.store.sqlite import STORE_FILENAME, SqliteStore

__all__ = [
    "CLOCK_OFFSET_SETTING",
    "STORE_FILENAME",
    "Durability",
    "HistoryQuery",
    "LicenseQuery",
    "LicenseStore",
    "SqliteStore",
    "StoreError",
    "StoreTransaction",
    "open_store",
    "read_clock_offset",
]


def open_store(
    state_dir: str | os.PathLike[str], *, defer_commits: bool = False, db: str | None = None
) -> LicenseStore:
    """The store of a state directory (created, and migrated to the current schema);
    ``defer_commits`` for group commit (`SqliteStore`).  ``db`` (``--db``) names a shared
    PostgreSQL database (``postgresql://...``, `rdplic.store.postgres`) instead; None or
    empty keeps the state directory's SQLite file."""
    if db:
        from rdplic.store.postgres import PostgresStore, is_postgres_url

        if not is_postgres_url(db):
            raise StoreError(f"--db must be a postgresql:// URL, got {db.split(':')[0]!r}")
        return PostgresStore(db)
    return SqliteStore.in_state_dir(state_dir, defer_commits=defer_commits)
