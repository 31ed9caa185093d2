"""Helpers of the simulated-client tests: the ``rdplic`` command run as a child process (the
real entry point), and the interop tests' `Server` (``rdplic serve`` in its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from serve_process import ROOT, Server

__all__ = ["ROOT", "Server", "rdplic", "rdplic_json"]


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
