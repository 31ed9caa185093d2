"""``pytest --rdplic-captures DIR``: one test per capture, each an offline replay.

Registered as a pytest plugin (entry point ``pytest11``: ``rdplic``), so a CI that installs
rdplic gets the option without a conftest.  Every ``*.pcapng`` under DIR (the option may be
given several times) becomes a test named after its path; it passes when each recorded
connection replays identically (or "partial": recorded without secrets, identical as far as
the server's keys were not needed) and fails with the field-level diff of
``rdplic replay`` otherwise.  Without the option the plugin adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CaptureReplayFailed", "CaptureReplayItem"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("rdplic")
    group.addoption(
        "--rdplic-captures",
        action="append",
        default=[],
        metavar="DIR",
        help="replay every rdplic capture (*.pcapng) under DIR, one test per file",
    )


class CaptureReplayFailed(Exception):
    """A capture that did not replay identically."""


class CaptureReplayItem(pytest.Item):
    """One capture file, replayed offline against rdplic's cores."""

    def __init__(self, *, capture: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capture = capture

    def runtest(self) -> None:
        from rdplic.app import build_client
        from rdplic.capture.replay import replay_file

        results = replay_file(self.capture, build_client=build_client)
        if not results:
            raise CaptureReplayFailed(f"{self.capture}: no recorded connection")
        bad = [r for r in results if r.status not in ("identical", "partial") or _misshapen(r)]
        if bad:
            raise CaptureReplayFailed("\n".join(_describe(r) for r in bad))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, CaptureReplayFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.capture, None, f"replay {self.capture.name}"


def _misshapen(result: Any) -> bool:
    """A partial replay whose rest of the session has another shape than recorded."""
    return bool(result.structure) and result.structure.get("verdict") == "differs"


def _describe(result: Any) -> str:
    lines = [
        f"connection {result.connection} ({result.side}): {result.status} at frame {result.frame}"
    ]
    if result.path:
        lines.append(f"  {result.path}")
        lines.append(f"    recorded: {json.dumps(result.recorded)}")
        lines.append(f"    replayed: {json.dumps(result.replayed)}")
    if result.detail:
        lines.append(f"  {result.detail}")
    if _misshapen(result):
        structure = result.structure
        lines.append(f"  the rest by structure differs at frame {structure.get('frame')}")
        lines.append(f"  {structure.get('path')}")
        lines.append(f"    recorded: {json.dumps(structure.get('recorded'))}")
        lines.append(f"    replayed: {json.dumps(structure.get('replayed'))}")
    return "\n".join(lines)


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    for directory in config.getoption("rdplic_captures") or []:
        root = Path(directory)
        files = sorted(root.rglob("*.pcapng")) if root.is_dir() else [root]
        for path in files:
            name = f"rdplic-capture::{path.relative_to(root) if root.is_dir() else path.name}"
            items.append(CaptureReplayItem.from_parent(session, name=name, capture=path))
