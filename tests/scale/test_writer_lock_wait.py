"""SQLite with several workers: a decision that finds the write lock held by another
process waits for it in a thread (the reactor thread goes on), and the decisions that
waited run together, in their order, once it is given back, sharing one commit."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_pooled_decider import _Reactor
from twisted.python.threadpool import ThreadPool

from rdplic.core.decisions import ClientIdentity, DecisionKind, Question
from rdplic.core.events import DecisionNeeded
from rdplic.licensing import (
    CalType,
    DigestSigner,
    FirstLicensePolicy,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
)
from rdplic.net.decider import InlineDecider
from rdplic.store import LicenseQuery
from rdplic.store.sqlite import SqliteStore

NOW = datetime.now(UTC)
_HOLDER = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"
)


class _PooledReactor(_Reactor):
    """The test reactor with a thread pool (what deferToThreadPool's caller passes)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ThreadPool(minthreads=1, maxthreads=2, name="test-reactor")
        self.pool.start()

    def getThreadPool(self) -> ThreadPool:
        return self.pool


@pytest.fixture
def reactor() -> Iterator[_PooledReactor]:
    r = _PooledReactor()
    yield r
    r.pool.stop()


def _question(i: int) -> DecisionNeeded:
    client = ClientIdentity(hwid=bytes([4, 1, 0, 0, i]) + bytes(15), machine_name=f"PC{i}")
    return DecisionNeeded(Question.CHALLENGE_RESPONSE, client, None)


def test_decisions_wait_for_another_workers_lock_in_a_thread(
    tmp_path: Path, reactor: _PooledReactor
) -> None:
    """Another process holds the write lock: three decisions return unfired Deferreds at
    once (the reactor thread never blocked); once the lock is given back they run in one
    turn, commit together, and fire with their CALs, which are in the store."""
    store = SqliteStore(tmp_path / "licenses.sqlite3", defer_commits=True)
    config = HostConfig(first_license=FirstLicensePolicy.PERMANENT)
    policy = LicensePolicy(store, DigestSigner(), random.Random(1), config=config)
    LicenseAdmin(store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=5)
    store.commit_group()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, f"{store.path}.writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        decider = InlineDecider(policy, store, reactor)
        taken = store.lock_waits.count
        results: list[Any] = []
        for i in range(3):
            decider.decide(_question(i), NOW).addBoth(results.append)
        assert results == [] and not store.uncommitted
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        reactor.pump()  # the lock arrived: the three decisions, in this turn
        assert results == [] and store.uncommitted
        reactor.pump()  # the end of the turn: one commit for the three
    finally:
        holder.kill()
        holder.wait()
    assert [r.kind for r in results] == [DecisionKind.ISSUE_NEW] * 3
    assert store.lock_waits.count == taken + 1 and not store.uncommitted  # once for three
    other = SqliteStore(tmp_path / "licenses.sqlite3")
    with other.snapshot() as tx:
        names = [lic.machine_name for lic in tx.find_licenses(LicenseQuery())]
        assert tx.list_key_packs()[0].issued == 3
    assert names == ["PC0", "PC1", "PC2"]
    assert other.check_integrity() == []
    other.close()
    store.close()


def test_a_free_lock_is_taken_without_a_thread(tmp_path: Path, reactor: _PooledReactor) -> None:
    """Nobody else holds the lock: the decision runs at once in the reactor thread, and a
    decision that wrote nothing gives the lock back."""
    store = SqliteStore(tmp_path / "licenses.sqlite3", defer_commits=True)
    policy = LicensePolicy(store, DigestSigner(), random.Random(1))
    decider = InlineDecider(policy, store, reactor)
    results: list[Any] = []
    decider.decide(_question(1), NOW).addBoth(results.append)
    # Decided in this thread: a temporary license waits for the commit at the turn's end,
    # the one call scheduled (no thread was asked to wait for the lock).
    assert store.uncommitted and results == [] and len(reactor.calls) == 1
    reactor.pump()
    assert results[0].kind is DecisionKind.ISSUE_NEW and not store._writer_held
    assert store.try_writer_lock() and store._writer_held
    store.release_idle_writer_lock()
    assert not store._writer_held
    store.close()
