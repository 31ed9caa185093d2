"""Backing up and moving a license server's database (R80-R83): export and import.

`export_store` writes the whole license database - key packs, issued licenses with their
license blobs, the history, every setting (host configuration, grace-period moments, the
administrator's clock offset) and the license server's identity - as one JSON document;
`import_store` loads such a document into an empty store of either kind.  Windows moves a
license server by backing up its database and restoring it on the new server together
with the server's identity (R80-R83), so that the CALs it issued stay valid; here the
same export moves a deployment from SQLite to PostgreSQL and back, and exporting the
imported store gives the same bytes again (the tests compare them).

The document is the tables' rows as stored (column name -> value; blobs as hex), ordered
by their keys, with sorted JSON keys and no timestamp of its own: identical stores give
identical exports.  It holds the license server's private key: it is written 0600 by the
command (`rdplic.cli.store_cmd`) and must be kept like the state directory.

The ``settings`` counter of both stores (their settings-change token) is the
store's own bookkeeping, not licensing data: it is neither exported nor imported.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from rdplic.crypto import LicenseServerIdentity
from rdplic.licensing.store import LicenseStore, StoreError, StoreTransaction
from rdplic.store.deployment import LICENSE_SERVER_SETTING, license_server_text
from rdplic.store.migrations import latest_version

__all__ = ["EXPORT_FORMAT", "export_store", "import_store"]

EXPORT_FORMAT = "rdplic-license-database"
_VERSION = 1
_TABLES: tuple[tuple[str, str], ...] = (
    ("key_packs", "key_pack_id"),
    ("licenses", "license_id"),
    ("history", "event_id"),
)
"""The tables, in the order foreign keys need on import, with the key they are sorted by."""
_BLOBS = {"license_blob"}
_INTERNAL_COUNTERS = {"settings"}


def _columns(tx: StoreTransaction, table: str) -> list[str]:
    conn: Any = tx._conn  # type: ignore[attr-defined]  # the stores' own transactions
    cursor = conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cursor.description]


def export_store(store: LicenseStore, license_server: LicenseServerIdentity | None = None) -> bytes:
    """The whole database as one JSON document (module docstring).  ``license_server`` is
    the state directory's, added when the store does not hold one itself (SQLite)."""
    document: dict[str, Any] = {"format": EXPORT_FORMAT, "version": _VERSION}
    with store.snapshot() as tx:
        conn: Any = tx._conn  # type: ignore[attr-defined]
        document["schema"] = int(
            conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        )
        document["counters"] = {
            str(name): int(value)
            for name, value in conn.execute("SELECT name, value FROM counters ORDER BY name")
            if name not in _INTERNAL_COUNTERS
        }
        settings = tx.settings()
        if LICENSE_SERVER_SETTING not in settings and license_server is not None:
            settings[LICENSE_SERVER_SETTING] = license_server_text(license_server)
        document["settings"] = dict(sorted(settings.items()))
        for table, key in _TABLES:
            columns = _columns(tx, table)
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")
            document[table] = [
                {c: _out(c, v) for c, v in zip(columns, row, strict=True)} for row in rows
            ]
    return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode("utf-8")


def _out(column: str, value: Any) -> Any:
    if column in _BLOBS and value is not None:
        return bytes(value).hex()
    return value


def import_store(store: LicenseStore, data: bytes) -> dict[str, int]:
    """Load an export into ``store``, which must hold no key pack, license, history event
    or setting yet; all of it in one transaction.  Returns the rows loaded per table.

    :raises StoreError: the document is not an export of this schema, or the store is
        not empty (nothing is changed)
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise StoreError(f"not an rdplic export: {error}") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise StoreError("not an rdplic export (no 'format': 'rdplic-license-database')")
    if document.get("version") != _VERSION or document.get("schema") != latest_version():
        raise StoreError(
            f"export of format {document.get('version')} schema {document.get('schema')};"
            f" this rdplic reads format {_VERSION} schema {latest_version()}"
        )
    counts: dict[str, int] = {}
    try:
        with store.transaction() as tx:
            conn: Any = tx._conn  # type: ignore[attr-defined]
            for table, _ in _TABLES:
                if conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
                    raise StoreError(f"the store is not empty ({table}): import needs a new one")
            if tx.settings():
                raise StoreError("the store is not empty (settings): import needs a new one")
            for name, value in dict(document["settings"]).items():
                tx.set_setting(str(name), str(value))
            for table, _ in _TABLES:
                columns = _columns(tx, table)
                rows = list(document[table])
                for row in rows:
                    if set(row) != set(columns):
                        raise StoreError(f"a {table} row has columns {sorted(row)}")
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(columns)})"
                        f" VALUES ({', '.join('?' * len(columns))})",
                        [_in(c, row[c]) for c in columns],
                    )
                counts[table] = len(rows)
            for name, value in dict(document["counters"]).items():
                if name in _INTERNAL_COUNTERS:
                    continue
                updated = conn.execute(
                    "UPDATE counters SET value = ? WHERE name = ?", (int(value), str(name))
                )
                if updated.rowcount == 0:
                    conn.execute(
                        "INSERT INTO counters (name, value) VALUES (?, ?)", (str(name), int(value))
                    )
            counts["settings"] = len(document["settings"])
    except (KeyError, TypeError, ValueError, AttributeError, sqlite3.Error) as error:
        raise StoreError(f"malformed rdplic export: {error!r}") from None
    store.commit_group()
    return counts


def _in(column: str, value: Any) -> Any:
    if column in _BLOBS and value is not None:
        return bytes.fromhex(value)
    return value
