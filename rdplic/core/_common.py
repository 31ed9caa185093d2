"""Pieces both licensing machines use: clock values, text fields, framing, PDU building,
and `MachineBase`, the half of a machine that does not depend on its role.

Nothing here reads a clock or draws randomness of its own: ``now`` is whatever
the driver passes in, and random bytes come from the machine's injected source.
"""

from __future__ import annotations

import abc
import struct
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import ClassVar, Generic

from rdplic.core.errors import (
    InvalidMessageLength,
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
    UnexpectedMessage,
)
from rdplic.core.events import (
    ClientSummary,
    Event,
    FailureOrigin,
    LicensingFailed,
    LicensingRestarted,
)
from rdplic.core.states import InputT, StateT, transition
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    BlobType,
    ErrorCode,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingMessage,
    LicensingPdu,
    PreambleFlags,
    StateTransition,
    decode_licensing_pdu,
    encode_licensing_message,
)

__all__ = [
    "MachineBase",
    "Now",
    "PduFramer",
    "RandomBytes",
    "ansi_text",
    "ansi_z",
    "build_pdu",
    "error_message",
    "to_datetime",
    "to_seconds",
    "utf16_text",
    "utf16_z",
]

Now = float | datetime
"""A clock value: POSIX seconds (as Twisted's ``reactor.seconds()``) or an aware datetime."""

RandomBytes = Callable[[int], bytes]
"""The injected random source: ``random_bytes(n)`` returns ``n`` bytes (``os.urandom``)."""

PREAMBLE_SIZE = 4

_PREAMBLE = struct.Struct("<BBH")


def to_datetime(now: Now) -> datetime:
    """``now`` as an aware UTC datetime (what the license service takes)."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise LocalProtocolError("naive datetime: pass an aware UTC datetime or POSIX seconds")
        return now.astimezone(UTC)
    return datetime.fromtimestamp(now, UTC)


def to_seconds(now: Now) -> float:
    """``now`` as POSIX seconds (what the timers use)."""
    if isinstance(now, datetime):
        return to_datetime(now).timestamp()
    return float(now)


def ansi_text(raw: bytes) -> str:
    """NUL-terminated ANSI text (MS-RDPELE "ANSI") as a str, up to the first NUL."""
    return raw.split(b"\0", 1)[0].decode("latin-1")


def utf16_text(raw: bytes) -> str:
    """NUL-terminated UTF-16LE text as a str, up to the first NUL character."""
    text = raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace")
    return text.split("\0", 1)[0]


def ansi_z(text: str) -> bytes:
    """``text`` as NUL-terminated ANSI (characters outside Latin-1 become '?')."""
    return text.encode("latin-1", errors="replace") + b"\0"


def utf16_z(text: str) -> bytes:
    """``text`` as NUL-terminated UTF-16LE."""
    return (text + "\0").encode("utf-16-le")


def build_pdu(message: LicensingMessage, version: int, flags: PreambleFlags) -> bytes:
    """The bytes of one licensing PDU, preamble included, wMsgSize derived."""
    return encode_licensing_message(message, version, flags)


def error_message(code: int, transition: int) -> LicenseErrorMessage:
    """LICENSE_ERROR_MESSAGE with an empty BB_ERROR_BLOB, as Windows sends it (MS-RDPBCGR
    2.2.1.12.1.3; the valid-client PDU of 2.2.1.12.1 is STATUS_VALID_CLIENT / ST_NO_TRANSITION).
    """
    return LicenseErrorMessage(
        error_code=_known(ErrorCode, code),
        state_transition=_known(StateTransition, transition),
        error_info=LicenseBinaryBlob(BlobType.BB_ERROR_BLOB, b""),
    )


def _known(kind: type[ErrorCode] | type[StateTransition], value: int) -> int:
    try:
        return kind(value)
    except ValueError:
        return value


class PduFramer:
    """Splits a byte stream into licensing PDUs by their wMsgSize.

    For drivers that do not get whole licensing PDUs from the layer below
    (tests feeding byte by byte, or a transport that has already stripped
    the security header of a stream).  A wMsgSize below the 4-byte preamble
    cannot frame anything and raises `InvalidMessageLength`; nothing else is
    checked here (architecture invariant 3: framing before decoding).  wMsgSize
    is 16 bits (MS-RDPBCGR 2.2.1.12.1.1), so the buffer never holds more than
    one 64 KiB PDU and a partial preamble.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every PDU now complete, oldest first."""
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= PREAMBLE_SIZE:
            _, _, size = _PREAMBLE.unpack_from(self._buffer)
            if size < PREAMBLE_SIZE:
                raise InvalidMessageLength(f"wMsgSize {size} is shorter than the preamble")
            if len(self._buffer) < size:
                break
            out.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not form a whole PDU yet."""
        return len(self._buffer)


def check_size(data: bytes) -> None:
    """ERR_INVALID_MESSAGE_LEN unless wMsgSize equals the length of ``data`` (3.2.5.8)."""
    if len(data) < PREAMBLE_SIZE:
        raise InvalidMessageLength(f"{len(data)} bytes cannot hold a LICENSE_PREAMBLE")
    _, _, size = _PREAMBLE.unpack_from(data)
    if size != len(data):
        raise InvalidMessageLength(f"wMsgSize {size} but the PDU has {len(data)} bytes")


class MachineBase(abc.ABC, Generic[StateT, InputT]):
    """What the licensing server and client do alike (MS-RDPELE 3.1, 3.2, 3.3).

    The h11-like surface (``start``, ``receive_pdu``, ``receive_data``,
    ``next_event``, ``data_to_send``, ``get_timer``, ``handle_timer``), the
    framing and decoding of received PDUs, sending through the transition
    table, the packet-wait timer, and the handling of a received error
    message's dwStateTransition (3.1.5.3), which the spec gives both roles.
    A role supplies its table, what it does on each message (`_dispatch`),
    how it fails (`_abort`), and the few hooks below.
    """

    #: `LicensingFailed.reason` when the peer sends ST_TOTAL_ABORT (``{code}``: dwErrorCode).
    _PEER_ABORTED: ClassVar[str]

    def __init__(
        self,
        table: Mapping[tuple[StateT, InputT], StateT],
        terminal: frozenset[StateT],
        inputs: type[InputT],
        state: StateT,
        *,
        random_bytes: RandomBytes,
        timeout: float | None,
        timeout_alert: bool = False,
        max_restarts: int,
        version: int,
        flags: PreambleFlags,
    ) -> None:
        self._table: Mapping[tuple[StateT, InputT], StateT] = table
        self._terminal: frozenset[StateT] = terminal
        self._inputs: type[InputT] = inputs
        self._state: StateT = state
        self._random_bytes = random_bytes
        self._timeout = timeout
        self._timeout_alert = timeout_alert
        self._max_restarts = max_restarts
        self._version = version
        self._flags = flags
        self._started = False
        self._events: deque[Event] = deque()
        self._outgoing: list[bytes] = []
        self._framer = PduFramer()
        self._deadline: float | None = None
        self._restarts = 0
        self._last_sent: bytes | None = None

    # -- the h11-like surface ---------------------------------------------------------

    @property
    def state(self) -> StateT:
        """Where the exchange stands."""
        return self._state

    def start(self, now: Now) -> None:
        """Begin licensing, once: the server sends its License Request (3.2.5.1), the
        client starts waiting for it (3.3.1.11)."""
        if self._started:
            raise LocalProtocolError("start() called twice")
        self._started = True
        self._open(to_seconds(now))

    def receive_pdu(self, data: bytes, now: Now) -> None:
        """Handle one licensing PDU from the peer (from LICENSE_PREAMBLE on).

        Raises `RemoteProtocolError` when the peer broke the protocol; the
        error message this side sends for it, if any, is already in
        ``data_to_send()``.
        """
        if not self._started:
            raise LocalProtocolError("receive_pdu() before start()")
        if self._state in self._terminal:
            raise UnexpectedMessage(f"licensing PDU after licensing ended ({self._state.value})")
        at = to_seconds(now)
        try:
            check_size(data)
            self._dispatch(self._decode(data), now)
        except RemoteProtocolError as error:
            self._abort(error)
            raise
        except LocalProtocolError as error:
            # The table refused a step the peer's message led to: the peer's fault.
            remote = error._to_remote()
            self._abort(remote)
            raise remote from None
        if self._state not in self._terminal and not self._waiting_for_caller():
            self._arm_timer(at)

    def receive_data(self, data: bytes, now: Now) -> None:
        """Handle a stream of licensing PDUs split anywhere (framed by wMsgSize)."""
        if not self._started:
            raise LocalProtocolError("receive_data() before start()")
        if self._state in self._terminal:
            raise UnexpectedMessage(f"licensing data after licensing ended ({self._state.value})")
        try:
            pdus = self._framer.feed(data)
        except RemoteProtocolError as error:
            self._abort(error)
            raise
        for pdu in pdus:
            self.receive_pdu(pdu, now)

    def next_event(self) -> Event | None:
        """The oldest event not yet returned, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        """The licensing PDUs queued since the last call, in order (each from the preamble on)."""
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        """When (POSIX seconds) to call `handle_timer`, or None when no timer runs."""
        return None if self._state in self._terminal else self._deadline

    def handle_timer(self, now: Now) -> None:
        """Let the timer fire if its time has come: the server's idle timer, the
        client's Client Packet Wait Timer (3.3.2.1)."""
        if self._deadline is None or self._state in self._terminal:
            return
        if to_seconds(now) < self._deadline:
            return
        self._deadline = None
        reason = self._idle_reason()
        code, move = ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_TOTAL_ABORT
        if self._timeout_alert:
            self._send(self._inputs.SEND_ERROR_TOTAL_ABORT, error_message(code, move))
        else:
            self._move(self._inputs.TIMEOUT)
        self._events.append(
            LicensingFailed(
                code, move, reason, FailureOrigin.TIMEOUT, self._timeout_alert, self._summary()
            )
        )

    # -- what a role supplies ---------------------------------------------------------

    @abc.abstractmethod
    def _open(self, at: float) -> None:
        """What `start` does once it has checked it runs once (``at``: POSIX seconds)."""

    @abc.abstractmethod
    def _dispatch(self, pdu: LicensingPdu, now: Now) -> None:
        """Act on one decoded PDU from the peer."""

    @abc.abstractmethod
    def _abort(self, error: RemoteProtocolError) -> None:
        """End in ABORTED for ``error``, queueing the error message the role sends."""

    @abc.abstractmethod
    def _idle_reason(self) -> str:
        """`LicensingFailed.reason` when the timer fires."""

    @abc.abstractmethod
    def _restart_exchange(self) -> None:
        """Start over after the peer's ST_RESET_PHASE_TO_START."""

    @abc.abstractmethod
    def _summary(self) -> ClientSummary:
        """The client as this machine knows it, for events."""

    def _waiting_for_caller(self) -> bool:
        """The machine waits for its driver (the server for a decision), not for the peer:
        its timer does not run."""
        return False

    def _on_no_transition(self, code: int) -> None:
        """An error message with ST_NO_TRANSITION: nothing changes."""
        self._move(self._inputs.RECV_ERROR_NO_TRANSITION)

    # -- shared steps -----------------------------------------------------------------

    def _decode(self, data: bytes) -> LicensingPdu:
        try:
            return decode_licensing_pdu(data)
        except PduError as error:
            raise MalformedMessage(f"malformed licensing PDU: {error}") from None

    def _on_error_alert(self, message: LicenseErrorMessage) -> None:
        """MS-RDPELE 3.1.5.3: apply the peer's dwStateTransition."""
        code, move = int(message.error_code), int(message.state_transition)
        inputs = self._inputs
        if move == StateTransition.ST_NO_TRANSITION:
            self._on_no_transition(code)
        elif move == StateTransition.ST_TOTAL_ABORT:
            self._move(inputs.RECV_ERROR_TOTAL_ABORT)
            self._events.append(
                LicensingFailed(
                    code,
                    move,
                    self._PEER_ABORTED.format(code=code),
                    FailureOrigin.PEER,
                    False,
                    self._summary(),
                )
            )
        elif move == StateTransition.ST_RESET_PHASE_TO_START:
            self._count_restart()
            self._move(inputs.RECV_ERROR_RESET_PHASE_TO_START)
            self._events.append(LicensingRestarted(move, True))
            self._restart_exchange()
        elif move == StateTransition.ST_RESEND_LAST_MESSAGE:
            self._count_restart()
            self._move(inputs.RECV_ERROR_RESEND_LAST_MESSAGE)
            self._events.append(LicensingRestarted(move, True))
            if self._last_sent is not None:
                self._outgoing.append(self._last_sent)
        else:
            raise MalformedMessage(f"unknown dwStateTransition {move}")

    def _send(self, event: InputT, message: LicensingMessage) -> None:
        """Move by ``event`` and queue ``message``; remember it for ST_RESEND_LAST_MESSAGE
        unless it is an error message."""
        self._move(event)
        data = build_pdu(message, self._version, self._flags)
        self._outgoing.append(data)
        if not isinstance(message, LicenseErrorMessage):
            self._last_sent = data

    def _check(self, event: InputT) -> None:
        """Refuse ``event`` now if the table has no row for it, without moving."""
        transition(self._table, self._state, event)

    def _move(self, event: InputT) -> None:
        self._state = transition(self._table, self._state, event)

    def _draw(self, size: int) -> bytes:
        data = self._random_bytes(size)
        if len(data) != size:
            raise LocalProtocolError(f"random_bytes({size}) returned {len(data)} bytes")
        return data

    def _arm_timer(self, at: float) -> None:
        self._deadline = None if self._timeout is None else at + self._timeout

    def _count_restart(self) -> None:
        self._restarts += 1
        if self._restarts > self._max_restarts:
            raise MalformedMessage(f"more than {self._max_restarts} restarts")
