"""The Twisted side of the simulated client: drive `ClientConnection` over TCP (and TLS).

Benchmarks and tests use it to run the project's own client against ``rdplic serve`` (or
any RDP server): `license_once` connects, runs the connection sequence and licensing, and
fires with a `ClientOutcome` when the server ends the connection.  Like `rdplic.net.server`
this module only moves bytes and applies a timeout; the protocol is the core's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import ClientFactory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure

from rdplic.core import events as lic
from rdplic.core.connection_client import ClientConnection
from rdplic.core.connection_events import (
    ConnectionEnded,
    ErrorInfoReceived,
    SecurityNegotiated,
)
from rdplic.core.errors import ConnectionProtocolError
from rdplic.net.capture import PcapngWriter
from rdplic.net.tls import TlsError, TlsSession
from rdplic.net.tls import client_tls_context as _client_tls_context
from rdplic.vocabulary import Outcome

__all__ = [
    "ClientOutcome",
    "RdpClientProtocol",
    "client_tls_context",
    "license_once",
    "open_client_capture",
]


def open_client_capture(path: str) -> PcapngWriter:
    """The capture of ``rdplic client --capture FILE``: the same pcapng writer as
    ``rdplic serve --capture`` (rdplic.net.capture), one TCP stream per connection, holding
    the bytes the client's connection machine sent and received (after TLS).  Capture
    replay reads what this writes; extend it here, not in the command."""
    from pathlib import Path

    return PcapngWriter(Path(path))


@dataclasses.dataclass(slots=True)
class ClientOutcome:
    """How one simulated client's connection went.

    :ivar licensed: licensing completed (license stored, upgraded or valid client)
    :ivar events: every event the client machine reported, in order
    :ivar error: why it failed, "" when it ended normally
    :ivar elapsed: seconds from connect to close
    :ivar failure: how the connection failed when the transport or the protocol did
        (`Outcome.TLS_FAILED`, `PROTOCOL_ERROR`, `CONNECTION_FAILED`, `TIMEOUT`), None
        otherwise (licensing's own outcome is read from ``events``)
    """

    licensed: bool = False
    error_info: int | None = None
    events: list[object] = dataclasses.field(default_factory=list)
    error: str = ""
    elapsed: float = 0.0
    started: float = 0.0
    failure: Outcome | None = None


def client_tls_context() -> Any:
    """A TLS client context that accepts any server certificate (a test client, as
    ``xfreerdp /cert:ignore``)."""
    return _client_tls_context()


_LICENSED = (lic.NewLicenseReceived, lic.UpgradedLicenseReceived, lic.ValidClient)


class RdpClientProtocol(TwistedProtocol):
    """Feeds a `ClientConnection` and carries out what it asks.

    Once the server selects TLS the machine waits; a `TlsSession` between the socket and
    the machine starts the handshake, gets whatever the server sent after its Connection
    Confirm, and the machine goes on once the handshake has completed.
    """

    def __init__(
        self,
        core: ClientConnection,
        done: defer.Deferred[ClientOutcome],
        *,
        now: Callable[[], datetime],
        tls_context: Callable[[], Any],
        capture: PcapngWriter | None = None,
    ) -> None:
        self._capture = capture
        self._stream = 0
        self._trailing = b""
        self._core = core
        self._done = done
        self._now = now
        self._tls_context = tls_context
        self._tls: TlsSession | None = None
        self._out: list[bytes] = []
        self.outcome = ClientOutcome()

    def connectionMade(self) -> None:
        self.outcome.started = time.monotonic()
        transport: Any = self.transport
        transport.setTcpNoDelay(True)  # whole PDUs per write: no Nagle delay
        if self._capture is not None:
            local, peer = transport.getHost(), transport.getPeer()
            self._stream = self._capture.open_stream(
                (local.host, local.port), (peer.host, peer.port)
            )
        self._core.start()
        self._flush()
        self._push()

    def dataReceived(self, data: bytes) -> None:
        try:
            self._received(data)
        finally:
            self._push()

    def _received(self, data: bytes) -> None:
        tls = self._tls
        if tls is not None:
            was_established = tls.established
            try:
                data, records = tls.receive(data)
            except TlsError as error:
                self.outcome.error = f"TLS: {error}"
                self.outcome.failure = Outcome.TLS_FAILED
                self._write(tls.pending())
                self._push()
                self._abort()
                return
            self._write(records)
            if tls.established and not was_established and self._core.awaiting_tls:
                self._core.tls_established(self._now())
                self._drain()
            if not data:
                return
        try:
            self._core.receive_data(data, self._now())
        except ConnectionProtocolError as error:
            self.outcome.error = error.reason
            self.outcome.failure = Outcome.PROTOCOL_ERROR
        if self._capture is not None:
            if tls is None and self._core.awaiting_tls:
                # The frame that selected TLS: what followed it is TLS, not RDP, and stays
                # out of the capture (taken here, handed to the TLS layer by _drain).
                self._trailing = self._core.trailing_data
                data = data[: len(data) - len(self._trailing)]
            self._capture.record(self._stream, False, data)
        self._drain()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._core.connection_lost()
        self._drain(closing=True)
        if self.outcome.error == "" and not self.outcome.licensed and reason is not None:
            self.outcome.error = reason.getErrorMessage()
        self.outcome.elapsed = time.monotonic() - self.outcome.started
        if self._capture is not None:
            self._capture.close_stream(self._stream)
        if not self._done.called:
            self._done.callback(self.outcome)

    def _flush(self) -> None:
        data = self._core.data_to_send()
        if data and self._capture is not None:
            self._capture.record(self._stream, True, data)
        if data and self._tls is not None:
            data = self._tls.send(data)
        self._write(data)

    def _write(self, data: bytes) -> None:
        """Queue bytes for the socket; `_push` sends what one step produced in one write."""
        if data:
            self._out.append(data)

    def _push(self) -> None:
        out, self._out = self._out, []
        transport: Any = self.transport
        if out and transport is not None:
            transport.write(b"".join(out))

    def _abort(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.abortConnection()

    def _drain(self, *, closing: bool = False) -> None:
        transport: Any = self.transport
        while (event := self._core.next_event()) is not None:
            self.outcome.events.append(event)
            if isinstance(event, SecurityNegotiated) and event.start_tls and not closing:
                self._tls = TlsSession(self._tls_context(), server_side=False)
                self._write(self._tls.start())  # the ClientHello
                trailing, self._trailing = self._trailing or self._core.trailing_data, b""
                if trailing:  # the server's first TLS bytes came with its Confirm
                    self._received(trailing)
            elif isinstance(event, _LICENSED):
                self.outcome.licensed = True
            elif isinstance(event, ErrorInfoReceived):
                self.outcome.error_info = event.error_info
            elif isinstance(event, ConnectionEnded) and not closing:
                self._flush()
                if self._tls is not None and self._tls.established:
                    self._write(self._tls.close())
                self._push()
                transport.loseConnection()
                return
        if not closing:
            self._flush()


class _OneShotFactory(ClientFactory):
    noisy = False

    def __init__(self, protocol: RdpClientProtocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Any) -> RdpClientProtocol:
        return self._protocol

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._protocol.outcome.error = reason.getErrorMessage()
        self._protocol.outcome.failure = Outcome.CONNECTION_FAILED
        done = self._protocol._done
        if not done.called:
            done.callback(self._protocol.outcome)


def license_once(
    reactor: Any,
    host: str,
    port: int,
    core: ClientConnection,
    *,
    timeout: float = 30.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    tls_context: Callable[[], Any] = client_tls_context,
    capture: PcapngWriter | None = None,
) -> defer.Deferred[ClientOutcome]:
    """Connect to ``host:port``, run ``core`` until the server ends the connection
    (recording it into ``capture``, `open_client_capture`, when given)."""
    done: defer.Deferred[ClientOutcome] = defer.Deferred()
    protocol = RdpClientProtocol(core, done, now=now, tls_context=tls_context, capture=capture)
    connector = reactor.connectTCP(host, port, _OneShotFactory(protocol), timeout=timeout)

    def expire() -> None:
        if not done.called:
            protocol.outcome.error = f"no end after {timeout:g} s"
            protocol.outcome.failure = Outcome.TIMEOUT
            connector.disconnect()

    call = reactor.callLater(timeout, expire)

    def cancel(outcome: ClientOutcome) -> ClientOutcome:
        if call.active():
            call.cancel()
        return outcome

    done.addBoth(cancel)
    return done
