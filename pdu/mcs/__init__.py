"""MCS (T.125) PDUs of the RDP connection sequence.

- `pdu.mcs.connect`: Connect-Initial and Connect-Response, BER-encoded ([T125] section 7
  part 2 and sections 11.1, 11.2; MS-RDPBCGR 2.2.1.3 ``mcsCi`` and 2.2.1.4 ``mcsCrsp``), with
  the sizes a BER encoder chose kept in a `BerLayout` (`pdu.mcs._ber`).  Their ``userData``
  holds the GCC Conference Create Request / Response (`pdu.gcc`).
- `pdu.mcs.domain`: the aligned-PER DomainMCSPDUs that RDP uses ([T125] section 7 parts 3-7
  and 10): Erect Domain Request (MS-RDPBCGR 2.2.1.5), Attach User Request / Confirm (2.2.1.6,
  2.2.1.7), Channel Join Request / Confirm (2.2.1.8, 2.2.1.9), Send Data Request /
  Indication (every later slow-path PDU) and Disconnect Provider Ultimatum (2.2.2.3).
- `pdu.mcs.constants`: the T.125 values they share (Result, Reason, DataPriority,
  Segmentation, the user channel ids).

This package re-exports all of them, and `decode_mcs_pdu` tells the three kinds apart.  Each
decoder and encoder has a struct path for the usual input and takes ``engine=``
(`pdu._types.Engine`); with ``engine="construct"`` the construct definitions (for the BER
connect PDUs: the general BER reader and writer) run alone.
"""

from __future__ import annotations

# Besides __all__, the names the single module pdu/mcs.py had stay importable from here
# (re-exported with "as"): its BER tags and DomainMCSPDU choice numbers, and the pdu helpers
# it imported.
from rdplic.pdu._types import Engine
from rdplic.pdu._types import spec as spec
from rdplic.pdu.errors import PduError as PduError
from rdplic.pdu.errors import guarded as guarded
from rdplic.pdu.framing import build_checked as build_checked
from rdplic.pdu.framing import enum_or_int as enum_or_int
from rdplic.pdu.framing import need as need
from rdplic.pdu.framing import parse_exact as parse_exact
from rdplic.pdu.mcs._ber import TAG_BOOLEAN as TAG_BOOLEAN
from rdplic.pdu.mcs._ber import TAG_CONNECT_INITIAL as TAG_CONNECT_INITIAL
from rdplic.pdu.mcs._ber import TAG_CONNECT_RESPONSE as TAG_CONNECT_RESPONSE
from rdplic.pdu.mcs._ber import TAG_ENUMERATED as TAG_ENUMERATED
from rdplic.pdu.mcs._ber import TAG_INTEGER as TAG_INTEGER
from rdplic.pdu.mcs._ber import TAG_OCTET_STRING as TAG_OCTET_STRING
from rdplic.pdu.mcs._ber import TAG_SEQUENCE as TAG_SEQUENCE
from rdplic.pdu.mcs._ber import BerLayout
from rdplic.pdu.mcs.connect import (
    MAXIMUM_PARAMETERS,
    MINIMUM_PARAMETERS,
    TARGET_PARAMETERS,
    DomainParameters,
    McsConnectInitial,
    McsConnectResponse,
    decode_mcs_connect_initial,
    decode_mcs_connect_response,
    encode_mcs_connect_initial,
    encode_mcs_connect_response,
)
from rdplic.pdu.mcs.constants import (
    MCS_BASE_CHANNEL_ID,
    MCS_GLOBAL_CHANNEL,
    DataPriority,
    McsResult,
    Reason,
    Segmentation,
)
from rdplic.pdu.mcs.domain import CHOICE_ATTACH_USER_CONFIRM as CHOICE_ATTACH_USER_CONFIRM
from rdplic.pdu.mcs.domain import CHOICE_ATTACH_USER_REQUEST as CHOICE_ATTACH_USER_REQUEST
from rdplic.pdu.mcs.domain import CHOICE_CHANNEL_JOIN_CONFIRM as CHOICE_CHANNEL_JOIN_CONFIRM
from rdplic.pdu.mcs.domain import CHOICE_CHANNEL_JOIN_REQUEST as CHOICE_CHANNEL_JOIN_REQUEST
from rdplic.pdu.mcs.domain import (
    CHOICE_DISCONNECT_PROVIDER_ULTIMATUM as CHOICE_DISCONNECT_PROVIDER_ULTIMATUM,
)
from rdplic.pdu.mcs.domain import CHOICE_ERECT_DOMAIN_REQUEST as CHOICE_ERECT_DOMAIN_REQUEST
from rdplic.pdu.mcs.domain import CHOICE_SEND_DATA_INDICATION as CHOICE_SEND_DATA_INDICATION
from rdplic.pdu.mcs.domain import CHOICE_SEND_DATA_REQUEST as CHOICE_SEND_DATA_REQUEST
from rdplic.pdu.mcs.domain import (
    AttachUserConfirm,
    AttachUserRequest,
    ChannelJoinConfirm,
    ChannelJoinRequest,
    DisconnectProviderUltimatum,
    DomainMcsPdu,
    ErectDomainForm,
    ErectDomainRequest,
    SendDataIndication,
    SendDataRequest,
    decode_domain_pdu,
    encode_domain_pdu,
)

__all__ = [
    "MAXIMUM_PARAMETERS",
    "MCS_BASE_CHANNEL_ID",
    "MCS_GLOBAL_CHANNEL",
    "MINIMUM_PARAMETERS",
    "TARGET_PARAMETERS",
    "AttachUserConfirm",
    "AttachUserRequest",
    "BerLayout",
    "ChannelJoinConfirm",
    "ChannelJoinRequest",
    "DataPriority",
    "DisconnectProviderUltimatum",
    "DomainMcsPdu",
    "DomainParameters",
    "ErectDomainForm",
    "ErectDomainRequest",
    "McsConnectInitial",
    "McsConnectResponse",
    "McsResult",
    "Reason",
    "Segmentation",
    "SendDataIndication",
    "SendDataRequest",
    "decode_domain_pdu",
    "decode_mcs_connect_initial",
    "decode_mcs_connect_response",
    "decode_mcs_pdu",
    "encode_domain_pdu",
    "encode_mcs_connect_initial",
    "encode_mcs_connect_response",
]


def decode_mcs_pdu(
    data: bytes, *, engine: Engine = "struct"
) -> McsConnectInitial | McsConnectResponse | DomainMcsPdu:
    """Decode whichever MCS PDU an X.224 Data payload holds (by its first bytes)."""
    if data[:2] == TAG_CONNECT_INITIAL:
        return decode_mcs_connect_initial(data, engine=engine)
    if data[:2] == TAG_CONNECT_RESPONSE:
        return decode_mcs_connect_response(data, engine=engine)
    return decode_domain_pdu(data, engine=engine)
