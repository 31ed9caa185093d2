"""The live feed's pacing (rdplic.web.site.WebConsole) on a fake reactor clock, no network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from twisted.internet.task import Clock

from rdplic.store import SqliteStore
from rdplic.web.site import BURST, TICK, WebConsole, WebOptions


class _Feed:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def write(self, data: bytes) -> None:
        self.frames.append(data.decode())

    def events(self, name: str) -> list[str]:
        return [f for f in self.frames if f.startswith(f"event: {name}\n")]


class _Protocol:
    def __init__(self, n: int) -> None:
        self.n = n

    def summary(self) -> dict[str, Any]:
        return {"peer": f"127.0.0.1:{1000 + self.n}", "outcome": "new_license", "license_id": 1}


def _console(tmp_path: Path) -> tuple[WebConsole, _Feed, Clock]:
    store = SqliteStore(tmp_path / "licenses.sqlite3")
    factory = SimpleNamespace(watchers=[], active=set())
    clock = Clock()
    console = WebConsole(SimpleNamespace(store=store, admin=None), factory, clock, WebOptions())
    feed = _Feed()
    console.feeds.append(feed)  # type: ignore[arg-type]
    return console, feed, clock


def test_feed_sends_a_burst_then_one_event_per_tick(tmp_path: Path) -> None:
    """Up to BURST connection events go out at once; the rest become one 'many' per tick."""
    console, feed, _ = _console(tmp_path)
    for n in range(BURST + 15):
        console.factory.watchers[0]("closed", _Protocol(n))
    assert len(feed.events("connection")) == BURST
    console._tick()
    assert len(feed.events("connection")) == BURST + 1
    assert '"event": "many"' in feed.events("connection")[-1]
    assert len(console.recent) == BURST + 15
    assert console.recent[0]["outcome"] == "new_license"


def test_store_changes_are_announced_at_most_once_a_second(tmp_path: Path) -> None:
    """Many closed connections in one second make one 'changed' event, not one each."""
    console, feed, _ = _console(tmp_path)
    for n in range(5):
        console.factory.watchers[0]("closed", _Protocol(n))
    for _ in range(int(1.0 / TICK)):
        console._tick()
    assert len(feed.events("changed")) == 1
    for _ in range(int(1.0 / TICK)):
        console._tick()
    assert len(feed.events("changed")) == 1
