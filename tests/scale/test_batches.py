"""Group commit on PostgreSQL: decisions batched in one transaction (PostgresStore.batch,
PooledDecider), a failure in the middle, processes racing with batches, and the number of
round trips a decision costs (counted in libpq's trace of the protocol, not timed)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq
from test_pooled_decider import _Reactor
from test_shared_invariants import _race

from rdplic.core.decisions import ClientIdentity, DecisionKind, Question
from rdplic.core.events import DecisionNeeded
from rdplic.licensing import (
    CalType,
    DigestSigner,
    FirstLicensePolicy,
    HistoryKind,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
    LicenseStatus,
)
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.store import StoreError, StoreRetry
from rdplic.net.decider import PooledDecider
from rdplic.store import HistoryQuery, LicenseQuery
from rdplic.store.postgres import PostgresStore

NOW = datetime.now(UTC)
ROUND_TRIPS_PER_NEW_DEVICE = 2
"""The device's licenses, then the CAL taken, the license and its history event in one
pipeline: what a new device's permanent CAL costs inside a batch (nothing expired to
reclaim, R25: the batch knows the earliest expiry)."""


def _device(i: int) -> ClientIdentity:
    return ClientIdentity(
        hwid=bytes([4, 1, 0, 0, i % 256, i // 256]) + bytes(14), machine_name=f"PC{i}"
    )


def _question(i: int) -> DecisionNeeded:
    return DecisionNeeded(Question.CHALLENGE_RESPONSE, _device(i), None)


def _policy(store: PostgresStore, seed: int = 0) -> LicensePolicy:
    config = HostConfig(first_license=FirstLicensePolicy.PERMANENT)
    return LicensePolicy(store, DigestSigner(), random.Random(seed), config=config)


class _FailingFor:
    """The real policy, which raises after deciding (its writes made) for some devices,
    or raises StoreRetry the first time for others."""

    def __init__(self, policy: LicensePolicy, fail: set[str], retry_once: set[str]) -> None:
        self.policy = policy
        self.fail = fail
        self.retry_once = set(retry_once)

    def decide(self, question: DecisionNeeded, now: datetime) -> Ruling:
        name = question.client.machine_name
        if name in self.retry_once:
            self.retry_once.discard(name)
            raise StoreRetry("serialization failure")
        ruling = self.policy.decide(question, now)
        if name in self.fail:
            raise RuntimeError(f"failed after deciding for {name}")
        return ruling


def test_a_failure_in_the_middle_of_a_batch_fails_that_decision_alone(pg_url: str) -> None:
    """Six decisions in one batch; the third raises after its CAL was taken and its
    license recorded, the fifth meets a serialization failure once: the third fails and
    nothing of it is stored, the other five get their CALs, committed together."""
    store = PostgresStore(pg_url, poll=False)
    policy = _policy(store)
    LicenseAdmin(store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=10)
    reactor = _Reactor()
    decider = PooledDecider(
        _FailingFor(policy, fail={"PC2"}, retry_once={"PC4"}), store, reactor, host="TS-B"
    )
    results: list[Any] = [None] * 6

    def keep(result: Any, i: int) -> None:
        results[i] = result

    for i in range(6):
        decider.decide(_question(i), NOW).addBoth(keep, i)
    reactor.pump()  # the end of the turn: one batch to the thread
    reactor.pump()  # its outcome
    decider._pool.stop()
    assert results[2].check(RuntimeError)
    assert [r.kind for i, r in enumerate(results) if i != 2] == [DecisionKind.ISSUE_NEW] * 5
    assert decider.batches == 1 and decider.batched == 5 and decider.retried == 1
    with store.snapshot() as tx:
        licenses = tx.find_licenses(LicenseQuery())
        pack = tx.list_key_packs()[0]
        issued = tx.list_history(HistoryQuery(kinds=[HistoryKind.ISSUED]))
    assert sorted(lic.machine_name for lic in licenses) == ["PC0", "PC1", "PC3", "PC4", "PC5"]
    assert pack.issued == 5
    assert {e.machine_name for e in issued} == {"PC0", "PC1", "PC3", "PC4", "PC5"}
    assert {e.host for e in issued} == {"TS-B"}
    assert store.check_integrity() == []
    store.close()


def test_processes_deciding_in_batches_never_over_issue(pg_url: str) -> None:
    """Six processes decide for 60 new devices in batches of five at once, from a pack of
    25: exactly 25 permanent CALs, the rest temporary, ids unique, the store consistent
    (what a batch remembers of the counters and key packs holds under the write lock)."""
    stores = [PostgresStore(pg_url, poll=False) for _ in range(6)]
    policies = [_policy(store, i) for i, store in enumerate(stores)]
    LicenseAdmin(stores[0]).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=25)

    def two_batches(i: int) -> None:
        for b in range(2):
            with stores[i].batch():
                for j in range(5):
                    policies[i].decide(_question(100 * i + 10 * b + j), NOW)

    assert _race(6, two_batches) == [None] * 6
    with stores[0].snapshot() as tx:
        licenses = tx.find_licenses(LicenseQuery())
        events = tx.list_history(HistoryQuery())
    statuses = [lic.status for lic in licenses]
    assert statuses.count(LicenseStatus.ACTIVE) == 25
    assert statuses.count(LicenseStatus.TEMPORARY) == 35
    assert len({lic.license_id for lic in licenses}) == 60
    assert len({e.event_id for e in events}) == len(events)
    assert stores[0].check_integrity() == []
    for store in stores:
        store.close()


def _round_trips(trace: Path) -> int:
    """Frontend messages that wait for the server: a Sync (extended protocol, one per
    statement outside a pipeline) or a Query (a simple query, several statements)."""
    lines = trace.read_text().splitlines()
    return sum(
        1 for line in lines if line.startswith("F\t") and line.split("\t")[2] in ("Sync", "Query")
    )


@pytest.mark.parametrize("decisions", [1, 8])
def test_round_trips_per_decision_stay_bounded(pg_url: str, tmp_path: Path, decisions: int) -> None:
    """A batch of new devices' decisions costs one round trip to begin (BEGIN, the write
    lock, the counters, the key packs, the earliest expiry), two per decision and one to
    commit (counters written
    back with the COMMIT): counted in libpq's trace, after a first batch prepared the
    statements."""
    store = PostgresStore(pg_url, poll=False, min_size=1, max_size=1)
    policy = _policy(store)
    LicenseAdmin(store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=100)
    with store.batch():
        for i in range(3):
            policy.decide(_question(i), NOW)
    trace = tmp_path / "libpq.trace"
    raw = store._pool.getconn()  # the pool's one connection, traced while it is back in it
    store._pool.putconn(raw)
    with trace.open("w") as out:
        raw.pgconn.trace(out.fileno())
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            with store.batch():
                rulings = [policy.decide(_question(10 + i), NOW) for i in range(decisions)]
        finally:
            raw.pgconn.untrace()
    assert [r.decision.kind for r in rulings] == [DecisionKind.ISSUE_NEW] * decisions
    assert all(r.license is not None and not r.license.temporary for r in rulings)
    assert _round_trips(trace) == 2 + ROUND_TRIPS_PER_NEW_DEVICE * decisions
    store.close()


def test_settings_written_in_a_batch_are_seen_by_its_later_decisions(pg_url: str) -> None:
    """The first decision of a new host records the grace period's start (R43); the
    settings token inside the batch changes with it, and after the batch (or a rolled
    back one that wrote settings) it is read again; a rollback that wrote none leaves it."""
    store = PostgresStore(pg_url, poll=False)
    policy = _policy(store)
    before = store.settings_token()
    seen: list[object] = []
    with store.batch():
        policy.decide(_question(1), NOW)
        seen.append(store.settings_token())
        policy.decide(_question(2), NOW)
        seen.append(store.settings_token())
    assert seen[0] != before and seen[0] == seen[1]
    with pytest.raises(RuntimeError), store.batch():
        with store.transaction() as tx:
            tx.set_setting("host.x", "y")
        raise RuntimeError("rolled back")
    with store.transaction() as tx:
        assert tx.get_setting("host.x") is None
        assert store.settings_token() != seen[1]  # the rollback is part of the token
        after = store.settings_token()
    with pytest.raises(RuntimeError), store.batch():
        policy.decide(_question(3), NOW)
        raise RuntimeError("rolled back without a settings write")
    with store.transaction():
        # Unchanged: the reactor's host configuration is not read again for nothing.
        assert store.settings_token() == after
    store.close()


def test_the_poll_thread_and_batches_share_the_pool(pg_url: str) -> None:
    """A batch holds one pooled connection; another thread's transaction meanwhile waits
    for the write lock and then sees the batch's commit."""
    store = PostgresStore(pg_url)
    policy = _policy(store)
    LicenseAdmin(store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=5)
    seen: list[int] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait(10)
        with store.transaction() as tx:
            seen.append(tx.list_key_packs()[0].issued)

    thread = threading.Thread(target=other)
    thread.start()
    with store.batch():
        policy.decide(_question(1), NOW)
        inside.set()
        threading.Event().wait(0.2)
        policy.decide(_question(2), NOW)
    thread.join(30)
    assert seen == [2]
    store.close()


def test_a_batch_reclaims_what_expired_and_checks_its_takes(pg_url: str) -> None:
    """The batch's earliest expiry never hides an expired license from reclaiming (R25);
    a CAL the batch expects to take but the database refuses fails the decision, and
    nothing of the batch is kept (R16)."""
    store = PostgresStore(pg_url, poll=False)
    policy = _policy(store)
    LicenseAdmin(store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=2)
    with store.batch():
        first = policy.decide(_question(1), NOW)
    assert first.license is not None and not first.license.temporary
    later = first.license.expires + timedelta(days=1)
    with store.batch():
        second = policy.decide(_question(2), later)
    with store.snapshot() as tx:
        statuses = {lic.machine_name: lic.status for lic in tx.find_licenses(LicenseQuery())}
        assert tx.list_key_packs()[0].issued == 1
    assert statuses == {"PC1": LicenseStatus.EXPIRED, "PC2": LicenseStatus.ACTIVE}
    assert second.license is not None and not second.license.temporary
    with pytest.raises(StoreError, match="no license left"), store.batch():
        with store.transaction() as tx:
            tx._conn.raw.execute("UPDATE key_packs SET issued_licenses = total_licenses")
        policy.decide(_question(3), later)
    with store.snapshot() as tx:
        assert tx.list_key_packs()[0].issued == 1
        assert [lic.machine_name for lic in tx.find_licenses(LicenseQuery())] == ["PC1", "PC2"]
    assert store.check_integrity() == []
    store.close()
