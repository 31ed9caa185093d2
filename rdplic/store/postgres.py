"""The shared store: one PostgreSQL database for every session host and worker process.

``rdplic serve --db postgresql://...`` and every administration command with the same
``--db`` share one license server database, the way several Windows RD Session Hosts
share one RD License Server.

Driver: psycopg 3 with psycopg-pool, used synchronously.  The license server's policy and
administration (`rdplic.licensing`) are synchronous code over `StoreTransaction`; the
server runs them in a thread pool (`rdplic.net.decider.PooledDecider`) so that the reactor
never waits on the database, and the administration commands call them directly.
asyncpg would have meant an asynchronous second copy of the policy, or an event loop
per transaction inside it; psycopg keeps one policy for both stores.

Locking: every write transaction (`PostgresStore.transaction`) starts by taking one
transaction-level advisory lock, ``pg_advisory_xact_lock``, then runs at READ COMMITTED,
so each statement after the lock sees every transaction committed before it.  Writers are
thus serialised across all processes and hosts exactly as SQLite's ``BEGIN IMMEDIATE``
serialises them on one host: a decision reads the key packs, takes a CAL, signs and
records with nobody else writing, so no key pack is over-issued (R16), no device gets a
second temporary license (R27), and the revocation quota (R50) holds - whatever the number
of processes.  The schema's CHECK constraints stay a second line of defence.  A
serialization failure or deadlock that PostgreSQL reports anyway (SQLSTATE class 40)
raises `StoreRetry`; the decider runs the whole decision again.

Durability: each transaction is committed, and synced (``synchronous_commit`` on), when it
ends (`Durability.AT_COMMIT`).

Batches (group commit): inside `PostgresStore.batch`, every transaction the calling thread
opens is part of one database transaction - one connection, one BEGIN with the write lock,
one COMMIT and one WAL sync for all of them - and is durable only when the batch ends.
`rdplic.net.decider.PooledDecider` runs the decisions that arrive together that way, as
`InlineDecider` group-commits SQLite's; a batch that fails is rolled back whole, and the
decider runs its other decisions again (`PooledDecider`).

Round trips: a connection is in autocommit mode and a transaction's BEGIN travels with its
first statements (the lock and the settings counter: one simple query), so a write
transaction costs its own statements plus COMMIT; psycopg prepares the statements a
decision repeats (``prepare_threshold``) so that PostgreSQL parses and plans them once per
connection.  `tests/scale/test_store_postgres.py` counts the round trips of a decision.

`PostgresStore.settings_token` never waits on the database outside a transaction: a
background thread reads the ``settings`` counter (bumped by every settings write, in any
process) a few times a second, and the reactor compares tokens only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from rdplic.licensing.model import HistoryEvent, IssuedLicense, KeyPack, LicenseStatus
from rdplic.licensing.store import Durability, LicenseQuery, StoreError, StoreRetry
from rdplic.store.migrations import MIGRATIONS, POSTGRESQL, SCHEMA_VERSION_DDL, latest_version
from rdplic.store.sqlite import (
    HISTORY_COLUMNS,
    HISTORY_INSERT,
    SETTINGS_COUNTER,
    SqliteTransaction,
    format_ts,
    history_row,
)

__all__ = ["PostgresStore", "PostgresTransaction", "StoreRetry", "is_postgres_url"]

WRITE_LOCK_KEY = 0x7264706C6963
"""The advisory lock every write transaction takes ("rdplic" in ASCII)."""
_POLL_S = 0.25
"""How often the background thread reads the settings counter."""

# psycopg_pool logs every failed reconnection attempt on stderr through Python's last-resort
# handler; the store reports what matters as StoreError (and the server logs it).
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


_OUTSTANDING = frozenset({LicenseStatus.TEMPORARY, LicenseStatus.ACTIVE})
"""Licenses that hold a CAL (rdplic.licensing.records.OUTSTANDING)."""


def is_postgres_url(db: str | None) -> bool:
    """Whether ``--db`` names a PostgreSQL database."""
    return db is not None and db.startswith(("postgresql://", "postgres://"))


class _Connection:
    """A psycopg connection behind sqlite3's ``execute(sql, params)`` with ``?`` markers,
    so that the SQL of `SqliteTransaction` is written once for both stores."""

    _translated: dict[str, str] = {}  # noqa: RUF012 - a cache shared by every connection

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        self._queued: list[tuple[bytes, Sequence[Any], int | None, str]] = []

    def _text(self, sql: str) -> bytes:
        text = self._translated.get(sql)
        if text is None:
            text = sql.replace("%", "%%").replace("?", "%s")
            self._translated[sql] = text
        return text.encode()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        if self._queued:  # the queued writes first, in the same round trip
            return self._flush((self._text(sql), params))
        return self.raw.execute(self._text(sql), params)

    def queue(
        self, sql: str, params: Sequence[Any], *, rowcount: int | None = None, what: str = ""
    ) -> None:
        """A write whose result nobody reads now: sent with the next statement, or when
        its transaction ends (`flush`); ``rowcount`` is checked then (``what`` names the
        change in the error)."""
        self._queued.append((self._text(sql), params, rowcount, what))

    def flush(self) -> None:
        """Send the queued writes (one round trip: a pipeline) and check them."""
        if self._queued:
            self._flush(None)

    def discard(self) -> None:
        self._queued.clear()

    def _flush(self, then: tuple[bytes, Sequence[Any]] | None) -> psycopg.Cursor[Any]:
        queued, self._queued = self._queued, []
        with self.raw.pipeline():
            cursors = [self.raw.execute(text, params) for text, params, _, _ in queued]
            last = self.raw.execute(*then) if then is not None else cursors[-1]
        for cursor, (_, _, rowcount, what) in zip(cursors, queued, strict=True):
            if rowcount is not None and cursor.rowcount != rowcount:
                raise StoreError(f"store changed under its write lock: {what}")
        return last


class _Batch:
    """The open database transaction of `PostgresStore.batch` on one thread, and what it
    remembers between its decisions.

    The batch holds the deployment-wide write lock from its BEGIN to its COMMIT, so no
    other transaction of any process changes the counters or the key packs meanwhile:
    the batch keeps them here instead of asking again for every decision, and it knows
    when the earliest outstanding license expires.  Its writes whose results nobody reads
    (a license, a history event, a CAL taken from a pack the batch knows has one left) are
    sent together at the end of each decision, in one round trip, and checked there.  The counters
    it advanced are written back with its COMMIT (`flush_sql`); the key packs it read are
    kept up to date with its own takes and returns (the UPDATE that takes a CAL still
    checks, in the database, that one is left: R16).  A batch that fails is rolled back
    whole, and this with it.
    """

    def __init__(self, conn: _Connection, token: int) -> None:
        self.conn = conn
        self.token = token
        """The settings counter as this transaction sees it."""
        self.token_stale = False
        """A transaction of the batch wrote a setting: read the counter again."""
        self.in_unit = False
        self.counters: dict[str, int] = {}
        """The counters as the batch began, with the values handed out since."""
        self.advanced: set[str] = set()
        self.packs: list[KeyPack] | None = None
        """The key packs that are not removed, as this batch left them."""
        self.earliest_expiry: str | None = None
        """No outstanding license expires before this (a store timestamp; None: there is
        no outstanding license): reclaiming (R25) before it finds nothing to ask for."""

    def flush_sql(self) -> bytes:
        """The counters this batch advanced, written back (sent with the COMMIT)."""
        statements = [
            f"INSERT INTO counters (name, value) VALUES ('{name}', {int(self.counters[name])})"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;"
            for name in sorted(self.advanced)
        ]
        return (" ".join(statements) + " COMMIT").encode()


class PostgresTransaction(SqliteTransaction):
    """`rdplic.licensing.store.StoreTransaction` on one PostgreSQL connection (the SQL of
    `SqliteTransaction`; settings writes also bump the shared settings counter)."""

    def __init__(self, conn: _Connection, batch: _Batch | None = None) -> None:
        super().__init__(conn)  # type: ignore[arg-type]  # sqlite3's execute, see _Connection
        self._batch = batch

    # ----- what a batch remembers (see _Batch)

    def next_id(self, counter: str) -> int:
        batch = self._batch
        # The settings counter is the token's (read from the database); the names written
        # back are spelled into the COMMIT's query, so only plain names are kept here.
        if batch is None or counter == SETTINGS_COUNTER or not counter.isidentifier():
            return super().next_id(counter)
        value = batch.counters.get(counter)
        if value is None:
            value = int(self._one("SELECT value FROM counters WHERE name = ?", (counter,)) or 0)
        batch.counters[counter] = value = value + 1
        batch.advanced.add(counter)
        return value

    def list_key_packs(self, *, include_removed: bool = False) -> list[KeyPack]:
        batch = self._batch
        if batch is None or include_removed:
            return super().list_key_packs(include_removed=include_removed)
        if batch.packs is None:
            batch.packs = super().list_key_packs()
        return list(batch.packs)

    def get_key_pack(self, key_pack_id: int) -> KeyPack | None:
        if self._batch is not None and self._batch.packs is not None:
            for pack in self._batch.packs:
                if pack.key_pack_id == key_pack_id:
                    return pack
        return super().get_key_pack(key_pack_id)

    def take_from_key_pack(self, key_pack_id: int) -> bool:
        batch = self._batch
        known = None
        if batch is not None and batch.packs is not None:
            known = next((p for p in batch.packs if p.key_pack_id == key_pack_id), None)
        if known is None:
            taken = super().take_from_key_pack(key_pack_id)
        elif known.total is not None and known.issued >= known.total:
            return False  # the batch knows the pack is used up (it holds the write lock)
        else:
            # The batch knows one is left: the UPDATE goes with the decision's other
            # writes, and still checks in the database that one is (R16).
            self._conn.queue(  # type: ignore[attr-defined]
                "UPDATE key_packs SET issued_licenses = issued_licenses + 1"
                " WHERE key_pack_id = ? AND (total_licenses IS NULL"
                " OR issued_licenses < total_licenses)",
                (key_pack_id,),
                rowcount=1,
                what=f"key pack {key_pack_id} has no license left",
            )
            taken = True
        if taken:
            self._count_in_batch(key_pack_id, +1)
        return taken

    def insert_license(self, issued: IssuedLicense, blob: bytes | None) -> None:
        if self._batch is None:
            super().insert_license(issued, blob)
            return
        self._conn.queue(  # type: ignore[attr-defined]
            f"INSERT INTO licenses ({self._LICENSE_COLUMNS}, license_blob)"
            f" VALUES ({', '.join('?' * 18)})",
            (*self._license_row(issued), blob),
        )
        self._expires(issued)

    def update_license(self, issued: IssuedLicense, blob: bytes | None = None) -> None:
        super().update_license(issued, blob)
        self._expires(issued)

    def _expires(self, lic: IssuedLicense) -> None:
        """Keep the batch's earliest outstanding expiry a lower bound."""
        batch = self._batch
        if batch is not None and lic.status in _OUTSTANDING:
            moment = format_ts(lic.expires)
            if batch.earliest_expiry is None or moment < batch.earliest_expiry:
                batch.earliest_expiry = moment

    def find_licenses(self, query: LicenseQuery) -> list[IssuedLicense]:
        """In a batch, a search for outstanding licenses that expired by a moment before
        the earliest outstanding expiry (what reclaiming asks, R25) finds nothing without
        asking the database."""
        batch = self._batch
        if (
            batch is not None
            and query.expires_at_or_before is not None
            and query.statuses is not None
            and set(query.statuses) <= _OUTSTANDING
            and (
                batch.earliest_expiry is None
                or format_ts(query.expires_at_or_before) < batch.earliest_expiry
            )
        ):
            return []
        return super().find_licenses(query)

    def return_to_key_pack(self, key_pack_id: int) -> None:
        super().return_to_key_pack(key_pack_id)
        self._count_in_batch(key_pack_id, -1)

    def _count_in_batch(self, key_pack_id: int, change: int) -> None:
        if self._batch is not None and self._batch.packs is not None:
            self._batch.packs = [
                dataclasses.replace(p, issued=p.issued + change)
                if p.key_pack_id == key_pack_id
                else p
                for p in self._batch.packs
            ]

    def insert_key_pack(self, pack: KeyPack) -> None:
        super().insert_key_pack(pack)
        if self._batch is not None:
            self._batch.packs = None

    def update_key_pack(self, pack: KeyPack) -> None:
        super().update_key_pack(pack)
        if self._batch is not None:
            self._batch.packs = None

    # ----- settings and history

    def append_history(self, event: HistoryEvent) -> int:
        """The counter and the row in one statement (one round trip instead of two); in a
        batch, the counter is the batch's and the row goes with the decision's other
        writes."""
        if self._batch is not None:
            event_id = self.next_id("history")
            self._conn.queue(HISTORY_INSERT, (event_id, *history_row(event)))  # type: ignore[attr-defined]
            return event_id
        value = self._one(
            "WITH n AS (UPDATE counters SET value = value + 1 WHERE name = 'history'"
            " RETURNING value)"
            f" INSERT INTO history ({HISTORY_COLUMNS})"
            f" SELECT n.value, {', '.join('?' * 10)} FROM n RETURNING event_id",
            history_row(event),
        )
        if value is None:  # no history counter (never: migration 1 creates it)
            return super().append_history(event)
        return int(value)


_LOCK_AND_TOKEN = (
    f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY});"
    f" SELECT value FROM counters WHERE name = '{SETTINGS_COUNTER}'"
).encode()
"""Three statements in one simple query (one round trip): in READ COMMITTED each statement
takes its own snapshot, so the third sees everything committed before the lock was
granted."""
_BEGIN_BATCH = (
    f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY});"
    " SELECT name, value FROM counters;"
    f" SELECT {SqliteTransaction._PACK_COLUMNS} FROM key_packs WHERE removed_at IS NULL"
    " ORDER BY key_pack_id;"
    " SELECT LEAST("
    f"(SELECT min(expires_at) FROM licenses WHERE status = {int(LicenseStatus.TEMPORARY)}),"
    f" (SELECT min(expires_at) FROM licenses WHERE status = {int(LicenseStatus.ACTIVE)}))"
).encode()
"""A batch's first round trip: BEGIN, the write lock, then what every decision of the
batch reads (the counters, the settings one included, the key packs, and the earliest
outstanding expiry), seen after the lock was granted.  The earliest expiry is the least
of one minimum per status: each is the first entry of ``licenses_by_status_expiry`` for
its status, where ``status IN (...)`` would read every outstanding license (a sequential
scan, 0.4 ms at 2,200 licenses, in every batch)."""
_BEGIN_SNAPSHOT = b"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_PREPARE_THRESHOLD = 1
"""psycopg prepares a statement from its second execution on a connection (parsed and
planned once by PostgreSQL; the default waits for the sixth)."""


def _store_error(error: psycopg.Error) -> StoreError:
    if isinstance(error, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return StoreRetry(f"transaction must be retried: {error.sqlstate}")
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StoreError(f"store unavailable: {first}")


class PostgresStore:
    """`rdplic.licensing.store.LicenseStore` in a PostgreSQL database (see the module
    docstring).  Thread-safe: each transaction borrows a pooled connection."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 5.0,
        poll: bool = True,
    ) -> None:
        self.url = url
        self._local = threading.local()
        self._token: int | None = None
        self._rollbacks = 0
        """Write transactions and batches rolled back after they wrote settings: part of
        the settings token, so that settings read inside them are never reused (other
        rollbacks leave the token alone: a new token makes the policy read the settings
        again, and the reactor's host configuration among them)."""
        self._closed = threading.Event()
        try:
            self._pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                kwargs={
                    "connect_timeout": max(2, int(timeout)),
                    # BEGIN is sent with each transaction's first statements (module
                    # docstring), not by psycopg in a round trip of its own.
                    "autocommit": True,
                    "prepare_threshold": _PREPARE_THRESHOLD,
                },
                open=False,
                name="rdplic",
            )
        except psycopg.Error as error:
            raise StoreError(f"cannot open store {_redact(url)}: {error}") from None
        try:
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout):
            self._pool.close()
            raise StoreError(
                f"cannot open store {_redact(url)}: no connection within {timeout:g} s"
            ) from None
        try:
            self._migrate()
            self._token = self._read_token()
        except BaseException:
            self._pool.close()
            raise
        self._poller: threading.Thread | None = None
        if poll:
            self._poller = threading.Thread(
                target=self._poll, name="rdplic-settings-poll", daemon=True
            )
            self._poller.start()

    # ----- transactions

    @contextmanager
    def _connection(self, *, write: bool, batch: bool = False) -> Iterator[_Connection]:
        if getattr(self._local, "busy", False) or getattr(self._local, "batch", None):
            raise StoreError("nested store transaction")
        self._local.busy = True
        self._local.tx_token = None
        self._local.wrote_settings = False
        try:
            with self._pool.connection() as raw:
                conn = _Connection(raw)
                try:
                    if batch:
                        cursor = raw.execute(_BEGIN_BATCH)
                        cursor.nextset()  # BEGIN's, then the lock's result
                        cursor.nextset()
                        counters = {str(n): int(v) for n, v in cursor.fetchall()}
                        cursor.nextset()
                        packs = cursor.fetchall()
                        cursor.nextset()
                        row = cursor.fetchone()
                        earliest = None if row is None or row[0] is None else str(row[0])
                        self._local.batch_start = counters, packs, earliest
                        self._local.tx_token = counters.get(SETTINGS_COUNTER, 0)
                    elif write:
                        # The lock, then (in the same round trip, with a snapshot taken
                        # after the lock) the settings counter: the exact settings token.
                        cursor = raw.execute(_LOCK_AND_TOKEN)
                        cursor.nextset()  # BEGIN's, then the lock's result
                        cursor.nextset()
                        row = cursor.fetchone()
                        self._local.tx_token = int(row[0]) if row else 0
                    else:
                        raw.execute(_BEGIN_SNAPSHOT)
                except psycopg.OperationalError:
                    # A pooled connection the server closed (a restart): nothing was done
                    # yet; the pool drops it and the decision runs again on another.
                    raise StoreRetry("connection lost before the transaction began") from None
                try:
                    yield conn
                except BaseException:
                    if self._local.wrote_settings:
                        # Rolled back (by the pool's ``with``) with settings it wrote:
                        # settings read inside it must not be taken for the stored ones.
                        self._rollbacks += 1
                    raise
        except StoreRetry:
            raise
        except psycopg.Error as error:
            raise _store_error(error) from None
        except PoolTimeout as error:
            raise StoreError(f"store unavailable: {error}") from None
        finally:
            self._local.busy = False

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """A write transaction holding the deployment-wide write lock (module docstring);
        inside `batch`, part of the batch's transaction."""
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            with self._unit(batch) as tx:
                yield tx
            return
        with self._connection(write=True) as conn:
            self._local.tx = tx = PostgresTransaction(conn)
            try:
                yield tx
            finally:
                self._local.tx = None
                self._local.wrote_settings = tx.wrote_settings

    @contextmanager
    def snapshot(self) -> Iterator[PostgresTransaction]:
        """A read-only REPEATABLE READ transaction: one consistent view, writes refused.
        Inside `batch`, a read in the batch's transaction (which holds the write lock, so
        nothing changes under it but its own writes)."""
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            with self._unit(batch) as tx:
                yield tx
            return
        with self._connection(write=False) as conn:
            self._local.tx = tx = PostgresTransaction(conn)
            try:
                yield tx
            finally:
                self._local.tx = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One database transaction for every transaction this thread opens until the
        block ends (group commit; module docstring): the write lock taken once, one
        COMMIT, durable when the block returns.  An exception out of the block, or out of
        any transaction inside it, rolls the whole batch back: whoever batches runs the
        transactions that did not fail again (`rdplic.net.decider.PooledDecider`).

        :raises StoreRetry: the connection was lost before the batch began (run it again)
        :raises StoreError: the database failed; nothing of the batch was kept
        """
        with self._connection(write=True, batch=True) as conn:
            self._local.batch = batch = _Batch(conn, int(self._local.tx_token or 0))
            counters, packs, batch.earliest_expiry = self._local.batch_start
            batch.counters = {n: v for n, v in counters.items() if n != SETTINGS_COUNTER}
            batch.packs = [PostgresTransaction._pack(row) for row in packs]
            try:
                yield
            finally:
                self._local.batch = None
            # The counters and the COMMIT in one round trip (the pool's ``with`` then
            # finds the connection idle).
            conn.raw.execute(batch.flush_sql())

    @contextmanager
    def _unit(self, batch: _Batch) -> Iterator[PostgresTransaction]:
        """A transaction inside a batch: no statement of its own (no savepoint either: a
        failure fails the batch, see `batch`); its queued writes are sent and checked as
        it ends, so that a failure is its own."""
        if batch.in_unit:
            raise StoreError("nested store transaction")
        batch.in_unit = True
        self._local.tx = tx = PostgresTransaction(batch.conn, batch)
        try:
            try:
                yield tx
                batch.conn.flush()
            except BaseException:
                batch.conn.discard()
                raise
        except psycopg.Error as error:
            raise _store_error(error) from None
        finally:
            batch.in_unit = False
            self._local.tx = None
            if tx.wrote_settings:
                batch.token_stale = True
                self._local.wrote_settings = True

    @property
    def durability(self) -> Durability:
        return Durability.AT_COMMIT

    @property
    def uncommitted(self) -> bool:
        return False

    def commit_group(self) -> None:
        """Nothing to do: every transaction is durable when it ends."""

    def schema_version(self) -> int:
        with self.snapshot() as tx:
            return int(tx._one("SELECT max(version) FROM schema_version") or 0)

    # ----- settings token

    def settings_token(self) -> tuple[int, int] | None:
        """The settings counter (and how many transactions that wrote settings this store
        rolled back): read inside the caller's transaction or batch when there is one
        (exact, under the write lock), else the value the background thread last read (the
        reactor never waits on the database for it)."""
        tx: PostgresTransaction | None = getattr(self._local, "tx", None)
        batch: _Batch | None = getattr(self._local, "batch", None)
        if tx is not None and tx.wrote_settings:
            return self._read_counter(tx), self._rollbacks
        if batch is not None:
            if batch.token_stale:
                batch.token = self._read_counter(PostgresTransaction(batch.conn))
                batch.token_stale = False
            return batch.token, self._rollbacks
        if tx is not None:
            if self._local.tx_token is None:
                return self._read_counter(tx), self._rollbacks
            return int(self._local.tx_token), self._rollbacks
        return None if self._token is None else (self._token, self._rollbacks)

    @staticmethod
    def _read_counter(tx: PostgresTransaction) -> int:
        value = tx._one("SELECT value FROM counters WHERE name = ?", (SETTINGS_COUNTER,))
        return int(value or 0)

    def _read_token(self) -> int:
        with self._pool.connection() as raw:
            row = raw.execute(
                "SELECT value FROM counters WHERE name = %s", (SETTINGS_COUNTER,)
            ).fetchone()
        return int(row[0]) if row else 0

    def _poll(self) -> None:
        while not self._closed.wait(_POLL_S):
            with contextlib.suppress(psycopg.Error, PoolTimeout):
                self._token = self._read_token()

    # ----- schema

    def _migrate(self) -> None:
        try:
            with self._pool.connection() as raw, raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
                raw.execute(SCHEMA_VERSION_DDL)
                row = raw.execute("SELECT max(version) FROM schema_version").fetchone()
                current = int(row[0] or 0) if row else 0
                if current > latest_version():
                    raise StoreError(
                        f"store {_redact(self.url)} has schema {current}, newer than this "
                        f"rdplic ({latest_version()}); upgrade rdplic"
                    )
                for migration in MIGRATIONS:
                    if migration.version <= current:
                        continue
                    for statement in migration.statements:
                        raw.execute(POSTGRESQL.render(statement).encode())
                    for statement in POSTGRESQL.extra.get(migration.version, ()):
                        raw.execute(statement.encode())
                    raw.execute(
                        "INSERT INTO schema_version (version, description, applied_at)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.description, format_ts(datetime.now(UTC))),
                    )
        except psycopg.Error as error:
            raise StoreError(f"cannot open store {_redact(self.url)}: {error}") from None

    # ----- integrity

    def check_integrity(self) -> list[str]:
        """Counts equal rows, no pack over-issued, blobs and history present."""
        with self.snapshot() as tx:
            return tx.licensing_problems()

    def close(self) -> None:
        self._closed.set()
        if self._poller is not None:
            self._poller.join(timeout=2 * _POLL_S + 1)
        self._pool.close()


def _redact(url: str) -> str:
    """The URL without its password (logs and errors never carry a secret)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://..."
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))
