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
  only then.  A decision that changed nothing fires at once.

So a PDU that carries a license cannot exist before the license is in the store: the core
only builds it when it is handed the decision (architecture invariant 6).  If the policy
raises, or the group commit fails, the Deferred fails; the adapter then tells the client
ERR_NO_LICENSE_SERVER, and nothing was issued.

A decider that answers later only has to return a Deferred that fires later: the adapter
and the core do not change.  `PooledDecider` is one: for AT_COMMIT stores that other
processes share (PostgreSQL), it runs the synchronous policy in a thread pool, so the
reactor never waits on the database; a decision the database aborted to stay serialisable
(`StoreRetry`) is run again there, unseen by the client.

Both deciders set `DECIDING_HOST` around each decision, so the history says which session
host every event came through.
"""

from __future__ import annotations

from collections.abc import Callable
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
from rdplic.licensing.store import Durability, LicenseStore, StoreRetry

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

    def decide(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        token = DECIDING_HOST.set(self._host)
        try:
            ruling = self._policy.decide(question, now)
        except Exception:
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
        self._decided(question, ruling, now)
        return defer.succeed(ruling.decision)

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


class PooledDecider:
    """The policy called in a thread pool, over a store durable at each commit (PostgreSQL).

    The reactor thread only hands the question over and gets the Deferred; the policy, its
    transaction and the signing run in one of ``threads`` threads, and the Deferred fires
    in the reactor thread once the transaction committed.  A `StoreRetry` runs the
    decision again, up to ``retries`` times; any other failure fails the Deferred (the
    client gets ERR_NO_LICENSE_SERVER and nothing was issued).

    :param host: the session host's name, recorded with every history event
    """

    _log = Logger()

    def __init__(
        self,
        policy: Policy,
        store: LicenseStore,
        reactor: Any,
        *,
        threads: int = 4,
        retries: int = 5,
        host: str = "",
        on_decided: Callable[[DecisionNeeded, Ruling, datetime], None] | None = None,
    ) -> None:
        if store.durability is not Durability.AT_COMMIT:
            raise ValueError("PooledDecider needs a store durable at each commit")
        self._policy = policy
        self._reactor = reactor
        self._retries = retries
        self._host = host
        self._on_decided = on_decided
        self.retried = 0
        """Decisions run again after a `StoreRetry` (for logs and tests)."""
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="rdplic-decider")
        self._pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", self._pool.stop)

    def decide(self, question: DecisionNeeded, now: datetime) -> defer.Deferred[Decision]:
        deferred: defer.Deferred[Ruling] = threads.deferToThreadPool(
            self._reactor, self._pool, self._run, question, now
        )
        return deferred.addCallback(self._handover, question, now)

    def _run(self, question: DecisionNeeded, now: datetime) -> Ruling:
        """In a pool thread: the decision, run again while the database asks for it."""
        token = DECIDING_HOST.set(self._host)
        try:
            attempt = 0
            while True:
                try:
                    return self._policy.decide(question, now)
                except StoreRetry:
                    attempt += 1
                    if attempt > self._retries:
                        raise
                    self.retried += 1
        finally:
            DECIDING_HOST.reset(token)

    def _handover(self, ruling: Ruling, question: DecisionNeeded, now: datetime) -> Decision:
        if self._on_decided is not None:
            self._on_decided(question, ruling, now)
        return ruling.decision

    def commit(self) -> None:
        """Nothing waits for a group commit: every decision was durable when it fired."""
