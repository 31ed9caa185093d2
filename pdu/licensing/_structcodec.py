"""The struct engine of `pdu.licensing`: straight-line Python generated from its definitions.

construct's own ``compile()`` makes the licensing decoders about 3x faster,
but its compiled Structs still build two ``Container`` objects per structure
and go through a ``BytesIO``: the License Request (MS-RDPELE 4.1) took 34 us
to decode.  The subset of construct that `pdu.licensing` uses is small —
``Struct`` inside `Record`, little-endian ``FormatField``, ``Rebuild`` of a
``FormatField``, `ExactBytes` of a constant or ``this.field`` length,
`CheckedPrefixedArray` and `UInt32Array` — so this module turns a `Record`
tree into one decode and one encode function per structure, built on
``struct.unpack_from`` over the input bytes and writing the dataclasses
directly (the "struct path"; RDP's Fast-Path PDUs are something else).

The construct definitions remain the source of truth: `compile_record`
returns None for anything outside the subset (`Codec` then runs the
definition itself), and the generated functions never report errors
themselves — on input they do not take they raise `_Malformed` (or let
``struct`` raise ``struct.error``), and `Codec` reruns the construct
definition, whose `PduError` names the field and offset.  ``engine="construct"``
runs the definition only; tests check that both engines agree.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import re
import struct
import typing
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import construct

from rdplic.pdu._types import Engine, check_engine
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.licensing._codec import (
    BUILD_ERRORS,
    CheckedPrefixedArray,
    ExactBytes,
    Record,
    UInt32Array,
    build_error,
    field_enum,
)

__all__ = ["Codec", "DeclinedError", "StructCodec", "compile_record"]

T = TypeVar("T")

_THIS_FIELD = re.compile(r"^this\['(\w+)'\]$")

_REBUILDS = (
    (re.compile(r"^len_\(this\['(\w+)'\]\)$"), "_len({})"),
    (re.compile(r"^\(len_\(this\['(\w+)'\]\) \* 4\)$"), "_len({}) * 4"),
)
"""Rebuild expressions generated inline: ``len_(this.x)`` and ``len_(this.x) * 4``."""


class _Unsupported(Exception):
    """The definition uses a construct the generator does not know."""


class _Malformed(Exception):
    """Raised by generated code for input it does not take; `Codec` then asks the
    construct definition why."""


@dataclasses.dataclass(frozen=True, slots=True)
class StructCodec:
    """Generated decode and encode functions of one `Record` tree (the struct engine)."""

    parse: Callable[[bytes, int], tuple[Any, int]]
    build: Callable[[Any, list[bytes]], None]
    source: str


def _unwrap(sc: Any) -> tuple[str | None, Any]:
    name = None
    while isinstance(sc, construct.Renamed):
        name = name or sc.name
        sc = sc.subcon
    return name, sc


def _is_format(sc: Any) -> bool:
    return isinstance(sc, construct.FormatField) and sc.fmtstr[0] == "<"


def _runs(subcons: list[tuple[Any, Any]]) -> Iterator[tuple[str | None, list[tuple[Any, Any]]]]:
    """The fields of a Struct in order, consecutive little-endian integers (plain or
    ``Rebuild``) together: ``(format, fields)`` for such a run, which one ``struct`` call
    reads or writes, and ``(None, [field])`` for any other field."""
    run: list[tuple[Any, Any]] = []
    for name, sc in subcons:
        if _is_format(_integer(sc)):
            run.append((name, sc))
            continue
        if run:
            yield _format(run), run
            run = []
        yield None, [(name, sc)]
    if run:
        yield _format(run), run


def _integer(sc: Any) -> Any:
    """The field a ``Rebuild`` computes, or ``sc`` itself."""
    return sc.subcon if isinstance(sc, construct.Rebuild) else sc


def _format(run: list[tuple[Any, Any]]) -> str:
    return "<" + "".join(_integer(sc).fmtstr[1:] for _, sc in run)


def _array_parts(sc: CheckedPrefixedArray) -> tuple[Any, Record[Any]]:
    """The count field and the element Record of an array the generator supports."""
    _, count = _unwrap(sc.countfield)
    _, item = _unwrap(sc.subcon)
    if not _is_format(count) or not isinstance(item, Record):
        raise _Unsupported("CheckedPrefixedArray of this kind")
    return count, item


class _Generator:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "_Malformed": _Malformed,
            "_struct": struct,
            "_bytes": bytes,
            "_bytearray": bytearray,
            "_isinstance": isinstance,
            "_len": len,
            "_tuple": tuple,
            "_new": object.__new__,
        }
        self.names: dict[int, tuple[str, str]] = {}
        self.counter = 0

    def _const(self, prefix: str, value: Any) -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.env[name] = value
        return name

    def record(self, rec: Record[Any]) -> tuple[str, str]:
        """Emit the parse and build functions of a Record; return their names."""
        if id(rec) in self.names:
            return self.names[id(rec)]
        struct_sc = rec.subcon
        if not isinstance(struct_sc, construct.Struct):
            raise _Unsupported(type(struct_sc).__name__)
        self.counter += 1
        names = (f"parse_{self.counter}", f"build_{self.counter}")
        self.names[id(rec)] = names
        subcons = [_unwrap(sc) for sc in struct_sc.subcons]
        self._emit_parse(names[0], rec, subcons)
        self._emit_build(names[1], rec, subcons)
        return names

    # -- parsing ---------------------------------------------------------

    def _emit_parse(self, fname: str, rec: Record[Any], subcons: list[tuple[Any, Any]]) -> None:
        body: list[str] = []
        local: dict[str, str] = {}
        for fmt, run in _runs(subcons):
            if fmt is None:
                ((name, sc),) = run
                var = f"v{len(local)}"
                local[name] = var
                body.extend(self._parse_field(var, sc, local))
                continue
            packer = self._const("S", struct.Struct(fmt))
            targets = []
            for name, _ in run:
                var = f"v{len(local)}"
                local[name] = var
                targets.append(var)
            body.append(f"{', '.join(targets)}, = {packer}.unpack_from(data, pos)")
            body.append(f"pos += {struct.calcsize(fmt)}")
        body.extend(self._construct(rec, local))
        self.lines.append(f"def {fname}(data, pos):")
        self.lines.extend(f"    {line}" for line in body)
        self.lines.append("    return obj, pos")
        self.lines.append("")

    def _length(self, length: Any, local: dict[str, str]) -> str:
        if isinstance(length, int):
            return str(length)
        match = _THIS_FIELD.match(repr(length))
        if match is None:
            raise _Unsupported(f"length {length!r}")
        if match.group(1) not in local:
            raise _Unsupported(f"length from unknown field {match.group(1)}")
        return local[match.group(1)]

    def _parse_field(self, var: str, sc: Any, local: dict[str, str]) -> list[str]:
        if isinstance(sc, ExactBytes):
            n = self._length(sc.length, local)
            return [
                f"end = pos + {n}",
                f"{var} = data[pos:end]",
                f"if _len({var}) != {n}: raise _Malformed",
                "pos = end",
            ]
        if isinstance(sc, Record):
            parse_name, _ = self.record(sc)
            return [f"{var}, pos = {parse_name}(data, pos)"]
        if isinstance(sc, UInt32Array):
            _, inner = _unwrap(sc.subcon)
            if not isinstance(inner, ExactBytes):
                raise _Unsupported("UInt32Array over something else than ExactBytes")
            n = self._length(inner.length, local)
            return [
                f"if {n} % 4: raise _Malformed",
                f"end = pos + {n}",
                "if end > _len(data): raise _Malformed",
                f"{var} = _struct.unpack_from('<%dI' % ({n} // 4), data, pos)",
                "pos = end",
            ]
        if isinstance(sc, CheckedPrefixedArray):
            count, item = _array_parts(sc)
            counter = self._const("S", struct.Struct(count.fmtstr))
            parse_name, _ = self.record(item)
            return [
                f"count, = {counter}.unpack_from(data, pos)",
                f"pos += {count.length}",
                f"if count * {sc.min_size} > _len(data) - pos: raise _Malformed",
                f"{var} = []",
                "for _ in range(count):",
                f"    item, pos = {parse_name}(data, pos)",
                f"    {var}.append(item)",
            ]
        raise _Unsupported(type(sc).__name__)

    def _construct(self, rec: Record[Any], local: dict[str, str]) -> list[str]:
        """Lines that build the dataclass into ``obj``.

        A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` for every
        field; for a slotted class without ``__post_init__`` whose fields all come from
        the wire, setting the slots directly gives the same object about a third faster.
        """
        cls = rec.cls
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(typing.cast(Any, cls))
        values = {
            f.name: self._convert(local[f.metadata["spec"]], hints[f.name])
            for f in fields
            if f.init
        }
        cls_name = self._const("C", cls)
        direct = (
            "__slots__" in vars(cls)
            and not hasattr(cls, "__post_init__")
            and all(f.init for f in fields)
        )
        if not direct:
            args = ", ".join(
                f"{f.name}={values[f.name]}" if f.kw_only else values[f.name]
                for f in fields
                if f.init
            )
            return [f"obj = {cls_name}({args})"]
        lines = [f"obj = _new({cls_name})"]
        for f in fields:
            setter = self._const("set_", getattr(cls, f.name).__set__)
            lines.append(f"{setter}(obj, {values[f.name]})")
        return lines

    def _convert(self, var: str, hint: Any) -> str:
        if typing.get_origin(hint) is tuple:
            item = self._convert("x", typing.get_args(hint)[0])
            return f"_tuple({var})" if item == "x" else f"_tuple([{item} for x in {var}])"
        kind = field_enum(hint)
        if kind is None:
            return var
        if issubclass(kind, enum.IntFlag):
            return f"{self._const('F', kind)}({var})"
        members = self._const("M", kind._value2member_map_)
        return f"{members}.get({var}, {var})"

    # -- building --------------------------------------------------------

    def _emit_build(self, fname: str, rec: Record[Any], subcons: list[tuple[Any, Any]]) -> None:
        cls = self._const("C", rec.cls)
        body = [f"if not _isinstance(obj, {cls}): raise _Malformed"]
        local: dict[str, str] = {}
        for field in dataclasses.fields(typing.cast(Any, rec.cls)):
            if field.init:
                var = f"b{len(local)}"
                local[field.metadata["spec"]] = var
                body.append(f"{var} = obj.{field.name}")
        rebuilds = [sc for _, sc in subcons if isinstance(sc, construct.Rebuild)]
        if any(self._rebuild_expr(sc.func, local) is None for sc in rebuilds):
            # A Rebuild this generator cannot inline gets the context construct would pass.
            pairs = ", ".join(f"{name!r}: {var}" for name, var in local.items())
            body.append(f"ctx = {{{pairs}}}")
        for fmt, run in _runs(subcons):
            if fmt is None:
                ((name, sc),) = run
                body.extend(self._build_field(local[name], sc, local))
                continue
            for name, sc in run:
                if isinstance(sc, construct.Rebuild):
                    var = f"b{len(local)}"
                    expr = self._rebuild_expr(sc.func, local)
                    if expr is None:
                        body.append(f"{var} = ctx[{name!r}] = {self._const('R', sc.func)}(ctx)")
                    else:
                        body.append(f"{var} = {expr}")
                    local[name] = var
            packer = self._const("S", struct.Struct(fmt))
            values = ", ".join(local[name] for name, _ in run)
            body.append(f"out.append({packer}.pack({values}))")
        self.lines.append(f"def {fname}(obj, out):")
        self.lines.extend(f"    {line}" for line in body)
        self.lines.append("")

    def _rebuild_expr(self, func: Any, local: dict[str, str]) -> str | None:
        """Inline Python for the Rebuild expressions the definitions use, else None."""
        text = repr(func)
        for pattern, template in _REBUILDS:
            match = pattern.match(text)
            if match and match.group(1) in local:
                return template.format(local[match.group(1)])
        return None

    def _build_field(self, value: str, sc: Any, local: dict[str, str]) -> list[str]:
        if isinstance(sc, ExactBytes):
            n = self._length(sc.length, local)
            return [
                f"v = {value}",
                "if not _isinstance(v, (_bytes, _bytearray)): raise _Malformed",
                f"if _len(v) != {n}: raise _Malformed",
                "out.append(_bytes(v))",
            ]
        if isinstance(sc, Record):
            _, build_name = self.record(sc)
            return [f"{build_name}({value}, out)"]
        if isinstance(sc, UInt32Array):
            return [
                f"v = {value}",
                "out.append(_struct.pack('<%dI' % _len(v), *v))",
            ]
        if isinstance(sc, CheckedPrefixedArray):
            count, item = _array_parts(sc)
            counter = self._const("S", struct.Struct(count.fmtstr))
            _, build_name = self.record(item)
            return [
                f"v = {value}",
                f"out.append({counter}.pack(_len(v)))",
                "for item in v:",
                f"    {build_name}(item, out)",
            ]
        raise _Unsupported(type(sc).__name__)


def compile_record(rec: Record[Any]) -> StructCodec | None:
    """Generate the struct decode/encode pair of ``rec``, or None if it is outside the subset."""
    generator = _Generator()
    try:
        parse_name, build_name = generator.record(rec)
    except _Unsupported:
        return None
    source = "\n".join(generator.lines)
    namespace = dict(generator.env)
    exec(compile(source, f"<pdu struct codec for {rec.cls.__name__}>", "exec"), namespace)
    return StructCodec(namespace[parse_name], namespace[build_name], source)


_PARSE_DECLINED = (_Malformed, struct.error)
"""What generated parse code raises for input it does not take: its own checks
(`_Malformed`), and ``unpack_from`` reading past the end (``struct.error``, the
generated code's bounds check).  Anything else is a bug in the generator and propagates."""

_BUILD_DECLINED = (_Malformed, struct.error, TypeError)
"""What generated build code raises for an object it cannot encode: its own type and
length checks (`_Malformed`), ``struct.pack`` refusing a value that is not an integer or
does not fit (``struct.error``), and ``len()`` or iteration of a field of the wrong type
(``TypeError``: an object the caller built wrong, which the construct definition refuses
too).  Anything else is a bug in the generator and propagates."""


class DeclinedError(PduError):
    """The `PduError` of an input the struct engine declined, worded when first read.

    Whether an input is refused never depends on the construct definition: once the struct
    engine has declined it, `Codec.parse` raises a `PduError` whatever the definition says
    (its own error, or the disagreement).  The definition only words the error (the field
    path and byte offset that architecture invariant 3 asks for), and rerunning it cost about
    three times the decode itself on every refused input: most of a fuzzer's inputs
    (``rdplic fuzz decode:licensing_pdu`` went from about 17,000 to about 90,000 inputs a
    second) and every frame of a flood of garbage.  So ``structure``, ``field``, ``offset``
    and ``reason`` (and ``str()``, pickling) run the definition on first read and keep
    its answer; the error is otherwise an ordinary `PduError`.
    """

    _LAZY = frozenset({"structure", "field", "offset", "reason"})

    def __init__(self, codec: Codec[Any], data: bytes, start: int) -> None:
        # PduError.__init__ would word the message now, which is what this class defers.
        ValueError.__init__(self)
        self._codec = codec
        self._data = data
        self._start = start

    def __getattr__(self, name: str) -> Any:
        """Only the four wording attributes are missing until first read."""
        if name not in DeclinedError._LAZY:
            raise AttributeError(name)
        explained = self._codec.explain(self._data, self._start)
        self.structure = explained.structure
        self.field = explained.field
        self.offset = explained.offset
        self.reason = explained.reason
        self.args = (str(self),)
        return getattr(self, name)

    def __repr__(self) -> str:
        return f"PduError({str(self)!r})"


class Codec(Generic[T]):
    """Decode and encode one wire structure defined by a `Record`.

    With ``engine="struct"`` the code generated by `compile_record` runs first.
    When it declines an input to decode (`_PARSE_DECLINED`), the `PduError` raised is a
    `DeclinedError`, which runs the construct definition under `guarded` when first read,
    so that it carries the spec's field path and the byte offset; if the definition
    succeeds where the struct engine declined, that is a disagreement (a bug in the
    generator) and the error says so, never hidden.  An object it declines to encode
    (`_BUILD_DECLINED`) goes to the definition at once, with the same disagreement check.
    With ``engine="construct"`` only the definition runs (as it does for a definition
    outside the generator's subset).
    """

    def __init__(self, structure: str, definition: Record[T]) -> None:
        self.structure = structure
        self.definition = definition
        self.struct_codec = compile_record(definition)

    def parse(self, data: bytes, offset: int = 0, *, engine: Engine = "struct") -> tuple[T, int]:
        """Parse from ``offset``; return the object and the offset where it ended.

        An input the struct engine declines raises `DeclinedError` at once: a `PduError`
        whose field, offset and reason the construct definition works out when first read.
        """
        struct_codec = self.struct_codec if engine == "struct" else None
        if struct_codec is not None:
            try:
                return struct_codec.parse(data, offset)
            except _PARSE_DECLINED:
                raise DeclinedError(self, bytes(data), offset) from None
        if engine != "struct":
            check_engine(engine)
        return self._parse_definition(data, offset)

    def _parse_definition(self, data: bytes, offset: int) -> tuple[T, int]:
        def definition(stream: io.BytesIO) -> tuple[T, int]:
            stream.seek(offset)
            obj = self.definition.parse_stream(stream)
            return obj, stream.tell()

        return guarded(self.structure, data, definition)

    def explain(self, data: bytes, offset: int) -> PduError:
        """Why the struct engine declined ``data`` at ``offset``: the construct definition's
        `PduError`, or, if the definition takes the input, the disagreement (a bug of the
        generator, never hidden)."""
        try:
            self._parse_definition(data, offset)
        except PduError as error:
            return error
        return PduError(self.structure, "the struct decoder disagrees with construct")

    def build(self, obj: T, *, engine: Engine = "struct") -> bytes:
        """Encode ``obj``; a value that cannot be encoded raises `PduError`."""
        struct_codec = self.struct_codec if engine == "struct" else None
        if struct_codec is not None:
            out: list[bytes] = []
            try:
                struct_codec.build(obj, out)
                return b"".join(out)
            except _BUILD_DECLINED:
                pass
        elif engine != "struct":
            check_engine(engine)
        try:
            data = self.definition.build(obj)
        except BUILD_ERRORS as error:
            raise build_error(self.structure, error) from None
        if struct_codec is not None:
            raise PduError(self.structure, "the struct encoder disagrees with construct")
        return data
