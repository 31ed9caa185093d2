"""The aligned-PER ([X691]) primitives of the MCS domain PDUs, as construct classes: a
length determinant below 16384 and a semi-constrained whole number (`pdu.mcs.domain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import construct

if TYPE_CHECKING:
    _LengthConstruct = construct.Construct[tuple[int, bool], tuple[int, bool]]
    _IntConstruct = construct.Construct[int, int]
else:  # construct's classes are not subscriptable at run time
    _LengthConstruct = _IntConstruct = construct.Construct


class _PerLength(_LengthConstruct):
    """An aligned-PER length determinant below 16384: (value, two-byte form used below 128)."""

    def _parse(self, stream: Any, context: Any, path: Any) -> tuple[int, bool]:
        first = construct.stream_read(stream, 1, path)[0]
        if first < 0x80:
            return first, False
        if first & 0xC0 == 0xC0:
            raise construct.ExplicitError("fragmented PER length is not supported", path=path)
        value = ((first & 0x3F) << 8) | construct.stream_read(stream, 1, path)[0]
        return value, value < 0x80

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        value, long_form = obj
        if not 0 <= value < 0x4000:
            raise construct.ExplicitError(f"PER length {value} out of range", path=path)
        if long_form or value >= 0x80:
            construct.stream_write(stream, bytes((0x80 | (value >> 8), value & 0xFF)), 2, path)
        else:
            construct.stream_write(stream, bytes((value,)), 1, path)
        return obj


class _PerUnsigned(_IntConstruct):
    """A semi-constrained whole number (INTEGER (0..MAX)): length octet, minimal octets."""

    def _parse(self, stream: Any, context: Any, path: Any) -> int:
        size = construct.stream_read(stream, 1, path)[0]
        if not 1 <= size <= 4:
            raise construct.ExplicitError(f"{size}-byte PER integer", path=path)
        value = int.from_bytes(construct.stream_read(stream, size, path), "big")
        if size != max(1, (value.bit_length() + 7) // 8):
            raise construct.ExplicitError("PER integer is not minimal", path=path)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> int:
        value = int(obj)
        if not 0 <= value < 2**32:
            raise construct.ExplicitError(f"PER integer {value} out of range", path=path)
        size = max(1, (value.bit_length() + 7) // 8)
        construct.stream_write(stream, bytes((size,)) + value.to_bytes(size, "big"), 1 + size, path)
        return value
