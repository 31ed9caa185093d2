"""Where the license server's time comes from.

Licensing is all about dates (90-day temporary licenses, CALs that expire after 52-89
days, 7-day renewal windows, a 120-day grace period), so time is injected: the
service never reads the wall clock itself. `SystemClock` is real time plus an
administrator offset kept in the store, so ``rdplic clock advance 91d`` in one process
moves the clock of ``rdplic serve`` in another; `FixedClock` is for tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "format_duration", "parse_duration"]


class Clock(Protocol):
    """A source of timezone-aware UTC datetimes."""

    def now(self) -> datetime: ...


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


class SystemClock:
    """Real UTC time plus the administrator's offset.

    ``offset`` is called on every `now` so that a change made by another process (the
    offset lives in the store) is seen at once; ``wall`` is injectable for tests.
    """

    def __init__(
        self,
        offset: Callable[[], timedelta] = lambda: timedelta(0),
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._offset = offset
        self._wall = wall

    def now(self) -> datetime:
        return self._wall() + self._offset()

    def offset(self) -> timedelta:
        return self._offset()


_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+)\s*([wdhms])")


def parse_duration(text: str) -> timedelta:
    """ "91d", "12h", "30m", "45s", "2w" or combinations such as "1d12h" (no sign)."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"duration {text!r} is not like 91d, 12h, 30m, 45s or 1d12h")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of `parse_duration` (with a leading "-" for negative offsets)."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    if total == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, total = divmod(total, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
