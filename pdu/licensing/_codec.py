"""Glue between construct definitions and the typed dataclasses of `pdu.licensing`.

The construct definitions are the source of truth: their field names are the
spec's, lengths and counts are `Rebuild` fields, and nobody passes a length by
hand.  This module supplies the few pieces construct does not have:

* `Record` maps a construct ``Struct`` onto a frozen dataclass (and back),
  using the ``spec(...)`` metadata of each dataclass field to find its
  construct field; enumerated fields come back as their IntEnum when the value
  is known and as a plain ``int`` otherwise (Windows sends values outside the
  enums, MS-RDPELE 2.2.2 footnotes 12-13).
* `ExactBytes` is ``Bytes`` whose *compiled* form still checks the length:
  construct's compiled ``Bytes`` is a bare ``io.read(n)`` that accepts a short
  read, so a truncated PDU would decode silently.  It also refuses to build an
  ``int``, which construct's ``Bytes`` writes as a big-endian number of the
  field's size: no licensing field means that, and the struct engine refuses it.
* `CheckedPrefixedArray` is ``PrefixedArray`` that refuses a count the bytes
  left cannot hold before parsing a single element (ScopeCount 0xFFFFFFFF
  fails at once, without looping or allocating).
* `build_error` turns a failed reference build into a `PduError`.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import struct
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import construct
from construct import Adapter, Construct, ListContainer, Subconstruct

from rdplic.pdu.errors import PduError

__all__ = [
    "BUILD_ERRORS",
    "CheckedPrefixedArray",
    "CompilableAdapter",
    "ExactBytes",
    "Record",
    "UInt32Array",
    "build_error",
    "enum_or_int",
    "field_enum",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.IntEnum)

# Errors that mean "this object cannot be encoded" (construct's, struct's, and the
# TypeError/AttributeError of a wrong field type).
BUILD_ERRORS = (
    construct.ConstructError,
    struct.error,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    UnicodeError,
)


if typing.TYPE_CHECKING:
    _AdapterBase = Adapter[Any, Any, Any, Any]
    _SubconstructBase = Subconstruct[Any, Any, Any, Any]
else:  # construct's classes are generic only in the construct-typing stubs
    _AdapterBase = Adapter
    _SubconstructBase = Subconstruct


def enum_or_int(enum_type: type[E], value: int) -> E | int:
    """The member of ``enum_type`` with this value, or the bare int if there is none."""
    member = enum_type._value2member_map_.get(value)
    return value if member is None else typing.cast(E, member)


def field_enum(hint: Any) -> type[enum.IntEnum] | type[enum.IntFlag] | None:
    """The IntFlag or IntEnum a field's values decode to (``Enum | int`` included), else None."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    for arg in typing.get_args(hint) if union else (hint,):
        if isinstance(arg, type) and issubclass(arg, enum.IntFlag | enum.IntEnum):
            return arg
    return None


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How to turn what construct parsed into the value a dataclass field holds."""
    if typing.get_origin(hint) is tuple:
        item = _converter(typing.get_args(hint)[0])
        if item is None:
            return tuple
        convert_item = item
        return lambda values: tuple(convert_item(v) for v in values)
    kind = field_enum(hint)
    if kind is None:
        return None
    if issubclass(kind, enum.IntFlag):
        return kind
    members = kind._value2member_map_
    return lambda value: members.get(value, value)


class CompilableAdapter(_AdapterBase):
    """An Adapter whose compiled form is the compiled subcon wrapped in its own methods.

    construct cannot compile a user Adapter and would fall back to parsing the
    whole subtree with the slow reference parser; this keeps the subtree
    compiled and calls ``_decode``/``_encode`` around it.
    """

    def _emitparse(self, code: Any) -> str:
        self._compileinstance(code)  # type: ignore[attr-defined]
        inner = self.subcon._compileparse(code)  # type: ignore[attr-defined]
        return f"linkedinstances[{id(self)}]._decode({inner}, this, None)"

    def _emitbuild(self, code: Any) -> str:
        self._compileinstance(code)  # type: ignore[attr-defined]
        inner = self.subcon._compilebuild(code)  # type: ignore[attr-defined]
        return f"reuse(linkedinstances[{id(self)}]._encode(obj, this, None), lambda obj: ({inner}))"


class Record(CompilableAdapter, Generic[T]):
    """A construct ``Struct`` seen as a frozen dataclass.

    Each dataclass field with ``init=True`` maps to the construct field named by
    its ``spec`` metadata; construct fields without a dataclass field (lengths,
    counts) are derived on build and dropped on parse.
    """

    def __init__(self, cls: type[T], subcon: Construct[Any, Any]) -> None:
        super().__init__(subcon)
        self.cls = cls
        self._factory: Callable[..., T] = cls
        hints = typing.get_type_hints(cls)
        plan: list[tuple[str, str, Callable[[Any], Any] | None]] = []
        for field in dataclasses.fields(typing.cast(Any, cls)):
            if field.init:
                plan.append((field.name, field.metadata["spec"], _converter(hints[field.name])))
        self._plan = tuple(plan)

    def _decode(self, obj: Any, context: Any, path: Any) -> T:
        kwargs = {}
        for name, spec_name, convert in self._plan:
            value = obj[spec_name]
            kwargs[name] = value if convert is None else convert(value)
        return self._factory(**kwargs)

    def _encode(self, obj: Any, context: Any, path: Any) -> Any:
        if not isinstance(obj, self.cls):
            raise construct.AdaptationError(
                f"expected {self.cls.__name__}, got {type(obj).__name__}", path=path
            )
        return {spec_name: getattr(obj, name) for name, spec_name, _ in self._plan}


class UInt32Array(CompilableAdapter):
    """A byte string read as little-endian 32-bit integers; its length must be a multiple of 4."""

    def _decode(self, obj: Any, context: Any, path: Any) -> list[int]:
        if len(obj) % 4:
            raise construct.ValidationError(
                f"{len(obj)} bytes is not a whole number of 32-bit values", path=path
            )
        return list(struct.unpack(f"<{len(obj) // 4}I", obj))

    def _encode(self, obj: Any, context: Any, path: Any) -> Any:
        try:
            return struct.pack(f"<{len(obj)}I", *obj)
        except (struct.error, TypeError) as error:
            raise construct.ValidationError(f"not 32-bit values: {error}", path=path) from None


class ExactBytes(construct.Bytes):
    """``Bytes`` that checks the length in its compiled form too, and builds only bytes."""

    def _build(self, obj: Any, stream: typing.IO[bytes], context: Any, path: str) -> Any:
        # construct's Bytes turns an int into its big-endian bytes; the compiled form
        # (`_write_exact`) and the struct engine refuse one, and so does this.
        if not isinstance(obj, bytes | bytearray):
            raise construct.StringError(f"expected bytes, got {type(obj).__name__}", path=path)
        return super()._build(obj, stream, context, path)

    def _read_exact(self, stream: typing.IO[bytes], length: int) -> bytes:
        data = stream.read(length)
        if len(data) != length:
            raise construct.StreamError(
                f"stream read less than specified amount, expected {length}, found {len(data)}"
            )
        return data

    def _write_exact(self, stream: typing.IO[bytes], data: bytes, length: int) -> bytes:
        if not isinstance(data, bytes | bytearray) or len(data) != length:
            raise construct.StreamError(
                f"bytes object of wrong length, expected {length}, "
                f"found {len(data) if isinstance(data, bytes | bytearray) else type(data).__name__}"
            )
        stream.write(data)
        return data

    def _emitparse(self, code: Any) -> str:
        self._compileinstance(code)  # type: ignore[attr-defined]
        return f"linkedinstances[{id(self)}]._read_exact(io, {self.length!r})"

    def _emitbuild(self, code: Any) -> str:
        self._compileinstance(code)  # type: ignore[attr-defined]
        return f"linkedinstances[{id(self)}]._write_exact(io, obj, {self.length!r})"


class CheckedPrefixedArray(_SubconstructBase):
    """``PrefixedArray`` whose count is checked against the bytes left first.

    ``min_size`` is the smallest encoding of one element; a count that cannot
    fit in what is left of the stream fails before any element is parsed, at
    the offset of the count field.
    """

    def __init__(
        self, countfield: Construct[int, int], subcon: Construct[Any, Any], min_size: int
    ) -> None:
        super().__init__(subcon)
        self.countfield = countfield
        self.min_size = min_size

    def _check_count(self, stream: typing.IO[bytes], count: int, start: int, path: str) -> None:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        if count * self.min_size > end - position:
            stream.seek(start)
            raise construct.RangeError(
                f"count {count} needs at least {count * self.min_size} bytes, "
                f"{end - position} left",
                path=path,
            )

    def _parse(self, stream: typing.IO[bytes], context: Any, path: str) -> Any:
        start = stream.tell()
        count = self.countfield._parsereport(stream, context, path)
        self._check_count(stream, count, start, path)
        return ListContainer(self.subcon._parsereport(stream, context, path) for _ in range(count))

    def _build(self, obj: Any, stream: typing.IO[bytes], context: Any, path: str) -> Any:
        self.countfield._build(len(obj), stream, context, path)
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise construct.SizeofError("array of variable length", path=path)

    def _parse_compiled(self, stream: typing.IO[bytes], count: int, start: int) -> int:
        self._check_count(stream, count, start, "(compiled)")
        return count

    def _emitparse(self, code: Any) -> str:
        self._compileinstance(code)  # type: ignore[attr-defined]
        count = self.countfield._compileparse(code)  # type: ignore[attr-defined]
        item = self.subcon._compileparse(code)  # type: ignore[attr-defined]
        return (
            f"ListContainer(({item}) for i in range("
            f"linkedinstances[{id(self)}]._parse_compiled(io, {count}, io.tell())))"
        )

    def _emitbuild(self, code: Any) -> str:
        count = self.countfield._compilebuild(code)  # type: ignore[attr-defined]
        item = self.subcon._compilebuild(code)  # type: ignore[attr-defined]
        return f"(reuse(len(obj), lambda obj: {count}), list({item} for obj in obj), obj)[2]"


def build_error(structure: str, error: Exception) -> PduError:
    """The `PduError` for an object the reference construct could not build."""
    if isinstance(error, construct.ConstructError):
        return PduError(structure, _reason(error), field=_path(error))
    return PduError(structure, str(error) or type(error).__name__)


def _path(error: construct.ConstructError) -> str:
    parts = [p.strip() for p in (error.path or "").split("->")]
    return ".".join(p for p in parts if p and not p.startswith("("))


def _reason(error: construct.ConstructError) -> str:
    text = str(error)
    if text.startswith("Error in path"):
        text = text.split("\n", 1)[-1]
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first.rstrip(".")
