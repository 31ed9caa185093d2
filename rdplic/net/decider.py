"""Asking the license server from the reactor: a decision, handed over once it is durable.

The licensing core emits `DecisionNeeded` and waits; the server adapter asks a `Decider`,
which answers with a Deferred.  The Deferred fires with the core's `Decision` only when the
change that decision made to the store is durable, as the store's declared contract says
(`rdplic.licensing.store.Durability`):

* AT_COMMIT stores: every decision's transaction is committed before the policy returns, so
  the Deferred fires at once.
* GROUPED stores (SQLite with group commit, as ``rdplic serve`` runs it): the decisions of
  one reactor turn are savepoints of one open transaction; `InlineDecider` commits them
  together at the end of the turn (one fsync for all of them) and fires their Deferreds
  only then.  A decision that changed nothing fires at once.  While another worker
  process's group commit holds the write lock (``rdplic serve --workers``), the decisions
  wait for it in a thread, not in the reactor, and then run together in one turn.

So a PDU that carries a license cannot exist before the license is in the store: the core
only builds it when it is handed the decision (architecture invariant 6).  If the policy
raises, or the group commit fails, the Deferred fails; the adapter then tells the client
ERR_NO_LICENSE_SERVER, and nothing was issued.

A decider that answers later only has to return a Deferred that fires later: the adapter
and the core do not change.  `PooledDecider` is one: for AT_COMMIT stores that other
processes share (PostgreSQL), it runs the synchronous policy in a thread, so the reactor
never waits on the database.  It group-commits too: the decisions that arrive in one
reactor turn, or while the previous batch is in the database, go to the thread together
and run in one database transaction (`rdplic.store.postgres.PostgresStore.batch`: one
connection, one write lock, one COMMIT for all of them); their Deferreds fire once it
committed.  A decision that fails fails alone: the batch is rolled back and the others are
run again.  A decision the database aborted to stay serialisable (`StoreRetry`) is run
again, unseen by the client.

Both deciders set `DECIDING_HOST` around each decision, so the history says which session
host every event came through.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from rdplic.core.decisions import Decision
from rdplic.core.events import DecisionNeeded
from rdplic.licensing.records import DECIDING_HOST
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.store import Durability, LicenseStore, StoreError, StoreRetry

__all__ = ["Decider", "InlineDecider", "Policy", "PooledDecider"]

_failure: Any = Failure  # untyped in Twisted


class Decider(Protocol):
    """Who answers the licensing core's questions, for the server adapter."""

    def decide(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        """Fires with the decision once its store change is durable, or fails."""
        ...


class Policy(Protocol):
    """What `InlineDecider` calls (`rdplic.licensing.LicensePolicy`)."""

    def decide(self, question: DecisionNeeded, now: datetime) -> Ruling: ...


class InlineDecider:
    """The policy called in the reactor thread, over a store it may group-commit.

    A store shared with other worker processes (`rdplic.store.sqlite.SqliteStore`'s
    ``try_writer_lock``) may have its write lock held by another worker's open group
    commit: the decision then waits for it in a thread of the reactor's pool
    (``wait_writer_lock``) with those that arrive meanwhile, and they all run, in their
    order, in the turn the lock arrives, sharing its commit.  So the reactor thread never
    waits for another worker, and a worker's commits grow with the contention instead of
    multiplying.

    :param on_decided: called with each question, its ruling and ``now`` once durable
        (captures record the decisions there)
    """

    _log = Logger()

    def __init__(
        self,
        policy: Policy,
        store: LicenseStore,
        reactor: Any,
        *,
        on_decided: Callable[[DecisionNeeded, Ruling, datetime], None] | None = None,
        host: str = "",
    ) -> None:
        self._policy = policy
        self._store = store
        self._reactor = reactor
        self._on_decided = on_decided
        self._host = host
        self._waiting: list[tuple[defer.Deferred[Decision], DecisionNeeded, Ruling, datetime]] = []
        self._commit_call: Any = None
        self._locked_out: list[tuple[defer.Deferred[Decision], DecisionNeeded, datetime]] = []
        """Decisions waiting for another process's group commit to give the lock back."""
        self._lock_wait: defer.Deferred[None] | None = None

    def decide(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        if self._locked_out or not self._lock_free():
            # Another worker's group commit holds the write lock: wait for it in a thread
            # and go on with the other connections meanwhile (the reactor never waits).
            queued: defer.Deferred[Decision] = defer.Deferred()
            self._locked_out.append((queued, question, now))
            self._wait_for_lock()
            return queued
        return self._decide_now(question, now)

    def _lock_free(self) -> bool:
        try_lock = getattr(self._store, "try_writer_lock", None)
        return try_lock is None or bool(try_lock())

    def _wait_for_lock(self) -> None:
        if self._lock_wait is not None:
            return
        wait: Callable[[], None] = self._store.wait_writer_lock  # type: ignore[attr-defined]
        self._lock_wait = threads.deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), wait
        )
        self._lock_wait.addBoth(self._lock_arrived)

    def _lock_arrived(self, result: object) -> None:
        """In the reactor thread, the write lock held: the decisions that waited for it,
        in their order, in this turn (they share its group commit)."""
        self._lock_wait = None
        if isinstance(result, Failure):
            self._log.failure("store write lock failed", result)
            waiting, self._locked_out = self._locked_out, []
            for deferred, _, _ in waiting:
                deferred.errback(result)
            return
        while self._locked_out:
            if not self._lock_free():  # given back (a decision that wrote nothing) and lost
                self._wait_for_lock()
                return
            deferred, question, now = self._locked_out.pop(0)
            self._decide_now(question, now).chainDeferred(deferred)

    def _decide_now(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        token = DECIDING_HOST.set(self._host)
        try:
            ruling = self._policy.decide(question, now)
        except Exception:
            self._release_idle_lock()
            return defer.fail()  # the exception being handled
        finally:
            DECIDING_HOST.reset(token)
        store = self._store
        if store.durability is Durability.GROUPED and store.uncommitted:
            waiting: defer.Deferred[Decision] = defer.Deferred()
            self._waiting.append((waiting, question, ruling, now))
            if self._commit_call is None:
                self._commit_call = self._reactor.callLater(0, self.commit)
            return waiting
        self._release_idle_lock()
        self._decided(question, ruling, now)
        return defer.succeed(ruling.decision)

    def _release_idle_lock(self) -> None:
        release = getattr(self._store, "release_idle_writer_lock", None)
        if release is not None:
            release()

    def commit(self) -> None:
        """Commit the decisions waiting for the group commit and hand them over (or fail
        them all if the commit fails).  Runs at the end of the reactor turn, and at
        shutdown."""
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        waiting, self._waiting = self._waiting, []
        try:
            self._store.commit_group()
        except Exception as error:
            failure = _failure(error)
            self._log.failure(
                "store commit failed: {count} decisions void, their clients refused",
                failure,
                count=len(waiting),
            )
            for deferred, _, _, _ in waiting:
                deferred.errback(failure)
            return
        for deferred, question, ruling, now in waiting:
            self._decided(question, ruling, now)
            deferred.callback(ruling.decision)

    def _decided(self, question: DecisionNeeded, ruling: Ruling, now: datetime) -> None:
        if self._on_decided is not None:
            self._on_decided(question, ruling, now)


class _Failed(Exception):
    """A decision of a batch raised: the batch is rolled back (`PooledDecider._run`)."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


class PooledDecider:
    """The policy called in a thread, over a store durable at each commit (PostgreSQL),
    in batches that share one database transaction (group commit).

    The reactor thread only queues the question and gets the Deferred.  At the end of the
    reactor turn, the queue (at most ``max_batch`` decisions) goes to the decider's
    thread, which runs the policy for each in one batch of the store
    (`rdplic.store.postgres.PostgresStore.batch`) and commits (a store without batches
    commits each decision on its own, and a failure is that decision's alone); the
    Deferreds fire in the reactor thread once the batch committed.  Decisions that arrive
    meanwhile wait for the next batch, so one batch is in the database at a time per
    process: it holds the deployment-wide write lock, which a second batch would only
    wait for.

    A decision that raises is rolled back with its whole batch (nothing of it is kept),
    and the others are run again without it: it alone fails (its client gets
    ERR_NO_LICENSE_SERVER).  A `StoreRetry` (a serialization failure, or a connection lost
    before the batch began) runs the decisions again, up to ``retries`` times each; any
    other failure of the batch itself (its COMMIT) fails every decision of it.

    :param host: the session host's name, recorded with every history event
    """

    _log = Logger()

    def __init__(
        self,
        policy: Policy,
        store: LicenseStore,
        reactor: Any,
        *,
        retries: int = 5,
        max_batch: int = 32,
        host: str = "",
        on_decided: Callable[[DecisionNeeded, Ruling, datetime], None] | None = None,
    ) -> None:
        if store.durability is not Durability.AT_COMMIT:
            raise ValueError("PooledDecider needs a store durable at each commit")
        self._policy = policy
        self._store = store
        self._reactor = reactor
        self._retries = retries
        self._max_batch = max_batch
        self._host = host
        self._on_decided = on_decided
        self._queue: list[tuple[defer.Deferred[Decision], DecisionNeeded, datetime]] = []
        self._flush_call: Any = None
        self._running = False
        self.retried = 0
        """Decisions run again after a `StoreRetry` (for logs and tests)."""
        self.batches = 0
        """Batches committed (for the log at shutdown, benchmarks and tests)."""
        self.batched = 0
        """Decisions those batches committed."""
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="rdplic-decider")
        self._pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", self._pool.stop)

    def decide(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        deferred: defer.Deferred[Decision] = defer.Deferred()
        self._queue.append((deferred, question, now))
        if not self._running and self._flush_call is None:
            self._flush_call = self._reactor.callLater(0, self._flush)
        return deferred

    def _flush(self) -> None:
        """In the reactor thread: send the waiting decisions to the thread as one batch."""
        self._flush_call = None
        if self._running or not self._queue:
            return
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        self._running = True
        items = [(question, now) for _, question, now in batch]
        done: defer.Deferred[list[Ruling | Exception]] = threads.deferToThreadPool(
            self._reactor, self._pool, self._run, items
        )
        done.addBoth(self._handover, batch)

    def _run(self, items: list[tuple[DecisionNeeded, datetime]]) -> list[Ruling | Exception]:
        """In the decider's thread: the batch, run until it commits (see the class)."""
        token = DECIDING_HOST.set(self._host)
        outcomes: list[Ruling | Exception | None] = [None] * len(items)
        attempts = [0] * len(items)
        pending = list(range(len(items)))
        batch: Callable[[], AbstractContextManager[Any]] | None = getattr(
            self._store, "batch", None
        )
        try:
            if batch is None:  # each decision commits on its own: nothing to run again
                return [self._alone(question, now) for question, now in items]
            while pending:
                rulings: dict[int, Ruling] = {}
                try:
                    with batch():
                        for index in pending:
                            question, now = items[index]
                            try:
                                rulings[index] = self._policy.decide(question, now)
                            except Exception as error:
                                raise _Failed(index, error) from None
                except _Failed as failed:
                    index = failed.index
                    if isinstance(failed.error, StoreRetry) and attempts[index] < self._retries:
                        attempts[index] += 1
                        self.retried += 1
                    else:
                        outcomes[index] = failed.error
                        pending.remove(index)
                    continue
                except StoreRetry as error:
                    for index in list(pending):
                        if attempts[index] >= self._retries:
                            outcomes[index] = error
                            pending.remove(index)
                        else:
                            attempts[index] += 1
                            self.retried += 1
                    continue
                except StoreError as error:
                    for index in pending:
                        outcomes[index] = error
                    break
                self.batches += 1
                self.batched += len(rulings)
                for index, ruling in rulings.items():
                    outcomes[index] = ruling
                break
        finally:
            DECIDING_HOST.reset(token)
        return [o if o is not None else StoreError("decision not run") for o in outcomes]

    def _alone(self, question: DecisionNeeded, now: datetime) -> Ruling | Exception:
        """A decision over a store without batches, run again on `StoreRetry`."""
        attempt = 0
        while True:
            try:
                return self._policy.decide(question, now)
            except StoreRetry as error:
                attempt += 1
                if attempt > self._retries:
                    return error
                self.retried += 1
            except Exception as error:
                return error

    def _handover(
        self,
        outcomes: list[Ruling | Exception] | Failure,
        batch: list[tuple[defer.Deferred[Decision], DecisionNeeded, datetime]],
    ) -> None:
        """In the reactor thread, once the batch committed: each decision to its
        connection (or its failure); then the next batch, if decisions are waiting."""
        self._running = False
        if isinstance(outcomes, Failure):  # a bug of the batch machinery itself
            self._log.failure("decision batch failed", outcomes)
            for deferred, _, _ in batch:
                deferred.errback(outcomes)
        else:
            for (deferred, question, now), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    deferred.errback(_failure(outcome))
                    continue
                if self._on_decided is not None:
                    self._on_decided(question, outcome, now)
                deferred.callback(outcome.decision)
        if self._queue and self._flush_call is None:
            self._flush()

    def commit(self) -> None:
        """Nothing waits for a group commit: every decision was durable when it fired."""
