"""The Twisted side of ``rdplic serve``: a Protocol per TCP connection and their Factory.

This module moves bytes between sockets and the sans-IO connection machine
(`rdplic.core.connection_server`), and applies timeouts and limits; it holds no protocol
logic (architecture invariant 8).  The machine says when to start TLS and when the
connection is over; this module flushes, starts TLS or closes, and logs.

Limits, each with the reason for it:

* ``max_connections``: open connections at once; one more is closed at accept time, so a
  flood of idle sockets cannot exhaust memory or file descriptors.
* ``idle_timeout``: seconds without a byte from the client; a client that stops talking
  holds a slot for no more than this.
* ``total_timeout``: seconds from accept to close, whatever the client does; a slow
  trickle of bytes cannot hold a slot forever.
* The largest frame the machine accepts is its own setting (``max_frame_size``): framing
  happens before decoding, in the core.

A peer's mistake never reaches beyond its own connection: `ConnectionProtocolError` and
any failure while handling one connection's bytes are logged and that connection closed.

TLS (architecture invariant 9): once the machine selects PROTOCOL_SSL it reads nothing
more.  The adapter sends the Connection Confirm, puts a `rdplic.net.tls.TlsSession` between
the TCP transport and the machine, and gives it every byte the client sent after its
Connection Request (a ClientHello in the same write works, as with Windows; plaintext RDP
there fails the handshake and the connection is dropped and logged); the machine hears
from the connection again only after the handshake completed.  Twisted only moves the
TCP bytes: no ``startTLS``.
No received or sent bytes are logged at any level: after the Security Exchange they carry
the Client Info password and licensing secrets.  At debug level the machine's events are
logged; they never carry keys or passwords.

Decisions: when the machine emits `DecisionNeeded`, the adapter asks the factory's
`Decider` (`rdplic.net.decider`) and hands the answer to the machine when its Deferred
fires: at once, at the end of the reactor turn (group commit), or later; meanwhile other
connections go on and this one keeps its timers.  The Deferred fires only once the
decision's change to the store is durable, so a license a client receives is always in
the store.  If it fails, the client is told ERR_NO_LICENSE_SERVER.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer, tcp
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from rdplic.core import events as lic
from rdplic.core.connection_events import (
    ClientDataReceived,
    ClientInfoReceived,
    ConnectionEnded,
    SecurityNegotiated,
)
from rdplic.core.decisions import Decision
from rdplic.core.errors import ConnectionProtocolError
from rdplic.net.decider import Decider
from rdplic.net.tls import TlsError, TlsSession
from rdplic.vocabulary import Outcome, rfc3339

__all__ = [
    "ConnectionCore",
    "EagerPort",
    "RdpServerFactory",
    "RdpServerProtocol",
    "ServerLimits",
    "listen_tcp",
]


class ConnectionCore(Protocol):
    """What the adapter needs of a sans-IO server connection machine."""

    def receive_data(self, data: bytes, now: datetime) -> None: ...

    def next_event(self) -> object | None: ...

    def data_to_send(self) -> bytes: ...

    @property
    def awaiting_tls(self) -> bool: ...

    @property
    def trailing_data(self) -> bytes: ...

    def tls_established(self, now: datetime) -> None: ...

    def decide(self, decision: Decision, now: datetime) -> None: ...

    def decision_failed(self, reason: str, now: datetime) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-process and per-connection limits (see the module docstring for the reasons)."""

    max_connections: int = 10_000
    idle_timeout: float = 30.0
    total_timeout: float = 120.0
    close_grace: float = 2.0
    """Seconds a closing connection may wait for its peer (a TLS peer that never answers
    close_notify) before it is aborted."""


@dataclasses.dataclass(slots=True)
class _Summary:
    """What one connection did, for its one log line (`connection_record`)."""

    peer: str
    security: str = ""
    client_name: str = ""
    user_name: str = ""
    machine_name: str = ""
    hwid: str = ""
    outcome: Outcome | None = None
    """None while licensing has not ended (`Outcome.ENDED` in the log line)."""
    license_id: int | None = None
    temporary: bool | None = None
    expires: datetime | None = None
    error: str = ""

    def absorb(self, client: lic.ClientSummary) -> None:
        if client.hwid:
            self.hwid = client.hwid.hex()
        if client.machine_name:
            self.machine_name = client.machine_name
        if client.user_name and not self.user_name:
            self.user_name = client.user_name


def connection_record(summary: _Summary, duration_seconds: float) -> dict[str, Any]:
    """The connection line's keys (`rdplic.net.logs.CONNECTION_KEYS`) in the vocabulary of
    `rdplic.vocabulary`: the client name of the Client Core Data (else of the licensing
    request), ids as integers, the expiry RFC 3339 UTC, ``null`` for what is unknown."""
    return {
        "peer": summary.peer,
        "security": summary.security or None,
        "client_name": summary.client_name or summary.machine_name or None,
        "user_name": summary.user_name or None,
        "hwid": summary.hwid or None,
        "outcome": str(summary.outcome or Outcome.ENDED),
        "license_id": summary.license_id,
        "temporary": summary.temporary,
        "expires": rfc3339(summary.expires),
        "duration_seconds": duration_seconds,
        "error": summary.error,
    }


def _licensed(summary: _Summary, outcome: Outcome, issued: lic.LicenseSummary | None) -> None:
    summary.outcome = outcome
    if issued is not None:
        license_id = str(issued.license_id or "")
        summary.license_id = int(license_id) if license_id.isdigit() else None
        summary.temporary = issued.temporary
        summary.expires = issued.expires_at


class RdpServerProtocol(TwistedProtocol):
    """One client connection: feeds the machine and carries out what it asks."""

    _log = Logger()

    def __init__(
        self, factory: RdpServerFactory, core: ConnectionCore, peer: str, hostile: Any = None
    ) -> None:
        self._factory = factory
        self._core = core
        self._summary = _Summary(peer=peer)
        self._started = 0.0
        # Twisted's zope interfaces do not type-check as classes: delayed calls are Any.
        self._idle: Any = None
        self._total: Any = None
        self._closing = False
        self._now: Callable[[], datetime] = factory.now
        self._lost = False
        self._tls: TlsSession | None = None
        self._out: list[bytes] = []
        self._capture_id = 0
        self._grace: Any = None
        self._question: lic.DecisionNeeded | None = None
        """The machine's question, asked once the events of this step are handled."""
        # -- hostile-server mode (rdplic.hostile): mutates what the machine sends in clear
        # (the machine itself was given the same connection's strategy for what it encrypts)
        self._hostile: Any = hostile

    def summary(self) -> dict[str, Any]:
        """What the connection did so far, as its log line says it (`connection_record`),
        for whoever watches the factory (the web page's live connections); ``outcome`` is
        None while the connection is open and licensing has not ended."""
        record = connection_record(self._summary, round(time.monotonic() - self._started, 3))
        if self._summary.outcome is None and not self._lost:
            record["outcome"] = None
        return record

    # -- Twisted's interface -------------------------------------------------------

    def connectionMade(self) -> None:
        self._started = time.monotonic()
        self._now = self._factory.connection_clock()
        transport: Any = self.transport
        # Every write is a whole PDU (or the TLS records of one): no Nagle delay, which
        # with the peer's delayed ACK stalls a second small write by tens of ms.
        transport.setTcpNoDelay(True)
        limits = self._factory.limits
        clock = self._factory.reactor
        self._idle = clock.callLater(limits.idle_timeout, self._timed_out, "idle")
        self._total = clock.callLater(limits.total_timeout, self._timed_out, "total")
        self._factory.connection_opened(self)
        capture = self._factory.capture
        if capture is not None:
            peer, host = transport.getPeer(), transport.getHost()
            self._capture_id = capture.open_stream(
                (peer.host, peer.port), (host.host, host.port), self._core
            )

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        if self._idle is not None and self._idle.active():
            self._idle.reset(self._factory.limits.idle_timeout)
        try:
            if self._tls is not None:
                self._tls_received(data)
            else:
                self._plaintext_received(data)
        finally:
            self._push()

    def _plaintext_received(self, data: bytes) -> None:
        self._step(lambda: self._core.receive_data(data, self._now()))

    def _tls_received(self, data: bytes) -> None:
        """Ciphertext: through the TLS session; the machine gets the plaintext, and hears
        that TLS is established once the handshake has completed."""
        tls = self._tls
        assert tls is not None  # INVARIANT: called only under TLS
        was_established = tls.established
        try:
            plaintext, records = tls.receive(data)
        except TlsError as error:
            self._write(tls.pending())  # the alert, if OpenSSL made one
            if not tls.established:
                self._summary.outcome = Outcome.TLS_FAILED
            self._summary.error = f"TLS: {error}"
            self._close()  # the alert, then FIN: a reset could destroy it unread
            return
        self._write(records)
        if tls.established and not was_established and self._core.awaiting_tls:
            self._step(lambda: self._core.tls_established(self._now()))
        if plaintext and not self._closing:
            self._plaintext_received(plaintext)
        if tls.peer_closed and not self._closing:
            self._close()

    def _step(self, step: Callable[[], None]) -> None:
        """Run one step of the machine, then carry out what it asks for."""
        try:
            step()
        except ConnectionProtocolError as error:
            self._summary.outcome = Outcome.PROTOCOL_ERROR
            self._summary.error = error.reason
            self._drain_events()
            self._close()
            return
        except Exception:
            # A bug in our own code, not the peer's fault; still only this connection goes.
            self._log.failure("internal error on {peer}", peer=self._summary.peer)
            self._summary.outcome = Outcome.INTERNAL_ERROR
            self._close(abort=True)
            return
        self._drain_events()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lost = True
        capture = self._factory.capture
        if capture is not None and self._capture_id:
            capture.close_stream(self._capture_id)
            self._capture_id = 0
        for call in (self._idle, self._total, self._grace):
            if call is not None and call.active():
                call.cancel()
        self._idle = self._total = self._grace = None
        tls = self._tls
        if tls is not None and not tls.established and self._summary.outcome is None:
            self._summary.outcome = Outcome.TLS_FAILED  # the client left during the handshake
        if self._summary.outcome in (None, Outcome.TLS_FAILED) and not self._summary.error:
            self._summary.error = reason.getErrorMessage() if reason is not None else ""
        duration = round(time.monotonic() - self._started, 4)
        record = connection_record(self._summary, duration)
        # The text line shows what is unknown as "-"; the JSON line (rdplic.net.logs)
        # takes the typed values of ``connection``.
        shown = {key: "-" if value is None else value for key, value in record.items()}
        self._log.info(
            "connection {peer} {security} client={client!r} user={user!r} hwid={hwid} "
            "outcome={outcome} license={license_id} temporary={temporary} expires={expires} "
            "error={error!r} in {duration_seconds}s",
            connection=record,
            client=record["client_name"] or "",
            user=record["user_name"] or "",
            **{key: shown[key] for key in ("peer", "security", "hwid", "outcome")},
            **{key: shown[key] for key in ("license_id", "temporary", "expires", "error")},
            duration_seconds=duration,
        )
        if self._hostile is not None:
            self._log_hostile(reason)
        self._factory.connection_closed(self)

    def _log_hostile(self, reason: Failure | None) -> None:
        """The hostile-server line: profile, seed, what was mutated, how the client reacted."""
        from twisted.internet.error import ConnectionDone

        reset = reason is not None and not isinstance(reason.value, ConnectionDone)
        record = self._hostile.record(self._summary.outcome, reset)
        self._log.info(
            "hostile {peer} profile={hostile_profile} seed={hostile_seed} "
            "connection={hostile_connection} reaction={reaction} mutations={mutations!r}",
            hostile=record,
            peer=self._summary.peer,
            **record,
        )

    # -- driving the machine ---------------------------------------------------------

    def _flush(self) -> None:
        data = self._core.data_to_send()
        if data:
            self._send(data)

    def _send(self, data: bytes) -> None:
        """Plaintext from the machine: to the socket, through TLS when it is on (a
        capture's `rdplic.capture.recorder.RecordingCore` recorded it already; a hostile
        mutation is told to it as ``altered``)."""
        if self._hostile is not None:  # after the machine's encryption, before TLS
            produced, data = data, self._hostile.mutate(data)
            altered = getattr(self._core, "altered", None)
            if altered is not None and data != produced:
                altered(produced, data)
        if self._tls is not None:
            try:
                data = self._tls.send(data)
            except TlsError as error:  # pragma: no cover - the machine waits for the handshake
                self._summary.error = f"TLS: {error}"
                self._close(abort=True)
                return
        self._write(data)

    def _write(self, data: bytes) -> None:
        """Queue bytes for the socket; `_push` writes what one step produced at once (one
        send where TLS records and the PDUs they follow would make several)."""
        if data:
            self._out.append(data)

    def _push(self) -> None:
        out, self._out = self._out, []
        transport: Any = self.transport
        if out and transport is not None:
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _drain_events(self) -> None:
        """Handle every queued event in order, flushing before anything that needs it."""
        while True:
            event = self._core.next_event()
            if event is None:
                break
            if self._factory.debug:
                self._log.debug("{peer} {event!r}", peer=self._summary.peer, event=event)
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        self._flush()
        question, self._question = self._question, None
        if question is not None and not self._closing:
            self._ask(question)

    # -- decisions ---------------------------------------------------------------------

    def _on_decision_needed(self, event: Any) -> None:
        assert isinstance(event, lic.DecisionNeeded)
        who = event.client
        self._summary.absorb(
            lic.ClientSummary(who.platform_id, who.user_name, who.machine_name, who.hwid)
        )
        self._question = event  # asked once this step's output is flushed

    def _ask(self, question: lic.DecisionNeeded) -> None:
        asked = self._factory.decider.decide(question, self._now())
        asked.addCallbacks(self._decided, self._undecided)

    def _decided(self, decision: Decision) -> None:
        if self._closing or self._lost:
            return  # the client went away while the license server decided
        self._step(lambda: self._core.decide(decision, self._now()))
        self._push()

    def _undecided(self, failure: Failure) -> None:
        if self._closing or self._lost:
            return
        reason = failure.getErrorMessage() or repr(failure.value)
        self._log.error(
            "license server failed for {peer}: {reason}", peer=self._summary.peer, reason=reason
        )
        self._step(lambda: self._core.decision_failed(reason, self._now()))
        self._push()

    def _on_security(self, event: Any) -> None:
        assert isinstance(event, SecurityNegotiated)
        self._summary.security = "tls" if event.start_tls else "rdp"
        if event.start_tls:
            self._flush()
            context = self._factory.tls
            if context is None:  # the machine only selects TLS when it is configured
                self._close(abort=True)
                return
            self._tls = TlsSession(context, server_side=True)
            trailing = self._core.trailing_data
            if trailing:
                # What the client sent after its Connection Request belongs to TLS: its
                # ClientHello, or plaintext that fails the handshake.
                self._tls_received(trailing)

    def _on_client_data(self, event: Any) -> None:
        assert isinstance(event, ClientDataReceived)
        self._summary.client_name = event.client_name

    def _on_client_info(self, event: Any) -> None:
        assert isinstance(event, ClientInfoReceived)
        self._summary.user_name = event.user_name

    def _on_new_license(self, event: Any) -> None:
        assert isinstance(event, lic.NewLicenseIssued)
        self._summary.absorb(event.client)
        _licensed(self._summary, Outcome.NEW_LICENSE, event.license)

    def _on_upgraded(self, event: Any) -> None:
        assert isinstance(event, lic.LicenseUpgraded)
        self._summary.absorb(event.client)
        outcome = Outcome.REISSUED if event.reissued_old else Outcome.UPGRADED
        _licensed(self._summary, outcome, event.license)

    def _on_valid_client(self, event: Any) -> None:
        assert isinstance(event, lic.ValidClient)
        self._summary.absorb(event.client)
        _licensed(self._summary, Outcome.VALID_CLIENT, event.license)

    def _on_client_seen(self, event: Any) -> None:
        client = getattr(event, "client", None)
        if isinstance(client, lic.ClientSummary):
            self._summary.absorb(client)

    def _on_failed(self, event: Any) -> None:
        assert isinstance(event, lic.LicensingFailed)
        self._summary.absorb(event.client)
        self._summary.outcome = _FAILED.get(event.origin, Outcome.REFUSED)
        self._summary.error = f"{event.reason} (error 0x{event.error_code:x})"

    def _on_ended(self, event: Any) -> None:
        assert isinstance(event, ConnectionEnded)
        if not event.licensed and self._summary.outcome is None:
            self._summary.outcome = Outcome.ENDED
            self._summary.error = event.reason
        self._flush()
        self._close()

    # -- ending ------------------------------------------------------------------------

    def _timed_out(self, which: str) -> None:
        if which == "idle":
            self._idle = None
        else:
            self._total = None
        if self._closing:
            return
        self._summary.outcome = Outcome.TIMEOUT
        self._summary.error = f"{which} timeout"
        self._close(abort=True)

    def _close(self, *, abort: bool = False) -> None:
        transport: Any = self.transport
        if self._closing or transport is None:
            return
        if not abort:
            self._flush()
        self._closing = True
        if abort:
            self._out = []  # nothing more leaves
            transport.abortConnection()
            return
        if self._tls is not None and self._tls.established:
            self._write(self._tls.close())  # close_notify
        self._push()
        # Half-close: the client gets our last PDUs and EOF even while it is still
        # sending (FreeRDP does once it is active); closing both ways would answer
        # its data with a reset that can destroy our last PDUs unread.
        transport.loseWriteConnection()
        # A peer that never closes its side is dropped after close_grace.
        self._grace = self._factory.reactor.callLater(
            self._factory.limits.close_grace, self._force_close
        )

    def _force_close(self) -> None:
        self._grace = None
        transport: Any = self.transport
        if not self._lost and transport is not None:
            transport.abortConnection()

    def abort(self) -> None:
        """Close now (shutdown grace period over)."""
        if self._summary.outcome is None:
            self._summary.error = "server shutting down"
        self._close(abort=True)


_FAILED = {
    lic.FailureOrigin.REFUSED: Outcome.REFUSED,
    lic.FailureOrigin.PEER: Outcome.REFUSED,
    lic.FailureOrigin.PROTOCOL: Outcome.PROTOCOL_ERROR,
    lic.FailureOrigin.TIMEOUT: Outcome.TIMEOUT,
    lic.FailureOrigin.SERVICE: Outcome.INTERNAL_ERROR,
}
"""The connection's outcome for each way licensing can fail (a licensing error the client
sent counts as refused: licensing ended on a licensing error)."""

_HANDLERS: dict[type, Callable[[RdpServerProtocol, Any], None]] = {
    SecurityNegotiated: RdpServerProtocol._on_security,
    ClientDataReceived: RdpServerProtocol._on_client_data,
    ClientInfoReceived: RdpServerProtocol._on_client_info,
    lic.DecisionNeeded: RdpServerProtocol._on_decision_needed,
    lic.LicenseRequested: RdpServerProtocol._on_client_seen,
    lic.LicensePresented: RdpServerProtocol._on_client_seen,
    lic.PlatformChallengeAnswered: RdpServerProtocol._on_client_seen,
    lic.NewLicenseIssued: RdpServerProtocol._on_new_license,
    lic.LicenseUpgraded: RdpServerProtocol._on_upgraded,
    lic.ValidClient: RdpServerProtocol._on_valid_client,
    lic.LicensingFailed: RdpServerProtocol._on_failed,
    ConnectionEnded: RdpServerProtocol._on_ended,
}


class RdpServerFactory(Factory):
    """Owns what connections share: the machine factory, TLS context, clock and limits.

    :param make_core: a new connection machine for each accepted connection
    :param decider: answers the licensing core's questions (`rdplic.net.decider`)
    :param now: the licensing clock (real time plus the administrator's offset)
    :param debug: log every frame's bytes and every event at debug level
    :param connection_clock: makes the clock of one connection (called at accept); by
        default every connection uses ``now``.  ``rdplic serve`` reads the administrator's
        offset from the store once per connection this way, not once per packet.
    :param tls: the context for connections that select PROTOCOL_SSL, None without TLS
    :param capture: a `rdplic.capture.recorder.CaptureRecorder`, whose machines
        (``make_core`` returning `ServerApp.make_recorded_connection`'s) record what they
        are given and send; the protocol opens and closes each connection's stream in it
    """

    _log = Logger()

    def __init__(
        self,
        make_core: Callable[[], ConnectionCore],
        decider: Decider,
        *,
        now: Callable[[], datetime],
        reactor: Any,
        tls: Any = None,
        limits: ServerLimits = ServerLimits(),
        capture: Any = None,
        connection_clock: Callable[[], Callable[[], datetime]] | None = None,
        debug: bool = False,
        hostile: Any = None,
    ) -> None:
        self._make_core = make_core
        self.hostile = hostile
        """`rdplic.hostile.HostileServer` in hostile-server mode, else None; then
        ``make_core`` takes the connection's `rdplic.hostile.HostileConnection`."""
        self.decider = decider
        self.noisy = False  # one line per connection is enough; no "Starting factory"
        self.now = now
        self.connection_clock = connection_clock or (lambda: now)
        # Debug lines (every PDU's bytes and every event) cost even when filtered out later.
        self.debug = debug
        self.reactor = reactor
        self.tls = tls
        self.capture = capture
        self.limits = limits
        self.active: set[RdpServerProtocol] = set()
        self.accepting = True
        self._idle_waiters: list[defer.Deferred[None]] = []
        self.refused = 0
        self.watchers: list[Callable[[str, RdpServerProtocol], None]] = []
        """Called with ("opened" | "closed", the connection) as connections come and go."""

    def buildProtocol(self, addr: IAddress) -> RdpServerProtocol | None:  # type: ignore[override]
        if not self.accepting:
            return None
        if len(self.active) >= self.limits.max_connections:
            self.refused += 1
            self._log.warn(
                "refusing {peer}: {count} connections open (limit {limit})",
                peer=_peer(addr),
                count=len(self.active),
                limit=self.limits.max_connections,
            )
            return None
        if self.hostile is None:
            return RdpServerProtocol(self, self._make_core(), _peer(addr))
        # One hostile strategy per connection, shared by the machine (the licensing PDUs it
        # encrypts) and this adapter (what goes out in clear): one seeded generator.
        hostile = self.hostile.connection()
        core = self._make_core(hostile)  # type: ignore[call-arg]
        return RdpServerProtocol(self, core, _peer(addr), hostile)

    def connection_opened(self, protocol: RdpServerProtocol) -> None:
        self.active.add(protocol)
        for watcher in self.watchers:
            watcher("opened", protocol)

    def connection_closed(self, protocol: RdpServerProtocol) -> None:
        self.active.discard(protocol)
        for watcher in self.watchers:
            watcher("closed", protocol)
        if not self.active:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def wait_idle(self, grace: float) -> defer.Deferred[None]:
        """Stop accepting; fire when every open connection has ended, or after ``grace``
        seconds, when the ones left are aborted."""
        self.accepting = False
        if not self.active:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._idle_waiters.append(waiter)

        def expire() -> None:
            for protocol in list(self.active):
                protocol.abort()

        call = self.reactor.callLater(grace, expire)

        def done(result: None) -> None:
            if call.active():
                call.cancel()
            return result

        waiter.addBoth(done)
        return waiter


def _peer(addr: IAddress) -> str:
    host = getattr(addr, "host", None)
    port = getattr(addr, "port", None)
    if host is None:
        return str(addr)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the listening socket --------------------------------------------------------------


_queue: Any = tcp.Server.write  # Twisted's queueing write (untyped)


def _eager_write(connection: Any, data: bytes) -> None:
    """Send ``data`` on ``connection`` now if nothing is queued; queue what is left.

    Reads Twisted's private write state (``_tempDataBuffer``, ``_writeDisconnected``) to
    know that nothing is queued: tests/net/test_twisted_internals.py checks that those
    names still mean what this expects, and pyproject.toml pins Twisted to the tested
    range.
    """
    if (
        not data
        or not connection.connected
        or connection.disconnecting
        or connection._writeDisconnected
        or connection.dataBuffer
        or connection._tempDataBuffer
        or connection.producer is not None
    ):
        _queue(connection, data)
        return
    sent = connection.writeSomeData(data)
    if not isinstance(sent, int):  # connection lost: let the usual path find out
        _queue(connection, data)
    elif sent < len(data):
        _queue(connection, data[sent:])


class EagerServer(tcp.Server):
    """A TCP server transport that sends at once when nothing is queued.

    Twisted queues every write and sends it on the next reactor turn: each write costs
    registering the socket for writability and unregistering it again (two epoll_ctl
    calls under the asyncio reactor) and a loop iteration.  A licensing handshake is
    seven request/answer round trips, each answer a few hundred bytes that fit the
    socket's buffer, so this transport tries ``send`` first and queues only what the
    kernel did not take, the way asyncio's own transports do.  Anything unusual (data
    already queued, a producer, a closing connection) takes Twisted's usual path, so
    ordering and closing are unchanged.  TLS records are plain bytes to it
    (`rdplic.net.tls.TlsSession` makes them), so they are sent eagerly too.
    """

    def write(self, data: bytes) -> None:
        _eager_write(self, data)


class EagerPort(tcp.Port):
    """A listening TCP port whose connections are `EagerServer` transports."""

    transport = EagerServer


def listen_tcp(
    reactor: Any, port: int, factory: Any, *, backlog: int = 50, interface: str = ""
) -> Any:
    """What ``reactor.listenTCP`` does, with `EagerPort` (an IListeningPort; Twisted's
    zope interfaces do not type-check as classes, hence Any)."""
    listening: Any = EagerPort(port, factory, backlog, interface, reactor)
    listening.startListening()
    return listening


def adopt_tcp(reactor: Any, fd: int, factory: Any) -> Any:
    """An `EagerPort` on a socket already listening (``rdplic serve --workers``: the
    supervisor opened it before forking; the descriptor is duplicated, not taken)."""
    family = _family(fd)
    adopt: Any = EagerPort._fromListeningDescriptor  # untyped in Twisted
    listening: Any = adopt(reactor, fd, family, factory)
    listening.startListening()
    return listening


def _family(fd: int) -> int:
    with socket.socket(fileno=os.dup(fd)) as probe:
        return int(probe.family)
