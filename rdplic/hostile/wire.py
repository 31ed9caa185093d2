"""Where the fields of a server licensing PDU sit in the bytes the adapter is about to send.

The hostile server mutates the wire bytes *after* the connection machine has built (and,
for the licensing blobs, encrypted) them, so it has to find the fields again: the TPKT
frame ([T123] 8), the X.224 Data TPDU, the MCS Send Data Indication ([T125] 11.33, PER
length), the basic security header with SEC_LICENSE_PKT (MS-RDPBCGR 2.2.8.1.1.2.1), the
licensing preamble (2.2.1.12.1.1) and the fields of each server message ([MS-RDPELE]
2.2.2.1, 2.2.2.4, 2.2.2.6, 2.2.2.7; MS-RDPBCGR 2.2.1.12.1.3).  `LicensingFrame` keeps the
frame's head and the licensing message apart; `LicensingFrame.rebuild` puts a (mutated)
message back with the framing lengths made consistent again, so that each profile's lie
is the only one the client sees.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from construct import Bytes, ConstructError, Int8ub, Int8ul, Int16ub, Int16ul, Int32ul, Struct

from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import TPKT_HEADER, frame_size

__all__ = [
    "BLOB_HEADER",
    "MSG_ERROR_ALERT",
    "MSG_LICENSE_REQUEST",
    "MSG_NEW_LICENSE",
    "MSG_PLATFORM_CHALLENGE",
    "MSG_UPGRADE_LICENSE",
    "PREAMBLE",
    "Field",
    "LicensingFrame",
    "fields",
    "split_frames",
]

MSG_LICENSE_REQUEST = 0x01
MSG_PLATFORM_CHALLENGE = 0x02
MSG_NEW_LICENSE = 0x03
MSG_UPGRADE_LICENSE = 0x04
MSG_ERROR_ALERT = 0xFF

SEC_ENCRYPT = 0x0008
SEC_LICENSE_PKT = 0x0080
MCS_SEND_DATA_INDICATION = 0x68  # DomainMCSPDU choice 26, shifted left by 2 (PER)

X224_DATA = Struct("li" / Int8ub, "code" / Int8ub, "eot" / Int8ub)
"""X.224 Data TPDU header ([X224] 13.7): 02 F0 80."""

MCS_SDI_HEAD = Struct(
    "choice" / Int8ub,
    "initiator" / Int16ub,
    "channel_id" / Int16ub,
    "priority" / Int8ub,
)
"""Send Data Indication up to its userData's PER length ([T125] 11.33)."""

SECURITY_HEADER = Struct("flags" / Int16ul, "flags_hi" / Int16ul)
"""TS_SECURITY_HEADER (MS-RDPBCGR 2.2.8.1.1.2.1)."""

PREAMBLE = Struct("bMsgType" / Int8ul, "flags" / Int8ul, "wMsgSize" / Int16ul)
"""LICENSE_PREAMBLE (MS-RDPBCGR 2.2.1.12.1.1)."""

BLOB_HEADER = Struct("wBlobType" / Int16ul, "wBlobLen" / Int16ul)
"""LICENSE_BINARY_BLOB's header (MS-RDPBCGR 2.2.1.12.1.2)."""

U32 = Int32ul
MAC_SIZE = 16
RANDOM_SIZE = 32


def split_frames(data: bytes) -> list[bytes]:
    """The frames of one write (the machine may hand several PDUs at once); a tail that is
    not a whole frame stays one piece, untouched."""
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        try:
            size = frame_size(data[at:])
        except PduError:  # not ours to judge: pass it through
            size = None
        if size is None or at + size > len(data):
            frames.append(data[at:])
            break
        frames.append(data[at : at + size])
        at += size
    return frames


@dataclasses.dataclass(frozen=True, slots=True)
class LicensingFrame:
    """One TPKT frame carrying a server licensing PDU, split at the licensing preamble."""

    mcs_head: bytes
    """X.224 header and Send Data Indication up to (not including) its PER length."""
    security: bytes
    """The 4-byte basic security header."""
    message: bytes
    """The licensing preamble and message body as the machine built them."""

    @property
    def msg_type(self) -> int:
        return self.message[0]

    @classmethod
    def parse(cls, frame: bytes) -> LicensingFrame | None:
        """The licensing PDU in ``frame``, or None for any other frame (and for a licensing
        PDU under SEC_ENCRYPT, whose fields the adapter cannot see)."""
        try:
            TPKT_HEADER.parse(frame[:4])
            x224 = X224_DATA.parse(frame[4:7])
            if (x224.li, x224.code) != (2, 0xF0):
                return None
            head = MCS_SDI_HEAD.parse(frame[7:13])
            if head.choice != MCS_SEND_DATA_INDICATION:
                return None
            length = frame[13]
            at = 14
            if length & 0x80:
                length = ((length & 0x3F) << 8) | frame[14]
                at = 15
            user_data = frame[at : at + length]
            security = SECURITY_HEADER.parse(user_data[:4])
        except (ConstructError, IndexError):  # a frame too short for these headers
            return None
        if not security.flags & SEC_LICENSE_PKT or security.flags & SEC_ENCRYPT:
            return None
        if len(user_data) < 8:
            return None
        return cls(frame[4:13], user_data[:4], user_data[4:])

    def rebuild(self, message: bytes) -> bytes:
        """The frame with ``message`` in place of the licensing PDU: the PER and TPKT lengths
        recomputed (the long PER form always, a legal encoding of any length)."""
        user_data = self.security + message
        per = Bytes(2).build(bytes([0x80 | (len(user_data) >> 8), len(user_data) & 0xFF]))
        body = self.mcs_head + per + user_data
        header = TPKT_HEADER.build({"reserved": 0, "length": 4 + len(body)})
        return header + body


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One field of a licensing message: what it is, where (offset in the message, from the
    preamble), how wide, and what it holds."""

    kind: str
    """"blob" (offset of its 4-byte header), "count", "cb" (a byte count),
    "mac", "certificate" (offset of the blob's data)."""
    name: str
    offset: int
    size: int
    value: int = 0


def _blob(message: bytes, at: int, name: str, out: list[Field]) -> int:
    header: Any = BLOB_HEADER.parse(message[at : at + 4])
    out.append(Field("blob", name, at, header.wBlobLen, header.wBlobType))
    return at + 4 + int(header.wBlobLen)


def fields(message: bytes) -> list[Field]:
    """The mutable fields of a server licensing message, in order; as many as parse (a
    message the machine built always parses whole)."""
    out: list[Field] = []
    kind = message[0]
    at = 4
    try:
        if kind == MSG_LICENSE_REQUEST:
            at += RANDOM_SIZE + 4  # ServerRandom, ProductInfo.dwVersion
            for name in ("cbCompanyName", "cbProductId"):
                cb = U32.parse(message[at : at + 4])
                out.append(Field("cb", name, at, 4, cb))
                at += 4 + cb
            at = _blob(message, at, "KeyExchangeList", out)
            certificate_at = at + 4
            at = _blob(message, at, "ServerCertificate", out)
            if at > certificate_at:
                out.append(
                    Field("certificate", "ServerCertificate", certificate_at, at - certificate_at)
                )
            count = U32.parse(message[at : at + 4])
            out.append(Field("count", "ScopeCount", at, 4, count))
            at += 4
            for index in range(min(count, 64)):
                at = _blob(message, at, f"Scope[{index}]", out)
        elif kind == MSG_PLATFORM_CHALLENGE:
            at = _blob(message, at + 4, "EncryptedPlatformChallenge", out)
            out.append(Field("mac", "MACData", at, MAC_SIZE))
        elif kind in (MSG_NEW_LICENSE, MSG_UPGRADE_LICENSE):
            at = _blob(message, at, "EncryptedLicenseInfo", out)
            out.append(Field("mac", "MACData", at, MAC_SIZE))
        elif kind == MSG_ERROR_ALERT:
            _blob(message, at + 8, "bbErrorInfo", out)
    except ConstructError:  # fields past the end: what parsed is enough
        pass
    return out
