"""The cores' one error hierarchy (architecture invariant 4).

Modelled on h11's ``ProtocolError``: the base class is abstract, and its two concrete
kinds say who broke the protocol, for the licensing machines and the connection machines
alike.

* `LocalProtocolError`: the caller (the code driving a machine) asked for something the
  machine's transition table does not allow: bytes during the TLS handshake, a decision
  nobody asked for, ``start()`` twice.  Nothing goes on the wire for it; it is a bug in the
  driver.
* `RemoteProtocolError`: the peer sent something malformed, out of sequence or with a bad
  MAC.  When a machine raises it, what this side answers (a licensing error message, a
  Disconnect Provider Ultimatum, or nothing, as the spec says for the role) is already
  queued in ``data_to_send()`` and the machine is in its terminal state: the driver
  flushes, then closes the connection.

Inside a licensing machine a step the table refuses is raised as the Local kind; the
receive entry points turn it into the Remote kind, because there it was the peer's message
that led to the illegal step (h11's pattern).

Like h2's ``ProtocolError.error_code`` and aioquic's ``Alert.description``, a licensing
error carries the LICENSE_ERROR_MESSAGE fields a server answers with (MS-RDPELE 3.2.5.8,
3.2.5.9; MS-RDPBCGR 2.2.1.12.1.3): ``error_code`` and ``state_transition``.

Messages are lower case without a trailing period, so that they chain.
"""

from __future__ import annotations

from typing import Any

from rdplic.errors import RdplicError
from rdplic.pdu.licensing import ErrorCode, StateTransition

__all__ = [
    "ConnectionProtocolError",
    "InvalidMac",
    "InvalidMessageLength",
    "InvalidServerCertificate",
    "LocalProtocolError",
    "MalformedMessage",
    "ProtocolError",
    "RemoteProtocolError",
    "UnexpectedMessage",
]


class ProtocolError(RdplicError):
    """An exchange that cannot go on (abstract: raise a subclass).

    :ivar reason: lower-case text saying what was wrong
    :ivar error_code: the licensing dwErrorCode sent for it (or that would be sent)
    :ivar state_transition: the dwStateTransition sent with it
    """

    #: dwErrorCode a licensing server sends for this kind of error (3.2.5.8).
    default_error_code: ErrorCode = ErrorCode.ERR_INVALID_CLIENT

    def __new__(cls, *args: Any, **kwargs: Any) -> ProtocolError:
        if cls in (ProtocolError, RemoteProtocolError):
            raise TypeError(f"{cls.__name__} is abstract: raise one of its subclasses")
        return super().__new__(cls)

    def __init__(
        self,
        reason: str,
        *,
        error_code: ErrorCode | None = None,
        state_transition: StateTransition = StateTransition.ST_TOTAL_ABORT,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_code = self.default_error_code if error_code is None else error_code
        self.state_transition = state_transition

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self), self.reason, int(self.error_code), int(self.state_transition)),
        )


def _rebuild(
    cls: type[ProtocolError], reason: str, error_code: int, state_transition: int
) -> ProtocolError:
    return cls(
        reason,
        error_code=ErrorCode(error_code),
        state_transition=StateTransition(state_transition),
    )


class LocalProtocolError(ProtocolError):
    """The code driving a machine asked for something its table does not allow."""

    def _to_remote(self) -> RemoteProtocolError:
        """The same failure blamed on the peer, whose message caused it (h11's pattern)."""
        return UnexpectedMessage(
            self.reason, error_code=self.error_code, state_transition=self.state_transition
        )


class RemoteProtocolError(ProtocolError):
    """The peer sent something this side must refuse; the machine is now in its terminal
    state with its answer queued (abstract: the subclasses say what was wrong)."""


class UnexpectedMessage(RemoteProtocolError):
    """A licensing message that is not legal in the current state (MS-RDPELE 3.2.5.8,
    3.3.5.8)."""


class MalformedMessage(RemoteProtocolError):
    """A licensing message that does not decode, or whose content is inconsistent (3.2.5.8,
    3.3.5.8)."""


class InvalidMessageLength(MalformedMessage):
    """wMsgSize disagrees with the bytes received (ERR_INVALID_MESSAGE_LEN)."""

    default_error_code = ErrorCode.ERR_INVALID_MESSAGE_LEN


class InvalidMac(RemoteProtocolError):
    """A MACData that does not match the decrypted data (3.2.5.9, 3.3.5.9: ERR_INVALID_MAC)."""

    default_error_code = ErrorCode.ERR_INVALID_MAC


class InvalidServerCertificate(RemoteProtocolError):
    """The License Request's certificate failed to verify (3.3.5.1)."""

    default_error_code = ErrorCode.ERR_INVALID_SERVER_CERTIFICATE


class ConnectionProtocolError(RemoteProtocolError):
    """The peer broke the connection sequence (MS-RDPBCGR 1.3.1.1): a frame that does not
    decode, one that is not legal in the phase, a bad MAC under Standard RDP Security, or a
    licensing exchange that failed.  What the server answers (a licensing error message,
    Set Error Info, a Disconnect Provider Ultimatum) is already queued; the phase is
    CLOSED."""
