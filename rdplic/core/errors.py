"""The licensing core's one error hierarchy (architecture invariant 4).

Modelled on h11's ``ProtocolError``: the base class is abstract, and its two
concrete kinds say who broke the protocol.  `LocalProtocolError` means the
caller (or our own machine) tried something the transition table does not
allow; `RemoteProtocolError` means the peer sent something malformed, out of
sequence, or with a bad MAC.  Inside a machine everything is raised as the
Local kind; the receive entry points turn it into the Remote kind, because
there it was the peer's message that led to the illegal step.

Like h2's ``ProtocolError.error_code`` and aioquic's ``Alert.description``,
each error carries the LICENSE_ERROR_MESSAGE fields a server answers with
(MS-RDPELE 3.2.5.8, 3.2.5.9; MS-RDPBCGR 2.2.1.12.1.3): ``error_code`` and
``state_transition``.  When a machine raises a `RemoteProtocolError`, the
error message (if the role sends one) is already queued in
``data_to_send()`` and the machine is in its terminal Aborted state: the
caller flushes, then closes the connection.

Messages are lower case without a trailing period, so that they chain.
"""

from __future__ import annotations

from typing import Any

from pdu.licensing import ErrorCode, StateTransition
from rdplic.errors import RdplicError

__all__ = [
    "InvalidMac",
    "InvalidMessageLength",
    "InvalidServerCertificate",
    "LicenseServiceError",
    "LicensingProtocolError",
    "LocalProtocolError",
    "MalformedMessage",
    "RemoteProtocolError",
    "UnexpectedMessage",
]


class LicensingProtocolError(RdplicError):
    """A licensing exchange that cannot go on (abstract: raise a subclass).

    :ivar reason: lower-case text saying what was wrong
    :ivar error_code: the dwErrorCode to send for it (or that was sent)
    :ivar state_transition: the dwStateTransition to send with it
    """

    #: dwErrorCode a server sends for this kind of error (3.2.5.8: ERR_INVALID_CLIENT).
    default_error_code: ErrorCode = ErrorCode.ERR_INVALID_CLIENT

    def __new__(cls, *args: Any, **kwargs: Any) -> LicensingProtocolError:
        if cls is LicensingProtocolError:
            raise TypeError(
                "LicensingProtocolError is abstract: raise Local- or RemoteProtocolError"
            )
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
    cls: type[LicensingProtocolError], reason: str, error_code: int, state_transition: int
) -> LicensingProtocolError:
    return cls(
        reason,
        error_code=ErrorCode(error_code),
        state_transition=StateTransition(state_transition),
    )


class LocalProtocolError(LicensingProtocolError):
    """We (or the code driving the machine) tried something the table does not allow."""

    def _to_remote(self) -> RemoteProtocolError:
        """The same failure blamed on the peer, whose message caused it (h11's pattern)."""
        return UnexpectedMessage(
            self.reason, error_code=self.error_code, state_transition=self.state_transition
        )


class RemoteProtocolError(LicensingProtocolError):
    """The peer sent something we must refuse; the machine is now Aborted."""


class UnexpectedMessage(RemoteProtocolError):
    """A message that is not legal in the current state (MS-RDPELE 3.2.5.8, 3.3.5.8)."""


class MalformedMessage(RemoteProtocolError):
    """A message that does not decode, or whose content is inconsistent (3.2.5.8, 3.3.5.8)."""


class InvalidMessageLength(MalformedMessage):
    """wMsgSize disagrees with the bytes received (ERR_INVALID_MESSAGE_LEN)."""

    default_error_code = ErrorCode.ERR_INVALID_MESSAGE_LEN


class InvalidMac(RemoteProtocolError):
    """A MACData that does not match the decrypted data (3.2.5.9, 3.3.5.9: ERR_INVALID_MAC)."""

    default_error_code = ErrorCode.ERR_INVALID_MAC


class InvalidServerCertificate(RemoteProtocolError):
    """The License Request's certificate failed to verify (3.3.5.1)."""

    default_error_code = ErrorCode.ERR_INVALID_SERVER_CERTIFICATE


class LicenseServiceError(RdplicError):
    """The injected license service raised; the client was told ERR_NO_LICENSE_SERVER.

    Not a protocol error: the peer did nothing wrong.  The original exception
    is the ``__cause__``, for the server's log (with its traceback).
    """
