"""``rdplic serve`` and the administration commands, run as child processes for the interop
tests; and the rule that skips a test whose client is missing (but fails it under CI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rdp_clients import missing_binaries

from rdplic.testing.serve import ServeProcess

__all__ = ["Server", "rdplic", "require"]

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_STARTUP_TIMEOUT = 60.0


def require(*binaries: str) -> None:
    """Skip (fail under CI=true) when a binary the test needs is not installed."""
    missing = missing_binaries(*binaries)
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (apt-get install rdesktop freerdp2-x11 xvfb)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def rdplic(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an ``rdplic`` administration command against ``state_dir``."""
    command = [sys.executable, "-m", "rdplic.cli.main", *args, "--state-dir", str(state_dir)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


Server = ServeProcess
"""``rdplic serve`` in a child process (`rdplic.testing.serve`); the conftest's
``start_server`` starts one through the ``rdplic_serve`` fixture of rdplic's pytest plugin."""
