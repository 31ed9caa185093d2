"""GCC Conference Create Request / Response and the RDP settings blocks they carry.

The ``userData`` of the MCS Connect-Initial / Connect-Response (`pdu.mcs`) is a T.124
ConnectData ([T124] sections 8.7, 9.5, 9.6; aligned PER) whose ConnectGCCPDU carries one
H.221 non-standard user data set: the concatenated RDP blocks of MS-RDPBCGR 2.2.1.3
(client: CS_CORE, CS_SECURITY, CS_NET, CS_CLUSTER, ...) and 2.2.1.4 (server: SC_CORE,
SC_SECURITY, SC_NET, ...).  Blocks of other types are kept as `UnknownBlock` (type, bytes).

- `pdu.gcc.conference`: the T.124 ConnectData, Conference Create Request / Response;
- `pdu.gcc.client`: the client blocks (2.2.1.3.2-2.2.1.3.5);
- `pdu.gcc.server`: the server blocks (2.2.1.4.2-2.2.1.4.4);
- `pdu.gcc.common`: what both share (TS_UD_HEADER types, RdpVersion, EncryptionMethod,
  UnknownBlock).

This package re-exports all of them.  Every decoder and encoder takes ``engine=``
(`pdu._types.Engine`): the fixed-size parts of the blocks have a struct path beside their
construct definitions, which run alone with ``engine="construct"``.
"""

from __future__ import annotations

# Besides __all__, the names the single module pdu/gcc.py had stay importable from here
# (re-exported with "as"): its T.124 constants, and the pdu helpers and types it imported.
from rdplic.pdu._types import Ansi as Ansi
from rdplic.pdu._types import Utf16 as Utf16
from rdplic.pdu._types import spec as spec
from rdplic.pdu.errors import PduError as PduError
from rdplic.pdu.errors import guarded as guarded
from rdplic.pdu.framing import OptionalField as OptionalField
from rdplic.pdu.framing import Protocol as Protocol
from rdplic.pdu.framing import build_checked as build_checked
from rdplic.pdu.framing import build_optional_tail as build_optional_tail
from rdplic.pdu.framing import enum_or_int as enum_or_int
from rdplic.pdu.framing import need as need
from rdplic.pdu.framing import parse_exact as parse_exact
from rdplic.pdu.framing import parse_optional_tail as parse_optional_tail
from rdplic.pdu.gcc.client import (
    ChannelDef,
    ChannelOption,
    ClientBlock,
    ClientClusterData,
    ClientCoreData,
    ClientNetworkData,
    ClientSecurityData,
    ClusterFlag,
    ColorDepth,
    ConnectionType,
    EarlyCapabilityFlag,
    HighColorDepth,
    SupportedColorDepth,
    decode_client_blocks,
    encode_client_blocks,
)
from rdplic.pdu.gcc.common import (
    EncryptionMethod,
    RdpVersion,
    UnknownBlock,
    UserDataType,
)
from rdplic.pdu.gcc.conference import T124_IDENTIFIER as T124_IDENTIFIER
from rdplic.pdu.gcc.conference import WINDOWS_NODE_ID as WINDOWS_NODE_ID
from rdplic.pdu.gcc.conference import (
    ConferenceCreateRequest,
    ConferenceCreateResponse,
    decode_conference_create_request,
    decode_conference_create_response,
    encode_conference_create_request,
    encode_conference_create_response,
)
from rdplic.pdu.gcc.server import (
    EncryptionLevel,
    ServerBlock,
    ServerCoreData,
    ServerEarlyCapabilityFlag,
    ServerNetworkData,
    ServerSecurityData,
    decode_server_blocks,
    encode_server_blocks,
)

__all__ = [
    "ChannelDef",
    "ChannelOption",
    "ClientBlock",
    "ClientClusterData",
    "ClientCoreData",
    "ClientNetworkData",
    "ClientSecurityData",
    "ClusterFlag",
    "ColorDepth",
    "ConferenceCreateRequest",
    "ConferenceCreateResponse",
    "ConnectionType",
    "EarlyCapabilityFlag",
    "EncryptionLevel",
    "EncryptionMethod",
    "HighColorDepth",
    "RdpVersion",
    "ServerBlock",
    "ServerCoreData",
    "ServerEarlyCapabilityFlag",
    "ServerNetworkData",
    "ServerSecurityData",
    "SupportedColorDepth",
    "UnknownBlock",
    "UserDataType",
    "decode_client_blocks",
    "decode_conference_create_request",
    "decode_conference_create_response",
    "decode_server_blocks",
    "encode_client_blocks",
    "encode_conference_create_request",
    "encode_conference_create_response",
    "encode_server_blocks",
]
