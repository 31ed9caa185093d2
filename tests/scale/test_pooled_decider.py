"""PooledDecider: the policy in a thread pool, a serialization failure run again, the
session host named in the history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from rdplic.core.decisions import DecisionKind
from rdplic.licensing.records import DECIDING_HOST
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.store import Durability, StoreError, StoreRetry
from rdplic.net.decider import InlineDecider, PooledDecider

NOW = datetime(2025, 1, 6, tzinfo=UTC)


class _Reactor:
    """What deferToThreadPool needs of a reactor: results come back through
    callFromThread, run here when the test pumps."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    def callFromThread(self, f: Any, *args: Any) -> None:
        with self.lock:
            self.calls.append((f, args))
        self.arrived.set()

    def callLater(self, _delay: float, f: Any, *args: Any) -> None:
        """The end of the reactor turn: run by the next `pump`."""
        self.callFromThread(f, *args)

    def addSystemEventTrigger(self, *args: Any) -> None:
        pass

    def pump(self) -> None:
        assert self.arrived.wait(10)
        with self.lock:
            calls, self.calls = self.calls, []
            self.arrived.clear()
        for f, args in calls:
            f(*args)


class _Store:
    durability = Durability.AT_COMMIT
    uncommitted = False


class _Policy:
    def __init__(self, failures: int, error: type[Exception] = StoreRetry) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def decide(self, question: Any, now: datetime) -> Ruling:
        self.calls.append((threading.current_thread().name, DECIDING_HOST.get()))
        if len(self.calls) <= self.failures:
            raise self.error("serialization failure")
        return Ruling.of(DecisionKind.VALID_CLIENT, "ok", "R65")


def _decide(policy: _Policy) -> tuple[list[Any], PooledDecider]:
    reactor = _Reactor()
    decider = PooledDecider(policy, _Store(), reactor, host="TS-ONE", retries=3)  # type: ignore[arg-type]
    results: list[Any] = []
    decider.decide(object(), NOW).addBoth(results.append)  # type: ignore[arg-type]
    reactor.pump()  # the end of the turn: the batch goes to the thread
    reactor.pump()  # the batch's outcome
    decider._pool.stop()
    return results, decider


def test_a_serialization_failure_is_run_again_in_a_pool_thread() -> None:
    """Two StoreRetry failures, then the decision: the client gets it; the policy ran
    outside the caller's thread, with the host set for the history."""
    policy = _Policy(failures=2)
    results, decider = _decide(policy)
    assert results == [Ruling.of(DecisionKind.VALID_CLIENT, "ok", "R65").decision]
    assert decider.retried == 2
    assert len(policy.calls) == 3
    assert all(host == "TS-ONE" for _, host in policy.calls)
    assert all(name != threading.current_thread().name for name, _ in policy.calls)
    assert DECIDING_HOST.get() == ""


def test_retries_are_bounded_and_other_errors_are_not_retried() -> None:
    """Past its retries, or on any other store error, the Deferred fails (the adapter
    answers ERR_NO_LICENSE_SERVER)."""
    results, _ = _decide(_Policy(failures=10))
    assert results[0].check(StoreRetry)
    other = _Policy(failures=1, error=StoreError)
    results, decider = _decide(other)
    assert results[0].check(StoreError) and len(other.calls) == 1 and decider.retried == 0


def test_a_grouped_store_is_refused() -> None:
    """PooledDecider needs AT_COMMIT durability: a group-committed store stays inline."""

    class Grouped(_Store):
        durability = Durability.GROUPED

    with pytest.raises(ValueError):
        PooledDecider(_Policy(0), Grouped(), _Reactor())  # type: ignore[arg-type]


def test_the_inline_decider_names_the_host_too() -> None:
    """InlineDecider sets the host around the policy call, and resets it after."""
    policy = _Policy(failures=0)
    InlineDecider(policy, _Store(), _Reactor(), host="TS-TWO").decide(object(), NOW)  # type: ignore[arg-type]
    assert policy.calls[0][1] == "TS-TWO" and DECIDING_HOST.get() == ""
