"""The states, inputs and transition tables of both licensing machines.

Everything that decides whether a message may be sent or received lives in
this file (architecture invariant 5, after h11's ``_state.py`` and h2's
``_transitions``).  The machines in `licensing_server` and
`licensing_client` do the work (decrypting, checking MACs, asking the
license server for a decision) and then ask `transition` for the next state; an input
that has no row here is a protocol error naming the state and the input.
``python -m rdplic.core.diagrams`` draws ``docs/state-diagrams.md`` from
these same tables, so the diagram can never disagree with the code.

States follow MS-RDPELE: the server's Licensing Begin, Process Licensing,
Completed and Aborted (3.2.1.11, 3.2.3) and the client's Licensing Await,
Process Licensing, Completed and Aborted (3.3.1.11, 3.3.3).  "Process
Licensing" is split by what the machine waits for, and the moments when a
machine has received a message and is choosing its answer are states of
their own (``NEW_LICENSE_REQUESTED``, ``CHALLENGE_ANSWERED``...), so that
every possible answer is a row of the table.  The server waits in
``LICENSE_PRESENTED`` and ``CHALLENGE_ANSWERED`` for the license server's
decision, as long as its driver takes to call ``decide``; no message from the
client is legal there.

Inputs are named ``RECV_<MESSAGE>`` and ``SEND_<MESSAGE>`` after h2, so that
what a machine may send and what it may receive sit in the same table.  An
error message received is split by its dwStateTransition (MS-RDPBCGR
2.2.1.12.1.3), because that, not the error code, decides the next state
(MS-RDPELE 3.1.5.3).  ``TIMEOUT`` is the machine's own idle timer.

This module knows no role-specific behaviour beyond the tables: no PDU, no
crypto, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, TypeVar

from rdplic.core.errors import LocalProtocolError

__all__ = [
    "CLIENT_TERMINAL_STATES",
    "CLIENT_TRANSITIONS",
    "SERVER_TERMINAL_STATES",
    "SERVER_TRANSITIONS",
    "ClientInput",
    "ClientState",
    "ServerInput",
    "ServerState",
    "transition",
]


class ServerState(enum.Enum):
    """Where the server (the licensing host, MS-RDPELE 3.2) stands."""

    #: Licensing Begin (3.2.1.11): nothing sent yet, or restarted by ST_RESET_PHASE_TO_START.
    LICENSING_BEGIN = "LICENSING_BEGIN"
    #: Process Licensing: License Request sent, waiting for New License Request or License Info.
    AWAIT_CLIENT_LICENSE = "AWAIT_CLIENT_LICENSE"
    #: A New License Request was decrypted; the platform challenge is the only answer (3.2.5.2).
    NEW_LICENSE_REQUESTED = "NEW_LICENSE_REQUESTED"
    #: A License Info was decrypted and checked; waiting for the license server's decision
    #: (3.2.5.3).
    LICENSE_PRESENTED = "LICENSE_PRESENTED"
    #: Process Licensing: Platform Challenge sent, waiting for the Platform Challenge Response.
    AWAIT_CHALLENGE_RESPONSE = "AWAIT_CHALLENGE_RESPONSE"
    #: The response was decrypted and its MAC checked; waiting for the license server's
    #: decision (3.2.5.5).
    CHALLENGE_ANSWERED = "CHALLENGE_ANSWERED"
    #: Completed: New License, Upgrade License or STATUS_VALID_CLIENT sent.
    COMPLETED = "COMPLETED"
    #: Aborted: an error with ST_TOTAL_ABORT was sent or received, or the client went idle.
    ABORTED = "ABORTED"


class ServerInput(enum.Enum):
    """What can happen to the server: a message sent or received, or its timer."""

    SEND_LICENSE_REQUEST = "SEND_LICENSE_REQUEST"
    SEND_PLATFORM_CHALLENGE = "SEND_PLATFORM_CHALLENGE"
    SEND_NEW_LICENSE = "SEND_NEW_LICENSE"
    SEND_UPGRADE_LICENSE = "SEND_UPGRADE_LICENSE"
    #: ERROR_ALERT with STATUS_VALID_CLIENT / ST_NO_TRANSITION (MS-RDPBCGR 2.2.1.12.1).
    SEND_VALID_CLIENT = "SEND_VALID_CLIENT"
    SEND_ERROR_TOTAL_ABORT = "SEND_ERROR_TOTAL_ABORT"
    SEND_ERROR_RESET_PHASE_TO_START = "SEND_ERROR_RESET_PHASE_TO_START"
    SEND_ERROR_RESEND_LAST_MESSAGE = "SEND_ERROR_RESEND_LAST_MESSAGE"
    RECV_NEW_LICENSE_REQUEST = "RECV_NEW_LICENSE_REQUEST"
    RECV_LICENSE_INFO = "RECV_LICENSE_INFO"
    RECV_PLATFORM_CHALLENGE_RESPONSE = "RECV_PLATFORM_CHALLENGE_RESPONSE"
    RECV_ERROR_TOTAL_ABORT = "RECV_ERROR_TOTAL_ABORT"
    RECV_ERROR_NO_TRANSITION = "RECV_ERROR_NO_TRANSITION"
    RECV_ERROR_RESET_PHASE_TO_START = "RECV_ERROR_RESET_PHASE_TO_START"
    RECV_ERROR_RESEND_LAST_MESSAGE = "RECV_ERROR_RESEND_LAST_MESSAGE"
    TIMEOUT = "TIMEOUT"


class ClientState(enum.Enum):
    """Where the client (MS-RDPELE 3.3) stands."""

    #: Licensing Await (3.3.1.11): waiting for the License Request (or a lone valid-client PDU).
    LICENSING_AWAIT = "LICENSING_AWAIT"
    #: The License Request's certificate was checked; the client answers from its store (3.3.5.1).
    LICENSE_REQUEST_RECEIVED = "LICENSE_REQUEST_RECEIVED"
    #: Process Licensing: New License Request or License Info sent, waiting for the server.
    AWAIT_SERVER_REPLY = "AWAIT_SERVER_REPLY"
    #: A Platform Challenge was decrypted and its MAC checked (3.3.5.4).
    CHALLENGE_RECEIVED = "CHALLENGE_RECEIVED"
    #: Process Licensing: Platform Challenge Response sent, waiting for the license.
    AWAIT_LICENSE = "AWAIT_LICENSE"
    #: Completed: New License or Upgrade License stored, or STATUS_VALID_CLIENT received.
    COMPLETED = "COMPLETED"
    #: Aborted: an error with ST_TOTAL_ABORT was sent or received, or the server misbehaved.
    ABORTED = "ABORTED"


class ClientInput(enum.Enum):
    """What can happen to the client: a message sent or received, or its timer."""

    SEND_NEW_LICENSE_REQUEST = "SEND_NEW_LICENSE_REQUEST"
    SEND_LICENSE_INFO = "SEND_LICENSE_INFO"
    SEND_PLATFORM_CHALLENGE_RESPONSE = "SEND_PLATFORM_CHALLENGE_RESPONSE"
    SEND_ERROR_TOTAL_ABORT = "SEND_ERROR_TOTAL_ABORT"
    #: The server broke the protocol: the client disconnects without a word (3.3.5.8).
    DISCONNECT = "DISCONNECT"
    RECV_LICENSE_REQUEST = "RECV_LICENSE_REQUEST"
    RECV_PLATFORM_CHALLENGE = "RECV_PLATFORM_CHALLENGE"
    RECV_NEW_LICENSE = "RECV_NEW_LICENSE"
    RECV_UPGRADE_LICENSE = "RECV_UPGRADE_LICENSE"
    #: ERROR_ALERT with STATUS_VALID_CLIENT / ST_NO_TRANSITION: licensing is over.
    RECV_VALID_CLIENT = "RECV_VALID_CLIENT"
    #: ERROR_ALERT with another code and ST_NO_TRANSITION: nothing changes.
    RECV_ERROR_NO_TRANSITION = "RECV_ERROR_NO_TRANSITION"
    RECV_ERROR_TOTAL_ABORT = "RECV_ERROR_TOTAL_ABORT"
    RECV_ERROR_RESET_PHASE_TO_START = "RECV_ERROR_RESET_PHASE_TO_START"
    RECV_ERROR_RESEND_LAST_MESSAGE = "RECV_ERROR_RESEND_LAST_MESSAGE"
    TIMEOUT = "TIMEOUT"


S = ServerState
SI = ServerInput
C = ClientState
CI = ClientInput

# Every (state, input) pair the server accepts, and where it leads.  Rows are
# grouped by the state they start from; comments give the MS-RDPELE section.
SERVER_TRANSITIONS: Final[Mapping[tuple[ServerState, ServerInput], ServerState]] = {
    # 3.2.5.1: the exchange opens with the License Request, or (a host that
    # licenses nobody, 1.3.3) ends at once with the valid-client PDU.
    (S.LICENSING_BEGIN, SI.SEND_LICENSE_REQUEST): S.AWAIT_CLIENT_LICENSE,
    (S.LICENSING_BEGIN, SI.SEND_VALID_CLIENT): S.COMPLETED,
    # 3.2.5.2 and 3.2.5.3.
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_NEW_LICENSE_REQUEST): S.NEW_LICENSE_REQUESTED,
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_LICENSE_INFO): S.LICENSE_PRESENTED,
    (S.NEW_LICENSE_REQUESTED, SI.SEND_PLATFORM_CHALLENGE): S.AWAIT_CHALLENGE_RESPONSE,
    (S.NEW_LICENSE_REQUESTED, SI.SEND_ERROR_TOTAL_ABORT): S.ABORTED,
    # 3.2.5.3 case 1 (valid permanent license) and case 2 (needs an upgrade).
    (S.LICENSE_PRESENTED, SI.SEND_VALID_CLIENT): S.COMPLETED,
    (S.LICENSE_PRESENTED, SI.SEND_PLATFORM_CHALLENGE): S.AWAIT_CHALLENGE_RESPONSE,
    (S.LICENSE_PRESENTED, SI.SEND_ERROR_TOTAL_ABORT): S.ABORTED,
    (S.LICENSE_PRESENTED, SI.SEND_ERROR_RESET_PHASE_TO_START): S.LICENSING_BEGIN,
    (S.LICENSE_PRESENTED, SI.SEND_ERROR_RESEND_LAST_MESSAGE): S.AWAIT_CLIENT_LICENSE,
    # 3.2.5.5 cases 1-6.
    (S.AWAIT_CHALLENGE_RESPONSE, SI.RECV_PLATFORM_CHALLENGE_RESPONSE): S.CHALLENGE_ANSWERED,
    (S.CHALLENGE_ANSWERED, SI.SEND_NEW_LICENSE): S.COMPLETED,
    (S.CHALLENGE_ANSWERED, SI.SEND_UPGRADE_LICENSE): S.COMPLETED,
    (S.CHALLENGE_ANSWERED, SI.SEND_VALID_CLIENT): S.COMPLETED,
    (S.CHALLENGE_ANSWERED, SI.SEND_ERROR_TOTAL_ABORT): S.ABORTED,
    (S.CHALLENGE_ANSWERED, SI.SEND_ERROR_RESET_PHASE_TO_START): S.LICENSING_BEGIN,
    (S.CHALLENGE_ANSWERED, SI.SEND_ERROR_RESEND_LAST_MESSAGE): S.AWAIT_CHALLENGE_RESPONSE,
    # 3.2.5.8 and 3.2.5.9: a malformed or unexpected message, or a bad MAC,
    # is answered with ST_TOTAL_ABORT from wherever the server waits.
    (S.AWAIT_CLIENT_LICENSE, SI.SEND_ERROR_TOTAL_ABORT): S.ABORTED,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.SEND_ERROR_TOTAL_ABORT): S.ABORTED,
    # 3.1.5.3: an error message from the client applies its state transition.
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_ERROR_TOTAL_ABORT): S.ABORTED,
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_ERROR_NO_TRANSITION): S.AWAIT_CLIENT_LICENSE,
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_ERROR_RESET_PHASE_TO_START): S.LICENSING_BEGIN,
    (S.AWAIT_CLIENT_LICENSE, SI.RECV_ERROR_RESEND_LAST_MESSAGE): S.AWAIT_CLIENT_LICENSE,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.RECV_ERROR_TOTAL_ABORT): S.ABORTED,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.RECV_ERROR_NO_TRANSITION): S.AWAIT_CHALLENGE_RESPONSE,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.RECV_ERROR_RESET_PHASE_TO_START): S.LICENSING_BEGIN,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.RECV_ERROR_RESEND_LAST_MESSAGE): S.AWAIT_CHALLENGE_RESPONSE,
    # The idle timer (not in MS-RDPELE, which has no server timer: 3.2.2).
    (S.AWAIT_CLIENT_LICENSE, SI.TIMEOUT): S.ABORTED,
    (S.AWAIT_CHALLENGE_RESPONSE, SI.TIMEOUT): S.ABORTED,
}

SERVER_TERMINAL_STATES: Final = frozenset({S.COMPLETED, S.ABORTED})

# Every (state, input) pair the client accepts, and where it leads.  The
# client checks a received message against this table first, verifies it
# (certificate, MAC) while still in the waiting state, and only then moves:
# so a bad certificate or MAC is answered from the state that waited for it.
CLIENT_TRANSITIONS: Final[Mapping[tuple[ClientState, ClientInput], ClientState]] = {
    # 3.3.5.1: the License Request, or a host that licenses nobody.
    (C.LICENSING_AWAIT, CI.RECV_LICENSE_REQUEST): C.LICENSE_REQUEST_RECEIVED,
    (C.LICENSING_AWAIT, CI.RECV_VALID_CLIENT): C.COMPLETED,
    # ERR_INVALID_SERVER_CERTIFICATE (3.3.5.1).
    (C.LICENSING_AWAIT, CI.SEND_ERROR_TOTAL_ABORT): C.ABORTED,
    (C.LICENSE_REQUEST_RECEIVED, CI.SEND_NEW_LICENSE_REQUEST): C.AWAIT_SERVER_REPLY,
    (C.LICENSE_REQUEST_RECEIVED, CI.SEND_LICENSE_INFO): C.AWAIT_SERVER_REPLY,
    # 3.3.5.4, and the server's valid-client answer to a License Info (3.2.5.3 case 1).
    (C.AWAIT_SERVER_REPLY, CI.RECV_PLATFORM_CHALLENGE): C.CHALLENGE_RECEIVED,
    (C.AWAIT_SERVER_REPLY, CI.RECV_VALID_CLIENT): C.COMPLETED,
    # ERR_INVALID_MAC on the challenge (3.3.5.9).
    (C.AWAIT_SERVER_REPLY, CI.SEND_ERROR_TOTAL_ABORT): C.ABORTED,
    (C.CHALLENGE_RECEIVED, CI.SEND_PLATFORM_CHALLENGE_RESPONSE): C.AWAIT_LICENSE,
    # 3.3.5.6, 3.3.5.7 and 3.2.5.5 case 2 (valid client within the grace period).
    (C.AWAIT_LICENSE, CI.RECV_NEW_LICENSE): C.COMPLETED,
    (C.AWAIT_LICENSE, CI.RECV_UPGRADE_LICENSE): C.COMPLETED,
    (C.AWAIT_LICENSE, CI.RECV_VALID_CLIENT): C.COMPLETED,
    # ERR_INVALID_MAC on the license (3.3.5.9).
    (C.AWAIT_LICENSE, CI.SEND_ERROR_TOTAL_ABORT): C.ABORTED,
    # 3.1.5.3: an error message from the server applies its state transition.
    (C.LICENSING_AWAIT, CI.RECV_ERROR_TOTAL_ABORT): C.ABORTED,
    (C.LICENSING_AWAIT, CI.RECV_ERROR_NO_TRANSITION): C.LICENSING_AWAIT,
    (C.LICENSING_AWAIT, CI.RECV_ERROR_RESET_PHASE_TO_START): C.LICENSING_AWAIT,
    (C.LICENSING_AWAIT, CI.RECV_ERROR_RESEND_LAST_MESSAGE): C.LICENSING_AWAIT,
    (C.AWAIT_SERVER_REPLY, CI.RECV_ERROR_TOTAL_ABORT): C.ABORTED,
    (C.AWAIT_SERVER_REPLY, CI.RECV_ERROR_NO_TRANSITION): C.AWAIT_SERVER_REPLY,
    (C.AWAIT_SERVER_REPLY, CI.RECV_ERROR_RESET_PHASE_TO_START): C.LICENSING_AWAIT,
    (C.AWAIT_SERVER_REPLY, CI.RECV_ERROR_RESEND_LAST_MESSAGE): C.AWAIT_SERVER_REPLY,
    (C.AWAIT_LICENSE, CI.RECV_ERROR_TOTAL_ABORT): C.ABORTED,
    (C.AWAIT_LICENSE, CI.RECV_ERROR_NO_TRANSITION): C.AWAIT_LICENSE,
    (C.AWAIT_LICENSE, CI.RECV_ERROR_RESET_PHASE_TO_START): C.LICENSING_AWAIT,
    (C.AWAIT_LICENSE, CI.RECV_ERROR_RESEND_LAST_MESSAGE): C.AWAIT_LICENSE,
    # 3.3.5.8: an unexpected or malformed message ends the connection, no error sent.
    (C.LICENSING_AWAIT, CI.DISCONNECT): C.ABORTED,
    (C.LICENSE_REQUEST_RECEIVED, CI.DISCONNECT): C.ABORTED,
    (C.AWAIT_SERVER_REPLY, CI.DISCONNECT): C.ABORTED,
    (C.CHALLENGE_RECEIVED, CI.DISCONNECT): C.ABORTED,
    (C.AWAIT_LICENSE, CI.DISCONNECT): C.ABORTED,
    # The Client Packet Wait Timer (3.3.2.1).
    (C.LICENSING_AWAIT, CI.TIMEOUT): C.ABORTED,
    (C.AWAIT_SERVER_REPLY, CI.TIMEOUT): C.ABORTED,
    (C.AWAIT_LICENSE, CI.TIMEOUT): C.ABORTED,
}

CLIENT_TERMINAL_STATES: Final = frozenset({C.COMPLETED, C.ABORTED})

StateT = TypeVar("StateT", ServerState, ClientState)
InputT = TypeVar("InputT", ServerInput, ClientInput)


def transition(
    table: Mapping[tuple[StateT, InputT], StateT], state: StateT, event: InputT
) -> StateT:
    """The state that ``event`` leads to from ``state``, or `LocalProtocolError`.

    The machines call this before acting on a received message, so an
    out-of-sequence message is refused before anything is decrypted, and
    again for every message they send, so that the table is the only place
    that knows what is legal.
    """
    try:
        return table[(state, event)]
    except KeyError:
        raise LocalProtocolError(f"{event.value} is not allowed in state {state.value}") from None


def inputs_allowed(
    table: Mapping[tuple[StateT, InputT], StateT], state: StateT
) -> frozenset[InputT]:
    """The inputs that have a row from ``state`` (for tests and the diagrams)."""
    return frozenset(event for (origin, event) in table if origin == state)
