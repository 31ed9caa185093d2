"""The one error type of every decoder and encoder in `pdu/`.

A decoder given any byte string either returns a typed object or raises
`PduError`; nothing else may escape (architecture invariant 3 and the
property tests in `tests/pdu/`).  The error names the structure being
decoded, the path of the field inside it (construct's path, in the spec's
field names) and the byte offset where decoding stopped, so that a tester
can find the byte in a hex dump.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TypeVar

import construct

__all__ = ["PduError", "guarded"]

T = TypeVar("T")

# construct prefixes its messages with "Error in path (parsing) -> a -> b\n".
_PATH_PREFIX = re.compile(r"^Error in path [^\n]*\n", re.DOTALL)


class PduError(ValueError):
    """Malformed (or unencodable) input for one wire structure.

    :ivar structure: the spec's name of the structure (``SERVER_LICENSE_REQUEST``)
    :ivar field: dotted path of the failing field inside it (``ProductInfo.cbCompanyName``),
        empty when the structure as a whole is wrong
    :ivar offset: byte offset from the start of the decoded buffer, or -1 when unknown
    :ivar reason: short lower-case reason, without trailing punctuation
    """

    def __init__(self, structure: str, reason: str, *, field: str = "", offset: int = -1) -> None:
        self.structure = structure
        self.field = field
        self.offset = offset
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.structure + (f".{self.field}" if self.field else "")
        at = f" at offset {self.offset}" if self.offset >= 0 else ""
        return f"{where}{at}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.structure, self.reason, self.field, self.offset))


def _rebuild(structure: str, reason: str, field: str, offset: int) -> PduError:
    return PduError(structure, reason, field=field, offset=offset)


def _construct_path(error: construct.ConstructError) -> str:
    path = error.path or ""
    # "(parsing) -> ProductInfo -> cbCompanyName" -> "ProductInfo.cbCompanyName"
    parts = [p.strip() for p in path.split("->")]
    parts = [p for p in parts if p and not p.startswith("(")]
    return ".".join(parts)


def _construct_reason(error: construct.ConstructError) -> str:
    text = _PATH_PREFIX.sub("", str(error)).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first.rstrip(".")


def guarded(structure: str, data: bytes, parse: Callable[[io.BytesIO], T]) -> T:
    """Run ``parse`` over ``data`` and turn every failure into `PduError`.

    ``parse`` receives a BytesIO positioned at 0; the offset reported on
    failure is where that stream stopped.  Any exception other than
    `PduError` (construct's, or a ``ValueError``/``UnicodeDecodeError``
    from an adapter) is wrapped: decoders never leak another type.
    """
    stream = io.BytesIO(data)
    try:
        return parse(stream)
    except PduError:
        raise
    except construct.ConstructError as error:
        raise PduError(
            structure,
            _construct_reason(error),
            field=_construct_path(error),
            offset=stream.tell(),
        ) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError) as error:
        raise PduError(
            structure, str(error) or type(error).__name__, offset=stream.tell()
        ) from None
