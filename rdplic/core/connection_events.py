"""What the connection-sequence machines report to the code that drives them.

The connection machines (`connection_server`, `connection_client`) run MS-RDPBCGR's
connection sequence up to and through the licensing phase.  Like the licensing machines,
they queue frozen, slotted event objects while handling received bytes; the driver pops
them with ``next_event()``.  Licensing events (`rdplic.core.events`) are passed through
unchanged, so that one loop sees everything that happened on a connection.

`rdplic.net` acts on these events and only logs the others: `SecurityNegotiated` with
``start_tls`` (flush, start TLS, hand it the trailing bytes), the licensing machine's
`DecisionNeeded` (ask the license server, then ``decide``), and `ConnectionEnded` (flush,
then close).  A peer that breaks the sequence raises
`rdplic.core.errors.ConnectionProtocolError`.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "CapabilitiesConfirmed",
    "ClientDataReceived",
    "ClientInfoReceived",
    "ConnectionEnded",
    "ConnectionEvent",
    "ErrorInfoReceived",
    "SecurityNegotiated",
    "ServerDataReceived",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityNegotiated:
    """The X.224 Connection Confirm carrying RDP_NEG_RSP was queued (MS-RDPBCGR 2.2.1.2).

    :ivar requested_protocols: requestedProtocols of the client's RDP_NEG_REQ, or None when
        the Connection Request carried none (Standard RDP Security, RDP 4/5 clients)
    :ivar selected_protocol: PROTOCOL_RDP (0) or PROTOCOL_SSL (1)
    :ivar cookie: the ``Cookie: mstshash=`` value, "" when absent
    :ivar start_tls: the TLS handshake starts now: the driver flushes ``data_to_send()``,
        starts TLS on the transport (as server or client, per its role), gives the TLS
        layer the machine's ``trailing_data``, and calls ``tls_established`` when the
        handshake has completed
    """

    requested_protocols: int | None
    selected_protocol: int
    cookie: str
    start_tls: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ClientDataReceived:
    """The server read the GCC client data blocks of MCS Connect Initial (2.2.1.3).

    :ivar client_name: clientName of CS_CORE (NetBIOS name, up to 15 characters)
    :ivar client_build: clientBuild of CS_CORE
    :ivar version: version of CS_CORE (0x00080004 = RDP 5.0 or later, ...)
    :ivar encryption_methods: encryptionMethods of CS_SECURITY (0 when absent)
    :ivar encryption_method: the ENCRYPTION_METHOD_* the server selected
    :ivar channels: names of the static virtual channels of CS_NET
    """

    client_name: str
    client_build: int
    version: int
    encryption_methods: int
    encryption_method: int
    channels: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerDataReceived:
    """The client read the GCC server data blocks of MCS Connect Response (2.2.1.4).

    :ivar version: version of SC_CORE
    :ivar encryption_method: encryptionMethod of SC_SECURITY
    :ivar encryption_level: encryptionLevel of SC_SECURITY
    :ivar io_channel: MCSChannelId of SC_NET (the I/O channel, normally 1003)
    """

    version: int
    encryption_method: int
    encryption_level: int
    io_channel: int


@dataclasses.dataclass(frozen=True, slots=True)
class ClientInfoReceived:
    """The server decrypted and read the Client Info PDU (2.2.1.11); licensing starts.

    :ivar user_name: UserName of TS_INFO_PACKET
    :ivar domain: Domain of TS_INFO_PACKET
    :ivar flags: flags of TS_INFO_PACKET (INFO_*)
    """

    user_name: str
    domain: str
    flags: int


@dataclasses.dataclass(frozen=True, slots=True)
class CapabilitiesConfirmed:
    """The server received the client's Confirm Active PDU (2.2.1.13.2)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorInfoReceived:
    """The client received a Set Error Info PDU (2.2.5.1.1).

    :ivar error_info: errorInfo (ERRINFO_*; 0x100 to 0x10A are licensing errors)
    """

    error_info: int


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """The connection is over: everything left to send is queued; the driver closes.

    :ivar reason: lower-case text for logs
    :ivar error_info: the Set Error Info code sent (server) or received (client), None
        when there was none
    :ivar licensed: licensing completed (a license issued, upgraded or accepted)
    :ivar negotiation_failure: the failureCode of the server's RDP_NEG_FAILURE
        (MS-RDPBCGR 2.2.1.2.2) when that ended it, so that a client can retry as real
        ones do (SSL_NOT_ALLOWED_BY_SERVER: again with Standard RDP Security); else None
    """

    reason: str
    error_info: int | None = None
    licensed: bool = False
    negotiation_failure: int | None = None


ConnectionEvent = (
    SecurityNegotiated
    | ClientDataReceived
    | ServerDataReceived
    | ClientInfoReceived
    | CapabilitiesConfirmed
    | ErrorInfoReceived
    | ConnectionEnded
)
"""Connection-sequence events (licensing events come from `rdplic.core.events`)."""
