"""Helpers of the client and server blocks: TS_UD_HEADER (MS-RDPBCGR 2.2.1.3.1) around
each block, and the struct path of the blocks' fixed-size fields.

The blocks are decoded once per connection, on the path of every handshake: their fixed-size
parts have precompiled `struct` formats equivalent to their construct definitions (which
decode what the struct path declines, build most blocks, and which tests compare it with).
"""

from __future__ import annotations

import struct
from typing import Any

import construct

from rdplic.pdu._types import Engine
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import OptionalField, need, parse_optional_tail


def _struct_of(con: Any) -> struct.Struct | None:
    """The `struct` format of a fixed-size little-endian field, None for anything else."""
    if isinstance(con, construct.FormatField):
        return struct.Struct(con.fmtstr)
    if isinstance(con, construct.Bytes) and isinstance(con.length, int):
        return struct.Struct(f"{con.length}s")
    return None


def _optional_struct(
    fields: tuple[OptionalField, ...],
) -> tuple[tuple[str, struct.Struct], ...] | None:
    formats = tuple((name, _struct_of(con)) for name, con in fields)
    if any(fmt is None for _, fmt in formats):
        return None
    return tuple((name, fmt) for name, fmt in formats if fmt is not None)


def _optional_tail(
    structure: str,
    data: bytes,
    fields: tuple[OptionalField, ...],
    formats: tuple[tuple[str, struct.Struct], ...] | None,
    engine: Engine,
) -> tuple[dict[str, Any], bytes]:
    """`parse_optional_tail`, with `struct` on the struct engine when every field has a
    fixed size (``formats``, from `_optional_struct`): same values, same rest."""
    if engine != "struct" or formats is None:
        return parse_optional_tail(structure, data, fields)
    values: dict[str, Any] = {}
    offset = 0
    for name, fmt in formats:
        if len(data) - offset < fmt.size:
            break
        values[name] = fmt.unpack_from(data, offset)[0]
        offset += fmt.size
    return values, data[offset:]


_TWO_UINT32 = struct.Struct("<II")


def _split_blocks(structure: str, data: bytes) -> list[tuple[int, bytes]]:
    blocks = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise PduError(structure, "truncated TS_UD_HEADER", offset=offset)
        block_type = int.from_bytes(data[offset : offset + 2], "little")
        length = int.from_bytes(data[offset + 2 : offset + 4], "little")
        if length < 4 or offset + length > len(data):
            raise PduError(
                structure,
                f"block 0x{block_type:04x} length {length} does not fit the"
                f" {len(data) - offset} bytes left",
                field="TS_UD_HEADER.length",
                offset=offset + 2,
            )
        blocks.append((block_type, data[offset + 4 : offset + length]))
        offset += length
    return blocks


def _join_block(structure: str, block_type: int, body: bytes) -> bytes:
    need(structure, 0 <= block_type <= 0xFFFF, "block type is not 16 bits", field="type")
    need(structure, len(body) + 4 <= 0xFFFF, "block longer than 65535 bytes", field="length")
    return block_type.to_bytes(2, "little") + (len(body) + 4).to_bytes(2, "little") + body
