"""The rest of a session recorded without secrets, compared by its shape.

Offline replay of a capture recorded without ``--capture-secrets`` matches byte for byte up
to the point where the server's private keys are needed (the Security Exchange under
Standard RDP Security, the client's premaster secret in licensing), and is "partial" there
(`rdplic.capture.replay`).  Beyond it, a CI user still wants to know whether the session
keeps its shape: the same server PDUs in the same order, with the same lengths and the same
cleartext fields.

For that the server is run a second time with stand-in keys of the recorded sizes, and the
recorded client is replaced, where its bytes depend on keys nobody has, by a `StandInClient`
that writes what the recorded client wrote, re-encrypted under those stand-in keys:

* the Security Exchange carries a stand-in client random, encrypted under the stand-in
  proprietary key ([MS-RDPBCGR] 5.3.4.1); the later client PDUs are RC4-encrypted under the
  session keys derived from it (5.3.5, 5.3.6);
* the New License Request and License Info carry a stand-in premaster secret under the
  stand-in licensing key ([MS-RDPELE] 5.1.1.1); their cleartext fields stay as recorded;
* what the recorded client encrypted cannot be read back, so a stand-in of the same kind
  takes its place: a hardware ID of zeros (2.2.2.3.1), a Platform Challenge Response echoing
  the replayed server's challenge (2.2.2.5.1), and under Standard RDP Security a Client Info
  with the recorded user name and a New License Request with the recorded user and machine
  names (the recording holds them); a License Info, whose license cannot be rebuilt, and any
  PDU after licensing end the comparison there.

The recorded server PDUs and the replayed ones are then decoded without keys and compared
(`compare_structure`): cleartext fields exactly, encrypted fields (RC4 payloads, MACs and
signatures, encrypted licensing blobs) by length, named in the result.  The server's license
itself comes from the recorded decisions, so a New License keeps its length.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rdplic.capture.decode import decode_connection
from rdplic.capture.pcap import Connection
from rdplic.core.connection_common import FrameReader
from rdplic.crypto import derive_licensing_keys, rc4
from rdplic.crypto.licensing import mac_data
from rdplic.crypto.rdp_security import EncryptionMethod, RdpCipher, derive_session_keys
from rdplic.crypto.rsa import RsaPrivateKey, encrypt_premaster, rsa_public_op
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import X224Data, decode_tpkt, decode_x224, tpkt_data_frame
from rdplic.pdu.gcc import ServerSecurityData, decode_conference_create_response
from rdplic.pdu.licensing import (
    PLATFORM_CHALLENGE_RESPONSE_VERSION,
    BlobType,
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ClientType,
    LicenseBinaryBlob,
    LicenseDetailLevel,
    PlatformChallengeResponseData,
    ServerLicenseRequest,
    ServerPlatformChallenge,
    TextBlob,
    decode_licensing_pdu,
    encode_client_hardware_id,
    encode_licensing_message,
    encode_platform_challenge_response_data,
)
from rdplic.pdu.mcs import (
    McsConnectResponse,
    SendDataIndication,
    SendDataRequest,
    decode_mcs_pdu,
    encode_domain_pdu,
)
from rdplic.pdu.rdp import (
    ClientInfo,
    InfoFlag,
    SecurityExchange,
    SecurityFlag,
    decode_security_header,
    encode_client_info,
    encode_security_exchange,
    security_header_bytes,
)

__all__ = ["ENCRYPTED_FIELDS", "StandInClient", "compare_structure"]

STAND_IN_CLIENT_RANDOM = bytes(range(32))
STAND_IN_PREMASTER = bytes(range(48))
STAND_IN_LICENSING_RANDOM = bytes(range(32, 64))
STAND_IN_HWID = ClientHardwareId(platform_id=0, data1=0, data2=0, data3=0, data4=0)

ENCRYPTED_FIELDS = frozenset(
    {
        "payload",
        "dataSignature",
        "MACData",
        "EncryptedPlatformChallenge",
        "EncryptedLicenseInfo",
        "EncryptedPreMasterSecret",
        "EncryptedHWID",
        "EncryptedPlatformChallengeResponse",
        "encryptedClientRandom",
    }
)
"""Fields that are ciphertext (or a MAC) under keys nobody has: compared by length."""

_NEW_LICENSE_REQUEST_MAX = 600
"""A licensing plaintext longer than this after a License Request is a License Info (it
carries a license of a kilobyte or more); a New License Request with 2048-bit keys and
names of up to 64 characters stays below."""


def _utf8_z(text: str) -> bytes:
    return text.encode("latin-1", errors="replace") + b"\0"


def _utf16_z(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


class StandInClient:
    """The recorded client's PDUs, re-encrypted under stand-in keys (see the module
    docstring), as a filter between the recorded client bytes and the replayed server.

    ``client_bytes`` takes recorded client bytes (in any pieces) and gives what to feed the
    server instead; ``server_bytes`` reads what the server sent.  ``stopped`` says why the
    stand-in had to stop (empty while it goes on); ``substituted`` what it made up."""

    def __init__(
        self,
        proprietary_key: RsaPrivateKey,
        licensing_key: RsaPrivateKey,
        *,
        user: str = "",
        machine: str = "",
    ) -> None:
        self._proprietary = proprietary_key
        self._licensing = licensing_key
        self._user = user
        self._machine = machine
        self._client = FrameReader()
        self._server = FrameReader()
        self._method = EncryptionMethod.NONE
        self._server_random = b""
        self._cipher: RdpCipher | None = None
        self._license_server_random = b""
        self._licensing_keys: Any = None
        self._challenge = b""
        self._client_licensing = 0
        self.stopped = ""
        self.substituted: list[str] = []

    # -- the server's side -------------------------------------------------------------

    def server_bytes(self, data: bytes) -> None:
        """Read the replayed server's PDUs: its security data, licensing randoms and
        challenge."""
        self._server.feed(data)
        while (frame := self._server.next_frame()) is not None:
            mcs = _mcs(frame)
            if isinstance(mcs, McsConnectResponse):
                self._security_data(bytes(mcs.user_data))
            elif isinstance(mcs, SendDataIndication):
                self._server_data(bytes(mcs.user_data))

    def _security_data(self, user_data: bytes) -> None:
        try:
            response = decode_conference_create_response(user_data)
        except PduError:
            return
        for block in response.server_blocks:
            if isinstance(block, ServerSecurityData):
                self._method = EncryptionMethod(int(block.encryption_method))
                self._server_random = bytes(block.server_random or b"")

    def _server_data(self, user_data: bytes) -> None:
        try:
            header, body = decode_security_header(user_data)
        except PduError:
            return
        flags = int(header.flags)
        body = bytes(body)
        if flags & SecurityFlag.SEC_ENCRYPT:
            if self._cipher is None:
                return
            try:
                body = self._cipher.unprotect(
                    bytes(header.data_signature or b""),
                    body,
                    salted=bool(flags & SecurityFlag.SEC_SECURE_CHECKSUM),
                )
            except Exception:  # MacMismatchError: a server we do not follow
                return
        if not flags & SecurityFlag.SEC_LICENSE_PKT:
            return
        try:
            message = decode_licensing_pdu(body).message
        except PduError:
            return
        if isinstance(message, ServerLicenseRequest):
            self._license_server_random = bytes(message.server_random)
        elif isinstance(message, ServerPlatformChallenge) and self._licensing_keys is not None:
            key = self._licensing_keys.licensing_encryption_key
            self._challenge = rc4(key, bytes(message.encrypted_platform_challenge.blob_data))

    # -- the client's side -------------------------------------------------------------

    def client_bytes(self, data: bytes) -> bytes:
        """The recorded client bytes ``data``, each whole PDU rewritten; nothing once
        `stopped`."""
        self._client.feed(data)
        out = bytearray()
        while not self.stopped and (frame := self._client.next_frame()) is not None:
            out += self._rewrite(frame)
        return bytes(out)

    def _rewrite(self, frame: bytes) -> bytes:
        mcs = _mcs(frame)
        if not isinstance(mcs, SendDataRequest):
            return frame
        user_data = bytes(mcs.user_data)
        try:
            header, body = decode_security_header(user_data)
        except PduError:
            return frame
        flags = int(header.flags)
        if flags & SecurityFlag.SEC_EXCHANGE_PKT:
            return self._send(mcs, flags, self._security_exchange(bytes(body)), encrypt=False)
        if not flags & (SecurityFlag.SEC_INFO_PKT | SecurityFlag.SEC_LICENSE_PKT):
            if flags & SecurityFlag.SEC_ENCRYPT or self._licensing_keys is not None:
                self.stopped = "the client's PDUs after licensing cannot be rebuilt"
                return b""
            return frame
        encrypted = bool(flags & SecurityFlag.SEC_ENCRYPT)
        plain = None if encrypted else bytes(body)
        if flags & SecurityFlag.SEC_INFO_PKT:
            if plain is None:
                plain = self._client_info()
            return self._send(mcs, flags, plain, encrypt=encrypted)
        rebuilt = self._licensing_pdu(plain, len(body))
        if rebuilt is None:
            return b""
        return self._send(mcs, flags, rebuilt, encrypt=encrypted)

    def _send(self, mcs: SendDataRequest, flags: int, body: bytes, *, encrypt: bool) -> bytes:
        flags &= ~int(SecurityFlag.SEC_ENCRYPT)
        if encrypt and self._cipher is not None:
            salted = bool(flags & SecurityFlag.SEC_SECURE_CHECKSUM)
            signature, body = self._cipher.protect(body, salted=salted)
            user_data = security_header_bytes(flags | int(SecurityFlag.SEC_ENCRYPT), signature)
        else:
            user_data = security_header_bytes(flags, None)
        pdu = dataclasses.replace(mcs, user_data=user_data + body)
        return tpkt_data_frame(encode_domain_pdu(pdu))

    def _security_exchange(self, body: bytes) -> bytes:
        key = self._proprietary
        value = rsa_public_op(key.public, int.from_bytes(STAND_IN_CLIENT_RANDOM, "little"))
        blob = value.to_bytes(key.modulus_bytes, "little") + bytes(8)
        keys = derive_session_keys(
            STAND_IN_CLIENT_RANDOM, self._server_random, self._method, server=False
        )
        self._cipher = RdpCipher(keys)
        self.substituted.append("security-exchange.encryptedClientRandom")
        return encode_security_exchange(SecurityExchange(blob))

    def _client_info(self) -> bytes:
        self.substituted.append("client-info (the recorded user name, the rest empty)")
        info = ClientInfo(
            code_page=0,
            flags=InfoFlag.INFO_UNICODE | InfoFlag.INFO_MOUSE,
            domain=_utf16_z(""),
            user_name=_utf16_z(self._user),
            password=_utf16_z(""),
            alternate_shell=_utf16_z(""),
            working_dir=_utf16_z(""),
        )
        return encode_client_info(info)

    def _licensing_pdu(self, plain: bytes | None, length: int) -> bytes | None:
        """The client's licensing PDU, rebuilt under the stand-in keys; None (and
        ``stopped``) when it cannot be."""
        self._client_licensing += 1
        if plain is None:
            return self._unreadable_licensing(length)
        try:
            pdu = decode_licensing_pdu(plain)
        except PduError:
            return plain
        message = pdu.message
        if isinstance(message, ClientNewLicenseRequest | ClientLicenseInfo):
            message = dataclasses.replace(
                message, encrypted_pre_master_secret=self._premaster_blob(message)
            )
            self._derive(bytes(message.client_random))
            if self.stopped:
                return None
            if isinstance(message, ClientLicenseInfo):
                hwid, mac = self._encrypted_hwid()
                message = dataclasses.replace(message, encrypted_hwid=hwid, mac_data=mac)
            self.substituted.append("licensing.EncryptedPreMasterSecret")
        elif isinstance(message, ClientPlatformChallengeResponse):
            if self._licensing_keys is None:
                self.stopped = "a Platform Challenge Response before any licensing keys"
                return None
            recorded = len(message.encrypted_platform_challenge_response.blob_data)
            response = self._challenge_response(recorded)
            hwid, _ = self._encrypted_hwid()
            key = self._licensing_keys.licensing_encryption_key
            hwid_plain = encode_client_hardware_id(STAND_IN_HWID)
            message = dataclasses.replace(
                message,
                encrypted_platform_challenge_response=dataclasses.replace(
                    message.encrypted_platform_challenge_response, blob_data=rc4(key, response)
                ),
                encrypted_hwid=hwid,
                mac_data=mac_data(self._licensing_keys.mac_salt_key, response + hwid_plain),
            )
        return encode_licensing_message(message, pdu.version, pdu.flags)

    def _unreadable_licensing(self, length: int) -> bytes | None:
        """Standard RDP Security: the licensing PDU's plaintext is RC4 under the recorded
        session keys.  The first after the License Request is a New License Request unless
        it is long enough to carry a license; the next answers the Platform Challenge."""
        if self._client_licensing == 1 and length <= _NEW_LICENSE_REQUEST_MAX:
            public = self._licensing.public
            request = ClientNewLicenseRequest(
                preferred_key_exchange_alg=1,
                platform_id=0,
                client_random=STAND_IN_LICENSING_RANDOM,
                encrypted_pre_master_secret=LicenseBinaryBlob(
                    BlobType.BB_RANDOM_BLOB, encrypt_premaster(public, STAND_IN_PREMASTER)
                ),
                client_user_name=TextBlob(BlobType.BB_CLIENT_USER_NAME_BLOB, _utf8_z(self._user)),
                client_machine_name=TextBlob(
                    BlobType.BB_CLIENT_MACHINE_NAME_BLOB, _utf8_z(self._machine)
                ),
            )
            self._derive(STAND_IN_LICENSING_RANDOM)
            if self.stopped:
                return None
            self.substituted.append("licensing (a New License Request with the recorded names)")
            return encode_licensing_message(request, 3, 0)
        if self._client_licensing == 2 and self._licensing_keys is not None:
            response = self._challenge_response(0)
            hwid, _ = self._encrypted_hwid()
            key = self._licensing_keys.licensing_encryption_key
            hwid_plain = encode_client_hardware_id(STAND_IN_HWID)
            answer = ClientPlatformChallengeResponse(
                encrypted_platform_challenge_response=LicenseBinaryBlob(
                    BlobType.BB_ENCRYPTED_DATA_BLOB, rc4(key, response)
                ),
                encrypted_hwid=hwid,
                mac_data=mac_data(self._licensing_keys.mac_salt_key, response + hwid_plain),
            )
            self.substituted.append("licensing (a Platform Challenge Response)")
            return encode_licensing_message(answer, 3, 0)
        self.stopped = (
            "the client presented a license (License Info), encrypted under the recorded "
            "session keys: it cannot be rebuilt"
            if self._client_licensing == 1
            else "a client licensing PDU encrypted under the recorded session keys"
        )
        return None

    def _premaster_blob(self, message: Any) -> LicenseBinaryBlob:
        blob: LicenseBinaryBlob = message.encrypted_pre_master_secret
        encrypted = encrypt_premaster(self._licensing.public, STAND_IN_PREMASTER)
        return dataclasses.replace(blob, blob_data=encrypted)

    def _derive(self, client_random: bytes) -> None:
        if len(self._license_server_random) != 32:
            self.stopped = "the replayed server sent no License Request to answer"
            return
        self._licensing_keys = derive_licensing_keys(
            STAND_IN_PREMASTER, client_random, self._license_server_random
        )

    def _encrypted_hwid(self) -> tuple[LicenseBinaryBlob, bytes]:
        keys = self._licensing_keys
        plain = encode_client_hardware_id(STAND_IN_HWID)
        self.substituted.append("licensing.EncryptedHWID (zeros)")
        blob = LicenseBinaryBlob(
            BlobType.BB_ENCRYPTED_DATA_BLOB, rc4(keys.licensing_encryption_key, plain)
        )
        return blob, mac_data(keys.mac_salt_key, plain)

    def _challenge_response(self, recorded_length: int) -> bytes:
        """What answers the replayed server's challenge: the challenge itself when the
        recorded answer was that long (rdesktop echoes it), else a
        PLATFORM_CHALLENGE_RESPONSE_DATA echoing it ([MS-RDPELE] 2.2.2.5.1)."""
        self.substituted.append("licensing.EncryptedPlatformChallengeResponse")
        if recorded_length and recorded_length == len(self._challenge):
            return self._challenge
        data = PlatformChallengeResponseData(
            version=PLATFORM_CHALLENGE_RESPONSE_VERSION,
            client_type=ClientType.WIN32_PLATFORMCHALLENGE_TYPE,
            license_detail_level=LicenseDetailLevel.LICENSE_DETAIL_DETAIL,
            challenge=self._challenge,
        )
        return encode_platform_challenge_response_data(data)


def _mcs(frame: bytes) -> Any:
    if frame[:1] != b"\x03":
        return None
    try:
        tpdu = decode_x224(decode_tpkt(frame).payload)
        if isinstance(tpdu, X224Data):
            return decode_mcs_pdu(tpdu.payload)
    except PduError:
        return None
    return None


_HEX = frozenset("0123456789abcdef")


def _shape(value: Any) -> Any:
    """A value with every hex string (the bytes of `rdplic.pdujson`) replaced by its length
    in hex digits; names and numbers stay."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, str) and len(value) % 2 == 0 and set(value) <= _HEX:
        return len(value)
    return value


def _shape_diff(
    recorded: Any, replayed: Any, path: str, by_length: list[str]
) -> tuple[str, Any, Any] | None:
    """The first difference of cleartext fields, encrypted ones (`ENCRYPTED_FIELDS`) by
    length; those compared by length are added to ``by_length``."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in list(recorded) + [k for k in replayed if k not in recorded]:
            here = f"{path}.{key}" if path else key
            a, b = recorded.get(key), replayed.get(key)
            if key in ENCRYPTED_FIELDS and key in recorded and key in replayed:
                if _shape(a) != _shape(b):
                    return here, {"length": _shape(a)}, {"length": _shape(b)}
                if a != b:
                    by_length.append(here)
                continue
            if (key in recorded) != (key in replayed):
                return here, a, b
            found = _shape_diff(a, b, here, by_length)
            if found is not None:
                return found
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        if len(recorded) != len(replayed):
            return path or "layers", recorded, replayed
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            name = a.get("layer") if isinstance(a, dict) and "layer" in a else str(index)
            found = _shape_diff(a, b, f"{path}.{name}" if path else str(name), by_length)
            if found is not None:
                return found
        return None
    if recorded != replayed:
        return path, recorded, replayed
    return None


def compare_structure(
    recorded: Connection, replayed: Connection, *, start: int, complete: bool
) -> dict[str, Any]:
    """The server PDUs of ``recorded`` from index ``start`` on against ``replayed``'s, both
    decoded without keys: PDU types and order, lengths and cleartext fields exactly, the
    encrypted fields by length.  With ``complete`` False (the stand-in client stopped) the
    replay may end early: PDUs past its end are not compared, and said so.

    Returns the ``structure`` object of a replay result: ``verdict`` "same-structure" or
    "differs", ``compared`` (server PDUs compared), ``frame``, ``path``, ``recorded``,
    ``replayed`` (the first difference), ``by_length`` (encrypted fields compared by length)
    and ``detail``."""
    a = [f for f in decode_connection(recorded) if not f.from_client]
    b = [f for f in decode_connection(replayed) if not f.from_client]
    out: dict[str, Any] = {"verdict": "same-structure", "compared": 0, "by_length": []}
    stop = len(a) if complete else min(len(a), len(b))
    for index in range(start, max(stop, min(len(b), len(a)) if complete else stop)):
        if index >= len(a) or index >= len(b):
            break
        by_length: list[str] = []
        found = _shape_diff(a[index].layers, b[index].layers, "", by_length)
        out["by_length"] += [f"frame {a[index].frame} {name}" for name in by_length]
        out["compared"] += 1
        if found is not None:
            out.update(verdict="differs", frame=a[index].frame, path=found[0])
            out.update(recorded=found[1], replayed=found[2])
            return out
    if complete and len(a) != len(b):
        fewer = len(b) < len(a)
        out.update(verdict="differs", frame=a[len(b)].frame if fewer else None)
        out.update(path=f"server PDU {min(len(a), len(b)) + 1}")
        out["detail"] = "the replay sent fewer PDUs" if fewer else "the replay sent more"
        return out
    if not complete and len(a) > stop:
        out["detail"] = f"{len(a) - stop} recorded server PDUs after frame {a[stop - 1].frame} "
        out["detail"] += "not compared"
    return out
