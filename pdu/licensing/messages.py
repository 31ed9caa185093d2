"""The licensing PDU: LICENSE_PREAMBLE and the eight licensing messages.

* LICENSE_PREAMBLE — MS-RDPBCGR 2.2.1.12.1.1
* SERVER_LICENSE_REQUEST — MS-RDPELE 2.2.2.1
* CLIENT_NEW_LICENSE_REQUEST — MS-RDPELE 2.2.2.2
* CLIENT_LICENSE_INFO — MS-RDPELE 2.2.2.3
* SERVER_PLATFORM_CHALLENGE — MS-RDPELE 2.2.2.4
* CLIENT_PLATFORM_CHALLENGE_RESPONSE — MS-RDPELE 2.2.2.5
* SERVER_UPGRADE_LICENSE — MS-RDPELE 2.2.2.6
* SERVER_NEW_LICENSE — MS-RDPELE 2.2.2.7
* LICENSE_ERROR_MESSAGE — MS-RDPBCGR 2.2.1.12.1.3 (MS-RDPELE 2.2.2.8)

A licensing PDU here is what follows the security header: the 4-byte
preamble and one message.  wMsgSize counts exactly those bytes (the security
header is *not* included; every Windows and spec example agrees, IronRDP's
test buffers once did not).  A PDU whose wMsgSize disagrees with its length
still decodes: the odd value is kept in ``LicensingPdu.msg_size`` so that it
re-encodes byte for byte, and the licensing core answers
ERR_INVALID_MESSAGE_LEN itself.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from construct import Int8ul, Int16ul, Int32ul, Struct, Switch, this

from rdplic.pdu._types import Engine, check_engine, fits_uint, pdu_dataclass, spec
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.licensing._codec import BUILD_ERRORS, ExactBytes, Record, build_error, enum_or_int
from rdplic.pdu.licensing._structcodec import Codec
from rdplic.pdu.licensing.common import (
    KEY_EXCHANGE_LIST,
    LICENSE_BINARY_BLOB,
    PRODUCT_INFO,
    SCOPE_LIST,
    TEXT_BLOB,
    KeyExchangeList,
    LicenseBinaryBlob,
    ProductInfo,
    ScopeList,
    TextBlob,
)
from rdplic.pdu.licensing.constants import (
    LICENSE_PROTOCOL_VERSION_MASK,
    ErrorCode,
    KeyExchangeAlg,
    MsgType,
    PreambleFlags,
    PreambleVersion,
    StateTransition,
)

__all__ = [
    "LICENSE_PREAMBLE",
    "LICENSING_PDU",
    "MESSAGE_CODECS",
    "ClientLicenseInfo",
    "ClientNewLicenseRequest",
    "ClientPlatformChallengeResponse",
    "LicenseErrorMessage",
    "LicensingMessage",
    "LicensingPdu",
    "ServerLicenseRequest",
    "ServerNewLicense",
    "ServerPlatformChallenge",
    "ServerUpgradeLicense",
    "decode_licensing_pdu",
    "encode_licensing_message",
    "encode_licensing_pdu",
]

RANDOM_SIZE = 32
"""ServerRandom and ClientRandom (MS-RDPELE 2.2.2.1, 2.2.2.2)."""

MAC_SIZE = 16
"""MACData, an MD5 digest (MS-RDPELE 5.1.5)."""


@pdu_dataclass
class ServerLicenseRequest:
    """SERVER_LICENSE_REQUEST (MS-RDPELE 2.2.2.1), bMsgType LICENSE_REQUEST.

    ``server_certificate`` is kept as the raw BB_CERTIFICATE_BLOB (possibly
    empty, footnote 3); `pdu.certificates` decodes its contents.
    """

    server_random: bytes = spec("ServerRandom")
    product_info: ProductInfo = spec("ProductInfo")
    key_exchange_list: KeyExchangeList = spec("KeyExchangeList")
    server_certificate: LicenseBinaryBlob = spec("ServerCertificate")
    scope_list: ScopeList = spec("ScopeList")


SERVER_LICENSE_REQUEST = Record(
    ServerLicenseRequest,
    Struct(
        "ServerRandom" / ExactBytes(RANDOM_SIZE),
        "ProductInfo" / PRODUCT_INFO,
        "KeyExchangeList" / KEY_EXCHANGE_LIST,
        "ServerCertificate" / LICENSE_BINARY_BLOB,
        "ScopeList" / SCOPE_LIST,
    ),
)


@pdu_dataclass
class ClientNewLicenseRequest:
    """CLIENT_NEW_LICENSE_REQUEST (MS-RDPELE 2.2.2.2), bMsgType NEW_LICENSE_REQUEST.

    PlatformId combines a ClientOsId, a ClientImageId and a build number
    (see `pdu.licensing.constants`); Windows sends 0x04010000.
    """

    preferred_key_exchange_alg: KeyExchangeAlg | int = spec("PreferredKeyExchangeAlg")
    platform_id: int = spec("PlatformId")
    client_random: bytes = spec("ClientRandom")
    encrypted_pre_master_secret: LicenseBinaryBlob = spec("EncryptedPreMasterSecret")
    client_user_name: TextBlob = spec("ClientUserName")
    client_machine_name: TextBlob = spec("ClientMachineName")


CLIENT_NEW_LICENSE_REQUEST = Record(
    ClientNewLicenseRequest,
    Struct(
        "PreferredKeyExchangeAlg" / Int32ul,
        "PlatformId" / Int32ul,
        "ClientRandom" / ExactBytes(RANDOM_SIZE),
        "EncryptedPreMasterSecret" / LICENSE_BINARY_BLOB,
        "ClientUserName" / TEXT_BLOB,
        "ClientMachineName" / TEXT_BLOB,
    ),
)


@pdu_dataclass
class ClientLicenseInfo:
    """CLIENT_LICENSE_INFO (MS-RDPELE 2.2.2.3), bMsgType LICENSE_INFO.

    ``license_info`` is the stored CAL sent back verbatim; ``encrypted_hwid``
    is RC4(licensing key, CLIENT_HARDWARE_ID) — its blob type is 0x0009 per
    the text and 0x0001 in the Windows example (4.3), so it is not checked.
    """

    preferred_key_exchange_alg: KeyExchangeAlg | int = spec("PreferredKeyExchangeAlg")
    platform_id: int = spec("PlatformId")
    client_random: bytes = spec("ClientRandom")
    encrypted_pre_master_secret: LicenseBinaryBlob = spec("EncryptedPreMasterSecret")
    license_info: LicenseBinaryBlob = spec("LicenseInfo")
    encrypted_hwid: LicenseBinaryBlob = spec("EncryptedHWID")
    mac_data: bytes = spec("MACData")


CLIENT_LICENSE_INFO = Record(
    ClientLicenseInfo,
    Struct(
        "PreferredKeyExchangeAlg" / Int32ul,
        "PlatformId" / Int32ul,
        "ClientRandom" / ExactBytes(RANDOM_SIZE),
        "EncryptedPreMasterSecret" / LICENSE_BINARY_BLOB,
        "LicenseInfo" / LICENSE_BINARY_BLOB,
        "EncryptedHWID" / LICENSE_BINARY_BLOB,
        "MACData" / ExactBytes(MAC_SIZE),
    ),
)


@pdu_dataclass
class ServerPlatformChallenge:
    """SERVER_PLATFORM_CHALLENGE (MS-RDPELE 2.2.2.4), bMsgType PLATFORM_CHALLENGE.

    ConnectFlags is reserved and kept verbatim (0xFFFFFFFF in example 4.4);
    the challenge blob's type is unused (0xF750 in 4.4).
    """

    connect_flags: int = spec("ConnectFlags")
    encrypted_platform_challenge: LicenseBinaryBlob = spec("EncryptedPlatformChallenge")
    mac_data: bytes = spec("MACData")


SERVER_PLATFORM_CHALLENGE = Record(
    ServerPlatformChallenge,
    Struct(
        "ConnectFlags" / Int32ul,
        "EncryptedPlatformChallenge" / LICENSE_BINARY_BLOB,
        "MACData" / ExactBytes(MAC_SIZE),
    ),
)


@pdu_dataclass
class ClientPlatformChallengeResponse:
    """CLIENT_PLATFORM_CHALLENGE_RESPONSE (MS-RDPELE 2.2.2.5), bMsgType PLATFORM_CHALLENGE_RESPONSE.

    MACData covers the plaintext response data followed by the plaintext HWID.
    """

    encrypted_platform_challenge_response: LicenseBinaryBlob = spec(
        "EncryptedPlatformChallengeResponse"
    )
    encrypted_hwid: LicenseBinaryBlob = spec("EncryptedHWID")
    mac_data: bytes = spec("MACData")


CLIENT_PLATFORM_CHALLENGE_RESPONSE = Record(
    ClientPlatformChallengeResponse,
    Struct(
        "EncryptedPlatformChallengeResponse" / LICENSE_BINARY_BLOB,
        "EncryptedHWID" / LICENSE_BINARY_BLOB,
        "MACData" / ExactBytes(MAC_SIZE),
    ),
)

_LICENSE_STRUCT = Struct(
    "EncryptedLicenseInfo" / LICENSE_BINARY_BLOB,
    "MACData" / ExactBytes(MAC_SIZE),
)


@pdu_dataclass
class ServerNewLicense:
    """SERVER_NEW_LICENSE (MS-RDPELE 2.2.2.7), bMsgType NEW_LICENSE.

    Same layout as SERVER_UPGRADE_LICENSE: RC4-encrypted NEW_LICENSE_INFO and
    the MAC over its plaintext.
    """

    encrypted_license_info: LicenseBinaryBlob = spec("EncryptedLicenseInfo")
    mac_data: bytes = spec("MACData")


SERVER_NEW_LICENSE = Record(ServerNewLicense, _LICENSE_STRUCT)


@pdu_dataclass
class ServerUpgradeLicense:
    """SERVER_UPGRADE_LICENSE (MS-RDPELE 2.2.2.6), bMsgType UPGRADE_LICENSE.

    Same layout as SERVER_NEW_LICENSE; it replaces the CAL the client presented.
    """

    encrypted_license_info: LicenseBinaryBlob = spec("EncryptedLicenseInfo")
    mac_data: bytes = spec("MACData")


SERVER_UPGRADE_LICENSE = Record(ServerUpgradeLicense, _LICENSE_STRUCT)


@pdu_dataclass
class LicenseErrorMessage:
    """LICENSE_ERROR_MESSAGE (MS-RDPBCGR 2.2.1.12.1.3), bMsgType ERROR_ALERT.

    STATUS_VALID_CLIENT with ST_NO_TRANSITION and an empty BB_ERROR_BLOB is
    the "valid client" PDU that ends licensing (MS-RDPBCGR 2.2.1.12.1).
    """

    error_code: ErrorCode | int = spec("dwErrorCode")
    state_transition: StateTransition | int = spec("dwStateTransition")
    error_info: LicenseBinaryBlob = spec("bbErrorInfo")


LICENSE_ERROR_MESSAGE = Record(
    LicenseErrorMessage,
    Struct(
        "dwErrorCode" / Int32ul,
        "dwStateTransition" / Int32ul,
        "bbErrorInfo" / LICENSE_BINARY_BLOB,
    ),
)

LicensingMessage = (
    ServerLicenseRequest
    | ClientNewLicenseRequest
    | ClientLicenseInfo
    | ServerPlatformChallenge
    | ClientPlatformChallengeResponse
    | ServerNewLicense
    | ServerUpgradeLicense
    | LicenseErrorMessage
)
"""The body of a licensing PDU, one dataclass per bMsgType."""

MESSAGE_CODECS: dict[MsgType, Codec[Any]] = {
    MsgType.LICENSE_REQUEST: Codec("SERVER_LICENSE_REQUEST", SERVER_LICENSE_REQUEST),
    MsgType.PLATFORM_CHALLENGE: Codec("SERVER_PLATFORM_CHALLENGE", SERVER_PLATFORM_CHALLENGE),
    MsgType.NEW_LICENSE: Codec("SERVER_NEW_LICENSE", SERVER_NEW_LICENSE),
    MsgType.UPGRADE_LICENSE: Codec("SERVER_UPGRADE_LICENSE", SERVER_UPGRADE_LICENSE),
    MsgType.LICENSE_INFO: Codec("CLIENT_LICENSE_INFO", CLIENT_LICENSE_INFO),
    MsgType.NEW_LICENSE_REQUEST: Codec("CLIENT_NEW_LICENSE_REQUEST", CLIENT_NEW_LICENSE_REQUEST),
    MsgType.PLATFORM_CHALLENGE_RESPONSE: Codec(
        "CLIENT_PLATFORM_CHALLENGE_RESPONSE", CLIENT_PLATFORM_CHALLENGE_RESPONSE
    ),
    MsgType.ERROR_ALERT: Codec("LICENSE_ERROR_MESSAGE", LICENSE_ERROR_MESSAGE),
}
"""The decoder/encoder of each message body, by bMsgType."""

_MSG_TYPE_OF: dict[type, MsgType] = {
    codec.definition.cls: msg_type for msg_type, codec in MESSAGE_CODECS.items()
}
"""bMsgType by message class (the encoding side of `MESSAGE_CODECS`)."""

LICENSE_PREAMBLE = Struct(
    "bMsgType" / Int8ul,
    "flags" / Int8ul,
    "wMsgSize" / Int16ul,
)
"""LICENSE_PREAMBLE (MS-RDPBCGR 2.2.1.12.1.1), 4 bytes."""

LICENSING_PDU = Struct(
    "preamble" / LICENSE_PREAMBLE,
    "message"
    / Switch(this.preamble.bMsgType, {int(k): c.definition for k, c in MESSAGE_CODECS.items()}),
)
"""The whole licensing PDU as one construct (reference for tests and documentation)."""

_PREAMBLE = struct.Struct("<BBH")


@pdu_dataclass
class LicensingPdu:
    """A licensing PDU: LICENSE_PREAMBLE (MS-RDPBCGR 2.2.1.12.1.1) and one message.

    bMsgType is derived from the type of ``message``.  The preamble's flags
    byte is split in two: ``version`` is its low nibble (PREAMBLE_VERSION_3_0
    from RDP 5.0 on, PREAMBLE_VERSION_2_0 for RDP 4.0), ``flags`` its high
    nibble (EXTENDED_ERROR_MSG_SUPPORTED, set by Windows clients, never by a
    server).  ``msg_size`` is None when wMsgSize matches the PDU's length, as
    it always should; otherwise it holds the wMsgSize that was received.
    """

    msg_type: MsgType = spec("bMsgType", init=False, repr=False)
    version: PreambleVersion | int = spec(
        "LicenseProtocolVersion", default=PreambleVersion.PREAMBLE_VERSION_3_0, kw_only=True
    )
    flags: PreambleFlags = spec("flags", default=PreambleFlags(0), kw_only=True)
    msg_size: int | None = spec("wMsgSize", default=None, kw_only=True)
    message: LicensingMessage = spec("message")

    def __post_init__(self) -> None:
        msg_type = _MSG_TYPE_OF.get(type(self.message))
        if msg_type is None:
            raise TypeError(f"not a licensing message: {type(self.message).__name__}")
        object.__setattr__(self, "msg_type", msg_type)


def decode_licensing_pdu(
    data: bytes | bytearray | memoryview, *, engine: Engine = "struct"
) -> LicensingPdu:
    """Decode a licensing PDU (preamble + message, no security header).

    Raises `PduError` for anything malformed: an unknown bMsgType, a field
    running past the end, or bytes left over after the message.
    ``engine="construct"`` reads the preamble and the message with their
    construct definitions only (tests and benchmarks compare the engines).
    """
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) < _PREAMBLE.size:
        raise PduError(
            "LICENSE_PREAMBLE",
            f"needs {_PREAMBLE.size} bytes, got {len(data)}",
            offset=len(data),
        )
    if engine == "struct":
        msg_type, flags, msg_size = _PREAMBLE.unpack_from(data)
    else:
        check_engine(engine)
        preamble = guarded("LICENSE_PREAMBLE", data, LICENSE_PREAMBLE.parse_stream)
        msg_type, flags, msg_size = preamble.bMsgType, preamble.flags, preamble.wMsgSize
    codec = MESSAGE_CODECS.get(msg_type)
    if codec is None:
        raise PduError(
            "LICENSE_PREAMBLE", f"unknown bMsgType 0x{msg_type:02X}", field="bMsgType", offset=0
        )
    message, end = codec.parse(data, _PREAMBLE.size, engine=engine)
    if end != len(data):
        raise PduError(codec.structure, f"{len(data) - end} bytes after the message", offset=end)
    # Same object as LicensingPdu(message, version=..., flags=..., msg_size=...), built
    # slot by slot: bMsgType is already known, and this is on every licensing frame's path.
    pdu: LicensingPdu = _new(LicensingPdu)
    _set_msg_type(pdu, _MSG_TYPES[msg_type])
    _set_version(pdu, _VERSIONS[flags & LICENSE_PROTOCOL_VERSION_MASK])
    _set_flags(pdu, _FLAGS[flags >> 4])
    _set_msg_size(pdu, None if msg_size == len(data) else msg_size)
    _set_message(pdu, message)
    return pdu


def _slot_setter(name: str) -> Callable[[LicensingPdu, Any], None]:
    setter: Callable[[LicensingPdu, Any], None] = vars(LicensingPdu)[name].__set__
    return setter


_new = object.__new__
_set_msg_type = _slot_setter("msg_type")
_set_version = _slot_setter("version")
_set_flags = _slot_setter("flags")
_set_msg_size = _slot_setter("msg_size")
_set_message = _slot_setter("message")
_MSG_TYPES = {int(t): t for t in MsgType}
_VERSIONS = [enum_or_int(PreambleVersion, v) for v in range(16)]
_FLAGS = [PreambleFlags(high << 4) for high in range(16)]


def encode_licensing_pdu(pdu: LicensingPdu, *, engine: Engine = "struct") -> bytes:
    """Encode a licensing PDU; wMsgSize is derived unless ``pdu.msg_size`` overrides it."""
    return _encode(pdu.msg_type, pdu.message, pdu.version, pdu.flags, pdu.msg_size, engine)


def encode_licensing_message(
    message: LicensingMessage, version: int, flags: int, *, engine: Engine = "struct"
) -> bytes:
    """``encode_licensing_pdu(LicensingPdu(message, version=version, flags=flags))``,
    without building the `LicensingPdu` (a server sends several per handshake)."""
    msg_type = _MSG_TYPE_OF.get(type(message))
    if msg_type is None:
        raise TypeError(f"not a licensing message: {type(message).__name__}")
    return _encode(msg_type, message, version, flags, None, engine)


def _encode(
    msg_type: MsgType,
    message: LicensingMessage,
    version: int,
    flags: int,
    msg_size: int | None,
    engine: Engine,
) -> bytes:
    codec = MESSAGE_CODECS[msg_type]
    if not 0 <= version <= LICENSE_PROTOCOL_VERSION_MASK:
        raise PduError("LICENSE_PREAMBLE", f"version {version} is not 0..15", field="flags")
    flag_bits = int(flags)
    if flag_bits & LICENSE_PROTOCOL_VERSION_MASK or not 0 <= flag_bits <= 0xFF:
        raise PduError(
            "LICENSE_PREAMBLE", f"flags 0x{flag_bits:X} overlap the version", field="flags"
        )
    body = codec.build(message, engine=engine)
    size = _PREAMBLE.size + len(body) if msg_size is None else msg_size
    if not 0 <= size <= 0xFFFF:
        raise PduError(
            "LICENSE_PREAMBLE", f"wMsgSize {size} does not fit 16 bits", field="wMsgSize"
        )
    if engine == "struct" and fits_uint(size, 0xFFFF):
        return _PREAMBLE.pack(msg_type, int(version) | flag_bits, size) + body
    preamble = {"bMsgType": int(msg_type), "flags": int(version) | flag_bits, "wMsgSize": size}
    try:
        return LICENSE_PREAMBLE.build(preamble) + body
    except BUILD_ERRORS as error:
        raise build_error("LICENSE_PREAMBLE", error) from None
