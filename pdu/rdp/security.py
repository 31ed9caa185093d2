"""Security headers (MS-RDPBCGR 2.2.8.1.1.2) and the Security Exchange PDU data (2.2.1.10.1).

The basic TS_SECURITY_HEADER (2.2.8.1.1.2.1), the non-FIPS TS_SECURITY_HEADER1 with the
8-byte MAC (2.2.8.1.1.2.2) and the FIPS TS_SECURITY_HEADER2 (2.2.8.1.1.2.3); and
TS_SECURITY_PACKET, the encrypted client random after its basic header.

Which security header a PDU carries is decided by its flags: with SEC_ENCRYPT the basic header
is followed by the MAC (and, with FIPS encryption, by the FIPS fields); without it the header
is the 4-byte basic one.  That holds for SEC_REDIRECTION_PKT too: the Standard Security Server
Redirection PDU (2.2.13.2.1) is always encrypted, so it always carries SEC_ENCRYPT.  The
flagsHi half is kept verbatim: Windows fills it with garbage unless SEC_FLAGSHI_VALID is set.

The security header is on the path of every licensing frame and the Security Exchange on the
path of every connection: their decoders and encoders have a struct path (precompiled
`struct` formats) for the usual input.  The construct definitions (`SECURITY_HEADER`,
`_SECURITY_EXCHANGE`) take whatever it declines, report every error, and run alone with
``engine="construct"``.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import construct
from construct import Bytes, Const, Int8ul, Int16ul, Int32ul, Struct, this

from rdplic.pdu._types import Engine, check_engine, fits_uint, pdu_dataclass, spec
from rdplic.pdu.errors import guarded
from rdplic.pdu.framing import build_checked, need, parse_exact

__all__ = [
    "SECURITY_HEADER",
    "SecurityExchange",
    "SecurityFlag",
    "SecurityHeader",
    "decode_security_exchange",
    "decode_security_header",
    "encode_security_exchange",
    "encode_security_header",
    "security_header_bytes",
]


class SecurityFlag(enum.IntFlag):
    """TS_SECURITY_HEADER flags (MS-RDPBCGR 2.2.8.1.1.2.1)."""

    SEC_EXCHANGE_PKT = 0x0001
    SEC_TRANSPORT_REQ = 0x0002
    SEC_TRANSPORT_RSP = 0x0004
    SEC_ENCRYPT = 0x0008
    SEC_RESET_SEQNO = 0x0010
    SEC_IGNORE_SEQNO = 0x0020
    SEC_INFO_PKT = 0x0040
    SEC_LICENSE_PKT = 0x0080
    SEC_LICENSE_ENCRYPT_CS = 0x0200
    SEC_LICENSE_ENCRYPT_SC = 0x0200
    """Same bit as SEC_LICENSE_ENCRYPT_CS: the client sets it in its Security Exchange PDU."""
    SEC_REDIRECTION_PKT = 0x0400
    SEC_SECURE_CHECKSUM = 0x0800
    SEC_AUTODETECT_REQ = 0x1000
    SEC_AUTODETECT_RSP = 0x2000
    SEC_HEARTBEAT = 0x4000
    SEC_FLAGSHI_VALID = 0x8000


SECURITY_HEADER = Struct(
    "flags" / Int16ul,
    "flagsHi" / Int16ul,
    "dataSignature"
    / construct.If(
        lambda ctx: ctx.flags & SecurityFlag.SEC_ENCRYPT and not ctx._params.get("fips"),
        Bytes(8),
    ),
    "fips"
    / construct.If(
        lambda ctx: ctx.flags & SecurityFlag.SEC_ENCRYPT and ctx._params.get("fips"),
        Struct(
            "length" / Const(0x10, Int16ul),
            "version" / Const(1, Int8ul),
            "padlen" / Int8ul,
            "dataSignature" / Bytes(8),
        ),
    ),
)
"""TS_SECURITY_HEADER / TS_SECURITY_HEADER1 / TS_SECURITY_HEADER2, chosen by SEC_ENCRYPT and
the ``fips`` parameter (FIPS encryption method in force)."""
_SEC_BASIC = struct.Struct("<HH")
_SEC_FIPS = struct.Struct("<HBB")
_U32 = struct.Struct("<I")
"""TS_SECURITY_PACKET's length, for the struct path of `decode_security_exchange`."""
_SEC_ENCRYPT = int(SecurityFlag.SEC_ENCRYPT)
_FLAG_CACHE: dict[int, SecurityFlag] = {}


def _security_flag(value: int) -> SecurityFlag:
    flag = _FLAG_CACHE.get(value)
    if flag is None:
        flag = _FLAG_CACHE[value] = SecurityFlag(value)
    return flag


@pdu_dataclass
class SecurityHeader:
    """A security header: basic, non-FIPS (``data_signature``) or FIPS (also ``fips_padlen``).

    ``data_signature`` is present exactly when ``flags`` has SEC_ENCRYPT; ``fips_padlen`` only
    in a FIPS header (TS_SECURITY_HEADER2, whose length and version are the constants 0x10
    and 1).
    """

    flags: SecurityFlag = spec("flags")
    flags_hi: int = spec("flagsHi", default=0)
    data_signature: bytes | None = spec("dataSignature", default=None)
    fips_padlen: int | None = spec("padlen", default=None)


def security_header_bytes(
    flags: int, data_signature: bytes | None, flags_hi: int = 0, *, engine: Engine = "struct"
) -> bytes:
    """``encode_security_header(SecurityHeader(flags, flags_hi, data_signature))`` without
    the object: a basic or non-FIPS header (TS_SECURITY_HEADER, TS_SECURITY_HEADER1)."""
    return _encode_security_header(flags, flags_hi, data_signature, None, engine)


def decode_security_header(
    data: bytes, *, fips: bool = False, engine: Engine = "struct"
) -> tuple[SecurityHeader, bytes]:
    """Decode the security header at the start of ``data``; return it and the bytes after it.

    ``fips`` says that the FIPS encryption method is in force, so that an encrypted PDU
    carries TS_SECURITY_HEADER2 instead of TS_SECURITY_HEADER1.
    """
    if engine == "struct":
        if len(data) >= 4:
            flags, flags_hi = _SEC_BASIC.unpack_from(data)
            if not flags & _SEC_ENCRYPT:
                return SecurityHeader(_security_flag(flags), flags_hi), data[4:]
            if not fips and len(data) >= 12:
                return SecurityHeader(_security_flag(flags), flags_hi, data[4:12]), data[12:]
            if fips and len(data) >= 16:
                length, version, padlen = _SEC_FIPS.unpack_from(data, 4)
                if length == 0x10 and version == 1:
                    header = SecurityHeader(_security_flag(flags), flags_hi, data[8:16], padlen)
                    return header, data[16:]
    else:
        check_engine(engine)
    name = "TS_SECURITY_HEADER2" if fips else "TS_SECURITY_HEADER1"

    def parse(stream: Any) -> tuple[Any, int]:
        return SECURITY_HEADER.parse_stream(stream, fips=fips), stream.tell()

    parsed, end = guarded(name, data, parse)
    flag = _security_flag(parsed.flags)
    if parsed.fips is not None:
        header = SecurityHeader(flag, parsed.flagsHi, parsed.fips.dataSignature, parsed.fips.padlen)
    else:
        header = SecurityHeader(flag, parsed.flagsHi, parsed.dataSignature)
    return header, data[end:]


def encode_security_header(header: SecurityHeader, *, engine: Engine = "struct") -> bytes:
    """Encode a security header (its kind follows from its flags and fields)."""
    return _encode_security_header(
        int(header.flags), header.flags_hi, header.data_signature, header.fips_padlen, engine
    )


def _encode_security_header(
    flags: int,
    flags_hi: int,
    data_signature: bytes | None,
    fips_padlen: int | None,
    engine: Engine,
) -> bytes:
    name = "TS_SECURITY_HEADER"
    need(name, 0 <= flags <= 0xFFFF, "flags is not 16 bits", field="flags")
    need(name, 0 <= flags_hi <= 0xFFFF, "flagsHi is not 16 bits", field="flagsHi")
    if engine != "struct":
        check_engine(engine)
    need(
        name,
        bool(flags & _SEC_ENCRYPT) == (data_signature is not None),
        "dataSignature goes with SEC_ENCRYPT",
        field="dataSignature",
    )
    if data_signature is None:
        need(name, fips_padlen is None, "padlen needs SEC_ENCRYPT", field="padlen")
    else:
        need(name, len(data_signature) == 8, "dataSignature is not 8 bytes")
        if fips_padlen is not None:
            need(name, 0 <= fips_padlen <= 0xFF, "padlen is not a byte", field="padlen")
    if (
        engine == "struct"
        and fits_uint(flags_hi, 0xFFFF)
        and (data_signature is None or isinstance(data_signature, bytes | bytearray | memoryview))
        and (fips_padlen is None or fits_uint(fips_padlen, 0xFF))
    ):
        basic = _SEC_BASIC.pack(flags, flags_hi)
        if data_signature is None:
            return basic
        if fips_padlen is None:
            return basic + data_signature
        return basic + _SEC_FIPS.pack(0x10, 1, fips_padlen) + data_signature
    fips = fips_padlen is not None
    value = {
        "flags": flags,
        "flagsHi": flags_hi,
        "dataSignature": None if fips else data_signature,
        "fips": {"padlen": fips_padlen, "dataSignature": data_signature} if fips else None,
    }
    return build_checked(name, SECURITY_HEADER, value, fips=fips)


_SECURITY_EXCHANGE = Struct(
    "length" / construct.Rebuild(Int32ul, construct.len_(this.encryptedClientRandom)),
    "encryptedClientRandom" / Bytes(this.length),
)


@pdu_dataclass
class SecurityExchange:
    """TS_SECURITY_PACKET after its basic security header (SEC_EXCHANGE_PKT).

    ``encrypted_client_random`` is the whole field: the little-endian RSA ciphertext followed
    by its 8 zero bytes of padding (72 bytes for a 512-bit server key).
    """

    encrypted_client_random: bytes = spec("encryptedClientRandom")


def decode_security_exchange(data: bytes, *, engine: Engine = "struct") -> SecurityExchange:
    """Decode the Security Exchange PDU data that follows the basic security header."""
    if engine == "struct":
        if len(data) >= 4 and _U32.unpack_from(data)[0] == len(data) - 4:
            return SecurityExchange(data[4:])  # the usual input; construct reports errors
    else:
        check_engine(engine)
    parsed = parse_exact("TS_SECURITY_PACKET", _SECURITY_EXCHANGE, data)
    return SecurityExchange(parsed.encryptedClientRandom)


def encode_security_exchange(pdu: SecurityExchange) -> bytes:
    """Encode the Security Exchange PDU data (without its security header)."""
    return build_checked(
        "TS_SECURITY_PACKET",
        _SECURITY_EXCHANGE,
        {"encryptedClientRandom": pdu.encrypted_client_random},
    )
