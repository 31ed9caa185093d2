"""Concurrent issuers (threads and processes) never over-issue; a killed issuer leaves no damage."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from rdplic.licensing import (
    CalType,
    ClientIdentity,
    DigestSigner,
    FirstLicensePolicy,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
    LicenseStatus,
)
from rdplic.store import HistoryQuery, LicenseQuery, SqliteStore

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ls_worker.py")
T0 = datetime(2025, 1, 6, tzinfo=UTC)
PACK_SIZE = 10


def _prepared_store(path: Path) -> SqliteStore:
    """A store whose host hands out permanent CALs at once, with one pack of PACK_SIZE."""
    store = SqliteStore(path)
    config = HostConfig(first_license=FirstLicensePolicy.PERMANENT)
    LicensePolicy(store, DigestSigner(), random.Random(0), config=config)
    LicenseAdmin(store).add_key_pack(T0, cal_type=CalType.PER_DEVICE, count=PACK_SIZE)
    return store


def _permanent(store: SqliteStore) -> list[int]:
    with store.snapshot() as tx:
        found = tx.find_licenses(LicenseQuery(statuses=(LicenseStatus.ACTIVE,)))
    return [lic.license_id for lic in found]


def _worker(
    path: Path, prefix: str, count: int, delay: float = 0.0, die_at: int = 0
) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, str(WORKER), str(path), prefix, str(count), str(delay), str(die_at)]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_threads_never_issue_more_cals_than_the_pack_holds(tmp_path: Path) -> None:
    """Invariant 6, R16: 8 threads x 5 new devices against 10 CALs issue exactly 10 CALs."""
    store = _prepared_store(tmp_path / "s.sqlite3")
    policy = LicensePolicy(store, DigestSigner(), random.Random(1))
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def issue(thread: int) -> None:
        try:
            for i in range(5):
                name = f"t{thread}-{i}"
                hwid = b"\x02\x00\x00\x00" + hashlib.md5(name.encode()).digest()
                decision = policy.request_new_license(ClientIdentity(hwid, name), T0)
                assert decision.license is not None
                with lock:
                    results.append(decision.license.temporary)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results.count(False) == PACK_SIZE and results.count(True) == 30
    assert len(_permanent(store)) == PACK_SIZE
    assert store.check_integrity() == []
    store.close()


def test_processes_never_issue_more_cals_than_the_pack_holds(tmp_path: Path) -> None:
    """Invariant 6, R16: 3 processes x 8 new devices against 10 CALs issue exactly 10 CALs."""
    path = tmp_path / "s.sqlite3"
    _prepared_store(path).close()
    workers = [_worker(path, f"p{n}", 8) for n in range(3)]
    lines = []
    for w in workers:
        out, _ = w.communicate(timeout=60)
        assert w.returncode == 0
        lines += out.split("\n")
    kinds = [line.split()[1] for line in lines if line]
    assert kinds.count("0") == PACK_SIZE and kinds.count("1") == 14
    store = SqliteStore(path)
    assert len(_permanent(store)) == PACK_SIZE
    assert store.check_integrity() == []
    store.close()


def test_killed_issuer_leaves_a_consistent_store(tmp_path: Path) -> None:
    """Invariant 6: SIGKILL mid-issue; each license a client got is stored with blob and history."""
    path = tmp_path / "s.sqlite3"
    _prepared_store(path).close()
    received: list[int] = []
    # Three runs killed at different points; signing sleeps inside the transaction, so the
    # kill almost always lands between BEGIN IMMEDIATE and COMMIT.
    for run, kill_after in enumerate((5, 17, 9)):
        worker = _worker(path, f"crash{run}", 10_000, delay=0.002)
        assert worker.stdout is not None
        for seen, line in enumerate(worker.stdout, start=1):
            received.append(int(line.split()[0]))
            if seen == kill_after:
                worker.send_signal(signal.SIGKILL)
                break
        worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        store = SqliteStore(path)  # reopening recovers the WAL
        assert store.check_integrity() == []
        with store.snapshot() as tx:
            for license_id in received:
                assert tx.get_license(license_id) is not None
                assert tx.get_license_blob(license_id)
                assert tx.list_history(HistoryQuery(license_id=license_id))
        assert len(_permanent(store)) == min(PACK_SIZE, len(received))
        store.close()


def test_issuer_killed_inside_a_transaction_leaves_no_trace_of_it(tmp_path: Path) -> None:
    """Invariant 6: a SIGKILL between taking a CAL and committing loses the whole decision."""
    path = tmp_path / "s.sqlite3"
    _prepared_store(path).close()
    worker = _worker(path, "die", 100, die_at=4)  # the 4th decision dies while signing
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    received = [int(line.split()[0]) for line in out.splitlines()]
    assert len(received) == 3
    store = SqliteStore(path)
    assert store.check_integrity() == []
    with store.snapshot() as tx:
        assert [lic.license_id for lic in tx.find_licenses(LicenseQuery())] == received
        pack = tx.list_key_packs()[0]
        assert pack.issued == 3  # the CAL taken by the dying decision is not counted
    store.close()
