"""Pieces both roles of the connection sequence share: framing, negotiation, security layer.

* `FrameReader` buffers received bytes and hands out whole frames, using `pdu.framing`'s
  `frame_size` before anything is decoded (architecture invariant 3).
* `negotiate_security` is the server's answer to an X.224 Connection Request
  (MS-RDPBCGR 3.3.5.3.1), the way a Windows server answers with NLA disabled.
* `SecurityLayer` adds and removes the security header of a slow-path PDU on the I/O
  channel (MS-RDPBCGR 2.2.8.1.1.2, 5.3.6, 5.4.4): under TLS only licensing and Client Info
  PDUs carry one (a basic header); under Standard RDP Security every PDU after the Security
  Exchange carries one, encrypted and signed at levels above LOW.
* `mcs_frame` and `send_data_frame` put MCS PDUs into X.224 Data TPDUs and TPKT frames.
* `ConnectionBase` is what `ServerConnection` and `ClientConnection` do alike: the
  h11-like surface and the transition table; `malformed` turns a decoding error into the
  protocol error that ends the connection; `LicensingMachine` is what either needs of its
  licensing machine.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Generic, TypeVar
from typing import Protocol as TypingProtocol

from rdplic.core import events as lic
from rdplic.core._common import RandomBytes
from rdplic.core.connection_events import ConnectionEvent
from rdplic.core.errors import ConnectionProtocolError, LocalProtocolError
from rdplic.crypto.rdp_security import MacMismatchError, RdpCipher
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    NegotiationFailureCode,
    NegotiationResponseFlag,
    Protocol,
    RdpNegotiationFailure,
    RdpNegotiationRequest,
    RdpNegotiationResponse,
    frame_size,
    tpkt_data_frame,
)
from rdplic.pdu.mcs import (
    DomainMcsPdu,
    SendDataIndication,
    SendDataRequest,
    encode_domain_pdu,
)
from rdplic.pdu.rdp import SecurityFlag, decode_security_header, security_header_bytes

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "SERVER_CHANNEL_ID",
    "WINDOWS_NEGOTIATION_FLAGS",
    "ConnectionBase",
    "FrameReader",
    "LicensingMachine",
    "SecurityLayer",
    "malformed",
    "mcs_frame",
    "negotiate_security",
    "send_data_frame",
]

DEFAULT_MAX_FRAME_SIZE = 16 * 1024
"""Largest frame accepted from a peer.  The largest licensing PDU in MS-RDPELE is 0x1B99
bytes (4.7, a New License with a 4-certificate chain) and a client's MCS Connect Initial or
Confirm Active stays below 2 KiB; 16 KiB leaves room without letting one peer make us buffer
the 64 KiB a TPKT length allows."""

SERVER_CHANNEL_ID = 1002
"""The MCS channel of the server itself: Windows sends every server PDU "from" it (the
initiator of Send Data Indication, the pduSource of share headers; MS-RDPBCGR 3.3.5.3.8)."""

WINDOWS_NEGOTIATION_FLAGS = NegotiationResponseFlag(0x1F)
"""RDP_NEG_RSP flags of Windows Server 2016 and later (observed: 0x1F)."""


class FrameReader:
    """Cut a byte stream into whole TPKT / fast-path frames."""

    __slots__ = ("_buffer", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next whole frame, or None while it is incomplete.

        :raises ConnectionProtocolError: a frame header no peer may send, or a frame larger
            than ``max_frame_size``
        """
        try:
            size = frame_size(self._buffer, self.max_frame_size)
        except PduError as error:
            raise ConnectionProtocolError(f"bad frame header: {error}") from None
        if size is None or len(self._buffer) < size:
            return None
        frame = bytes(self._buffer[:size])
        del self._buffer[:size]
        return frame

    @property
    def pending(self) -> int:
        """Bytes received but not yet handed out."""
        return len(self._buffer)

    def take_all(self) -> bytes:
        """Everything buffered, unframed, leaving the buffer empty."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def negotiate_security(
    request: RdpNegotiationRequest | None, *, allow_rdp: bool, allow_tls: bool
) -> RdpNegotiationResponse | RdpNegotiationFailure | None:
    """The server's rdpNegData for a Connection Request (MS-RDPBCGR 3.3.5.3.1, 2.2.1.2).

    Returns None for a client without RDP_NEG_REQ that gets Standard RDP Security (the
    Connection Confirm then carries no negotiation data).  CredSSP (PROTOCOL_HYBRID and
    HYBRID_EX) is never selected: like Windows with NLA disabled, the server picks TLS when
    the client offers it, Standard RDP Security when the client offers nothing else, and
    answers RDP_NEG_FAILURE otherwise:

    * SSL_NOT_ALLOWED_BY_SERVER when only Standard RDP Security is allowed and the client
      asks for more (the Windows capture in captures/windows shows exactly this);
    * SSL_REQUIRED_BY_SERVER when TLS is required and the client does not offer it, or
      when the client offers CredSSP without TLS ("if only CredSSP was requested then the
      server only supports TLS", 2.2.1.2.2).
    """
    if request is None:
        if allow_rdp:
            return None
        return RdpNegotiationFailure(NegotiationFailureCode.SSL_REQUIRED_BY_SERVER)
    requested = int(request.requested_protocols)
    if requested & Protocol.PROTOCOL_SSL and allow_tls:
        return RdpNegotiationResponse(Protocol.PROTOCOL_SSL, WINDOWS_NEGOTIATION_FLAGS)
    if requested == Protocol.PROTOCOL_RDP:
        if allow_rdp:
            return RdpNegotiationResponse(Protocol.PROTOCOL_RDP, WINDOWS_NEGOTIATION_FLAGS)
        return RdpNegotiationFailure(NegotiationFailureCode.SSL_REQUIRED_BY_SERVER)
    if not allow_tls:
        return RdpNegotiationFailure(NegotiationFailureCode.SSL_NOT_ALLOWED_BY_SERVER)
    return RdpNegotiationFailure(NegotiationFailureCode.SSL_REQUIRED_BY_SERVER)


def mcs_frame(pdu: DomainMcsPdu | bytes) -> bytes:
    """A TPKT frame carrying one MCS PDU (encoded here unless already bytes)."""
    payload = pdu if isinstance(pdu, bytes) else encode_domain_pdu(pdu)
    return tpkt_data_frame(payload)


def send_data_frame(initiator: int, channel_id: int, user_data: bytes, *, server: bool) -> bytes:
    """A TPKT frame with Send Data Indication (server) or Send Data Request (client)."""
    cls = SendDataIndication if server else SendDataRequest
    return mcs_frame(cls(initiator, channel_id, user_data))


@dataclasses.dataclass(slots=True)
class SecurityLayer:
    """The security header of slow-path PDUs on the I/O channel, both directions.

    ``cipher`` is None until the Security Exchange (and for good under TLS or at
    ENCRYPTION_LEVEL_NONE).  ``encrypt_all`` says that every PDU this side sends after the
    exchange is encrypted (levels CLIENT_COMPATIBLE and HIGH; at LOW only client PDUs are).
    """

    cipher: RdpCipher | None = None
    encrypt_all: bool = False

    def unwrap(self, user_data: bytes, *, what: str) -> tuple[SecurityFlag, bytes]:
        """Remove (and check, and decrypt) the security header of a received PDU.

        :raises ConnectionProtocolError: no header, an encrypted PDU before the keys exist,
            or a dataSignature that does not match
        """
        try:
            header, body = decode_security_header(user_data)
        except PduError as error:
            raise ConnectionProtocolError(f"{what}: bad security header: {error}") from None
        flags = header.flags
        bits = int(flags)
        if bits & _SEC_ENCRYPT:
            if self.cipher is None or header.data_signature is None:
                raise ConnectionProtocolError(f"{what}: encrypted before the security exchange")
            try:
                body = self.cipher.unprotect(
                    header.data_signature,
                    body,
                    salted=bool(bits & _SEC_SECURE_CHECKSUM),
                )
            except MacMismatchError:
                raise ConnectionProtocolError(f"{what}: MAC mismatch") from None
        return flags, body

    def wrap(self, flags: SecurityFlag, body: bytes, *, encrypt: bool | None = None) -> bytes:
        """Prefix ``body`` with a security header, encrypting it when asked (by default when
        the layer encrypts everything)."""
        if encrypt is None:
            encrypt = self.encrypt_all
        if encrypt and self.cipher is not None:
            signature, body = self.cipher.protect(body)
            return security_header_bytes(int(flags) | _SEC_ENCRYPT, signature) + body
        return security_header_bytes(int(flags), None) + body


_SEC_ENCRYPT = int(SecurityFlag.SEC_ENCRYPT)
_SEC_SECURE_CHECKSUM = int(SecurityFlag.SEC_SECURE_CHECKSUM)


class malformed:
    """Turn a `PduError` in the block into ``ConnectionProtocolError("malformed {what}: ...")``.

    A class rather than a ``@contextmanager`` generator: it runs for every frame.
    """

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        if isinstance(error, PduError):
            raise ConnectionProtocolError(f"malformed {self._what}: {error}") from None


class LicensingMachine(TypingProtocol):
    """What a connection needs of its licensing machine (`LicensingServer`, `LicensingClient`)."""

    def start(self, now: datetime) -> None: ...

    def receive_pdu(self, data: bytes, now: datetime) -> None: ...

    def next_event(self) -> lic.Event | None: ...

    def data_to_send(self) -> list[bytes]: ...


PhaseT = TypeVar("PhaseT", bound=enum.Enum)
InputT = TypeVar("InputT", bound=enum.Enum)


class ConnectionBase(abc.ABC, Generic[PhaseT, InputT]):
    """What both roles of the connection sequence do alike.

    Received bytes are buffered and cut into frames before anything is decoded
    (architecture invariant 3); events and bytes to send are queued for the driver;
    every step is a row of the role's transition table (invariant 5).  A role
    supplies `_handle_frame`, `_protocol_error` and `_on_tls_established`, and names its
    TLS-handshake phase and the input that leaves it.

    Switching to TLS (architecture invariant 9): once the X.224 exchange selects
    PROTOCOL_SSL, the machine stops reading at the end of that frame.  Whatever else
    the peer sent in the same read is not RDP but the start of the TLS handshake (or an
    attack: plaintext sent before TLS must never be treated as protected, the STARTTLS
    injection class of Postfix CVE-2011-0411); the driver takes it with `trailing_data`
    and gives it to its TLS layer, and passes nothing more in until `tls_established`.
    This is h11's protocol switch (``trailing_data`` after a 101 response).
    """

    #: The phase in which the machine waits for the driver's TLS handshake.
    _TLS_HANDSHAKE_PHASE: PhaseT
    #: The input that leaves it (`tls_established`).
    _TLS_ESTABLISHED_INPUT: InputT

    def __init__(
        self,
        table: Mapping[tuple[PhaseT, InputT], PhaseT],
        phase: PhaseT,
        closed: PhaseT,
        *,
        random_bytes: RandomBytes,
        max_frame_size: int,
    ) -> None:
        self._table = table
        self._phase = phase
        self._closed_phase = closed
        self._random_bytes = random_bytes
        self._reader = FrameReader(max_frame_size)
        self._events: deque[ConnectionEvent | lic.Event] = deque()
        self._out: list[bytes] = []
        self._security = SecurityLayer()
        self._tls = False
        self._licensed = False

    # -- the h11-like surface ---------------------------------------------------------

    @property
    def phase(self) -> PhaseT:
        """Where the connection sequence stands."""
        return self._phase

    def receive_data(self, data: bytes, now: datetime) -> None:
        """Handle bytes from the peer (already decrypted when TLS is on).

        :raises ConnectionProtocolError: the peer broke the sequence; what this side
            answers is queued, the phase is CLOSED and the driver closes the connection
        :raises LocalProtocolError: called while the TLS handshake is pending (those bytes
            belong to the TLS layer)
        """
        if self._closed():
            return
        if self._phase is self._TLS_HANDSHAKE_PHASE:
            raise LocalProtocolError(
                "receive_data() during the TLS handshake: pass the bytes to the TLS layer "
                "and call tls_established() once it has completed"
            )
        self._reader.feed(data)
        try:
            while not self._closed() and self._phase is not self._TLS_HANDSHAKE_PHASE:
                frame = self._reader.next_frame()
                if frame is None:
                    break
                self._handle_frame(frame, now)
        except ConnectionProtocolError as error:
            self._protocol_error(error.reason)
            raise

    @property
    def awaiting_tls(self) -> bool:
        """The machine waits for the driver's TLS handshake (see the class docstring)."""
        return self._phase is self._TLS_HANDSHAKE_PHASE

    @property
    def trailing_data(self) -> bytes:
        """The bytes received after the frame that selected TLS, handed over once.

        They are the peer's first TLS bytes (or plaintext that must fail the handshake):
        the driver passes them to its TLS layer, never back to this machine.
        """
        if self._phase is not self._TLS_HANDSHAKE_PHASE:
            return b""
        return self._reader.take_all()

    def tls_established(self, now: datetime) -> None:
        """The TLS handshake has completed: from now on `receive_data` takes TLS plaintext.

        :raises LocalProtocolError: the machine was not waiting for TLS
        """
        if self._phase is not self._TLS_HANDSHAKE_PHASE:
            raise LocalProtocolError(f"tls_established() in phase {self._phase.value}")
        if self._reader.pending:  # pragma: no cover - trailing_data is taken at the switch
            raise LocalProtocolError("tls_established() before trailing_data was taken")
        self._move(self._TLS_ESTABLISHED_INPUT)
        self._on_tls_established(now)

    def next_event(self) -> ConnectionEvent | lic.Event | None:
        """The oldest event not yet returned, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        out, self._out = b"".join(self._out), []
        return out

    # -- what a role supplies ---------------------------------------------------------

    @abc.abstractmethod
    def _handle_frame(self, frame: bytes, now: datetime) -> None:
        """Act on one whole TPKT or fast-path frame."""

    @abc.abstractmethod
    def _protocol_error(self, reason: str) -> None:
        """End in CLOSED after a `ConnectionProtocolError` (``reason``: its text)."""

    @abc.abstractmethod
    def _on_tls_established(self, now: datetime) -> None:
        """What the role does once TLS protects the connection."""

    # -- shared steps -----------------------------------------------------------------

    def _closed(self) -> bool:
        return self._phase is self._closed_phase

    def _move(self, event: InputT) -> None:
        next_phase = self._table.get((self._phase, event))
        if next_phase is None:
            raise ConnectionProtocolError(
                f"{event.value} is not expected in phase {self._phase.value}"
            )
        self._phase = next_phase

    def _draw(self, size: int) -> bytes:
        data = self._random_bytes(size)
        if len(data) != size:
            raise ValueError(f"random_bytes({size}) returned {len(data)} bytes")
        return data
