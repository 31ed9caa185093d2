"""Where the license server keeps its key packs, issued licenses and history.

`open_store` opens the embedded SQLite store of a state directory (the same one
``rdplic serve`` and every administration command use); `rdplic.store.base` holds
the interface other backends implement.
"""

from __future__ import annotations

import os

# The licensing package first: the store persists its model, and its service imports the store
# interface, so importing rdplic.store on its own must not enter that cycle from this side.
import rdplic.licensing  # noqa: F401
from rdplic.store.base import (
    CLOCK_OFFSET_SETTING,
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
    "HistoryQuery",
    "LicenseQuery",
    "LicenseStore",
    "SqliteStore",
    "StoreError",
    "StoreTransaction",
    "open_store",
    "read_clock_offset",
]


def open_store(state_dir: str | os.PathLike[str], *, defer_commits: bool = False) -> SqliteStore:
    """The store of a state directory (created, and migrated to the current schema);
    ``defer_commits`` for group commit (`SqliteStore`)."""
    return SqliteStore.in_state_dir(state_dir, defer_commits=defer_commits)
