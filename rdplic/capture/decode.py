"""Every frame of a captured connection, decoded, following the session's encryption.

A connection's two byte streams are cut into frames (TPKT or fast-path, `frame_size`) and
each frame is decoded layer by layer (``tpkt``, ``x224``, ``mcs``, ``security``, then
``licensing``, ``security-exchange`` or ``client-info``), in the JSON of `rdplic.pdujson`
that ``rdplic pdu decode`` prints for one PDU.  What a single PDU cannot show, a session can:

* Standard RDP Security ([MS-RDPBCGR] 5.3): the server random and encryption method come
  from SC_SECURITY of the MCS Connect Response; with the key of the proprietary certificate
  the client random of the Security Exchange is decrypted, the session keys derived
  (5.3.5) and both RC4 streams followed, key updates every 4,096 packets included
  (`rdplic.crypto.rdp_security.RdpCipher`); each encrypted payload is shown decrypted
  with its MAC checked.
* Licensing ([MS-RDPELE] 5.1): with the private key whose public half the License Request
  carries, the premaster secret of the New License Request or License Info is decrypted,
  the licensing keys derived, and the encrypted fields shown decrypted with their MACData
  checked.

`SessionKeys` says which keys are at hand: a capture recorded with secrets carries them
(`rdplic.capture.recording`), else they come from a state directory or key files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rdplic.capture.pcap import Connection, tls_start
from rdplic.crypto import decrypt_premaster, derive_licensing_keys, rc4, verify_mac
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.rdp_security import (
    EncryptionMethod,
    MacMismatchError,
    RdpCipher,
    derive_session_keys,
)
from rdplic.crypto.rsa import (
    RsaPrivateKey,
    RsaPublicKey,
    encrypt_premaster,
    rsa_private_op,
    rsa_public_op,
)
from rdplic.crypto.x509 import public_key_from_server_certificate
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import X224Data, decode_tpkt, decode_x224, frame_size
from rdplic.pdu.gcc import (
    ServerSecurityData,
    decode_conference_create_request,
    decode_conference_create_response,
)
from rdplic.pdu.licensing import (
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    MsgType,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
)
from rdplic.pdu.mcs import (
    McsConnectInitial,
    McsConnectResponse,
    SendDataIndication,
    SendDataRequest,
    decode_mcs_pdu,
)
from rdplic.pdu.rdp import (
    SecurityFlag,
    decode_client_info,
    decode_security_exchange,
    decode_security_header,
)
from rdplic.pdujson import to_json

__all__ = ["DecodedFrame", "SessionKeys", "decode_connection", "derive_secrets", "split_frames"]

_CLIENT_RANDOM_SIZE = 32


@dataclasses.dataclass(frozen=True, slots=True)
class SessionKeys:
    """The server's private keys, as far as they are known.

    :ivar proprietary: the key of the proprietary certificate (Standard RDP Security)
    :ivar licensing: candidates for the key of the License Request's certificate (the one
        whose modulus matches is used)
    """

    proprietary: RsaPrivateKey | None = None
    licensing: tuple[RsaPrivateKey, ...] = ()
    client_randomness: bytes = b""
    """The random bytes the client drew, when the session is seen from the client's side (a
    client recording's stream, or the stream a replayed client drew): its client random
    (Standard RDP Security) and premaster secret (licensing) are found in it, each checked
    by encrypting it again under the server's public key, so the client's encrypted fields
    decrypt where no one holds the server's private key."""


@dataclasses.dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One frame (PDU) of a connection, decoded."""

    connection: int
    from_client: bool
    frame: int
    data: bytes
    layers: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection,
            "direction": "client-to-server" if self.from_client else "server-to-client",
            "frame": self.frame,
            "layers": self.layers,
        }


def split_frames(data: bytes, frames: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    """Cut one direction into (frame number, PDU bytes); the frame is the one that carried
    the PDU's last byte (as Wireshark numbers a reassembled PDU).  Bytes that do not frame
    (TLS records left encrypted, garbage) end the cut as one last piece."""
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        try:
            size = frame_size(data[offset:])
        except PduError:
            size = None
        if size is None or size <= 0 or offset + size > len(data):
            size = len(data) - offset
        end = offset + size
        frame = next((f for stop, f in frames if stop >= end), frames[-1][1] if frames else 0)
        out.append((frame, data[offset:end]))
        offset = end
    return out


@dataclasses.dataclass(slots=True)
class _Session:
    keys: SessionKeys
    method: EncryptionMethod = EncryptionMethod.NONE
    server_random: bytes = b""
    server_public: RsaPublicKey | None = None
    decrypt_client: RdpCipher | None = None
    decrypt_server: RdpCipher | None = None
    license_server_random: bytes = b""
    license_key: RsaPrivateKey | None = None
    license_public: RsaPublicKey | None = None
    licensing_keys: Any = None
    client_random: bytes = b""
    premaster: bytes = b""
    license_client_random: bytes = b""
    licensed: bool = False
    """The server's last licensing message went out: without encryption, the PDUs after it
    carry no security header ([MS-RDPBCGR] 2.2.8.1.1.2.1, 5.3.2)."""


def decode_connection(
    connection: Connection, keys: SessionKeys = SessionKeys()
) -> list[DecodedFrame]:
    """Every frame of ``connection``, in frame order, decoded (see the module docstring)."""
    return _decode_all(connection, keys)[0]


def derive_secrets(connection: Connection, keys: SessionKeys) -> dict[str, Any]:
    """What the session derived from the server's keys, as hex: the Standard RDP Security
    client random and session keys ([MS-RDPBCGR] 5.3.5) and the licensing premaster secret
    and keys ([MS-RDPELE] 5.1.2): what ``--capture-secrets`` writes beside the private keys,
    the way an NSS key log does for TLS."""
    session = _decode_all(connection, keys)[1]
    out: dict[str, Any] = {}
    if session.client_random:
        cipher = session.decrypt_client
        assert cipher is not None
        out["rdp_security"] = {
            "method": session.method.name,
            "client_random": session.client_random.hex(),
            "server_random": session.server_random.hex(),
            "mac_key": cipher.keys.mac_key.hex(),
            "server_encrypt_key": cipher.keys.encrypt_key.hex(),
            "server_decrypt_key": cipher.keys.decrypt_key.hex(),
        }
    if session.licensing_keys is not None:
        derived = session.licensing_keys
        out["licensing"] = {
            "premaster": session.premaster.hex(),
            "client_random": session.license_client_random.hex(),
            "server_random": session.license_server_random.hex(),
            "master_secret": derived.master_secret.hex(),
            "mac_salt_key": derived.mac_salt_key.hex(),
            "licensing_encryption_key": derived.licensing_encryption_key.hex(),
        }
    return out


def _decode_all(connection: Connection, keys: SessionKeys) -> tuple[list[DecodedFrame], _Session]:
    pieces: list[tuple[int, bool, bytes, bool]] = []
    for from_client in (True, False):
        data = connection.data(from_client)
        frames = connection.frame_map(from_client)
        start = tls_start(connection, from_client) if connection.tls == "encrypted" else None
        if start is None:
            start = len(data)
        for frame, pdu in split_frames(data[:start], frames):
            pieces.append((frame, from_client, pdu, False))
        for frame, record in _tls_records(data, start, frames):
            pieces.append((frame, from_client, record, True))
    pieces.sort(key=lambda p: (p[0], not p[1]))
    session = _Session(keys)
    out = []
    for frame, from_client, data, encrypted in pieces:
        if encrypted:
            layers = [{"layer": "tls", "encrypted": True, "payload": data.hex()}]
        else:
            layers = _decode_frame(session, from_client, data)
        out.append(DecodedFrame(connection.index, from_client, frame, data, layers))
    return out, session


def _tls_records(data: bytes, start: int, frames: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    """TLS records from ``start`` on (type, version, 2-byte length: RFC 5246 6.2.1), each
    with the frame of its last byte; what does not frame is one last piece."""
    out: list[tuple[int, bytes]] = []
    offset = start
    while offset < len(data):
        size = 5 + int.from_bytes(data[offset + 3 : offset + 5], "big")
        if offset + 5 > len(data) or offset + size > len(data):
            size = len(data) - offset
        end = offset + size
        frame = next((f for stop, f in frames if stop >= end), frames[-1][1] if frames else 0)
        out.append((frame, data[offset:end]))
        offset = end
    return out


def _error(layers: list[dict[str, Any]], name: str, error: Exception, data: bytes) -> None:
    layers.append({"layer": name, "error": str(error), "payload": data.hex()})


def _decode_frame(session: _Session, from_client: bool, data: bytes) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    if data[:1] != b"\x03":
        layers.append({"layer": "fastpath", "payload": data.hex()})
        return layers
    try:
        tpkt = decode_tpkt(data)
        tpkt_fields = to_json(tpkt)
        tpkt_fields.pop("payload", None)
        layers.append({"layer": "tpkt", "fields": tpkt_fields})
        tpdu = decode_x224(tpkt.payload)
    except PduError as error:
        _error(layers, "x224", error, data)
        return layers
    x224 = to_json(tpdu)
    if isinstance(tpdu, X224Data):
        x224.pop("userData", None)
    layers.append({"layer": "x224", "fields": x224})
    if not isinstance(tpdu, X224Data):
        return layers
    try:
        mcs = decode_mcs_pdu(tpdu.payload)
    except PduError as error:
        _error(layers, "mcs", error, tpdu.payload)
        return layers
    fields = to_json(mcs)
    if isinstance(mcs, McsConnectResponse):
        _server_security(session, mcs.user_data)
    if isinstance(mcs, McsConnectInitial | McsConnectResponse):
        decode_gcc = (
            decode_conference_create_request
            if isinstance(mcs, McsConnectInitial)
            else decode_conference_create_response
        )
        try:
            gcc = to_json(decode_gcc(bytes(mcs.user_data)))
        except PduError as error:
            layers.append({"layer": "mcs", "fields": fields})
            _error(layers, "gcc", error, bytes(mcs.user_data))
            return layers
        fields.pop("userData", None)
        layers.append({"layer": "mcs", "fields": fields})
        layers.append({"layer": "gcc", "fields": gcc})
        return layers
    if not isinstance(mcs, SendDataRequest | SendDataIndication):
        layers.append({"layer": "mcs", "fields": fields})
        return layers
    fields.pop("userData", None)
    layers.append({"layer": "mcs", "fields": fields})
    _decode_security(session, from_client, bytes(mcs.user_data), layers)
    return layers


def _server_security(session: _Session, user_data: bytes) -> None:
    try:
        response = decode_conference_create_response(user_data)
    except PduError:
        return
    for block in response.server_blocks:
        if isinstance(block, ServerSecurityData):
            session.method = EncryptionMethod(int(block.encryption_method))
            session.server_random = bytes(block.server_random or b"")
            if block.server_certificate:
                session.server_public = _public_key(bytes(block.server_certificate))


_LAST_LICENSING = frozenset(
    int(t) for t in (MsgType.NEW_LICENSE, MsgType.UPGRADE_LICENSE, MsgType.ERROR_ALERT)
)
"""Server licensing messages after which licensing is over (or restarted: a
restart still ends with one of them)."""

_HEADER_FLAGS = int(
    SecurityFlag.SEC_EXCHANGE_PKT
    | SecurityFlag.SEC_INFO_PKT
    | SecurityFlag.SEC_LICENSE_PKT
    | SecurityFlag.SEC_ENCRYPT
)


def _decode_security(
    session: _Session, from_client: bool, user_data: bytes, layers: list[dict[str, Any]]
) -> None:
    try:
        header, body = decode_security_header(user_data)
    except PduError as error:
        _error(layers, "security", error, user_data)
        return
    flags = int(header.flags)
    plain = session.method is EncryptionMethod.NONE
    if plain and (session.licensed or not flags & _HEADER_FLAGS):
        layers.append({"layer": "data", "payload": user_data.hex()})  # no security header
        return
    entry: dict[str, Any] = {"layer": "security", "fields": to_json(header)}
    layers.append(entry)
    body = bytes(body)
    if flags & SecurityFlag.SEC_ENCRYPT:
        cipher = session.decrypt_client if from_client else session.decrypt_server
        if cipher is None:
            entry["payload"] = body.hex()
            return
        salted = bool(flags & SecurityFlag.SEC_SECURE_CHECKSUM)
        signature = bytes(header.data_signature or b"")
        try:
            body = cipher.unprotect(signature, body, salted=salted)
            entry["decrypted"] = {"MAC": {"valid": True}}
        except MacMismatchError:
            entry["decrypted"] = {"MAC": {"valid": False}}
            return
    if flags & SecurityFlag.SEC_EXCHANGE_PKT:
        _security_exchange(session, body, layers)
    elif flags & SecurityFlag.SEC_INFO_PKT:
        try:
            layers.append({"layer": "client-info", "fields": to_json(decode_client_info(body))})
        except PduError as error:
            _error(layers, "client-info", error, body)
    elif flags & SecurityFlag.SEC_LICENSE_PKT:
        _licensing(session, body, layers)
    else:
        entry["payload"] = body.hex()


def _security_exchange(session: _Session, body: bytes, layers: list[dict[str, Any]]) -> None:
    try:
        exchange = decode_security_exchange(body)
    except PduError as error:
        _error(layers, "security-exchange", error, body)
        return
    entry: dict[str, Any] = {"layer": "security-exchange", "fields": to_json(exchange)}
    layers.append(entry)
    key = session.keys.proprietary
    if len(session.server_random) != 32:
        return
    if key is None:
        found = _drawn_client_random(session, bytes(exchange.encrypted_client_random))
        if found is None:
            return
        client_random = found
    else:
        encrypted = bytes(exchange.encrypted_client_random)[: key.modulus_bytes]
        value = int.from_bytes(encrypted, "little")
        if len(encrypted) != key.modulus_bytes or value >= key.n:
            entry["decrypted"] = {"error": "the client random does not fit the proprietary key"}
            return
        plain = rsa_private_op(key, value).to_bytes(key.modulus_bytes, "little")
        client_random = plain[:_CLIENT_RANDOM_SIZE]
    try:
        server_side = derive_session_keys(
            client_random, session.server_random, session.method, server=True
        )
        client_side = derive_session_keys(
            client_random, session.server_random, session.method, server=False
        )
    except ValueError as error:
        entry["decrypted"] = {"error": str(error)}
        return
    session.client_random = client_random
    session.decrypt_client = RdpCipher(server_side)
    session.decrypt_server = RdpCipher(client_side)
    entry["decrypted"] = {"ClientRandom": client_random.hex()}


def _public_key(certificate: bytes) -> RsaPublicKey | None:
    try:
        return public_key_from_server_certificate(certificate)
    except (CryptoError, ValueError, PduError):
        return None


def _drawn_client_random(session: _Session, encrypted: bytes) -> bytes | None:
    """The client random among the bytes the client drew (`SessionKeys.client_randomness`):
    the 32 bytes whose raw RSA under the server's public key is the Security Exchange's
    encryptedClientRandom ([MS-RDPBCGR] 5.3.4.1)."""
    public = session.server_public
    drawn = session.keys.client_randomness
    if public is None or not drawn:
        return None
    target = int.from_bytes(encrypted[: public.modulus_bytes], "little")
    for offset in range(len(drawn) - _CLIENT_RANDOM_SIZE + 1):
        candidate = drawn[offset : offset + _CLIENT_RANDOM_SIZE]
        if rsa_public_op(public, int.from_bytes(candidate, "little")) == target:
            return candidate
    return None


def _drawn_premaster(session: _Session, client_random: bytes, encrypted: bytes) -> bytes | None:
    """The premaster secret among the bytes the client drew: a client draws its licensing
    ClientRandom and then its premaster secret ([MS-RDPELE] 5.1.1.1), so it is the 48 bytes
    after each place the ClientRandom occurs whose encryption under the License Request's key
    is the EncryptedPreMasterSecret."""
    public = session.license_public
    drawn = session.keys.client_randomness
    if public is None or not drawn or not client_random:
        return None
    start = drawn.find(client_random)
    while start >= 0:
        candidate = drawn[start + len(client_random) : start + len(client_random) + 48]
        if len(candidate) == 48 and encrypt_premaster(public, candidate) == encrypted:
            return candidate
        start = drawn.find(client_random, start + 1)
    return None


def _licensing_key(session: _Session, certificate: bytes) -> RsaPrivateKey | None:
    public = _public_key(certificate)
    session.license_public = public
    for key in session.keys.licensing:
        if public is None or key.n == public.n:
            return key
    return None


def _inner(decode: Any, data: bytes) -> Any:
    try:
        return to_json(decode(data))
    except PduError as error:
        return {"error": str(error), "hex": data.hex()}


def _licensing(session: _Session, body: bytes, layers: list[dict[str, Any]]) -> None:
    try:
        pdu = decode_licensing_pdu(body)
    except PduError as error:
        _error(layers, "licensing", error, body)
        return
    entry: dict[str, Any] = {"layer": "licensing", "fields": to_json(pdu)}
    layers.append(entry)
    message = pdu.message
    if int(pdu.msg_type) in _LAST_LICENSING:
        session.licensed = True
    if isinstance(message, ServerLicenseRequest):
        session.license_server_random = bytes(message.server_random)
        session.license_key = _licensing_key(session, bytes(message.server_certificate.blob_data))
        return
    if isinstance(message, ClientNewLicenseRequest | ClientLicenseInfo):
        key = session.license_key
        encrypted = bytes(message.encrypted_pre_master_secret.blob_data)
        if len(session.license_server_random) != 32:
            return
        drawn = None
        if key is None:
            drawn = _drawn_premaster(session, bytes(message.client_random), encrypted)
            if drawn is None:
                return
        try:
            if drawn is None:
                assert key is not None  # INVARIANT: without a key the premaster was drawn
                drawn = decrypt_premaster(key, encrypted)
            premaster = drawn
            session.licensing_keys = derive_licensing_keys(
                premaster, bytes(message.client_random), session.license_server_random
            )
        except (CryptoError, ValueError) as error:
            entry["decrypted"] = {"error": str(error)}
            return
        session.premaster = premaster
        session.license_client_random = bytes(message.client_random)
        view: dict[str, Any] = {"PreMasterSecret": premaster.hex()}
        if isinstance(message, ClientLicenseInfo):
            view.update(_licensing_fields(session, message))
        entry["decrypted"] = view
        return
    if session.licensing_keys is not None:
        view = _licensing_fields(session, message)
        if view:
            entry["decrypted"] = view


def _licensing_fields(session: _Session, message: Any) -> dict[str, Any]:
    keys = session.licensing_keys
    key, salt = keys.licensing_encryption_key, keys.mac_salt_key

    def mac(plain: bytes, received: bytes) -> dict[str, bool]:
        return {"valid": bool(verify_mac(salt, plain, bytes(received)))}

    view: dict[str, Any] = {}
    if isinstance(message, ServerPlatformChallenge):
        challenge = rc4(key, bytes(message.encrypted_platform_challenge.blob_data))
        view["EncryptedPlatformChallenge"] = {
            "hex": challenge.hex(),
            "text": challenge.decode("utf-16-le", errors="replace"),
        }
        view["MACData"] = mac(challenge, message.mac_data)
    elif isinstance(message, ClientPlatformChallengeResponse):
        response = rc4(key, bytes(message.encrypted_platform_challenge_response.blob_data))
        hwid = rc4(key, bytes(message.encrypted_hwid.blob_data))
        view["EncryptedPlatformChallengeResponse"] = _inner(
            decode_platform_challenge_response_data, response
        )
        view["EncryptedHWID"] = _inner(decode_client_hardware_id, hwid)
        view["MACData"] = mac(response + hwid, message.mac_data)
    elif isinstance(message, ClientLicenseInfo):
        hwid = rc4(key, bytes(message.encrypted_hwid.blob_data))
        view["EncryptedHWID"] = _inner(decode_client_hardware_id, hwid)
        view["MACData"] = mac(hwid, message.mac_data)
    elif isinstance(message, ServerNewLicense | ServerUpgradeLicense):
        info = rc4(key, bytes(message.encrypted_license_info.blob_data))
        view["EncryptedLicenseInfo"] = _inner(decode_new_license_info, info)
        view["MACData"] = mac(info, message.mac_data)
    return view
