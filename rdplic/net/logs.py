"""The server's log: Twisted's logger, to stderr or a file (created 0600), as text or JSON Lines.

Logs name users and devices, so a log file is created 0600 like every file of the
server's (architecture invariant 9); no line carries the bytes of a PDU or a secret.

``--log-format json`` writes JSON Lines: one object per line, which ``json.loads`` reads,
with the keys of `rdplic.vocabulary` (README "JSON vocabulary"): every line has ``time``
(RFC 3339 UTC), ``level``, ``logger`` and ``message``; the line that ends each connection
adds `CONNECTION_KEYS` (all of them, ``null`` where unknown); a failure adds
``traceback``. Twisted's own internals (``log_flattened``, ``__class_uuid__``, epoch
floats, the 0x1E record separator of its JSON observer) never appear.

Twisted's own lines at the info level (``RdpServerFactory starting on ...``, ``(TCP Port
... Closed)``) say nothing the server's own start and stop lines do not: they are logged at
debug (`effective_level`).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from twisted.logger import LogLevel, formatEvent, globalLogBeginner

from rdplic.files import open_private
from rdplic.vocabulary import rfc3339

__all__ = [
    "CONNECTION_KEYS",
    "LINE_KEYS",
    "LogObserver",
    "effective_level",
    "start_logging",
]

LINE_KEYS = ("time", "level", "logger", "message")
"""The keys of every JSON log line, in this order."""

CONNECTION_KEYS = (
    "peer",
    "security",
    "client_name",
    "user_name",
    "hwid",
    "outcome",
    "license_id",
    "temporary",
    "expires",
    "duration_seconds",
    "error",
)
"""The keys the connection line adds (rdplic.net.server logs them as the event's
``connection`` field)."""

_LEVELS = (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error, LogLevel.critical)
_RANK = {level: rank for rank, level in enumerate(_LEVELS)}


def effective_level(event: dict[str, Any]) -> LogLevel:
    """The event's level, with Twisted's own informational lines taken down to debug."""
    level = event.get("log_level", LogLevel.info)
    if level not in _RANK:
        level = LogLevel.info
    namespace = str(event.get("log_namespace", ""))
    ours = namespace == "rdplic" or namespace.startswith("rdplic.")
    if level is LogLevel.info and not ours and not event.get("isError"):
        level = LogLevel.debug
    return cast(LogLevel, level)  # Twisted's constants are untyped


class LogObserver:
    """Writes each event at ``minimum`` or above as one text line or one JSON line (an
    ILogObserver: Twisted calls it with each event)."""

    def __init__(self, stream: IO[str], *, json_lines: bool, minimum: LogLevel) -> None:
        self._stream = stream
        self._json = json_lines
        self._minimum = minimum

    def __call__(self, event: dict[str, Any]) -> None:
        level = effective_level(event)
        if _RANK.get(level, 1) < _RANK.get(self._minimum, 1):
            return
        record = self.record(event, level)
        if self._json:
            line = json.dumps(record, ensure_ascii=False)
        else:
            line = f"{record['time']} {record['level']:<5} {record['message']}"
            if "traceback" in record:
                line += "\n" + str(record["traceback"]).rstrip("\n")
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # pragma: no cover - a closed or full log: keep serving
            pass

    @staticmethod
    def record(event: dict[str, Any], level: LogLevel) -> dict[str, Any]:
        """The JSON object of one event (also the text line's parts)."""
        moment = datetime.fromtimestamp(float(event.get("log_time", 0.0)), UTC)
        try:
            message = formatEvent(event)
        except Exception:  # pragma: no cover - formatEvent reports its own failures
            message = str(event.get("log_format", ""))
        record: dict[str, Any] = {
            "time": rfc3339(moment),
            "level": level.name,
            "logger": str(event.get("log_namespace", "")),
            "message": message.replace("\n", " "),
        }
        connection = event.get("connection")
        if isinstance(connection, dict):
            for key in CONNECTION_KEYS:
                record[key] = connection.get(key)
        hostile = event.get("hostile")  # rdplic.hostile: serve --hostile's line
        if isinstance(hostile, dict):
            record["hostile"] = hostile
        failure = event.get("log_failure")
        if failure is not None:
            try:
                record["traceback"] = failure.getTraceback()
            except Exception:  # pragma: no cover
                record["traceback"] = repr(failure)
        return record


def start_logging(log_format: str, level: str, path: Path | None) -> IO[str]:
    """Send the global log to ``path`` (stderr when None) at ``level`` and above.

    :raises OSError: ``path`` cannot be opened (``rdplic serve`` checks it first)
    """
    stream: IO[str] = sys.stderr
    if path is not None:
        stream = open_private(path, append=True, text=True)
    observer: Any = LogObserver(
        stream, json_lines=log_format == "json", minimum=LogLevel.levelWithName(level)
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    return stream
