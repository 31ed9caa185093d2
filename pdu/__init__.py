"""Wire formats of the RDP licensing exchange: construct definitions behind typed entry points.

`pdu` imports only construct and the standard library (architecture
invariant 1).  Every decoder returns frozen dataclasses or raises `PduError`;
every encoder derives lengths and counts, and encode(decode(b)) == b.

The modules and packages, outermost layer first: `pdu.framing` (TPKT, X.224,
RDP's Fast-Path frames, `frame_size`), `pdu.mcs` (T.125 MCS), `pdu.gcc` (T.124
GCC and the MS-RDPBCGR data blocks), `pdu.rdp` (security headers, Client Info
and other RDP PDUs), `pdu.certificates` (server certificates) and
`pdu.licensing` (MS-RDPELE).  This package re-exports their decode/encode entry
points.

Where a wire format has a `struct` shortcut beside its construct definition (the
"struct path", for speed; unrelated to RDP's Fast-Path PDUs), its decoder and
encoder take ``engine=``: an `Engine`, "struct" (the default) or "construct"
(the definition only), which tests and fuzzers compare.
"""

from __future__ import annotations

from rdplic.pdu._types import ENGINES, Engine
from rdplic.pdu.certificates import (
    decode_server_certificate,
    encode_server_certificate,
)
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    decode_fast_path,
    decode_tpkt,
    decode_x224,
    encode_fast_path,
    encode_tpkt,
    encode_x224,
    frame_size,
)
from rdplic.pdu.gcc import (
    decode_client_blocks,
    decode_conference_create_request,
    decode_conference_create_response,
    decode_server_blocks,
    encode_client_blocks,
    encode_conference_create_request,
    encode_conference_create_response,
    encode_server_blocks,
)
from rdplic.pdu.licensing import (
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
from rdplic.pdu.mcs import (
    decode_domain_pdu,
    decode_mcs_connect_initial,
    decode_mcs_connect_response,
    decode_mcs_pdu,
    encode_domain_pdu,
    encode_mcs_connect_initial,
    encode_mcs_connect_response,
)
from rdplic.pdu.rdp import (
    decode_client_info,
    decode_demand_active,
    decode_security_exchange,
    decode_security_header,
    decode_set_error_info,
    decode_share_control_header,
    encode_client_info,
    encode_demand_active,
    encode_security_exchange,
    encode_security_header,
    encode_set_error_info,
    encode_share_control_header,
)

__all__ = [
    "ENGINES",
    "Engine",
    "LicensingPdu",
    "PduError",
    "decode_client_blocks",
    "decode_client_hardware_id",
    "decode_client_info",
    "decode_conference_create_request",
    "decode_conference_create_response",
    "decode_demand_active",
    "decode_domain_pdu",
    "decode_fast_path",
    "decode_licensing_pdu",
    "decode_mcs_connect_initial",
    "decode_mcs_connect_response",
    "decode_mcs_pdu",
    "decode_new_license_info",
    "decode_platform_challenge_response_data",
    "decode_security_exchange",
    "decode_security_header",
    "decode_server_blocks",
    "decode_server_certificate",
    "decode_set_error_info",
    "decode_share_control_header",
    "decode_tpkt",
    "decode_x224",
    "encode_client_blocks",
    "encode_client_hardware_id",
    "encode_client_info",
    "encode_conference_create_request",
    "encode_conference_create_response",
    "encode_demand_active",
    "encode_domain_pdu",
    "encode_fast_path",
    "encode_licensing_pdu",
    "encode_mcs_connect_initial",
    "encode_mcs_connect_response",
    "encode_new_license_info",
    "encode_platform_challenge_response_data",
    "encode_security_exchange",
    "encode_security_header",
    "encode_server_blocks",
    "encode_server_certificate",
    "encode_set_error_info",
    "encode_share_control_header",
    "encode_tpkt",
    "encode_x224",
    "frame_size",
]
