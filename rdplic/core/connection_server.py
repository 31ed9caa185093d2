"""The server side of the RDP connection sequence up to licensing, as a sans-IO machine.

`ServerConnection` plays a Windows RD Session Host from the first byte a client sends to
the end of the licensing phase (MS-RDPBCGR 1.3.1.1, 3.3.5.3):

1. X.224 Connection Request -> Connection Confirm with RDP_NEG_RSP or RDP_NEG_FAILURE
   (`negotiate_security`).  When TLS is selected the machine stops reading at the end of
   the Connection Request and waits (AWAIT_TLS_HANDSHAKE): the driver starts TLS on the
   transport, gives it `trailing_data` (whatever the client sent after the request: its
   ClientHello, or plaintext that must fail the handshake), and calls `tls_established`
   when the handshake has completed; every later byte it passes in is TLS plaintext.
2. MCS Connect Initial -> Connect Response with the GCC server blocks: SC_CORE,
   SC_NET (I/O channel 1003, one id per static channel) and SC_SECURITY (the server random
   and the proprietary certificate under Standard RDP Security; method and level 0 under
   TLS, as Windows sends them).
3. Erect Domain (both encodings clients send), Attach User -> Attach User Confirm, Channel
   Joins -> Channel Join Confirms.
4. Under Standard RDP Security: the Security Exchange (RSA decryption of the client random,
   session keys at the negotiated strength, 5.3.4-5.3.5).
5. Client Info PDU (decrypted when encrypted).
6. Licensing: the PDUs go to and come from `rdplic.core.licensing_server.LicensingServer`,
   on the I/O channel, sent from the server channel 1002 as Windows does, encrypted with
   the session keys when the client announced SEC_LICENSE_ENCRYPT_SC in its Security
   Exchange (Windows then sends flags 0x0288).  Its `DecisionNeeded` events pass through;
   the driver answers with `decide` (or `decision_failed`), now or later.  A hostile
   server's ``licensing_mutator`` (an input, like the randomness) rewrites the licensing
   PDUs this machine encrypts, before it encrypts them.
7. The end: a server that hosts no session sends Set Error Info (to clients that support
   it) and a Disconnect Provider Ultimatum.  With ``demand_active`` it first sends a Demand
   Active PDU and waits for the client's Confirm Active.  When licensing was refused, Set
   Error Info goes before the licensing error, so that both rdesktop and xfreerdp report
   the licensing error code (xfreerdp aborts as soon as it reads the licensing error).

All legal steps are rows of `SERVER_TRANSITIONS`; a frame that has no row in the current
phase is a protocol error naming both.  Time comes in as ``now`` on every call and
randomness through ``random_bytes`` (architecture invariant 2).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol as TypingProtocol

from rdplic.core import events as lic
from rdplic.core._common import RandomBytes, ansi_text, utf16_text
from rdplic.core.connection_common import (
    DEFAULT_MAX_FRAME_SIZE,
    SERVER_CHANNEL_ID,
    ConnectionBase,
    LicensingMachine,
    SecurityLayer,
    malformed,
    mcs_frame,
    negotiate_security,
    send_data_frame,
)
from rdplic.core.connection_events import (
    CapabilitiesConfirmed,
    ClientDataReceived,
    ClientInfoReceived,
    ConnectionEnded,
    SecurityNegotiated,
)
from rdplic.core.decisions import Decision
from rdplic.core.errors import ConnectionProtocolError, LocalProtocolError, RemoteProtocolError
from rdplic.crypto.rdp_security import (
    EncryptionLevel,
    EncryptionMethod,
    RdpCipher,
    derive_session_keys,
    select_encryption_method,
)
from rdplic.crypto.rsa import RsaPrivateKey, rsa_private_op
from rdplic.pdu.finalization import (
    ControlAction,
    ControlPdu,
    FontMapPdu,
    ShareDataPdu,
    SynchronizePdu,
    decode_share_data_pdu,
    encode_control,
    encode_font_map,
    encode_share_data_pdu,
    encode_synchronize,
)
from rdplic.pdu.framing import (
    Protocol,
    RdpNegotiationFailure,
    RdpNegotiationResponse,
    Tpkt,
    X224ConnectionConfirm,
    X224ConnectionRequest,
    X224Data,
    X224DisconnectRequest,
    decode_x224,
    encode_tpkt,
    encode_x224,
    tpkt_payload,
)
from rdplic.pdu.gcc import (
    ClientCoreData,
    ClientNetworkData,
    ClientSecurityData,
    ConferenceCreateResponse,
    EarlyCapabilityFlag,
    RdpVersion,
    ServerCoreData,
    ServerEarlyCapabilityFlag,
    ServerNetworkData,
    ServerSecurityData,
    decode_conference_create_request,
    encode_conference_create_response,
)
from rdplic.pdu.gcc import EncryptionLevel as GccEncryptionLevel
from rdplic.pdu.gcc import EncryptionMethod as GccEncryptionMethod
from rdplic.pdu.licensing import ErrorCode
from rdplic.pdu.mcs import (
    MCS_GLOBAL_CHANNEL,
    AttachUserConfirm,
    AttachUserRequest,
    ChannelJoinConfirm,
    ChannelJoinRequest,
    DisconnectProviderUltimatum,
    DomainParameters,
    ErectDomainRequest,
    McsConnectResponse,
    McsResult,
    Reason,
    SendDataRequest,
    decode_domain_pdu,
    decode_mcs_connect_initial,
    encode_mcs_connect_response,
)
from rdplic.pdu.rdp import (
    CapabilitySet,
    DemandActive,
    ErrorInfo,
    PduType,
    PduType2,
    SecurityFlag,
    SetErrorInfo,
    decode_client_info,
    decode_security_exchange,
    decode_share_control_header,
    encode_demand_active,
    encode_set_error_info,
)

__all__ = [
    "SERVER_TRANSITIONS",
    "LicensingMutator",
    "ServerConnection",
    "ServerConnectionConfig",
    "ServerInput",
    "ServerPhase",
]

WINDOWS_DOMAIN_PARAMETERS = DomainParameters(34, 3, 0, 1, 0, 1, 0xFFF8, 2)
"""domainParameters of a Windows server's Connect Response (captures/windows, frame 13)."""

WINDOWS_CONNECT_PDU_LENGTH = 0x2A
"""The connectPDU length every Windows server writes in its Conference Create Response,
whatever the real length.  rdesktop 1.9 depends on it: it skips a fixed 21 bytes of T.124
header, so a correct two-byte length (needed once Standard RDP Security's certificate makes
the blocks longer than 127 bytes) throws it off ("Unhandled response tag")."""

CLIENT_RANDOM_SIZE = 32
SERVER_RANDOM_SIZE = 32
DEMAND_ACTIVE_SHARE_ID = 0x000103EA

_SEC_EXCHANGE_PKT = int(SecurityFlag.SEC_EXCHANGE_PKT)
_SEC_INFO_PKT = int(SecurityFlag.SEC_INFO_PKT)
_SEC_LICENSE_PKT = int(SecurityFlag.SEC_LICENSE_PKT)
_LICENSE_FLAGS_RDP = SecurityFlag.SEC_LICENSE_PKT | SecurityFlag.SEC_LICENSE_ENCRYPT_CS
"""The security flags of a licensing PDU under Standard RDP Security (see `_send_licensing`)."""
"""shareId of Windows' Demand Active: 0x10000 + the server channel (captures/windows)."""


class ServerLicensingMachine(LicensingMachine, TypingProtocol):
    """What the connection needs of its licensing machine (`LicensingServer`)."""

    @property
    def awaiting_decision(self) -> bool: ...

    def decide(self, decision: Decision, now: datetime) -> None: ...

    def decision_failed(self, reason: str, now: datetime) -> None: ...


LicensingFactory = Callable[[str, str, int], ServerLicensingMachine]
"""Makes the licensing machine: (client user name, client machine name, preamble version)."""

LicensingMutator = Callable[[bytes], list[bytes]]
"""A hostile server's strategy (``rdplic serve --hostile``, `rdplic.hostile`): one server
licensing PDU (preamble and message) in, the PDUs to send instead out (none: it is never
sent; several: it is repeated).  An input like the randomness: the machine has no mutation
of its own and calls it only for licensing PDUs it encrypts (see `_send_licensing`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerConnectionConfig:
    """How the emulated session host runs the connection sequence.

    :ivar allow_rdp_security: Standard RDP Security may be selected
    :ivar allow_tls: PROTOCOL_SSL may be selected (the driver must then have a certificate)
    :ivar encryption_level: CLIENT_COMPATIBLE (Windows' default) or HIGH
    :ivar rdp_version: SC_CORE version (the emulated Windows release's)
    :ivar demand_active: after licensing, send a Demand Active and wait for Confirm Active
    :ivar end_error_info: the Set Error Info code that ends a licensed connection
    :ivar proprietary_key: the key of ``proprietary_certificate``: it decrypts the client
        random of the Security Exchange
    :ivar proprietary_certificate: the SERVER_CERTIFICATE sent in SC_SECURITY
    :ivar max_frame_size: largest frame accepted (see `DEFAULT_MAX_FRAME_SIZE`)
    """

    proprietary_key: RsaPrivateKey
    proprietary_certificate: bytes
    allow_rdp_security: bool = True
    allow_tls: bool = True
    encryption_level: EncryptionLevel = EncryptionLevel.CLIENT_COMPATIBLE
    rdp_version: int = RdpVersion.RDP_VERSION_5_PLUS
    demand_active: bool = False
    end_error_info: int = ErrorInfo.ERRINFO_SERVER_DENIED_CONNECTION
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE


class ServerPhase(enum.Enum):
    """Where the connection sequence stands (MS-RDPBCGR 1.3.1.1 phases)."""

    AWAIT_CONNECTION_REQUEST = "AWAIT_CONNECTION_REQUEST"
    AWAIT_TLS_HANDSHAKE = "AWAIT_TLS_HANDSHAKE"
    AWAIT_CONNECT_INITIAL = "AWAIT_CONNECT_INITIAL"
    AWAIT_ERECT_DOMAIN = "AWAIT_ERECT_DOMAIN"
    AWAIT_ATTACH_USER = "AWAIT_ATTACH_USER"
    AWAIT_CHANNEL_JOIN = "AWAIT_CHANNEL_JOIN"
    AWAIT_CLIENT_INFO = "AWAIT_CLIENT_INFO"
    LICENSING = "LICENSING"
    AWAIT_CONFIRM_ACTIVE = "AWAIT_CONFIRM_ACTIVE"
    AWAIT_FONT_LIST = "AWAIT_FONT_LIST"
    CLOSED = "CLOSED"


class ServerInput(enum.Enum):
    """What moves the connection: a PDU received, or an outcome of the server's own."""

    CONNECTION_REQUEST = "X.224 Connection Request"
    TLS_SELECTED = "PROTOCOL_SSL selected"
    TLS_ESTABLISHED = "TLS handshake completed"
    NEGOTIATION_FAILED = "negotiation failed"
    CONNECT_INITIAL = "MCS Connect Initial"
    ERECT_DOMAIN = "MCS Erect Domain Request"
    ATTACH_USER = "MCS Attach User Request"
    CHANNEL_JOIN = "MCS Channel Join Request"
    SECURITY_EXCHANGE = "Security Exchange PDU"
    CLIENT_INFO = "Client Info PDU"
    LICENSING_PDU = "licensing PDU"
    LICENSING_ENDED = "licensing ended"
    DEMAND_ACTIVE_SENT = "Demand Active sent"
    CONFIRM_ACTIVE = "Confirm Active PDU"
    FINALIZATION_PDU = "client finalization PDU"
    FONT_LIST = "Font List PDU"
    DISCONNECT = "disconnect"


P, In = ServerPhase, ServerInput

SERVER_TRANSITIONS: dict[tuple[ServerPhase, ServerInput], ServerPhase] = {
    (P.AWAIT_CONNECTION_REQUEST, In.CONNECTION_REQUEST): P.AWAIT_CONNECT_INITIAL,
    # Nothing is read between the Connection Confirm and the end of the TLS handshake.
    (P.AWAIT_CONNECT_INITIAL, In.TLS_SELECTED): P.AWAIT_TLS_HANDSHAKE,
    (P.AWAIT_TLS_HANDSHAKE, In.TLS_ESTABLISHED): P.AWAIT_CONNECT_INITIAL,
    (P.AWAIT_CONNECT_INITIAL, In.NEGOTIATION_FAILED): P.CLOSED,
    (P.AWAIT_CONNECT_INITIAL, In.CONNECT_INITIAL): P.AWAIT_ERECT_DOMAIN,
    (P.AWAIT_ERECT_DOMAIN, In.ERECT_DOMAIN): P.AWAIT_ATTACH_USER,
    # Windows also takes Attach User first: the Erect Domain Request carries nothing it uses.
    (P.AWAIT_ERECT_DOMAIN, In.ATTACH_USER): P.AWAIT_CHANNEL_JOIN,
    (P.AWAIT_ATTACH_USER, In.ATTACH_USER): P.AWAIT_CHANNEL_JOIN,
    (P.AWAIT_CHANNEL_JOIN, In.CHANNEL_JOIN): P.AWAIT_CHANNEL_JOIN,
    (P.AWAIT_CHANNEL_JOIN, In.SECURITY_EXCHANGE): P.AWAIT_CLIENT_INFO,
    (P.AWAIT_CHANNEL_JOIN, In.CLIENT_INFO): P.LICENSING,
    (P.AWAIT_CLIENT_INFO, In.CLIENT_INFO): P.LICENSING,
    (P.LICENSING, In.LICENSING_PDU): P.LICENSING,
    (P.LICENSING, In.LICENSING_ENDED): P.CLOSED,
    (P.LICENSING, In.DEMAND_ACTIVE_SENT): P.AWAIT_CONFIRM_ACTIVE,
    (P.AWAIT_CONFIRM_ACTIVE, In.CONFIRM_ACTIVE): P.AWAIT_FONT_LIST,
    # Synchronize, Control (Cooperate, Request Control), Persistent Key List, input: the
    # client finalization PDUs before the last one (MS-RDPBCGR 1.3.1.1).
    (P.AWAIT_FONT_LIST, In.FINALIZATION_PDU): P.AWAIT_FONT_LIST,
    (P.AWAIT_FONT_LIST, In.FONT_LIST): P.CLOSED,
    **{(phase, In.DISCONNECT): P.CLOSED for phase in ServerPhase if phase is not P.CLOSED},
}
"""Every legal step of the server's connection sequence."""

# Licensing error codes -> the Set Error Info code Windows shows for them (MS-RDPBCGR
# 2.2.5.1.1), when the licensing machine does not name one itself.
_ERROR_INFO_FOR_CODE: dict[int, int] = {
    ErrorCode.ERR_INVALID_MAC: ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION,
    ErrorCode.ERR_NO_LICENSE_SERVER: ErrorInfo.ERRINFO_LICENSE_NO_LICENSE_SERVER,
    ErrorCode.ERR_INVALID_CLIENT: ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_MSG,
    ErrorCode.ERR_INVALID_MESSAGE_LEN: ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_MSG,
    ErrorCode.ERR_INVALID_SCOPE: ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_LICENSE,
    ErrorCode.ERR_INVALID_PRODUCTID: ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_LICENSE,
}
_ERROR_INFO_FOR_ORIGIN: dict[lic.FailureOrigin, int] = {
    lic.FailureOrigin.REFUSED: ErrorInfo.ERRINFO_LICENSE_NO_LICENSE,
    lic.FailureOrigin.PEER: ErrorInfo.ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL,
    lic.FailureOrigin.TIMEOUT: ErrorInfo.ERRINFO_LICENSE_CANT_FINISH_PROTOCOL,
    lic.FailureOrigin.SERVICE: ErrorInfo.ERRINFO_LICENSE_NO_LICENSE_SERVER,
}


def error_info_for(failed: lic.LicensingFailed) -> int:
    """The Set Error Info code that goes with a failed licensing exchange."""
    if failed.error_info is not None:
        return failed.error_info
    if failed.origin is not lic.FailureOrigin.PROTOCOL:
        return _ERROR_INFO_FOR_ORIGIN.get(failed.origin, ErrorInfo.ERRINFO_LICENSE_INTERNAL)
    return _ERROR_INFO_FOR_CODE.get(failed.error_code, ErrorInfo.ERRINFO_LICENSE_BAD_CLIENT_MSG)


class ServerConnection(ConnectionBase[ServerPhase, ServerInput]):
    """One client connection, server side, from X.224 to the end of licensing."""

    _TLS_HANDSHAKE_PHASE = ServerPhase.AWAIT_TLS_HANDSHAKE
    _TLS_ESTABLISHED_INPUT = ServerInput.TLS_ESTABLISHED

    def __init__(
        self,
        config: ServerConnectionConfig,
        licensing: LicensingFactory,
        *,
        random_bytes: RandomBytes,
        licensing_mutator: LicensingMutator | None = None,
    ) -> None:
        super().__init__(
            SERVER_TRANSITIONS,
            ServerPhase.AWAIT_CONNECTION_REQUEST,
            ServerPhase.CLOSED,
            random_bytes=random_bytes,
            max_frame_size=config.max_frame_size,
        )
        self._config = config
        self._make_licensing = licensing
        self._requested_protocols: int | None = None
        self._client_core: ClientCoreData | None = None
        self._encryption_method = EncryptionMethod.NONE
        self._server_random = b""
        self._user_channel = 0
        self._channels: set[int] = set()
        self._license_encrypt = False
        self._licensing: ServerLicensingMachine | None = None
        self._end_error_info = config.end_error_info
        self._licensing_mutator = licensing_mutator

    # -- decisions ---------------------------------------------------------------------

    @property
    def awaiting_decision(self) -> bool:
        """Licensing waits for the license server (a `DecisionNeeded` was emitted)."""
        return self._licensing is not None and self._licensing.awaiting_decision

    def decide(self, decision: Decision, now: datetime) -> None:
        """Hand the licensing machine the license server's decision, and go on.

        A decision that arrives after the connection ended (the client broke off while
        the license server decided) is dropped.

        :raises ConnectionProtocolError: licensing failed on the peer's account
        :raises LocalProtocolError: nothing was asked
        """
        if self._closed():
            return
        if self._licensing is None:
            raise LocalProtocolError(f"decide() in phase {self._phase.value}")
        self._run_licensing(lambda machine: machine.decide(decision, now))

    def decision_failed(self, reason: str, now: datetime) -> None:
        """The license server could not decide: the client gets ERR_NO_LICENSE_SERVER (R46).

        :raises LocalProtocolError: nothing was asked
        """
        if self._closed():
            return
        if self._licensing is None:
            raise LocalProtocolError(f"decision_failed() in phase {self._phase.value}")
        self._run_licensing(lambda machine: machine.decision_failed(reason, now))

    # -- frames ------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes, now: datetime) -> None:
        if frame[0] != 0x03:
            if self._phase is ServerPhase.AWAIT_FONT_LIST:
                return  # fast-path input of a client that thinks it is active
            raise ConnectionProtocolError(f"fast-path frame in phase {self._phase.value}")
        with malformed("X.224 frame"):
            tpdu = decode_x224(tpkt_payload(frame))
        if isinstance(tpdu, X224ConnectionRequest):
            self._on_connection_request(tpdu)
        elif isinstance(tpdu, X224DisconnectRequest):
            self._end_by_client("X.224 Disconnect Request")
        elif isinstance(tpdu, X224Data):
            if self._phase is ServerPhase.AWAIT_CONNECT_INITIAL:
                self._on_connect_initial(tpdu.payload)
            else:
                self._on_domain_pdu(tpdu.payload, now)
        else:
            raise ConnectionProtocolError(f"{type(tpdu).__name__} from a client")

    # -- X.224 -------------------------------------------------------------------------

    def _on_connection_request(self, request: X224ConnectionRequest) -> None:
        self._move(ServerInput.CONNECTION_REQUEST)
        neg_req = request.rdp_neg_req
        self._requested_protocols = None if neg_req is None else int(neg_req.requested_protocols)
        answer = negotiate_security(
            neg_req,
            allow_rdp=self._config.allow_rdp_security,
            allow_tls=self._config.allow_tls,
        )
        confirm = X224ConnectionConfirm(rdp_neg_data=answer)
        self._out.append(encode_tpkt(Tpkt(encode_x224(confirm))))
        cookie = (request.mstshash or b"").decode("latin-1")
        if isinstance(answer, RdpNegotiationFailure):
            self._move(ServerInput.NEGOTIATION_FAILED)
            self._events.append(
                ConnectionEnded(f"negotiation failed: {_name(answer.failure_code)}")
            )
            return
        selected = Protocol.PROTOCOL_RDP
        if isinstance(answer, RdpNegotiationResponse):
            selected = answer.selected_protocol
        self._tls = selected == Protocol.PROTOCOL_SSL
        if self._tls:
            self._move(ServerInput.TLS_SELECTED)
        self._events.append(
            SecurityNegotiated(
                requested_protocols=self._requested_protocols,
                selected_protocol=int(selected),
                cookie=cookie,
                start_tls=self._tls,
            )
        )

    def _on_tls_established(self, now: datetime) -> None:
        """The client's next frame is its MCS Connect Initial, now under TLS."""

    # -- MCS Connect Initial / Response ---------------------------------------------

    def _on_connect_initial(self, payload: bytes) -> None:
        with malformed("MCS Connect Initial"):
            initial = decode_mcs_connect_initial(payload)
            request = decode_conference_create_request(initial.user_data)
        self._move(ServerInput.CONNECT_INITIAL)
        core = next((b for b in request.client_blocks if isinstance(b, ClientCoreData)), None)
        if core is None:
            raise ConnectionProtocolError("MCS Connect Initial without client core data")
        security = next(
            (b for b in request.client_blocks if isinstance(b, ClientSecurityData)), None
        )
        network = next((b for b in request.client_blocks if isinstance(b, ClientNetworkData)), None)
        self._client_core = core
        channels = network.channels if network is not None else ()
        static_ids = tuple(MCS_GLOBAL_CHANNEL + 1 + i for i in range(len(channels)))
        self._user_channel = MCS_GLOBAL_CHANNEL + 1 + len(channels)
        self._channels = {MCS_GLOBAL_CHANNEL, self._user_channel, *static_ids}

        offered = 0
        if security is not None:
            # French-locale clients put the methods in extEncryptionMethods (2.2.1.3.3).
            offered = int(security.encryption_methods) or security.ext_encryption_methods
        if self._tls:
            sc_security = ServerSecurityData(
                GccEncryptionMethod.ENCRYPTION_METHOD_NONE,
                GccEncryptionLevel.ENCRYPTION_LEVEL_NONE,
            )
        else:
            method = select_encryption_method(offered, self._config.encryption_level)
            if method is None or method is EncryptionMethod.NONE:
                raise ConnectionProtocolError(
                    f"client offers no usable encryption method (0x{offered:x})"
                )
            self._encryption_method = method
            self._server_random = self._draw(SERVER_RANDOM_SIZE)
            sc_security = ServerSecurityData(
                GccEncryptionMethod(int(method)),
                GccEncryptionLevel(int(self._config.encryption_level)),
                self._server_random,
                self._config.proprietary_certificate,
            )
        version = self._config.rdp_version
        modern = version >= RdpVersion.RDP_VERSION_10_0
        sc_core = ServerCoreData(
            version,
            Protocol(self._requested_protocols or 0),
            ServerEarlyCapabilityFlag(6) if modern else None,
        )
        sc_net = ServerNetworkData(MCS_GLOBAL_CHANNEL, static_ids)
        response = ConferenceCreateResponse(
            server_blocks=(sc_core, sc_net, sc_security),
            connect_pdu_length=WINDOWS_CONNECT_PDU_LENGTH,
        )
        mcs = McsConnectResponse(
            domain_parameters=WINDOWS_DOMAIN_PARAMETERS,
            user_data=encode_conference_create_response(response),
        )
        self._out.append(mcs_frame(encode_mcs_connect_response(mcs)))
        self._events.append(
            ClientDataReceived(
                client_name=utf16_text(core.client_name),
                client_build=core.client_build,
                version=int(core.version),
                encryption_methods=offered,
                encryption_method=int(self._encryption_method),
                channels=tuple(ansi_text(c.name) for c in channels),
            )
        )

    # -- MCS domain PDUs ---------------------------------------------------------------

    def _on_domain_pdu(self, payload: bytes, now: datetime) -> None:
        with malformed("MCS PDU"):
            pdu = decode_domain_pdu(payload)
        if isinstance(pdu, SendDataRequest):
            self._on_send_data(pdu, now)
        elif isinstance(pdu, ErectDomainRequest):
            self._move(ServerInput.ERECT_DOMAIN)
        elif isinstance(pdu, AttachUserRequest):
            self._move(ServerInput.ATTACH_USER)
            self._out.append(
                mcs_frame(AttachUserConfirm(McsResult.RT_SUCCESSFUL, self._user_channel))
            )
        elif isinstance(pdu, ChannelJoinRequest):
            self._move(ServerInput.CHANNEL_JOIN)
            if pdu.channel_id in self._channels:
                confirm = ChannelJoinConfirm(
                    pdu.initiator, pdu.channel_id, pdu.channel_id, McsResult.RT_SUCCESSFUL
                )
            else:
                confirm = ChannelJoinConfirm(
                    pdu.initiator, pdu.channel_id, None, McsResult.RT_NO_SUCH_CHANNEL
                )
            self._out.append(mcs_frame(confirm))
        elif isinstance(pdu, DisconnectProviderUltimatum):
            self._end_by_client("Disconnect Provider Ultimatum")
        else:
            raise ConnectionProtocolError(
                f"{type(pdu).__name__} is not expected in phase {self._phase.value}"
            )

    def _on_send_data(self, pdu: SendDataRequest, now: datetime) -> None:
        if pdu.channel_id != MCS_GLOBAL_CHANNEL:
            # Static virtual channel traffic: no client sends any before activation, and a
            # server that hosts no session has nothing to do with it.
            return
        if self._phase in (ServerPhase.AWAIT_CONFIRM_ACTIVE, ServerPhase.AWAIT_FONT_LIST):
            self._on_share_control(pdu.user_data)
            return
        flags, body = self._security.unwrap(pdu.user_data, what=self._phase.value)
        bits = int(flags)
        if bits & _SEC_EXCHANGE_PKT:
            self._on_security_exchange(flags, body)
        elif bits & _SEC_INFO_PKT:
            self._on_client_info(body, now)
        elif bits & _SEC_LICENSE_PKT:
            self._on_licensing_pdu(body, now)
        else:
            raise ConnectionProtocolError(
                f"data PDU (security flags 0x{int(flags):04x}) in phase {self._phase.value}"
            )

    # -- Security Exchange, Client Info ---------------------------------------------

    def _on_security_exchange(self, flags: SecurityFlag, body: bytes) -> None:
        if self._tls or self._encryption_method is EncryptionMethod.NONE:
            raise ConnectionProtocolError("Security Exchange PDU without Standard RDP Security")
        self._move(ServerInput.SECURITY_EXCHANGE)
        with malformed("Security Exchange PDU"):
            exchange = decode_security_exchange(body)
        key = self._config.proprietary_key
        encrypted = exchange.encrypted_client_random[: key.modulus_bytes]
        value = int.from_bytes(encrypted, "little")
        if len(encrypted) != key.modulus_bytes or value >= key.n:
            raise ConnectionProtocolError("encrypted client random does not fit the server key")
        plain = rsa_private_op(key, value).to_bytes(key.modulus_bytes, "little")
        client_random = plain[:CLIENT_RANDOM_SIZE]
        keys = derive_session_keys(
            client_random, self._server_random, self._encryption_method, server=True
        )
        self._security = SecurityLayer(RdpCipher(keys), encrypt_all=True)
        self._license_encrypt = bool(flags & SecurityFlag.SEC_LICENSE_ENCRYPT_SC)

    def _on_client_info(self, body: bytes, now: datetime) -> None:
        if not self._tls and self._security.cipher is None:
            raise ConnectionProtocolError("Client Info PDU before the Security Exchange")
        self._move(ServerInput.CLIENT_INFO)
        with malformed("Client Info PDU"):
            info = decode_client_info(body)
        user = utf16_text(info.user_name)
        self._events.append(
            ClientInfoReceived(
                user_name=user, domain=utf16_text(info.domain), flags=int(info.flags)
            )
        )
        core = self._client_core
        machine = utf16_text(core.client_name) if core is not None else ""
        rdp4 = core is not None and core.version == RdpVersion.RDP_VERSION_4
        self._licensing = self._make_licensing(user, machine, 2 if rdp4 else 3)
        self._run_licensing(lambda machine: machine.start(now))

    # -- licensing ---------------------------------------------------------------------

    def _on_licensing_pdu(self, body: bytes, now: datetime) -> None:
        self._move(ServerInput.LICENSING_PDU)
        self._run_licensing(lambda machine: machine.receive_pdu(body, now))

    def _run_licensing(self, step: Callable[[ServerLicensingMachine], None]) -> None:
        machine = self._licensing
        assert machine is not None  # INVARIANT: created with the Client Info
        error: RemoteProtocolError | None = None
        try:
            step(machine)
        except RemoteProtocolError as caught:
            error = caught
        events: list[lic.Event] = []
        while (event := machine.next_event()) is not None:
            events.append(event)
        pdus = machine.data_to_send()
        failed = next((e for e in events if isinstance(e, lic.LicensingFailed)), None)
        done = any(
            isinstance(e, lic.NewLicenseIssued | lic.LicenseUpgraded | lic.ValidClient)
            for e in events
        )
        error_info = self._end_error_info
        if failed is not None:
            error_info = error_info_for(failed)
            # Before the licensing error: xfreerdp stops reading at the error alert.
            self._send_error_info(error_info)
        for pdu in pdus:
            self._send_licensing(pdu)
        self._events.extend(events)
        if failed is not None:
            if (
                error is None
                and self._config.demand_active
                and failed.origin is lic.FailureOrigin.REFUSED
            ):
                # A refused client that stays (rdesktop does; MS-RDPELE 3.1.5.3 lets a
                # client go on after ST_TOTAL_ABORT) is disconnected after the capability
                # exchange like the others, with the licensing error code.
                self._end_error_info = error_info
                self._send_demand_active()
                self._move(ServerInput.DEMAND_ACTIVE_SENT)
                return
            self._move(ServerInput.LICENSING_ENDED)
            self._disconnect()
            reason = f"licensing failed: {failed.reason}"
            self._events.append(ConnectionEnded(reason, error_info, licensed=False))
            if error is not None:
                raise ConnectionProtocolError(reason)
            return
        if error is not None:  # pragma: no cover - the machine always reports a failure
            raise ConnectionProtocolError(f"licensing failed: {error}")
        if done:
            self._licensed = True
            if self._config.demand_active:
                self._send_demand_active()
                self._move(ServerInput.DEMAND_ACTIVE_SENT)
            else:
                self._move(ServerInput.LICENSING_ENDED)
                self._finish("licensing completed")

    def _send_licensing(self, pdu: bytes) -> None:
        """One licensing PDU, sent from the server channel on the I/O channel (2.2.1.12)."""
        flags = SecurityFlag.SEC_LICENSE_PKT
        encrypt = False
        if not self._tls:
            # "I can process encrypted licensing packets" (MS-RDPELE 2.2.2); Windows
            # encrypts them when the client said the same in its Security Exchange.
            flags = _LICENSE_FLAGS_RDP
            encrypt = self._license_encrypt
        pdus = [pdu]
        if encrypt and self._licensing_mutator is not None:
            # A hostile server (`LicensingMutator`) lies in the licensing PDU itself, before
            # the security layer encrypts it and signs it (dataSignature, 5.3.6): the client
            # decrypts the lie and its MAC checks.  PDUs in clear are the adapter's to mutate.
            pdus = self._licensing_mutator(pdu)
        for each in pdus:
            user_data = self._security.wrap(flags, each, encrypt=encrypt)
            self._out.append(
                send_data_frame(SERVER_CHANNEL_ID, MCS_GLOBAL_CHANNEL, user_data, server=True)
            )

    # -- after licensing ---------------------------------------------------------------

    def _send_demand_active(self) -> None:
        core = self._client_core
        assert core is not None  # INVARIANT: read with the MCS Connect Initial
        pdu = DemandActive(
            share_id=DEMAND_ACTIVE_SHARE_ID,
            source_descriptor=b"RDP\x00",
            capability_sets=demand_active_capabilities(core.desktop_width, core.desktop_height),
            pdu_source=SERVER_CHANNEL_ID,
        )
        self._send_share_pdu(encode_demand_active(pdu))

    def _on_share_control(self, user_data: bytes) -> None:
        """Confirm Active, then the client's finalization PDUs up to its Font List (1.3.1.1)."""
        body = user_data
        if not self._tls:
            _, body = self._security.unwrap(user_data, what=self._phase.value)
        with malformed("share control PDU"):
            header, _ = decode_share_control_header(body)
            data_pdu = None
            if header.pdu_type == PduType.PDUTYPE_DATAPDU:
                data_pdu = decode_share_data_pdu(body)
        if header.pdu_type == PduType.PDUTYPE_CONFIRMACTIVEPDU:
            self._move(ServerInput.CONFIRM_ACTIVE)
            self._events.append(CapabilitiesConfirmed())
            self._send_server_finalization()
        elif data_pdu is not None and data_pdu.pdu_type2 == PduType2.PDUTYPE2_FONTLIST:
            self._move(ServerInput.FONT_LIST)
            self._send_data_pdu(PduType2.PDUTYPE2_FONTMAP, encode_font_map(FontMapPdu()))
            self._finish("capabilities confirmed")
        elif data_pdu is not None:
            self._move(ServerInput.FINALIZATION_PDU)
        else:
            raise ConnectionProtocolError(
                f"share control PDU type {int(header.pdu_type)} in phase {self._phase.value}"
            )

    def _send_server_finalization(self) -> None:
        """Server Synchronize, Control Cooperate and Control Granted Control (2.2.1.19-21):
        rdesktop sends its Font List only once it has them."""
        user = self._user_channel
        self._send_data_pdu(PduType2.PDUTYPE2_SYNCHRONIZE, encode_synchronize(SynchronizePdu(user)))
        cooperate = ControlPdu(ControlAction.CTRLACTION_COOPERATE)
        self._send_data_pdu(PduType2.PDUTYPE2_CONTROL, encode_control(cooperate))
        granted = ControlPdu(ControlAction.CTRLACTION_GRANTED_CONTROL, user, SERVER_CHANNEL_ID)
        self._send_data_pdu(PduType2.PDUTYPE2_CONTROL, encode_control(granted))

    def _send_data_pdu(self, pdu_type2: PduType2, body: bytes) -> None:
        pdu = ShareDataPdu(pdu_type2, body, share_id=DEMAND_ACTIVE_SHARE_ID)
        self._send_share_pdu(encode_share_data_pdu(pdu))

    def _send_share_pdu(self, body: bytes) -> None:
        """A share-control PDU: no security header under TLS (5.4.4), encrypted otherwise."""
        user_data = body if self._tls else self._security.wrap(SecurityFlag(0), body)
        self._out.append(
            send_data_frame(SERVER_CHANNEL_ID, MCS_GLOBAL_CHANNEL, user_data, server=True)
        )

    def _send_error_info(self, error_info: int) -> bool:
        """Set Error Info (2.2.5.1.1), only to clients that announced they support it."""
        core = self._client_core
        flags = core.early_capability_flags if core is not None else None
        if not flags or not int(flags) & _SUPPORT_ERRINFO_PDU:
            return False
        pdu = _SET_ERROR_INFO.get(error_info)
        if pdu is None:
            pdu = encode_set_error_info(SetErrorInfo(error_info))
        self._send_share_pdu(pdu)
        return True

    def _disconnect(self) -> None:
        self._out.append(_DISCONNECT_FRAME)

    def _finish(self, reason: str) -> None:
        """End a licensed connection the way a server that hosts no session does."""
        error_info = self._end_error_info
        sent = self._send_error_info(error_info)
        self._disconnect()
        self._events.append(
            ConnectionEnded(reason, error_info if sent else None, licensed=self._licensed)
        )

    def _end_by_client(self, what: str) -> None:
        self._move(ServerInput.DISCONNECT)
        self._events.append(ConnectionEnded(f"client sent {what}", licensed=self._licensed))

    def _protocol_error(self, reason: str) -> None:
        """A protocol error: end here (the licensing machine queued its own error PDU)."""
        if self._phase is not ServerPhase.CLOSED:
            self._phase = ServerPhase.CLOSED
            self._events.append(ConnectionEnded(f"protocol error: {reason}", licensed=False))


_SUPPORT_ERRINFO_PDU = int(EarlyCapabilityFlag.RNS_UD_CS_SUPPORT_ERRINFO_PDU)
_SET_ERROR_INFO: Mapping[int, bytes] = MappingProxyType(
    {
        code: encode_set_error_info(SetErrorInfo(code))
        for code in (ErrorInfo.ERRINFO_SERVER_DENIED_CONNECTION, *range(0x100, 0x10B))
    }
)
"""Set Error Info PDU data of the codes that end connections (ERRINFO_SERVER_DENIED_CONNECTION
and the licensing codes 0x100-0x10A), built once; any other code is encoded when sent."""
_DISCONNECT_FRAME = mcs_frame(DisconnectProviderUltimatum(Reason.RN_PROVIDER_INITIATED))
"""The Disconnect Provider Ultimatum frame that ends every connection the server ends."""


def demand_active_capabilities(width: int, height: int) -> tuple[CapabilitySet, ...]:
    """Capability sets of the Demand Active PDU (MS-RDPBCGR 2.2.7): those a Windows Server
    sends (captures/windows, frame 33) that concern a client at the start of a session,
    with the client's desktop size in the bitmap set."""
    bitmap = (
        bytes.fromhex("2000010001000100")
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
        + bytes.fromhex("000001000100001e01000000")
    )
    return (
        CapabilitySet(0x0009, bytes.fromhex("ea030000")),  # share: nodeId 1002
        CapabilitySet(0x0001, bytes.fromhex("010003000002000000001d040000000000000101")),
        CapabilitySet(0x0014, bytes.fromhex("0200000040060000")),  # virtual channel
        CapabilitySet(0x000A, bytes.fromhex("06000000")),  # color cache
        CapabilitySet(0x0008, bytes.fromhex("010019001900")),  # pointer
        CapabilitySet(0x000E, bytes.fromhex("01000000")),  # font
        CapabilitySet(0x0002, bitmap),
        CapabilitySet(0x0003, _WINDOWS_ORDER_CAPABILITY),
        CapabilitySet(0x0012, bytes.fromhex("01000000")),  # bitmap cache host support
        CapabilitySet(0x000D, bytes.fromhex("75030000") + bytes(80)),  # input
        CapabilitySet(0x001A, bytes.fromhex("2a003000")),  # multifragment update
    )


_WINDOWS_ORDER_CAPABILITY = bytes.fromhex(
    "0000000000000000000000000000000040420f0001001400000001000000aa00"
    "0101010101000000010000010000000101010101010101000101010100000000"
    "a106060040420f0040420f000100000000000000"
)
"""TS_ORDER_CAPABILITYSET data of a Windows Server's Demand Active (captures/windows)."""


def _name(code: object) -> str:
    return getattr(code, "name", None) or f"0x{int(code):x}"  # type: ignore[call-overload]
