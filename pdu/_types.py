"""Conventions shared by every typed PDU object in `pdu/`.

Every decoded structure is a frozen, slotted dataclass (``@pdu_dataclass``).
Its Python field names are snake_case; the spec's field name travels in the
field metadata (``spec("bMsgType")``) so that JSON output (``rdplic pdu
decode``) and error paths use the names a reader finds in MS-RDPELE /
MS-RDPBCGR.

Byte strings that the spec defines as text keep their raw bytes (so that
re-encoding is byte-exact even for a missing NUL or an odd length) and are
annotated with their encoding: ``Utf16`` (UTF-16LE) or ``Ansi``.  Length and
count fields are never dataclass fields: they are derived when building.
A field that Windows sometimes fills inconsistently (wMsgSize, blob types)
is kept as decoded so that encode(decode(b)) == b.

`Engine` names the two implementations of a wire format that has a hand-written or
generated `struct` shortcut beside its construct definition (the "struct path", not to be
confused with RDP's Fast-Path PDUs of MS-RDPBCGR 2.2.8.1.2 / 2.2.9.1.2): every decoder and
encoder with such a shortcut takes ``engine=`` so that tests and fuzzers compare the two
through the public entry points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeGuard, TypeVar, dataclass_transform, overload

__all__ = [
    "ENGINES",
    "Ansi",
    "Engine",
    "TextEncoding",
    "Utf16",
    "check_engine",
    "fits_uint",
    "pdu_dataclass",
    "spec",
]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class TextEncoding:
    """Marks a ``bytes`` field as text in this encoding (for display only)."""

    codec: str


Utf16 = Annotated[bytes, TextEncoding("utf-16-le")]
"""UTF-16LE text as on the wire, NUL terminator included when the spec has one."""

Ansi = Annotated[bytes, TextEncoding("latin-1")]
"""8-bit text as on the wire (the spec's "ANSI"), NUL terminator included when present."""


Engine = Literal["struct", "construct"]
"""Which implementation a decoder or encoder with a `struct` shortcut runs.

``"struct"`` (the default everywhere): the `struct` path on the usual input, falling back
to the construct definition for anything it does not handle, so that construct reports
every `PduError`.  ``"construct"``: the construct definitions only, no `struct` code at all.
The parts that have no construct definition (TS_UD_HEADER, SC_NET and the T.124 PER of
`pdu.gcc`, lengths checked by hand before parsing) are the same code on both engines; for
the BER of the MCS connect PDUs, which construct cannot express with the sizes each encoder
picks, the reference is the general BER reader and writer of `pdu.mcs`.  Both engines give
the same value, the same bytes, or both raise `PduError`: tests compare them through this
switch.
"""

ENGINES: tuple[Engine, ...] = ("struct", "construct")
"""Every `Engine`, the default first."""


def check_engine(engine: str) -> None:
    """Raise ``ValueError`` for an engine name other than "struct" or "construct".

    Called where a function takes its construct path because it was asked to, so that a
    caller passing an unknown name (such as "fast", the struct engine's old name) fails at
    once instead of quietly comparing construct with itself.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")


def fits_uint(value: object, maximum: int) -> TypeGuard[int]:
    """``value`` is an int (bool and IntEnum included) in ``0..maximum``.

    A struct path's encoder checks its values with this before `struct.pack` and leaves
    anything else to the construct definition, which then encodes it or says why not: it
    declines up front instead of catching ``struct.error``, which would also hide its own
    mistakes.  ``struct.pack`` takes every value that passes, as construct's integer fields do.
    """
    return isinstance(value, int) and 0 <= value <= maximum


@overload
def spec(
    name: str,
    *,
    default: T,
    init: bool = True,
    repr: bool = True,
    kw_only: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> T: ...


@overload
def spec(
    name: str,
    *,
    default_factory: Callable[[], T],
    init: bool = True,
    repr: bool = True,
    kw_only: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> T: ...


@overload
def spec(
    name: str,
    *,
    init: bool = True,
    repr: bool = True,
    kw_only: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> Any: ...


def spec(name: str, **kwargs: Any) -> Any:
    """A dataclass field carrying the spec's name for it (``spec("dwVersion")``).

    It takes `dataclasses.field`'s keywords; `pdu_dataclass` names it as a field
    specifier, so that type checkers know which fields ``__init__`` requires.
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["spec"] = name
    return dataclasses.field(metadata=metadata, **kwargs)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, spec))
def pdu_dataclass(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True, slots=True)`` for PDU objects.

    The same class as the standard decorator makes; the `typing.dataclass_transform`
    marker tells type checkers that `spec` declares fields (a field without
    ``default=`` is required), which they cannot know of ``dataclasses.dataclass``.
    """
    return dataclasses.dataclass(frozen=True, slots=True)(cls)
