"""Fixtures of the simulated-client tests: ``rdplic serve`` in its own process, each on a
fresh copy of one state directory made once per session (rdplic's ``rdplic_serve``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sim_helpers import Server


@pytest.fixture
def serve(rdplic_serve: Callable[..., Server]) -> Callable[..., Server]:
    """Start ``rdplic serve`` with extra options; stopped after the test."""

    def start(*extra: str) -> Server:
        return rdplic_serve("--host", "127.0.0.1", "--shutdown-grace", "2", *extra)

    return start
