"""The licensing host's side of MS-RDPELE (section 3.2), as a sans-IO state machine.

`LicensingServer` takes licensing PDUs (the bytes after the security header,
from LICENSE_PREAMBLE on), clock values and the license server's decisions, and
gives back events and the PDUs to send.  It owns no socket, reactor, clock or
random generator and never calls out (architecture invariants 2-5): the driver
passes ``now`` to every call, the randomness comes from an injected
``random_bytes``, and when the machine needs the license server it emits
`DecisionNeeded` and waits for ``decide(decision, now)``.  With the same
inputs, the same clock values, the same random stream and the same decisions,
the bytes out are the same, so a recorded session replays byte for byte.

The API follows h11 and aioquic::

    server = LicensingServer(config, host, random_bytes=os.urandom)
    server.start(now)                      # queues the License Request
    for pdu in server.data_to_send(): ...  # write them
    server.receive_pdu(pdu, now)           # one licensing PDU from the client
    while (event := server.next_event()) is not None:
        if isinstance(event, DecisionNeeded):  # now or later:
            server.decide(license_server.decide(event, now), now)
    server.get_timer() / server.handle_timer(now)

What happens on a message (MS-RDPELE 3.2.5), the state moves being the
rows of `rdplic.core.states.SERVER_TRANSITIONS`:

* New License Request (3.2.5.2): decrypt the premaster secret, derive the
  keys, send the Platform Challenge (Windows' UTF-16 "TEST" token).
* License Info (3.2.5.3): derive the keys, decrypt the hardware id and check
  its MAC, read the license (signature, HWID, product) and ask (LICENSE_INFO):
  STATUS_VALID_CLIENT, a Platform Challenge (upgrade needed: temporary,
  expiring within 7 days, older version, or not a valid license of ours),
  or a refusal.
* Platform Challenge Response (3.2.5.5): decrypt the response data and the
  hardware id, check the MAC over both, ask (CHALLENGE_RESPONSE), and send New
  License, Upgrade License, STATUS_VALID_CLIENT or the refusal decided.

Every protocol error (3.2.5.8, 3.2.5.9) is answered with the
LICENSE_ERROR_MESSAGE Windows sends, queued in ``data_to_send()`` before
`RemoteProtocolError` is raised, and ends in ABORTED (h2's GOAWAY-then-raise):
unexpected or malformed message -> ERR_INVALID_CLIENT / ST_TOTAL_ABORT; bad
MAC -> ERR_INVALID_MAC / ST_TOTAL_ABORT; wMsgSize not the PDU's length ->
ERR_INVALID_MESSAGE_LEN / ST_TOTAL_ABORT.  A refusal by the license server
is not an exception: its error message is queued and `LicensingFailed`
reports it; so is a license server that failed (``decision_failed``, or a
decision that does not answer the question): ERR_NO_LICENSE_SERVER (R46).
The server never sets EXTENDED_ERROR_MSG_SUPPORTED in its preamble
(docs/license-server-behavior.md R62).

What real clients send and Windows accepts is accepted too (docs/real-clients.md
section 4): rdesktop's all-zero client random and 72 zero bytes of
"encrypted" premaster secret (a zero premaster: raw RSA of zero is zero),
its echo of the *encrypted* challenge token instead of
PLATFORM_CHALLENGE_RESPONSE_DATA (the MAC still covers the decrypted token,
so it is checked as usual), its RDP 4 preamble (version 2, answered in
kind); FreeRDP's EXTENDED_ERROR_MSG_SUPPORTED flag; any wBlobType where
Windows writes junk.  Everything else is checked strictly.

Timers: MS-RDPELE gives the server none (3.2.2).  A Windows host does not
send a licensing error to a client that stops talking; its connection
sequence simply times out and the connection is closed.  The server
therefore has an idle timer (``ServerConfig.idle_timeout``, 60 s by default,
None to disable) that ends in ABORTED with `LicensingFailed` and, like
Windows, no PDU, unless ``idle_timeout_alert`` asks for ERR_INVALID_CLIENT /
ST_TOTAL_ABORT first.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rdplic.core._common import (
    MachineBase,
    Now,
    RandomBytes,
    ansi_text,
    ansi_z,
    error_message,
    to_datetime,
    to_seconds,
    utf16_z,
)
from rdplic.core.decisions import (
    ClientIdentity,
    Decision,
    DecisionKind,
    HostLicensing,
    LicenseSummary,
    PresentedLicense,
    ProductInfo,
    Question,
)
from rdplic.core.errors import (
    InvalidMac,
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
    UnexpectedMessage,
)
from rdplic.core.events import (
    ClientSummary,
    DecisionNeeded,
    FailureOrigin,
    LicensePresented,
    LicenseRequested,
    LicenseUpgraded,
    LicensingFailed,
    LicensingRestarted,
    NewLicenseIssued,
    PlatformChallengeAnswered,
    ValidClient,
)
from rdplic.core.presented import read_presented_license
from rdplic.core.states import (
    SERVER_TERMINAL_STATES,
    SERVER_TRANSITIONS,
    ServerInput,
    ServerState,
)
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.licensing import LicensingKeys, derive_licensing_keys, mac_data, rc4, verify_mac
from rdplic.crypto.rsa import RsaPrivateKey, decrypt_premaster
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    PLATFORM_CHALLENGE_RESPONSE_VERSION,
    BlobType,
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ErrorCode,
    KeyExchangeAlg,
    KeyExchangeList,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
    NewLicenseInfo,
    PreambleFlags,
    PreambleVersion,
    Scope,
    ScopeList,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    StateTransition,
    decode_client_hardware_id,
    decode_platform_challenge_response_data,
    encode_new_license_info,
)
from rdplic.pdu.licensing import ProductInfo as WireProductInfo

__all__ = [
    "WINDOWS_PLATFORM_CHALLENGE",
    "LicensingServer",
    "ServerConfig",
]

WINDOWS_PLATFORM_CHALLENGE = "TEST\0".encode("utf-16-le")
"""The challenge Windows sends: UTF-16LE "TEST" and a NUL, 10 bytes (MS-RDPELE 4.4 and
real captures; rdesktop refuses any other length)."""

SERVER_RANDOM_SIZE = 32

S = ServerState
SI = ServerInput


@dataclasses.dataclass(frozen=True, slots=True)
class ServerConfig:
    """The licensing host's keys and the knobs of its licensing exchange.

    :ivar private_key: the key whose public half ``certificate`` carries; it
        decrypts the client's premaster secret (MS-RDPELE 5.1.1.2)
    :ivar certificate: the SERVER_CERTIFICATE sent in the License Request's
        BB_CERTIFICATE_BLOB (MS-RDPBCGR 2.2.1.4.3.1): a proprietary certificate
        or an X.509 chain (MS-RDPELE 2.2.1.4.2); empty sends an empty blob, as
        Windows 2008 does when the client has the key from the MCS Connect Response
    :ivar license_issuer: the license server's DER certificate, against which a
        presented license's signature is checked (None: every presented license
        is foreign)
    :ivar platform_challenge: the challenge plaintext (Windows' "TEST" token)
    :ivar random_challenge_size: when above 0, draw a fresh random challenge of
        this many bytes per exchange instead (MS-RDPELE 2.2.2.4 says "random")
    :ivar connect_flags: SERVER_PLATFORM_CHALLENGE.ConnectFlags (reserved)
    :ivar preamble_version: LICENSE_PREAMBLE version of the License Request (3 for
        RDP 5.0 and later; the connection layer passes 2 for an RDP 4.0 client)
    :ivar idle_timeout: seconds a client may stay silent while the server waits
        for it; None disables the timer
    :ivar idle_timeout_alert: send ERR_INVALID_CLIENT / ST_TOTAL_ABORT when the
        idle timer fires (Windows sends nothing)
    :ivar max_restarts: how many ST_RESET_PHASE_TO_START / ST_RESEND_LAST_MESSAGE
        requests are honoured before the client is refused (a client could
        otherwise loop forever)
    """

    private_key: RsaPrivateKey
    certificate: bytes
    license_issuer: bytes | None = None
    platform_challenge: bytes = WINDOWS_PLATFORM_CHALLENGE
    random_challenge_size: int = 0
    connect_flags: int = 0
    preamble_version: int = PreambleVersion.PREAMBLE_VERSION_3_0
    idle_timeout: float | None = 60.0
    idle_timeout_alert: bool = False
    max_restarts: int = 3


@dataclasses.dataclass(slots=True)
class _Exchange:
    """What one licensing exchange has learnt; replaced whole on ST_RESET_PHASE_TO_START."""

    server_random: bytes
    keys: LicensingKeys | None = None
    challenge: bytes = b""
    presented: PresentedLicense | None = None
    platform_id: int | None = None
    user_name: str = ""
    machine_name: str = ""
    hwid: bytes | None = None


class LicensingServer(MachineBase[ServerState, ServerInput]):
    """One connection's licensing exchange, server side (MS-RDPELE 3.2).

    ``host`` is what the emulated host puts in its License Request (ProductInfo, scope)
    and whether it licenses clients at all.  ``client_user_name`` and
    ``client_machine_name`` are what the connection layer learnt before licensing
    (Client Info PDU, client core data); a New License Request replaces them with its
    own blobs, a License Info carries none, so they name the client in the license
    server's records then.
    """

    _PEER_ABORTED = "the client aborted licensing"

    def __init__(
        self,
        config: ServerConfig,
        host: HostLicensing,
        *,
        random_bytes: RandomBytes,
        client_user_name: str = "",
        client_machine_name: str = "",
    ) -> None:
        super().__init__(
            SERVER_TRANSITIONS,
            SERVER_TERMINAL_STATES,
            ServerInput,
            S.LICENSING_BEGIN,
            random_bytes=random_bytes,
            timeout=config.idle_timeout,
            timeout_alert=config.idle_timeout_alert,
            max_restarts=config.max_restarts,
            version=int(config.preamble_version),
            flags=PreambleFlags(0),
        )
        self._config = config
        self._host = host
        self._peer_user_name = client_user_name
        self._peer_machine_name = client_machine_name
        self._product: ProductInfo = host.product
        self._exchange = _Exchange(b"")
        self._question: Question | None = None

    @property
    def awaiting_decision(self) -> bool:
        """A `DecisionNeeded` was emitted and ``decide`` has not been called yet."""
        return self._question is not None

    def decide(self, decision: Decision, now: Now) -> None:
        """The license server's answer to the last `DecisionNeeded` (3.2.5.3, 3.2.5.5).

        A decision that does not answer the question (a license to send in answer to a
        License Info, a license without its description) is the license server's failure:
        the client is told ERR_NO_LICENSE_SERVER.  A decision for a machine that has
        ended meanwhile (the client broke off while it waited) is dropped.

        :raises LocalProtocolError: nothing was asked
        """
        question = self._question
        if question is None:
            if self._state in SERVER_TERMINAL_STATES:
                return
            raise LocalProtocolError(f"decide() with no decision asked for ({self._state.value})")
        self._question = None
        if not decision.answers(question):
            self._fail_service(
                f"decision {decision.kind.value} does not answer {question.value}"
                + ("" if decision.license is not None else " (no license described)")
            )
            return
        if question is Question.LICENSE_INFO:
            self._on_presented_decision(decision)
        else:
            self._finish(decision)
        if self._state not in SERVER_TERMINAL_STATES:
            self._arm_timer(to_seconds(now))

    def decision_failed(self, reason: str, now: Now) -> None:
        """The license server could not decide (unreachable, its store failed): the client
        gets ERR_NO_LICENSE_SERVER / ST_TOTAL_ABORT (R46).

        :raises LocalProtocolError: nothing was asked
        """
        if self._question is None:
            if self._state in SERVER_TERMINAL_STATES:
                return
            raise LocalProtocolError(
                f"decision_failed() with no decision asked for ({self._state.value})"
            )
        self._question = None
        self._fail_service(f"license server failed: {reason}")

    def _open(self, at: float) -> None:
        """Open licensing (3.2.5.1): queue the License Request, or the lone valid-client PDU.

        `start` is called once, when the connection layer has processed the Client Info PDU.
        """
        if not self._host.licenses_clients:
            self._send_valid_client("valid-client-only mode", None)
            return
        self._send_license_request()
        self._arm_timer(at)

    def _waiting_for_caller(self) -> bool:
        return self._question is not None

    # -- receiving --------------------------------------------------------------------

    def _dispatch(self, pdu: LicensingPdu, now: Now) -> None:
        if pdu.version == PreambleVersion.PREAMBLE_VERSION_2_0:
            self._version = PreambleVersion.PREAMBLE_VERSION_2_0  # an RDP 4.0 client
        message, moment = pdu.message, to_datetime(now)
        if isinstance(message, ClientNewLicenseRequest):
            self._on_new_license_request(message)
        elif isinstance(message, ClientLicenseInfo):
            self._on_license_info(message, moment)
        elif isinstance(message, ClientPlatformChallengeResponse):
            self._on_challenge_response(message, moment)
        elif isinstance(message, LicenseErrorMessage):
            self._on_error_alert(message)
        else:
            name = type(message).__name__
            raise UnexpectedMessage(f"{name} is a server message, received in {self._state.value}")

    def _on_new_license_request(self, message: ClientNewLicenseRequest) -> None:
        """MS-RDPELE 3.2.5.2."""
        self._move(SI.RECV_NEW_LICENSE_REQUEST)
        self._derive_keys(message.preferred_key_exchange_alg, message.client_random, message)
        ex = self._exchange
        ex.platform_id = message.platform_id
        ex.user_name = ansi_text(message.client_user_name.blob_data)
        ex.machine_name = ansi_text(message.client_machine_name.blob_data)
        ex.presented = None
        self._events.append(LicenseRequested(self._summary()))
        self._send_platform_challenge()

    def _on_license_info(self, message: ClientLicenseInfo, now: datetime) -> None:
        """MS-RDPELE 3.2.5.3."""
        self._move(SI.RECV_LICENSE_INFO)
        keys = self._derive_keys(message.preferred_key_exchange_alg, message.client_random, message)
        hwid = rc4(keys.licensing_encryption_key, message.encrypted_hwid.blob_data)
        if not verify_mac(keys.mac_salt_key, hwid, message.mac_data):
            raise InvalidMac("License Info MACData does not match the decrypted HWID")
        self._check_hwid(hwid)
        ex = self._exchange
        blob = message.license_info.blob_data
        read = read_presented_license(blob, hwid, self._product, self._config.license_issuer, now)
        ex.platform_id = message.platform_id
        # A License Info names nobody: the connection layer's names, else the license's.
        ex.user_name = self._peer_user_name or read.user_name
        ex.machine_name = self._peer_machine_name or read.machine_name
        ex.hwid = hwid
        ex.presented = presented = read.license
        self._events.append(LicensePresented(self._summary(), len(blob), presented.reason()))
        self._ask(Question.LICENSE_INFO, presented)

    def _on_presented_decision(self, decision: Decision) -> None:
        """3.2.5.3 case 1 (a valid license: done), case 2 (it needs an upgrade: the
        challenge first), or a refusal."""
        if decision.kind is DecisionKind.VALID_CLIENT:
            presented = self._exchange.presented
            summary = None if presented is None else _summary_of(presented)
            self._send_valid_client(decision.reason, summary)
        elif decision.kind is DecisionKind.REFUSE:
            self._refuse(decision)
        else:
            self._send_platform_challenge()

    def _on_challenge_response(
        self, message: ClientPlatformChallengeResponse, now: datetime
    ) -> None:
        """MS-RDPELE 3.2.5.5."""
        self._move(SI.RECV_PLATFORM_CHALLENGE_RESPONSE)
        ex = self._exchange
        keys = ex.keys
        assert keys is not None  # INVARIANT: AWAIT_CHALLENGE_RESPONSE comes after key derivation
        key = keys.licensing_encryption_key
        response = rc4(key, message.encrypted_platform_challenge_response.blob_data)
        hwid = rc4(key, message.encrypted_hwid.blob_data)
        if not verify_mac(keys.mac_salt_key, response + hwid, message.mac_data):
            raise InvalidMac("Platform Challenge Response MACData does not match its data")
        self._check_hwid(hwid)
        client_type: int | None = None
        detail_level: int | None = None
        if response != ex.challenge:
            try:
                data = decode_platform_challenge_response_data(response)
            except PduError as error:
                raise MalformedMessage(f"malformed response data: {error}") from None
            if data.version != PLATFORM_CHALLENGE_RESPONSE_VERSION:
                raise MalformedMessage(
                    f"PLATFORM_CHALLENGE_RESPONSE_DATA.wVersion {data.version:#06x}"
                )
            if data.challenge != ex.challenge:
                raise MalformedMessage("the response does not echo the platform challenge")
            client_type, detail_level = int(data.client_type), int(data.license_detail_level)
        # else: rdesktop echoes the encrypted token, which decrypts to the challenge itself.
        ex.hwid = hwid
        self._events.append(PlatformChallengeAnswered(self._summary(), client_type, detail_level))
        self._ask(Question.CHALLENGE_RESPONSE, ex.presented)

    def _restart_exchange(self) -> None:
        self._send_license_request()

    # -- deciding ---------------------------------------------------------------------

    def _ask(self, question: Question, presented: PresentedLicense | None) -> None:
        """Emit `DecisionNeeded` and wait for `decide` (no timer runs meanwhile)."""
        self._question = question
        self._deadline = None
        self._events.append(DecisionNeeded(question, self._identity(), presented))

    def _finish(self, decision: Decision) -> None:
        """Put the final decision on the wire (3.2.5.5 cases 1-6)."""
        kind = decision.kind
        if kind is DecisionKind.ISSUE_NEW or kind is DecisionKind.UPGRADE:
            summary = decision.license
            assert summary is not None  # INVARIANT: Decision.answers checked it
            upgrade = kind is DecisionKind.UPGRADE
            self._send_license(decision.blob, upgrade)
            if upgrade:
                self._events.append(LicenseUpgraded(self._summary(), summary))
            else:
                self._events.append(NewLicenseIssued(self._summary(), summary))
        elif kind is DecisionKind.UPGRADE_WITH_OLD:
            presented = self._exchange.presented
            blob = decision.blob or (presented.blob if presented else b"")
            self._send_license(blob, True)
            if presented is not None:
                summary = _summary_of(presented)
            else:
                summary = LicenseSummary(None, False, None, self._product.dw_version)
            self._events.append(LicenseUpgraded(self._summary(), summary, reissued_old=True))
        elif kind is DecisionKind.VALID_CLIENT:
            self._send_valid_client(decision.reason, None)
        else:  # REFUSE: Decision.answers allowed nothing else
            self._refuse(decision)

    def _refuse(self, decision: Decision) -> None:
        """The license server's refusal, with the code and transition it chose (R33, R46,
        R69)."""
        code, move = int(decision.error_code), int(decision.state_transition)
        message = error_message(code, move)
        info = None if decision.error_info is None else int(decision.error_info)
        if move == StateTransition.ST_RESET_PHASE_TO_START:
            self._count_restart()
            self._send(SI.SEND_ERROR_RESET_PHASE_TO_START, message)
            self._events.append(LicensingRestarted(move, False))
            self._send_license_request()
            return
        if move == StateTransition.ST_RESEND_LAST_MESSAGE:
            self._count_restart()
            self._send(SI.SEND_ERROR_RESEND_LAST_MESSAGE, message)
            self._events.append(LicensingRestarted(move, False))
            return
        if move == StateTransition.ST_NO_TRANSITION:
            # "Valid client, then disconnect" (R69): licensing completes on the wire.
            self._send(SI.SEND_VALID_CLIENT, message)
        else:
            self._send(SI.SEND_ERROR_TOTAL_ABORT, message)
        self._events.append(
            LicensingFailed(
                code, move, decision.reason, FailureOrigin.REFUSED, True, self._summary(), info
            )
        )

    # -- sending ----------------------------------------------------------------------

    def _send_license_request(self) -> None:
        """SERVER_LICENSE_REQUEST (2.2.2.1) with a fresh server random."""
        self._exchange = _Exchange(self._draw(SERVER_RANDOM_SIZE))
        product = self._product
        message = ServerLicenseRequest(
            server_random=self._exchange.server_random,
            product_info=WireProductInfo(
                version=product.dw_version,
                company_name=utf16_z(product.company_name),
                product_id=utf16_z(product.product_id),
            ),
            key_exchange_list=KeyExchangeList(
                BlobType.BB_KEY_EXCHG_ALG_BLOB, (KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA,)
            ),
            server_certificate=LicenseBinaryBlob(
                BlobType.BB_CERTIFICATE_BLOB, self._config.certificate
            ),
            scope_list=ScopeList(
                tuple(Scope(BlobType.BB_SCOPE_BLOB, ansi_z(s)) for s in product.scopes)
            ),
        )
        self._send(SI.SEND_LICENSE_REQUEST, message)

    def _send_platform_challenge(self) -> None:
        """SERVER_PLATFORM_CHALLENGE (2.2.2.4): the challenge RC4-encrypted, MAC over plaintext."""
        keys = self._exchange.keys
        assert keys is not None  # INVARIANT: the challenge follows key derivation
        size = self._config.random_challenge_size
        challenge = self._draw(size) if size > 0 else self._config.platform_challenge
        self._exchange.challenge = challenge
        message = ServerPlatformChallenge(
            connect_flags=self._config.connect_flags,
            encrypted_platform_challenge=LicenseBinaryBlob(
                BlobType.BB_ENCRYPTED_DATA_BLOB, rc4(keys.licensing_encryption_key, challenge)
            ),
            mac_data=mac_data(keys.mac_salt_key, challenge),
        )
        self._send(SI.SEND_PLATFORM_CHALLENGE, message)

    def _send_license(self, blob: bytes, upgrade: bool) -> None:
        """SERVER_NEW_LICENSE (2.2.2.7) or SERVER_UPGRADE_LICENSE (2.2.2.6)."""
        keys = self._exchange.keys
        assert keys is not None  # INVARIANT: licenses follow the challenge response
        product = self._product
        info = encode_new_license_info(
            NewLicenseInfo(
                version=product.dw_version,
                scope=ansi_z(product.scopes[0] if product.scopes else ""),
                company_name=utf16_z(product.company_name),
                product_id=utf16_z(product.product_id),
                license_info=blob,
            )
        )
        encrypted = LicenseBinaryBlob(
            BlobType.BB_ENCRYPTED_DATA_BLOB, rc4(keys.licensing_encryption_key, info)
        )
        mac = mac_data(keys.mac_salt_key, info)
        if upgrade:
            self._send(SI.SEND_UPGRADE_LICENSE, ServerUpgradeLicense(encrypted, mac))
        else:
            self._send(SI.SEND_NEW_LICENSE, ServerNewLicense(encrypted, mac))

    def _send_valid_client(self, reason: str, license: LicenseSummary | None) -> None:
        """STATUS_VALID_CLIENT / ST_NO_TRANSITION (MS-RDPBCGR 2.2.1.12.1): licensing done."""
        message = error_message(ErrorCode.STATUS_VALID_CLIENT, StateTransition.ST_NO_TRANSITION)
        self._send(SI.SEND_VALID_CLIENT, message)
        self._events.append(ValidClient(self._summary(), reason, license))

    # -- failing ----------------------------------------------------------------------

    def _abort(self, error: RemoteProtocolError) -> None:
        """Queue the error message for ``error`` and end in ABORTED (3.2.5.8, 3.2.5.9)."""
        self._question = None  # a decision that arrives now is dropped
        if self._state in SERVER_TERMINAL_STATES:
            return
        sent = (self._state, SI.SEND_ERROR_TOTAL_ABORT) in SERVER_TRANSITIONS
        if sent:
            message = error_message(error.error_code, error.state_transition)
            self._send(SI.SEND_ERROR_TOTAL_ABORT, message)
        else:  # pragma: no cover - every state that receives has an abort row
            self._state = S.ABORTED
        self._events.append(
            LicensingFailed(
                int(error.error_code),
                int(error.state_transition),
                error.reason,
                FailureOrigin.PROTOCOL,
                sent,
                self._summary(),
            )
        )

    def _fail_service(self, reason: str) -> None:
        """ERR_NO_LICENSE_SERVER / ST_TOTAL_ABORT (R46): not the client's fault."""
        code, move = ErrorCode.ERR_NO_LICENSE_SERVER, StateTransition.ST_TOTAL_ABORT
        self._send(SI.SEND_ERROR_TOTAL_ABORT, error_message(code, move))
        self._events.append(
            LicensingFailed(code, move, reason, FailureOrigin.SERVICE, True, self._summary())
        )

    # -- helpers ----------------------------------------------------------------------

    def _idle_reason(self) -> str:
        return f"client idle for {self._config.idle_timeout:g} s in {self._state.value}"

    def _derive_keys(
        self,
        algorithm: int,
        client_random: bytes,
        message: ClientNewLicenseRequest | ClientLicenseInfo,
    ) -> LicensingKeys:
        """Decrypt the premaster secret and derive the licensing keys (5.1.1.2, 5.1.2)."""
        if algorithm != KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA:
            raise MalformedMessage(f"PreferredKeyExchangeAlg {int(algorithm)} is not RSA")
        try:
            premaster = decrypt_premaster(
                self._config.private_key, message.encrypted_pre_master_secret.blob_data
            )
            keys = derive_licensing_keys(premaster, client_random, self._exchange.server_random)
        except CryptoError as error:
            raise MalformedMessage(f"EncryptedPreMasterSecret: {error}") from None
        self._exchange.keys = keys
        return keys

    @staticmethod
    def _check_hwid(hwid: bytes) -> ClientHardwareId:
        try:
            return decode_client_hardware_id(hwid)
        except PduError as error:
            raise MalformedMessage(f"malformed hardware id: {error}") from None

    def _identity(self) -> ClientIdentity:
        ex = self._exchange
        assert ex.hwid is not None  # INVARIANT: asked only once the HWID is decrypted
        return ClientIdentity(
            hwid=ex.hwid,
            machine_name=ex.machine_name,
            user_name=ex.user_name,
            platform_id=ex.platform_id or 0,
        )

    def _summary(self) -> ClientSummary:
        ex = self._exchange
        return ClientSummary(ex.platform_id, ex.user_name, ex.machine_name, ex.hwid)


def _summary_of(license: PresentedLicense) -> LicenseSummary:
    """A presented license as events describe it (dwVersion: major << 16 | minor)."""
    version = license.product_version
    return LicenseSummary(
        license.license_id,
        license.temporary,
        license.expires,
        (version.major << 16) | version.minor,
    )
