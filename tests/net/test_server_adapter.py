"""The Twisted adapter around the connection machine: flushing, timeouts, limits, shutdown."""

from __future__ import annotations

import ssl
from collections import deque
from datetime import UTC, datetime

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs

from rdplic.core import events as lic
from rdplic.core.connection_events import (
    ClientDataReceived,
    ConnectionEnded,
    SecurityNegotiated,
)
from rdplic.core.decisions import ClientIdentity, Decision, DecisionKind, Question
from rdplic.core.errors import ConnectionProtocolError
from rdplic.licensing import Durability, Ruling, StoreError
from rdplic.net.decider import InlineDecider
from rdplic.net.server import RdpServerFactory, RdpServerProtocol, ServerLimits
from rdplic.net.tls import (
    TlsSession,
    client_tls_context,
    load_or_create_certificate,
    server_tls_context,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeCore:
    """A scripted connection machine: each received chunk pops one scripted reaction."""

    def __init__(
        self, script: list[tuple[bytes, list[object]] | Exception], trailing: bytes = b""
    ) -> None:
        self.script = deque(script)
        self.received: list[bytes] = []
        self._out = b""
        self._events: deque[object] = deque()
        self.awaiting_tls = False
        self._trailing = trailing
        self.tls_established_at: datetime | None = None

    def receive_data(self, data: bytes, now: datetime) -> None:
        assert not self.awaiting_tls, "bytes reached the machine during the TLS handshake"
        self.received.append(data)
        step = self.script.popleft()
        if isinstance(step, Exception):
            raise step
        out, events = step
        self._out += out
        self._events.extend(events)
        if any(isinstance(e, SecurityNegotiated) and e.start_tls for e in events):
            self.awaiting_tls = True

    @property
    def trailing_data(self) -> bytes:
        out, self._trailing = self._trailing, b""
        return out

    def tls_established(self, now: datetime) -> None:
        assert self.awaiting_tls
        self.awaiting_tls = False
        self.tls_established_at = now

    def decide(self, decision: Decision, now: datetime) -> None:
        """The license: the decision's reason on the wire, then the end."""
        self._out += b"license:" + decision.reason.encode()
        self._events.append(ConnectionEnded("licensing completed", 7, licensed=True))

    def decision_failed(self, reason: str, now: datetime) -> None:
        self._out += b"ERR_NO_LICENSE_SERVER"
        self._events.append(ConnectionEnded(f"licensing failed: {reason}"))

    def next_event(self) -> object | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out, self._out = self._out, b""
        return out


class NoDecider:
    """For connections whose machine never asks."""

    def decide(self, question: object, now: datetime) -> defer.Deferred[Decision]:
        raise AssertionError("nobody asked")


class TlsTransport(StringTransport):
    """A StringTransport that records aborts and half-closes."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False
        self.half_closed = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled

    def take(self) -> bytes:
        """What was written since the last call."""
        data = self.value()
        self.clear()
        return data

    def abortConnection(self) -> None:
        self.aborted = True
        self.loseConnection()

    def loseWriteConnection(self) -> None:
        self.half_closed = True
        self.loseConnection()


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """The server's TLS context over a certificate made as rdplic serve makes it."""
    return server_tls_context(load_or_create_certificate(tmp_path_factory.mktemp("tls")))


def _connect(
    core: FakeCore, *, limits: ServerLimits | None = None, tls: ssl.SSLContext | None = None
) -> tuple[RdpServerFactory, RdpServerProtocol, TlsTransport, Clock]:
    clock = Clock()
    factory = RdpServerFactory(
        lambda: core,
        NoDecider(),
        now=lambda: NOW,
        reactor=clock,
        tls=tls,
        limits=limits or ServerLimits(),
    )
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert protocol is not None
    transport = TlsTransport()
    protocol.makeConnection(transport)
    return factory, protocol, transport, clock


def _lost(protocol: RdpServerProtocol) -> None:
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    protocol.connectionLost(Failure(ConnectionDone()))


def test_bytes_flow_both_ways() -> None:
    """Received bytes reach the machine and its output is written back, with Nagle off."""
    core = FakeCore([(b"answer", [])])
    _, protocol, transport, _ = _connect(core)
    assert transport.no_delay
    protocol.dataReceived(b"question")
    assert core.received == [b"question"]
    assert transport.value() == b"answer"


NEGOTIATED_TLS = SecurityNegotiated(
    requested_protocols=1, selected_protocol=1, cookie="", start_tls=True
)


def _handshake(client: TlsSession, protocol: RdpServerProtocol, transport: TlsTransport) -> None:
    """Run the rest of a TLS handshake between ``client`` and the adapter."""
    while not client.established:
        _, answer = client.receive(transport.take())
        if answer:
            protocol.dataReceived(answer)


def test_the_confirm_goes_in_clear_then_tls_starts(tls_context: ssl.SSLContext) -> None:
    """The Connection Confirm is written in clear; what follows is TLS, and the machine reads
    again only once the handshake has completed."""
    core = FakeCore([(b"CC", [NEGOTIATED_TLS]), (b"CR2", [])])
    _, protocol, transport, _ = _connect(core, tls=tls_context)
    protocol.dataReceived(b"CR")
    assert transport.take() == b"CC"
    client = TlsSession(client_tls_context(), server_side=False)
    protocol.dataReceived(client.start())
    assert transport.value()[:1] == b"\x16"  # the ServerHello's handshake record
    assert core.awaiting_tls and core.tls_established_at is None
    _handshake(client, protocol, transport)
    assert core.tls_established_at == NOW and not core.awaiting_tls
    protocol.dataReceived(client.send(b"MCS"))
    assert core.received[-1] == b"MCS"
    plaintext, _ = client.receive(transport.take())
    assert plaintext == b"CR2"  # the machine's answer, encrypted


def test_bytes_after_the_request_go_to_tls_and_the_machine_waits_for_the_handshake(
    tls_context: ssl.SSLContext,
) -> None:
    """A ClientHello in the same write as the Connection Request is given to TLS, never to
    the machine (which the fake asserts), and the handshake completes."""
    client = TlsSession(client_tls_context(), server_side=False)
    hello = client.start()
    core = FakeCore([(b"CC", [NEGOTIATED_TLS])], trailing=hello)
    _, protocol, transport, _ = _connect(core, tls=tls_context)
    protocol.dataReceived(b"CR" + hello)
    assert core.received == [b"CR" + hello] and core.awaiting_tls
    written = transport.take()
    assert written.startswith(b"CC\x16")  # the Confirm, then the ServerHello
    _, answer = client.receive(written[2:])
    protocol.dataReceived(answer)
    _handshake(client, protocol, transport)
    assert core.tls_established_at == NOW


def test_plaintext_where_tls_belongs_fails_the_handshake(tls_context: ssl.SSLContext) -> None:
    """RDP bytes after a TLS request fail the handshake: logged as tls_failed, aborted, and
    nothing reaches the machine."""
    core = FakeCore([(b"CC", [NEGOTIATED_TLS])], trailing=b"\x03\x00\x00\x0c\x02\xf0\x80x")
    _, protocol, transport, _ = _connect(core, tls=tls_context)
    with capturedLogs() as events:
        protocol.dataReceived(b"CR")
        _lost(protocol)
    assert transport.half_closed and len(core.received) == 1
    (line,) = [e for e in events if "connection" in e.get("log_format", "")]
    assert line["outcome"] == "tls_failed"
    assert line["error"].startswith("TLS: ")


def test_connection_ended_closes_after_flushing() -> None:
    """ConnectionEnded writes what is queued, then half-closes a plain TCP connection."""
    core = FakeCore([(b"bye", [ConnectionEnded("licensing completed", 7, licensed=True)])])
    _, protocol, transport, clock = _connect(core, limits=ServerLimits(close_grace=2))
    protocol.dataReceived(b"x")
    assert transport.value() == b"bye"
    assert transport.half_closed
    clock.advance(2)
    assert transport.aborted  # the peer never closed: dropped after close_grace


def test_tls_connection_ends_with_close_notify(tls_context: ssl.SSLContext) -> None:
    """Under TLS the last PDUs are followed by close_notify, then the half-close."""
    core = FakeCore([(b"CC", [NEGOTIATED_TLS]), (b"bye", [ConnectionEnded("done")])])
    _, protocol, transport, _ = _connect(core, tls=tls_context)
    protocol.dataReceived(b"CR")
    transport.take()
    client = TlsSession(client_tls_context(), server_side=False)
    protocol.dataReceived(client.start())
    _handshake(client, protocol, transport)
    protocol.dataReceived(client.send(b"x"))
    plaintext, _ = client.receive(transport.take())
    assert plaintext == b"bye" and client.peer_closed
    assert transport.half_closed


def test_protocol_error_closes_only_that_connection() -> None:
    """A peer's protocol error closes its connection; the factory keeps serving."""
    bad = FakeCore([ConnectionProtocolError("bad frame")])
    factory, protocol, transport, _ = _connect(bad)
    protocol.dataReceived(b"garbage")
    assert transport.disconnecting
    _lost(protocol)
    assert not factory.active
    other = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
    assert other is not None


def test_internal_error_is_logged_and_aborts() -> None:
    """An unexpected exception is logged with its traceback and the connection aborted."""
    core = FakeCore([RuntimeError("bug")])
    _, protocol, transport, _ = _connect(core)
    with capturedLogs() as events:
        protocol.dataReceived(b"x")
    assert transport.aborted
    assert any(e["log_level"] == LogLevel.critical for e in events)


def test_idle_timeout_aborts() -> None:
    """A client that sends nothing for idle_timeout seconds is dropped."""
    core = FakeCore([(b"", [])])
    _, protocol, transport, clock = _connect(core, limits=ServerLimits(idle_timeout=5))
    clock.advance(3)
    protocol.dataReceived(b"x")  # resets the idle timer
    clock.advance(3)
    assert not transport.aborted
    clock.advance(3)
    assert transport.aborted


def test_total_timeout_aborts_a_trickling_client() -> None:
    """Sending a byte now and then does not extend the total timeout."""
    core = FakeCore([(b"", []) for _ in range(20)])
    _, protocol, transport, clock = _connect(
        core, limits=ServerLimits(idle_timeout=5, total_timeout=12)
    )
    for _ in range(5):
        clock.advance(2)
        protocol.dataReceived(b"x")
    assert not transport.aborted
    clock.advance(3)
    assert transport.aborted


def test_max_connections() -> None:
    """Beyond max_connections new connections are refused at accept time."""
    core = FakeCore([])
    factory, _, _, _ = _connect(core, limits=ServerLimits(max_connections=1))
    assert factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40002)) is None
    assert factory.refused == 1


def test_summary_line_names_client_and_outcome() -> None:
    """One info line per connection carries the client name, HWID and what was issued."""
    client = lic.ClientSummary(
        platform_id=0x04010000, user_name="u", machine_name="M", hwid=bytes(20)
    )
    issued = lic.LicenseSummary(license_id=42, temporary=True, expires_at=NOW, version=0x000A0001)
    events = [
        ClientDataReceived("LABCLIENT", 2600, 0x00080004, 3, 2, ()),
        lic.NewLicenseIssued(client=client, license=issued),
        ConnectionEnded("licensing completed", 7, licensed=True),
    ]
    core = FakeCore([(b"", events)])
    _, protocol, _, _ = _connect(core)
    with capturedLogs() as logged:
        protocol.dataReceived(b"x")
        _lost(protocol)
    lines = [e["connection"] for e in logged if "connection" in e]
    assert len(lines) == 1
    line = lines[0]
    assert line["client_name"] == "LABCLIENT"
    assert line["outcome"] == "new_license"
    assert line["license_id"] == 42
    assert line["temporary"] is True
    assert line["hwid"] == "00" * 20


def test_wait_idle_aborts_stragglers_after_grace() -> None:
    """Shutdown stops accepting, waits for open connections, then aborts what is left."""
    core = FakeCore([])
    factory, protocol, transport, clock = _connect(core)
    done = factory.wait_idle(10)
    assert factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40003)) is None
    fired: list[object] = []
    done.addCallback(fired.append)
    clock.advance(10)
    assert transport.aborted
    _lost(protocol)
    assert fired == [None]


@pytest.mark.parametrize("open_connections", [0, 1])
def test_wait_idle_fires_when_idle(open_connections: int) -> None:
    """With nothing in flight shutdown completes at once; otherwise when the last one ends."""
    core = FakeCore([])
    factory, protocol, _, _ = _connect(core)
    if not open_connections:
        _lost(protocol)
    fired: list[object] = []
    factory.wait_idle(10).addCallback(fired.append)
    if open_connections:
        assert fired == []
        _lost(protocol)
    assert fired == [None]


# -- decisions: answered later, out of order, failing; group commit --------------------------


QUESTION = lic.DecisionNeeded(Question.CHALLENGE_RESPONSE, ClientIdentity(bytes(20), "PC"), None)


def asking() -> FakeCore:
    """A machine that asks the license server after its first bytes."""
    return FakeCore([(b"challenge-answered", [QUESTION])])


class LaterDecider:
    """Answers when the test says so, in any order."""

    def __init__(self) -> None:
        self.asked: list[defer.Deferred[Decision]] = []

    def decide(self, question: object, now: datetime) -> defer.Deferred[Decision]:
        assert question is QUESTION
        self.asked.append(defer.Deferred())
        return self.asked[-1]


def _connect_many(
    decider: object, cores: list[FakeCore], limits: ServerLimits | None = None
) -> tuple[RdpServerFactory, list[tuple[RdpServerProtocol, TlsTransport]], Clock]:
    clock = Clock()
    queue = deque(cores)
    factory = RdpServerFactory(
        queue.popleft,
        decider,  # type: ignore[arg-type]
        now=lambda: NOW,
        reactor=clock,
        tls=None,
        limits=limits or ServerLimits(),
    )
    pairs = []
    for index in range(len(cores)):
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 41000 + index))
        assert protocol is not None
        transport = TlsTransport()
        protocol.makeConnection(transport)
        pairs.append((protocol, transport))
    return factory, pairs, clock


def test_decisions_answered_later_and_out_of_order_reach_their_own_connections() -> None:
    """Two connections wait for their decisions; answered in reverse order, each gets its own,
    and neither is blocked meanwhile."""
    decider = LaterDecider()
    _, [(a, ta), (b, tb)], _ = _connect_many(decider, [asking(), asking()])
    a.dataReceived(b"x")
    b.dataReceived(b"y")
    assert ta.value() == tb.value() == b"challenge-answered"
    decider.asked[1].callback(Decision(DecisionKind.VALID_CLIENT, "for b"))
    assert tb.value().endswith(b"license:for b") and tb.half_closed
    assert ta.value() == b"challenge-answered" and not ta.disconnecting
    decider.asked[0].callback(Decision(DecisionKind.VALID_CLIENT, "for a"))
    assert ta.value().endswith(b"license:for a") and ta.half_closed


def test_a_failing_license_server_gets_err_no_license_server() -> None:
    """A decider whose Deferred fails: the machine is told, and the client gets its error."""

    class Failing:
        def decide(self, question: object, now: datetime) -> defer.Deferred[Decision]:
            return defer.fail(OSError("database unreachable"))

    _, [(protocol, transport)], _ = _connect_many(Failing(), [asking()])
    with capturedLogs() as events:
        protocol.dataReceived(b"x")
    assert transport.value().endswith(b"ERR_NO_LICENSE_SERVER")
    assert any("database unreachable" in str(e.get("reason")) for e in events)


def test_a_waiting_connection_keeps_its_timers() -> None:
    """A decision that takes too long: the idle timeout still closes the connection, and the
    decision that arrives afterwards is dropped."""
    decider = LaterDecider()
    _, [(protocol, transport)], clock = _connect_many(
        decider, [asking()], ServerLimits(idle_timeout=5, total_timeout=60)
    )
    protocol.dataReceived(b"x")
    clock.advance(5)
    assert transport.aborted
    _lost(protocol)
    decider.asked[0].callback(Decision(DecisionKind.VALID_CLIENT, "too late"))
    assert b"license" not in transport.value()


class GroupStore:
    """A GROUPED store: each decision leaves a change pending until commit_group."""

    durability = Durability.GROUPED

    def __init__(self, *, fail: bool = False) -> None:
        self.uncommitted = False
        self.commits = 0
        self.fail = fail

    def commit_group(self) -> None:
        self.uncommitted = False
        if self.fail:
            raise StoreError("disk full")
        self.commits += 1


class WritingPolicy:
    """Decides VALID_CLIENT and leaves a change in the store (a license issued)."""

    def __init__(self, store: GroupStore) -> None:
        self.store = store

    def decide(self, question: object, now: datetime) -> Ruling:
        self.store.uncommitted = True
        return Ruling(Decision(DecisionKind.VALID_CLIENT, "issued"))


def test_decisions_of_one_turn_share_one_commit_and_wait_for_it() -> None:
    """Two connections' decisions reach them only after one group commit at the end of the
    reactor turn: no license leaves before it is durable."""
    store = GroupStore()
    clock = Clock()
    decider = InlineDecider(WritingPolicy(store), store, clock)  # type: ignore[arg-type]
    factory, [(a, ta), (b, tb)], _ = _connect_many(decider, [asking(), asking()])
    factory.reactor = clock
    a.dataReceived(b"x")
    b.dataReceived(b"y")
    assert ta.value() == tb.value() == b"challenge-answered"
    assert store.commits == 0
    clock.advance(0)
    assert store.commits == 1
    assert ta.value().endswith(b"license:issued") and tb.value().endswith(b"license:issued")


def test_a_failed_group_commit_refuses_its_clients() -> None:
    """If the group commit fails, the decisions are void: no license leaves, the clients are
    told ERR_NO_LICENSE_SERVER, and the failure is logged."""
    store = GroupStore(fail=True)
    clock = Clock()
    decider = InlineDecider(WritingPolicy(store), store, clock)  # type: ignore[arg-type]
    _, [(protocol, transport)], _ = _connect_many(decider, [asking()])
    protocol.dataReceived(b"x")
    with capturedLogs() as events:
        clock.advance(0)
    assert b"license:" not in transport.value()
    assert transport.value().endswith(b"ERR_NO_LICENSE_SERVER")
    assert any("store commit failed" in str(e.get("log_format")) for e in events)


def test_a_decision_that_changed_nothing_is_not_held() -> None:
    """With nothing uncommitted (a valid client), the decision is handed over at once."""

    class ReadingPolicy:
        def decide(self, question: object, now: datetime) -> Ruling:
            return Ruling(Decision(DecisionKind.VALID_CLIENT, "valid"))

    store = GroupStore()
    clock = Clock()
    decider = InlineDecider(ReadingPolicy(), store, clock)  # type: ignore[arg-type]
    _, [(protocol, transport)], _ = _connect_many(decider, [asking()])
    protocol.dataReceived(b"x")
    assert transport.value().endswith(b"license:valid") and store.commits == 0
