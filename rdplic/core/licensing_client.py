"""The client's side of MS-RDPELE (section 3.3), as a sans-IO state machine.

`LicensingClient` has the same surface as `LicensingServer`: licensing PDUs
and clock values in, events and licensing PDUs out, randomness from an
injected ``random_bytes``.  Its identity is injected too: a `ClientPlatform`
preset (PlatformId and the other fields that tell Windows what the client
is), the machine and user names, the 20-byte hardware id, and a
`ClientLicenseStore`.

What happens on a message (MS-RDPELE 3.3.5), the state moves being the rows
of `rdplic.core.states.CLIENT_TRANSITIONS`:

* License Request (3.3.5.1): verify the server certificate (proprietary
  signature with the Terminal Services key, or the X.509 chain link by
  link); on failure send ERR_INVALID_SERVER_CERTIFICATE / ST_TOTAL_ABORT.
  Encrypt a premaster secret with the server's key and derive the keys;
  present the stored license for this scope, company and product (same or
  later version) in a License Info, or send a New License Request.
* Platform Challenge (3.3.5.4): decrypt it, check its MAC, answer with
  PLATFORM_CHALLENGE_RESPONSE_DATA and the encrypted hardware id.
* New License / Upgrade License (3.3.5.6, 3.3.5.7): decrypt, check the MAC,
  store the license under (dwVersion, scope, company, product id).
* Error messages (3.1.5.3): STATUS_VALID_CLIENT / ST_NO_TRANSITION completes
  licensing; ST_TOTAL_ABORT aborts; ST_RESET_PHASE_TO_START goes back to
  waiting for a License Request; ST_RESEND_LAST_MESSAGE sends the last
  message again.

A bad MAC is answered with ERR_INVALID_MAC / ST_TOTAL_ABORT (3.3.5.9: MAY
send, MUST disconnect); any other unexpected or malformed message ends the
exchange with no error message (3.3.5.8).  Either way `RemoteProtocolError`
is raised after the machine has reached ABORTED.  The Client Packet Wait
Timer (3.3.2.1) defaults to Windows Vista's 300 seconds.
"""

from __future__ import annotations

import dataclasses

from rdplic.core._common import (
    MachineBase,
    Now,
    RandomBytes,
    ansi_text,
    ansi_z,
    error_message,
    utf16_text,
)
from rdplic.core.client_store import ClientLicenseStore, LicenseKey
from rdplic.core.errors import (
    InvalidMac,
    InvalidServerCertificate,
    MalformedMessage,
    RemoteProtocolError,
    UnexpectedMessage,
)
from rdplic.core.events import (
    ClientSummary,
    FailureOrigin,
    LicenseRequestReceived,
    LicensingFailed,
    NewLicenseReceived,
    PlatformChallengeReceived,
    UpgradedLicenseReceived,
    ValidClient,
)
from rdplic.core.platforms import ClientPlatform
from rdplic.core.states import (
    CLIENT_TERMINAL_STATES,
    CLIENT_TRANSITIONS,
    ClientInput,
    ClientState,
)
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.licensing import LicensingKeys, derive_licensing_keys, mac_data, rc4, verify_mac
from rdplic.crypto.rsa import RsaPublicKey, encrypt_premaster
from rdplic.crypto.x509 import public_key_from_server_certificate, verify_server_certificate
from rdplic.pdu.certificates import CERT_CHAIN_VERSION_1, decode_server_certificate
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    PLATFORM_CHALLENGE_RESPONSE_VERSION,
    BlobType,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ErrorCode,
    KeyExchangeAlg,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
    PlatformChallengeResponseData,
    PreambleFlags,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    StateTransition,
    TextBlob,
    decode_new_license_info,
    encode_platform_challenge_response_data,
)

__all__ = ["ClientConfig", "LicensingClient"]

C = ClientState
CI = ClientInput

CLIENT_RANDOM_SIZE = 32
PREMASTER_SIZE = 48
HWID_SIZE = 20
RDESKTOP_PREMASTER_BLOB = bytes(72)
"""rdesktop's EncryptedPreMasterSecret: 64 + 8 zero bytes, whatever the key (licence.c)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClientConfig:
    """The simulated client's identity and its licensing knobs.

    :ivar platform: what the client says it is (`rdplic.core.platforms.CLIENT_PLATFORMS`)
    :ivar hwid: the 20-byte CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1), stable per device
    :ivar user_name: ClientUserName of the New License Request
    :ivar machine_name: ClientMachineName of the New License Request
    :ivar store: where licenses are kept between connections (3.3.5.6)
    :ivar server_certificate: the SERVER_CERTIFICATE of the MCS Connect Response's
        security data, used when the License Request carries an empty one (2.2.2.1)
    :ivar packet_wait_timeout: Client Packet Wait Timer in seconds (3.3.2.1), None: none
    :ivar max_restarts: ST_RESET_PHASE_TO_START / ST_RESEND_LAST_MESSAGE honoured
    """

    platform: ClientPlatform
    hwid: bytes
    user_name: str
    machine_name: str
    store: ClientLicenseStore
    server_certificate: bytes | None = None
    packet_wait_timeout: float | None = 300.0
    max_restarts: int = 3

    def __post_init__(self) -> None:
        if len(self.hwid) != HWID_SIZE:
            raise ValueError(f"hwid must be {HWID_SIZE} bytes, got {len(self.hwid)}")


@dataclasses.dataclass(slots=True)
class _Exchange:
    """What one exchange has learnt; replaced whole on ST_RESET_PHASE_TO_START."""

    keys: LicensingKeys | None = None
    wanted: LicenseKey | None = None


class LicensingClient(MachineBase[ClientState, ClientInput]):
    """One connection's licensing exchange, client side (MS-RDPELE 3.3)."""

    _PEER_ABORTED = "the server aborted licensing (error 0x{code:02X})"

    def __init__(self, config: ClientConfig, *, random_bytes: RandomBytes) -> None:
        platform = config.platform
        flags = PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED
        super().__init__(
            CLIENT_TRANSITIONS,
            CLIENT_TERMINAL_STATES,
            ClientInput,
            C.LICENSING_AWAIT,
            random_bytes=random_bytes,
            timeout=config.packet_wait_timeout,
            max_restarts=config.max_restarts,
            version=platform.preamble_version,
            flags=flags if platform.extended_error_supported else PreambleFlags(0),
        )
        self._config = config
        self._platform = platform
        self._exchange = _Exchange()

    # -- receiving --------------------------------------------------------------------

    def _open(self, at: float) -> None:
        """Licensing Await (3.3.1.11): nothing to send, the Client Packet Wait Timer runs."""
        self._arm_timer(at)

    def _dispatch(self, pdu: LicensingPdu, now: Now) -> None:
        message = pdu.message
        if isinstance(message, ServerLicenseRequest):
            self._on_license_request(message)
        elif isinstance(message, ServerPlatformChallenge):
            self._on_platform_challenge(message)
        elif isinstance(message, ServerNewLicense | ServerUpgradeLicense):
            self._on_license(message)
        elif isinstance(message, LicenseErrorMessage):
            self._on_error_alert(message)
        else:
            name = type(message).__name__
            raise UnexpectedMessage(f"{name} is a client message, received in {self._state.value}")

    def _on_license_request(self, message: ServerLicenseRequest) -> None:
        """MS-RDPELE 3.3.5.1."""
        self._check(CI.RECV_LICENSE_REQUEST)
        public, kind = self._server_key(message.server_certificate.blob_data)
        client_random, premaster, encrypted = self._premaster(public)
        self._move(CI.RECV_LICENSE_REQUEST)
        product = message.product_info
        scopes = tuple(ansi_text(scope.issuer) for scope in message.scope_list.scopes)
        wanted = LicenseKey(
            version=product.version,
            scope=scopes[0] if scopes else "",
            company_name=utf16_text(product.company_name),
            product_id=utf16_text(product.product_id),
        )
        self._exchange = _Exchange(wanted=wanted)
        # Sizes are fixed by the decoder and by _premaster: derivation cannot fail.
        keys = derive_licensing_keys(premaster, client_random, message.server_random)
        self._exchange.keys = keys
        found = self._config.store.find(wanted)
        self._events.append(
            LicenseRequestReceived(wanted, scopes, kind, None if found is None else found[0])
        )
        premaster_blob = LicenseBinaryBlob(BlobType.BB_RANDOM_BLOB, encrypted)
        if found is None:
            request = ClientNewLicenseRequest(
                preferred_key_exchange_alg=KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA,
                platform_id=self._platform.platform_id,
                client_random=client_random,
                encrypted_pre_master_secret=premaster_blob,
                client_user_name=TextBlob(
                    BlobType.BB_CLIENT_USER_NAME_BLOB, ansi_z(self._config.user_name)
                ),
                client_machine_name=TextBlob(
                    BlobType.BB_CLIENT_MACHINE_NAME_BLOB, ansi_z(self._config.machine_name)
                ),
            )
            self._send(CI.SEND_NEW_LICENSE_REQUEST, request)
            return
        hwid = self._config.hwid
        platform_id = self._platform.license_info_platform_id
        info = ClientLicenseInfo(
            preferred_key_exchange_alg=KeyExchangeAlg.KEY_EXCHANGE_ALG_RSA,
            platform_id=self._platform.platform_id if platform_id is None else platform_id,
            client_random=client_random,
            encrypted_pre_master_secret=premaster_blob,
            license_info=LicenseBinaryBlob(BlobType.BB_DATA_BLOB, found[1]),
            encrypted_hwid=LicenseBinaryBlob(
                self._platform.encrypted_blob_type, rc4(keys.licensing_encryption_key, hwid)
            ),
            mac_data=mac_data(keys.mac_salt_key, hwid),
        )
        self._send(CI.SEND_LICENSE_INFO, info)

    def _on_platform_challenge(self, message: ServerPlatformChallenge) -> None:
        """MS-RDPELE 3.3.5.4."""
        self._check(CI.RECV_PLATFORM_CHALLENGE)
        keys = self._keys()
        key = keys.licensing_encryption_key
        encrypted = message.encrypted_platform_challenge.blob_data
        challenge = rc4(key, encrypted)
        quirks = self._platform.quirks
        if not quirks.skip_mac_checks and not verify_mac(
            keys.mac_salt_key, challenge, message.mac_data
        ):
            raise InvalidMac("Platform Challenge MACData does not match the decrypted challenge")
        self._move(CI.RECV_PLATFORM_CHALLENGE)
        self._events.append(PlatformChallengeReceived(challenge))
        if quirks.echo_encrypted_challenge:
            response, encrypted_response = challenge, encrypted
        else:
            response = encode_platform_challenge_response_data(
                PlatformChallengeResponseData(
                    version=PLATFORM_CHALLENGE_RESPONSE_VERSION,
                    client_type=self._platform.client_type,
                    license_detail_level=self._platform.license_detail_level,
                    challenge=challenge,
                )
            )
            encrypted_response = rc4(key, response)
        hwid = self._config.hwid
        blob_type = self._platform.encrypted_blob_type
        reply = ClientPlatformChallengeResponse(
            encrypted_platform_challenge_response=LicenseBinaryBlob(blob_type, encrypted_response),
            encrypted_hwid=LicenseBinaryBlob(blob_type, rc4(key, hwid)),
            mac_data=mac_data(keys.mac_salt_key, response + hwid),
        )
        self._send(CI.SEND_PLATFORM_CHALLENGE_RESPONSE, reply)

    def _on_license(self, message: ServerNewLicense | ServerUpgradeLicense) -> None:
        """MS-RDPELE 3.3.5.6 and 3.3.5.7."""
        upgrade = isinstance(message, ServerUpgradeLicense)
        event = CI.RECV_UPGRADE_LICENSE if upgrade else CI.RECV_NEW_LICENSE
        self._check(event)
        keys = self._keys()
        plain = rc4(keys.licensing_encryption_key, message.encrypted_license_info.blob_data)
        if not self._platform.quirks.skip_mac_checks and not verify_mac(
            keys.mac_salt_key, plain, message.mac_data
        ):
            raise InvalidMac("license MACData does not match the decrypted NEW_LICENSE_INFO")
        try:
            info = decode_new_license_info(plain)
        except PduError as error:
            raise MalformedMessage(f"malformed NEW_LICENSE_INFO: {error}") from None
        key = LicenseKey(
            version=info.version,
            scope=ansi_text(info.scope),
            company_name=utf16_text(info.company_name),
            product_id=utf16_text(info.product_id),
        )
        self._move(event)
        self._config.store.store(key, info.license_info)
        if upgrade:
            self._events.append(UpgradedLicenseReceived(key, info.license_info))
        else:
            self._events.append(NewLicenseReceived(key, info.license_info))

    def _on_no_transition(self, code: int) -> None:
        """STATUS_VALID_CLIENT completes licensing; another code changes nothing (3.1.5.3)."""
        if code == ErrorCode.STATUS_VALID_CLIENT:
            self._move(CI.RECV_VALID_CLIENT)
            self._events.append(ValidClient(self._summary(), "server"))
        else:
            self._move(CI.RECV_ERROR_NO_TRANSITION)

    def _restart_exchange(self) -> None:
        self._exchange = _Exchange()

    # -- helpers ----------------------------------------------------------------------

    def _server_key(self, certificate: bytes) -> tuple[RsaPublicKey | None, str]:
        """The key that encrypts the premaster secret, after checking its certificate (3.3.5.1)."""
        if not certificate:
            certificate = self._config.server_certificate or b""
            kind = "none"
        else:
            kind = ""
        quirks = self._platform.quirks
        if quirks.zero_randoms and quirks.skip_certificate_check:
            return None, kind or "ignored"  # rdesktop reads only the server random
        if not certificate:
            raise InvalidServerCertificate("no server certificate to encrypt the premaster with")
        try:
            decoded = decode_server_certificate(certificate)
            if not kind:
                proprietary = decoded.cert_chain_version == CERT_CHAIN_VERSION_1
                kind = "proprietary" if proprietary else "x509"
            if quirks.skip_certificate_check:
                return public_key_from_server_certificate(certificate), kind
            return verify_server_certificate(certificate), kind
        except (PduError, CryptoError) as error:
            raise InvalidServerCertificate(f"server certificate rejected: {error}") from None

    def _premaster(self, public: RsaPublicKey | None) -> tuple[bytes, bytes, bytes]:
        """ClientRandom, premaster secret and EncryptedPreMasterSecret (5.1.1.1)."""
        if self._platform.quirks.zero_randoms or public is None:
            return bytes(CLIENT_RANDOM_SIZE), bytes(PREMASTER_SIZE), RDESKTOP_PREMASTER_BLOB
        client_random = self._draw(CLIENT_RANDOM_SIZE)
        premaster = self._draw(PREMASTER_SIZE)
        try:
            encrypted = encrypt_premaster(public, premaster)
        except CryptoError as error:
            raise InvalidServerCertificate(f"server key unusable: {error}") from None
        return client_random, premaster, encrypted

    def _keys(self) -> LicensingKeys:
        keys = self._exchange.keys
        assert keys is not None  # INVARIANT: the table allows these messages only after keys
        return keys

    def _abort(self, error: RemoteProtocolError) -> None:
        """End in ABORTED: ERR_INVALID_SERVER_CERTIFICATE or ERR_INVALID_MAC for those
        errors (3.3.5.1, 3.3.5.9), a silent disconnect for anything else (3.3.5.8)."""
        if self._state in CLIENT_TERMINAL_STATES:
            return
        sends = isinstance(error, InvalidMac | InvalidServerCertificate) and (
            (self._state, CI.SEND_ERROR_TOTAL_ABORT) in CLIENT_TRANSITIONS
        )
        if sends:
            message = error_message(error.error_code, StateTransition.ST_TOTAL_ABORT)
            self._send(CI.SEND_ERROR_TOTAL_ABORT, message)
        else:
            self._move(CI.DISCONNECT)
        self._events.append(
            LicensingFailed(
                int(error.error_code),
                int(StateTransition.ST_TOTAL_ABORT),
                error.reason,
                FailureOrigin.PROTOCOL,
                sends,
                self._summary(),
            )
        )

    def _idle_reason(self) -> str:
        return f"no licensing message from the server for {self._config.packet_wait_timeout:g} s"

    def _summary(self) -> ClientSummary:
        config = self._config
        return ClientSummary(
            self._platform.platform_id, config.user_name, config.machine_name, config.hwid
        )
