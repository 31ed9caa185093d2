"""A typed JSON view of the PDU dataclasses of `pdu`, and its inverse.

`to_json` walks any frozen PDU dataclass by its fields and type hints and
returns plain JSON values that a tester can read next to the spec:

* keys are the spec's field names (the ``spec("...")`` metadata), falling
  back to the Python name;
* integers are numbers, bytes lowercase hex;
* text kept as bytes (``Utf16`` / ``Ansi``) is ``{"hex": ..., "text": ...}``;
* enumerated values are ``{"value": 1, "name": "LICENSE_REQUEST"}``, with
  ``"name": null`` for a value the enum does not list;
* nested dataclasses are objects; where a field may hold one of several
  dataclasses (a union), the object also has ``"type"``: the class name
  (``"@type"`` for a class that has a field shown as "type").

`from_json` rebuilds the object from that output — and is lenient where a
person editing JSON by hand would want it: plain numbers or names for enums,
plain hex strings or ``{"text": ...}`` for text.  For every PDU,
``encode(from_json(cls, to_json(decode(b)))) == b``.

Nothing here knows a particular PDU: it is driven by `dataclasses.fields`
and `typing.get_type_hints(include_extras=True)` only.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any

from rdplic.errors import RdplicError
from rdplic.pdu._types import TextEncoding

__all__ = ["PduJsonError", "from_json", "to_json"]

JsonValue = Any
"""What `json.dumps` accepts: dict, list, str, int, bool, None."""

_NONE = type(None)


class PduJsonError(RdplicError):
    """JSON that does not describe a PDU object; names the path of the bad value."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def _fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], str, Any], ...]:
    """(field, JSON key, type hint) of each field of a dataclass."""
    hints = _hints(cls)
    return tuple(
        (f, f.metadata.get("spec", f.name), hints[f.name]) for f in dataclasses.fields(cls)
    )


def _split_annotated(hint: Any) -> tuple[Any, TextEncoding | None]:
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        text = next((x for x in extras if isinstance(x, TextEncoding)), None)
        return base, text
    return hint, None


def _union_members(hint: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return None


def _enum_in(hint: Any) -> type[enum.Enum] | None:
    members = _union_members(hint) or (hint,)
    for member in members:
        if isinstance(member, type) and issubclass(member, enum.Enum):
            return member
    return None


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _type_key(cls: type) -> str:
    """The key naming the class of a union member: "type", or "@type" when the class has a
    field shown as "type" itself."""
    return "@type" if any(key == "type" for _, key, _ in _fields(cls)) else "type"


# -- to JSON ---------------------------------------------------------------


def to_json(obj: Any, hint: Any = None) -> JsonValue:
    """The JSON value of a PDU dataclass (or of any value of a field of one)."""
    return _dump(obj, type(obj) if hint is None else hint)


def _dump(value: Any, hint: Any) -> JsonValue:
    hint, text = _split_annotated(hint)
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return {"value": value.value, "name": value.name}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if _enum_in(hint) is not None:
            return {"value": int(value), "name": None}
        return int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if text is not None:
            return {"hex": data.hex(), "text": data.decode(text.codec, errors="replace")}
        return data.hex()
    if isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JsonValue] = {}
        members = _union_members(hint)
        if members is not None and sum(_is_dataclass_type(m) for m in members) > 1:
            out[_type_key(type(value))] = type(value).__name__
        for field, key, field_hint in _fields(type(value)):
            out[key] = _dump(getattr(value, field.name), field_hint)
        return out
    if isinstance(value, tuple | list):
        args = typing.get_args(hint)
        item_hint = args[0] if args else Any
        return [_dump(item, item_hint) for item in value]
    raise PduJsonError(f"cannot show a {type(value).__name__} as JSON")


# -- from JSON -------------------------------------------------------------


def from_json(cls: Any, value: JsonValue) -> Any:
    """Rebuild a value of type ``cls`` (a PDU dataclass, or any field type) from JSON."""
    return _load(cls, value, "")


def _fail(path: str, reason: str) -> PduJsonError:
    return PduJsonError(f"{path or 'JSON'}: {reason}")


def _load(hint: Any, value: JsonValue, path: str) -> Any:
    hint, text = _split_annotated(hint)
    members = _union_members(hint)
    if members is not None:
        return _load_union(members, value, path)
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _load_enum(hint, value, path, allow_int=False)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(path, "expected true or false")
        return value
    if hint is int:
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "expected an integer")
        return value
    if hint is bytes:
        return _load_bytes(value, path, text)
    if hint is str:
        if not isinstance(value, str):
            raise _fail(path, "expected a string")
        return value
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise _fail(path, "expected a list")
        item_hint = typing.get_args(hint)[0]
        return tuple(_load(item_hint, item, f"{path}[{i}]") for i, item in enumerate(value))
    if _is_dataclass_type(hint):
        return _load_dataclass(hint, value, path)
    raise _fail(path, f"no JSON form for {hint!r}")


def _load_union(members: tuple[Any, ...], value: JsonValue, path: str) -> Any:
    if value is None:
        if _NONE in members:
            return None
        raise _fail(path, "null is not allowed here")
    classes = [m for m in members if _is_dataclass_type(m)]
    if classes:
        if len(classes) == 1:
            return _load_dataclass(classes[0], value, path)
        name = None
        if isinstance(value, dict):
            name = value.get("@type", value.get("type"))
        if not isinstance(name, str):
            names = ", ".join(c.__name__ for c in classes)
            raise _fail(path, f'needs "type": one of {names}')
        for cls in classes:
            if cls.__name__ == name:
                return _load_dataclass(cls, value, path)
        raise _fail(path, f"unknown type {name!r}")
    enum_type = next((m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)), None)
    if enum_type is not None:
        return _load_enum(enum_type, value, path, allow_int=int in members)
    rest = [m for m in members if m is not _NONE]
    if len(rest) == 1:
        return _load(rest[0], value, path)
    raise _fail(path, f"no JSON form for the union {members!r}")


def _load_enum(enum_type: type[enum.Enum], value: JsonValue, path: str, *, allow_int: bool) -> Any:
    """An enum from {"value": v, "name": n}, a bare value, or a member name."""
    if isinstance(value, dict):
        if "value" in value and value["value"] is not None:
            value = value["value"]
        elif isinstance(value.get("name"), str):
            value = value["name"]
        else:
            raise _fail(path, "expected an enumerated value")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(path, f"expected a {enum_type.__name__} value")
    try:
        return enum_type(value)
    except ValueError:
        pass
    if isinstance(value, str) and value in enum_type.__members__:
        return enum_type[value]
    if allow_int and isinstance(value, int):
        return value
    raise _fail(path, f"{value!r} is not a {enum_type.__name__}")


def _load_bytes(value: JsonValue, path: str, text: TextEncoding | None) -> bytes:
    if isinstance(value, dict):
        if "hex" in value:
            value = value["hex"]
        elif "text" in value and text is not None:
            if not isinstance(value["text"], str):
                raise _fail(path, "text must be a string")
            try:
                return value["text"].encode(text.codec)
            except UnicodeError as error:
                raise _fail(path, f"cannot encode text as {text.codec}: {error}") from None
        else:
            raise _fail(path, 'expected "hex"' + (' or "text"' if text else ""))
    if not isinstance(value, str):
        raise _fail(path, "expected a hex string")
    try:
        return bytes.fromhex("".join(value.split()))
    except ValueError:
        raise _fail(path, "not valid hex") from None


def _load_dataclass(cls: type, value: JsonValue, path: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object for {cls.__name__}")
    known = {"type", "@type"}
    kwargs: dict[str, Any] = {}
    for field, key, field_hint in _fields(cls):
        known.add(key)
        known.add(field.name)
        if not field.init:
            continue
        for name in (key, field.name):
            if name in value:
                kwargs[field.name] = _load(field_hint, value[name], f"{path}.{key}".lstrip("."))
                break
        else:
            no_default = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            if no_default:
                raise _fail(f"{path}.{key}".lstrip("."), "missing")
    unknown = sorted(set(value) - known)
    if unknown:
        raise _fail(path, f"unknown field {unknown[0]!r} for {cls.__name__}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise _fail(path, str(error)) from None
