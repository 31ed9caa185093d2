"""The server's log: Twisted's logger, to stderr or a file (created 0600), as text or JSON.

Logs name users and devices, so a log file is created 0600 like every file of the
server's (architecture invariant 9); no line carries the bytes of a PDU or a secret.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    jsonFileLogObserver,
    textFileLogObserver,
)

from rdplic.files import open_private

__all__ = ["start_logging"]


def start_logging(log_format: str, level: str, path: Path | None) -> IO[str]:
    """Send the global log to ``path`` (stderr when None) at ``level`` and above."""
    stream: IO[str] = sys.stderr
    if path is not None:
        stream = open_private(path, append=True, text=True)
    # Twisted's zope interfaces do not type-check as classes: observers are Any here.
    observer: Any = (
        jsonFileLogObserver(stream) if log_format == "json" else textFileLogObserver(stream)
    )
    predicate: Any = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    filtering: Any = FilteringLogObserver(observer, [predicate])
    globalLogBeginner.beginLoggingTo([filtering], redirectStandardIO=False)
    return stream
