"""rdplic.net.logs: JSON Lines and text lines from Twisted log events (issue 12)."""

from __future__ import annotations

import io
import json

from twisted.logger import Logger, LogLevel, LogPublisher

from rdplic.net.logs import CONNECTION_KEYS, LINE_KEYS, LogObserver


def _lines(json_lines: bool, minimum: LogLevel = LogLevel.info) -> tuple[io.StringIO, Logger]:
    stream = io.StringIO()
    publisher = LogPublisher(LogObserver(stream, json_lines=json_lines, minimum=minimum))
    return stream, Logger(namespace="rdplic.test", observer=publisher)


def test_a_failure_is_one_json_line_with_its_traceback() -> None:
    """log.failure: one JSON object on one line, level critical, the traceback in its key."""
    stream, log = _lines(json_lines=True)
    try:
        raise ValueError("boom")
    except ValueError:
        log.failure("internal error on {peer}", peer="127.0.0.1:1")
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert list(record) == [*LINE_KEYS, "traceback"]
    assert record["level"] == "critical" and record["message"] == "internal error on 127.0.0.1:1"
    assert "ValueError: boom" in record["traceback"]


def test_connection_line_carries_every_connection_key() -> None:
    """An event with ``connection`` gets all CONNECTION_KEYS, null for what it lacks."""
    stream, log = _lines(json_lines=True)
    log.info("connection {peer}", peer="p", connection={"peer": "p", "outcome": "ended"})
    record = json.loads(stream.getvalue())
    assert list(record) == [*LINE_KEYS, *CONNECTION_KEYS]
    assert record["outcome"] == "ended" and record["license_id"] is None


def test_twisted_info_lines_are_debug() -> None:
    """Info lines from outside rdplic (Twisted's port and factory lines) appear only at debug;
    warnings from anywhere and rdplic's own info lines always do."""
    for minimum, expected in ((LogLevel.info, 2), (LogLevel.debug, 3)):
        stream = io.StringIO()
        publisher = LogPublisher(LogObserver(stream, json_lines=False, minimum=minimum))
        Logger(namespace="log_legacy", observer=publisher).info("(TCP Port 1 Closed)")
        Logger(namespace="twisted.internet", observer=publisher).warn("a warning")
        Logger(namespace="rdplic.serve", observer=publisher).info("store closed")
        assert len(stream.getvalue().splitlines()) == expected, stream.getvalue()
