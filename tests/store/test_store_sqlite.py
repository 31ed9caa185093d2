"""The SQLite store: schema and migrations, transactions, guards, integrity check."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

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
from rdplic.store import (
    STORE_FILENAME,
    Durability,
    HistoryQuery,
    LicenseQuery,
    SqliteStore,
    StoreError,
    open_store,
)
from rdplic.store.migrations import latest_version
from rdplic.store.sqlite import format_ts, parse_ts

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _pack(pack_id: int, total: int | None = 2) -> KeyPack:
    return KeyPack(
        key_pack_id=pack_id,
        product_version=ProductVersion(10, 1),
        cal_type=CalType.PER_DEVICE,
        key_pack_type=KeyPackType.RETAIL if total is not None else KeyPackType.TEMPORARY,
        program=LicensingProgram.RETAIL,
        total=total,
        issued=0,
        installed=T0,
    )


def _license(license_id: int, pack_id: int | None = 1) -> IssuedLicense:
    return IssuedLicense(
        license_id=license_id,
        key_pack_id=pack_id,
        cal_type=CalType.PER_DEVICE,
        hwid=bytes([license_id]) * 20,
        platform_id=0x04010000,
        machine_name=f"PC{license_id}",
        user_name="user",
        product_version=ProductVersion(10, 1),
        status=LicenseStatus.ACTIVE,
        temporary=False,
        issued=T0,
        expires=T0.replace(month=3),
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return open_store(tmp_path)


def test_store_file_lives_in_the_state_dir_in_wal_mode(tmp_path: Path) -> None:
    """The store is STORE_FILENAME in the state directory, journal WAL, foreign keys on."""
    s = open_store(tmp_path / "state")
    assert s.path == tmp_path / "state" / STORE_FILENAME and s.path.exists()
    conn = sqlite3.connect(s.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with s.transaction() as tx:
        assert tx._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # type: ignore[attr-defined]
    s.close()


def test_schema_version_and_idempotent_migration(tmp_path: Path) -> None:
    """A new store is at the latest schema; reopening applies nothing twice."""
    s = open_store(tmp_path)
    assert s.schema_version() == latest_version() == 2
    s.close()
    again = open_store(tmp_path)
    rows = sqlite3.connect(again.path).execute("SELECT version FROM schema_version").fetchall()
    assert rows == [(1,), (2,)]
    again.close()


def test_a_version_1_history_migrates_with_empty_rule_and_host(tmp_path: Path) -> None:
    """Migration 2 adds history.rule and history.host; events recorded before keep theirs."""
    from rdplic.store.migrations import MIGRATIONS, SCHEMA_VERSION_DDL, SQLITE

    path = tmp_path / STORE_FILENAME
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA_VERSION_DDL)
    for statement in MIGRATIONS[0].statements + SQLITE.extra[1]:
        conn.execute(SQLITE.render(statement))
    conn.execute("INSERT INTO schema_version VALUES (1, 'v1', '2026-01-01T00:00:00.000000Z')")
    conn.execute(
        "INSERT INTO history (event_id, at, kind, detail)"
        " VALUES (1, '2026-01-01T00:00:00.000000Z', 'expired', 'before')"
    )
    conn.execute("UPDATE counters SET value = 1 WHERE name = 'history'")
    conn.commit()
    conn.close()
    s = open_store(tmp_path)
    assert s.schema_version() == 2
    with s.transaction() as tx:
        (old,) = tx.list_history(HistoryQuery())
        assert (old.detail, old.rule, old.host) == ("before", "", "")
        tx.append_history(
            HistoryEvent(
                0, datetime(2026, 1, 2, tzinfo=UTC), HistoryKind.EXPIRED, rule="R24", host="ts1"
            )
        )
        new = tx.list_history(HistoryQuery())[-1]
    assert (new.rule, new.host) == ("R24", "ts1")
    s.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer rdplic is not touched."""
    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / STORE_FILENAME)
    conn.execute("INSERT INTO schema_version VALUES (99, 'future', '2030-01-01T00:00:00.000000Z')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this rdplic"):
        open_store(tmp_path)


def test_a_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    """Garbage instead of a database gives one StoreError line, not a traceback."""
    (tmp_path / STORE_FILENAME).write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        open_store(tmp_path)


def test_take_from_key_pack_never_over_issues(store: SqliteStore) -> None:
    """take_from_key_pack refuses when Available = 0; unlimited packs always give (R16, R18)."""
    with store.transaction() as tx:
        tx.insert_key_pack(_pack(1, total=2))
        tx.insert_key_pack(_pack(2, total=None))
        assert [tx.take_from_key_pack(1) for _ in range(3)] == [True, True, False]
        assert all(tx.take_from_key_pack(2) for _ in range(50))
        pack = tx.get_key_pack(1)
        assert pack is not None and (pack.issued, pack.available) == (2, 0)


def test_schema_forbids_issued_above_total(store: SqliteStore) -> None:
    """The CHECK constraint is a second line of defence against over-issue."""
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as tx:
        tx.insert_key_pack(_pack(1, total=1))
        tx._conn.execute("UPDATE key_packs SET issued_licenses = 2")  # type: ignore[attr-defined]
    with store.snapshot() as tx:
        assert tx.list_key_packs() == []  # the whole transaction was rolled back


def test_a_failed_transaction_leaves_nothing(store: SqliteStore) -> None:
    """Every decision is one transaction: an exception rolls back all of it."""
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_key_pack(_pack(1))
        tx.insert_license(_license(1), b"blob")
        raise RuntimeError("crash in the middle")
    with store.snapshot() as tx:
        assert tx.list_key_packs() == [] and tx.get_license(1) is None


def test_snapshot_is_read_only(store: SqliteStore) -> None:
    """A snapshot refuses writes."""
    with pytest.raises(sqlite3.OperationalError), store.snapshot() as tx:
        tx.set_setting("x", "y")
    with store.transaction() as tx:
        tx.set_setting("x", "y")  # the connection is writable again afterwards


def test_history_is_append_only(store: SqliteStore) -> None:
    """R24: the database itself refuses to change or delete history rows."""
    with store.transaction() as tx:
        event_id = tx.append_history(HistoryEvent(0, T0, HistoryKind.ISSUED, detail="x"))
    for statement in ("UPDATE history SET detail = 'y'", "DELETE FROM history"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), store.transaction() as tx:
            tx._conn.execute(statement)  # type: ignore[attr-defined]
    with store.snapshot() as tx:
        [event] = tx.list_history(HistoryQuery())
    assert (event.event_id, event.detail) == (event_id, "x")


def test_records_round_trip(store: SqliteStore) -> None:
    """Key packs, licenses (with blob), history and settings come back as written."""
    pack = _pack(1)
    lic = _license(7)
    with store.transaction() as tx:
        tx.insert_key_pack(pack)
        tx.insert_license(lic, b"\x00blob")
        tx.set_setting("a.b", "c")
        tx.append_history(
            HistoryEvent(0, T0, HistoryKind.ISSUED, 7, 1, lic.hwid, "PC7", "user", "d")
        )
    with store.snapshot() as tx:
        assert tx.get_key_pack(1) == pack
        assert tx.get_license(7) == lic
        assert tx.get_license_blob(7) == b"\x00blob"
        assert tx.settings("a.") == {"a.b": "c"}
        assert tx.find_licenses(LicenseQuery(hwid=lic.hwid, statuses=(LicenseStatus.ACTIVE,))) == [
            lic
        ]
        assert tx.find_licenses(LicenseQuery(machine_name="pc7")) == [lic]
        assert tx.find_licenses(LicenseQuery(statuses=())) == []
        [event] = tx.list_history(HistoryQuery(license_id=7))
        assert event.hwid == lic.hwid and event.kind is HistoryKind.ISSUED


def test_counters_are_monotonic(store: SqliteStore) -> None:
    """Issued-license ids are increasing integers, like Windows' LicenseId."""
    with store.transaction() as tx:
        ids = [tx.next_id("license") for _ in range(5)]
        assert tx.next_id("brand-new") == 1
    assert ids == [1, 2, 3, 4, 5]


def test_integrity_check_finds_inconsistencies(store: SqliteStore) -> None:
    """check_integrity reports counts that do not match rows, missing blobs and history."""
    assert store.check_integrity() == []
    with store.transaction() as tx:
        tx.insert_key_pack(_pack(1, total=5))
        tx.insert_license(_license(1), None)
    problems = store.check_integrity()
    assert any("issued 0 but 1 outstanding" in p for p in problems)
    assert any("no license blob" in p for p in problems)
    assert any("no 'issued' history" in p for p in problems)
    assert any("counter license" in p for p in problems)


def test_a_later_migration_is_applied_once_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a store with a newer rdplic applies the next migration, in order, once."""
    from rdplic.store import migrations, sqlite

    open_store(tmp_path).close()
    nxt = migrations.latest_version() + 1
    extra = migrations.Migration(
        nxt, "test: license notes", ("ALTER TABLE licenses ADD COLUMN note VARCHAR(100)",)
    )
    patched = (*migrations.MIGRATIONS, extra)
    monkeypatch.setattr(migrations, "MIGRATIONS", patched)
    monkeypatch.setattr(sqlite, "MIGRATIONS", patched)
    upgraded = open_store(tmp_path)
    assert upgraded.schema_version() == nxt
    upgraded.close()
    again = open_store(tmp_path)  # nothing left to apply: no duplicate column error
    columns = [r[1] for r in sqlite3.connect(again.path).execute("PRAGMA table_info(licenses)")]
    assert "note" in columns
    again.close()


def test_settings_token_follows_setting_changes(tmp_path: Path) -> None:
    """settings_token stays the same across reads and this connection's commits that write
    no setting, and changes when it writes one or another connection, thread or process
    commits anything."""
    path = tmp_path / "licenses.sqlite3"
    store, other = SqliteStore(path), SqliteStore(path)
    try:
        first = store.settings_token()
        with store.snapshot() as tx:
            tx.get_setting("x")
        with store.transaction() as tx:
            tx.insert_key_pack(_pack(1))
        assert store.settings_token() == first
        with store.transaction() as tx:
            tx.set_setting("x", "1")
        second = store.settings_token()
        assert second != first
        with other.transaction() as tx:
            tx.insert_key_pack(_pack(2))
        third = store.settings_token()
        assert third not in (first, second)
        assert store.settings_token() == third
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.set_setting("x", "3")
            raise RuntimeError("rolled back")
        assert store.settings_token() == third
        with store.transaction() as tx:
            tx.delete_setting("x")
        fourth = store.settings_token()
        assert fourth != third
        code = (
            "import sys, rdplic.licensing; from rdplic.store import SqliteStore\n"
            "s = SqliteStore(sys.argv[1])\n"
            "with s.transaction() as tx: tx.set_setting('x', '4')"
        )
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        assert store.settings_token() != fourth
    finally:
        store.close()
        other.close()


def test_settings_tokens_of_two_connections_never_match(tmp_path: Path) -> None:
    """A closed and reopened connection never repeats a token of the old one."""
    store = SqliteStore(tmp_path / "licenses.sqlite3")
    before = store.settings_token()
    store.close()
    assert store.settings_token() != before
    store.close()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        datetime(2025, 1, 6, 9, 0, 0, 123, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime.max.replace(tzinfo=UTC),
    ],
)
def test_store_timestamps_are_the_fixed_width_text_of_earlier_versions(moment: datetime) -> None:
    """format_ts writes what strftime wrote before, in UTC; parse_ts reads it back exactly."""
    text = format_ts(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_ts(text) == moment
    assert parse_ts(text).tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["2025-01-06T09:00:00Z", "2025-01-06 09:00:00.000000Z", "2025-01-06T09:00:00.000000+00:00", ""],
)
def test_parse_ts_refuses_text_the_store_never_writes(text: str) -> None:
    """Only format_ts's own shape is a store timestamp."""
    with pytest.raises(ValueError):
        parse_ts(text)


def test_counters_count_from_one_and_never_repeat(tmp_path: Path) -> None:
    """next_id starts a counter at 1 and gives each call the next number."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    with store.transaction() as tx:
        first = [tx.next_id("fresh") for _ in range(3)]
    with store.transaction() as tx:
        assert tx.next_id("fresh") == 4
    assert first == [1, 2, 3]
    store.close()


# -- deferred commits (group commit) ------------------------------------------------


def _visible_elsewhere(path: Path) -> set[str]:
    """The settings another connection (another process, as it were) can see."""
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM settings")}
    finally:
        conn.close()


def test_deferred_transactions_become_visible_together_at_commit(tmp_path: Path) -> None:
    """With defer_commits (durability GROUPED), finished transactions stay uncommitted until
    commit_group."""
    store = open_store(tmp_path, defer_commits=True)
    assert store.durability is Durability.GROUPED and not store.uncommitted
    path = tmp_path / STORE_FILENAME
    for name in ("a", "b"):
        with store.transaction() as tx:
            tx.set_setting(name, "1")
    assert store.uncommitted
    assert not {"a", "b"} & _visible_elsewhere(path)
    store.commit_group()
    assert not store.uncommitted
    assert {"a", "b"} <= _visible_elsewhere(path)
    store.close()


def test_a_failed_deferred_transaction_undoes_only_its_own_changes(tmp_path: Path) -> None:
    """An exception rolls back its transaction's savepoint; earlier pending ones survive."""
    store = open_store(tmp_path, defer_commits=True)
    with store.transaction() as tx:
        tx.set_setting("kept", "1")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.set_setting("undone", "1")
        raise RuntimeError("decision failed")
    assert store.uncommitted
    store.commit_group()
    names = _visible_elsewhere(tmp_path / STORE_FILENAME)
    assert "kept" in names and "undone" not in names
    store.close()


def test_a_deferred_transaction_that_changed_nothing_ends_at_once(tmp_path: Path) -> None:
    """A read-only decision with nothing pending leaves no write transaction open."""
    store = open_store(tmp_path, defer_commits=True)
    with store.transaction() as tx:
        tx.get_setting("absent")
    assert not store.uncommitted
    other = sqlite3.connect(tmp_path / STORE_FILENAME, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free
    other.rollback()
    other.close()
    store.close()


def test_snapshot_reads_pending_changes_and_refuses_writes(tmp_path: Path) -> None:
    """A snapshot taken while changes are deferred sees them and cannot write."""
    store = open_store(tmp_path, defer_commits=True)
    with store.transaction() as tx:
        tx.set_setting("pending", "yes")
    with store.snapshot() as tx:
        assert tx.get_setting("pending") == "yes"
        with pytest.raises(sqlite3.OperationalError):
            tx.set_setting("other", "no")
    store.close()


def test_a_store_that_does_not_defer_is_durable_at_each_commit(tmp_path: Path) -> None:
    """Without defer_commits the durability is AT_COMMIT: nothing is ever left uncommitted."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.set_setting("now", "1")
    assert store.durability is Durability.AT_COMMIT and not store.uncommitted
    assert "now" in _visible_elsewhere(tmp_path / STORE_FILENAME)
    store.commit_group()  # nothing to do
    store.close()


def test_close_commits_what_is_deferred(tmp_path: Path) -> None:
    """Closing a deferring store makes its pending transactions durable."""
    store = open_store(tmp_path, defer_commits=True)
    with store.transaction() as tx:
        tx.set_setting("last", "1")
    store.close()
    assert "last" in _visible_elsewhere(tmp_path / STORE_FILENAME)


def test_deferred_transactions_do_not_nest(tmp_path: Path) -> None:
    """A transaction inside another, or a commit inside one, is refused."""
    store = open_store(tmp_path, defer_commits=True)
    with store.transaction():
        with pytest.raises(StoreError), store.transaction():
            pass
        with pytest.raises(StoreError):
            store.commit_group()
    store.close()
