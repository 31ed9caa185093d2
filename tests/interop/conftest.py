"""Fixtures of the interop tests: a shared Xvfb, and ``rdplic serve`` in its own process.

The tests need rdesktop, xfreerdp and Xvfb from Debian (``.ci/run`` installs them).  They are
skipped when one is missing, except under CI (``CI=true``), where a missing client fails.
Every server listens on 127.0.0.1 on a port the kernel picks, with its own state directory
copied from one made once per session (rdplic's ``rdplic_serve`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rdp_clients import Xvfb
from serve_process import Server, require


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """One Xvfb display for every client of the session."""
    require("Xvfb")
    xvfb = Xvfb()
    try:
        yield xvfb.start()
    finally:
        xvfb.stop()


@pytest.fixture
def start_server(rdplic_serve: Callable[..., Server]) -> Callable[..., Server]:
    """Start ``rdplic serve`` with extra options on a fresh copy of the session's template
    state (``rdplic_serve``, rdplic's pytest plugin); stopped after the test."""

    def start(*extra: str) -> Server:
        return rdplic_serve("--host", "127.0.0.1", "--shutdown-grace", "2", *extra)

    return start
