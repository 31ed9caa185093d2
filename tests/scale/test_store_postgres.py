"""The PostgreSQL store: the same schema, migrations and guarantees as the SQLite one."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import psycopg
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
from rdplic.store import Durability, HistoryQuery, LicenseQuery, StoreError, open_store
from rdplic.store.migrations import latest_version
from rdplic.store.postgres import PostgresStore

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
        validated=True,
        issued=T0,
        expires=T0.replace(year=2026),
    )


@pytest.fixture
def store(pg_url: str) -> PostgresStore:
    s = open_store("/nonexistent", db=pg_url)
    assert isinstance(s, PostgresStore)
    return s


def test_schema_is_migrated_once_to_the_latest_version(pg_url: str) -> None:
    """A new database gets every migration; opening it again applies nothing twice."""
    first = PostgresStore(pg_url)
    assert first.schema_version() == latest_version()
    first.close()
    again = PostgresStore(pg_url)
    assert again.schema_version() == latest_version()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, latest_version() + 1))
    again.close()


def test_a_url_that_is_not_postgresql_is_refused(tmp_path: object) -> None:
    """--db takes postgresql:// URLs only: anything else is a StoreError, not a traceback."""
    with pytest.raises(StoreError, match="postgresql://"):
        open_store("/nonexistent", db="mysql://x/y")


def test_an_unreachable_database_is_a_store_error(tmp_path: object) -> None:
    """A server that is not there: StoreError naming the store, without its password."""
    with pytest.raises(StoreError) as caught:
        PostgresStore(f"postgresql://u:secret@/db?host={tmp_path}", timeout=1)
    assert "secret" not in str(caught.value)


def test_records_round_trip_and_history_is_append_only(store: PostgresStore) -> None:
    """Key packs, licenses with blobs and history read back as written; history rows
    cannot be changed or deleted (R24)."""
    with store.transaction() as tx:
        tx.insert_key_pack(_pack(tx.next_id("key_pack")))
        assert tx.take_from_key_pack(1)
        tx.insert_license(_license(tx.next_id("license")), b"\x00blob\xff")
        event_id = tx.append_history(
            HistoryEvent(0, T0, HistoryKind.ISSUED, license_id=1, key_pack_id=1, host="TS1")
        )
        tx.set_setting("a.b", "c")
    with store.snapshot() as tx:
        assert tx.get_key_pack(1) == dataclasses.replace(_pack(1), issued=1)
        assert tx.get_license(1) == _license(1)
        assert tx.get_license_blob(1) == b"\x00blob\xff"
        assert tx.find_licenses(LicenseQuery(hwid=bytes([1]) * 20)) == [_license(1)]
        (event,) = tx.list_history(HistoryQuery(license_id=1))
        assert (event.event_id, event.host) == (event_id, "TS1")
        assert tx.settings("a.") == {"a.b": "c"}
    with pytest.raises(StoreError), store.transaction() as tx:
        tx._conn.execute("UPDATE history SET detail = 'x'")
    with pytest.raises(StoreError), store.transaction() as tx:
        tx._conn.execute("DELETE FROM history")
    assert store.check_integrity() == []
    assert store.durability is Durability.AT_COMMIT


def test_snapshot_refuses_writes_and_failed_transactions_leave_nothing(
    store: PostgresStore,
) -> None:
    """A snapshot is read-only; a transaction that raises is rolled back whole."""
    with pytest.raises(StoreError), store.snapshot() as tx:
        tx.set_setting("x", "1")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_key_pack(_pack(1))
        raise RuntimeError("boom")
    with store.snapshot() as tx:
        assert tx.list_key_packs() == []


def test_threads_never_over_issue_a_pack(store: PostgresStore, pg_url: str) -> None:
    """Eight threads over two stores (two processes' worth of pools) race for a pack of 25:
    exactly 25 are taken, and the schema's CHECK refuses more (R16)."""
    with store.transaction() as tx:
        tx.insert_key_pack(_pack(1, total=25))
    other = PostgresStore(pg_url)
    taken: list[bool] = []
    lock = threading.Lock()

    def worker(s: PostgresStore) -> None:
        for _ in range(10):
            with s.transaction() as tx:
                got = tx.take_from_key_pack(1)
                if got:
                    tx.insert_license(_license(tx.next_id("license")), b"x")
            with lock:
                taken.append(got)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (store, other) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert taken.count(True) == 25
    with store.snapshot() as tx:
        assert tx.get_key_pack(1).issued == 25  # type: ignore[union-attr]
        assert len(tx.find_licenses(LicenseQuery())) == 25
    with pytest.raises(StoreError), store.transaction() as tx:
        tx._conn.execute("UPDATE key_packs SET issued_licenses = 26")
    other.close()


def test_settings_token_follows_writes_of_any_process(store: PostgresStore, pg_url: str) -> None:
    """A settings write through another store changes this store's token (read by the
    background thread), and inside a transaction the token is exact."""
    before = store.settings_token()
    other = PostgresStore(pg_url, poll=False)
    with other.transaction() as tx:
        tx.set_setting("host.x", "1")
    with store.transaction():
        assert store.settings_token() != before
    for _ in range(40):
        if store.settings_token() != before:
            break
        threading.Event().wait(0.05)
    assert store.settings_token() != before
    other.close()
