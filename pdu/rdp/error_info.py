"""The Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1 TS_SET_ERROR_INFO_PDU) and its ERRINFO_* codes:
a share data PDU (`pdu.rdp.share`) whose body is errorInfo.
"""

from __future__ import annotations

import enum

from rdplic.pdu._types import Engine, pdu_dataclass, spec
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import enum_or_int, need
from rdplic.pdu.rdp.share import (
    TS_PROTOCOL_VERSION,
    PduType2,
    ShareDataPdu,
    StreamId,
    decode_share_data_pdu,
    encode_share_data_pdu,
)

__all__ = [
    "ErrorInfo",
    "SetErrorInfo",
    "decode_set_error_info",
    "encode_set_error_info",
]


class ErrorInfo(enum.IntEnum):
    """errorInfo of the Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1): the licensing codes
    0x100-0x10A that a license server's refusals map to, and the common others."""

    ERRINFO_NONE = 0x00000000
    ERRINFO_RPC_INITIATED_DISCONNECT = 0x00000001
    ERRINFO_RPC_INITIATED_LOGOFF = 0x00000002
    ERRINFO_IDLE_TIMEOUT = 0x00000003
    ERRINFO_LOGON_TIMEOUT = 0x00000004
    ERRINFO_DISCONNECTED_BY_OTHERCONNECTION = 0x00000005
    ERRINFO_OUT_OF_MEMORY = 0x00000006
    ERRINFO_SERVER_DENIED_CONNECTION = 0x00000007
    ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES = 0x00000009
    ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED = 0x0000000A
    ERRINFO_RPC_INITIATED_DISCONNECT_BYUSER = 0x0000000B
    ERRINFO_LOGOFF_BY_USER = 0x0000000C
    ERRINFO_LICENSE_INTERNAL = 0x00000100
    ERRINFO_LICENSE_NO_LICENSE_SERVER = 0x00000101
    ERRINFO_LICENSE_NO_LICENSE = 0x00000102
    ERRINFO_LICENSE_BAD_CLIENT_MSG = 0x00000103
    ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE = 0x00000104
    ERRINFO_LICENSE_BAD_CLIENT_LICENSE = 0x00000105
    ERRINFO_LICENSE_CANT_FINISH_PROTOCOL = 0x00000106
    ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL = 0x00000107
    ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION = 0x00000108
    ERRINFO_LICENSE_CANT_UPGRADE_LICENSE = 0x00000109
    ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS = 0x0000010A
    ERRINFO_UNKNOWNPDUTYPE2 = 0x000010C9
    ERRINFO_UNKNOWNPDUTYPE = 0x000010CA
    ERRINFO_DATAPDUSEQUENCE = 0x000010CB
    ERRINFO_CONTROLPDUSEQUENCE = 0x000010CD
    ERRINFO_INVALIDCONTROLPDUACTION = 0x000010CE
    ERRINFO_INVALIDINPUTPDUTYPE = 0x000010CF
    ERRINFO_INVALIDINPUTPDUMOUSE = 0x000010D0
    ERRINFO_INVALIDREFRESHRECTPDU = 0x000010D1
    ERRINFO_CREATEUSERDATAFAILED = 0x000010D2
    ERRINFO_CONNECTFAILED = 0x000010D3
    ERRINFO_CONFIRMACTIVEWRONGSHAREID = 0x000010D4
    ERRINFO_CONFIRMACTIVEWRONGORIGINATOR = 0x000010D5
    ERRINFO_SECURITYDATATOOSHORT = 0x000010E0
    ERRINFO_DECRYPTFAILED = 0x00001192
    ERRINFO_ENCRYPTFAILED = 0x00001193
    ERRINFO_ENCPKGMISMATCH = 0x00001194
    ERRINFO_DECRYPTFAILED2 = 0x00001195


@pdu_dataclass
class SetErrorInfo:
    """TS_SET_ERROR_INFO_PDU (MS-RDPBCGR 2.2.5.1.1) with its share headers.

    Sent by the server before it disconnects; ``pdu_source`` is the server channel (1002).
    ``uncompressed_length`` is None when it is 8 (the value the spec examples use).  On the
    wire it is a `ShareDataPdu` of pduType2 PDUTYPE2_SET_ERROR_INFO_PDU whose data is errorInfo.
    """

    error_info: ErrorInfo | int = spec("errorInfo")
    pdu_source: int = spec("pduSource", default=1002)
    share_id: int = spec("shareId", default=0)
    stream_id: StreamId | int = spec("streamId", default=StreamId.STREAM_LOW)
    pad1: int = spec("pad1", default=0)
    compressed_type: int = spec("compressedType", default=0)
    compressed_length: int = spec("compressedLength", default=0)
    version: int = spec("pduType.version", default=TS_PROTOCOL_VERSION)
    uncompressed_length: int | None = spec("uncompressedLength", default=None)


def decode_set_error_info(data: bytes) -> SetErrorInfo:
    """Decode a Set Error Info PDU data (after its security header, if any)."""
    name = "TS_SET_ERROR_INFO_PDU"
    pdu = decode_share_data_pdu(data)
    if pdu.pdu_type2 != PduType2.PDUTYPE2_SET_ERROR_INFO_PDU:
        raise PduError(name, "pduType2 is not PDUTYPE2_SET_ERROR_INFO_PDU", field="pduType2")
    if len(pdu.data) != 4:
        raise PduError(name, f"errorInfo is 4 bytes, not {len(pdu.data)}", field="errorInfo")
    return SetErrorInfo(
        enum_or_int(ErrorInfo, int.from_bytes(pdu.data, "little")),
        pdu.pdu_source,
        pdu.share_id,
        pdu.stream_id,
        pdu.pad1,
        pdu.compressed_type,
        pdu.compressed_length,
        pdu.version,
        pdu.uncompressed_length,
    )


def encode_set_error_info(pdu: SetErrorInfo, *, engine: Engine = "struct") -> bytes:
    """Encode a Set Error Info PDU data (without security header)."""
    name = "TS_SET_ERROR_INFO_PDU"
    error_info = pdu.error_info
    in_range = isinstance(error_info, int) and 0 <= error_info <= 0xFFFFFFFF
    need(name, in_range, "errorInfo is not 32 bits", field="errorInfo")
    return encode_share_data_pdu(
        ShareDataPdu(
            PduType2.PDUTYPE2_SET_ERROR_INFO_PDU,
            int(error_info).to_bytes(4, "little"),
            pdu.share_id,
            pdu.pdu_source,
            pdu.stream_id,
            pdu.pad1,
            pdu.compressed_type,
            pdu.compressed_length,
            pdu.version,
            pdu.uncompressed_length,
        ),
        engine=engine,
    )
