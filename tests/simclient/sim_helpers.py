"""Helpers of the simulated-client tests: the ``rdplic`` command run as a child process (the
real entry point), and the interop tests' `Server` (``rdplic serve`` in its own process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from serve_process import ROOT, Server

__all__ = ["ROOT", "Server", "assert_vocabulary", "rdplic", "rdplic_json"]


def rdplic(
    *args: str, status: int | None = 0, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``rdplic ARGS`` (``python -m rdplic.cli.main``); check its exit status."""
    command = [sys.executable, "-m", "rdplic.cli.main", *args]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if status is not None:
        assert result.returncode == status, f"{' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def rdplic_json(*args: str, status: int | None = 0, timeout: float = 120) -> Any:
    """``rdplic ARGS --json``, parsed."""
    return json.loads(rdplic(*args, "--json", status=status, timeout=timeout).stdout)


_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_TIMES = {"time", "issued", "expires", "installed", "revoked", "renewed", "removed", "now"}
_FREE_KEYS = {"outcomes", "kinds", "errors"}  # their keys are outcome words and kinds


def assert_vocabulary(value: Any, group: str, where: str = "") -> None:
    """Every key of ``rdplic GROUP --json`` output is one of KEYS or COMMAND_KEYS[GROUP],
    times are RFC 3339 UTC, hardware ids 40 hex digits (rdplic.vocabulary)."""
    from rdplic.vocabulary import COMMAND_KEYS, KEYS, Outcome

    allowed = set(KEYS) | set(COMMAND_KEYS[group])
    if isinstance(value, list):
        for item in value:
            assert_vocabulary(item, group, where)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        path = f"{where}.{key}"
        assert key in allowed, f"rdplic {group}: {path} is not in the vocabulary"
        if key in _TIMES:
            assert item is None or _RFC3339.match(item), (path, item)
        elif key == "hwid":
            assert item is None or re.fullmatch(r"[0-9a-f]{40}", item), (path, item)
        elif key == "outcome":
            assert item in set(Outcome), (path, item)
        elif key.endswith("_seconds") and not isinstance(item, dict):
            assert isinstance(item, int | float), (path, item)
        if key not in _FREE_KEYS:
            assert_vocabulary(item, group, path)
