"""Pieces both licensing machines use: clock values, text fields, framing, PDU building.

Nothing here has state beyond a receive buffer, and nothing reads a clock or
draws randomness: ``now`` is whatever the driver passes in.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from pdu.licensing import (
    BlobType,
    ErrorCode,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingMessage,
    LicensingPdu,
    PreambleFlags,
    StateTransition,
    encode_licensing_pdu,
)
from rdplic.core.errors import InvalidMessageLength, LocalProtocolError

__all__ = [
    "Now",
    "PduFramer",
    "ansi_text",
    "ansi_z",
    "build_pdu",
    "error_message",
    "to_datetime",
    "to_seconds",
    "utf16_text",
    "utf16_z",
]

Now = float | datetime
"""A clock value: POSIX seconds (as Twisted's ``reactor.seconds()``) or an aware datetime."""

PREAMBLE_SIZE = 4

_PREAMBLE = struct.Struct("<BBH")


def to_datetime(now: Now) -> datetime:
    """``now`` as an aware UTC datetime (what the license service takes)."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise LocalProtocolError("naive datetime: pass an aware UTC datetime or POSIX seconds")
        return now.astimezone(UTC)
    return datetime.fromtimestamp(now, UTC)


def to_seconds(now: Now) -> float:
    """``now`` as POSIX seconds (what the timers use)."""
    if isinstance(now, datetime):
        return to_datetime(now).timestamp()
    return float(now)


def ansi_text(raw: bytes) -> str:
    """NUL-terminated ANSI text (MS-RDPELE "ANSI") as a str, up to the first NUL."""
    return raw.split(b"\0", 1)[0].decode("latin-1")


def utf16_text(raw: bytes) -> str:
    """NUL-terminated UTF-16LE text as a str, up to the first NUL character."""
    text = raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace")
    return text.split("\0", 1)[0]


def ansi_z(text: str) -> bytes:
    """``text`` as NUL-terminated ANSI (characters outside Latin-1 become '?')."""
    return text.encode("latin-1", errors="replace") + b"\0"


def utf16_z(text: str) -> bytes:
    """``text`` as NUL-terminated UTF-16LE."""
    return (text + "\0").encode("utf-16-le")


def build_pdu(message: LicensingMessage, version: int, flags: PreambleFlags) -> bytes:
    """The bytes of one licensing PDU, preamble included, wMsgSize derived."""
    return encode_licensing_pdu(LicensingPdu(message, version=version, flags=flags))


def error_message(code: int, transition: int) -> LicenseErrorMessage:
    """LICENSE_ERROR_MESSAGE with an empty BB_ERROR_BLOB, as Windows sends it (MS-RDPBCGR
    2.2.1.12.1.3; the valid-client PDU of 2.2.1.12.1 is STATUS_VALID_CLIENT / ST_NO_TRANSITION).
    """
    return LicenseErrorMessage(
        error_code=_known(ErrorCode, code),
        state_transition=_known(StateTransition, transition),
        error_info=LicenseBinaryBlob(BlobType.BB_ERROR_BLOB, b""),
    )


def _known(kind: type[ErrorCode] | type[StateTransition], value: int) -> int:
    try:
        return kind(value)
    except ValueError:
        return value


class PduFramer:
    """Splits a byte stream into licensing PDUs by their wMsgSize.

    For drivers that do not get whole licensing PDUs from the layer below
    (tests feeding byte by byte, or a transport that has already stripped
    the security header of a stream).  A wMsgSize below the 4-byte preamble
    cannot frame anything and raises `InvalidMessageLength`; nothing else is
    checked here (architecture invariant 3: framing before decoding).  wMsgSize
    is 16 bits (MS-RDPBCGR 2.2.1.12.1.1), so the buffer never holds more than
    one 64 KiB PDU and a partial preamble.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every PDU now complete, oldest first."""
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= PREAMBLE_SIZE:
            _, _, size = _PREAMBLE.unpack_from(self._buffer)
            if size < PREAMBLE_SIZE:
                raise InvalidMessageLength(f"wMsgSize {size} is shorter than the preamble")
            if len(self._buffer) < size:
                break
            out.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not form a whole PDU yet."""
        return len(self._buffer)


def check_size(data: bytes) -> None:
    """ERR_INVALID_MESSAGE_LEN unless wMsgSize equals the length of ``data`` (3.2.5.8)."""
    if len(data) < PREAMBLE_SIZE:
        raise InvalidMessageLength(f"{len(data)} bytes cannot hold a LICENSE_PREAMBLE")
    _, _, size = _PREAMBLE.unpack_from(data)
    if size != len(data):
        raise InvalidMessageLength(f"wMsgSize {size} but the PDU has {len(data)} bytes")
