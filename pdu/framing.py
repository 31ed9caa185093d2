"""TPKT, X.224 and fast-path framing: the outermost layers of every RDP frame.

- TPKT header, [T123] section 8 (MS-RDPBCGR 2.2.1.1 ``tpktHeader``).
- X.224 class 0 TPDUs, [X224] sections 13.3, 13.4, 13.5, 13.7: Connection Request with the
  routing token or ``Cookie: mstshash=`` line, RDP_NEG_REQ and RDP_NEG_CORRELATION_INFO
  (MS-RDPBCGR 2.2.1.1), Connection Confirm with RDP_NEG_RSP or RDP_NEG_FAILURE (2.2.1.2),
  Disconnect Request, and the Data TPDU that carries every later PDU.
- The fast-path header of TS_FP_INPUT_PDU / TS_FP_UPDATE_PDU (2.2.8.1.2, 2.2.9.1.2).
- `frame_size`, which tells the transport whether a whole frame has arrived before anything
  is decoded (architecture invariant 3: a decode error always means "malformed").

TPKT and X.224 are on the path of every licensing frame, so their decoders and encoders have a
struct path (precompiled `struct` formats) for the usual input: construct costs about 4
microseconds per header even compiled, which alone would exceed the budget of a whole licensing
frame.  The construct definitions (`_TPKT`, `X224_DATA_HEADER`, `_X224_CONNECT`, `_NEG`,
`_CORRELATION_INFO`) stay the reference: the struct path declines anything unusual, the
definition then decodes it or reports the failing field, and ``engine="construct"`` runs the
definitions alone (the tests compare both engines).  RDP's own Fast-Path frames
(`decode_fast_path`, `encode_fast_path`) have no construct definition and no engine switch:
their two- or three-byte header is read and written by hand.
"""

from __future__ import annotations

import enum
import io
import struct
from typing import Any, TypeVar

import construct
from construct import (
    Bytes,
    Const,
    Construct,
    Int8ub,
    Int8ul,
    Int16ub,
    Int16ul,
    Int32ul,
    Struct,
    this,
)

from rdplic.pdu._types import Ansi, Engine, check_engine, fits_uint, pdu_dataclass, spec
from rdplic.pdu.errors import PduError, guarded

__all__ = [
    "MAX_FRAME_SIZE",
    "TPKT_HEADER",
    "X224_DATA_HEADER",
    "FastPathFlag",
    "FastPathPdu",
    "NegotiationFailureCode",
    "NegotiationRequestFlag",
    "NegotiationResponseFlag",
    "Protocol",
    "RdpCorrelationInfo",
    "RdpNegotiationFailure",
    "RdpNegotiationRequest",
    "RdpNegotiationResponse",
    "Tpkt",
    "X224ConnectionConfirm",
    "X224ConnectionRequest",
    "X224Data",
    "X224DisconnectRequest",
    "X224Tpdu",
    "decode_fast_path",
    "decode_tpkt",
    "decode_x224",
    "encode_fast_path",
    "encode_tpkt",
    "encode_x224",
    "frame_size",
    "tpkt_data_frame",
    "tpkt_payload",
]

E = TypeVar("E", bound=enum.IntEnum)

MAX_FRAME_SIZE = 0xFFFF
"""Largest frame `frame_size` accepts, in bytes.

The TPKT length field is 16 bits, so no TPKT frame can be longer than 65535 bytes, and a
fast-path length (15 bits) stays below 32768.  The largest licensing PDU seen anywhere (the
MS-RDPELE 4.7 New License example) is 0x1B99 bytes, about 7 KB; a transport that only expects
connection-sequence and licensing traffic may pass a smaller ``max_size`` to `frame_size` to
bound what one peer can make it buffer.
"""

TPKT_MIN_SIZE = 7
"""A TPKT header (4 bytes) followed by the shortest X.224 TPDU (a 3-byte Data header)."""

TPKT_VERSION = 3


# --------------------------------------------------------------------------------------------
# Shared helpers for the decoders of pdu/framing, pdu/mcs, pdu/gcc and pdu/rdp (not exported).


def parse_exact(structure: str, con: Construct[Any, Any], data: bytes) -> Any:
    """Parse ``data`` with ``con``; `PduError` unless every byte is consumed."""

    def run(stream: io.BytesIO) -> Any:
        value = con.parse_stream(stream)
        end = stream.tell()
        if end != len(data):
            raise PduError(structure, f"{len(data) - end} trailing bytes", offset=end)
        return value

    return guarded(structure, data, run)


def build_checked(structure: str, con: Construct[Any, Any], value: Any, **params: Any) -> bytes:
    """Build ``value`` with ``con`` (``params``: construct's context parameters), turning every
    failure into `PduError`."""
    try:
        return con.build(value, **params)
    except PduError:
        raise
    except construct.ConstructError as error:
        reason = str(error).splitlines()[-1] if str(error) else type(error).__name__
        raise PduError(structure, f"cannot encode: {reason}") from None
    except (ValueError, TypeError, OverflowError, struct.error, AttributeError) as error:
        raise PduError(structure, f"cannot encode: {error}") from None


def enum_or_int(enum_type: type[E], value: int) -> E | int:
    """``enum_type(value)`` when the value is known, else the plain int (never fails)."""
    try:
        return enum_type(value)
    except ValueError:
        return value


def need(structure: str, condition: bool, reason: str, *, field: str = "") -> None:
    """Raise `PduError` (an encoding precondition failed) unless ``condition``."""
    if not condition:
        raise PduError(structure, reason, field=field)


OptionalField = tuple[str, "Construct[Any, Any]"]
"""An optional trailing field: (attribute name, fixed-size or length-prefixed construct)."""


def _minimum_size(con: Construct[Any, Any]) -> int:
    """Bytes an optional field needs to be present: its size, or its length prefix."""
    if isinstance(con, construct.Prefixed):
        return int(con.lengthfield.sizeof())
    return int(con.sizeof())


def parse_optional_tail(
    structure: str, data: bytes, fields: tuple[OptionalField, ...]
) -> tuple[dict[str, Any], bytes]:
    """Parse the optional trailing fields a shorter structure may leave out.

    MS-RDPBCGR lets a sender stop after any optional field (CS_CORE 2.2.1.3.2, SC_CORE
    2.2.1.4.2, TS_EXTENDED_INFO_PACKET 2.2.1.11.1.1.1).  Each field is read while the bytes
    left can hold it (for a length-prefixed field: its prefix; the length must then fit); the
    bytes left over (too few for the next field, or beyond the last known one) are returned so
    that re-encoding stays byte-exact.
    """
    values: dict[str, Any] = {}

    def run(stream: io.BytesIO) -> bytes:
        for name, con in fields:
            if len(data) - stream.tell() < _minimum_size(con):
                break
            values[name] = con.parse_stream(stream)
        return data[stream.tell() :]

    trailing = guarded(structure, data, run)
    return values, trailing


def build_optional_tail(
    structure: str, obj: Any, fields: tuple[OptionalField, ...], trailing: bytes
) -> bytes:
    """Build the optional trailing fields of ``obj`` (None = absent) and its trailing bytes.

    A field may only be present if every field before it is, and trailing bytes may not be
    long enough to be read back as the first absent field: otherwise decoding the result
    would not give ``obj`` back.
    """
    out = []
    absent: tuple[str, int] | None = None
    for name, con in fields:
        value = getattr(obj, name)
        if value is None:
            if absent is None:
                absent = (name, _minimum_size(con))
            continue
        if absent is not None:
            raise PduError(structure, f"{name} is present but {absent[0]} is not", field=name)
        out.append(build_checked(structure, con, value))
    if absent is not None and len(trailing) >= absent[1]:
        raise PduError(structure, f"trailing bytes would be read as {absent[0]}", field="trailing")
    return b"".join(out) + trailing


# --------------------------------------------------------------------------------------------
# frame_size


def frame_size(buf: bytes | bytearray | memoryview, max_size: int = MAX_FRAME_SIZE) -> int | None:
    """Length of the frame at the start of ``buf``, or None while its header is incomplete.

    A frame starts either with a TPKT header (first byte 0x03, [T123] section 8; the length is
    big-endian in bytes 2-3 and counts the header) or with a fast-path header (the two low bits
    of the first byte are FASTPATH_INPUT_ACTION_FASTPATH / FASTPATH_OUTPUT_ACTION_FASTPATH = 0;
    MS-RDPBCGR 2.2.8.1.2 and 2.2.9.1.2: ``length1``, and when its top bit is set ``length2``,
    give a 15-bit length that counts the header).  Raises `PduError` for a header no peer can
    legally send: an action of 1 or 2, a TPKT version other than 3, a TPKT length below 7, a
    fast-path length shorter than its own header, or a length above ``max_size``.
    """
    if not buf:
        return None
    first = buf[0]
    if first == TPKT_VERSION:
        if len(buf) < 4:
            return None
        length = (buf[2] << 8) | buf[3]
        if length < TPKT_MIN_SIZE:
            raise PduError("TPKT", f"length {length} is below {TPKT_MIN_SIZE}", field="length")
        if length > max_size:
            raise PduError("TPKT", f"length {length} exceeds {max_size}", field="length")
        return length
    if first & 0x03 == 0:
        if len(buf) < 2:
            return None
        length1 = buf[1]
        if length1 & 0x80:
            if len(buf) < 3:
                return None
            length = ((length1 & 0x7F) << 8) | buf[2]
            header = 3
        else:
            length = length1
            header = 2
        if length < header:
            raise PduError(
                "TS_FP_PDU", f"length {length} is shorter than its header", field="length1"
            )
        if length > max_size:
            raise PduError("TS_FP_PDU", f"length {length} exceeds {max_size}", field="length1")
        return length
    if first & 0x03 == 0x03:
        raise PduError("TPKT", f"version {first} is not 3", field="version", offset=0)
    raise PduError("frame", f"first byte 0x{first:02x} is neither TPKT nor fast-path", offset=0)


# --------------------------------------------------------------------------------------------
# TPKT

TPKT_HEADER = Struct(
    "version" / Const(TPKT_VERSION, Int8ub),
    "reserved" / Int8ub,
    "length" / Int16ub,
)
"""[T123] section 8: version 3, reserved, big-endian length of the whole frame."""

_TPKT = Struct(
    "version" / Const(TPKT_VERSION, Int8ub),
    "reserved" / Int8ub,
    "length" / construct.Rebuild(Int16ub, construct.len_(this.payload) + 4),
    construct.Check(this.length >= TPKT_MIN_SIZE),
    "payload" / Bytes(this.length - 4),
)

_TPKT_STRUCT = struct.Struct(">BBH")
"""`_TPKT` without its payload, for the struct path."""


@pdu_dataclass
class Tpkt:
    """A TPKT frame ([T123] section 8); the length is derived from the payload."""

    payload: bytes = spec("payload")
    reserved: int = spec("reserved", default=0)


def decode_tpkt(data: bytes, *, engine: Engine = "struct") -> Tpkt:
    """Decode one whole TPKT frame (as delimited by `frame_size`)."""
    if engine == "struct":
        if len(data) >= 4:
            version, reserved, length = _TPKT_STRUCT.unpack_from(data)
            if version == TPKT_VERSION and length == len(data) and length >= TPKT_MIN_SIZE:
                return Tpkt(data[4:], reserved)
    else:
        check_engine(engine)
    parsed = parse_exact("TPKT", _TPKT, data)
    return Tpkt(parsed.payload, parsed.reserved)


def tpkt_payload(data: bytes, *, engine: Engine = "struct") -> bytes:
    """``decode_tpkt(data).payload`` without the `Tpkt` object."""
    if engine == "struct" and len(data) >= 4:
        version, _, length = _TPKT_STRUCT.unpack_from(data)
        if version == TPKT_VERSION and length == len(data) and length >= TPKT_MIN_SIZE:
            return data[4:]
    return decode_tpkt(data, engine=engine).payload


def encode_tpkt(tpkt: Tpkt, *, engine: Engine = "struct") -> bytes:
    """Encode a TPKT frame."""
    length = len(tpkt.payload) + 4
    need("TPKT", 0 <= tpkt.reserved <= 0xFF, "reserved is not a byte", field="reserved")
    need("TPKT", TPKT_MIN_SIZE <= length <= 0xFFFF, f"length {length} out of range", field="length")
    if engine != "struct":
        check_engine(engine)
    elif fits_uint(tpkt.reserved, 0xFF) and isinstance(
        tpkt.payload, bytes | bytearray | memoryview
    ):
        return _TPKT_STRUCT.pack(TPKT_VERSION, tpkt.reserved, length) + tpkt.payload
    return build_checked("TPKT", _TPKT, {"reserved": tpkt.reserved, "payload": tpkt.payload})


# --------------------------------------------------------------------------------------------
# RDP negotiation structures (MS-RDPBCGR 2.2.1.1.1, 2.2.1.1.2, 2.2.1.2.1, 2.2.1.2.2)


class Protocol(enum.IntFlag):
    """Security protocols of requestedProtocols / selectedProtocol (MS-RDPBCGR 2.2.1.1.1)."""

    PROTOCOL_RDP = 0x00000000
    PROTOCOL_SSL = 0x00000001
    PROTOCOL_HYBRID = 0x00000002
    PROTOCOL_RDSTLS = 0x00000004
    PROTOCOL_HYBRID_EX = 0x00000008
    PROTOCOL_RDSAAD = 0x00000010


class NegotiationRequestFlag(enum.IntFlag):
    """RDP_NEG_REQ flags (MS-RDPBCGR 2.2.1.1.1)."""

    RESTRICTED_ADMIN_MODE_REQUIRED = 0x01
    REDIRECTED_AUTHENTICATION_MODE_REQUIRED = 0x02
    CORRELATION_INFO_PRESENT = 0x08


class NegotiationResponseFlag(enum.IntFlag):
    """RDP_NEG_RSP flags (MS-RDPBCGR 2.2.1.2.1)."""

    EXTENDED_CLIENT_DATA_SUPPORTED = 0x01
    DYNVC_GFX_PROTOCOL_SUPPORTED = 0x02
    NEGRSP_FLAG_RESERVED = 0x04
    RESTRICTED_ADMIN_MODE_SUPPORTED = 0x08
    REDIRECTED_AUTHENTICATION_MODE_SUPPORTED = 0x10


class NegotiationFailureCode(enum.IntEnum):
    """RDP_NEG_FAILURE failureCode (MS-RDPBCGR 2.2.1.2.2)."""

    SSL_REQUIRED_BY_SERVER = 0x00000001
    SSL_NOT_ALLOWED_BY_SERVER = 0x00000002
    SSL_CERT_NOT_ON_SERVER = 0x00000003
    INCONSISTENT_FLAGS = 0x00000004
    HYBRID_REQUIRED_BY_SERVER = 0x00000005
    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER = 0x00000006


TYPE_RDP_NEG_REQ = 0x01
TYPE_RDP_NEG_RSP = 0x02
TYPE_RDP_NEG_FAILURE = 0x03
TYPE_RDP_CORRELATION_INFO = 0x06

_NEG = Struct(
    "type" / Int8ul,
    "flags" / Int8ul,
    "length" / Const(8, Int16ul),
    "value" / Int32ul,
)
_CORRELATION_INFO = Struct(
    "type" / Const(TYPE_RDP_CORRELATION_INFO, Int8ul),
    "flags" / Int8ul,
    "length" / Const(36, Int16ul),
    "correlationId" / Bytes(16),
    "reserved" / Bytes(16),
)


@pdu_dataclass
class RdpNegotiationRequest:
    """RDP_NEG_REQ (MS-RDPBCGR 2.2.1.1.1)."""

    requested_protocols: Protocol = spec("requestedProtocols")
    flags: NegotiationRequestFlag = spec("flags", default=NegotiationRequestFlag(0))


@pdu_dataclass
class RdpCorrelationInfo:
    """RDP_NEG_CORRELATION_INFO (MS-RDPBCGR 2.2.1.1.2); reserved is kept as sent (16 zeros)."""

    correlation_id: bytes = spec("correlationId")
    flags: int = spec("flags", default=0)
    reserved: bytes = spec("reserved", default=bytes(16))


@pdu_dataclass
class RdpNegotiationResponse:
    """RDP_NEG_RSP (MS-RDPBCGR 2.2.1.2.1)."""

    selected_protocol: Protocol = spec("selectedProtocol")
    flags: NegotiationResponseFlag = spec("flags", default=NegotiationResponseFlag(0))


@pdu_dataclass
class RdpNegotiationFailure:
    """RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2); an unknown failureCode stays an int."""

    failure_code: NegotiationFailureCode | int = spec("failureCode")
    flags: int = spec("flags", default=0)


# --------------------------------------------------------------------------------------------
# X.224 TPDUs

X224_CR = 0xE0
X224_CC = 0xD0
X224_DR = 0x80
X224_DT = 0xF0

X224_DATA_HEADER = Struct(
    "length" / Const(2, Int8ub),
    "code" / Const(X224_DT, Int8ub),
    "eot" / construct.OneOf(Int8ub, [0x80, 0x00]),
)
"""[X224] 13.7 Data TPDU header, class 0: LI = 2, DT code 0xF0, EOT bit (TPDU-NR 0)."""

_X224_CONNECT = Struct(
    "length" / Int8ub,
    "code" / Int8ub,
    "dstRef" / Int16ub,
    "srcRef" / Int16ub,
    "classOption" / Int8ub,
    "variable" / Bytes(this.length - 6),
)
_X224_DATA_STRUCT = b"\x02\xf0\x80"
"""`X224_DATA_HEADER` with EOT set, for the struct path."""
_X224_CONNECT_STRUCT = struct.Struct(">BBHHB")
"""`_X224_CONNECT` without its variable part, for the struct path."""
_NEG_STRUCT = struct.Struct("<BBHI")
"""`_NEG`, for the struct path."""


def _neg_struct(data: bytes) -> tuple[int, int, int] | None:
    """(type, flags, value) of a well-formed 8-byte negotiation structure, else None."""
    if len(data) == 8 and data[2:4] == b"\x08\x00":
        kind, flags, _, value = _NEG_STRUCT.unpack(data)
        return kind, flags, value
    return None


def _parse_neg(structure: str, data: bytes, engine: Engine) -> tuple[int, int, int]:
    """(type, flags, value) of an 8-byte negotiation structure; construct reports errors."""
    if engine == "struct":
        values = _neg_struct(data)
        if values is not None:
            return values
    neg = parse_exact(structure, _NEG, data)
    return neg.type, neg.flags, neg.value


def _neg_bytes_struct(kind: int, flags: int, value: int) -> bytes | None:
    """`_NEG` written with `struct`, or None when a value does not fit (construct decides)."""
    if fits_uint(kind, 0xFF) and fits_uint(flags, 0xFF) and fits_uint(value, 0xFFFFFFFF):
        return _NEG_STRUCT.pack(kind, flags, 8, value)
    return None


def _build_neg(structure: str, kind: int, flags: int, value: int, engine: Engine) -> bytes:
    """An 8-byte negotiation structure; construct reports values that do not fit."""
    if engine == "struct":
        packed = _neg_bytes_struct(kind, flags, value)
        if packed is not None:
            return packed
    return build_checked(structure, _NEG, {"type": kind, "flags": flags, "value": value})


def _connect_head_struct(data: bytes) -> Any:
    """`_X224_CONNECT` read with `struct` when the length indicator fits ``data``, else None."""
    if not data or data[0] < 6 or data[0] + 1 != len(data):
        return None
    length, code, dst_ref, src_ref, class_option = _X224_CONNECT_STRUCT.unpack_from(data)
    return construct.Container(
        length=length,
        code=code,
        dstRef=dst_ref,
        srcRef=src_ref,
        classOption=class_option,
        variable=data[7:],
    )


def _connect_bytes_struct(
    code: int, dst_ref: int, src_ref: int, class_option: int, variable: bytes
) -> bytes | None:
    """`_X224_CONNECT` written with `struct`, or None when a value does not fit (construct
    decides)."""
    if not (
        type(variable) is bytes
        and len(variable) + 6 <= 0xFF
        and fits_uint(code, 0xFF)
        and fits_uint(dst_ref, 0xFFFF)
        and fits_uint(src_ref, 0xFFFF)
        and fits_uint(class_option, 0xFF)
    ):
        return None
    fixed = _X224_CONNECT_STRUCT.pack(len(variable) + 6, code, dst_ref, src_ref, class_option)
    return fixed + variable


def tpkt_data_frame(payload: bytes, *, engine: Engine = "struct") -> bytes:
    """``encode_tpkt(Tpkt(encode_x224(X224Data(payload))))`` without the objects."""
    length = len(payload) + 7
    if engine != "struct" or length > 0xFFFF:  # a length that does not fit raises PduError
        return encode_tpkt(Tpkt(encode_x224(X224Data(payload), engine=engine)), engine=engine)
    return _TPKT_STRUCT.pack(TPKT_VERSION, 0, length) + _X224_DATA_STRUCT + payload


@pdu_dataclass
class X224ConnectionRequest:
    """X.224 Connection Request TPDU with the RDP fields of MS-RDPBCGR 2.2.1.1.

    ``cookie`` holds the routingToken or cookie line as sent, without its CR LF terminator
    (``b"Cookie: mstshash=eltons"``, or a load-balancer token such as ``b"Cookie: msts=..."``);
    None when the client sent neither.  The X.224 header fields are kept for byte-exact
    re-encoding; the length indicator is derived.
    """

    cookie: Ansi | None = spec("routingToken/cookie", default=None)
    rdp_neg_req: RdpNegotiationRequest | None = spec("rdpNegReq", default=None)
    rdp_correlation_info: RdpCorrelationInfo | None = spec("rdpCorrelationInfo", default=None)
    dst_ref: int = spec("dstRef", default=0)
    src_ref: int = spec("srcRef", default=0)
    class_option: int = spec("classOption", default=0)
    credit: int = spec("CDT", default=0)

    @property
    def mstshash(self) -> bytes | None:
        """The IDENTIFIER of a ``Cookie: mstshash=IDENTIFIER`` cookie, else None."""
        prefix = b"Cookie: mstshash="
        if self.cookie is not None and self.cookie.startswith(prefix):
            return self.cookie[len(prefix) :]
        return None


@pdu_dataclass
class X224ConnectionConfirm:
    """X.224 Connection Confirm TPDU with optional rdpNegData (MS-RDPBCGR 2.2.1.2).

    Windows puts a bogus source reference (0x1234) in it, as the 4.1.2 example shows.
    """

    rdp_neg_data: RdpNegotiationResponse | RdpNegotiationFailure | None = spec(
        "rdpNegData", default=None
    )
    dst_ref: int = spec("dstRef", default=0)
    src_ref: int = spec("srcRef", default=0x1234)
    class_option: int = spec("classOption", default=0)
    credit: int = spec("CDT", default=0)


@pdu_dataclass
class X224DisconnectRequest:
    """X.224 Disconnect Request TPDU ([X224] 13.5); ``variable`` is its variable part."""

    reason: int = spec("reason", default=0)
    dst_ref: int = spec("dstRef", default=0)
    src_ref: int = spec("srcRef", default=0)
    variable: bytes = spec("variable", default=b"")


@pdu_dataclass
class X224Data:
    """X.224 Data TPDU ([X224] 13.7): the 3-byte header ``02 F0 80`` and the payload.

    ``eot`` is the end-of-TSDU bit; RDP always sets it (X.224 segmentation is never used).
    """

    payload: bytes = spec("userData")
    eot: bool = spec("EOT", default=True)


X224Tpdu = X224ConnectionRequest | X224ConnectionConfirm | X224Data | X224DisconnectRequest


def _split_cookie(variable: bytes) -> tuple[bytes | None, bytes]:
    """Split the routingToken/cookie line (terminated by CR LF) from what follows it."""
    if not variable or variable[0] == TYPE_RDP_NEG_REQ:
        return None, variable
    end = variable.find(b"\r\n")
    if end < 0:
        raise PduError(
            "X224_CR", "routingToken/cookie has no CR LF terminator", field="routingToken/cookie"
        )
    return variable[:end], variable[end + 2 :]


def _decode_connection_request(head: Any, engine: Engine) -> X224ConnectionRequest:
    cookie, rest = _split_cookie(head.variable)
    neg_req = None
    correlation = None
    if rest:
        kind, flags, value = _parse_neg("RDP_NEG_REQ", rest[:8], engine)
        if kind != TYPE_RDP_NEG_REQ:
            raise PduError("RDP_NEG_REQ", f"type 0x{kind:02x} is not TYPE_RDP_NEG_REQ")
        neg_req = RdpNegotiationRequest(Protocol(value), NegotiationRequestFlag(flags))
        rest = rest[8:]
    if rest:
        info = parse_exact("RDP_NEG_CORRELATION_INFO", _CORRELATION_INFO, rest)
        correlation = RdpCorrelationInfo(info.correlationId, info.flags, info.reserved)
    return X224ConnectionRequest(
        cookie,
        neg_req,
        correlation,
        head.dstRef,
        head.srcRef,
        head.classOption,
        head.code & 0x0F,
    )


def _decode_connection_confirm(head: Any, engine: Engine) -> X224ConnectionConfirm:
    neg_data: RdpNegotiationResponse | RdpNegotiationFailure | None = None
    if head.variable:
        kind, flags, value = _parse_neg("rdpNegData", head.variable, engine)
        if kind == TYPE_RDP_NEG_RSP:
            neg_data = RdpNegotiationResponse(Protocol(value), NegotiationResponseFlag(flags))
        elif kind == TYPE_RDP_NEG_FAILURE:
            neg_data = RdpNegotiationFailure(enum_or_int(NegotiationFailureCode, value), flags)
        else:
            raise PduError("rdpNegData", f"type 0x{kind:02x} is neither RSP nor FAILURE")
    return X224ConnectionConfirm(
        neg_data, head.dstRef, head.srcRef, head.classOption, head.code & 0x0F
    )


def decode_x224(data: bytes, *, engine: Engine = "struct") -> X224Tpdu:
    """Decode the X.224 TPDU that fills a TPKT payload."""
    if engine == "struct":
        if data[:3] == _X224_DATA_STRUCT:
            return X224Data(data[3:])
    else:
        check_engine(engine)
    if len(data) < 2:
        raise PduError("X224", "shorter than a TPDU header", offset=len(data))
    code = data[1] & 0xF0
    if code == X224_DT:
        header = parse_exact("X224_DT", X224_DATA_HEADER, data[:3])
        return X224Data(data[3:], header.eot == 0x80)
    if code in (X224_CR, X224_CC):
        name = "X224_CR" if code == X224_CR else "X224_CC"
        if data[0] < 6:
            raise PduError(name, f"length indicator {data[0]} is below 6", field="length")
        head = _connect_head_struct(data) if engine == "struct" else None
        if head is None:
            head = parse_exact(name, _X224_CONNECT, data)  # or reports the error
        if code == X224_CR:
            return _decode_connection_request(head, engine)
        return _decode_connection_confirm(head, engine)
    if code == X224_DR and data[1] == X224_DR:
        if data[0] < 6:
            raise PduError("X224_DR", f"length indicator {data[0]} is below 6", field="length")
        head = parse_exact("X224_DR", _X224_CONNECT, data)
        return X224DisconnectRequest(head.classOption, head.dstRef, head.srcRef, head.variable)
    raise PduError("X224", f"unsupported TPDU code 0x{data[1]:02x}", field="code", offset=1)


def _encode_connect(
    name: str,
    code: int,
    credit: int,
    dst_ref: int,
    src_ref: int,
    class_option: int,
    variable: bytes,
    engine: Engine,
) -> bytes:
    need(name, 0 <= credit <= 0x0F, "credit is not 4 bits", field="CDT")
    need(name, len(variable) + 6 <= 0xFE, "variable part too long", field="length")
    if engine == "struct":
        packed = _connect_bytes_struct(code | credit, dst_ref, src_ref, class_option, variable)
        if packed is not None:
            return packed
    return build_checked(
        name,
        _X224_CONNECT,
        {
            "length": len(variable) + 6,
            "code": code | credit,
            "dstRef": dst_ref,
            "srcRef": src_ref,
            "classOption": class_option,
            "variable": variable,
        },
    )


def encode_x224(tpdu: X224Tpdu, *, engine: Engine = "struct") -> bytes:
    """Encode an X.224 TPDU (the payload of a TPKT frame)."""
    if engine != "struct":
        check_engine(engine)
    if isinstance(tpdu, X224Data):
        if engine == "struct":
            return (_X224_DATA_STRUCT if tpdu.eot else b"\x02\xf0\x00") + tpdu.payload
        header = build_checked("X224_DT", X224_DATA_HEADER, {"eot": 0x80 if tpdu.eot else 0})
        return header + tpdu.payload
    if isinstance(tpdu, X224ConnectionRequest):
        variable = b""
        if tpdu.cookie is not None:
            need(
                "X224_CR",
                b"\r\n" not in tpdu.cookie and tpdu.cookie[:1] not in (b"", b"\x01"),
                "cookie must be non-empty, not start with 0x01 and hold no CR LF",
                field="routingToken/cookie",
            )
            variable += tpdu.cookie + b"\r\n"
        if tpdu.rdp_neg_req is not None:
            req = tpdu.rdp_neg_req
            variable += _build_neg(
                "RDP_NEG_REQ", TYPE_RDP_NEG_REQ, req.flags, req.requested_protocols, engine
            )
        if tpdu.rdp_correlation_info is not None:
            need("X224_CR", tpdu.rdp_neg_req is not None, "correlation info needs rdpNegReq")
            info = tpdu.rdp_correlation_info
            variable += build_checked(
                "RDP_NEG_CORRELATION_INFO",
                _CORRELATION_INFO,
                {
                    "flags": info.flags,
                    "correlationId": info.correlation_id,
                    "reserved": info.reserved,
                },
            )
        return _encode_connect(
            "X224_CR",
            X224_CR,
            tpdu.credit,
            tpdu.dst_ref,
            tpdu.src_ref,
            tpdu.class_option,
            variable,
            engine,
        )
    if isinstance(tpdu, X224ConnectionConfirm):
        variable = b""
        neg = tpdu.rdp_neg_data
        if isinstance(neg, RdpNegotiationResponse):
            variable = _build_neg(
                "RDP_NEG_RSP", TYPE_RDP_NEG_RSP, neg.flags, neg.selected_protocol, engine
            )
        elif isinstance(neg, RdpNegotiationFailure):
            variable = _build_neg(
                "RDP_NEG_FAILURE", TYPE_RDP_NEG_FAILURE, neg.flags, neg.failure_code, engine
            )
        return _encode_connect(
            "X224_CC",
            X224_CC,
            tpdu.credit,
            tpdu.dst_ref,
            tpdu.src_ref,
            tpdu.class_option,
            variable,
            engine,
        )
    if isinstance(tpdu, X224DisconnectRequest):
        return _encode_connect(
            "X224_DR", X224_DR, 0, tpdu.dst_ref, tpdu.src_ref, tpdu.reason, tpdu.variable, engine
        )
    raise PduError("X224", f"cannot encode {type(tpdu).__name__}")


# --------------------------------------------------------------------------------------------
# Fast-path header (MS-RDPBCGR 2.2.8.1.2 TS_FP_INPUT_PDU, 2.2.9.1.2 TS_FP_UPDATE_PDU)


class FastPathFlag(enum.IntFlag):
    """The two flag bits of fpInputHeader / fpOutputHeader (already shifted down by 6)."""

    FASTPATH_SECURE_CHECKSUM = 0x1
    FASTPATH_ENCRYPTED = 0x2


@pdu_dataclass
class FastPathPdu:
    """A fast-path frame: header byte, 1- or 2-byte length, and everything after it.

    ``payload`` starts right after the length: the optional FIPS information and
    dataSignature, then (input) the optional numEvents byte and the events, or (output) the
    updates.  ``num_events`` is bits 2-5 of the header (numEvents for input; 0 for output).
    ``long_length`` records that a length below 0x80 was sent in the two-byte form.
    """

    payload: bytes = spec("payload")
    flags: FastPathFlag = spec("flags", default=FastPathFlag(0))
    num_events: int = spec("numEvents", default=0)
    long_length: bool = spec("length2", default=False)


def decode_fast_path(data: bytes) -> FastPathPdu:
    """Decode one whole fast-path frame (as delimited by `frame_size`)."""
    size = frame_size(data)
    if size is None or data[0] & 0x03 != 0:
        raise PduError("TS_FP_PDU", "not a complete fast-path header", offset=len(data))
    if size != len(data):
        raise PduError("TS_FP_PDU", f"length {size} but {len(data)} bytes", field="length1")
    header = 3 if data[1] & 0x80 else 2
    return FastPathPdu(
        data[header:],
        FastPathFlag(data[0] >> 6),
        (data[0] >> 2) & 0x0F,
        header == 3 and size < 0x80,
    )


def encode_fast_path(pdu: FastPathPdu) -> bytes:
    """Encode a fast-path frame; the length is derived."""
    need("TS_FP_PDU", 0 <= pdu.num_events <= 0x0F, "numEvents is not 4 bits", field="numEvents")
    need("TS_FP_PDU", 0 <= pdu.flags <= 0x3, "flags are not 2 bits", field="flags")
    first = (int(pdu.flags) << 6) | (pdu.num_events << 2)
    length = len(pdu.payload) + 2
    if pdu.long_length or length >= 0x80:
        length += 1
        need("TS_FP_PDU", length <= 0x7FFF, f"length {length} exceeds 0x7FFF", field="length1")
        return bytes((first, 0x80 | (length >> 8), length & 0xFF)) + pdu.payload
    return bytes((first, length)) + pdu.payload
