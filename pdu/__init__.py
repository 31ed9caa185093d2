"""Wire formats of the RDP licensing exchange: construct definitions behind typed entry points.

`pdu` imports only construct and the standard library (architecture
invariant 1).  Every decoder returns frozen dataclasses or raises `PduError`;
every encoder derives lengths and counts.
"""

from __future__ import annotations

from pdu.errors import PduError
from pdu.licensing import (
    LicensingPdu,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_client_hardware_id,
    encode_licensing_pdu,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)

__all__ = [
    "LicensingPdu",
    "PduError",
    "decode_client_hardware_id",
    "decode_licensing_pdu",
    "decode_new_license_info",
    "decode_platform_challenge_response_data",
    "encode_client_hardware_id",
    "encode_licensing_pdu",
    "encode_new_license_info",
    "encode_platform_challenge_response_data",
]
