"""Licensing PDUs: MS-RDPELE 2.2.2 framed as in MS-RDPBCGR 2.2.1.12.

Entry points:

* `decode_licensing_pdu` / `encode_licensing_pdu` — the bytes after the
  security header (LICENSE_PREAMBLE and one message) to a `LicensingPdu`
  and back;
* `decode_client_hardware_id`, `decode_platform_challenge_response_data`,
  `decode_new_license_info` and their encoders — the plaintext of the
  encrypted fields.

Every decoder returns frozen dataclasses or raises `PduError`; every encoder
derives lengths and counts.  encode(decode(b)) == b for anything that
decodes, including Windows' quirks (junk blob types, RDP 4 preambles,
inconsistent wMsgSize).

Each of them takes ``engine=`` (`pdu._types.Engine`): "struct", the default,
runs the `struct` code generated from the construct definitions
(`pdu.licensing._structcodec`) and falls back to the definitions for anything
it declines; "construct" runs the definitions alone.
"""

from __future__ import annotations

from rdplic.pdu.licensing.common import (
    KeyExchangeList,
    LicenseBinaryBlob,
    ProductInfo,
    Scope,
    ScopeList,
    TextBlob,
)
from rdplic.pdu.licensing.constants import (
    CLIENT_IMAGE_ID_MASK,
    CLIENT_OS_ID_MASK,
    LICENSE_PROTOCOL_VERSION_MASK,
    PLATFORM_CHALLENGE_RESPONSE_VERSION,
    BlobType,
    ClientImageId,
    ClientOsId,
    ClientType,
    ErrorCode,
    KeyExchangeAlg,
    LicenseDetailLevel,
    MsgType,
    PreambleFlags,
    PreambleVersion,
    StateTransition,
)
from rdplic.pdu.licensing.encrypted import (
    ClientHardwareId,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    decode_client_hardware_id,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_client_hardware_id,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)
from rdplic.pdu.licensing.messages import (
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    LicenseErrorMessage,
    LicensingMessage,
    LicensingPdu,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    decode_licensing_pdu,
    encode_licensing_message,
    encode_licensing_pdu,
)

__all__ = [
    "CLIENT_IMAGE_ID_MASK",
    "CLIENT_OS_ID_MASK",
    "LICENSE_PROTOCOL_VERSION_MASK",
    "PLATFORM_CHALLENGE_RESPONSE_VERSION",
    "BlobType",
    "ClientHardwareId",
    "ClientImageId",
    "ClientLicenseInfo",
    "ClientNewLicenseRequest",
    "ClientOsId",
    "ClientPlatformChallengeResponse",
    "ClientType",
    "ErrorCode",
    "KeyExchangeAlg",
    "KeyExchangeList",
    "LicenseBinaryBlob",
    "LicenseDetailLevel",
    "LicenseErrorMessage",
    "LicensingMessage",
    "LicensingPdu",
    "MsgType",
    "NewLicenseInfo",
    "PlatformChallengeResponseData",
    "PreambleFlags",
    "PreambleVersion",
    "ProductInfo",
    "Scope",
    "ScopeList",
    "ServerLicenseRequest",
    "ServerNewLicense",
    "ServerPlatformChallenge",
    "ServerUpgradeLicense",
    "StateTransition",
    "TextBlob",
    "decode_client_hardware_id",
    "decode_licensing_pdu",
    "decode_new_license_info",
    "decode_platform_challenge_response_data",
    "encode_client_hardware_id",
    "encode_licensing_message",
    "encode_licensing_pdu",
    "encode_new_license_info",
    "encode_platform_challenge_response_data",
]
