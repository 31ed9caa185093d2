"""RDP-layer structures of the connection sequence, inside the MCS Send Data userData.

- `pdu.rdp.security`: security headers (MS-RDPBCGR 2.2.8.1.1.2): basic TS_SECURITY_HEADER,
  non-FIPS TS_SECURITY_HEADER1 (with the 8-byte MAC) and FIPS TS_SECURITY_HEADER2; and the
  Security Exchange PDU data (2.2.1.10.1 TS_SECURITY_PACKET).
- `pdu.rdp.client_info`: Client Info PDU data (2.2.1.11.1.1 TS_INFO_PACKET with
  2.2.1.11.1.1.1 TS_EXTENDED_INFO_PACKET and 2.2.1.11.1.1.1.1 TS_TIME_ZONE_INFORMATION).
- `pdu.rdp.share`: Share Control Header (2.2.8.1.1.1.1) and Share Data Header
  (2.2.8.1.1.1.2) with its body as bytes.
- `pdu.rdp.error_info`: Set Error Info PDU (2.2.5.1.1) with the ERRINFO_* codes.
- `pdu.rdp.demand_active`: the Demand Active PDU (2.2.1.13.1.1) with its capability sets
  kept as (type, bytes).

This package re-exports all of them.  The security headers, Security Exchange, Client Info
and share data headers have a struct path beside their construct definitions; their
decoders and encoders take ``engine=`` (`pdu._types.Engine`), and with
``engine="construct"`` the construct definitions run alone.
"""

from __future__ import annotations

# Besides __all__, the names the single module pdu/rdp.py had stay importable from here
# (re-exported with "as"): TIME_ZONE_INFORMATION, and the pdu helpers and types it imported.
from rdplic.pdu._types import Ansi as Ansi
from rdplic.pdu._types import Utf16 as Utf16
from rdplic.pdu._types import pdu_dataclass as pdu_dataclass
from rdplic.pdu._types import spec as spec
from rdplic.pdu.errors import PduError as PduError
from rdplic.pdu.errors import guarded as guarded
from rdplic.pdu.framing import OptionalField as OptionalField
from rdplic.pdu.framing import build_checked as build_checked
from rdplic.pdu.framing import build_optional_tail as build_optional_tail
from rdplic.pdu.framing import enum_or_int as enum_or_int
from rdplic.pdu.framing import need as need
from rdplic.pdu.framing import parse_exact as parse_exact
from rdplic.pdu.framing import parse_optional_tail as parse_optional_tail
from rdplic.pdu.rdp.client_info import TIME_ZONE_INFORMATION as TIME_ZONE_INFORMATION
from rdplic.pdu.rdp.client_info import (
    ClientAddressFamily,
    ClientInfo,
    ExtendedInfo,
    InfoFlag,
    PerformanceFlag,
    SystemTime,
    TimeZoneInformation,
    decode_client_info,
    encode_client_info,
)
from rdplic.pdu.rdp.demand_active import (
    CapabilitySet,
    CapabilitySetType,
    DemandActive,
    decode_demand_active,
    encode_demand_active,
)
from rdplic.pdu.rdp.error_info import (
    ErrorInfo,
    SetErrorInfo,
    decode_set_error_info,
    encode_set_error_info,
)
from rdplic.pdu.rdp.security import (
    SECURITY_HEADER,
    SecurityExchange,
    SecurityFlag,
    SecurityHeader,
    decode_security_exchange,
    decode_security_header,
    encode_security_exchange,
    encode_security_header,
    security_header_bytes,
)
from rdplic.pdu.rdp.share import (
    TS_PROTOCOL_VERSION,
    PduType,
    PduType2,
    ShareControlHeader,
    ShareDataPdu,
    StreamId,
    decode_share_control_header,
    decode_share_data_pdu,
    encode_share_control_header,
    encode_share_data_pdu,
)

__all__ = [
    "SECURITY_HEADER",
    "TS_PROTOCOL_VERSION",
    "CapabilitySet",
    "CapabilitySetType",
    "ClientAddressFamily",
    "ClientInfo",
    "DemandActive",
    "ErrorInfo",
    "ExtendedInfo",
    "InfoFlag",
    "PduType",
    "PduType2",
    "PerformanceFlag",
    "SecurityExchange",
    "SecurityFlag",
    "SecurityHeader",
    "SetErrorInfo",
    "ShareControlHeader",
    "ShareDataPdu",
    "StreamId",
    "SystemTime",
    "TimeZoneInformation",
    "decode_client_info",
    "decode_demand_active",
    "decode_security_exchange",
    "decode_security_header",
    "decode_set_error_info",
    "decode_share_control_header",
    "decode_share_data_pdu",
    "encode_client_info",
    "encode_demand_active",
    "encode_security_exchange",
    "encode_security_header",
    "encode_set_error_info",
    "encode_share_control_header",
    "encode_share_data_pdu",
    "security_header_bytes",
]
