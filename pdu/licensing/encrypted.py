"""Structures that travel RC4-encrypted inside licensing messages.

* CLIENT_HARDWARE_ID — MS-RDPELE 2.2.2.3.1 (in CLIENT_LICENSE_INFO and
  CLIENT_PLATFORM_CHALLENGE_RESPONSE)
* PLATFORM_CHALLENGE_RESPONSE_DATA — MS-RDPELE 2.2.2.5.1
* NEW_LICENSE_INFO — MS-RDPELE 2.2.2.6.1 (in SERVER_NEW_LICENSE and
  SERVER_UPGRADE_LICENSE)

These decoders take the *plaintext*; decrypting is `rdplic.crypto`'s job.
Like every licensing decoder and encoder they take ``engine=`` (`pdu._types.Engine`).
"""

from __future__ import annotations

from typing import TypeVar

from construct import Int16ul, Int32ul, Rebuild, Struct, len_, this

from rdplic.pdu._types import Ansi, Engine, Utf16, pdu_dataclass, spec
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing._codec import ExactBytes, Record
from rdplic.pdu.licensing._structcodec import Codec
from rdplic.pdu.licensing.constants import ClientType, LicenseDetailLevel

__all__ = [
    "CLIENT_HARDWARE_ID",
    "NEW_LICENSE_INFO",
    "PLATFORM_CHALLENGE_RESPONSE_DATA",
    "ClientHardwareId",
    "NewLicenseInfo",
    "PlatformChallengeResponseData",
    "decode_client_hardware_id",
    "decode_new_license_info",
    "decode_platform_challenge_response_data",
    "encode_client_hardware_id",
    "encode_new_license_info",
    "encode_platform_challenge_response_data",
]


@pdu_dataclass
class ClientHardwareId:
    """CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1), 20 bytes.

    Data1-Data4 are stable client-chosen values by which per-device CALs are
    indexed.  PlatformId is 0x00000002 in the Windows example (4.3), not the
    request's PlatformId that the text asks for; it is kept as sent.
    """

    platform_id: int = spec("PlatformId")
    data1: int = spec("Data1")
    data2: int = spec("Data2")
    data3: int = spec("Data3")
    data4: int = spec("Data4")


CLIENT_HARDWARE_ID = Record(
    ClientHardwareId,
    Struct(
        "PlatformId" / Int32ul,
        "Data1" / Int32ul,
        "Data2" / Int32ul,
        "Data3" / Int32ul,
        "Data4" / Int32ul,
    ),
)


@pdu_dataclass
class PlatformChallengeResponseData:
    """PLATFORM_CHALLENGE_RESPONSE_DATA (MS-RDPELE 2.2.2.5.1).

    Wire order is wVersion, wClientType, wLicenseDetailLevel, cbChallenge,
    pbChallenge — as the field descriptions and example 4.5 have it (the
    section's bit diagram swaps the two middle fields).  ``challenge`` is the
    decrypted server challenge, echoed.
    """

    version: int = spec("wVersion")
    client_type: ClientType | int = spec("wClientType")
    license_detail_level: LicenseDetailLevel | int = spec("wLicenseDetailLevel")
    challenge: bytes = spec("pbChallenge")


PLATFORM_CHALLENGE_RESPONSE_DATA = Record(
    PlatformChallengeResponseData,
    Struct(
        "wVersion" / Int16ul,
        "wClientType" / Int16ul,
        "wLicenseDetailLevel" / Int16ul,
        "cbChallenge" / Rebuild(Int16ul, len_(this.pbChallenge)),
        "pbChallenge" / ExactBytes(this.cbChallenge),
    ),
)


@pdu_dataclass
class NewLicenseInfo:
    """NEW_LICENSE_INFO (MS-RDPELE 2.2.2.6.1): the CAL and the key the client files it under.

    The client stores ``license_info`` (the CAL, opaque to it) under
    (dwVersion, pbScope, pbCompanyName, pbProductId).  Text fields keep their
    NUL terminators.
    """

    version: int = spec("dwVersion")
    scope: Ansi = spec("pbScope")
    company_name: Utf16 = spec("pbCompanyName")
    product_id: Utf16 = spec("pbProductId")
    license_info: bytes = spec("pbLicenseInfo")


NEW_LICENSE_INFO = Record(
    NewLicenseInfo,
    Struct(
        "dwVersion" / Int32ul,
        "cbScope" / Rebuild(Int32ul, len_(this.pbScope)),
        "pbScope" / ExactBytes(this.cbScope),
        "cbCompanyName" / Rebuild(Int32ul, len_(this.pbCompanyName)),
        "pbCompanyName" / ExactBytes(this.cbCompanyName),
        "cbProductId" / Rebuild(Int32ul, len_(this.pbProductId)),
        "pbProductId" / ExactBytes(this.cbProductId),
        "cbLicenseInfo" / Rebuild(Int32ul, len_(this.pbLicenseInfo)),
        "pbLicenseInfo" / ExactBytes(this.cbLicenseInfo),
    ),
)

T = TypeVar("T")

_HWID = Codec[ClientHardwareId]("CLIENT_HARDWARE_ID", CLIENT_HARDWARE_ID)
_RESPONSE = Codec[PlatformChallengeResponseData](
    "PLATFORM_CHALLENGE_RESPONSE_DATA", PLATFORM_CHALLENGE_RESPONSE_DATA
)
_NEW_LICENSE = Codec[NewLicenseInfo]("NEW_LICENSE_INFO", NEW_LICENSE_INFO)


def _decode_whole(codec: Codec[T], data: bytes | bytearray | memoryview, engine: Engine) -> T:
    if type(data) is not bytes:
        data = bytes(data)
    obj, end = codec.parse(data, engine=engine)
    if end != len(data):
        raise PduError(codec.structure, f"{len(data) - end} bytes after the structure", offset=end)
    return obj


def decode_client_hardware_id(
    data: bytes | bytearray | memoryview, *, engine: Engine = "struct"
) -> ClientHardwareId:
    """Decode a decrypted CLIENT_HARDWARE_ID (exactly 20 bytes)."""
    return _decode_whole(_HWID, data, engine)


def encode_client_hardware_id(hwid: ClientHardwareId, *, engine: Engine = "struct") -> bytes:
    """Encode a CLIENT_HARDWARE_ID (before RC4 encryption)."""
    return _HWID.build(hwid, engine=engine)


def decode_platform_challenge_response_data(
    data: bytes | bytearray | memoryview, *, engine: Engine = "struct"
) -> PlatformChallengeResponseData:
    """Decode a decrypted PLATFORM_CHALLENGE_RESPONSE_DATA."""
    return _decode_whole(_RESPONSE, data, engine)


def encode_platform_challenge_response_data(
    response: PlatformChallengeResponseData, *, engine: Engine = "struct"
) -> bytes:
    """Encode a PLATFORM_CHALLENGE_RESPONSE_DATA (before RC4 encryption)."""
    return _RESPONSE.build(response, engine=engine)


def decode_new_license_info(
    data: bytes | bytearray | memoryview, *, engine: Engine = "struct"
) -> NewLicenseInfo:
    """Decode a decrypted NEW_LICENSE_INFO."""
    return _decode_whole(_NEW_LICENSE, data, engine)


def encode_new_license_info(info: NewLicenseInfo, *, engine: Engine = "struct") -> bytes:
    """Encode a NEW_LICENSE_INFO (before RC4 encryption)."""
    return _NEW_LICENSE.build(info, engine=engine)
