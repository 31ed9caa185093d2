"""The embedded store: one SQLite file in the state directory.

* WAL journal, ``synchronous=FULL``, foreign keys on.
* Every write transaction starts with ``BEGIN IMMEDIATE``: it takes the database's
  write lock before reading, so two issuers (threads or processes) can never both see
  the last CAL of a pack as available. Readers are never blocked (WAL).
* One connection per thread and process (sqlite3 connections are not shared).

SQL here is portable apart from the ``?`` placeholders and the PRAGMAs, which are
SQLite's; `rdplic.store.migrations` holds the schema and the dialect differences.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.files import PRIVATE_MODE, make_private
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
)
from rdplic.licensing.store import Durability, HistoryQuery, LicenseQuery, StoreError
from rdplic.store.migrations import MIGRATIONS, SCHEMA_VERSION_DDL, SQLITE, latest_version

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_INSERT",
    "SETTINGS_COUNTER",
    "STORE_FILENAME",
    "LockWaits",
    "SqliteStore",
    "SqliteTransaction",
    "format_ts",
    "history_row",
    "parse_ts",
]

STORE_FILENAME = "licenses.sqlite3"
"""Name of the database file inside the state directory."""

_CONNECTION_SERIALS = itertools.count(1)
"""Numbers the connections, so that a change token never matches another connection's."""
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""Whether this SQLite has UPDATE ... RETURNING."""
SETTINGS_COUNTER = "settings"
"""Counter bumped by every settings write, in any process: the settings token."""
_BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another writer's transaction (decisions take milliseconds)."""


def format_ts(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime; the text is the same (a test says so).
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


HISTORY_COLUMNS = (
    "event_id, at, kind, license_id, key_pack_id, hwid, machine_name, user_name, detail, rule, host"
)
"""The history table's columns, in `history_row`'s order after event_id."""
HISTORY_INSERT = f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES ({', '.join('?' * 11)})"
"""One history row, its event_id first then `history_row` (both stores)."""


def history_row(event: HistoryEvent) -> tuple[Any, ...]:
    """The history table's columns after event_id, in its order (at, kind, license_id,
    key_pack_id, hwid, machine_name, user_name, detail, rule, host): one list for both
    stores' INSERTs."""
    return (
        format_ts(event.at),
        event.kind.value,
        event.license_id,
        event.key_pack_id,
        event.hwid.hex(),
        event.machine_name,
        event.user_name,
        event.detail,
        event.rule,
        event.host,
    )


def parse_ts(text: str) -> datetime:
    """The inverse of `format_ts`, and nothing else (fromisoformat alone takes more)."""
    if len(text) != 27 or text[-1] != "Z" or text[10] != "T":
        raise ValueError(f"not a store timestamp: {text!r}")
    return datetime.fromisoformat(text)


@functools.lru_cache(maxsize=64)
def _product_version(text: str) -> ProductVersion:
    """A stored product version ("10.1"), parsed once: every license and key pack row
    carries one of a handful, and a ProductVersion is immutable."""
    return ProductVersion.parse(text)


def _opt_ts(text: str | None) -> datetime | None:
    return None if text is None else parse_ts(text)


def _fmt_opt(moment: datetime | None) -> str | None:
    return None if moment is None else format_ts(moment)


class SqliteTransaction:
    """`rdplic.licensing.store.StoreTransaction` over one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.wrote_settings = False
        """Whether a setting was written (`SqliteStore.settings_token` counts those commits)."""

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # ----- ids and settings

    def next_id(self, counter: str) -> int:
        if _RETURNING:  # one statement instead of two (SQLite 3.35 and later)
            value = self._one(
                "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (counter,)
            )
            if value is not None:
                return int(value)
        else:
            cur = self._conn.execute(
                "UPDATE counters SET value = value + 1 WHERE name = ?", (counter,)
            )
            if cur.rowcount == 1:
                return int(self._one("SELECT value FROM counters WHERE name = ?", (counter,)))
        self._conn.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (counter,))
        return 1

    def get_setting(self, name: str) -> str | None:
        value = self._one("SELECT value FROM settings WHERE name = ?", (name,))
        return None if value is None else str(value)

    def set_setting(self, name: str, value: str) -> None:
        """Also bumps the ``settings`` counter, the stores' settings token across processes
        (`SqliteStore.settings_token`, `rdplic.store.postgres`)."""
        self.wrote_settings = True
        cur = self._conn.execute("UPDATE settings SET value = ? WHERE name = ?", (value, name))
        if cur.rowcount == 0:
            self._conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (name, value))
        self.next_id(SETTINGS_COUNTER)

    def delete_setting(self, name: str) -> None:
        self.wrote_settings = True
        self._conn.execute("DELETE FROM settings WHERE name = ?", (name,))
        self.next_id(SETTINGS_COUNTER)

    def settings(self, prefix: str = "") -> dict[str, str]:
        rows = self._conn.execute(
            "SELECT name, value FROM settings WHERE substr(name, 1, ?) = ? ORDER BY name",
            (len(prefix), prefix),
        )
        return {str(n): str(v) for n, v in rows}

    # ----- key packs

    _PACK_COLUMNS = (
        "key_pack_id, product_version, cal_type, key_pack_type, program, total_licenses,"
        " issued_licenses, installed_at, expires_at, reissued, agreement_number, description,"
        " transferred_from, removed_at"
    )

    @staticmethod
    def _pack_row(pack: KeyPack) -> tuple[Any, ...]:
        return (
            pack.key_pack_id,
            str(pack.product_version),
            int(pack.cal_type),
            int(pack.key_pack_type),
            pack.program.value,
            pack.total,
            pack.issued,
            format_ts(pack.installed),
            _fmt_opt(pack.expires),
            int(pack.reissued),
            pack.agreement_number,
            pack.description,
            pack.transferred_from,
            _fmt_opt(pack.removed),
        )

    @staticmethod
    def _pack(row: Sequence[Any]) -> KeyPack:
        return KeyPack(
            key_pack_id=int(row[0]),
            product_version=_product_version(row[1]),
            cal_type=CalType(row[2]),
            key_pack_type=KeyPackType(row[3]),
            program=LicensingProgram(row[4]),
            total=None if row[5] is None else int(row[5]),
            issued=int(row[6]),
            installed=parse_ts(row[7]),
            expires=_opt_ts(row[8]),
            reissued=bool(row[9]),
            agreement_number=str(row[10]),
            description=str(row[11]),
            transferred_from=None if row[12] is None else int(row[12]),
            removed=_opt_ts(row[13]),
        )

    def insert_key_pack(self, pack: KeyPack) -> None:
        self._conn.execute(
            f"INSERT INTO key_packs ({self._PACK_COLUMNS}) VALUES ({', '.join('?' * 14)})",
            self._pack_row(pack),
        )

    def update_key_pack(self, pack: KeyPack) -> None:
        row = self._pack_row(pack)
        names = [c.strip() for c in self._PACK_COLUMNS.split(",")]
        assignments = ", ".join(f"{n} = ?" for n in names[1:])
        cur = self._conn.execute(
            f"UPDATE key_packs SET {assignments} WHERE key_pack_id = ?", (*row[1:], row[0])
        )
        if cur.rowcount != 1:
            raise StoreError(f"no key pack {pack.key_pack_id}")

    def get_key_pack(self, key_pack_id: int) -> KeyPack | None:
        row = self._conn.execute(
            f"SELECT {self._PACK_COLUMNS} FROM key_packs WHERE key_pack_id = ?", (key_pack_id,)
        ).fetchone()
        return None if row is None else self._pack(row)

    def list_key_packs(self, *, include_removed: bool = False) -> list[KeyPack]:
        where = "" if include_removed else "WHERE removed_at IS NULL"
        rows = self._conn.execute(
            f"SELECT {self._PACK_COLUMNS} FROM key_packs {where} ORDER BY key_pack_id"
        )
        return [self._pack(r) for r in rows]

    def take_from_key_pack(self, key_pack_id: int) -> bool:
        cur = self._conn.execute(
            "UPDATE key_packs SET issued_licenses = issued_licenses + 1 WHERE key_pack_id = ?"
            " AND (total_licenses IS NULL OR issued_licenses < total_licenses)",
            (key_pack_id,),
        )
        return cur.rowcount == 1

    def return_to_key_pack(self, key_pack_id: int) -> None:
        cur = self._conn.execute(
            "UPDATE key_packs SET issued_licenses = issued_licenses - 1"
            " WHERE key_pack_id = ? AND issued_licenses > 0",
            (key_pack_id,),
        )
        if cur.rowcount != 1:
            raise StoreError(f"key pack {key_pack_id} has no issued license to return")

    # ----- issued licenses

    _LICENSE_COLUMNS = (
        "license_id, key_pack_id, cal_type, hwid, platform_id, machine_name, user_name,"
        " product_version, status, temporary, validated, issued_at, expires_at, revoked_at,"
        " renewed_at, upgraded_to, transferred"
    )

    @staticmethod
    def _license_row(lic: IssuedLicense) -> tuple[Any, ...]:
        return (
            lic.license_id,
            lic.key_pack_id,
            int(lic.cal_type),
            lic.hwid.hex(),
            lic.platform_id,
            lic.machine_name,
            lic.user_name,
            str(lic.product_version),
            int(lic.status),
            int(lic.temporary),
            int(lic.validated),
            format_ts(lic.issued),
            format_ts(lic.expires),
            _fmt_opt(lic.revoked),
            _fmt_opt(lic.renewed),
            lic.upgraded_to,
            int(lic.transferred),
        )

    @staticmethod
    def _license(row: Sequence[Any]) -> IssuedLicense:
        return IssuedLicense(
            license_id=int(row[0]),
            key_pack_id=None if row[1] is None else int(row[1]),
            cal_type=CalType(row[2]),
            hwid=bytes.fromhex(row[3]),
            platform_id=int(row[4]),
            machine_name=str(row[5]),
            user_name=str(row[6]),
            product_version=_product_version(row[7]),
            status=LicenseStatus(row[8]),
            temporary=bool(row[9]),
            validated=bool(row[10]),
            issued=parse_ts(row[11]),
            expires=parse_ts(row[12]),
            revoked=_opt_ts(row[13]),
            renewed=_opt_ts(row[14]),
            upgraded_to=None if row[15] is None else int(row[15]),
            transferred=bool(row[16]),
        )

    def insert_license(self, issued: IssuedLicense, blob: bytes | None) -> None:
        self._conn.execute(
            f"INSERT INTO licenses ({self._LICENSE_COLUMNS}, license_blob)"
            f" VALUES ({', '.join('?' * 18)})",
            (*self._license_row(issued), blob),
        )

    def update_license(self, issued: IssuedLicense, blob: bytes | None = None) -> None:
        row = self._license_row(issued)
        names = [c.strip() for c in self._LICENSE_COLUMNS.split(",")]
        assignments = ", ".join(f"{n} = ?" for n in names[1:])
        params: list[Any] = list(row[1:])
        if blob is not None:
            assignments += ", license_blob = ?"
            params.append(blob)
        cur = self._conn.execute(
            f"UPDATE licenses SET {assignments} WHERE license_id = ?", (*params, row[0])
        )
        if cur.rowcount != 1:
            raise StoreError(f"no license {issued.license_id}")

    def get_license(self, license_id: int) -> IssuedLicense | None:
        row = self._conn.execute(
            f"SELECT {self._LICENSE_COLUMNS} FROM licenses WHERE license_id = ?", (license_id,)
        ).fetchone()
        return None if row is None else self._license(row)

    def get_license_blob(self, license_id: int) -> bytes | None:
        value = self._one("SELECT license_blob FROM licenses WHERE license_id = ?", (license_id,))
        return None if value is None else bytes(value)

    def find_licenses(self, query: LicenseQuery) -> list[IssuedLicense]:
        where, params = _client_filters(query)
        if query.statuses is not None:
            statuses = [int(s) for s in query.statuses]
            if not statuses:
                return []
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if query.cal_type is not None:
            where.append("cal_type = ?")
            params.append(int(query.cal_type))
        if query.key_pack_id is not None:
            where.append("key_pack_id = ?")
            params.append(query.key_pack_id)
        if query.expires_at_or_before is not None:
            where.append("expires_at <= ?")
            params.append(format_ts(query.expires_at_or_before))
        sql = f"SELECT {self._LICENSE_COLUMNS} FROM licenses"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY license_id"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [self._license(r) for r in self._conn.execute(sql, params)]

    # ----- history

    def append_history(self, event: HistoryEvent) -> int:
        event_id = self.next_id("history")
        self._conn.execute(
            HISTORY_INSERT,
            (event_id, *history_row(event)),
        )
        return event_id

    def list_history(self, query: HistoryQuery) -> list[HistoryEvent]:
        where, params = _client_filters(query)
        if query.license_id is not None:
            where.append("license_id = ?")
            params.append(query.license_id)
        if query.key_pack_id is not None:
            where.append("key_pack_id = ?")
            params.append(query.key_pack_id)
        if query.kinds is not None:
            kinds = [k.value for k in query.kinds]
            if not kinds:
                return []
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        sql = (
            "SELECT event_id, at, kind, license_id, key_pack_id, hwid, machine_name,"
            " user_name, detail, rule, host FROM history"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY event_id"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [
            HistoryEvent(
                event_id=int(r[0]),
                at=parse_ts(r[1]),
                kind=HistoryKind(r[2]),
                license_id=None if r[3] is None else int(r[3]),
                key_pack_id=None if r[4] is None else int(r[4]),
                hwid=bytes.fromhex(r[5]),
                machine_name=str(r[6]),
                user_name=str(r[7]),
                detail=str(r[8]),
                rule=str(r[9]),
                host=str(r[10]),
            )
            for r in self._conn.execute(sql, params)
        ]

    def licensing_problems(self) -> list[str]:
        """What `check_integrity` finds wrong in the licensing tables, in SQL both stores
        speak: key pack counts against outstanding licenses, over-issue, missing blobs and
        'issued' events, counters behind their tables."""
        problems: list[str] = []
        conn = self._conn
        outstanding = (int(LicenseStatus.TEMPORARY), int(LicenseStatus.ACTIVE))
        rows = conn.execute(
            "SELECT k.key_pack_id, k.issued_licenses, k.total_licenses,"
            " (SELECT count(*) FROM licenses l WHERE l.key_pack_id = k.key_pack_id"
            "  AND l.status IN (?, ?)) FROM key_packs k",
            outstanding,
        )
        for pack_id, issued, total, counted in rows:
            if issued != counted:
                problems.append(
                    f"key pack {pack_id}: issued {issued} but {counted} outstanding licenses"
                )
            if total is not None and issued > total:
                problems.append(f"key pack {pack_id}: over-issued ({issued} of {total})")
        # A license that went to a client has its blob; only per-user CALs recorded
        # against a user (never sent, R58) have none.
        rows = conn.execute(
            "SELECT l.license_id FROM licenses l LEFT JOIN key_packs k"
            " ON k.key_pack_id = l.key_pack_id WHERE l.license_blob IS NULL"
            " AND NOT (l.cal_type = ? AND (k.key_pack_type IS NULL OR k.key_pack_type <> ?))",
            (int(CalType.PER_USER), int(KeyPackType.TEMPORARY)),
        )
        problems.extend(f"license {lid}: no license blob" for (lid,) in rows)
        rows = conn.execute(
            "SELECT l.license_id FROM licenses l WHERE NOT EXISTS (SELECT 1 FROM history h"
            " WHERE h.license_id = l.license_id AND h.kind = ?)",
            (HistoryKind.ISSUED.value,),
        )
        problems.extend(f"license {lid}: no 'issued' history event" for (lid,) in rows)
        for counter, table, column in (
            ("license", "licenses", "license_id"),
            ("key_pack", "key_packs", "key_pack_id"),
            ("history", "history", "event_id"),
        ):
            value = self._one("SELECT value FROM counters WHERE name = ?", (counter,))
            highest = self._one(f"SELECT max({column}) FROM {table}")
            if highest is not None and (value is None or int(value) < int(highest)):
                problems.append(f"counter {counter} ({value}) behind {table} ({highest})")
        return problems


class SqliteStore:
    """`rdplic.licensing.store.LicenseStore` in one SQLite file (WAL).

    Each transaction is committed (and fsynced: ``synchronous = FULL``) as it ends,
    unless the store defers commits (``defer_commits``, for ``rdplic serve``): then a
    transaction is a savepoint inside one write transaction that stays open until
    `commit_group`, so that the decisions of one reactor turn share one commit and
    one fsync (group commit; `Durability.GROUPED`).  Whoever defers must not let anything
    that depends on a deferred transaction leave the process before `commit_group`
    returns: the server hands a decision to its connection only then
    (`rdplic.net.decider`), so a license a client received is always in the store.  A
    transaction that changed nothing ends at once when nothing else is pending.
    """

    def __init__(self, path: str | os.PathLike[str], *, defer_commits: bool = False) -> None:
        self.path = Path(path)
        self._defer = defer_commits
        self.lock_waits = LockWaits()
        """How long this process waited for the write lock (``rdplic serve --workers``)."""
        self._writer_fd: int | None = None
        self._writer_held = False
        self._uncommitted = False
        self._in_unit = False
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open store {self.path}: {error}") from None

    @classmethod
    def in_state_dir(
        cls, state_dir: str | os.PathLike[str], *, defer_commits: bool = False
    ) -> SqliteStore:
        return cls(Path(state_dir) / STORE_FILENAME, defer_commits=defer_commits)

    # ----- connections

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        # A fresh connection per thread, and again after a fork: a sqlite3 connection
        # must never be used by two threads or carried into a child process.
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot put {self.path} in WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        self._local.conn = conn
        self._local.pid = os.getpid()
        self._local.serial = next(_CONNECTION_SERIALS)
        self._local.settings_commits = 0
        self._local.data_version = None
        self._local.settings_counter = 0
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _begin(self, statement: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        if conn.in_transaction:
            raise StoreError("nested store transaction")
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as error:
            raise StoreError(f"store busy or unavailable: {error}") from None
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()

    def settings_token(self) -> tuple[int, int, int]:
        """A value that differs from the last one whenever the settings may have changed.

        SQLite's ``PRAGMA data_version`` changes when another connection (of this process
        or another) commits anything; only then is the ``settings`` counter, which every
        settings write bumps, read again, so that the other workers' decisions (``rdplic
        serve --workers``) do not make this one read the settings again.  This
        connection's own commits that wrote a setting are counted.  One statement when
        nothing was committed elsewhere, no transaction: the license service keeps the
        host configuration it read until the token changes.
        """
        conn = self._connection()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._local.data_version:
            row = conn.execute(
                "SELECT value FROM counters WHERE name = ?", (SETTINGS_COUNTER,)
            ).fetchone()
            self._local.settings_counter = 0 if row is None else int(row[0])
            self._local.data_version = version
        return self._local.serial, self._local.settings_counter, self._local.settings_commits

    @contextmanager
    def transaction(self) -> Iterator[SqliteTransaction]:
        """``BEGIN IMMEDIATE``: the write lock is taken before the first read."""
        with self._unit() if self._defer else self._begin("BEGIN IMMEDIATE") as conn:
            tx = SqliteTransaction(conn)
            yield tx
        if tx.wrote_settings:  # committed or deferred (an exception would not get here)
            self._local.settings_commits += 1

    @contextmanager
    def _unit(self) -> Iterator[sqlite3.Connection]:
        """A deferred transaction: a savepoint in the open write transaction."""
        conn = self._connection()
        if self._in_unit:
            raise StoreError("nested store transaction")
        opened = not conn.in_transaction
        if opened:
            self._take_writer_lock()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                self._release_writer_lock()
                raise StoreError(f"store busy or unavailable: {error}") from None
        changes = conn.total_changes
        conn.execute("SAVEPOINT rdplic_unit")
        self._in_unit = True
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO rdplic_unit")
            conn.execute("RELEASE rdplic_unit")
            if opened:
                conn.rollback()
                self._release_writer_lock()
            raise
        finally:
            self._in_unit = False
        conn.execute("RELEASE rdplic_unit")
        if conn.total_changes != changes:
            self._uncommitted = True
        elif opened:
            conn.commit()  # changed nothing and nothing else pending: no reason to wait
            self._release_writer_lock()

    def _take_writer_lock(self) -> None:
        """Group commit keeps the write transaction open through a reactor turn; with
        several worker processes (``rdplic serve --workers``) the others would wait for it
        in SQLite's busy handler, which polls with sleeps of up to 100 ms and can starve a
        worker behind one that takes the lock again at once.  Waiting on a POSIX lock of
        ``<db>.writer`` instead wakes a waiter as soon as the lock is released.  The wait
        is measured (`lock_waits`).  The server's decider does not wait here in the
        reactor thread: it waits in a thread (`wait_writer_lock`) while the reactor goes
        on, and decides once the lock is held (`rdplic.net.decider.InlineDecider`)."""
        if self._writer_held:
            return
        fd = self._writer_file()
        started = time.monotonic()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        self.lock_waits.add(time.monotonic() - started)
        self._writer_held = True

    def _writer_file(self) -> int:
        if self._writer_fd is None:
            self._writer_fd = os.open(
                f"{self.path}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE
            )
        return self._writer_fd

    def try_writer_lock(self) -> bool:
        """Whether this process holds the group commit's write lock now, taking it if it
        is free (never waits).  Always True without ``defer_commits`` (``BEGIN
        IMMEDIATE`` is the lock then)."""
        if not self._defer or self._writer_held:
            return True
        try:
            fcntl.lockf(self._writer_file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        self.lock_waits.add(0.0)
        self._writer_held = True
        return True

    def wait_writer_lock(self) -> None:
        """Wait until this process holds the write lock (in a thread of its own: the
        reactor's thread never waits for another worker's group commit)."""
        if self._defer:
            self._take_writer_lock()

    def release_idle_writer_lock(self) -> None:
        """Give the write lock back if no deferred transaction is open (a decision that
        took the lock and then wrote nothing)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if self._writer_held and (conn is None or not conn.in_transaction):
            self._release_writer_lock()

    def _release_writer_lock(self) -> None:
        if self._writer_fd is not None and self._writer_held:
            self._writer_held = False
            fcntl.lockf(self._writer_fd, fcntl.LOCK_UN)

    @property
    def durability(self) -> Durability:
        """GROUPED with ``defer_commits``, AT_COMMIT otherwise (`rdplic.licensing.store`)."""
        return Durability.GROUPED if self._defer else Durability.AT_COMMIT

    @property
    def uncommitted(self) -> bool:
        """A deferred transaction changed something that `commit_group` has not committed."""
        return self._uncommitted

    def commit_group(self) -> None:
        """Commit (and fsync) every deferred transaction at once; a no-op when none is
        pending.  On failure they are all rolled back and StoreError is raised."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or not conn.in_transaction:
            self._uncommitted = False
            self._release_writer_lock()
            return
        if self._in_unit:
            raise StoreError("commit_group inside a store transaction")
        try:
            conn.commit()
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            raise StoreError(f"store commit failed: {error}") from None
        finally:
            self._uncommitted = False
            self._release_writer_lock()

    @contextmanager
    def snapshot(self) -> Iterator[SqliteTransaction]:
        """A read transaction (WAL gives it a consistent view); writes are refused."""
        conn = self._connection()
        if self._defer and conn.in_transaction and not self._in_unit:
            # Deferred transactions are pending: read inside them (they are this
            # process's own and will be committed).
            conn.execute("PRAGMA query_only = ON")
            try:
                yield SqliteTransaction(conn)
            finally:
                conn.execute("PRAGMA query_only = OFF")
            return
        conn.execute("PRAGMA query_only = ON")
        try:
            with self._begin("BEGIN") as conn:
                yield SqliteTransaction(conn)
        finally:
            conn.execute("PRAGMA query_only = OFF")

    def close(self) -> None:
        """Commit whatever is deferred, then close every connection."""
        if self._defer:
            self.commit_group()
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.close()
        self._local = threading.local()
        self._release_writer_lock()
        if self._writer_fd is not None:
            os.close(self._writer_fd)
            self._writer_fd = None

    def _make_files_private(self) -> None:
        """The database and its WAL and shared-memory files are 0600 (invariant 9).

        SQLite creates the database with mode 0644 minus the umask and gives its -wal and
        -shm files the database's mode, so the database is created here first, 0600, and
        existing files that others could read are narrowed, whatever the directory's mode.
        """
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, PRIVATE_MODE))
        for suffix in ("", "-wal", "-shm", "-journal"):
            make_private(f"{self.path}{suffix}")

    # ----- schema

    def schema_version(self) -> int:
        conn = self._connection()
        value = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        return int(value or 0)

    def _migrate(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._make_files_private()
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(SCHEMA_VERSION_DDL)
            current = int(
                conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
            )
            if current > latest_version():
                raise StoreError(
                    f"store {self.path} has schema {current}, newer than this rdplic "
                    f"({latest_version()}); upgrade rdplic"
                )
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    conn.execute(SQLITE.render(statement))
                for statement in SQLITE.extra.get(migration.version, ()):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at)"
                    " VALUES (?, ?, ?)",
                    (migration.version, migration.description, format_ts(datetime.now(UTC))),
                )
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    # ----- integrity

    def check_integrity(self) -> list[str]:
        """Counts equal rows, no pack over-issued, blobs and history present, file sound."""
        problems: list[str] = []
        with self.snapshot() as tx:
            conn = tx._conn
            for (result,) in conn.execute("PRAGMA integrity_check"):
                if result != "ok":
                    problems.append(f"sqlite integrity: {result}")
            for row in conn.execute("PRAGMA foreign_key_check"):
                problems.append(f"foreign key broken: {tuple(row)}")
            problems.extend(tx.licensing_problems())
        return problems


@dataclass
class LockWaits:
    """Waits for the write lock: how many, how long in all, the longest (seconds)."""

    count: int = 0
    total: float = 0.0
    longest: float = 0.0

    def add(self, waited: float) -> None:
        self.count += 1
        self.total += waited
        self.longest = max(self.longest, waited)


def _client_filters(query: LicenseQuery | HistoryQuery) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters for the client a query names (hardware id, machine, user)."""
    where: list[str] = []
    params: list[Any] = []
    if query.hwid is not None:
        where.append("hwid = ?")
        params.append(query.hwid.hex())
    if query.machine_name is not None:
        where.append("lower(machine_name) = lower(?)")
        params.append(query.machine_name)
    if query.user_name is not None:
        where.append("lower(user_name) = lower(?)")
        params.append(query.user_name)
    return where, params
