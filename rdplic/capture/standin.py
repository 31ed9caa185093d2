"""The recorded server of a capture of another RDP server (Windows'), played to a live client
with rdplic's keys standing in for the recorded server's.

``rdplic replay --serve PORT FILE`` serves rdplic's own captures by running its server core
again (`rdplic.cli.replay_serve`).  A capture of any other server holds no recording: only
its bytes.  `StandInServer` plays those bytes back, PDU by PDU, each recorded server answer
sent when the client sends the PDU it answered ([MS-RDPBCGR] 1.3.1.1, the connection
sequence), and changes what cannot be replayed as recorded, because nobody holds the recorded
server's private keys:

* the certificate of the Server Security Data (MCS Connect Response, [MS-RDPBCGR]
  2.2.1.4.3): a proprietary certificate is made again around rdplic's proprietary key (of the
  same size, so every length stays) and signed with the Terminal Services signing key
  (2.2.1.4.3.1.1.1, `rdplic.crypto.build_proprietary_certificate`); an X.509 chain is
  replaced by rdplic's.  The server random stays as recorded.  The Security Exchange of the
  new client then decrypts with rdplic's key, and the session keys are derived (5.3.5);
* the certificate of the Server License Request ([MS-RDPELE] 2.2.2.1), the same way, so the
  new client's premaster secret decrypts with rdplic's key and the licensing keys are
  derived from this client's randoms and premaster (5.1.2);
* the encrypted licensing fields: the recorded plaintext is encrypted under the recorded
  session's licensing keys, which need the recorded server's key, so it cannot be recovered:
  the Platform Challenge carries Windows' challenge token ("TEST",
  `rdplic.core.licensing_server.WINDOWS_PLATFORM_CHALLENGE`) instead, under the new keys
  with its MACData; a New License or Upgrade License is replaced by the Licensing Error
  Message STATUS_VALID_CLIENT / ST_NO_TRANSITION, which completes licensing without a
  license ([MS-RDPBCGR] 2.2.1.12.1);
* under Standard RDP Security every encrypted server PDU is RC4 ciphertext under the recorded
  session keys: a licensing PDU (SEC_LICENSE_PKT in its clear header) is replaced by
  STATUS_VALID_CLIENT (a 16-byte licensing plaintext can only be a Licensing Error Message
  with an empty error blob, which is what a host without a license server sends); the first
  other one ends the served connection (its content cannot be sent at all);
* under TLS, rdplic's TLS certificate stands in for the recorded server's.

Each change is a `Substitution`: the recorded frame, the field's path, the recorded and the
sent value, and why.  A client's own PDUs that the recording did not see (another channel
to join) get rdplic's answer, also reported.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from rdplic.capture.decode import decode_connection
from rdplic.capture.pcap import Connection
from rdplic.core._common import build_pdu, error_message
from rdplic.core.connection_common import FrameReader, SecurityLayer, mcs_frame
from rdplic.core.connection_events import ConnectionEnded, SecurityNegotiated
from rdplic.core.licensing_server import WINDOWS_PLATFORM_CHALLENGE
from rdplic.crypto import decrypt_premaster, derive_licensing_keys, mac_data, rc4
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.rdp_security import (
    EncryptionMethod,
    MacMismatchError,
    RdpCipher,
    derive_session_keys,
)
from rdplic.crypto.rsa import RsaPrivateKey, rsa_private_op
from rdplic.crypto.x509 import public_key_from_server_certificate
from rdplic.pdu.certificates import decode_server_certificate
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    X224ConnectionConfirm,
    X224Data,
    decode_tpkt,
    decode_x224,
    tpkt_data_frame,
)
from rdplic.pdu.gcc import (
    ServerSecurityData,
    decode_conference_create_response,
    encode_conference_create_response,
)
from rdplic.pdu.licensing import (
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ErrorCode,
    LicenseErrorMessage,
    MsgType,
    PreambleFlags,
    PreambleVersion,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    StateTransition,
    decode_licensing_pdu,
)
from rdplic.pdu.mcs import (
    ChannelJoinConfirm,
    ChannelJoinRequest,
    McsConnectResponse,
    SendDataIndication,
    SendDataRequest,
    decode_mcs_pdu,
    encode_mcs_connect_response,
)
from rdplic.pdu.rdp import SecurityFlag, decode_security_exchange, decode_security_header
from rdplic.pdujson import to_json

__all__ = ["StandIn", "StandInServer", "Substitution", "selects_tls", "served_connection"]

_LAST_LICENSING = frozenset(
    int(t) for t in (MsgType.NEW_LICENSE, MsgType.UPGRADE_LICENSE, MsgType.ERROR_ALERT)
)
_PROTOCOL_HYBRID = 0x2
_PROTOCOL_SSL = 0x1
_CLIENT_RANDOM_SIZE = 32


@dataclasses.dataclass(frozen=True, slots=True)
class StandIn:
    """rdplic's keys and certificates that stand in for the recorded server's
    (`rdplic.identity.ServerIdentity` of a throwaway state directory)."""

    proprietary_key: RsaPrivateKey
    proprietary_certificate: bytes
    licensing_key: RsaPrivateKey
    """The key of ``x509_chain``'s last certificate (the terminal server's)."""
    x509_chain: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Substitution:
    """One thing sent otherwise than recorded, and why."""

    frame: int | None
    path: str
    recorded: Any
    sent: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "path": self.path,
            "recorded": self.recorded,
            "sent": self.sent,
            "reason": self.reason,
        }


@dataclasses.dataclass(slots=True)
class _Step:
    """A recorded client PDU (its kind) and the server PDUs that followed it."""

    kind: tuple[Any, ...]
    frame: int
    answers: list[tuple[int, bytes]]


def selects_tls(connection: Connection) -> bool:
    """The recorded server selected PROTOCOL_SSL in its Connection Confirm (whether or not
    the capture holds the TLS records: rdplic's recordings hold the plaintext)."""
    for frame in decode_connection(connection):
        if frame.from_client or frame.data[:1] != b"\x03":
            continue
        try:
            tpdu = decode_x224(decode_tpkt(frame.data).payload)
        except PduError:
            continue
        if isinstance(tpdu, X224ConnectionConfirm):
            selected = getattr(tpdu.rdp_neg_data, "selected_protocol", None)
            return selected is not None and bool(int(selected) & _PROTOCOL_SSL)
    return False


def served_connection(connections: list[Connection]) -> Connection | None:
    """The connection to serve: the last one in which the server said more than its
    Connection Confirm (a client's first attempt refused TLS is left out)."""
    best = None
    for connection in connections:
        if len(connection.data(False)) > 19:
            best = connection
    return best


def _kind(data: bytes, licensing_done: bool = False) -> tuple[Any, ...]:
    """What a client PDU is, for finding where the recording answered it: X.224 TPDU type,
    MCS PDU type, and for Send Data Requests the security header's purpose."""
    if data[:1] != b"\x03":
        return ("fastpath",)
    try:
        tpdu = decode_x224(decode_tpkt(data).payload)
    except PduError:
        return ("garbage",)
    if not isinstance(tpdu, X224Data):
        return ("x224", type(tpdu).__name__)
    try:
        mcs = decode_mcs_pdu(tpdu.payload)
    except PduError:
        return ("mcs", "garbage")
    if not isinstance(mcs, SendDataRequest):
        return ("mcs", type(mcs).__name__)
    try:
        header, _body = decode_security_header(bytes(mcs.user_data))
    except PduError:
        return ("data",)
    flags = int(header.flags)
    for flag in (
        SecurityFlag.SEC_EXCHANGE_PKT,
        SecurityFlag.SEC_INFO_PKT,
        SecurityFlag.SEC_LICENSE_PKT,
    ):
        if flags & flag:
            return ("security", flag.name)
    return ("data",)


class StandInServer:
    """A sans-IO server connection machine (the interface `rdplic.net.server` drives) that
    plays the server side of a recorded connection back (see the module docstring)."""

    def __init__(self, connection: Connection, stand_in: StandIn) -> None:
        self._stand_in = stand_in
        self.substitutions: list[Substitution] = []
        self._steps: list[_Step] = []
        self._reader = FrameReader()
        self._out = bytearray()
        self._events: list[object] = []
        self._position = 0
        self._awaiting_tls = False
        self._trailing = b""
        self._ended = False
        self._server_random = b""
        self._method = EncryptionMethod.NONE
        self._encrypt_all = False
        self._security: SecurityLayer | None = None
        self._license_key: RsaPrivateKey | None = None
        self._license_server_random = b""
        self._licensing_keys: Any = None
        self._initiator = 1007
        self._licensed = False
        """The last licensing message went out: without encryption, the PDUs after it carry
        no security header ([MS-RDPBCGR] 2.2.8.1.1.2.1, 5.3.2)."""
        self._tls = selects_tls(connection)
        current: _Step | None = None
        for frame in decode_connection(connection):
            if frame.from_client:
                current = _Step(_kind(frame.data), frame.frame, [])
                self._steps.append(current)
            elif current is not None:
                current.answers.append((frame.frame, frame.data))
        _pair_confirms(self._steps)
        if self._tls:
            self._note(
                None,
                "tls.certificate",
                "the recorded server's",
                "rdplic's own",
                "the recorded server's TLS private key is not known",
            )

    @staticmethod
    def key_bits(connection: Connection) -> int:
        """The size of the recorded proprietary certificate's key (2048 when there is none or
        it is not 512, 1024 or 2048 bits): rdplic's stand-in key of the same size keeps every
        length of the certificate."""
        for frame in decode_connection(connection):
            if frame.from_client:
                continue
            certificate = _server_certificate(frame.data)
            if certificate:
                try:
                    bits = public_key_from_server_certificate(certificate).bits
                except (CryptoError, PduError, ValueError):
                    return 2048
                return bits if bits in (512, 1024, 2048) else 2048
        return 2048

    # -- the interface of rdplic.net.server.ConnectionCore ------------------------------

    def receive_data(self, data: bytes, now: datetime) -> None:
        """Frame the client's bytes; answer each PDU as the recording did."""
        if self._ended:
            return
        self._reader.feed(data)
        while not self._awaiting_tls and not self._ended:
            frame = self._reader.next_frame()
            if frame is None:
                return
            self._client_pdu(frame)
        if self._awaiting_tls:
            self._trailing = self._reader.take_all()

    def next_event(self) -> object | None:
        return self._events.pop(0) if self._events else None

    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    @property
    def awaiting_tls(self) -> bool:
        return self._awaiting_tls

    @property
    def trailing_data(self) -> bytes:
        trailing, self._trailing = self._trailing, b""
        return trailing

    def tls_established(self, now: datetime) -> None:
        self._awaiting_tls = False

    def decide(self, decision: Any, now: datetime) -> None:
        """Never asked: the recorded server's answers are played back."""

    def decision_failed(self, reason: str, now: datetime) -> None:
        """Never asked (see `decide`)."""

    # -- playing back ---------------------------------------------------------------------

    def _note(self, frame: int | None, path: str, recorded: Any, sent: Any, why: str) -> None:
        self.substitutions.append(Substitution(frame, path, recorded, sent, why))

    def _end(self, reason: str) -> None:
        if not self._ended:
            self._ended = True
            self._events.append(ConnectionEnded(reason))

    def _client_pdu(self, data: bytes) -> None:
        kind = _kind(data)
        self._read_client(data, kind)
        for index in range(self._position, len(self._steps)):
            if self._steps[index].kind == kind:
                self._position = index + 1
                for frame, answer in self._steps[index].answers:
                    if self._ended:
                        return
                    self._answer(frame, answer, data)
                break
        else:
            self._unrecorded(data, kind)
        if not any(step.answers for step in self._steps[self._position :]):
            self._end("the recording has no more server PDUs")

    def _unrecorded(self, data: bytes, kind: tuple[Any, ...]) -> None:
        """A client PDU the recording has no answer for: a Channel Join Request gets
        rdplic's confirm (the client joins a channel the recorded one did not); anything
        else gets nothing, as a server that has nothing to say."""
        request = _mcs(data)
        if isinstance(request, ChannelJoinRequest):
            confirm = ChannelJoinConfirm(request.initiator, request.channel_id, request.channel_id)
            self._out += mcs_frame(confirm)
            self._note(
                None,
                f"mcs.ChannelJoinConfirm[{request.channel_id}]",
                None,
                "joined",
                "the recorded client joined no such channel: rdplic's confirm",
            )

    def _read_client(self, data: bytes, kind: tuple[Any, ...]) -> None:
        """What the server must learn from the client: its Security Exchange (the client
        random, with rdplic's key) and its licensing premaster secret."""
        request = _mcs(data)
        if isinstance(request, ChannelJoinRequest | SendDataRequest):
            self._initiator = request.initiator
        if not isinstance(request, SendDataRequest):
            return
        try:
            header, body = decode_security_header(bytes(request.user_data))
        except PduError:
            return
        flags = int(header.flags)
        if flags & SecurityFlag.SEC_EXCHANGE_PKT:
            self._security_exchange(bytes(body))
            return
        if flags & SecurityFlag.SEC_ENCRYPT and self._security is not None:
            cipher = self._security.cipher
            assert cipher is not None  # INVARIANT: a SecurityLayer is made with its cipher
            try:
                body = cipher.unprotect(
                    bytes(header.data_signature or b""),
                    bytes(body),
                    salted=bool(flags & SecurityFlag.SEC_SECURE_CHECKSUM),
                )
            except MacMismatchError:
                return
        if flags & SecurityFlag.SEC_LICENSE_PKT:
            self._client_licensing(bytes(body))

    def _security_exchange(self, body: bytes) -> None:
        key = self._stand_in.proprietary_key
        try:
            exchange = decode_security_exchange(body)
        except PduError:
            return
        encrypted = bytes(exchange.encrypted_client_random)[: key.modulus_bytes]
        value = int.from_bytes(encrypted, "little")
        if len(self._server_random) != 32 or value >= key.n:
            return
        plain = rsa_private_op(key, value).to_bytes(key.modulus_bytes, "little")
        client_random = plain[:_CLIENT_RANDOM_SIZE]
        keys = derive_session_keys(client_random, self._server_random, self._method, server=True)
        self._security = SecurityLayer(RdpCipher(keys), encrypt_all=self._encrypt_all)

    def _client_licensing(self, body: bytes) -> None:
        try:
            message = decode_licensing_pdu(body).message
        except PduError:
            return
        if not isinstance(message, ClientNewLicenseRequest | ClientLicenseInfo):
            return
        key = self._license_key or self._stand_in.proprietary_key
        try:
            premaster = decrypt_premaster(key, bytes(message.encrypted_pre_master_secret.blob_data))
            self._licensing_keys = derive_licensing_keys(
                premaster, bytes(message.client_random), self._license_server_random
            )
        except (CryptoError, ValueError):
            self._licensing_keys = None

    def _answer(self, frame: int, data: bytes, request: bytes) -> None:
        """Send one recorded server PDU, changed where it must be."""
        if data[:1] != b"\x03":
            self._out += data  # a fast-path update: sent as recorded
            return
        try:
            tpdu = decode_x224(decode_tpkt(data).payload)
        except PduError:
            self._out += data
            return
        if isinstance(tpdu, X224ConnectionConfirm):
            self._out += data
            self._connection_confirm(tpdu)
            return
        if not isinstance(tpdu, X224Data):
            self._out += data
            return
        try:
            mcs = decode_mcs_pdu(tpdu.payload)
        except PduError:
            self._out += data
            return
        if isinstance(mcs, McsConnectResponse):
            self._out += self._connect_response(frame, mcs, data)
        elif isinstance(mcs, ChannelJoinConfirm):
            self._out += self._join_confirm(frame, mcs, request, data)
        elif isinstance(mcs, SendDataIndication):
            self._send_data(frame, mcs, data)
        else:
            self._out += data

    def _connection_confirm(self, tpdu: X224ConnectionConfirm) -> None:
        selected = getattr(tpdu.rdp_neg_data, "selected_protocol", None)
        if selected is None:
            return
        if int(selected) & _PROTOCOL_HYBRID:
            self._end("the recorded server selected CredSSP (NLA), which no key stands in for")
            return
        start_tls = bool(int(selected) & _PROTOCOL_SSL)
        self._events.append(SecurityNegotiated(None, int(selected), "", start_tls))
        if start_tls:
            self._awaiting_tls = True

    def _connect_response(self, frame: int, mcs: McsConnectResponse, data: bytes) -> bytes:
        try:
            gcc = decode_conference_create_response(bytes(mcs.user_data))
        except PduError:
            return data
        blocks = []
        for block in gcc.server_blocks:
            if isinstance(block, ServerSecurityData):
                self._method = EncryptionMethod(int(block.encryption_method))
                self._encrypt_all = int(block.encryption_level) >= 2
                self._server_random = bytes(block.server_random or b"")
                if block.server_certificate:
                    recorded = bytes(block.server_certificate)
                    certificate = self._certificate(frame, "gcc.SC_SECURITY", recorded)
                    block = dataclasses.replace(block, server_certificate=certificate)
            blocks.append(block)
        gcc = dataclasses.replace(gcc, server_blocks=tuple(blocks))
        user_data = encode_conference_create_response(gcc)
        response = dataclasses.replace(mcs, user_data=user_data)
        return tpkt_data_frame(encode_mcs_connect_response(response))

    def _certificate(self, frame: int, where: str, recorded: bytes) -> bytes:
        """rdplic's certificate of the recorded kind (CERT_CHAIN_VERSION_1 proprietary or
        _2 X.509, [MS-RDPBCGR] 2.2.1.4.3.1), with the substitution noted."""
        version = int.from_bytes(recorded[:4], "little") & 0x7FFFFFFF
        if version == 2:
            sent = self._stand_in.x509_chain
            what = "X.509 chain: rdplic's license server and terminal server certificates"
            self._license_key = self._stand_in.licensing_key
        else:
            sent = self._stand_in.proprietary_certificate
            what = (
                "proprietary certificate: rdplic's public key (PublicKeyBlob modulus and "
                "exponent), signed again with the Terminal Services signing key "
                "(SignatureBlob)"
            )
            self._license_key = self._stand_in.proprietary_key
        lengths = f"{len(recorded)} bytes recorded, {len(sent)} sent"
        changed = _changed_fields(recorded, sent)
        self._note(
            frame,
            f"{where}.serverCertificate",
            recorded.hex(),
            sent.hex(),
            f"{what}; {lengths}; fields changed: {changed}: nobody holds the recorded "
            "server's private key",
        )
        return sent

    def _join_confirm(
        self, frame: int, confirm: ChannelJoinConfirm, request: bytes, data: bytes
    ) -> bytes:
        asked = _mcs(request)
        if not isinstance(asked, ChannelJoinRequest) or asked.channel_id == confirm.requested:
            return data
        sent = dataclasses.replace(confirm, requested=asked.channel_id, channel_id=asked.channel_id)
        self._note(
            frame,
            "mcs.ChannelJoinConfirm.channelId",
            confirm.requested,
            asked.channel_id,
            "this client asked for another channel than the recorded one",
        )
        return mcs_frame(sent)

    def _send_data(self, frame: int, mcs: SendDataIndication, data: bytes) -> None:
        user_data = bytes(mcs.user_data)
        try:
            header, body = decode_security_header(user_data)
        except PduError:
            self._out += data
            return
        flags = int(header.flags)
        secured = self._method is not EncryptionMethod.NONE
        if not secured and (self._licensed or not flags & int(SecurityFlag.SEC_LICENSE_PKT)):
            self._out += data  # no security header: the share PDUs under TLS
            return
        if flags & SecurityFlag.SEC_ENCRYPT:
            if flags & SecurityFlag.SEC_LICENSE_PKT:
                self._send_licensing(frame, mcs, flags, self._unreadable_licensing(frame, body))
                return
            self._note(
                frame,
                "security.payload",
                bytes(body).hex(),
                None,
                "encrypted under the recorded session keys, which nobody holds: "
                "not sent, and the connection ends here",
            )
            self._end("the recorded server's next PDU is encrypted under keys nobody holds")
            return
        if flags & SecurityFlag.SEC_LICENSE_PKT:
            self._send_licensing(frame, mcs, flags, self._licensing(frame, bytes(body)))
            return
        self._out += data

    def _send_licensing(self, frame: int, mcs: SendDataIndication, flags: int, body: bytes) -> None:
        flags &= ~int(SecurityFlag.SEC_ENCRYPT)
        try:
            done = int(decode_licensing_pdu(body).msg_type) in _LAST_LICENSING
        except PduError:
            done = False
        self._licensed = self._licensed or done
        if self._security is not None:
            user_data = self._security.wrap(SecurityFlag(flags), body)
        else:
            user_data = SecurityLayer().wrap(SecurityFlag(flags), body)
        indication = dataclasses.replace(mcs, user_data=user_data)
        self._out += mcs_frame(indication)

    def _unreadable_licensing(self, frame: int, body: bytes) -> bytes:
        sent = _valid_client()
        why = (
            f"the recorded licensing PDU ({len(body)} bytes of plaintext) is encrypted under "
            "the recorded session keys, which nobody holds: rdplic's valid-client message "
            "completes licensing instead"
        )
        if len(body) == len(sent):
            why += (
                f" (a {len(sent)}-byte licensing plaintext can only be a Licensing Error "
                "Message with an empty blob: the valid client a host without a license "
                "server sends, as the recorded one most likely was)"
            )
        self._note(
            frame,
            "licensing",
            {"encrypted": bytes(body).hex(), "length": len(body)},
            "STATUS_VALID_CLIENT / ST_NO_TRANSITION",
            why,
        )
        return sent

    def _licensing(self, frame: int, body: bytes) -> bytes:
        try:
            pdu = decode_licensing_pdu(body)
        except PduError:
            return body
        message = pdu.message
        if isinstance(message, ServerLicenseRequest):
            self._license_server_random = bytes(message.server_random)
            recorded = bytes(message.server_certificate.blob_data)
            if recorded:
                certificate = self._certificate(frame, "licensing.LICENSE_REQUEST", recorded)
                blob = dataclasses.replace(message.server_certificate, blob_data=certificate)
                message = dataclasses.replace(message, server_certificate=blob)
            return build_pdu(message, pdu.version, pdu.flags)
        if isinstance(message, ServerPlatformChallenge):
            keys = self._licensing_keys
            recorded_blob = bytes(message.encrypted_platform_challenge.blob_data)
            if keys is None:
                return self._valid_instead(frame, "PLATFORM_CHALLENGE", recorded_blob)
            challenge = WINDOWS_PLATFORM_CHALLENGE
            blob = dataclasses.replace(
                message.encrypted_platform_challenge,
                blob_data=rc4(keys.licensing_encryption_key, challenge),
            )
            message = dataclasses.replace(
                message,
                encrypted_platform_challenge=blob,
                mac_data=mac_data(keys.mac_salt_key, challenge),
            )
            self._note(
                frame,
                "licensing.EncryptedPlatformChallenge",
                recorded_blob.hex(),
                challenge.decode("utf-16-le"),
                "the recorded challenge is encrypted under the recorded session's licensing "
                "keys, which need the recorded server's private key: Windows' challenge "
                "token, encrypted and MACed under this client's licensing keys",
            )
            return build_pdu(message, pdu.version, pdu.flags)
        if isinstance(message, ServerNewLicense | ServerUpgradeLicense):
            name = "NEW_LICENSE" if isinstance(message, ServerNewLicense) else "UPGRADE_LICENSE"
            return self._valid_instead(frame, name, bytes(message.encrypted_license_info.blob_data))
        return body

    def _valid_instead(self, frame: int, name: str, recorded: bytes) -> bytes:
        self._note(
            frame,
            f"licensing.{name}",
            recorded.hex(),
            "STATUS_VALID_CLIENT / ST_NO_TRANSITION",
            "its encrypted content needs the recorded session's licensing keys, which need "
            "the recorded server's private key: rdplic's valid-client message completes "
            "licensing instead",
        )
        return _valid_client()


def _valid_client() -> bytes:
    """LICENSE_ERROR_MESSAGE STATUS_VALID_CLIENT / ST_NO_TRANSITION, preamble version 3."""
    message: LicenseErrorMessage = error_message(
        ErrorCode.STATUS_VALID_CLIENT, StateTransition.ST_NO_TRANSITION
    )
    return build_pdu(message, PreambleVersion.PREAMBLE_VERSION_3_0, PreambleFlags(0))


_CONFIRMS = {"AttachUserConfirm": "AttachUserRequest", "ChannelJoinConfirm": "ChannelJoinRequest"}


def _pair_confirms(steps: list[_Step]) -> None:
    """Give each recorded Attach User and Channel Join Confirm to the request it answers.

    A client that sends its requests together (rdplic's client, mstsc in some versions) has
    the server's confirms recorded after its last request; a client under test that waits
    for each confirm would wait for ever.  Each confirm goes to the earliest unanswered
    request of its kind ([T125] 11.18, 11.22: one confirm per request, in order)."""
    waiting: list[_Step] = []
    for step in steps:
        if step.kind[1:] and step.kind[1] in _CONFIRMS.values():
            waiting.append(step)
        kept = []
        for frame, data in step.answers:
            confirm = type(_mcs(data)).__name__
            asked = _CONFIRMS.get(confirm)
            target = next((s for s in waiting if s.kind[1] == asked), None)
            if target is None:
                kept.append((frame, data))
                continue
            waiting.remove(target)
            if target is step:
                kept.append((frame, data))
            else:
                target.answers.append((frame, data))
        step.answers = kept


def _changed_fields(recorded: bytes, sent: bytes) -> str:
    """The fields of two SERVER_CERTIFICATEs that differ, by name (``PublicKeyBlob.modulus,
    SignatureBlob``), or "all" when they are of different kinds or do not decode."""
    try:
        a = to_json(decode_server_certificate(recorded))
        b = to_json(decode_server_certificate(sent))
    except PduError:
        return "all"
    names: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict) and x.get("type") == y.get("type"):
            for key in list(x) + [k for k in y if k not in x]:
                walk(x.get(key), y.get(key), f"{path}.{key}" if path else key)
        elif x != y:
            names.append(path or "all")

    walk(a.get("certData"), b.get("certData"), "")
    return ", ".join(names) or "none"


def _server_certificate(data: bytes) -> bytes:
    """The certificate of the Server Security Data of an MCS Connect Response frame."""
    mcs = _mcs(data)
    if not isinstance(mcs, McsConnectResponse):
        return b""
    try:
        gcc = decode_conference_create_response(bytes(mcs.user_data))
    except PduError:
        return b""
    for block in gcc.server_blocks:
        if isinstance(block, ServerSecurityData) and block.server_certificate:
            return bytes(block.server_certificate)
    return b""


def _mcs(data: bytes) -> Any:
    try:
        tpdu = decode_x224(decode_tpkt(data).payload)
        if isinstance(tpdu, X224Data):
            return decode_mcs_pdu(tpdu.payload)
    except PduError:
        return None
    return None
