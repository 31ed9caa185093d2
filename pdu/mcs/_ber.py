"""BER as the MCS connect PDUs use it ([T125] 11.1, 11.2; MS-RDPBCGR 2.2.1.3, 2.2.1.4):
[X690] 8.1.2-8.1.3 tags and definite lengths, 8.2 BOOLEAN, 8.3 INTEGER, 8.4 ENUMERATED,
8.7 OCTET STRING, 8.9 SEQUENCE.

BER lets an encoder pick the size of every length and INTEGER.  mstsc writes 65535 as
``02 02 FF FF`` (unsigned), a Windows server as ``02 03 00 FF F8`` (DER), rdesktop every
INTEGER in two bytes, FreeRDP and asn1tools short lengths as ``81 xx``.  `_BerReader`
records those sizes and `_BerWriter` writes them back from a `BerLayout`, or DER's when
there is none; INTEGER contents are read as unsigned, which is how Windows reads
``02 02 FF FF``.  `_der_tlv`, `_der_integer` and `_der_element` are the DER-only writer and
reader of the struct path (`pdu.mcs.connect`); construct has no BER, so `_BerReader` and
`_BerWriter` are the reference that ``engine="construct"`` runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rdplic.pdu._types import spec
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import need

__all__ = [
    "TAG_BOOLEAN",
    "TAG_CONNECT_INITIAL",
    "TAG_CONNECT_RESPONSE",
    "TAG_ENUMERATED",
    "TAG_INTEGER",
    "TAG_OCTET_STRING",
    "TAG_SEQUENCE",
    "BerLayout",
]

TAG_CONNECT_INITIAL = b"\x7f\x65"
TAG_CONNECT_RESPONSE = b"\x7f\x66"
TAG_BOOLEAN = b"\x01"
TAG_INTEGER = b"\x02"
TAG_OCTET_STRING = b"\x04"
TAG_ENUMERATED = b"\x0a"
TAG_SEQUENCE = b"\x30"

_MAX_LENGTH_OCTETS = 4
"""Longest BER long-form length accepted: 4 octets already exceed any TPKT frame."""

_MAX_INTEGER_OCTETS = 8
"""Longest INTEGER content accepted (DomainParameters fit in 5 octets)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BerLayout:
    """The sizes a BER encoder chose, when they differ from what `encode_*` writes by default.

    ``sizes`` lists, in wire order, the size in bytes of every length field (1 for the short
    form, 1 + n for ``8n`` followed by n octets) and the content size of every INTEGER and
    ENUMERATED; ``true_octet`` is the content of a BOOLEAN TRUE (0xFF unless a peer sent
    another non-zero octet).
    """

    sizes: tuple[int, ...] = spec("sizes")
    true_octet: int = spec("trueOctet", default=0xFF)


def _length_size(length: int) -> int:
    return 1 if length < 0x80 else 1 + (length.bit_length() + 7) // 8


def _integer_size(value: int) -> int:
    return value.bit_length() // 8 + 1


class _BerReader:
    """Reads BER TLVs from a buffer and records every size it meets (see `BerLayout`)."""

    def __init__(self, structure: str, data: bytes) -> None:
        self.structure = structure
        self.data = data
        self.pos = 0
        self.sizes: list[int] = []
        self.true_octet = 0xFF

    def fail(self, reason: str, field: str) -> PduError:
        return PduError(self.structure, reason, field=field, offset=self.pos)

    def _take(self, count: int, field: str) -> bytes:
        if self.pos + count > len(self.data):
            raise self.fail(f"needs {count} bytes, {len(self.data) - self.pos} left", field)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def open(self, tag: bytes, field: str, end: int) -> int:
        """Read a tag and a definite length; return where the contents end."""
        got = self._take(len(tag), field)
        if got != tag:
            self.pos -= len(tag)
            raise self.fail(f"tag {got.hex()} instead of {tag.hex()}", field)
        first = self._take(1, field)[0]
        if first < 0x80:
            length = first
            self.sizes.append(1)
        else:
            count = first & 0x7F
            if count == 0:
                raise self.fail("indefinite length", field)
            if count > _MAX_LENGTH_OCTETS:
                raise self.fail(f"{count}-byte length", field)
            length = int.from_bytes(self._take(count, field), "big")
            self.sizes.append(1 + count)
        if self.pos + length > end:
            raise self.fail(f"length {length} exceeds the {end - self.pos} bytes left", field)
        return self.pos + length

    def close(self, end: int, field: str) -> None:
        if self.pos != end:
            raise self.fail(f"{end - self.pos} unexpected bytes at the end", field)

    def octets(self, tag: bytes, field: str, end: int) -> bytes:
        stop = self.open(tag, field, end)
        return self._take(stop - self.pos, field)

    def integer(self, tag: bytes, field: str, end: int) -> int:
        stop = self.open(tag, field, end)
        size = stop - self.pos
        if not 1 <= size <= _MAX_INTEGER_OCTETS:
            raise self.fail(f"{size}-byte INTEGER", field)
        self.sizes.append(size)
        return int.from_bytes(self._take(size, field), "big")

    def boolean(self, field: str, end: int) -> bool:
        stop = self.open(TAG_BOOLEAN, field, end)
        if stop - self.pos != 1:
            raise self.fail("BOOLEAN is not one byte", field)
        octet = self._take(1, field)[0]
        if octet:
            self.true_octet = octet
        return octet != 0


class _BerWriter:
    """Writes BER TLVs, taking each size from a layout in wire order or choosing DER's."""

    def __init__(self, structure: str, layout: BerLayout | None) -> None:
        self.structure = structure
        self.layout = layout
        self.index = 0
        self.sizes: list[int] = []

    def _size(self, minimum: int, field: str) -> int:
        if self.layout is None:
            self.sizes.append(minimum)
            return minimum
        if self.index >= len(self.layout.sizes):
            raise PduError(self.structure, "layout has too few sizes", field=field)
        size = self.layout.sizes[self.index]
        self.index += 1
        self.sizes.append(size)
        return size

    def _length(self, slot: int, length: int, field: str) -> bytes:
        size = self.sizes[slot]
        if size == 1:
            need(self.structure, length < 0x80, f"length {length} needs the long form", field=field)
            return bytes((length,))
        need(self.structure, 2 <= size <= 1 + _MAX_LENGTH_OCTETS, "bad length size", field=field)
        need(self.structure, length < 256 ** (size - 1), f"length {length} too big", field=field)
        return bytes((0x80 | (size - 1),)) + length.to_bytes(size - 1, "big")

    def tlv(self, tag: bytes, field: str, content: bytes | Callable[[], bytes]) -> bytes:
        """``content`` is the bytes, or a callable building them (sizes stay in wire order)."""
        slot = len(self.sizes)
        self._size(0, field)  # placeholder: the real minimum depends on the content
        body = content() if callable(content) else content
        if self.layout is None:
            self.sizes[slot] = _length_size(len(body))
        return tag + self._length(slot, len(body), field) + body

    def integer(self, tag: bytes, field: str, value: int) -> bytes:
        need(self.structure, value >= 0, f"{field} is negative", field=field)
        slot = len(self.sizes)
        self._size(0, field)
        size = self._size(_integer_size(value), field)
        need(self.structure, 1 <= size <= _MAX_INTEGER_OCTETS, "bad INTEGER size", field=field)
        need(self.structure, value < 256**size, f"{field} does not fit", field=field)
        if self.layout is None:
            self.sizes[slot] = 1
        return tag + self._length(slot, size, field) + value.to_bytes(size, "big")

    def boolean(self, field: str, value: bool, true_octet: int) -> bytes:
        slot = len(self.sizes)
        self._size(1, field)
        need(self.structure, 1 <= true_octet <= 0xFF, "true octet is not a non-zero byte")
        return TAG_BOOLEAN + self._length(slot, 1, field) + bytes((true_octet if value else 0,))

    def finish(self) -> None:
        if self.layout is not None and self.index != len(self.layout.sizes):
            raise PduError(self.structure, "layout has too many sizes")


def _der_tlv(tag: bytes, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return tag + bytes((length,)) + content
    size = (length.bit_length() + 7) // 8
    return tag + bytes((0x80 | size,)) + length.to_bytes(size, "big") + content


def _der_integer(tag: bytes, value: int) -> bytes:
    size = value.bit_length() // 8 + 1
    return tag + bytes((size,)) + value.to_bytes(size, "big")


class _NotDer(Exception):
    """Raised by the DER reader for bytes it does not take (another tag, the end of the
    data); the general BER reader then decodes them or says what is wrong."""


def _der_element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the contents of the element with one-byte ``tag`` at ``pos``: short
    or long definite length, nothing checked beyond what indexing needs (see below)."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise _NotDer
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    size = first & 0x7F
    start = pos + 2 + size
    return start, start + int.from_bytes(data[pos + 2 : start], "big")
