"""The client side of the RDP connection sequence up to licensing, as a sans-IO machine.

`ClientConnection` is the simulated client that benchmarks and tests run against ``rdplic
serve`` (or any RDP server): it sends what a FreeRDP-like client sends, from the X.224
Connection Request to the end of the licensing phase, and then waits for the server to end
the connection (Set Error Info, Disconnect Provider Ultimatum).  The licensing itself is
`rdplic.core.licensing_client.LicensingClient`'s.

Differences from a real client, all harmless to a server: the channel joins are sent at
once rather than one after the other (MCS allows it and it saves round trips), and a Demand
Active ends the connection (the simulated client has no session to run).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import datetime

from rdplic.core import events as lic
from rdplic.core._common import RandomBytes, utf16_z
from rdplic.core.connection_common import (
    DEFAULT_MAX_FRAME_SIZE,
    ConnectionBase,
    LicensingMachine,
    SecurityLayer,
    malformed,
    mcs_frame,
    send_data_frame,
)
from rdplic.core.connection_events import (
    ConnectionEnded,
    ErrorInfoReceived,
    SecurityNegotiated,
    ServerDataReceived,
)
from rdplic.core.errors import ConnectionProtocolError, RemoteProtocolError
from rdplic.crypto import public_key_from_server_certificate
from rdplic.crypto.rdp_security import (
    EncryptionMethod,
    RdpCipher,
    derive_session_keys,
)
from rdplic.crypto.rsa import rsa_public_op
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    Protocol,
    RdpNegotiationFailure,
    RdpNegotiationRequest,
    RdpNegotiationResponse,
    Tpkt,
    X224ConnectionConfirm,
    X224ConnectionRequest,
    X224Data,
    X224DisconnectRequest,
    decode_tpkt,
    decode_x224,
    encode_tpkt,
    encode_x224,
)
from rdplic.pdu.gcc import (
    ChannelDef,
    ChannelOption,
    ClientCoreData,
    ClientNetworkData,
    ClientSecurityData,
    ColorDepth,
    ConferenceCreateRequest,
    EarlyCapabilityFlag,
    HighColorDepth,
    RdpVersion,
    ServerCoreData,
    ServerNetworkData,
    ServerSecurityData,
    SupportedColorDepth,
    decode_conference_create_response,
    encode_conference_create_request,
)
from rdplic.pdu.gcc import (
    EncryptionMethod as GccEncryptionMethod,
)
from rdplic.pdu.mcs import (
    MAXIMUM_PARAMETERS,
    MINIMUM_PARAMETERS,
    TARGET_PARAMETERS,
    AttachUserConfirm,
    AttachUserRequest,
    ChannelJoinConfirm,
    ChannelJoinRequest,
    DisconnectProviderUltimatum,
    ErectDomainRequest,
    McsConnectInitial,
    McsResult,
    SendDataIndication,
    decode_domain_pdu,
    decode_mcs_connect_response,
    encode_mcs_connect_initial,
)
from rdplic.pdu.rdp import (
    ClientAddressFamily,
    ClientInfo,
    ExtendedInfo,
    InfoFlag,
    PduType,
    PerformanceFlag,
    SecurityExchange,
    SecurityFlag,
    SystemTime,
    TimeZoneInformation,
    decode_set_error_info,
    decode_share_control_header,
    encode_client_info,
    encode_security_exchange,
)

__all__ = [
    "CLIENT_TRANSITIONS",
    "ClientConnection",
    "ClientConnectionConfig",
    "ClientInput",
    "ClientPhase",
]

ClientLicensingFactory = Callable[[bytes | None], LicensingMachine]
"""Makes the licensing client, given the server certificate of SC_SECURITY (or None)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClientConnectionConfig:
    """What the simulated client says about itself in the connection sequence.

    :ivar requested_protocols: requestedProtocols of RDP_NEG_REQ (0 = Standard RDP Security,
        1 = TLS), None to send no RDP_NEG_REQ at all (Standard RDP Security, like
        ``xfreerdp /sec:rdp``)
    :ivar client_name: clientName of CS_CORE (15 characters at most)
    :ivar encryption_methods: encryptionMethods of CS_SECURITY
    """

    requested_protocols: int | None = 0
    client_name: str = "RDPLIC"
    user_name: str = "rdplic"
    domain: str = ""
    password: str = ""
    client_build: int = 2600
    version: int = RdpVersion.RDP_VERSION_10_7
    encryption_methods: int = 0x0B  # 40, 128 and 56-bit
    channels: tuple[str, ...] = ("rdpdr", "rdpsnd", "cliprdr", "drdynvc")
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE


class ClientPhase(enum.Enum):
    """Where the client stands."""

    START = "START"
    AWAIT_CONNECTION_CONFIRM = "AWAIT_CONNECTION_CONFIRM"
    AWAIT_TLS_HANDSHAKE = "AWAIT_TLS_HANDSHAKE"
    AWAIT_CONNECT_RESPONSE = "AWAIT_CONNECT_RESPONSE"
    AWAIT_ATTACH_USER_CONFIRM = "AWAIT_ATTACH_USER_CONFIRM"
    AWAIT_CHANNEL_JOIN_CONFIRM = "AWAIT_CHANNEL_JOIN_CONFIRM"
    LICENSING = "LICENSING"
    LICENSED = "LICENSED"
    CLOSED = "CLOSED"


class ClientInput(enum.Enum):
    """What moves the client."""

    START = "start"
    CONNECTION_CONFIRM = "X.224 Connection Confirm"
    TLS_SELECTED = "PROTOCOL_SSL selected"
    TLS_ESTABLISHED = "TLS handshake completed"
    NEGOTIATION_FAILED = "RDP_NEG_FAILURE"
    CONNECT_RESPONSE = "MCS Connect Response"
    ATTACH_USER_CONFIRM = "MCS Attach User Confirm"
    CHANNEL_JOIN_CONFIRM = "MCS Channel Join Confirm"
    ALL_CHANNELS_JOINED = "all channels joined"
    LICENSING_PDU = "licensing PDU"
    LICENSING_COMPLETED = "licensing completed"
    LICENSING_FAILED = "licensing failed"
    ERROR_INFO = "Set Error Info PDU"
    DEMAND_ACTIVE = "Demand Active PDU"
    DISCONNECT = "disconnect"


P, In = ClientPhase, ClientInput

CLIENT_TRANSITIONS: dict[tuple[ClientPhase, ClientInput], ClientPhase] = {
    (P.START, In.START): P.AWAIT_CONNECTION_CONFIRM,
    (P.AWAIT_CONNECTION_CONFIRM, In.CONNECTION_CONFIRM): P.AWAIT_CONNECT_RESPONSE,
    # Nothing is read between the Connection Confirm and the end of the TLS handshake;
    # the Connect Initial goes out once TLS protects it.
    (P.AWAIT_CONNECT_RESPONSE, In.TLS_SELECTED): P.AWAIT_TLS_HANDSHAKE,
    (P.AWAIT_TLS_HANDSHAKE, In.TLS_ESTABLISHED): P.AWAIT_CONNECT_RESPONSE,
    (P.AWAIT_CONNECTION_CONFIRM, In.NEGOTIATION_FAILED): P.CLOSED,
    (P.AWAIT_CONNECT_RESPONSE, In.CONNECT_RESPONSE): P.AWAIT_ATTACH_USER_CONFIRM,
    (P.AWAIT_ATTACH_USER_CONFIRM, In.ATTACH_USER_CONFIRM): P.AWAIT_CHANNEL_JOIN_CONFIRM,
    (P.AWAIT_CHANNEL_JOIN_CONFIRM, In.CHANNEL_JOIN_CONFIRM): P.AWAIT_CHANNEL_JOIN_CONFIRM,
    (P.AWAIT_CHANNEL_JOIN_CONFIRM, In.ALL_CHANNELS_JOINED): P.LICENSING,
    (P.LICENSING, In.LICENSING_PDU): P.LICENSING,
    (P.LICENSING, In.LICENSING_COMPLETED): P.LICENSED,
    (P.LICENSING, In.LICENSING_FAILED): P.LICENSED,
    # The server ends the connection: before the licensing error (rdplic, for xfreerdp's
    # sake), after licensing, or instead of a session.
    (P.LICENSING, In.ERROR_INFO): P.LICENSING,
    (P.LICENSED, In.ERROR_INFO): P.LICENSED,
    (P.LICENSED, In.DEMAND_ACTIVE): P.CLOSED,
    **{(phase, In.DISCONNECT): P.CLOSED for phase in ClientPhase if phase is not P.CLOSED},
}
"""Every legal step of the simulated client."""


class ClientConnection(ConnectionBase[ClientPhase, ClientInput]):
    """One connection, client side, from X.224 to the server's disconnect."""

    _TLS_HANDSHAKE_PHASE = ClientPhase.AWAIT_TLS_HANDSHAKE
    _TLS_ESTABLISHED_INPUT = ClientInput.TLS_ESTABLISHED

    def __init__(
        self,
        config: ClientConnectionConfig,
        licensing: ClientLicensingFactory,
        *,
        random_bytes: RandomBytes,
    ) -> None:
        super().__init__(
            CLIENT_TRANSITIONS,
            ClientPhase.START,
            ClientPhase.CLOSED,
            random_bytes=random_bytes,
            max_frame_size=config.max_frame_size,
        )
        self._config = config
        self._make_licensing = licensing
        self._server_security: ServerSecurityData | None = None
        self._io_channel = 0
        self._user_channel = 0
        self._pending_joins: set[int] = set()
        self._channel_ids: tuple[int, ...] = ()
        self._licensing: LicensingMachine | None = None
        self._error_info: int | None = None

    # -- the h11-like surface ---------------------------------------------------------

    def start(self) -> None:
        """Queue the X.224 Connection Request (MS-RDPBCGR 2.2.1.1)."""
        self._move(ClientInput.START)
        requested = self._config.requested_protocols
        request = X224ConnectionRequest(
            cookie=b"Cookie: mstshash=" + self._config.user_name.encode("latin-1")[:9],
            rdp_neg_req=None if requested is None else RdpNegotiationRequest(Protocol(requested)),
        )
        self._out.append(encode_tpkt(Tpkt(encode_x224(request))))

    def connection_lost(self) -> None:
        """The transport closed: report it if the server had not ended the connection."""
        if not self._closed():
            self._end("connection lost")

    # -- frames ------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes, now: datetime) -> None:
        if frame[0] != 0x03:
            return  # fast-path output: no session, nothing to draw
        with malformed("X.224 frame"):
            tpdu = decode_x224(decode_tpkt(frame).payload)
        if isinstance(tpdu, X224ConnectionConfirm):
            self._on_connection_confirm(tpdu)
        elif isinstance(tpdu, X224DisconnectRequest):
            self._move(ClientInput.DISCONNECT)
            self._end("X.224 Disconnect Request")
        elif isinstance(tpdu, X224Data):
            if self._phase is ClientPhase.AWAIT_CONNECT_RESPONSE:
                self._on_connect_response(tpdu.payload)
            else:
                self._on_domain_pdu(tpdu.payload, now)
        else:
            raise ConnectionProtocolError(f"{type(tpdu).__name__} from a server")

    def _protocol_error(self, reason: str) -> None:
        self._end(f"protocol error: {reason}")

    def _on_connection_confirm(self, confirm: X224ConnectionConfirm) -> None:
        answer = confirm.rdp_neg_data
        if isinstance(answer, RdpNegotiationFailure):
            self._move(ClientInput.NEGOTIATION_FAILED)
            code = answer.failure_code
            self._events.append(
                ConnectionEnded(
                    f"negotiation failed: {getattr(code, 'name', code)}",
                    negotiation_failure=int(code),
                )
            )
            return
        self._move(ClientInput.CONNECTION_CONFIRM)
        selected = Protocol.PROTOCOL_RDP
        if isinstance(answer, RdpNegotiationResponse):
            selected = answer.selected_protocol
        if selected not in (Protocol.PROTOCOL_RDP, Protocol.PROTOCOL_SSL):
            raise ConnectionProtocolError(f"server selected protocol {int(selected)}")
        self._tls = selected == Protocol.PROTOCOL_SSL
        requested = self._config.requested_protocols
        self._events.append(SecurityNegotiated(requested, int(selected), "", start_tls=self._tls))
        if self._tls:
            self._move(ClientInput.TLS_SELECTED)
        else:
            self._send_connect_initial(int(selected))

    def _on_tls_established(self, now: datetime) -> None:
        """TLS protects the connection: the Connect Initial goes out now."""
        self._send_connect_initial(int(Protocol.PROTOCOL_SSL))

    def _send_connect_initial(self, selected: int) -> None:
        config = self._config
        name = config.client_name.encode("utf-16-le")[:30].ljust(32, b"\0")
        core = ClientCoreData(
            version=config.version,
            desktop_width=1024,
            desktop_height=768,
            color_depth=ColorDepth.RNS_UD_COLOR_8BPP,
            sas_sequence=0xAA03,
            keyboard_layout=0x409,
            client_build=config.client_build,
            client_name=name,
            keyboard_type=4,
            keyboard_sub_type=0,
            keyboard_function_key=12,
            ime_file_name=bytes(64),
            post_beta2_color_depth=ColorDepth.RNS_UD_COLOR_8BPP,
            client_product_id=1,
            serial_number=0,
            high_color_depth=HighColorDepth.HIGH_COLOR_24BPP,
            supported_color_depths=SupportedColorDepth(0x0F),
            early_capability_flags=EarlyCapabilityFlag.RNS_UD_CS_SUPPORT_ERRINFO_PDU,
            client_dig_product_id=bytes(64),
            connection_type=0,
            pad1octet=0,
            server_selected_protocol=Protocol(selected),
        )
        blocks = (
            core,
            ClientSecurityData(GccEncryptionMethod(config.encryption_methods)),
            ClientNetworkData(
                tuple(
                    ChannelDef(c.encode("latin-1")[:7].ljust(8, b"\0"), ChannelOption(0x80000000))
                    for c in config.channels
                )
            ),
        )
        initial = McsConnectInitial(
            target_parameters=TARGET_PARAMETERS,
            minimum_parameters=MINIMUM_PARAMETERS,
            maximum_parameters=MAXIMUM_PARAMETERS,
            user_data=encode_conference_create_request(ConferenceCreateRequest(blocks)),
        )
        self._out.append(mcs_frame(encode_mcs_connect_initial(initial)))

    def _on_connect_response(self, payload: bytes) -> None:
        with malformed("MCS Connect Response"):
            response = decode_mcs_connect_response(payload)
            conference = decode_conference_create_response(response.user_data)
        if response.result != McsResult.RT_SUCCESSFUL:
            raise ConnectionProtocolError(f"MCS Connect Response result {response.result}")
        self._move(ClientInput.CONNECT_RESPONSE)
        blocks = conference.server_blocks
        core = next((b for b in blocks if isinstance(b, ServerCoreData)), None)
        security = next((b for b in blocks if isinstance(b, ServerSecurityData)), None)
        network = next((b for b in blocks if isinstance(b, ServerNetworkData)), None)
        if core is None or security is None or network is None:
            raise ConnectionProtocolError(
                "MCS Connect Response lacks SC_CORE, SC_SECURITY or SC_NET"
            )
        self._server_security = security
        self._io_channel = network.mcs_channel_id
        self._channel_ids = network.channel_ids
        self._events.append(
            ServerDataReceived(
                version=int(core.version),
                encryption_method=int(security.encryption_method),
                encryption_level=int(security.encryption_level),
                io_channel=network.mcs_channel_id,
            )
        )
        self._out.append(mcs_frame(ErectDomainRequest()))
        self._out.append(mcs_frame(AttachUserRequest()))

    def _on_domain_pdu(self, payload: bytes, now: datetime) -> None:
        with malformed("MCS PDU"):
            pdu = decode_domain_pdu(payload)
        if isinstance(pdu, SendDataIndication):
            self._on_send_data(pdu, now)
        elif isinstance(pdu, AttachUserConfirm):
            self._move(ClientInput.ATTACH_USER_CONFIRM)
            if pdu.result != McsResult.RT_SUCCESSFUL or pdu.initiator is None:
                raise ConnectionProtocolError(f"Attach User Confirm result {pdu.result}")
            self._user_channel = pdu.initiator
            channels = (self._user_channel, self._io_channel, *self._channel_ids)
            self._pending_joins = set(channels)
            for channel in channels:
                self._out.append(mcs_frame(ChannelJoinRequest(self._user_channel, channel)))
        elif isinstance(pdu, ChannelJoinConfirm):
            self._move(ClientInput.CHANNEL_JOIN_CONFIRM)
            self._pending_joins.discard(pdu.requested)
            if not self._pending_joins:
                self._move(ClientInput.ALL_CHANNELS_JOINED)
                self._send_security_and_info(now)
        elif isinstance(pdu, DisconnectProviderUltimatum):
            self._move(ClientInput.DISCONNECT)
            self._end("Disconnect Provider Ultimatum")
        else:
            raise ConnectionProtocolError(f"{type(pdu).__name__} from a server")

    # -- security exchange, Client Info, licensing -------------------------------

    def _send_security_and_info(self, now: datetime) -> None:
        security = self._server_security
        assert security is not None  # INVARIANT: read with the Connect Response
        certificate = security.server_certificate
        if not self._tls:
            if security.server_random is None or certificate is None:
                raise ConnectionProtocolError("no server random or certificate for RDP security")
            method = EncryptionMethod(int(security.encryption_method))
            try:
                public = public_key_from_server_certificate(certificate)
            except Exception as error:
                raise ConnectionProtocolError(f"unusable server certificate: {error}") from None
            client_random = self._draw(32)
            encrypted = rsa_public_op(public, int.from_bytes(client_random, "little"))
            blob = encrypted.to_bytes(public.modulus_bytes, "little") + bytes(8)
            exchange = encode_security_exchange(SecurityExchange(blob))
            header = SecurityFlag.SEC_EXCHANGE_PKT | SecurityFlag.SEC_LICENSE_ENCRYPT_SC
            self._send_io(self._security.wrap(header, exchange, encrypt=False))
            keys = derive_session_keys(client_random, security.server_random, method, server=False)
            self._security = SecurityLayer(RdpCipher(keys), encrypt_all=True)
        config = self._config
        info = ClientInfo(
            code_page=0,
            flags=_INFO_FLAGS,
            domain=utf16_z(config.domain),
            user_name=utf16_z(config.user_name),
            password=utf16_z(config.password),
            alternate_shell=utf16_z(""),
            working_dir=utf16_z(""),
            # TS_EXTENDED_INFO_PACKET (2.2.1.11.1.1.1): RDP 5.0 and later clients send it,
            # and xrdp 0.9 refuses a Client Info without it.
            extra_info=ExtendedInfo(
                client_address_family=ClientAddressFamily.AF_INET,
                client_address=utf16_z("127.0.0.1"),
                client_dir=utf16_z(_CLIENT_DIR),
                client_time_zone=_UTC_ZONE,
                client_session_id=0,
                performance_flags=PerformanceFlag(0),
            ),
        )
        self._send_io(self._security.wrap(SecurityFlag.SEC_INFO_PKT, encode_client_info(info)))
        self._licensing = self._make_licensing(certificate)
        self._run_licensing(lambda machine: machine.start(now))

    def _on_send_data(self, pdu: SendDataIndication, now: datetime) -> None:
        if pdu.channel_id != self._io_channel:
            return
        user_data = pdu.user_data
        if self._tls and self._phase is ClientPhase.LICENSED:
            body = user_data  # no security header once licensing is over (5.4.4)
            flags = SecurityFlag(0)
        else:
            flags, body = self._security.unwrap(user_data, what=self._phase.value)
            if self._tls and not flags & SecurityFlag.SEC_LICENSE_PKT:
                body = user_data  # a share PDU without security header during licensing
        if flags & SecurityFlag.SEC_LICENSE_PKT:
            self._move(ClientInput.LICENSING_PDU)
            self._run_licensing(lambda machine: machine.receive_pdu(body, now))
            return
        with malformed("share PDU"):
            header, _ = decode_share_control_header(body)
        if header.pdu_type == PduType.PDUTYPE_DEMANDACTIVEPDU:
            self._move(ClientInput.DEMAND_ACTIVE)
            self._end("Demand Active received")
        elif header.pdu_type == PduType.PDUTYPE_DATAPDU:
            try:
                error_info = decode_set_error_info(body).error_info
            except PduError:
                return  # another data PDU: nothing to do without a session
            self._move(ClientInput.ERROR_INFO)
            self._error_info = int(error_info)
            self._events.append(ErrorInfoReceived(int(error_info)))

    def _run_licensing(self, step: Callable[[LicensingMachine], None]) -> None:
        machine = self._licensing
        assert machine is not None  # INVARIANT: created before the first licensing PDU
        failed: RemoteProtocolError | None = None
        try:
            step(machine)
        except RemoteProtocolError as error:
            failed = error
        for pdu in machine.data_to_send():
            flags = SecurityFlag.SEC_LICENSE_PKT
            self._send_io(self._security.wrap(flags, pdu))
        while (event := machine.next_event()) is not None:
            self._events.append(event)
            if isinstance(
                event, lic.NewLicenseReceived | lic.UpgradedLicenseReceived | lic.ValidClient
            ):
                self._licensed = True
                self._move(ClientInput.LICENSING_COMPLETED)
            elif isinstance(event, lic.LicensingFailed):
                self._move(ClientInput.LICENSING_FAILED)
        if failed is not None:
            raise ConnectionProtocolError(f"licensing failed: {failed.reason}")

    def _send_io(self, user_data: bytes) -> None:
        self._out.append(
            send_data_frame(self._user_channel, self._io_channel, user_data, server=False)
        )

    def _end(self, reason: str) -> None:
        self._phase = ClientPhase.CLOSED
        self._events.append(ConnectionEnded(reason, self._error_info, licensed=self._licensed))


_UTC_NAME = "Coordinated Universal Time".encode("utf-16-le").ljust(64, b"\0")
_UTC_ZONE = TimeZoneInformation(0, _UTC_NAME, SystemTime(), 0, _UTC_NAME, SystemTime(), 0)
"""The client's time zone: UTC (xrdp 0.9 requires the field, 2.2.1.11.1.1.1)."""

_CLIENT_DIR = "C:\\Windows\\System32\\mstscax.dll"
"""clientDir as mstsc sends it."""

_INFO_FLAGS = (
    InfoFlag.INFO_MOUSE
    | InfoFlag.INFO_DISABLECTRLALTDEL
    | InfoFlag.INFO_UNICODE
    | InfoFlag.INFO_MAXIMIZESHELL
    | InfoFlag.INFO_LOGONNOTIFY
    | InfoFlag.INFO_ENABLEWINDOWSKEY
    | InfoFlag.INFO_LOGONERRORS
)
"""TS_INFO_PACKET flags of the simulated client (a subset of what xfreerdp sends).

xrdp 0.9 refuses a Client Info without all of INFO_MOUSE, INFO_DISABLECTRLALTDEL,
INFO_UNICODE and INFO_MAXIMIZESHELL (its RDP_LOGON_NORMAL, 0x33: "received wrong flags,
likely decrypt not working", xrdp_sec.c), as every real client sends them."""
